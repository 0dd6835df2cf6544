/* Graph executor: nodes run in order on the backend each names; unsupported or missing backends
 * are refused before anything runs on them. */
#include "fy_test.h"
#include "graph/graph.h"

#include <string.h>

static int calls[2][FY_OP_COUNT];
static int order[16], n_order;

static fy_status rec0(const struct fy_node *n, const struct fy_batch *b)
{
    (void)b;
    calls[0][n->op]++;
    order[n_order++] = n->layer;
    return FY_OK;
}

static fy_status rec1(const struct fy_node *n, const struct fy_batch *b)
{
    (void)b;
    calls[1][n->op]++;
    order[n_order++] = n->layer;
    return FY_OK;
}

static fy_status fails(const struct fy_node *n, const struct fy_batch *b)
{
    (void)n;
    (void)b;
    return FY_E_IO;
}

static int all(const struct fy_node *n) { (void)n; return 1; }
static int no_moe(const struct fy_node *n) { return n->op != FY_OP_MOE_FFN; }

int main(void)
{
    int failed = 0;
    struct fy_backend a = {.name = "a", .supports = all};
    struct fy_backend b = {.name = "b", .supports = no_moe};
    for (int op = 0; op < FY_OP_COUNT; op++) {
        a.run[op] = rec0;
        b.run[op] = rec1;
    }
    const struct fy_backend *const bes[] = {&a, &b};
    struct fy_graph g = {0};
    struct fy_batch batch = {.n_tok = 1};

    /* nodes alternate between backends; order is preserved */
    for (int i = 0; i < 6; i++) {
        struct fy_node n = {.op = (i % 2) ? FY_OP_MATMUL : FY_OP_ADD, .backend = i % 2,
                            .layer = i, .name = "n"};
        FY_EXPECT(fy_graph_push(&g, &n) == FY_OK);
    }
    FY_EXPECT(g.n_nodes == 6);
    FY_EXPECT(fy_graph_exec(&g, bes, 2, &batch) == FY_OK);
    FY_EXPECT(calls[0][FY_OP_ADD] == 3 && calls[1][FY_OP_MATMUL] == 3);
    FY_EXPECT(calls[0][FY_OP_MATMUL] == 0 && calls[1][FY_OP_ADD] == 0);
    for (int i = 0; i < 6; i++)
        FY_EXPECT(order[i] == i);

    /* a node placed on a backend that does not support it: refused, earlier nodes ran */
    memset(calls, 0, sizeof(calls));
    n_order = 0;
    struct fy_node moe = {.op = FY_OP_MOE_FFN, .backend = 1, .layer = 9, .name = "moe_ffn"};
    FY_EXPECT(fy_graph_push(&g, &moe) == FY_OK);
    FY_EXPECT(fy_graph_exec(&g, bes, 2, &batch) == FY_E_UNSUPPORTED);
    FY_EXPECT(n_order == 6);

    /* moving that node to the other backend (what placement does) makes it run */
    g.nodes[g.n_nodes - 1].backend = 0;
    n_order = 0;
    FY_EXPECT(fy_graph_exec(&g, bes, 2, &batch) == FY_OK);
    FY_EXPECT(n_order == 7 && order[6] == 9);

    /* out-of-range backend index and a missing run entry are errors, not crashes */
    g.nodes[0].backend = 2;
    FY_EXPECT(fy_graph_exec(&g, bes, 2, &batch) == FY_E_INVAL);
    g.nodes[0].backend = 0;
    a.run[FY_OP_ADD] = NULL;
    FY_EXPECT(fy_graph_exec(&g, bes, 2, &batch) == FY_E_UNSUPPORTED);
    a.run[FY_OP_ADD] = fails;
    FY_EXPECT(fy_graph_exec(&g, bes, 2, &batch) == FY_E_IO);

    /* the CPU backend implements every op */
    for (int op = 0; op < FY_OP_COUNT; op++)
        FY_EXPECT(fy_backend_cpu.run[op] != NULL);
    FY_EXPECT(strcmp(fy_op_name(FY_OP_ATTENTION), "attention") == 0);

    fy_graph_reset(&g);
    FY_EXPECT(g.n_nodes == 0);
    fy_graph_free(&g);
    printf("%s\n", failed ? "test_graph: FAILED" : "test_graph: ok");
    return failed ? 1 : 0;
}
