/* Fuzzes `ferry serve`'s request side: the request JSON (src/cli/serve_req.c: messages, sampling
 * fields, stops, tools and tool_choice through serve_tools.c) and the harmony prompt it renders,
 * on the toy vocabulary. Input: a first byte (bit 0: /v1/completions, else /v1/chat/completions;
 * bit 1: a context of 64 positions, else 8192), then the body, not NUL-terminated (the HTTP layer
 * hands over a length). Checked besides the sanitizers: the status is 200, 400 or 500; an error
 * has a message and an OpenAI error code; an accepted chat prompt starts with <|start|> and ends
 * in <|start|>assistant and fits the context. Seeds (FY_FUZZ_SEEDS): requests like those of
 * tests/test_serve.sh and test_serve_tools.c. */
#include "cli/serve.h"
#include "fuzz.h"

static struct fy_tokenizer *tok;
static struct fy_tokens tail; /* <|start|>assistant: how a chat prompt ends */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const bool chat = !(data[0] & 1);
    struct fy_serve_engine e = {.tok = tok,
                                .n_vocab = fy_tokenizer_n_vocab(tok),
                                .n_ctx = data[0] & 2 ? 64 : 8192,
                                .model_id = "fuzz.gguf"};
    struct fy_serve_req rq;
    char msg[256];
    const char *code = NULL;
    char *body = malloc(size - 1 ? size - 1 : 1); /* exactly the body: no NUL after it */
    if (!body)
        fy_fuzz_die("out of memory");
    memcpy(body, data + 1, size - 1);
    int rc = fy_serve_req_parse(&e, chat, body, size - 1, &rq, msg, sizeof(msg), &code);
    free(body);
    if (rc != 200 && rc != 400 && rc != 500)
        fy_fuzz_die("a status other than 200, 400 and 500");
    if (rc != 200) {
        if (!msg[0] || (rc == 400 && !code))
            fy_fuzz_die("an error without a message or a code");
        return 0;
    }
    if (rq.prompt.n + 1 > e.n_ctx || (chat && rq.prompt.n <= tail.n))
        fy_fuzz_die("an accepted prompt does not fit the context");
    if (chat &&
        (rq.prompt.ids[0] != tail.ids[0] ||
         memcmp(rq.prompt.ids + rq.prompt.n - tail.n, tail.ids, (size_t)tail.n * sizeof(int32_t))))
        fy_fuzz_die("a chat prompt that does not start with <|start|> and end in "
                    "<|start|>assistant");
    fy_serve_req_free(&rq);
    return 0;
}

static void seed(const char *dir, const char *name, uint8_t flags, const char *body)
{
    char buf[4096];
    size_t n = strlen(body);
    buf[0] = (char)flags;
    memcpy(buf + 1, body, n);
    fy_fuzz_seed(dir, name, buf, n + 1);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fy_fuzz_quiet();
    tok = fy_fuzz_tokenizer(0);
    if (fy_tokenize(tok, "<|start|>assistant", 18, true, &tail) != FY_OK)
        fy_fuzz_die("tokenizing <|start|>assistant failed");
    const char *dir = fy_fuzz_seed_dir();
    if (!dir)
        return 0;
    seed(dir, "chat", 0,
         "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"Be "
         "brief.\"},{\"role\":\"user\",\"content\":\"Hi \\u00e9\"}],\"max_tokens\":8,"
         "\"temperature\":0.7,\"top_p\":0.9,\"top_k\":40,\"min_p\":0.05,\"seed\":3,"
         "\"stop\":[\"x\",\"y\"],\"stream\":true,\"stream_options\":{\"include_usage\":true},"
         "\"reasoning_effort\":\"high\"}");
    seed(dir, "history", 0,
         "{\"messages\":[{\"role\":\"developer\",\"content\":[{\"type\":"
         "\"text\",\"text\":\"Rules\"}]},{\"role\":\"user\",\"content\":\"a\"},{\"role\":"
         "\"assistant\",\"content\":\"b\",\"reasoning_content\":\"think\"},{\"role\":\"user\","
         "\"content\":\"c\"}],\"max_completion_tokens\":4,\"stop\":\"z\"}");
    seed(dir, "tools", 0,
         "{\"messages\":[{\"role\":\"user\",\"content\":\"Weather in Paris?\"},"
         "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_7\","
         "\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
         "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]},"
         "{\"role\":\"tool\",\"tool_call_id\":\"call_7\",\"content\":\"{\\\"temp\\\":21}\"}],"
         "\"tool_choice\":\"auto\",\"tools\":["
         "{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":"
         "\"Gets the weather.\",\"parameters\":{\"type\":\"object\",\"properties\":{"
         "\"city\":{\"type\":\"string\",\"description\":\"The city\"},"
         "\"unit\":{\"type\":\"string\",\"enum\":[\"c\",\"f\"],\"default\":\"c\"},"
         "\"days\":{\"type\":\"array\",\"items\":{\"type\":\"integer\"}},"
         "\"opt\":{\"anyOf\":[{\"type\":\"number\"},{\"type\":\"null\"}]}},"
         "\"required\":[\"city\"]}}},"
         "{\"type\":\"function\",\"function\":{\"name\":\"now\",\"description\":\"Time now.\"}}]}");
    seed(dir, "completion", 1,
         "{\"prompt\":\"Once upon a <|start|> time\",\"max_tokens\":16,"
         "\"temperature\":0,\"stream\":false,\"logprobs\":null}");
    seed(dir, "small-context", 2,
         "{\"messages\":[{\"role\":\"user\",\"content\":\"a long "
         "message that does not fit a context of sixty-four positions at all, not at all\"}]}");
    exit(0);
}
