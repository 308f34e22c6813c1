/*
 * capture.c: the capture lcores' run-to-completion loop.
 *
 * Each capture lcore owns one struct capture_lcore: its RX queues, a flow
 * table, decoder counters and a scratch buffer. A loop turn reads a burst
 * from each queue, decodes each frame, accounts it in the flow table,
 * frees the mbufs, sweeps a slice of the table for idle flows and pushes
 * completed records to the workers in bursts. Nothing here blocks,
 * allocates or logs per packet.
 *
 * Several lcores. Flow tables are per lcore and lock-free, so both
 * directions of a flow must reach the same lcore. Queue q of port p is
 * read by lcore (p + q) % n_lcores (port.c decides how many queues). A port with RSS (port.c:
 * symmetric 0x6D5A Toeplitz key, one queue per lcore) needs nothing more. Any other port is "soft":
 * its reader decodes every frame, hashes the flow key (capture_spread_hash: symmetric, fixed seeds)
 * and keeps the frames it owns (hash % n_lcores == its index); the others go, mbuf and decoded key
 * together (struct capture_item, so no frame is decoded twice and decoder counters stay exact),
 * into an SP/SC ring per (reader, owner) pair, which the owner drains every turn. Live, a full ring
 * drops the frame (counted; capture never waits); offline, the reader stops reading the file until
 * its staged frames fit (counted as paused), so nothing is lost. Why software and not the vdev's
 * own queues: net_pcap has one, net_ring's spread is its producer's, and net_af_packet's kernel
 * fanout rolls over to another socket under load (DPDK 22.11 always sets
 * PACKET_FANOUT_FLAG_ROLLOVER): none is flow-stable. The cost is one ring
 * hop for (n-1)/n of a soft port's frames and a reader that decodes them
 * all; a port with RSS pays neither.
 *
 * Tunnels with RSS: the NIC hashes the outer header. IP-in-IP and GRE
 * keep both directions together (outer endpoints swap); VXLAN/Teredo may
 * not, when the encapsulator picks per-direction outer source ports.
 *
 * Time is packet time when the device stamps frames (net_pcap), else the
 * wall clock read once per loop turn. Offline, end of file is a zero
 * burst with no new RX error. An lcore ends when its own queues ended (or
 * capture_stop()), every reader feeding it has said it is done and its
 * rings are empty. Then all lcores meet, and each expires what is idle at
 * the latest packet time any lcore saw (the time one lcore would have)
 * and flushes the rest as "shutdown". Records therefore do not depend on
 * the number of lcores, as long as no table fills (eviction is per table)
 * and timestamps do not go backwards by more than a timeout (a late
 * packet may find its flow already swept; the same holds on one lcore).
 */
#include "capture.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "log.h"

#define CAPTURE_SWEEP_BUCKETS 64	  /* flow buckets checked per loop turn */
#define CAPTURE_SCRATCH	      (64 * 1024) /* largest multi-segment frame decoded */
#define CAPTURE_SPREAD_RING   1024	  /* default frames per spread ring */
#define CAPTURE_DRAIN_BURST   64	  /* frames taken from one spread ring per turn */
#define CAPTURE_MAX_RXQ	      64	  /* RX queues one lcore reads */

/* One RX queue an lcore reads. */
struct capture_rxq {
	uint16_t port;
	uint16_t queue;
	uint8_t soft;	    /* frames rehashed to their owner lcore */
	uint8_t ended;	    /* offline: end of input */
	uint64_t last_errs; /* offline: RX errors at the last empty burst */
};

/* A frame on its way to its owner lcore: decoded once, by its reader. */
struct capture_item {
	struct rte_mbuf *m; /* NULL: a held fragment released; only frame_len counts */
	uint64_t ts_us;
	uint32_t frame_len;
	struct decode_pkt p;
};

_Static_assert(sizeof(struct capture_item) % 4 == 0, "rte_ring elements are 4-byte multiples");

/* Reader src -> owner dst: the ring, and frames staged for it by src. */
struct capture_lane {
	struct rte_ring *ring;
	unsigned n_staged;
	struct capture_item staged[CAPTURE_MAX_BURST];
} __rte_cache_aligned;

struct capture_lcore {
	struct capture *cap;
	unsigned idx; /* producer index in the handoff; owner index in the spread */
	unsigned lcore_id;
	struct flow_table *flows;
	struct frag_table *frags; /* fragments of the frames this lcore decodes */
	uint64_t now_us;	  /* latest packet time seen */
	uint64_t seg_linearized;
	struct capture_spread_stats spread;
	struct decode_stats dstats;
	unsigned n_rxq;
	int staged;	     /* offline: frames wait in a lane; soft queues not read */
	atomic_int sent_all; /* this lcore will stage and pass no more frames */
	struct capture_rxq rxq[CAPTURE_MAX_RXQ];
	uint8_t scratch[CAPTURE_SCRATCH];
} __rte_cache_aligned;

struct capture {
	struct capture_conf conf;
	struct handoff *handoff;
	unsigned n_lcores;
	unsigned n_ports;
	int ts_offset; /* RX timestamp dynfield, or -1 */
	uint64_t ts_flag;
	atomic_int stop;
	atomic_uint n_drained; /* lcores past their loop: the end barrier */
	struct port_setup ports[RTE_MAX_ETHPORTS];
	struct capture_lane *lanes; /* [src * n_lcores + dst], NULL: no soft port */
	struct capture_lcore *lcores;
};

static inline struct capture_lane *
capture_lane(struct capture *c, unsigned src, unsigned dst)
{
	return &c->lanes[src * c->n_lcores + dst];
}

/* ------------------------------------------------------------ records */

static void
capture_emit(void *arg, const struct flow_record *rec)
{
	struct capture_lcore *lc = arg;
	struct capture *c = lc->cap;
	struct handoff *h = c->handoff;
	uint64_t key = c->conf.route ? c->conf.route(c->conf.route_arg, rec) : rec->flow_id;

	handoff_emit(h, lc->idx, (unsigned)(key % handoff_workers(h)), rec);
}

/* ------------------------------------------------------------- packets */

static uint64_t
capture_wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static inline uint64_t
capture_pkt_time(const struct capture *c, const struct rte_mbuf *m, uint64_t fallback)
{
	if (c->ts_offset >= 0 && (m->ol_flags & c->ts_flag))
		return *RTE_MBUF_DYNFIELD(m, c->ts_offset, const uint64_t *);
	return fallback;
}

/* The frame's bytes, contiguous: multi-segment frames are copied to scratch. */
static inline const uint8_t *
capture_frame(struct capture_lcore *lc, struct rte_mbuf *m, uint32_t *len)
{
	if (likely(m->nb_segs == 1)) {
		*len = m->data_len;
		return rte_pktmbuf_mtod(m, const uint8_t *);
	}
	*len = RTE_MIN(m->pkt_len, (uint32_t)CAPTURE_SCRATCH);
	return rte_pktmbuf_read(m, 0, *len, lc->scratch);
}

/*
 * Decode one frame into *p; stamps *ts, advances the lcore's clock and
 * points *data, *len at the bytes decoded (valid until the next call).
 */
static inline enum decode_result
capture_decode(struct capture_lcore *lc, struct rte_mbuf *m, uint64_t wall_us, struct decode_pkt *p,
	       uint64_t *ts, const uint8_t **data, uint32_t *len)
{
	*ts = capture_pkt_time(lc->cap, m, wall_us);
	*data = capture_frame(lc, m, len);
	if (unlikely(m->nb_segs > 1))
		lc->seg_linearized++;
	if (*ts > lc->now_us)
		lc->now_us = *ts;
	return decode_packet(p, lc->cap->conf.link, *data, *len, &lc->dstats);
}

/*
 * Decode a frame into its flow key. A fragment goes through the fragment
 * tracker (frag.h: attribution, not reassembly): one it can attribute
 * gets its flow's ports and flows like any packet (*frag set: then call
 * capture_take_held); the others are held or dropped, counted there.
 */
static __rte_always_inline enum decode_result
capture_classify(struct capture_lcore *lc, struct rte_mbuf *m, uint64_t wall_us,
		 struct decode_pkt *p, uint64_t *ts, const uint8_t **data, uint32_t *len, int *frag)
{
	enum decode_result r = capture_decode(lc, m, wall_us, p, ts, data, len);

	*frag = r == DECODE_FRAG;
	if (likely(r != DECODE_FRAG))
		return r;
	return frag_packet(lc->frags, p, m->pkt_len, *ts) == FRAG_FLOW ? DECODE_FLOW : DECODE_FRAG;
}

/* Fragments that came before their first one, now attributed to p's flow. */
static unsigned
capture_take_held(struct capture_lcore *lc, struct decode_pkt *p, struct frag_held *held)
{
	return frag_take_held(lc->frags, p, held);
}

/*
 * Beyond this many flows a table no longer fits the caches: each packet's
 * lookup misses, and a burst is looked up in passes (capture_burst_ahead).
 */
#ifndef CAPTURE_PREFETCH_FLOWS /* tests build with 0: every burst in passes */
#define CAPTURE_PREFETCH_FLOWS 16384
#endif

/* One packet to its flow, then the fragments it releases. */
static inline void
capture_flow_packet(struct capture_lcore *lc, struct decode_pkt *p, const uint8_t *data,
		    uint32_t len, uint32_t frame_len, uint64_t ts, int frag, const uint32_t *hash)
{
	struct frag_held held[FRAG_HELD_MAX];
	unsigned k;

	if (hash != NULL)
		flow_table_packet_hashed(lc->flows, p, *hash, data, len, frame_len, ts);
	else
		flow_table_packet(lc->flows, p, data, len, frame_len, ts);
	k = frag ? capture_take_held(lc, p, held) : 0;
	for (unsigned j = 0; j < k; j++)
		flow_table_packet(lc->flows, p, NULL, 0, held[j].frame_len, held[j].ts_us);
}

/* A small table (in cache): each frame decoded and flowed in turn. */
static void
capture_burst_direct(struct capture_lcore *lc, struct rte_mbuf **pkts, uint16_t n, uint64_t wall_us)
{
	for (uint16_t i = 0; i < n; i++) {
		struct decode_pkt p;
		const uint8_t *data;
		uint32_t len;
		uint64_t ts;
		int frag;

		if (i + 1 < n)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
		if (capture_classify(lc, pkts[i], wall_us, &p, &ts, &data, &len, &frag) ==
		    DECODE_FLOW)
			capture_flow_packet(lc, &p, data, len, pkts[i]->pkt_len, ts, frag, NULL);
	}
}

/*
 * A large table: decode the whole burst, prefetching each flow's bucket,
 * then each bucket's first entry, then flow the frames in order, so the
 * burst's cache misses overlap (about 1.5x the packets/s at 100K flows
 * with churn). Fragments keep their order: held ones are taken after
 * their first fragment's flow, as in capture_burst_direct.
 */
static void
capture_burst_ahead(struct capture_lcore *lc, struct rte_mbuf **pkts, uint16_t n, uint64_t wall_us)
{
	struct capture_decoded {
		struct decode_pkt p;
		const uint8_t *data;
		uint64_t ts;
		uint32_t len;
		uint32_t hash;
		int flow; /* DECODE_FLOW */
		int frag;
	} d[CAPTURE_MAX_BURST];

	for (uint16_t i = 0; i < n; i++) {
		struct capture_decoded *x = &d[i];

		if (i + 1 < n)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
		x->flow = capture_classify(lc, pkts[i], wall_us, &x->p, &x->ts, &x->data, &x->len,
					   &x->frag) == DECODE_FLOW;
		if (x->flow)
			x->hash = flow_table_prefetch(lc->flows, &x->p);
	}
	for (uint16_t i = 0; i < n; i++)
		if (d[i].flow)
			flow_table_prefetch_entry(lc->flows, d[i].hash);
	for (uint16_t i = 0; i < n; i++) {
		struct capture_decoded *x = &d[i];

		if (x->flow)
			capture_flow_packet(lc, &x->p, x->data, x->len, pkts[i]->pkt_len, x->ts,
					    x->frag, &x->hash);
	}
}

/* A port with RSS, or one lcore: every frame read here is owned here. */
static void
capture_burst(struct capture_lcore *lc, struct rte_mbuf **pkts, uint16_t n, uint64_t wall_us)
{
	if (flow_table_stats(lc->flows)->active > CAPTURE_PREFETCH_FLOWS)
		capture_burst_ahead(lc, pkts, n, wall_us);
	else
		capture_burst_direct(lc, pkts, n, wall_us);
	rte_pktmbuf_free_bulk(pkts, n);
}

/* ------------------------------------------------------- soft spread */

/* One endpoint (address, port); combined with the other by XOR: symmetric. */
static inline uint64_t
capture_endpoint_hash(const uint8_t *addr, uint16_t port)
{
	uint64_t w0, w1;

	memcpy(&w0, addr, 8);
	memcpy(&w1, addr + 8, 8);
	return flow_fmix64(w0 * 0x9e3779b97f4a7c15ull ^ w1 * 0xc2b2ae3d27d4eb4full ^
			   ((uint64_t)port + 1) * 0x165667b19e3779f9ull);
}

uint32_t
capture_spread_hash(const struct decode_pkt *p)
{
	uint64_t h =
		capture_endpoint_hash(p->src, p->sport) ^ capture_endpoint_hash(p->dst, p->dport);

	h ^= (uint64_t)p->proto | (uint64_t)p->ip_version << 8 | (uint64_t)p->vlan[0] << 16 |
	     (uint64_t)p->vlan[1] << 32;
	return (uint32_t)(flow_fmix64(h) >> 32);
}

/* Push staged frames to the owners' rings; what does not fit waits (offline) or drops. */
static void
capture_spread_flush(struct capture_lcore *lc)
{
	struct capture *c = lc->cap;

	lc->staged = 0;
	for (unsigned d = 0; d < c->n_lcores; d++) {
		struct capture_lane *l = capture_lane(c, lc->idx, d);
		unsigned n = l->n_staged, sent;

		if (n == 0)
			continue;
		sent = rte_ring_sp_enqueue_burst_elem(l->ring, l->staged, sizeof(l->staged[0]), n,
						      NULL);
		lc->spread.passed += sent;
		l->n_staged = n - sent;
		if (likely(sent == n))
			continue;
		if (c->conf.offline) {
			memmove(l->staged, l->staged + sent, sizeof(l->staged[0]) * (n - sent));
			lc->staged = 1;
			continue;
		}
		for (unsigned i = sent; i < n; i++)
			rte_pktmbuf_free(l->staged[i].m);
		lc->spread.ring_full += n - sent;
		l->n_staged = 0;
	}
}

/* A held fragment released: flow it here, or stage it (no frame) for its owner. */
static void
capture_spread_held(struct capture_lcore *lc, unsigned owner, const struct decode_pkt *p,
		    const struct frag_held *h)
{
	struct capture_lane *l;

	if (owner == lc->idx) {
		flow_table_packet(lc->flows, p, NULL, 0, h->frame_len, h->ts_us);
		return;
	}
	l = capture_lane(lc->cap, lc->idx, owner);
	l->staged[l->n_staged++] = (struct capture_item){
		.m = NULL, .ts_us = h->ts_us, .frame_len = h->frame_len, .p = *p};
}

/* A soft port's burst: keep what this lcore owns, stage the rest for its owner. */
static void
capture_spread_burst(struct capture_lcore *lc, struct rte_mbuf **pkts, uint16_t n, uint64_t wall_us)
{
	struct capture *c = lc->cap;
	struct rte_mbuf *done[CAPTURE_MAX_BURST];
	unsigned n_done = 0;

	for (uint16_t i = 0; i < n; i++) {
		struct frag_held held[FRAG_HELD_MAX];
		struct decode_pkt p;
		struct capture_lane *l;
		const uint8_t *data;
		uint32_t len;
		unsigned owner, k;
		uint64_t ts;
		int frag;

		if (i + 1 < n)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
		if (capture_classify(lc, pkts[i], wall_us, &p, &ts, &data, &len, &frag) !=
		    DECODE_FLOW) {
			done[n_done++] = pkts[i];
			continue;
		}
		owner = capture_spread_hash(&p) % c->n_lcores;
		if (owner == lc->idx) {
			flow_table_packet(lc->flows, &p, data, len, pkts[i]->pkt_len, ts);
			done[n_done++] = pkts[i];
		} else {
			l = capture_lane(c, lc->idx, owner);
			l->staged[l->n_staged++] = (struct capture_item){
				.m = pkts[i], .ts_us = ts, .frame_len = pkts[i]->pkt_len, .p = p};
		}
		k = frag ? capture_take_held(lc, &p, held) : 0;
		for (unsigned j = 0; j < k; j++)
			capture_spread_held(lc, owner, &p, &held[j]);
	}
	rte_pktmbuf_free_bulk(done, n_done);
	capture_spread_flush(lc);
}

/* Account frames other readers passed to this lcore. Returns how many. */
static unsigned
capture_spread_drain(struct capture_lcore *lc)
{
	struct capture *c = lc->cap;
	struct capture_item items[CAPTURE_DRAIN_BURST];
	struct rte_mbuf *done[CAPTURE_DRAIN_BURST];
	unsigned total = 0;

	for (unsigned s = 0; s < c->n_lcores; s++) {
		struct rte_ring *r = capture_lane(c, s, lc->idx)->ring;
		uint32_t len;
		unsigned n;

		if (s == lc->idx)
			continue;
		n = rte_ring_sc_dequeue_burst_elem(r, items, sizeof(items[0]), CAPTURE_DRAIN_BURST,
						   NULL);
		unsigned n_done = 0;

		for (unsigned i = 0; i < n; i++) {
			const uint8_t *data = NULL;

			len = 0;
			if (items[i].m != NULL) /* else a released fragment: counted, no frame */
				data = capture_frame(lc, items[i].m, &len);
			if (items[i].ts_us > lc->now_us)
				lc->now_us = items[i].ts_us;
			flow_table_packet(lc->flows, &items[i].p, data, len, items[i].frame_len,
					  items[i].ts_us);
			if (items[i].m != NULL)
				done[n_done++] = items[i].m;
		}
		rte_pktmbuf_free_bulk(done, n_done);
		total += n;
	}
	lc->spread.received += total;
	return total;
}

/* Every reader feeding this lcore is done and its rings are empty. */
static int
capture_spread_drained(struct capture_lcore *lc)
{
	struct capture *c = lc->cap;

	for (unsigned s = 0; s < c->n_lcores; s++) {
		if (s == lc->idx)
			continue;
		/* done first (acquire), then empty: nothing can follow a done */
		if (!atomic_load_explicit(&c->lcores[s].sent_all, memory_order_acquire))
			return 0;
		if (!rte_ring_empty(capture_lane(c, s, lc->idx)->ring))
			return 0;
	}
	return 1;
}

/* ---------------------------------------------------------------- loop */

/* Offline end of input: an empty burst that no RX error explains. */
static int
capture_port_ended(uint16_t port, uint64_t *last_errs)
{
	struct port_stats st;
	uint64_t errs;

	if (port_stats_get(port, &st) < 0)
		return 1;
	errs = st.ierrors + st.rx_nombuf;
	if (errs != *last_errs) {
		*last_errs = errs;
		return 0;
	}
	return 1;
}

static unsigned
capture_poll(struct capture_lcore *lc, uint64_t wall_us)
{
	struct capture *c = lc->cap;
	struct rte_mbuf *pkts[CAPTURE_MAX_BURST];
	unsigned total = 0;

	for (unsigned i = 0; i < lc->n_rxq; i++) {
		struct capture_rxq *q = &lc->rxq[i];
		uint16_t n;

		if (q->ended)
			continue;
		if (q->soft && lc->staged) {
			lc->spread.paused++;
			continue;
		}
		n = port_rx_burst(q->port, q->queue, pkts, c->conf.burst);
		if (q->soft)
			capture_spread_burst(lc, pkts, n, wall_us);
		else
			capture_burst(lc, pkts, n, wall_us);
		if (n == 0 && c->conf.offline)
			q->ended = (uint8_t)capture_port_ended(q->port, &q->last_errs);
		total += n;
	}
	return total;
}

static int
capture_inputs_ended(const struct capture_lcore *lc)
{
	for (unsigned i = 0; i < lc->n_rxq; i++) {
		if (!lc->rxq[i].ended)
			return 0;
	}
	return 1;
}

/* All lcores meet; each then ends its flows at the latest time any saw. */
static void
capture_lcore_finish(struct capture_lcore *lc)
{
	struct capture *c = lc->cap;
	uint64_t end = lc->now_us;

	handoff_set_lossless(c->handoff); /* the drain waits for the workers: nothing lost */
	atomic_fetch_add_explicit(&c->n_drained, 1, memory_order_acq_rel);
	while (atomic_load_explicit(&c->n_drained, memory_order_acquire) < c->n_lcores)
		sched_yield();
	for (unsigned i = 0; i < c->n_lcores; i++)
		end = RTE_MAX(end, c->lcores[i].now_us);
	/* Held fragments whose first never came are counted now; nothing more can come. */
	frag_expire(lc->frags, UINT64_MAX, UINT32_MAX);
	/* Idle flows end as timeouts whatever the sweep reached; the rest as shutdown. */
	flow_table_expire(lc->flows, end, UINT32_MAX);
	flow_table_flush(lc->flows, FLOW_RECORD_REASON_SHUTDOWN);
	handoff_producer_done(c->handoff, lc->idx);
}

static int
capture_lcore_main(void *arg)
{
	struct capture_lcore *lc = arg;
	struct capture *c = lc->cap;
	int inputs_done = 0, sent_all = 0;

	for (;;) {
		uint64_t wall = c->ts_offset >= 0 && c->conf.offline ? 0 : capture_wall_us();
		unsigned n = inputs_done ? 0 : capture_poll(lc, wall);

		if (c->lanes != NULL) {
			if (lc->staged)
				capture_spread_flush(lc);
			n += capture_spread_drain(lc);
		}
		if (n == 0 && !c->conf.offline && wall > lc->now_us)
			lc->now_us = wall;
		flow_table_expire(lc->flows, lc->now_us, CAPTURE_SWEEP_BUCKETS);
		frag_expire(lc->frags, lc->now_us, CAPTURE_SWEEP_BUCKETS);
		handoff_flush(c->handoff, lc->idx);
		if (!inputs_done)
			inputs_done = atomic_load_explicit(&c->stop, memory_order_relaxed) ||
				      (c->conf.offline && capture_inputs_ended(lc));
		if (inputs_done && !sent_all && !lc->staged) {
			atomic_store_explicit(&lc->sent_all, 1, memory_order_release);
			sent_all = 1;
		}
		if (sent_all && (c->lanes == NULL || capture_spread_drained(lc)))
			break;
	}
	capture_lcore_finish(lc);
	return 0;
}

/* ---------------------------------------------------------- lifetime */

static int
capture_start_ports(struct capture *c, char *err, size_t errlen)
{
	unsigned found = port_count();

	if (found < c->conf.eal.n_ports || found == 0) {
		snprintf(err, errlen, "%u capture port(s) configured, DPDK found %u",
			 c->conf.eal.n_ports, found);
		return -ENODEV;
	}
	c->n_ports = found;
	for (uint16_t p = 0; p < found; p++) {
		struct port_setup *ps = &c->ports[p];
		int rc = port_start(p, (uint16_t)c->n_lcores, c->conf.rx_desc, c->conf.mbufs, ps,
				    err, errlen);

		if (rc < 0)
			return rc;
		LOG_INFO("capture", "port %u (%s): %u rx queue(s), %s", p, ps->driver, ps->n_rxq,
			 ps->spread == PORT_SPREAD_RSS	  ? "symmetric RSS"
			 : ps->spread == PORT_SPREAD_SOFT ? "software spread"
							  : "one lcore");
	}
	if (port_rx_timestamp_field(&c->ts_offset, &c->ts_flag) < 0)
		c->ts_offset = -1;
	return 0;
}

/* Queue q of port p goes to lcore (p + q) % n: single-queue ports spread over lcores. */
static int
capture_assign_queues(struct capture *c, char *err, size_t errlen)
{
	for (uint16_t p = 0; p < c->n_ports; p++) {
		for (uint16_t q = 0; q < c->ports[p].n_rxq; q++) {
			struct capture_lcore *lc = &c->lcores[(p + q) % c->n_lcores];

			if (lc->n_rxq == CAPTURE_MAX_RXQ) {
				snprintf(err, errlen,
					 "more than %u rx queues for one capture lcore",
					 CAPTURE_MAX_RXQ);
				return -E2BIG;
			}
			lc->rxq[lc->n_rxq++] = (struct capture_rxq){
				.port = p,
				.queue = q,
				.soft = c->ports[p].spread == PORT_SPREAD_SOFT,
			};
		}
	}
	return 0;
}

/* The soft spread's lanes and rings, when some port needs them. */
static int
capture_init_spread(struct capture *c, char *err, size_t errlen)
{
	unsigned n = c->n_lcores;
	unsigned size =
		rte_align32pow2(c->conf.spread_ring ? c->conf.spread_ring : CAPTURE_SPREAD_RING);
	char name[RTE_RING_NAMESIZE];
	int soft = 0;

	for (unsigned p = 0; p < c->n_ports; p++)
		soft |= c->ports[p].spread == PORT_SPREAD_SOFT;
	if (!soft)
		return 0;
	c->lanes = aligned_alloc(RTE_CACHE_LINE_SIZE, sizeof(*c->lanes) * n * n);
	if (c->lanes == NULL) {
		snprintf(err, errlen, "spread lanes: %s", strerror(errno));
		return -ENOMEM;
	}
	memset(c->lanes, 0, sizeof(*c->lanes) * n * n);
	for (unsigned s = 0; s < n; s++) {
		for (unsigned d = 0; d < n; d++) {
			if (s == d)
				continue;
			snprintf(name, sizeof(name), "spread_%u_%u", s, d);
			capture_lane(c, s, d)->ring =
				rte_ring_create_elem(name, sizeof(struct capture_item), size,
						     SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
			if (capture_lane(c, s, d)->ring == NULL) {
				snprintf(err, errlen, "spread ring of %u: %s (raise dpdk.memory?)",
					 size, rte_strerror(rte_errno));
				return -ENOMEM;
			}
		}
	}
	return 0;
}

static int
capture_init_lcores(struct capture *c, char *err, size_t errlen)
{
	unsigned i = 0, lcore;

	c->lcores = aligned_alloc(RTE_CACHE_LINE_SIZE, sizeof(*c->lcores) * c->n_lcores);
	if (c->lcores == NULL)
		goto nomem;
	memset(c->lcores, 0, sizeof(*c->lcores) * c->n_lcores);
	RTE_LCORE_FOREACH(lcore)
	{
		struct capture_lcore *lc = &c->lcores[i];
		struct flow_conf fc = c->conf.flow;

		lc->cap = c;
		lc->idx = i++;
		lc->lcore_id = lcore;
		fc.lcore = (uint16_t)lcore;
		fc.prefault = !c->conf.offline; /* offline: a small file touches few pages */
		lc->flows = flow_table_new(&fc, capture_emit, lc);
		if (lc->flows == NULL)
			goto nomem;
		lc->frags = frag_new(
			&(struct frag_conf){FRAG_DEFAULT_MAX_DATAGRAMS, FRAG_DEFAULT_TIMEOUT_US});
		if (lc->frags == NULL)
			goto nomem;
	}
	if (capture_assign_queues(c, err, errlen) < 0)
		return -E2BIG;
	return capture_init_spread(c, err, errlen);
nomem:
	snprintf(err, errlen, "flow tables: %s", strerror(errno));
	return -ENOMEM;
}

struct capture *
capture_new(const struct capture_conf *conf, char *err, size_t errlen)
{
	struct capture *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->conf = *conf;
	if (c->conf.burst == 0 || c->conf.burst > CAPTURE_MAX_BURST)
		c->conf.burst = 32;
	if (port_eal_init(&conf->eal, err, errlen) < 0) {
		free(c);
		return NULL;
	}
	c->n_lcores = rte_lcore_count();
	if (capture_start_ports(c, err, errlen) < 0 || capture_init_lcores(c, err, errlen) < 0)
		goto fail;
	c->handoff = handoff_new(c->n_lcores, conf->n_workers, conf->ring_size, conf->offline);
	if (c->handoff == NULL) {
		snprintf(err, errlen, "record rings: %s", strerror(errno));
		goto fail;
	}
	return c;
fail:
	capture_free(c);
	return NULL;
}

struct handoff *
capture_handoff(struct capture *c)
{
	return c->handoff;
}

int
capture_run(struct capture *c)
{
	unsigned i = 1, lcore;

	RTE_LCORE_FOREACH_WORKER(lcore)
	{
		if (rte_eal_remote_launch(capture_lcore_main, &c->lcores[i++], lcore) < 0)
			return -EBUSY;
	}
	capture_lcore_main(&c->lcores[0]);
	rte_eal_mp_wait_lcore();
	return 0;
}

void
capture_stop(struct capture *c)
{
	atomic_store(&c->stop, 1);
}

static void
capture_sum_flow(struct flow_table_stats *sum, const struct flow_table_stats *s)
{
	sum->created += s->created;
	sum->active += s->active;
	sum->emitted += s->emitted;
	sum->timeout += s->timeout;
	sum->evicted += s->evicted;
	sum->reused += s->reused;
	sum->shutdown += s->shutdown;
	sum->tcp += s->tcp;
	sum->udp += s->udp;
	sum->icmp += s->icmp;
	sum->other += s->other;
	sum->interim += s->interim;
	sum->emergency += s->emergency;
	sum->emergency_now += s->emergency_now;
	sum->memuse += s->memuse;
}

/* Structs of uint64_t counters only (decode_stats, frag_stats). */
static void
capture_sum_u64(void *sum, const void *s, size_t size)
{
	const uint64_t *src = s;
	uint64_t *dst = sum;

	for (size_t i = 0; i < size / sizeof(uint64_t); i++)
		dst[i] += src[i];
}

static void
capture_sum_appid(struct appid_stats *sum, const struct appid_stats *s)
{
	if (s == NULL) /* DPI off */
		return;
	sum->begun += s->begun;
	sum->pool_empty += s->pool_empty;
	sum->packets += s->packets;
	sum->classified += s->classified;
	sum->given_up += s->given_up;
	sum->guessed += s->guessed;
	sum->heap_limited += s->heap_limited;
	sum->flow_ended += s->flow_ended;
	sum->active += s->active;
	sum->heap += s->heap;
	sum->memuse += s->memuse;
}

void
capture_stats_get(struct capture *c, struct capture_stats *st)
{
	memset(st, 0, sizeof(*st));
	for (unsigned i = 0; i < c->n_lcores; i++) {
		capture_sum_u64(&st->decode, &c->lcores[i].dstats, sizeof(st->decode));
		capture_sum_flow(&st->flow, flow_table_stats(c->lcores[i].flows));
		capture_sum_appid(&st->appid, flow_table_appid_stats(c->lcores[i].flows));
		capture_sum_u64(&st->frag, frag_stats(c->lcores[i].frags), sizeof(st->frag));
		st->seg_linearized += c->lcores[i].seg_linearized;
		st->spread.passed += c->lcores[i].spread.passed;
		st->spread.received += c->lcores[i].spread.received;
		st->spread.ring_full += c->lcores[i].spread.ring_full;
		st->spread.paused += c->lcores[i].spread.paused;
	}
	handoff_stats_get(c->handoff, &st->handoff);
	for (uint16_t p = 0; p < c->n_ports; p++) {
		struct port_stats ps;

		if (port_stats_get(p, &ps) < 0)
			continue;
		st->port.ipackets += ps.ipackets;
		st->port.ibytes += ps.ibytes;
		st->port.imissed += ps.imissed;
		st->port.ierrors += ps.ierrors;
		st->port.rx_nombuf += ps.rx_nombuf;
		st->port.truncated += ps.truncated;
	}
}

/* Frames still in the lanes (an aborted run) go back to their pools. */
static void
capture_free_spread(struct capture *c)
{
	struct capture_item it;

	if (c->lanes == NULL)
		return;
	for (unsigned i = 0; i < c->n_lcores * c->n_lcores; i++) {
		struct capture_lane *l = &c->lanes[i];

		for (unsigned k = 0; k < l->n_staged; k++)
			rte_pktmbuf_free(l->staged[k].m);
		if (l->ring == NULL)
			continue;
		while (rte_ring_sc_dequeue_elem(l->ring, &it, sizeof(it)) == 0)
			rte_pktmbuf_free(it.m);
		rte_ring_free(l->ring);
	}
	free(c->lanes);
	c->lanes = NULL;
}

void
capture_free(struct capture *c)
{
	if (c == NULL)
		return;
	if (c->lcores != NULL) {
		for (unsigned i = 0; i < c->n_lcores; i++) {
			flow_table_free(c->lcores[i].flows);
			frag_free(c->lcores[i].frags);
		}
		free(c->lcores);
	}
	capture_free_spread(c);
	handoff_free(c->handoff);
	port_stop_all();
	port_eal_fini();
	free(c);
}
