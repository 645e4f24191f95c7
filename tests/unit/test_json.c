/* JSON string escaping: whatever bytes a name holds, the literal is valid. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "writer.h"

static void expect_escape(const char *in, const char *out)
{
    char buf[256];
    size_t n = wr_json_escape(buf, sizeof buf, in);
    cr_expect_str_eq(buf, out, "escape of %s", in);
    cr_expect_eq(n, strlen(out));
}

Test(json, plain_text_is_quoted)
{
    expect_escape("vec_add", "\"vec_add\"");
    expect_escape("", "\"\"");
    expect_escape(NULL, "\"\"");
}

Test(json, quotes_and_backslashes)
{
    expect_escape("say \"hi\"", "\"say \\\"hi\\\"\"");
    expect_escape("C:\\path\\", "\"C:\\\\path\\\\\"");
}

Test(json, control_bytes)
{
    expect_escape("a\nb\tc\rd", "\"a\\nb\\tc\\rd\"");
    expect_escape("\x01\x1f\b\f", "\"\\u0001\\u001f\\b\\f\"");
}

Test(json, valid_utf8_passes_through)
{
    expect_escape("kernel_\xc3\xa9t\xc3\xa9", "\"kernel_\xc3\xa9t\xc3\xa9\"");
    expect_escape("\xe2\x82\xac \xf0\x9f\x98\x80", "\"\xe2\x82\xac \xf0\x9f\x98\x80\"");
}

Test(json, invalid_utf8_becomes_replacement_characters)
{
    /* a lone continuation byte, a truncated sequence, an overlong '/',
     * a UTF-16 surrogate, and 0xff */
    expect_escape("a\x80z", "\"a\xef\xbf\xbdz\"");
    expect_escape("\xc3", "\"\xef\xbf\xbd\"");
    expect_escape("\xc0\xaf", "\"\xef\xbf\xbd\xef\xbf\xbd\"");
    expect_escape("\xed\xa0\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    expect_escape("\xff", "\"\xef\xbf\xbd\"");
}

Test(json, truncation_keeps_a_terminated_buffer)
{
    char buf[6];
    size_t n = wr_json_escape(buf, sizeof buf, "abcdefgh");
    cr_expect_eq(n, 10);
    cr_expect_eq(strlen(buf), 5);
}

Test(json, literal_is_the_escape_in_a_fitting_buffer)
{
    const char *in = "a \"long\" name\n\xff with a tail that needs more than 32 bytes";
    char want[256];
    wr_json_escape(want, sizeof want, in);
    char *lit = wr_json_literal(in);
    cr_assert_not_null(lit);
    cr_expect_str_eq(lit, want);
    free(lit);
    lit = wr_json_literal(NULL);
    cr_expect_str_eq(lit, "\"\"");
    free(lit);
}
