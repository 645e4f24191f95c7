/* Where the writer makes its files: symbolic links planted on the way to the
 * output directory (followed only when the user or root owns them), names
 * that would leave the directory, links planted at the final names, and
 * the modes of what is made (0777/0666 less the umask). */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "writer.h"

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
