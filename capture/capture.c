/*
 * capture.c: the capture lcores' run-to-completion loop.
 *
 * Each capture lcore owns one struct capture_lcore: its RX queues (queue
 * i of every port for lcore i), a flow table, decoder counters and a
 * scratch buffer. A loop turn reads a burst from each queue, decodes each
 * frame, accounts it in the flow table, frees the mbufs, sweeps a slice
 * of the table for idle flows and pushes completed records to the
 * workers in bursts. Nothing here blocks, allocates or logs per packet.
 *
 * Time is packet time when the device stamps frames (net_pcap), else the
 * wall clock read once per loop turn. Offline, end of file is a zero
 * burst with no new RX error; the lcore then expires what is idle at the
 * last packet time and flushes the rest as "shutdown".
 */
#include "capture.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>

#include "log.h"

#define CAPTURE_SWEEP_BUCKETS 64	  /* flow buckets checked per loop turn */
#define CAPTURE_SCRATCH	      (64 * 1024) /* largest multi-segment frame decoded */

struct capture_lcore {
	struct capture *cap;
	unsigned idx; /* producer index in the handoff */
	unsigned lcore_id;
	struct flow_table *flows;
	uint64_t now_us; /* latest packet time seen */
	uint64_t seg_linearized;
	struct decode_stats dstats;
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
	struct capture_lcore *lcores;
};

/* ------------------------------------------------------------ records */

static void
capture_emit(void *arg, const struct flow_record *rec)
{
	struct capture_lcore *lc = arg;
	struct handoff *h = lc->cap->handoff;

	handoff_emit(h, lc->idx, (unsigned)(rec->flow_id % handoff_workers(h)), rec);
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

static inline void
capture_packet(struct capture_lcore *lc, struct rte_mbuf *m, uint64_t wall_us)
{
	const uint8_t *data = rte_pktmbuf_mtod(m, const uint8_t *);
	uint32_t len = m->data_len;
	uint64_t ts = capture_pkt_time(lc->cap, m, wall_us);
	struct decode_pkt p;

	if (unlikely(m->nb_segs > 1)) {
		len = RTE_MIN(m->pkt_len, (uint32_t)CAPTURE_SCRATCH);
		data = rte_pktmbuf_read(m, 0, len, lc->scratch);
		lc->seg_linearized++;
	}
	if (ts > lc->now_us)
		lc->now_us = ts;
	if (decode_packet(&p, lc->cap->conf.link, data, len, &lc->dstats) == DECODE_FLOW)
		flow_table_packet(lc->flows, &p, m->pkt_len, ts);
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
capture_poll(struct capture_lcore *lc, uint8_t *ended, uint64_t *last_errs, uint64_t wall_us)
{
	struct capture *c = lc->cap;
	struct rte_mbuf *pkts[CAPTURE_MAX_BURST];
	unsigned total = 0;

	for (uint16_t port = 0; port < c->n_ports; port++) {
		uint16_t n;

		if (ended[port])
			continue;
		n = port_rx_burst(port, (uint16_t)lc->idx, pkts, c->conf.burst);
		for (uint16_t i = 0; i < n; i++) {
			if (i + 1 < n)
				rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
			capture_packet(lc, pkts[i], wall_us);
		}
		rte_pktmbuf_free_bulk(pkts, n);
		if (n == 0 && c->conf.offline)
			ended[port] = (uint8_t)capture_port_ended(port, &last_errs[port]);
		total += n;
	}
	return total;
}

static int
capture_all_ended(const struct capture *c, const uint8_t *ended)
{
	for (unsigned p = 0; p < c->n_ports; p++) {
		if (!ended[p])
			return 0;
	}
	return 1;
}

static int
capture_lcore_main(void *arg)
{
	struct capture_lcore *lc = arg;
	struct capture *c = lc->cap;
	uint8_t ended[RTE_MAX_ETHPORTS] = {0};
	uint64_t last_errs[RTE_MAX_ETHPORTS] = {0};

	while (!atomic_load_explicit(&c->stop, memory_order_relaxed)) {
		uint64_t wall = c->ts_offset >= 0 && c->conf.offline ? 0 : capture_wall_us();
		unsigned n = capture_poll(lc, ended, last_errs, wall);

		if (n == 0 && !c->conf.offline && wall > lc->now_us)
			lc->now_us = wall;
		flow_table_expire(lc->flows, lc->now_us, CAPTURE_SWEEP_BUCKETS);
		handoff_flush(c->handoff, lc->idx);
		if (c->conf.offline && capture_all_ended(c, ended))
			break;
	}
	/* Idle flows end as timeouts whatever the sweep reached; the rest as shutdown. */
	flow_table_expire(lc->flows, lc->now_us, UINT32_MAX);
	flow_table_flush(lc->flows, FLOW_RECORD_REASON_SHUTDOWN);
	handoff_producer_done(c->handoff, lc->idx);
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
		int rc = port_start(p, (uint16_t)c->n_lcores, c->conf.rx_desc, c->conf.mbufs, err,
				    errlen);
		if (rc < 0)
			return rc;
	}
	if (port_rx_timestamp_field(&c->ts_offset, &c->ts_flag) < 0)
		c->ts_offset = -1;
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
		lc->flows = flow_table_new(&fc, capture_emit, lc);
		if (lc->flows == NULL)
			goto nomem;
	}
	return 0;
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
	sum->memuse += s->memuse;
}

static void
capture_sum_decode(struct decode_stats *sum, const struct decode_stats *s)
{
	const uint64_t *src = (const uint64_t *)s;
	uint64_t *dst = (uint64_t *)sum;

	/* struct decode_stats is all uint64_t counters */
	for (size_t i = 0; i < sizeof(*s) / sizeof(uint64_t); i++)
		dst[i] += src[i];
}

void
capture_stats_get(struct capture *c, struct capture_stats *st)
{
	memset(st, 0, sizeof(*st));
	for (unsigned i = 0; i < c->n_lcores; i++) {
		capture_sum_decode(&st->decode, &c->lcores[i].dstats);
		capture_sum_flow(&st->flow, flow_table_stats(c->lcores[i].flows));
		st->seg_linearized += c->lcores[i].seg_linearized;
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
	}
}

void
capture_free(struct capture *c)
{
	if (c == NULL)
		return;
	if (c->lcores != NULL) {
		for (unsigned i = 0; i < c->n_lcores; i++)
			flow_table_free(c->lcores[i].flows);
		free(c->lcores);
	}
	handoff_free(c->handoff);
	port_stop_all();
	port_eal_fini();
	free(c);
}
