/*
 * worker.h: one engine worker: a pthread running its own libuv loop.
 *
 * A worker drains its rings of completed flow records, formats each as an
 * EVE line and writes it to its sink. It owns everything on its loop;
 * the only things that cross threads are the records (through the
 * handoff) and the wake-up (uv_async_send).
 */
#ifndef DARTER_WORKER_H
#define DARTER_WORKER_H

#include <stdint.h>

#include "handoff.h"

struct worker_conf {
	unsigned id;	      /* index in the handoff */
	int cpu;	      /* pin to this CPU; -1 leaves affinity alone */
	const char *eve_path; /* NULL: records are consumed and counted only */
};

struct worker_stats {
	uint64_t records;	/* records dequeued */
	uint64_t lines;		/* EVE lines written */
	uint64_t format_errors; /* records that could not be formatted */
	uint64_t dropped;	/* lines lost to sink write errors */
	uint64_t write_errors;
};

struct worker;

/*
 * Create worker conf->id reading from h: opens its sink, prepares its
 * loop and registers its wake-up with h. Main thread. NULL with errno
 * set on failure.
 */
struct worker *worker_new(const struct worker_conf *conf, struct handoff *h);

/* Start the worker's thread. 0 or -errno. */
int worker_start(struct worker *w);

/*
 * Wait until the worker finished: every producer done and its rings
 * drained, sink flushed. 0 or -errno.
 */
int worker_join(struct worker *w);

/* Ask the worker to reopen its output files (SIGHUP). Any thread. */
void worker_reopen(struct worker *w);

/* Counters; exact after worker_join(). */
void worker_stats_get(const struct worker *w, struct worker_stats *st);

/* Free a joined (or never started) worker. NULL is fine. */
void worker_free(struct worker *w);

#endif
