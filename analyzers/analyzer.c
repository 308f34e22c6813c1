/*
 * analyzer.c: the LuaJIT host of one analyzer script (see analyzer.h).
 *
 * What: each analyzer owns a "vm": a lua_State made by lua_newstate with an
 * allocator that enforces the memory cap, the trusted lua/darter/host.lua
 * (record views, sandbox), the script's environment, and one coroutine in
 * which every script function runs (setup, on_flow, on_eve, tick,
 * teardown). Resuming a finished coroutine from C costs what a pcall does,
 * and leaves room for suspending an event on I/O later.
 *
 * How the CPU limit works: a call bumps the analyzer's watchdog slot and
 * publishes a call context in a thread-local. When the watchdog thread
 * signals this thread, the handler first (phase 1) installs a count hook
 * that raises "cpu limit exceeded" at the next bytecode the interpreter
 * runs, also inside the script's own pcalls, until the call ends. Compiled
 * traces never run hooks, so if the call is still running a grace period
 * later (phase 2), the handler siglongjmps out of the VM and the state is
 * abandoned: its memory is freed block by block from the allocator's list
 * (lua_close would run on a state stopped mid-trace), and the analyzer is
 * rebuilt from its script text. The jump never leaves our own C code
 * half done: the allocator and the darter.* functions raise tl_in_c, and
 * the handler then waits for the next tick. What leaks per abandoned state
 * is its JIT machine code (mmap'd by LuaJIT, at most its maxmcode).
 *
 * C never makes an unprotected Lua call that may allocate: building runs in
 * lua_cpcall, events push only values that need no memory.
 *
 * Not here: Redis, EVE decoding (on_eve gets the JSON text), file watching.
 */
#include "analyzer.h"

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "flow_record.h"
#include "log.h"
#include "mad.h"
#include "watchdog.h"

#ifndef DARTER_LUA_DIR
#define DARTER_LUA_DIR "/usr/share/darter/lua"
#endif

#define AN_TAG		"lua"
#define AN_SCRIPT_MAX	(1u << 20) /* bytes of script text */
#define AN_MEM_MIN	(1u << 20)
#define AN_JSON_DEPTH	16
#define AN_TIMEOUT_MSG	"darter: cpu limit exceeded"
#define AN_MAD_MT	"darter.mad"
#define AN_LOG_FREE	100 /* print lines per analyzer before sampling */
#define AN_EVE_TYPES	16  /* wants.eve entries kept */
#define AN_EVE_TYPE_LEN 32

/* ------------------------------------------------------------------ */
/* Types                                                               */
/* ------------------------------------------------------------------ */

/* Every block the state holds, on a list, so an abandoned state can be freed. */
struct an_blk {
	struct an_blk *prev, *next;
} __attribute__((aligned(16)));

struct an_arena {
	struct an_blk head; /* circular list sentinel */
	size_t used, max, peak;
};

struct an_vm {
	lua_State *L;
	lua_State *co; /* where script code runs */
	const struct flow_record **slot;
	int co_ref, host_ref, env_ref;
	int flow_ref, eve_ref, tick_ref, setup_ref, teardown_ref;
	struct an_arena mem;
};

struct analyzer {
	struct analyzer_conf conf; /* path and lua_dir point at our copies */
	char *path, *lua_dir;
	char *src; /* script text, kept for rebuilds */
	size_t src_len;
	struct an_vm *vm; /* NULL: disabled (a rebuild failed) */
	unsigned wants;
	uint32_t tick_ms;
	unsigned n_eve;
	char eve[AN_EVE_TYPES][AN_EVE_TYPE_LEN];
	struct watchdog_slot wd;
	struct analyzer_stats st;
	uint64_t prints;
	char *json; /* ANALYZER_JSON_MAX bytes for emit/annotate */
	char err[256];
};

/* The call in progress on this thread, for the signal handler. */
struct an_call {
	lua_State *L;
	uint64_t seq;
	struct watchdog_slot *wd;
	volatile sig_atomic_t timed_out;
	sigjmp_buf jb;
};

static __thread struct an_call *volatile tl_call;
static __thread volatile int tl_in_c; /* > 0: in our C code, no jumping out */

static inline void
an_enter_c(void)
{
	tl_in_c++;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

static inline void
an_leave_c(void)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	tl_in_c--;
}

/* ------------------------------------------------------------------ */
/* Allocator with a cap                                                */
/* ------------------------------------------------------------------ */

static void
an_blk_link(struct an_arena *m, struct an_blk *b)
{
	b->next = m->head.next;
	b->prev = &m->head;
	m->head.next->prev = b;
	m->head.next = b;
}

static void
an_blk_unlink(struct an_blk *b)
{
	b->prev->next = b->next;
	b->next->prev = b->prev;
}

static void *
an_alloc_locked(struct an_arena *m, void *ptr, size_t osize, size_t nsize)
{
	struct an_blk *b = ptr ? (struct an_blk *)ptr - 1 : NULL, *nb;

	if (!ptr)
		osize = 0;
	if (nsize == 0) {
		if (b) {
			an_blk_unlink(b);
			free(b);
			m->used -= osize;
		}
		return NULL;
	}
	if (nsize > osize && m->used - osize + nsize > m->max)
		return NULL;
	if (b)
		an_blk_unlink(b);
	nb = realloc(b, sizeof(*nb) + nsize);
	if (!nb) {
		if (!b)
			return NULL;
		an_blk_link(m, b); /* a failed shrink keeps the bigger block */
		return nsize <= osize ? ptr : NULL;
	}
	an_blk_link(m, nb);
	m->used = m->used - osize + nsize;
	if (m->used > m->peak)
		m->peak = m->used;
	return nb + 1;
}

static void *
an_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	void *r;

	an_enter_c();
	r = an_alloc_locked(ud, ptr, osize, nsize);
	an_leave_c();
	return r;
}

static void
an_arena_init(struct an_arena *m, size_t max)
{
	m->head.prev = m->head.next = &m->head;
	m->used = m->peak = 0;
	m->max = max;
}

/* Free every block: the state is gone without lua_close. */
static void
an_arena_drop(struct an_arena *m)
{
	struct an_blk *b = m->head.next, *n;

	while (b != &m->head) {
		n = b->next;
		free(b);
		b = n;
	}
	an_arena_init(m, m->max);
}

/* ------------------------------------------------------------------ */
/* CPU limit: signal handler and hook                                  */
/* ------------------------------------------------------------------ */

static void
an_hook(lua_State *L, lua_Debug *ar)
{
	(void)ar;
	luaL_error(L, AN_TIMEOUT_MSG);
}

static void
an_on_signal(int sig, siginfo_t *si, void *uc)
{
	struct an_call *c = tl_call;
	int saved = errno;

	(void)sig, (void)si, (void)uc;
	if (c && __atomic_load_n(&c->wd->fire_seq, __ATOMIC_ACQUIRE) == c->seq) {
		if (__atomic_load_n(&c->wd->phase, __ATOMIC_RELAXED) >= 2 && tl_in_c == 0)
			siglongjmp(c->jb, 1);
		c->timed_out = 1;
		lua_sethook(c->L, an_hook, LUA_MASKCOUNT, 1);
	}
	errno = saved;
}

static pthread_once_t an_sig_once = PTHREAD_ONCE_INIT;
static int an_sig_rc;

static void
an_sig_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = an_on_signal;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	an_sig_rc = sigaction(WATCHDOG_SIGNAL, &sa, NULL) == 0 ? 0 : -errno;
}

/* ------------------------------------------------------------------ */
/* JSON encoding of Lua values (emit, annotate)                        */
/* ------------------------------------------------------------------ */

struct an_out {
	char *p;
	size_t n, cap;
	int err;
};

static void
an_put(struct an_out *o, const char *s, size_t n)
{
	if (o->err)
		return;
	if (o->cap - o->n < n) {
		o->err = -E2BIG;
		return;
	}
	memcpy(o->p + o->n, s, n);
	o->n += n;
}

static void
an_put_str(struct an_out *o, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char esc[6] = {'\\', 'u', '0', '0', 0, 0};

	an_put(o, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '"' || ch == '\\') {
			an_put(o, "\\", 1);
			an_put(o, s + i, 1);
		} else if (ch < 0x20 || ch == 0x7f) {
			esc[4] = hex[ch >> 4];
			esc[5] = hex[ch & 15];
			an_put(o, esc, 6);
		} else {
			an_put(o, s + i, 1);
		}
	}
	an_put(o, "\"", 1);
}

static void
an_put_num(struct an_out *o, double d)
{
	char buf[32];
	int n;

	if (!isfinite(d))
		n = snprintf(buf, sizeof(buf), "null");
	else if (d == floor(d) && fabs(d) < 9007199254740992.0)
		n = snprintf(buf, sizeof(buf), "%lld", (long long)d);
	else
		n = snprintf(buf, sizeof(buf), "%.17g", d);
	an_put(o, buf, (size_t)n);
}

static void an_put_value(struct an_out *o, lua_State *L, int idx, int depth);

/* 1..n with nothing else: a JSON array. */
static size_t
an_array_len(lua_State *L, int idx)
{
	size_t n = lua_objlen(L, idx), count = 0;

	if (n == 0)
		return 0;
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		lua_pop(L, 1);
		if (++count > n) {
			lua_pop(L, 1);
			return 0;
		}
	}
	return count == n ? n : 0;
}

static void
an_put_table(struct an_out *o, lua_State *L, int idx, int depth)
{
	size_t n = an_array_len(L, idx);
	int first = 1;

	if (n) {
		an_put(o, "[", 1);
		for (size_t i = 1; i <= n; i++) {
			if (i > 1)
				an_put(o, ",", 1);
			lua_rawgeti(L, idx, (int)i);
			an_put_value(o, L, lua_gettop(L), depth + 1);
			lua_pop(L, 1);
		}
		an_put(o, "]", 1);
		return;
	}
	an_put(o, "{", 1);
	lua_pushnil(L);
	while (!o->err && lua_next(L, idx)) {
		char kb[32];
		size_t kl;
		const char *k;
		if (lua_type(L, -2) == LUA_TSTRING) {
			k = lua_tolstring(L, -2, &kl);
		} else if (lua_type(L, -2) == LUA_TNUMBER) {
			kl = (size_t)snprintf(kb, sizeof(kb), "%.17g", lua_tonumber(L, -2));
			k = kb;
		} else {
			o->err = -EINVAL;
			lua_pop(L, 2);
			return;
		}
		if (!first)
			an_put(o, ",", 1);
		first = 0;
		an_put_str(o, k, kl);
		an_put(o, ":", 1);
		an_put_value(o, L, lua_gettop(L), depth + 1);
		lua_pop(L, 1);
	}
	if (o->err)
		lua_pop(L, 1); /* stopped inside lua_next: the key is left */
	an_put(o, "}", 1);
}

static void
an_put_value(struct an_out *o, lua_State *L, int idx, int depth)
{
	size_t n;
	const char *s;

	if (o->err)
		return;
	switch (lua_type(L, idx)) {
	case LUA_TNIL:
		an_put(o, "null", 4);
		break;
	case LUA_TBOOLEAN:
		if (lua_toboolean(L, idx))
			an_put(o, "true", 4);
		else
			an_put(o, "false", 5);
		break;
	case LUA_TNUMBER:
		an_put_num(o, lua_tonumber(L, idx));
		break;
	case LUA_TSTRING:
		s = lua_tolstring(L, idx, &n);
		an_put_str(o, s, n);
		break;
	case LUA_TTABLE:
		if (depth >= AN_JSON_DEPTH) {
			o->err = -ELOOP;
			return;
		}
		an_put_table(o, L, idx, depth);
		break;
	default:
		o->err = -EINVAL;
	}
}

/*
 * Encode the value at idx into a->json. No allocation and no Lua error
 * inside (the caller holds tl_in_c); the stack was checked before.
 */
static int
an_encode(struct analyzer *a, lua_State *L, int idx, size_t *len)
{
	struct an_out o = {a->json, 0, ANALYZER_JSON_MAX - 1, 0};

	an_put_value(&o, L, idx, 0);
	if (o.err)
		return o.err;
	a->json[o.n] = '\0';
	*len = o.n;
	return 0;
}

static const char *
an_encode_err(int rc)
{
	switch (rc) {
	case -E2BIG:
		return "darter: value too large to encode";
	case -ELOOP:
		return "darter: tables nested too deep (or a cycle)";
	case -EINVAL:
		return "darter: cannot encode a function, userdata or cdata, or a non-string key";
	case -ENOSYS:
		return "darter: no sink callback configured";
	default:
		return "darter: the sink refused the value";
	}
}

/* ------------------------------------------------------------------ */
/* The darter.* API for scripts                                        */
/* ------------------------------------------------------------------ */

static struct analyzer *
an_self(lua_State *L)
{
	return lua_touserdata(L, lua_upvalueindex(1));
}

/* Return true, or false and the reason. */
static int
an_result(lua_State *L, int rc)
{
	if (rc == 0) {
		lua_pushboolean(L, 1);
		return 1;
	}
	lua_pushboolean(L, 0);
	lua_pushstring(L, an_encode_err(rc));
	return 2;
}

/* darter.emit(sink, tbl) -> true | false, reason */
static int
an_api_emit(lua_State *L)
{
	struct analyzer *a = an_self(L);
	const char *sink = luaL_checkstring(L, 1);
	size_t len;
	int rc;

	luaL_checktype(L, 2, LUA_TTABLE);
	lua_settop(L, 2);
	if (!lua_checkstack(L, 2 * AN_JSON_DEPTH + 8))
		return luaL_error(L, "darter.emit: out of stack");
	an_enter_c();
	rc = an_encode(a, L, 2, &len);
	if (rc == 0)
		rc = a->conf.emit ? a->conf.emit(a->conf.user, sink, a->json, len) : -ENOSYS;
	if (rc == 0)
		a->st.emits++;
	else
		a->st.emit_errors++;
	an_leave_c();
	return an_result(L, rc);
}

/* darter.annotate(key, value) -> true | false, reason */
static int
an_api_annotate(lua_State *L)
{
	struct analyzer *a = an_self(L);
	const char *key = luaL_checkstring(L, 1);
	size_t len;
	int rc;

	luaL_checkany(L, 2);
	lua_settop(L, 2);
	if (!lua_checkstack(L, 2 * AN_JSON_DEPTH + 8))
		return luaL_error(L, "darter.annotate: out of stack");
	an_enter_c();
	rc = an_encode(a, L, 2, &len);
	if (rc == 0)
		rc = a->conf.annotate ? a->conf.annotate(a->conf.user, key, a->json, len) : -ENOSYS;
	if (rc == 0)
		a->st.annotations++;
	else
		a->st.emit_errors++;
	an_leave_c();
	return an_result(L, rc);
}

/* darter.log(...) and print(...): one line at info level, sampled. */
static int
an_api_log(lua_State *L)
{
	struct analyzer *a = an_self(L);
	char line[512];
	size_t n = 0;
	int top = lua_gettop(L);

	a->prints++;
	if (a->prints > AN_LOG_FREE && a->prints % 1000 != 0)
		return 0;
	for (int i = 1; i <= top && n < sizeof(line) - 1; i++) {
		size_t l;
		const char *s = "";
		int t = lua_type(L, i);
		if (t == LUA_TSTRING)
			s = lua_tolstring(L, i, &l);
		else if (t == LUA_TNUMBER || t == LUA_TBOOLEAN || t == LUA_TNIL)
			s = t == LUA_TNUMBER	  ? NULL
			    : t == LUA_TNIL	  ? "nil"
			    : lua_toboolean(L, i) ? "true"
						  : "false";
		else
			s = lua_typename(L, t);
		if (s == NULL)
			l = (size_t)snprintf(line + n, sizeof(line) - n, "%.14g",
					     lua_tonumber(L, i));
		else
			l = (size_t)snprintf(line + n, sizeof(line) - n, "%s", s);
		n += l;
		if (i < top && n < sizeof(line) - 1)
			line[n++] = '\t';
		line[n < sizeof(line) ? n : sizeof(line) - 1] = '\0';
	}
	line[n < sizeof(line) ? n : sizeof(line) - 1] = '\0';
	an_enter_c();
	LOG_INFO(AN_TAG, "%s: %s", a->path, line);
	an_leave_c();
	return 0;
}

/* ---- darter.mad ---- */

static double
an_opt_num(lua_State *L, const char *k, double def)
{
	double v;

	lua_getfield(L, 1, k);
	v = lua_isnil(L, -1) ? def : luaL_checknumber(L, -1);
	lua_pop(L, 1);
	return v;
}

static const char *
an_opt_str(lua_State *L, const char *k, const char *def)
{
	const char *v;

	lua_getfield(L, 1, k);
	v = lua_isnil(L, -1) ? def : luaL_checkstring(L, -1);
	lua_pop(L, 1);
	return v;
}

/* darter.mad.new{ preset=, transform=, step=, eta=, eta_min=, burn_in=, threshold=, two_sided= } */
static int
an_api_mad_new(lua_State *L)
{
	struct mad_opts o;
	const char *s;
	struct mad *e;

	if (lua_isnoneornil(L, 1))
		lua_newtable(L);
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	s = an_opt_str(L, "preset", "default");
	if (strcmp(s, "compat") == 0 || strcmp(s, "dragonfly") == 0)
		o = mad_opts_compat();
	else if (strcmp(s, "default") == 0)
		o = mad_opts_default();
	else
		return luaL_error(L, "darter.mad.new: unknown preset '%s'", s);
	s = an_opt_str(L, "transform", o.transform == MAD_TRANSFORM_LOG1P ? "log1p" : "none");
	if (strcmp(s, "log1p") != 0 && strcmp(s, "none") != 0)
		return luaL_error(L, "darter.mad.new: transform is 'log1p' or 'none'");
	o.transform = s[0] == 'l' ? MAD_TRANSFORM_LOG1P : MAD_TRANSFORM_NONE;
	s = an_opt_str(L, "step", o.step == MAD_STEP_RELATIVE ? "relative" : "absolute");
	if (strcmp(s, "relative") != 0 && strcmp(s, "absolute") != 0)
		return luaL_error(L, "darter.mad.new: step is 'relative' or 'absolute'");
	o.step = s[0] == 'r' ? MAD_STEP_RELATIVE : MAD_STEP_ABSOLUTE;
	o.eta = an_opt_num(L, "eta", o.eta);
	o.eta_min = an_opt_num(L, "eta_min", o.eta_min);
	double burn = an_opt_num(L, "burn_in", (double)o.burn_in);
	if (!(burn >= 0 && burn < 1e18))
		return luaL_error(L, "darter.mad.new: burn_in out of range");
	o.burn_in = (uint64_t)burn;
	o.threshold = an_opt_num(L, "threshold", o.threshold);
	lua_getfield(L, 1, "two_sided");
	if (!lua_isnil(L, -1))
		o.two_sided = lua_toboolean(L, -1);
	lua_pop(L, 1);
	e = lua_newuserdata(L, sizeof(*e));
	if (mad_init(e, &o) != 0)
		return luaL_error(L, "darter.mad.new: option out of range");
	luaL_getmetatable(L, AN_MAD_MT);
	lua_setmetatable(L, -2);
	return 1;
}

/* est:update(x) -> score, outlier, zscore, median, mad, n | nil, reason */
static int
an_mad_update(lua_State *L)
{
	struct mad *e = luaL_checkudata(L, 1, AN_MAD_MT);
	double x = luaL_checknumber(L, 2);
	struct mad_result r;

	if (mad_update(e, x, &r) != 0) {
		lua_pushnil(L);
		lua_pushstring(L, "darter.mad: value not finite after the transform");
		return 2;
	}
	lua_pushnumber(L, r.score);
	lua_pushboolean(L, r.outlier);
	lua_pushnumber(L, r.zscore);
	lua_pushnumber(L, r.median);
	lua_pushnumber(L, r.mad);
	lua_pushnumber(L, (double)r.n);
	return 6;
}

/* est:median(): in x's units; est:mad(): transformed units; est:count() */
static int
an_mad_median(lua_State *L)
{
	struct mad *e = luaL_checkudata(L, 1, AN_MAD_MT);

	lua_pushnumber(L, mad_untransform(e, mad_median(e)));
	return 1;
}

static int
an_mad_scale(lua_State *L)
{
	lua_pushnumber(L, mad_scale(luaL_checkudata(L, 1, AN_MAD_MT)));
	return 1;
}

static int
an_mad_count(lua_State *L)
{
	lua_pushnumber(L, (double)mad_count(luaL_checkudata(L, 1, AN_MAD_MT)));
	return 1;
}

static void
an_mad_register(lua_State *L)
{
	static const luaL_Reg methods[] = {
		{"update", an_mad_update},
		{"median", an_mad_median},
		{"mad", an_mad_scale},
		{"count", an_mad_count},
		{NULL, NULL},
	};

	luaL_newmetatable(L, AN_MAD_MT);
	lua_newtable(L);
	luaL_register(L, NULL, methods);
	lua_setfield(L, -2, "__index");
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	lua_pop(L, 1);
}

/* The darter table handed to H.sandbox. */
static void
an_push_api(lua_State *L, struct analyzer *a)
{
	static const luaL_Reg fns[] = {
		{"emit", an_api_emit},
		{"annotate", an_api_annotate},
		{"log", an_api_log},
		{NULL, NULL},
	};

	lua_newtable(L);
	for (const luaL_Reg *f = fns; f->name; f++) {
		lua_pushlightuserdata(L, a);
		lua_pushcclosure(L, f->func, 1);
		lua_setfield(L, -2, f->name);
	}
	lua_newtable(L);
	lua_pushcfunction(L, an_api_mad_new);
	lua_setfield(L, -2, "new");
	lua_setfield(L, -2, "mad");
	lua_pushstring(L, DARTER_VERSION);
	lua_setfield(L, -2, "version");
}

/* ------------------------------------------------------------------ */
/* FFI layout check                                                    */
/* ------------------------------------------------------------------ */

#define AN_FIELD(f)                                                                                \
	{                                                                                          \
#f, offsetof(struct flow_record, f), sizeof(((struct flow_record *)0)->f)          \
	}
#define AN_APP(f)                                                                                  \
	{                                                                                          \
		"app." #f, offsetof(struct flow_record, app) + offsetof(struct appid_result, f),   \
			sizeof(((struct appid_result *)0)->f)                                      \
	}

static const struct an_field {
	const char *name;
	size_t off, size;
} an_fields[] = {
	AN_FIELD(flow_id),
	AN_FIELD(start_us),
	AN_FIELD(end_us),
	AN_FIELD(pkts_toserver),
	AN_FIELD(pkts_toclient),
	AN_FIELD(bytes_toserver),
	AN_FIELD(bytes_toclient),
	AN_FIELD(src_ip),
	AN_FIELD(dst_ip),
	AN_FIELD(src_port),
	AN_FIELD(dst_port),
	AN_FIELD(vlan),
	AN_FIELD(lcore),
	AN_FIELD(ip_version),
	AN_FIELD(proto),
	AN_FIELD(state),
	AN_FIELD(reason),
	AN_FIELD(tcp_flags_ts),
	AN_FIELD(tcp_flags_tc),
	AN_FIELD(tcp_state),
	AN_FIELD(icmp_type),
	AN_FIELD(icmp_code),
	AN_FIELD(resp_icmp_type),
	AN_FIELD(resp_icmp_code),
	AN_FIELD(flags),
	AN_FIELD(tunnel),
	AN_FIELD(app),
	AN_APP(proto_id),
	AN_APP(master_id),
	AN_APP(how),
	AN_APP(name),
	AN_APP(app),
	AN_APP(category),
};

/*
 * flow module at the top of L: compare flow.layout() and flow.size with
 * the C layout. Raises a Lua error on mismatch (call protected).
 */
static void
an_layout_compare(lua_State *L)
{
	int flow = lua_gettop(L);
	size_t nf = sizeof(an_fields) / sizeof(an_fields[0]);

	lua_getfield(L, flow, "layout");
	lua_call(L, 0, 1);
	for (size_t i = 0; i < nf; i++) {
		const struct an_field *f = &an_fields[i];
		lua_getfield(L, -1, f->name);
		if (!lua_istable(L, -1))
			luaL_error(L, "flow.lua: field %s is not declared", f->name);
		lua_rawgeti(L, -1, 1);
		lua_rawgeti(L, -2, 2);
		if ((size_t)lua_tonumber(L, -2) != f->off || (size_t)lua_tonumber(L, -1) != f->size)
			luaL_error(L, "flow.lua: field %s at %d size %d, C has %d size %d", f->name,
				   (int)lua_tonumber(L, -2), (int)lua_tonumber(L, -1), (int)f->off,
				   (int)f->size);
		lua_pop(L, 3);
	}
	/* and nothing more than C has */
	lua_pushnil(L);
	size_t n = 0;
	while (lua_next(L, -2)) {
		n++;
		lua_pop(L, 1);
	}
	if (n != nf)
		luaL_error(L, "flow.lua: declares %d fields, C has %d", (int)n, (int)nf);
	lua_getfield(L, flow, "size");
	if ((size_t)lua_tonumber(L, -1) != sizeof(struct flow_record))
		luaL_error(L, "flow.lua: sizeof is %d, C has %d", (int)lua_tonumber(L, -1),
			   (int)sizeof(struct flow_record));
	lua_settop(L, flow);
}

struct an_layout_ctx {
	const char *lua_dir;
};

static int
an_layout_cb(lua_State *L)
{
	struct an_layout_ctx *x = lua_touserdata(L, 1);
	char path[4096];

	snprintf(path, sizeof(path), "%s/darter/flow.lua", x->lua_dir);
	lua_pushcfunction(L, luaopen_ffi);
	lua_call(L, 0, 1);
	if (luaL_loadfile(L, path) != 0)
		lua_error(L);
	lua_insert(L, -2);
	lua_call(L, 1, 1);
	an_layout_compare(L);
	return 0;
}

int
analyzer_layout_check(const char *lua_dir, char *err, size_t errlen)
{
	struct an_layout_ctx x = {lua_dir ? lua_dir : DARTER_LUA_DIR};
	lua_State *L = luaL_newstate();
	int rc = 0;

	if (!L)
		return -ENOMEM;
	luaL_openlibs(L);
	if (lua_cpcall(L, an_layout_cb, &x) != 0) {
		if (err)
			snprintf(err, errlen, "%s", lua_tostring(L, -1));
		rc = -EPROTO;
	}
	lua_close(L);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Building a state                                                    */
/* ------------------------------------------------------------------ */

static int
an_ref_field(lua_State *L, int t, const char *k)
{
	lua_getfield(L, t, k);
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		return LUA_NOREF;
	}
	return luaL_ref(L, LUA_REGISTRYINDEX);
}

static void
an_open(lua_State *L, lua_CFunction f, const char *name)
{
	lua_pushcfunction(L, f);
	lua_pushstring(L, name);
	lua_call(L, 1, 0);
}

/* Protected: libraries, host.lua, the sandbox, the script's chunk. */
static int
an_build_cb(lua_State *L)
{
	struct analyzer *a = lua_touserdata(L, 1);
	struct an_vm *vm = a->vm;
	char path[4096];

	lua_settop(L, 0);
	an_open(L, luaopen_base, "");
	an_open(L, luaopen_string, LUA_STRLIBNAME);
	an_open(L, luaopen_table, LUA_TABLIBNAME);
	an_open(L, luaopen_math, LUA_MATHLIBNAME);
	an_open(L, luaopen_bit, LUA_BITLIBNAME);
	an_open(L, luaopen_os, LUA_OSLIBNAME);
	an_open(L, luaopen_jit, LUA_JITLIBNAME); /* turns the JIT compiler on */
	if (a->conf.allow_io)
		an_open(L, luaopen_io, LUA_IOLIBNAME);
	an_mad_register(L);

	snprintf(path, sizeof(path), "%s/darter/host.lua", a->lua_dir);
	if (luaL_loadfile(L, path) != 0)
		lua_error(L);
	lua_pushcfunction(L, luaopen_ffi);
	lua_call(L, 0, 1);
	lua_pushstring(L, a->lua_dir);
	lua_newtable(L);
	lua_pushboolean(L, a->conf.allow_io);
	lua_setfield(L, -2, "allow_io");
	lua_call(L, 3, 1); /* H */
	lua_getfield(L, 1, "flow");
	an_layout_compare(L);
	lua_pop(L, 1);
	lua_getfield(L, 1, "slot");
	vm->slot = (const struct flow_record **)lua_topointer(L, -1);
	lua_pop(L, 1);
	lua_pushvalue(L, 1);
	vm->host_ref = luaL_ref(L, LUA_REGISTRYINDEX);

	lua_getfield(L, 1, "sandbox");
	an_push_api(L, a);
	lua_call(L, 1, 1); /* env */
	lua_pushvalue(L, -1);
	vm->env_ref = luaL_ref(L, LUA_REGISTRYINDEX);

	lua_pushfstring(L, "@%s", a->path); /* chunk name: errors cite the file */
	if (luaL_loadbufferx(L, a->src, a->src_len, lua_tostring(L, -1), "t") != 0)
		lua_error(L);
	lua_remove(L, -2);
	lua_pushvalue(L, -2);
	lua_setfenv(L, -2);
	vm->co = lua_newthread(L);
	vm->co_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_xmove(L, vm->co, 1); /* the chunk waits on the coroutine */
	return 0;
}

/* Protected: H.prepare(env) -> plan, into refs. */
static int
an_plan_cb(lua_State *L)
{
	struct analyzer *a = lua_touserdata(L, 1);
	struct an_vm *vm = a->vm;
	int plan;

	lua_rawgeti(L, LUA_REGISTRYINDEX, vm->host_ref);
	lua_getfield(L, -1, "prepare");
	lua_rawgeti(L, LUA_REGISTRYINDEX, vm->env_ref);
	lua_call(L, 1, 1);
	plan = lua_gettop(L);
	vm->flow_ref = an_ref_field(L, plan, "flow");
	vm->eve_ref = an_ref_field(L, plan, "on_eve");
	vm->tick_ref = an_ref_field(L, plan, "tick");
	vm->setup_ref = an_ref_field(L, plan, "setup");
	vm->teardown_ref = an_ref_field(L, plan, "teardown");
	lua_getfield(L, plan, "eve");
	a->n_eve = 0;
	for (int i = 1; a->n_eve < AN_EVE_TYPES; i++) {
		lua_rawgeti(L, -1, i);
		if (!lua_isstring(L, -1))
			break;
		snprintf(a->eve[a->n_eve++], AN_EVE_TYPE_LEN, "%s", lua_tostring(L, -1));
		lua_pop(L, 1);
	}
	lua_settop(L, plan);
	lua_getfield(L, plan, "tick_ms");
	a->tick_ms = (uint32_t)lua_tonumber(L, -1);
	a->wants = (vm->flow_ref != LUA_NOREF ? ANALYZER_WANT_FLOW : 0) |
		   (vm->eve_ref != LUA_NOREF ? ANALYZER_WANT_EVE : 0) |
		   (vm->tick_ref != LUA_NOREF ? ANALYZER_WANT_TICK : 0);
	return 0;
}

/* Protected: a fresh coroutine after one died in an error. */
static int
an_newco_cb(lua_State *L)
{
	struct an_vm *vm = lua_touserdata(L, 1);

	vm->co = lua_newthread(L);
	lua_rawseti(L, LUA_REGISTRYINDEX, vm->co_ref);
	return 0;
}

static void
an_vm_free(struct an_vm *vm, int abandoned)
{
	if (!vm)
		return;
	if (abandoned)
		an_arena_drop(&vm->mem);
	else if (vm->L)
		lua_close(vm->L);
	free(vm);
}

static void
an_set_err(struct analyzer *a, const char *what, lua_State *L)
{
	const char *m = L && lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1)
							    : "(error object is not a string)";

	snprintf(a->err, sizeof(a->err), "%s: %s", what, m);
}

/*
 * Resume vm->co with the function and nargs arguments on it, under the CPU
 * limit. Returns 0; -ETIME, -ENOMEM or -EINVAL with a->err set (the
 * coroutine is replaced); -ECANCELED when the state had to be abandoned
 * (vm is freed: the caller drops its pointer).
 */
static int
an_resume(struct analyzer *a, struct an_vm *vm, int nargs, const char *what)
{
	struct an_call c;
	lua_State *co = vm->co;
	int rc;

	c.L = vm->L;
	c.wd = &a->wd;
	c.timed_out = 0;
	if (sigsetjmp(c.jb, 0)) {
		sigset_t s;
		tl_call = NULL;
		watchdog_leave(&a->wd);
		sigemptyset(&s);
		sigaddset(&s, WATCHDOG_SIGNAL);
		pthread_sigmask(SIG_UNBLOCK, &s, NULL);
		*vm->slot = NULL;
		an_vm_free(vm, 1);
		snprintf(a->err, sizeof(a->err), "%s: %s (in compiled code: state rebuilt)", what,
			 AN_TIMEOUT_MSG);
		return -ECANCELED;
	}
	c.seq = watchdog_enter(&a->wd);
	tl_call = &c;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	rc = lua_resume(co, nargs);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	tl_call = NULL;
	watchdog_leave(&a->wd);
	*vm->slot = NULL;
	if (c.timed_out)
		lua_sethook(vm->L, NULL, 0, 0);
	if (rc == 0) {
		lua_settop(co, 0);
		return 0;
	}
	if (rc == LUA_YIELD) {
		lua_settop(co, 0);
		lua_pushstring(co, "darter: yield outside an async call");
	}
	an_set_err(a, what, co);
	lua_settop(co, 0);
	if (rc == LUA_ERRMEM) /* free the garbage first: the new coroutine needs room */
		lua_gc(vm->L, LUA_GCCOLLECT, 0);
	if (lua_cpcall(vm->L, an_newco_cb, vm) != 0) {
		vm->co = NULL; /* the caller resets the state */
		return -ENOMEM;
	}
	if (c.timed_out)
		return -ETIME;
	return rc == LUA_ERRMEM ? -ENOMEM : -EINVAL;
}

/* Build a's state from a->src: libraries, chunk, plan, setup(). */
static int
an_vm_build(struct analyzer *a)
{
	struct an_vm *vm = calloc(1, sizeof(*vm));
	int rc;

	if (!vm) {
		snprintf(a->err, sizeof(a->err), "out of memory");
		return -ENOMEM;
	}
	an_arena_init(&vm->mem, a->conf.mem_max);
	vm->L = lua_newstate(an_alloc, &vm->mem);
	if (!vm->L) {
		free(vm);
		snprintf(a->err, sizeof(a->err), "cannot create a Lua state");
		return -ENOMEM;
	}
	a->vm = vm;
	if (lua_cpcall(vm->L, an_build_cb, a) != 0) {
		an_set_err(a, "load", vm->L);
		rc = -EINVAL;
		goto fail;
	}
	rc = an_resume(a, vm, 0, "load");
	if (rc == 0 && lua_cpcall(vm->L, an_plan_cb, a) != 0) {
		an_set_err(a, "load", vm->L);
		rc = -EINVAL;
	}
	if (rc == 0 && vm->setup_ref != LUA_NOREF) {
		lua_rawgeti(vm->co, LUA_REGISTRYINDEX, vm->setup_ref);
		rc = an_resume(a, vm, 0, "setup");
	}
	if (rc == 0)
		return 0;
	if (rc == -ECANCELED) {
		a->vm = NULL;
		return -ETIME;
	}
fail:
	a->vm = NULL;
	an_vm_free(vm, 0);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Calls                                                               */
/* ------------------------------------------------------------------ */

static void
an_warn(struct analyzer *a)
{
	uint64_t n = a->st.errors;

	/* first error, then 10th, 100th...: never a line per event */
	while (n >= 10 && n % 10 == 0)
		n /= 10;
	if (n == 1)
		LOG_WARN(AN_TAG, "%s: %s (%llu errors)", a->path, a->err,
			 (unsigned long long)a->st.errors);
}

/* The state is gone or full: build it again from the script. */
static void
an_reset(struct analyzer *a, int abandoned)
{
	if (!abandoned) {
		an_vm_free(a->vm, 0);
		a->vm = NULL;
	}
	a->st.resets++;
	if (an_vm_build(a) != 0)
		LOG_ERR(AN_TAG, "%s: rebuild failed, analyzer disabled: %s", a->path, a->err);
}

/* The function and nargs arguments are on a->vm->co. */
static int
an_event(struct analyzer *a, int nargs, const char *what)
{
	struct an_vm *vm = a->vm;
	int rc;

	a->st.calls++;
	rc = an_resume(a, vm, nargs, what);
	if (__builtin_expect(rc == 0, 1)) {
		a->st.mem_used = vm->mem.used;
		return 0;
	}
	a->st.errors++;
	an_warn(a);
	if (rc == -ECANCELED) {
		a->st.timeouts++;
		a->st.killed++;
		a->vm = NULL;
		an_reset(a, 1);
		rc = -ETIME;
	} else if (rc == -ETIME) {
		a->st.timeouts++;
	} else if (rc == -ENOMEM) {
		a->st.mem_errors++;
		if (!vm->co || vm->mem.used > vm->mem.max / 4 * 3)
			an_reset(a, 0);
	}
	if (a->vm) {
		a->st.mem_used = a->vm->mem.used;
		if (a->vm->mem.peak > a->st.mem_peak)
			a->st.mem_peak = a->vm->mem.peak;
	}
	return rc;
}

int
analyzer_flow(struct analyzer *a, const struct flow_record *rec)
{
	struct an_vm *vm = a->vm;

	if (__builtin_expect(!vm || !(a->wants & ANALYZER_WANT_FLOW), 0)) {
		if (!vm)
			a->st.disabled++;
		return -ENOENT;
	}
	*vm->slot = rec;
	lua_rawgeti(vm->co, LUA_REGISTRYINDEX, vm->flow_ref);
	return an_event(a, 0, "on_flow");
}

bool
analyzer_wants_eve(const struct analyzer *a, const char *type)
{
	if (!(a->wants & ANALYZER_WANT_EVE))
		return false;
	for (unsigned i = 0; i < a->n_eve; i++)
		if (strcmp(a->eve[i], type) == 0)
			return true;
	return false;
}

int
analyzer_eve(struct analyzer *a, const char *type, const char *json, size_t len)
{
	struct an_vm *vm = a->vm;

	if (!vm || !(a->wants & ANALYZER_WANT_EVE)) {
		if (!vm)
			a->st.disabled++;
		return -ENOENT;
	}
	/* pointers, not strings: strings allocate, and only the call is protected */
	lua_rawgeti(vm->co, LUA_REGISTRYINDEX, vm->eve_ref);
	lua_pushlightuserdata(vm->co, (void *)type);
	lua_pushnumber(vm->co, (double)strlen(type));
	lua_pushlightuserdata(vm->co, (void *)json);
	lua_pushnumber(vm->co, (double)len);
	return an_event(a, 4, "on_eve");
}

int
analyzer_tick(struct analyzer *a, uint64_t now_us)
{
	struct an_vm *vm = a->vm;

	if (!vm || !(a->wants & ANALYZER_WANT_TICK)) {
		if (!vm)
			a->st.disabled++;
		return -ENOENT;
	}
	lua_rawgeti(vm->co, LUA_REGISTRYINDEX, vm->tick_ref);
	lua_pushnumber(vm->co, (double)now_us);
	return an_event(a, 1, "tick");
}

/* ------------------------------------------------------------------ */
/* Lifetime                                                            */
/* ------------------------------------------------------------------ */

static int
an_read_script(struct analyzer *a)
{
	FILE *f = fopen(a->path, "rb");
	size_t n;

	if (!f) {
		snprintf(a->err, sizeof(a->err), "%s: %s", a->path, strerror(errno));
		return -errno;
	}
	a->src = malloc(AN_SCRIPT_MAX + 1);
	n = a->src ? fread(a->src, 1, AN_SCRIPT_MAX + 1, f) : 0;
	fclose(f);
	if (!a->src)
		return -ENOMEM;
	if (n > AN_SCRIPT_MAX) {
		snprintf(a->err, sizeof(a->err), "%s: larger than %u bytes", a->path,
			 AN_SCRIPT_MAX);
		return -EFBIG;
	}
	a->src_len = n;
	return 0;
}

static int
an_conf_copy(struct analyzer *a, const struct analyzer_conf *conf)
{
	a->conf = *conf;
	if (!a->conf.mem_max)
		a->conf.mem_max = ANALYZER_MEM_DEFAULT;
	if (a->conf.mem_max < AN_MEM_MIN)
		a->conf.mem_max = AN_MEM_MIN;
	if (!a->conf.cpu_ms)
		a->conf.cpu_ms = ANALYZER_CPU_MS_DEFAULT;
	a->path = strdup(conf->path);
	a->lua_dir = strdup(conf->lua_dir ? conf->lua_dir : DARTER_LUA_DIR);
	a->json = malloc(ANALYZER_JSON_MAX);
	if (!a->path || !a->lua_dir || !a->json)
		return -ENOMEM;
	a->conf.path = a->path;
	a->conf.lua_dir = a->lua_dir;
	return 0;
}

static void
an_release(struct analyzer *a)
{
	watchdog_remove(&a->wd);
	free(a->src);
	free(a->json);
	free(a->path);
	free(a->lua_dir);
	free(a);
}

struct analyzer *
analyzer_new(const struct analyzer_conf *conf, char *err, size_t errlen)
{
	struct analyzer *a;
	int rc;

	if (!conf || !conf->path) {
		if (err)
			snprintf(err, errlen, "no script path");
		errno = EINVAL;
		return NULL;
	}
	pthread_once(&an_sig_once, an_sig_install);
	a = calloc(1, sizeof(*a));
	if (!a) {
		errno = ENOMEM;
		return NULL;
	}
	rc = an_sig_rc;
	if (rc == 0)
		rc = an_conf_copy(a, conf);
	if (rc == 0)
		rc = watchdog_add(&a->wd, a->conf.cpu_ms);
	if (rc == 0)
		rc = an_read_script(a);
	if (rc == 0)
		rc = an_vm_build(a);
	if (rc == 0)
		return a;
	if (err)
		snprintf(err, errlen, "%s", a->err[0] ? a->err : strerror(-rc));
	an_release(a);
	errno = rc == -ENOMEM || rc == -ETIME ? -rc : EINVAL;
	return NULL;
}

void
analyzer_free(struct analyzer *a)
{
	if (!a)
		return;
	a->err[0] = '\0';
	if (a->vm && a->vm->teardown_ref != LUA_NOREF) {
		lua_rawgeti(a->vm->co, LUA_REGISTRYINDEX, a->vm->teardown_ref);
		if (an_resume(a, a->vm, 0, "teardown") == -ECANCELED)
			a->vm = NULL;
		else if (a->err[0])
			LOG_WARN(AN_TAG, "%s", a->err);
	}
	an_vm_free(a->vm, 0);
	an_release(a);
}

struct analyzer *
analyzer_reload_prepare(const struct analyzer *cur, char *err, size_t errlen)
{
	return analyzer_new(&cur->conf, err, errlen);
}

struct analyzer *
analyzer_swap(struct analyzer **slot, struct analyzer *next)
{
	struct analyzer *old = *slot;
	struct analyzer_stats *n = &next->st;
	const struct analyzer_stats *o = &old->st;

	n->calls += o->calls;
	n->errors += o->errors;
	n->timeouts += o->timeouts;
	n->killed += o->killed;
	n->mem_errors += o->mem_errors;
	n->resets += o->resets;
	n->disabled += o->disabled;
	n->emits += o->emits;
	n->emit_errors += o->emit_errors;
	n->annotations += o->annotations;
	n->reloads = o->reloads + 1;
	*slot = next;
	return old;
}

unsigned
analyzer_wants(const struct analyzer *a)
{
	return a->wants;
}

uint32_t
analyzer_tick_ms(const struct analyzer *a)
{
	return a->tick_ms;
}

const struct analyzer_stats *
analyzer_stats(const struct analyzer *a)
{
	return &a->st;
}

const char *
analyzer_path(const struct analyzer *a)
{
	return a->path;
}

const char *
analyzer_last_error(const struct analyzer *a)
{
	return a->err;
}
