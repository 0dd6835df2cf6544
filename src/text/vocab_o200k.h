/* The o200k_harmony vocabulary as llama.cpp's converter stores it in a gpt-oss GGUF
 * (tokenizer.md §1-§3, §6), built from OpenAI's o200k_base.tiktoken rank file. */
#ifndef FY_VOCAB_O200K_H
#define FY_VOCAB_O200K_H

#include "ferry.h"

#define FY_O200K_N_BASE 199998     /* mergeable tokens in o200k_base (ranks 0..199997) */
#define FY_O200K_N_SPECIAL 21      /* ids n_base .. n_base+20: harmony specials */
#define FY_O200K_N_VOCAB 201088    /* rows of the gpt-oss embedding / output matrices */
#define FY_O200K_N_MERGES 446189   /* "all valid splits" merges of o200k_base */

enum fy_token_type {
    FY_TOKEN_NORMAL = 1,
    FY_TOKEN_CONTROL = 3,
    FY_TOKEN_UNUSED = 5,
};

/* Arrays ready for fy_gguf_writer_kv_str_arr / kv_i32_arr. Strings are not NUL-terminated
 * (use the lengths); they point into blobs owned by the struct. */
struct fy_vocab_o200k {
    int64_t n_vocab;             /* ids: n_base mergeable + 21 specials + pads */
    int64_t n_base;              /* mergeable tokens: ranks 0 .. n_base-1 */
    const char **tokens;         /* [n_vocab] byte-level unicode (GPT-2 bytes_to_unicode) */
    uint64_t *token_lens;        /* [n_vocab] */
    int32_t *token_types;        /* [n_vocab] enum fy_token_type */
    int64_t n_merges;
    const char **merges;         /* [n_merges] "left right", byte-level unicode */
    uint64_t *merge_lens;        /* [n_merges] */
    uint32_t bos_id;             /* <|startoftext|>: n_base (199998) */
    uint32_t eos_id;             /* <|return|>: n_base + 4 (200002) */
    uint32_t pad_id;             /* <|endoftext|>: n_base + 1 (199999) */
    int toy;                     /* 1: built by fy_vocab_o200k_toy */
    /* private */
    char *tok_blob;
    char *merge_blob;
};

/* Loads a .tiktoken rank file (lines "base64 rank", ranks 0..N-1 in order; errors name the file
 * and line) and builds tokens, types and merges exactly like llama.cpp's gpt-oss converter.
 * Specials take ids N .. N+20 and pads "[PAD<id>]" (UNUSED) fill up to n_vocab
 * (0 means FY_O200K_N_VOCAB). With the real o200k_base file: 201088 tokens, 446189 merges. */
fy_status fy_vocab_o200k_load(const char *path, int64_t n_vocab, struct fy_vocab_o200k **out);

/* Toy vocabulary for tests without the rank file: ids 0..255 are the single bytes in o200k's
 * order (so 198 is "\n" -> "Ċ" and 220 is " " -> "Ġ", as in the real vocabulary), ids
 * 256..276 the 21 specials (bos 256, pad 257, eos 260), then pads up to n_vocab (>= 277).
 * No merges. */
fy_status fy_vocab_o200k_toy(int64_t n_vocab, struct fy_vocab_o200k **out);

void fy_vocab_o200k_free(struct fy_vocab_o200k *v);

/* GPT-2 bytes_to_unicode: writes the UTF-8 form (1 or 2 bytes) of byte b's stand-in character
 * to out and returns its length. */
int fy_byte_to_unicode(uint8_t b, char out[2]);

/* The literal string of special token k (0..20) at id n_base + k, tokenizer.md §6
 * ("<|reserved_<id>|>" for the unnamed ones, written with the real id n_base + k). */
void fy_o200k_special_name(int64_t n_base, int k, char *buf, size_t cap);

#endif
