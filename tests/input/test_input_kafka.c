/*
 * test_input_kafka.c: the Kafka EVE input against librdkafka's mock cluster.
 *
 * A helper producer created with test.mock.num.brokers=3 brings up an
 * in-process cluster; it also produces the test's messages: the real
 * Suricata EVE lines of tests/data/eve/suricata7.json, each with a
 * "seq" field put first so the test knows which arrived. The input
 * joins a consumer group on the same bootstrap address as it would a
 * real cluster's and runs on a uv loop here; every delivered line goes
 * through eve_in (the worker's parser). Checked: every line arrives
 * exactly once and parses; a pause stops delivery until the resume;
 * lines handed over are committed and nothing else, so a second member
 * of the group, after the first closes, reads exactly the rest; bad
 * messages (too long, empty, junk) are counted, never fatal.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <uv.h>

#include "eve_in.h"
#include "input_kafka.h"

#define MAX_LINES 20000
#define NPART	  4
#define EVE_FILE  "tests/data/eve/suricata7.json"

static struct {
	rd_kafka_t *helper; /* owns the mock cluster, produces */
	rd_kafka_mock_cluster_t *mc;
	char bootstraps[256];
	char eve[16][4096]; /* the sample's lines */
	unsigned n_eve;
} M;

static struct {
	uv_loop_t loop;
	struct input_kafka *k;
	struct eve_in *parser;
	bool closed;
	struct input_kafka_stats final;
	uint8_t seen[MAX_LINES];
	uint64_t got;	   /* lines with a seq */
	uint64_t junk;	   /* lines without one (the bad-input test's) */
	uint64_t flows;	   /* eve_in: flow events */
	uint64_t others;   /* eve_in: other events */
	uint64_t refused;  /* eve_in: refused lines */
	unsigned pause_at; /* pause after this many lines; 0: never */
	bool paused;
	uint64_t after_pause; /* lines delivered while paused: must stay 0 */
} T;

/* ------------------------------------------------------------------ */
/* Mock cluster, sample, producer                                     */
/* ------------------------------------------------------------------ */

static void
load_sample(void)
{
	const char *root = getenv("DARTER_SRC");
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root ? root : ".", EVE_FILE);
	f = fopen(path, "r");
	if (f == NULL)
		fail_msg("%s: %s (set DARTER_SRC)", path, strerror(errno));
	while (M.n_eve < 16 && fgets(M.eve[M.n_eve], sizeof(M.eve[0]), f) != NULL) {
		M.eve[M.n_eve][strcspn(M.eve[M.n_eve], "\n")] = '\0';
		if (M.eve[M.n_eve][0] == '{')
			M.n_eve++;
	}
	fclose(f);
	assert_true(M.n_eve >= 3);
}

static int
cluster_setup(void **state)
{
	char err[256];
	rd_kafka_conf_t *c = rd_kafka_conf_new();

	(void)state;
	load_sample();
	assert_int_equal(rd_kafka_conf_set(c, "test.mock.num.brokers", "3", err, sizeof(err)),
			 RD_KAFKA_CONF_OK);
	assert_int_equal(rd_kafka_conf_set(c, "log_level", "0", err, sizeof(err)),
			 RD_KAFKA_CONF_OK);
	M.helper = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
	assert_non_null(M.helper);
	M.mc = rd_kafka_handle_mock_cluster(M.helper);
	assert_non_null(M.mc);
	snprintf(M.bootstraps, sizeof(M.bootstraps), "%s", rd_kafka_mock_cluster_bootstraps(M.mc));
	return 0;
}

static int
cluster_teardown(void **state)
{
	(void)state;
	rd_kafka_destroy(M.helper);
	return 0;
}

static void
produce_raw(const char *topic, const void *buf, size_t len)
{
	rd_kafka_resp_err_t err;

	do {
		err = rd_kafka_producev(M.helper, RD_KAFKA_V_TOPIC(topic),
					RD_KAFKA_V_VALUE((void *)buf, len),
					RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
		if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
			rd_kafka_poll(M.helper, 10);
	} while (err == RD_KAFKA_RESP_ERR__QUEUE_FULL);
	assert_int_equal(err, RD_KAFKA_RESP_ERR_NO_ERROR);
}

/* Lines first..first+n-1: a sample line with "seq" put first; every 7th ends with '\n'. */
static void
produce_eve(const char *topic, unsigned first, unsigned n)
{
	for (unsigned i = first; i < first + n; i++) {
		char line[4200];
		int len = snprintf(line, sizeof(line), "{\"seq\":%u,%s%s", i,
				   M.eve[i % M.n_eve] + 1, i % 7 == 0 ? "\n" : "");

		produce_raw(topic, line, (size_t)len);
	}
	assert_int_equal(rd_kafka_flush(M.helper, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
}

/* ------------------------------------------------------------------ */
/* The input on a loop                                                */
/* ------------------------------------------------------------------ */

static int
on_line(void *arg, const char *line, size_t len)
{
	struct flow_record rec;
	unsigned seq;

	(void)arg;
	if (T.paused)
		T.after_pause++;
	assert_true(len > 0 && line[len - 1] != '\n');
	switch (eve_in_parse(T.parser, line, len, &rec)) {
	case EVE_IN_FLOW:
		T.flows++;
		break;
	case EVE_IN_OTHER:
		T.others++;
		break;
	default:
		T.refused++;
		break;
	}
	if (sscanf(line, "{\"seq\":%u,", &seq) == 1 && seq < MAX_LINES) {
		T.seen[seq]++;
		T.got++;
	} else {
		T.junk++;
	}
	if (T.pause_at != 0 && T.got + T.junk >= T.pause_at) {
		T.pause_at = 0;
		T.paused = true;
		return INPUT_KAFKA_PAUSE;
	}
	return INPUT_KAFKA_CONTINUE;
}

static void
reset_counts(void)
{
	memset(T.seen, 0, sizeof(T.seen));
	T.got = T.junk = T.flows = T.others = T.refused = T.after_pause = 0;
	T.pause_at = 0;
	T.paused = false;
}

static void
input_open(const char *topic, const char *group, uint32_t max_line)
{
	struct input_kafka_conf c;

	input_kafka_conf_defaults(&c);
	c.brokers = M.bootstraps;
	c.topic = topic;
	c.group = group;
	c.max_line = max_line;
	c.close_timeout_ms = 5000;
	T.k = input_kafka_new(&T.loop, &c, on_line, NULL);
	if (T.k == NULL)
		fail_msg("input_kafka_new: %s", c.errstr);
	T.closed = false;
}

static void
on_closed(void *arg)
{
	(void)arg;
	T.final = *input_kafka_stats(T.k);
	T.closed = true;
}

static void
input_close(void)
{
	input_kafka_close(T.k, on_closed);
	while (!T.closed)
		uv_run(&T.loop, UV_RUN_ONCE);
	T.k = NULL;
}

static int64_t
now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Run the loop until `want` lines came and then quiet_ms passed with none (or 60 s). */
static void
run_until(uint64_t want, int quiet_ms)
{
	int64_t t0 = now_ms(), last = t0;
	uint64_t seen = T.got + T.junk;

	for (;;) {
		int64_t t;

		uv_run(&T.loop, UV_RUN_ONCE); /* the input's timer wakes it at least every 100 ms */
		t = now_ms();
		if (T.got + T.junk != seen) {
			seen = T.got + T.junk;
			last = t;
		}
		if (seen >= want && t - last >= quiet_ms)
			return;
		if (t - t0 > 60000)
			return;
	}
}

static void
run_for(int ms)
{
	int64_t t0 = now_ms();

	while (now_ms() - t0 < ms)
		uv_run(&T.loop, UV_RUN_ONCE);
}

static void
check_once(unsigned first, unsigned n)
{
	for (unsigned i = first; i < first + n; i++) {
		if (T.seen[i] != 1)
			fail_msg("line %u seen %u times", i, T.seen[i]);
	}
}

static int
test_setup(void **state)
{
	(void)state;
	assert_int_equal(uv_loop_init(&T.loop), 0);
	T.parser = eve_in_new(NULL);
	assert_non_null(T.parser);
	reset_counts();
	return 0;
}

static int
test_teardown(void **state)
{
	(void)state;
	eve_in_free(T.parser);
	assert_int_equal(uv_run(&T.loop, UV_RUN_NOWAIT), 0); /* every handle closed */
	assert_int_equal(uv_loop_close(&T.loop), 0);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Tests                                                              */
/* ------------------------------------------------------------------ */

/* 10000 EVE lines over 4 partitions: each exactly once, parsed, committed. */
static void
test_all_once(void **state)
{
	const unsigned n = 10000;

	(void)state;
	assert_int_equal(rd_kafka_mock_topic_create(M.mc, "eve-all", NPART, 3), 0);
	produce_eve("eve-all", 0, n);
	input_open("eve-all", "g-all", 0);
	run_until(n, 1000);
	check_once(0, n);
	assert_int_equal(T.got, n);
	assert_int_equal(T.junk, 0);
	assert_int_equal(T.refused, 0);
	assert_int_equal(T.flows + T.others, n);
	assert_true(T.flows > 0 && T.others > 0);
	assert_int_equal(input_kafka_stats(T.k)->partitions, NPART);
	input_close();
	assert_int_equal(T.final.messages, n);
	assert_int_equal(T.final.lines, n);
	assert_int_equal(T.final.dropped, 0);
	assert_int_equal(T.final.too_long + T.final.empty, 0);
	assert_true(T.final.assigns >= 1);
	assert_true(T.final.commits >= 1);
	print_message("# all: lines %llu flows %llu others %llu commits %llu\n",
		      (unsigned long long)T.final.lines, (unsigned long long)T.flows,
		      (unsigned long long)T.others, (unsigned long long)T.final.commits);
}

/*
 * Pause from the line callback at 1000: nothing more is delivered for
 * 1.5 s although 5000 wait; after the resume all the rest arrives, once.
 */
static void
test_pause_resume(void **state)
{
	const unsigned n = 5000;

	(void)state;
	assert_int_equal(rd_kafka_mock_topic_create(M.mc, "eve-pause", NPART, 3), 0);
	produce_eve("eve-pause", 0, n);
	input_open("eve-pause", "g-pause", 0);
	T.pause_at = 1000;
	run_until(1000, 200);
	assert_true(T.paused);
	assert_int_equal(T.got, 1000);
	run_for(1500);
	assert_int_equal(T.after_pause, 0);
	assert_int_equal(T.got, 1000);
	assert_int_equal(input_kafka_stats(T.k)->pauses, 1);
	T.paused = false;
	input_kafka_resume(T.k);
	assert_int_equal(T.got, 1000); /* never from inside resume */
	run_until(n, 1000);
	check_once(0, n);
	assert_int_equal(T.got, n);
	input_close();
	assert_int_equal(T.final.lines, n);
	assert_int_equal(T.final.pauses, 1);
}

/*
 * Commit only what was handed over: member A pauses at 700 of 3000 and
 * closes (what it took but did not deliver is dropped, not committed);
 * member B of the same group then reads exactly the other 2300.
 */
static void
test_commit_handed_only(void **state)
{
	const unsigned n = 3000;

	(void)state;
	assert_int_equal(rd_kafka_mock_topic_create(M.mc, "eve-commit", NPART, 3), 0);
	produce_eve("eve-commit", 0, n);
	input_open("eve-commit", "g-commit", 0);
	T.pause_at = 700;
	run_until(700, 500);
	assert_int_equal(T.got, 700);
	input_close();
	assert_int_equal(T.final.lines, 700);
	print_message("# member A: lines %llu dropped (taken, not handed) %llu commits %llu\n",
		      (unsigned long long)T.final.lines, (unsigned long long)T.final.dropped,
		      (unsigned long long)T.final.commits);

	T.paused = false;
	input_open("eve-commit", "g-commit", 0);
	run_until(n, 1500);
	check_once(0, n);
	assert_int_equal(T.got, n);
	input_close();
	assert_int_equal(T.final.lines, n - 700);
}

/* Too long, empty, junk, truncated, a JSON null: counted or refused, the rest intact. */
static void
test_bad_input(void **state)
{
	static char big[3000];
	const char *bad[] = {"not json at all",		"{\"event_type\":\"flow\",\"src_ip\":",
			     "\x01\x02\xff\xfe binary", "null",
			     "{\"event_type\":null}",	"\xc3\x28"};
	const size_t nbad = sizeof(bad) / sizeof(bad[0]);

	(void)state;
	memset(big, 'x', sizeof(big));
	big[0] = '{';
	assert_int_equal(rd_kafka_mock_topic_create(M.mc, "eve-bad", 1, 3), 0);
	produce_eve("eve-bad", 0, 100);
	produce_raw("eve-bad", big, sizeof(big)); /* over max_line 2048 */
	produce_raw("eve-bad", "", 0);
	produce_raw("eve-bad", "\n", 1);
	for (size_t i = 0; i < nbad; i++)
		produce_raw("eve-bad", bad[i], strlen(bad[i]));
	produce_eve("eve-bad", 100, 100);
	input_open("eve-bad", "g-bad", 2048);
	run_until(200 + nbad, 1000);
	check_once(0, 200);
	assert_int_equal(T.got, 200);
	assert_int_equal(T.junk, nbad);
	assert_int_equal(T.refused, nbad);
	input_close();
	assert_int_equal(T.final.messages, 200 + 3 + nbad);
	assert_int_equal(T.final.too_long, 1);
	assert_int_equal(T.final.empty, 2);
	assert_int_equal(T.final.lines, 200 + nbad);
}

/*
 * Batched messages (a forwarder that sends several events per message,
 * newline-separated): every line delivered once; an empty line skipped
 * and counted; a pause asked in the middle
 * of a batch takes effect after the batch.
 */
static void
test_batched(void **state)
{
	static char msg[6][32768];
	size_t len[6] = {0};
	unsigned seq = 0;

	(void)state;
	for (int m = 0; m < 6; m++) { /* 1, 2, .. 6 events; "\r\n" ends in message 3 */
		for (int e = 0; e <= m; e++, seq++)
			len[m] += (size_t)snprintf(
				msg[m] + len[m], sizeof(msg[m]) - len[m], "{\"seq\":%u,%s%s", seq,
				M.eve[seq % M.n_eve] + 1, e < m ? (m == 3 ? "\r\n" : "\n") : "");
	}
	memcpy(msg[5] + len[5], "\n\n", 2); /* a final newline, then an empty line */
	len[5] += 2;
	assert_int_equal(rd_kafka_mock_topic_create(M.mc, "eve-batch", 1, 3), 0);
	for (int m = 0; m < 6; m++)
		produce_raw("eve-batch", msg[m], len[m]);
	assert_int_equal(rd_kafka_flush(M.helper, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
	T.pause_at = 5; /* inside message 3 (lines 3..5: the 4th, 5th, 6th) */
	input_open("eve-batch", "g-batch", 8192);
	for (int64_t t0 = now_ms(); !T.paused && now_ms() - t0 < 60000;)
		uv_run(&T.loop, UV_RUN_ONCE); /* joining the group takes a few seconds */
	run_for(500);
	assert_true(T.paused);
	assert_int_equal(T.got, 6); /* message 3 whole, then paused */
	input_kafka_resume(T.k);
	run_until(seq, 500);
	check_once(0, seq);
	assert_int_equal(T.got, seq);
	assert_int_equal(T.junk, 0);
	assert_int_equal(T.refused, 0);
	input_close();
	assert_int_equal(T.final.messages, 6);
	assert_int_equal(T.final.lines, seq);
	assert_int_equal(T.final.empty, 1);
}

/* Brokers down at start: errors counted, no crash; up again: everything arrives. */
static void
test_brokers_down(void **state)
{
	(void)state;
	assert_int_equal(rd_kafka_mock_topic_create(M.mc, "eve-down", NPART, 3), 0);
	produce_eve("eve-down", 0, 1000);
	for (int b = 1; b <= 3; b++)
		rd_kafka_mock_broker_set_down(M.mc, b);
	input_open("eve-down", "g-down", 0);
	run_for(1500);
	assert_int_equal(T.got, 0);
	for (int b = 1; b <= 3; b++)
		rd_kafka_mock_broker_set_up(M.mc, b);
	run_until(1000, 1000);
	check_once(0, 1000);
	input_close();
	assert_true(T.final.errors > 0);
	print_message("# down: errors %llu lines %llu\n", (unsigned long long)T.final.errors,
		      (unsigned long long)T.final.lines);
}

static void
test_bad_conf(void **state)
{
	struct input_kafka_conf c;
	const char *bad[] = {"no-equals-sign"};
	const char *unknown[] = {"not.a.property=1"};

	(void)state;
	input_kafka_conf_defaults(&c);
	assert_null(input_kafka_new(&T.loop, &c, on_line, NULL));
	assert_int_equal(errno, EINVAL);
	c.brokers = M.bootstraps;
	c.topic = "t";
	c.group = "g";
	assert_null(input_kafka_new(&T.loop, &c, NULL, NULL));
	assert_int_equal(errno, EINVAL);
	c.props = bad;
	c.nprops = 1;
	assert_null(input_kafka_new(&T.loop, &c, on_line, NULL));
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(c.errstr, "name=value"));
	c.props = unknown;
	assert_null(input_kafka_new(&T.loop, &c, on_line, NULL));
	assert_int_equal(errno, EINVAL);
	assert_true(c.errstr[0] != '\0');
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_all_once, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_pause_resume, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_commit_handed_only, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_bad_input, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_batched, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_brokers_down, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_bad_conf, test_setup, test_teardown),
	};

	alarm(170);
	return cmocka_run_group_tests(tests, cluster_setup, cluster_teardown);
}
