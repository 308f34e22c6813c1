/*
 * outputs.h: a worker's network sinks beside its files: a Unix socket,
 * Redis and Kafka (engine/sink.h), each taking the event types it was
 * configured for.
 *
 * Every worker opens its own connection to each configured peer, so
 * workers never share a buffer or a lock. A line a sink cannot take is
 * dropped and counted by that sink (sink.h: written == lines + dropped +
 * queued); nothing here waits.
 */
#ifndef DARTER_OUTPUTS_H
#define DARTER_OUTPUTS_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "sink.h"

/* Event types a sink takes (outputs_conf.*.events). */
#define OUTPUTS_FLOW	 0x1u /* flow events, as in eve.json */
#define OUTPUTS_ALERT	 0x2u /* MAD outlier alerts, as in outliers.json */
#define OUTPUTS_ANALYZER 0x4u /* Lua analyzers' events, as in analyzers.json */

enum outputs_kind { OUTPUTS_UNIX, OUTPUTS_REDIS, OUTPUTS_KAFKA, OUTPUTS_KINDS };

/* Names in a sink's analyzer filter (outputs_conf.analyzers), and their length. */
#define OUTPUTS_NAMES_MAX 16
#define OUTPUTS_NAME_MAX  64

struct outputs_conf {
	unsigned events[OUTPUTS_KINDS]; /* OUTPUTS_* mask per sink; 0: not opened */
	/*
	 * Analyzer events a sink takes (with OUTPUTS_ANALYZER): those whose
	 * analyzer (script name) or darter.emit sink name is listed; none
	 * listed: all. Copied at open.
	 */
	const char *analyzers[OUTPUTS_KINDS][OUTPUTS_NAMES_MAX];
	unsigned n_analyzers[OUTPUTS_KINDS];
	const char *unix_path;
	int unix_dgram;
	const char *redis_host;
	uint16_t redis_port;
	int redis_mode; /* enum sink_redis_mode */
	const char *redis_key;
	uint64_t redis_max_len;
	const char *kafka_brokers;
	const char *kafka_topic;
	uint32_t linger_ms; /* at close, time given to deliver what is queued; 0: each sink's own */
};

/* Counters of one kind of sink, summed over workers by the caller. */
struct outputs_stats {
	struct sink_stats kind[OUTPUTS_KINDS];
};

struct outputs;

/* Parse "flow", "alert", "analyzer" into *mask (OR); -EINVAL on another name. */
int outputs_event_parse(const char *name, unsigned *mask);

/* An analyzer filter name: 1..OUTPUTS_NAME_MAX-1 of [A-Za-z0-9_.-]; else -EINVAL. */
int outputs_name_check(const char *name);

/* Open the configured sinks on loop. NULL with the reason in err. */
struct outputs *outputs_open(uv_loop_t *loop, const struct outputs_conf *conf, char *err,
			     size_t errlen);

/* One line of event type `type` (OUTPUTS_*) to every sink taking it; key: the flow id. */
void outputs_write(struct outputs *o, unsigned type, uint64_t key, const char *line, size_t len);

/*
 * One analyzer event (darter.emit) to every sink taking OUTPUTS_ANALYZER
 * whose filter admits analyzer or sink; key: the analyzer's name, so one
 * analyzer's events stay in order on one Kafka partition.
 */
void outputs_write_analyzer(struct outputs *o, const char *analyzer, const char *sink,
			    const char *line, size_t len);

void outputs_stats(const struct outputs *o, struct outputs_stats *st);

/* The most lines any open sink holds, not yet delivered (its queue). */
uint64_t outputs_queued(const struct outputs *o);

/*
 * Close every sink (each drains for its linger time); done(arg, final
 * counters) runs once all are closed, then o is gone. done may be NULL.
 */
typedef void (*outputs_done_fn)(void *arg, const struct outputs_stats *final);
void outputs_close(struct outputs *o, outputs_done_fn done, void *arg);

#endif
