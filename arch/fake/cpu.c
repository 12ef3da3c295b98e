/* Host tests: state behind arch/fake/include/arch/cpu.h. */
#include "arch/cpu.h"

bool fake_cpu_irq_pending;
