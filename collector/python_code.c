/*
 * Python frames into omniprof's own tables: a code object and an
 * instruction offset become (code id, line), copied at first sight, so that
 * nothing of the interpreter is read again at collection.  This is the slow
 * side of python.c's cache of call sites: a few hundred ns, once per site.
 *
 * codes: a code's file and function name, interned by content (a 64-bit
 * hash of the raw str data, as stack.c interns stacks by hash), mapped once
 * by coll_py_tables_init and filled lock-free by the recording threads
 * (inside a record's busy window, like stack.c's table).  The slot is
 * claimed by CAS on the hash, the text transcoded to UTF-8 into an arena
 * reserved with fetch_add, then published (ready).  The slot index is the
 * code id.  Full tables drop the name (counted), never block.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "python.h"

#define CODE_SLOTS (1u << 16)   /* distinct (file, function) pairs */
#define ARENA_BYTES (16u << 20) /* their UTF-8 text */
#define MAX_CHARS 1024          /* of one name; longer ones are cut */
#define MAX_TABLE (64 << 20)    /* a larger line table is not believed */

struct code_slot {
    _Atomic uint64_t hash; /* 0: empty */
    _Atomic uint32_t ready;
    uint32_t file, name; /* offsets into the arena, NUL-terminated */
};

/* Set once by coll_py_tables_init (before recording), read-only afterwards. */
static const struct coll_py_layout *L;
static struct coll_py_types types;
static struct code_slot *codes;
static char *arena;

static _Atomic uint64_t arena_used;
static _Atomic uint64_t dropped;

static void *map(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

int coll_py_tables_init(const struct coll_py_layout *l, const struct coll_py_types *t)
{
    if (codes)
        return 0;
    struct code_slot *c = map(CODE_SLOTS * sizeof *c);
    char *a = map(ARENA_BYTES);
    if (!c || !a) {
        if (c)
            munmap(c, CODE_SLOTS * sizeof *c);
        if (a)
            munmap(a, ARENA_BYTES);
        return -1;
    }
    L = l;
    types = *t;
    arena = a;
    atomic_store(&arena_used, 1); /* offset 0: "no text" */
    __atomic_store_n(&codes, c, __ATOMIC_RELEASE);
    return 0;
}

/* ---- reading the interpreter's memory ---------------------------------- */

static inline uintptr_t rd_ptr(const unsigned char *p)
{
    uintptr_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline int32_t rd_i32(const unsigned char *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline int64_t rd_i64(const unsigned char *p)
{
    int64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* A compact str's characters: kind 1 (latin-1), 2 (UCS-2) or 4 (UCS-4). */
struct str_view {
    const unsigned char *data;
    int64_t length;
    int kind;
};

static bool str_view(uintptr_t obj, struct str_view *v)
{
    const unsigned char *s = (const unsigned char *)obj;
    if (!s || rd_ptr(s + 8) != types.str)
        return false;
    uint32_t state = (uint32_t)rd_i32(s + 32);
    int kind = (int)((state >> 2) & 7);
    bool compact = (state >> 5) & 1, ascii = (state >> 6) & 1;
    v->length = rd_i64(s + 16);
    if (!compact || (kind != 1 && kind != 2 && kind != 4) || v->length < 0)
        return false;
    if (v->length > MAX_CHARS)
        v->length = MAX_CHARS;
    v->kind = kind;
    v->data = s + (ascii ? L->str_ascii_data : L->str_data);
    return true;
}

static inline uint32_t char_at(const struct str_view *v, int64_t i)
{
    if (v->kind == 1)
        return v->data[i];
    if (v->kind == 2) {
        uint16_t c;
        memcpy(&c, v->data + 2 * i, 2);
        return c;
    }
    uint32_t c;
    memcpy(&c, v->data + 4 * i, 4);
    return c;
}

/* UTF-8 of one code point into out (NULL: only count); lone surrogates and
 * values beyond Unicode become U+FFFD. */
static int utf8(uint32_t c, char *out)
{
    unsigned char b[4];
    int n;
    if ((c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF)
        c = 0xFFFD;
    if (c < 0x80) {
        b[0] = (unsigned char)c;
        n = 1;
    } else if (c < 0x800) {
        b[0] = (unsigned char)(0xC0 | (c >> 6));
        b[1] = (unsigned char)(0x80 | (c & 0x3F));
        n = 2;
    } else if (c < 0x10000) {
        b[0] = (unsigned char)(0xE0 | (c >> 12));
        b[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
        b[2] = (unsigned char)(0x80 | (c & 0x3F));
        n = 3;
    } else {
        b[0] = (unsigned char)(0xF0 | (c >> 18));
        b[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
        b[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
        b[3] = (unsigned char)(0x80 | (c & 0x3F));
        n = 4;
    }
    if (out)
        memcpy(out, b, (size_t)n);
    return n;
}

static size_t utf8_size(const struct str_view *v)
{
    size_t n = 0;
    for (int64_t i = 0; i < v->length; i++)
        n += (size_t)utf8(char_at(v, i), NULL);
    return n;
}

/* Copies v into the arena at off as NUL-terminated UTF-8. */
static void transcode(const struct str_view *v, uint64_t off)
{
    char *out = arena + off;
    for (int64_t i = 0; i < v->length; i++)
        out += utf8(char_at(v, i), out);
    *out = '\0';
}

static uint64_t hash_str(uint64_t h, const struct str_view *v)
{
    const unsigned char *p = v->data;
    size_t n = (size_t)v->length * (size_t)v->kind;
    h ^= (uint64_t)v->kind << 56 ^ (uint64_t)v->length;
    h *= 1099511628211ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* ---- codes: (file, function) by content ------------------------------ */

static uint32_t intern_code(uintptr_t filename, uintptr_t name)
{
    struct str_view f, q;
    if (!str_view(filename, &f) || !str_view(name, &q))
        return 0;
    uint64_t h = hash_str(hash_str(1469598103934665603ull, &f), &q);
    h = h ? h : 1;
    for (uint32_t probe = 0, i = (uint32_t)h & (CODE_SLOTS - 1); probe < 64;
         probe++, i = (i + 1) & (CODE_SLOTS - 1)) {
        struct code_slot *slot = &codes[i];
        uint64_t k = atomic_load_explicit(&slot->hash, memory_order_acquire);
        if (k == h)
            return i + 1;
        if (k != 0)
            continue;
        uint64_t expected = 0;
        if (!atomic_compare_exchange_strong(&slot->hash, &expected, h)) {
            if (expected == h)
                return i + 1;
            continue;
        }
        size_t fn = utf8_size(&f) + 1, qn = utf8_size(&q) + 1;
        uint64_t off = atomic_fetch_add_explicit(&arena_used, fn + qn, memory_order_relaxed);
        if (off + fn + qn <= ARENA_BYTES) {
            transcode(&f, off);
            transcode(&q, off + fn);
            slot->file = (uint32_t)off;
            slot->name = (uint32_t)(off + fn);
        } else {
            atomic_fetch_add_explicit(&dropped, 1, memory_order_relaxed);
        }
        atomic_store_explicit(&slot->ready, 1, memory_order_release);
        return i + 1;
    }
    atomic_fetch_add_explicit(&dropped, 1, memory_order_relaxed);
    return 0;
}

/* ---- lines ------------------------------------------------------------ */

/* 3.11+ location table: a signed varint of 6-bit groups, low first. */
static int64_t svarint(const unsigned char **p, const unsigned char *end)
{
    uint64_t v = 0;
    int shift = 0;
    while (*p < end && shift < 32) {
        unsigned b = *(*p)++;
        v |= (uint64_t)(b & 63) << shift;
        shift += 6;
        if (!(b & 64))
            break;
    }
    return (v & 1) ? -(int64_t)(v >> 1) : (int64_t)(v >> 1);
}

int coll_py_line(int kind, const unsigned char *t, int64_t size, int firstlineno, int64_t off)
{
    if (off < 0)
        return firstlineno;
    const unsigned char *end = t + size;
    int64_t line = firstlineno, addr = 0;
    if (kind == COLL_PY_LNOTAB) { /* (addr u8, line s8) */
        for (; t + 1 < end; t += 2) {
            addr += t[0];
            if (addr > off)
                break;
            line += (signed char)t[1];
        }
        return (int)line;
    }
    if (kind == COLL_PY_LINETABLE) { /* (bytes u8, line s8; -128: none) */
        for (; t + 1 < end; t += 2) {
            bool none = (signed char)t[1] == -128;
            if (!none)
                line += (signed char)t[1];
            addr += t[0];
            if (off < addr)
                return none ? -1 : (int)line;
        }
        return -1;
    }
    while (t < end) { /* 3.11+: entries start with bit 7 set */
        unsigned b = *t++;
        int code = (int)((b >> 3) & 15);
        int64_t delta = 0;
        if (code == 13 || code == 14)
            delta = svarint(&t, end);
        else if (code >= 10 && code <= 12)
            delta = code - 10;
        line += delta;
        addr += ((b & 7) + 1) * 2;
        if (off < addr)
            return code == 15 ? -1 : (int)line;
        while (t < end && !(*t & 128))
            t++;
    }
    return -1;
}

uint64_t coll_py_resolve(const unsigned char *code, int64_t off)
{
    uintptr_t filename = rd_ptr(code + L->co_filename);
    uintptr_t name = rd_ptr(code + (L->co_qualname >= 0 ? L->co_qualname : L->co_name));
    const unsigned char *t = (const unsigned char *)rd_ptr(code + L->co_linetable);
    int line = -1;
    if (t && rd_ptr(t + 8) == types.bytes) {
        int64_t size = rd_i64(t + 16);
        if (size >= 0 && size < MAX_TABLE)
            line = coll_py_line(L->lines, t + 32, size, rd_i32(code + L->co_firstlineno), off);
    }
    uint32_t id = intern_code(filename, name);
    return COLL_PY_FRAME | (uint64_t)id << 32 | (uint32_t)line;
}

/* ---- collection --------------------------------------------------------- */

void coll_python_describe(uint64_t v, struct coll_frame *fr)
{
    uint32_t id = (uint32_t)(v >> 32) & 0x7FFFFFFFu;
    int32_t line = (int32_t)(uint32_t)v;
    const char *file = "?", *name = "?";
    if (id == 0) { /* COLL_PY_OMITTED */
        *fr = (struct coll_frame){.ip = v, .module = "omniprof"};
        char *text = NULL;
        if (asprintf(&text, "[%u native frames left out: stack_depth]", (uint32_t)v) >= 0)
            fr->function = text;
        return;
    }
    if (codes && id >= 1 && id <= CODE_SLOTS) {
        const struct code_slot *slot = &codes[id - 1];
        if (atomic_load_explicit(&slot->ready, memory_order_acquire) && slot->file) {
            file = arena + slot->file;
            name = arena + slot->name;
        }
    }
    *fr = (struct coll_frame){.ip = v, .module = "python"};
    char *text = NULL;
    if (asprintf(&text, "%s(%d): %s", file, line, name) >= 0)
        fr->function = text;
}

uint64_t coll_py_dropped(void)
{
    return atomic_load(&dropped);
}
