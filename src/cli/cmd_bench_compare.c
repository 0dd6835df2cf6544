/* `ferry bench-compare BASE.jsonl NEW.jsonl`: pairs the test rows of two `ferry bench -o jsonl`
 * files and flags the ones that got slower beyond both a threshold and the recorded spread. */
#include "args.h"
#include "cmd.h"
#include "infile.h"
#include "json_lite.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: ferry bench-compare BASE.jsonl NEW.jsonl [--threshold PCT]\n\n"
    "Reads two files written by `ferry bench -o jsonl` (several runs may be concatenated) and\n"
    "pairs their test rows by (model, name, n_depth, n_ubatch, n_threads); a key absent from a\n"
    "row matches only rows without it.\n"
    "For each pair, with b and n the base and new median_ts, sb and sn their stddev_ts (0 when\n"
    "absent), drop = b - n:\n"
    "  REGRESSION  drop > b x PCT/100  and  drop > sb + sn\n"
    "  noise       drop > b x PCT/100  but drop <= sb + sn   (slower, within the spread)\n"
    "  faster      -drop > b x PCT/100 and -drop > sb + sn\n"
    "  same        otherwise\n"
    "Rows found in only one file are listed; they do not fail the comparison. Each file may\n"
    "hold at most 64 MiB.\n\n"
    "  --threshold PCT        relative slow-down that counts (default 5)\n"
    "  -h, --help             this help\n\n"
    "exit status: 0 no regression, 1 some row is a REGRESSION, 2 usage or file format error\n"
    "(the message names the file and line)\n";

struct cmp_row {
    char *name;
    char *model;                   /* "" when absent */
    double depth, ubatch, threads; /* -1 when absent */
    double median, stddev;
    int line;
    bool paired;
};

struct cmp_file {
    const char *path;
    struct cmp_row *rows;
    int64_t n;
    char *git; /* build_git of the run object, or NULL */
    char *cpu;
};

static void cmp_file_free(struct cmp_file *f)
{
    for (int64_t i = 0; i < f->n; i++) {
        free(f->rows[i].name);
        free(f->rows[i].model);
    }
    free(f->rows);
    free(f->git);
    free(f->cpu);
    memset(f, 0, sizeof(*f));
}

static bool same_key(const struct cmp_row *a, const struct cmp_row *b)
{
    return !strcmp(a->name, b->name) && !strcmp(a->model, b->model) && a->depth == b->depth &&
           a->ubatch == b->ubatch && a->threads == b->threads;
}

static char *dup_str(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* One test object into f->rows; FY_E_FORMAT logged with the file and line. */
static fy_status add_row(struct cmp_file *f, const struct fy_jl_obj *o, int line)
{
    static const char *const need[] = {"n_depth", "median_ts"};
    struct cmp_row r = {.depth = -1, .ubatch = -1, .threads = -1, .line = line};
    const char *name = fy_jl_str(o, "name");
    if (!name) {
        fy_log(FY_LOG_ERR, "%s:%d: test object without \"name\" (a string)", f->path, line);
        return FY_E_FORMAT;
    }
    for (size_t k = 0; k < FY_ARRAY_LEN(need); k++) {
        double x;
        if (!fy_jl_num(o, need[k], &x)) {
            fy_log(FY_LOG_ERR, "%s:%d: test object without \"%s\" (a number)", f->path, line,
                   need[k]);
            return FY_E_FORMAT;
        }
    }
    fy_jl_num(o, "n_depth", &r.depth);
    fy_jl_num(o, "median_ts", &r.median);
    fy_jl_num(o, "n_ubatch", &r.ubatch);
    fy_jl_num(o, "n_threads", &r.threads);
    if (!fy_jl_num(o, "stddev_ts", &r.stddev))
        r.stddev = 0;
    if (!(r.median > 0) || !(r.stddev >= 0)) {
        fy_log(FY_LOG_ERR, "%s:%d: median_ts must be > 0 and stddev_ts >= 0", f->path, line);
        return FY_E_FORMAT;
    }
    const char *model = fy_jl_str(o, "model");
    r.name = (char *)name;
    r.model = (char *)(model ? model : "");
    for (int64_t i = 0; i < f->n; i++)
        if (same_key(&f->rows[i], &r)) {
            fy_log(FY_LOG_ERR,
                   "%s:%d: test \"%s\" repeats line %d (same model, depth, ubatch, "
                   "threads)",
                   f->path, line, name, f->rows[i].line);
            return FY_E_FORMAT;
        }
    struct cmp_row *nr = realloc(f->rows, (size_t)(f->n + 1) * sizeof(*nr));
    if (!nr)
        return FY_E_NOMEM;
    f->rows = nr;
    r.name = strdup(name);
    r.model = strdup(r.model);
    if (!r.name || !r.model) {
        free(r.name);
        free(r.model);
        return FY_E_NOMEM;
    }
    f->rows[f->n++] = r;
    return FY_OK;
}

static fy_status read_file(const char *path, struct cmp_file *f)
{
    char *text = NULL;
    size_t size = 0;
    int ln = 0;
    char err[160];
    struct fy_jl_obj o = {0};
    fy_status st;

    memset(f, 0, sizeof(*f));
    f->path = path;
    if ((st = fy_infile_read("bench-compare", path, FY_LIMIT_JSONL_FILE, &text, &size)) != FY_OK)
        return st;
    for (char *line = text, *end = text + size; line < end;) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        size_t len = nl ? (size_t)(nl - line) : (size_t)(end - line);
        char *next = nl ? nl + 1 : end;
        ln++;
        if (memchr(line, '\0', len)) {
            fy_log(FY_LOG_ERR, "%s:%d: NUL byte in the line", path, ln);
            st = FY_E_FORMAT;
            goto fail;
        }
        line[len] = '\0';
        if (strspn(line, " \t\r") == len) {
            line = next;
            continue;
        }
        if ((st = fy_jl_parse(line, &o, err, sizeof(err))) != FY_OK) {
            fy_log(FY_LOG_ERR, "%s:%d: not a flat JSON object: %s", path, ln, err);
            goto fail;
        }
        const char *type = fy_jl_str(&o, "type");
        if (type && !strcmp(type, "run")) {
            free(f->git);
            free(f->cpu);
            f->git = dup_str(fy_jl_str(&o, "build_git"));
            f->cpu = dup_str(fy_jl_str(&o, "cpu"));
        } else if ((type && !strcmp(type, "test")) || (!type && fy_jl_get(&o, "name"))) {
            if ((st = add_row(f, &o, ln)) != FY_OK)
                goto fail;
        } else {
            fy_log(FY_LOG_ERR,
                   "%s:%d: neither a run object nor a test object (\"type\": "
                   "\"run\" or \"test\")",
                   path, ln);
            st = FY_E_FORMAT;
            goto fail;
        }
        fy_jl_free(&o);
        line = next;
    }
    if (f->n == 0) {
        fy_log(FY_LOG_ERR, "%s:%d: no test rows in the file", path, ln);
        st = FY_E_FORMAT;
        goto fail;
    }
    free(text);
    return FY_OK;
fail:
    fy_jl_free(&o);
    free(text);
    cmp_file_free(f);
    return st;
}

enum verdict { V_SAME, V_FASTER, V_NOISE, V_REGRESSION };

static const char *const verdict_name[] = {"same", "faster", "noise (slower, within spread)",
                                           "REGRESSION"};

/* The rule of the -h text. */
static enum verdict judge(const struct cmp_row *b, const struct cmp_row *n, double thr_pct)
{
    const double drop = b->median - n->median;
    const double limit = b->median * thr_pct / 100.0;
    const double spread = b->stddev + n->stddev;
    if (drop > limit)
        return drop > spread ? V_REGRESSION : V_NOISE;
    if (-drop > limit && -drop > spread)
        return V_FASTER;
    return V_SAME;
}

static void fmt_key(char *buf, size_t cap, double x)
{
    if (x < 0)
        snprintf(buf, cap, "-");
    else
        snprintf(buf, cap, "%.0f", x);
}

static void print_only(const struct cmp_file *f, const char *which)
{
    for (int64_t i = 0; i < f->n; i++) {
        const struct cmp_row *r = &f->rows[i];
        char ub[24], th[24];
        if (r->paired)
            continue;
        fmt_key(ub, sizeof(ub), r->ubatch);
        fmt_key(th, sizeof(th), r->threads);
        printf("only in %s (%s:%d): %s%s%s (ub %s, threads %s), %.2f t/s\n", which, f->path,
               r->line, r->model, r->model[0] ? " " : "", r->name, ub, th, r->median);
    }
}

static int compare(struct cmp_file *base, struct cmp_file *nw, double thr)
{
    static const char dashes[] = "------------------------------------------------------------"
                                 "------------------------------------------------------------";
    int name_w = 4, model_w = 5, n_reg = 0, n_pairs = 0, n_only = 0;
    for (int64_t i = 0; i < base->n; i++) {
        int l = (int)strlen(base->rows[i].name);
        name_w = l > name_w ? l : name_w;
        name_w = name_w > 120 ? 120 : name_w;
        l = (int)strlen(base->rows[i].model);
        model_w = l > model_w ? l : model_w;
        model_w = model_w > 120 ? 120 : model_w;
    }
    printf("base: %s (build %s, cpu %s)\n", base->path, base->git ? base->git : "?",
           base->cpu ? base->cpu : "?");
    printf("new:  %s (build %s, cpu %s)\n", nw->path, nw->git ? nw->git : "?",
           nw->cpu ? nw->cpu : "?");
    printf("threshold %.2f%%; REGRESSION = slower by more than the threshold and by more than "
           "stddev(base) + stddev(new)\n\n",
           thr);
    printf("| %-*s | %-*s | %5s | %7s | %12s | %12s | %8s | %-21s | %-29s |\n", model_w, "model",
           name_w, "test", "ub", "threads", "base t/s", "new t/s", "change", "spread base / new",
           "verdict");
    printf("| %.*s | %.*s | ----: | ------: | -----------: | -----------: | -------: | %.21s | "
           "%.29s |\n",
           model_w, dashes, name_w, dashes, dashes, dashes);
    for (int64_t i = 0; i < base->n; i++) {
        struct cmp_row *b = &base->rows[i];
        struct cmp_row *n = NULL;
        for (int64_t k = 0; k < nw->n && !n; k++)
            if (!nw->rows[k].paired && same_key(b, &nw->rows[k]))
                n = &nw->rows[k];
        if (!n)
            continue;
        b->paired = n->paired = true;
        n_pairs++;
        enum verdict v = judge(b, n, thr);
        n_reg += v == V_REGRESSION;
        char ub[24], th[24], spread[48];
        fmt_key(ub, sizeof(ub), b->ubatch);
        fmt_key(th, sizeof(th), b->threads);
        snprintf(spread, sizeof(spread), "±%.2f / ±%.2f", b->stddev, n->stddev);
        printf("| %-*s | %-*s | %5s | %7s | %12.2f | %12.2f | %+7.2f%% | %-23s | %-29s |\n",
               model_w, b->model, name_w, b->name, ub, th, b->median, n->median,
               (n->median - b->median) / b->median * 100.0, spread, verdict_name[v]);
    }
    for (int64_t i = 0; i < base->n; i++)
        n_only += !base->rows[i].paired;
    for (int64_t i = 0; i < nw->n; i++)
        n_only += !nw->rows[i].paired;
    if (n_only)
        putchar('\n');
    print_only(base, "base");
    print_only(nw, "new");
    printf("\n%d compared, %d only in one file, %d regression%s\n", n_pairs, n_only, n_reg,
           n_reg == 1 ? "" : "s");
    return n_reg ? 1 : 0;
}

int fy_cmd_bench_compare(int argc, char **argv)
{
    const char *paths[2] = {NULL, NULL};
    int n_paths = 0;
    float thr = 5.0f;
    struct cmp_file base = {0}, nw = {0};
    int rc = 2;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--threshold")) {
            if (!(v = fy_arg_value(argc, argv, &i)) || fy_arg_float(a, v, 0, 1000, &thr) != FY_OK)
                return 2;
        } else if (a[0] == '-' && a[1] != '\0') {
            return fy_arg_help_or_unknown("bench-compare", a, usage_text, NULL, NULL, NULL);
        } else if (n_paths < 2) {
            paths[n_paths++] = a;
        } else {
            fy_log(FY_LOG_ERR,
                   "bench-compare: one BASE and one NEW file, not \"%s\" as well "
                   "(see ferry bench-compare -h)",
                   a);
            return 2;
        }
    }
    if (n_paths != 2) {
        fy_log(FY_LOG_ERR, "bench-compare: BASE.jsonl and NEW.jsonl are required (see ferry "
                           "bench-compare -h)");
        return 2;
    }
    if (read_file(paths[0], &base) != FY_OK || read_file(paths[1], &nw) != FY_OK)
        goto done;
    rc = compare(&base, &nw, thr);
done:
    cmp_file_free(&base);
    cmp_file_free(&nw);
    return rc;
}
