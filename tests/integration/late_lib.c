/*
 * Test helper library of late_launch: its constructor sets CUDA up and
 * launches (a library constructor may run before omniprof's), its
 * destructor launches again (library destructors run after omniprof has
 * written its files at exit).
 */
#include <cuda.h>
#include <stdio.h>

static const char ptx[] = ".version 8.0\n.target sm_80\n.address_size 64\n"
                          ".visible .entry late_kernel()\n{\n    ret;\n}\n";
CUfunction late_kernel;
int late_early_result = -1;

CUresult late_launch_once(void)
{
    return cuLaunchKernel(late_kernel, 1, 1, 1, 32, 1, 1, 0, NULL, NULL, NULL);
}

__attribute__((constructor)) static void early(void)
{
    CUdevice dev;
    CUcontext ctx;
    CUmodule mod;
    if (cuInit(0) || cuDeviceGet(&dev, 0) || cuDevicePrimaryCtxRetain(&ctx, dev) ||
        cuCtxSetCurrent(ctx) || cuModuleLoadData(&mod, ptx) ||
        cuModuleGetFunction(&late_kernel, mod, "late_kernel"))
        return;
    late_early_result = late_launch_once();
}

__attribute__((destructor)) static void late(void)
{
    fprintf(stderr, "late_launch: library destructor launch=%d\n", late_launch_once());
}
