/*
 * privdrop.c: become an unprivileged user for good; vet analyzer paths.
 *
 * The drop, in the order that cannot leave a gap: resolve both names
 * first (nothing changes if either is missing), then setgroups() to the
 * target group alone (supplementary groups would otherwise survive,
 * root's included), setresgid(), and setresuid() last (after it, the
 * group calls would be refused). Real, effective and saved ids all
 * change, so there is no saved root to return to; Linux clears the
 * permitted and effective capabilities when the uids leave 0, as long
 * as keep-caps is off, which we make sure of. glibc runs each set*id
 * call on every thread of the process, so DPDK's lcores, the interrupt
 * thread and the workers started before the drop change too. Then we
 * check instead of trusting: every id, the group list and the
 * capability sets of this thread through syscalls, of every thread
 * through /proc/self/task (when /proc is there), and that setuid(0)
 * and setgid(0) fail.
 *
 * The path rule (privdrop_check_path), the one OpenSSH's StrictModes
 * and sudo apply to what they trust: a script runs with darter's
 * rights, so nobody but root and darter's own user may be able to
 * change what it says. For the file and each directory from it up to
 * /, along the path as written and along the path with every symlink
 * resolved (an attacker's symlink or an attacker's ancestor directory
 * each redirect the load):
 *  - not writable by others (o+w), nor by a group other than root's or
 *    darter's own (g+w): whoever can write a directory can replace the
 *    file in it; whoever can write the file can change it;
 *  - except a directory that is sticky and owned by root (/tmp): there
 *    only an entry's owner can replace it, so the entry below must be
 *    owned by root or by the user darter runs as;
 *  - the file is a regular file (not a device, not a FIFO).
 * Not checked: ACLs and file ownership by other users in directories
 * only root can write (their owners can chmod them: we check the mode
 * as it is when loading, at every load).
 */
#define _GNU_SOURCE
#include "privdrop.h"

#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/capability.h>

#define PRIVDROP_PWBUF	 16384
#define PRIVDROP_NGROUPS 64

/* err = "<what>: <errno text>"; returns -errno (saved before formatting). */
static int
privdrop_sys(char *err, size_t errlen, const char *what)
{
	int e = errno != 0 ? errno : EIO;

	snprintf(err, errlen, "%s: %s", what, strerror(e));
	return -e;
}

/* ------------------------------------------------------------ resolve */

static int
privdrop_name_ok(const char *what, const char *name, char *err, size_t errlen)
{
	if (name[0] == '\0' || strlen(name) >= PRIVDROP_NAME_MAX) {
		snprintf(err, errlen, "%s name \"%.80s\" is empty or longer than %d bytes", what,
			 name, PRIVDROP_NAME_MAX - 1);
		return -EINVAL;
	}
	return 0;
}

static int
privdrop_lookup_user(const char *user, struct privdrop_target *t, char *err, size_t errlen)
{
	struct passwd pw, *res = NULL;
	char *buf = malloc(PRIVDROP_PWBUF);
	int rc;

	if (buf == NULL) {
		snprintf(err, errlen, "out of memory looking up user %s", user);
		return -ENOMEM;
	}
	rc = getpwnam_r(user, &pw, buf, PRIVDROP_PWBUF, &res);
	if (rc != 0) {
		snprintf(err, errlen, "cannot look up user %s: %s", user, strerror(rc));
		rc = -rc;
	} else if (res == NULL) {
		snprintf(err, errlen, "user %s does not exist", user);
		rc = -ENOENT;
	} else {
		t->uid = pw.pw_uid;
		t->gid = pw.pw_gid;
		snprintf(t->user, sizeof(t->user), "%s", user);
	}
	free(buf);
	return rc;
}

static int
privdrop_lookup_group(const char *group, struct privdrop_target *t, char *err, size_t errlen)
{
	struct group gr, *res = NULL;
	char *buf = malloc(PRIVDROP_PWBUF);
	int rc;

	if (buf == NULL) {
		snprintf(err, errlen, "out of memory looking up group %s", group);
		return -ENOMEM;
	}
	rc = getgrnam_r(group, &gr, buf, PRIVDROP_PWBUF, &res);
	if (rc != 0) {
		snprintf(err, errlen, "cannot look up group %s: %s", group, strerror(rc));
		rc = -rc;
	} else if (res == NULL) {
		snprintf(err, errlen, "group %s does not exist", group);
		rc = -ENOENT;
	} else {
		t->gid = gr.gr_gid;
		snprintf(t->group, sizeof(t->group), "%s", group);
	}
	free(buf);
	return rc;
}

int
privdrop_resolve(const char *user, const char *group, struct privdrop_target *t, char *err,
		 size_t errlen)
{
	int rc;

	memset(t, 0, sizeof(*t));
	if (user == NULL)
		user = "";
	rc = privdrop_name_ok("user", user, err, errlen);
	if (rc == 0)
		rc = privdrop_lookup_user(user, t, err, errlen);
	if (rc != 0)
		return rc;
	if (t->uid == 0) {
		snprintf(err, errlen, "user %s has uid 0: running as it drops nothing", user);
		return -EINVAL;
	}
	if (group != NULL && group[0] != '\0') {
		rc = privdrop_name_ok("group", group, err, errlen);
		return rc != 0 ? rc : privdrop_lookup_group(group, t, err, errlen);
	}
	snprintf(t->group, sizeof(t->group), "%u", (unsigned)t->gid);
	return 0;
}

/* ------------------------------------------------------------- verify */

/* Whether this thread already runs as t exactly (ids and groups). */
static int
privdrop_is_target(const struct privdrop_target *t)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg, groups[PRIVDROP_NGROUPS];
	int n;

	if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0)
		return 0;
	if (ru != t->uid || eu != t->uid || su != t->uid)
		return 0;
	if (rg != t->gid || eg != t->gid || sg != t->gid)
		return 0;
	n = getgroups(PRIVDROP_NGROUPS, groups);
	if (n < 0)
		return 0;
	for (int k = 0; k < n; k++)
		if (groups[k] != t->gid)
			return 0;
	return 1;
}

/* This thread's permitted and effective capability sets are empty. */
static int
privdrop_caps_empty(char *err, size_t errlen)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data) != 0)
		return privdrop_sys(err, errlen, "capget");
	for (int k = 0; k < 2; k++) {
		if (data[k].permitted != 0 || data[k].effective != 0) {
			snprintf(err, errlen, "capabilities left after the drop (permitted %#x)",
				 data[k].permitted);
			return -EPERM;
		}
	}
	return 0;
}

/* Check one /proc/self/task/N/status line "Key:\tv1\tv2..." against want. */
static int
privdrop_status_line(const char *line, const char *key, unsigned long want, int hex)
{
	size_t klen = strlen(key);
	const char *p;
	char *end;

	if (strncmp(line, key, klen) != 0)
		return 0;
	for (p = line + klen; *p != '\0' && *p != '\n';) {
		unsigned long v = strtoul(p, &end, hex ? 16 : 10);
		if (end == p)
			break;
		if (v != want)
			return -EPERM;
		p = end;
	}
	return 0;
}

static int
privdrop_task_ok(const char *tid, const struct privdrop_target *t, char *err, size_t errlen)
{
	char path[64], line[512];
	FILE *f;
	int rc = 0;

	snprintf(path, sizeof(path), "/proc/self/task/%.20s/status", tid);
	f = fopen(path, "r");
	if (f == NULL)
		return 0; /* the thread ended meanwhile */
	while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
		rc = privdrop_status_line(line, "Uid:", t->uid, 0);
		if (rc == 0)
			rc = privdrop_status_line(line, "Gid:", t->gid, 0);
		if (rc == 0)
			rc = privdrop_status_line(line, "Groups:", t->gid, 0);
		if (rc == 0)
			rc = privdrop_status_line(line, "CapPrm:", 0, 1);
		if (rc == 0)
			rc = privdrop_status_line(line, "CapEff:", 0, 1);
		if (rc != 0)
			snprintf(err, errlen, "thread %s kept a privilege: %.*s", tid,
				 (int)strcspn(line, "\n"), line);
	}
	fclose(f);
	return rc;
}

/* Every thread's ids, groups and capabilities, as the kernel shows them. */
static int
privdrop_tasks_ok(const struct privdrop_target *t, char *err, size_t errlen)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int rc = 0;

	if (d == NULL)
		return 0; /* no /proc (a chroot): this thread was checked directly */
	while (rc == 0 && (e = readdir(d)) != NULL) {
		if (e->d_name[0] != '.')
			rc = privdrop_task_ok(e->d_name, t, err, errlen);
	}
	closedir(d);
	return rc;
}

static int
privdrop_verify(const struct privdrop_target *t, char *err, size_t errlen)
{
	int rc;

	if (!privdrop_is_target(t)) {
		snprintf(err, errlen, "ids or groups are not %s:%s after the drop", t->user,
			 t->group);
		return -EPERM;
	}
	rc = privdrop_caps_empty(err, errlen);
	if (rc == 0)
		rc = privdrop_tasks_ok(t, err, errlen);
	if (rc != 0)
		return rc;
	if (setuid(0) == 0 || setgid(0) == 0) {
		snprintf(err, errlen, "root could be regained after dropping to %s", t->user);
		return -EPERM;
	}
	return 0;
}

/* --------------------------------------------------------------- drop */

int
privdrop_apply(const struct privdrop_target *t, char *err, size_t errlen)
{
	if (privdrop_is_target(t))
		return privdrop_verify(t, err, errlen);
	if (geteuid() != 0) {
		snprintf(err, errlen, "running as uid %u, not root: cannot become %s",
			 (unsigned)geteuid(), t->user);
		return -EPERM;
	}
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0)
		return privdrop_sys(err, errlen, "prctl(PR_SET_KEEPCAPS, 0)");
	if (setgroups(1, &t->gid) != 0)
		return privdrop_sys(err, errlen, "setgroups");
	if (setresgid(t->gid, t->gid, t->gid) != 0)
		return privdrop_sys(err, errlen, "setresgid");
	if (setresuid(t->uid, t->uid, t->uid) != 0)
		return privdrop_sys(err, errlen, "setresuid");
	return privdrop_verify(t, err, errlen);
}

int
privdrop_drop(const char *user, const char *group, char *err, size_t errlen)
{
	struct privdrop_target t;
	int rc = privdrop_resolve(user, group, &t, err, errlen);

	return rc != 0 ? rc : privdrop_apply(&t, err, errlen);
}

/* --------------------------------------------------------- path check */

/* A directory anyone may create entries in, where only owners may replace them. */
static int
privdrop_sticky_shared(const struct stat *st)
{
	return S_ISDIR(st->st_mode) && (st->st_mode & S_ISVTX) && st->st_uid == 0 &&
	       (st->st_mode & (S_IWGRP | S_IWOTH));
}

/* One entry of a walk; parent is the directory holding it (NULL for /). */
static int
privdrop_entry_ok(const char *p, const struct stat *st, const struct stat *parent, char *err,
		  size_t errlen)
{
	if (parent != NULL && privdrop_sticky_shared(parent) && st->st_uid != 0 &&
	    st->st_uid != geteuid()) {
		snprintf(err, errlen, "%s is owned by uid %u in a shared sticky directory", p,
			 (unsigned)st->st_uid);
		return -EPERM;
	}
	if (S_ISLNK(st->st_mode) || privdrop_sticky_shared(st))
		return 0;
	if (st->st_mode & S_IWOTH) {
		snprintf(err, errlen, "%s is world-writable (mode %04o)", p,
			 (unsigned)(st->st_mode & 07777));
		return -EPERM;
	}
	if ((st->st_mode & S_IWGRP) && st->st_gid != 0 && st->st_gid != getegid()) {
		snprintf(err, errlen, "%s is writable by group %u (mode %04o)", p,
			 (unsigned)st->st_gid, (unsigned)(st->st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

/* lstat, and for a symlink also its target (checked, and the parent of what follows). */
static int
privdrop_step(const char *p, struct stat *st, const struct stat *parent, char *err, size_t errlen)
{
	int rc;

	if (lstat(p, st) != 0)
		return privdrop_sys(err, errlen, p);
	rc = privdrop_entry_ok(p, st, parent, err, errlen);
	if (rc != 0 || !S_ISLNK(st->st_mode))
		return rc;
	if (stat(p, st) != 0)
		return privdrop_sys(err, errlen, p);
	return privdrop_entry_ok(p, st, NULL, err, errlen);
}

/* Walk the absolute path abs from / down to its last component. */
static int
privdrop_walk(const char *abs, const char *script, char *err, size_t errlen)
{
	char prefix[PATH_MAX];
	struct stat parent, st;
	size_t n = strlen(abs);
	int rc = privdrop_step("/", &parent, NULL, err, errlen);

	for (size_t i = 1; rc == 0 && i <= n; i++) {
		if ((i < n && abs[i] != '/') || abs[i - 1] == '/')
			continue;
		memcpy(prefix, abs, i);
		prefix[i] = '\0';
		rc = privdrop_step(prefix, &st, &parent, err, errlen);
		parent = st;
	}
	if (rc == 0 && !S_ISREG(parent.st_mode)) {
		snprintf(err, errlen, "%s is not a regular file", script);
		return -EINVAL;
	}
	return rc;
}

/* path made absolute (from the current directory) in out. */
static int
privdrop_absolute(const char *path, char *out, size_t len, char *err, size_t errlen)
{
	char cwd[PATH_MAX];

	if (path[0] == '/') {
		if (strlen(path) >= len)
			goto toolong;
		snprintf(out, len, "%s", path);
		return 0;
	}
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return privdrop_sys(err, errlen, "getcwd");
	if ((size_t)snprintf(out, len, "%s/%s", cwd, path) < len)
		return 0;
toolong:
	snprintf(err, errlen, "%.200s...: path too long", path);
	return -ENAMETOOLONG;
}

int
privdrop_check_path(const char *path, char *err, size_t errlen)
{
	char abs[PATH_MAX], real[PATH_MAX];
	int rc;

	if (path == NULL || path[0] == '\0') {
		snprintf(err, errlen, "empty analyzer path");
		return -EINVAL;
	}
	rc = privdrop_absolute(path, abs, sizeof(abs), err, errlen);
	if (rc == 0)
		rc = privdrop_walk(abs, path, err, errlen);
	if (rc != 0)
		return rc;
	if (realpath(abs, real) == NULL)
		return privdrop_sys(err, errlen, path);
	return strcmp(abs, real) == 0 ? 0 : privdrop_walk(real, path, err, errlen);
}
