/*
 * input_file.h: lines of a file (EVE JSON) read on a libuv loop.
 *
 * Two modes. Read-once: from the start to the end of the file, then the
 * done callback (darter -e). Follow: tail -F semantics: keeps reading what
 * is appended, survives rotation (rename and create: the new file is read
 * from its start once the old one is drained) and truncation (copytruncate:
 * read again from offset 0), waits for a file that does not exist yet, and
 * at the end of the file polls with a timer, never spinning a core.
 *
 * Lines are handed out one at a time, without their '\n', pointing into an
 * internal buffer valid only during the callback. A line longer than
 * max_line is skipped and counted, in bounded memory (max_line + chunk).
 * A last line without '\n' at the end of a read-once file is delivered
 * too, and counted as partial: Suricata killed mid-write leaves one, and
 * eve_in refuses it as truncated JSON if it is cut. In follow mode such a
 * tail waits for the rest of its line; at a rotation it is delivered
 * (counted partial), at a truncation dropped (counted).
 *
 * One struct input_file belongs to the thread running its loop. Reading
 * is read(2) on the loop thread, one chunk per loop turn (bounded work per
 * turn: other handles on the loop run in between); a regular file's read
 * is served from the page cache in microseconds.
 */
#ifndef DARTER_INPUT_FILE_H
#define DARTER_INPUT_FILE_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct input_file;

/* One complete line (no '\n'); line is valid during the call only. */
typedef void (*input_file_line_cb)(void *arg, const char *line, size_t len);

/* Read-once: the end of the file (status 0) or a read error (-errno). Follow: never. */
typedef void (*input_file_done_cb)(void *arg, int status);

/* input_file_close() finished: the object is freed. */
typedef void (*input_file_close_cb)(void *arg);

struct input_file_conf {
	const char *path;  /* copied */
	int follow;	   /* 0: read once; 1: tail -F */
	int from_end;	   /* follow: start at the current end of the file (as tail) */
	uint32_t max_line; /* longest line delivered, bytes; 0: 64 KiB */
	uint32_t chunk;	   /* bytes per read(2), one read per loop turn; 0: 64 KiB */
	uint32_t poll_ms;  /* follow: poll interval at the end of the file; 0: 200 ms */
};

/* Counters, written by the loop thread only. */
struct input_file_stats {
	uint64_t lines;	      /* lines delivered (partial ones included) */
	uint64_t bytes;	      /* bytes read */
	uint64_t reads;	      /* read(2) calls that returned data */
	uint64_t too_long;    /* lines longer than max_line, skipped */
	uint64_t partial;     /* lines delivered without their '\n' (end of file, rotation) */
	uint64_t dropped;     /* partial lines dropped by a truncation */
	uint64_t rotations;   /* new files opened at path after a rename */
	uint64_t truncations; /* the file shrank below our offset: read again from 0 */
	uint64_t polls;	      /* end-of-file timer ticks */
	uint64_t read_errors; /* read(2) or fstat failures */
	uint64_t open_errors; /* open(2) failures other than "not there yet" */
	uint64_t unread;      /* input_file_drain: bytes left beyond its bound, not read */
};

/* Fill conf with the defaults (path NULL, read-once). */
void input_file_conf_defaults(struct input_file_conf *conf);

/*
 * A reader on loop; nothing is opened yet. on_line must not be NULL;
 * on_done may be NULL. Returns NULL with errno set (EINVAL: no path or
 * on_line, max_line or chunk out of 1..1 GiB; ENOMEM; a uv_*_init errno).
 */
struct input_file *input_file_new(uv_loop_t *loop, const struct input_file_conf *conf,
				  input_file_line_cb on_line, input_file_done_cb on_done,
				  void *arg);

/*
 * Open the file and start reading on the next loop turn. Read-once: 0 or
 * -errno from open(2). Follow: a missing file is waited for (0). Loop
 * thread only; once per reader.
 */
int input_file_start(struct input_file *f);

/*
 * Stop and free, asynchronously: on_close(arg) runs from the loop when the
 * handles are closed, and then f is gone. No line callback runs after this
 * call, even when it is made from inside one. on_close may be NULL.
 */
void input_file_close(struct input_file *f, input_file_close_cb on_close);

/*
 * At a stop (follow mode): read, on this thread and now, up to the end
 * the file has at this call, delivering every line even while paused; the
 * unfinished last line is delivered as partial (Suricata was writing it).
 * Bounded: at most INPUT_FILE_DRAIN_CHUNKS chunks; what is left beyond is
 * counted in unread (bytes). Then no more reading: close next.
 */
void input_file_drain(struct input_file *f);

/* The counters (valid until on_close). */
/*
 * Backpressure: after input_file_pause() no line callback runs (not even
 * the rest of the current chunk: it stays buffered) until
 * input_file_resume_lines(). Both may be called from a line callback.
 * Loop thread only.
 */
void input_file_pause(struct input_file *f);
void input_file_resume_lines(struct input_file *f);

const struct input_file_stats *input_file_stats(const struct input_file *f);

#endif
