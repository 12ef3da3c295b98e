/* The vCPU run loop and exit handlers. Each handler returns what runs next. */
#include "core/vcpu.h"

#include <errno.h>

#include "arch/el2.h"
#include "arch/barrier.h"
#include "arch/cpu.h"
#include "arch/esr.h"
#include "arch/gic.h"
#include "arch/id_regs.h"
#include "arch/stage2.h"
#include "arch/timer.h"
#include "arch/sysreg.h"
#include "core/irq.h"
#include "core/vgic.h"
#include "core/vm_log.h"
#include "keel/addr.h"

/* Every synchronous exception keel injects: the vector it sends the guest to is remembered. */
static void inject_sync(struct vcpu *vcpu, uint64_t esr, uint64_t far)
{
	el2_inject_sync(&vcpu->ctx, esr, far);
	vcpu->injected_pc = vcpu->ctx.pc;
}

void vcpu_inject_dabt(struct vcpu *vcpu, bool write)
{
	inject_sync(vcpu, el2_guest_dabt_esr(&vcpu->ctx, write), vcpu->ctx.far);
}

void vcpu_inject_undef(struct vcpu *vcpu)
{
	inject_sync(vcpu, el2_guest_undef_esr(), 0);
}

/*
 * An instruction fetch outside the VM at the very vector keel sent it to: the guest cannot take
 * exceptions (its VBAR_EL1 points outside its memory), so every further injection would fault the
 * same way for ever. The VM has crashed: it goes off (its other VMs are unaffected) and the keel
 * console can start it again.
 */
static enum exit_action handle_iabt(struct vcpu *vcpu)
{
	struct arch_vcpu_ctx *c = &vcpu->ctx;
	if (vcpu->injected_pc != 0 && c->pc == vcpu->injected_pc) {
		log_err(
		    "VM %s: crashed: vCPU %u cannot take an exception (its vector at 0x%llx is outside its "
		    "memory); the VM is off (keel console: start %s)",
		    vcpu->vm->name, vcpu->index, (unsigned long long)c->pc, vcpu->vm->name);
		WRITE_ONCE(vcpu->vm->crashed, true);
		return ACTION_VM_OFF;
	}
	vm_warn_limited(vcpu->vm, VM_LOG_STAGE2,
			"instruction fetch at IPA 0x%llx outside its memory (pc 0x%llx); abort injected",
			(unsigned long long)HPFAR_IPA(c->hpfar, c->far), (unsigned long long)c->pc);
	inject_sync(vcpu, el2_guest_iabt_esr(c), c->far);
	return ACTION_RESUME;
}

static void skip_insn(struct vcpu *vcpu)
{
	vcpu->ctx.pc += 4;
}

/* A stage-2 data abort: an emulated device, or an access outside the VM. */
static enum exit_action handle_dabt(struct vcpu *vcpu)
{
	struct arch_vcpu_ctx *c = &vcpu->ctx;
	uint32_t iss = (uint32_t)ESR_ISS(c->esr);
	uint64_t raw_ipa = HPFAR_IPA(c->hpfar, c->far);
	bool write = (iss & DABT_WNR) != 0;
	vm_vcpu_busy(vcpu);
	struct vm *vm = vcpu->vm;

	/* A store to a read-only page (a register shadow, a ROM): HPFAR is UNKNOWN, walk FAR instead.
	 * A failed walk means the guest's tables changed since the fault: let it retry the access. */
	if (!dabt_hpfar_valid(iss) && !el2_guest_va_to_ipa(c->far, &raw_ipa))
		return ACTION_RESUME;
	ipa_t ipa = ipa_init(raw_ipa);

	if (iss & DABT_S1PTW) {
		vm_warn_limited(
		    vm, VM_LOG_STAGE2,
		    "stage-1 table walk at IPA 0x%llx is outside its memory (pc 0x%llx); abort injected",
		    (unsigned long long)ipa_addr(ipa), (unsigned long long)c->pc);
		vcpu_inject_dabt(vcpu, write);
		return ACTION_RESUME;
	}
	if (!(iss & DABT_ISV)) {
		/* No syndrome (e.g. ldp/stp, or writeback forms): keel cannot emulate it. */
		vm_warn_limited(
		    vm, VM_LOG_ISV0,
		    "%s at IPA 0x%llx with no instruction syndrome (ISV=0, e.g. ldp/stp) at pc 0x%llx; "
		    "abort injected",
		    write ? "store" : "load", (unsigned long long)ipa_addr(ipa), (unsigned long long)c->pc);
		vcpu_inject_dabt(vcpu, write);
		return ACTION_RESUME;
	}
	unsigned rt = DABT_SRT(iss);
	struct mmio_access acc = {
	    .ipa = ipa,
	    .size = (uint8_t)(1u << DABT_SAS(iss)),
	    .write = write,
	    .value = write ? (rt == 31 ? 0 : c->x[rt]) : 0,
	    .reg = (uint8_t)rt,
	    .sign_extend = (iss & DABT_SSE) != 0,
	    .reg64 = (iss & DABT_SF) != 0,
	};
	int rc = mmio_bus_dispatch(&vm->mmio, vcpu, &acc);
	if (rc != 0) {
		/* A device that refuses an access has logged why itself (limited): one line, not two. */
		if (mmio_bus_find(&vm->mmio, ipa, 1) == NULL)
			vm_warn_limited(
			    vm, VM_LOG_STAGE2,
			    "%s at IPA 0x%llx is outside its memory and devices (pc 0x%llx); abort injected",
			    write ? "store" : "load", (unsigned long long)ipa_addr(ipa),
			    (unsigned long long)c->pc);
		else if (rc == -ENOENT || rc == -EPERM)
			vm_warn_limited(
			    vm, VM_LOG_STAGE2,
			    "%u-byte %s at IPA 0x%llx is not taken by the device there (pc 0x%llx); abort "
			    "injected",
			    acc.size, write ? "store" : "load", (unsigned long long)ipa_addr(ipa),
			    (unsigned long long)c->pc);
		vcpu_inject_dabt(vcpu, write);
		return ACTION_RESUME;
	}
	if (!write && rt != 31)
		c->x[rt] = acc.value;
	skip_insn(vcpu);
	return ACTION_RESUME;
}

static enum exit_action handle_sysreg(struct vcpu *vcpu)
{
	uint32_t iss = (uint32_t)ESR_ISS(vcpu->ctx.esr);
	unsigned rt = SYSREG_ISS_RT(iss);
	unsigned id;
	if (SYSREG_ISS_ENC(iss) == ISS_ICC_SGI1R_EL1 && !(iss & SYSREG_ISS_READ)) {
		vgic_sgi(vcpu, rt == 31 ? 0 : vcpu->ctx.x[rt]);
		skip_insn(vcpu);
		return ACTION_RESUME;
	}
	if (id_reg_trapped_read(iss, &id)) {
		/* HCR_EL2.TID3: the hardware's ID register, less what keel does not virtualize. */
		if (rt != 31)
			vcpu->ctx.x[rt] = id_reg_guest_value(id, read_id_reg(id));
		skip_insn(vcpu);
		return ACTION_RESUME;
	}
	vm_warn_limited(
	    vcpu->vm, VM_LOG_SYSREG,
	    "trapped system register access (ISS 0x%x) at pc 0x%llx; undefined instruction injected", iss,
	    (unsigned long long)vcpu->ctx.pc);
	vcpu_inject_undef(vcpu);
	return ACTION_RESUME;
}

static enum vcpu_exit_kind sync_kind(uint64_t ec)
{
	switch (ec) {
	case EC_DABT_LOW:
		return VCPU_EXIT_MMIO;
	case EC_WFX:
		return VCPU_EXIT_WFX;
	case EC_HVC64:
	case EC_SMC64:
		return VCPU_EXIT_HVC;
	case EC_SYSREG:
		return VCPU_EXIT_SYSREG;
	default:
		return VCPU_EXIT_OTHER;
	}
}

static enum exit_action handle_sync(struct vcpu *vcpu)
{
	struct arch_vcpu_ctx *c = &vcpu->ctx;
	switch (ESR_EC(c->esr)) {
	case EC_DABT_LOW:
		return handle_dabt(vcpu);
	case EC_WFX:
		/* WFI (trapped: HCR_EL2.TWI) tells keel the guest is idle; WFE is not trapped. */
		if (!vm_vcpu_idles(vcpu) && !(ESR_ISS(c->esr) & 1) && !vgic_vcpu_has_pending(vcpu))
			el2_wait_for_interrupt();
		skip_insn(vcpu);
		return ACTION_RESUME;
	case EC_HVC64:
		return psci_handle(vcpu);
	case EC_SMC64:
		skip_insn(vcpu);
		return psci_handle(vcpu);
	case EC_SYSREG:
		return handle_sysreg(vcpu);
	case EC_IABT_LOW:
		return handle_iabt(vcpu);
	default:
		vm_warn_limited(
		    vcpu->vm, VM_LOG_EC,
		    "unhandled exception class 0x%llx (ESR 0x%llx) at pc 0x%llx; undefined injected",
		    (unsigned long long)ESR_EC(c->esr), (unsigned long long)c->esr,
		    (unsigned long long)c->pc);
		vcpu_inject_undef(vcpu);
		return ACTION_RESUME;
	}
}

void cpu_handle_irqs(struct vcpu *vcpu)
{
	for (unsigned n = 0; n < 16; n++) {
		/* After the first: ask ISR_EL1 (a CPU register) before the GIC, whose acknowledge
		 * read costs more, for an answer that is usually "spurious". */
		if (n > 0 && !cpu_irq_pending())
			return;
		uint32_t intid = gic_ack();
		if (intid >= GIC_INTID_SPURIOUS)
			return;
		gic_eoi(intid);
		if (intid == GIC_PPI_VTIMER) {
			/* Stays active until the guest deactivates its virtual copy (LR HW bit). */
			if (vcpu == NULL || vgic_inject_hw_ppi(vcpu, GIC_PPI_VTIMER, GIC_PPI_VTIMER) != 0)
				gic_deactivate(intid);
			continue;
		}
		if (intid == GIC_PPI_HYP_TIMER) {
			hyp_tick_fire(); /* deactivates it itself */
			continue;
		}
		if (intid >= 32 && !irq_dispatch(intid))
			log_warn("spurious physical interrupt %u", intid);
		/* Maintenance and kick SGIs need no work beyond the LR sync around entry. */
		gic_deactivate(intid);
	}
}

/* MPIDR_EL1's affinity fields (Aff3, Aff2, Aff1, Aff0), as the DT's cpu reg values hold them. */
#define MPIDR_AFF_MASK 0xff00ffffffULL

void vcpu_kick(struct vcpu *vcpu)
{
	/* The target CPU leaves its guest (or its WFI) and refills its list registers. */
	uint64_t target = vcpu->vm->mi->cpu_mpidr[vcpu->pcpu % MACHINE_MAX_CPUS] & MPIDR_AFF_MASK;
	if ((read_mpidr_el1() & MPIDR_AFF_MASK) != target)
		gic_send_sgi(target, GIC_SGI_KICK);
}

void vcpu_kick_self(void)
{
	gic_send_sgi(read_mpidr_el1() & MPIDR_AFF_MASK, GIC_SGI_KICK);
}

/* A keel console stop or reset (core/console_ctl.h), taken by the first vCPU to see it: it then acts as
 * if its guest had called PSCI SYSTEM_OFF / SYSTEM_RESET. */
static enum exit_action take_console_control(struct vm *vm)
{
	int ctl = READ_ONCE(vm->control);
	if (ctl != VM_CTL_STOP && ctl != VM_CTL_RESET)
		return ACTION_RESUME;
	if (!__atomic_compare_exchange_n(&vm->control, &ctl, VM_CTL_NONE, false, __ATOMIC_SEQ_CST,
					 __ATOMIC_SEQ_CST))
		return ACTION_RESUME;
	log_info("VM %s: %s from the keel console", vm->name, ctl == VM_CTL_STOP ? "stop" : "reset");
	return ctl == VM_CTL_STOP ? ACTION_VM_OFF : ACTION_VM_RESET;
}

enum exit_action vcpu_run(struct vcpu *vcpu)
{
	el2_set_vmpidr(vcpu->vmpidr);
	stage2_activate(vcpu->vm->s2_root, vcpu->vm->vmid);
	arch_sysregs_load(&vcpu->ctx.sys);
	vgic_vcpu_load(vcpu);
	uint64_t t_exit = 0;
	enum vcpu_exit_kind t_kind = VCPU_EXIT_OTHER; /* the kind of the exit t_exit timed */
	for (;;) {
		if (READ_ONCE(vcpu->vm->stop_request) != ACTION_RESUME) {
			vgic_vcpu_put(vcpu);
			arch_sysregs_save(&vcpu->ctx.sys);
			return ACTION_PARK;
		}
		enum exit_action ctl = take_console_control(vcpu->vm);
		if (ctl != ACTION_RESUME) {
			vgic_vcpu_put(vcpu);
			arch_sysregs_save(&vcpu->ctx.sys);
			return ctl;
		}
		vm_run_work(vcpu);
		vgic_flush_lrs(vcpu);
		/* Time one exit in VCPU_TIME_SAMPLE: the counter read is itself costly where the
		 * timer is emulated, and a sample is enough for the per-exit average. */
		bool timed = (vcpu->exits % VCPU_TIME_SAMPLE) == 0;
		uint64_t t_enter = timed || t_exit ? timer_count() : 0;
		if (t_exit) {
			vcpu->el2_ticks += t_enter - t_exit;
			vcpu->timed_exits++;
			vcpu->el2_ticks_kind[t_kind] += t_enter - t_exit;
			vcpu->timed_kinds[t_kind]++;
		}
		enum arch_exit_kind kind = arch_vcpu_enter(&vcpu->ctx);
		t_exit = 0;
		if (timed) {
			t_exit = timer_count();
			vcpu->guest_ticks += t_exit - t_enter;
		}
		vgic_sync_lrs(vcpu);
		for (uint32_t hw = vgic_take_hw_deactivations(vcpu); hw; hw &= hw - 1)
			gic_deactivate((uint32_t)__builtin_ctz(hw));
		vcpu->exits++;
		vm_defer_check(vcpu->vm, vcpu->index);
		enum exit_action next = ACTION_RESUME;
		switch (kind) {
		case EXIT_SYNC:
			t_kind = sync_kind(ESR_EC(vcpu->ctx.esr));
			vcpu->exit_kinds[t_kind]++;
			next = handle_sync(vcpu);
			break;
		case EXIT_IRQ:
		case EXIT_FIQ:
			t_kind = VCPU_EXIT_IRQ;
			vcpu->exit_kinds[t_kind]++;
			cpu_handle_irqs(vcpu);
			break;
		case EXIT_SERROR:
			t_kind = VCPU_EXIT_OTHER;
			log_err("VM %s: SError (ESR 0x%llx) at pc 0x%llx; stopping the VM", vcpu->vm->name,
				(unsigned long long)vcpu->ctx.esr, (unsigned long long)vcpu->ctx.pc);
			next = ACTION_VM_OFF;
			break;
		}
		if (next != ACTION_RESUME) {
			vgic_vcpu_put(vcpu);
			arch_sysregs_save(&vcpu->ctx.sys);
			return next;
		}
	}
}
