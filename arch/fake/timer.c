/* Host tests: state behind arch/fake/include/arch/timer.h. */
#include "arch/timer.h"

bool fake_timer_manual;
uint64_t fake_timer_ns;
