/*
 * sink_unix.c: non-blocking Unix socket sink, stream or datagram.
 *
 * How: one linear byte buffer (head..tail, compacted when a line does
 * not fit at the end) holds the pending lines back to back, and a ring
 * of line lengths keeps their boundaries, so a short stream write can
 * be turned into whole lines delivered plus a partial first line. The
 * socket is non-blocking and watched by a uv_poll (readable: end of file
 * from the reader; writable: only while lines wait). Stream sends the
 * whole buffer in one send(2); datagram sends one line per send(2).
 * A connection error closes the socket and arms the backoff timer; the
 * same timer bounds the linger at close.
 *
 * Not here: reading from the socket (a reader's bytes are discarded),
 * reordering, retrying a line the kernel accepted.
 */
#include "sink_unix.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/socket.h>
#include <sys/un.h>

struct sink_unix {
	uv_loop_t *loop;
	struct sink_unix_conf conf;
	struct sockaddr_un addr;
	uv_timer_t timer; /* reconnect backoff, then linger at close */
	uv_poll_t *poll;  /* NULL while disconnected */
	int fd;		  /* -1 while disconnected */
	bool want_write;  /* the poll watches UV_WRITABLE */
	bool closing;
	bool finished;
	uint32_t backoff_ms;
	unsigned handles; /* open uv handles (timer + polls being closed) */
	sink_close_fn close_cb;
	void *close_arg;
	/* buffer */
	char *buf;
	size_t head, tail;
	uint32_t *lens; /* ring of line lengths (bytes as sent) */
	uint32_t lhead, lcount;
	uint32_t partial; /* bytes of the first line already sent (stream) */
	struct sink_stats st;
	uint64_t connects;
};

static void sink_unix_connect(struct sink_unix *s);
static void sink_unix_drain(struct sink_unix *s);
static void sink_unix_finish(struct sink_unix *s);
static void sink_unix_poll_cb(uv_poll_t *p, int status, int events);

/* ------------------------------------------------------------------ */
/* Buffer                                                             */
/* ------------------------------------------------------------------ */

static uint32_t
sink_unix_first_len(const struct sink_unix *s)
{
	return s->lens[s->lhead];
}

/* The first line leaves the buffer: delivered or dropped. */
static void
sink_unix_pop(struct sink_unix *s, bool delivered)
{
	uint32_t len = sink_unix_first_len(s);

	s->head += len - s->partial;
	s->partial = 0;
	s->lhead = (s->lhead + 1) % s->conf.max_lines;
	s->lcount--;
	if (delivered) {
		s->st.lines++;
		s->st.bytes += len;
	} else {
		s->st.dropped++;
	}
	if (s->lcount == 0)
		s->head = s->tail = 0;
}

/* Room for n bytes at the tail, compacting if needed. */
static bool
sink_unix_room(struct sink_unix *s, size_t n)
{
	if (s->lcount >= s->conf.max_lines)
		return false;
	if (s->conf.buf_bytes - s->tail >= n)
		return true;
	if (s->conf.buf_bytes - (s->tail - s->head) < n)
		return false;
	memmove(s->buf, s->buf + s->head, s->tail - s->head);
	s->tail -= s->head;
	s->head = 0;
	return true;
}

/* ------------------------------------------------------------------ */
/* Connection                                                         */
/* ------------------------------------------------------------------ */

/* One handle fewer; the last one after sink_unix_finish() frees the sink. */
static void
sink_unix_gone(struct sink_unix *s)
{
	s->handles--;
	if (s->finished && s->handles == 0) {
		sink_close_fn cb = s->close_cb;
		void *arg = s->close_arg;
		struct sink_stats final;

		sink_unix_stats(s, &final);
		free(s->buf);
		free(s->lens);
		free((char *)s->conf.path);
		free(s);
		if (cb != NULL)
			cb(arg, &final);
	}
}

static void
sink_unix_poll_closed(uv_handle_t *h)
{
	struct sink_unix *s = h->data;

	free(h);
	sink_unix_gone(s);
}

static void
sink_unix_timer_closed(uv_handle_t *h)
{
	sink_unix_gone(h->data);
}

static void
sink_unix_hangup(struct sink_unix *s)
{
	if (s->poll != NULL) {
		uv_poll_stop(s->poll);
		uv_close((uv_handle_t *)s->poll, sink_unix_poll_closed);
		s->poll = NULL;
	}
	if (s->fd >= 0) {
		close(s->fd);
		s->fd = -1;
	}
	s->want_write = false;
	s->st.connected = 0;
}

static void
sink_unix_timer_cb(uv_timer_t *t)
{
	sink_unix_connect(t->data);
}

static void
sink_unix_linger_cb(uv_timer_t *t)
{
	sink_unix_finish(t->data);
}

/* Connection lost or refused: drop a half-sent line, retry later. */
static void
sink_unix_down(struct sink_unix *s)
{
	bool was_up = s->fd >= 0;

	if (s->partial > 0)
		sink_unix_pop(s, false);
	sink_unix_hangup(s);
	if (s->closing) {
		sink_unix_finish(s);
		return;
	}
	uv_timer_start(&s->timer, sink_unix_timer_cb,
		       was_up ? s->conf.backoff_min_ms : s->backoff_ms, 0);
	if (!was_up) {
		s->backoff_ms *= 2;
		if (s->backoff_ms > s->conf.backoff_max_ms)
			s->backoff_ms = s->conf.backoff_max_ms;
	}
}

static void
sink_unix_watch(struct sink_unix *s)
{
	bool want = s->lcount > 0;
	int events;

	if (s->poll == NULL || want == s->want_write)
		return;
	s->want_write = want;
	/* stream: readable tells the reader left; a datagram socket never reads */
	events = (s->conf.kind == SINK_UNIX_STREAM ? UV_READABLE : 0) | (want ? UV_WRITABLE : 0);
	if (events == 0)
		uv_poll_stop(s->poll);
	else
		uv_poll_start(s->poll, events, sink_unix_poll_cb);
}

/* Readable: the reader should not talk; end of file or an error means gone. */
static bool
sink_unix_read_eof(struct sink_unix *s)
{
	char scratch[512];

	for (;;) {
		ssize_t n = recv(s->fd, scratch, sizeof(scratch), MSG_DONTWAIT);

		if (n > 0)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return false;
		if (n < 0)
			s->st.errors++;
		return true;
	}
}

static void
sink_unix_poll_cb(uv_poll_t *p, int status, int events)
{
	struct sink_unix *s = p->data;

	if (status < 0) {
		s->st.errors++;
		sink_unix_down(s);
		return;
	}
	if ((events & UV_WRITABLE) && s->lcount > 0) {
		sink_unix_drain(s);
		if (s->fd < 0 || s->finished)
			return;
	}
	if ((events & (UV_READABLE | UV_DISCONNECT)) && s->conf.kind == SINK_UNIX_STREAM &&
	    sink_unix_read_eof(s))
		sink_unix_down(s);
}

static int
sink_unix_socket(struct sink_unix *s)
{
	int type = s->conf.kind == SINK_UNIX_STREAM ? SOCK_STREAM : SOCK_DGRAM;
	int fd = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&s->addr, sizeof(s->addr)) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

static void
sink_unix_connect(struct sink_unix *s)
{
	int fd = sink_unix_socket(s);

	if (fd >= 0) {
		s->poll = malloc(sizeof(*s->poll));
		if (s->poll == NULL || uv_poll_init(s->loop, s->poll, fd) < 0) {
			free(s->poll);
			s->poll = NULL;
			close(fd);
			fd = -ENOMEM;
		}
	}
	if (fd < 0) {
		sink_unix_down(s);
		return;
	}
	s->handles++;
	s->poll->data = s;
	s->fd = fd;
	s->backoff_ms = s->conf.backoff_min_ms;
	s->st.connected = 1;
	if (s->connects++ > 0)
		s->st.reconnects++;
	s->want_write = !(s->lcount > 0); /* force the first uv_poll_start */
	sink_unix_watch(s);
	sink_unix_drain(s);
}

/* ------------------------------------------------------------------ */
/* Writing                                                            */
/* ------------------------------------------------------------------ */

/* Turn n bytes accepted by a stream socket into delivered lines. */
static void
sink_unix_consumed(struct sink_unix *s, size_t n)
{
	while (n > 0) {
		uint32_t rem = sink_unix_first_len(s) - s->partial;

		if (n < rem) {
			s->partial += (uint32_t)n;
			s->head += n;
			return;
		}
		n -= rem;
		sink_unix_pop(s, true);
	}
}

/* One send(2). 1: sent something, 0: would block, -1: connection gone. */
static int
sink_unix_send_once(struct sink_unix *s)
{
	size_t n = s->conf.kind == SINK_UNIX_STREAM ? s->tail - s->head : sink_unix_first_len(s);
	ssize_t w = send(s->fd, s->buf + s->head, n, MSG_DONTWAIT | MSG_NOSIGNAL);

	if (w >= 0) {
		if (s->conf.kind == SINK_UNIX_STREAM)
			sink_unix_consumed(s, (size_t)w);
		else
			sink_unix_pop(s, true);
		return 1;
	}
	if (errno == EAGAIN || errno == EINTR)
		return 0;
	s->st.errors++;
	if (s->conf.kind == SINK_UNIX_DGRAM && errno == EMSGSIZE) {
		sink_unix_pop(s, false); /* this datagram can never go: drop it alone */
		return 1;
	}
	return -1;
}

static void
sink_unix_drain(struct sink_unix *s)
{
	int rc = 1;

	while (s->fd >= 0 && s->lcount > 0 && rc > 0)
		rc = sink_unix_send_once(s);
	if (rc < 0) {
		sink_unix_down(s);
		return;
	}
	if (s->closing && s->lcount == 0) {
		sink_unix_finish(s);
		return;
	}
	sink_unix_watch(s);
}

int
sink_unix_write(struct sink_unix *s, const char *line, size_t len)
{
	bool stream = s->conf.kind == SINK_UNIX_STREAM;
	size_t n;

	s->st.written++;
	if (len > 0 && line[len - 1] == '\n')
		len--;
	n = len + stream;
	if (s->closing || len == 0) {
		s->st.dropped++;
		return s->closing ? -ESHUTDOWN : -EINVAL;
	}
	if (n > s->conf.buf_bytes) {
		s->st.dropped++;
		return -EMSGSIZE;
	}
	if (!sink_unix_room(s, n)) {
		s->st.dropped++;
		return -ENOBUFS;
	}
	memcpy(s->buf + s->tail, line, len);
	if (stream)
		s->buf[s->tail + len] = '\n';
	s->tail += n;
	s->lens[(s->lhead + s->lcount) % s->conf.max_lines] = (uint32_t)n;
	s->lcount++;
	sink_unix_watch(s);
	return 0;
}

int
sink_unix_flush(struct sink_unix *s)
{
	if (s->fd >= 0 && s->lcount > 0 && !s->finished)
		sink_unix_drain(s);
	return s->lcount == 0 ? 0 : -EAGAIN;
}

void
sink_unix_stats(const struct sink_unix *s, struct sink_stats *st)
{
	*st = s->st;
	st->queued = s->lcount;
}

/* ------------------------------------------------------------------ */
/* Life cycle                                                         */
/* ------------------------------------------------------------------ */

void
sink_unix_conf_defaults(struct sink_unix_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	conf->kind = SINK_UNIX_STREAM;
	conf->buf_bytes = SINK_UNIX_DEFAULT_BUF;
	conf->max_lines = SINK_UNIX_DEFAULT_LINES;
	conf->backoff_min_ms = SINK_UNIX_DEFAULT_BACKOFF_MIN;
	conf->backoff_max_ms = SINK_UNIX_DEFAULT_BACKOFF_MAX;
	conf->linger_ms = SINK_UNIX_DEFAULT_LINGER;
}

static int
sink_unix_conf_check(struct sink_unix_conf *c)
{
	struct sink_unix_conf d;

	sink_unix_conf_defaults(&d);
	if (c->path == NULL || strlen(c->path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return -EINVAL;
	if (c->kind != SINK_UNIX_STREAM && c->kind != SINK_UNIX_DGRAM)
		return -EINVAL;
	c->buf_bytes = c->buf_bytes ? c->buf_bytes : d.buf_bytes;
	c->max_lines = c->max_lines ? c->max_lines : d.max_lines;
	c->backoff_min_ms = c->backoff_min_ms ? c->backoff_min_ms : d.backoff_min_ms;
	c->backoff_max_ms = c->backoff_max_ms ? c->backoff_max_ms : d.backoff_max_ms;
	c->linger_ms = c->linger_ms ? c->linger_ms : d.linger_ms;
	return c->backoff_min_ms <= c->backoff_max_ms ? 0 : -EINVAL;
}

struct sink_unix *
sink_unix_open(uv_loop_t *loop, const struct sink_unix_conf *conf)
{
	struct sink_unix *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->conf = *conf;
	if (sink_unix_conf_check(&s->conf) < 0) {
		free(s);
		errno = EINVAL;
		return NULL;
	}
	s->conf.path = strdup(conf->path);
	s->buf = malloc(s->conf.buf_bytes);
	s->lens = malloc(s->conf.max_lines * sizeof(*s->lens));
	if (s->conf.path == NULL || s->buf == NULL || s->lens == NULL)
		goto fail;
	s->addr.sun_family = AF_UNIX;
	strcpy(s->addr.sun_path, s->conf.path);
	s->loop = loop;
	s->fd = -1;
	s->backoff_ms = s->conf.backoff_min_ms;
	uv_timer_init(loop, &s->timer);
	s->timer.data = s;
	s->handles = 1;
	sink_unix_connect(s);
	return s;
fail:
	free(s->lens);
	free(s->buf);
	free((char *)s->conf.path);
	free(s);
	errno = ENOMEM;
	return NULL;
}

/* Drop what is left, close every handle; the last close callback frees. */
static void
sink_unix_finish(struct sink_unix *s)
{
	if (s->finished)
		return;
	s->finished = true;
	while (s->lcount > 0)
		sink_unix_pop(s, false);
	sink_unix_hangup(s);
	uv_timer_stop(&s->timer);
	uv_close((uv_handle_t *)&s->timer, sink_unix_timer_closed);
}

void
sink_unix_close(struct sink_unix *s, sink_close_fn cb, void *arg)
{
	assert(!s->closing);
	s->closing = true;
	s->close_cb = cb;
	s->close_arg = arg;
	if (s->fd < 0 || s->lcount == 0) {
		sink_unix_finish(s);
		return;
	}
	uv_timer_start(&s->timer, sink_unix_linger_cb, s->conf.linger_ms, 0);
	sink_unix_drain(s);
}

/* ------------------------------------------------------------------ */
/* Ops row                                                            */
/* ------------------------------------------------------------------ */

static int
sink_unix_op_write(void *s, const char *key, size_t keylen, const char *line, size_t len)
{
	(void)key;
	(void)keylen;
	return sink_unix_write(s, line, len);
}

static int
sink_unix_op_flush(void *s)
{
	return sink_unix_flush(s);
}

static void
sink_unix_op_stats(const void *s, struct sink_stats *st)
{
	sink_unix_stats(s, st);
}

static void
sink_unix_op_close(void *s, sink_close_fn cb, void *arg)
{
	sink_unix_close(s, cb, arg);
}

const struct sink_ops sink_unix_ops = {
	.name = "unix",
	.write = sink_unix_op_write,
	.flush = sink_unix_op_flush,
	.stats = sink_unix_op_stats,
	.close = sink_unix_op_close,
};
