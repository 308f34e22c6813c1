/*
 * score_redis.c: the redis store: estimator state shared through Redis.
 *
 * What: each record is one EVALSHA of the script below, whose KEYS are
 * the states of every (spec, group) the record updates; Redis runs it
 * atomically, so workers and sensors sharing a prefix update the same
 * estimators without losing updates. Calls are pipelined through rconn
 * (engine/rconn.h) on the worker's loop: score_record() copies the record
 * into one of redis_window slots, sends, and returns; the reply callback
 * finishes the record and calls done. The worker never waits.
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
 * reply: the record is scored locally, counted in redis_errors). The
 * options (transform, step, eta) are not stored: every sensor writing
 * under one prefix must use the same.
 *
 * The script is mad.c's normal-mode update, operation for operation in
 * the same order (Lua 5.1 numbers are IEEE doubles like C's), including
 * the Robbins-Monro burn-in step and the trend boost. The transform runs
 * here, client side (Redis' Lua has no log1p). The script returns each
 * key's state *before* the update; the client rebuilds the estimator
 * from it and replays the update with mad_update(), which yields the
 * exact scores the server's update implies (burn-in, threshold and
 * sidedness are reporting options, client side) and the state the server
 * stored. That state becomes the worker's local copy of the estimator.
 *
 * Failures: a call refused (window full, Redis down between reconnects,
 * closing), an error reply, a malformed reply, a timeout or a lost
 * connection scores the record with the local copies instead, counts it
 * (redis_fallbacks per update, redis_errors for unusable replies), warns
 * once per outage, and still calls done exactly once. Fallback updates
 * stay local: they are not written back to Redis when it returns, and
 * a call that timed out may have been applied by the server anyway.
 * rconn reconnects with backoff by itself.
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
#define REDIS_ARGS	     2 /* step mode, packed eta and eta_min */

/* ------------------------------------------------------------------ */
/* The script                                                         */
/* ------------------------------------------------------------------ */

/*
 * KEYS[i]: an estimator. ARGV[1]: 'r' relative or 'a' absolute step;
 * ARGV[2]: eta and eta_min packed '<dd'; ARGV[2 + i]: the transformed
 * value for KEYS[i], packed '<d'. Returns, per key, its value before the
 * update ("" when it did not exist). The constants are mad.c's.
 */
static const char score_lua[] =
	"local rel = ARGV[1] == 'r'\n"
	"local eta, eta_min = struct.unpack('<dd', ARGV[2])\n"
	"local K, W, DEAD, GAIN, SMAX = 1.5, 0.015625, 0.04, 96.0, 0.1\n"
	"local function max(a, b) if a > b then return a end return b end\n"
	"local function min(a, b) if a < b then return a end return b end\n"
	"local function sign(a)\n"
	"  if a > 0 then return 1 elseif a < 0 then return -1 end return 0\n"
	"end\n"
	"local function step(n, d, t)\n"
	"  local rm = d * (K / (n + 1))\n"
	"  if not rel then return max(rm, eta) end\n"
	"  if rm > max(eta_min, eta * d) then return rm end\n"
	"  local b = 1.0 + GAIN * max(0.0, t * t - DEAD)\n"
	"  return max(eta_min * b, min(SMAX, eta * b) * d)\n"
	"end\n"
	"local out = {}\n"
	"for i, key in ipairs(KEYS) do\n"
	"  local x = struct.unpack('<d', ARGV[2 + i])\n"
	"  local old = redis.call('GET', key)\n"
	"  local m, d, u, v, n, nd = 0, 0, 0, 0, 0, 0\n"
	"  if old then\n"
	"    if #old ~= 48 then return redis.error_reply('darter: ' .. key .. ': not a state') "
	"end\n"
	"    m, d, u, v, n, nd = struct.unpack('<dddddd', old)\n"
	"  end\n"
	"  out[i] = old or ''\n"
	"  if n == 0 then\n"
	"    m, n = x, 1\n"
	"  else\n"
	"    local dev = math.abs(x - m)\n"
	"    local sm, sd = sign(x - m), sign(dev - d)\n"
	"    local d0 = d\n"
	"    if n == 1 then\n"
	"      d, nd = dev, 1\n"
	"    else\n"
	"      d = max(0.0, d0 + step(n, d0, v) * sd)\n"
	"      v = v + W * (sd - v)\n"
	"      nd = nd + 1\n"
	"    end\n"
	"    m = m + step(n, d0, u) * sm\n"
	"    u = u + W * (sm - u)\n"
	"    n = n + 1\n"
	"  end\n"
	"  redis.call('SET', key, struct.pack('<dddddd', m, d, u, v, n, nd))\n"
	"end\n"
	"return out\n";

/* ------------------------------------------------------------------ */
/* State                                                              */
/* ------------------------------------------------------------------ */

/* What one record updates: spec index, estimator, metric value. */
struct score_batch {
	unsigned n;
	uint8_t spec[SCORE_MAX_SPECS];
	struct score_entry *entry[SCORE_MAX_SPECS];
	double x[SCORE_MAX_SPECS];
};

/* A record in flight. */
struct score_slot {
	struct score_slot *next_free;
	struct score *s;
	struct flow_record rec;
	struct score_batch b;
};

struct score_redis {
	struct rconn *c;
	struct rconn_script *script;
	struct score_slot *slots; /* redis_window of them */
	struct score_slot *free;
	bool up;		      /* false from a fallback (warned) to the next good reply */
	bool warned_full;	      /* window full: warned once */
	bool log1p[SCORE_MAX_SPECS];  /* transform client side */
	bool global[SCORE_MAX_SPECS]; /* head is the whole key */
	char mode[2], etas[16];	      /* etas: eta, eta_min as '<dd' */
	size_t head_len[SCORE_MAX_SPECS];
	char head[SCORE_MAX_SPECS][REDIS_HEAD_MAX]; /* key up to the group key; global: all */
	/* scratch for one call; rconn copies the arguments */
	char keys[SCORE_MAX_SPECS][REDIS_KEY_MAX];
	char vals[SCORE_MAX_SPECS][8]; /* '<d' */
	const char *argv[REDIS_ARGS + 2 * SCORE_MAX_SPECS];
	size_t argvlen[REDIS_ARGS + 2 * SCORE_MAX_SPECS];
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

/* Rebuild the estimator *e held before the update from the reply's element at. */
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

/*
 * Replay b's updates on the states the server held before them: the
 * results, and the states it stored, which become the local copies. All
 * or nothing: false leaves every local copy untouched.
 */
static bool
reply_apply(struct score *s, const struct rconn_reply *reply, const struct score_batch *b,
	    struct score_result *res, unsigned *n)
{
	struct mad tmp[SCORE_MAX_SPECS];

	if (reply->type != RCONN_TYPE_ARRAY || reply->elements != (size_t)b->n)
		return false;
	for (unsigned k = 0; k < b->n; k++) {
		tmp[k] = b->entry[k]->est;
		if (!parse_state(reply, k, &tmp[k]))
			return false;
	}
	*n = 0;
	for (unsigned k = 0; k < b->n; k++) {
		struct mad_result mr;

		if (score_unlikely(mad_update(&tmp[k], b->x[k], &mr) != 0)) {
			s->st.skipped++;
			continue;
		}
		b->entry[k]->est = tmp[k];
		s->st.updates++;
		s->st.outliers += mr.outlier;
		score_result_fill(s, b->spec[k], b->entry[k], b->x[k], &mr, &res[*n]);
		res[(*n)++].remote = 1;
	}
	return true;
}

static void
on_reply(struct rconn *c, enum rconn_result res, const struct rconn_reply *reply, void *arg)
{
	struct score_slot *sl = arg;
	struct score *s = sl->s;
	struct score_redis *r = s->redis;
	struct flow_record rec = sl->rec; /* the slot is free again before done runs */
	struct score_batch b = sl->b;
	struct score_result out[SCORE_MAX_SPECS];
	unsigned n;

	(void)c;
	sl->next_free = r->free;
	r->free = sl;
	s->st.redis_pending--;
	if (res == RCONN_RESULT_OK && reply_apply(s, reply, &b, out, &n)) {
		s->st.redis_replies++;
		if (score_unlikely(!r->up)) {
			r->up = true;
			LOG_NOTICE(SCORE_TAG, "redis %s:%u answers again", s->conf.redis_host,
				   (unsigned)s->conf.redis_port);
		}
		score_done_call(s, &rec, out, n);
		return;
	}
	if (res == RCONN_RESULT_OK || res == RCONN_RESULT_SERVER_ERROR) {
		s->st.redis_errors++;
		warn_down(s, res == RCONN_RESULT_SERVER_ERROR ? reply->str : "malformed reply");
	} else if (res != RCONN_RESULT_CLOSED) {
		warn_down(s, rconn_result_name(res));
	}
	fallback(s, &rec, &b);
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

/* Fill r->argv: the keys, then step mode, packed etas, the packed values. Returns argc. */
static int
build_argv(struct score_redis *r, const struct score_batch *b)
{
	unsigned n = b->n;

	for (unsigned k = 0; k < n; k++) {
		const struct score_entry *e = b->entry[k];
		unsigned i = b->spec[k];
		size_t len = r->head_len[i];
		double v = r->log1p[i] ? log1p(b->x[k]) : b->x[k];

		memcpy(r->keys[k], r->head[i], len);
		if (!r->global[i]) {
			memcpy(r->keys[k] + len, e->name, e->name_len);
			len += e->name_len;
		}
		r->argv[k] = r->keys[k];
		r->argvlen[k] = len;
		le_put_double(r->vals[k], v);
		r->argv[n + REDIS_ARGS + k] = r->vals[k];
		r->argvlen[n + REDIS_ARGS + k] = 8;
	}
	r->argv[n] = r->mode;
	r->argvlen[n] = 1;
	r->argv[n + 1] = r->etas;
	r->argvlen[n + 1] = sizeof(r->etas);
	return (int)(2 * n + REDIS_ARGS);
}

int
score_redis_record(struct score *s, const struct flow_record *rec)
{
	struct score_redis *r = s->redis;
	struct score_slot *sl = r->free;
	struct score_batch b;
	int rc, argc;

	collect(s, rec, &b);
	if (score_unlikely(b.n == 0)) {
		score_done_call(s, rec, NULL, 0);
		return 0;
	}
	rc = -EAGAIN;
	if (score_unlikely(sl == NULL))
		goto local;
	argc = build_argv(r, &b);
	rc = rconn_evalsha(r->c, r->script, on_reply, sl, (int)b.n, argc, r->argv, r->argvlen);
	if (score_unlikely(rc != 0))
		goto local;
	r->free = sl->next_free;
	sl->rec = *rec;
	sl->b = b;
	s->st.redis_calls++;
	s->st.redis_pending++;
	return 0;
local:
	if (rc == -EAGAIN && !r->warned_full) {
		r->warned_full = true;
		LOG_WARN(SCORE_TAG, "redis window of %u calls full: scoring locally meanwhile",
			 (unsigned)s->conf.redis_window);
	} else if (rc != -EAGAIN && rc != -ESHUTDOWN) {
		warn_down(s, rc == -ENOTCONN ? "not connected" : "refused");
	}
	fallback(s, rec, &b);
	return rc == -EAGAIN ? -EAGAIN : 0;
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

static int
slots_alloc(struct score *s)
{
	struct score_redis *r = s->redis;
	uint32_t w = s->conf.redis_window;

	r->slots = calloc(w, sizeof(*r->slots));
	if (r->slots == NULL)
		return -ENOMEM;
	for (uint32_t k = 0; k < w; k++) {
		r->slots[k].s = s;
		r->slots[k].next_free = k + 1 < w ? &r->slots[k + 1] : NULL;
	}
	r->free = &r->slots[0];
	return 0;
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
		.max_pending = s->conf.redis_window,
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
	if (slots_alloc(s) != 0)
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
	return 0;
fail:
	err = errno != 0 ? errno : ENOMEM;
	free(r->slots);
	free(r);
	s->redis = NULL;
	return -err;
}

static void
on_rconn_closed(void *arg)
{
	struct score *s = arg;

	free(s->redis->slots);
	free(s->redis);
	s->redis = NULL;
	score_free(s);
}

void
score_redis_close(struct score *s)
{
	rconn_close(s->redis->c, on_rconn_closed, s);
}
