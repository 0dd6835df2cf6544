/* Fuzzes the harmony stream parser on id sequences biased toward its special tokens, then renders
 * what it parsed and parses that again. Toy vocabulary (ids 0..255 single bytes, 256..276 the
 * specials). Input: a first byte of flags (bits 0-2: the role the parser starts with, none when
 * 0, 6 or 7; bit 3: fy_harmony_parser_finish at the end; bit 4: render the CoT drop rule, not
 * everything; bit 5: add the generation prompt; bit 6: a system message), then the ids: a byte
 * 0xE0 + k is special k (k >= 21: the pads after the specials), 0xDF hi lo the id (hi << 8 | lo)
 * (mostly outside the vocabulary), 0xDE b the byte b, any other byte itself.
 * Checked besides the sanitizers: rendering the parsed messages succeeds, and parsing the
 * rendering again (everything, no system message) gives the same roles, channels and contents,
 * up to the first message that ends the completion. Seeds (FY_FUZZ_SEEDS): conversations
 * rendered by fy_harmony_render, in this encoding. */
#include "fuzz.h"
#include "text/harmony.h"

static struct fy_tokenizer *tok;
static int32_t byte_id[256];
static int32_t special0; /* id of special 0 (<|startoftext|>) */
static struct fy_tokens rendered;

static const enum fy_harmony_role roles[8] = {FY_ROLE_NONE, FY_ROLE_SYSTEM,    FY_ROLE_DEVELOPER,
                                              FY_ROLE_USER, FY_ROLE_ASSISTANT, FY_ROLE_TOOL,
                                              FY_ROLE_NONE, FY_ROLE_NONE};

static int same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static int same_content(const struct fy_harmony_msg *a, const struct fy_harmony_msg *b)
{
    size_t na = a->content_len ? a->content_len : strlen(a->content ? a->content : "");
    size_t nb = b->content_len ? b->content_len : strlen(b->content ? b->content : "");
    return na == nb && (!na || !memcmp(a->content, b->content, na));
}

/* The parser reads a header as text, where a special token and the same characters written as
 * ordinary tokens look alike: a header field that spells a special token ("<|channel|>" in a
 * tool's name) parses back differently by design. Such messages are not compared. */
static int plain_header(const struct fy_harmony_msg *m)
{
    const char *ct = m->content_type;
    if (ct && !strncmp(ct, "<|constrain|>", 13))
        ct += 13;
    return !(m->name && strstr(m->name, "<|")) && !(m->channel && strstr(m->channel, "<|")) &&
           !(m->recipient && strstr(m->recipient, "<|")) && !(ct && strstr(ct, "<|"));
}

/* Parses the rendering of msgs[0..n) again and compares. */
static void reparse(const struct fy_harmony_msg *msgs, int64_t n)
{
    struct fy_harmony_parser *p = NULL;
    if (fy_harmony_parser_new(tok, FY_ROLE_NONE, &p) != FY_OK)
        fy_fuzz_die("fy_harmony_parser_new failed");
    for (int64_t i = 0; i < rendered.n && !fy_harmony_parser_done(p); i++)
        if (fy_harmony_parser_push(p, rendered.ids[i], NULL) != FY_OK)
            fy_fuzz_die("the rendering of parsed messages does not parse");
    int64_t m;
    const struct fy_harmony_msg *back = fy_harmony_parser_messages(p, &m);
    if (m > n || (m < n && !fy_harmony_parser_done(p)))
        fy_fuzz_die("the rendering parses to another number of messages");
    for (int64_t i = 0; i < m; i++)
        if (back[i].role != msgs[i].role || !same_str(back[i].channel, msgs[i].channel) ||
            !same_content(&back[i], &msgs[i]))
            fy_fuzz_die("a message parses back with another role, channel or content");
    fy_harmony_parser_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fy_harmony_parser *p = NULL;
    if (size < 1)
        return 0;
    const uint8_t flags = data[0];
    if (fy_harmony_parser_new(tok, roles[flags & 7], &p) != FY_OK)
        fy_fuzz_die("fy_harmony_parser_new failed");
    fy_status st = FY_OK;
    for (size_t i = 1; i < size && st == FY_OK;) {
        int32_t id;
        uint8_t b = data[i++];
        if (b >= 0xE0) {
            id = special0 + (b - 0xE0);
        } else if (b == 0xDF && i + 2 <= size) {
            id = (int32_t)(data[i] << 8 | data[i + 1]);
            i += 2;
        } else if (b == 0xDE && i < size) {
            id = byte_id[data[i++]];
        } else {
            id = byte_id[b];
        }
        struct fy_harmony_event ev;
        st = fy_harmony_parser_push(p, id, &ev);
        if (st == FY_OK && (ev.events & FY_HARMONY_EV_DELTA) && strlen(ev.delta) > ev.delta_len)
            fy_fuzz_die("a delta is longer than its length");
    }
    if (st == FY_OK && (flags & 8))
        st = fy_harmony_parser_finish(p, NULL);
    if (st != FY_OK && !fy_harmony_parser_error(p)[0])
        fy_fuzz_die("a parser error without a message");

    int64_t n;
    const struct fy_harmony_msg *msgs = fy_harmony_parser_messages(p, &n);
    struct fy_harmony_conv conv = {
        .no_system = !(flags & 64), .msgs = msgs, .n_msgs = n, .keep_analysis = !(flags & 16)};
    rendered.n = 0;
    bool nameless_tool = false; /* started as a tool: the header need not name it */
    for (int64_t i = 0; i < n; i++)
        nameless_tool |= msgs[i].role == FY_ROLE_TOOL && !(msgs[i].name && *msgs[i].name);
    st = fy_harmony_render(tok, &conv, flags & 32, &rendered);
    if (st != FY_OK && !(st == FY_E_INVAL && nameless_tool))
        fy_fuzz_die("the parsed messages do not render");
    bool plain = true;
    for (int64_t i = 0; i < n; i++)
        plain &= plain_header(&msgs[i]);
    if (st == FY_OK && plain && conv.no_system && conv.keep_analysis && !(flags & 32))
        reparse(msgs, n);
    fy_harmony_parser_free(p);
    return 0;
}

/* ---- seeds ---- */

static void seed_conv(const char *dir, const char *name, uint8_t flags,
                      const struct fy_harmony_conv *c, bool gen)
{
    struct fy_tokens v = {0};
    uint8_t buf[8192];
    size_t n = 1;
    if (fy_harmony_render(tok, c, gen, &v) != FY_OK)
        fy_fuzz_die("rendering a seed failed");
    buf[0] = flags;
    for (int64_t i = 0; i < v.n && n + 2 <= sizeof(buf); i++) {
        int32_t id = v.ids[i];
        size_t len;
        const uint8_t *b = fy_token_bytes(tok, id, &len);
        if (id >= special0) {
            buf[n++] = (uint8_t)(0xE0 + (id - special0));
        } else if (len == 1 && b[0] >= 0xDE) {
            buf[n++] = 0xDE;
            buf[n++] = b[0];
        } else {
            buf[n++] = b[0];
        }
    }
    fy_tokens_free(&v);
    fy_fuzz_seed(dir, name, buf, n);
}

static void seeds(const char *dir)
{
    const struct fy_harmony_msg chat[] = {
        {.role = FY_ROLE_USER, .content = "What is 2 + 2?"},
        {.role = FY_ROLE_ASSISTANT, .channel = "analysis", .content = "Simple sum."},
        {.role = FY_ROLE_ASSISTANT, .channel = "final", .content = "4, \xc3\xa9t\xc3\xa9"},
    };
    const struct fy_harmony_msg call[] = {
        {.role = FY_ROLE_USER, .content = "Weather?"},
        {.role = FY_ROLE_ASSISTANT,
         .channel = "commentary",
         .recipient = "functions.get",
         .recipient_after_channel = true,
         .content_type = "<|constrain|>json",
         .content = "{\"city\":\"Paris\"}"},
        {.role = FY_ROLE_TOOL,
         .name = "functions.get",
         .recipient = "assistant",
         .channel = "commentary",
         .content = "{\"temp\":21}"},
    };
    const struct fy_harmony_msg answer[] = {
        {.role = FY_ROLE_ASSISTANT, .channel = "final", .content = "done"},
    };
    struct fy_harmony_tool tool = {
        .name = "get", .description = "Gets it.", .params = "{\n// The city\ncity: string,\n}"};
    struct fy_harmony_conv c = {.msgs = chat, .n_msgs = 3, .system.current_date = "2025-01-01"};
    seed_conv(dir, "chat", 0x00, &c, false);
    c.developer =
        (struct fy_harmony_developer){.instructions = "Be brief.", .tools = &tool, .n_tools = 1};
    c.msgs = call;
    seed_conv(dir, "tool-call", 0x08, &c, true);
    c = (struct fy_harmony_conv){.no_system = true, .msgs = answer, .n_msgs = 1};
    seed_conv(dir, "answer", 0x00, &c, false);
    /* a completion after "<|start|>assistant": the header without the role, ended by <|return|> */
    uint8_t done[64];
    size_t k = 0;
    done[k++] = 0x04 | 0x08; /* starts as the assistant */
    done[k++] = 0xE0 + 7;    /* <|channel|> */
    memcpy(done + k, "final", 5), k += 5;
    done[k++] = 0xE0 + 10; /* <|message|> */
    memcpy(done + k, "Hi!", 3), k += 3;
    done[k++] = 0xE0 + 4; /* <|return|> */
    fy_fuzz_seed(dir, "completion", done, k);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fy_fuzz_quiet();
    tok = fy_fuzz_tokenizer(0);
    special0 = fy_tokenizer_special(tok, "<|startoftext|>");
    for (int32_t id = 0; id < special0; id++) {
        size_t len;
        const uint8_t *b = fy_token_bytes(tok, id, &len);
        if (b && len == 1)
            byte_id[b[0]] = id;
    }
    const char *dir = fy_fuzz_seed_dir();
    if (dir) {
        seeds(dir);
        exit(0);
    }
    return 0;
}
