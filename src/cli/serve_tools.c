/* ferry serve: a chat request's function tools -> harmony function definitions (tokenizer.md
 * §7.4). Each tool's JSON-schema "parameters" is written as the TypeScript-like type that
 * openai-harmony writes (its json_schema_to_typescript, checked against its
 * test_render_functions_with_parameters golden in tests/test_serve_tools.c):
 *   object   -> "{\n" the properties "}" ; an object's own description is a "// " line before
 *               the "{". Top-level properties sit at column 0, a nested object's 4 columns
 *               further (its closing brace too). Per property, each line at the indent:
 *               "// TITLE\n//\n" (title), "// DESCRIPTION\n" (one line, as it is), "// Examples:"
 *               and "// - \"x\"" (string examples), then "name: T," or "name?: T," (not in
 *               "required"), then " // default: X" where X is "\"s\"" for a string, s for a
 *               string of an enum, else the JSON; "nullable": true adds " | null"
 *   oneOf    -> a property "name?:\n" then one " | T" line per variant (with its description
 *               and default as a trailing comment), then ",": the description and default of
 *               the property come first as "// " lines
 *   string   -> string, or its enum "a" | "b" (string values only)
 *   number, integer -> number; boolean -> boolean
 *   array    -> T[] (its items' type); no items: Array<any>
 *   a list of types -> "string | null" (integer -> number)
 *   anything else ("null", no type, anyOf, $ref) -> any
 * A tool without "parameters" (or null) is "type name = () => any;", any other schema
 * "type name = (_: T) => any;" (an object without properties gives "{\n}"). Numbers in defaults
 * are printed by cJSON (2.0 prints as 2, where harmony's serde_json writes 2.0). */
#include "serve.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FY_SERVE_SCHEMA_DEPTH 16 /* nesting beyond it is written "any" */

struct buf {
    char *v;
    size_t n, cap;
    bool oom;
};

static void put_n(struct buf *b, const char *s, size_t n)
{
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
    memcpy(b->v + b->n, s, n);
    b->n += n;
    b->v[b->n] = '\0';
}

static void put(struct buf *b, const char *s)
{
    put_n(b, s, strlen(s));
}

static void put_indent(struct buf *b, int n)
{
    static const char spaces[] = "                                ";
    for (; n > 0; n -= 32)
        put_n(b, spaces, n < 32 ? (size_t)n : 32);
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

/* "// text\n" at the indent (the text as it is, newlines and all) */
static void comment(struct buf *b, int indent, const char *text)
{
    put_indent(b, indent);
    put(b, "// ");
    put(b, text);
    put(b, "\n");
}

static const char *str_of(const cJSON *s, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool is_enum(const cJSON *s)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(s, "enum");
    return cJSON_IsArray(e) && e->child;
}

static bool nullable(const cJSON *s)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "nullable"));
}

/* "default: X" of schema s (the caller writes what comes before) */
static void put_default(struct buf *b, const cJSON *s, const cJSON *def)
{
    put(b, "default: ");
    if (cJSON_IsString(def) && !is_enum(s)) {
        put(b, "\"");
        put(b, def->valuestring);
        put(b, "\"");
    } else if (cJSON_IsString(def)) {
        put(b, def->valuestring);
    } else {
        put_json(b, def);
    }
}

static void type_of(struct buf *b, const cJSON *s, int indent, int depth);

/* The type of s, then " | null" when s is nullable and the type does not say null already. */
static void type_nullable(struct buf *b, const cJSON *s, int indent, int depth)
{
    size_t from = b->n;
    type_of(b, s, indent, depth);
    if (!b->oom && nullable(s) && !strstr(b->v + from, "null"))
        put(b, " | null");
}

/* A variant's trailing comment: its description (unless skipped or the property's own) and
 * default, " // " and joined by a space. */
static void variant_comment(struct buf *b, const cJSON *v, const char *skip_desc, bool no_desc)
{
    const char *d = str_of(v, "description");
    const cJSON *def = cJSON_GetObjectItemCaseSensitive(v, "default");
    bool put_d = d && !no_desc && !(skip_desc && !strcmp(d, skip_desc));
    if (put_d || def)
        put(b, " // ");
    if (put_d)
        put(b, d);
    if (put_d && def)
        put(b, " ");
    if (def)
        put_default(b, v, def);
}

/* A oneOf as the whole type: "\n | T" per variant at the indent. */
static void one_of(struct buf *b, const cJSON *arr, int indent, int depth)
{
    const cJSON *v;
    cJSON_ArrayForEach(v, arr) {
        put(b, "\n");
        put_indent(b, indent);
        put(b, " | ");
        type_nullable(b, v, indent + 3, depth + 1);
        variant_comment(b, v, NULL, false);
    }
}

/* A property whose schema is a oneOf: comments, "name?:\n", a " | T" line per variant, ",". */
static void prop_one_of(struct buf *b, const char *name, bool req, const cJSON *p,
                        const cJSON *arr, int indent, int depth)
{
    const char *d = str_of(p, "description");
    const char *first = str_of(arr->child, "description");
    const cJSON *def = cJSON_GetObjectItemCaseSensitive(p, "default");
    bool above = d && !(first && !strcmp(first, d));
    if (above)
        comment(b, indent, d);
    if (def) {
        put_indent(b, indent);
        put(b, "// ");
        put_default(b, p, def);
        put(b, "\n");
    }
    put_indent(b, indent);
    put(b, name);
    put(b, req ? ":\n" : "?:\n");
    const cJSON *v;
    cJSON_ArrayForEach(v, arr) {
        put_indent(b, indent);
        put(b, " | ");
        type_nullable(b, v, indent + 3, depth + 1);
        variant_comment(b, v, d, v == arr->child && above);
        put(b, "\n");
    }
    put_indent(b, indent);
    put(b, ",\n");
}

static bool in_required(const cJSON *req, const char *name)
{
    const cJSON *x;
    cJSON_ArrayForEach(x, req)
        if (cJSON_IsString(x) && !strcmp(x->valuestring, name))
            return true;
    return false;
}

static void object_of(struct buf *b, const cJSON *s, int indent, int depth)
{
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(s, "properties");
    if (!cJSON_IsObject(props))
        props = NULL;
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(s, "required");
    const char *d = str_of(s, "description");
    if (d)
        comment(b, indent, d);
    put(b, "{\n");
    const cJSON *p;
    cJSON_ArrayForEach(p, props) {
        const char *title = str_of(p, "title");
        const cJSON *oneof = cJSON_GetObjectItemCaseSensitive(p, "oneOf");
        const cJSON *ex = cJSON_GetObjectItemCaseSensitive(p, "examples");
        bool req_p = in_required(req, p->string);
        if (title) {
            comment(b, indent, title);
            put_indent(b, indent);
            put(b, "//\n");
        }
        if (!oneof && (d = str_of(p, "description")))
            comment(b, indent, d);
        if (cJSON_IsArray(ex) && ex->child) {
            comment(b, indent, "Examples:");
            const cJSON *x;
            cJSON_ArrayForEach(x, ex) {
                if (!cJSON_IsString(x))
                    continue;
                put_indent(b, indent);
                put(b, "// - \"");
                put(b, x->valuestring);
                put(b, "\"\n");
            }
        }
        if (cJSON_IsArray(oneof)) {
            prop_one_of(b, p->string, req_p, p, oneof, indent, depth);
            continue;
        }
        put_indent(b, indent);
        put(b, p->string);
        put(b, req_p ? ": " : "?: ");
        type_nullable(b, p, indent + 4, depth + 1);
        put(b, ",");
        const cJSON *def = cJSON_GetObjectItemCaseSensitive(p, "default");
        if (!oneof && def) {
            put(b, " // ");
            put_default(b, p, def);
        }
        put(b, "\n");
    }
    put_indent(b, indent);
    put(b, "}");
}

static void type_of(struct buf *b, const cJSON *s, int indent, int depth)
{
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(s, "type");
    const cJSON *oneof = cJSON_GetObjectItemCaseSensitive(s, "oneOf");
    if (depth > FY_SERVE_SCHEMA_DEPTH || !cJSON_IsObject(s)) {
        put(b, "any");
        return;
    }
    if (cJSON_IsArray(oneof)) {
        one_of(b, oneof, indent, depth);
        return;
    }
    if (cJSON_IsArray(ty)) { /* ["string", "null"] -> string | null */
        bool any = false;
        const cJSON *x;
        cJSON_ArrayForEach(x, ty) {
            if (!cJSON_IsString(x))
                continue;
            if (any)
                put(b, " | ");
            put(b, strcmp(x->valuestring, "integer") ? x->valuestring : "number");
            any = true;
        }
        if (any)
            return;
    }
    const char *t = cJSON_IsString(ty) ? ty->valuestring : "";
    if (!strcmp(t, "object")) {
        object_of(b, s, indent, depth);
    } else if (!strcmp(t, "string")) {
        const cJSON *en = cJSON_GetObjectItemCaseSensitive(s, "enum");
        bool any = false;
        const cJSON *x;
        if (!cJSON_IsArray(en))
            en = NULL;
        cJSON_ArrayForEach(x, en) {
            if (!cJSON_IsString(x))
                continue;
            put(b, any ? " | \"" : "\"");
            put(b, x->valuestring);
            put(b, "\"");
            any = true;
        }
        if (!any)
            put(b, "string");
    } else if (!strcmp(t, "number") || !strcmp(t, "integer")) {
        put(b, "number");
    } else if (!strcmp(t, "boolean")) {
        put(b, "boolean");
    } else if (!strcmp(t, "array")) {
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(s, "items");
        if (it) {
            type_of(b, it, indent, depth + 1);
            put(b, "[]");
        } else {
            put(b, "Array<any>");
        }
    } else {
        put(b, "any");
    }
}

char *fy_serve_tool_params(const cJSON *schema)
{
    struct buf b = {0};
    if (!schema || cJSON_IsNull(schema))
        return calloc(1, 1); /* "": no argument */
    type_of(&b, schema, 0, 0);
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
