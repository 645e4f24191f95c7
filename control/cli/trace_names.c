/*
 * Interned names of the trace reader: event names, categories, argument
 * keys, string pids and tids.  One copy of each distinct name, found by a
 * hash of eight bytes at a time in an open-addressing table (power-of-two
 * slots, linear probing, at most half full); the bytes live in 64 KiB blocks
 * (a long name gets a block of its own) freed together with the reader.  A
 * name pointer is stable for the reader's lifetime, and equal names are
 * equal pointers.  Every event repeats the same dozen keys: a small cache of
 * the names found lately answers those with one comparison.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "trace_internal.h"

struct tr_name {
    const char *s; /* NULL: an empty slot */
    size_t len;
    uint64_t hash;
};

struct tr_block {
    struct tr_block *next;
    char bytes[];
};

enum { BLOCK = 64 << 10, OWN_BLOCK = 4 << 10 };

/* A hash of s[0..*len), cutting *len at a NUL: eight bytes at a time, each
 * word mixed in by a multiply and a shift (SplitMix64's constants). */
static uint64_t hash(const char *s, size_t *len)
{
    const char *nul = memchr(s, '\0', *len);
    if (nul)
        *len = (size_t)(nul - s);
    uint64_t h = 0x9E3779B97F4A7C15ull ^ *len, w;
    size_t i = 0;
    for (; i + 8 <= *len; i += 8) {
        memcpy(&w, s + i, 8);
        h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 29;
    }
    w = 0;
    memcpy(&w, s + i, *len - i);
    h = (h ^ w) * 0x94D049BB133111EBull;
    return h ^ (h >> 31);
}

/* The cache slot of s[0..len). */
static size_t recent_slot(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    const unsigned char *u = (const unsigned char *)s;
    return (len * 31 + u[0] * 7u + u[len / 2] * 3u + u[len - 1]) & 255;
}

static char *store(struct tr_names *t, const char *s, size_t len)
{
    char *dst;
    if (len + 1 > OWN_BLOCK || len + 1 > t->left) {
        size_t size = len + 1 > OWN_BLOCK ? len + 1 : BLOCK;
        struct tr_block *b = malloc(sizeof *b + size);
        if (!b)
            return NULL;
        b->next = t->blocks;
        t->blocks = b;
        dst = b->bytes;
        if (size == BLOCK) {
            t->at = b->bytes + len + 1;
            t->left = BLOCK - (len + 1);
        }
    } else {
        dst = t->at;
        t->at += len + 1;
        t->left -= len + 1;
    }
    memcpy(dst, s, len);
    dst[len] = '\0';
    return dst;
}

static int grow(struct tr_names *t)
{
    size_t cap = t->cap ? t->cap * 2 : 1024;
    struct tr_name *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -ENOMEM;
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->slots[i].s)
            continue;
        size_t j = t->slots[i].hash & (cap - 1);
        while (slots[j].s)
            j = (j + 1) & (cap - 1);
        slots[j] = t->slots[i];
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    return 0;
}

/* memcmp(a, b, len) == 0, without a call for the short names most are. */
static bool same(const char *a, const char *b, size_t len)
{
    if (len > 32)
        return memcmp(a, b, len) == 0;
    for (size_t i = 0; i < len; i++)
        if (a[i] != b[i])
            return false;
    return true;
}

const char *tr_names_intern(struct tr_names *t, const char *s, size_t len)
{
    /* a cached name holds no NUL, so a match is the whole of s[0..len) */
    struct tr_recent *r = &t->recent[recent_slot(s, len)];
    if (r->s && r->len == len && same(r->s, s, len))
        return r->s;
    if ((t->n + 1) * 2 > t->cap && grow(t) < 0)
        return NULL;
    size_t whole = len;
    uint64_t h = hash(s, &len);
    size_t j = h & (t->cap - 1);
    for (; t->slots[j].s; j = (j + 1) & (t->cap - 1)) {
        const struct tr_name *e = &t->slots[j];
        if (e->hash == h && e->len == len && memcmp(e->s, s, len) == 0) {
            if (len == whole)
                *r = (struct tr_recent){e->s, len};
            return e->s;
        }
    }
    char *copy = store(t, s, len);
    if (!copy)
        return NULL;
    t->slots[j] = (struct tr_name){copy, len, h};
    t->n++;
    if (len == whole)
        *r = (struct tr_recent){copy, len};
    return copy;
}

void tr_names_free(struct tr_names *t)
{
    while (t->blocks) {
        struct tr_block *next = t->blocks->next;
        free(t->blocks);
        t->blocks = next;
    }
    free(t->slots);
    memset(t, 0, sizeof *t);
}
