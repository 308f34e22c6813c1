/*
 * rconn.c: darter's Redis client: hiredis 0.14 async on a libuv loop.
 *
 * What: one pipelined TCP connection per client; every accepted command
 * gets exactly one callback; connections that fail are retried with
 * exponential backoff; a reply that is overdue breaks the connection.
 * This is the only file in darter that includes hiredis: its version
 * quirks stay here (STYLE rule 4).
 *
 * The adapter. hiredis drives I/O through hooks in redisAsyncContext.ev
 * (add/del read, add/del write, cleanup). The libuv adapter shipped with
 * 0.14 returns from its poll callback on an error status. libuv reports
 * POLLERR exactly that way (UV_EBADF, no events) and stops the watcher
 * before calling; a refused connect, or the reset from a server that died
 * while we were writing, shows up as nothing else, so hiredis never
 * learned of it: no connect, reply or disconnect callback, ever. Ours
 * hands an error status to redisAsyncHandleRead, as newer hiredis does:
 * getsockopt(SO_ERROR) or read(2) returns the error and hiredis tears the
 * context down, running the callbacks. Handling it as a write would not
 * work: with an empty output buffer the write "succeeds", hiredis arms
 * again, the same error comes back at once: a busy loop. If hiredis
 * survives the read, the watcher libuv stopped is restarted with what
 * hiredis wanted before. The hooks are idempotent and touch libuv only
 * when the event mask changes (hiredis calls addWrite for every command,
 * and uv_poll_start re-registers the descriptor each time). The uv_poll_t
 * lives in a block freed only in its uv_close callback (STYLE rule 9),
 * so the poll callback may look at it after hiredis freed the context.
 *
 * Exactly once. hiredis 0.14 runs every reply callback it accepted
 * exactly once: with the reply, or with NULL when the context is torn
 * down. We complete commands from those callbacks only. Each accepted
 * command holds a slot from a pool of max_pending allocated up front;
 * slots wait in a FIFO in the order sent, which is the order Redis
 * answers, so a completion always pops the head and the head always has
 * the earliest deadline. The reason a connection failed (disconnected,
 * timeout, closed) is set when we disown its context, before hiredis
 * flushes the NULL replies. We learn of a loss from whichever hiredis
 * reports first: onConnect(error), the first NULL reply, onDisconnect.
 * From then on c->ac is NULL and commands get -ENOTCONN, so a callback
 * that issues a command during the flush never reaches a dying context.
 *
 * Freeing. redisAsyncFree() runs from our timers only (a deadline passed,
 * the close step), never from inside a hiredis callback: there it would
 * be deferred (REDIS_IN_CALLBACK) for reply callbacks, but 0.14 runs
 * onConnect and onDisconnect without that flag and freeing there is a
 * double free. So rconn_close() only marks the client and starts
 * a 0 ms timer that does the work.
 *
 * Timeouts. 0.14 has none. One uv_timer_t per client watches the earliest
 * deadline, the FIFO head's or the connect attempt's. It is armed when a
 * command is sent and it is idle; on expiry it re-arms for the next
 * deadline, or, if one has passed, the connection is declared stalled:
 * every pending command fails with TIMEOUT (the server may have run it,
 * and after an overdue reply the whole pipeline is suspect), the context
 * is freed and we reconnect. Timeouts use uv_now(), the loop's clock.
 *
 * Reconnect. A second timer; the delay starts at backoff_min, doubles
 * with each failure up to backoff_max and is reset by a connect that
 * succeeds. Between attempts commands fail fast with -ENOTCONN: nothing
 * is queued across connections (a queue would hold events of unbounded
 * age and turn an outage into a burst); the caller counts and falls
 * back. Commands are accepted while connecting: hiredis buffers them.
 *
 * Commands are argv vectors encoded in RESP here, into a buffer kept per
 * slot (no allocation in steady state; hiredis still allocates its own
 * callback record and output buffer), and handed over with
 * redisAsyncFormattedCommand. The buffer lets an EVALSHA be resent after
 * NOSCRIPT. A script's SHA1 is computed here, so its EVALSHA can be
 * pipelined right behind its SCRIPT LOAD, once per connection.
 *
 * Not here: AUTH and SELECT (per-connection state, lost at reconnect),
 * pub/sub and MONITOR (rejected: their replies do not pair with
 * commands), RESP3, TLS, Unix sockets, cluster, asynchronous name
 * resolution (hiredis calls getaddrinfo: configure an address).
 */
#include "rconn.h"

#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "digest.h"
#include "log.h"

#define RCONN_TAG     "redis"
#define RCONN_SHA_HEX 40 /* SHA1 as hex digits */

#define rconn_unlikely(x) __builtin_expect(!!(x), 0)

/* One accepted command, from send until its callback. */
struct rconn_cmd {
	struct rconn_cmd *next; /* pending FIFO, or the free list */
	rconn_reply_fn cb;	/* NULL while free */
	void *arg;
	struct rconn_script *script; /* EVALSHA: resent once on NOSCRIPT */
	uint64_t deadline;	     /* uv_now() by which the reply is due */
	bool retried;
	char *buf; /* the command as sent, RESP; kept across uses */
	size_t len;
	size_t cap;
};

struct rconn_script {
	struct rconn_script *next;
	struct rconn *client;
	uint64_t loaded_on; /* serial of the connection SCRIPT LOAD went to; 0: none */
	bool warned;	    /* a failed SCRIPT LOAD was logged */
	char sha[RCONN_SHA_HEX + 1];
	char *load; /* SCRIPT LOAD <body>, RESP */
	size_t load_len;
};

struct rconn {
	uv_loop_t *loop;
	redisAsyncContext *ac;	/* current connection; NULL when there is none */
	enum rconn_state state; /* DOWN, CONNECTING or UP; closing is separate */
	bool closing;
	bool logged;		 /* a failure was logged: log the next connect */
	enum rconn_result fail;	 /* what commands of a disowned context get */
	uint64_t serial;	 /* connections started, numbers the current one */
	uint64_t connect_due;	 /* uv_now() by which the connect must complete */
	uint32_t backoff_ms;	 /* delay before the next attempt */
	int timers_open;	 /* the client is freed when both timers are closed */
	uv_timer_t retry;	 /* backoff before reconnecting; then the close step */
	uv_timer_t deadline;	 /* earliest reply or connect deadline */
	struct rconn_cmd *slots; /* max_pending of them */
	struct rconn_cmd *free_cmds;
	struct rconn_cmd *head; /* oldest pending */
	struct rconn_cmd *tail;
	uint32_t pending;
	struct rconn_script *scripts;
	struct rconn_stats st;
	rconn_close_fn close_cb;
	void *close_arg;
	struct rconn_conf conf;
	char *host; /* conf.host points here */
};

static void on_reply(redisAsyncContext *ac, void *r, void *priv);
static void retry_schedule(struct rconn *c);

/* ------------------------------------------------------------------ */
/* libuv adapter for redisAsyncContext, with errors reaching hiredis  */
/* ------------------------------------------------------------------ */

struct rconn_uv {
	redisAsyncContext *ac; /* NULL once hiredis called cleanup */
	uv_poll_t poll;
	int events; /* UV_READABLE | UV_WRITABLE as hiredis asked, and as libuv watches */
};

static void rconn_uv_on_poll(uv_poll_t *h, int status, int events);

/* Watch exactly events; libuv is touched only when that changes. */
static void
rconn_uv_want(struct rconn_uv *p, int events)
{
	if (p->ac == NULL || events == p->events)
		return;
	p->events = events;
	if (events != 0) {
		int rc = uv_poll_start(&p->poll, events, rconn_uv_on_poll);

		/* Only a second watcher on the same fd fails, and there is none. */
		assert(rc == 0);
		(void)rc;
	} else {
		uv_poll_stop(&p->poll);
	}
}

static void
rconn_uv_on_poll(uv_poll_t *h, int status, int events)
{
	struct rconn_uv *p = h->data;

	if (status < 0) {
		/*
		 * POLLERR: libuv has stopped the watcher. A read makes hiredis
		 * collect the error and run its callbacks (see the top).
		 */
		int wanted = p->events;

		p->events = 0;
		if (p->ac != NULL)
			redisAsyncHandleRead(p->ac);
		rconn_uv_want(p, p->events | wanted);
		return;
	}
	if (p->ac != NULL && (events & UV_READABLE))
		redisAsyncHandleRead(p->ac);
	if (p->ac != NULL && (events & UV_WRITABLE))
		redisAsyncHandleWrite(p->ac);
}

static void
rconn_uv_add_read(void *priv)
{
	struct rconn_uv *p = priv;

	rconn_uv_want(p, p->events | UV_READABLE);
}

static void
rconn_uv_del_read(void *priv)
{
	struct rconn_uv *p = priv;

	rconn_uv_want(p, p->events & ~UV_READABLE);
}

static void
rconn_uv_add_write(void *priv)
{
	struct rconn_uv *p = priv;

	rconn_uv_want(p, p->events | UV_WRITABLE);
}

static void
rconn_uv_del_write(void *priv)
{
	struct rconn_uv *p = priv;

	rconn_uv_want(p, p->events & ~UV_WRITABLE);
}

static void
rconn_uv_on_close(uv_handle_t *h)
{
	free(h->data);
}

/* hiredis is freeing the context: close the poll, free in its callback. */
static void
rconn_uv_cleanup(void *priv)
{
	struct rconn_uv *p = priv;

	if (p->ac == NULL)
		return;
	p->ac = NULL;
	uv_close((uv_handle_t *)&p->poll, rconn_uv_on_close);
}

/* Attach ac to loop. 0, -EEXIST (already attached), -ENOMEM or a uv error. */
static int
rconn_uv_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
	struct rconn_uv *p;
	int rc;

	if (ac->ev.data != NULL)
		return -EEXIST;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	rc = uv_poll_init_socket(loop, &p->poll, ac->c.fd);
	if (rc != 0) {
		free(p); /* not initialised, so not to be closed */
		return rc;
	}
	p->poll.data = p;
	p->ac = ac;
	ac->ev.data = p;
	ac->ev.addRead = rconn_uv_add_read;
	ac->ev.delRead = rconn_uv_del_read;
	ac->ev.addWrite = rconn_uv_add_write;
	ac->ev.delWrite = rconn_uv_del_write;
	ac->ev.cleanup = rconn_uv_cleanup;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Replies                                                            */
/* ------------------------------------------------------------------ */

static void
reply_view(const redisReply *r, struct rconn_reply *v)
{
	memset(v, 0, sizeof(*v));
	v->impl = r;
	switch (r->type) {
	case REDIS_REPLY_STRING:
		v->type = RCONN_TYPE_STRING;
		break;
	case REDIS_REPLY_STATUS:
		v->type = RCONN_TYPE_STATUS;
		break;
	case REDIS_REPLY_ERROR:
		v->type = RCONN_TYPE_ERROR;
		break;
	case REDIS_REPLY_INTEGER:
		v->type = RCONN_TYPE_INTEGER;
		v->integer = r->integer;
		return;
	case REDIS_REPLY_ARRAY:
		v->type = RCONN_TYPE_ARRAY;
		v->elements = r->elements;
		return;
	case REDIS_REPLY_NIL:
		v->type = RCONN_TYPE_NIL;
		return;
	default: /* 0.14 knows no other type */
		v->type = RCONN_TYPE_ERROR;
		v->str = "ERR reply type unknown to darter";
		v->len = strlen(v->str);
		return;
	}
	v->str = r->str;
	v->len = r->len;
}

static bool
reply_is_noscript(const struct rconn_reply *r)
{
	return r->type == RCONN_TYPE_ERROR && r->len >= 8 && memcmp(r->str, "NOSCRIPT", 8) == 0;
}

/* ------------------------------------------------------------------ */
/* Command slots and RESP encoding                                    */
/* ------------------------------------------------------------------ */

static size_t
resp_digits(size_t v)
{
	size_t n = 1;

	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

static char *
resp_put_uint(char *p, size_t v)
{
	size_t n = resp_digits(v);

	for (size_t i = n; i > 0; i--) {
		p[i - 1] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + n;
}

static size_t
resp_arg_size(size_t len)
{
	return 1 + resp_digits(len) + 2 + len + 2; /* $<len>\r\n<bytes>\r\n */
}

static char *
resp_put_arg(char *p, const char *s, size_t len)
{
	*p++ = '$';
	p = resp_put_uint(p, len);
	*p++ = '\r';
	*p++ = '\n';
	if (len > 0)
		memcpy(p, s, len);
	p += len;
	*p++ = '\r';
	*p++ = '\n';
	return p;
}

static size_t
arg_len(const char *const *argv, const size_t *argvlen, int i)
{
	return argvlen != NULL ? argvlen[i] : strlen(argv[i]);
}

/* Make buf hold at least need bytes. 0 or -ENOMEM. */
static int
buf_reserve(char **buf, size_t *cap, size_t need)
{
	char *p;
	size_t n = *cap > 0 ? *cap : 64;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	p = realloc(*buf, n);
	if (p == NULL)
		return -ENOMEM;
	*buf = p;
	*cap = n;
	return 0;
}

/* Encode head[0..nhead) then argv[0..argc) as one RESP command into cmd, NUL-terminated. */
static int
cmd_encode(struct rconn_cmd *cmd, int nhead, const char *const *head, const size_t *headlen,
	   int argc, const char *const *argv, const size_t *argvlen)
{
	size_t need = 1 + resp_digits((size_t)(nhead + argc)) + 2;
	char *p;

	for (int i = 0; i < nhead; i++)
		need += resp_arg_size(headlen[i]);
	for (int i = 0; i < argc; i++)
		need += resp_arg_size(arg_len(argv, argvlen, i));
	/* +1: hiredis 0.14 peeks one byte past a one-word command, as if it were an sds. */
	if (buf_reserve(&cmd->buf, &cmd->cap, need + 1) != 0)
		return -ENOMEM;
	p = cmd->buf;
	*p++ = '*';
	p = resp_put_uint(p, (size_t)(nhead + argc));
	*p++ = '\r';
	*p++ = '\n';
	for (int i = 0; i < nhead; i++)
		p = resp_put_arg(p, head[i], headlen[i]);
	for (int i = 0; i < argc; i++)
		p = resp_put_arg(p, argv[i], arg_len(argv, argvlen, i));
	*p = '\0';
	cmd->len = (size_t)(p - cmd->buf);
	assert(cmd->len == need);
	return 0;
}

/* Commands whose replies do not pair one to one with commands. */
static bool
cmd_unpaired(const char *name, size_t len)
{
	static const char *const names[] = {
		"subscribe",	"psubscribe",	"ssubscribe", "unsubscribe",
		"punsubscribe", "sunsubscribe", "monitor",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == len && strncasecmp(names[i], name, len) == 0)
			return true;
	return false;
}

/* May a command be sent now? 0, or the -errno the caller returns. */
static int
cmd_admit(struct rconn *c)
{
	if (rconn_unlikely(c->closing)) {
		c->st.rejected++;
		return -ESHUTDOWN;
	}
	if (rconn_unlikely(c->ac == NULL)) {
		c->st.rejected++;
		return -ENOTCONN;
	}
	if (rconn_unlikely(c->pending >= c->conf.max_pending)) {
		c->st.full++;
		return -EAGAIN;
	}
	return 0;
}

static struct rconn_cmd *
cmd_take(struct rconn *c)
{
	struct rconn_cmd *cmd = c->free_cmds;

	assert(cmd != NULL); /* cmd_admit() checked the window */
	c->free_cmds = cmd->next;
	cmd->next = NULL;
	c->pending++;
	return cmd;
}

static void
cmd_release(struct rconn *c, struct rconn_cmd *cmd)
{
	cmd->cb = NULL;
	cmd->arg = NULL;
	cmd->script = NULL;
	cmd->next = c->free_cmds;
	c->free_cmds = cmd;
	c->pending--;
}

static void
cmd_push(struct rconn *c, struct rconn_cmd *cmd)
{
	cmd->next = NULL;
	if (c->tail != NULL)
		c->tail->next = cmd;
	else
		c->head = cmd;
	c->tail = cmd;
}

/* Replies come in the order sent: the command completing is the oldest. */
static void
cmd_pop(struct rconn *c, struct rconn_cmd *cmd)
{
	assert(c->head == cmd);
	c->head = cmd->next;
	if (c->head == NULL)
		c->tail = NULL;
	cmd->next = NULL;
}

/* ------------------------------------------------------------------ */
/* Deadlines                                                          */
/* ------------------------------------------------------------------ */

static void conn_stall(struct rconn *c);

/* The earliest deadline that matters now, if any. */
static bool
deadline_next(const struct rconn *c, uint64_t *due)
{
	bool any = false;

	if (c->conf.timeout_ms == 0)
		return false;
	if (c->state == RCONN_CONNECTING) {
		*due = c->connect_due;
		any = true;
	}
	if (c->head != NULL && (!any || c->head->deadline < *due)) {
		*due = c->head->deadline;
		any = true;
	}
	return any;
}

static void
on_deadline(uv_timer_t *t)
{
	struct rconn *c = t->data;
	uint64_t due, now = uv_now(c->loop);

	if (!deadline_next(c, &due))
		return;
	if (due > now) {
		uv_timer_start(&c->deadline, on_deadline, due - now, 0);
		return;
	}
	conn_stall(c);
}

/*
 * Arm the timer unless it runs already: deadlines only grow along the
 * FIFO, so an armed timer fires no later than the new one needs.
 */
static void
deadline_arm(struct rconn *c)
{
	uint64_t due, now = uv_now(c->loop);

	if (uv_is_active((uv_handle_t *)&c->deadline) || !deadline_next(c, &due))
		return;
	uv_timer_start(&c->deadline, on_deadline, due > now ? due - now : 0, 0);
}

/* ------------------------------------------------------------------ */
/* Sending                                                            */
/* ------------------------------------------------------------------ */

/* Queue SCRIPT LOAD for s on the current connection. */
static int script_load(struct rconn *c, struct rconn_script *s);

/* Hand cmd (encoded) to hiredis and make it pending. */
static int
cmd_send(struct rconn *c, struct rconn_cmd *cmd, rconn_reply_fn cb, void *arg,
	 struct rconn_script *script)
{
	if (redisAsyncFormattedCommand(c->ac, on_reply, cmd, cmd->buf, cmd->len) != REDIS_OK)
		return -ENOTCONN;
	cmd->cb = cb;
	cmd->arg = arg;
	cmd->script = script;
	cmd->retried = false;
	cmd->deadline = uv_now(c->loop) + c->conf.timeout_ms;
	cmd_push(c, cmd);
	c->st.commands++;
	deadline_arm(c);
	return 0;
}

/* The reply to cmd was NOSCRIPT: reload and resend once. 0 if resent. */
static int
cmd_retry(struct rconn *c, redisAsyncContext *ac, struct rconn_cmd *cmd)
{
	int rc;

	if (cmd->script == NULL || cmd->retried)
		return -EINVAL;
	if (c->closing || c->ac != ac)
		return -ENOTCONN;
	rc = script_load(c, cmd->script);
	if (rc != 0)
		return rc;
	if (redisAsyncFormattedCommand(ac, on_reply, cmd, cmd->buf, cmd->len) != REDIS_OK)
		return -ENOTCONN;
	cmd_pop(c, cmd);
	cmd->retried = true;
	cmd->deadline = uv_now(c->loop) + c->conf.timeout_ms;
	cmd_push(c, cmd);
	c->st.script_retries++;
	return 0;
}

/* Run cmd's callback, after giving its slot back: the callback may send. */
static void
cmd_finish(struct rconn *c, struct rconn_cmd *cmd, enum rconn_result res,
	   const struct rconn_reply *reply)
{
	rconn_reply_fn cb = cmd->cb;
	void *arg = cmd->arg;

	cmd_pop(c, cmd);
	cmd_release(c, cmd);
	if (res == RCONN_RESULT_OK || res == RCONN_RESULT_SERVER_ERROR) {
		c->st.replies++;
		c->st.server_errors += res == RCONN_RESULT_SERVER_ERROR;
	} else {
		c->st.errors++;
		c->st.timeouts += res == RCONN_RESULT_TIMEOUT;
	}
	cb(c, res, reply, arg);
}

/* ------------------------------------------------------------------ */
/* Connection                                                         */
/* ------------------------------------------------------------------ */

/*
 * Disown the current context: from now on its commands fail with why and
 * new ones are refused until the next attempt. The caller (or hiredis,
 * when it reported the failure) frees the context.
 */
static void
conn_down(struct rconn *c, enum rconn_result why, const char *reason)
{
	enum rconn_state was = c->state;

	assert(was != RCONN_DOWN);
	c->ac = NULL;
	c->fail = why;
	c->state = RCONN_DOWN;
	uv_timer_stop(&c->deadline);
	if (reason == NULL || reason[0] == '\0')
		reason = "unknown error";
	if (was == RCONN_UP) {
		c->st.disconnects++;
		if (!c->closing) {
			LOG_WARN(RCONN_TAG, "%s:%u: connection lost (%s), reconnecting", c->host,
				 (unsigned)c->conf.port, reason);
			c->logged = true;
		}
	} else if (why != RCONN_RESULT_CLOSED) {
		c->st.connect_failures++;
		if (!c->logged)
			LOG_WARN(RCONN_TAG, "%s:%u: cannot connect (%s), retrying every %u..%u ms",
				 c->host, (unsigned)c->conf.port, reason, c->conf.backoff_min_ms,
				 c->conf.backoff_max_ms);
		c->logged = true;
	}
	if (!c->closing)
		retry_schedule(c);
}

/* A reply or the connect is overdue: drop the connection, fail everything. */
static void
conn_stall(struct rconn *c)
{
	redisAsyncContext *ac = c->ac;

	assert(ac != NULL);
	c->st.stalls++;
	conn_down(c, RCONN_RESULT_TIMEOUT,
		  c->state == RCONN_UP ? "reply overdue" : "connect timed out");
	redisAsyncFree(ac); /* runs every pending callback with TIMEOUT */
}

static void
on_connect(const redisAsyncContext *ac, int status)
{
	struct rconn *c = ac->data;

	assert(c->ac == ac);
	if (status != REDIS_OK) {
		/* hiredis frees ac when we return, failing its commands. */
		conn_down(c, RCONN_RESULT_DISCONNECTED, ac->c.errstr);
		return;
	}
	c->state = RCONN_UP;
	c->st.connects++;
	c->backoff_ms = c->conf.backoff_min_ms;
	if (c->logged)
		LOG_NOTICE(RCONN_TAG, "%s:%u: connected", c->host, (unsigned)c->conf.port);
	c->logged = false;
}

static void
on_disconnect(const redisAsyncContext *ac, int status)
{
	struct rconn *c = ac->data;

	(void)status;
	if (c->ac == ac) /* lost with nothing pending; else we knew already */
		conn_down(c, RCONN_RESULT_DISCONNECTED, ac->c.errstr);
}

static void
conn_start(struct rconn *c)
{
	redisAsyncContext *ac;
	int rc;

	c->st.connect_attempts++;
	c->state = RCONN_CONNECTING;
	ac = redisAsyncConnect(c->host, c->conf.port);
	if (ac == NULL) {
		conn_down(c, RCONN_RESULT_DISCONNECTED, "out of memory");
		return;
	}
	if (ac->err) { /* e.g. a bad address: failed before any event */
		conn_down(c, RCONN_RESULT_DISCONNECTED, ac->c.errstr);
		redisAsyncFree(ac);
		return;
	}
	rc = rconn_uv_attach(ac, c->loop);
	if (rc != 0) {
		conn_down(c, RCONN_RESULT_DISCONNECTED, uv_strerror(rc));
		redisAsyncFree(ac);
		return;
	}
	ac->data = c;
	redisAsyncSetConnectCallback(ac, on_connect); /* after attach: it arms a write */
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	c->ac = ac;
	c->serial++;
	c->connect_due = uv_now(c->loop) + c->conf.timeout_ms;
	deadline_arm(c);
}

static void
on_retry(uv_timer_t *t)
{
	struct rconn *c = t->data;

	assert(!c->closing && c->state == RCONN_DOWN);
	conn_start(c);
}

static void
retry_schedule(struct rconn *c)
{
	uv_timer_start(&c->retry, on_retry, c->backoff_ms, 0);
	if (c->backoff_ms > c->conf.backoff_max_ms / 2)
		c->backoff_ms = c->conf.backoff_max_ms;
	else
		c->backoff_ms *= 2;
}

/* ------------------------------------------------------------------ */
/* hiredis reply callbacks                                            */
/* ------------------------------------------------------------------ */

static void
on_reply(redisAsyncContext *ac, void *r, void *priv)
{
	struct rconn *c = ac->data;
	struct rconn_cmd *cmd = priv;
	struct rconn_reply view;

	if (r == NULL) { /* ac is being torn down */
		if (c->ac == ac)
			conn_down(c, RCONN_RESULT_DISCONNECTED, ac->c.errstr);
		cmd_finish(c, cmd, c->fail, NULL);
		return;
	}
	assert(c->ac == ac); /* a disowned context only flushes NULL replies */
	reply_view(r, &view);
	if (view.type != RCONN_TYPE_ERROR) {
		cmd_finish(c, cmd, RCONN_RESULT_OK, &view);
		return;
	}
	if (reply_is_noscript(&view) && cmd_retry(c, ac, cmd) == 0)
		return;
	cmd_finish(c, cmd, RCONN_RESULT_SERVER_ERROR, &view);
}

static void
on_script_loaded(redisAsyncContext *ac, void *r, void *priv)
{
	struct rconn *c = ac->data;
	struct rconn_script *s = priv;
	const redisReply *reply = r;

	if (reply == NULL) {
		if (c->ac == ac)
			conn_down(c, RCONN_RESULT_DISCONNECTED, ac->c.errstr);
		return;
	}
	if (reply->type == REDIS_REPLY_STRING && reply->len == RCONN_SHA_HEX &&
	    memcmp(reply->str, s->sha, RCONN_SHA_HEX) == 0)
		return;
	/* Its EVALSHA will see NOSCRIPT, reload once and fail with it. */
	s->loaded_on = 0;
	c->st.script_errors++;
	if (!s->warned)
		LOG_WARN(RCONN_TAG, "SCRIPT LOAD %s failed: %.200s", s->sha,
			 reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
	s->warned = true;
}

static int
script_load(struct rconn *c, struct rconn_script *s)
{
	if (redisAsyncFormattedCommand(c->ac, on_script_loaded, s, s->load, s->load_len) !=
	    REDIS_OK)
		return -ENOTCONN;
	s->loaded_on = c->serial;
	c->st.script_loads++;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Lifetime                                                           */
/* ------------------------------------------------------------------ */

static bool
conf_valid(const struct rconn_conf *conf)
{
	return conf != NULL && conf->host != NULL && conf->host[0] != '\0' && conf->port != 0 &&
	       conf->backoff_min_ms >= 1 && conf->backoff_max_ms >= conf->backoff_min_ms &&
	       conf->max_pending >= 1 && conf->max_pending <= RCONN_MAX_PENDING;
}

static void
sigpipe_check(void)
{
	struct sigaction sa;

	if (sigaction(SIGPIPE, NULL, &sa) == 0 && !(sa.sa_flags & SA_SIGINFO) &&
	    sa.sa_handler == SIG_DFL)
		LOG_WARN(RCONN_TAG, "SIGPIPE is not ignored: a Redis server that dies while we "
				    "write will kill the process");
}

static void
client_free(struct rconn *c)
{
	struct rconn_script *s, *next;

	for (s = c->scripts; s != NULL; s = next) {
		next = s->next;
		free(s->load);
		free(s);
	}
	for (uint32_t i = 0; i < c->conf.max_pending; i++)
		free(c->slots[i].buf);
	free(c->slots);
	free(c->host);
	free(c);
}

struct rconn *
rconn_new(uv_loop_t *loop, const struct rconn_conf *conf)
{
	struct rconn *c;

	if (loop == NULL || !conf_valid(conf)) {
		errno = EINVAL;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		goto fail;
	c->conf = *conf;
	c->host = strdup(conf->host);
	if (c->host == NULL)
		goto fail_host;
	c->conf.host = c->host;
	c->slots = calloc(conf->max_pending, sizeof(*c->slots));
	if (c->slots == NULL)
		goto fail_slots;
	for (uint32_t i = conf->max_pending; i > 0; i--) {
		c->slots[i - 1].next = c->free_cmds;
		c->free_cmds = &c->slots[i - 1];
	}
	c->loop = loop;
	c->backoff_ms = conf->backoff_min_ms;
	c->state = RCONN_DOWN;
	/* uv_timer_init() cannot fail on Unix; both are closed in the close step. */
	uv_timer_init(loop, &c->retry);
	uv_timer_init(loop, &c->deadline);
	c->retry.data = c;
	c->deadline.data = c;
	c->timers_open = 2;
	sigpipe_check();
	conn_start(c);
	return c;

fail_slots:
	free(c->host);
fail_host:
	free(c);
fail:
	errno = ENOMEM;
	return NULL;
}

static void
on_timer_closed(uv_handle_t *h)
{
	struct rconn *c = h->data;
	rconn_close_fn cb;
	void *arg;

	if (--c->timers_open > 0)
		return;
	cb = c->close_cb;
	arg = c->close_arg;
	client_free(c);
	if (cb != NULL)
		cb(arg);
}

/* Runs from the retry timer, outside every hiredis callback. */
static void
on_close_step(uv_timer_t *t)
{
	struct rconn *c = t->data;
	redisAsyncContext *ac = c->ac;

	if (ac != NULL) {
		conn_down(c, RCONN_RESULT_CLOSED, NULL);
		redisAsyncFree(ac); /* every pending callback runs with CLOSED */
	}
	assert(c->pending == 0 && c->head == NULL);
	uv_close((uv_handle_t *)&c->retry, on_timer_closed);
	uv_close((uv_handle_t *)&c->deadline, on_timer_closed);
}

void
rconn_close(struct rconn *c, rconn_close_fn close_cb, void *arg)
{
	assert(c != NULL && !c->closing);
	c->closing = true;
	c->close_cb = close_cb;
	c->close_arg = arg;
	uv_timer_stop(&c->deadline);
	uv_timer_start(&c->retry, on_close_step, 0, 0);
}

/* ------------------------------------------------------------------ */
/* Commands, scripts, stats                                           */
/* ------------------------------------------------------------------ */

int
rconn_command(struct rconn *c, rconn_reply_fn cb, void *arg, int argc, const char *const *argv,
	      const size_t *argvlen)
{
	struct rconn_cmd *cmd;
	int rc;

	assert(c != NULL);
	if (argc < 1 || argv == NULL || argv[0] == NULL || cb == NULL)
		return -EINVAL;
	if (cmd_unpaired(argv[0], arg_len(argv, argvlen, 0)))
		return -ENOTSUP;
	rc = cmd_admit(c);
	if (rc != 0)
		return rc;
	cmd = cmd_take(c);
	rc = cmd_encode(cmd, 0, NULL, NULL, argc, argv, argvlen);
	if (rc == 0)
		rc = cmd_send(c, cmd, cb, arg, NULL);
	if (rc != 0)
		cmd_release(c, cmd);
	return rc;
}

int
rconn_evalsha(struct rconn *c, struct rconn_script *s, rconn_reply_fn cb, void *arg, int numkeys,
	      int argc, const char *const *argv, const size_t *argvlen)
{
	char nk[24];
	const char *head[3] = {"EVALSHA", NULL, nk};
	size_t headlen[3] = {7, RCONN_SHA_HEX, 0};
	struct rconn_cmd *cmd;
	int rc;

	assert(c != NULL);
	if (s == NULL || s->client != c || cb == NULL || numkeys < 0 || numkeys > argc ||
	    (argc > 0 && argv == NULL))
		return -EINVAL;
	rc = cmd_admit(c);
	if (rc != 0)
		return rc;
	head[1] = s->sha;
	headlen[2] = (size_t)(resp_put_uint(nk, (size_t)numkeys) - nk);
	cmd = cmd_take(c);
	rc = cmd_encode(cmd, 3, head, headlen, argc, argv, argvlen);
	if (rc == 0 && s->loaded_on != c->serial)
		rc = script_load(c, s);
	if (rc == 0)
		rc = cmd_send(c, cmd, cb, arg, s);
	if (rc != 0)
		cmd_release(c, cmd);
	return rc;
}

struct rconn_script *
rconn_script(struct rconn *c, const char *body, size_t len)
{
	static const char *const head[2] = {"SCRIPT", "LOAD"};
	static const size_t headlen[2] = {6, 4};
	struct rconn_cmd enc = {0};
	struct rconn_script *s;

	if (c == NULL || body == NULL || len == 0) {
		errno = EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		goto fail;
	if (cmd_encode(&enc, 2, head, headlen, 1, &body, &len) != 0)
		goto fail_encode;
	digest_sha1_hex(body, len, s->sha);
	s->load = enc.buf;
	s->load_len = enc.len;
	s->client = c;
	s->next = c->scripts;
	c->scripts = s;
	return s;

fail_encode:
	free(s);
fail:
	errno = ENOMEM;
	return NULL;
}

const char *
rconn_script_sha(const struct rconn_script *s)
{
	return s->sha;
}

int
rconn_ready(const struct rconn *c)
{
	return !c->closing && c->ac != NULL;
}

void
rconn_stats(const struct rconn *c, struct rconn_stats *st)
{
	*st = c->st;
	st->state = c->closing ? RCONN_CLOSING : c->state;
	st->pending = c->pending;
}

int
rconn_reply_element(const struct rconn_reply *r, size_t i, struct rconn_reply *out)
{
	const redisReply *rr;

	if (r == NULL || out == NULL || r->type != RCONN_TYPE_ARRAY || i >= r->elements)
		return -EINVAL;
	rr = r->impl;
	reply_view(rr->element[i], out);
	return 0;
}

const char *
rconn_result_name(enum rconn_result res)
{
	switch (res) {
	case RCONN_RESULT_OK:
		return "ok";
	case RCONN_RESULT_SERVER_ERROR:
		return "server error";
	case RCONN_RESULT_DISCONNECTED:
		return "disconnected";
	case RCONN_RESULT_TIMEOUT:
		return "timeout";
	case RCONN_RESULT_CLOSED:
		return "closed";
	}
	return "?";
}
