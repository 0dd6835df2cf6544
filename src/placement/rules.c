/* Placement rules: device names, -ot parsing (PCRE2, JIT), the -ngl / --n-cpu-moe / offload
 * settings. */
#include "placement_priv.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char fy_device_list[] = "CPU, GPU0 (aliases CUDA0, ROCm0)";

const char *fy_device_name(enum fy_device_id d)
{
    switch (d) {
    case FY_DEV_CPU: return "CPU";
    case FY_DEV_GPU0: return "GPU0";
    case FY_DEV_COUNT: break;
    }
    return "?";
}

fy_status fy_device_parse(const char *name, enum fy_device_id *out)
{
    static const struct {
        const char *name;
        enum fy_device_id dev;
    } names[] = {
        {"CPU", FY_DEV_CPU}, {"GPU0", FY_DEV_GPU0}, {"CUDA0", FY_DEV_GPU0}, {"ROCm0", FY_DEV_GPU0},
    };
    if (!name || !out)
        return FY_E_INVAL;
    for (size_t i = 0; i < FY_ARRAY_LEN(names); i++) {
        if (!strcasecmp(name, names[i].name)) {
            *out = names[i].dev;
            return FY_OK;
        }
    }
    return FY_E_INVAL;
}

fy_status fy_place_rules_new(struct fy_place_rules **out)
{
    FY_CHECK_ARG(out);
    *out = NULL;
    struct fy_place_rules *r = calloc(1, sizeof(*r));
    if (!r)
        return FY_E_NOMEM;
    r->link_gbps = FY_PLACE_LINK_GBPS_DEFAULT;
    r->cpu_gflops = FY_PLACE_CPU_GFLOPS_DEFAULT;
    *out = r;
    return FY_OK;
}

static void ot_clear(struct fy_place_ot *o)
{
    pcre2_code_free(o->re);
    free(o->pattern);
    free(o->text);
    o->re = NULL;
    o->pattern = NULL;
    o->text = NULL;
}

void fy_place_rules_free(struct fy_place_rules *r)
{
    if (!r)
        return;
    for (int64_t i = 0; i < r->n_ot; i++)
        ot_clear(&r->ot[i]);
    free(r->ot);
    free(r);
}

/* Compiles one "REGEX=DEVICE" item (item[0..len)) into o; logs what is wrong. */
static fy_status ot_item(const char *flag, const char *value, const char *item, size_t len,
                         struct fy_place_ot *o)
{
    const char *eq = memchr(item, '=', len);
    if (len == 0) {
        fy_log(FY_LOG_ERR, "flag %s: empty rule in \"%s\": expected REGEX=DEVICE[,REGEX=DEVICE...]",
               flag, value);
        return FY_E_INVAL;
    }
    if (!eq) {
        fy_log(FY_LOG_ERR, "flag %s: \"%.*s\" has no '=': expected REGEX=DEVICE[,REGEX=DEVICE...]",
               flag, (int)len, item);
        return FY_E_INVAL;
    }
    size_t plen = (size_t)(eq - item);
    if (plen == 0) {
        fy_log(FY_LOG_ERR, "flag %s: empty pattern in \"%.*s\"", flag, (int)len, item);
        return FY_E_INVAL;
    }
    char dev[32] = "";
    size_t dlen = len - plen - 1;
    if (dlen < sizeof(dev)) {
        memcpy(dev, eq + 1, dlen);
        dev[dlen] = '\0';
    }
    if (dlen >= sizeof(dev) || fy_device_parse(dev, &o->dev) != FY_OK) {
        fy_log(FY_LOG_ERR, "flag %s: unknown device \"%.*s\" in \"%.*s\"; valid devices: %s", flag,
               (int)dlen, eq + 1, (int)len, item, fy_device_list);
        return FY_E_INVAL;
    }
    o->pattern = malloc(plen + 1);
    o->text = malloc(len + 1);
    if (!o->pattern || !o->text) {
        ot_clear(o);
        return FY_E_NOMEM;
    }
    memcpy(o->pattern, item, plen);
    o->pattern[plen] = '\0';
    memcpy(o->text, item, len);
    o->text[len] = '\0';
    int err = 0;
    PCRE2_SIZE off = 0;
    o->re = pcre2_compile((PCRE2_SPTR)o->pattern, plen, 0, &err, &off, NULL);
    if (!o->re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof(msg));
        fy_log(FY_LOG_ERR, "flag %s: bad regular expression \"%s\" at offset %zu: %s", flag,
               o->pattern, (size_t)off, (const char *)msg);
        ot_clear(o);
        return FY_E_INVAL;
    }
    /* Without JIT support pcre2_match falls back to the interpreter: same results. */
    (void)pcre2_jit_compile(o->re, PCRE2_JIT_COMPLETE);
    return FY_OK;
}

fy_status fy_place_rules_add_ot(struct fy_place_rules *r, const char *flag, const char *value)
{
    struct fy_place_ot *items = NULL;
    int64_t n = 0;
    fy_status st = FY_OK;

    FY_CHECK_ARG(r && value);
    if (!flag)
        flag = "-ot";
    if (!*value) {
        fy_log(FY_LOG_ERR, "flag %s: empty value: expected REGEX=DEVICE[,REGEX=DEVICE...]", flag);
        return FY_E_INVAL;
    }
    int64_t cap = 1;
    for (const char *p = value; *p; p++)
        cap += *p == ',';
    items = calloc((size_t)cap, sizeof(*items));
    if (!items)
        return FY_E_NOMEM;
    for (const char *p = value;; n++) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        st = ot_item(flag, value, p, len, &items[n]);
        if (st != FY_OK)
            goto fail;
        if (!comma) {
            n++;
            break;
        }
        p = comma + 1;
    }
    if (r->n_ot + n > r->cap_ot) {
        int64_t c = r->cap_ot ? r->cap_ot : 8;
        while (c < r->n_ot + n)
            c *= 2;
        struct fy_place_ot *q = realloc(r->ot, (size_t)c * sizeof(*q));
        if (!q) {
            st = FY_E_NOMEM;
            goto fail;
        }
        r->ot = q;
        r->cap_ot = c;
    }
    memcpy(r->ot + r->n_ot, items, (size_t)n * sizeof(*items));
    r->n_ot += n;
    free(items);
    return FY_OK;
fail:
    for (int64_t i = 0; i < cap; i++)
        ot_clear(&items[i]);
    free(items);
    return st;
}

fy_status fy_place_rules_set_ngl(struct fy_place_rules *r, int64_t n)
{
    FY_CHECK_ARG(r && n >= 0);
    r->ngl = n;
    return FY_OK;
}

fy_status fy_place_rules_set_n_cpu_moe(struct fy_place_rules *r, int64_t n)
{
    FY_CHECK_ARG(r && n >= 0);
    r->n_cpu_moe = n;
    return FY_OK;
}

void fy_place_rules_set_cpu_moe(struct fy_place_rules *r)
{
    if (r)
        r->n_cpu_moe = INT64_MAX;
}

fy_status fy_place_rules_set_offload_threshold(struct fy_place_rules *r, int64_t n)
{
    FY_CHECK_ARG(r && n >= 1);
    r->threshold = n;
    return FY_OK;
}

void fy_place_rules_set_no_offload(struct fy_place_rules *r, bool no_offload)
{
    if (r)
        r->no_offload = no_offload;
}

fy_status fy_place_rules_from_fit(struct fy_place_rules *r, const struct fy_fit *f)
{
    FY_CHECK_ARG(r && f && f->fits);
    for (int64_t i = 0; i < r->n_ot; i++)
        ot_clear(&r->ot[i]);
    r->n_ot = 0;
    r->ngl = f->ngl;
    r->n_cpu_moe = f->n_cpu_moe;
    return FY_OK;
}

void fy_place_rules_set_kv_cpu(struct fy_place_rules *r, bool kv_cpu)
{
    if (r)
        r->kv_cpu = kv_cpu;
}

fy_status fy_place_rules_set_link_gbps(struct fy_place_rules *r, double gbps)
{
    FY_CHECK_ARG(r && gbps > 0 && gbps < 1e6);
    r->link_gbps = gbps;
    return FY_OK;
}

fy_status fy_place_rules_set_cpu_gflops(struct fy_place_rules *r, double gflops)
{
    FY_CHECK_ARG(r && gflops > 0 && gflops < 1e9);
    r->cpu_gflops = gflops;
    return FY_OK;
}

int64_t fy_place_rules_n_ot(const struct fy_place_rules *r) { return r ? r->n_ot : 0; }

fy_status fy_place_rules_ot_at(const struct fy_place_rules *r, int64_t i, const char **pattern,
                               enum fy_device_id *dev)
{
    FY_CHECK_ARG(r && i >= 0 && i < r->n_ot);
    if (pattern)
        *pattern = r->ot[i].pattern;
    if (dev)
        *dev = r->ot[i].dev;
    return FY_OK;
}

int fy_place_ot_match(const struct fy_place_ot *o, const char *name, pcre2_match_data *md)
{
    int rc = pcre2_match(o->re, (PCRE2_SPTR)name, PCRE2_ZERO_TERMINATED, 0, 0, md, NULL);
    if (rc >= 0)
        return 1;
    return rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
}
