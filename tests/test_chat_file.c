/* chat's conversation file (/save, /load): messages with every field and awkward text survive
 * a write and a read unchanged (the same fields, so the same rendered prompt; with the o200k
 * tokenizer the same tokens too), and bad files are refused naming the path and the line, with
 * nothing read. */
#include "cli/chat_file.h"
#include "fy_test_tok.h"
#include "infile.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static size_t clen(const struct fy_harmony_msg *m)
{
    return m->content_len ? m->content_len : (m->content ? strlen(m->content) : 0);
}

static bool same_msg(const struct fy_harmony_msg *a, const struct fy_harmony_msg *b)
{
    size_t n = clen(a);
    return a->role == b->role && same_str(a->name, b->name) &&
           same_str(a->recipient, b->recipient) &&
           a->recipient_after_channel == b->recipient_after_channel &&
           same_str(a->channel, b->channel) && same_str(a->content_type, b->content_type) &&
           n == clen(b) && (n == 0 || !memcmp(a->content, b->content, n));
}

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f);
}

/* Reads path with stderr captured into log (the error message); returns the status. */
static fy_status read_logged(const char *path, const char *logpath, struct fy_harmony_msgs *out,
                             char *log, size_t cap)
{
    fflush(stderr);
    int saved = dup(2), fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 2);
    close(fd);
    fy_status st = fy_chat_file_read("/load", path, out);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    log[0] = '\0';
    FILE *f = fopen(logpath, "r");
    if (f) {
        size_t n = fread(log, 1, cap - 1, f);
        log[n] = '\0';
        fclose(f);
    }
    return st;
}

int main(void)
{
    int failed = 0;
    char dir[64], path[128], logpath[128], log[1024];
    snprintf(dir, sizeof(dir), "/tmp/fy-chatfile.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return FY_TEST_HARD;
    }
    snprintf(path, sizeof(path), "%s/conv.jsonl", dir);
    snprintf(logpath, sizeof(logpath), "%s/log.txt", dir);

    /* every field, and text with quotes, backslashes, control characters, non-ASCII, specials */
    static const char tricky[] = "a \"quote\" \\ back\\slash\n\ttab\r\x01\x1f\x7f é 漢字 😀 "
                                 "<|start|>assistant<|message|> {\"k\": [1]}\n";
    const struct fy_harmony_msg msgs[] = {
        {.role = FY_ROLE_USER, .content = "What is 2 + 2?", .end_token = -1},
        {.role = FY_ROLE_ASSISTANT, .channel = "analysis", .content = "Simple.",
         .end_token = 200007},
        {.role = FY_ROLE_ASSISTANT, .channel = "commentary", .recipient = "functions.get_weather",
         .recipient_after_channel = true, .content_type = "<|constrain|>json",
         .content = "{\"location\":\"Tokyo\"}", .end_token = 200012},
        {.role = FY_ROLE_TOOL, .name = "functions.get_weather", .channel = "commentary",
         .content = "{\"sunny\": true}", .end_token = -1},
        {.role = FY_ROLE_ASSISTANT, .channel = "final", .content = tricky, .content_len = 0,
         .end_token = 200002},
        {.role = FY_ROLE_USER, .content = "", .end_token = -1},
        {.role = FY_ROLE_DEVELOPER, .name = "dev", .content = "be brief", .end_token = -1},
        {.role = FY_ROLE_SYSTEM, .content = "sys", .end_token = -1},
    };
    const int64_t n = (int64_t)FY_ARRAY_LEN(msgs);
    FILE *f = fopen(path, "w");
    FY_EXPECT(f && fy_chat_file_write(f, msgs, n) == FY_OK);
    if (f)
        fclose(f);
    struct fy_harmony_msgs got = {0};
    FY_EXPECT(fy_chat_file_read("/load", path, &got) == FY_OK && got.n == n);
    for (int64_t i = 0; i < n && i < got.n; i++)
        if (!same_msg(&msgs[i], &got.v[i])) {
            printf("message %lld differs after the round trip\n", (long long)i);
            failed++;
        }

    /* written again, the file is byte for byte the same */
    char path2[160], *a = NULL, *b = NULL;
    size_t la = 0, lb = 0;
    snprintf(path2, sizeof(path2), "%s/again.jsonl", dir);
    f = fopen(path2, "w");
    FY_EXPECT(f && fy_chat_file_write(f, got.v, got.n) == FY_OK);
    if (f)
        fclose(f);
    FY_EXPECT(fy_infile_read("a", path, 1 << 20, &a, &la) == FY_OK &&
              fy_infile_read("b", path2, 1 << 20, &b, &lb) == FY_OK && la == lb &&
              !memcmp(a, b, la));
    FY_EXPECT(a && !strchr(a, '\r') && !strchr(a, '\t')); /* escaped: one message, one line */
    free(a);
    free(b);

    /* the same prompt tokens */
    struct fy_tokenizer *t = NULL;
    if (fy_test_tokenizer(&t) == 0) {
        struct fy_harmony_conv c1 = {.system.current_date = "2026-01-01", .msgs = msgs,
                                     .n_msgs = n};
        struct fy_harmony_conv c2 = c1;
        c2.msgs = got.v;
        c2.n_msgs = got.n;
        struct fy_tokens t1 = {0}, t2 = {0};
        FY_EXPECT(fy_harmony_render(t, &c1, true, &t1) == FY_OK &&
                  fy_harmony_render(t, &c2, true, &t2) == FY_OK && t1.n == t2.n && t1.n > 0 &&
                  !memcmp(t1.ids, t2.ids, (size_t)t1.n * sizeof(*t1.ids)));
        printf("round trip: %lld messages, %lld prompt tokens, the same\n", (long long)n,
               (long long)t1.n);
        fy_tokens_free(&t1);
        fy_tokens_free(&t2);
        fy_tokenizer_free(t);
    }

    /* blank lines are skipped; an empty file is an empty conversation */
    FY_EXPECT(write_file(path, "\n{\"role\":\"user\",\"content\":\"hi\"}\n  \n") == 0 &&
              fy_chat_file_read("/load", path, &got) == FY_OK && got.n == 1);
    FY_EXPECT(write_file(path, "") == 0 && fy_chat_file_read("/load", path, &got) == FY_OK &&
              got.n == 0);

    /* bad files: the status, nothing read, the message names the path and the line */
    static const struct {
        const char *text, *msg;
        fy_status st;
    } bad[] = {
        {"{\"role\":\"user\",\"content\":\"hi\"}\n{\"role\":\"user\" \"content\":\"x\"}\n",
         "conv.jsonl: line 2: column 16: expected", FY_E_FORMAT},
        {"{\"role\":\"bot\",\"content\":\"hi\"}\n", "line 1: unknown role \"bot\"", FY_E_FORMAT},
        {"{\"role\":\"user\"}\n", "line 1: no \"content\"", FY_E_FORMAT},
        {"{\"content\":\"x\"}\n", "line 1: no \"role\"", FY_E_FORMAT},
        {"\n\n{\"role\":\"user\",\"content\":\"x\",\"mood\":\"ok\"}\n",
         "line 3: unknown key \"mood\"", FY_E_FORMAT},
        {"{\"role\":\"user\",\"content\":1}\n", "line 1: \"content\" is not a string",
         FY_E_FORMAT},
        {"{\"role\":\"user\",\"content\":\"\\ud800\"}\n", "line 1: \"content\" is not valid UTF-8",
         FY_E_FORMAT},
        {"{\"role\":\"user\",\"content\":\"\xff\"}\n", "line 1: \"content\" is not valid UTF-8",
         FY_E_FORMAT},
        {"{\"role\":\"user\",\"content\":\"a\\u0000b\"}\n", "line 1: column 28: \\u0000",
         FY_E_FORMAT},
        {"{\"role\":\"tool\",\"content\":\"x\"}\n", "line 1: a tool message needs a \"name\"",
         FY_E_FORMAT},
        {"[1, 2]\n", "line 1: column 1", FY_E_FORMAT},
    };
    for (size_t i = 0; i < FY_ARRAY_LEN(bad); i++) {
        fy_harmony_msgs_clear(&got);
        FY_EXPECT(fy_harmony_msgs_push(&got, &msgs[0]) == FY_OK);
        fy_status st = write_file(path, bad[i].text) == 0
                           ? read_logged(path, logpath, &got, log, sizeof(log))
                           : FY_OK;
        if (st != bad[i].st || got.n != 0 || !strstr(log, path) || !strstr(log, bad[i].msg)) {
            printf("FAIL bad file %zu: status %d, %lld messages, log: %s", i, (int)st,
                   (long long)got.n, log);
            failed++;
        }
    }
    snprintf(path2, sizeof(path2), "%s/missing.jsonl", dir);
    FY_EXPECT(read_logged(path2, logpath, &got, log, sizeof(log)) == FY_E_IO && got.n == 0 &&
              strstr(log, "missing.jsonl"));
    printf("a bad line: %s", log);
    FY_EXPECT(read_logged(dir, logpath, &got, log, sizeof(log)) != FY_OK && got.n == 0);

    fy_harmony_msgs_free(&got);
    unlink(path);
    snprintf(path2, sizeof(path2), "%s/again.jsonl", dir);
    unlink(path2);
    unlink(logpath);
    rmdir(dir);
    printf("%s\n", failed ? "test_chat_file: FAILED" : "test_chat_file: ok");
    return failed ? 1 : 0;
}
