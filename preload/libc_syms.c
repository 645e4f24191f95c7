/*
 * libc's own dlsym and dlvsym, found without calling either.
 *
 * omniprof interposes dlsym and dlvsym, so it cannot ask them for the real
 * ones (a versioned reference such as dlsym@GLIBC_2.34 would bind to our
 * unversioned definition too).  Instead this reads libc.so.6's dynamic
 * symbol table in memory and takes the default version of each name.
 *
 * Nothing here calls a libc function: a sanitizer runtime looks its real
 * functions up with dlsym (ours) from its initialiser, before its own
 * interceptors (of strcmp, of dl_iterate_phdr, ...) can forward anywhere.
 * The loaded objects are found through the dynamic linker's r_debug list,
 * which is complete before any initialiser runs.
 */
#include <elf.h>
#include <link.h>
#include <stdbool.h>
#include <stdint.h>

#include "preload.h"

static bool same(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

/* Whether the file name of path (after its last '/') starts with want. */
static bool named(const char *path, const char *want)
{
    const char *base = path;
    for (const char *p = path; *p; p++)
        if (*p == '/')
            base = p + 1;
    for (; *want; want++, base++)
        if (*base != *want)
            return false;
    return true;
}

/* Number of symbols covered by a DT_GNU_HASH table. */
static uint32_t gnu_hash_count(const uint32_t *h)
{
    uint32_t nbuckets = h[0], symoffset = h[1], bloom_size = h[2];
    const uint32_t *buckets = h + 4 + bloom_size * (sizeof(ElfW(Addr)) / 4);
    const uint32_t *chain = buckets + nbuckets;
    uint32_t last = 0;
    for (uint32_t i = 0; i < nbuckets; i++)
        last = buckets[i] > last ? buckets[i] : last;
    if (last < symoffset)
        return symoffset;
    while (!(chain[last - symoffset] & 1))
        last++;
    return last + 1;
}

static void *find_in(const ElfW(Dyn) *dyn, ElfW(Addr) base, const char *name)
{
    const ElfW(Sym) *symtab = NULL;
    const char *strtab = NULL;
    const ElfW(Half) *versym = NULL;
    const uint32_t *gnu_hash = NULL, *sysv_hash = NULL;
    for (; dyn->d_tag != DT_NULL; dyn++) {
        /* In a loaded object these are already relocated addresses. */
        uintptr_t p = dyn->d_un.d_ptr;
        switch (dyn->d_tag) {
        case DT_SYMTAB: symtab = (const ElfW(Sym) *)p; break;
        case DT_STRTAB: strtab = (const char *)p; break;
        case DT_VERSYM: versym = (const ElfW(Half) *)p; break;
        case DT_GNU_HASH: gnu_hash = (const uint32_t *)p; break;
        case DT_HASH: sysv_hash = (const uint32_t *)p; break;
        }
    }
    if (!symtab || !strtab || (!gnu_hash && !sysv_hash))
        return NULL;
    uint32_t n = gnu_hash ? gnu_hash_count(gnu_hash) : sysv_hash[1];
    for (uint32_t i = 1; i < n; i++) {
        const ElfW(Sym) *s = &symtab[i];
        if (s->st_shndx == SHN_UNDEF || ELF64_ST_TYPE(s->st_info) != STT_FUNC)
            continue;
        if (versym && (versym[i] & 0x8000)) /* hidden: not the default version */
            continue;
        if (same(strtab + s->st_name, name))
            return (void *)(base + s->st_value);
    }
    return NULL;
}

/* libc, then libdl: before glibc 2.34 the dl* functions lived in libdl. */
void *pl_libc_symbol(const char *name)
{
    static const char *const libs[] = {"libc.so", "libdl.so"};
    for (size_t i = 0; i < sizeof libs / sizeof *libs; i++)
        for (const struct link_map *l = _r_debug.r_map; l; l = l->l_next) {
            void *found = l->l_name && named(l->l_name, libs[i]) && l->l_ld
                              ? find_in(l->l_ld, l->l_addr, name)
                              : NULL;
            if (found)
                return found;
        }
    return NULL;
}
