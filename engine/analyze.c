/*
 * analyze.c: a worker's Lua analyzers: calls, annotations, emits, reload.
 *
 * How: one struct analyzer per script (analyzers/analyzer.h), a tick timer
 * for those that want one. Annotations of the current record are gathered
 * as JSON object members in a buffer the worker formats into the record;
 * emits become one line each in the analyzers' output file. A reload
 * prepares each new state with uv_queue_work (libuv's thread pool: the
 * loop keeps serving events meanwhile), and swaps it in from the after-
 * work callback, on the loop, between two events. One reload per script
 * at a time: a request during one runs again when it ends.
 *
 * Not here: what scripts may do (the host's sandbox), where the output
 * file goes (the worker opens it).
 */
#include "analyze.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analyzer.h"
#include "eve.h"
#include "log.h"

#define ANALYZE_ANN_MAX	 (16u * 1024u)		    /* annotations of one record */
#define ANALYZE_LINE_MAX (ANALYZER_JSON_MAX + 512u) /* one emitted event */
#define ANALYZE_NAME_MAX 64

struct analyze_slot {
	struct analyze *a;
	struct analyzer *an;
	uv_timer_t tick;
	uv_work_t work;	       /* a reload's preparation */
	struct analyzer *next; /* what the work built; NULL: it failed */
	int reloading;
	int again; /* a reload was asked for during one */
	char name[ANALYZE_NAME_MAX];
	char err[256];
};

struct analyze {
	uv_loop_t *loop;
	struct analyze_conf conf;
	struct analyze_slot slot[ANALYZE_MAX];
	unsigned n;
	unsigned cur;	  /* slot of the call in progress, for emit */
	unsigned pending; /* open tick handles and reloads in flight */
	int closing;
	struct analyze_stats st;
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
	struct analyze *a = user;
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

static int
analyze_on_emit(void *user, const char *sink, const char *json, size_t len)
{
	struct analyze *a = user;
	struct timespec ts;
	char when[32];
	int n;

	if (a->conf.out == NULL)
		return -ENOSYS;
	if (!analyze_name_ok(sink))
		return -EINVAL;
	clock_gettime(CLOCK_REALTIME, &ts);
	eve_format_time(when, (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u);
	n = snprintf(a->line, sizeof(a->line),
		     "{\"timestamp\":\"%s\",\"event_type\":\"analyzer\",\"darter\":{\"analyzer\":"
		     "\"%s\",\"sink\":\"%s\",\"event\":%.*s}}\n",
		     when, a->slot[a->cur].name, sink, (int)len, json);
	if (n < 0 || (size_t)n >= sizeof(a->line))
		return -E2BIG;
	return sink_file_write(a->conf.out, a->line, (size_t)n);
}

/* ------------------------------------------------------------- events */

void
analyze_flow(struct analyze *a, const struct flow_record *rec, const char **ann, size_t *ann_len)
{
	a->ann_len = 0;
	for (unsigned i = 0; i < a->n; i++) {
		if (!(analyzer_wants(a->slot[i].an) & ANALYZER_WANT_FLOW))
			continue;
		a->cur = i;
		analyzer_flow(a->slot[i].an, rec); /* failures are counted by the host */
	}
	*ann = a->ann;
	*ann_len = a->ann_len;
}

void
analyze_eve(struct analyze *a, const char *type, const char *json, size_t len)
{
	for (unsigned i = 0; i < a->n; i++) {
		if (!analyzer_wants_eve(a->slot[i].an, type))
			continue;
		a->cur = i;
		analyzer_eve(a->slot[i].an, type, json, len);
	}
}

static void
analyze_on_tick(uv_timer_t *t)
{
	struct analyze_slot *s = t->data;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	s->a->cur = (unsigned)(s - s->a->slot);
	analyzer_tick(s->an, (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u);
}

static void
analyze_tick_start(struct analyze_slot *s)
{
	uint32_t ms = analyzer_tick_ms(s->an);

	uv_timer_stop(&s->tick);
	if (ms > 0 && (analyzer_wants(s->an) & ANALYZER_WANT_TICK))
		uv_timer_start(&s->tick, analyze_on_tick, ms, ms);
}

/* ------------------------------------------------------------- reload */

static void analyze_maybe_free(struct analyze *a);

static void
analyze_reload_work(uv_work_t *w)
{
	struct analyze_slot *s = w->data;

	s->next = analyzer_reload_prepare(s->an, s->err, sizeof(s->err));
}

static void analyze_reload_slot(struct analyze_slot *s);

static void
analyze_reload_done(uv_work_t *w, int status)
{
	struct analyze_slot *s = w->data;
	struct analyze *a = s->a;

	(void)status;
	s->reloading = 0;
	a->pending--;
	if (a->closing) {
		analyzer_free(s->next);
	} else if (s->next == NULL) {
		a->st.reload_errors++;
		LOG_ERR("analyze", "%s: reload failed, the running version stays: %s",
			analyzer_path(s->an), s->err);
	} else {
		analyzer_free(analyzer_swap(&s->an, s->next));
		a->st.reloads++;
		analyze_tick_start(s);
		LOG_INFO("analyze", "%s: reloaded", analyzer_path(s->an));
	}
	s->next = NULL;
	if (a->closing) {
		analyze_maybe_free(a);
	} else if (s->again) {
		s->again = 0;
		analyze_reload_slot(s);
	}
}

static void
analyze_reload_slot(struct analyze_slot *s)
{
	if (s->reloading) {
		s->again = 1;
		return;
	}
	s->reloading = 1;
	s->work.data = s;
	if (uv_queue_work(s->a->loop, &s->work, analyze_reload_work, analyze_reload_done) != 0) {
		s->reloading = 0;
		s->a->st.reload_errors++;
		return;
	}
	s->a->pending++;
}

void
analyze_reload(struct analyze *a)
{
	for (unsigned i = 0; i < a->n && !a->closing; i++)
		analyze_reload_slot(&a->slot[i]);
}

/* -------------------------------------------------------------- stats */

void
analyze_stats(const struct analyze *a, struct analyze_stats *st)
{
	*st = a->st;
	for (unsigned i = 0; i < a->n; i++) {
		const struct analyzer_stats *s = analyzer_stats(a->slot[i].an);

		st->calls += s->calls;
		st->errors += s->errors;
		st->timeouts += s->timeouts;
		st->mem_errors += s->mem_errors;
		st->emits += s->emits;
		st->emit_errors += s->emit_errors;
		st->annotations += s->annotations;
	}
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
		.user = a,
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
	if (a->pending > 0)
		return;
	for (unsigned i = 0; i < a->n; i++)
		analyzer_free(a->slot[i].an);
	free(a);
}

static void
analyze_on_tick_closed(uv_handle_t *h)
{
	struct analyze_slot *s = h->data;

	s->a->pending--;
	analyze_maybe_free(s->a);
}

void
analyze_close(struct analyze *a)
{
	if (a == NULL)
		return;
	a->closing = 1;
	a->pending++; /* hold a while closing the handles */
	for (unsigned i = 0; i < a->n; i++)
		uv_close((uv_handle_t *)&a->slot[i].tick, analyze_on_tick_closed);
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
	for (unsigned i = 0; i < conf->n_scripts; i++) {
		if (analyze_load(a, i, err, errlen) < 0) {
			analyze_close(a); /* frees once the loop has closed the timers */
			return NULL;
		}
	}
	return a;
}
