/*
 * port.c: EAL arguments, port setup and port counters.
 *
 * EAL is started with an argument vector built from configuration:
 * no hugepages unless asked (offline replay must run anywhere), no PCI
 * scan unless a PCI port is named, no shared config or telemetry socket
 * (several darters, e.g. parallel tests, must not collide). Each port gets
 * its own mbuf pool on its socket. Nothing here runs on the hot path but
 * port_rx_burst(), a plain forward to rte_eth_rx_burst().
 *
 * Queues (port_plan): with several capture lcores, symmetric RSS where the
 * device offers it (key and hash types below), else PORT_SPREAD_SOFT and
 * capture spreads in software; see port.h for the queue counts.
 *
 * Frame size (port_set_mbuf_size): mbufs get mbuf-size bytes of data
 * room; NICs get an MTU that lets such frames in and scatter where they
 * offer it (longer frames span several mbufs, capture linearises them).
 * net_af_packet copies each frame into one mbuf, at most its ring frame
 * size (framesz) less the kernel's headers, and refuses mbufs smaller than
 * the ring frame: unless its devargs say otherwise, darter sizes the ring
 * frames (framesz, blocksz, framecnt) to hold a little more than
 * mbuf-size and that port's mbufs to hold the ring frame. A frame that
 * fills the ring frame was cut by the kernel (the PMD does not pass the
 * original length on): port_rx_burst counts it as truncated.
 *
 * Not here: the interface's own MTU under net_af_packet (the operator
 * sets it: a NIC drops longer frames before AF_PACKET sees them).
 */
#include "port.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_mbuf_pool_ops.h>

#include "log.h"

#define PORT_MAX_ARGS	96
#define PORT_MBUF_CACHE 256

/*
 * Bytes an AF_PACKET (TPACKET_V2) ring frame loses before the frame data
 * of an untagged Ethernet frame: the kernel puts the network header at
 * TPACKET_ALIGN(TPACKET2_HDRLEN + 16), so the MAC header at that minus 14.
 * The PMD wants mbufs of the ring frame less PORT_AFP_PMD_HDR.
 */
#define PORT_AFP_MAC_OFF     66
#define PORT_AFP_PMD_HDR     32
#define PORT_AFP_FRAMESZ     2048 /* the PMD's defaults */
#define PORT_AFP_FRAMECNT    512
#define PORT_AFP_FRAMESZ_MIN 256
#define PORT_MAX_VDEVS	     16
/* The largest ring frame whose mbuf room (less the PMD header) fits a uint16_t. */
#define PORT_AFP_FRAMESZ_MAX                                                                       \
	((uint32_t)RTE_ALIGN_FLOOR(UINT16_MAX - RTE_PKTMBUF_HEADROOM + PORT_AFP_PMD_HDR, 16))

/* An af_packet vdev's ring frame size, by device name (before the first ','). */
struct port_afp {
	char name[64];
	uint32_t framesz;
};

/* Frames one lcore found cut; summed by port_stats_get(). */
struct port_lcore_stats {
	uint64_t truncated[RTE_MAX_ETHPORTS];
} __rte_cache_aligned;

static uint32_t port_mbuf_size = 2048;

static struct {
	int started[RTE_MAX_ETHPORTS];
	struct rte_mempool *pool[RTE_MAX_ETHPORTS];
	uint32_t snap[RTE_MAX_ETHPORTS]; /* af_packet: longest frame it delivers; 0: none */
	struct port_afp afp[PORT_MAX_VDEVS];
	unsigned n_afp;
	struct port_lcore_stats lcore[RTE_MAX_LCORE];
} port_state;

void
port_set_mbuf_size(uint32_t bytes)
{
	if (bytes >= PORT_MBUF_SIZE_MIN && bytes <= PORT_MBUF_SIZE_MAX)
		port_mbuf_size = bytes;
}

/* --------------------------------------------------------- af_packet */

static int
port_is_afp(const char *dev)
{
	return strncmp(dev, "net_af_packet", 13) == 0 || strncmp(dev, "eth_af_packet", 13) == 0;
}

/* The value of devarg key in dev ("name,k=v,..."), or NULL. */
static const char *
port_devarg(const char *dev, const char *key)
{
	size_t n = strlen(key);

	for (const char *p = strchr(dev, ','); p != NULL; p = strchr(p + 1, ',')) {
		if (strncmp(p + 1, key, n) == 0 && p[1 + n] == '=')
			return p + 2 + n;
	}
	return NULL;
}

/* dev without its key=... devarg into out; the length written or -E2BIG. */
static int
port_devargs_without(const char *dev, const char *key, char *out, size_t len)
{
	size_t n = strlen(key), used = 0;

	for (const char *p = dev; *p != '\0';) {
		size_t seg = strcspn(p + 1, ",") + 1; /* ",k=v" (or the name, first) */

		if (!(p != dev && strncmp(p + 1, key, n) == 0 && p[1 + n] == '=')) {
			if (used + seg >= len)
				return -E2BIG;
			memcpy(out + used, p, seg);
			used += seg;
		}
		p += seg;
	}
	out[used] = '\0';
	return (int)used;
}

/*
 * The ring frame for frames of need bytes. The PMD finds frame i at
 * i * framesz in the mapping, so frames must tile the blocks exactly:
 * a power-of-two fraction of a page, or whole pages (one frame a block).
 */
static uint32_t
port_afp_frame(uint32_t need)
{
	uint32_t page = (uint32_t)getpagesize();
	uint32_t f = page;

	if (need > page)
		return RTE_MIN(RTE_ALIGN_CEIL(need, page),
			       RTE_ALIGN_FLOOR(PORT_AFP_FRAMESZ_MAX, page));
	while (f / 2 >= need && f / 2 >= PORT_AFP_FRAMESZ_MIN)
		f /= 2;
	return f;
}

/*
 * dev with ring devargs for mbuf-size frames added in out (see the top
 * comment), and the ring frame size recorded for port_start(). Devargs
 * the operator gave (framesz or blocksz) are kept as they are.
 */
static int
port_afp_devargs(const char *dev, char *out, size_t len)
{
	struct port_afp *a;
	const char *v = port_devarg(dev, "framesz");
	uint32_t framesz, block, fpb, cnt;
	int n;

	if (port_state.n_afp == PORT_MAX_VDEVS)
		return -E2BIG;
	a = &port_state.afp[port_state.n_afp++];
	snprintf(a->name, sizeof(a->name), "%.*s", (int)strcspn(dev, ","), dev);
	if (v != NULL || port_devarg(dev, "blocksz") != NULL) {
		a->framesz = v != NULL ? (uint32_t)strtoul(v, NULL, 10) : PORT_AFP_FRAMESZ;
		n = snprintf(out, len, "%s", dev);
		return n < 0 || (size_t)n >= len ? -E2BIG : 0;
	}
	/* One byte more than mbuf-size fits, so a frame that fills it was cut. */
	framesz = port_afp_frame(port_mbuf_size + PORT_AFP_MAC_OFF + 1);
	block = RTE_MAX(framesz, (uint32_t)getpagesize());
	fpb = block / framesz;
	v = port_devarg(dev, "framecnt");
	cnt = v != NULL ? (uint32_t)strtoul(v, NULL, 10) : PORT_AFP_FRAMECNT;
	cnt = (RTE_MAX(cnt, 1u) + fpb - 1) / fpb * fpb; /* the kernel wants whole blocks */
	a->framesz = framesz;
	n = port_devargs_without(dev, "framecnt", out, len);
	if (n >= 0)
		n += snprintf(out + n, len - (size_t)n, ",framesz=%u,blocksz=%u,framecnt=%u",
			      framesz, block, cnt);
	return n < 0 || (size_t)n >= len ? -E2BIG : 0;
}

/* The ring frame size of an af_packet port, 0 for any other. */
static uint32_t
port_afp_framesz(uint16_t port_id)
{
	char name[RTE_ETH_NAME_MAX_LEN];

	if (rte_eth_dev_get_name_by_port(port_id, name) != 0)
		return 0;
	for (unsigned i = 0; i < port_state.n_afp; i++) {
		if (strcmp(port_state.afp[i].name, name) == 0)
			return port_state.afp[i].framesz;
	}
	return 0;
}

/* ---------------------------------------------------------------- EAL */

struct port_argv {
	char *argv[PORT_MAX_ARGS];
	char buf[8192];
	size_t used;
	int argc;
};

static int
port_argv_add(struct port_argv *a, const char *s)
{
	size_t n = strlen(s) + 1;

	if (a->argc >= PORT_MAX_ARGS - 1 || a->used + n > sizeof(a->buf))
		return -E2BIG;
	memcpy(a->buf + a->used, s, n);
	a->argv[a->argc++] = a->buf + a->used;
	a->argv[a->argc] = NULL;
	a->used += n;
	return 0;
}

static int
port_is_vdev(const char *dev)
{
	return strncmp(dev, "net_", 4) == 0;
}

static int
port_build_argv(const struct port_eal_conf *c, struct port_argv *a)
{
	char tmp[512];
	size_t off = 0;
	int pci = 0;
	int rc = port_argv_add(a, "darter");

	for (unsigned i = 0; i < c->n_cpus && off < sizeof(tmp); i++)
		off += (size_t)snprintf(tmp + off, sizeof(tmp) - off, "%s%u", i ? "," : "",
					c->cpus[i]);
	rc |= port_argv_add(a, "-l");
	rc |= port_argv_add(a, tmp);
	snprintf(tmp, sizeof(tmp), "%u", c->memory_mb);
	rc |= port_argv_add(a, "-m");
	rc |= port_argv_add(a, tmp);
	if (!c->huge) {
		rc |= port_argv_add(a, "--no-huge");
		rc |= port_argv_add(a, "--no-shconf");
	}
	rc |= port_argv_add(a, "--no-telemetry");
	rc |= port_argv_add(a, c->verbose ? "--log-level=info" : "--log-level=error");
	for (unsigned i = 0; i < c->n_ports; i++) {
		const char *dev = c->ports[i];

		if (port_is_afp(dev)) {
			rc |= port_afp_devargs(dev, tmp, sizeof(tmp));
			dev = tmp;
		}
		pci |= !port_is_vdev(dev);
		rc |= port_argv_add(a, port_is_vdev(dev) ? "--vdev" : "-a");
		rc |= port_argv_add(a, dev);
	}
	if (!pci)
		rc |= port_argv_add(a, "--no-pci");
	for (unsigned i = 0; i < c->n_extra; i++)
		rc |= port_argv_add(a, c->extra[i]);
	return rc ? -E2BIG : 0;
}

int
port_eal_init(const struct port_eal_conf *conf, char *err, size_t errlen)
{
	static struct port_argv a; /* EAL may keep pointers into argv */

	if (conf->n_cpus == 0) {
		snprintf(err, errlen, "no capture cpus configured");
		return -EINVAL;
	}
	if (port_build_argv(conf, &a) < 0) {
		snprintf(err, errlen, "EAL arguments too long");
		return -E2BIG;
	}
	if (log_level_current >= LOG_LEVEL_DEBUG) {
		for (int i = 0; i < a.argc; i++)
			LOG_DEBUG("port", "EAL argv[%d] = %s", i, a.argv[i]);
	}
	if (rte_eal_init(a.argc, a.argv) < 0) {
		int e = rte_errno;
		snprintf(err, errlen, "EAL init failed: %s", rte_strerror(e));
		return -e;
	}
	return 0;
}

void
port_eal_fini(void)
{
	rte_eal_cleanup();
}

unsigned
port_count(void)
{
	return rte_eth_dev_count_avail();
}

/* -------------------------------------------------------------- ports */

/* The hash types darter wants: every IP packet, by addresses and ports. */
#define PORT_RSS_HF (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP)

#define PORT_RSS_KEY_DEFAULT 40 /* when a PMD does not say (hash_key_size 0) */

void
port_rss_key(uint8_t *key, unsigned len)
{
	for (unsigned i = 0; i < len; i++)
		key[i] = (i & 1) ? 0x5a : 0x6d;
}

/*
 * RSS for n_lcores queues, or 0 fields when the device cannot: hardware
 * RSS on our hash types and a queue per lcore. The key repeats every 16
 * bits, so swapping source and destination (same widths, same 16-bit
 * alignment) gives the same Toeplitz hash: both directions, one queue.
 */
static void
port_rss_conf(const struct rte_eth_dev_info *info, uint16_t n_lcores, struct rte_eth_conf *conf,
	      struct port_setup *setup)
{
	static uint8_t key[256];
	uint64_t hf = PORT_RSS_HF & info->flow_type_rss_offloads;

	if (n_lcores < 2 || hf == 0 || info->max_rx_queues < n_lcores)
		return;
	setup->rss_key_len = info->hash_key_size ? info->hash_key_size : PORT_RSS_KEY_DEFAULT;
	port_rss_key(key, setup->rss_key_len);
	conf->rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
	conf->rx_adv_conf.rss_conf.rss_key = key;
	conf->rx_adv_conf.rss_conf.rss_key_len = setup->rss_key_len;
	conf->rx_adv_conf.rss_conf.rss_hf = hf;
	setup->rss_hf = hf;
	setup->spread = PORT_SPREAD_RSS;
	setup->n_rxq = n_lcores;
}

/* Is driver one of names[0..n)? */
static int
port_driver_in(const char *driver, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(driver, names[i]) == 0)
			return 1;
	}
	return 0;
}

/*
 * vdevs whose RX queues are made by their devargs (af_packet qpairs,
 * ring's rings, pcap's rx streams) and all carry traffic: every one must
 * be read, or what lands on the others is lost without a counter.
 */
static int
port_queues_fixed(const char *driver)
{
	static const char *const fixed[] = {"net_af_packet", "net_ring", "net_pcap"};

	return port_driver_in(driver, fixed, RTE_DIM(fixed));
}

/* Queues and spread for the device: RSS when it can (and rss), else what it has. */
static void
port_plan(const struct rte_eth_dev_info *info, uint16_t n_lcores, int rss,
	  struct rte_eth_conf *conf, struct port_setup *setup)
{
	uint16_t max = (uint16_t)RTE_MAX(1, info->max_rx_queues);

	memset(setup, 0, sizeof(*setup));
	snprintf(setup->driver, sizeof(setup->driver), "%s", info->driver_name);
	memset(&conf->rx_adv_conf.rss_conf, 0, sizeof(conf->rx_adv_conf.rss_conf));
	conf->rxmode.mq_mode = RTE_ETH_MQ_RX_NONE;
	if (rss)
		port_rss_conf(info, n_lcores, conf, setup);
	if (setup->spread == PORT_SPREAD_RSS)
		return;
	setup->spread = n_lcores < 2 ? PORT_SPREAD_SINGLE : PORT_SPREAD_SOFT;
	setup->n_rxq = port_queues_fixed(info->driver_name) ? max : RTE_MIN(n_lcores, max);
}

/*
 * An MTU letting frames of mbuf-size bytes in (never below Ethernet's
 * 1500), capped by what the device takes; ethdev refuses more than
 * max_rx_pktlen less the device's L2 overhead. Without scatter a frame
 * must fit one mbuf, overhead (CRC, VLAN tags) included.
 */
static uint16_t
port_mtu(const struct rte_eth_dev_info *info)
{
	uint32_t overhead = RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN;
	uint32_t want, cap = info->max_mtu;

	if (info->max_mtu != UINT16_MAX && info->max_rx_pktlen > info->max_mtu)
		overhead = info->max_rx_pktlen - info->max_mtu;
	want = port_mbuf_size - ((info->rx_offload_capa & RTE_ETH_RX_OFFLOAD_SCATTER)
					 ? RTE_ETHER_HDR_LEN
					 : overhead);
	want = RTE_MAX((uint32_t)RTE_ETHER_MTU, want);
	if (info->max_rx_pktlen > overhead)
		cap = RTE_MIN(cap, info->max_rx_pktlen - overhead);
	cap = RTE_MAX(cap, (uint32_t)info->min_mtu);
	return (uint16_t)RTE_MIN(want, cap);
}

static int
port_configure(uint16_t port_id, uint16_t n_lcores, struct port_setup *setup, char *err,
	       size_t errlen)
{
	struct rte_eth_dev_info info;
	struct rte_eth_conf conf;
	int rc = rte_eth_dev_info_get(port_id, &info);

	if (rc < 0) {
		snprintf(err, errlen, "port %u: no device info: %s", port_id, rte_strerror(-rc));
		return rc;
	}
	memset(&conf, 0, sizeof(conf));
	conf.rxmode.mtu = port_mtu(&info);
	if (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_TIMESTAMP)
		conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_TIMESTAMP;
	if (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_SCATTER)
		conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_SCATTER;
	port_plan(&info, n_lcores, 1, &conf, setup);
	rc = rte_eth_dev_configure(port_id, setup->n_rxq, 0, &conf);
	if (rc < 0 && setup->spread == PORT_SPREAD_RSS) {
		/* Some PMDs advertise RSS and refuse it (net_tap): spread in software. */
		LOG_WARN("port", "port %u (%s): RSS refused (%s), spreading in software", port_id,
			 info.driver_name, rte_strerror(-rc));
		port_plan(&info, n_lcores, 0, &conf, setup);
		rc = rte_eth_dev_configure(port_id, setup->n_rxq, 0, &conf);
	}
	if (rc < 0)
		snprintf(err, errlen, "port %u (%s): configure with %u rx queue(s)%s failed: %s",
			 port_id, info.driver_name, setup->n_rxq,
			 setup->spread == PORT_SPREAD_RSS ? " and RSS" : "", rte_strerror(-rc));
	return rc;
}

/*
 * Data room of port_id's mbufs: mbuf-size, or for af_packet what its ring
 * frames hold (the PMD refuses less), and the longest frame it delivers
 * into snap (0: frames are never cut here).
 */
static uint32_t
port_data_room(uint16_t port_id, uint32_t *snap)
{
	uint32_t framesz = port_afp_framesz(port_id);
	uint32_t room = port_mbuf_size;

	*snap = 0;
	if (framesz > PORT_AFP_MAC_OFF) {
		room = RTE_MAX(room, framesz - PORT_AFP_PMD_HDR);
		*snap = framesz - PORT_AFP_MAC_OFF;
	}
	return RTE_MIN(room + RTE_PKTMBUF_HEADROOM, (uint32_t)UINT16_MAX);
}

/* The software devices darter reads: they copy frames into mbufs, never DMA. */
static int
port_copies(const char *driver)
{
	static const char *const soft[] = {"net_af_packet", "net_ring", "net_pcap", "net_null"};

	return port_driver_in(driver, soft, RTE_DIM(soft));
}

/*
 * The mbuf pool of a port. A NIC DMAs into its mbufs, so each must lie in
 * IOVA-contiguous memory: without hugepages, one 4 KB page per ~2.3 KB
 * mbuf. Software devices only copy, so their pool packs mbufs across pages
 * (RTE_MEMPOOL_F_NO_IOVA_CONTIG): 42 % fewer pages to fault in at start
 * and to hold. Otherwise what rte_pktmbuf_pool_create() does.
 */
static struct rte_mempool *
port_pool_create(const char *name, uint32_t n, uint16_t room, int socket, int dma)
{
	struct rte_pktmbuf_pool_private priv = {.mbuf_data_room_size = room};
	struct rte_mempool *mp;
	int rc;

	if (dma)
		return rte_pktmbuf_pool_create(name, n, PORT_MBUF_CACHE, 0, room, socket);
	mp = rte_mempool_create_empty(name, n, (unsigned)sizeof(struct rte_mbuf) + room,
				      PORT_MBUF_CACHE, sizeof(priv), socket,
				      RTE_MEMPOOL_F_NO_IOVA_CONTIG);
	if (mp == NULL)
		return NULL;
	rc = rte_mempool_set_ops_byname(mp, rte_mbuf_best_mempool_ops(), NULL);
	if (rc == 0) {
		rte_pktmbuf_pool_init(mp, &priv);
		rc = rte_mempool_populate_default(mp);
	}
	if (rc < 0) {
		rte_mempool_free(mp);
		rte_errno = -rc;
		return NULL;
	}
	rte_mempool_obj_iter(mp, rte_pktmbuf_init, NULL);
	return mp;
}

int
port_start(uint16_t port_id, uint16_t n_lcores, uint16_t rx_desc, uint32_t n_mbufs,
	   struct port_setup *setup, char *err, size_t errlen)
{
	char name[RTE_MEMPOOL_NAMESIZE];
	int socket = rte_eth_dev_socket_id(port_id);
	int rc = port_configure(port_id, n_lcores, setup, err, errlen);
	uint16_t n_rxq = setup->n_rxq;
	uint32_t room = port_data_room(port_id, &port_state.snap[port_id]);

	if (rc < 0)
		return rc;
	if (socket < 0)
		socket = (int)rte_socket_id();
	snprintf(name, sizeof(name), "mbuf_p%u", port_id);
	port_state.pool[port_id] = port_pool_create(name, n_mbufs * n_rxq, (uint16_t)room, socket,
						    !port_copies(setup->driver));
	if (port_state.pool[port_id] == NULL) {
		snprintf(err, errlen, "port %u: mbuf pool of %u: %s (raise dpdk.memory?)", port_id,
			 n_mbufs * n_rxq, rte_strerror(rte_errno));
		return -ENOMEM;
	}
	for (uint16_t q = 0; q < n_rxq; q++) {
		rc = rte_eth_rx_queue_setup(port_id, q, rx_desc, (unsigned)socket, NULL,
					    port_state.pool[port_id]);
		if (rc < 0) {
			snprintf(err, errlen, "port %u: rx queue %u: %s", port_id, q,
				 rte_strerror(-rc));
			return rc;
		}
	}
	rc = rte_eth_dev_start(port_id);
	if (rc < 0) {
		snprintf(err, errlen, "port %u: start failed: %s", port_id, rte_strerror(-rc));
		return rc;
	}
	port_state.started[port_id] = 1;
	/* Not every vdev supports it (net_pcap does not need it): ignore. */
	(void)rte_eth_promiscuous_enable(port_id);
	if (port_state.snap[port_id] != 0)
		LOG_INFO("port", "port %u: frames of %u bytes or more are counted as truncated",
			 port_id, port_state.snap[port_id]);
	return 0;
}

void
port_stop_all(void)
{
	for (uint16_t p = 0; p < RTE_MAX_ETHPORTS; p++) {
		if (!port_state.started[p])
			continue;
		(void)rte_eth_dev_stop(p);
		(void)rte_eth_dev_close(p);
		port_state.started[p] = 0;
		rte_mempool_free(port_state.pool[p]);
		port_state.pool[p] = NULL;
	}
}

/* Frames that filled an af_packet ring frame: the kernel cut them. */
static void
port_count_cut(uint16_t port_id, struct rte_mbuf **pkts, uint16_t n)
{
	uint32_t snap = port_state.snap[port_id];
	unsigned lcore = rte_lcore_id();
	uint64_t cut = 0;

	for (uint16_t i = 0; i < n; i++) {
		uint32_t len = pkts[i]->pkt_len;

		/* A VLAN tag the kernel took out and the PMD put back is not ring data. */
		if ((pkts[i]->ol_flags & (RTE_MBUF_F_RX_VLAN | RTE_MBUF_F_RX_VLAN_STRIPPED)) ==
		    RTE_MBUF_F_RX_VLAN)
			len -= RTE_VLAN_HLEN;
		cut += len >= snap;
	}
	if (unlikely(cut != 0))
		port_state.lcore[lcore < RTE_MAX_LCORE ? lcore : 0].truncated[port_id] += cut;
}

uint16_t
port_rx_burst(uint16_t port_id, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
	uint16_t got = rte_eth_rx_burst(port_id, queue, pkts, n);

	if (port_state.snap[port_id] != 0 && got != 0)
		port_count_cut(port_id, pkts, got);
	return got;
}

int
port_stats_get(uint16_t port_id, struct port_stats *st)
{
	struct rte_eth_stats s;
	int rc = rte_eth_stats_get(port_id, &s);

	if (rc < 0)
		return rc;
	st->ipackets = s.ipackets;
	st->ibytes = s.ibytes;
	st->imissed = s.imissed;
	st->rx_nombuf = s.rx_nombuf;
	st->truncated = 0;
	for (unsigned l = 0; l < RTE_MAX_LCORE; l++)
		st->truncated += port_state.lcore[l].truncated[port_id];
	st->ierrors = s.ierrors + st->truncated;
	return 0;
}

int
port_rx_timestamp_field(int *offset, uint64_t *flag)
{
	int off = rte_mbuf_dynfield_lookup(RTE_MBUF_DYNFIELD_TIMESTAMP_NAME, NULL);
	int bit = rte_mbuf_dynflag_lookup(RTE_MBUF_DYNFLAG_RX_TIMESTAMP_NAME, NULL);

	if (off < 0 || bit < 0)
		return -ENOENT;
	*offset = off;
	*flag = 1ULL << bit;
	return 0;
}
