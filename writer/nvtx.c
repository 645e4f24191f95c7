/*
 * NVTX in the trace and the table.
 *
 * Host: each range is a user_annotation "X" event on the thread it began
 * on, clipped to the session ("clipped": "start", "end" or "both" when it
 * began before or was still open after); a start/end range that ended on
 * another thread also gets a zero-length "nvtxRangeEnd" event there, linked
 * from the range by a flow.  Marks are instant events.  Domain, category,
 * colour and payload go in the args, with "nvtx" (the kind of range) and
 * "range id" (what links a range to its GPU side).
 *
 * GPU: each range is projected onto the GPU as Kineto projects its user
 * annotations: one gpu_user_annotation event per stream where GPU work that
 * the range's thread launched inside the range ran, from the first such
 * work's start to the last one's end, linked from the host range by a flow.
 * GPU work is CUPTI's kernel, copy and memset records, joined by
 * correlation id to the API calls the range contains.  Without CUPTI there
 * is no GPU timeline, and no projection.
 *
 * The table: one row per range name ("[nvtx] NAME", "[nvtx] DOMAIN/NAME"):
 * calls, host time, and GPU time (the projection's spans, summed over
 * streams), in a section of its own below the kernels.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Flow ids of NVTX links, above every correlation id and Kineto-style id
 * and below 2^53 (exact in a JSON reader's double). */
#define FLOW_BASE (1ull << 52)

enum { CLIP_START = 1, CLIP_END = 2 };

struct span {
    uint32_t device, stream, records;
    uint64_t start_ns, end_ns;
};

struct range {
    const struct coll_event *ev;
    uint64_t start_ns, end_ns; /* clipped to the session */
    int clipped;
    size_t first_span, n_spans;
};

struct model {
    struct range *ranges;
    size_t n_ranges;
    struct span *spans;
    size_t n_spans, cap_spans;
};

/* An API call, for finding those a range contains. */
struct call {
    int32_t tid;
    uint64_t start_ns;
    uint64_t correlation;
};

static int by_id(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int by_thread_time(const void *a, const void *b)
{
    const struct call *x = a, *y = b;
    if (x->tid != y->tid)
        return x->tid < y->tid ? -1 : 1;
    return (x->start_ns > y->start_ns) - (x->start_ns < y->start_ns);
}

static bool is_gpu_work(const struct coll_gpu *g)
{
    return g->kind == COLL_GPU_KERNEL || g->kind == COLL_GPU_MEMCPY || g->kind == COLL_GPU_MEMSET;
}

/* Adds one GPU record to the range's spans (the last n of m->spans). */
static int add_work(struct model *m, size_t first, const struct coll_gpu *g)
{
    for (size_t i = first; i < m->n_spans; i++) {
        struct span *sp = &m->spans[i];
        if (sp->device == g->device && sp->stream == g->stream) {
            sp->start_ns = g->start_ns < sp->start_ns ? g->start_ns : sp->start_ns;
            sp->end_ns = g->end_ns > sp->end_ns ? g->end_ns : sp->end_ns;
            sp->records++;
            return 0;
        }
    }
    if (m->n_spans == m->cap_spans) {
        size_t cap = m->cap_spans ? 2 * m->cap_spans : 64;
        struct span *grown = realloc(m->spans, cap * sizeof *grown);
        if (!grown)
            return -ENOMEM;
        m->spans = grown;
        m->cap_spans = cap;
    }
    m->spans[m->n_spans++] = (struct span){g->device, g->stream, 1, g->start_ns, g->end_ns};
    return 0;
}

/* The GPU records of a correlation id: [*lo, end) of ix->gpu. */
static size_t gpu_first(const struct wr_gpu_index *ix, uint64_t correlation)
{
    size_t lo = 0, hi = ix->n_gpu;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ix->gpu[mid].correlation < correlation)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The spans of range r: the GPU work of the calls its thread made inside it. */
static int project(struct model *m, struct range *r, const struct call *calls, size_t n_calls,
                   const struct coll_session *s, const struct wr_gpu_index *ix)
{
    struct call key = {r->ev->u.nvtx.begin_tid, r->start_ns, 0};
    size_t lo = 0, hi = n_calls;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (by_thread_time(&calls[mid], &key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    r->first_span = m->n_spans;
    for (size_t c = lo; c < n_calls && calls[c].tid == key.tid && calls[c].start_ns <= r->end_ns;
         c++) {
        for (size_t k = gpu_first(ix, calls[c].correlation);
             k < ix->n_gpu && ix->gpu[k].correlation == calls[c].correlation; k++) {
            const struct coll_gpu *g = &s->gpu[ix->gpu[k].index];
            if (is_gpu_work(g) && add_work(m, r->first_span, g) < 0)
                return -ENOMEM;
        }
    }
    r->n_spans = m->n_spans - r->first_span;
    return 0;
}

static void model_free(struct model *m)
{
    free(m->ranges);
    free(m->spans);
    memset(m, 0, sizeof *m);
}

/* The session's ranges: those that ended in it, and those open at its end
 * that did not also end in it (the open record and the end may meet when a
 * range ends as the session does). */
static int collect_ranges(struct model *m, const struct coll_session *s)
{
    size_t n = 0, n_ended = 0;
    uint64_t *ended = malloc((s->n_events ? s->n_events : 1) * sizeof *ended);
    m->ranges = malloc((s->n_events ? s->n_events : 1) * sizeof *m->ranges);
    if (!ended || !m->ranges) {
        free(ended);
        return -ENOMEM;
    }
    for (size_t i = 0; i < s->n_events; i++)
        if (s->events[i]->kind == COLL_EV_NVTX && s->events[i]->u.nvtx.what == COLL_NVTX_RANGE)
            ended[n_ended++] = s->events[i]->u.nvtx.id;
    qsort(ended, n_ended, sizeof *ended, by_id);
    for (size_t i = 0; i < s->n_events; i++) {
        const struct coll_event *ev = s->events[i];
        if (ev->kind != COLL_EV_NVTX || ev->u.nvtx.what == COLL_NVTX_MARK)
            continue;
        bool open = ev->u.nvtx.what == COLL_NVTX_OPEN;
        if (open && bsearch(&ev->u.nvtx.id, ended, n_ended, sizeof *ended, by_id))
            continue;
        struct range *r = &m->ranges[n++];
        *r = (struct range){.ev = ev, .start_ns = ev->start_ns, .end_ns = ev->end_ns};
        if (r->start_ns < s->begin_ns) {
            r->start_ns = s->begin_ns;
            r->clipped |= CLIP_START;
        }
        if (open) {
            r->end_ns = s->end_ns;
            r->clipped |= CLIP_END;
        }
        if (r->end_ns < r->start_ns)
            r->end_ns = r->start_ns;
    }
    m->n_ranges = n;
    free(ended);
    return 0;
}

static int model_build(struct model *m, const struct coll_session *s, const struct wr_gpu_index *ix)
{
    memset(m, 0, sizeof *m);
    if (collect_ranges(m, s) < 0) {
        model_free(m);
        return -ENOMEM;
    }
    if (!m->n_ranges || !ix->n_gpu)
        return 0;
    struct call *calls = malloc(s->n_events * sizeof *calls);
    if (!calls) {
        model_free(m);
        return -ENOMEM;
    }
    size_t n = 0;
    for (size_t i = 0; i < s->n_events; i++)
        if (s->events[i]->kind == COLL_EV_CUPTI)
            calls[n++] =
                (struct call){s->events[i]->tid, s->events[i]->start_ns, s->events[i]->correlation};
    qsort(calls, n, sizeof *calls, by_thread_time);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < m->n_ranges; i++)
        rc = project(m, &m->ranges[i], calls, n, s, ix);
    free(calls);
    if (rc < 0)
        model_free(m);
    return rc;
}

/* ---- what a range is called ------------------------------------------------------ */

static const char *range_name(const struct coll_nvtx *r)
{
    if (r->message)
        return coll_nvtx_string(r->message);
    uint32_t category =
        r->category ? coll_nvtx_name_of(COLL_NVTX_CATEGORY, (uint64_t)r->domain << 32 | r->category)
                    : 0;
    return category ? coll_nvtx_string(category) : "(no message)";
}

static const char *domain_name(const struct coll_nvtx *r)
{
    return r->domain ? coll_nvtx_string(coll_nvtx_domain_name(r->domain)) : NULL;
}

/* ---- the trace ------------------------------------------------------------------- */

static void payload(struct wr_out *o, const struct coll_nvtx *r)
{
    uint32_t low = (uint32_t)r->payload;
    double d;
    float f;
    wr_out_puts(o, ", \"payload\": ");
    switch (r->payload_type) {                          /* NVTX's nvtxPayloadType_t */
    case 1: wr_out_u64(o, r->payload); return;          /* UNSIGNED_INT64 */
    case 2: wr_out_i64(o, (int64_t)r->payload); return; /* INT64 */
    case 4: wr_out_u64(o, low); return;                 /* UNSIGNED_INT32 */
    case 5: wr_out_i64(o, (int32_t)low); return;        /* INT32 */
    case 3: memcpy(&d, &r->payload, sizeof d); break;   /* DOUBLE */
    default:                                            /* FLOAT */
        memcpy(&f, &low, sizeof f);
        d = f;
        break;
    }
    if (isfinite(d))
        wr_out_printf(o, "%.17g", d);
    else
        wr_out_puts(o, "null"); /* JSON has no NaN or infinity */
}

/* The args every NVTX event carries, after "nvtx". */
static void attributes(struct wr_out *o, const struct coll_nvtx *r)
{
    const char *domain = domain_name(r);
    if (domain) {
        wr_out_puts(o, ", \"domain\": ");
        wr_json_string(o, domain);
    }
    if (r->category) {
        uint32_t name =
            coll_nvtx_name_of(COLL_NVTX_CATEGORY, (uint64_t)r->domain << 32 | r->category);
        wr_out_puts(o, ", \"category\": ");
        if (name)
            wr_json_string(o, coll_nvtx_string(name));
        else
            wr_out_u64(o, r->category);
    }
    if (r->flags & COLL_NVTX_COLOR)
        wr_out_printf(o, ", \"color\": \"#%08" PRIX32 "\"", r->color);
    if (r->payload_type)
        payload(o, r);
}

static const char *kind(const struct coll_nvtx *r)
{
    return r->what == COLL_NVTX_MARK         ? "mark"
           : (r->flags & COLL_NVTX_STARTEND) ? "start/end"
                                             : "push/pop";
}

static void event_head(struct wr_out *o, const char *ph, const char *cat, const char *name, int pid,
                       int64_t tid, uint64_t ts)
{
    wr_out_printf(o, ",\n  {\"ph\": \"%s\", \"cat\": \"%s\", \"name\": ", ph, cat);
    wr_json_string(o, name);
    wr_out_puts(o, ", \"pid\": ");
    wr_out_i64(o, pid);
    wr_out_puts(o, ", \"tid\": ");
    wr_out_i64(o, tid);
    wr_out_puts(o, ", \"ts\": ");
    wr_json_us(o, ts);
}

static void flow(struct wr_out *o, bool start, uint64_t id, const char *name, int pid, int64_t tid,
                 uint64_t ts)
{
    wr_out_printf(o, ",\n  {\"ph\": \"%s\", \"id\": ", start ? "s" : "f");
    wr_out_u64(o, id);
    wr_out_puts(o, ", \"pid\": ");
    wr_out_i64(o, pid);
    wr_out_puts(o, ", \"tid\": ");
    wr_out_i64(o, tid);
    wr_out_puts(o, ", \"ts\": ");
    wr_json_us(o, ts);
    wr_out_printf(o, ", \"cat\": \"nvtx\", \"name\": \"%s\"%s}", name,
                  start ? "" : ", \"bp\": \"e\"");
}

static void write_range(struct wr_out *o, const struct model *m, const struct range *r,
                        const struct wr_options *opt, uint64_t base, uint64_t *flows)
{
    const struct coll_nvtx *n = &r->ev->u.nvtx;
    const char *name = range_name(n);
    event_head(o, "X", "user_annotation", name, opt->pid, n->begin_tid, r->start_ns - base);
    wr_out_puts(o, ", \"dur\": ");
    wr_json_us(o, r->end_ns - r->start_ns);
    wr_out_printf(o, ", \"args\": {\"nvtx\": \"%s\", \"range id\": ", kind(n));
    wr_out_u64(o, n->id);
    attributes(o, n);
    if (r->clipped)
        wr_out_printf(o, ", \"clipped\": \"%s\"",
                      r->clipped == (CLIP_START | CLIP_END) ? "both"
                      : r->clipped == CLIP_START            ? "start"
                                                            : "end");
    wr_out_puts(o, "}}");
    /* ended on another thread: the end there, linked from the range */
    if (n->what == COLL_NVTX_RANGE && r->ev->tid != n->begin_tid) {
        uint64_t id = FLOW_BASE + (*flows)++;
        event_head(o, "X", "nvtx", "nvtxRangeEnd", opt->pid, r->ev->tid, r->end_ns - base);
        wr_out_puts(o, ", \"dur\": 0, \"args\": {\"range\": ");
        wr_json_string(o, name);
        wr_out_puts(o, ", \"range id\": ");
        wr_out_u64(o, n->id);
        wr_out_puts(o, ", \"began on thread\": ");
        wr_out_i64(o, n->begin_tid);
        wr_out_puts(o, "}}");
        flow(o, true, id, "nvtx_end", opt->pid, n->begin_tid, r->start_ns - base);
        flow(o, false, id, "nvtx_end", opt->pid, r->ev->tid, r->end_ns - base);
    }
    for (size_t k = 0; k < r->n_spans; k++) {
        const struct span *sp = &m->spans[r->first_span + k];
        uint64_t id = FLOW_BASE + (*flows)++;
        event_head(o, "X", "gpu_user_annotation", name, (int)sp->device, sp->stream,
                   sp->start_ns - base);
        wr_out_puts(o, ", \"dur\": ");
        wr_json_us(o, sp->end_ns - sp->start_ns);
        wr_out_printf(o, ", \"args\": {\"nvtx\": \"%s\", \"range id\": ", kind(n));
        wr_out_u64(o, n->id);
        attributes(o, n);
        wr_out_printf(
            o, ", \"device\": %" PRIu32 ", \"stream\": %" PRIu32 ", \"GPU records\": %" PRIu32 "}}",
            sp->device, sp->stream, sp->records);
        flow(o, true, id, "nvtx_gpu", opt->pid, n->begin_tid, r->start_ns - base);
        flow(o, false, id, "nvtx_gpu", (int)sp->device, sp->stream, sp->start_ns - base);
    }
}

static void write_mark(struct wr_out *o, const struct coll_event *ev, const struct wr_options *opt,
                       uint64_t base)
{
    const struct coll_nvtx *n = &ev->u.nvtx;
    event_head(o, "i", "user_annotation", range_name(n), opt->pid, ev->tid, ev->start_ns - base);
    wr_out_puts(o, ", \"s\": \"t\", \"args\": {\"nvtx\": \"mark\"");
    attributes(o, n);
    wr_out_puts(o, "}}");
}

static int by_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Threads that show a range but recorded nothing themselves (the trace's
 * metadata names only those that did): their names. */
static void thread_names(struct wr_out *o, const struct model *m, const struct coll_session *s,
                         const struct wr_options *opt, uint64_t ts)
{
    int *tids = malloc((s->n_events + m->n_ranges + 1) * sizeof *tids);
    if (!tids)
        return;
    int *shown = tids + s->n_events;
    for (size_t i = 0; i < s->n_events; i++)
        tids[i] = s->events[i]->tid;
    for (size_t i = 0; i < m->n_ranges; i++)
        shown[i] = m->ranges[i].ev->u.nvtx.begin_tid;
    qsort(tids, s->n_events, sizeof *tids, by_int);
    qsort(shown, m->n_ranges, sizeof *shown, by_int);
    for (size_t i = 0; i < m->n_ranges; i++) {
        int tid = shown[i];
        if ((i && tid == shown[i - 1]) || bsearch(&tid, tids, s->n_events, sizeof *tids, by_int))
            continue;
        char name[192];
        if (!wr_nvtx_thread_name(tid, name, sizeof name))
            snprintf(name, sizeof name, "thread %d", tid);
        wr_out_puts(o, ",\n  {\"name\": \"thread_name\", \"ph\": \"M\", \"ts\": ");
        wr_json_us(o, ts);
        wr_out_printf(o, ", \"pid\": %d, \"tid\": %d, \"args\": {\"name\": ", opt->pid, tid);
        wr_json_string(o, name);
        wr_out_puts(o, "}}");
    }
    free(tids);
}

/* What NVTX lost since the last trace, said once per trace that saw it
 * (the counts are the process's; traces are written by one thread at a
 * time). */
static void warn_losses(void)
{
    static uint64_t strings_said, ranges_said;
    uint64_t strings = coll_nvtx_strings_dropped(), ranges = coll_nvtx_ranges_dropped();
    if (strings > strings_said)
        coll_log(COLL_LOG_WARN, "nvtx",
                 "the NVTX string table is full: %" PRIu64 " strings are shown as \"(NVTX string "
                 "table full)\" (a program that makes a new message for every range fills it)",
                 strings - strings_said);
    if (ranges > ranges_said)
        coll_log(COLL_LOG_WARN, "nvtx",
                 "%" PRIu64 " NVTX ranges were not recorded: more than 512 threads with ranges, "
                 "more than 4096 start/end ranges open at once, or a thread's ranges changing "
                 "too fast to be read as a session ended",
                 ranges - ranges_said);
    strings_said = strings;
    ranges_said = ranges;
}

int wr_nvtx_events(struct wr_out *o, const struct coll_session *s, const struct wr_options *opt,
                   const struct wr_gpu_index *ix, uint64_t base)
{
    struct model m;
    if (model_build(&m, s, ix) < 0) {
        coll_log(COLL_LOG_ERROR, "writer", "out of memory: the trace lacks its NVTX ranges");
        return -ENOMEM;
    }
    thread_names(o, &m, s, opt, s->begin_ns - base);
    uint64_t flows = 0;
    for (size_t i = 0; i < m.n_ranges; i++)
        write_range(o, &m, &m.ranges[i], opt, base, &flows);
    for (size_t i = 0; i < s->n_events; i++)
        if (s->events[i]->kind == COLL_EV_NVTX && s->events[i]->u.nvtx.what == COLL_NVTX_MARK)
            write_mark(o, s->events[i], opt, base);
    model_free(&m);
    warn_losses();
    return 0;
}

/* ---- names ---------------------------------------------------------------------- */

bool wr_nvtx_thread_name(int tid, char *name, size_t cap)
{
    uint32_t id = tid > 0 ? coll_nvtx_name_of(COLL_NVTX_THREAD, (uint64_t)tid) : 0;
    if (!id)
        return false;
    snprintf(name, cap, "thread %d (%s)", tid, coll_nvtx_string(id));
    return true;
}

const char *wr_nvtx_stream_name(uint32_t stream)
{
    uint32_t id = coll_nvtx_name_of(COLL_NVTX_STREAM, stream);
    return id ? coll_nvtx_string(id) : "";
}

const char *wr_nvtx_device_name(uint32_t device)
{
    uint32_t id = coll_nvtx_name_of(COLL_NVTX_DEVICE, device);
    return id ? coll_nvtx_string(id) : NULL;
}

/* ---- the table ------------------------------------------------------------------- */

int wr_nvtx_table(const struct coll_session *s, const struct wr_options *opt, FILE *f)
{
    struct wr_gpu_index ix;
    struct model m;
    if (wr_gpu_index(&ix, s) < 0)
        return -ENOMEM;
    int rc = model_build(&m, s, &ix);
    wr_gpu_index_free(&ix);
    if (rc < 0 || m.n_ranges == 0)
        return rc;
    struct wr_rows t = {0};
    for (size_t i = 0; rc == 0 && i < m.n_ranges; i++) {
        const struct range *r = &m.ranges[i];
        const char *domain = domain_name(&r->ev->u.nvtx);
        char name[4 * WR_NAME_MAX_WIDTH];
        snprintf(name, sizeof name, "[nvtx] %s%s%s", domain ? domain : "", domain ? "/" : "",
                 range_name(&r->ev->u.nvtx));
        struct wr_row *row = wr_rows_get(&t, name);
        if (!row) {
            rc = -ENOMEM;
            break;
        }
        wr_row_host(row, r->end_ns - r->start_ns);
        uint64_t gpu = 0;
        for (size_t k = 0; k < r->n_spans; k++)
            gpu += m.spans[r->first_span + k].end_ns - m.spans[r->first_span + k].start_ns;
        if (r->n_spans)
            wr_row_gpu(row, gpu);
    }
    if (rc == 0) {
        fprintf(f, "\nNVTX ranges: CUDA = the GPU work launched inside each range (per stream, its "
                   "first start to its last end, summed over streams); Host = the range itself\n");
        rc = wr_rows_print(f, &t, opt->table_rows);
    }
    wr_rows_free(&t);
    model_free(&m);
    return rc;
}
