/*
 * gen_dpdk.c: replay a pcap into a DPDK vdev at full speed or a set rate.
 *
 * The file is read twice with libpcap (any format libpcap reads): once
 * before EAL starts, to count frames per mbuf size class and size EAL's
 * memory (-m) and one mempool per class; once after, to copy every frame
 * into its own mbuf. Then the main lcore transmits the mbufs in file
 * order, in bursts, looping: each mbuf gets one extra reference before
 * rte_eth_tx_burst(), which the PMD's free drops, so nothing is copied or
 * allocated per packet. Frames TX does not accept are counted as dropped
 * (or retried with --lossless). --rate paces on the TSC.
 *
 * Devices: net_pcap (tx_pcap=FILE writes what is sent), net_af_packet
 * (a kernel interface, e.g. a veth whose peer darter reads), net_null (a
 * sink: the generator's own ceiling). net_ring created by --vdev is a
 * loopback inside this process (its TX ring is its RX ring): the loop
 * drains it, which measures the generator, but nothing outside this
 * process can read it (--no-shconf, no hugepages): it does not feed darter.
 *
 * Not done: PCI NICs (EAL runs --no-pci; use pktgen-dpdk, tools/pktgen),
 * several queues or lcores, timestamps-paced replay.
 */
#include "gen.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcap/pcap.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_pause.h>

#define GEN_CLASSES   7
#define GEN_RX_MBUFS  4095
#define GEN_DESC      1024
#define GEN_MAX_ARGS  64
#define GEN_MAX_BURST 512
#define GEN_OBJ_EXTRA 320 /* per mbuf beyond its data room: header, headroom, pool overhead */

static const uint32_t gen_rooms[GEN_CLASSES] = {128, 256, 512, 1024, 2048, 4096, 10240};

static volatile sig_atomic_t gen_stop;

struct gen_load {
	uint64_t count[GEN_CLASSES];
	uint64_t n, bytes, skipped;
	struct rte_mempool *pool[GEN_CLASSES];
	struct rte_mbuf **pkts;
};

struct gen_tx {
	const struct gen_send_opts *o;
	uint16_t port;
	int drain; /* a loopback (net_ring): read back what is sent */
	struct rte_mempool *rx_pool;
	uint64_t attempted, sent, dropped, bytes, rx;
	uint64_t hz, t0, t_end;
};

static void
gen_on_signal(int sig)
{
	(void)sig;
	gen_stop = 1;
}

/* ---------------------------------------------------------- the file */

static int
gen_class(uint32_t len)
{
	for (int c = 0; c < GEN_CLASSES; c++) {
		if (len <= gen_rooms[c])
			return c;
	}
	return -1;
}

static pcap_t *
gen_open(const char *file)
{
	char err[PCAP_ERRBUF_SIZE];
	pcap_t *p = pcap_open_offline(file, err);

	if (p == NULL)
		fprintf(stderr, "darter-gen: %s\n", err);
	else if (pcap_datalink(p) != DLT_EN10MB)
		fprintf(stderr, "darter-gen: %s: link type %d is not Ethernet: sent as is\n", file,
			pcap_datalink(p));
	return p;
}

/* Pass 1, before EAL: frames per size class. */
static int
gen_scan(const char *file, struct gen_load *l)
{
	struct pcap_pkthdr *h;
	const u_char *data;
	pcap_t *p = gen_open(file);
	int c;

	if (p == NULL)
		return -EINVAL;
	while (pcap_next_ex(p, &h, &data) == 1) {
		if ((c = gen_class(h->caplen)) < 0 || h->caplen == 0) {
			l->skipped++;
			continue;
		}
		l->count[c]++;
		l->n++;
	}
	pcap_close(p);
	if (l->skipped)
		fprintf(stderr, "darter-gen: %s: %" PRIu64 " empty or over-long frames skipped\n",
			file, l->skipped);
	if (l->n == 0)
		fprintf(stderr, "darter-gen: %s: no frames to send\n", file);
	return l->n ? 0 : -EINVAL;
}

static unsigned
gen_mem_mb(const struct gen_load *l)
{
	uint64_t bytes = (uint64_t)GEN_RX_MBUFS * (RTE_MBUF_DEFAULT_BUF_SIZE + GEN_OBJ_EXTRA);

	for (int c = 0; c < GEN_CLASSES; c++)
		bytes += l->count[c] * (gen_rooms[c] + GEN_OBJ_EXTRA);
	return (unsigned)(bytes * 11 / 10 / (1 << 20)) + 128;
}

static int
gen_pools(struct gen_load *l)
{
	char name[RTE_MEMPOOL_NAMESIZE];

	for (int c = 0; c < GEN_CLASSES; c++) {
		if (l->count[c] == 0)
			continue;
		snprintf(name, sizeof(name), "gen_%u", gen_rooms[c]);
		l->pool[c] = rte_pktmbuf_pool_create(
			name, (unsigned)l->count[c], 0, 0,
			(uint16_t)(RTE_PKTMBUF_HEADROOM + gen_rooms[c]), (int)rte_socket_id());
		if (l->pool[c] == NULL) {
			fprintf(stderr, "darter-gen: pool of %" PRIu64 " x %u B: %s (try --mem)\n",
				l->count[c], gen_rooms[c], rte_strerror(rte_errno));
			return -ENOMEM;
		}
	}
	return 0;
}

/* Pass 2, after EAL: one mbuf per frame, kept for the whole run. */
static int
gen_fill(const char *file, struct gen_load *l)
{
	struct pcap_pkthdr *h;
	const u_char *data;
	uint64_t n = 0;
	pcap_t *p;
	int c;

	if ((l->pkts = calloc(l->n, sizeof(*l->pkts))) == NULL || gen_pools(l) < 0)
		return -ENOMEM;
	if ((p = gen_open(file)) == NULL)
		return -EINVAL;
	while (n < l->n && pcap_next_ex(p, &h, &data) == 1) {
		if ((c = gen_class(h->caplen)) < 0 || h->caplen == 0)
			continue;
		struct rte_mbuf *m = rte_pktmbuf_alloc(l->pool[c]);

		if (m == NULL)
			break;
		memcpy(rte_pktmbuf_append(m, (uint16_t)h->caplen), data, h->caplen);
		l->bytes += h->caplen;
		l->pkts[n++] = m;
	}
	pcap_close(p);
	if (n != l->n) {
		fprintf(stderr, "darter-gen: %s changed while loading\n", file);
		return -EIO;
	}
	return 0;
}

/* ----------------------------------------------------------- EAL, port */

static int
gen_eal(const struct gen_send_opts *o, unsigned mem_mb)
{
	static char lcore[16], mem[16];
	static char *argv[GEN_MAX_ARGS];
	char *fixed[] = {"darter-gen",
			 "-l",
			 lcore,
			 "-m",
			 mem,
			 "--no-huge",
			 "--no-pci",
			 "--no-shconf",
			 "--no-telemetry",
			 "--log-level=error",
			 "--vdev",
			 (char *)o->vdev};
	int argc = 0;

	snprintf(lcore, sizeof(lcore), "%u", o->lcore);
	snprintf(mem, sizeof(mem), "%u", o->mem_mb ? o->mem_mb : mem_mb);
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		argv[argc++] = fixed[i];
	for (int i = 0; i < o->n_eal_extra && argc < GEN_MAX_ARGS - 1; i++)
		argv[argc++] = o->eal_extra[i];
	if (rte_eal_init(argc, argv) < 0) {
		fprintf(stderr, "darter-gen: EAL init failed: %s\n", rte_strerror(rte_errno));
		return -ENODEV;
	}
	return 0;
}

static int
gen_port_find(struct gen_tx *tx, struct rte_eth_dev_info *info)
{
	char name[RTE_ETH_NAME_MAX_LEN];
	size_t len = strcspn(tx->o->vdev, ",");

	snprintf(name, sizeof(name), "%.*s", (int)len, tx->o->vdev);
	if (rte_eth_dev_get_port_by_name(name, &tx->port) != 0) {
		fprintf(stderr, "darter-gen: no port %s (bad devargs? see EAL's message)\n", name);
		return -ENODEV;
	}
	if (rte_eth_dev_info_get(tx->port, info) != 0 || info->max_tx_queues == 0) {
		fprintf(stderr, "darter-gen: %s cannot transmit\n", name);
		return -ENODEV;
	}
	tx->drain = strcmp(info->driver_name, "net_ring") == 0;
	return 0;
}

static int
gen_rxq(struct gen_tx *tx, int socket)
{
	uint16_t rxd = GEN_DESC, txd = GEN_DESC;

	tx->rx_pool = rte_pktmbuf_pool_create("gen_rx", GEN_RX_MBUFS, 256, 0,
					      RTE_MBUF_DEFAULT_BUF_SIZE, socket);
	if (tx->rx_pool == NULL)
		return -ENOMEM;
	(void)rte_eth_dev_adjust_nb_rx_tx_desc(tx->port, &rxd, &txd);
	return rte_eth_rx_queue_setup(tx->port, 0, rxd, (unsigned)socket, NULL, tx->rx_pool);
}

static int
gen_port(struct gen_tx *tx)
{
	struct rte_eth_dev_info info;
	struct rte_eth_conf conf;
	uint16_t rxd = GEN_DESC, txd = GEN_DESC;
	int socket = (int)rte_socket_id(), rc;

	if ((rc = gen_port_find(tx, &info)) < 0)
		return rc;
	memset(&conf, 0, sizeof(conf));
	if ((rc = rte_eth_dev_configure(tx->port, tx->drain, 1, &conf)) == 0 &&
	    (!tx->drain || (rc = gen_rxq(tx, socket)) == 0)) {
		(void)rte_eth_dev_adjust_nb_rx_tx_desc(tx->port, &rxd, &txd);
		if ((rc = rte_eth_tx_queue_setup(tx->port, 0, txd, (unsigned)socket, NULL)) == 0)
			rc = rte_eth_dev_start(tx->port);
	}
	if (rc < 0) {
		fprintf(stderr, "darter-gen: port %u (%s): %s\n", tx->port, info.driver_name,
			rte_strerror(-rc));
		return -ENODEV;
	}
	return 0;
}

/* ----------------------------------------------------------- the loop */

static void
gen_drain(struct gen_tx *tx)
{
	struct rte_mbuf *m[GEN_MAX_BURST];
	uint16_t n;

	if (!tx->drain)
		return;
	while ((n = rte_eth_rx_burst(tx->port, 0, m, GEN_MAX_BURST)) > 0) {
		tx->rx += n;
		rte_pktmbuf_free_bulk(m, n);
	}
}

/* How many frames may go now: the burst, or what --rate allows by the TSC. */
static uint64_t
gen_allowed(struct gen_tx *tx, uint64_t now, uint64_t left)
{
	uint64_t want = left < tx->o->burst ? left : tx->o->burst;
	double due;

	if (tx->o->rate <= 0)
		return want;
	due = (double)(now - tx->t0) * tx->o->rate / (double)tx->hz;
	if (due <= (double)tx->attempted)
		return 0;
	return (uint64_t)due - tx->attempted < want ? (uint64_t)due - tx->attempted : want;
}

/* Send b frames from position *pos; returns how many TX took. */
static uint16_t
gen_burst(struct gen_tx *tx, const struct gen_load *l, uint64_t *pos, uint16_t b)
{
	struct rte_mbuf *m[GEN_MAX_BURST];
	uint16_t sent, k;

	for (uint16_t i = 0; i < b; i++) {
		m[i] = l->pkts[*pos];
		rte_mbuf_refcnt_update(m[i], 1); /* the PMD's free takes this one */
		*pos = *pos + 1 == l->n ? 0 : *pos + 1;
	}
	sent = rte_eth_tx_burst(tx->port, 0, m, b);
	while (tx->o->lossless && sent < b && !gen_stop) {
		gen_drain(tx);
		sent += rte_eth_tx_burst(tx->port, 0, m + sent, (uint16_t)(b - sent));
	}
	for (k = 0; k < sent; k++)
		tx->bytes += m[k]->pkt_len;
	for (k = sent; k < b; k++)
		rte_mbuf_refcnt_update(m[k], -1);
	return sent;
}

static void
gen_progress(const struct gen_tx *tx, uint64_t now, uint64_t *last_t, uint64_t *last_n)
{
	double dt = (double)(now - *last_t) / (double)tx->hz;

	if (tx->o->quiet || dt < 1.0)
		return;
	fprintf(stderr, "%8.1f s: %8.3f Mpps, %" PRIu64 " sent, %" PRIu64 " dropped\n",
		(double)(now - tx->t0) / (double)tx->hz, (double)(tx->sent - *last_n) / dt / 1e6,
		tx->sent, tx->dropped);
	*last_t = now;
	*last_n = tx->sent;
}

static void
gen_loop(struct gen_tx *tx, const struct gen_load *l)
{
	uint64_t total = tx->o->loops ? tx->o->loops * l->n : UINT64_MAX;
	uint64_t pos = 0, now, last_t, last_n = 0, b;

	tx->hz = rte_get_tsc_hz();
	tx->t0 = last_t = rte_rdtsc();
	while (!gen_stop && tx->attempted < total) {
		now = rte_rdtsc();
		if (tx->o->seconds > 0 && now - tx->t0 >= tx->o->seconds * (double)tx->hz)
			break;
		gen_progress(tx, now, &last_t, &last_n);
		b = gen_allowed(tx, now, total - tx->attempted);
		if (b) {
			uint16_t sent = gen_burst(tx, l, &pos, (uint16_t)b);

			tx->attempted += b;
			tx->sent += sent;
			tx->dropped += b - sent;
		} else {
			rte_pause();
		}
		gen_drain(tx);
	}
	tx->t_end = rte_rdtsc();
	gen_drain(tx);
}

static void
gen_summary(const struct gen_tx *tx, const struct gen_load *l)
{
	double s = (double)(tx->t_end - tx->t0) / (double)tx->hz;
	struct rte_eth_stats st;

	if (s <= 0)
		s = 1e-9;
	printf("loaded %" PRIu64 " frames (%" PRIu64 " bytes)\n", l->n, l->bytes);
	printf("sent %" PRIu64 " frames, %" PRIu64 " bytes in %.3f s: %.3f Mpps, %.3f Gbit/s"
	       " (%.3f Gbit/s on the wire: +24 B/frame of FCS, preamble, gap)\n",
	       tx->sent, tx->bytes, s, (double)tx->sent / s / 1e6, (double)tx->bytes * 8 / s / 1e9,
	       ((double)tx->bytes + 24.0 * (double)tx->sent) * 8 / s / 1e9);
	printf("dropped (not accepted by TX) %" PRIu64 " (%.2f%%)\n", tx->dropped,
	       tx->attempted ? 100.0 * (double)tx->dropped / (double)tx->attempted : 0.0);
	if (tx->drain)
		printf("received back (loopback) %" PRIu64 "\n", tx->rx);
	if (rte_eth_stats_get(tx->port, &st) == 0)
		printf("port counters: opackets %" PRIu64 " obytes %" PRIu64 " oerrors %" PRIu64
		       "\n",
		       st.opackets, st.obytes, st.oerrors);
}

/* ---------------------------------------------------------------- API */

static void
gen_release(struct gen_tx *tx, struct gen_load *l, int port_started)
{
	if (port_started) {
		(void)rte_eth_dev_stop(tx->port); /* net_pcap closes its tx_pcap here */
		(void)rte_eth_dev_close(tx->port);
	}
	for (uint64_t i = 0; l->pkts && i < l->n; i++)
		rte_pktmbuf_free(l->pkts[i]);
	free(l->pkts);
	for (int c = 0; c < GEN_CLASSES; c++)
		rte_mempool_free(l->pool[c]);
	rte_mempool_free(tx->rx_pool);
	rte_eal_cleanup();
}

int
gen_send(const struct gen_send_opts *o)
{
	struct gen_load l = {0};
	struct gen_tx tx = {.o = o};
	int rc, started = 0;

	if ((rc = gen_scan(o->file, &l)) < 0)
		return rc;
	if ((rc = gen_eal(o, gen_mem_mb(&l))) < 0)
		return rc;
	if ((rc = gen_port(&tx)) == 0) {
		started = 1;
		rc = gen_fill(o->file, &l);
	}
	if (rc == 0) {
		signal(SIGINT, gen_on_signal);
		signal(SIGTERM, gen_on_signal);
		gen_loop(&tx, &l);
		gen_summary(&tx, &l);
	}
	gen_release(&tx, &l, started);
	return rc;
}
