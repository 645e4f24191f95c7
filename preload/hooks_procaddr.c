/*
 * cuGetProcAddress and cuGetProcAddress_v2.  The CUDA runtime and PyTorch
 * fetch driver entry points this way (the runtime takes cuGetProcAddress_v2
 * with dlsym, then asks it for everything).  The answer depends on the name,
 * on `flags` (CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM gives the
 * _ptsz variant) and on `cudaVersion` (e.g. cuMemAlloc is cuMemAlloc_v2 from
 * 3.2 on): each variant keeps its own real pointer and gets its own wrapper.
 * Variants omniprof does not wrap (cuMemAlloc v1 for very old versions) and
 * all other names come back untouched.
 */
#include <stdio.h>
#include <string.h>

#include "control.h"
#include "preload.h"

/* Names whose variant depends on the version or the stream mode. */
static const struct variant {
    const char *name;
    int v2_from;            /* cudaVersion from which the _v2 variant is meant; 0: none */
    const char *per_thread; /* suffix of the per-thread-default-stream variant, or NULL */
} variants[] = {
    {"cuLaunchKernel", 0, "_ptsz"},
    {"cuLaunchKernelEx", 0, "_ptsz"},
    {"cuLaunchCooperativeKernel", 0, "_ptsz"},
    {"cuGraphLaunch", 0, "_ptsz"},
    {"cuMemAllocAsync", 0, "_ptsz"},
    {"cuMemFreeAsync", 0, "_ptsz"},
    {"cuMemAlloc", 3020, NULL},
    {"cuMemAllocPitch", 3020, NULL},
    {"cuMemFree", 3020, NULL},
    {"cuMemAllocHost", 3020, NULL},
    {"cuGetProcAddress", 12000, NULL},
    {"cuMemcpy", 0, "_ptds"},
    {"cuMemcpyAsync", 0, "_ptsz"},
    {"cuMemcpyHtoD", 3020, "_ptds"},
    {"cuMemcpyDtoH", 3020, "_ptds"},
    {"cuMemcpyDtoD", 3020, "_ptds"},
    {"cuMemcpyHtoDAsync", 3020, "_ptsz"},
    {"cuMemcpyDtoHAsync", 3020, "_ptsz"},
    {"cuMemcpyDtoDAsync", 3020, "_ptsz"},
    {"cuMemsetD8", 3020, "_ptds"},
    {"cuMemsetD32", 3020, "_ptds"},
    {"cuMemsetD8Async", 0, "_ptsz"},
    {"cuMemsetD32Async", 0, "_ptsz"},
    {"cuStreamSynchronize", 0, "_ptsz"},
};

/* The name of the variant the driver hands out for (name, version, flags). */
static const char *variant_name(const char *name, int version, cuuint64_t flags, char *buf,
                                size_t cap)
{
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        const struct variant *v = &variants[i];
        if (strcmp(v->name, name) != 0)
            continue;
        bool v2 = v->v2_from && version >= v->v2_from;
        bool per_thread = v->per_thread && (flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM);
        snprintf(buf, cap, "%s%s%s", name, v2 ? "_v2" : "", per_thread ? v->per_thread : "");
        return buf;
    }
    return name;
}

/* The first CUDA initialisation in the process: the moment to set CUPTI up
 * (loading it into every process that never uses CUDA would be waste). */
PL_EXPORT CUresult cuInit(unsigned flags)
{
    if (!PL_REAL(cuInit))
        return CUDA_ERROR_NOT_INITIALIZED;
    CUresult r = pl_real.cuInit(flags);
    if (r == CUDA_SUCCESS && !pl_in_hook) {
        int saved = errno;
        pl_in_hook = true;
        ctl_cuda_arrived();
        pl_in_hook = false;
        errno = saved;
    }
    return r;
}

PL_EXPORT CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int version,
                                       cuuint64_t flags, CUdriverProcAddressQueryResult *status)
{
    if (!PL_REAL(cuGetProcAddress_v2))
        return CUDA_ERROR_NOT_INITIALIZED;
    CUresult r = pl_real.cuGetProcAddress_v2(symbol, pfn, version, flags, status);
    if (r == CUDA_SUCCESS && pfn && symbol) {
        char buf[128];
        *pfn = pl_wrap_symbol(variant_name(symbol, version, flags, buf, sizeof buf), *pfn);
    }
    return r;
}

PL_EXPORT CUresult cuGetProcAddress(const char *symbol, void **pfn, int version, cuuint64_t flags)
{
    if (!PL_REAL(cuGetProcAddress))
        return CUDA_ERROR_NOT_INITIALIZED;
    CUresult r = pl_real.cuGetProcAddress(symbol, pfn, version, flags);
    if (r == CUDA_SUCCESS && pfn && symbol) {
        char buf[128];
        *pfn = pl_wrap_symbol(variant_name(symbol, version, flags, buf, sizeof buf), *pfn);
    }
    return r;
}
