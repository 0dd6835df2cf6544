/* How `ferry chat` shows a streamed harmony completion: the final channel as plain text, the
 * analysis (and commentary) channels hidden, or dimmed with show_reasoning. Output that is not
 * harmony (an untrained or synthetic model) is shown as raw text, dimmed, after a notice: as
 * soon as it is known (a parser error, FY_CHAT_VIEW_MAX_HEADER tokens without a message), or at
 * the end of the answer (fy_chat_view_end) when no message ever began, so that a short answer
 * is shown too. */
#ifndef FY_CHAT_VIEW_H
#define FY_CHAT_VIEW_H

#include "text/harmony.h"

#include <stdbool.h>
#include <stdio.h>

#define FY_CHAT_VIEW_MAX_HEADER 32 /* tokens without a message before output counts as raw */

struct fy_chat_view {
    FILE *out;
    const struct fy_tokenizer *tok; /* for fy_chat_view_begin .. fy_chat_view_token */
    bool show_reasoning;            /* show non-final channels, dimmed */
    bool color;                     /* ANSI dim on a terminal; without it reasoning is plain */
    bool in_dim;                    /* inside shown reasoning text */
    int64_t shown;                  /* bytes written */
    /* one answer, from fy_chat_view_begin */
    struct fy_harmony_parser *p;
    struct fy_tokens said;   /* this answer's ids, a final stop token excepted */
    struct fy_detok dt;      /* raw output */
    int64_t header_run;      /* tokens since the parser was last inside a message */
    bool entered;            /* the parser was inside a message at some point */
    bool raw;                /* not harmony: the raw text is shown */
    bool over;               /* a stop token ended the answer */
};

/* Writes what a parser event adds to the screen (the harmony case). */
void fy_chat_view_event(struct fy_chat_view *v, const struct fy_harmony_event *ev);

/* Starts an answer: a parser whose prompt ended in <|start|>assistant. v->tok must be set. */
fy_status fy_chat_view_begin(struct fy_chat_view *v);
/* Shows what sampled token id adds; *done: the answer is over (a stop token). */
fy_status fy_chat_view_token(struct fy_chat_view *v, int32_t id, bool *done);
/* Ends an answer, however it ended (stop token, length limit, Ctrl-C): ends a dimmed run, and
 * shows the answer as raw text if nothing of it was harmony. Also valid without begin. */
void fy_chat_view_end(struct fy_chat_view *v);
/* After end: appends what the model said to hist: the harmony messages, or the raw text as one
 * assistant message on the final channel (none when empty). */
fy_status fy_chat_view_reply(struct fy_chat_view *v, struct fy_harmony_msgs *hist);
/* Frees the answer's state (NULL-safe; v stays usable for another begin). */
void fy_chat_view_free(struct fy_chat_view *v);

#endif
