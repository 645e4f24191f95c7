/* summary --by python (summary_python.c): which text is a Python frame and
 * where its file ends, which files are the library's, and the rows calls
 * go to by their "Call stack". */
#include <criterion/criterion.h>
#include <string.h>

#include "cli.h"
#include "trace_reader.h"

Test(summary_python, frames_and_where_their_file_ends)
{
    static const struct {
        const char *text;
        const char *file; /* NULL: not a Python frame */
    } cases[] = {
        {"/srv/app/model.py(42): Model.forward", "/srv/app/model.py"},
        {"<frozen importlib._bootstrap>(241): _call_with_frames_removed",
         "<frozen importlib._bootstrap>"},
        {"/a (copy)/b(1).py(7): f", "/a (copy)/b(1).py"},
        {"x.py(-1): <module>", "x.py"},
        {"<string>(1): <module>", "<string>"},
        {"cuLaunchKernel (libcuda.so.1+0x1f0)", NULL},
        {"libpython3.11.so.1.0+0x2d3c1", NULL},
        {"operator()(int) (libx.so+0x10)", NULL},
        {"x.py(): f", NULL},
        {"(12): f", NULL},
        {"x.py(12): ", NULL},
        {"x.py(-): f", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = 0;
        bool is = cli_py_frame(cases[i].text, &len);
        cr_expect_eq(is, cases[i].file != NULL, "%s", cases[i].text);
        if (is && cases[i].file)
            cr_expect_eq(len, strlen(cases[i].file), "%s", cases[i].text);
    }
}

Test(summary_python, library_files)
{
    static const char *const library[] = {
        "<frozen runpy>",
        "/usr/lib/python3.11/threading.py",
        "/usr/lib/python3/dist-packages/numpy/core/x.py",
        "/root/.pyenv/versions/3.8.18/lib/python3.8/asyncio/events.py",
        "/opt/venv/lib64/python3.12/site-packages/torch/nn/modules/module.py",
        "/home/u/.local/lib/python3.10/site-packages/vllm/worker.py",
        "/srv/env/site-packages/pkg/m.py",
        "lib/python3.13/json/decoder.py",
    };
    static const char *const program[] = {
        "/srv/app/model.py",
        "/home/u/mylib/python3tools/x.py",
        "/srv/glib/python3.11/x.py", /* "glib", not "lib" */
        "/srv/my-site-packages-notes/x.py",
        "<string>",
        "<stdin>",
        "/usr/lib/pythonista/x.py",
    };
    for (size_t i = 0; i < sizeof library / sizeof library[0]; i++)
        cr_expect(cli_py_library_file(library[i], strlen(library[i])), "%s", library[i]);
    for (size_t i = 0; i < sizeof program / sizeof program[0]; i++)
        cr_expect(!cli_py_library_file(program[i], strlen(program[i])), "%s", program[i]);
}

static struct tr_value stack_of(const char *json)
{
    return (struct tr_value){.type = TR_ARRAY, .s = json, .len = strlen(json)};
}

Test(summary_python, rows_by_site_by_stack_and_by_prefix)
{
    struct tr_reader *r = tr_reader_new(NULL);
    cr_assert(r);
    const char *through_lib =
        "[\"cuLaunchKernel (libcuda.so.1+0x10)\", \"/v/lib/python3.11/site-packages/ops.py(5): "
        "launch\", \"/app/m.py(9): Model.step\", \"/app/m.py(30): main\", \"main (python3+0x1)\"]";
    const char *direct = "[\"/app/m.py(12): Model.other\", \"/app/m.py(30): main\"]";
    const char *native = "[\"cuLaunchKernel (libcuda.so.1+0x10)\", \"main (a.out+0x5)\"]";
    const char *lib_only = "[\"/usr/lib/python3.11/threading.py(975): Thread.run\"]";

    struct cli_py_sites *p = cli_py_sites_new(r, CLI_PY_SITE, NULL);
    struct tr_value v = stack_of(through_lib);
    cr_expect_str_eq(cli_py_site(p, &v), "/app/m.py(9): Model.step");
    v = stack_of(direct);
    cr_expect_str_eq(cli_py_site(p, &v), "/app/m.py(12): Model.other");
    v = stack_of(native);
    cr_expect_str_eq(cli_py_site(p, &v), "(no Python frame)");
    v = stack_of(lib_only);
    cr_expect_str_eq(cli_py_site(p, &v), "(library frames only)");
    cr_expect_str_eq(cli_py_site(p, NULL), "(no call stack recorded)");
    /* the same text twice: the same interned row */
    v = stack_of(through_lib);
    const char *a = cli_py_site(p, &v);
    cr_expect_eq(cli_py_site(p, &v), a);
    cli_py_sites_free(p);

    p = cli_py_sites_new(r, CLI_PY_SITE, "/v/lib/");
    v = stack_of(through_lib);
    cr_expect_str_eq(cli_py_site(p, &v), "/v/lib/python3.11/site-packages/ops.py(5): launch");
    v = stack_of(direct);
    cr_expect_str_eq(cli_py_site(p, &v), "(no frame under --frames-from)");
    cli_py_sites_free(p);

    p = cli_py_sites_new(r, CLI_PY_STACK, NULL);
    v = stack_of(through_lib);
    cr_expect_str_eq(cli_py_site(p, &v), "#1 /v/lib/python3.11/site-packages/ops.py(5): launch <- "
                                         "/app/m.py(9): Model.step <- /app/m.py(30): main");
    v = stack_of(direct);
    cr_expect_str_eq(cli_py_site(p, &v), "#2 /app/m.py(12): Model.other <- /app/m.py(30): main");
    /* other native frames, the same Python frames: the same row */
    const char *same = "[\"cuLaunchKernelEx (libcuda.so.1+0x20)\", \"/app/m.py(12): "
                       "Model.other\", \"/app/m.py(30): main\"]";
    v = stack_of(same);
    cr_expect_str_eq(cli_py_site(p, &v), "#2 /app/m.py(12): Model.other <- /app/m.py(30): main");
    cli_py_sites_free(p);
    tr_reader_free(r);
}

Test(summary_python, a_long_path_gives_way_from_its_start)
{
    struct tr_reader *r = tr_reader_new(NULL);
    struct cli_py_sites *p = cli_py_sites_new(r, CLI_PY_SITE, NULL);
    char json[512], dirs[300] = "";
    for (int i = 0; i < 20; i++)
        strcat(dirs, "/directory");
    snprintf(json, sizeof json, "[\"%s/app/model.py(1234): Model.forward\"]", dirs);
    struct tr_value v = stack_of(json);
    const char *row = cli_py_site(p, &v);
    cr_expect(strlen(row) <= 100, "%s", row);
    cr_expect(strncmp(row, ".../", 4) == 0, "%s", row);
    const char *tail = "/directory/app/model.py(1234): Model.forward";
    cr_expect_str_eq(row + strlen(row) - strlen(tail), tail);
    cli_py_sites_free(p);
    tr_reader_free(r);
}
