/* PSCI 1.1 emulated for guests (HVC or trapped SMC). */
#include <stdint.h>

#include "arch/barrier.h"

#include "core/vcpu.h"
#include "core/vm_log.h"

#define PSCI_VERSION	       0x84000000u
#define PSCI_CPU_SUSPEND_32    0x84000001u
#define PSCI_CPU_SUSPEND_64    0xc4000001u
#define PSCI_CPU_OFF	       0x84000002u
#define PSCI_CPU_ON_32	       0x84000003u
#define PSCI_CPU_ON_64	       0xc4000003u
#define PSCI_AFFINITY_INFO_32  0x84000004u
#define PSCI_AFFINITY_INFO_64  0xc4000004u
#define PSCI_MIGRATE_INFO_TYPE 0x84000006u
#define PSCI_SYSTEM_OFF	       0x84000008u
#define PSCI_SYSTEM_RESET      0x84000009u
#define PSCI_FEATURES	       0x8400000au

#define PSCI_RET_SUCCESS	0
#define PSCI_RET_NOT_SUPPORTED	(-1)
#define PSCI_RET_INVALID_PARAMS (-2)
#define PSCI_RET_ALREADY_ON	(-4)
#define PSCI_VERSION_1_1	0x10001
#define PSCI_TOS_NOT_PRESENT_MP 2

static bool psci_supported(uint32_t fid)
{
	switch (fid) {
	case PSCI_VERSION:
	case PSCI_CPU_SUSPEND_32:
	case PSCI_CPU_SUSPEND_64:
	case PSCI_CPU_OFF:
	case PSCI_CPU_ON_32:
	case PSCI_CPU_ON_64:
	case PSCI_AFFINITY_INFO_32:
	case PSCI_AFFINITY_INFO_64:
	case PSCI_MIGRATE_INFO_TYPE:
	case PSCI_SYSTEM_OFF:
	case PSCI_SYSTEM_RESET:
	case PSCI_FEATURES:
		return true;
	default:
		return false;
	}
}

static struct vcpu *vcpu_by_mpidr(struct vm *vm, uint64_t mpidr)
{
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i].vmpidr == (mpidr & 0xff00ffffffULL))
			return &vm->vcpus[i];
	return NULL;
}

enum exit_action psci_handle(struct vcpu *vcpu)
{
	struct arch_vcpu_ctx *c = &vcpu->ctx;
	uint32_t fid = (uint32_t)c->x[0];
	bool smc32 = (fid & 0x40000000u) == 0;
	uint64_t a1 = c->x[1], a2 = c->x[2], a3 = c->x[3];
	if (smc32) {
		a1 &= 0xffffffffULL;
		a2 &= 0xffffffffULL;
		a3 &= 0xffffffffULL;
	}
	int64_t ret = PSCI_RET_NOT_SUPPORTED;
	enum exit_action next = ACTION_RESUME;

	switch (fid) {
	case PSCI_VERSION:
		ret = PSCI_VERSION_1_1;
		break;
	case PSCI_CPU_SUSPEND_32:
	case PSCI_CPU_SUSPEND_64:
		ret = PSCI_RET_SUCCESS; /* a standby state: returning at once is allowed */
		break;
	case PSCI_CPU_OFF:
		next = ACTION_VCPU_OFF;
		ret = PSCI_RET_SUCCESS;
		break;
	case PSCI_CPU_ON_32:
	case PSCI_CPU_ON_64: {
		struct vcpu *t = vcpu_by_mpidr(vcpu->vm, a1);
		if (t == NULL) {
			ret = PSCI_RET_INVALID_PARAMS;
		} else if (t->state == VCPU_RUNNABLE) {
			ret = PSCI_RET_ALREADY_ON;
		} else if (READ_ONCE(t->running)) {
			ret = PSCI_RET_ALREADY_ON; /* still leaving after CPU_OFF: the caller retries */
		} else {
			/* The target's pCPU waits for it: give it its entry point and wake it. */
			arch_vcpu_ctx_reset(&t->ctx, a2, a3);
			smp_mb();
			WRITE_ONCE(t->state, VCPU_RUNNABLE);
			smp_mb();
			vcpu_kick(t);
			ret = PSCI_RET_SUCCESS;
		}
		break;
	}
	case PSCI_AFFINITY_INFO_32:
	case PSCI_AFFINITY_INFO_64: {
		struct vcpu *t = vcpu_by_mpidr(vcpu->vm, a1);
		ret = t == NULL ? PSCI_RET_INVALID_PARAMS : (t->state == VCPU_RUNNABLE ? 0 : 1);
		break;
	}
	case PSCI_MIGRATE_INFO_TYPE:
		ret = PSCI_TOS_NOT_PRESENT_MP;
		break;
	case PSCI_SYSTEM_OFF:
		vm_log_limited(vcpu->vm, VM_LOG_PSCI, LOG_INFO, "PSCI SYSTEM_OFF");
		next = ACTION_VM_OFF;
		ret = PSCI_RET_SUCCESS;
		break;
	case PSCI_SYSTEM_RESET:
		vm_log_limited(vcpu->vm, VM_LOG_PSCI, LOG_INFO, "PSCI SYSTEM_RESET");
		next = ACTION_VM_RESET;
		ret = PSCI_RET_SUCCESS;
		break;
	case PSCI_FEATURES:
		ret = psci_supported((uint32_t)a1) ? PSCI_RET_SUCCESS : PSCI_RET_NOT_SUPPORTED;
		break;
	default:
		ret = PSCI_RET_NOT_SUPPORTED; /* SMCCC: unknown function */
		break;
	}
	c->x[0] = (uint64_t)ret;
	return next;
}
