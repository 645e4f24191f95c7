/*
 * omniprof diff's rows and names: the (name, group) table every trace is
 * summed into, kernel names as rows (demangled, templates grouped), the
 * Python frame of a launch's call stack, the innermost range (NVTX /
 * record_function annotation, Python function) enclosing an instant on a
 * track, and the two sides' cells compared into rows: the one comparison
 * behind diff's tables and the report's before/after.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "collector.h"
#include "diff.h"

/* ---- the table -------------------------------------------------------------- */

static size_t cell_hash(const char *name, int64_t group, size_t cap)
{
    uint64_t h = ((uint64_t)(uintptr_t)name ^ ((uint64_t)group * 0x9E3779B97F4A7C15ull)) *
                 0xBF58476D1CE4E5B9ull;
    return (size_t)(h >> 17) & (cap - 1);
}

static int grow(struct diff_table *t)
{
    size_t cap = t->cap ? t->cap * 2 : 256;
    struct diff_cell *v = calloc(cap, sizeof *v);
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->v[i].name)
            continue;
        size_t j = cell_hash(t->v[i].name, t->v[i].group, cap);
        while (v[j].name)
            j = (j + 1) & (cap - 1);
        v[j] = t->v[i];
    }
    free(t->v);
    t->v = v;
    t->cap = cap;
    return 0;
}

struct diff_cell *diff_cell(struct diff_table *t, const char *name, int64_t group)
{
    if ((t->n + 1) * 2 > t->cap && grow(t) < 0)
        return NULL;
    size_t j = cell_hash(name, group, t->cap);
    while (t->v[j].name && !(t->v[j].name == name && t->v[j].group == group))
        j = (j + 1) & (t->cap - 1);
    if (!t->v[j].name) {
        t->v[j] = (struct diff_cell){.name = name, .group = group};
        t->n++;
    }
    return &t->v[j];
}

void diff_table_free(struct diff_table *t)
{
    free(t->v);
    memset(t, 0, sizeof *t);
}

/* ---- names ---------------------------------------------------------------------- */

/* Whether the bracket at s[i] belongs to an operator's name (operator<,
 * operator<<, operator<=, operator>, operator>>, operator->). */
static bool operator_bracket(const char *s, size_t i)
{
    size_t k = i;
    while (k > 0 && (s[k - 1] == '<' || s[k - 1] == '>' || s[k - 1] == '-') && i - k < 2)
        k--;
    return (k >= 8 && strncmp(s + k - 8, "operator", 8) == 0) || (i > 0 && s[i - 1] == '-');
}

/* Every outermost <...> of s as "<...>", in place (the text only shrinks);
 * s is left whole when its brackets do not balance. */
static void group_templates(char *s)
{
    size_t len = strlen(s), out = 0;
    int depth = 0;
    char *copy = malloc(len + 1);
    if (!copy)
        return;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool op = (c == '<' || c == '>') && operator_bracket(s, i);
        if (c == '<' && !op) {
            if (depth++ == 0) {
                memcpy(copy + out, "<...", 4);
                out += 4;
            }
        } else if (c == '>' && !op && depth > 0) {
            if (--depth == 0)
                copy[out++] = '>';
        } else if (depth == 0) {
            copy[out++] = c;
        }
    }
    if (depth == 0 && out <= len) {
        memcpy(s, copy, out);
        s[out] = '\0';
    }
    free(copy);
}

char *diff_kernel_name(const char *raw, bool templates)
{
    char *name = coll_demangle(raw);
    if (!name)
        name = strdup(raw);
    if (name && templates && strchr(name, '<'))
        group_templates(name);
    return name;
}

bool diff_python_frame(const char *s)
{
    size_t file_len;
    return cli_py_frame(s, &file_len) && !cli_py_library_file(s, file_len);
}

/* The JSON string literal at *p (compact JSON, as the reader rebuilds it)
 * unescaped into buf; *p moves past it. */
static void unescape(const char **p, char *buf, size_t cap)
{
    const char *s = *p + 1;
    size_t n = 0;
    for (; *s && *s != '"'; s++) {
        char c = *s;
        if (c == '\\' && s[1]) {
            c = *++s;
            switch (c) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'u': c = '?', s += strnlen(s + 1, 4); break; /* not in frame names */
            default: break;
            }
        }
        if (n + 1 < cap)
            buf[n++] = c;
    }
    buf[n] = '\0';
    *p = *s ? s + 1 : s;
}

bool diff_call_stack_python(const struct tr_value *stack, char *buf, size_t cap)
{
    if (!stack || !stack->s || cap == 0)
        return false;
    if (stack->type == TR_ARRAY) {
        for (const char *p = strchr(stack->s, '"'); p; p = strchr(p, '"')) {
            unescape(&p, buf, cap);
            if (diff_python_frame(buf))
                return true;
        }
        return false;
    }
    if (stack->type != TR_STRING)
        return false;
    for (const char *p = stack->s; *p;) {
        size_t n = strcspn(p, ";");
        snprintf(buf, cap, "%.*s", (int)n, p);
        if (diff_python_frame(buf))
            return true;
        p += n + (p[n] == ';');
    }
    return false;
}

/* ---- enclosing ranges ------------------------------------------------------------ */

static void id_key(const struct tr_id *id, int64_t *v, uint8_t *strs, uint8_t bit)
{
    if (id->present && id->is_str) {
        *v = (int64_t)(uintptr_t)id->str;
        *strs |= bit;
    } else {
        *v = id->present ? id->num : 0;
    }
}

struct diff_track diff_track_of(const struct tr_event *ev)
{
    struct diff_track t = {0};
    id_key(&ev->pid, &t.pid, &t.strs, 1);
    id_key(&ev->tid, &t.tid, &t.strs, 2);
    return t;
}

static int track_cmp(const struct diff_track *a, const struct diff_track *b)
{
    if (a->strs != b->strs)
        return a->strs < b->strs ? -1 : 1;
    if (a->pid != b->pid)
        return a->pid < b->pid ? -1 : 1;
    return (a->tid > b->tid) - (a->tid < b->tid);
}

/* Spans by track, start, and the longer (outer) first. */
static int span_cmp(const void *x, const void *y)
{
    const struct diff_span *a = x, *b = y;
    int c = track_cmp(&a->track, &b->track);
    if (c)
        return c;
    if (a->start != b->start)
        return a->start < b->start ? -1 : 1;
    return (a->end < b->end) - (a->end > b->end);
}

static int query_cmp(const void *x, const void *y)
{
    const struct diff_query *a = x, *b = y;
    int c = track_cmp(&a->track, &b->track);
    return c ? c : (a->at > b->at) - (a->at < b->at);
}

/* One sweep per track: spans opened at or before the query's instant are
 * pushed, those that ended before it popped; the top is the innermost. */
int diff_enclose(struct diff_span *spans, size_t n_spans, struct diff_query *q, size_t n_q)
{
    if (n_spans > 1)
        qsort(spans, n_spans, sizeof *spans, span_cmp);
    if (n_q > 1)
        qsort(q, n_q, sizeof *q, query_cmp);
    const struct diff_span **stack = malloc((n_spans ? n_spans : 1) * sizeof *stack);
    if (!stack)
        return -ENOMEM;
    size_t s = 0, depth = 0;
    for (size_t i = 0; i < n_q; i++) {
        if (i == 0 || track_cmp(&q[i - 1].track, &q[i].track) != 0) {
            depth = 0; /* a new track: skip the spans of tracks before it */
            while (s < n_spans && track_cmp(&spans[s].track, &q[i].track) < 0)
                s++;
        }
        while (s < n_spans && track_cmp(&spans[s].track, &q[i].track) == 0 &&
               spans[s].start <= q[i].at) {
            while (depth && stack[depth - 1]->end < spans[s].start)
                depth--;
            stack[depth++] = &spans[s++];
        }
        while (depth && stack[depth - 1]->end < q[i].at)
            depth--;
        q[i].found = depth ? stack[depth - 1]->name : NULL;
    }
    free(stack);
    return 0;
}

/* ---- the two sides compared ---------------------------------------------------- */

bool diff_on_gpu(const struct diff_side sides[2])
{
    return sides[0].gpu_records && sides[1].gpu_records;
}

enum diff_change diff_change_of(const struct diff_row *r)
{
    if (!r->calls[0] && r->calls[1])
        return DIFF_NEW;
    return r->calls[0] && !r->calls[1] ? DIFF_GONE : DIFF_BOTH;
}

/* Adds the cells of one side's table (of one stage, or all) into column
 * col; index: row name -> row number + 1, in .calls. */
static int gather(struct diff_rows *rows, struct diff_table *index, const struct diff_table *t,
                  int col, int64_t stage)
{
    for (size_t i = 0; i < t->cap; i++) {
        const struct diff_cell *c = &t->v[i];
        if (!c->name || (stage != DIFF_ALL_STAGES && c->group != stage))
            continue;
        struct diff_cell *at = diff_cell(index, c->name, 0);
        if (!at)
            return -ENOMEM;
        if (!at->calls) {
            if (!diff_grow((void **)&rows->v, &rows->n, &rows->cap, sizeof *rows->v))
                return -ENOMEM;
            rows->v[rows->n++] = (struct diff_row){.name = c->name};
            at->calls = rows->n;
        }
        struct diff_row *r = &rows->v[at->calls - 1];
        r->calls[col] += c->calls;
        r->ns[col] += c->ns;
    }
    return 0;
}

static uint64_t change(const struct diff_row *r)
{
    return r->ns[1] > r->ns[0] ? r->ns[1] - r->ns[0] : r->ns[0] - r->ns[1];
}

/* The biggest change first; then the most time; then by name. */
static int by_change(const void *a, const void *b)
{
    const struct diff_row *x = a, *y = b;
    uint64_t cx = change(x), cy = change(y);
    if (cx != cy)
        return cx > cy ? -1 : 1;
    uint64_t tx = x->ns[0] + x->ns[1], ty = y->ns[0] + y->ns[1];
    if (tx != ty)
        return tx > ty ? -1 : 1;
    return strcmp(x->name, y->name);
}

int diff_compare(const struct diff_side sides[2], bool gpu, int64_t stage, struct diff_rows *out)
{
    struct diff_table index = {0};
    memset(out, 0, sizeof *out);
    out->total.name = "Total";
    int rc = 0;
    for (int s = 0; rc == 0 && s < 2; s++)
        rc = gather(out, &index, gpu ? &sides[s].gpu : &sides[s].host, s, stage);
    diff_table_free(&index);
    if (rc < 0) {
        diff_rows_free(out);
        return rc;
    }
    if (out->n > 1)
        qsort(out->v, out->n, sizeof *out->v, by_change);
    for (size_t i = 0; i < out->n; i++) {
        const struct diff_row *r = &out->v[i];
        for (int s = 0; s < 2; s++) {
            out->total.calls[s] += r->calls[s];
            out->total.ns[s] += r->ns[s];
        }
        out->added += diff_change_of(r) == DIFF_NEW;
        out->gone += diff_change_of(r) == DIFF_GONE;
    }
    return 0;
}

void diff_rows_free(struct diff_rows *rows)
{
    free(rows->v);
    memset(rows, 0, sizeof *rows);
}
