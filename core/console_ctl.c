/* The keel console: input focus and VM commands (see core/console_ctl.h). */
#include "core/console_ctl.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "arch/barrier.h"
#include "arch/timer.h"
#include "core/console.h"
#include "core/vcpu.h"
#include "keel/log.h"

static struct vm *ctl_vms;
static unsigned ctl_nr;
static void (*ctl_input)(struct vm *vm, char c);
static int focus;    /* VM index, or -1: the keel console */
static bool escaped; /* the last character was CONSOLE_ESC */
static char cmd[CONSOLE_CMD_MAX + 1];
static unsigned cmd_len;

void console_ctl_init(struct vm *vms, unsigned nr, void (*input)(struct vm *vm, char c))
{
	ctl_vms = vms;
	ctl_nr = nr;
	ctl_input = input;
	focus = nr ? 0 : -1;
}

struct vm *console_ctl_focus(void)
{
	return focus >= 0 ? &ctl_vms[focus] : NULL;
}

static void reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void reply(const char *fmt, ...)
{
	char line[200];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	size_t len = MIN((size_t)n, sizeof(line) - 2);
	line[len++] = '\n';
	console_reply(line, len);
}

static void set_focus(int i)
{
	focus = i;
	console_vm_set_interactive(i >= 0 ? &ctl_vms[i].con : NULL);
	if (i >= 0)
		reply("keel: console input goes to VM %s (Ctrl-] k: keel console)", ctl_vms[i].name);
	else
		reply("keel: keel console (help for commands; Ctrl-] 0..%u: a VM)", ctl_nr ? ctl_nr - 1 : 0);
}

static struct vm *find_vm(const char *name)
{
	for (unsigned i = 0; i < ctl_nr; i++)
		if (strcmp(ctl_vms[i].name, name) == 0)
			return &ctl_vms[i];
	if (name[0] >= '0' && name[0] <= '9' && name[1] == '\0' && (unsigned)(name[0] - '0') < ctl_nr)
		return &ctl_vms[name[0] - '0'];
	return NULL;
}

static const char *state_name(const struct vm *vm)
{
	switch (READ_ONCE(vm->run_state)) {
	case VM_RUNNING:
		return READ_ONCE(vm->stop_request) ? "stopping" : "running";
	case VM_OFF:
		return READ_ONCE(vm->crashed) ? "crashed" : "off";
	case VM_STUCK:
		return "stuck";
	}
	return "?";
}

static void cmd_vms(void)
{
	for (unsigned i = 0; i < ctl_nr; i++) {
		const struct vm *vm = &ctl_vms[i];
		char cpus[64] = "";
		size_t n = 0;
		for (unsigned j = 0; j < vm->nr_vcpus && n < sizeof(cpus); j++) {
			int m = snprintf(cpus + n, sizeof(cpus) - n, "%s%u->CPU%u", j ? " " : "", j,
					 vm->vcpus[j].pcpu);
			if (m > 0)
				n += (size_t)m;
		}
		uint64_t up = READ_ONCE(vm->run_state) == VM_RUNNING ? timer_us() - vm->loaded_us : 0;
		reply("keel: vm %u %s: %s, vCPUs %s, %llu MiB, %u disk(s), %u device(s), up %llu.%llu s, "
		      "%llu resets%s",
		      i, vm->name, state_name(vm), cpus, (unsigned long long)(vm->cfg->mem_size >> 20),
		      vm->cfg->nr_disks, vm->nr_dev_hooks, (unsigned long long)(up / 1000000),
		      (unsigned long long)(up / 100000 % 10), (unsigned long long)vm->resets,
		      (int)i == focus ? ", has the input" : "");
	}
}

/* Hand stop or reset to the VM's vCPUs (vcpu_run takes it at its next entry). */
static void post_control(struct vm *vm, int what)
{
	int none = VM_CTL_NONE;
	if (!__atomic_compare_exchange_n(&vm->control, &none, what, false, __ATOMIC_SEQ_CST,
					 __ATOMIC_SEQ_CST)) {
		reply("keel: VM %s: an earlier command is still pending", vm->name);
		return;
	}
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
}

static void cmd_control(const char *verb, const char *arg)
{
	struct vm *vm = arg ? find_vm(arg) : NULL;
	if (vm == NULL) {
		reply("keel: %s: no VM \"%s\" (vms lists them)", verb, arg ? arg : "");
		return;
	}
	enum vm_run_state st = READ_ONCE(vm->run_state);
	if (strcmp(verb, "start") == 0) {
		if (st == VM_RUNNING) {
			reply("keel: VM %s is already running", vm->name);
		} else if (st == VM_STUCK) {
			/* A vCPU or a device did not stop: reloading could race with it. */
			reply("keel: VM %s is stuck (see the log); it cannot be started again", vm->name);
		} else {
			reply("keel: VM %s: starting", vm->name);
			post_control(vm, VM_CTL_START);
		}
		return;
	}
	if (st != VM_RUNNING) {
		reply("keel: VM %s is %s", vm->name, state_name(vm));
		return;
	}
	reply("keel: VM %s: %s requested", vm->name, verb);
	post_control(vm, strcmp(verb, "stop") == 0 ? VM_CTL_STOP : VM_CTL_RESET);
}

static void run_command(char *line)
{
	char *verb = line, *arg = NULL;
	while (*verb == ' ')
		verb++;
	char *sp = strchr(verb, ' ');
	if (sp) {
		*sp = '\0';
		arg = sp + 1;
		while (*arg == ' ')
			arg++;
		char *end = strchr(arg, ' ');
		if (end)
			*end = '\0';
	}
	if (verb[0] == '\0')
		return;
	if (strcmp(verb, "help") == 0) {
		reply("keel: commands: vms | stats VM | log | stop VM | start VM | reset VM (VM: name or "
		      "index)");
		reply("keel: keys: Ctrl-] N input to VM N, Ctrl-] k this console, Ctrl-] Ctrl-] a Ctrl-] "
		      "to the VM");
	} else if (strcmp(verb, "vms") == 0) {
		cmd_vms();
	} else if (strcmp(verb, "log") == 0) {
		console_replay_log();
	} else if (strcmp(verb, "stats") == 0) {
		struct vm *vm = arg ? find_vm(arg) : NULL;
		if (vm)
			vm_report(vm);
		else
			reply("keel: stats: no VM \"%s\" (vms lists them)", arg ? arg : "");
	} else if (strcmp(verb, "stop") == 0 || strcmp(verb, "start") == 0 || strcmp(verb, "reset") == 0) {
		cmd_control(verb, arg);
	} else {
		reply("keel: unknown command \"%.20s\" (help lists them)", verb);
	}
}

static void console_key(char c)
{
	if (c == '\r' || c == '\n') {
		cmd[cmd_len] = '\0';
		reply("keel> %s", cmd);
		cmd_len = 0;
		run_command(cmd);
	} else if (c == '\b' || c == 0x7f) {
		if (cmd_len)
			cmd_len--;
	} else if (c >= ' ' && c < 0x7f && cmd_len < CONSOLE_CMD_MAX) {
		cmd[cmd_len++] = c;
	}
}

void console_ctl_receive(void *ctx, char c)
{
	(void)ctx;
	if (escaped) {
		escaped = false;
		if (c >= '0' && c <= '9' && (unsigned)(c - '0') < ctl_nr) {
			set_focus(c - '0');
			return;
		}
		if (c == 'k' || c == 'K') {
			set_focus(-1);
			return;
		}
		if (c != CONSOLE_ESC) {
			reply("keel: Ctrl-] then 0..%u (a VM), k (keel console) or Ctrl-] (send it)",
			      ctl_nr ? ctl_nr - 1 : 0);
			return;
		}
	} else if (c == CONSOLE_ESC) {
		escaped = true;
		return;
	}
	if (focus >= 0)
		ctl_input(&ctl_vms[focus], c);
	else
		console_key(c);
}
