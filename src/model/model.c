/* Loads a gpt-oss GGUF: hyperparameters with documented defaults, tensors bound by name. */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARCH "gpt-oss"

/* ---- hyperparameters ---- */

static fy_status get_u32_req(const struct fy_gguf *g, const char *key, int64_t *out)
{
    uint32_t v = 0;
    fy_status st = fy_gguf_get_u32(g, key, &v);
    if (st == FY_E_INVAL) {
        fy_log(FY_LOG_ERR, "%s: missing metadata key %s", fy_gguf_path(g, 0), key);
        return FY_E_FORMAT;
    }
    if (st != FY_OK)
        return st;
    if (v == 0) {
        fy_log(FY_LOG_ERR, "%s: metadata key %s is 0", fy_gguf_path(g, 0), key);
        return FY_E_FORMAT;
    }
    *out = v;
    return FY_OK;
}

/* Optional u32: keeps *out (the default) when absent. */
static fy_status get_u32_opt(const struct fy_gguf *g, const char *key, int64_t *out)
{
    uint32_t v = 0;
    fy_status st = fy_gguf_get_u32(g, key, &v);
    if (st == FY_E_INVAL)
        return FY_OK;
    if (st == FY_OK)
        *out = v;
    return st;
}

static fy_status get_f32_opt(const struct fy_gguf *g, const char *key, float *out)
{
    float v = 0;
    fy_status st = fy_gguf_get_f32(g, key, &v);
    if (st == FY_E_INVAL)
        return FY_OK;
    if (st != FY_OK)
        return st;
    if (!isfinite(v)) {
        fy_log(FY_LOG_ERR, "%s: metadata key %s is not finite", fy_gguf_path(g, 0), key);
        return FY_E_FORMAT;
    }
    *out = v;
    return FY_OK;
}

static fy_status get_id_opt(const struct fy_gguf *g, const char *key, int32_t *out)
{
    int64_t v = -1;
    FY_TRY(get_u32_opt(g, key, &v));
    *out = (int32_t)v;
    return FY_OK;
}

static fy_status refuse(const struct fy_gguf *g, const char *key, const char *why)
{
    fy_log(FY_LOG_ERR, "%s: metadata key %s: %s (not supported)", fy_gguf_path(g, 0), key, why);
    return FY_E_UNSUPPORTED;
}

/* attention.sliding_window_pattern: accept only what gpt-oss uses (period 2, even layers slide). */
static fy_status check_swa_pattern(const struct fy_gguf *g, int64_t n_layer)
{
    const char *key = ARCH ".attention.sliding_window_pattern";
    const struct fy_gguf_kv *kv = fy_gguf_find_kv(g, key);
    if (!kv)
        return FY_OK;
    if (kv->type == FY_GGUF_ARR) {
        if (kv->arr_n != (uint64_t)n_layer)
            return refuse(g, key, "array length differs from block_count");
        for (uint64_t i = 0; i < kv->arr_n; i++) {
            int64_t v = 0;
            FY_TRY(fy_gguf_arr_int(kv, i, &v));
            if ((v != 0) != (i % 2 == 0))
                return refuse(g, key, "pattern other than even layers sliding");
        }
        return FY_OK;
    }
    int64_t period = 2;
    FY_TRY(get_u32_opt(g, key, &period));
    if (period != 2)
        return refuse(g, key, "period other than 2");
    return FY_OK;
}

static fy_status read_hparams(const struct fy_gguf *g, struct fy_hparams *hp)
{
    char s[64];
    memset(hp, 0, sizeof(*hp));

    if (fy_gguf_get_str(g, "general.architecture", s, sizeof(s)) != FY_OK) {
        fy_log(FY_LOG_ERR, "%s: no general.architecture string: not a model GGUF",
               fy_gguf_path(g, 0));
        return FY_E_FORMAT;
    }
    if (strcmp(s, ARCH) != 0) {
        if (strcmp(s, "gptoss") == 0)
            fy_log(FY_LOG_ERR, "%s: architecture \"gptoss\" is an Ollama blob with its own tensor "
                   "names; use a llama.cpp/ggml-org gpt-oss GGUF", fy_gguf_path(g, 0));
        else
            fy_log(FY_LOG_ERR, "%s: architecture \"%s\" is not supported (ferry runs \"%s\")",
                   fy_gguf_path(g, 0), s, ARCH);
        return FY_E_UNSUPPORTED;
    }

    FY_TRY(get_u32_req(g, ARCH ".block_count", &hp->n_layer));
    FY_TRY(get_u32_req(g, ARCH ".embedding_length", &hp->d_model));
    FY_TRY(get_u32_req(g, ARCH ".attention.head_count", &hp->n_head));
    FY_TRY(get_u32_req(g, ARCH ".attention.head_count_kv", &hp->n_head_kv));
    FY_TRY(get_u32_req(g, ARCH ".attention.key_length", &hp->head_dim));
    FY_TRY(get_u32_req(g, ARCH ".expert_count", &hp->n_expert));
    FY_TRY(get_u32_req(g, ARCH ".expert_used_count", &hp->n_expert_used));
    hp->n_ff = 0;
    FY_TRY(get_u32_opt(g, ARCH ".feed_forward_length", &hp->n_ff));
    FY_TRY(get_u32_opt(g, ARCH ".expert_feed_forward_length", &hp->n_ff));
    if (hp->n_ff == 0) {
        fy_log(FY_LOG_ERR, "%s: missing metadata key %s.expert_feed_forward_length",
               fy_gguf_path(g, 0), ARCH);
        return FY_E_FORMAT;
    }
    hp->n_ctx_train = 131072;
    FY_TRY(get_u32_opt(g, ARCH ".context_length", &hp->n_ctx_train));
    int64_t v = hp->head_dim;
    FY_TRY(get_u32_opt(g, ARCH ".attention.value_length", &v));
    if (v != hp->head_dim)
        return refuse(g, ARCH ".attention.value_length", "differs from key_length");
    int64_t swa = 128;
    FY_TRY(get_u32_opt(g, ARCH ".attention.sliding_window", &swa));
    hp->n_swa = (int32_t)swa;
    FY_TRY(check_swa_pattern(g, hp->n_layer));

    hp->rms_eps = 1e-5f;
    FY_TRY(get_f32_opt(g, ARCH ".attention.layer_norm_rms_epsilon", &hp->rms_eps));

    struct fy_rope *r = &hp->rope;
    int64_t n_rot = hp->head_dim;
    FY_TRY(get_u32_opt(g, ARCH ".rope.dimension_count", &n_rot));
    if (n_rot != hp->head_dim)
        return refuse(g, ARCH ".rope.dimension_count", "differs from key_length");
    r->n_rot = (int)n_rot;
    r->freq_base = 150000.0f;
    FY_TRY(get_f32_opt(g, ARCH ".rope.freq_base", &r->freq_base));
    float base_swa = r->freq_base;
    FY_TRY(get_f32_opt(g, ARCH ".rope.freq_base_swa", &base_swa));
    if (base_swa != r->freq_base)
        return refuse(g, ARCH ".rope.freq_base_swa", "differs from rope.freq_base");
    if (fy_gguf_get_str(g, ARCH ".rope.scaling.type", s, sizeof(s)) == FY_OK &&
        strcmp(s, "yarn") != 0)
        return refuse(g, ARCH ".rope.scaling.type", "only \"yarn\" is implemented");
    float factor = 32.0f;
    FY_TRY(get_f32_opt(g, ARCH ".rope.scaling.factor", &factor));
    if (!(factor >= 1.0f))
        return refuse(g, ARCH ".rope.scaling.factor", "must be >= 1");
    r->freq_scale = 1.0f / factor;
    int64_t orig = 4096;
    FY_TRY(get_u32_opt(g, ARCH ".rope.scaling.original_context_length", &orig));
    r->n_ctx_orig = (int)orig;
    r->ext_factor = 1.0f;
    r->attn_factor = 1.0f;
    r->beta_fast = 32.0f;
    r->beta_slow = 1.0f;
    FY_TRY(get_f32_opt(g, ARCH ".rope.scaling.yarn_ext_factor", &r->ext_factor));
    FY_TRY(get_f32_opt(g, ARCH ".rope.scaling.yarn_attn_factor", &r->attn_factor));
    FY_TRY(get_f32_opt(g, ARCH ".rope.scaling.yarn_beta_fast", &r->beta_fast));
    FY_TRY(get_f32_opt(g, ARCH ".rope.scaling.yarn_beta_slow", &r->beta_slow));
    if (r->ext_factor != 1.0f || r->attn_factor != 1.0f || r->beta_fast != 32.0f ||
        r->beta_slow != 1.0f)
        return refuse(g, ARCH ".rope.scaling.yarn_*", "values other than ext 1, attn 1, "
                      "beta_fast 32, beta_slow 1");
    r->unrounded = 0;

    hp->swiglu_alpha = 1.702f;
    hp->swiglu_limit = 7.0f;
    FY_TRY(get_id_opt(g, "tokenizer.ggml.bos_token_id", &hp->bos));
    FY_TRY(get_id_opt(g, "tokenizer.ggml.eos_token_id", &hp->eos));
    FY_TRY(get_id_opt(g, "tokenizer.ggml.padding_token_id", &hp->pad));

    const char *bad = NULL;
    if (hp->n_head % hp->n_head_kv != 0)
        bad = "attention.head_count is not a multiple of head_count_kv";
    else if (hp->head_dim % 2 != 0)
        bad = "attention.key_length is odd";
    else if (hp->n_expert_used > hp->n_expert)
        bad = "expert_used_count > expert_count";
    else if (hp->n_swa <= 0)
        bad = "attention.sliding_window is 0";
    else if (hp->d_model > (1 << 20) || hp->n_layer > 4096 || hp->n_expert > 65536 ||
             hp->n_head > 65536 || hp->head_dim > 4096 || hp->n_ff > (1 << 22))
        bad = "a dimension is implausibly large";
    if (bad) {
        fy_log(FY_LOG_ERR, "%s: %s", fy_gguf_path(g, 0), bad);
        return FY_E_FORMAT;
    }
    return FY_OK;
}

/* ---- tensors ---- */

enum kind { K_F32, K_DENSE, K_EXPERT };

static const struct fy_gguf_tensor *find_checked(const struct fy_model *m, const char *name,
                                                 enum kind kind, int64_t ne0, int64_t ne1,
                                                 int64_t ne2, fy_status *st)
{
    const struct fy_gguf *g = m->gguf;
    const struct fy_gguf_tensor *t = fy_gguf_find_tensor(g, name);
    int64_t want[4] = {ne0, ne1, ne2, 1};
    *st = FY_E_FORMAT;
    if (!t) {
        fy_log(FY_LOG_ERR, "%s: missing tensor %s", fy_gguf_path(g, 0), name);
        return NULL;
    }
    for (int i = 0; i < 4; i++) {
        if (t->ne[i] != want[i]) {
            fy_log(FY_LOG_ERR, "%s: tensor %s has shape [%lld, %lld, %lld, %lld], expected "
                   "[%lld, %lld, %lld, %lld]", fy_gguf_path(g, t->shard), name,
                   (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
                   (long long)t->ne[3], (long long)want[0], (long long)want[1],
                   (long long)want[2], (long long)want[3]);
            return NULL;
        }
    }
    int ok;
    const char *accepted;
    switch (kind) {
    case K_F32:
        ok = t->type == FY_F32;
        accepted = "F32";
        break;
    case K_DENSE:
        ok = t->type == FY_Q8_0 || t->type == FY_BF16 || t->type == FY_F16 || t->type == FY_F32;
        accepted = "Q8_0, BF16, F16 or F32";
        break;
    default:
        ok = 1;
        accepted = "";
        break;
    }
    if (!ok) {
        fy_log(FY_LOG_ERR, "%s: tensor %s has type %s, expected %s", fy_gguf_path(g, t->shard),
               name, fy_dtype_name(t->type), accepted);
        return NULL;
    }
    *st = FY_OK;
    return t;
}

static fy_status bind_vec(struct fy_model *m, const char *name, int64_t ne0, int64_t ne1,
                          const float **out)
{
    fy_status st;
    const struct fy_gguf_tensor *t = find_checked(m, name, K_F32, ne0, ne1, 1, &st);
    if (t)
        *out = t->data;
    return st;
}

static void mat_from(struct fy_mat *w, const struct fy_gguf_tensor *t)
{
    w->type = t->type;
    w->n_in = t->ne[0];
    w->n_out = t->ne[1];
    w->n_mat = t->ne[2];
    w->row_bytes = t->nb[1];
    w->mat_bytes = t->nb[2];
    w->data = t->data;
}

static fy_status bind_mat(struct fy_model *m, const char *name, enum kind kind, int64_t n_in,
                          int64_t n_out, int64_t n_mat, struct fy_mat *w)
{
    fy_status st;
    const struct fy_gguf_tensor *t = find_checked(m, name, kind, n_in, n_out, n_mat, &st);
    if (t)
        mat_from(w, t);
    return st;
}

static fy_status bind_experts(struct fy_model *m, int il, struct fy_moe_layer *moe)
{
    const struct fy_hparams *hp = &m->hp;
    const int64_t d = hp->d_model, ff = hp->n_ff, E = hp->n_expert;
    char n[96];

    moe->alpha = hp->swiglu_alpha;
    moe->limit = hp->swiglu_limit;
    snprintf(n, sizeof(n), "blk.%d.ffn_gate_up_exps.weight", il);
    if (fy_gguf_find_tensor(m->gguf, n)) {
        /* fused variant: rows [0, ff) are gate, [ff, 2ff) are up; bias likewise */
        struct fy_mat gu;
        const float *b = NULL;
        FY_TRY(bind_mat(m, n, K_EXPERT, d, 2 * ff, E, &gu));
        snprintf(n, sizeof(n), "blk.%d.ffn_gate_up_exps.bias", il);
        FY_TRY(bind_vec(m, n, 2 * ff, E, &b));
        moe->gate = gu;
        moe->gate.n_out = ff;
        moe->up = moe->gate;
        moe->up.data = (const uint8_t *)gu.data + (size_t)ff * gu.row_bytes;
        moe->gate_b = (struct fy_bias){b, 2 * ff};
        moe->up_b = (struct fy_bias){b + ff, 2 * ff};
        m->fused_gate_up = true;
    } else {
        const float *b = NULL;
        snprintf(n, sizeof(n), "blk.%d.ffn_gate_exps.weight", il);
        FY_TRY(bind_mat(m, n, K_EXPERT, d, ff, E, &moe->gate));
        snprintf(n, sizeof(n), "blk.%d.ffn_gate_exps.bias", il);
        FY_TRY(bind_vec(m, n, ff, E, &b));
        moe->gate_b = (struct fy_bias){b, ff};
        snprintf(n, sizeof(n), "blk.%d.ffn_up_exps.weight", il);
        FY_TRY(bind_mat(m, n, K_EXPERT, d, ff, E, &moe->up));
        snprintf(n, sizeof(n), "blk.%d.ffn_up_exps.bias", il);
        FY_TRY(bind_vec(m, n, ff, E, &b));
        moe->up_b = (struct fy_bias){b, ff};
    }
    const float *bd = NULL;
    snprintf(n, sizeof(n), "blk.%d.ffn_down_exps.weight", il);
    FY_TRY(bind_mat(m, n, K_EXPERT, ff, d, E, &moe->down));
    snprintf(n, sizeof(n), "blk.%d.ffn_down_exps.bias", il);
    FY_TRY(bind_vec(m, n, d, E, &bd));
    moe->down_b = (struct fy_bias){bd, d};
    return FY_OK;
}

static fy_status bind_layer(struct fy_model *m, int il)
{
    const struct fy_hparams *hp = &m->hp;
    struct fy_layer *L = &m->layers[il];
    const int64_t d = hp->d_model, qw = hp->n_head * hp->head_dim;
    const int64_t kvw = hp->n_head_kv * hp->head_dim;
    char n[96];
#define NAME(suffix) (snprintf(n, sizeof(n), "blk.%d." suffix, il), n)
    FY_TRY(bind_vec(m, NAME("attn_norm.weight"), d, 1, &L->attn_norm));
    FY_TRY(bind_mat(m, NAME("attn_q.weight"), K_DENSE, d, qw, 1, &L->wq));
    FY_TRY(bind_vec(m, NAME("attn_q.bias"), qw, 1, &L->bq));
    FY_TRY(bind_mat(m, NAME("attn_k.weight"), K_DENSE, d, kvw, 1, &L->wk));
    FY_TRY(bind_vec(m, NAME("attn_k.bias"), kvw, 1, &L->bk));
    FY_TRY(bind_mat(m, NAME("attn_v.weight"), K_DENSE, d, kvw, 1, &L->wv));
    FY_TRY(bind_vec(m, NAME("attn_v.bias"), kvw, 1, &L->bv));
    FY_TRY(bind_mat(m, NAME("attn_output.weight"), K_DENSE, qw, d, 1, &L->wo));
    FY_TRY(bind_vec(m, NAME("attn_output.bias"), d, 1, &L->bo));
    FY_TRY(bind_vec(m, NAME("attn_sinks.weight"), hp->n_head, 1, &L->sinks));
    FY_TRY(bind_vec(m, NAME("post_attention_norm.weight"), d, 1, &L->post_norm));
    FY_TRY(bind_mat(m, NAME("ffn_gate_inp.weight"), K_DENSE, d, hp->n_expert, 1, &L->router));
    FY_TRY(bind_vec(m, NAME("ffn_gate_inp.bias"), hp->n_expert, 1, &L->router_b));
#undef NAME
    FY_TRY(bind_experts(m, il, &L->moe));
    L->window = (il % 2 == 0) ? hp->n_swa : 0;
    return FY_OK;
}

static fy_status check_vocab(const struct fy_model *m)
{
    const struct fy_gguf_kv *kv = fy_gguf_find_kv(m->gguf, "tokenizer.ggml.tokens");
    if (kv && (kv->type != FY_GGUF_ARR || kv->arr_n != (uint64_t)m->hp.n_vocab)) {
        fy_log(FY_LOG_ERR, "%s: tokenizer.ggml.tokens has %llu entries but token_embd.weight has "
               "%lld rows", fy_gguf_path(m->gguf, 0), (unsigned long long)kv->arr_n,
               (long long)m->hp.n_vocab);
        return FY_E_FORMAT;
    }
    const int32_t ids[3] = {m->hp.bos, m->hp.eos, m->hp.pad};
    for (int i = 0; i < 3; i++) {
        if (ids[i] >= m->hp.n_vocab) {
            fy_log(FY_LOG_ERR, "%s: special token id %d is outside the vocabulary (%lld)",
                   fy_gguf_path(m->gguf, 0), ids[i], (long long)m->hp.n_vocab);
            return FY_E_FORMAT;
        }
    }
    return FY_OK;
}

fy_status fy_model_load(const char *path, struct fy_model **out)
{
    struct fy_gguf *g = NULL;

    FY_CHECK_ARG(path && out);
    *out = NULL;
    FY_TRY(fy_gguf_open(path, &g));
    return fy_model_from_gguf(g, out);
}

fy_status fy_model_from_gguf(struct fy_gguf *g, struct fy_model **out)
{
    struct fy_model *m = NULL;
    fy_status st;

    if (!g || !out) {
        fy_log(FY_LOG_ERR, "%s: invalid argument: g && out", __func__);
        fy_gguf_close(g);
        return FY_E_INVAL;
    }
    *out = NULL;
    m = calloc(1, sizeof(*m));
    if (!m) {
        fy_log(FY_LOG_ERR, "%s: out of memory", fy_gguf_path(g, 0));
        fy_gguf_close(g);
        return FY_E_NOMEM;
    }
    m->gguf = g;
    st = read_hparams(m->gguf, &m->hp);
    if (st != FY_OK)
        goto fail;

    const struct fy_gguf_tensor *te = fy_gguf_find_tensor(m->gguf, "token_embd.weight");
    if (!te) {
        fy_log(FY_LOG_ERR, "%s: missing tensor token_embd.weight", fy_gguf_path(g, 0));
        st = FY_E_FORMAT;
        goto fail;
    }
    m->hp.n_vocab = te->ne[1];
    const int64_t d = m->hp.d_model, nv = m->hp.n_vocab;
    st = bind_mat(m, "token_embd.weight", K_DENSE, d, nv, 1, &m->tok_embd);
    if (st == FY_OK)
        st = bind_vec(m, "output_norm.weight", d, 1, &m->output_norm);
    if (st == FY_OK)
        st = bind_mat(m, "output.weight", K_DENSE, d, nv, 1, &m->output);
    if (st == FY_OK)
        st = check_vocab(m);
    if (st != FY_OK)
        goto fail;

    m->layers = calloc((size_t)m->hp.n_layer, sizeof(*m->layers));
    if (!m->layers) {
        fy_log(FY_LOG_ERR, "%s: out of memory for %lld layers", fy_gguf_path(g, 0),
               (long long)m->hp.n_layer);
        st = FY_E_NOMEM;
        goto fail;
    }
    for (int il = 0; il < m->hp.n_layer; il++) {
        st = bind_layer(m, il);
        if (st != FY_OK)
            goto fail;
    }
    *out = m;
    return FY_OK;
fail:
    fy_model_free(m);
    return st;
}

void fy_model_free(struct fy_model *m)
{
    if (!m)
        return;
    fy_gguf_close(m->gguf);
    free(m->layers);
    free(m);
}

uint64_t fy_model_weight_bytes(const struct fy_model *m)
{
    uint64_t sum = 0;
    for (int64_t i = 0; i < fy_gguf_n_tensors(m->gguf); i++)
        sum += fy_gguf_tensor_at(m->gguf, i)->size;
    return sum;
}
