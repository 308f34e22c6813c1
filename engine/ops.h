/*
 * ops.h: the operator's side of a running darter, on a thread of its own.
 *
 * One pthread runs one libuv loop serving the control socket
 * (engine/control.h: the commands below), the Prometheus endpoint
 * (engine/metrics_http.h) and the periodic EVE stats event. It touches
 * the rest of darter only through the hooks main gives it, so capture
 * and workers never wait on an operator.
 *
 * Commands, as Suricata's unix-command names them where it has them:
 *   version, uptime, command-list   (control.c's own)
 *   dump-counters                   every counter, nested by dotted name
 *   iface-stat                      the capture.* counters (DPDK ports)
 *   flow-table                      flow.* and darter.flow.* (size, memuse, evictions)
 *   reload-analyzers                hooks->reload (SIGUSR2 does the same)
 *   reopen-log-files                hooks->reopen (SIGHUP does the same)
 *   conf-get {"variable": KEY}      hooks->conf_get: a key's value as text
 *   shutdown                        replies, then hooks->shutdown (drain, as SIGTERM)
 *
 * Counters are read while capture and workers run: each is one aligned
 * 64-bit word written by one thread, so a snapshot is never torn, but
 * rows may be a few packets apart from each other.
 */
#ifndef DARTER_OPS_H
#define DARTER_OPS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "eve.h"

/* What ops may ask of the rest of darter; called on the ops thread. */
struct ops_hooks {
	size_t (*collect)(void *arg, struct eve_counter *out, size_t cap); /* every counter */
	void (*reopen)(void *arg);					   /* reopen outputs */
	void (*shutdown)(void *arg);					   /* drain and exit */
	int (*reload)(void *arg, char *msg, size_t len); /* 0, or -errno with msg filled */
	int (*conf_get)(void *arg, const char *key, char *buf, size_t len); /* 0 or -errno */
	void *arg;
};

struct ops_conf {
	const char *control_path;  /* NULL: no control socket */
	mode_t control_mode;	   /* 0: 0660 */
	const char *metrics_addr;  /* NULL: no metrics endpoint */
	uint16_t metrics_port;	   /* 0: any free port */
	uint32_t stats_interval_s; /* 0: no periodic stats event */
	const char *stats_path;	   /* eve.json the stats events are appended to */
	uint64_t start_us;	   /* process start, for uptime */
};

struct ops;

/*
 * Start the ops thread with its servers listening (errors are reported
 * before return: a socket path in use, a port taken). conf's strings are
 * copied. NULL with the reason in err.
 */
struct ops *ops_start(const struct ops_conf *conf, const struct ops_hooks *hooks, char *err,
		      size_t errlen);

/* The metrics endpoint's port (the bound one when conf said 0); 0 if none. */
uint16_t ops_metrics_port(const struct ops *o);

/* Close the servers, join the thread, free. NULL is fine. */
void ops_stop(struct ops *o);

/*
 * Reopen the stats file on the ops thread, as reopen-log-files does.
 * Async-signal-safe (uv_async_send): main's SIGHUP handler calls it.
 */
void ops_reopen(struct ops *o);

#endif
