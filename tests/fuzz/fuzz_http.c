/* clang-format off */
/*
 * libFuzzer harness of what omniprof serve does with a request body
 * (control/cli/serve_body.c): the bytes arrive in pieces of any size, as
 * libmicrohttpd hands them over (chunked or not), are kept up to a limit,
 * and are parsed as the {"stages": [...]} body.
 *
 * Build and run from the repository root (clang with libFuzzer):
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Icontrol -Icontrol/cli tests/fuzz/fuzz_http.c control/cli/serve_body.c $(pkg-config --cflags --libs yajl) -o fuzz_http && ./fuzz_http -max_len=70000 tests/fuzz/corpus/http
 *
 * An input is two bytes of settings and then the body: the first byte
 * chooses the piece sizes, the second the limit (0: the server's 64 KiB;
 * otherwise 4 bytes per unit, so that small inputs reach the overflow
 * path).  Besides the sanitizers, it checks that the accumulator keeps
 * exactly the bytes it was given or nothing, that a parse gives the same
 * answer whatever the pieces were, and that what it answers is sound.
 */
/* clang-format on */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

/* The next piece size: 1 byte, a few, a read buffer's worth, or all. */
static size_t piece(uint8_t mode, uint32_t *rng, size_t left)
{
    *rng ^= *rng << 13;
    *rng ^= *rng >> 17;
    *rng ^= *rng << 5;
    static const size_t most[] = {1, 7, 64, 4096, 20000, (size_t)-1};
    size_t max = most[mode % 6];
    size_t n = max == (size_t)-1 ? left : 1 + *rng % max;
    return n < left ? n : left;
}

/* Whether s[0..n) is UTF-8 (what a message must be to go out as JSON). */
static int utf8(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        int k = s[i] < 0x80             ? 1
                : (s[i] & 0xE0) == 0xC0 ? 2
                : (s[i] & 0xF0) == 0xE0 ? 3
                : (s[i] & 0xF8) == 0xF0 ? 4
                                        : 0;
        if (k == 0 || i + (size_t)k > n)
            return 0;
        for (int j = 1; j < k; j++)
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
        i += (size_t)k;
    }
    return 1;
}

static void check_answer(unsigned status, const struct cli_selection *sel, const char *msg)
{
    CHECK(status == 0 || status == 400 || status == 500);
    CHECK((status != 0) == (msg[0] != '\0'));
    CHECK(utf8((const unsigned char *)msg, strlen(msg)));
    CHECK(sel->n_stages >= 0 && sel->n_stages <= CTL_MAX_STAGES);
    CHECK(status == 0 || sel->n_stages == 0);
    for (int i = 0; i < sel->n_stages; i++)
        CHECK(sel->stages[i] >= 0 && sel->stages[i] <= CTL_MAX_STAGE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t mode = data[0];
    size_t limit = data[1] ? (size_t)data[1] * 4 : CLI_SERVE_BODY_MAX;
    const char *body = (const char *)data + 2;
    size_t len = size - 2;

    /* the body in pieces, as the server gathers it */
    struct cli_serve_body b = {.limit = limit};
    uint32_t rng = 0x9E3779B9u ^ mode;
    for (size_t at = 0; at < len;) {
        size_t n = piece(mode, &rng, len - at);
        int rc = cli_serve_body_add(&b, body + at, n);
        CHECK(rc == 0 || b.state == CLI_SERVE_BODY_TOO_LARGE);
        at += n;
    }
    if (len > limit) {
        CHECK(b.state == CLI_SERVE_BODY_TOO_LARGE && !b.data && b.len == 0);
        cli_serve_body_free(&b);
        return 0;
    }
    CHECK(b.state == CLI_SERVE_BODY_OK && b.len == len && b.cap <= limit + 1);
    CHECK(len == 0 || (memcmp(b.data, body, len) == 0 && b.data[len] == '\0'));

    /* parsed from the pieces and from one exact copy: the same answer */
    struct cli_selection a, one;
    char msg_a[512], msg_one[512];
    unsigned st_a = cli_serve_parse_body(b.data, b.len, &a, msg_a, sizeof msg_a);
    char *copy = malloc(len ? len : 1); /* nothing past len to read */
    CHECK(copy);
    memcpy(copy, body, len);
    unsigned st_one = cli_serve_parse_body(copy, len, &one, msg_one, sizeof msg_one);
    free(copy);
    check_answer(st_a, &a, msg_a);
    CHECK(st_a == st_one && strcmp(msg_a, msg_one) == 0);
    CHECK(memcmp(&a, &one, sizeof a) == 0);
    cli_serve_body_free(&b);
    return 0;
}
