/*
 * Guest-triggerable log lines in core, limited by time per VM and cause
 * (keel/ratelimit.h): a guest that traps in a loop gets a few lines a second,
 * and the next line printed says how many were suppressed.
 */
#ifndef KEEL_CORE_VM_LOG_H
#define KEEL_CORE_VM_LOG_H

#include <stdio.h>

#include "arch/timer.h"
#include "core/vm.h"
#include "keel/log.h"
#include "keel/ratelimit.h"

/** Log "VM <name>: <fmt>" at lvl unless the VM's limiter for cause refuses it. */
#define vm_log_limited(vm, cause, lvl, fmt, ...)                                                             \
	do {                                                                                                 \
		uint32_t vm_missed_;                                                                         \
		if (ratelimit_allow(&(vm)->log_rl[(cause)], timer_us(), &vm_missed_)) {                      \
			char vm_sfx_[48] = "";                                                               \
			if (vm_missed_)                                                                      \
				snprintf(vm_sfx_, sizeof(vm_sfx_), " (%u similar lines suppressed)",         \
					 (unsigned)vm_missed_);                                              \
			log_printf((lvl), "VM %s: " fmt "%s", (vm)->name, ##__VA_ARGS__, vm_sfx_);           \
		}                                                                                            \
	} while (0)

#define vm_warn_limited(vm, cause, fmt, ...) vm_log_limited(vm, cause, LOG_WARN, fmt, ##__VA_ARGS__)

#endif
