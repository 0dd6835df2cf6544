/* Status strings and the logger. */
#include "ferry.h"

#include <stdarg.h>
#include <stdio.h>

const char *fy_status_str(fy_status st)
{
    switch (st) {
    case FY_OK: return "ok";
    case FY_E_INVAL: return "invalid argument";
    case FY_E_IO: return "i/o error";
    case FY_E_NOMEM: return "out of memory";
    case FY_E_FORMAT: return "bad file format";
    case FY_E_UNSUPPORTED: return "unsupported";
    case FY_E_GPU: return "gpu error";
    case FY_E_FULL: return "context full";
    }
    return "unknown error";
}

/* The only process-wide state: the log threshold, set once by the CLI. */
static int g_level = FY_LOG_INFO; /* an int: a negative threshold silences everything */

void fy_log_set_level(enum fy_log_level level) { g_level = (int)level < 0 ? -1 : (int)level; }
enum fy_log_level fy_log_get_level(void) { return (enum fy_log_level)g_level; }

void fy_log(enum fy_log_level level, const char *fmt, ...)
{
    static const char *const tag[] = {"error", "warning", "info", "debug"};
    int l = (int)level;
    if (l < 0 || l > g_level)
        return; /* also a message at a negative level: there is no tag for it */
    if (l > FY_LOG_DEBUG)
        l = FY_LOG_DEBUG;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "ferry: %s: ", tag[l]);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
