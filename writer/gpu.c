/*
 * The GPU side of the trace, from CUPTI activity: Kineto's kernel,
 * gpu_memcpy and gpu_memset events under pid = device and tid = stream,
 * their process/thread names, deviceProperties, and the ac2g flow events
 * that link each host API call to the GPU work it made (by correlation id:
 * "s" on the call, "f" with bp "e" on each GPU event; a graph launch links
 * to every kernel of the graph).
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
    for (size_t i = 0; i < s->n_gpu; i++)
        if (s->gpu[i].correlation)
            ix->gpu[ix->n_gpu++] = (struct wr_corr){s->gpu[i].correlation, i};
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

void wr_gpu_metadata(struct wr_out *o, const struct coll_session *s, uint64_t ts)
{
    uint64_t *keys = malloc((s->n_gpu ? s->n_gpu : 1) * sizeof *keys);
    if (!keys)
        return;
    size_t n = 0;
    for (size_t i = 0; i < s->n_gpu; i++)
        if (s->gpu[i].kind != COLL_GPU_OVERHEAD)
            keys[n++] = (uint64_t)s->gpu[i].device << 32 | s->gpu[i].stream;
    qsort(keys, n, sizeof *keys, by_device_stream);
    int64_t last_device = -1;
    for (size_t i = 0; i < n; i++) {
        if (i && keys[i] == keys[i - 1])
            continue;
        int device = (int)(keys[i] >> 32), stream = (int)(keys[i] & 0xffffffffu);
        if (device != last_device) {
            last_device = device;
            wr_out_printf(o, ",\n  {\"name\": \"process_name\", \"ph\": \"M\", \"ts\": ");
            wr_json_us(o, ts);
            const char *named = wr_nvtx_device_name((uint32_t)device);
            char label[192];
            if (named)
                snprintf(label, sizeof label, "GPU %d (%s)", device, named);
            else
                snprintf(label, sizeof label, "GPU %d", device);
            wr_out_printf(o, ", \"pid\": %d, \"tid\": 0, \"args\": {\"name\": ", device);
            wr_json_string(o, label);
            wr_out_puts(o, "}}");
            wr_out_printf(o, ",\n  {\"name\": \"process_labels\", \"ph\": \"M\", \"ts\": ");
            wr_json_us(o, ts);
            wr_out_printf(o, ", \"pid\": %d, \"tid\": 0, \"args\": {\"labels\": \"GPU %d\"}}", device,
                          device);
        }
        wr_out_printf(o, ",\n  {\"name\": \"thread_name\", \"ph\": \"M\", \"ts\": ");
        wr_json_us(o, ts);
        char label[192];
        snprintf(label, sizeof label, "stream %d %s", stream,
                 wr_nvtx_stream_name((uint32_t)stream));
        wr_out_printf(o, ", \"pid\": %d, \"tid\": %d, \"args\": {\"name\": ", device, stream);
        wr_json_string(o, label);
        wr_out_puts(o, "}}");
        wr_out_printf(o, ",\n  {\"name\": \"thread_sort_index\", \"ph\": \"M\", \"ts\": ");
        wr_json_us(o, ts);
        wr_out_printf(o, ", \"pid\": %d, \"tid\": %d, \"args\": {\"sort_index\": %d}}", device,
                      stream, stream);
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
        wr_out_printf(o, ", \"blocks per SM\": %.6f, \"warps per SM\": %.6f, "
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

void wr_gpu_events(struct wr_out *o, const struct coll_session *s, const struct wr_options *opt,
                   const struct wr_gpu_index *ix, uint64_t base)
{
    char name[256];
    for (size_t i = 0; i < s->n_gpu; i++) {
        const struct coll_gpu *g = &s->gpu[i];
        if (g->kind == COLL_GPU_SYNC)
            continue;
        const char *cat = g->kind == COLL_GPU_KERNEL   ? "kernel"
                          : g->kind == COLL_GPU_MEMCPY ? "gpu_memcpy"
                          : g->kind == COLL_GPU_MEMSET ? "gpu_memset"
                                                       : "overhead";
        const char *label = g->name;
        char *demangled = NULL;
        if (g->kind == COLL_GPU_MEMCPY || g->kind == COLL_GPU_MEMSET) {
            coll_gpu_copy_name(g, name, sizeof name);
            label = name;
        } else if (g->kind == COLL_GPU_KERNEL) {
            demangled = coll_demangle(g->name);
            label = demangled ? demangled : g->name;
        }
        int pid = g->kind == COLL_GPU_OVERHEAD ? -1 : (int)g->device;
        int tid = g->kind == COLL_GPU_OVERHEAD ? 0 : (int)g->stream;
        wr_out_printf(o, ",\n  {\"ph\": \"X\", \"cat\": \"%s\", \"name\": ", cat);
        wr_json_string(o, label ? label : "?");
        wr_out_printf(o, ", \"pid\": %d, \"tid\": %d, \"ts\": ", pid, tid);
        wr_json_us(o, g->start_ns - base);
        wr_out_puts(o, ", \"dur\": ");
        wr_json_us(o, g->end_ns > g->start_ns ? g->end_ns - g->start_ns : 0);
        if (g->kind == COLL_GPU_OVERHEAD) {
            wr_out_puts(o, "}");
            free(demangled);
            continue;
        }
        wr_out_printf(o, ", \"args\": {\"device\": %u, \"context\": %u, \"stream\": %u, "
                         "\"correlation\": %u",
                      g->device, g->context, g->stream, g->correlation);
        if (g->kind == COLL_GPU_KERNEL) {
            if (demangled) {
                wr_out_puts(o, ", \"mangled name\": ");
                wr_json_string(o, g->name);
            }
            kernel_args(o, s, g);
        } else {
            double ns = (double)(g->end_ns > g->start_ns ? g->end_ns - g->start_ns : 1);
            wr_out_printf(o, ", \"bytes\": %" PRIu64 ", \"memory bandwidth (GB/s)\": %.6f",
                          g->bytes, (double)g->bytes / ns);
        }
        wr_out_puts(o, "}}");
        free(demangled);
        /* the flow's end, when the call that made it is in this session */
        const struct coll_event *api = wr_api_of(ix, s, g->correlation);
        if (api) {
            wr_out_printf(o, ",\n  {\"ph\": \"f\", \"id\": %u, \"pid\": %d, \"tid\": %d, \"ts\": ",
                          g->correlation, pid, tid);
            wr_json_us(o, g->start_ns - base);
            wr_out_puts(o, ", \"cat\": \"ac2g\", \"name\": \"ac2g\", \"bp\": \"e\"}");
        }
    }
    (void)opt;
}

void wr_gpu_flow_start(struct wr_out *o, const struct coll_session *s,
                       const struct wr_gpu_index *ix, const struct wr_options *opt,
                       const struct coll_event *ev, uint64_t base)
{
    if (!wr_gpu_of(ix, s, ev->correlation))
        return;
    wr_out_printf(o, ",\n  {\"ph\": \"s\", \"id\": %" PRIu64 ", \"pid\": %d, \"tid\": %d, \"ts\": ",
                  ev->correlation, opt->pid, ev->tid);
    wr_json_us(o, ev->start_ns - base);
    wr_out_puts(o, ", \"cat\": \"ac2g\", \"name\": \"ac2g\"}");
}
