/*
 * dlsym and dlvsym, interposed so that a program that looks CUDA functions
 * up by name (PyTorch, Triton: dlopen("libcuda.so.1") + dlsym) gets
 * omniprof's wrappers, whatever handle it uses.  Every other name is
 * answered exactly as libc would answer it.
 *
 * RTLD_NEXT means "after the caller's object"; libc works that out from
 * the return address, which inside this wrapper would be omniprof's.  So
 * RTLD_NEXT is resolved here: the first object after the caller in link-map
 * order that defines the name.
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
        void *h = dlopen(l->l_name, RTLD_LAZY | RTLD_NOLOAD);
        if (!h)
            continue;
        void *fn = version ? pl_real.dlvsym(h, name, version) : pl_real.dlsym(h, name);
        dlclose(h);
        struct link_map *owner = NULL;
        /* dlsym on a handle also searches its dependencies: keep only a
         * definition that lives in this very object. */
        if (fn && dladdr1(fn, &info, (void **)&owner, RTLD_DL_LINKMAP) && owner == l)
            return fn;
    }
    return NULL;
}

PL_EXPORT void *dlsym(void *handle, const char *name)
{
    if (pl_resolve_dl() < 0)
        return NULL;
    void *found = handle == RTLD_NEXT ? next_after(__builtin_return_address(0), name, NULL)
                                      : pl_real.dlsym(handle, name);
    return pl_wrap_symbol(name, found);
}

PL_EXPORT void *dlvsym(void *handle, const char *name, const char *version)
{
    if (pl_resolve_dl() < 0)
        return NULL;
    void *found = handle == RTLD_NEXT ? next_after(__builtin_return_address(0), name, version)
                                      : pl_real.dlvsym(handle, name, version);
    return pl_wrap_symbol(name, found);
}
