/* Host tests: the list-register interface of arm64, backed by arrays tests can inspect. */
#ifndef KEEL_ARCH_FAKE_GIC_LR_H
#define KEEL_ARCH_FAKE_GIC_LR_H

#include "../../../arm64/include/arch/gic_lr.h"

#define FAKE_GIC_LRS 4
extern uint64_t fake_gic_lrs[FAKE_GIC_LRS];
extern uint64_t fake_gic_hcr;
extern unsigned fake_gic_lr_writes; /**< gic_lr_write calls, to check what a flush rewrites */
extern unsigned fake_gic_version;   /**< 3 (default) or 2: the LR layout gic_lr_encode/decode use */

#endif
