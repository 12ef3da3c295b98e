/* The hypervisor console (see keel/log.h for log lines and panic). */
#ifndef KEEL_CORE_CONSOLE_H
#define KEEL_CORE_CONSOLE_H

#include "keel/log.h"

/** Switch from the platform's early UART to the one found in the DT. */
void console_init(paddr_t uart);
void console_set_level(enum log_level lvl);
/** Write raw bytes, serialised across CPUs. */
void console_write(const char *s, size_t n);

/** A VM's console stream; its lines reach the console as "[vm] text". */
struct console_vm_line {
	char buf[200];
	size_t len;
	uint64_t since_us; /**< when the buffered partial line began */
	const char *name;
};
/** The VM stream that gets console input: its partial lines (prompts) are written out after a pause. */
void console_vm_set_interactive(struct console_vm_line *l);
/** Called from the hypervisor tick: write out the interactive VM's waiting partial line. */
void console_tick(void);
void console_vm_putc(struct console_vm_line *l, const char *vm_name, char c);
void console_vm_flush(struct console_vm_line *l, const char *vm_name);

/** Where console input goes (the focused VM's UART): called with each received character. */
void console_set_input(void (*sink)(void *ctx, char c), void *ctx);
/** Take input from the physical UART's receive interrupt. */
int console_input_start(uint32_t intid);

void early_report_wrong_el(uint64_t el);
void early_report_wrong_place(uint64_t at, uint64_t linked);

#endif
