/* Python line tables decoded as CPython decodes them, for each format. */
#include <criterion/criterion.h>

#include "python.h"
#include "python_tables.h"

static void expect_lines(int kind, const unsigned char *table, size_t size, int first,
                         const int *lines, size_t n)
{
    cr_expect_eq(coll_py_line(kind, table, (int64_t)size, first, -2), first,
                 "before the first instruction: the first line");
    for (size_t i = 0; i < n; i++)
        cr_expect_eq(coll_py_line(kind, table, (int64_t)size, first, (int64_t)(2 * i)), lines[i],
                     "offset %zu: line %d expected", 2 * i, lines[i]);
}

Test(python, lnotab_of_3_8)
{
    expect_lines(COLL_PY_LNOTAB, py38_table, sizeof py38_table, py38_first, py38_lines,
                 sizeof py38_lines / sizeof py38_lines[0]);
}

Test(python, linetable_of_3_10)
{
    expect_lines(COLL_PY_LINETABLE, py310_table, sizeof py310_table, py310_first, py310_lines,
                 sizeof py310_lines / sizeof py310_lines[0]);
}

Test(python, location_table_of_3_11_on)
{
    expect_lines(COLL_PY_LOCATIONS, py312_table, sizeof py312_table, py312_first, py312_lines,
                 sizeof py312_lines / sizeof py312_lines[0]);
}

Test(python, frame_entries_are_not_addresses)
{
    cr_expect(coll_python_frame(COLL_PY_FRAME | (7ull << 32) | 42u));
    cr_expect(!coll_python_frame(0x00007fffdeadbeefull));
}
