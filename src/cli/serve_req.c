/* ferry serve: a request body (cJSON) -> struct fy_serve_req. Chat messages become a harmony
 * conversation (system/developer -> the developer message's instructions, reasoning_effort ->
 * the system message); a completion's prompt is raw text. Every refusal is a 400 with OpenAI's
 * error codes. */
#include "serve.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct ctx {
    char *msg;
    size_t cap;
    const char **code;
};

static int bad(struct ctx *c, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad(struct ctx *c, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->msg, c->cap, fmt, ap);
    va_end(ap);
    *c->code = code;
    return 400;
}

/* A number field: absent (1), or in [lo, hi] (integer when integral): 0; else an error (-1). */
static int num_field(struct ctx *c, const cJSON *root, const char *name, double lo, double hi,
                     bool integral, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!v || cJSON_IsNull(v))
        return 1;
    if (!cJSON_IsNumber(v)) {
        bad(c, "invalid_type", "'%s' must be a number", name);
        return -1;
    }
    double d = v->valuedouble;
    if (!isfinite(d) || d < lo || d > hi || (integral && d != floor(d))) {
        bad(c, "invalid_value", "'%s' must be %s in [%g, %g]", name,
            integral ? "an integer" : "a number", lo, hi);
        return -1;
    }
    *out = d;
    return 0;
}

/* The text of a message's content: a string, null, or an array of {"type":"text","text":...}
 * parts (joined). *out is malloc'd. */
static int content_text(struct ctx *c, const cJSON *v, int idx, char **out)
{
    *out = NULL;
    if (!v || cJSON_IsNull(v)) {
        *out = calloc(1, 1);
        return *out ? 0 : 500;
    }
    if (cJSON_IsString(v)) {
        *out = strdup(v->valuestring);
        return *out ? 0 : 500;
    }
    if (!cJSON_IsArray(v))
        return bad(c, "invalid_type", "messages[%d].content must be a string or an array of "
                   "text parts", idx);
    size_t len = 0;
    const cJSON *part;
    cJSON_ArrayForEach(part, v) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "type");
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (!cJSON_IsString(t) || strcmp(t->valuestring, "text") || !cJSON_IsString(x))
            return bad(c, "invalid_type", "messages[%d].content: only text parts "
                       "({\"type\":\"text\",\"text\":...}) are supported", idx);
        len += strlen(x->valuestring);
    }
    if (!(*out = malloc(len + 1)))
        return 500;
    len = 0;
    cJSON_ArrayForEach(part, v) {
        const char *x = cJSON_GetObjectItemCaseSensitive(part, "text")->valuestring;
        memcpy(*out + len, x, strlen(x));
        len += strlen(x);
    }
    (*out)[len] = '\0';
    return 0;
}

/* An assistant message's tool_calls -> harmony calls (commentary, to=functions.NAME,
 * <|constrain|>json, the arguments), each id remembered with its name for the tool results. */
static int tool_calls(struct ctx *c, const cJSON *calls, int idx, struct fy_harmony_msg *hm,
                      int *nm, char **owned, int *no, const char **ids, const char **names,
                      int *nc)
{
    const cJSON *tc;
    int k = 0;
    cJSON_ArrayForEach(tc, calls) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(tc, "id");
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(tc, "function");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(f, "name");
        const cJSON *args = cJSON_GetObjectItemCaseSensitive(f, "arguments");
        if (!cJSON_IsString(name) || !name->valuestring[0] ||
            (args && !cJSON_IsNull(args) && !cJSON_IsString(args)))
            return bad(c, "invalid_value", "messages[%d].tool_calls[%d] must have "
                       "function.name and function.arguments (a string)", idx, k);
        if (!(owned[*no] = malloc(strlen(name->valuestring) + 11)))
            return 500;
        sprintf(owned[*no], "functions.%s", name->valuestring);
        hm[(*nm)++] = (struct fy_harmony_msg){
            .role = FY_ROLE_ASSISTANT, .recipient = owned[(*no)++],
            .recipient_after_channel = true, .channel = "commentary",
            .content_type = "<|constrain|>json",
            .content = cJSON_IsString(args) ? args->valuestring : "", .end_token = -1};
        if (cJSON_IsString(id)) {
            ids[*nc] = id->valuestring;
            names[(*nc)++] = name->valuestring;
        }
        k++;
    }
    return 0;
}

/* messages -> the harmony prompt tokens. */
static int chat_prompt(struct ctx *c, const struct fy_serve_engine *e, const cJSON *root,
                       struct fy_serve_req *rq)
{
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
    if (!msgs)
        return bad(c, "missing_field", "'messages' is required");
    if (!cJSON_IsArray(msgs))
        return bad(c, "invalid_type", "'messages' must be an array");
    int n = cJSON_GetArraySize(msgs);
    if (n == 0)
        return bad(c, "invalid_value", "'messages' must not be empty");
    struct fy_harmony_conv conv = {0};
    struct fy_serve_tools ts = {0};
    /* room for one harmony message per message, plus one per tool call */
    int cap = n;
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs)
        cap += cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(m, "tool_calls"));
    struct fy_harmony_msg *hm = calloc((size_t)cap, sizeof(*hm));
    char **texts = calloc((size_t)n, sizeof(*texts));
    char **owned = calloc((size_t)cap, sizeof(*owned)); /* "functions.NAME" strings */
    const char **call_ids = calloc((size_t)cap, sizeof(*call_ids)); /* [nc], with their names */
    const char **call_names = calloc((size_t)cap, sizeof(*call_names));
    char *instr = NULL;
    size_t instr_len = 0;
    char date[16];
    int rc = 500, nm = 0, i = 0, no = 0, nc = 0;
    if (!hm || !texts || !owned || !call_ids || !call_names)
        goto out;
    if ((rc = fy_serve_tools_parse(root, &ts, c->msg, c->cap))) {
        if (rc == 400)
            *c->code = "invalid_value";
        goto out;
    }
    rc = 500;
    cJSON_ArrayForEach(m, msgs) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        if (!cJSON_IsObject(m)) {
            rc = bad(c, "invalid_type", "messages[%d] must be an object", i);
            goto out;
        }
        if (!cJSON_IsString(role)) {
            rc = bad(c, role ? "invalid_type" : "missing_field",
                     "messages[%d].role must be a string", i);
            goto out;
        }
        const char *r = role->valuestring;
        if ((rc = content_text(c, cJSON_GetObjectItemCaseSensitive(m, "content"), i, &texts[i])))
            goto out;
        rc = 500;
        if (!strcmp(r, "system") || !strcmp(r, "developer")) {
            size_t tl = strlen(texts[i]);
            char *ni = realloc(instr, instr_len + tl + 3);
            if (!ni)
                goto out;
            instr = ni;
            if (instr_len) {
                memcpy(instr + instr_len, "\n\n", 2);
                instr_len += 2;
            }
            memcpy(instr + instr_len, texts[i], tl + 1);
            instr_len += tl;
        } else if (!strcmp(r, "user") || !strcmp(r, "assistant")) {
            bool user = r[0] == 'u';
            const cJSON *calls = cJSON_GetObjectItemCaseSensitive(m, "tool_calls");
            bool has_calls = !user && cJSON_GetArraySize(calls) > 0;
            /* text beside tool calls is the commentary preamble the model writes before them */
            if (!has_calls || texts[i][0])
                hm[nm++] = (struct fy_harmony_msg){
                    .role = user ? FY_ROLE_USER : FY_ROLE_ASSISTANT,
                    .channel = user ? NULL : has_calls ? "commentary" : "final",
                    .content = texts[i], .end_token = -1};
            if (has_calls && (rc = tool_calls(c, calls, i, hm, &nm, owned, &no, call_ids,
                                              call_names, &nc)))
                goto out;
            rc = 500;
        } else if (!strcmp(r, "tool")) {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(m, "tool_call_id");
            const char *name = NULL;
            for (int k = nc - 1; k >= 0 && cJSON_IsString(id); k--)
                if (!strcmp(call_ids[k], id->valuestring))
                    name = call_names[k];
            if (!name) {
                rc = bad(c, "invalid_value", "messages[%d]: a tool message needs the "
                         "'tool_call_id' of an earlier assistant tool call", i);
                goto out;
            }
            if (!(owned[no] = malloc(strlen(name) + 11)))
                goto out;
            sprintf(owned[no], "functions.%s", name);
            hm[nm++] = (struct fy_harmony_msg){.role = FY_ROLE_TOOL, .name = owned[no++],
                                               .recipient = "assistant",
                                               .channel = "commentary", .content = texts[i],
                                               .end_token = -1};
        } else if (!strcmp(r, "function")) {
            rc = bad(c, "unsupported_value", "messages[%d]: role \"function\" (deprecated) is "
                     "not supported; use \"tool\"", i);
            goto out;
        } else {
            rc = bad(c, "invalid_value", "messages[%d].role: unknown role \"%.64s\" (system, "
                     "developer, user, assistant)", i, r);
            goto out;
        }
        i++;
    }
    const cJSON *eff = cJSON_GetObjectItemCaseSensitive(root, "reasoning_effort");
    if (eff && !cJSON_IsNull(eff)) {
        if (!cJSON_IsString(eff)) {
            rc = bad(c, "invalid_type", "'reasoning_effort' must be a string");
            goto out;
        }
        if (!strcmp(eff->valuestring, "low"))
            conv.system.effort = FY_EFFORT_LOW;
        else if (!strcmp(eff->valuestring, "high"))
            conv.system.effort = FY_EFFORT_HIGH;
        else if (strcmp(eff->valuestring, "medium")) {
            rc = bad(c, "invalid_value", "'reasoning_effort' must be low, medium or high");
            goto out;
        }
    }
    time_t now = time(NULL);
    struct tm tmv;
    strftime(date, sizeof(date), "%Y-%m-%d", gmtime_r(&now, &tmv));
    conv.system.current_date = date;
    conv.developer.instructions = instr;
    conv.developer.tools = ts.v;
    conv.developer.n_tools = ts.n;
    conv.msgs = hm;
    conv.n_msgs = nm;
    fy_status st = fy_harmony_render(e->tok, &conv, true, &rq->prompt);
    if (st == FY_E_INVAL)
        rc = bad(c, "invalid_value", "the messages do not render (invalid UTF-8?)");
    else
        rc = st == FY_OK ? 0 : 500;
out:
    for (int k = 0; texts && k < n; k++)
        free(texts[k]);
    free(texts);
    for (int k = 0; owned && k < no; k++)
        free(owned[k]);
    free(owned);
    free(call_ids);
    free(call_names);
    fy_serve_tools_free(&ts);
    free(hm);
    free(instr);
    return rc;
}

static int completion_prompt(struct ctx *c, const struct fy_serve_engine *e, const cJSON *root,
                             struct fy_serve_req *rq)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "prompt");
    if (!p)
        return bad(c, "missing_field", "'prompt' is required");
    if (cJSON_IsArray(p) && cJSON_GetArraySize(p) == 1)
        p = cJSON_GetArrayItem(p, 0);
    if (!cJSON_IsString(p))
        return bad(c, "invalid_type", "'prompt' must be a string (or an array of one string)");
    if (!p->valuestring[0])
        return bad(c, "invalid_value", "'prompt' must not be empty");
    fy_status st = fy_tokenize(e->tok, p->valuestring, strlen(p->valuestring), true, &rq->prompt);
    if (st == FY_E_INVAL)
        return bad(c, "invalid_value", "'prompt' is not valid UTF-8");
    return st == FY_OK ? 0 : 500;
}

static int stops(struct ctx *c, const cJSON *root, struct fy_serve_req *rq)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(root, "stop");
    if (!s || cJSON_IsNull(s))
        return 0;
    if (cJSON_IsString(s)) {
        if (s->valuestring[0] && !(rq->stop[rq->n_stop++] = strdup(s->valuestring)))
            return 500;
        return 0;
    }
    if (!cJSON_IsArray(s))
        return bad(c, "invalid_type", "'stop' must be a string or an array of strings");
    if (cJSON_GetArraySize(s) > FY_SERVE_MAX_STOP)
        return bad(c, "invalid_value", "'stop' holds at most %d strings", FY_SERVE_MAX_STOP);
    const cJSON *x;
    cJSON_ArrayForEach(x, s) {
        if (!cJSON_IsString(x))
            return bad(c, "invalid_type", "'stop' must be a string or an array of strings");
        if (x->valuestring[0] && !(rq->stop[rq->n_stop++] = strdup(x->valuestring)))
            return 500;
    }
    return 0;
}

/* functions, function_call, response_format (other than text): not in this version. */
static int unsupported(struct ctx *c, const cJSON *root)
{
    static const char *const names[] = {"functions", "function_call"}; /* deprecated */
    for (size_t i = 0; i < FY_ARRAY_LEN(names); i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, names[i]);
        if (v && !cJSON_IsNull(v) && !(cJSON_IsArray(v) && cJSON_GetArraySize(v) == 0))
            return bad(c, "unsupported_parameter", "'%s' is not supported yet", names[i]);
    }
    const cJSON *rf = cJSON_GetObjectItemCaseSensitive(root, "response_format");
    if (rf && !cJSON_IsNull(rf)) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(rf, "type");
        if (!cJSON_IsString(t) || strcmp(t->valuestring, "text"))
            return bad(c, "unsupported_parameter", "'response_format' is not supported yet "
                       "(only {\"type\":\"text\"})");
    }
    return 0;
}

static int sampling(struct ctx *c, const struct fy_serve_engine *e, const cJSON *root,
                    struct fy_serve_req *rq)
{
    double d;
    int r;
    rq->sp = fy_sampler_params_default();
    rq->max_tokens = -1;
    const char *mt = cJSON_GetObjectItemCaseSensitive(root, "max_completion_tokens")
                         ? "max_completion_tokens" : "max_tokens";
    if ((r = num_field(c, root, mt, 1, 1e15, true, &d)) < 0)
        return 400;
    if (r == 0) {
        if (d > (double)e->n_ctx)
            return bad(c, "invalid_value", "'%s' (%.0f) is more than the context holds (%lld "
                       "tokens)", mt, d, (long long)e->n_ctx);
        rq->max_tokens = (int64_t)d;
    }
    if ((r = num_field(c, root, "temperature", 0, 2, false, &d)) < 0)
        return 400;
    if (r == 0)
        rq->sp.temp = (float)d;
    if ((r = num_field(c, root, "top_p", 0, 1, false, &d)) < 0)
        return 400;
    if (r == 0)
        rq->sp.top_p = (float)d;
    if ((r = num_field(c, root, "top_k", 0, 1e9, true, &d)) < 0)
        return 400;
    if (r == 0)
        rq->sp.top_k = (int32_t)d;
    if ((r = num_field(c, root, "min_p", 0, 1, false, &d)) < 0)
        return 400;
    if (r == 0)
        rq->sp.min_p = (float)d;
    if ((r = num_field(c, root, "seed", -9.2e18, 1.8e19, true, &d)) < 0)
        return 400;
    if (r == 0)
        rq->sp.seed = d < 0 ? (uint64_t)(int64_t)d : (uint64_t)d;
    if ((r = num_field(c, root, "n", 1, 1, true, &d)) < 0)
        return bad(c, "invalid_value", "'n' must be 1");
    return 0;
}

static int bools(struct ctx *c, const cJSON *root, struct fy_serve_req *rq)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(root, "stream");
    if (s && !cJSON_IsNull(s)) {
        if (!cJSON_IsBool(s))
            return bad(c, "invalid_type", "'stream' must be a boolean");
        rq->stream = cJSON_IsTrue(s);
    }
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
    if (so && !cJSON_IsNull(so)) {
        if (!cJSON_IsObject(so))
            return bad(c, "invalid_type", "'stream_options' must be an object");
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(so, "include_usage");
        if (u && !cJSON_IsBool(u))
            return bad(c, "invalid_type", "'stream_options.include_usage' must be a boolean");
        rq->include_usage = cJSON_IsTrue(u);
    }
    return 0;
}

int fy_serve_req_parse(const struct fy_serve_engine *e, bool chat, const char *body, size_t len,
                       struct fy_serve_req *rq, char *msg, size_t msg_cap, const char **code)
{
    struct ctx c = {.msg = msg, .cap = msg_cap, .code = code};
    memset(rq, 0, sizeof(*rq));
    rq->chat = chat;
    msg[0] = '\0';
    *code = NULL;
    cJSON *root = cJSON_ParseWithLength(body, len);
    int rc;
    if (!root)
        return bad(&c, "invalid_json", "the body is not valid JSON");
    if (!cJSON_IsObject(root)) {
        rc = bad(&c, "invalid_type", "the body must be a JSON object");
        goto out;
    }
    if ((rc = unsupported(&c, root)) || (rc = sampling(&c, e, root, rq)) ||
        (rc = bools(&c, root, rq)) || (rc = stops(&c, root, rq)))
        goto out;
    rc = chat ? chat_prompt(&c, e, root, rq) : completion_prompt(&c, e, root, rq);
    if (rc)
        goto out;
    if (rq->prompt.n + 1 > e->n_ctx) {
        rc = bad(&c, "context_length_exceeded", "the prompt is %lld tokens but the context "
                 "holds %lld", (long long)rq->prompt.n, (long long)e->n_ctx);
        goto out;
    }
out:
    if (rc == 500 && !msg[0])
        snprintf(msg, msg_cap, "out of memory");
    if (rc)
        fy_serve_req_free(rq);
    cJSON_Delete(root);
    return rc ? rc : 200;
}

void fy_serve_req_free(struct fy_serve_req *rq)
{
    fy_tokens_free(&rq->prompt);
    for (int i = 0; i < rq->n_stop; i++)
        free(rq->stop[i]);
    rq->n_stop = 0;
}
