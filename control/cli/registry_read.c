/*
 * The process registry, command side: reading <dir>/<pid>.json entries
 * (yajl), deciding which to trust, and cleaning the entries of processes
 * that are gone.
 *
 * An entry is only a claim: the command acts on it (signals the process)
 * only when the process it names is that same process (its start time), runs
 * as the caller's user, and maps the omniprof library the entry names.
 * Entries of processes that are gone (or whose pid now belongs to another
 * process) are removed; entries of live processes that fail a check are
 * skipped and left alone, whoever wrote them.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yajl/yajl_tree.h>

#include "cli.h"

/* Entries hold a config of up to CTL_CONFIG_TEXT_MAX bytes, each byte of
 * which JSON may write as 6 ("\u0001"), plus paths: well under this. */
#define ENTRY_MAX (16u << 20)
/* omniprof writes entries two levels deep; deeper text is not an entry (and
 * yajl frees its trees recursively). */
#define ENTRY_MAX_DEPTH 16

/* s into out, cut (when it does not fit) before a UTF-8 sequence, not in one */
static void copy_text(char *out, size_t cap, const char *s)
{
    size_t n = strlen(s);
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(out, s, n);
    out[n] = '\0';
}

static void copy_string(yajl_val root, const char *key, char *out, size_t cap)
{
    const char *path[] = {key, NULL};
    yajl_val v = yajl_tree_get(root, path, yajl_t_string);
    copy_text(out, cap, v ? YAJL_GET_STRING(v) : "");
}

/* An integer member within [min, max], else fallback. */
static long long get_int(yajl_val root, const char *key, long long min, long long max,
                         long long fallback)
{
    const char *path[] = {key, NULL};
    yajl_val v = yajl_tree_get(root, path, yajl_t_number);
    if (!v || !YAJL_IS_INTEGER(v))
        return fallback;
    long long x = YAJL_GET_INTEGER(v);
    return x < min || x > max ? fallback : x;
}

/* Whether brackets nest deeper than ENTRY_MAX_DEPTH outside strings. */
static bool too_deep(const char *text, size_t len)
{
    int depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > ENTRY_MAX_DEPTH)
                return true;
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return false;
}

/* A path written as hex (registry.c put_hex) back into its bytes; false,
 * leaving out untouched, when v is not such a string or does not fit. */
static bool from_hex(yajl_val v, char *out, size_t cap)
{
    const char *h = v && YAJL_IS_STRING(v) ? YAJL_GET_STRING(v) : NULL;
    size_t n = h ? strlen(h) : 0;
    if (!h || n % 2 || n / 2 >= cap)
        return false;
    char tmp[PATH_MAX];
    for (size_t i = 0; i < n / 2; i++) {
        unsigned x;
        if (!isxdigit((unsigned char)h[2 * i]) || !isxdigit((unsigned char)h[2 * i + 1]) ||
            sscanf(h + 2 * i, "%2x", &x) != 1 || x == 0 || i >= sizeof tmp - 1)
            return false;
        tmp[i] = (char)x;
    }
    memcpy(out, tmp, n / 2);
    out[n / 2] = '\0';
    return true;
}

static yajl_val array_item(yajl_val root, const char *key, size_t i)
{
    const char *path[] = {key, NULL};
    yajl_val a = yajl_tree_get(root, path, yajl_t_array);
    return a && i < YAJL_GET_ARRAY(a)->len ? YAJL_GET_ARRAY(a)->values[i] : NULL;
}

int cli_registry_parse(const char *text, size_t len, int pid, struct ctl_entry *e)
{
    memset(e, 0, sizeof *e);
    if (len == 0 || text[len] != '\0' || memchr(text, '\0', len) || too_deep(text, len))
        return -EINVAL;
    char err[128];
    yajl_val root = yajl_tree_parse(text, err, sizeof err);
    if (!root)
        return -EINVAL;
    if (!YAJL_IS_OBJECT(root)) {
        yajl_tree_free(root);
        return -EINVAL;
    }
    e->pid = (int)get_int(root, "pid", 1, INT_MAX, 0);
    e->start_time = (unsigned long long)get_int(root, "start_time", 1, LLONG_MAX, 0);
    e->stage = (long)get_int(root, "stage", -1, CTL_MAX_STAGE, -1);
    const char *pending[] = {"stage_pending", NULL};
    e->stage_pending = yajl_tree_get(root, pending, yajl_t_true) != NULL;
    e->rank = (int)get_int(root, "rank", -1, INT_MAX, -1);
    e->world_size = (int)get_int(root, "world_size", -1, INT_MAX, -1);
    e->local_rank = (int)get_int(root, "local_rank", -1, INT_MAX, -1);
    copy_string(root, "host", e->host, sizeof e->host);
    copy_string(root, "job", e->job, sizeof e->job);
    copy_string(root, "worker", e->worker, sizeof e->worker);
    copy_string(root, "cmdline", e->cmdline, sizeof e->cmdline);
    copy_string(root, "state", e->state, sizeof e->state);
    const char *dir_hex[] = {"dir_hex", NULL};
    if (!from_hex(yajl_tree_get(root, dir_hex, yajl_t_string), e->dir, sizeof e->dir))
        copy_string(root, "dir", e->dir, sizeof e->dir);
    copy_string(root, "config", e->config, sizeof e->config);
    copy_string(root, "last_result", e->last_result, sizeof e->last_result);
    copy_string(root, "library", e->library, sizeof e->library);
    copy_string(root, "library_dev", e->library_dev, sizeof e->library_dev);
    e->library_ino = (unsigned long long)get_int(root, "library_ino", 0, LLONG_MAX, 0);
    /* a signal number no signal has: refused when a request would send it */
    e->toggle_signal = (int)get_int(root, "toggle_signal", INT_MIN, INT_MAX, -1);
    e->stop_signal = (int)get_int(root, "stop_signal", INT_MIN, INT_MAX, -1);
    e->step_signal = (int)get_int(root, "step_signal", INT_MIN, INT_MAX, -1);
    e->requests = (unsigned long)get_int(root, "requests", 0, LLONG_MAX, 0);
    const char *files_path[] = {"last_files", NULL};
    yajl_val files = yajl_tree_get(root, files_path, yajl_t_array);
    for (size_t i = 0; files && i < YAJL_GET_ARRAY(files)->len && e->n_files < CTL_MAX_FILES; i++) {
        yajl_val f = YAJL_GET_ARRAY(files)->values[i];
        if (!YAJL_IS_STRING(f))
            continue;
        /* the exact bytes when the entry carries them */
        if (!from_hex(array_item(root, "last_files_hex", i), e->last_files[e->n_files], PATH_MAX))
            copy_text(e->last_files[e->n_files], PATH_MAX, YAJL_GET_STRING(f));
        e->n_files++;
    }
    yajl_tree_free(root);
    return e->pid == pid ? 0 : -EINVAL;
}

/* The whole of a regular file of ours, NUL-terminated; *text is malloc'ed. */
static int read_entry_file(int dir_fd, const char *name, char **text, size_t *len)
{
    /* O_NONBLOCK: a FIFO planted under the name does not hang the command */
    int fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
        st.st_size > (off_t)ENTRY_MAX) {
        close(fd);
        return -EINVAL;
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 == cap) { /* it grew since fstat (never: entries are renamed in) */
            char *grown = cap <= ENTRY_MAX ? realloc(buf, cap * 2) : NULL;
            if (!grown) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            free(buf);
            buf = NULL;
        } else if (r == 0) {
            break;
        } else {
            n += (size_t)r;
        }
    }
    close(fd);
    if (!buf)
        return -EIO;
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return 0;
}

static int read_entry_at(int dir_fd, int pid, struct ctl_entry *e)
{
    char name[32], *text = NULL;
    size_t len = 0;
    snprintf(name, sizeof name, "%d.json", pid);
    int rc = read_entry_file(dir_fd, name, &text, &len);
    if (rc < 0)
        return rc;
    rc = cli_registry_parse(text, len, pid, e);
    free(text);
    return rc;
}

int cli_registry_read(const char *dir, int pid, struct ctl_entry *e)
{
    int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir_fd < 0)
        return -errno;
    int rc = read_entry_at(dir_fd, pid, e);
    close(dir_fd);
    return rc;
}

bool cli_entry_alive(const struct ctl_entry *e)
{
    return e->pid > 0 && ctl_process_start_time(e->pid) == e->start_time && e->start_time != 0;
}

/* Whether every uid of the process (real, effective, saved) is the caller's;
 * -errno when its status cannot be read. */
static int same_user(int pid, unsigned *uid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -errno;
    unsigned r = 0, eff = 0, saved = 0;
    int found = 0;
    while (!found && fgets(line, sizeof line, f))
        found = sscanf(line, "Uid: %u %u %u", &r, &eff, &saved) == 3;
    fclose(f);
    if (!found)
        return -EINVAL;
    *uid = r != getuid() ? r : eff != getuid() ? eff : saved;
    return r == getuid() && eff == getuid() && saved == getuid();
}

/* The last component of a maps path, " (deleted)" aside, names omniprof. */
static bool omniprof_file(const char *path)
{
    const char *base = strrchr(path, '/');
    return strstr(base ? base + 1 : path, "omniprof") != NULL;
}

/* Whether the process maps the file the entry names (same device and
 * inode), and that file is an omniprof library. */
static int maps_library(const struct ctl_entry *e)
{
    unsigned major, minor;
    if (!e->library_ino || !omniprof_file(e->library) ||
        sscanf(e->library_dev, "%x:%x", &major, &minor) != 2)
        return 0;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/maps", e->pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -errno;
    char *line = NULL;
    size_t cap = 0;
    int found = 0;
    while (!found && getline(&line, &cap, f) > 0) {
        struct ctl_mapping m;
        found = ctl_maps_line(line, &m) && m.ino == e->library_ino && m.major == major &&
                m.minor == minor && m.path && omniprof_file(m.path);
    }
    free(line);
    fclose(f);
    return found;
}

enum cli_trust cli_entry_check(const struct ctl_entry *e, char *why, size_t cap)
{
    why[0] = '\0';
    if (!cli_entry_alive(e)) {
        snprintf(why, cap, "the process has exited");
        return CLI_GONE;
    }
    unsigned uid = 0;
    int rc = same_user(e->pid, &uid);
    if (rc == 0)
        snprintf(why, cap, "it runs as another user (uid %u)", uid);
    else if (rc < 0)
        snprintf(why, cap, "cannot read its status: %s", strerror(-rc));
    if (rc <= 0)
        return cli_entry_alive(e) ? CLI_UNTRUSTED : CLI_GONE;
    rc = maps_library(e);
    if (rc == 0 && !e->library_ino)
        snprintf(why, cap,
                 "omniprof is not loaded in it (its registry entry names no omniprof library: "
                 "it was not written by this omniprof)");
    else if (rc == 0)
        snprintf(why, cap,
                 "omniprof is not loaded in it (it does not map the omniprof library its "
                 "registry entry names)");
    else if (rc < 0)
        snprintf(why, cap, "cannot read its mappings: %s", strerror(-rc));
    if (rc <= 0)
        return cli_entry_alive(e) ? CLI_UNTRUSTED : CLI_GONE;
    /* checked against the same process throughout (its pid was not reused) */
    if (!cli_entry_alive(e)) {
        snprintf(why, cap, "the process has exited");
        return CLI_GONE;
    }
    return CLI_TRUSTED;
}

static int by_stage_then_pid(const void *a, const void *b)
{
    const struct ctl_entry *x = a, *y = b;
    if (x->stage != y->stage)
        return x->stage < y->stage ? -1 : 1;
    return (x->pid > y->pid) - (x->pid < y->pid);
}

/* Room for one more element of size `size` in *items. */
static int grow(void **items, size_t count, size_t *cap, size_t size)
{
    if (count < *cap)
        return 0;
    size_t want = *cap ? *cap * 2 : 16;
    void *grown = realloc(*items, want * size);
    if (!grown)
        return -ENOMEM;
    *items = grown;
    *cap = want;
    return 0;
}

int cli_registry_scan_all(const char *dir, struct ctl_entry **out, size_t *count, int *cleaned,
                          struct cli_untrusted **skipped, size_t *n_skipped)
{
    *out = NULL;
    *count = 0;
    if (cleaned)
        *cleaned = 0;
    if (skipped)
        *skipped = NULL, *n_skipped = 0;
    int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = dir_fd >= 0 ? fdopendir(dir_fd) : NULL;
    if (!d) {
        int rc = -errno;
        if (dir_fd >= 0)
            close(dir_fd);
        return rc;
    }
    size_t cap = 0, skipped_cap = 0;
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d))) {
        char *end;
        errno = 0;
        long pid = strtol(de->d_name, &end, 10);
        if (end == de->d_name || !(de->d_name[0] >= '1' && de->d_name[0] <= '9') || errno ||
            strcmp(end, ".json") != 0 || pid <= 0 || pid > INT_MAX)
            continue;
        if ((rc = grow((void **)out, *count, &cap, sizeof **out)) < 0)
            break;
        struct ctl_entry *e = &(*out)[*count];
        char why[sizeof((struct cli_untrusted *)0)->why];
        enum cli_trust trust;
        if (read_entry_at(dir_fd, (int)pid, e) < 0) {
            /* not an entry omniprof wrote: removed only once its pid is gone */
            trust = ctl_process_start_time((int)pid) ? CLI_UNTRUSTED : CLI_GONE;
            snprintf(why, sizeof why, "its registry entry cannot be read");
            e->pid = (int)pid;
            e->stage = -1;
        } else {
            trust = cli_entry_check(e, why, sizeof why);
        }
        if (trust == CLI_GONE) {
            if (unlinkat(dir_fd, de->d_name, 0) == 0 && cleaned)
                (*cleaned)++;
        } else if (trust == CLI_UNTRUSTED) {
            if (skipped &&
                (rc = grow((void **)skipped, *n_skipped, &skipped_cap, sizeof **skipped)) == 0) {
                struct cli_untrusted *u = &(*skipped)[(*n_skipped)++];
                u->pid = (int)pid;
                u->stage = e->stage;
                memcpy(u->why, why, sizeof why);
            }
        } else {
            (*count)++;
        }
    }
    closedir(d);
    if (rc < 0) {
        free(*out);
        *out = NULL;
        *count = 0;
        if (skipped) {
            free(*skipped);
            *skipped = NULL;
            *n_skipped = 0;
        }
        return rc;
    }
    if (*count > 1)
        qsort(*out, *count, sizeof **out, by_stage_then_pid);
    return 0;
}

int cli_registry_scan(const char *dir, struct ctl_entry **out, size_t *count, int *cleaned)
{
    return cli_registry_scan_all(dir, out, count, cleaned, NULL, NULL);
}
