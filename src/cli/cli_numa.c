/* --numa on the command line (cpu/numa.h): the mode's flag value, the NUMA state a process
 * makes once (FY_NUMA_FAKE applies), the layout of a session's placement (logged once, in the
 * bench JSON) and the weights put on their nodes (graph/numa_place.c). */
#include "cli_common.h"

#include "fy_config.h"
#include "graph/numa_place.h"

#include <string.h>
#if FY_HAVE_OPENMP
#include <omp.h>
#endif

fy_status fy_cli_numa_mode(const char *flag, const char *v, enum fy_numa_mode *mode)
{
    if (fy_numa_mode_parse(v, mode) == FY_OK)
        return FY_OK;
    fy_log(FY_LOG_ERR,
           "flag %s: \"%s\" is not one of off, distribute, isolate, mirror, experts "
           "(or numactl)",
           flag, v);
    return FY_E_INVAL;
}

fy_status fy_cli_numa_open(struct fy_cli *o)
{
    int fake = 0;
    if (o->numa)
        return FY_OK;
    FY_TRY(fy_numa_fake_env(&fake));
    const struct fy_numa_opts no = {.mode = o->numa_mode, .fake = fake};
    FY_TRY(fy_numa_new(&no, &o->numa));
#if FY_HAVE_OPENMP
    if (o->numa->mode == FY_NUMA_ISOLATE && o->n_threads <= 0 && o->numa->n_nodes > 1)
        omp_set_num_threads(
            o->numa->node[o->numa->home].n_cpus > 0 ? o->numa->node[o->numa->home].n_cpus : 1);
#endif
    return FY_OK;
}

/* pl, or when NULL an all-CPU placement of m made into *p0 and *r0 (freed by the caller) */
static fy_status placement_or_cpu(const struct fy_placement *pl, const struct fy_model *m,
                                  struct fy_place_rules **r0, struct fy_placement **p0,
                                  const struct fy_placement **out)
{
    struct fy_place_dims dims;
    *out = pl;
    if (pl)
        return FY_OK;
    FY_TRY(fy_place_dims_from_gguf(m->gguf, &dims));
    FY_TRY(fy_place_rules_new(r0));
    FY_TRY(fy_placement_new(*r0, m->gguf, &dims, p0));
    *out = *p0;
    return FY_OK;
}

fy_status fy_cli_numa_setup(struct fy_cli *o, const struct fy_model *m, bool place)
{
    struct fy_place_rules *r0 = NULL;
    struct fy_placement *p0 = NULL;
    const struct fy_placement *pl = NULL;
    fy_status st = placement_or_cpu(place ? o->placement : NULL, m, &r0, &p0, &pl);
    if (st == FY_OK)
        st = fy_numa_layout_make(pl, o->numa, &o->numa_layout);
    if (st == FY_OK)
        o->numa_layout_made = true;
    const struct fy_numa_layout *l = &o->numa_layout;
    if (st == FY_OK && l->mode != FY_NUMA_OFF && !o->numa_said) {
        o->numa_said = true;
        char per[256];
        size_t k = 0;
        per[0] = '\0';
        for (int g = 0; g < l->n_nodes && k + 40 < sizeof(per); g++)
            k +=
                (size_t)snprintf(per + k, sizeof(per) - k, "%s%lld experts %.1f MiB", g ? ", " : "",
                                 (long long)l->experts[g], l->expert_bytes[g] / 1048576.0);
        fy_log(FY_LOG_INFO, "numa: %s over %d of %d node%s%s: per node %s",
               fy_numa_mode_name(l->mode), l->n_nodes, o->numa->n_nodes,
               o->numa->n_nodes == 1 ? "" : "s", o->numa->fake ? " (pretend: FY_NUMA_FAKE)" : "",
               per);
    }
    if (st == FY_OK)
        st = fy_numa_place(o->numa, pl, o->no_mmap);
    fy_placement_free(p0);
    fy_place_rules_free(r0);
    return st;
}

fy_status fy_cli_numa_json(FILE *f, const struct fy_cli *o, const struct fy_model *m, bool flat)
{
    if (!o->numa) {
        fputs(flat ? "\"numa_mode\": null" : "null", f);
        return FY_OK;
    }
    struct fy_numa_layout l = o->numa_layout;
    if (!o->numa_layout_made) { /* no session yet: the placement made so far, or all CPU */
        struct fy_place_rules *r0 = NULL;
        struct fy_placement *p0 = NULL;
        const struct fy_placement *pl = NULL;
        fy_status st = placement_or_cpu(o->placement, m, &r0, &p0, &pl);
        if (st == FY_OK)
            st = fy_numa_layout_make(pl, o->numa, &l);
        fy_placement_free(p0);
        fy_place_rules_free(r0);
        FY_TRY(st);
    }
    fy_numa_layout_json(f, o->numa, &l, flat);
    return FY_OK;
}
