/*
 * analyze.c: a worker's Lua analyzers: calls, annotations, emits, reload.
 *
 * How: one struct analyzer per script (analyzers/analyzer.h), a tick timer
 * for those that want one. Annotations of the current record are gathered
 * as JSON object members in a buffer the worker formats into the record;
 * emits become one line each in the analyzers' output file. The analyzer
 * host may suspend a call on Redis or queue it behind one: the record is
 * the caller's and goes on at once (analyze.h, "Ordering").
 *
 * Reload, per script, one at a time (a request during one runs again when
 * it ends): prepare the new state with uv_queue_work on libuv's pool; with
 * Redis its setup() then runs on the loop (analyzer_reload_setup(): its
 * connection belongs to this loop) and may suspend; wait until setup() is
 * done (analyzer_ready(): a check handle looks after every loop turn),
 * then swap it in from a loop callback, between two events. The old state
 * stays on the slot's retiring list until analyzer_idle(): an event
 * suspended in it finishes there, nothing is lost. Counters of retired
 * states are kept as deltas since their swap, so totals never go back.
 *
 * Drain (analyze_drain, at the end of input): tick timers stop, the check
 * handle watches every loop turn until no analyzer, old or current, has an
 * event suspended or queued, then tells the worker. A repeating timer of
 * two Redis timeouts ends a drain that stopped moving (rconn bounds every
 * command by one timeout, so this is a stuck state, not a slow Redis).
 *
 * Not here: what scripts may do (the host's sandbox), where the output
 * file goes (the worker opens it).
 */
#include "analyze.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analyzer.h"
#include "eve.h"
#include "log.h"
#include "privdrop.h"

#define ANALYZE_ANN_MAX	    (16u * 1024u)	       /* annotations of one record */
#define ANALYZE_LINE_MAX    (ANALYZER_JSON_MAX + 512u) /* one emitted event */
#define ANALYZE_NAME_MAX    64
#define ANALYZE_RETIRED_MAX 8 /* old states finishing an event, per script */

/* An old state finishing its suspended event; base: its counters at the swap. */
struct analyze_old {
	struct analyzer *an;
	struct analyzer_stats base;
};

struct analyze_slot {
	struct analyze *a;
	struct analyzer *an;
	uv_timer_t tick;
	uv_work_t work;		/* a reload's preparation on the pool */
	struct analyzer *built; /* what the pool's work built (pool thread writes it) */
	struct analyzer *next;	/* prepared, waiting for analyzer_ready() */
	int reloading;		/* asked and not finished */
	int in_pool;		/* the work is queued or running */
	int again;		/* a reload was asked for during one */
	unsigned n_old;
	struct analyze_old old[ANALYZE_RETIRED_MAX];
	char name[ANALYZE_NAME_MAX];
	char err[256];
};

struct analyze {
	uv_loop_t *loop;
	struct analyze_conf conf;
	struct analyze_slot slot[ANALYZE_MAX];
	unsigned n;
	unsigned pending; /* open handles and reloads in the pool */
	int closing;
	uv_check_t check;	/* after each loop turn: ready states, idle old ones */
	uv_timer_t drain_timer; /* a drain's progress check */
	analyze_drained_fn drain_done;
	void *drain_arg;
	uint64_t drain_mark;	   /* progress seen at the last drain_timer tick */
	int draining;		   /* analyze_drain() waits for idle analyzers */
	int input_over;		   /* a drain began: no more ticks */
	int gave_up;		   /* a drain stopped moving: analyze_drain() is over */
	struct analyze_stats st;   /* reloads, reload_errors */
	struct analyze_stats gone; /* what freed old states counted after their swap */
	size_t ann_len;
	char ann[ANALYZE_ANN_MAX];
	char line[ANALYZE_LINE_MAX];
};

/* ----------------------------------------------------- script callbacks */

/* Names darter writes unescaped: [A-Za-z0-9_.-], 1..63 bytes. */
static int
analyze_name_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n < ANALYZE_NAME_MAX &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

static int
analyze_on_annotate(void *user, const char *key, const char *json, size_t len)
{
	struct analyze *a = ((struct analyze_slot *)user)->a;
	size_t need = strlen(key) + len + 4;

	if (!analyze_name_ok(key))
		return -EINVAL;
	if (a->ann_len + need > sizeof(a->ann))
		return -ENOSPC;
	a->ann_len += (size_t)snprintf(a->ann + a->ann_len, sizeof(a->ann) - a->ann_len,
				       "%s\"%s\":", a->ann_len > 0 ? "," : "", key);
	memcpy(a->ann + a->ann_len, json, len);
	a->ann_len += len;
	return 0;
}

/* The slot, not "the call in progress": a resumed call emits from a reply callback. */
static int
analyze_on_emit(void *user, const char *sink, const char *json, size_t len)
{
	struct analyze_slot *s = user;
	struct analyze *a = s->a;
	struct timespec ts;
	char when[32];
	int n;

	if (a->conf.out == NULL && a->conf.on_line == NULL)
		return -ENOSYS;
	if (!analyze_name_ok(sink))
		return -EINVAL;
	clock_gettime(CLOCK_REALTIME, &ts);
	eve_format_time(when, (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u);
	n = snprintf(a->line, sizeof(a->line),
		     "{\"timestamp\":\"%s\",\"event_type\":\"analyzer\",\"darter\":{\"analyzer\":"
		     "\"%s\",\"sink\":\"%s\",\"event\":%.*s}}\n",
		     when, s->name, sink, (int)len, json);
	if (n < 0 || (size_t)n >= sizeof(a->line))
		return -E2BIG;
	if (a->conf.on_line != NULL)
		a->conf.on_line(a->conf.on_line_arg, s->name, sink, a->line, (size_t)n);
	return a->conf.out != NULL ? sink_file_write(a->conf.out, a->line, (size_t)n) : 0;
}

/* ------------------------------------------------------------- events */

void
analyze_flow(struct analyze *a, const struct flow_record *rec, const char **ann, size_t *ann_len)
{
	a->ann_len = 0;
	for (unsigned i = 0; i < a->n; i++) {
		if (!(analyzer_wants(a->slot[i].an) & ANALYZER_WANT_FLOW))
			continue;
		/* 0, an error, -EINPROGRESS or -ENOBUFS: all counted by the host; rec goes on */
		analyzer_flow(a->slot[i].an, rec);
	}
	*ann = a->ann;
	*ann_len = a->ann_len;
}

uint32_t
analyze_room(const struct analyze *a)
{
	uint32_t qmax = a->conf.queue_max ? a->conf.queue_max : ANALYZER_QUEUE_DEFAULT;
	uint32_t room = UINT32_MAX;

	if (a->conf.redis_port == 0)
		return room; /* nothing suspends: nothing queues */
	for (unsigned i = 0; i < a->n; i++) {
		uint32_t pending = a->slot[i].an != NULL ? analyzer_pending(a->slot[i].an) : 0, r;

		r = pending > qmax ? 0 : qmax + 1 - pending; /* one runs (may suspend), qmax wait */
		if (r < room)
			room = r;
	}
	return room;
}

void
analyze_eve(struct analyze *a, const char *type, const char *json, size_t len)
{
	for (unsigned i = 0; i < a->n; i++) {
		if (!analyzer_wants_eve(a->slot[i].an, type))
			continue;
		analyzer_eve(a->slot[i].an, type, json, len);
	}
}

static void
analyze_on_tick(uv_timer_t *t)
{
	struct analyze_slot *s = t->data;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	analyzer_tick(s->an, (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u);
}

static void
analyze_tick_start(struct analyze_slot *s)
{
	uint32_t ms = analyzer_tick_ms(s->an);

	uv_timer_stop(&s->tick);
	if (ms > 0 && !s->a->input_over && (analyzer_wants(s->an) & ANALYZER_WANT_TICK))
		uv_timer_start(&s->tick, analyze_on_tick, ms, ms);
}

/* -------------------------------------------------------------- stats */

/* d += s - base (base NULL: zero). */
static void
analyze_add(struct analyze_stats *d, const struct analyzer_stats *s,
	    const struct analyzer_stats *base)
{
	static const struct analyzer_stats zero;
	const struct analyzer_stats *b = base != NULL ? base : &zero;

	d->calls += s->calls - b->calls;
	d->errors += s->errors - b->errors;
	d->timeouts += s->timeouts - b->timeouts;
	d->mem_errors += s->mem_errors - b->mem_errors;
	d->emits += s->emits - b->emits;
	d->emit_errors += s->emit_errors - b->emit_errors;
	d->annotations += s->annotations - b->annotations;
	d->killed += s->killed - b->killed;
	d->resets += s->resets - b->resets;
	d->disabled += s->disabled - b->disabled;
	d->deferred += s->deferred - b->deferred;
	d->queue_drops += s->queue_drops - b->queue_drops;
	d->abandoned += s->abandoned - b->abandoned;
	d->redis_commands += s->redis_commands - b->redis_commands;
	d->redis_errors += s->redis_errors - b->redis_errors;
	d->late_annotations += s->late_annotations - b->late_annotations;
	d->kill_deferred += s->kill_deferred - b->kill_deferred;
}

_Static_assert(sizeof(struct analyze_stats) % sizeof(uint64_t) == 0,
	       "struct analyze_stats holds uint64_t counters only");

void
analyze_stats_add(struct analyze_stats *sum, const struct analyze_stats *st)
{
	const uint64_t *src = (const uint64_t *)st;
	uint64_t *dst = (uint64_t *)sum;

	/* every field is a uint64_t counter (or gauge): sum them all */
	for (size_t i = 0; i < sizeof(*st) / sizeof(uint64_t); i++)
		dst[i] += src[i];
}

void
analyze_stats(const struct analyze *a, struct analyze_stats *st)
{
	*st = a->st;
	analyze_stats_add(st, &a->gone);
	for (unsigned i = 0; i < a->n; i++) {
		const struct analyze_slot *s = &a->slot[i];

		analyze_add(st, analyzer_stats(s->an), NULL);
		for (unsigned k = 0; k < s->n_old; k++)
			analyze_add(st, analyzer_stats(s->old[k].an), &s->old[k].base);
		st->retiring += s->n_old;
	}
}

/* ------------------------------------------------------------- reload */

static void analyze_maybe_free(struct analyze *a);
static void analyze_reload_slot(struct analyze_slot *s);
static void analyze_on_check(uv_check_t *h);

static void
analyze_check_start(struct analyze *a)
{
	if (!a->closing && !uv_is_active((uv_handle_t *)&a->check))
		uv_check_start(&a->check, analyze_on_check);
}

/* Free old state k of s, keeping what it counted since its swap. */
static void
analyze_old_free(struct analyze_slot *s, unsigned k)
{
	struct analyze_old *o = &s->old[k];

	analyze_add(&s->a->gone, analyzer_stats(o->an), &o->base);
	s->a->gone.abandoned += analyzer_pending(o->an); /* only when not idle: close, overflow */
	analyzer_free(o->an);
	s->old[k] = s->old[--s->n_old];
}

/* The swapped-out state: freed now if idle, else when its last event is done. */
static void
analyze_retire(struct analyze_slot *s, struct analyzer *old)
{
	if (analyzer_idle(old)) {
		analyzer_free(old); /* its counters went on in the new state */
		return;
	}
	if (s->n_old == ANALYZE_RETIRED_MAX) {
		LOG_WARN("analyze", "%s: %u old versions still busy: the oldest is dropped",
			 analyzer_path(s->an), ANALYZE_RETIRED_MAX);
		analyze_old_free(s, 0);
	}
	s->old[s->n_old].an = old;
	s->old[s->n_old].base = *analyzer_stats(old);
	s->n_old++;
	analyze_check_start(s->a);
}

static void
analyze_reload_end(struct analyze_slot *s)
{
	s->reloading = 0;
	if (s->again && !s->a->closing) {
		s->again = 0;
		analyze_reload_slot(s);
	}
}

/* s->next is set: swap it in if its setup() is done, drop it if setup failed. */
static void
analyze_try_swap(struct analyze_slot *s)
{
	struct analyze *a = s->a;
	int rc = analyzer_ready(s->next);

	if (rc == -EINPROGRESS) {
		analyze_check_start(a);
		return;
	}
	if (rc < 0) {
		a->st.reload_errors++;
		LOG_ERR("analyze", "%s: reload failed in setup(), the running version stays: %s",
			analyzer_path(s->an), analyzer_last_error(s->next));
		analyzer_free(s->next);
	} else {
		analyze_retire(s, analyzer_swap(&s->an, s->next));
		a->st.reloads++;
		analyze_tick_start(s);
		LOG_INFO("analyze", "%s: reloaded", analyzer_path(s->an));
	}
	s->next = NULL;
	analyze_reload_end(s);
}

/* A prepared state (NULL: it failed to load, s->err says why). Loop thread. */
static void
analyze_prepared(struct analyze_slot *s, struct analyzer *next)
{
	struct analyze *a = s->a;

	if (a->closing) { /* analyze_close left s->an to us: the pool was reading it */
		analyzer_free(next);
		analyzer_free(s->an);
		s->an = NULL;
		s->reloading = 0;
		return;
	}
	if (next == NULL) {
		a->st.reload_errors++;
		LOG_ERR("analyze", "%s: reload failed, the running version stays: %s",
			analyzer_path(s->an), s->err);
		analyze_reload_end(s);
		return;
	}
	s->next = next;
	analyzer_reload_setup(next); /* Redis: setup() runs here, on the loop */
	analyze_try_swap(s);
}

static void
analyze_reload_work(uv_work_t *w)
{
	struct analyze_slot *s = w->data;

	/* a script another user could rewrite runs with darter's rights: refuse it */
	s->built = NULL;
	if (privdrop_check_path(analyzer_path(s->an), s->err, sizeof(s->err)) == 0)
		s->built = analyzer_reload_prepare(s->an, s->err, sizeof(s->err));
}

static void
analyze_reload_done(uv_work_t *w, int status)
{
	struct analyze_slot *s = w->data;
	struct analyzer *next = s->built;

	(void)status;
	s->built = NULL;
	s->in_pool = 0;
	s->a->pending--;
	analyze_prepared(s, next);
	analyze_maybe_free(s->a);
}

static void
analyze_reload_slot(struct analyze_slot *s)
{
	struct analyze *a = s->a;

	if (s->reloading) {
		s->again = 1;
		return;
	}
	s->reloading = 1;
	s->work.data = s;
	if (uv_queue_work(a->loop, &s->work, analyze_reload_work, analyze_reload_done) != 0) {
		s->reloading = 0;
		a->st.reload_errors++;
		return;
	}
	s->in_pool = 1;
	a->pending++;
}

void
analyze_reload(struct analyze *a)
{
	for (unsigned i = 0; i < a->n && !a->closing; i++)
		analyze_reload_slot(&a->slot[i]);
}

/* ------------------------------------------------------------- drain */

/* Some analyzer, current or retiring, has an event suspended or queued. */
static int
analyze_busy(const struct analyze *a)
{
	for (unsigned i = 0; i < a->n; i++) {
		const struct analyze_slot *s = &a->slot[i];

		if (s->an != NULL && !analyzer_idle(s->an))
			return 1;
		for (unsigned k = 0; k < s->n_old; k++)
			if (!analyzer_idle(s->old[k].an))
				return 1;
	}
	return 0;
}

/* Grows whenever an analyzer gets anywhere: a call, a command, a reply, an event done. */
static uint64_t
analyze_progress(const struct analyze *a)
{
	struct analyze_stats st;
	uint64_t left = 0;

	analyze_stats(a, &st);
	for (unsigned i = 0; i < a->n; i++) {
		const struct analyze_slot *s = &a->slot[i];

		left += s->an != NULL ? analyzer_pending(s->an) : 0;
		for (unsigned k = 0; k < s->n_old; k++)
			left += analyzer_pending(s->old[k].an);
	}
	return st.calls + st.redis_commands + st.redis_errors + st.emits + (UINT32_MAX - left);
}

/* Last thing its caller does: done may close a. */
static void
analyze_drain_end(struct analyze *a)
{
	analyze_drained_fn done = a->drain_done;

	a->draining = 0;
	a->drain_done = NULL;
	uv_timer_stop(&a->drain_timer);
	done(a->drain_arg);
}

static void
analyze_on_drain_timer(uv_timer_t *t)
{
	struct analyze *a = t->data;
	uint64_t mark = analyze_progress(a);
	struct analyze_stats st;

	if (mark != a->drain_mark) {
		a->drain_mark = mark;
		return;
	}
	analyze_stats(a, &st);
	LOG_WARN("analyze",
		 "drain stopped moving: %" PRIu64 " calls, %" PRIu64
		 " redis errors so far; what is left is abandoned",
		 st.calls, st.redis_errors);
	a->gave_up = 1;
	analyze_drain_end(a);
}

int
analyze_drain(struct analyze *a, analyze_drained_fn done, void *arg)
{
	uint64_t ms = a->conf.redis_timeout_ms ? a->conf.redis_timeout_ms
					       : ANALYZER_REDIS_TIMEOUT_DEFAULT;

	if (!a->input_over) {
		a->input_over = 1;
		for (unsigned i = 0; i < a->n; i++)
			uv_timer_stop(&a->slot[i].tick);
	}
	if (a->draining)
		return -EINPROGRESS;
	if (a->gave_up || a->closing || !analyze_busy(a))
		return 0;
	a->draining = 1;
	a->drain_done = done;
	a->drain_arg = arg;
	a->drain_mark = analyze_progress(a);
	uv_timer_start(&a->drain_timer, analyze_on_drain_timer, 2 * ms + 100, 2 * ms + 100);
	analyze_check_start(a);
	return -EINPROGRESS;
}

/* After each loop turn while something waits: swaps due, old states done, a drain. */
static void
analyze_on_check(uv_check_t *h)
{
	struct analyze *a = h->data;
	int busy = 0, drained;

	for (unsigned i = 0; i < a->n; i++) {
		struct analyze_slot *s = &a->slot[i];

		if (s->next != NULL)
			analyze_try_swap(s);
		for (unsigned k = s->n_old; k-- > 0;)
			if (analyzer_idle(s->old[k].an))
				analyze_old_free(s, k);
		busy |= s->next != NULL || s->n_old > 0;
	}
	drained = a->draining && !analyze_busy(a);
	if (!busy && (!a->draining || drained))
		uv_check_stop(h);
	if (drained)
		analyze_drain_end(a);
}

/* ---------------------------------------------------------- lifetime */

/* The script's file name without directory and ".lua", for emitted events. */
static void
analyze_name(char *out, const char *path)
{
	const char *base = strrchr(path, '/');
	size_t n;

	base = base != NULL ? base + 1 : path;
	n = strcspn(base, ".");
	snprintf(out, ANALYZE_NAME_MAX, "%.*s", (int)n, base);
	if (!analyze_name_ok(out))
		snprintf(out, ANALYZE_NAME_MAX, "analyzer");
}

static int
analyze_load(struct analyze *a, unsigned i, char *err, size_t errlen)
{
	struct analyze_slot *s = &a->slot[i];
	struct analyzer_conf ac = {
		.path = a->conf.scripts[i],
		.lua_dir = a->conf.lua_dir,
		.mem_max = a->conf.mem_max,
		.cpu_ms = a->conf.cpu_ms,
		.allow_io = a->conf.allow_io != 0,
		.emit = analyze_on_emit,
		.annotate = analyze_on_annotate,
		.user = s,
		.loop = a->conf.redis_port != 0 ? a->loop : NULL,
		.redis_host = a->conf.redis_host,
		.redis_port = a->conf.redis_port,
		.redis_timeout_ms = a->conf.redis_timeout_ms,
		.queue_max = a->conf.queue_max,
	};
	char why[512];

	s->a = a;
	analyze_name(s->name, ac.path);
	s->an = analyzer_new(&ac, why, sizeof(why));
	if (s->an == NULL) {
		snprintf(err, errlen, "analyzer %s: %s", ac.path, why);
		return -1;
	}
	uv_timer_init(a->loop, &s->tick);
	s->tick.data = s;
	a->pending++; /* the tick handle, until closed */
	a->n = i + 1;
	analyze_tick_start(s);
	return 0;
}

static void
analyze_maybe_free(struct analyze *a)
{
	if (!a->closing || a->pending > 0)
		return;
	free(a);
}

static void
analyze_on_closed(uv_handle_t *h)
{
	struct analyze *a = h->data;

	a->pending--;
	analyze_maybe_free(a);
}

static void
analyze_on_tick_closed(uv_handle_t *h)
{
	struct analyze_slot *s = h->data;

	s->a->pending--;
	analyze_maybe_free(s->a);
}

/*
 * Free the states now (teardown() runs; suspended and queued events are
 * dropped, the host counts them); a pool's work still running frees its
 * result when done. Their Redis connections close on the loop.
 */
static void
analyze_free_states(struct analyze *a)
{
	for (unsigned i = 0; i < a->n; i++) {
		struct analyze_slot *s = &a->slot[i];

		while (s->n_old > 0)
			analyze_old_free(s, s->n_old - 1);
		analyzer_free(s->next);
		s->next = NULL;
		if (!s->in_pool) { /* else the work reads it: analyze_prepared frees it */
			analyzer_free(s->an);
			s->an = NULL;
		}
	}
}

void
analyze_close(struct analyze *a)
{
	if (a == NULL)
		return;
	a->closing = 1;
	analyze_free_states(a);
	a->pending++; /* hold a while closing the handles */
	for (unsigned i = 0; i < a->n; i++)
		uv_close((uv_handle_t *)&a->slot[i].tick, analyze_on_tick_closed);
	uv_close((uv_handle_t *)&a->check, analyze_on_closed);
	uv_close((uv_handle_t *)&a->drain_timer, analyze_on_closed);
	a->pending--;
	analyze_maybe_free(a);
}

struct analyze *
analyze_new(uv_loop_t *loop, const struct analyze_conf *conf, char *err, size_t errlen)
{
	struct analyze *a;

	if (conf->n_scripts > ANALYZE_MAX) {
		snprintf(err, errlen, "more than %d analyzers", ANALYZE_MAX);
		return NULL;
	}
	a = calloc(1, sizeof(*a));
	if (a == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	a->loop = loop;
	a->conf = *conf;
	uv_check_init(loop, &a->check);
	a->check.data = a;
	uv_timer_init(loop, &a->drain_timer);
	a->drain_timer.data = a;
	a->pending = 2; /* the check handle and the drain timer, until closed */
	for (unsigned i = 0; i < conf->n_scripts; i++) {
		if (analyze_load(a, i, err, errlen) < 0) {
			analyze_close(a); /* frees once the loop has closed the handles */
			return NULL;
		}
	}
	return a;
}
