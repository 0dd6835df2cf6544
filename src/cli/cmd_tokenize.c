/* `ferry tokenize`: text to tokens with the model's tokenizer. */
#include "args.h"
#include "infile.h"
#include "cmd.h"
#include "gguf/gguf.h"
#include "text/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: ferry tokenize -m MODEL (-p TEXT | -f FILE) [--ids] [--special]\n\n"
    "Prints the tokens of the text: one per line as `id 'piece'`, or with --ids only the ids,\n"
    "comma-separated, on one line.\n\n"
    "  -m, --model FILE       gpt-oss GGUF (its tokenizer is used; the weights are not read)\n"
    "  -p, --prompt TEXT      text\n"
    "  -f, --file FILE        text from a file (\"-\": standard input; at most 64 MiB)\n"
    "  --ids                  print only the ids\n"
    "  --special              parse special-token strings (<|start|>...) in the text\n"
    "  -h, --help             this help\n\n"
    "exit status: 0 done, 1 runtime error, 2 usage error\n";

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if the bytes there are not one. */
static size_t utf8_len(const uint8_t *p, size_t n)
{
    size_t len = p[0] < 0x80 ? 1 : (p[0] & 0xE0) == 0xC0 ? 2 : (p[0] & 0xF0) == 0xE0 ? 3
               : (p[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (len == 0 || len > n || (len == 2 && p[0] < 0xC2))
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

/* Prints a piece with control characters and quotes escaped; bytes that are not whole UTF-8
 * characters (a token may hold part of one) as \xNN. */
static void print_piece(const uint8_t *p, size_t n)
{
    putchar('\'');
    for (size_t i = 0; i < n; i++) {
        size_t u = p[i] >= 0x80 ? utf8_len(p + i, n - i) : 1;
        if (u == 0) {
            printf("\\x%02x", p[i]);
            continue;
        }
        if (u > 1) {
            fwrite(p + i, 1, u, stdout);
            i += u - 1;
            continue;
        }
        if (p[i] == '\n')
            fputs("\\n", stdout);
        else if (p[i] == '\r')
            fputs("\\r", stdout);
        else if (p[i] == '\t')
            fputs("\\t", stdout);
        else if (p[i] == '\'' || p[i] == '\\')
            printf("\\%c", p[i]);
        else if (p[i] < 0x20 || p[i] == 0x7f)
            printf("\\x%02x", p[i]);
        else
            putchar(p[i]);
    }
    putchar('\'');
}

int fy_cmd_tokenize(int argc, char **argv)
{
    const char *model = NULL, *text = NULL, *file = NULL;
    bool ids_only = false, special = false;
    char *file_text = NULL;
    size_t len = 0;
    struct fy_gguf *g = NULL;
    struct fy_tokenizer *t = NULL;
    struct fy_tokens out = {0};
    int rc = 2; /* usage errors until the flags are read */

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!(model = fy_arg_value(argc, argv, &i)))
                goto done;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
            if (!(text = fy_arg_value(argc, argv, &i)))
                goto done;
        } else if (!strcmp(a, "-f") || !strcmp(a, "--file")) {
            if (!(file = fy_arg_value(argc, argv, &i)))
                goto done;
        } else if (!strcmp(a, "--ids")) {
            ids_only = true;
        } else if (!strcmp(a, "--special")) {
            special = true;
        } else {
            rc = fy_arg_help_or_unknown("tokenize", a, usage_text, NULL, NULL, NULL);
            goto done;
        }
    }
    if (!model || !!text + !!file != 1) {
        fy_log(FY_LOG_ERR, "tokenize: give -m MODEL and exactly one of -p TEXT, -f FILE");
        goto done;
    }
    rc = 1; /* runtime errors from here */
    if (file && !(file_text = fy_arg_read_file("-f", file, FY_LIMIT_PROMPT_FILE, &len)))
        goto done;
    if (!file)
        len = strlen(text);
    if (fy_gguf_open(model, &g) != FY_OK || fy_tokenizer_load(g, &t) != FY_OK ||
        fy_tokenize(t, file ? file_text : text, len, special, &out) != FY_OK)
        goto done;
    for (int64_t i = 0; i < out.n; i++) {
        if (ids_only) {
            printf("%s%d", i ? "," : "", out.ids[i]);
            continue;
        }
        size_t n = 0;
        const uint8_t *p = fy_token_bytes(t, out.ids[i], &n);
        printf("%6d -> ", out.ids[i]);
        print_piece(p, n);
        putchar('\n');
    }
    if (ids_only)
        putchar('\n');
    rc = 0;
done:
    fy_tokens_free(&out);
    fy_tokenizer_free(t);
    fy_gguf_close(g);
    free(file_text);
    return rc;
}
