/* ferry serve: a chat request's function tools -> harmony function definitions (tokenizer.md
 * §7.4). Each tool's JSON-schema "parameters" is written as the TypeScript-like type harmony
 * uses, a faithful simple version:
 *   object  -> "{\n// description\nname: T,\nopt?: T,\n}" (a property not in "required" gets
 *              "?"; a nested object is written the same way, inline)
 *   string, number, boolean, null -> the same word; integer -> number
 *   array   -> T[] (items' type; no items: any[])
 *   enum    -> "a" | "b" | 3 (the values as JSON); a "default" -> " // default: X" after the
 *              property's comma
 *   anything else (anyOf, $ref, no type) -> any
 * An object without properties is "{}"; a tool without parameters (or with an object schema
 * without properties) is "type name = () => any;". */
#include "serve.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct buf {
    char *v;
    size_t n, cap;
    bool oom;
};

static void put(struct buf *b, const char *s)
{
    size_t n = strlen(s);
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->n + n + 1) * 2 + 64;
        char *v = realloc(b->v, cap);
        if (!v) {
            b->oom = true;
            return;
        }
        b->v = v;
        b->cap = cap;
    }
    memcpy(b->v + b->n, s, n + 1);
    b->n += n;
}

static void put_json(struct buf *b, const cJSON *v)
{
    char *s = cJSON_PrintUnformatted(v);
    if (!s) {
        b->oom = true;
        return;
    }
    put(b, s);
    free(s);
}

static void comment(struct buf *b, const char *text)
{
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        put(b, "// ");
        char *line = strndup(p, n);
        if (!line) {
            b->oom = true;
            return;
        }
        put(b, line);
        free(line);
        put(b, "\n");
        p += n + (nl ? 1 : 0);
    }
}

static void type_of(struct buf *b, const cJSON *s, int depth);

static bool in_required(const cJSON *req, const char *name)
{
    const cJSON *x;
    cJSON_ArrayForEach(x, req)
        if (cJSON_IsString(x) && !strcmp(x->valuestring, name))
            return true;
    return false;
}

static void object_of(struct buf *b, const cJSON *s, int depth)
{
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(s, "properties");
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(s, "required");
    if (!cJSON_IsObject(props) || !props->child) {
        put(b, "{}");
        return;
    }
    put(b, "{\n");
    const cJSON *p;
    cJSON_ArrayForEach(p, props) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(p, "description");
        if (cJSON_IsString(d) && d->valuestring[0])
            comment(b, d->valuestring);
        put(b, p->string);
        put(b, in_required(req, p->string) ? ": " : "?: ");
        type_of(b, p, depth + 1);
        put(b, ",");
        const cJSON *def = cJSON_GetObjectItemCaseSensitive(p, "default");
        if (def) {
            put(b, " // default: ");
            if (cJSON_IsString(def))
                put(b, def->valuestring);
            else
                put_json(b, def);
        }
        put(b, "\n");
    }
    put(b, "}");
}

static void type_of(struct buf *b, const cJSON *s, int depth)
{
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(s, "enum");
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(s, "type");
    if (depth > 16 || !cJSON_IsObject(s)) {
        put(b, "any");
        return;
    }
    if (cJSON_IsArray(en) && en->child) {
        const cJSON *x;
        cJSON_ArrayForEach(x, en) {
            if (x != en->child)
                put(b, " | ");
            put_json(b, x);
        }
        return;
    }
    const char *t = cJSON_IsString(ty) ? ty->valuestring : "";
    if (!strcmp(t, "object"))
        object_of(b, s, depth);
    else if (!strcmp(t, "array")) {
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(s, "items");
        if (it)
            type_of(b, it, depth + 1);
        else
            put(b, "any");
        put(b, "[]");
    } else if (!strcmp(t, "integer"))
        put(b, "number");
    else if (!strcmp(t, "string") || !strcmp(t, "number") || !strcmp(t, "boolean") ||
             !strcmp(t, "null"))
        put(b, t);
    else
        put(b, "any");
}

char *fy_serve_tool_params(const cJSON *schema)
{
    struct buf b = {0};
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(schema, "properties");
    if (!cJSON_IsObject(schema) || !cJSON_IsObject(props) || !props->child)
        return calloc(1, 1); /* "": no argument */
    type_of(&b, schema, 0);
    if (b.oom) {
        free(b.v);
        return NULL;
    }
    return b.v;
}

void fy_serve_tools_free(struct fy_serve_tools *ts)
{
    for (int64_t i = 0; i < ts->n; i++)
        free((char *)ts->v[i].params);
    free(ts->v);
    memset(ts, 0, sizeof(*ts));
}

int fy_serve_tools_parse(const cJSON *root, struct fy_serve_tools *ts, char *msg, size_t cap)
{
    memset(ts, 0, sizeof(*ts));
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(root, "tool_choice");
    bool none = false;
    if (tc && !cJSON_IsNull(tc)) {
        if (cJSON_IsString(tc) && !strcmp(tc->valuestring, "none"))
            none = true;
        else if (!cJSON_IsString(tc) || strcmp(tc->valuestring, "auto")) {
            snprintf(msg, cap, "'tool_choice' must be \"auto\" or \"none\" (harmony cannot force "
                     "a call: \"required\" and a named function are not supported)");
            return 400;
        }
    }
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(root, "tools");
    if (!tools || cJSON_IsNull(tools))
        return 0;
    if (!cJSON_IsArray(tools)) {
        snprintf(msg, cap, "'tools' must be an array");
        return 400;
    }
    int n = cJSON_GetArraySize(tools), i = 0;
    if (none || n == 0)
        return 0; /* "none": the model is not told about the tools */
    if (!(ts->v = calloc((size_t)n, sizeof(*ts->v))))
        return 500;
    const cJSON *t;
    cJSON_ArrayForEach(t, tools) {
        const cJSON *ty = cJSON_GetObjectItemCaseSensitive(t, "type");
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(t, "function");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(f, "name");
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(f, "description");
        if (!cJSON_IsString(ty) || strcmp(ty->valuestring, "function") || !cJSON_IsObject(f) ||
            !cJSON_IsString(name) || !name->valuestring[0]) {
            snprintf(msg, cap, "tools[%d] must be {\"type\":\"function\",\"function\":{\"name\":"
                     "...}}", i);
            return 400;
        }
        char *params = fy_serve_tool_params(cJSON_GetObjectItemCaseSensitive(f, "parameters"));
        if (!params)
            return 500;
        ts->v[i].name = name->valuestring; /* owned by the request's cJSON tree */
        ts->v[i].description = cJSON_IsString(d) ? d->valuestring : NULL;
        ts->v[i].params = params[0] ? params : NULL;
        if (!params[0])
            free(params);
        ts->n = ++i;
    }
    return 0;
}
