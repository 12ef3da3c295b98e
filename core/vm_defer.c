/* Device work deferred to the guest's idle time or a deadline (contract: core/vm.h). */
#include "core/vm.h"

#include "arch/barrier.h"
#include "arch/timer.h"

void vm_defer_work(struct vm *vm, uint32_t us)
{
	uint64_t when = timer_us() + (us ? us : 1);
	uint64_t cur = __atomic_load_n(&vm->defer_until, __ATOMIC_RELAXED);
	while (cur == 0 || when < cur)
		if (__atomic_compare_exchange_n(&vm->defer_until, &cur, when, true, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED))
			return;
}

bool vm_guest_idle(const struct vm *vm)
{
	return READ_ONCE(vm->idle_vcpus) != 0 || !READ_ONCE(vm->wfi_seen);
}

uint64_t vm_last_idle_us(const struct vm *vm)
{
	return READ_ONCE(vm->idled_us);
}

/* Take the deferred work (once: whoever clears the deadline asks for it). */
static bool take(struct vm *vm, uint64_t cur, unsigned vcpu_hint)
{
	if (!__atomic_compare_exchange_n(&vm->defer_until, &cur, 0, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_RELAXED))
		return false;
	vm_request_work(vm, vcpu_hint);
	return true;
}

bool vm_vcpu_idles(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	__atomic_fetch_or(&vm->idle_vcpus, 1u << vcpu->index, __ATOMIC_SEQ_CST);
	WRITE_ONCE(vm->idled_us, timer_us());
	if (!READ_ONCE(vm->wfi_seen))
		WRITE_ONCE(vm->wfi_seen, true);
	uint64_t cur = READ_ONCE(vm->defer_until);
	return cur != 0 && take(vm, cur, vcpu->index);
}

void vm_vcpu_busy(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	uint32_t bit = 1u << vcpu->index;
	if (READ_ONCE(vm->idle_vcpus) & bit) /* the common case (already busy) writes nothing */
		__atomic_fetch_and(&vm->idle_vcpus, ~bit, __ATOMIC_SEQ_CST);
}

void vm_defer_check(struct vm *vm, unsigned vcpu_hint)
{
	uint64_t cur = READ_ONCE(vm->defer_until);
	if (cur != 0 && timer_us() >= cur)
		take(vm, cur, vcpu_hint);
}
