/*
 * Atomic file creation: a reader never sees half a trace.  Files are written
 * as <dir>/.<name>.tmp.<pid> and renamed into place when complete.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

int wr_make_dir(const char *dir)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
        return -ENAMETOOLONG;
    for (char *p = path + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(path, 0755) < 0 && errno != EEXIST)
                return -errno;
            *p = c;
            if (!c)
                break;
        }
    }
    struct stat st;
    if (stat(dir, &st) < 0)
        return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int wr_temp_path(char *tmp, size_t cap, const char *final_path)
{
    const char *slash = strrchr(final_path, '/');
    int dir_len = slash ? (int)(slash - final_path + 1) : 0;
    const char *base = final_path + dir_len;
    int n = snprintf(tmp, cap, "%.*s.%s.tmp.%d", dir_len, final_path, base, (int)getpid());
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int wr_commit(const char *tmp, const char *final_path, int status)
{
    if (status == 0 && rename(tmp, final_path) < 0)
        status = -errno;
    if (status != 0)
        unlink(tmp);
    return status;
}
