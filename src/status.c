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
static enum fy_log_level g_level = FY_LOG_INFO;

void fy_log_set_level(enum fy_log_level level) { g_level = level; }
enum fy_log_level fy_log_get_level(void) { return g_level; }

void fy_log(enum fy_log_level level, const char *fmt, ...)
{
    static const char *const tag[] = {"error", "warning", "info", "debug"};
    if (level > g_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "ferry: %s: ", tag[level]);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
