/* `ferry batch`'s input lines (batch_input.h), JSON through cJSON. */
#include "batch_input.h"

#include "text/harmony.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fy_batch_input_free(struct fy_batch_input *in)
{
    for (int64_t i = 0; in && i < in->n; i++) {
        free(in->p[i].id);
        fy_tokens_free(&in->p[i].toks);
    }
    if (in) {
        free(in->p);
        in->p = NULL;
        in->n = 0;
    }
}

#define BAD(...)                                                                                   \
    do {                                                                                           \
        fy_log(FY_LOG_ERR, __VA_ARGS__);                                                           \
        st = FY_E_FORMAT;                                                                          \
        goto done;                                                                                 \
    } while (0)

/* "messages" -> harmony tokens (system/developer text becomes the developer instructions) */
static fy_status render_messages(const struct fy_tokenizer *t, const char *path, int64_t line,
                                 const cJSON *msgs, const cJSON *effort, struct fy_tokens *out)
{
    fy_status st = FY_OK;
    struct fy_harmony_conv conv = {0};
    const int n = cJSON_GetArraySize(msgs);
    struct fy_harmony_msg *hm = calloc((size_t)(n > 0 ? n : 1), sizeof(*hm));
    size_t ilen = 0;
    char *instr = NULL;
    int nm = 0;
    if (!hm)
        return FY_E_NOMEM;
    if (n == 0)
        BAD("%s:%lld: \"messages\" is empty", path, (long long)line);
    for (int i = 0; i < n; i++) {
        const cJSON *m = cJSON_GetArrayItem(msgs, i);
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(m, "role");
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (!cJSON_IsObject(m) || !cJSON_IsString(r) || !cJSON_IsString(c))
            BAD("%s:%lld: messages[%d] needs a string \"role\" and a string \"content\"", path,
                (long long)line, i);
        const char *role = r->valuestring;
        if (!strcmp(role, "system") || !strcmp(role, "developer")) {
            const size_t k = strlen(c->valuestring);
            char *x = realloc(instr, ilen + k + 2);
            if (!x) {
                st = FY_E_NOMEM;
                goto done;
            }
            instr = x;
            if (ilen)
                instr[ilen++] = '\n';
            memcpy(instr + ilen, c->valuestring, k + 1);
            ilen += k;
        } else if (!strcmp(role, "user") || !strcmp(role, "assistant")) {
            const bool user = role[0] == 'u';
            hm[nm++] = (struct fy_harmony_msg){.role = user ? FY_ROLE_USER : FY_ROLE_ASSISTANT,
                                               .channel = user ? NULL : "final",
                                               .content = c->valuestring};
        } else {
            BAD("%s:%lld: messages[%d]: unknown role \"%.40s\" (system, developer, user, "
                "assistant)", path, (long long)line, i, role);
        }
    }
    if (effort) {
        const char *e = cJSON_IsString(effort) ? effort->valuestring : "";
        if (!strcmp(e, "low"))
            conv.system.effort = FY_EFFORT_LOW;
        else if (!strcmp(e, "high"))
            conv.system.effort = FY_EFFORT_HIGH;
        else if (strcmp(e, "medium"))
            BAD("%s:%lld: \"reasoning_effort\" must be \"low\", \"medium\" or \"high\"", path,
                (long long)line);
    }
    conv.developer.instructions = instr;
    conv.msgs = hm;
    conv.n_msgs = nm;
    st = fy_harmony_render(t, &conv, true, out);
    if (st != FY_OK)
        fy_log(FY_LOG_ERR, "%s:%lld: the conversation cannot be rendered: %s", path,
               (long long)line, fy_status_str(st));
done:
    free(hm);
    free(instr);
    return st;
}

static fy_status parse_json(const struct fy_tokenizer *t, const char *path, int64_t line,
                            const char *s, size_t n, struct fy_batch_prompt *p)
{
    fy_status st = FY_OK;
    cJSON *root = cJSON_ParseWithLength(s, n);
    if (!cJSON_IsObject(root))
        BAD("%s:%lld: not a JSON object (a plain-text prompt must not start with '{')", path,
            (long long)line);
    const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(root, "prompt");
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "max_tokens");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "id");
    if (!mt)
        mt = cJSON_GetObjectItemCaseSensitive(root, "n_predict");
    if (!!prompt == !!msgs)
        BAD("%s:%lld: give one of \"prompt\" (text) and \"messages\" (a chat)", path,
            (long long)line);
    if (mt && (!cJSON_IsNumber(mt) || mt->valuedouble < 1 || mt->valuedouble > 1e9 ||
               mt->valuedouble != (double)(int64_t)mt->valuedouble))
        BAD("%s:%lld: \"max_tokens\" must be a whole number >= 1", path, (long long)line);
    p->max_tokens = mt ? (int64_t)mt->valuedouble : -1;
    if (id && !cJSON_IsString(id) && !cJSON_IsNumber(id))
        BAD("%s:%lld: \"id\" must be a string or a number", path, (long long)line);
    if (id && !(p->id = cJSON_PrintUnformatted(id))) {
        st = FY_E_NOMEM;
        goto done;
    }
    if (prompt) {
        if (!cJSON_IsString(prompt) || !prompt->valuestring[0])
            BAD("%s:%lld: \"prompt\" must be a non-empty string", path, (long long)line);
        st = fy_tokenize(t, prompt->valuestring, strlen(prompt->valuestring), false, &p->toks);
    } else {
        if (!cJSON_IsArray(msgs))
            BAD("%s:%lld: \"messages\" must be an array", path, (long long)line);
        p->chat = true;
        st = render_messages(t, path, line, msgs,
                             cJSON_GetObjectItemCaseSensitive(root, "reasoning_effort"),
                             &p->toks);
    }
done:
    cJSON_Delete(root);
    return st;
}

fy_status fy_batch_input_read(const struct fy_tokenizer *t, const char *path, const char *text,
                              size_t len, struct fy_batch_input *out)
{
    fy_status st = FY_OK;
    int64_t cap = 0, line = 0;
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < len && st == FY_OK;) {
        const char *nl = memchr(text + i, '\n', len - i);
        size_t e = nl ? (size_t)(nl - text) : len, b = i;
        i = e + 1;
        line++;
        size_t n = e - b;
        if (n && text[b + n - 1] == '\r')
            n--;
        size_t k = 0;
        while (k < n && (text[b + k] == ' ' || text[b + k] == '\t'))
            k++;
        if (k == n)
            continue; /* empty lines are no prompts */
        if (out->n == cap) {
            cap = cap ? 2 * cap : 64;
            struct fy_batch_prompt *p = realloc(out->p, (size_t)cap * sizeof(*p));
            if (!p) {
                st = FY_E_NOMEM;
                break;
            }
            out->p = p;
        }
        struct fy_batch_prompt *p = &out->p[out->n++];
        memset(p, 0, sizeof(*p));
        p->line = line;
        p->max_tokens = -1;
        if (text[b + k] == '{')
            st = parse_json(t, path, line, text + b, n, p);
        else
            st = fy_tokenize(t, text + b, n, false, &p->toks);
        if (st == FY_OK && p->toks.n == 0) {
            fy_log(FY_LOG_ERR, "%s:%lld: the prompt has no tokens", path, (long long)line);
            st = FY_E_FORMAT;
        }
    }
    if (st == FY_OK && out->n == 0) {
        fy_log(FY_LOG_ERR, "%s: no prompts (one per line: text or JSON)", path);
        st = FY_E_FORMAT;
    }
    if (st != FY_OK)
        fy_batch_input_free(out);
    return st;
}
