/*
 * port.h: DPDK's environment (EAL) and ports, set up from configuration.
 *
 * The only module that talks to rte_eal and rte_ethdev. Ports are named
 * by device strings: "net_*" strings become --vdev arguments (net_pcap,
 * net_af_packet, net_null, net_ring), anything else a PCI allow-list
 * entry. Init and teardown run on the main thread only.
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
	uint64_t imissed; /* dropped by the NIC: no descriptor */
	uint64_t ierrors;
	uint64_t rx_nombuf; /* dropped: mbuf pool empty */
};

/*
 * Initialise EAL. Returns 0, or -errno with the reason in err. Once only
 * per process; on failure nothing is left to clean up.
 */
int port_eal_init(const struct port_eal_conf *conf, char *err, size_t errlen);

/* Release EAL. After the ports are closed. */
void port_eal_fini(void);

/* Number of ports EAL found (may be 0: a missing pcap still inits EAL). */
unsigned port_count(void);

/*
 * Configure and start port_id with n_rxq RX queues of rx_desc descriptors,
 * an mbuf pool of n_mbufs per queue, symmetric-safe defaults, promiscuous
 * on, RX timestamps requested where the device offers them. Returns 0 or
 * -errno with err filled.
 */
int port_start(uint16_t port_id, uint16_t n_rxq, uint16_t rx_desc, uint32_t n_mbufs, char *err,
	       size_t errlen);

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
