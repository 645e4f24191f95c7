/*
 * CPython 3.8 to 3.13 on x86_64 and other LP64 targets: the byte offsets
 * omniprof reads frames, code objects and strings through.  Measured
 * against Debian's 3.11.2 and pyenv's 3.8.18, 3.9.18, 3.10.13, 3.11.7,
 * 3.12.1 and 3.13.0 (release builds; a debug or free-threaded build fails
 * the size checks in python.c and gets native stacks).
 *
 * A header included by python.c alone: the frame walker is compiled once
 * per layout, with these offsets as constants (a walk reads ten fields per
 * frame; loaded offsets cost it half again).
 */
#ifndef OMNIPROF_COLLECTOR_PYTHON_LAYOUTS_H
#define OMNIPROF_COLLECTOR_PYTHON_LAYOUTS_H

#include <string.h>

#include "python.h"

enum { PY38, PY39, PY310, PY311, PY312, PY313, PY_LAYOUTS };

/* one version's offsets in a few lines each */
/* clang-format off */
static const struct coll_py_layout layouts[PY_LAYOUTS] = {
    {.minor = 8, .ts_frame = 24, .cframe_frame = -1, .f_code = 32, .f_back = 24, .f_instr = 104,
     .instr_kind = COLL_PY_LASTI_BYTES, .f_owner = -1, .f_is_entry = -1,
     .co_firstlineno = 40, .co_filename = 104, .co_name = 112, .co_qualname = -1,
     .co_linetable = 120, .lines = COLL_PY_LNOTAB, .co_firsttraceable = -1,
     .co_code_adaptive = -1, .str_ascii_data = 48, .str_data = 72, .code_size = 176,
     .str_size = 80},
    {.minor = 9, .ts_frame = 24, .cframe_frame = -1, .f_code = 32, .f_back = 24, .f_instr = 104,
     .instr_kind = COLL_PY_LASTI_BYTES, .f_owner = -1, .f_is_entry = -1,
     .co_firstlineno = 40, .co_filename = 104, .co_name = 112, .co_qualname = -1,
     .co_linetable = 120, .lines = COLL_PY_LNOTAB, .co_firsttraceable = -1,
     .co_code_adaptive = -1, .str_ascii_data = 48, .str_data = 72, .code_size = 176,
     .str_size = 80},
    {.minor = 10, .ts_frame = 24, .cframe_frame = -1, .f_code = 32, .f_back = 24, .f_instr = 96,
     .instr_kind = COLL_PY_LASTI_UNITS, .f_owner = -1, .f_is_entry = -1,
     .co_firstlineno = 40, .co_filename = 104, .co_name = 112, .co_qualname = -1,
     .co_linetable = 120, .lines = COLL_PY_LINETABLE, .co_firsttraceable = -1,
     .co_code_adaptive = -1, .str_ascii_data = 48, .str_data = 72, .code_size = 176,
     .str_size = 80},
    {.minor = 11, .ts_frame = 56, .cframe_frame = 8, .f_code = 32, .f_back = 48, .f_instr = 56,
     .instr_kind = COLL_PY_INSTR_PTR, .f_owner = 69, .f_is_entry = 68,
     .co_firstlineno = 72, .co_filename = 112, .co_name = 120, .co_qualname = 128,
     .co_linetable = 136, .lines = COLL_PY_LOCATIONS, .co_firsttraceable = 168,
     .co_code_adaptive = 184, .str_ascii_data = 48, .str_data = 72, .code_size = 184,
     .str_size = 80},
    {.minor = 12, .ts_frame = 56, .cframe_frame = 0, .f_code = 0, .f_back = 8, .f_instr = 56,
     .instr_kind = COLL_PY_INSTR_PTR, .f_owner = 70, .f_is_entry = -1,
     .co_firstlineno = 68, .co_filename = 112, .co_name = 120, .co_qualname = 128,
     .co_linetable = 136, .lines = COLL_PY_LOCATIONS, .co_firsttraceable = 176,
     .co_code_adaptive = 192, .str_ascii_data = 40, .str_data = 56, .code_size = 192,
     .str_size = 64},
    {.minor = 13, .ts_frame = 72, .cframe_frame = -1, .f_code = 0, .f_back = 8, .f_instr = 56,
     .instr_kind = COLL_PY_INSTR_PTR, .f_owner = 70, .f_is_entry = -1,
     .co_firstlineno = 68, .co_filename = 112, .co_name = 120, .co_qualname = 128,
     .co_linetable = 136, .lines = COLL_PY_LOCATIONS, .co_firsttraceable = 184,
     .co_code_adaptive = 200, .str_ascii_data = 40, .str_data = 56, .code_size = 200,
     .str_size = 64, .debug_offsets = true},
};
/* clang-format on */

/* The layout of major.minor, or NULL. */
static const struct coll_py_layout *layout_of(int major, int minor)
{
    for (size_t i = 0; major == 3 && i < PY_LAYOUTS; i++)
        if (layouts[i].minor == minor)
            return &layouts[i];
    return NULL;
}

/* 3.13's _Py_DebugOffsets, as uint64_t words: the cookie, the version, the
 * free-threaded flag, then per structure its size and field offsets. */
enum {
    DO_FREE_THREADED = 2,
    DO_TS_CURRENT_FRAME = 23,
    DO_FRAME_PREVIOUS = 29,
    DO_FRAME_EXECUTABLE = 30,
    DO_FRAME_INSTR_PTR = 31,
    DO_FRAME_OWNER = 33,
    DO_CODE_FILENAME = 35,
    DO_CODE_NAME = 36,
    DO_CODE_QUALNAME = 37,
    DO_CODE_LINETABLE = 38,
    DO_CODE_FIRSTLINENO = 39,
    DO_CODE_ADAPTIVE = 43,
};

/* Whether 3.13's _Py_DebugOffsets (at the start of _PyRuntime) agree with l. */
static bool matches_debug_offsets(const struct coll_py_layout *l, const void *runtime)
{
    if (!l->debug_offsets)
        return true;
    if (!runtime || memcmp(runtime, "xdebugpy", 8) != 0)
        return false;
    const uint64_t *w = runtime;
    return w[DO_FREE_THREADED] == 0 && w[DO_TS_CURRENT_FRAME] == (uint64_t)l->ts_frame &&
           w[DO_FRAME_PREVIOUS] == (uint64_t)l->f_back &&
           w[DO_FRAME_EXECUTABLE] == (uint64_t)l->f_code &&
           w[DO_FRAME_INSTR_PTR] == (uint64_t)l->f_instr &&
           w[DO_FRAME_OWNER] == (uint64_t)l->f_owner &&
           w[DO_CODE_FILENAME] == (uint64_t)l->co_filename &&
           w[DO_CODE_NAME] == (uint64_t)l->co_name &&
           w[DO_CODE_QUALNAME] == (uint64_t)l->co_qualname &&
           w[DO_CODE_LINETABLE] == (uint64_t)l->co_linetable &&
           w[DO_CODE_FIRSTLINENO] == (uint64_t)l->co_firstlineno &&
           w[DO_CODE_ADAPTIVE] == (uint64_t)l->co_code_adaptive;
}

#endif
