/*
 * privdrop.h: give up root once DPDK and the sockets are set up, and
 * refuse analyzer scripts that someone else could have rewritten.
 *
 * A live sensor starts as root (hugepages, vfio, AF_PACKET, the control
 * socket under /run) and then has no use for it: privdrop_drop() turns
 * the whole process (every thread: glibc applies set*id to all of them)
 * into the configured user and group, with no supplementary group and no
 * capability left, and proves it could not go back. Names are resolved
 * before anything changes, so a typo in the config is a clear error while
 * still root, not a half-dropped process.
 *
 * privdrop_check_path() is the rule analyzer scripts must pass before a
 * worker loads them (at start and at every reload): see privdrop.c for
 * the rule and why it is the safe one.
 *
 * Not here: config keys (main passes the names), chroot, seccomp,
 * no_new_privs (per thread in Linux; systemd's NoNewPrivileges= sets it
 * for the whole process: conf/darter.service).
 */
#ifndef DARTER_PRIVDROP_H
#define DARTER_PRIVDROP_H

#include <stddef.h>
#include <sys/types.h>

/* Longest user or group name accepted (as useradd's 32, with room). */
#define PRIVDROP_NAME_MAX 64

/* Who to become; filled by privdrop_resolve(). */
struct privdrop_target {
	uid_t uid;
	gid_t gid;
	char user[PRIVDROP_NAME_MAX];
	char group[PRIVDROP_NAME_MAX];
};

/*
 * Look up user (and group; NULL or "" means the user's primary group)
 * with getpwnam_r/getgrnam_r into *t. Changes nothing. Returns 0;
 * -ENOENT when the user or group does not exist; -EINVAL for an empty
 * or too long name, or for user root (uid 0: that is no drop); -errno
 * when the lookup itself fails. err gets the reason, naming the name.
 * Any thread.
 */
int privdrop_resolve(const char *user, const char *group, struct privdrop_target *t, char *err,
		     size_t errlen);

/*
 * Become t for good: supplementary groups set to t->gid alone, then the
 * real, effective and saved gid, then uid. Then verify: every id is t's,
 * the only group is t->gid, no capability is effective or permitted, and
 * setuid(0) fails. Already running as exactly t: 0, nothing done. Not
 * root and not t: -EPERM. Returns 0 or -errno with the reason in err;
 * on error after a change began the process is in an unknown state and
 * the caller must exit. Call from one thread while the others are not
 * changing credentials themselves (glibc applies the change to all).
 */
int privdrop_apply(const struct privdrop_target *t, char *err, size_t errlen);

/* privdrop_resolve() then privdrop_apply(); same errors. */
int privdrop_drop(const char *user, const char *group, char *err, size_t errlen);

/*
 * 0 when the file at path is safe to run as an analyzer: a regular file,
 * and neither it nor any directory up to / (along the path as written
 * and along the path with symlinks resolved) could be rewritten by
 * another unprivileged user (the rule is in privdrop.c). -EPERM when it
 * could, -EINVAL when it is not a regular file, -ENOENT (or another
 * -errno from lstat/realpath) when it cannot be checked; err names the
 * offending file or directory and its mode or owner. Relative paths are
 * taken from the current directory. Any thread.
 */
int privdrop_check_path(const char *path, char *err, size_t errlen);

#endif
