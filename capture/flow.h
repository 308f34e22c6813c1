/*
 * flow.h: the per-lcore bidirectional flow table.
 *
 * One table per capture lcore, touched by that lcore only: no locks.
 * Entries are preallocated at creation (max_flows); the table never
 * allocates afterwards. When full, the least recently seen flow is evicted
 * (reason "forced") and counted. Above a high-water mark the table runs in
 * emergency mode (shorter timeouts, as Suricata's) until it drains below a
 * low-water mark. Expiry runs on packet time, so replaying a capture gives
 * the same records every time.
 *
 * With DPI on, the table owns one nDPI classifier (appid.h) and feeds it
 * each flow's first packets; the answer goes into the flow's records.
 *
 * Completed flows leave through the emit callback, synchronously, with a
 * record that is valid only during the call (the caller copies it). Flows
 * open longer than the active timeout also leave interim records (reason
 * "active", counters so far) and stay in the table.
 */
#ifndef DARTER_FLOW_H
#define DARTER_FLOW_H

#include <stdint.h>

#include "appid.h"
#include "decode.h"
#include "flow_record.h"

/* Timeout classes, as Suricata's flow-timeouts sections. */
enum flow_proto {
	FLOW_PROTO_DEFAULT, /* any other IP protocol */
	FLOW_PROTO_TCP,
	FLOW_PROTO_UDP,
	FLOW_PROTO_ICMP, /* ICMPv4 and ICMPv6 */
	FLOW_PROTO_MAX
};

/* Idle timeouts in seconds for one protocol. */
struct flow_timeouts {
	uint32_t new_s;		/* one direction seen */
	uint32_t established_s; /* both directions seen */
	uint32_t closed_s;	/* TCP after FIN handshake or RST */
};

struct flow_conf {
	uint32_t max_flows; /* entries preallocated; the table's hard bound */
	uint32_t hash_size; /* buckets; rounded up to a power of two */
	struct flow_timeouts timeouts[FLOW_PROTO_MAX];
	struct flow_timeouts emergency[FLOW_PROTO_MAX]; /* timeouts in emergency mode */
	uint32_t active_timeout_s; /* interim record every this many seconds of a flow; 0 = off */
	uint8_t emergency_high;	   /* % of max_flows in use that starts emergency mode; 0 = never */
	uint8_t emergency_recovery; /* Suricata's: ends below (100 - this)% of max_flows (0-99) */
	uint8_t dpi;		    /* nonzero: classify flows with nDPI (appid) */
	uint8_t prefault;	    /* nonzero: populate the entries' pages at creation (live) */
	uint16_t lcore;		    /* copied into every record */
	struct appid_conf appid;    /* the classifier, when dpi; max_states 0 = max_flows */
};

/* Counters, written by the owning lcore only. */
struct flow_table_stats {
	uint64_t created;  /* flows created */
	uint64_t active;   /* flows in the table now */
	uint64_t emitted;  /* flows ended: final records handed to emit */
	uint64_t timeout;  /* of which: idle timeout */
	uint64_t evicted;  /* of which: table full, least recent evicted */
	uint64_t reused;   /* of which: TCP SYN on a closed flow (port reuse) */
	uint64_t shutdown; /* of which: flushed at end */
	uint64_t tcp;	   /* flows created by protocol */
	uint64_t udp;
	uint64_t icmp;
	uint64_t other;
	uint64_t interim;	/* interim records (reason ACTIVE), not in emitted */
	uint64_t emergency;	/* entries into emergency mode */
	uint64_t emergency_now; /* 1 while in emergency mode, else 0 */
	uint64_t memuse; /* bytes held by the table (fixed at creation; appid's not included) */
};

struct flow_table;

/* Receives a completed record; rec is valid only during the call. */
typedef void (*flow_emit_fn)(void *arg, const struct flow_record *rec);

/*
 * Suricata's default timeouts and emergency timeouts (suricata.yaml
 * flow-timeouts), emergency mode from 95% to below 70% in use, interim
 * records every 300 s, DPI on with appid_conf_defaults() but one state
 * per flow (appid.max_states 0).
 */
void flow_conf_defaults(struct flow_conf *conf);

/*
 * Create a table (and its classifier when conf->dpi). All memory is
 * allocated here. Returns NULL and sets errno (EINVAL for a zero size or
 * an emergency mark out of range, or appid_new's errno) on failure.
 */
struct flow_table *flow_table_new(const struct flow_conf *conf, flow_emit_fn emit, void *arg);

/* Free the table (and its classifier) without emitting anything. NULL is fine. */
void flow_table_free(struct flow_table *t);

/*
 * Account one decoded packet (decode_packet() returned DECODE_FLOW) of
 * frame_len bytes on the wire seen at ts_us. frame holds its cap_len
 * captured, contiguous bytes, as decoded (p->l3_off indexes it): DPI
 * reads the IP packet there; frame may be NULL (then the packet is
 * counted but not classified). Creates the flow if needed; a flow found
 * past its timeout is emitted first and a new one started. May emit, an
 * interim record included.
 */
void flow_table_packet(struct flow_table *t, const struct decode_pkt *p, const uint8_t *frame,
		       uint32_t cap_len, uint32_t frame_len, uint64_t ts_us);

/*
 * Prefetch for flow_table_packet(t, p, ...) a few packets ahead: the
 * bucket of p's flow (returns the hash for the second call), then the
 * first entry the bucket names. A burst's lookups then overlap their
 * cache misses instead of taking them one after the other. Optional.
 */
uint32_t flow_table_prefetch(const struct flow_table *t, const struct decode_pkt *p);
void flow_table_prefetch_entry(const struct flow_table *t, uint32_t hash);
/* flow_table_packet() with the hash flow_table_prefetch() returned for p. */
void flow_table_packet_hashed(struct flow_table *t, const struct decode_pkt *p, uint32_t hash,
			      const uint8_t *frame, uint32_t cap_len, uint32_t frame_len,
			      uint64_t ts_us);

/*
 * Emit flows idle past their timeout at now_us, scanning at most
 * max_buckets buckets from where the last call stopped (incremental sweep).
 * Returns the number of flows emitted.
 */
unsigned flow_table_expire(struct flow_table *t, uint64_t now_us, unsigned max_buckets);

/* Emit every flow still open with the given reason; the table is empty after. */
void flow_table_flush(struct flow_table *t, enum flow_record_reason reason);

/* The table's counters (pointer valid for the table's lifetime). */
const struct flow_table_stats *flow_table_stats(const struct flow_table *t);

/* The classifier's counters, or NULL when DPI is off (valid as above). */
const struct appid_stats *flow_table_appid_stats(const struct flow_table *t);

/* Bytes of one flow entry, for memory accounting. */
unsigned flow_entry_size(void);

/* murmur3's 64-bit finalizer: every input bit moves every output bit. Shared
   by the flow hash and capture's software spread across lcores. */
static inline uint64_t
flow_fmix64(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

#endif
