/*
 * preload/'s internal header, shared by its own files only (the program-
 * facing API is omniprof.h).  preload/ is the injected surface:
 * constructor, InitializeInjection, the interposed CUDA, dlsym and exec
 * functions, and the exported API.  Hooks do no I/O and no allocation on
 * the record path; they time the real call and append one record.
 *
 * Errors: a function that can fail returns 0 or a negative errno value;
 * its caller checks.
 */
#ifndef OMNIPROF_PRELOAD_H
#define OMNIPROF_PRELOAD_H

#include <cuda.h>
#include <cudaProfiler.h>
#include <cuda_runtime_api.h>
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "collector.h"

#define PL_EXPORT __attribute__((visibility("default")))

/* cuda.h maps cuGetProcAddress to cuGetProcAddress_v2; omniprof wraps both,
 * and the per-thread-default-stream (_ptsz) variants, which cuda.h declares
 * only for code compiled with CUDA_API_PER_THREAD_DEFAULT_STREAM. */
#undef cuGetProcAddress
CUresult cuGetProcAddress(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags);
CUresult cuLaunchKernel_ptsz(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                             unsigned by, unsigned bz, unsigned shared, CUstream stream,
                             void **params, void **extra);
CUresult cuLaunchKernelEx_ptsz(const CUlaunchConfig *config, CUfunction f, void **params,
                               void **extra);
CUresult cuLaunchCooperativeKernel_ptsz(CUfunction f, unsigned gx, unsigned gy, unsigned gz,
                                        unsigned bx, unsigned by, unsigned bz, unsigned shared,
                                        CUstream stream, void **params);
CUresult cuGraphLaunch_ptsz(CUgraphExec exec, CUstream stream);
CUresult cuMemAllocAsync_ptsz(CUdeviceptr *dptr, size_t bytes, CUstream stream);
CUresult cuMemFreeAsync_ptsz(CUdeviceptr ptr, CUstream stream);
CUresult cuStreamSynchronize_ptsz(CUstream stream);

/* Functions omniprof wraps but does not record, X(name, domain). */
#define PL_WRAPPED_LIST(X)                                                                         \
    X(cuInit, DRIVER)                                                                              \
    X(cuGetProcAddress, DRIVER)                                                                    \
    X(cuGetProcAddress_v2, DRIVER)                                                                 \
    X(execve, LIBC)                                                                                \
    X(execvpe, LIBC)                                                                               \
    X(posix_spawn, LIBC)                                                                           \
    X(posix_spawnp, LIBC)                                                                          \
    X(_exit, LIBC)                                                                                 \
    X(_Exit, LIBC)                                                                                 \
    X(kill, LIBC)                                                                                  \
    X(raise, LIBC)

/* Real functions omniprof only calls, X(name, domain). */
#define PL_HELPER_LIST(X)                                                                          \
    X(cuFuncGetName, DRIVER)                                                                       \
    X(cuFuncGetAttribute, DRIVER)                                                                  \
    X(cuDeviceGet, DRIVER)                                                                         \
    X(cuDeviceGetName, DRIVER)                                                                     \
    X(cuDeviceGetAttribute, DRIVER)                                                                \
    X(cuDeviceTotalMem_v2, DRIVER)                                                                 \
    X(cuCtxGetDevice, DRIVER)                                                                      \
    X(cuStreamGetId, DRIVER)                                                                       \
    X(cuCtxGetCurrent, DRIVER)                                                                     \
    X(cuCtxSetCurrent, DRIVER)                                                                     \
    X(cuDevicePrimaryCtxRetain, DRIVER)                                                            \
    X(cuProfilerStart, DRIVER)                                                                     \
    X(cuProfilerStop, DRIVER)                                                                      \
    X(cudaGetDevice, RUNTIME)                                                                      \
    X(cudaFuncGetName, RUNTIME)                                                                    \
    X(cudaFuncGetAttributes, RUNTIME)

/* The real functions, resolved lazily by pl_resolve(). */
/* the lists expand here: one entry a line */
/* clang-format off */
struct pl_real {
#define PL_REAL_FIELD(name, domain) __typeof__(name) *name;
    COLL_API_LIST(PL_REAL_FIELD)
    PL_WRAPPED_LIST(PL_REAL_FIELD)
    PL_HELPER_LIST(PL_REAL_FIELD)
#undef PL_REAL_FIELD
    void *(*dlsym)(void *, const char *);
    void *(*dlvsym)(void *, const char *, const char *);
    /* libc's own dlopen/dlclose, not a sanitizer's interceptor of them
     * (which cannot forward while the sanitizer still initialises, and
     * asks omniprof's dlsym for its real functions as it does). */
    void *(*dlopen)(const char *, int);
    int (*dlclose)(void *);
};
/* clang-format on */

/* the lists expand here: one entry a line */
/* clang-format off */
enum pl_sym {
#define PL_SYM_ENUM(name, domain) PL_##name,
    COLL_API_LIST(PL_SYM_ENUM)
    PL_WRAPPED_LIST(PL_SYM_ENUM)
    PL_HELPER_LIST(PL_SYM_ENUM)
#undef PL_SYM_ENUM
    PL_SYM_COUNT
};
/* clang-format on */

extern struct pl_real pl_real;

/* Finds the real function behind `sym`; returns 0, or -ENOENT when no
 * loaded library provides it (yet: a later call may find it).  Keeps
 * errno. */
int pl_resolve(enum pl_sym sym);

/* The "resolved yet?" check every hook begins with: the real function, or
 * NULL when none is loaded.  (A macro: it names both the pl_real field and
 * the enum pl_sym entry.) */
#define PL_REAL(name) (pl_real.name || pl_resolve(PL_##name) == 0 ? pl_real.name : NULL)

/* libc's own dlsym/dlvsym (libc_syms.c), found without calling them. */
void *pl_libc_symbol(const char *name);
/* Resolves pl_real.dlsym, dlvsym, dlopen and dlclose; 0, or -ENOENT when
 * libc's dlsym/dlvsym cannot be found. */
int pl_resolve_dl(void);

/* dlsym/cuGetProcAddress answers: if `name` is a function omniprof wraps
 * and `found` is its real implementation, remembers it and returns the
 * wrapper; otherwise returns `found` unchanged. */
void *pl_wrap_symbol(const char *name, void *found);

/* Re-entry guard: a hook reached from inside omniprof, or from inside
 * another hook's real call (a runtime call's driver calls), only forwards. */
extern __thread bool pl_in_hook __attribute__((tls_model("initial-exec")));

/* Makes sure the constructor's work has happened (hooks can run first). */
void pl_init(void);
/* Resolves _exit, _Exit, kill and raise (hooks_exit.c), from the
 * constructor: they run where resolving is not safe. */
void pl_resolve_endings(void);

/* NVTX (nvtx.c): at load, before omniprof starts its thread, names this
 * library in NVTX_INJECTION64_PATH unless the program names a tool of its
 * own; pl_nvtx_report, once logging is configured, says so then. */
void pl_nvtx_environment(void);
void pl_nvtx_report(void);

/* An address or handle as an event field. */
static inline uint64_t pl_ptr(const void *p)
{
    return (uint64_t)(uintptr_t)p;
}

/* ---- the hooks' common path -------------------------------------------------
 *
 * Every recorded hook has the same shape (hooks_*.c):
 *
 *     if (!PL_REAL(name))                      resolved yet? (else: CUDA's "not initialised")
 *         return MISSING;
 *     struct pl_call call = pl_enter(COLL_API_name);
 *     if (call.mode == PL_FORWARD)             off, or re-entered: the forward call only
 *         return pl_real.name(args);
 *     T r = pl_real.name(args);
 *     struct coll_event *ev = pl_record_call(&call, COLL_EV_kind, (int)r);
 *     if (ev)
 *         ...fill ev's payload...
 *     pl_finish(&call, ev);
 *     return r;
 *
 * The forward path is a tail call: when profiling is off a hook costs the
 * "resolved yet?" load, the in-hook flag, one relaxed load of the recording
 * flag and the step_on comparison.
 */

enum pl_mode {
    PL_FORWARD,   /* forward untouched: not recording, or re-entered */
    PL_STEP_ONLY, /* not recording, but a completed call is a step (step_on) */
    PL_RECORD,    /* guarded (pl_in_hook) and timed; recorded while a session records */
};

/* One hooked call, from pl_enter to pl_finish. */
struct pl_call {
    enum pl_mode mode;
    int api;         /* enum coll_api */
    uint64_t t0;     /* PL_RECORD: when the real call began */
    int saved_errno; /* PL_RECORD: what the real call left in errno */
};

/* Whether the hooks record launches, copies, memsets and synchronisations:
 * while recording, unless CUPTI's callbacks own them (no double records). */
static inline bool pl_hooks_record(void)
{
    return coll_recording() && !atomic_load_explicit(&coll_cupti_active, memory_order_relaxed);
}

/* Starts a guarded, timed call: the real call runs with pl_in_hook set, so
 * the driver calls a runtime call makes forward untouched. */
static inline struct pl_call pl_begin_record(int api)
{
    pl_in_hook = true;
    return (struct pl_call){.mode = PL_RECORD, .api = api, .t0 = coll_now_ns()};
}

/* The prologue of a launch, copy, memset or synchronisation hook: what to
 * do with this call of `api`. */
static inline struct pl_call pl_enter(int api)
{
    if (pl_in_hook)
        return (struct pl_call){.mode = PL_FORWARD, .api = api};
    if (pl_hooks_record())
        return pl_begin_record(api);
    return (struct pl_call){.mode = coll_opt.step_on == api ? PL_STEP_ONLY : PL_FORWARD,
                            .api = api};
}

/* The prologue of an allocation hook.  Allocations stay with the hooks when
 * CUPTI is active, and they keep the table of live allocations up to date
 * (with_memory) whether or not a session records: such a call is guarded
 * and timed, and recorded while a session records. */
static inline struct pl_call pl_enter_memory(int api)
{
    if (pl_in_hook || (!coll_recording() && !coll_opt.with_memory && coll_opt.step_on != api))
        return (struct pl_call){.mode = PL_FORWARD, .api = api};
    return pl_begin_record(api);
}

/* After the real call: keeps its errno and, while a session records,
 * reserves the call's record and fills its header (the stack is taken
 * here, inside the record's busy window: see collector/stack.c).  Returns
 * the record for the hook to fill its payload, or NULL (not recording,
 * buffers full).  Every call that reached the real function goes on to
 * pl_finish. */
static inline struct coll_event *pl_record_call(struct pl_call *call, int kind, int result)
{
    if (call->mode != PL_RECORD)
        return NULL;
    uint64_t t1 = coll_now_ns();
    call->saved_errno = errno;
    struct coll_event *ev = coll_recording() ? coll_record_begin() : NULL;
    if (!ev)
        return NULL;
    ev->start_ns = call->t0;
    ev->end_ns = t1;
    ev->kind = (uint16_t)kind;
    ev->api = (uint16_t)call->api;
    ev->result = (int32_t)result;
    ev->stack = coll_opt.with_stack ? coll_stack_capture() : 0;
    return ev;
}

/* Ends a hooked call: commits its record, gives the program the real
 * call's errno, lifts the guard, and counts a step when `api` is step_on. */
static inline void pl_finish(const struct pl_call *call, struct coll_event *ev)
{
    if (ev)
        coll_record_commit(ev);
    if (call->mode == PL_RECORD) {
        errno = call->saved_errno;
        pl_in_hook = false;
    }
    if (coll_opt.step_on == call->api) {
        int saved = errno;
        coll_step();
        errno = saved;
    }
}

#endif
