/* The o200k_harmony tokenizer (tokenizer.md): PCRE2 pre-tokenization, byte-level BPE by rank
 * (tiktoken semantics), special tokens, and streaming detokenization. Loaded from the GGUF's
 * tokenizer.ggml.tokens / token_type; merges are not needed (ranks = ids). */
#ifndef FY_TOKENIZER_H
#define FY_TOKENIZER_H

#include "ferry.h"
#include "gguf/gguf.h"

#include <stdbool.h>

struct fy_tokenizer;

/* From a GGUF (tokenizer.ggml.model must be "gpt2"; tokens and token_type required). */
fy_status fy_tokenizer_load(const struct fy_gguf *g, struct fy_tokenizer **out);
/* From token strings in GPT-2 byte-level unicode and their types (1 normal, 3 control,
 * 4 user-defined, 5 unused...): what fy_tokenizer_load uses; tests build from the rank file.
 * A non-normal token "[PAD<id>]" (its own id; the converter's stand-in for o200k_harmony's
 * 200019..201087) becomes the control token "<|reserved_<id>|>", tiktoken's name for it. */
fy_status fy_tokenizer_from_strings(const char *const *strs, const uint64_t *lens,
                                    const int32_t *types, int64_t n,
                                    struct fy_tokenizer **out);
void fy_tokenizer_free(struct fy_tokenizer *t);

int64_t fy_tokenizer_n_vocab(const struct fy_tokenizer *t);

/* A growable id vector. */
struct fy_tokens {
    int32_t *ids;
    int64_t n;
    int64_t cap;
};
void fy_tokens_free(struct fy_tokens *v);
fy_status fy_tokens_push(struct fy_tokens *v, int32_t id);

/* Appends the tokens of text[0..len) to out. special = false: encode_ordinary (special-token
 * strings are plain text). special = true: every control or user-defined token string in the
 * text (e.g. "<|start|>", "<|reserved_200500|>"; only exact strings) becomes its id, the text
 * between is encoded ordinarily. Invalid UTF-8 is FY_E_INVAL (naming the byte offset). Linear
 * in len. */
fy_status fy_tokenize(const struct fy_tokenizer *t, const char *text, size_t len, bool special,
                      struct fy_tokens *out);

/* Id of a special token by its literal string ("<|return|>"), or -1. */
int32_t fy_tokenizer_special(const struct fy_tokenizer *t, const char *name);

/* The raw bytes of token id (specials: their literal string, "<|reserved_<id>|>" for a
 * "[PAD<id>]"). NULL for an invalid id. */
const uint8_t *fy_token_bytes(const struct fy_tokenizer *t, int32_t id, size_t *len);

/* Streaming detokenizer: holds back an incomplete UTF-8 sequence at the end of the output. */
struct fy_detok {
    uint8_t pending[8];
    int n_pending;
};
/* Appends token id's bytes; writes the complete UTF-8 prefix to out (NUL-terminated; cap must
 * be >= 256 + 8) and returns its length. */
size_t fy_detok_push(struct fy_detok *d, const struct fy_tokenizer *t, int32_t id, char *out,
                     size_t cap);
/* Flushes what is held back (invalid bytes as U+FFFD). Returns the length written. */
size_t fy_detok_flush(struct fy_detok *d, char *out, size_t cap);

#endif
