/*
 * Trace reader and `omniprof summary` throughput: for each trace given, the
 * best of ROUNDS of (a) the reader alone, counting events, and (b) the
 * whole summary (reader, rows, table to /dev/null), in CPU seconds of this
 * process (steadier than wall time on a shared machine).  The last column,
 * ns per input byte, stays flat as the input grows when the cost is linear.
 * tests/bench/run.sh generates the traces (gen_trace.py).  Asserts nothing.
 *
 *   bench_reader [-r ROUNDS] LABEL TRACE [LABEL TRACE ...]
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "cli.h"
#include "trace_reader.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int count(void *ctx, const struct tr_event *ev)
{
    (void)ev;
    ++*(size_t *)ctx;
    return 0;
}

/* The JSON text's size: what the reader scans, gzip'd or not. */
static double json_bytes(const char *path)
{
    gzFile in = gzopen(path, "rb");
    static char buf[1 << 16];
    double total = 0;
    int n;
    while (in && (n = gzread(in, buf, sizeof buf)) > 0)
        total += n;
    if (in)
        gzclose(in);
    return total;
}

static double read_once(const char *path, size_t *events, size_t *names)
{
    struct tr_reader *r = tr_reader_new(NULL);
    *events = 0;
    double t0 = now_s();
    int rc = r ? tr_read(r, path, &(struct tr_callbacks){.event = count}, events) : -1;
    double dt = now_s() - t0;
    if (rc < 0) {
        fprintf(stderr, "bench_reader: %s\n", r ? tr_error(r) : "out of memory");
        exit(1);
    }
    *names = tr_interned(r);
    tr_reader_free(r);
    return dt;
}

/* cli_cmd_summary with its table going to /dev/null. */
static double summary_once(const char *path)
{
    fflush(stdout);
    int saved = dup(1), null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    char *argv[] = {"summary", (char *)path, NULL};
    double t0 = now_s();
    int rc = cli_cmd_summary(2, argv);
    fflush(stdout);
    double dt = now_s() - t0;
    dup2(saved, 1);
    close(saved);
    close(null);
    if (rc != 0) {
        fprintf(stderr, "bench_reader: summary of %s failed\n", path);
        exit(1);
    }
    return dt;
}

int main(int argc, char **argv)
{
    int rounds = 3, i = 1;
    if (argc > 2 && strcmp(argv[1], "-r") == 0) {
        rounds = atoi(argv[2]);
        i = 3;
    }
    if (argc - i < 2 || (argc - i) % 2) {
        fprintf(stderr, "usage: bench_reader [-r ROUNDS] LABEL TRACE [LABEL TRACE ...]\n");
        return 2;
    }
    printf("%-34s %9s %9s %8s %8s %10s %7s %9s %8s\n", "trace (best of rounds, CPU)", "JSON MiB",
           "events", "names", "read s", "events/s", "MiB/s", "summary s", "ns/byte");
    for (; i + 1 < argc; i += 2) {
        const char *label = argv[i], *path = argv[i + 1];
        double bytes = json_bytes(path), best_read = 1e9, best_sum = 1e9;
        size_t events = 0, names = 0;
        for (int k = 0; k < rounds; k++) {
            double r = read_once(path, &events, &names), s = summary_once(path);
            best_read = r < best_read ? r : best_read;
            best_sum = s < best_sum ? s : best_sum;
        }
        printf("%-34s %9.1f %9zu %8zu %8.3f %10.0f %7.0f %9.3f %8.2f\n", label, bytes / (1 << 20),
               events, names, best_read, (double)events / best_read, bytes / (1 << 20) / best_read,
               best_sum, best_sum * 1e9 / bytes);
    }
    return 0;
}
