/*
 * sink_unix.h: EVE lines to a Unix socket that a reader listens on.
 *
 * The writer side of Suricata's unix_stream / unix_dgram EVE outputs:
 * the sink CONNECTS to path (a reader such as Logstash, a SIEM forwarder
 * or darter's own input_unix listens there). Stream: lines end with '\n'
 * and are written back to back. Datagram: one line per datagram, without
 * its '\n'.
 *
 * Nothing blocks the loop: the socket is non-blocking and watched with a
 * uv_poll; lines wait in one bounded buffer (buf_bytes and max_lines)
 * while the reader is slow or absent. Buffer full: the newest line is
 * dropped and counted (see sink.h). A refused or lost connection is
 * retried after backoff_min_ms, doubling up to backoff_max_ms, and reset
 * to backoff_min_ms once connected; buffered lines survive reconnects.
 * A datagram reader's queue is short (net.unix.max_dgram_qlen, 10 by
 * default on Linux): the sink's buffer is what absorbs a burst. A gone
 * datagram reader is noticed at the next send (ECONNREFUSED), a gone
 * stream reader at once (end of file on the socket).
 *
 * Threads: one sink belongs to the thread running its loop. Writes use
 * MSG_NOSIGNAL: a reader that goes away never raises SIGPIPE.
 */
#ifndef DARTER_SINK_UNIX_H
#define DARTER_SINK_UNIX_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "sink.h"

#define SINK_UNIX_DEFAULT_BUF	      (1024u * 1024u)
#define SINK_UNIX_DEFAULT_LINES	      16384u
#define SINK_UNIX_DEFAULT_BACKOFF_MIN 100u
#define SINK_UNIX_DEFAULT_BACKOFF_MAX 10000u
#define SINK_UNIX_DEFAULT_LINGER      1000u

enum sink_unix_kind {
	SINK_UNIX_STREAM = 0, /* SOCK_STREAM, as Suricata's unix_stream */
	SINK_UNIX_DGRAM = 1,  /* SOCK_DGRAM, as Suricata's unix_dgram */
};

struct sink_unix_conf {
	const char *path;	  /* the reader's socket file, copied */
	enum sink_unix_kind kind; /* stream or datagram */
	uint32_t buf_bytes;	  /* buffer bound, bytes; 0: 1 MiB */
	uint32_t max_lines;	  /* buffer bound, lines; 0: 16384 */
	uint32_t backoff_min_ms;  /* first reconnect delay; 0: 100 */
	uint32_t backoff_max_ms;  /* longest reconnect delay; 0: 10000 */
	uint32_t linger_ms;	  /* at close, time given to drain the buffer; 0: 1000 */
};

struct sink_unix;

/* Fill conf with the defaults (path NULL, stream). */
void sink_unix_conf_defaults(struct sink_unix_conf *conf);

/*
 * A sink on loop, connecting to conf->path now (a reader that is not
 * there yet is not an error: the sink retries). NULL with errno set:
 * EINVAL (no path, a path too long for sun_path, bad kind, backoff_min >
 * backoff_max), ENOMEM. Loop thread.
 */
struct sink_unix *sink_unix_open(uv_loop_t *loop, const struct sink_unix_conf *conf);

/*
 * Queue one line (len bytes, trailing '\n' optional; the data is copied).
 * 0 when accepted; otherwise the line is dropped, counted, and the
 * result is -ENOBUFS (buffer full), -EMSGSIZE (larger than buf_bytes),
 * -EINVAL (empty) or -ESHUTDOWN (closing). Loop thread.
 */
int sink_unix_write(struct sink_unix *s, const char *line, size_t len);

/* Write what the socket takes now. 0: buffer empty; -EAGAIN: lines wait. */
int sink_unix_flush(struct sink_unix *s);

/* Copy the counters (sink.h) into *st. */
void sink_unix_stats(const struct sink_unix *s, struct sink_stats *st);

/*
 * Close asynchronously: no more writes; the buffer drains for up to
 * linger_ms while connected, the rest is counted as dropped, the socket
 * and handles close, s is freed, then cb(arg, final counters) runs (cb
 * may be NULL).
 * Call once. Loop thread.
 */
void sink_unix_close(struct sink_unix *s, sink_close_fn cb, void *arg);

/* The ops row: struct sink { &sink_unix_ops, s } (the key is ignored). */
extern const struct sink_ops sink_unix_ops;

#endif
