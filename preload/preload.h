/*
 * preload/ — the injected surface: constructor, InitializeInjection, the
 * interposed CUDA, dlsym and exec functions, and the exported API.  Hooks do
 * no I/O and no allocation on the record path; they time the real call and
 * append one record.
 */
#ifndef OMNIPROF_PRELOAD_H
#define OMNIPROF_PRELOAD_H

#include <cuda.h>
#include <cudaProfiler.h>
#include <cuda_runtime_api.h>
#include <errno.h>
#include <spawn.h>
#include <unistd.h>
#include <stdbool.h>
#include <stdint.h>

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
    X(posix_spawnp, LIBC)

/* Real functions omniprof only calls, X(name, domain). */
#define PL_HELPER_LIST(X)                                                                          \
    X(cuFuncGetName, DRIVER)                                                                       \
    X(cuFuncGetAttribute, DRIVER)                                                                  \
    X(cuDeviceGet, DRIVER)                                                                         \
    X(cuDeviceGetName, DRIVER)                                                                     \
    X(cuDeviceGetAttribute, DRIVER)                                                                \
    X(cuDeviceTotalMem_v2, DRIVER)                                                                 \
    X(cuCtxGetDevice, DRIVER)                                                                      \
    X(cuCtxGetCurrent, DRIVER)                                                                     \
    X(cuCtxSetCurrent, DRIVER)                                                                     \
    X(cuDevicePrimaryCtxRetain, DRIVER)                                                            \
    X(cuProfilerStart, DRIVER)                                                                     \
    X(cuProfilerStop, DRIVER)                                                                      \
    X(cudaGetDevice, RUNTIME)                                                                      \
    X(cudaFuncGetName, RUNTIME)                                                                    \
    X(cudaFuncGetAttributes, RUNTIME)

/* The real functions, resolved lazily by pl_resolve(). */
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

enum pl_sym {
#define PL_SYM_ENUM(name, domain) PL_##name,
    COLL_API_LIST(PL_SYM_ENUM)
    PL_WRAPPED_LIST(PL_SYM_ENUM)
    PL_HELPER_LIST(PL_SYM_ENUM)
#undef PL_SYM_ENUM
    PL_SYM_COUNT
};

extern struct pl_real pl_real;

/* Finds the real function behind `sym`; returns 0, or -1 when no loaded
 * library provides it.  Keeps errno. */
int pl_resolve(enum pl_sym sym);

/* The "resolved yet?" check every hook begins with. */
#define PL_REAL(name) (pl_real.name ? pl_real.name : (pl_resolve(PL_##name), pl_real.name))

/* libc's own dlsym/dlvsym (libc_syms.c), found without calling them. */
void *pl_libc_symbol(const char *name);
/* Resolves pl_real.dlsym, dlvsym, dlopen and dlclose; 0 or -1. */
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

/* Fills an event's launch payload. */
static inline void pl_launch_shape(struct coll_event *ev, uint64_t func, uint64_t stream,
                                   unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                                   unsigned by, unsigned bz, unsigned shared)
{
    ev->kind = COLL_EV_LAUNCH;
    ev->u.launch.cluster[0] = ev->u.launch.cluster[1] = ev->u.launch.cluster[2] = 0;
    ev->u.launch.func = func;
    ev->u.launch.stream = stream;
    ev->u.launch.grid[0] = gx;
    ev->u.launch.grid[1] = gy;
    ev->u.launch.grid[2] = gz;
    ev->u.launch.block[0] = bx;
    ev->u.launch.block[1] = by;
    ev->u.launch.block[2] = bz;
    ev->u.launch.shared_mem = shared;
}

/* Fills an event's copy or memset payload. */
static inline void pl_copy(struct coll_event *ev, int kind, int copy_kind, uint64_t dst,
                           uint64_t src, uint64_t bytes, uint64_t stream)
{
    ev->kind = (uint16_t)kind;
    ev->u.copy.dst = dst;
    ev->u.copy.src = src;
    ev->u.copy.bytes = bytes;
    ev->u.copy.stream = stream;
    ev->u.copy.kind = (uint32_t)copy_kind;
}

/* The record's common header; the stack is taken here, inside the record's
 * busy window (see collector/stack.c). */
static inline void pl_event_begin(struct coll_event *ev, int api, uint64_t t0, uint64_t t1,
                                  int result)
{
    ev->start_ns = t0;
    ev->end_ns = t1;
    ev->api = (uint16_t)api;
    ev->result = (int32_t)result;
    ev->stack = coll_opt.with_stack ? coll_stack_capture() : 0;
}

/* Whether the hooks record launches, copies, memsets and synchronisations:
 * while recording, unless CUPTI's callbacks own them (no double records). */
static inline bool pl_hooks_record(void)
{
    return coll_recording() && !atomic_load_explicit(&coll_cupti_active, memory_order_relaxed);
}

/* step_on: a completed call of this API is an iteration boundary. */
static inline void pl_step_on(int api)
{
    if (coll_opt.step_on == api) {
        int saved = errno;
        coll_step();
        errno = saved;
    }
}

/*
 * Defines the exported wrapper `name`.  It resolves the real function (and
 * returns `missing` when there is none), forwards untouched when not
 * recording or when re-entered, and otherwise times the real call and
 * appends one record: FILL sets the payload and sees the arguments, the
 * result `r` and the record `ev`.  errno is what the real call left.  A
 * call of the step_on API is a step afterwards, recording or not.
 */
#define PL_HOOK(ret_t, name, missing, PARAMS, ARGS, FILL)                                          \
    PL_EXPORT ret_t name PARAMS                                                                    \
    {                                                                                              \
        if (!PL_REAL(name))                                                                        \
            return missing;                                                                        \
        if (pl_in_hook || (!pl_hooks_record() && coll_opt.step_on != COLL_API_##name))             \
            return pl_real.name ARGS;                                                              \
        if (!pl_hooks_record()) {                                                                  \
            ret_t r0 = pl_real.name ARGS;                                                          \
            pl_step_on(COLL_API_##name);                                                           \
            return r0;                                                                             \
        }                                                                                          \
        pl_in_hook = true;                                                                         \
        uint64_t t0 = coll_now_ns();                                                               \
        ret_t r = pl_real.name ARGS;                                                               \
        uint64_t t1 = coll_now_ns();                                                               \
        int saved_errno = errno;                                                                   \
        struct coll_event *ev = coll_record_begin();                                               \
        if (ev) {                                                                                  \
            pl_event_begin(ev, COLL_API_##name, t0, t1, (int)r);                                   \
            FILL;                                                                                  \
            coll_record_commit(ev);                                                                \
        }                                                                                          \
        errno = saved_errno;                                                                       \
        pl_in_hook = false;                                                                        \
        pl_step_on(COLL_API_##name);                                                               \
        return r;                                                                                  \
    }

/*
 * The same for allocation calls, which also keep the table of live
 * allocations up to date (with_memory) whether or not a session records:
 * TRACK calls coll_memory_alloc/free with `ev` (NULL when not recording).
 */
#define PL_MEM_HOOK(ret_t, name, missing, PARAMS, ARGS, KIND, TRACK)                               \
    PL_EXPORT ret_t name PARAMS                                                                    \
    {                                                                                              \
        if (!PL_REAL(name))                                                                        \
            return missing;                                                                        \
        if (pl_in_hook ||                                                                          \
            (!coll_recording() && !coll_opt.with_memory && coll_opt.step_on != COLL_API_##name))   \
            return pl_real.name ARGS;                                                              \
        pl_in_hook = true;                                                                         \
        uint64_t t0 = coll_now_ns();                                                               \
        ret_t r = pl_real.name ARGS;                                                               \
        uint64_t t1 = coll_now_ns();                                                               \
        int saved_errno = errno;                                                                   \
        struct coll_event *ev = coll_recording() ? coll_record_begin() : NULL;                     \
        if (ev) {                                                                                  \
            pl_event_begin(ev, COLL_API_##name, t0, t1, (int)r);                                   \
            ev->kind = KIND;                                                                       \
        }                                                                                          \
        TRACK;                                                                                     \
        if (ev)                                                                                    \
            coll_record_commit(ev);                                                                \
        errno = saved_errno;                                                                       \
        pl_in_hook = false;                                                                        \
        pl_step_on(COLL_API_##name);                                                               \
        return r;                                                                                  \
    }

#endif
