/*
 * ops.c: the ops thread: control socket commands, metrics, periodic stats.
 *
 * How: ops_start() builds the loop and both servers on the caller's
 * thread (so a taken path or port fails the start, with the reason),
 * then a pthread runs the loop. ops_stop() wakes the loop through an
 * async handle; the loop thread closes every handle, the loop ends, the
 * thread is joined. Counters are gathered per request through
 * hooks->collect into a buffer owned by this thread.
 *
 * Not here: what the hooks do (main.c decides), any locking (there is no
 * shared state but the hooks).
 */
#define _GNU_SOURCE
#include "ops.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

#include "control.h"
#include "log.h"
#include "metrics_http.h"
#include "sink_file.h"

#define OPS_MAX_COUNTERS 512
#define OPS_STATS_LINE	 (64 * 1024)

struct ops {
	struct ops_conf conf;
	struct ops_hooks hooks;
	uv_loop_t loop;
	uv_async_t stop;
	uv_async_t reopen; /* SIGHUP: reopen the stats file (ops_reopen) */
	uv_timer_t stats;
	struct control *control;
	struct metrics_http *metrics;
	struct sink_file *stats_sink;
	pthread_t thread;
	int started;
	char *control_path;
	char *metrics_addr;
	char *stats_path;
	struct eve_counter counters[OPS_MAX_COUNTERS];
	char line[OPS_STATS_LINE];
};

static size_t
ops_collect(struct ops *o)
{
	return o->hooks.collect(o->hooks.arg, o->counters, OPS_MAX_COUNTERS);
}

/* ----------------------------------------------------------- commands */

/* Reply with the counters whose names start with one of the prefixes. */
static void
ops_reply_counters(struct control_req *req, struct ops *o, const char *const *prefixes)
{
	struct eve_counter pick[OPS_MAX_COUNTERS];
	size_t n = ops_collect(o), k = 0;

	for (const char *const *p = prefixes; *p != NULL; p++) /* a prefix at a time: adjacent */
		for (size_t i = 0; i < n; i++)
			if (strncmp(o->counters[i].name, *p, strlen(*p)) == 0)
				pick[k++] = o->counters[i];
	if (control_msg_counters(req, pick, k) < 0) {
		control_reply_nok(req, "counters could not be formatted");
		return;
	}
	control_reply_msg(req);
}

static void
ops_cmd_dump_counters(struct control_req *req, void *arg)
{
	static const char *const all[] = {"", NULL};

	ops_reply_counters(req, arg, all);
}

static void
ops_cmd_iface_stat(struct control_req *req, void *arg)
{
	static const char *const iface[] = {"capture.", NULL};

	ops_reply_counters(req, arg, iface);
}

static void
ops_cmd_flow_table(struct control_req *req, void *arg)
{
	static const char *const flow[] = {"flow.", "darter.flow.", NULL};

	ops_reply_counters(req, arg, flow);
}

static void
ops_cmd_reload(struct control_req *req, void *arg)
{
	struct ops *o = arg;
	char msg[256] = "";

	if (o->hooks.reload == NULL) {
		control_reply_nok(req, "no analyzers are configured");
		return;
	}
	if (o->hooks.reload(o->hooks.arg, msg, sizeof(msg)) < 0) {
		control_reply_nok(req, "%s", msg);
		return;
	}
	control_reply_ok(req, msg[0] ? msg : "done");
}

/* The periodic stats go to eve.json too: follow it when it is rotated. */
static void
ops_reopen_stats(struct ops *o)
{
	if (o->stats_sink != NULL && sink_file_reopen(o->stats_sink) < 0)
		LOG_WARN("ops", "%s: cannot reopen: %s", o->stats_path, strerror(errno));
}

static void
ops_cmd_reopen(struct control_req *req, void *arg)
{
	struct ops *o = arg;

	o->hooks.reopen(o->hooks.arg);
	ops_reopen_stats(o);
	control_reply_ok(req, "done");
}

static void
ops_cmd_conf_get(struct control_req *req, void *arg)
{
	struct ops *o = arg;
	const char *key = control_arg_str(req, "variable");
	char value[4096];

	if (key == NULL) {
		control_reply_nok(req, "conf-get needs \"variable\": a dotted key");
		return;
	}
	if (o->hooks.conf_get(o->hooks.arg, key, value, sizeof(value)) < 0) {
		control_reply_nok(req, "unknown key %s", key);
		return;
	}
	control_reply_ok(req, value);
}

static void
ops_cmd_shutdown(struct control_req *req, void *arg)
{
	struct ops *o = arg;

	control_reply_ok(req, "closing: draining flows and outputs");
	o->hooks.shutdown(o->hooks.arg);
}

static int
ops_register(struct ops *o)
{
	static const struct {
		const char *name;
		control_cmd_fn fn;
	} cmds[] = {
		{"dump-counters", ops_cmd_dump_counters}, {"iface-stat", ops_cmd_iface_stat},
		{"flow-table", ops_cmd_flow_table},	  {"reload-analyzers", ops_cmd_reload},
		{"reopen-log-files", ops_cmd_reopen},	  {"conf-get", ops_cmd_conf_get},
		{"shutdown", ops_cmd_shutdown},
	};

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		int rc = control_register(o->control, cmds[i].name, cmds[i].fn, o);

		if (rc < 0)
			return rc;
	}
	return 0;
}

/* -------------------------------------------------------------- stats */

static uint64_t
ops_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* The periodic EVE stats event, appended to eve.json like the final one. */
static void
ops_on_stats(uv_timer_t *t)
{
	struct ops *o = t->data;
	uint64_t now = ops_now_us();
	size_t n = ops_collect(o), len;

	len = eve_format_stats(o->line, sizeof(o->line), now, (now - o->conf.start_us) / 1000000u,
			       o->counters, n);
	if (len == 0 || sink_file_write(o->stats_sink, o->line, len) < 0 ||
	    sink_file_flush(o->stats_sink) < 0)
		LOG_WARN("ops", "%s: stats event not written", o->stats_path);
}

static size_t
ops_metrics_collect(void *arg, struct eve_counter *out, size_t cap)
{
	struct ops *o = arg;

	return o->hooks.collect(o->hooks.arg, out, cap);
}

/* ---------------------------------------------------------- lifetime */

static void
ops_on_reopen(uv_async_t *a)
{
	ops_reopen_stats(a->data);
}

static void
ops_on_stop(uv_async_t *a)
{
	struct ops *o = a->data;

	if (o->control != NULL)
		control_close(o->control, NULL, NULL);
	if (o->metrics != NULL)
		metrics_http_close(o->metrics, NULL, NULL);
	uv_close((uv_handle_t *)&o->stats, NULL);
	uv_close((uv_handle_t *)&o->reopen, NULL);
	uv_close((uv_handle_t *)&o->stop, NULL);
}

static void *
ops_main(void *arg)
{
	struct ops *o = arg;

	uv_run(&o->loop, UV_RUN_DEFAULT);
	return NULL;
}

static int
ops_servers(struct ops *o, char *err, size_t errlen)
{
	if (o->control_path != NULL) {
		struct control_conf cc = {.path = o->control_path,
					  .mode = o->conf.control_mode,
					  .uid = (uid_t)-1,
					  .gid = (gid_t)-1};

		o->control = control_new(&o->loop, &cc);
		if (o->control == NULL || ops_register(o) < 0) {
			snprintf(err, errlen, "control socket %s: %s", o->control_path,
				 strerror(errno));
			return -1;
		}
	}
	if (o->metrics_addr != NULL) {
		struct metrics_http_conf mc = {.addr = o->metrics_addr,
					       .port = o->conf.metrics_port,
					       .collect = ops_metrics_collect,
					       .arg = o};

		o->metrics = metrics_http_new(&o->loop, &mc);
		if (o->metrics == NULL) {
			snprintf(err, errlen, "metrics endpoint %s port %u: %s", o->metrics_addr,
				 (unsigned)o->conf.metrics_port, strerror(errno));
			return -1;
		}
	}
	return 0;
}

static int
ops_stats_start(struct ops *o, char *err, size_t errlen)
{
	uint64_t ms = (uint64_t)o->conf.stats_interval_s * 1000u;

	uv_timer_init(&o->loop, &o->stats);
	o->stats.data = o;
	if (ms == 0 || o->stats_path == NULL)
		return 0;
	o->stats_sink = sink_file_open(o->stats_path);
	if (o->stats_sink == NULL) {
		snprintf(err, errlen, "%s: %s", o->stats_path, strerror(errno));
		return -1;
	}
	uv_timer_start(&o->stats, ops_on_stats, ms, ms);
	return 0;
}

static char *
ops_strdup(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

static void
ops_free(struct ops *o)
{
	sink_file_close(o->stats_sink);
	free(o->control_path);
	free(o->metrics_addr);
	free(o->stats_path);
	free(o);
}

struct ops *
ops_start(const struct ops_conf *conf, const struct ops_hooks *hooks, char *err, size_t errlen)
{
	struct ops *o = calloc(1, sizeof(*o));

	if (o == NULL || uv_loop_init(&o->loop) != 0) {
		snprintf(err, errlen, "out of memory");
		free(o);
		return NULL;
	}
	o->conf = *conf;
	o->hooks = *hooks;
	o->control_path = ops_strdup(conf->control_path);
	o->metrics_addr = ops_strdup(conf->metrics_addr);
	o->stats_path = ops_strdup(conf->stats_path);
	uv_async_init(&o->loop, &o->stop, ops_on_stop);
	o->stop.data = o;
	uv_async_init(&o->loop, &o->reopen, ops_on_reopen);
	o->reopen.data = o;
	if (ops_stats_start(o, err, errlen) < 0 || ops_servers(o, err, errlen) < 0)
		goto fail;
	if (pthread_create(&o->thread, NULL, ops_main, o) != 0) {
		snprintf(err, errlen, "ops thread: %s", strerror(errno));
		goto fail;
	}
	o->started = 1;
	return o;
fail:
	ops_on_stop(&o->stop); /* closes what exists (NULL servers are fine) */
	uv_run(&o->loop, UV_RUN_DEFAULT);
	uv_loop_close(&o->loop);
	ops_free(o);
	return NULL;
}

uint16_t
ops_metrics_port(const struct ops *o)
{
	return o != NULL && o->metrics != NULL ? metrics_http_port(o->metrics) : 0;
}

void
ops_reopen(struct ops *o)
{
	if (o != NULL && o->started)
		uv_async_send(&o->reopen);
}

void
ops_stop(struct ops *o)
{
	if (o == NULL)
		return;
	if (o->started) {
		uv_async_send(&o->stop);
		pthread_join(o->thread, NULL);
	}
	if (uv_loop_close(&o->loop) != 0)
		LOG_WARN("ops", "ops loop closed with handles open");
	ops_free(o);
}
