/*
 * The process registry, process side: each profiled process publishes
 * <dir>/<pid>.json (who it is, its state, the results of the last control
 * request and the files its last stop wrote) so that the omniprof command
 * finds processes by stage.  Written by the control thread only, under a
 * temporary name and renamed, so a reader never sees half an entry.
 *
 * The directory is per user: $XDG_RUNTIME_DIR/omniprof, else
 * /tmp/omniprof-<uid>, or runtime_dir.  It must be a real directory (not a
 * symlink), owned by us, with no access for others; anything else is
 * refused with one message and control by stage is off.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control.h"
#include "writer.h"

int ctl_registry_dir(const struct ctl_config *c, char *out, size_t cap, struct ctl_error *err)
{
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    int n;
    if (c->runtime_dir[0])
        n = snprintf(out, cap, "%s", c->runtime_dir);
    else if (xdg && xdg[0] == '/')
        n = snprintf(out, cap, "%s/omniprof", xdg);
    else
        n = snprintf(out, cap, "/tmp/omniprof-%u", (unsigned)getuid());
    if (n < 0 || (size_t)n >= cap) {
        snprintf(err->msg, sizeof err->msg, "registry directory name too long");
        return -ENAMETOOLONG;
    }
    if (mkdir(out, 0700) < 0 && errno != EEXIST) {
        snprintf(err->msg, sizeof err->msg, "cannot create %.300s: %s", out, strerror(errno));
        return -errno;
    }
    struct stat st;
    if (lstat(out, &st) < 0) {
        snprintf(err->msg, sizeof err->msg, "cannot stat %.300s: %s", out, strerror(errno));
        return -errno;
    }
    const char *why = S_ISLNK(st.st_mode)       ? "is a symbolic link"
                      : !S_ISDIR(st.st_mode)    ? "is not a directory"
                      : st.st_uid != getuid()   ? "belongs to another user"
                      : (st.st_mode & 077) != 0 ? "is open to other users (want mode 0700)"
                                                : NULL;
    if (why) {
        snprintf(err->msg, sizeof err->msg, "%.300s %s; set runtime_dir to a private directory",
                 out, why);
        return -EPERM;
    }
    return 0;
}

unsigned long long ctl_process_start_time(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* field 22 (starttime); the command in field 2 may hold spaces: skip
     * past its closing parenthesis */
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ')
        return 0;
    /* field 3 (state): a zombie has exited; only its parent (often an init
     * that never reaps, in a container) has not collected it yet */
    if (p[2] == 'Z' || p[2] == 'X' || p[2] == 'x')
        return 0;
    unsigned long long start = 0;
    int field = 2;
    for (; *p && field < 22; p++)
        if (*p == ' ')
            field++;
    sscanf(p, "%llu", &start);
    return start;
}

bool ctl_maps_line(char *line, struct ctl_mapping *m)
{
    int path_at = -1;
    char perms[8];
    unsigned long offset;
    line[strcspn(line, "\n")] = '\0';
    if (sscanf(line, "%lx-%lx %7s %lx %x:%x %llu %n", &m->start, &m->end, perms, &offset, &m->major,
               &m->minor, &m->ino, &path_at) < 7)
        return false;
    m->path = path_at > 0 && line[path_at] ? line + path_at : NULL;
    return true;
}

/* The mapping that holds this code (libomniprof.so, or the program a unit
 * test links it into), read once: the process's identity for the command. */
static struct {
    bool done;
    char path[PATH_MAX];
    char dev[24];
    unsigned long long ino;
} self;

static void find_self(void)
{
    self.done = true;
    FILE *f = fopen("/proc/self/maps", "re");
    if (!f)
        return;
    unsigned long here = (unsigned long)(uintptr_t)&find_self;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        struct ctl_mapping m;
        if (ctl_maps_line(line, &m) && m.start <= here && here < m.end && m.path && m.ino) {
            snprintf(self.path, sizeof self.path, "%s", m.path);
            snprintf(self.dev, sizeof self.dev, "%02x:%02x", m.major, m.minor);
            self.ino = m.ino;
            break;
        }
    }
    free(line);
    fclose(f);
}

static void put_string(FILE *f, const char *key, const char *value)
{
    char *lit = wr_json_literal(value);
    if (!lit)
        return;
    fprintf(f, ",\n  \"%s\": %s", key, lit);
    free(lit);
}

/* A path's exact bytes as hex: JSON strings carry UTF-8 only (the escaper
 * makes other bytes U+FFFD), and a path may hold any byte but NUL. */
static void put_hex(FILE *f, const char *bytes)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)bytes; *p; p++)
        fprintf(f, "%02x", *p);
    fputc('"', f);
}

int ctl_registry_publish(const char *dir, const struct ctl_entry *e)
{
    char path[PATH_MAX + 32], tmp[PATH_MAX + 48];
    snprintf(path, sizeof path, "%s/%d.json", dir, e->pid);
    snprintf(tmp, sizeof tmp, "%s/.%d.json.tmp", dir, e->pid);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        unlink(tmp);
        return -ENOMEM;
    }
    fprintf(f, "{\n  \"pid\": %d,\n  \"start_time\": %llu,\n  \"stage\": %ld,\n  \"rank\": %d",
            e->pid, e->start_time, e->stage, e->rank);
    fprintf(f, ",\n  \"world_size\": %d,\n  \"local_rank\": %d", e->world_size, e->local_rank);
    fprintf(f, ",\n  \"stage_pending\": %s", e->stage_pending ? "true" : "false");
    put_string(f, "host", e->host);
    put_string(f, "job", e->job);
    put_string(f, "worker", e->worker);
    put_string(f, "cmdline", e->cmdline);
    put_string(f, "state", e->state);
    put_string(f, "dir", e->dir);
    fprintf(f, ",\n  \"dir_hex\": ");
    put_hex(f, e->dir);
    put_string(f, "config", e->config);
    fprintf(f, ",\n  \"toggle_signal\": %d,\n  \"stop_signal\": %d,\n  \"step_signal\": %d",
            e->toggle_signal, e->stop_signal, e->step_signal);
    fprintf(f, ",\n  \"requests\": %lu", e->requests);
    put_string(f, "last_result", e->last_result);
    if (!self.done)
        find_self();
    put_string(f, "library", self.path);
    put_string(f, "library_dev", self.dev);
    fprintf(f, ",\n  \"library_ino\": %llu", self.ino);
    fprintf(f, ",\n  \"last_files\": [");
    for (int i = 0; i < e->n_files; i++) {
        char *lit = wr_json_literal(e->last_files[i]);
        if (lit) {
            fprintf(f, "%s%s", i ? ", " : "", lit);
            free(lit);
        }
    }
    fprintf(f, "],\n  \"last_files_hex\": [");
    for (int i = 0; i < e->n_files; i++) {
        fputs(i ? ", " : "", f);
        put_hex(f, e->last_files[i]);
    }
    fprintf(f, "]\n}\n");
    int rc = ferror(f) ? -EIO : 0;
    if (fclose(f) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc)
        unlink(tmp);
    return rc;
}

void ctl_registry_remove(const char *dir, int pid)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/%d.json", dir, pid);
    unlink(path);
}
