/*
 * sink_kafka.h: EVE lines to a Kafka topic (librdkafka producer).
 *
 * Each line is one message, without its '\n', keyed by the caller's key
 * (darter passes the flow id as decimal text): the default partitioner
 * hashes the key, so every event of a flow lands in one partition and a
 * consumer group can scale out by partition while keeping each flow's
 * events in order. The producer is idempotent by default
 * (enable.idempotence=true): retries inside librdkafka never duplicate
 * a message.
 *
 * Nothing blocks the loop on the write path: produce only enqueues
 * (copy) into librdkafka's queue, bounded by queue_lines; full queue:
 * the newest line is dropped and counted. Delivery reports arrive on the
 * loop thread (librdkafka signals a pipe watched by a uv_poll; a timer
 * polls too) and settle each line: delivered, or dropped with an error.
 * Close flushes for up to close_timeout_ms, then purges what is left
 * (counted dropped) and destroys the producer; that last step joins
 * librdkafka's threads and may block the loop briefly, once.
 *
 * A real deployment (several sensors, one cluster), e.g.:
 *   brokers = "k1:9092,k2:9092,k3:9092", topic = "darter-eve",
 *   props = {"acks=all", "compression.type=lz4", "linger.ms=20"}
 * with the topic created with as many partitions as consumers you want
 * (kafka-topics --create --topic darter-eve --partitions 12
 * --replication-factor 3 --config min.insync.replicas=2), and consumers
 * sharing one group.id. Tests use librdkafka's mock cluster instead
 * (test.mock.num.brokers).
 *
 * Threads: a sink belongs to the thread running its loop; librdkafka's
 * own threads never call back into it (callbacks run from our polls).
 */
#ifndef DARTER_SINK_KAFKA_H
#define DARTER_SINK_KAFKA_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "sink.h"

#define SINK_KAFKA_DEFAULT_QUEUE_LINES 100000u
#define SINK_KAFKA_DEFAULT_CLOSE_MS    5000u
#define SINK_KAFKA_DEFAULT_POLL_MS     100u

struct sink_kafka_conf {
	const char *brokers;	   /* bootstrap.servers, "host:port,..." */
	const char *topic;	   /* topic name */
	uint32_t queue_lines;	   /* queue.buffering.max.messages; 0: 100000 */
	uint32_t close_timeout_ms; /* flush time at close; 0: 5000 */
	uint32_t poll_ms;	   /* backstop poll period; 0: 100 */
	const char *const *props;  /* extra librdkafka properties, "name=value", */
	size_t nprops;		   /* applied last (they override the above) */
	char errstr[256];	   /* out: why sink_kafka_open() failed */
};

struct sink_kafka;

/* Fill conf with the defaults (brokers and topic NULL, no props). */
void sink_kafka_conf_defaults(struct sink_kafka_conf *conf);

/*
 * A producer on loop. NULL with errno set and conf->errstr filled:
 * EINVAL (no brokers or topic, a property librdkafka refuses), ENOMEM,
 * EIO (librdkafka could not start). Loop thread.
 */
struct sink_kafka *sink_kafka_open(uv_loop_t *loop, struct sink_kafka_conf *conf);

/*
 * Enqueue one line (trailing '\n' optional), keyed by key[0..keylen)
 * (NULL/0: no key, partitions picked at random); both copied. 0 when
 * queued; otherwise dropped, counted, and: -ENOBUFS (queue full),
 * -EMSGSIZE (over message.max.bytes), -EINVAL (empty), -ESHUTDOWN
 * (closing), -EIO (another librdkafka error). Loop thread.
 */
int sink_kafka_write(struct sink_kafka *s, const char *key, size_t keylen, const char *line,
		     size_t len);

/* Serve delivery reports now. 0: nothing in flight; -EAGAIN. */
int sink_kafka_flush(struct sink_kafka *s);

/* Copy the counters (sink.h) into *st. */
void sink_kafka_stats(const struct sink_kafka *s, struct sink_stats *st);

/*
 * Close asynchronously: flush for up to close_timeout_ms (polled from a
 * timer), purge the rest (dropped), destroy the producer, free s, then
 * cb(arg, final counters) (cb may be NULL). Call once; loop thread.
 */
void sink_kafka_close(struct sink_kafka *s, sink_close_fn cb, void *arg);

/* The ops row. */
extern const struct sink_ops sink_kafka_ops;

#endif
