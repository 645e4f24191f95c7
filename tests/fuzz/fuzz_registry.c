/*
 * Fuzzing the omniprof command's registry reader (control/cli/registry_read.c)
 * with libFuzzer: the input is written as <dir>/<pid>.json in a private
 * directory, then read the two ways the command reads entries (one pid, and
 * a scan of the directory, which checks and may delete entries), and parsed
 * from the buffer directly.  An entry that parses is published again
 * (control/registry.c) and must read back the same.
 *
 * ./run.sh fuzz [SECONDS] registry builds and runs it (build-fuzz/bin/fuzz_registry);
 * by hand, from the repository root (clang with libFuzzer):
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined \
 *     -Icollector -Icontrol -Icontrol/cli -Iwriter \
 *     tests/fuzz/fuzz_registry.c control/cli/registry_read.c control/registry.c \
 *     writer/json.c writer/out.c collector/log.c -lyajl -lz -o /tmp/fuzz_registry
 *   /tmp/fuzz_registry -max_total_time=120 -max_len=262144 /tmp/corpus \
 *     tests/fuzz/corpus/registry
 *
 * ctest replays the seeds and every input in tests/fuzz/regressions/registry/
 * (what the fuzzer found once) through this same entry point, built with gcc
 * and the sanitizers (replay.c, test fuzz_registry_replay).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static char dir[64];

static void remove_dir(void)
{
    rmdir(dir);
}

static void make_dir(void)
{
    if (dir[0])
        return;
    snprintf(dir, sizeof dir, "/tmp/omniprof-fuzz-XXXXXX");
    if (!mkdtemp(dir))
        abort();
    atexit(remove_dir);
}

static void write_file(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "we");
    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);
}

static bool same(const struct ctl_entry *a, const struct ctl_entry *b)
{
    return !strcmp(a->host, b->host) && !strcmp(a->worker, b->worker) &&
           !strcmp(a->cmdline, b->cmdline) && !strcmp(a->state, b->state) &&
           !strcmp(a->dir, b->dir) && !strcmp(a->config, b->config) &&
           !strcmp(a->last_result, b->last_result) && a->pid == b->pid &&
           a->start_time == b->start_time && a->stage == b->stage && a->rank == b->rank &&
           a->world_size == b->world_size && a->local_rank == b->local_rank &&
           !strcmp(a->job, b->job) && a->toggle_signal == b->toggle_signal &&
           a->stop_signal == b->stop_signal && a->step_signal == b->step_signal &&
           a->requests == b->requests && a->n_files == b->n_files &&
           (a->n_files < 1 || !strcmp(a->last_files[0], b->last_files[0])) &&
           (a->n_files < 2 || !strcmp(a->last_files[1], b->last_files[1])) &&
           (a->n_files < 3 || !strcmp(a->last_files[2], b->last_files[2]));
}

/* Published and read again, an entry reads back; published once more, it
 * is unchanged (the first publication may have replaced invalid UTF-8, which
 * the reader takes as it is, by U+FFFD). */
static void round_trip(const struct ctl_entry *e)
{
    static struct ctl_entry once, twice;
    if (ctl_registry_publish(dir, e) < 0)
        return;
    if (cli_registry_read(dir, e->pid, &once) != 0)
        abort();
    if (ctl_registry_publish(dir, &once) < 0)
        return;
    if (cli_registry_read(dir, e->pid, &twice) != 0 || !same(&once, &twice))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct ctl_entry e;
    make_dir();
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    /* the file is named after the pid the entry claims, so that entries
     * omniprof wrote (the seeds) parse whole; else after this process */
    int parsed = cli_registry_parse(text, size, 0, &e);
    int pid = e.pid > 0 ? e.pid : (int)getpid();
    parsed = cli_registry_parse(text, size, pid, &e);
    free(text);
    char path[128];
    snprintf(path, sizeof path, "%s/%d.json", dir, pid);

    write_file(path, data, size);
    struct ctl_entry *all;
    struct cli_untrusted *skipped;
    size_t n, n_skipped;
    int cleaned;
    if (cli_registry_scan_all(dir, &all, &n, &cleaned, &skipped, &n_skipped) == 0) {
        for (size_t i = 0; i < n_skipped; i++) {
            char shown[COLL_SHOWN_CAP];
            coll_escape(shown, sizeof shown, skipped[i].why, COLL_SHOWN_MAX);
        }
        free(all);
        free(skipped);
    }
    write_file(path, data, size);
    if (cli_registry_read(dir, pid, &e) == 0) {
        if (parsed != 0)
            abort(); /* the file and the buffer read alike */
        char shown[COLL_SHOWN_CAP];
        coll_escape(shown, sizeof shown, e.cmdline, COLL_SHOWN_MAX);
        round_trip(&e);
        /* the checks, against this live process: the user's, with the
         * entry's claims about the library */
        char why[192];
        e.pid = (int)getpid();
        e.start_time = ctl_process_start_time(e.pid);
        cli_entry_check(&e, why, sizeof why);
    }
    unlink(path);
    return 0;
}
