/* Harmony rendering (tokenizer.md §6-§7): a conversation to token ids, the system and developer
 * messages composed from options, old analysis dropped by the CoT rule; see harmony.h. */
#include "harmony_priv.h"

#include <string.h>

static const char hm_identity[] = "You are ChatGPT, a large language model trained by OpenAI.";
static const char hm_channels[] =
    "# Valid channels: analysis, commentary, final. Channel must be included for every message.";
static const char hm_funcs_note[] =
    "Calls to these tools must go to the commentary channel: 'functions'.";

static fy_status hm_text(const struct fy_tokenizer *t, const char *s, size_t n,
                         struct fy_tokens *out)
{
    return n ? fy_tokenize(t, s, n, false, out) : FY_OK;
}

static bool hm_has_recipient(const struct fy_harmony_msg *m)
{
    return m->recipient && strcmp(m->recipient, "all") != 0;
}

static fy_status hm_render_msg(const struct fy_tokenizer *t, const struct fy_hm_ids *ids,
                               const struct fy_harmony_msg *m, struct fy_tokens *out)
{
    struct fy_hm_str b = {0};
    const char *role = fy_harmony_role_name(m->role);
    bool to = hm_has_recipient(m);
    fy_status st;

    if (!role) {
        fy_log(FY_LOG_ERR, "harmony: message with invalid role %d", (int)m->role);
        return FY_E_INVAL;
    }
    if (m->role == FY_ROLE_TOOL && !(m->name && *m->name)) {
        fy_log(FY_LOG_ERR, "harmony: a tool message needs the tool's name");
        return FY_E_INVAL;
    }
    st = fy_tokens_push(out, ids->start);
    if (st != FY_OK)
        goto fail;
    if (m->role == FY_ROLE_TOOL) {
        st = hm_text(t, m->name, strlen(m->name), out);
    } else {
        st = hm_text(t, role, strlen(role), out);
        if (st == FY_OK && m->name && *m->name) {
            if ((st = fy_hm_puts(&b, ":")) == FY_OK && (st = fy_hm_puts(&b, m->name)) == FY_OK)
                st = hm_text(t, b.s, b.n, out);
            b.n = 0;
        }
    }
    if (st != FY_OK)
        goto fail;
    if (to) {
        if ((st = fy_hm_puts(&b, " to=")) != FY_OK || (st = fy_hm_puts(&b, m->recipient)) != FY_OK)
            goto fail;
    }
    if (to && !m->recipient_after_channel) {
        if ((st = hm_text(t, b.s, b.n, out)) != FY_OK)
            goto fail;
    }
    if (m->channel) {
        if ((st = fy_tokens_push(out, ids->channel)) != FY_OK ||
            (st = hm_text(t, m->channel, strlen(m->channel), out)) != FY_OK)
            goto fail;
    }
    if (to && m->recipient_after_channel) {
        if ((st = hm_text(t, b.s, b.n, out)) != FY_OK)
            goto fail;
    }
    b.n = 0;
    if (m->content_type) {
        size_t lc = strlen(fy_hm_constrain);
        if (!strncmp(m->content_type, fy_hm_constrain, lc)) {
            const char *rest = m->content_type + lc;
            if ((st = hm_text(t, " ", 1, out)) != FY_OK ||
                (st = fy_tokens_push(out, ids->constrain)) != FY_OK ||
                (st = hm_text(t, rest, strlen(rest), out)) != FY_OK)
                goto fail;
        } else {
            if ((st = fy_hm_puts(&b, " ")) != FY_OK ||
                (st = fy_hm_puts(&b, m->content_type)) != FY_OK ||
                (st = hm_text(t, b.s, b.n, out)) != FY_OK)
                goto fail;
        }
    }
    if ((st = fy_tokens_push(out, ids->message)) != FY_OK)
        goto fail;
    if (m->content) {
        size_t n = m->content_len ? m->content_len : strlen(m->content);
        if ((st = hm_text(t, m->content, n, out)) != FY_OK)
            goto fail;
    }
    st = fy_tokens_push(out, m->role == FY_ROLE_ASSISTANT && to ? ids->call : ids->end);
fail:
    fy_hm_str_free(&b);
    return st;
}

/* The system message text (§7.3): sections joined by "\n\n". */
static fy_status hm_system_text(const struct fy_harmony_system *s, bool functions,
                                struct fy_hm_str *b)
{
    static const char *const effort[] = {"medium", "low", "high"};
    fy_status st = FY_OK;
    int e = (int)s->effort;

    if (e < 0 || e > 2) {
        fy_log(FY_LOG_ERR, "harmony: invalid reasoning effort %d", e);
        return FY_E_INVAL;
    }
#define PUT(x)                                                                                     \
    do {                                                                                           \
        if ((st = fy_hm_puts(b, (x))) != FY_OK)                                                    \
            return st;                                                                             \
    } while (0)
    PUT(s->model_identity ? s->model_identity : hm_identity);
    PUT("\nKnowledge cutoff: ");
    PUT(s->knowledge_cutoff ? s->knowledge_cutoff : "2024-06");
    if (s->current_date) {
        PUT("\nCurrent date: ");
        PUT(s->current_date);
    }
    PUT("\n\nReasoning: ");
    PUT(effort[e]);
    if (s->builtin_tools && *s->builtin_tools) {
        PUT("\n\n");
        PUT(s->builtin_tools);
    }
    PUT("\n\n");
    PUT(hm_channels);
    if (functions || s->function_tools) {
        PUT("\n");
        PUT(hm_funcs_note);
    }
#undef PUT
    return st;
}

/* Appends "// line" for each line of a description (a final newline adds no line). */
static fy_status hm_comment_lines(const char *d, struct fy_hm_str *b)
{
    fy_status st = FY_OK;
    while (d && *d) {
        const char *nl = strchr(d, '\n');
        size_t n = nl ? (size_t)(nl - d) : strlen(d);
        size_t k = n && d[n - 1] == '\r' ? n - 1 : n;
        if ((st = fy_hm_puts(b, "// ")) != FY_OK || (st = fy_hm_put(b, d, k)) != FY_OK ||
            (st = fy_hm_puts(b, "\n")) != FY_OK)
            return st;
        d = nl ? nl + 1 : d + n;
    }
    return st;
}

/* The developer message text (§7.4). */
static fy_status hm_developer_text(const struct fy_harmony_developer *d, struct fy_hm_str *b)
{
    fy_status st = FY_OK;
    if (d->instructions) {
        if ((st = fy_hm_puts(b, "# Instructions\n\n")) != FY_OK ||
            (st = fy_hm_puts(b, d->instructions)) != FY_OK)
            return st;
    }
    if (d->n_tools <= 0)
        return st;
    if (d->instructions && (st = fy_hm_puts(b, "\n\n")) != FY_OK)
        return st;
    if ((st = fy_hm_puts(b, "# Tools\n\n## functions\n\nnamespace functions {\n\n")) != FY_OK)
        return st;
    for (int64_t i = 0; i < d->n_tools; i++) {
        const struct fy_harmony_tool *tl = &d->tools[i];
        if (!(tl->name && *tl->name)) {
            fy_log(FY_LOG_ERR, "harmony: function tool %lld has no name", (long long)i);
            return FY_E_INVAL;
        }
        if ((st = hm_comment_lines(tl->description, b)) != FY_OK ||
            (st = fy_hm_puts(b, "type ")) != FY_OK || (st = fy_hm_puts(b, tl->name)) != FY_OK)
            return st;
        if (tl->params) {
            if ((st = fy_hm_puts(b, " = (_: ")) != FY_OK ||
                (st = fy_hm_puts(b, tl->params)) != FY_OK ||
                (st = fy_hm_puts(b, ") => any;\n\n")) != FY_OK)
                return st;
        } else if ((st = fy_hm_puts(b, " = () => any;\n\n")) != FY_OK) {
            return st;
        }
    }
    return fy_hm_puts(b, "} // namespace functions");
}

static bool hm_is_channel(const struct fy_harmony_msg *m, const char *ch)
{
    return m->channel && !strcmp(m->channel, ch);
}

fy_status fy_harmony_render(const struct fy_tokenizer *t, const struct fy_harmony_conv *c,
                            bool add_generation_prompt, struct fy_tokens *out)
{
    struct fy_hm_ids ids;
    struct fy_hm_str text = {0};
    struct fy_harmony_msg m;
    int64_t n0;
    int64_t first_final = -1;
    bool drop = false;
    bool functions;
    fy_status st;

    FY_CHECK_ARG(t && c && out && (c->n_msgs == 0 || c->msgs) && c->n_msgs >= 0);
    FY_CHECK_ARG(c->developer.n_tools == 0 || c->developer.tools);
    FY_TRY(fy_hm_ids_get(t, &ids));
    n0 = out->n;
    functions = c->developer.n_tools > 0;

    if (!c->no_system) {
        if ((st = hm_system_text(&c->system, functions, &text)) != FY_OK)
            goto fail;
        memset(&m, 0, sizeof(m));
        m.role = FY_ROLE_SYSTEM;
        m.content = text.s;
        m.content_len = text.n;
        if ((st = hm_render_msg(t, &ids, &m, out)) != FY_OK)
            goto fail;
        text.n = 0;
    }
    if (c->developer.instructions || c->developer.n_tools > 0) {
        if ((st = hm_developer_text(&c->developer, &text)) != FY_OK)
            goto fail;
        memset(&m, 0, sizeof(m));
        m.role = FY_ROLE_DEVELOPER;
        m.content = text.s;
        m.content_len = text.n;
        if ((st = hm_render_msg(t, &ids, &m, out)) != FY_OK)
            goto fail;
    }

    /* CoT drop (§7.6): the last assistant message is on "final" -> analysis before the first
     * "final" message goes. */
    if (!c->keep_analysis) {
        for (int64_t i = c->n_msgs - 1; i >= 0; i--) {
            if (c->msgs[i].role == FY_ROLE_ASSISTANT) {
                drop = hm_is_channel(&c->msgs[i], "final");
                break;
            }
        }
        for (int64_t i = 0; drop && i < c->n_msgs && first_final < 0; i++)
            if (hm_is_channel(&c->msgs[i], "final"))
                first_final = i;
    }
    for (int64_t i = 0; i < c->n_msgs; i++) {
        if (drop && i < first_final && hm_is_channel(&c->msgs[i], "analysis"))
            continue;
        if ((st = hm_render_msg(t, &ids, &c->msgs[i], out)) != FY_OK)
            goto fail;
    }
    if (add_generation_prompt) {
        if ((st = fy_tokens_push(out, ids.start)) != FY_OK ||
            (st = hm_text(t, "assistant", 9, out)) != FY_OK)
            goto fail;
    }
    fy_hm_str_free(&text);
    return FY_OK;
fail:
    fy_hm_str_free(&text);
    out->n = n0;
    return st;
}
