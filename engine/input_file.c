/*
 * input_file.c: read a file line by line on a libuv loop, once or tail -F.
 *
 * How: a uv_idle_t drives the reading while data flows: each loop turn
 * reads one chunk with read(2) and hands out the complete lines in it, so
 * the work per turn is bounded and other handles run in between. When a
 * read returns 0 (end of file) the idle handle stops. Read-once then
 * delivers the unfinished last line (partial) and calls on_done. Follow
 * starts a repeating uv_timer_t instead and on each tick compares the open
 * descriptor with the path:
 *  - fstat size > offset: more data, reading resumes;
 *  - fstat size < offset: truncated, read again from offset 0;
 *  - stat(path) names another inode: rotated, the old descriptor is
 *    drained to its end, closed, and the new file read from its start;
 *  - stat(path) fails: renamed and not recreated yet, wait;
 *  - no descriptor yet (file missing at start): try to open it.
 * Between ticks the loop sleeps in epoll: no spinning at end of file.
 *
 * Memory: one buffer of max_line + chunk bytes. Unfinished lines are moved
 * to its front after each read; a line that outgrows max_line is counted
 * and discarded up to its '\n' (the discarding flag), so a file with no
 * newline at all costs the same memory as any other.
 *
 * Not here: parsing (eve_in.c), inotify (the poll interval bounds the
 * latency; Suricata's EVE writer buffers anyway), files written by several
 * writers without O_APPEND.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "input_file.h"

#define INPUT_FILE_DEFAULT_LINE	 (64u * 1024u)
#define INPUT_FILE_DEFAULT_CHUNK (64u * 1024u)
#define INPUT_FILE_DEFAULT_POLL	 200u
#define INPUT_FILE_MAX_SIZE	 (1u << 30)
#define INPUT_FILE_DRAIN_CHUNKS	 1024 /* at a rotation: chunks read from the old file, at most */

struct input_file {
	uv_loop_t *loop;
	uv_idle_t idle;	  /* active while data flows */
	uv_timer_t timer; /* follow: end-of-file polls */
	struct input_file_conf conf;
	char *path;
	input_file_line_cb on_line;
	input_file_done_cb on_done;
	input_file_close_cb on_close;
	void *arg;
	int fd; /* -1: not open */
	dev_t dev;
	ino_t ino;
	uint64_t off; /* bytes read from fd */
	char *buf;    /* max_line + chunk bytes */
	size_t cap;
	size_t used;	/* bytes in buf */
	int discarding; /* inside a line longer than max_line: drop up to its '\n' */
	int paused;	/* input_file_pause: no lines until input_file_resume */
	int draining;	/* input_file_drain: pauses are ignored */
	int rescan;	/* buf may hold complete lines left by a pause */
	int started;
	int finished; /* read-once: on_done called */
	int closing;
	int handles; /* handles not closed yet */
	struct input_file_stats st;
};

/* ------------------------------------------------------------------ */
/* Lines                                                               */
/* ------------------------------------------------------------------ */

static void
input_file_deliver(struct input_file *f, const char *line, size_t len)
{
	if (len > 0 && line[len - 1] == '\r')
		len--; /* CRLF files */
	f->st.lines++;
	f->on_line(f->arg, line, len);
}

/* Hand out the complete lines in buf; keep the unfinished one at its front. */
static void
input_file_split(struct input_file *f, size_t scan_from)
{
	size_t start = 0;
	char *nl;

	while (!f->closing && (!f->paused || f->draining) &&
	       (nl = memchr(f->buf + scan_from, '\n', f->used - scan_from)) != NULL) {
		size_t end = (size_t)(nl - f->buf);

		if (f->discarding)
			f->discarding = 0; /* the over-long line ends here; counted already */
		else if (end - start > f->conf.max_line)
			f->st.too_long++;
		else
			input_file_deliver(f, f->buf + start, end - start);
		start = end + 1;
		scan_from = start;
	}
	if (f->closing)
		return;
	if (f->paused &&
	    !f->draining) { /* keep the rest, complete lines included, for the resume */
		memmove(f->buf, f->buf + start, f->used - start);
		f->used -= start;
		f->rescan = 1;
	} else if (f->discarding) {
		f->used = 0;
	} else if (f->used - start > f->conf.max_line) {
		f->st.too_long++;
		f->discarding = 1;
		f->used = 0;
	} else {
		memmove(f->buf, f->buf + start, f->used - start);
		f->used -= start;
	}
}

/* The unfinished line, as a partial one (end of a read-once file, rotation). */
static void
input_file_flush_partial(struct input_file *f)
{
	if (f->used > 0 && !f->discarding) {
		f->st.partial++;
		input_file_deliver(f, f->buf, f->used);
	}
	f->used = 0;
	f->discarding = 0;
}

/* ------------------------------------------------------------------ */
/* Reading                                                             */
/* ------------------------------------------------------------------ */

/* One read(2) into buf: bytes read, 0 at end of file, -errno. */
static ssize_t
input_file_read_chunk(struct input_file *f)
{
	size_t room = f->cap - f->used;
	size_t used = f->used;
	ssize_t n;

	if (room > f->conf.chunk)
		room = f->conf.chunk;
	do
		n = read(f->fd, f->buf + f->used, room);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		f->st.read_errors++;
		return -errno;
	}
	if (n == 0)
		return 0;
	f->st.reads++;
	f->st.bytes += (uint64_t)n;
	f->off += (uint64_t)n;
	f->used += (size_t)n;
	input_file_split(f, used);
	return n;
}

static void
input_file_finish(struct input_file *f, int status)
{
	uv_idle_stop(&f->idle);
	if (status == 0)
		input_file_flush_partial(f);
	f->finished = 1;
	if (f->on_done != NULL && !f->closing)
		f->on_done(f->arg, status);
}

static void input_file_on_timer(uv_timer_t *h);

static void
input_file_eof(struct input_file *f)
{
	uv_idle_stop(&f->idle);
	if (!uv_is_active((uv_handle_t *)&f->timer))
		uv_timer_start(&f->timer, input_file_on_timer, f->conf.poll_ms, f->conf.poll_ms);
}

static void
input_file_on_idle(uv_idle_t *h)
{
	struct input_file *f = h->data;
	ssize_t n;

	if (f->rescan) { /* lines a pause left in buf go first */
		f->rescan = 0;
		input_file_split(f, 0);
		if (f->paused || f->closing)
			return;
	}
	n = input_file_read_chunk(f);
	if (f->closing || f->paused || n > 0)
		return;
	if (!f->conf.follow)
		input_file_finish(f, (int)n);
	else
		input_file_eof(f); /* follow: an error is counted and retried at the next poll */
}

static void
input_file_resume(struct input_file *f)
{
	uv_timer_stop(&f->timer);
	uv_idle_start(&f->idle, input_file_on_idle);
}

/* ------------------------------------------------------------------ */
/* Opening, rotation, truncation                                       */
/* ------------------------------------------------------------------ */

/* Open path; 0, or -errno (ENOENT not counted: the file may come later). */
static int
input_file_open(struct input_file *f)
{
	struct stat st;
	int fd = open(f->path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		if (errno != ENOENT)
			f->st.open_errors++;
		return -errno;
	}
	if (fstat(fd, &st) < 0) {
		int e = errno;

		close(fd);
		f->st.open_errors++;
		return -e;
	}
	f->fd = fd;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->off = 0;
	return 0;
}

/* Read what is left in the old file, then switch to the new one at path. */
static void
input_file_rotate(struct input_file *f)
{
	for (int i = 0; i < INPUT_FILE_DRAIN_CHUNKS && !f->closing; i++)
		if (input_file_read_chunk(f) <= 0)
			break;
	if (f->closing)
		return;
	input_file_flush_partial(f);
	close(f->fd);
	f->fd = -1;
	if (input_file_open(f) == 0) {
		f->st.rotations++;
		input_file_resume(f);
	}
}

static void
input_file_on_timer(uv_timer_t *h)
{
	struct input_file *f = h->data;
	struct stat fs, ps;

	if (f->paused)
		return; /* input_file_resume restarts reading */
	f->st.polls++;
	if (f->fd < 0) {
		if (input_file_open(f) == 0)
			input_file_resume(f);
		return;
	}
	if (fstat(f->fd, &fs) < 0) {
		f->st.read_errors++;
		return;
	}
	if ((uint64_t)fs.st_size > f->off) {
		input_file_resume(f);
	} else if ((uint64_t)fs.st_size < f->off) {
		f->st.truncations++;
		if (f->used > 0 && !f->discarding)
			f->st.dropped++;
		f->used = 0;
		f->discarding = 0;
		if (lseek(f->fd, 0, SEEK_SET) == 0)
			f->off = 0;
		input_file_resume(f);
	} else if (stat(f->path, &ps) == 0 && (ps.st_ino != f->ino || ps.st_dev != f->dev)) {
		input_file_rotate(f);
	}
}

/* ------------------------------------------------------------------ */
/* Life cycle                                                          */
/* ------------------------------------------------------------------ */

void
input_file_conf_defaults(struct input_file_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	conf->max_line = INPUT_FILE_DEFAULT_LINE;
	conf->chunk = INPUT_FILE_DEFAULT_CHUNK;
	conf->poll_ms = INPUT_FILE_DEFAULT_POLL;
}

/* conf with zeros replaced by defaults; -EINVAL when out of range. */
static int
input_file_conf_check(struct input_file_conf *c)
{
	if (c->max_line == 0)
		c->max_line = INPUT_FILE_DEFAULT_LINE;
	if (c->chunk == 0)
		c->chunk = INPUT_FILE_DEFAULT_CHUNK;
	if (c->poll_ms == 0)
		c->poll_ms = INPUT_FILE_DEFAULT_POLL;
	if (c->path == NULL || c->max_line > INPUT_FILE_MAX_SIZE || c->chunk > INPUT_FILE_MAX_SIZE)
		return -EINVAL;
	return 0;
}

struct input_file *
input_file_new(uv_loop_t *loop, const struct input_file_conf *conf, input_file_line_cb on_line,
	       input_file_done_cb on_done, void *arg)
{
	struct input_file *f;
	int rc;

	if (loop == NULL || conf == NULL || on_line == NULL)
		goto einval;
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return NULL;
	f->conf = *conf;
	if (input_file_conf_check(&f->conf) < 0) {
		free(f);
		goto einval;
	}
	f->cap = (size_t)f->conf.max_line + f->conf.chunk;
	f->buf = malloc(f->cap);
	f->path = strdup(conf->path);
	if (f->buf == NULL || f->path == NULL)
		goto fail_mem;
	f->conf.path = f->path;
	/* cannot fail (libuv 1.44 only links the handles into the loop) */
	rc = uv_idle_init(loop, &f->idle);
	assert(rc == 0);
	rc = uv_timer_init(loop, &f->timer);
	assert(rc == 0);
	(void)rc;
	f->loop = loop;
	f->idle.data = f;
	f->timer.data = f;
	f->fd = -1;
	f->handles = 2;
	f->on_line = on_line;
	f->on_done = on_done;
	f->arg = arg;
	return f;

fail_mem:
	free(f->path);
	free(f->buf);
	free(f);
	errno = ENOMEM;
	return NULL;
einval:
	errno = EINVAL;
	return NULL;
}

int
input_file_start(struct input_file *f)
{
	int rc;

	if (f->started || f->closing)
		return -EALREADY;
	f->started = 1;
	rc = input_file_open(f);
	if (rc < 0) {
		if (!f->conf.follow || rc != -ENOENT)
			return rc;
		uv_timer_start(&f->timer, input_file_on_timer, f->conf.poll_ms, f->conf.poll_ms);
		return 0;
	}
	if (f->conf.follow && f->conf.from_end) {
		off_t end = lseek(f->fd, 0, SEEK_END);

		if (end > 0)
			f->off = (uint64_t)end;
	}
	uv_idle_start(&f->idle, input_file_on_idle);
	return 0;
}

static void
input_file_on_closed(uv_handle_t *h)
{
	struct input_file *f = h->data;

	if (--f->handles > 0)
		return;
	if (f->on_close != NULL)
		f->on_close(f->arg);
	if (f->fd >= 0)
		close(f->fd);
	free(f->path);
	free(f->buf);
	free(f);
}

void
input_file_close(struct input_file *f, input_file_close_cb on_close)
{
	if (f == NULL || f->closing)
		return;
	f->closing = 1;
	f->on_close = on_close;
	uv_close((uv_handle_t *)&f->idle, input_file_on_closed);
	uv_close((uv_handle_t *)&f->timer, input_file_on_closed);
}

void
input_file_pause(struct input_file *f)
{
	f->paused = 1;
	uv_idle_stop(&f->idle);
}

void
input_file_resume_lines(struct input_file *f)
{
	if (!f->paused)
		return;
	f->paused = 0;
	if (f->closing || f->finished || f->fd < 0)
		return;
	uv_timer_stop(&f->timer);
	uv_idle_start(&f->idle, input_file_on_idle);
}

void
input_file_drain(struct input_file *f)
{
	struct stat fs;
	uint64_t end;
	int i;

	if (f->closing || f->fd < 0 || fstat(f->fd, &fs) < 0)
		return;
	end = (uint64_t)fs.st_size; /* what a writer appends from now on is left */
	f->draining = 1;
	uv_idle_stop(&f->idle);
	uv_timer_stop(&f->timer);
	if (f->rescan) {
		f->rescan = 0;
		input_file_split(f, 0);
	}
	for (i = 0; i < INPUT_FILE_DRAIN_CHUNKS && !f->closing && f->off < end; i++)
		if (input_file_read_chunk(f) <= 0)
			break;
	if (f->closing)
		return;
	if (f->off < end)
		f->st.unread += end - f->off;
	input_file_flush_partial(f);
	f->finished = 1; /* no more reading, even on a resume */
}

const struct input_file_stats *
input_file_stats(const struct input_file *f)
{
	return &f->st;
}
