/*
 * A C program that embeds Python the late way: it opens libpython with
 * dlopen(RTLD_GLOBAL) after it started (so omniprof's constructor found no
 * Python), starts profiling through omniprof's API when it is there, and
 * runs a script.  test_python.py checks that the launches the script makes
 * carry its Python frames.
 *
 *   py_embed LIBPYTHON SCRIPT [ARGS...]   (PYTHONHOME names its prefix)
 */
#include <dlfcn.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: py_embed LIBPYTHON SCRIPT [ARGS...]\n");
        return 2;
    }
    void *py = dlopen(argv[1], RTLD_NOW | RTLD_GLOBAL);
    if (!py) {
        fprintf(stderr, "py_embed: %s\n", dlerror());
        return 1;
    }
    void (*initialize)(void) = (void (*)(void))dlsym(py, "Py_Initialize");
    int (*run)(const char *) = (int (*)(const char *))dlsym(py, "PyRun_SimpleString");
    int (*finalize)(void) = (int (*)(void))dlsym(py, "Py_FinalizeEx");
    void (*start)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "omniprof_start");
    if (!initialize || !run || !finalize)
        return 1;
    initialize();
    if (start)
        start();
    /* sys.argv = [SCRIPT, ARGS...] (no quotes in them); the script runs as __main__ */
    char code[8192];
    size_t len = (size_t)snprintf(code, sizeof code, "import runpy, sys\nsys.argv = [");
    for (int i = 2; i < argc && len < sizeof code; i++)
        len += (size_t)snprintf(code + len, sizeof code - len, "'%s', ", argv[i]);
    if (len < sizeof code)
        snprintf(code + len, sizeof code - len,
                 "]\nrunpy.run_path(sys.argv[0], run_name='__main__')\n");
    int rc = run(code);
    return finalize() < 0 || rc != 0 ? 1 : 0;
}
