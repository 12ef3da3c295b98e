/* Exception entry rules are pure arithmetic: host tests use arm64's own. */
#include "../../../arm64/include/arch/exc_entry.h"
