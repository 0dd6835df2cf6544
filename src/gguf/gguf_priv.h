/* Private to the GGUF reader (gguf.c, gguf_open.c, gguf_ht.c, gguf_get.c): the opened-model
 * structures. */
#ifndef FY_GGUF_PRIV_H
#define FY_GGUF_PRIV_H

#include "gguf.h"

#define FY_GGUF_MAGIC 0x46554747u   /* "GGUF" read as a little-endian u32 */
#define FY_GGUF_ALIGN_DEFAULT 32u
#define FY_GGUF_KEY_MAX 65535u      /* longest key accepted, in bytes */
#define FY_GGUF_NAME_MAX 95u        /* longest tensor name: struct fy_gguf_tensor.name less NUL */
#define FY_GGUF_DEPTH_MAX 8         /* arrays of arrays nested deeper than this are refused */
#define FY_GGUF_KV_MIN 14u          /* u64 key length + 1 key byte + u32 vtype + 1 value byte */
#define FY_GGUF_TI_MIN 33u          /* u64 len + 1 name byte + u32 n_dims + u64 ne + u32 + u64 */
#define FY_GGUF_SPLIT_TAIL 20u      /* strlen("-00001-of-00003.gguf") */

/* The public kv plus private data. kv must stay the first member: fy_gguf_arr_str turns a kv
 * pointer handed out by this file back into its entry, so callers must not pass copies. */
struct fy_gguf_kv_ent {
    struct fy_gguf_kv kv;
    uint64_t *str_off;  /* string arrays: offset of element i's length field from kv.arr_data */
    uint64_t file_off;  /* where the kv starts in its shard */
};

struct fy_gguf_ht_slot {
    const char *s;  /* NULL: empty slot; points into a mapping (stable) */
    uint64_t n;
    uint64_t h;
    int64_t idx;
};

/* Open-addressing hash table from names to indices, load factor <= 1/2. */
struct fy_gguf_ht {
    struct fy_gguf_ht_slot *slots;
    uint64_t cap;  /* 0 or a power of two */
    uint64_t used;
};

struct fy_gguf_shard {
    char *path;
    const uint8_t *map;   /* the whole file, PROT_READ */
    uint64_t size;
    bool borrowed;        /* map is the caller's memory (fy_gguf_open_mem): never unmapped */
    uint32_t version;
    uint32_t alignment;
    uint64_t data_start;  /* first byte of the data section */
    int64_t kv_begin;
    int64_t n_kv;
    int64_t t_begin;
    int64_t n_tensors;
};

struct fy_gguf {
    int n_shards;                    /* shard slots allocated (all loaded once open succeeds) */
    struct fy_gguf_shard *shards;
    struct fy_gguf_kv_ent *kvs;      /* every shard's kvs, in file order */
    int64_t n_kv;
    int64_t cap_kv;
    struct fy_gguf_tensor *tensors;  /* every shard's tensors, in file order */
    uint64_t *t_off_pos;             /* per tensor: file position of its offset field */
    int64_t n_tensors;
    int64_t cap_tensors;
    struct fy_gguf_ht kv_ht;         /* key -> kv index; shard 0's entry wins */
    struct fy_gguf_ht t_ht;          /* name -> tensor index */
};

/* Bounds-checked cursor over one mapped file. pos <= size always holds. */
struct fy_gguf_rd {
    const char *path;
    const uint8_t *p;
    uint64_t size;
    uint64_t pos;
    char what[160];  /* the item being parsed, e.g. `kv 3 ("general.name")` */
};

/* name -> index table (gguf_ht.c) */
int64_t fy_gguf_ht_find(const struct fy_gguf_ht *h, const char *s, uint64_t n);
fy_status fy_gguf_ht_put(struct fy_gguf_ht *h, const char *s, uint64_t n, int64_t idx); /* no dup check */
void fy_gguf_ht_free(struct fy_gguf_ht *h);

/* value-type helpers (gguf.c); fy_gguf_vt_size is 0 for STR and ARR */
extern const uint8_t fy_gguf_vt_size[FY_GGUF_VTYPE_COUNT];
const char *fy_gguf_vtype_str(uint32_t t);
int fy_gguf_vtype_is_int(uint32_t t);
int fy_gguf_vtype_is_signed(uint32_t t);

/* the parser (gguf.c), used by the opener (gguf_open.c) */
int fy_gguf_str_is(const struct fy_gguf_str *s, const char *c);  /* s equals the C string c */
fy_status fy_gguf_parse_shard(struct fy_gguf *g, int s);  /* validates mapped shard s's header */

#endif
