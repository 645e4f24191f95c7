/*
 * CUPTI: what ran on the GPU, when, on which stream, and which host call
 * caused it.  CUPTI is loaded with dlopen (never linked), subscribed once,
 * and used only while a session records:
 *   - callbacks on the launch, copy, memset, synchronisation and event
 *     record calls of the runtime and driver APIs (only those: each enabled
 *     id costs time on every call) give the host API events, with CUPTI's
 *     correlation id; a driver call made inside a runtime call is the same
 *     call, not another;
 *   - activity records (kernels, copies, memsets, synchronisations, CUDA
 *     event records, overheads) give the GPU events, stamped with
 *     omniprof's clock through cuptiActivityRegisterTimestampCallback.
 *
 * Memory is bounded whatever the program does:
 *   - activity buffers (4 MiB each, cupti_buffer_size in all, 2 to 32 of
 *     them) come from a fixed pool handed out lock-free; when it is empty
 *     CUPTI drops records (and counts them): an application thread never
 *     waits for omniprof;
 *   - the API events are records in the event buffers (buffer_size), like
 *     every other event;
 *   - completed buffers are parsed on CUPTI's thread (or the flushing one)
 *     into the session's GPU store, one allocation made when the session
 *     begins and never grown: it holds at most
 *         buffer_size MiB / sizeof(struct coll_gpu) records
 *     (128 bytes each today: 8192 per MiB), so a session's GPU records take
 *     no more memory than its events may.  Records beyond it are counted
 *     (dropped_gpu_records_buffer_size) and warned about once per session,
 *     naming buffer_size.  Pages are resident only as records fill them;
 *     the store is freed when the session has been written.
 * So omniprof's CUPTI path holds at most buffer_size (events) + buffer_size
 * (GPU records) + the activity pool, plus one string per distinct kernel
 * name, and while a session is written the writer's indexes of it (24
 * bytes per event, 16 per GPU record: under 0.4 x buffer_size).
 *
 * Which session a record belongs to, so that nothing is written twice,
 * nothing lands in another session's file and nothing is lost uncounted.
 * A session's CUPTI part opens (coll_cupti_begin, at the gate's BEGIN,
 * before recording is on) at a time T, and closes at its collection, when
 * cuptiActivityFlushAll has returned:
 *   - an API call belongs to the session that was recording when it began
 *     (its entry callback took it), and is written if it also ends while
 *     that session records.  Every call taken is counted on its thread
 *     (coll_record_take_call); at collection the calls taken since the
 *     last one, less those written, are dropped_api_events: calls whose
 *     record found the event buffers full, calls that ended after their
 *     session (or in a later one: they began before its T, so they are not
 *     written there), and calls whose end CUPTI never reported because the
 *     callbacks were turned off with the session;
 *   - a GPU record belongs to the session that is open when CUPTI hands it
 *     over, if it started at or after that session's T: the records of a
 *     session's work in flight at its stop come with the flush at its
 *     collection.  A record that arrives while no session is open (CUPTI
 *     kept it past that flush), or that started before the open session
 *     began (an earlier session's, or one CUPTI could not time), is not
 *     written: it is counted in dropped_gpu_records_outside.
 * The trace's dropped_gpu_records is the sum of _cupti_buffer_size
 * (CUPTI's own drops), _buffer_size and _outside.  A file's counts cover
 * the time since the previous collection: what is counted after a session
 * was collected is in the next session's file (and what is counted after
 * the process's last collection in none).  Summed over a process's files,
 * every call omniprof took at its entry and every record CUPTI handed over
 * is written once or counted once.
 *
 * Threading: coll_cupti_setup runs on the control or first-start thread;
 * begin/end from the gate; callbacks on application threads (record path
 * rules); buffer completion on CUPTI's threads (store_lock).
 */
#define _GNU_SOURCE
#include <cupti.h>
#include <dlfcn.h>
#include <errno.h>
#include <glob.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MAX_BUFFERS 32
#define BUFFER_BYTES (4u << 20)

_Atomic int coll_cupti_active;

/* The CUPTI functions omniprof calls, found with dlsym (see entries[]). */
struct cupti_api {
    CUptiResult (*GetVersion)(uint32_t *);
    CUptiResult (*GetResultString)(CUptiResult, const char **);
    CUptiResult (*Subscribe)(CUpti_SubscriberHandle *, CUpti_CallbackFunc, void *);
    CUptiResult (*Unsubscribe)(CUpti_SubscriberHandle);
    CUptiResult (*EnableCallback)(uint32_t, CUpti_SubscriberHandle, CUpti_CallbackDomain,
                                  CUpti_CallbackId);
    CUptiResult (*GetCallbackName)(CUpti_CallbackDomain, uint32_t, const char **);
    CUptiResult (*ActivityEnable)(CUpti_ActivityKind);
    CUptiResult (*ActivityDisable)(CUpti_ActivityKind);
    CUptiResult (*ActivityRegisterCallbacks)(CUpti_BuffersCallbackRequestFunc,
                                             CUpti_BuffersCallbackCompleteFunc);
    CUptiResult (*ActivityRegisterTimestampCallback)(CUpti_TimestampCallbackFunc);
    CUptiResult (*ActivityFlushAll)(uint32_t);
    CUptiResult (*ActivityGetNextRecord)(uint8_t *, size_t, CUpti_Activity **);
    CUptiResult (*ActivityGetNumDroppedRecords)(CUcontext, uint32_t, size_t *);
    CUptiResult (*ActivityEnableCudaEventDeviceTimestamps)(uint8_t);
};
static struct cupti_api api;

/* Which of them a usable libcupti must have. */
static const struct {
    const char *name;
    size_t offset;
    bool required;
} entries[] = {
#define ENTRY(fn, required)                                                                        \
    {                                                                                              \
        "cupti" #fn, offsetof(struct cupti_api, fn), required                                      \
    }
    ENTRY(GetVersion, true),
    ENTRY(GetResultString, false),
    ENTRY(Subscribe, true),
    ENTRY(Unsubscribe, false),
    ENTRY(EnableCallback, true),
    ENTRY(GetCallbackName, true),
    ENTRY(ActivityEnable, true),
    ENTRY(ActivityDisable, true),
    ENTRY(ActivityRegisterCallbacks, true),
    ENTRY(ActivityRegisterTimestampCallback, false),
    ENTRY(ActivityFlushAll, true),
    ENTRY(ActivityGetNextRecord, true),
    ENTRY(ActivityGetNumDroppedRecords, true),
    ENTRY(ActivityEnableCudaEventDeviceTimestamps, false),
#undef ENTRY
};

static pthread_mutex_t setup_lock = PTHREAD_MUTEX_INITIALIZER;
static int setup_state; /* 0 not tried, 1 ready, < 0 failed or given up (warned): -errno */
static CUpti_SubscriberHandle subscriber;
static uint32_t cupti_version; /* cuptiGetVersion's answer, once ready */

/* Which callback ids are ours, whether they take a host stack, and which
 * launch a graph (their first parameter, the graph exec, is kept). */
enum { CB_TRACED = 1, CB_STACK = 2, CB_GRAPH = 4 };
static uint8_t runtime_cb[CUPTI_RUNTIME_TRACE_CBID_SIZE];
static uint8_t driver_cb[CUPTI_DRIVER_TRACE_CBID_SIZE];

static uint8_t *buffers[MAX_BUFFERS];
static int n_buffers;                 /* cupti_buffer_size / 4 MiB, set once */
static _Atomic uint32_t buffers_busy; /* one bit per buffer handed to CUPTI */

/* Guarded by store_lock: the open session's GPU records (the banner says
 * which are its), what was not kept since the last collection, and names. */
static pthread_mutex_t store_lock = PTHREAD_MUTEX_INITIALIZER;
static bool store_open;        /* from coll_cupti_begin to the collection */
static struct coll_gpu *store; /* NULL while open: it could not be allocated */
static size_t n_store, store_max;
static uint64_t over_cap, outside;
/* kernel names, once each: open addressing (a power of two of slots, at
 * most half full); a program compiled by Triton or torch.compile has
 * thousands of distinct kernels, and every record looks its name up */
static char **names;
static size_t n_names, cap_names;

/* When the open (or last) session's CUPTI part opened: what began before
 * is not its.  Written under store_lock, read by callbacks too. */
static _Atomic uint64_t open_ns;

static __thread int t_runtime_depth __attribute__((tls_model("initial-exec")));

/* ---- loading ------------------------------------------------------------- */

static void *try_open(const char *path)
{
    return dlopen(path, RTLD_NOW | RTLD_LOCAL);
}

/* DESIGN.md's order: the configured path, the loader, the toolkits, beside
 * libcudart. */
static void *open_cupti(const char *path, char *tried, size_t cap)
{
    void *h = NULL;
    if (path && *path) {
        /* a path the user named is the only one tried */
        if (!(h = try_open(path)))
            snprintf(tried, cap, "cupti_path %s: %s", path, dlerror());
        return h;
    }
    static const char *const sonames[] = {"libcupti.so.13", "libcupti.so"};
    for (size_t i = 0; !h && i < sizeof sonames / sizeof *sonames; i++)
        h = try_open(sonames[i]);
    const char *home = getenv("CUDA_HOME");
    char pattern[4096];
    static const char *const under[] = {"lib64", "extras/CUPTI/lib64", "targets/*/lib"};
    const char *roots[] = {home && *home ? home : NULL, "/usr/local/cuda", "/usr/local/cuda-*"};
    for (size_t r = 0; !h && r < 3; r++) {
        for (size_t u = 0; !h && roots[r] && u < 3; u++) {
            snprintf(pattern, sizeof pattern, "%s/%s/libcupti.so.13*", roots[r], under[u]);
            glob_t g;
            if (glob(pattern, 0, NULL, &g) == 0) {
                for (size_t k = 0; !h && k < g.gl_pathc; k++)
                    h = try_open(g.gl_pathv[k]);
                globfree(&g);
            }
        }
    }
    Dl_info info;
    void *rt = dlsym(RTLD_DEFAULT, "cudaGetDriverEntryPointByVersion");
    if (!h && rt && dladdr(rt, &info) && info.dli_fname) {
        const char *slash = strrchr(info.dli_fname, '/');
        if (slash) {
            snprintf(pattern, sizeof pattern, "%.*s/libcupti.so.13", (int)(slash - info.dli_fname),
                     info.dli_fname);
            h = try_open(pattern);
        }
    }
    return h;
}

static const char *result_text(CUptiResult r)
{
    const char *s = NULL;
    if (!api.GetResultString || api.GetResultString(r, &s) != CUPTI_SUCCESS || !s)
        return "unknown CUPTI error";
    return s;
}

/* The one warning for a CUPTI call that failed, given once per `warned`
 * flag: "omniprof: cupti: <call> failed: <CUPTI's text> (error N); <what
 * omniprof does without it>". */
static void warn_failed(atomic_bool *warned, const char *call, CUptiResult r,
                        const char *consequence)
{
    if (atomic_exchange(warned, true))
        return;
    coll_log(COLL_LOG_WARN, "cupti", "%s failed: %s (error %d); %s", call, result_text(r), (int)r,
             consequence);
}

static bool is_graph_launch(const char *name)
{
    return strncmp(name, "cudaGraphLaunch", 15) == 0 || strncmp(name, "cuGraphLaunch", 13) == 0;
}

/* API names we trace: launches, copies, memsets, synchronisations and the
 * event records that synchronisations wait for. */
static uint8_t wanted(const char *name)
{
    static const char *const prefixes[] = {"cudaLaunchKernel",
                                           "cudaLaunchCooperativeKernel",
                                           "cudaGraphLaunch",
                                           "cudaMemcpy",
                                           "cudaMemset",
                                           "cuLaunchKernel",
                                           "cuLaunchCooperativeKernel",
                                           "cuGraphLaunch",
                                           "cuMemcpy",
                                           "cuMemset"};
    static const char *const syncs[] = {"cudaDeviceSynchronize", "cudaStreamSynchronize",
                                        "cudaEventSynchronize",  "cudaStreamWaitEvent",
                                        "cudaEventRecord",       "cuCtxSynchronize",
                                        "cuStreamSynchronize",   "cuEventSynchronize",
                                        "cuStreamWaitEvent",     "cuEventRecord"};
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++)
        if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
            return CB_TRACED | CB_STACK | (is_graph_launch(name) ? CB_GRAPH : 0);
    for (size_t i = 0; i < sizeof syncs / sizeof *syncs; i++)
        if (strncmp(name, syncs[i], strlen(syncs[i])) == 0)
            return CB_TRACED;
    return 0;
}

/* Marks the callback ids omniprof traces; returns how many. */
static int select_callbacks(void)
{
    const char *name;
    int n = 0;
    /* an id CUPTI cannot name is one omniprof does not trace */
    for (uint32_t cb = 1; cb < CUPTI_RUNTIME_TRACE_CBID_SIZE; cb++)
        if (api.GetCallbackName(CUPTI_CB_DOMAIN_RUNTIME_API, cb, &name) == CUPTI_SUCCESS && name)
            n += (runtime_cb[cb] = wanted(name)) != 0;
    for (uint32_t cb = 1; cb < CUPTI_DRIVER_TRACE_CBID_SIZE; cb++)
        if (api.GetCallbackName(CUPTI_CB_DOMAIN_DRIVER_API, cb, &name) == CUPTI_SUCCESS && name)
            n += (driver_cb[cb] = wanted(name)) != 0;
    return n;
}

/* ---- callbacks (application threads) -------------------------------------- */

static void CUPTIAPI on_callback(void *ud, CUpti_CallbackDomain domain, CUpti_CallbackId cbid,
                                 const void *data)
{
    (void)ud;
    const CUpti_CallbackData *cb = data;
    bool runtime = domain == CUPTI_CB_DOMAIN_RUNTIME_API;
    if ((!runtime && domain != CUPTI_CB_DOMAIN_DRIVER_API) ||
        !atomic_load_explicit(&coll_cupti_active, memory_order_relaxed))
        return; /* (given up: the hooks record) */
    uint8_t flags = runtime ? (cbid < CUPTI_RUNTIME_TRACE_CBID_SIZE ? runtime_cb[cbid] : 0)
                            : (cbid < CUPTI_DRIVER_TRACE_CBID_SIZE ? driver_cb[cbid] : 0);
    if (cb->callbackSite == CUPTI_API_ENTER) {
        /* the driver calls a runtime call makes are that call, not others */
        bool nested = !runtime && t_runtime_depth > 0;
        if (runtime)
            t_runtime_depth++;
        *cb->correlationData = 0;
        if ((flags & CB_TRACED) && !nested && coll_recording()) {
            *cb->correlationData = coll_now_ns();
            coll_record_take_call(); /* after the time: see coll_cupti_collect */
        }
        return;
    }
    if (runtime && t_runtime_depth > 0)
        t_runtime_depth--;
    uint64_t t0 = *cb->correlationData;
    if (!t0)
        return;
    uint64_t t1 = coll_now_ns();
    struct coll_event *ev = coll_record_begin();
    if (!ev)
        return; /* buffers full, or its session has ended: counted at collection */
    /* A record reserved holds off the collection of the session it is in,
     * so open_ns is that session's: a call begun before it is not its. */
    if (t0 < atomic_load_explicit(&open_ns, memory_order_acquire)) {
        coll_record_cancel(ev);
        return;
    }
    ev->start_ns = t0;
    ev->end_ns = t1;
    ev->kind = COLL_EV_CUPTI;
    ev->api = COLL_API_NONE;
    ev->result = 0;
    ev->correlation = cb->correlationId;
    ev->stack = coll_opt.with_stack && (flags & CB_STACK) ? coll_stack_capture() : 0;
    ev->u.cupti.name = cb->functionName;
    ev->u.cupti.cbid = cbid;
    ev->u.cupti.domain = runtime ? COLL_DOMAIN_RUNTIME : COLL_DOMAIN_DRIVER;
    /* cudaGraphLaunch_v10000_params and cuGraphLaunch_params begin with the exec */
    ev->u.cupti.graph = (flags & CB_GRAPH) && cb->functionParams
                            ? (uint64_t)(uintptr_t) * (void *const *)cb->functionParams
                            : 0;
    coll_record_commit(ev);
}

/* ---- activity buffers ------------------------------------------------------ */

static void CUPTIAPI buffer_requested(uint8_t **buffer, size_t *size, size_t *max_records)
{
    *buffer = NULL;
    *size = 0;
    *max_records = 0;
    for (int i = 0; i < n_buffers; i++) {
        uint32_t bit = 1u << i, old = atomic_load(&buffers_busy);
        while (!(old & bit)) {
            if (atomic_compare_exchange_weak(&buffers_busy, &old, old | bit)) {
                *buffer = buffers[i];
                *size = BUFFER_BYTES;
                return;
            }
        }
    }
    /* pool empty: CUPTI drops records and counts them */
}

_Static_assert(
    (int)COLL_SYNC_EVENT == (int)CUPTI_ACTIVITY_SYNCHRONIZATION_TYPE_EVENT_SYNCHRONIZE &&
        (int)COLL_SYNC_STREAM_WAIT == (int)CUPTI_ACTIVITY_SYNCHRONIZATION_TYPE_STREAM_WAIT_EVENT &&
        (int)COLL_SYNC_STREAM == (int)CUPTI_ACTIVITY_SYNCHRONIZATION_TYPE_STREAM_SYNCHRONIZE &&
        (int)COLL_SYNC_CONTEXT == (int)CUPTI_ACTIVITY_SYNCHRONIZATION_TYPE_CONTEXT_SYNCHRONIZE,
    "enum coll_sync_type is CUPTI's");

static size_t name_slot(const char *name, size_t cap)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    return (size_t)(h ^ h >> 29) & (cap - 1);
}

static bool names_grow(void)
{
    size_t cap = cap_names ? cap_names * 2 : 256;
    char **grown = calloc(cap, sizeof *grown);
    if (!grown)
        return false;
    for (size_t i = 0; i < cap_names; i++) {
        if (!names[i])
            continue;
        size_t j = name_slot(names[i], cap);
        while (grown[j])
            j = (j + 1) & (cap - 1);
        grown[j] = names[i];
    }
    free(names);
    names = grown;
    cap_names = cap;
    return true;
}

/* The kept copy of name; NULL when out of memory.  store_lock held. */
static const char *intern(const char *name)
{
    if (!name || ((n_names + 1) * 2 > cap_names && !names_grow()))
        return NULL;
    size_t j = name_slot(name, cap_names);
    for (; names[j]; j = (j + 1) & (cap_names - 1))
        if (strcmp(names[j], name) == 0)
            return names[j];
    char *copy = strdup(name);
    if (copy) {
        names[j] = copy;
        n_names++;
    }
    return copy;
}

/* The next place in the open session's store for a record that started at
 * start_ns; NULL when it is not kept (counted).  store_lock held. */
static struct coll_gpu *store_add(uint64_t start_ns)
{
    if (!store_open || start_ns < atomic_load_explicit(&open_ns, memory_order_relaxed)) {
        outside++;
        return NULL;
    }
    if (!store || n_store == store_max) {
        over_cap++;
        return NULL;
    }
    struct coll_gpu *g = &store[n_store++];
    memset(g, 0, sizeof *g);
    return g;
}

static void add_record(const CUpti_Activity *rec)
{
    struct coll_gpu *g;
    switch (rec->kind) {
    case CUPTI_ACTIVITY_KIND_KERNEL:
    case CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL: {
        const CUpti_ActivityKernel10 *k = (const void *)rec;
        if (!(g = store_add(k->start)))
            return;
        *g = (struct coll_gpu){.start_ns = k->start,
                               .end_ns = k->end,
                               .correlation = k->correlationId,
                               .kind = COLL_GPU_KERNEL,
                               .device = k->deviceId,
                               .context = k->contextId,
                               .stream = k->streamId,
                               .name = intern(k->name),
                               .grid = {k->gridX, k->gridY, k->gridZ},
                               .block = {k->blockX, k->blockY, k->blockZ},
                               .static_shared = k->staticSharedMemory,
                               .dynamic_shared = k->dynamicSharedMemory,
                               .registers = k->registersPerThread,
                               .cluster = {k->clusterX, k->clusterY, k->clusterZ},
                               .graph_id = k->graphId,
                               .graph_node = k->graphNodeId,
                               .grid_id = k->gridId};
        break;
    }
    case CUPTI_ACTIVITY_KIND_MEMCPY: {
        const CUpti_ActivityMemcpy6 *m = (const void *)rec;
        if (!(g = store_add(m->start)))
            return;
        *g = (struct coll_gpu){.start_ns = m->start,
                               .end_ns = m->end,
                               .correlation = m->correlationId,
                               .kind = COLL_GPU_MEMCPY,
                               .copy_kind = m->copyKind,
                               .src_kind = m->srcKind,
                               .dst_kind = m->dstKind,
                               .device = m->deviceId,
                               .context = m->contextId,
                               .stream = m->streamId,
                               .bytes = m->bytes,
                               .graph_id = m->graphId,
                               .graph_node = m->graphNodeId};
        break;
    }
    case CUPTI_ACTIVITY_KIND_MEMSET: {
        const CUpti_ActivityMemset4 *m = (const void *)rec;
        if (!(g = store_add(m->start)))
            return;
        *g = (struct coll_gpu){.start_ns = m->start,
                               .end_ns = m->end,
                               .correlation = m->correlationId,
                               .kind = COLL_GPU_MEMSET,
                               .dst_kind = (uint8_t)m->memoryKind,
                               .device = m->deviceId,
                               .context = m->contextId,
                               .stream = m->streamId,
                               .bytes = m->bytes,
                               .value = m->value,
                               .graph_id = m->graphId,
                               .graph_node = m->graphNodeId};
        break;
    }
    case CUPTI_ACTIVITY_KIND_OVERHEAD: {
        const CUpti_ActivityOverhead3 *o = (const void *)rec;
        if (!(g = store_add(o->start)))
            return;
        *g = (struct coll_gpu){
            .start_ns = o->start,
            .end_ns = o->end,
            .kind = COLL_GPU_OVERHEAD,
            .name = intern(o->overheadKind == CUPTI_ACTIVITY_OVERHEAD_CUPTI_BUFFER_FLUSH
                               ? "Activity Buffer Flush"
                               : "CUPTI Overhead")};
        break;
    }
    case CUPTI_ACTIVITY_KIND_SYNCHRONIZATION: {
        const CUpti_ActivitySynchronization2 *y = (const void *)rec;
        if (!(g = store_add(y->start)))
            return;
        *g = (struct coll_gpu){.start_ns = y->start,
                               .end_ns = y->end,
                               .correlation = y->correlationId,
                               .kind = COLL_GPU_SYNC,
                               .sync_type = (uint8_t)y->type,
                               .device = UINT32_MAX,
                               .context = y->contextId,
                               .stream = y->streamId,
                               .event_id = y->cudaEventId};
        break;
    }
    case CUPTI_ACTIVITY_KIND_CUDA_EVENT: {
        const CUpti_ActivityCudaEvent2 *e = (const void *)rec;
        /* an event record CUPTI could not time (no device timestamps) is a
         * marker of the open session's calls: kept while one is open */
        if (!(g = store_add(e->deviceTimestamp ? e->deviceTimestamp : UINT64_MAX)))
            return;
        *g = (struct coll_gpu){.start_ns = e->deviceTimestamp,
                               .end_ns = e->deviceTimestamp,
                               .correlation = e->correlationId,
                               .kind = COLL_GPU_EVENT,
                               .device = e->deviceId,
                               .context = e->contextId,
                               .stream = e->streamId,
                               .event_id = e->eventId};
        break;
    }
    default: /* no other kind is enabled */ break;
    }
}

static atomic_bool warned_next_record;

static void CUPTIAPI buffer_completed(CUcontext ctx, uint32_t stream, uint8_t *buffer, size_t size,
                                      size_t valid)
{
    (void)ctx, (void)stream, (void)size;
    CUpti_Activity *rec = NULL;
    CUptiResult r;
    pthread_mutex_lock(&store_lock);
    while ((r = api.ActivityGetNextRecord(buffer, valid, &rec)) == CUPTI_SUCCESS)
        add_record(rec);
    pthread_mutex_unlock(&store_lock);
    /* MAX_LIMIT_REACHED: the end of the buffer */
    if (r != CUPTI_ERROR_MAX_LIMIT_REACHED)
        warn_failed(&warned_next_record, "cuptiActivityGetNextRecord", r,
                    "the rest of that activity buffer is lost from the GPU timeline");
    for (int i = 0; i < n_buffers; i++)
        if (buffers[i] == buffer)
            atomic_fetch_and(&buffers_busy, ~(1u << i));
}

static uint64_t CUPTIAPI timestamp(void)
{
    return coll_now_ns();
}

/* ---- setup and session edges ---------------------------------------------- */

static void free_buffers(void)
{
    for (int i = 0; i < MAX_BUFFERS; i++) {
        free(buffers[i]);
        buffers[i] = NULL;
    }
    n_buffers = 0;
}

/* Setup's reason for giving up, for its one warning: "<call> failed: ...".
 * Returns the -errno setup returns. */
static int failed(char *why, size_t cap, const char *call, CUptiResult r, const char *extra)
{
    snprintf(why, cap, "%s failed: %s (error %d)%s", call, result_text(r), (int)r, extra);
    return r == CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED ? -EBUSY : -EIO;
}

/* Finds every function of entries[] in h; 0, or -ENOSYS naming the first
 * required one missing. */
static int load_api(void *h, char *why, size_t cap)
{
    for (size_t i = 0; i < sizeof entries / sizeof *entries; i++) {
        void *fn = dlsym(h, entries[i].name);
        *(void **)((char *)&api + entries[i].offset) = fn;
        if (!fn && entries[i].required) {
            snprintf(why, cap, "libcupti lacks %s", entries[i].name);
            return -ENOSYS;
        }
    }
    return 0;
}

static atomic_bool warned_timestamp;

/* The activity side: buffers, our clock, the buffer callbacks, and which
 * API callbacks to trace.  0, or a -errno with why filled. */
static int prepare_activity(size_t buffer_bytes, char *why, size_t cap)
{
    n_buffers = (int)(buffer_bytes / BUFFER_BYTES);
    n_buffers = n_buffers < 2 ? 2 : n_buffers > MAX_BUFFERS ? MAX_BUFFERS : n_buffers;
    for (int i = 0; i < n_buffers; i++)
        if (!(buffers[i] = aligned_alloc(8, BUFFER_BYTES))) {
            snprintf(why, cap, "cannot allocate %d activity buffers of %u bytes", n_buffers,
                     BUFFER_BYTES);
            return -ENOMEM;
        }
    CUptiResult r;
    if (!api.ActivityRegisterTimestampCallback)
        coll_log(COLL_LOG_DEBUG, "cupti",
                 "no cuptiActivityRegisterTimestampCallback: GPU times "
                 "are CUPTI's own CLOCK_REALTIME stamps");
    else if ((r = api.ActivityRegisterTimestampCallback(timestamp)) != CUPTI_SUCCESS)
        warn_failed(&warned_timestamp, "cuptiActivityRegisterTimestampCallback", r,
                    "GPU times are CUPTI's own CLOCK_REALTIME stamps, which may lead the host's "
                    "by a few microseconds");
    if ((r = api.ActivityRegisterCallbacks(buffer_requested, buffer_completed)) != CUPTI_SUCCESS)
        return failed(why, cap, "cuptiActivityRegisterCallbacks", r, "");
    if (select_callbacks() == 0) {
        snprintf(why, cap,
                 "cuptiGetCallbackName named none of the launch, copy, memset or "
                 "synchronisation callbacks");
        return -EIO;
    }
    return 0;
}

/* CUPTI's callbacks run inside the CUDA libraries: their frames (and
 * CUPTI's) are left out of the host stacks.  Each library is found by a
 * name omniprof does not wrap, so dlsym answers with the library's own. */
static void skip_cuda_frames(void)
{
    static const char *const libs[][2] = {{"libcuda.so.1", "cuDriverGetVersion"},
                                          {"libcudart.so.13", "cudaGetErrorString"}};
    if (coll_stacks_skip_module((const void *)api.Subscribe) < 0)
        coll_log(COLL_LOG_DEBUG, "cupti", "CUPTI's frames stay in the host stacks");
    for (size_t i = 0; i < sizeof libs / sizeof *libs; i++) {
        void *lib = dlopen(libs[i][0], RTLD_LAZY | RTLD_NOLOAD);
        if (!lib)
            continue; /* not loaded: nothing of it can be on a stack */
        void *fn = dlsym(lib, libs[i][1]);
        if (!fn || coll_stacks_skip_module(fn) < 0)
            coll_log(COLL_LOG_DEBUG, "cupti", "%s's frames stay in the host stacks", libs[i][0]);
        dlclose(lib);
    }
}

/* Loads, checks and subscribes; setup_lock held.  0, or a -errno with why
 * filled (and nothing left subscribed). */
static int setup(const char *path, size_t buffer_bytes, char *why, size_t cap)
{
    char tried[4200] = "";
    void *h = open_cupti(path, tried, sizeof tried);
    if (!h) {
        snprintf(why, cap, "CUPTI not found%s%s", tried[0] ? ": " : "", tried);
        return -ENOENT;
    }
    int err = load_api(h, why, cap);
    if (err < 0)
        return err;
    uint32_t version = 0;
    CUptiResult r = api.GetVersion(&version);
    if (r != CUPTI_SUCCESS)
        return failed(why, cap, "cuptiGetVersion", r, "");
    if (version / 10000 != CUPTI_API_VERSION / 10000) {
        snprintf(why, cap, "CUPTI API version %u, omniprof reads version %u records", version,
                 (unsigned)CUPTI_API_VERSION);
        return -ENOTSUP;
    }
    if ((r = api.Subscribe(&subscriber, (CUpti_CallbackFunc)on_callback, NULL)) != CUPTI_SUCCESS)
        return failed(why, cap, "cuptiSubscribe", r,
                      r == CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED
                          ? " (the program already runs a CUPTI profiler: "
                            "torch.profiler, nsys, ...)"
                          : "");
    if ((err = prepare_activity(buffer_bytes, why, cap)) < 0) {
        /* let another profiler have CUPTI; a CUPTI too old to unsubscribe
         * keeps a subscriber that has no callback enabled */
        if (api.Unsubscribe && api.Unsubscribe(subscriber) != CUPTI_SUCCESS)
            coll_log(COLL_LOG_DEBUG, "cupti", "cuptiUnsubscribe failed");
        free_buffers();
        return err;
    }
    skip_cuda_frames();
    cupti_version = version;
    coll_log(COLL_LOG_DEBUG, "cupti", "CUPTI %u ready", version);
    return 0;
}

int coll_cupti_setup(const char *path, size_t buffer_bytes)
{
    pthread_mutex_lock(&setup_lock);
    if (setup_state) {
        int st = setup_state;
        pthread_mutex_unlock(&setup_lock);
        return st > 0 ? 0 : st;
    }
    char why[4400] = "";
    int err = setup(path, buffer_bytes, why, sizeof why);
    setup_state = err < 0 ? err : 1;
    if (err == 0)
        atomic_store(&coll_cupti_active, 1);
    pthread_mutex_unlock(&setup_lock);
    if (err < 0)
        coll_log(COLL_LOG_WARN, "cupti",
                 "%s; recording the intercepted calls only (no GPU timeline)", why);
    return err;
}

/* The activity kinds a session enables, and what the GPU timeline lacks
 * when one cannot be.  Each has its case in add_record and its events in
 * the trace (writer/gpu.c). */
static const struct {
    CUpti_ActivityKind kind;
    const char *name;
    const char *shows;
} kinds[] = {
    {CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL, "CONCURRENT_KERNEL", "kernels"},
    {CUPTI_ACTIVITY_KIND_MEMCPY, "MEMCPY", "copies"},
    {CUPTI_ACTIVITY_KIND_MEMSET, "MEMSET", "memsets"},
    {CUPTI_ACTIVITY_KIND_SYNCHRONIZATION, "SYNCHRONIZATION", "synchronisations"},
    {CUPTI_ACTIVITY_KIND_CUDA_EVENT, "CUDA_EVENT", "the event records synchronisations wait on"},
    {CUPTI_ACTIVITY_KIND_OVERHEAD, "OVERHEAD", "CUPTI's overheads"},
};
#define N_KINDS (sizeof kinds / sizeof *kinds)
static atomic_bool warned_enable[N_KINDS], warned_disable[N_KINDS];
static atomic_bool warned_callback_on, warned_callback_off, warned_event_times;

/* Appends ", item" (or "item" first) to list. */
static void append(char *list, size_t cap, const char *item)
{
    size_t n = strlen(list);
    snprintf(list + n, cap - n, "%s%s", n ? ", " : "", item);
}

/* Turns each activity kind on or off.  A kind that fails is left out and
 * the others go on; the kinds that failed for the first time are named
 * in one warning. */
static void set_activity(bool on)
{
    char failed_kinds[160] = "", lacks[160] = "";
    CUptiResult first = CUPTI_SUCCESS;
    for (size_t i = 0; i < N_KINDS; i++) {
        CUptiResult r = on ? api.ActivityEnable(kinds[i].kind) : api.ActivityDisable(kinds[i].kind);
        atomic_bool *warned = on ? &warned_enable[i] : &warned_disable[i];
        if (r == CUPTI_SUCCESS || atomic_exchange(warned, true))
            continue;
        if (first == CUPTI_SUCCESS)
            first = r;
        append(failed_kinds, sizeof failed_kinds, kinds[i].name);
        if (kinds[i].shows)
            append(lacks, sizeof lacks, kinds[i].shows);
    }
    if (first == CUPTI_SUCCESS)
        return;
    coll_log(COLL_LOG_WARN, "cupti", "cuptiActivity%s(%s) failed: %s (error %d); %s%s",
             on ? "Enable" : "Disable", failed_kinds, result_text(first), (int)first,
             !on        ? "CUPTI goes on recording between sessions (omniprof leaves it out)"
             : lacks[0] ? "the GPU timeline will lack "
                        : "nothing is lost (synchronisations are shown by their API calls)",
             on ? lacks : "");
}

/* Turns one traced callback on or off; warns (once per `warned`) naming it. */
static int set_callback(uint32_t on, CUpti_CallbackDomain domain, uint32_t cb, atomic_bool *warned,
                        const char *consequence)
{
    CUptiResult r = api.EnableCallback(on, subscriber, domain, cb);
    if (r == CUPTI_SUCCESS)
        return 0;
    const char *name = NULL;
    char call[160];
    if (api.GetCallbackName(domain, cb, &name) != CUPTI_SUCCESS || !name)
        name = "?";
    snprintf(call, sizeof call, "cuptiEnableCallback(%s, %s)", on ? "on" : "off", name);
    warn_failed(warned, call, r, consequence);
    return -EIO;
}

/* Turns every traced callback on or off.  0, or -EIO after one warning
 * (the first failure; the rest are still tried). */
static int set_callbacks(uint32_t on, atomic_bool *warned, const char *consequence)
{
    int err = 0;
    for (uint32_t cb = 1; cb < CUPTI_RUNTIME_TRACE_CBID_SIZE; cb++)
        if (runtime_cb[cb] &&
            set_callback(on, CUPTI_CB_DOMAIN_RUNTIME_API, cb, warned, consequence) < 0)
            err = -EIO;
    for (uint32_t cb = 1; cb < CUPTI_DRIVER_TRACE_CBID_SIZE; cb++)
        if (driver_cb[cb] &&
            set_callback(on, CUPTI_CB_DOMAIN_DRIVER_API, cb, warned, consequence) < 0)
            err = -EIO;
    return err;
}

/* CUPTI cannot see the calls: leave it for the rest of the process, so
 * that the hooks record them (and no CUPTI callback records them twice). */
static void give_up(void)
{
    atomic_store(&coll_cupti_active, 0);
    pthread_mutex_lock(&setup_lock);
    setup_state = -EIO;
    pthread_mutex_unlock(&setup_lock);
    if (!api.Unsubscribe || api.Unsubscribe(subscriber) != CUPTI_SUCCESS)
        set_callbacks(0, &warned_callback_off,
                      "CUPTI goes on calling omniprof (it records nothing)");
    set_activity(false);
}

/* Opens the session's GPU store (once per session: a second begin, when
 * CUDA arrives as the session starts, keeps it).  Its one allocation is
 * made here, on the thread that starts the session, not on CUPTI's. */
static void open_store(void)
{
    size_t max = coll_buffers_size() / sizeof(struct coll_gpu);
    struct coll_gpu *fresh = NULL;
    pthread_mutex_lock(&store_lock);
    bool was_open = store_open;
    pthread_mutex_unlock(&store_lock);
    if (was_open)
        return;
    if (max && !(fresh = malloc(max * sizeof *fresh)))
        coll_log(COLL_LOG_WARN, "cupti",
                 "cannot allocate %zu MiB for this session's GPU records "
                 "(buffer_size): they are dropped and counted",
                 (max * sizeof *fresh) >> 20);
    pthread_mutex_lock(&store_lock);
    if (store_open) { /* opened meanwhile by the other begin */
        pthread_mutex_unlock(&store_lock);
        free(fresh);
        return;
    }
    store = fresh;
    store_max = fresh ? max : 0;
    n_store = 0;
    store_open = true;
    atomic_store_explicit(&open_ns, coll_now_ns(), memory_order_release);
    pthread_mutex_unlock(&store_lock);
}

int coll_cupti_begin(void)
{
    if (!atomic_load(&coll_cupti_active))
        return 0;
    open_store();
    if (set_callbacks(1, &warned_callback_on,
                      "recording the intercepted calls only (no GPU timeline)") < 0) {
        give_up();
        return -EIO;
    }
    set_activity(true);
    /* when the GPU reached each recorded event (else CUDA event records carry no time) */
    CUptiResult r = api.ActivityEnableCudaEventDeviceTimestamps
                        ? api.ActivityEnableCudaEventDeviceTimestamps(1)
                        : CUPTI_SUCCESS;
    if (r != CUPTI_SUCCESS)
        warn_failed(&warned_event_times, "cuptiActivityEnableCudaEventDeviceTimestamps", r,
                    "CUDA event records are placed at their calls");
    return 0;
}

void coll_cupti_end(void)
{
    if (!atomic_load(&coll_cupti_active))
        return;
    /* a failure here costs time, not records: callbacks check coll_recording() */
    set_callbacks(0, &warned_callback_off,
                  "CUPTI goes on calling omniprof between sessions "
                  "(it records nothing)");
    set_activity(false);
}

static int by_start(const void *a, const void *b)
{
    const struct coll_gpu *x = a, *y = b;
    return (x->start_ns > y->start_ns) - (x->start_ns < y->start_ns);
}

static coll_device_describer describe_device;

void coll_set_device_describer(coll_device_describer describe)
{
    describe_device = describe;
}

/* Adds device id to s->devices, once, when the driver describes it. */
static void describe(struct coll_session *s, int id)
{
    size_t k = 0;
    while (k < s->n_devices && s->devices[k].id != id)
        k++;
    if (k < s->n_devices || s->n_devices == sizeof s->devices / sizeof *s->devices)
        return;
    struct coll_device *d = &s->devices[s->n_devices];
    memset(d, 0, sizeof *d);
    d->id = id;
    if (describe_device && describe_device(id, d) == 0)
        s->n_devices++;
}

/* Every device the session saw: its GPU records' (a synchronisation names
 * only a context, whose device another record names) and, without CUPTI,
 * its device memory's. */
static void describe_devices(struct coll_session *s)
{
    for (size_t i = 0; i < s->n_gpu; i++)
        if (s->gpu[i].device != UINT32_MAX)
            describe(s, (int)s->gpu[i].device);
    for (size_t i = 0; i < s->n_events; i++) {
        const struct coll_event *ev = s->events[i];
        if ((ev->kind == COLL_EV_ALLOC || ev->kind == COLL_EV_FREE) && ev->device_type == 1 &&
            ev->device >= 0)
            describe(s, ev->device);
    }
}

static atomic_bool warned_flush, warned_dropped;

/* The store and every count since the last collection, into s. */
static void take_store(struct coll_session *s)
{
    pthread_mutex_lock(&store_lock);
    s->gpu = store;
    s->n_gpu = n_store;
    s->gpu_dropped_cap = over_cap;
    s->gpu_dropped_outside = outside;
    size_t max = store_max;
    store = NULL;
    n_store = store_max = 0;
    over_cap = outside = 0;
    store_open = false; /* from here on, what CUPTI hands over is no session's */
    pthread_mutex_unlock(&store_lock);
    /* Every call taken at its entry since the last collection is written
     * in this session or not at all: a call taken before this session's
     * open_ns cannot be written in a later one, and one written here was
     * counted before its record (coll_record_take_call) */
    uint64_t written = 0, taken = coll_buffers_take_calls();
    for (size_t i = 0; i < s->n_events; i++)
        written += s->events[i]->kind == COLL_EV_CUPTI;
    s->api_dropped = taken > written ? taken - written : 0;
    if (s->gpu_dropped_cap && max)
        coll_log(COLL_LOG_WARN, "cupti",
                 "%llu GPU records dropped: a session keeps at most %zu "
                 "(buffer_size=%zu MiB: as many bytes as the events); raise buffer_size",
                 (unsigned long long)s->gpu_dropped_cap, max, coll_buffers_size() >> 20);
    if (s->gpu_dropped_outside)
        coll_log(COLL_LOG_DEBUG, "cupti", "%llu GPU records arrived outside their session",
                 (unsigned long long)s->gpu_dropped_outside);
}

int coll_cupti_collect(struct coll_session *s)
{
    s->cupti = atomic_load(&coll_cupti_active) != 0;
    size_t dropped = 0;
    if (s->cupti) {
        s->cupti_version = cupti_version;
        /* the records of the session's work still in CUPTI's buffers come
         * now, on this thread: the session is still open for them */
        CUptiResult r = api.ActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);
        if (r != CUPTI_SUCCESS)
            warn_failed(&warned_flush, "cuptiActivityFlushAll", r,
                        "the GPU timeline lacks the records CUPTI still held");
        if ((r = api.ActivityGetNumDroppedRecords(NULL, 0, &dropped)) != CUPTI_SUCCESS) {
            dropped = 0;
            warn_failed(&warned_dropped, "cuptiActivityGetNumDroppedRecords", r,
                        "the trace's count of dropped GPU records may be too low");
        }
    }
    take_store(s);
    s->gpu_dropped_cupti = dropped;
    s->gpu_dropped = dropped + s->gpu_dropped_cap + s->gpu_dropped_outside;
    if (s->n_gpu)
        qsort(s->gpu, s->n_gpu, sizeof *s->gpu, by_start);
    describe_devices(s);
    return 0;
}

void coll_cupti_free(struct coll_session *s)
{
    free(s->gpu);
    s->gpu = NULL;
    s->n_gpu = 0;
}

void coll_cupti_atfork_child(void)
{
    /* CUDA (and so CUPTI) cannot be used in a forked child: it records
     * through the hooks.  The CUPTI thread that may have held the store's
     * lock at the fork does not exist here. */
    atomic_store(&coll_cupti_active, 0);
    pthread_mutex_init(&store_lock, NULL);
    pthread_mutex_init(&setup_lock, NULL); /* a thread of the parent may have been setting up */
    free(store); /* the parent's session's records: the parent writes them */
    store = NULL;
    n_store = store_max = 0;
    over_cap = outside = 0;
    store_open = false;
}

void coll_gpu_copy_name(const struct coll_gpu *g, char *buf, size_t cap)
{
    static const char *const kind[] = {"Unknown", "HtoD", "DtoH", "HtoA", "AtoH", "AtoA",
                                       "AtoD",    "DtoA", "DtoD", "HtoH", "PtoP"};
    static const char *const mem[] = {"Unknown", "Pageable", "Pinned", "Device",
                                      "Array",   "Managed",  "Device", "Managed"};
    const char *k = g->copy_kind < sizeof kind / sizeof *kind ? kind[g->copy_kind] : "Unknown";
    const char *src = g->src_kind < sizeof mem / sizeof *mem ? mem[g->src_kind] : "Unknown";
    const char *dst = g->dst_kind < sizeof mem / sizeof *mem ? mem[g->dst_kind] : "Unknown";
    if (g->kind == COLL_GPU_MEMSET)
        snprintf(buf, cap, "Memset (%s)", dst);
    else
        snprintf(buf, cap, "Memcpy %s (%s -> %s)", k, src, dst);
}
