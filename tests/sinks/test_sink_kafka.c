/*
 * test_sink_kafka.c: the Kafka sink against librdkafka's mock cluster.
 *
 * A helper producer created with test.mock.num.brokers=3 brings up an
 * in-process cluster of three mock brokers; the sink and a consumer
 * connect to it by its bootstrap address like to a real one, so no
 * broker is needed. Topics get 4 partitions, replication 3. Lines carry
 * a sequence number and are keyed by a flow id; the consumer (a group
 * member, subscribe()) reads the topic from the beginning and the test
 * checks every delivered line arrives exactly once, nothing else does,
 * each flow stays in one partition, and delivered + dropped == written.
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

#include "sink_kafka.h"

#define MAX_LINES 60000
#define NFLOWS	  500
#define NPART	  4

static struct {
	rd_kafka_t *helper; /* owns the mock cluster */
	rd_kafka_mock_cluster_t *mc;
	char bootstraps[256];
} M;

static struct {
	uv_loop_t loop;
	struct sink_kafka *s;
	bool closed;
	struct sink_stats final;
	unsigned next;
	uint64_t rejected;
} T;

static struct {
	uint8_t seen[MAX_LINES];
	int32_t flow_part[NFLOWS]; /* partition each flow landed in; -1: none yet */
	unsigned parts_used;
	uint64_t received;
	uint64_t bad;
} R;

/* ------------------------------------------------------------------ */
/* Mock cluster and consumer                                          */
/* ------------------------------------------------------------------ */

static int
cluster_setup(void **state)
{
	char err[256];
	rd_kafka_conf_t *c = rd_kafka_conf_new();

	(void)state;
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
topic_create(const char *topic)
{
	assert_int_equal(rd_kafka_mock_topic_create(M.mc, topic, NPART, 3),
			 RD_KAFKA_RESP_ERR_NO_ERROR);
}

static void
got(const rd_kafka_message_t *m)
{
	unsigned seq, flow;
	char key[32];

	if (m->len == 0 || ((const char *)m->payload)[m->len - 1] == '\n' ||
	    sscanf(m->payload, "{\"event_type\":\"flow\",\"seq\":%u,\"flow_id\":%u,", &seq,
		   &flow) != 2 ||
	    seq >= MAX_LINES || flow >= NFLOWS || m->key_len >= sizeof(key)) {
		R.bad++;
		return;
	}
	memcpy(key, m->key, m->key_len);
	key[m->key_len] = '\0';
	if ((unsigned)atoi(key) != flow) {
		R.bad++;
		return;
	}
	if (R.flow_part[flow] < 0) {
		R.flow_part[flow] = m->partition;
		R.parts_used |= 1u << m->partition;
	} else if (R.flow_part[flow] != m->partition) {
		R.bad++; /* a flow split over two partitions */
	}
	R.seen[seq]++;
	R.received++;
}

/*
 * Read topic from the beginning as a group member until `want` lines
 * came and then `quiet_ms` passed with nothing more (no duplicates hide
 * behind the count).
 */
static void
consume(const char *topic, uint64_t want, int quiet_ms)
{
	char err[256], group[64];
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_t *rk;
	struct timespec t0, now;
	int64_t last = 0;

	memset(&R, 0, sizeof(R));
	for (int i = 0; i < NFLOWS; i++)
		R.flow_part[i] = -1;
	snprintf(group, sizeof(group), "darter-test-%s", topic);
	assert_int_equal(rd_kafka_conf_set(c, "bootstrap.servers", M.bootstraps, err, sizeof(err)),
			 RD_KAFKA_CONF_OK);
	rd_kafka_conf_set(c, "group.id", group, err, sizeof(err));
	rd_kafka_conf_set(c, "auto.offset.reset", "earliest", err, sizeof(err));
	rd_kafka_conf_set(c, "enable.auto.commit", "false", err, sizeof(err));
	rd_kafka_conf_set(c, "log_level", "0", err, sizeof(err));
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err));
	assert_non_null(rk);
	rd_kafka_poll_set_consumer(rk);
	rd_kafka_topic_partition_list_add(l, topic, RD_KAFKA_PARTITION_UA);
	assert_int_equal(rd_kafka_subscribe(rk, l), RD_KAFKA_RESP_ERR_NO_ERROR);
	rd_kafka_topic_partition_list_destroy(l);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 50);
		int64_t ms;

		clock_gettime(CLOCK_MONOTONIC, &now);
		ms = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
		if (m != NULL) {
			if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
				got(m);
				last = ms;
			}
			rd_kafka_message_destroy(m);
		}
		if (R.received >= want && ms - last > quiet_ms)
			break;
		if (ms > 60000)
			break;
	}
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
}

/* ------------------------------------------------------------------ */
/* The sink                                                           */
/* ------------------------------------------------------------------ */

static void
sink_open(const char *topic, uint32_t queue_lines, const char *const *props, size_t nprops)
{
	struct sink_kafka_conf c;

	sink_kafka_conf_defaults(&c);
	c.brokers = M.bootstraps;
	c.topic = topic;
	c.queue_lines = queue_lines;
	c.props = props;
	c.nprops = nprops;
	c.close_timeout_ms = 3000;
	assert_int_equal(uv_loop_init(&T.loop), 0);
	T.s = sink_kafka_open(&T.loop, &c);
	if (T.s == NULL)
		fail_msg("sink_kafka_open: %s", c.errstr);
	T.closed = false;
	T.next = 0;
	T.rejected = 0;
}

static struct sink_stats
stats(void)
{
	struct sink_stats st;

	sink_kafka_stats(T.s, &st);
	return st;
}

static void
write_lines(unsigned n, unsigned every)
{
	for (unsigned i = 0; i < n; i++) {
		char line[256], key[16];
		unsigned flow = T.next % NFLOWS;
		int len =
			snprintf(line, sizeof(line),
				 "{\"event_type\":\"flow\",\"seq\":%u,\"flow_id\":%u,\"pad\":1}\n",
				 T.next, flow);
		int klen = snprintf(key, sizeof(key), "%u", flow);

		T.next++;
		T.rejected += sink_kafka_write(T.s, key, (size_t)klen, line, (size_t)len) < 0;
		if (every > 0 && (i + 1) % every == 0)
			uv_run(&T.loop, UV_RUN_NOWAIT);
	}
}

static void
settle(void)
{
	for (int i = 0; i < 20000 && stats().queued > 0; i++) {
		uv_run(&T.loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
	assert_int_equal(stats().queued, 0);
}

static void
on_closed(void *arg, const struct sink_stats *final)
{
	(void)arg;
	T.final = *final;
	T.closed = true;
}

static void
close_sink(void)
{
	sink_kafka_close(T.s, on_closed, NULL);
	assert_int_equal(uv_run(&T.loop, UV_RUN_DEFAULT), 0);
	assert_true(T.closed);
	assert_int_equal(uv_loop_close(&T.loop), 0);
	assert_int_equal(T.final.queued, 0);
	assert_int_equal(T.final.written, T.next);
	assert_int_equal(T.final.lines + T.final.dropped, T.final.written);
}

static void
check_once(void)
{
	for (unsigned i = 0; i < T.next; i++)
		assert_true(R.seen[i] <= 1);
	assert_int_equal(R.bad, 0);
}

/* ------------------------------------------------------------------ */
/* Tests                                                              */
/* ------------------------------------------------------------------ */

/* 50000 lines, 500 flows, 4 partitions: each once, flows never split. */
static void
test_all_once_keyed(void **state)
{
	(void)state;
	topic_create("eve-all");
	sink_open("eve-all", 0, NULL, 0);
	write_lines(50000, 500);
	settle();
	close_sink();
	assert_int_equal(T.final.lines, 50000);
	assert_int_equal(T.final.dropped, 0);
	consume("eve-all", T.final.lines, 1000);
	check_once();
	assert_int_equal(R.received, 50000);
	assert_int_equal(R.parts_used, (1u << NPART) - 1); /* keys spread over every partition */
	print_message("# all: written %llu delivered %llu received %llu\n",
		      (unsigned long long)T.final.written, (unsigned long long)T.final.lines,
		      (unsigned long long)R.received);
}

/* A queue of 100 and a burst of 1000 with no loop turn: the newest are dropped, counted. */
static void
test_queue_full(void **state)
{
	const char *props[] = {"linger.ms=200"};

	(void)state;
	topic_create("eve-full");
	sink_open("eve-full", 100, props, 1);
	write_lines(1000, 0);
	assert_true(T.rejected >= 800);
	assert_int_equal(stats().dropped, T.rejected);
	settle();
	write_lines(50, 10); /* room again */
	settle();
	close_sink();
	assert_int_equal(T.final.dropped, T.rejected);
	consume("eve-full", T.final.lines, 1000);
	check_once();
	assert_int_equal(R.received, T.final.lines);
	for (unsigned i = 1000; i < 1050; i++)
		assert_int_equal(R.seen[i], 1);
	print_message("# full: written %llu delivered %llu dropped %llu\n",
		      (unsigned long long)T.final.written, (unsigned long long)T.final.lines,
		      (unsigned long long)T.final.dropped);
}

/*
 * Every broker down: messages time out (message.timeout.ms), reports
 * say so, counted dropped; brokers back: delivery resumes; what the
 * consumer reads equals what was delivered (within the unsure ones).
 */
static void
test_brokers_down(void **state)
{
	const char *props[] = {"message.timeout.ms=1500", "reconnect.backoff.ms=10",
			       "reconnect.backoff.max.ms=100"};

	(void)state;
	topic_create("eve-down");
	sink_open("eve-down", 0, props, 3);
	write_lines(2000, 100);
	settle();
	for (int b = 1; b <= 3; b++)
		rd_kafka_mock_broker_set_down(M.mc, b);
	write_lines(1000, 100);
	settle(); /* every one reported: timed out */
	assert_true(stats().dropped >= 1000);
	for (int b = 1; b <= 3; b++)
		rd_kafka_mock_broker_set_up(M.mc, b);
	write_lines(2000, 100);
	settle();
	close_sink();
	consume("eve-down", T.final.lines, 1000);
	check_once();
	assert_true(R.received >= T.final.lines);
	assert_true(R.received - T.final.lines <= T.final.unsure);
	assert_true(T.final.errors > 0);
	print_message(
		"# down: written %llu delivered %llu dropped %llu unsure %llu received %llu\n",
		(unsigned long long)T.final.written, (unsigned long long)T.final.lines,
		(unsigned long long)T.final.dropped, (unsigned long long)T.final.unsure,
		(unsigned long long)R.received);
}

/* Brokers down at close: the close timeout purges, counted, and close completes. */
static void
test_close_timeout(void **state)
{
	struct sink_kafka_conf c;
	struct sink sk = {&sink_kafka_ops, NULL};
	struct timespec t0, t1;

	(void)state;
	topic_create("eve-close");
	for (int b = 1; b <= 3; b++)
		rd_kafka_mock_broker_set_down(M.mc, b);
	sink_kafka_conf_defaults(&c);
	c.brokers = M.bootstraps;
	c.topic = "eve-close";
	c.close_timeout_ms = 300;
	assert_int_equal(uv_loop_init(&T.loop), 0);
	sk.impl = sink_kafka_open(&T.loop, &c);
	assert_non_null(sk.impl);
	T.s = sk.impl;
	T.closed = false;
	for (int i = 0; i < 100; i++)
		assert_int_equal(sink_write(&sk, "1", 1, "{\"event_type\":\"flow\"}", 21), 0);
	assert_int_equal(sink_write(&sk, "1", 1, "\n", 1), -EINVAL); /* empty: counted */
	assert_int_equal(sink_flush(&sk), -EAGAIN);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	sink_close(&sk, on_closed, NULL);
	assert_int_equal(uv_run(&T.loop, UV_RUN_DEFAULT), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(T.closed);
	assert_int_equal(uv_loop_close(&T.loop), 0);
	assert_int_equal(T.final.written, 101);
	assert_int_equal(T.final.dropped, 101);
	assert_int_equal(T.final.queued, 0);
	assert_true(t1.tv_sec - t0.tv_sec < 5);
	for (int b = 1; b <= 3; b++)
		rd_kafka_mock_broker_set_up(M.mc, b);
}

static void
test_bad_conf(void **state)
{
	struct sink_kafka_conf c;
	uv_loop_t loop;
	const char *bad[] = {"no-equals-sign"};
	const char *unknown[] = {"not.a.property=1"};

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	sink_kafka_conf_defaults(&c);
	assert_null(sink_kafka_open(&loop, &c));
	assert_int_equal(errno, EINVAL);
	c.brokers = M.bootstraps;
	c.topic = "t";
	c.props = bad;
	c.nprops = 1;
	assert_null(sink_kafka_open(&loop, &c));
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(c.errstr, "name=value"));
	c.props = unknown;
	assert_null(sink_kafka_open(&loop, &c));
	assert_int_equal(errno, EINVAL);
	assert_true(c.errstr[0] != '\0');
	assert_int_equal(uv_loop_close(&loop), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_once_keyed), cmocka_unit_test(test_queue_full),
		cmocka_unit_test(test_brokers_down),   cmocka_unit_test(test_close_timeout),
		cmocka_unit_test(test_bad_conf),
	};

	alarm(170);
	return cmocka_run_group_tests(tests, cluster_setup, cluster_teardown);
}
