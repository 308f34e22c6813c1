/*
 * port.h: DPDK's environment (EAL) and ports, set up from configuration.
 *
 * The only module that talks to rte_eal and rte_ethdev. Ports are named
 * by device strings: "net_*" strings become --vdev arguments (net_pcap,
 * net_af_packet, net_null, net_ring), anything else a PCI allow-list
 * entry. Init and teardown run on the main thread only.
 *
 * Spreading frames over several capture lcores: a port whose device
 * offers RSS on IP/TCP/UDP and enough RX queues gets one queue per lcore
 * and symmetric RSS (Toeplitz with the repeating 0x6D5A key, so both
 * directions of a flow hash alike). A PMD that advertises RSS but refuses
 * it at configure time (net_tap) falls back, with a warning, to what any
 * other port gets: PORT_SPREAD_SOFT (capture rehashes its frames in
 * software) and up to one queue per lcore, except vdevs whose queues come
 * from their devargs (net_af_packet qpairs, net_ring rings, net_pcap rx
 * streams): all of those are set up, since every one carries traffic.
 * net_af_packet's queues are kernel fanout sockets with rollover always on
 * in DPDK 22.11, so a flow can change queue under load: not flow-stable.
 *
 * Frame size: port_set_mbuf_size() (capture.mbuf-size) before EAL init.
 * Frames up to that many bytes arrive whole on every port (net_af_packet
 * ring frames are sized for it, NICs get the MTU and scatter); longer
 * ones that a device cuts are counted in port_stats.truncated.
 */
#ifndef DARTER_PORT_H
#define DARTER_PORT_H

#include <stddef.h>
#include <stdint.h>

struct rte_mbuf;

struct port_eal_conf {
	uint32_t memory_mb;   /* -m */
	int huge;	      /* 0: --no-huge --no-shconf */
	const unsigned *cpus; /* capture lcores; the first is the main lcore */
	unsigned n_cpus;
	const char *const *ports; /* device strings */
	unsigned n_ports;
	const char *const *extra; /* appended EAL arguments */
	unsigned n_extra;
	int verbose; /* keep EAL's own log at info */
};

/* Port counters as the NIC or vdev reports them. */
struct port_stats {
	uint64_t ipackets;
	uint64_t ibytes;
	uint64_t imissed;   /* dropped by the NIC: no descriptor */
	uint64_t ierrors;   /* the device's own, plus truncated */
	uint64_t rx_nombuf; /* dropped: mbuf pool empty */
	uint64_t truncated; /* frames cut to the largest the port delivers */
};

#define PORT_MBUF_SIZE_MIN 256
#define PORT_MBUF_SIZE_MAX 65407 /* + RTE_PKTMBUF_HEADROOM fits a uint16_t */

/*
 * Bytes of frame data per mbuf (default 2048), for every port started
 * afterwards and for net_af_packet devices EAL creates. Call before
 * port_eal_init(); a value out of [PORT_MBUF_SIZE_MIN, _MAX] is ignored.
 * Main thread.
 */
void port_set_mbuf_size(uint32_t bytes);

/*
 * Initialise EAL. Returns 0, or -errno with the reason in err. Once only
 * per process; on failure nothing is left to clean up.
 */
int port_eal_init(const struct port_eal_conf *conf, char *err, size_t errlen);

/* Release EAL. After the ports are closed. */
void port_eal_fini(void);

/* Number of ports EAL found (may be 0: a missing pcap still inits EAL). */
unsigned port_count(void);

/* How a started port's frames reach the capture lcores. */
enum port_spread {
	PORT_SPREAD_SINGLE, /* one capture lcore: it reads every queue */
	PORT_SPREAD_RSS,    /* symmetric RSS, a queue per lcore: flow-stable */
	PORT_SPREAD_SOFT,   /* queues not flow-stable: capture rehashes frames */
};

/* What port_start() set up. */
struct port_setup {
	uint16_t n_rxq;	     /* RX queues set up (see the top comment) */
	uint8_t spread;	     /* enum port_spread */
	uint8_t rss_key_len; /* PORT_SPREAD_RSS: key bytes given to the PMD */
	uint64_t rss_hf;     /* PORT_SPREAD_RSS: hash types, RTE_ETH_RSS_* bits */
	char driver[32];     /* PMD name, for logs */
};

/* The symmetric RSS key: 0x6D, 0x5A repeated over len bytes (len <= 255). */
void port_rss_key(uint8_t *key, unsigned len);

/*
 * Configure and start port_id for n_lcores capture lcores (see the top
 * comment for how queues are chosen), rx_desc descriptors per queue, an
 * mbuf pool of n_mbufs per queue, promiscuous on, RX timestamps requested
 * where the device offers them. Fills *setup. Returns 0 or -errno with
 * err filled. Main thread, after port_eal_init().
 */
int port_start(uint16_t port_id, uint16_t n_lcores, uint16_t rx_desc, uint32_t n_mbufs,
	       struct port_setup *setup, char *err, size_t errlen);

/* Stop and close every started port (idempotent). */
void port_stop_all(void);

/* Receive up to n frames; the caller owns them and frees them with port_free_burst(). */
uint16_t port_rx_burst(uint16_t port_id, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);

/* Read the port's counters. Returns 0 or -errno. */
int port_stats_get(uint16_t port_id, struct port_stats *st);

/*
 * Where devices stamp RX time into mbufs (a dynamic field holding
 * microseconds since the epoch for net_pcap, and the flag saying it is
 * set). Returns 0, or -ENOENT when no started device registered it.
 */
int port_rx_timestamp_field(int *offset, uint64_t *flag);

#endif
