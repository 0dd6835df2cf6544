/* ferry serve's request side of tools (src/cli/serve_req.c, serve_tools.c) on the real o200k
 * tokenizer: a chat request with two tools (JSON-schema parameters: a described string, an enum
 * with a default, an array of integers; a tool without parameters), an assistant tool call and
 * its result renders to the exact harmony text below (golden); the refusals (tool_choice
 * "required", a tool result whose call is unknown). */
#include "cli/serve.h"
#include "fy_test_tok.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char request[] =
    "{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
    "{\"role\":\"user\",\"content\":\"Weather in Paris?\"},"
    "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_7\","
    "\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
    "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]},"
    "{\"role\":\"tool\",\"tool_call_id\":\"call_7\",\"content\":\"{\\\"temp\\\":21}\"}],"
    "\"tool_choice\":\"auto\",\"tools\":["
    "{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":"
    "\"Gets the weather.\",\"parameters\":{\"type\":\"object\",\"properties\":{"
    "\"city\":{\"type\":\"string\",\"description\":\"The city\"},"
    "\"unit\":{\"type\":\"string\",\"enum\":[\"c\",\"f\"],\"default\":\"c\"},"
    "\"days\":{\"type\":\"array\",\"items\":{\"type\":\"integer\"}}},"
    "\"required\":[\"city\"]}}},"
    "{\"type\":\"function\",\"function\":{\"name\":\"now\",\"description\":\"Time now.\"}}]}";

/* %s: today's date (the server writes it) */
static const char golden[] =
    "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"
    "Knowledge cutoff: 2024-06\nCurrent date: %s\n\nReasoning: medium\n\n"
    "# Valid channels: analysis, commentary, final. Channel must be included for every message.\n"
    "Calls to these tools must go to the commentary channel: 'functions'.<|end|>"
    "<|start|>developer<|message|># Instructions\n\nBe brief.\n\n# Tools\n\n## functions\n\n"
    "namespace functions {\n\n"
    "// Gets the weather.\ntype get_weather = (_: {\n// The city\ncity: string,\n"
    "unit?: \"c\" | \"f\", // default: c\ndays?: number[],\n}) => any;\n\n"
    "// Time now.\ntype now = () => any;\n\n"
    "} // namespace functions<|end|>"
    "<|start|>user<|message|>Weather in Paris?<|end|>"
    "<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json"
    "<|message|>{\"city\":\"Paris\"}<|call|>"
    "<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>{\"temp\":21}"
    "<|end|><|start|>assistant";

static char *text_of(const struct fy_tokenizer *t, const struct fy_tokens *v)
{
    size_t n = 0;
    char *s = malloc(1 << 16);
    for (int64_t i = 0; s && i < v->n; i++) {
        size_t len;
        const uint8_t *b = fy_token_bytes(t, v->ids[i], &len);
        if (!b || n + len + 1 > (1 << 16)) {
            free(s);
            return NULL;
        }
        memcpy(s + n, b, len);
        n += len;
    }
    if (s)
        s[n] = '\0';
    return s;
}

static int parse(struct fy_serve_engine *e, const char *body, struct fy_serve_req *rq, char *msg)
{
    const char *code;
    return fy_serve_req_parse(e, true, body, strlen(body), rq, msg, 256, &code);
}

int main(void)
{
    struct fy_tokenizer *t = NULL;
    int failed = 0, rc = fy_test_tokenizer(&t);
    if (rc)
        return rc;
    struct fy_serve_engine e = {.tok = t, .n_ctx = 8192};
    struct fy_serve_req rq;
    char msg[256], date[16], want[4096];
    time_t now = time(NULL);
    struct tm tmv;
    strftime(date, sizeof(date), "%Y-%m-%d", gmtime_r(&now, &tmv));
    snprintf(want, sizeof(want), golden, date);

    rc = parse(&e, request, &rq, msg);
    FY_EXPECT(rc == 200);
    char *got = rc == 200 ? text_of(t, &rq.prompt) : NULL;
    FY_EXPECT(got && !strcmp(got, want));
    if (got && strcmp(got, want))
        printf("got:\n%s\nwant:\n%s\n", got, want);
    free(got);
    if (rc == 200)
        fy_serve_req_free(&rq);

    /* refusals */
    FY_EXPECT(parse(&e, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                        "\"tool_choice\":\"required\"}", &rq, msg) == 400);
    printf("tool_choice required: %s\n", msg);
    FY_EXPECT(parse(&e, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":"
                        "\"tool\",\"tool_call_id\":\"c9\",\"content\":\"y\"}]}", &rq, msg) == 400);
    printf("tool result without its call: %s\n", msg);
    FY_EXPECT(parse(&e, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":"
                        "[{\"type\":\"function\"}]}", &rq, msg) == 400);

    fy_tokenizer_free(t);
    printf("%s\n", failed ? "test_serve_tools: FAILED" : "test_serve_tools: ok");
    return failed ? 1 : 0;
}
