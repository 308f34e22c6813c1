/*
 * input_unix.h: EVE JSON lines from a Unix socket, read on a libuv loop.
 *
 * Suricata's EVE output with filetype unix_stream or unix_dgram CONNECTS
 * to a socket file: darter is the listener. In suricata.yaml:
 *
 *   outputs:
 *     - eve-log:
 *         enabled: yes
 *         filetype: unix_stream      # or unix_dgram (mode INPUT_UNIX_DGRAM)
 *         filename: /run/darter/eve.sock
 *         types: [flow, alert, dns, tls, http]
 *
 * and darter listens at /run/darter/eve.sock (start darter first, or
 * Suricata retries the connection; its user needs write access: see
 * file_mode, uid and gid below).
 *
 * Stream mode: several writers at once, each connection framed by '\n'
 * on its own (a "\r\n" ends a line too), its unfinished line kept in its
 * own buffer. A line longer than max_line is counted and skipped in
 * bounded memory (max_line + chunk per connection at most). A writer
 * that disconnects mid-line: the unfinished line is counted (partial)
 * and not delivered. At most max_clients connections; more are accepted
 * and closed at once (counted rejected), so Suricata sees an error and
 * reconnects later.
 *
 * Datagram mode: one datagram is one line, a trailing '\n' (or "\r\n")
 * optional. A datagram longer than max_line (+ its newline) is counted
 * and skipped: its real size is known (recv(2) with MSG_TRUNC), so a
 * truncated event never reaches the parser.
 *
 * Backpressure: a line callback that returns INPUT_UNIX_PAUSE (or calls
 * input_unix_pause()) stops reading: no line callback runs (not even for
 * lines already buffered) until input_unix_resume(). Meanwhile the
 * kernel's socket buffers fill and the writer blocks, which is how a
 * stream socket (and a connected Unix datagram socket) pushes back on
 * Suricata instead of losing events.
 *
 * The socket file is created with file_mode (default 0660) and its owner
 * before it appears at path. A file already at path is replaced only if
 * it is a socket nobody listens on (left by a crash); a live listener or
 * any other file makes input_unix_start() fail. The file is removed at
 * close if it is still ours.
 *
 * One struct input_unix belongs to the thread running its loop; nothing
 * here locks. It never writes to its sockets (no SIGPIPE from here).
 */
#ifndef DARTER_INPUT_UNIX_H
#define DARTER_INPUT_UNIX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <uv.h>

#define INPUT_UNIX_DEFAULT_MODE	       0660
#define INPUT_UNIX_DEFAULT_LINE	       (64u * 1024u)
#define INPUT_UNIX_DEFAULT_CHUNK       (64u * 1024u)
#define INPUT_UNIX_DEFAULT_MAX_CLIENTS 16

/* Line callback result: keep going, or stop reading until input_unix_resume(). */
#define INPUT_UNIX_CONTINUE 0
#define INPUT_UNIX_PAUSE    1

struct input_unix;

enum input_unix_kind {
	INPUT_UNIX_STREAM = 0, /* SOCK_STREAM: Suricata's unix_stream */
	INPUT_UNIX_DGRAM = 1,  /* SOCK_DGRAM: Suricata's unix_dgram */
};

/*
 * One complete line (no '\n'), valid during the call only. conn names
 * the connection it came from (1, 2, ... in accept order; 0 in datagram
 * mode): lines of one connection arrive in order. Return
 * INPUT_UNIX_CONTINUE, or INPUT_UNIX_PAUSE to stop reading.
 */
typedef int (*input_unix_line_cb)(void *arg, const char *line, size_t len, uint64_t conn);

/* input_unix_close() finished: the object is freed. */
typedef void (*input_unix_close_cb)(void *arg);

struct input_unix_conf {
	const char *path;	   /* socket file, copied; its directory must exist */
	enum input_unix_kind kind; /* stream or datagram */
	mode_t file_mode;	   /* socket file mode; 0: INPUT_UNIX_DEFAULT_MODE */
	uid_t uid;		   /* owner of the socket file; (uid_t)-1: unchanged */
	gid_t gid;		   /* group of the socket file; (gid_t)-1: unchanged */
	uint32_t max_line;	   /* longest line delivered, bytes; 0: 64 KiB */
	uint32_t chunk;		   /* stream: bytes per read(2); 0: 64 KiB */
	uint32_t max_clients;	   /* stream: connections at once; 0: 16 */
	uint32_t rcvbuf;	   /* SO_RCVBUF of the socket; 0: the kernel's default */
};

/* Counters, written by the loop thread only. */
struct input_unix_stats {
	uint64_t lines;		/* lines delivered */
	uint64_t bytes;		/* bytes received (datagrams: whole sizes, newline included) */
	uint64_t reads;		/* reads that returned data (datagrams received) */
	uint64_t too_long;	/* lines or datagrams longer than max_line, skipped */
	uint64_t partial;	/* unfinished lines at a disconnect or at close, not delivered */
	uint64_t dropped;	/* complete lines still buffered at close (paused, or closed from a
				   callback) */
	uint64_t clients;	/* connections accepted and served (rejected ones excluded) */
	uint64_t clients_now;	/* connections open now */
	uint64_t rejected;	/* connections closed at once: max_clients reached */
	uint64_t disconnects;	/* connections ended by the writer (end of file) */
	uint64_t read_errors;	/* read/recv failures (the connection is closed) */
	uint64_t accept_errors; /* accept failures (out of memory or descriptors) */
	uint64_t pauses;	/* times reading stopped for backpressure */
};

/* Fill conf with the defaults (path NULL, stream, uid and gid unchanged). */
void input_unix_conf_defaults(struct input_unix_conf *conf);

/*
 * A reader on loop; no socket yet. on_line must not be NULL. Returns
 * NULL with errno set (EINVAL: no path or on_line, a path too long for
 * sun_path, a bad kind or mode, max_line or chunk out of 1..1 GiB;
 * ENOMEM). Loop thread only.
 */
struct input_unix *input_unix_new(uv_loop_t *loop, const struct input_unix_conf *conf,
				  input_unix_line_cb on_line, void *arg);

/*
 * Create the socket file and start listening. 0, or -errno:
 * -EADDRINUSE (someone listens at path), -EEXIST (path is not a socket),
 * -EALREADY (started or closing), or a socket call's error. After a
 * failure the reader can only be closed. Loop thread only; once.
 */
int input_unix_start(struct input_unix *u);

/*
 * Stop reading: no line callback runs until input_unix_resume(). May be
 * called from a line callback (as returning INPUT_UNIX_PAUSE). Loop
 * thread only.
 */
void input_unix_pause(struct input_unix *u);

/*
 * Read again after a pause: the lines buffered during the pause come
 * first, on a later loop turn (never from inside this call). Loop thread
 * only, from anywhere, a line callback included.
 */
void input_unix_resume(struct input_unix *u);

/*
 * Shutdown without losing what was sent: deliver every line buffered
 * (paused ones included) and what the kernel holds for the socket and
 * each connection now, reading without blocking, pauses ignored (a line
 * callback asking to pause is not obeyed). Bounded: a writer that keeps
 * writing does not hold it forever. Then call input_unix_close(), whose
 * counts (partial, dropped) are what is left. Loop thread only, not from
 * a line callback.
 */
void input_unix_drain(struct input_unix *u);

/*
 * Remove the socket file, disconnect every writer and free,
 * asynchronously: on_close(arg) runs from the loop once every handle is
 * closed, and then u is gone. No line callback runs after this call,
 * even when it is made from inside one. Unfinished and buffered lines
 * are counted (partial, dropped). on_close may be NULL; u NULL is fine.
 */
void input_unix_close(struct input_unix *u, input_unix_close_cb on_close);

/* The counters (valid until on_close returns: on_close may read them). */
const struct input_unix_stats *input_unix_stats(const struct input_unix *u);

#endif
