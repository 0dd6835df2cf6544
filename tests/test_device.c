/* The device interface: the host device, and the test device that stands in for a GPU in CI
 * (separate allocations, every byte counted, nodes touching foreign memory refused). */
#include "fy_test.h"
#include "graph/device.h"
#include "quant.h"

#include <string.h>

enum { D = 64, OUT = 48, T = 5 };

/* A matmul node y = W x + b over buffers the caller places. */
static struct fy_node matmul_node(struct fy_act *x, struct fy_act *y, const struct fy_mat *w,
                                  const float *b)
{
    struct fy_node n = {.op = FY_OP_MATMUL, .layer = 0, .name = "test_matmul", .w = w, .vec = b};
    n.src[0] = x;
    n.dst = y;
    return n;
}

/* The optional hooks on the test device: a memory limit, pinning once per range, and a MoE
 * node whose selected experts are uploaded in chunks (run_staged), with the chunk plan checked. */
enum { SE = 4, SD = 32, SF = 32, ST = 3, SK = 2 };

static int test_staged(void)
{
    int failed = 0;
    struct fy_device *t = NULL, *cpu = NULL;
    void *p = NULL;
    FY_EXPECT(fy_device_test_new(1, &t) == FY_OK && fy_device_cpu_new(&cpu) == FY_OK);
    fy_device_test_set_limit(t, 1000);
    FY_EXPECT(t->ops->alloc(t, 2000, "too big", &p) == FY_E_NOMEM && !p);
    fy_device_test_set_limit(t, 0);

    /* host experts: gate, up [SE][SF][SD] and down [SE][SD][SF], f32, in one pinned range */
    const size_t mb = (size_t)SF * SD * 4, all = 3 * SE * mb;
    float *hw = aligned_alloc(4096, (all + 4095) / 4096 * 4096);
    struct fy_rng rng = {3};
    fy_rng_fill(&rng, hw, (int64_t)(all / 4), 0.2f);
    FY_EXPECT(t->ops->pin(t, hw, all) == FY_OK && t->stats.bytes_pinned == all);
    FY_EXPECT(t->ops->pin(t, (uint8_t *)hw + 64, 8) == FY_E_INVAL); /* pinned twice */
    float bias[3][SE * SF], x[ST * SD], w[ST * SK] = {0.6f, 0.4f, 0.5f, 0.5f, 0.7f, 0.3f};
    int32_t ids[ST * SK] = {0, 2, 2, 3, 0, 3}; /* expert 1 unused */
    for (int i = 0; i < 3; i++)
        fy_rng_fill(&rng, bias[i], SE * SF, 0.3f);
    fy_rng_fill(&rng, x, ST * SD, 1.0f);
    struct fy_moe_layer hl = {.alpha = 1.702f, .limit = 7.0f};
    struct fy_mat m0 = {FY_F32, SD, SF, SE, SD * 4, mb, NULL};
    hl.gate = hl.up = hl.down = m0;
    hl.gate.data = hw;
    hl.up.data = (uint8_t *)hw + SE * mb;
    hl.down.data = (uint8_t *)hw + 2 * SE * mb;
    hl.gate_b = (struct fy_bias){bias[0], SF};
    hl.up_b = (struct fy_bias){bias[1], SF};
    hl.down_b = (struct fy_bias){bias[2], SD};
    float yh[ST * SD], yd[ST * SD];
    struct fy_act ax = {FY_ACT_F32, SD, ST, x}, ai = {FY_ACT_I32, SK, ST, ids};
    struct fy_act aw = {FY_ACT_F32, SK, ST, w}, ay = {FY_ACT_F32, SD, 0, yh};
    struct fy_node n = {.op = FY_OP_MOE_FFN, .name = "moe_ffn", .dst = &ay, .params = &hl};
    n.src[0] = &ax;
    n.src[1] = &ai;
    n.src[2] = &aw;
    struct fy_batch b = {.n_tok = ST};
    FY_EXPECT(cpu->ops->run(cpu, &n, 1, &b) == FY_OK);

    /* the device side: staging, resident biases, activations */
    void *stg[3], *db[3], *dx, *di, *dw, *dy;
    struct fy_moe_layer dl = hl;
    struct fy_mat *dm[3] = {&dl.gate, &dl.up, &dl.down};
    struct fy_bias *dbias[3] = {&dl.gate_b, &dl.up_b, &dl.down_b};
    for (int i = 0; i < 3; i++) {
        FY_EXPECT(t->ops->alloc(t, SE * mb, "staging", &stg[i]) == FY_OK);
        FY_EXPECT(t->ops->alloc(t, sizeof(bias[i]), "bias", &db[i]) == FY_OK);
        FY_EXPECT(t->ops->copy_in(t, db[i], bias[i], sizeof(bias[i])) == FY_OK);
        dm[i]->data = stg[i];
        dbias[i]->data = db[i];
    }
    FY_EXPECT(t->ops->alloc(t, sizeof(x), "x", &dx) == FY_OK);
    FY_EXPECT(t->ops->alloc(t, sizeof(ids), "ids", &di) == FY_OK);
    FY_EXPECT(t->ops->alloc(t, sizeof(w), "w", &dw) == FY_OK);
    FY_EXPECT(t->ops->alloc(t, sizeof(yd), "y", &dy) == FY_OK);
    FY_EXPECT(t->ops->copy_in(t, dx, x, sizeof(x)) == FY_OK);
    FY_EXPECT(t->ops->copy_in(t, di, ids, sizeof(ids)) == FY_OK);
    FY_EXPECT(t->ops->copy_in(t, dw, w, sizeof(w)) == FY_OK);
    struct fy_act gx = {FY_ACT_F32, SD, ST, dx}, gi = {FY_ACT_I32, SK, ST, di};
    struct fy_act gw = {FY_ACT_F32, SK, ST, dw}, gy = {FY_ACT_F32, SD, 0, dy};
    struct fy_node g = n;
    g.src[0] = &gx;
    g.src[1] = &gi;
    g.src[2] = &gw;
    g.dst = &gy;
    g.params = &dl;

    /* chunk 0: experts [0, 2) = expert 0; chunk 1: [2, 4) = experts 2 and 3, one copy each */
    struct fy_upload up[6];
    for (int i = 0; i < 3; i++) {
        const uint8_t *h = (const uint8_t *)hw + (size_t)i * SE * mb;
        up[i] = (struct fy_upload){stg[i], h, mb};
        up[3 + i] = (struct fy_upload){(uint8_t *)stg[i] + 2 * mb, h + 2 * mb, 2 * mb};
    }
    int64_t cu[3] = {0, 3, 6}, ce[3] = {0, 2, SE};
    struct fy_moe_stage st = {1, up, 6, cu, ce, 2};
    const uint64_t in0 = t->stats.bytes_in;
    FY_EXPECT(t->ops->run_staged(t, &g, &b, &st) == FY_OK);
    FY_EXPECT(t->ops->copy_out(t, yd, dy, sizeof(yd)) == FY_OK);
    FY_EXPECT(!memcmp(yd, yh, sizeof(yh)) && gy.ne1 == ST);
    FY_EXPECT(t->stats.bytes_in == in0 + 9 * mb && t->stats.n_chunks == 2);
    /* refused: expert 2 arrives only with a later chunk than the one that computes it */
    int64_t ce_bad[3] = {0, 3, SE};
    st.chunk_e = ce_bad;
    FY_EXPECT(t->ops->run_staged(t, &g, &b, &st) == FY_E_INVAL);
    /* refused: expert 3 never uploaded */
    for (int i = 3; i < 6; i++)
        up[i].n = mb;
    st.chunk_e = ce;
    FY_EXPECT(t->ops->run_staged(t, &g, &b, &st) == FY_E_INVAL);
    /* refused: a source outside the pinned range */
    up[0].src = x;
    up[0].n = sizeof(x);
    FY_EXPECT(t->ops->run_staged(t, &g, &b, &st) == FY_E_INVAL);
    t->ops->unpin(t, hw);
    FY_EXPECT(t->stats.bytes_pinned == 0);
    fy_device_free(t);
    fy_device_free(cpu);
    free(hw);
    printf("%s test device: limit, pins, staged MoE uploads and their checks\n",
           failed ? "FAIL" : "ok  ");
    return failed;
}

int main(void)
{
    int failed = 0;
    struct fy_rng rng = {42};
    float x[T * D], wf[OUT * D], bias[OUT], y_ref[T * OUT], y[T * OUT];
    uint8_t wq[OUT * (D / 32) * 34];
    fy_rng_fill(&rng, x, T * D, 1.0f);
    fy_rng_fill(&rng, wf, OUT * D, 0.2f);
    fy_rng_fill(&rng, bias, OUT, 0.5f);
    for (int o = 0; o < OUT; o++)
        fy_quant_row_q8_0(wf + o * D, wq + (size_t)o * (D / 32) * 34, D);
    const size_t row = (D / 32) * 34;
    struct fy_mat w_host = {FY_Q8_0, D, OUT, 1, row, row * OUT, wq};
    struct fy_batch b = {.n_tok = T};

    /* host device: runs on host memory, counts nodes */
    struct fy_device *cpu = NULL;
    FY_EXPECT(fy_device_cpu_new(&cpu) == FY_OK && cpu->host_visible);
    struct fy_act ax = {FY_ACT_F32, D, T, x}, ay = {FY_ACT_F32, OUT, 0, y_ref};
    struct fy_node n = matmul_node(&ax, &ay, &w_host, bias);
    FY_EXPECT(cpu->ops->run(cpu, &n, 1, &b) == FY_OK);
    FY_EXPECT(cpu->stats.n_nodes == 1 && ay.ne1 == T);

    /* test device: the same node on host pointers is refused, naming what is foreign */
    struct fy_device *dev = NULL;
    FY_EXPECT(fy_device_test_new(1, &dev) == FY_OK && !dev->host_visible);
    FY_EXPECT(strcmp(dev->name, "TEST0") == 0);
    FY_EXPECT(dev->ops->run(dev, &n, 1, &b) == FY_E_INVAL);
    FY_EXPECT(dev->stats.n_nodes == 0);

    /* inputs on the device but the weight on the host: refused too */
    void *dx = NULL, *dy = NULL, *dw = NULL, *db = NULL;
    FY_EXPECT(dev->ops->alloc(dev, sizeof(x), "test", &dx) == FY_OK);
    FY_EXPECT(dev->ops->alloc(dev, sizeof(y), "test", &dy) == FY_OK);
    FY_EXPECT(dev->stats.bytes_live == sizeof(x) + sizeof(y));
    FY_EXPECT(dev->ops->copy_in(dev, dx, x, sizeof(x)) == FY_OK);
    struct fy_act dax = {FY_ACT_F32, D, T, dx}, day = {FY_ACT_F32, OUT, 0, dy};
    struct fy_node nd = matmul_node(&dax, &day, &w_host, bias);
    FY_EXPECT(dev->ops->run(dev, &nd, 1, &b) == FY_E_INVAL);

    /* after uploading weight and bias it runs, and gives the host's result to the bit */
    FY_EXPECT(dev->ops->alloc(dev, sizeof(wq), "test", &dw) == FY_OK);
    FY_EXPECT(dev->ops->alloc(dev, sizeof(bias), "test", &db) == FY_OK);
    FY_EXPECT(dev->ops->copy_in(dev, dw, wq, sizeof(wq)) == FY_OK);
    FY_EXPECT(dev->ops->copy_in(dev, db, bias, sizeof(bias)) == FY_OK);
    struct fy_mat w_dev = w_host;
    w_dev.data = dw;
    nd = matmul_node(&dax, &day, &w_dev, db);
    FY_EXPECT(dev->ops->run(dev, &nd, 1, &b) == FY_OK);
    FY_EXPECT(dev->ops->sync(dev) == FY_OK);
    FY_EXPECT(dev->ops->copy_out(dev, y, dy, sizeof(y)) == FY_OK);
    FY_EXPECT(memcmp(y, y_ref, sizeof(y)) == 0);
    FY_EXPECT(dev->stats.n_nodes == 1);
    FY_EXPECT(dev->stats.bytes_in == sizeof(x) + sizeof(wq) + sizeof(bias));
    FY_EXPECT(dev->stats.n_copy_in == 3);
    FY_EXPECT(dev->stats.bytes_out == sizeof(y) && dev->stats.n_copy_out == 1);

    /* copies must stay inside device allocations */
    FY_EXPECT(dev->ops->copy_in(dev, y, x, 16) == FY_E_INVAL);
    FY_EXPECT(dev->ops->copy_in(dev, (uint8_t *)dx + sizeof(x) - 8, x, 16) == FY_E_INVAL);
    FY_EXPECT(dev->ops->copy_out(dev, y, x, 16) == FY_E_INVAL);
    FY_EXPECT(dev->stats.bytes_in == sizeof(x) + sizeof(wq) + sizeof(bias));
    FY_EXPECT(fy_device_test_owns(dev, dw, sizeof(wq)));
    FY_EXPECT(!fy_device_test_owns(dev, dw, sizeof(wq) + 1));
    FY_EXPECT(!fy_device_test_owns(cpu, y, 4));

    /* freeing: live bytes drop, the peak stays, freed memory is foreign again */
    const uint64_t peak = dev->stats.bytes_peak;
    dev->ops->free(dev, dw);
    FY_EXPECT(dev->stats.bytes_live == peak - sizeof(wq) && dev->stats.bytes_peak == peak);
    FY_EXPECT(dev->ops->run(dev, &nd, 1, &b) == FY_E_INVAL);
    dev->ops->free(dev, NULL);

    fy_device_free(dev); /* frees dx, dy, db still allocated */
    fy_device_free(cpu);
    fy_device_free(NULL);
    failed += test_staged();
    printf("%s\n", failed ? "test_device: FAILED" : "test_device: ok");
    return failed ? 1 : 0;
}
