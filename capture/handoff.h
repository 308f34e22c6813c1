/*
 * handoff.h: completed flow records from capture lcores to workers.
 *
 * One SP/SC rte_ring per (capture lcore, worker) and one mempool of
 * fixed-size struct flow_record. A record belongs to the capture lcore
 * from handoff_get() until handoff_put_burst() hands it to a ring; then
 * to the worker that dequeues it, which returns it with handoff_release()
 * exactly once. Workers are woken by a callback they register (the engine
 * uses uv_async_send); capture never waits on a worker unless the
 * handoff is "lossless" (offline replay), where a full ring makes the
 * capture lcore yield and retry instead of dropping.
 */
#ifndef DARTER_HANDOFF_H
#define DARTER_HANDOFF_H

#include <stdint.h>

#include "flow_record.h"

struct handoff;

/* Wakes a worker; called from a capture lcore, so it must be thread-safe. */
typedef void (*handoff_wake_fn)(void *arg);

/* Counters summed over every ring (read any time; approximate while running). */
struct handoff_stats {
	uint64_t enqueued;   /* records accepted by a ring */
	uint64_t dequeued;   /* records taken by workers */
	uint64_t ring_full;  /* records dropped: ring full (lossy mode only) */
	uint64_t pool_empty; /* records dropped: no free record (lossy mode only) */
	uint64_t waits;	     /* lossless mode: times capture yielded on a full ring or pool */
};

/*
 * Create rings for n_producers capture lcores x n_workers workers, each
 * ring_size (power of two) deep, and the record pool. Needs EAL. Returns
 * NULL with errno set on failure.
 */
struct handoff *handoff_new(unsigned n_producers, unsigned n_workers, unsigned ring_size,
			    int lossless);

/* Free rings and pool. Every thread using them must have stopped. NULL is fine. */
void handoff_free(struct handoff *h);

/*
 * From now on producers wait for room instead of dropping: capture calls
 * it when it stops, so the final flush of open flows loses nothing. Any
 * thread.
 */
void handoff_set_lossless(struct handoff *h);

/* Register worker w's wake callback before producers start. */
void handoff_set_wake(struct handoff *h, unsigned w, handoff_wake_fn fn, void *arg);

/* Number of workers. */
unsigned handoff_workers(const struct handoff *h);

/*
 * Producer side (capture lcore `prod` only). handoff_emit copies rec into
 * a pool record and queues it for worker w; handoff_flush pushes queued
 * records to the rings and wakes the workers that got some. In lossy mode
 * what does not fit is returned to the pool and counted.
 */
void handoff_emit(struct handoff *h, unsigned prod, unsigned w, const struct flow_record *rec);
void handoff_flush(struct handoff *h, unsigned prod);

/* Producer prod will send nothing more (after its final flush). */
void handoff_producer_done(struct handoff *h, unsigned prod);

/*
 * Worker side (worker w only). Dequeue up to n records from w's rings;
 * returns how many. Records must go back with handoff_release().
 */
unsigned handoff_dequeue(struct handoff *h, unsigned w, struct flow_record **recs, unsigned n);
void handoff_release(struct handoff *h, struct flow_record **recs, unsigned n);

/* Nonzero once every producer is done and worker w's rings are empty. */
int handoff_finished(struct handoff *h, unsigned w);

/* Register the calling (non-EAL) thread with DPDK so pool caches work. 0 or -errno. */
int handoff_thread_register(void);
void handoff_thread_unregister(void);

void handoff_stats_get(const struct handoff *h, struct handoff_stats *st);

#endif
