/* Showing a streamed harmony completion. */
#include "chat_view.h"

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

void fy_chat_view_end(struct fy_chat_view *v)
{
    if (v->in_dim)
        dim(v, false);
    fflush(v->out);
}
