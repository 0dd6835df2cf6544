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
    FY_EXPECT(dev->ops->alloc(dev, sizeof(x), &dx) == FY_OK);
    FY_EXPECT(dev->ops->alloc(dev, sizeof(y), &dy) == FY_OK);
    FY_EXPECT(dev->stats.bytes_live == sizeof(x) + sizeof(y));
    FY_EXPECT(dev->ops->copy_in(dev, dx, x, sizeof(x)) == FY_OK);
    struct fy_act dax = {FY_ACT_F32, D, T, dx}, day = {FY_ACT_F32, OUT, 0, dy};
    struct fy_node nd = matmul_node(&dax, &day, &w_host, bias);
    FY_EXPECT(dev->ops->run(dev, &nd, 1, &b) == FY_E_INVAL);

    /* after uploading weight and bias it runs, and gives the host's result to the bit */
    FY_EXPECT(dev->ops->alloc(dev, sizeof(wq), &dw) == FY_OK);
    FY_EXPECT(dev->ops->alloc(dev, sizeof(bias), &db) == FY_OK);
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
    printf("%s\n", failed ? "test_device: FAILED" : "test_device: ok");
    return failed ? 1 : 0;
}
