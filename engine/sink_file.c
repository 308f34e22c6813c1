/*
 * sink_file.c: buffered append-only EVE file.
 *
 * A 256 KiB buffer per sink; write(2) retried on EINTR and on short
 * writes. This write blocks the worker on a slow disk: acceptable for
 * regular files on local storage, which is what this sink is for.
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

static int
sink_file_write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int
sink_file_flush(struct sink_file *s)
{
	int rc;

	if (s->used == 0)
		return 0;
	rc = sink_file_write_all(s->fd, s->buf, s->used);
	if (rc < 0) {
		s->st.write_errors++;
		s->st.dropped += s->lines_buffered;
	} else {
		s->st.lines += s->lines_buffered;
		s->st.bytes += s->used;
	}
	s->used = 0;
	s->lines_buffered = 0;
	return rc;
}

int
sink_file_write(struct sink_file *s, const char *line, size_t len)
{
	int rc = 0;

	if (len > sizeof(s->buf) - s->used)
		rc = sink_file_flush(s);
	if (len > sizeof(s->buf)) {
		/* a line larger than the buffer goes straight out */
		if (sink_file_write_all(s->fd, line, len) < 0) {
			s->st.write_errors++;
			s->st.dropped++;
			return -EIO;
		}
		s->st.lines++;
		s->st.bytes += len;
		return rc;
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
