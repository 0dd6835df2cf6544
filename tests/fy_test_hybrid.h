/* Shared helpers for the hybrid (CPU + GPU0) session tests: tests/test_hybrid.c (the test
 * device) and tests/test_gpu_e2e.c (the GPU device, or the emulator). Both evaluate a tiny
 * synthetic gpt-oss model through a session under placements built from command-line words, at
 * micro-batches on both sides of the offload threshold, and check the logits against the all-CPU
 * run and the scheduler's byte counts against the device's.
 *
 *     struct fy_hyb_model hm;                // head_dim, experts, used, vocab, seed:
 *     if (fy_hyb_model_new(&hm, "/tmp/fy-x-XXXXXX", 16, 16, 2, 600, 21) != FY_OK)
 *         return FY_TEST_HARD;
 *     fy_hyb_tokens(toks, N, 600, 9);
 *     struct fy_hyb_run run = {hm.m, toks, N, FY_F32, NULL, NULL};
 *     fy_hyb_eval(&run, NULL, NULL, N, ref, NULL);          // all CPU: the reference
 *     fy_hyb_place(hm.m, words, n_words, THRESHOLD, &pl);
 *     fy_hyb_eval(&run, pl, dev, ub, got, &st);              // then fy_hyb_bytes_add_up(...)
 *     ...
 *     fy_hyb_model_free(&hm);
 */
#ifndef FY_TEST_HYBRID_H
#define FY_TEST_HYBRID_H

#include <math.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "cpu/numa.h"
#include "fy_test.h"
#include "graph/device.h"
#include "graph/sched.h"
#include "graph/session.h"
#include "model/model.h"
#include "placement/placement.h"
#include "model/synth.h"

/* A placement recipe: its name in the report and its command-line words. */
struct fy_hyb_recipe {
    const char *name;
    const char *words[8];
    int n;
};

/* The synthetic model a test evaluates (its config c), written to a temporary folder and
 * loaded from there. */
struct fy_hyb_model {
    char dir[64];
    char path[96];
    struct fy_synth_config c;
    struct fy_model *m;
};

/* Called after the evaluation (whatever it returned) and before the session is freed, for a
 * test that looks at the open session or at the device while the session holds it. */
typedef void (*fy_hyb_inspect_fn)(const struct fy_session *s, const struct fy_device *gpu,
                                  void *ud);

/* How fy_hyb_eval runs: the model, the n tokens (n is also the context: one pass over all of
 * them), the KV cache type, and an optional inspection hook with its user data. FY_NUMA_FAKE=N
 * in the environment gives fy_hyb_eval's sessions N pretend NUMA nodes in the default mode
 * (cpu/numa.h), so any hybrid test can run with the CPU's MoE steps split by node. */
struct fy_hyb_run {
    const struct fy_model *m;
    const int32_t *toks;
    int64_t n;
    enum fy_dtype kv_type;
    fy_hyb_inspect_fn inspect; /* NULL: none */
    void *inspect_ud;
};

/* The tiny model of the hybrid tests ("tiny" preset, shrunk): 4 layers, d_model 64, 4 query
 * heads over 2 KV heads of head_dim, n_expert experts of 64 with n_used per token, the toy
 * vocabulary padded to n_vocab, a sliding window of 8, no progress output. */
static inline void fy_hyb_synth_config(struct fy_synth_config *c, int64_t head_dim,
                                       int64_t n_expert, int64_t n_used, int64_t n_vocab,
                                       uint64_t seed)
{
    fy_synth_preset("tiny", c);
    c->n_layer = 4;
    c->d_model = 64;
    c->n_head = 4;
    c->n_head_kv = 2;
    c->head_dim = head_dim;
    c->n_expert = n_expert;
    c->n_expert_used = n_used;
    c->n_ff_exp = 64;
    c->n_vocab = n_vocab;
    c->toy_vocab = 1;
    c->sliding_window = 8;
    c->seed = seed;
    c->progress = 0;
}

/* Removes the model's file and folder and frees the model; safe on a half-made one. */
static inline void fy_hyb_model_free(struct fy_hyb_model *hm)
{
    fy_model_free(hm->m);
    hm->m = NULL;
    if (hm->path[0])
        unlink(hm->path);
    if (hm->dir[0])
        rmdir(hm->dir);
    hm->path[0] = hm->dir[0] = 0;
}

/* Writes the model of fy_hyb_synth_config (the other arguments, kept in hm->c) into a new folder
 * made from tmpl (a mkdtemp template, "...XXXXXX") and loads it into hm->m. FY_E_IO when the
 * folder cannot be made, else what writing or loading returned; on failure nothing is left
 * behind. */
static inline fy_status fy_hyb_model_new(struct fy_hyb_model *hm, const char *tmpl,
                                         int64_t head_dim, int64_t n_expert, int64_t n_used,
                                         int64_t n_vocab, uint64_t seed)
{
    memset(hm, 0, sizeof(*hm));
    fy_hyb_synth_config(&hm->c, head_dim, n_expert, n_used, n_vocab, seed);
    if (strlen(tmpl) >= sizeof(hm->dir))
        return FY_E_INVAL;
    strcpy(hm->dir, tmpl);
    if (!mkdtemp(hm->dir)) {
        hm->dir[0] = 0;
        return FY_E_IO;
    }
    snprintf(hm->path, sizeof(hm->path), "%s/m.gguf", hm->dir);
    fy_status st = fy_synth_write(&hm->c, NULL, hm->path);
    if (st == FY_OK)
        st = fy_model_load(hm->path, &hm->m);
    if (st != FY_OK)
        fy_hyb_model_free(hm);
    return st;
}

/* Relative L2 error of the row got against ref (n values; absolute when ref is all zero), and
 * in *same whether their arg-maxes (first maximum) agree. */
static inline double fy_hyb_row_err(const float *got, const float *ref, int64_t n, bool *same)
{
    double num = 0, den = 0;
    int64_t ag = 0, ar = 0;
    for (int64_t v = 0; v < n; v++) {
        num += ((double)got[v] - ref[v]) * ((double)got[v] - ref[v]);
        den += (double)ref[v] * ref[v];
        ag = got[v] > got[ag] ? v : ag;
        ar = ref[v] > ref[ar] ? v : ar;
    }
    *same = ag == ar;
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* n token ids, uniform in [0, n_vocab), from a seeded RNG. */
static inline void fy_hyb_tokens(int32_t *toks, int64_t n, int64_t n_vocab, uint64_t seed)
{
    struct fy_rng rng = {seed};
    for (int64_t i = 0; i < n; i++)
        toks[i] = (int32_t)(fy_rng_u64(&rng) % (uint64_t)n_vocab);
}

/* fy_logits_fn keeping every row: ud is a float array of n_tokens x n_vocab. */
static inline fy_status fy_hyb_keep(void *ud, int64_t row0, int64_t n_rows, const float *logits,
                                    int64_t n_vocab)
{
    float *out = ud;
    memcpy(out + row0 * n_vocab, logits, (size_t)(n_rows * n_vocab) * sizeof(float));
    return FY_OK;
}

/* Evaluates r's tokens in one session (micro-batches of ub, placement pl, gpu as GPU0; both
 * NULL: all on the CPU) keeping every row's logits in out (n x n_vocab). The scheduler's stats
 * go to *st unless st is NULL (left as they are when the session has no scheduler). Returns
 * what creating the session returned if that failed, else what the evaluation returned. */
static inline fy_status fy_hyb_eval(const struct fy_hyb_run *r, const struct fy_placement *pl,
                                    struct fy_device *gpu, int64_t ub, float *out,
                                    struct fy_sched_stats *st)
{
    struct fy_session_opts o;
    struct fy_session *s = NULL;
    fy_session_opts_default(&o);
    o.n_ctx = r->n;
    o.n_ubatch = ub;
    o.kv_type = r->kv_type;
    o.placement = pl;
    o.gpu = gpu;
    struct fy_numa *env_numa = NULL;
    int fake = 0;
    if (fy_numa_fake_env(&fake) == FY_OK && fake > 0) {
        const struct fy_numa_opts no = {.mode = FY_NUMA_MODE_COUNT, .fake = fake};
        FY_TRY(fy_numa_new(&no, &env_numa));
    }
    o.numa = env_numa;
    fy_status rc = fy_session_new(r->m, &o, &s);
    if (rc != FY_OK) {
        fy_numa_free(env_numa);
        return rc;
    }
    rc = fy_session_eval(s, r->toks, r->n, true, fy_hyb_keep, out);
    if (st && fy_session_sched_stats(s))
        *st = *fy_session_sched_stats(s);
    if (r->inspect)
        r->inspect(s, gpu, r->inspect_ud);
    fy_session_free(s);
    fy_numa_free(env_numa);
    return rc;
}

/* A sliding-window run (the KV rings, src/graph/kvcache.h): n tokens in a session of n_ctx
 * positions with micro-batches of ub and an F16 cache, the first n_first in one evaluation and
 * the others one evaluation each (the decode path); swa_full: full caches instead of rings. Every
 * row's logits go to out (n x n_vocab), the session's KV bytes to *kv_bytes. */
static inline fy_status fy_hyb_eval_swa(const struct fy_model *m, const int32_t *toks, int64_t n,
                                        int64_t n_ctx, int64_t ub, int64_t n_first,
                                        bool swa_full, const struct fy_placement *pl,
                                        struct fy_device *gpu, float *out, size_t *kv_bytes)
{
    struct fy_session_opts o;
    struct fy_session *s = NULL;
    fy_session_opts_default(&o);
    o.n_ctx = n_ctx;
    o.n_ubatch = ub;
    o.kv_type = FY_F16;
    o.swa_full = swa_full;
    o.placement = pl;
    o.gpu = gpu;
    FY_TRY(fy_session_new(m, &o, &s));
    *kv_bytes = fy_session_kv_bytes(s);
    fy_status rc = fy_session_eval(s, toks, n_first, true, fy_hyb_keep, out);
    for (int64_t i = n_first; rc == FY_OK && i < n; i++)
        rc = fy_session_eval(s, toks + i, 1, true, fy_hyb_keep, out + i * m->hp.n_vocab);
    fy_session_free(s);
    return rc;
}

/* The KV bytes a session of n_ctx positions, micro-batches of ub and an F16 cache should hold:
 * every layer's slots (fy_place_kv_slots) times K and V rows. */
static inline size_t fy_hyb_kv_bytes_expected(const struct fy_model *m, int64_t n_ctx, int64_t ub,
                                              bool swa_full)
{
    size_t n = 0;
    for (int64_t l = 0; l < m->hp.n_layer; l++)
        n += 2 * (size_t)fy_place_kv_slots(m->layers[l].window, n_ctx, ub, swa_full) *
             (size_t)(m->hp.n_head_kv * m->hp.head_dim) * 2;
    return n;
}

/* Builds the placement of a recipe (at most 16 command-line words, as after "ferry run") for m,
 * with the given expert offload threshold. FY_E_INVAL for a word the placement flags refuse. */
static inline fy_status fy_hyb_place(const struct fy_model *m, const char *const *words,
                                     int n_words, int64_t threshold, struct fy_placement **out)
{
    struct fy_place_rules *r = NULL;
    struct fy_place_dims dims;
    char *argv[16];
    if (n_words < 0 || n_words > (int)FY_ARRAY_LEN(argv))
        return FY_E_INVAL;
    fy_status st = fy_place_rules_new(&r);
    for (int i = 0; i < n_words; i++)
        argv[i] = (char *)words[i];
    for (int i = 0; st == FY_OK && i < n_words; i++)
        if (fy_place_parse_flag(r, n_words, argv, &i) != 1)
            st = FY_E_INVAL;
    if (st == FY_OK)
        st = fy_place_rules_set_offload_threshold(r, threshold);
    if (st == FY_OK)
        st = fy_place_dims_from_gguf(m->gguf, &dims);
    if (st == FY_OK)
        st = fy_placement_new(r, m->gguf, &dims, out);
    fy_place_rules_free(r);
    return st;
}

/* The layers of pl (of n_layer) with no weight on GPU0: their count, and in *expert_bytes the
 * bytes of one of their experts (0 when there is none). */
static inline int64_t fy_hyb_cpu_layers(const struct fy_placement *pl, int64_t n_layer,
                                        size_t *expert_bytes)
{
    int64_t n = 0;
    *expert_bytes = 0;
    for (int64_t l = 0; l < n_layer; l++) {
        if (pl->layers[l].n_weights_gpu == 0) {
            *expert_bytes = pl->layers[l].cpu_expert_bytes;
            n++;
        }
    }
    return n;
}

/* The uploads add up: the device received the weights, experts, biases and activations the
 * scheduler counted; the expert bytes are the uploaded experts times one expert's bytes; the
 * upload chunks are the device's. */
static inline bool fy_hyb_uploads_add_up(const struct fy_device *dev,
                                         const struct fy_sched_stats *st, size_t expert_bytes)
{
    return dev->stats.bytes_in ==
               st->load_bytes + st->expert_bytes + st->bias_bytes + st->act_bytes_in &&
           st->expert_bytes == (uint64_t)st->experts_uploaded * expert_bytes &&
           (uint64_t)st->upload_chunks == dev->stats.n_chunks;
}

/* fy_hyb_uploads_add_up, and besides: the bytes downloaded are the activations, and the bytes
 * loaded are pl's weights (and duplicates) on GPU0. */
static inline bool fy_hyb_bytes_add_up(const struct fy_device *dev, const struct fy_sched_stats *st,
                                       const struct fy_placement *pl, size_t expert_bytes)
{
    return fy_hyb_uploads_add_up(dev, st, expert_bytes) &&
           dev->stats.bytes_out == st->act_bytes_out &&
           st->load_bytes == pl->weight_bytes[FY_DEV_GPU0] + pl->dup_bytes[FY_DEV_GPU0];
}

/* The MoE paths of an evaluation in n_batches micro-batches: every layer of every batch ran its
 * experts on one side; below the offload threshold nothing was uploaded and the cpu_layers ran
 * on the CPU; above it, with cpu_layers, some experts were uploaded (the tests bound how many). */
static inline bool fy_hyb_paths_ok(const struct fy_sched_stats *st, int64_t n_layer,
                                   int64_t cpu_layers, int64_t n_batches, bool below_threshold)
{
    if (st->moe_gpu + st->moe_cpu != n_layer * n_batches)
        return false;
    if (below_threshold)
        return st->experts_uploaded == 0 && st->moe_cpu == cpu_layers * n_batches;
    return cpu_layers == 0 || st->experts_uploaded > 0;
}

#endif
