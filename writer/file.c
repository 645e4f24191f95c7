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
 * Files are written as <dir>/.<name>.tmp.<pid>.<n>, created with O_EXCL and
 * O_NOFOLLOW relative to the directory's descriptor, and renamed into place
 * when complete: a reader never sees half a trace, and nothing is written
 * through a name someone else put there.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
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

int wr_create_temp(int dir_fd, const char *name, char *tmp, size_t cap)
{
    static unsigned serial; /* the writer runs on one thread at a time */
    for (int tries = 0; tries < 100; tries++) {
        int n = snprintf(tmp, cap, ".%s.tmp.%d.%u", name, (int)getpid(), serial++);
        if (n < 0 || (size_t)n >= cap || n > NAME_MAX)
            return -ENAMETOOLONG;
        int fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd >= 0 || errno != EEXIST)
            return fd >= 0 ? fd : -errno;
    }
    return -EEXIST;
}

int wr_commit(int dir_fd, const char *tmp, const char *name, int status)
{
    if (status == 0 && renameat(dir_fd, tmp, dir_fd, name) < 0)
        status = -errno;
    if (status != 0)
        unlinkat(dir_fd, tmp, 0);
    return status;
}
