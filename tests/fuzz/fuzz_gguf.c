/* Fuzzes a model file's bytes: the GGUF reader (fy_gguf_open_mem: header, kvs, arrays, tensor
 * infos and data ranges), every accessor on what it accepts, and the consumers of an opened file:
 * the tokenizer loader, placement's model numbers and the gpt-oss model loader. The input buffer
 * is exactly the file, so a read past a tensor's data or a string's end is a heap overflow that
 * AddressSanitizer reports.
 * Seeds (FY_FUZZ_SEEDS): small synthetic models with the toy vocabulary (each dtype, fused and
 * separate gate/up), and their header alone. */
#include "fuzz.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "model/synth.h"
#include "placement/placement.h"

#include <unistd.h>

static volatile uint64_t sink; /* keeps the reads of the walk */

/* Every kv through its accessors, every tensor's first and last data byte. */
static void walk(const struct fy_gguf *g)
{
    for (int64_t i = 0; i < fy_gguf_n_kv(g); i++) {
        const struct fy_gguf_kv *kv = fy_gguf_kv_at(g, i);
        char key[256];
        snprintf(key, sizeof(key), "%.*s", (int)(kv->key.len > 255 ? 255 : kv->key.len),
                 kv->key.ptr);
        if (fy_gguf_find_kv(g, key) == NULL && strlen(key) == kv->key.len)
            fy_fuzz_die("a key the reader listed is not found by name");
        uint32_t u;
        float f;
        char buf[64];
        fy_gguf_get_u32(g, key, &u);
        fy_gguf_get_f32(g, key, &f);
        fy_gguf_get_str(g, key, buf, sizeof(buf));
        if (kv->type == FY_GGUF_STR && kv->v.s.len)
            sink += (uint8_t)kv->v.s.ptr[kv->v.s.len - 1];
        if (kv->type != FY_GGUF_ARR)
            continue;
        /* the first, the last and a few in between */
        for (uint64_t k = 0; k < kv->arr_n; k = k < 4 ? k + 1 : k * 3 + 1) {
            struct fy_gguf_str s;
            int64_t x;
            if (fy_gguf_arr_str(kv, k, &s) == FY_OK && s.len)
                sink += (uint8_t)s.ptr[s.len - 1];
            if (fy_gguf_arr_int(kv, k, &x) == FY_OK)
                sink += (uint64_t)x;
        }
        if (kv->arr_n) {
            struct fy_gguf_str s;
            int64_t x;
            if (fy_gguf_arr_str(kv, kv->arr_n - 1, &s) == FY_OK && s.len)
                sink += (uint8_t)s.ptr[s.len - 1];
            if (fy_gguf_arr_int(kv, kv->arr_n - 1, &x) == FY_OK)
                sink += (uint64_t)x;
        }
    }
    for (int64_t i = 0; i < fy_gguf_n_tensors(g); i++) {
        const struct fy_gguf_tensor *t = fy_gguf_tensor_at(g, i);
        if (fy_gguf_find_tensor(g, t->name) != t)
            fy_fuzz_die("a tensor the reader listed is not found by name");
        if (t->size) {
            const uint8_t *d = t->data;
            sink += d[0] + d[t->size - 1];
        }
    }
}

/* The tokenizer the file carries, on a text with special tokens, and back. */
static void tokenizer(const struct fy_gguf *g)
{
    static const char text[] = "<|start|>user<|message|>Hi \xc3\xa9t\xc3\xa9 42!<|end|>";
    struct fy_tokenizer *t = NULL;
    struct fy_tokens v = {0};
    if (fy_tokenizer_load(g, &t) != FY_OK)
        return;
    for (int special = 0; special < 2; special++) {
        v.n = 0;
        if (fy_tokenize(t, text, sizeof(text) - 1, special, &v) != FY_OK)
            continue;
        struct fy_detok d = {0};
        char out[512];
        for (int64_t i = 0; i < v.n; i++)
            sink += fy_detok_push(&d, t, v.ids[i], out, sizeof(out));
        sink += fy_detok_flush(&d, out, sizeof(out));
    }
    fy_tokens_free(&v);
    fy_tokenizer_free(t);
}

/* Placement's numbers and a default placement of the file's tensors. */
static void placement(const struct fy_gguf *g)
{
    struct fy_place_dims dims;
    struct fy_place_rules *r = NULL;
    struct fy_placement *p = NULL;
    if (fy_place_dims_from_gguf(g, &dims) != FY_OK || fy_place_rules_new(&r) != FY_OK)
        return;
    fy_place_rules_set_ngl(r, 99);
    if (fy_placement_new(r, g, &dims, &p) == FY_OK) {
        struct fy_expert_path ep;
        for (int64_t l = 0; l < dims.n_layer && l < 64; l++)
            fy_place_experts(p, (int)l, 1, &ep);
    }
    fy_placement_free(p);
    fy_place_rules_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fy_gguf *g = NULL;
    struct fy_model *m = NULL;
    if (fy_gguf_open_mem(data, size, "fuzz.gguf", &g) != FY_OK) {
        if (g)
            fy_fuzz_die("a failed open left a handle");
        return 0;
    }
    walk(g);
    tokenizer(g);
    placement(g);
    if (fy_model_from_gguf(g, &m) == FY_OK) /* takes g over */
        sink += fy_model_weight_bytes(m);
    fy_model_free(m);
    return 0;
}

/* ---- seeds ---- */

static void seed_model(const char *dir, const char *name, int variant)
{
    struct fy_synth_config c;
    char path[4096];
    fy_synth_preset("tiny", &c);
    c.n_layer = 2;
    c.d_model = 32;
    c.n_head = 2;
    c.n_head_kv = 1;
    c.head_dim = 16;
    c.n_expert = 2;
    c.n_expert_used = 1;
    c.n_ff_exp = 32;
    c.n_vocab = 280;
    c.toy_vocab = 1;
    c.sliding_window = 8;
    c.progress = 0;
    c.seed = (uint64_t)variant;
    if (variant == 1) {
        c.dense_type = FY_F32;
        c.expert_type = FY_BF16;
    } else if (variant == 2) {
        c.dense_type = FY_BF16;
        c.fused_gate_up = 1;
    } else if (variant == 3) {
        c.dense_type = FY_F16;
        c.expert_type = FY_F32;
    }
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (fy_synth_write(&c, NULL, path) != FY_OK)
        fy_fuzz_die("synth of a seed model failed");
}

/* The file's header alone (kvs and tensor infos, no data): the reader refuses it, at the end. */
static void seed_header(const char *dir, const char *from, const char *name)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, from);
    FILE *f = fopen(path, "rb");
    static uint8_t buf[1 << 20];
    size_t n = f ? fread(buf, 1, sizeof(buf), f) : 0;
    if (f)
        fclose(f);
    struct fy_gguf *g = NULL;
    if (fy_gguf_open_mem(buf, n, from, &g) != FY_OK)
        fy_fuzz_die("a seed model does not open");
    const struct fy_gguf_tensor *t0 = fy_gguf_tensor_at(g, 0);
    size_t hdr = (size_t)((const uint8_t *)t0->data - buf - t0->offset);
    fy_gguf_close(g);
    fy_fuzz_seed(dir, name, buf, hdr);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *dir = fy_fuzz_seed_dir();
    fy_fuzz_quiet();
    if (!dir)
        return 0;
    seed_model(dir, "q8_0-mxfp4.gguf", 0);
    seed_model(dir, "f32-bf16.gguf", 1);
    seed_model(dir, "bf16-fused.gguf", 2);
    seed_model(dir, "f16-f32.gguf", 3);
    seed_header(dir, "q8_0-mxfp4.gguf", "header-only.gguf");
    exit(0);
}
