/* What `ferry chat` shows of a harmony completion: the golden completion of tokenizer.md
 * section 7 through the parser and the view, reasoning hidden, shown plain, shown dimmed. And
 * through the view's token interface (as chat drives it): the same, an answer cut inside the
 * analysis (nothing shown), and output that is not harmony, shown raw however short it is:
 * ended by the length limit (or Ctrl-C) after a few tokens, by a stop token, or long. */
#include "cli/chat_view.h"
#include "fy_test_tok.h"
#include "text/harmony.h"

#include <string.h>

/* <|channel|>analysis<|message|>User asks: "What is 2 + 2?" Simple arithmetic. Provide answer.
 * <|end|><|start|>assistant<|channel|>final<|message|>2 + 2 = 4.<|return|> */
static const int32_t golden[] = {
    200005, 35644, 200008, 1844, 31064, 25, 392, 4827, 382, 220, 17, 659, 220, 17, 16842, 12295,
    81645, 13, 51441, 6052, 13, 200007, 200006, 173781, 200005, 17196, 200008, 17, 659, 220, 17,
    314, 220, 19, 13, 200002};
static const char analysis[] = "User asks: \"What is 2 + 2?\" Simple arithmetic. Provide answer.";

/* Streams the golden ids through a parser into a view; returns the text shown (malloc'd). */
static char *show(const struct fy_tokenizer *t, bool reasoning, bool color, int *done)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    struct fy_harmony_parser *p = NULL;
    struct fy_chat_view v = {.out = f, .show_reasoning = reasoning, .color = color};
    *done = 0;
    if (!f || fy_harmony_parser_new(t, FY_ROLE_ASSISTANT, &p) != FY_OK)
        return NULL;
    for (size_t i = 0; i < FY_ARRAY_LEN(golden); i++) {
        struct fy_harmony_event ev = {0};
        if (fy_harmony_parser_push(p, golden[i], &ev) != FY_OK)
            break;
        fy_chat_view_event(&v, &ev);
        if (ev.events & FY_HARMONY_EV_DONE)
            *done = ev.stop_token == 200002;
    }
    fy_chat_view_end(&v);
    fy_harmony_parser_free(p);
    fclose(f);
    return buf;
}


/* Streams ids through fy_chat_view_begin/token/end as chat does, the answer's messages to hist;
 * returns the text shown (malloc'd); *done: a stop token ended it. */
static char *show_tokens(const struct fy_tokenizer *t, const int32_t *ids, size_t n,
                         bool reasoning, int *done, struct fy_harmony_msgs *hist)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    struct fy_chat_view v = {.out = f, .tok = t, .show_reasoning = reasoning};
    *done = 0;
    if (!f || fy_chat_view_begin(&v) != FY_OK)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        bool d = false;
        if (fy_chat_view_token(&v, ids[i], &d) != FY_OK)
            break;
        if (d) {
            *done = 1;
            break;
        }
    }
    fy_chat_view_end(&v);
    if (fy_chat_view_reply(&v, hist) != FY_OK)
        *done = -1;
    fy_chat_view_free(&v);
    fclose(f);
    return buf;
}

/* hist holds exactly one message: role, channel and content as given */
static bool one_msg(const struct fy_harmony_msgs *h, enum fy_harmony_role role,
                    const char *channel, const char *content)
{
    if (h->n != 1)
        return false;
    const struct fy_harmony_msg *m = &h->v[0];
    size_t n = m->content_len ? m->content_len : strlen(m->content ? m->content : "");
    return m->role == role && m->channel && !strcmp(m->channel, channel) &&
           n == strlen(content) && !memcmp(m->content, content, n);
}

static const char raw_end[] =
    "[not harmony (no message before the answer ended); the raw output follows]\n";

int main(void)
{
    struct fy_tokenizer *t = NULL;
    int failed = 0, done = 0, rc = fy_test_tokenizer(&t);
    if (rc)
        return rc;
    char expect[256];

    char *s = show(t, false, false, &done);
    FY_EXPECT(s && !strcmp(s, "2 + 2 = 4.") && done);
    printf("hidden reasoning: \"%s\"\n", s ? s : "(null)");
    free(s);

    snprintf(expect, sizeof(expect), "%s\n2 + 2 = 4.", analysis);
    s = show(t, true, false, &done);
    FY_EXPECT(s && !strcmp(s, expect) && done);
    printf("shown reasoning: \"%s\"\n", s ? s : "(null)");
    free(s);

    snprintf(expect, sizeof(expect), "\033[2m%s\033[0m\n2 + 2 = 4.", analysis);
    s = show(t, true, true, &done);
    FY_EXPECT(s && !strcmp(s, expect) && done);
    free(s);


    /* the token interface: the golden answer, and its analysis and final messages kept */
    struct fy_harmony_msgs h = {0};
    s = show_tokens(t, golden, FY_ARRAY_LEN(golden), false, &done, &h);
    FY_EXPECT(s && !strcmp(s, "2 + 2 = 4.") && done == 1);
    FY_EXPECT(h.n == 2 && h.v[1].channel && !strcmp(h.v[1].channel, "final"));
    free(s);
    fy_harmony_msgs_clear(&h);

    /* cut inside the analysis (-n 10): hidden, nothing shown, no raw output, analysis kept */
    s = show_tokens(t, golden, 10, false, &done, &h);
    FY_EXPECT(s && !strcmp(s, "") && done == 0);
    FY_EXPECT(one_msg(&h, FY_ROLE_ASSISTANT, "analysis", "User asks: \"What is "));
    printf("cut analysis: \"%s\"\n", s ? s : "(null)");
    free(s);
    fy_harmony_msgs_clear(&h);

    /* not harmony, 8 tokens, then the length limit (or Ctrl-C): shown at the end */
    static const int32_t plain[] = {17, 659, 220, 17, 314, 220, 19, 13, 200002};
    snprintf(expect, sizeof(expect), "%s2 + 2 = 4.", raw_end);
    s = show_tokens(t, plain, 8, false, &done, &h);
    FY_EXPECT(s && !strcmp(s, expect) && done == 0);
    FY_EXPECT(one_msg(&h, FY_ROLE_ASSISTANT, "final", "2 + 2 = 4."));
    printf("short raw: \"%s\"\n", s ? s : "(null)");
    free(s);
    fy_harmony_msgs_clear(&h);

    /* one token only */
    snprintf(expect, sizeof(expect), "%s2", raw_end);
    s = show_tokens(t, plain, 1, true, &done, &h);
    FY_EXPECT(s && !strcmp(s, expect) && done == 0 && one_msg(&h, FY_ROLE_ASSISTANT, "final", "2"));
    free(s);
    fy_harmony_msgs_clear(&h);

    /* the same ended by <|return|>: a stop inside the header, shown at once, the stop not */
    s = show_tokens(t, plain, FY_ARRAY_LEN(plain), false, &done, &h);
    FY_EXPECT(s && strstr(s, "[not harmony (") && done == 1);
    FY_EXPECT(s && strlen(s) > 10 && !strcmp(s + strlen(s) - 11, "\n2 + 2 = 4."));
    FY_EXPECT(one_msg(&h, FY_ROLE_ASSISTANT, "final", "2 + 2 = 4."));
    printf("raw to a stop: \"%s\"\n", s ? s : "(null)");
    free(s);
    fy_harmony_msgs_clear(&h);

    /* 40 tokens without a message: raw after 33, all of them shown, no end notice */
    int32_t many[40];
    for (size_t i = 0; i < FY_ARRAY_LEN(many); i++)
        many[i] = i % 2 ? 220 : 17;
    s = show_tokens(t, many, FY_ARRAY_LEN(many), false, &done, &h);
    FY_EXPECT(s && strstr(s, "no message after 32 header tokens") && done == 0);
    FY_EXPECT(s && strlen(s) > 40 && !strcmp(s + strlen(s) - 41, "\n2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 "
                                                                 "2 2 2 2 2 "));
    free(s);
    fy_harmony_msgs_free(&h);

    fy_tokenizer_free(t);
    printf("%s\n", failed ? "test_chat_view: FAILED" : "test_chat_view: ok");
    return failed ? 1 : 0;
}
