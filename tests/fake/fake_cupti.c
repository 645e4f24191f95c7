/*
 * A fake libcupti.so.13 (tests only): the part of CUPTI omniprof uses —
 * subscription, callbacks on enabled ids, activity records in buffers the
 * client hands out, flushing, dropped counts, the timestamp callback — fed
 * by the fake libcuda and libcudart (fake_tracer.h) with synthetic GPU
 * times: each kernel, copy and memset starts 500 ns after its API call
 * began (after CUPTI's entry callback, as real work is submitted only
 * then), or when the previous work on its stream ended, and lasts a few
 * microseconds.  A CUDA event is reached when the work before it on its
 * stream is done; a synchronisation makes the calling thread wait for the
 * fake GPU as a real one does, and gets its record (CUPTI's
 * SYNCHRONIZATION kind), as do event records (CUDA_EVENT, with the device
 * timestamp when that was enabled).  Correlation ids follow CUPTI: one per
 * outermost API call; the driver calls inside a runtime call share it.
 *
 * FAKE_CUPTI_REFUSE=1: cuptiSubscribe answers
 * CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED, as when the program runs
 * torch.profiler or nsys.  FAKE_CUPTI_BUFFER_RECORDS=N: take at most N
 * records per buffer and let the client's pool run dry (dropped records).
 * FAKE_CUPTI_KERNEL_NS=N: a kernel lasts N ns (plus 10 ns per block;
 * default 2000); FAKE_CUPTI_CALL_NS=N: every traced API call lasts at least
 * N ns, as real ones take microseconds (default 0: as fast as the fake).
 * FAKE_CUPTI_FAIL=CALL[:KIND][,CALL...]: each named call (cuptiGetVersion,
 * cuptiEnableCallback, cuptiActivityEnable, cuptiActivityFlushAll, ...)
 * does nothing and answers CUPTI_ERROR_NOT_SUPPORTED; with :KIND
 * (cuptiActivityEnable:CONCURRENT_KERNEL) only for that activity kind.
 * FAKE_CUPTI_REPORT=FILE: at exit, append what the client was given:
 * "claimed=C kernels=K dropped=D" (C: calls whose entry callback the client
 * answered with nonzero correlationData; K: kernel records in the buffers
 * handed back; D: records dropped for want of a buffer).
 */
#define _GNU_SOURCE
#include <cupti.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fake_tracer.h"

#define EXPORT __attribute__((visibility("default")))

static CUpti_CallbackFunc callback;
static void *callback_data;
static bool subscribed;
static uint8_t enabled_runtime[CUPTI_RUNTIME_TRACE_CBID_SIZE];
static uint8_t enabled_driver[CUPTI_DRIVER_TRACE_CBID_SIZE];
static bool kind_on[64];
static CUpti_BuffersCallbackRequestFunc request;
static CUpti_BuffersCallbackCompleteFunc complete;
static CUpti_TimestampCallbackFunc timestamp_fn;
static bool event_timestamps; /* cuptiActivityEnableCudaEventDeviceTimestamps */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER; /* buffers and streams */
static uint8_t *buf;
static size_t buf_size, buf_used;
static size_t dropped;
static uint64_t stream_end[1 << 16];
static uint64_t device_end;        /* the last work on any stream ends */
static uint64_t event_at[1 << 12]; /* when the GPU reached each event's last record */
static _Atomic uint32_t next_correlation;

static uint64_t kernel_ns = 2000, call_ns; /* FAKE_CUPTI_KERNEL_NS, FAKE_CUPTI_CALL_NS */
/* For FAKE_CUPTI_REPORT: never reset. */
static _Atomic long claimed, kernels_delivered, dropped_total;

static __thread uint32_t t_correlation; /* of the outermost call in progress */
static __thread int t_depth;
static __thread uint64_t t_api_start;

static uint64_t now(void)
{
    if (timestamp_fn)
        return timestamp_fn();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- failures on request (FAKE_CUPTI_FAIL) --------------------------------- */

static const char *kind_name(CUpti_ActivityKind kind)
{
    switch (kind) {
    case CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL: return "CONCURRENT_KERNEL";
    case CUPTI_ACTIVITY_KIND_MEMCPY: return "MEMCPY";
    case CUPTI_ACTIVITY_KIND_MEMSET: return "MEMSET";
    case CUPTI_ACTIVITY_KIND_SYNCHRONIZATION: return "SYNCHRONIZATION";
    case CUPTI_ACTIVITY_KIND_CUDA_EVENT: return "CUDA_EVENT";
    case CUPTI_ACTIVITY_KIND_OVERHEAD: return "OVERHEAD";
    default: return "OTHER";
    }
}

/* Whether FAKE_CUPTI_FAIL names `call` (for `kind`, when given). */
static bool fails(const char *call, const char *kind)
{
    const char *spec = getenv("FAKE_CUPTI_FAIL");
    size_t n = strlen(call);
    for (const char *p = spec ? spec : ""; *p;) {
        size_t len = strcspn(p, ",");
        if (len >= n && strncmp(p, call, n) == 0) {
            if (len == n)
                return true;
            if (p[n] == ':' && kind && len - n - 1 == strlen(kind) &&
                strncmp(p + n + 1, kind, len - n - 1) == 0)
                return true;
        }
        p += len;
        if (*p)
            p++;
    }
    return false;
}

/* Waits until the clock passes `until`: sleeps through long waits, spins
 * through the last 200 us (a sleep lasts at least the timer slack, ~50 us). */
static void wait_until(uint64_t until)
{
    for (uint64_t t = now(); t < until; t = now()) {
        if (until - t > 200000) {
            struct timespec ts = {0, (long)(until - t - 100000)};
            nanosleep(&ts, NULL);
        }
    }
}

/* ---- callbacks ------------------------------------------------------------ */

static void on_api(int domain, int cbid, const char *name, int site, uint64_t *slot,
                   const void *params)
{
    bool outermost = site == 0 && t_depth++ == 0;
    if (outermost)
        t_correlation = atomic_fetch_add(&next_correlation, 1) + 1;
    bool on = domain == CUPTI_CB_DOMAIN_RUNTIME_API
                  ? cbid < CUPTI_RUNTIME_TRACE_CBID_SIZE && enabled_runtime[cbid]
                  : cbid < CUPTI_DRIVER_TRACE_CBID_SIZE && enabled_driver[cbid];
    if (on && callback) {
        CUpti_CallbackData cb = {
            .callbackSite = site == 0 ? CUPTI_API_ENTER : CUPTI_API_EXIT,
            .functionName = name,
            .functionParams = params,
            .correlationData = slot,
            .correlationId = t_correlation,
        };
        callback(callback_data, (CUpti_CallbackDomain)domain, (CUpti_CallbackId)cbid, &cb);
        if (site == 0 && *slot)
            atomic_fetch_add_explicit(&claimed, 1, memory_order_relaxed);
    }
    /* the call's work is submitted after the entry callbacks have run */
    if (outermost)
        t_api_start = now();
    if (outermost && call_ns)
        wait_until(t_api_start + call_ns); /* before the call's work: it is the call's cost */
    if (site == 1)
        t_depth--;
}

/* ---- activity ---------------------------------------------------------------- */

static size_t record_size(CUpti_ActivityKind kind)
{
    switch (kind) {
    case CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL:
    case CUPTI_ACTIVITY_KIND_KERNEL: return sizeof(CUpti_ActivityKernel10);
    case CUPTI_ACTIVITY_KIND_MEMCPY: return sizeof(CUpti_ActivityMemcpy6);
    case CUPTI_ACTIVITY_KIND_MEMSET: return sizeof(CUpti_ActivityMemset4);
    case CUPTI_ACTIVITY_KIND_SYNCHRONIZATION: return sizeof(CUpti_ActivitySynchronization2);
    case CUPTI_ACTIVITY_KIND_CUDA_EVENT: return sizeof(CUpti_ActivityCudaEvent2);
    default: return 0;
    }
}

/* Full buffers wait here until a flush, as CUPTI may keep them. */
static struct {
    uint8_t *buf;
    size_t size, used;
} held[64];
static int n_held;

static void hand_back(void)
{
    if (buf && complete)
        complete(NULL, 0, buf, buf_size, buf_used);
    buf = NULL;
    buf_size = buf_used = 0;
}

static void hold(void)
{
    if (n_held < 64 && getenv("FAKE_CUPTI_BUFFER_RECORDS")) {
        held[n_held].buf = buf, held[n_held].size = buf_size, held[n_held++].used = buf_used;
        buf = NULL;
        buf_size = buf_used = 0;
    } else {
        hand_back();
    }
}

/* Room for one record of `size` in the current buffer; NULL: dropped. */
static void *reserve(size_t size)
{
    if (buf && buf_used + size > buf_size)
        hold();
    if (!buf) {
        size_t max = 0;
        if (request)
            request(&buf, &buf_size, &max);
        buf_used = 0;
        const char *limit = getenv("FAKE_CUPTI_BUFFER_RECORDS");
        if (buf && limit && atoi(limit) > 0 && (size_t)atoi(limit) * size < buf_size)
            buf_size = (size_t)atoi(limit) * size;
        if (!buf || buf_size < size) {
            buf = NULL;
            dropped++;
            atomic_fetch_add_explicit(&dropped_total, 1, memory_order_relaxed);
            return NULL;
        }
    }
    void *p = buf + buf_used;
    buf_used += size;
    memset(p, 0, size);
    return p;
}

/* When GPU work on a stream starts and ends (lock held). */
static void schedule(uint32_t stream, uint64_t dur, uint64_t *start, uint64_t *end)
{
    uint64_t ready = t_api_start + 500;
    uint64_t *last = &stream_end[stream & 0xffff];
    *start = ready > *last ? ready : *last;
    *end = *start + dur;
    *last = *end;
    if (*end > device_end)
        device_end = *end;
}

static void on_kernel(const char *name, const uint32_t grid[3], const uint32_t block[3],
                      uint32_t dynamic_shared, uint32_t stream, int registers, int static_shared,
                      const uint32_t cluster[3], uint32_t graph_id)
{
    if (!kind_on[CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL])
        return;
    pthread_mutex_lock(&lock);
    CUpti_ActivityKernel10 *k = reserve(sizeof *k);
    if (k) {
        k->kind = CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL;
        uint64_t blocks = (uint64_t)grid[0] * grid[1] * grid[2];
        schedule(stream, kernel_ns + 10 * blocks, &k->start, &k->end);
        k->deviceId = 0;
        k->contextId = 1;
        k->streamId = stream;
        k->gridX = (int32_t)grid[0], k->gridY = (int32_t)grid[1], k->gridZ = (int32_t)grid[2];
        k->blockX = (int32_t)block[0], k->blockY = (int32_t)block[1], k->blockZ = (int32_t)block[2];
        k->dynamicSharedMemory = (int32_t)dynamic_shared;
        k->staticSharedMemory = static_shared;
        k->registersPerThread = (uint16_t)registers;
        k->correlationId = t_correlation;
        k->name = name;
        k->clusterX = cluster[0], k->clusterY = cluster[1], k->clusterZ = cluster[2];
        k->graphId = graph_id;
    }
    pthread_mutex_unlock(&lock);
}

static void on_memcpy(int copy_kind, int src_kind, int dst_kind, uint64_t bytes, uint32_t stream)
{
    if (!kind_on[CUPTI_ACTIVITY_KIND_MEMCPY])
        return;
    pthread_mutex_lock(&lock);
    CUpti_ActivityMemcpy6 *m = reserve(sizeof *m);
    if (m) {
        m->kind = CUPTI_ACTIVITY_KIND_MEMCPY;
        m->copyKind = (uint8_t)copy_kind;
        m->srcKind = (uint8_t)src_kind;
        m->dstKind = (uint8_t)dst_kind;
        m->bytes = bytes;
        schedule(stream, 1000 + bytes / 10, &m->start, &m->end);
        m->deviceId = 0;
        m->contextId = 1;
        m->streamId = stream;
        m->correlationId = t_correlation;
    }
    uint64_t done = m ? m->end : 0;
    pthread_mutex_unlock(&lock);
    wait_until(done); /* the fake driver's copies are synchronous */
}

static void on_memset(uint32_t value, uint64_t bytes, uint32_t stream)
{
    if (!kind_on[CUPTI_ACTIVITY_KIND_MEMSET])
        return;
    pthread_mutex_lock(&lock);
    CUpti_ActivityMemset4 *m = reserve(sizeof *m);
    if (m) {
        m->kind = CUPTI_ACTIVITY_KIND_MEMSET;
        m->value = value;
        m->bytes = bytes;
        schedule(stream, 800 + bytes / 20, &m->start, &m->end);
        m->deviceId = 0;
        m->contextId = 1;
        m->streamId = stream;
        m->correlationId = t_correlation;
        m->memoryKind = CUPTI_ACTIVITY_MEMORY_KIND_DEVICE;
    }
    pthread_mutex_unlock(&lock);
}

static void on_event_record(uint32_t event, uint32_t stream)
{
    pthread_mutex_lock(&lock);
    uint64_t ready = t_api_start + 500, last = stream_end[stream & 0xffff];
    uint64_t reached = ready > last ? ready : last; /* after the work before it */
    event_at[event & 0xfff] = reached;
    CUpti_ActivityCudaEvent2 *e =
        kind_on[CUPTI_ACTIVITY_KIND_CUDA_EVENT] ? reserve(sizeof *e) : NULL;
    if (e) {
        e->kind = CUPTI_ACTIVITY_KIND_CUDA_EVENT;
        e->correlationId = t_correlation;
        e->contextId = 1;
        e->streamId = stream;
        e->eventId = event;
        e->deviceId = 0;
        e->deviceTimestamp = event_timestamps ? reached : 0;
    }
    pthread_mutex_unlock(&lock);
}

static void on_sync(int type, uint32_t stream, uint32_t event)
{
    pthread_mutex_lock(&lock);
    uint64_t until = type == CUPTI_ACTIVITY_SYNCHRONIZATION_TYPE_EVENT_SYNCHRONIZE
                         ? event_at[event & 0xfff]
                     : type == CUPTI_ACTIVITY_SYNCHRONIZATION_TYPE_STREAM_SYNCHRONIZE
                         ? stream_end[stream & 0xffff]
                     : type == CUPTI_ACTIVITY_SYNCHRONIZATION_TYPE_CONTEXT_SYNCHRONIZE ? device_end
                                                                                       : 0;
    if (type == CUPTI_ACTIVITY_SYNCHRONIZATION_TYPE_STREAM_WAIT_EVENT &&
        event_at[event & 0xfff] > stream_end[stream & 0xffff])
        stream_end[stream & 0xffff] = event_at[event & 0xfff]; /* the GPU waits, not the host */
    pthread_mutex_unlock(&lock);
    uint64_t start = t_api_start + 100;
    wait_until(until > start ? until : start);
    uint64_t end = now();
    if (!kind_on[CUPTI_ACTIVITY_KIND_SYNCHRONIZATION])
        return;
    pthread_mutex_lock(&lock);
    CUpti_ActivitySynchronization2 *y = reserve(sizeof *y);
    if (y) {
        y->kind = CUPTI_ACTIVITY_KIND_SYNCHRONIZATION;
        y->type = (CUpti_ActivitySynchronizationType)type;
        y->start = start;
        y->end = end;
        y->correlationId = t_correlation;
        y->contextId = 1;
        y->streamId = stream;
        y->cudaEventId = event ? event : CUPTI_SYNCHRONIZATION_INVALID_VALUE;
        y->cudaEventSyncId = CUPTI_SYNCHRONIZATION_INVALID_VALUE;
    }
    pthread_mutex_unlock(&lock);
}

static const struct fake_tracer tracer = {on_api,    on_kernel,       on_memcpy,
                                          on_memset, on_event_record, on_sync};

/* ---- what the client was given (FAKE_CUPTI_REPORT) ------------------------------ */

static CUpti_BuffersCallbackCompleteFunc client_complete;

/* Counts the kernel records of each buffer handed back. */
static void CUPTIAPI counting_complete(CUcontext ctx, uint32_t stream, uint8_t *buffer, size_t size,
                                       size_t valid)
{
    long n = 0;
    for (size_t at = 0, step; at + sizeof(CUpti_Activity) <= valid; at += step) {
        const CUpti_Activity *rec = (const void *)(buffer + at);
        if (!(step = record_size(rec->kind)))
            break;
        n += rec->kind == CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL;
    }
    atomic_fetch_add_explicit(&kernels_delivered, n, memory_order_relaxed);
    client_complete(ctx, stream, buffer, size, valid);
}

/* A destructor: after omniprof's exit work, so the counts are final. */
__attribute__((destructor)) static void report(void)
{
    const char *path = getenv("FAKE_CUPTI_REPORT");
    FILE *f = path ? fopen(path, "a") : NULL;
    if (!f)
        return;
    fprintf(f, "claimed=%ld kernels=%ld dropped=%ld\n", atomic_load(&claimed),
            atomic_load(&kernels_delivered), atomic_load(&dropped_total));
    fclose(f);
}

/* ---- the API ------------------------------------------------------------------ */

EXPORT CUptiResult cuptiGetVersion(uint32_t *version)
{
    if (fails("cuptiGetVersion", NULL))
        return CUPTI_ERROR_NOT_SUPPORTED;
    *version = CUPTI_API_VERSION;
    return CUPTI_SUCCESS;
}

EXPORT CUptiResult cuptiGetResultString(CUptiResult r, const char **s)
{
    *s = r == CUPTI_SUCCESS ? "CUPTI_SUCCESS"
         : r == CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED
             ? "CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED"
         : r == CUPTI_ERROR_NOT_SUPPORTED ? "CUPTI_ERROR_NOT_SUPPORTED"
                                          : "CUPTI_ERROR_UNKNOWN";
    return CUPTI_SUCCESS;
}

EXPORT CUptiResult cuptiSubscribe(CUpti_SubscriberHandle *s, CUpti_CallbackFunc fn, void *data)
{
    if (fails("cuptiSubscribe", NULL))
        return CUPTI_ERROR_NOT_SUPPORTED;
    const char *refuse = getenv("FAKE_CUPTI_REFUSE");
    if ((refuse && *refuse == '1') || subscribed)
        return CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED;
    void *cuda = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
    void (*set)(const struct fake_tracer *) = cuda ? dlsym(cuda, "fake_cuda_set_tracer") : NULL;
    if (!set)
        return CUPTI_ERROR_NOT_INITIALIZED;
    const char *k = getenv("FAKE_CUPTI_KERNEL_NS"), *c = getenv("FAKE_CUPTI_CALL_NS");
    if (k && atoll(k) > 0)
        kernel_ns = (uint64_t)atoll(k);
    if (c && atoll(c) > 0)
        call_ns = (uint64_t)atoll(c);
    set(&tracer);
    subscribed = true;
    callback = fn;
    callback_data = data;
    *s = (CUpti_SubscriberHandle)&callback;
    return CUPTI_SUCCESS;
}

EXPORT CUptiResult cuptiUnsubscribe(CUpti_SubscriberHandle s)
{
    (void)s;
    if (fails("cuptiUnsubscribe", NULL))
        return CUPTI_ERROR_NOT_SUPPORTED;
    subscribed = false;
    callback = NULL;
    return CUPTI_SUCCESS;
}

EXPORT CUptiResult cuptiEnableCallback(uint32_t enable, CUpti_SubscriberHandle s,
                                       CUpti_CallbackDomain domain, CUpti_CallbackId cbid)
{
    (void)s;
    if (fails("cuptiEnableCallback", NULL))
        return CUPTI_ERROR_NOT_SUPPORTED;
    if (domain == CUPTI_CB_DOMAIN_RUNTIME_API && cbid < CUPTI_RUNTIME_TRACE_CBID_SIZE)
        enabled_runtime[cbid] = (uint8_t)enable;
    else if (domain == CUPTI_CB_DOMAIN_DRIVER_API && cbid < CUPTI_DRIVER_TRACE_CBID_SIZE)
        enabled_driver[cbid] = (uint8_t)enable;
    else
        return CUPTI_ERROR_INVALID_PARAMETER;
    return CUPTI_SUCCESS;
}

/* Names of the ids the fakes report, as CUPTI gives them. */
static const struct {
    int domain, cbid;
    const char *name;
} cb_names[] = {
/* a table, several names a line */
/* clang-format off */
#define D(n) {CUPTI_CB_DOMAIN_DRIVER_API, CUPTI_DRIVER_TRACE_CBID_##n, #n}
#define R(n, v) {CUPTI_CB_DOMAIN_RUNTIME_API, CUPTI_RUNTIME_TRACE_CBID_##n##_##v, #n}
    D(cuLaunchKernel), D(cuLaunchKernel_ptsz), D(cuLaunchKernelEx), D(cuLaunchKernelEx_ptsz),
    D(cuLaunchCooperativeKernel), D(cuLaunchCooperativeKernel_ptsz), D(cuGraphLaunch),
    D(cuGraphLaunch_ptsz), D(cuMemcpyHtoD_v2), D(cuMemcpyDtoH_v2), D(cuMemcpyDtoD_v2),
    D(cuMemsetD8_v2), D(cuMemsetD32_v2), D(cuCtxSynchronize), D(cuStreamSynchronize),
    D(cuMemAlloc_v2), D(cuMemFree_v2), D(cuEventRecord), D(cuEventSynchronize),
    D(cuStreamWaitEvent),
    R(cudaLaunchKernel, v7000), R(cudaLaunchKernelExC, v11060), R(cudaGraphLaunch, v10000),
    R(cudaDeviceSynchronize, v3020), R(cudaMalloc, v3020), R(cudaFree, v3020),
    R(cudaStreamSynchronize, v3020), R(cudaEventRecord, v3020), R(cudaEventSynchronize, v3020),
    R(cudaStreamWaitEvent, v3020),
#undef D
#undef R
    /* clang-format on */
};

EXPORT CUptiResult cuptiGetCallbackName(CUpti_CallbackDomain domain, uint32_t cbid,
                                        const char **name)
{
    *name = NULL;
    if (fails("cuptiGetCallbackName", NULL))
        return CUPTI_ERROR_NOT_SUPPORTED;
    for (size_t i = 0; i < sizeof cb_names / sizeof cb_names[0]; i++)
        if (cb_names[i].domain == (int)domain && cb_names[i].cbid == (int)cbid) {
            *name = cb_names[i].name;
            return CUPTI_SUCCESS;
        }
    *name = NULL;
    return CUPTI_ERROR_INVALID_PARAMETER;
}

EXPORT CUptiResult cuptiActivityEnable(CUpti_ActivityKind kind)
{
    if (fails("cuptiActivityEnable", kind_name(kind)))
        return CUPTI_ERROR_NOT_SUPPORTED;
    if ((int)kind < 0 || (int)kind >= 64)
        return CUPTI_ERROR_INVALID_KIND;
    kind_on[kind] = true;
    return CUPTI_SUCCESS;
}

EXPORT CUptiResult cuptiActivityDisable(CUpti_ActivityKind kind)
{
    if (fails("cuptiActivityDisable", kind_name(kind)))
        return CUPTI_ERROR_NOT_SUPPORTED;
    if ((int)kind < 0 || (int)kind >= 64)
        return CUPTI_ERROR_INVALID_KIND;
    kind_on[kind] = false;
    return CUPTI_SUCCESS;
}

EXPORT CUptiResult cuptiActivityRegisterCallbacks(CUpti_BuffersCallbackRequestFunc req,
                                                  CUpti_BuffersCallbackCompleteFunc done)
{
    if (fails("cuptiActivityRegisterCallbacks", NULL))
        return CUPTI_ERROR_NOT_SUPPORTED;
    request = req;
    client_complete = done;
    complete = done ? counting_complete : NULL;
    return CUPTI_SUCCESS;
}

EXPORT CUptiResult cuptiActivityRegisterTimestampCallback(CUpti_TimestampCallbackFunc fn)
{
    if (fails("cuptiActivityRegisterTimestampCallback", NULL))
        return CUPTI_ERROR_NOT_SUPPORTED;
    timestamp_fn = fn;
    return CUPTI_SUCCESS;
}

EXPORT CUptiResult cuptiActivityEnableCudaEventDeviceTimestamps(uint8_t enable)
{
    if (fails("cuptiActivityEnableCudaEventDeviceTimestamps", NULL))
        return CUPTI_ERROR_NOT_SUPPORTED;
    event_timestamps = enable != 0;
    return CUPTI_SUCCESS;
}

EXPORT CUptiResult cuptiActivityFlushAll(uint32_t flag)
{
    (void)flag;
    if (fails("cuptiActivityFlushAll", NULL))
        return CUPTI_ERROR_NOT_SUPPORTED;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < n_held; i++)
        if (complete)
            complete(NULL, 0, held[i].buf, held[i].size, held[i].used);
    n_held = 0;
    hand_back();
    pthread_mutex_unlock(&lock);
    return CUPTI_SUCCESS;
}

EXPORT CUptiResult cuptiActivityGetNextRecord(uint8_t *buffer, size_t valid, CUpti_Activity **rec)
{
    if (fails("cuptiActivityGetNextRecord", NULL))
        return CUPTI_ERROR_NOT_SUPPORTED;
    uint8_t *p = *rec ? (uint8_t *)*rec + record_size((*rec)->kind) : buffer;
    if (p + sizeof(CUpti_Activity) > buffer + valid ||
        record_size(((CUpti_Activity *)p)->kind) == 0)
        return CUPTI_ERROR_MAX_LIMIT_REACHED;
    *rec = (CUpti_Activity *)p;
    return CUPTI_SUCCESS;
}

EXPORT CUptiResult cuptiActivityGetNumDroppedRecords(CUcontext ctx, uint32_t stream, size_t *n)
{
    (void)ctx, (void)stream;
    if (fails("cuptiActivityGetNumDroppedRecords", NULL))
        return CUPTI_ERROR_NOT_SUPPORTED;
    pthread_mutex_lock(&lock);
    *n = dropped;
    dropped = 0; /* as CUPTI: the count since the last call */
    pthread_mutex_unlock(&lock);
    return CUPTI_SUCCESS;
}
