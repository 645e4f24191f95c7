/*
 * An index from names to the rows of a table that keeps its own names (the
 * time table's rows, the report's rows): open addressing over row numbers,
 * FNV-1a, 2n to 4n slots, rebuilt as the table grows (or after its rows
 * moved).  The caller says how to read row r's name.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static uint64_t hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

/* The slot of name: its row's, or the empty one it would take. */
static size_t slot(const struct wr_name_index *ix, const char *name, wr_name_of name_of,
                   const void *rows)
{
    size_t mask = ix->n_slots - 1, i = hash(name) & mask;
    while (ix->slots[i] && strcmp(name_of(rows, ix->slots[i] - 1), name) != 0)
        i = (i + 1) & mask;
    return i;
}

long wr_name_find(struct wr_name_index *ix, const char *name, size_t n_rows, wr_name_of name_of,
                  const void *rows, size_t *where)
{
    if (!ix->slots || 2 * (n_rows + 1) > ix->n_slots) {
        size_t n = 64;
        while (n < 2 * (n_rows + 1))
            n *= 2;
        uint32_t *slots = calloc(n, sizeof *slots);
        if (!slots)
            return -ENOMEM;
        free(ix->slots);
        ix->slots = slots;
        ix->n_slots = n;
        for (size_t r = 0; r < n_rows; r++)
            ix->slots[slot(ix, name_of(rows, r), name_of, rows)] = (uint32_t)r + 1;
    }
    *where = slot(ix, name, name_of, rows);
    return ix->slots[*where] ? (long)ix->slots[*where] - 1 : -ENOENT;
}

void wr_name_add(struct wr_name_index *ix, size_t where, size_t row)
{
    ix->slots[where] = (uint32_t)row + 1;
}

void wr_name_index_free(struct wr_name_index *ix)
{
    free(ix->slots);
    ix->slots = NULL;
    ix->n_slots = 0;
}
