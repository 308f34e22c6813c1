/*
 * mad.c: tools/bench/mad, the MAD core's benchmark (issue 4).
 *
 * What: one run prints one table. Throughput rows push the same flow
 * records (sizes from a fixed-seed lognormal stream, several destination
 * ports, TCP and UDP) from a producer thread through the real record
 * handoff (capture/handoff.h: mempool + SP/SC rte_ring) to one worker
 * thread, which dequeues them, scores them and releases them:
 *   local      score_record() on the local store, default score conf
 *              ("bytes/global", log1p), on a libuv loop like the engine's
 *   redis      the same on the redis store (one EVALSHA per call of up
 *              to 256 records, pipelined through rconn), against a
 *              redis-server this program starts on a free 127.0.0.1 port
 *              and kills by PID at the end; then again with two specs
 *              over 7 + 2 groups (several keys per call)
 *   dragonfly  the same records scored the way Dragonfly MLE's flow-size
 *              analyzer did: five synchronous hiredis round trips per
 *              flow against the same Redis (see the Dragonfly section)
 * Records/s is end to end for one worker: from the producer's first
 * record to the worker's last answer. Under the table, where a redis
 * row's time went: EVALSHA calls and records per call, redis-server's
 * CPU (from /proc, per record and as a share of the row: Redis is
 * single-threaded, 100% means it is the ceiling), the worker thread's
 * write(2) calls per record, and n of the state left in Redis (it must
 * have learned every record). Then ratios, and accuracy on a 1M
 * value lognormal stream for the default options and the compat preset:
 * median and MAD against exact values computed by sorting, flag rate at
 * threshold 3.5, and how many values a tenfold shift takes to follow.
 *
 * How: EAL starts with --no-huge --no-pci --no-shconf (as the unit tests
 * do). Threads made after EAL init get every CPU back (they inherit lcore
 * 0's). The producer paces itself on the ring's fill level so that it
 * sleeps instead of spinning while a slow worker (redis, dragonfly)
 * drains; the redis worker never lets more than the window be in flight,
 * so no record is scored by the local fallback (counted and shown).
 *
 * Not here: pass/fail exit codes. Targets are printed beside the
 * measurements; the exit code is 0 unless the bench itself broke (setup
 * failed, a record was lost or answered twice). mad_accuracy.c in this
 * directory is the longer accuracy study (checkpoints, several seeds).
 *
 * hiredis is included here although rconn.c is darter's only hiredis
 * user: the Dragonfly row is a model of a synchronous client, which
 * rconn deliberately is not.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <hiredis/hiredis.h>
#include <uv.h>

#include "handoff.h"
#include "mad.h"
#include "port.h"
#include "score.h"

#define BENCH_SEED	 20181001ull	   /* the lognormal stream, as mad_accuracy.c */
#define BENCH_MU	 6.907755278982137 /* log(1000): median flow size 1000 bytes */
#define BENCH_SIGMA	 1.5
#define BENCH_PATTERNS	 65536u /* distinct records, reused cyclically */
#define BENCH_RING	 4096u	/* capture.ring-size default */
#define BENCH_BATCH	 256u	/* worker dequeue batch, as engine/worker.c */
#define BENCH_TURNS	 16	/* batches per loop turn, as engine/worker.c */
#define BENCH_WINDOW	 4096u	/* mad.redis.window default */
#define BENCH_PREFIX	 "darter:mad:"
#define BENCH_SHIFT_PRE	 20000
#define BENCH_SHIFT_SEED 1000ull
#define BENCH_MAX_SEEDS	 16

/* Targets of issue 4. */
#define TARGET_LOCAL	    2e6
#define TARGET_REDIS	    1e5
#define TARGET_RATIO	    30.0
#define TARGET_MEDIAN_ERR   0.05
#define TARGET_MAD_ERR	    0.10
#define TARGET_FLAG_RATE    0.005
#define TARGET_SHIFT_WITHIN 0.05

struct bench_opts {
	bool quick;
	uint64_t n_local;
	uint64_t n_redis;
	uint64_t n_dragonfly;
	size_t n_values; /* accuracy stream */
	int shift_post;	 /* values after the shift */
	int shift_seeds;
};

/* ------------------------------------------------------------------ */
/* Data                                                               */
/* ------------------------------------------------------------------ */

static uint64_t
splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double
u01(uint64_t *s)
{
	return ((double)(splitmix64(s) >> 11) + 0.5) * 0x1p-53;
}

static double
lognormal(uint64_t *s, double mu, double sigma)
{
	double u1 = u01(s), u2 = u01(s);

	return exp(mu + sigma * sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Destination services, weighted: what the records' ports look like. */
static const struct {
	uint8_t proto;
	uint16_t port;
	unsigned weight;
} bench_services[] = {
	{6, 443, 40}, {6, 80, 15},  {17, 53, 20}, {6, 8080, 10},
	{6, 22, 5},   {17, 123, 5}, {6, 3389, 5},
};

static void
record_service(struct flow_record *r, uint64_t *seed)
{
	unsigned pick = (unsigned)(splitmix64(seed) % 100), acc = 0;

	for (size_t k = 0; k < sizeof(bench_services) / sizeof(bench_services[0]); k++) {
		acc += bench_services[k].weight;
		if (pick < acc) {
			r->proto = bench_services[k].proto;
			r->dst_port = bench_services[k].port;
			return;
		}
	}
	r->proto = 6;
	r->dst_port = 443;
}

/* A completed TCP/UDP flow of about `bytes` bytes, split both ways. */
static void
record_make(struct flow_record *r, uint32_t i, double bytes, uint64_t *seed)
{
	uint64_t total = bytes < 2 ? 2 : (uint64_t)bytes;
	double f = 0.05 + 0.9 * u01(seed);

	memset(r, 0, sizeof(*r));
	record_service(r, seed);
	r->ip_version = 4;
	r->src_ip[0] = 10;
	r->src_ip[2] = (uint8_t)(i >> 8);
	r->src_ip[3] = (uint8_t)i;
	r->dst_ip[0] = 192;
	r->dst_ip[1] = 168;
	r->dst_ip[2] = 1;
	r->dst_ip[3] = (uint8_t)(1 + i % 50);
	r->src_port = (uint16_t)(1024 + i % 60000);
	r->bytes_toserver = (uint64_t)(f * (double)total);
	r->bytes_toserver += r->bytes_toserver == 0;
	r->bytes_toclient = total - r->bytes_toserver;
	r->pkts_toserver = 1 + r->bytes_toserver / 700;
	r->pkts_toclient = r->bytes_toclient / 700 + (r->bytes_toclient > 0);
	r->start_us = 1700000000000000ull + (uint64_t)i * 1000;
	r->end_us = r->start_us + (uint64_t)(lognormal(seed, log(2e5), 2.0));
	r->state = FLOW_RECORD_STATE_CLOSED;
	r->reason = FLOW_RECORD_REASON_TIMEOUT;
}

/* Records whose sizes are the first BENCH_PATTERNS values of the stream. */
static struct flow_record *
records_new(void)
{
	struct flow_record *recs = calloc(BENCH_PATTERNS, sizeof(*recs));
	uint64_t sizes = BENCH_SEED, other = BENCH_SEED ^ 0x5eedull;

	if (recs == NULL)
		return NULL;
	for (uint32_t i = 0; i < BENCH_PATTERNS; i++)
		record_make(&recs[i], i, lognormal(&sizes, BENCH_MU, BENCH_SIGMA), &other);
	return recs;
}

/* ------------------------------------------------------------------ */
/* redis-server, started and killed by PID                            */
/* ------------------------------------------------------------------ */

static struct {
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
	uint16_t port = 0;

	if (fd < 0)
		return 0;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &alen) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
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

static bool
server_ping(void)
{
	struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
	redisContext *c = redisConnectWithTimeout("127.0.0.1", S.port, tv);
	redisReply *r;
	bool ok = false;

	if (c == NULL || c->err) {
		redisFree(c);
		return false;
	}
	r = redisCommand(c, "PING");
	ok = r != NULL && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
	freeReplyObject(r);
	redisFree(c);
	return ok;
}

/* Start redis-server on a free loopback port. 0, or -errno with a message printed. */
static int
server_start(void)
{
	int status;

	snprintf(S.dir, sizeof(S.dir), "/tmp/bench_mad.XXXXXX");
	if (mkdtemp(S.dir) == NULL)
		return -errno;
	snprintf(S.log, sizeof(S.log), "%s/redis.log", S.dir);
	S.port = free_port();
	S.pid = fork();
	if (S.pid < 0)
		return -errno;
	if (S.pid == 0)
		server_exec();
	for (int i = 0; i < 500; i++) {
		if (server_ping())
			return 0;
		if (waitpid(S.pid, &status, WNOHANG) == S.pid) {
			S.pid = 0;
			return -ENOENT; /* exec failed (no redis-server) or it exited */
		}
		usleep(10000);
	}
	return -ETIMEDOUT;
}

/* Kill our redis-server by PID and remove its directory. Async-signal-safe but for the dir. */
static void
server_stop(void)
{
	if (S.pid > 0) {
		kill(S.pid, SIGKILL);
		waitpid(S.pid, NULL, 0);
		S.pid = 0;
	}
	if (S.dir[0] != '\0') {
		unlink(S.log);
		rmdir(S.dir);
		S.dir[0] = '\0';
	}
}

static void
on_signal(int sig)
{
	if (S.pid > 0)
		kill(S.pid, SIGKILL);
	signal(sig, SIG_DFL);
	raise(sig);
}

static redisContext *
server_connect(void)
{
	redisContext *c = redisConnect("127.0.0.1", S.port);

	if (c != NULL && c->err) {
		fprintf(stderr, "mad: redis connect: %s\n", c->errstr);
		redisFree(c);
		return NULL;
	}
	return c;
}

/* redis-server's user + system CPU seconds so far (0 if unreadable). */
static double
server_cpu_s(void)
{
	char path[64], buf[1024], *p;
	unsigned long long ut = 0, st = 0;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)S.pid);
	f = S.pid > 0 ? fopen(path, "r") : NULL;
	if (f == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* fields 14, 15 after "pid (comm) state" */
	if (p == NULL ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/*
 * n of the state a redis row left under key: the estimator learned that
 * many values in Redis. -1 if missing or not a state.
 */
static double
server_state_n(const char *key)
{
	redisContext *c = server_connect();
	redisReply *r = c != NULL ? redisCommand(c, "GET %s", key) : NULL;
	double n = -1;

	if (r != NULL && r->type == REDIS_REPLY_STRING && r->len == 48) {
		uint64_t u = 0;

		for (int k = 7; k >= 0; k--) /* field 5: n, a little-endian double */
			u = u << 8 | (uint8_t)r->str[32 + k];
		memcpy(&n, &u, sizeof(n));
	}
	freeReplyObject(r);
	redisFree(c);
	return n;
}

/* FLUSHALL, so that every row starts from empty state. */
static int
server_flush(void)
{
	redisContext *c = server_connect();
	redisReply *r = c != NULL ? redisCommand(c, "FLUSHALL") : NULL;
	int ok = r != NULL && r->type == REDIS_REPLY_STATUS;

	freeReplyObject(r);
	redisFree(c);
	return ok ? 0 : -EIO;
}

/* ------------------------------------------------------------------ */
/* One run: producer thread -> handoff ring -> one worker thread       */
/* ------------------------------------------------------------------ */

enum run_kind {
	RUN_LOCAL,
	RUN_REDIS,
	RUN_DRAGONFLY,
};

struct run {
	enum run_kind kind;
	const char *const *specs; /* local and redis rows: the score specs */
	unsigned n_specs;
	struct handoff *h;
	struct flow_record *pattern; /* the producer's, read-only for workers */
	uint64_t n;		     /* records to send */
	double t0, t1;		     /* producer's first record, worker's last answer */
	/* worker side */
	uv_loop_t loop;
	uv_async_t wake;
	uv_idle_t idle;
	struct score *s;
	bool input_done;
	bool blocked; /* redis: window full, waiting for replies */
	bool finished;
	uint64_t answered; /* done calls */
	uint64_t results;  /* score results (1 per record with one spec) */
	uint64_t remote;   /* results computed by Redis */
	uint64_t outliers; /* results flagged */
	uint64_t eagain;   /* score_record() said the window was full */
	uint64_t diverged; /* dragonfly: first flow differing from the compat preset, 0 none */
	double drift;	   /* dragonfly: largest |median - compat median| after that, bytes */
	uint64_t errors;   /* dragonfly: unusable replies */
	struct score_stats st;
	struct handoff_stats hst;
	/* where the time went, redis rows */
	double redis_cpu_s;	/* redis-server's user + system CPU during the row */
	uint64_t worker_writes; /* write(2)-family calls of the worker thread */
	double stored_n;	/* global spec: n of the state left in Redis, -1 unread */
};

/* Specs of the rows: the default, and several groups per call. */
static const char *const specs_default[] = {"bytes/global"};
static const char *const specs_groups[] = {"bytes/dest_port", "pkts/proto"};

static void
thread_all_cpus(void)
{
	cpu_set_t all;

	CPU_ZERO(&all);
	for (int i = 0; i < CPU_SETSIZE; i++)
		CPU_SET(i, &all);
	pthread_setaffinity_np(pthread_self(), sizeof(all), &all);
}

/*
 * Sleep while the ring is more than half full: a slow worker (and the
 * Redis it waits on) must get the CPU. The sleep doubles from 20 us to
 * 2 ms so that a long wait costs few wake-ups, and a fast worker (half a
 * ring is ~0.3 ms of local scoring) is not starved.
 */
static void
producer_pace(struct run *r)
{
	struct handoff_stats st;
	useconds_t nap = 20;

	for (;;) {
		handoff_stats_get(r->h, &st);
		if (st.enqueued - st.dequeued < BENCH_RING / 2)
			return;
		usleep(nap);
		nap = nap < 2000 ? 2 * nap : nap;
	}
}

static void *
producer_main(void *arg)
{
	struct run *r = arg;

	thread_all_cpus();
	if (handoff_thread_register() < 0)
		fprintf(stderr, "mad: producer not registered with DPDK (no pool cache)\n");
	r->t0 = now_s();
	for (uint64_t i = 0; i < r->n; i++) {
		struct flow_record *rec = &r->pattern[i % BENCH_PATTERNS];

		if (i % 32 == 0)
			producer_pace(r);
		rec->flow_id = i + 1;
		handoff_emit(r->h, 0, 0, rec);
	}
	handoff_producer_done(r->h, 0);
	handoff_thread_unregister();
	return NULL;
}

/* ------------------------------------------------------------------ */
/* The darter worker: a libuv loop draining the ring into a scorer     */
/* ------------------------------------------------------------------ */

static void
lw_closed(uv_handle_t *handle)
{
	(void)handle;
}

/* Every record answered: stop the clock, close the scorer and the handles. */
static void
lw_finish(struct run *r)
{
	if (r->finished || !r->input_done || score_pending(r->s) > 0)
		return;
	r->finished = true;
	r->t1 = now_s();
	score_stats_get(r->s, &r->st);
	score_close(r->s, NULL, NULL);
	uv_close((uv_handle_t *)&r->wake, lw_closed);
	uv_close((uv_handle_t *)&r->idle, lw_closed);
}

static void lw_on_idle(uv_idle_t *idle);

static void
lw_on_done(void *arg, const struct flow_record *rec, const struct score_result *res, unsigned n)
{
	struct run *r = arg;
	(void)rec;
	r->answered++;
	r->results += n;
	for (unsigned k = 0; k < n; k++) {
		r->remote += res[k].remote;
		r->outliers += res[k].outlier;
	}
	if (r->input_done) {
		lw_finish(r);
	} else if (r->blocked) {
		r->blocked = false;
		uv_idle_start(&r->idle, lw_on_idle);
	}
}

/* How many records may be taken now: the redis store keeps its window. */
static unsigned
lw_room(const struct run *r)
{
	unsigned p;

	if (r->kind != RUN_REDIS)
		return BENCH_BATCH;
	p = score_pending(r->s);
	if (p >= BENCH_WINDOW)
		return 0;
	return BENCH_WINDOW - p < BENCH_BATCH ? BENCH_WINDOW - p : BENCH_BATCH;
}

/* One bounded drain turn; the idle handle stays on while records may remain. */
static void
lw_step(struct run *r)
{
	struct flow_record *recs[BENCH_BATCH];

	for (int turn = 0; turn < BENCH_TURNS; turn++) {
		unsigned room = lw_room(r), n;

		if (room == 0) { /* window full: a reply restarts the idle handle */
			r->blocked = true;
			uv_idle_stop(&r->idle);
			return;
		}
		n = handoff_dequeue(r->h, 0, recs, room);
		for (unsigned i = 0; i < n; i++)
			r->eagain += score_record(r->s, recs[i]) == -EAGAIN;
		handoff_release(r->h, recs, n);
		if (n < room) {
			uv_idle_stop(&r->idle);
			/* finished: producer done and ring empty, nothing left to take */
			if (!r->input_done && handoff_finished(r->h, 0)) {
				r->input_done = true;
				lw_finish(r);
			}
			return;
		}
	}
	uv_idle_start(&r->idle, lw_on_idle);
}

static void
lw_on_idle(uv_idle_t *idle)
{
	lw_step(idle->loop->data);
}

static void
lw_on_wake(uv_async_t *async)
{
	lw_step(async->loop->data);
}

/* Called by the producer (another thread): only uv_async_send crosses. */
static void
lw_wake(void *arg)
{
	struct run *r = arg;

	uv_async_send(&r->wake);
}

static struct score_conf
bench_score_conf(const struct run *r, enum score_store store)
{
	struct score_conf c;

	memset(&c, 0, sizeof(c));
	for (unsigned i = 0; i < r->n_specs; i++)
		score_spec_parse(r->specs[i], &c.specs[i]);
	c.n_specs = r->n_specs;
	c.mad = mad_opts_default();
	c.store = store;
	c.max_groups = 65536;
	c.redis_host = "127.0.0.1";
	c.redis_port = S.port;
	c.redis_timeout_ms = 2000;
	c.redis_window = BENCH_WINDOW;
	c.redis_prefix = BENCH_PREFIX;
	return c;
}

/* Set up the loop and the scorer on this thread; the worker thread runs them. */
static int
lw_init(struct run *r)
{
	struct score_conf c =
		bench_score_conf(r, r->kind == RUN_REDIS ? SCORE_STORE_REDIS : SCORE_STORE_LOCAL);
	int rc = uv_loop_init(&r->loop);

	if (rc < 0)
		return rc;
	r->loop.data = r;
	uv_async_init(&r->loop, &r->wake, lw_on_wake);
	uv_idle_init(&r->loop, &r->idle);
	r->s = score_new(&r->loop, &c, lw_on_done, r);
	if (r->s == NULL) {
		rc = -errno;
		uv_close((uv_handle_t *)&r->wake, lw_closed);
		uv_close((uv_handle_t *)&r->idle, lw_closed);
		uv_run(&r->loop, UV_RUN_DEFAULT);
		uv_loop_close(&r->loop);
		return rc;
	}
	handoff_set_wake(r->h, 0, lw_wake, r);
	return 0;
}

/* This thread's write(2)-family calls so far (syscw), 0 if unknown. */
static uint64_t
thread_writes(void)
{
	char line[128];
	unsigned long long v = 0;
	FILE *f = fopen("/proc/thread-self/io", "r");

	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "syscw: %llu", &v) == 1)
			break;
	if (f != NULL)
		fclose(f);
	return v;
}

static void *
lw_main(void *arg)
{
	struct run *r = arg;
	uint64_t w0 = thread_writes();

	thread_all_cpus();
	if (handoff_thread_register() < 0)
		fprintf(stderr, "mad: worker not registered with DPDK (no pool cache)\n");
	uv_run(&r->loop, UV_RUN_DEFAULT);
	r->worker_writes = thread_writes() - w0;
	if (uv_loop_close(&r->loop) != 0)
		fprintf(stderr, "mad: worker loop not closed cleanly\n");
	handoff_thread_unregister();
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Dragonfly MLE, the way its flow-size analyzer did it                */
/* ------------------------------------------------------------------ */

/*
 * A C rendering of Dragonfly MLE's example-outlier.lua (CounterFlow AI,
 * 2018, author Andrew Fast; github.com/counterflow-ai/dragonfly-mle,
 * src/analyzer/example-outlier.lua; read in the byr0nchan/dragonfly-mle
 * mirror at commit 398ea546). Its Redis traffic, reproduced command for
 * command, each a synchronous hiredis round trip:
 *   setup():  HMSET tot_bytes_mad:median    current NaN median NaN learning_rate 0.05 count 0
 *             HMSET tot_bytes_mad:deviation (the same)
 *   per TCP/UDP flow, x = bytes_toclient + bytes_toserver:
 *     update_median(tot_bytes_mad:median, x):
 *       1 HMGET key current median learning_rate count
 *       2 HMSET key current <x> median <new median> count <count + 1>   (only if x ~= median)
 *     dev = |previous median - x|
 *     update_median(tot_bytes_mad:deviation, dev): 3 HMGET, 4 HMSET (likewise)
 *     5 HMGET tot_bytes_mad:median count
 *     multiple = dev / previous deviation median; NaN or inf reported as -1.
 * Numbers go to Redis as Lua's tostring() writes them, "%.14g". Dragonfly
 * also decoded and re-encoded each EVE record as JSON in Lua; that cost is
 * left out, so this row is, if anything, faster than the original.
 */
#define DF_KEY_MEDIAN	 "tot_bytes_mad:median"
#define DF_KEY_DEVIATION "tot_bytes_mad:deviation"

struct df_result {
	double n, median, median_deviation, deviation, multiple;
};

static int
df_setup(redisContext *c)
{
	static const char *const keys[] = {DF_KEY_MEDIAN, DF_KEY_DEVIATION};

	for (int k = 0; k < 2; k++) {
		redisReply *r = redisCommand(
			c, "HMSET %s current NaN median NaN learning_rate 0.05 count 0", keys[k]);
		bool ok = r != NULL && r->type == REDIS_REPLY_STATUS;

		freeReplyObject(r);
		if (!ok)
			return -EIO;
	}
	return 0;
}

/* tonumber() of one bulk string of an HMGET reply; NaN when absent. */
static double
df_number(const redisReply *r, size_t i)
{
	if (r->type != REDIS_REPLY_ARRAY || i >= r->elements ||
	    r->element[i]->type != REDIS_REPLY_STRING)
		return NAN;
	return strtod(r->element[i]->str, NULL);
}

/* update_median(): returns 0 and the median before the update in *old, or -EIO. */
static int
df_update_median(redisContext *c, const char *key, double value, double *old)
{
	redisReply *r = redisCommand(c, "HMGET %s current median learning_rate count", key);
	double median, rate, count;
	char v[32], m[32], n[32];

	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 4) {
		freeReplyObject(r);
		return -EIO;
	}
	median = df_number(r, 1);
	rate = df_number(r, 2);
	count = df_number(r, 3) + 1;
	freeReplyObject(r);
	*old = median;
	if (value == median)
		return 0;
	median = isnan(median) ? value : median + (median < value ? rate : -rate);
	snprintf(v, sizeof(v), "%.14g", value);
	snprintf(m, sizeof(m), "%.14g", median);
	snprintf(n, sizeof(n), "%.14g", count);
	r = redisCommand(c, "HMSET %s current %s median %s count %s", key, v, m, n);
	if (r == NULL || r->type != REDIS_REPLY_STATUS) {
		freeReplyObject(r);
		return -EIO;
	}
	freeReplyObject(r);
	return 0;
}

static double
df_report(double x)
{
	return isnan(x) || isinf(x) ? -1 : x;
}

/* loop() for one flow: five round trips. */
static int
df_flow(redisContext *c, const struct flow_record *rec, struct df_result *out)
{
	double x = (double)(rec->bytes_toclient + rec->bytes_toserver), m, d, dev;
	redisReply *r;

	if (df_update_median(c, DF_KEY_MEDIAN, x, &m) < 0)
		return -EIO;
	dev = fabs(m - x);
	if (df_update_median(c, DF_KEY_DEVIATION, dev, &d) < 0)
		return -EIO;
	r = redisCommand(c, "HMGET %s count", DF_KEY_MEDIAN);
	if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
		freeReplyObject(r);
		return -EIO;
	}
	out->n = df_number(r, 0);
	freeReplyObject(r);
	out->multiple = df_report(dev / d);
	out->median = df_report(m);
	out->median_deviation = df_report(d);
	out->deviation = df_report(dev);
	return 0;
}

static bool
df_close(double a, double b)
{
	return fabs(a - b) <= 1e-9 * fmax(1.0, fmax(fabs(a), fabs(b)));
}

/*
 * Dragonfly's answer against darter's compat preset fed the same value.
 * They agree until Redis' "%.14g" rounding puts a stored median exactly
 * on a later value (engine/mad.c keeps full doubles): from there one
 * step apart, which *drift measures.
 */
static bool
df_matches(struct mad *compat, const struct flow_record *rec, const struct df_result *df,
	   double *drift)
{
	struct mad_result mr;

	mad_update(compat, (double)(rec->bytes_toclient + rec->bytes_toserver), &mr);
	*drift = fmax(*drift, fabs(mr.median - df->median));
	return (double)mr.n == df->n && df_close(mr.median, df->median) &&
	       df_close(mr.mad, df->median_deviation) && df_close(mr.deviation, df->deviation) &&
	       df_close(mr.score, df->multiple);
}

static void
df_drain(struct run *r, redisContext *c, struct mad *compat)
{
	struct flow_record *recs[BENCH_BATCH];
	struct df_result res;

	for (;;) {
		unsigned n = handoff_dequeue(r->h, 0, recs, BENCH_BATCH);

		for (unsigned i = 0; i < n; i++) {
			if (df_flow(c, recs[i], &res) < 0) {
				r->errors++;
				continue;
			}
			r->answered++;
			r->results++;
			r->remote++;
			if (!df_matches(compat, recs[i], &res, &r->drift) && r->diverged == 0)
				r->diverged = r->answered;
		}
		handoff_release(r->h, recs, n);
		if (n == 0) {
			if (handoff_finished(r->h, 0))
				return;
			usleep(10);
		}
	}
}

static void *
df_main(void *arg)
{
	struct run *r = arg;
	struct mad_opts o = mad_opts_compat();
	struct mad compat;
	redisContext *c = server_connect();

	thread_all_cpus();
	if (handoff_thread_register() < 0)
		fprintf(stderr, "mad: worker not registered with DPDK (no pool cache)\n");
	mad_init(&compat, &o);
	if (c == NULL || df_setup(c) < 0) {
		r->errors = r->n;
		c = NULL;
	}
	if (c != NULL)
		df_drain(r, c, &compat);
	else /* still drain, so that the producer finishes */
		while (!handoff_finished(r->h, 0)) {
			struct flow_record *recs[BENCH_BATCH];
			unsigned n = handoff_dequeue(r->h, 0, recs, BENCH_BATCH);

			handoff_release(r->h, recs, n);
		}
	r->t1 = now_s();
	redisFree(c);
	handoff_thread_unregister();
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Running a row                                                      */
/* ------------------------------------------------------------------ */

/* Run r->n records of kind through a fresh handoff. 0, or -errno. */
static int
run_row(struct run *r)
{
	pthread_t prod, work;
	void *(*worker)(void *) = r->kind == RUN_DRAGONFLY ? df_main : lw_main;
	int rc;

	double cpu0 = server_cpu_s();

	r->h = handoff_new(1, 1, BENCH_RING, 1);
	if (r->h == NULL)
		return -errno;
	if (r->kind != RUN_DRAGONFLY && (rc = lw_init(r)) < 0)
		goto out;
	rc = -pthread_create(&work, NULL, worker, r);
	if (rc < 0)
		goto out; /* the loop and scorer leak: the bench exits */
	rc = -pthread_create(&prod, NULL, producer_main, r);
	if (rc < 0) {
		handoff_producer_done(r->h, 0); /* lets the worker finish */
		pthread_join(work, NULL);
		goto out;
	}
	pthread_join(prod, NULL);
	pthread_join(work, NULL);
	handoff_stats_get(r->h, &r->hst);
	r->redis_cpu_s = server_cpu_s() - cpu0;
out:
	handoff_free(r->h);
	r->h = NULL;
	return rc;
}

static double
run_rate(const struct run *r)
{
	return r->t1 > r->t0 ? (double)r->answered / (r->t1 - r->t0) : 0;
}

/* Every record crossed the ring once and was answered once, by whom it should be. */
static const char *
run_check(const struct run *r)
{
	if (r->hst.enqueued != r->n || r->hst.dequeued != r->n)
		return "records lost in the handoff";
	if (r->answered != r->n || r->results != r->n * (r->n_specs ? r->n_specs : 1))
		return "records not answered exactly once";
	if (r->kind == RUN_REDIS && r->specs == specs_default && r->stored_n != (double)r->n)
		return "the state in Redis did not learn every record";
	if (r->kind == RUN_REDIS && (r->remote != r->results || r->st.redis_fallbacks > 0))
		return "records scored by the local fallback";
	if (r->kind == RUN_DRAGONFLY && r->errors > 0)
		return "unusable Redis replies";
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Accuracy                                                           */
/* ------------------------------------------------------------------ */

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Median of a[0..n) by sorting a (mean of the middle two when n is even). */
static double
sorted_median(double *a, size_t n)
{
	qsort(a, n, sizeof(*a), cmp_double);
	return n % 2 ? a[n / 2] : 0.5 * (a[n / 2 - 1] + a[n / 2]);
}

/* Exact median (bytes) and MAD in the estimator's domain of xs[0..n). */
static void
exact_stats(const double *xs, size_t n, bool log_domain, double *tmp, double *med_bytes,
	    double *mad)
{
	double med;

	for (size_t i = 0; i < n; i++)
		tmp[i] = log_domain ? log1p(xs[i]) : xs[i];
	med = sorted_median(tmp, n);
	*med_bytes = log_domain ? expm1(med) : med;
	for (size_t i = 0; i < n; i++)
		tmp[i] = fabs(tmp[i] - med);
	*mad = sorted_median(tmp, n);
}

struct acc {
	const char *name;
	struct mad_opts o;
	struct mad e;
	uint64_t scored, flagged;
	double med_exact, med_est, mad_exact, mad_est; /* final */
	double worst_med, worst_mad;		       /* over checkpoints after burn-in */
	long shift_median[2], shift_worst[2];	       /* [x10, x0.1]: values until within 5% */
	int shift_never[2]; /* seeds not within 5% in the post-shift window */
};

static double
rel_err(double est, double exact)
{
	return fabs(est - exact) / fabs(exact);
}

/* Compare a's state now with the exact values of the first n values. */
static void
acc_checkpoint(struct acc *a, const double *xs, size_t n, double *tmp, bool final)
{
	double med, mad, m_est = mad_untransform(&a->e, mad_median(&a->e));

	exact_stats(xs, n, a->o.transform == MAD_TRANSFORM_LOG1P, tmp, &med, &mad);
	a->worst_med = fmax(a->worst_med, rel_err(m_est, med));
	a->worst_mad = fmax(a->worst_mad, rel_err(mad_scale(&a->e), mad));
	if (final) {
		a->med_exact = med;
		a->med_est = m_est;
		a->mad_exact = mad;
		a->mad_est = mad_scale(&a->e);
	}
}

/* Feed the stream; checkpoints at every tenth of it. */
static void
acc_stream(struct acc *a, const double *xs, size_t n, double *tmp)
{
	struct mad_result r;

	mad_init(&a->e, &a->o);
	for (size_t i = 0; i < n; i++) {
		mad_update(&a->e, xs[i], &r);
		a->scored += !r.burn_in;
		a->flagged += r.outlier;
		if ((i + 1) % (n / 10) == 0)
			acc_checkpoint(a, xs, i + 1, tmp, i + 1 == n);
	}
}

/*
 * Tenfold shift (factor 10 or 0.1) after BENCH_SHIFT_PRE values: values
 * until the median (bytes) is first within 5% of the exact median of the
 * post-shift values; -1: not within n_post values.
 */
static long
acc_shift_one(struct acc *a, double factor, uint64_t seed, double *post, int n_post, double *tmp)
{
	struct mad_result r;
	double med, mad;
	double *m = tmp + n_post;

	mad_init(&a->e, &a->o);
	for (int i = 0; i < BENCH_SHIFT_PRE; i++)
		mad_update(&a->e, lognormal(&seed, BENCH_MU, BENCH_SIGMA), &r);
	for (int i = 0; i < n_post; i++) {
		post[i] = lognormal(&seed, BENCH_MU + log(factor), BENCH_SIGMA);
		mad_update(&a->e, post[i], &r);
		m[i] = mad_untransform(&a->e, mad_median(&a->e));
	}
	exact_stats(post, (size_t)n_post, false, tmp, &med, &mad);
	for (int i = 0; i < n_post; i++)
		if (rel_err(m[i], med) <= TARGET_SHIFT_WITHIN)
			return i + 1;
	return -1;
}

static int
cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return (x > y) - (x < y);
}

/* Per direction: median and worst over the seeds that got within, and how many never did. */
static void
acc_shift(struct acc *a, const struct bench_opts *bo, double *post, double *tmp)
{
	for (int dir = 0; dir < 2; dir++) {
		long t[BENCH_MAX_SEEDS];
		int n = 0;

		for (int s = 0; s < bo->shift_seeds; s++) {
			long v = acc_shift_one(a, dir ? 0.1 : 10.0, BENCH_SHIFT_SEED + (uint64_t)s,
					       post, bo->shift_post, tmp);

			if (v >= 0)
				t[n++] = v;
		}
		qsort(t, (size_t)n, sizeof(*t), cmp_long);
		a->shift_never[dir] = bo->shift_seeds - n;
		a->shift_median[dir] = n > 0 ? t[n / 2] : -1;
		a->shift_worst[dir] = n > 0 ? t[n - 1] : -1;
	}
}

/* ------------------------------------------------------------------ */
/* Report                                                             */
/* ------------------------------------------------------------------ */

static const char *
verdict(bool pass)
{
	return pass ? "PASS" : "FAIL";
}

static void
print_rate(const char *name, const struct run *r, const char *target, int pass)
{
	const char *bad = run_check(r);

	printf("%-30s %10llu %8.3f %12.0f  %-14s %s\n", name, (unsigned long long)r->answered,
	       r->t1 - r->t0, run_rate(r), target, pass < 0 ? "-" : verdict(pass && bad == NULL));
	if (bad != NULL)
		printf("  ! %s (answered %llu of %llu, fallbacks %llu, errors %llu)\n", bad,
		       (unsigned long long)r->answered, (unsigned long long)r->n,
		       (unsigned long long)r->st.redis_fallbacks, (unsigned long long)r->errors);
}

static void
print_skipped(const char *name, const char *why)
{
	printf("%-30s %10s %8s %12s  %-14s %s (%s)\n", name, "-", "-", "-", "", "SKIP", why);
}

static void
print_ratio(const char *name, double num, double den, const char *target, int pass)
{
	if (num <= 0 || den <= 0) {
		print_skipped(name, "a row is missing");
		return;
	}
	printf("%-30s %10s %8s %11.1fx  %-14s %s\n", name, "", "", num / den, target,
	       pass < 0 ? "-" : verdict(pass));
}

static void
print_acc(const struct acc *a, bool judged, int post)
{
	double fr = a->scored ? (double)a->flagged / (double)a->scored : 0;
	const char *dom = a->o.transform == MAD_TRANSFORM_LOG1P ? "log1p" : "bytes";

	char cell[3][96], label[16];

	snprintf(cell[0], sizeof(cell[0]), "exact %10.2f  est %10.2f  err %6.2f%%  worst %6.2f%%",
		 a->med_exact, a->med_est, 100 * rel_err(a->med_est, a->med_exact),
		 100 * a->worst_med);
	snprintf(cell[1], sizeof(cell[1]), "exact %10.4f  est %10.4f  err %6.2f%%  worst %6.2f%%",
		 a->mad_exact, a->mad_est, 100 * rel_err(a->mad_est, a->mad_exact),
		 100 * a->worst_mad);
	snprintf(cell[2], sizeof(cell[2]), "%llu of %llu scored = %.3f%%",
		 (unsigned long long)a->flagged, (unsigned long long)a->scored, 100 * fr);
	snprintf(label, sizeof(label), "MAD, %s", dom);
	printf("%s (estimates in %s):\n", a->name, dom);
	printf("  %-16s %-60s %-7s %s\n", "median, bytes", cell[0], "<= 5%",
	       judged ? verdict(a->worst_med <= TARGET_MEDIAN_ERR) : "-");
	printf("  %-16s %-60s %-7s %s\n", label, cell[1], "<= 10%",
	       judged ? verdict(a->worst_mad <= TARGET_MAD_ERR) : "-");
	printf("  %-16s %-60s %-7s %s\n", "flag rate @3.5", cell[2], "< 0.5%",
	       judged ? verdict(fr < TARGET_FLAG_RATE) : "-");
	for (int dir = 0; dir < 2; dir++) {
		printf("  %-16s median within 5%% again", dir ? "shift x0.1" : "shift x10");
		if (a->shift_median[dir] < 0)
			printf(": never within the %d values after the shift\n", post);
		else if (a->shift_never[dir] > 0)
			printf(" after %ld values (median), %ld (worst); %d seed(s) never within "
			       "%d\n",
			       a->shift_median[dir], a->shift_worst[dir], a->shift_never[dir],
			       post);
		else
			printf(" after %ld values (median), %ld (worst)\n", a->shift_median[dir],
			       a->shift_worst[dir]);
	}
}

/* ------------------------------------------------------------------ */
/* Main                                                               */
/* ------------------------------------------------------------------ */

static void
usage(FILE *f)
{
	fprintf(f, "usage: mad [--quick] [--local N] [--redis N] [--dragonfly N] [--values N]\n"
		   "  --quick        small counts (a few seconds): the smoke test\n"
		   "  --local N      records for the local row (default 5000000)\n"
		   "  --redis N      records for the redis row (default 1000000)\n"
		   "  --dragonfly N  records for the Dragonfly-style row (default 20000)\n"
		   "  --values N     accuracy stream length (default 1000000)\n");
}

static int
parse_args(int argc, char **argv, struct bench_opts *o)
{
	static const struct option longs[] = {
		{"quick", no_argument, NULL, 'q'},
		{"local", required_argument, NULL, 'l'},
		{"redis", required_argument, NULL, 'r'},
		{"dragonfly", required_argument, NULL, 'd'},
		{"values", required_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct bench_opts q = {true, 200000, 20000, 1000, 100000, 5000, 1};
	int c;

	*o = (struct bench_opts){false, 5000000, 1000000, 20000, 1000000, 50000, 5};
	while ((c = getopt_long(argc, argv, "qh", longs, NULL)) != -1) {
		unsigned long long v = optarg != NULL ? strtoull(optarg, NULL, 10) : 0;

		switch (c) {
		case 'q':
			*o = q;
			break;
		case 'l':
			o->n_local = v;
			break;
		case 'r':
			o->n_redis = v;
			break;
		case 'd':
			o->n_dragonfly = v;
			break;
		case 'v':
			o->n_values =
				v < 1000 ? 1000 : (size_t)(v - v % 10); /* checkpoints: tenths */
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	return 0;
}

static int
bench_eal(void)
{
	static const unsigned cpus[] = {0};
	struct port_eal_conf ec = {.memory_mb = 64, .cpus = cpus, .n_cpus = 1};
	char err[256];

	if (port_eal_init(&ec, err, sizeof(err)) < 0) {
		fprintf(stderr, "mad: EAL: %s\n", err);
		return -1;
	}
	return 0;
}

/* Where a redis row's time went: calls, Redis' CPU, the worker's writes. */
static void
print_cost(const char *name, const struct run *r)
{
	double secs = r->t1 - r->t0, recs = (double)(r->answered ? r->answered : 1);

	printf("  %s: %llu EVALSHA calls (%.1f records each); redis-server CPU %.2f s = %.0f%% "
	       "of the row, %.2f us per record; worker write(2) calls %llu = %.4f per record\n",
	       name, (unsigned long long)r->st.redis_batches,
	       r->st.redis_batches ? (double)r->st.redis_calls / (double)r->st.redis_batches : 0,
	       r->redis_cpu_s, secs > 0 ? 100 * r->redis_cpu_s / secs : 0,
	       1e6 * r->redis_cpu_s / recs, (unsigned long long)r->worker_writes,
	       (double)r->worker_writes / recs);
}

/* What each row's answers were: they must be real for the rates to mean anything. */
static void
print_checks(const struct run *runs, bool have_redis)
{
	printf("  local: every record answered once, %llu outliers flagged\n",
	       (unsigned long long)runs[0].outliers);
	if (!have_redis) {
		printf("\n");
		return;
	}
	printf("  redis: %llu of %llu answered by Redis, %llu local fallbacks, %llu outliers "
	       "(local row, same records: %s); state left in Redis learned n = %.0f\n",
	       (unsigned long long)runs[1].remote, (unsigned long long)runs[1].answered,
	       (unsigned long long)runs[1].st.redis_fallbacks, (unsigned long long)runs[1].outliers,
	       runs[0].n == runs[1].n ? (runs[0].outliers == runs[1].outliers ? "same" : "DIFFER")
				      : "other count",
	       runs[1].stored_n);
	print_cost("redis", &runs[1]);
	printf("  redis, 2 specs: %llu of %llu results by Redis, %llu local fallbacks\n",
	       (unsigned long long)runs[3].remote, (unsigned long long)runs[3].results,
	       (unsigned long long)runs[3].st.redis_fallbacks);
	print_cost("redis, 2 specs", &runs[3]);
	if (runs[2].diverged == 0)
		printf("  dragonfly: all %llu flows equal to darter's compat preset\n\n",
		       (unsigned long long)runs[2].answered);
	else
		printf("  dragonfly: equal to darter's compat preset for %llu flows, then apart by "
		       "Redis' %%.14g rounding (median at most %.2f B apart)\n\n",
		       (unsigned long long)runs[2].diverged - 1, runs[2].drift);
}

/* The three throughput rows and the ratios. Returns 0, or -1 if the bench broke. */
static int
bench_throughput(const struct bench_opts *bo, struct flow_record *pattern, bool have_redis)
{
	struct run runs[4] = {
		{.kind = RUN_LOCAL,
		 .pattern = pattern,
		 .n = bo->n_local,
		 .specs = specs_default,
		 .n_specs = 1},
		{.kind = RUN_REDIS,
		 .pattern = pattern,
		 .n = bo->n_redis,
		 .specs = specs_default,
		 .n_specs = 1},
		{.kind = RUN_DRAGONFLY, .pattern = pattern, .n = bo->n_dragonfly},
		{.kind = RUN_REDIS,
		 .pattern = pattern,
		 .n = bo->n_redis,
		 .specs = specs_groups,
		 .n_specs = 2},
	};
	double rate[4] = {0, 0, 0, 0};
	int broke = 0;

	printf("%-30s %10s %8s %12s  %-14s %s\n", "throughput, 1 worker", "records", "seconds",
	       "records/s", "target", "result");
	for (int k = 0; k < 4; k++) {
		int rc;

		if (k > 0 && !have_redis)
			continue;
		if (k > 0 && server_flush() < 0)
			return -1;
		rc = run_row(&runs[k]);
		if (rc < 0) {
			fprintf(stderr, "mad: row %d: %s\n", k, strerror(-rc));
			return -1;
		}
		rate[k] = run_rate(&runs[k]);
		runs[k].stored_n = k == 1 ? server_state_n(BENCH_PREFIX "bytes/global") : -1;
		broke |= runs[k].hst.dequeued != runs[k].n || runs[k].answered != runs[k].n;
	}
	print_rate("local store (ring + score)", &runs[0], ">= 2000000", rate[0] >= TARGET_LOCAL);
	if (have_redis) {
		print_rate("redis store (EVALSHA, pipe)", &runs[1], ">= 100000",
			   rate[1] >= TARGET_REDIS);
		print_rate("dragonfly-style (5 sync RTT)", &runs[2], "(peer)", -1);
		print_rate("redis, 2 specs, 7+2 groups", &runs[3], ">= 100000",
			   rate[3] >= TARGET_REDIS);
	} else {
		print_skipped("redis store (EVALSHA, pipe)", "no redis-server");
		print_skipped("dragonfly-style (5 sync RTT)", "no redis-server");
		print_skipped("redis, 2 specs, 7+2 groups", "no redis-server");
	}
	print_ratio("ratio redis / dragonfly", rate[1], rate[2], ">= 30x",
		    rate[1] >= TARGET_RATIO * rate[2] && run_check(&runs[1]) == NULL);
	print_ratio("ratio local / redis", rate[0], rate[1], "(info)", -1);
	print_ratio("ratio redis 2 specs / dragonfly", rate[3], rate[2], ">= 30x",
		    rate[3] >= TARGET_RATIO * rate[2] && run_check(&runs[3]) == NULL);
	print_checks(runs, have_redis);
	return broke ? -1 : 0;
}

static int
bench_accuracy(const struct bench_opts *bo)
{
	size_t n = bo->n_values,
	       n_tmp = n > 2 * (size_t)bo->shift_post ? n : 2 * (size_t)bo->shift_post;
	double *xs = malloc(n * sizeof(*xs)), *tmp = malloc(n_tmp * sizeof(*tmp));
	double *post = malloc((size_t)bo->shift_post * sizeof(*post));
	struct acc a[2] = {{.name = "darter defaults", .o = mad_opts_default()},
			   {.name = "compat preset (Dragonfly's rule)", .o = mad_opts_compat()}};
	uint64_t seed = BENCH_SEED;

	if (xs == NULL || tmp == NULL || post == NULL) {
		free(xs);
		free(tmp);
		free(post);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		xs[i] = lognormal(&seed, BENCH_MU, BENCH_SIGMA);
	printf("accuracy: %zu lognormal flow sizes (median 1000 B, sigma %.1f, seed %llu).\n"
	       "Exact median and MAD by sorting, in the estimator's domain (the median shown in\n"
	       "bytes); err = final estimate, worst = over checkpoints every %zu values (after\n"
	       "burn-in); flags among values past burn-in. Shift: %d values, then every value x10\n"
	       "(or x0.1) for %d more, %d seed(s).\n",
	       n, BENCH_SIGMA, (unsigned long long)BENCH_SEED, n / 10, BENCH_SHIFT_PRE,
	       bo->shift_post, bo->shift_seeds);
	for (int k = 0; k < 2; k++) {
		acc_stream(&a[k], xs, n, tmp);
		acc_shift(&a[k], bo, post, tmp);
		print_acc(&a[k], k == 0, bo->shift_post);
	}
	free(xs);
	free(tmp);
	free(post);
	return 0;
}

int
main(int argc, char **argv)
{
	struct bench_opts bo;
	struct flow_record *pattern;
	bool have_redis;
	int rc = 0, src;

	if (parse_args(argc, argv, &bo) < 0)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	pattern = records_new();
	if (pattern == NULL)
		return 1;
	/* Before EAL: the server must not inherit lcore 0's CPU affinity. */
	src = server_start();
	have_redis = src == 0;
	if (!have_redis)
		fprintf(stderr, "mad: redis-server not started (%s): redis rows skipped\n",
			strerror(-src));
	if (bench_eal() < 0) {
		server_stop();
		free(pattern);
		return 1;
	}
	printf("tools/bench/mad%s: MAD core per worker, spec bytes/global, log1p, "
	       "ring %u, redis window %u\n\n",
	       bo.quick ? " --quick" : "", BENCH_RING, BENCH_WINDOW);
	fflush(stdout);
	if (bench_throughput(&bo, pattern, have_redis) < 0)
		rc = 1;
	server_stop();
	port_eal_fini();
	if (bench_accuracy(&bo) < 0)
		rc = 1;
	free(pattern);
	return rc;
}
