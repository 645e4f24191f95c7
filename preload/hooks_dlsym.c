/*
 * dlsym and dlvsym, interposed so that a program that looks CUDA functions
 * up by name (PyTorch, Triton: dlopen("libcuda.so.1") + dlsym) gets
 * omniprof's wrappers, whatever handle it uses.  Every other name is
 * answered by libc itself.
 *
 * libc's dlsym takes the object RTLD_NEXT starts after from its return
 * address.  So on x86-64 and AArch64 the exported dlsym/dlvsym are small
 * assembly trampolines: they ask pl_dlsym_route() where to go, restore the
 * arguments and jump there, leaving the caller's return address in place.
 * A name that is not a CUDA one (cu...) goes straight to libc's dlsym,
 * which then sees the real caller: its answer, RTLD_NEXT and dlerror()
 * included, is exactly libc's, even from a sanitizer runtime's initialiser
 * (which looks its real functions up with dlsym(RTLD_NEXT) before it can
 * serve its own interceptors, and before other objects' constructors ran).
 *
 * CUDA names go to lookup() below, which wraps what it finds; for RTLD_NEXT
 * it finds the first object after the caller in link-map order that
 * defines the name.  Elsewhere (other architectures) every name goes
 * through lookup().
 */
#include <dlfcn.h>
#include <link.h>
#include <stddef.h>

#include "preload.h"

/* The first definition of name (and version, if given) in an object after
 * the one containing `caller`. */
static void *next_after(const void *caller, const char *name, const char *version)
{
    Dl_info info;
    struct link_map *self = NULL;
    if (!dladdr1(caller, &info, (void **)&self, RTLD_DL_LINKMAP) || !self)
        return NULL;
    for (struct link_map *l = self->l_next; l; l = l->l_next) {
        if (!l->l_name || !l->l_name[0])
            continue;
        void *h = pl_real.dlopen(l->l_name, RTLD_LAZY | RTLD_NOLOAD);
        if (!h)
            continue;
        void *fn = version ? pl_real.dlvsym(h, name, version) : pl_real.dlsym(h, name);
        pl_real.dlclose(h);
        struct link_map *owner = NULL;
        /* dlsym on a handle also searches its dependencies: keep only a
         * definition that lives in this very object. */
        if (fn && dladdr1(fn, &info, (void **)&owner, RTLD_DL_LINKMAP) && owner == l)
            return fn;
    }
    return NULL;
}

/* caller: the return address of the program's dlsym/dlvsym call. */
static void *lookup(void *handle, const char *name, const char *version, const void *caller)
{
    if (pl_resolve_dl() < 0)
        return NULL;
    void *found = handle == RTLD_NEXT ? next_after(caller, name, version)
                  : version           ? pl_real.dlvsym(handle, name, version)
                                      : pl_real.dlsym(handle, name);
    return pl_wrap_symbol(name, found);
}

#if defined(__x86_64__) || defined(__aarch64__)

/* The names lookup() has to see: those omniprof may wrap. */
static bool cuda_name(const char *name)
{
    return name && name[0] == 'c' && name[1] == 'u';
}

/* Where the trampolines jump: reached by a jump, so their return address
 * is the program's. */
__attribute__((used)) void *pl_dlsym_lookup(void *handle, const char *name);
__attribute__((used)) void *pl_dlvsym_lookup(void *handle, const char *name, const char *version);
__attribute__((used)) void *pl_dlsym_route(void *handle, const char *name);
__attribute__((used)) void *pl_dlvsym_route(void *handle, const char *name, const char *version);

void *pl_dlsym_lookup(void *handle, const char *name)
{
    return lookup(handle, name, NULL, __builtin_return_address(0));
}

void *pl_dlvsym_lookup(void *handle, const char *name, const char *version)
{
    return lookup(handle, name, version, __builtin_return_address(0));
}

static void *nothing(void)
{
    return NULL;
}

/* ours for a CUDA name, else libc's (as resolved by pl_resolve_dl) */
static void *route(const char *name, void *ours, void *const *libc)
{
    if (pl_resolve_dl() < 0)
        return (void *)nothing;
    return cuda_name(name) ? ours : *libc;
}

void *pl_dlsym_route(void *handle, const char *name)
{
    (void)handle;
    return route(name, (void *)pl_dlsym_lookup, (void *const *)&pl_real.dlsym);
}

void *pl_dlvsym_route(void *handle, const char *name, const char *version)
{
    (void)handle, (void)version;
    return route(name, (void *)pl_dlvsym_lookup, (void *const *)&pl_real.dlvsym);
}

#if defined(__x86_64__)
/* At entry %rsp is 8 past a 16-byte boundary; the pushes (and the pad for
 * dlsym) realign it for the call. */
__asm__(".text\n"
        ".globl dlsym\n.type dlsym, @function\n.p2align 4\n"
        "dlsym:\n"
        ".cfi_startproc\n"
        "  endbr64\n"
        "  push %rdi\n  .cfi_adjust_cfa_offset 8\n"
        "  push %rsi\n  .cfi_adjust_cfa_offset 8\n"
        "  sub $8, %rsp\n  .cfi_adjust_cfa_offset 8\n"
        "  call pl_dlsym_route\n"
        "  add $8, %rsp\n  .cfi_adjust_cfa_offset -8\n"
        "  pop %rsi\n  .cfi_adjust_cfa_offset -8\n"
        "  pop %rdi\n  .cfi_adjust_cfa_offset -8\n"
        "  jmp *%rax\n"
        ".cfi_endproc\n"
        ".size dlsym, .-dlsym\n"
        ".globl dlvsym\n.type dlvsym, @function\n.p2align 4\n"
        "dlvsym:\n"
        ".cfi_startproc\n"
        "  endbr64\n"
        "  push %rdi\n  .cfi_adjust_cfa_offset 8\n"
        "  push %rsi\n  .cfi_adjust_cfa_offset 8\n"
        "  push %rdx\n  .cfi_adjust_cfa_offset 8\n"
        "  call pl_dlvsym_route\n"
        "  pop %rdx\n  .cfi_adjust_cfa_offset -8\n"
        "  pop %rsi\n  .cfi_adjust_cfa_offset -8\n"
        "  pop %rdi\n  .cfi_adjust_cfa_offset -8\n"
        "  jmp *%rax\n"
        ".cfi_endproc\n"
        ".size dlvsym, .-dlvsym\n");
#else
/* x16 (IP0) is the register a veneer may use: free at a branch. */
__asm__(".text\n"
        ".globl dlsym\n.type dlsym, %function\n.p2align 4\n"
        "dlsym:\n"
        ".cfi_startproc\n"
        "  hint #34\n" /* bti c */
        "  stp x29, x30, [sp, #-32]!\n  .cfi_def_cfa_offset 32\n"
        "  .cfi_offset 29, -32\n  .cfi_offset 30, -24\n"
        "  mov x29, sp\n"
        "  stp x0, x1, [sp, #16]\n"
        "  bl pl_dlsym_route\n"
        "  mov x16, x0\n"
        "  ldp x0, x1, [sp, #16]\n"
        "  ldp x29, x30, [sp], #32\n  .cfi_def_cfa_offset 0\n"
        "  .cfi_restore 29\n  .cfi_restore 30\n"
        "  br x16\n"
        ".cfi_endproc\n"
        ".size dlsym, .-dlsym\n"
        ".globl dlvsym\n.type dlvsym, %function\n.p2align 4\n"
        "dlvsym:\n"
        ".cfi_startproc\n"
        "  hint #34\n"
        "  stp x29, x30, [sp, #-48]!\n  .cfi_def_cfa_offset 48\n"
        "  .cfi_offset 29, -48\n  .cfi_offset 30, -40\n"
        "  mov x29, sp\n"
        "  stp x0, x1, [sp, #16]\n"
        "  str x2, [sp, #32]\n"
        "  bl pl_dlvsym_route\n"
        "  mov x16, x0\n"
        "  ldp x0, x1, [sp, #16]\n"
        "  ldr x2, [sp, #32]\n"
        "  ldp x29, x30, [sp], #48\n  .cfi_def_cfa_offset 0\n"
        "  .cfi_restore 29\n  .cfi_restore 30\n"
        "  br x16\n"
        ".cfi_endproc\n"
        ".size dlvsym, .-dlvsym\n");
#endif

#else /* other architectures: every name through lookup() */

PL_EXPORT void *dlsym(void *handle, const char *name)
{
    return lookup(handle, name, NULL, __builtin_return_address(0));
}

PL_EXPORT void *dlvsym(void *handle, const char *name, const char *version)
{
    return lookup(handle, name, version, __builtin_return_address(0));
}

#endif
