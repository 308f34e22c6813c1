/*
 * score_redis.c: the redis store: estimator state shared through Redis.
 *
 * What: the records a worker scores are sent in calls, each one EVALSHA
 * of the script below over a run of consecutive records: its KEYS are
 * the states of every (spec, group) those records update, each key once,
 * and its updates are applied in record order. Redis runs a script
 * atomically, so workers and sensors sharing a prefix update the same
 * estimators without losing updates; a call is equivalent to its records
 * sent one by one with nothing else between them. Calls are pipelined
 * through rconn (engine/rconn.h) on the worker's loop: score_record()
 * copies the record into one of redis_window slots, queues it and
 * returns; the queue is sent when it holds a full call, and otherwise
 * by a prepare handle just before the loop waits for I/O, so one loop
 * turn's records travel together and a lone record is not delayed. At
 * most redis_window records are queued or in flight, in at most 64
 * calls; beyond, records are scored locally (-EAGAIN). The reply
 * callback finishes the records in order and calls done for each. The
 * worker never waits.
 *
 * Why calls of many records: with one EVALSHA per record Redis spent its
 * time on per-command work (parsing, dispatch, entering the script, a
 * GET and a SET per key) and the worker on one reply per record;
 * tools/bench/mad measured 34-63K records/s against a 100K target. A
 * call reads each key once, applies all its updates in Lua and writes
 * each key once: a busy group costs one GET and one SET per call, not
 * per record.
 *
 * Layout: one string value per (spec, group):
 *	key    <prefix><metric>/<group>:<group_key>, or <prefix><metric>/global
 *	       e.g. darter:mad:bytes/dest_port:tcp/443, darter:mad:pcr/src_subnet:10.1.2.0/24
 *	value  48 bytes: six little-endian IEEE-754 doubles, in order
 *	       m, d   median and MAD, in the transformed domain (log1p(bytes) by default)
 *	       u, v   trend means of the median's and the MAD's step signs, in [-1, 1]
 *	       n, n_d values learned, updates of d (exact integers below 2^53)
 * Binary, not text: formatting and parsing six numbers per key was most
 * of Redis' time per call (strtod and printf in the script, measured with
 * perf by tools/bench/mad); struct.pack/unpack (Redis' Lua has the struct
 * library) costs a fraction of it, and doubles round-trip exactly. Read
 * one with GET and unpack '<dddddd' (tools/mad-redis-dump does). A missing
 * key is a fresh estimator; a value of another size is refused (error
 * reply, before anything is written: the call's records are scored
 * locally, counted in redis_errors). The options (transform, step, eta)
 * are not stored: every sensor writing under one prefix must use the
 * same.
 *
 * The script is mad.c's normal-mode update, operation for operation in
 * the same order (Lua 5.1 numbers are IEEE doubles like C's), including
 * the Robbins-Monro burn-in step and the trend boost. The transform runs
 * here, client side (Redis' Lua has no log1p). The script returns each
 * key's state *before* the call; the client rebuilds the estimators from
 * them and replays the call's updates in the same order with
 * mad_update(), which yields the exact scores the server's updates imply
 * (burn-in, threshold and sidedness are reporting options, client side)
 * and the states the server stored. Those become the worker's local
 * copies.
 *
 * Failures: a record refused (window full, Redis down between
 * reconnects) is scored with the local copies at once, inside
 * score_record(). A call refused, an error reply, a malformed reply, a
 * timeout or a lost connection scores each of the call's records with
 * the local copies instead, counts it (redis_fallbacks per update,
 * redis_errors per unusable reply), warns once per outage (unusable
 * replies: once in all, they may repeat for every call), and still
 * calls done exactly once per record. Fallback updates stay local: they
 * are not written back to Redis when it returns, and a call that timed
 * out may have been applied by the server anyway. rconn reconnects with
 * backoff by itself.
 *
 * Not here: the compat preset (Dragonfly keeps NaN states), expiry of
 * keys, replay of fallback updates.
 */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rconn.h"
#include "score_int.h"

#define REDIS_BACKOFF_MIN_MS 20
#define REDIS_BACKOFF_MAX_MS 1000
#define REDIS_STATE_LEN	     48 /* m d u v n n_d, little-endian doubles */
#define REDIS_HEAD_MAX	     (SCORE_PREFIX_MAX + 48)
#define REDIS_KEY_MAX	     (REDIS_HEAD_MAX + SCORE_KEY_NAME_MAX)
#define REDIS_ARGS	     2	 /* step mode, packed etas; then one value list per key */
#define REDIS_CALL_RECS	     256 /* records per call at most (and at most the window) */
#define REDIS_CALL_KEYS	     256 /* distinct keys per call at most */
#define REDIS_CALLS	     64	 /* calls in flight at most (and at most the window) */

/* ------------------------------------------------------------------ */
/* The script                                                         */
/* ------------------------------------------------------------------ */

/*
 * KEYS[i]: an estimator. ARGV[1]: 'r' relative or 'a' absolute step;
 * ARGV[2]: eta and eta_min packed '<dd'; ARGV[2 + i]: the transformed
 * values for KEYS[i] in order, packed '<d' each. Updates of different
 * keys are independent, so applying them key by key is the same as in
 * record order. Every key is read once, updated in locals, written once;
 * nothing is written if a state or a value list is malformed (error
 * reply). Returns, per key, its value before the call ("" when it did
 * not exist). The constants are mad.c's; step() is mad_step_size() with
 * max/min written out (a Lua function call each, in the interpreter's
 * inner loop, otherwise).
 */
static const char score_lua[] =
	"local rel = ARGV[1] == 'r'\n"
	"local eta, eta_min = struct.unpack('<dd', ARGV[2])\n"
	"local K, W, DEAD, GAIN, SMAX = 1.5, 0.015625, 0.04, 96.0, 0.1\n"
	"local abs, rep, unpack = math.abs, string.rep, struct.unpack\n"
	"local function step(rm, d, t)\n"
	"  if not rel then if rm > eta then return rm end return eta end\n"
	"  local lim = eta * d\n"
	"  if eta_min > lim then lim = eta_min end\n"
	"  if rm > lim then return rm end\n"
	"  local q = t * t - DEAD\n"
	"  if 0.0 > q then q = 0.0 end\n"
	"  local b = 1.0 + GAIN * q\n"
	"  local lo, hi = eta_min * b, eta * b\n"
	"  if not (SMAX < hi) then hi = hi * d else hi = SMAX * d end\n"
	"  if lo > hi then return lo end return hi\n"
	"end\n"
	"local old = {}\n"
	"for i, key in ipairs(KEYS) do\n"
	"  local s = redis.call('GET', key)\n"
	"  if s and #s ~= 48 then return redis.error_reply('darter: ' .. key .. ': not a state') "
	"end\n"
	"  local a = ARGV[2 + i]\n"
	"  if a == nil or #a == 0 or #a % 8 ~= 0 then\n"
	"    return redis.error_reply('darter: ' .. key .. ': malformed values')\n"
	"  end\n"
	"  old[i] = s or ''\n"
	"end\n"
	"for i, key in ipairs(KEYS) do\n"
	"  local m, d, u, v, n, nd = 0, 0, 0, 0, 0, 0\n"
	"  if old[i] ~= '' then m, d, u, v, n, nd = unpack('<dddddd', old[i]) end\n"
	"  local a = ARGV[2 + i]\n"
	"  local xs = {unpack('<' .. rep('d', #a / 8), a)}\n"
	"  for j = 1, #a / 8 do\n"
	"    local x = xs[j]\n"
	"    if n == 0 then\n"
	"      m, n = x, 1\n"
	"    else\n"
	"      local dev = abs(x - m)\n"
	"      local tm, td = x - m, dev - d\n"
	"      local sm, sd = 0, 0\n"
	"      if tm > 0 then sm = 1 elseif tm < 0 then sm = -1 end\n"
	"      if td > 0 then sd = 1 elseif td < 0 then sd = -1 end\n"
	"      local d0 = d\n"
	"      local rm = d0 * (K / (n + 1))\n"
	"      if n == 1 then\n"
	"        d, nd = dev, 1\n"
	"      else\n"
	"        d = d0 + step(rm, d0, v) * sd\n"
	"        if 0.0 > d then d = 0.0 end\n"
	"        v = v + W * (sd - v)\n"
	"        nd = nd + 1\n"
	"      end\n"
	"      m = m + step(rm, d0, u) * sm\n"
	"      u = u + W * (sm - u)\n"
	"      n = n + 1\n"
	"    end\n"
	"  end\n"
	"  redis.call('SET', key, struct.pack('<dddddd', m, d, u, v, n, nd))\n"
	"end\n"
	"return old\n";

/* ------------------------------------------------------------------ */
/* State                                                              */
/* ------------------------------------------------------------------ */

/* What one record updates: spec index, estimator, metric value, key in its call. */
struct score_batch {
	unsigned n;
	uint8_t spec[SCORE_MAX_SPECS];
	uint16_t key[SCORE_MAX_SPECS]; /* index among its call's KEYS, set when sent */
	struct score_entry *entry[SCORE_MAX_SPECS];
	double x[SCORE_MAX_SPECS];
};

/* A record accepted: queued, then in a call. */
struct score_slot {
	struct score_slot *next; /* free list, queue or call, in record order */
	struct flow_record rec;
	struct score_batch b;
};

/* One EVALSHA in flight: a run of consecutive records. */
struct score_call {
	struct score_call *next_free;
	struct score *s;
	struct score_slot *head; /* its records, in order */
	unsigned n_recs, n_keys;
	struct score_entry *keys[REDIS_CALL_KEYS];
};

struct score_redis {
	struct rconn *c;
	struct rconn_script *script;
	uv_prepare_t flush;	  /* sends the queue before the loop waits */
	int closing;		  /* close callbacks still to come (flush handle, rconn) */
	struct score_slot *slots; /* redis_window of them */
	struct score_slot *free;
	struct score_slot *q_head, *q_tail; /* accepted, not sent yet */
	unsigned queued;
	unsigned call_recs; /* records per call at most */
	struct score_call *calls;
	struct score_call *free_calls;
	uint32_t tag;	   /* the call being built; entries holding it are among its keys */
	bool up;	   /* false from a fallback (warned) to the next good reply */
	bool warned_full;  /* window full: warned once */
	bool warned_error; /* unusable reply: warned once */
	bool log1p[SCORE_MAX_SPECS];  /* transform client side */
	bool global[SCORE_MAX_SPECS]; /* head is the whole key */
	char mode[2], etas[16];	      /* etas: eta, eta_min as '<dd' */
	size_t head_len[SCORE_MAX_SPECS];
	char head[SCORE_MAX_SPECS][REDIS_HEAD_MAX]; /* key up to the group key; global: all */
	/* scratch for the call being built; rconn copies the arguments */
	char keys[REDIS_CALL_KEYS][REDIS_KEY_MAX];
	char vals[REDIS_CALL_RECS * SCORE_MAX_SPECS * 8]; /* per key its values, '<d' each */
	uint32_t nval[REDIS_CALL_KEYS];			  /* values per key */
	size_t at[REDIS_CALL_KEYS];			  /* where the next value of a key goes */
	const char *argv[2 * REDIS_CALL_KEYS + REDIS_ARGS];
	size_t argvlen[2 * REDIS_CALL_KEYS + REDIS_ARGS];
	/* scratch for the reply being replayed: the estimators of its keys */
	struct mad tmp[REDIS_CALL_KEYS];
};

/* ------------------------------------------------------------------ */
/* Fallback                                                           */
/* ------------------------------------------------------------------ */

static void
warn_down(struct score *s, const char *why)
{
	struct score_redis *r = s->redis;

	if (!r->up)
		return;
	r->up = false;
	LOG_WARN(SCORE_TAG, "redis %s:%u: %.200s; scoring locally until it answers",
		 s->conf.redis_host, (unsigned)s->conf.redis_port, why);
}

/*
 * Redis answered, but not with states (a corrupt key, a foreign value):
 * not an outage, and it may repeat for every call touching that key, so
 * warn once; redis_errors counts them.
 */
static void
warn_error(struct score *s, const char *why)
{
	struct score_redis *r = s->redis;

	if (r->warned_error)
		return;
	r->warned_error = true;
	LOG_WARN(SCORE_TAG,
		 "redis %s:%u: %.200s; calls answered so are scored locally (redis_errors), "
		 "warned once",
		 s->conf.redis_host, (unsigned)s->conf.redis_port, why);
}

/* Score b with the local copies and answer the record. */
static void
fallback(struct score *s, const struct flow_record *rec, const struct score_batch *b)
{
	struct score_result res[SCORE_MAX_SPECS];
	unsigned n = 0;

	for (unsigned k = 0; k < b->n; k++)
		n += score_update_local(s, b->spec[k], b->entry[k], b->x[k], &res[n]);
	s->st.redis_fallbacks += b->n;
	score_done_call(s, rec, res, n);
}

/* Give sl back; the record is no longer pending. */
static void
slot_free(struct score *s, struct score_slot *sl)
{
	struct score_redis *r = s->redis;

	sl->next = r->free;
	r->free = sl;
	s->st.redis_pending--;
}

/*
 * Score the records from sl on locally, in order. Each slot is freed
 * before its done call, which may then score again.
 */
static void
fallback_list(struct score *s, struct score_slot *sl)
{
	while (sl != NULL) {
		struct score_slot *next = sl->next;
		struct flow_record rec = sl->rec;
		struct score_batch b = sl->b;

		slot_free(s, sl);
		fallback(s, &rec, &b);
		sl = next;
	}
}

/* ------------------------------------------------------------------ */
/* Replies                                                            */
/* ------------------------------------------------------------------ */

/* A little-endian IEEE-754 double at p. */
static double
le_double(const char *p)
{
	uint64_t u = 0;
	double v;

	for (int k = 7; k >= 0; k--)
		u = u << 8 | (uint8_t)p[k];
	memcpy(&v, &u, sizeof(v));
	return v;
}

static void
le_put_double(char *p, double v)
{
	uint64_t u;

	memcpy(&u, &v, sizeof(u));
	for (int k = 0; k < 8; k++, u >>= 8)
		p[k] = (char)(u & 0xff);
}

static bool
exact_count(double v, uint64_t *n)
{
	if (!(v >= 0 && v < 0x1p53 && v == floor(v)))
		return false;
	*n = (uint64_t)v;
	return true;
}

/* Rebuild the estimator *e held before the call from the reply's element at. */
static bool
parse_state(const struct rconn_reply *reply, size_t at, struct mad *e)
{
	struct rconn_reply f;
	struct mad_state st;

	if (rconn_reply_element(reply, at, &f) != 0 || f.type != RCONN_TYPE_STRING)
		return false;
	mad_state_export(e, &st); /* version and kind */
	if (f.len == 0) {	  /* a fresh estimator */
		st.m = st.d = st.u = st.v = 0;
		st.n = st.n_d = 0;
		return mad_state_import(e, &st) == 0;
	}
	if (f.len != REDIS_STATE_LEN)
		return false;
	st.m = le_double(f.str);
	st.d = le_double(f.str + 8);
	st.u = le_double(f.str + 16);
	st.v = le_double(f.str + 24);
	if (!exact_count(le_double(f.str + 32), &st.n) ||
	    !exact_count(le_double(f.str + 40), &st.n_d))
		return false;
	return mad_state_import(e, &st) == 0;
}

/* The states before call, into r->tmp. False if the reply is not one per key. */
static bool
reply_states(struct score_redis *r, const struct rconn_reply *reply, const struct score_call *call)
{
	if (reply->type != RCONN_TYPE_ARRAY || reply->elements != (size_t)call->n_keys)
		return false;
	for (unsigned i = 0; i < call->n_keys; i++) {
		r->tmp[i] = call->keys[i]->est;
		if (!parse_state(reply, i, &r->tmp[i]))
			return false;
	}
	return true;
}

/*
 * Replay one record's updates on r->tmp, as the server applied them: its
 * results, and the states the server stored, which become the local
 * copies.
 */
static unsigned
replay_record(struct score *s, const struct score_batch *b, struct score_result *res)
{
	struct score_redis *r = s->redis;
	unsigned n = 0;

	for (unsigned k = 0; k < b->n; k++) {
		struct mad *t = &r->tmp[b->key[k]];
		struct mad_result mr;

		if (score_unlikely(mad_update(t, b->x[k], &mr) != 0)) {
			s->st.skipped++;
			continue;
		}
		b->entry[k]->est = *t;
		s->st.updates++;
		s->st.outliers += mr.outlier;
		score_result_fill(s, b->spec[k], b->entry[k], b->x[k], &mr, &res[n]);
		res[n++].remote = 1;
	}
	return n;
}

/* Answer the call's records from r->tmp, in order. */
static void
replay(struct score *s, struct score_slot *sl)
{
	struct score_result out[SCORE_MAX_SPECS];

	while (sl != NULL) {
		struct score_slot *next = sl->next;
		struct flow_record rec = sl->rec; /* the slot is free again before done runs */
		struct score_batch b = sl->b;
		unsigned n;

		slot_free(s, sl);
		n = replay_record(s, &b, out);
		s->st.redis_replies++;
		score_done_call(s, &rec, out, n);
		sl = next;
	}
}

static void
on_reply(struct rconn *c, enum rconn_result res, const struct rconn_reply *reply, void *arg)
{
	struct score_call *call = arg;
	struct score *s = call->s;
	struct score_redis *r = s->redis;
	struct score_slot *head = call->head;
	bool ok = res == RCONN_RESULT_OK && reply_states(r, reply, call);

	(void)c;
	call->head = NULL;
	call->next_free = r->free_calls;
	r->free_calls = call;
	if (ok) {
		if (score_unlikely(!r->up)) {
			r->up = true;
			LOG_NOTICE(SCORE_TAG, "redis %s:%u answers again", s->conf.redis_host,
				   (unsigned)s->conf.redis_port);
		}
		replay(s, head);
		return;
	}
	if (res == RCONN_RESULT_OK || res == RCONN_RESULT_SERVER_ERROR) {
		s->st.redis_errors++;
		warn_error(s, res == RCONN_RESULT_SERVER_ERROR ? reply->str : "malformed reply");
	} else if (res != RCONN_RESULT_CLOSED) {
		warn_down(s, rconn_result_name(res));
	}
	fallback_list(s, head);
}

/* ------------------------------------------------------------------ */
/* Sending                                                            */
/* ------------------------------------------------------------------ */

/* The specs rec updates: defined metric, group within the table bound. */
static void
collect(struct score *s, const struct flow_record *rec, struct score_batch *b)
{
	b->n = 0;
	for (unsigned i = 0; i < s->conf.n_specs; i++) {
		struct score_entry *e;
		double x;

		if (score_unlikely(!score_value(s, i, rec, &x))) {
			s->st.skipped++;
			continue;
		}
		e = score_entry_get(s, i, rec);
		if (e == NULL)
			continue;
		b->spec[b->n] = (uint8_t)i;
		b->entry[b->n] = e;
		b->x[b->n++] = x;
	}
}

/* A new tag for the call being built; on wrap-around no entry may keep an old one. */
static void
tag_next(struct score *s)
{
	struct score_redis *r = s->redis;

	if (score_likely(++r->tag != 0))
		return;
	for (uint32_t i = 0; i < s->n_entries; i++)
		s->entries[i].call_tag = 0;
	r->tag = 1;
}

/* The index of e among the call's keys, adding it (argv, call->keys, nval) if new. */
static unsigned
call_key(struct score_redis *r, struct score_call *call, unsigned spec, struct score_entry *e)
{
	unsigned k = call->n_keys;
	size_t len = r->head_len[spec];

	if (e->call_tag == r->tag)
		return e->call_key;
	e->call_tag = r->tag;
	e->call_key = k;
	call->keys[k] = e;
	memcpy(r->keys[k], r->head[spec], len);
	if (!r->global[spec]) {
		memcpy(r->keys[k] + len, e->name, e->name_len);
		len += e->name_len;
	}
	r->argv[k] = r->keys[k];
	r->argvlen[k] = len;
	r->nval[k] = 0;
	call->n_keys++;
	return k;
}

/* Add sl's keys to call (counting their values in r->nval); set sl->b.key. */
static void
call_add_keys(struct score_redis *r, struct score_call *call, struct score_slot *sl)
{
	struct score_batch *b = &sl->b;

	for (unsigned k = 0; k < b->n; k++) {
		unsigned key = call_key(r, call, b->spec[k], b->entry[k]);

		r->nval[key]++;
		b->key[k] = (uint16_t)key;
	}
}

/* Place each key's values in r->vals, key by key, in record order. */
static void
call_put_values(struct score_redis *r, const struct score_call *call, const struct score_slot *sl)
{
	size_t off = 0;

	for (unsigned k = 0; k < call->n_keys; k++) {
		r->at[k] = off;
		r->argv[call->n_keys + REDIS_ARGS + k] = r->vals + off;
		r->argvlen[call->n_keys + REDIS_ARGS + k] = 8 * (size_t)r->nval[k];
		off += 8 * (size_t)r->nval[k];
	}
	for (; sl != NULL; sl = sl->next) {
		const struct score_batch *b = &sl->b;

		for (unsigned k = 0; k < b->n; k++) {
			unsigned i = b->spec[k], key = b->key[k];

			le_put_double(r->vals + r->at[key], r->log1p[i] ? log1p(b->x[k]) : b->x[k]);
			r->at[key] += 8;
		}
	}
}

/*
 * Take the longest run from the head of the queue that fits one call
 * (call_recs records, REDIS_CALL_KEYS keys) into call and r->argv:
 * the keys, the step mode, the packed etas, then per key its values.
 * Returns argc.
 */
static int
call_build(struct score *s, struct score_call *call)
{
	struct score_redis *r = s->redis;
	struct score_slot *sl = r->q_head, *last = NULL;
	unsigned nr = 0, nk;

	tag_next(s);
	call->n_keys = 0;
	call->head = sl;
	while (sl != NULL && nr < r->call_recs && call->n_keys + sl->b.n <= REDIS_CALL_KEYS) {
		call_add_keys(r, call, sl);
		last = sl;
		sl = sl->next;
		nr++;
	}
	assert(last != NULL); /* a record has at most SCORE_MAX_SPECS keys */
	last->next = NULL;
	r->q_head = sl;
	if (sl == NULL)
		r->q_tail = NULL;
	r->queued -= nr;
	call->n_recs = nr;
	nk = call->n_keys;
	r->argv[nk] = r->mode;
	r->argvlen[nk] = 1;
	r->argv[nk + 1] = r->etas;
	r->argvlen[nk + 1] = sizeof(r->etas);
	call_put_values(r, call, call->head);
	return (int)(2 * nk + REDIS_ARGS);
}

/* Send one call from the head of the queue; its records fall back if refused. */
static void
call_send(struct score *s)
{
	struct score_redis *r = s->redis;
	struct score_call *call = r->free_calls;
	int argc = call_build(s, call);
	int rc = rconn_evalsha(r->c, r->script, on_reply, call, (int)call->n_keys, argc, r->argv,
			       r->argvlen);
	struct score_slot *head = call->head;

	if (score_likely(rc == 0)) {
		r->free_calls = call->next_free;
		s->st.redis_calls += call->n_recs;
		s->st.redis_batches++;
		return;
	}
	call->head = NULL;
	if (rc != -ESHUTDOWN)
		warn_down(s, rc == -ENOTCONN ? "not connected" : "refused");
	fallback_list(s, head);
}

/* Send the queue while calls are free; the rest waits for a reply. */
static void
flush(struct score *s)
{
	struct score_redis *r = s->redis;

	while (r->queued > 0 && r->free_calls != NULL && r->closing == 0)
		call_send(s);
}

static void
on_flush(uv_prepare_t *h)
{
	flush(h->data);
}

int
score_redis_record(struct score *s, const struct flow_record *rec)
{
	struct score_redis *r = s->redis;
	struct score_slot *sl = r->free;
	struct score_batch b;

	collect(s, rec, &b);
	if (score_unlikely(b.n == 0)) {
		score_done_call(s, rec, NULL, 0);
		return 0;
	}
	if (score_unlikely(sl == NULL)) {
		if (!r->warned_full) {
			r->warned_full = true;
			LOG_WARN(SCORE_TAG,
				 "redis window of %u records full: scoring locally "
				 "meanwhile",
				 (unsigned)s->conf.redis_window);
		}
		fallback(s, rec, &b);
		return -EAGAIN;
	}
	if (score_unlikely(!rconn_ready(r->c))) {
		warn_down(s, "not connected");
		fallback(s, rec, &b);
		return 0;
	}
	r->free = sl->next;
	sl->next = NULL;
	sl->rec = *rec;
	sl->b = b;
	if (r->q_tail != NULL)
		r->q_tail->next = sl;
	else
		r->q_head = sl;
	r->q_tail = sl;
	r->queued++;
	s->st.redis_pending++;
	if (r->queued >= r->call_recs)
		flush(s);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Lifetime                                                           */
/* ------------------------------------------------------------------ */

/* The fixed part of spec i's keys: "<prefix><metric>/<group>:", or the whole global key. */
static void
key_head(struct score *s, unsigned i)
{
	struct score_redis *r = s->redis;
	const struct score_spec *sp = &s->conf.specs[i];
	int n;

	r->global[i] = sp->group == SCORE_GROUP_GLOBAL;
	if (r->global[i])
		n = snprintf(r->head[i], REDIS_HEAD_MAX, "%s%s/global", s->conf.redis_prefix,
			     score_metric_name(sp->metric));
	else
		n = snprintf(r->head[i], REDIS_HEAD_MAX, "%s%s/%s:", s->conf.redis_prefix,
			     score_metric_name(sp->metric), score_group_name(sp->group));
	assert(n > 0 && n < REDIS_HEAD_MAX);
	r->head_len[i] = (size_t)n;
	r->log1p[i] =
		sp->metric != SCORE_METRIC_PCR && s->conf.mad.transform == MAD_TRANSFORM_LOG1P;
}

static unsigned
min_u(unsigned a, unsigned b)
{
	return a < b ? a : b;
}

/* The record slots (the window) and the calls in flight. */
static int
pools_alloc(struct score *s)
{
	struct score_redis *r = s->redis;
	uint32_t w = s->conf.redis_window;
	unsigned nc = min_u(w, REDIS_CALLS);

	r->slots = calloc(w, sizeof(*r->slots));
	r->calls = calloc(nc, sizeof(*r->calls));
	if (r->slots == NULL || r->calls == NULL)
		return -ENOMEM;
	for (uint32_t k = 0; k < w; k++)
		r->slots[k].next = k + 1 < w ? &r->slots[k + 1] : NULL;
	r->free = &r->slots[0];
	for (unsigned k = 0; k < nc; k++) {
		r->calls[k].s = s;
		r->calls[k].next_free = k + 1 < nc ? &r->calls[k + 1] : NULL;
	}
	r->free_calls = &r->calls[0];
	r->call_recs = min_u(w, REDIS_CALL_RECS);
	return 0;
}

static void
redis_free(struct score_redis *r)
{
	free(r->slots);
	free(r->calls);
	free(r);
}

/* Start the flush handle: it never keeps the loop alive by itself. */
static void
flush_start(struct score *s)
{
	struct score_redis *r = s->redis;

	uv_prepare_init(s->loop, &r->flush);
	r->flush.data = s;
	uv_prepare_start(&r->flush, on_flush);
	uv_unref((uv_handle_t *)&r->flush);
}

int
score_redis_new(struct score *s)
{
	struct rconn_conf rc = {
		.host = s->conf.redis_host,
		.port = s->conf.redis_port,
		.timeout_ms = s->conf.redis_timeout_ms,
		.backoff_min_ms = REDIS_BACKOFF_MIN_MS,
		.backoff_max_ms = REDIS_BACKOFF_MAX_MS,
		.max_pending = min_u(s->conf.redis_window, REDIS_CALLS),
	};
	struct score_redis *r = calloc(1, sizeof(*r));
	int err;

	if (r == NULL)
		return -ENOMEM;
	s->redis = r;
	r->up = true;
	snprintf(r->mode, sizeof(r->mode), "%s", s->conf.mad.step == MAD_STEP_RELATIVE ? "r" : "a");
	le_put_double(r->etas, s->conf.mad.eta);
	le_put_double(r->etas + 8, s->conf.mad.eta_min);
	for (unsigned i = 0; i < s->conf.n_specs; i++)
		key_head(s, i);
	errno = ENOMEM;
	if (pools_alloc(s) != 0)
		goto fail;
	r->c = rconn_new(s->loop, &rc);
	if (r->c == NULL)
		goto fail;
	r->script = rconn_script(r->c, score_lua, sizeof(score_lua) - 1);
	if (r->script == NULL) {
		err = errno;
		rconn_close(r->c, NULL, NULL); /* frees itself on a later loop turn */
		errno = err;
		goto fail;
	}
	flush_start(s);
	return 0;
fail:
	err = errno != 0 ? errno : ENOMEM;
	redis_free(r);
	s->redis = NULL;
	return -err;
}

/* One of the two close callbacks; the last frees everything. */
static void
closed_one(struct score *s)
{
	if (--s->redis->closing > 0)
		return;
	redis_free(s->redis);
	s->redis = NULL;
	score_free(s);
}

static void
on_rconn_closed(void *arg)
{
	closed_one(arg);
}

static void
on_flush_closed(uv_handle_t *h)
{
	closed_one(h->data);
}

void
score_redis_close(struct score *s)
{
	struct score_redis *r = s->redis;
	struct score_slot *queued = r->q_head;

	r->q_head = r->q_tail = NULL;
	r->queued = 0;
	r->closing = 2;
	uv_close((uv_handle_t *)&r->flush, on_flush_closed);
	rconn_close(r->c, on_rconn_closed, s);
	fallback_list(s, queued); /* calls in flight are answered when rconn fails them */
}
