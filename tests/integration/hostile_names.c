/*
 * Test helper (fake driver only: real PTX would refuse these names): kernels
 * whose names hold quotes, backslashes, control bytes, invalid UTF-8, valid
 * UTF-8, a 300-character name and a C++ mangled name.  Each is launched
 * (index + 1) times.
 */
#include <cuda.h>
#include <stdio.h>
#include <string.h>

static const char *const names[] = {
    "say\"hi\"",          "back\\slash",         "ctrl\x01\x1f", "bad\xff\xfe_utf8",
    "caf\xc3\xa9_kernel", "_Z10vector_addPfS_i", NULL, /* the long one, made below */
};

int main(void)
{
    char long_name[301];
    memset(long_name, 'L', 300);
    long_name[300] = '\0';
    char ptx[4096] = ".version 8.0\n.target sm_80\n.address_size 64\n";
    size_t n = sizeof names / sizeof names[0];
    for (size_t i = 0; i < n; i++) {
        strcat(ptx, ".visible .entry ");
        strcat(ptx, names[i] ? names[i] : long_name);
        strcat(ptx, "()\n{\n    ret;\n}\n");
    }
    CUdevice dev;
    CUcontext ctx;
    CUmodule mod;
    if (cuInit(0) || cuDeviceGet(&dev, 0) || cuDevicePrimaryCtxRetain(&ctx, dev) ||
        cuCtxSetCurrent(ctx) || cuModuleLoadData(&mod, ptx))
        return 1;
    for (size_t i = 0; i < n; i++) {
        CUfunction f;
        if (cuModuleGetFunction(&f, mod, names[i] ? names[i] : long_name))
            return 2;
        for (size_t k = 0; k <= i; k++)
            if (cuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 0, NULL, NULL, NULL))
                return 3;
    }
    printf("hostile_names: kernels=%zu\n", n);
    return 0;
}
