/*
 * test_score_redis.c: the MAD core's redis store against a real redis-server.
 *
 * Each test starts its own redis-server on a free loopback port (bind
 * 127.0.0.1:0, read the port, close), in a mkdtemp directory, without
 * persistence, and kills it by PID at the end; the child also dies with
 * us (PR_SET_PDEATHSIG). The checks: the server-side script, applying
 * calls of many records, computes exactly what engine/mad.c computes
 * (both step modes, one or many records per call); two scorers sharing
 * an estimator lose no update; a call touching a corrupt key writes
 * nothing; every record gets exactly one done call whatever Redis does
 * (killed, restarted, stopped, absent); the state sits in Redis under
 * the documented key layout. Records are
 * fed by a timer on the loop so that fallbacks (answered inside
 * score_record) never recurse. Every test runs its loop to completion
 * and checks uv_loop_close() == 0; a watchdog alarm fails a test that
 * hangs and still kills its server. Without redis-server: exit 77.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
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
#include <sys/time.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <uv.h>

#include "rconn.h"
#include "score.h"

#define TEST_ALARM_S 90
#define PREFIX	     "darter:test:"

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

/*
 * One command on a fresh blocking connection, independent of rconn: the
 * raw RESP reply (a simple reply or one bulk string) into buf. Returns
 * its length.
 */
static size_t
server_call(int argc, const char *const *argv, char *buf, size_t cap)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(S.port)};
	char req[1024];
	size_t len = 0, have = 0;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	len = (size_t)snprintf(req, sizeof(req), "*%d\r\n", argc);
	for (int i = 0; i < argc; i++)
		len += (size_t)snprintf(req + len, sizeof(req) - len, "$%zu\r\n%s\r\n",
					strlen(argv[i]), argv[i]);
	assert_true(len < sizeof(req));
	assert_int_equal(write(fd, req, len), (ssize_t)len);
	for (;;) {
		char *eol;
		ssize_t n = read(fd, buf + have, cap - 1 - have);

		assert_true(n > 0);
		have += (size_t)n;
		buf[have] = '\0';
		eol = strstr(buf, "\r\n");
		if (eol == NULL)
			continue;
		if (buf[0] != '$' || atol(buf + 1) < 0 ||
		    have >= (size_t)(eol + 2 - buf) + (size_t)atol(buf + 1) + 2)
			break;
	}
	close(fd);
	return have;
}

/* n (field 5) of the state stored under key; -1 when there is none. */
static double
server_state_n(const char *key)
{
	const char *argv[] = {"GET", key};
	char buf[128];
	size_t len = server_call(2, argv, buf, sizeof(buf));
	unsigned char b[8];
	double v;

	if (len < 5 + 48 || memcmp(buf, "$48\r\n", 5) != 0)
		return -1;
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)
			buf[5 + 32 + (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? i : 7 - i)];
	memcpy(&v, b, sizeof(v));
	return v;
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

static void
on_alarm(int sig)
{
	static const char msg[] = "not ok - test_score_redis: hung, killed by the watchdog\n";

	(void)sig;
	if (S.pid > 0)
		kill(S.pid, SIGKILL);
	unlink(S.log);
	rmdir(S.dir);
	_exit(write(STDOUT_FILENO, msg, sizeof(msg) - 1) < 0 ? 2 : 1);
}

/* ------------------------------------------------------------------ */
/* Test state                                                         */
/* ------------------------------------------------------------------ */

#define MAX_RECS  (1u << 21)
#define MAX_KEEP  10000 /* records whose results are kept for comparison */
#define N_SPECS_X 3

typedef void (*tick_fn)(void);

static struct {
	uv_loop_t loop;
	uv_timer_t feed;
	bool feeding;
	struct score *s;
	int closed;
	unsigned calls_at_close;
	uint32_t window;
	uint64_t seed;
	uint64_t sent, answered, remote, local, eagain;
	uint64_t last_id; /* answered in order (no fallback tests) */
	bool out_of_order;
	uint64_t limit; /* records to send; 0: until told */
	unsigned per_tick;
	tick_fn on_tick; /* runs every feed tick, after feeding */
	int phase;
	uint64_t mark;
	struct score_stats st;
	bool layout;	   /* make_rec: only tcp/443 from 10.1.2.0/24, bytes both ways */
	struct mad ref[3]; /* layout: bytes, pcr, pkts fed in send order */
	uint8_t *counts;   /* done calls per flow_id */
	struct score_result (*keep)[N_SPECS_X];
	unsigned keep_n[MAX_KEEP + 1];
} T;

static struct flow_record
make_rec(uint64_t id)
{
	static const char *const srcs[] = {"10.1.2.3", "10.1.2.77", "10.9.0.1", "172.16.0.5"};
	uint64_t *s = &T.seed;
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	struct flow_record r;
	double u1, u2;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	u1 = ((double)(z >> 11) + 0.5) * 0x1p-53;
	u2 = ((double)((z * 0x2545f4914f6cdd1dull) >> 11) + 0.5) * 0x1p-53;
	memset(&r, 0, sizeof(r));
	r.flow_id = id;
	r.ip_version = 4;
	r.proto = z % 5 == 0 ? 17 : 6;
	r.src_port = 40000;
	r.dst_port = (uint16_t)(z % 3 == 0 ? 80 : 443);
	inet_pton(AF_INET, srcs[(z >> 8) % 4], r.src_ip);
	inet_pton(AF_INET, "192.168.0.1", r.dst_ip);
	r.bytes_toserver =
		(uint64_t)exp(log(1000.0) + 1.5 * sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
	r.bytes_toclient = (z >> 16) % 4 == 0 ? 0 : r.bytes_toserver / 3 + (z >> 40) % 5000;
	if ((z >> 20) % 97 == 0)
		r.bytes_toserver = r.bytes_toclient = 0; /* pcr undefined */
	if (T.layout) {
		r.proto = 6;
		r.dst_port = 443;
		inet_pton(AF_INET, "10.1.2.0", r.src_ip);
		r.src_ip[3] = (uint8_t)(z >> 50);
		r.bytes_toclient = r.bytes_toserver / 2 + 1;
	}
	r.pkts_toserver = 1 + r.bytes_toserver / 800;
	r.start_us = 1000000;
	r.end_us = r.start_us + (z >> 24) % 5000000;
	return r;
}

static void
on_done(void *arg, const struct flow_record *rec, const struct score_result *res, unsigned n)
{
	(void)arg;
	assert_true(rec->flow_id >= 1 && rec->flow_id <= T.sent);
	assert_true(rec->flow_id < MAX_RECS);
	T.counts[rec->flow_id]++;
	T.answered++;
	if (n > 0 && res[0].remote) {
		T.remote++;
		if (rec->flow_id < T.last_id)
			T.out_of_order = true;
		T.last_id = rec->flow_id;
	} else {
		T.local++;
	}
	for (unsigned k = 1; k < n; k++)
		assert_int_equal(res[k].remote, res[0].remote);
	if (T.keep != NULL && rec->flow_id <= MAX_KEEP) {
		memcpy(T.keep[rec->flow_id], res, n * sizeof(*res));
		T.keep_n[rec->flow_id] = n;
	}
}

static void
on_closed(void *arg)
{
	(void)arg;
	T.closed++;
	T.calls_at_close = (unsigned)T.answered;
}

static void
send_one(void)
{
	struct flow_record r = make_rec(++T.sent);
	int rc;

	assert_true(T.sent < MAX_RECS);
	if (T.layout) {
		double out = (double)r.bytes_toserver, in = (double)r.bytes_toclient;
		struct mad_result mr;

		assert_int_equal(mad_update(&T.ref[0], out + in, &mr), 0);
		assert_int_equal(mad_update(&T.ref[1], (out - in) / (out + in), &mr), 0);
		assert_int_equal(mad_update(&T.ref[2], (double)r.pkts_toserver, &mr), 0);
	}
	rc = score_record(T.s, &r);
	if (rc == -EAGAIN)
		T.eagain++;
	else
		assert_int_equal(rc, 0);
}

/* Feed while the window has room: never a fallback for a full window. */
static void
feed_tick(uv_timer_t *t)
{
	(void)t;
	for (unsigned k = 0; T.feeding && k < T.per_tick; k++) {
		if (T.limit != 0 && T.sent >= T.limit)
			break;
		if (score_pending(T.s) >= T.window)
			break;
		send_one();
	}
	if (T.on_tick != NULL)
		T.on_tick();
}

/* Stop feeding, close the scorer and the feed timer. */
static void
finish(void)
{
	T.feeding = false;
	score_stats_get(T.s, &T.st);
	score_close(T.s, on_closed, NULL);
	uv_close((uv_handle_t *)&T.feed, NULL);
}

static void
finish_when_all_answered(void)
{
	if (T.sent == T.limit && T.answered == T.limit && T.feeding)
		finish();
}

static struct score_conf
conf_of(const char *const *specs, unsigned n, uint32_t window)
{
	struct score_conf c;

	memset(&c, 0, sizeof(c));
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(score_spec_parse(specs[i], &c.specs[i]), 0);
	c.n_specs = n;
	c.mad = mad_opts_default();
	c.store = SCORE_STORE_REDIS;
	c.max_groups = 4096;
	c.redis_host = "127.0.0.1";
	c.redis_port = S.port;
	c.redis_timeout_ms = 2000;
	c.redis_window = window;
	c.redis_prefix = PREFIX;
	return c;
}

static void
start(const struct score_conf *c, uint64_t limit, unsigned per_tick, tick_fn on_tick)
{
	T.s = score_new(&T.loop, c, on_done, NULL);
	assert_non_null(T.s);
	T.window = c->redis_window;
	T.limit = limit;
	T.per_tick = per_tick;
	T.on_tick = on_tick;
	T.feeding = true;
	assert_int_equal(uv_timer_init(&T.loop, &T.feed), 0);
	assert_int_equal(uv_timer_start(&T.feed, feed_tick, 0, 1), 0);
}

static void
run_and_close_loop(void)
{
	assert_int_equal(uv_run(&T.loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(T.closed, 1);
	assert_int_equal(uv_loop_close(&T.loop), 0);
}

/* Every record sent was answered exactly once. */
static void
assert_each_once(void)
{
	assert_int_equal(T.answered, T.sent);
	for (uint64_t id = 1; id <= T.sent; id++)
		if (T.counts[id] != 1)
			fail_msg("record %llu answered %u times", (unsigned long long)id,
				 (unsigned)T.counts[id]);
}

static int
setup_port(void **state)
{
	(void)state;
	free(T.counts);
	memset(&T, 0, sizeof(T));
	T.counts = calloc(MAX_RECS, 1);
	assert_non_null(T.counts);
	T.seed = 1;
	snprintf(S.dir, sizeof(S.dir), "/tmp/test_score_redis.XXXXXX");
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
	free(T.counts);
	free(T.keep);
	T.counts = NULL;
	T.keep = NULL;
	return 0;
}

/* ------------------------------------------------------------------ */
/* The script computes what mad.c computes                            */
/* ------------------------------------------------------------------ */

#define SAME_N 10000

static const char *const same_specs[N_SPECS_X] = {"bytes/global", "pcr/dest_port",
						  "duration/src_subnet:24"};

static double
rel_diff(double a, double b)
{
	return a == b ? 0 : fabs(a - b) / fmax(fabs(a), fabs(b));
}

/*
 * The same records through the local store and the redis store (calls of
 * up to window records) give the same results, with mad options o.
 */
static void
local_equals_redis(const struct mad_opts *o, uint32_t window, unsigned per_tick, uint64_t n)
{
	struct score_conf lc = conf_of(same_specs, N_SPECS_X, window);
	struct score_conf rc;
	struct score *local;
	static struct score_result ref[SAME_N + 1][N_SPECS_X];
	static unsigned ref_n[SAME_N + 1];
	double worst = 0;
	uint64_t exact = 0, compared = 0;

	assert_true(n <= SAME_N && n <= MAX_KEEP);
	lc.mad = *o;
	rc = lc;
	/* The reference: the same records through the local store. */
	lc.store = SCORE_STORE_LOCAL;
	T.keep = calloc(MAX_KEEP + 1, sizeof(*T.keep));
	assert_non_null(T.keep);
	local = score_new(NULL, &lc, on_done, NULL);
	assert_non_null(local);
	for (uint64_t id = 1; id <= n; id++) {
		struct flow_record r = make_rec(id);

		T.sent = id;
		assert_int_equal(score_record(local, &r), 0);
		memcpy(ref[id], T.keep[id], sizeof(ref[id]));
		ref_n[id] = T.keep_n[id];
	}
	score_close(local, NULL, NULL);
	memset(T.counts, 0, MAX_RECS);
	T.sent = T.answered = T.remote = T.local = T.last_id = 0;
	T.seed = 1; /* the same records again */

	start(&rc, n, per_tick, finish_when_all_answered);
	run_and_close_loop();
	assert_each_once();
	assert_int_equal(T.remote, n);
	assert_false(T.out_of_order);
	assert_int_equal(T.st.redis_fallbacks, 0);
	assert_int_equal(T.st.redis_errors, 0);
	assert_int_equal(T.st.redis_calls, n);
	assert_int_equal(T.st.redis_replies, n);
	/* records travel many to a call, never more than the window */
	assert_true(T.st.redis_batches >= (n + window - 1) / window);
	if (window > 1)
		assert_true(T.st.redis_batches < n / 2);
	for (uint64_t id = 1; id <= n; id++) {
		assert_int_equal(T.keep_n[id], ref_n[id]);
		for (unsigned k = 0; k < ref_n[id]; k++) {
			const struct score_result *a = &ref[id][k], *b = &T.keep[id][k];

			assert_true(b->remote && !a->remote);
			assert_string_equal(a->group_key, b->group_key);
			assert_int_equal(a->metric, b->metric);
			assert_true(a->value == b->value);
			assert_int_equal(a->n, b->n);
			assert_int_equal(a->outlier, b->outlier);
			assert_int_equal(a->burn_in, b->burn_in);
			worst = fmax(worst, rel_diff(a->median, b->median));
			worst = fmax(worst, rel_diff(a->mad, b->mad));
			worst = fmax(worst, rel_diff(a->score, b->score));
			exact += a->median == b->median && a->mad == b->mad && a->score == b->score;
			compared++;
		}
	}
	print_message("# %llu results compared (%llu calls): %llu bit-identical, worst relative "
		      "difference %.3g\n",
		      (unsigned long long)compared, (unsigned long long)T.st.redis_batches,
		      (unsigned long long)exact, worst);
	assert_true(worst <= 1e-9);
	assert_true(compared > 2 * n);
}

static void
test_local_equals_redis(void **state)
{
	struct mad_opts o = mad_opts_default();

	(void)state;
	local_equals_redis(&o, 64, 64, SAME_N);
}

/* The script's other branches: absolute step, no transform; one record per call. */
static void
test_local_equals_redis_absolute(void **state)
{
	struct mad_opts o = mad_opts_default();

	(void)state;
	o.step = MAD_STEP_ABSOLUTE;
	o.eta = 0.01;
	o.transform = MAD_TRANSFORM_NONE;
	local_equals_redis(&o, 300, 1000, SAME_N);
}

static void
test_local_equals_redis_window1(void **state)
{
	struct mad_opts o = mad_opts_default();

	(void)state;
	local_equals_redis(&o, 1, 64, 2000); /* one record per loop turn: fewer */
}

/* ------------------------------------------------------------------ */
/* The Redis layout                                                   */
/* ------------------------------------------------------------------ */

/* One GET (or DBSIZE) reply. */
struct getval {
	int calls;
	char buf[64];
	size_t len;
	long long keys;
};

static void
get_cb(struct rconn *c, enum rconn_result res, const struct rconn_reply *r, void *arg)
{
	struct getval *h = arg;

	(void)c;
	h->calls++;
	assert_int_equal(res, RCONN_RESULT_OK);
	if (r->type == RCONN_TYPE_INTEGER) {
		h->keys = r->integer;
		return;
	}
	assert_int_equal(r->type, RCONN_TYPE_STRING);
	assert_true(r->len <= sizeof(h->buf));
	memcpy(h->buf, r->str, r->len);
	h->len = r->len;
}

/* Field k of a stored state: a little-endian double, decoded independently of score_redis.c */
static double
state_field(const struct getval *h, int k)
{
	unsigned char b[8];
	double v;

	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)
			       h->buf[8 * k +
				      (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? i : 7 - i)];
	memcpy(&v, b, sizeof(v));
	return v;
}

static struct rconn *layout_c;
static struct getval layout_h[4];

static void
on_rconn_closed(void *arg)
{
	(void)arg;
}

static void
layout_check(void)
{
	static const char *const keys[3] = {PREFIX "bytes/dest_port:tcp/443",
					    PREFIX "pcr/src_subnet:10.1.2.0/24",
					    PREFIX "pkts/global"};
	const char *dbsize[] = {"DBSIZE"};

	if (T.phase == 0 && T.answered == T.limit) {
		struct rconn_conf cc = {.host = "127.0.0.1",
					.port = S.port,
					.timeout_ms = 2000,
					.backoff_min_ms = 10,
					.backoff_max_ms = 100,
					.max_pending = 8};

		layout_c = rconn_new(&T.loop, &cc);
		assert_non_null(layout_c);
		for (int i = 0; i < 3; i++) {
			const char *argv[] = {"GET", keys[i]};

			assert_int_equal(
				rconn_command(layout_c, get_cb, &layout_h[i], 2, argv, NULL), 0);
		}
		assert_int_equal(rconn_command(layout_c, get_cb, &layout_h[3], 1, dbsize, NULL), 0);
		T.phase = 1;
	} else if (T.phase == 1 && layout_h[3].calls == 1) {
		rconn_close(layout_c, on_rconn_closed, NULL);
		finish();
		T.phase = 2;
	}
}

/* The value holds exactly the reference estimator's state: six LE doubles m d u v n n_d. */
static void
assert_stored_state(const struct getval *h, const struct mad *ref)
{
	struct mad_state st;

	mad_state_export(ref, &st);
	assert_int_equal(h->calls, 1);
	assert_int_equal(h->len, 48);
	assert_true(state_field(h, 0) == st.m);
	assert_true(state_field(h, 1) == st.d);
	assert_true(state_field(h, 2) == st.u);
	assert_true(state_field(h, 3) == st.v);
	assert_true(state_field(h, 4) == (double)st.n);
	assert_true(state_field(h, 5) == (double)st.n_d);
}

static void
test_redis_layout(void **state)
{
	static const char *const specs[] = {"bytes/dest_port", "pcr/src_subnet:24", "pkts/global"};
	struct score_conf c = conf_of(specs, 3, 16);
	struct mad_opts none = mad_opts_default();

	(void)state;
	memset(layout_h, 0, sizeof(layout_h));
	T.layout = true;
	none.transform = MAD_TRANSFORM_NONE; /* pcr is estimated as is */
	assert_int_equal(mad_init(&T.ref[0], NULL), 0);
	assert_int_equal(mad_init(&T.ref[1], &none), 0);
	assert_int_equal(mad_init(&T.ref[2], NULL), 0);
	start(&c, 1500, 16, layout_check);
	run_and_close_loop();
	assert_int_equal(T.phase, 2);
	assert_each_once();
	assert_int_equal(T.remote, 1500);
	assert_int_equal(T.st.groups, 3);
	assert_int_equal(layout_h[3].keys, 3); /* DBSIZE: nothing else was written */
	for (int i = 0; i < 3; i++)
		assert_stored_state(&layout_h[i], &T.ref[i]);
	assert_true(state_field(&layout_h[2], 4) == 1500.0);
}

/* ------------------------------------------------------------------ */
/* Pipelining                                                         */
/* ------------------------------------------------------------------ */

#define PIPE_N 100000

static void
test_pipeline(void **state)
{
	static const char *const specs[] = {"bytes/global", "bytes/dest_port"};
	struct score_conf c = conf_of(specs, 2, 1000);

	(void)state;
	start(&c, PIPE_N, 2000, finish_when_all_answered);
	run_and_close_loop();
	assert_each_once();
	print_message("# %d records pipelined, window 1000: %llu answered by Redis\n", PIPE_N,
		      (unsigned long long)T.remote);
	assert_int_equal(T.remote, PIPE_N);
	assert_false(T.out_of_order);
	assert_int_equal(T.st.records, PIPE_N);
	assert_int_equal(T.st.redis_calls, PIPE_N);
	assert_int_equal(T.st.redis_replies, PIPE_N);
	print_message("# %llu EVALSHA calls\n", (unsigned long long)T.st.redis_batches);
	assert_true(T.st.redis_batches <= PIPE_N / 100); /* many records per call */
	assert_int_equal(T.st.updates, 2 * PIPE_N);
	assert_int_equal(T.st.redis_fallbacks, 0);
	assert_int_equal(T.st.redis_pending, 0);
}

/* A full window: the record is scored locally at once, -EAGAIN, done still once. */
static void
test_window_full(void **state)
{
	static const char *const specs[] = {"bytes/global"};
	struct score_conf c = conf_of(specs, 1, 4);

	(void)state;
	start(&c, 10, 0, finish_when_all_answered); /* the timer feeds nothing */
	for (int i = 0; i < 10; i++)
		send_one();
	assert_int_equal(T.eagain, 6);
	assert_int_equal(T.answered, 6); /* 5..10, at once */
	assert_int_equal(score_pending(T.s), 4);
	run_and_close_loop();
	assert_each_once();
	assert_int_equal(T.remote, 4);
	assert_int_equal(T.st.redis_fallbacks, 6);
	assert_int_equal(T.st.redis_calls, 4);
}

/* ------------------------------------------------------------------ */
/* Redis killed mid-stream, then restarted                            */
/* ------------------------------------------------------------------ */

static void
kill_tick(void)
{
	struct score_stats st;

	score_stats_get(T.s, &st);
	if (T.phase == 0 && T.remote >= 3000) {
		kill(S.pid, SIGKILL); /* a window of calls in flight */
		waitpid(S.pid, NULL, 0);
		S.pid = 0;
		T.phase = 1;
	} else if (T.phase == 1 && T.local >= 2000) {
		server_start(); /* same port, empty */
		T.mark = T.remote;
		T.phase = 2;
	} else if (T.phase == 2 && T.remote >= T.mark + 2000) {
		T.phase = 3;
		T.limit = T.sent; /* stop feeding; finish once all are in */
	} else if (T.phase == 3) {
		finish_when_all_answered();
	}
}

static void
test_kill_restart(void **state)
{
	static const char *const specs[] = {"bytes/global", "pkts/dest_port"};
	struct score_conf c = conf_of(specs, 2, 256);

	(void)state;
	start(&c, 0, 300, kill_tick);
	run_and_close_loop();
	assert_each_once();
	print_message("# kill/restart: %llu records, %llu by Redis, %llu locally, "
		      "%llu redis calls, %llu fallback updates\n",
		      (unsigned long long)T.sent, (unsigned long long)T.remote,
		      (unsigned long long)T.local, (unsigned long long)T.st.redis_calls,
		      (unsigned long long)T.st.redis_fallbacks);
	assert_int_equal(T.phase, 3);
	assert_true(T.local >= 2000);
	assert_true(T.remote >= T.mark + 2000); /* Redis used again after the restart */
	assert_int_equal(T.st.redis_fallbacks, 2 * T.local);
	assert_int_equal(T.st.redis_replies, T.remote);
	assert_int_equal(T.st.records, T.sent);
	assert_int_equal(T.st.redis_pending, 0);
	assert_true(T.st.redis_calls > T.st.redis_replies); /* some were lost with the server */
}

/* ------------------------------------------------------------------ */
/* Two workers sharing the state; a call that fails as a whole         */
/* ------------------------------------------------------------------ */

#define TWO_N	   20000
#define TWO_WINDOW 500

static struct {
	struct score *s[2];
	uint64_t sent[2], answered[2];
	uint8_t seen_n[2 * TWO_N + 2]; /* global results by n: each n exactly once */
	uv_timer_t feed;
	bool feeding;
	int closed;
} W;

static void
two_done(void *arg, const struct flow_record *rec, const struct score_result *res, unsigned n)
{
	int w = (int)(intptr_t)arg;

	(void)rec;
	W.answered[w]++;
	assert_int_equal(n, 1);
	assert_true(res[0].remote);
	assert_true(res[0].n <= 2 * TWO_N + 1);
	W.seen_n[res[0].n]++;
}

static void
two_closed(void *arg)
{
	(void)arg;
	W.closed++;
}

static void
two_tick(uv_timer_t *t)
{
	(void)t;
	for (int w = 0; W.feeding && w < 2; w++)
		for (int k = 0; k < 300 && W.sent[w] < TWO_N; k++) {
			struct flow_record r;

			if (score_pending(W.s[w]) >= TWO_WINDOW)
				break;
			r = make_rec(++T.sent);
			assert_int_equal(score_record(W.s[w], &r), 0);
			W.sent[w]++;
		}
	if (W.feeding && W.answered[0] == TWO_N && W.answered[1] == TWO_N) {
		W.feeding = false;
		score_close(W.s[0], two_closed, NULL);
		score_close(W.s[1], two_closed, NULL);
		uv_close((uv_handle_t *)&W.feed, NULL);
	}
}

/*
 * Two scorers (two workers) share one global estimator in Redis, each
 * sending calls of many records: every update lands exactly once, in one
 * order, so the n each record was scored with is unique across both and
 * the state Redis keeps learned all of them.
 */
static void
test_two_workers(void **state)
{
	static const char *const specs[] = {"bytes/global"};
	struct score_conf c = conf_of(specs, 1, TWO_WINDOW);
	uint64_t missing = 0;

	(void)state;
	memset(&W, 0, sizeof(W));
	W.s[0] = score_new(&T.loop, &c, two_done, (void *)(intptr_t)0);
	W.s[1] = score_new(&T.loop, &c, two_done, (void *)(intptr_t)1);
	assert_non_null(W.s[0]);
	assert_non_null(W.s[1]);
	W.feeding = true;
	assert_int_equal(uv_timer_init(&T.loop, &W.feed), 0);
	assert_int_equal(uv_timer_start(&W.feed, two_tick, 0, 1), 0);
	assert_int_equal(uv_run(&T.loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(W.closed, 2);
	assert_int_equal(uv_loop_close(&T.loop), 0);
	for (uint64_t n = 0; n < sizeof(W.seen_n); n++) {
		assert_true(W.seen_n[n] <= 1);
		missing += W.seen_n[n] == 0;
	}
	assert_int_equal(missing, sizeof(W.seen_n) - 2 * TWO_N);
	assert_true(server_state_n(PREFIX "bytes/global") == 2.0 * TWO_N);
	print_message("# two workers, %d records each: every n seen once, Redis learned %d\n",
		      TWO_N, 2 * TWO_N);
}

/*
 * A key holding something else fails every call that touches it with an
 * error reply: those calls' records are scored locally, counted, and
 * none of their updates reach Redis, not even those of other keys (the
 * script checks before it writes).
 */
static void
test_bad_state(void **state)
{
	static const char *const specs[] = {"bytes/global", "bytes/dest_port"};
	const char *set[] = {"SET", PREFIX "bytes/dest_port:tcp/80", "not a state"};
	struct score_conf c = conf_of(specs, 2, 4);
	char buf[64];

	(void)state;
	assert_true(server_call(3, set, buf, sizeof(buf)) >= 5);
	assert_memory_equal(buf, "+OK\r\n", 5);
	start(&c, 3000, 4, finish_when_all_answered);
	run_and_close_loop();
	assert_each_once();
	print_message("# bad state under one key: %llu records by Redis, %llu locally, "
		      "%llu error replies\n",
		      (unsigned long long)T.remote, (unsigned long long)T.local,
		      (unsigned long long)T.st.redis_errors);
	assert_true(T.remote > 0 && T.local > 0);
	assert_true(T.st.redis_errors > 0);
	assert_int_equal(T.st.redis_fallbacks, 2 * T.local);
	assert_true(server_state_n(PREFIX "bytes/global") == (double)T.remote);
}

/* ------------------------------------------------------------------ */
/* Closing with calls in flight; no server at all                     */
/* ------------------------------------------------------------------ */

static void
close_tick(void)
{
	if (T.phase == 0 && T.sent == 100) {
		kill(S.pid, SIGSTOP); /* replies will not come */
		T.phase = 1;
		T.mark = T.answered;
	} else if (T.phase == 1 && T.sent == 200) {
		assert_true(score_pending(T.s) > 0);
		finish();
		T.phase = 2;
	}
}

static void
test_close_pending(void **state)
{
	static const char *const specs[] = {"bytes/global"};
	struct score_conf c = conf_of(specs, 1, 1000);

	(void)state;
	start(&c, 200, 10, close_tick);
	run_and_close_loop();
	assert_each_once();
	assert_int_equal(T.calls_at_close, 200); /* every done before close_cb */
	assert_true(T.local > 0);
	print_message("# closed with %llu records pending: answered locally\n",
		      (unsigned long long)T.local);
}

static void
refused_tick(void)
{
	if (T.sent == T.limit && T.answered == T.limit && T.feeding)
		finish();
}

static void
test_no_server(void **state)
{
	static const char *const specs[] = {"bytes/global"};
	struct score_conf c = conf_of(specs, 1, 64);

	(void)state; /* nothing listens on S.port */
	c.redis_timeout_ms = 200;
	start(&c, 5000, 50, refused_tick);
	run_and_close_loop();
	assert_each_once();
	assert_int_equal(T.remote, 0);
	assert_int_equal(T.local, 5000);
	assert_int_equal(T.st.redis_fallbacks, 5000);
	assert_int_equal(T.st.redis_replies, 0);
}

static void
test_new_invalid(void **state)
{
	static const char *const specs[] = {"bytes/global"};
	struct score_conf c = conf_of(specs, 1, 64), bad;

	(void)state;
	bad = c;
	bad.mad = mad_opts_compat();
	errno = 0;
	assert_null(score_new(&T.loop, &bad, on_done, NULL));
	assert_int_equal(errno, EINVAL);
	bad = c;
	bad.redis_window = 0;
	assert_null(score_new(&T.loop, &bad, on_done, NULL));
	bad = c;
	bad.redis_window = RCONN_MAX_PENDING + 1;
	assert_null(score_new(&T.loop, &bad, on_done, NULL));
	bad = c;
	bad.redis_port = 0;
	assert_null(score_new(&T.loop, &bad, on_done, NULL));
	bad = c;
	bad.redis_host = NULL;
	assert_null(score_new(&T.loop, &bad, on_done, NULL));
	assert_null(score_new(NULL, &c, on_done, NULL));
	T.closed = 1;
	run_and_close_loop();
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
		cmocka_unit_test_setup_teardown(test_local_equals_redis, setup_server, teardown),
		cmocka_unit_test_setup_teardown(test_local_equals_redis_absolute, setup_server,
						teardown),
		cmocka_unit_test_setup_teardown(test_local_equals_redis_window1, setup_server,
						teardown),
		cmocka_unit_test_setup_teardown(test_redis_layout, setup_server, teardown),
		cmocka_unit_test_setup_teardown(test_pipeline, setup_server, teardown),
		cmocka_unit_test_setup_teardown(test_window_full, setup_server, teardown),
		cmocka_unit_test_setup_teardown(test_kill_restart, setup_server, teardown),
		cmocka_unit_test_setup_teardown(test_two_workers, setup_server, teardown),
		cmocka_unit_test_setup_teardown(test_bad_state, setup_server, teardown),
		cmocka_unit_test_setup_teardown(test_close_pending, setup_server, teardown),
		cmocka_unit_test_setup_teardown(test_no_server, setup_port, teardown),
		cmocka_unit_test_setup_teardown(test_new_invalid, setup_port, teardown),
	};

	if (!have_redis_server()) {
		printf("1..0 # SKIP redis-server not found\n");
		return 77;
	}
	signal(SIGPIPE, SIG_IGN); /* as darter's main does */
	signal(SIGALRM, on_alarm);
	if (getenv("TEST_FILTER") != NULL) /* e.g. TEST_FILTER='test_bad*' */
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests_name("redis", tests, NULL, NULL);
}
