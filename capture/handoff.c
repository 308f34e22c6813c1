/*
 * handoff.c: the record rings between capture lcores and workers.
 *
 * A lane is one SP/SC ring, producer p -> worker w, with a small pending
 * array on the producer side so records cross in bursts (one ring
 * operation per burst, not per record). Counters live with their single
 * writer: producer counters on the producer's cache line, worker counters
 * on the worker's.
 *
 * Wake-ups are batched too. A wake is a syscall that, on a VM, costs the
 * capture lcore microseconds, and a worker that keeps up sleeps after
 * every burst: waking it per burst cost 9-14 % of the capture lcore on
 * offline replays. So a lane wakes its worker once it holds
 * HANDOFF_WAKE_RECORDS records nobody was told about, or HANDOFF_WAKE_US
 * after the first of them, whichever comes first (the capture loop flushes
 * every turn, so the deadline holds); waits and the end of input wake at
 * once.
 *
 * Lossless mode (offline replay) never drops: a full ring or an empty
 * pool makes the producer wake the workers and yield until there is room.
 * Lossy mode (live capture) never waits: what does not fit is counted.
 */
#include "handoff.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#define HANDOFF_BURST	     32
#define HANDOFF_POOL_CACHE   64
#define HANDOFF_WORKER_SLACK 1024 /* records a worker may hold between dequeue and release */
#define HANDOFF_WAKE_RECORDS 256u /* unsignalled records that wake a worker (<= ring / 4) */
#define HANDOFF_WAKE_US	     500  /* ... or the age of the oldest of them */

struct handoff_lane {
	struct rte_ring *ring;
	unsigned n_pending;
	unsigned unsignalled; /* records in the ring since the worker was last woken */
	uint64_t first_tsc;   /* when the first of them went in */
	struct flow_record *pending[HANDOFF_BURST];
} __rte_cache_aligned;

struct handoff_producer {
	uint64_t enqueued;
	uint64_t ring_full;
	uint64_t pool_empty;
	uint64_t waits;
} __rte_cache_aligned;

struct handoff_worker {
	handoff_wake_fn wake;
	void *arg;
	uint64_t dequeued;
	unsigned next; /* producer lane to read first: round robin */
} __rte_cache_aligned;

struct handoff {
	unsigned n_prod;
	unsigned n_workers;
	int lossless;
	unsigned wake_records;
	uint64_t wake_tsc; /* HANDOFF_WAKE_US in TSC cycles */
	atomic_uint n_done;
	struct rte_mempool *pool;
	struct handoff_lane *lanes; /* [prod * n_workers + w] */
	struct handoff_producer *prod;
	struct handoff_worker *workers;
};

static inline struct handoff_lane *
handoff_lane(struct handoff *h, unsigned prod, unsigned w)
{
	return &h->lanes[prod * h->n_workers + w];
}

/* ---------------------------------------------------------- lifetime */

static int
handoff_create_rings(struct handoff *h, unsigned ring_size)
{
	char name[RTE_RING_NAMESIZE];

	for (unsigned p = 0; p < h->n_prod; p++) {
		for (unsigned w = 0; w < h->n_workers; w++) {
			snprintf(name, sizeof(name), "rec_%u_%u", p, w);
			handoff_lane(h, p, w)->ring = rte_ring_create(
				name, ring_size, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
			if (handoff_lane(h, p, w)->ring == NULL)
				return -rte_errno;
		}
	}
	return 0;
}

struct handoff *
handoff_new(unsigned n_producers, unsigned n_workers, unsigned ring_size, int lossless)
{
	unsigned n_lanes = n_producers * n_workers;
	unsigned pool_size;
	struct handoff *h;
	int rc;

	if (n_lanes == 0 || ring_size == 0 || (ring_size & (ring_size - 1))) {
		errno = EINVAL;
		return NULL;
	}
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return NULL;
	h->n_prod = n_producers;
	h->n_workers = n_workers;
	h->lossless = lossless;
	h->wake_records = RTE_MAX(1u, RTE_MIN(HANDOFF_WAKE_RECORDS, ring_size / 4));
	h->wake_tsc = rte_get_tsc_hz() / 1000000 * HANDOFF_WAKE_US;
	h->lanes = aligned_alloc(RTE_CACHE_LINE_SIZE, sizeof(*h->lanes) * n_lanes);
	h->prod = aligned_alloc(RTE_CACHE_LINE_SIZE, sizeof(*h->prod) * n_producers);
	h->workers = aligned_alloc(RTE_CACHE_LINE_SIZE, sizeof(*h->workers) * n_workers);
	if (h->lanes == NULL || h->prod == NULL || h->workers == NULL)
		goto fail;
	memset(h->lanes, 0, sizeof(*h->lanes) * n_lanes);
	memset(h->prod, 0, sizeof(*h->prod) * n_producers);
	memset(h->workers, 0, sizeof(*h->workers) * n_workers);
	rc = handoff_create_rings(h, ring_size);
	if (rc < 0) {
		errno = -rc;
		goto fail;
	}
	pool_size = n_lanes * (ring_size + HANDOFF_BURST) + n_workers * HANDOFF_WORKER_SLACK;
	h->pool =
		rte_mempool_create("records", pool_size, sizeof(struct flow_record),
				   HANDOFF_POOL_CACHE, 0, NULL, NULL, NULL, NULL, SOCKET_ID_ANY, 0);
	if (h->pool == NULL) {
		errno = rte_errno;
		goto fail;
	}
	return h;
fail:
	rc = errno;
	handoff_free(h);
	errno = rc;
	return NULL;
}

void
handoff_free(struct handoff *h)
{
	if (h == NULL)
		return;
	if (h->lanes != NULL) {
		for (unsigned i = 0; i < h->n_prod * h->n_workers; i++)
			rte_ring_free(h->lanes[i].ring);
	}
	rte_mempool_free(h->pool);
	free(h->lanes);
	free(h->prod);
	free(h->workers);
	free(h);
}

void
handoff_set_wake(struct handoff *h, unsigned w, handoff_wake_fn fn, void *arg)
{
	h->workers[w].wake = fn;
	h->workers[w].arg = arg;
}

unsigned
handoff_workers(const struct handoff *h)
{
	return h->n_workers;
}

/* ---------------------------------------------------------- producer */

static void
handoff_wake(struct handoff *h, unsigned w)
{
	if (h->workers[w].wake != NULL)
		h->workers[w].wake(h->workers[w].arg);
}

/* Wake every worker now: prod waits for them, or has nothing more to send. */
static void
handoff_wake_all(struct handoff *h, unsigned prod)
{
	for (unsigned w = 0; w < h->n_workers; w++) {
		handoff_lane(h, prod, w)->unsignalled = 0;
		handoff_wake(h, w);
	}
}

/* Lane (prod, w) took `sent` records: wake w if enough wait or the oldest is old enough. */
static void
handoff_signal(struct handoff *h, unsigned prod, unsigned w, unsigned sent)
{
	struct handoff_lane *l = handoff_lane(h, prod, w);

	if (sent > 0 && l->unsignalled == 0)
		l->first_tsc = rte_rdtsc();
	l->unsignalled += sent;
	if (l->unsignalled == 0)
		return;
	if (l->unsignalled >= h->wake_records || rte_rdtsc() - l->first_tsc >= h->wake_tsc) {
		l->unsignalled = 0;
		handoff_wake(h, w);
	}
}

/* Lossless: producers wait for room instead of dropping (offline; any shutdown drain). */
static inline int
handoff_lossless(const struct handoff *h)
{
	return __atomic_load_n(&h->lossless, __ATOMIC_RELAXED);
}

/* Push lane (prod, w)'s pending records; returns how many the ring took. */
static unsigned
handoff_flush_lane(struct handoff *h, unsigned prod, unsigned w)
{
	struct handoff_lane *l = handoff_lane(h, prod, w);
	struct handoff_producer *p = &h->prod[prod];
	unsigned n = l->n_pending;
	unsigned sent = rte_ring_sp_enqueue_burst(l->ring, (void **)l->pending, n, NULL);

	while (unlikely(sent < n) && handoff_lossless(h)) {
		l->unsignalled = 0;
		handoff_wake(h, w);
		p->waits++;
		sched_yield();
		sent += rte_ring_sp_enqueue_burst(l->ring, (void **)l->pending + sent, n - sent,
						  NULL);
	}
	if (unlikely(sent < n)) {
		rte_mempool_put_bulk(h->pool, (void **)l->pending + sent, n - sent);
		p->ring_full += n - sent;
	}
	p->enqueued += sent;
	l->n_pending = 0;
	return sent;
}

void
handoff_set_lossless(struct handoff *h)
{
	__atomic_store_n(&h->lossless, 1, __ATOMIC_RELAXED);
}

void
handoff_flush(struct handoff *h, unsigned prod)
{
	for (unsigned w = 0; w < h->n_workers; w++) {
		unsigned sent = 0;

		if (handoff_lane(h, prod, w)->n_pending > 0)
			sent = handoff_flush_lane(h, prod, w);
		handoff_signal(h, prod, w, sent);
	}
}

void
handoff_emit(struct handoff *h, unsigned prod, unsigned w, const struct flow_record *rec)
{
	struct handoff_lane *l = handoff_lane(h, prod, w);
	struct flow_record *r;

	if (l->n_pending == HANDOFF_BURST)
		handoff_signal(h, prod, w, handoff_flush_lane(h, prod, w));
	while (unlikely(rte_mempool_get(h->pool, (void **)&r) != 0)) {
		if (!handoff_lossless(h)) {
			h->prod[prod].pool_empty++;
			return;
		}
		handoff_flush(h, prod);
		handoff_wake_all(h, prod);
		h->prod[prod].waits++;
		sched_yield();
	}
	*r = *rec;
	l->pending[l->n_pending++] = r;
}

void
handoff_producer_done(struct handoff *h, unsigned prod)
{
	handoff_flush(h, prod);
	atomic_fetch_add_explicit(&h->n_done, 1, memory_order_release);
	handoff_wake_all(h, prod);
}

/* ------------------------------------------------------------ worker */

unsigned
handoff_dequeue(struct handoff *h, unsigned w, struct flow_record **recs, unsigned n)
{
	struct handoff_worker *wk = &h->workers[w];
	unsigned got = 0;

	for (unsigned i = 0; i < h->n_prod && got < n; i++) {
		unsigned p = (wk->next + i) % h->n_prod;
		got += rte_ring_sc_dequeue_burst(handoff_lane(h, p, w)->ring, (void **)recs + got,
						 n - got, NULL);
	}
	wk->next = (wk->next + 1) % h->n_prod;
	wk->dequeued += got;
	return got;
}

void
handoff_release(struct handoff *h, struct flow_record **recs, unsigned n)
{
	rte_mempool_put_bulk(h->pool, (void **)recs, n);
}

int
handoff_finished(struct handoff *h, unsigned w)
{
	if (atomic_load_explicit(&h->n_done, memory_order_acquire) < h->n_prod)
		return 0;
	for (unsigned p = 0; p < h->n_prod; p++) {
		if (!rte_ring_empty(handoff_lane(h, p, w)->ring))
			return 0;
	}
	return 1;
}

int
handoff_thread_register(void)
{
	return rte_thread_register() < 0 ? -rte_errno : 0;
}

void
handoff_thread_unregister(void)
{
	rte_thread_unregister();
}

void
handoff_stats_get(const struct handoff *h, struct handoff_stats *st)
{
	memset(st, 0, sizeof(*st));
	for (unsigned p = 0; p < h->n_prod; p++) {
		st->enqueued += h->prod[p].enqueued;
		st->ring_full += h->prod[p].ring_full;
		st->pool_empty += h->prod[p].pool_empty;
		st->waits += h->prod[p].waits;
	}
	for (unsigned w = 0; w < h->n_workers; w++)
		st->dequeued += h->workers[w].dequeued;
}
