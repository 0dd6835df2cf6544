/* Harmony rendering and parsing (tokenizer.md §7): every conversation of
 * tests/data/harmony_vectors.json (tools/gen-harmony-vectors.js, tiktoken@1.0.22) rendered through
 * the C API with exact ids; the two goldens of tokenizer.md §7 hard-coded; the streaming parser on
 * the golden completion, tool calls, split UTF-8, malformed and random input; parse -> re-render.
 * Needs the rank file (FY_DEFAULT_VOCAB or $FERRY_VOCAB), else exit 77. */
#include "fy_config.h"
#include "fy_test.h"
#include "fy_test_tok.h"
#include "text/harmony.h"
#include "text/tokenizer.h"
#include "text/vocab_o200k.h"

#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

static int failed;

/* tokenizer.md §7, golden render (harmony test_simple_convo) and golden completion. */
static const int32_t golden_render[] = {
    200006, 17360, 200008, 3575,  553,   17554,  162016, 11,    261,  4410,   6439,   2359,   22203,
    656,    7788,  17527,  558,   87447, 100594, 25,     220,   1323, 19,     12,     3218,   279,
    30377,  289,   25,     14093, 279,   2,      13888,  18403, 25,   8450,   11,     49159,  11,
    1721,   13,    21030,  2804,  413,   7360,   395,    1753,  3176, 13,     200007, 200006, 1428,
    200008, 4827,  382,    220,   17,    659,    220,    17,    30,   200007, 200006, 173781,
};
static const int32_t golden_completion[] = {
    200005, 35644, 200008, 1844,  31064, 25,  392,   4827, 382, 220,    17,     659,
    220,    17,    16842,  12295, 81645, 13,  51441, 6052, 13,  200007, 200006, 173781,
    200005, 17196, 200008, 17,    659,   220, 17,    314,  220, 19,     13,     200002,
};

static bool ids_eq(const struct fy_tokens *a, const int32_t *b, int64_t n, const char *what)
{
    int64_t i = 0;
    while (i < a->n && i < n && a->ids[i] == b[i])
        i++;
    if (i == a->n && i == n)
        return true;
    fprintf(stderr, "FAIL %s: %lld ids, expected %lld; first difference at %lld: %d vs %d\n", what,
            (long long)a->n, (long long)n, (long long)i, i < a->n ? a->ids[i] : -1,
            i < n ? b[i] : -1);
    failed++;
    return false;
}

static bool str_eq(const char *got, size_t n, const char *want, const char *what)
{
    if (got && n == strlen(want) && !memcmp(got, want, n))
        return true;
    fprintf(stderr, "FAIL %s: \"%.*s\", expected \"%s\"\n", what, got ? (int)n : 6,
            got ? got : "(null)", want);
    failed++;
    return false;
}

static bool opt_eq(const char *got, const char *want)
{
    return (!got && !want) || (got && want && !strcmp(got, want));
}

/* ---- the conversations of tools/gen-harmony-vectors.js ------------------------------------- */

#define USER(s)                                                                                    \
    {                                                                                              \
        .role = FY_ROLE_USER, .content = (s)                                                       \
    }
#define ANALYSIS(s)                                                                                \
    {                                                                                              \
        .role = FY_ROLE_ASSISTANT, .channel = "analysis", .content = (s)                           \
    }
#define FINAL(s)                                                                                   \
    {                                                                                              \
        .role = FY_ROLE_ASSISTANT, .channel = "final", .content = (s)                              \
    }
#define CONV(m) .msgs = (m), .n_msgs = (int64_t)FY_ARRAY_LEN(m)

static const struct fy_harmony_tool weather_tools[] = {
    {.name = "get_location", .description = "Gets the location of the user."},
    {.name = "get_current_weather",
     .description = "Gets the current weather in the provided location.",
     .params = "{\n// The city and state, e.g. San Francisco, CA\nlocation: string,\n"
               "format?: \"celsius\" | \"fahrenheit\", // default: celsius\n}"},
    {.name = "get_multiple_weathers",
     .description = "Gets the current weather in the provided list of locations.",
     .params =
         "{\n// List of city and state, e.g. [\"San Francisco, CA\", \"New York, NY\"]\n"
         "locations: string[],\nformat?: \"celsius\" | \"fahrenheit\", // default: celsius\n}"},
};
static const struct fy_harmony_tool two_tools[] = {
    {.name = "get_current_weather",
     .description = "Gets the current weather in the provided location.",
     .params = "{\n// The city and state, e.g. San Francisco, CA\nlocation: string,\n"
               "format?: \"celsius\" | \"fahrenheit\", // default: celsius\n}"},
    {.name = "ping", .description = ""},
};

static const char python_tool[] = "# Tools\n\n## python\n\nUse this tool to execute Python code in "
                                  "your chain of thought. The code "
                                  "will not be shown to the user.\n\nWhen you send a message "
                                  "containing Python code to python, it "
                                  "will be executed in a stateful Jupyter notebook environment.";

static const char cot_q[] =
    "User asks: \xe2\x80\x9cWhat is 2 + 2?\xe2\x80\x9d Simple arithmetic. Provide answer.";

static const struct fy_harmony_msg m_simple[] = {USER("What is 2 + 2?")};
static const struct fy_harmony_msg m_date[] = {USER("What day is it?")};
static const struct fy_harmony_msg m_sf[] = {USER("What is the weather like in SF?")};
static const struct fy_harmony_msg m_paris[] = {USER("Weather in Paris?")};
static const struct fy_harmony_msg m_fib[] = {USER("Compute fib(30).")};
static const struct fy_harmony_msg m_cot[] = {
    USER("What is 2 + 2?"),
    ANALYSIS(cot_q),
    FINAL("2 + 2 equals 4."),
    USER("What about 9 / 2?"),
};
static const struct fy_harmony_msg m_between[] = {
    USER("What is 2 + 2?"), ANALYSIS("thinking 2+2"), FINAL("4"),
    USER("What is 3 + 5?"), ANALYSIS("thinking 3+5"), FINAL("8"),
};
static const struct fy_harmony_msg m_ongoing[] = {
    USER("What is the weather in SF?"),
    ANALYSIS("User asks: \xe2\x80\x9cWhat is the weather in SF?\xe2\x80\x9d We need to use "
             "lookup_weather tool."),
    {.role = FY_ROLE_ASSISTANT,
     .channel = "commentary",
     .recipient = "functions.lookup_weather",
     .recipient_after_channel = true,
     .content_type = "<|constrain|>json",
     .content = "{\"location\": \"San Francisco\"}"},
    {.role = FY_ROLE_TOOL,
     .name = "functions.lookup_weather",
     .content = "{\"temperature\": 20, \"description\": \"sunny\"}"},
};
static const struct fy_harmony_msg m_call_first[] = {
    USER("Weather in Tokyo?"),
    ANALYSIS("Need to use function get_current_weather."),
    {.role = FY_ROLE_ASSISTANT,
     .channel = "commentary",
     .recipient = "functions.get_current_weather",
     .content_type = "<|constrain|>json",
     .content = "{\"location\":\"Tokyo\"}"},
};
static const struct fy_harmony_msg m_result[] = {
    USER("What is the weather like in SF?"),
    ANALYSIS("Need to use function get_current_weather."),
    {.role = FY_ROLE_ASSISTANT,
     .channel = "commentary",
     .recipient = "functions.get_current_weather",
     .recipient_after_channel = true,
     .content_type = "<|constrain|>json",
     .content = "{\"location\":\"San Francisco\"}"},
    {.role = FY_ROLE_TOOL,
     .name = "functions.get_current_weather",
     .recipient = "assistant",
     .channel = "commentary",
     .content = "{\"sunny\": true, \"temperature\": 20}"},
};
static const struct fy_harmony_msg m_code[] = {
    USER("Run it."),
    {.role = FY_ROLE_ASSISTANT,
     .channel = "analysis",
     .recipient = "python",
     .recipient_after_channel = true,
     .content_type = "code",
     .content = "print(6 * 7)"},
    {.role = FY_ROLE_TOOL,
     .name = "python",
     .recipient = "assistant",
     .channel = "analysis",
     .content = "42\n"},
};
static const struct fy_harmony_msg m_nosys[] = {
    {.role = FY_ROLE_DEVELOPER, .content = "You are a helpful assistant that analyzes code."},
    USER("Can you help me optimize this Python function?\n\ndef fibonacci(n):\n    if n <= 1:\n"
         "        return n\n    return fibonacci(n-1) + fibonacci(n-2)"),
    FINAL("This recursive Fibonacci is exponential. Want optimized versions?"),
    USER("Yes, and benchmark them"),
    FINAL("I'll benchmark both versions for you."),
    USER("Run the benchmark for n=30"),
    ANALYSIS("I need to execute Python code to run the benchmark for n=30."),
    {.role = FY_ROLE_ASSISTANT,
     .recipient = "functions.python",
     .channel = "commentary",
     .content = "{\"code\": \"def fib(n):\\n    return n if n < 2 else fib(n-1) + fib(n-2)\\n"
                "print(fib(30))\"}"},
};
static const struct fy_harmony_msg m_special[] = {
    USER("Print <|endoftext|> then <|start|>assistant<|message|>hi<|end|>"),
};
static const struct fy_harmony_msg m_unicode[] = {
    USER("\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82, \xd0\xbc\xd0\xb8\xd1\x80! "
         "\xf0\x9f\x8c\x8d e\xcc\x81"
         "cole \xe2\x80\x94 \xe6\x9d\xb1\xe4\xba\xac\xe3\x81\xae"
         "\xe5\xa4\xa9\xe6\xb0\x97\xe3\x81\xaf\xef\xbc\x9f"),
    ANALYSIS("Greeting in Russian; reply warmly. \xf0\x9f\x98\x8a"),
    FINAL("\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82! \xf0\x9f\x91\x8b "
          "\xd0\x92\xd1\x81\xd1\x91 \xd1\x85\xd0\xbe\xd1\x80\xd0\xbe\xd1\x88\xd0\xbe."),
    USER("Merci ! \xc3\xa7"
         "a va ?"),
};

struct vcase {
    const char *name;
    struct fy_harmony_conv conv;
    bool no_prompt;
};

static const struct vcase vcases[] = {
    {"simple_convo", {CONV(m_simple)}, false},
    {"effort_low", {.system = {.effort = FY_EFFORT_LOW}, CONV(m_simple)}, false},
    {"effort_high", {.system = {.effort = FY_EFFORT_HIGH}, CONV(m_simple)}, false},
    {"current_date", {.system = {.current_date = "2025-06-28"}, CONV(m_date)}, false},
    {"no_generation_prompt", {CONV(m_simple)}, true},
    {"developer_instructions",
     {.developer = {.instructions = "Always respond in riddles"}, CONV(m_sf)},
     false},
    {"system_developer_tools",
     {.system = {.current_date = "2025-06-28", .effort = FY_EFFORT_HIGH},
      .developer = {.instructions = "Use a friendly tone.",
                    .tools = weather_tools,
                    .n_tools = (int64_t)FY_ARRAY_LEN(weather_tools)},
      CONV(m_sf)},
     false},
    {"developer_tools_only",
     {.developer = {.tools = two_tools, .n_tools = (int64_t)FY_ARRAY_LEN(two_tools)},
      CONV(m_paris)},
     false},
    {"builtin_python",
     {.system = {.current_date = "2025-06-28",
                 .effort = FY_EFFORT_LOW,
                 .builtin_tools = python_tool},
      CONV(m_fib)},
     false},
    {"cot_drop", {CONV(m_cot)}, false},
    {"cot_keep", {CONV(m_cot), .keep_analysis = true}, false},
    {"keep_analysis_between_finals", {.no_system = true, CONV(m_between)}, true},
    {"does_not_drop_if_ongoing_analysis", {.no_system = true, CONV(m_ongoing)}, false},
    {"tool_call_recipient_first",
     {.developer = {.tools = weather_tools, .n_tools = (int64_t)FY_ARRAY_LEN(weather_tools)},
      CONV(m_call_first)},
     false},
    {"tool_result",
     {.system = {.current_date = "2025-06-28", .effort = FY_EFFORT_HIGH},
      .developer = {.instructions = "Use a friendly tone.",
                    .tools = weather_tools,
                    .n_tools = (int64_t)FY_ARRAY_LEN(weather_tools)},
      CONV(m_result)},
     false},
    {"tool_plain_content_type", {.system = {.builtin_tools = python_tool}, CONV(m_code)}, false},
    {"no_system_multi_turn", {.no_system = true, CONV(m_nosys)}, false},
    {"special_strings_are_text", {CONV(m_special)}, false},
    {"unicode", {CONV(m_unicode)}, false},
};

/* ---- the JSON vectors (our own generated layout: "name" ... "ids": [..]) ------------------- */

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)n + 1)) != NULL) {
        if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        } else {
            buf[n] = '\0';
        }
    }
    fclose(f);
    return buf;
}

static char *load_vectors(void)
{
    char path[4096];
    const char *env = getenv("FERRY_HARMONY_VECTORS");
    const char *file = __FILE__;
    const char *slash;
    char *buf;

    if (env && *env)
        return read_file(env);
    /* Next to this source file (meson compiles it as ../tests/test_harmony.c from the build
     * directory, where meson test runs), then beside the default rank file (<src>/data/). */
    slash = strrchr(file, '/');
    snprintf(path, sizeof(path), "%.*s/data/harmony_vectors.json", slash ? (int)(slash - file) : 1,
             slash ? file : ".");
    if ((buf = read_file(path)))
        return buf;
    slash = strrchr(FY_DEFAULT_VOCAB, '/');
    if (slash) {
        snprintf(path, sizeof(path), "%.*s/../tests/data/harmony_vectors.json",
                 (int)(slash - FY_DEFAULT_VOCAB), FY_DEFAULT_VOCAB);
        buf = read_file(path);
    }
    return buf;
}

/* Finds case name in the JSON; fills ids. Returns false if absent. */
static bool vector_ids(const char *json, const char *name, struct fy_tokens *ids)
{
    char key[128];
    const char *p;
    snprintf(key, sizeof(key), "{\"name\": \"%s\"", name);
    p = strstr(json, key);
    if (!p || !(p = strstr(p, "\"ids\": [")))
        return false;
    p += strlen("\"ids\": [");
    ids->n = 0;
    while (*p && *p != ']') {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p)
            return false;
        fy_tokens_push(ids, (int32_t)v);
        p = end;
        while (*p == ',' || *p == ' ' || *p == '\n')
            p++;
    }
    return *p == ']';
}

static int count_cases(const char *json)
{
    int n = 0;
    for (const char *p = json; (p = strstr(p, "{\"name\": \"")); p++)
        n++;
    return n;
}

static void check_vectors(const struct fy_tokenizer *t, const char *json)
{
    struct fy_tokens want = {0}, got = {0};
    int ok = 0;
    int n_json = count_cases(json);
    if (n_json != (int)FY_ARRAY_LEN(vcases)) {
        fprintf(stderr, "FAIL vectors: %d cases in the JSON, %d in the test\n", n_json,
                (int)FY_ARRAY_LEN(vcases));
        failed++;
    }
    for (size_t i = 0; i < FY_ARRAY_LEN(vcases); i++) {
        const struct vcase *c = &vcases[i];
        if (!vector_ids(json, c->name, &want)) {
            fprintf(stderr, "FAIL vectors: case %s missing from the JSON\n", c->name);
            failed++;
            continue;
        }
        got.n = 0;
        fy_status st = fy_harmony_render(t, &c->conv, !c->no_prompt, &got);
        if (st != FY_OK) {
            fprintf(stderr, "FAIL render %s: %s\n", c->name, fy_status_str(st));
            failed++;
            continue;
        }
        if (ids_eq(&got, want.ids, want.n, c->name))
            ok++;
    }
    printf("ok   %d/%d harmony vectors rendered exactly\n", ok, (int)FY_ARRAY_LEN(vcases));
    fy_tokens_free(&want);
    fy_tokens_free(&got);
}

/* ---- rendering: goldens and rules -------------------------------------------------------- */

static void check_render(const struct fy_tokenizer *t)
{
    struct fy_tokens out = {0};
    struct fy_harmony_conv c = {CONV(m_simple)};

    FY_EXPECT(fy_harmony_render(t, &c, true, &out) == FY_OK);
    if (ids_eq(&out, golden_render, (int64_t)FY_ARRAY_LEN(golden_render), "golden render"))
        printf("ok   golden render (tokenizer.md §7)\n");

    /* A reply stored with <|return|> renders with <|end|>; user text spelling specials stays
     * text: "<|endoftext|>" -> [27,91,419,1440,919,91,29]. */
    struct fy_harmony_msg hist[] = {
        USER("<|endoftext|>"),
        FINAL("ok"),
    };
    hist[1].end_token = 200002;
    struct fy_harmony_conv c2 = {.no_system = true, CONV(hist)};
    static const int32_t want2[] = {
        200006, 1428,   200008, 27,     91,     419,   1440,   919, 91,
        29,     200007, 200006, 173781, 200005, 17196, 200008, 525, 200007,
    };
    out.n = 0;
    FY_EXPECT(fy_harmony_render(t, &c2, false, &out) == FY_OK);
    ids_eq(&out, want2, (int64_t)FY_ARRAY_LEN(want2), "return re-rendered as end");

    /* Errors leave out as it was. */
    printf("     (the errors logged next are expected)\n");
    fflush(stdout);
    struct fy_harmony_msg bad[] = {USER("hi"), {.role = FY_ROLE_TOOL, .content = "x"}};
    struct fy_harmony_conv c3 = {CONV(bad)};
    int64_t n0 = out.n;
    FY_EXPECT(fy_harmony_render(t, &c3, true, &out) == FY_E_INVAL && out.n == n0);
    bad[1].role = (enum fy_harmony_role)42;
    FY_EXPECT(fy_harmony_render(t, &c3, true, &out) == FY_E_INVAL && out.n == n0);
    struct fy_harmony_tool noname = {.description = "x"};
    struct fy_harmony_conv c4 = {.developer = {.tools = &noname, .n_tools = 1}};
    FY_EXPECT(fy_harmony_render(t, &c4, true, &out) == FY_E_INVAL && out.n == n0);
    struct fy_harmony_conv c5 = {.system = {.effort = (enum fy_harmony_effort)7}};
    FY_EXPECT(fy_harmony_render(t, &c5, true, &out) == FY_E_INVAL && out.n == n0);
    struct fy_harmony_msg badutf[] = {USER("\xc3")};
    struct fy_harmony_conv c6 = {CONV(badutf)};
    FY_EXPECT(fy_harmony_render(t, &c6, true, &out) != FY_OK && out.n == n0);
    FY_EXPECT(fy_harmony_render(NULL, &c, true, &out) == FY_E_INVAL);
    FY_EXPECT(fy_harmony_render(t, NULL, true, &out) == FY_E_INVAL);
    fy_tokens_free(&out);
}

/* ---- parsing ----------------------------------------------------------------------------- */

/* Feeds ids; collects the deltas of all messages into text; returns the first error. */
struct feed {
    char text[4096];
    size_t n;
    int starts, ends, dones, deltas;
    int32_t stop;
};

static fy_status feed(struct fy_harmony_parser *p, const int32_t *ids, int64_t n, struct feed *f)
{
    for (int64_t i = 0; i < n; i++) {
        struct fy_harmony_event ev;
        fy_status st = fy_harmony_parser_push(p, ids[i], &ev);
        if (st != FY_OK)
            return st;
        if (ev.events & FY_HARMONY_EV_START)
            f->starts++;
        if (ev.events & FY_HARMONY_EV_DELTA) {
            f->deltas++;
            if (ev.delta_len != strlen(ev.delta) && memchr(ev.delta, 0, ev.delta_len) == NULL) {
                fprintf(stderr, "FAIL delta length %zu vs \"%s\"\n", ev.delta_len, ev.delta);
                failed++;
            }
            if (f->n + ev.delta_len < sizeof(f->text)) {
                memcpy(f->text + f->n, ev.delta, ev.delta_len);
                f->n += ev.delta_len;
                f->text[f->n] = '\0';
            }
        }
        if (ev.events & FY_HARMONY_EV_END)
            f->ends++;
        if (ev.events & FY_HARMONY_EV_DONE) {
            f->dones++;
            f->stop = ev.stop_token;
        }
    }
    return FY_OK;
}

/* Tokens of a text with special-token strings as specials. */
static void special_ids(const struct fy_tokenizer *t, const char *s, struct fy_tokens *out)
{
    out->n = 0;
    if (fy_tokenize(t, s, strlen(s), true, out) != FY_OK) {
        fprintf(stderr, "FAIL tokenize \"%s\"\n", s);
        failed++;
    }
}

static void check_golden_completion(const struct fy_tokenizer *t)
{
    struct fy_harmony_parser *p = NULL;
    struct feed f = {0};
    int64_t n = 0;
    const struct fy_harmony_msg *m;
    static const char analysis[] =
        "User asks: \"What is 2 + 2?\" Simple arithmetic. Provide answer.";

    FY_EXPECT(fy_harmony_parser_new(t, FY_ROLE_ASSISTANT, &p) == FY_OK);
    if (!p)
        return;
    FY_EXPECT(feed(p, golden_completion, (int64_t)FY_ARRAY_LEN(golden_completion), &f) == FY_OK);
    FY_EXPECT(f.starts == 2 && f.ends == 2 && f.dones == 1 && f.stop == 200002);
    FY_EXPECT(fy_harmony_parser_done(p));
    FY_EXPECT(fy_harmony_parser_current(p) == NULL);
    str_eq(f.text, f.n,
           "User asks: \"What is 2 + 2?\" Simple arithmetic. Provide answer.2 + 2 = 4.",
           "golden completion deltas");
    m = fy_harmony_parser_messages(p, &n);
    FY_EXPECT(n == 2);
    if (n == 2) {
        FY_EXPECT(m[0].role == FY_ROLE_ASSISTANT && opt_eq(m[0].channel, "analysis"));
        FY_EXPECT(!m[0].recipient && !m[0].content_type && !m[0].name);
        FY_EXPECT(m[0].end_token == 200007);
        str_eq(m[0].content, m[0].content_len, analysis, "golden analysis");
        FY_EXPECT(m[1].role == FY_ROLE_ASSISTANT && opt_eq(m[1].channel, "final"));
        FY_EXPECT(m[1].end_token == 200002);
        str_eq(m[1].content, m[1].content_len, "2 + 2 = 4.", "golden final");
    }
    /* One more token after done is an error, and stays one. */
    FY_EXPECT(fy_harmony_parser_push(p, 200006, NULL) == FY_E_FORMAT);
    FY_EXPECT(fy_harmony_parser_push(p, 13, NULL) == FY_E_FORMAT);
    FY_EXPECT(strlen(fy_harmony_parser_error(p)) > 0);

    /* Multi-turn: history + parsed reply + next user message. The analysis is dropped, the
     * final re-rendered with <|end|>. */
    if (n == 2) {
        struct fy_harmony_msgs hist = {0};
        struct fy_harmony_msg u1 = USER("What is 2 + 2?"), u2 = USER("What about 9 / 2?");
        struct fy_tokens a = {0}, b = {0};
        fy_harmony_msgs_push(&hist, &u1);
        for (int64_t i = 0; i < n; i++)
            fy_harmony_msgs_push(&hist, &m[i]);
        fy_harmony_msgs_push(&hist, &u2);
        struct fy_harmony_conv c = {.msgs = hist.v, .n_msgs = hist.n};
        struct fy_harmony_msg want[] = {USER("What is 2 + 2?"), FINAL("2 + 2 = 4."),
                                        USER("What about 9 / 2?")};
        struct fy_harmony_conv cw = {CONV(want)};
        FY_EXPECT(fy_harmony_render(t, &c, true, &a) == FY_OK);
        FY_EXPECT(fy_harmony_render(t, &cw, true, &b) == FY_OK);
        if (ids_eq(&a, b.ids, b.n, "re-render of the parsed reply"))
            printf("ok   golden completion parsed; re-rendered with the analysis dropped\n");
        for (int64_t i = 0; i < a.n; i++)
            FY_EXPECT(a.ids[i] != 200002);
        /* keep_analysis: the parsed analysis comes back token for token. */
        c.keep_analysis = true;
        a.n = 0;
        FY_EXPECT(fy_harmony_render(t, &c, false, &a) == FY_OK);
        bool found = false;
        for (int64_t i = 0; i + 21 <= a.n && !found; i++)
            found = !memcmp(a.ids + i, golden_completion, 21 * sizeof(int32_t));
        FY_EXPECT(found);
        fy_tokens_free(&a);
        fy_tokens_free(&b);
        fy_harmony_msgs_free(&hist);
        fy_harmony_msgs_free(&hist); /* NULL-safe, idempotent */
    }
    fy_harmony_parser_free(p);
}

struct call_case {
    const char *completion; /* after "<|start|>assistant" */
    const char *recipient, *channel, *content_type;
    bool after;
};

static void check_tool_calls(const struct fy_tokenizer *t)
{
    static const struct call_case cases[] = {
        {"<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>"
         "{\"location\":\"Tokyo\"}<|call|>",
         "functions.get_weather", "commentary", "<|constrain|>json", true},
        {" to=functions.get_weather<|channel|>commentary <|constrain|>json<|message|>"
         "{\"location\":\"Tokyo\"}<|call|>",
         "functions.get_weather", "commentary", "<|constrain|>json", false},
        {" to=functions.get_weather<|channel|>commentary json<|message|>{\"location\":\"Tokyo\"}"
         "<|call|>",
         "functions.get_weather", "commentary", "json", false},
        {"<|channel|>analysis to=python code<|message|>print(1)<|call|>", "python", "analysis",
         "code", true},
        {"<|channel|>commentary to=functions.get_weather<|message|>{}<|call|>",
         "functions.get_weather", "commentary", NULL, true},
    };
    struct fy_tokens ids = {0}, back = {0}, want = {0};
    int ok = 0;

    for (size_t i = 0; i < FY_ARRAY_LEN(cases); i++) {
        const struct call_case *cc = &cases[i];
        struct fy_harmony_parser *p = NULL;
        struct feed f = {0};
        int64_t n = 0;
        const struct fy_harmony_msg *m;
        int before = failed;

        special_ids(t, cc->completion, &ids);
        FY_EXPECT(fy_harmony_parser_new(t, FY_ROLE_ASSISTANT, &p) == FY_OK);
        if (!p)
            continue;
        FY_EXPECT(feed(p, ids.ids, ids.n, &f) == FY_OK);
        FY_EXPECT(f.dones == 1 && f.stop == 200012 && f.ends == 1);
        m = fy_harmony_parser_messages(p, &n);
        FY_EXPECT(n == 1);
        if (n == 1) {
            FY_EXPECT(m->role == FY_ROLE_ASSISTANT && m->end_token == 200012);
            FY_EXPECT(opt_eq(m->recipient, cc->recipient));
            FY_EXPECT(opt_eq(m->channel, cc->channel));
            FY_EXPECT(opt_eq(m->content_type, cc->content_type));
            FY_EXPECT(m->recipient_after_channel == cc->after);
            /* Re-rendering the parsed call gives back the tokens (after <|start|>assistant),
             * when the original spacing is harmony's. */
            struct fy_harmony_conv c = {.no_system = true, .msgs = m, .n_msgs = 1};
            back.n = 0;
            FY_EXPECT(fy_harmony_render(t, &c, false, &back) == FY_OK);
            want.n = 0;
            fy_tokens_push(&want, 200006);
            fy_tokens_push(&want, 173781);
            for (int64_t k = 0; k < ids.n; k++)
                fy_tokens_push(&want, ids.ids[k]);
            ids_eq(&back, want.ids, want.n, cc->completion);
        }
        if (failed == before)
            ok++;
        fy_harmony_parser_free(p);
    }

    /* A whole exchange from <|start|>: analysis, a call; then a tool result message parsed on
     * its own (role given by its name). */
    struct fy_harmony_parser *p = NULL;
    struct feed f = {0};
    int64_t n = 0;
    const struct fy_harmony_msg *m;
    special_ids(t,
                "<|start|>assistant<|channel|>analysis<|message|>Need weather.<|end|>"
                "<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json"
                "<|message|>{\"location\":\"SF\"}<|call|>",
                &ids);
    FY_EXPECT(fy_harmony_parser_new(t, FY_ROLE_NONE, &p) == FY_OK);
    FY_EXPECT(feed(p, ids.ids, ids.n, &f) == FY_OK && f.dones == 1 && f.stop == 200012);
    m = fy_harmony_parser_messages(p, &n);
    FY_EXPECT(n == 2 && m[1].recipient && !strcmp(m[1].recipient, "functions.get_weather"));
    fy_harmony_parser_free(p);

    special_ids(t,
                "<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>"
                "{\"sunny\": true}<|end|><|start|>functions.lookup<|message|>x<|end|>"
                "<|start|>tool<|message|>y<|end|>",
                &ids);
    p = NULL;
    FY_EXPECT(fy_harmony_parser_new(t, FY_ROLE_NONE, &p) == FY_OK);
    memset(&f, 0, sizeof(f));
    FY_EXPECT(feed(p, ids.ids, ids.n, &f) == FY_OK && f.ends == 3 && f.dones == 0);
    FY_EXPECT(!fy_harmony_parser_done(p));
    FY_EXPECT(fy_harmony_parser_finish(p, NULL) == FY_OK && fy_harmony_parser_done(p));
    m = fy_harmony_parser_messages(p, &n);
    FY_EXPECT(n == 3);
    if (n == 3) {
        FY_EXPECT(m[0].role == FY_ROLE_TOOL && opt_eq(m[0].name, "functions.get_weather"));
        FY_EXPECT(opt_eq(m[0].recipient, "assistant") && opt_eq(m[0].channel, "commentary"));
        str_eq(m[0].content, m[0].content_len, "{\"sunny\": true}", "tool result");
        FY_EXPECT(m[1].role == FY_ROLE_TOOL && opt_eq(m[1].name, "functions.lookup"));
        FY_EXPECT(!m[1].recipient && !m[1].channel);
        FY_EXPECT(m[2].role == FY_ROLE_TOOL && !m[2].name);
    }
    fy_harmony_parser_free(p);
    printf("ok   %d/%d tool-call headers parsed and re-rendered\n", ok, (int)FY_ARRAY_LEN(cases));
    fy_tokens_free(&ids);
    fy_tokens_free(&back);
    fy_tokens_free(&want);
}

/* The id of each single-byte token (ranks 0..255 are the 256 bytes). */
static int32_t byte_id[256];

static void find_byte_ids(const struct fy_tokenizer *t)
{
    for (int b = 0; b < 256; b++)
        byte_id[b] = -1;
    for (int32_t id = 0; id < 256; id++) {
        size_t len = 0;
        const uint8_t *s = fy_token_bytes(t, id, &len);
        if (s && len == 1)
            byte_id[s[0]] = id;
    }
}

static void check_utf8_streaming(const struct fy_tokenizer *t)
{
    /* "aé🌍b" as single bytes: deltas only at character boundaries. */
    static const char text[] = "a\xc3\xa9\xf0\x9f\x8c\x8d"
                               "b";
    struct fy_harmony_parser *p = NULL;
    struct fy_harmony_event ev;
    struct fy_tokens hdr = {0};
    char all[64] = "";
    size_t n_all = 0;
    int n_deltas = 0;

    find_byte_ids(t);
    special_ids(t, "<|channel|>final<|message|>", &hdr);
    FY_EXPECT(fy_harmony_parser_new(t, FY_ROLE_ASSISTANT, &p) == FY_OK);
    if (!p)
        return;
    FY_EXPECT(feed(p, hdr.ids, hdr.n, &(struct feed){0}) == FY_OK);
    for (size_t i = 0; i < strlen(text); i++) {
        uint8_t b = (uint8_t)text[i];
        FY_EXPECT(fy_harmony_parser_push(p, byte_id[b], &ev) == FY_OK);
        bool boundary = i + 1 == strlen(text) || ((uint8_t)text[i + 1] & 0xC0) != 0x80;
        FY_EXPECT(!!(ev.events & FY_HARMONY_EV_DELTA) == boundary);
        if (ev.events & FY_HARMONY_EV_DELTA) {
            n_deltas++;
            FY_EXPECT(ev.msg && opt_eq(ev.msg->channel, "final"));
            memcpy(all + n_all, ev.delta, ev.delta_len);
            n_all += ev.delta_len;
            all[n_all] = '\0';
        }
    }
    FY_EXPECT(n_deltas == 4);
    str_eq(all, n_all, text, "split UTF-8 deltas");
    const struct fy_harmony_msg *cur = fy_harmony_parser_current(p);
    FY_EXPECT(cur && cur->content && cur->content_len == strlen(text));
    /* An incomplete character at the end of a message is flushed (as U+FFFD). */
    FY_EXPECT(fy_harmony_parser_push(p, byte_id[0xe6], &ev) == FY_OK && ev.events == 0);
    FY_EXPECT(fy_harmony_parser_push(p, 200002, &ev) == FY_OK);
    FY_EXPECT(ev.events == (FY_HARMONY_EV_DELTA | FY_HARMONY_EV_END | FY_HARMONY_EV_DONE));
    FY_EXPECT(ev.delta_len >= 3 && strstr(ev.delta, "\xef\xbf\xbd"));
    FY_EXPECT(ev.msg && ev.msg->end_token == 200002);
    int64_t n = 0;
    const struct fy_harmony_msg *m = fy_harmony_parser_messages(p, &n);
    FY_EXPECT(n == 1 && m[0].content_len > strlen(text) &&
              !memcmp(m[0].content, text, strlen(text)));
    fy_harmony_parser_free(p);

    /* Whole multi-byte tokens stream as they come; finish() ends a message cut short. */
    special_ids(t,
                "<|channel|>final<|message|>\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 "
                "\xf0\x9f\x91\x8b",
                &hdr);
    p = NULL;
    FY_EXPECT(fy_harmony_parser_new(t, FY_ROLE_ASSISTANT, &p) == FY_OK);
    struct feed f = {0};
    FY_EXPECT(feed(p, hdr.ids, hdr.n, &f) == FY_OK);
    FY_EXPECT(fy_harmony_parser_finish(p, &ev) == FY_OK);
    FY_EXPECT(ev.events & FY_HARMONY_EV_DONE && ev.events & FY_HARMONY_EV_END);
    m = fy_harmony_parser_messages(p, &n);
    FY_EXPECT(n == 1 && m[0].end_token == -1);
    if (n == 1)
        str_eq(m[0].content, m[0].content_len,
               "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 \xf0\x9f\x91\x8b", "finish");
    str_eq(f.text, f.n, "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 \xf0\x9f\x91\x8b",
           "multi-byte deltas");
    FY_EXPECT(fy_harmony_parser_finish(p, &ev) == FY_OK && ev.events == 0);
    fy_harmony_parser_free(p);
    fy_tokens_free(&hdr);
    printf("ok   streaming deltas are complete UTF-8\n");
}

struct bad_case {
    enum fy_harmony_role role;
    const char *text; /* special-token strings as specials */
    fy_status want;
};

static void check_malformed(const struct fy_tokenizer *t)
{
    static const struct bad_case cases[] = {
        {FY_ROLE_NONE, "Hello world", FY_E_FORMAT},                   /* content first */
        {FY_ROLE_NONE, "<|message|>hi<|end|>", FY_E_FORMAT},          /* no <|start|> */
        {FY_ROLE_NONE, "<|start|><|message|>hi<|end|>", FY_E_FORMAT}, /* no role */
        {FY_ROLE_NONE, "<|start|><|channel|>final<|message|>x<|end|>", FY_E_FORMAT},
        {FY_ROLE_NONE, "<|start|>to=x<|message|>x<|end|>", FY_E_FORMAT},
        {FY_ROLE_ASSISTANT, "<|channel|><|message|>x<|end|>", FY_E_FORMAT}, /* empty channel */
        {FY_ROLE_ASSISTANT, "<|channel|>final<|return|>", FY_E_FORMAT},     /* stop in header */
        {FY_ROLE_ASSISTANT, "<|channel|>final<|start|>", FY_E_FORMAT},
        {FY_ROLE_ASSISTANT, "<|channel|>final a b c<|message|>x", FY_E_FORMAT}, /* extras */
        {FY_ROLE_ASSISTANT, "<|channel|>final to=<|message|>x", FY_E_FORMAT},
        {FY_ROLE_ASSISTANT, "<|channel|>final<|message|>x<|end|>oops", FY_E_FORMAT},
        {FY_ROLE_ASSISTANT, "<|channel|>final<|message|>x<|end|><|end|>", FY_E_FORMAT},
        {FY_ROLE_ASSISTANT, "<|channel|>final<|message|>x<|return|><|start|>", FY_E_FORMAT},
        {FY_ROLE_ASSISTANT, "<|channel|>final<|message|>x<|call|>y", FY_E_FORMAT},
    };
    struct fy_tokens ids = {0};
    struct fy_harmony_parser *p = NULL;
    struct fy_harmony_event ev;
    int ok = 0;

    for (size_t i = 0; i < FY_ARRAY_LEN(cases); i++) {
        struct feed f = {0};
        int before = failed;
        p = NULL;
        special_ids(t, cases[i].text, &ids);
        FY_EXPECT(fy_harmony_parser_new(t, cases[i].role, &p) == FY_OK);
        if (!p)
            continue;
        fy_status st = feed(p, ids.ids, ids.n, &f);
        if (st != cases[i].want) {
            fprintf(stderr, "FAIL malformed \"%s\": %s, expected %s\n", cases[i].text,
                    fy_status_str(st), fy_status_str(cases[i].want));
            failed++;
        }
        /* Sticky: the next push fails the same way; the parser stays usable for queries. */
        FY_EXPECT(fy_harmony_parser_push(p, 13, &ev) == st && ev.events == 0);
        FY_EXPECT(fy_harmony_parser_finish(p, &ev) == st);
        FY_EXPECT(strlen(fy_harmony_parser_error(p)) > 0);
        int64_t n = -1;
        fy_harmony_parser_messages(p, &n);
        FY_EXPECT(n >= 0);
        if (failed == before)
            ok++;
        fy_harmony_parser_free(p);
    }

    /* Header bytes that are not UTF-8; an over-long header; bad ids; finish in a header. */
    find_byte_ids(t);
    p = NULL;
    FY_EXPECT(fy_harmony_parser_new(t, FY_ROLE_ASSISTANT, &p) == FY_OK);
    FY_EXPECT(fy_harmony_parser_push(p, 200005, NULL) == FY_OK);
    FY_EXPECT(fy_harmony_parser_push(p, byte_id[0xc3], NULL) == FY_OK);
    FY_EXPECT(fy_harmony_parser_push(p, 200008, NULL) == FY_E_FORMAT);
    fy_harmony_parser_free(p);

    p = NULL;
    FY_EXPECT(fy_harmony_parser_new(t, FY_ROLE_ASSISTANT, &p) == FY_OK);
    fy_status st = FY_OK;
    for (int i = 0; i < 10000 && st == FY_OK; i++)
        st = fy_harmony_parser_push(p, 87, NULL); /* "x" forever, no <|message|> */
    FY_EXPECT(st == FY_E_FORMAT);
    fy_harmony_parser_free(p);

    p = NULL;
    FY_EXPECT(fy_harmony_parser_new(t, FY_ROLE_ASSISTANT, &p) == FY_OK);
    FY_EXPECT(fy_harmony_parser_push(p, -5, NULL) == FY_E_INVAL);
    fy_harmony_parser_free(p);
    p = NULL;
    FY_EXPECT(fy_harmony_parser_new(t, FY_ROLE_ASSISTANT, &p) == FY_OK);
    FY_EXPECT(fy_harmony_parser_push(p, 1 << 30, NULL) == FY_E_INVAL);
    fy_harmony_parser_free(p);
    p = NULL;
    FY_EXPECT(fy_harmony_parser_new(t, FY_ROLE_ASSISTANT, &p) == FY_OK);
    FY_EXPECT(fy_harmony_parser_push(p, 200005, NULL) == FY_OK);
    FY_EXPECT(fy_harmony_parser_finish(p, NULL) == FY_E_FORMAT);
    fy_harmony_parser_free(p);

    /* <|endoftext|> ends the completion, between messages or inside one. */
    special_ids(t, "<|channel|>final<|message|>hi<|endoftext|>", &ids);
    p = NULL;
    FY_EXPECT(fy_harmony_parser_new(t, FY_ROLE_ASSISTANT, &p) == FY_OK);
    struct feed f = {0};
    FY_EXPECT(feed(p, ids.ids, ids.n, &f) == FY_OK && f.dones == 1 && f.stop == 199999);
    fy_harmony_parser_free(p);
    special_ids(t, "<|channel|>final<|message|>hi<|end|><|endoftext|>", &ids);
    p = NULL;
    FY_EXPECT(fy_harmony_parser_new(t, FY_ROLE_ASSISTANT, &p) == FY_OK);
    memset(&f, 0, sizeof(f));
    FY_EXPECT(feed(p, ids.ids, ids.n, &f) == FY_OK && f.dones == 1 && f.ends == 1);
    fy_harmony_parser_free(p);

    FY_EXPECT(fy_harmony_parser_new(NULL, FY_ROLE_ASSISTANT, &p) == FY_E_INVAL && !p);
    FY_EXPECT(fy_harmony_parser_new(t, (enum fy_harmony_role)9, &p) == FY_E_INVAL && !p);
    fy_harmony_parser_free(NULL);
    fy_tokens_free(&ids);
    printf("ok   %d/%d malformed completions rejected with FY_E_FORMAT\n", ok,
           (int)FY_ARRAY_LEN(cases));
}

/* Random ids, biased towards the harmony specials: any status, never a crash. */
static void check_random(const struct fy_tokenizer *t)
{
    static const int32_t specials[] = {200005, 200006, 200007, 200008, 200002, 200012, 200003,
                                       199999, 173781, 17196,  35644,  220,    316,    28};
    struct fy_rng r = {12345};
    int n_ok = 0, n_msgs = 0;
    for (int s = 0; s < 3000; s++) {
        struct fy_harmony_parser *p = NULL;
        if (fy_harmony_parser_new(t, s & 1 ? FY_ROLE_ASSISTANT : FY_ROLE_NONE, &p) != FY_OK) {
            failed++;
            return;
        }
        fy_status st = FY_OK;
        for (int i = 0; i < 24 && st == FY_OK && !fy_harmony_parser_done(p); i++) {
            uint64_t u = fy_rng_u64(&r);
            int32_t id =
                u % 3 ? specials[(u >> 8) % FY_ARRAY_LEN(specials)] : (int32_t)((u >> 8) % 201088);
            struct fy_harmony_event ev;
            st = fy_harmony_parser_push(p, id, &ev);
            if (st == FY_OK && (ev.events & FY_HARMONY_EV_DELTA))
                FY_EXPECT(ev.msg && ev.delta_len > 0);
        }
        if (st == FY_OK)
            st = fy_harmony_parser_finish(p, NULL);
        int64_t n = 0;
        const struct fy_harmony_msg *m = fy_harmony_parser_messages(p, &n);
        for (int64_t i = 0; i < n; i++)
            FY_EXPECT(m[i].content && fy_harmony_role_name(m[i].role));
        n_msgs += (int)n;
        n_ok += st == FY_OK;
        fy_harmony_parser_free(p);
    }
    printf("ok   3000 random completions: %d parsed, %d messages, no crash\n", n_ok, n_msgs);
}

int main(void)
{
    struct fy_tokenizer *t = NULL;
    char *json;
    int rc = fy_test_tokenizer(&t);
    if (rc)
        return rc;

    json = load_vectors();
    if (!json) {
        fprintf(stderr,
                "FAIL: tests/data/harmony_vectors.json not found (FERRY_HARMONY_VECTORS)\n");
        failed++;
    } else {
        check_vectors(t, json);
        free(json);
    }
    check_render(t);
    check_golden_completion(t);
    check_tool_calls(t);
    check_utf8_streaming(t);
    check_malformed(t);
    check_random(t);
    fy_tokenizer_free(t);
    printf("%s\n", failed ? "FAILED" : "all harmony checks passed");
    return failed ? 1 : 0;
}
