/*
 * preload/ — the injected surface: constructor, InitializeInjection, the
 * interposed CUDA functions and the exported API.  Hooks do no I/O and no
 * allocation; they time the real call and append one record.
 */
#ifndef OMNIPROF_PRELOAD_H
#define OMNIPROF_PRELOAD_H

#include <cuda.h>
#include <cuda_runtime_api.h>
#include <stdbool.h>

#define PL_EXPORT __attribute__((visibility("default")))

/* The real functions, resolved lazily by pl_resolve(); one table declares
 * them all (symbols.c). */
struct pl_real {
    CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned,
                               unsigned, unsigned, CUstream, void **, void **);
    CUresult (*cuMemAlloc_v2)(CUdeviceptr *, size_t);
    CUresult (*cuMemFree_v2)(CUdeviceptr);
    CUresult (*cuFuncGetName)(const char **, CUfunction);
    CUresult (*cuCtxGetDevice)(CUdevice *);
    CUresult (*cuCtxGetCurrent)(CUcontext *);
    CUresult (*cuCtxSetCurrent)(CUcontext);
    CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice);
    CUresult (*cuProfilerStart)(void);
    CUresult (*cuProfilerStop)(void);
    cudaError_t (*cudaMalloc)(void **, size_t);
    cudaError_t (*cudaFree)(void *);
    cudaError_t (*cudaGetDevice)(int *);
};

enum pl_sym {
    PL_cuLaunchKernel,
    PL_cuMemAlloc_v2,
    PL_cuMemFree_v2,
    PL_cuFuncGetName,
    PL_cuCtxGetDevice,
    PL_cuCtxGetCurrent,
    PL_cuCtxSetCurrent,
    PL_cuDevicePrimaryCtxRetain,
    PL_cuProfilerStart,
    PL_cuProfilerStop,
    PL_cudaMalloc,
    PL_cudaFree,
    PL_cudaGetDevice,
    PL_SYM_COUNT
};

extern struct pl_real pl_real;

/* Finds the real function behind symbol `sym`; returns 0, or -1 when no
 * loaded library provides it. */
int pl_resolve(enum pl_sym sym);

/* The "resolved yet?" check every hook begins with. */
#define PL_REAL(name) (pl_real.name ? pl_real.name : (pl_resolve(PL_##name), pl_real.name))

/* Re-entry guard: a hook reached from inside omniprof only forwards. */
extern __thread bool pl_in_hook __attribute__((tls_model("initial-exec")));

/* Makes sure the constructor's work has happened (hooks can run first). */
void pl_init(void);

#endif
