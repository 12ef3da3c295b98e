/* The physical GIC: one driver chosen at boot from the DT (see arch/gic.h). */
#include "arch/gic.h"

#include <errno.h>

static const struct gic_ops *ops;
static unsigned version;

int gic_init(const struct gic_hw *hw)
{
	if (hw->version == 3)
		ops = &gicv3_ops;
	else if (hw->version == 2)
		ops = &gicv2_ops;
	else
		return -EINVAL;
	version = hw->version;
	return ops->init(hw);
}

unsigned gic_version(void)
{
	return version;
}

int gic_cpu_init(void)
{
	return ops->cpu_init();
}
uint32_t gic_ack(void)
{
	return ops->ack();
}
void gic_eoi(uint32_t intid)
{
	ops->eoi(intid);
}
void gic_deactivate(uint32_t intid)
{
	ops->deactivate(intid);
}
void gic_enable(uint32_t intid, bool edge, uint64_t mpidr)
{
	ops->enable(intid, edge, mpidr);
}
void gic_route(uint32_t intid, uint64_t mpidr)
{
	ops->route(intid, mpidr);
}
void gic_disable(uint32_t intid)
{
	ops->disable(intid);
}
void gic_set_priority(uint32_t intid, uint8_t prio)
{
	ops->set_priority(intid, prio);
}
void gic_send_sgi(uint64_t mpidr, unsigned sgi)
{
	ops->send_sgi(mpidr, sgi);
}
uint32_t gic_misr_read(void)
{
	return ops->misr_read();
}
void gic_vcpu_save(uint64_t *vmcr, uint64_t *apr)
{
	ops->vcpu_save(vmcr, apr);
}
void gic_vcpu_restore(uint64_t vmcr, uint64_t apr)
{
	ops->vcpu_restore(vmcr, apr);
}
unsigned gic_lr_count(void)
{
	return ops->lr_count();
}
uint64_t gic_lr_read(unsigned i)
{
	return ops->lr_read(i);
}
void gic_lr_write(unsigned i, uint64_t v)
{
	ops->lr_write(i, v);
}
uint64_t gic_lr_encode(const struct gic_lr *lr)
{
	return ops->lr_encode(lr);
}
void gic_lr_decode(uint64_t v, struct gic_lr *lr)
{
	ops->lr_decode(v, lr);
}
uint64_t gic_hcr_read(void)
{
	return ops->hcr_read();
}
void gic_hcr_write(uint64_t v)
{
	ops->hcr_write(v);
}
