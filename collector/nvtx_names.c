/*
 * NVTX's strings and names, for the life of the process: the messages,
 * domain names and registered strings of ranges, interned (each distinct
 * string copied once, on first sight, into bounded storage); the domains;
 * and the names the program gives its threads, streams, devices and
 * categories.  Everything lives in fixed static tables (pages never touched
 * cost nothing), filled lock-free from any thread, read by the writer.
 *
 * Interning: open addressing over STR_SLOTS slots that hold string ids.  A
 * string's bytes and entry are written before its id is published into a
 * slot (release CAS), so whoever finds the id (acquire) finds the string
 * whole.  Two threads interning the same new string at once may both copy
 * it; one id wins the slot and both return that one (the other copy is
 * wasted).  When ids, bytes or the probe run out, the string is id 1,
 * shown as "(NVTX string table full)", and counted.
 */
#include <string.h>
#include <wchar.h>

#include "internal.h"

#define STR_SLOTS (1u << 16)
#define STR_IDS (1u << 15)
#define STR_BYTES (4u << 20)
#define STR_MAX 1023 /* longest string kept, in bytes */
#define STR_PROBES 64
#define STR_FULL 1u
#define FIRST_ID 2u /* 0: no string; 1: STR_FULL */

static _Atomic uint32_t slots[STR_SLOTS];
static struct {
    uint64_t hash;
    uint32_t off, len;
} entries[STR_IDS];
static char arena[STR_BYTES];
static _Atomic uint32_t next_id = FIRST_ID;
static _Atomic uint32_t next_byte;
static _Atomic uint64_t dropped;

static uint64_t hash(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h;
}

static uint32_t full(void)
{
    atomic_fetch_add_explicit(&dropped, 1, memory_order_relaxed);
    return STR_FULL;
}

/* A new entry holding s; 0 when there is no room. */
static uint32_t store(const char *s, uint32_t len, uint64_t h)
{
    if (atomic_load_explicit(&next_id, memory_order_relaxed) >= STR_IDS ||
        atomic_load_explicit(&next_byte, memory_order_relaxed) + len + 1 > STR_BYTES)
        return 0; /* checked first, so the counters stay near their limits */
    uint32_t id = atomic_fetch_add_explicit(&next_id, 1, memory_order_relaxed);
    uint32_t off = atomic_fetch_add_explicit(&next_byte, len + 1, memory_order_relaxed);
    if (id >= STR_IDS || off + len + 1 > STR_BYTES)
        return 0;
    memcpy(arena + off, s, len);
    arena[off + len] = '\0';
    entries[id].hash = h;
    entries[id].off = off;
    entries[id].len = len;
    return id;
}

static bool same(uint32_t id, const char *s, uint32_t len, uint64_t h)
{
    return id >= FIRST_ID && entries[id].hash == h && entries[id].len == len &&
           memcmp(arena + entries[id].off, s, len) == 0;
}

static uint32_t intern(const char *s, uint32_t len)
{
    uint64_t h = hash(s, len);
    uint32_t mine = 0;
    for (uint32_t p = 0, i = (uint32_t)h; p < STR_PROBES; p++, i++) {
        _Atomic uint32_t *slot = &slots[i & (STR_SLOTS - 1)];
        uint32_t id = atomic_load_explicit(slot, memory_order_acquire);
        while (id == 0) {
            if (!mine && !(mine = store(s, len, h)))
                return full();
            if (atomic_compare_exchange_strong_explicit(slot, &id, mine, memory_order_acq_rel,
                                                        memory_order_acquire))
                return mine;
        }
        if (same(id, s, len, h))
            return id;
    }
    return full();
}

/* Where s is cut to STR_MAX bytes: before a character, never inside one. */
static uint32_t kept_length(const char *s, size_t len)
{
    if (len <= STR_MAX)
        return (uint32_t)len;
    len = STR_MAX;
    while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
        len--;
    return (uint32_t)len;
}

uint32_t coll_nvtx_intern(const char *s)
{
    if (!s)
        return 0;
    return intern(s, kept_length(s, strnlen(s, STR_MAX + 1)));
}

/* One code point as UTF-8 (U+FFFD for what is not one); its length. */
static int utf8(uint32_t c, char *out)
{
    if (c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        c = 0xFFFD;
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (char)(0xC0 | c >> 6);
        out[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (char)(0xE0 | c >> 12);
        out[1] = (char)(0x80 | (c >> 6 & 0x3F));
        out[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | c >> 18);
    out[1] = (char)(0x80 | (c >> 12 & 0x3F));
    out[2] = (char)(0x80 | (c >> 6 & 0x3F));
    out[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

uint32_t coll_nvtx_intern_wide(const wchar_t *s)
{
    if (!s)
        return 0;
    char buf[STR_MAX + 4], one[4];
    uint32_t len = 0;
    for (; *s; s++) {
        int n = utf8((uint32_t)*s, one);
        if (len + (uint32_t)n > STR_MAX)
            break;
        memcpy(buf + len, one, (size_t)n);
        len += (uint32_t)n;
    }
    return intern(buf, len);
}

/* ---- copies (ranges begun while not followed) ----------------------------------- */

/* "..." as one character: what a cut copy ends with. */
static const char cut_mark[] = "\xe2\x80\xa6";
#define CUT_MARK_LEN (sizeof cut_mark - 1)

/* Ends a copy of len bytes in out (cap bytes), cut when it was longer. */
static void end_copy(char *out, size_t cap, size_t len, bool cut)
{
    if (cut) {
        if (len + CUT_MARK_LEN >= cap) {
            len = cap - 1 - CUT_MARK_LEN;
            while (len > 0 && ((unsigned char)out[len] & 0xC0) == 0x80)
                len--; /* before a character, never inside one */
        }
        memcpy(out + len, cut_mark, CUT_MARK_LEN);
        len += CUT_MARK_LEN;
    }
    out[len] = '\0';
}

void coll_nvtx_copy(char *out, size_t cap, const char *s)
{
    size_t len = s ? strnlen(s, cap) : 0;
    bool cut = len == cap;
    if (len)
        memcpy(out, s, cut ? cap - 1 : len);
    end_copy(out, cap, cut ? cap - 1 : len, cut);
}

void coll_nvtx_copy_wide(char *out, size_t cap, const wchar_t *s)
{
    size_t len = 0;
    char one[4];
    for (; s && *s; s++) {
        int n = utf8((uint32_t)*s, one);
        if (len + (size_t)n > cap - 1) {
            end_copy(out, cap, len, true);
            return;
        }
        memcpy(out + len, one, (size_t)n);
        len += (size_t)n;
    }
    end_copy(out, cap, len, false);
}

bool coll_nvtx_string_valid(uint32_t id)
{
    uint32_t n = atomic_load_explicit(&next_id, memory_order_acquire);
    return id == STR_FULL || (id >= FIRST_ID && id < n && id < STR_IDS);
}

const char *coll_nvtx_string(uint32_t id)
{
    if (id == STR_FULL)
        return "(NVTX string table full)";
    if (id < FIRST_ID || !coll_nvtx_string_valid(id))
        return "";
    return arena + entries[id].off;
}

uint64_t coll_nvtx_strings_dropped(void)
{
    return atomic_load_explicit(&dropped, memory_order_relaxed);
}

/* ---- domains ------------------------------------------------------------------ */

#define MAX_DOMAINS 256

/* Each domain's name (an interned string); [0] is the default domain. */
static _Atomic uint32_t domain_names[MAX_DOMAINS];
static _Atomic uint32_t n_domains; /* made, the default domain not counted */

uint16_t coll_nvtx_domain(uint32_t name)
{
    uint32_t n = atomic_load_explicit(&n_domains, memory_order_acquire);
    for (uint32_t d = 1; d <= n && d < MAX_DOMAINS; d++)
        if (atomic_load_explicit(&domain_names[d], memory_order_acquire) == name)
            return (uint16_t)d;
    if (n + 1 >= MAX_DOMAINS)
        return 0;
    uint32_t d = atomic_fetch_add_explicit(&n_domains, 1, memory_order_acq_rel) + 1;
    if (d >= MAX_DOMAINS)
        return 0;
    atomic_store_explicit(&domain_names[d], name, memory_order_release);
    return (uint16_t)d;
}

uint32_t coll_nvtx_domain_name(uint16_t domain)
{
    return domain < MAX_DOMAINS ? atomic_load_explicit(&domain_names[domain], memory_order_acquire)
                                : 0;
}

/* ---- names of threads, streams, devices, categories ---------------------------- */

#define MAX_NAMES 1024

/* Filled from the front: a key is claimed in the first free slot (key + 1,
 * so that 0 means free), then its name is set; a later name replaces it. */
static struct named {
    _Atomic uint64_t key;
    _Atomic uint32_t name;
} named[COLL_NVTX_CATEGORY + 1][MAX_NAMES];

void coll_nvtx_name(enum coll_nvtx_names kind, uint64_t key, uint32_t name)
{
    if ((unsigned)kind > COLL_NVTX_CATEGORY || key == UINT64_MAX)
        return;
    uint64_t want = key + 1;
    for (size_t i = 0; i < MAX_NAMES; i++) {
        struct named *n = &named[kind][i];
        uint64_t cur = atomic_load_explicit(&n->key, memory_order_acquire);
        if (cur == 0 && atomic_compare_exchange_strong_explicit(
                            &n->key, &cur, want, memory_order_acq_rel, memory_order_acquire))
            cur = want;
        if (cur == want) {
            atomic_store_explicit(&n->name, name, memory_order_release);
            return;
        }
    }
}

uint32_t coll_nvtx_name_of(enum coll_nvtx_names kind, uint64_t key)
{
    if ((unsigned)kind > COLL_NVTX_CATEGORY || key == UINT64_MAX)
        return 0;
    for (size_t i = 0; i < MAX_NAMES; i++) {
        const struct named *n = &named[kind][i];
        uint64_t cur = atomic_load_explicit(&n->key, memory_order_acquire);
        if (cur == 0)
            return 0;
        if (cur == key + 1)
            return atomic_load_explicit(&n->name, memory_order_acquire);
    }
    return 0;
}

/* ---- step_on=nvtx: ---------------------------------------------------------------- */

void coll_nvtx_step_on(const char *spec, struct coll_options *o)
{
    const char *slash = strchr(spec, '/');
    o->step_on_nvtx_domain = 0;
    if (slash) {
        char domain[STR_MAX + 1];
        size_t n = (size_t)(slash - spec) < STR_MAX ? (size_t)(slash - spec) : STR_MAX;
        memcpy(domain, spec, n);
        domain[n] = '\0';
        if (n)
            o->step_on_nvtx_domain = coll_nvtx_intern(domain);
        spec = slash + 1;
    }
    o->step_on_nvtx = coll_nvtx_intern(spec);
}
