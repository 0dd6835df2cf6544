/* The AMX tile configuration of the amx kernel set's files (qdot_amx.c, attention_amx.c). A
 * thread has one configuration in force; each kernel asks for its own before its tiles, and it
 * is loaded only when another kernel's (or none) is in force on that thread. */
#ifndef FY_CPU_AMX_TILES_H
#define FY_CPU_AMX_TILES_H

#include <stdint.h>

/* the 64-byte operand of LDTILECFG (palette 1) */
struct fy_amx_cfg {
    uint8_t palette, start;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
};

enum { FY_AMX_CFG_MATMUL = 1, FY_AMX_CFG_ATTENTION = 2 };

void fy_amx_use_config(int id, const struct fy_amx_cfg *cfg);

#endif
