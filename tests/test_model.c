/* Model loading (keys, defaults, tensor binding and its errors) and the session over the graph:
 * micro-batch splits give the same logits, a full context and bad token ids are refused. */
#include "fy_test.h"
#include "gguf/gguf.h"
#include "graph/session.h"
#include "model/model.h"
#include "model/synth.h"

#include <stdbool.h>
#include <string.h>
#include <unistd.h>

static char dir[64];

/* A small gpt-oss config with the toy vocabulary (no rank file needed). */
static void small_config(struct fy_synth_config *c)
{
    fy_synth_preset("tiny", c);
    c->n_layer = 3;
    c->d_model = 64;
    c->n_head = 4;
    c->n_head_kv = 2;
    c->head_dim = 16;
    c->n_expert = 6;
    c->n_expert_used = 2;
    c->n_ff_exp = 96;
    c->n_vocab = 600;
    c->toy_vocab = 1;
    c->sliding_window = 8;
    c->seed = 11;
    c->progress = 0;
}

/* What to break when writing a model by hand from the synth plan. */
struct mutation {
    const char *arch;          /* general.architecture (default "gpt-oss") */
    const char *drop_key;      /* a gpt-oss.* key to leave out */
    const char *drop_tensor;   /* a tensor to leave out */
    const char *widen_tensor;  /* a tensor whose ne[1] grows by 32 */
    const char *f16_tensor;    /* an F32 tensor written as F16 */
    uint32_t window_pattern;   /* nonzero: write attention.sliding_window_pattern */
};

static fy_status kv_u32(struct fy_gguf_writer *w, const struct mutation *mu, const char *key,
                        uint32_t v)
{
    if (mu->drop_key && !strcmp(mu->drop_key, key))
        return FY_OK;
    return fy_gguf_writer_kv_u32(w, key, v);
}

/* Tensor i of n goes to shard i * n_shards / n (contiguous ranges, as gguf-split writes). */
static int shard_of(int64_t i, int64_t n, int n_shards) { return (int)(i * n_shards / n); }

/* Writes shard `shard` of n_shards (1: a plain file). Metadata other than split.* goes in the
 * first shard only. */
static fy_status write_shard(const char *path, const struct fy_synth_config *c,
                             const struct mutation *mu, int shard, int n_shards)
{
    struct fy_synth_plan *p = NULL;
    struct fy_gguf_writer *w = NULL;
    fy_status st = fy_synth_plan_make(c, &p);
    if (st == FY_OK)
        st = fy_gguf_writer_new(path, 32, &w);
#define K(call) do { if (st == FY_OK) st = (call); } while (0)
#define MINE(i) (shard_of((i), p->n_tensors, n_shards) == shard)
    if (n_shards > 1) {
        K(fy_gguf_writer_kv_u16(w, "split.no", (uint16_t)shard));
        K(fy_gguf_writer_kv_u16(w, "split.count", (uint16_t)n_shards));
        K(fy_gguf_writer_kv_i32(w, "split.tensors.count", (int32_t)p->n_tensors));
    }
    if (shard > 0)
        goto tensors;
    K(fy_gguf_writer_kv_str(w, "general.architecture", mu->arch ? mu->arch : "gpt-oss"));
    K(kv_u32(w, mu, "gpt-oss.block_count", (uint32_t)c->n_layer));
    K(kv_u32(w, mu, "gpt-oss.embedding_length", (uint32_t)c->d_model));
    K(kv_u32(w, mu, "gpt-oss.attention.head_count", (uint32_t)c->n_head));
    K(kv_u32(w, mu, "gpt-oss.attention.head_count_kv", (uint32_t)c->n_head_kv));
    K(kv_u32(w, mu, "gpt-oss.attention.key_length", (uint32_t)c->head_dim));
    K(kv_u32(w, mu, "gpt-oss.attention.value_length", (uint32_t)c->head_dim));
    K(kv_u32(w, mu, "gpt-oss.expert_count", (uint32_t)c->n_expert));
    K(kv_u32(w, mu, "gpt-oss.expert_used_count", (uint32_t)c->n_expert_used));
    K(kv_u32(w, mu, "gpt-oss.expert_feed_forward_length", (uint32_t)c->n_ff_exp));
    K(kv_u32(w, mu, "gpt-oss.attention.sliding_window", c->sliding_window));
    if (mu->window_pattern)
        K(kv_u32(w, mu, "gpt-oss.attention.sliding_window_pattern", mu->window_pattern));
tensors:
    for (int64_t i = 0; i < p->n_tensors && st == FY_OK; i++) {
        const struct fy_synth_tensor *t = &p->t[i];
        if (!MINE(i))
            continue;
        int64_t ne[4] = {t->ne[0], t->ne[1], t->ne[2], t->ne[3]};
        enum fy_dtype type = t->type;
        if (mu->drop_tensor && !strcmp(mu->drop_tensor, t->name))
            continue;
        if (mu->widen_tensor && !strcmp(mu->widen_tensor, t->name))
            ne[1] += 32;
        if (mu->f16_tensor && !strcmp(mu->f16_tensor, t->name))
            type = FY_F16;
        st = fy_gguf_writer_tensor(w, t->name, type, t->n_dims, ne);
    }
    K(fy_gguf_writer_begin_data(w));
    for (int64_t i = 0; i < p->n_tensors && st == FY_OK; i++) {
        const struct fy_synth_tensor *t = &p->t[i];
        if (!MINE(i) || (mu->drop_tensor && !strcmp(mu->drop_tensor, t->name)))
            continue;
        size_t size = t->size;
        if (mu->widen_tensor && !strcmp(mu->widen_tensor, t->name))
            size = size / (size_t)t->ne[1] * (size_t)(t->ne[1] + 32);
        if (mu->f16_tensor && !strcmp(mu->f16_tensor, t->name))
            size /= 2;
        uint8_t *buf = calloc(1, t->size > size ? t->size : size);
        if (!buf) {
            st = FY_E_NOMEM;
            break;
        }
        st = fy_synth_tensor_data(c, t, buf, t->size);
        K(fy_gguf_writer_write(w, buf, size));
        free(buf);
    }
    K(fy_gguf_writer_finish(w));
#undef K
#undef MINE
    fy_gguf_writer_free(w);
    fy_synth_plan_free(p);
    return st;
}

static fy_status write_model(const char *path, const struct fy_synth_config *c,
                             const struct mutation *mu)
{
    return write_shard(path, c, mu, 0, 1);
}

/* Loads a mutated model and expects failure with status want. */
static int expect_load_fail(const char *what, const struct mutation *mu, fy_status want)
{
    struct fy_synth_config c;
    char path[128];
    struct fy_model *m = NULL;
    small_config(&c);
    snprintf(path, sizeof(path), "%s/bad.gguf", dir);
    if (write_model(path, &c, mu) != FY_OK) {
        fprintf(stderr, "FAIL %s: could not write the test file\n", what);
        return 1;
    }
    fy_status st = fy_model_load(path, &m);
    int bad = st != want || m != NULL;
    printf("%s %s: load -> %s\n", bad ? "FAIL" : "ok  ", what, fy_status_str(st));
    fy_model_free(m);
    unlink(path);
    return bad;
}

struct rows {
    float *data;
    int64_t n_vocab;
    int64_t cap;
};

static fy_status keep_rows(void *ud, int64_t row0, int64_t n_rows, const float *logits,
                           int64_t n_vocab)
{
    struct rows *r = ud;
    if (row0 + n_rows > r->cap)
        return FY_E_INVAL;
    memcpy(r->data + row0 * n_vocab, logits, (size_t)(n_rows * n_vocab) * sizeof(float));
    r->n_vocab = n_vocab;
    return FY_OK;
}

static double max_rel(const float *a, const float *b, int64_t rows, int64_t n)
{
    double worst = 0;
    for (int64_t r = 0; r < rows; r++) {
        double num = 0, den = 0;
        for (int64_t i = 0; i < n; i++) {
            double d = (double)a[r * n + i] - b[r * n + i];
            num += d * d;
            den += (double)b[r * n + i] * b[r * n + i];
        }
        double e = sqrt(num / (den > 0 ? den : 1));
        worst = e > worst ? e : worst;
    }
    return worst;
}

/* Evaluates toks with micro-batch ub (or one token at a time when ub == 1). */
static fy_status eval_all(const struct fy_model *m, enum fy_dtype kv, int64_t ub,
                          const int32_t *toks, int64_t n, float *out)
{
    struct fy_session_opts o;
    struct fy_session *s = NULL;
    struct rows r = {out, 0, n};
    fy_session_opts_default(&o);
    o.n_ctx = n;
    o.n_ubatch = ub;
    o.kv_type = kv;
    FY_TRY(fy_session_new(m, &o, &s));
    fy_status st = fy_session_eval(s, toks, n, true, keep_rows, &r);
    fy_session_free(s);
    return st;
}

static int test_session(void)
{
    int failed = 0;
    struct fy_synth_config c;
    char path[128];
    struct fy_model *m = NULL;
    const struct mutation none = {0};
    small_config(&c);
    snprintf(path, sizeof(path), "%s/ok.gguf", dir);
    FY_EXPECT(write_model(path, &c, &none) == FY_OK);
    FY_EXPECT(fy_model_load(path, &m) == FY_OK);
    if (!m)
        return failed + 1;

    /* hyperparameters as written, defaults for absent keys */
    const struct fy_hparams *hp = &m->hp;
    FY_EXPECT(hp->n_layer == 3 && hp->d_model == 64 && hp->n_head == 4 && hp->n_head_kv == 2);
    FY_EXPECT(hp->head_dim == 16 && hp->n_expert == 6 && hp->n_expert_used == 2);
    FY_EXPECT(hp->n_ff == 96 && hp->n_vocab == 600 && hp->n_swa == 8);
    FY_EXPECT(hp->n_ctx_train == 131072 && hp->rms_eps == 1e-5f);
    FY_EXPECT(hp->rope.freq_base == 150000.0f && hp->rope.freq_scale == 1.0f / 32);
    FY_EXPECT(hp->rope.n_ctx_orig == 4096 && hp->rope.n_rot == 16);
    FY_EXPECT(hp->rope.beta_fast == 32.0f && hp->rope.beta_slow == 1.0f);
    FY_EXPECT(m->layers[0].window == 8 && m->layers[1].window == 0 && m->layers[2].window == 8);
    FY_EXPECT(!m->fused_gate_up);

    /* the same 40 tokens in one micro-batch, one at a time, and in micro-batches of 7 */
    enum { N = 40 };
    int32_t toks[N];
    struct fy_rng rng = {5};
    for (int i = 0; i < N; i++)
        toks[i] = (int32_t)(fy_rng_u64(&rng) % 600);
    float *a = malloc(sizeof(float) * N * 600), *b = malloc(sizeof(float) * N * 600);
    FY_EXPECT(a && b);
    FY_EXPECT(eval_all(m, FY_F32, N, toks, N, a) == FY_OK);
    int finite = 1;
    double spread = 0;
    for (int i = 0; i < N * 600; i++) {
        finite &= isfinite(a[i]);
        spread += (double)a[i] * a[i];
    }
    spread = sqrt(spread / (N * 600));
    printf("logits rms %.3f\n", spread);
    FY_EXPECT(finite && spread > 0.1 && spread < 100);
    const int64_t ubs[] = {1, 7};
    for (size_t u = 0; u < FY_ARRAY_LEN(ubs); u++) {
        FY_EXPECT(eval_all(m, FY_F32, ubs[u], toks, N, b) == FY_OK);
        double e = max_rel(b, a, N, 600);
        printf("%s ub=%lld vs one batch: max row rel err %.3g\n", e < 1e-5 ? "ok  " : "FAIL",
               (long long)ubs[u], e);
        FY_EXPECT(e < 1e-5);
    }
    FY_EXPECT(eval_all(m, FY_F16, 16, toks, N, b) == FY_OK);
    double e16 = max_rel(b, a, N, 600);
    printf("%s F16 cache vs F32: max row rel err %.3g\n", e16 < 1e-2 ? "ok  " : "FAIL", e16);
    FY_EXPECT(e16 < 1e-2 && e16 > 0);

    /* truncating the cache to a prefix and evaluating the rest again gives the same logits */
    {
        struct fy_session_opts to;
        struct fy_session *ts = NULL;
        struct rows r = {b, 0, N};
        fy_session_opts_default(&to);
        to.n_ctx = N;
        to.kv_type = FY_F32;
        FY_EXPECT(fy_session_new(m, &to, &ts) == FY_OK);
        if (ts) {
            int32_t other[N];
            for (int i = 0; i < N; i++)
                other[i] = (toks[i] + 1) % 600;
            FY_EXPECT(fy_session_eval(ts, other, N, false, NULL, NULL) == FY_OK);
            fy_session_truncate(ts, 0);
            FY_EXPECT(fy_session_eval(ts, toks, 25, false, NULL, NULL) == FY_OK);
            fy_session_truncate(ts, 20);
            FY_EXPECT(fy_session_n_past(ts) == 20);
            FY_EXPECT(fy_session_eval(ts, toks + 20, N - 20, true, keep_rows, &r) == FY_OK);
            double et = max_rel(b, a + 20 * 600, N - 20, 600);
            printf("%s truncate + re-eval: max row rel err %.3g\n", et == 0 ? "ok  " : "FAIL", et);
            FY_EXPECT(et == 0);
            fy_session_free(ts);
        }
    }

    /* context full and bad ids are refused without evaluating anything */
    struct fy_session_opts o;
    struct fy_session *s = NULL;
    fy_session_opts_default(&o);
    o.n_ctx = 16;
    FY_EXPECT(fy_session_new(m, &o, &s) == FY_OK);
    if (s) {
        FY_EXPECT(fy_session_eval(s, toks, 17, false, NULL, NULL) == FY_E_FULL);
        FY_EXPECT(fy_session_n_past(s) == 0);
        FY_EXPECT(fy_session_eval(s, toks, 10, false, NULL, NULL) == FY_OK);
        FY_EXPECT(fy_session_eval(s, toks, 7, false, NULL, NULL) == FY_E_FULL);
        FY_EXPECT(fy_session_n_past(s) == 10);
        int32_t bad[2] = {3, 600};
        FY_EXPECT(fy_session_eval(s, bad, 2, false, NULL, NULL) == FY_E_INVAL);
        FY_EXPECT(fy_session_n_past(s) == 10);
        /* the graph of a micro-batch: embedding, 15 nodes per layer, output norm, output */
        const struct fy_graph *g = fy_session_graph(s);
        FY_EXPECT(g->n_nodes == 1 + 15 * 3 + 2);
        int moe = 0, attn = 0;
        for (int64_t i = 0; i < g->n_nodes; i++) {
            FY_EXPECT(g->nodes[i].backend == 0);
            moe += g->nodes[i].op == FY_OP_MOE_FFN;
            attn += g->nodes[i].op == FY_OP_ATTENTION;
        }
        FY_EXPECT(moe == 3 && attn == 3);
        fy_session_reset(s);
        FY_EXPECT(fy_session_n_past(s) == 0);
        fy_session_free(s);
    }
    fy_model_free(m);

    /* the same model split over 3 shards: opened from its first shard, identical logits */
    const struct mutation none2 = {0};
    struct fy_model *ms = NULL;
    for (int k = 0; k < 3; k++) {
        snprintf(path, sizeof(path), "%s/split-%05d-of-00003.gguf", dir, k + 1);
        FY_EXPECT(write_shard(path, &c, &none2, k, 3) == FY_OK);
    }
    snprintf(path, sizeof(path), "%s/split-00001-of-00003.gguf", dir);
    FY_EXPECT(fy_model_load(path, &ms) == FY_OK);
    if (ms) {
        float *sp = malloc(sizeof(float) * N * 600);
        FY_EXPECT(fy_gguf_n_shards(ms->gguf) == 3);
        FY_EXPECT(sp && eval_all(ms, FY_F32, N, toks, N, sp) == FY_OK);
        double es = sp ? max_rel(sp, a, N, 600) : 1;
        printf("%s 3 shards vs one file: max row rel err %.3g\n", es == 0 ? "ok  " : "FAIL", es);
        FY_EXPECT(es == 0);
        free(sp);
        fy_model_free(ms);
    }
    for (int k = 0; k < 3; k++) {
        snprintf(path, sizeof(path), "%s/split-%05d-of-00003.gguf", dir, k + 1);
        unlink(path);
    }

    free(a);
    free(b);

    /* the fused gate/up variant loads and gives finite logits */
    struct fy_model *mf = NULL;
    c.fused_gate_up = 1;
    snprintf(path, sizeof(path), "%s/fused.gguf", dir);
    FY_EXPECT(fy_synth_write(&c, NULL, path) == FY_OK);
    FY_EXPECT(fy_model_load(path, &mf) == FY_OK);
    if (mf) {
        FY_EXPECT(mf->fused_gate_up);
        float *f = malloc(sizeof(float) * 8 * 600);
        FY_EXPECT(f && eval_all(mf, FY_F32, 8, toks, 8, f) == FY_OK);
        for (int i = 0; f && i < 8 * 600; i++)
            finite &= isfinite(f[i]);
        FY_EXPECT(finite);
        free(f);
        fy_model_free(mf);
    }
    unlink(path);
    snprintf(path, sizeof(path), "%s/ok.gguf", dir);
    unlink(path);
    return failed;
}

int main(void)
{
    int failed = 0;
    strcpy(dir, "/tmp/fy-model-XXXXXX");
    if (!mkdtemp(dir))
        return FY_TEST_HARD;

    failed += test_session();
    const struct {
        const char *what;
        struct mutation mu;
        fy_status want;
    } bad[] = {
        {"other architecture", {.arch = "llama"}, FY_E_UNSUPPORTED},
        {"ollama gptoss blob", {.arch = "gptoss"}, FY_E_UNSUPPORTED},
        {"missing block_count", {.drop_key = "gpt-oss.block_count"}, FY_E_FORMAT},
        {"missing key_length", {.drop_key = "gpt-oss.attention.key_length"}, FY_E_FORMAT},
        {"missing attn_sinks", {.drop_tensor = "blk.1.attn_sinks.weight"}, FY_E_FORMAT},
        {"missing output", {.drop_tensor = "output.weight"}, FY_E_FORMAT},
        {"missing down bias", {.drop_tensor = "blk.2.ffn_down_exps.bias"}, FY_E_FORMAT},
        {"wrong attn_q shape", {.widen_tensor = "blk.0.attn_q.weight"}, FY_E_FORMAT},
        {"wrong expert shape", {.widen_tensor = "blk.1.ffn_up_exps.weight"}, FY_E_FORMAT},
        {"F16 norm", {.f16_tensor = "blk.0.attn_norm.weight"}, FY_E_FORMAT},
        {"window pattern 3", {.window_pattern = 3}, FY_E_UNSUPPORTED},
    };
    for (size_t i = 0; i < FY_ARRAY_LEN(bad); i++)
        failed += expect_load_fail(bad[i].what, &bad[i].mu, bad[i].want);
    {
        struct mutation ok2 = {.window_pattern = 2};
        struct fy_synth_config c;
        struct fy_model *m = NULL;
        char path[128];
        small_config(&c);
        snprintf(path, sizeof(path), "%s/p2.gguf", dir);
        FY_EXPECT(write_model(path, &c, &ok2) == FY_OK && fy_model_load(path, &m) == FY_OK);
        fy_model_free(m);
        unlink(path);
    }
    rmdir(dir);
    printf("%s\n", failed ? "test_model: FAILED" : "test_model: ok");
    return failed ? 1 : 0;
}
