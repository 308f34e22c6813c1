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
 * Reload (SIGUSR2, reload-analyzers): every script is loaded again and
 * set up on libuv's thread pool, off the event path, then swapped in on
 * the loop between two events. A script that fails to load keeps the old
 * one running; the failure is logged and counted.
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
	struct sink_file *out; /* emitted events; NULL: emit fails (counted) */
};

struct analyze_stats {
	uint64_t calls, errors, timeouts, mem_errors, emits, emit_errors, annotations;
	uint64_t reloads;	/* scripts swapped in */
	uint64_t reload_errors; /* scripts that failed to load again: the old one kept */
};

struct analyze;

/* Load every script (setup() included). NULL with the reason in err. */
struct analyze *analyze_new(uv_loop_t *loop, const struct analyze_conf *conf, char *err,
			    size_t errlen);

/*
 * Run the flow analyzers on rec. *ann gets the annotations as JSON object
 * members ("k":v,...) valid until the next call, *ann_len 0 when none.
 */
void analyze_flow(struct analyze *a, const struct flow_record *rec, const char **ann,
		  size_t *ann_len);

/* An EVE event of another type (darter -e) for the analyzers that asked for it. */
void analyze_eve(struct analyze *a, const char *type, const char *json, size_t len);

/* Reload every script asynchronously (see above). */
void analyze_reload(struct analyze *a);

void analyze_stats(const struct analyze *a, struct analyze_stats *st);

/* Free everything; reloads in flight finish first. Loop thread; the loop must still run. */
void analyze_close(struct analyze *a);

#endif
