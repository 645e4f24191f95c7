/*
 * summary --by python | python-stack: the row a launching call goes to,
 * from its "Call stack" argument, where omniprof writes each Python frame
 * as Kineto names it, "file.py(LINE): qualname", innermost first.
 *
 *   --by python: the innermost Python frame of the program itself.  A frame
 *     is the library's when its file is "<frozen ...>" (the import system),
 *     or lies under a "lib/python3*" or "lib64/python3*" directory (the
 *     standard library, and the site-packages of an interpreter, a venv or
 *     ~/.local), or under a "site-packages" or "dist-packages" directory
 *     (installed packages: Debian's /usr/lib/python3/dist-packages).  With
 *     --frames-from PREFIX it is instead the innermost frame whose file
 *     starts with PREFIX.
 *   --by python-stack: every Python frame of the stack.  Rows are numbered
 *     ("#N innermost <- caller <- ...") and the stacks of the rows shown are
 *     listed in full below the table: the name column holds 100 characters.
 *
 * Stacks repeat: each distinct "Call stack" text is interned by the trace
 * reader and parsed once (a cache keyed by the interned pointer).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#include "cli.h"
#include "trace_reader.h"
#include "writer.h"

/* Rows of calls that have no frame to group by. */
static const char no_stack[] = "(no call stack recorded)";
static const char no_python[] = "(no Python frame)";
static const char library_only[] = "(library frames only)";
static const char none_from[] = "(no frame under --frames-from)";

/* A map from interned text to an interned row name, keyed by pointer. */
struct slot {
    const char *key; /* NULL: empty */
    const char *row;
};
struct map {
    struct slot *slots;
    size_t cap, n; /* cap: a power of two (or 0), at most half full */
};

struct cli_py_sites {
    struct tr_reader *r;
    enum cli_py_group by;
    const char *from;   /* --frames-from, or NULL */
    struct map stacks;  /* "Call stack" text -> row */
    struct map pythons; /* python-stack: its Python frames -> row */
    char **legend;      /* python-stack: stack #k+1 in full, one frame a line */
    size_t n_legend;
    size_t with_python; /* calls whose row is a Python frame or stack */
};

static size_t ptr_hash(const char *s, size_t mask)
{
    uint64_t h = (uint64_t)(uintptr_t)s * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 32) & mask;
}

/* The slot of key: its own, or the empty one it would take (room made). */
static struct slot *map_slot(struct map *m, const char *key)
{
    if (2 * (m->n + 1) > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 256;
        struct slot *s = calloc(cap, sizeof *s);
        if (!s)
            return NULL;
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->slots[i].key)
                continue;
            size_t k = ptr_hash(m->slots[i].key, cap - 1);
            while (s[k].key)
                k = (k + 1) & (cap - 1);
            s[k] = m->slots[i];
        }
        free(m->slots);
        m->slots = s;
        m->cap = cap;
    }
    size_t k = ptr_hash(key, m->cap - 1);
    while (m->slots[k].key && m->slots[k].key != key)
        k = (k + 1) & (m->cap - 1);
    return &m->slots[k];
}

struct cli_py_sites *cli_py_sites_new(struct tr_reader *r, enum cli_py_group by, const char *from)
{
    struct cli_py_sites *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->r = r;
    p->by = by;
    p->from = from;
    return p;
}

void cli_py_sites_free(struct cli_py_sites *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_legend; i++)
        free(p->legend[i]);
    free(p->legend);
    free(p->stacks.slots);
    free(p->pythons.slots);
    free(p);
}

bool cli_py_frame(const char *text, size_t *file_len)
{
    /* the last "): " (a qualname holds no parenthesis, a path may), after
     * "(LINE" */
    const char *last = NULL;
    for (const char *at = strstr(text, "): "); at; at = strstr(at + 1, "): "))
        last = at;
    if (!last || !last[3])
        return false;
    const char *d = last;
    while (d > text && d[-1] >= '0' && d[-1] <= '9')
        d--;
    if (d == last)
        return false;
    if (d > text && d[-1] == '-')
        d--;
    if (d == text || d[-1] != '(' || d - 1 == text)
        return false;
    *file_len = (size_t)(d - 1 - text);
    return true;
}

/* Whether dir/name occurs as whole path components in file[0..len). */
static bool has_dir(const char *file, size_t len, const char *dir, size_t n)
{
    for (const char *at = file; (at = memmem(at, len - (size_t)(at - file), dir, n)) != NULL; at++)
        if ((at == file || at[-1] == '/') && at + n < file + len && at[n] == '/')
            return true;
    return false;
}

bool cli_py_library_file(const char *file, size_t len)
{
    if (len >= 8 && memcmp(file, "<frozen ", 8) == 0)
        return true;
    if (has_dir(file, len, "site-packages", 13) || has_dir(file, len, "dist-packages", 13))
        return true;
    /* a "python3*" component right under "lib" or "lib64" */
    for (const char *at = file; (at = memmem(at, len - (size_t)(at - file), "/python3", 8)) != NULL;
         at++) {
        if ((at - file >= 3 && memcmp(at - 3, "lib", 3) == 0 &&
             (at - 3 == file || at[-4] == '/')) ||
            (at - file >= 5 && memcmp(at - 5, "lib64", 5) == 0 &&
             (at - 5 == file || at[-6] == '/')))
            return true;
    }
    return false;
}

static size_t width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

/* A frame's text fitted to the name column: its leading directories give
 * way to "..." (the file, the line and the function are what tell). */
static void fit(char *text, size_t file_len)
{
    size_t skip = 0;
    while (width(text + skip) + (skip ? 3 : 0) > WR_NAME_MAX_WIDTH) {
        const char *slash =
            memchr(text + skip + 1, '/', file_len > skip + 1 ? file_len - skip - 1 : 0);
        if (!slash)
            break;
        skip = (size_t)(slash - text);
    }
    if (skip) {
        memmove(text + 3, text + skip, strlen(text + skip) + 1);
        memcpy(text, "...", 3);
    }
}

/* Whether this frame is the one --by python groups by. */
static bool chosen(const struct cli_py_sites *p, const char *frame, size_t file_len)
{
    if (p->from)
        return strncmp(frame, p->from, strlen(p->from)) == 0;
    return !cli_py_library_file(frame, file_len);
}

static const char *intern(struct cli_py_sites *p, const char *s)
{
    return tr_intern(p->r, s, strlen(s));
}

/* --by python: the row of a parsed stack. */
static const char *site_row(struct cli_py_sites *p, yajl_val frames)
{
    bool python = false;
    for (size_t i = 0; i < YAJL_GET_ARRAY(frames)->len; i++) {
        const char *f = YAJL_GET_STRING(YAJL_GET_ARRAY(frames)->values[i]);
        size_t file_len;
        if (!f || !cli_py_frame(f, &file_len))
            continue;
        python = true;
        if (chosen(p, f, file_len)) {
            char *text = strdup(f);
            if (!text)
                return NULL;
            fit(text, file_len);
            const char *row = intern(p, text);
            free(text);
            return row;
        }
    }
    return python ? (p->from ? none_from : library_only) : no_python;
}

/* Appends s to the malloc'ed *buf; false when out of memory. */
static bool append(char **buf, size_t *len, size_t *cap, const char *s)
{
    size_t n = strlen(s);
    if (*len + n + 1 > *cap) {
        size_t c = (*len + n + 1) * 2;
        char *g = realloc(*buf, c);
        if (!g)
            return false;
        *buf = g;
        *cap = c;
    }
    memcpy(*buf + *len, s, n + 1);
    *len += n;
    return true;
}

/* --by python-stack: the row of a parsed stack, "#N f1 <- f2 <- ...":
 * one per distinct list of Python frames, numbered as they come, with its
 * legend entry. */
static const char *stack_row(struct cli_py_sites *p, yajl_val frames)
{
    char *joined = NULL, *full = NULL;
    size_t len = 0, cap = 0, flen = 0, fcap = 0;
    bool ok = append(&joined, &len, &cap, "");
    for (size_t i = 0; ok && i < YAJL_GET_ARRAY(frames)->len; i++) {
        const char *f = YAJL_GET_STRING(YAJL_GET_ARRAY(frames)->values[i]);
        size_t file_len;
        if (!f || !cli_py_frame(f, &file_len))
            continue;
        ok = (!len || append(&joined, &len, &cap, " <- ")) && append(&joined, &len, &cap, f) &&
             append(&full, &flen, &fcap, "    ") && append(&full, &flen, &fcap, f) &&
             append(&full, &flen, &fcap, "\n");
    }
    const char *key = ok && len ? intern(p, joined) : NULL, *row = ok && !len ? no_python : NULL;
    struct slot *s = key ? map_slot(&p->pythons, key) : NULL;
    if (s && s->key) {
        row = s->row;
    } else if (s) {
        char number[32];
        snprintf(number, sizeof number, "#%zu ", p->n_legend + 1);
        char *named = malloc(strlen(number) + len + 1);
        char **grown = realloc(p->legend, (p->n_legend + 1) * sizeof *p->legend);
        if (grown)
            p->legend = grown;
        if (named && grown) {
            strcpy(named, number);
            strcat(named, joined);
            row = intern(p, named);
        }
        free(named);
        if (row) {
            *s = (struct slot){key, row};
            p->pythons.n++;
            p->legend[p->n_legend++] = full;
            full = NULL;
        }
    }
    free(joined);
    free(full);
    return row;
}

const char *cli_py_site(struct cli_py_sites *p, const struct tr_value *stack)
{
    if (!stack || stack->type != TR_ARRAY || !stack->s)
        return intern(p, no_stack);
    const char *key = tr_intern(p->r, stack->s, stack->len);
    struct slot *s = key ? map_slot(&p->stacks, key) : NULL;
    if (!s)
        return NULL;
    if (!s->key) {
        char err[128];
        yajl_val frames = yajl_tree_parse(key, err, sizeof err);
        const char *row = no_stack;
        if (frames && YAJL_IS_ARRAY(frames))
            row = p->by == CLI_PY_STACK ? stack_row(p, frames) : site_row(p, frames);
        yajl_tree_free(frames);
        row = row ? intern(p, row) : NULL;
        if (!row)
            return NULL;
        *s = (struct slot){key, row};
        p->stacks.n++;
    }
    p->with_python += s->row[0] != '(';
    return s->row;
}

bool cli_py_sites_seen(const struct cli_py_sites *p)
{
    return p->with_python > 0;
}

void cli_py_sites_legend(const struct cli_py_sites *p, FILE *f, const struct wr_rows *t, size_t top)
{
    if (p->by != CLI_PY_STACK)
        return;
    size_t shown = top && top < t->n ? top : t->n;
    for (size_t i = 0; i < shown; i++) {
        size_t k;
        if (sscanf(t->rows[i].name, "#%zu ", &k) == 1 && k >= 1 && k <= p->n_legend)
            fprintf(f, "#%zu, innermost first:\n%s", k, p->legend[k - 1]);
    }
}
