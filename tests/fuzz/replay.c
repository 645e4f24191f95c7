/*
 * Runs a libFuzzer entry point over files without libFuzzer: each argument
 * is a file, or a directory whose files are each one input.  ctest replays
 * each harness's seeds (tests/fuzz/corpus/NAME/) and the inputs it once
 * failed on (tests/fuzz/regressions/NAME/) with it, built with the
 * sanitizers (test fuzz_NAME_replay).
 *
 * A directory that does not exist is empty (a harness has no regressions
 * until it fails once), but replaying nothing at all fails.  When an input
 * fails (a sanitizer's report, or the harness's abort), a last line names
 * it: the death callback for ASan (and clang's UBSan), SIGABRT for the rest.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <sanitizer/common_interface_defs.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char current[4096]; /* the input being replayed; "" between inputs */

/* Said once, from whichever of the hooks below comes first. */
static void name_current(void)
{
    if (!current[0])
        return;
    static const char say[] = "replay: the failing input is ";
    ssize_t ignored = write(2, say, sizeof say - 1);
    ignored = write(2, current, strlen(current));
    ignored = write(2, "\n", 1);
    (void)ignored;
    current[0] = '\0';
}

/* gcc's UBSan does not call the death callback (it has its own runtime):
 * it aborts instead, and the SIGABRT handler names the input. */
__attribute__((visibility("default"))) const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
    return "abort_on_error=1:print_stacktrace=1";
}

static void on_abort(int sig)
{
    name_current();
    signal(sig, SIG_DFL);
    raise(sig);
}

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rbe");
    if (!f) {
        perror(path);
        return 1;
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    for (size_t r; buf && (r = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += r;
        if (n == cap) {
            uint8_t *grown = realloc(buf, cap *= 2);
            if (!grown)
                free(buf);
            buf = grown;
        }
    }
    fclose(f);
    if (!buf)
        return 1;
    snprintf(current, sizeof current, "%s", path);
    LLVMFuzzerTestOneInput(buf, n);
    current[0] = '\0';
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    __sanitizer_set_death_callback(name_current);
    signal(SIGABRT, on_abort);
    int failed = 0, inputs = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) < 0) {
            if (errno == ENOENT) {
                printf("%s: none yet\n", argv[i]);
                continue;
            }
            perror(argv[i]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            failed |= run_file(argv[i]);
            inputs++;
            continue;
        }
        DIR *d = opendir(argv[i]);
        if (!d) {
            perror(argv[i]);
            return 1;
        }
        for (struct dirent *de; (de = readdir(d));) {
            if (de->d_name[0] == '.')
                continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], de->d_name);
            failed |= run_file(path);
            inputs++;
        }
        closedir(d);
    }
    printf("replayed %d inputs\n", inputs);
    if (inputs == 0) {
        fprintf(stderr, "replay: no inputs\n");
        return 1;
    }
    return failed;
}
