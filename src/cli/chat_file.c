/* The conversation file of `ferry chat`: JSON lines (chat_file.h). */
#include "chat_file.h"

#include "infile.h"
#include "json_lite.h"

#include <stdlib.h>
#include <string.h>

/* ---- writing ---- */

static void put_string(FILE *f, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        default:
            if (c < 0x20 || c == 0x7f)
                fprintf(f, "\\u00%c%c", hex[c >> 4], hex[c & 15]);
            else
                fputc(c, f);
        }
    }
    fputc('"', f);
}

static void put_field(FILE *f, const char *key, const char *s)
{
    if (!s)
        return;
    fprintf(f, ",\"%s\":", key);
    put_string(f, s, strlen(s));
}

fy_status fy_chat_file_write(FILE *f, const struct fy_harmony_msg *msgs, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        const struct fy_harmony_msg *m = &msgs[i];
        const char *role = fy_harmony_role_name(m->role);
        fprintf(f, "{\"role\":\"%s\"", role ? role : "?");
        put_field(f, "name", m->name);
        put_field(f, "recipient", m->recipient);
        if (m->recipient_after_channel)
            fputs(",\"recipient_after_channel\":true", f);
        put_field(f, "channel", m->channel);
        put_field(f, "content_type", m->content_type);
        fputs(",\"content\":", f);
        const char *c = m->content ? m->content : "";
        put_string(f, c, m->content_len ? m->content_len : strlen(c));
        fputs("}\n", f);
    }
    return ferror(f) ? FY_E_IO : FY_OK;
}

/* ---- reading ---- */

/* Strict UTF-8: no overlong forms, no surrogates, at most U+10FFFF. */
static bool utf8_ok(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    while (*s) {
        unsigned c = *s;
        int n = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2
                : (c & 0xf8) == 0xf0                  ? 3
                                                      : -1;
        if (n < 0)
            return false;
        unsigned cp = n == 0 ? c : c & (0x3fu >> n);
        for (int i = 1; i <= n; i++) {
            if ((s[i] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i] & 0x3fu);
        }
        static const unsigned min[4] = {0, 0x80, 0x800, 0x10000};
        if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000))
            return false;
        s += n + 1;
    }
    return true;
}

/* The byte offset (from 1) of a \u0000 escape in line, 0 if none (json_lite would cut the
 * string there). */
static size_t nul_escape(const char *line)
{
    for (const char *p = line; *p; p++) {
        if (*p != '\\')
            continue;
        if (p[1] == 'u' && !strncmp(p + 2, "0000", 4))
            return (size_t)(p - line) + 1;
        if (p[1])
            p++; /* skip the escaped character */
    }
    return 0;
}

static const char *const str_keys[] = {"role", "name", "recipient", "channel", "content_type",
                                       "content"};

/* One parsed line into *m (strings point into o). Returns a reason, or NULL. */
static const char *to_msg(const struct fy_jl_obj *o, struct fy_harmony_msg *m, char *why,
                          size_t cap)
{
    memset(m, 0, sizeof(*m));
    m->end_token = -1;
    for (int64_t i = 0; i < o->n; i++) {
        const struct fy_jl_val *v = &o->v[i];
        bool known = false;
        for (size_t k = 0; k < FY_ARRAY_LEN(str_keys); k++)
            known |= !strcmp(v->key, str_keys[k]);
        if (!strcmp(v->key, "recipient_after_channel")) {
            if (v->type != FY_JL_BOOL)
                return "\"recipient_after_channel\" is not true or false";
            m->recipient_after_channel = v->num != 0;
            continue;
        }
        if (!known) {
            snprintf(why, cap, "unknown key \"%s\"", v->key);
            return why;
        }
        if (v->type != FY_JL_STR) {
            snprintf(why, cap, "\"%s\" is not a string", v->key);
            return why;
        }
        if (!utf8_ok(v->str)) {
            snprintf(why, cap, "\"%s\" is not valid UTF-8", v->key);
            return why;
        }
    }
    const char *role = fy_jl_str(o, "role");
    if (!role)
        return "no \"role\"";
    m->role = FY_ROLE_NONE;
    for (int r = FY_ROLE_SYSTEM; r <= FY_ROLE_TOOL; r++)
        if (!strcmp(role, fy_harmony_role_name((enum fy_harmony_role)r)))
            m->role = (enum fy_harmony_role)r;
    if (m->role == FY_ROLE_NONE) {
        snprintf(why, cap, "unknown role \"%.40s\" (system, developer, user, assistant, tool)",
                 role);
        return why;
    }
    m->content = fy_jl_str(o, "content");
    if (!m->content)
        return "no \"content\"";
    m->content_len = strlen(m->content);
    m->name = fy_jl_str(o, "name");
    m->recipient = fy_jl_str(o, "recipient");
    m->channel = fy_jl_str(o, "channel");
    m->content_type = fy_jl_str(o, "content_type");
    if (m->role == FY_ROLE_TOOL && !m->name)
        return "a tool message needs a \"name\"";
    return NULL;
}

fy_status fy_chat_file_read(const char *what, const char *path, struct fy_harmony_msgs *out)
{
    char *buf = NULL;
    size_t len = 0;
    fy_harmony_msgs_clear(out);
    fy_status st = fy_infile_read(what, path, FY_LIMIT_CHAT_FILE, &buf, &len);
    if (st != FY_OK)
        return st;
    if (memchr(buf, '\0', len)) {
        fy_log(FY_LOG_ERR, "%s %s: byte %zu: a NUL byte: not a conversation file", what, path,
               (size_t)((const char *)memchr(buf, '\0', len) - buf) + 1);
        st = FY_E_FORMAT;
        goto done;
    }
    char *line = buf;
    for (int64_t no = 1; line && *line; no++) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if (line[strspn(line, " \t\r")] != '\0') {
            struct fy_jl_obj o = {0};
            struct fy_harmony_msg m;
            char err[160];
            const char *why = NULL;
            size_t at = nul_escape(line);
            if (at) {
                snprintf(err, sizeof(err), "column %zu: \\u0000 (a NUL character) is not "
                         "supported", at);
                why = err;
                st = FY_E_FORMAT;
            } else if ((st = fy_jl_parse(line, &o, err, sizeof(err))) != FY_OK) {
                why = err;
            } else if ((why = to_msg(&o, &m, err, sizeof(err))) != NULL) {
                st = FY_E_FORMAT;
            } else {
                st = fy_harmony_msgs_push(out, &m);
                if (st != FY_OK)
                    why = fy_status_str(st);
            }
            fy_jl_free(&o);
            if (why) {
                fy_log(FY_LOG_ERR, "%s %s: line %lld: %s", what, path, (long long)no, why);
                goto done;
            }
        }
        line = nl ? nl + 1 : NULL;
    }
done:
    if (st != FY_OK)
        fy_harmony_msgs_clear(out);
    free(buf);
    return st;
}
