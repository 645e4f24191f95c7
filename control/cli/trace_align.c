/*
 * Clock alignment across hosts for omniprof merge --align=collective.
 *
 * Processes on one host share its clock; hosts' clocks differ by whatever
 * NTP left (often milliseconds, sometimes seconds).  A collective (an NCCL
 * kernel: all-reduce, all-gather, ...) ends at nearly the same instant on
 * every rank that takes part, whatever time each rank entered it: so the
 * ends of the same collectives, matched by kernel name and by order of
 * ending, tell how far one host's clock is from another's.  Per host, the
 * offset applied is the median over every matched pair of (reference end -
 * this end), which minimises the spread of the ends around the reference's
 * and ignores the few collectives that a late rank ended later.
 *
 * Memory: the end time of every collective kernel (16 bytes each), read in
 * one pass over each input; other events are not kept.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "trace_set.h"

struct end {
    const char *name; /* interned: equal names, equal pointers, across inputs */
    int64_t ns;       /* on the input's own clock */
};

struct ends {
    struct end *v;
    size_t n, cap;
};

struct collect {
    const char *X, *kernel;
    const char *last_name; /* the last kernel name looked at, and whether it is NCCL's */
    bool last_nccl;
    int64_t base;
    struct ends *e;
};

static int on_event(void *ctx, const struct tr_event *ev)
{
    struct collect *c = ctx;
    if (ev->ph != c->X || ev->cat != c->kernel || !ev->name || !ev->has_ts)
        return 0;
    if (ev->name != c->last_name) {
        c->last_name = ev->name;
        c->last_nccl = strcasestr(ev->name, "nccl") != NULL;
    }
    if (!c->last_nccl)
        return 0;
    struct ends *e = c->e;
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 256;
        struct end *v = realloc(e->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        e->v = v;
        e->cap = cap;
    }
    e->v[e->n++] = (struct end){ev->name, c->base + ev->ts_ns + (ev->has_dur ? ev->dur_ns : 0)};
    return 0;
}

static int by_name_then_end(const void *a, const void *b)
{
    const struct end *x = a, *y = b;
    if (x->name != y->name)
        return (uintptr_t)x->name < (uintptr_t)y->name ? -1 : 1;
    return (x->ns > y->ns) - (x->ns < y->ns);
}

static int by_value(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

struct diffs {
    int64_t *v;
    size_t n, cap;
};

/* ref_end - end for the k-th end of each name both inputs have. */
static int pair(const struct ends *ref, const struct ends *p, struct diffs *d)
{
    size_t i = 0, j = 0;
    while (i < ref->n && j < p->n) {
        const char *a = ref->v[i].name, *b = p->v[j].name;
        if (a != b) {
            if ((uintptr_t)a < (uintptr_t)b)
                i++;
            else
                j++;
            continue;
        }
        for (; i < ref->n && j < p->n && ref->v[i].name == a && p->v[j].name == a; i++, j++) {
            if (d->n == d->cap) {
                size_t cap = d->cap ? d->cap * 2 : 256;
                int64_t *v = realloc(d->v, cap * sizeof *v);
                if (!v)
                    return -ENOMEM;
                d->v = v;
                d->cap = cap;
            }
            d->v[d->n++] = ref->v[i].ns - p->v[j].ns;
        }
        while (i < ref->n && ref->v[i].name == a)
            i++;
        while (j < p->n && p->v[j].name == a)
            j++;
    }
    return 0;
}

static bool same_host(const struct cli_trace *a, const struct cli_trace *b)
{
    return a == b || (a->host && b->host && strcmp(a->host, b->host) == 0);
}

static int read_ends(const struct cli_traces *set, struct ends *ends)
{
    /* names and times only: args are passed over as text */
    struct tr_reader *r = tr_reader_new(&(struct tr_options){.args_text = true});
    struct collect c = {0};
    int rc = r ? 0 : -ENOMEM;
    if (rc == 0) {
        c.X = tr_intern(r, "X", 1);
        c.kernel = tr_intern(r, "kernel", 6);
        rc = c.X && c.kernel ? 0 : -ENOMEM;
    }
    for (size_t i = 0; rc == 0 && i < set->n; i++) {
        c.base = set->v[i].has_base ? set->v[i].base_ns : 0;
        c.e = &ends[i];
        c.last_name = NULL;
        rc = tr_read(r, set->v[i].path, &(struct tr_callbacks){.event = on_event}, &c);
        if (rc < 0)
            fprintf(stderr, "omniprof: %s\n", tr_error(r)[0] ? tr_error(r) : strerror(-rc));
        else if (ends[i].n > 1)
            qsort(ends[i].v, ends[i].n, sizeof *ends[i].v, by_name_then_end);
    }
    if (!r)
        fprintf(stderr, "omniprof: merge: out of memory\n");
    tr_reader_free(r);
    return rc;
}

/* The reference: rank 0 with collectives, else the first input with some. */
static long reference(const struct cli_traces *set, const size_t *order, const struct ends *ends)
{
    long first = -1;
    for (size_t k = 0; k < set->n; k++) {
        size_t i = order[k];
        if (ends[i].n && set->v[i].rank == 0)
            return (long)i;
        if (ends[i].n && first < 0)
            first = (long)i;
    }
    return first;
}

/* The offset of the host of input i against ref: pooled over the host's
 * inputs; the number of pairs in *n, the median absolute deviation in *mad. */
static int host_offset(const struct cli_traces *set, const struct ends *ends, size_t ref, size_t i,
                       int64_t *offset, size_t *n, int64_t *mad)
{
    struct diffs d = {0};
    int rc = 0;
    for (size_t j = 0; rc == 0 && j < set->n; j++)
        if (same_host(&set->v[i], &set->v[j]))
            rc = pair(&ends[ref], &ends[j], &d);
    *n = d.n;
    *offset = *mad = 0;
    if (rc == 0 && d.n) {
        qsort(d.v, d.n, sizeof *d.v, by_value);
        *offset = d.n % 2 ? d.v[d.n / 2] : d.v[d.n / 2 - 1] + (d.v[d.n / 2] - d.v[d.n / 2 - 1]) / 2;
        for (size_t k = 0; k < d.n; k++)
            d.v[k] = d.v[k] > *offset ? d.v[k] - *offset : *offset - d.v[k];
        qsort(d.v, d.n, sizeof *d.v, by_value);
        *mad = d.v[d.n / 2];
    }
    free(d.v);
    return rc;
}

static void say_us(char *buf, size_t cap, int64_t ns)
{
    uint64_t u = ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;
    snprintf(buf, cap, "%c%llu.%03llu", ns < 0 ? '-' : '+', (unsigned long long)(u / 1000),
             (unsigned long long)(u % 1000));
}

int cli_align_collectives(const struct cli_traces *set, const size_t *order, int64_t *offset)
{
    struct ends *ends = calloc(set->n, sizeof *ends);
    int rc = ends ? read_ends(set, ends) : -ENOMEM;
    bool said = rc < 0;
    long ref = rc == 0 ? reference(set, order, ends) : -1;
    char ref_label[512] = "", label[512], us[32], mad_us[32];
    if (ref >= 0)
        cli_trace_label(&set->v[ref], -1, " \xC2\xB7 ", ref_label, sizeof ref_label);
    for (size_t k = 0; rc == 0 && k < set->n; k++) {
        size_t i = order[k], n = 0;
        int64_t mad = 0;
        offset[i] = 0;
        if (ref >= 0 && !same_host(&set->v[i], &set->v[ref]))
            rc = host_offset(set, ends, (size_t)ref, i, &offset[i], &n, &mad);
        cli_trace_label(&set->v[i], -1, " \xC2\xB7 ", label, sizeof label);
        say_us(us, sizeof us, offset[i]);
        say_us(mad_us, sizeof mad_us, mad);
        if (ref < 0)
            fprintf(stderr,
                    "omniprof: merge: clock of %s: offset %s us (no NCCL kernel in any "
                    "input: wall clock kept)\n",
                    label, us);
        else if ((size_t)ref == i)
            fprintf(stderr,
                    "omniprof: merge: clock of %s: offset %s us (the reference, %zu "
                    "collectives)\n",
                    label, us, ends[i].n);
        else if (same_host(&set->v[i], &set->v[ref]))
            fprintf(stderr,
                    "omniprof: merge: clock of %s: offset %s us (same host as the "
                    "reference %s)\n",
                    label, us, ref_label);
        else if (n == 0)
            fprintf(stderr,
                    "omniprof: merge: clock of %s: offset %s us (no collective matched "
                    "the reference %s: wall clock kept)\n",
                    label, us, ref_label);
        else
            fprintf(stderr,
                    "omniprof: merge: clock of %s: offset %s us (host %s: median of %zu "
                    "collective ends against %s; spread %s us)\n",
                    label, us, set->v[i].host ? set->v[i].host : "unknown", n, ref_label,
                    mad_us + 1);
    }
    if (rc < 0 && !said)
        fprintf(stderr, "omniprof: merge: %s\n", strerror(-rc));
    for (size_t i = 0; ends && i < set->n; i++)
        free(ends[i].v);
    free(ends);
    return rc < 0 ? -1 : 0;
}
