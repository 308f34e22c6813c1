/*
 * fuzz_decode_flow.c: the packet decoder feeding a small flow table.
 *
 * Input: one header byte, then frames.
 *   header: bits 0-3 pick the link type (fuzz_links[]; past its end, an
 *           unsupported link), bits 4-6 max_flows - 1 (1..8 flows, so
 *           eviction happens), bit 7 one hash bucket (every flow on one
 *           chain) instead of 8.
 *   frame:  length (2 bytes, big endian; cut to what is left), a time
 *           step byte, then the frame. Step bits 0-6: v < 120 moves packet
 *           time forward v * 100 ms, v >= 120 back (v - 119) s (out of
 *           order); bit 7 runs an incremental expiry sweep after the
 *           packet. Timeouts are a few seconds, so steps cross them.
 * tests/fuzz/make_seeds.py writes this format from pcap files.
 *
 * Each frame is copied into a buffer of exactly its length (an overread
 * hits ASan), decoded twice over differently pre-filled structs (a field
 * left unwritten shows as a difference), and given to the table when the
 * decoder says DECODE_FLOW. The table runs with short timeouts, interim
 * records every 4 s of a flow and emergency mode from 75% full, so all
 * three happen. At the end the table is flushed.
 *
 * Invariants: the decoder counts one packet and its bytes per call; an
 * invalid packet counts invalid once and exactly one event; a flow key has
 * IP version 4 or 6, offsets inside the frame, zeroed IPv4 tails, a
 * bounded tunnel depth and no fragment fields; a fragment fills the same
 * fields on both runs. The table never holds more than max_flows;
 * created == emitted + active, emitted == timeout + evicted + reused +
 * shutdown and the interim count match what emit saw, after every packet;
 * every record is well formed (version, enums, times, ports only where
 * the protocol has them); after the flush every packet and byte given to
 * the table came out in exactly one final record.
 *
 * Not here: DPDK, nDPI (DPI is off: appid_new per input would be too
 * slow; nDPI wants its own harness with one classifier), the handoff
 * ring, fragment reassembly (frag.h).
 */
#include <string.h>

#include "decode.h"
#include "flow.h"
#include "fuzz.h"

#define FUZZ_LCORE   7
#define FUZZ_T0_US   1700000000000000ull /* 2023-11-14 */
#define FUZZ_STEP_US 100000ull
#define FUZZ_FRAME_H 3 /* length (2) + time step (1) */
#define FUZZ_MAXLEN  65535u

static const int fuzz_links[] = {
	DECODE_LINK_ETHERNET,	DECODE_LINK_NULL,   DECODE_LINK_PPP,  DECODE_LINK_RAW,
	DECODE_LINK_PPP_SERIAL, DECODE_LINK_C_HDLC, DECODE_LINK_LOOP, DECODE_LINK_LINUX_SLL,
	DECODE_LINK_IPV4,	DECODE_LINK_IPV6,
};

#define FUZZ_NLINKS (sizeof(fuzz_links) / sizeof(fuzz_links[0]))

/* What the table was given and what came out of it. */
struct fuzz_run {
	uint64_t in_pkts;
	uint64_t in_bytes;
	uint64_t out_pkts;
	uint64_t out_bytes;
	uint64_t records;  /* final records */
	uint64_t interims; /* interim records (reason ACTIVE) */
};

/* ----------------------------------------------------------- decoder */

static uint64_t
fuzz_events(const struct decode_stats *st)
{
	uint64_t n = 0;

	for (int i = 0; i < DECODE_EV_MAX; i++)
		n += st->events[i];
	return n;
}

static int
fuzz_zero_tail(const uint8_t a[16])
{
	for (int i = 4; i < 16; i++)
		if (a[i] != 0)
			return 0;
	return 1;
}

static void
fuzz_check_key(const struct decode_pkt *p, uint32_t len)
{
	FUZZ_CHECK(p->ip_version == 4 || p->ip_version == 6);
	FUZZ_CHECK(p->l3_off <= p->l4_off && p->l4_off <= len);
	FUZZ_CHECK(p->payload_len <= len - p->l4_off);
	if (p->ip_version == 4)
		FUZZ_CHECK(fuzz_zero_tail(p->src) && fuzz_zero_tail(p->dst));
	if (p->proto != 6)
		FUZZ_CHECK(p->tcp_flags == 0);
	if (p->proto != 6 && p->proto != 17)
		FUZZ_CHECK(p->sport == 0 && p->dport == 0);
	FUZZ_CHECK(p->tunnel <= FLOW_RECORD_TUNNEL_TEREDO && p->tunnel_depth <= DECODE_TUNNEL_MAX);
	FUZZ_CHECK((p->tunnel == FLOW_RECORD_TUNNEL_NONE) == (p->tunnel_depth == 0));
	FUZZ_CHECK(p->frag_more == 0 && p->frag_ports == 0 && p->frag_id == 0 && p->frag_off == 0);
}

/* The fields a flow key is made of (decode_pkt has padding: no memcmp). */
static int
fuzz_same_key(const struct decode_pkt *a, const struct decode_pkt *b)
{
	return memcmp(a->src, b->src, 16) == 0 && memcmp(a->dst, b->dst, 16) == 0 &&
	       a->sport == b->sport && a->dport == b->dport && a->vlan[0] == b->vlan[0] &&
	       a->vlan[1] == b->vlan[1] && a->ip_version == b->ip_version && a->proto == b->proto &&
	       a->tcp_flags == b->tcp_flags && a->icmp_type == b->icmp_type &&
	       a->icmp_code == b->icmp_code && a->l3_off == b->l3_off && a->l4_off == b->l4_off &&
	       a->payload_len == b->payload_len && a->tunnel == b->tunnel &&
	       a->tunnel_depth == b->tunnel_depth;
}

/* What a fragment result fills. */
static int
fuzz_same_frag(const struct decode_pkt *a, const struct decode_pkt *b)
{
	return memcmp(a->src, b->src, 16) == 0 && memcmp(a->dst, b->dst, 16) == 0 &&
	       a->ip_version == b->ip_version && a->proto == b->proto &&
	       a->frag_more == b->frag_more && a->frag_ports == b->frag_ports &&
	       a->frag_id == b->frag_id && a->frag_off == b->frag_off;
}

/* Decode once, checking what the counters say against the result. */
static enum decode_result
fuzz_decode(struct decode_pkt *p, int link, const uint8_t *f, uint32_t len, struct decode_stats *st)
{
	struct decode_stats before = *st;
	enum decode_result r = decode_packet(p, link, f, len, st);

	FUZZ_CHECK(st->pkts == before.pkts + 1 && st->bytes == before.bytes + len);
	switch (r) {
	case DECODE_FLOW:
		FUZZ_CHECK(st->invalid == before.invalid);
		fuzz_check_key(p, len);
		break;
	case DECODE_NON_IP:
		FUZZ_CHECK(st->invalid == before.invalid && st->non_ip == before.non_ip + 1);
		break;
	case DECODE_FRAG:
		FUZZ_CHECK(st->invalid == before.invalid && st->frag == before.frag + 1);
		break;
	case DECODE_INVALID:
		FUZZ_CHECK(st->invalid == before.invalid + 1);
		FUZZ_CHECK(fuzz_events(st) == fuzz_events(&before) + 1);
		break;
	default:
		FUZZ_CHECK(!"decode_packet returned no enum decode_result");
	}
	if (!decode_link_supported(link))
		FUZZ_CHECK(r == DECODE_NON_IP);
	return r;
}

/* Decode f twice over differently filled structs; both runs must agree. */
static enum decode_result
fuzz_decode_twice(struct decode_pkt *p, int link, const uint8_t *f, uint32_t len,
		  struct decode_stats *st)
{
	struct decode_pkt q;
	struct decode_stats st2 = *st;
	enum decode_result r, r2;

	memset(p, 0, sizeof(*p));
	memset(&q, 0xa5, sizeof(q));
	r = fuzz_decode(p, link, f, len, st);
	r2 = fuzz_decode(&q, link, f, len, &st2);
	FUZZ_CHECK(r == r2);
	FUZZ_CHECK(memcmp(st, &st2, sizeof(*st)) == 0);
	if (r == DECODE_FLOW)
		FUZZ_CHECK(fuzz_same_key(p, &q));
	else if (r == DECODE_FRAG)
		FUZZ_CHECK(fuzz_same_frag(p, &q));
	return r;
}

/* -------------------------------------------------------- flow table */

static void
fuzz_check_record(const struct flow_record *r)
{
	FUZZ_CHECK(r->ip_version == 4 || r->ip_version == 6);
	if (r->ip_version == 4)
		FUZZ_CHECK(fuzz_zero_tail(r->src_ip) && fuzz_zero_tail(r->dst_ip));
	FUZZ_CHECK(r->flow_id != 0 && r->flow_id < (1ull << 51));
	FUZZ_CHECK(r->start_us <= r->end_us);
	FUZZ_CHECK(r->pkts_toserver + r->pkts_toclient >= 1);
	FUZZ_CHECK(r->pkts_toserver >= 1 || r->pkts_toclient >= 1);
	FUZZ_CHECK(r->state <= FLOW_RECORD_STATE_CLOSED);
	FUZZ_CHECK(r->reason <= FLOW_RECORD_REASON_ACTIVE);
	FUZZ_CHECK(r->tunnel <= FLOW_RECORD_TUNNEL_TEREDO);
	FUZZ_CHECK(r->app.how == APPID_HOW_NONE); /* DPI is off */
	FUZZ_CHECK(r->tcp_state <= FLOW_RECORD_TCP_CLOSED);
	FUZZ_CHECK(r->lcore == FUZZ_LCORE);
	if (r->state == FLOW_RECORD_STATE_NEW)
		FUZZ_CHECK(r->pkts_toserver == 0 || r->pkts_toclient == 0);
	if (r->proto != 6) {
		FUZZ_CHECK(r->tcp_flags_ts == 0 && r->tcp_flags_tc == 0);
		FUZZ_CHECK(r->tcp_state == FLOW_RECORD_TCP_NONE);
		FUZZ_CHECK(r->state != FLOW_RECORD_STATE_CLOSED);
	}
	if (r->proto != 6 && r->proto != 17)
		FUZZ_CHECK(r->src_port == 0 && r->dst_port == 0);
	if (r->proto != 1 && r->proto != 58)
		FUZZ_CHECK(r->icmp_type == 0 && r->icmp_code == 0 && r->flags == 0);
}

static void
fuzz_emit(void *arg, const struct flow_record *rec)
{
	struct fuzz_run *run = arg;

	fuzz_check_record(rec);
	if (rec->reason == FLOW_RECORD_REASON_ACTIVE) {
		run->interims++; /* counters so far: the final record has them all */
		return;
	}
	run->records++;
	run->out_pkts += rec->pkts_toserver + rec->pkts_toclient;
	run->out_bytes += rec->bytes_toserver + rec->bytes_toclient;
}

static void
fuzz_check_table(const struct flow_table *t, const struct fuzz_run *run, uint32_t max_flows)
{
	const struct flow_table_stats *s = flow_table_stats(t);

	FUZZ_CHECK(s->active <= max_flows);
	FUZZ_CHECK(s->created == s->emitted + s->active);
	FUZZ_CHECK(s->emitted == run->records && s->interim == run->interims);
	FUZZ_CHECK(s->emergency_now <= 1 && s->emergency >= s->emergency_now);
	FUZZ_CHECK(s->emitted == s->timeout + s->evicted + s->reused + s->shutdown);
	FUZZ_CHECK(s->created == s->tcp + s->udp + s->icmp + s->other);
	FUZZ_CHECK(run->out_pkts <= run->in_pkts && run->out_bytes <= run->in_bytes);
}

static struct flow_table *
fuzz_table_new(uint8_t hdr, struct fuzz_run *run, uint32_t *max_flows)
{
	static const struct flow_timeouts tmo[FLOW_PROTO_MAX] = {
		[FLOW_PROTO_DEFAULT] = {.new_s = 1, .established_s = 3, .closed_s = 0},
		[FLOW_PROTO_TCP] = {.new_s = 2, .established_s = 6, .closed_s = 1},
		[FLOW_PROTO_UDP] = {.new_s = 2, .established_s = 5, .closed_s = 0},
		[FLOW_PROTO_ICMP] = {.new_s = 1, .established_s = 4, .closed_s = 0},
	};
	static const struct flow_timeouts emerg[FLOW_PROTO_MAX] = {
		[FLOW_PROTO_DEFAULT] = {.new_s = 0, .established_s = 1, .closed_s = 0},
		[FLOW_PROTO_TCP] = {.new_s = 1, .established_s = 2, .closed_s = 0},
		[FLOW_PROTO_UDP] = {.new_s = 1, .established_s = 2, .closed_s = 0},
		[FLOW_PROTO_ICMP] = {.new_s = 0, .established_s = 1, .closed_s = 0},
	};
	struct flow_conf conf;
	struct flow_table *t;

	flow_conf_defaults(&conf);
	conf.max_flows = 1u + ((hdr >> 4) & 7u);
	conf.hash_size = (hdr & 0x80) ? 1 : 8;
	memcpy(conf.timeouts, tmo, sizeof(tmo));
	memcpy(conf.emergency, emerg, sizeof(emerg));
	conf.active_timeout_s = 4;
	conf.emergency_high = 75;
	conf.emergency_recovery = 50;
	conf.dpi = 0; /* nDPI's set-up takes tens of ms: too slow per input */
	conf.lcore = FUZZ_LCORE;
	t = flow_table_new(&conf, fuzz_emit, run);
	FUZZ_CHECK(t != NULL);
	*max_flows = conf.max_flows;
	return t;
}

/* ------------------------------------------------------------ driver */

static uint64_t
fuzz_step(uint64_t now, uint8_t step)
{
	unsigned v = step & 0x7f;

	if (v < 120)
		return now + v * FUZZ_STEP_US;
	v -= 119;
	return now - (uint64_t)v * 1000000u; /* now starts far from 0 */
}

/* One frame: decode (into an exact-size copy) and account it. */
static void
fuzz_frame(struct flow_table *t, struct fuzz_run *run, int link, const uint8_t *f, uint32_t len,
	   uint64_t now, struct decode_stats *st)
{
	uint8_t *copy = malloc(len ? len : 1);
	struct decode_pkt p;

	FUZZ_CHECK(copy != NULL);
	memcpy(copy, f, len);
	if (fuzz_decode_twice(&p, link, copy, len, st) == DECODE_FLOW) {
		flow_table_packet(t, &p, copy, len, len, now);
		run->in_pkts++;
		run->in_bytes += len;
	}
	free(copy);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_run run = {0};
	struct decode_stats st = {0};
	uint32_t max_flows;
	struct flow_table *t;
	uint64_t now = FUZZ_T0_US;
	unsigned pick;
	int link;

	if (size < 1)
		return 0;
	pick = data[0] & 0x0f;
	link = pick < FUZZ_NLINKS ? fuzz_links[pick] : 200 + (int)pick; /* unsupported */
	t = fuzz_table_new(data[0], &run, &max_flows);
	for (size_t off = 1; off + FUZZ_FRAME_H <= size;) {
		size_t len = (size_t)data[off] << 8 | data[off + 1];
		uint8_t step = data[off + 2];

		off += FUZZ_FRAME_H;
		if (len > size - off)
			len = size - off;
		now = fuzz_step(now, step);
		fuzz_frame(t, &run, link, data + off, (uint32_t)len, now, &st);
		off += len;
		if (step & 0x80)
			flow_table_expire(t, now, 2);
		fuzz_check_table(t, &run, max_flows);
	}
	flow_table_flush(t, FLOW_RECORD_REASON_SHUTDOWN);
	fuzz_check_table(t, &run, max_flows);
	FUZZ_CHECK(flow_table_stats(t)->active == 0);
	FUZZ_CHECK(run.out_pkts == run.in_pkts && run.out_bytes == run.in_bytes);
	flow_table_free(t);
	return 0;
}
