/*
 * sink_file.c: buffered append-only EVE file.
 *
 * A 256 KiB buffer per sink; write(2) retried on EINTR and on short
 * writes. This write blocks the worker on a slow disk: acceptable for
 * regular files on local storage, which is what this sink is for.
 *
 * A full disk (ENOSPC, EFBIG, EDQUOT) fails a write part way: the whole
 * lines that reached the file count as written, a line the error cut is
 * completed first at the next flush (nothing is appended to a torn line),
 * and the lines after it are dropped and counted. So once space is back
 * the file holds whole lines only, and lines + dropped = lines given.
 */
#include "sink_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SINK_FILE_BUF (256 * 1024)

struct sink_file {
	int fd;
	size_t used;
	size_t lines_buffered;
	int cont; /* buf starts with the tail of a line whose head is on disk */
	struct sink_file_stats st;
	char *path;
	char buf[SINK_FILE_BUF];
};

static int
sink_file_open_fd(const char *path)
{
	return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
}

struct sink_file *
sink_file_open(const char *path)
{
	struct sink_file *s = malloc(sizeof(*s));

	if (s == NULL)
		return NULL;
	memset(&s->st, 0, sizeof(s->st));
	s->used = 0;
	s->lines_buffered = 0;
	s->cont = 0;
	s->path = strdup(path);
	s->fd = s->path ? sink_file_open_fd(path) : -1;
	if (s->fd < 0) {
		int e = s->path ? errno : ENOMEM;
		free(s->path);
		free(s);
		errno = e;
		return NULL;
	}
	return s;
}

/* Lines ('\n' bytes) in p[0..n). */
static size_t
sink_file_count(const char *p, size_t n)
{
	size_t k = 0;

	for (const char *e = p + n; (p = memchr(p, '\n', (size_t)(e - p))) != NULL; p++)
		k++;
	return k;
}

/*
 * After a failed write that got `done` bytes out: whole lines on disk are
 * written; a line the error cut keeps its unwritten tail at the front of
 * the buffer, to be written first next time (so the file never holds a
 * torn line followed by another); every line after it is dropped.
 */
static void
sink_file_failed(struct sink_file *s, size_t done)
{
	/* on a line boundary on disk? (at 0: unless the buffer continues a cut line) */
	int boundary = done > 0 ? s->buf[done - 1] == '\n' : !s->cont;
	size_t whole = done, ok, keep;
	char *nl;

	s->st.bytes += done;
	s->st.write_errors++;
	if (boundary) {
		ok = sink_file_count(s->buf, done);
		s->st.lines += ok;
		s->st.dropped += s->lines_buffered - ok;
		s->lines_buffered = 0;
		s->used = 0;
		s->cont = 0;
		return;
	}
	while (whole > 0 && s->buf[whole - 1] != '\n')
		whole--;
	ok = sink_file_count(s->buf, whole);
	s->st.lines += ok;
	nl = memchr(s->buf + done, '\n', s->used - done);
	keep = (nl != NULL ? (size_t)(nl - s->buf) + 1 : s->used) - done;
	memmove(s->buf, s->buf + done, keep);
	s->st.dropped += s->lines_buffered - ok - 1;
	s->lines_buffered = 1; /* the cut line: written when its tail is */
	s->used = keep;
	s->cont = 1;
}

int
sink_file_flush(struct sink_file *s)
{
	size_t done = 0;

	while (done < s->used) {
		ssize_t w = write(s->fd, s->buf + done, s->used - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int rc = w < 0 ? -errno : -EIO;

			sink_file_failed(s, done);
			return rc;
		}
		done += (size_t)w;
	}
	s->st.lines += s->lines_buffered;
	s->st.bytes += s->used;
	s->used = 0;
	s->lines_buffered = 0;
	s->cont = 0;
	return 0;
}

int
sink_file_write(struct sink_file *s, const char *line, size_t len)
{
	int rc = 0;

	if (len > sizeof(s->buf) / 2) { /* darter's lines are far smaller: refuse, counted */
		s->st.dropped++;
		return -EMSGSIZE;
	}
	if (len > sizeof(s->buf) - s->used) {
		rc = sink_file_flush(s);
		if (len > sizeof(s->buf) - s->used) { /* the kept tail of a cut line left no room */
			s->st.dropped++;
			return rc < 0 ? rc : -ENOSPC;
		}
	}
	memcpy(s->buf + s->used, line, len);
	s->used += len;
	s->lines_buffered++;
	return rc;
}

int
sink_file_reopen(struct sink_file *s)
{
	int fd;

	sink_file_flush(s);
	if (s->cont) { /* the old file keeps its torn line; the new one starts clean */
		char *nl = memchr(s->buf, '\n', s->used);
		size_t cut = nl != NULL ? (size_t)(nl - s->buf) + 1 : s->used;

		memmove(s->buf, s->buf + cut, s->used - cut);
		s->used -= cut;
		s->lines_buffered--;
		s->st.dropped++;
		s->cont = 0;
	}
	fd = sink_file_open_fd(s->path);
	if (fd < 0)
		return -errno;
	close(s->fd);
	s->fd = fd;
	s->st.reopens++;
	return 0;
}

const struct sink_file_stats *
sink_file_stats(const struct sink_file *s)
{
	return &s->st;
}

void
sink_file_close(struct sink_file *s)
{
	if (s == NULL)
		return;
	sink_file_flush(s);
	close(s->fd);
	free(s->path);
	free(s);
}
