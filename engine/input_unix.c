/*
 * input_unix.c: EVE JSON lines from a Unix stream or datagram socket, on
 * a libuv loop.
 *
 * Stream: the listening socket is a uv_pipe_t (uv_pipe_open on a socket
 * we bind ourselves, for the file's mode and owner); each connection is a
 * uv_pipe_t with its own buffer. libuv reads into the free end of that
 * buffer (alloc callback: chunk bytes after the unfinished line), then
 * the complete lines are handed out in place and the unfinished one moved
 * to the front, as input_file.c does. A line that outgrows max_line is
 * counted and discarded up to its '\n' (the discarding flag), so a
 * connection costs at most max_line + chunk bytes whatever it sends; the
 * buffer grows on demand, so an idle connection costs little. libuv
 * bounds the reads per connection and loop turn (32).
 *
 * Datagram: a uv_poll_t on the bound socket; each readable event takes
 * up to INPUT_UNIX_DGRAM_BURST datagrams with recv(MSG_TRUNC), which
 * returns a datagram's real size even when it did not fit: that is how an
 * oversized event is told from a complete one. One buffer of max_line + 2
 * bytes (the line and an optional "\r\n").
 *
 * Pause: every connection stops reading (uv_read_stop, uv_poll_stop) and
 * the rest of the current buffer stays in place (the rescan flag). Resume
 * starts a uv_idle_t, which on the next turn hands out the buffered lines
 * first and then starts reading again: resume never calls back from
 * inside itself, and a pause in the middle of that is honoured.
 *
 * The socket file is made as engine/control.c makes its own (copied, not
 * shared, to keep this module standalone): bound in a private mkdtemp()
 * directory next to path, given its mode and owner there, then renamed
 * over path; an existing file is replaced only if it is a socket that
 * refuses connections. At close it is removed only if it is still the one
 * we created (same device and inode).
 *
 * Not here: parsing (eve_in.c), peer credentials or any access control
 * beyond the file's mode and owner, writing back to the writers.
 */
#include "input_unix.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#define INPUT_UNIX_MAX_SIZE	(1u << 30)
#define INPUT_UNIX_BUF_MIN	4096u
#define INPUT_UNIX_DGRAM_BURST	64	/* datagrams per readable event */
#define INPUT_UNIX_DRAIN_READS	1024	/* input_unix_drain: reads per connection at most */
#define INPUT_UNIX_DRAIN_DGRAMS 1000000 /* ... datagrams at most (a writer may go on) */
#define INPUT_UNIX_TMP_TEMPLATE "/.darter-in.XXXXXX"
#define INPUT_UNIX_TMP_SOCK	"/s"

struct input_unix_client {
	struct input_unix_client *next;
	struct input_unix_client **pprev;
	struct input_unix *u;
	uv_pipe_t pipe;
	uint64_t id;
	char *buf;	/* bytes read, not handed out yet */
	size_t cap;	/* allocated; grows up to max_line + chunk */
	size_t used;	/* bytes in buf */
	size_t head;	/* inside client_split: bytes at the front already handed out */
	int discarding; /* inside a line longer than max_line: drop up to its '\n' */
	int rescan;	/* buf may hold complete lines left by a pause */
	int reading;
	int closing;
	int rejected; /* over max_clients: not counted as a client */
};

struct input_unix {
	uv_loop_t *loop;
	uv_idle_t idle;	  /* active between a resume and the restart of reading */
	uv_pipe_t server; /* stream: the listener */
	uv_poll_t poll;	  /* datagram: the bound socket */
	struct input_unix_conf conf;
	char *path;
	input_unix_line_cb on_line;
	input_unix_close_cb on_close;
	void *arg;
	int fd;	   /* the listening or bound socket, -1 before start */
	dev_t dev; /* the socket file we created */
	ino_t ino;
	char *dbuf; /* datagram: max_line + 2 bytes */
	size_t dcap;
	struct input_unix_client *clients;
	uint32_t n_clients; /* open and not rejected */
	uint64_t next_id;
	unsigned handles; /* open handles: idle, server or poll, clients */
	int started;
	int io_init; /* server or poll initialised (closed at close) */
	int paused;
	int closing;
	int draining; /* input_unix_drain: pauses are ignored */
	struct input_unix_stats st;
};

static void client_close(struct input_unix_client *cl);

/* ------------------------------------------------------------------ */
/* Freeing                                                             */
/* ------------------------------------------------------------------ */

static void
input_unix_free(struct input_unix *u)
{
	if (u->on_close != NULL)
		u->on_close(u->arg);
	if (u->fd >= 0 && u->conf.kind == INPUT_UNIX_DGRAM)
		close(u->fd); /* uv_poll_t does not own it; the stream pipe closed its own */
	free(u->dbuf);
	free(u->path);
	free(u);
}

static void
input_unix_on_handle_closed(uv_handle_t *h)
{
	struct input_unix *u = h->data;

	assert(u->handles > 0);
	if (--u->handles == 0)
		input_unix_free(u);
}

/* ------------------------------------------------------------------ */
/* Lines                                                               */
/* ------------------------------------------------------------------ */

static void
input_unix_deliver(struct input_unix *u, const char *line, size_t len, uint64_t conn)
{
	if (len > 0 && line[len - 1] == '\r')
		len--;
	u->st.lines++;
	if (u->on_line(u->arg, line, len, conn) != INPUT_UNIX_CONTINUE && !u->paused && !u->closing)
		input_unix_pause(u);
}

/* Hand out the complete lines in cl->buf; keep the unfinished one at its front. */
static void
client_split(struct input_unix_client *cl, size_t scan_from)
{
	struct input_unix *u = cl->u;
	size_t start = 0;
	char *nl;

	while (!u->closing && !u->paused &&
	       (nl = memchr(cl->buf + scan_from, '\n', cl->used - scan_from)) != NULL) {
		size_t end = (size_t)(nl - cl->buf);

		cl->head = end + 1; /* a close from the callback counts what follows only */
		if (cl->discarding)
			cl->discarding = 0; /* the over-long line ends here; counted already */
		else if (end - start > u->conf.max_line)
			u->st.too_long++;
		else
			input_unix_deliver(u, cl->buf + start, end - start, cl->id);
		start = end + 1;
		scan_from = start;
	}
	if (u->closing)
		return;
	cl->head = 0;
	if (u->paused) { /* keep the rest, complete lines included, for the resume */
		memmove(cl->buf, cl->buf + start, cl->used - start);
		cl->used -= start;
		cl->rescan = 1;
	} else if (cl->discarding) {
		cl->used = 0;
	} else if (cl->used - start > u->conf.max_line) {
		u->st.too_long++;
		cl->discarding = 1;
		cl->used = 0;
	} else {
		memmove(cl->buf, cl->buf + start, cl->used - start);
		cl->used -= start;
	}
}

/* At close: what cl->buf still holds is lost; count it (dropped, partial). */
static void
client_count_lost(struct input_unix_client *cl)
{
	struct input_unix *u = cl->u;
	size_t start = cl->head;
	char *nl;

	if (cl->buf == NULL)
		return; /* nothing read yet */
	while ((nl = memchr(cl->buf + start, '\n', cl->used - start)) != NULL) {
		size_t end = (size_t)(nl - cl->buf);

		if (cl->discarding)
			cl->discarding = 0;
		else if (end - start > u->conf.max_line)
			u->st.too_long++;
		else
			u->st.dropped++;
		start = end + 1;
	}
	if (cl->used > start && !cl->discarding)
		u->st.partial++;
	cl->used = 0;
	cl->head = 0;
}

/* ------------------------------------------------------------------ */
/* Stream connections                                                  */
/* ------------------------------------------------------------------ */

static void
client_on_closed(uv_handle_t *h)
{
	struct input_unix_client *cl = h->data;
	struct input_unix *u = cl->u;

	*cl->pprev = cl->next;
	if (cl->next != NULL)
		cl->next->pprev = cl->pprev;
	free(cl->buf);
	free(cl);
	if (--u->handles == 0)
		input_unix_free(u);
}

static void
client_close(struct input_unix_client *cl)
{
	struct input_unix *u = cl->u;

	if (cl->closing)
		return;
	cl->closing = 1;
	client_count_lost(cl);
	if (!cl->rejected) {
		u->n_clients--;
		u->st.clients_now--;
	}
	uv_close((uv_handle_t *)&cl->pipe, client_on_closed);
}

static void
client_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	struct input_unix_client *cl = h->data;
	size_t chunk = cl->u->conf.chunk;
	size_t need = cl->used + chunk;

	(void)suggested;
	if (cl->cap < need) {
		size_t max = (size_t)cl->u->conf.max_line + chunk;
		size_t cap = cl->cap < INPUT_UNIX_BUF_MIN ? INPUT_UNIX_BUF_MIN : cl->cap * 2;
		char *p;

		while (cap < need)
			cap *= 2;
		if (cap > max)
			cap = max;
		assert(cap >= need); /* split leaves at most max_line bytes unless paused */
		p = realloc(cl->buf, cap);
		if (p == NULL) {
			*b = uv_buf_init(NULL, 0); /* read_cb gets UV_ENOBUFS */
			return;
		}
		cl->buf = p;
		cl->cap = cap;
	}
	*b = uv_buf_init(cl->buf + cl->used, (unsigned)chunk);
}

static void
client_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct input_unix_client *cl = s->data;
	struct input_unix *u = cl->u;
	size_t from = cl->used;

	(void)b;
	if (nread == 0)
		return; /* EAGAIN */
	if (nread < 0) {
		if (nread == UV_EOF)
			u->st.disconnects++;
		else
			u->st.read_errors++;
		client_close(cl);
		return;
	}
	u->st.reads++;
	u->st.bytes += (uint64_t)nread;
	cl->used += (size_t)nread;
	client_split(cl, from);
}

static void
client_read_start(struct input_unix_client *cl)
{
	if (cl->reading || cl->closing)
		return;
	if (uv_read_start((uv_stream_t *)&cl->pipe, client_on_alloc, client_on_read) != 0) {
		cl->u->st.read_errors++;
		client_close(cl);
		return;
	}
	cl->reading = 1;
}

static void
client_read_stop(struct input_unix_client *cl)
{
	if (!cl->reading)
		return;
	uv_read_stop((uv_stream_t *)&cl->pipe);
	cl->reading = 0;
}

static void
input_unix_on_connection(uv_stream_t *server, int status)
{
	struct input_unix *u = server->data;
	struct input_unix_client *cl;

	if (status < 0 || u->closing) {
		u->st.accept_errors++;
		return;
	}
	cl = calloc(1, sizeof(*cl));
	if (cl == NULL) { /* libuv stops accepting until the next uv_accept */
		u->st.accept_errors++;
		return;
	}
	cl->u = u;
	uv_pipe_init(u->loop, &cl->pipe, 0); /* cannot fail */
	cl->pipe.data = cl;
	u->handles++;
	cl->next = u->clients;
	cl->pprev = &u->clients;
	if (u->clients != NULL)
		u->clients->pprev = &cl->next;
	u->clients = cl;
	cl->rejected = 1; /* until counted below */
	if (uv_accept(server, (uv_stream_t *)&cl->pipe) != 0) {
		u->st.accept_errors++;
		client_close(cl);
		return;
	}
	if (u->n_clients >= u->conf.max_clients) {
		u->st.rejected++;
		client_close(cl);
		return;
	}
	cl->rejected = 0;
	cl->id = ++u->next_id;
	u->n_clients++;
	u->st.clients++;
	u->st.clients_now++;
	if (!u->paused)
		client_read_start(cl);
}

/* ------------------------------------------------------------------ */
/* Datagrams                                                           */
/* ------------------------------------------------------------------ */

/* One datagram: 1 handled, 0 none waiting, -1 error (counted). */
static int
input_unix_recv_one(struct input_unix *u)
{
	ssize_t n;
	size_t len;

	do
		n = recv(u->fd, u->dbuf, u->dcap, MSG_DONTWAIT | MSG_TRUNC);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		u->st.read_errors++;
		return -1;
	}
	u->st.reads++;
	u->st.bytes += (uint64_t)n;
	if ((size_t)n > u->dcap) { /* MSG_TRUNC: n is the real size */
		u->st.too_long++;
		return 1;
	}
	len = (size_t)n;
	if (len > 0 && u->dbuf[len - 1] == '\n')
		len--;
	if (len > u->conf.max_line + (len > 0 && u->dbuf[len - 1] == '\r')) {
		u->st.too_long++;
		return 1;
	}
	input_unix_deliver(u, u->dbuf, len, 0);
	return 1;
}

static void
input_unix_on_poll(uv_poll_t *h, int status, int events)
{
	struct input_unix *u = h->data;

	(void)events;
	if (status < 0) {
		u->st.read_errors++;
		return;
	}
	for (int i = 0; i < INPUT_UNIX_DGRAM_BURST && !u->paused && !u->closing; i++)
		if (input_unix_recv_one(u) <= 0)
			break;
}

/* ------------------------------------------------------------------ */
/* Pause and resume                                                    */
/* ------------------------------------------------------------------ */

void
input_unix_pause(struct input_unix *u)
{
	if (u->paused || u->closing || u->draining)
		return;
	u->paused = 1;
	u->st.pauses++;
	uv_idle_stop(&u->idle);
	if (u->conf.kind == INPUT_UNIX_DGRAM) {
		if (u->started)
			uv_poll_stop(&u->poll);
		return;
	}
	for (struct input_unix_client *cl = u->clients; cl != NULL; cl = cl->next)
		client_read_stop(cl);
}

static void
input_unix_on_idle(uv_idle_t *h)
{
	struct input_unix *u = h->data;
	struct input_unix_client *cl, *next;

	uv_idle_stop(h);
	if (u->paused || u->closing)
		return;
	if (u->conf.kind == INPUT_UNIX_DGRAM) {
		if (uv_poll_start(&u->poll, UV_READABLE, input_unix_on_poll) != 0)
			u->st.read_errors++;
		return;
	}
	for (cl = u->clients; cl != NULL; cl = cl->next) {
		if (!cl->rescan)
			continue;
		cl->rescan = 0;
		client_split(cl, 0);
		if (u->paused || u->closing)
			return; /* the next resume goes on from here */
	}
	for (cl = u->clients; cl != NULL; cl = next) {
		next = cl->next; /* client_read_start may close cl (not free it) */
		client_read_start(cl);
	}
}

void
input_unix_resume(struct input_unix *u)
{
	if (!u->paused || u->closing)
		return;
	u->paused = 0;
	if (u->started)
		uv_idle_start(&u->idle, input_unix_on_idle);
}

/* ------------------------------------------------------------------ */
/* The socket file                                                     */
/* ------------------------------------------------------------------ */

static int
input_unix_socktype(const struct input_unix *u)
{
	return u->conf.kind == INPUT_UNIX_DGRAM ? SOCK_DGRAM : SOCK_STREAM;
}

/* 0 if path is free or a stale socket; -EADDRINUSE, -EEXIST or -errno otherwise. */
static int
input_unix_check_path(const char *path, int type)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	struct stat sb;
	int fd, rc;

	if (lstat(path, &sb) != 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(sb.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memcpy(a.sun_path, path, strlen(path) + 1);
	rc = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 ? 0 : errno;
	close(fd);
	/* EAGAIN: a listener with a full backlog; EPROTOTYPE: a live socket of the other type */
	if (rc == 0 || rc == EAGAIN || rc == EPROTOTYPE)
		return -EADDRINUSE;
	if (rc == ECONNREFUSED || rc == ENOENT)
		return 0;
	return -rc;
}

/* A bound socket at tmp with its final mode and owner, listening if a stream; fd or -errno. */
static int
input_unix_bind(const char *tmp, const struct input_unix *u)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	const struct input_unix_conf *conf = &u->conf;
	int fd = socket(AF_UNIX, input_unix_socktype(u) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int rc;

	if (fd < 0)
		return -errno;
	memcpy(a.sun_path, tmp, strlen(tmp) + 1);
	if (conf->rcvbuf != 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &conf->rcvbuf, sizeof(conf->rcvbuf)) != 0)
		goto fail;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		goto fail;
	if (chmod(tmp, conf->file_mode) != 0)
		goto fail_unlink;
	if ((conf->uid != (uid_t)-1 || conf->gid != (gid_t)-1) &&
	    chown(tmp, conf->uid, conf->gid) != 0)
		goto fail_unlink;
	if (conf->kind == INPUT_UNIX_STREAM && listen(fd, (int)conf->max_clients) != 0)
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

/* Create the socket at u->path (see the top comment); fd or -errno. */
static int
input_unix_make_socket(struct input_unix *u)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char tmp[sizeof(dir)];
	const char *slash = strrchr(u->path, '/');
	size_t dlen = slash == NULL ? 1 : (size_t)(slash - u->path);
	struct stat sb;
	int fd, rc;

	if (dlen + strlen(INPUT_UNIX_TMP_TEMPLATE INPUT_UNIX_TMP_SOCK) >= sizeof(dir))
		return -ENAMETOOLONG;
	rc = input_unix_check_path(u->path, input_unix_socktype(u));
	if (rc < 0)
		return rc;
	/* "<dir of path>/.darter-in.XXXXXX"; "/x.sock" gives "/.darter-in.XXXXXX" */
	memcpy(tmp, slash == NULL ? "." : u->path, dlen);
	memcpy(tmp + dlen, INPUT_UNIX_TMP_TEMPLATE, sizeof(INPUT_UNIX_TMP_TEMPLATE));
	if (mkdtemp(tmp) == NULL)
		return -errno;
	memcpy(dir, tmp, strlen(tmp) + 1);
	memcpy(tmp + strlen(tmp), INPUT_UNIX_TMP_SOCK, sizeof(INPUT_UNIX_TMP_SOCK));
	fd = input_unix_bind(tmp, u);
	if (fd < 0) {
		rmdir(dir);
		return fd;
	}
	if (rename(tmp, u->path) != 0 || lstat(u->path, &sb) != 0) {
		rc = -errno;
		unlink(tmp);
		rmdir(dir);
		close(fd);
		return rc;
	}
	rmdir(dir);
	u->dev = sb.st_dev;
	u->ino = sb.st_ino;
	return fd;
}

/* Remove the socket file if it is still the one we created. */
static void
input_unix_unlink(struct input_unix *u)
{
	struct stat sb;

	if (u->fd >= 0 && lstat(u->path, &sb) == 0 && sb.st_dev == u->dev && sb.st_ino == u->ino)
		unlink(u->path);
}

/* ------------------------------------------------------------------ */
/* Life cycle                                                          */
/* ------------------------------------------------------------------ */

void
input_unix_conf_defaults(struct input_unix_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	conf->kind = INPUT_UNIX_STREAM;
	conf->file_mode = INPUT_UNIX_DEFAULT_MODE;
	conf->uid = (uid_t)-1;
	conf->gid = (gid_t)-1;
	conf->max_line = INPUT_UNIX_DEFAULT_LINE;
	conf->chunk = INPUT_UNIX_DEFAULT_CHUNK;
	conf->max_clients = INPUT_UNIX_DEFAULT_MAX_CLIENTS;
}

/* conf with zeros replaced by defaults; -EINVAL when out of range. */
static int
input_unix_conf_check(struct input_unix_conf *c)
{
	if (c->file_mode == 0)
		c->file_mode = INPUT_UNIX_DEFAULT_MODE;
	if (c->max_line == 0)
		c->max_line = INPUT_UNIX_DEFAULT_LINE;
	if (c->chunk == 0)
		c->chunk = INPUT_UNIX_DEFAULT_CHUNK;
	if (c->max_clients == 0)
		c->max_clients = INPUT_UNIX_DEFAULT_MAX_CLIENTS;
	if (c->path == NULL || c->path[0] == '\0' ||
	    strlen(c->path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return -EINVAL;
	if (c->kind != INPUT_UNIX_STREAM && c->kind != INPUT_UNIX_DGRAM)
		return -EINVAL;
	if ((c->file_mode & ~(mode_t)07777) != 0 || c->max_line > INPUT_UNIX_MAX_SIZE ||
	    c->chunk > INPUT_UNIX_MAX_SIZE || c->max_clients > INT32_MAX)
		return -EINVAL;
	return 0;
}

struct input_unix *
input_unix_new(uv_loop_t *loop, const struct input_unix_conf *conf, input_unix_line_cb on_line,
	       void *arg)
{
	struct input_unix *u;

	if (loop == NULL || conf == NULL || on_line == NULL)
		goto einval;
	u = calloc(1, sizeof(*u));
	if (u == NULL)
		return NULL;
	u->conf = *conf;
	if (input_unix_conf_check(&u->conf) < 0) {
		free(u);
		goto einval;
	}
	u->path = strdup(conf->path);
	if (u->path == NULL) {
		free(u);
		errno = ENOMEM;
		return NULL;
	}
	u->conf.path = u->path;
	uv_idle_init(loop, &u->idle); /* cannot fail */
	u->idle.data = u;
	u->handles = 1;
	u->loop = loop;
	u->fd = -1;
	u->on_line = on_line;
	u->arg = arg;
	return u;
einval:
	errno = EINVAL;
	return NULL;
}

static int
input_unix_start_dgram(struct input_unix *u)
{
	int rc;

	u->dcap = (size_t)u->conf.max_line + 2; /* the line and an optional "\r\n" */
	u->dbuf = malloc(u->dcap);
	if (u->dbuf == NULL)
		return -ENOMEM;
	rc = uv_poll_init(u->loop, &u->poll, u->fd);
	if (rc != 0)
		return rc;
	u->poll.data = u;
	u->handles++;
	u->io_init = 1;
	if (u->paused)
		return 0;
	return uv_poll_start(&u->poll, UV_READABLE, input_unix_on_poll);
}

static int
input_unix_start_stream(struct input_unix *u)
{
	int rc;

	uv_pipe_init(u->loop, &u->server, 0); /* cannot fail */
	u->server.data = u;
	u->handles++;
	u->io_init = 1;
	rc = uv_pipe_open(&u->server, u->fd);
	if (rc != 0) { /* the pipe did not take the descriptor */
		input_unix_unlink(u);
		close(u->fd);
		u->fd = -1;
		return rc;
	}
	return uv_listen((uv_stream_t *)&u->server, (int)u->conf.max_clients,
			 input_unix_on_connection);
}

int
input_unix_start(struct input_unix *u)
{
	int rc;

	if (u->started || u->closing)
		return -EALREADY;
	u->started = 1;
	rc = input_unix_make_socket(u);
	if (rc < 0)
		return rc;
	u->fd = rc;
	if (u->conf.kind == INPUT_UNIX_DGRAM)
		rc = input_unix_start_dgram(u);
	else
		rc = input_unix_start_stream(u);
	if (rc != 0) { /* the file goes; the handles go at close */
		input_unix_unlink(u);
		return rc;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Draining at shutdown                                                */
/* ------------------------------------------------------------------ */

/* What the kernel holds for cl now, read without blocking, then split. */
static void
client_drain(struct input_unix_client *cl)
{
	struct input_unix *u = cl->u;
	uv_os_fd_t fd;

	if (cl->closing || uv_fileno((uv_handle_t *)&cl->pipe, &fd) != 0)
		return;
	if (cl->used > 0) { /* lines kept by a pause */
		cl->rescan = 0;
		client_split(cl, 0);
	}
	for (int i = 0; i < INPUT_UNIX_DRAIN_READS && !cl->closing && !u->closing; i++) {
		uv_buf_t b;
		ssize_t n;
		size_t from = cl->used;

		client_on_alloc((uv_handle_t *)&cl->pipe, 0, &b);
		if (b.base == NULL)
			return;
		do
			n = read(fd, b.base, b.len);
		while (n < 0 && errno == EINTR);
		if (n <= 0) {
			if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
				u->st.read_errors++;
			return; /* the end of the stream is counted at close */
		}
		u->st.reads++;
		u->st.bytes += (uint64_t)n;
		cl->used += (size_t)n;
		client_split(cl, from);
	}
}

void
input_unix_drain(struct input_unix *u)
{
	struct input_unix_client *cl, *next;

	if (u == NULL || u->closing || !u->started)
		return;
	u->draining = 1;
	u->paused = 0;
	uv_idle_stop(&u->idle);
	if (u->conf.kind == INPUT_UNIX_DGRAM) {
		for (unsigned i = 0; i < INPUT_UNIX_DRAIN_DGRAMS && !u->closing; i++)
			if (input_unix_recv_one(u) <= 0)
				break;
	} else {
		for (cl = u->clients; cl != NULL && !u->closing; cl = next) {
			next = cl->next;
			client_drain(cl);
		}
	}
	u->draining = 0;
}

void
input_unix_close(struct input_unix *u, input_unix_close_cb on_close)
{
	struct input_unix_client *cl, *next;

	if (u == NULL || u->closing)
		return;
	u->closing = 1;
	u->on_close = on_close;
	input_unix_unlink(u);
	for (cl = u->clients; cl != NULL; cl = next) {
		next = cl->next;
		client_close(cl);
	}
	uv_close((uv_handle_t *)&u->idle, input_unix_on_handle_closed);
	if (u->io_init && u->conf.kind == INPUT_UNIX_DGRAM)
		uv_close((uv_handle_t *)&u->poll, input_unix_on_handle_closed);
	else if (u->io_init)
		uv_close((uv_handle_t *)&u->server, input_unix_on_handle_closed);
}

const struct input_unix_stats *
input_unix_stats(const struct input_unix *u)
{
	return &u->st;
}
