/*
 * worker.c: the worker thread and its libuv loop.
 *
 * Handles on the loop: an async (woken by capture after it enqueues), an
 * idle (keeps draining while a drain turn filled its batch, so a busy
 * worker does not depend on wake-ups), a timer that flushes the sinks
 * every second and applies reopen requests, and a timer that snapshots
 * the MAD state. A drain turn is bounded so the loop stays responsive.
 *
 * Live EVE inputs (a followed file, a Unix socket, a Kafka topic) are
 * read on the same loop and their lines take the path of darter -e. They pause, rather
 * than drop, while the sinks are over WORKER_SINK_HIGH or the Redis
 * window is full, and resume from the retry timer or a Redis reply.
 * They end at worker_stop() (SIGTERM): closed first, then the worker
 * finishes like after a replay. Not done here: spreading one input's
 * lines over several workers (main gives them to worker 0).
 *
 * A record goes to the scorer; its done callback (at once for the local
 * store, on the Redis reply for the redis store) formats and writes it.
 * When the handoff reports every producer done and the rings empty, the
 * worker waits for the scorer's answers in flight, saves the snapshot and
 * closes its handles; the loop then ends by itself and is closed
 * (uv_loop_close must succeed).
 */
#define _GNU_SOURCE
#include "worker.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "analyzer.h"
#include "community.h"
#include "eve.h"
#include "eve_in.h"
#include "input_file.h"
#include "input_kafka.h"
#include "input_unix.h"
#include "outputs.h"
#include "log.h"
#include "sink_file.h"

#define WORKER_BATCH	     256
#define WORKER_TURN_BATCHES  16
#define WORKER_FLUSH_MS	     1000
#define WORKER_LINE_MAX	     4096
#define WORKER_RETRY_MS	     2
#define WORKER_SINK_HIGH     256  /* lines queued in a network sink: a replay waits */
#define WORKER_SINK_WAIT_MS  5000 /* ... for at most this long without progress */
#define WORKER_LIVE_RETRY_MS 50	  /* live inputs paused that long: look for room less often */

struct worker {
	struct worker_conf conf;
	struct handoff *h;
	pthread_t thread;
	int started;
	uv_loop_t loop;
	uv_async_t wake;
	pthread_mutex_t wake_lock; /* capture's wakes against the loop closing */
	int wake_open;		   /* under wake_lock: wake may still be sent */
	uv_idle_t idle;
	uv_timer_t flush;
	uv_timer_t snapshot;
	uv_timer_t retry; /* blocked on full sinks: look for room again */
	unsigned retries; /* retry ticks since room was last found */
	int sink_stuck;	  /* a replay stopped waiting for a sink that takes nothing */

	struct sink_file *eve;
	struct sink_file *outliers;
	struct score *score;	  /* NULL: no MAD scoring */
	struct outputs *out;	  /* network sinks, NULL: none */
	struct analyze *an;	  /* Lua analyzers, NULL: none */
	struct sink_file *an_out; /* their emitted events */
	atomic_uint reload_req;	  /* worker_reload() requests */
	unsigned reload_done;
	struct input_file *in;		 /* EVE input file (-e, or followed), NULL: none */
	struct input_unix *in_unix;	 /* live EVE socket, NULL: none (or closing) */
	struct input_unix *unix_closing; /* ... until its close callback */
	struct input_kafka *in_kafka;	 /* live EVE Kafka topic, NULL: none (or closing) */
	struct input_kafka *kafka_closing;
	uint64_t kafka_errors_logged; /* consumer errors already warned about */
	atomic_uint stop_req;	      /* worker_stop() */
	int stopped;		      /* live inputs closed */
	char in_file[PATH_MAX];
	char in_unix_path[PATH_MAX];
	char in_kafka_brokers[PATH_MAX];
	char in_kafka_topic[PATH_MAX];
	char in_kafka_group[PATH_MAX];
	struct eve_in *eve_in;
	struct analyzer *in_script; /* Lua input script; NULL: none */
	char input_script[PATH_MAX];
	int input_done;	  /* the EVE input reached its end */
	int input_paused; /* the EVE input waits for the scorer's room */
	struct score_conf score_conf;
	char snapshot_path[PATH_MAX];
	char eve_input[PATH_MAX];
	int finishing; /* input done; waiting for the scorer's answers */
	int blocked;   /* draining paused until the scorer has room */
	int finished;  /* handles closing */
	atomic_uint reopen_req;
	unsigned reopen_done;
	struct worker_stats st;
	char line[WORKER_LINE_MAX];
};

/* ------------------------------------------------------------ records */

/* Each outlier of the record as an alert event in the outlier sink. */
static void
worker_write_outliers(struct worker *w, const struct flow_record *r, const struct eve_flow_extra *x)
{
	for (unsigned i = 0; i < x->n_scores; i++) {
		size_t n;

		if (!x->scores[i].outlier)
			continue;
		n = eve_format_outlier(w->line, sizeof(w->line), r, x, i);
		if (n == 0) {
			w->st.format_errors++;
			continue;
		}
		if (w->outliers != NULL)
			sink_file_write(w->outliers, w->line, n);
		if (w->out != NULL)
			outputs_write(w->out, OUTPUTS_ALERT, r->flow_id, w->line, n);
	}
}

/* Write one scored record (n results, maybe 0) to the sinks. */
static void
worker_emit(struct worker *w, const struct flow_record *r, const struct score_result *res,
	    unsigned n_res)
{
	struct eve_flow_extra x = {.scores = res, .n_scores = n_res};
	char cid[COMMUNITY_ID_LEN];
	size_t n;

	if (w->conf.community_id && (r->ip_version == 4 || r->ip_version == 6)) {
		community_id(r, w->conf.community_seed, cid);
		x.community_id = cid;
	}
	if (w->an != NULL)
		analyze_flow(w->an, r, &x.annotations, &x.annotations_len);
	if (w->outliers != NULL || w->out != NULL)
		worker_write_outliers(w, r, &x);
	if (w->eve == NULL && w->out == NULL)
		return;
	n = eve_format_flow(w->line, sizeof(w->line), r, &x);
	if (n == 0) {
		w->st.format_errors++;
		return;
	}
	if (w->eve != NULL)
		sink_file_write(w->eve, w->line, n);
	if (w->out != NULL)
		outputs_write(w->out, OUTPUTS_FLOW, r->flow_id, w->line, n);
}

static void worker_finish(struct worker *w);
static void worker_step(struct worker *w);
static void worker_poll_ctl(struct worker *w);
static unsigned worker_room(const struct worker *w);
static void worker_on_idle(uv_idle_t *idle);
static void worker_unblock(struct worker *w);
static void worker_on_retry(uv_timer_t *t);
static unsigned worker_input_room(const struct worker *w);
static void worker_inputs_resume(struct worker *w);

/* score_done_fn: the record's evidence is ready. */
static void
worker_on_scored(void *arg, const struct flow_record *r, const struct score_result *res, unsigned n)
{
	struct worker *w = arg;

	worker_emit(w, r, res, n);
	if (w->finishing && score_pending(w->score) == 0)
		worker_finish(w);
	else
		worker_unblock(w);
}

/* Draining or reading stopped for lack of room: start again once there is some. */
static void
worker_unblock(struct worker *w)
{
	uint64_t delay = WORKER_RETRY_MS;

	if (!w->blocked && !w->input_paused)
		return;
	if ((w->blocked && worker_room(w) == 0) || (w->input_paused && worker_input_room(w) == 0)) {
		/* Redis replies call back here; sinks do not: look again shortly. A
		   reader that takes nothing for WORKER_SINK_WAIT_MS makes the replay
		   go on, its sink dropping (counted), rather than hang. Live inputs
		   keep waiting (the file and Suricata's socket hold the lines),
		   looking less often. */
		if (++w->retries * WORKER_RETRY_MS >= WORKER_SINK_WAIT_MS) {
			if (w->conf.replay && !w->sink_stuck) {
				w->sink_stuck = 1;
				LOG_WARN("worker",
					 "worker %u: a network sink takes nothing: dropping its "
					 "lines",
					 w->conf.id);
			} else if (!w->conf.replay) {
				delay = WORKER_LIVE_RETRY_MS;
			}
		}
		if (!uv_is_active((uv_handle_t *)&w->retry) && !w->finished)
			uv_timer_start(&w->retry, worker_on_retry, delay, 0);
		return;
	}
	w->retries = 0;
	if (w->blocked) {
		w->blocked = 0;
		uv_idle_start(&w->idle, worker_on_idle);
	}
	if (w->input_paused) {
		w->input_paused = 0;
		worker_inputs_resume(w);
	}
}

static void
worker_on_retry(uv_timer_t *t)
{
	worker_unblock(t->data);
}

static void
worker_record(struct worker *w, const struct flow_record *r)
{
	if (w->score != NULL)
		score_record(w->score, r); /* answers through worker_on_scored */
	else
		worker_emit(w, r, NULL, 0);
}

/* ---------------------------------------------------------- snapshot */

static void
worker_snapshot_save(struct worker *w)
{
	int rc;

	if (w->score == NULL || w->conf.snapshot_path == NULL)
		return;
	rc = score_save(w->score, w->conf.snapshot_path);
	if (rc < 0) {
		w->st.snapshot_errors++;
		LOG_WARN("worker", "worker %u: MAD snapshot %s not saved: %s", w->conf.id,
			 w->conf.snapshot_path, strerror(-rc));
		return;
	}
	w->st.snapshot_saves++;
}

static void
worker_snapshot_load(struct worker *w)
{
	int rc = score_load(w->score, w->conf.snapshot_path);

	if (rc == -ENOENT)
		return;
	if (rc < 0) {
		w->st.snapshot_errors++;
		LOG_WARN("worker", "worker %u: MAD snapshot %s not loaded: %s", w->conf.id,
			 w->conf.snapshot_path, strerror(-rc));
		return;
	}
	LOG_INFO("worker", "worker %u: MAD state loaded from %s", w->conf.id,
		 w->conf.snapshot_path);
}

static void
worker_on_snapshot(uv_timer_t *timer)
{
	worker_snapshot_save(timer->data);
}

/* ------------------------------------------------------ EVE input */

static void
worker_eve_stats(struct worker *w)
{
	const struct eve_in_stats *es;

	if (w->eve_in == NULL)
		return;
	es = eve_in_stats(w->eve_in);
	w->st.eve_lines = es->lines;
	w->st.eve_flows = es->flows;
	w->st.eve_others = es->others;
	w->st.eve_refused = es->refused;
	memcpy(w->st.eve_errors, es->errors, sizeof(w->st.eve_errors));
	if (w->in != NULL)
		w->st.in_file = *input_file_stats(w->in);
	if (w->in_unix != NULL)
		w->st.in_unix = *input_unix_stats(w->in_unix);
	if (w->in_kafka != NULL)
		w->st.in_kafka = *input_kafka_stats(w->in_kafka);
	if (w->in_script != NULL) {
		const struct analyzer_stats *as = analyzer_stats(w->in_script);

		w->st.in_script = (struct worker_script_stats){
			.lines = as->calls,
			.events = as->input_events,
			.errors = as->errors,
			.timeouts = as->timeouts,
			.event_errors = as->input_errors,
		};
	}
}

static void
worker_inputs_pause(struct worker *w)
{
	w->input_paused = 1;
	w->st.eve_paused++;
	if (w->in != NULL)
		input_file_pause(w->in);
	if (w->in_unix != NULL)
		input_unix_pause(w->in_unix);
	if (w->in_kafka != NULL)
		input_kafka_pause(w->in_kafka);
}

static void
worker_inputs_resume(struct worker *w)
{
	if (w->in != NULL)
		input_file_resume_lines(w->in);
	if (w->in_unix != NULL)
		input_unix_resume(w->in_unix);
	if (w->in_kafka != NULL)
		input_kafka_resume(w->in_kafka);
}

/*
 * SIGHUP (worker_reopen): reopen the files before anything more is
 * written, so records drained at SIGTERM right after a rotation land in
 * the new files, not the renamed ones.
 */
static void
worker_poll_reopen(struct worker *w)
{
	unsigned req = atomic_load_explicit(&w->reopen_req, memory_order_relaxed);

	if (req == w->reopen_done)
		return;
	w->reopen_done = req;
	if (w->eve != NULL && sink_file_reopen(w->eve) < 0)
		LOG_WARN("worker", "worker %u: cannot reopen %s: %s", w->conf.id, w->conf.eve_path,
			 strerror(errno));
	if (w->outliers != NULL && sink_file_reopen(w->outliers) < 0)
		LOG_WARN("worker", "worker %u: cannot reopen %s: %s", w->conf.id,
			 w->conf.outliers_path, strerror(errno));
	if (w->an_out != NULL && sink_file_reopen(w->an_out) < 0)
		LOG_WARN("worker", "worker %u: cannot reopen %s: %s", w->conf.id,
			 w->conf.analyzers_path, strerror(errno));
}

/* One EVE event: a flow event becomes a record like capture's; others go to the analyzers. */
static void
worker_eve_event(struct worker *w, const char *line, size_t len)
{
	struct flow_record rec;

	switch (eve_in_parse(w->eve_in, line, len, &rec)) {
	case EVE_IN_FLOW:
		w->st.records++;
		worker_record(w, &rec);
		break;
	case EVE_IN_OTHER:
		if (w->an != NULL)
			analyze_eve(w->an, eve_in_type(w->eve_in), line, len);
		break;
	case EVE_IN_REFUSED:
		LOG_DEBUG("worker", "worker %u: EVE line refused: %s (%s)", w->conf.id,
			  eve_in_error_name(eve_in_last_error(w->eve_in)),
			  eve_in_last_field(w->eve_in));
		break;
	}
}

/* analyzer_input_fn: an event the input script made, parsed as if read. */
static int
worker_on_script_event(void *user, const char *json, size_t len)
{
	worker_eve_event(user, json, len);
	return 0;
}

/*
 * One line from any input: an EVE event, or through the input script
 * first. Then, when the scorer or the sinks have no room, every input
 * pauses (worker_unblock resumes them).
 */
static void
worker_eve_line(struct worker *w, const char *line, size_t len)
{
	worker_poll_ctl(w);
	if (w->in_script != NULL)
		analyzer_input(w->in_script, line, len); /* failures counted by the analyzer */
	else
		worker_eve_event(w, line, len);
	if (!w->input_paused && worker_input_room(w) == 0) {
		worker_inputs_pause(w);
		worker_unblock(w); /* arms the retry when sinks, not Redis, are full */
	}
}

/* input_file_line_cb */
static void
worker_on_file_line(void *arg, const char *line, size_t len)
{
	worker_eve_line(arg, line, len);
}

/* input_unix_line_cb: worker_eve_line pauses the socket itself when needed. */
static int
worker_on_unix_line(void *arg, const char *line, size_t len, uint64_t conn)
{
	(void)conn;
	worker_eve_line(arg, line, len);
	return INPUT_UNIX_CONTINUE;
}

/* input_kafka_line_cb: likewise, worker_eve_line pauses the topic's partitions. */
static int
worker_on_kafka_line(void *arg, const char *line, size_t len)
{
	worker_eve_line(arg, line, len);
	return INPUT_KAFKA_CONTINUE;
}

static void
worker_on_eve_done(void *arg, int status)
{
	struct worker *w = arg;

	if (status < 0)
		LOG_ERR("worker", "worker %u: %s: read error: %s", w->conf.id, w->conf.eve_input,
			strerror(-status));
	w->input_done = 1;
	worker_eve_stats(w);
	worker_step(w);
}

/* The file: read once (-e) or followed (live). */
static int
worker_file_new(struct worker *w, const char *path, int follow)
{
	struct input_file_conf ic;
	int rc;

	input_file_conf_defaults(&ic);
	ic.path = path;
	ic.follow = follow;
	ic.from_end = follow && w->conf.in_file_from_end;
	w->in = input_file_new(&w->loop, &ic, worker_on_file_line,
			       follow ? NULL : worker_on_eve_done, w);
	if (w->in == NULL)
		return -errno;
	rc = input_file_start(w->in);
	if (rc < 0) {
		input_file_close(w->in, NULL);
		w->in = NULL;
		return rc;
	}
	return 0;
}

/* The socket, listening when this returns (main thread, before the loop runs). */
static int
worker_unix_new(struct worker *w)
{
	struct input_unix_conf uc;
	int rc;

	input_unix_conf_defaults(&uc);
	uc.path = w->conf.in_unix;
	uc.kind = w->conf.in_unix_dgram ? INPUT_UNIX_DGRAM : INPUT_UNIX_STREAM;
	if (w->conf.in_unix_uid != 0)
		uc.uid = w->conf.in_unix_uid;
	if (w->conf.in_unix_gid != 0)
		uc.gid = w->conf.in_unix_gid;
	w->in_unix = input_unix_new(&w->loop, &uc, worker_on_unix_line, w);
	if (w->in_unix == NULL)
		return -errno;
	rc = input_unix_start(w->in_unix);
	if (rc < 0) {
		LOG_ERR("worker", "worker %u: EVE socket %s: %s", w->conf.id, w->conf.in_unix,
			strerror(-rc));
		input_unix_close(w->in_unix, NULL);
		w->in_unix = NULL;
		return rc;
	}
	LOG_NOTICE("worker", "worker %u: reading EVE JSON from %s socket %s", w->conf.id,
		   w->conf.in_unix_dgram ? "dgram" : "stream", w->conf.in_unix);
	return 0;
}

/* The Kafka consumer; it joins its group in the background. */
static int
worker_kafka_new(struct worker *w)
{
	struct input_kafka_conf kc;

	input_kafka_conf_defaults(&kc);
	kc.brokers = w->conf.in_kafka_brokers;
	kc.topic = w->conf.in_kafka_topic;
	kc.group = w->conf.in_kafka_group;
	w->in_kafka = input_kafka_new(&w->loop, &kc, worker_on_kafka_line, w);
	if (w->in_kafka == NULL) {
		int rc = errno;

		LOG_ERR("worker", "worker %u: EVE Kafka input: %s", w->conf.id, kc.errstr);
		return -rc;
	}
	LOG_NOTICE("worker",
		   "worker %u: reading EVE JSON from Kafka topic %s (group %s, brokers %s)",
		   w->conf.id, kc.topic, kc.group, kc.brokers);
	return 0;
}

/* Consumer errors (brokers down, unknown topic): one warning per flush tick at most. */
static void
worker_kafka_warn(struct worker *w)
{
	const struct input_kafka_stats *ks;

	if (w->in_kafka == NULL)
		return;
	ks = input_kafka_stats(w->in_kafka);
	if (ks->errors == w->kafka_errors_logged)
		return;
	LOG_WARN("worker", "worker %u: EVE Kafka input: %llu error(s), last: %s", w->conf.id,
		 (unsigned long long)(ks->errors - w->kafka_errors_logged),
		 input_kafka_last_error(w->in_kafka));
	w->kafka_errors_logged = ks->errors;
}

/*
 * The input script, in the analyzers' sandbox (memory cap, CPU limit)
 * but without Redis: on_input runs to its end inside analyzer_input, so
 * lines are turned into events in order and nothing waits at a stop.
 */
static int
worker_script_new(struct worker *w)
{
	struct analyzer_conf ac = {
		.path = w->conf.input_script,
		.mem_max = w->conf.input_script_mem,
		.cpu_ms = w->conf.input_script_cpu_ms,
		.input = worker_on_script_event,
		.user = w,
	};
	char err[512];

	w->in_script = analyzer_new(&ac, err, sizeof(err));
	if (w->in_script == NULL) {
		LOG_ERR("worker", "worker %u: inputs.script: %s", w->conf.id, err);
		return -EINVAL;
	}
	if (!(analyzer_wants(w->in_script) & ANALYZER_WANT_INPUT)) {
		LOG_ERR("worker", "worker %u: inputs.script %s defines no on_input(line)",
			w->conf.id, w->conf.input_script);
		return -EINVAL;
	}
	return 0;
}

/* Every EVE input of the worker, with their parser. */
static int
worker_eve_new(struct worker *w)
{
	int rc = 0;

	w->eve_in = eve_in_new(NULL);
	if (w->eve_in == NULL)
		return -errno;
	if (w->conf.input_script != NULL && (rc = worker_script_new(w)) < 0)
		return rc;
	if (w->conf.eve_input != NULL)
		rc = worker_file_new(w, w->conf.eve_input, 0);
	else if (w->conf.in_file != NULL)
		rc = worker_file_new(w, w->conf.in_file, 1);
	if (rc == 0 && w->conf.in_file != NULL)
		LOG_NOTICE("worker", "worker %u: following EVE file %s", w->conf.id,
			   w->conf.in_file);
	if (rc == 0 && w->conf.in_unix != NULL)
		rc = worker_unix_new(w);
	if (rc == 0 && w->conf.in_kafka_brokers != NULL)
		rc = worker_kafka_new(w);
	return rc;
}

static void
worker_on_unix_closed(void *arg)
{
	struct worker *w = arg;

	w->st.in_unix = *input_unix_stats(w->unix_closing); /* counts what close dropped */
	w->unix_closing = NULL;
}

static void
worker_on_kafka_closed(void *arg)
{
	struct worker *w = arg;

	w->st.in_kafka = *input_kafka_stats(w->kafka_closing); /* counts what close dropped */
	w->kafka_closing = NULL;
}

/* worker_stop(): close the live inputs; the worker then finishes as after a replay. */
static void
worker_inputs_stop(struct worker *w)
{
	if (w->stopped || atomic_load(&w->stop_req) == 0)
		return;
	w->stopped = 1;
	if (w->conf.in_file == NULL && w->conf.in_unix == NULL && w->conf.in_kafka_brokers == NULL)
		return;
	if (w->in != NULL && w->conf.in_file != NULL)
		input_file_drain(w->in); /* what Suricata wrote before the stop */
	worker_eve_stats(w);
	if (w->conf.in_file != NULL && w->in != NULL) {
		input_file_close(w->in, NULL);
		w->in = NULL;
	}
	if (w->in_unix != NULL) {
		input_unix_drain(w->in_unix); /* what Suricata sent before the stop */
		w->unix_closing = w->in_unix;
		w->in_unix = NULL;
		input_unix_close(w->unix_closing, worker_on_unix_closed);
	}
	if (w->in_kafka != NULL) { /* leaves the group, committing what was handed over */
		w->kafka_closing = w->in_kafka;
		w->in_kafka = NULL;
		input_kafka_close(w->kafka_closing, worker_on_kafka_closed);
	}
	w->input_paused = 0;
	w->input_done = 1;
}

/* ------------------------------------------------------------ finish */

static void
worker_on_outputs_closed(void *arg, const struct outputs_stats *final)
{
	struct worker *w = arg;

	w->st.outputs = *final;
}

static void
worker_close_cb(uv_handle_t *handle)
{
	(void)handle;
}

static void worker_finish(struct worker *w);
static void worker_wake_shut(struct worker *w);

static void
worker_on_analyzed(void *arg)
{
	worker_finish(arg);
}

/*
 * Input is over: once the scorer has answered everything in flight and
 * the analyzers have finished their suspended and queued events, save
 * the snapshot, close the scorer and every handle (the loop then ends).
 */
static void
worker_finish(struct worker *w)
{
	if (w->finished)
		return;
	if (w->score != NULL && score_pending(w->score) > 0) {
		w->finishing = 1; /* worker_on_scored calls again */
		return;
	}
	/* the scorer's last records went to the analyzers: now they finish theirs */
	if (w->an != NULL && analyze_drain(w->an, worker_on_analyzed, w) == -EINPROGRESS)
		return; /* worker_on_analyzed calls again */
	w->finished = 1;
	worker_eve_stats(w);
	if (w->in != NULL) {
		input_file_close(w->in, NULL);
		w->in = NULL;
	}
	worker_wake_shut(w);
	uv_close((uv_handle_t *)&w->wake, worker_close_cb);
	uv_close((uv_handle_t *)&w->idle, worker_close_cb);
	uv_close((uv_handle_t *)&w->flush, worker_close_cb);
	uv_close((uv_handle_t *)&w->snapshot, worker_close_cb);
	uv_close((uv_handle_t *)&w->retry, worker_close_cb);
	if (w->an != NULL) {
		analyze_stats(w->an, &w->st.analyzers);
		analyze_close(w->an);
		w->an = NULL;
	}
	if (w->out != NULL) {
		outputs_close(w->out, worker_on_outputs_closed, w); /* drains, then counts */
		w->out = NULL;
	}
	if (w->score != NULL) {
		worker_snapshot_save(w);
		score_stats_get(w->score, &w->st.score);
		score_close(w->score, NULL, NULL);
		w->score = NULL;
	}
}

enum worker_drained {
	WORKER_EMPTY,	/* the rings are empty */
	WORKER_MORE,	/* the turn ended with records left */
	WORKER_BLOCKED, /* the scorer's Redis window is full: wait for replies */
};

/*
 * Records the worker may take now. The redis store answers later, so the
 * rings hold what its window cannot: backpressure instead of scoring
 * around Redis, which would leave the shared estimate behind.
 */
static int
worker_sinks_full(const struct worker *w)
{
	return w->out != NULL && !w->sink_stuck && outputs_queued(w->out) >= WORKER_SINK_HIGH;
}

static unsigned
worker_score_room(const struct worker *w)
{
	unsigned pending, window;

	if (w->score == NULL || w->score_conf.store != SCORE_STORE_REDIS)
		return WORKER_BATCH;
	pending = score_pending(w->score);
	window = w->score_conf.redis_window;
	if (pending >= window)
		return 0;
	return window - pending < WORKER_BATCH ? window - pending : WORKER_BATCH;
}

/* Room in the analyzers' queues (events waiting behind a Redis call),
   less the records the scorer will hand them. */
static unsigned
worker_analyze_room(const struct worker *w, unsigned room)
{
	uint32_t an = w->an != NULL ? analyze_room(w->an) : UINT32_MAX;
	uint32_t scoring = w->score != NULL ? score_pending(w->score) : 0;

	an = an > scoring ? an - scoring : 0;
	return an < room ? an : room;
}

static unsigned
worker_room(const struct worker *w)
{
	/* A replay (-r, -e) waits for its network sinks and its analyzers;
	   live capture never does: they drop and count instead. */
	if (w->conf.replay && worker_sinks_full(w))
		return 0;
	if (w->conf.replay)
		return worker_analyze_room(w, worker_score_room(w));
	return worker_score_room(w);
}

/* EVE inputs always wait for room: their lines are not lost by waiting. */
static unsigned
worker_input_room(const struct worker *w)
{
	return worker_sinks_full(w) ? 0 : worker_analyze_room(w, worker_score_room(w));
}

/* Every input is over: the producers of the handoff, the EVE file and socket. */
static int
worker_inputs_done(struct worker *w)
{
	return (w->h == NULL || handoff_finished(w->h, w->conf.id)) &&
	       (w->in == NULL || w->input_done) && w->in_unix == NULL && w->in_kafka == NULL;
}

/* One bounded drain turn. */
static enum worker_drained
worker_drain(struct worker *w)
{
	struct flow_record *recs[WORKER_BATCH];

	for (int turn = 0; turn < WORKER_TURN_BATCHES; turn++) {
		unsigned room = worker_room(w), n;

		if (room == 0)
			return WORKER_BLOCKED;
		if (w->h == NULL)
			return WORKER_EMPTY;
		n = handoff_dequeue(w->h, w->conf.id, recs, room);
		for (unsigned i = 0; i < n; i++)
			worker_record(w, recs[i]);
		handoff_release(w->h, recs, n);
		w->st.records += n;
		if (n < room)
			return WORKER_EMPTY;
	}
	return WORKER_MORE;
}

/*
 * Drain; keep the idle handle running while records remain; when blocked,
 * worker_on_scored resumes. Once every producer is done, a drain that
 * finds the rings empty is final (records enqueued before the done flag
 * were in the rings when it looked): then finish.
 */
static void
worker_step(struct worker *w)
{
	enum worker_drained d;

	worker_poll_ctl(w);
	worker_inputs_stop(w);
	d = worker_drain(w);

	if (d == WORKER_EMPTY && !w->finished && worker_inputs_done(w))
		d = worker_drain(w);
	if (d == WORKER_MORE) {
		uv_idle_start(&w->idle, worker_on_idle);
		return;
	}
	uv_idle_stop(&w->idle);
	w->blocked = d == WORKER_BLOCKED;
	if (w->blocked)
		worker_unblock(w);
	if (d == WORKER_EMPTY && !w->finished && worker_inputs_done(w))
		worker_finish(w);
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

	if (w->score != NULL)
		score_stats_get(w->score, &w->st.score);
	worker_poll_ctl(w);
	worker_eve_stats(w);
	worker_kafka_warn(w);
	if (w->an != NULL)
		analyze_stats(w->an, &w->st.analyzers);
	if (w->out != NULL)
		outputs_stats(w->out, &w->st.outputs);
	if (w->an_out != NULL)
		sink_file_flush(w->an_out);
	if (w->eve != NULL)
		sink_file_flush(w->eve);
	if (w->outliers != NULL)
		sink_file_flush(w->outliers);
}

/*
 * Reload requests (worker_reload: a signal handler or the ops thread may
 * ask, so it only bumps a counter) are polled here, at every drain turn,
 * EVE line and flush tick. Coalesced: analyze.c runs one reload per
 * script at a time.
 */
static void
worker_poll_ctl(struct worker *w)
{
	unsigned reload = atomic_load_explicit(&w->reload_req, memory_order_relaxed);

	worker_poll_reopen(w);
	if (reload == w->reload_done)
		return;
	w->reload_done = reload;
	if (w->an != NULL)
		analyze_reload(w->an);
}

/*
 * The handoff's wake callback, on a capture lcore. A producer wakes every
 * worker after it marks itself done, and a worker that was already awake
 * may see that mark, finish and close its loop first: uv_async_send on a
 * closed loop aborts. So wakes and the close take turns on wake_lock.
 */
static void
worker_wake(void *arg)
{
	struct worker *w = arg;

	pthread_mutex_lock(&w->wake_lock);
	if (w->wake_open)
		uv_async_send(&w->wake);
	pthread_mutex_unlock(&w->wake_lock);
}

/* No wake from capture reaches w->wake after this. */
static void
worker_wake_shut(struct worker *w)
{
	pthread_mutex_lock(&w->wake_lock);
	w->wake_open = 0;
	pthread_mutex_unlock(&w->wake_lock);
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
	w->wake_open = 1;
	uv_idle_init(&w->loop, &w->idle);
	uv_timer_init(&w->loop, &w->flush);
	uv_timer_init(&w->loop, &w->snapshot);
	uv_timer_init(&w->loop, &w->retry);
	w->retry.data = w;
	w->wake.data = w->idle.data = w->flush.data = w->snapshot.data = w;
	uv_timer_start(&w->flush, worker_on_flush, WORKER_FLUSH_MS, WORKER_FLUSH_MS);
	if (w->conf.snapshot_path != NULL && w->conf.snapshot_interval_s > 0) {
		uint64_t ms = (uint64_t)w->conf.snapshot_interval_s * 1000u;

		uv_timer_start(&w->snapshot, worker_on_snapshot, ms, ms);
	}
	return 0;
fail_loop:
	uv_loop_close(&w->loop);
	return rc;
}

/* analyze_conf.on_line: an emitted event to the network sinks taking it. */
static void
worker_on_analyzer_line(void *arg, const char *analyzer, const char *sink, const char *line,
			size_t len)
{
	struct worker *w = arg;

	if (w->out != NULL)
		outputs_write_analyzer(w->out, analyzer, sink, line, len);
}

/* The worker's Lua analyzers, emitting to their own file and the outputs. */
static int
worker_analyze_new(struct worker *w)
{
	struct analyze_conf ac = *w->conf.analyze;
	char err[512];

	if (w->conf.analyzers_path != NULL &&
	    (w->an_out = sink_file_open(w->conf.analyzers_path)) == NULL) {
		LOG_ERR("worker", "worker %u: %s: %s", w->conf.id, w->conf.analyzers_path,
			strerror(errno));
		return -1;
	}
	ac.out = w->an_out;
	ac.on_line = worker_on_analyzer_line;
	ac.on_line_arg = w;
	w->an = analyze_new(&w->loop, &ac, err, sizeof(err));
	if (w->an == NULL) {
		LOG_ERR("worker", "worker %u: %s", w->conf.id, err);
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/* The scorer on the worker's loop, with the snapshot loaded. */
static int
worker_score_new(struct worker *w)
{
	w->score_conf = *w->conf.score;
	w->conf.score = &w->score_conf;
	w->score = score_new(&w->loop, &w->score_conf, worker_on_scored, w);
	if (w->score == NULL)
		return -errno;
	if (w->conf.snapshot_path != NULL)
		worker_snapshot_load(w);
	return 0;
}

/* Copy *path (if set) into buf, PATH_MAX bytes, and point *path at it. */
static int
worker_copy_path(const char **path, char *buf)
{
	if (*path == NULL)
		return 0;
	if (strlen(*path) >= PATH_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(buf, *path);
	*path = buf;
	return 0;
}

struct worker *
worker_new(const struct worker_conf *conf, struct handoff *h)
{
	struct worker *w = calloc(1, sizeof(*w));
	int rc;

	if (w == NULL)
		return NULL;
	pthread_mutex_init(&w->wake_lock, NULL);
	w->conf = *conf;
	w->h = h;
	if (conf->snapshot_path != NULL) {
		if (strlen(conf->snapshot_path) >= sizeof(w->snapshot_path)) {
			free(w);
			errno = ENAMETOOLONG;
			return NULL;
		}
		strcpy(w->snapshot_path, conf->snapshot_path);
		w->conf.snapshot_path = w->snapshot_path;
	}
	if (worker_copy_path(&w->conf.eve_input, w->eve_input) < 0 ||
	    worker_copy_path(&w->conf.input_script, w->input_script) < 0 ||
	    worker_copy_path(&w->conf.in_file, w->in_file) < 0 ||
	    worker_copy_path(&w->conf.in_unix, w->in_unix_path) < 0 ||
	    worker_copy_path(&w->conf.in_kafka_brokers, w->in_kafka_brokers) < 0 ||
	    worker_copy_path(&w->conf.in_kafka_topic, w->in_kafka_topic) < 0 ||
	    worker_copy_path(&w->conf.in_kafka_group, w->in_kafka_group) < 0 ||
	    (conf->eve_input != NULL &&
	     (conf->in_file != NULL || conf->in_unix != NULL || conf->in_kafka_brokers != NULL))) {
		rc = errno == ENAMETOOLONG ? ENAMETOOLONG : EINVAL;
		free(w);
		errno = rc;
		return NULL;
	}
	if (conf->eve_path != NULL && (w->eve = sink_file_open(conf->eve_path)) == NULL)
		goto fail;
	if (conf->outliers_path != NULL &&
	    (w->outliers = sink_file_open(conf->outliers_path)) == NULL)
		goto fail;
	rc = worker_init_loop(w);
	if (rc < 0) {
		errno = -rc;
		goto fail;
	}
	if (conf->score != NULL && worker_score_new(w) < 0)
		goto fail_loop;
	if (conf->analyze != NULL && worker_analyze_new(w) < 0)
		goto fail_loop;
	if (conf->outputs != NULL) {
		char err[512];

		w->out = outputs_open(&w->loop, conf->outputs, err, sizeof(err));
		if (w->out == NULL) {
			LOG_ERR("worker", "worker %u: %s", conf->id, err);
			errno = EINVAL;
			goto fail_loop;
		}
	}
	if ((conf->eve_input != NULL || conf->in_file != NULL || conf->in_unix != NULL ||
	     conf->in_kafka_brokers != NULL) &&
	    (rc = worker_eve_new(w)) < 0) {
		errno = -rc;
		goto fail_loop;
	}
	if (h != NULL)
		handoff_set_wake(h, conf->id, worker_wake, w);
	return w;
fail_loop:
	rc = errno;
	input_file_close(w->in, NULL);
	input_unix_close(w->in_unix, NULL);
	input_kafka_close(w->in_kafka, NULL);
	if (w->score != NULL)
		score_close(w->score, NULL, NULL);
	analyze_close(w->an);
	if (w->out != NULL)
		outputs_close(w->out, NULL, NULL);
	uv_close((uv_handle_t *)&w->wake, NULL);
	uv_close((uv_handle_t *)&w->idle, NULL);
	uv_close((uv_handle_t *)&w->flush, NULL);
	uv_close((uv_handle_t *)&w->snapshot, NULL);
	uv_close((uv_handle_t *)&w->retry, NULL);
	uv_run(&w->loop, UV_RUN_DEFAULT);
	uv_loop_close(&w->loop);
	errno = rc;
fail:
	rc = errno;
	sink_file_close(w->eve);
	sink_file_close(w->outliers);
	sink_file_close(w->an_out);
	analyzer_free(w->in_script);
	eve_in_free(w->eve_in);
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
	if (w->h != NULL && handoff_thread_register() < 0)
		LOG_WARN("worker", "worker %u: not registered with DPDK: slower record pool",
			 w->conf.id);
	worker_step(w); /* records may predate our wake-up */
	uv_run(&w->loop, UV_RUN_DEFAULT);
	rc = uv_loop_close(&w->loop);
	assert(rc == 0);
	if (w->eve != NULL)
		sink_file_flush(w->eve);
	if (w->outliers != NULL)
		sink_file_flush(w->outliers);
	if (w->h != NULL)
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
worker_reload(struct worker *w)
{
	atomic_fetch_add(&w->reload_req, 1); /* lock-free: signal-safe; the worker polls it */
}

void
worker_stop(struct worker *w)
{
	/*
	 * Only the first stop wakes the loop, and only one that live inputs
	 * keep running: any other may have finished and closed its loop, and
	 * uv_async_send on a closed loop aborts (after darter -r, main stops
	 * workers that may be done already).
	 */
	if (atomic_fetch_add(&w->stop_req, 1) == 0 &&
	    (w->conf.in_file != NULL || w->conf.in_unix != NULL ||
	     w->conf.in_kafka_brokers != NULL))
		uv_async_send(&w->wake); /* async-signal-safe */
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
	st->eve_too_long = st->in_file.too_long + st->in_unix.too_long + st->in_kafka.too_long;
	if (w->eve != NULL) {
		const struct sink_file_stats *ss = sink_file_stats(w->eve);
		st->lines = ss->lines;
		st->dropped = ss->dropped;
		st->write_errors = ss->write_errors;
	}
	if (w->outliers != NULL) {
		const struct sink_file_stats *ss = sink_file_stats(w->outliers);
		st->outlier_lines = ss->lines;
		st->outlier_dropped = ss->dropped;
		st->write_errors += ss->write_errors;
	}
}

void
worker_free(struct worker *w)
{
	if (w == NULL)
		return;
	assert(!w->started);
	sink_file_close(w->eve);
	sink_file_close(w->outliers);
	sink_file_close(w->an_out);
	analyzer_free(w->in_script);
	eve_in_free(w->eve_in);
	pthread_mutex_destroy(&w->wake_lock);
	free(w);
}

/*
 * Every field of struct worker_stats, nested ones included, is a
 * uint64_t counter or gauge: summing them as an array keeps the totals
 * right when a counter is added.
 */
_Static_assert(sizeof(struct worker_stats) % sizeof(uint64_t) == 0,
	       "struct worker_stats holds uint64_t fields only");

void
worker_stats_add(struct worker_stats *sum, const struct worker_stats *st)
{
	uint64_t *d = (uint64_t *)sum;
	const uint64_t *s = (const uint64_t *)st;

	for (size_t i = 0; i < sizeof(*st) / sizeof(uint64_t); i++)
		d[i] += s[i];
}
