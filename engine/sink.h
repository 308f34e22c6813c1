/*
 * sink.h: the common face of darter's EVE outputs, one ops row per backend.
 *
 * A worker owns its sinks; each lives on the worker's libuv loop and never
 * blocks it. A sink takes one complete EVE line per write (the trailing
 * '\n' optional: stream sockets and files end every line with one;
 * datagrams, Redis values and Kafka messages carry the line without it),
 * keeps it in a bounded buffer until its peer takes it, and counts every
 * line it could not deliver. A write never fails silently and never waits.
 *
 * Accounting, the same for every sink, at any time:
 *     written == lines + dropped + queued
 * and after the close callback has run, queued == 0: every line offered
 * was either delivered or counted as dropped, exactly once. Of the
 * dropped lines, `unsure` ones were handed to the peer but their
 * acknowledgement was lost with the connection (Redis killed with
 * commands in flight, a Kafka message that timed out possibly
 * persisted): the peer may hold them. So, exactly:
 *     written - dropped <= received <= written - dropped + unsure
 *
 * Drop policies (the buffer bound is the sink's conf):
 *  - unix (sink_unix.h), stream and datagram: lines wait in a bounded
 *    byte buffer while the reader is slow or absent; when it is full the
 *    NEWEST line (the one being written) is dropped, so what is delivered
 *    is an in-order prefix with gaps, and a stream never carries a torn
 *    line while connected. A stream line half written when the connection
 *    breaks is dropped (the reader saw only its beginning). The socket
 *    reconnects with exponential backoff; the buffer survives reconnects.
 *    "Delivered" means accepted by the kernel into the reader's socket: a
 *    reader killed with unread data loses it without the writer knowing.
 *  - redis (sink_redis.h): one command per line (PUBLISH, XADD MAXLEN ~,
 *    LPUSH [+ LTRIM]) pipelined up to a window; while the window is full
 *    lines wait in a bounded queue and the NEWEST is dropped when that is
 *    full; while Redis is down (rconn reconnecting) lines are dropped at
 *    once. A command whose reply never came (disconnect, timeout) counts
 *    as dropped (and unsure) although Redis may have run it.
 *  - kafka (sink_kafka.h): librdkafka's own queue is the buffer
 *    (queue.buffering.max.messages/kbytes); when it is full the NEWEST
 *    line is dropped; a line is delivered when its delivery report says
 *    so, dropped when the report carries an error or the close timeout
 *    purged it.
 *
 * Threads: a sink and its ops belong to the loop thread; nothing locks.
 */
#ifndef DARTER_SINK_H
#define DARTER_SINK_H

#include <stddef.h>
#include <stdint.h>

/* Counters and gauges of one sink, since it was opened. */
struct sink_stats {
	uint64_t written;    /* lines offered to the sink (write calls with a line) */
	uint64_t lines;	     /* lines delivered to the peer */
	uint64_t bytes;	     /* bytes of delivered lines, as sent */
	uint64_t dropped;    /* lines lost: buffer full, down, failed, purged at close */
	uint64_t unsure;     /* of dropped: handed to the peer, fate unknown (reply lost) */
	uint64_t errors;     /* failed I/O calls, error replies, failed deliveries */
	uint64_t reconnects; /* connections established after the first one */
	uint64_t queued;     /* gauge: lines accepted, not yet delivered or dropped */
	uint64_t connected;  /* gauge: 1 while the peer is reachable (Kafka: since a
				delivery succeeded, until all brokers are down) */
};

/*
 * The sink has finished closing and is freed; final holds its last
 * counters (queued == 0: what close could not deliver is in dropped),
 * valid during the call only.
 */
typedef void (*sink_close_fn)(void *arg, const struct sink_stats *final);

/*
 * One row per backend. write returns 0 when the line is accepted (queued
 * or delivered) and -errno when it was dropped (and counted): -ENOBUFS
 * buffer full, -ENOTCONN peer down, -EMSGSIZE larger than the bound,
 * -EINVAL an empty line, -ESHUTDOWN closing. A line must not contain a
 * '\n' before its end (EVE lines never do: JSON escapes it); a stream
 * reader would see two lines. key/keylen partition the line (Kafka: the flow id);
 * backends without partitions ignore them. flush pushes buffered lines
 * out now, without waiting: 0 when nothing is left, -EAGAIN when lines
 * still wait for the peer. close lets the buffer drain for the sink's
 * linger time, drops (counts) what is left, frees, then calls
 * cb(arg, final) (cb may be NULL).
 */
struct sink_ops {
	const char *name;
	int (*write)(void *sink, const char *key, size_t keylen, const char *line, size_t len);
	int (*flush)(void *sink);
	void (*stats)(const void *sink, struct sink_stats *st);
	void (*close)(void *sink, sink_close_fn cb, void *arg);
};

/* A sink as the worker holds it: its row and its object. */
struct sink {
	const struct sink_ops *ops;
	void *impl;
};

static inline int
sink_write(struct sink *s, const char *key, size_t keylen, const char *line, size_t len)
{
	return s->ops->write(s->impl, key, keylen, line, len);
}

static inline int
sink_flush(struct sink *s)
{
	return s->ops->flush(s->impl);
}

static inline void
sink_stats(const struct sink *s, struct sink_stats *st)
{
	s->ops->stats(s->impl, st);
}

/* Close asynchronously; s->impl is NULLed: the object belongs to the close now. */
static inline void
sink_close(struct sink *s, sink_close_fn cb, void *arg)
{
	void *impl = s->impl;

	s->impl = NULL;
	s->ops->close(impl, cb, arg);
}

#endif
