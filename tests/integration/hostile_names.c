/*
 * Test helper (fake driver only: real PTX would refuse these names): kernels
 * whose names hold quotes, backslashes, control bytes, invalid UTF-8, valid
 * UTF-8, a 300-character name and a C++ mangled name.  Each is launched
 * (index + 1) times.  `hostile_names N` then launches N kernels more, each
 * of its own name (many_0, many_1, ...), once: a program with as many
 * distinct kernels as a compiled model has.
 */
#include <cuda.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[] = {
    "say\"hi\"",          "back\\slash",         "ctrl\x01\x1f", "bad\xff\xfe_utf8",
    "caf\xc3\xa9_kernel", "_Z10vector_addPfS_i", NULL, /* the long one, made below */
};

/* N kernels of their own names, from a module of their own. */
static int launch_many(int n)
{
    size_t cap = 64 + (size_t)n * 48, len = 0;
    char *ptx = malloc(cap);
    if (!ptx)
        return 4;
    len += (size_t)snprintf(ptx, cap, ".version 8.0\n.target sm_80\n.address_size 64\n");
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(ptx + len, cap - len, ".visible .entry many_%d()\n{\n    ret;\n}\n",
                                i);
    CUmodule mod;
    int rc = cuModuleLoadData(&mod, ptx) ? 5 : 0;
    for (int i = 0; i < n && rc == 0; i++) {
        char name[32];
        CUfunction f;
        snprintf(name, sizeof name, "many_%d", i);
        if (cuModuleGetFunction(&f, mod, name) ||
            cuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 0, NULL, NULL, NULL))
            rc = 6;
    }
    free(ptx);
    return rc;
}

int main(int argc, char **argv)
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
    int many = argc > 1 ? atoi(argv[1]) : 0;
    int rc = many > 0 ? launch_many(many) : 0;
    printf("hostile_names: kernels=%zu\n", n + (size_t)(many > 0 ? many : 0));
    return rc;
}
