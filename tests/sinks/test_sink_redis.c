/*
 * test_sink_redis.c: the Redis sink against a real redis-server.
 *
 * Each test starts redis-server on a free loopback port in a mkdtemp
 * directory (no persistence) and kills it by PID (SIGKILL), then starts
 * it again on the same port. Lines carry a sequence number; they are
 * read back with a raw SUBSCRIBE connection (PUBLISH), XRANGE (XADD) and
 * LRANGE (LPUSH), the last two through rconn on the test's loop. Every
 * test checks each line arrived at most once and
 * received + dropped == written, and uv_loop_close() == 0. A server
 * killed without persistence loses what it held: read-backs happen
 * before each kill, and lines whose command was in flight at the kill
 * are lost with the server and counted dropped by the sink. Without
 * redis-server the program exits 77 (skip).
 */
#define _GNU_SOURCE
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
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <uv.h>

#include "rconn.h"
#include "sink_redis.h"

#define MAX_LINES 40000

/* ------------------------------------------------------------------ */
/* The server                                                         */
/* ------------------------------------------------------------------ */

static struct {
	pid_t pid;
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

static int
tcp_connect(uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool
server_ping(void)
{
	char buf[8] = {0};
	bool ok = false;
	int fd = tcp_connect(S.port);

	if (fd < 0)
		return false;
	if (write(fd, "PING\r\n", 6) == 6 && read(fd, buf, 7) == 7)
		ok = memcmp(buf, "+PONG\r\n", 7) == 0;
	close(fd);
	return ok;
}

static void
server_start(void)
{
	int status;

	S.pid = fork();
	assert_true(S.pid >= 0);
	if (S.pid == 0) {
		char port[8];
		int fd = open(S.log, O_WRONLY | O_CREAT | O_APPEND, 0600);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		snprintf(port, sizeof(port), "%u", (unsigned)S.port);
		execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1",
		       "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--dir",
		       S.dir, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		if (server_ping())
			return;
		if (waitpid(S.pid, &status, WNOHANG) == S.pid) {
			S.pid = 0;
			fail_msg("redis-server exited early, see %s", S.log);
		}
		usleep(10000);
	}
	fail_msg("redis-server does not answer on port %u", (unsigned)S.port);
}

static void
server_kill(void)
{
	if (S.pid <= 0)
		return;
	kill(S.pid, SIGKILL);
	waitpid(S.pid, NULL, 0);
	S.pid = 0;
}

static int
setup(void **state)
{
	(void)state;
	memset(&S, 0, sizeof(S));
	strcpy(S.dir, "/tmp/darter-sinkr-XXXXXX");
	assert_non_null(mkdtemp(S.dir));
	snprintf(S.log, sizeof(S.log), "%s/redis.log", S.dir);
	S.port = free_port();
	server_start();
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	char cmd[128];

	server_kill();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", S.dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Received lines                                                     */
/* ------------------------------------------------------------------ */

static struct {
	uint8_t seen[MAX_LINES];
	uint64_t received;
	uint64_t bad;
} R;

static void
got_line(const char *p, size_t n)
{
	unsigned seq;

	if (n == 0 || p[n - 1] == '\n' ||
	    sscanf(p, "{\"event_type\":\"flow\",\"seq\":%u,", &seq) != 1 || seq >= MAX_LINES) {
		R.bad++;
		return;
	}
	R.seen[seq]++;
	R.received++;
}

/* A raw SUBSCRIBE connection, parsed as RESP arrays of bulk strings. */
static struct {
	int fd;
	char *buf;
	size_t len;
} SUB;

static void
sub_open(const char *channel)
{
	char cmd[128];
	int n = snprintf(cmd, sizeof(cmd), "SUBSCRIBE %s\r\n", channel);

	SUB.fd = tcp_connect(S.port);
	assert_true(SUB.fd >= 0);
	assert_int_equal(write(SUB.fd, cmd, (size_t)n), n);
	if (SUB.buf == NULL)
		SUB.buf = malloc(1 << 24);
	SUB.len = 0;
}

/* One bulk string at *p: "$N\r\n<N bytes>\r\n". */
static const char *
sub_bulk(const char *p, const char *end, const char **s, size_t *n)
{
	char *eol;
	long v;

	if (p >= end || *p != '$' || (eol = memmem(p, (size_t)(end - p), "\r\n", 2)) == NULL)
		return NULL;
	v = strtol(p + 1, NULL, 10);
	if (eol + 2 + v + 2 > end)
		return NULL;
	*s = eol + 2;
	*n = (size_t)v;
	return eol + 2 + v + 2;
}

/* Parse every complete message in the buffer. */
static void
sub_parse(void)
{
	const char *p = SUB.buf, *end = SUB.buf + SUB.len;

	for (;;) {
		const char *q, *kind, *ch, *msg;
		size_t kn, cn, mn;
		char *eol;

		if (p >= end || (eol = memmem(p, (size_t)(end - p), "\r\n", 2)) == NULL)
			break;
		assert_int_equal(*p, '*');
		q = eol + 2;
		if ((q = sub_bulk(q, end, &kind, &kn)) == NULL ||
		    (q = sub_bulk(q, end, &ch, &cn)) == NULL)
			break;
		if (kn == 9 && memcmp(kind, "subscribe", 9) == 0) {
			eol = memmem(q, (size_t)(end - q), "\r\n", 2);
			if (eol == NULL)
				break;
			p = eol + 2; /* ":1" */
			continue;
		}
		if ((q = sub_bulk(q, end, &msg, &mn)) == NULL)
			break;
		got_line(msg, mn);
		p = q;
	}
	memmove(SUB.buf, p, (size_t)(end - p));
	SUB.len = (size_t)(end - p);
}

static void
sub_read(void)
{
	ssize_t n;

	while ((n = recv(SUB.fd, SUB.buf + SUB.len, (1 << 24) - SUB.len, MSG_DONTWAIT)) > 0) {
		SUB.len += (size_t)n;
		sub_parse();
	}
}

/* Read until `want` lines have arrived, or 3 s passed: delivery to a subscriber lags its PUBLISH
 * reply. */
static void
sub_wait(uint64_t want)
{
	for (int i = 0; i < 300 && R.received < want; i++) {
		usleep(10000);
		sub_read();
	}
	usleep(20000); /* and anything extra (a duplicate) would show */
	sub_read();
}

static void
sub_close(void)
{
	if (SUB.fd >= 0)
		close(SUB.fd);
	SUB.fd = -1;
}

/* ------------------------------------------------------------------ */
/* The sink and the loop                                              */
/* ------------------------------------------------------------------ */

static struct {
	uv_loop_t loop;
	struct sink_redis *s;
	bool closed;
	struct sink_stats final;
	unsigned next;
	uint64_t rejected;
	const char *key;
	bool pace; /* write_lines waits for Redis when much is queued */
} T;

static void settle(bool need_up);

static void
sink_open(enum sink_redis_mode mode, const char *key, uint64_t maxlen, uint32_t window)
{
	struct sink_redis_conf c;

	memset(&R, 0, sizeof(R));
	sink_redis_conf_defaults(&c);
	c.port = S.port;
	c.mode = mode;
	c.key = key;
	c.maxlen = maxlen;
	c.window = window;
	c.queue_lines = 2000;
	c.backoff_min_ms = 5;
	c.backoff_max_ms = 50;
	c.timeout_ms = 10000; /* a loaded CI machine must not turn into drops */
	assert_int_equal(uv_loop_init(&T.loop), 0);
	T.s = sink_redis_open(&T.loop, &c);
	assert_non_null(T.s);
	T.closed = false;
	T.next = 0;
	T.rejected = 0;
	T.key = key;
	T.pace = true;
	if (S.pid > 0)
		settle(true); /* lines written while connecting would wait in the queue */
}

static struct sink_stats
stats(void)
{
	struct sink_stats st;

	sink_redis_stats(T.s, &st);
	return st;
}

static void
write_lines(unsigned n, unsigned every)
{
	for (unsigned i = 0; i < n; i++) {
		char line[256];
		int len = snprintf(line, sizeof(line),
				   "{\"event_type\":\"flow\",\"seq\":%u,\"flow_id\":%llu}\n",
				   T.next, 1000000000000ull + T.next);

		T.next++;
		T.rejected += sink_redis_write(T.s, line, (size_t)len) < 0;
		if ((i + 1) % every != 0)
			continue;
		uv_run(&T.loop, UV_RUN_NOWAIT);
		/* a producer that keeps pace: wait for replies past a window's worth */
		while (T.pace && stats().queued > 256)
			uv_run(&T.loop, UV_RUN_ONCE);
	}
}

/* Run until nothing is queued or in flight (and connected if asked). */
static void
settle(bool need_up)
{
	for (int i = 0; i < 5000; i++) {
		struct sink_stats st;

		uv_run(&T.loop, UV_RUN_NOWAIT);
		if (SUB.fd >= 0)
			sub_read();
		st = stats();
		if (st.queued == 0 && (!need_up || st.connected))
			return;
		usleep(1000);
	}
	fail_msg("sink did not settle");
}

static void
on_closed(void *arg, const struct sink_stats *final)
{
	(void)arg;
	T.final = *final;
	T.closed = true;
}

static void
close_sink(void)
{
	sink_redis_close(T.s, on_closed, NULL);
	assert_int_equal(uv_run(&T.loop, UV_RUN_DEFAULT), 0);
	assert_true(T.closed);
	assert_int_equal(uv_loop_close(&T.loop), 0);
	assert_int_equal(T.final.queued, 0);
	assert_int_equal(T.final.written, T.next);
	assert_int_equal(T.final.lines + T.final.dropped, T.final.written);
}

/* Read back a stream or a list with one command through rconn. */
static struct {
	bool done;
	enum sink_redis_mode mode;
} RB;

static void
readback_cb(struct rconn *c, enum rconn_result res, const struct rconn_reply *r, void *arg)
{
	(void)c;
	(void)arg;
	assert_int_equal(res, RCONN_RESULT_OK);
	assert_int_equal(r->type, RCONN_TYPE_ARRAY);
	for (size_t i = 0; i < r->elements; i++) {
		struct rconn_reply e, fv, v;

		assert_int_equal(rconn_reply_element(r, i, &e), 0);
		if (RB.mode == SINK_REDIS_LPUSH) {
			got_line(e.str, e.len);
			continue;
		}
		/* XRANGE: [id, [field, value]] */
		assert_int_equal(rconn_reply_element(&e, 1, &fv), 0);
		assert_int_equal(rconn_reply_element(&fv, 0, &v), 0);
		assert_int_equal(v.len, 3);
		assert_memory_equal(v.str, "eve", 3);
		assert_int_equal(rconn_reply_element(&fv, 1, &v), 0);
		got_line(v.str, v.len);
	}
	RB.done = true;
}

static void
readback(enum sink_redis_mode mode)
{
	struct rconn_conf c = {.host = "127.0.0.1",
			       .port = S.port,
			       .timeout_ms = 5000,
			       .backoff_min_ms = 10,
			       .backoff_max_ms = 100,
			       .max_pending = 4};
	struct rconn *rc = rconn_new(&T.loop, &c);
	const char *xr[] = {"XRANGE", T.key, "-", "+"};
	const char *lr[] = {"LRANGE", T.key, "0", "-1"};

	assert_non_null(rc);
	RB.done = false;
	RB.mode = mode;
	assert_int_equal(
		rconn_command(rc, readback_cb, NULL, 4, mode == SINK_REDIS_XADD ? xr : lr, NULL),
		0);
	while (!RB.done)
		uv_run(&T.loop, UV_RUN_ONCE);
	rconn_close(rc, NULL, NULL);
}

static void
check_once(void)
{
	for (unsigned i = 0; i < T.next; i++)
		assert_true(R.seen[i] <= 1);
	assert_int_equal(R.bad, 0);
}

/* ------------------------------------------------------------------ */
/* Tests                                                              */
/* ------------------------------------------------------------------ */

/*
 * PUBLISH: a subscriber sees each line once; Redis killed (settled:
 * nothing in flight, so a message cannot reach the subscriber with its
 * reply lost), lines written while it is down are dropped, then it
 * comes back and the sink reconnects by itself.
 */
static void
test_publish_kill_restart(void **state)
{
	(void)state;
	sink_open(SINK_REDIS_PUBLISH, "eve", 0, 256);
	sub_open("eve");
	settle(true);
	usleep(50000);
	sub_read(); /* the subscribe confirmation */
	write_lines(5000, 100);
	settle(false);
	sub_wait(stats().lines);
	assert_true(R.received >= stats().lines);
	assert_true(R.received - stats().lines <= stats().unsure);

	server_kill();
	sub_close();
	write_lines(1000, 50);
	settle(false);
	assert_int_equal(stats().connected, 0);

	server_start();
	sub_open("eve");
	settle(true);
	usleep(50000);
	sub_read();
	write_lines(3000, 100);
	settle(false);
	close_sink();
	sub_wait(T.final.lines);
	sub_close();
	check_once();
	assert_true(T.final.reconnects >= 1);
	assert_true(T.final.dropped >= 1000);
	assert_true(R.received >= T.final.lines);
	assert_true(R.received - T.final.lines <= T.final.unsure);
	/* the kill found nothing in flight: what was sent after it reached no one, exact */
	assert_int_equal(R.received + T.final.dropped, T.final.written);
	print_message("# publish: written %llu received %llu dropped %llu (unsure %llu) "
		      "reconnects %llu\n",
		      (unsigned long long)T.final.written, (unsigned long long)R.received,
		      (unsigned long long)T.final.dropped, (unsigned long long)T.final.unsure,
		      (unsigned long long)T.final.reconnects);
}

/*
 * XADD / LPUSH, Redis with appendfsync always, so what it acknowledged
 * survives a SIGKILL and one read-back at the end sees everything.
 * Settled kill (nothing in flight): exact, received + dropped == written.
 * Mid-burst kill: commands in flight at the kill that Redis ran (and
 * persisted) without its reply reaching us are counted dropped yet
 * received; at most the lines in flight then: the test bounds them.
 */
static void
run_store_kill(enum sink_redis_mode mode, const char *key, bool midburst)
{
	uint64_t inflight = 0;

	sink_open(mode, key, 0, 128);
	write_lines(5000, 100);
	settle(false);
	if (midburst) {
		T.pace = false;
		write_lines(500, 1000); /* no loop turn: a window in flight, the rest queued */
		T.pace = true;
		uv_run(&T.loop, UV_RUN_NOWAIT);
		inflight = stats().queued;
		assert_true(inflight > 0);
	}
	server_kill();
	write_lines(500, 50);
	settle(false);

	server_start();
	settle(true);
	write_lines(3000, 100);
	settle(false);
	readback(mode);
	close_sink();
	check_once();
	assert_true(T.final.reconnects >= 1);
	assert_true(R.received >= T.final.lines); /* every acknowledged line is there */
	assert_true(R.received - T.final.lines <= T.final.unsure);
	assert_true(T.final.unsure <= T.final.dropped);
	if (!midburst)
		assert_int_equal(R.received + T.final.dropped, T.final.written);
	print_message("# %s%s: written %llu received %llu dropped %llu (unsure %llu, in flight "
		      "at kill %llu) reconnects %llu\n",
		      key, midburst ? " mid-burst" : "", (unsigned long long)T.final.written,
		      (unsigned long long)R.received, (unsigned long long)T.final.dropped,
		      (unsigned long long)T.final.unsure, (unsigned long long)inflight,
		      (unsigned long long)T.final.reconnects);
}

static void
test_xadd_kill_restart(void **state)
{
	(void)state;
	run_store_kill(SINK_REDIS_XADD, "eve-stream", false);
	teardown(NULL);
	setup(NULL);
	run_store_kill(SINK_REDIS_XADD, "eve-stream", true);
}

static void
test_lpush_kill_restart(void **state)
{
	(void)state;
	run_store_kill(SINK_REDIS_LPUSH, "eve-list", false);
	teardown(NULL);
	setup(NULL);
	run_store_kill(SINK_REDIS_LPUSH, "eve-list", true);
}

/* MAXLEN ~ and LTRIM bound what Redis keeps; nothing is lost on our side. */
static void
test_bounds(void **state)
{
	(void)state;
	sink_open(SINK_REDIS_LPUSH, "eve-capped", 100, 64);
	write_lines(1000, 10);
	settle(false);
	readback(SINK_REDIS_LPUSH);
	assert_true(R.received >= 100 && R.received < 100 + SINK_REDIS_LTRIM_EVERY + 1);
	assert_int_equal(R.seen[999], 1); /* the newest are kept */
	close_sink();
	assert_int_equal(T.final.lines, 1000);
	assert_int_equal(T.final.errors, 0);

	sink_open(SINK_REDIS_XADD, "eve-capped-stream", 200, 64);
	write_lines(3000, 10);
	settle(false);
	readback(SINK_REDIS_XADD);
	assert_true(R.received >= 200 && R.received < 3000); /* "~": approximately */
	assert_int_equal(R.seen[2999], 1);
	close_sink();
	assert_int_equal(T.final.lines, 3000);
}

/* A window of 8 and a queue of 2000: a burst overflows, counted, newest dropped. */
static void
test_window_queue_full(void **state)
{
	struct sink_redis_conf c;
	struct sink sk = {&sink_redis_ops, NULL};
	char line[64];

	(void)state;
	memset(&R, 0, sizeof(R));
	sink_redis_conf_defaults(&c);
	c.port = S.port;
	c.mode = SINK_REDIS_LPUSH;
	c.key = "eve-burst";
	c.window = 8;
	c.queue_lines = 100;
	assert_int_equal(uv_loop_init(&T.loop), 0);
	sk.impl = sink_redis_open(&T.loop, &c);
	assert_non_null(sk.impl);
	T.s = sk.impl;
	T.key = "eve-burst";
	T.closed = false;
	for (unsigned i = 0; i < 1000; i++) {
		int n = snprintf(line, sizeof(line), "{\"event_type\":\"flow\",\"seq\":%u,\"x\":1}",
				 i);
		int rc = sink_write(&sk, NULL, 0, line, (size_t)n);

		assert_int_equal(rc, i < 108 ? 0 : -ENOBUFS);
	}
	assert_int_equal(sink_write(&sk, NULL, 0, "", 0), -EINVAL); /* empty: counted */
	T.next = 1000;
	settle(false);
	readback(SINK_REDIS_LPUSH);
	assert_int_equal(R.received, 108);
	for (unsigned i = 0; i < 108; i++)
		assert_int_equal(R.seen[i], 1);
	sink_close(&sk, on_closed, NULL);
	assert_int_equal(uv_run(&T.loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&T.loop), 0);
	assert_int_equal(T.final.dropped, 893);
	assert_int_equal(T.final.lines, 108);
}

/* Redis down from the start: every line is dropped at once, close is quick. */
static void
test_down_from_start(void **state)
{
	(void)state;
	server_kill();
	sink_open(SINK_REDIS_PUBLISH, "eve", 0, 16);
	for (int i = 0; i < 100; i++)
		uv_run(&T.loop, UV_RUN_NOWAIT);
	usleep(20000);
	uv_run(&T.loop, UV_RUN_NOWAIT);
	write_lines(500, 10);
	settle(false);
	close_sink();
	assert_int_equal(T.final.lines, 0);
	assert_int_equal(T.final.dropped, 500);
	server_start();
}

static void
test_bad_conf(void **state)
{
	struct sink_redis_conf c;
	uv_loop_t loop;

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	sink_redis_conf_defaults(&c);
	errno = 0;
	assert_null(sink_redis_open(&loop, &c)); /* no key */
	assert_int_equal(errno, EINVAL);
	c.key = "k";
	c.port = 0;
	assert_null(sink_redis_open(&loop, &c));
	c.port = 1;
	c.mode = (enum sink_redis_mode)9;
	assert_null(sink_redis_open(&loop, &c));
	assert_int_equal(uv_loop_close(&loop), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_publish_kill_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_xadd_kill_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lpush_kill_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_window_queue_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_down_from_start, setup, teardown),
		cmocka_unit_test(test_bad_conf),
	};
	if (system("command -v redis-server >/dev/null 2>&1") != 0) {
		printf("1..0 # SKIP redis-server not found\n");
		return 77;
	}
	signal(SIGPIPE, SIG_IGN); /* as darter's main does */
	alarm(120);
	SUB.fd = -1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
