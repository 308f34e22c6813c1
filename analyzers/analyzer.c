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
 * later (phase 2) and the interrupted PC lies in code the VM owns (JIT
 * machine code or LuaJIT's own C: watchdog_pc_in_vm), the handler
 * siglongjmps out of the VM and the state is abandoned: its memory is freed block by block from the
 * allocator's list (lua_close would run on a state stopped mid-trace), and the analyzer is rebuilt
 * from its script text. The jump never leaves our own C code half done: the allocator and the
 * darter.* functions raise tl_in_c, any other C (libgcc's unwinder and __register_frame, whose
 * mutex a jump would leave locked; libc; LuaJIT's C) fails the PC test, and the handler then waits
 * for the next tick. What leaks per abandoned state is its JIT machine code (mmap'd by LuaJIT, at
 * most its maxmcode).
 *
 * C never makes an unprotected Lua call that may allocate: building runs in
 * lua_cpcall, events push only values that need no memory.
 *
 * Redis. Each analyzer owns one rconn (engine/rconn.h) on conf.loop, made
 * on the first command. darter.redis sends with a C function that returns
 * a sequence number and waits with another that yields the coroutine when
 * the reply is not there yet (lua_yield from C; LuaJIT yields across
 * pcall too). rconn completes commands in the order sent, so a FIFO of
 * (state generation, sequence) tags pairs each callback with its command,
 * and "reply n is in" is done_seq >= n. The callback converts the reply in
 * lua_cpcall into a table of the state (seq -> value) and resumes the
 * coroutine when the reply it waits for is in. Replies for a state that
 * was rebuilt meanwhile are dropped by generation. While a coroutine is
 * suspended, events wait in a bounded FIFO of copies (records by value,
 * EVE text in one malloc'd block) and run in order when it finishes: one
 * analyzer never sees its events out of order or two at a time. The
 * holder of the rconn outlives the analyzer until rconn_close() has
 * completed every pending command.
 *
 * Input scripts. darter.input() encodes or checks one event and appends
 * it to the analyzer's hold buffer (bounded by ANALYZER_INPUT_HOLD_MAX);
 * after each resume of the coroutine, ended or suspended, the held events
 * go to conf.input in order. Delivering inside the call would run the
 * consumer (eve_in_parse, MAD, other analyzers) under this script's CPU
 * limit and nest their Lua calls in this one's watchdog context.
 *
 * Not here: EVE decoding (on_eve gets the JSON text; what darter.input
 * makes is parsed by conf.input's owner), file watching.
 */
#include "analyzer.h"

#include <assert.h>
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
#include "model.h"
#include "rconn.h"
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
#define AN_REDIS_ARGS	64 /* arguments of one command */
#define AN_REPLY_DEPTH	8  /* nested arrays in a reply */
#define AN_MODEL_MT	"darter.model"
#define AN_MODELS_MAX	64	       /* models per state */
#define AN_HOLD_KEEP	(256u * 1024u) /* darter.input buffer kept between calls */

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

/* What the coroutine runs. */
enum an_kind {
	AN_EV_LOAD,
	AN_EV_SETUP,
	AN_EV_FLOW,
	AN_EV_EVE,
	AN_EV_TICK,
	AN_EV_TEARDOWN,
	AN_EV_INPUT,
};

struct an_vm {
	lua_State *L;
	lua_State *co; /* where script code runs */
	const struct flow_record **slot;
	int co_ref, host_ref, env_ref;
	int flow_ref, eve_ref, tick_ref, setup_ref, teardown_ref, input_ref;
	int replies_ref, errors_ref; /* seq -> reply value, seq -> error text */
	struct an_arena mem;
	uint64_t gen;	   /* tells replies for this state from older ones */
	enum an_kind kind; /* of the call in progress or suspended */
	bool suspended;	   /* the coroutine waits for reply wait_seq */
	bool in_sync;	   /* inside the caller's analyzer_* call: annotate allowed */
	uint64_t sent_seq, done_seq, wait_seq;
	struct flow_record cur;		     /* the suspended or queued event's record */
	struct model *models[AN_MODELS_MAX]; /* freed with the state, even abandoned */
};

/* One event, given by the caller or taken from the queue. */
struct an_ev {
	enum an_kind kind;
	const struct flow_record *rec;
	const char *type, *json;
	size_t tlen, jlen;
	uint64_t now_us;
};

struct an_qev {
	struct an_ev ev;
	struct flow_record rec;
	char *text; /* EVE: type, NUL, json, NUL; input: NUL, line, NUL */
};

/* darter.input's events of the call in progress: (size_t len, text, NUL) each. */
struct an_hold {
	char *p;
	size_t len, cap;
};

struct an_queue {
	struct an_qev *ev;
	uint32_t head, n, cap;
};

/* The Redis client of one analyzer; freed when its close has completed. */
struct an_tag {
	uint64_t gen, seq;
};

struct an_redis {
	struct rconn *c;
	struct analyzer *a; /* NULL once the analyzer is gone */
	uint32_t head, n;
	struct an_tag ring[ANALYZER_REDIS_WINDOW];
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
	char *json;	     /* ANALYZER_JSON_MAX bytes for emit/annotate/input */
	struct an_hold hold; /* empty outside a call */
	char err[256];
	char *redis_host, *df_output, *df_analyzer;
	struct an_redis *redis; /* made on the first command */
	struct an_queue q;
	uint64_t gen_next;
	int setup_rc;  /* 0, -EINPROGRESS, -EAGAIN (not run yet), or how setup failed */
	bool off_loop; /* built by analyzer_reload_prepare() away from conf.loop */
};

/* The call in progress on this thread, for the signal handler. */
struct an_call {
	lua_State *L;
	uint64_t seq;
	struct watchdog_slot *wd;
	volatile sig_atomic_t timed_out;
	volatile sig_atomic_t deferred; /* phase 2 signals outside JIT code */
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

/*
 * Phase 2 jumps out only from code the VM owns: JIT machine code or
 * LuaJIT's own C (a long string.find, say), which hold no lock of the
 * process. Anywhere else (libgcc's unwinder or frame registration, libc,
 * ours) a lock may be held that the jump would leave locked for good
 * (docs/faults.md, bug 2): there it only counts a deferral; the watchdog
 * signals again next tick, and the hook stops the call if it reaches the
 * interpreter first.
 */
static void
an_on_signal(int sig, siginfo_t *si, void *uc)
{
	struct an_call *c = tl_call;
	int saved = errno;

	(void)sig, (void)si;
	if (c && __atomic_load_n(&c->wd->fire_seq, __ATOMIC_ACQUIRE) == c->seq) {
		if (__atomic_load_n(&c->wd->phase, __ATOMIC_RELAXED) >= 2) {
			if (tl_in_c == 0 && watchdog_pc_in_vm(watchdog_pc_of(uc)))
				siglongjmp(c->jb, 1);
			c->deferred++;
		}
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
	if (watchdog_set_vm_code((uintptr_t)&lua_resume) != 0)
		LOG_WARN(AN_TAG, "LuaJIT's code not found: only JIT code can be stopped by force");
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
	if (!a->vm || !a->vm->in_sync) {
		a->st.late_annotations++;
		lua_pushboolean(L, 0);
		lua_pushstring(L,
			       "darter: the event has gone on (annotate before waiting on Redis)");
		return 2;
	}
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

/* ---- darter.input: events of an input script ---- */

static const char *
an_input_errstr(int rc)
{
	switch (rc) {
	case -ENOSYS:
		return "darter.input: no input (the host gave no input callback)";
	case -EPERM:
		return "darter.input: only in on_input or tick";
	case -EDOM:
		return "darter.input: takes a table (a JSON object) or a JSON text";
	case -EBADMSG:
		return "darter.input: a JSON text is one line (no newline or NUL)";
	case -ENODATA:
		return "darter.input: empty text";
	case -ENOBUFS:
		return "darter.input: too many events held in one call";
	case -ENOMEM:
		return "darter.input: out of memory";
	default:
		return an_encode_err(rc);
	}
}

/* The value at 1 as one line of JSON text: encoded into a->json, or the script's string. */
static int
an_input_text(struct analyzer *a, lua_State *L, const char **json, size_t *len)
{
	int rc;

	if (lua_type(L, 1) == LUA_TSTRING) {
		*json = lua_tolstring(L, 1, len);
		if (*len == 0)
			return -ENODATA;
		if (*len >= ANALYZER_JSON_MAX)
			return -E2BIG;
		if (memchr(*json, '\n', *len) || memchr(*json, '\0', *len))
			return -EBADMSG;
		return 0;
	}
	if (lua_type(L, 1) != LUA_TTABLE)
		return -EDOM;
	rc = an_encode(a, L, 1, len);
	if (rc == 0 && a->json[0] != '{')
		rc = -EDOM; /* a list: an event is an object */
	*json = a->json;
	return rc;
}

/* Append one event to the hold buffer. */
static int
an_hold_put(struct an_hold *h, const char *json, size_t len)
{
	size_t need = sizeof(len) + len + 1, cap = h->cap ? h->cap : 64u * 1024u;
	char *p;

	if (h->len + need > ANALYZER_INPUT_HOLD_MAX)
		return -ENOBUFS;
	while (cap - h->len < need)
		cap *= 2;
	if (cap != h->cap) {
		p = realloc(h->p, cap);
		if (!p)
			return -ENOMEM;
		h->p = p;
		h->cap = cap;
	}
	memcpy(h->p + h->len, &len, sizeof(len));
	memcpy(h->p + h->len + sizeof(len), json, len);
	h->p[h->len + sizeof(len) + len] = '\0';
	h->len += need;
	return 0;
}

/* darter.input(tbl | json_text) -> true | false, reason */
static int
an_api_input(lua_State *L)
{
	struct analyzer *a = an_self(L);
	const char *json = NULL;
	size_t len = 0;
	int rc;

	lua_settop(L, 1);
	if (!lua_checkstack(L, 2 * AN_JSON_DEPTH + 8))
		return luaL_error(L, "darter.input: out of stack");
	an_enter_c();
	if (!a->conf.input)
		rc = -ENOSYS;
	else if (!a->vm || (a->vm->kind != AN_EV_INPUT && a->vm->kind != AN_EV_TICK))
		rc = -EPERM;
	else
		rc = an_input_text(a, L, &json, &len);
	if (rc == 0)
		rc = an_hold_put(&a->hold, json, len);
	if (rc)
		a->st.input_errors++;
	an_leave_c();
	if (rc == 0) {
		lua_pushboolean(L, 1);
		return 1;
	}
	lua_pushboolean(L, 0);
	lua_pushstring(L, an_input_errstr(rc));
	return 2;
}

/*
 * The held events to conf.input, in order. The buffer is taken off the
 * analyzer first: a callback that (against the contract) makes this
 * analyzer run again starts a buffer of its own.
 */
static void
an_input_flush(struct analyzer *a)
{
	struct an_hold h = a->hold;
	size_t off = 0, len;

	if (h.len == 0)
		return;
	a->hold = (struct an_hold){0};
	while (off < h.len) {
		memcpy(&len, h.p + off, sizeof(len));
		if (a->conf.input(a->conf.user, h.p + off + sizeof(len), len) == 0)
			a->st.input_events++;
		else
			a->st.input_errors++;
		off += sizeof(len) + len + 1;
	}
	if (a->hold.p || h.cap > AN_HOLD_KEEP) { /* a big call's buffer is not kept */
		free(h.p);
		return;
	}
	h.len = 0;
	a->hold = h;
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

/* ---- darter.redis: send, wait, and the reply callback ---- */

static void an_continue(struct analyzer *a);
static void an_redis_cb(struct rconn *c, enum rconn_result res, const struct rconn_reply *reply,
			void *arg);

static void
an_redis_closed(void *arg)
{
	free(arg);
}

/* The analyzer's client, made on first use on conf.loop; NULL without a loop. */
static struct an_redis *
an_redis_get(struct analyzer *a)
{
	struct rconn_conf rc = {
		.host = a->redis_host,
		.port = a->conf.redis_port ? a->conf.redis_port : 6379,
		.timeout_ms = a->conf.redis_timeout_ms,
		.backoff_min_ms = 100,
		.backoff_max_ms = 5000,
		.max_pending = ANALYZER_REDIS_WINDOW,
	};
	struct an_redis *r;

	if (a->redis || !a->conf.loop)
		return a->redis;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->c = rconn_new(a->conf.loop, &rc);
	if (!r->c) {
		free(r);
		return NULL;
	}
	r->a = a;
	a->redis = r;
	return r;
}

/* The analyzer is going: its client closes, late replies find r->a NULL. */
static void
an_redis_release(struct analyzer *a)
{
	struct an_redis *r = a->redis;

	if (!r)
		return;
	a->redis = NULL;
	r->a = NULL;
	rconn_close(r->c, an_redis_closed, r);
}

static const char *
an_redis_errstr(int rc)
{
	switch (rc) {
	case -ENOTCONN:
		return "darter.redis: not connected";
	case -EAGAIN:
		return "darter.redis: too many commands in flight";
	case -ENOTSUP:
		return "darter.redis: command not supported (pub/sub, MONITOR)";
	case -ESHUTDOWN:
		return "darter.redis: closing";
	default:
		return "darter.redis: cannot send";
	}
}

/* send(cmd, args...) -> seq | nil, reason. Arguments: strings or numbers. */
static int
an_api_redis_send(lua_State *L)
{
	struct analyzer *a = an_self(L);
	struct an_vm *vm = a->vm;
	const char *argv[AN_REDIS_ARGS];
	size_t lens[AN_REDIS_ARGS];
	int argc = lua_gettop(L), rc;
	struct an_redis *r;

	if (argc < 1 || argc > AN_REDIS_ARGS)
		return luaL_error(L, "darter.redis: 1..%d arguments", AN_REDIS_ARGS);
	for (int i = 0; i < argc; i++) {
		int t = lua_type(L, i + 1);
		if (t != LUA_TSTRING && t != LUA_TNUMBER)
			return luaL_error(L, "darter.redis: argument %d is a %s, not a string",
					  i + 1, lua_typename(L, t));
		argv[i] = lua_tolstring(L, i + 1, &lens[i]);
	}
	if (a->off_loop) { /* the connection belongs to the loop's thread */
		lua_pushnil(L);
		lua_pushstring(L,
			       "darter.redis: not while the script loads (call it from setup())");
		return 2;
	}
	r = an_redis_get(a);
	if (!r) {
		lua_pushnil(L);
		lua_pushstring(L, a->conf.loop ? "darter.redis: out of memory"
					       : "darter.redis: no redis configured");
		return 2;
	}
	an_enter_c();
	rc = r->n < ANALYZER_REDIS_WINDOW ? rconn_command(r->c, an_redis_cb, r, argc, argv, lens)
					  : -EAGAIN;
	if (rc == 0) {
		r->ring[(r->head + r->n) % ANALYZER_REDIS_WINDOW] =
			(struct an_tag){vm->gen, ++vm->sent_seq};
		r->n++;
		a->st.redis_commands++;
	} else {
		a->st.redis_errors++;
	}
	an_leave_c();
	if (rc) {
		lua_pushnil(L);
		lua_pushstring(L, an_redis_errstr(rc));
		return 2;
	}
	lua_pushnumber(L, (double)vm->sent_seq);
	return 1;
}

/* wait(seq) -> true once reply seq is in; suspends the coroutine until then. */
static int
an_api_redis_wait(lua_State *L)
{
	struct analyzer *a = an_self(L);
	struct an_vm *vm = a->vm;
	double seq = luaL_checknumber(L, 1);

	if (seq <= (double)vm->done_seq) {
		lua_pushboolean(L, 1);
		return 1;
	}
	if (seq > (double)vm->sent_seq || seq < 1)
		return luaL_error(L, "darter.redis: no such command");
	if (L != vm->co)
		return luaL_error(L, "darter.redis: cannot wait inside a script's own coroutine");
	if (vm->kind == AN_EV_LOAD || vm->kind == AN_EV_TEARDOWN)
		return luaL_error(L, "darter.redis: cannot wait for a reply while loading or in "
				     "teardown");
	vm->wait_seq = (uint64_t)seq;
	vm->suspended = true;
	a->st.suspends++;
	return lua_yield(L, 0);
}

struct an_store {
	struct an_vm *vm;
	uint64_t seq;
	enum rconn_result res;
	const struct rconn_reply *reply;
};

/* Push reply r as Redis' own Lua scripting does: nil is false, status {ok=}, error {err=}. */
static void
an_push_reply(lua_State *L, const struct rconn_reply *r, int depth)
{
	struct rconn_reply e;

	luaL_checkstack(L, 4, "darter.redis: reply too deep");
	switch (r->type) {
	case RCONN_TYPE_STRING:
		lua_pushlstring(L, r->str, r->len);
		break;
	case RCONN_TYPE_INTEGER:
		lua_pushnumber(L, (double)r->integer);
		break;
	case RCONN_TYPE_NIL:
		lua_pushboolean(L, 0);
		break;
	case RCONN_TYPE_STATUS:
	case RCONN_TYPE_ERROR:
		lua_createtable(L, 0, 1);
		lua_pushlstring(L, r->str, r->len);
		lua_setfield(L, -2, r->type == RCONN_TYPE_STATUS ? "ok" : "err");
		break;
	case RCONN_TYPE_ARRAY:
		if (depth >= AN_REPLY_DEPTH)
			luaL_error(L, "darter.redis: reply nested too deep");
		lua_createtable(L, r->elements < 1u << 20 ? (int)r->elements : 0, 0);
		for (size_t i = 0; i < r->elements; i++) {
			if (rconn_reply_element(r, i, &e) != 0)
				break;
			an_push_reply(L, &e, depth + 1);
			lua_rawseti(L, -2, (int)i + 1);
		}
		break;
	}
}

/* Protected: the reply (or why there is none) into the state's tables. */
static int
an_store_cb(lua_State *L)
{
	struct an_store *s = lua_touserdata(L, 1);
	const struct rconn_reply *r = s->reply;

	if (r && r->type == RCONN_TYPE_ERROR) {
		lua_rawgeti(L, LUA_REGISTRYINDEX, s->vm->errors_ref);
		lua_pushlstring(L, r->str, r->len);
	} else if (r) {
		lua_rawgeti(L, LUA_REGISTRYINDEX, s->vm->replies_ref);
		an_push_reply(L, r, 0);
	} else {
		lua_rawgeti(L, LUA_REGISTRYINDEX, s->vm->errors_ref);
		lua_pushfstring(L, "darter.redis: %s", rconn_result_name(s->res));
	}
	lua_rawseti(L, -2, (int)s->seq);
	return 0;
}

static void
an_redis_cb(struct rconn *c, enum rconn_result res, const struct rconn_reply *reply, void *arg)
{
	struct an_redis *r = arg;
	struct an_tag t = r->ring[r->head];
	struct analyzer *a = r->a;
	struct an_vm *vm;
	struct an_store s;

	(void)c;
	assert(r->n > 0);
	r->head = (r->head + 1) % ANALYZER_REDIS_WINDOW;
	r->n--;
	if (!a)
		return;
	if (!reply)
		a->st.redis_errors++;
	vm = a->vm;
	if (!vm || vm->gen != t.gen)
		return; /* the state that asked is gone */
	s = (struct an_store){vm, t.seq, res, reply};
	if (lua_cpcall(vm->L, an_store_cb, &s) != 0)
		lua_pop(vm->L, 1); /* no memory: the script sees nil */
	vm->done_seq = t.seq;
	if (vm->suspended && vm->done_seq >= vm->wait_seq)
		an_continue(a);
}

/* ---- darter.model ---- */

struct an_model_ud {
	struct model *m;
	struct an_vm *vm;
	int slot;
};

static int
an_model_gc(lua_State *L)
{
	struct an_model_ud *u = luaL_checkudata(L, 1, AN_MODEL_MT);

	if (u->m) {
		u->vm->models[u->slot] = NULL;
		model_free(u->m);
		u->m = NULL;
	}
	return 0;
}

/* darter.model.load(path) -> model | nil, reason. A relative path is the script's directory's. */
static int
an_api_model_load(lua_State *L)
{
	struct analyzer *a = an_self(L);
	const char *p = luaL_checkstring(L, 1);
	const char *slash = strrchr(a->path, '/');
	char path[4096], err[256];
	struct an_model_ud *u;
	int slot = -1;

	for (int i = 0; i < AN_MODELS_MAX && slot < 0; i++)
		if (!a->vm->models[i])
			slot = i;
	if (slot < 0)
		return luaL_error(L, "darter.model: more than %d models", AN_MODELS_MAX);
	if (p[0] != '/' && slash)
		snprintf(path, sizeof(path), "%.*s/%s", (int)(slash - a->path), a->path, p);
	else
		snprintf(path, sizeof(path), "%s", p);
	u = lua_newuserdata(L, sizeof(*u));
	u->m = NULL;
	luaL_getmetatable(L, AN_MODEL_MT);
	lua_setmetatable(L, -2);
	an_enter_c();
	u->m = model_load(path, err, sizeof(err));
	an_leave_c();
	if (!u->m) {
		lua_pushnil(L);
		lua_pushfstring(L, "darter.model: %s", err);
		return 2;
	}
	u->vm = a->vm;
	u->slot = slot;
	a->vm->models[slot] = u->m;
	return 1;
}

/*
 * m:predict(features) -> number. features: a table by name (missing: 0),
 * or a list in the model's order.
 */
static int
an_model_predict(lua_State *L)
{
	struct an_model_ud *u = luaL_checkudata(L, 1, AN_MODEL_MT);
	double x[MODEL_FEATURES_MAX];
	size_t n;
	bool list;

	luaL_checktype(L, 2, LUA_TTABLE);
	if (!u->m)
		return luaL_error(L, "darter.model: freed");
	n = model_features(u->m);
	lua_rawgeti(L, 2, 1);
	list = lua_type(L, -1) == LUA_TNUMBER;
	lua_pop(L, 1);
	for (size_t i = 0; i < n; i++) {
		if (list)
			lua_rawgeti(L, 2, (int)i + 1);
		else
			lua_getfield(L, 2, model_feature_name(u->m, i));
		x[i] = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : 0.0;
		lua_pop(L, 1);
	}
	lua_pushnumber(L, model_predict(u->m, x));
	return 1;
}

/* m:features() -> list of names; m:kind() */
static int
an_model_features(lua_State *L)
{
	struct an_model_ud *u = luaL_checkudata(L, 1, AN_MODEL_MT);
	size_t n = u->m ? model_features(u->m) : 0;

	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		lua_pushstring(L, model_feature_name(u->m, i));
		lua_rawseti(L, -2, (int)i + 1);
	}
	return 1;
}

static int
an_model_kind(lua_State *L)
{
	struct an_model_ud *u = luaL_checkudata(L, 1, AN_MODEL_MT);

	lua_pushstring(L, u->m ? model_kind(u->m) : "freed");
	return 1;
}

static void
an_model_register(lua_State *L)
{
	static const luaL_Reg methods[] = {
		{"predict", an_model_predict},
		{"features", an_model_features},
		{"kind", an_model_kind},
		{NULL, NULL},
	};

	luaL_newmetatable(L, AN_MODEL_MT);
	lua_newtable(L);
	luaL_register(L, NULL, methods);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, an_model_gc);
	lua_setfield(L, -2, "__gc");
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
		{"input", an_api_input},
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
	lua_newtable(L);
	lua_pushlightuserdata(L, a);
	lua_pushcclosure(L, an_api_model_load, 1);
	lua_setfield(L, -2, "load");
	lua_setfield(L, -2, "model");
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
	an_open(L, luaopen_jit, LUA_JITLIBNAME);   /* turns the JIT compiler on */
	if (a->conf.allow_io || a->conf.dragonfly) /* dragonfly: require reads beside the script */
		an_open(L, luaopen_io, LUA_IOLIBNAME);
	an_mad_register(L);
	an_model_register(L);

	snprintf(path, sizeof(path), "%s/darter/host.lua", a->lua_dir);
	if (luaL_loadfile(L, path) != 0)
		lua_error(L);
	lua_pushcfunction(L, luaopen_ffi);
	lua_call(L, 0, 1);
	lua_pushstring(L, a->lua_dir);
	lua_newtable(L);
	lua_pushboolean(L, a->conf.allow_io);
	lua_setfield(L, -2, "allow_io");
	lua_pushboolean(L, a->conf.dragonfly);
	lua_setfield(L, -2, "dragonfly");
	lua_pushstring(L, a->path);
	lua_setfield(L, -2, "script_path");
	lua_pushstring(L, a->conf.default_output);
	lua_setfield(L, -2, "default_output");
	lua_pushstring(L, a->conf.default_analyzer);
	lua_setfield(L, -2, "default_analyzer");
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
	lua_getfield(L, 1, "redis_api");
	lua_pushlightuserdata(L, a);
	lua_pushcclosure(L, an_api_redis_send, 1);
	lua_pushlightuserdata(L, a);
	lua_pushcclosure(L, an_api_redis_wait, 1);
	lua_newtable(L);
	lua_pushvalue(L, -1);
	vm->replies_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_newtable(L);
	lua_pushvalue(L, -1);
	vm->errors_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_call(L, 4, 1);
	lua_setfield(L, -2, "redis");
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
	vm->input_ref = an_ref_field(L, plan, "on_input");
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
		   (vm->tick_ref != LUA_NOREF ? ANALYZER_WANT_TICK : 0) |
		   (vm->input_ref != LUA_NOREF ? ANALYZER_WANT_INPUT : 0);
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
		lua_close(vm->L); /* __gc frees the models it still holds */
	for (int i = 0; i < AN_MODELS_MAX; i++)
		model_free(vm->models[i]);
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
	c.deferred = 0;
	if (sigsetjmp(c.jb, 0)) {
		sigset_t s;
		tl_call = NULL;
		a->st.kill_deferred += (uint64_t)c.deferred;
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
	a->st.kill_deferred += (uint64_t)c.deferred;
	if (c.timed_out)
		lua_sethook(vm->L, NULL, 0, 0);
	if (rc == 0) {
		lua_settop(co, 0);
		return 0;
	}
	if (rc == LUA_YIELD && vm->suspended)
		return -EINPROGRESS; /* darter.redis waits: the reply callback resumes */
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
	vm->gen = ++a->gen_next;
	vm->kind = AN_EV_LOAD;
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
	if (rc == 0 && a->off_loop) { /* analyzer_reload_setup() runs it on the loop */
		a->setup_rc = -EAGAIN;
		return 0;
	}
	if (rc == 0 && vm->setup_ref != LUA_NOREF) {
		vm->kind = AN_EV_SETUP;
		lua_rawgeti(vm->co, LUA_REGISTRYINDEX, vm->setup_ref);
		rc = an_resume(a, vm, 0, "setup");
	}
	a->setup_rc = rc == -EINPROGRESS ? rc : 0;
	if (rc == 0 || rc == -EINPROGRESS)
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

/* Count what an_resume returned for vm; rebuild the state if it must. */
static int
an_account(struct analyzer *a, struct an_vm *vm, int rc)
{
	if (__builtin_expect(rc == 0, 1)) {
		a->st.mem_used = vm->mem.used;
		return 0;
	}
	if (rc == -EINPROGRESS)
		return rc;
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

/* The function and nargs arguments are on a->vm->co. */
static int
an_event(struct analyzer *a, int nargs, const char *what)
{
	struct an_vm *vm = a->vm;

	a->st.calls++;
	return an_account(a, vm, an_resume(a, vm, nargs, what));
}

static const char *
an_kind_name(enum an_kind k)
{
	static const char *const n[] = {"load", "setup",    "on_flow", "on_eve",
					"tick", "teardown", "on_input"};

	return n[k];
}

/* Run one event now (the state is not suspended). sync: inside the caller's call. */
static int
an_dispatch(struct analyzer *a, const struct an_ev *ev, bool sync)
{
	struct an_vm *vm = a->vm;
	int nargs = 0, rc;

	vm->kind = ev->kind;
	vm->in_sync = sync;
	if (ev->kind == AN_EV_FLOW) {
		*vm->slot = ev->rec;
		lua_rawgeti(vm->co, LUA_REGISTRYINDEX, vm->flow_ref);
	} else if (ev->kind == AN_EV_EVE) {
		/* pointers, not strings: strings allocate, and only the call is protected */
		lua_rawgeti(vm->co, LUA_REGISTRYINDEX, vm->eve_ref);
		lua_pushlightuserdata(vm->co, (void *)ev->type);
		lua_pushnumber(vm->co, (double)ev->tlen);
		lua_pushlightuserdata(vm->co, (void *)ev->json);
		lua_pushnumber(vm->co, (double)ev->jlen);
		nargs = 4;
	} else if (ev->kind == AN_EV_INPUT) {
		lua_rawgeti(vm->co, LUA_REGISTRYINDEX, vm->input_ref);
		lua_pushlightuserdata(vm->co, (void *)ev->json);
		lua_pushnumber(vm->co, (double)ev->jlen);
		nargs = 2;
	} else {
		lua_rawgeti(vm->co, LUA_REGISTRYINDEX, vm->tick_ref);
		lua_pushnumber(vm->co, (double)ev->now_us);
		nargs = 1;
	}
	rc = an_event(a, nargs, an_kind_name(ev->kind));
	if (a->vm == vm) {
		vm->in_sync = false;
		/* suspended: the record must outlive the caller's */
		if (rc == -EINPROGRESS && ev->kind == AN_EV_FLOW && ev->rec != &vm->cur)
			vm->cur = *ev->rec;
	}
	an_input_flush(a);
	return rc;
}

/* A copy of ev waits behind the suspended event. */
static int
an_enqueue(struct analyzer *a, const struct an_ev *ev)
{
	struct an_queue *q = &a->q;
	struct an_qev *e;

	if (!q->ev)
		q->ev = calloc(q->cap, sizeof(*q->ev));
	if (!q->ev || q->n == q->cap) {
		a->st.queue_drops++;
		return -ENOBUFS;
	}
	e = &q->ev[(q->head + q->n) % q->cap];
	e->ev = *ev;
	e->text = NULL;
	if (ev->kind == AN_EV_FLOW) {
		e->rec = *ev->rec;
		e->ev.rec = NULL;
	} else if (ev->kind == AN_EV_EVE || ev->kind == AN_EV_INPUT) {
		e->text = malloc(ev->tlen + ev->jlen + 2);
		if (!e->text) {
			a->st.queue_drops++;
			return -ENOBUFS;
		}
		memcpy(e->text, ev->type, ev->tlen);
		e->text[ev->tlen] = '\0';
		memcpy(e->text + ev->tlen + 1, ev->json, ev->jlen);
		e->text[ev->tlen + 1 + ev->jlen] = '\0';
		e->ev.type = e->text;
		e->ev.json = e->text + ev->tlen + 1;
	}
	q->n++;
	a->st.queued++;
	return -EINPROGRESS;
}

/* Take the oldest queued event into *out (its text stays in *text, free it). */
static void
an_dequeue(struct analyzer *a, struct an_ev *out, char **text)
{
	struct an_qev *e = &a->q.ev[a->q.head];

	*out = e->ev;
	*text = e->text;
	e->text = NULL;
	if (out->kind == AN_EV_FLOW && a->vm) {
		a->vm->cur = e->rec;
		out->rec = &a->vm->cur;
	}
	a->q.head = (a->q.head + 1) % a->q.cap;
	a->q.n--;
}

/* Run queued events in order until one suspends or none is left. */
static void
an_drain(struct analyzer *a)
{
	struct an_ev ev;
	char *text;

	while (a->q.n && a->vm && !a->vm->suspended) {
		an_dequeue(a, &ev, &text);
		an_dispatch(a, &ev, false);
		free(text);
	}
	while (a->q.n && !a->vm) {
		an_dequeue(a, &ev, &text);
		free(text);
		a->st.disabled++;
	}
}

/* setup() finished after suspending: keep the state or disable the analyzer. */
static void
an_setup_done(struct analyzer *a, struct an_vm *vm, int rc)
{
	if (rc == -ECANCELED) {
		a->vm = NULL; /* already freed */
		rc = -ETIME;
	} else if (rc != 0) {
		a->vm = NULL;
		an_vm_free(vm, 0);
	}
	a->setup_rc = rc;
	if (rc)
		LOG_ERR(AN_TAG, "%s: setup failed, analyzer disabled: %s", a->path, a->err);
}

/* The reply a suspended coroutine waits for is in: resume it, then the queue. */
static void
an_continue(struct analyzer *a)
{
	struct an_vm *vm = a->vm;
	int rc;

	vm->suspended = false;
	if (vm->kind == AN_EV_SETUP) {
		rc = an_resume(a, vm, 0, "setup");
		if (rc == -EINPROGRESS)
			return;
		an_setup_done(a, vm, rc);
	} else {
		if (vm->kind == AN_EV_FLOW)
			*vm->slot = &vm->cur;
		rc = an_resume(a, vm, 0, an_kind_name(vm->kind));
		if (rc == -EINPROGRESS)
			return;
		an_account(a, vm, rc);
	}
	an_input_flush(a);
	an_drain(a);
}

/* Give ev to the analyzer now, or queue it behind a suspended event. */
static int
an_submit(struct analyzer *a, const struct an_ev *ev, unsigned want)
{
	int rc;

	if (__builtin_expect(!a->vm || !(a->wants & want), 0)) {
		if (!a->vm)
			a->st.disabled++;
		return -ENOENT;
	}
	rc = a->vm->suspended ? an_enqueue(a, ev) : an_dispatch(a, ev, true);
	if (rc == -EINPROGRESS)
		a->st.deferred++;
	return rc;
}

int
analyzer_flow(struct analyzer *a, const struct flow_record *rec)
{
	struct an_ev ev = {.kind = AN_EV_FLOW, .rec = rec};

	return an_submit(a, &ev, ANALYZER_WANT_FLOW);
}

bool
analyzer_wants_eve(const struct analyzer *a, const char *type)
{
	if (!(a->wants & ANALYZER_WANT_EVE))
		return false;
	for (unsigned i = 0; i < a->n_eve; i++)
		if (strcmp(a->eve[i], type) == 0 || strcmp(a->eve[i], "*") == 0)
			return true;
	return false;
}

int
analyzer_eve(struct analyzer *a, const char *type, const char *json, size_t len)
{
	struct an_ev ev = {
		.kind = AN_EV_EVE, .type = type, .tlen = strlen(type), .json = json, .jlen = len};

	return an_submit(a, &ev, ANALYZER_WANT_EVE);
}

int
analyzer_input(struct analyzer *a, const char *line, size_t len)
{
	struct an_ev ev = {.kind = AN_EV_INPUT, .type = "", .json = line};

	if (len && line[len - 1] == '\n' && --len && line[len - 1] == '\r')
		len--;
	ev.jlen = len;
	return an_submit(a, &ev, ANALYZER_WANT_INPUT);
}

int
analyzer_tick(struct analyzer *a, uint64_t now_us)
{
	struct an_ev ev = {.kind = AN_EV_TICK, .now_us = now_us};

	return an_submit(a, &ev, ANALYZER_WANT_TICK);
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
	if (!a->conf.redis_timeout_ms)
		a->conf.redis_timeout_ms = ANALYZER_REDIS_TIMEOUT_DEFAULT;
	if (!a->conf.queue_max)
		a->conf.queue_max = ANALYZER_QUEUE_DEFAULT;
	a->q.cap = a->conf.queue_max;
	a->path = strdup(conf->path);
	a->lua_dir = strdup(conf->lua_dir ? conf->lua_dir : DARTER_LUA_DIR);
	a->redis_host = strdup(conf->redis_host ? conf->redis_host : "127.0.0.1");
	a->df_output = strdup(conf->default_output ? conf->default_output : "alerts");
	a->df_analyzer = strdup(conf->default_analyzer ? conf->default_analyzer : "");
	a->json = malloc(ANALYZER_JSON_MAX);
	if (!a->path || !a->lua_dir || !a->json || !a->redis_host || !a->df_output ||
	    !a->df_analyzer)
		return -ENOMEM;
	a->conf.path = a->path;
	a->conf.lua_dir = a->lua_dir;
	a->conf.redis_host = a->redis_host;
	a->conf.default_output = a->df_output;
	a->conf.default_analyzer = a->df_analyzer;
	return 0;
}

static void
an_release(struct analyzer *a)
{
	for (uint32_t i = 0; i < a->q.n; i++)
		free(a->q.ev[(a->q.head + i) % a->q.cap].text);
	a->st.abandoned += a->q.n;
	free(a->q.ev);
	an_redis_release(a);
	watchdog_remove(&a->wd);
	free(a->redis_host);
	free(a->df_output);
	free(a->df_analyzer);
	free(a->src);
	free(a->json);
	free(a->hold.p);
	free(a->path);
	free(a->lua_dir);
	free(a);
}

/* analyzer_new(); off_loop: setup() waits for analyzer_reload_setup() on the loop. */
static struct analyzer *an_new(const struct analyzer_conf *conf, bool off_loop, char *err,
			       size_t errlen);

struct analyzer *
analyzer_new(const struct analyzer_conf *conf, char *err, size_t errlen)
{
	return an_new(conf, false, err, errlen);
}

static struct analyzer *
an_new(const struct analyzer_conf *conf, bool off_loop, char *err, size_t errlen)
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
	a->off_loop = off_loop;
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
	if (a->vm && a->vm->suspended) {
		/* its reply will never be waited for: teardown gets a fresh coroutine */
		a->st.abandoned++;
		a->vm->suspended = false;
		if (lua_cpcall(a->vm->L, an_newco_cb, a->vm) != 0)
			a->vm->co = NULL;
	}
	if (a->vm && a->vm->co && a->vm->teardown_ref != LUA_NOREF) {
		a->vm->kind = AN_EV_TEARDOWN;
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
	return an_new(&cur->conf, cur->conf.loop != NULL, err, errlen);
}

int
analyzer_reload_setup(struct analyzer *a)
{
	struct an_vm *vm = a->vm;
	int rc = 0;

	if (a->setup_rc != -EAGAIN)
		return a->setup_rc;
	a->off_loop = false;
	a->setup_rc = 0;
	if (vm && vm->setup_ref != LUA_NOREF) {
		vm->kind = AN_EV_SETUP;
		lua_rawgeti(vm->co, LUA_REGISTRYINDEX, vm->setup_ref);
		rc = an_resume(a, vm, 0, "setup");
	}
	if (rc == -EINPROGRESS)
		a->setup_rc = rc;
	else if (rc != 0)
		an_setup_done(a, vm, rc); /* disabled: the caller keeps the running version */
	return a->setup_rc;
}

/* The events waiting in old's queue go on in next, in order. */
static void
an_queue_move(struct analyzer *next, struct analyzer *old)
{
	struct an_ev ev;
	char *text;
	struct an_vm *ovm = old->vm;

	old->vm = NULL; /* an_dequeue must not touch the old state's record */
	while (old->q.n) {
		struct an_qev *e = &old->q.ev[old->q.head];
		an_dequeue(old, &ev, &text);
		if (ev.kind == AN_EV_FLOW)
			ev.rec = &e->rec;	   /* still in place: the slot was only released */
		uint64_t queued = next->st.queued; /* moved, not newly queued */
		an_enqueue(next, &ev);		   /* a full queue counts a drop */
		next->st.queued = queued;
		free(text);
	}
	old->vm = ovm;
	if (next->vm && !next->vm->suspended)
		an_drain(next);
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
	n->suspends += o->suspends;
	n->deferred += o->deferred;
	n->queued += o->queued;
	n->queue_drops += o->queue_drops;
	n->abandoned += o->abandoned;
	n->redis_commands += o->redis_commands;
	n->redis_errors += o->redis_errors;
	n->late_annotations += o->late_annotations;
	n->kill_deferred += o->kill_deferred;
	n->input_events += o->input_events;
	n->input_errors += o->input_errors;
	n->reloads = o->reloads + 1;
	*slot = next;
	an_queue_move(next, old);
	return old;
}

bool
analyzer_idle(const struct analyzer *a)
{
	return a->q.n == 0 && !(a->vm && a->vm->suspended);
}

uint32_t
analyzer_pending(const struct analyzer *a)
{
	return a->q.n + (a->vm && a->vm->suspended ? 1u : 0u);
}

int
analyzer_ready(const struct analyzer *a)
{
	return a->setup_rc;
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
