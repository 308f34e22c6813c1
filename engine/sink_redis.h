/*
 * sink_redis.h: EVE lines to Redis, one command per line, over rconn.
 *
 * Modes:
 *   SINK_REDIS_PUBLISH  PUBLISH key line             (live subscribers only)
 *   SINK_REDIS_XADD     XADD key MAXLEN ~ maxlen * field line
 *                       (maxlen 0: no MAXLEN)
 *   SINK_REDIS_LPUSH    LPUSH key line, and every 64 lines
 *                       LTRIM key 0 maxlen-1 when maxlen > 0: a capped
 *                       list keeping the newest lines; a reader takes
 *                       the oldest with RPOP/BRPOP
 * The value is the line without its '\n'.
 *
 * Commands are pipelined on one struct rconn (engine/rconn.h), which
 * reconnects by itself with backoff; at most `window` are in flight.
 * While the window is full, lines wait in a bounded queue (queue_lines,
 * queue_bytes); full queue: the newest line is dropped. While Redis is
 * down (rconn between attempts) lines are dropped at once, counted. A
 * command whose reply never came (disconnect, timeout, close) counts as
 * dropped (and unsure, sink.h) although Redis may have executed it; an error reply counts as
 * dropped and as an error. See sink.h for the shared counters.
 *
 * Threads: a sink belongs to the thread running its loop. The process
 * ignores SIGPIPE (rconn.h).
 */
#ifndef DARTER_SINK_REDIS_H
#define DARTER_SINK_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "sink.h"

#define SINK_REDIS_DEFAULT_WINDOW      1000u
#define SINK_REDIS_DEFAULT_QUEUE_LINES 10000u
#define SINK_REDIS_DEFAULT_QUEUE_BYTES (4u * 1024u * 1024u)
#define SINK_REDIS_DEFAULT_LINGER      1000u
#define SINK_REDIS_LTRIM_EVERY	       64u

enum sink_redis_mode {
	SINK_REDIS_PUBLISH = 0,
	SINK_REDIS_XADD = 1,
	SINK_REDIS_LPUSH = 2,
};

struct sink_redis_conf {
	const char *host;	   /* numeric address, copied */
	uint16_t port;		   /* not 0 */
	uint32_t timeout_ms;	   /* per command / connect (rconn); 0: none */
	uint32_t backoff_min_ms;   /* rconn reconnect backoff; 0: 100 */
	uint32_t backoff_max_ms;   /* 0: 5000 */
	enum sink_redis_mode mode; /* PUBLISH, XADD or LPUSH */
	const char *key;	   /* channel, stream or list name, copied */
	const char *field;	   /* XADD field name, copied; NULL: "eve" */
	uint64_t maxlen;	   /* XADD MAXLEN ~ / LTRIM bound; 0: unbounded */
	uint32_t window;	   /* commands in flight; 0: 1000 */
	uint32_t queue_lines;	   /* lines waiting for the window; 0: 10000 */
	uint32_t queue_bytes;	   /* bytes waiting for the window; 0: 4 MiB */
	uint32_t linger_ms;	   /* at close, time given to drain; 0: 1000 */
};

struct sink_redis;

/* Fill conf with the defaults (host 127.0.0.1, port 6379, PUBLISH, key NULL). */
void sink_redis_conf_defaults(struct sink_redis_conf *conf);

/*
 * A sink on loop, connecting now. NULL with errno set: EINVAL (no key,
 * bad mode, port 0, backoff_min > backoff_max), ENOMEM. Loop thread.
 */
struct sink_redis *sink_redis_open(uv_loop_t *loop, const struct sink_redis_conf *conf);

/*
 * Send (or queue) one line, trailing '\n' optional; copied. 0 when
 * accepted; otherwise dropped, counted, and: -ENOTCONN (Redis down),
 * -ENOBUFS (queue full), -EMSGSIZE (longer than queue_bytes),
 * -EINVAL (empty), -ESHUTDOWN (closing), -ENOMEM. Loop thread.
 */
int sink_redis_write(struct sink_redis *s, const char *line, size_t len);

/* Send queued lines the window takes now. 0: nothing waits; -EAGAIN. */
int sink_redis_flush(struct sink_redis *s);

/* Copy the counters (sink.h) into *st. */
void sink_redis_stats(const struct sink_redis *s, struct sink_stats *st);

/*
 * Close asynchronously: queued and in-flight lines get up to linger_ms,
 * then the rest is dropped (counted); the client closes, s is freed and
 * cb(arg, final counters) runs (cb may be NULL). Call once; loop thread.
 */
void sink_redis_close(struct sink_redis *s, sink_close_fn cb, void *arg);

/* The ops row (the key argument of write is ignored). */
extern const struct sink_ops sink_redis_ops;

#endif
