/*
 * worker.c: the worker thread and its libuv loop.
 *
 * Handles on the loop: an async (woken by capture after it enqueues), an
 * idle (keeps draining while a drain turn filled its batch, so a busy
 * worker does not depend on wake-ups), and a timer that flushes the sink
 * every second and applies reopen requests. A drain turn is bounded so
 * the loop stays responsive. When the handoff reports every producer done
 * and the rings empty, the worker closes its handles; the loop then ends
 * by itself and is closed (uv_loop_close must succeed).
 */
#define _GNU_SOURCE
#include "worker.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "eve.h"
#include "log.h"
#include "sink_file.h"

#define WORKER_BATCH	    256
#define WORKER_TURN_BATCHES 16
#define WORKER_FLUSH_MS	    1000
#define WORKER_LINE_MAX	    4096

struct worker {
	struct worker_conf conf;
	struct handoff *h;
	pthread_t thread;
	int started;
	uv_loop_t loop;
	uv_async_t wake;
	uv_idle_t idle;
	uv_timer_t flush;
	struct sink_file *eve;
	atomic_uint reopen_req;
	unsigned reopen_done;
	struct worker_stats st;
	char line[WORKER_LINE_MAX];
};

/* ------------------------------------------------------------ records */

static void
worker_record(struct worker *w, const struct flow_record *r)
{
	size_t n;

	if (w->eve == NULL)
		return;
	n = eve_format_flow(w->line, sizeof(w->line), r);
	if (n == 0) {
		w->st.format_errors++;
		return;
	}
	sink_file_write(w->eve, w->line, n);
}

static void
worker_close_cb(uv_handle_t *handle)
{
	(void)handle;
}

static void
worker_finish(struct worker *w)
{
	if (uv_is_closing((uv_handle_t *)&w->wake))
		return;
	uv_close((uv_handle_t *)&w->wake, worker_close_cb);
	uv_close((uv_handle_t *)&w->idle, worker_close_cb);
	uv_close((uv_handle_t *)&w->flush, worker_close_cb);
}

/* One bounded drain turn; returns nonzero if records may remain. */
static int
worker_drain(struct worker *w)
{
	struct flow_record *recs[WORKER_BATCH];

	for (int turn = 0; turn < WORKER_TURN_BATCHES; turn++) {
		unsigned n = handoff_dequeue(w->h, w->conf.id, recs, WORKER_BATCH);

		for (unsigned i = 0; i < n; i++)
			worker_record(w, recs[i]);
		handoff_release(w->h, recs, n);
		w->st.records += n;
		if (n < WORKER_BATCH)
			return 0;
	}
	return 1;
}

static void worker_on_idle(uv_idle_t *idle);

/* Drain; keep the idle handle running while records may remain; finish at the end. */
static void
worker_step(struct worker *w)
{
	if (worker_drain(w)) {
		uv_idle_start(&w->idle, worker_on_idle);
		return;
	}
	uv_idle_stop(&w->idle);
	if (handoff_finished(w->h, w->conf.id)) {
		/* Records enqueued before the producers' done flag are in the rings: drain them. */
		while (worker_drain(w))
			;
		worker_finish(w);
	}
}

static void
worker_on_idle(uv_idle_t *idle)
{
	worker_step(idle->data);
}

static void
worker_on_wake(uv_async_t *async)
{
	worker_step(async->data);
}

static void
worker_on_flush(uv_timer_t *timer)
{
	struct worker *w = timer->data;
	unsigned req = atomic_load(&w->reopen_req);

	if (w->eve == NULL)
		return;
	if (req != w->reopen_done) {
		w->reopen_done = req;
		if (sink_file_reopen(w->eve) < 0)
			LOG_WARN("worker", "worker %u: cannot reopen %s: %s", w->conf.id,
				 w->conf.eve_path, strerror(errno));
	}
	sink_file_flush(w->eve);
}

static void
worker_wake(void *arg)
{
	struct worker *w = arg;

	uv_async_send(&w->wake);
}

/* ---------------------------------------------------------- lifetime */

static int
worker_init_loop(struct worker *w)
{
	int rc = uv_loop_init(&w->loop);

	if (rc < 0)
		return rc;
	rc = uv_async_init(&w->loop, &w->wake, worker_on_wake);
	if (rc < 0)
		goto fail_loop;
	uv_idle_init(&w->loop, &w->idle);
	uv_timer_init(&w->loop, &w->flush);
	w->wake.data = w->idle.data = w->flush.data = w;
	uv_timer_start(&w->flush, worker_on_flush, WORKER_FLUSH_MS, WORKER_FLUSH_MS);
	return 0;
fail_loop:
	uv_loop_close(&w->loop);
	return rc;
}

struct worker *
worker_new(const struct worker_conf *conf, struct handoff *h)
{
	struct worker *w = calloc(1, sizeof(*w));
	int rc;

	if (w == NULL)
		return NULL;
	w->conf = *conf;
	w->h = h;
	if (conf->eve_path != NULL) {
		w->eve = sink_file_open(conf->eve_path);
		if (w->eve == NULL)
			goto fail;
	}
	rc = worker_init_loop(w);
	if (rc < 0) {
		errno = -rc;
		goto fail;
	}
	handoff_set_wake(h, conf->id, worker_wake, w);
	return w;
fail:
	rc = errno;
	sink_file_close(w->eve);
	free(w);
	errno = rc;
	return NULL;
}

static void
worker_pin(struct worker *w)
{
	cpu_set_t set;

	/* Threads made after rte_eal_init inherit lcore 0's affinity: always set ours. */
	if (w->conf.cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(w->conf.cpu, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0)
		LOG_WARN("worker", "worker %u: cannot pin to cpu %d", w->conf.id, w->conf.cpu);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	int rc;

	worker_pin(w);
	if (handoff_thread_register() < 0)
		LOG_WARN("worker", "worker %u: not registered with DPDK: slower record pool",
			 w->conf.id);
	worker_step(w); /* records may predate our wake-up */
	uv_run(&w->loop, UV_RUN_DEFAULT);
	rc = uv_loop_close(&w->loop);
	assert(rc == 0);
	if (w->eve != NULL)
		sink_file_flush(w->eve);
	handoff_thread_unregister();
	return NULL;
}

int
worker_start(struct worker *w)
{
	int rc = pthread_create(&w->thread, NULL, worker_main, w);

	if (rc != 0)
		return -rc;
	w->started = 1;
	return 0;
}

int
worker_join(struct worker *w)
{
	int rc;

	if (!w->started)
		return 0;
	rc = pthread_join(w->thread, NULL);
	w->started = 0;
	return -rc;
}

void
worker_reopen(struct worker *w)
{
	atomic_fetch_add(&w->reopen_req, 1);
}

void
worker_stats_get(const struct worker *w, struct worker_stats *st)
{
	*st = w->st;
	if (w->eve != NULL) {
		const struct sink_file_stats *ss = sink_file_stats(w->eve);
		st->lines = ss->lines;
		st->dropped = ss->dropped;
		st->write_errors = ss->write_errors;
	}
}

void
worker_free(struct worker *w)
{
	if (w == NULL)
		return;
	assert(!w->started);
	sink_file_close(w->eve);
	free(w);
}
