/*
 * sink_redis.c: EVE lines as PUBLISH, XADD or LPUSH commands on rconn.
 *
 * How: each line becomes one argv command handed to rconn, which
 * pipelines it and gives exactly one callback; the callback settles the
 * line (delivered, or dropped) and refills the window from the queue.
 * The queue is a linear byte buffer plus a ring of line lengths, so a
 * line waiting for the window costs no allocation. The line's length
 * rides in the callback's arg. A timer bounds the linger at close.
 *
 * Not here: retrying a command that failed (a reply lost with the
 * connection may have been executed: retrying could duplicate),
 * SUBSCRIBE-side anything, Redis Cluster.
 */
#include "sink_redis.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rconn.h"

/* One command in flight: its line's length, for the byte counter. */
struct sink_redis_slot {
	struct sink_redis *s;
	uint32_t len;
	uint32_t next_free; /* free list link */
};

#define SINK_REDIS_NIL UINT32_MAX

struct sink_redis {
	struct sink_redis_conf conf; /* strings owned */
	struct rconn *c;
	uv_timer_t timer;	       /* linger at close */
	char maxlen[24];	       /* XADD MAXLEN ~ / LTRIM stop, as text */
	struct sink_redis_slot *slots; /* window of them */
	uint32_t free_slot;
	uint32_t inflight;   /* lines in flight (LTRIMs not included) */
	uint32_t since_trim; /* LPUSH since the last LTRIM */
	bool closing;
	bool rconn_closing;
	sink_close_fn close_cb;
	void *close_arg;
	/* queue: lines waiting for the window */
	char *buf;
	size_t head, tail;
	uint32_t *lens;
	uint32_t lhead, lcount;
	struct sink_stats st;
};

static void sink_redis_pump(struct sink_redis *s);
static void sink_redis_maybe_done(struct sink_redis *s);

/* ------------------------------------------------------------------ */
/* Commands                                                           */
/* ------------------------------------------------------------------ */

static void
sink_redis_reply(struct rconn *c, enum rconn_result res, const struct rconn_reply *reply, void *arg)
{
	struct sink_redis_slot *slot = arg;
	struct sink_redis *s = slot->s;

	(void)c;
	(void)reply;
	if (res == RCONN_RESULT_OK) {
		s->st.lines++;
		s->st.bytes += slot->len;
	} else {
		s->st.dropped++;
		s->st.errors += res != RCONN_RESULT_CLOSED;
		s->st.unsure += res != RCONN_RESULT_SERVER_ERROR;
	}
	slot->next_free = s->free_slot;
	s->free_slot = (uint32_t)(slot - s->slots);
	s->inflight--;
	sink_redis_pump(s);
	sink_redis_maybe_done(s);
}

static void
sink_redis_trim_reply(struct rconn *c, enum rconn_result res, const struct rconn_reply *reply,
		      void *arg)
{
	struct sink_redis *s = arg;

	(void)c;
	(void)reply;
	s->st.errors += res == RCONN_RESULT_SERVER_ERROR;
}

static void
sink_redis_trim(struct sink_redis *s)
{
	const char *argv[4] = {"LTRIM", s->conf.key, "0", s->maxlen};

	if (++s->since_trim < SINK_REDIS_LTRIM_EVERY)
		return;
	if (rconn_command(s->c, sink_redis_trim_reply, s, 4, argv, NULL) == 0)
		s->since_trim = 0;
}

/* Hand one line to rconn: 0, or rconn's -errno (nothing was sent). */
static int
sink_redis_send(struct sink_redis *s, const char *line, size_t len)
{
	const char *argv[8]; /* XADD key MAXLEN ~ n * field line */
	size_t argvlen[8];
	int argc = 0;
	uint32_t i = s->free_slot;
	int rc;

	if (i == SINK_REDIS_NIL)
		return -EAGAIN;
#define ARG(p, n) (argv[argc] = (p), argvlen[argc++] = (n))
	switch (s->conf.mode) {
	case SINK_REDIS_PUBLISH:
		ARG("PUBLISH", 7);
		ARG(s->conf.key, strlen(s->conf.key));
		break;
	case SINK_REDIS_XADD:
		ARG("XADD", 4);
		ARG(s->conf.key, strlen(s->conf.key));
		if (s->conf.maxlen > 0) {
			ARG("MAXLEN", 6);
			ARG("~", 1);
			ARG(s->maxlen, strlen(s->maxlen));
		}
		ARG("*", 1);
		ARG(s->conf.field, strlen(s->conf.field));
		break;
	case SINK_REDIS_LPUSH:
		ARG("LPUSH", 5);
		ARG(s->conf.key, strlen(s->conf.key));
		break;
	}
	ARG(line, len);
#undef ARG
	rc = rconn_command(s->c, sink_redis_reply, &s->slots[i], argc, argv, argvlen);
	if (rc < 0)
		return rc;
	s->free_slot = s->slots[i].next_free;
	s->slots[i].len = (uint32_t)len;
	s->inflight++;
	if (s->conf.mode == SINK_REDIS_LPUSH && s->conf.maxlen > 0)
		sink_redis_trim(s);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Queue                                                              */
/* ------------------------------------------------------------------ */

static void
sink_redis_pop(struct sink_redis *s)
{
	s->head += s->lens[s->lhead];
	s->lhead = (s->lhead + 1) % s->conf.queue_lines;
	if (--s->lcount == 0)
		s->head = s->tail = 0;
}

static bool
sink_redis_push(struct sink_redis *s, const char *line, size_t len)
{
	if (s->lcount >= s->conf.queue_lines || s->conf.queue_bytes - (s->tail - s->head) < len)
		return false;
	if (s->conf.queue_bytes - s->tail < len) {
		memmove(s->buf, s->buf + s->head, s->tail - s->head);
		s->tail -= s->head;
		s->head = 0;
	}
	memcpy(s->buf + s->tail, line, len);
	s->tail += len;
	s->lens[(s->lhead + s->lcount) % s->conf.queue_lines] = (uint32_t)len;
	s->lcount++;
	return true;
}

/* Drop every queued line (Redis down, or linger over). */
static void
sink_redis_drop_queue(struct sink_redis *s)
{
	s->st.dropped += s->lcount;
	s->lcount = 0;
	s->head = s->tail = 0;
}

/* Move queued lines into the window, oldest first. */
static void
sink_redis_pump(struct sink_redis *s)
{
	while (s->lcount > 0 && !s->rconn_closing) {
		int rc = sink_redis_send(s, s->buf + s->head, s->lens[s->lhead]);

		if (rc == -EAGAIN)
			return;
		if (rc < 0) {
			sink_redis_drop_queue(s);
			return;
		}
		sink_redis_pop(s);
	}
}

int
sink_redis_write(struct sink_redis *s, const char *line, size_t len)
{
	int rc;

	s->st.written++;
	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (s->closing)
		rc = -ESHUTDOWN;
	else if (len == 0)
		rc = -EINVAL;
	else if (len > s->conf.queue_bytes)
		rc = -EMSGSIZE;
	else if (s->lcount > 0)
		rc = sink_redis_push(s, line, len) ? 0 : -ENOBUFS;
	else if ((rc = sink_redis_send(s, line, len)) == -EAGAIN)
		rc = sink_redis_push(s, line, len) ? 0 : -ENOBUFS;
	if (rc < 0) {
		s->st.dropped++;
		s->st.errors += rc == -ENOMEM;
	}
	return rc;
}

int
sink_redis_flush(struct sink_redis *s)
{
	if (!s->rconn_closing)
		sink_redis_pump(s);
	return s->lcount == 0 ? 0 : -EAGAIN;
}

void
sink_redis_stats(const struct sink_redis *s, struct sink_stats *st)
{
	struct rconn_stats rs;

	*st = s->st;
	st->queued = s->lcount + s->inflight;
	if (s->c != NULL) {
		rconn_stats(s->c, &rs);
		st->connected = rs.state == RCONN_UP;
		st->reconnects = rs.connects > 0 ? rs.connects - 1 : 0;
	}
}

/* ------------------------------------------------------------------ */
/* Life cycle                                                         */
/* ------------------------------------------------------------------ */

void
sink_redis_conf_defaults(struct sink_redis_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	conf->host = "127.0.0.1";
	conf->port = 6379;
	conf->backoff_min_ms = 100;
	conf->backoff_max_ms = 5000;
	conf->mode = SINK_REDIS_PUBLISH;
	conf->window = SINK_REDIS_DEFAULT_WINDOW;
	conf->queue_lines = SINK_REDIS_DEFAULT_QUEUE_LINES;
	conf->queue_bytes = SINK_REDIS_DEFAULT_QUEUE_BYTES;
	conf->linger_ms = SINK_REDIS_DEFAULT_LINGER;
}

static int
sink_redis_conf_check(struct sink_redis_conf *c)
{
	struct sink_redis_conf d;

	sink_redis_conf_defaults(&d);
	if (c->key == NULL || c->host == NULL || c->port == 0 || c->mode > SINK_REDIS_LPUSH)
		return -EINVAL;
	c->field = c->field ? c->field : "eve";
	c->backoff_min_ms = c->backoff_min_ms ? c->backoff_min_ms : d.backoff_min_ms;
	c->backoff_max_ms = c->backoff_max_ms ? c->backoff_max_ms : d.backoff_max_ms;
	c->window = c->window ? c->window : d.window;
	c->queue_lines = c->queue_lines ? c->queue_lines : d.queue_lines;
	c->queue_bytes = c->queue_bytes ? c->queue_bytes : d.queue_bytes;
	c->linger_ms = c->linger_ms ? c->linger_ms : d.linger_ms;
	if (c->window > RCONN_MAX_PENDING - 64 || c->backoff_min_ms > c->backoff_max_ms)
		return -EINVAL;
	return 0;
}

static void
sink_redis_free(struct sink_redis *s)
{
	free(s->slots);
	free(s->lens);
	free(s->buf);
	free((char *)s->conf.host);
	free((char *)s->conf.key);
	free((char *)s->conf.field);
	free(s);
}

static struct rconn *
sink_redis_rconn(uv_loop_t *loop, const struct sink_redis_conf *c)
{
	struct rconn_conf rc = {
		.host = c->host,
		.port = c->port,
		.timeout_ms = c->timeout_ms,
		.backoff_min_ms = c->backoff_min_ms,
		.backoff_max_ms = c->backoff_max_ms,
		.max_pending = c->window + 64, /* room for LTRIMs */
	};

	return rconn_new(loop, &rc);
}

struct sink_redis *
sink_redis_open(uv_loop_t *loop, const struct sink_redis_conf *conf)
{
	struct sink_redis *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->conf = *conf;
	if (sink_redis_conf_check(&s->conf) < 0) {
		free(s);
		errno = EINVAL;
		return NULL;
	}
	s->conf.host = strdup(s->conf.host);
	s->conf.key = strdup(s->conf.key);
	s->conf.field = strdup(s->conf.field);
	s->buf = malloc(s->conf.queue_bytes);
	s->lens = malloc(s->conf.queue_lines * sizeof(*s->lens));
	s->slots = calloc(s->conf.window, sizeof(*s->slots));
	if (!s->conf.host || !s->conf.key || !s->conf.field || !s->buf || !s->lens || !s->slots)
		goto fail;
	for (uint32_t i = 0; i < s->conf.window; i++) {
		s->slots[i].s = s;
		s->slots[i].next_free = i + 1 < s->conf.window ? i + 1 : SINK_REDIS_NIL;
	}
	snprintf(s->maxlen, sizeof(s->maxlen), "%llu",
		 (unsigned long long)(s->conf.mode == SINK_REDIS_LPUSH ? s->conf.maxlen - 1
								       : s->conf.maxlen));
	s->c = sink_redis_rconn(loop, &s->conf);
	if (s->c == NULL)
		goto fail;
	uv_timer_init(loop, &s->timer);
	s->timer.data = s;
	return s;
fail:
	sink_redis_free(s);
	errno = ENOMEM;
	return NULL;
}

static void
sink_redis_timer_closed(uv_handle_t *h)
{
	struct sink_redis *s = h->data;
	sink_close_fn cb = s->close_cb;
	void *arg = s->close_arg;
	struct sink_stats final;

	sink_redis_stats(s, &final);
	sink_redis_free(s);
	if (cb != NULL)
		cb(arg, &final);
}

/* rconn is gone (every pending command got its callback): close the timer. */
static void
sink_redis_rconn_closed(void *arg)
{
	struct sink_redis *s = arg;

	s->c = NULL;
	assert(s->inflight == 0 && s->lcount == 0);
	uv_close((uv_handle_t *)&s->timer, sink_redis_timer_closed);
}

static void
sink_redis_finish(struct sink_redis *s)
{
	if (s->rconn_closing)
		return;
	s->rconn_closing = true;
	sink_redis_stats(s, &s->st); /* keep connected/reconnects past the client */
	s->st.connected = 0;
	uv_timer_stop(&s->timer);
	sink_redis_drop_queue(s);
	rconn_close(s->c, sink_redis_rconn_closed, s);
}

static void
sink_redis_maybe_done(struct sink_redis *s)
{
	if (s->closing && s->lcount == 0 && s->inflight == 0)
		sink_redis_finish(s);
}

static void
sink_redis_linger_cb(uv_timer_t *t)
{
	sink_redis_finish(t->data);
}

void
sink_redis_close(struct sink_redis *s, sink_close_fn cb, void *arg)
{
	assert(!s->closing);
	s->closing = true;
	s->close_cb = cb;
	s->close_arg = arg;
	if (s->lcount == 0 && s->inflight == 0) {
		sink_redis_finish(s);
		return;
	}
	uv_timer_start(&s->timer, sink_redis_linger_cb, s->conf.linger_ms, 0);
}

/* ------------------------------------------------------------------ */
/* Ops row                                                            */
/* ------------------------------------------------------------------ */

static int
sink_redis_op_write(void *s, const char *key, size_t keylen, const char *line, size_t len)
{
	(void)key;
	(void)keylen;
	return sink_redis_write(s, line, len);
}

static int
sink_redis_op_flush(void *s)
{
	return sink_redis_flush(s);
}

static void
sink_redis_op_stats(const void *s, struct sink_stats *st)
{
	sink_redis_stats(s, st);
}

static void
sink_redis_op_close(void *s, sink_close_fn cb, void *arg)
{
	sink_redis_close(s, cb, arg);
}

const struct sink_ops sink_redis_ops = {
	.name = "redis",
	.write = sink_redis_op_write,
	.flush = sink_redis_op_flush,
	.stats = sink_redis_op_stats,
	.close = sink_redis_op_close,
};
