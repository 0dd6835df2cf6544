/* Shared by the libFuzzer harnesses of tests/fuzz/ (one per input surface; tools/fuzz.sh builds
 * and runs them): quiet logging, the tokenizers they parse with, and the seed writer.
 *
 * Each harness defines LLVMFuzzerInitialize and LLVMFuzzerTestOneInput. With FY_FUZZ_SEEDS=DIR
 * in the environment, LLVMFuzzerInitialize writes the harness's seed inputs (made with ferry's own
 * code: synthetic models, rendered conversations) into DIR and the program exits: tools/fuzz.sh
 * builds each corpus that way, besides the small committed seeds of tests/fuzz/corpus/NAME/.
 * FY_FUZZ_LOG=1 keeps ferry's error messages (silenced by default: they cost time). */
#ifndef FY_FUZZ_H
#define FY_FUZZ_H

#include "fy_config.h"
#include "text/tokenizer.h"
#include "text/vocab_o200k.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The toy vocabulary's size in the harnesses: 256 bytes, 21 specials (ids 256..276), pads. */
#define FY_FUZZ_TOY_VOCAB 300

static inline void fy_fuzz_quiet(void)
{
    const char *l = getenv("FY_FUZZ_LOG");
    if (!l || strcmp(l, "1"))
        fy_log_set_level((enum fy_log_level) - 1);
}

/* A finding of the harness's own checks (or a setup failure): abort, so that libFuzzer keeps the
 * input as a crash. */
static inline void fy_fuzz_die(const char *what)
{
    fprintf(stderr, "fuzz harness: %s\n", what);
    abort();
}

/* real = 1: the o200k tokenizer from the rank file ($FERRY_VOCAB, else the build's default) when
 * it exists, else the toy one; real = 0: the toy vocabulary of FY_FUZZ_TOY_VOCAB ids. */
static inline struct fy_tokenizer *fy_fuzz_tokenizer(int real)
{
    const char *path = getenv("FERRY_VOCAB");
    struct fy_vocab_o200k *v = NULL;
    struct fy_tokenizer *t = NULL;
    struct stat sb;
    if (!path || !*path)
        path = FY_DEFAULT_VOCAB;
    if (real && stat(path, &sb) != 0) {
        fprintf(stderr, "fuzz harness: rank file %s absent: the toy vocabulary instead\n", path);
        real = 0;
    }
    fy_status st =
        real ? fy_vocab_o200k_load(path, 0, &v) : fy_vocab_o200k_toy(FY_FUZZ_TOY_VOCAB, &v);
    if (st == FY_OK)
        st = fy_tokenizer_from_strings(v->tokens, v->token_lens, v->token_types, v->n_vocab, &t);
    fy_vocab_o200k_free(v);
    if (st != FY_OK)
        fy_fuzz_die("building the tokenizer failed");
    return t;
}

/* The seed folder (FY_FUZZ_SEEDS), or NULL when the harness runs normally. */
static inline const char *fy_fuzz_seed_dir(void)
{
    const char *d = getenv("FY_FUZZ_SEEDS");
    return d && *d ? d : NULL;
}

/* Writes DIR/NAME with n bytes (a failure stops the program: tools/fuzz.sh reports it). */
static inline void fy_fuzz_seed(const char *dir, const char *name, const void *p, size_t n)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0)
        fy_fuzz_die("writing a seed failed");
}

#endif
