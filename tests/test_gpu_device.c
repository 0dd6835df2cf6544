/* The GPU device (src/graph/device_gpu.c): memory accounting, copies, the out-of-memory message,
 * pinning, one node of every op against the CPU device on tiny shapes, and a MoE node whose
 * experts are uploaded in chunks on the copy stream (run_staged), repeated over both staging
 * slots. Built twice: on the emulator (suite emu; lazy and eager streams) and on a real GPU
 * (suite gpu; exit 77 without one). */
#include "fy_test.h"
#include "graph/device.h"
#include "graph/device_gpu.h"
#include "graph/kvcache.h"
#include "quant.h"
#ifdef FY_TEST_EMU
#include "hip/emu/fy_emu_ctl.h"
#endif

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

enum { T = 7, D = 64, NH = 4, NKV = 2, HD = 64, CTX = 16, E = 8, K = 2, FF = 64, V = 40 };

static int failed;
static struct fy_device *cpu, *gpu;

/* device copy of host bytes */
static void *up(const void *h, size_t n)
{
    void *p = NULL;
    if (gpu->ops->alloc(gpu, n, "test buffer", &p) != FY_OK ||
        gpu->ops->copy_in(gpu, p, h, n) != FY_OK) {
        fprintf(stderr, "FAIL upload of %zu bytes\n", n);
        failed++;
    }
    return p;
}

static void down(void *h, const void *p, size_t n)
{
    if (gpu->ops->copy_out(gpu, h, p, n) != FY_OK) {
        fprintf(stderr, "FAIL download of %zu bytes\n", n);
        failed++;
    }
}

/* NMSE of got against ref (both f32), in double */
static void check(const char *what, const float *got, const float *ref, int64_t n, double gate)
{
    double num = 0, den = 0;
    int64_t worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)got[i] - ref[i];
        num += d * d;
        den += (double)ref[i] * ref[i];
        if (fabs(d) > fabs((double)got[worst] - ref[worst]) || got[i] != got[i])
            worst = i;
    }
    double e = den > 0 ? num / den : num;
    bool ok = e <= gate;
    printf("%s %-34s nmse %.3g (worst [%lld] %g vs %g)\n", ok ? "ok  " : "FAIL", what, e,
           (long long)worst, got[worst], ref[worst]);
    failed += !ok;
}

static struct fy_mat make_mat(struct fy_rng *r, enum fy_dtype t, int64_t n_out, int64_t n_in,
                              int64_t n_mat, float scale, uint8_t **data)
{
    const size_t row = fy_dtype_row_bytes(t, n_in);
    float *src = malloc((size_t)n_in * sizeof(float));
    *data = malloc(row * (size_t)(n_out * n_mat));
    for (int64_t o = 0; o < n_out * n_mat; o++) {
        fy_rng_fill(r, src, n_in, scale);
        fy_quant_row(t, src, *data + (size_t)o * row, n_in);
    }
    free(src);
    return (struct fy_mat){t, n_in, n_out, n_mat, row, row * (size_t)n_out, *data};
}

/* Runs node hn (host pointers) on the CPU and gn (device pointers) on the GPU. */
static void run_both(const struct fy_node *hn, const struct fy_batch *hb, const struct fy_node *gn,
                     const struct fy_batch *gb)
{
    FY_EXPECT(cpu->ops->run(cpu, hn, 1, hb) == FY_OK);
    FY_EXPECT(gpu->ops->run(gpu, gn, 1, gb) == FY_OK);
}

static void test_memory(void)
{
    const int failed0 = failed;
    const uint64_t live0 = gpu->stats.bytes_live;
    void *a = NULL, *b = NULL;
    FY_EXPECT(gpu->ops->alloc(gpu, 1000, "a", &a) == FY_OK && a);
    FY_EXPECT(gpu->ops->alloc(gpu, 3000, "b", &b) == FY_OK && b);
    FY_EXPECT(gpu->stats.bytes_live == live0 + 4000 && gpu->stats.bytes_peak >= live0 + 4000);
    uint8_t h[3000], back[3000];
    for (int i = 0; i < 3000; i++)
        h[i] = (uint8_t)(i * 7 + 3);
    FY_EXPECT(gpu->ops->copy_in(gpu, b, h, sizeof(h)) == FY_OK);
    memset(h, 0, 1000); /* the source may change once copy_in returns */
    FY_EXPECT(gpu->ops->copy_out(gpu, back, b, sizeof(back)) == FY_OK);
    FY_EXPECT(back[0] == 3 && back[999] == (uint8_t)(999 * 7 + 3) &&
              !memcmp(back + 1000, h + 1000, 2000));
    gpu->ops->free(gpu, a);
    gpu->ops->free(gpu, NULL);
    FY_EXPECT(gpu->stats.bytes_live == live0 + 3000);
    gpu->ops->free(gpu, b);
    FY_EXPECT(gpu->stats.bytes_live == live0);
    printf("%s memory accounting and copies\n", failed > failed0 ? "FAIL" : "ok  ");
}

/* The out-of-memory message names what did not fit, its size and the free memory. */
static void test_oom(void)
{
#ifdef FY_TEST_EMU
    struct fy_emu_stats es;
    fy_emu_stats_get(&es);
    fy_emu_set_mem_limit(es.mem_used + (1u << 20));
    char path[] = "/tmp/fy-gpu-oom-XXXXXX";
    int fd = mkstemp(path), saved = dup(2);
    void *p = (void *)1;
    fflush(stderr);
    dup2(fd, 2);
    fy_status st = gpu->ops->alloc(gpu, 4u << 20, "expert staging for layer 7 (gate)", &p);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char msg[1024] = {0};
    lseek(fd, 0, SEEK_SET);
    ssize_t got = read(fd, msg, sizeof(msg) - 1);
    close(fd);
    unlink(path);
    fy_emu_set_mem_limit(0);
    bool ok = st == FY_E_NOMEM && !p && got > 0 &&
              strstr(msg, "expert staging for layer 7 (gate)") && strstr(msg, "free");
    printf("%s out of memory: %s", ok ? "ok  " : "FAIL", got > 0 ? msg : "(no message)\n");
    failed += !ok;
#endif
}

#ifdef FY_TEST_EMU
/* The emulator's model of Linux's long-term pinning: pages of a private file mapping would be
 * copied (pin_cow_bytes), of a shared read-only one (how gguf_open maps models) not. */
static void test_pin_mapping(void)
{
    char path[] = "/tmp/fy-pin-XXXXXX";
    const size_t n = 4 * 4096;
    int fd = mkstemp(path);
    if (fd < 0 || ftruncate(fd, (off_t)n) != 0) {
        printf("FAIL pin mapping: temporary file\n");
        failed++;
        return;
    }
    unlink(path);
    for (int shared = 0; shared < 2; shared++) {
        void *m = mmap(NULL, n, PROT_READ, shared ? MAP_SHARED : MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            printf("FAIL pin mapping: mmap\n");
            failed++;
            continue;
        }
        fy_emu_stats_reset();
        fy_status st = gpu->ops->pin(gpu, m, n);
        struct fy_emu_stats es;
        fy_emu_stats_get(&es);
        if (st == FY_OK)
            gpu->ops->unpin(gpu, m);
        const bool ok = st == FY_OK && es.pin_cow_bytes == (shared ? 0 : n);
        printf("%s pin of a %s file mapping: %llu bytes a real pin would copy\n",
               ok ? "ok  " : "FAIL", shared ? "shared" : "private",
               (unsigned long long)es.pin_cow_bytes);
        failed += !ok;
        munmap(m, n);
    }
    close(fd);
}
#endif

static void test_pin(void)
{
    const size_t n = 3 * 4096;
    void *h = aligned_alloc(4096, n);
    fy_status st = gpu->ops->pin(gpu, h, n);
    if (st == FY_OK) {
        FY_EXPECT(gpu->stats.bytes_pinned == n);
        gpu->ops->unpin(gpu, h);
    }
    FY_EXPECT(gpu->stats.bytes_pinned == 0);
    printf("%s pin: %s\n", st == FY_OK ? "ok  " : "note", fy_status_str(st));
    free(h);
}

static void test_ops(void)
{
    struct fy_rng r = {7};
    uint8_t *blob[8];
    float x[T * D], x2[T * D], wn[D], q[T * NH * HD], kk[T * NKV * HD], vv[T * NKV * HD];
    float sinks[NH], rl[T * E];
    int32_t tok[T], pos[T];
    fy_rng_fill(&r, x, T * D, 1.0f);
    fy_rng_fill(&r, x2, T * D, 1.0f);
    fy_rng_fill(&r, wn, D, 0.3f);
    fy_rng_fill(&r, q, T * NH * HD, 1.0f);
    fy_rng_fill(&r, kk, T * NKV * HD, 1.0f);
    fy_rng_fill(&r, vv, T * NKV * HD, 1.0f);
    fy_rng_fill(&r, sinks, NH, 1.0f);
    fy_rng_fill(&r, rl, T * E, 2.0f);
    for (int t = 0; t < T; t++) {
        tok[t] = (int32_t)(fy_rng_u64(&r) % V);
        pos[t] = 5 + t;
    }
    float *dx = up(x, sizeof(x)), *dx2 = up(x2, sizeof(x2)), *dwn = up(wn, sizeof(wn));
    int32_t *dtok = up(tok, sizeof(tok)), *dpos = up(pos, sizeof(pos));
    void *dout = NULL;
    float out[T * NH * HD], got[T * NH * HD];
    FY_EXPECT(gpu->ops->alloc(gpu, sizeof(out), "out", &dout) == FY_OK);
    struct fy_batch hb = {.n_tok = T, .tokens = tok, .pos = pos};
    struct fy_batch gb = {.n_tok = T, .tokens = dtok, .pos = dpos};
    struct fy_act hx = {FY_ACT_F32, D, T, x}, gx = {FY_ACT_F32, D, T, dx};
    struct fy_act ho = {FY_ACT_F32, D, 0, out}, go = {FY_ACT_F32, D, 0, dout};
    struct fy_node hn, gn;

    /* GET_ROWS */
    struct fy_mat emb = make_mat(&r, FY_Q8_0, V, D, 1, 1.0f, &blob[0]);
    struct fy_mat gemb = emb;
    gemb.data = up(emb.data, emb.mat_bytes);
    hn = (struct fy_node){.op = FY_OP_GET_ROWS, .name = "get_rows", .dst = &ho, .w = &emb};
    gn = hn;
    gn.dst = &go;
    gn.w = &gemb;
    run_both(&hn, &hb, &gn, &gb);
    down(got, dout, sizeof(float) * T * D);
    FY_EXPECT(go.ne1 == T);
    check("get_rows q8_0", got, out, T * D, 1e-12);

    /* RMSNORM */
    hn = (struct fy_node){.op = FY_OP_RMSNORM, .name = "rmsnorm", .dst = &ho, .vec = wn,
                          .fparam = 1e-5f};
    hn.src[0] = &hx;
    gn = hn;
    gn.src[0] = &gx;
    gn.dst = &go;
    gn.vec = dwn;
    run_both(&hn, &hb, &gn, &gb);
    down(got, dout, sizeof(float) * T * D);
    check("rmsnorm", got, out, T * D, 1e-10);

    /* MATMUL, every weight type, with a bias */
    static const enum fy_dtype types[] = {FY_Q8_0, FY_MXFP4, FY_BF16, FY_F16, FY_F32};
    float bias[NH * HD];
    fy_rng_fill(&r, bias, NH * HD, 0.5f);
    float *dbias = up(bias, sizeof(bias));
    for (size_t i = 0; i < FY_ARRAY_LEN(types); i++) {
        uint8_t *wd = NULL;
        struct fy_mat w = make_mat(&r, types[i], NH * HD, D, 1, 0.2f, &wd), gw = w;
        gw.data = up(w.data, w.mat_bytes);
        struct fy_act hq = {FY_ACT_F32, NH * HD, 0, out}, gq = {FY_ACT_F32, NH * HD, 0, dout};
        hn = (struct fy_node){.op = FY_OP_MATMUL, .name = "matmul", .dst = &hq, .w = &w,
                              .vec = bias};
        hn.src[0] = &hx;
        gn = hn;
        gn.src[0] = &gx;
        gn.dst = &gq;
        gn.w = &gw;
        gn.vec = dbias;
        run_both(&hn, &hb, &gn, &gb);
        down(got, dout, sizeof(float) * T * NH * HD);
        char what[48];
        snprintf(what, sizeof(what), "matmul %s + bias", fy_dtype_name(types[i]));
        check(what, got, out, T * NH * HD, 1e-5);
        FY_EXPECT(gq.ne1 == T);
        gpu->ops->free(gpu, (void *)gw.data);
        free(wd);
    }

    /* ROPE (in place) */
    const struct fy_rope rope = {HD, 4096, 150000.0f, 1.0f / 32, 1.0f, 1.0f, 32.0f, 1.0f, 0};
    float qh[T * NH * HD];
    memcpy(qh, q, sizeof(q));
    float *dq = up(q, sizeof(q));
    struct fy_act hqa = {FY_ACT_F32, NH * HD, T, qh}, gqa = {FY_ACT_F32, NH * HD, T, dq};
    hn = (struct fy_node){.op = FY_OP_ROPE, .name = "rope", .dst = &hqa, .params = &rope,
                          .iparam = HD};
    hn.src[0] = &hqa;
    gn = hn;
    gn.src[0] = gn.dst = &gqa;
    run_both(&hn, &hb, &gn, &gb);
    down(got, dq, sizeof(q));
    check("rope yarn", got, qh, T * NH * HD, 1e-10);

    /* KV_STORE then ATTENTION over an F16 cache whose first slots hold earlier positions */
    uint16_t kc[CTX * NKV * HD], vc[CTX * NKV * HD];
    for (int i = 0; i < CTX * NKV * HD; i++) {
        kc[i] = fy_f32_to_fp16((float)fy_rng_normal(&r));
        vc[i] = fy_f32_to_fp16((float)fy_rng_normal(&r));
    }
    void *kcp = kc, *vcp = vc;
    void *gk = up(kc, sizeof(kc)), *gv = up(vc, sizeof(vc));
    struct fy_kvcache hkv = {.type = FY_F16, .n_layer = 1, .n_ctx = CTX, .width = NKV * HD,
                             .k = &kcp, .v = &vcp};
    struct fy_kvcache gkv = {.type = FY_F16, .n_layer = 1, .n_ctx = CTX, .width = NKV * HD,
                             .k = &gk, .v = &gv};
    hb.kv = &hkv;
    gb.kv = &gkv;
    hb.n_kv = gb.n_kv = 5 + T;
    float *dk = up(kk, sizeof(kk)), *dv = up(vv, sizeof(vv)), *dsinks = up(sinks, sizeof(sinks));
    struct fy_act hk = {FY_ACT_F32, NKV * HD, T, kk}, gka = {FY_ACT_F32, NKV * HD, T, dk};
    struct fy_act hv = {FY_ACT_F32, NKV * HD, T, vv}, gva = {FY_ACT_F32, NKV * HD, T, dv};
    const struct fy_attn_shape shape = {NH, NKV, HD};
    hn = (struct fy_node){.op = FY_OP_KV_STORE, .name = "kv_store", .params = &shape};
    hn.src[0] = &hk;
    hn.src[1] = &hv;
    gn = hn;
    gn.src[0] = &gka;
    gn.src[1] = &gva;
    run_both(&hn, &hb, &gn, &gb);
    uint16_t kback[CTX * NKV * HD];
    down(kback, gk, sizeof(kback));
    FY_EXPECT(!memcmp(kback, kc, sizeof(kc)));
    for (int w = 0; w <= 8; w += 8) {
        struct fy_act ha = {FY_ACT_F32, NH * HD, 0, out}, ga = {FY_ACT_F32, NH * HD, 0, dout};
        hn = (struct fy_node){.op = FY_OP_ATTENTION, .name = "attention", .dst = &ha,
                              .vec = sinks, .params = &shape, .iparam = w, .fparam = 0.125f};
        hn.src[0] = &hqa;
        gn = hn;
        gn.src[0] = &gqa;
        gn.dst = &ga;
        gn.vec = dsinks;
        run_both(&hn, &hb, &gn, &gb);
        down(got, dout, sizeof(float) * T * NH * HD);
        check(w ? "kv_store + attention, window 8" : "kv_store + attention, causal", got, out,
              T * NH * HD, 1e-8);
    }

    /* ADD */
    struct fy_act hx2 = {FY_ACT_F32, D, T, x2}, gx2 = {FY_ACT_F32, D, T, dx2};
    hn = (struct fy_node){.op = FY_OP_ADD, .name = "add", .dst = &ho};
    hn.src[0] = &hx;
    hn.src[1] = &hx2;
    gn = hn;
    gn.src[0] = &gx;
    gn.src[1] = &gx2;
    gn.dst = &go;
    run_both(&hn, &hb, &gn, &gb);
    down(got, dout, sizeof(float) * T * D);
    check("add", got, out, T * D, 0);

    /* ROUTER */
    int32_t ids[T * K], gids[T * K];
    float wts[T * K], gwts[T * K];
    float *drl = up(rl, sizeof(rl));
    void *dids = NULL, *dwts = NULL;
    FY_EXPECT(gpu->ops->alloc(gpu, sizeof(ids), "ids", &dids) == FY_OK);
    FY_EXPECT(gpu->ops->alloc(gpu, sizeof(wts), "weights", &dwts) == FY_OK);
    struct fy_act hrl = {FY_ACT_F32, E, T, rl}, grl = {FY_ACT_F32, E, T, drl};
    struct fy_act hid = {FY_ACT_I32, K, 0, ids}, gid = {FY_ACT_I32, K, 0, dids};
    struct fy_act hw = {FY_ACT_F32, K, 0, wts}, gw = {FY_ACT_F32, K, 0, dwts};
    hn = (struct fy_node){.op = FY_OP_ROUTER, .name = "router", .dst = &hid, .dst2 = &hw,
                          .iparam = K};
    hn.src[0] = &hrl;
    gn = hn;
    gn.src[0] = &grl;
    gn.dst = &gid;
    gn.dst2 = &gw;
    run_both(&hn, &hb, &gn, &gb);
    down(gids, dids, sizeof(gids));
    down(gwts, dwts, sizeof(gwts));
    FY_EXPECT(!memcmp(gids, ids, sizeof(ids)) && gid.ne1 == T && gw.ne1 == T);
    check("router top-2 weights", gwts, wts, T * K, 1e-12);

    /* MOE_FFN, resident experts (MXFP4, biases) */
    struct fy_moe_layer L = {.alpha = 1.702f, .limit = 7.0f};
    L.gate = make_mat(&r, FY_MXFP4, FF, D, E, 0.4f, &blob[1]);
    L.up = make_mat(&r, FY_MXFP4, FF, D, E, 0.4f, &blob[2]);
    L.down = make_mat(&r, FY_MXFP4, D, FF, E, 0.15f, &blob[3]);
    float bg[E * FF], bu[E * FF], bd[E * D];
    fy_rng_fill(&r, bg, E * FF, 0.5f);
    fy_rng_fill(&r, bu, E * FF, 0.5f);
    fy_rng_fill(&r, bd, E * D, 0.2f);
    L.gate_b = (struct fy_bias){bg, FF};
    L.up_b = (struct fy_bias){bu, FF};
    L.down_b = (struct fy_bias){bd, D};
    struct fy_moe_layer GL = L;
    const size_t ebytes = L.gate.mat_bytes * E, dbytes = L.down.mat_bytes * E;
    GL.gate.data = up(L.gate.data, ebytes);
    GL.up.data = up(L.up.data, ebytes);
    GL.down.data = up(L.down.data, dbytes);
    GL.gate_b.data = up(bg, sizeof(bg));
    GL.up_b.data = up(bu, sizeof(bu));
    GL.down_b.data = up(bd, sizeof(bd));
    hid.ne1 = hw.ne1 = T;
    hn = (struct fy_node){.op = FY_OP_MOE_FFN, .name = "moe_ffn", .dst = &ho, .params = &L};
    hn.src[0] = &hx;
    hn.src[1] = &hid;
    hn.src[2] = &hw;
    gn = hn;
    gn.src[0] = &gx;
    gn.src[1] = &gid;
    gn.src[2] = &gw;
    gn.dst = &go;
    gn.params = &GL;
    run_both(&hn, &hb, &gn, &gb);
    down(got, dout, sizeof(float) * T * D);
    check("moe_ffn mxfp4, resident", got, out, T * D, 1e-8);

    /* MOE_FFN with the selected experts uploaded in chunks of 2 experts, three times over the
     * two staging slots (slot 0 is rewritten while nothing else waits for it) */
    void *st[FY_STAGE_SLOTS][3];
    for (int s = 0; s < FY_STAGE_SLOTS; s++) {
        FY_EXPECT(gpu->ops->alloc(gpu, ebytes, "stage gate", &st[s][0]) == FY_OK);
        FY_EXPECT(gpu->ops->alloc(gpu, ebytes, "stage up", &st[s][1]) == FY_OK);
        FY_EXPECT(gpu->ops->alloc(gpu, dbytes, "stage down", &st[s][2]) == FY_OK);
    }
    for (int rep = 0; rep < 3; rep++) {
        const int s = rep % FY_STAGE_SLOTS;
        struct fy_moe_layer SL = GL;
        SL.gate.data = st[s][0];
        SL.up.data = st[s][1];
        SL.down.data = st[s][2];
        bool used[E] = {0};
        for (int i = 0; i < T * K; i++)
            used[ids[i]] = true;
        struct fy_upload ups[3 * E];
        int64_t chunk_up[E + 2], chunk_e[E + 2], n_up = 0, n_chunk = 0, in_chunk = 0;
        chunk_up[0] = chunk_e[0] = 0;
        for (int e = 0; e < E; e++) {
            if (!used[e])
                continue;
            const struct fy_mat *hm[3] = {&L.gate, &L.up, &L.down};
            for (int m = 0; m < 3; m++)
                ups[n_up++] = (struct fy_upload){(uint8_t *)st[s][m] + e * hm[m]->mat_bytes,
                                                 (const uint8_t *)hm[m]->data +
                                                     e * hm[m]->mat_bytes,
                                                 hm[m]->mat_bytes};
            if (++in_chunk == 2) {
                chunk_e[++n_chunk] = e + 1;
                chunk_up[n_chunk] = n_up;
                in_chunk = 0;
            }
        }
        if (in_chunk || !n_chunk)
            n_chunk++;
        chunk_e[n_chunk] = E;
        chunk_up[n_chunk] = n_up;
        const struct fy_moe_stage stage = {s, ups, n_up, chunk_up, chunk_e, n_chunk};
        const uint64_t chunks0 = gpu->stats.n_chunks;
        gn.params = &SL;
        FY_EXPECT(cpu->ops->run(cpu, &hn, 1, &hb) == FY_OK);
        FY_EXPECT(gpu->ops->run_staged(gpu, &gn, &gb, &stage) == FY_OK);
        down(got, dout, sizeof(float) * T * D);
        char what[64];
        snprintf(what, sizeof(what), "moe_ffn staged, slot %d, %lld chunks", s,
                 (long long)n_chunk);
        check(what, got, out, T * D, 1e-8);
        FY_EXPECT(gpu->stats.n_chunks == chunks0 + (uint64_t)n_chunk && n_chunk > 1);
        /* new routing for the next round: other experts, other inputs */
        for (int i = 0; i < T * E; i++)
            rl[i] = (float)fy_rng_normal(&r) * 2.0f;
        fy_rng_fill(&r, x, T * D, 1.0f);
        FY_EXPECT(gpu->ops->copy_in(gpu, drl, rl, sizeof(rl)) == FY_OK);
        FY_EXPECT(gpu->ops->copy_in(gpu, dx, x, sizeof(x)) == FY_OK);
        hn.op = gn.op = FY_OP_ROUTER;
        hn.src[0] = &hrl;
        gn.src[0] = &grl;
        hn.dst = &hid;
        gn.dst = &gid;
        hn.dst2 = &hw;
        gn.dst2 = &gw;
        hn.iparam = gn.iparam = K;
        run_both(&hn, &hb, &gn, &gb);
        hn = (struct fy_node){.op = FY_OP_MOE_FFN, .name = "moe_ffn", .dst = &ho, .params = &L};
        hn.src[0] = &hx;
        hn.src[1] = &hid;
        hn.src[2] = &hw;
        gn = hn;
        gn.src[0] = &gx;
        gn.src[1] = &gid;
        gn.src[2] = &gw;
        gn.dst = &go;
    }
    for (int i = 0; i < 4; i++)
        free(blob[i]);
    /* the rest of the device memory is freed by fy_device_free */
}

int main(void)
{
#ifndef FY_TEST_EMU
    const int n_gpu = fy_device_gpu_count();
    if (n_gpu < 0)
        return FY_TEST_HARD; /* a driver that cannot be used: said by fy_gpu_count */
    if (n_gpu < 1) {
        printf("test_gpu_device: no GPU (%s build): skipped\n", fy_device_gpu_platform());
        return FY_TEST_SKIP;
    }
#endif
    const int modes = 2; /* emulator: lazy streams, then eager; a real GPU: twice the same */
    for (int mode = 0; mode < modes; mode++) {
#ifdef FY_TEST_EMU
        fy_emu_set_eager(mode);
        struct fy_emu_stats es0, es1;
        fy_emu_stats_get(&es0);
        printf("-- emulator, %s streams\n", mode ? "eager" : "lazy");
#endif
        struct fy_device_gpu_opts o;
        fy_device_gpu_opts_default(&o);
        if (fy_device_cpu_new(&cpu) != FY_OK || fy_device_gpu_new(1, &o, &gpu) != FY_OK)
            return FY_TEST_HARD;
        FY_EXPECT(!strcmp(gpu->name, "GPU0") && !gpu->host_visible);
        test_memory();
        test_oom();
        test_pin();
#ifdef FY_TEST_EMU
        test_pin_mapping();
#endif
        test_ops();
        FY_EXPECT(gpu->ops->sync(gpu) == FY_OK);
        fy_device_free(gpu);
        fy_device_free(cpu);
#ifdef FY_TEST_EMU
        fy_emu_stats_get(&es1);
        FY_EXPECT(es1.mem_used == es0.mem_used); /* the device freed all it allocated */
#endif
    }
    /* pin = false: the device does not pin (the scheduler then uploads from pageable memory) */
    struct fy_device_gpu_opts o;
    fy_device_gpu_opts_default(&o);
    o.pin = false;
    FY_EXPECT(fy_device_gpu_new(1, &o, &gpu) == FY_OK);
    void *h = aligned_alloc(4096, 4096);
    FY_EXPECT(gpu && gpu->ops->pin(gpu, h, 4096) == FY_E_UNSUPPORTED);
    free(h);
    fy_device_free(gpu);
    printf("%s\n", failed ? "test_gpu_device: FAILED" : "test_gpu_device: ok");
    return failed ? 1 : 0;
}
