/*
 * test_control.c: the control socket against real clients.
 *
 * Each test creates a server in a mkdtemp directory and runs its loop on
 * a thread of its own; the test thread is the client, with plain
 * blocking sockets (5 s receive timeout, so a missing reply fails instead
 * of hanging). The server is stopped through a uv_async, its counters
 * are copied on the loop thread before control_close(), and every test
 * checks that the close callback ran and uv_loop_close() == 0. Handlers
 * registered here cover answers given at once and later (a timer),
 * NOK answers, large answers, nested messages and a "bye" command that
 * answers and closes the server, as the engine's "shutdown" will.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>

#include <cmocka.h>
#include <dirent.h>
#include <jansson.h>
#include <uv.h>

#include "control.h"

/* ------------------------------------------------------------------ */
/* The server under test, on its own thread                           */
/* ------------------------------------------------------------------ */

static struct server {
	uv_loop_t loop;
	uv_async_t stop;
	pthread_t thread;
	struct control *c;
	struct control_stats st; /* copied at stop */
	bool closed;		 /* the close callback ran */
	bool stopped_by_bye;
	char dir[64];
	char path[128];
} S;

static void
on_closed(void *arg)
{
	(void)arg;
	S.closed = true;
}

static void
on_stop(uv_async_t *a)
{
	if (S.c != NULL) {
		control_stats(S.c, &S.st);
		control_close(S.c, on_closed, NULL);
		S.c = NULL;
	}
	uv_close((uv_handle_t *)a, NULL);
}

static void *
server_main(void *arg)
{
	(void)arg;
	uv_run(&S.loop, UV_RUN_DEFAULT);
	return NULL;
}

/* ---- handlers ---- */

static void
cmd_echo(struct control_req *req, void *arg)
{
	char buf[4096];
	int n = control_args_json(req, buf, sizeof(buf));

	(void)arg;
	assert_true(n > 0);
	assert_int_equal(control_msg_json(req, "args", buf, (size_t)n), 0);
	assert_int_equal(control_msg_u64(req, "count", control_arg_count(req)), 0);
	control_reply_msg(req);
}

static void
cmd_fail(struct control_req *req, void *arg)
{
	const char *why = control_arg_str(req, "why");

	(void)arg;
	control_reply_nok(req, "failed: %s", why != NULL ? why : "no reason");
}

static void
later_closed(uv_handle_t *h)
{
	free(h);
}

static void
later_fire(uv_timer_t *t)
{
	struct control_req *req = t->data;

	control_msg_str(req, "said", control_arg_str(req, "say"));
	control_reply_msg(req);
	uv_close((uv_handle_t *)t, later_closed);
}

/* Answers after "ms" milliseconds (default 50). */
static void
cmd_later(struct control_req *req, void *arg)
{
	uv_timer_t *t = malloc(sizeof(*t));
	uint64_t ms = 50;

	(void)arg;
	assert_non_null(t);
	control_arg_u64(req, "ms", &ms);
	uv_timer_init(&S.loop, t);
	t->data = req;
	uv_timer_start(t, later_fire, ms, 0);
}

/* A string message of "size" bytes. */
static void
cmd_big(struct control_req *req, void *arg)
{
	uint64_t size = 0;
	char *s;

	(void)arg;
	assert_int_equal(control_arg_u64(req, "size", &size), 0);
	s = malloc(size + 1);
	assert_non_null(s);
	memset(s, 'x', size);
	s[size] = '\0';
	control_reply_ok(req, s);
	free(s);
}

static void
cmd_nested(struct control_req *req, void *arg)
{
	static const struct eve_counter c[] = {
		{"a.b", 1}, {"d", 3}, {"a.c", 2}, {"a.e.f", 4}, {"big", UINT64_MAX},
	};

	(void)arg;
	assert_int_equal(control_msg_counters(req, c, 5), 0);
	assert_int_equal(control_msg_bool(req, "t", true), 0);
	assert_int_equal(control_msg_i64(req, "neg", -5), 0);
	assert_int_equal(control_msg_double(req, "half", 0.5), 0);
	assert_int_equal(control_msg_str(req, "bad..key", "x"), -EINVAL);
	assert_int_equal(control_msg_str(req, "utf8", "\xff"), -EINVAL);
	assert_int_equal(control_msg_json(req, "j", "{oops", 5), -EINVAL);
	control_reply_msg(req);
}

/* A whole message from JSON text, then a setter on top; or not an object. */
static void
cmd_whole(struct control_req *req, void *arg)
{
	const char *obj = "{\"x\":{\"y\":1}}";

	(void)arg;
	if (control_arg_str(req, "array") != NULL) {
		assert_int_equal(control_msg_json(req, NULL, "[1,2]", 5), 0);
	} else {
		assert_int_equal(control_msg_json(req, NULL, obj, strlen(obj)), 0);
		assert_int_equal(control_msg_u64(req, "x.z", 2), 0);
	}
	control_reply_msg(req);
}

/* Like the engine's "shutdown": answer, then close the server. */
static void
cmd_bye(struct control_req *req, void *arg)
{
	struct control *c = control_req_server(req);

	(void)arg;
	control_reply_ok(req, "bye");
	control_stats(c, &S.st);
	control_close(c, on_closed, NULL);
	S.c = NULL;
	S.stopped_by_bye = true;
}

static void
server_conf(struct control_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	conf->path = S.path;
	conf->uid = (uid_t)-1;
	conf->gid = (gid_t)-1;
	conf->version = "test-1.2.3";
}

static void
server_dir(void)
{
	memset(&S, 0, sizeof(S));
	strcpy(S.dir, "/tmp/darter-ctl-XXXXXX");
	assert_non_null(mkdtemp(S.dir));
	snprintf(S.path, sizeof(S.path), "%s/darter.sock", S.dir);
	assert_int_equal(uv_loop_init(&S.loop), 0);
}

/* Start a server with conf (NULL: defaults) in the directory from server_dir(). */
static void
server_run(const struct control_conf *conf)
{
	struct control_conf def;

	if (conf == NULL) {
		server_conf(&def);
		conf = &def;
	}
	S.c = control_new(&S.loop, conf);
	assert_non_null(S.c);
	assert_int_equal(control_register(S.c, "echo", cmd_echo, NULL), 0);
	assert_int_equal(control_register(S.c, "fail", cmd_fail, NULL), 0);
	assert_int_equal(control_register(S.c, "later", cmd_later, NULL), 0);
	assert_int_equal(control_register(S.c, "big", cmd_big, NULL), 0);
	assert_int_equal(control_register(S.c, "nested", cmd_nested, NULL), 0);
	assert_int_equal(control_register(S.c, "bye", cmd_bye, NULL), 0);
	assert_int_equal(control_register(S.c, "whole", cmd_whole, NULL), 0);
	assert_int_equal(control_register(S.c, "", cmd_bye, NULL), -EINVAL);
	assert_int_equal(control_register(S.c, "x", NULL, NULL), -EINVAL);
	assert_int_equal(uv_async_init(&S.loop, &S.stop, on_stop), 0);
	assert_int_equal(pthread_create(&S.thread, NULL, server_main, NULL), 0);
}

static void
server_start(const struct control_conf *conf)
{
	server_dir();
	server_run(conf);
}

static void
server_stop(void)
{
	uv_async_send(&S.stop);
	assert_int_equal(pthread_join(S.thread, NULL), 0);
	assert_true(S.closed);
	assert_int_equal(uv_loop_close(&S.loop), 0);
}

/* Remove whatever the test left in the directory, then the directory. */
static void
server_cleanup(void)
{
	DIR *d = opendir(S.dir);
	struct dirent *e;
	char p[sizeof(S.dir) + 256 + 2];

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", S.dir, e->d_name);
		unlink(p);
	}
	closedir(d);
	assert_int_equal(rmdir(S.dir), 0);
}

/* Number of entries in the test directory ("." and ".." excluded). */
static int
dir_entries(void)
{
	DIR *d = opendir(S.dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	return n;
}

/* ------------------------------------------------------------------ */
/* The client                                                         */
/* ------------------------------------------------------------------ */

/* Bytes read past the last line, per descriptor (a reply is read in chunks). */
static struct cl_pending {
	char buf[65536];
	size_t len;
} cl_pend[256];

static int
cl_try_connect(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = 5};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	strcpy(a.sun_path, path);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -errno;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_true(fd < 256);
	cl_pend[fd].len = 0;
	return fd;
}

static int
cl_connect(void)
{
	int fd = cl_try_connect(S.path);

	assert_true(fd >= 0);
	return fd;
}

static void
cl_send(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);

		assert_true(w > 0);
		s += w;
		n -= (size_t)w;
	}
}

static void
cl_sends(int fd, const char *s)
{
	cl_send(fd, s, strlen(s));
}

/* Read one line (no '\n') into a malloc'ed string; NULL at EOF. */
static char *
cl_line(int fd)
{
	struct cl_pending *p = &cl_pend[fd];
	size_t cap = 65536, n = 0;
	char *s = malloc(cap);
	char *nl;

	assert_true(fd < 256);
	assert_non_null(s);
	for (;;) {
		ssize_t r;

		nl = memchr(p->buf, '\n', p->len);
		if (nl != NULL)
			break;
		if (n + p->len + 1 > cap) {
			cap = 2 * (n + p->len + 1);
			s = realloc(s, cap);
			assert_non_null(s);
		}
		memcpy(s + n, p->buf, p->len);
		n += p->len;
		p->len = 0;
		r = recv(fd, p->buf, sizeof(p->buf), 0);
		assert_true(r >= 0); /* < 0: the 5 s timeout, no reply */
		if (r == 0) {
			assert_int_equal(n, 0); /* a reply is always a whole line */
			free(s);
			return NULL;
		}
		p->len = (size_t)r;
	}
	if (n + (size_t)(nl - p->buf) + 1 > cap) {
		cap = n + (size_t)(nl - p->buf) + 1;
		s = realloc(s, cap);
		assert_non_null(s);
	}
	memcpy(s + n, p->buf, (size_t)(nl - p->buf));
	n += (size_t)(nl - p->buf);
	p->len -= (size_t)(nl + 1 - p->buf);
	memmove(p->buf, nl + 1, p->len);
	s[n] = '\0';
	return s;
}

/* Read one reply, check its shape; *ok gets its return value; returns its message (owned). */
static json_t *
cl_reply_any(int fd, bool *ok)
{
	char *line = cl_line(fd);
	json_error_t err;
	json_t *r, *msg;

	assert_non_null(line);
	r = json_loads(line, 0, &err);
	if (r == NULL)
		fail_msg("reply is not JSON: %s", line);
	free(line);
	assert_true(json_is_object(r));
	assert_int_equal(json_object_size(r), 2);
	assert_non_null(json_string_value(json_object_get(r, "return")));
	*ok = strcmp(json_string_value(json_object_get(r, "return")), "OK") == 0;
	if (!*ok)
		assert_string_equal(json_string_value(json_object_get(r, "return")), "NOK");
	msg = json_incref(json_object_get(r, "message"));
	assert_non_null(msg);
	if (!*ok)
		assert_true(json_is_string(msg));
	json_decref(r);
	return msg;
}

/* Read one reply and check its return value; returns its message (owned). */
static json_t *
cl_reply(int fd, bool ok)
{
	bool got;
	json_t *msg = cl_reply_any(fd, &got);

	if (got != ok)
		fail_msg("expected %s, got %s", ok ? "OK" : "NOK",
			 json_dumps(msg, JSON_ENCODE_ANY));
	return msg;
}

static json_t *
cl_call(int fd, const char *req, bool ok)
{
	cl_sends(fd, req);
	return cl_reply(fd, ok);
}

/* The server hung up: EOF, or a reset if it left some of our bytes unread. */
static void
cl_expect_eof(int fd)
{
	char b;
	ssize_t r;

	assert_int_equal(cl_pend[fd].len, 0);
	r = recv(fd, &b, 1, 0);

	if (r < 0)
		assert_int_equal(errno, ECONNRESET);
	else
		assert_int_equal(r, 0);
}

static void
msg_has(json_t *msg, const char *substr)
{
	assert_true(json_is_string(msg));
	if (strstr(json_string_value(msg), substr) == NULL)
		fail_msg("\"%s\" not in \"%s\"", substr, json_string_value(msg));
	json_decref(msg);
}

/* ------------------------------------------------------------------ */
/* Tests                                                              */
/* ------------------------------------------------------------------ */

static void
test_mode_default(void **state)
{
	struct stat sb;
	int fd;

	(void)state;
	server_start(NULL);
	assert_int_equal(lstat(S.path, &sb), 0);
	assert_true(S_ISSOCK(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 0660);
	assert_int_equal(dir_entries(), 1); /* the private bind directory is gone */
	fd = cl_connect();
	json_decref(cl_call(fd, "{\"command\":\"version\"}\n", true));
	close(fd);
	server_stop();
	assert_int_equal(lstat(S.path, &sb), -1); /* removed at close */
	server_cleanup();
}

static void
test_mode_custom(void **state)
{
	struct control_conf conf;
	struct stat sb;

	(void)state;
	server_dir();
	server_conf(&conf);
	conf.mode = 0600;
	conf.gid = getgid(); /* chown to what we are: allowed unprivileged */
	server_run(&conf);
	assert_int_equal(lstat(S.path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	assert_int_equal(sb.st_gid, getgid());
	server_stop();
	server_cleanup();
}

static void
test_defaults(void **state)
{
	json_t *m, *list, *v;
	size_t i;
	int fd, found = 0;

	(void)state;
	server_start(NULL);
	fd = cl_connect();
	m = cl_call(fd, "{\"command\":\"version\"}\n", true);
	assert_string_equal(json_string_value(m), "test-1.2.3");
	json_decref(m);
	m = cl_call(fd, "{\"command\":\"uptime\",\"arguments\":{}}\n", true);
	assert_true(json_is_integer(m));
	assert_true(json_integer_value(m) >= 0 && json_integer_value(m) < 60);
	json_decref(m);
	m = cl_call(fd, "{\"command\":\"command-list\"}\n", true);
	list = json_object_get(m, "commands");
	assert_int_equal(json_integer_value(json_object_get(m, "count")), 10);
	json_array_foreach(list, i, v)
	{
		found += strcmp(json_string_value(v), "echo") == 0;
		found += strcmp(json_string_value(v), "uptime") == 0;
	}
	assert_int_equal(found, 2);
	json_decref(m);
	close(fd);
	server_stop();
	assert_int_equal(S.st.requests, 3);
	assert_int_equal(S.st.ok, 3);
	server_cleanup();
}

static void
test_arguments(void **state)
{
	json_t *m;
	int fd;

	(void)state;
	server_start(NULL);
	fd = cl_connect();
	m = cl_call(fd, "{\"command\":\"echo\",\"arguments\":{\"b\":2,\"a\":\"x\"}}\n", true);
	assert_int_equal(json_integer_value(json_object_get(m, "count")), 2);
	assert_string_equal(json_string_value(json_object_get(json_object_get(m, "args"), "a")),
			    "x");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "args"), "b")), 2);
	json_decref(m);
	m = cl_call(fd, "{\"arguments\":null,\"command\":\"echo\"}\n",
		    false); /* null is no object */
	json_decref(m);
	m = cl_call(fd, "{\"command\":\"echo\"}\n", true);
	assert_int_equal(json_integer_value(json_object_get(m, "count")), 0);
	json_decref(m);
	msg_has(cl_call(fd, "{\"command\":\"fail\",\"arguments\":{\"why\":\"because\"}}\n", false),
		"failed: because");
	close(fd);
	server_stop();
	assert_int_equal(S.st.ok, 2);
	assert_int_equal(S.st.nok, 2);
	assert_int_equal(S.st.bad_json, 1);
	server_cleanup();
}

static void
test_nested_message(void **state)
{
	json_t *m;
	int fd;

	(void)state;
	server_start(NULL);
	fd = cl_connect();
	m = cl_call(fd, "{\"command\":\"nested\"}\n", true);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "a"), "b")), 1);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "a"), "c")), 2);
	assert_int_equal(json_integer_value(json_object_get(
				 json_object_get(json_object_get(m, "a"), "e"), "f")),
			 4);
	assert_int_equal(json_integer_value(json_object_get(m, "d")), 3);
	assert_true(json_is_real(json_object_get(m, "big")));
	assert_true(json_is_true(json_object_get(m, "t")));
	assert_int_equal(json_integer_value(json_object_get(m, "neg")), -5);
	assert_true(json_real_value(json_object_get(m, "half")) == 0.5);
	assert_null(json_object_get(m, "utf8"));
	json_decref(m);
	m = cl_call(fd, "{\"command\":\"whole\"}\n", true);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "x"), "y")), 1);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "x"), "z")), 2);
	json_decref(m);
	m = cl_call(fd, "{\"command\":\"whole\",\"arguments\":{\"array\":\"1\"}}\n", true);
	assert_true(json_is_array(m));
	assert_int_equal(json_array_size(m), 2);
	json_decref(m);
	close(fd);
	server_stop();
	server_cleanup();
}

/* Every malformed line gets NOK and the connection goes on. */
static void
test_malformed(void **state)
{
	static const char *const bad[] = {
		"not json",
		"{",
		"[1,2]",
		"\"command\"",
		"42",
		"{\"command\":1}",
		"{\"arguments\":{}}",
		"{\"command\":\"echo\",\"arguments\":[1]}",
		"{\"command\":\"echo\"} {\"command\":\"echo\"}",
		"{\"command\":\"echo\",\"command\":\"echo\"}",
		"{\"command\":\"\xff\"}",
		"{\"command\":\"echo\"\x01}",
		"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
	};
	size_t n = sizeof(bad) / sizeof(bad[0]);
	char *deep = malloc(60001);
	json_t *m;
	int fd;

	(void)state;
	server_start(NULL);
	fd = cl_connect();
	for (size_t i = 0; i < n; i++) {
		cl_sends(fd, bad[i]);
		cl_sends(fd, "\n");
		json_decref(cl_reply(fd, false));
	}
	/* an embedded NUL */
	cl_send(fd, "{\"command\":\"ec\0ho\"}\n", 20);
	json_decref(cl_reply(fd, false));
	/* deep nesting: jansson's depth limit, not our stack */
	memset(deep, '[', 60000);
	deep[60000] = '\n';
	cl_send(fd, deep, 60001);
	json_decref(cl_reply(fd, false));
	free(deep);
	msg_has(cl_call(fd, "{\"command\":\"nope\"}\n", false), "unknown command \"nope\"");
	m = cl_call(fd, "{\"command\":\"version\"}\n", true);
	json_decref(m);
	close(fd);
	server_stop();
	assert_int_equal(S.st.bad_json, n + 2);
	assert_int_equal(S.st.unknown, 1);
	assert_int_equal(S.st.nok, n + 3);
	assert_int_equal(S.st.ok, 1);
	server_cleanup();
}

/* Requests back to back in one write, one answered later: replies in order. */
static void
test_pipelined(void **state)
{
	json_t *m;
	int fd;

	(void)state;
	server_start(NULL);
	fd = cl_connect();
	cl_sends(fd, "{\"command\":\"echo\",\"arguments\":{\"n\":1}}\n"
		     "{\"command\":\"later\",\"arguments\":{\"say\":\"hi\"}}\n"
		     "\n \r\n"
		     "{\"command\":\"echo\",\"arguments\":{\"n\":3}}\r\n"
		     "bad\n"
		     "{\"command\":\"version\"}");
	m = cl_reply(fd, true);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "args"), "n")), 1);
	json_decref(m);
	m = cl_reply(fd, true);
	assert_string_equal(json_string_value(json_object_get(m, "said")), "hi");
	json_decref(m);
	m = cl_reply(fd, true);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "args"), "n")), 3);
	json_decref(m);
	json_decref(cl_reply(fd, false));
	/* the last request has no '\n' yet: no reply until it comes, or EOF */
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	m = cl_reply(fd, true);
	assert_string_equal(json_string_value(m), "test-1.2.3");
	json_decref(m);
	cl_expect_eof(fd);
	close(fd);
	server_stop();
	assert_int_equal(S.st.requests, 5); /* blank lines are not requests */
	server_cleanup();
}

/* A request trickling in one byte per write. */
static void
test_split(void **state)
{
	const char *req = "{\"command\":\"echo\",\"arguments\":{\"k\":\"v\"}}\r\n";
	json_t *m;
	int fd;

	(void)state;
	server_start(NULL);
	fd = cl_connect();
	for (size_t i = 0; req[i] != '\0'; i++) {
		cl_send(fd, req + i, 1);
		if (i % 8 == 0)
			usleep(1000);
	}
	m = cl_reply(fd, true);
	assert_string_equal(json_string_value(json_object_get(json_object_get(m, "args"), "k")),
			    "v");
	json_decref(m);
	close(fd);
	server_stop();
	server_cleanup();
}

/* A line of exactly max_request bytes is fine; one more byte closes the connection. */
static void
test_oversize(void **state)
{
	const size_t max = CONTROL_DEFAULT_MAX_REQUEST;
	const char *req = "{\"command\":\"version\"}";
	char *line = malloc(max + 16);
	json_t *m;
	int fd;

	(void)state;
	server_start(NULL);
	fd = cl_connect();
	memset(line, ' ', max + 16);
	memcpy(line, req, strlen(req));
	line[max] = '\n';
	cl_send(fd, line, max + 1);
	m = cl_reply(fd, true);
	json_decref(m);
	/* max + 1 bytes and no newline: NOK, then the server hangs up */
	line[max] = ' ';
	cl_send(fd, line, max + 1);
	msg_has(cl_reply(fd, false), "longer than 65536");
	cl_expect_eof(fd);
	close(fd);
	/* with a '\r': it counts */
	fd = cl_connect();
	line[max - 1] = '\r';
	line[max] = '\n';
	cl_send(fd, line, max + 1);
	json_decref(cl_reply(fd, true));
	close(fd);
	free(line);
	server_stop();
	assert_int_equal(S.st.oversize, 1);
	assert_int_equal(S.st.ok, 2);
	server_cleanup();
}

static void
test_small_max_request(void **state)
{
	struct control_conf conf;
	char line[200];
	int fd;

	(void)state;
	server_dir();
	server_conf(&conf);
	conf.max_request = 100;
	server_run(&conf);
	fd = cl_connect();
	memset(line, 'a', sizeof(line));
	cl_send(fd, line, sizeof(line)); /* 200 bytes, no newline */
	msg_has(cl_reply(fd, false), "longer than 100");
	cl_expect_eof(fd);
	close(fd);
	server_stop();
	assert_int_equal(S.st.oversize, 1);
	server_cleanup();
}

/* A third client is told why and closed; a slot freed is a slot reused. */
static void
test_max_clients(void **state)
{
	struct control_conf conf;
	int a, b, c, d = -1;
	json_t *m;

	(void)state;
	server_dir();
	server_conf(&conf);
	conf.max_clients = 2;
	server_run(&conf);
	a = cl_connect();
	json_decref(cl_call(a, "{\"command\":\"version\"}\n", true));
	b = cl_connect();
	json_decref(cl_call(b, "{\"command\":\"version\"}\n", true));
	c = cl_connect();
	msg_has(cl_reply(c, false), "too many clients (2)");
	cl_expect_eof(c);
	close(c);
	close(a);
	for (int i = 0; i < 200; i++) { /* the server sees a's close soon */
		bool ok;

		d = cl_connect();
		cl_sends(d, "{\"command\":\"version\"}\n");
		m = cl_reply_any(d, &ok);
		json_decref(m);
		if (ok)
			break;
		close(d);
		usleep(10000);
	}
	json_decref(cl_call(d, "{\"command\":\"version\"}\n", true));
	close(d);
	close(b);
	server_stop();
	assert_true(S.st.rejected >= 1);
	assert_int_equal(S.st.accepted, 3 + S.st.rejected);
	server_cleanup();
}

/* Clients that vanish while their reply is written, or before it is ready. */
static void
test_vanish(void **state)
{
	char buf[100];
	json_t *m;
	int fd;

	(void)state;
	signal(SIGPIPE, SIG_IGN); /* as darter's main does */
	server_start(NULL);
	fd = cl_connect();
	cl_sends(fd, "{\"command\":\"big\",\"arguments\":{\"size\":8388608}}\n");
	assert_int_equal(recv(fd, buf, sizeof(buf), MSG_WAITALL), sizeof(buf));
	close(fd);
	fd = cl_connect();
	cl_sends(fd, "{\"command\":\"later\",\"arguments\":{\"ms\":20}}\n");
	close(fd);
	usleep(100000);
	fd = cl_connect();
	m = cl_call(fd, "{\"command\":\"version\"}\n", true);
	json_decref(m);
	close(fd);
	server_stop();
	assert_int_equal(S.st.write_errors + S.st.orphaned, 2);
	server_cleanup();
}

/* A big reply is delivered whole. */
static void
test_big_reply(void **state)
{
	json_t *m;
	int fd;

	(void)state;
	server_start(NULL);
	fd = cl_connect();
	m = cl_call(fd, "{\"command\":\"big\",\"arguments\":{\"size\":1000000}}\n", true);
	assert_int_equal(strlen(json_string_value(m)), 1000000);
	json_decref(m);
	close(fd);
	server_stop();
	server_cleanup();
}

static void
test_idle_timeout(void **state)
{
	struct control_conf conf;
	struct timespec t0, t1;
	int fd;

	(void)state;
	server_dir();
	server_conf(&conf);
	conf.idle_timeout_ms = 100;
	server_run(&conf);
	fd = cl_connect();
	/* a slow handler is not the client's fault */
	json_decref(cl_call(fd, "{\"command\":\"later\",\"arguments\":{\"ms\":250}}\n", true));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cl_expect_eof(fd);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 3);
	close(fd);
	server_stop();
	assert_int_equal(S.st.timeouts, 1);
	assert_int_equal(S.st.ok, 1);
	server_cleanup();
}

/* A socket file nobody listens on (a crash) is replaced. */
static void
test_stale_socket(void **state)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int s, fd;

	(void)state;
	server_dir();
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	strcpy(a.sun_path, S.path);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	close(s);
	assert_int_equal(cl_try_connect(S.path), -ECONNREFUSED);
	server_run(NULL);
	fd = cl_connect();
	json_decref(cl_call(fd, "{\"command\":\"version\"}\n", true));
	close(fd);
	server_stop();
	server_cleanup();
}

/* A live server is never taken over; a file that is no socket is never removed. */
static void
test_path_in_use(void **state)
{
	struct control_conf conf;
	uv_loop_t loop;
	char buf[16] = {0};
	FILE *f;
	int fd;

	(void)state;
	server_start(NULL);
	assert_int_equal(uv_loop_init(&loop), 0);
	server_conf(&conf);
	errno = 0;
	assert_null(control_new(&loop, &conf));
	assert_int_equal(errno, EADDRINUSE);
	fd = cl_connect(); /* the first server still answers */
	json_decref(cl_call(fd, "{\"command\":\"version\"}\n", true));
	close(fd);
	server_stop();

	f = fopen(S.path, "w");
	assert_non_null(f);
	fputs("keep me", f);
	fclose(f);
	errno = 0;
	assert_null(control_new(&loop, &conf));
	assert_int_equal(errno, EEXIST);
	f = fopen(S.path, "r");
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	assert_string_equal(buf, "keep me");
	assert_int_equal(dir_entries(), 1);

	conf.path = "/tmp/darter-no-such-dir/x.sock";
	errno = 0;
	assert_null(control_new(&loop, &conf));
	assert_int_equal(errno, ENOENT);
	conf.path =
		"/tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock";
	errno = 0;
	assert_null(control_new(&loop, &conf));
	assert_int_equal(errno, ENAMETOOLONG);
	conf.path = "";
	assert_null(control_new(&loop, &conf));
	assert_int_equal(errno, EINVAL);
	conf.path = S.path;
	conf.mode = 010000;
	assert_null(control_new(&loop, &conf));
	assert_int_equal(errno, EINVAL);
	assert_int_equal(uv_run(&loop, UV_RUN_NOWAIT), 0);
	assert_int_equal(uv_loop_close(&loop), 0);
	server_cleanup();
}

/* At close, a file that replaced our socket is left alone. */
static void
test_close_keeps_foreign_file(void **state)
{
	char moved[160];
	struct stat sb;
	FILE *f;

	(void)state;
	server_start(NULL);
	snprintf(moved, sizeof(moved), "%s/moved.sock", S.dir);
	assert_int_equal(rename(S.path, moved), 0);
	f = fopen(S.path, "w");
	assert_non_null(f);
	fclose(f);
	server_stop();
	assert_int_equal(lstat(S.path, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	server_cleanup();
}

/* "bye" answers, then closes the server: the answer is flushed before the hang-up. */
static void
test_close_from_handler(void **state)
{
	int fd, other;

	(void)state;
	server_start(NULL);
	other = cl_connect();
	json_decref(cl_call(other, "{\"command\":\"version\"}\n", true));
	fd = cl_connect();
	msg_has(cl_call(fd, "{\"command\":\"bye\"}\n", true), "bye");
	cl_expect_eof(fd);
	cl_expect_eof(other);
	close(fd);
	close(other);
	assert_int_equal(cl_try_connect(S.path), -ENOENT);
	server_stop();
	assert_true(S.stopped_by_bye);
	server_cleanup();
}

/* Closing with a request held: the close callback waits for its answer. */
static void
test_close_with_pending(void **state)
{
	int fd;

	(void)state;
	server_start(NULL);
	fd = cl_connect();
	cl_sends(fd, "{\"command\":\"later\",\"arguments\":{\"ms\":200}}\n");
	usleep(50000); /* the request is held by now */
	server_stop(); /* joins only once the loop is empty: after the answer */
	cl_expect_eof(fd);
	close(fd);
	server_cleanup();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mode_default),
		cmocka_unit_test(test_mode_custom),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_arguments),
		cmocka_unit_test(test_nested_message),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_oversize),
		cmocka_unit_test(test_small_max_request),
		cmocka_unit_test(test_max_clients),
		cmocka_unit_test(test_vanish),
		cmocka_unit_test(test_big_reply),
		cmocka_unit_test(test_idle_timeout),
		cmocka_unit_test(test_stale_socket),
		cmocka_unit_test(test_path_in_use),
		cmocka_unit_test(test_close_keeps_foreign_file),
		cmocka_unit_test(test_close_from_handler),
		cmocka_unit_test(test_close_with_pending),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
