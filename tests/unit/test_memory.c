/* The live-allocation table: totals per device and class, frees of
 * unknown pointers, events filled whether or not recording. */
#include <criterion/criterion.h>

#include "collector/internal.h"

static struct coll_event ev;

static void setup(void)
{
    cr_assert_eq(coll_memory_init(1024), 0);
}

TestSuite(memory, .init = setup);

Test(memory, totals_follow_a_known_sequence)
{
    coll_memory_alloc(NULL, COLL_MEM_ALLOC, 0x1000, 100, 0); /* not recording: no event */
    coll_memory_alloc(&ev, COLL_MEM_ALLOC, 0x2000, 50, 0);
    cr_expect_eq(ev.u.mem.bytes, 50);
    cr_expect_eq(ev.u.mem.total, 150);
    cr_expect_eq(ev.u.mem.reserved, 150);
    cr_expect_eq(ev.device, 0);
    cr_expect_eq(ev.device_type, 1);
    cr_expect_eq(ev.tracked, 1);
    coll_memory_alloc(&ev, COLL_MEM_ALLOC, 0x3000, 7, 1); /* another device */
    cr_expect_eq(ev.u.mem.total, 7);
    coll_memory_free(&ev, COLL_MEM_ALLOC, 0x1000, 0); /* made before "recording" */
    cr_expect_eq(ev.u.mem.bytes, -100);
    cr_expect_eq(ev.u.mem.total, 50);
    cr_expect_eq(ev.device, 0);
    coll_memory_free(&ev, COLL_MEM_ALLOC, 0x2000, 0);
    cr_expect_eq(ev.u.mem.total, 0);
    coll_memory_free(&ev, COLL_MEM_ALLOC, 0x3000, 0);
    cr_expect_eq(ev.u.mem.total, 0);
    cr_expect_eq(ev.device, 1);
    cr_expect_eq(coll_memory_unknown_frees(), 0);
}

Test(memory, unknown_and_double_frees_are_counted)
{
    coll_memory_free(&ev, COLL_MEM_ALLOC, 0xdead000, 0);
    cr_expect_eq(ev.tracked, 0);
    cr_expect_eq(ev.u.mem.bytes, 0);
    coll_memory_alloc(&ev, COLL_MEM_ALLOC, 0x5000, 10, 0);
    coll_memory_free(&ev, COLL_MEM_ALLOC, 0x5000, 0);
    coll_memory_free(&ev, COLL_MEM_ALLOC, 0x5000, 0);
    cr_expect_eq(coll_memory_unknown_frees(), 2);
}

Test(memory, physical_memory_reserves_and_mappings_allocate)
{
    coll_memory_alloc(&ev, COLL_MEM_PHYS, 0x7, 2 << 20, 0); /* a handle */
    cr_expect_eq(ev.u.mem.reserved, 2 << 20);
    cr_expect_eq(ev.u.mem.total, 0);
    coll_memory_alloc(&ev, COLL_MEM_MAPPING, 0x7, 2 << 20, 0); /* same number, other class */
    cr_expect_eq(ev.u.mem.total, 2 << 20);
    cr_expect_eq(ev.u.mem.reserved, 2 << 20);
    coll_memory_free(&ev, COLL_MEM_MAPPING, 0x7, 2 << 20);
    cr_expect_eq(ev.u.mem.total, 0);
    coll_memory_free(&ev, COLL_MEM_PHYS, 0x7, 0);
    cr_expect_eq(ev.u.mem.reserved, 0);
    cr_expect_eq(coll_memory_unknown_frees(), 0);
}

Test(memory, host_memory_is_cpu)
{
    coll_memory_alloc(&ev, COLL_MEM_ALLOC, 0x9000, 64, -1);
    cr_expect_eq(ev.device, -1);
    cr_expect_eq(ev.device_type, 0);
    cr_expect_eq(ev.u.mem.total, 64);
    coll_memory_free(&ev, COLL_MEM_ALLOC, 0x9000, 0);
    cr_expect_eq(ev.u.mem.total, 0);
}

Test(memory, many_live_allocations_reuse_deleted_slots)
{
    for (int round = 0; round < 20; round++) {
        for (uint64_t i = 1; i <= 1000; i++)
            coll_memory_alloc(NULL, COLL_MEM_ALLOC, i << 12, 1, 0);
        for (uint64_t i = 1; i <= 1000; i++)
            coll_memory_free(&ev, COLL_MEM_ALLOC, i << 12, 0);
        cr_assert_eq(ev.u.mem.total, 0, "round %d", round);
    }
    cr_expect_eq(coll_memory_unknown_frees(), 0);
}
