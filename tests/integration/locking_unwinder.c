/*
 * Test helper, preloaded after libomniprof.so: an unw_backtrace that holds a
 * lock of its own for 300 us around the real one, standing in for the locks
 * libunwind's slow path and the loader take.  With a few threads unwinding,
 * the lock is nearly always held, so a fork child copied at a random moment
 * would find it taken for good, unless omniprof kept unwinds out of forks.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <time.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

int unw_backtrace(void **buffer, int size)
{
    static int (*real)(void **, int);
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "unw_backtrace");
    pthread_mutex_lock(&lock);
    struct timespec hold = {0, 300000L};
    nanosleep(&hold, NULL);
    int n = real ? real(buffer, size) : 0;
    pthread_mutex_unlock(&lock);
    return n;
}
