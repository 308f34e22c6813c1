/*
 * test_sink_file.c: the EVE file sink, full disk included.
 *
 * A full disk is simulated without root with RLIMIT_FSIZE: past the limit
 * write(2) fails with EFBIG (SIGXFSZ ignored), part way through a buffer
 * just as ENOSPC does; raising the limit is freeing space. The file must
 * then hold whole lines only, and the counters must add up: lines +
 * dropped = lines given, lines = newline-terminated lines in the file.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>

#include "sink_file.h"

static char path[64];

static int
setup(void **state)
{
	int fd;

	snprintf(path, sizeof(path), "/tmp/test_sink_file_XXXXXX");
	fd = mkstemp(path);

	(void)state;
	if (fd < 0)
		return -1;
	close(fd);
	unlink(path);
	signal(SIGXFSZ, SIG_IGN);
	return 0;
}

static int
teardown(void **state)
{
	struct rlimit r = {RLIM_INFINITY, RLIM_INFINITY};

	(void)state;
	setrlimit(RLIMIT_FSIZE, &r);
	unlink(path);
	return 0;
}

static void
fsize_limit(rlim_t bytes)
{
	struct rlimit r;

	assert_int_equal(getrlimit(RLIMIT_FSIZE, &r), 0);
	r.rlim_cur = bytes;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &r), 0);
}

/* Line i: '{"n":i,"pad":"xxx..."}\n', lengths varying so cuts land anywhere. */
static size_t
make_line(char *buf, size_t cap, unsigned i)
{
	int n = snprintf(
		buf, cap, "{\"n\":%u,\"pad\":\"%.*s\"}\n", i, (int)(i * 7919 % 700),
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");

	assert_true(n > 0 && (size_t)n < cap);
	return (size_t)n;
}

/* Every line of the file is one of ours, whole, and each appears at most once. */
static size_t
check_file(unsigned given)
{
	FILE *f = fopen(path, "r");
	char *line = NULL, want[1024];
	size_t cap = 0, lines = 0;
	ssize_t n;
	char *seen = calloc(given, 1);
	unsigned i;

	assert_non_null(f);
	assert_non_null(seen);
	while ((n = getline(&line, &cap, f)) > 0) {
		assert_int_equal(line[n - 1], '\n'); /* no torn line, not even the last */
		assert_int_equal(sscanf(line, "{\"n\":%u,", &i), 1);
		assert_true(i < given);
		make_line(want, sizeof(want), i);
		assert_string_equal(line, want);
		assert_false(seen[i]);
		seen[i] = 1;
		lines++;
	}
	free(line);
	free(seen);
	fclose(f);
	return lines;
}

static void
test_plain(void **state)
{
	struct sink_file *s = sink_file_open(path);
	char line[1024];
	(void)state;

	assert_non_null(s);
	for (unsigned i = 0; i < 5000; i++)
		assert_int_equal(sink_file_write(s, line, make_line(line, sizeof(line), i)), 0);
	assert_int_equal(sink_file_flush(s), 0);
	assert_int_equal(sink_file_stats(s)->lines, 5000);
	assert_int_equal(sink_file_stats(s)->dropped, 0);
	sink_file_close(s);
	assert_int_equal(check_file(5000), 5000);
}

/* The disk fills mid-buffer, several times; space comes back; whole lines only. */
static void
test_disk_full(void **state)
{
	static const rlim_t limits[] = {100000, 100001, 262144 + 333, 700000};
	struct sink_file *s = sink_file_open(path);
	char line[1024];
	unsigned given = 0;
	const struct sink_file_stats *st;
	(void)state;

	assert_non_null(s);
	for (size_t k = 0; k < sizeof(limits) / sizeof(limits[0]); k++) {
		fsize_limit(limits[k]); /* the disk holds this much: writes past it fail */
		for (unsigned i = 0; i < 3000; i++, given++)
			sink_file_write(s, line, make_line(line, sizeof(line), given));
		sink_file_flush(s);
	}
	st = sink_file_stats(s);
	assert_true(st->write_errors > 0);
	assert_true(st->dropped > 0);
	fsize_limit(RLIM_INFINITY); /* space again: the cut line is completed first */
	for (unsigned i = 0; i < 100; i++, given++)
		assert_int_equal(sink_file_write(s, line, make_line(line, sizeof(line), given)), 0);
	assert_int_equal(sink_file_flush(s), 0);
	st = sink_file_stats(s);
	assert_int_equal(st->lines + st->dropped, given);
	assert_int_equal(check_file(given), st->lines);
	sink_file_close(s);
}

static void
test_too_long(void **state)
{
	struct sink_file *s = sink_file_open(path);
	char *big = malloc(200000);
	(void)state;

	assert_non_null(s);
	assert_non_null(big);
	memset(big, 'x', 199999);
	big[199999] = '\n';
	assert_int_equal(sink_file_write(s, big, 200000), -EMSGSIZE);
	assert_int_equal(sink_file_stats(s)->dropped, 1);
	free(big);
	sink_file_close(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_plain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disk_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_long, setup, teardown),
	};

	return cmocka_run_group_tests_name("sink_file", tests, NULL, NULL);
}
