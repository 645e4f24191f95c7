/*
 * The GPU side of the trace, from CUPTI activity, as Kineto writes it:
 * kernel, gpu_memcpy and gpu_memset events under pid = device and tid =
 * stream; cuda_sync events for synchronisations (with the stream and the
 * event record they waited on, which HTA's critical path follows);
 * cuda_event instants for CUDA event records (Kineto writes a 1 ns complete
 * event, which HTA counts as a kernel of negative length once it rounds to
 * whole microseconds: an instant is what the record is, and what HTA leaves
 * out of its kernel statistics); CUPTI's overheads; the GPU
 * processes' and streams' names; deviceProperties; and the ac2g flow events
 * that link each host API call to the GPU work it made (by correlation id:
 * "s" on the call, "f" with bp "e" on each GPU event).  Every GPU event
 * carries its call's "External id" (links.c).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- correlation ------------------------------------------------------------ */

static int by_correlation(const void *a, const void *b)
{
    const struct wr_corr *x = a, *y = b;
    if (x->correlation != y->correlation)
        return x->correlation < y->correlation ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

int wr_gpu_index(struct wr_gpu_index *ix, const struct coll_session *s)
{
    memset(ix, 0, sizeof *ix);
    ix->gpu = malloc((s->n_gpu ? s->n_gpu : 1) * sizeof *ix->gpu);
    ix->api = malloc((s->n_events ? s->n_events : 1) * sizeof *ix->api);
    if (!ix->gpu || !ix->api) {
        wr_gpu_index_free(ix);
        return -1;
    }
    for (size_t i = 0; i < s->n_gpu; i++) {
        const struct coll_gpu *g = &s->gpu[i];
        if (g->correlation)
            ix->gpu[ix->n_gpu++] = (struct wr_corr){g->correlation, i};
        if (g->kind == COLL_GPU_OVERHEAD || g->device == UINT32_MAX)
            continue;
        size_t k = 0;
        while (k < ix->n_contexts && ix->contexts[k].context != g->context)
            k++;
        if (k == ix->n_contexts && k < sizeof ix->contexts / sizeof *ix->contexts)
            ix->contexts[ix->n_contexts++] = (struct wr_context){g->context, g->device};
    }
    for (size_t i = 0; i < s->n_events; i++)
        if (s->events[i]->kind == COLL_EV_CUPTI)
            ix->api[ix->n_api++] = (struct wr_corr){s->events[i]->correlation, i};
    qsort(ix->gpu, ix->n_gpu, sizeof *ix->gpu, by_correlation);
    qsort(ix->api, ix->n_api, sizeof *ix->api, by_correlation);
    return 0;
}

void wr_gpu_index_free(struct wr_gpu_index *ix)
{
    free(ix->gpu);
    free(ix->api);
    memset(ix, 0, sizeof *ix);
}

/* First entry of `arr` with this correlation, or NULL. */
static const struct wr_corr *first(const struct wr_corr *arr, size_t n, uint64_t correlation)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (arr[mid].correlation < correlation)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && arr[lo].correlation == correlation ? &arr[lo] : NULL;
}

const struct coll_gpu *wr_gpu_of(const struct wr_gpu_index *ix, const struct coll_session *s,
                                 uint64_t correlation)
{
    const struct wr_corr *c = first(ix->gpu, ix->n_gpu, correlation);
    return c ? &s->gpu[c->index] : NULL;
}

const struct coll_event *wr_api_of(const struct wr_gpu_index *ix, const struct coll_session *s,
                                   uint64_t correlation)
{
    const struct wr_corr *c = first(ix->api, ix->n_api, correlation);
    return c ? s->events[c->index] : NULL;
}

size_t wr_api_index(const struct wr_gpu_index *ix, uint64_t correlation)
{
    const struct wr_corr *c = first(ix->api, ix->n_api, correlation);
    return c ? c->index : SIZE_MAX;
}

/* A context no other record names: device 0, as Kineto assumes. */
uint32_t wr_gpu_device(const struct wr_gpu_index *ix, const struct coll_gpu *g)
{
    if (g->device != UINT32_MAX)
        return g->device;
    for (size_t k = 0; k < ix->n_contexts; k++)
        if (ix->contexts[k].context == g->context)
            return ix->contexts[k].device;
    return 0;
}

/* ---- metadata ------------------------------------------------------------------ */

void wr_gpu_device_properties(struct wr_out *o, const struct coll_session *s)
{
    wr_out_puts(o, "  \"deviceProperties\": [");
    for (size_t i = 0; i < s->n_devices; i++) {
        const struct coll_device *d = &s->devices[i];
        wr_out_printf(o, "%s\n    {\n      \"id\": %d, \"name\": ", i ? "," : "", d->id);
        wr_json_string(o, d->name);
        wr_out_printf(o,
                      ", \"totalGlobalMem\": %" PRIu64 ",\n      \"computeMajor\": %d, "
                      "\"computeMinor\": %d,\n      \"maxThreadsPerBlock\": %d, "
                      "\"maxThreadsPerMultiprocessor\": %d,\n      \"regsPerBlock\": %d, "
                      "\"warpSize\": %d,\n      \"sharedMemPerBlock\": %d, \"numSms\": %d, "
                      "\"regsPerMultiprocessor\": %d, \"sharedMemPerBlockOptin\": %d, "
                      "\"sharedMemPerMultiprocessor\": %d\n    }",
                      d->total_memory, d->major, d->minor, d->max_threads_per_block,
                      d->max_threads_per_sm, d->regs_per_block, d->warp_size, d->shared_per_block,
                      d->sms, d->regs_per_sm, d->shared_per_block_optin, d->shared_per_sm);
    }
    wr_out_puts(o, s->n_devices ? "\n  ],\n" : "],\n");
}

static int by_device_stream(const void *a, const void *b)
{
    const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static void metadata(struct wr_out *o, const char *what, uint32_t pid, uint32_t tid, uint64_t ts)
{
    wr_out_printf(o, ",\n  {\"name\": \"%s\", \"ph\": \"M\", \"ts\": ", what);
    wr_json_us(o, ts);
    wr_out_printf(o, ", \"pid\": %u, \"tid\": %u, \"args\": {", pid, tid);
}

/* Kineto's names for a GPU: the process's name, labelled "GPU N", sorted
 * after every host process; its streams as "stream N ". */
void wr_gpu_metadata(struct wr_out *o, const struct coll_session *s, const struct wr_options *opt,
                     const struct wr_gpu_index *ix, uint64_t ts)
{
    uint64_t *keys = malloc((s->n_gpu ? s->n_gpu : 1) * sizeof *keys);
    if (!keys)
        return;
    size_t n = 0;
    for (size_t i = 0; i < s->n_gpu; i++)
        if (s->gpu[i].kind != COLL_GPU_OVERHEAD)
            keys[n++] = (uint64_t)wr_gpu_device(ix, &s->gpu[i]) << 32 | s->gpu[i].stream;
    qsort(keys, n, sizeof *keys, by_device_stream);
    int64_t last_device = -1;
    for (size_t i = 0; i < n; i++) {
        if (i && keys[i] == keys[i - 1])
            continue;
        uint32_t device = (uint32_t)(keys[i] >> 32), stream = (uint32_t)keys[i];
        if (device != last_device) {
            last_device = device;
            metadata(o, "process_name", device, 0, ts);
            wr_out_puts(o, "\"name\": ");
            wr_json_string(o, opt->process_name);
            wr_out_puts(o, "}}");
            /* Kineto's label, with the name a program gave the device (NVTX) */
            const char *named = wr_nvtx_device_name(device);
            char label[192];
            if (named)
                snprintf(label, sizeof label, "GPU %u (%s)", device, named);
            else
                snprintf(label, sizeof label, "GPU %u", device);
            metadata(o, "process_labels", device, 0, ts);
            wr_out_puts(o, "\"labels\": ");
            wr_json_string(o, label);
            wr_out_puts(o, "}}");
            metadata(o, "process_sort_index", device, 0, ts);
            wr_out_printf(o, "\"sort_index\": %u}}", 5000000 + device);
        }
        if (stream == UINT32_MAX)
            continue; /* a synchronisation of no stream: the device's row */
        /* Kineto's "stream N ", and the name a program gave it (NVTX) */
        char label[192];
        snprintf(label, sizeof label, "stream %u %s", stream, wr_nvtx_stream_name(stream));
        metadata(o, "thread_name", device, stream, ts);
        wr_out_puts(o, "\"name\": ");
        wr_json_string(o, label);
        wr_out_puts(o, "}}");
        metadata(o, "thread_sort_index", device, stream, ts);
        wr_out_printf(o, "\"sort_index\": %u}}", stream);
    }
    free(keys);
}

/* ---- events ------------------------------------------------------------------ */

static const struct coll_device *device_of(const struct coll_session *s, uint32_t id)
{
    for (size_t i = 0; i < s->n_devices; i++)
        if (s->devices[i].id == (int)id)
            return &s->devices[i];
    return NULL;
}

static void kernel_args(struct wr_out *o, const struct coll_session *s, const struct coll_gpu *g)
{
    int64_t blocks = (int64_t)g->grid[0] * g->grid[1] * g->grid[2];
    int64_t threads = (int64_t)g->block[0] * g->block[1] * g->block[2];
    wr_out_printf(o,
                  ", \"registers per thread\": %d, \"shared memory\": %d, "
                  "\"dynamic shared memory\": %d",
                  g->registers, g->static_shared + g->dynamic_shared, g->dynamic_shared);
    const struct coll_device *d = device_of(s, g->device);
    if (d && d->sms > 0) {
        double per_sm = (double)blocks / d->sms;
        double warps = per_sm * (double)((threads + 31) / 32);
        double max_warps = d->max_threads_per_sm > 0 ? d->max_threads_per_sm / 32.0 : 64.0;
        double occupancy = 100.0 * warps / max_warps;
        /* an estimate from the launch shape alone: no register or shared-memory limits */
        wr_out_printf(o,
                      ", \"blocks per SM\": %.6f, \"warps per SM\": %.6f, "
                      "\"est. achieved occupancy %%\": %d",
                      per_sm, warps, (int)(occupancy > 100.0 ? 100.0 : occupancy + 0.5));
    }
    wr_out_printf(o, ", \"grid\": [%d, %d, %d], \"block\": [%d, %d, %d]", g->grid[0], g->grid[1],
                  g->grid[2], g->block[0], g->block[1], g->block[2]);
    if (g->cluster[0])
        wr_out_printf(o, ", \"cluster\": [%u, %u, %u]", g->cluster[0], g->cluster[1],
                      g->cluster[2]);
    if (g->graph_id)
        wr_out_printf(o, ", \"graph id\": %u, \"graph node id\": %" PRIu64, g->graph_id,
                      g->graph_node);
}

/* CUDA event records by (context, event id, correlation), to find the record
 * a synchronisation waited on. */
struct records {
    const struct coll_gpu **r;
    size_t n;
};

static int by_event(const void *a, const void *b)
{
    const struct coll_gpu *x = *(const struct coll_gpu *const *)a;
    const struct coll_gpu *y = *(const struct coll_gpu *const *)b;
    if (x->context != y->context)
        return x->context < y->context ? -1 : 1;
    if (x->event_id != y->event_id)
        return x->event_id < y->event_id ? -1 : 1;
    return (x->correlation > y->correlation) - (x->correlation < y->correlation);
}

static void records_build(struct records *rs, const struct coll_session *s)
{
    rs->n = 0;
    rs->r = malloc((s->n_gpu ? s->n_gpu : 1) * sizeof *rs->r);
    for (size_t i = 0; rs->r && i < s->n_gpu; i++)
        if (s->gpu[i].kind == COLL_GPU_EVENT)
            rs->r[rs->n++] = &s->gpu[i];
    if (rs->r)
        qsort(rs->r, rs->n, sizeof *rs->r, by_event);
}

/* The last record of the event before the synchronisation (Kineto's rule:
 * the latest record with a smaller correlation id), or NULL. */
static const struct coll_gpu *waited_on(const struct records *rs, const struct coll_gpu *sync)
{
    const struct coll_gpu *found = NULL;
    size_t lo = 0, hi = rs->n;
    struct coll_gpu key = {.context = sync->context, .event_id = sync->event_id};
    const struct coll_gpu *k = &key;
    while (lo < hi) { /* the first record of (context, event) */
        size_t mid = lo + (hi - lo) / 2;
        if (by_event(&rs->r[mid], &k) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < rs->n && rs->r[lo]->context == sync->context &&
           rs->r[lo]->event_id == sync->event_id && rs->r[lo]->correlation < sync->correlation;
         lo++)
        found = rs->r[lo];
    return found;
}

static const char *sync_kind(const struct coll_gpu *g)
{
    switch (g->sync_type) {
    case COLL_SYNC_EVENT: return "Event Sync";
    case COLL_SYNC_STREAM_WAIT: return "Stream Wait Event";
    case COLL_SYNC_STREAM: return "Stream Sync";
    case COLL_SYNC_CONTEXT: return "Context Sync";
    default: return "Unknown Sync";
    }
}

/* A CUPTI id that does not apply (CUPTI_SYNCHRONIZATION_INVALID_VALUE) is -1. */
static int64_t id_or_none(uint32_t id)
{
    return id == UINT32_MAX ? -1 : (int64_t)id;
}

static void sync_args(struct wr_out *o, const struct records *rs, const struct coll_gpu *g)
{
    wr_out_printf(o, ", \"cuda_sync_kind\": \"%s\"", sync_kind(g));
    if (g->sync_type == COLL_SYNC_EVENT || g->sync_type == COLL_SYNC_STREAM_WAIT) {
        const struct coll_gpu *rec = waited_on(rs, g);
        wr_out_printf(o,
                      ", \"wait_on_stream\": %" PRId64
                      ", \"wait_on_cuda_event_record_corr_id\": %" PRId64
                      ", \"wait_on_cuda_event_id\": %" PRId64,
                      rec ? id_or_none(rec->stream) : -1, rec ? (int64_t)rec->correlation : -1,
                      id_or_none(g->event_id));
    }
}

/* What one GPU record is called and filed under. */
static const char *label_of(const struct coll_gpu *g, char *buf, size_t cap, char **demangled)
{
    *demangled = NULL;
    switch (g->kind) {
    case COLL_GPU_KERNEL:
        *demangled = coll_demangle(g->name);
        return *demangled ? *demangled : g->name ? g->name : "?";
    case COLL_GPU_MEMCPY:
    case COLL_GPU_MEMSET: coll_gpu_copy_name(g, buf, cap); return buf;
    case COLL_GPU_SYNC: return sync_kind(g);
    case COLL_GPU_EVENT: return "cudaEvent";
    default: return g->name ? g->name : "?";
    }
}

static const char *category_of(const struct coll_gpu *g)
{
    switch (g->kind) {
    case COLL_GPU_KERNEL: return "kernel";
    case COLL_GPU_MEMCPY: return "gpu_memcpy";
    case COLL_GPU_MEMSET: return "gpu_memset";
    case COLL_GPU_SYNC: return "cuda_sync";
    case COLL_GPU_EVENT: return "cuda_event";
    default: return "overhead";
    }
}

/* When a record ran: a CUDA event record CUPTI gave no time is placed at its
 * call; 0 when neither is known. */
static uint64_t start_of(const struct coll_session *s, const struct wr_gpu_index *ix,
                         const struct coll_gpu *g)
{
    if (g->start_ns || g->kind != COLL_GPU_EVENT)
        return g->start_ns;
    size_t api = wr_api_index(ix, g->correlation);
    return api == SIZE_MAX ? 0 : s->events[api]->start_ns;
}

static void gpu_event(struct wr_out *o, const struct coll_session *s, const struct wr_gpu_index *ix,
                      const struct wr_links *l, const struct records *rs, size_t i, uint64_t base)
{
    const struct coll_gpu *g = &s->gpu[i];
    uint64_t start = start_of(s, ix, g);
    if (!start)
        return;
    uint64_t end = g->end_ns > start ? g->end_ns : start;
    uint64_t ts = start > base ? start - base : 0;
    char buf[256], *demangled;
    const char *label = label_of(g, buf, sizeof buf, &demangled);
    bool overhead = g->kind == COLL_GPU_OVERHEAD;
    uint32_t device = overhead ? 0 : wr_gpu_device(ix, g);
    /* Kineto's tid for a synchronisation of no stream: |-1| */
    uint32_t tid = overhead ? 0 : g->stream == UINT32_MAX ? 1 : g->stream;
    bool instant = g->kind == COLL_GPU_EVENT;
    wr_out_printf(o, ",\n  {\"ph\": \"%s\", \"cat\": \"%s\", \"name\": ",
                  instant ? "i\", \"s\": \"t" : "X", category_of(g));
    wr_json_string(o, label);
    if (overhead)
        wr_out_puts(o, ", \"pid\": -1, \"tid\": 0, \"ts\": ");
    else
        wr_out_printf(o, ", \"pid\": %u, \"tid\": %u, \"ts\": ", device, tid);
    wr_json_us(o, ts);
    if (!instant) {
        wr_out_puts(o, ", \"dur\": ");
        wr_json_us(o, end - start);
    }
    if (overhead) {
        wr_out_puts(o, "}");
        return;
    }
    wr_out_puts(o, ", \"args\": {\"External id\": ");
    wr_out_u64(o, l->gpu_ext[i]);
    if (g->kind == COLL_GPU_SYNC)
        sync_args(o, rs, g);
    if (g->kind == COLL_GPU_EVENT)
        wr_out_printf(o, ", \"event_id\": %" PRId64, id_or_none(g->event_id));
    wr_out_printf(o,
                  ", \"device\": %u, \"context\": %u, \"stream\": %" PRId64 ", \"correlation\": %u",
                  device, g->context, id_or_none(g->stream), g->correlation);
    if (g->kind == COLL_GPU_KERNEL) {
        if (demangled) {
            wr_out_puts(o, ", \"mangled name\": ");
            wr_json_string(o, g->name);
        }
        kernel_args(o, s, g);
    } else if (g->kind == COLL_GPU_MEMCPY || g->kind == COLL_GPU_MEMSET) {
        double ns = (double)(end > start ? end - start : 1);
        wr_out_printf(o, ", \"bytes\": %" PRIu64 ", \"memory bandwidth (GB/s)\": %.6f", g->bytes,
                      (double)g->bytes / ns);
    }
    wr_out_puts(o, "}}");
    free(demangled);
    if (l->flow[i]) { /* the flow's end: the call that made it is in this session */
        wr_out_printf(
            o, ",\n  {\"ph\": \"f\", \"id\": %" PRIu64 ", \"pid\": %u, \"tid\": %u, \"ts\": ",
            l->flow[i], device, tid);
        wr_json_us(o, ts);
        wr_out_puts(o, ", \"cat\": \"ac2g\", \"name\": \"ac2g\", \"bp\": \"e\"}");
    }
}

void wr_gpu_events(struct wr_out *o, const struct coll_session *s, const struct wr_options *opt,
                   const struct wr_gpu_index *ix, const struct wr_links *l, uint64_t base)
{
    (void)opt;
    struct records rs;
    records_build(&rs, s);
    for (size_t i = 0; i < s->n_gpu; i++)
        gpu_event(o, s, ix, l, &rs, i, base);
    free(rs.r);
}

void wr_gpu_flow_start(struct wr_out *o, const struct wr_gpu_index *ix, const struct wr_links *l,
                       const struct wr_options *opt, const struct coll_event *ev, uint64_t base)
{
    const struct wr_corr *c = first(ix->gpu, ix->n_gpu, ev->correlation);
    for (; c && c < ix->gpu + ix->n_gpu && c->correlation == ev->correlation; c++) {
        if (!l->flow[c->index])
            continue;
        wr_out_printf(
            o, ",\n  {\"ph\": \"s\", \"id\": %" PRIu64 ", \"pid\": %d, \"tid\": %d, \"ts\": ",
            l->flow[c->index], opt->pid, ev->tid);
        wr_json_us(o, ev->start_ns > base ? ev->start_ns - base : 0);
        wr_out_puts(o, ", \"cat\": \"ac2g\", \"name\": \"ac2g\"}");
    }
}
