/*
 * test_input_unix.c: EVE lines from real Unix sockets on a real libuv
 * loop.
 *
 * Writers are real client sockets: small ones are written from the test
 * thread before the loop runs (a connect to a listening Unix socket
 * completes from the backlog, and a few KiB fit in the socket buffer);
 * large ones come from writer threads that block in write(2)/send(2) as
 * Suricata would. The lines are Suricata 7 EVE events (flow, alert, dns,
 * tls, http) whose flow_id encodes (writer, sequence): the line callback
 * rebuilds the expected line from it, so every line is checked to arrive
 * exactly once, intact and in order per connection, and parsed with
 * eve_in (none refused). Backpressure is shown by the writer staying
 * blocked, and the bytes received staying put, while the reader is
 * paused. Every test closes its handles and asserts uv_loop_close() == 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "eve_in.h"
#include "input_unix.h"

#define MAX_SMALL   64 /* lines kept as strings by the small tests */
#define MAX_WRITERS 8
#define FLOW_BASE   1000000000000000ull
#define PER_WRITER  1000000ull

struct writer {
	pthread_t tid;
	const char *path;
	int kind;	 /* INPUT_UNIX_STREAM or INPUT_UNIX_DGRAM */
	int id;		 /* encoded in flow_id */
	int nlines;	 /* EVE lines to send */
	const char *raw; /* instead of EVE lines: these bytes (stream) */
	size_t rawlen;
	size_t sent; /* bytes written */
	int rc;	     /* 0, or the errno that stopped it */
	volatile int done;
};

struct ctx {
	uv_loop_t loop;
	uv_timer_t tick;
	struct input_unix *u;
	char dir[64];
	char path[96];
	/* small tests: lines as strings */
	char *lines[MAX_SMALL];
	uint64_t conns[MAX_SMALL];
	int n;
	/* EVE tests: every line checked against what its writer sent */
	int check;
	int nwriters;
	uint64_t conn_of[MAX_WRITERS];
	int next_seq[MAX_WRITERS];
	int errors;
	char first_error[256];
	struct eve_in *eve;
	uint64_t flows, others, refused;
	uint64_t total; /* lines seen by the callback */
	/* behaviour asked of the callback */
	uint64_t pause_at;    /* return PAUSE when total reaches this; 0: never */
	uint64_t pause_every; /* return PAUSE every this many lines; 0: never */
	int paused_now;
	int auto_resume; /* the tick resumes a pause */
	int close_after; /* close from inside the callback after this many lines */
	int closed;
	struct input_unix_stats final; /* the counters as on_close saw them */
	/* run_until */
	int (*until)(struct ctx *c);
	uint64_t deadline;
	int timed_out;
	struct writer w[MAX_WRITERS];
};

/* ------------------------------------------------------------------ */
/* Suricata 7 EVE lines                                                */
/* ------------------------------------------------------------------ */

/* Line seq of writer id, with its '\n'; returns its length ('\n' included). */
static size_t
make_line(char *buf, size_t cap, int id, int seq)
{
	unsigned long long fid = FLOW_BASE + (unsigned long long)id * PER_WRITER + (unsigned)seq;
	char ts[40];
	int n = 0;

	snprintf(ts, sizeof(ts), "2023-05-12T10:%02d:%02d.%06d+0000", seq / 3600 % 60,
		 seq / 60 % 60, seq * 7919 % 1000000);
	switch (seq % 5) {
	case 0:
		n = snprintf(
			buf, cap,
			"{\"timestamp\":\"%s\",\"flow_id\":%llu,\"in_iface\":\"eth0\","
			"\"event_type\":\"flow\",\"src_ip\":\"10.0.%d.%d\",\"src_port\":%d,"
			"\"dest_ip\":\"93.184.216.34\",\"dest_port\":443,\"proto\":\"TCP\","
			"\"app_proto\":\"tls\",\"flow\":{\"pkts_toserver\":%d,\"pkts_toclient\":10,"
			"\"bytes_toserver\":%d,\"bytes_toclient\":5921,"
			"\"start\":\"2023-05-12T10:00:00.000100+0000\",\"end\":\"%s\",\"age\":3,"
			"\"state\":\"closed\",\"reason\":\"timeout\",\"alerted\":false},"
			"\"tcp\":{\"tcp_flags\":\"1b\",\"tcp_flags_ts\":\"1b\",\"tcp_flags_tc\":"
			"\"1b\","
			"\"syn\":true,\"fin\":true,\"psh\":true,\"ack\":true,\"state\":\"closed\"}}"
			"\n",
			ts, fid, id, seq % 250 + 1, 1024 + seq % 60000, 12 + seq % 100, 1830 + seq,
			ts);
		break;
	case 1:
		n = snprintf(
			buf, cap,
			"{\"timestamp\":\"%s\",\"flow_id\":%llu,\"in_iface\":\"eth0\","
			"\"event_type\":\"alert\",\"src_ip\":\"10.0.0.5\",\"src_port\":51514,"
			"\"dest_ip\":\"192.0.2.80\",\"dest_port\":80,\"proto\":\"TCP\","
			"\"pkt_src\":\"wire/pcap\",\"alert\":{\"action\":\"allowed\",\"gid\":1,"
			"\"signature_id\":2013028,\"rev\":7,"
			"\"signature\":\"ET POLICY curl User-Agent Outbound\","
			"\"category\":\"Attempted Information Leak\",\"severity\":2},"
			"\"app_proto\":\"http\",\"direction\":\"to_server\","
			"\"flow\":{\"pkts_toserver\":4,\"pkts_toclient\":3,\"bytes_toserver\":412,"
			"\"bytes_toclient\":1300,\"start\":\"%s\"}}\n",
			ts, fid, ts);
		break;
	case 2:
		n = snprintf(
			buf, cap,
			"{\"timestamp\":\"%s\",\"flow_id\":%llu,\"in_iface\":\"eth0\","
			"\"event_type\":\"dns\",\"src_ip\":\"10.0.0.7\",\"src_port\":%d,"
			"\"dest_ip\":\"10.0.0.1\",\"dest_port\":53,\"proto\":\"UDP\","
			"\"pkt_src\":\"wire/pcap\",\"dns\":{\"version\":2,\"type\":\"answer\","
			"\"id\":%d,\"flags\":\"8180\",\"qr\":true,\"rd\":true,\"ra\":true,"
			"\"opcode\":0,\"rrname\":\"host%d.example.com\",\"rrtype\":\"A\","
			"\"rcode\":\"NOERROR\",\"answers\":[{\"rrname\":\"host%d.example.com\","
			"\"rrtype\":\"A\",\"ttl\":300,\"rdata\":\"93.184.216.%d\"}]}}\n",
			ts, fid, 40000 + seq % 20000, seq % 65536, seq, seq, seq % 250);
		break;
	case 3:
		n = snprintf(
			buf, cap,
			"{\"timestamp\":\"%s\",\"flow_id\":%llu,\"in_iface\":\"eth0\","
			"\"event_type\":\"tls\",\"src_ip\":\"10.0.0.5\",\"src_port\":%d,"
			"\"dest_ip\":\"93.184.216.34\",\"dest_port\":443,\"proto\":\"TCP\","
			"\"pkt_src\":\"wire/pcap\",\"tls\":{\"subject\":\"CN=www.example.org\","
			"\"issuerdn\":\"C=US, O=DigiCert Inc, CN=DigiCert TLS RSA SHA256 2020 "
			"CA1\","
			"\"serial\":\"0F:BE:08:B0:85:4D:05:73:8A:B0:CC:E1:C9:AF:EE:C9\","
			"\"fingerprint\":\"f2:a3:4b:c1:9e:05:d7:6a:11:8c:3e:f0:27:d9:b4:65:0a:7c:"
			"e3:12\","
			"\"sni\":\"www.example.org\",\"version\":\"TLS 1.3\","
			"\"notbefore\":\"2023-01-13T00:00:00\",\"notafter\":\"2024-02-13T23:59:"
			"59\","
			"\"ja3\":{\"hash\":\"e7d705a3286e19ea42f587b344ee6865\","
			"\"string\":\"771,4865-4866-4867,0-23-65281-10-11,29-23-24,0\"}}}\n",
			ts, fid, 1024 + seq % 60000);
		break;
	default:
		n = snprintf(
			buf, cap,
			"{\"timestamp\":\"%s\",\"flow_id\":%llu,\"in_iface\":\"eth0\","
			"\"event_type\":\"http\",\"src_ip\":\"10.0.0.9\",\"src_port\":50022,"
			"\"dest_ip\":\"192.0.2.10\",\"dest_port\":80,\"proto\":\"TCP\","
			"\"pkt_src\":\"wire/pcap\",\"tx_id\":%d,\"http\":{"
			"\"hostname\":\"www.example.org\",\"url\":\"/index.html?q=%d\","
			"\"http_user_agent\":\"curl/7.88.1\",\"http_content_type\":\"text/html\","
			"\"http_method\":\"GET\",\"protocol\":\"HTTP/1.1\",\"status\":200,"
			"\"length\":%d}}\n",
			ts, fid, seq % 7, seq, 1256 + seq % 1000);
		break;
	}
	assert_true(n > 0 && (size_t)n < cap);
	return (size_t)n;
}

/* ------------------------------------------------------------------ */
/* The callback                                                        */
/* ------------------------------------------------------------------ */

static void
fail_once(struct ctx *c, const char *fmt, ...)
{
	va_list ap;

	if (c->errors++ > 0)
		return;
	va_start(ap, fmt);
	vsnprintf(c->first_error, sizeof(c->first_error), fmt, ap);
	va_end(ap);
}

/* An EVE line: its writer and sequence from flow_id, then the exact bytes. */
static void
check_line(struct ctx *c, const char *line, size_t len, uint64_t conn)
{
	char want[2048], copy[2048];
	struct flow_record rec;
	const char *p;
	unsigned long long fid;
	int id, seq;
	size_t wlen;

	if (len >= sizeof(copy)) {
		fail_once(c, "line of %zu bytes", len);
		return;
	}
	memcpy(copy, line, len);
	copy[len] = '\0';
	p = strstr(copy, "\"flow_id\":");
	fid = p != NULL ? strtoull(p + 10, NULL, 10) : 0;
	if (fid < FLOW_BASE || (fid - FLOW_BASE) / PER_WRITER >= (unsigned)c->nwriters) {
		fail_once(c, "no flow_id of ours: %.80s", copy);
		return;
	}
	id = (int)((fid - FLOW_BASE) / PER_WRITER);
	seq = (int)((fid - FLOW_BASE) % PER_WRITER);
	if (c->conn_of[id] == 0)
		c->conn_of[id] = conn;
	if (c->conn_of[id] != conn)
		fail_once(c, "writer %d on conn %llu then %llu", id,
			  (unsigned long long)c->conn_of[id], (unsigned long long)conn);
	if (seq != c->next_seq[id])
		fail_once(c, "writer %d: line %d, expected %d", id, seq, c->next_seq[id]);
	wlen = make_line(want, sizeof(want), id, seq) - 1;
	if (wlen != len || memcmp(want, line, len) != 0)
		fail_once(c, "writer %d line %d differs", id, seq);
	c->next_seq[id] = seq + 1;
	switch (eve_in_parse(c->eve, line, len, &rec)) {
	case EVE_IN_FLOW:
		c->flows++;
		break;
	case EVE_IN_OTHER:
		c->others++;
		break;
	default:
		c->refused++;
		fail_once(c, "eve_in refused (%s at %s): %.80s",
			  eve_in_error_name(eve_in_last_error(c->eve)), eve_in_last_field(c->eve),
			  copy);
	}
}

static void
on_closed(void *arg)
{
	struct ctx *c = arg;

	c->final = *input_unix_stats(c->u);
	c->closed = 1;
}

static int
on_line(void *arg, const char *line, size_t len, uint64_t conn)
{
	struct ctx *c = arg;

	if (c->closed)
		fail_once(c, "line after close");
	c->total++;
	if (c->check) {
		check_line(c, line, len, conn);
	} else if (c->n < MAX_SMALL) {
		c->lines[c->n] = strndup(line, len);
		c->conns[c->n] = conn;
		c->n++;
	} else {
		fail_once(c, "more than %d lines", MAX_SMALL);
	}
	if (c->close_after != 0 && c->total == (uint64_t)c->close_after)
		input_unix_close(c->u, on_closed);
	if (c->paused_now)
		fail_once(c, "line while paused");
	if ((c->pause_at != 0 && c->total == c->pause_at) ||
	    (c->pause_every != 0 && c->total % c->pause_every == 0)) {
		c->paused_now = 1;
		return INPUT_UNIX_PAUSE;
	}
	return INPUT_UNIX_CONTINUE;
}

/* ------------------------------------------------------------------ */
/* Loop, fixtures                                                      */
/* ------------------------------------------------------------------ */

static void
on_tick(uv_timer_t *t)
{
	struct ctx *c = t->data;

	if (c->auto_resume && c->paused_now) {
		c->paused_now = 0;
		input_unix_resume(c->u);
	}
	if (c->until != NULL && c->until(c)) {
		uv_stop(&c->loop);
	} else if (uv_now(&c->loop) > c->deadline) {
		c->timed_out = 1;
		uv_stop(&c->loop);
	}
}

/* Run the loop until pred(c) holds (checked every ms); fail after ms. */
static void
run_until(struct ctx *c, int (*pred)(struct ctx *), uint64_t ms)
{
	c->until = pred;
	c->timed_out = 0;
	uv_update_time(&c->loop);
	c->deadline = uv_now(&c->loop) + ms;
	uv_timer_start(&c->tick, on_tick, 1, 1);
	uv_run(&c->loop, UV_RUN_DEFAULT);
	uv_timer_stop(&c->tick);
	assert_false(c->timed_out);
}

static int
never(struct ctx *c)
{
	(void)c;
	return 0;
}

/* Run the loop for ms whatever happens. */
static void
run_for(struct ctx *c, uint64_t ms)
{
	c->until = never;
	uv_update_time(&c->loop);
	c->deadline = uv_now(&c->loop) + ms;
	uv_timer_start(&c->tick, on_tick, 1, 1);
	uv_run(&c->loop, UV_RUN_DEFAULT);
	uv_timer_stop(&c->tick);
	c->timed_out = 0;
}

static int
setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return -1;
	snprintf(c->dir, sizeof(c->dir), "/tmp/darter-inunix-XXXXXX");
	if (mkdtemp(c->dir) == NULL)
		return -1;
	snprintf(c->path, sizeof(c->path), "%s/eve.sock", c->dir);
	if (uv_loop_init(&c->loop) != 0)
		return -1;
	uv_timer_init(&c->loop, &c->tick);
	c->tick.data = c;
	c->eve = eve_in_new(NULL);
	if (c->eve == NULL)
		return -1;
	*state = c;
	return 0;
}

static int
teardown(void **state)
{
	struct ctx *c = *state;
	char cmd[128];

	for (int i = 0; i < c->n; i++)
		free(c->lines[i]);
	eve_in_free(c->eve);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", c->dir);
	if (system(cmd) != 0)
		return -1;
	free(c);
	return 0;
}

/* Close the reader and the tick, run the loop dry, check everything closed. */
static void
finish(struct ctx *c)
{
	if (c->u != NULL && !c->closed)
		input_unix_close(c->u, on_closed);
	uv_close((uv_handle_t *)&c->tick, NULL);
	uv_run(&c->loop, UV_RUN_DEFAULT);
	assert_int_equal(c->closed, 1);
	assert_int_equal(uv_loop_close(&c->loop), 0);
	if (c->errors != 0)
		fail_msg("%d errors; first: %s", c->errors, c->first_error);
}

/* A started reader at c->path. */
static void
start(struct ctx *c, struct input_unix_conf *conf)
{
	conf->path = c->path;
	c->u = input_unix_new(&c->loop, conf, on_line, c);
	assert_non_null(c->u);
	assert_int_equal(input_unix_start(c->u), 0);
}

static void
start_kind(struct ctx *c, int kind)
{
	struct input_unix_conf conf;

	input_unix_conf_defaults(&conf);
	conf.kind = kind;
	start(c, &conf);
}

/* A client socket connected to path; -errno on failure. */
static int
connect_to(const char *path, int type)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

static void
send_all(int fd, const char *s, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, s, len);

		assert_true(n > 0);
		s += n;
		len -= (size_t)n;
	}
}

static void
send_str(int fd, const char *s)
{
	send_all(fd, s, strlen(s));
}

static void
expect_lines(struct ctx *c, const char *const *want, int n)
{
	assert_int_equal(c->n, n);
	for (int i = 0; i < n; i++)
		assert_string_equal(c->lines[i], want[i]);
}

/* ------------------------------------------------------------------ */
/* Writer threads                                                      */
/* ------------------------------------------------------------------ */

static const size_t chunk_sizes[] = {1, 2, 3, 5, 7, 11, 13, 97, 389, 1021, 4093, 8191, 65537};
#define N_CHUNKS (sizeof(chunk_sizes) / sizeof(chunk_sizes[0]))

static int
writer_stream(struct writer *w, int fd)
{
	size_t cap = (size_t)w->nlines * 1024 + 1, len = 0, off = 0;
	char *all = w->raw != NULL ? (char *)w->raw : malloc(cap);
	int k = w->id;

	if (all == NULL)
		return ENOMEM;
	if (w->raw != NULL)
		len = w->rawlen;
	for (int i = 0; w->raw == NULL && i < w->nlines; i++)
		len += make_line(all + len, cap - len, w->id, i);
	while (off < len) {
		size_t n = chunk_sizes[k++ % N_CHUNKS];
		ssize_t r;

		if (n > len - off)
			n = len - off;
		r = write(fd, all + off, n);
		if (r < 0) {
			if (all != w->raw)
				free(all);
			return errno;
		}
		off += (size_t)r;
		w->sent = off;
	}
	if (all != w->raw)
		free(all);
	return 0;
}

/* One line per datagram; every other one without its '\n'. */
static int
writer_dgram(struct writer *w, int fd)
{
	char line[2048];

	for (int i = 0; i < w->nlines; i++) {
		size_t len = make_line(line, sizeof(line), w->id, i) - (size_t)(i % 2);

		if (send(fd, line, len, 0) != (ssize_t)len)
			return errno;
		w->sent += len;
	}
	return 0;
}

static void *
writer_main(void *arg)
{
	struct writer *w = arg;
	int fd = connect_to(w->path, w->kind == INPUT_UNIX_DGRAM ? SOCK_DGRAM : SOCK_STREAM);

	if (fd < 0) {
		w->rc = -fd;
	} else {
		w->rc = w->kind == INPUT_UNIX_DGRAM ? writer_dgram(w, fd) : writer_stream(w, fd);
		close(fd);
	}
	__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void
writers_start(struct ctx *c, int n, int kind, int nlines)
{
	c->check = 1;
	c->nwriters = n;
	for (int i = 0; i < n; i++) {
		struct writer *w = &c->w[i];

		w->path = c->path;
		w->kind = kind;
		w->id = i;
		w->nlines = nlines;
		assert_int_equal(pthread_create(&w->tid, NULL, writer_main, w), 0);
	}
}

static int
writers_done(struct ctx *c)
{
	for (int i = 0; i < c->nwriters; i++)
		if (!__atomic_load_n(&c->w[i].done, __ATOMIC_ACQUIRE))
			return 0;
	return 1;
}

static uint64_t
writers_bytes(struct ctx *c)
{
	uint64_t b = 0;

	for (int i = 0; i < c->nwriters; i++) {
		assert_int_equal(pthread_join(c->w[i].tid, NULL), 0);
		assert_int_equal(c->w[i].rc, 0);
		b += c->w[i].sent;
	}
	return b;
}

/* Every writer finished and its connection ended (stream). */
static int
stream_all_in(struct ctx *c)
{
	const struct input_unix_stats *st = input_unix_stats(c->u);

	return writers_done(c) && st->clients == (uint64_t)c->nwriters && st->clients_now == 0;
}

static uint64_t dgram_expected;

static int
dgram_all_in(struct ctx *c)
{
	return writers_done(c) && input_unix_stats(c->u)->lines == dgram_expected;
}

static void
expect_all_seqs(struct ctx *c, int nlines)
{
	for (int i = 0; i < c->nwriters; i++)
		assert_int_equal(c->next_seq[i], nlines);
}

/* ------------------------------------------------------------------ */
/* Stream                                                              */
/* ------------------------------------------------------------------ */

/* Four writers at once, odd chunk sizes, reads of 1000 bytes: every line once, in order. */
static void
test_stream_many_writers(void **state)
{
	struct ctx *c = *state;
	struct input_unix_conf conf;
	const struct input_unix_stats *st;
	const int nlines = 3000;

	input_unix_conf_defaults(&conf);
	conf.chunk = 1000; /* lines across reads */
	start(c, &conf);
	writers_start(c, 4, INPUT_UNIX_STREAM, nlines);
	run_until(c, stream_all_in, 30000);
	st = input_unix_stats(c->u);
	assert_int_equal(st->bytes, writers_bytes(c));
	expect_all_seqs(c, nlines);
	assert_int_equal(st->lines, 4 * nlines);
	assert_int_equal(st->too_long, 0);
	assert_int_equal(st->partial, 0);
	assert_int_equal(st->disconnects, 4);
	assert_int_equal(st->read_errors, 0);
	assert_int_equal(c->refused, 0);
	assert_int_equal(c->flows, 4 * nlines / 5);
	assert_int_equal(c->others, 4 * nlines - 4 * nlines / 5);
	for (int i = 0; i < 4; i++) /* four distinct connections */
		for (int j = 0; j < i; j++)
			assert_true(c->conn_of[i] != c->conn_of[j]);
	finish(c);
}

static int
lines_done(struct ctx *c)
{
	return input_unix_stats(c->u)->clients_now == 0 && input_unix_stats(c->u)->clients > 0;
}

/* max_line exactly is delivered, one more byte is not, huge lines cost no memory. */
static void
test_stream_long_lines(void **state)
{
	struct ctx *c = *state;
	struct input_unix_conf conf;
	const struct input_unix_stats *st;
	char a[101], b[102], text[8192];
	static const char *want[4];
	int fd;

	memset(a, 'a', 100);
	a[100] = '\0';
	memset(b, 'b', 101);
	b[101] = '\0';
	want[0] = "short1";
	want[1] = a;
	want[2] = "short2";
	want[3] = "";
	input_unix_conf_defaults(&conf);
	conf.max_line = 100;
	conf.chunk = 16;
	start(c, &conf);
	fd = connect_to(c->path, SOCK_STREAM);
	assert_true(fd >= 0);
	snprintf(text, sizeof(text), "short1\n%s\n%s\n", a, b);
	send_str(fd, text);
	memset(text, 'c', 5000); /* 50 x max_line, over ~300 reads */
	text[5000] = '\n';
	send_all(fd, text, 5001);
	send_str(fd, "short2\r\n\n");
	close(fd);
	run_until(c, lines_done, 5000);
	expect_lines(c, want, 4);
	st = input_unix_stats(c->u);
	assert_int_equal(st->too_long, 2);
	assert_int_equal(st->partial, 0);
	assert_int_equal(st->lines, 4);
	finish(c);
}

/* 4 MiB without a newline, then a good line: one too_long, the line after it delivered. */
static void
test_stream_endless_line(void **state)
{
	struct ctx *c = *state;
	struct input_unix_conf conf;
	const struct input_unix_stats *st;
	size_t len = 4u << 20;
	char *raw = malloc(len + 32);

	assert_non_null(raw);
	memset(raw, 'x', len);
	memcpy(raw + len, "\n{\"after\":1}\n", 13);
	input_unix_conf_defaults(&conf);
	conf.max_line = 1024;
	conf.chunk = 4096;
	start(c, &conf);
	c->nwriters = 1;
	c->w[0].path = c->path;
	c->w[0].kind = INPUT_UNIX_STREAM;
	c->w[0].raw = raw;
	c->w[0].rawlen = len + 13;
	assert_int_equal(pthread_create(&c->w[0].tid, NULL, writer_main, &c->w[0]), 0);
	run_until(c, stream_all_in, 30000);
	assert_int_equal(writers_bytes(c), len + 13);
	st = input_unix_stats(c->u);
	assert_int_equal(st->bytes, len + 13);
	assert_int_equal(st->too_long, 1);
	assert_int_equal(st->lines, 1);
	assert_int_equal(c->n, 1);
	assert_string_equal(c->lines[0], "{\"after\":1}");
	free(raw);
	finish(c);
}

static int
is_closed(struct ctx *c)
{
	return c->closed;
}

static int
two_in_one_out(struct ctx *c)
{
	const struct input_unix_stats *st = input_unix_stats(c->u);

	return st->clients == 2 && st->rejected == 1;
}

static int
first_in(struct ctx *c)
{
	return c->n == 1 && input_unix_stats(c->u)->clients_now == 1;
}

static int
two_lines(struct ctx *c)
{
	return c->n == 2;
}

static int
three_whole(struct ctx *c)
{
	return c->n == 3 && input_unix_stats(c->u)->clients_now == 3;
}

/* Index of line s among the lines received; fails if absent. */
static int
find_line(struct ctx *c, const char *s)
{
	for (int i = 0; i < c->n; i++)
		if (strcmp(c->lines[i], s) == 0)
			return i;
	fail_msg("line %s not received", s);
	return -1;
}

static int
three_lines_one_left(struct ctx *c)
{
	const struct input_unix_stats *st = input_unix_stats(c->u);

	return c->n == 3 && st->disconnects == 1 && st->clients_now == 1;
}

/* A writer gone mid-line: its unfinished line counted, not delivered; others unaffected. */
static void
test_stream_midline_disconnect(void **state)
{
	struct ctx *c = *state;
	const struct input_unix_stats *st;
	int a, b;

	start_kind(c, INPUT_UNIX_STREAM);
	a = connect_to(c->path, SOCK_STREAM);
	b = connect_to(c->path, SOCK_STREAM);
	assert_true(a >= 0 && b >= 0);
	send_str(a, "l1\nl2\n{\"timestamp\":\"2023-05-12T10:15");
	send_str(b, "m1\n{\"event_type\":");
	close(a);
	run_until(c, three_lines_one_left, 5000);
	st = input_unix_stats(c->u);
	assert_int_equal(st->partial, 1);
	assert_int_equal(st->lines, 3);
	assert_true(find_line(c, "l1") < find_line(c, "l2"));
	assert_int_equal(c->conns[find_line(c, "l1")], c->conns[find_line(c, "l2")]);
	assert_true(c->conns[find_line(c, "m1")] != c->conns[find_line(c, "l1")]);
	input_unix_close(c->u, on_closed); /* b still holds a partial line */
	run_until(c, is_closed, 5000);
	assert_int_equal(c->closed, 1);
	assert_int_equal(c->final.partial, 2);
	assert_int_equal(c->final.clients_now, 0);
	close(b);
	finish(c);
}

/* max_clients: the next connection is accepted and closed at once, counted. */
static void
test_stream_max_clients(void **state)
{
	struct ctx *c = *state;
	struct input_unix_conf conf;
	const struct input_unix_stats *st;
	struct pollfd p;
	char byte;
	int fd[4];

	input_unix_conf_defaults(&conf);
	conf.max_clients = 2;
	start(c, &conf);
	for (int i = 0; i < 3; i++) {
		fd[i] = connect_to(c->path, SOCK_STREAM);
		assert_true(fd[i] >= 0);
	}
	run_until(c, two_in_one_out, 5000);
	st = input_unix_stats(c->u);
	assert_int_equal(st->clients, 2);
	assert_int_equal(st->clients_now, 2);
	assert_int_equal(st->rejected, 1);
	p = (struct pollfd){.fd = fd[2], .events = POLLIN};
	assert_int_equal(poll(&p, 1, 1000), 1);
	assert_true(read(fd[2], &byte, 1) <= 0); /* the third was closed */
	send_str(fd[0], "first\n");
	close(fd[0]);
	close(fd[2]);
	run_until(c, first_in, 5000);
	fd[3] = connect_to(c->path, SOCK_STREAM); /* room again */
	assert_true(fd[3] >= 0);
	send_str(fd[3], "fourth\n");
	run_until(c, two_lines, 5000);
	assert_int_equal(st->clients, 3);
	assert_int_equal(st->clients_now, 2);
	assert_int_equal(st->rejected, 1);
	assert_int_equal(c->n, 2);
	assert_string_equal(c->lines[0], "first");
	assert_string_equal(c->lines[1], "fourth");
	close(fd[1]);
	close(fd[3]);
	finish(c);
}

/* Closed with writers connected: partial lines counted, writers see the end, file gone. */
static void
test_stream_close_with_clients(void **state)
{
	struct ctx *c = *state;
	const struct input_unix_stats *st;
	struct stat sb;
	char byte;
	int fd[3];

	start_kind(c, INPUT_UNIX_STREAM);
	for (int i = 0; i < 3; i++) {
		fd[i] = connect_to(c->path, SOCK_STREAM);
		assert_true(fd[i] >= 0);
		send_str(fd[i], i == 2 ? "whole\n" : "whole\n{\"half\":");
	}
	run_until(c, three_whole, 5000);
	st = input_unix_stats(c->u);
	assert_int_equal(st->clients_now, 3);
	assert_int_equal(c->n, 3);
	input_unix_close(c->u, on_closed);
	assert_int_equal(st->partial, 2); /* counted at once; st lives until on_close */
	assert_int_equal(lstat(c->path, &sb), -1);
	assert_int_equal(errno, ENOENT);
	run_until(c, is_closed, 5000);
	for (int i = 0; i < 3; i++) {
		assert_true(read(fd[i], &byte, 1) <= 0);
		close(fd[i]);
	}
	finish(c);
}

/* Closed from inside the line callback: not one more call; the rest counted. */
static void
test_stream_close_from_callback(void **state)
{
	struct ctx *c = *state;
	int fd;

	start_kind(c, INPUT_UNIX_STREAM);
	fd = connect_to(c->path, SOCK_STREAM);
	assert_true(fd >= 0);
	send_str(fd, "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n");
	c->close_after = 3;
	run_until(c, is_closed, 5000);
	assert_int_equal(c->n, 3);
	assert_int_equal(c->final.lines, 3);
	assert_int_equal(c->final.dropped, 7); /* complete lines after the third, not delivered */
	assert_int_equal(c->final.partial, 0);
	close(fd);
	finish(c);
}

/* ------------------------------------------------------------------ */
/* Pause and resume                                                    */
/* ------------------------------------------------------------------ */

static int
paused(struct ctx *c)
{
	return c->paused_now;
}

/*
 * Paused at line 100 with 8 MB to come: no line and no byte more for
 * 300 ms while the writer sits blocked in write(2); resumed: the rest in
 * order, then pauses every 997 lines resumed from the tick.
 */
static void
pause_resume(struct ctx *c, int kind)
{
	const struct input_unix_stats *st;
	const int nlines = kind == INPUT_UNIX_DGRAM ? 8000 : 20000;
	uint64_t bytes;

	start_kind(c, kind);
	st = input_unix_stats(c->u);
	c->pause_at = 100;
	dgram_expected = (uint64_t)nlines;
	writers_start(c, 1, kind, nlines);
	run_until(c, paused, 10000);
	run_for(c, 100);
	bytes = st->bytes;
	run_for(c, 200);
	assert_int_equal(c->total, 100);
	assert_int_equal(st->lines, 100);
	assert_int_equal(st->bytes, bytes); /* nothing read while paused */
	assert_false(writers_done(c));	    /* the kernel pushed back on the writer */
	assert_int_equal(st->pauses, 1);
	c->pause_every = 997;
	c->auto_resume = 1;
	run_until(c, kind == INPUT_UNIX_DGRAM ? dgram_all_in : stream_all_in, 30000);
	assert_int_equal(st->bytes, writers_bytes(c));
	expect_all_seqs(c, nlines);
	assert_int_equal(st->lines, nlines);
	assert_int_equal(st->pauses, 1 + nlines / 997);
	assert_int_equal(st->dropped, 0);
	finish(c);
}

static void
test_stream_pause_resume(void **state)
{
	pause_resume(*state, INPUT_UNIX_STREAM);
}

static void
test_dgram_pause_resume(void **state)
{
	pause_resume(*state, INPUT_UNIX_DGRAM);
}

/* Paused from outside with lines buffered, then closed: those lines counted as dropped. */
static void
test_stream_pause_then_close(void **state)
{
	struct ctx *c = *state;
	const struct input_unix_stats *st;
	int fd;

	start_kind(c, INPUT_UNIX_STREAM);
	fd = connect_to(c->path, SOCK_STREAM);
	assert_true(fd >= 0);
	send_str(fd, "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11");
	c->pause_at = 4;
	run_until(c, paused, 5000);
	run_for(c, 20);
	st = input_unix_stats(c->u);
	assert_int_equal(st->lines, 4);
	input_unix_resume(c->u); /* never calls back from inside */
	assert_int_equal(st->lines, 4);
	input_unix_pause(c->u); /* before the idle turn: nothing more */
	run_for(c, 20);
	assert_int_equal(st->lines, 4);
	input_unix_close(c->u, on_closed);
	assert_int_equal(st->dropped, 6);
	assert_int_equal(st->partial, 1);
	close(fd);
	finish(c);
}

/*
 * Shutdown drain: paused with lines buffered and more bytes waiting in
 * the kernel; input_unix_drain delivers all of them although the reader
 * is paused, so the close that follows has nothing left to count.
 */
static void
test_stream_drain(void **state)
{
	struct ctx *c = *state;
	const struct input_unix_stats *st;
	int fd;

	start_kind(c, INPUT_UNIX_STREAM);
	fd = connect_to(c->path, SOCK_STREAM);
	assert_true(fd >= 0);
	send_str(fd, "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11");
	c->pause_at = 4;
	run_until(c, paused, 5000);
	send_str(fd, "\n12\n13\n14"); /* stays in the kernel: reading is paused */
	run_for(c, 20);
	st = input_unix_stats(c->u);
	assert_int_equal(st->lines, 4);
	c->paused_now = 0; /* lines are expected again, though the reader is paused */
	input_unix_drain(c->u);
	assert_int_equal(st->lines, 13);
	assert_int_equal(c->n, 13);
	assert_string_equal(c->lines[12], "13");
	c->paused_now = 0;
	input_unix_close(c->u, on_closed);
	assert_int_equal(st->dropped, 0);
	assert_int_equal(st->partial, 1); /* "14" never got its newline */
	close(fd);
	finish(c);
}

/* Datagrams sent before the loop ever ran: the drain reads them all. */
static void
test_dgram_drain(void **state)
{
	struct ctx *c = *state;
	const struct input_unix_stats *st;
	int fd;

	start_kind(c, INPUT_UNIX_DGRAM);
	fd = connect_to(c->path, SOCK_DGRAM);
	assert_true(fd >= 0);
	for (int i = 0; i < 5; i++)
		send_str(fd, "{\"event_type\":\"x\"}\n");
	input_unix_drain(c->u);
	st = input_unix_stats(c->u);
	assert_int_equal(st->lines, 5);
	assert_int_equal(st->reads, 5);
	input_unix_close(c->u, on_closed);
	assert_int_equal(st->dropped, 0);
	close(fd);
	finish(c);
}

/* ------------------------------------------------------------------ */
/* Datagrams                                                           */
/* ------------------------------------------------------------------ */

/* Three senders, 3000 datagrams each, half without '\n': all of them, in order per sender. */
static void
test_dgram_many(void **state)
{
	struct ctx *c = *state;
	const struct input_unix_stats *st;
	const int nlines = 3000;

	start_kind(c, INPUT_UNIX_DGRAM);
	dgram_expected = 3u * nlines;
	writers_start(c, 3, INPUT_UNIX_DGRAM, nlines);
	run_until(c, dgram_all_in, 30000);
	st = input_unix_stats(c->u);
	assert_int_equal(st->bytes, writers_bytes(c));
	expect_all_seqs(c, nlines);
	assert_int_equal(st->reads, 3 * nlines);
	assert_int_equal(st->too_long, 0);
	assert_int_equal(c->refused, 0);
	assert_int_equal(c->conn_of[0], 0); /* datagrams: conn 0 */
	finish(c);
}

static int
five_datagrams(struct ctx *c)
{
	return input_unix_stats(c->u)->reads == 5;
}

/* Oversized datagrams (truncation seen with MSG_TRUNC) counted, never delivered cut. */
static void
test_dgram_too_long(void **state)
{
	struct ctx *c = *state;
	struct input_unix_conf conf;
	const struct input_unix_stats *st;
	char big[100003];
	int fd;

	input_unix_conf_defaults(&conf);
	conf.kind = INPUT_UNIX_DGRAM;
	conf.max_line = 100;
	start(c, &conf);
	fd = connect_to(c->path, SOCK_DGRAM);
	assert_true(fd >= 0);
	memset(big, 'z', sizeof(big));
	big[100] = '\n';
	assert_int_equal(send(fd, big, 101, 0), 101); /* max_line + '\n': delivered */
	big[100] = '\r';
	big[101] = '\n';
	assert_int_equal(send(fd, big, 102, 0), 102); /* max_line + "\r\n": delivered */
	big[100] = 'y';
	assert_int_equal(send(fd, big, 101, 0), 101); /* max_line + 1, no '\n': too long */
	assert_int_equal(send(fd, big + 3, 100000, 0), 100000); /* 1000 x: too long */
	assert_int_equal(send(fd, "", 0, 0), 0);		/* empty: an empty line */
	run_until(c, five_datagrams, 5000);
	st = input_unix_stats(c->u);
	assert_int_equal(st->too_long, 2);
	assert_int_equal(st->lines, 3);
	assert_int_equal(c->n, 3);
	assert_int_equal(strlen(c->lines[0]), 100);
	assert_int_equal(strlen(c->lines[1]), 100);
	assert_string_equal(c->lines[2], "");
	assert_int_equal(st->bytes, 101 + 102 + 101 + 100000);
	close(fd);
	finish(c);
}

/* ------------------------------------------------------------------ */
/* The socket file                                                     */
/* ------------------------------------------------------------------ */

static void
expect_mode(const char *path, mode_t mode)
{
	struct stat sb;

	assert_int_equal(lstat(path, &sb), 0);
	assert_true(S_ISSOCK(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, mode);
}

/* Mode 0660 by default, as configured otherwise (whatever the umask), gone at close. */
static void
test_file_mode(void **state)
{
	struct ctx *c = *state;
	struct input_unix_conf conf;
	struct input_unix *u2;
	char path2[160];
	struct stat sb;
	mode_t old = umask(077);

	start_kind(c, INPUT_UNIX_STREAM);
	expect_mode(c->path, 0660);
	input_unix_conf_defaults(&conf);
	conf.kind = INPUT_UNIX_DGRAM;
	conf.file_mode = 0602;
	conf.gid = getgid(); /* chown to our own group: allowed */
	snprintf(path2, sizeof(path2), "%s/dgram.sock", c->dir);
	conf.path = path2;
	u2 = input_unix_new(&c->loop, &conf, on_line, c);
	assert_non_null(u2);
	assert_int_equal(input_unix_start(u2), 0);
	umask(old);
	expect_mode(path2, 0602);
	assert_int_equal(lstat(path2, &sb), 0);
	assert_int_equal(sb.st_gid, getgid());
	input_unix_close(u2, NULL);
	assert_int_equal(lstat(path2, &sb), -1);
	input_unix_close(c->u, on_closed);
	assert_int_equal(lstat(c->path, &sb), -1);
	assert_int_equal(errno, ENOENT);
	finish(c);
}

static int
one_line(struct ctx *c)
{
	return c->n >= 1;
}

/* A socket file left by a crash (nobody listens): replaced, and the new one works. */
static void
test_stale_stream(void **state)
{
	struct ctx *c = *state;
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int old = socket(AF_UNIX, SOCK_STREAM, 0), fd;
	struct stat before, after;

	assert_true(old >= 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", c->path);
	assert_int_equal(bind(old, (struct sockaddr *)&a, sizeof(a)), 0);
	close(old); /* the file stays */
	assert_int_equal(lstat(c->path, &before), 0);
	assert_int_equal(connect_to(c->path, SOCK_STREAM), -ECONNREFUSED);
	start_kind(c, INPUT_UNIX_STREAM);
	assert_int_equal(lstat(c->path, &after), 0);
	assert_true(after.st_ino != before.st_ino);
	fd = connect_to(c->path, SOCK_STREAM);
	assert_true(fd >= 0);
	send_str(fd, "{\"revived\":true}\n");
	run_until(c, one_line, 5000);
	assert_string_equal(c->lines[0], "{\"revived\":true}");
	close(fd);
	finish(c);
}

static void
test_stale_dgram(void **state)
{
	struct ctx *c = *state;
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int old = socket(AF_UNIX, SOCK_DGRAM, 0), fd;

	assert_true(old >= 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", c->path);
	assert_int_equal(bind(old, (struct sockaddr *)&a, sizeof(a)), 0);
	close(old);
	assert_int_equal(connect_to(c->path, SOCK_DGRAM), -ECONNREFUSED);
	start_kind(c, INPUT_UNIX_DGRAM);
	fd = connect_to(c->path, SOCK_DGRAM);
	assert_true(fd >= 0);
	send_str(fd, "{\"revived\":true}\n");
	run_until(c, one_line, 5000);
	assert_string_equal(c->lines[0], "{\"revived\":true}");
	close(fd);
	finish(c);
}

/* A live listener (ours, or any socket, of either type) or a regular file: refused, kept. */
static void
test_live_refused(void **state)
{
	struct ctx *c = *state;
	struct input_unix_conf conf;
	struct input_unix *u2;
	struct stat before, after;
	char file[160];
	int fd;

	start_kind(c, INPUT_UNIX_STREAM);
	assert_int_equal(lstat(c->path, &before), 0);
	for (int kind = INPUT_UNIX_STREAM; kind <= INPUT_UNIX_DGRAM; kind++) {
		input_unix_conf_defaults(&conf);
		conf.kind = kind;
		conf.path = c->path;
		u2 = input_unix_new(&c->loop, &conf, on_line, c);
		assert_non_null(u2);
		assert_int_equal(input_unix_start(u2), -EADDRINUSE);
		input_unix_close(u2, NULL);
	}
	assert_int_equal(lstat(c->path, &after), 0);
	assert_int_equal(after.st_ino, before.st_ino);
	fd = connect_to(c->path, SOCK_STREAM); /* the first one still serves */
	assert_true(fd >= 0);
	send_str(fd, "still here\n");
	run_until(c, one_line, 5000);
	assert_string_equal(c->lines[0], "still here");
	close(fd);

	snprintf(file, sizeof(file), "%s/regular", c->dir);
	fclose(fopen(file, "w"));
	input_unix_conf_defaults(&conf);
	conf.path = file;
	u2 = input_unix_new(&c->loop, &conf, on_line, c);
	assert_non_null(u2);
	assert_int_equal(input_unix_start(u2), -EEXIST);
	input_unix_close(u2, NULL);
	assert_int_equal(lstat(file, &after), 0);
	assert_true(S_ISREG(after.st_mode));
	finish(c);
}

/* Bad arguments: EINVAL, not a crash; start twice: EALREADY. */
static void
test_args(void **state)
{
	struct ctx *c = *state;
	struct input_unix_conf conf;
	char longpath[200];

	input_unix_conf_defaults(&conf);
	errno = 0;
	assert_null(input_unix_new(&c->loop, &conf, on_line, c)); /* no path */
	assert_int_equal(errno, EINVAL);
	memset(longpath, 'p', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	conf.path = longpath;
	assert_null(input_unix_new(&c->loop, &conf, on_line, c));
	assert_int_equal(errno, EINVAL);
	conf.path = c->path;
	assert_null(input_unix_new(&c->loop, &conf, NULL, c));
	conf.kind = 7;
	assert_null(input_unix_new(&c->loop, &conf, on_line, c));
	conf.kind = INPUT_UNIX_STREAM;
	conf.file_mode = 010000;
	assert_null(input_unix_new(&c->loop, &conf, on_line, c));
	conf.file_mode = 0;
	start(c, &conf);
	expect_mode(c->path, 0660);
	assert_int_equal(input_unix_start(c->u), -EALREADY);
	input_unix_close(NULL, NULL);
	finish(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_stream_many_writers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_long_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_endless_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_midline_disconnect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_max_clients, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_close_with_clients, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_close_from_callback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_pause_resume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_pause_then_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_drain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dgram_drain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dgram_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dgram_too_long, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dgram_pause_resume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_dgram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_args, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
