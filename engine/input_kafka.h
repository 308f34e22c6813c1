/*
 * input_kafka.h: EVE JSON lines from a Kafka topic, read on a libuv loop.
 *
 * A librdkafka KafkaConsumer, member of a consumer group: the group's
 * members share the topic's partitions (each partition read by one
 * member), so several darters with the same group split the events of
 * many sensors, and a darter that dies hands its partitions to the
 * others. A message is one EVE event (its trailing '\n' or "\r\n"
 * optional) or several, one per line, as forwarders that batch send.
 *
 * No thread of ours spins: librdkafka's consumer queue writes a byte to
 * a pipe when it turns non-empty, a uv_poll watches the pipe and takes
 * batches (timeout 0); a timer polls too, as a backstop.
 *
 * Offsets: enable.auto.offset.store is off. An offset is stored once
 * its line has been handed to the line callback (or counted skipped:
 * too long, empty), and librdkafka commits the stored offsets
 * periodically and at close. So a crash re-reads at most what was not
 * handed over; nothing handed over is committed twice by this member.
 *
 * Backpressure: a line callback that returns INPUT_KAFKA_PAUSE (or
 * calls input_kafka_pause()) stops delivery after the current message
 * (its lines share one offset): the assigned partitions are
 * paused (rd_kafka_pause_partitions), messages already taken are kept
 * and come first after input_kafka_resume(). While paused the queue is
 * still served (rebalances, errors), so the group does not evict us.
 *
 * One struct input_kafka belongs to the thread running its loop.
 */
#ifndef DARTER_INPUT_KAFKA_H
#define DARTER_INPUT_KAFKA_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#define INPUT_KAFKA_DEFAULT_LINE     (64u * 1024u)
#define INPUT_KAFKA_DEFAULT_POLL_MS  100u
#define INPUT_KAFKA_DEFAULT_CLOSE_MS 5000u

#define INPUT_KAFKA_CONTINUE 0
#define INPUT_KAFKA_PAUSE    1

struct input_kafka;

/* One line (no '\n'), valid during the call only. INPUT_KAFKA_CONTINUE or _PAUSE. */
typedef int (*input_kafka_line_cb)(void *arg, const char *line, size_t len);

/* input_kafka_close() finished: the object is freed. */
typedef void (*input_kafka_close_cb)(void *arg);

struct input_kafka_conf {
	const char *brokers;	   /* bootstrap.servers */
	const char *topic;	   /* one topic */
	const char *group;	   /* group.id */
	const char *offset_reset;  /* auto.offset.reset for a new group; NULL: "earliest" */
	uint32_t max_line;	   /* longest message delivered, bytes; 0: 64 KiB */
	uint32_t poll_ms;	   /* backstop poll period; 0: 100 */
	uint32_t close_timeout_ms; /* leaving the group at close; 0: 5000 */
	const char *const *props;  /* extra librdkafka properties, "name=value", */
	size_t nprops;		   /* applied last */
	char errstr[256];	   /* out: why input_kafka_new() failed */
};

/* Counters, written by the loop thread only. */
struct input_kafka_stats {
	uint64_t messages; /* messages taken from the topic */
	uint64_t bytes;	   /* their payload bytes */
	uint64_t lines;	   /* lines delivered to the callback */
	uint64_t too_long; /* lines longer than max_line, skipped (committed) */
	uint64_t empty;	   /* empty messages and lines, skipped (committed) */
	uint64_t errors;   /* consumer errors (broker down, unknown topic, ...) */
	uint64_t pauses;   /* times delivery paused for backpressure */
	uint64_t assigns;  /* rebalances that gave us partitions */
	uint64_t revokes;  /* rebalances that took partitions away */
	uint64_t revoked;  /* messages taken but not delivered when their partition left
			      (the new owner reads them: not committed) */
	uint64_t dropped;  /* messages taken but not delivered at close (not committed) */
	uint64_t commits;  /* offset commits that succeeded */
	uint64_t commit_errors;
	uint64_t partitions; /* partitions assigned now */
};

/* Fill conf with the defaults (brokers, topic and group NULL). */
void input_kafka_conf_defaults(struct input_kafka_conf *conf);

/*
 * A consumer on loop, subscribed to conf->topic. NULL with errno set and
 * conf->errstr filled: EINVAL (no brokers, topic, group or on_line; a
 * property librdkafka refuses), ENOMEM, EIO (librdkafka could not
 * start). Connecting is asynchronous: brokers that are down are counted
 * errors, retried. Loop thread.
 */
struct input_kafka *input_kafka_new(uv_loop_t *loop, struct input_kafka_conf *conf,
				    input_kafka_line_cb on_line, void *arg);

/* Stop delivery (also from a line callback). Loop thread. */
void input_kafka_pause(struct input_kafka *k);

/* Deliver again, on a later loop turn (never from inside this call). Loop thread. */
void input_kafka_resume(struct input_kafka *k);

/*
 * Leave the group (committing what was handed over) and free,
 * asynchronously: on_close(arg) runs from the loop, and then k is gone.
 * No line callback runs after this call. Messages taken but not
 * delivered are counted dropped: not committed, the group reads them
 * again. Bounded by close_timeout_ms. on_close may be NULL; k NULL is
 * fine.
 */
void input_kafka_close(struct input_kafka *k, input_kafka_close_cb on_close);

/* The counters (valid until on_close returns). */
const struct input_kafka_stats *input_kafka_stats(const struct input_kafka *k);

/* The last consumer error, "" if none. */
const char *input_kafka_last_error(const struct input_kafka *k);

#endif
