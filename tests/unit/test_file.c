/* Where the writer makes its files: symbolic links planted on the way to the
 * output directory (followed only when the user or root owns them), names
 * that would leave the directory, links planted at the final names, the
 * modes of what is made (0777/0666 less the umask), and which temporaries
 * left in the directory are removed. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "writer.h"
#include "writer/internal.h"

#define OTHER_UID 65534 /* nobody */

static struct coll_event step = {
    .start_ns = 1000, .end_ns = 1000, .tid = 7, .kind = COLL_EV_STEP, .api = COLL_API_omni_step};
static const struct coll_event *ptrs[1] = {&step};
static struct coll_session session = {
    .begin_ns = 1000, .end_ns = 2000, .n_events = 1, .events = ptrs};
static char base[64];
static mode_t saved_umask;

static void setup(void)
{
    strcpy(base, "/tmp/omniprof-file-XXXXXX");
    cr_assert_not_null(mkdtemp(base));
    saved_umask = umask(022);
    cr_redirect_stderr();
}

static void teardown(void)
{
    umask(saved_umask);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", base);
    cr_expect_eq(system(cmd), 0);
}

TestSuite(file, .init = setup, .fini = teardown);

/* base/name as a path */
static const char *at(const char *name)
{
    static char paths[8][PATH_MAX];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, PATH_MAX, "%s/%s", base, name);
    return p;
}

static int write_to(const char *dir, const char *worker, struct wr_result *r)
{
    struct wr_options o = {.dir = dir,
                           .worker = worker,
                           .gzip = true,
                           .gzip_level = 1,
                           .table = true,
                           .version = "test",
                           .config = "",
                           .process_name = "p",
                           .pid = 7,
                           .stage = -1,
                           .rank = -1};
    return wr_write_session(&session, &o, r);
}

static int entries_in(const char *dir)
{
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s')\"", dir);
    return system(cmd) == 0 ? 0 : 1;
}

/* A world-writable sticky directory, like /tmp, holding a link that another
 * user planted where our output directory should be. */
static void plant_foreign_link(const char *link, const char *target)
{
    cr_assert_eq(symlink(target, link), 0);
    cr_assert_eq(lchown(link, OTHER_UID, OTHER_UID), 0, "lchown: %s", strerror(errno));
}

static void expect_refused_message(void)
{
    fflush(stderr);
    FILE *f = cr_get_redirected_stderr();
    char line[2048] = "";
    cr_assert_not_null(fgets(line, sizeof line, f));
    cr_expect(strstr(line, "omniprof: writer: cannot use directory ") == line, "%s", line);
    cr_expect(strstr(line, "is a symbolic link owned by uid 65534") != NULL, "%s", line);
    cr_expect(strstr(line, "not followed") != NULL, "%s", line);
}

Test(file, a_link_another_user_owns_is_not_followed)
{
    if (geteuid() != 0)
        cr_skip_test("needs root: the test gives its symlink to uid %d with lchown", OTHER_UID);
    cr_assert_eq(mkdir(at("shared"), 01777), 0);
    chmod(at("shared"), 01777);
    cr_assert_eq(mkdir(at("victim"), 0700), 0);
    plant_foreign_link(at("shared/traces"), at("victim"));
    struct wr_result r;
    /* the link as the directory itself, and on the way to a subdirectory */
    cr_expect_eq(write_to(at("shared/traces"), "w", &r), -EPERM);
    cr_expect_str_empty(r.trace_path);
    cr_expect_eq(write_to(at("shared/traces/run1"), "w", &r), -EPERM);
    cr_expect_eq(entries_in(at("victim")), 0, "nothing was made through the link");
    expect_refused_message();
}

Test(file, a_link_of_the_user_to_a_path_with_a_foreign_link_is_refused)
{
    if (geteuid() != 0)
        cr_skip_test("needs root: the test gives its symlink to uid %d with lchown", OTHER_UID);
    cr_assert_eq(mkdir(at("victim"), 0700), 0);
    plant_foreign_link(at("foreign"), at("victim"));
    cr_assert_eq(symlink("foreign", at("mine")), 0); /* relative, ours */
    struct wr_result r;
    cr_expect_eq(write_to(at("mine"), "w", &r), -EPERM);
    cr_expect_eq(entries_in(at("victim")), 0);
    expect_refused_message();
}

Test(file, links_of_the_user_are_followed)
{
    cr_assert_eq(mkdir(at("real"), 0755), 0);
    cr_assert_eq(symlink(at("real"), at("link")), 0);
    cr_assert_eq(symlink("link", at("link2")), 0);
    struct wr_result r;
    cr_assert_eq(write_to(at("link2/run"), "w", &r), 0);
    struct stat st;
    cr_expect_eq(stat(at("real/run/profiler_out_w.txt"), &st), 0);
    cr_expect(S_ISREG(st.st_mode));
    cr_expect(strstr(r.trace_path, "/link2/run/w.") != NULL, "%s", r.trace_path);
}

Test(file, a_loop_of_links_fails_cleanly)
{
    cr_assert_eq(symlink("b", at("a")), 0);
    cr_assert_eq(symlink("a", at("b")), 0);
    struct wr_result r;
    cr_expect_eq(write_to(at("a/run"), "w", &r), -ELOOP);
}

Test(file, a_file_in_the_way_fails_cleanly)
{
    int fd = open(at("file"), O_WRONLY | O_CREAT, 0600);
    cr_assert_geq(fd, 0);
    close(fd);
    struct wr_result r;
    cr_expect_eq(write_to(at("file/run"), "w", &r), -ENOTDIR);
    cr_expect_eq(write_to(at("file"), "w", &r), -ENOTDIR);
}

Test(file, names_stay_in_the_directory)
{
    cr_assert_eq(mkdir(at("out"), 0755), 0);
    struct wr_result r;
    cr_expect_eq(write_to(at("out"), "../escaped", &r), -EINVAL);
    cr_expect_eq(entries_in(at("out")), 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "ls -A %s | grep -q escaped", base);
    cr_expect_eq(system(cmd), 256, "nothing was written beside the directory");
}

Test(file, a_link_planted_at_a_final_name_is_replaced_not_followed)
{
    cr_assert_eq(mkdir(at("out"), 0755), 0);
    int fd = open(at("precious"), O_WRONLY | O_CREAT, 0600);
    cr_assert_eq(write(fd, "keep", 4), 4);
    close(fd);
    cr_assert_eq(symlink(at("precious"), at("out/profiler_out_w.txt")), 0);
    struct wr_result r;
    cr_assert_eq(write_to(at("out"), "w", &r), 0);
    struct stat st;
    cr_expect_eq(lstat(at("out/profiler_out_w.txt"), &st), 0);
    cr_expect(S_ISREG(st.st_mode), "the link itself was replaced");
    cr_expect_eq(stat(at("precious"), &st), 0);
    cr_expect_eq(st.st_size, 4, "its target is untouched");
}

static void expect_modes(mode_t mask, mode_t dir_mode, mode_t file_mode)
{
    char sub[64];
    snprintf(sub, sizeof sub, "umask%03o", (unsigned)mask);
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/%s/inner", base, sub);
    umask(mask);
    struct wr_result r;
    int rc = write_to(dir, "w", &r);
    umask(022);
    cr_assert_eq(rc, 0);
    struct stat st;
    cr_assert_eq(stat(at(sub), &st), 0);
    cr_expect_eq(st.st_mode & 07777, dir_mode, "umask %03o: made %s with %04o, want %04o",
                 (unsigned)mask, sub, (unsigned)(st.st_mode & 07777), (unsigned)dir_mode);
    cr_assert_eq(stat(dir, &st), 0);
    cr_expect_eq(st.st_mode & 07777, dir_mode);
    const char *files[] = {r.trace_path, r.table_path};
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(stat(files[i], &st), 0, "%s", files[i]);
        cr_expect_eq(st.st_mode & 07777, file_mode, "umask %03o: %s has %04o, want %04o",
                     (unsigned)mask, files[i], (unsigned)(st.st_mode & 07777), (unsigned)file_mode);
    }
}

Test(file, modes_follow_the_umask)
{
    expect_modes(077, 0700, 0600);
    expect_modes(022, 0755, 0644);
    expect_modes(002, 0775, 0664);
    expect_modes(0, 0777, 0666);
}

/* ---- temporaries left behind ------------------------------------------------ */

static unsigned long long proc_start(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    cr_assert_not_null(p);
    unsigned long long start = 0;
    /* after ')': state, then fields 4..21, then starttime */
    cr_assert_eq(sscanf(p + 2,
                        "%*c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s "
                        "%*s %*s %*s %llu",
                        &start),
                 1);
    return start;
}

static pid_t child_that_exits(void)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        _exit(0);
    return pid;
}

static void touch(const char *dir, const char *name)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    cr_assert_geq(fd, 0, "%s: %s", name, strerror(errno));
    close(fd);
}

static bool present(const char *dir, const char *name)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat st;
    return lstat(path, &st) == 0;
}

Test(file, stale_temporaries_of_ended_writers_alone_are_removed)
{
    const char *dir = at("out");
    cr_assert_eq(mkdir(dir, 0755), 0);
    int dir_fd = open(dir, O_PATH | O_DIRECTORY);
    cr_assert_geq(dir_fd, 0);
    /* this process's own temporary names its key */
    char own[NAME_MAX + 1];
    int fd = wr_create_temp(dir_fd, "w.0.pt.trace.json.gz", own, sizeof own);
    cr_assert_geq(fd, 0);
    close(fd);
    int me = (int)getpid(), n_own;
    unsigned long long my_start;
    char key[9];
    cr_assert_eq(sscanf(own, ".w.0.pt.trace.json.gz.tmp.%d.%llu.%8[0-9a-f].%d", &n_own, &my_start,
                        key, &n_own),
                 4, "%s", own);
    cr_assert_eq(my_start, proc_start(me));
    pid_t dead = child_that_exits();
    cr_assert_eq(waitpid(dead, NULL, 0), dead);
    pid_t zombie = child_that_exits();
    siginfo_t si;
    cr_assert_eq(waitid(P_PID, (id_t)zombie, &si, WEXITED | WNOWAIT), 0); /* exited, not reaped */
    unsigned long long zombie_start = proc_start(zombie);

    char gone[4][NAME_MAX + 1], kept[8][NAME_MAX + 1];
    snprintf(gone[0], NAME_MAX, ".w.1.pt.trace.json.gz.tmp.%d.5.%s.0", dead, key);
    snprintf(gone[1], NAME_MAX, ".profiler_out_w.txt.tmp.%d.5.%s.1", dead, key);
    snprintf(gone[2], NAME_MAX, ".w.2.pt.trace.json.tmp.%d.%llu.%s.0", me, my_start + 1, key);
    snprintf(gone[3], NAME_MAX, ".w.3.pt.trace.json.gz.tmp.%d.%llu.%s.0", zombie, zombie_start,
             key);
    memcpy(kept[0], own, sizeof own);
    snprintf(kept[1], NAME_MAX, ".w.4.pt.trace.json.gz.tmp.%d.5.%s", dead, key); /* no <n> */
    snprintf(kept[2], NAME_MAX, ".w.5.pt.trace.json.gz.tmp.%d.5.%.7sA.0", dead, key);
    snprintf(kept[3], NAME_MAX, ".w.6.json.tmp.%d.5.%s.0", dead, key); /* not our name */
    snprintf(kept[4], NAME_MAX, "w.7.pt.trace.json.gz.tmp.%d.5.%s.0", dead, key);
    snprintf(kept[5], NAME_MAX, ".w.8.pt.trace.json.gz.tmp.%d.5.%08x.0", dead,
             (unsigned)strtoul(key, NULL, 16) ^ 1u); /* another namespace's */
    snprintf(kept[6], NAME_MAX, ".w.9.pt.trace.json.gz.tmp.%d.5.%s.0", dead, key);
    snprintf(kept[7], NAME_MAX, ".w.10.pt.trace.json.gz.tmp.%d.5.%s.0", dead, key);
    for (int i = 0; i < 4; i++)
        touch(dir, gone[i]);
    for (int i = 1; i < 6; i++)
        touch(dir, kept[i]);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, kept[6]);
    cr_assert_eq(mkdir(path, 0755), 0); /* a directory */
    snprintf(path, sizeof path, "%s/%s", dir, kept[7]);
    touch(base, "target");
    cr_assert_eq(symlink(at("target"), path), 0); /* a link */

    cr_expect_eq(wr_remove_stale_temps(dir_fd), 4);
    for (int i = 0; i < 4; i++)
        cr_expect_not(present(dir, gone[i]), "%s was left", gone[i]);
    for (int i = 0; i < 8; i++)
        cr_expect(present(dir, kept[i]), "%s was removed", kept[i]);
    cr_expect(present(base, "target"));
    cr_expect_eq(wr_remove_stale_temps(dir_fd), 0);
    waitpid(zombie, NULL, 0);
    close(dir_fd);
}
