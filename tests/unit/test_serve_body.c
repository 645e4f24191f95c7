/* omniprof serve's request body (serve_body.c): the accumulator at and
 * past its limit, in pieces of every size, and the {"stages"} parse with
 * the messages a client sees. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"

/* Feeds text in pieces of `piece` bytes to a body limited to limit. */
static struct cli_serve_body fed(const char *text, size_t len, size_t piece, size_t limit)
{
    struct cli_serve_body b = {.limit = limit};
    for (size_t at = 0; at < len; at += piece)
        cli_serve_body_add(&b, text + at, len - at < piece ? len - at : piece);
    return b;
}

Test(body, keeps_every_byte_up_to_the_limit_in_any_pieces)
{
    char text[100];
    for (size_t i = 0; i < sizeof text; i++)
        text[i] = (char)i; /* NUL bytes included */
    for (size_t piece = 1; piece <= 100; piece++) {
        struct cli_serve_body b = fed(text, sizeof text, piece, 100);
        cr_assert_eq(b.state, CLI_SERVE_BODY_OK, "piece %zu", piece);
        cr_assert_eq(b.len, 100);
        cr_assert(b.cap <= 101, "never more than limit + 1 bytes");
        cr_assert_eq(memcmp(b.data, text, 100), 0);
        cr_assert_eq(b.data[100], '\0');
        cli_serve_body_free(&b);
    }
}

Test(body, one_byte_over_the_limit_drops_everything)
{
    char text[101];
    memset(text, 'x', sizeof text);
    for (size_t piece = 1; piece <= 101; piece++) {
        struct cli_serve_body b = fed(text, sizeof text, piece, 100);
        cr_assert_eq(b.state, CLI_SERVE_BODY_TOO_LARGE, "piece %zu", piece);
        cr_assert_null(b.data, "the memory is returned at once");
        cr_assert_eq(b.len, 0);
        cr_assert_eq(cli_serve_body_add(&b, "y", 1), -EFBIG, "later pieces are dropped");
        cr_assert_null(b.data);
        cli_serve_body_free(&b);
    }
}

Test(body, a_small_piece_after_an_overflow_is_not_kept)
{
    /* small, too large, small: the sequence that once wrote past the buffer */
    struct cli_serve_body b = {.limit = 64};
    cr_assert_eq(cli_serve_body_add(&b, "0123456789", 10), 0);
    char big[100] = {0};
    cr_assert_eq(cli_serve_body_add(&b, big, sizeof big), -EFBIG);
    cr_assert_eq(cli_serve_body_add(&b, "abc", 3), -EFBIG);
    cr_assert_null(b.data);
    cli_serve_body_free(&b);
}

Test(body, declared_length)
{
    cr_expect(!cli_serve_declared_too_large("65536", 65536));
    cr_expect(cli_serve_declared_too_large("65537", 65536));
    cr_expect(cli_serve_declared_too_large(" 99999999999999999999999999", 65536));
    cr_expect(!cli_serve_declared_too_large("0", 65536));
    cr_expect(!cli_serve_declared_too_large("", 65536));
}

static unsigned parse(const char *text, struct cli_selection *sel, char *msg)
{
    return cli_serve_parse_body(text, strlen(text), sel, msg, 512);
}

Test(parse, stages_and_every_process)
{
    struct cli_selection sel;
    char msg[512];
    cr_assert_eq(parse("{\"stages\": [0, 2, 1000000]}", &sel, msg), 0, "%s", msg);
    cr_assert_eq(sel.n_stages, 3);
    cr_assert_eq(sel.stages[0], 0);
    cr_assert_eq(sel.stages[1], 2);
    cr_assert_eq(sel.stages[2], 1000000);
    static const char *const every[] = {"", " \r\n\t", "null", "{\"stages\": null}", "{}"};
    for (size_t i = 0; i < sizeof every / sizeof every[0]; i++) {
        cr_assert_eq(parse(every[i], &sel, msg), 0, "'%s': %s", every[i], msg);
        cr_assert_eq(sel.n_stages, 0, "'%s' means every process", every[i]);
    }
}

Test(parse, errors_say_what_is_wrong)
{
    static const struct {
        const char *body, *words;
    } cases[] = {
        {"{not json", "not JSON"},
        {"{\"stages\": [0]", "not JSON"},
        {"{\"stage\": [0]", "not JSON"}, /* a syntax error outranks the rest */
        {"{\"stages\": [0]} {}", "not JSON"},
        {"{\"stages\": \"0\"}", "list of stage numbers"},
        {"{\"stages\": [-1]}", "stage numbers"},
        {"{\"stages\": [1.0]}", "stage numbers"},
        {"{\"stages\": [1e2]}", "stage numbers"},
        {"{\"stages\": [4294967296]}", "stage numbers"},
        {"{\"stages\": [1000001]}", "stage numbers"},
        {"{\"stages\": [[0]]}", "stage numbers"},
        {"{\"stages\": []}", "empty"},
        {"{\"stage\": [0]}", "unknown field \"stage\""},
        {"{\"stages\": [0], \"stages\": [2]}", "given twice"},
        {"[1, 2]", "object"},
        {"7", "object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct cli_selection sel;
        char msg[512];
        cr_assert_eq(parse(cases[i].body, &sel, msg), 400, "%s", cases[i].body);
        cr_assert(strstr(msg, cases[i].words), "%s: %s", cases[i].body, msg);
        cr_assert_eq(sel.n_stages, 0);
    }
}

Test(parse, too_many_stages)
{
    char text[1024] = "{\"stages\": [0";
    for (int i = 1; i <= CTL_MAX_STAGES; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), ", %d", i);
    strcat(text, "]}");
    struct cli_selection sel;
    char msg[512];
    cr_assert_eq(parse(text, &sel, msg), 400);
    cr_assert(strstr(msg, "more than 64 stages"), "%s", msg);
}

Test(parse, nul_bytes_and_the_length)
{
    struct cli_selection sel;
    char msg[512];
    /* a NUL inside the body is not JSON; bytes past len are not read */
    cr_assert_eq(cli_serve_parse_body("{\"stages\": [1]}\0", 16, &sel, msg, sizeof msg), 400);
    cr_assert_eq(cli_serve_parse_body("{\"stages\": [1]}garbage", 15, &sel, msg, sizeof msg), 0);
    cr_assert_eq(sel.n_stages, 1);
}

Test(parse, a_long_key_is_cut_on_a_character)
{
    char text[400] = "{\"";
    for (int i = 0; i < 99; i++)
        strcat(text, "a");
    strcat(text, "\xC3\xA9\xC3\xA9\": 1}"); /* "é" across byte 100 */
    struct cli_selection sel;
    char msg[512];
    cr_assert_eq(parse(text, &sel, msg), 400);
    cr_assert(strstr(msg, "aaa\" (only"), "%s", msg);
}

Test(parse, deep_nesting_is_only_a_counter)
{
    size_t depth = 60000;
    char *text = malloc(2 * depth + 32);
    strcpy(text, "{\"stages\": ");
    size_t n = strlen(text);
    memset(text + n, '[', depth);
    memset(text + n + depth, ']', depth);
    strcpy(text + n + 2 * depth, "}");
    struct cli_selection sel;
    char msg[512];
    cr_assert_eq(parse(text, &sel, msg), 400);
    cr_assert(strstr(msg, "stage numbers"), "%s", msg);
    free(text);
}
