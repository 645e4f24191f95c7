/*
 * Writer throughput: a synthetic session of N launch events (50 kernel
 * names, a few distinct stacks) written as the real writer writes it, gzip'd
 * at level 1 and plain, with and without stacks.  Prints events/s, bytes per
 * event and trace bytes per launch.  Asserts nothing about time.
 *
 *   bench_writer [EVENTS]     (default 1000000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "writer.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct coll_frame frame_pool[4][12];
static struct coll_stack stacks[4];

static void make_stacks(void)
{
    static const char *const fns[] = {"at::native::launch_kernel",
                                      "at::TensorIterator::for_each",
                                      "torch::autograd::forward",
                                      "run_model",
                                      "main",
                                      "__libc_start_main",
                                      "_start"};
    for (int s = 0; s < 4; s++) {
        for (int k = 0; k < 12; k++) {
            char buf[64];
            snprintf(buf, sizeof buf, "%s_%d", fns[k % 7], k < 3 ? s : 0);
            frame_pool[s][k] =
                (struct coll_frame){.ip = 0x400000u + (uint64_t)(k < 3 ? s * 100 + k : k) * 16,
                                    .module = k < 5 ? "libtorch_cuda.so" : "libc.so.6",
                                    .function = strdup(buf),
                                    .offset = 0x40u + (uint64_t)k};
        }
        stacks[s] =
            (struct coll_stack){.id = (uint32_t)s + 1, .depth = 12, .frames = frame_pool[s]};
    }
}

static void run(const struct coll_session *s, bool gzip, bool with_stack, const char *dir,
                size_t launches)
{
    struct wr_options o = {.dir = dir,
                           .worker = "bench",
                           .gzip = gzip,
                           .gzip_level = 1,
                           .table = false,
                           .version = "bench",
                           .config = "",
                           .process_name = "bench",
                           .pid = 1,
                           .stage = -1,
                           .rank = -1,
                           .with_stack = with_stack,
                           .record_shapes = true};
    struct wr_result r;
    double t0 = now_s();
    if (wr_write_session(s, &o, &r) < 0) {
        fprintf(stderr, "bench_writer: write failed\n");
        exit(1);
    }
    double dt = now_s() - t0;
    struct stat st;
    stat(r.trace_path, &st);
    printf("%-6s %-12s %9zu events  %6.2f s  %8.2f M events/s  %6.1f bytes/event\n",
           gzip ? "gzip-1" : "plain", with_stack ? "with stacks" : "no stacks", s->n_events, dt,
           (double)s->n_events / dt / 1e6, (double)st.st_size / (double)launches);
    unlink(r.trace_path);
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
    struct coll_event *ev = calloc(n, sizeof *ev);
    const struct coll_event **ptrs = calloc(n, sizeof *ptrs);
    struct coll_kernel_name names[50];
    for (int k = 0; k < 50; k++) {
        char buf[128];
        snprintf(buf, sizeof buf, "void at::native::elementwise_kernel<128, 4, %d>(int, float*)",
                 k);
        names[k] = (struct coll_kernel_name){.func = 0x1000u + (uint64_t)k,
                                             .domain = COLL_DOMAIN_DRIVER,
                                             .name = strdup(buf),
                                             .registers = 32,
                                             .static_shared = 0};
    }
    make_stacks();
    uint64_t t = 1795843162000000000ull;
    for (size_t i = 0; i < n; i++) {
        ev[i] = (struct coll_event){
            .start_ns = t + i * 2000,
            .end_ns = t + i * 2000 + 900,
            .correlation = i + 1,
            .tid = 4242 + (int)(i % 4),
            .kind = COLL_EV_LAUNCH,
            .api = COLL_API_cuLaunchKernel,
            .stack = (uint32_t)(i % 4) + 1,
            .u.launch = {
                .func = 0x1000u + i % 50, .stream = 7, .grid = {128, 1, 1}, .block = {256, 1, 1}}};
        ptrs[i] = &ev[i];
    }
    struct coll_session s = {.begin_ns = t,
                             .end_ns = t + n * 2000,
                             .n_events = n,
                             .events = ptrs,
                             .n_names = 50,
                             .names = names,
                             .n_stacks = 4,
                             .stacks = stacks};
    char dir[] = "/tmp/omniprof-bench-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    printf("bench_writer: %zu launch events, one core\n", n);
    run(&s, true, false, dir, n);
    run(&s, true, true, dir, n);
    run(&s, false, false, dir, n);
    run(&s, false, true, dir, n);
    rmdir(dir);
    return 0;
}
