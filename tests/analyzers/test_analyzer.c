/*
 * test_analyzer.c: the Lua analyzer host through its public API.
 *
 * Scripts are written to a temporary directory per test (or taken from
 * analyzers/); emit and annotate callbacks collect what the scripts send.
 * Covers: the API and its callbacks, the FFI layout check, the record
 * views, the sandbox (escapes refused), the memory cap, the CPU limit
 * (interpreted and JIT-compiled loops), error isolation, and hot reload
 * under a stream of events (count in == count out).
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "analyzer.h"
#include "flow_record.h"
#include "mad.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

struct sink {
	unsigned n, n_ann;
	char sink[64];
	char last[8192];
	char ann_key[64];
	char ann[1024];
	char all[65536]; /* every emitted text, newline separated */
	size_t all_len;
	int fail; /* make the callback fail */
};

static int
cb_emit(void *user, const char *sink, const char *json, size_t len)
{
	struct sink *s = user;

	if (s->fail)
		return -EIO;
	s->n++;
	snprintf(s->sink, sizeof(s->sink), "%s", sink);
	snprintf(s->last, sizeof(s->last), "%.*s", (int)len, json);
	if (s->all_len + len + 2 < sizeof(s->all)) {
		memcpy(s->all + s->all_len, json, len);
		s->all_len += len;
		s->all[s->all_len++] = '\n';
		s->all[s->all_len] = '\0';
	}
	return 0;
}

static int
cb_annotate(void *user, const char *key, const char *json, size_t len)
{
	struct sink *s = user;

	s->n_ann++;
	snprintf(s->ann_key, sizeof(s->ann_key), "%s", key);
	snprintf(s->ann, sizeof(s->ann), "%.*s", (int)len, json);
	return 0;
}

static char tmpdir[256];

static int
setup_dir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/darter-an-XXXXXX");
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

/* Write text to tmpdir/name and return the path (static buffer). */
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
conf_for(const char *path, struct sink *s)
{
	struct analyzer_conf c = {
		.path = path,
		.lua_dir = AN_LUA_DIR,
		.mem_max = 16u << 20,
		.cpu_ms = 50,
		.emit = cb_emit,
		.annotate = cb_annotate,
		.user = s,
	};
	return c;
}

static struct analyzer *
load(const char *name, const char *text, struct sink *s)
{
	struct analyzer_conf c = conf_for(script(name, text), s);
	char err[256] = "";
	struct analyzer *a = analyzer_new(&c, err, sizeof(err));

	if (!a)
		fail_msg("load %s: %s", name, err);
	return a;
}

static void
record(struct flow_record *r, uint16_t dport, uint64_t bytes)
{
	memset(r, 0, sizeof(*r));
	r->flow_id = 123456789012345ull;
	r->start_us = 1700000000000000ull;
	r->end_us = r->start_us + 2500000;
	r->pkts_toserver = 10;
	r->pkts_toclient = 8;
	r->bytes_toserver = bytes;
	r->bytes_toclient = 4000;
	r->ip_version = 4;
	r->proto = 6;
	r->src_ip[0] = 10, r->src_ip[3] = 1;
	r->dst_ip[0] = 192, r->dst_ip[1] = 168, r->dst_ip[3] = 7;
	r->src_port = 40000;
	r->dst_port = dport;
	r->state = FLOW_RECORD_STATE_CLOSED;
	r->app.how = APPID_HOW_DPI;
	snprintf(r->app.name, sizeof(r->app.name), "tls");
	snprintf(r->app.category, sizeof(r->app.category), "web");
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------ */
/* Layout                                                              */
/* ------------------------------------------------------------------ */

static void
test_layout(void **state)
{
	char err[256] = "", cmd[1024];
	(void)state;

	assert_int_equal(analyzer_layout_check(AN_LUA_DIR, err, sizeof(err)), 0);

	/* a declaration that drifted from C is caught */
	snprintf(cmd, sizeof(cmd),
		 "mkdir -p %s/lua/darter && sed 's/uint16_t src_port;/uint32_t src_port;/' "
		 "%s/darter/flow.lua > %s/lua/darter/flow.lua",
		 tmpdir, AN_LUA_DIR, tmpdir);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s/lua", tmpdir);
	assert_int_equal(analyzer_layout_check(cmd, err, sizeof(err)), -EPROTO);
	print_message("# %s\n", err);
	assert_non_null(strstr(err, "src_port"));
}

/* ------------------------------------------------------------------ */
/* API                                                                 */
/* ------------------------------------------------------------------ */

static void
test_hello(void **state)
{
	char path[512];
	struct analyzer_conf c;
	struct analyzer *a;
	struct flow_record r;
	struct sink s = {0};
	char err[256];
	(void)state;

	snprintf(path, sizeof(path), "%s/hello.lua", AN_SCRIPTS_DIR);
	c = conf_for(path, &s);
	a = analyzer_new(&c, err, sizeof(err));
	assert_non_null(a);
	assert_int_equal(analyzer_wants(a), ANALYZER_WANT_FLOW | ANALYZER_WANT_TICK);
	assert_int_equal(analyzer_tick_ms(a), 1000);
	record(&r, 443, 1500);
	for (int i = 0; i < 3; i++)
		assert_int_equal(analyzer_flow(a, &r), 0);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.sink, "flows");
	assert_non_null(strstr(s.last, "\"seq\":3"));
	assert_non_null(strstr(s.last, "\"flow_id\":123456789012345"));
	assert_non_null(strstr(s.last, "\"src_ip\":\"10.0.0.1\""));
	assert_non_null(strstr(s.last, "\"dest_ip\":\"192.168.0.7\""));
	assert_non_null(strstr(s.last, "\"proto\":\"TCP\""));
	assert_non_null(strstr(s.last, "\"bytes\":5500"));
	assert_int_equal(analyzer_tick(a, 1), 0);
	assert_int_equal(analyzer_eve(a, "alert", "{}", 2), -ENOENT);
	assert_int_equal(analyzer_stats(a)->calls, 4);
	assert_int_equal(analyzer_stats(a)->emits, 3);
	assert_int_equal(analyzer_stats(a)->errors, 0);
	analyzer_free(a);
}

static const char *views_lua = "wants = { flow = 'ffi', tick = 10 }\n"
			       "local kept\n"
			       "function on_flow(rec)\n"
			       "  kept = rec\n"
			       "  local ok1 = pcall(function() return rec + 1 end)\n"
			       "  local ok2 = pcall(function() return rec[0] end)\n"
			       "  local ok3 = pcall(function() rec.flow_id = 1 end)\n"
			       "  local ok4, v4 = pcall(function() return rec.src_ip[100000] end)\n"
			       "  local ok5 = pcall(function() return rec._ end)\n"
			       "  darter.emit('v', { arith = ok1, index = ok2, write = ok3, oob = "
			       "ok4 and v4 ~= nil, raw = ok5 and rec._ ~= nil,\n"
			       "    flow_id = rec.flow_id, start = rec.start_us, sport = "
			       "rec.src_port, dport = rec.dst_port,\n"
			       "    pkts = rec.pkts, app = rec.app_proto, cat = rec.app_category, "
			       "state = rec.state_name,\n"
			       "    age = rec.age_us, nofield = rec.nosuchfield == nil })\n"
			       "end\n"
			       "function tick() return kept.flow_id end\n";

static void
test_ffi_view(void **state)
{
	struct sink s = {0};
	struct analyzer *a = load("views.lua", views_lua, &s);
	struct flow_record r;
	(void)state;

	record(&r, 53, 100);
	assert_int_equal(analyzer_flow(a, &r), 0);
	assert_non_null(strstr(s.last, "\"arith\":false"));
	assert_non_null(strstr(s.last, "\"index\":false"));
	assert_non_null(strstr(s.last, "\"write\":false"));
	assert_non_null(strstr(s.last, "\"oob\":false"));
	assert_non_null(strstr(s.last, "\"raw\":false"));
	assert_non_null(strstr(s.last, "\"flow_id\":123456789012345"));
	assert_non_null(strstr(s.last, "\"start\":1700000000000000"));
	assert_non_null(strstr(s.last, "\"sport\":40000"));
	assert_non_null(strstr(s.last, "\"dport\":53"));
	assert_non_null(strstr(s.last, "\"pkts\":18"));
	assert_non_null(strstr(s.last, "\"app\":\"tls\""));
	assert_non_null(strstr(s.last, "\"cat\":\"web\""));
	assert_non_null(strstr(s.last, "\"state\":\"closed\""));
	assert_non_null(strstr(s.last, "\"age\":2500000"));
	assert_non_null(strstr(s.last, "\"nofield\":true"));
	/* the view kept past its event refuses to read */
	assert_int_equal(analyzer_tick(a, 0), -EINVAL);
	assert_non_null(strstr(analyzer_last_error(a), "outside its event"));
	analyzer_free(a);
}

static void
test_table_view(void **state)
{
	struct sink s = {0};
	struct analyzer *a =
		load("tview.lua",
		     "wants = { flow = 'table', tick = 5 }\n"
		     "local kept\n"
		     "function on_flow(rec)\n"
		     "  local a = rec.src_ip\n"
		     "  local n = 0 for k in pairs(rec) do n = n + 1 end\n"
		     "  kept = rec\n"
		     "  darter.emit('t', { src = a, cached = n, bytes = rec.bytes_toserver,\n"
		     "    mt = getmetatable(rec) })\n"
		     "end\n"
		     "function tick(now)\n"
		     "  local src = kept.src_ip\n"		   /* cached: fine */
		     "  if now == 1 then return kept.dst_ip end\n" /* not cached: error */
		     "end\n",
		     &s);
	struct flow_record r;
	(void)state;

	record(&r, 80, 777);
	assert_int_equal(analyzer_flow(a, &r), 0);
	assert_non_null(strstr(s.last, "\"src\":\"10.0.0.1\""));
	assert_non_null(strstr(s.last, "\"cached\":1"));
	assert_non_null(strstr(s.last, "\"bytes\":777"));
	assert_non_null(strstr(s.last, "\"mt\":false"));
	assert_int_equal(analyzer_tick(a, 0), 0);
	assert_int_equal(analyzer_tick(a, 1), -EINVAL);
	analyzer_free(a);
}

static void
test_emit_annotate(void **state)
{
	struct sink s = {0};
	struct analyzer *a = load(
		"emit.lua",
		"function on_flow(rec)\n"
		"  local mode = rec.dst_port\n"
		"  if mode == 1 then\n"
		"    darter.emit('x', { a = { 1, 2, 3 }, s = 'q\"\\\\\\n\\1', n = 0/0, i = 1/0,\n"
		"      f = 1.5, neg = -42, t = true, e = {} , nest = { b = { c = 'd' } } })\n"
		"    darter.annotate('k', 'v')\n"
		"  elseif mode == 2 then\n"
		"    local ok, why = darter.emit('x', { f = print })\n"
		"    local t = {} t.self = t\n"
		"    local ok2, why2 = darter.emit('x', t)\n"
		"    local ok3, why3 = darter.emit('x', { [true] = 1 })\n"
		"    local ok4, why4 = darter.emit('x', { s = string.rep('a', 70000) })\n"
		"    darter.annotate('r', { ok, why, ok2, why2, ok3, ok4, why4 })\n"
		"  else\n"
		"    darter.annotate('cb', { darter.emit('x', { ok = 1 }) })\n"
		"  end\n"
		"end\n",
		&s);
	struct flow_record r;
	(void)state;

	record(&r, 1, 1);
	assert_int_equal(analyzer_flow(a, &r), 0);
	assert_int_equal(s.n, 1);
	/* key order is the table's: check pieces */
	assert_non_null(strstr(s.last, "\"a\":[1,2,3]"));
	assert_non_null(strstr(s.last, "\"s\":\"q\\\"\\\\\\u000a\\u0001\""));
	assert_non_null(strstr(s.last, "\"n\":null"));
	assert_non_null(strstr(s.last, "\"i\":null"));
	assert_non_null(strstr(s.last, "\"f\":1.5"));
	assert_non_null(strstr(s.last, "\"neg\":-42"));
	assert_non_null(strstr(s.last, "\"t\":true"));
	assert_non_null(strstr(s.last, "\"e\":{}"));
	assert_non_null(strstr(s.last, "\"nest\":{\"b\":{\"c\":\"d\"}}"));
	assert_string_equal(s.ann_key, "k");
	assert_string_equal(s.ann, "\"v\"");

	record(&r, 2, 1);
	assert_int_equal(analyzer_flow(a, &r), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.ann_key, "r");
	assert_non_null(strstr(s.ann, "[false,\"darter: cannot encode"));
	assert_non_null(strstr(s.ann, "nested too deep"));
	assert_non_null(strstr(s.ann, "too large"));
	assert_int_equal(analyzer_stats(a)->emit_errors, 4);

	s.fail = 1;
	record(&r, 3, 1);
	assert_int_equal(analyzer_flow(a, &r), 0);
	assert_non_null(strstr(s.ann, "[false,\"darter: the sink refused"));
	analyzer_free(a);
}

static void
test_eve(void **state)
{
	struct sink s = {0};
	struct analyzer *a =
		load("eve.lua",
		     "wants = { eve = { 'alert', 'dns' } }\n"
		     "function on_eve(t, json) darter.emit(t, { len = #json, j = json }) end\n",
		     &s);
	(void)state;

	assert_int_equal(analyzer_wants(a), ANALYZER_WANT_EVE);
	assert_true(analyzer_wants_eve(a, "alert"));
	assert_true(analyzer_wants_eve(a, "dns"));
	assert_false(analyzer_wants_eve(a, "flow"));
	assert_int_equal(analyzer_eve(a, "dns", "{\"x\":1}", 7), 0);
	assert_string_equal(s.sink, "dns");
	assert_non_null(strstr(s.last, "\"len\":7"));
	assert_non_null(strstr(s.last, "\"j\":\"{\\\"x\\\":1}\""));
	analyzer_free(a);
}

/* The script's estimator gives exactly what the C estimator gives. */
static void
test_mad(void **state)
{
	struct sink s = {0};
	struct analyzer *a =
		load("mad.lua",
		     "local e\n"
		     "function setup() e = darter.mad.new{ burn_in = 5, threshold = 3 } end\n"
		     "function on_flow(rec)\n"
		     "  local score, out, z, med, mad, n = e:update(rec.bytes_toserver)\n"
		     "  darter.emit('m', { string.format('%.17g %.17g %d %d', score, z, out and 1 "
		     "or 0, n),\n"
		     "     string.format('%.17g', e:median()) })\n"
		     "end\n",
		     &s);
	struct flow_record r;
	struct mad m;
	struct mad_opts o = mad_opts_default();
	struct mad_result res;
	char want[256];
	(void)state;

	o.burn_in = 5;
	o.threshold = 3;
	assert_int_equal(mad_init(&m, &o), 0);
	for (int i = 0; i < 200; i++) {
		uint64_t x = (uint64_t)(1000 + (i * 7919) % 500 + (i == 150 ? 1000000 : 0));
		record(&r, 1, x);
		assert_int_equal(analyzer_flow(a, &r), 0);
		assert_int_equal(mad_update(&m, (double)x, &res), 0);
		snprintf(want, sizeof(want), "[\"%.17g %.17g %d %d\",\"%.17g\"]", res.score,
			 res.zscore, res.outlier ? 1 : 0, (int)res.n,
			 mad_untransform(&m, mad_median(&m)));
		assert_string_equal(s.last, want);
		if (i == 150)
			assert_true(res.outlier);
	}
	analyzer_free(a);
}

static void
test_flow_size_outlier(void **state)
{
	char path[512], err[256];
	struct sink s = {0};
	struct analyzer_conf c;
	struct analyzer *a;
	struct flow_record r;
	(void)state;

	snprintf(path, sizeof(path), "%s/flow_size_outlier.lua", AN_SCRIPTS_DIR);
	c = conf_for(path, &s);
	a = analyzer_new(&c, err, sizeof(err));
	assert_non_null(a);
	for (int i = 0; i < 2000; i++) {
		record(&r, 443, (uint64_t)(2000 + (i * 7919) % 1000));
		r.flow_id = (uint64_t)i;
		assert_int_equal(analyzer_flow(a, &r), 0);
	}
	assert_int_equal(s.n, 0);
	record(&r, 443, 50u * 1000 * 1000);
	r.flow_id = 99999;
	assert_int_equal(analyzer_flow(a, &r), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.sink, "alerts");
	assert_non_null(strstr(s.last, "\"flow_id\":99999"));
	assert_non_null(strstr(s.last, "\"type\":\"flow_size_outlier\""));
	assert_string_equal(s.ann_key, "flow_size_outlier");
	/* another port learns on its own: its first value is burn-in */
	record(&r, 22, 50u * 1000 * 1000);
	assert_int_equal(analyzer_flow(a, &r), 0);
	assert_int_equal(s.n, 1);
	analyzer_free(a);
}

/* ------------------------------------------------------------------ */
/* Sandbox                                                             */
/* ------------------------------------------------------------------ */

/* Each probe returns something truthy only when the escape worked. */
static const char *escapes_lua =
	"local probes = {\n"
	"  require = function() return require('ffi') end,\n"
	"  io_open = function() return io.open('/etc/passwd') end,\n"
	"  os_execute = function() return os.execute('true') end,\n"
	"  os_getenv = function() return os.getenv('PATH') end,\n"
	"  os_exit = function() return os.exit end,\n"
	"  dofile = function() return dofile('/etc/passwd') end,\n"
	"  loadfile = function() return loadfile('/etc/passwd') end,\n"
	"  string_dump = function() return string.dump(print) end,\n"
	"  method_dump = function() return ('').dump(function() end) end,\n"
	"  bytecode = function() return loadstring('\\27LJ\\2\\0') end,\n"
	"  bytecode_load = function() return load('\\27LuaQ') end,\n"
	"  ffi = function() return ffi or _G.ffi end,\n"
	"  ffi_C = function() return ffi.C end,\n"
	"  jit = function() return jit end,\n"
	"  debug = function() return debug.getregistry() end,\n"
	"  getfenv = function() return getfenv(0) end,\n"
	"  setfenv = function() return setfenv(1, {}) end,\n"
	"  package = function() return package.loaded end,\n"
	"  module = function() return module end,\n"
	"  newproxy = function() return newproxy(true) end,\n"
	"  string_mt = function() return getmetatable('').__index end,\n"
	"  string_mt_set = function() return setmetatable('', {}) end,\n"
	"  gc_stop = function() collectgarbage('stop') return true end,\n"
	"  loaded_env = function() return load('return getfenv')() end,\n"
	"  loaded_globals = function() return load('return io')() end,\n"
	"  mad_mt = function() return getmetatable(darter.mad.new()) end,\n"
	"  lib_poison = function() string.format = nil return ('%d'):format(1) ~= '1' end,\n"
	"}\n"
	"function on_flow()\n"
	"  local open = {}\n"
	"  for name, f in pairs(probes) do\n"
	"    local ok, r = pcall(f)\n"
	"    if ok and r then open[#open + 1] = name end\n"
	"  end\n"
	"  table.sort(open)\n"
	"  darter.emit('escapes', { n = #open, open = table.concat(open, ',') })\n"
	"end\n";

static void
test_sandbox(void **state)
{
	struct sink s = {0};
	struct analyzer *a = load("escapes.lua", escapes_lua, &s);
	struct flow_record r;
	(void)state;

	record(&r, 1, 1);
	assert_int_equal(analyzer_flow(a, &r), 0);
	if (!strstr(s.last, "\"n\":0"))
		fail_msg("escapes not refused: %s", s.last);
	analyzer_free(a);
}

/* With allow_io, io is there; a top-level error is a load error. */
static void
test_sandbox_io_and_load_errors(void **state)
{
	struct sink s = {0};
	struct analyzer_conf c = conf_for(
		script("io.lua", "function on_flow() darter.emit('io', { io = io ~= nil }) end"),
		&s);
	char err[256];
	struct analyzer *a;
	struct flow_record r;
	(void)state;

	c.allow_io = true;
	a = analyzer_new(&c, err, sizeof(err));
	assert_non_null(a);
	record(&r, 1, 1);
	assert_int_equal(analyzer_flow(a, &r), 0);
	assert_string_equal(s.last, "{\"io\":true}");
	analyzer_free(a);

	c = conf_for(script("bad.lua", "function on_flow( end"), &s);
	assert_null(analyzer_new(&c, err, sizeof(err)));
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(err, "bad.lua"));

	c = conf_for(script("bad2.lua", "error('boom at load')"), &s);
	assert_null(analyzer_new(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "boom at load"));

	c = conf_for(script("bad3.lua", "function setup() error('boom in setup') end"), &s);
	assert_null(analyzer_new(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "boom in setup"));

	c = conf_for(script("bad4.lua", "wants = { flow = 'ffi' }"), &s);
	assert_null(analyzer_new(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "on_flow"));

	c = conf_for("/nonexistent/x.lua", &s);
	assert_null(analyzer_new(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "No such file"));

	/* bytecode as the script file itself */
	c = conf_for(script("bc.lua", "\x1bLJ\x02\x00junk"), &s);
	assert_null(analyzer_new(&c, err, sizeof(err)));
}

/* ------------------------------------------------------------------ */
/* Memory cap                                                          */
/* ------------------------------------------------------------------ */

static void
test_memory_cap(void **state)
{
	struct sink s = {0};
	struct analyzer_conf c = conf_for(
		script("mem.lua",
		       "hoard = {}\n"
		       "local n = 0\n"
		       "function on_flow(rec)\n"
		       "  n = n + 1\n"
		       "  if rec.dst_port == 1 then\n" /* garbage after the error */
		       "    local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 1000) .. i end\n"
		       "  elseif rec.dst_port == 2 then\n" /* kept: state must be reset */
		       "    for i = 1, 1e9 do hoard[i] = string.rep('y', 1000) .. i end\n"
		       "  elseif rec.dst_port == 3 then\n"
		       "    local s = string.rep('z', 1e9)\n"
		       "  end\n"
		       "  darter.emit('m', { n = n })\n"
		       "end\n"),
		&s);
	struct analyzer *a;
	char err[256];
	struct flow_record r;
	(void)state;

	c.mem_max = 8u << 20;
	c.cpu_ms = 5000;
	a = analyzer_new(&c, err, sizeof(err));
	assert_non_null(a);
	record(&r, 0, 1);
	assert_int_equal(analyzer_flow(a, &r), 0);
	assert_string_equal(s.last, "{\"n\":1}");

	record(&r, 1, 1);
	double t0 = now_s();
	assert_int_equal(analyzer_flow(a, &r), -ENOMEM);
	print_message("# allocation loop to the cap: %.3f s\n", now_s() - t0);
	assert_int_equal(analyzer_stats(a)->resets, 0);
	record(&r, 0, 1);
	assert_int_equal(analyzer_flow(a, &r), 0);
	assert_string_equal(s.last, "{\"n\":3}"); /* same state: n went on */

	record(&r, 3, 1);
	assert_int_equal(analyzer_flow(a, &r), -ENOMEM);
	record(&r, 2, 1);
	assert_int_equal(analyzer_flow(a, &r), -ENOMEM);
	assert_int_equal(analyzer_stats(a)->resets, 1); /* the hoard filled it: rebuilt */
	record(&r, 0, 1);
	assert_int_equal(analyzer_flow(a, &r), 0);
	assert_string_equal(s.last, "{\"n\":1}"); /* fresh state */
	assert_int_equal(analyzer_stats(a)->mem_errors, 3);
	assert_true(analyzer_stats(a)->mem_peak <= c.mem_max);
	assert_true(analyzer_stats(a)->mem_peak > c.mem_max / 2);
	analyzer_free(a);
}

/* ------------------------------------------------------------------ */
/* CPU limit                                                           */
/* ------------------------------------------------------------------ */

static const char *cpu_lua =
	"local n = 0\n"
	"function on_flow(rec)\n"
	"  n = n + 1\n"
	"  local m = rec.dst_port\n"
	"  if m == 1 then while true do end\n"
	"  elseif m == 2 then local x = 0 for i = 1, 1e18 do x = x + i end return x\n"
	"  elseif m == 3 then while true do pcall(function() while true do end end) end\n"
	"  elseif m == 4 then while true do local s = string.rep('a', 10) .. tostring(n) end\n"
	"  elseif m == 5 then local s = string.rep('a', 200000) s:find('.-.-.-.-.-.-b')\n"
	"  elseif m == 6 then while true do local f = function() return n end end\n"
	"  end\n"
	"  darter.emit('c', { n = n })\n"
	"end\n";

static void
test_cpu_limit(void **state)
{
	struct sink s = {0};
	struct analyzer *a = load("cpu.lua", cpu_lua, &s);
	struct flow_record r;
	uint64_t timeouts = 0;
	(void)state;

	for (uint16_t mode = 1; mode <= 6; mode++) {
		double t0 = now_s(), dt;
		record(&r, mode, 1);
		assert_int_equal(analyzer_flow(a, &r), -ETIME);
		dt = now_s() - t0;
		/* 50 ms limit, 25 ms grace at most before the forced stop, plus ticks */
		if (dt > 1.0)
			fail_msg("mode %u took %.3f s", mode, dt);
		assert_int_equal(analyzer_stats(a)->timeouts, ++timeouts);
		/* the analyzer still answers */
		record(&r, 0, 1);
		assert_int_equal(analyzer_flow(a, &r), 0);
		assert_non_null(strstr(s.last, "\"n\":"));
	}
	print_message("# timeouts %llu, of which forced (compiled code) %llu\n",
		      (unsigned long long)analyzer_stats(a)->timeouts,
		      (unsigned long long)analyzer_stats(a)->killed);
	/* the JIT-compiled loops were stopped by force at least once */
	assert_true(analyzer_stats(a)->killed >= 1);
	/* the interpreted one (pairs is not compiled) by the hook: the state lived on */
	assert_true(analyzer_stats(a)->killed < analyzer_stats(a)->timeouts);
	assert_int_equal(analyzer_stats(a)->errors, 6);
	analyzer_free(a);
}

static void
test_cpu_limit_setup(void **state)
{
	struct sink s = {0};
	struct analyzer_conf c = conf_for(
		script("spin.lua",
		       "function setup() local x = 0 for i = 1, 1e18 do x = x + i end end\n"
		       "function on_flow() end\n"),
		&s);
	char err[256];
	double t0 = now_s();
	(void)state;

	assert_null(analyzer_new(&c, err, sizeof(err)));
	assert_int_equal(errno, ETIME);
	assert_non_null(strstr(err, "cpu limit"));
	assert_true(now_s() - t0 < 1.0);
}

/* ------------------------------------------------------------------ */
/* Error isolation                                                     */
/* ------------------------------------------------------------------ */

static void
test_error_isolation(void **state)
{
	struct sink s = {0};
	struct analyzer *a = load("err.lua",
				  "local n = 0\n"
				  "function on_flow(rec)\n"
				  "  n = n + 1\n"
				  "  if rec.dst_port == 1 then error('bad record') end\n"
				  "  if rec.dst_port == 2 then local x = nil; return x.y end\n"
				  "  if rec.dst_port == 3 then coroutine.yield() end\n"
				  "  if rec.dst_port == 4 then error({}) end\n"
				  "  darter.emit('e', { n = n })\n"
				  "end\n",
				  &s);
	struct flow_record r;
	(void)state;

	for (int i = 0; i < 100; i++) {
		record(&r, (uint16_t)(i % 5), 1);
		int rc = analyzer_flow(a, &r);
		assert_int_equal(rc, i % 5 == 0 ? 0 : -EINVAL);
	}
	assert_int_equal(s.n, 20);
	assert_string_equal(s.last, "{\"n\":96}"); /* one state throughout */
	assert_int_equal(analyzer_stats(a)->errors, 80);
	assert_int_equal(analyzer_stats(a)->calls, 100);
	assert_int_equal(analyzer_stats(a)->resets, 0);
	analyzer_free(a);
}

/* ------------------------------------------------------------------ */
/* Hot reload                                                          */
/* ------------------------------------------------------------------ */

static const char *reload_fmt =
	"local n = 0\n"
	"function setup() gen = %d end\n"
	"function on_flow(rec) n = n + 1 darter.emit('r', { gen = gen }) end\n";

static void
test_reload(void **state)
{
	struct sink s = {0};
	char text[512], err[256];
	struct analyzer *a, *next, *old;
	struct flow_record r;
	unsigned in = 0, failed = 0;
	double worst = 0;
	(void)state;

	snprintf(text, sizeof(text), reload_fmt, 0);
	a = load("reload.lua", text, &s);
	record(&r, 1, 1);
	for (int gen = 1; gen <= 100; gen++) {
		for (int i = 0; i < 50; i++, in++)
			assert_int_equal(analyzer_flow(a, &r), 0);
		/* every tenth reload is a broken script: the old one stays */
		if (gen % 10 == 0)
			script("reload.lua", gen % 20 ? "function on_flow( end"
						      : "function setup() error('nope') end");
		else {
			snprintf(text, sizeof(text), reload_fmt, gen);
			script("reload.lua", text);
		}
		next = analyzer_reload_prepare(a, err, sizeof(err));
		if (!next) {
			failed++;
			assert_true(gen % 10 == 0);
			assert_true(strlen(err) > 0);
			continue;
		}
		double t0 = now_s();
		old = analyzer_swap(&a, next);
		double dt = now_s() - t0;
		worst = dt > worst ? dt : worst;
		analyzer_free(old);
		assert_int_equal(analyzer_flow(a, &r), 0);
		in++;
		char want[32];
		snprintf(want, sizeof(want), "{\"gen\":%d}", gen);
		assert_string_equal(s.last, want);
	}
	assert_int_equal(failed, 10);
	assert_int_equal(s.n, in);
	assert_int_equal(analyzer_stats(a)->emits, in);
	assert_int_equal(analyzer_stats(a)->calls, in);
	assert_int_equal(analyzer_stats(a)->reloads, 90);
	assert_true(worst < 0.010);
	analyzer_free(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_hello),
		cmocka_unit_test(test_ffi_view),
		cmocka_unit_test(test_table_view),
		cmocka_unit_test(test_emit_annotate),
		cmocka_unit_test(test_eve),
		cmocka_unit_test(test_mad),
		cmocka_unit_test(test_flow_size_outlier),
		cmocka_unit_test(test_sandbox),
		cmocka_unit_test(test_sandbox_io_and_load_errors),
		cmocka_unit_test(test_memory_cap),
		cmocka_unit_test(test_cpu_limit),
		cmocka_unit_test(test_cpu_limit_setup),
		cmocka_unit_test(test_error_isolation),
		cmocka_unit_test(test_reload),
	};

	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
