/* Symbolizing addresses (static functions too) and demangling. */
#include <criterion/criterion.h>
#include <gnu/libc-version.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "collector/internal.h"

__attribute__((noinline)) static int hidden_helper(int x)
{
    return x * 3 + 1;
}

__attribute__((noinline)) int visible_helper(int x)
{
    return hidden_helper(x) + 1;
}

static void expect_symbol(void *fn, uint64_t delta, const char *name)
{
    struct coll_frame f;
    coll_symbolize((uint64_t)(uintptr_t)fn + delta, &f);
    cr_assert_not_null(f.function, "no name for %s", name);
    cr_expect_str_eq(f.function, name);
    cr_expect_eq(f.offset, delta);
    cr_expect_str_eq(f.module, "test_symbols");
    free(f.function);
}

Test(symbols, static_and_exported_functions)
{
    expect_symbol((void *)hidden_helper, 0, "hidden_helper");
    expect_symbol((void *)hidden_helper, 3, "hidden_helper");
    expect_symbol((void *)visible_helper, 1, "visible_helper");
    cr_expect_eq(visible_helper(1), 5);
}

Test(symbols, library_functions_name_their_module)
{
    struct coll_frame f;
    coll_symbolize((uint64_t)(uintptr_t)&gnu_get_libc_version, &f); /* not intercepted by ASan */
    cr_expect_str_eq(f.module, "libc.so.6");
    cr_expect_str_eq(f.function, "gnu_get_libc_version");
    free(f.function);
}

Test(symbols, unknown_addresses_keep_the_address)
{
    struct coll_frame f;
    coll_symbolize(0x10, &f);
    cr_expect_null(f.function);
    cr_expect_str_eq(f.module, "?");
    cr_expect_eq(f.ip, 0x10);
}

Test(symbols, demangling)
{
    char *d = coll_demangle("_Z10vector_addPfS_i");
    cr_assert_not_null(d);
    cr_expect_str_eq(d, "vector_add(float*, float*, int)");
    free(d);
    d = coll_demangle("_ZN2at6native29vectorized_elementwise_kernelILi4EEEvi");
    cr_assert_not_null(d);
    cr_expect_str_eq(d, "void at::native::vectorized_elementwise_kernel<4>(int)");
    free(d);
    cr_expect_null(coll_demangle("vec_add"), "plain C names stay as they are");
    cr_expect_null(coll_demangle("_Znot a name"));
    cr_expect_null(coll_demangle(NULL));
}

static atomic_int stop_spinning;

static void *symbolize_loop(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_spinning)) {
        struct coll_frame f;
        coll_symbolize((uint64_t)(uintptr_t)hidden_helper, &f);
        free(f.function);
    }
    return NULL;
}

/* The program may fork while omniprof's control thread symbolizes (holding
 * the module lock): the child must still symbolize its own session. */
Test(symbols, a_fork_child_symbolizes_whatever_the_parent_held)
{
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, symbolize_loop, NULL), 0);
    int stuck = 0;
    for (int i = 0; i < 20; i++) {
        pid_t p = fork();
        if (p == 0) {
            alarm(1); /* a child that deadlocked dies here */
            coll_symbols_atfork_child();
            struct coll_frame f;
            coll_symbolize((uint64_t)(uintptr_t)hidden_helper, &f);
            _exit(f.function && strcmp(f.function, "hidden_helper") == 0 ? 0 : 1);
        }
        int status = 0;
        waitpid(p, &status, 0);
        stuck += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    atomic_store(&stop_spinning, 1);
    pthread_join(t, NULL);
    cr_expect_eq(stuck, 0, "%d of 20 fork children could not symbolize", stuck);
}
