/* The guest's ID-register view is pure arithmetic: host tests use arm64's own. */
#include "../../../arm64/include/arch/id_regs.h"
