/*
 * Where files are made: the output directory and atomic file creation.
 *
 * The output directory may lie in a directory others can write (/tmp), where
 * another user could plant a symbolic link on the way to it.  So the path is
 * walked one component at a time from a directory descriptor (openat,
 * mkdirat, O_NOFOLLOW), and a symbolic link is followed only when the link
 * itself belongs to the user or to root (the rule of the kernel's
 * protected_symlinks, everywhere); the link's target is walked the same
 * way.  Directories are made with 0777 and files with 0666, less the umask.
 *
 * Files are written as <dir>/.<name>.tmp.<pid>.<start>.<key>.<n>, created
 * with O_EXCL and O_NOFOLLOW relative to the directory's descriptor, and
 * renamed into place when complete: a reader never sees half a trace, and
 * nothing is written through a name someone else put there.
 *
 * A process killed while it writes (SIGKILL, a crash, a machine going down)
 * leaves its temporary behind, so the temporary names who wrote it: the pid,
 * the process's start time (field 22 of /proc/<pid>/stat, which tells a
 * reused pid apart) and the key of its pid namespace (a hash of the boot's id
 * and the namespace's inode; another machine or container writing into the
 * same directory has another key, and its pids are not ours to judge).  Each
 * session written removes the temporaries in its directory whose writer no
 * longer runs (wr_remove_stale_temps).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* The most symbolic links one walk follows, as the kernel's MAXSYMLINKS. */
#define MAX_LINKS 40

struct walk {
    int links; /* links followed so far */
    char *why;
    size_t cap;
};

static int walk(struct walk *w, int at, const char *path, bool create);

/* Follows the symbolic link comp in directory fd if its owner may be
 * trusted: the directory it names, or -errno. */
static int follow(struct walk *w, int fd, const char *comp)
{
    int link = openat(fd, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (link < 0)
        return -errno;
    struct stat st;
    if (fstat(link, &st) < 0) {
        int rc = -errno;
        close(link);
        return rc;
    }
    if (!S_ISLNK(st.st_mode)) {
        close(link);
        snprintf(w->why, w->cap, "%s is not a directory", comp);
        return -ENOTDIR;
    }
    if (st.st_uid != geteuid() && st.st_uid != 0) {
        close(link);
        snprintf(w->why, w->cap,
                 "%s is a symbolic link owned by uid %u (neither the user's nor root's); "
                 "not followed",
                 comp, (unsigned)st.st_uid);
        return -EPERM;
    }
    if (++w->links > MAX_LINKS) {
        close(link);
        snprintf(w->why, w->cap, "too many symbolic links");
        return -ELOOP;
    }
    char target[PATH_MAX];
    ssize_t n = readlinkat(link, "", target, sizeof target - 1);
    int rc = n < 0 ? -errno : 0;
    close(link);
    if (rc < 0)
        return rc;
    target[n] = '\0';
    /* a relative target is relative to the link's directory; a missing
     * target is not made (as mkdir -p does not) */
    return walk(w, fd, target, false);
}

/* One component: the directory comp in fd, made when missing and create. */
static int step(struct walk *w, int fd, const char *comp, bool create)
{
    for (int tries = 0; tries < 8; tries++) {
        int next = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next >= 0)
            return next;
        int e = errno;
        if (e == ELOOP || e == ENOTDIR)
            return follow(w, fd, comp); /* a symbolic link, or not a directory */
        if (e != ENOENT || !create) {
            snprintf(w->why, w->cap, "%s: %s", comp, strerror(e));
            return -e;
        }
        /* whatever is there when we look again is judged again */
        if (mkdirat(fd, comp, 0777) < 0 && errno != EEXIST) {
            e = errno;
            snprintf(w->why, w->cap, "cannot create %s: %s", comp, strerror(e));
            return -e;
        }
    }
    snprintf(w->why, w->cap, "%s keeps changing", comp);
    return -EAGAIN;
}

/* path from directory `at` (or from / when absolute): a descriptor of the
 * directory it names, or -errno. */
static int walk(struct walk *w, int at, const char *path, bool create)
{
    int fd = path[0] == '/'   ? open("/", O_PATH | O_DIRECTORY | O_CLOEXEC)
             : at == AT_FDCWD ? open(".", O_PATH | O_DIRECTORY | O_CLOEXEC)
                              : fcntl(at, F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    for (const char *p = path; *p;) {
        while (*p == '/')
            p++;
        size_t n = strcspn(p, "/");
        if (n == 0)
            break;
        char comp[NAME_MAX + 1];
        if (n > NAME_MAX) {
            close(fd);
            snprintf(w->why, w->cap, "a name in the path is longer than %d bytes", NAME_MAX);
            return -ENAMETOOLONG;
        }
        memcpy(comp, p, n);
        comp[n] = '\0';
        p += n;
        if (strcmp(comp, ".") == 0)
            continue;
        int next = step(w, fd, comp, create);
        close(fd);
        if (next < 0)
            return next;
        fd = next;
    }
    return fd;
}

int wr_open_dir(const char *dir, char *why, size_t cap)
{
    struct walk w = {0, why, cap};
    why[0] = '\0';
    if (!dir[0]) {
        snprintf(why, cap, "the directory name is empty");
        return -ENOENT;
    }
    int rc = walk(&w, AT_FDCWD, dir, true);
    if (rc < 0 && !why[0])
        snprintf(why, cap, "%s", strerror(-rc));
    return rc;
}

/* ---- who writes a temporary -------------------------------------------------- */

struct writer_id {
    int pid;
    unsigned long long start; /* 0: unknown */
    uint32_t key;             /* 0: unknown (no /proc, or another namespace's) */
};

/* Up to cap - 1 bytes of a small file, NUL-terminated; the length or -1. */
static ssize_t read_small(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n >= 0)
        buf[n] = '\0';
    return n;
}

/* When process pid started (clock ticks after boot); 0 when it is gone or a
 * zombie (it will never finish a write). */
static unsigned long long start_time(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    if (read_small(path, buf, sizeof buf) <= 0)
        return 0;
    /* the command (field 2) may hold spaces and parentheses: fields 3 on
     * follow its last ')' */
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X' || p[2] == 'x')
        return 0;
    for (int field = 2; *p && field < 22; p++)
        if (*p == ' ')
            field++;
    return strtoull(p, NULL, 10);
}

/* This process's pid namespace as a 32-bit key: FNV-1a of the boot id and
 * the namespace link.  0 when /proc cannot tell, or is not the namespace's
 * own (its "self" is not our pid): its pids could not be judged. */
static uint32_t namespace_key(void)
{
    char boot[64], ns[64], self[32];
    ssize_t nb = read_small("/proc/sys/kernel/random/boot_id", boot, sizeof boot);
    ssize_t nn = readlink("/proc/self/ns/pid", ns, sizeof ns);
    ssize_t ns_self = readlink("/proc/self", self, sizeof self - 1);
    if (nb <= 0 || nn <= 0 || ns_self <= 0)
        return 0;
    self[ns_self] = '\0';
    if (atoi(self) != (int)getpid())
        return 0;
    uint32_t h = 2166136261u;
    for (ssize_t i = 0; i < nb + 1 + nn; i++) {
        unsigned char c = i < nb ? boot[i] : i == nb ? '\n' : ns[i - nb - 1];
        h = (h ^ c) * 16777619u;
    }
    return h ? h : 1;
}

/* This process as its temporaries name it; found again after a fork.  The
 * writer runs on one thread at a time. */
static const struct writer_id *me(void)
{
    static struct writer_id id;
    int pid = (int)getpid();
    if (id.pid != pid)
        id = (struct writer_id){pid, start_time(pid), namespace_key()};
    return &id;
}

int wr_create_temp(int dir_fd, const char *name, char *tmp, size_t cap)
{
    static unsigned serial; /* the writer runs on one thread at a time */
    const struct writer_id *id = me();
    for (int tries = 0; tries < 100; tries++) {
        int n = snprintf(tmp, cap, ".%s.tmp.%d.%llu.%08x.%u", name, id->pid, id->start,
                         (unsigned)id->key, serial++);
        if (n < 0 || (size_t)n >= cap || n > NAME_MAX)
            return -ENAMETOOLONG;
        int fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd >= 0 || errno != EEXIST)
            return fd >= 0 ? fd : -errno;
    }
    return -EEXIST;
}

/* ---- temporaries left behind ---------------------------------------------- */

static bool ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* s[0..n) as a number of at most max_digits digits (hex: exactly 8 lowercase
 * hex digits). */
static bool number(const char *s, size_t n, size_t max_digits, bool hex, unsigned long long *v)
{
    if (n == 0 || n > max_digits || (hex && n != 8))
        return false;
    *v = 0;
    for (size_t i = 0; i < n; i++) {
        int d = s[i] >= '0' && s[i] <= '9'          ? s[i] - '0'
                : hex && s[i] >= 'a' && s[i] <= 'f' ? s[i] - 'a' + 10
                                                    : -1;
        if (d < 0)
            return false;
        *v = *v * (hex ? 16 : 10) + (unsigned)d;
    }
    return true;
}

/* Who wrote temporary `name`, when it is one of ours:
 * .<trace or table name>.tmp.<pid>.<start>.<key>.<n>. */
static bool temp_writer(const char *name, struct writer_id *w)
{
    static const size_t digits[4] = {10, 20, 8, 10}; /* pid, start, key, n */
    unsigned long long v[4];
    const char *end = name + strlen(name);
    for (int i = 3; i >= 0; i--) {
        const char *dot = memrchr(name, '.', (size_t)(end - name));
        if (!dot || !number(dot + 1, (size_t)(end - dot - 1), digits[i], i == 2, &v[i]))
            return false;
        end = dot;
    }
    if (name[0] != '.' || !ends_with(name, (size_t)(end - name), ".tmp"))
        return false;
    const char *final = name + 1;
    size_t n = (size_t)(end - final) - 4;
    bool trace = ends_with(final, n, ".pt.trace.json") || ends_with(final, n, ".pt.trace.json.gz");
    bool table = n > 13 && strncmp(final, "profiler_out_", 13) == 0 && ends_with(final, n, ".txt");
    if (!(trace || table) || v[0] == 0 || v[0] > INT32_MAX || v[2] == 0)
        return false;
    *w = (struct writer_id){(int)v[0], v[1], (uint32_t)v[2]};
    return true;
}

int wr_remove_stale_temps(int dir_fd)
{
    const struct writer_id *id = me();
    if (id->key == 0)
        return 0;
    int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    int removed = 0;
    for (struct dirent *e; (e = readdir(d));) {
        struct writer_id w;
        struct stat st;
        if (e->d_name[0] != '.' || !temp_writer(e->d_name, &w) || w.key != id->key ||
            (w.pid == id->pid && w.start == id->start))
            continue;
        unsigned long long now = start_time(w.pid);
        if (now != 0 && now == w.start)
            continue; /* it still runs, and may be writing it now */
        /* a regular file of this user's only, never what a link points at */
        if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
            st.st_uid == geteuid() && unlinkat(fd, e->d_name, 0) == 0)
            removed++;
    }
    closedir(d);
    return removed;
}

int wr_commit(int dir_fd, const char *tmp, const char *name, int status)
{
    if (status == 0 && renameat(dir_fd, tmp, dir_fd, name) < 0)
        status = -errno;
    if (status != 0)
        unlinkat(dir_fd, tmp, 0);
    return status;
}
