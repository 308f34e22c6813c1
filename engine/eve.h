/*
 * eve.h: EVE JSON formatting of darter's events.
 *
 * Pure formatting into a caller's buffer: no I/O, no allocation. Names and
 * types follow Suricata's EVE exactly; darter's additions live under the
 * "darter" key. The record schema is engine/eve-flow.schema.json.
 */
#ifndef DARTER_EVE_H
#define DARTER_EVE_H

#include <stddef.h>
#include <stdint.h>

#include "flow_record.h"
#include "score.h"

/* One counter for a stats event; the name is dotted ("decoder.pkts"). */
struct eve_counter {
	const char *name;
	uint64_t value;
};

/* What a flow event carries beyond the record; any field may be NULL/0. */
struct eve_flow_extra {
	const char *community_id;	   /* "1:..." (capture/community.h), NULL: left out */
	const struct score_result *scores; /* the MAD core's evidence, "darter":{"mad":[..]} */
	unsigned n_scores;
	/* analyzers' darter.annotate(): members of a JSON object, "k":v,"k2":v2 (already
	   valid JSON, built by the worker); "darter":{"annotations":{..}}; NULL: none */
	const char *annotations;
	size_t annotations_len;
};

/* Outlier alerts: gid, and signature_id = base + 16 * metric + group. */
#define EVE_OUTLIER_GID	     1
#define EVE_OUTLIER_SID_BASE 9100000u

/*
 * Format one flow record as one EVE JSON line, '\n' included, no NUL;
 * x may be NULL. Returns the bytes written, or 0 when buf is too small
 * (nothing useful written; a record with SCORE_MAX_SPECS results needs
 * under 4 KiB).
 */
size_t eve_format_flow(char *buf, size_t cap, const struct flow_record *r,
		       const struct eve_flow_extra *x);

/*
 * Format result i of x (an outlier) as an alert-style EVE event: the
 * flow's tuple and counters, "alert" with a darter signature, and that
 * one result as evidence. Returns bytes written, or 0 (too small, bad i).
 */
size_t eve_format_outlier(char *buf, size_t cap, const struct flow_record *r,
			  const struct eve_flow_extra *x, unsigned i);

/*
 * Format a "stats" event at ts_us with uptime_s. Counters sharing a dotted
 * prefix must be adjacent in the array; they become nested objects
 * ({"decoder":{"pkts":1}}). Returns bytes written, or 0 if buf is too small.
 */
size_t eve_format_stats(char *buf, size_t cap, uint64_t ts_us, uint64_t uptime_s,
			const struct eve_counter *c, size_t n);

/* Format ts_us as Suricata does: "2009-11-24T21:27:09.534255+0000" (UTC). Needs 32 bytes. */
void eve_format_time(char out[32], uint64_t ts_us);

#endif
