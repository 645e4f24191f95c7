/*
 * collector/ — what is recorded.  This is collector/'s interface: what
 * preload/ (the hooks), control/ (configuration, the gate's driver) and
 * writer/ (the finished session) use.  What only collector/'s own files
 * share is in internal.h.
 *
 * Owns the clock, the per-thread event buffers, the gating state machine
 * (start/step/stop with delay/max iterations, identical to vLLM's
 * WorkerProfiler), CUPTI, host stacks, the live-allocation table and the
 * finished-session object handed to the writer.  It knows nothing about
 * JSON or files.
 *
 * Threading contract:
 *   - coll_recording(), coll_record_begin()/coll_record_commit() and
 *     coll_step() may be called from any application thread, at any time,
 *     including before coll_buffers_init() (they then record nothing).  The
 *     record path takes no lock, makes no syscall and never allocates.
 *   - coll_start(), coll_stop(), coll_collect() and coll_session_free() are
 *     "slow work": the caller (control/) serialises them.
 *
 * Errors: a function that can fail returns 0 or a negative errno value
 * (-ENOMEM, -ENOENT, ...; -EIO for a failure CUPTI reported), and has then
 * already said why in one coll_log line; its caller checks and degrades.
 */
#ifndef OMNIPROF_COLLECTOR_H
#define OMNIPROF_COLLECTOR_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- logging (used by every folder) ---------------------------------- */

enum coll_log_level { COLL_LOG_ERROR = 0, COLL_LOG_WARN, COLL_LOG_INFO, COLL_LOG_DEBUG };

void coll_log_set_level(int level);
int coll_log_level(void);
/* One line on stderr: "omniprof: <tag>: <message>\n", written with one write(2);
 * the message is shown as coll_escape shows text, at most ~1 KiB. */
void coll_log(int level, const char *tag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* text as a message may show it: printable ASCII and valid UTF-8 as they
 * are, \n \t \r, and every other byte (controls, C1 controls, DEL,
 * invalid UTF-8) as \xHH; cut after max input bytes, or where cap is
 * reached, with "...".  Always NUL-terminated (cap > 0); returns the length.
 * COLL_SHOWN_MAX input bytes fit in COLL_SHOWN_CAP. */
size_t coll_escape(char *dst, size_t cap, const char *text, size_t max);
#define COLL_SHOWN_MAX 200
#define COLL_SHOWN_CAP (4 * COLL_SHOWN_MAX + 4)

/* ---- clock ------------------------------------------------------------ */

/* CLOCK_REALTIME in ns: the clock CUPTI uses on Linux, so host and GPU
 * timestamps share one time base. */
uint64_t coll_now_ns(void);

/* ---- events ----------------------------------------------------------- */

enum coll_kind {
    COLL_EV_API = 1, /* an API call with no payload of interest */
    COLL_EV_LAUNCH,  /* kernel launch: launch payload */
    COLL_EV_GRAPH,   /* graph launch: launch payload, func = the graph exec */
    COLL_EV_ALLOC,   /* allocation or mapping: mem payload */
    COLL_EV_FREE,    /* free or unmapping: mem payload (negative bytes when known) */
    COLL_EV_COPY,    /* memcpy: copy payload */
    COLL_EV_MEMSET,  /* memset: copy payload (src = the value) */
    COLL_EV_SYNC,    /* synchronisation: copy payload's stream */
    COLL_EV_CUPTI,   /* an API call seen by a CUPTI callback: cupti payload */
    COLL_EV_STEP,    /* iteration boundary: step payload */
    COLL_EV_NVTX,    /* an NVTX range or mark: nvtx payload (nvtx.c) */
};

/* Direction of a copy, as Kineto names them ("Memcpy HtoD", ...). */
enum coll_copy_kind {
    COLL_COPY_UNKNOWN = 0, /* unified addressing: the driver decides */
    COLL_COPY_HTOD,
    COLL_COPY_DTOH,
    COLL_COPY_DTOD,
    COLL_COPY_HTOH,
};
const char *coll_copy_kind_name(int kind);

enum coll_api_domain { COLL_DOMAIN_NONE, COLL_DOMAIN_DRIVER, COLL_DOMAIN_RUNTIME };

/* Every CUDA API omniprof wraps and records, X(name, domain).  preload/
 * defines one hook for each, and builds its table of real functions and
 * its dlsym and cuGetProcAddress answers from this one list. */
#define COLL_API_LIST(X)                                                                           \
    X(cuLaunchKernel, DRIVER)                                                                      \
    X(cuLaunchKernel_ptsz, DRIVER)                                                                 \
    X(cuLaunchKernelEx, DRIVER)                                                                    \
    X(cuLaunchKernelEx_ptsz, DRIVER)                                                               \
    X(cuLaunchCooperativeKernel, DRIVER)                                                           \
    X(cuLaunchCooperativeKernel_ptsz, DRIVER)                                                      \
    X(cuGraphLaunch, DRIVER)                                                                       \
    X(cuGraphLaunch_ptsz, DRIVER)                                                                  \
    X(cuMemAlloc_v2, DRIVER)                                                                       \
    X(cuMemAllocPitch_v2, DRIVER)                                                                  \
    X(cuMemFree_v2, DRIVER)                                                                        \
    X(cuMemAllocAsync, DRIVER)                                                                     \
    X(cuMemAllocAsync_ptsz, DRIVER)                                                                \
    X(cuMemFreeAsync, DRIVER)                                                                      \
    X(cuMemFreeAsync_ptsz, DRIVER)                                                                 \
    X(cuMemAllocManaged, DRIVER)                                                                   \
    X(cuMemAllocHost_v2, DRIVER)                                                                   \
    X(cuMemHostAlloc, DRIVER)                                                                      \
    X(cuMemFreeHost, DRIVER)                                                                       \
    X(cuMemCreate, DRIVER)                                                                         \
    X(cuMemRelease, DRIVER)                                                                        \
    X(cuMemMap, DRIVER)                                                                            \
    X(cuMemUnmap, DRIVER)                                                                          \
    X(cuMemcpy, DRIVER)                                                                            \
    X(cuMemcpyAsync, DRIVER)                                                                       \
    X(cuMemcpyHtoD_v2, DRIVER)                                                                     \
    X(cuMemcpyDtoH_v2, DRIVER)                                                                     \
    X(cuMemcpyDtoD_v2, DRIVER)                                                                     \
    X(cuMemcpyHtoDAsync_v2, DRIVER)                                                                \
    X(cuMemcpyDtoHAsync_v2, DRIVER)                                                                \
    X(cuMemcpyDtoDAsync_v2, DRIVER)                                                                \
    X(cuMemsetD8_v2, DRIVER)                                                                       \
    X(cuMemsetD32_v2, DRIVER)                                                                      \
    X(cuMemsetD8Async, DRIVER)                                                                     \
    X(cuMemsetD32Async, DRIVER)                                                                    \
    X(cudaMalloc, RUNTIME)                                                                         \
    X(cudaFree, RUNTIME)                                                                           \
    X(cudaMallocAsync, RUNTIME)                                                                    \
    X(cudaFreeAsync, RUNTIME)                                                                      \
    X(cudaMallocManaged, RUNTIME)                                                                  \
    X(cudaMallocHost, RUNTIME)                                                                     \
    X(cudaHostAlloc, RUNTIME)                                                                      \
    X(cudaFreeHost, RUNTIME)                                                                       \
    X(cudaMemcpy, RUNTIME)                                                                         \
    X(cudaMemcpyAsync, RUNTIME)                                                                    \
    X(cudaMemset, RUNTIME)                                                                         \
    X(cudaMemsetAsync, RUNTIME)                                                                    \
    X(cuCtxSynchronize, DRIVER)                                                                    \
    X(cuStreamSynchronize, DRIVER)                                                                 \
    X(cuStreamSynchronize_ptsz, DRIVER)                                                            \
    X(cudaDeviceSynchronize, RUNTIME)                                                              \
    X(cudaStreamSynchronize, RUNTIME)                                                              \
    X(cudaLaunchKernel, RUNTIME)                                                                   \
    X(cudaLaunchKernelExC, RUNTIME)                                                                \
    X(cudaGraphLaunch, RUNTIME)

/* the API list expands here: one entry a line */
/* clang-format off */
enum coll_api {
    COLL_API_NONE = 0,
#define COLL_API_ENUM(name, domain) COLL_API_##name,
    COLL_API_LIST(COLL_API_ENUM)
#undef COLL_API_ENUM
    COLL_API_omni_step,
    COLL_API_COUNT
};
/* clang-format on */

const char *coll_api_name(int api);
int coll_api_domain(int api);
/* The enum coll_api of a recorded API's name, or 0. */
int coll_api_by_name(const char *name);

/* What the program said of an NVTX range or mark (nvtxEventAttributes_t,
 * its domain and its message, interned). */
struct coll_nvtx {
    uint64_t id;          /* the range's id, unique in the process; 0 for a mark */
    uint64_t payload;     /* the payload's bits, as payload_type says */
    uint32_t message;     /* interned (coll_nvtx_string); 0: none */
    uint32_t category;    /* 0: none */
    uint32_t color;       /* ARGB, when flags has COLL_NVTX_COLOR */
    int32_t begin_tid;    /* the thread the range began on */
    uint16_t domain;      /* coll_nvtx_domain's index; 0: the default domain */
    uint8_t what;         /* enum coll_nvtx_what */
    uint8_t payload_type; /* NVTX's nvtxPayloadType_t (1..6); 0: none */
    uint8_t flags;        /* COLL_NVTX_* */
};

/* One fixed-size record; application threads fill these in place. */
struct coll_event {
    uint64_t start_ns;
    uint64_t end_ns;
    uint64_t correlation; /* unique within the process */
    int32_t tid;
    uint16_t kind;
    uint16_t api;
    int32_t result; /* CUresult / cudaError_t of the call */
    uint32_t stack; /* interned host stack (coll_stack_capture), 0: none */
    union {
        struct {
            uint64_t func;   /* CUfunction or runtime host stub, described at collection */
            uint64_t stream; /* CUstream */
            uint32_t grid[3];
            uint32_t block[3];
            uint32_t shared_mem; /* dynamic shared memory */
            uint32_t cluster[3]; /* cluster dimensions; 0 when not set */
        } launch;
        struct {
            uint64_t addr;
            int64_t bytes;     /* negative for a free (when the size is known) */
            uint64_t total;    /* the device's allocated bytes after this event */
            uint64_t reserved; /* the device's reserved bytes after this event */
        } mem;
        struct {
            uint64_t dst;
            uint64_t src; /* memset: the value */
            uint64_t bytes;
            uint64_t stream;
            uint32_t kind; /* enum coll_copy_kind */
        } copy;
        struct {
            uint64_t number; /* 1-based step count of this session */
        } step;
        struct {
            const char *name; /* CUPTI's function name (static in libcupti) */
            uint32_t cbid;
            uint32_t domain; /* enum coll_api_domain */
            uint64_t graph;  /* a graph launch's CUgraphExec; 0 for other calls */
        } cupti;
        /* a range: start_ns..end_ns as it began and ended, or began and
         * was open when the session ended (COLL_NVTX_OPEN); start_ns 0:
         * begun while not followed, before the session; a mark: at
         * start_ns */
        struct coll_nvtx nvtx;
    } u;
    /* memory events only: where (-1: host / unknown) and whether the
     * allocation table knew the pointer (frees of unknown pointers: 0) */
    int16_t device;
    uint8_t device_type; /* 0 CPU, 1 CUDA, as Kineto writes it */
    uint8_t tracked;
};

/* What is recorded besides the API calls; set once by the control side
 * (coll_set_options, its only writer) before recording can start, read by
 * the hooks. */
struct coll_options {
    bool with_stack;
    int stack_depth;
    bool with_memory;
    bool record_shapes;
    int step_on; /* enum coll_api whose completed calls are steps; 0: none */
    /* step_on=nvtx:[DOMAIN/]NAME: the interned NAME whose ranges' ends are
     * steps (0: none), and DOMAIN's (0: any domain) */
    uint32_t step_on_nvtx, step_on_nvtx_domain;
};
extern struct coll_options coll_opt;
void coll_set_options(const struct coll_options *o);

/* ---- host stacks (stack.c) ----------------------------------------------- */

/* Maps the stack table (max_stacks distinct stacks of up to depth frames).
 * 0, or -errno (logged: stacks stay off). */
int coll_stacks_init(unsigned max_stacks, int depth);
/* The calling thread's stack, interned: identical stacks get one id.  For
 * the record path (no lock, no malloc); omniprof's own frames are left
 * out.  0 when stacks are off or the table is full (counted). */
uint32_t coll_stack_capture(void);

/* ---- live allocations (memory.c) ------------------------------------------ */

/* What an allocation call did to the device's memory. */
enum coll_mem_class {
    COLL_MEM_ALLOC,   /* usable memory: allocated and reserved */
    COLL_MEM_PHYS,    /* physical memory (cuMemCreate): reserved only */
    COLL_MEM_MAPPING, /* a mapping (cuMemMap): allocated only */
};
/* Maps the table of live allocations.  0, or -errno (logged: with_memory
 * stays off). */
int coll_memory_init(unsigned capacity);
/* Both fill ev->u.mem, ev->device/device_type/tracked from the table.
 * device: -1 for host memory.  Lock-free; safe while not recording, so
 * allocations made before a session started are known when it runs. */
void coll_memory_alloc(struct coll_event *ev, int cls, uint64_t addr, uint64_t bytes, int device);
void coll_memory_free(struct coll_event *ev, int cls, uint64_t addr, uint64_t bytes_if_known);

/* ---- CUPTI (cupti.c) ------------------------------------------------------ */

struct coll_session;

/* What the GPU did, from CUPTI activity records, in omniprof's clock. */
enum coll_gpu_kind {
    COLL_GPU_KERNEL = 1,
    COLL_GPU_MEMCPY,
    COLL_GPU_MEMSET,
    COLL_GPU_SYNC,
    COLL_GPU_OVERHEAD,
    COLL_GPU_EVENT
};

/* What a synchronisation record waited for: CUPTI's
 * CUpti_ActivitySynchronizationType values. */
enum coll_sync_type {
    COLL_SYNC_UNKNOWN = 0,
    COLL_SYNC_EVENT = 1,       /* cu/cudaEventSynchronize */
    COLL_SYNC_STREAM_WAIT = 2, /* cu/cudaStreamWaitEvent */
    COLL_SYNC_STREAM = 3,      /* cu/cudaStreamSynchronize */
    COLL_SYNC_CONTEXT = 4,     /* cuCtxSynchronize, cudaDeviceSynchronize */
};

struct coll_gpu {
    uint64_t start_ns, end_ns;
    uint32_t correlation;
    uint16_t kind;              /* enum coll_gpu_kind */
    uint8_t copy_kind;          /* CUpti_ActivityMemcpyKind */
    uint8_t src_kind, dst_kind; /* CUpti_ActivityMemoryKind (memset: dst_kind) */
    uint32_t device, context, stream;
    const char *name; /* kernels and overheads: interned, lives with omniprof */
    int32_t grid[3], block[3];
    int32_t static_shared, dynamic_shared, registers;
    uint32_t cluster[3];
    uint64_t bytes; /* copies and memsets */
    uint32_t value; /* memsets */
    uint32_t graph_id;
    uint64_t graph_node;
    int64_t grid_id;
    /* synchronisations (device UINT32_MAX: their context says; stream
     * UINT32_MAX: none) and CUDA event records (start = end = when the
     * device reached it, 0 when CUPTI gave no time) */
    uint8_t sync_type; /* enum coll_sync_type */
    uint32_t event_id; /* CUPTI's id of the CUDA event; UINT32_MAX: none */
};

/* Whether CUPTI is loaded, subscribed and owns the launch, copy, memset
 * and synchronisation calls (the interposed hooks then only forward;
 * allocations stay with the hooks, which know the bytes and addresses). */
extern _Atomic int coll_cupti_active;

/* Loads and subscribes to CUPTI (once; safe to call again).  path: the
 * libcupti to use, or NULL/"" to search; buffer_bytes: the activity buffer
 * pool.  Returns 0, or after one warning saying why: -ENOENT (not found),
 * -ENOSYS (a function missing), -ENOTSUP (wrong version), -EBUSY (another
 * subscriber), -ENOMEM, -EIO (a CUPTI call failed, named); later calls
 * return the same. */
int coll_cupti_setup(const char *path, size_t buffer_bytes);
/* A session's start, from the gate (apply()) or when CUDA arrives during
 * one: enables the callbacks and the activity kinds.  Cheap; no flushing.
 * A kind CUPTI refuses is warned about once and left out.  Returns 0, or
 * -EIO when the callbacks cannot be enabled: after one warning CUPTI is
 * given up for the process and the hooks record (coll_cupti_active 0). */
int coll_cupti_begin(void);
/* Kineto's names for copies: "Memcpy HtoD (Pageable -> Device)". */
void coll_gpu_copy_name(const struct coll_gpu *g, char *buf, size_t cap);

/* ---- buffers and the record path -------------------------------------- */

/* Creates the chunk pool (bytes in total) and the thread table.  Called
 * once by the control side; until it has run nothing is recorded.  0, or
 * -errno (logged: recording stays off). */
int coll_buffers_init(size_t bytes, unsigned max_threads);

extern _Atomic int coll_recording_flag;

/* The idle check every hook makes first: one relaxed load. */
static inline bool coll_recording(void)
{
    return atomic_load_explicit(&coll_recording_flag, memory_order_relaxed) != 0;
}

/* Reserve the next record of the calling thread.  Returns NULL when not
 * recording (any more) or when the buffers are full (the drop is counted).
 * Every non-NULL return must be followed by coll_record_commit(). */
struct coll_event *coll_record_begin(void);
void coll_record_commit(struct coll_event *ev);

/* fork(), before and after in the parent (the child's side is
 * coll_session_atfork_child).  An unwind takes locks inside libunwind and
 * the loader; a child copied while another thread is mid-unwind would find
 * them taken forever.  So prepare stops records from taking stacks and
 * waits (bounded) for the records in flight; parent clears that again. */
void coll_buffers_atfork_prepare(void);
void coll_buffers_atfork_parent(void);

/* ---- gating ------------------------------------------------------------- */

enum coll_gate_state {
    COLL_GATE_IDLE,      /* not started */
    COLL_GATE_ARMED,     /* started, waiting for delay_iterations steps */
    COLL_GATE_RECORDING, /* recording */
    COLL_GATE_DONE,      /* stopped itself after max_iterations; still active */
};

enum coll_gate_action { COLL_GATE_NONE = 0, COLL_GATE_BEGIN, COLL_GATE_END };

/* ---- sessions (session.c) ------------------------------------------------ */

/* The finished record of one start..stop window, ready for the writer. */
/* nested declarators (} *names;) as written */
/* clang-format off */
struct coll_session {
    uint64_t begin_ns; /* recording began */
    uint64_t end_ns;   /* recording ended */
    uint64_t steps;    /* iteration boundaries seen while recording */
    uint64_t dropped;  /* events lost, for either reason below */
    /* of which: by threads that found every one of max_threads slots taken
     * (such a thread records nothing for the rest of its life) */
    uint64_t dropped_no_slot;
    int32_t no_slot_tid; /* one of those threads */
    size_t n_events;
    const struct coll_event **events; /* sorted by start time */
    size_t n_names;
    struct coll_kernel_name {
        uint64_t func;
        int domain;
        char *name;    /* as Kineto shows it: demangled */
        char *mangled; /* the driver's name when it differs, else NULL */
        int registers; /* per thread; -1 unknown */
        int static_shared; /* bytes; -1 unknown */
    } *names; /* every launched function, sorted by func */
    /* Host stacks used by this session's events, symbolized. */
    size_t n_stacks;
    struct coll_stack {
        uint32_t id;
        uint32_t depth;
        struct coll_frame {
            uint64_t ip;
            const char *module; /* basename; points into the session's strings */
            char *function;     /* demangled, or NULL when unknown */
            uint64_t offset;    /* from the function, or from the module when unknown */
        } *frames; /* innermost first */
    } *stacks; /* sorted by id */
    uint64_t stacks_dropped;
    uint64_t unknown_frees;
    /* GPU activity (CUPTI), sorted by start time */
    size_t n_gpu;
    struct coll_gpu *gpu;
    /* GPU records not written, counted since the previous collection
     * (cupti.c's banner says which session a record belongs to), and of
     * those: */
    uint64_t gpu_dropped;
    uint64_t gpu_dropped_cupti;   /* by CUPTI: its buffers (cupti_buffer_size) were full */
    uint64_t gpu_dropped_cap;     /* beyond the session's cap (buffer_size) */
    uint64_t gpu_dropped_outside; /* arrived outside their session */
    /* API calls CUPTI's callbacks showed while recording that are not
     * written: the event buffers were full (also in dropped), or the call
     * had not ended when its session stopped */
    uint64_t api_dropped;
    bool cupti;           /* CUPTI was active for this session */
    /* as cuDriverGetVersion, cudaRuntimeGetVersion and cuptiGetVersion
     * answer (versions.c, cupti.c); 0: not known in this process */
    int cuda_driver_version, cuda_runtime_version;
    uint32_t cupti_version;
    /* the devices the GPU records name, described by the driver */
    size_t n_devices;
    struct coll_device {
        int id;
        char name[128];
        uint64_t total_memory;
        int major, minor, sms, warp_size;
        int max_threads_per_block, max_threads_per_sm;
        int regs_per_block, regs_per_sm;
        int shared_per_block, shared_per_block_optin, shared_per_sm;
    } devices[16];
};
/* clang-format on */

/* Describes device id (supplied by preload/: the real driver's queries);
 * returns 0, or a negative errno when it cannot (the device is left out
 * of deviceProperties). */
typedef int (*coll_device_describer)(int id, struct coll_device *out);
void coll_set_device_describer(coll_device_describer describe);

/* Describes a launched function: a CUfunction for driver launches, the host
 * stub for runtime launches (domain says which).  Fills name (driver-owned,
 * copied by the caller; NULL when unknown), registers and static shared
 * memory (-1 when unknown).  Supplied by preload/; called on the control
 * thread only. */
struct coll_kernel_info {
    const char *name;
    int registers;
    int static_shared;
};
typedef void (*coll_kernel_describer)(int domain, uint64_t func, struct coll_kernel_info *info);
void coll_set_kernel_describer(coll_kernel_describer describe);

/* A malloc'ed demangled C++ name, or NULL when name is not mangled
 * (symbols.c). */
char *coll_demangle(const char *name);

/* Called (from the thread that stepped) after a step began (BEGIN) or
 * ended (END, by max_iterations) a session: the control side writes the
 * registry, and collects and writes the session after an END. */
typedef void (*coll_state_notify)(enum coll_gate_action action);
void coll_set_state_notify(coll_state_notify notify);

/* Called with true when a session begins and false when it ends, on the
 * thread that caused it (gate lock held): profiler=cuda's cuProfilerStart/
 * cuProfilerStop window. */
typedef void (*coll_transition_hook)(bool begin);
void coll_set_transition_hook(coll_transition_hook hook);

/* record=false: gate and transitions only, no events (profiler=cuda). */
void coll_configure(long delay_iterations, long max_iterations, bool record);
enum coll_gate_state coll_state(void);
/* Each returns the gate's action; BEGIN/END have already been applied to
 * the recording flag when they return. */
enum coll_gate_action coll_start(void);
enum coll_gate_action coll_stop(void);
enum coll_gate_action coll_step(void);
/* A step marked on behalf of thread tid (a step signal: the process's main
 * thread), recorded as that thread's. */
enum coll_gate_action coll_step_as(int32_t tid);

/* True when a stopped session waits to be collected. */
bool coll_pending(void);
/* Waits until no thread is writing a record, then moves every recorded
 * event into a new session and empties the buffers.  NULL when there is
 * nothing pending (or on allocation failure, logged). */
struct coll_session *coll_collect(void);
void coll_session_free(struct coll_session *s);
/* Nothing recorded, and nothing counted as lost: a file would say nothing. */
bool coll_session_empty(const struct coll_session *s);
const char *coll_session_kernel_name(const struct coll_session *s, uint64_t func);
const struct coll_kernel_name *coll_session_kernel(const struct coll_session *s, uint64_t func);
const struct coll_stack *coll_session_stack(const struct coll_session *s, uint32_t id);
/* In a fork child: the parent's session, buffers, CUPTI state and locks
 * are left behind; the child starts idle. */
void coll_session_atfork_child(void);

/* ---- NVTX (nvtx.c) --------------------------------------------------------
 *
 * preload/nvtx.c is the NVTX tool (InitializeInjectionNvtx2); it hands the
 * program's ranges, marks and names to these functions.  Ranges are held
 * (their stacks and open start/end ranges kept) in every state, so one
 * begun before a session, even while omniprof was idle, ends in the
 * session's trace by its name, clipped to the session.  They are followed
 * (timed, their messages interned) while a session is started (armed or
 * recording), and recorded while a session records; while idle a range's
 * beginning only copies its description into the thread's stack (or a
 * table slot), its end only lets go of it.  Strings are interned into
 * bounded storage, once each; names (threads, streams, devices,
 * categories) hold for the process.  Every function here is lock-free and
 * allocates nothing; any thread.  The range functions keep errno (idle,
 * they touch nothing that sets it; the hooks call them without saving it).
 */

enum coll_nvtx_what {
    COLL_NVTX_RANGE = 1, /* a range that ended while recording */
    COLL_NVTX_OPEN,      /* a range still open when the session ended */
    COLL_NVTX_MARK,
};
enum {
    COLL_NVTX_COLOR = 1,    /* color holds an ARGB colour */
    COLL_NVTX_STARTEND = 2, /* a start/end range (else push/pop) */
};
/* What a name names: a thread (key: its tid), a stream (CUPTI's stream id),
 * a device (ordinal), a category (domain << 32 | category). */
enum coll_nvtx_names { COLL_NVTX_THREAD, COLL_NVTX_STREAM, COLL_NVTX_DEVICE, COLL_NVTX_CATEGORY };

/* Nonzero while ranges are followed: one relaxed load. */
extern _Atomic uint32_t coll_nvtx_followed;
static inline bool coll_nvtx_following(void)
{
    return atomic_load_explicit(&coll_nvtx_followed, memory_order_relaxed) != 0;
}

/* Once, before the first range call (idempotent); 0 or -errno. */
int coll_nvtx_init(void);
/* The id of a string (at most 1023 bytes are kept), interned on first
 * sight; 1 when the table is full (counted). */
uint32_t coll_nvtx_intern(const char *s);
uint32_t coll_nvtx_intern_wide(const wchar_t *s); /* as UTF-8 */
/* Whether id is one coll_nvtx_intern gave (a registered string handle). */
bool coll_nvtx_string_valid(uint32_t id);
const char *coll_nvtx_string(uint32_t id);
/* The domain named by an interned string, made on first use (0 when
 * there is no room: the default domain), and a domain's name. */
uint16_t coll_nvtx_domain(uint32_t name);
uint32_t coll_nvtx_domain_name(uint16_t domain);
/* A message as the program gave it, not interned yet: text (UTF-8) or
 * wide text; both NULL when r->message holds it (a registered string) or
 * there is none.  The text is read during the call only: interned when
 * followed, else copied (up to 63 bytes; a longer one is cut and ends in
 * U+2026, an ellipsis). */
struct coll_nvtx_text {
    const char *s;
    const wchar_t *w;
};
/* Ranges and marks; r: what the program said (domain, category, ...).
 * push/pop return NVTX's level, or NVTX_NO_PUSH_POP_TRACKING (-2) when not
 * followed; start returns the range's id (never 0), end takes it. */
int coll_nvtx_push(const struct coll_nvtx *r, struct coll_nvtx_text t);
int coll_nvtx_pop(uint16_t domain);
uint64_t coll_nvtx_start(const struct coll_nvtx *r, struct coll_nvtx_text t);
void coll_nvtx_end(uint64_t id);
void coll_nvtx_mark(const struct coll_nvtx *r, struct coll_nvtx_text t);
/* Names: the latest one given to a key holds; 0 when none. */
void coll_nvtx_name(enum coll_nvtx_names kind, uint64_t key, uint32_t name);
uint32_t coll_nvtx_name_of(enum coll_nvtx_names kind, uint64_t key);
/* "[DOMAIN/]NAME" of step_on=nvtx:... into o's step_on_nvtx fields. */
void coll_nvtx_step_on(const char *spec, struct coll_options *o);
/* Since the process began: strings not interned for want of room, and
 * ranges not held (no stack or slot left; they are not recorded). */
uint64_t coll_nvtx_strings_dropped(void);
uint64_t coll_nvtx_ranges_dropped(void);

#endif
