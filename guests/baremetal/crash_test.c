/*
 * test=crash: a guest that cannot take an exception. It points VBAR_EL1 outside its memory and then
 * loads from an address outside its memory: keel injects a data abort, whose vector fetch faults
 * again. keel must see that the VM crashed and turn it off, leaving the other VMs alone.
 */
#include "arch.h"
#include "lib.h"
#include "tests.h"
#include "uart.h"

#define NOWHERE 0x30000000UL /* between the guest's devices and its RAM: mapped to nothing */

void test_crash(void)
{
	gprintf("GUEST: crash: VBAR_EL1 -> 0x%lx, then a load from there\n", NOWHERE);
	write_sysreg(vbar_el1, NOWHERE);
	__asm__ volatile("isb" ::: "memory");
	(void)*(volatile uint32_t *)NOWHERE;
	gprintf("GUEST: FAIL crash: the load returned\n");
	test_fail();
}
