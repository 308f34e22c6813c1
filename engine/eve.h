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

/* One counter for a stats event; the name is dotted ("decoder.pkts"). */
struct eve_counter {
	const char *name;
	uint64_t value;
};

/*
 * Format one flow record as one EVE JSON line, '\n' included, no NUL.
 * Returns the bytes written, or 0 when buf is too small (nothing useful
 * written; retry with a larger buffer: a record needs under 2 KiB).
 */
size_t eve_format_flow(char *buf, size_t cap, const struct flow_record *r);

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
