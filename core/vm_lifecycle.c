/* VM stop, quiesce, reset and power-off (order: core/vm_lifecycle.h), and device work scheduling. */
#include "core/vm_lifecycle.h"

#include "arch/barrier.h"
#include "arch/timer.h"
#include "core/vcpu.h"
#include "core/vgic.h"
#include "keel/log.h"

static volatile unsigned vms_up;
static void (*all_off_fn)(void);

void vm_lifecycle_init(unsigned nr_vms, void (*all_off)(void))
{
	vms_up = nr_vms;
	all_off_fn = all_off;
}

unsigned vm_running_count(void)
{
	return READ_ONCE(vms_up);
}

/* The VM stops for good (until a vm_restart): no vCPU of it runs again, and it counts as off. */
static void vm_set_down(struct vm *vm, enum vm_run_state st)
{
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		WRITE_ONCE(vm->vcpus[i].state, VCPU_STOPPED);
	smp_mb();
	enum vm_run_state was = __atomic_exchange_n(&vm->run_state, st, __ATOMIC_SEQ_CST);
	if (was == VM_RUNNING && __atomic_sub_fetch(&vms_up, 1, __ATOMIC_SEQ_CST) == 0 && all_off_fn)
		all_off_fn();
}

static int running_vcpu(const struct vm *vm, const struct vcpu *self)
{
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		if (&vm->vcpus[i] != self && READ_ONCE(vm->vcpus[i].running))
			return (int)i;
	return -1;
}

static void kick_others(struct vm *vm, const struct vcpu *self)
{
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		if (&vm->vcpus[i] != self)
			vcpu_kick(&vm->vcpus[i]);
}

/*
 * A vCPU that does not leave its guest in VM_STOP_TIMEOUT_US: wait no longer, leave the VM stopped.
 * A guest cannot hold a vCPU in the guest (the kick is a physical interrupt taken at EL2, which a
 * guest cannot mask), so only keel code stuck in EL2 on that CPU gets here. Waiting on for ever
 * would cost only this VM's own CPU, but giving up by time keeps the outcome the same as for a
 * device that does not quiesce: a VM that counts as off (so "all VMs off -> machine off" still
 * works), a log line naming the vCPU, and no reload under a vCPU that may still touch the VM.
 * stop_request stays set, so the late vCPU parks as soon as it looks.
 */
bool vm_stop(struct vm *vm, struct vcpu *self, int why)
{
	int none = ACTION_RESUME;
	if (!__atomic_compare_exchange_n(&vm->stop_request, &none, why, false, __ATOMIC_SEQ_CST,
					 __ATOMIC_SEQ_CST)) {
		__atomic_add_fetch(&vm->stop_races, 1, __ATOMIC_RELAXED);
		return false; /* another vCPU (or the console) stops or stopped the VM */
	}
	/* Paired with cpu_loop: it sets running, then reads stop_request. */
	smp_mb();
	kick_others(vm, self);
	uint64_t start = timer_us(), next_log = start + VM_STOP_LOG_US;
	for (;;) {
		int i = running_vcpu(vm, self);
		if (i < 0)
			break;
		uint64_t now = timer_us();
		if (now - start >= VM_STOP_TIMEOUT_US) {
			log_err("VM %s: vCPU %d on CPU %u did not leave its guest within %u ms; the VM stays "
				"stopped",
				vm->name, i, vm->vcpus[i].pcpu, VM_STOP_TIMEOUT_US / 1000);
			vm_set_down(vm, VM_STUCK);
			return false;
		}
		uint32_t missed;
		if (now >= next_log && ratelimit_allow(&vm->rl_lifecycle, now, &missed)) {
			log_warn("VM %s: waiting %llu ms for vCPU %d on CPU %u to leave its guest", vm->name,
				 (unsigned long long)((now - start) / 1000), i, vm->vcpus[i].pcpu);
			next_log = now + VM_STOP_LOG_US;
			kick_others(vm, self);
		}
		/* The tick and storage completions routed here must go on (this may be the boot CPU). */
		cpu_handle_irqs(NULL);
	}
	smp_mb(); /* the vCPUs' last guest state before whatever the owner does next */
	return true;
}

static void log_busy_device(struct vm *vm, unsigned i)
{
	const struct vm_dev_hook *h = &vm->dev_hooks[i];
	if (h->kind)
		log_err("VM %s: device %u (%s at IPA 0x%llx) still has requests in flight %u ms after it was "
			"told to stop; the VM stays stopped",
			vm->name, i, h->kind, (unsigned long long)h->base, VM_QUIESCE_TIMEOUT_US / 1000);
	else
		log_err("VM %s: device %u still has requests in flight %u ms after it was told to stop; the "
			"VM stays stopped",
			vm->name, i, VM_QUIESCE_TIMEOUT_US / 1000);
	if (h->ops->report)
		h->ops->report(h->dev, vm);
}

bool vm_quiesce(struct vm *vm)
{
	_Static_assert(VM_MAX_DEV_HOOKS <= 32, "quiesced devices are a 32-bit mask");
	uint32_t all = vm->nr_dev_hooks ? (uint32_t)(((uint64_t)1 << vm->nr_dev_hooks) - 1) : 0;
	uint32_t done = 0;
	for (unsigned i = 0; i < vm->nr_dev_hooks; i++)
		if (vm->dev_hooks[i].ops->quiesce == NULL)
			done |= 1u << i; /* nothing it does can outlive the stop */
	uint64_t start = timer_us();
	for (;;) {
		for (unsigned i = 0; i < vm->nr_dev_hooks; i++)
			if (!(done & (1u << i)) && vm->dev_hooks[i].ops->quiesce(vm->dev_hooks[i].dev))
				done |= 1u << i;
		if (done == all)
			return true;
		uint64_t now = timer_us();
		if (now - start >= VM_QUIESCE_TIMEOUT_US)
			break;
		/* Completions of the aborted requests may be routed to this very CPU. */
		while (timer_us() - now < VM_QUIESCE_POLL_US)
			cpu_handle_irqs(NULL);
	}
	for (unsigned i = 0; i < vm->nr_dev_hooks; i++)
		if (!(done & (1u << i)))
			log_busy_device(vm, i);
	return false;
}

void vm_reset_devices(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nr_dev_hooks; i++)
		if (vm->dev_hooks[i].ops->reset)
			vm->dev_hooks[i].ops->reset(vm->dev_hooks[i].dev);
}

bool vm_restart(struct vm *vm)
{
	vm_report(vm);
	vm->resets++;
	uint64_t t0 = timer_us();
	if (!vm_quiesce(vm)) {
		log_err("VM %s: reset abandoned: its memory is not reloaded while a device may still write "
			"it",
			vm->name);
		vm_set_down(vm, VM_STUCK);
		return false;
	}
	log_info("VM %s: devices quiesced in %llu us; resetting and reloading", vm->name,
		 (unsigned long long)(timer_us() - t0));
	vgic_vm_init(vm, VGIC_NR_SPIS); /* back to power-on state; the kick hook survives */
	vm_reset_devices(vm);
	/* Work asked for before the reset concerns device state that no longer exists. */
	WRITE_ONCE(vm->work_pending, false);
	WRITE_ONCE(vm->defer_until, 0);
	WRITE_ONCE(vm->idle_vcpus, 0);
	WRITE_ONCE(vm->wfi_seen, false);
	if (vm_load(vm) != 0) {
		log_err("VM %s: reset failed; the VM stays off", vm->name);
		vm_set_down(vm, VM_OFF);
		return false;
	}
	enum vm_run_state was = __atomic_exchange_n(&vm->run_state, VM_RUNNING, __ATOMIC_SEQ_CST);
	if (was != VM_RUNNING)
		__atomic_add_fetch(&vms_up, 1, __ATOMIC_SEQ_CST);
	smp_mb(); /* memory, registers and states before the vCPUs may run */
	WRITE_ONCE(vm->stop_request, ACTION_RESUME);
	smp_mb();
	/* vCPU 0 may wait on another CPU with nothing else to wake it. */
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	return true;
}

void vm_power_off(struct vm *vm)
{
	console_vm_flush(&vm->con, vm->name);
	vm_report(vm);
	if (!vm_quiesce(vm)) {
		log_err("VM %s: powered off with device requests still in flight", vm->name);
		vm_set_down(vm, VM_STUCK);
		return;
	}
	log_info("VM %s: powered off", vm->name);
	vm_set_down(vm, VM_OFF);
}

void vm_vcpu_off(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	WRITE_ONCE(vcpu->state, VCPU_OFF);
	/* Paired with vm_request_work: either it sees us off and kicks another, or we see its flag. */
	smp_mb();
	if (READ_ONCE(vm->work_pending))
		vm_request_work(vm, vcpu->index + 1);
}

static struct vcpu *work_target(struct vm *vm, unsigned hint)
{
	if (hint < vm->nr_vcpus && READ_ONCE(vm->vcpus[hint].state) == VCPU_RUNNABLE)
		return &vm->vcpus[hint];
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		if (READ_ONCE(vm->vcpus[i].state) == VCPU_RUNNABLE)
			return &vm->vcpus[i];
	return NULL; /* none runs: the first vCPU to be turned on finds the flag */
}

void vm_request_work(struct vm *vm, unsigned vcpu_hint)
{
	WRITE_ONCE(vm->work_pending, true);
	smp_mb(); /* the flag before the states: paired with vm_vcpu_off and vm_run_work */
	struct vcpu *v = work_target(vm, vcpu_hint);
	if (v)
		vcpu_kick(v);
}

void vm_run_work(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	if (!READ_ONCE(vm->work_pending))
		return;
	/* Device work hooks are not reentrant: one vCPU at a time. The holder re-checks the flag. */
	if (__atomic_exchange_n(&vm->work_busy, true, __ATOMIC_ACQUIRE))
		return;
	/* Not while the VM stops: the flag stays for after a resume (a reset drops it). */
	if (READ_ONCE(vm->stop_request) == ACTION_RESUME &&
	    __atomic_exchange_n(&vm->work_pending, false, __ATOMIC_ACQ_REL)) {
		bool more = false;
		for (unsigned i = 0; i < vm->nr_dev_hooks; i++)
			if (vm->dev_hooks[i].ops->work && vm->dev_hooks[i].ops->work(vm->dev_hooks[i].dev))
				more = true;
		if (more)
			WRITE_ONCE(vm->work_pending, true);
	}
	__atomic_store_n(&vm->work_busy, false, __ATOMIC_RELEASE);
	/* Release before the re-check: a request another vCPU left to us while we held it is seen. */
	smp_mb();
	if (READ_ONCE(vm->work_pending) && READ_ONCE(vm->stop_request) == ACTION_RESUME)
		vcpu_kick_self(); /* the guest runs once, then this vCPU comes back for the rest */
}
