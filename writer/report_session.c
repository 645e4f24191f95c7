/*
 * report_<worker>.html from a stopped session, in the process, beside its
 * trace (report=true).  The session is fed to the report's model as
 * `omniprof report` feeds it from the trace this process just wrote: the
 * same records, names, times (relative to the trace's base time) and
 * header, so the page written here and the one the command makes from the
 * trace show the same numbers (tests/integration/test_report.py compares
 * them).  Runs on the control thread, after the trace; needs no reader.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report_internal.h"

static int info(struct wr_report_run *run, const struct coll_session *s, const struct wr_options *o,
                const char *trace_path, int64_t base)
{
    struct wr_report_info *i = wr_report_info(run);
    char host[256] = "";
    if (o->host)
        snprintf(host, sizeof host, "%s", o->host);
    else
        gethostname(host, sizeof host - 1);
    const char *slash = strrchr(trace_path, '/');
    if (wr_report_text(&i->program, o->process_name) < 0 || wr_report_text(&i->host, host) < 0 ||
        wr_report_text(&i->worker, o->worker) < 0 || wr_report_text(&i->config, o->config) < 0 ||
        wr_report_text(&i->source, "omniprof") < 0 ||
        wr_report_text(&i->trace, slash ? slash + 1 : trace_path) < 0)
        return -ENOMEM;
    i->pid = o->pid;
    i->stage = o->stage;
    i->rank = o->rank;
    i->base_ns = base;
    i->has_session = true;
    i->begin_ns = (int64_t)s->begin_ns - base;
    i->end_ns = (int64_t)s->end_ns - base;
    i->steps = (int64_t)s->steps;
    i->events = (int64_t)(s->n_events + s->n_gpu);
    i->dropped = (int64_t)s->dropped;
    i->dropped_gpu = (int64_t)s->gpu_dropped;
    for (size_t k = 0; k < s->n_devices; k++)
        if (wr_report_device(run, s->devices[k].id, s->devices[k].name) < 0)
            return -ENOMEM;
    return 0;
}

/* GPU records as the trace has them (gpu.c): names, times, the launching
 * call's host time. */
static int gpu(struct wr_report_run *run, const struct coll_session *s, int64_t base)
{
    struct wr_gpu_index ix;
    if (wr_gpu_index(&ix, s) < 0)
        return -ENOMEM;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < s->n_gpu; i++) {
        const struct coll_gpu *g = &s->gpu[i];
        char name[256];
        char *demangled = NULL;
        struct wr_report_gpu r = {
            .device = g->device,
            .stream = g->stream,
            .start_ns = (int64_t)g->start_ns - base,
            .end_ns = (int64_t)(g->end_ns > g->start_ns ? g->end_ns : g->start_ns) - base,
            .bytes = g->bytes,
            .name = name,
        };
        if (g->kind == COLL_GPU_KERNEL) {
            demangled = coll_demangle(g->name);
            r.kind = WR_REPORT_KERNEL;
            r.name = demangled ? demangled : g->name ? g->name : "?";
            r.bytes = 0;
        } else if (g->kind == COLL_GPU_MEMCPY || g->kind == COLL_GPU_MEMSET) {
            r.kind = g->kind == COLL_GPU_MEMCPY ? WR_REPORT_MEMCPY : WR_REPORT_MEMSET;
            coll_gpu_copy_name(g, name, sizeof name);
        } else {
            continue;
        }
        long row = wr_report_gpu(run, &r);
        free(demangled);
        const struct coll_event *api = row >= 0 ? wr_api_of(&ix, s, g->correlation) : NULL;
        if (api)
            wr_report_row_host(run, row,
                               api->end_ns > api->start_ns ? api->end_ns - api->start_ns : 0);
        rc = row < 0 ? (int)row : 0;
    }
    wr_gpu_index_free(&ix);
    return rc;
}

static bool is_cuda_call(const struct coll_event *ev)
{
    int domain = ev->kind == COLL_EV_CUPTI ? (int)ev->u.cupti.domain : coll_api_domain(ev->api);
    return domain == COLL_DOMAIN_DRIVER || domain == COLL_DOMAIN_RUNTIME;
}

/* Host calls, iteration boundaries and memory samples.  Each boundary is
 * what the trace has of it: the omni_step #N instant, and the ProfilerStep#N
 * span up to the next boundary, the last up to the session's end (as
 * writer/links.c makes them). */
static int events(struct wr_report_run *run, const struct coll_session *s,
                  const struct wr_options *o, int64_t base)
{
    const struct coll_event *open = NULL; /* the step whose span is not ended yet */
    for (size_t i = 0; i < s->n_events; i++) {
        const struct coll_event *ev = s->events[i];
        int64_t start = (int64_t)ev->start_ns - base;
        int64_t end = (int64_t)(ev->end_ns > ev->start_ns ? ev->end_ns : ev->start_ns) - base;
        int rc = 0;
        char buf[64];
        if (ev->kind == COLL_EV_STEP) {
            if (open)
                rc =
                    wr_report_step(run, open->u.step.number, (int64_t)open->start_ns - base, start);
            open = ev;
            if (rc == 0)
                rc = wr_report_step(run, ev->u.step.number, start, start - 1);
        } else if (is_cuda_call(ev))
            rc = wr_report_call(run, wr_row_name(s, ev, buf, sizeof buf), ev->tid, start, end);
        if (rc == 0 && o->profile_memory && ev->tracked &&
            (ev->kind == COLL_EV_ALLOC || ev->kind == COLL_EV_FREE))
            rc = wr_report_memory(run, ev->device_type ? ev->device : -1,
                                  (int64_t)ev->end_ns - base, ev->u.mem.total, ev->u.mem.reserved);
        if (rc < 0)
            return rc;
    }
    if (open) {
        uint64_t end = s->end_ns > open->start_ns ? s->end_ns : open->start_ns;
        return wr_report_step(run, open->u.step.number, (int64_t)open->start_ns - base,
                              (int64_t)end - base);
    }
    return 0;
}

int wr_report_session(const struct coll_session *s, const struct wr_options *o, int dir_fd,
                      const char *name, const char *trace_path)
{
    struct wr_report *rep = wr_report_new();
    struct wr_report_run *run = rep ? wr_report_add_run(rep) : NULL;
    /* the trace's base time: whole seconds, as wr_trace writes it */
    int64_t base = (int64_t)(s->begin_ns - s->begin_ns % 1000000000u);
    int rc = run ? info(run, s, o, trace_path, base) : -ENOMEM;
    if (rc == 0)
        rc = gpu(run, s, base);
    if (rc == 0)
        rc = events(run, s, o, base);
    if (rc == 0)
        rc = rp_save_in(rep, dir_fd, name);
    wr_report_free(rep);
    return rc;
}
