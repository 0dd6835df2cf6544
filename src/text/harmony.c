/* Harmony (tokenizer.md §6-§7), all but the rendering (harmony_render.c): what both sides share
 * (the special token ids, a growable byte string), the owning message lists, and the streaming
 * parser of the model's completion; see harmony.h. */
#include "harmony_priv.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HM_MAX_HEADER 4096 /* bytes of header text the parser accepts */
#define HM_MAX_PARTS 8     /* whitespace-separated header parts looked at */

const char fy_hm_constrain[] = "<|constrain|>";
const char fy_hm_channel[] = "<|channel|>";

fy_status fy_hm_ids_get(const struct fy_tokenizer *t, struct fy_hm_ids *ids)
{
    ids->start = fy_tokenizer_special(t, "<|start|>");
    ids->end = fy_tokenizer_special(t, "<|end|>");
    ids->message = fy_tokenizer_special(t, "<|message|>");
    ids->channel = fy_tokenizer_special(t, fy_hm_channel);
    ids->constrain = fy_tokenizer_special(t, fy_hm_constrain);
    ids->ret = fy_tokenizer_special(t, "<|return|>");
    ids->call = fy_tokenizer_special(t, "<|call|>");
    ids->eot = fy_tokenizer_special(t, "<|endoftext|>");
    if (ids->start < 0 || ids->end < 0 || ids->message < 0 || ids->channel < 0 ||
        ids->constrain < 0 || ids->ret < 0 || ids->call < 0 || ids->eot < 0) {
        fy_log(FY_LOG_ERR, "harmony: the tokenizer lacks the harmony special tokens");
        return FY_E_UNSUPPORTED;
    }
    return FY_OK;
}

const char *fy_harmony_role_name(enum fy_harmony_role r)
{
    switch (r) {
    case FY_ROLE_SYSTEM:
        return "system";
    case FY_ROLE_DEVELOPER:
        return "developer";
    case FY_ROLE_USER:
        return "user";
    case FY_ROLE_ASSISTANT:
        return "assistant";
    case FY_ROLE_TOOL:
        return "tool";
    default:
        return NULL;
    }
}

/* ---- a growable byte string, always NUL-terminated once non-empty ------------------------- */

fy_status fy_hm_put(struct fy_hm_str *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p)
            return FY_E_NOMEM;
        b->s = p;
        b->cap = cap;
    }
    if (n)
        memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
    return FY_OK;
}

fy_status fy_hm_puts(struct fy_hm_str *b, const char *s)
{
    return fy_hm_put(b, s, strlen(s));
}

void fy_hm_str_free(struct fy_hm_str *b)
{
    free(b->s);
    b->s = NULL;
    b->n = b->cap = 0;
}

static char *hm_strdup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* ---- owning message lists ------------------------------------------------------------------- */

static void hm_msg_release(struct fy_harmony_msg *m)
{
    free((char *)m->name);
    free((char *)m->recipient);
    free((char *)m->channel);
    free((char *)m->content_type);
    free((char *)m->content);
    memset(m, 0, sizeof(*m));
}

fy_status fy_harmony_msgs_push(struct fy_harmony_msgs *l, const struct fy_harmony_msg *m)
{
    struct fy_harmony_msg c;
    size_t n;

    FY_CHECK_ARG(l && m);
    if (l->n == l->cap) {
        int64_t cap = l->cap ? 2 * l->cap : 16;
        struct fy_harmony_msg *v = realloc(l->v, (size_t)cap * sizeof(*v));
        if (!v)
            return FY_E_NOMEM;
        l->v = v;
        l->cap = cap;
    }
    memset(&c, 0, sizeof(c));
    c.role = m->role;
    c.recipient_after_channel = m->recipient_after_channel;
    c.end_token = m->end_token;
    n = m->content ? (m->content_len ? m->content_len : strlen(m->content)) : 0;
    c.content_len = n;
    c.content = hm_strdup(m->content ? m->content : "", n);
    if (!c.content)
        goto fail;
#define DUP(f)                                                                                     \
    do {                                                                                           \
        if (m->f && !(c.f = hm_strdup(m->f, strlen(m->f))))                                        \
            goto fail;                                                                             \
    } while (0)
    DUP(name);
    DUP(recipient);
    DUP(channel);
    DUP(content_type);
#undef DUP
    l->v[l->n++] = c;
    return FY_OK;
fail:
    hm_msg_release(&c);
    return FY_E_NOMEM;
}

void fy_harmony_msgs_clear(struct fy_harmony_msgs *l)
{
    if (!l)
        return;
    for (int64_t i = 0; i < l->n; i++)
        hm_msg_release(&l->v[i]);
    l->n = 0;
}

void fy_harmony_msgs_free(struct fy_harmony_msgs *l)
{
    if (!l)
        return;
    fy_harmony_msgs_clear(l);
    free(l->v);
    l->v = NULL;
    l->cap = 0;
}

/* ---- streaming parser ----------------------------------------------------------------------- */

enum hm_state { HM_EXPECT_START, HM_HEADER, HM_CONTENT, HM_DONE, HM_FAILED };

struct fy_harmony_parser {
    const struct fy_tokenizer *t;
    struct fy_hm_ids ids;
    int64_t n_vocab;
    enum hm_state state;
    enum fy_harmony_role next_role; /* role known before the header, or FY_ROLE_NONE */
    struct fy_hm_str header;        /* header text so far */
    struct fy_harmony_msg cur;      /* message being read; strings owned */
    struct fy_hm_str content;
    struct fy_detok detok;
    char delta[512];
    struct fy_harmony_msgs msgs;
    fy_status err;
    char errmsg[200];
};

static fy_status hm_fail(struct fy_harmony_parser *p, fy_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static fy_status hm_fail(struct fy_harmony_parser *p, fy_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->errmsg, sizeof(p->errmsg), fmt, ap);
    va_end(ap);
    fy_log(FY_LOG_DEBUG, "harmony parser: %s", p->errmsg);
    p->err = st;
    p->state = HM_FAILED;
    return st;
}

fy_status fy_harmony_parser_new(const struct fy_tokenizer *t, enum fy_harmony_role start_role,
                                struct fy_harmony_parser **out)
{
    struct fy_harmony_parser *p;
    fy_status st;

    FY_CHECK_ARG(out);
    *out = NULL;
    FY_CHECK_ARG(t && (start_role == FY_ROLE_NONE || fy_harmony_role_name(start_role)));
    p = calloc(1, sizeof(*p));
    if (!p)
        return FY_E_NOMEM;
    st = fy_hm_ids_get(t, &p->ids);
    if (st != FY_OK)
        goto fail;
    p->t = t;
    p->n_vocab = fy_tokenizer_n_vocab(t);
    p->next_role = start_role;
    p->state = start_role == FY_ROLE_NONE ? HM_EXPECT_START : HM_HEADER;
    p->cur.end_token = -1;
    *out = p;
    return FY_OK;
fail:
    fy_harmony_parser_free(p);
    return st;
}

void fy_harmony_parser_free(struct fy_harmony_parser *p)
{
    if (!p)
        return;
    fy_hm_str_free(&p->header);
    fy_hm_str_free(&p->content);
    p->cur.content = NULL;
    hm_msg_release(&p->cur);
    fy_harmony_msgs_free(&p->msgs);
    free(p);
}

static bool hm_utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k;
        uint32_t cp;
        if (c == 0)
            return false; /* no NUL in a header */
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF)
            k = 1, cp = c & 0x1F;
        else if (c >= 0xE0 && c <= 0xEF)
            k = 2, cp = c & 0x0F;
        else if (c >= 0xF0 && c <= 0xF4)
            k = 3, cp = c & 0x07;
        else
            return false;
        if (i + k >= n)
            return false;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        if ((k == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return false;
        i += k + 1;
    }
    return true;
}

static bool hm_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static enum fy_harmony_role hm_role_from(const char *s)
{
    for (int r = FY_ROLE_SYSTEM; r <= FY_ROLE_TOOL; r++)
        if (!strcmp(s, fy_harmony_role_name((enum fy_harmony_role)r)))
            return (enum fy_harmony_role)r;
    return FY_ROLE_NONE;
}

static fy_status hm_set(struct fy_harmony_parser *p, const char **field, const char *s)
{
    char *d = hm_strdup(s, strlen(s));
    if (!d)
        return hm_fail(p, FY_E_NOMEM, "out of memory");
    free((char *)*field);
    *field = d;
    return FY_OK;
}

/* Parses the header text (§7.9) into p->cur. */
static fy_status hm_parse_header(struct fy_harmony_parser *p)
{
    const char *h = p->header.s ? p->header.s : "";
    size_t hn = p->header.n;
    struct fy_hm_str work = {0};
    char *parts[HM_MAX_PARTS];
    int np = 0;
    const char *chan = NULL;
    size_t chan_len = 0;
    const char *rest = h;
    const char *recip_part = NULL;
    const char *mk;
    enum fy_harmony_role role = p->next_role;
    fy_status st = FY_OK;
    int first = 0;

    if (!hm_utf8_valid((const unsigned char *)h, hn)) {
        st = hm_fail(p, FY_E_FORMAT, "message header is not valid UTF-8");
        goto done;
    }
    /* "<|channel|>X": X ends at whitespace or '<'. */
    mk = strstr(h, fy_hm_channel);
    if (mk) {
        chan = mk + strlen(fy_hm_channel);
        while (chan[chan_len] && !hm_space(chan[chan_len]) && chan[chan_len] != '<')
            chan_len++;
        if (!chan_len) {
            st = hm_fail(p, FY_E_FORMAT, "empty channel in header \"%.80s\"", h);
            goto done;
        }
        rest = chan + chan_len;
    }
    /* The header without the channel, with a space before each <|constrain|>. */
    for (const char *s = h; *s;) {
        if (mk && s == mk) {
            s = rest;
            continue;
        }
        if (!strncmp(s, fy_hm_constrain, strlen(fy_hm_constrain))) {
            if ((st = fy_hm_puts(&work, " ")) != FY_OK)
                goto nomem;
        }
        if ((st = fy_hm_put(&work, s, 1)) != FY_OK)
            goto nomem;
        s++;
    }
    /* Split on ASCII whitespace. */
    for (char *s = work.s; s && *s;) {
        while (*s && hm_space(*s))
            s++;
        if (!*s)
            break;
        if (np == HM_MAX_PARTS) {
            st = hm_fail(p, FY_E_FORMAT, "too many parts in header \"%.80s\"", h);
            goto done;
        }
        parts[np++] = s;
        while (*s && !hm_space(*s))
            s++;
        if (*s)
            *s++ = '\0';
    }
    /* The role: known already, or the first part (an unknown word is a tool's name). */
    if (role == FY_ROLE_NONE) {
        if (np == 0 || !strncmp(parts[0], "to=", 3) ||
            !strncmp(parts[0], fy_hm_constrain, strlen(fy_hm_constrain))) {
            st = hm_fail(p, FY_E_FORMAT, "message header without a role: \"%.80s\"", h);
            goto done;
        }
        role = hm_role_from(parts[0]);
        if (role == FY_ROLE_NONE) {
            role = FY_ROLE_TOOL;
            if ((st = hm_set(p, &p->cur.name, parts[0])) != FY_OK)
                goto done;
        }
        first = 1;
    } else if (np > 0 && !strcmp(parts[0], fy_harmony_role_name(role))) {
        first = 1;
    }
    p->cur.role = role;
    if (chan) {
        free((char *)p->cur.channel);
        if (!(p->cur.channel = hm_strdup(chan, chan_len)))
            goto nomem;
    }
    /* The rest: "to=R", or a content type possibly preceded by a recipient. */
    if (np > first) {
        const char *last = parts[--np];
        if (!strncmp(last, "to=", 3)) {
            recip_part = last;
        } else if (np == first && strncmp(last, fy_hm_constrain, strlen(fy_hm_constrain)) != 0) {
            recip_part = last; /* a lone bare word is the recipient */
        } else {
            if ((st = hm_set(p, &p->cur.content_type, last)) != FY_OK)
                goto done;
            if (np > first)
                recip_part = parts[--np];
        }
        if (np > first) {
            st = hm_fail(p, FY_E_FORMAT, "unexpected \"%s\" in header \"%.80s\"", parts[first], h);
            goto done;
        }
    }
    if (recip_part) {
        const char *r = !strncmp(recip_part, "to=", 3) ? recip_part + 3 : recip_part;
        const char *at = strstr(h, recip_part);
        if (!*r) {
            st = hm_fail(p, FY_E_FORMAT, "empty recipient in header \"%.80s\"", h);
            goto done;
        }
        if ((st = hm_set(p, &p->cur.recipient, r)) != FY_OK)
            goto done;
        p->cur.recipient_after_channel = mk && at && at > mk;
    }
    goto done;
nomem:
    st = hm_fail(p, FY_E_NOMEM, "out of memory");
done:
    fy_hm_str_free(&work);
    return st;
}

static void hm_event_reset(struct fy_harmony_event *ev)
{
    ev->events = 0;
    ev->msg = NULL;
    ev->delta = "";
    ev->delta_len = 0;
    ev->stop_token = -1;
}

static void hm_sync_cur(struct fy_harmony_parser *p)
{
    p->cur.content = p->content.s ? p->content.s : "";
    p->cur.content_len = p->content.n;
}

/* Appends delta text to the current message and reports it. */
static fy_status hm_emit_delta(struct fy_harmony_parser *p, size_t n, struct fy_harmony_event *ev)
{
    if (!n)
        return FY_OK;
    p->delta[n] = '\0';
    if (fy_hm_put(&p->content, p->delta, n) != FY_OK)
        return hm_fail(p, FY_E_NOMEM, "out of memory");
    hm_sync_cur(p);
    ev->events |= FY_HARMONY_EV_DELTA;
    ev->msg = &p->cur;
    ev->delta = p->delta;
    ev->delta_len = n;
    return FY_OK;
}

/* Ends the current message with terminator id (-1: none). */
static fy_status hm_end_message(struct fy_harmony_parser *p, int32_t id,
                                struct fy_harmony_event *ev)
{
    size_t n = fy_detok_flush(&p->detok, p->delta, sizeof(p->delta) - 1);
    fy_status st = hm_emit_delta(p, n, ev);
    if (st != FY_OK)
        return st;
    hm_sync_cur(p);
    p->cur.end_token = id;
    if (fy_harmony_msgs_push(&p->msgs, &p->cur) != FY_OK)
        return hm_fail(p, FY_E_NOMEM, "out of memory");
    p->cur.content = NULL;
    hm_msg_release(&p->cur);
    p->cur.end_token = -1;
    p->content.n = 0;
    memset(&p->detok, 0, sizeof(p->detok));
    ev->events |= FY_HARMONY_EV_END;
    ev->msg = &p->msgs.v[p->msgs.n - 1];
    return FY_OK;
}

static bool hm_is_stop(const struct fy_hm_ids *ids, int32_t id)
{
    return id == ids->end || id == ids->ret || id == ids->call || id == ids->eot;
}

fy_status fy_harmony_parser_push(struct fy_harmony_parser *p, int32_t id,
                                 struct fy_harmony_event *ev)
{
    struct fy_harmony_event dummy;
    const struct fy_hm_ids *ids;
    const uint8_t *bytes;
    size_t len = 0;
    fy_status st;

    FY_CHECK_ARG(p);
    if (!ev)
        ev = &dummy;
    hm_event_reset(ev);
    ids = &p->ids;
    switch (p->state) {
    case HM_FAILED:
        return p->err;
    case HM_DONE:
        return hm_fail(p, FY_E_FORMAT, "token %d after the end of the completion", id);
    default:
        break;
    }
    if (id < 0 || id >= p->n_vocab || !(bytes = fy_token_bytes(p->t, id, &len)))
        return hm_fail(p, FY_E_INVAL, "token id %d outside the vocabulary", id);
    p->errmsg[0] = '\0';

    switch (p->state) {
    case HM_EXPECT_START:
        if (id == ids->start) {
            p->state = HM_HEADER;
            p->next_role = FY_ROLE_NONE;
            p->header.n = 0;
        } else if (id == ids->eot) {
            p->state = HM_DONE;
            ev->events = FY_HARMONY_EV_DONE;
            ev->stop_token = id;
        } else {
            return hm_fail(p, FY_E_FORMAT, "token %d where <|start|> was expected", id);
        }
        return FY_OK;
    case HM_HEADER:
        if (id == ids->message) {
            st = hm_parse_header(p);
            if (st != FY_OK)
                return st;
            p->header.n = 0;
            p->content.n = 0;
            memset(&p->detok, 0, sizeof(p->detok));
            hm_sync_cur(p);
            p->state = HM_CONTENT;
            ev->events = FY_HARMONY_EV_START;
            ev->msg = &p->cur;
            return FY_OK;
        }
        if (hm_is_stop(ids, id) || id == ids->start)
            return hm_fail(p, FY_E_FORMAT, "token %d inside a message header \"%.80s\"", id,
                           p->header.s ? p->header.s : "");
        if (p->header.n + len > HM_MAX_HEADER)
            return hm_fail(p, FY_E_FORMAT, "message header longer than %d bytes", HM_MAX_HEADER);
        if (fy_hm_put(&p->header, (const char *)bytes, len) != FY_OK)
            return hm_fail(p, FY_E_NOMEM, "out of memory");
        return FY_OK;
    case HM_CONTENT:
        if (hm_is_stop(ids, id)) {
            st = hm_end_message(p, id, ev);
            if (st != FY_OK)
                return st;
            if (id == ids->end) {
                p->state = HM_EXPECT_START;
            } else {
                p->state = HM_DONE;
                ev->events |= FY_HARMONY_EV_DONE;
                ev->stop_token = id;
            }
            return FY_OK;
        }
        return hm_emit_delta(p, fy_detok_push(&p->detok, p->t, id, p->delta, sizeof(p->delta)), ev);
    default:
        return hm_fail(p, FY_E_FORMAT, "parser in an invalid state");
    }
}

fy_status fy_harmony_parser_finish(struct fy_harmony_parser *p, struct fy_harmony_event *ev)
{
    struct fy_harmony_event dummy;
    fy_status st;

    FY_CHECK_ARG(p);
    if (!ev)
        ev = &dummy;
    hm_event_reset(ev);
    switch (p->state) {
    case HM_FAILED:
        return p->err;
    case HM_DONE:
        return FY_OK;
    case HM_HEADER:
        return hm_fail(p, FY_E_FORMAT, "completion ended inside a message header");
    case HM_CONTENT:
        st = hm_end_message(p, -1, ev);
        if (st != FY_OK)
            return st;
        break;
    default:
        break;
    }
    p->state = HM_DONE;
    ev->events |= FY_HARMONY_EV_DONE;
    return FY_OK;
}

bool fy_harmony_parser_done(const struct fy_harmony_parser *p)
{
    return p && p->state == HM_DONE;
}

const struct fy_harmony_msg *fy_harmony_parser_messages(const struct fy_harmony_parser *p,
                                                        int64_t *n)
{
    if (n)
        *n = p ? p->msgs.n : 0;
    return p ? p->msgs.v : NULL;
}

const struct fy_harmony_msg *fy_harmony_parser_current(const struct fy_harmony_parser *p)
{
    return p && p->state == HM_CONTENT ? &p->cur : NULL;
}

const char *fy_harmony_parser_error(const struct fy_harmony_parser *p)
{
    return p ? p->errmsg : "";
}
