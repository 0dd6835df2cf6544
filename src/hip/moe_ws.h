/* The MoE workspace (moe.hip) and what the fused router (moe_route.hip) needs of it: the
 * grouping of the (token, slot) selections by expert lives in its own allocation (gbuf), so the
 * router can write it before the MoE layer sizes the rest (buf) for its n_ff. */
#ifndef FY_HIP_MOE_WS_H
#define FY_HIP_MOE_WS_H

#include "fy_gpu_compat.h"
#include "fy_gpu.h"

#define FY_ROUTE_SPLIT_ELEMS 384 /* fused router: input elements per split (gpt-oss's 2880: 8) */
#define FY_ROUTE_MAX_SPLITS 32

struct fy_gpu_moe_ws {
    void *gbuf;       /* grouping: ticket, off, src_row, inv */
    size_t gcap;
    int32_t *ticket;  /* the fused router's last-block counter: 0 between launches */
    int32_t *off;     /* [n_exp + 1] first sorted row of each expert; off[n_exp] = valid rows */
    int32_t *src_row; /* [n_sel] token of sorted row r */
    int32_t *inv;     /* [n_sel] sorted row of selection t*k + j; -1 for an id out of range */
    int32_t *tile_off;/* [n_exp + 1] first row tile of each expert (the GEMM's, n_tok > 8) */
    int32_t *tiles;   /* [fy_moe_max_tiles][2] (expert, first row) */
    void *rbuf;       /* the split router's partial logits and per-token tickets */
    size_t rcap;
    float *rpart;
    int32_t *rtick;
    void *buf;        /* gu and out */
    size_t cap;
    float *gu;        /* [n_sel][2 ff] gate and up pre-activations; SwiGLU output over gate */
    float *out;       /* [n_sel][d] expert outputs (down, with bias), sorted rows */
    /* the call in progress, set by begin */
    const float *x; /* [n_tok][d] device input, read by every experts() call */
    int64_t n_tok, n_exp, d, ff;
    int k;
    int begun; /* begin done, end not yet */
};

/* Makes rbuf hold n_tok tickets (0 in a new buffer) and n_tok * n_part partial logits. */
fy_status fy_moe_reserve_route(struct fy_gpu_moe_ws *ws, int64_t n_tok, int64_t n_part,
                               hipStream_t s);

/* Row tiles of FY_GPU_TILE_ROWS that n_sel rows over n_exp experts can need at most */
int64_t fy_moe_max_tiles(int64_t n_sel, int64_t n_exp);

/* Makes gbuf hold the grouping of n_sel selections over n_exp experts (a new buffer starts with
 * the ticket at 0; growing waits for s first) and sets ticket, off, src_row, inv. */
fy_status fy_moe_reserve_group(struct fy_gpu_moe_ws *ws, int64_t n_sel, int64_t n_exp,
                               hipStream_t s);

#endif
