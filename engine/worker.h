/*
 * worker.h: one engine worker: a pthread running its own libuv loop.
 *
 * A worker drains its rings of completed flow records, scores each with
 * its MAD core (engine/score.h), formats it as an EVE line and writes it
 * to its sink; outliers also go to the outlier sink as alert events. It owns everything on its
 * loop; the only things that cross threads are the records (through the handoff) and the wake-up
 * (uv_async_send).
 */
#ifndef DARTER_WORKER_H
#define DARTER_WORKER_H

#include <stdint.h>

#include "analyze.h"
#include "handoff.h"
#include "outputs.h"
#include "score.h"

struct worker_conf {
	unsigned id;			    /* index in the handoff */
	int cpu;			    /* pin to this CPU; -1 leaves affinity alone */
	const char *eve_path;		    /* NULL: records are consumed and counted only */
	const char *outliers_path;	    /* NULL: outliers only marked in eve.json */
	const struct score_conf *score;	    /* NULL: no MAD scoring; copied by worker_new */
	const char *snapshot_path;	    /* local MAD state file (copied); NULL: none */
	unsigned snapshot_interval_s;	    /* 0: save at exit only */
	const struct analyze_conf *analyze; /* NULL: no Lua analyzers; its out is set here */
	const char *analyzers_path;	    /* where their darter.emit() events go */
	const struct outputs_conf *outputs; /* network sinks; NULL: none */
	int replay;	       /* -r or -e: wait for full network sinks instead of dropping */
	const char *eve_input; /* EVE JSON file read once (darter -e); copied */
	int community_id;      /* add community_id to every event */
	uint16_t community_seed;
};

struct worker_stats {
	uint64_t records;	/* records dequeued */
	uint64_t lines;		/* EVE lines written */
	uint64_t format_errors; /* records that could not be formatted */
	uint64_t dropped;	/* lines lost to sink write errors */
	uint64_t write_errors;
	uint64_t outlier_lines;		/* alert events written to the outlier sink */
	uint64_t outlier_dropped;	/* of those, lost to write errors */
	uint64_t snapshot_saves;	/* MAD snapshots written */
	uint64_t snapshot_errors;	/* MAD snapshots that failed to load or save */
	struct score_stats score;	/* the MAD core */
	uint64_t eve_lines;		/* EVE input: lines read */
	uint64_t eve_flows;		/* of which flow events, scored and written */
	uint64_t eve_others;		/* other event types (counted; analyzers will take them) */
	uint64_t eve_refused;		/* bad lines, counted by reason in eve_in */
	struct analyze_stats analyzers; /* Lua analyzers */
	struct outputs_stats outputs;	/* network sinks, by kind */
	uint64_t eve_too_long;		/* lines over the reader's limit, skipped before parsing */
};

struct worker;

/*
 * Create worker conf->id reading from h: opens its sink, prepares its
 * loop and registers its wake-up with h. h may be NULL when the worker's
 * only input is conf->eve_input. Main thread. NULL with errno set on
 * failure (the EVE input file is opened here: ENOENT and such).
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

/* Ask the worker to reload its analyzers (SIGUSR2). Any thread, signal-safe. */
void worker_reload(struct worker *w);

/* Counters; exact after worker_join(). */
void worker_stats_get(const struct worker *w, struct worker_stats *st);

/* Free a joined (or never started) worker. NULL is fine. */
void worker_free(struct worker *w);

#endif
