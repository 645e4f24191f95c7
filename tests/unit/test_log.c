/* coll_escape, the one way outside text is shown in omniprof's messages:
 * printable text as it is, everything a terminal could act on escaped,
 * long text cut with "...", never a partial escape or character. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "collector.h"

static const char *shown(const char *text, size_t max)
{
    static char buf[COLL_SHOWN_CAP];
    size_t n = coll_escape(buf, sizeof buf, text, max);
    cr_assert_eq(n, strlen(buf));
    return buf;
}

Test(escape, printable_text_and_utf8_are_kept)
{
    cr_expect_str_eq(shown("plain /path/x.json 'q' \"dq\" \\", SIZE_MAX),
                     "plain /path/x.json 'q' \"dq\" \\");
    cr_expect_str_eq(shown("caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x99\x82", SIZE_MAX),
                     "caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x99\x82");
}

Test(escape, controls_are_escaped)
{
    cr_expect_str_eq(shown("a\nb\tc\rd", SIZE_MAX), "a\\nb\\tc\\rd");
    cr_expect_str_eq(shown("\x1b[2J\x07\x01\x7f", SIZE_MAX), "\\x1b[2J\\x07\\x01\\x7f");
    /* C1 controls (CSI is U+009B), as UTF-8 and as a lone byte */
    cr_expect_str_eq(shown("\xc2\x9b"
                           "31m",
                           SIZE_MAX),
                     "\\xc2\\x9b31m");
    cr_expect_str_eq(shown("\x9b"
                           "31m",
                           SIZE_MAX),
                     "\\x9b31m");
}

Test(escape, invalid_utf8_is_escaped)
{
    cr_expect_str_eq(shown("\xff\xfe", SIZE_MAX), "\\xff\\xfe");
    cr_expect_str_eq(shown("\xc0\x80", SIZE_MAX), "\\xc0\\x80");          /* overlong NUL */
    cr_expect_str_eq(shown("\xed\xa0\x80", SIZE_MAX), "\\xed\\xa0\\x80"); /* a surrogate */
    cr_expect_str_eq(shown("\xe4\xb8", SIZE_MAX), "\\xe4\\xb8");          /* cut short */
    cr_expect_str_eq(shown("\xf4\x90\x80\x80", SIZE_MAX), "\\xf4\\x90\\x80\\x80"); /* > U+10FFFF */
}

Test(escape, long_text_is_cut_with_dots)
{
    cr_expect_str_eq(shown("abcdef", 3), "abc...");
    cr_expect_str_eq(shown("abc", 3), "abc");
    char many[1000];
    memset(many, '\x1b', sizeof many - 1);
    many[sizeof many - 1] = '\0';
    const char *s = shown(many, COLL_SHOWN_MAX);
    cr_expect_eq(strlen(s), 4 * COLL_SHOWN_MAX + 3, "200 escapes, then ...");
    cr_expect_str_eq(s + 4 * COLL_SHOWN_MAX, "...");
}

Test(escape, a_small_buffer_holds_no_partial_escape_or_character)
{
    char buf[9]; /* 5 bytes of text, then "..." and the NUL */
    coll_escape(buf, sizeof buf, "ab\x1b\x1b", SIZE_MAX);
    cr_expect_str_eq(buf, "ab...", "\\x1b does not fit in the 3 bytes left");
    coll_escape(buf, sizeof buf, "abcd\xe4\xb8\xad", SIZE_MAX);
    cr_expect_str_eq(buf, "abcd...");
    coll_escape(buf, 4, "abcdef", SIZE_MAX);
    cr_expect_str_eq(buf, "");
    coll_escape(buf, 1, "abcdef", SIZE_MAX);
    cr_expect_str_eq(buf, "");
}

Test(log, a_line_is_escaped_and_short, .init = cr_redirect_stderr)
{
    char value[5000];
    memset(value, 'v', sizeof value - 1);
    value[sizeof value - 1] = '\0';
    coll_log(COLL_LOG_ERROR, "test", "bad '%s'\n\x1b[2J",
             "a\x1b"
             "b");
    coll_log(COLL_LOG_ERROR, "test", "long %s", value);
    fflush(stderr);
    FILE *f = cr_get_redirected_stderr();
    char line[8192];
    cr_assert_not_null(fgets(line, sizeof line, f));
    cr_expect_str_eq(line, "omniprof: test: bad 'a\\x1bb'\\n\\x1b[2J\n");
    cr_assert_not_null(fgets(line, sizeof line, f));
    cr_expect_lt(strlen(line), 1030);
    cr_expect_eq(strncmp(line, "omniprof: test: long vvv", 24), 0);
    cr_expect_str_eq(line + strlen(line) - 5, "v...\n");
}
