/*
 * One stopped session → its files: <dir>/<worker>.<unix_ns>.pt.trace.json[.gz]
 * (the name torch's tensorboard_trace_handler uses) and, when asked,
 * <dir>/profiler_out_<worker>.txt.  Each is complete or absent.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static int write_atomically(const struct coll_session *s, const struct wr_options *o,
                            const char *path, bool is_trace)
{
    char tmp[PATH_MAX];
    int rc = wr_temp_path(tmp, sizeof tmp, path);
    if (rc < 0)
        return rc;
    rc = is_trace ? wr_trace(s, o, tmp, path) : wr_table(s, o, tmp);
    return wr_commit(tmp, path, rc);
}

int wr_write_session(const struct coll_session *s, const struct wr_options *o, struct wr_result *r)
{
    r->trace_path[0] = r->table_path[0] = '\0';
    int rc = wr_make_dir(o->dir);
    if (rc < 0) {
        coll_log(COLL_LOG_ERROR, "writer", "cannot create directory %s: %s; the session is lost",
                 o->dir, strerror(-rc));
        return rc;
    }
    char trace[PATH_MAX], table[PATH_MAX];
    int n = snprintf(trace, sizeof trace, "%s/%s.%llu.pt.trace.json%s", o->dir, o->worker,
                     (unsigned long long)coll_now_ns(), o->gzip ? ".gz" : "");
    int m = snprintf(table, sizeof table, "%s/profiler_out_%s.txt", o->dir, o->worker);
    if (n < 0 || (size_t)n >= sizeof trace || m < 0 || (size_t)m >= sizeof table) {
        coll_log(COLL_LOG_ERROR, "writer", "output path in %s is too long", o->dir);
        return -ENAMETOOLONG;
    }
    rc = write_atomically(s, o, trace, true);
    if (rc < 0) {
        coll_log(COLL_LOG_ERROR, "writer", "cannot write %s: %s", trace, strerror(-rc));
        return rc;
    }
    memcpy(r->trace_path, trace, sizeof trace);
    if (o->table) {
        rc = write_atomically(s, o, table, false);
        if (rc < 0) {
            coll_log(COLL_LOG_ERROR, "writer", "cannot write %s: %s", table, strerror(-rc));
            return rc;
        }
        memcpy(r->table_path, table, sizeof table);
    }
    return 0;
}
