/* How `ferry chat` shows a streamed harmony completion: the final channel as plain text, the
 * analysis (and commentary) channels hidden, or dimmed with show_reasoning. */
#ifndef FY_CHAT_VIEW_H
#define FY_CHAT_VIEW_H

#include "text/harmony.h"

#include <stdbool.h>
#include <stdio.h>

struct fy_chat_view {
    FILE *out;
    bool show_reasoning;  /* show non-final channels, dimmed */
    bool color;           /* ANSI dim on a terminal; without it reasoning is plain text */
    bool in_dim;          /* inside shown reasoning text */
    int64_t shown;        /* bytes written */
};

/* Writes what a parser event adds to the screen. */
void fy_chat_view_event(struct fy_chat_view *v, const struct fy_harmony_event *ev);
/* Ends a dimmed run (at the end of an answer). */
void fy_chat_view_end(struct fy_chat_view *v);

#endif
