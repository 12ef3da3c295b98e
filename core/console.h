/* The hypervisor console (see keel/log.h for log lines and panic). */
#ifndef KEEL_CORE_CONSOLE_H
#define KEEL_CORE_CONSOLE_H

#include "core/console_buf.h"
#include "keel/log.h"

/** Switch from the platform's early UART to the one found in the DT. */
void console_init(paddr_t uart);
void console_set_level(enum log_level lvl);
/** Append pre-formatted log text (whole lines) to keel's log stream; never waits for the UART once the tick
 * runs. */
void console_write(const char *s, size_t n);
/** A keel console reply (whole lines): like console_write, but not kept for the log command. */
void console_reply(const char *s, size_t n);
/** Write the last log lines (about 2 KiB of them) out again as replies. */
void console_replay_log(void);
/** Write every buffered byte out now, synchronously (bounded by time): power-off, panic. */
void console_flush(void);

/*
 * A VM's console stream (struct con_stream, zero-initialised, registered on first use): its lines
 * reach the console as "[vm] text", whole; a full buffer drops lines and says how many bytes.
 */
/** The VM stream that gets console input (NULL: none): its partial lines (prompts) are written out after a
 * pause. */
void console_vm_set_interactive(struct con_stream *l);
/**
 * The hypervisor tick (every CPU that has one may call it): commit the interactive VM's waiting
 * partial line and drain a bounded amount. The first call ends synchronous boot-time output.
 */
void console_tick(void);
/** One character of VM output: buffered, never waits for the UART. */
void console_vm_putc(struct con_stream *l, const char *vm_name, char c);
/** The VM stops: end its partial line, then flush everything synchronously. */
void console_vm_flush(struct con_stream *l, const char *vm_name);

/** Where console input goes (the focused VM's UART): called with each received character. */
void console_set_input(void (*sink)(void *ctx, char c), void *ctx);
/** Take input from the physical UART's receive interrupt. */
int console_input_start(uint32_t intid);

void early_report_wrong_el(uint64_t el);
void early_report_wrong_place(uint64_t at, uint64_t linked);

#endif
