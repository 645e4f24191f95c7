/*
 * Interned names of the trace reader: event names, categories, argument
 * keys, string pids and tids.  One copy of each distinct name, found by
 * FNV-1a hash in an open-addressing table (power-of-two slots, linear
 * probing, at most half full); the bytes live in 64 KiB blocks (a long name
 * gets a block of its own) freed together with the reader.  A name pointer
 * is stable for the reader's lifetime, and equal names are equal pointers.
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

/* FNV-1a of s[0..*len), cutting *len at a NUL. */
static uint64_t fnv1a(const char *s, size_t *len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < *len; i++) {
        if (!s[i]) {
            *len = i;
            break;
        }
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    }
    return h;
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

const char *tr_names_intern(struct tr_names *t, const char *s, size_t len)
{
    if ((t->n + 1) * 2 > t->cap && grow(t) < 0)
        return NULL;
    uint64_t h = fnv1a(s, &len);
    size_t j = h & (t->cap - 1);
    for (; t->slots[j].s; j = (j + 1) & (t->cap - 1)) {
        const struct tr_name *e = &t->slots[j];
        if (e->hash == h && e->len == len && memcmp(e->s, s, len) == 0)
            return e->s;
    }
    char *copy = store(t, s, len);
    if (!copy)
        return NULL;
    t->slots[j] = (struct tr_name){copy, len, h};
    t->n++;
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
