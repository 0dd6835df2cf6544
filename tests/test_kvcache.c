/* The sliding-window KV rings (src/graph/kvcache.[ch]): a tiny model with a window of 8 over 40
 * tokens (5 windows) gives the same logits, bit for bit (memcmp), with rings as with full caches
 * (--swa-full): in one micro-batch, token by token, in micro-batches of 7 and 16 (a batch whose
 * window wraps around the ring) and a prompt then single-token evaluations; all on the CPU and on
 * the test device as GPU0 (all layers there, experts on the CPU, and the ring layers split
 * between the devices). The session's KV bytes are the rings' (fy_place_kv_slots). Also:
 * fy_kvcache_linear's view of a ring (no wrap: the ring's own rows; wrapped: a copy in position
 * order; too many positions: refused), and fy_session_truncate, which keeps a prefix whose window
 * the rings still hold and starts again from 0 otherwise. */
#include "fy_test_hybrid.h"
#include "graph/kvcache.h"

enum { N = 40, VOCAB = 600, E = 8, N_CTX = 96, THRESHOLD = 4 };

static int failed;

/* ring vs full caches over the cases, under placement pl on dev (both NULL: the CPU alone) */
static void ring_vs_full(const struct fy_model *m, const int32_t *toks, const char *name,
                         const struct fy_placement *pl, bool test_dev)
{
    static const struct {
        int64_t ub, n_first;
        const char *what;
    } cases[] = {
        {N, N, "one micro-batch"},
        {1, N, "token by token"},
        {7, N, "micro-batches of 7"},
        {16, N, "micro-batches of 16 (wraps inside a batch)"},
        {24, 24, "a prompt of 24, then 16 single evaluations"},
    };
    float *full = malloc(sizeof(float) * N * VOCAB), *ring = malloc(sizeof(float) * N * VOCAB);
    if (!full || !ring) {
        failed++;
        goto done;
    }
    for (size_t c = 0; c < FY_ARRAY_LEN(cases); c++) {
        size_t kv_full = 0, kv_ring = 0;
        fy_status st[2];
        for (int r = 0; r < 2; r++) {
            struct fy_device *dev = NULL;
            if (test_dev && fy_device_test_new(1, &dev) != FY_OK) {
                failed++;
                goto done;
            }
            memset(r ? ring : full, 0, sizeof(float) * N * VOCAB);
            st[r] = fy_hyb_eval_swa(m, toks, N, N_CTX, cases[c].ub, cases[c].n_first, r == 0, pl,
                                    dev, r ? ring : full, r ? &kv_ring : &kv_full);
            fy_device_free(dev);
        }
        const bool same = st[0] == FY_OK && st[1] == FY_OK &&
                          !memcmp(full, ring, sizeof(float) * N * VOCAB);
        const bool bytes = kv_ring == fy_hyb_kv_bytes_expected(m, N_CTX, cases[c].ub, false) &&
                           kv_full == fy_hyb_kv_bytes_expected(m, N_CTX, cases[c].ub, true) &&
                           kv_ring < kv_full;
        printf("%s %-22s ub %2lld, %-44s logits %s, KV %zu B (full %zu B)\n",
               same && bytes ? "ok  " : "FAIL", name, (long long)cases[c].ub, cases[c].what,
               same ? "equal" : "DIFFER", kv_ring, kv_full);
        failed += !(same && bytes);
    }
done:
    free(full);
    free(ring);
}

/* fy_kvcache_linear on a cache of one ring layer of 16 slots (F32, width 2: slot s holds s) */
static void test_linear(void)
{
    const int failed0 = failed;
    const int64_t slots[2] = {16, 64};
    struct fy_kvcache *kv = NULL;
    FY_EXPECT(fy_kvcache_new(2, 64, slots, 2, FY_F32, &kv) == FY_OK);
    if (!kv)
        return;
    FY_EXPECT(kv->ring[0] == 16 && kv->ring[1] == 0 && kv->lin_rows == 16);
    FY_EXPECT(fy_kvcache_layer_bytes(kv, 0) == 2 * 16 * 2 * 4);
    FY_EXPECT(fy_kvcache_bytes(kv) == 2 * (16 + 64) * 2 * 4);
    float *k = kv->k[0], *v = kv->v[0];
    for (int s = 0; s < 16; s++) {
        k[2 * s] = k[2 * s + 1] = (float)s;
        v[2 * s] = v[2 * s + 1] = (float)-s;
    }
    /* 3 queries at 20..22 with a window of 5: positions 16..22, slots 0..6 (no wrap) */
    const int32_t pos[3] = {20, 21, 22};
    struct fy_attn_args a = {.n_tok = 3, .k = k, .v = v, .kv_type = FY_F32, .n_kv = 23,
                             .pos = pos, .window = 5, .ring = 16};
    FY_EXPECT(fy_kvcache_linear(kv, &a) == FY_OK);
    FY_EXPECT(a.ring == 0 && a.kv_pos0 == 16 && a.n_kv == 7 && a.k == k && a.v == v);
    int64_t j0, j1;
    fy_attn_visible(&a, 22, &j0, &j1);
    FY_EXPECT(j0 == 2 && j1 == 6); /* positions 18..22 */
    /* queries at 30..33, window 8: positions 23..33, slots 7..15 then 0..1: copied in order */
    const int32_t pos2[4] = {30, 31, 32, 33};
    a = (struct fy_attn_args){.n_tok = 4, .k = k, .v = v, .kv_type = FY_F32, .n_kv = 34,
                              .pos = pos2, .window = 8, .ring = 16};
    FY_EXPECT(fy_kvcache_linear(kv, &a) == FY_OK);
    FY_EXPECT(a.ring == 0 && a.kv_pos0 == 23 && a.n_kv == 11 && a.k == kv->lin_k);
    for (int64_t j = 0; a.k == kv->lin_k && j < a.n_kv; j++) {
        FY_EXPECT(((const float *)a.k)[2 * j + 1] == (float)((23 + j) % 16));
        FY_EXPECT(((const float *)a.v)[2 * j] == (float)-((23 + j) % 16));
    }
    /* 12 queries at 20..31 with a window of 8: 13..31 are 19 positions, more than 16 slots */
    int32_t pos3[12];
    for (int t = 0; t < 12; t++)
        pos3[t] = 20 + t;
    a = (struct fy_attn_args){.n_tok = 12, .k = k, .v = v, .kv_type = FY_F32, .n_kv = 32,
                              .pos = pos3, .window = 8, .ring = 16};
    fy_log_set_level(FY_LOG_SILENT);
    FY_EXPECT(fy_kvcache_linear(kv, &a) == FY_E_INVAL);
    fy_log_set_level(FY_LOG_WARN);
    fy_kvcache_free(kv);
    if (failed == failed0)
        printf("ok   fy_kvcache_linear: ring rows in place, a wrapped range copied, too many "
               "refused\n");
}

/* fy_session_truncate with rings of 32 (window 8, micro-batches of 7) against full caches */
static void test_truncate(const struct fy_model *m, const int32_t *toks)
{
    const int failed0 = failed;
    struct fy_session *s[2] = {NULL, NULL};
    float *out[2] = {malloc(sizeof(float) * 4 * VOCAB), malloc(sizeof(float) * 4 * VOCAB)};
    for (int r = 0; r < 2; r++) {
        struct fy_session_opts o;
        fy_session_opts_default(&o);
        o.n_ctx = N_CTX;
        o.n_ubatch = 7;
        o.swa_full = r == 0;
        FY_EXPECT(fy_session_new(m, &o, &s[r]) == FY_OK && out[r]);
        if (!s[r] || !out[r])
            goto done;
        /* 40 evaluated: the rings hold 8..39; back to 36 needs 29..35: kept */
        FY_EXPECT(fy_session_eval(s[r], toks, N, false, NULL, NULL) == FY_OK);
        FY_EXPECT(fy_session_truncate(s[r], 36) == 36 && fy_session_n_past(s[r]) == 36);
        FY_EXPECT(fy_session_eval(s[r], toks + 20, 4, true, fy_hyb_keep, out[r]) == FY_OK);
        /* back to 5 needs 0..4, overwritten in the rings: from 0 again (full caches keep it) */
        const int64_t want = r ? 0 : 5;
        FY_EXPECT(fy_session_truncate(s[r], 5) == want && fy_session_n_past(s[r]) == want);
        FY_EXPECT(fy_session_truncate(s[r], 50) == want); /* beyond n_past: nothing changes */
    }
    FY_EXPECT(!memcmp(out[0], out[1], sizeof(float) * 4 * VOCAB));
    if (failed == failed0)
        printf("ok   truncate: a prefix whose window the rings hold is kept (same logits after "
               "it), an older one starts again from 0\n");
done:
    for (int r = 0; r < 2; r++) {
        fy_session_free(s[r]);
        free(out[r]);
    }
}

int main(void)
{
    struct fy_hyb_model hm; /* head_dim 64: the CPU kernel sets' flash items take it */
    if (fy_hyb_model_new(&hm, "/tmp/fy-kvcache-XXXXXX", 64, E, 2, VOCAB, 17) != FY_OK)
        return FY_TEST_HARD;
    const struct fy_model *m = hm.m;
    int32_t toks[N];
    fy_hyb_tokens(toks, N, VOCAB, 3);
    FY_EXPECT(m->hp.n_swa == 8 && m->layers[0].window == 8 && m->layers[1].window == 0);

    /* the ring sizes: window + ub rounded up to 32, never above n_ctx; full otherwise */
    FY_EXPECT(fy_place_kv_slots(8, 96, 1, false) == 32 && fy_place_kv_slots(8, 96, 24, false) == 32);
    FY_EXPECT(fy_place_kv_slots(8, 96, 40, false) == 64 && fy_place_kv_slots(8, 96, 96, false) == 96);
    FY_EXPECT(fy_place_kv_slots(128, 131072, 512, false) == 640);
    FY_EXPECT(fy_place_kv_slots(128, 131072, 512, true) == 131072);
    FY_EXPECT(fy_place_kv_slots(0, 131072, 512, false) == 131072);

    test_linear();
    test_truncate(m, toks);
    ring_vs_full(m, toks, "all CPU", NULL, false);
    static const struct fy_hyb_recipe recipes[] = {
        {"-ngl 99", {"-ngl", "99"}, 2},
        {"-ngl 99 -ot exps=CPU", {"-ngl", "99", "-ot", "exps=CPU"}, 4},
        {"-ngl 2", {"-ngl", "2"}, 2}, /* ring layer 0 on the CPU, ring layer 2 on GPU0 */
    };
    for (size_t ri = 0; ri < FY_ARRAY_LEN(recipes); ri++) {
        struct fy_placement *pl = NULL;
        FY_EXPECT(fy_hyb_place(m, recipes[ri].words, recipes[ri].n, THRESHOLD, &pl) == FY_OK);
        if (pl)
            ring_vs_full(m, toks, recipes[ri].name, pl, true);
        fy_placement_free(pl);
    }
    fy_hyb_model_free(&hm);
    if (failed)
        fprintf(stderr, "%d check(s) failed\n", failed);
    return failed ? 1 : 0;
}
