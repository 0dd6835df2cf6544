/* The NUMA layout of a placement (numa_layout.h). */
#include "numa_layout.h"

#include <string.h>

fy_status fy_numa_layout_make(const struct fy_placement *p, const struct fy_numa *nu,
                              struct fy_numa_layout *out)
{
    FY_CHECK_ARG(p && nu && out);
    memset(out, 0, sizeof(*out));
    const int G = fy_numa_groups(nu);
    const int64_t E = p->dims.n_expert;
    out->mode = nu->mode;
    out->n_nodes = G;
    out->n_expert = E;
    for (int g = 0; g < G; g++) {
        const bool split = nu->mode == FY_NUMA_EXPERTS;
        out->first[g] = split ? fy_numa_split(E, G, g) : 0;
        out->experts[g] = split ? fy_numa_split(E, G, g + 1) - out->first[g] : E;
    }
    for (int64_t l = 0; l < p->dims.n_layer; l++) {
        bool cpu = false;
        for (int j = 0; j < FY_EXP_PROJ_COUNT; j++) {
            const int64_t ti = p->layers[l].weight[j];
            cpu |= ti >= 0 && p->t[ti].dev == FY_DEV_CPU;
        }
        out->cpu_layers += cpu;
    }
    for (int64_t i = 0; i < p->n_tensors; i++) {
        const struct fy_place_tensor *t = &p->t[i];
        if (t->dev != FY_DEV_CPU)
            continue;
        if (t->kind != FY_PK_EXP_WEIGHT) {
            out->other_bytes += t->t->size;
            continue;
        }
        const uint64_t nb2 = t->t->nb[2];
        for (int g = 0; g < G; g++) {
            if (nu->mode == FY_NUMA_EXPERTS || nu->mode == FY_NUMA_MIRROR)
                out->expert_bytes[g] += (uint64_t)out->experts[g] * nb2;
            else /* one node, or interleaved over all: an even share */
                out->expert_bytes[g] += t->t->size / (uint64_t)G;
        }
    }
    return FY_OK;
}

static const char *human(uint64_t b, char *buf, size_t cap)
{
    if (b >= (1ull << 30))
        snprintf(buf, cap, "%.2f GiB", (double)b / (double)(1ull << 30));
    else if (b >= (1ull << 20))
        snprintf(buf, cap, "%.1f MiB", (double)b / (double)(1ull << 20));
    else
        snprintf(buf, cap, "%.1f KiB", (double)b / 1024.0);
    return buf;
}

/* "0-7,16-23" of an ascending CPU list */
static void cpu_ranges(const int *c, int n, char *buf, size_t cap)
{
    size_t k = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && k + 24 < cap; i++) {
        int j = i;
        while (j + 1 < n && c[j + 1] == c[j] + 1)
            j++;
        k += (size_t)snprintf(buf + k, cap - k, j > i ? "%s%d-%d" : "%s%d", k ? "," : "", c[i],
                              c[j]);
        i = j;
    }
    if (n == 0)
        snprintf(buf, cap, "none");
}

void fy_numa_layout_print(FILE *f, const struct fy_numa *nu, const struct fy_numa_layout *l)
{
    char b1[32], b2[32], cpus[160];
    fprintf(f, "NUMA: %s over %d of %d node%s%s; the expert weights of %lld layer%s on the CPU\n",
            fy_numa_mode_name(l->mode), l->n_nodes, nu->n_nodes, nu->n_nodes == 1 ? "" : "s",
            nu->fake ? " (pretend nodes, FY_NUMA_FAKE: nothing bound)" : "",
            (long long)l->cpu_layers, l->cpu_layers == 1 ? "" : "s");
    for (int g = 0; g < l->n_nodes; g++) {
        const int ni = l->n_nodes == 1 && l->mode == FY_NUMA_ISOLATE ? nu->home : g;
        const struct fy_numa_node *nd = &nu->node[ni];
        cpu_ranges(nd->cpus, nd->n_cpus, cpus, sizeof(cpus));
        if (nu->fake)
            fprintf(f, "  node %d (pretend, of node %d)", ni, nd->os_id);
        else
            fprintf(f, "  node %d", nd->os_id);
        fprintf(f, ": CPUs %s, %s free", cpus, human(nd->mem_free, b1, 32));
        if (l->mode == FY_NUMA_EXPERTS && l->experts[g] > 0)
            fprintf(f, "; experts %lld-%lld of each layer", (long long)l->first[g],
                    (long long)(l->first[g] + l->experts[g] - 1));
        else if (l->mode == FY_NUMA_EXPERTS)
            fprintf(f, "; no experts");
        else if (l->mode == FY_NUMA_MIRROR)
            fprintf(f, "; a copy of every expert");
        fprintf(f, ", %s\n", human(l->expert_bytes[g], b2, 32));
    }
    fprintf(f, "  other CPU weights: %s%s\n", human(l->other_bytes, b1, 32),
            l->mode == FY_NUMA_OFF || nu->n_nodes < 2 ? ""
            : l->mode == FY_NUMA_ISOLATE              ? " (on the node with --no-mmap)"
                                                      : " (interleaved with --no-mmap)");
}

static void json_ints(FILE *f, const char *pre, const char *key, const int64_t *v, int n)
{
    fprintf(f, ", \"%s%s\": [", pre, key);
    for (int i = 0; i < n; i++)
        fprintf(f, "%s%lld", i ? ", " : "", (long long)v[i]);
    fputc(']', f);
}

void fy_numa_layout_json(FILE *f, const struct fy_numa *nu, const struct fy_numa_layout *l,
                         bool flat)
{
    int64_t ids[FY_NUMA_MAX_NODES], cpus[FY_NUMA_MAX_NODES], mem[FY_NUMA_MAX_NODES];
    int64_t bytes[FY_NUMA_MAX_NODES];
    for (int g = 0; g < l->n_nodes; g++) {
        const int ni = l->n_nodes == 1 && l->mode == FY_NUMA_ISOLATE ? nu->home : g;
        ids[g] = nu->node[ni].os_id;
        cpus[g] = nu->node[ni].n_cpus;
        mem[g] = (int64_t)nu->node[ni].mem_free;
        bytes[g] = (int64_t)l->expert_bytes[g];
    }
    const char *pre = flat ? "numa_" : "";
    if (flat)
        fprintf(f, "\"numa_mode\": \"%s\"", fy_numa_mode_name(l->mode));
    else
        fprintf(f, "{\"mode\": \"%s\", \"nodes\": %d", fy_numa_mode_name(l->mode), l->n_nodes);
    fprintf(f, ", \"%sfake\": %s", pre, nu->fake ? "true" : "false");
    json_ints(f, pre, "node_ids", ids, l->n_nodes);
    json_ints(f, pre, "cpus", cpus, l->n_nodes);
    json_ints(f, pre, "mem_free_bytes", mem, l->n_nodes);
    json_ints(f, pre, "first_expert", l->first, l->n_nodes);
    json_ints(f, pre, "experts_per_node", l->experts, l->n_nodes);
    json_ints(f, pre, "expert_bytes_per_node", bytes, l->n_nodes);
    fprintf(f, ", \"%sother_bytes\": %llu%s", pre, (unsigned long long)l->other_bytes,
            flat ? "" : "}");
}
