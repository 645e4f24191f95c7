/*
 * Live allocations and per-device totals, so that every [memory] event
 * carries the bytes it moved and the device's totals after it — right from
 * the first event of a session, because the table is kept up to date
 * whether or not a session is recording (with_memory).
 *
 * An open-addressing table mapped once; lock-free: an insert claims a free
 * or deleted slot by CAS (key -> BUSY), fills it, then publishes the key; a
 * free finds the key and CASes it to DELETED.  Keys are tagged by class so
 * physical handles (cuMemCreate) and mappings (cuMemMap) never meet device
 * pointers.  A free of an unknown pointer is counted, never an error.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

#define EMPTY 0ull
#define DELETED 1ull
#define BUSY 2ull
#define MAX_DEVICES 64

struct entry {
    _Atomic uint64_t key;
    uint64_t bytes;
    int32_t device;
};

static struct entry *table;
static uint32_t capacity; /* a power of two */
/* Index 0: host memory; 1 + n: device n. */
static _Atomic int64_t allocated[MAX_DEVICES + 1];
static _Atomic int64_t reserved[MAX_DEVICES + 1];
static _Atomic uint64_t unknown_frees;

int coll_memory_init(unsigned want)
{
    if (table)
        return 0;
    uint32_t n = 1024;
    while (n < want * 2u && n < (1u << 26))
        n <<= 1;
    void *t =
        mmap(NULL, n * sizeof *table, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (t == MAP_FAILED) {
        int err = -errno;
        coll_log(COLL_LOG_ERROR, "memory",
                 "cannot map the allocation table: %s; with_memory is off", strerror(-err));
        return err;
    }
    capacity = n;
    __atomic_store_n(&table, (struct entry *)t, __ATOMIC_RELEASE);
    return 0;
}

static uint64_t key_of(int cls, uint64_t addr)
{
    uint64_t tag = cls == COLL_MEM_PHYS ? 1ull << 63 : cls == COLL_MEM_MAPPING ? 1ull << 62 : 0;
    uint64_t k = addr ^ tag;
    return k <= BUSY ? k + 0x1000 : k; /* never a marker value */
}

static uint32_t slot_of(uint64_t key)
{
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(h >> 32) & (capacity - 1);
}

static int index_of(int device)
{
    return device < 0 || device >= MAX_DEVICES ? 0 : device + 1;
}

/* Applies bytes (signed) to the device's totals and fills the event. */
static void account(struct coll_event *ev, int cls, int device, int64_t bytes)
{
    int i = index_of(device);
    int64_t a = atomic_load(&allocated[i]), r = atomic_load(&reserved[i]);
    if (cls != COLL_MEM_PHYS)
        a = atomic_fetch_add(&allocated[i], bytes) + bytes;
    if (cls != COLL_MEM_MAPPING)
        r = atomic_fetch_add(&reserved[i], bytes) + bytes;
    if (ev) {
        ev->u.mem.bytes = bytes;
        ev->u.mem.total = (uint64_t)(a < 0 ? 0 : a);
        ev->u.mem.reserved = (uint64_t)(r < 0 ? 0 : r);
        ev->device = (int16_t)(i == 0 ? -1 : device);
        ev->device_type = i == 0 ? 0 : 1;
    }
}

/* The event of a call the table does not account for (with_memory off,
 * or a failed allocation): its own bytes, no totals. */
static void untracked(struct coll_event *ev, uint64_t addr, int64_t bytes, int device)
{
    if (!ev)
        return;
    ev->u.mem.addr = addr;
    ev->u.mem.bytes = bytes;
    ev->u.mem.total = ev->u.mem.reserved = 0;
    ev->device = (int16_t)(device < 0 || device >= MAX_DEVICES ? -1 : device);
    ev->device_type = device < 0 ? 0 : 1;
    ev->tracked = 0;
}

void coll_memory_alloc(struct coll_event *ev, int cls, uint64_t addr, uint64_t bytes, int device)
{
    struct entry *t = __atomic_load_n(&table, __ATOMIC_ACQUIRE);
    untracked(ev, addr, (int64_t)bytes, device);
    if (!t || !addr)
        return;
    uint64_t key = key_of(cls, addr);
    uint32_t i = slot_of(key);
    for (uint32_t probe = 0; probe < capacity; probe++, i = (i + 1) & (capacity - 1)) {
        uint64_t k = atomic_load_explicit(&t[i].key, memory_order_acquire);
        if (k != EMPTY && k != DELETED)
            continue;
        if (!atomic_compare_exchange_strong(&t[i].key, &k, BUSY))
            continue;
        t[i].bytes = bytes;
        t[i].device = device;
        atomic_store_explicit(&t[i].key, key, memory_order_release);
        account(ev, cls, device, (int64_t)bytes);
        if (ev)
            ev->tracked = 1;
        return;
    }
    /* table full: the event still shows the bytes, totals move too */
    account(ev, cls, device, (int64_t)bytes);
}

/* device is known only for what the table holds: an unknown free keeps -1. */
void coll_memory_free(struct coll_event *ev, int cls, uint64_t addr, uint64_t bytes_if_known)
{
    struct entry *t = __atomic_load_n(&table, __ATOMIC_ACQUIRE);
    untracked(ev, addr, -(int64_t)bytes_if_known, -1);
    if (!t || !addr)
        return;
    uint64_t key = key_of(cls, addr);
    uint32_t i = slot_of(key);
    for (uint32_t probe = 0; probe < capacity; probe++, i = (i + 1) & (capacity - 1)) {
        uint64_t k = atomic_load_explicit(&t[i].key, memory_order_acquire);
        if (k == EMPTY)
            break;
        if (k != key)
            continue;
        uint64_t bytes = t[i].bytes;
        int device = t[i].device;
        if (!atomic_compare_exchange_strong(&t[i].key, &k, DELETED))
            break; /* freed twice at once: the other free accounts for it */
        account(ev, cls, device, -(int64_t)bytes);
        if (ev)
            ev->tracked = 1;
        return;
    }
    atomic_fetch_add(&unknown_frees, 1);
}

uint64_t coll_memory_unknown_frees(void)
{
    return atomic_load(&unknown_frees);
}
