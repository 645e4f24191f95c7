/*
 * Symbolizing host addresses and demangling names, on the control thread.
 *
 * An address is looked up in the module that contains it: first the ELF
 * symbol table of the module's file (.symtab: static functions too, as
 * addr2line would), else its dynamic symbols (dladdr).  Unknown frames keep
 * module + offset.  C++ names are demangled with the C++ runtime's
 * __cxa_demangle, found in the process (or libstdc++.so.6, opened once).
 * Modules are read once and kept for the life of the process.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

struct func {
    uint64_t start, size; /* relative to the module's load bias */
    const char *name;     /* into the module's mapped string table */
};

struct module {
    struct module *next;
    uintptr_t bias; /* l_addr */
    char *path;
    const char *base; /* basename of path */
    struct func *funcs;
    size_t n_funcs;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct module *modules;

static int by_start(const void *a, const void *b)
{
    const struct func *x = a, *y = b;
    return (x->start > y->start) - (x->start < y->start);
}

/* Reads the function symbols of an ELF file's .symtab (or .dynsym). */
static void read_functions(struct module *m)
{
    int fd = open(m->path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || (size_t)st.st_size < sizeof(ElfW(Ehdr))) {
        if (fd >= 0)
            close(fd);
        return;
    }
    const unsigned char *img = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (img == MAP_FAILED)
        return;
    size_t size = (size_t)st.st_size;
    const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)img;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_shoff == 0 ||
        eh->e_shoff + (size_t)eh->e_shnum * sizeof(ElfW(Shdr)) > size)
        goto unmap;
    const ElfW(Shdr) *sh = (const ElfW(Shdr) *)(img + eh->e_shoff);
    const ElfW(Shdr) *symtab = NULL;
    for (int i = 0; i < eh->e_shnum; i++)
        if (sh[i].sh_type == SHT_SYMTAB || (!symtab && sh[i].sh_type == SHT_DYNSYM))
            symtab = &sh[i];
    if (!symtab || symtab->sh_link >= eh->e_shnum || symtab->sh_offset + symtab->sh_size > size)
        goto unmap;
    const ElfW(Shdr) *strtab = &sh[symtab->sh_link];
    if (strtab->sh_offset + strtab->sh_size > size)
        goto unmap;
    size_t n = symtab->sh_size / sizeof(ElfW(Sym));
    const ElfW(Sym) *sym = (const ElfW(Sym) *)(img + symtab->sh_offset);
    m->funcs = malloc((n ? n : 1) * sizeof *m->funcs);
    if (!m->funcs)
        goto unmap;
    for (size_t i = 0; i < n; i++) {
        if (ELF64_ST_TYPE(sym[i].st_info) != STT_FUNC || sym[i].st_value == 0 ||
            sym[i].st_name >= strtab->sh_size)
            continue;
        m->funcs[m->n_funcs++] =
            (struct func){sym[i].st_value, sym[i].st_size,
                          (const char *)img + strtab->sh_offset + sym[i].st_name};
    }
    qsort(m->funcs, m->n_funcs, sizeof *m->funcs, by_start);
    return; /* the image stays mapped: names point into it */
unmap:
    munmap((void *)img, size);
}

/* The module containing ip (read on first use); lock held. */
static struct module *module_of(uint64_t ip)
{
    Dl_info info;
    struct link_map *lm = NULL;
    if (!dladdr1((void *)(uintptr_t)ip, &info, (void **)&lm, RTLD_DL_LINKMAP) || !lm)
        return NULL;
    /* The main program's link-map name is empty (and dli_fname is argv[0],
     * relative to a directory we may no longer be in): use /proc/self/exe. */
    char exe[4096];
    const char *path = lm->l_name;
    if (!path || !*path) {
        ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
        exe[k > 0 ? k : 0] = '\0';
        path = exe;
    }
    for (struct module *m = modules; m; m = m->next)
        if (m->bias == lm->l_addr && strcmp(m->path, path) == 0)
            return m;
    struct module *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->path = strdup(path);
    if (!m->path) {
        free(m);
        return NULL;
    }
    const char *slash = strrchr(m->path, '/');
    m->base = slash ? slash + 1 : m->path;
    m->bias = lm->l_addr;
    read_functions(m);
    m->next = modules;
    __atomic_store_n(&modules, m, __ATOMIC_RELEASE); /* complete before it is seen (fork) */
    return m;
}

static const struct func *function_at(const struct module *m, uint64_t rel)
{
    size_t lo = 0, hi = m->n_funcs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->funcs[mid].start <= rel)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return NULL;
    const struct func *f = &m->funcs[lo - 1];
    /* size 0: assembly without .size; accept it as the nearest symbol */
    return f->size == 0 || rel < f->start + f->size ? f : NULL;
}

void coll_symbols_atfork_child(void)
{
    pthread_mutex_init(&lock, NULL);
}

void coll_symbolize(uint64_t ip, struct coll_frame *frame)
{
    *frame = (struct coll_frame){.ip = ip, .module = "?"};
    pthread_mutex_lock(&lock);
    struct module *m = module_of(ip);
    if (m) {
        frame->module = m->base;
        uint64_t rel = ip - m->bias;
        const struct func *f = function_at(m, rel);
        if (f) {
            char *d = coll_demangle(f->name);
            frame->function = d ? d : strdup(f->name);
            frame->offset = rel - f->start;
        } else {
            frame->offset = rel;
        }
    }
    pthread_mutex_unlock(&lock);
    if (!m || !frame->function) {
        Dl_info info;
        if (dladdr((void *)(uintptr_t)ip, &info) && info.dli_sname) {
            char *d = coll_demangle(info.dli_sname);
            frame->function = d ? d : strdup(info.dli_sname);
            frame->offset = ip - (uint64_t)(uintptr_t)info.dli_saddr;
        }
    }
}

typedef char *(*demangle_fn)(const char *, char *, size_t *, int *);

static demangle_fn find_demangler(void)
{
    static demangle_fn fn;
    static bool looked;
    if (!looked) {
        looked = true;
        fn = (demangle_fn)dlsym(RTLD_DEFAULT, "__cxa_demangle");
        if (!fn) {
            void *h = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_LOCAL);
            fn = h ? (demangle_fn)dlsym(h, "__cxa_demangle") : NULL;
        }
    }
    return fn;
}

char *coll_demangle(const char *name)
{
    if (!name || strncmp(name, "_Z", 2) != 0)
        return NULL;
    demangle_fn fn = find_demangler();
    int status = -1;
    char *out = fn ? fn(name, NULL, NULL, &status) : NULL;
    if (status != 0) {
        free(out);
        return NULL;
    }
    return out;
}
