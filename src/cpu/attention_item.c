/* The scalar parts of a flash-attention work item (qdot.h: fy_attn_item), the same for every
 * kernel set's item (attention_avx2.c, attention_avx512.c; attention_amx.c keeps its own
 * layout but takes a row's initial state and the prefetch from here): the per-thread scratch, each row's
 * softmax state and visible slots, the prefetch of the cache rows ahead, the rows a block
 * concerns, and the item's output. Only the block's conversion and arithmetic are the sets'. */
#include "ops.h"
#include "qdot.h"

#include <math.h>
#include <stdlib.h>

#define FY_ATTN_PF 2 /* blocks ahead that the cache rows are prefetched */

static __thread float *g_scratch; /* [FY_ATTN_ROWS][MAXHD] acc, [MAXHD][KB] kt, [KB][MAXHD] vb */

bool fy_attn_item_begin(struct fy_attn_item *it, const struct fy_attn_args *a, int64_t g,
                        int64_t t0, int64_t t1, const struct fy_attn_part *part)
{
    return fy_attn_item_begin_at(it, a, g, t0, t1, part, 0);
}

bool fy_attn_all_heads_fits(const struct fy_attn_args *a, int64_t t0, int64_t t1)
{
    return a->n_head_kv <= FY_ATTN_MAXKV && (t1 - t0) * a->n_head <= FY_ATTN_ROWS &&
           (t1 - t0) * a->n_head * a->head_dim <= (int64_t)FY_ATTN_ROWS * FY_ATTN_MAXHD;
}

bool fy_attn_item_begin_at(struct fy_attn_item *it, const struct fy_attn_args *a, int64_t g,
                           int64_t t0, int64_t t1, const struct fy_attn_part *part,
                           int64_t acc_off)
{
    if (!g_scratch)
        g_scratch = aligned_alloc(64, (size_t)(FY_ATTN_ROWS + 2 * FY_ATTN_KB) * FY_ATTN_MAXHD *
                                          sizeof(float));
    if (!g_scratch)
        return false; /* the caller takes the reference path */
    it->hd = a->head_dim;
    it->kvw = a->n_head_kv * it->hd;
    it->group = a->n_head / a->n_head_kv;
    it->nr = (t1 - t0) * it->group;
    it->acc = g_scratch + acc_off;
    it->kt = g_scratch + FY_ATTN_ROWS * FY_ATTN_MAXHD;
    it->vb = it->kt + FY_ATTN_KB * FY_ATTN_MAXHD;
    it->jmin = INT64_MAX;
    it->jmax = -1;
    it->whole_rows = part && part->whole_rows;
    for (int64_t r = 0; r < it->nr; r++) {
        for (int64_t d = 0; d < it->hd; d++)
            it->acc[r * it->hd + d] = 0.0f;
        if (fy_attn_row_init(a, g * it->group + r % it->group, a->pos[t0 + r / it->group], part,
                             &it->m[r], &it->z[r], &it->lo[r], &it->hi[r])) {
            it->jmin = it->lo[r] < it->jmin ? it->lo[r] : it->jmin;
            it->jmax = it->hi[r] > it->jmax ? it->hi[r] : it->jmax;
        }
    }
    return true;
}

bool fy_attn_row_init(const struct fy_attn_args *a, int64_t h, int64_t pos,
                      const struct fy_attn_part *part, float *m, float *z, int64_t *lo,
                      int64_t *hi)
{
    const bool sink = a->sinks && (!part || part->sink);
    *m = sink ? a->sinks[h] : -INFINITY;
    *z = sink ? 1.0f : 0.0f;
    fy_attn_visible(a, pos, lo, hi);
    if (part) {
        *lo = *lo > part->s0 ? *lo : part->s0;
        *hi = *hi < part->s1 ? *hi : part->s1;
    }
    return *lo <= *hi;
}

void fy_attn_item_prefetch(const struct fy_attn_item *it, const struct fy_attn_args *a, int64_t g,
                           int64_t jb)
{
    fy_attn_prefetch(a, g, jb, it->jmax, it->whole_rows);
}

void fy_attn_prefetch_rows(const struct fy_attn_args *a, int64_t j0, int64_t j1)
{
    const int64_t kvw = a->n_head_kv * a->head_dim;
    if (j0 > j1)
        return;
    const size_t at = fy_kv_offset(a->kv_type, j0 * kvw);
    const size_t n = fy_kv_offset(a->kv_type, (j1 + 1) * kvw) - at;
    for (size_t off = 0; off < n; off += 64) {
        __builtin_prefetch((const char *)a->k + at + off, 0, 2);
        __builtin_prefetch((const char *)a->v + at + off, 0, 2);
    }
}

void fy_attn_prefetch(const struct fy_attn_args *a, int64_t g, int64_t jb, int64_t jmax,
                      bool whole_rows)
{
    const int64_t hd = a->head_dim, kvw = a->n_head_kv * hd;
    if (whole_rows) { /* the rows of every KV head, for the heads that follow (into L2) */
        const int64_t j0 = jb + FY_ATTN_PF * FY_ATTN_KB;
        fy_attn_prefetch_rows(a, j0, j0 + FY_ATTN_KB - 1 < jmax ? j0 + FY_ATTN_KB - 1 : jmax);
        return;
    }
    /* this head's slice of the cache rows FY_ATTN_PF blocks ahead: a short strided read the
     * hardware prefetchers do not follow across pages (head_dim is a multiple of 32 here, so a
     * Q8_0 slice is whole blocks) */
    const size_t slice = fy_kv_offset(a->kv_type, hd);
    for (int64_t j = jb + FY_ATTN_PF * FY_ATTN_KB;
         j < jb + (FY_ATTN_PF + 1) * FY_ATTN_KB && j <= jmax; j++)
        for (size_t off = 0; off < slice; off += 64) {
            const size_t at = fy_kv_offset(a->kv_type, j * kvw + g * hd) + off;
            __builtin_prefetch((const char *)a->k + at, 0, 3);
            __builtin_prefetch((const char *)a->v + at, 0, 3);
        }
}

int64_t fy_attn_item_active(const struct fy_attn_item *it, int64_t jb, int64_t nk, int64_t *act)
{
    int64_t n = 0;
    for (int64_t r = 0; r < it->nr; r++)
        if (it->lo[r] <= jb + nk - 1 && it->hi[r] >= jb)
            act[n++] = r;
    return n;
}

void fy_attn_item_end(const struct fy_attn_item *it, float *out, const struct fy_attn_args *a,
                      int64_t g, int64_t t0, const struct fy_attn_part *part)
{
    const int64_t hd = it->hd;
    for (int64_t r = 0; r < it->nr; r++) {
        const int64_t t = t0 + r / it->group, h = g * it->group + r % it->group;
        const float *acc = it->acc + r * hd;
        if (part) {
            float *o = part->out + (t * a->n_head + h) * (hd + 2);
            for (int64_t d = 0; d < hd; d++)
                o[d] = acc[d];
            o[hd] = it->m[r];
            o[hd + 1] = it->z[r];
        } else {
            const float inv = it->z[r] > 0.0f ? 1.0f / it->z[r] : 0.0f;
            float *o = out + (t * a->n_head + h) * hd;
            for (int64_t d = 0; d < hd; d++)
                o[d] = acc[d] * inv;
        }
    }
}
