/*
 * test_input_script.c: Lua input scripts (on_input + darter.input) through
 * the analyzer host's public API, and analyzers/inputs/zeek_conn.lua over
 * tests/data/zeek/conn.json checked by the real EVE parser (engine/eve_in.c).
 *
 * Covers: 0, 1 and several events per line, table and string forms, order
 * across lines, where darter.input is allowed (on_input, tick) and refused
 * (setup, on_flow, no callback), refused values (too big, newline, not a
 * table or string, a list, empty, over the per-call hold), callback errors,
 * a script error and the CPU limit without losing the next line, counters
 * carried by a reload, the example in lua/README.md, and, with a real
 * redis-server, lines queued behind a call suspended on Redis (copied,
 * delivered in order).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>
#include <uv.h>

#include "analyzer.h"
#include "eve_in.h"
#include "flow_record.h"
#include "redis_server.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

#define EV_MAX 256

/* What the input callback received, in order. */
struct got {
	unsigned n;
	char *ev[EV_MAX];
	size_t len[EV_MAX];
	const char *reject; /* refuse events containing this text */
	unsigned emits;
	char emitted[8192]; /* darter.emit texts, newline separated */
};

static int
cb_input(void *user, const char *json, size_t len)
{
	struct got *g = user;

	assert_int_equal(strlen(json), len); /* NUL-terminated */
	if (g->reject && strstr(json, g->reject))
		return -EINVAL;
	assert_true(g->n < EV_MAX);
	g->ev[g->n] = strndup(json, len);
	g->len[g->n++] = len;
	return 0;
}

static int
cb_emit(void *user, const char *sink, const char *json, size_t len)
{
	struct got *g = user;
	size_t at = strlen(g->emitted);

	g->emits++;
	snprintf(g->emitted + at, sizeof(g->emitted) - at, "# %s %.*s\n", sink, (int)len, json);
	return 0;
}

static void
got_free(struct got *g)
{
	for (unsigned i = 0; i < g->n; i++)
		free(g->ev[i]);
	memset(g, 0, sizeof(*g));
}

static char tmpdir[256];

static int
setup_dir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/darter-in-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int
teardown_dir(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
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

static struct analyzer_conf
conf_for(const char *path, struct got *g)
{
	struct analyzer_conf c = {
		.path = path,
		.lua_dir = AN_LUA_DIR,
		.mem_max = 16u << 20,
		.cpu_ms = 50,
		.emit = cb_emit,
		.input = cb_input,
		.user = g,
	};
	return c;
}

static struct analyzer *
load_conf(struct analyzer_conf *c)
{
	char err[256] = "";
	struct analyzer *a = analyzer_new(c, err, sizeof(err));

	if (!a)
		fail_msg("load %s: %s", c->path, err);
	return a;
}

static struct analyzer *
load(const char *name, const char *text, struct got *g)
{
	struct analyzer_conf c = conf_for(script(name, text), g);

	return load_conf(&c);
}

static int
input_str(struct analyzer *a, const char *line)
{
	return analyzer_input(a, line, strlen(line));
}

/* ------------------------------------------------------------------ */
/* Events per line, forms, order                                       */
/* ------------------------------------------------------------------ */

static const char *counting_script =
	"function on_input(line)\n"
	"  local n, tag = line:match('^(%d+) (%S+)$')\n"
	"  for i = 1, tonumber(n) do\n"
	"    local ok\n"
	"    if i % 2 == 1 then\n"
	"      ok = darter.input({ event_type = 'tbl', tag = tag, i = i, line = line })\n"
	"    else\n"
	"      ok = darter.input('{\"event_type\":\"str\",\"tag\":\"' .. tag .. '\",\"i\":' .. i "
	".. "
	"'}')\n"
	"    end\n"
	"    assert(ok)\n"
	"  end\n"
	"end\n";

static void
test_events_per_line(void **state)
{
	struct got g = {0};
	struct analyzer *a = load("count.lua", counting_script, &g);
	const struct analyzer_stats *st = analyzer_stats(a);
	json_t *doc;

	(void)state;
	assert_int_equal(analyzer_wants(a), ANALYZER_WANT_INPUT);
	assert_int_equal(input_str(a, "0 none"), 0);
	assert_int_equal(g.n, 0);
	assert_int_equal(input_str(a, "1 one\n"), 0);
	assert_int_equal(g.n, 1); /* delivered before analyzer_input returned */
	assert_int_equal(input_str(a, "3 three\r\n"), 0);
	assert_int_equal(input_str(a, "2 two"), 0);
	assert_int_equal(g.n, 6);

	/* table form: one JSON object, the line without its "\n" / "\r\n" */
	doc = json_loads(g.ev[0], 0, NULL);
	assert_non_null(doc);
	assert_string_equal(json_string_value(json_object_get(doc, "line")), "1 one");
	json_decref(doc);
	doc = json_loads(g.ev[1], 0, NULL);
	assert_string_equal(json_string_value(json_object_get(doc, "line")), "3 three");
	json_decref(doc);
	/* string form passes through as is; order within and across lines */
	assert_string_equal(g.ev[2], "{\"event_type\":\"str\",\"tag\":\"three\",\"i\":2}");
	const char *want[] = {"one", "three", "three", "three", "two", "two"};
	const int wi[] = {1, 1, 2, 3, 1, 2};
	for (unsigned i = 0; i < g.n; i++) {
		doc = json_loads(g.ev[i], 0, NULL);
		assert_non_null(doc);
		assert_string_equal(json_string_value(json_object_get(doc, "tag")), want[i]);
		assert_int_equal(json_integer_value(json_object_get(doc, "i")), wi[i]);
		json_decref(doc);
	}
	assert_int_equal(st->calls, 4);
	assert_int_equal(st->input_events, 6);
	assert_int_equal(st->input_errors, 0);
	assert_int_equal(st->errors, 0);
	/* not a flow, EVE or tick analyzer */
	struct flow_record r = {0};
	assert_int_equal(analyzer_flow(a, &r), -ENOENT);
	assert_int_equal(analyzer_eve(a, "dns", "{}", 2), -ENOENT);
	analyzer_free(a);
	got_free(&g);
}

/* ------------------------------------------------------------------ */
/* Where darter.input works                                            */
/* ------------------------------------------------------------------ */

static const char *where_script =
	"wants = { flow = 'table', tick = 1000 }\n"
	"local function try(where)\n"
	"  local ok, why = darter.input({ event_type = 'x', where = where })\n"
	"  darter.emit('r', { where = where, ok = ok, why = why or '' })\n"
	"end\n"
	"function setup() try('setup') end\n"
	"function on_flow(rec) try('on_flow') end\n"
	"function tick(now) try('tick') end\n"
	"function on_input(line) try('on_input') end\n";

static void
test_where(void **state)
{
	struct got g = {0};
	struct analyzer *a = load("where.lua", where_script, &g);
	struct flow_record r = {0};

	(void)state;
	assert_int_equal(analyzer_wants(a),
			 ANALYZER_WANT_FLOW | ANALYZER_WANT_TICK | ANALYZER_WANT_INPUT);
	assert_int_equal(analyzer_flow(a, &r), 0);
	assert_int_equal(analyzer_tick(a, 1), 0);
	assert_int_equal(analyzer_input(a, "x", 1), 0);
	print_message("%s", g.emitted);
	assert_non_null(strstr(g.emitted, "\"where\":\"setup\""));
	/* refused outside the input stream: setup and other events */
	assert_non_null(strstr(g.emitted, "only in on_input or tick"));
	assert_int_equal(g.n, 2);
	assert_non_null(strstr(g.ev[0], "\"where\":\"tick\""));
	assert_non_null(strstr(g.ev[1], "\"where\":\"on_input\""));
	assert_int_equal(analyzer_stats(a)->input_errors, 2); /* setup, on_flow */
	analyzer_free(a);
	got_free(&g);

	/* no input callback: "no input", counted */
	struct analyzer_conf c =
		conf_for(script("noin.lua", "function on_input(l)\n"
					    "  local ok, why = darter.input({a = 1})\n"
					    "  darter.emit('r', {ok = ok, why = why})\n"
					    "end\n"),
			 &g);
	c.input = NULL;
	a = load_conf(&c);
	assert_int_equal(input_str(a, "l"), 0);
	assert_non_null(strstr(g.emitted, "no input"));
	assert_int_equal(analyzer_stats(a)->input_errors, 1);
	analyzer_free(a);
	got_free(&g);

	/* on_input must be a function; a Dragonfly-mode input script is not a loop() analyzer */
	char err[256] = "";
	c = conf_for(script("bad.lua", "on_input = 5\n"), &g);
	assert_null(analyzer_new(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "on_input must be a function"));
	c = conf_for(script("df.lua", "function on_input(l) darter.input(l) end\n"), &g);
	c.dragonfly = true;
	a = load_conf(&c);
	assert_int_equal(analyzer_wants(a), ANALYZER_WANT_INPUT);
	assert_int_equal(input_str(a, "{\"event_type\":\"df\"}"), 0);
	assert_int_equal(g.n, 1);
	analyzer_free(a);
	got_free(&g);
}

/* ------------------------------------------------------------------ */
/* Refused values and callback errors                                  */
/* ------------------------------------------------------------------ */

static const char *bad_script =
	"local function try(what, v)\n"
	"  local ok, why = darter.input(v)\n"
	"  darter.emit('r', { what = what, ok = ok, why = why or '' })\n"
	"end\n"
	"function on_input(line)\n"
	"  if line == 'bad' then\n"
	"    try('big', { pad = string.rep('x', 70000) })\n"
	"    try('bigstr', '{\"pad\":\"' .. string.rep('x', 70000) .. '\"}')\n"
	"    try('newline', '{\"a\":1}\\n{\"b\":2}')\n"
	"    try('nul', '{\"a\":1}\\0')\n"
	"    try('number', 42)\n"
	"    try('nil', nil)\n"
	"    try('list', { 1, 2, 3 })\n"
	"    try('empty', '')\n"
	"    try('func', { f = print })\n"
	"    try('good', { event_type = 'ok' })\n"
	"  elseif line == 'hold' then\n"
	"    local pad = string.rep('y', 60000)\n"
	"    for i = 1, 100 do darter.input({ i = i, pad = pad }) end\n"
	"  else\n"
	"    darter.input({ event_type = line })\n"
	"  end\n"
	"end\n";

static void
test_bad_values(void **state)
{
	struct got g = {0};
	struct analyzer_conf c = conf_for(script("bad.lua", bad_script), &g);
	struct analyzer *a;
	const struct analyzer_stats *st;
	static const char *const reasons[] = {
		"value too large",
		"value too large",
		"is one line",
		"is one line",
		"a table (a JSON object) or a JSON text",
		"a table (a JSON object) or a JSON text",
		"a table (a JSON object) or a JSON text",
		"empty text",
		"cannot encode a function",
	};

	(void)state;
	c.cpu_ms = 5000; /* encoding 6 MB of events is slow under sanitizers */
	a = load_conf(&c);
	st = analyzer_stats(a);
	assert_int_equal(input_str(a, "bad"), 0);
	print_message("%s", g.emitted);
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (!strstr(g.emitted, reasons[i]))
			fail_msg("reason '%s' missing", reasons[i]);
	assert_non_null(strstr(g.emitted, "\"what\":\"good\""));
	assert_int_equal(g.n, 1);
	assert_string_equal(g.ev[0], "{\"event_type\":\"ok\"}");
	assert_int_equal(st->input_errors, 9);
	assert_int_equal(st->input_events, 1);
	assert_int_equal(st->errors, 0); /* refusals are answers, not script errors */

	/* the per-call hold is bounded: 100 x 60 KB > 4 MiB, the rest refused */
	assert_int_equal(input_str(a, "hold"), 0);
	assert_int_equal(st->input_events + st->input_errors, 1 + 9 + 100);
	assert_true(st->input_events > 1 + 60 && st->input_events < 1 + 100);
	print_message("# hold: %u of 100 delivered\n", (unsigned)(st->input_events - 1));

	/* the callback's refusal is counted; the script's true stands for "taken" */
	unsigned before = g.n;
	g.reject = "reject";
	assert_int_equal(input_str(a, "reject-me"), 0);
	assert_int_equal(input_str(a, "keep-me"), 0);
	assert_int_equal(g.n, before + 1);
	assert_non_null(strstr(g.ev[g.n - 1], "keep-me"));
	assert_int_equal(st->input_errors, 9 + (100 - (st->input_events - 2)) + 1);
	analyzer_free(a);
	got_free(&g);
}

/* ------------------------------------------------------------------ */
/* Script errors and the CPU limit                                     */
/* ------------------------------------------------------------------ */

static const char *fail_script =
	"function on_input(line)\n"
	"  darter.input({ event_type = 'before', line = line })\n"
	"  if line == 'boom' then error('boom on purpose') end\n"
	"  if line == 'spin' then local x = 0 while true do x = x + 1 end end\n"
	"  if line == 'spin-i' then while true do string.format('%d', 1) end end\n"
	"end\n";

static void
test_errors_and_cpu(void **state)
{
	struct got g = {0};
	struct analyzer *a = load("fail.lua", fail_script, &g);
	const struct analyzer_stats *st;
	struct timespec t0, t1;

	(void)state;
	assert_int_equal(input_str(a, "boom"), -EINVAL);
	assert_non_null(strstr(analyzer_last_error(a), "boom on purpose"));
	assert_non_null(strstr(analyzer_last_error(a), "on_input"));
	assert_int_equal(input_str(a, "next"), 0);
	st = analyzer_stats(a);
	assert_int_equal(st->errors, 1);
	/* what the call gave before it failed was taken: it is delivered */
	assert_int_equal(g.n, 2);
	assert_non_null(strstr(g.ev[1], "\"line\":\"next\""));

	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(input_str(a, "spin"), -ETIME); /* compiled loop: killed, rebuilt */
	assert_int_equal(input_str(a, "spin-i"), -ETIME);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true((t1.tv_sec - t0.tv_sec) < 5);
	st = analyzer_stats(a);
	assert_int_equal(st->timeouts, 2);
	assert_int_equal(input_str(a, "after"), 0);
	assert_non_null(strstr(g.ev[g.n - 1], "\"line\":\"after\""));
	assert_int_equal(analyzer_stats(a)->errors, 3);
	print_message("# killed %llu, resets %llu\n", (unsigned long long)st->killed,
		      (unsigned long long)st->resets);
	analyzer_free(a);
	got_free(&g);
}

/* ------------------------------------------------------------------ */
/* Reload keeps the counters                                           */
/* ------------------------------------------------------------------ */

static void
test_reload_counters(void **state)
{
	struct got g = {0};
	struct analyzer *a = load("re.lua", counting_script, &g), *old, *next;
	char err[256] = "";

	(void)state;
	assert_int_equal(input_str(a, "2 x"), 0);
	g.reject = "tbl";
	assert_int_equal(input_str(a, "1 y"), 0);
	next = analyzer_reload_prepare(a, err, sizeof(err));
	assert_non_null(next);
	assert_int_equal(analyzer_ready(next), 0);
	old = analyzer_swap(&a, next);
	assert_true(analyzer_idle(old));
	analyzer_free(old);
	assert_int_equal(analyzer_stats(a)->input_events, 2);
	assert_int_equal(analyzer_stats(a)->input_errors, 1);
	g.reject = NULL;
	assert_int_equal(input_str(a, "1 z"), 0);
	assert_int_equal(analyzer_stats(a)->input_events, 3);
	assert_int_equal(analyzer_stats(a)->reloads, 1);
	analyzer_free(a);
	got_free(&g);
}

/* ------------------------------------------------------------------ */
/* zeek_conn.lua over a real-format conn.log                           */
/* ------------------------------------------------------------------ */

/* Zeek's conn_state to the record's state, as zeek_conn.lua documents. */
static uint8_t
zeek_state(const char *cs)
{
	if (strcmp(cs, "S0") == 0)
		return FLOW_RECORD_STATE_NEW;
	if (strcmp(cs, "S1") == 0 || strcmp(cs, "S2") == 0 || strcmp(cs, "S3") == 0 ||
	    strcmp(cs, "OTH") == 0)
		return FLOW_RECORD_STATE_ESTABLISHED;
	return FLOW_RECORD_STATE_CLOSED;
}

static uint64_t
jint(json_t *z, const char *k)
{
	json_t *v = json_object_get(z, k);

	return json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
}

static void
check_addr(const char *text, const uint8_t *got, int v6)
{
	uint8_t want[16] = {0};

	assert_int_equal(inet_pton(v6 ? AF_INET6 : AF_INET, text, want), 1);
	assert_memory_equal(got, want, v6 ? 16 : 4);
}

/* One converted event against the Zeek line it came from. */
static void
check_flow(json_t *z, const struct flow_record *r)
{
	const char *proto = json_string_value(json_object_get(z, "proto"));
	const char *src = json_string_value(json_object_get(z, "id.orig_h"));
	const char *svc = json_string_value(json_object_get(z, "service"));
	int v6 = strchr(src, ':') != NULL;
	double ts = json_real_value(json_object_get(z, "ts"));
	double dur = json_number_value(json_object_get(z, "duration"));
	int64_t start = (int64_t)floor(ts * 1e6 + 0.5);

	assert_int_equal(r->ip_version, v6 ? 6 : 4);
	check_addr(src, r->src_ip, v6);
	check_addr(json_string_value(json_object_get(z, "id.resp_h")), r->dst_ip, v6);
	if (strcmp(proto, "icmp") == 0) {
		assert_int_equal(r->proto, v6 ? 58 : 1);
		assert_int_equal(r->icmp_type, jint(z, "id.orig_p"));
		assert_int_equal(r->icmp_code, jint(z, "id.resp_p"));
	} else {
		assert_int_equal(r->proto, strcmp(proto, "tcp") == 0 ? 6 : 17);
		assert_int_equal(r->src_port, jint(z, "id.orig_p"));
		assert_int_equal(r->dst_port, jint(z, "id.resp_p"));
	}
	assert_int_equal(r->pkts_toserver, jint(z, "orig_pkts"));
	assert_int_equal(r->pkts_toclient, jint(z, "resp_pkts"));
	assert_int_equal(r->bytes_toserver, jint(z, "orig_ip_bytes"));
	assert_int_equal(r->bytes_toclient, jint(z, "resp_ip_bytes"));
	assert_true(llabs((int64_t)r->start_us - start) <= 1);
	assert_true(llabs((int64_t)(r->end_us - r->start_us) - (int64_t)floor(dur * 1e6 + 0.5)) <=
		    1);
	assert_int_equal(r->state, zeek_state(json_string_value(json_object_get(z, "conn_state"))));
	assert_int_equal(r->reason, FLOW_RECORD_REASON_TIMEOUT);
	assert_true(r->flow_id != 0);
	if (!svc) {
		assert_int_equal(r->app.how, APPID_HOW_NONE);
	} else {
		char want[32];
		snprintf(want, sizeof(want), "%.*s", (int)strcspn(svc, ","), svc);
		if (strcmp(want, "ssl") == 0)
			snprintf(want, sizeof(want), "tls");
		assert_string_equal(r->app.name, want);
	}
}

static void
test_zeek_conn(void **state)
{
	struct got g = {0};
	struct analyzer_conf c = conf_for(AN_SCRIPTS_DIR "/inputs/zeek_conn.lua", &g);
	struct analyzer *a;
	struct eve_in *in = eve_in_new(NULL);
	FILE *f = fopen(AN_ZEEK_DIR "/conn.json", "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	unsigned lines = 0, valid = 0, garbage = 0;
	uint64_t ids[64];

	(void)state;
	assert_non_null(in);
	assert_non_null(f);
	a = load_conf(&c);
	assert_int_equal(analyzer_wants(a), ANALYZER_WANT_INPUT);
	while ((n = getline(&line, &cap, f)) > 0) {
		json_t *z = json_loads(line, 0, NULL);
		unsigned before = g.n;
		struct flow_record r;
		int rc = analyzer_input(a, line, (size_t)n);

		lines++;
		if (!z) { /* the garbage line: an error, counted; no event; no crash */
			garbage++;
			assert_int_equal(rc, -EINVAL);
			assert_int_equal(g.n, before);
			print_message("# line %u: %s\n", lines, analyzer_last_error(a));
			continue;
		}
		assert_int_equal(rc, 0);
		assert_int_equal(g.n, before + 1);
		if (eve_in_parse(in, g.ev[before], g.len[before], &r) != EVE_IN_FLOW)
			fail_msg("line %u refused by eve_in: %s (%s): %s", lines,
				 eve_in_error_name(eve_in_last_error(in)), eve_in_last_field(in),
				 g.ev[before]);
		check_flow(z, &r);
		for (unsigned i = 0; i < valid; i++)
			assert_true(ids[i] != r.flow_id);
		ids[valid++] = r.flow_id;
		json_decref(z);
	}
	print_message("# %u lines, %u flows, %u garbage; first event: %s\n", lines, valid, garbage,
		      g.n ? g.ev[0] : "");
	assert_int_equal(lines, 21);
	assert_int_equal(valid, 20);
	assert_int_equal(garbage, 1);
	assert_int_equal(analyzer_stats(a)->errors, 1);
	assert_int_equal(analyzer_stats(a)->input_events, 20);
	assert_int_equal(eve_in_stats(in)->flows, 20);

	/* a line of another Zeek log gives no event; a line without addresses an error */
	assert_int_equal(input_str(a, "{\"_path\":\"dns\",\"ts\":1795442400.1,\"uid\":\"C1\"}"), 0);
	assert_int_equal(input_str(a, "{\"ts\":1795442400.1,\"uid\":\"C1\",\"proto\":\"tcp\"}"),
			 -EINVAL);
	assert_non_null(strstr(analyzer_last_error(a), "no id.orig_h"));
	assert_int_equal(g.n, 20);
	free(line);
	fclose(f);
	eve_in_free(in);
	analyzer_free(a);
	got_free(&g);
}

/* The short example of lua/README.md ("An input script") works as documented. */
static void
test_readme_example(void **state)
{
	struct got g = {0};
	struct eve_in *in = eve_in_new(NULL);
	FILE *f = fopen(AN_LUA_DIR "/README.md", "r");
	static char doc[1 << 17];
	char *from, *to, *line = NULL;
	size_t n, cap = 0;
	ssize_t len;
	unsigned flows = 0;
	struct analyzer *a;

	(void)state;
	assert_non_null(f);
	n = fread(doc, 1, sizeof(doc) - 1, f);
	fclose(f);
	doc[n] = '\0';
	from = strstr(doc, "## An input script");
	assert_non_null(from);
	from = strstr(from, "```lua\n");
	assert_non_null(from);
	from += 7;
	to = strstr(from, "```\n");
	assert_non_null(to);
	*to = '\0';
	a = load("readme.lua", from, &g);
	f = fopen(AN_ZEEK_DIR "/conn.json", "r");
	assert_non_null(f);
	while ((len = getline(&line, &cap, f)) > 0) {
		json_t *z = json_loads(line, 0, NULL);
		struct flow_record r;
		unsigned before = g.n;
		int rc = analyzer_input(a, line, (size_t)len);

		if (!z) {
			assert_int_equal(rc, -EINVAL);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_int_equal(g.n, before + 1);
		if (eve_in_parse(in, g.ev[before], g.len[before], &r) != EVE_IN_FLOW)
			fail_msg("refused: %s (%s): %s", eve_in_error_name(eve_in_last_error(in)),
				 eve_in_last_field(in), g.ev[before]);
		flows++;
		if (strcmp(json_string_value(json_object_get(z, "proto")), "icmp") != 0) {
			assert_int_equal(r.src_port, jint(z, "id.orig_p"));
			assert_int_equal(r.dst_port, jint(z, "id.resp_p"));
		}
		assert_int_equal(r.bytes_toserver, jint(z, "orig_ip_bytes"));
		assert_int_equal(r.bytes_toclient, jint(z, "resp_ip_bytes"));
		json_decref(z);
	}
	assert_int_equal(flows, 20);
	free(line);
	fclose(f);
	eve_in_free(in);
	analyzer_free(a);
	got_free(&g);
}

/* ------------------------------------------------------------------ */
/* Lines queued behind a call suspended on Redis                       */
/* ------------------------------------------------------------------ */

static const char *redis_script =
	"function on_input(line)\n"
	"  local n, err = darter.redis.call('INCR', 'darter:test:input')\n"
	"  assert(n, err)\n"
	"  darter.input({ event_type = 'seq', n = n, line = line })\n"
	"end\n";

static void
test_suspend_queue(void **state)
{
	struct rs_server S = {0};
	struct got g = {0};
	uv_loop_t loop;
	struct analyzer_conf c;
	struct analyzer *a;
	char buf[32];
	double end;

	(void)state;
	if (rs_start(&S) != 0) {
		rs_stop(&S);
		skip(); /* no redis-server here */
	}
	assert_int_equal(uv_loop_init(&loop), 0);
	c = conf_for(script("redis.lua", redis_script), &g);
	c.loop = &loop;
	c.redis_host = "127.0.0.1";
	c.redis_port = S.port;
	c.cpu_ms = 200;
	c.queue_max = 8;
	a = load_conf(&c);
	for (int i = 0; i < 12; i++) { /* one suspends, 8 queue, 3 dropped */
		snprintf(buf, sizeof(buf), "line-%d", i);
		int rc = input_str(a, buf);
		assert_int_equal(rc, i < 9 ? -EINPROGRESS : -ENOBUFS);
		memset(buf, 'X', sizeof(buf) - 1); /* the queue holds copies */
	}
	assert_int_equal(analyzer_pending(a), 9);
	assert_int_equal(g.n, 0);
	end = (double)time(NULL) + 10;
	while (!analyzer_idle(a) && (double)time(NULL) < end)
		uv_run(&loop, UV_RUN_ONCE);
	assert_true(analyzer_idle(a));
	assert_int_equal(g.n, 9);
	for (unsigned i = 0; i < g.n; i++) {
		char want[64];
		snprintf(want, sizeof(want), "\"n\":%u", i + 1);
		assert_non_null(strstr(g.ev[i], want));
		snprintf(want, sizeof(want), "\"line\":\"line-%u\"", i);
		assert_non_null(strstr(g.ev[i], want));
	}
	assert_int_equal(analyzer_stats(a)->queue_drops, 3);
	assert_int_equal(analyzer_stats(a)->input_events, 9);
	analyzer_free(a);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	rs_stop(&S);
	got_free(&g);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_events_per_line), cmocka_unit_test(test_where),
		cmocka_unit_test(test_bad_values),	cmocka_unit_test(test_errors_and_cpu),
		cmocka_unit_test(test_reload_counters), cmocka_unit_test(test_zeek_conn),
		cmocka_unit_test(test_readme_example),	cmocka_unit_test(test_suspend_queue),
	};

	signal(SIGPIPE, SIG_IGN); /* a Redis that dies mid-write is an error, not an exit */
	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
