/* The harmony chat format of gpt-oss (tokenizer.md §6-§7): rendering a conversation to token ids,
 * and a streaming parser for the model's completion.
 *
 * Rendering: every message is <|start|> header <|message|> content terminator, each header field
 * and the content encoded on its own with ordinary encoding (special-token strings in text stay
 * text; BPE never crosses a field). The system message and the developer message are composed
 * from options; the other messages are given as they are.
 *
 * Multi-turn use (a chat):
 *     struct fy_harmony_msgs hist = {0};
 *     conv.msgs = hist.v, conv.n_msgs = hist.n;            after each push (v may move)
 *     push the user message; fy_harmony_render(t, &conv, true, &prompt); generate, feeding every
 *     sampled id to a parser made with FY_ROLE_ASSISTANT (the prompt ends in <|start|>assistant);
 *     when it reports FY_HARMONY_EV_DONE, push its messages (fy_harmony_parser_messages) to hist,
 *     then render again for the next turn: the renderer writes <|end|> where the model wrote
 *     <|return|>, and drops old analysis by the CoT rule (§7.6). After a <|call|> (tool call),
 *     push the tool's result as a FY_ROLE_TOOL message named after the recipient, and render. */
#ifndef FY_HARMONY_H
#define FY_HARMONY_H

#include "ferry.h"
#include "tokenizer.h"

#include <stdbool.h>

enum fy_harmony_role {
    FY_ROLE_NONE = -1, /* parser: not known yet (expect <|start|> and a role) */
    FY_ROLE_SYSTEM = 0,
    FY_ROLE_DEVELOPER,
    FY_ROLE_USER,
    FY_ROLE_ASSISTANT,
    FY_ROLE_TOOL, /* header is the tool's name, e.g. "functions.get_weather" */
};

/* "system", "developer", "user", "assistant", "tool"; NULL for others. */
const char *fy_harmony_role_name(enum fy_harmony_role r);

enum fy_harmony_effort {
    FY_EFFORT_MEDIUM = 0, /* default */
    FY_EFFORT_LOW,
    FY_EFFORT_HIGH,
};

/* One message. Strings are UTF-8, NUL-terminated; NULL means absent. */
struct fy_harmony_msg {
    enum fy_harmony_role role;
    const char *name;             /* tool: the author written in the header (required), e.g.
                                   * "functions.get_weather"; other roles: optional, "role:name" */
    const char *recipient;        /* " to=R" in the header; NULL or "all": none. An assistant
                                   * message with a recipient is a tool call, ended by <|call|> */
    bool recipient_after_channel; /* write " to=R" after <|channel|>X (as the model does) rather
                                   * than after the role (harmony's renderer) */
    const char *channel;          /* "analysis", "commentary", "final" */
    const char *content_type;     /* "<|constrain|>json" -> " " <|constrain|> "json";
                                   * anything else X -> " X" */
    const char *content;          /* NULL: empty */
    size_t content_len;           /* bytes of content; 0: strlen(content) */
    int32_t end_token;            /* parser output: the terminator the model wrote (<|end|>,
                                   * <|return|>, <|call|>, <|endoftext|>), -1 if none. The renderer
                                   * ignores it and writes <|call|> or <|end|> (rule above) */
};

/* The system message (tokenizer.md §7.3). Zero-initialised = harmony's defaults. */
struct fy_harmony_system {
    const char *model_identity;   /* NULL: "You are ChatGPT, a large language model trained by
                                   * OpenAI." */
    const char *knowledge_cutoff; /* NULL: "2024-06" */
    const char *current_date;     /* "YYYY-MM-DD"; NULL: no "Current date:" line */
    enum fy_harmony_effort effort;
    const char *builtin_tools; /* a whole "# Tools\n\n## python\n\n..." section, written
                                * verbatim before the channels line; NULL: none */
    bool function_tools;       /* add the "Calls to these tools must go to the commentary
                                * channel: 'functions'." line even without developer tools
                                * (it is added whenever developer.n_tools > 0) */
};

/* A function tool, written in the developer message's "namespace functions". */
struct fy_harmony_tool {
    const char *name;        /* required */
    const char *description; /* each line becomes "// line"; NULL or "": none */
    const char *params;      /* TypeScript-like type of the single argument, e.g.
                              * "{\n// The city\nlocation: string,\n}" giving
                              * "type name = (_: {...}) => any;"; NULL: "type name = () => any;" */
};

/* The developer message (§7.4): "# Instructions\n\n{instructions}" then the tools section.
 * Written only when instructions != NULL or n_tools > 0. */
struct fy_harmony_developer {
    const char *instructions;
    const struct fy_harmony_tool *tools;
    int64_t n_tools;
};

struct fy_harmony_conv {
    bool no_system; /* true: no system message (the model was trained with one) */
    struct fy_harmony_system system;
    struct fy_harmony_developer developer;
    const struct fy_harmony_msg *msgs; /* [n_msgs] after the system/developer messages */
    int64_t n_msgs;
    bool keep_analysis; /* false: the CoT drop rule (§7.6): if the last assistant message
                         * is on "final", analysis messages before the first "final"
                         * message are not rendered. true: render everything */
};

/* Appends the conversation's tokens to out; with add_generation_prompt, then <|start|>assistant
 * (200006, 173781). On failure out is left as it was. FY_E_INVAL: a NULL argument, a tool message
 * without a name, a tool without a name; FY_E_UNSUPPORTED: the tokenizer lacks a harmony special
 * token; errors of fy_tokenize (invalid UTF-8 in a string) are passed on. */
fy_status fy_harmony_render(const struct fy_tokenizer *t, const struct fy_harmony_conv *c,
                            bool add_generation_prompt, struct fy_tokens *out);

/* An owning, growable message list: push deep-copies the strings. conv.msgs can point at v. */
struct fy_harmony_msgs {
    struct fy_harmony_msg *v;
    int64_t n;
    int64_t cap;
};
fy_status fy_harmony_msgs_push(struct fy_harmony_msgs *l, const struct fy_harmony_msg *m);
void fy_harmony_msgs_clear(struct fy_harmony_msgs *l); /* frees the messages, keeps l usable */
void fy_harmony_msgs_free(struct fy_harmony_msgs *l);  /* NULL-safe; l is zeroed */

/* ---- streaming parser (StreamableParser semantics, §7.9) ------------------------------------
 * States: expect <|start|> -> header tokens until <|message|> -> content until <|end|>,
 * <|return|> or <|call|>. After <|end|> it expects <|start|> again; <|return|> and <|call|> are
 * stops (done). <|endoftext|> also ends the current message and the completion. Header text:
 * "<|channel|>X" anywhere; then whitespace-separated parts: an optional role first (absent when
 * the role is known), "to=R" for the recipient, and last a content type ("json",
 * "<|constrain|>json"), before which a bare part is the recipient. An unknown role word is a
 * tool name. Any other token inside content (other specials too) is content, decoded with
 * fy_detok. Lenient like harmony's parser: the recipient may sit before or after the channel,
 * <|constrain|> needs no space before it, a tool message needs no "to=". */
struct fy_harmony_parser;

/* Events of one push, reported in this order when several happen. */
enum fy_harmony_event_kind {
    FY_HARMONY_EV_START = 1 << 0, /* header complete: msg has role, name, channel, recipient,
                                   * content_type */
    FY_HARMONY_EV_DELTA = 1 << 1, /* delta[0..delta_len): new content, complete UTF-8 only (a
                                   * partial character is held back; at the end of a message an
                                   * incomplete one is flushed as U+FFFD) */
    FY_HARMONY_EV_END = 1 << 2,   /* message complete: msg is it (also the last entry of
                                   * fy_harmony_parser_messages), end_token says how it ended */
    FY_HARMONY_EV_DONE = 1 << 3,  /* stop token: the completion is over (<|return|>: answered,
                                   * <|call|>: tool call, <|endoftext|>) */
};

struct fy_harmony_event {
    unsigned events;                  /* bit set of enum fy_harmony_event_kind; 0: nothing */
    const struct fy_harmony_msg *msg; /* the current message (START, DELTA, END), else NULL.
                                       * Valid until the next push */
    const char *delta;                /* NUL-terminated; "" without DELTA */
    size_t delta_len;
    int32_t stop_token; /* with DONE: the id that stopped, else -1 */
};

/* start_role = FY_ROLE_NONE: the token stream starts with <|start|>. Otherwise the prompt ended
 * in "<|start|>role" (the generation prompt: FY_ROLE_ASSISTANT), so the parser starts in the
 * header with the role known. The tokenizer must outlive the parser. */
fy_status fy_harmony_parser_new(const struct fy_tokenizer *t, enum fy_harmony_role start_role,
                                struct fy_harmony_parser **out);
void fy_harmony_parser_free(struct fy_harmony_parser *p);

/* Feeds one sampled token id; ev (may be NULL) tells what happened. Errors are sticky:
 * FY_E_FORMAT for a sequence that is not harmony (a token other than <|start|> between messages,
 * a stop token inside a header, a header without a role, with an empty channel, with unknown
 * extra parts, or not UTF-8, a header over 4 KiB, a token after done), FY_E_INVAL for an id
 * outside the vocabulary, FY_E_NOMEM. fy_harmony_parser_error says what went wrong. */
fy_status fy_harmony_parser_push(struct fy_harmony_parser *p, int32_t id,
                                 struct fy_harmony_event *ev);

/* End of generation without a stop token (length limit): completes a message in progress
 * (end_token -1, held-back bytes flushed as U+FFFD) and marks the parser done. Between messages
 * it only marks done; inside a header it is FY_E_FORMAT. */
fy_status fy_harmony_parser_finish(struct fy_harmony_parser *p, struct fy_harmony_event *ev);

bool fy_harmony_parser_done(const struct fy_harmony_parser *p);
/* The completed messages, in order; valid until the next push or free. */
const struct fy_harmony_msg *fy_harmony_parser_messages(const struct fy_harmony_parser *p,
                                                        int64_t *n);
/* The message being read (header known, content so far), or NULL outside a message content. */
const struct fy_harmony_msg *fy_harmony_parser_current(const struct fy_harmony_parser *p);
/* Why the last push failed ("" if it did not). */
const char *fy_harmony_parser_error(const struct fy_harmony_parser *p);

#endif
