/*
 * The clock of every omniprof timestamp.
 *
 * CLOCK_REALTIME, because CUPTI stamps activity records with CLOCK_REALTIME
 * nanoseconds on Linux: host events and GPU records then share one time base
 * and need no conversion.  clock_gettime goes through the vDSO (about 25 ns).
 */
#include <time.h>

#include "internal.h"

uint64_t coll_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts); /* cannot fail: a valid clock and pointer */
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
