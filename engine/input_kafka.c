/*
 * input_kafka.c: a librdkafka KafkaConsumer driven from a libuv loop.
 *
 * How: the main queue is forwarded to the consumer queue
 * (rd_kafka_poll_set_consumer), which writes a byte into a non-blocking
 * pipe when it turns non-empty; a uv_poll on the pipe, a backstop timer
 * and, while a turn left work, an idle handle take batches with
 * rd_kafka_consume_batch_queue(timeout 0). Callbacks (rebalance, offset
 * commits, errors) run from those calls, so on the loop thread: no
 * locks. A batch's messages not yet delivered (paused in the middle)
 * stay in k->pend and come first at resume. Offsets are stored after
 * each line is handed over; librdkafka's auto commit writes them.
 *
 * Close: rd_kafka_consumer_close_queue() leaves the group in the
 * background (committing); the timer serves its queue until the
 * consumer is closed or the deadline passes, then destroys it.
 *
 * Not here: parsing (the callback's), several topics, seeking, producing.
 */
#define _GNU_SOURCE
#include "input_kafka.h"
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

#define INPUT_KAFKA_BATCH	  64
#define INPUT_KAFKA_TURN_BATCHES  16
#define INPUT_KAFKA_CLOSE_TICK_MS 10

struct input_kafka {
	uv_loop_t *loop;
	rd_kafka_t *rk;
	rd_kafka_queue_t *q;	  /* the consumer queue (main queue forwarded to it) */
	rd_kafka_queue_t *closeq; /* closing: the consumer's events come here */
	int pipefd[2];
	uv_poll_t poll;
	uv_timer_t timer;
	uv_idle_t more; /* a turn ended with messages left */
	unsigned handles;
	input_kafka_line_cb on_line;
	void *arg;
	input_kafka_close_cb on_close;
	uint32_t max_line;
	uint32_t poll_ms;
	uint32_t close_timeout_ms;
	uint64_t close_deadline;
	bool paused;
	bool closing;
	rd_kafka_message_t *pend[INPUT_KAFKA_BATCH]; /* pend[pend_i..pend_n): not delivered */
	size_t pend_i;
	size_t pend_n;
	struct input_kafka_stats st;
	char err[256];
};

/* ------------------------------------------------------------------ */
/* librdkafka callbacks (run from our queue serves, on the loop)      */
/* ------------------------------------------------------------------ */

static void
input_kafka_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct input_kafka *k = opaque;

	(void)rk;
	k->st.errors++;
	snprintf(k->err, sizeof(k->err), "%s: %s", rd_kafka_err2name(err), reason);
}

/* Quiet: errors reach error_cb. */
static void
input_kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	(void)level;
	(void)fac;
	(void)buf;
}

static void
input_kafka_committed(rd_kafka_t *rk, rd_kafka_resp_err_t err,
		      rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
	struct input_kafka *k = opaque;

	(void)rk;
	(void)offsets;
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
		k->st.commits++;
	else if (err != RD_KAFKA_RESP_ERR__NO_OFFSET) /* nothing new to commit */
		k->st.commit_errors++;
}

static void
input_kafka_count_partitions(struct input_kafka *k)
{
	rd_kafka_topic_partition_list_t *l;

	if (rd_kafka_assignment(k->rk, &l) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return;
	k->st.partitions = (uint64_t)l->cnt;
	rd_kafka_topic_partition_list_destroy(l);
}

static bool
input_kafka_in_list(const rd_kafka_topic_partition_list_t *l, const rd_kafka_message_t *m)
{
	for (int i = 0; i < l->cnt; i++) {
		if (l->elems[i].partition == m->partition &&
		    strcmp(l->elems[i].topic, rd_kafka_topic_name(m->rkt)) == 0)
			return true;
	}
	return false;
}

/* Revoked partitions: their undelivered messages belong to the next owner. */
static void
input_kafka_forget(struct input_kafka *k, const rd_kafka_topic_partition_list_t *l)
{
	size_t keep = k->pend_i;

	for (size_t i = k->pend_i; i < k->pend_n; i++) {
		if (input_kafka_in_list(l, k->pend[i])) {
			k->st.revoked++;
			rd_kafka_message_destroy(k->pend[i]);
		} else {
			k->pend[keep++] = k->pend[i];
		}
	}
	k->pend_n = keep;
}

static void
input_kafka_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
		      rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct input_kafka *k = opaque;
	bool coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
	rd_kafka_error_t *e = NULL;

	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		k->st.assigns++;
		if (coop)
			e = rd_kafka_incremental_assign(rk, parts);
		else
			rd_kafka_assign(rk, parts);
		if (k->paused)
			rd_kafka_pause_partitions(rk, parts);
	} else {
		if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
			k->st.revokes++;
		else
			k->st.errors++;
		input_kafka_forget(k, parts);
		if (coop)
			e = rd_kafka_incremental_unassign(rk, parts);
		else
			rd_kafka_assign(rk, NULL);
	}
	if (e != NULL) {
		k->st.errors++;
		snprintf(k->err, sizeof(k->err), "rebalance: %s", rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
	}
	input_kafka_count_partitions(k);
}

/* ------------------------------------------------------------------ */
/* Delivery                                                           */
/* ------------------------------------------------------------------ */

/* One line of a message: handed over, or skipped and counted. 1: the worker asked to pause. */
static int
input_kafka_line(struct input_kafka *k, const char *p, size_t len)
{
	if (len > 0 && p[len - 1] == '\r')
		len--;
	if (len == 0) {
		k->st.empty++;
		return 0;
	}
	if (len > k->max_line) {
		k->st.too_long++;
		return 0;
	}
	k->st.lines++;
	return k->on_line(k->arg, p, len) == INPUT_KAFKA_PAUSE;
}

/*
 * One message: its lines (one event, or several separated by '\n' as
 * forwarders that batch write them) handed over, then its offset stored.
 * A pause takes effect after the whole message: its offset is one commit.
 */
static void
input_kafka_message(struct input_kafka *k, const rd_kafka_message_t *m)
{
	const char *p = m->payload, *nl;
	size_t len = m->len;
	int pause = 0;

	if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
			return;
		k->st.errors++;
		snprintf(k->err, sizeof(k->err), "%s: %s", rd_kafka_err2name(m->err),
			 rd_kafka_message_errstr(m));
		return;
	}
	k->st.messages++;
	k->st.bytes += len;
	if (len > 0 && p[len - 1] == '\n')
		len--; /* a final newline ends the last line, it does not start an empty one */
	while (len > 0 && (nl = memchr(p, '\n', len)) != NULL) {
		pause |= input_kafka_line(k, p, (size_t)(nl - p));
		len -= (size_t)(nl - p) + 1;
		p = nl + 1;
	}
	pause |= input_kafka_line(k, p, len);
	if (pause)
		input_kafka_pause(k);
	/* handed over (or skipped for good): commit past it. Fails only when revoked. */
	rd_kafka_offset_store(m->rkt, m->partition, m->offset);
}

/* Hand over the taken messages until paused or closed. */
static void
input_kafka_deliver(struct input_kafka *k)
{
	while (k->pend_i < k->pend_n && !k->paused && !k->closing) {
		rd_kafka_message_t *m = k->pend[k->pend_i++];

		input_kafka_message(k, m);
		rd_kafka_message_destroy(m);
	}
}

static void input_kafka_more(uv_idle_t *idle);

/*
 * A bounded turn: take batches and deliver them. Paused with nothing
 * taken, one batch is still taken (serving rebalances and errors, and
 * keeping us in the group); it waits in pend for the resume.
 */
static void
input_kafka_serve(struct input_kafka *k)
{
	char junk[64];

	while (read(k->pipefd[0], junk, sizeof(junk)) > 0)
		; /* before the take: a message arriving after it writes again */
	for (int b = 0; b < INPUT_KAFKA_TURN_BATCHES && !k->closing; b++) {
		if (k->pend_i == k->pend_n) {
			ssize_t n =
				rd_kafka_consume_batch_queue(k->q, 0, k->pend, INPUT_KAFKA_BATCH);

			k->pend_i = 0;
			k->pend_n = n > 0 ? (size_t)n : 0;
			if (n < 0)
				k->st.errors++;
			if (n <= 0)
				return;
		}
		if (k->paused)
			return;
		input_kafka_deliver(k);
		if (k->pend_n < INPUT_KAFKA_BATCH && k->pend_i == k->pend_n)
			return; /* the queue was drained */
	}
	if (!k->closing && !k->paused)
		uv_idle_start(&k->more, input_kafka_more);
}

static void
input_kafka_poll_cb(uv_poll_t *p, int status, int events)
{
	(void)status;
	(void)events;
	input_kafka_serve(p->data);
}

static void
input_kafka_tick(uv_timer_t *t)
{
	input_kafka_serve(t->data);
}

static void
input_kafka_more(uv_idle_t *idle)
{
	uv_idle_stop(idle);
	input_kafka_serve(idle->data);
}

/* Pause or resume every partition assigned now. */
static void
input_kafka_flow(struct input_kafka *k, bool pause)
{
	rd_kafka_topic_partition_list_t *l;

	if (rd_kafka_assignment(k->rk, &l) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return;
	if (pause)
		rd_kafka_pause_partitions(k->rk, l);
	else
		rd_kafka_resume_partitions(k->rk, l);
	rd_kafka_topic_partition_list_destroy(l);
}

void
input_kafka_pause(struct input_kafka *k)
{
	if (k->paused || k->closing)
		return;
	k->paused = true;
	k->st.pauses++;
	uv_idle_stop(&k->more);
	input_kafka_flow(k, true);
}

void
input_kafka_resume(struct input_kafka *k)
{
	if (!k->paused || k->closing)
		return;
	k->paused = false;
	input_kafka_flow(k, false);
	uv_idle_start(&k->more, input_kafka_more); /* a later turn, not from here */
}

const struct input_kafka_stats *
input_kafka_stats(const struct input_kafka *k)
{
	return &k->st;
}

const char *
input_kafka_last_error(const struct input_kafka *k)
{
	return k->err;
}

/* ------------------------------------------------------------------ */
/* New                                                                */
/* ------------------------------------------------------------------ */

void
input_kafka_conf_defaults(struct input_kafka_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	conf->max_line = INPUT_KAFKA_DEFAULT_LINE;
	conf->poll_ms = INPUT_KAFKA_DEFAULT_POLL_MS;
	conf->close_timeout_ms = INPUT_KAFKA_DEFAULT_CLOSE_MS;
}

static rd_kafka_conf_t *
input_kafka_rdconf(struct input_kafka *k, struct input_kafka_conf *conf)
{
	rd_kafka_conf_t *kc = rd_kafka_conf_new();
	const char *reset = conf->offset_reset ? conf->offset_reset : "earliest";
	const char *const set[][2] = {
		{"bootstrap.servers", conf->brokers},  {"group.id", conf->group},
		{"enable.auto.offset.store", "false"}, {"enable.auto.commit", "true"},
		{"auto.offset.reset", reset},
	};

	if (kafka_conf_apply(kc, set, sizeof(set) / sizeof(set[0]), conf->props, conf->nprops,
			     conf->errstr, sizeof(conf->errstr)) < 0) {
		rd_kafka_conf_destroy(kc);
		return NULL;
	}
	rd_kafka_conf_set_opaque(kc, k);
	rd_kafka_conf_set_error_cb(kc, input_kafka_error);
	rd_kafka_conf_set_log_cb(kc, input_kafka_log);
	rd_kafka_conf_set_rebalance_cb(kc, input_kafka_rebalance);
	rd_kafka_conf_set_offset_commit_cb(kc, input_kafka_committed);
	return kc;
}

/* Consumer, subscribed; errno and conf->errstr on failure. */
static int
input_kafka_consumer(struct input_kafka *k, struct input_kafka_conf *conf)
{
	rd_kafka_conf_t *kc = input_kafka_rdconf(k, conf);
	rd_kafka_topic_partition_list_t *l;
	rd_kafka_resp_err_t err;

	if (kc == NULL)
		return -EINVAL;
	k->rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, conf->errstr, sizeof(conf->errstr));
	if (k->rk == NULL) {
		rd_kafka_conf_destroy(kc);
		return -EIO;
	}
	rd_kafka_poll_set_consumer(k->rk);
	l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(l, conf->topic, RD_KAFKA_PARTITION_UA);
	err = rd_kafka_subscribe(k->rk, l);
	rd_kafka_topic_partition_list_destroy(l);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(conf->errstr, sizeof(conf->errstr), "topic \"%s\": %s", conf->topic,
			 rd_kafka_err2str(err));
		rd_kafka_destroy(k->rk);
		return -EINVAL;
	}
	k->q = rd_kafka_queue_get_consumer(k->rk);
	return 0;
}

/* The pipe librdkafka writes to, its watcher, the timer and the idle. */
static int
input_kafka_events(struct input_kafka *k)
{
	if (pipe2(k->pipefd, O_NONBLOCK | O_CLOEXEC) < 0)
		return -errno;
	if (uv_poll_init(k->loop, &k->poll, k->pipefd[0]) < 0) {
		close(k->pipefd[0]);
		close(k->pipefd[1]);
		return -ENOMEM;
	}
	k->poll.data = k->timer.data = k->more.data = k;
	rd_kafka_queue_io_event_enable(k->q, k->pipefd[1], "1", 1);
	uv_poll_start(&k->poll, UV_READABLE, input_kafka_poll_cb);
	uv_timer_init(k->loop, &k->timer);
	uv_timer_start(&k->timer, input_kafka_tick, 0, k->poll_ms);
	uv_idle_init(k->loop, &k->more);
	k->handles = 3;
	return 0;
}

struct input_kafka *
input_kafka_new(uv_loop_t *loop, struct input_kafka_conf *conf, input_kafka_line_cb on_line,
		void *arg)
{
	struct input_kafka *k;
	int rc;

	conf->errstr[0] = '\0';
	if (conf->brokers == NULL || conf->topic == NULL || conf->group == NULL ||
	    on_line == NULL) {
		snprintf(conf->errstr, sizeof(conf->errstr),
			 "brokers, topic, group and a line callback are required");
		errno = EINVAL;
		return NULL;
	}
	k = calloc(1, sizeof(*k));
	if (k == NULL)
		return NULL;
	k->loop = loop;
	k->on_line = on_line;
	k->arg = arg;
	k->max_line = conf->max_line ? conf->max_line : INPUT_KAFKA_DEFAULT_LINE;
	k->poll_ms = conf->poll_ms ? conf->poll_ms : INPUT_KAFKA_DEFAULT_POLL_MS;
	k->close_timeout_ms =
		conf->close_timeout_ms ? conf->close_timeout_ms : INPUT_KAFKA_DEFAULT_CLOSE_MS;
	rc = input_kafka_consumer(k, conf);
	if (rc == 0 && (rc = input_kafka_events(k)) < 0) {
		snprintf(conf->errstr, sizeof(conf->errstr), "event pipe: %s", strerror(-rc));
		rd_kafka_queue_destroy(k->q);
		rd_kafka_destroy_flags(k->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
	}
	if (rc < 0) {
		free(k);
		errno = -rc;
		return NULL;
	}
	return k;
}

/* ------------------------------------------------------------------ */
/* Close                                                              */
/* ------------------------------------------------------------------ */

static void
input_kafka_handle_closed(uv_handle_t *h)
{
	struct input_kafka *k = h->data;

	if (--k->handles > 0)
		return;
	close(k->pipefd[0]);
	if (k->on_close != NULL)
		k->on_close(k->arg); /* may read the counters */
	free(k);
}

/* Taken, never delivered: not committed, the group reads them again. */
static void
input_kafka_drop_taken(struct input_kafka *k, rd_kafka_message_t **m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (m[i]->err == RD_KAFKA_RESP_ERR_NO_ERROR)
			k->st.dropped++;
		rd_kafka_message_destroy(m[i]);
	}
}

static void
input_kafka_finish(struct input_kafka *k)
{
	rd_kafka_queue_io_event_enable(k->q, -1, NULL, 0);
	rd_kafka_queue_destroy(k->q);
	if (k->closeq != NULL)
		rd_kafka_queue_destroy(k->closeq);
	rd_kafka_destroy_flags(
		k->rk, rd_kafka_consumer_closed(k->rk) ? 0 : RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
	k->rk = NULL;
	close(k->pipefd[1]);
	k->st.partitions = 0;
	uv_poll_stop(&k->poll);
	uv_timer_stop(&k->timer);
	uv_idle_stop(&k->more);
	uv_close((uv_handle_t *)&k->poll, input_kafka_handle_closed);
	uv_close((uv_handle_t *)&k->timer, input_kafka_handle_closed);
	uv_close((uv_handle_t *)&k->more, input_kafka_handle_closed);
}

/* Serve the queue (the rebalance that revokes everything, the last commit) until closed. */
static void
input_kafka_close_tick(uv_timer_t *t)
{
	struct input_kafka *k = t->data;
	rd_kafka_message_t *m[INPUT_KAFKA_BATCH];
	ssize_t n;
	char junk[64];

	while (read(k->pipefd[0], junk, sizeof(junk)) > 0)
		;
	while ((n = rd_kafka_consume_batch_queue(k->q, 0, m, INPUT_KAFKA_BATCH)) > 0)
		input_kafka_drop_taken(k, m, (size_t)n);
	while (k->closeq != NULL &&
	       (n = rd_kafka_consume_batch_queue(k->closeq, 0, m, INPUT_KAFKA_BATCH)) > 0)
		input_kafka_drop_taken(k, m, (size_t)n);
	if (!rd_kafka_consumer_closed(k->rk) && uv_now(k->loop) < k->close_deadline)
		return;
	input_kafka_finish(k);
}

void
input_kafka_close(struct input_kafka *k, input_kafka_close_cb on_close)
{
	rd_kafka_error_t *e;

	if (k == NULL)
		return;
	assert(!k->closing);
	k->closing = true;
	k->on_close = on_close;
	input_kafka_drop_taken(k, k->pend + k->pend_i, k->pend_n - k->pend_i);
	k->pend_i = k->pend_n = 0;
	uv_idle_stop(&k->more);
	uv_poll_stop(&k->poll);
	/* its own queue: close forwards the consumer queue there (not onto itself) */
	k->closeq = rd_kafka_queue_new(k->rk);
	e = rd_kafka_consumer_close_queue(k->rk, k->closeq);
	if (e != NULL) {
		k->st.errors++;
		snprintf(k->err, sizeof(k->err), "close: %s", rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
	}
	uv_update_time(k->loop);
	k->close_deadline = uv_now(k->loop) + k->close_timeout_ms;
	uv_timer_stop(&k->timer);
	uv_timer_start(&k->timer, input_kafka_close_tick, 0, INPUT_KAFKA_CLOSE_TICK_MS);
}
