/*
 * control.h: darter's control socket, a Unix stream socket speaking
 * newline-delimited JSON.
 *
 * Framing: every request and every reply is one JSON object on one line
 * ('\n'; a '\r' before it is ignored). A request is
 *   {"command":"dump-counters","arguments":{...}}   ("arguments" optional)
 * and its reply
 *   {"return":"OK","message":<any JSON>}   or   {"return":"NOK","message":"why"}
 * as Suricata's unix-command, without its version handshake. A client
 * may send requests back to back; each gets one reply, in order.
 *
 * Commands are registered with a callback that receives a struct
 * control_req and answers it exactly once with control_reply_ok(),
 * control_reply_nok() or control_reply_msg(), right away or later (an
 * asynchronous reload). The reply's message is built with the
 * control_msg_* setters, so callers never see the JSON library (jansson;
 * control.c is the only file that includes it). "version", "uptime" and
 * "command-list" are registered by default and may be replaced.
 *
 * Threads: everything belongs to the thread running the loop, callbacks
 * included; nothing here locks. The process must ignore SIGPIPE (darter's
 * main does): a client that vanishes while we write would otherwise kill
 * the process.
 */
#ifndef DARTER_CONTROL_H
#define DARTER_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <uv.h>

#include "eve.h"

#define CONTROL_DEFAULT_MODE	    0660
#define CONTROL_DEFAULT_MAX_REQUEST (64u * 1024) /* bytes in one request line, '\n' excluded */
#define CONTROL_DEFAULT_MAX_CLIENTS 16

struct control;
struct control_req;

struct control_conf {
	const char *path;	  /* socket file; its directory must exist */
	mode_t mode;		  /* socket file mode; 0: CONTROL_DEFAULT_MODE */
	uid_t uid;		  /* owner set on the socket file; (uid_t)-1: unchanged */
	gid_t gid;		  /* group set on the socket file; (gid_t)-1: unchanged */
	uint32_t max_request;	  /* 0: CONTROL_DEFAULT_MAX_REQUEST */
	uint32_t max_clients;	  /* connections at once; 0: CONTROL_DEFAULT_MAX_CLIENTS */
	uint32_t idle_timeout_ms; /* close a client silent this long; 0: never */
	const char *version;	  /* "version" reply; NULL: DARTER_VERSION */
};

/* Counters since control_new(). */
struct control_stats {
	uint64_t accepted;     /* connections accepted (rejected ones included) */
	uint64_t rejected;     /* connections refused: max_clients reached */
	uint64_t requests;     /* request lines received (empty lines not counted) */
	uint64_t ok;	       /* replies with "return":"OK" */
	uint64_t nok;	       /* replies with "return":"NOK" (all causes below included) */
	uint64_t bad_json;     /* of nok: not JSON, not an object, bad "command"/"arguments" */
	uint64_t unknown;      /* of nok: no such command */
	uint64_t oversize;     /* request lines longer than max_request: NOK, connection closed */
	uint64_t timeouts;     /* clients closed after idle_timeout_ms */
	uint64_t write_errors; /* replies that could not be written: client gone */
	uint64_t orphaned;     /* replies given after their client had gone: dropped */
	uint64_t internal;     /* replies that could not be built (memory, bad JSON text) */
};

/*
 * A command handler. Runs on the loop thread with the request (owned by
 * the module) and the arg given at registration. It must answer req
 * exactly once, now or later, from the loop thread; req is freed by the
 * answer. It may read arguments with control_arg_*() until then.
 */
typedef void (*control_cmd_fn)(struct control_req *req, void *arg);

/* Runs once when a closed server is gone; the server is already freed. */
typedef void (*control_close_fn)(void *arg);

/*
 * Create the socket file conf->path, listen on it on loop and register
 * the default commands. An existing file at path is replaced only if it
 * is a socket nobody listens on (a stale one); the new socket appears
 * with its final mode and owner (bound in a private directory, then
 * renamed into place). conf is copied. Loop thread. NULL with errno:
 *   EADDRINUSE   a server listens on path
 *   EEXIST       path exists and is not a socket
 *   ENAMETOOLONG path (or its directory plus 15) does not fit sun_path
 *   EINVAL       bad conf; ENOMEM; or the errno of mkdir, bind, chmod...
 */
struct control *control_new(uv_loop_t *loop, const struct control_conf *conf);

/*
 * Register (or replace) command name. name is copied; fn must not be
 * NULL. Returns 0, -EINVAL or -ENOMEM. Loop thread.
 */
int control_register(struct control *c, const char *name, control_cmd_fn fn, void *arg);

/*
 * Stop listening, remove the socket file (if it is still ours) and close
 * every client: a reply being written is flushed first. Requests still
 * unanswered must be answered as usual (the answer is dropped, counted
 * in orphaned). When the last handle is closed and the last request
 * answered, c is freed and close_cb(arg) runs (close_cb may be NULL).
 * Call once; loop thread; safe from a handler.
 */
void control_close(struct control *c, control_close_fn close_cb, void *arg);

/* Copy c's counters into *st. Loop thread. */
void control_stats(const struct control *c, struct control_stats *st);

/* ------------------------------------------------------------ requests */

/* The command's name; lives as long as req. */
const char *control_req_command(const struct control_req *req);

/* The server req came from (to call control_close() from "shutdown"). */
struct control *control_req_server(const struct control_req *req);

/*
 * The string argument name, or NULL if absent or not a string. Lives as
 * long as req.
 */
const char *control_arg_str(const struct control_req *req, const char *name);

/*
 * The argument name as an unsigned integer into *out: 0, -ENOENT (absent)
 * or -EINVAL (not a non-negative JSON integer).
 */
int control_arg_u64(const struct control_req *req, const char *name, uint64_t *out);

/*
 * Number of arguments (members of "arguments"), and the whole
 * "arguments" object as compact JSON text into buf (cap bytes, NUL
 * included): returns its length, or -ENOSPC with nothing useful in buf.
 */
size_t control_arg_count(const struct control_req *req);
int control_args_json(const struct control_req *req, char *buf, size_t cap);

/* -------------------------------------------------------------- replies */

/*
 * Reply setters build the object message of an OK reply. key is dotted:
 * "flow.memuse" sets {"flow":{"memuse":v}}, making objects as needed
 * (a non-object in the way is replaced). Returns 0; -EINVAL for an empty
 * key segment, a NULL string or one that is not UTF-8 (nothing set); or
 * -ENOMEM (the answer will then be NOK "out of memory", counted in
 * internal).
 */
int control_msg_u64(struct control_req *req, const char *key, uint64_t v);
int control_msg_i64(struct control_req *req, const char *key, int64_t v);
int control_msg_double(struct control_req *req, const char *key, double v);
int control_msg_bool(struct control_req *req, const char *key, bool v);
int control_msg_str(struct control_req *req, const char *key, const char *s);

/*
 * Set key to the JSON value in text[0..len) (an object from
 * eve_format_stats(), say); key NULL: the value is the whole message
 * (a later setter replaces a message that is not an object). -EINVAL if
 * text is not one JSON value.
 */
int control_msg_json(struct control_req *req, const char *key, const char *text, size_t len);

/* control_msg_u64() for each counter: dotted names nest. */
int control_msg_counters(struct control_req *req, const struct eve_counter *c, size_t n);

/* Answer OK with the message built so far (an empty object if none). */
void control_reply_msg(struct control_req *req);

/* Answer OK with the string text as message (text NULL: the built object). */
void control_reply_ok(struct control_req *req, const char *text);

/* Answer NOK with a formatted message; whatever was built is discarded. */
void control_reply_nok(struct control_req *req, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
