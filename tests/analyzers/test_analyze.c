/*
 * test_analyze.c: a worker's analyzers (engine/analyze.h) with Redis from
 * Lua, against a real redis-server on a free loopback port.
 *
 * The worker's side: every record goes on when analyze_flow() returns,
 * whatever the analyzers did (suspended on Redis: -EINPROGRESS, queued,
 * or refused by a full queue: -ENOBUFS), and each record reaches exactly
 * one version of each script, also across 100 reloads made while records
 * flow and replies are in flight: setup() of each new version talks to
 * Redis on the loop, the swap waits for it, the old version finishes its
 * suspended event before it is freed. Counted in Redis (INCR per record)
 * and in the emitted lines (one per record).
 *
 * The end of input (analyze_drain): records given with no loop turn in
 * between, as a replay's worker does, are all analyzed and emitted before
 * done is called, with Redis fast and with Redis stopped (SIGSTOP: every
 * command times out or is refused, counted, and the drain still ends).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "analyze.h"
#include "flow_record.h"
#include "log.h"
#include "redis_server.h"
#include "sink_file.h"

#define RECORDS 5000
#define RELOADS 100

static struct rs_server srv;
static uint32_t timeout_ms = 5000; /* per Redis command, for open_analyze */
static char tmpdir[256];

static const char *
write_file(const char *name, const char *text, char *path, size_t len)
{
	FILE *f;

	snprintf(path, len, "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static long
count_lines(const char *path, const char *needle)
{
	char line[4096];
	long n = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n += needle == NULL || strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

/* The integer value of a key (GET's bulk reply); -1 when missing. */
static long
redis_get(const char *key)
{
	char cmd[128], out[128], *nl;

	snprintf(cmd, sizeof(cmd), "GET %s\r\n", key);
	if (!rs_cmd(srv.port, cmd, out, sizeof(out)) || out[0] != '$' ||
	    (nl = strstr(out, "\r\n")) == NULL || out[1] == '-')
		return -1;
	return atol(nl + 2);
}

/* Turn the loop without blocking (an idle connection would block UV_RUN_ONCE). */
static void
spin(uv_loop_t *loop, int turns)
{
	for (int i = 0; i < turns; i++) {
		uv_run(loop, UV_RUN_NOWAIT);
		usleep(200);
	}
}

static void
record(struct flow_record *r, uint64_t id)
{
	memset(r, 0, sizeof(*r));
	r->flow_id = id;
	r->ip_version = 4;
	r->proto = 6;
	r->dst_port = 443;
	r->bytes_toserver = 1000 + id % 7;
}

/* setup() and every record talk to Redis; every record is emitted once, after the reply. */
static const char redis_lua[] =
	"wants = { flow = 'ffi' }\n"
	"local version\n"
	"function setup()\n"
	"  version = darter.redis.call('INCR', 'versions')\n"
	"end\n"
	"function on_flow(rec)\n"
	"  darter.annotate('before', 1)\n"
	"  local id = rec.flow_id\n"
	"  local n = darter.redis.call('INCR', 'records')\n"
	"  darter.emit('seen', { flow_id = id, n = n, version = version })\n"
	"end\n";

static struct analyze *
open_analyze(uv_loop_t *loop, const char *script, struct sink_file *out, uint32_t queue_max)
{
	static const char *scripts[1];
	struct analyze_conf ac = {
		.scripts = scripts,
		.n_scripts = 1,
		.lua_dir = AN_LUA_DIR,
		.mem_max = 32u << 20,
		.cpu_ms = 1000,
		.out = out,
		.redis_port = srv.port,
		.redis_timeout_ms = timeout_ms,
		.queue_max = queue_max,
	};
	char err[256];
	struct analyze *a;

	scripts[0] = script;
	a = analyze_new(loop, &ac, err, sizeof(err));
	if (!a)
		fail_msg("analyze_new: %s", err);
	return a;
}

static void
close_analyze(uv_loop_t *loop, struct analyze *a)
{
	analyze_close(a);
	uv_run(loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(loop), 0);
}

static void
test_reload_under_load_with_redis(void **state)
{
	char script[512], out_path[512];
	struct analyze_stats st;
	struct flow_record r;
	struct sink_file *out;
	struct analyze *a;
	uv_loop_t loop;
	unsigned asked = 0;
	(void)state;

	write_file("redis.lua", redis_lua, script, sizeof(script));
	snprintf(out_path, sizeof(out_path), "%s/analyzers.json", tmpdir);
	out = sink_file_open(out_path);
	assert_non_null(out);
	assert_int_equal(uv_loop_init(&loop), 0);
	a = open_analyze(&loop, script, out, RECORDS);
	for (uint64_t id = 1; id <= RECORDS; id++) {
		const char *ann;
		size_t ann_len;

		record(&r, id);
		analyze_flow(a, &r, &ann, &ann_len); /* the record goes on here, once */
		analyze_stats(a, &st);
		if (asked < RELOADS && st.reloads + st.reload_errors == asked && id % 10 == 0) {
			analyze_reload(a);
			asked++;
		}
		if (id % 4 == 0)
			uv_run(&loop, UV_RUN_NOWAIT); /* replies, swaps, as a worker's loop turns */
	}
	/* the rest: replies in flight, queued events, the last reloads */
	for (int i = 0; i < 50000; i++) {
		analyze_stats(a, &st);
		if (st.reloads + st.reload_errors == RELOADS && st.retiring == 0 &&
		    redis_get("records") == RECORDS)
			break;
		spin(&loop, 1);
		analyze_stats(a, &st);
		if (st.reloads + st.reload_errors < asked || asked == RELOADS)
			continue;
		analyze_reload(a); /* reloads not asked yet during the feed */
		asked++;
	}
	/* the last emits are in once the loop is idle for the analyzer */
	spin(&loop, 200);
	analyze_stats(a, &st);
	print_message("# %d records: calls %llu, deferred %llu, queue drops %llu, reloads %llu, "
		      "reload errors %llu, redis commands %llu, retiring %llu\n",
		      RECORDS, (unsigned long long)st.calls, (unsigned long long)st.deferred,
		      (unsigned long long)st.queue_drops, (unsigned long long)st.reloads,
		      (unsigned long long)st.reload_errors, (unsigned long long)st.redis_commands,
		      (unsigned long long)st.retiring);
	assert_int_equal(st.reloads, RELOADS);
	assert_int_equal(st.reload_errors, 0);
	assert_int_equal(st.retiring, 0);
	assert_int_equal(st.queue_drops, 0);
	assert_int_equal(st.abandoned, 0);
	assert_int_equal(st.errors, 0);
	assert_true(st.deferred > 0);
	assert_int_equal(st.calls, RECORDS);
	/* every record met exactly one version: one INCR and one line each */
	assert_int_equal(redis_get("records"), RECORDS);
	assert_int_equal(redis_get("versions"), RELOADS + 1);
	close_analyze(&loop, a);
	sink_file_close(out);
	assert_int_equal(count_lines(out_path, "\"sink\":\"seen\""), RECORDS);
}

/* A full queue: the analyzer skips the event (counted), the record still goes on. */
static void
test_full_queue_counts_and_passes_on(void **state)
{
	char script[512], out_path[512];
	struct analyze_stats st;
	struct flow_record r;
	struct sink_file *out;
	struct analyze *a;
	uv_loop_t loop;
	unsigned passed = 0, annotated = 0;
	(void)state;

	char ok[64];

	assert_true(rs_cmd(srv.port, "FLUSHALL\r\n", ok, sizeof(ok)));
	write_file("redis.lua", redis_lua, script, sizeof(script));
	snprintf(out_path, sizeof(out_path), "%s/full.json", tmpdir);
	out = sink_file_open(out_path);
	assert_non_null(out);
	assert_int_equal(uv_loop_init(&loop), 0);
	a = open_analyze(&loop, script, out, 4);
	for (int i = 0; i < 10000 && redis_get("versions") < 1; i++)
		spin(&loop, 1);
	spin(&loop, 50); /* setup()'s reply taken: the analyzer is ready */
	assert_int_equal(analyze_room(a), 1 + 4);
	for (uint64_t id = 1; id <= 100; id++) { /* no loop turn: nothing answers meanwhile */
		const char *ann;
		size_t ann_len;

		record(&r, id);
		analyze_flow(a, &r, &ann, &ann_len);
		passed++;
		annotated += ann_len > 0;
	}
	analyze_stats(a, &st);
	assert_int_equal(passed, 100);
	assert_int_equal(annotated, 1); /* only the first ran before a suspension */
	assert_int_equal(st.deferred,
			 1 + 4); /* one event suspended, 4 queued (setup() is no event) */
	assert_int_equal(st.queue_drops, 95);
	assert_int_equal(analyze_room(a), 0); /* what a replay waits on */
	for (int i = 0; i < 10000 && redis_get("records") < 5; i++)
		spin(&loop, 1);
	spin(&loop, 100);
	assert_int_equal(redis_get("records"), 5);
	assert_int_equal(analyze_room(a), 1 + 4);
	close_analyze(&loop, a);
	sink_file_close(out);
	assert_int_equal(count_lines(out_path, "\"sink\":\"seen\""), 5);
}

static void
on_drained(void *arg)
{
	(*(int *)arg)++;
}

/* Turn the loop until done is set; the turns taken, or -1 after max_ms. */
static long
spin_until(uv_loop_t *loop, const int *done, long max_ms)
{
	uint64_t t0 = uv_hrtime();
	long turns = 0;

	while (!*done) {
		if ((long)((uv_hrtime() - t0) / 1000000u) > max_ms)
			return -1;
		uv_run(loop, UV_RUN_NOWAIT);
		usleep(200);
		turns++;
	}
	return turns;
}

/* n records with no loop turn in between, as a replay's worker gives them. */
static void
feed(struct analyze *a, uint64_t n)
{
	struct flow_record r;
	const char *ann;
	size_t ann_len;

	for (uint64_t id = 1; id <= n; id++) {
		record(&r, id);
		analyze_flow(a, &r, &ann, &ann_len);
	}
}

/* Input over with every event still waiting: the drain analyzes them all, then says so. */
static void
test_drain_finishes_every_event(void **state)
{
	char script[512], out_path[512], ok[64];
	struct analyze_stats st;
	struct sink_file *out;
	struct analyze *a;
	uv_loop_t loop;
	int done = 0;
	(void)state;

	assert_true(rs_cmd(srv.port, "FLUSHALL\r\n", ok, sizeof(ok)));
	write_file("redis.lua", redis_lua, script, sizeof(script));
	snprintf(out_path, sizeof(out_path), "%s/drain.json", tmpdir);
	out = sink_file_open(out_path);
	assert_non_null(out);
	assert_int_equal(uv_loop_init(&loop), 0);
	a = open_analyze(&loop, script, out, 1000);
	feed(a, 500); /* setup() has not even connected yet: all 500 wait */
	analyze_stats(a, &st);
	assert_int_equal(st.calls, 0);
	assert_int_equal(analyze_drain(a, on_drained, &done), -EINPROGRESS);
	assert_int_equal(analyze_drain(a, on_drained, &done), -EINPROGRESS); /* once */
	assert_true(spin_until(&loop, &done, 20000) > 0);
	assert_int_equal(done, 1);
	analyze_stats(a, &st);
	assert_int_equal(st.calls, 500);
	assert_int_equal(st.emits, 500);
	assert_int_equal(st.deferred, 500);
	assert_int_equal(st.abandoned + st.queue_drops + st.redis_errors + st.errors, 0);
	assert_int_equal(redis_get("records"), 500);
	assert_int_equal(analyze_drain(a, on_drained, &done), 0); /* idle now */
	close_analyze(&loop, a);
	sink_file_close(out);
	assert_int_equal(done, 1);
	assert_int_equal(count_lines(out_path, "\"sink\":\"seen\""), 500);
}

/* Redis stopped: every command fails within the timeout (counted), the drain still ends. */
static void
test_drain_with_redis_stopped(void **state)
{
	static const char lookup_lua[] =
		"wants = { flow = 'ffi' }\n"
		"function on_flow(rec)\n"
		"  local n, err = darter.redis.call('INCR', 'records')\n"
		"  darter.emit('seen', { flow_id = rec.flow_id, failed = n == nil })\n"
		"end\n";
	char script[512], out_path[512];
	struct analyze_stats st;
	struct sink_file *out;
	struct analyze *a;
	uv_loop_t loop;
	uint64_t t0;
	long ms;
	int done = 0;
	(void)state;

	write_file("lookup.lua", lookup_lua, script, sizeof(script));
	snprintf(out_path, sizeof(out_path), "%s/stopped.json", tmpdir);
	out = sink_file_open(out_path);
	assert_non_null(out);
	assert_int_equal(uv_loop_init(&loop), 0);
	timeout_ms = 300;
	a = open_analyze(&loop, script, out, 1000);
	timeout_ms = 5000;
	feed(a, 1); /* connect while Redis answers */
	for (int i = 0; i < 10000 && count_lines(out_path, NULL) < 1; i++) {
		spin(&loop, 1);
		sink_file_flush(out);
	}
	assert_int_equal(kill(srv.pid, SIGSTOP), 0);
	feed(a, 50);
	t0 = uv_hrtime();
	assert_int_equal(analyze_drain(a, on_drained, &done), -EINPROGRESS);
	ms = spin_until(&loop, &done, 60000) < 0 ? -1 : (long)((uv_hrtime() - t0) / 1000000u);
	assert_int_equal(kill(srv.pid, SIGCONT), 0);
	analyze_stats(a, &st);
	print_message("# drain with Redis stopped: %ld ms, calls %llu, redis errors %llu\n", ms,
		      (unsigned long long)st.calls, (unsigned long long)st.redis_errors);
	assert_true(ms >= 0);
	assert_int_equal(st.calls, 51);
	assert_true(st.redis_errors >= 1);
	assert_int_equal(st.abandoned, 0);
	close_analyze(&loop, a);
	sink_file_close(out);
	assert_int_equal(count_lines(out_path, "\"sink\":\"seen\""), 51);
	assert_int_equal(count_lines(out_path, "\"failed\":true"), (long)st.redis_errors);
}

static int
setup_all(void **state)
{
	(void)state;
	log_level_current = LOG_LEVEL_WARNING;
	signal(SIGPIPE, SIG_IGN);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/darter-analyze-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	return rs_start(&srv);
}

static int
teardown_all(void **state)
{
	char cmd[300];

	(void)state;
	rs_stop(&srv);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reload_under_load_with_redis),
		cmocka_unit_test(test_full_queue_counts_and_passes_on),
		cmocka_unit_test(test_drain_finishes_every_event),
		cmocka_unit_test(test_drain_with_redis_stopped),
	};

	if (system("command -v redis-server >/dev/null 2>&1") != 0) {
		printf("1..0 # SKIP redis-server not installed\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
