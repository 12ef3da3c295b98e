/*
 * Host-test environment of core/vm_lifecycle.c: the functions it calls outside itself (vCPU kicks,
 * interrupt handling, vGIC reset, RAM reload, reports) record what happened, in order.
 */
#ifndef KEEL_TESTS_FAKE_VM_ENV_H
#define KEEL_TESTS_FAKE_VM_ENV_H

#include "core/vm.h"

enum fake_vm_event {
	FAKE_EV_VGIC_INIT,
	FAKE_EV_DEV_QUIESCE, /**< arg: device number, result in arg2 */
	FAKE_EV_DEV_RESET,   /**< arg: device number */
	FAKE_EV_LOAD,
	FAKE_EV_REPORT,
	FAKE_EV_FLUSH,
	FAKE_EV_ALL_OFF,
};

struct fake_vm_record {
	enum fake_vm_event ev;
	unsigned arg, arg2;
};

#define FAKE_VM_MAX_RECORDS 4096

struct fake_vm_env {
	struct fake_vm_record rec[FAKE_VM_MAX_RECORDS];
	unsigned nrec; /**< records kept (the rest are dropped, counted in dropped) */
	unsigned dropped;
	unsigned kicks[VM_MAX_VCPUS]; /**< vcpu_kick per vCPU index */
	unsigned kick_self;
	unsigned irq_calls;	 /**< cpu_handle_irqs */
	int load_rc;		 /**< what vm_load returns */
	void (*load_hook)(void); /**< called by vm_load (the tests' RAM reload); may be NULL */
	/** Called from cpu_handle_irqs (an interrupt handled while keel waits); may be NULL. */
	void (*on_irqs)(void *ctx);
	void *on_irqs_ctx;
};

extern struct fake_vm_env fake_vm_env;

/** Forget everything recorded; load_rc 0, no on_irqs. */
void fake_vm_env_reset(void);
/** Record an event (also used by the tests' fake devices); a repeat of the last one is not recorded. */
void fake_vm_record(enum fake_vm_event ev, unsigned arg, unsigned arg2);
/** Index of the first record of ev (with arg, unless arg is ~0u), or -1. */
int fake_vm_find(enum fake_vm_event ev, unsigned arg);
/** Index of the last record of ev (with arg, unless arg is ~0u), or -1. */
int fake_vm_find_last(enum fake_vm_event ev, unsigned arg);
/** Number of records of ev. */
unsigned fake_vm_count(enum fake_vm_event ev);
/** The all_off callback for vm_lifecycle_init: records FAKE_EV_ALL_OFF. */
void fake_vm_all_off(void);

#endif
