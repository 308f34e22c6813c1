/*
 * rconn.h: darter's asynchronous Redis client, one per libuv loop.
 *
 * A struct rconn owns one pipelined connection to one Redis server,
 * reconnects by itself with exponential backoff, bounds the commands in
 * flight (the window) and gives every accepted command exactly one
 * callback: a reply, or an error saying why there is none (disconnected,
 * timed out, client closed). Commands are argv vectors, never format
 * strings, so event text can be passed as is. EVALSHA helpers load each
 * script once per connection and retry once on NOSCRIPT. Design notes are
 * in rconn.c, the only file in darter that includes hiredis.
 *
 * Threads: a client and everything it hands out belong to the thread
 * running its loop; nothing here locks. The process must ignore SIGPIPE
 * (darter's main does): hiredis 0.14 writes with write(2), and a server
 * that dies while we write would otherwise kill the process.
 */
#ifndef DARTER_RCONN_H
#define DARTER_RCONN_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

/* Largest window accepted in struct rconn_conf.max_pending. */
#define RCONN_MAX_PENDING (1u << 20)

struct rconn;
struct rconn_script;

struct rconn_conf {
	const char *host;	 /* numeric address; a name costs a blocking getaddrinfo */
	uint16_t port;		 /* TCP port, not 0 */
	uint32_t timeout_ms;	 /* per command and per connect attempt; 0: never */
	uint32_t backoff_min_ms; /* first reconnect delay, >= 1 */
	uint32_t backoff_max_ms; /* the delay doubles up to this, >= backoff_min_ms */
	uint32_t max_pending;	 /* window: commands in flight, 1..RCONN_MAX_PENDING */
};

enum rconn_state {
	RCONN_DOWN,	  /* no connection: waiting for the next attempt */
	RCONN_CONNECTING, /* connect(2) in progress; commands are accepted */
	RCONN_UP,	  /* connected */
	RCONN_CLOSING,	  /* rconn_close() was called */
};

/*
 * Counters since rconn_new(). Invariant, at any time:
 * commands == replies + errors + pending.
 */
struct rconn_stats {
	enum rconn_state state;
	uint32_t pending;	   /* accepted commands whose callback has not run yet */
	uint64_t connect_attempts; /* connections started */
	uint64_t connects;	   /* connections established */
	uint64_t connect_failures; /* attempts refused, unreachable or timed out */
	uint64_t disconnects;	   /* established connections lost, timed out or closed */
	uint64_t stalls;	   /* connections dropped because a reply or connect was overdue */
	uint64_t commands;	   /* commands accepted (each gets one callback) */
	uint64_t replies;	   /* callbacks with a server reply, error replies included */
	uint64_t server_errors;	   /* of replies: error replies (-ERR, -NOSCRIPT, ...) */
	uint64_t errors;	   /* callbacks without a reply: disconnected, timeout, closed */
	uint64_t timeouts;	   /* of errors: RCONN_RESULT_TIMEOUT */
	uint64_t rejected;	   /* calls refused with -ENOTCONN or -ESHUTDOWN */
	uint64_t full;		   /* calls refused with -EAGAIN: window full */
	uint64_t script_loads;	   /* SCRIPT LOAD sent */
	uint64_t script_retries;   /* EVALSHA resent after NOSCRIPT */
	uint64_t script_errors;	   /* SCRIPT LOAD answered with an error or a wrong SHA1 */
};

enum rconn_type {
	RCONN_TYPE_STRING,  /* bulk string: str, len */
	RCONN_TYPE_STATUS,  /* +OK and friends: str, len */
	RCONN_TYPE_INTEGER, /* integer */
	RCONN_TYPE_NIL,	    /* null bulk or null array */
	RCONN_TYPE_ARRAY,   /* elements, read with rconn_reply_element() */
	RCONN_TYPE_ERROR,   /* error reply: str, len ("NOSCRIPT ...", "ERR ...") */
};

/*
 * A read-only view of one reply, valid only during the callback that
 * receives it (the reply is freed when the callback returns): copy what
 * must outlive it.
 */
struct rconn_reply {
	enum rconn_type type;
	long long integer; /* RCONN_TYPE_INTEGER */
	const char *str;   /* STRING, STATUS, ERROR: len bytes plus a NUL; else NULL */
	size_t len;
	size_t elements; /* RCONN_TYPE_ARRAY */
	/* private: */
	const void *impl;
};

enum rconn_result {
	RCONN_RESULT_OK,	   /* reply is a non-error reply */
	RCONN_RESULT_SERVER_ERROR, /* reply is an error reply (type RCONN_TYPE_ERROR) */
	RCONN_RESULT_DISCONNECTED, /* no reply: the connection failed or was lost */
	RCONN_RESULT_TIMEOUT,	   /* no reply: a reply was overdue, the connection was dropped */
	RCONN_RESULT_CLOSED,	   /* no reply: rconn_close() was called */
};

/*
 * Runs exactly once per accepted command, on the loop thread. reply is
 * non-NULL for RCONN_RESULT_OK and RCONN_RESULT_SERVER_ERROR, NULL
 * otherwise. The callback may issue commands, read stats and call
 * rconn_close(); it must not run the loop. A command that fails
 * for lack of a connection was either never executed or executed without
 * its reply reaching us: the caller decides whether to fall back.
 */
typedef void (*rconn_reply_fn)(struct rconn *c, enum rconn_result res,
			       const struct rconn_reply *reply, void *arg);

/* Runs once when a closed client is gone; the client is already freed. */
typedef void (*rconn_close_fn)(void *arg);

/*
 * Create a client on loop and start connecting to conf->host:conf->port.
 * conf is copied (host included). Loop thread. Returns NULL with errno
 * EINVAL (bad conf) or ENOMEM. The client keeps the loop alive until
 * rconn_close() has completed.
 */
struct rconn *rconn_new(uv_loop_t *loop, const struct rconn_conf *conf);

/*
 * Send argv[0..argc) (argvlen[i] bytes each; argvlen NULL: NUL-terminated
 * strings) as one command. The arguments are copied before return.
 * Returns 0 when accepted: cb(c, ..., arg) then runs exactly once, never
 * before this call returns. Otherwise cb never runs and the result is:
 *   -ENOTCONN  waiting to reconnect: nothing is queued across connections
 *              (counted in rejected); commands are accepted while
 *              connecting and fail with RCONN_RESULT_DISCONNECTED if the
 *              connect fails
 *   -EAGAIN    the window (max_pending) is full (counted in full)
 *   -ESHUTDOWN rconn_close() was called (counted in rejected)
 *   -EINVAL    argc < 1 or cb NULL; -ENOTSUP for SUBSCRIBE, PSUBSCRIBE,
 *              SSUBSCRIBE, UNSUBSCRIBE, PUNSUBSCRIBE and MONITOR, whose
 *              replies do not pair with commands; -ENOMEM
 * Loop thread, callbacks included.
 */
int rconn_command(struct rconn *c, rconn_reply_fn cb, void *arg, int argc, const char *const *argv,
		  const size_t *argvlen);

/*
 * Register a Lua script body (len bytes) with c and return its handle,
 * owned by c and freed by rconn_close(). Its SHA1 is computed
 * here; SCRIPT LOAD is sent lazily, before the first EVALSHA on each
 * connection. NULL with errno EINVAL or ENOMEM. Loop thread.
 */
struct rconn_script *rconn_script(struct rconn *c, const char *body, size_t len);

/* The script's SHA1 as 40 lowercase hex digits; lives as long as s. */
const char *rconn_script_sha(const struct rconn_script *s);

/*
 * EVALSHA s numkeys argv[0..argc): argv holds the numkeys keys, then the
 * arguments (argvlen as in rconn_command()). If the connection
 * has not loaded s yet, SCRIPT LOAD is pipelined first. A NOSCRIPT
 * error (SCRIPT FLUSH, server restart) reloads the script and resends
 * the command once, with a fresh deadline; a second NOSCRIPT reaches cb.
 * Returns as rconn_command(); -EINVAL also when s is not c's or
 * numkeys is outside 0..argc.
 */
int rconn_evalsha(struct rconn *c, struct rconn_script *s, rconn_reply_fn cb, void *arg,
		  int numkeys, int argc, const char *const *argv, const size_t *argvlen);

/*
 * Whether rconn_command() would find a connection now (connecting or up,
 * not closed): callers that queue work before sending it check this to
 * fall back at once instead of queueing for a connection that is not
 * there. The window is not considered. Loop thread.
 */
int rconn_ready(const struct rconn *c);

/* Copy c's counters and state into *st. Loop thread. */
void rconn_stats(const struct rconn *c, struct rconn_stats *st);

/*
 * Close c asynchronously: new commands get -ESHUTDOWN; on a later loop
 * turn every pending command gets RCONN_RESULT_CLOSED, the connection
 * and timers close, c and its scripts are freed, then close_cb(arg)
 * runs (close_cb may be NULL). Safe from inside a reply callback: the
 * hiredis context is never freed from within its own callbacks. Call
 * once; loop thread.
 */
void rconn_close(struct rconn *c, rconn_close_fn close_cb, void *arg);

/*
 * Fill *out with element i of array reply r. 0, or -EINVAL when r is not
 * an array or i >= r->elements. Valid as long as r.
 */
int rconn_reply_element(const struct rconn_reply *r, size_t i, struct rconn_reply *out);

/* "ok", "server error", "disconnected", "timeout", "closed". */
const char *rconn_result_name(enum rconn_result res);

#endif
