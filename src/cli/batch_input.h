/* `ferry batch`'s input: one prompt per line of a JSONL (or plain text) file, tokenized. */
#ifndef FY_BATCH_INPUT_H
#define FY_BATCH_INPUT_H

#include "text/tokenizer.h"

#include <stdbool.h>

struct fy_batch_prompt {
    int64_t line;          /* 1-based line of the input file */
    char *id;              /* the line's "id" as JSON text (a string with its quotes, or a
                              number), or NULL */
    bool chat;             /* "messages": a harmony conversation (the completion is parsed) */
    int64_t max_tokens;    /* the line's max_tokens / n_predict, or -1: the -n default */
    struct fy_tokens toks; /* the prompt's tokens */
};

struct fy_batch_input {
    struct fy_batch_prompt *p;
    int64_t n;
};

/* Reads every non-empty line of text (len bytes) from the file named path (for messages):
 *   - a line starting with '{': a JSON object with "prompt" (raw text, completed as is) or
 *     "messages" (an OpenAI-style array of {role, content}, roles system/developer/user/
 *     assistant, rendered as a harmony conversation ending in <|start|>assistant), and optional
 *     "max_tokens" (or "n_predict"), "reasoning_effort" (low/medium/high), "id" (echoed);
 *   - any other line: raw text, completed as is.
 * FY_E_FORMAT (logged as PATH:LINE: what) for a line that is not one of these. */
fy_status fy_batch_input_read(const struct fy_tokenizer *t, const char *path, const char *text,
                              size_t len, struct fy_batch_input *out);
void fy_batch_input_free(struct fy_batch_input *in);

#endif
