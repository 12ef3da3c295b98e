/* Syndrome decoding is pure arithmetic: host tests use arm64's own. */
#include "../../../arm64/include/arch/esr.h"
