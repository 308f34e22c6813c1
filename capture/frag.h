/*
 * frag.h: per-lcore IP fragment attribution.
 *
 * What: the decoder returns an IP fragment as DECODE_FRAG with its
 * addresses, protocol, identification and offset; only the first fragment
 * carries the ports. This table remembers, for a short time, (version,
 * src, dst, proto, id, VLANs, tunnel) -> ports from the first fragment and
 * gives them to the other fragments of the same datagram, so every
 * fragment is accounted to its 5-tuple flow (packets and bytes, as the
 * frames were captured).
 *
 * Attribution, not reassembly, because: flow records count frames, so
 * each fragment must be counted on its own anyway; attribution needs no
 * payload copies (an entry is ~150 bytes, a reassembly buffer up to 64 KB
 * per datagram), never holds an mbuf past its burst, and its memory is a
 * fixed table chosen at init. What it gives up: DPI sees the first
 * fragment's payload only, and overlapping fragments are not resolved
 * (only counted when a first or last fragment repeats): a detector needing
 * the reassembled bytes must reassemble elsewhere.
 *
 * Out of order: a non-first fragment seen before its first is held (its
 * frame length and time, up to FRAG_HELD_MAX per datagram) and released,
 * attributed, when the first arrives; held fragments whose first never
 * comes are counted as unattributed when their entry expires or is
 * evicted. Fragments of protocols without ports (ICMP, ESP, GRE...) need
 * no table: their key is complete already.
 *
 * Bounds: max_datagrams entries, allocated once; an entry lives
 * timeout_us after its first fragment seen (packet time) or until its
 * datagram is complete (first and last seen, enough bytes). Entries are
 * reused oldest first: reusing a live one counts as an eviction. A flood of
 * fragments (random ids) therefore costs a constant memory and a counted
 * eviction per fragment, never an allocation.
 *
 * Threads: one table per capture lcore, used by that lcore only (no
 * locks); stats are plain counters read by others as a snapshot.
 */
#ifndef DARTER_FRAG_H
#define DARTER_FRAG_H

#include <stdint.h>

#include "decode.h"

#define FRAG_HELD_MAX 4 /* non-first fragments held per datagram before its first */

struct frag_conf {
	uint32_t max_datagrams; /* table entries, >= 1 */
	uint64_t timeout_us;	/* entry lifetime after its first fragment, > 0 */
};

/* Defaults: Linux's ipfrag_time is 30 s; 4096 datagrams is ~600 KB. */
#define FRAG_DEFAULT_MAX_DATAGRAMS 4096
#define FRAG_DEFAULT_TIMEOUT_US	   (30ull * 1000000)

/* Counters, written by the owning lcore only. */
struct frag_stats {
	uint64_t fragments;    /* DECODE_FRAG packets given to frag_packet() */
	uint64_t first;	       /* first fragments with ports (TCP/UDP) */
	uint64_t attributed;   /* non-first fragments given ports, on arrival or released */
	uint64_t held;	       /* non-first fragments held, their first not seen yet */
	uint64_t unattributed; /* non-first fragments never attributed (dropped) */
	uint64_t no_ports;     /* TCP/UDP first fragments too short for ports (dropped) */
	uint64_t portless;     /* fragments of protocols without ports: flowed as they are */
	uint64_t duplicates;   /* a first or last fragment seen again (overlap, retransmit) */
	uint64_t completed;    /* datagrams whose every byte was seen: entry freed early */
	uint64_t expired;      /* entries reclaimed after timeout_us */
	uint64_t evicted;      /* live entries reclaimed for a new datagram: table full */
	uint64_t active;       /* entries in use now */
};

/* What to do with a fragment after frag_packet(). */
enum frag_verdict {
	FRAG_FLOW, /* p has its flow key now: give it to the flow table */
	FRAG_HELD, /* kept until its first fragment comes: nothing to do now */
	FRAG_DROP, /* cannot be attributed: counted, not flowed */
};

/* A held fragment, released to the caller when its first fragment came. */
struct frag_held {
	uint32_t frame_len;
	uint64_t ts_us;
};

struct frag_table;

/*
 * A table of conf->max_datagrams entries, allocated here (and only here).
 * Returns NULL with errno EINVAL (bad conf) or ENOMEM.
 */
struct frag_table *frag_new(const struct frag_conf *conf);

/* Free t; NULL is fine. */
void frag_free(struct frag_table *t);

/*
 * One DECODE_FRAG packet p (frame_len bytes captured at ts_us, packet
 * time). On FRAG_FLOW p's ports are set (non-first fragments: also TCP
 * flags and payload_len cleared, their bytes are not an L4 header) and
 * the caller flows p, then calls frag_take_held() for fragments of the
 * same datagram that came before. No allocation; owner lcore only.
 */
enum frag_verdict frag_packet(struct frag_table *t, struct decode_pkt *p, uint32_t frame_len,
			      uint64_t ts_us);

/*
 * After FRAG_FLOW: the fragments held for p's datagram (0..FRAG_HELD_MAX,
 * copied to out), now attributed; p is turned into a non-first fragment's
 * key (TCP flags, ICMP type, payload_len cleared) so the caller can flow
 * each one with p and its frame_len/ts_us. Returns 0 after anything else.
 */
unsigned frag_take_held(struct frag_table *t, struct decode_pkt *p,
			struct frag_held out[FRAG_HELD_MAX]);

/*
 * Sweep: look at the next max entries (circularly) and free those older
 * than timeout_us at now_us, counting their held fragments as unattributed.
 * Returns how many expired. Call it from the loop, like the flow sweep.
 */
unsigned frag_expire(struct frag_table *t, uint64_t now_us, unsigned max);

/* The owner's counters (a reader on another thread sees a racy snapshot). */
const struct frag_stats *frag_stats(const struct frag_table *t);

#endif
