/* Host tests model an arm64 vCPU: the context layout is arm64's own (plain C structs, no asm). */
#include "../../../arm64/include/arch/vcpu_ctx.h"
