/* Synthetic gpt-oss GGUFs, the writing: metadata, then the tensor data streamed tensor by tensor
 * (generated in synth_gen.c, written by a second thread), with progress (see synth.h). */
#include "synth_priv.h"

#include "text/chat_template.h"
#include "gguf/gguf.h"
#include "text/vocab_o200k.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SY_CHUNK (4u << 20)          /* bytes generated and written at a time */

/* ---- writing ---- */

static fy_status put_metadata(struct fy_gguf_writer *w, const struct fy_synth_config *c,
                              const struct fy_vocab_o200k *v, uint64_t n_params)
{
    char name[96], size_label[32];
    const int is20 = c->n_layer == 24 && c->d_model == 2880 && c->n_expert == 32;
    const int is120 = c->n_layer == 36 && c->d_model == 2880 && c->n_expert == 128;
    if (is20 || is120) {
        snprintf(name, sizeof(name), "Gpt Oss %s", is20 ? "20b" : "120b");
        snprintf(size_label, sizeof(size_label), "%s", is20 ? "20B" : "120B");
    } else {
        double p = (double)n_params;
        if (p >= 1e9)
            snprintf(size_label, sizeof(size_label), "%.0fB", p / 1e9);
        else
            snprintf(size_label, sizeof(size_label), "%.0fM", p / 1e6);
        snprintf(name, sizeof(name), "Gpt Oss Synthetic %s", size_label);
    }
    static const char *const tags[] = {"vllm", "text-generation"};
    static const uint64_t tag_lens[] = {4, 15};
    const char *a = "gpt-oss.";
    char key[96];
#define K(s) (snprintf(key, sizeof(key), "%s%s", a, (s)), key)
    FY_TRY(fy_gguf_writer_kv_str(w, "general.architecture", "gpt-oss"));
    FY_TRY(fy_gguf_writer_kv_str(w, "general.type", "model"));
    FY_TRY(fy_gguf_writer_kv_str(w, "general.name", name));
    FY_TRY(fy_gguf_writer_kv_str(w, "general.basename", "gpt-oss"));
    FY_TRY(fy_gguf_writer_kv_str(w, "general.size_label", size_label));
    FY_TRY(fy_gguf_writer_kv_str(w, "general.license", "apache-2.0"));
    FY_TRY(fy_gguf_writer_kv_str_arr(w, "general.tags", tags, tag_lens, 2));
    FY_TRY(fy_gguf_writer_kv_u32(w, K("block_count"), (uint32_t)c->n_layer));
    FY_TRY(fy_gguf_writer_kv_u32(w, K("context_length"), c->context_length));
    FY_TRY(fy_gguf_writer_kv_u32(w, K("embedding_length"), (uint32_t)c->d_model));
    FY_TRY(fy_gguf_writer_kv_u32(w, K("feed_forward_length"), (uint32_t)c->n_ff_exp));
    FY_TRY(fy_gguf_writer_kv_u32(w, K("attention.head_count"), (uint32_t)c->n_head));
    FY_TRY(fy_gguf_writer_kv_u32(w, K("attention.head_count_kv"), (uint32_t)c->n_head_kv));
    FY_TRY(fy_gguf_writer_kv_f32(w, K("rope.freq_base"), 150000.0f));
    FY_TRY(fy_gguf_writer_kv_f32(w, K("attention.layer_norm_rms_epsilon"), 1e-5f));
    FY_TRY(fy_gguf_writer_kv_u32(w, K("expert_count"), (uint32_t)c->n_expert));
    FY_TRY(fy_gguf_writer_kv_u32(w, K("expert_used_count"), (uint32_t)c->n_expert_used));
    FY_TRY(fy_gguf_writer_kv_u32(w, K("attention.key_length"), (uint32_t)c->head_dim));
    FY_TRY(fy_gguf_writer_kv_u32(w, K("attention.value_length"), (uint32_t)c->head_dim));
    FY_TRY(fy_gguf_writer_kv_u32(w, K("attention.sliding_window"), c->sliding_window));
    FY_TRY(fy_gguf_writer_kv_u32(w, K("expert_feed_forward_length"), (uint32_t)c->n_ff_exp));
    FY_TRY(fy_gguf_writer_kv_str(w, K("rope.scaling.type"), "yarn"));
    FY_TRY(fy_gguf_writer_kv_f32(w, K("rope.scaling.factor"), 32.0f));
    FY_TRY(fy_gguf_writer_kv_u32(w, K("rope.scaling.original_context_length"), 4096));
#undef K
    FY_TRY(fy_gguf_writer_kv_str(w, "tokenizer.ggml.model", "gpt2"));
    FY_TRY(fy_gguf_writer_kv_str(w, "tokenizer.ggml.pre", "gpt-4o"));
    FY_TRY(fy_gguf_writer_kv_str_arr(w, "tokenizer.ggml.tokens", v->tokens, v->token_lens,
                                     (uint64_t)v->n_vocab));
    FY_TRY(fy_gguf_writer_kv_i32_arr(w, "tokenizer.ggml.token_type", v->token_types,
                                     (uint64_t)v->n_vocab));
    FY_TRY(fy_gguf_writer_kv_str_arr(w, "tokenizer.ggml.merges", v->merges, v->merge_lens,
                                     (uint64_t)v->n_merges));
    FY_TRY(fy_gguf_writer_kv_u32(w, "tokenizer.ggml.bos_token_id", v->bos_id));
    FY_TRY(fy_gguf_writer_kv_u32(w, "tokenizer.ggml.eos_token_id", v->eos_id));
    FY_TRY(fy_gguf_writer_kv_u32(w, "tokenizer.ggml.padding_token_id", v->pad_id));
    FY_TRY(fy_gguf_writer_kv_str(w, "tokenizer.chat_template", fy_chat_template_gpt_oss()));
    FY_TRY(fy_gguf_writer_kv_u32(w, "general.quantization_version", 2));
    FY_TRY(fy_gguf_writer_kv_u32(w, "general.file_type", fy_synth_file_type(c)));
    return FY_OK;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

struct sy_progress {
    int on;
    uint64_t total;
    uint64_t done;
    double t0;
    double last;
};

static void progress_show(struct sy_progress *pr, int final)
{
    if (!pr->on)
        return;
    double t = now_s();
    if (!final && t - pr->last < 0.2)
        return;
    pr->last = t;
    double el = t - pr->t0;
    fprintf(stderr, "\rsynth: %.2f / %.2f GB (%3.0f%%), %.0f MB/s   ", (double)pr->done / 1e9,
            (double)pr->total / 1e9, pr->total ? 100.0 * (double)pr->done / (double)pr->total : 100,
            el > 0 ? (double)pr->done / el / 1e6 : 0.0);
    if (final)
        fputc('\n', stderr);
    fflush(stderr);
}

/* Generation and writing overlap: the caller's thread generates chunks into two buffers and a
 * writer thread hands the full ones to the GGUF writer (the kernel's copy into the page cache
 * costs about as much as the generation). The writer is only used by the writer thread while
 * the pipeline runs. */
struct sy_pipe {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct fy_gguf_writer *w;
    uint8_t *buf[2];
    size_t len[2];
    int full[2];
    int hole[2];   /* the chunk is len bytes of hole, not buf's contents */
    int closing;   /* no more chunks */
    fy_status st;  /* the writer thread's first error */
};

static void *pipe_writer(void *arg)
{
    struct sy_pipe *p = arg;
    int i = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->full[i] && !p->closing)
            pthread_cond_wait(&p->cv, &p->mu);
        if (!p->full[i])
            break;  /* closing and drained */
        pthread_mutex_unlock(&p->mu);
        fy_status st = p->hole[i] ? fy_gguf_writer_skip(p->w, p->len[i])
                                  : fy_gguf_writer_write(p->w, p->buf[i], p->len[i]);
        pthread_mutex_lock(&p->mu);
        p->full[i] = 0;
        if (st != FY_OK) {
            p->st = st;
            pthread_cond_broadcast(&p->cv);
            break;
        }
        pthread_cond_broadcast(&p->cv);
        i ^= 1;
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static fy_status write_data(const struct fy_synth_config *c, const struct fy_synth_plan *plan,
                            struct fy_gguf_writer *w, const float *nt)
{
    struct sy_pipe p;
    pthread_t th;
    fy_status st = FY_OK;

    memset(&p, 0, sizeof(p));
    p.w = w;
    p.buf[0] = malloc(SY_CHUNK);
    p.buf[1] = malloc(SY_CHUNK);
    if (!p.buf[0] || !p.buf[1]) {
        free(p.buf[0]);
        free(p.buf[1]);
        return FY_E_NOMEM;
    }
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    if (pthread_create(&th, NULL, pipe_writer, &p) != 0) {
        fy_log(FY_LOG_ERR, "synth: cannot start the writer thread");
        st = FY_E_NOMEM;
        goto done;
    }
    struct sy_progress pr = {c->progress && isatty(2), plan->data_bytes, 0, now_s(), 0};
    int slot = 0;
    for (int64_t i = 0; i < plan->n_tensors && st == FY_OK; i++) {
        const struct fy_synth_tensor *t = &plan->t[i];
        struct sy_gen g;
        const size_t ub = fy_synth_unit_bytes(t->type);
        const int64_t per_chunk = (int64_t)(SY_CHUNK / ub);
        int64_t left = (int64_t)(t->size / ub);
        const int hole = c->sparse_experts && strstr(t->name, "_exps.weight");
        fy_synth_gen_init(&g, c, t, nt);
        while (left > 0) {
            pthread_mutex_lock(&p.mu);
            while (p.full[slot] && p.st == FY_OK)
                pthread_cond_wait(&p.cv, &p.mu);
            st = p.st;
            pthread_mutex_unlock(&p.mu);
            if (st != FY_OK)
                break;
            int64_t k = left < per_chunk ? left : per_chunk;
            if (hole)
                k = left; /* one hole for the whole tensor */
            else
                fy_synth_gen_units(&g, p.buf[slot], k);
            pthread_mutex_lock(&p.mu);
            p.hole[slot] = hole;
            p.len[slot] = (size_t)k * ub;
            p.full[slot] = 1;
            pthread_cond_broadcast(&p.cv);
            pthread_mutex_unlock(&p.mu);
            slot ^= 1;
            left -= k;
            pr.done += (uint64_t)k * ub;
            progress_show(&pr, 0);
        }
    }
    pthread_mutex_lock(&p.mu);
    p.closing = 1;
    pthread_cond_broadcast(&p.cv);
    pthread_mutex_unlock(&p.mu);
    pthread_join(th, NULL);
    if (st == FY_OK)
        st = p.st;
    if (st == FY_OK) {
        pr.done = pr.total;
        progress_show(&pr, 1);
    } else if (pr.on) {
        fputc('\n', stderr);
    }
done:
    pthread_cond_destroy(&p.cv);
    pthread_mutex_destroy(&p.mu);
    free(p.buf[0]);
    free(p.buf[1]);
    return st;
}

fy_status fy_synth_write(const struct fy_synth_config *c, const char *vocab_path,
                         const char *out_path)
{
    struct fy_synth_plan *plan = NULL;
    struct fy_vocab_o200k *v = NULL;
    struct fy_gguf_writer *w = NULL;
    float *nt = NULL;
    fy_status st;

    FY_CHECK_ARG(c && out_path);
    st = fy_synth_plan_make(c, &plan);
    if (st != FY_OK)
        goto fail;
    if (c->toy_vocab) {
        st = fy_vocab_o200k_toy(c->n_vocab, &v);
    } else if (!vocab_path) {
        fy_log(FY_LOG_ERR, "synth: no vocabulary file given (o200k_base.tiktoken)");
        st = FY_E_INVAL;
    } else {
        st = fy_vocab_o200k_load(vocab_path, c->n_vocab, &v);
    }
    if (st != FY_OK)
        goto fail;
    if (v->n_vocab != c->n_vocab) {
        fy_log(FY_LOG_ERR, "synth: vocabulary has %lld ids, config n_vocab %lld",
               (long long)v->n_vocab, (long long)c->n_vocab);
        st = FY_E_INVAL;
        goto fail;
    }

    uint64_t n_params = 0;
    for (int64_t i = 0; i < plan->n_tensors; i++)
        n_params += (uint64_t)(plan->t[i].ne[0] * plan->t[i].ne[1] * plan->t[i].ne[2]);

    st = fy_gguf_writer_new(out_path, 32, &w);
    if (st != FY_OK)
        goto fail;
    st = put_metadata(w, c, v, n_params);
    for (int64_t i = 0; i < plan->n_tensors && st == FY_OK; i++)
        st = fy_gguf_writer_tensor(w, plan->t[i].name, plan->t[i].type, plan->t[i].n_dims,
                                   plan->t[i].ne);
    if (st == FY_OK)
        st = fy_gguf_writer_begin_data(w);
    if (st != FY_OK)
        goto fail;
    fy_vocab_o200k_free(v);  /* the metadata is written; free it before the long part */
    v = NULL;
    if (c->sparse) {
        st = fy_gguf_writer_finish_sparse(w); /* the data section stays a hole */
        if (st != FY_OK)
            goto fail;
        fy_gguf_writer_free(w);
        fy_synth_plan_free(plan);
        return FY_OK;
    }

    nt = fy_synth_normal_table_new();
    st = nt ? write_data(c, plan, w, nt) : FY_E_NOMEM;
    if (st == FY_OK)
        st = fy_gguf_writer_finish(w);
    if (st != FY_OK)
        goto fail;
    fy_gguf_writer_free(w);
    free(nt);
    fy_synth_plan_free(plan);
    return FY_OK;
fail:
    fy_gguf_writer_free(w);  /* removes the partial .tmp file */
    free(nt);
    fy_vocab_o200k_free(v);
    fy_synth_plan_free(plan);
    return st;
}
