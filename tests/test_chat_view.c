/* What `ferry chat` shows of a harmony completion: the golden completion of tokenizer.md
 * section 7 through the parser and the view, reasoning hidden, shown plain, shown dimmed. */
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

    fy_tokenizer_free(t);
    printf("%s\n", failed ? "test_chat_view: FAILED" : "test_chat_view: ok");
    return failed ? 1 : 0;
}
