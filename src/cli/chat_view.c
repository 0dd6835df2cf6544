/* Showing a streamed harmony completion, or raw text when it is not harmony (chat_view.h). */
#include "chat_view.h"

#include <stdlib.h>
#include <string.h>

static void dim(struct fy_chat_view *v, bool on)
{
    if (v->color)
        fputs(on ? "\033[2m" : "\033[0m", v->out);
    v->in_dim = on;
}

void fy_chat_view_event(struct fy_chat_view *v, const struct fy_harmony_event *ev)
{
    const struct fy_harmony_msg *m = ev->msg;
    if (!(ev->events & FY_HARMONY_EV_DELTA) || !m || ev->delta_len == 0)
        return;
    bool reasoning = !m->channel || strcmp(m->channel, "final") != 0;
    if (reasoning && !v->show_reasoning)
        return;
    if (reasoning && !v->in_dim) {
        dim(v, true);
    } else if (!reasoning && v->in_dim) {
        dim(v, false);
        fputc('\n', v->out); /* the answer starts on its own line */
        v->shown++;
    }
    fwrite(ev->delta, 1, ev->delta_len, v->out);
    v->shown += (int64_t)ev->delta_len;
    fflush(v->out);
}

/* The stop set of gpt-oss: <|endoftext|>, <|return|>, <|call|> (tokenizer.md section 6). */
static bool is_stop(const struct fy_chat_view *v, int32_t id)
{
    static const char *const names[3] = {"<|endoftext|>", "<|return|>", "<|call|>"};
    for (int i = 0; i < 3; i++)
        if (id == fy_tokenizer_special(v->tok, names[i]))
            return true;
    return false;
}

static void show_raw(struct fy_chat_view *v, const char *s, size_t n)
{
    if (n == 0)
        return;
    if (v->color)
        fputs("\033[2m", v->out);
    fwrite(s, 1, n, v->out);
    if (v->color)
        fputs("\033[0m", v->out);
    v->shown += (int64_t)n;
}

/* From here on the output is raw text: a notice, then this answer's tokens so far. */
static void go_raw(struct fy_chat_view *v, const char *why)
{
    char buf[1024]; /* a token's bytes, invalid ones as 3-byte U+FFFD */
    if (v->in_dim)
        dim(v, false);
    if (v->shown)
        fputc('\n', v->out);
    fprintf(v->out, "%s[not harmony (%s); the raw output follows]%s\n", v->color ? "\033[2m" : "",
            why, v->color ? "\033[0m" : "");
    v->raw = true;
    memset(&v->dt, 0, sizeof(v->dt));
    for (int64_t i = 0; i < v->said.n; i++) {
        size_t n = fy_detok_push(&v->dt, v->tok, v->said.ids[i], buf, sizeof(buf));
        show_raw(v, buf, n);
    }
    fflush(v->out);
}

fy_status fy_chat_view_begin(struct fy_chat_view *v)
{
    fy_chat_view_free(v);
    v->in_dim = false;
    v->shown = 0;
    return fy_harmony_parser_new(v->tok, FY_ROLE_ASSISTANT, &v->p);
}

fy_status fy_chat_view_token(struct fy_chat_view *v, int32_t id, bool *done)
{
    *done = false;
    if (!v->p || v->over)
        return FY_E_INVAL;
    if (!v->raw) {
        struct fy_harmony_event ev = {0};
        const char *why = NULL;
        if (fy_harmony_parser_push(v->p, id, &ev) != FY_OK)
            why = fy_harmony_parser_error(v->p);
        bool inside = fy_harmony_parser_current(v->p) || (ev.events & FY_HARMONY_EV_START);
        v->entered |= inside;
        v->header_run = inside ? 0 : v->header_run + 1;
        if (!why && v->header_run > FY_CHAT_VIEW_MAX_HEADER)
            why = "no message after 32 header tokens";
        if (!why) {
            FY_TRY(fy_tokens_push(&v->said, id));
            fy_chat_view_event(v, &ev);
            v->over = *done = (ev.events & FY_HARMONY_EV_DONE) != 0;
            return FY_OK;
        }
        go_raw(v, why);
    }
    if (is_stop(v, id)) {
        v->over = *done = true;
        return FY_OK;
    }
    FY_TRY(fy_tokens_push(&v->said, id));
    char buf[1024];
    show_raw(v, buf, fy_detok_push(&v->dt, v->tok, id, buf, sizeof(buf)));
    fflush(v->out);
    return FY_OK;
}

void fy_chat_view_end(struct fy_chat_view *v)
{
    char buf[64];
    if (v->p && !v->raw && !v->entered && v->said.n > 0)
        go_raw(v, "no message before the answer ended");
    if (v->p && v->raw) {
        show_raw(v, buf, fy_detok_flush(&v->dt, buf, sizeof(buf)));
    } else if (v->p && !fy_harmony_parser_done(v->p)) {
        struct fy_harmony_event ev = {0};
        if (fy_harmony_parser_finish(v->p, &ev) == FY_OK)
            fy_chat_view_event(v, &ev); /* bytes held back, as U+FFFD */
    }
    if (v->in_dim)
        dim(v, false);
    fflush(v->out);
}

fy_status fy_chat_view_reply(struct fy_chat_view *v, struct fy_harmony_msgs *hist)
{
    if (!v->p)
        return FY_OK;
    if (!v->raw) {
        int64_t n = 0;
        const struct fy_harmony_msg *msgs = fy_harmony_parser_messages(v->p, &n);
        for (int64_t i = 0; i < n; i++)
            FY_TRY(fy_harmony_msgs_push(hist, &msgs[i]));
        return FY_OK;
    }
    /* the raw text, as shown */
    char *text = NULL;
    char buf[1024];
    size_t len = 0, cap = 0;
    struct fy_detok dt = {0};
    fy_status st = FY_OK;
    for (int64_t i = 0; i <= v->said.n; i++) {
        size_t n = i < v->said.n ? fy_detok_push(&dt, v->tok, v->said.ids[i], buf, sizeof(buf))
                                 : fy_detok_flush(&dt, buf, sizeof(buf));
        if (len + n + 1 > cap) {
            size_t ncap = (len + n + 1) * 2;
            char *t = realloc(text, ncap);
            if (!t) {
                free(text);
                return FY_E_NOMEM;
            }
            text = t;
            cap = ncap;
        }
        memcpy(text + len, buf, n);
        len += n;
        text[len] = '\0';
    }
    if (len) {
        struct fy_harmony_msg m = {.role = FY_ROLE_ASSISTANT, .channel = "final",
                                   .content = text, .content_len = len, .end_token = -1};
        st = fy_harmony_msgs_push(hist, &m);
    }
    free(text);
    return st;
}

void fy_chat_view_free(struct fy_chat_view *v)
{
    fy_harmony_parser_free(v->p);
    v->p = NULL;
    fy_tokens_free(&v->said);
    memset(&v->dt, 0, sizeof(v->dt));
    v->header_run = 0;
    v->entered = v->raw = v->over = false;
}
