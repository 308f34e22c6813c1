/*
 * outputs.c: open, feed and close a worker's network sinks.
 *
 * How: one struct sink (ops table + instance) per configured kind, with
 * the event types it takes. Writes go straight to the sink, which buffers
 * and counts. Close hands each sink its final counters callback; the
 * last one to finish calls the owner back and frees everything, so the
 * final counts survive the sinks.
 */
#include "outputs.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sink_kafka.h"
#include "sink_redis.h"
#include "sink_unix.h"

static const char *const outputs_names[OUTPUTS_KINDS] = {"unix-socket", "redis", "kafka"};

/* What a sink's close callback needs to find its slot. */
struct outputs_closing {
	struct outputs *o;
	unsigned kind;
};

struct outputs {
	struct sink sink[OUTPUTS_KINDS]; /* impl NULL: not open (or closed) */
	unsigned events[OUTPUTS_KINDS];
	char names[OUTPUTS_KINDS][OUTPUTS_NAMES_MAX][OUTPUTS_NAME_MAX]; /* analyzer filters */
	unsigned n_names[OUTPUTS_KINDS];				/* 0: every analyzer */
	struct sink_stats final[OUTPUTS_KINDS]; /* counters of closed sinks */
	struct outputs_closing ctx[OUTPUTS_KINDS];
	unsigned closing; /* sinks still closing, +1 while outputs_close runs */
	outputs_done_fn done;
	void *done_arg;
};

int
outputs_event_parse(const char *name, unsigned *mask)
{
	if (strcmp(name, "flow") == 0)
		*mask |= OUTPUTS_FLOW;
	else if (strcmp(name, "alert") == 0)
		*mask |= OUTPUTS_ALERT;
	else if (strcmp(name, "analyzer") == 0)
		*mask |= OUTPUTS_ANALYZER;
	else
		return -EINVAL;
	return 0;
}

int
outputs_name_check(const char *name)
{
	size_t n = strlen(name);
	const char *ok = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-";

	return n > 0 && n < OUTPUTS_NAME_MAX && strspn(name, ok) == n ? 0 : -EINVAL;
}

/* Copy sink k's analyzer filter; -EINVAL with err set on a bad name or too many. */
static int
outputs_names_copy(struct outputs *o, const struct outputs_conf *c, unsigned k, char *err,
		   size_t errlen)
{
	if (c->n_analyzers[k] > OUTPUTS_NAMES_MAX) {
		snprintf(err, errlen, "outputs.%s.analyzers: more than %u names", outputs_names[k],
			 OUTPUTS_NAMES_MAX);
		return -EINVAL;
	}
	for (unsigned i = 0; i < c->n_analyzers[k]; i++) {
		if (outputs_name_check(c->analyzers[k][i]) < 0) {
			snprintf(err, errlen, "outputs.%s.analyzers: '%s' is not an analyzer name",
				 outputs_names[k], c->analyzers[k][i]);
			return -EINVAL;
		}
		strcpy(o->names[k][i], c->analyzers[k][i]);
	}
	o->n_names[k] = c->n_analyzers[k];
	return 0;
}

static int
outputs_open_one(struct outputs *o, uv_loop_t *loop, const struct outputs_conf *c, unsigned k,
		 char *err, size_t errlen)
{
	void *impl = NULL;

	if (outputs_names_copy(o, c, k, err, errlen) < 0)
		return -1;
	if (k == OUTPUTS_UNIX) {
		struct sink_unix_conf uc;

		sink_unix_conf_defaults(&uc);
		uc.path = c->unix_path;
		uc.kind = c->unix_dgram ? SINK_UNIX_DGRAM : SINK_UNIX_STREAM;
		if (c->linger_ms != 0)
			uc.linger_ms = c->linger_ms;
		impl = sink_unix_open(loop, &uc);
		o->sink[k].ops = &sink_unix_ops;
	} else if (k == OUTPUTS_REDIS) {
		struct sink_redis_conf rc;

		sink_redis_conf_defaults(&rc);
		rc.host = c->redis_host;
		rc.port = c->redis_port;
		rc.mode = (enum sink_redis_mode)c->redis_mode;
		rc.key = c->redis_key;
		rc.maxlen = c->redis_max_len;
		if (c->linger_ms != 0)
			rc.linger_ms = c->linger_ms;
		impl = sink_redis_open(loop, &rc);
		o->sink[k].ops = &sink_redis_ops;
	} else {
		struct sink_kafka_conf kc;

		sink_kafka_conf_defaults(&kc);
		kc.brokers = c->kafka_brokers;
		kc.topic = c->kafka_topic;
		if (c->linger_ms != 0)
			kc.close_timeout_ms = c->linger_ms;
		impl = sink_kafka_open(loop, &kc);
		o->sink[k].ops = &sink_kafka_ops;
		if (impl == NULL) {
			snprintf(err, errlen, "outputs.kafka: %s", kc.errstr);
			return -1;
		}
	}
	if (impl == NULL) {
		snprintf(err, errlen, "outputs.%s: %s", outputs_names[k], strerror(errno));
		return -1;
	}
	o->sink[k].impl = impl;
	o->events[k] = c->events[k];
	return 0;
}

struct outputs *
outputs_open(uv_loop_t *loop, const struct outputs_conf *conf, char *err, size_t errlen)
{
	struct outputs *o = calloc(1, sizeof(*o));

	if (o == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (unsigned k = 0; k < OUTPUTS_KINDS; k++) {
		if (conf->events[k] != 0 && outputs_open_one(o, loop, conf, k, err, errlen) < 0) {
			outputs_close(o, NULL, NULL); /* frees o once the open ones closed */
			return NULL;
		}
	}
	return o;
}

void
outputs_write(struct outputs *o, unsigned type, uint64_t key, const char *line, size_t len)
{
	char k[24];
	int klen = 0;

	for (unsigned i = 0; i < OUTPUTS_KINDS; i++) {
		if (o->sink[i].impl == NULL || !(o->events[i] & type))
			continue;
		if (klen == 0)
			klen = snprintf(k, sizeof(k), "%" PRIu64, key);
		sink_write(&o->sink[i], k, (size_t)klen, line,
			   len); /* refusals are counted there */
	}
}

/* Sink k takes events of this analyzer or emit sink name. */
static int
outputs_admits(const struct outputs *o, unsigned k, const char *analyzer, const char *sink)
{
	if (o->n_names[k] == 0)
		return 1;
	for (unsigned i = 0; i < o->n_names[k]; i++)
		if (strcmp(o->names[k][i], analyzer) == 0 || strcmp(o->names[k][i], sink) == 0)
			return 1;
	return 0;
}

void
outputs_write_analyzer(struct outputs *o, const char *analyzer, const char *sink, const char *line,
		       size_t len)
{
	for (unsigned i = 0; i < OUTPUTS_KINDS; i++) {
		if (o->sink[i].impl == NULL || !(o->events[i] & OUTPUTS_ANALYZER) ||
		    !outputs_admits(o, i, analyzer, sink))
			continue;
		sink_write(&o->sink[i], analyzer, strlen(analyzer), line, len);
	}
}

void
outputs_stats(const struct outputs *o, struct outputs_stats *st)
{
	for (unsigned i = 0; i < OUTPUTS_KINDS; i++) {
		if (o->sink[i].impl != NULL)
			sink_stats(&o->sink[i], &st->kind[i]);
		else
			st->kind[i] = o->final[i];
	}
}

/* One close finished (or outputs_close's own hold): the last one reports and frees. */
uint64_t
outputs_queued(const struct outputs *o)
{
	uint64_t most = 0;

	for (unsigned i = 0; i < OUTPUTS_KINDS; i++) {
		struct sink_stats st;

		if (o->sink[i].impl == NULL)
			continue;
		sink_stats(&o->sink[i], &st);
		if (st.queued > most)
			most = st.queued;
	}
	return most;
}

static void
outputs_release(struct outputs *o)
{
	struct outputs_stats st;

	if (--o->closing > 0)
		return;
	if (o->done != NULL) {
		memcpy(st.kind, o->final, sizeof(st.kind));
		o->done(o->done_arg, &st);
	}
	free(o);
}

static void
outputs_on_closed(void *arg, const struct sink_stats *final)
{
	struct outputs_closing *c = arg;

	c->o->final[c->kind] = *final;
	outputs_release(c->o);
}

void
outputs_close(struct outputs *o, outputs_done_fn done, void *arg)
{
	o->done = done;
	o->done_arg = arg;
	o->closing = 1; /* held until every close is started */
	for (unsigned k = 0; k < OUTPUTS_KINDS; k++) {
		if (o->sink[k].impl == NULL)
			continue;
		o->ctx[k] = (struct outputs_closing){o, k};
		o->closing++;
		sink_close(&o->sink[k], outputs_on_closed, &o->ctx[k]); /* sets impl NULL */
	}
	outputs_release(o);
}
