/*
 * sink_file.h: EVE JSON lines appended to a file.
 *
 * Owned by one worker. Lines are gathered in a buffer and written with
 * one write(2) per buffer, always ending on a line boundary, to a file
 * opened O_APPEND: several workers can share one file without tearing
 * lines. A failed write drops the buffer's lines and counts them.
 */
#ifndef DARTER_SINK_FILE_H
#define DARTER_SINK_FILE_H

#include <stddef.h>
#include <stdint.h>

struct sink_file_stats {
	uint64_t lines; /* lines written */
	uint64_t bytes;
	uint64_t dropped;      /* lines lost to write errors */
	uint64_t write_errors; /* failed write(2) calls */
	uint64_t reopens;
};

struct sink_file;

/* Open (create, append) path. NULL with errno set on failure. */
struct sink_file *sink_file_open(const char *path);

/*
 * Append one complete line (with its '\n'). Returns 0, or -errno when a
 * flush failed (the lines are counted as dropped; the sink stays usable).
 */
int sink_file_write(struct sink_file *s, const char *line, size_t len);

/* Write out buffered lines. 0 or -errno. */
int sink_file_flush(struct sink_file *s);

/* Flush, then reopen the path (logrotate). 0 or -errno (old fd kept on failure). */
int sink_file_reopen(struct sink_file *s);

const struct sink_file_stats *sink_file_stats(const struct sink_file *s);

/* Flush and close. NULL is fine. */
void sink_file_close(struct sink_file *s);

#endif
