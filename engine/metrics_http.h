/*
 * metrics_http.h: darter's counters for Prometheus, over plain HTTP on a
 * libuv loop.
 *
 * The server answers exactly one resource: GET (or HEAD) /metrics, in the
 * Prometheus text exposition format 0.0.4. Any other path is 404, another
 * method on /metrics 405, a malformed request 400, headers larger than
 * max_header 431, a client silent for timeout_ms 408; every response
 * closes the connection. Nothing is ever read from disk: a path is
 * compared as bytes, so "/../etc/passwd" is just another 404.
 *
 * Counters come from a callback, as struct eve_counter rows with the
 * dotted names of the EVE stats event. Names become metric names:
 * "decoder.pkts" -> darter_decoder_pkts ("darter.flow.emitted" ->
 * darter_flow_emitted: the prefix is not doubled); characters outside
 * [a-zA-Z0-9_:] become '_'. A segment made of a label key and a number
 * becomes a label: "capture.port0.queue1.packets" ->
 * darter_capture_packets{port="0",queue="1"}. Series of one metric are
 * grouped under one "# TYPE" line (counter, or gauge for the names listed
 * in conf.gauges) whatever their order in the rows.
 *
 * Threads: everything belongs to the thread running the loop.
 */
#ifndef DARTER_METRICS_HTTP_H
#define DARTER_METRICS_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "eve.h"

#define METRICS_HTTP_DEFAULT_ADDR	  "127.0.0.1"
#define METRICS_HTTP_DEFAULT_PREFIX	  "darter"
#define METRICS_HTTP_DEFAULT_MAX_HEADER	  8192u /* request line and headers, bytes */
#define METRICS_HTTP_DEFAULT_TIMEOUT_MS	  5000u
#define METRICS_HTTP_DEFAULT_MAX_CLIENTS  16u
#define METRICS_HTTP_DEFAULT_MAX_COUNTERS 4096u

struct metrics_http;

/*
 * Fill out[0..cap) with the current counters and return how many (at
 * most cap; more are ignored). Runs on the loop thread, once per scrape;
 * the names must stay valid until the next call (they are read right
 * after this one returns). Reading other threads' counters safely is the
 * callback's business.
 */
typedef size_t (*metrics_http_collect_fn)(void *arg, struct eve_counter *out, size_t cap);

/* Runs once when a closed server is gone; the server is already freed. */
typedef void (*metrics_http_close_fn)(void *arg);

struct metrics_http_conf {
	const char *addr;	   /* numeric IPv4 or IPv6; NULL: METRICS_HTTP_DEFAULT_ADDR */
	uint16_t port;		   /* 0: any free port (see metrics_http_port()) */
	uint32_t max_header;	   /* 0: METRICS_HTTP_DEFAULT_MAX_HEADER */
	uint32_t timeout_ms;	   /* per connection, whole request; 0: the default */
	uint32_t max_clients;	   /* connections at once, more get 503; 0: the default */
	uint32_t max_counters;	   /* rows offered to collect; 0: the default */
	const char *prefix;	   /* metric name prefix; NULL: "darter"; "": none */
	const char *const *labels; /* label keys, NULL-terminated; NULL: port, queue, worker */
	const char *const *gauges; /* dotted names (label segments left out) typed gauge */
	metrics_http_collect_fn collect; /* required */
	void *arg;
};

/* Counters since metrics_http_new(). */
struct metrics_http_stats {
	uint64_t connections;	 /* accepted (rejected included) */
	uint64_t rejected;	 /* 503: max_clients reached */
	uint64_t requests;	 /* complete request heads received */
	uint64_t scrapes;	 /* 200 responses */
	uint64_t not_found;	 /* 404 */
	uint64_t bad_method;	 /* 405 */
	uint64_t bad_request;	 /* 400 and 505 */
	uint64_t too_large;	 /* 431 */
	uint64_t timeouts;	 /* 408 or closed: the client was too slow */
	uint64_t errors;	 /* 500: out of memory */
	uint64_t write_errors;	 /* responses the client did not take */
	uint64_t dropped_series; /* rows whose metric and labels repeat an earlier row */
};

/*
 * Listen on conf->addr:conf->port. conf is copied (strings and lists
 * included). Loop thread. NULL with errno EINVAL (bad conf or address),
 * ENOMEM, or the bind/listen error (EADDRINUSE, EACCES...).
 */
struct metrics_http *metrics_http_new(uv_loop_t *loop, const struct metrics_http_conf *conf);

/* The port actually bound (useful with conf.port 0). */
uint16_t metrics_http_port(const struct metrics_http *m);

/*
 * Stop listening and close every connection (responses in flight are
 * cut). When the last handle is closed, m is freed and close_cb(arg) runs
 * (close_cb may be NULL). Call once; loop thread.
 */
void metrics_http_close(struct metrics_http *m, metrics_http_close_fn close_cb, void *arg);

/* Copy m's counters into *st. Loop thread. */
void metrics_http_stats(const struct metrics_http *m, struct metrics_http_stats *st);

/*
 * Format c[0..n) as exposition text with conf's prefix, labels and
 * gauges (other conf fields unused). Returns a malloc'ed NUL-terminated
 * text (*len bytes, NUL excluded) that the caller frees, or NULL with
 * errno ENOMEM. *dropped (may be NULL) gets the rows left out because
 * they repeat a metric and label set. Any thread.
 */
char *metrics_http_format(const struct metrics_http_conf *conf, const struct eve_counter *c,
			  size_t n, size_t *len, size_t *dropped);

#endif
