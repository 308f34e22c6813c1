/*
 * sink_kafka.c: librdkafka producer driven from a libuv loop.
 *
 * How: rd_kafka_produce() with RD_KAFKA_MSG_F_COPY only enqueues; the
 * broker threads of librdkafka send. Their results (delivery reports,
 * errors) wait on the main queue until we poll it: the queue writes a
 * byte into a non-blocking pipe when it becomes non-empty, a uv_poll
 * watches the pipe and serves the queue (rd_kafka_poll with timeout 0),
 * and a timer polls every poll_ms as a backstop. So every callback runs
 * on the loop thread and counters need no locks. Close is a small state
 * machine on the same timer: flush (timeout 0) each tick until the queue
 * is empty or the deadline passes, then purge, serve the purged reports,
 * destroy.
 *
 * Not here: consuming, topic administration, transactions. The only file
 * in darter that includes librdkafka besides engine/input_kafka.c (the consumer).
 */
#define _GNU_SOURCE
#include "sink_kafka.h"
#include "kafka_conf.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#define SINK_KAFKA_CLOSE_TICK_MS 10

struct sink_kafka {
	rd_kafka_t *rk;
	rd_kafka_topic_t *rkt;
	rd_kafka_queue_t *mainq;
	int pipefd[2];
	uv_poll_t poll;
	uv_timer_t timer;
	uint32_t poll_ms;
	uint32_t close_timeout_ms;
	uint64_t close_deadline;
	uv_loop_t *loop;
	uint64_t inflight; /* produced, no delivery report yet */
	unsigned handles;
	bool closing;
	bool ever_up;
	sink_close_fn close_cb;
	void *close_arg;
	struct sink_stats st;
};

/* ------------------------------------------------------------------ */
/* librdkafka callbacks (run from rd_kafka_poll on the loop thread)   */
/* ------------------------------------------------------------------ */

static void
sink_kafka_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct sink_kafka *s = opaque;

	(void)rk;
	assert(s->inflight > 0);
	s->inflight--;
	if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		s->st.lines++;
		s->st.bytes += m->len;
		if (!s->st.connected && s->ever_up)
			s->st.reconnects++;
		s->st.connected = 1;
		s->ever_up = true;
		return;
	}
	s->st.dropped++;
	if (m->err != RD_KAFKA_RESP_ERR__PURGE_QUEUE && m->err != RD_KAFKA_RESP_ERR__PURGE_INFLIGHT)
		s->st.errors++;
	if (rd_kafka_message_status(m) == RD_KAFKA_MSG_STATUS_POSSIBLY_PERSISTED)
		s->st.unsure++;
}

static void
sink_kafka_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct sink_kafka *s = opaque;

	(void)rk;
	(void)reason;
	s->st.errors++;
	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
		s->st.connected = 0;
}

/* librdkafka logs from its own threads: keep them quiet, errors reach error_cb. */
static void
sink_kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	(void)level;
	(void)fac;
	(void)buf;
}

/* ------------------------------------------------------------------ */
/* Loop side                                                          */
/* ------------------------------------------------------------------ */

static void
sink_kafka_serve(struct sink_kafka *s)
{
	char junk[64];

	while (read(s->pipefd[0], junk, sizeof(junk)) > 0)
		;
	rd_kafka_poll(s->rk, 0);
}

static void
sink_kafka_poll_cb(uv_poll_t *p, int status, int events)
{
	(void)status;
	(void)events;
	sink_kafka_serve(p->data);
}

static void
sink_kafka_tick(uv_timer_t *t)
{
	sink_kafka_serve(t->data);
}

int
sink_kafka_write(struct sink_kafka *s, const char *key, size_t keylen, const char *line, size_t len)
{
	int rc;

	s->st.written++;
	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (s->closing || len == 0) {
		s->st.dropped++;
		return s->closing ? -ESHUTDOWN : -EINVAL;
	}
	rc = rd_kafka_produce(s->rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, (void *)line, len,
			      key, key ? keylen : 0, NULL);
	if (rc == 0) {
		s->inflight++;
		return 0;
	}
	s->st.dropped++;
	switch (rd_kafka_last_error()) {
	case RD_KAFKA_RESP_ERR__QUEUE_FULL:
		return -ENOBUFS;
	case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
		return -EMSGSIZE;
	default:
		s->st.errors++;
		return -EIO;
	}
}

int
sink_kafka_flush(struct sink_kafka *s)
{
	if (s->rk != NULL)
		rd_kafka_poll(s->rk, 0);
	return s->inflight == 0 ? 0 : -EAGAIN;
}

void
sink_kafka_stats(const struct sink_kafka *s, struct sink_stats *st)
{
	*st = s->st;
	st->queued = s->inflight;
}

/* ------------------------------------------------------------------ */
/* Open                                                               */
/* ------------------------------------------------------------------ */

void
sink_kafka_conf_defaults(struct sink_kafka_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	conf->queue_lines = SINK_KAFKA_DEFAULT_QUEUE_LINES;
	conf->close_timeout_ms = SINK_KAFKA_DEFAULT_CLOSE_MS;
	conf->poll_ms = SINK_KAFKA_DEFAULT_POLL_MS;
}

static rd_kafka_conf_t *
sink_kafka_rdconf(struct sink_kafka *s, struct sink_kafka_conf *conf)
{
	rd_kafka_conf_t *kc = rd_kafka_conf_new();
	char q[16];
	const char *const set[][2] = {
		{"bootstrap.servers", conf->brokers},
		{"queue.buffering.max.messages", q},
		{"enable.idempotence", "true"},
		{"linger.ms", "5"},
	};
	int rc;

	snprintf(q, sizeof(q), "%u", conf->queue_lines);
	rc = kafka_conf_apply(kc, set, sizeof(set) / sizeof(set[0]), conf->props, conf->nprops,
			      conf->errstr, sizeof(conf->errstr));
	if (rc < 0) {
		rd_kafka_conf_destroy(kc);
		return NULL;
	}
	rd_kafka_conf_set_opaque(kc, s);
	rd_kafka_conf_set_dr_msg_cb(kc, sink_kafka_dr);
	rd_kafka_conf_set_error_cb(kc, sink_kafka_error);
	rd_kafka_conf_set_log_cb(kc, sink_kafka_log);
	return kc;
}

/* Producer and topic; errno and conf->errstr on failure. */
static int
sink_kafka_producer(struct sink_kafka *s, struct sink_kafka_conf *conf)
{
	rd_kafka_conf_t *kc = sink_kafka_rdconf(s, conf);

	if (kc == NULL)
		return -EINVAL;
	s->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, conf->errstr, sizeof(conf->errstr));
	if (s->rk == NULL) {
		rd_kafka_conf_destroy(kc);
		return -EIO;
	}
	s->rkt = rd_kafka_topic_new(s->rk, conf->topic, NULL);
	if (s->rkt == NULL) {
		snprintf(conf->errstr, sizeof(conf->errstr), "topic \"%s\": %s", conf->topic,
			 rd_kafka_err2str(rd_kafka_last_error()));
		rd_kafka_destroy(s->rk);
		s->rk = NULL;
		return -EINVAL;
	}
	return 0;
}

/* The pipe librdkafka writes to, and its watcher. */
static int
sink_kafka_events(struct sink_kafka *s)
{
	if (pipe2(s->pipefd, O_NONBLOCK | O_CLOEXEC) < 0)
		return -errno;
	if (uv_poll_init(s->loop, &s->poll, s->pipefd[0]) < 0) {
		close(s->pipefd[0]);
		close(s->pipefd[1]);
		return -ENOMEM;
	}
	s->poll.data = s;
	s->mainq = rd_kafka_queue_get_main(s->rk);
	rd_kafka_queue_io_event_enable(s->mainq, s->pipefd[1], "1", 1);
	uv_poll_start(&s->poll, UV_READABLE, sink_kafka_poll_cb);
	uv_timer_init(s->loop, &s->timer);
	s->timer.data = s;
	uv_timer_start(&s->timer, sink_kafka_tick, s->poll_ms, s->poll_ms);
	s->handles = 2;
	return 0;
}

struct sink_kafka *
sink_kafka_open(uv_loop_t *loop, struct sink_kafka_conf *conf)
{
	struct sink_kafka *s;
	int rc;

	conf->errstr[0] = '\0';
	if (conf->brokers == NULL || conf->topic == NULL) {
		snprintf(conf->errstr, sizeof(conf->errstr), "brokers and topic are required");
		errno = EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->loop = loop;
	s->poll_ms = conf->poll_ms ? conf->poll_ms : SINK_KAFKA_DEFAULT_POLL_MS;
	s->close_timeout_ms =
		conf->close_timeout_ms ? conf->close_timeout_ms : SINK_KAFKA_DEFAULT_CLOSE_MS;
	if (conf->queue_lines == 0)
		conf->queue_lines = SINK_KAFKA_DEFAULT_QUEUE_LINES;
	rc = sink_kafka_producer(s, conf);
	if (rc == 0 && (rc = sink_kafka_events(s)) < 0) {
		snprintf(conf->errstr, sizeof(conf->errstr), "event pipe: %s", strerror(-rc));
		rd_kafka_topic_destroy(s->rkt);
		rd_kafka_destroy(s->rk);
	}
	if (rc < 0) {
		free(s);
		errno = -rc;
		return NULL;
	}
	return s;
}

/* ------------------------------------------------------------------ */
/* Close                                                              */
/* ------------------------------------------------------------------ */

static void
sink_kafka_handle_closed(uv_handle_t *h)
{
	struct sink_kafka *s = h->data;
	struct sink_stats final;

	if (--s->handles > 0)
		return;
	close(s->pipefd[0]);
	sink_kafka_stats(s, &final);
	if (s->close_cb != NULL) {
		sink_close_fn cb = s->close_cb;
		void *arg = s->close_arg;

		free(s);
		cb(arg, &final);
		return;
	}
	free(s);
}

/* Purge what is left, serve its reports, destroy the producer, close handles. */
static void
sink_kafka_finish(struct sink_kafka *s)
{
	rd_kafka_purge(s->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	for (int i = 0; i < 100 && s->inflight > 0; i++)
		rd_kafka_poll(s->rk, i == 0 ? 0 : 10);
	rd_kafka_queue_io_event_enable(s->mainq, -1, NULL, 0);
	rd_kafka_queue_destroy(s->mainq);
	rd_kafka_topic_destroy(s->rkt);
	rd_kafka_destroy(s->rk);
	s->rk = NULL;
	close(s->pipefd[1]);
	/* reports that never came: librdkafka is gone, the fate of the lines is unknown */
	s->st.dropped += s->inflight;
	s->st.unsure += s->inflight;
	s->inflight = 0;
	s->st.connected = 0;
	uv_poll_stop(&s->poll);
	uv_timer_stop(&s->timer);
	uv_close((uv_handle_t *)&s->poll, sink_kafka_handle_closed);
	uv_close((uv_handle_t *)&s->timer, sink_kafka_handle_closed);
}

static void
sink_kafka_close_tick(uv_timer_t *t)
{
	struct sink_kafka *s = t->data;

	rd_kafka_flush(s->rk, 0); /* send now what linger.ms would hold, serve reports */
	if (s->inflight > 0 && uv_now(s->loop) < s->close_deadline)
		return;
	sink_kafka_finish(s);
}

void
sink_kafka_close(struct sink_kafka *s, sink_close_fn cb, void *arg)
{
	assert(!s->closing);
	s->closing = true;
	s->close_cb = cb;
	s->close_arg = arg;
	uv_update_time(s->loop);
	s->close_deadline = uv_now(s->loop) + s->close_timeout_ms;
	uv_timer_stop(&s->timer);
	uv_timer_start(&s->timer, sink_kafka_close_tick, 0, SINK_KAFKA_CLOSE_TICK_MS);
}

/* ------------------------------------------------------------------ */
/* Ops row                                                            */
/* ------------------------------------------------------------------ */

static int
sink_kafka_op_write(void *s, const char *key, size_t keylen, const char *line, size_t len)
{
	return sink_kafka_write(s, key, keylen, line, len);
}

static int
sink_kafka_op_flush(void *s)
{
	return sink_kafka_flush(s);
}

static void
sink_kafka_op_stats(const void *s, struct sink_stats *st)
{
	sink_kafka_stats(s, st);
}

static void
sink_kafka_op_close(void *s, sink_close_fn cb, void *arg)
{
	sink_kafka_close(s, cb, arg);
}

const struct sink_ops sink_kafka_ops = {
	.name = "kafka",
	.write = sink_kafka_op_write,
	.flush = sink_kafka_op_flush,
	.stats = sink_kafka_op_stats,
	.close = sink_kafka_op_close,
};
