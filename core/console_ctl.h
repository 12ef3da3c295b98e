/*
 * The keel console: console input goes to one VM at a time, and a command line shows and controls
 * the VMs. Keys (Ctrl-A stays QEMU's): Ctrl-] then a digit N gives input to VM N (vm@N's index),
 * Ctrl-] then k opens the keel console, Ctrl-] twice sends one Ctrl-] to the focused VM. Every VM's
 * output keeps flowing, prefixed with its name, whichever has the input.
 *
 * Commands: help, vms, stats VM, log, stop VM, start VM, reset VM (VM by name or index). Commands
 * run in the console's receive interrupt and never wait: stop and reset are handed to one of the
 * VM's own vCPUs (as if the guest had called PSCI SYSTEM_OFF / SYSTEM_RESET: vm_lifecycle.h's
 * order), start to the CPU of the VM's vCPU 0.
 */
#ifndef KEEL_CORE_CONSOLE_CTL_H
#define KEEL_CORE_CONSOLE_CTL_H

#include "core/vm.h"

#define CONSOLE_ESC	0x1d /**< Ctrl-] */
#define CONSOLE_CMD_MAX 64u
#define CONSOLE_CTL_VMS 8u

/** The VMs the console controls; input(vm, c) delivers a character to a VM's UART. */
void console_ctl_init(struct vm *vms, unsigned nr, void (*input)(struct vm *vm, char c));

/** Every received character (console_set_input's sink; ctx unused). */
void console_ctl_receive(void *ctx, char c);

/** The VM that has the input, or NULL while the keel console has it. */
struct vm *console_ctl_focus(void);

#endif
