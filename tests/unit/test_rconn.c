/*
 * test_rconn.c: the Redis client against a real redis-server.
 *
 * Each test starts its own redis-server on a free loopback port (found by
 * binding 127.0.0.1:0 and closing the socket), in a mkdtemp directory,
 * with no persistence, and kills it by PID at the end; the child also
 * dies with us (PR_SET_PDEATHSIG) if a test crashes. Servers are killed
 * (SIGKILL), stopped (SIGSTOP) and restarted on the same port to see
 * every failure reach the callbacks exactly once. Every test runs its
 * loop to completion and checks uv_loop_close() == 0. A watchdog alarm
 * fails a test that hangs and still kills its server. Without
 * redis-server the program exits 77 (skip).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <uv.h>

#include "rconn.h"

#define TEST_ALARM_S 60 /* a test that takes longer has hung */

/* ------------------------------------------------------------------ */
/* The server under test                                              */
/* ------------------------------------------------------------------ */

static struct server {
	pid_t pid; /* 0: not running */
	uint16_t port;
	char dir[64];
	char log[128];
} S;

static uint16_t
free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	close(fd);
	return ntohs(a.sin_port);
}

/* One blocking PING over a fresh socket: is the server answering? */
static bool
server_ping(uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
	char buf[16] = {0};
	bool ok = false;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return false;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && write(fd, "PING\r\n", 6) == 6 &&
	    read(fd, buf, 7) == 7)
		ok = memcmp(buf, "+PONG\r\n", 7) == 0;
	close(fd);
	return ok;
}

static void
server_exec(void)
{
	char port[8];
	int fd = open(S.log, O_WRONLY | O_CREAT | O_APPEND, 0600);

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (fd >= 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
	}
	snprintf(port, sizeof(port), "%u", (unsigned)S.port);
	execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "",
	       "--appendonly", "no", "--daemonize", "no", "--dir", S.dir, (char *)NULL);
	_exit(127);
}

/* Start redis-server on S.port and wait until it answers PING. */
static void
server_start(void)
{
	int status;

	assert_int_equal(S.pid, 0);
	S.pid = fork();
	assert_true(S.pid >= 0);
	if (S.pid == 0)
		server_exec();
	for (int i = 0; i < 500; i++) {
		if (server_ping(S.port))
			return;
		if (waitpid(S.pid, &status, WNOHANG) == S.pid) {
			S.pid = 0;
			fail_msg("redis-server exited early, see %s", S.log);
		}
		usleep(10000);
	}
	fail_msg("redis-server on port %u does not answer PING", (unsigned)S.port);
}

static void
server_signal(int sig)
{
	assert_true(S.pid > 0);
	assert_int_equal(kill(S.pid, sig), 0);
}

/* Kill our server, by PID, and reap it. */
static void
server_kill(void)
{
	if (S.pid <= 0)
		return;
	kill(S.pid, SIGCONT);
	kill(S.pid, SIGKILL);
	waitpid(S.pid, NULL, 0);
	S.pid = 0;
}

static void
dir_remove(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char file[512];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
		unlink(file);
	}
	closedir(d);
	rmdir(path);
}

/* A test hung: kill our server, remove its directory, fail. Signal-safe calls only. */
static void
on_alarm(int sig)
{
	static const char msg[] = "not ok - test_rconn: hung, killed by the watchdog\n";

	(void)sig;
	if (S.pid > 0)
		kill(S.pid, SIGKILL);
	unlink(S.log);
	rmdir(S.dir);
	_exit(write(STDOUT_FILENO, msg, sizeof(msg) - 1) < 0 ? 2 : 1);
}

/* ------------------------------------------------------------------ */
/* Test state, fixtures, helpers                                      */
/* ------------------------------------------------------------------ */

/* One command's outcome, copied out of its callback. */
struct rec {
	int calls;
	enum rconn_result res;
	enum rconn_type type;
	long long integer;
	char str[256];
	size_t len;
	size_t elements;
	char el[4][32];
};

#define MAX_RECS 32
#define MAX_CMDS 100000

typedef void (*stage_fn)(struct rconn *c);

static struct {
	uv_loop_t loop;
	struct rconn *c;
	int closed; /* close callbacks seen */
	int calls_at_close;
	int outstanding; /* commands of the current stage not answered */
	stage_fn next;	 /* runs when outstanding drops to 0 */
	struct rec rec[MAX_RECS];
	struct rconn_stats st;
	long long sent, done, ok, failed;
	int calls;
	bool flag;
	uv_timer_t tick;
	int phase;
	double t0, t1;
	uint8_t counts[MAX_CMDS];
} T;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double
cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

static int
setup_port(void **state)
{
	(void)state;
	memset(&T, 0, sizeof(T));
	snprintf(S.dir, sizeof(S.dir), "/tmp/test_rconn.XXXXXX");
	assert_non_null(mkdtemp(S.dir));
	snprintf(S.log, sizeof(S.log), "%s/redis.log", S.dir);
	S.port = free_port();
	S.pid = 0;
	assert_int_equal(uv_loop_init(&T.loop), 0);
	alarm(TEST_ALARM_S);
	return 0;
}

static int
setup_server(void **state)
{
	setup_port(state);
	server_start();
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	alarm(0);
	server_kill();
	dir_remove(S.dir);
	return 0;
}

static struct rconn_conf
conf_for(uint32_t timeout_ms, uint32_t window)
{
	struct rconn_conf conf = {
		.host = "127.0.0.1",
		.port = S.port,
		.timeout_ms = timeout_ms,
		.backoff_min_ms = 10,
		.backoff_max_ms = 100,
		.max_pending = window,
	};
	return conf;
}

static void
on_closed(void *arg)
{
	(void)arg;
	T.closed++;
	T.calls_at_close = T.calls;
}

/* Snapshot the counters and close; the loop then runs out. */
static void
finish(struct rconn *c)
{
	rconn_stats(c, &T.st);
	rconn_close(c, on_closed, NULL);
}

static void
run_and_close_loop(void)
{
	assert_int_equal(uv_run(&T.loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(T.closed, 1);
	assert_int_equal(uv_loop_close(&T.loop), 0);
}

static void
rec_copy(struct rec *rec, enum rconn_result res, const struct rconn_reply *r)
{
	rec->calls++;
	rec->res = res;
	if (r == NULL)
		return;
	rec->type = r->type;
	rec->integer = r->integer;
	rec->len = r->len;
	rec->elements = r->elements;
	if (r->str != NULL)
		memcpy(rec->str, r->str, r->len < sizeof(rec->str) ? r->len : sizeof(rec->str) - 1);
	for (size_t i = 0; i < r->elements && i < 4; i++) {
		struct rconn_reply e;

		assert_int_equal(rconn_reply_element(r, i, &e), 0);
		if (e.type == RCONN_TYPE_INTEGER)
			snprintf(rec->el[i], sizeof(rec->el[i]), "%lld", e.integer);
		else if (e.str != NULL)
			snprintf(rec->el[i], sizeof(rec->el[i]), "%.*s", (int)e.len, e.str);
	}
	if (r->type == RCONN_TYPE_ARRAY) {
		struct rconn_reply e;

		assert_int_equal(rconn_reply_element(r, r->elements, &e), -EINVAL);
	}
}

/* Record into *arg; when the stage's last reply is in, run the next stage. */
static void
rec_cb(struct rconn *c, enum rconn_result res, const struct rconn_reply *r, void *arg)
{
	rec_copy(arg, res, r);
	if (--T.outstanding == 0 && T.next != NULL) {
		stage_fn next = T.next;

		T.next = NULL;
		next(c);
	}
}

static void
send_argv(struct rconn *c, struct rec *rec, int argc, const char *const *argv)
{
	assert_int_equal(rconn_command(c, rec_cb, rec, argc, argv, NULL), 0);
	T.outstanding++;
}

static void
assert_rec(const struct rec *rec, enum rconn_result res, enum rconn_type type)
{
	assert_int_equal(rec->calls, 1);
	assert_int_equal(rec->res, res);
	assert_int_equal(rec->type, type);
}

static void
assert_invariant(const struct rconn_stats *st)
{
	assert_int_equal(st->commands, st->replies + st->errors + st->pending);
}

/* ------------------------------------------------------------------ */
/* Pipelining: 10 000 INCR through a window of 1000, in order         */
/* ------------------------------------------------------------------ */

#define PIPE_N 10000

static const char *const incr_argv[] = {"INCR", "darter:test:seq"};

static void pipe_fill(struct rconn *c);

static void
pipe_cb(struct rconn *c, enum rconn_result res, const struct rconn_reply *r, void *arg)
{
	long long seq = (long long)(intptr_t)arg;

	assert_int_equal(res, RCONN_RESULT_OK);
	assert_int_equal(r->type, RCONN_TYPE_INTEGER);
	assert_int_equal(r->integer, seq);
	assert_int_equal(seq, T.done + 1);
	T.done++;
	if (T.done == PIPE_N)
		finish(c); /* close from inside a reply callback */
	else
		pipe_fill(c);
}

static void
pipe_fill(struct rconn *c)
{
	while (T.sent < PIPE_N) {
		int rc = rconn_command(c, pipe_cb, (void *)(intptr_t)(T.sent + 1), 2, incr_argv,
				       NULL);

		if (rc == -EAGAIN)
			return;
		assert_int_equal(rc, 0);
		T.sent++;
	}
}

static void
test_pipeline(void **state)
{
	struct rconn_conf conf = conf_for(5000, 1000);

	(void)state;
	T.c = rconn_new(&T.loop, &conf);
	assert_non_null(T.c);
	pipe_fill(T.c); /* still connecting: hiredis buffers them */
	assert_int_equal(T.sent, 1000);
	run_and_close_loop();
	assert_int_equal(T.done, PIPE_N);
	assert_int_equal(T.st.commands, PIPE_N);
	assert_int_equal(T.st.replies, PIPE_N);
	assert_int_equal(T.st.errors, 0);
	assert_int_equal(T.st.pending, 0);
	assert_int_equal(T.st.connects, 1);
	assert_true(T.st.full > 0);
	assert_int_equal(T.st.state, RCONN_UP);
	assert_invariant(&T.st);
}

/* ------------------------------------------------------------------ */
/* Arguments: binary safe, never a format; reply types; misuse        */
/* ------------------------------------------------------------------ */

static const char bin_key[] = "darter:%s%n\r\n:key";
static const char bin_val[] = "val%d%s\r\n$5\r\n\0tail";

static void
args_check(struct rconn *c)
{
	assert_rec(&T.rec[0], RCONN_RESULT_OK, RCONN_TYPE_STATUS);
	assert_string_equal(T.rec[0].str, "OK");
	assert_rec(&T.rec[1], RCONN_RESULT_OK, RCONN_TYPE_STRING);
	assert_int_equal(T.rec[1].len, sizeof(bin_val) - 1);
	assert_memory_equal(T.rec[1].str, bin_val, sizeof(bin_val) - 1);
	assert_rec(&T.rec[2], RCONN_RESULT_OK, RCONN_TYPE_NIL);
	assert_rec(&T.rec[3], RCONN_RESULT_SERVER_ERROR, RCONN_TYPE_ERROR);
	assert_true(strncmp(T.rec[3].str, "ERR", 3) == 0);
	assert_rec(&T.rec[4], RCONN_RESULT_OK, RCONN_TYPE_ARRAY);
	assert_int_equal(T.rec[4].elements, 0);
	finish(c);
}

static void
test_args(void **state)
{
	struct rconn_conf conf = conf_for(5000, 16);
	const char *set[] = {"SET", bin_key, bin_val};
	const size_t setlen[] = {3, sizeof(bin_key) - 1, sizeof(bin_val) - 1};
	const char *get[] = {"GET", bin_key};
	const size_t getlen[] = {3, sizeof(bin_key) - 1};
	const char *missing[] = {"GET", "darter:test:missing"};
	const char *bogus[] = {"NOSUCHCOMMAND", "%s%s%s"};
	const char *keys[] = {"KEYS", "darter:test:none:*"};
	const char *sub[] = {"subscribe", "ch"};
	const char *mon[] = {"MONITOR"};
	struct rconn_conf bad = conf;

	(void)state;
	bad.max_pending = 0;
	errno = 0;
	assert_null(rconn_new(&T.loop, &bad));
	assert_int_equal(errno, EINVAL);
	bad = conf;
	bad.backoff_max_ms = 1;
	assert_null(rconn_new(&T.loop, &bad));

	T.c = rconn_new(&T.loop, &conf);
	assert_non_null(T.c);
	assert_int_equal(rconn_command(T.c, rec_cb, NULL, 0, set, NULL), -EINVAL);
	assert_int_equal(rconn_command(T.c, NULL, NULL, 1, set, NULL), -EINVAL);
	assert_int_equal(rconn_command(T.c, rec_cb, NULL, 2, sub, NULL), -ENOTSUP);
	assert_int_equal(rconn_command(T.c, rec_cb, NULL, 1, mon, NULL), -ENOTSUP);
	assert_int_equal(rconn_command(T.c, rec_cb, &T.rec[0], 3, set, setlen), 0);
	assert_int_equal(rconn_command(T.c, rec_cb, &T.rec[1], 2, get, getlen), 0);
	T.outstanding = 2;
	send_argv(T.c, &T.rec[2], 2, missing);
	send_argv(T.c, &T.rec[3], 2, bogus);
	send_argv(T.c, &T.rec[4], 2, keys);
	T.next = args_check;
	run_and_close_loop();
	assert_int_equal(T.st.commands, 5);
	assert_int_equal(T.st.replies, 5);
	assert_int_equal(T.st.server_errors, 1);
	assert_invariant(&T.st);
}

/* ------------------------------------------------------------------ */
/* EVALSHA: one SCRIPT LOAD per connection, NOSCRIPT reload and retry */
/* ------------------------------------------------------------------ */

static const char lua_incr[] = "return redis.call('INCRBY', KEYS[1], ARGV[1])";
static const char lua_array[] = "return {1, 'two', ARGV[1]}";
static const char lua_fail[] = "return redis.error_reply('ERR darter boom')";
static const char lua_bad[] = "this is not lua";

/* Lengths around the SHA1 block and padding edges. */
static const size_t body_lens[] = {55, 56, 63, 64, 65, 119, 120, 300};
#define N_BODIES (sizeof(body_lens) / sizeof(body_lens[0]))

static struct rconn_script *sc_incr, *sc_array, *sc_fail, *sc_bad, *sc_len[N_BODIES];

static void
evalsha(struct rconn *c, struct rconn_script *s, struct rec *rec, int numkeys, int argc,
	const char *const *argv)
{
	assert_int_equal(rconn_evalsha(c, s, rec_cb, rec, numkeys, argc, argv, NULL), 0);
	T.outstanding++;
}

static void eval_stage2(struct rconn *c);
static void eval_stage3(struct rconn *c);
static void eval_stage4(struct rconn *c);

static void
eval_stage1(struct rconn *c)
{
	const char *incr5[] = {"darter:test:eval", "5"};
	const char *x[] = {"x"};

	evalsha(c, sc_incr, &T.rec[0], 1, 2, incr5); /* LOAD + EVALSHA */
	evalsha(c, sc_incr, &T.rec[1], 1, 2, incr5); /* EVALSHA only */
	evalsha(c, sc_array, &T.rec[2], 0, 1, x);
	evalsha(c, sc_fail, &T.rec[3], 0, 0, NULL);
	evalsha(c, sc_bad, &T.rec[4], 0, 0, NULL);
	for (size_t i = 0; i < N_BODIES; i++)
		evalsha(c, sc_len[i], &T.rec[5 + i], 0, 0, NULL);
	T.next = eval_stage2;
}

static void
eval_stage2(struct rconn *c)
{
	const char *flush[] = {"SCRIPT", "FLUSH"};
	struct rconn_stats st;

	assert_rec(&T.rec[0], RCONN_RESULT_OK, RCONN_TYPE_INTEGER);
	assert_int_equal(T.rec[0].integer, 5);
	assert_rec(&T.rec[1], RCONN_RESULT_OK, RCONN_TYPE_INTEGER);
	assert_int_equal(T.rec[1].integer, 10);
	assert_rec(&T.rec[2], RCONN_RESULT_OK, RCONN_TYPE_ARRAY);
	assert_int_equal(T.rec[2].elements, 3);
	assert_string_equal(T.rec[2].el[0], "1");
	assert_string_equal(T.rec[2].el[1], "two");
	assert_string_equal(T.rec[2].el[2], "x");
	assert_rec(&T.rec[3], RCONN_RESULT_SERVER_ERROR, RCONN_TYPE_ERROR);
	assert_non_null(strstr(T.rec[3].str, "darter boom"));
	/* A script that does not compile: LOAD fails twice, NOSCRIPT reaches us. */
	assert_rec(&T.rec[4], RCONN_RESULT_SERVER_ERROR, RCONN_TYPE_ERROR);
	assert_true(strncmp(T.rec[4].str, "NOSCRIPT", 8) == 0);
	for (size_t i = 0; i < N_BODIES; i++) {
		assert_rec(&T.rec[5 + i], RCONN_RESULT_OK, RCONN_TYPE_STRING);
		assert_int_equal(T.rec[5 + i].len, body_lens[i] - strlen("return ''"));
	}
	rconn_stats(c, &st);
	assert_int_equal(st.script_loads, 4 + 1 + N_BODIES);
	assert_int_equal(st.script_retries, 1); /* lua_bad, once */
	assert_int_equal(st.script_errors, 2);	/* lua_bad: both loads */
	send_argv(c, &T.rec[16], 2, flush);
	T.next = eval_stage3;
}

static void
eval_stage3(struct rconn *c)
{
	const char *incr1[] = {"darter:test:eval", "1"};
	const char *y[] = {"y"};

	assert_rec(&T.rec[16], RCONN_RESULT_OK, RCONN_TYPE_STATUS);
	evalsha(c, sc_incr, &T.rec[17], 1, 2, incr1); /* NOSCRIPT, reload, retry */
	evalsha(c, sc_array, &T.rec[18], 0, 1, y);
	T.next = eval_stage4;
}

static void
eval_stage4(struct rconn *c)
{
	struct rconn_stats st;

	assert_rec(&T.rec[17], RCONN_RESULT_OK, RCONN_TYPE_INTEGER);
	assert_int_equal(T.rec[17].integer, 11);
	assert_rec(&T.rec[18], RCONN_RESULT_OK, RCONN_TYPE_ARRAY);
	assert_string_equal(T.rec[18].el[2], "y");
	rconn_stats(c, &st);
	assert_int_equal(st.script_retries, 3);
	assert_int_equal(st.script_loads, 4 + 1 + N_BODIES + 2);
	finish(c);
}

static struct rconn_script *
script_of_len(struct rconn *c, size_t len, char *buf)
{
	memcpy(buf, "return '", 8);
	memset(buf + 8, 'x', len - 9);
	buf[len - 1] = '\'';
	return rconn_script(c, buf, len);
}

static void
test_evalsha(void **state)
{
	struct rconn_conf conf = conf_for(5000, 64);
	static char bodies[N_BODIES][512];

	(void)state;
	T.c = rconn_new(&T.loop, &conf);
	assert_non_null(T.c);
	sc_incr = rconn_script(T.c, lua_incr, strlen(lua_incr));
	sc_array = rconn_script(T.c, lua_array, strlen(lua_array));
	sc_fail = rconn_script(T.c, lua_fail, strlen(lua_fail));
	sc_bad = rconn_script(T.c, lua_bad, strlen(lua_bad));
	assert_non_null(sc_incr);
	assert_non_null(sc_array);
	assert_non_null(sc_fail);
	assert_non_null(sc_bad);
	/* printf %s "$lua_incr" | sha1sum */
	assert_string_equal(rconn_script_sha(sc_incr), "8cd00688c05c46bde4a2e60658ef20a2e5c0b248");
	for (size_t i = 0; i < N_BODIES; i++) {
		sc_len[i] = script_of_len(T.c, body_lens[i], bodies[i]);
		assert_non_null(sc_len[i]);
	}
	assert_null(rconn_script(T.c, "", 0));
	assert_int_equal(rconn_evalsha(T.c, sc_incr, rec_cb, NULL, 2, 1, incr_argv, NULL), -EINVAL);
	eval_stage1(T.c);
	run_and_close_loop();
	assert_int_equal(T.st.server_errors, 2);
	assert_int_equal(T.st.errors, 0);
	assert_invariant(&T.st);
}

/* ------------------------------------------------------------------ */
/* Refused connection: the error reaches the callback, no busy loop   */
/* ------------------------------------------------------------------ */

static void
refused_cb(struct rconn *c, enum rconn_result res, const struct rconn_reply *r, void *arg)
{
	(void)c;
	T.calls++;
	rec_copy(arg, res, r);
}

static void
refused_end(uv_timer_t *t)
{
	const char *ping[] = {"PING"};
	int rc;

	int ready = rconn_ready(T.c);

	rconn_stats(T.c, &T.st);
	/* Between attempts commands fail fast; during one they are accepted. */
	rc = rconn_command(T.c, refused_cb, &T.rec[1], 1, ping, NULL);
	if (rc == 0)
		T.flag = true;
	else
		assert_int_equal(rc, -ENOTCONN);
	assert_int_equal(ready, rc == 0); /* rconn_ready() says what a command would find */
	rconn_close(T.c, on_closed, NULL);
	assert_false(rconn_ready(T.c));
	uv_close((uv_handle_t *)t, NULL);
}

static void
test_refused(void **state)
{
	struct rconn_conf conf = conf_for(1000, 16);
	const char *ping[] = {"PING"};
	struct rconn_stats st;
	double cpu0, cpu1;

	(void)state; /* no server on S.port */
	T.c = rconn_new(&T.loop, &conf);
	assert_non_null(T.c);
	rconn_stats(T.c, &st);
	assert_int_equal(st.state, RCONN_CONNECTING);
	assert_true(rconn_ready(T.c));
	assert_int_equal(rconn_command(T.c, refused_cb, &T.rec[0], 1, ping, NULL), 0);
	assert_int_equal(uv_timer_init(&T.loop, &T.tick), 0);
	assert_int_equal(uv_timer_start(&T.tick, refused_end, 1000, 0), 0);
	cpu0 = cpu_s();
	assert_int_equal(uv_run(&T.loop, UV_RUN_DEFAULT), 0);
	cpu1 = cpu_s();
	assert_int_equal(uv_loop_close(&T.loop), 0);
	assert_int_equal(T.closed, 1);
	print_message("# refused: %llu attempts, %llu failures, CPU %.3f s over ~1 s\n",
		      (unsigned long long)T.st.connect_attempts,
		      (unsigned long long)T.st.connect_failures, cpu1 - cpu0);
	assert_rec(&T.rec[0], RCONN_RESULT_DISCONNECTED, 0);
	assert_true(cpu1 - cpu0 < 0.3);
	assert_true(T.st.connect_attempts >= 5);
	assert_true(T.st.connect_failures + 1 >= T.st.connect_attempts);
	assert_int_equal(T.st.connects, 0);
	assert_int_equal(T.st.errors, 1);
	if (T.flag) {
		assert_rec(&T.rec[1], RCONN_RESULT_CLOSED, 0);
		assert_int_equal(T.calls, 2);
	} else {
		assert_int_equal(T.rec[1].calls, 0);
		assert_int_equal(T.calls, 1);
	}
	assert_invariant(&T.st);
}

/* ------------------------------------------------------------------ */
/* Redis killed with commands in flight: every callback exactly once  */
/* ------------------------------------------------------------------ */

#define KILL_AFTER 3000

static void kill_fill(struct rconn *c);

static void
kill_end(uv_timer_t *t)
{
	T.t1 = cpu_s();
	finish(T.c);
	uv_close((uv_handle_t *)t, NULL);
}

static void
kill_cb(struct rconn *c, enum rconn_result res, const struct rconn_reply *r, void *arg)
{
	uint8_t *count = arg;

	(*count)++;
	T.calls++;
	if (res == RCONN_RESULT_OK) {
		assert_int_equal(r->type, RCONN_TYPE_INTEGER);
		T.ok++;
		if (T.ok == KILL_AFTER) {
			T.t0 = cpu_s();
			server_signal(SIGKILL); /* about 1000 commands in flight */
			waitpid(S.pid, NULL, 0);
			S.pid = 0;
		}
	} else {
		assert_int_equal(res, RCONN_RESULT_DISCONNECTED);
		assert_null(r);
		if (T.failed++ == 0)
			assert_int_equal(uv_timer_start(&T.tick, kill_end, 300, 0), 0);
	}
	kill_fill(c);
}

static void
kill_fill(struct rconn *c)
{
	while (T.sent < MAX_CMDS) {
		int rc = rconn_command(c, kill_cb, &T.counts[T.sent], 2, incr_argv, NULL);

		if (rc == -EAGAIN || rc == -ENOTCONN)
			return;
		assert_int_equal(rc, 0);
		T.sent++;
	}
}

static void
test_kill_inflight(void **state)
{
	struct rconn_conf conf = conf_for(5000, 1000);

	(void)state;
	T.c = rconn_new(&T.loop, &conf);
	assert_non_null(T.c);
	assert_int_equal(uv_timer_init(&T.loop, &T.tick), 0);
	kill_fill(T.c);
	run_and_close_loop();
	print_message(
		"# kill: %lld sent, %lld replied, %lld failed, CPU %.3f s from kill to close\n",
		T.sent, T.ok, T.failed, T.t1 - T.t0);
	assert_true(T.t1 - T.t0 < 0.3); /* ~300 ms of loss and reconnect attempts, no spinning */
	assert_true(T.sent < MAX_CMDS);
	for (long long i = 0; i < MAX_CMDS; i++)
		assert_int_equal(T.counts[i], i < T.sent ? 1 : 0);
	assert_true(T.ok >= KILL_AFTER);
	assert_true(T.failed > 0);
	assert_int_equal(T.ok + T.failed, T.sent);
	assert_int_equal(T.calls, T.sent);
	assert_int_equal(T.st.commands, T.sent);
	assert_int_equal(T.st.replies, T.ok);
	assert_int_equal(T.st.errors, T.failed);
	assert_int_equal(T.st.disconnects, 1);
	assert_int_equal(T.st.connects, 1);
	assert_true(T.st.rejected > 0);
	assert_int_equal(T.st.pending, 0);
	assert_true(T.st.state == RCONN_DOWN || T.st.state == RCONN_CONNECTING);
}

/* ------------------------------------------------------------------ */
/* Redis restarted on the same port: the client reconnects by itself  */
/* ------------------------------------------------------------------ */

static void
restart_cb(struct rconn *c, enum rconn_result res, const struct rconn_reply *r, void *arg)
{
	(void)c;
	(void)arg;
	T.outstanding--;
	if (res != RCONN_RESULT_OK) {
		T.failed++;
		return;
	}
	T.ok++;
	if (T.phase == 0) {
		assert_int_equal(r->integer, 1);
		server_signal(SIGKILL); /* nothing in flight: onDisconnect tells */
		waitpid(S.pid, NULL, 0);
		S.pid = 0;
		T.phase = 1;
	} else {
		assert_int_equal(T.phase, 2);
		assert_int_equal(r->integer, 1); /* a fresh server */
		T.phase = 3;
	}
}

static void
restart_tick(uv_timer_t *t)
{
	struct rconn_stats st;
	int rc;

	rconn_stats(T.c, &st);
	if (T.phase == 1 && st.disconnects == 1 && st.connect_failures >= 2) {
		/* Restart only once the client has been refused a few times. */
		assert_true(st.state == RCONN_DOWN || st.state == RCONN_CONNECTING);
		server_start(); /* same port */
		T.phase = 2;
	} else if (T.phase == 2 && T.outstanding == 0) {
		int ready = rconn_ready(T.c);

		rc = rconn_command(T.c, restart_cb, NULL, 2, incr_argv, NULL);
		if (rc == 0)
			T.outstanding++;
		else
			assert_int_equal(rc, -ENOTCONN);
		assert_int_equal(ready, rc == 0);
	} else if (T.phase == 3) {
		finish(T.c);
		uv_close((uv_handle_t *)t, NULL);
	}
}

static void
test_restart(void **state)
{
	struct rconn_conf conf = conf_for(5000, 16);

	(void)state;
	T.c = rconn_new(&T.loop, &conf);
	assert_non_null(T.c);
	assert_int_equal(rconn_command(T.c, restart_cb, NULL, 2, incr_argv, NULL), 0);
	T.outstanding = 1;
	assert_int_equal(uv_timer_init(&T.loop, &T.tick), 0);
	assert_int_equal(uv_timer_start(&T.tick, restart_tick, 10, 10), 0);
	run_and_close_loop();
	print_message("# restart: %llu attempts, %llu connects, %llu failures\n",
		      (unsigned long long)T.st.connect_attempts, (unsigned long long)T.st.connects,
		      (unsigned long long)T.st.connect_failures);
	assert_int_equal(T.phase, 3);
	assert_int_equal(T.st.connects, 2);
	assert_int_equal(T.st.disconnects, 1);
	assert_true(T.st.connect_failures >= 2);
	assert_int_equal(T.st.connect_attempts, T.st.connects + T.st.connect_failures);
	assert_int_equal(T.st.errors, (uint64_t)T.failed);
	assert_invariant(&T.st);
}

/* ------------------------------------------------------------------ */
/* Timeouts: a stopped server, the deadline timer, recovery           */
/* ------------------------------------------------------------------ */

#define TIMEOUT_MS 200
#define TIMEOUT_N  100

static void
timeout_cb(struct rconn *c, enum rconn_result res, const struct rconn_reply *r, void *arg)
{
	(void)c;
	(void)arg;
	assert_int_equal(res, RCONN_RESULT_TIMEOUT);
	assert_null(r);
	T.calls++;
	T.t1 = now_s();
}

static void
timeout_tick(uv_timer_t *t)
{
	const char *ping[] = {"PING"};
	int rc;

	if (T.phase == 1 && T.calls == TIMEOUT_N) {
		server_signal(SIGCONT);
		T.phase = 2;
	} else if (T.phase == 2 && T.outstanding == 0) {
		if (T.rec[1].calls > 0 && T.rec[1].res == RCONN_RESULT_OK) {
			finish(T.c);
			uv_close((uv_handle_t *)t, NULL);
			return;
		}
		memset(&T.rec[1], 0, sizeof(T.rec[1])); /* a try that failed */
		rc = rconn_command(T.c, rec_cb, &T.rec[1], 1, ping, NULL);
		if (rc == 0)
			T.outstanding++;
		else
			assert_int_equal(rc, -ENOTCONN);
	}
}

static void
timeout_stop_server(struct rconn *c)
{
	assert_rec(&T.rec[0], RCONN_RESULT_OK, RCONN_TYPE_STATUS);
	server_signal(SIGSTOP);
	T.t0 = now_s();
	for (int i = 0; i < TIMEOUT_N; i++)
		assert_int_equal(rconn_command(c, timeout_cb, NULL, 2, incr_argv, NULL), 0);
	T.phase = 1;
	assert_int_equal(uv_timer_start(&T.tick, timeout_tick, 20, 20), 0);
}

static void
test_timeout(void **state)
{
	struct rconn_conf conf = conf_for(TIMEOUT_MS, 1000);
	const char *ping[] = {"PING"};

	(void)state;
	T.c = rconn_new(&T.loop, &conf);
	assert_non_null(T.c);
	assert_int_equal(uv_timer_init(&T.loop, &T.tick), 0);
	send_argv(T.c, &T.rec[0], 1, ping);
	T.next = timeout_stop_server;
	run_and_close_loop();
	print_message("# timeout: %d commands failed after %.0f ms (timeout %d ms)\n", T.calls,
		      (T.t1 - T.t0) * 1e3, TIMEOUT_MS);
	assert_int_equal(T.calls, TIMEOUT_N);
	assert_true(T.t1 - T.t0 >= 0.150);
	assert_true(T.t1 - T.t0 < 2.0);
	assert_int_equal(T.st.timeouts, TIMEOUT_N);
	assert_int_equal(T.st.errors, TIMEOUT_N);
	assert_true(T.st.stalls >= 1);
	assert_int_equal(T.st.connects, 2);
	assert_rec(&T.rec[1], RCONN_RESULT_OK, RCONN_TYPE_STATUS);
	assert_invariant(&T.st);
}

/* ------------------------------------------------------------------ */
/* Close with commands pending                                        */
/* ------------------------------------------------------------------ */

#define CLOSE_N 50

static void
close_cb_closed(struct rconn *c, enum rconn_result res, const struct rconn_reply *r, void *arg)
{
	const char *ping[] = {"PING"};

	(void)arg;
	assert_int_equal(res, RCONN_RESULT_CLOSED);
	assert_null(r);
	assert_int_equal(T.closed, 0);
	/* Closing: nothing new is accepted, even from a callback. */
	assert_int_equal(rconn_command(c, close_cb_closed, NULL, 1, ping, NULL), -ESHUTDOWN);
	T.calls++;
}

static void
close_later(uv_timer_t *t)
{
	finish(T.c);
	uv_close((uv_handle_t *)t, NULL);
}

static void
close_stop_server(struct rconn *c)
{
	assert_rec(&T.rec[0], RCONN_RESULT_OK, RCONN_TYPE_STATUS);
	server_signal(SIGSTOP);
	for (int i = 0; i < CLOSE_N; i++)
		assert_int_equal(rconn_command(c, close_cb_closed, NULL, 2, incr_argv, NULL), 0);
	assert_int_equal(uv_timer_start(&T.tick, close_later, 50, 0), 0);
}

static void
test_close_pending(void **state)
{
	struct rconn_conf conf = conf_for(5000, 1000);
	const char *ping[] = {"PING"};

	(void)state;
	T.c = rconn_new(&T.loop, &conf);
	assert_non_null(T.c);
	assert_int_equal(uv_timer_init(&T.loop, &T.tick), 0);
	send_argv(T.c, &T.rec[0], 1, ping);
	T.next = close_stop_server;
	run_and_close_loop();
	assert_int_equal(T.calls, CLOSE_N);
	assert_int_equal(T.calls_at_close, CLOSE_N); /* callbacks before close_cb */
	assert_int_equal(T.st.pending, CLOSE_N);
	assert_int_equal(T.st.state, RCONN_UP); /* snapshot taken just before closing */
}

/* Closed before the loop ever ran: commands not even sent still fail once. */
static void
test_close_at_once(void **state)
{
	struct rconn_conf conf = conf_for(5000, 1000);

	(void)state;
	T.c = rconn_new(&T.loop, &conf);
	assert_non_null(T.c);
	for (int i = 0; i < 10; i++)
		assert_int_equal(rconn_command(T.c, close_cb_closed, NULL, 2, incr_argv, NULL), 0);
	finish(T.c);
	assert_int_equal(rconn_command(T.c, close_cb_closed, NULL, 2, incr_argv, NULL), -ESHUTDOWN);
	run_and_close_loop();
	assert_int_equal(T.calls, 10);
	assert_int_equal(T.calls_at_close, 10);
	assert_int_equal(T.st.commands, 10);
}

/* ------------------------------------------------------------------ */

static bool
have_redis_server(void)
{
	const char *path = getenv("PATH");
	char buf[4096], file[4200];

	if (path == NULL)
		return false;
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *save, *dir = strtok_r(buf, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		snprintf(file, sizeof(file), "%s/redis-server", dir);
		if (access(file, X_OK) == 0)
			return true;
	}
	return false;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pipeline, setup_server, teardown),
		cmocka_unit_test_setup_teardown(test_args, setup_server, teardown),
		cmocka_unit_test_setup_teardown(test_evalsha, setup_server, teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup_port, teardown),
		cmocka_unit_test_setup_teardown(test_kill_inflight, setup_server, teardown),
		cmocka_unit_test_setup_teardown(test_restart, setup_server, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup_server, teardown),
		cmocka_unit_test_setup_teardown(test_close_pending, setup_server, teardown),
		cmocka_unit_test_setup_teardown(test_close_at_once, setup_server, teardown),
	};

	if (!have_redis_server()) {
		printf("1..0 # SKIP redis-server not found\n");
		return 77;
	}
	signal(SIGPIPE, SIG_IGN); /* as darter's main does */
	signal(SIGALRM, on_alarm);
	return cmocka_run_group_tests_name("redis", tests, NULL, NULL);
}
