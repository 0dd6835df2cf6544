/* Tests that need the real o200k tokenizer build it from the rank file (no GGUF needed). */
#ifndef FY_TEST_TOK_H
#define FY_TEST_TOK_H

#include "fy_config.h"
#include "fy_test.h"
#include "text/tokenizer.h"
#include "text/vocab_o200k.h"

#include <sys/stat.h>

/* 0 with *out set, FY_TEST_SKIP when the rank file ($FERRY_VOCAB or FY_DEFAULT_VOCAB) is
 * absent, FY_TEST_HARD when building fails. */
static inline int fy_test_tokenizer(struct fy_tokenizer **out)
{
    const char *path = getenv("FERRY_VOCAB");
    struct stat sb;
    struct fy_vocab_o200k *v = NULL;
    if (!path || !*path)
        path = FY_DEFAULT_VOCAB;
    if (stat(path, &sb) != 0) {
        printf("skip: rank file %s absent (bash tools/setup-vocab.sh)\n", path);
        return FY_TEST_SKIP;
    }
    if (fy_vocab_o200k_load(path, 0, &v) != FY_OK ||
        fy_tokenizer_from_strings(v->tokens, v->token_lens, v->token_types, v->n_vocab, out) !=
            FY_OK) {
        fprintf(stderr, "FAIL: building the tokenizer from %s\n", path);
        fy_vocab_o200k_free(v);
        return FY_TEST_HARD;
    }
    fy_vocab_o200k_free(v);
    return 0;
}

#endif
