/* GGUF v2/v3 reader (mmap, split files) and streaming writer. */
#ifndef FY_GGUF_H
#define FY_GGUF_H

#include "ferry.h"

#include <stdbool.h>
#include <stdio.h>

enum fy_gguf_vtype {
    FY_GGUF_U8 = 0, FY_GGUF_I8 = 1, FY_GGUF_U16 = 2, FY_GGUF_I16 = 3,
    FY_GGUF_U32 = 4, FY_GGUF_I32 = 5, FY_GGUF_F32 = 6, FY_GGUF_BOOL = 7,
    FY_GGUF_STR = 8, FY_GGUF_ARR = 9, FY_GGUF_U64 = 10, FY_GGUF_I64 = 11,
    FY_GGUF_F64 = 12,
    FY_GGUF_VTYPE_COUNT
};

struct fy_gguf_str {
    uint64_t len;
    const char *ptr;  /* points into the mapping; NOT NUL-terminated */
};

/* One metadata key/value. Scalars are decoded; strings and arrays point into the mapping. */
struct fy_gguf_kv {
    struct fy_gguf_str key;
    enum fy_gguf_vtype type;
    union {
        uint64_t u;   /* U8..U64, BOOL */
        int64_t i;    /* I8..I64 */
        double f;     /* F32, F64 */
        struct fy_gguf_str s;
    } v;
    /* arrays */
    enum fy_gguf_vtype arr_type;
    uint64_t arr_n;
    const uint8_t *arr_data;   /* first element in the mapping (strings: u64 len + bytes each) */
    int shard;                 /* shard index the kv came from */
};

struct fy_gguf_tensor {
    char name[96];
    enum fy_dtype type;
    int n_dims;
    int64_t ne[4];       /* elements; ne[0] innermost; unused dims are 1 */
    size_t nb[4];        /* byte strides; nb[1] = row bytes */
    uint64_t offset;     /* offset inside its shard's data section */
    size_t size;         /* bytes */
    int shard;           /* which shard holds it */
    const void *data;    /* inside the mmap */
};

struct fy_gguf;  /* opaque: all shards of one model */

/* Opens a GGUF file; if its name is "<prefix>-00001-of-0000N.gguf" or the file carries
 * split.count > 1, opens every shard. Validates everything before returning. */
fy_status fy_gguf_open(const char *path, struct fy_gguf **out);
/* Parses a GGUF image already in memory: data[0..size) is borrowed (it must outlive the handle
 * and is never unmapped or freed), name stands for the path in messages. One file only: a
 * split.count over 1 is refused. For tests and fuzzers. */
fy_status fy_gguf_open_mem(const void *data, size_t size, const char *name, struct fy_gguf **out);
/* How later fy_gguf_open calls bring files in (process-wide; default: shared read-only mmap):
 * no_mmap reads each file into anonymous memory (for file systems where mapping is slow),
 * mlock locks the pages in RAM (a warning, not an error, when the limit refuses). */
struct fy_gguf_load_opts {
    bool no_mmap;
    bool mlock;
};
void fy_gguf_set_load_opts(const struct fy_gguf_load_opts *o);
void fy_gguf_close(struct fy_gguf *g);

uint32_t fy_gguf_version(const struct fy_gguf *g);
int fy_gguf_n_shards(const struct fy_gguf *g);
const char *fy_gguf_path(const struct fy_gguf *g, int shard);
uint64_t fy_gguf_file_size(const struct fy_gguf *g); /* sum over shards */

int64_t fy_gguf_n_kv(const struct fy_gguf *g);
const struct fy_gguf_kv *fy_gguf_kv_at(const struct fy_gguf *g, int64_t i);
const struct fy_gguf_kv *fy_gguf_find_kv(const struct fy_gguf *g, const char *key);

int64_t fy_gguf_n_tensors(const struct fy_gguf *g);
const struct fy_gguf_tensor *fy_gguf_tensor_at(const struct fy_gguf *g, int64_t i);
const struct fy_gguf_tensor *fy_gguf_find_tensor(const struct fy_gguf *g, const char *name);

/* Typed getters. They return FY_E_FORMAT (logged, naming the key) on a type mismatch and
 * FY_E_INVAL (not logged) when the key is absent, leaving *out untouched. Integer getters
 * accept any integer vtype whose value fits. */
fy_status fy_gguf_get_u32(const struct fy_gguf *g, const char *key, uint32_t *out);
fy_status fy_gguf_get_f32(const struct fy_gguf *g, const char *key, float *out);
/* Copies into buf (NUL-terminated, truncated to cap-1). */
fy_status fy_gguf_get_str(const struct fy_gguf *g, const char *key, char *buf, size_t cap);
/* Array element access: i-th string of a string array (pointer into the mapping). */
fy_status fy_gguf_arr_str(const struct fy_gguf_kv *kv, uint64_t i, struct fy_gguf_str *out);
/* i-th integer of an integer array. */
fy_status fy_gguf_arr_int(const struct fy_gguf_kv *kv, uint64_t i, int64_t *out);

/* ---- writer ----
 * Usage: fy_gguf_writer_new; add kvs and tensor infos (offsets are assigned in order);
 * fy_gguf_writer_begin_data (writes header, info table and padding);
 * then write each tensor's bytes in the order added with fy_gguf_writer_write (may be called
 * several times per tensor; the writer pads between tensors); fy_gguf_writer_finish. */
struct fy_gguf_writer;

fy_status fy_gguf_writer_new(const char *path, uint32_t alignment, struct fy_gguf_writer **out);
fy_status fy_gguf_writer_kv_u32(struct fy_gguf_writer *w, const char *key, uint32_t v);
fy_status fy_gguf_writer_kv_u16(struct fy_gguf_writer *w, const char *key, uint16_t v);
fy_status fy_gguf_writer_kv_i32(struct fy_gguf_writer *w, const char *key, int32_t v);
fy_status fy_gguf_writer_kv_f32(struct fy_gguf_writer *w, const char *key, float v);
fy_status fy_gguf_writer_kv_bool(struct fy_gguf_writer *w, const char *key, int v);
fy_status fy_gguf_writer_kv_str(struct fy_gguf_writer *w, const char *key, const char *v);
/* String array from n pointers + lengths. */
fy_status fy_gguf_writer_kv_str_arr(struct fy_gguf_writer *w, const char *key,
                                    const char *const *strs, const uint64_t *lens, uint64_t n);
fy_status fy_gguf_writer_kv_i32_arr(struct fy_gguf_writer *w, const char *key,
                                    const int32_t *v, uint64_t n);
/* Raw kv (any vtype): value bytes exactly as they appear after the vtype field. Used by tests to
 * build odd files. */
fy_status fy_gguf_writer_kv_raw(struct fy_gguf_writer *w, const char *key, uint32_t vtype,
                                const void *bytes, size_t n);
fy_status fy_gguf_writer_tensor(struct fy_gguf_writer *w, const char *name, enum fy_dtype type,
                                int n_dims, const int64_t *ne);
fy_status fy_gguf_writer_begin_data(struct fy_gguf_writer *w);
fy_status fy_gguf_writer_write(struct fy_gguf_writer *w, const void *bytes, size_t n);
/* Like fy_gguf_writer_write, but the n bytes are left as a hole in the file (they read as zeros
 * and take no disk space). */
fy_status fy_gguf_writer_skip(struct fy_gguf_writer *w, size_t n);
fy_status fy_gguf_writer_finish(struct fy_gguf_writer *w);  /* checks every tensor was written */
/* Finishes right after begin_data with no tensor bytes written: the data section is left as a
 * hole (the file is extended to its full size), for metadata-only test files of large models. */
fy_status fy_gguf_writer_finish_sparse(struct fy_gguf_writer *w);
void fy_gguf_writer_free(struct fy_gguf_writer *w);  /* NULL-safe; unfinished: deletes the .tmp */

#endif
