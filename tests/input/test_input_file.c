/*
 * test_input_file.c: files read line by line on a real libuv loop.
 *
 * Each test works in its own temporary directory and drives the writer
 * side from a timer on the same loop (append, rename + create, truncate),
 * in steps, while the reader follows. Lines are checked one by one. The
 * end-of-file test runs the loop for one second with nothing to read and
 * checks the process CPU time stays tiny (the reader sleeps between
 * polls): a behaviour check, not a speed target. Every test closes its
 * handles and asserts uv_loop_close() == 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "input_file.h"

#define MAX_LINES 256

struct ctx {
	uv_loop_t loop;
	uv_timer_t step_timer;
	struct input_file *f;
	char dir[64];
	char path[128];
	char *lines[MAX_LINES];
	size_t lens[MAX_LINES];
	int n;
	int done;
	int done_status;
	int closed;
	int step;
	int close_after; /* close from inside the line callback after this many lines; 0: never */
	int pause_every; /* pause from inside the line callback every this many lines; 0: never */
	int paused_now;
	int count_only; /* count lines, keep none */
	void (*on_step)(struct ctx *c, int step);
};

static void
on_line(void *arg, const char *line, size_t len)
{
	struct ctx *c = arg;

	if (c->count_only) {
		c->n++;
		return;
	}
	assert_true(c->n < MAX_LINES);
	c->lines[c->n] = strndup(line, len);
	c->lens[c->n] = len;
	c->n++;
	if (c->close_after != 0 && c->n == c->close_after)
		input_file_close(c->f, NULL);
	if (c->pause_every != 0 && c->n % c->pause_every == 0) {
		input_file_pause(c->f);
		c->paused_now = 1;
	}
}

static void
on_done(void *arg, int status)
{
	struct ctx *c = arg;

	c->done++;
	c->done_status = status;
}

static void
on_closed(void *arg)
{
	((struct ctx *)arg)->closed = 1;
}

static void
write_file(const char *path, const char *mode, const char *text, size_t len)
{
	FILE *fp = fopen(path, mode);

	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

static void
append(struct ctx *c, const char *text)
{
	write_file(c->path, "a", text, strlen(text));
}

static int
setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return -1;
	snprintf(c->dir, sizeof(c->dir), "/tmp/darter-input-XXXXXX");
	if (mkdtemp(c->dir) == NULL)
		return -1;
	snprintf(c->path, sizeof(c->path), "%s/eve.json", c->dir);
	if (uv_loop_init(&c->loop) != 0)
		return -1;
	uv_timer_init(&c->loop, &c->step_timer);
	*state = c;
	return 0;
}

static int
teardown(void **state)
{
	struct ctx *c = *state;
	char cmd[128];

	for (int i = 0; i < c->n && !c->count_only; i++)
		free(c->lines[i]);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", c->dir);
	if (system(cmd) != 0)
		return -1;
	free(c);
	return 0;
}

/* Close the reader and the step timer, run the loop dry, check it closes. */
static void
finish(struct ctx *c)
{
	if (c->f != NULL && !c->closed)
		input_file_close(c->f, on_closed);
	uv_close((uv_handle_t *)&c->step_timer, NULL);
	uv_run(&c->loop, UV_RUN_DEFAULT);
	assert_int_equal(c->closed, 1);
	assert_int_equal(uv_loop_close(&c->loop), 0);
}

static void
on_step_timer(uv_timer_t *t)
{
	struct ctx *c = t->data;

	c->on_step(c, c->step++);
}

/* Follow path, call on_step every period_ms until it stops the loop. */
static void
run_follow(struct ctx *c, uint32_t poll_ms, uint32_t period_ms, void (*fn)(struct ctx *, int))
{
	struct input_file_conf conf;

	input_file_conf_defaults(&conf);
	conf.path = c->path;
	conf.follow = 1;
	conf.poll_ms = poll_ms;
	c->f = input_file_new(&c->loop, &conf, on_line, on_done, c);
	assert_non_null(c->f);
	assert_int_equal(input_file_start(c->f), 0);
	c->on_step = fn;
	c->step_timer.data = c;
	uv_timer_start(&c->step_timer, on_step_timer, period_ms, period_ms);
	uv_run(&c->loop, UV_RUN_DEFAULT);
}

static void
expect_lines(struct ctx *c, const char *const *want, int n)
{
	assert_int_equal(c->n, n);
	for (int i = 0; i < n; i++)
		assert_string_equal(c->lines[i], want[i]);
}

/* ------------------------------------------------------------------ */
/* Read once                                                           */
/* ------------------------------------------------------------------ */

static void
test_read_once(void **state)
{
	struct ctx *c = *state;
	struct input_file_conf conf;
	const struct input_file_stats *st;
	static const char *const want[] = {"{\"a\":1}", "", "{\"b\":2}", "crlf", "{\"tail\":"};

	static const char text[] = "{\"a\":1}\n\n{\"b\":2}\ncrlf\r\n{\"tail\":";

	write_file(c->path, "w", text, sizeof(text) - 1);
	input_file_conf_defaults(&conf);
	conf.path = c->path;
	conf.chunk = 5; /* lines across reads */
	c->f = input_file_new(&c->loop, &conf, on_line, on_done, c);
	assert_non_null(c->f);
	assert_int_equal(input_file_start(c->f), 0);
	assert_int_equal(input_file_start(c->f), -EALREADY);
	uv_run(&c->loop, UV_RUN_NOWAIT); /* one turn: one chunk, not the whole file */
	assert_true(c->n <= 1);
	while (!c->done)
		uv_run(&c->loop, UV_RUN_ONCE);
	assert_int_equal(c->done, 1);
	assert_int_equal(c->done_status, 0);
	expect_lines(c, want, 5);
	st = input_file_stats(c->f);
	assert_int_equal(st->lines, 5);
	assert_int_equal(st->partial, 1);
	assert_int_equal(st->bytes, sizeof(text) - 1);
	finish(c);
}

/* Paused from the callback: not one more line (even within the chunk) until resumed. */
static void
test_pause_resume(void **state)
{
	struct ctx *c = *state;
	struct input_file_conf conf;
	char text[200 * 8], want[16];
	size_t n = 0;

	for (int i = 0; i < 200; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "l%03d\n", i);
	write_file(c->path, "w", text, n);
	input_file_conf_defaults(&conf);
	conf.path = c->path; /* one 64 KiB chunk holds every line */
	c->f = input_file_new(&c->loop, &conf, on_line, on_done, c);
	assert_non_null(c->f);
	c->pause_every = 7;
	assert_int_equal(input_file_start(c->f), 0);
	while (!c->done) {
		int before = c->n;

		for (int k = 0; k < 5; k++)
			uv_run(&c->loop, UV_RUN_NOWAIT);
		if (c->paused_now) {
			assert_int_equal(c->n % 7, 0); /* stopped exactly at the pause */
			assert_true(c->n - before <= 7);
			c->paused_now = 0;
			input_file_resume_lines(c->f);
		}
	}
	assert_int_equal(c->n, 200);
	for (int i = 0; i < 200; i++) {
		snprintf(want, sizeof(want), "l%03d", i);
		assert_string_equal(c->lines[i], want);
	}
	finish(c);
}

static void
test_read_once_missing(void **state)
{
	struct ctx *c = *state;
	struct input_file_conf conf;

	input_file_conf_defaults(&conf);
	conf.path = c->path;
	c->f = input_file_new(&c->loop, &conf, on_line, on_done, c);
	assert_non_null(c->f);
	assert_int_equal(input_file_start(c->f), -ENOENT);
	finish(c);
	assert_int_equal(c->done, 0);
	conf.path = NULL;
	errno = 0;
	assert_null(input_file_new(&c->loop, &conf, on_line, on_done, c));
	assert_int_equal(errno, EINVAL);
}

/* Lines over max_line are skipped in bounded memory, whatever the chunking. */
static void
test_long_lines(void **state)
{
	struct ctx *c = *state;
	struct input_file_conf conf;
	static const char *const want[] = {"short1", "short2", "short3"};
	char *text = malloc(200000);
	size_t n = 0;

	assert_non_null(text);
#define PUT(s) (memcpy(text + n, s, sizeof(s) - 1), n += sizeof(s) - 1)
	PUT("short1\n");
	memset(text + n, 'x', 100000); /* spans many chunks */
	n += 100000;
	PUT("\nshort2\n");
	memset(text + n, 'y', 150); /* whole inside one chunk */
	n += 150;
	PUT("\nshort3\n");
	memset(text + n, 'z', 5000); /* at the end, no newline */
	n += 5000;
#undef PUT
	write_file(c->path, "w", text, n);
	free(text);
	input_file_conf_defaults(&conf);
	conf.path = c->path;
	conf.max_line = 100;
	conf.chunk = 4096;
	c->f = input_file_new(&c->loop, &conf, on_line, on_done, c);
	assert_non_null(c->f);
	assert_int_equal(input_file_start(c->f), 0);
	uv_run(&c->loop, UV_RUN_DEFAULT); /* returns once idle stops at the end */
	assert_int_equal(c->done, 1);
	expect_lines(c, want, 3);
	assert_int_equal(input_file_stats(c->f)->too_long, 3);
	assert_int_equal(input_file_stats(c->f)->partial, 0);
	finish(c);
}

/* Closing from inside a line callback: no more lines. */
static void
test_close_in_callback(void **state)
{
	struct ctx *c = *state;
	struct input_file_conf conf;

	write_file(c->path, "w", "1\n2\n3\n4\n", 8);
	input_file_conf_defaults(&conf);
	conf.path = c->path;
	c->close_after = 2;
	c->f = input_file_new(&c->loop, &conf, on_line, on_done, c);
	assert_non_null(c->f);
	assert_int_equal(input_file_start(c->f), 0);
	uv_close((uv_handle_t *)&c->step_timer, NULL);
	uv_run(&c->loop, UV_RUN_DEFAULT);
	assert_int_equal(c->n, 2);
	assert_int_equal(c->done, 0);
	assert_int_equal(uv_loop_close(&c->loop), 0);
}

/* ------------------------------------------------------------------ */
/* Follow                                                              */
/* ------------------------------------------------------------------ */

static void
steps_append(struct ctx *c, int step)
{
	switch (step) {
	case 0:
		append(c, "one\ntw");
		break;
	case 1:
		append(c, "o\nthree\n");
		break;
	case 3:
		append(c, "four\n");
		break;
	case 5:
		uv_stop(&c->loop);
		break;
	}
}

static void
test_follow_append(void **state)
{
	struct ctx *c = *state;
	static const char *const want[] = {"zero", "one", "two", "three", "four"};

	append(c, "zero\n");
	run_follow(c, 20, 60, steps_append);
	expect_lines(c, want, 5);
	assert_int_equal(input_file_stats(c->f)->partial, 0);
	finish(c);
}

static void
steps_rotate(struct ctx *c, int step)
{
	char old[160];

	snprintf(old, sizeof(old), "%s.1", c->path);
	switch (step) {
	case 0:
		assert_int_equal(rename(c->path, old), 0);
		write_file(old, "a", "b-late\n", 7); /* the writer has not reopened yet */
		break;
	case 1:
		write_file(c->path, "w", "c-new\n", 6);
		break;
	case 2:
		append(c, "d-new\n");
		break;
	case 4:
		assert_int_equal(rename(c->path, old), 0); /* and again, with a fresh file */
		write_file(c->path, "w", "e-third\n", 8);
		break;
	case 6:
		uv_stop(&c->loop);
		break;
	}
}

static void
test_follow_rotation(void **state)
{
	struct ctx *c = *state;
	static const char *const want[] = {"a-first", "b-late", "c-new", "d-new", "e-third"};

	append(c, "a-first\n");
	run_follow(c, 20, 70, steps_rotate);
	expect_lines(c, want, 5);
	assert_int_equal(input_file_stats(c->f)->rotations, 2);
	finish(c);
}

static void
steps_truncate(struct ctx *c, int step)
{
	switch (step) {
	case 0:
		assert_int_equal(truncate(c->path, 0), 0); /* copytruncate */
		break;
	case 1:
		append(c, "new1\nnew2\n");
		break;
	case 3:
		uv_stop(&c->loop);
		break;
	}
}

static void
test_follow_truncation(void **state)
{
	struct ctx *c = *state;
	static const char *const want[] = {"old-line-1", "old-line-2", "new1", "new2"};

	append(c, "old-line-1\nold-line-2\n");
	run_follow(c, 20, 70, steps_truncate);
	expect_lines(c, want, 4);
	assert_int_equal(input_file_stats(c->f)->truncations, 1);
	finish(c);
}

static void
steps_late(struct ctx *c, int step)
{
	if (step == 1)
		append(c, "late\n");
	if (step == 3)
		uv_stop(&c->loop);
}

/* Follow a file that does not exist yet. */
static void
test_follow_missing(void **state)
{
	struct ctx *c = *state;
	static const char *const want[] = {"late"};

	run_follow(c, 20, 60, steps_late);
	expect_lines(c, want, 1);
	finish(c);
}

static double
cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

static void
steps_idle(struct ctx *c, int step)
{
	(void)step;
	uv_stop(&c->loop);
}

/* At the end of a followed file the loop sleeps: CPU over 1 s stays tiny. */
static void
test_follow_no_spin(void **state)
{
	struct ctx *c = *state;
	double cpu;

	append(c, "only\n");
	cpu = cpu_seconds();
	run_follow(c, 100, 1000, steps_idle);
	cpu = cpu_seconds() - cpu;
	print_message("# 1 s at end of file: %.4f s CPU, %llu polls\n", cpu,
		      (unsigned long long)input_file_stats(c->f)->polls);
	assert_int_equal(c->n, 1);
	assert_true(cpu < 0.1); /* a spinning loop would use ~1 s */
	assert_true(input_file_stats(c->f)->polls <= 12);
	finish(c);
}

/* ------------------------------------------------------------------ */
/* Drain at a stop                                                     */
/* ------------------------------------------------------------------ */

static void
steps_drain(struct ctx *c, int step)
{
	switch (step) {
	case 0:
		input_file_pause(c->f); /* the worker is behind: nothing more is read */
		append(c, "b\nc\nd-unfin");
		break;
	case 1:
		input_file_drain(c->f); /* SIGTERM: what Suricata wrote before it */
		append(c, "ished\ne-after\n");
		break;
	case 4:
		uv_stop(&c->loop);
		break;
	}
}

static void
test_follow_drain(void **state)
{
	struct ctx *c = *state;
	static const char *const want[] = {"a", "b", "c", "d-unfin"};

	append(c, "a\n");
	run_follow(c, 20, 60, steps_drain);
	expect_lines(c, want, 4);
	assert_int_equal(input_file_stats(c->f)->partial, 1);
	assert_int_equal(input_file_stats(c->f)->unread, 0);
	input_file_resume_lines(c->f); /* a resume after the drain reads nothing more */
	uv_run(&c->loop, UV_RUN_NOWAIT);
	assert_int_equal(c->n, 4);
	finish(c);
}

/* A drain reads a bounded amount: the rest is counted in bytes, not read. */
static void
test_follow_drain_bounded(void **state)
{
	struct ctx *c = *state;
	struct input_file_conf conf;
	enum { LINES = 8000, CHUNK = 64 };
	char *text = malloc(LINES * 10);

	assert_non_null(text);
	for (int i = 0; i < LINES; i++)
		memcpy(text + i * 10, "123456789\n", 10);
	write_file(c->path, "w", text, LINES * 10);
	free(text);
	input_file_conf_defaults(&conf);
	conf.path = c->path;
	conf.follow = 1;
	conf.chunk = CHUNK;
	c->count_only = 1;
	c->f = input_file_new(&c->loop, &conf, on_line, on_done, c);
	assert_non_null(c->f);
	assert_int_equal(input_file_start(c->f), 0);
	input_file_drain(c->f); /* before the loop read anything */
	/* 1024 chunks of 64 bytes: 6553 whole lines, 6 bytes of the next as a partial */
	assert_int_equal(input_file_stats(c->f)->bytes, 1024 * CHUNK);
	assert_int_equal(input_file_stats(c->f)->unread, LINES * 10 - 1024 * CHUNK);
	assert_int_equal(c->n, 1024 * CHUNK / 10 + 1);
	assert_int_equal(input_file_stats(c->f)->partial, 1);
	finish(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_read_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_once_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pause_resume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_in_callback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_follow_append, setup, teardown),
		cmocka_unit_test_setup_teardown(test_follow_rotation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_follow_truncation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_follow_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_follow_no_spin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_follow_drain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_follow_drain_bounded, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
