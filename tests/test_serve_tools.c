/* ferry serve's request side of tools (src/cli/serve_req.c, serve_tools.c) on the real o200k
 * tokenizer, each against the exact harmony text (golden):
 *   - a request with two tools (a described string, an enum with a default, an array of
 *     integers; a tool without parameters), an assistant tool call and its result;
 *   - openai-harmony's own test_render_functions_with_parameters (test-data/
 *     test_render_functions_with_parameters.txt): four tools, among them its "kitchensink"
 *     (title, examples, nullable, a string default, enum, oneOf with a default);
 *   - two tools of ours for what that golden lacks: nested objects (4 columns deeper, a nested
 *     description, optional and required members), an array of objects, number, boolean and
 *     array defaults, a list of types, a oneOf of an enum and a number, an empty object, a
 *     schema without type, a tool whose parameters have no properties;
 *   - an assistant message with two tool_calls and two tool results (in the other order): two
 *     calls, then each result under the name of its call (found through tool_call_id);
 * and the refusals (tool_choice "required", a tool result whose call is unknown, a tool
 * without a name). Request JSON is written with ' for " (dq()). */
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

/* openai-harmony's test_render_functions_with_parameters: the request and what it renders
 * (%s: today's date; harmony's golden has 2025-06-28) */
static const char harmony_req[] =
    "{'reasoning_effort':'high','messages':[{'role':'system','content':'Always respond in "
    "riddles'},{'role':'user','content':'What is the weather like in SF?'}],'tools':["
    "{'type':'function','function':{'name':'get_location','description':"
    "'Gets the location of the user.'}},"
    "{'type':'function','function':{'name':'get_current_weather','description':"
    "'Gets the current weather in the provided location.','parameters':{'type':'object',"
    "'properties':{'location':{'type':'string','description':"
    "'The city and state, e.g. San Francisco, CA'},'format':{'type':'string','enum':"
    "['celsius','fahrenheit'],'default':'celsius'}},'required':['location']}}},"
    "{'type':'function','function':{'name':'get_multiple_weathers','description':"
    "'Gets the current weather in the provided list of locations.','parameters':{'type':"
    "'object','properties':{'locations':{'type':'array','items':{'type':'string'},"
    "'description':'List of city and state, e.g. [\\'San Francisco, CA\\', \\'New York, "
    "NY\\']'},'format':{'type':'string','enum':['celsius','fahrenheit'],'default':"
    "'celsius'}},'required':['locations']}}},"
    "{'type':'function','function':{'name':'kitchensink','description':"
    "'A function with various complex schemas.','parameters':{'description':'params object',"
    "'type':'object','properties':{'string':{'type':'string','title':'STRING','description':"
    "'A string','examples':['hello','world']},'string_nullable':{'type':'string','nullable':"
    "true,'description':'A nullable string','default':'the default'},'string_enum':{'type':"
    "'string','enum':['a','b','c']},'oneof_string_or_number':{'oneOf':[{'type':'string',"
    "'default':'default_string_in_oneof'},{'type':'number','description':"
    "'numbers can happen too'}],'description':'a oneof','default':20}}}}}]}";

static const char harmony_golden[] =
    "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"
    "Knowledge cutoff: 2024-06\nCurrent date: %s\n\nReasoning: high\n\n"
    "# Valid channels: analysis, commentary, final. Channel must be included for every message.\n"
    "Calls to these tools must go to the commentary channel: 'functions'.<|end|>"
    "<|start|>developer<|message|># Instructions\n\nAlways respond in riddles\n\n# Tools\n\n"
    "## functions\n\nnamespace functions {\n\n"
    "// Gets the location of the user.\ntype get_location = () => any;\n\n"
    "// Gets the current weather in the provided location.\ntype get_current_weather = (_: {\n"
    "// The city and state, e.g. San Francisco, CA\nlocation: string,\n"
    "format?: \"celsius\" | \"fahrenheit\", // default: celsius\n}) => any;\n\n"
    "// Gets the current weather in the provided list of locations.\n"
    "type get_multiple_weathers = (_: {\n"
    "// List of city and state, e.g. [\"San Francisco, CA\", \"New York, NY\"]\n"
    "locations: string[],\nformat?: \"celsius\" | \"fahrenheit\", // default: celsius\n"
    "}) => any;\n\n"
    "// A function with various complex schemas.\ntype kitchensink = (_: // params object\n{\n"
    "// STRING\n//\n// A string\n// Examples:\n// - \"hello\"\n// - \"world\"\nstring?: string,\n"
    "// A nullable string\nstring_nullable?: string | null, // default: \"the default\"\n"
    "string_enum?: \"a\" | \"b\" | \"c\",\n// a oneof\n// default: 20\n"
    "oneof_string_or_number?:\n | string // default: \"default_string_in_oneof\"\n"
    " | number // numbers can happen too\n,\n}) => any;\n\n"
    "} // namespace functions<|end|><|start|>user<|message|>What is the weather like in SF?"
    "<|end|><|start|>assistant";

/* nested objects, arrays of objects, defaults of every kind, a list of types, oneOf */
static const char nested_req[] =
    "{'messages':[{'role':'user','content':'Go'}],'tools':["
    "{'type':'function','function':{'name':'book_trip','description':'Books a trip.\\nPays "
    "too.','parameters':{'type':'object','properties':{"
    "'traveler':{'type':'object','description':'Who travels','properties':{'name':{'type':"
    "'string'},'age':{'type':'integer','description':'Years'},'address':{'type':'object',"
    "'properties':{'city':{'type':'string'}},'required':['city']}},'required':['name']},"
    "'legs':{'type':'array','items':{'type':'object','properties':{'from':{'type':'string'},"
    "'to':{'type':'string'}},'required':['from','to']}},"
    "'class':{'type':'string','enum':['economy','business'],'default':'economy'},"
    "'seats':{'type':'integer','default':1},'refundable':{'type':'boolean','default':false},"
    "'note':{'type':['string','null']},'tags':{'type':'array','items':{'type':'string'},"
    "'default':['x']},'meta':{'type':'object'},'extra':{}},"
    "'required':['traveler','legs']}}},"
    "{'type':'function','function':{'name':'search','description':'Finds things.',"
    "'parameters':{'type':'object','properties':{"
    "'query':{'type':'string','title':'Query','description':'Words to find','examples':"
    "['cats']},'limit':{'type':'number','default':10.5},"
    "'mode':{'oneOf':[{'type':'string','enum':['fast','full']},{'type':'integer',"
    "'description':'A level'}],'description':'How to search','default':'fast'}},"
    "'required':['query']}}},"
    "{'type':'function','function':{'name':'ping','description':'Pings.','parameters':"
    "{'type':'object','properties':{}}}}]}";

static const char nested_golden[] =
    "namespace functions {\n\n"
    "// Books a trip.\n// Pays too.\ntype book_trip = (_: {\n"
    "// Who travels\ntraveler:     // Who travels\n{\n"
    "    name: string,\n    // Years\n    age?: number,\n"
    "    address?: {\n        city: string,\n        },\n    },\n"
    "legs: {\n    from: string,\n    to: string,\n    }[],\n"
    "class?: \"economy\" | \"business\", // default: economy\n"
    "seats?: number, // default: 1\nrefundable?: boolean, // default: false\n"
    "note?: string | null,\ntags?: string[], // default: [\"x\"]\n"
    "meta?: {\n    },\nextra?: any,\n}) => any;\n\n"
    "// Finds things.\ntype search = (_: {\n"
    "// Query\n//\n// Words to find\n// Examples:\n// - \"cats\"\nquery: string,\n"
    "limit?: number, // default: 10.5\n"
    "// How to search\n// default: \"fast\"\nmode?:\n | \"fast\" | \"full\"\n"
    " | number // A level\n,\n}) => any;\n\n"
    "// Pings.\ntype ping = (_: {\n}) => any;\n\n"
    "} // namespace functions<|end|>";

/* two calls in one assistant message, their results in the other order */
static const char calls2_req[] =
    "{'messages':[{'role':'user','content':'Weather and time in Paris?'},"
    "{'role':'assistant','content':null,'tool_calls':["
    "{'id':'call_a','type':'function','function':{'name':'get_weather','arguments':"
    "'{\\'city\\':\\'Paris\\'}'}},"
    "{'id':'call_b','type':'function','function':{'name':'get_time','arguments':"
    "'{\\'zone\\':\\'CET\\'}'}}]},"
    "{'role':'tool','tool_call_id':'call_b','content':'12:00'},"
    "{'role':'tool','tool_call_id':'call_a','content':'{\\'temp\\':21}'}]}";

static const char calls2_golden[] =
    "<|start|>user<|message|>Weather and time in Paris?<|end|>"
    "<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json"
    "<|message|>{\"city\":\"Paris\"}<|call|>"
    "<|start|>assistant<|channel|>commentary to=functions.get_time <|constrain|>json"
    "<|message|>{\"zone\":\"CET\"}<|call|>"
    "<|start|>functions.get_time to=assistant<|channel|>commentary<|message|>12:00<|end|>"
    "<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>{\"temp\":21}"
    "<|end|><|start|>assistant";

/* s with ' written as " (malloc'd) */
static char *dq(const char *s)
{
    char *d = strdup(s);
    for (char *p = d; p && *p; p++)
        if (*p == '\'')
            *p = '"';
    return d;
}

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

/* The prompt of request `body` (' for ") as text; want: the whole of it (at == 0), the text
 * from the first "namespace functions" (at == 1) or its end (at == 2). 0 when it matches. */
static int check_render(struct fy_serve_engine *e, const struct fy_tokenizer *t, const char *name,
                        const char *body, const char *want, int at)
{
    struct fy_serve_req rq;
    char msg[256];
    char *b = dq(body);
    int rc = b ? parse(e, b, &rq, msg) : 500;
    free(b);
    if (rc != 200) {
        printf("FAIL: %s: %d %s\n", name, rc, msg);
        return 1;
    }
    char *got = text_of(t, &rq.prompt);
    fy_serve_req_free(&rq);
    char *from = got;
    if (got && at == 1)
        from = strstr(got, "namespace functions");
    else if (got && at == 2 && strlen(got) >= strlen(want))
        from = got + strlen(got) - strlen(want);
    char *end = at == 1 && from ? strstr(from, "<|end|>") : NULL;
    if (end)
        end[7] = '\0'; /* the developer message's end */
    int bad = !from || strcmp(from, want);
    printf("%s: %s\n", bad ? "FAIL" : "ok", name);
    if (bad)
        printf("got:\n%s\nwant:\n%s\n", from ? from : got ? got : "(null)", want);
    free(got);
    return bad;
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

    char hwant[4096];
    snprintf(hwant, sizeof(hwant), harmony_golden, date);
    failed += check_render(&e, t, "harmony's test_render_functions_with_parameters", harmony_req,
                           hwant, 0);
    failed += check_render(&e, t, "nested objects, arrays, defaults, oneOf", nested_req,
                           nested_golden, 1);
    failed += check_render(&e, t, "two tool calls and their results", calls2_req, calls2_golden,
                           2);

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
