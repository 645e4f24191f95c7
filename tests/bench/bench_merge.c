/*
 * `omniprof merge` throughput and memory: runs the command given, ROUNDS
 * times, as a child (so each run's peak RSS is its own), and prints the
 * events merged (from its last line), the best round's wall and CPU time
 * (user + system, from wait4), events per CPU second and per wall second,
 * and the peak resident set.  Wall time depends on what else the machine
 * runs; CPU time is what one core spends.  tests/bench/run.sh generates the
 * inputs (gen_trace.py).  Asserts nothing.
 *
 *   bench_merge [-r ROUNDS] LABEL OMNIPROF merge ARGS...
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct round {
    double wall, cpu;
    long rss_kib;
    unsigned long long events;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int run(char **argv, struct round *r)
{
    int out[2];
    if (pipe(out) < 0)
        return -1;
    double t0 = now();
    pid_t pid = fork();
    if (pid == 0) {
        dup2(out[1], STDOUT_FILENO);
        dup2(out[1], STDERR_FILENO);
        close(out[0]);
        close(out[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(out[1]);
    char text[4096] = "";
    size_t len = 0;
    ssize_t n;
    while ((n = read(out[0], text + len, sizeof text - 1 - len)) > 0)
        len += (size_t)n;
    text[len] = '\0';
    close(out[0]);
    int status;
    struct rusage ru;
    if (pid < 0 || wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
        fprintf(stderr, "bench_merge: %s failed: %s\n", argv[0], text);
        return -1;
    }
    r->wall = now() - t0;
    r->cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
             (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    r->rss_kib = ru.ru_maxrss;
    const char *at = strstr(text, " events)");
    while (at && at > text && at[-1] >= '0' && at[-1] <= '9')
        at--;
    r->events = at ? strtoull(at, NULL, 10) : 0;
    return 0;
}

int main(int argc, char **argv)
{
    int rounds = 3, i = 1;
    if (argc > 2 && strcmp(argv[1], "-r") == 0) {
        rounds = atoi(argv[2]);
        i = 3;
    }
    if (argc - i < 3) {
        fprintf(stderr, "usage: bench_merge [-r ROUNDS] LABEL OMNIPROF merge ARGS...\n");
        return 2;
    }
    const char *label = argv[i];
    struct round best = {.cpu = 1e30}, r;
    for (int k = 0; k < rounds; k++) {
        if (run(argv + i + 1, &r) < 0)
            return 1;
        if (r.cpu < best.cpu)
            best = r;
    }
    printf("%-40s %9llu %8.2f %8.2f %12.0f %12.0f %9.1f\n", label, best.events, best.wall, best.cpu,
           (double)best.events / best.cpu, (double)best.events / best.wall,
           (double)best.rss_kib / 1024.0);
    return 0;
}
