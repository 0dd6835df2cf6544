/* ferry serve's answer text (src/cli/serve_answer.c) on the real o200k tokenizer: the golden
 * harmony completion of tokenizer.md section 7 split into content (final) and reasoning
 * (analysis), cut inside the analysis, output that is not harmony as raw content (short, ended
 * by a stop token), a raw completion, stop strings (in raw text and in the final channel), and
 * the part of the content a stream may send while a stop string could still begin, a function
 * call (<|call|> to functions.NAME) -> the message's tool_calls, non-streamed and streamed, and
 * two calls in a row -> two tool_calls (ids and indexes 0 and 1). */
#include "cli/serve.h"
#include "fy_test_tok.h"

#include <stdlib.h>
#include <string.h>

/* <|channel|>analysis<|message|>User asks: "What is 2 + 2?" Simple arithmetic. Provide answer.
 * <|end|><|start|>assistant<|channel|>final<|message|>2 + 2 = 4.<|return|> */
static const int32_t golden[] = {
    200005, 35644, 200008, 1844, 31064, 25, 392, 4827, 382, 220, 17, 659, 220, 17, 16842, 12295,
    81645, 13, 51441, 6052, 13, 200007, 200006, 173781, 200005, 17196, 200008, 17, 659, 220, 17,
    314, 220, 19, 13, 200002};
static const char analysis[] = "User asks: \"What is 2 + 2?\" Simple arithmetic. Provide answer.";

struct fixture {
    struct fy_serve_engine e;
    struct fy_serve_req rq;
    struct fy_serve_run r;
};

static void setup(struct fixture *f, const struct fy_tokenizer *t, bool chat, const char *stop)
{
    static const char *const names[3] = {"<|endoftext|>", "<|return|>", "<|call|>"};
    memset(f, 0, sizeof(*f));
    f->e.tok = t;
    for (int i = 0; i < 3; i++)
        f->e.stop_ids[i] = fy_tokenizer_special(t, names[i]);
    f->rq.chat = chat;
    if (stop)
        f->rq.stop[f->rq.n_stop++] = strdup(stop);
    f->r.e = &f->e;
    f->r.rq = &f->rq;
}

/* Feeds ids until the answer is done (or n ids), then ends it; returns the ids taken. */
static size_t feed(struct fixture *f, const int32_t *ids, size_t n)
{
    size_t i = 0;
    if (fy_serve_answer_begin(&f->r) != FY_OK)
        return 0;
    for (; i < n && !f->r.done; i++)
        if (fy_serve_answer_token(&f->r, ids[i]) != FY_OK)
            return 0;
    f->r.done = true;
    if (fy_serve_answer_end(&f->r) != FY_OK)
        return 0;
    return i;
}

static void done(struct fixture *f)
{
    fy_serve_answer_free(&f->r);
    for (int i = 0; i < f->rq.n_stop; i++)
        free(f->rq.stop[i]);
}

static int ids_of(const struct fy_tokenizer *t, const char *s, int32_t *out, size_t cap)
{
    struct fy_tokens v = {0};
    if (fy_tokenize(t, s, strlen(s), false, &v) != FY_OK || (size_t)v.n > cap)
        return -1;
    memcpy(out, v.ids, (size_t)v.n * sizeof(int32_t));
    int n = (int)v.n;
    fy_tokens_free(&v);
    return n;
}

int main(void)
{
    struct fy_tokenizer *t = NULL;
    int failed = 0, rc = fy_test_tokenizer(&t);
    if (rc)
        return rc;
    struct fixture f;

    /* harmony: final -> content, analysis -> reasoning, <|return|> -> stop */
    setup(&f, t, true, NULL);
    size_t took = feed(&f, golden, FY_ARRAY_LEN(golden));
    FY_EXPECT(took == FY_ARRAY_LEN(golden) && f.r.mode == FY_SERVE_HARMONY);
    FY_EXPECT(f.r.content.v && !strcmp(f.r.content.v, "2 + 2 = 4."));
    FY_EXPECT(f.r.reasoning.v && !strcmp(f.r.reasoning.v, analysis));
    FY_EXPECT(!strcmp(f.r.finish, "stop"));
    printf("golden: content \"%s\" reasoning \"%s\"\n", f.r.content.v, f.r.reasoning.v);
    done(&f);

    /* cut inside the analysis (max_tokens 10): no content, the reasoning so far, length */
    setup(&f, t, true, NULL);
    feed(&f, golden, 10);
    FY_EXPECT(f.r.content.v && !strcmp(f.r.content.v, ""));
    FY_EXPECT(f.r.reasoning.v && !strcmp(f.r.reasoning.v, "User asks: \"What is "));
    FY_EXPECT(!strcmp(f.r.finish, "length"));
    done(&f);

    /* a stop string inside the final channel */
    setup(&f, t, true, "= 4");
    feed(&f, golden, FY_ARRAY_LEN(golden));
    FY_EXPECT(f.r.content.v && !strcmp(f.r.content.v, "2 + 2 "));
    FY_EXPECT(!strcmp(f.r.finish, "stop"));
    done(&f);

    /* not harmony, short (ends by the length limit before any message): the raw text */
    int32_t ids[64];
    int n = ids_of(t, "Hello world, how are you", ids, 60);
    FY_EXPECT(n > 3);
    setup(&f, t, true, NULL);
    feed(&f, ids, (size_t)n);
    FY_EXPECT(f.r.mode == FY_SERVE_RAW && f.r.content.v &&
              !strcmp(f.r.content.v, "Hello world, how are you"));
    FY_EXPECT(f.r.reasoning.v && !strcmp(f.r.reasoning.v, ""));
    done(&f);

    /* not harmony, ended by <|return|> (a stop token inside the header: raw, then stop) */
    ids[n] = 200002;
    setup(&f, t, true, NULL);
    took = feed(&f, ids, (size_t)n + 1);
    FY_EXPECT(took == (size_t)n + 1 && f.r.content.v &&
              !strcmp(f.r.content.v, "Hello world, how are you") && !strcmp(f.r.finish, "stop"));
    done(&f);

    /* a raw completion with a stop string: cut before it, no more ids taken after it */
    setup(&f, t, false, ", how");
    took = feed(&f, ids, (size_t)n);
    FY_EXPECT(f.r.content.v && !strcmp(f.r.content.v, "Hello world") &&
              !strcmp(f.r.finish, "stop") && took < (size_t)n);
    printf("raw with a stop string: \"%s\" after %zu of %d ids\n", f.r.content.v, took, n);
    done(&f);

    /* streaming: while a 4-byte stop string could still begin, the last 3 bytes wait */
    setup(&f, t, false, "zzzz");
    fy_serve_answer_begin(&f.r);
    for (int i = 0; i < n; i++)
        fy_serve_answer_token(&f.r, ids[i]);
    FY_EXPECT(!f.r.done && f.r.content.n == strlen("Hello world, how are you") &&
              fy_serve_run_safe(&f.r) == f.r.content.n - 3);
    f.r.done = true;
    fy_serve_answer_end(&f.r);
    FY_EXPECT(fy_serve_run_safe(&f.r) == f.r.content.n);
    done(&f);

    /* a function call: analysis, then a commentary message to functions.get_weather ended by
     * <|call|> -> tool_calls (name, arguments as the JSON text), content null, "tool_calls" */
    static const char call_text[] =
        "<|channel|>analysis<|message|>Need the weather.<|end|><|start|>assistant"
        "<|channel|>commentary to=functions.get_weather <|constrain|>json"
        "<|message|>{\"location\":\"Paris\"}<|call|>";
    struct fy_tokens cv = {0};
    FY_EXPECT(fy_tokenize(t, call_text, strlen(call_text), true, &cv) == FY_OK && cv.n > 10);
    FY_EXPECT(cv.n > 0 && cv.ids[cv.n - 1] == 200012);
    setup(&f, t, true, NULL);
    snprintf(f.r.id, sizeof(f.r.id), "chatcmpl-abc123");
    f.e.model_id = "m";
    took = feed(&f, cv.ids, (size_t)cv.n);
    FY_EXPECT(took == (size_t)cv.n && !strcmp(f.r.finish, "tool_calls"));
    FY_EXPECT(f.r.n_calls == 1 && !strcmp(f.r.calls[0].name, "get_weather") &&
              f.r.calls[0].args.v && !strcmp(f.r.calls[0].args.v, "{\"location\":\"Paris\"}"));
    FY_EXPECT(!strcmp(f.r.content.v, "") && !strcmp(f.r.reasoning.v, "Need the weather."));
    char *full = fy_serve_json_full(&f.r);
    static const char want_msg[] =
        "\"message\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":"
        "\"call_abc123_0\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
        "\"arguments\":\"{\\\"location\\\":\\\"Paris\\\"}\"}}],"
        "\"reasoning_content\":\"Need the weather.\"},\"finish_reason\":\"tool_calls\"";
    FY_EXPECT(full && strstr(full, want_msg));
    printf("tool call: %s\n", full ? full : "(null)");
    free(full);
    /* streamed: index, id, type, name and empty arguments; then the arguments with finish */
    char *chunk = fy_serve_sse_tool(&f.r, 0, 1, false);
    FY_EXPECT(chunk && strstr(chunk, "\"tool_calls\":[{\"index\":0,\"id\":\"call_abc123_0\","
                                     "\"type\":\"function\",\"function\":{\"name\":"
                                     "\"get_weather\",\"arguments\":\"\"}}]") &&
              strstr(chunk, "\"finish_reason\":null"));
    free(chunk);
    chunk = fy_serve_sse_tool(&f.r, 0, 2, true);
    FY_EXPECT(chunk && strstr(chunk, "\"tool_calls\":[{\"index\":0,\"function\":{"
                                     "\"arguments\":\"{\\\"location\\\":\\\"Paris\\\"}\"}}]")
              && strstr(chunk, "\"finish_reason\":\"tool_calls\""));
    free(chunk);
    done(&f);

    /* the same call cut by the length limit: no tool_calls, finish "length" */
    setup(&f, t, true, NULL);
    snprintf(f.r.id, sizeof(f.r.id), "chatcmpl-x");
    f.e.model_id = "m";
    feed(&f, cv.ids, (size_t)cv.n - 3);
    FY_EXPECT(!strcmp(f.r.finish, "length") && f.r.n_calls == 0);
    full = fy_serve_json_full(&f.r);
    FY_EXPECT(full && !strstr(full, "tool_calls"));
    free(full);
    done(&f);
    fy_tokens_free(&cv);

    /* two calls in a row (the first ended by <|end|>, the second by <|call|>): two tool_calls
     * in order, distinct ids, streamed as index 0 then index 1 */
    static const char calls2[] =
        "<|channel|>analysis<|message|>Two cities.<|end|><|start|>assistant"
        "<|channel|>commentary to=functions.get_weather <|constrain|>json"
        "<|message|>{\"city\":\"Paris\"}<|end|><|start|>assistant"
        "<|channel|>commentary to=functions.get_time <|constrain|>json"
        "<|message|>{\"zone\":\"CET\"}<|call|>";
    FY_EXPECT(fy_tokenize(t, calls2, strlen(calls2), true, &cv) == FY_OK);
    setup(&f, t, true, NULL);
    snprintf(f.r.id, sizeof(f.r.id), "chatcmpl-two");
    f.e.model_id = "m";
    took = feed(&f, cv.ids, (size_t)cv.n);
    FY_EXPECT(took == (size_t)cv.n && !strcmp(f.r.finish, "tool_calls") && f.r.n_calls == 2);
    FY_EXPECT(f.r.n_calls == 2 && !strcmp(f.r.calls[0].name, "get_weather") &&
              !strcmp(f.r.calls[0].args.v, "{\"city\":\"Paris\"}") &&
              !strcmp(f.r.calls[1].name, "get_time") &&
              !strcmp(f.r.calls[1].args.v, "{\"zone\":\"CET\"}"));
    full = fy_serve_json_full(&f.r);
    static const char want2[] =
        "\"content\":null,\"tool_calls\":[{\"id\":\"call_two_0\",\"type\":\"function\","
        "\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}},"
        "{\"id\":\"call_two_1\",\"type\":\"function\",\"function\":{\"name\":\"get_time\","
        "\"arguments\":\"{\\\"zone\\\":\\\"CET\\\"}\"}}],\"reasoning_content\":\"Two cities.\"}";
    FY_EXPECT(full && strstr(full, want2));
    printf("two calls: %s\n", full ? full : "(null)");
    free(full);
    chunk = fy_serve_sse_tool(&f.r, 1, 1, false);
    FY_EXPECT(chunk && strstr(chunk, "[{\"index\":1,\"id\":\"call_two_1\",\"type\":\"function\","
                                     "\"function\":{\"name\":\"get_time\",\"arguments\":\"\"}}]")
              && strstr(chunk, "\"finish_reason\":null"));
    free(chunk);
    chunk = fy_serve_sse_tool(&f.r, 1, 2, true);
    FY_EXPECT(chunk && strstr(chunk, "[{\"index\":1,\"function\":{\"arguments\":"
                                     "\"{\\\"zone\\\":\\\"CET\\\"}\"}}]") &&
              strstr(chunk, "\"finish_reason\":\"tool_calls\""));
    free(chunk);
    done(&f);
    /* the same two ended by <|return|> instead (not a call): no tool_calls, finish "stop" */
    cv.ids[cv.n - 1] = 200002;
    setup(&f, t, true, NULL);
    feed(&f, cv.ids, (size_t)cv.n);
    FY_EXPECT(!strcmp(f.r.finish, "stop") && f.r.n_calls == 0);
    done(&f);
    fy_tokens_free(&cv);

    fy_tokenizer_free(t);
    printf("%s\n", failed ? "test_serve_answer: FAILED" : "test_serve_answer: ok");
    return failed ? 1 : 0;
}
