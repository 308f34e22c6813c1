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
 */
#include "port.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>

#include "log.h"

#define PORT_MAX_ARGS	96
#define PORT_MBUF_CACHE 256

static struct {
	int started[RTE_MAX_ETHPORTS];
	struct rte_mempool *pool[RTE_MAX_ETHPORTS];
} port_state;

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
		pci |= !port_is_vdev(c->ports[i]);
		rc |= port_argv_add(a, port_is_vdev(c->ports[i]) ? "--vdev" : "-a");
		rc |= port_argv_add(a, c->ports[i]);
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

/*
 * vdevs whose RX queues are made by their devargs (af_packet qpairs,
 * ring's rings, pcap's rx streams) and all carry traffic: every one must
 * be read, or what lands on the others is lost without a counter.
 */
static int
port_queues_fixed(const char *driver)
{
	static const char *const fixed[] = {"net_af_packet", "net_ring", "net_pcap"};

	for (size_t i = 0; i < RTE_DIM(fixed); i++) {
		if (strcmp(driver, fixed[i]) == 0)
			return 1;
	}
	return 0;
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

int
port_start(uint16_t port_id, uint16_t n_lcores, uint16_t rx_desc, uint32_t n_mbufs,
	   struct port_setup *setup, char *err, size_t errlen)
{
	char name[RTE_MEMPOOL_NAMESIZE];
	int socket = rte_eth_dev_socket_id(port_id);
	int rc = port_configure(port_id, n_lcores, setup, err, errlen);
	uint16_t n_rxq = setup->n_rxq;

	if (rc < 0)
		return rc;
	if (socket < 0)
		socket = (int)rte_socket_id();
	snprintf(name, sizeof(name), "mbuf_p%u", port_id);
	port_state.pool[port_id] = rte_pktmbuf_pool_create(name, n_mbufs * n_rxq, PORT_MBUF_CACHE,
							   0, RTE_MBUF_DEFAULT_BUF_SIZE, socket);
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

uint16_t
port_rx_burst(uint16_t port_id, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
	return rte_eth_rx_burst(port_id, queue, pkts, n);
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
	st->ierrors = s.ierrors;
	st->rx_nombuf = s.rx_nombuf;
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
