/*
 * What the page draws of a run, worked out once when it is written: the
 * table's order, the busy share of each stream (or host thread) and of
 * each device in RP_BINS time bins, the longest idle gaps of each device,
 * the iterations and the memory curves.  Everything is aggregated here,
 * so a page's size depends on the bins and rows, not on the events.
 *
 * Busy time is the union of intervals: kernels overlapping on one stream
 * (or nested calls on one thread) count once, and a device is busy while
 * any of its streams is.  Each merged interval is added to the bins in
 * O(1) (its partial first and last bins, plus a difference array for the
 * whole bins between), so a run of n records costs two sorts and O(n + bins).
 */
#define _GNU_SOURCE /* qsort_r */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"

#define RP_MAX_TRACKS 64 /* the busiest streams or threads drawn */

/* A merged interval: the rows at either end name the work around a gap. */
struct merged {
    int64_t start, end, device;
    uint32_t track, first_row, last_row;
};

/* ---- bins ------------------------------------------------------------------------ */

struct accum {
    int64_t *partial; /* busy ns in the first and last bin of each interval */
    int32_t *whole;   /* difference array: +1 where whole bins begin, -1 after */
};

static int accum_init(struct accum *a, size_t bins)
{
    a->partial = calloc(bins, sizeof *a->partial);
    a->whole = calloc(bins + 1, sizeof *a->whole);
    return a->partial && a->whole ? 0 : -ENOMEM;
}

static void accum_free(struct accum *a)
{
    free(a->partial);
    free(a->whole);
}

/* Adds [s, e) (non-overlapping with what was added before); returns the
 * busy ns inside the window. */
static uint64_t accum_add(struct accum *a, const struct rp_view *v, int64_t s, int64_t e)
{
    s = s < v->t0 ? v->t0 : s;
    e = e > v->t1 ? v->t1 : e;
    if (e <= s)
        return 0;
    int64_t w = v->bin_ns;
    size_t b0 = (size_t)((s - v->t0) / w), b1 = (size_t)((e - 1 - v->t0) / w);
    if (b0 == b1) {
        a->partial[b0] += e - s;
    } else {
        a->partial[b0] += v->t0 + (int64_t)(b0 + 1) * w - s;
        a->partial[b1] += e - (v->t0 + (int64_t)b1 * w);
        if (b1 > b0 + 1) {
            a->whole[b0 + 1]++;
            a->whole[b1]--;
        }
    }
    return (uint64_t)(e - s);
}

/* The busy share of each bin, in thousandths of the bin. */
static uint16_t *accum_permille(const struct accum *a, const struct rp_view *v)
{
    uint16_t *out = calloc(v->bins ? v->bins : 1, sizeof *out);
    int64_t whole = 0;
    for (size_t b = 0; out && b < v->bins; b++) {
        whole += a->whole[b];
        int64_t start = v->t0 + (int64_t)b * v->bin_ns;
        int64_t width = start + v->bin_ns > v->t1 ? v->t1 - start : v->bin_ns;
        int64_t ns = a->partial[b] + whole * v->bin_ns;
        ns = ns > width ? width : ns;
        out[b] = width > 0 ? (uint16_t)((ns * 1000 + width / 2) / width) : 0;
    }
    return out;
}

/* ---- merging ------------------------------------------------------------------------ */

static int by_track(const void *a, const void *b)
{
    const struct rp_interval *x = a, *y = b;
    if (x->track != y->track)
        return x->track < y->track ? -1 : 1;
    return (x->start > y->start) - (x->start < y->start);
}

static int by_device(const void *a, const void *b)
{
    const struct merged *x = a, *y = b;
    if (x->device != y->device)
        return x->device < y->device ? -1 : 1;
    return (x->start > y->start) - (x->start < y->start);
}

/* Intervals sorted by track, merged per track into out (as many or fewer). */
static size_t merge_tracks(struct rp_interval *iv, size_t n, const struct rp_track *tracks,
                           struct merged *out)
{
    qsort(iv, n, sizeof *iv, by_track);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        struct merged *last = m ? &out[m - 1] : NULL;
        if (last && last->track == iv[i].track && iv[i].start <= last->end) {
            if (iv[i].end > last->end) {
                last->end = iv[i].end;
                last->last_row = iv[i].row;
            }
            continue;
        }
        out[m++] = (struct merged){iv[i].start, iv[i].end, tracks[iv[i].track].device,
                                   iv[i].track, iv[i].row, iv[i].row};
    }
    return m;
}

/* Keeps the RP_GAPS longest gaps, longest first. */
static void keep_gap(struct rp_device_busy *d, struct rp_gap g)
{
    int64_t len = g.end - g.start;
    if (len <= 0)
        return;
    size_t i = d->n_gaps < RP_GAPS ? d->n_gaps++ : RP_GAPS;
    if (i == RP_GAPS) {
        if (len <= d->gaps[RP_GAPS - 1].end - d->gaps[RP_GAPS - 1].start)
            return;
        i = RP_GAPS - 1;
    }
    while (i > 0 && d->gaps[i - 1].end - d->gaps[i - 1].start < len) {
        d->gaps[i] = d->gaps[i - 1];
        i--;
    }
    d->gaps[i] = g;
}

/* One device's merged intervals m[0..n) (sorted by start): its bins, busy
 * time and gaps, the window's edges included. */
static int device_busy(struct rp_view *v, struct rp_device_busy *d, struct merged *m, size_t n)
{
    struct accum a;
    if (accum_init(&a, v->bins) < 0) {
        accum_free(&a);
        return -ENOMEM;
    }
    d->s.device = m[0].device;
    d->s.stream = -1;
    int64_t end = v->t0;
    uint32_t end_row = UINT32_MAX;
    for (size_t i = 0; i < n;) {
        struct merged u = m[i++];
        while (i < n && m[i].start <= u.end) {
            if (m[i].end > u.end) {
                u.end = m[i].end;
                u.last_row = m[i].last_row;
            }
            i++;
        }
        keep_gap(d, (struct rp_gap){end, u.start < v->t1 ? u.start : v->t1, end_row, u.first_row});
        d->s.busy_ns += accum_add(&a, v, u.start, u.end);
        if (u.end > end) {
            end = u.end;
            end_row = u.last_row;
        }
    }
    keep_gap(d, (struct rp_gap){end, v->t1, end_row, UINT32_MAX});
    d->s.permille = accum_permille(&a, v);
    accum_free(&a);
    return d->s.permille ? 0 : -ENOMEM;
}

static int by_busy(const void *a, const void *b)
{
    const struct rp_series *x = a, *y = b;
    if (x->busy_ns != y->busy_ns)
        return x->busy_ns > y->busy_ns ? -1 : 1;
    return 0;
}

static int by_place(const void *a, const void *b)
{
    const struct rp_series *x = a, *y = b;
    if (x->device != y->device)
        return x->device < y->device ? -1 : 1;
    return (x->stream > y->stream) - (x->stream < y->stream);
}

/* Each track's bins (the RP_MAX_TRACKS busiest, in device and stream
 * order) and, for GPU work, each device's. */
static int timeline(struct wr_report_run *run, struct rp_view *v)
{
    struct rp_intervals *iv = v->gpu ? &run->gpu_busy : &run->host_busy;
    if (iv->n == 0)
        return 0;
    struct merged *m = malloc(iv->n * sizeof *m);
    struct rp_series *tracks = calloc(run->tracks.n, sizeof *tracks);
    struct accum a = {0};
    int rc = m && tracks ? 0 : -ENOMEM;
    size_t n = rc ? 0 : merge_tracks(iv->v, iv->n, run->tracks.v, m);
    for (size_t i = 0; rc == 0 && i < n;) { /* per track, in track order */
        uint32_t t = m[i].track;
        rc = accum_init(&a, v->bins);
        for (; rc == 0 && i < n && m[i].track == t; i++)
            tracks[v->n_tracks].busy_ns += accum_add(&a, v, m[i].start, m[i].end);
        tracks[v->n_tracks].device = run->tracks.v[t].device;
        tracks[v->n_tracks].stream = run->tracks.v[t].stream;
        if (rc == 0 && !(tracks[v->n_tracks++].permille = accum_permille(&a, v)))
            rc = -ENOMEM;
        accum_free(&a);
        a = (struct accum){0};
    }
    v->tracks = tracks;
    if (rc == 0 && v->n_tracks > RP_MAX_TRACKS) {
        qsort(tracks, v->n_tracks, sizeof *tracks, by_busy);
        for (size_t i = RP_MAX_TRACKS; i < v->n_tracks; i++)
            free(tracks[i].permille);
        v->n_tracks = RP_MAX_TRACKS;
    }
    qsort(tracks, v->n_tracks, sizeof *tracks, by_place);
    if (rc == 0 && v->gpu) {
        qsort(m, n, sizeof *m, by_device);
        size_t devices = 0;
        for (size_t i = 0; i < n; i++)
            devices += i == 0 || m[i].device != m[i - 1].device;
        v->devices = calloc(devices ? devices : 1, sizeof *v->devices);
        rc = v->devices ? 0 : -ENOMEM;
        for (size_t i = 0, k; rc == 0 && i < n; i = k) {
            for (k = i; k < n && m[k].device == m[i].device; k++)
                ;
            rc = device_busy(v, &v->devices[v->n_devices++], m + i, k - i);
        }
    }
    free(m);
    return rc;
}

/* ---- iterations and memory ------------------------------------------------------- */

static int by_start(const void *a, const void *b)
{
    const struct rp_step *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return (x->number > y->number) - (x->number < y->number);
}

static int iterations(struct wr_report_run *run, struct rp_view *v)
{
    bool spans = run->spans.n > 0;
    size_t n = spans ? run->spans.n : run->instants.n;
    if (n == 0)
        return 0;
    v->steps = malloc(n * sizeof *v->steps);
    if (!v->steps)
        return -ENOMEM;
    memcpy(v->steps, spans ? run->spans.v : run->instants.v, n * sizeof *v->steps);
    qsort(v->steps, n, sizeof *v->steps, by_start);
    for (size_t i = 0; !spans && i < n; i++) {
        int64_t end = i + 1 < n ? v->steps[i + 1].start : v->t1;
        v->steps[i].end = end > v->steps[i].start ? end : v->steps[i].start;
    }
    v->n_steps = n;
    v->step_source = spans ? "ProfilerStep#N" : "omni_step";
    return 0;
}

static int by_device_time(const void *a, const void *b)
{
    const struct rp_mem *x = a, *y = b;
    if (x->device != y->device)
        return x->device < y->device ? -1 : 1;
    return (x->ts > y->ts) - (x->ts < y->ts);
}

static int64_t kib(uint64_t bytes)
{
    return (int64_t)((bytes + 1023) / 1024);
}

/* One device's samples p[0..n) (in time order) as a curve: each bin holds
 * the most allocated (and reserved) in it, or what the last sample left. */
static int curve(struct rp_view *v, struct rp_mem_curve *c, const struct rp_mem *p, size_t n)
{
    c->device = p[0].device;
    c->points = n;
    c->allocated_kib = malloc(v->bins * sizeof *c->allocated_kib);
    c->reserved_kib = malloc(v->bins * sizeof *c->reserved_kib);
    if (!c->allocated_kib || !c->reserved_kib)
        return -ENOMEM;
    int64_t alloc = -1, reserved = -1;
    size_t i = 0;
    for (size_t b = 0; b < v->bins; b++) {
        int64_t end = v->t0 + (int64_t)(b + 1) * v->bin_ns;
        int64_t top_a = alloc, top_r = reserved;
        for (; i < n && (p[i].ts < end || b + 1 == v->bins); i++) {
            alloc = kib(p[i].allocated);
            reserved = kib(p[i].reserved);
            top_a = alloc > top_a ? alloc : top_a;
            top_r = reserved > top_r ? reserved : top_r;
        }
        c->allocated_kib[b] = top_a;
        c->reserved_kib[b] = top_r;
    }
    for (size_t k = 0; k < n; k++) {
        c->peak_allocated = p[k].allocated > c->peak_allocated ? p[k].allocated : c->peak_allocated;
        c->peak_reserved = p[k].reserved > c->peak_reserved ? p[k].reserved : c->peak_reserved;
    }
    return 0;
}

static int memory(struct wr_report_run *run, struct rp_view *v)
{
    struct rp_mem *p = run->memory.v;
    size_t n = run->memory.n, devices = 0;
    if (n == 0)
        return 0;
    qsort(p, n, sizeof *p, by_device_time);
    for (size_t i = 0; i < n; i++)
        devices += i == 0 || p[i].device != p[i - 1].device;
    v->memory = calloc(devices, sizeof *v->memory);
    if (!v->memory)
        return -ENOMEM;
    for (size_t i = 0, k; i < n; i = k) {
        for (k = i; k < n && p[k].device == p[i].device; k++)
            ;
        if (curve(v, &v->memory[v->n_memory++], p + i, k - i) < 0)
            return -ENOMEM;
    }
    return 0;
}

/* ---- the view ---------------------------------------------------------------------- */

static int by_time(const void *a, const void *b, void *rows)
{
    const struct rp_row *x = &((const struct rp_rows *)rows)->v[*(const uint32_t *)a];
    const struct rp_row *y = &((const struct rp_rows *)rows)->v[*(const uint32_t *)b];
    if (x->gpu_total != y->gpu_total)
        return x->gpu_total > y->gpu_total ? -1 : 1;
    if (x->host_total != y->host_total)
        return x->host_total > y->host_total ? -1 : 1;
    return strcmp(x->name, y->name);
}

int rp_view_build(struct wr_report_run *run, struct rp_view *v)
{
    memset(v, 0, sizeof *v);
    const struct wr_report_info *i = &run->info;
    v->gpu = run->gpu.n > 0;
    v->rows = v->gpu ? &run->gpu : &run->host;
    if (i->has_session && i->end_ns > i->begin_ns) {
        v->t0 = i->begin_ns;
        v->t1 = i->end_ns;
    } else if (run->first_ns <= run->last_ns) {
        v->t0 = run->first_ns;
        v->t1 = run->last_ns;
    }
    if (v->t1 <= v->t0)
        v->t1 = v->t0 + 1;
    int64_t len = v->t1 - v->t0;
    v->bin_ns = (len + RP_BINS - 1) / RP_BINS;
    v->bins = (size_t)((len + v->bin_ns - 1) / v->bin_ns);
    v->order = malloc((v->rows->n ? v->rows->n : 1) * sizeof *v->order);
    if (!v->order)
        return -ENOMEM;
    for (size_t k = 0; k < v->rows->n; k++)
        v->order[k] = (uint32_t)k;
    qsort_r(v->order, v->rows->n, sizeof *v->order, by_time, v->rows);
    int rc = timeline(run, v);
    if (rc == 0)
        rc = iterations(run, v);
    if (rc == 0)
        rc = memory(run, v);
    return rc;
}

void rp_view_free(struct rp_view *v)
{
    for (size_t i = 0; i < v->n_tracks; i++)
        free(v->tracks[i].permille);
    for (size_t i = 0; i < v->n_devices; i++)
        free(v->devices[i].s.permille);
    for (size_t i = 0; i < v->n_memory; i++) {
        free(v->memory[i].allocated_kib);
        free(v->memory[i].reserved_kib);
    }
    free(v->tracks);
    free(v->devices);
    free(v->memory);
    free(v->steps);
    free(v->order);
    memset(v, 0, sizeof *v);
}
