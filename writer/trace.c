/*
 * The Kineto-style trace: the top-level keys torch.profiler writes
 * (schemaVersion, deviceProperties, baseTimeNanoseconds, displayTimeUnit,
 * traceEvents, traceName), omniprof's own metadata under "omniprof", and one
 * event per record.  ts/dur are microseconds with nanosecond decimals,
 * relative to baseTimeNanoseconds, as Kineto writes them.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "writer.h"

static const char *category(int api)
{
    switch (coll_api_domain(api)) {
    case COLL_DOMAIN_DRIVER: return "cuda_driver";
    case COLL_DOMAIN_RUNTIME: return "cuda_runtime";
    default: return "user_annotation";
    }
}

static void thread_name(int pid, int tid, char *name, size_t cap)
{
    char path[64], comm[64] = "";
    snprintf(path, sizeof path, "/proc/%d/task/%d/comm", pid, tid);
    FILE *f = fopen(path, "re");
    if (f) {
        if (fgets(comm, sizeof comm, f))
            comm[strcspn(comm, "\n")] = '\0';
        fclose(f);
    }
    if (comm[0])
        snprintf(name, cap, "thread %d (%s)", tid, comm);
    else
        snprintf(name, cap, "thread %d", tid);
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* process_name / thread_name metadata, as Kineto writes them. */
static void write_metadata(struct wr_out *o, const struct coll_session *s,
                           const struct wr_options *opt, uint64_t base)
{
    const char *sep = "";
    wr_out_printf(o, "  {\"name\": \"process_name\", \"ph\": \"M\", \"ts\": ");
    wr_json_us(o, s->begin_ns - base);
    wr_out_printf(o, ", \"pid\": %d, \"tid\": 0, \"args\": {\"name\": ", opt->pid);
    wr_json_string(o, opt->process_name);
    wr_out_printf(o, "}},\n  {\"name\": \"process_labels\", \"ph\": \"M\", \"ts\": ");
    wr_json_us(o, s->begin_ns - base);
    wr_out_printf(o, ", \"pid\": %d, \"tid\": 0, \"args\": {\"labels\": \"CPU\"}},\n", opt->pid);
    wr_out_printf(o, "  {\"name\": \"process_sort_index\", \"ph\": \"M\", \"ts\": ");
    wr_json_us(o, s->begin_ns - base);
    wr_out_printf(o, ", \"pid\": %d, \"tid\": 0, \"args\": {\"sort_index\": %d}}", opt->pid,
                  opt->pid);

    int *tids = malloc((s->n_events ? s->n_events : 1) * sizeof *tids);
    size_t n = 0;
    if (tids) {
        for (size_t i = 0; i < s->n_events; i++)
            tids[n++] = s->events[i]->tid;
        qsort(tids, n, sizeof *tids, cmp_int);
    }
    sep = ",\n";
    for (size_t i = 0; i < n; i++) {
        if (i && tids[i] == tids[i - 1])
            continue;
        char name[128];
        thread_name(opt->pid, tids[i], name, sizeof name);
        wr_out_printf(o, "%s  {\"name\": \"thread_name\", \"ph\": \"M\", \"ts\": ", sep);
        wr_json_us(o, s->begin_ns - base);
        wr_out_printf(o, ", \"pid\": %d, \"tid\": %d, \"args\": {\"name\": ", opt->pid, tids[i]);
        wr_json_string(o, name);
        wr_out_printf(o, "}},\n  {\"name\": \"thread_sort_index\", \"ph\": \"M\", \"ts\": ");
        wr_json_us(o, s->begin_ns - base);
        wr_out_printf(o, ", \"pid\": %d, \"tid\": %d, \"args\": {\"sort_index\": %d}}", opt->pid,
                      tids[i], tids[i]);
    }
    free(tids);
}

static void write_event(struct wr_out *o, const struct coll_session *s,
                        const struct wr_options *opt, const struct coll_event *ev, uint64_t base)
{
    if (ev->kind == COLL_EV_STEP) {
        wr_out_printf(o, ",\n  {\"ph\": \"i\", \"s\": \"p\", \"cat\": \"user_annotation\", "
                         "\"name\": \"omni_step #%" PRIu64 "\", \"pid\": %d, \"tid\": %d, \"ts\": ",
                      ev->u.step.number, opt->pid, ev->tid);
        wr_json_us(o, ev->start_ns - base);
        wr_out_puts(o, "}");
        return;
    }
    wr_out_printf(o, ",\n  {\"ph\": \"X\", \"cat\": \"%s\", \"name\": ", category(ev->api));
    wr_json_string(o, coll_api_name(ev->api));
    wr_out_printf(o, ", \"pid\": %d, \"tid\": %d, \"ts\": ", opt->pid, ev->tid);
    wr_json_us(o, ev->start_ns - base);
    wr_out_puts(o, ", \"dur\": ");
    wr_json_us(o, ev->end_ns >= ev->start_ns ? ev->end_ns - ev->start_ns : 0);
    wr_out_printf(o, ", \"args\": {\"correlation\": %" PRIu64 ", \"result\": %d",
                  ev->correlation, ev->result);
    if (ev->kind == COLL_EV_LAUNCH) {
        const char *name = coll_session_kernel_name(s, ev->u.launch.func);
        char unknown[48];
        if (!name) {
            snprintf(unknown, sizeof unknown, "<unknown kernel 0x%" PRIx64 ">", ev->u.launch.func);
            name = unknown;
        }
        wr_out_puts(o, ", \"kernel\": ");
        wr_json_string(o, name);
        const uint32_t *g = ev->u.launch.grid, *b = ev->u.launch.block;
        wr_out_printf(o,
                      ", \"grid\": [%u, %u, %u], \"block\": [%u, %u, %u], "
                      "\"shared memory\": %u, \"stream\": %" PRIu64,
                      g[0], g[1], g[2], b[0], b[1], b[2], ev->u.launch.shared_mem,
                      ev->u.launch.stream);
    } else if (ev->kind == COLL_EV_ALLOC || ev->kind == COLL_EV_FREE) {
        wr_out_printf(o, ", \"Addr\": %" PRIu64 ", \"Bytes\": %" PRIu64 ", \"Device Id\": %d",
                      ev->u.mem.addr, ev->u.mem.bytes, ev->u.mem.device);
    }
    wr_out_puts(o, "}}");
}

int wr_trace(const struct coll_session *s, const struct wr_options *opt, const char *path,
             const char *trace_name)
{
    struct wr_out *o;
    int rc = wr_out_open(&o, path, opt->gzip, opt->gzip_level);
    if (rc < 0)
        return rc;
    /* Whole seconds, like Kineto: ts stays small enough for exact decimals. */
    uint64_t base = s->begin_ns - s->begin_ns % 1000000000u;

    wr_out_puts(o, "{\n  \"schemaVersion\": 1,\n  \"deviceProperties\": [],\n");
    wr_out_printf(o, "  \"with_stack\": %d,\n  \"record_shapes\": %d,\n  \"profile_memory\": %d,\n",
                  opt->with_stack, opt->record_shapes, opt->profile_memory);
    wr_out_puts(o, "  \"omniprof\": {\n    \"version\": ");
    wr_json_string(o, opt->version);
    wr_out_puts(o, ",\n    \"worker\": ");
    wr_json_string(o, opt->worker);
    wr_out_printf(o, ",\n    \"pid\": %d,\n    \"stage\": %d,\n    \"rank\": %d,\n", opt->pid,
                  opt->stage, opt->rank);
    wr_out_puts(o, "    \"config\": ");
    wr_json_string(o, opt->config);
    wr_out_printf(o,
                  ",\n    \"session_begin_ns\": %" PRIu64 ",\n    \"session_end_ns\": %" PRIu64
                  ",\n    \"steps\": %" PRIu64 ",\n    \"events\": %zu,\n"
                  "    \"dropped_events\": %" PRIu64 ",\n    \"event_source\": \"interposition\"\n  },\n",
                  s->begin_ns, s->end_ns, s->steps, s->n_events, s->dropped);
    wr_out_printf(o, "  \"displayTimeUnit\": \"ms\",\n  \"baseTimeNanoseconds\": %" PRIu64 ",\n",
                  base);
    wr_out_puts(o, "  \"traceEvents\": [\n");
    write_metadata(o, s, opt, base);
    for (size_t i = 0; i < s->n_events; i++)
        write_event(o, s, opt, s->events[i], base);
    wr_out_puts(o, "\n  ],\n  \"traceName\": ");
    wr_json_string(o, trace_name);
    wr_out_puts(o, "\n}\n");
    return wr_out_close(o);
}
