/*
 * test_handoff.c: records cross from a producer to workers exactly once.
 *
 * Starts a minimal EAL (--no-huge --no-pci --no-shconf, one lcore), then
 * drives handoff.c's public API with real threads: lossless mode must
 * deliver every record once, in order per ring; lossy mode must count
 * every record it could not deliver; wake-ups come in batches, yet no
 * record waits unannounced longer than the wake deadline.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "handoff.h"
#include "port.h"

#define N_RECORDS 200000u

struct consumer {
	struct handoff *h;
	unsigned w;
	uint64_t got;
	uint64_t last_id;
	int out_of_order;
	uint8_t *seen;
};

static void *
consumer_main(void *arg)
{
	struct consumer *c = arg;
	struct flow_record *recs[64];

	cpu_set_t all;

	/* Threads made after EAL init inherit lcore 0's CPU: give them every CPU back. */
	CPU_ZERO(&all);
	for (int i = 0; i < CPU_SETSIZE; i++)
		CPU_SET(i, &all);
	pthread_setaffinity_np(pthread_self(), sizeof(all), &all);
	assert_int_equal(handoff_thread_register(), 0);
	while (!handoff_finished(c->h, c->w)) {
		unsigned n = handoff_dequeue(c->h, c->w, recs, 64);

		for (unsigned i = 0; i < n; i++) {
			uint64_t id = recs[i]->flow_id;

			if (id <= c->last_id)
				c->out_of_order = 1;
			c->last_id = id;
			c->seen[id]++;
		}
		c->got += n;
		handoff_release(c->h, recs, n);
		if (n == 0)
			usleep(10); /* an idle worker sleeps in its loop; do not spin */
	}
	handoff_thread_unregister();
	return NULL;
}

static void
test_lossless_exactly_once(void **state)
{
	(void)state;
	struct handoff *h = handoff_new(1, 2, 64, 1);
	uint8_t *seen = calloc(N_RECORDS + 1, 1);
	struct consumer c[2];
	pthread_t t[2];
	struct flow_record rec;
	struct handoff_stats st;

	assert_non_null(h);
	for (unsigned w = 0; w < 2; w++) {
		c[w] = (struct consumer){.h = h, .w = w, .seen = seen};
		assert_int_equal(pthread_create(&t[w], NULL, consumer_main, &c[w]), 0);
	}
	memset(&rec, 0, sizeof(rec));
	for (uint64_t id = 1; id <= N_RECORDS; id++) {
		rec.flow_id = id;
		handoff_emit(h, 0, (unsigned)(id % 2), &rec);
		if (id % 32 == 0)
			handoff_flush(h, 0);
	}
	handoff_producer_done(h, 0);
	for (unsigned w = 0; w < 2; w++)
		pthread_join(t[w], NULL);
	for (uint64_t id = 1; id <= N_RECORDS; id++)
		assert_int_equal(seen[id], 1);
	assert_int_equal(c[0].got + c[1].got, N_RECORDS);
	assert_false(c[0].out_of_order || c[1].out_of_order);
	handoff_stats_get(h, &st);
	assert_int_equal(st.enqueued, N_RECORDS);
	assert_int_equal(st.dequeued, N_RECORDS);
	assert_int_equal(st.ring_full + st.pool_empty, 0);
	print_message("# waits %llu\n", (unsigned long long)st.waits);
	free(seen);
	handoff_free(h);
}

static void
test_lossy_counts_every_drop(void **state)
{
	(void)state;
	struct handoff *h = handoff_new(1, 1, 64, 0);
	struct flow_record rec, *recs[64];
	struct handoff_stats st;
	uint64_t got = 0;
	unsigned n;

	assert_non_null(h);
	memset(&rec, 0, sizeof(rec));
	/* Nobody consumes: the ring fills, the rest must be counted, not lost. */
	for (unsigned i = 0; i < 1000; i++)
		handoff_emit(h, 0, 0, &rec);
	handoff_producer_done(h, 0);
	while ((n = handoff_dequeue(h, 0, recs, 64)) > 0) {
		got += n;
		handoff_release(h, recs, n);
	}
	handoff_stats_get(h, &st);
	assert_true(st.ring_full > 0);
	assert_int_equal(st.enqueued, got);
	assert_int_equal(st.enqueued + st.ring_full + st.pool_empty, 1000);
	assert_true(handoff_finished(h, 0));
	handoff_free(h);
}

static void
count_wake(void *arg)
{
	(*(unsigned *)arg)++;
}

/* Emit n records to worker 0, flushing after each as the capture loop does. */
static void
emit_flushed(struct handoff *h, unsigned n)
{
	struct flow_record rec;

	memset(&rec, 0, sizeof(rec));
	for (unsigned i = 0; i < n; i++) {
		handoff_emit(h, 0, 0, &rec);
		handoff_flush(h, 0);
	}
}

/* Drain worker 0's ring (the test thread plays the worker). */
static unsigned
drain(struct handoff *h)
{
	struct flow_record *recs[64];
	unsigned n, total = 0;

	while ((n = handoff_dequeue(h, 0, recs, 64)) > 0) {
		handoff_release(h, recs, n);
		total += n;
	}
	return total;
}

static void
test_wakes_batched(void **state)
{
	(void)state;
	struct handoff *h = handoff_new(1, 1, 4096, 0);
	unsigned wakes = 0;

	assert_non_null(h);
	handoff_set_wake(h, 0, count_wake, &wakes);
	/* A busy producer: one wake per 256 records (4 here, a few more if the
	 * machine stalls us past the deadline), not one per flush (1024). */
	emit_flushed(h, 1024);
	assert_in_range(wakes, 3, 16);
	assert_int_equal(drain(h), 1024);
	/* A trickle: one record is announced by the first flush after the
	 * deadline (500 us), exactly once (earlier only if we were stalled). */
	wakes = 0;
	emit_flushed(h, 1);
	handoff_flush(h, 0);
	usleep(2000);
	handoff_flush(h, 0);
	assert_int_equal(wakes, 1);
	handoff_flush(h, 0); /* nothing new: no wake */
	assert_int_equal(wakes, 1);
	/* The end of input wakes whatever is pending. */
	emit_flushed(h, 3);
	handoff_producer_done(h, 0);
	assert_int_equal(wakes, 2);
	assert_int_equal(drain(h), 4);
	handoff_free(h);
}

static void
test_bad_sizes(void **state)
{
	(void)state;
	assert_null(handoff_new(1, 1, 100, 0)); /* not a power of two */
	assert_null(handoff_new(0, 1, 64, 0));
	handoff_free(NULL);
}

int
main(void)
{
	static const unsigned cpus[] = {0};
	struct port_eal_conf ec = {.memory_mb = 64, .cpus = cpus, .n_cpus = 1};
	char err[256];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lossless_exactly_once),
		cmocka_unit_test(test_lossy_counts_every_drop),
		cmocka_unit_test(test_wakes_batched),
		cmocka_unit_test(test_bad_sizes),
	};
	int rc;

	if (port_eal_init(&ec, err, sizeof(err)) < 0) {
		fprintf(stderr, "EAL: %s\n", err);
		return 77;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	port_eal_fini();
	return rc;
}
