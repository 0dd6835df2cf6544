/* `ferry logits`: every row of logits of a token sequence, to a file. */
#include "args.h"
#include "cli_common.h"
#include "placement/placement.h"
#include "cmd.h"
#include "graph/session.h"
#include "model/model.h"
#include "outfile.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: ferry logits -m MODEL (--tokens IDS | --tokens-file F) -o FILE [options]\n\n"
    "Evaluates the tokens as one sequence and writes n_tokens x n_vocab float32 (little-endian)\n"
    "logits to FILE; row i = logits after token i.\n\n"
    "  -o, --output FILE      output file: a regular file is written beside it and renamed\n"
    "                         into place; a FIFO or device is written in place; \"-\" is\n"
    "                         standard output. A symbolic link keeps pointing at the file.\n"
    "exit status: 0 written, 1 runtime error (nothing left at -o), 2 usage error\n\n";

struct logits_out {
    struct fy_outfile *out;
    int64_t done, total;
    bool tty;
};

static fy_status write_rows(void *ud, int64_t row0, int64_t n_rows, const float *logits,
                            int64_t n_vocab)
{
    struct logits_out *w = ud;
    (void)row0;
    size_t n = (size_t)n_rows * (size_t)n_vocab;
    if (fwrite(logits, sizeof(float), n, fy_outfile_fp(w->out)) != n) {
        fy_outfile_fail(w->out, errno);
        return FY_E_IO;
    }
    w->done += n_rows;
    if (w->tty)
        fprintf(stderr, "\rferry: logits %lld/%lld tokens", (long long)w->done,
                (long long)w->total);
    return FY_OK;
}

int fy_cmd_logits(int argc, char **argv)
{
    struct fy_cli o;
    const char *out_path = NULL;
    struct fy_model *m = NULL;
    struct fy_session *s = NULL;
    struct logits_out w = {0};
    int rc = 2; /* usage errors until the flags are read */

    if (fy_cli_init(&o) != FY_OK) {
        rc = 1;
        goto done;
    }
    for (int i = 1; i < argc; i++) {
        int r = fy_cli_parse_common(&o, argc, argv, &i);
        if (r < 0)
            goto done;
        if (r > 0)
            continue;
        if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) {
            if (!(out_path = fy_arg_value(argc, argv, &i)))
                goto done;
        } else {
            rc = fy_arg_help_or_unknown("logits", argv[i], usage_text, fy_cli_help_common,
                                        fy_place_help, NULL);
            goto done;
        }
    }
    if (!fy_cli_check_tokens(&o, "logits"))
        goto done;
    if (!out_path) {
        fy_log(FY_LOG_ERR, "logits: -o FILE is required");
        goto done;
    }
    rc = 1; /* runtime errors from here */
    /* the output first: a path that cannot be written fails before the model loads */
    w.total = o.n_tokens;
    w.tty = isatty(2);
    if (fy_outfile_open("-o", out_path, &w.out) != FY_OK)
        goto done;
    if (fy_cli_open(&o, o.n_tokens, &m, &s) != FY_OK)
        goto done;
    fy_status st = fy_session_eval(s, o.tokens, o.n_tokens, true, write_rows, &w);
    if (w.tty && w.done)
        fputc('\n', stderr);
    struct fy_outfile *out = w.out;
    w.out = NULL;
    if (st != FY_OK) {
        fy_outfile_discard(out);
    } else if (fy_outfile_commit(out) == FY_OK) {
        fy_cli_report(&o, s);
        rc = 0;
    }
done:
    fy_outfile_discard(w.out);
    fy_session_free(s);
    fy_cli_free(&o);
    fy_model_free(m);
    return rc;
}
