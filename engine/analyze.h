/*
 * analyze.h: a worker's Lua analyzers (analyzers/analyzer.h), on its loop.
 *
 * Each worker loads every configured script into states of its own. A
 * flow record goes to each analyzer that takes flows, after the MAD core
 * and before the record is written, so darter.annotate() lands in the
 * record ("darter":{"annotations":{..}}). darter.emit(sink, tbl) writes
 * one line to the analyzers' output file:
 *   {"timestamp":..,"event_type":"analyzer",
 *    "darter":{"analyzer":"flow_size_outlier","sink":"alerts","event":{..}}}
 * Errors, timeouts and memory caps are counted by the host; the record
 * goes on regardless.
 *
 * Ordering with Redis (redis_port set): an analyzer call may suspend on a
 * Redis reply (-EINPROGRESS) or be queued behind a suspended one, or be
 * refused because that queue is full (-ENOBUFS, counted in queue_drops).
 * Either way analyze_flow() returns at once and the caller writes the
 * record right away, exactly once, with the annotations made before the
 * first suspension (later ones are refused, counted in late_annotations).
 * The analyzer goes on later with its own copy of the record; what it
 * emits then is written when the reply is in, so analyzers.json is in
 * the order events finished. For one script that is the order records
 * came in (it never runs two events at a time), except across a reload:
 * events queued behind a suspended one move to the new version and may
 * finish before the suspended one finishes in the old version.
 *
 * Reload (SIGUSR2, reload-analyzers): every script is loaded again and set
 * up off the event path, on libuv's thread pool, then swapped in on the
 * loop between two events. With Redis, setup() must run on the loop (the
 * state's connection is a handle of this loop): the pool builds the
 * state, setup() runs on the loop when the pool is done, may suspend on
 * Redis, and the swap waits until it has finished (analyzer_ready()).
 * Events queued on the old state move to the new one in order; an event
 * suspended in the old one finishes there, and the old state is freed
 * once it is idle (if it is still busy at close, its events are counted
 * in abandoned). A script that fails to load keeps the old one running;
 * the failure is logged and counted.
 *
 * Everything on the worker's loop thread, except the pool's work.
 */
#ifndef DARTER_ANALYZE_H
#define DARTER_ANALYZE_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "flow_record.h"
#include "sink_file.h"

#define ANALYZE_MAX 16 /* scripts per worker */

struct analyze_conf {
	const char *const *scripts; /* paths */
	unsigned n_scripts;
	const char *lua_dir; /* NULL: the built-in default */
	size_t mem_max;	     /* bytes per state */
	uint32_t cpu_ms;     /* per call */
	int allow_io;
	struct sink_file *out; /* emitted events; NULL: not written to a file */
	/* Each emitted line also goes here (network outputs); NULL: none. out
	 * and on_line both NULL: emit fails (counted). */
	void (*on_line)(void *arg, const char *analyzer, const char *sink, const char *line,
			size_t len);
	void *on_line_arg;
	/* Redis from Lua (darter.redis); redis_port 0: none. */
	const char *redis_host; /* numeric address; NULL: 127.0.0.1 */
	uint16_t redis_port;
	uint32_t redis_timeout_ms; /* per command; 0: the host's default */
	uint32_t queue_max;	   /* events waiting behind a suspended one; 0: default */
};

struct analyze_stats {
	uint64_t calls, errors, timeouts, mem_errors, emits, emit_errors, annotations;
	uint64_t reloads;	/* scripts swapped in */
	uint64_t reload_errors; /* scripts that failed to load again: the old one kept */
	uint64_t killed;	/* timeouts stopped in compiled code: state rebuilt */
	uint64_t resets;	/* states rebuilt from their script */
	uint64_t disabled;	/* calls skipped: the analyzer has no state */
	uint64_t deferred;	/* calls that suspended on Redis or queued behind one */
	uint64_t queue_drops;	/* events not analyzed: the queue was full (-ENOBUFS) */
	uint64_t abandoned;	/* suspended or queued events dropped (close, rebuild) */
	uint64_t redis_commands, redis_errors;
	uint64_t late_annotations; /* annotate after the record had gone on */
	uint64_t kill_deferred;	   /* forced stops put off a tick: not in JIT code */
	uint64_t retiring;	   /* old states waiting for their last event (gauge) */
};

struct analyze;

/* Load every script (setup() included). NULL with the reason in err. */
struct analyze *analyze_new(uv_loop_t *loop, const struct analyze_conf *conf, char *err,
			    size_t errlen);

/*
 * Run the flow analyzers on rec. *ann gets the annotations as JSON object
 * members ("k":v,...) valid until the next call, *ann_len 0 when none.
 * rec stays the caller's, who writes it once this returns, whatever the
 * analyzers did (see "Ordering" above).
 */
void analyze_flow(struct analyze *a, const struct flow_record *rec, const char **ann,
		  size_t *ann_len);

/*
 * Events analyze_flow() (or analyze_eve()) can take now without any
 * analyzer dropping one for a full queue: a replay waits while this is 0,
 * as it does for a full network sink (live capture passes them on,
 * counted in queue_drops). Without Redis, UINT32_MAX. Loop thread.
 */
uint32_t analyze_room(const struct analyze *a);

/* An EVE event of another type (darter -e) for the analyzers that asked for it. */
void analyze_eve(struct analyze *a, const char *type, const char *json, size_t len);

/* Reload every script asynchronously (see above). */
void analyze_reload(struct analyze *a);

/* The counters of every script, old versions included. Loop thread. */
void analyze_stats(const struct analyze *a, struct analyze_stats *st);

/* sum += st, field by field (for totals over workers). */
void analyze_stats_add(struct analyze_stats *sum, const struct analyze_stats *st);

/* Called once by analyze_drain() when the drain is over; may call analyze_close(). */
typedef void (*analyze_drained_fn)(void *arg);

/*
 * Input is over: let every analyzer finish its suspended event and those
 * queued behind it (their emits are written, nothing is lost). Tick timers
 * stop. Returns 0 when every analyzer is idle now (done is not called), or
 * -EINPROGRESS: done(arg) then runs once, from a loop callback, when all
 * are idle, or when none has finished anything for two Redis timeouts
 * (each command gets a reply or fails within one: this only stops a
 * drain that cannot move; analyze_close() then counts what is left in
 * abandoned). Calling it again while draining returns -EINPROGRESS and
 * keeps the first done. Loop thread; call analyze_stats() after done.
 */
int analyze_drain(struct analyze *a, analyze_drained_fn done, void *arg);

/*
 * Free everything; reloads in flight finish first; suspended and queued
 * events are dropped (abandoned: drain first). Loop thread; the loop must
 * still run.
 */
void analyze_close(struct analyze *a);

#endif
