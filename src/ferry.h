/* ferry: public types shared by every module (status codes, logging, dtypes). */
#ifndef FERRY_H
#define FERRY_H

#include <stddef.h>
#include <stdint.h>

#define FY_VERSION "0.1.0"

typedef enum fy_status {
    FY_OK = 0,
    FY_E_INVAL = -1,       /* bad argument */
    FY_E_IO = -2,          /* read/open/mmap failed */
    FY_E_NOMEM = -3,
    FY_E_FORMAT = -4,      /* malformed or unsupported GGUF content */
    FY_E_UNSUPPORTED = -5,
    FY_E_GPU = -6,
    FY_E_FULL = -7,        /* context (KV cache) full */
} fy_status;

const char *fy_status_str(fy_status st);

/* FY_LOG_SILENT (or any negative level) as the threshold drops every message. */
enum fy_log_level {
    FY_LOG_SILENT = -1,
    FY_LOG_ERR = 0,
    FY_LOG_WARN = 1,
    FY_LOG_INFO = 2,
    FY_LOG_DEBUG = 3
};

/* Messages go to stderr; levels above the current threshold are dropped. */
void fy_log(enum fy_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fy_log_set_level(enum fy_log_level level);
enum fy_log_level fy_log_get_level(void);

#define FY_TRY(expr)                                                                               \
    do {                                                                                           \
        fy_status st_ = (expr);                                                                    \
        if (st_ != FY_OK)                                                                          \
            return st_;                                                                            \
    } while (0)
#define FY_CHECK_ARG(cond)                                                                         \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fy_log(FY_LOG_ERR, "%s: invalid argument: %s", __func__, #cond);                       \
            return FY_E_INVAL;                                                                     \
        }                                                                                          \
    } while (0)
#define FY_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ggml type ids, as stored in GGUF files. Only these are implemented. */
enum fy_dtype {
    FY_F32 = 0,
    FY_F16 = 1,
    FY_Q8_0 = 8,
    FY_BF16 = 30,
    FY_MXFP4 = 39,
};

/* True for the type ids above; false for anything else (unknown or unimplemented). */
int fy_dtype_known(uint32_t id);
const char *fy_dtype_name(enum fy_dtype t);
int64_t fy_dtype_block_elems(enum fy_dtype t); /* 1, or 32 for Q8_0 and MXFP4 */
size_t fy_dtype_block_bytes(enum fy_dtype t);  /* 4, 2, 34, 2, 17 */
/* Bytes of a row of ne0 elements; ne0 must be a multiple of the block size. */
size_t fy_dtype_row_bytes(enum fy_dtype t, int64_t ne0);

#endif
