/* Open-addressing hash table from names (pointing into the mappings) to indices. */
#include "gguf_priv.h"

#include <stdlib.h>
#include <string.h>


static uint64_t ht_hash(const char *s, uint64_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;  /* FNV-1a */
    for (uint64_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h;
}

int64_t fy_gguf_ht_find(const struct fy_gguf_ht *h, const char *s, uint64_t n)
{
    if (!h->cap)
        return -1;
    uint64_t hv = ht_hash(s, n);
    for (uint64_t i = hv & (h->cap - 1);; i = (i + 1) & (h->cap - 1)) {
        const struct fy_gguf_ht_slot *e = &h->slots[i];
        if (!e->s)
            return -1;
        if (e->h == hv && e->n == n && memcmp(e->s, s, n) == 0)
            return e->idx;
    }
}

static void ht_place(struct fy_gguf_ht_slot *slots, uint64_t cap, struct fy_gguf_ht_slot e)
{
    uint64_t i = e.h & (cap - 1);
    while (slots[i].s)
        i = (i + 1) & (cap - 1);
    slots[i] = e;
}

/* Inserts without checking for an existing entry. */
fy_status fy_gguf_ht_put(struct fy_gguf_ht *h, const char *s, uint64_t n, int64_t idx)
{
    if ((h->used + 1) * 2 > h->cap) {
        uint64_t cap = h->cap ? h->cap * 2 : 64;
        struct fy_gguf_ht_slot *slots = calloc(cap, sizeof(*slots));
        if (!slots)
            return FY_E_NOMEM;
        for (uint64_t i = 0; i < h->cap; i++)
            if (h->slots[i].s)
                ht_place(slots, cap, h->slots[i]);
        free(h->slots);
        h->slots = slots;
        h->cap = cap;
    }
    struct fy_gguf_ht_slot e = {s, n, ht_hash(s, n), idx};
    ht_place(h->slots, h->cap, e);
    h->used++;
    return FY_OK;
}

void fy_gguf_ht_free(struct fy_gguf_ht *h)
{
    free(h->slots);
    memset(h, 0, sizeof(*h));
}
