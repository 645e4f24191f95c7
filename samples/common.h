/*
 * Small helpers shared by the samples: a CHECK for driver calls, the PTX
 * text of trivially small kernels, load_kernel(), and the weak omni_step
 * reference through
 * which every sample marks iterations when omniprof is loaded (and runs
 * unchanged when it is not).  Samples never include omniprof headers.
 */
#ifndef SAMPLES_COMMON_H
#define SAMPLES_COMMON_H

#include <cuda.h>
#include <stdio.h>

extern void omni_step(void) __attribute__((weak));

static inline void step(void)
{
    if (omni_step)
        omni_step();
}

#define CHECK(call)                                                                                \
    do {                                                                                           \
        int r_ = (int)(call);                                                                      \
        if (r_ != 0) {                                                                             \
            fprintf(stderr, "%s:%d: %s failed: %d\n", __FILE__, __LINE__, #call, r_);              \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

/* Makes device 0's primary context current on this thread, loads the PTX
 * and returns its kernel `name`: the start of every driver-API sample. */
static inline CUresult load_kernel(const char *ptx, const char *name, CUfunction *f)
{
    CUdevice dev;
    CUcontext ctx;
    CUmodule mod;
    CUresult r;
    if ((r = cuInit(0)) || (r = cuDeviceGet(&dev, 0)) ||
        (r = cuDevicePrimaryCtxRetain(&ctx, dev)) || (r = cuCtxSetCurrent(ctx)) ||
        (r = cuModuleLoadData(&mod, ptx)))
        return r;
    return cuModuleGetFunction(f, mod, name);
}

/* PTX for one or two empty kernels with the given names. */
#define PTX_HEADER ".version 8.0\n.target sm_80\n.address_size 64\n"
#define PTX_KERNEL(name) ".visible .entry " name "()\n{\n    ret;\n}\n"

#endif
