/*
 * test_sink_unix.c: the Unix socket sink against a real reader socket.
 *
 * The reader is a plain listening (stream) or bound (datagram) socket in
 * a mkdtemp directory, served by this thread between loop turns. Each
 * line carries a sequence number; the reader records every complete
 * line it reads, so duplicates, torn lines and losses are all visible.
 * "Killing" the reader reads what is already queued and closes every
 * socket (so the kernel loses nothing behind the sink's back); the sink
 * then buffers, drops the newest over its bound, reconnects when the
 * reader is back. Every test checks received + dropped == written, no
 * line twice, and uv_loop_close() == 0.
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

#include <sys/socket.h>
#include <sys/un.h>

#include <cmocka.h>
#include <uv.h>

#include "sink_unix.h"

#define NCONN	  8
#define MAX_LINES 20000

/* ------------------------------------------------------------------ */
/* The reader                                                         */
/* ------------------------------------------------------------------ */

static struct reader {
	enum sink_unix_kind kind;
	char dir[64];
	char path[108];
	int lfd;	 /* listener or datagram socket; -1: dead */
	int conn[NCONN]; /* stream connections */
	char part[NCONN][4096];
	size_t partlen[NCONN];
	uint8_t seen[MAX_LINES]; /* times each sequence number arrived */
	uint64_t received;
	uint64_t torn; /* unfinished lines at a disconnect */
	uint64_t bad;  /* lines that do not parse */
} R;

static void
reader_line(const char *p, size_t n)
{
	unsigned seq;
	char tail[8];

	if (n == 0 || n >= 4096 ||
	    sscanf(p, "{\"event_type\":\"flow\",\"seq\":%u,%7s", &seq, tail) != 2 ||
	    seq >= MAX_LINES || p[n - 1] != '}') {
		R.bad++;
		return;
	}
	R.seen[seq]++;
	R.received++;
}

static void
reader_start(void)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int type = R.kind == SINK_UNIX_STREAM ? SOCK_STREAM : SOCK_DGRAM;

	R.lfd = socket(AF_UNIX, type | SOCK_NONBLOCK, 0);
	assert_true(R.lfd >= 0);
	strcpy(a.sun_path, R.path);
	unlink(R.path);
	assert_int_equal(bind(R.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	if (type == SOCK_STREAM)
		assert_int_equal(listen(R.lfd, 16), 0);
	for (int i = 0; i < NCONN; i++)
		R.conn[i] = -1;
}

static void
reader_stream_conn(int i)
{
	char buf[65536];
	ssize_t n;

	while ((n = read(R.conn[i], buf, sizeof(buf))) > 0) {
		for (ssize_t k = 0; k < n; k++) {
			if (buf[k] == '\n') {
				reader_line(R.part[i], R.partlen[i]);
				R.partlen[i] = 0;
			} else if (R.partlen[i] < sizeof(R.part[i])) {
				R.part[i][R.partlen[i]++] = buf[k];
			}
		}
	}
	if (n == 0 || (n < 0 && errno != EAGAIN)) {
		R.torn += R.partlen[i] > 0;
		R.partlen[i] = 0;
		close(R.conn[i]);
		R.conn[i] = -1;
	}
}

/* Read everything queued now, accept new writers. */
static void
reader_drain(void)
{
	char buf[65536];
	ssize_t n;
	int fd;

	if (R.lfd < 0)
		return;
	if (R.kind == SINK_UNIX_DGRAM) {
		while ((n = recv(R.lfd, buf, sizeof(buf), 0)) >= 0)
			reader_line(buf, (size_t)n);
		return;
	}
	while ((fd = accept4(R.lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
		int i = 0;

		while (i < NCONN && R.conn[i] >= 0)
			i++;
		assert_true(i < NCONN);
		R.conn[i] = fd;
	}
	for (int i = 0; i < NCONN; i++)
		if (R.conn[i] >= 0)
			reader_stream_conn(i);
}

/* The reader goes away, after reading what it was sent. */
static void
reader_kill(void)
{
	reader_drain();
	for (int i = 0; i < NCONN; i++) {
		if (R.conn[i] >= 0) {
			R.torn += R.partlen[i] > 0;
			R.partlen[i] = 0;
			close(R.conn[i]);
			R.conn[i] = -1;
		}
	}
	close(R.lfd);
	R.lfd = -1;
	unlink(R.path);
}

static void
reader_setup(enum sink_unix_kind kind)
{
	memset(&R, 0, sizeof(R));
	R.kind = kind;
	strcpy(R.dir, "/tmp/darter-sinku-XXXXXX");
	assert_non_null(mkdtemp(R.dir));
	snprintf(R.path, sizeof(R.path), "%s/eve.sock", R.dir);
	R.lfd = -1;
	reader_start();
}

static void
reader_teardown(void)
{
	if (R.lfd >= 0)
		reader_kill();
	rmdir(R.dir);
}

/* ------------------------------------------------------------------ */
/* The sink under test                                                */
/* ------------------------------------------------------------------ */

static struct {
	uv_loop_t loop;
	struct sink_unix *s;
	bool closed;
	struct sink_stats final; /* from the close callback */
	uint64_t rejected;	 /* writes that returned an error */
	unsigned next;		 /* next sequence number */
} T;

static void
sink_open(uint32_t buf_bytes, uint32_t max_lines)
{
	struct sink_unix_conf c;

	sink_unix_conf_defaults(&c);
	c.path = R.path;
	c.kind = R.kind;
	c.buf_bytes = buf_bytes;
	c.max_lines = max_lines;
	c.backoff_min_ms = 2;
	c.backoff_max_ms = 20;
	c.linger_ms = 200;
	assert_int_equal(uv_loop_init(&T.loop), 0);
	T.s = sink_unix_open(&T.loop, &c);
	assert_non_null(T.s);
	T.closed = false;
	T.rejected = 0;
	T.next = 0;
}

static int
write_one(void)
{
	char line[256];
	int n = snprintf(
		line, sizeof(line),
		"{\"event_type\":\"flow\",\"seq\":%u,\"flow_id\":%llu,\"pad\":\"%040u\"}\n", T.next,
		1000000000000ull + T.next, T.next);
	int rc;

	T.next++;
	rc = sink_unix_write(T.s, line, (size_t)n);
	T.rejected += rc < 0;
	return rc;
}

/* Write n lines, letting the loop and the reader run every `every` lines. */
static void
write_lines(unsigned n, unsigned every)
{
	for (unsigned i = 0; i < n; i++) {
		write_one();
		if ((i + 1) % every == 0) {
			uv_run(&T.loop, UV_RUN_NOWAIT);
			reader_drain();
		}
	}
}

static struct sink_stats
stats(void)
{
	struct sink_stats st;

	sink_unix_stats(T.s, &st);
	return st;
}

/* Run loop and reader until the sink is connected with nothing queued. */
static void
settle(void)
{
	for (int i = 0; i < 5000; i++) {
		struct sink_stats st;

		uv_run(&T.loop, UV_RUN_NOWAIT);
		reader_drain();
		st = stats();
		if (st.connected && st.queued == 0)
			return;
		usleep(1000);
	}
	fail_msg("sink did not settle: queued %llu", (unsigned long long)stats().queued);
}

static void
on_closed(void *arg, const struct sink_stats *final)
{
	(void)arg;
	assert_int_equal(final->queued, 0);
	T.final = *final;
	T.closed = true;
}

/* Close the sink, check the books, close the loop. */
static void
close_and_check(struct sink_stats *final)
{
	sink_unix_close(T.s, on_closed, NULL);
	for (int i = 0; i < 5000 && !T.closed; i++) {
		uv_run(&T.loop, UV_RUN_NOWAIT);
		reader_drain();
		usleep(1000);
	}
	assert_true(T.closed);
	assert_int_equal(uv_run(&T.loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&T.loop), 0);
	reader_drain();
	for (unsigned i = 0; i < T.next; i++)
		assert_true(R.seen[i] <= 1);
	assert_int_equal(R.bad, 0);
	*final = T.final;
	assert_int_equal(final->written, T.next);
	assert_int_equal(final->lines + final->dropped, final->written);
}

/* ------------------------------------------------------------------ */
/* Tests                                                              */
/* ------------------------------------------------------------------ */

static void
run_exact(enum sink_unix_kind kind)
{
	struct sink_stats st;
	uint64_t dropped_before;

	reader_setup(kind);
	sink_open(64 * 1024, 1000);

	write_lines(5000, 20); /* A: reader present */
	settle();
	assert_int_equal(R.received, 5000 - stats().dropped);

	reader_kill(); /* B: reader gone; the sink buffers 1000 lines, drops the rest */
	dropped_before = stats().dropped;
	write_lines(3000, 20);
	for (int i = 0; i < 50; i++) {
		uv_run(&T.loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
	st = stats();
	assert_int_equal(st.connected, 0);
	assert_true(st.dropped - dropped_before >= 2000);
	assert_true(st.queued <= 1000);

	reader_start(); /* C: back; the buffered lines arrive first */
	settle();
	assert_true(stats().reconnects >= 1);
	write_lines(2000, 20);
	settle();

	close_and_check(&st);
	assert_int_equal(st.written, 10000);
	assert_int_equal(R.received + st.dropped, st.written);
	assert_int_equal(st.lines, R.received);
	assert_int_equal(st.dropped, T.rejected); /* nothing accepted was lost */
	assert_int_equal(R.torn, 0);
	print_message("# %s: written %llu received %llu dropped %llu reconnects %llu\n",
		      kind == SINK_UNIX_STREAM ? "stream" : "dgram", (unsigned long long)st.written,
		      (unsigned long long)R.received, (unsigned long long)st.dropped,
		      (unsigned long long)st.reconnects);
	reader_teardown();
}

static void
test_stream_exact(void **state)
{
	(void)state;
	run_exact(SINK_UNIX_STREAM);
}

static void
test_dgram_exact(void **state)
{
	(void)state;
	run_exact(SINK_UNIX_DGRAM);
}

/* Restart the reader again and again while writing: books still balance. */
static void
run_flapping(enum sink_unix_kind kind)
{
	struct sink_stats st;

	reader_setup(kind);
	sink_open(32 * 1024, 300);
	for (int round = 0; round < 10; round++) {
		write_lines(500, 25);
		reader_kill();
		write_lines(200, 25);
		reader_start();
		for (int i = 0; i < 10; i++) {
			uv_run(&T.loop, UV_RUN_NOWAIT);
			reader_drain();
			usleep(2000);
		}
	}
	settle();
	close_and_check(&st);
	assert_int_equal(R.received + st.dropped, st.written);
	assert_int_equal(st.lines, R.received);
	assert_true(st.reconnects >= 10);
	reader_teardown();
}

static void
test_stream_flapping(void **state)
{
	(void)state;
	run_flapping(SINK_UNIX_STREAM);
}

static void
test_dgram_flapping(void **state)
{
	(void)state;
	run_flapping(SINK_UNIX_DGRAM);
}

/*
 * A reader that never reads: the kernel takes what fits, the sink keeps
 * the rest until linger runs out at close and drops it, a stream line
 * half sent included; the reader then finds exactly the lines not dropped.
 */
static void
run_linger(enum sink_unix_kind kind)
{
	struct sink_stats st;

	reader_setup(kind);
	sink_open(1024 * 1024, 4000);
	for (int i = 0; i < 4000; i++) {
		assert_int_equal(write_one(), 0);
		if (i % 100 == 0)
			uv_run(&T.loop, UV_RUN_NOWAIT);
	}
	for (int i = 0; i < 20; i++)
		uv_run(&T.loop, UV_RUN_NOWAIT);
	st = stats();
	assert_true(st.queued > 0); /* the kernel could not take it all */
	sink_unix_close(T.s, on_closed, NULL);
	for (int i = 0; i < 2000 && !T.closed; i++) {
		uv_run(&T.loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
	assert_true(T.closed);
	assert_int_equal(uv_loop_close(&T.loop), 0);
	reader_kill(); /* reads what the kernel holds, then closes */
	st = T.final;
	assert_int_equal(st.written, 4000);
	assert_true(st.dropped > 0);
	assert_int_equal(R.received + st.dropped, st.written);
	assert_int_equal(st.lines, R.received);
	assert_int_equal(R.bad, 0);
	reader_teardown();
}

static void
test_stream_linger(void **state)
{
	(void)state;
	run_linger(SINK_UNIX_STREAM);
}

static void
test_dgram_linger(void **state)
{
	(void)state;
	run_linger(SINK_UNIX_DGRAM);
}

/* No reader ever: every line is dropped, counted; the ops row works. */
static void
test_no_reader_ops(void **state)
{
	struct sink sk = {&sink_unix_ops, NULL};
	struct sink_stats st;

	(void)state;
	reader_setup(SINK_UNIX_STREAM);
	reader_kill();
	sink_open(1024, 10);
	sk.impl = T.s;
	for (int i = 0; i < 100; i++) {
		char line[64];
		int n = snprintf(line, sizeof(line), "{\"event_type\":\"flow\",\"seq\":%d,\"x\":1}",
				 i);
		int rc = sink_write(&sk, "k", 1, line, (size_t)n);

		assert_int_equal(rc, i < 10 ? 0 : -ENOBUFS);
	}
	assert_int_equal(sink_write(&sk, NULL, 0, "\n", 1), -EINVAL); /* empty: counted */
	assert_int_equal(sink_flush(&sk), -EAGAIN);
	sink_stats(&sk, &st);
	assert_int_equal(st.written, 101);
	assert_int_equal(st.queued, 10);
	assert_int_equal(st.dropped, 91);
	assert_int_equal(st.connected, 0);
	sink_close(&sk, on_closed, NULL);
	assert_null(sk.impl);
	assert_int_equal(uv_run(&T.loop, UV_RUN_DEFAULT), 0);
	assert_true(T.closed);
	assert_int_equal(T.final.dropped, 101);
	assert_int_equal(uv_loop_close(&T.loop), 0);
	reader_teardown();
}

static void
test_bad_conf(void **state)
{
	struct sink_unix_conf c;
	uv_loop_t loop;
	char longpath[200];

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	sink_unix_conf_defaults(&c);
	errno = 0;
	assert_null(sink_unix_open(&loop, &c));
	assert_int_equal(errno, EINVAL);
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	c.path = longpath;
	assert_null(sink_unix_open(&loop, &c));
	c.path = "/tmp/x.sock";
	c.backoff_min_ms = 100;
	c.backoff_max_ms = 10;
	assert_null(sink_unix_open(&loop, &c));
	c.backoff_max_ms = 100;
	c.kind = (enum sink_unix_kind)7;
	assert_null(sink_unix_open(&loop, &c));
	assert_int_equal(uv_loop_close(&loop), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stream_exact),	cmocka_unit_test(test_dgram_exact),
		cmocka_unit_test(test_stream_flapping), cmocka_unit_test(test_dgram_flapping),
		cmocka_unit_test(test_stream_linger),	cmocka_unit_test(test_dgram_linger),
		cmocka_unit_test(test_no_reader_ops),	cmocka_unit_test(test_bad_conf),
	};

	signal(SIGPIPE, SIG_IGN);
	alarm(120);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
