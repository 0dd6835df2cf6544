/* Tokenizer throughput (tokenizer.md §4-§5): fy_tokenize on a seeded ~4 MiB corpus of mixed
 * prose, code, other scripts and numbers, against PCRE2 pre-tokenization alone measured in the
 * same run (so the BPE share is visible), plus single-piece stress runs. Medians of several runs.
 * Needs the o200k_base rank file (FY_DEFAULT_VOCAB or $FERRY_VOCAB); exits 77 without it.
 *   bench_tokenizer [MIB] [RUNS]      (default 4 MiB, 5 runs) */
#include "fy_config.h"
#include "text/tokenizer_priv.h"
#include "text/vocab_o200k.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "bench_util.h"

#define MAX_RUNS 32

static size_t rng_below(uint64_t *s, size_t n)
{
    return (size_t)(rng_next(s) % n);
}

#define PICK(s, arr) (arr)[rng_below(s, FY_ARRAY_LEN(arr))]

static const char *const words[] = {
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "that",
    "for",
    "it",
    "was",
    "on",
    "with",
    "as",
    "by",
    "at",
    "from",
    "this",
    "have",
    "not",
    "are",
    "but",
    "they",
    "which",
    "one",
    "all",
    "were",
    "when",
    "there",
    "can",
    "more",
    "if",
    "no",
    "out",
    "so",
    "said",
    "what",
    "up",
    "its",
    "about",
    "into",
    "than",
    "them",
    "only",
    "time",
    "people",
    "year",
    "government",
    "company",
    "number",
    "system",
    "question",
    "information",
    "development",
    "tokenizer",
    "inference",
    "memory",
    "throughput",
    "latency",
    "experiment",
    "harbor",
    "morning",
    "quietly",
    "remarkable",
    "understanding",
    "international",
    "responsibility",
    "configuration",
    "a",
    "I",
    "we",
    "you",
};
static const char *const suffixes[] = {"'s", "'re", "'ll", "'d", "'ve", "n't", "'S", "'M"};
static const char *const scripts[] = {
    "Wir fahren morgen früh nach München, weil die Großmutter Geburtstag hat.",
    "Le café au coin de la rue était plein d'étudiants qui révisaient leurs examens.",
    "Вчера вечером мы долго гуляли по набережной, погода была прекрасная.",
    "东京是日本的首都，也是世界上最大的城市之一。我们明天早上八点见面。",
    "春には桜が咲き、多くの人が公園で花見を楽しみます。",
    "서울의 겨울은 꽤 춥지만, 눈이 내리면 도시가 정말 아름다워집니다.",
    "اللغة العربية من أكثر اللغات انتشاراً في العالم، وتُكتب من اليمين إلى اليسار.",
    "हिन्दी भारत की सबसे अधिक बोली जाने वाली भाषा है।",
    "ภาษาไทยเป็นภาษาที่มีวรรณยุกต์และไม่มีการเว้นวรรคระหว่างคำ",
    "Η Αθήνα είναι μία από τις αρχαιότερες πόλεις του κόσμου.",
    "Meeting notes 🗒️ — ship it 🚀 ✅ 👩‍💻👨‍💻 (ETA: Friday 🤞)",
    "Tiếng Việt sử dụng bảng chữ cái Latinh với nhiều dấu thanh.",
};
static const char *const idents[] = {"i",    "n",     "buf",    "len",    "ctx",
                                     "node", "count", "result", "self",   "items",
                                     "x",    "y",     "tensor", "offset", "value"};
static const char *const code_lines[] = {
    "for (size_t %s = 0; %s < n; %s++) {\n",
    "    if (%s == NULL || %s->len == 0)\n",
    "        return %s;\n",
    "def %s(%s, %s=None):\n",
    "    %s = [v * 2 for v in %s if v]\n",
    "const %s = await fetch(`/api/%s/${%s}`);\n",
    "}\n",
    "\n",
    "    # TODO: handle %s\n",
    "let %s: Vec<u64> = %s.iter().map(|v| v + 1).collect();\n",
    "SELECT %s FROM %s WHERE %s > 0;\n",
};

struct buf {
    char *p;
    size_t n, cap;
};

static void put(struct buf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        while (b->n + n + 1 > b->cap)
            b->cap = b->cap ? b->cap * 2 : 1 << 20;
        b->p = realloc(b->p, b->cap);
        if (!b->p) {
            fprintf(stderr, "bench_tokenizer: out of memory\n");
            exit(1);
        }
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void puts_(struct buf *b, const char *s)
{
    put(b, s, strlen(s));
}

static void prose(struct buf *b, uint64_t *rng)
{
    size_t n = 20 + rng_below(rng, 120);
    int cap = 1;
    char w[64];
    for (size_t i = 0; i < n; i++) {
        const char *word = PICK(rng, words);
        size_t r = rng_below(rng, 100);
        if (r < 4)
            snprintf(w, sizeof(w), "%zu", rng_below(rng, 100000));
        else if (cap || r < 6)
            snprintf(w, sizeof(w), "%c%s", word[0] >= 'a' ? word[0] - 32 : word[0], word + 1);
        else
            snprintf(w, sizeof(w), "%s", word);
        cap = 0;
        if (i)
            puts_(b, " ");
        puts_(b, w);
        r = rng_below(rng, 100);
        if (r < 3)
            puts_(b, PICK(rng, suffixes));
        else if (r < 10) {
            puts_(b, r < 8 ? "." : "?");
            cap = 1;
        } else if (r < 16)
            puts_(b, r < 14 ? "," : ";");
    }
    puts_(b, ".");
}

static void code(struct buf *b, uint64_t *rng)
{
    size_t n = 3 + rng_below(rng, 15);
    char line[256];
    for (size_t i = 0; i < n; i++) {
        const char *a = PICK(rng, idents), *c = PICK(rng, idents), *d = PICK(rng, idents);
        size_t depth = rng_below(rng, 3);
        for (size_t k = 0; k < depth; k++)
            puts_(b, "    ");
        snprintf(line, sizeof(line), PICK(rng, code_lines), a, c, d);
        puts_(b, line);
    }
}

static void numbers(struct buf *b, uint64_t *rng)
{
    char cell[64];
    size_t rows = 2 + rng_below(rng, 8);
    for (size_t r = 0; r < rows; r++) {
        snprintf(cell, sizeof(cell), "| %zu | %zu.%02zu | %zu,%03zu |\n", rng_below(rng, 1000),
                 rng_below(rng, 10000), rng_below(rng, 100), rng_below(rng, 1000),
                 rng_below(rng, 1000));
        puts_(b, cell);
    }
}

/* A seeded corpus of at least `bytes` bytes, cut at a paragraph boundary. */
static struct buf corpus(size_t bytes, uint64_t seed)
{
    struct buf b = {0};
    uint64_t rng = seed;
    static const char *const seps[] = {"\n\n", "\n\n", "\n", "\r\n\r\n", "\n\n\n", "  \n"};
    while (b.n < bytes) {
        size_t r = rng_below(&rng, 100);
        if (r < 55)
            prose(&b, &rng);
        else if (r < 75)
            code(&b, &rng);
        else if (r < 92)
            for (size_t k = 0, n = 1 + rng_below(&rng, 4); k < n; k++) {
                puts_(&b, PICK(&rng, scripts));
                puts_(&b, " ");
            }
        else
            numbers(&b, &rng);
        puts_(&b, PICK(&rng, seps));
    }
    return b;
}

/* Median seconds of fy_tokenize (or pre-tokenization alone) over runs; *count gets the tokens
 * (pieces). Returns a negative time on error. */
static double time_it(const struct fy_tokenizer *t, const char *s, size_t n, int mode, int runs,
                      int64_t *count)
{
    double dt[MAX_RUNS];
    struct fy_tokens out = {0};
    for (int r = 0; r < runs; r++) {
        fy_status st;
        double t0 = now_s();
        if (mode == 0) {
            st = fy_tok_pretokenize(t, s, n, count);
        } else {
            out.n = 0;
            st = fy_tokenize(t, s, n, mode == 2, &out);
            *count = out.n;
        }
        dt[r] = now_s() - t0;
        if (st != FY_OK) {
            fy_tokens_free(&out);
            return -1;
        }
    }
    fy_tokens_free(&out);
    return median(dt, runs);
}

int main(int argc, char **argv)
{
    struct fy_vocab_o200k *v = NULL;
    struct fy_tokenizer *t = NULL;
    struct stat sb;
    int rc = 1;
    double mib = argc > 1 ? atof(argv[1]) : 4.0;
    int runs = argc > 2 ? atoi(argv[2]) : 5;
    if (mib <= 0 || mib > 256 || runs < 1 || runs > MAX_RUNS) {
        fprintf(stderr, "usage: bench_tokenizer [MIB (0, 256]] [RUNS 1..%d]\n", MAX_RUNS);
        return 2;
    }
    const char *vocab = getenv("FERRY_VOCAB");
    if (!vocab || !*vocab)
        vocab = FY_DEFAULT_VOCAB;
    if (stat(vocab, &sb) != 0) {
        printf("skip: rank file %s absent (tools/setup-vocab.sh)\n", vocab);
        return 77;
    }
    if (fy_vocab_o200k_load(vocab, 0, &v) != FY_OK ||
        fy_tokenizer_from_strings(v->tokens, v->token_lens, v->token_types, v->n_vocab, &t) !=
            FY_OK) {
        fprintf(stderr, "bench_tokenizer: cannot build the tokenizer from %s\n", vocab);
        goto done;
    }

    struct buf c = corpus((size_t)(mib * 1048576.0), 1);
    int64_t n_pieces = 0, n_tok = 0, n_tok_sp = 0;
    double t_pre = time_it(t, c.p, c.n, 0, runs, &n_pieces);
    double t_tok = time_it(t, c.p, c.n, 1, runs, &n_tok);
    double t_sp = time_it(t, c.p, c.n, 2, runs, &n_tok_sp);
    if (t_pre < 0 || t_tok < 0 || t_sp < 0) {
        fprintf(stderr, "bench_tokenizer: tokenization failed\n");
        free(c.p);
        goto done;
    }
    double mb = (double)c.n / 1e6;
    printf("tokenizer: corpus %.2f MiB (seed 1: prose, code, 12 scripts, numbers), median of %d "
           "runs, PCRE2 JIT %s\n",
           (double)c.n / 1048576.0, runs, t->jit ? "on" : "off");
    printf("  pre-tokenize only (baseline) %8.4f s %7.1f MB/s  %lld pieces\n", t_pre, mb / t_pre,
           (long long)n_pieces);
    printf("  fy_tokenize                  %8.4f s %7.1f MB/s  %lld tokens, %.2f M tokens/s\n",
           t_tok, mb / t_tok, (long long)n_tok, (double)n_tok / t_tok / 1e6);
    printf("  fy_tokenize special=true     %8.4f s %7.1f MB/s\n", t_sp, mb / t_sp);
    printf("  ratio fy_tokenize / baseline: %.2fx (BPE and lookups: %.0f%% of the time)\n",
           t_tok / t_pre, 100.0 * (t_tok - t_pre) / t_tok);
    free(c.p);

    /* single pieces: the long-piece BPE path */
    static const char *const units[] = {"x", " ", "\xe4\xb8\xad", "ab"};
    static const char *const names[] = {"'x'", "' '", "U+4E2D", "'ab'"};
    for (size_t u = 0; u < FY_ARRAY_LEN(units); u++) {
        size_t ul = strlen(units[u]), n = (1u << 20) / ul;
        char *s = malloc(n * ul);
        if (!s)
            goto done;
        for (size_t i = 0; i < n; i++)
            memcpy(s + i * ul, units[u], ul);
        int64_t nt = 0;
        double dt = time_it(t, s, n * ul, 1, runs < 3 ? runs : 3, &nt);
        free(s);
        if (dt < 0)
            goto done;
        printf("  1 MiB of %-6s (one piece)  %8.4f s %7.1f MB/s  %lld tokens\n", names[u], dt,
               (double)(n * ul) / 1e6 / dt, (long long)nt);
    }
    rc = 0;
done:
    fy_tokenizer_free(t);
    fy_vocab_o200k_free(v);
    return rc;
}
