/*
 * stats.h: darter's counters as one flat, named list.
 *
 * Gathers capture (port, decoder, flow table, handoff) and worker
 * counters into struct eve_counter rows with dotted names, Suricata's
 * names where Suricata has the counter and "darter.*" for darter's own.
 * The list feeds the EVE "stats" event and the exit summary.
 */
#ifndef DARTER_STATS_H
#define DARTER_STATS_H

#include <stddef.h>

#include "capture.h"
#include "eve.h"
#include "worker.h"

#define STATS_MAX_COUNTERS 384

/*
 * Fill out[] (STATS_MAX_COUNTERS rows) from the capture counters and the
 * sum of the workers' counters. Returns the number of rows. Names point
 * to static strings.
 */
size_t stats_collect(const struct capture_stats *cs, const struct worker_stats *ws,
		     struct eve_counter *out);

/* Value of the counter called name in c[0..n), or 0 if absent. */
uint64_t stats_value(const struct eve_counter *c, size_t n, const char *name);

#endif
