/*
 * capture.h: the capture side of darter, as the rest of the program sees it.
 *
 * capture_new() starts DPDK (EAL, ports, mbuf pools), the record handoff
 * and one flow table per capture lcore. capture_run() polls: each capture
 * lcore reads bursts from its RX queues, decodes, updates its own flow
 * table and hands completed records to the workers. Offline (a capture
 * file) it returns at end of file after flushing every open flow; live it
 * returns after capture_stop().
 *
 * Several capture lcores (eal.cpus): every packet of a flow, both
 * directions, must reach the lcore that owns the flow, since flow tables
 * are per lcore and unlocked. A port with RSS gets one queue per lcore and
 * the symmetric 0x6D5A Toeplitz key: the NIC does it. A port without
 * (net_pcap, net_ring, net_null, net_af_packet) is read by one lcore per
 * queue it has, which decodes each frame, hashes the flow key with
 * capture_spread_hash() and passes frames owned by another lcore through
 * an SP/SC ring per (reading lcore, owning lcore). Live, a full ring drops
 * the frame (counted in spread.ring_full; capture never waits); offline,
 * the reading lcore stops reading the file until there is room, so no
 * frame is lost and records are the same whatever the number of lcores
 * (apart from darter.lcore; flow_id does not depend on the lcore).
 */
#ifndef DARTER_CAPTURE_H
#define DARTER_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

#include "decode.h"
#include "flow.h"
#include "frag.h"
#include "handoff.h"
#include "port.h"

/*
 * Picks the worker of a record: worker route(arg, rec) % n_workers. Runs
 * on capture lcores, concurrently: it must be thread-safe, must not block
 * and must not keep rec (valid only during the call).
 */
typedef uint64_t (*capture_route_fn)(void *arg, const struct flow_record *rec);

struct capture_conf {
	struct port_eal_conf eal; /* cpus: one capture lcore each */
	uint16_t burst;		  /* RX burst, at most CAPTURE_MAX_BURST */
	uint16_t rx_desc;
	uint32_t mbufs;	    /* per RX queue */
	uint32_t ring_size; /* records per (lcore, worker) ring */
	unsigned n_workers;
	struct flow_conf flow;	/* per lcore; lcore field set by capture */
	int link;		/* enum decode_link of every port */
	int offline;		/* end at end of input; never drop records */
	uint32_t spread_ring;	/* frames per software-spread ring; 0: 1024 */
	capture_route_fn route; /* NULL: worker flow_id % n_workers */
	void *route_arg;
};

#define CAPTURE_MAX_BURST 256

/* The software spread (ports without RSS, several lcores). */
struct capture_spread_stats {
	uint64_t passed;    /* frames handed to their owner lcore's ring */
	uint64_t received;  /* frames taken from those rings */
	uint64_t ring_full; /* live: frames dropped, owner's ring full */
	uint64_t paused;    /* offline: turns a reader waited for ring room */
};

/* Everything capture counts, summed over lcores and ports. */
struct capture_stats {
	struct decode_stats decode;
	struct flow_table_stats flow;
	struct handoff_stats handoff;
	struct port_stats port;
	struct capture_spread_stats spread;
	struct appid_stats appid; /* nDPI, summed over lcores (zero with DPI off) */
	struct frag_stats frag;	  /* fragment attribution */
	uint64_t seg_linearized;  /* multi-segment frames copied to decode */
};

struct capture;

/*
 * Set up DPDK and capture state from conf. Returns NULL with the reason
 * in err on failure (EAL, ports, memory). Main thread, once per process.
 */
struct capture *capture_new(const struct capture_conf *conf, char *err, size_t errlen);

/* The handoff workers read from (owned by capture). */
struct handoff *capture_handoff(struct capture *c);

/*
 * Poll on every capture lcore, this thread being the first. Returns 0
 * when input ended (offline) or capture_stop() was called, after every
 * flow has been flushed to the workers.
 */
int capture_run(struct capture *c);

/* Ask capture_run() to finish. Async-signal-safe; any thread. */
void capture_stop(struct capture *c);

/* Sum the counters (safe after capture_run() returned; approximate during). */
void capture_stats_get(struct capture *c, struct capture_stats *st);

/*
 * The software spread's hash of a decoded packet: a function of the flow
 * key (ip_version, proto, VLANs, unordered pair of (address, port)) only,
 * so both directions of a flow give the same value. Fixed seeds: the same
 * on every run. Pure; any thread.
 */
uint32_t capture_spread_hash(const struct decode_pkt *p);

/* Stop ports, free everything, release EAL. NULL is fine. */
void capture_free(struct capture *c);

#endif
