/* Fake list registers for host tests; the codecs are arm64's own (arch/arm64/gic_lr_codec.c). */
#include "arch/gic_lr.h"

uint64_t fake_gic_lrs[FAKE_GIC_LRS];
uint64_t fake_gic_hcr;
unsigned fake_gic_lr_writes;
unsigned fake_gic_version = 3;

uint64_t gic_lr_encode(const struct gic_lr *lr)
{
	return fake_gic_version == 2 ? gic_v2_lr_encode(lr) : gic_v3_lr_encode(lr);
}
void gic_lr_decode(uint64_t v, struct gic_lr *lr)
{
	if (fake_gic_version == 2)
		gic_v2_lr_decode(v, lr);
	else
		gic_v3_lr_decode(v, lr);
}
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
