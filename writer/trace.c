/*
 * The Kineto-style trace: the top-level keys torch.profiler writes
 * (schemaVersion, deviceProperties, distributedInfo, trace_id, the CUDA
 * versions, baseTimeNanoseconds, displayTimeUnit, traceEvents, traceName),
 * omniprof's own metadata under "omniprof", the host stacks as
 * "stackFrames", and one event per record, plus a ProfilerStep#N span per
 * iteration.  ts/dur are microseconds with nanosecond decimals, relative to
 * baseTimeNanoseconds, as Kineto writes them.  Integers are formatted
 * without printf: writing a million events a second is a target
 * (tests/bench/bench_writer.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

static const char *category(const struct coll_event *ev)
{
    int domain = ev->kind == COLL_EV_CUPTI ? (int)ev->u.cupti.domain : coll_api_domain(ev->api);
    switch (domain) {
    case COLL_DOMAIN_DRIVER: return "cuda_driver";
    case COLL_DOMAIN_RUNTIME: return "cuda_runtime";
    default: return "user_annotation";
    }
}

static void thread_name(int pid, int tid, char *name, size_t cap)
{
    if (wr_nvtx_thread_name(tid, name, cap))
        return;
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

/* One metadata event ("M"), as Kineto writes them. */
static void meta(struct wr_out *o, const char *what, int pid, int tid, uint64_t ts, const char *key,
                 const char *text, long number)
{
    wr_out_printf(o, ",\n  {\"name\": \"%s\", \"ph\": \"M\", \"ts\": ", what);
    wr_json_us(o, ts);
    wr_out_printf(o, ", \"pid\": %d, \"tid\": %d, \"args\": {\"%s\": ", pid, tid, key);
    if (text)
        wr_json_string(o, text);
    else
        wr_out_printf(o, "%ld", number);
    wr_out_puts(o, "}}");
}

/* process_name / thread_name metadata for every thread that recorded. */
static void write_metadata(struct wr_out *o, const struct coll_session *s,
                           const struct wr_options *opt, uint64_t ts)
{
    wr_out_printf(o, "  {\"name\": \"process_name\", \"ph\": \"M\", \"ts\": ");
    wr_json_us(o, ts);
    wr_out_printf(o, ", \"pid\": %d, \"tid\": 0, \"args\": {\"name\": ", opt->pid);
    wr_json_string(o, opt->process_name);
    wr_out_puts(o, "}}");
    meta(o, "process_labels", opt->pid, 0, ts, "labels", "CPU", 0);
    meta(o, "process_sort_index", opt->pid, 0, ts, "sort_index", NULL, opt->pid);
    int *tids = malloc((s->n_events ? s->n_events : 1) * sizeof *tids);
    size_t n = 0;
    if (tids) {
        for (size_t i = 0; i < s->n_events; i++)
            tids[n++] = s->events[i]->tid;
        qsort(tids, n, sizeof *tids, cmp_int);
    }
    for (size_t i = 0; i < n; i++) {
        if (i && tids[i] == tids[i - 1])
            continue;
        char name[128];
        thread_name(opt->pid, tids[i], name, sizeof name);
        meta(o, "thread_name", opt->pid, tids[i], ts, "name", name, 0);
        meta(o, "thread_sort_index", opt->pid, tids[i], ts, "sort_index", NULL, tids[i]);
    }
    free(tids);
}

/* Text written for every event of a kind, prepared once per session:
 * the JSON literal of each kernel name and the "Call stack" of each stack. */
struct cache {
    char **kernel; /* by index in s->names */
    char **stack;  /* by index in s->stacks */
};

static char *stack_text(const struct coll_stack *st)
{
    size_t cap = 32, len = 0;
    char *out = malloc(cap), frame[1024];
    if (!out)
        return NULL;
    len = (size_t)snprintf(out, cap, ", \"Call stack\": [");
    for (uint32_t k = 0; k < st->depth && out; k++) {
        wr_frame_text(&st->frames[k], frame, sizeof frame);
        char *lit = wr_json_literal(frame);
        size_t need = len + (lit ? strlen(lit) : 0) + 4;
        if (need > cap) {
            cap = need * 2;
            char *grown = realloc(out, cap);
            if (!grown) {
                free(out);
                out = NULL;
            }
            out = grown;
        }
        if (out && lit)
            len += (size_t)snprintf(out + len, cap - len, "%s%s", k ? ", " : "", lit);
        free(lit);
    }
    if (out)
        snprintf(out + len, cap - len, "]");
    return out;
}

static void cache_free(struct cache *c, const struct coll_session *s)
{
    for (size_t i = 0; c->kernel && i < s->n_names; i++)
        free(c->kernel[i]);
    for (size_t i = 0; c->stack && i < s->n_stacks; i++)
        free(c->stack[i]);
    free(c->kernel);
    free(c->stack);
}

static int cache_build(struct cache *c, const struct coll_session *s, bool stacks)
{
    c->kernel = calloc(s->n_names + 1, sizeof *c->kernel);
    c->stack = calloc(s->n_stacks + 1, sizeof *c->stack);
    if (!c->kernel || !c->stack)
        return -1;
    for (size_t i = 0; i < s->n_names; i++) {
        char unknown[48];
        const char *name = s->names[i].name;
        if (!name) {
            snprintf(unknown, sizeof unknown, "<unknown kernel 0x%" PRIx64 ">", s->names[i].func);
            name = unknown;
        }
        if (!(c->kernel[i] = wr_json_literal(name)))
            return -1;
    }
    for (size_t i = 0; stacks && i < s->n_stacks; i++)
        if (!(c->stack[i] = stack_text(&s->stacks[i])))
            return -1;
    return 0;
}

static void dims(struct wr_out *o, const char *key, const uint32_t d[3])
{
    wr_out_puts(o, key);
    wr_out_u64(o, d[0]);
    wr_out_puts(o, ", ");
    wr_out_u64(o, d[1]);
    wr_out_puts(o, ", ");
    wr_out_u64(o, d[2]);
    wr_out_puts(o, "]");
}

static void launch_args(struct wr_out *o, const struct coll_session *s,
                        const struct wr_options *opt, const struct cache *c,
                        const struct coll_event *ev)
{
    const struct coll_kernel_name *k = coll_session_kernel(s, ev->u.launch.func);
    wr_out_puts(o, ", \"kernel\": ");
    if (k) {
        wr_out_puts(o, c->kernel[k - s->names]);
    } else {
        char unknown[48];
        snprintf(unknown, sizeof unknown, "<unknown kernel 0x%" PRIx64 ">", ev->u.launch.func);
        wr_json_string(o, unknown);
    }
    if (k && k->mangled) {
        wr_out_puts(o, ", \"mangled name\": ");
        wr_json_string(o, k->mangled);
    }
    wr_out_puts(o, ", \"stream handle\": ");
    wr_out_u64(o, ev->u.launch.stream);
    if (!opt->record_shapes)
        return;
    dims(o, ", \"grid\": [", ev->u.launch.grid);
    dims(o, ", \"block\": [", ev->u.launch.block);
    wr_out_puts(o, ", \"dynamic shared memory\": ");
    wr_out_u64(o, ev->u.launch.shared_mem);
    if (k && k->static_shared >= 0) {
        wr_out_puts(o, ", \"static shared memory\": ");
        wr_out_i64(o, k->static_shared);
    }
    if (k && k->registers >= 0) {
        wr_out_puts(o, ", \"registers per thread\": ");
        wr_out_i64(o, k->registers);
    }
    if (ev->u.launch.cluster[0])
        dims(o, ", \"cluster\": [", ev->u.launch.cluster);
}

static void memory_args(struct wr_out *o, const struct coll_event *ev)
{
    wr_out_puts(o, ", \"Addr\": ");
    wr_out_u64(o, ev->u.mem.addr);
    /* a free whose allocation the table did not see has no size to show */
    if (ev->kind != COLL_EV_FREE || ev->u.mem.bytes != 0) {
        wr_out_puts(o, ", \"Bytes\": ");
        wr_out_i64(o, ev->u.mem.bytes);
    }
    /* a free the allocation table did not see (with_memory off) has no device */
    if (ev->tracked || ev->kind == COLL_EV_ALLOC)
        wr_out_printf(o, ", \"Device Type\": %d, \"Device Id\": %d", ev->device_type, ev->device);
}

/* Kineto's [memory] instant event and omniprof's per-device counter track. */
static void memory_events(struct wr_out *o, const struct wr_options *opt,
                          const struct coll_event *ev, uint64_t base)
{
    wr_out_printf(o,
                  ",\n  {\"ph\": \"i\", \"cat\": \"cpu_instant_event\", \"s\": \"t\", "
                  "\"name\": \"[memory]\", \"pid\": %d, \"tid\": %d, \"ts\": ",
                  opt->pid, ev->tid);
    wr_json_us(o, ev->end_ns - base);
    wr_out_puts(o, ", \"args\": {\"Total Reserved\": ");
    wr_out_u64(o, ev->u.mem.reserved);
    wr_out_puts(o, ", \"Total Allocated\": ");
    wr_out_u64(o, ev->u.mem.total);
    memory_args(o, ev);
    wr_out_puts(o, "}}");
    if (ev->device_type)
        wr_out_printf(o, ",\n  {\"ph\": \"C\", \"name\": \"GPU %d memory\", \"pid\": %d, \"ts\": ",
                      ev->device, opt->pid);
    else
        wr_out_printf(
            o, ",\n  {\"ph\": \"C\", \"name\": \"Host pinned memory\", \"pid\": %d, \"ts\": ",
            opt->pid);
    wr_json_us(o, ev->end_ns - base);
    wr_out_puts(o, ", \"args\": {\"allocated\": ");
    wr_out_u64(o, ev->u.mem.total);
    wr_out_puts(o, ", \"reserved\": ");
    wr_out_u64(o, ev->u.mem.reserved);
    wr_out_puts(o, "}}");
}

/* A call CUPTI saw: what it launched (from the GPU side): a kernel, or a
 * graph, named by its exec and CUPTI's graph id. */
static void cupti_args(struct wr_out *o, const struct coll_session *s,
                       const struct wr_gpu_index *ix, const struct coll_event *ev)
{
    const struct coll_gpu *g = wr_gpu_of(ix, s, ev->correlation);
    if (ev->u.cupti.graph || (g && g->graph_id)) {
        if (ev->u.cupti.graph) {
            wr_out_puts(o, ", \"graph exec\": ");
            wr_out_u64(o, ev->u.cupti.graph);
        }
        if (g && g->graph_id) {
            wr_out_puts(o, ", \"graph id\": ");
            wr_out_u64(o, g->graph_id);
        }
    } else if (g && g->kind == COLL_GPU_KERNEL) {
        char *demangled = coll_demangle(g->name);
        wr_out_puts(o, ", \"kernel\": ");
        wr_json_string(o, demangled ? demangled : g->name);
        free(demangled);
    }
}

/* An iteration boundary: the omni_step instant, and the ProfilerStep#N
 * span (torch.profiler's, with a schedule) that runs to the next one. */
static void write_step(struct wr_out *o, const struct wr_options *opt, const struct wr_span *span,
                       const struct coll_event *ev, uint64_t base)
{
    wr_out_puts(o, ",\n  {\"ph\": \"X\", \"cat\": \"user_annotation\", \"name\": \"ProfilerStep#");
    wr_out_u64(o, ev->u.step.number);
    wr_out_printf(o, "\", \"pid\": %d, \"tid\": %d, \"ts\": ", opt->pid, ev->tid);
    wr_json_us(o, span->start_ns - base);
    wr_out_puts(o, ", \"dur\": ");
    wr_json_us(o, span->end_ns - span->start_ns);
    wr_out_puts(o, ", \"args\": {\"External id\": ");
    wr_out_u64(o, span->ext);
    wr_out_puts(o, "}}");
    wr_out_puts(o, ",\n  {\"ph\": \"i\", \"s\": \"p\", \"cat\": \"user_annotation\", "
                   "\"name\": \"omni_step #");
    wr_out_u64(o, ev->u.step.number);
    wr_out_printf(o, "\", \"pid\": %d, \"tid\": %d, \"ts\": ", opt->pid, ev->tid);
    wr_json_us(o, ev->start_ns - base);
    wr_out_puts(o, "}");
}

static void write_event(struct wr_out *o, const struct coll_session *s,
                        const struct wr_options *opt, const struct wr_frames *frames,
                        const struct cache *c, const struct wr_gpu_index *ix,
                        const struct wr_links *l, size_t i, uint64_t base)
{
    const struct coll_event *ev = s->events[i];
    if (ev->kind == COLL_EV_NVTX) /* wr_nvtx_events */
        return;
    wr_out_puts(o, ",\n  {\"ph\": \"X\", \"cat\": \"");
    wr_out_puts(o, category(ev));
    wr_out_puts(o, "\", \"name\": ");
    if (ev->kind == COLL_EV_CUPTI)
        wr_json_string(o, ev->u.cupti.name ? ev->u.cupti.name : "?");
    else
        wr_json_string(o, coll_api_name(ev->api));
    wr_out_puts(o, ", \"pid\": ");
    wr_out_i64(o, opt->pid);
    wr_out_puts(o, ", \"tid\": ");
    wr_out_i64(o, ev->tid);
    wr_out_puts(o, ", \"ts\": ");
    wr_json_us(o, ev->start_ns - base);
    wr_out_puts(o, ", \"dur\": ");
    wr_json_us(o, ev->end_ns >= ev->start_ns ? ev->end_ns - ev->start_ns : 0);
    uint32_t sf = ev->stack ? wr_frames_leaf(frames, s, ev->stack) : 0;
    if (sf) {
        wr_out_puts(o, ", \"sf\": \"");
        wr_out_u64(o, sf);
        wr_out_puts(o, "\"");
    }
    /* Kineto's order: External id, cbid, correlation */
    wr_out_puts(o, ", \"args\": {\"External id\": ");
    wr_out_u64(o, wr_links_ext(l, ev));
    if (ev->kind == COLL_EV_CUPTI) {
        wr_out_puts(o, ", \"cbid\": ");
        wr_out_u64(o, ev->u.cupti.cbid);
    }
    wr_out_puts(o, ", \"correlation\": ");
    wr_out_u64(o, ev->correlation);
    wr_out_puts(o, ", \"result\": ");
    wr_out_i64(o, ev->result);
    switch (ev->kind) {
    case COLL_EV_CUPTI: cupti_args(o, s, ix, ev); break;
    case COLL_EV_LAUNCH: launch_args(o, s, opt, c, ev); break;
    case COLL_EV_GRAPH:
        wr_out_puts(o, ", \"graph exec\": ");
        wr_out_u64(o, ev->u.launch.func);
        wr_out_puts(o, ", \"stream handle\": ");
        wr_out_u64(o, ev->u.launch.stream);
        break;
    case COLL_EV_ALLOC:
    case COLL_EV_FREE: memory_args(o, ev); break;
    case COLL_EV_SYNC:
        wr_out_puts(o, ", \"stream handle\": ");
        wr_out_u64(o, ev->u.copy.stream);
        break;
    case COLL_EV_COPY:
    case COLL_EV_MEMSET:
        wr_out_puts(o, ", \"bytes\": ");
        wr_out_u64(o, ev->u.copy.bytes);
        wr_out_puts(o, ev->kind == COLL_EV_COPY ? ", \"copy kind\": \"" : ", \"value\": ");
        if (ev->kind == COLL_EV_COPY)
            wr_out_printf(o, "%s\", \"src\": %" PRIu64, coll_copy_kind_name((int)ev->u.copy.kind),
                          ev->u.copy.src);
        else
            wr_out_u64(o, ev->u.copy.src);
        wr_out_puts(o, ", \"dst\": ");
        wr_out_u64(o, ev->u.copy.dst);
        wr_out_puts(o, ", \"stream handle\": ");
        wr_out_u64(o, ev->u.copy.stream);
        break;
    }
    const struct coll_stack *st =
        ev->stack && opt->with_stack ? coll_session_stack(s, ev->stack) : NULL;
    if (st)
        wr_out_puts(o, c->stack[st - s->stacks]);
    wr_out_puts(o, "}}");
    if (opt->profile_memory && ev->tracked &&
        (ev->kind == COLL_EV_ALLOC || ev->kind == COLL_EV_FREE))
        memory_events(o, opt, ev, base);
    if (ev->kind == COLL_EV_CUPTI)
        wr_gpu_flow_start(o, ix, l, opt, ev, base);
}

/* distributedInfo as HTA reads it (it finds a trace's rank by the first
 * `"rank": N` in the file: this line comes before omniprof's own). */
static void distributed_info(struct wr_out *o, const struct wr_options *opt)
{
    if (opt->rank < 0)
        return;
    wr_out_printf(o, "  \"distributedInfo\": {\"rank\": %d", opt->rank);
    if (opt->world_size > 0)
        wr_out_printf(o, ", \"world_size\": %d", opt->world_size);
    if (opt->local_rank >= 0)
        wr_out_printf(o, ", \"local_rank\": %d", opt->local_rank);
    wr_out_puts(o, "},\n");
}

/* Kineto's trace_id: 128 random bits as 32 upper-case hex digits. */
static void trace_id(struct wr_out *o, const struct coll_session *s, const struct wr_options *opt)
{
    uint64_t id[2];
    if (getrandom(id, sizeof id, GRND_NONBLOCK) != (ssize_t)sizeof id) {
        /* no entropy yet (early boot): this trace's own facts, mixed */
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        id[0] = s->begin_ns ^ ((uint64_t)opt->pid << 32) ^ (uint64_t)t.tv_nsec;
        id[1] = s->end_ns * 0x9E3779B97F4A7C15ull ^ (uint64_t)t.tv_sec;
    }
    wr_out_printf(o, "  \"trace_id\": \"%016" PRIX64 "%016" PRIX64 "\",\n", id[0], id[1]);
}

static void write_header(struct wr_out *o, const struct coll_session *s,
                         const struct wr_options *opt, uint64_t base)
{
    wr_out_puts(o, "{\n  \"schemaVersion\": 1,\n");
    wr_gpu_device_properties(o, s);
    distributed_info(o, opt);
    trace_id(o, s, opt);
    wr_out_printf(o, "  \"with_stack\": %d,\n  \"record_shapes\": %d,\n  \"profile_memory\": %d,\n",
                  opt->with_stack, opt->record_shapes, opt->profile_memory);
    /* only what the process's own libraries answered */
    if (s->cuda_driver_version > 0)
        wr_out_printf(o, "  \"cuda_driver_version\": %d,\n", s->cuda_driver_version);
    if (s->cuda_runtime_version > 0)
        wr_out_printf(o, "  \"cuda_runtime_version\": %d,\n", s->cuda_runtime_version);
    if (s->cupti_version > 0)
        wr_out_printf(o, "  \"cupti_version\": %u,\n", s->cupti_version);
    wr_out_puts(o, "  \"omniprof\": {\n    \"version\": ");
    wr_json_string(o, opt->version);
    wr_out_puts(o, ",\n    \"worker\": ");
    wr_json_string(o, opt->worker);
    wr_out_printf(o, ",\n    \"pid\": %d,\n    \"stage\": %d,\n    \"rank\": %d,\n", opt->pid,
                  opt->stage, opt->rank);
    /* the machine and the launcher's job, as they are (the worker's host
     * part has '/' and ' ' replaced) */
    if (opt->host && opt->host[0]) {
        wr_out_puts(o, "    \"host\": ");
        wr_json_string(o, opt->host);
        wr_out_puts(o, ",\n");
    }
    if (opt->job && opt->job[0]) {
        wr_out_puts(o, "    \"job\": ");
        wr_json_string(o, opt->job);
        wr_out_puts(o, ",\n");
    }
    wr_out_puts(o, "    \"config\": ");
    wr_json_string(o, opt->config);
    /* what was not written on the CUPTI path, by cause (collector/cupti.c) */
    wr_out_printf(o,
                  ",\n    \"dropped_api_events\": %" PRIu64
                  ",\n    \"dropped_gpu_records_cupti_buffer_size\": %" PRIu64
                  ",\n    \"dropped_gpu_records_buffer_size\": %" PRIu64
                  ",\n    \"dropped_gpu_records_outside\": %" PRIu64,
                  s->api_dropped, s->gpu_dropped_cupti, s->gpu_dropped_cap, s->gpu_dropped_outside);
    wr_out_printf(o,
                  ",\n    \"session_begin_ns\": %" PRIu64 ",\n    \"session_end_ns\": %" PRIu64
                  ",\n    \"steps\": %" PRIu64 ",\n    \"events\": %zu,\n"
                  "    \"dropped_events\": %" PRIu64
                  ",\n    \"dropped_events_max_threads\": %" PRIu64
                  ",\n    \"dropped_stacks\": %" PRIu64
                  ",\n    \"stacks\": %zu,\n    \"unknown_frees\": %" PRIu64
                  ",\n    \"gpu_records\": %zu,\n    \"dropped_gpu_records\": %" PRIu64
                  ",\n    \"event_source\": \"%s\"\n  },\n",
                  s->begin_ns, s->end_ns, s->steps, s->n_events, s->dropped, s->dropped_no_slot,
                  s->stacks_dropped, s->n_stacks, s->unknown_frees, s->n_gpu, s->gpu_dropped,
                  s->cupti ? "cupti" : "interposition");
    wr_out_printf(o, "  \"displayTimeUnit\": \"ms\",\n  \"baseTimeNanoseconds\": %" PRIu64 ",\n",
                  base);
}

/* Kineto's base time: the real-time clock rounded down to a multiple of
 * three months (7889238 s), the same in every process of a job, so that ts
 * of all of them compare directly; ts stays below 2^53 ns, exact as a double. */
uint64_t wr_base_time(uint64_t ns)
{
    const uint64_t three_months = 7889238ull * 1000000000ull;
    return ns - ns % three_months;
}

struct parts {
    struct wr_frames frames;
    struct cache cache;
    struct wr_gpu_index ix;
    struct wr_links links;
};

static void parts_free(struct parts *p, const struct coll_session *s)
{
    wr_links_free(&p->links);
    wr_gpu_index_free(&p->ix);
    cache_free(&p->cache, s);
    wr_frames_free(&p->frames);
}

static int parts_build(struct parts *p, const struct coll_session *s, const struct wr_options *opt)
{
    memset(p, 0, sizeof *p);
    if (wr_frames_build(&p->frames, s) < 0)
        return -ENOMEM;
    if (cache_build(&p->cache, s, opt->with_stack) < 0 || wr_gpu_index(&p->ix, s) < 0 ||
        wr_links_build(&p->links, s, &p->ix) < 0) {
        parts_free(p, s);
        return -ENOMEM;
    }
    return 0;
}

int wr_trace(const struct coll_session *s, const struct wr_options *opt, int fd,
             const char *trace_name)
{
    struct parts p;
    if (parts_build(&p, s, opt) < 0) {
        close(fd);
        return -ENOMEM;
    }
    struct wr_out *o;
    int rc = wr_out_open(&o, fd, opt->gzip, opt->gzip_level);
    if (rc < 0) {
        parts_free(&p, s);
        return rc;
    }
    uint64_t base = wr_base_time(s->begin_ns);
    write_header(o, s, opt, base);
    if (p.frames.n_nodes)
        wr_frames_write(&p.frames, o);
    wr_out_puts(o, "  \"traceEvents\": [\n");
    write_metadata(o, s, opt, s->begin_ns - base);
    wr_gpu_metadata(o, s, opt, &p.ix, s->begin_ns - base);
    const struct wr_span *span = p.links.spans;
    for (size_t i = 0; i < s->n_events; i++) {
        if (s->events[i]->kind == COLL_EV_STEP)
            write_step(o, opt, span++, s->events[i], base);
        else
            write_event(o, s, opt, &p.frames, &p.cache, &p.ix, &p.links, i, base);
    }
    wr_gpu_events(o, s, opt, &p.ix, &p.links, base);
    wr_nvtx_events(o, s, opt, &p.ix, base);
    wr_out_puts(o, "\n  ],\n  \"traceName\": ");
    wr_json_string(o, trace_name);
    wr_out_puts(o, "\n}\n");
    parts_free(&p, s);
    return wr_out_close(o);
}
