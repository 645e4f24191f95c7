/*
 * The command's side of the report page: trace files into the report's
 * model (writer.h), for `omniprof report` and `omniprof stop --report`.
 */
#ifndef OMNIPROF_CLI_REPORT_READ_H
#define OMNIPROF_CLI_REPORT_READ_H

#include "diff.h"
#include "progress.h"
#include "trace_reader.h"
#include "writer.h"

/* Reads the trace at path into a new run of rep.  link: the trace as the
 * page links to it; set: "before", "after" or NULL; diff (or NULL): given
 * every event and field in the same pass (diff_event, diff_field; the
 * caller begins and ends the file); progress (or NULL).  0, or the
 * reader's error (tr_error(r) says it). */
int cli_report_read(struct wr_report *rep, struct tr_reader *r, const char *path, const char *link,
                    const char *set, struct diff *diff, struct cli_progress *progress);

/* `omniprof report`'s work on a list of files, shared with stop --report:
 * the page for files[0..n) (none from sets) at out; 0 or exit code. */
int cli_report_files(const char *const *files, size_t n, const char *out);

#endif
