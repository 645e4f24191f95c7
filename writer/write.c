/*
 * One stopped session → its files: <dir>/<worker>.<unix_ns>.pt.trace.json[.gz]
 * (the name torch's tensorboard_trace_handler uses) and, when asked,
 * <dir>/profiler_out_<worker>.txt and <dir>/report_<worker>.html (the
 * report page, report_session.c).  Each is complete or absent, and all are
 * made in the directory wr_open_dir reached (file.c), by descriptor.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static int write_atomically(const struct coll_session *s, const struct wr_options *o, int dir_fd,
                            const char *name, const char *path, bool is_trace)
{
    char tmp[NAME_MAX + 1];
    int fd = wr_create_temp(dir_fd, name, tmp, sizeof tmp);
    if (fd < 0)
        return fd;
    int rc = is_trace ? wr_trace(s, o, fd, path) : wr_table(s, o, fd);
    return wr_commit(dir_fd, tmp, name, rc);
}

/* name (n bytes, as snprintf gave) as one file name in the directory (no
 * '/': file_prefix could hold one), and path: <dir>/<name>. */
static int check_name(const char *name, int n, const char *dir, char *path)
{
    if (n < 0 || n > NAME_MAX - WR_TEMP_EXTRA) /* room for the temporary name's additions */
        return -ENAMETOOLONG;
    if (strchr(name, '/'))
        return -EINVAL;
    n = snprintf(path, PATH_MAX, "%s/%s", dir, name);
    return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

/* The report page beside the trace; a failure loses only the page. */
static void write_report(const struct coll_session *s, const struct wr_options *o, int dir_fd,
                         struct wr_result *r)
{
    char name[NAME_MAX + 1], path[PATH_MAX];
    int n = snprintf(name, sizeof name, "report_%s.html", o->worker);
    int rc = check_name(name, n, o->dir, path);
    if (rc == 0)
        rc = wr_report_session(s, o, dir_fd, name, r->trace_path);
    if (rc < 0) {
        coll_log(COLL_LOG_ERROR, "writer", "cannot write the report of %s: %s", o->worker,
                 strerror(-rc));
        return;
    }
    memcpy(r->report_path, path, sizeof path);
}

int wr_write_session(const struct coll_session *s, const struct wr_options *o, struct wr_result *r)
{
    r->trace_path[0] = r->table_path[0] = r->report_path[0] = '\0';
    char trace_name[NAME_MAX + 1], table_name[NAME_MAX + 1], trace[PATH_MAX], table[PATH_MAX];
    int n = snprintf(trace_name, sizeof trace_name, "%s.%llu.pt.trace.json%s", o->worker,
                     (unsigned long long)coll_now_ns(), o->gzip ? ".gz" : "");
    int rc = check_name(trace_name, n, o->dir, trace);
    if (rc == 0) {
        n = snprintf(table_name, sizeof table_name, "profiler_out_%s.txt", o->worker);
        rc = check_name(table_name, n, o->dir, table);
    }
    if (rc < 0) {
        coll_log(COLL_LOG_ERROR, "writer",
                 "cannot name the files of %s in %s: %s; the session is lost", o->worker, o->dir,
                 rc == -EINVAL ? "a name may not hold '/' (see file_prefix)" : strerror(-rc));
        return rc;
    }
    char why[PATH_MAX + 128];
    int dir_fd = wr_open_dir(o->dir, why, sizeof why);
    if (dir_fd < 0) {
        coll_log(COLL_LOG_ERROR, "writer", "cannot use directory %s: %s; the session is lost",
                 o->dir, why);
        return dir_fd;
    }
    /* before writing: what they hold may be what a full disk needs */
    int stale = wr_remove_stale_temps(dir_fd);
    if (stale > 0)
        coll_log(COLL_LOG_DEBUG, "writer",
                 "removed %d temporary files left in %s by processes that ended during a write",
                 stale, o->dir);
    rc = write_atomically(s, o, dir_fd, trace_name, trace, true);
    if (rc < 0) {
        coll_log(COLL_LOG_ERROR, "writer", "cannot write %s: %s", trace, strerror(-rc));
        close(dir_fd);
        return rc;
    }
    memcpy(r->trace_path, trace, sizeof trace);
    if (o->table) {
        rc = write_atomically(s, o, dir_fd, table_name, table, false);
        if (rc < 0) {
            coll_log(COLL_LOG_ERROR, "writer", "cannot write %s: %s", table, strerror(-rc));
            close(dir_fd);
            return rc;
        }
        memcpy(r->table_path, table, sizeof table);
    }
    if (o->report)
        write_report(s, o, dir_fd, r);
    close(dir_fd);
    return 0;
}
