/* Graph container and executor. */
#include "graph.h"

#include <stdlib.h>

const char *fy_op_name(enum fy_op op)
{
    static const char *const names[FY_OP_COUNT] = {
        [FY_OP_GET_ROWS] = "get_rows", [FY_OP_RMSNORM] = "rmsnorm",
        [FY_OP_MATMUL] = "matmul",     [FY_OP_ROPE] = "rope",
        [FY_OP_KV_STORE] = "kv_store", [FY_OP_ATTENTION] = "attention",
        [FY_OP_ADD] = "add",           [FY_OP_ROUTER] = "router",
        [FY_OP_MOE_FFN] = "moe_ffn",   [FY_OP_ARGMAX] = "argmax",
    };
    return (op >= 0 && op < FY_OP_COUNT) ? names[op] : "?";
}

fy_status fy_graph_push(struct fy_graph *g, const struct fy_node *n)
{
    if (g->n_nodes == g->cap) {
        int64_t cap = g->cap ? 2 * g->cap : 256;
        struct fy_node *p = realloc(g->nodes, (size_t)cap * sizeof(*p));
        if (!p)
            return FY_E_NOMEM;
        g->nodes = p;
        g->cap = cap;
    }
    g->nodes[g->n_nodes++] = *n;
    return FY_OK;
}

void fy_graph_reset(struct fy_graph *g) { g->n_nodes = 0; }

void fy_graph_free(struct fy_graph *g)
{
    if (!g)
        return;
    free(g->nodes);
    g->nodes = NULL;
    g->n_nodes = g->cap = 0;
}

fy_status fy_graph_exec(const struct fy_graph *g, const struct fy_backend *const *backends,
                        int n_backends, const struct fy_batch *b)
{
    for (int64_t i = 0; i < g->n_nodes; i++) {
        const struct fy_node *n = &g->nodes[i];
        if (n->backend < 0 || n->backend >= n_backends) {
            fy_log(FY_LOG_ERR, "graph node %lld (%s, layer %d): no backend %d", (long long)i,
                   fy_op_name(n->op), n->layer, n->backend);
            return FY_E_INVAL;
        }
        const struct fy_backend *be = backends[n->backend];
        if (!be->run[n->op] || !be->supports(n)) {
            fy_log(FY_LOG_ERR, "graph node %lld (%s %s, layer %d): backend %s does not support it",
                   (long long)i, fy_op_name(n->op), n->name, n->layer, be->name);
            return FY_E_UNSUPPORTED;
        }
        FY_TRY(be->run[n->op](n, b));
    }
    return FY_OK;
}
