#ifndef KEEL_PLATFORM_RPI4_BOARD_H
#define KEEL_PLATFORM_RPI4_BOARD_H

int rpi4_storage_init(const void *fdt);
void rpi4_power_off(void);

#endif
