/*
 * libFuzzer harness of the configuration parsers (control/config.c,
 * control/sources.c): each input is read
 *   - as an INI file, from memory and through a memfd (both must agree),
 *   - as an OMNIPROF="k=v,..." string,
 *   - as one torch_profiler_dir value,
 * and every accepted configuration must serialise to one printable line
 * that parses back into an equal configuration and the same text.  Every
 * refusal must be one line.  A broken property aborts.
 *
 * ./run.sh fuzz [SECONDS] config builds and runs it (build-fuzz/bin/fuzz_config);
 * by hand, from the repository root (clang 14 or later):
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
 *     -Icontrol -Icollector -Iwriter tests/fuzz/fuzz_config.c \
 *     control/config.c control/sources.c collector/log.c collector/api.c -linih \
 *     -o build/fuzz_config
 *   mkdir -p build/fuzz_corpus
 *   build/fuzz_config -max_total_time=120 -dict=tests/fuzz/config.dict \
 *     build/fuzz_corpus tests/fuzz/corpus/config
 *
 * (new inputs go into the first directory, so tests/fuzz/corpus/config
 * stays as committed).
 */
#define _GNU_SOURCE /* memfd_create */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "control.h"

static void broken(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_config: %s\n%s\n", what, detail);
    abort();
}

static void one_line(int rc, const struct ctl_error *err)
{
    if (rc == 0)
        return;
    if (strchr(err->msg, '\n') || strchr(err->msg, '\r'))
        broken("a refusal is not one line", err->msg);
}

/* serialise -> parse -> equal, and the text is a fixed point. */
static void round_trip(const struct ctl_config *c)
{
    static char text[CTL_CONFIG_TEXT_MAX], again[CTL_CONFIG_TEXT_MAX];
    if (ctl_config_serialize(c, text, sizeof text) != 0)
        broken("a config does not fit CTL_CONFIG_TEXT_MAX", "");
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            broken("the k=v text holds a control byte", text);
    struct ctl_config back;
    struct ctl_error err = {{0}};
    ctl_config_defaults(&back);
    if (ctl_config_parse_string(&back, text, "OMNIPROF", &err) != 0)
        broken(err.msg, text);
    if (!ctl_config_equal(c, &back))
        broken("the k=v text parses into another config", text);
    if (ctl_config_serialize(&back, again, sizeof again) != 0 || strcmp(text, again) != 0)
        broken("the k=v text of the parsed config differs", text);
    one_line(ctl_config_validate(c, "fuzz", &err), &err);
}

static void as_ini(const uint8_t *data, size_t size)
{
    struct ctl_config c, f;
    struct ctl_error err = {{0}}, ferr = {{0}};
    ctl_config_defaults(&c);
    int rc = ctl_config_parse_ini(&c, (const char *)data, size, "fuzz.ini", &err);
    one_line(rc, &err);
    if (rc == 0)
        round_trip(&c);

    /* the same bytes as a file: the same outcome */
    int fd = memfd_create("fuzz.ini", MFD_CLOEXEC);
    if (fd < 0)
        return;
    if (write(fd, data, size) == (ssize_t)size) {
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ctl_config_defaults(&f);
        int frc = ctl_config_load_ini(&f, path, &ferr);
        one_line(frc, &ferr);
        if ((rc == 0) != (frc == 0))
            broken("the file and the text in memory differ", rc ? err.msg : ferr.msg);
        if (rc == 0 && !ctl_config_equal(&c, &f))
            broken("the file and the text in memory give other configs", "");
    }
    close(fd);
}

static void as_string(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return;
    memcpy(s, data, size);
    s[size] = '\0'; /* an environment variable ends at its first NUL */
    struct ctl_config c;
    struct ctl_error err = {{0}};
    ctl_config_defaults(&c);
    int rc = ctl_config_parse_string(&c, s, "OMNIPROF", &err);
    one_line(rc, &err);
    if (rc == 0)
        round_trip(&c);

    /* the bytes as one value: it comes back byte for byte */
    ctl_config_defaults(&c);
    rc = ctl_config_set(&c, "dir", s, "-o", &err);
    one_line(rc, &err);
    if (rc == 0) {
        round_trip(&c);
        static char text[CTL_CONFIG_TEXT_MAX];
        struct ctl_config back;
        ctl_config_defaults(&back);
        if (ctl_config_serialize(&c, text, sizeof text) != 0 ||
            ctl_config_parse_string(&back, text, "OMNIPROF", &err) != 0 || strcmp(back.dir, s) != 0)
            broken("a directory does not come back unchanged", text);
    }
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    as_ini(data, size);
    as_string(data, size);
    return 0;
}
