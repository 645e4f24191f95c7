/*
 * The one place that resolves real symbols.  Each entry names the function
 * and the libraries that provide it; a hook resolves its entry on first use
 * (a hook may run before the constructor, and libcuda is often dlopen'ed
 * after it).  Looked up with libc's real dlsym: RTLD_NEXT first (the next
 * definition after ours), then in an already-loaded library opened
 * RTLD_NOLOAD, so omniprof never loads CUDA into a process that did not.
 * A real pointer may also arrive through pl_wrap_symbol(), from a
 * program's own dlsym or cuGetProcAddress; the first one kept wins.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "preload.h"

struct pl_real pl_real;

static const char *const driver_libs[] = {"libcuda.so.1", "libcuda.so", NULL};
static const char *const runtime_libs[] = {"libcudart.so.13", "libcudart.so.12", "libcudart.so",
                                           NULL};
static const char *const libc_libs[] = {"libc.so.6", NULL};
#define LIBS_DRIVER driver_libs
#define LIBS_RUNTIME runtime_libs
#define LIBS_LIBC libc_libs

/* the lists expand here: one entry a line */
/* clang-format off */
static const struct entry {
    const char *name;
    size_t offset;
    const char *const *libs;
    void *wrapper; /* omniprof's function of that name */
} table[PL_SYM_COUNT] = {
#define WRAPPED(n, domain) [PL_##n] = {#n, offsetof(struct pl_real, n), LIBS_##domain, (void *)&n},
#define HELPER(n, domain) [PL_##n] = {#n, offsetof(struct pl_real, n), LIBS_##domain, NULL},
    COLL_API_LIST(WRAPPED)
    PL_WRAPPED_LIST(WRAPPED)
    PL_HELPER_LIST(HELPER)
#undef WRAPPED
#undef HELPER
};
/* clang-format on */

int pl_resolve_dl(void)
{
    if (!__atomic_load_n(&pl_real.dlsym, __ATOMIC_ACQUIRE)) {
        /* not found (libdl not loaded yet): the one bound at link time */
        void *open = pl_libc_symbol("dlopen"), *close = pl_libc_symbol("dlclose");
        __atomic_store_n(&pl_real.dlopen, open ? (__typeof__(&dlopen))open : &dlopen,
                         __ATOMIC_RELEASE);
        __atomic_store_n(&pl_real.dlclose, close ? (__typeof__(&dlclose))close : &dlclose,
                         __ATOMIC_RELEASE);
        __atomic_store_n(&pl_real.dlvsym, pl_libc_symbol("dlvsym"), __ATOMIC_RELEASE);
        __atomic_store_n(&pl_real.dlsym, pl_libc_symbol("dlsym"), __ATOMIC_RELEASE);
    }
    return pl_real.dlsym && pl_real.dlvsym ? 0 : -ENOENT;
}

static void **slot(enum pl_sym sym)
{
    return (void **)((char *)&pl_real + table[sym].offset);
}

/* Keeps fn as the real `sym` unless one is kept already (or fn is ours). */
static void keep(enum pl_sym sym, void *fn)
{
    void *expected = NULL;
    if (fn && fn != table[sym].wrapper)
        __atomic_compare_exchange_n(slot(sym), &expected, fn, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE);
}

int pl_resolve(enum pl_sym sym)
{
    if (__atomic_load_n(slot(sym), __ATOMIC_ACQUIRE))
        return 0;
    int saved = errno; /* dlopen/dlsym may set it; the host must not see that */
    if (pl_resolve_dl() == 0) {
        void *fn = pl_real.dlsym(RTLD_NEXT, table[sym].name);
        for (const char *const *lib = table[sym].libs; (!fn || fn == table[sym].wrapper) && *lib;
             lib++) {
            void *h = pl_real.dlopen(*lib, RTLD_LAZY | RTLD_NOLOAD);
            if (h) {
                fn = pl_real.dlsym(h, table[sym].name);
                pl_real.dlclose(h);
            }
        }
        keep(sym, fn);
    }
    errno = saved;
    return __atomic_load_n(slot(sym), __ATOMIC_ACQUIRE) ? 0 : -ENOENT;
}

void *pl_wrap_symbol(const char *name, void *found)
{
    if (!found || !name || name[0] != 'c' || name[1] != 'u')
        return found;
    for (int i = 0; i < PL_SYM_COUNT; i++) {
        if (strcmp(table[i].name, name) != 0)
            continue;
        /* CUDA functions omniprof wraps: the recorded APIs and the
         * cuGetProcAddress pair (so the pointers it hands out are seen). */
        if (!table[i].wrapper || table[i].libs == libc_libs)
            return found;
        keep((enum pl_sym)i, found);
        return table[i].wrapper;
    }
    return found;
}
