/*
 * capture.h: the capture side of darter, as the rest of the program sees it.
 *
 * capture_new() starts DPDK (EAL, ports, mbuf pools), the record handoff
 * and one flow table per capture lcore. capture_run() polls: each capture
 * lcore reads bursts from its RX queues, decodes, updates its own flow
 * table and hands completed records to the workers. Offline (a capture
 * file) it returns at end of file after flushing every open flow; live it
 * returns after capture_stop().
 */
#ifndef DARTER_CAPTURE_H
#define DARTER_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

#include "decode.h"
#include "flow.h"
#include "handoff.h"
#include "port.h"

struct capture_conf {
	struct port_eal_conf eal; /* cpus: one capture lcore each */
	uint16_t burst;		  /* RX burst, at most CAPTURE_MAX_BURST */
	uint16_t rx_desc;
	uint32_t mbufs;	    /* per RX queue */
	uint32_t ring_size; /* records per (lcore, worker) ring */
	unsigned n_workers;
	struct flow_conf flow; /* per lcore; lcore field set by capture */
	int link;	       /* enum decode_link of every port */
	int offline;	       /* end at end of input; never drop records */
};

#define CAPTURE_MAX_BURST 256

/* Everything capture counts, summed over lcores and ports. */
struct capture_stats {
	struct decode_stats decode;
	struct flow_table_stats flow;
	struct handoff_stats handoff;
	struct port_stats port;
	uint64_t seg_linearized; /* multi-segment frames copied to decode */
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

/* Stop ports, free everything, release EAL. NULL is fine. */
void capture_free(struct capture *c);

#endif
