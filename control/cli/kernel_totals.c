/*
 * GPU time and calls per kernel name over a set of traces (kernel_totals.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kernel_totals.h"

int kt_init(struct kernel_totals *t, struct tr_reader *r)
{
    memset(t, 0, sizeof *t);
#define NAME(field, text) (t->is.field = tr_intern(r, text, sizeof text - 1)) != NULL
    bool ok = NAME(X, "X") && NAME(kernel, "kernel") && NAME(gpu_memcpy, "gpu_memcpy") &&
              NAME(gpu_memset, "gpu_memset") && NAME(cuda_runtime, "cuda_runtime") &&
              NAME(cuda_driver, "cuda_driver");
#undef NAME
    return ok ? 0 : -ENOMEM;
}

void kt_free(struct kernel_totals *t)
{
    free(t->rows);
    free(t->index);
    memset(t, 0, sizeof *t);
}

static size_t slot(const struct kernel_totals *t, const char *name)
{
    size_t mask = t->n_index - 1;
    size_t i = (size_t)(((uint64_t)(uintptr_t)name * 0x9E3779B97F4A7C15ull) >> 20) & mask;
    while (t->index[i] && t->rows[t->index[i] - 1].name != name)
        i = (i + 1) & mask;
    return i;
}

static int reindex(struct kernel_totals *t)
{
    size_t n = 64;
    while (n < 2 * (t->n + 1))
        n *= 2;
    uint32_t *index = calloc(n, sizeof *index);
    if (!index)
        return -ENOMEM;
    free(t->index);
    t->index = index;
    t->n_index = n;
    for (size_t k = 0; k < t->n; k++)
        t->index[slot(t, t->rows[k].name)] = (uint32_t)k + 1;
    return 0;
}

static struct kt_row *row_of(struct kernel_totals *t, const char *name)
{
    if ((!t->index || 2 * (t->n + 1) > t->n_index) && reindex(t) < 0)
        return NULL;
    size_t i = slot(t, name);
    if (t->index[i])
        return &t->rows[t->index[i] - 1];
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 256;
        struct kt_row *g = realloc(t->rows, cap * sizeof *g);
        if (!g)
            return NULL;
        t->rows = g;
        t->cap = cap;
    }
    t->rows[t->n] = (struct kt_row){.name = name};
    t->index[i] = (uint32_t)++t->n;
    return &t->rows[t->n - 1];
}

int kt_event(struct kernel_totals *t, struct tr_reader *r, const struct tr_event *ev)
{
    if (ev->ph != t->is.X)
        return 0;
    if (ev->cat == t->is.kernel || ev->cat == t->is.gpu_memcpy || ev->cat == t->is.gpu_memset) {
        struct kt_row *row = row_of(t, ev->name ? ev->name : tr_intern(r, "?", 1));
        if (!row)
            return -ENOMEM;
        row->gpu_ns += ev->has_dur && ev->dur_ns > 0 ? (uint64_t)ev->dur_ns : 0;
        row->gpu_records++;
        return 0;
    }
    if (ev->cat != t->is.cuda_runtime && ev->cat != t->is.cuda_driver)
        return 0;
    const struct tr_value *k = tr_arg(ev, t->is.kernel);
    if (!k || k->type != TR_STRING || !k->s[0])
        return 0;
    const char *name = tr_intern(r, k->s, k->len);
    struct kt_row *row = name ? row_of(t, name) : NULL;
    if (!row)
        return -ENOMEM;
    row->launches++;
    return 0;
}

struct read_ctx {
    struct kernel_totals *t;
    struct tr_reader *r;
};

static int on_event(void *ctx, const struct tr_event *ev)
{
    struct read_ctx *c = ctx;
    return kt_event(c->t, c->r, ev);
}

int kt_read(struct kernel_totals *t, struct tr_reader *r, const char *path)
{
    struct read_ctx c = {t, r};
    int rc = tr_read(r, path, &(struct tr_callbacks){.event = on_event}, &c);
    t->files += rc == 0;
    return rc;
}

bool kt_has_gpu(const struct kernel_totals *t)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->rows[i].gpu_records)
            return true;
    return false;
}

static uint64_t change(const struct kt_delta *d, bool gpu)
{
    uint64_t a = gpu ? d->after_ns : d->after_calls, b = gpu ? d->before_ns : d->before_calls;
    return a > b ? a - b : b - a;
}

static int by_change_gpu(const void *x, const void *y)
{
    uint64_t a = change(x, true), b = change(y, true);
    return a != b ? (a > b ? -1 : 1)
                  : strcmp(((const struct kt_delta *)x)->name, ((const struct kt_delta *)y)->name);
}

static int by_change_calls(const void *x, const void *y)
{
    uint64_t a = change(x, false), b = change(y, false);
    return a != b ? (a > b ? -1 : 1)
                  : strcmp(((const struct kt_delta *)x)->name, ((const struct kt_delta *)y)->name);
}

/* Calls of a row: its GPU records, or its launches without GPU activity. */
static uint64_t calls(const struct kt_row *r)
{
    return r->gpu_records ? r->gpu_records : r->launches;
}

int kt_compare(const struct kernel_totals *before, const struct kernel_totals *after,
               struct kt_delta **out, size_t *n, bool *gpu)
{
    *out = NULL;
    *n = 0;
    *gpu = kt_has_gpu(before) && kt_has_gpu(after);
    struct kt_delta *d = calloc(before->n + after->n + 1, sizeof *d);
    if (!d)
        return -ENOMEM;
    size_t m = 0;
    for (size_t i = 0; i < before->n; i++) {
        const struct kt_row *b = &before->rows[i];
        d[m++] = (struct kt_delta){b->name, b->gpu_ns, 0, calls(b), 0};
    }
    for (size_t i = 0; i < after->n; i++) {
        const struct kt_row *a = &after->rows[i];
        struct kt_delta *same = NULL;
        if (before->index) {
            size_t s = slot(before, a->name);
            same = before->index[s] ? &d[before->index[s] - 1] : NULL;
        }
        if (!same) {
            same = &d[m++];
            *same = (struct kt_delta){.name = a->name};
        }
        same->after_ns = a->gpu_ns;
        same->after_calls = calls(a);
    }
    qsort(d, m, sizeof *d, *gpu ? by_change_gpu : by_change_calls);
    *out = d;
    *n = m;
    return 0;
}
