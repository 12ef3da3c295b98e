/* Host-test vgic: vgic_inject records injections instead of raising them. */
#ifndef KEEL_TESTS_FAKE_VGIC_H
#define KEEL_TESTS_FAKE_VGIC_H

#include "core/vgic.h"

/** Forget every recorded injection. */
void fake_vgic_reset(void);
/** Injections of intid into vm since the last fake_vgic_reset. */
unsigned fake_vgic_count(const struct vm *vm, uint32_t intid);
/** All injections since the last fake_vgic_reset. */
unsigned fake_vgic_total(void);

#endif
