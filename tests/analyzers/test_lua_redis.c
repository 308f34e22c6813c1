/*
 * test_lua_redis.c: Redis from Lua analyzers against a real redis-server.
 *
 * One server for the program (tests/analyzers/redis_server.h), one libuv
 * loop per test closed with uv_loop_close() == 0 at its end. Covers
 * darter.redis (value mapping, errors, pipeline), suspension and per-
 * analyzer FIFO order with a bounded queue, timeouts (server stopped with
 * SIGSTOP), no Redis configured, setup() that waits on Redis, freeing a
 * suspended analyzer, and the Dragonfly MLE module: a hello-world
 * pass-through, a MAD flow-size outlier on HMGET/HMSET, a blacklist on
 * SISMEMBER, command_line with format characters from traffic, and
 * append_command/get_reply. Exits 77 when redis-server is missing.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <uv.h>

#include "analyzer.h"
#include "flow_record.h"
#include "redis_server.h"

static struct rs_server S;
static uv_loop_t loop;
static char tmpdir[256];

struct sink {
	unsigned n, n_ann;
	char last[8192];
	char all[1 << 17];
	size_t all_len;
};

static int
cb_emit(void *user, const char *sink, const char *json, size_t len)
{
	struct sink *s = user;
	int k;

	s->n++;
	snprintf(s->last, sizeof(s->last), "%s %.*s", sink, (int)len, json);
	k = snprintf(s->all + s->all_len, sizeof(s->all) - s->all_len, "%s\n", s->last);
	if (k > 0 && s->all_len + (size_t)k < sizeof(s->all))
		s->all_len += (size_t)k;
	return 0;
}

static int
cb_annotate(void *user, const char *key, const char *json, size_t len)
{
	struct sink *s = user;

	(void)key, (void)json, (void)len;
	s->n_ann++;
	return 0;
}

static const char *
script(const char *name, const char *text)
{
	static char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

struct opts {
	bool dragonfly, no_redis;
	uint32_t queue_max, timeout_ms;
};

static struct analyzer *
load_with(const char *name, const char *text, struct sink *s, struct opts o)
{
	char err[512];
	struct analyzer_conf c = {
		.path = script(name, text),
		.lua_dir = AN_LUA_DIR,
		.mem_max = 32u << 20,
		.cpu_ms = 200,
		.emit = cb_emit,
		.annotate = cb_annotate,
		.user = s,
		.loop = o.no_redis ? NULL : &loop,
		.redis_host = "127.0.0.1",
		.redis_port = S.port,
		.redis_timeout_ms = o.timeout_ms ? o.timeout_ms : 1000,
		.queue_max = o.queue_max,
		.dragonfly = o.dragonfly,
		.default_output = "eve-out",
		.default_analyzer = "next",
	};
	struct analyzer *a = analyzer_new(&c, err, sizeof(err));

	if (!a)
		fail_msg("load %s: %s", name, err);
	return a;
}

static struct analyzer *
load(const char *name, const char *text, struct sink *s)
{
	return load_with(name, text, s, (struct opts){0});
}

/* Every string after text (NULL-terminated list) occurs in text: JSON key order is not fixed. */
static void
has(const char *text, ...)
{
	va_list ap;
	const char *w;

	va_start(ap, text);
	while ((w = va_arg(ap, const char *)) != NULL)
		if (!strstr(text, w))
			fail_msg("'%s' not in '%s'", w, text);
	va_end(ap);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Run the loop until a has nothing suspended or queued (and setup is done). */
static void
settle(struct analyzer *a, double max_s)
{
	double end = now_s() + max_s;

	while ((!analyzer_idle(a) || analyzer_ready(a) == -EINPROGRESS) && now_s() < end)
		uv_run(&loop, UV_RUN_ONCE);
	assert_true(analyzer_idle(a));
}

/* Free a and let its Redis client close. */
static void
unload(struct analyzer *a)
{
	analyzer_free(a);
	uv_run(&loop, UV_RUN_DEFAULT);
}

static void
record(struct flow_record *r, uint64_t id, uint8_t src_last, uint16_t dport, uint64_t bytes)
{
	memset(r, 0, sizeof(*r));
	r->flow_id = id;
	r->start_us = 1700000000000000ull + id * 1000;
	r->end_us = r->start_us + 2500000;
	r->pkts_toserver = 10;
	r->pkts_toclient = 8;
	r->bytes_toserver = bytes;
	r->bytes_toclient = 4000;
	r->ip_version = 4;
	r->proto = 6;
	r->src_ip[0] = 10, r->src_ip[3] = src_last;
	r->dst_ip[0] = 192, r->dst_ip[1] = 168, r->dst_ip[3] = 7;
	r->src_port = 40000;
	r->dst_port = dport;
	r->state = FLOW_RECORD_STATE_CLOSED;
}

static bool
redis_do(const char *line, char *out, size_t outlen)
{
	return rs_cmd(S.port, line, out, outlen);
}

static int
setup_test(void **state)
{
	char buf[64];

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_true(redis_do("FLUSHALL\r\n", buf, sizeof(buf)));
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/darter-an-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int
teardown_test(void **state)
{
	char cmd[300];

	(void)state;
	assert_int_equal(uv_loop_close(&loop), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* darter.redis                                                        */
/* ------------------------------------------------------------------ */

static const char *calls_lua =
	"function on_flow(rec)\n"
	"  local r = darter.redis\n"
	"  local ok = r.call('SET', 'k', 'v' .. rec.flow_id)\n"
	"  local v = r.call('GET', 'k')\n"
	"  local n = r.call('INCRBY', 'n', rec.flow_id)\n"
	"  local missing = r.call('GET', 'nope')\n"
	"  local e1, e2 = r.call('NOSUCHCMD', 'x')\n"
	"  r.call('HMSET', 'h', 'a', 1, 'b', 'two')\n"
	"  local hm = r.call('HMGET', 'h', 'a', 'b', 'c')\n"
	"  local vals, errs = r.pipeline{ {'INCR', 'p'}, {'INCR', 'p'}, {'LPUSH', 'h', 'x'} }\n"
	"  darter.emit('out', { ok = ok.ok, v = v, n = n, missing = missing, e1 = e1 == nil,\n"
	"    e2 = e2:sub(1, 3), hm = { hm[1], hm[2], tostring(hm[3]) },\n"
	"    p = { vals[1], vals[2], errs[3]:sub(1, 9) } })\n"
	"end\n";

static void
test_call_values(void **state)
{
	struct sink s = {0};
	struct analyzer *a = load("calls.lua", calls_lua, &s);
	struct flow_record r;
	(void)state;

	record(&r, 7, 1, 443, 100);
	assert_int_equal(analyzer_flow(a, &r), -EINPROGRESS);
	assert_int_equal(s.n, 0);
	settle(a, 5);
	assert_int_equal(s.n, 1);
	has(s.last, "\"ok\":\"OK\"", "\"v\":\"v7\"", "\"n\":7", "\"missing\":false", "\"e1\":true",
	    "\"e2\":\"ERR\"", "\"hm\":[\"1\",\"two\",\"false\"]", "\"p\":[1,2,\"WRONGTYPE\"]",
	    NULL);
	/* on_flow suspended once per call, one event */
	assert_int_equal(analyzer_stats(a)->calls, 1);
	/* 7 calls, and the pipeline's 3 replies may arrive in 1 to 3 reads */
	assert_in_range(analyzer_stats(a)->suspends, 8, 10);
	assert_int_equal(analyzer_stats(a)->redis_commands, 10);
	assert_int_equal(analyzer_stats(a)->errors, 0);
	unload(a);
}

/* Per-analyzer FIFO: events wait behind a suspended one, in order; a full queue drops. */
static const char *order_lua = "function on_flow(rec)\n"
			       "  local id = rec.flow_id\n"
			       "  local n = darter.redis.call('INCR', 'seq')\n"
			       "  darter.emit('out', { seq = { id, n, rec.src_ip } })\n"
			       "end\n";

static void
test_order_and_queue(void **state)
{
	struct sink s = {0};
	struct analyzer *a = load_with("order.lua", order_lua, &s, (struct opts){.queue_max = 8});
	struct flow_record r;
	char want[128];
	int inprog = 0, nobufs = 0;
	(void)state;

	for (int i = 1; i <= 20; i++) {
		record(&r, (uint64_t)i, (uint8_t)i, 80, 1);
		int rc = analyzer_flow(a, &r);
		inprog += rc == -EINPROGRESS;
		nobufs += rc == -ENOBUFS;
		memset(&r, 0xab, sizeof(r)); /* the caller's record is gone */
	}
	assert_int_equal(inprog, 9); /* the first suspends, 8 wait */
	assert_int_equal(nobufs, 11);
	assert_int_equal(analyzer_stats(a)->queued, 8);
	assert_int_equal(analyzer_stats(a)->queue_drops, 11);
	settle(a, 5);
	assert_int_equal(s.n, 9);
	/* in order, each event's own record (copied), one at a time */
	char *p = s.all;
	for (int i = 1; i <= 9; i++) {
		snprintf(want, sizeof(want), "out {\"seq\":[%d,%d,\"10.0.0.%d\"]}\n", i, i, i);
		assert_memory_equal(p, want, strlen(want));
		p += strlen(want);
	}
	unload(a);
}

/* A stopped server: every call returns nil, "timeout" in about timeout_ms. */
static const char *timeout_lua = "function on_flow(rec)\n"
				 "  local t0 = os.clock()\n"
				 "  local v, err = darter.redis.call('GET', 'k')\n"
				 "  darter.emit('out', { v = v or 'nil', err = err })\n"
				 "end\n";

static void
test_timeout(void **state)
{
	struct sink s = {0};
	struct analyzer *a =
		load_with("timeout.lua", timeout_lua, &s, (struct opts){.timeout_ms = 200});
	struct flow_record r;
	double t0;
	(void)state;

	/* connect first, then stop the server */
	record(&r, 1, 1, 80, 1);
	assert_int_equal(analyzer_flow(a, &r), -EINPROGRESS);
	settle(a, 5);
	assert_int_equal(kill(S.pid, SIGSTOP), 0);
	t0 = now_s();
	assert_int_equal(analyzer_flow(a, &r), -EINPROGRESS);
	settle(a, 5);
	double dt = now_s() - t0;
	kill(S.pid, SIGCONT);
	has(s.last, "\"v\":\"nil\"", "\"err\":\"darter.redis: timeout\"", NULL);
	assert_true(dt >= 0.15 && dt < 1.5);
	assert_true(analyzer_stats(a)->redis_errors >= 1);
	printf("# timeout after %.3f s (limit 0.2 s)\n", dt);
	unload(a);
}

static void
test_no_redis(void **state)
{
	struct sink s = {0};
	struct analyzer *a =
		load_with("none.lua", timeout_lua, &s, (struct opts){.no_redis = true});
	struct flow_record r;
	(void)state;

	record(&r, 1, 1, 80, 1);
	assert_int_equal(analyzer_flow(a, &r), 0);
	has(s.last, "\"v\":\"nil\"", "\"err\":\"darter.redis: no redis configured\"", NULL);
	analyzer_free(a);
}

/* setup() waits on Redis: events queue until it is done. Waiting in a script coroutine fails. */
static const char *setup_lua =
	"local prefix\n"
	"function setup()\n"
	"  darter.redis.call('SET', 'prefix', 'p-')\n"
	"  prefix = darter.redis.call('GET', 'prefix')\n"
	"end\n"
	"function on_flow(rec)\n"
	"  local co = coroutine.wrap(function() return darter.redis.call('PING') end)\n"
	"  local ok, err = pcall(co)\n"
	"  darter.emit('out', { p = prefix .. rec.flow_id, inner = err:match('own coroutine') })\n"
	"end\n";

static void
test_setup_waits(void **state)
{
	struct sink s = {0};
	struct analyzer *a = load("setup.lua", setup_lua, &s);
	struct flow_record r;
	(void)state;

	assert_int_equal(analyzer_ready(a), -EINPROGRESS);
	record(&r, 5, 1, 80, 1);
	assert_int_equal(analyzer_flow(a, &r), -EINPROGRESS); /* queued behind setup */
	settle(a, 5);
	assert_int_equal(analyzer_ready(a), 0);
	has(s.last, "\"p\":\"p-5\"", "\"inner\":\"own coroutine\"", NULL);
	unload(a);
}

/* Annotations are taken until the first wait; freeing a suspended analyzer drops its events. */
static const char *late_lua = "function on_flow(rec)\n"
			      "  assert(darter.annotate('a', 1))\n"
			      "  darter.redis.call('PING')\n"
			      "  local ok, err = darter.annotate('b', 2)\n"
			      "  darter.emit('out', { ok = ok, err = err:match('gone on') })\n"
			      "end\n";

static void
test_late_annotate_and_free(void **state)
{
	struct sink s = {0};
	struct analyzer *a = load("late.lua", late_lua, &s);
	struct flow_record r;
	(void)state;

	record(&r, 1, 1, 80, 1);
	assert_int_equal(analyzer_flow(a, &r), -EINPROGRESS);
	settle(a, 5);
	has(s.last, "\"ok\":false", "\"err\":\"gone on\"", NULL);
	assert_int_equal(s.n_ann, 1);
	assert_int_equal(analyzer_stats(a)->late_annotations, 1);
	/* free with one suspended and two queued: counted, the loop closes cleanly */
	analyzer_flow(a, &r);
	analyzer_flow(a, &r);
	analyzer_flow(a, &r);
	assert_false(analyzer_idle(a));
	unload(a);
}

/* ------------------------------------------------------------------ */
/* Dragonfly MLE scripts                                               */
/* ------------------------------------------------------------------ */

static const char *df_hello =
	"-- hello world, Dragonfly style: count event types in Redis, pass the event on\n"
	"function setup()\n"
	"  conn = hiredis.connect()\n"
	"  assert(conn:command('PING') == hiredis.status.PONG)\n"
	"  print('>>>>>>>> hello world analyzer')\n"
	"end\n"
	"function loop(msg)\n"
	"  local eve = msg\n"
	"  local reply = conn:command('HINCRBY', 'event_types', eve.event_type, 1)\n"
	"  eve.hello = { count = reply }\n"
	"  dragonfly.output_event(default_output, eve)\n"
	"end\n";

static void
test_dragonfly_hello(void **state)
{
	struct sink s = {0};
	struct analyzer *a = load_with("hello.lua", df_hello, &s, (struct opts){.dragonfly = true});
	struct flow_record r;
	const char *dns =
		"{\"event_type\":\"dns\",\"dns\":{\"rrname\":\"example.com\"},\"n\":[1,2.5,null]}";
	(void)state;

	assert_true(analyzer_wants_eve(a, "dns"));
	record(&r, 42, 1, 53, 100);
	analyzer_flow(a, &r);
	analyzer_eve(a, "dns", dns, strlen(dns));
	analyzer_eve(a, "dns", dns, strlen(dns));
	settle(a, 5);
	assert_int_equal(analyzer_ready(a), 0);
	assert_int_equal(s.n, 3);
	assert_non_null(strstr(s.all, "eve-out {"));
	assert_non_null(strstr(s.all, "\"event_type\":\"flow\""));
	assert_non_null(strstr(s.all, "\"flow_id\":42"));
	assert_non_null(strstr(s.all, "\"bytes_toserver\":100"));
	assert_non_null(strstr(s.all, "\"start\":\"2023-11-14T22:13:20.042000+0000\""));
	assert_non_null(strstr(s.last, "\"hello\":{\"count\":2}"));
	assert_non_null(strstr(s.last, "\"rrname\":\"example.com\""));
	assert_int_equal(analyzer_stats(a)->errors, 0);
	unload(a);
}

/* MAD outlier on flow size per destination port, state in Redis hashes (as example-outlier.lua). */
static const char *df_outlier =
	"local key = 'mad:flow_size'\n"
	"local eta, threshold = 0.05, 3.5\n"
	"function setup()\n"
	"  conn = assert(hiredis.connect())\n"
	"  assert(conn:command('PING') == hiredis.status.PONG)\n"
	"end\n"
	"function loop(msg)\n"
	"  if msg.event_type ~= 'flow' then return end\n"
	"  local x = math.log(1 + msg.flow.bytes_toserver)\n"
	"  local h = key .. ':' .. msg.dest_port\n"
	"  local r = conn:command('HMGET', h, 'median', 'mad', 'n')\n"
	"  local med, mad, n = tonumber(r[1]), tonumber(r[2]), tonumber(r[3]) or 0\n"
	"  if med == nil then med, mad = x, 0.1 end\n"
	"  local z = 0.6745 * (x - med) / math.max(mad, 1e-3)\n"
	"  local dev = math.abs(x - med)\n"
	"  -- steps relative to the spread: the estimate tracks the data's scale\n"
	"  local nmed = med + eta * mad * (x > med and 1 or (x < med and -1 or 0))\n"
	"  local nmad = mad * (1 + eta * (dev > mad and 1 or (dev < mad and -1 or 0)))\n"
	"  assert(conn:command('HMSET', h, 'median', nmed, 'mad', nmad, 'n', n + 1) == "
	"hiredis.status.OK)\n"
	"  if n >= 50 and z > threshold then\n"
	"    msg.analytics = { outlier = { zscore = z, median = math.exp(med) - 1 } }\n"
	"    dragonfly.output_event(default_output, msg)\n"
	"  end\n"
	"end\n";

static void
test_dragonfly_outlier(void **state)
{
	struct sink s = {0};
	struct analyzer *a =
		load_with("outlier.lua", df_outlier, &s, (struct opts){.dragonfly = true});
	struct flow_record r;
	char buf[256];
	(void)state;

	settle(a, 5);
	/* 300 ordinary flows of 900..1100 bytes, then one of 5 MB, then ordinary again */
	srand(7);
	for (int i = 0; i < 300; i++) {
		record(&r, (uint64_t)i, 1, 443, 900 + (uint64_t)(rand() % 200));
		analyzer_flow(a, &r);
		settle(a, 5);
	}
	if (s.n)
		printf("# %s", s.all);
	assert_int_equal(s.n, 0);
	record(&r, 999, 1, 443, 5000000);
	analyzer_flow(a, &r);
	settle(a, 5);
	assert_int_equal(s.n, 1);
	assert_non_null(strstr(s.last, "\"flow_id\":999"));
	assert_non_null(strstr(s.last, "\"outlier\":{"));
	assert_true(redis_do("HGET mad:flow_size:443 n\r\n", buf, sizeof(buf)));
	assert_memory_equal(buf, "$3\r\n301", 7);
	assert_int_equal(analyzer_stats(a)->errors, 0);
	unload(a);
}

/* Blacklist: SISMEMBER on both addresses; command_line with format characters; pipelining. */
static const char *df_blacklist =
	"function setup()\n"
	"  conn = hiredis.connect('127.0.0.1', 6379)\n"
	"end\n"
	"function loop(msg)\n"
	"  conn:append_command('SISMEMBER', 'blacklist:ip', msg.src_ip)\n"
	"  conn:append_command('SISMEMBER', 'blacklist:ip', msg.dest_ip)\n"
	"  local s, d = conn:get_reply(), conn:get_reply()\n"
	"  -- Dragonfly passed this string to redisCommand as a format: not here\n"
	"  local seen = conn:command_line('SADD seen:flows ' .. msg.flow_id .. '%s%n%x')\n"
	"  if s == 1 or d == 1 then\n"
	"    msg.blacklisted = { src = s == 1, dest = d == 1, seen = seen }\n"
	"    dragonfly.output_event('alerts', msg)\n"
	"  end\n"
	"end\n";

static void
test_dragonfly_blacklist(void **state)
{
	struct sink s = {0};
	struct analyzer *a;
	struct flow_record r;
	char buf[256];
	(void)state;

	assert_true(redis_do("SADD blacklist:ip 10.0.0.66 192.168.0.7\r\n", buf, sizeof(buf)));
	a = load_with("blacklist.lua", df_blacklist, &s, (struct opts){.dragonfly = true});
	for (int i = 1; i <= 100; i++) {
		record(&r, (uint64_t)i, (uint8_t)i, 80, 1);
		analyzer_flow(a, &r);
	}
	settle(a, 5);
	/* 10.0.0.66 is a source once; 192.168.0.7 (every destination) is listed */
	assert_int_equal(s.n, 100);
	has(s.all, "\"src\":true", "\"dest\":true", "\"seen\":1", NULL);
	assert_non_null(strstr(s.all, "\"src_ip\":\"10.0.0.66\""));
	assert_true(redis_do("SISMEMBER seen:flows 66%s%n%x\r\n", buf, sizeof(buf)));
	assert_memory_equal(buf, ":1", 2);
	assert_int_equal(analyzer_stats(a)->errors, 0);
	unload(a);
}

/* The cjson module and the rest of the dragonfly table. */
static const char *df_api =
	"function setup() end\n"
	"function loop(msg)\n"
	"  local t = cjson.decode('{\"a\":[1,2,{\"b\":\"\\\\u00e9\\\\n\"}],\"c\":null}')\n"
	"  local bad, err = cjson_safe.decode('{\"a\":')\n"
	"  local ok = pcall(cjson.decode, '[1,,2]')\n"
	"  local h, herr = dragonfly.http_get('http://example.com/')\n"
	"  local d, derr = dragonfly.dnslookup('example.com')\n"
	"  dragonfly.analyze_event(default_analyzer, { x = 1 })\n"
	"  dragonfly.forward_event('fwd', { y = 2 })\n"
	"  dragonfly.log_event('hello %s %n')\n"
	"  dragonfly.stats_event('counts', { n = 1 })\n"
	"  dragonfly.output_event(default_output, { b = t.a[3].b, null = t.c == cjson.null,\n"
	"    bad = bad == nil and err:match('byte') ~= nil, strict = not ok, h = herr, d = derr,\n"
	"    enc = cjson.encode({ 1, 'x', { k = true } }) })\n"
	"end\n";

static void
test_dragonfly_api(void **state)
{
	struct sink s = {0};
	struct analyzer *a = load_with("api.lua", df_api, &s, (struct opts){.dragonfly = true});
	const char *e = "{\"event_type\":\"alert\"}";
	(void)state;

	assert_int_equal(analyzer_eve(a, "alert", e, strlen(e)), 0);
	assert_int_equal(s.n, 5);
	assert_non_null(strstr(s.all, "analyzer:next {\"x\":1}\n"));
	assert_non_null(strstr(s.all, "fwd {\"y\":2}\n"));
	assert_non_null(strstr(s.all, "log {\"message\":\"hello %s %n\"}\n"));
	assert_non_null(strstr(s.all, "stats {"));
	assert_non_null(strstr(s.last, "\"b\":\"\xc3\xa9\\u000a\""));
	assert_non_null(strstr(s.last, "\"null\":true"));
	assert_non_null(strstr(s.last, "\"bad\":true"));
	assert_non_null(strstr(s.last, "\"strict\":true"));
	assert_non_null(strstr(s.last, "\"h\":\"not supported\""));
	assert_non_null(strstr(s.last, "\"enc\":\"[1,\\\"x\\\",{\\\"k\\\":true}]\""));
	unload(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_call_values, setup_test, teardown_test),
		cmocka_unit_test_setup_teardown(test_order_and_queue, setup_test, teardown_test),
		cmocka_unit_test_setup_teardown(test_timeout, setup_test, teardown_test),
		cmocka_unit_test_setup_teardown(test_no_redis, setup_test, teardown_test),
		cmocka_unit_test_setup_teardown(test_setup_waits, setup_test, teardown_test),
		cmocka_unit_test_setup_teardown(test_late_annotate_and_free, setup_test,
						teardown_test),
		cmocka_unit_test_setup_teardown(test_dragonfly_hello, setup_test, teardown_test),
		cmocka_unit_test_setup_teardown(test_dragonfly_outlier, setup_test, teardown_test),
		cmocka_unit_test_setup_teardown(test_dragonfly_blacklist, setup_test,
						teardown_test),
		cmocka_unit_test_setup_teardown(test_dragonfly_api, setup_test, teardown_test),
	};
	int rc;

	signal(SIGPIPE, SIG_IGN);
	if (rs_start(&S) != 0) {
		printf("1..0 # SKIP redis-server not available\n");
		rs_stop(&S);
		return 77;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	rs_stop(&S);
	return rc;
}
