/* Fake list registers for host tests. */
#include "arch/gic_lr.h"

uint64_t fake_gic_lrs[FAKE_GIC_LRS];
uint64_t fake_gic_hcr;
unsigned fake_gic_lr_writes;

unsigned gic_lr_count(void)
{
	return FAKE_GIC_LRS;
}
uint64_t gic_lr_read(unsigned i)
{
	return fake_gic_lrs[i];
}
void gic_lr_write(unsigned i, uint64_t v)
{
	fake_gic_lrs[i] = v;
	fake_gic_lr_writes++;
}
uint64_t gic_hcr_read(void)
{
	return fake_gic_hcr;
}
void gic_hcr_write(uint64_t v)
{
	fake_gic_hcr = v;
}
