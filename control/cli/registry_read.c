/*
 * The process registry, command side: reading <dir>/<pid>.json entries
 * (yajl), telling live processes from dead ones (a pid that is gone, or
 * reused by another process: its start time differs) and cleaning the
 * entries of the dead.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yajl/yajl_tree.h>

#include "cli.h"

static void copy_string(yajl_val root, const char *key, char *out, size_t cap)
{
    const char *path[] = {key, NULL};
    yajl_val v = yajl_tree_get(root, path, yajl_t_string);
    snprintf(out, cap, "%s", v ? YAJL_GET_STRING(v) : "");
}

static long long get_int(yajl_val root, const char *key, long long fallback)
{
    const char *path[] = {key, NULL};
    yajl_val v = yajl_tree_get(root, path, yajl_t_number);
    return v && YAJL_IS_INTEGER(v) ? YAJL_GET_INTEGER(v) : fallback;
}

int cli_registry_read(const char *dir, int pid, struct ctl_entry *e)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/%d.json", dir, pid);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    char *text = malloc(1 << 16);
    ssize_t n = text ? read(fd, text, (1 << 16) - 1) : -1;
    close(fd);
    if (n <= 0) {
        free(text);
        return -EIO;
    }
    text[n] = '\0';
    char err[128];
    yajl_val root = yajl_tree_parse(text, err, sizeof err);
    free(text);
    if (!root)
        return -EINVAL;
    memset(e, 0, sizeof *e);
    e->pid = (int)get_int(root, "pid", 0);
    e->start_time = (unsigned long long)get_int(root, "start_time", 0);
    e->stage = (long)get_int(root, "stage", -1);
    e->rank = (int)get_int(root, "rank", -1);
    copy_string(root, "host", e->host, sizeof e->host);
    copy_string(root, "worker", e->worker, sizeof e->worker);
    copy_string(root, "cmdline", e->cmdline, sizeof e->cmdline);
    copy_string(root, "state", e->state, sizeof e->state);
    copy_string(root, "dir", e->dir, sizeof e->dir);
    copy_string(root, "config", e->config, sizeof e->config);
    copy_string(root, "last_result", e->last_result, sizeof e->last_result);
    e->toggle_signal = (int)get_int(root, "toggle_signal", 0);
    e->stop_signal = (int)get_int(root, "stop_signal", 0);
    e->step_signal = (int)get_int(root, "step_signal", 0);
    e->requests = (unsigned long)get_int(root, "requests", 0);
    const char *files_path[] = {"last_files", NULL};
    yajl_val files = yajl_tree_get(root, files_path, yajl_t_array);
    for (size_t i = 0; files && i < YAJL_GET_ARRAY(files)->len && e->n_files < CTL_MAX_FILES; i++) {
        yajl_val f = YAJL_GET_ARRAY(files)->values[i];
        if (YAJL_IS_STRING(f))
            snprintf(e->last_files[e->n_files++], PATH_MAX, "%s", YAJL_GET_STRING(f));
    }
    yajl_tree_free(root);
    return e->pid == pid ? 0 : -EINVAL;
}

bool cli_entry_alive(const struct ctl_entry *e)
{
    return e->pid > 0 && ctl_process_start_time(e->pid) == e->start_time && e->start_time != 0;
}

static int by_stage_then_pid(const void *a, const void *b)
{
    const struct ctl_entry *x = a, *y = b;
    if (x->stage != y->stage)
        return x->stage < y->stage ? -1 : 1;
    return (x->pid > y->pid) - (x->pid < y->pid);
}

int cli_registry_scan(const char *dir, struct ctl_entry **out, size_t *count, int *cleaned)
{
    *out = NULL;
    *count = 0;
    if (cleaned)
        *cleaned = 0;
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    size_t cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (end == de->d_name || strcmp(end, ".json") != 0 || pid <= 0)
            continue;
        if (*count == cap) {
            cap = cap ? cap * 2 : 16;
            struct ctl_entry *grown = realloc(*out, cap * sizeof **out);
            if (!grown) {
                closedir(d);
                return -ENOMEM;
            }
            *out = grown;
        }
        struct ctl_entry *e = &(*out)[*count];
        if (cli_registry_read(dir, (int)pid, e) < 0 || !cli_entry_alive(e)) {
            /* a dead process (or a broken entry): clean it */
            char path[PATH_MAX + 300];
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            if (unlink(path) == 0 && cleaned)
                (*cleaned)++;
            continue;
        }
        (*count)++;
    }
    closedir(d);
    qsort(*out, *count, sizeof **out, by_stage_then_pid);
    return 0;
}
