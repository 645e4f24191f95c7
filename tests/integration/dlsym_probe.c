/*
 * Test helper: which object answers each way of looking a function up.
 * Prints "lookup=object" lines (object: basename of the library whose code
 * the pointer is in, or "none").  Links no CUDA library.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

static void show(const char *what, void *fn)
{
    Dl_info info;
    const char *obj = "none";
    if (fn && dladdr(fn, &info) && info.dli_fname) {
        const char *slash = strrchr(info.dli_fname, '/');
        obj = slash ? slash + 1 : info.dli_fname;
    }
    printf("%s=%s\n", what, obj);
}

int main(void)
{
    void *cuda = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    show("handle_cuLaunchKernel", cuda ? dlsym(cuda, "cuLaunchKernel") : NULL);
    show("handle_cuMemAlloc_v2", cuda ? dlsym(cuda, "cuMemAlloc_v2") : NULL);
    show("handle_cuDeviceGetName", cuda ? dlsym(cuda, "cuDeviceGetName") : NULL);
    show("handle_cuGetProcAddress_v2", cuda ? dlsym(cuda, "cuGetProcAddress_v2") : NULL);
    show("default_cuLaunchKernel", dlsym(RTLD_DEFAULT, "cuLaunchKernel"));
    show("next_cuLaunchKernel", dlsym(RTLD_NEXT, "cuLaunchKernel"));
    show("next_printf", dlsym(RTLD_NEXT, "printf"));
    show("next_missing", dlsym(RTLD_NEXT, "no_such_function_anywhere"));
    const char *why = dlerror(); /* libc's words, naming this program */
    printf("next_missing_error=");
    for (; why && *why; why++)
        putchar(*why == ' ' ? '_' : *why);
    putchar('\n');
    show("next_dlvsym_printf", dlvsym(RTLD_NEXT, "printf", "GLIBC_2.2.5"));
    show("dlvsym_printf", dlvsym(RTLD_DEFAULT, "printf", "GLIBC_2.2.5"));
    return 0;
}
