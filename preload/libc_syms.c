/*
 * libc's own dlsym and dlvsym, found without calling either.
 *
 * omniprof interposes dlsym and dlvsym, so it cannot ask them for the real
 * ones (a versioned reference such as dlsym@GLIBC_2.34 would bind to our
 * unversioned definition too).  Instead this reads libc.so.6's dynamic
 * symbol table in memory (dl_iterate_phdr: safe before any constructor) and
 * takes the default version of each name.
 *
 * Nothing here calls libc's string functions: a sanitizer runtime looks its
 * real functions up with dlsym (ours) from its initialiser, before its own
 * strcmp/strrchr interceptors can forward anywhere.
 */
#include <elf.h>
#include <link.h>
#include <stdbool.h>
#include <stdint.h>

#include "preload.h"

struct lookup {
    const char *name;
    void *found;
};

static bool same(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

/* Whether the file name of path (after its last '/') starts with "libc.so". */
static bool is_libc(const char *path)
{
    const char *base = path;
    for (const char *p = path; *p; p++)
        if (*p == '/')
            base = p + 1;
    static const char want[] = "libc.so";
    for (size_t i = 0; i < sizeof want - 1; i++)
        if (base[i] != want[i])
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

static int find_in_libc(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct lookup *l = arg;
    if (!info->dlpi_name || !is_libc(info->dlpi_name))
        return 0;
    const ElfW(Dyn) *dyn = NULL;
    for (int i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
            dyn = (const ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
    if (!dyn)
        return 0;
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
        return 0;
    uint32_t n = gnu_hash ? gnu_hash_count(gnu_hash) : sysv_hash[1];
    for (uint32_t i = 1; i < n; i++) {
        const ElfW(Sym) *s = &symtab[i];
        if (s->st_shndx == SHN_UNDEF || ELF64_ST_TYPE(s->st_info) != STT_FUNC)
            continue;
        if (versym && (versym[i] & 0x8000)) /* hidden: not the default version */
            continue;
        if (same(strtab + s->st_name, l->name)) {
            l->found = (void *)(info->dlpi_addr + s->st_value);
            return 1;
        }
    }
    return 0;
}

void *pl_libc_symbol(const char *name)
{
    struct lookup l = {name, NULL};
    dl_iterate_phdr(find_in_libc, &l);
    return l.found;
}
