/*
 * A trace file into the report's model (writer.h, "the report page"): the
 * command's side of what the process does from its session
 * (writer/report_session.c).  One streaming pass through the trace reader;
 * per event only what the page aggregates is kept (rows by name, busy
 * intervals, steps, memory samples, and the correlation ids that join GPU
 * work to the calls that launched it, as `omniprof summary` joins them).
 *
 * Reads omniprof's traces and torch.profiler's: GPU work is the X events of
 * categories kernel, gpu_memcpy and gpu_memset (pid = device, tid =
 * stream); iterations are ProfilerStep#N spans, else omni_step #N
 * instants; memory is Kineto's [memory] instant events; the header comes
 * from omniprof's top-level "omniprof" object, distributedInfo,
 * deviceProperties and, for what a trace does not say (host, stage), the
 * worker name in the file name (<worker>.<ns>.pt.trace.json.gz).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "report_read.h"

struct names {
    const char *X, *i, *I, *M, *kernel, *gpu_memcpy, *gpu_memset, *cuda_runtime, *cuda_driver;
    const char *Trace, *process_name, *memory;
    /* args */
    const char *correlation, *copy_kind, *value, *bytes, *name, *allocated, *reserved, *device_type,
        *device_id;
};

#define LIST(type)                                                                                 \
    struct {                                                                                       \
        type *v;                                                                                   \
        size_t n, cap;                                                                             \
    }

struct call {
    uint64_t correlation, dur;
};
struct ref {
    uint64_t correlation;
    long row;
};
struct process {
    int64_t pid;
    char *name;
};

struct feed {
    struct wr_report_run *run;
    struct tr_reader *r;
    struct diff *diff; /* the before/after's, or NULL */
    struct cli_progress *progress;
    struct names is;
    LIST(struct call) calls;
    LIST(struct ref) refs;
    LIST(struct process) processes;
    int64_t base;
    bool has_begin, has_end, has_span;
    int64_t begin_abs, end_abs;        /* omniprof's session, ns since the epoch */
    int64_t span_start, span_end;      /* Kineto's "PyTorch Profiler" span */
    int64_t events, gpu_records, seen; /* the header's counts (-1), events read */
    int64_t device_ids[64];
    char *device_names[64];
    bool omniprof;
};

static int grow(void **v, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 1024;
    void *g = realloc(*v, c * size);
    if (!g)
        return -ENOMEM;
    *v = g;
    *cap = c;
    return 0;
}
#define PUSH(list) grow((void **)&(list).v, &(list).cap, (list).n, sizeof *(list).v)

static int intern_names(struct tr_reader *r, struct names *n)
{
#define NAME(field, text) (n->field = tr_intern(r, text, sizeof text - 1)) != NULL
    bool ok = NAME(X, "X") && NAME(i, "i") && NAME(I, "I") && NAME(M, "M") &&
              NAME(kernel, "kernel") && NAME(gpu_memcpy, "gpu_memcpy") &&
              NAME(gpu_memset, "gpu_memset") && NAME(cuda_runtime, "cuda_runtime") &&
              NAME(cuda_driver, "cuda_driver") && NAME(Trace, "Trace") &&
              NAME(process_name, "process_name") && NAME(memory, "[memory]") &&
              NAME(correlation, "correlation") && NAME(copy_kind, "copy kind") &&
              NAME(value, "value") && NAME(bytes, "bytes") && NAME(name, "name") &&
              NAME(allocated, "Total Allocated") && NAME(reserved, "Total Reserved") &&
              NAME(device_type, "Device Type") && NAME(device_id, "Device Id");
#undef NAME
    return ok ? 0 : -ENOMEM;
}

static bool number(const struct tr_value *v)
{
    return v && (v->type == TR_INT || v->type == TR_REAL);
}

static uint64_t u64_arg(const struct tr_event *ev, const char *key)
{
    const struct tr_value *v = tr_arg(ev, key);
    return number(v) && v->d > 0 ? (v->type == TR_INT ? (uint64_t)v->i : (uint64_t)v->d) : 0;
}

static int64_t end_of(const struct tr_event *ev)
{
    return ev->ts_ns + (ev->has_dur && ev->dur_ns > 0 ? ev->dur_ns : 0);
}

/* "omni_step #12" / "ProfilerStep#12": 12 after prefix, or -1. */
static long long numbered(const char *name, const char *prefix)
{
    size_t n = strlen(prefix);
    if (!name || strncmp(name, prefix, n) != 0 || !isdigit((unsigned char)name[n]))
        return -1;
    char *end;
    long long v = strtoll(name + n, &end, 10);
    return *end ? -1 : v;
}

/* ---- events ------------------------------------------------------------------- */

static int gpu_event(struct feed *f, const struct tr_event *ev, int kind)
{
    struct wr_report_gpu g = {
        .kind = kind,
        .name = ev->name ? ev->name : "?",
        .device = ev->pid.present && !ev->pid.is_str ? ev->pid.num : -1,
        .stream = ev->tid.present && !ev->tid.is_str ? ev->tid.num : 0,
        .start_ns = ev->ts_ns,
        .end_ns = end_of(ev),
        .bytes = kind == WR_REPORT_KERNEL ? 0 : u64_arg(ev, f->is.bytes),
    };
    long row = wr_report_gpu(f->run, &g);
    if (row < 0 || PUSH(f->refs) < 0)
        return -ENOMEM;
    f->refs.v[f->refs.n++] = (struct ref){u64_arg(ev, f->is.correlation), row};
    return 0;
}

/* The row an interposed call names: its kernel, copy kind or memset. */
static const char *call_row(const struct feed *f, const struct tr_event *ev)
{
    const struct tr_value *kernel = tr_arg(ev, f->is.kernel);
    const struct tr_value *copy = tr_arg(ev, f->is.copy_kind);
    if (kernel && kernel->type == TR_STRING && kernel->s[0])
        return kernel->s;
    if (copy && copy->type == TR_STRING && copy->s[0])
        return copy->s;
    if (number(tr_arg(ev, f->is.value)))
        return "Memset (Device)";
    return NULL;
}

static int call_event(struct feed *f, const struct tr_event *ev)
{
    uint64_t corr = u64_arg(ev, f->is.correlation);
    if (corr) {
        if (PUSH(f->calls) < 0)
            return -ENOMEM;
        f->calls.v[f->calls.n++] =
            (struct call){corr, ev->has_dur && ev->dur_ns > 0 ? (uint64_t)ev->dur_ns : 0};
    }
    int64_t tid = ev->tid.present && !ev->tid.is_str ? ev->tid.num : 0;
    return wr_report_call(f->run, call_row(f, ev), tid, ev->ts_ns, end_of(ev));
}

static int memory_event(struct feed *f, const struct tr_event *ev)
{
    const struct tr_value *type = tr_arg(ev, f->is.device_type);
    const struct tr_value *id = tr_arg(ev, f->is.device_id);
    if (!number(tr_arg(ev, f->is.allocated)))
        return 0;
    int device = number(type) && type->i == 1 && number(id) ? (int)id->i : -1;
    return wr_report_memory(f->run, device, ev->ts_ns, u64_arg(ev, f->is.allocated),
                            u64_arg(ev, f->is.reserved));
}

static int process_event(struct feed *f, const struct tr_event *ev)
{
    const struct tr_value *name = tr_arg(ev, f->is.name);
    if (!name || name->type != TR_STRING || !ev->pid.present || ev->pid.is_str)
        return 0;
    if (PUSH(f->processes) < 0)
        return -ENOMEM;
    char *copy = strdup(name->s);
    if (!copy)
        return -ENOMEM;
    f->processes.v[f->processes.n++] = (struct process){ev->pid.num, copy};
    return 0;
}

static int on_event(void *ctx, const struct tr_event *ev)
{
    struct feed *f = ctx;
    f->seen++;
    cli_progress_tick(f->progress, f->r);
    int rc = f->diff ? diff_event(f->diff, ev) : 0;
    if (rc == 0 && ev->ph == f->is.M && ev->name == f->is.process_name)
        return process_event(f, ev);
    if (rc < 0 || !ev->has_ts)
        return rc;
    long long step;
    if (ev->ph == f->is.X) {
        if (ev->cat == f->is.kernel)
            return gpu_event(f, ev, WR_REPORT_KERNEL);
        if (ev->cat == f->is.gpu_memcpy)
            return gpu_event(f, ev, WR_REPORT_MEMCPY);
        if (ev->cat == f->is.gpu_memset)
            return gpu_event(f, ev, WR_REPORT_MEMSET);
        if (ev->cat == f->is.cuda_runtime || ev->cat == f->is.cuda_driver)
            return call_event(f, ev);
        if ((step = numbered(ev->name, "ProfilerStep#")) >= 0)
            return wr_report_step(f->run, (uint64_t)step, ev->ts_ns, end_of(ev));
        if (ev->cat == f->is.Trace && ev->name && strncmp(ev->name, "PyTorch Profiler", 16) == 0) {
            f->has_span = true;
            f->span_start = ev->ts_ns;
            f->span_end = end_of(ev);
        }
    } else if (ev->ph == f->is.i || ev->ph == f->is.I) {
        if (ev->name == f->is.memory)
            return memory_event(f, ev);
        if ((step = numbered(ev->name, "omni_step #")) >= 0)
            return wr_report_step(f->run, (uint64_t)step, ev->ts_ns, ev->ts_ns - 1);
    }
    return 0;
}

/* ---- the header ------------------------------------------------------------------ */

static int omniprof_field(struct feed *f, const struct tr_field *fl)
{
    struct wr_report_info *i = wr_report_info(f->run);
    const struct tr_value *v = &fl->v;
    const char *k = fl->key;
    f->omniprof = true;
    if (v->type == TR_STRING) {
        if (strcmp(k, "worker") == 0)
            return wr_report_text(&i->worker, v->s);
        if (strcmp(k, "host") == 0 && v->s[0])
            return wr_report_text(&i->host, v->s);
        if (strcmp(k, "config") == 0)
            return wr_report_text(&i->config, v->s);
        return 0;
    }
    if (v->type != TR_INT)
        return 0;
    if (strcmp(k, "pid") == 0)
        i->pid = v->i > 0 && v->i < CLI_PID_MAX ? (int)v->i : -1;
    else if (strcmp(k, "stage") == 0)
        i->stage = v->i >= 0 && v->i <= CTL_MAX_STAGE ? (int)v->i : -1;
    else if (strcmp(k, "rank") == 0)
        i->rank = v->i >= 0 && v->i < (1 << 24) ? (int)v->i : -1;
    else if (strcmp(k, "session_begin_ns") == 0)
        f->has_begin = true, f->begin_abs = v->i;
    else if (strcmp(k, "session_end_ns") == 0)
        f->has_end = true, f->end_abs = v->i;
    else if (strcmp(k, "steps") == 0)
        i->steps = v->i;
    else if (strcmp(k, "events") == 0)
        f->events = v->i;
    else if (strcmp(k, "gpu_records") == 0)
        f->gpu_records = v->i;
    else if (strcmp(k, "dropped_events") == 0)
        i->dropped = v->i;
    else if (strcmp(k, "dropped_gpu_records") == 0)
        i->dropped_gpu = v->i;
    return 0;
}

static int on_field(void *ctx, const struct tr_field *fl)
{
    struct feed *f = ctx;
    const struct tr_value *v = &fl->v;
    int rc = f->diff ? diff_field(f->diff, fl) : 0;
    if (rc < 0)
        return rc;
    if (!fl->object) {
        if (fl->key && strcmp(fl->key, "baseTimeNanoseconds") == 0 && v->type == TR_INT)
            f->base = v->i;
        return 0;
    }
    if (strcmp(fl->object, "omniprof") == 0 && fl->key)
        return omniprof_field(f, fl);
    if (strcmp(fl->object, "distributedInfo") == 0 && fl->key && strcmp(fl->key, "rank") == 0 &&
        v->type == TR_INT && v->i >= 0 && v->i < (1 << 24))
        wr_report_info(f->run)->rank = (int)v->i;
    if (strcmp(fl->object, "deviceProperties") == 0 && fl->key && fl->index >= 0 &&
        fl->index < 64) {
        if (strcmp(fl->key, "id") == 0 && v->type == TR_INT)
            f->device_ids[fl->index] = v->i;
        else if (strcmp(fl->key, "name") == 0 && v->type == TR_STRING)
            return wr_report_text(&f->device_names[fl->index], v->s);
    }
    return 0;
}

/* ---- after the file ------------------------------------------------------------- */

static int by_correlation(const void *a, const void *b)
{
    const struct call *x = a, *y = b;
    return (x->correlation > y->correlation) - (x->correlation < y->correlation);
}

/* GPU rows get the host time of the calls that launched them. */
static void join_host_times(struct feed *f)
{
    qsort(f->calls.v, f->calls.n, sizeof *f->calls.v, by_correlation);
    for (size_t i = 0; i < f->refs.n; i++) {
        struct call key = {f->refs.v[i].correlation, 0};
        const struct call *c =
            key.correlation ? bsearch(&key, f->calls.v, f->calls.n, sizeof key, by_correlation)
                            : NULL;
        if (c)
            wr_report_row_host(f->run, f->refs.v[i].row, c->dur);
    }
}

/* The worker of a trace file's name: <worker>.<ns>.pt.trace.json[.gz]. */
static void worker_of(const char *path, char *out, size_t cap)
{
    const char *base = strrchr(path, '/');
    snprintf(out, cap, "%s", base ? base + 1 : path);
    char *end = strstr(out, ".pt.trace.json");
    if (!end)
        end = strstr(out, ".json");
    if (end) {
        *end = '\0';
        char *dot = strrchr(out, '.');
        if (dot && dot[1] && strspn(dot + 1, "0123456789") == strlen(dot + 1))
            *dot = '\0';
    }
}

/* Strips "_<digits>" (after tag) at the end of s; whether it did. */
static bool strip_number(char *s, const char *tag)
{
    char *u = strrchr(s, '_');
    size_t n = strlen(tag);
    if (!u || strncmp(u + 1, tag, n) != 0 || !u[1 + n] ||
        strspn(u + 1 + n, "0123456789") != strlen(u + 1 + n))
        return false;
    *u = '\0';
    return true;
}

/* [prefix]stage-S_<host>_<pid>[_rankR]: the host and stage it names. */
static void parse_worker(const char *worker, char *host, size_t cap, int *stage)
{
    char w[512];
    snprintf(w, sizeof w, "%s", worker);
    strip_number(w, "rank");
    if (!strip_number(w, "")) {
        host[0] = '\0';
        return;
    }
    char *s = strstr(w, "stage-");
    char *rest = w;
    if (s && isdigit((unsigned char)s[6])) {
        char *end;
        long v = strtol(s + 6, &end, 10);
        if (*end == '_') {
            *stage = v <= CTL_MAX_STAGE ? (int)v : -1;
            rest = end + 1;
        }
    }
    snprintf(host, cap, "%s", rest);
}

static int finish(struct feed *f, const char *path)
{
    struct wr_report_info *i = wr_report_info(f->run);
    join_host_times(f);
    i->base_ns = f->base;
    if (f->has_begin && f->has_end && f->end_abs >= f->begin_abs) {
        i->has_session = true;
        i->begin_ns = f->begin_abs - f->base;
        i->end_ns = f->end_abs - f->base;
    } else if (f->has_span && f->span_end > f->span_start) {
        i->has_session = true;
        i->begin_ns = f->span_start;
        i->end_ns = f->span_end;
    }
    i->events = f->events >= 0 ? f->events + (f->gpu_records > 0 ? f->gpu_records : 0) : f->seen;
    int rc = wr_report_text(&i->source, f->omniprof ? "omniprof" : "torch.profiler");
    for (size_t k = 0; rc == 0 && k < f->processes.n; k++)
        if (i->pid < 0 || f->processes.v[k].pid == i->pid) {
            rc = wr_report_text(&i->program, f->processes.v[k].name);
            break;
        }
    char worker[512], host[512];
    if (rc == 0 && !i->worker) {
        worker_of(path, worker, sizeof worker);
        rc = wr_report_text(&i->worker, worker);
    }
    int stage = -1;
    parse_worker(i->worker ? i->worker : "", host, sizeof host, &stage);
    if (rc == 0 && host[0] && !i->host) /* the trace's own "host" first */
        rc = wr_report_text(&i->host, host);
    if (i->stage < 0 && !f->omniprof)
        i->stage = stage;
    for (int k = 0; rc == 0 && k < 64; k++)
        if (f->device_names[k])
            rc = wr_report_device(f->run, (int)f->device_ids[k], f->device_names[k]);
    return rc;
}

static void feed_free(struct feed *f)
{
    free(f->calls.v);
    free(f->refs.v);
    for (size_t k = 0; k < f->processes.n; k++)
        free(f->processes.v[k].name);
    free(f->processes.v);
    for (int k = 0; k < 64; k++)
        free(f->device_names[k]);
}

int cli_report_read(struct wr_report *rep, struct tr_reader *r, const char *path, const char *link,
                    const char *set, struct diff *diff, struct cli_progress *progress)
{
    struct feed f = {.r = r, .diff = diff, .progress = progress, .events = -1, .gpu_records = -1};
    int rc = intern_names(r, &f.is);
    if (rc == 0 && !(f.run = wr_report_add_run(rep)))
        rc = -ENOMEM;
    if (rc == 0) {
        struct wr_report_info *i = wr_report_info(f.run);
        if (wr_report_text(&i->trace, link) < 0 || wr_report_text(&i->set, set) < 0)
            rc = -ENOMEM;
    }
    if (rc == 0)
        rc = tr_read(r, path, &(struct tr_callbacks){.event = on_event, .field = on_field}, &f);
    if (rc == 0)
        rc = finish(&f, path);
    feed_free(&f);
    return rc;
}
