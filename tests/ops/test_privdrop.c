/*
 * test_privdrop.c: engine/privdrop against the real system.
 *
 * Names are resolved from this machine's passwd and group files (nobody
 * and nogroup exist on Debian). Each drop runs in a forked child, since
 * it cannot be undone: the child checks its ids, groups, capabilities,
 * a thread started before the drop, and that root stays out of reach,
 * and reports the first failed check on stderr with its exit status.
 * Path checks build real trees in a temporary directory with chmod and
 * chown. Drops and chowns need root: without it those tests skip.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "privdrop.h"

static char err[512];

/* nobody's ids from this machine's passwd, or skip. */
static struct passwd *
nobody(void)
{
	struct passwd *pw = getpwnam("nobody");

	if (pw == NULL)
		skip();
	return pw;
}

static void
need_root(void)
{
	if (geteuid() != 0) {
		print_message("# not root: drop and chown tests skipped\n");
		skip();
	}
}

/* ------------------------------------------------------------ resolve */

static void
test_resolve_nobody(void **state)
{
	struct passwd *pw = nobody();
	struct group *gr = getgrnam("nogroup");
	struct privdrop_target t;

	(void)state;
	assert_int_equal(privdrop_resolve("nobody", NULL, &t, err, sizeof(err)), 0);
	assert_int_equal(t.uid, pw->pw_uid);
	assert_int_equal(t.gid, pw->pw_gid);
	assert_string_equal(t.user, "nobody");
	if (gr != NULL) {
		assert_int_equal(privdrop_resolve("nobody", "nogroup", &t, err, sizeof(err)), 0);
		assert_int_equal(t.gid, gr->gr_gid);
		assert_string_equal(t.group, "nogroup");
	}
	assert_int_equal(privdrop_resolve("nobody", "root", &t, err, sizeof(err)), 0);
	assert_int_equal(t.gid, 0);
}

static void
test_resolve_missing(void **state)
{
	struct privdrop_target t;

	(void)state;
	assert_int_equal(privdrop_resolve("darter-no-such-user", NULL, &t, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "user darter-no-such-user does not exist"));
	assert_int_equal(privdrop_resolve("nobody", "darter-no-such-group", &t, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "group darter-no-such-group does not exist"));
}

static void
test_resolve_bad_names(void **state)
{
	struct privdrop_target t;
	char longname[200];

	(void)state;
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(privdrop_resolve("", NULL, &t, err, sizeof(err)), -EINVAL);
	assert_int_equal(privdrop_resolve(NULL, NULL, &t, err, sizeof(err)), -EINVAL);
	assert_int_equal(privdrop_resolve(longname, NULL, &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "longer than"));
	assert_int_equal(privdrop_resolve("root", NULL, &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "uid 0"));
}

/* A missing user fails before anything changes: we are still root after. */
static void
test_drop_missing_user_changes_nothing(void **state)
{
	uid_t before = geteuid();

	(void)state;
	assert_int_equal(privdrop_drop("darter-no-such-user", NULL, err, sizeof(err)), -ENOENT);
	assert_int_equal(geteuid(), before);
	assert_int_equal(privdrop_drop("nobody", "darter-no-such-group", err, sizeof(err)),
			 -ENOENT);
	assert_int_equal(geteuid(), before);
}

/* --------------------------------------------------------------- drop */

/* In a child: print why and give the check's number as the exit status. */
static void __attribute__((format(printf, 2, 3))) child_fail(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "# child check %d failed: ", code);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	_exit(code);
}

/* Run fn in a child process; assert it exited 0. */
static void
run_child(void (*fn)(void))
{
	pid_t pid = fork();
	int status = 0;

	assert_true(pid >= 0);
	if (pid == 0) {
		fn();
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

struct waiter {
	int fds[2];
	uid_t ruid, euid, suid;
};

/* A thread started before the drop (as DPDK's are): reports its ids once woken. */
static void *
waiter_main(void *arg)
{
	struct waiter *w = arg;
	char c;

	if (read(w->fds[0], &c, 1) != 1)
		return NULL;
	getresuid(&w->ruid, &w->euid, &w->suid);
	return NULL;
}

static void
check_dropped_ids(uid_t uid, gid_t gid)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg, groups[16];
	int n;

	getresuid(&ru, &eu, &su);
	getresgid(&rg, &eg, &sg);
	if (ru != uid || eu != uid || su != uid)
		child_fail(2, "uids %u/%u/%u, want %u", ru, eu, su, uid);
	if (rg != gid || eg != gid || sg != gid)
		child_fail(3, "gids %u/%u/%u, want %u", rg, eg, sg, gid);
	n = getgroups(16, groups);
	if (n != 1 || groups[0] != gid)
		child_fail(4, "%d supplementary groups, first %u, want only %u", n,
			   n > 0 ? groups[0] : 0, gid);
}

static void
check_root_unreachable(void)
{
	errno = 0;
	if (setuid(0) == 0 || errno != EPERM)
		child_fail(5, "setuid(0) did not fail with EPERM: %s", strerror(errno));
	if (setgid(0) == 0)
		child_fail(6, "setgid(0) succeeded");
	if (seteuid(0) == 0)
		child_fail(7, "seteuid(0) succeeded");
	/* root-only: mode 0600 root:root, made while root */
	if (open("/proc/1/environ", O_RDONLY) >= 0)
		child_fail(8, "opened /proc/1/environ after the drop");
}

static void
child_drop_nobody(void)
{
	struct passwd *pw = getpwnam("nobody");
	struct group *gr = getgrnam("nogroup");
	uid_t uid = pw->pw_uid;
	gid_t gid = gr->gr_gid;
	struct waiter w = {.ruid = 0};
	pthread_t th;
	gid_t extra[2] = {0, 4};

	/* supplementary groups that must not survive */
	if (setgroups(2, extra) != 0)
		child_fail(9, "setgroups: %s", strerror(errno));
	if (pipe(w.fds) != 0 || pthread_create(&th, NULL, waiter_main, &w) != 0)
		child_fail(10, "thread setup");
	if (privdrop_drop("nobody", "nogroup", err, sizeof(err)) != 0)
		child_fail(1, "privdrop_drop: %s", err);
	check_dropped_ids(uid, gid);
	check_root_unreachable();
	if (write(w.fds[1], "x", 1) != 1 || pthread_join(th, NULL) != 0)
		child_fail(10, "thread join");
	if (w.ruid != uid || w.euid != uid || w.suid != uid)
		child_fail(11, "the earlier thread runs as %u/%u/%u, want %u", w.ruid, w.euid,
			   w.suid, uid);
}

static void
test_drop_nobody(void **state)
{
	(void)state;
	need_root();
	nobody();
	if (getgrnam("nogroup") == NULL)
		skip();
	run_child(child_drop_nobody);
}

/* No group given: the user's primary group from passwd. */
static void
child_drop_primary(void)
{
	struct passwd *pw = getpwnam("nobody");
	uid_t uid = pw->pw_uid;
	gid_t gid = pw->pw_gid;

	if (privdrop_drop("nobody", NULL, err, sizeof(err)) != 0)
		child_fail(1, "privdrop_drop: %s", err);
	check_dropped_ids(uid, gid);
	check_root_unreachable();
}

static void
test_drop_primary_group(void **state)
{
	(void)state;
	need_root();
	nobody();
	run_child(child_drop_primary);
}

/* Once dropped: the same target again is a no-op, another user is refused. */
static void
child_drop_twice(void)
{
	if (privdrop_drop("nobody", NULL, err, sizeof(err)) != 0)
		child_fail(1, "privdrop_drop: %s", err);
	if (privdrop_drop("nobody", NULL, err, sizeof(err)) != 0)
		child_fail(12, "dropping to the same user again: %s", err);
	if (getpwnam("daemon") == NULL)
		return;
	if (privdrop_drop("daemon", NULL, err, sizeof(err)) != -EPERM)
		child_fail(13, "becoming daemon from nobody was not refused");
	if (strstr(err, "not root") == NULL)
		child_fail(14, "unclear error: %s", err);
}

static void
test_drop_twice(void **state)
{
	(void)state;
	need_root();
	nobody();
	run_child(child_drop_twice);
}

/* --------------------------------------------------------- path check */

static char tmp[64];

static int
rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int
tree_setup(void **state)
{
	(void)state;
	snprintf(tmp, sizeof(tmp), "/tmp/darter-privdrop-XXXXXX");
	return mkdtemp(tmp) == NULL ? -1 : 0;
}

static int
tree_teardown(void **state)
{
	(void)state;
	return nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* tmp/rel, made as a directory with mode. */
static const char *
mkdir_in(const char *rel, mode_t mode)
{
	static char p[256];

	snprintf(p, sizeof(p), "%s/%s", tmp, rel);
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(chmod(p, mode), 0);
	return p;
}

/* tmp/rel, made as a file with mode; returns its path (static). */
static const char *
file_in(const char *rel, mode_t mode)
{
	static char p[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", tmp, rel);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs("return {}\n", f);
	fclose(f);
	assert_int_equal(chmod(p, mode), 0);
	return p;
}

static int
check(const char *p)
{
	int rc = privdrop_check_path(p, err, sizeof(err));

	print_message("# %s: %d %s\n", p, rc, rc != 0 ? err : "");
	return rc;
}

static void
test_path_ok(void **state)
{
	(void)state;
	mkdir_in("ok", 0755);
	assert_int_equal(check(file_in("ok/a.lua", 0644)), 0);
	assert_int_equal(check(file_in("ok/ro.lua", 0400)), 0);
	/* group-writable by root's group: root can write anyway */
	assert_int_equal(check(file_in("ok/g0.lua", 0664)), 0);
}

static void
test_path_world_writable_file(void **state)
{
	(void)state;
	mkdir_in("ok", 0755);
	assert_int_equal(check(file_in("ok/ww.lua", 0666)), -EPERM);
	assert_non_null(strstr(err, "ok/ww.lua is world-writable (mode 0666)"));
}

static void
test_path_world_writable_dir(void **state)
{
	(void)state;
	mkdir_in("open", 0777);
	mkdir_in("open/sub", 0755);
	assert_int_equal(check(file_in("open/a.lua", 0644)), -EPERM);
	assert_non_null(strstr(err, "/open is world-writable (mode 0777)"));
	/* any ancestor counts, not just the file's own directory */
	assert_int_equal(check(file_in("open/sub/b.lua", 0644)), -EPERM);
	assert_non_null(strstr(err, "/open is world-writable"));
}

static void
test_path_group_writable(void **state)
{
	struct group *gr = getgrnam("nogroup");
	const char *p;

	(void)state;
	need_root();
	if (gr == NULL)
		skip();
	mkdir_in("ok", 0755);
	p = file_in("ok/g.lua", 0664);
	assert_int_equal(chown(p, 0, gr->gr_gid), 0);
	assert_int_equal(check(p), -EPERM);
	assert_non_null(strstr(err, "writable by group"));
	p = mkdir_in("gdir", 0775);
	assert_int_equal(chown(p, 0, gr->gr_gid), 0);
	assert_int_equal(check(file_in("gdir/a.lua", 0644)), -EPERM);
	assert_non_null(strstr(err, "/gdir is writable by group"));
}

static void
test_path_sticky_dir(void **state)
{
	struct passwd *pw;
	const char *p;

	(void)state;
	need_root();
	pw = nobody();
	mkdir_in("sticky", 01777);
	/* like /tmp: entries owned by root (or by us) cannot be replaced */
	assert_int_equal(check(file_in("sticky/root.lua", 0644)), 0);
	p = file_in("sticky/theirs.lua", 0644);
	assert_int_equal(chown(p, pw->pw_uid, 0), 0);
	assert_int_equal(check(p), -EPERM);
	assert_non_null(strstr(err, "owned by uid"));
	/* a sticky directory owned by someone else is theirs to rearrange */
	p = mkdir_in("sticky2", 01777);
	assert_int_equal(chown(p, pw->pw_uid, 0), 0);
	assert_int_equal(check(file_in("sticky2/a.lua", 0644)), -EPERM);
	assert_non_null(strstr(err, "/sticky2 is world-writable (mode 1777)"));
}

static void
test_path_symlinks(void **state)
{
	char link[256], target[256];

	(void)state;
	mkdir_in("ok", 0755);
	mkdir_in("open", 0777);
	file_in("ok/a.lua", 0644);
	file_in("open/b.lua", 0644);
	snprintf(target, sizeof(target), "%s/ok/a.lua", tmp);
	/* a link in a safe directory to a safe file */
	snprintf(link, sizeof(link), "%s/ok/link.lua", tmp);
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(check(link), 0);
	/* a link in an open directory: anyone could repoint it */
	snprintf(link, sizeof(link), "%s/open/link.lua", tmp);
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(check(link), -EPERM);
	/* a safe link into an open directory: anyone could swap the file */
	snprintf(target, sizeof(target), "%s/open/b.lua", tmp);
	snprintf(link, sizeof(link), "%s/ok/into-open.lua", tmp);
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(check(link), -EPERM);
	assert_non_null(strstr(err, "/open is world-writable"));
	/* a safe directory reached through a link to an open one */
	snprintf(target, sizeof(target), "%s/open", tmp);
	snprintf(link, sizeof(link), "%s/ok/dirlink", tmp);
	assert_int_equal(symlink(target, link), 0);
	snprintf(link, sizeof(link), "%s/ok/dirlink/b.lua", tmp);
	assert_int_equal(check(link), -EPERM);
}

static void
test_path_not_regular(void **state)
{
	char p[256];

	(void)state;
	assert_int_equal(check(mkdir_in("d", 0755)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));
	snprintf(p, sizeof(p), "%s/fifo", tmp);
	assert_int_equal(mkfifo(p, 0644), 0);
	assert_int_equal(check(p), -EINVAL);
	snprintf(p, sizeof(p), "%s/missing.lua", tmp);
	assert_int_equal(check(p), -ENOENT);
	assert_non_null(strstr(err, "missing.lua"));
	assert_int_equal(check(""), -EINVAL);
	assert_int_equal(check("/"), -EINVAL);
}

static void
test_path_relative(void **state)
{
	char cwd[4096];

	(void)state;
	mkdir_in("ok", 0755);
	mkdir_in("open", 0777);
	file_in("ok/a.lua", 0644);
	file_in("open/b.lua", 0644);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(tmp), 0);
	assert_int_equal(check("ok/a.lua"), 0);
	assert_int_equal(check("./ok/../ok/a.lua"), 0);
	assert_int_equal(check("open/b.lua"), -EPERM);
	assert_int_equal(check("ok/../open/b.lua"), -EPERM);
	assert_int_equal(chdir(cwd), 0);
}

/* The mkdtemp directory itself sits in /tmp (sticky, root's) and is ours. */
static void
test_path_in_tmp(void **state)
{
	(void)state;
	assert_int_equal(check(file_in("t.lua", 0644)), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resolve_nobody),
		cmocka_unit_test(test_resolve_missing),
		cmocka_unit_test(test_resolve_bad_names),
		cmocka_unit_test(test_drop_missing_user_changes_nothing),
		cmocka_unit_test(test_drop_nobody),
		cmocka_unit_test(test_drop_primary_group),
		cmocka_unit_test(test_drop_twice),
		cmocka_unit_test_setup_teardown(test_path_ok, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_path_world_writable_file, tree_setup,
						tree_teardown),
		cmocka_unit_test_setup_teardown(test_path_world_writable_dir, tree_setup,
						tree_teardown),
		cmocka_unit_test_setup_teardown(test_path_group_writable, tree_setup,
						tree_teardown),
		cmocka_unit_test_setup_teardown(test_path_sticky_dir, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_path_symlinks, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_path_not_regular, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_path_relative, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_path_in_tmp, tree_setup, tree_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
