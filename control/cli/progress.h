/*
 * Progress of a long command (report, summary, merge over large traces)
 * on stderr, shown only when stderr is a terminal: one line, redrawn at
 * most ten times a second, erased when done.  Bytes are those of the
 * input files as stored (the trace reader's tr_position).
 *
 *   struct cli_progress p;
 *   cli_progress_begin(&p, "report", total_bytes);
 *   ... for each file: cli_progress_file(&p, path); from the reader's
 *       event callback: cli_progress_tick(&p, reader); after the file:
 *       cli_progress_done_file(&p, size) ...
 *   cli_progress_end(&p);
 */
#ifndef OMNIPROF_CLI_PROGRESS_H
#define OMNIPROF_CLI_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

#include "trace_reader.h"

struct cli_progress {
    bool on;          /* stderr is a terminal (or forced, for tests) */
    const char *what; /* the command's name */
    const char *file; /* the file being read */
    uint64_t total;   /* bytes of every input */
    uint64_t done;    /* bytes of the files finished */
    uint64_t ticks;   /* calls since the clock was last read */
    int64_t last_ms;  /* when the line was last drawn */
    bool drawn;
};

/* on: whether stderr is a terminal, unless OMNIPROF_PROGRESS=1 forces it. */
void cli_progress_begin(struct cli_progress *p, const char *what, uint64_t total);
void cli_progress_file(struct cli_progress *p, const char *path);
/* Cheap enough for every event: looks at the clock every 4096 calls. */
void cli_progress_tick(struct cli_progress *p, const struct tr_reader *r);
void cli_progress_done_file(struct cli_progress *p, uint64_t size);
void cli_progress_end(struct cli_progress *p);
/* The size of a file (0 when it cannot be read). */
uint64_t cli_file_size(const char *path);

#endif
