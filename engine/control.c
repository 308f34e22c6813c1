/*
 * control.c: the control socket: newline-delimited JSON over a Unix
 * stream socket, on a libuv loop.
 *
 * What: a listener on a socket file and up to max_clients connections.
 * Each connection reads bytes into a buffer that grows up to
 * max_request + 1; every '\n' ends a request line, which is parsed with
 * jansson, checked ("command" a string, "arguments" an object if
 * present) and handed to the registered handler. A line that does not
 * fit is answered NOK and the connection closed: nothing else can be
 * resynchronised. Anything else wrong (not JSON, wrong shape, unknown
 * command) is answered NOK and the connection lives on.
 *
 * One request at a time per connection: while a handler holds a request
 * or its reply is being written, the connection does not read, so
 * replies come out in request order, a client that sends faster than it
 * reads is held back by its own socket buffer and at most one reply per
 * client is in memory. A handler may answer later (asynchronously);
 * the request then outlives a client that goes away (its answer is
 * dropped and counted) and even control_close(): the server is freed only
 * when every handle is closed and every request answered.
 *
 * The socket file. A file at path is replaced only if it is a socket
 * that refuses connections (a stale one, left by a crash); a live server
 * or a regular file makes control_new() fail. The new socket is bound
 * in a private mkdtemp() directory next to path, given its mode and
 * owner there, put to listen, then renamed over path: it never exists
 * at path with the umask's mode, and there is no window where path is
 * missing. At close the file is removed only if it is still the one we
 * created (same device and inode).
 *
 * jansson is included here and nowhere else in darter (STYLE rule 4):
 * it is a small, stable, well-kept library with no dependencies,
 * packaged by Debian, that bounds nesting depth, rejects trailing data
 * and invalid UTF-8, and escapes control characters on output, so a
 * reply is always one line.
 *
 * Not here: authentication (the file mode and owner are the access
 * control), Suricata's version handshake, multiple replies per request.
 */
#include "control.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <jansson.h>

#include "log.h"

#ifndef DARTER_VERSION
#define DARTER_VERSION "unknown"
#endif

#define CONTROL_TAG	     "control"
#define CONTROL_BACKLOG	     16
#define CONTROL_BUF_MIN	     4096
#define CONTROL_NOK_MAX	     1024
#define CONTROL_TMP_TEMPLATE "/.darter-ctl.XXXXXX"
#define CONTROL_TMP_SOCK     "/s"

struct control_cmd {
	char *name;
	control_cmd_fn fn;
	void *arg;
};

struct control_client {
	struct control_client *next;
	struct control_client **pprev;
	struct control *ctl;
	uv_pipe_t pipe;
	uv_timer_t timer;
	uv_write_t wr;
	char *out;		 /* the reply being written, or NULL */
	char *buf;		 /* bytes read and not yet consumed */
	size_t len;		 /* bytes in buf */
	size_t bufcap;		 /* allocated; grows up to ctl->conf.max_request + 1 */
	struct control_req *req; /* the request a handler holds, or NULL */
	int handles;		 /* open handles: pipe and timer */
	bool reading;
	bool eof;	 /* the client shut down its side */
	bool quit;	 /* close once the reply is written */
	bool closing;	 /* client_close() was called */
	bool rejected;	 /* over max_clients: not counted in n_clients */
	bool processing; /* client_process() is on the stack */
};

struct control_req {
	struct control *ctl;
	struct control_client *cl; /* NULL once the client is gone */
	char *command;
	json_t *args; /* an object, never NULL */
	json_t *msg;  /* the message being built, or NULL */
	bool oom;     /* a setter failed: the answer becomes NOK */
};

struct control {
	uv_loop_t *loop;
	uv_pipe_t server;
	struct control_conf conf;
	char *path;
	char *version;
	dev_t dev; /* the socket file we created */
	ino_t ino;
	struct control_cmd *cmds;
	size_t n_cmds;
	struct control_client *clients;
	uint32_t n_clients; /* accepted and not rejected */
	unsigned handles;   /* open handles: the listener and the clients' */
	unsigned reqs;	    /* requests not answered yet */
	uint64_t started_ns;
	bool closing;
	control_close_fn close_cb;
	void *close_arg;
	struct control_stats st;
};

static void client_process(struct control_client *cl);
static void client_close(struct control_client *cl);

/* ------------------------------------------------------------------ */
/* Freeing                                                            */
/* ------------------------------------------------------------------ */

static void
control_free(struct control *c)
{
	control_close_fn cb = c->close_cb;
	void *arg = c->close_arg;

	for (size_t i = 0; i < c->n_cmds; i++)
		free(c->cmds[i].name);
	free(c->cmds);
	free(c->path);
	free(c->version);
	free(c);
	if (cb != NULL)
		cb(arg);
}

/* The server is freed once closing, with no handle open and no request held. */
static void
control_maybe_done(struct control *c)
{
	if (c->closing && c->handles == 0 && c->reqs == 0)
		control_free(c);
}

/* ------------------------------------------------------------------ */
/* Requests                                                           */
/* ------------------------------------------------------------------ */

static struct control_req *
req_new(struct control_client *cl, const char *command, json_t *args)
{
	struct control_req *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->command = strdup(command);
	if (r->command == NULL) {
		free(r);
		return NULL;
	}
	r->args = args != NULL ? json_incref(args) : json_object();
	if (r->args == NULL) {
		free(r->command);
		free(r);
		return NULL;
	}
	r->ctl = cl->ctl;
	r->cl = cl;
	cl->req = r;
	cl->ctl->reqs++;
	return r;
}

static void
req_free(struct control_req *r)
{
	struct control *c = r->ctl;

	if (r->cl != NULL)
		r->cl->req = NULL;
	json_decref(r->args);
	json_decref(r->msg);
	free(r->command);
	free(r);
	assert(c->reqs > 0);
	c->reqs--;
	control_maybe_done(c);
}

const char *
control_req_command(const struct control_req *req)
{
	return req->command;
}

struct control *
control_req_server(const struct control_req *req)
{
	return req->ctl;
}

const char *
control_arg_str(const struct control_req *req, const char *name)
{
	return json_string_value(json_object_get(req->args, name));
}

int
control_arg_u64(const struct control_req *req, const char *name, uint64_t *out)
{
	json_t *v = json_object_get(req->args, name);

	if (v == NULL)
		return -ENOENT;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -EINVAL;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

size_t
control_arg_count(const struct control_req *req)
{
	return json_object_size(req->args);
}

int
control_args_json(const struct control_req *req, char *buf, size_t cap)
{
	size_t n = json_dumpb(req->args, buf, cap, JSON_COMPACT | JSON_SORT_KEYS);

	if (n == 0 || n >= cap)
		return -ENOSPC;
	buf[n] = '\0';
	return (int)n;
}

/* ------------------------------------------------------------------ */
/* Building the message                                               */
/* ------------------------------------------------------------------ */

/* Set dotted key to v (stolen), creating objects on the way. */
static int
msg_set(struct control_req *req, const char *key, json_t *v)
{
	const char *dot;
	json_t *o;

	if (v == NULL)
		goto nomem;
	if (key == NULL) { /* v is the whole message */
		json_decref(req->msg);
		req->msg = v;
		return 0;
	}
	if (!json_is_object(req->msg)) {
		json_decref(req->msg);
		if ((req->msg = json_object()) == NULL)
			goto nomem;
	}
	o = req->msg;
	while ((dot = strchr(key, '.')) != NULL) {
		char seg[256];
		size_t n = (size_t)(dot - key);
		json_t *next;

		if (n == 0 || n >= sizeof(seg))
			goto inval;
		memcpy(seg, key, n);
		seg[n] = '\0';
		next = json_object_get(o, seg);
		if (!json_is_object(next)) {
			next = json_object();
			if (json_object_set_new(o, seg, next) != 0)
				goto nomem;
		}
		o = next;
		key = dot + 1;
	}
	if (*key == '\0')
		goto inval;
	if (json_object_set_new(o, key, v) != 0) {
		v = NULL;
		goto nomem;
	}
	return 0;
inval:
	json_decref(v);
	return -EINVAL;
nomem:
	json_decref(v);
	req->oom = true;
	return -ENOMEM;
}

int
control_msg_u64(struct control_req *req, const char *key, uint64_t v)
{
	/* jansson integers are signed 64-bit; beyond that a double is the best JSON can do */
	if (v > (uint64_t)INT64_MAX)
		return msg_set(req, key, json_real((double)v));
	return msg_set(req, key, json_integer((json_int_t)v));
}

int
control_msg_i64(struct control_req *req, const char *key, int64_t v)
{
	return msg_set(req, key, json_integer((json_int_t)v));
}

int
control_msg_double(struct control_req *req, const char *key, double v)
{
	return msg_set(req, key, json_real(v));
}

int
control_msg_bool(struct control_req *req, const char *key, bool v)
{
	return msg_set(req, key, json_boolean(v));
}

int
control_msg_str(struct control_req *req, const char *key, const char *s)
{
	json_t *v;

	if (s == NULL)
		return -EINVAL;
	v = json_string(s);
	if (v == NULL) /* not UTF-8 is the likely reason, not memory */
		return -EINVAL;
	return msg_set(req, key, v);
}

int
control_msg_json(struct control_req *req, const char *key, const char *text, size_t len)
{
	json_error_t err;
	json_t *v = json_loadb(text, len, JSON_DECODE_ANY, &err);

	if (v == NULL)
		return -EINVAL;
	return msg_set(req, key, v);
}

int
control_msg_counters(struct control_req *req, const struct eve_counter *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int rc = control_msg_u64(req, c[i].name, c[i].value);

		if (rc != 0)
			return rc;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Answering                                                          */
/* ------------------------------------------------------------------ */

static void
client_on_write(uv_write_t *wr, int status)
{
	struct control_client *cl = wr->data;

	free(cl->out);
	cl->out = NULL;
	if (status < 0) {
		cl->ctl->st.write_errors++;
		LOG_DEBUG(CONTROL_TAG, "reply not written: %s", uv_strerror(status));
		client_close(cl);
		return;
	}
	if (cl->quit || cl->ctl->closing) {
		client_close(cl);
		return;
	}
	client_process(cl);
}

/* Write text (len bytes, '\n' included; owned, freed here) to cl. */
static void
client_send(struct control_client *cl, char *text, size_t len)
{
	uv_buf_t b = uv_buf_init(text, (unsigned)len);
	int rc;

	assert(cl->out == NULL);
	cl->out = text;
	cl->wr.data = cl;
	rc = uv_write(&cl->wr, (uv_stream_t *)&cl->pipe, &b, 1, client_on_write);
	if (rc < 0) {
		cl->out = NULL;
		free(text);
		cl->ctl->st.write_errors++;
		client_close(cl);
	}
}

/* Encode {"return":..,"message":msg} (msg stolen) as one line; NULL on failure. */
static char *
reply_encode(bool ok, json_t *msg, size_t *len)
{
	json_t *o = json_object();
	char *s = NULL;

	if (o == NULL || msg == NULL)
		goto out;
	if (json_object_set_new(o, "return", json_string(ok ? "OK" : "NOK")) != 0)
		goto out;
	if (json_object_set_new(o, "message", msg) != 0) {
		msg = NULL;
		goto out;
	}
	msg = NULL;
	s = json_dumps(o, JSON_COMPACT);
	if (s != NULL) {
		char *t;

		*len = strlen(s);
		t = realloc(s, *len + 2);
		if (t == NULL) {
			free(s);
			s = NULL;
			goto out;
		}
		s = t;
		s[(*len)++] = '\n';
		s[*len] = '\0';
	}
out:
	json_decref(msg);
	json_decref(o);
	return s;
}

/* Send a reply to cl, outside any request (framing errors, rejection). */
static void
client_answer(struct control_client *cl, bool ok, json_t *msg)
{
	size_t len = 0;
	char *s = reply_encode(ok, msg, &len);

	if (ok)
		cl->ctl->st.ok++;
	else
		cl->ctl->st.nok++;
	if (s == NULL) {
		cl->ctl->st.internal++;
		client_close(cl);
		return;
	}
	client_send(cl, s, len);
}

static void client_nok(struct control_client *cl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
client_nok(struct control_client *cl, const char *fmt, ...)
{
	char text[CONTROL_NOK_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	client_answer(cl, false, json_string(text));
}

/* Answer req with msg (stolen): the one exit of every request. */
static void
req_answer(struct control_req *req, bool ok, json_t *msg)
{
	struct control_client *cl = req->cl;

	if (msg == NULL) { /* no memory, or a string that is not UTF-8 */
		req->ctl->st.internal++;
		ok = false;
		msg = json_string("internal error: reply could not be built");
	}
	if (cl == NULL) {
		req->ctl->st.orphaned++;
		json_decref(msg);
		req_free(req);
		return;
	}
	req_free(req); /* cl->req = NULL: the client may go on */
	client_answer(cl, ok, msg);
	if (!cl->processing && !cl->closing && cl->out == NULL)
		client_process(cl);
}

void
control_reply_msg(struct control_req *req)
{
	json_t *msg;

	if (req->oom) {
		control_reply_nok(req, "out of memory");
		return;
	}
	msg = req->msg != NULL ? req->msg : json_object();
	req->msg = NULL;
	req_answer(req, true, msg);
}

void
control_reply_ok(struct control_req *req, const char *text)
{
	if (text == NULL) {
		control_reply_msg(req);
		return;
	}
	req_answer(req, true, json_string(text));
}

void
control_reply_nok(struct control_req *req, const char *fmt, ...)
{
	char text[CONTROL_NOK_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	req_answer(req, false, json_string(text));
}

/* ------------------------------------------------------------------ */
/* Request lines                                                      */
/* ------------------------------------------------------------------ */

static const struct control_cmd *
control_find(const struct control *c, const char *name)
{
	for (size_t i = 0; i < c->n_cmds; i++) {
		if (strcmp(c->cmds[i].name, name) == 0)
			return &c->cmds[i];
	}
	return NULL;
}

/* Parse and dispatch one line (no '\n'); may answer at once or leave cl->req set. */
static void
client_line(struct control_client *cl, const char *line, size_t n)
{
	struct control *c = cl->ctl;
	const struct control_cmd *cmd;
	struct control_req *req;
	json_error_t err;
	json_t *root, *command, *args;

	root = json_loadb(line, n, JSON_REJECT_DUPLICATES, &err);
	if (root == NULL || !json_is_object(root)) {
		c->st.bad_json++;
		client_nok(cl, root == NULL ? "invalid JSON: %s" : "request is not an object",
			   err.text);
		goto out;
	}
	command = json_object_get(root, "command");
	args = json_object_get(root, "arguments");
	if (!json_is_string(command) || (args != NULL && !json_is_object(args))) {
		c->st.bad_json++;
		client_nok(cl, "request needs \"command\" (a string) and optional "
			       "\"arguments\" (an object)");
		goto out;
	}
	cmd = control_find(c, json_string_value(command));
	if (cmd == NULL) {
		c->st.unknown++;
		client_nok(cl, "unknown command \"%.64s\"", json_string_value(command));
		goto out;
	}
	req = req_new(cl, json_string_value(command), args);
	if (req == NULL) {
		c->st.internal++;
		client_nok(cl, "out of memory");
		goto out;
	}
	cmd->fn(req, cmd->arg);
out:
	json_decref(root);
}

/* Is line[0..n) only blanks? Blank lines are skipped, not answered. */
static bool
line_blank(const char *line, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
			return false;
	}
	return true;
}

/* Take one complete line off the buffer, if there is one. */
static bool
client_take_line(struct control_client *cl)
{
	char *nl = memchr(cl->buf, '\n', cl->len);
	size_t n, used;

	if (nl == NULL) {
		if (!cl->eof || cl->len == 0)
			return false;
		n = used = cl->len; /* a last line without '\n' before EOF */
	} else {
		n = (size_t)(nl - cl->buf);
		used = n + 1;
	}
	if (n > cl->ctl->conf.max_request) /* fits the buffer only thanks to '\r' or EOF slack */
		return false;
	if (n > 0 && cl->buf[n - 1] == '\r')
		n--;
	if (!line_blank(cl->buf, n)) {
		cl->ctl->st.requests++;
		client_line(cl, cl->buf, n);
	}
	memmove(cl->buf, cl->buf + used, cl->len - used);
	cl->len -= used;
	return true;
}

static void client_on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b);
static void client_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b);

static void
client_timer_restart(struct control_client *cl)
{
	if (cl->ctl->conf.idle_timeout_ms > 0)
		uv_timer_again(&cl->timer);
}

/* Handle buffered lines until a request is held or a reply is in flight, then read. */
static void
client_process(struct control_client *cl)
{
	cl->processing = true;
	while (!cl->closing && cl->req == NULL && cl->out == NULL) {
		if (client_take_line(cl))
			continue;
		if (cl->len > cl->ctl->conf.max_request) {
			cl->ctl->st.oversize++;
			cl->quit = true;
			client_nok(cl, "request longer than %u bytes", cl->ctl->conf.max_request);
			break;
		}
		if (cl->eof) {
			client_close(cl);
			break;
		}
		if (!cl->reading) {
			uv_read_start((uv_stream_t *)&cl->pipe, client_on_alloc, client_on_read);
			cl->reading = true;
		}
		client_timer_restart(cl);
		cl->processing = false;
		return;
	}
	if (cl->reading) { /* busy: the socket buffer holds the client back */
		uv_read_stop((uv_stream_t *)&cl->pipe);
		cl->reading = false;
	}
	if (!cl->closing && cl->req == NULL)
		client_timer_restart(cl); /* bounds the write too */
	cl->processing = false;
}

/* ------------------------------------------------------------------ */
/* Connections                                                        */
/* ------------------------------------------------------------------ */

static void
client_on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct control_client *cl = h->data;
	size_t max = (size_t)cl->ctl->conf.max_request + 1;

	(void)hint;
	if (cl->len == cl->bufcap && cl->bufcap < max) {
		size_t cap = cl->bufcap * 2 < max ? cl->bufcap * 2 : max;
		char *p = realloc(cl->buf, cap);

		if (p != NULL) {
			cl->buf = p;
			cl->bufcap = cap;
		}
	}
	*b = uv_buf_init(cl->buf + cl->len, (unsigned)(cl->bufcap - cl->len));
}

static void
client_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct control_client *cl = s->data;

	(void)b;
	if (nread == 0)
		return;
	if (nread == UV_EOF) {
		cl->eof = true;
	} else if (nread < 0) {
		client_close(cl);
		return;
	} else {
		cl->len += (size_t)nread;
	}
	client_process(cl);
}

static void
client_on_close(uv_handle_t *h)
{
	struct control_client *cl = h->data;
	struct control *c = cl->ctl;

	if (--cl->handles > 0)
		return;
	assert(cl->out == NULL); /* write callbacks run before close callbacks */
	free(cl->buf);
	free(cl);
	c->handles -= 2;
	control_maybe_done(c);
}

static void
client_close(struct control_client *cl)
{
	if (cl->closing)
		return;
	cl->closing = true;
	if (cl->req != NULL) {
		cl->req->cl = NULL; /* its answer will be dropped */
		cl->req = NULL;
	}
	if (cl->next != NULL)
		cl->next->pprev = cl->pprev;
	*cl->pprev = cl->next;
	if (!cl->rejected)
		cl->ctl->n_clients--;
	uv_close((uv_handle_t *)&cl->pipe, client_on_close);
	uv_close((uv_handle_t *)&cl->timer, client_on_close);
}

static void
client_on_timer(uv_timer_t *t)
{
	struct control_client *cl = t->data;

	if (cl->req != NULL) /* a handler is working: not the client's fault */
		return;
	cl->ctl->st.timeouts++;
	client_close(cl);
}

static void
control_on_connection(uv_stream_t *server, int status)
{
	struct control *c = server->data;
	struct control_client *cl;

	if (status < 0) {
		LOG_WARN(CONTROL_TAG, "accept: %s", uv_strerror(status));
		return;
	}
	cl = calloc(1, sizeof(*cl));
	if (cl == NULL || (cl->buf = malloc(CONTROL_BUF_MIN)) == NULL) {
		free(cl);
		LOG_WARN(CONTROL_TAG, "accept: out of memory");
		return;
	}
	cl->bufcap = CONTROL_BUF_MIN;
	cl->ctl = c;
	uv_pipe_init(c->loop, &cl->pipe, 0);
	uv_timer_init(c->loop, &cl->timer);
	cl->pipe.data = cl->timer.data = cl;
	cl->handles = 2;
	c->handles += 2;
	if (c->conf.idle_timeout_ms > 0)
		uv_timer_start(&cl->timer, client_on_timer, c->conf.idle_timeout_ms,
			       c->conf.idle_timeout_ms);
	cl->next = c->clients;
	cl->pprev = &c->clients;
	if (c->clients != NULL)
		c->clients->pprev = &cl->next;
	c->clients = cl;
	c->st.accepted++;
	if (uv_accept(server, (uv_stream_t *)&cl->pipe) != 0) {
		cl->rejected = true;
		client_close(cl);
		return;
	}
	if (c->n_clients >= c->conf.max_clients) {
		c->st.rejected++;
		cl->rejected = true;
		cl->quit = true;
		client_nok(cl, "too many clients (%u)", c->conf.max_clients);
		return;
	}
	c->n_clients++;
	client_process(cl);
}

/* ------------------------------------------------------------------ */
/* Default commands                                                   */
/* ------------------------------------------------------------------ */

static void
control_cmd_version(struct control_req *req, void *arg)
{
	struct control *c = arg;

	control_reply_ok(req, c->version);
}

static void
control_cmd_uptime(struct control_req *req, void *arg)
{
	struct control *c = arg;
	uint64_t s = (uv_hrtime() - c->started_ns) / 1000000000u;

	req_answer(req, true, json_integer((json_int_t)s));
}

static void
control_cmd_list(struct control_req *req, void *arg)
{
	struct control *c = arg;
	json_t *list = json_array();

	for (size_t i = 0; list != NULL && i < c->n_cmds; i++) {
		if (json_array_append_new(list, json_string(c->cmds[i].name)) != 0)
			req->oom = true;
	}
	if (list == NULL)
		req->oom = true;
	msg_set(req, "count", json_integer((json_int_t)c->n_cmds));
	msg_set(req, "commands", list);
	control_reply_msg(req);
}

int
control_register(struct control *c, const char *name, control_cmd_fn fn, void *arg)
{
	struct control_cmd *cmd = (struct control_cmd *)control_find(c, name);
	struct control_cmd *t;

	if (fn == NULL || name == NULL || *name == '\0')
		return -EINVAL;
	if (cmd != NULL) {
		cmd->fn = fn;
		cmd->arg = arg;
		return 0;
	}
	t = realloc(c->cmds, (c->n_cmds + 1) * sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	c->cmds = t;
	cmd = &c->cmds[c->n_cmds];
	cmd->name = strdup(name);
	if (cmd->name == NULL)
		return -ENOMEM;
	cmd->fn = fn;
	cmd->arg = arg;
	c->n_cmds++;
	return 0;
}

/* ------------------------------------------------------------------ */
/* The socket file                                                    */
/* ------------------------------------------------------------------ */

/* 0 if path is free or a stale socket; -EADDRINUSE, -EEXIST or -errno otherwise. */
static int
control_check_path(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	struct stat sb;
	int fd, rc;

	if (lstat(path, &sb) != 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(sb.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memcpy(a.sun_path, path, strlen(path) + 1);
	rc = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 ? 0 : errno;
	close(fd);
	if (rc == 0 || rc == EAGAIN) /* EAGAIN: someone listens, backlog full */
		return -EADDRINUSE;
	if (rc == ECONNREFUSED || rc == ENOENT)
		return 0;
	return -rc;
}

/* A bound, listening socket at tmp with its final mode and owner; fd or -errno. */
static int
control_bind(const char *tmp, const struct control_conf *conf)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int rc = 0;

	if (fd < 0)
		return -errno;
	memcpy(a.sun_path, tmp, strlen(tmp) + 1);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		goto fail;
	if (chmod(tmp, conf->mode) != 0)
		goto fail_unlink;
	if ((conf->uid != (uid_t)-1 || conf->gid != (gid_t)-1) &&
	    chown(tmp, conf->uid, conf->gid) != 0)
		goto fail_unlink;
	if (listen(fd, CONTROL_BACKLOG) != 0)
		goto fail_unlink;
	return fd;
fail_unlink:
	rc = -errno;
	unlink(tmp);
	close(fd);
	return rc;
fail:
	rc = -errno;
	close(fd);
	return rc;
}

/* Create the listening socket at c->path (see the top comment); fd or -errno. */
static int
control_listen_fd(struct control *c)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char tmp[sizeof(dir)];
	const char *slash = strrchr(c->path, '/');
	size_t dlen = slash == NULL ? 1 : (size_t)(slash - c->path);
	struct stat sb;
	int fd, rc;

	if (strlen(c->path) >= sizeof(dir) ||
	    dlen + strlen(CONTROL_TMP_TEMPLATE CONTROL_TMP_SOCK) >= sizeof(dir))
		return -ENAMETOOLONG;
	rc = control_check_path(c->path);
	if (rc < 0)
		return rc;
	/* "<dir of path>/.darter-ctl.XXXXXX"; "/x.sock" gives "/.darter-ctl.XXXXXX" */
	memcpy(tmp, slash == NULL ? "." : c->path, dlen);
	memcpy(tmp + dlen, CONTROL_TMP_TEMPLATE, sizeof(CONTROL_TMP_TEMPLATE));
	if (mkdtemp(tmp) == NULL)
		return -errno;
	memcpy(dir, tmp, strlen(tmp) + 1); /* now: the private directory */
	memcpy(tmp + strlen(tmp), CONTROL_TMP_SOCK, sizeof(CONTROL_TMP_SOCK));
	fd = control_bind(tmp, &c->conf);
	if (fd < 0) {
		rmdir(dir);
		return fd;
	}
	if (rename(tmp, c->path) != 0 || lstat(c->path, &sb) != 0) {
		rc = -errno;
		unlink(tmp);
		rmdir(dir);
		close(fd);
		return rc;
	}
	rmdir(dir);
	c->dev = sb.st_dev;
	c->ino = sb.st_ino;
	return fd;
}

/* ------------------------------------------------------------------ */
/* Life cycle                                                         */
/* ------------------------------------------------------------------ */

static int
control_conf_copy(struct control *c, const struct control_conf *conf)
{
	c->conf = *conf;
	if (c->conf.mode == 0)
		c->conf.mode = CONTROL_DEFAULT_MODE;
	if (c->conf.max_request == 0)
		c->conf.max_request = CONTROL_DEFAULT_MAX_REQUEST;
	if (c->conf.max_clients == 0)
		c->conf.max_clients = CONTROL_DEFAULT_MAX_CLIENTS;
	if ((c->conf.mode & ~(mode_t)07777) != 0 || c->conf.max_request > INT_MAX / 2)
		return -EINVAL;
	c->path = strdup(conf->path);
	c->version = strdup(conf->version != NULL ? conf->version : DARTER_VERSION);
	if (c->path == NULL || c->version == NULL)
		return -ENOMEM;
	c->conf.path = c->path;
	c->conf.version = c->version;
	return 0;
}

static void
control_on_server_close(uv_handle_t *h)
{
	struct control *c = h->data;

	c->handles--;
	control_maybe_done(c);
}

struct control *
control_new(uv_loop_t *loop, const struct control_conf *conf)
{
	struct control *c;
	int fd, rc;

	if (loop == NULL || conf == NULL || conf->path == NULL || conf->path[0] == '\0') {
		errno = EINVAL;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->loop = loop;
	c->started_ns = uv_hrtime();
	rc = control_conf_copy(c, conf);
	if (rc == 0)
		rc = control_register(c, "version", control_cmd_version, c);
	if (rc == 0)
		rc = control_register(c, "uptime", control_cmd_uptime, c);
	if (rc == 0)
		rc = control_register(c, "command-list", control_cmd_list, c);
	if (rc != 0)
		goto fail;
	fd = control_listen_fd(c);
	if (fd < 0) {
		rc = fd;
		goto fail;
	}
	uv_pipe_init(loop, &c->server, 0);
	c->server.data = c;
	c->handles = 1;
	rc = uv_pipe_open(&c->server, fd);
	if (rc != 0)
		close(fd);
	else
		rc = uv_listen((uv_stream_t *)&c->server, CONTROL_BACKLOG, control_on_connection);
	if (rc != 0) {
		/* the handle exists now: unwind through control_close() */
		LOG_ERR(CONTROL_TAG, "%s: listen: %s", c->path, uv_strerror(rc));
		control_close(c, NULL, NULL);
		errno = -rc;
		return NULL;
	}
	LOG_INFO(CONTROL_TAG, "listening on %s (mode %04o)", c->path, (unsigned)c->conf.mode);
	return c;
fail:
	c->closing = true;
	control_free(c);
	errno = -rc;
	return NULL;
}

void
control_close(struct control *c, control_close_fn close_cb, void *arg)
{
	struct control_client *cl, *next;
	struct stat sb;

	assert(!c->closing);
	c->closing = true;
	c->close_cb = close_cb;
	c->close_arg = arg;
	if (lstat(c->path, &sb) == 0 && sb.st_dev == c->dev && sb.st_ino == c->ino)
		unlink(c->path);
	uv_close((uv_handle_t *)&c->server, control_on_server_close);
	for (cl = c->clients; cl != NULL; cl = next) {
		next = cl->next;
		if (cl->out != NULL)
			cl->quit = true; /* flushed, then closed by client_on_write */
		else
			client_close(cl);
	}
}

void
control_stats(const struct control *c, struct control_stats *st)
{
	*st = c->st;
}
