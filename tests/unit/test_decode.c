/*
 * test_decode.c: the packet decoder through its public API only.
 *
 * Frames are built by hand: small writers put one header each into a
 * buffer, and build() stacks them from a struct spec (link type, VLAN
 * tags, IP version, IPv4 options, IPv6 extension headers, L4 protocol,
 * payload), then patches the length fields so the frame is consistent.
 *
 * decode() copies each frame into a heap block of exactly its length (an
 * empty frame points one past a 1-byte block), so ASan flags any read
 * outside data[0..len). It decodes twice, into a decode_pkt poisoned with
 * 0x00 and with 0xff and into two stats, and checks both runs agree: a
 * field that DECODE_FLOW or DECODE_FRAG leaves unset shows up there.
 * Random tests use a fixed-seed splitmix64: every run sees the same bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "decode.h"

#define FRAME_MAX 4096

#define ICMP  1
#define IPIP  4
#define TCP   6
#define UDP   17
#define IPV6  41
#define GRE   47
#define ESP   50
#define ICMP6 58
#define NONXT 59
#define SCTP  132

#define HOPOPTS	 0
#define ROUTING	 43
#define FRAGMENT 44
#define AH	 51
#define DSTOPTS	 60
#define MH	 135
#define HIP	 139
#define SHIM6	 140

static const uint8_t ip4_a[4] = {192, 0, 2, 1};
static const uint8_t ip4_b[4] = {198, 51, 100, 7};
static const uint8_t ip6_a[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
static const uint8_t ip6_b[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xbe, 0xef};

/* ------------------------------------------------------------------ */
/* Header writers: each writes one header at b, returns its length     */
/* ------------------------------------------------------------------ */

static void
put16(uint8_t *b, unsigned v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

static void
put32(uint8_t *b, uint32_t v)
{
	put16(b, v >> 16);
	put16(b + 2, v & 0xffff);
}

static size_t
w_eth(uint8_t *b, unsigned type)
{
	static const uint8_t macs[12] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1};

	memcpy(b, macs, sizeof(macs));
	put16(b + 12, type);
	return 14;
}

/* A VLAN tag after its TPID: TCI (PCP 5 set, to check the VID mask), type. */
static size_t
w_vlan(uint8_t *b, unsigned vid, unsigned type)
{
	put16(b, 0xa000 | vid);
	put16(b + 2, type);
	return 4;
}

/* Total length is patched by build(); options are NOPs. */
static size_t
w_ipv4(uint8_t *b, uint8_t proto, size_t opt_len)
{
	size_t hlen = 20 + opt_len;

	b[0] = (uint8_t)(0x40 | hlen / 4);
	b[1] = 0;
	put16(b + 2, (unsigned)hlen);
	put16(b + 4, 0x1234);
	put16(b + 6, 0x4000); /* DF: not a fragment */
	b[8] = 64;
	b[9] = proto;
	put16(b + 10, 0);
	memcpy(b + 12, ip4_a, 4);
	memcpy(b + 16, ip4_b, 4);
	memset(b + 20, 1, opt_len);
	return hlen;
}

/* Payload length is patched by build(). */
static size_t
w_ipv6(uint8_t *b, uint8_t nh)
{
	put32(b, 0x60012345); /* version 6, some traffic class and flow label */
	put16(b + 4, 0);
	b[6] = nh;
	b[7] = 64;
	memcpy(b + 8, ip6_a, 16);
	memcpy(b + 24, ip6_b, 16);
	return 40;
}

/* Hop-by-hop, routing, destination options, mobility...: (units + 1) * 8 bytes. */
static size_t
w_ext(uint8_t *b, uint8_t nh, uint8_t units)
{
	size_t n = ((size_t)units + 1) * 8;

	memset(b, 0, n);
	b[0] = nh;
	b[1] = units;
	b[2] = 1; /* PadN over the rest */
	b[3] = (uint8_t)(n - 4);
	return n;
}

static size_t
w_frag6(uint8_t *b, uint8_t nh, unsigned offset8, int more)
{
	b[0] = nh;
	b[1] = 0;
	put16(b + 2, offset8 << 3 | (more ? 1 : 0));
	put32(b + 4, 0xcafe);
	return 8;
}

/* Authentication header: (len + 2) * 4 bytes. */
static size_t
w_ah(uint8_t *b, uint8_t nh, uint8_t len)
{
	size_t n = ((size_t)len + 2) * 4;

	memset(b, 0, n);
	b[0] = nh;
	b[1] = len;
	put32(b + 4, 0x1000); /* SPI */
	return n;
}

static size_t
w_tcp(uint8_t *b, unsigned sport, unsigned dport, uint8_t flags, size_t opt_len)
{
	size_t hlen = 20 + opt_len;

	memset(b, 0, hlen);
	put16(b, sport);
	put16(b + 2, dport);
	put32(b + 4, 1000);
	b[12] = (uint8_t)(hlen / 4 << 4);
	b[13] = flags;
	put16(b + 14, 65535);
	memset(b + 20, 1, opt_len);
	return hlen;
}

/* Length is patched by build(). */
static size_t
w_udp(uint8_t *b, unsigned sport, unsigned dport)
{
	put16(b, sport);
	put16(b + 2, dport);
	put16(b + 4, 8);
	put16(b + 6, 0);
	return 8;
}

static size_t
w_icmp(uint8_t *b, uint8_t type, uint8_t code)
{
	b[0] = type;
	b[1] = code;
	put16(b + 2, 0);
	put32(b + 4, 0x00010001);
	return 8;
}

static size_t
w_payload(uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(0xa0 + i);
	return n;
}

/* ------------------------------------------------------------------ */
/* Frames from a spec                                                  */
/* ------------------------------------------------------------------ */

enum ext_chain {
	EXT_NONE,
	EXT_HBH_DST_FRAG, /* hop-by-hop, destination options (16 B), atomic fragment */
};

struct spec {
	int link;
	int vlans; /* Ethernet only: 0..3 tags */
	int ipver; /* 4 or 6 */
	uint8_t proto;
	size_t ip_opt; /* IPv4 option bytes (multiple of 4) */
	enum ext_chain ext;
	size_t l4_opt; /* TCP option bytes (multiple of 4) */
	size_t payload;
};

struct frame {
	uint8_t b[FRAME_MAX];
	size_t len;
	size_t l3;     /* IP header */
	size_t l4;     /* L4 header */
	size_t l4_end; /* end of what the decoder needs of L4: TCP hlen, 8, 4, 0 */
};

static const unsigned vlan_tpid[3] = {0x88a8, 0x8100, 0x9100};
static const unsigned vlan_vid[3] = {10, 20, 30};

/* The link header for IP of version v. */
static size_t
w_link(uint8_t *b, const struct spec *s)
{
	unsigned type = s->ipver == 6 ? 0x86dd : 0x0800;
	uint32_t af;
	size_t off;

	switch (s->link) {
	case DECODE_LINK_ETHERNET:
		if (s->vlans == 0)
			return w_eth(b, type);
		off = w_eth(b, vlan_tpid[0]);
		for (int i = 0; i < s->vlans; i++)
			off += w_vlan(b + off, vlan_vid[i],
				      i + 1 < s->vlans ? vlan_tpid[i + 1] : type);
		return off;
	case DECODE_LINK_NULL:
		af = s->ipver == 6 ? 30 : 2;
		memcpy(b, &af, 4); /* host byte order */
		return 4;
	case DECODE_LINK_LOOP:
		put32(b, s->ipver == 6 ? 24 : 2);
		return 4;
	case DECODE_LINK_PPP:
	case DECODE_LINK_PPP_SERIAL:
		b[0] = 0xff;
		b[1] = 0x03;
		put16(b + 2, s->ipver == 6 ? 0x0057 : 0x0021);
		return 4;
	case DECODE_LINK_C_HDLC:
		b[0] = 0x0f;
		b[1] = 0;
		put16(b + 2, type);
		return 4;
	case DECODE_LINK_LINUX_SLL:
		memset(b, 0, 16);
		put16(b, 0);			  /* to us */
		put16(b + 2, 1);		  /* ARPHRD_ETHER */
		put16(b + 4, 6);		  /* address length */
		memcpy(b + 6, "\2\0\0\0\0\1", 6); /* address */
		put16(b + 14, type);
		return 16;
	default: /* raw IP */
		return 0;
	}
}

static size_t
w_l4(uint8_t *b, const struct spec *s, size_t *need)
{
	switch (s->proto) {
	case TCP:
		*need = 20 + s->l4_opt;
		return w_tcp(b, 40000, 443, DECODE_TCP_SYN | DECODE_TCP_ACK, s->l4_opt);
	case UDP:
		*need = 8;
		return w_udp(b, 5353, 53);
	case ICMP:
		*need = 4;
		return w_icmp(b, 8, 0);
	case ICMP6:
		*need = 4;
		return w_icmp(b, 128, 0);
	default:
		*need = 0;
		return 0;
	}
}

static void
build(struct frame *f, const struct spec *s)
{
	size_t off, need;

	memset(f, 0, sizeof(*f));
	off = f->l3 = w_link(f->b, s);
	if (s->ipver == 4) {
		off += w_ipv4(f->b + off, s->proto, s->ip_opt);
	} else if (s->ext == EXT_HBH_DST_FRAG) {
		off += w_ipv6(f->b + off, HOPOPTS);
		off += w_ext(f->b + off, DSTOPTS, 0);
		off += w_ext(f->b + off, FRAGMENT, 1);
		off += w_frag6(f->b + off, s->proto, 0, 0);
	} else {
		off += w_ipv6(f->b + off, s->proto);
	}
	f->l4 = off;
	off += w_l4(f->b + off, s, &need);
	f->l4_end = f->l4 + need;
	off += w_payload(f->b + off, s->payload);
	f->len = off;
	if (s->ipver == 4)
		put16(f->b + f->l3 + 2, (unsigned)(f->len - f->l3));
	else
		put16(f->b + f->l3 + 4, (unsigned)(f->len - f->l3 - 40));
	if (s->proto == UDP)
		put16(f->b + f->l4 + 4, (unsigned)(f->len - f->l4));
}

/* ------------------------------------------------------------------ */
/* Decoding with checks                                                */
/* ------------------------------------------------------------------ */

static uint64_t
ev_sum(const struct decode_stats *st)
{
	uint64_t n = 0;

	for (int i = 0; i < DECODE_EV_MAX; i++)
		n += st->events[i];
	return n;
}

/* The fields the result says are filled agree between a and b. */
static void
assert_pkt_same(const struct decode_pkt *a, const struct decode_pkt *b, enum decode_result r)
{
	assert_int_equal(a->vlan[0], b->vlan[0]);
	assert_int_equal(a->vlan[1], b->vlan[1]);
	if (r != DECODE_FLOW && r != DECODE_FRAG)
		return;
	assert_memory_equal(a->src, b->src, 16);
	assert_memory_equal(a->dst, b->dst, 16);
	assert_int_equal(a->sport, b->sport);
	assert_int_equal(a->dport, b->dport);
	assert_int_equal(a->ip_version, b->ip_version);
	assert_int_equal(a->proto, b->proto);
	assert_int_equal(a->tcp_flags, b->tcp_flags);
	assert_int_equal(a->icmp_type, b->icmp_type);
	assert_int_equal(a->icmp_code, b->icmp_code);
	assert_int_equal(a->l3_off, b->l3_off);
	assert_int_equal(a->l4_off, b->l4_off);
	assert_int_equal(a->payload_len, b->payload_len);
	assert_int_equal(a->tunnel, b->tunnel);
	assert_int_equal(a->tunnel_depth, b->tunnel_depth);
	assert_int_equal(a->frag_more, b->frag_more);
	assert_int_equal(a->frag_ports, b->frag_ports);
	assert_int_equal(a->frag_id, b->frag_id);
	assert_int_equal(a->frag_off, b->frag_off);
}

/* Events a packet that flows may carry: cuts, and the fallbacks of tunnels. */
static int
is_flow_event(int ev)
{
	return ev == DECODE_EV_IPV4_TRUNC_PKT || ev == DECODE_EV_IPV6_TRUNC_PKT ||
	       ev >= DECODE_EV_GRE_TRUNC;
}

/*
 * Decode len bytes of frame from an exact-size heap copy, twice (see the
 * file comment), counting into *st. Checks the invariants every call must
 * keep, whatever the bytes.
 */
static enum decode_result
decode(int link, const uint8_t *frame, size_t len, struct decode_pkt *p, struct decode_stats *st)
{
	uint8_t *block = malloc(len ? len : 1);
	const uint8_t *data = len ? block : block + 1;
	struct decode_stats before = *st, st2 = *st;
	struct decode_pkt p2;
	enum decode_result r, r2;
	uint64_t events;

	assert_non_null(block);
	if (len)
		memcpy(block, frame, len);
	memset(p, 0x00, sizeof(*p));
	memset(&p2, 0xff, sizeof(p2));
	r = decode_packet(p, link, data, (uint32_t)len, st);
	r2 = decode_packet(&p2, link, data, (uint32_t)len, &st2);
	free(block);

	assert_int_equal(r, r2);
	assert_memory_equal(st, &st2, sizeof(*st));
	assert_pkt_same(p, &p2, r);
	assert_int_equal(st->pkts, before.pkts + 1);
	assert_int_equal(st->bytes, before.bytes + len);
	events = ev_sum(st) - ev_sum(&before);
	switch (r) {
	case DECODE_INVALID:
		assert_int_equal(st->invalid, before.invalid + 1);
		assert_int_equal(events, 1);
		break;
	case DECODE_NON_IP:
		assert_int_equal(st->invalid, before.invalid);
		assert_int_equal(st->non_ip, before.non_ip + 1);
		assert_int_equal(st->events[DECODE_EV_UNKNOWN_ETHERTYPE],
				 before.events[DECODE_EV_UNKNOWN_ETHERTYPE] + 1);
		assert_int_equal(events, 1);
		break;
	case DECODE_FLOW:
	case DECODE_FRAG:
		assert_int_equal(st->invalid, before.invalid);
		assert_int_equal(st->non_ip, before.non_ip);
		if (p->tunnel_depth == 0 &&
		    st->gre + st->erspan + st->vxlan + st->teredo + st->ipip ==
			    before.gre + before.erspan + before.vxlan + before.teredo +
				    before.ipip) {
			/* no tunnel entered: only <ip>.trunc_pkt, or a bogus tunnel header */
			assert_true(events <= 2);
		}
		for (int i = 0; i < DECODE_EV_MAX; i++)
			if (st->events[i] != before.events[i] && !is_flow_event(i))
				/* an inner layer's event: the packet fell back to its carrier */
				assert_true(st->events[DECODE_EV_TUNNEL_INNER_INVALID] >
						    before.events[DECODE_EV_TUNNEL_INNER_INVALID] ||
					    i == DECODE_EV_UNKNOWN_ETHERTYPE);
		assert_true(p->tunnel_depth <= DECODE_TUNNEL_MAX);
		assert_true((p->tunnel == 0) == (p->tunnel_depth == 0));
		if (r == DECODE_FLOW)
			assert_true(p->frag_more + p->frag_ports + p->frag_id + p->frag_off == 0);
		else if (p->frag_off != 0)
			assert_int_equal(p->frag_ports, 0);
		assert_true(p->ip_version == 4 || p->ip_version == 6);
		assert_true(p->l3_off < p->l4_off);
		assert_true(p->l4_off <= len);
		assert_true(p->payload_len <= len - p->l4_off);
		if (p->ip_version == 4) {
			static const uint8_t zero[12];

			assert_memory_equal(p->src + 4, zero, 12);
			assert_memory_equal(p->dst + 4, zero, 12);
		}
		break;
	default:
		fail_msg("unexpected result %d", (int)r);
	}
	return r;
}

/* Decode a whole frame into fresh stats. */
static enum decode_result
decode_frame(int link, const struct frame *f, struct decode_pkt *p, struct decode_stats *st)
{
	memset(st, 0, sizeof(*st));
	return decode(link, f->b, f->len, p, st);
}

/* A single malformed packet: DECODE_INVALID with exactly event ev. */
static void
assert_invalid(enum decode_result r, const struct decode_stats *st, enum decode_event ev)
{
	assert_int_equal(r, DECODE_INVALID);
	assert_int_equal(st->invalid, 1);
	assert_int_equal(st->events[ev], 1);
	assert_int_equal(ev_sum(st), 1);
}

static void
assert_non_ip(enum decode_result r, const struct decode_stats *st)
{
	assert_int_equal(r, DECODE_NON_IP);
	assert_int_equal(st->non_ip, 1);
	assert_int_equal(st->invalid, 0);
	assert_int_equal(st->events[DECODE_EV_UNKNOWN_ETHERTYPE], 1);
	assert_int_equal(ev_sum(st), 1);
}

static void
assert_addrs(const struct decode_pkt *p, int ipver)
{
	assert_int_equal(p->ip_version, ipver);
	if (ipver == 4) {
		assert_memory_equal(p->src, ip4_a, 4);
		assert_memory_equal(p->dst, ip4_b, 4);
	} else {
		assert_memory_equal(p->src, ip6_a, 16);
		assert_memory_equal(p->dst, ip6_b, 16);
	}
}

/* A complete, consistent frame of spec s decodes to its flow key. */
static void
assert_flows(const struct spec *s)
{
	struct frame f;
	struct decode_pkt p;
	struct decode_stats st;

	build(&f, s);
	assert_int_equal(decode_frame(s->link, &f, &p, &st), DECODE_FLOW);
	assert_int_equal(ev_sum(&st), 0);
	assert_addrs(&p, s->ipver);
	assert_int_equal(p.proto, s->proto);
	assert_int_equal(p.l3_off, f.l3);
	assert_int_equal(p.l4_off, f.l4);
	assert_int_equal(p.payload_len, f.len - f.l4_end);
	assert_int_equal(s->ipver == 4 ? st.ipv4 : st.ipv6, 1);
	assert_int_equal(st.ethernet, s->link == DECODE_LINK_ETHERNET);
}

/* ------------------------------------------------------------------ */
/* Names and link types                                                */
/* ------------------------------------------------------------------ */

static void
test_event_names(void **state)
{
	(void)state;
	for (int i = 0; i < DECODE_EV_MAX; i++) {
		assert_non_null(decode_event_names[i]);
		assert_non_null(strchr(decode_event_names[i], '.'));
		for (int j = 0; j < i; j++)
			assert_string_not_equal(decode_event_names[i], decode_event_names[j]);
	}
	assert_string_equal(decode_event_names[DECODE_EV_IPV4_TRUNC_PKT], "ipv4.trunc_pkt");
	assert_string_equal(decode_event_names[DECODE_EV_UNKNOWN_ETHERTYPE],
			    "ethernet.unknown_ethertype");
}

static const int links[] = {
	DECODE_LINK_NULL,	DECODE_LINK_ETHERNET, DECODE_LINK_PPP,	DECODE_LINK_RAW,
	DECODE_LINK_PPP_SERIAL, DECODE_LINK_C_HDLC,   DECODE_LINK_LOOP, DECODE_LINK_LINUX_SLL,
	DECODE_LINK_IPV4,	DECODE_LINK_IPV6,
};
#define NLINKS (sizeof(links) / sizeof(links[0]))

static void
test_link_supported(void **state)
{
	static const int unsupported[] = {-1, 2, 14, 101, 105, 127, 147, 276, 1000, 0x40000000};

	(void)state;
	for (size_t i = 0; i < NLINKS; i++)
		assert_true(decode_link_supported(links[i]));
	for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++)
		assert_false(decode_link_supported(unsupported[i]));
}

static void
test_unknown_link(void **state)
{
	struct frame f;
	struct decode_pkt p;
	struct decode_stats st;

	(void)state;
	build(&f, &(struct spec){.link = DECODE_LINK_ETHERNET, .ipver = 4, .proto = TCP});
	assert_false(decode_link_supported(147));
	assert_non_ip(decode_frame(147, &f, &p, &st), &st);
	assert_int_equal(st.pkts, 1);
	assert_int_equal(st.bytes, f.len);
	assert_int_equal(st.ethernet + st.ipv4 + st.tcp, 0);
}

/* Every supported link type carries TCP/IPv4, UDP/IPv6, ICMP and ICMPv6. */
static void
test_each_link(void **state)
{
	(void)state;
	for (size_t i = 0; i < NLINKS; i++) {
		int l = links[i];

		assert_flows(&(struct spec){.link = l, .ipver = 4, .proto = TCP, .payload = 5});
		assert_flows(&(struct spec){.link = l, .ipver = 6, .proto = UDP, .payload = 3});
		assert_flows(&(struct spec){.link = l, .ipver = 4, .proto = ICMP, .payload = 4});
		assert_flows(&(struct spec){.link = l, .ipver = 6, .proto = ICMP6});
	}
}

/* ------------------------------------------------------------------ */
/* L4                                                                  */
/* ------------------------------------------------------------------ */

static void
test_tcp4_fields(void **state)
{
	struct frame f;
	struct decode_pkt p;
	struct decode_stats st;

	(void)state;
	build(&f, &(struct spec){.link = DECODE_LINK_ETHERNET,
				 .ipver = 4,
				 .proto = TCP,
				 .l4_opt = 12,
				 .payload = 100});
	assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), DECODE_FLOW);
	assert_addrs(&p, 4);
	assert_int_equal(p.proto, TCP);
	assert_int_equal(p.sport, 40000);
	assert_int_equal(p.dport, 443);
	assert_int_equal(p.tcp_flags, DECODE_TCP_SYN | DECODE_TCP_ACK);
	assert_int_equal(p.icmp_type, 0);
	assert_int_equal(p.icmp_code, 0);
	assert_int_equal(p.vlan[0], 0);
	assert_int_equal(p.vlan[1], 0);
	assert_int_equal(p.l3_off, 14);
	assert_int_equal(p.l4_off, 34);
	assert_int_equal(p.payload_len, 100);
	assert_int_equal(st.pkts, 1);
	assert_int_equal(st.bytes, 14 + 20 + 32 + 100);
	assert_int_equal(st.ethernet, 1);
	assert_int_equal(st.ipv4, 1);
	assert_int_equal(st.tcp, 1);
	assert_int_equal(st.vlan + st.ipv6 + st.udp + st.icmpv4 + st.icmpv6 + st.other_ip, 0);
	assert_int_equal(st.non_ip + st.frag + st.invalid + ev_sum(&st), 0);
}

static void
test_udp6_fields(void **state)
{
	struct frame f;
	struct decode_pkt p;
	struct decode_stats st;

	(void)state;
	build(&f, &(struct spec){
			  .link = DECODE_LINK_ETHERNET, .ipver = 6, .proto = UDP, .payload = 33});
	assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), DECODE_FLOW);
	assert_addrs(&p, 6);
	assert_int_equal(p.proto, UDP);
	assert_int_equal(p.sport, 5353);
	assert_int_equal(p.dport, 53);
	assert_int_equal(p.tcp_flags, 0);
	assert_int_equal(p.l3_off, 14);
	assert_int_equal(p.l4_off, 54);
	assert_int_equal(p.payload_len, 33);
	assert_int_equal(st.ipv6, 1);
	assert_int_equal(st.udp, 1);
	assert_int_equal(st.ipv4 + st.tcp + st.invalid + ev_sum(&st), 0);
}

static void
test_icmp_fields(void **state)
{
	struct frame f;
	struct decode_pkt p;
	struct decode_stats st;

	(void)state;
	build(&f, &(struct spec){
			  .link = DECODE_LINK_ETHERNET, .ipver = 4, .proto = ICMP, .payload = 56});
	f.b[f.l4] = 3; /* destination unreachable, port */
	f.b[f.l4 + 1] = 3;
	assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), DECODE_FLOW);
	assert_int_equal(p.proto, ICMP);
	assert_int_equal(p.icmp_type, 3);
	assert_int_equal(p.icmp_code, 3);
	assert_int_equal(p.sport, 0);
	assert_int_equal(p.dport, 0);
	assert_int_equal(p.tcp_flags, 0);
	assert_int_equal(p.payload_len, 4 + 56);
	assert_int_equal(st.icmpv4, 1);
	assert_int_equal(st.icmpv6, 0);

	build(&f, &(struct spec){.link = DECODE_LINK_ETHERNET, .ipver = 6, .proto = ICMP6});
	f.b[f.l4] = 135; /* neighbour solicitation */
	assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), DECODE_FLOW);
	assert_int_equal(p.proto, ICMP6);
	assert_int_equal(p.icmp_type, 135);
	assert_int_equal(p.icmp_code, 0);
	assert_int_equal(p.sport + p.dport, 0);
	assert_int_equal(st.icmpv6, 1);
	assert_int_equal(st.icmpv4, 0);
}

/* Anything but tunnels (see below): flowed by protocol number, ports 0. */
static void
test_other_protocols(void **state)
{
	static const uint8_t protos[] = {ESP, SCTP, 89, 103, 255};
	struct frame f;
	struct decode_pkt p;
	struct decode_stats st;

	(void)state;
	for (size_t i = 0; i < sizeof(protos); i++) {
		for (int v = 4; v <= 6; v += 2) {
			build(&f, &(struct spec){.link = DECODE_LINK_ETHERNET,
						 .ipver = v,
						 .proto = protos[i],
						 .payload = 48});
			assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st),
					 DECODE_FLOW);
			assert_int_equal(p.proto, protos[i]);
			assert_int_equal(p.sport, 0);
			assert_int_equal(p.dport, 0);
			assert_int_equal(p.payload_len, 48);
			assert_int_equal(p.l4_off, f.l4);
			assert_int_equal(st.other_ip, 1);
			assert_int_equal(st.tcp + st.udp + st.icmpv4 + st.icmpv6, 0);
		}
	}
}

static void
test_tcp_bad_offset(void **state)
{
	struct frame f;
	struct decode_pkt p;
	struct decode_stats st;

	(void)state;
	for (int v = 4; v <= 6; v += 2) {
		build(&f, &(struct spec){.link = DECODE_LINK_ETHERNET,
					 .ipver = v,
					 .proto = TCP,
					 .payload = 20});
		f.b[f.l4 + 12] = 4 << 4; /* 16 bytes */
		assert_invalid(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), &st,
			       DECODE_EV_TCP_BAD_HLEN);
		assert_int_equal(st.tcp, 0);
		f.b[f.l4 + 12] = 0;
		assert_invalid(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), &st,
			       DECODE_EV_TCP_BAD_HLEN);
		f.b[f.l4 + 12] = 15 << 4; /* 60 bytes: more than the 40 there */
		assert_invalid(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), &st,
			       DECODE_EV_TCP_TRUNC);
		f.b[f.l4 + 12] = 10 << 4; /* exactly the 40 there */
		assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), DECODE_FLOW);
		assert_int_equal(p.payload_len, 0);
	}
}

static void
test_udp_length(void **state)
{
	struct frame f;
	struct decode_pkt p;
	struct decode_stats st;

	(void)state;
	build(&f, &(struct spec){
			  .link = DECODE_LINK_ETHERNET, .ipver = 4, .proto = UDP, .payload = 10});
	put16(f.b + f.l4 + 4, 7);
	assert_invalid(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), &st, DECODE_EV_UDP_BAD_LEN);
	assert_int_equal(st.udp, 0);
	put16(f.b + f.l4 + 4, 0);
	assert_invalid(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), &st, DECODE_EV_UDP_BAD_LEN);

	put16(f.b + f.l4 + 4, 1000); /* beyond the IP payload: what is there counts */
	assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), DECODE_FLOW);
	assert_int_equal(p.payload_len, 10);
	assert_int_equal(ev_sum(&st), 0);

	put16(f.b + f.l4 + 4, 12); /* shorter than the IP payload: the UDP length counts */
	assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), DECODE_FLOW);
	assert_int_equal(p.payload_len, 4);

	put16(f.b + f.l4 + 4, 8);
	assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), DECODE_FLOW);
	assert_int_equal(p.payload_len, 0);
}

/* ------------------------------------------------------------------ */
/* Ethernet and VLAN                                                   */
/* ------------------------------------------------------------------ */

static void
test_vlan(void **state)
{
	struct frame f;
	struct decode_pkt p;
	struct decode_stats st;

	(void)state;
	build(&f, &(struct spec){.link = DECODE_LINK_ETHERNET,
				 .vlans = 1,
				 .ipver = 4,
				 .proto = TCP,
				 .payload = 7});
	put16(f.b + 12, 0x8100);
	assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), DECODE_FLOW);
	assert_int_equal(p.vlan[0], 10); /* PCP bits masked off */
	assert_int_equal(p.vlan[1], 0);
	assert_int_equal(p.l3_off, 18);
	assert_int_equal(p.l4_off, 38);
	assert_int_equal(p.payload_len, 7);
	assert_int_equal(st.vlan, 1);
	assert_int_equal(st.ethernet, 1);
	assert_int_equal(st.tcp, 1);
}

static void
test_qinq(void **state)
{
	static const unsigned tpids[][2] = {
		{0x88a8, 0x8100}, {0x9100, 0x8100}, {0x8100, 0x8100}, {0x88a8, 0x88a8}};
	struct frame f;
	struct decode_pkt p;
	struct decode_stats st;

	(void)state;
	for (size_t i = 0; i < sizeof(tpids) / sizeof(tpids[0]); i++) {
		build(&f, &(struct spec){.link = DECODE_LINK_ETHERNET,
					 .vlans = 2,
					 .ipver = 6,
					 .proto = UDP,
					 .payload = 9});
		put16(f.b + 12, tpids[i][0]);
		put16(f.b + 16, tpids[i][1]);
		assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), DECODE_FLOW);
		assert_int_equal(p.vlan[0], 10);
		assert_int_equal(p.vlan[1], 20);
		assert_int_equal(p.l3_off, 22);
		assert_int_equal(p.payload_len, 9);
		assert_int_equal(st.vlan, 1); /* once per packet, not per tag */
		assert_int_equal(st.ipv6, 1);
		assert_int_equal(st.udp, 1);
	}
}

static void
test_vlan_too_many(void **state)
{
	struct frame f;
	struct decode_pkt p;
	struct decode_stats st;

	(void)state;
	build(&f,
	      &(struct spec){.link = DECODE_LINK_ETHERNET, .vlans = 3, .ipver = 4, .proto = TCP});
	assert_invalid(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), &st,
		       DECODE_EV_VLAN_TOO_MANY);
	assert_int_equal(st.vlan, 1);
	assert_int_equal(st.ipv4, 0);

	/* the third TPID alone is enough: its tag need not be there */
	memset(&st, 0, sizeof(st));
	assert_int_equal(decode(DECODE_LINK_ETHERNET, f.b, 22, &p, &st), DECODE_INVALID);
	assert_int_equal(st.events[DECODE_EV_VLAN_TOO_MANY], 1);
}

static void
test_vlan_trunc(void **state)
{
	struct frame f;
	struct decode_pkt p;
	struct decode_stats st;

	(void)state;
	build(&f,
	      &(struct spec){.link = DECODE_LINK_ETHERNET, .vlans = 2, .ipver = 4, .proto = TCP});
	for (size_t len = 14; len < 22; len++) {
		memset(&st, 0, sizeof(st));
		assert_int_equal(decode(DECODE_LINK_ETHERNET, f.b, len, &p, &st), DECODE_INVALID);
		assert_int_equal(st.events[DECODE_EV_VLAN_TRUNC], 1);
		assert_int_equal(st.vlan, 1);
		assert_int_equal(st.ethernet, 1);
	}
	for (size_t len = 0; len < 14; len++) {
		memset(&st, 0, sizeof(st));
		assert_int_equal(decode(DECODE_LINK_ETHERNET, f.b, len, &p, &st), DECODE_INVALID);
		assert_int_equal(st.events[DECODE_EV_ETH_TRUNC], 1);
		assert_int_equal(st.ethernet + st.vlan, 0);
	}
}

static void
test_non_ip(void **state)
{
	static const unsigned types[] = {0x0806, 0x88cc, 0x8035, 0x0026, 0x8863, 0x0000, 0xffff};
	struct frame f;
	struct decode_pkt p;
	struct decode_stats st;

	(void)state;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		build(&f, &(struct spec){.link = DECODE_LINK_ETHERNET, .ipver = 4, .proto = TCP});
		put16(f.b + 12, types[i]);
		assert_non_ip(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), &st);
		assert_int_equal(st.ethernet, 1);
		assert_int_equal(st.ipv4, 0);
	}

	/* ARP in a VLAN; and a bare 14-byte header */
	build(&f,
	      &(struct spec){.link = DECODE_LINK_ETHERNET, .vlans = 1, .ipver = 4, .proto = TCP});
	put16(f.b + 16, 0x0806);
	assert_non_ip(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), &st);
	assert_int_equal(st.vlan, 1);
	assert_int_equal(p.vlan[0], 10);
	put16(f.b + 12, 0x0806);
	memset(&st, 0, sizeof(st));
	assert_non_ip(decode(DECODE_LINK_ETHERNET, f.b, 14, &p, &st), &st);
}

/* PPPoE session frames (an extension beyond the link types asked for). */
static void
test_pppoe(void **state)
{
	uint8_t b[256];
	size_t off = 0, l3, l4;
	struct decode_pkt p;
	struct decode_stats st;

	(void)state;
	off += w_eth(b, 0x8864);
	b[off] = 0x11;	/* version 1, type 1 */
	b[off + 1] = 0; /* session data */
	put16(b + off + 2, 0x0042);
	put16(b + off + 4, 2 + 20 + 8 + 4);
	off += 6;
	put16(b + off, 0x0021);
	off += 2;
	l3 = off;
	off += w_ipv4(b + off, UDP, 0);
	l4 = off;
	off += w_udp(b + off, 1234, 53);
	off += w_payload(b + off, 4);
	put16(b + l3 + 2, (unsigned)(off - l3));
	put16(b + l4 + 4, (unsigned)(off - l4));

	memset(&st, 0, sizeof(st));
	assert_int_equal(decode(DECODE_LINK_ETHERNET, b, off, &p, &st), DECODE_FLOW);
	assert_int_equal(p.l3_off, 22);
	assert_int_equal(p.dport, 53);
	assert_int_equal(p.payload_len, 4);
	for (size_t len = 14; len < l3; len++) {
		memset(&st, 0, sizeof(st));
		assert_invalid(decode(DECODE_LINK_ETHERNET, b, len, &p, &st), &st,
			       DECODE_EV_LINK_TRUNC);
	}
	put16(b + 20, 0xc021); /* LCP */
	memset(&st, 0, sizeof(st));
	assert_non_ip(decode(DECODE_LINK_ETHERNET, b, off, &p, &st), &st);
}

/* ------------------------------------------------------------------ */
/* Other link types                                                    */
/* ------------------------------------------------------------------ */

/* Replace the link header of f (hlen bytes) with hdr (n bytes). */
static void
relink(struct frame *f, size_t hlen, const uint8_t *hdr, size_t n)
{
	memmove(f->b + n, f->b + hlen, f->len - hlen);
	memcpy(f->b, hdr, n);
	f->len = f->len - hlen + n;
	f->l3 = f->l3 - hlen + n;
	f->l4 = f->l4 - hlen + n;
	f->l4_end = f->l4_end - hlen + n;
}

static void
assert_link(int link, const uint8_t *hdr, size_t n, int ipver, enum decode_result want)
{
	struct frame f;
	struct decode_pkt p;
	struct decode_stats st;

	build(&f,
	      &(struct spec){.link = DECODE_LINK_RAW, .ipver = ipver, .proto = TCP, .payload = 3});
	relink(&f, 0, hdr, n);
	if (want == DECODE_NON_IP) {
		assert_non_ip(decode_frame(link, &f, &p, &st), &st);
		return;
	}
	assert_int_equal(decode_frame(link, &f, &p, &st), DECODE_FLOW);
	assert_addrs(&p, ipver);
	assert_int_equal(p.l3_off, n);
	assert_int_equal(p.dport, 443);
	assert_int_equal(p.payload_len, 3);
	assert_int_equal(ev_sum(&st), 0);
	for (size_t len = 0; len < n; len++) {
		memset(&st, 0, sizeof(st));
		assert_invalid(decode(link, f.b, len, &p, &st), &st, DECODE_EV_LINK_TRUNC);
	}
}

static void
test_link_null(void **state)
{
	static const uint32_t v6[] = {10, 24, 28, 30};
	uint32_t af;
	uint8_t hdr[4];

	(void)state;
	af = 2;
	memcpy(hdr, &af, 4); /* host order */
	assert_link(DECODE_LINK_NULL, hdr, 4, 4, DECODE_FLOW);
	put32(hdr, 2); /* a big-endian capturer on a little-endian reader, or the reverse */
	assert_link(DECODE_LINK_NULL, hdr, 4, 4, DECODE_FLOW);
	hdr[0] = 2;
	hdr[1] = hdr[2] = hdr[3] = 0;
	assert_link(DECODE_LINK_NULL, hdr, 4, 4, DECODE_FLOW);
	for (size_t i = 0; i < 4; i++) {
		memcpy(hdr, &v6[i], 4);
		assert_link(DECODE_LINK_NULL, hdr, 4, 6, DECODE_FLOW);
		put32(hdr, v6[i]);
		assert_link(DECODE_LINK_NULL, hdr, 4, 6, DECODE_FLOW);
	}
	af = 7; /* AF_NS or whatever: not IP */
	memcpy(hdr, &af, 4);
	assert_link(DECODE_LINK_NULL, hdr, 4, 4, DECODE_NON_IP);
}

static void
test_link_loop(void **state)
{
	static const uint32_t v6[] = {10, 24, 28, 30};
	uint8_t hdr[4];

	(void)state;
	put32(hdr, 2);
	assert_link(DECODE_LINK_LOOP, hdr, 4, 4, DECODE_FLOW);
	for (size_t i = 0; i < 4; i++) {
		put32(hdr, v6[i]);
		assert_link(DECODE_LINK_LOOP, hdr, 4, 6, DECODE_FLOW);
	}
	put32(hdr, 0x02000000); /* little-endian 2: LOOP is network order only */
	assert_link(DECODE_LINK_LOOP, hdr, 4, 4, DECODE_NON_IP);
	put32(hdr, 17);
	assert_link(DECODE_LINK_LOOP, hdr, 4, 4, DECODE_NON_IP);
}

static void
test_link_ppp(void **state)
{
	static const int ppp[] = {DECODE_LINK_PPP, DECODE_LINK_PPP_SERIAL};
	static const uint8_t ac4[] = {0xff, 0x03, 0x00, 0x21}, ac6[] = {0xff, 0x03, 0x00, 0x57};
	static const uint8_t bare4[] = {0x00, 0x21}, bare6[] = {0x00, 0x57};
	static const uint8_t pfc4[] = {0x21}, ac_pfc6[] = {0xff, 0x03, 0x57};
	static const uint8_t lcp[] = {0xff, 0x03, 0xc0, 0x21}, ipcp[] = {0x80, 0x21};
	static const uint8_t hdlc4[] = {0x0f, 0x00, 0x08, 0x00}, hdlc6[] = {0x8f, 0x00, 0x86, 0xdd};
	static const uint8_t slarp[] = {0x8f, 0x00, 0x80, 0x35};

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		assert_link(ppp[i], ac4, sizeof(ac4), 4, DECODE_FLOW);
		assert_link(ppp[i], ac6, sizeof(ac6), 6, DECODE_FLOW);
		assert_link(ppp[i], bare4, sizeof(bare4), 4, DECODE_FLOW);
		assert_link(ppp[i], bare6, sizeof(bare6), 6, DECODE_FLOW);
		assert_link(ppp[i], pfc4, sizeof(pfc4), 4, DECODE_FLOW);
		assert_link(ppp[i], ac_pfc6, sizeof(ac_pfc6), 6, DECODE_FLOW);
		assert_link(ppp[i], lcp, sizeof(lcp), 4, DECODE_NON_IP);
		assert_link(ppp[i], ipcp, sizeof(ipcp), 4, DECODE_NON_IP);
		/* Cisco HDLC frames in captures labelled PPP */
		assert_link(ppp[i], hdlc4, sizeof(hdlc4), 4, DECODE_FLOW);
		assert_link(ppp[i], hdlc6, sizeof(hdlc6), 6, DECODE_FLOW);
		assert_link(ppp[i], slarp, sizeof(slarp), 4, DECODE_NON_IP);
	}
}

static void
test_link_c_hdlc(void **state)
{
	static const uint8_t hdlc4[] = {0x0f, 0x00, 0x08, 0x00}, hdlc6[] = {0x8f, 0x00, 0x86, 0xdd};
	static const uint8_t slarp[] = {0x8f, 0x00, 0x80, 0x35};

	(void)state;
	assert_link(DECODE_LINK_C_HDLC, hdlc4, 4, 4, DECODE_FLOW);
	assert_link(DECODE_LINK_C_HDLC, hdlc6, 4, 6, DECODE_FLOW);
	assert_link(DECODE_LINK_C_HDLC, slarp, 4, 4, DECODE_NON_IP);
}

static void
test_link_sll(void **state)
{
	uint8_t hdr[16] = {0, 4, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00};

	(void)state;
	assert_link(DECODE_LINK_LINUX_SLL, hdr, 16, 4, DECODE_FLOW);
	put16(hdr + 14, 0x86dd);
	assert_link(DECODE_LINK_LINUX_SLL, hdr, 16, 6, DECODE_FLOW);
	put16(hdr + 14, 0x0806);
	assert_link(DECODE_LINK_LINUX_SLL, hdr, 16, 4, DECODE_NON_IP);
}

static void
test_link_raw(void **state)
{
	struct frame f;
	struct decode_pkt p;
	struct decode_stats st;
	static const int raw[] = {DECODE_LINK_RAW, DECODE_LINK_IPV4, DECODE_LINK_IPV6};

	(void)state;
	/* the version nibble decides, whatever the raw link type says */
	for (size_t i = 0; i < 3; i++) {
		for (int v = 4; v <= 6; v += 2) {
			build(&f, &(struct spec){.link = raw[i], .ipver = v, .proto = UDP});
			assert_int_equal(decode_frame(raw[i], &f, &p, &st), DECODE_FLOW);
			assert_addrs(&p, v);
			assert_int_equal(p.l3_off, 0);
			assert_int_equal(v == 4 ? st.ipv4 : st.ipv6, 1);
		}
	}
	/* no nibble or a bogus one: the link's own version reports it */
	build(&f, &(struct spec){.link = DECODE_LINK_RAW, .ipver = 4, .proto = UDP, .payload = 20});
	f.b[0] = 0x55;
	assert_invalid(decode_frame(DECODE_LINK_RAW, &f, &p, &st), &st, DECODE_EV_IPV4_BAD_VER);
	assert_invalid(decode_frame(DECODE_LINK_IPV4, &f, &p, &st), &st, DECODE_EV_IPV4_BAD_VER);
	assert_invalid(decode_frame(DECODE_LINK_IPV6, &f, &p, &st), &st, DECODE_EV_IPV6_BAD_VER);
	memset(&st, 0, sizeof(st));
	assert_invalid(decode(DECODE_LINK_RAW, f.b, 0, &p, &st), &st, DECODE_EV_IPV4_TRUNC);
	memset(&st, 0, sizeof(st));
	assert_invalid(decode(DECODE_LINK_IPV6, f.b, 0, &p, &st), &st, DECODE_EV_IPV6_TRUNC);
}

/* ------------------------------------------------------------------ */
/* IPv4                                                                */
/* ------------------------------------------------------------------ */

static void
test_ipv4_options(void **state)
{
	struct frame f;
	struct decode_pkt p;
	struct decode_stats st;

	(void)state;
	for (size_t opt = 4; opt <= 40; opt += 12) {
		build(&f, &(struct spec){.link = DECODE_LINK_ETHERNET,
					 .ipver = 4,
					 .proto = TCP,
					 .ip_opt = opt,
					 .payload = 11});
		assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), DECODE_FLOW);
		assert_int_equal(p.l4_off, 14 + 20 + opt);
		assert_int_equal(p.sport, 40000);
		assert_int_equal(p.payload_len, 11);
	}
}

static void
test_ipv4_bad_header(void **state)
{
	struct frame f;
	struct decode_pkt p;
	struct decode_stats st;

	(void)state;
	build(&f, &(struct spec){.link = DECODE_LINK_ETHERNET, .ipver = 4, .proto = TCP});
	f.b[14] = 0x44; /* IHL 4: 16 bytes */
	assert_invalid(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), &st,
		       DECODE_EV_IPV4_BAD_HLEN);
	assert_int_equal(st.ipv4, 0);
	f.b[14] = 0x40;
	assert_invalid(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), &st,
		       DECODE_EV_IPV4_BAD_HLEN);
	f.b[14] = 0x4f; /* IHL 15: 60 bytes, 40 captured */
	assert_invalid(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), &st, DECODE_EV_IPV4_TRUNC);
	f.b[14] = 0x65; /* IPv6 nibble under ethertype IPv4 */
	assert_invalid(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), &st,
		       DECODE_EV_IPV4_BAD_VER);
	f.b[14] = 0x45;
	put16(f.b + 16, 19); /* total length below the header length */
	assert_invalid(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), &st,
		       DECODE_EV_IPV4_BAD_LEN);
	put16(f.b + 16, 0);
	assert_invalid(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), &st,
		       DECODE_EV_IPV4_BAD_LEN);
	put16(f.b + 16, 20); /* header only: TCP is not there */
	assert_invalid(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), &st, DECODE_EV_TCP_TRUNC);
	assert_int_equal(st.ipv4, 1);
}

static void
test_ipv4_frag(void **state)
{
	static const unsigned frag[] = {0x2000, 0x00b9, 0x20b9, 0x3fff, 0x6001};
	struct frame f;
	struct decode_pkt p;
	struct decode_stats st;

	(void)state;
	for (size_t i = 0; i < sizeof(frag) / sizeof(frag[0]); i++) {
		build(&f, &(struct spec){.link = DECODE_LINK_ETHERNET,
					 .ipver = 4,
					 .proto = UDP,
					 .payload = 16});
		put16(f.b + f.l3 + 6, frag[i]);
		assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), DECODE_FRAG);
		assert_int_equal(st.frag, 1);
		assert_int_equal(st.ipv4, 1);
		assert_int_equal(st.udp + st.invalid + ev_sum(&st), 0);
		assert_addrs(&p, 4);
		assert_int_equal(p.proto, UDP);
		assert_int_equal(p.l3_off, 14);
		assert_int_equal(p.l4_off, 34);
		assert_int_equal(p.frag_id, 0x1234);
		assert_int_equal(p.frag_off, (frag[i] & 0x1fff) * 8);
		assert_int_equal(p.frag_more, (frag[i] & 0x2000) != 0);
		assert_int_equal(p.payload_len, 8 + 16);
		/* only a first fragment gives its ports */
		assert_int_equal(p.frag_ports, p.frag_off == 0);
		assert_int_equal(p.sport, p.frag_off == 0 ? 5353 : 0);
		assert_int_equal(p.dport, p.frag_off == 0 ? 53 : 0);
	}
	/* a fragment's L4 header is not required: 1 byte of "TCP" is fine */
	build(&f,
	      &(struct spec){.link = DECODE_LINK_ETHERNET, .ipver = 4, .proto = 250, .payload = 1});
	f.b[f.l3 + 9] = TCP;
	put16(f.b + f.l3 + 6, 0x0010);
	assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), DECODE_FRAG);
	assert_int_equal(p.proto, TCP);
	assert_int_equal(st.invalid, 0);
	put16(f.b + f.l3 + 6, 0x2000); /* first fragment, but its 1 byte holds no ports */
	assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), DECODE_FRAG);
	assert_int_equal(p.frag_ports, 0);
	assert_int_equal(p.sport + p.dport, 0);
	/* a first TCP fragment gives ports and flags */
	build(&f, &(struct spec){.link = DECODE_LINK_ETHERNET, .ipver = 4, .proto = TCP});
	put16(f.b + f.l3 + 6, 0x2000);
	assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), DECODE_FRAG);
	assert_int_equal(p.frag_ports, 1);
	assert_int_equal(p.sport, 40000);
	assert_int_equal(p.dport, 443);
	assert_int_equal(p.tcp_flags, DECODE_TCP_SYN | DECODE_TCP_ACK);
	assert_int_equal(st.tcp, 0);
	/* DF alone (and the reserved bit) is not a fragment */
	build(&f, &(struct spec){.link = DECODE_LINK_ETHERNET, .ipver = 4, .proto = UDP});
	put16(f.b + f.l3 + 6, 0xc000);
	assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), DECODE_FLOW);
	assert_int_equal(st.frag, 0);
}

/* Captured bytes beyond the IP length (Ethernet padding, FCS) are not payload. */
static void
test_padding(void **state)
{
	struct frame f;
	struct decode_pkt p;
	struct decode_stats st;

	(void)state;
	build(&f,
	      &(struct spec){.link = DECODE_LINK_ETHERNET, .ipver = 4, .proto = UDP, .payload = 2});
	memset(f.b + f.len, 0xee, 60 - f.len);
	f.len = 60;
	put16(f.b + f.l4 + 4, 8 + 18); /* a lying UDP length is bounded by IP too */
	assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), DECODE_FLOW);
	assert_int_equal(p.payload_len, 2);
	assert_int_equal(ev_sum(&st), 0);

	build(&f, &(struct spec){.link = DECODE_LINK_ETHERNET, .ipver = 4, .proto = TCP});
	memset(f.b + f.len, 0, 60 - f.len);
	f.len = 60;
	assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), DECODE_FLOW);
	assert_int_equal(p.payload_len, 0);

	build(&f,
	      &(struct spec){.link = DECODE_LINK_ETHERNET, .ipver = 4, .proto = GRE, .payload = 4});
	f.len += 4; /* FCS */
	assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), DECODE_FLOW);
	assert_int_equal(p.payload_len, 4);

	build(&f, &(struct spec){.link = DECODE_LINK_ETHERNET,
				 .ipver = 6,
				 .proto = TCP,
				 .ext = EXT_HBH_DST_FRAG,
				 .payload = 1});
	f.len += 4;
	assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), DECODE_FLOW);
	assert_int_equal(p.payload_len, 1);
	assert_int_equal(ev_sum(&st), 0);
}

/* A snaplen-cut packet still flows, counted as trunc_pkt. */
static void
test_snaplen(void **state)
{
	struct frame f;
	struct decode_pkt p;
	struct decode_stats st;

	(void)state;
	build(&f, &(struct spec){
			  .link = DECODE_LINK_ETHERNET, .ipver = 4, .proto = TCP, .payload = 1400});
	memset(&st, 0, sizeof(st));
	assert_int_equal(decode(DECODE_LINK_ETHERNET, f.b, 96, &p, &st), DECODE_FLOW);
	assert_int_equal(p.payload_len, 96 - 54);
	assert_int_equal(p.dport, 443);
	assert_int_equal(st.events[DECODE_EV_IPV4_TRUNC_PKT], 1);
	assert_int_equal(ev_sum(&st), 1);
	assert_int_equal(st.invalid, 0);
	assert_int_equal(st.tcp, 1);

	build(&f, &(struct spec){
			  .link = DECODE_LINK_ETHERNET, .ipver = 6, .proto = UDP, .payload = 1400});
	memset(&st, 0, sizeof(st));
	assert_int_equal(decode(DECODE_LINK_ETHERNET, f.b, 128, &p, &st), DECODE_FLOW);
	assert_int_equal(p.payload_len, 128 - 62);
	assert_int_equal(st.events[DECODE_EV_IPV6_TRUNC_PKT], 1);
	assert_int_equal(ev_sum(&st), 1);

	/* a cut fragment is a fragment, and cut */
	build(&f, &(struct spec){
			  .link = DECODE_LINK_ETHERNET, .ipver = 4, .proto = UDP, .payload = 1400});
	put16(f.b + f.l3 + 6, 0x2000);
	memset(&st, 0, sizeof(st));
	assert_int_equal(decode(DECODE_LINK_ETHERNET, f.b, 100, &p, &st), DECODE_FRAG);
	assert_int_equal(st.events[DECODE_EV_IPV4_TRUNC_PKT], 1);
	assert_int_equal(st.frag, 1);
}

/* ------------------------------------------------------------------ */
/* IPv6                                                                */
/* ------------------------------------------------------------------ */

static void
test_ipv6_bad_header(void **state)
{
	struct frame f;
	struct decode_pkt p;
	struct decode_stats st;

	(void)state;
	build(&f, &(struct spec){.link = DECODE_LINK_ETHERNET, .ipver = 6, .proto = TCP});
	f.b[14] = 0x45;
	assert_invalid(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), &st,
		       DECODE_EV_IPV6_BAD_VER);
	assert_int_equal(st.ipv6, 0);
	f.b[14] = 0x60;
	memset(&st, 0, sizeof(st));
	assert_invalid(decode(DECODE_LINK_ETHERNET, f.b, 14 + 39, &p, &st), &st,
		       DECODE_EV_IPV6_TRUNC);
}

static void
test_ipv6_exthdrs(void **state)
{
	struct frame f;
	struct decode_pkt p;
	struct decode_stats st;
	size_t off;

	(void)state;
	build(&f, &(struct spec){.link = DECODE_LINK_ETHERNET,
				 .ipver = 6,
				 .proto = TCP,
				 .ext = EXT_HBH_DST_FRAG,
				 .payload = 9});
	assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), DECODE_FLOW);
	assert_int_equal(p.proto, TCP);
	assert_int_equal(p.l4_off, 14 + 40 + 8 + 16 + 8);
	assert_int_equal(p.sport, 40000);
	assert_int_equal(p.payload_len, 9);
	assert_int_equal(st.frag, 0); /* atomic fragment */
	assert_int_equal(st.tcp, 1);

	/* routing, AH, mobility, HIP, shim6 */
	off = w_eth(f.b, 0x86dd);
	off += w_ipv6(f.b + off, ROUTING);
	off += w_ext(f.b + off, AH, 2);
	off += w_ah(f.b + off, MH, 4);
	off += w_ext(f.b + off, HIP, 0);
	off += w_ext(f.b + off, SHIM6, 1);
	off += w_ext(f.b + off, UDP, 0);
	f.l4 = off;
	off += w_udp(f.b + off, 500, 4500);
	off += w_payload(f.b + off, 6);
	put16(f.b + 18, (unsigned)(off - 54));
	put16(f.b + f.l4 + 4, (unsigned)(off - f.l4));
	f.len = off;
	assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), DECODE_FLOW);
	assert_int_equal(p.proto, UDP);
	assert_int_equal(p.l4_off, f.l4);
	assert_int_equal(p.l4_off, 14 + 40 + 24 + 24 + 8 + 16 + 8);
	assert_int_equal(p.dport, 4500);
	assert_int_equal(p.payload_len, 6);
}

/* ESP and No Next Header end the walk: flowed by number. */
static void
test_ipv6_esp_nonext(void **state)
{
	struct frame f;
	struct decode_pkt p;
	struct decode_stats st;

	(void)state;
	build(&f, &(struct spec){.link = DECODE_LINK_ETHERNET,
				 .ipver = 6,
				 .proto = ESP,
				 .ext = EXT_HBH_DST_FRAG,
				 .payload = 40});
	assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), DECODE_FLOW);
	assert_int_equal(p.proto, ESP);
	assert_int_equal(p.payload_len, 40);
	assert_int_equal(st.other_ip, 1);
	build(&f, &(struct spec){.link = DECODE_LINK_ETHERNET, .ipver = 6, .proto = NONXT});
	assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), DECODE_FLOW);
	assert_int_equal(p.proto, NONXT);
	assert_int_equal(p.payload_len, 0);
	assert_int_equal(st.other_ip, 1);
}

/* n destination-options headers, then UDP. */
static void
build_ext_chain(struct frame *f, int n)
{
	size_t off = w_eth(f->b, 0x86dd);

	off += w_ipv6(f->b + off, n ? DSTOPTS : UDP);
	for (int i = 0; i < n; i++)
		off += w_ext(f->b + off, i + 1 < n ? DSTOPTS : UDP, 0);
	f->l4 = off;
	off += w_udp(f->b + off, 1, 2);
	put16(f->b + 18, (unsigned)(off - 54));
	put16(f->b + f->l4 + 4, 8);
	f->len = off;
}

static void
test_ipv6_exthdr_limit(void **state)
{
	struct frame f;
	struct decode_pkt p;
	struct decode_stats st;

	(void)state;
	for (int n = 0; n <= 8; n++) {
		build_ext_chain(&f, n);
		assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), DECODE_FLOW);
		assert_int_equal(p.l4_off, 54 + 8 * n);
		assert_int_equal(p.proto, UDP);
	}
	for (int n = 9; n <= 12; n++) {
		build_ext_chain(&f, n);
		assert_invalid(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), &st,
			       DECODE_EV_IPV6_EXTHDR_TOO_MANY);
		assert_int_equal(st.udp, 0);
	}
	/* a header chain that loops on itself is bounded the same way */
	build_ext_chain(&f, 12);
	for (size_t off = 54; off < f.l4; off += 8)
		f.b[off] = HOPOPTS;
	assert_invalid(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), &st,
		       DECODE_EV_IPV6_EXTHDR_TOO_MANY);
}

static void
test_ipv6_exthdr_trunc(void **state)
{
	struct frame f;
	struct decode_pkt p;
	struct decode_stats st;

	(void)state;
	/* a header longer than the packet */
	build(&f, &(struct spec){.link = DECODE_LINK_ETHERNET,
				 .ipver = 6,
				 .proto = TCP,
				 .ext = EXT_HBH_DST_FRAG});
	f.b[54 + 1] = 200;
	assert_invalid(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), &st,
		       DECODE_EV_IPV6_EXTHDR_TRUNC);
	assert_int_equal(st.ipv6, 1);
	/* a header longer than the payload length, with bytes captured after it */
	build(&f, &(struct spec){.link = DECODE_LINK_ETHERNET,
				 .ipver = 6,
				 .proto = TCP,
				 .ext = EXT_HBH_DST_FRAG,
				 .payload = 100});
	put16(f.b + 18, 20);
	assert_invalid(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), &st,
		       DECODE_EV_IPV6_EXTHDR_TRUNC);
	/* an AH longer than what is there */
	build_ext_chain(&f, 0);
	f.b[20] = AH;
	put16(f.b + 18, 8);
	f.b[54] = UDP;
	f.b[55] = 1; /* 12 bytes */
	assert_invalid(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), &st,
		       DECODE_EV_IPV6_EXTHDR_TRUNC);
}

static void
test_ipv6_frag(void **state)
{
	static const struct {
		unsigned offset8;
		int more;
	} frags[] = {{0, 1}, {185, 0}, {185, 1}, {8191, 0}};
	struct frame f;
	struct decode_pkt p;
	struct decode_stats st;
	size_t fh = 14 + 40 + 8 + 16;

	(void)state;
	for (size_t i = 0; i < sizeof(frags) / sizeof(frags[0]); i++) {
		build(&f, &(struct spec){.link = DECODE_LINK_ETHERNET,
					 .ipver = 6,
					 .proto = UDP,
					 .ext = EXT_HBH_DST_FRAG,
					 .payload = 30});
		w_frag6(f.b + fh, UDP, frags[i].offset8, frags[i].more);
		assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), DECODE_FRAG);
		assert_int_equal(st.frag, 1);
		assert_int_equal(st.ipv6, 1);
		assert_int_equal(st.udp + st.invalid + ev_sum(&st), 0);
		assert_addrs(&p, 6);
		assert_int_equal(p.proto, UDP);
		assert_int_equal(p.l4_off, fh + 8);
		assert_int_equal(p.frag_id, 0xcafe);
		assert_int_equal(p.frag_off, frags[i].offset8 * 8);
		assert_int_equal(p.frag_more, frags[i].more);
		assert_int_equal(p.frag_ports, frags[i].offset8 == 0);
		assert_int_equal(p.sport, frags[i].offset8 == 0 ? 5353 : 0);
		assert_int_equal(p.dport, frags[i].offset8 == 0 ? 53 : 0);
	}
	/* the reserved bits alone do not make a fragment */
	build(&f, &(struct spec){.link = DECODE_LINK_ETHERNET,
				 .ipver = 6,
				 .proto = UDP,
				 .ext = EXT_HBH_DST_FRAG});
	put16(f.b + fh + 2, 0x0006);
	assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), DECODE_FLOW);
	assert_int_equal(st.frag, 0);
}

/* Payload length 0 (jumbogram): what was captured is the packet. */
static void
test_ipv6_plen_zero(void **state)
{
	struct frame f;
	struct decode_pkt p;
	struct decode_stats st;

	(void)state;
	build(&f, &(struct spec){
			  .link = DECODE_LINK_ETHERNET, .ipver = 6, .proto = TCP, .payload = 77});
	put16(f.b + 18, 0);
	assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), DECODE_FLOW);
	assert_int_equal(p.payload_len, 77);
	assert_int_equal(ev_sum(&st), 0);
}

/* ------------------------------------------------------------------ */
/* Every truncation point                                              */
/* ------------------------------------------------------------------ */

static int
is_link_event(enum decode_event ev)
{
	return ev == DECODE_EV_LINK_TRUNC || ev == DECODE_EV_ETH_TRUNC ||
	       ev == DECODE_EV_VLAN_TRUNC;
}

static int
is_ip_event(enum decode_event ev)
{
	return ev == DECODE_EV_IPV4_TRUNC || ev == DECODE_EV_IPV6_TRUNC ||
	       ev == DECODE_EV_IPV6_EXTHDR_TRUNC;
}

static int
is_l4_event(enum decode_event ev)
{
	return ev == DECODE_EV_TCP_TRUNC || ev == DECODE_EV_UDP_TRUNC ||
	       ev == DECODE_EV_ICMPV4_TRUNC || ev == DECODE_EV_ICMPV6_TRUNC;
}

static enum decode_event
only_event(const struct decode_stats *st)
{
	for (int i = 0; i < DECODE_EV_MAX; i++)
		if (st->events[i])
			return (enum decode_event)i;
	fail_msg("no event counted");
	return DECODE_EV_MAX;
}

/*
 * Cut the frame of spec s at every length: below the end of the L4 header
 * it is invalid, with one event of the layer it was cut in; from there on
 * it flows, with <ip>.trunc_pkt counted unless it is whole.
 */
static void
sweep(const struct spec *s)
{
	struct frame f;
	struct decode_pkt p;
	struct decode_stats st;
	enum decode_event cut = s->ipver == 4 ? DECODE_EV_IPV4_TRUNC_PKT : DECODE_EV_IPV6_TRUNC_PKT;

	build(&f, s);
	for (size_t len = 0; len <= f.len; len++) {
		enum decode_result r;

		memset(&st, 0, sizeof(st));
		r = decode(s->link, f.b, len, &p, &st);
		if (len < f.l4_end) {
			enum decode_event ev;

			assert_int_equal(r, DECODE_INVALID);
			assert_int_equal(st.invalid, 1);
			assert_int_equal(ev_sum(&st), 1);
			ev = only_event(&st);
			if (len < f.l3)
				assert_true(is_link_event(ev));
			else if (len < f.l4)
				assert_true(is_ip_event(ev));
			else
				assert_true(is_l4_event(ev));
			continue;
		}
		assert_int_equal(r, DECODE_FLOW);
		assert_int_equal(st.invalid, 0);
		assert_int_equal(st.events[cut], len < f.len);
		assert_int_equal(ev_sum(&st), len < f.len);
		assert_int_equal(p.l4_off, f.l4);
		assert_int_equal(p.payload_len, len - f.l4_end);
		assert_int_equal(p.proto, s->proto);
	}
}

static void
test_trunc_tcp4(void **state)
{
	(void)state;
	sweep(&(struct spec){.link = DECODE_LINK_ETHERNET,
			     .ipver = 4,
			     .proto = TCP,
			     .ip_opt = 8,
			     .l4_opt = 12,
			     .payload = 20});
	sweep(&(struct spec){.link = DECODE_LINK_ETHERNET, .ipver = 4, .proto = TCP, .payload = 5});
}

static void
test_trunc_tcp6(void **state)
{
	(void)state;
	sweep(&(struct spec){.link = DECODE_LINK_ETHERNET,
			     .ipver = 6,
			     .proto = TCP,
			     .ext = EXT_HBH_DST_FRAG,
			     .l4_opt = 12,
			     .payload = 20});
	sweep(&(struct spec){.link = DECODE_LINK_ETHERNET, .ipver = 6, .proto = TCP, .payload = 5});
}

/* Every link type, with VLANs, every L4 protocol. */
static void
test_trunc_all(void **state)
{
	static const uint8_t protos[] = {TCP, UDP, ICMP, ICMP6, ESP};

	(void)state;
	for (size_t i = 0; i < NLINKS; i++)
		for (size_t j = 0; j < sizeof(protos); j++)
			for (int v = 4; v <= 6; v += 2)
				sweep(&(struct spec){.link = links[i],
						     .ipver = v,
						     .proto = protos[j],
						     .l4_opt = 4,
						     .ext = v == 6 ? EXT_HBH_DST_FRAG : EXT_NONE,
						     .payload = 3});
	for (int n = 1; n <= 2; n++)
		sweep(&(struct spec){.link = DECODE_LINK_ETHERNET,
				     .vlans = n,
				     .ipver = 4,
				     .proto = TCP,
				     .payload = 3});
}

/* ------------------------------------------------------------------ */
/* Tunnels                                                             */
/* ------------------------------------------------------------------ */

/*
 * A tunnelled frame is built inside out: build() makes the inner packet
 * (raw IP, or Ethernet for the tunnels that carry frames), wrap() puts one
 * tunnel layer with its outer IP header in front of it (offsets shift, the
 * outer lengths are patched), and an Ethernet header goes on last. Outer
 * addresses differ from the inner ones (ip4_a/b, ip6_a/b).
 */
static const uint8_t ip4_c[4] = {203, 0, 113, 9};
static const uint8_t ip4_d[4] = {203, 0, 113, 77};
static const uint8_t ip6_c[16] = {0x20, 0x01, 0x0d, 0xb8, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9};
static const uint8_t ip6_d[16] = {0x20, 0x01, 0x0d, 0xb8, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 77};

enum tun {
	TUN_IPIP,	 /* protocol 4 or 41 after the inner version */
	TUN_GRE,	 /* version 0, no options, IPv4 or IPv6 */
	TUN_GRE_CKS,	 /* version 0 with checksum, key and sequence */
	TUN_GRE_TEB,	 /* 0x6558: an Ethernet frame inside */
	TUN_PPTP,	 /* version 1 with key, sequence, ack; PPP inside */
	TUN_ERSPAN1,	 /* 0x88be without sequence: bare Ethernet */
	TUN_ERSPAN2,	 /* 0x88be with sequence: 8-byte header, Ethernet */
	TUN_VXLAN,	 /* UDP 4789, Ethernet inside */
	TUN_TEREDO,	 /* UDP from 3544, IPv6 inside */
	TUN_TEREDO_AUTH, /* to 3544, authentication and origin indications first */
	TUN_N
};

/* Does tunnel t carry an Ethernet frame (else an IP packet)? */
static int
tun_eth(enum tun t)
{
	return t == TUN_GRE_TEB || t == TUN_ERSPAN1 || t == TUN_ERSPAN2 || t == TUN_VXLAN;
}

static uint8_t
tun_kind(enum tun t)
{
	switch (t) {
	case TUN_IPIP:
		return 1; /* FLOW_RECORD_TUNNEL_IPIP */
	case TUN_VXLAN:
		return 3;
	case TUN_TEREDO:
	case TUN_TEREDO_AUTH:
		return 4;
	default:
		return 2; /* GRE */
	}
}

/* Put n bytes of hdr in front of f. */
static void
prepend(struct frame *f, const uint8_t *hdr, size_t n)
{
	assert_true(f->len + n <= FRAME_MAX);
	memmove(f->b + n, f->b, f->len);
	memcpy(f->b, hdr, n);
	f->len += n;
	f->l3 += n;
	f->l4 += n;
	f->l4_end += n;
}

/* An Ethernet header for the packet in f (IP of its version nibble). */
static void
eth_prepend(struct frame *f)
{
	uint8_t h[14];

	w_eth(h, f->b[0] >> 4 == 6 ? 0x86dd : 0x0800);
	prepend(f, h, sizeof(h));
}

/* The tunnel header of t after the outer L4 start; returns its length. */
static size_t
w_tun(uint8_t *b, enum tun t, const struct frame *f)
{
	unsigned ip_type = f->b[0] >> 4 == 6 ? 0x86dd : 0x0800;
	size_t n = 0;

	switch (t) {
	case TUN_IPIP:
		return 0;
	case TUN_GRE:
		put16(b, 0);
		put16(b + 2, ip_type);
		return 4;
	case TUN_GRE_CKS:
		put16(b, 0xb000);
		put16(b + 2, ip_type);
		memset(b + 4, 0, 4);  /* checksum, offset */
		put32(b + 8, 0x77);   /* key */
		put32(b + 12, 12345); /* sequence */
		return 16;
	case TUN_GRE_TEB:
		put16(b, 0x2000); /* with a key, as in NVGRE */
		put16(b + 2, 0x6558);
		put32(b + 4, 0x1000);
		return 8;
	case TUN_PPTP:
		put16(b, 0x3081);
		put16(b + 2, 0x880b);
		put16(b + 4, (unsigned)(f->len + 4));
		put16(b + 6, 38992);
		put32(b + 8, 106);
		put32(b + 12, 140);
		b[16] = 0xff;
		b[17] = 0x03;
		put16(b + 18, ip_type == 0x86dd ? 0x0057 : 0x0021);
		return 20;
	case TUN_ERSPAN1:
		put16(b, 0);
		put16(b + 2, 0x88be);
		return 4;
	case TUN_ERSPAN2:
		put16(b, 0x1000);
		put16(b + 2, 0x88be);
		put32(b + 4, 7);
		put32(b + 8, 0x10640001); /* version 1 (type II), VLAN 100, session 1 */
		put32(b + 12, 0);
		return 16;
	case TUN_VXLAN:
		n = w_udp(b, 49152, 4789);
		put32(b + n, 0x08000000);
		put32(b + n + 4, 0x00123400); /* VNI 0x1234 */
		return n + 8;
	case TUN_TEREDO:
		return w_udp(b, 3544, 40000);
	case TUN_TEREDO_AUTH:
		n = w_udp(b, 40000, 3544);
		b[n] = 0;
		b[n + 1] = 1;
		b[n + 2] = 3; /* client id length */
		b[n + 3] = 2; /* authentication value length */
		memset(b + n + 4, 0x5a, 3 + 2 + 8);
		b[n + 17] = 0; /* confirmation */
		n += 18;
		put16(b + n, 0); /* origin indication: port, address */
		put16(b + n + 2, 0xffff);
		put32(b + n + 4, 0x12345678);
		return n + 8;
	default:
		fail();
		return 0;
	}
}

static uint8_t
tun_proto(enum tun t, const struct frame *f)
{
	if (t == TUN_IPIP)
		return f->b[0] >> 4 == 6 ? IPV6 : IPIP;
	if (t == TUN_VXLAN || t == TUN_TEREDO || t == TUN_TEREDO_AUTH)
		return UDP;
	return GRE;
}

/* Put tunnel t, in outer IP of version ov, in front of f (raw, no link). */
static void
wrap(struct frame *f, enum tun t, int ov)
{
	uint8_t h[128];
	size_t n, l4;

	n = ov == 4 ? w_ipv4(h, tun_proto(t, f), 0) : w_ipv6(h, tun_proto(t, f));
	if (ov == 4) {
		memcpy(h + 12, ip4_c, 4);
		memcpy(h + 16, ip4_d, 4);
	} else {
		memcpy(h + 8, ip6_c, 16);
		memcpy(h + 24, ip6_d, 16);
	}
	l4 = n;
	n += w_tun(h + n, t, f);
	if (tun_eth(t) && f->b[0] >> 4 != 0)
		fail_msg("an Ethernet tunnel needs an Ethernet frame");
	prepend(f, h, n);
	if (ov == 4)
		put16(f->b + 2, (unsigned)f->len);
	else
		put16(f->b + 4, (unsigned)(f->len - 40));
	if (tun_proto(t, f) == UDP)
		put16(f->b + l4 + 4, (unsigned)(f->len - l4));
}

/* The inner packet a tunnel of kind t carries: IP of version iv, or Ethernet + IP. */
static void
build_inner(struct frame *f, enum tun t, int iv, uint8_t proto)
{
	build(f, &(struct spec){.link = tun_eth(t) ? DECODE_LINK_ETHERNET : DECODE_LINK_RAW,
				.ipver = iv,
				.proto = proto,
				.l4_opt = 4,
				.payload = 11});
	if (tun_eth(t))
		f->b[0] = 0x02; /* the MAC's first nibble must not look like IP to wrap() */
}

/* f (Ethernet, tunnelled `depth` times, outermost kind) flows as its inner packet. */
static void
assert_tunnel_flows(const struct frame *f, int iv, uint8_t proto, uint8_t kind, int depth)
{
	struct decode_pkt p;
	struct decode_stats st;

	assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, f, &p, &st), DECODE_FLOW);
	assert_int_equal(ev_sum(&st), 0);
	assert_addrs(&p, iv);
	assert_int_equal(p.proto, proto);
	assert_int_equal(p.tunnel, kind);
	assert_int_equal(p.tunnel_depth, depth);
	assert_int_equal(p.l3_off, f->l3);
	assert_int_equal(p.l4_off, f->l4);
	assert_int_equal(p.payload_len, f->len - f->l4_end);
	assert_int_equal(st.invalid + st.non_ip, 0);
	if (proto == TCP) {
		assert_int_equal(p.sport, 40000);
		assert_int_equal(p.dport, 443);
		assert_int_equal(st.tcp, 1);
	}
}

/* Every tunnel kind, inner IPv4 and IPv6 (TCP, UDP, ICMP), outer IPv4 and IPv6. */
static void
test_tunnel_each(void **state)
{
	static const uint8_t protos[] = {TCP, UDP, ICMP};
	struct frame f;

	(void)state;
	for (int t = 0; t < TUN_N; t++)
		for (int iv = 4; iv <= 6; iv += 2)
			for (int ov = 4; ov <= 6; ov += 2)
				for (size_t i = 0; i < sizeof(protos); i++) {
					uint8_t proto =
						protos[i] == ICMP && iv == 6 ? ICMP6 : protos[i];

					if ((t == TUN_TEREDO || t == TUN_TEREDO_AUTH) &&
					    (iv != 6 || ov != 4))
						continue; /* Teredo is IPv6 over UDP/IPv4 */
					build_inner(&f, (enum tun)t, iv, proto);
					wrap(&f, (enum tun)t, ov);
					eth_prepend(&f);
					assert_tunnel_flows(&f, iv, proto, tun_kind((enum tun)t),
							    1);
				}
}

/* The counters of each kind, and VLAN ids from the outer Ethernet only. */
static void
test_tunnel_counters(void **state)
{
	struct frame f;
	struct decode_pkt p;
	struct decode_stats st;

	(void)state;
	build_inner(&f, TUN_VXLAN, 4, TCP);
	put16(f.b + 12, 0x8100); /* an inner VLAN tag: walked, not recorded */
	memmove(f.b + 18, f.b + 14, f.len - 14);
	put16(f.b + 14, 999);
	put16(f.b + 16, 0x0800);
	f.len += 4;
	f.l3 += 4;
	f.l4 += 4;
	f.l4_end += 4;
	wrap(&f, TUN_VXLAN, 4);
	eth_prepend(&f);
	assert_tunnel_flows(&f, 4, TCP, 3, 1);
	assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), DECODE_FLOW);
	assert_int_equal(p.vlan[0], 0);
	assert_int_equal(st.vxlan, 1);
	assert_int_equal(st.ethernet, 2);
	assert_int_equal(st.vlan, 1);
	assert_int_equal(st.ipv4, 2);
	assert_int_equal(st.udp, 1);
	assert_int_equal(st.tcp, 1);

	build_inner(&f, TUN_ERSPAN2, 6, UDP);
	wrap(&f, TUN_ERSPAN2, 4);
	eth_prepend(&f);
	assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), DECODE_FLOW);
	assert_int_equal(st.gre + st.erspan, 2);
	assert_int_equal(st.other_ip, 0); /* the carrier is peeled, not flowed */

	build_inner(&f, TUN_TEREDO, 6, UDP);
	wrap(&f, TUN_TEREDO, 4);
	eth_prepend(&f);
	assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), DECODE_FLOW);
	assert_int_equal(st.teredo, 1);
	assert_int_equal(st.udp, 2);

	build_inner(&f, TUN_IPIP, 4, UDP);
	wrap(&f, TUN_IPIP, 6);
	eth_prepend(&f);
	assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), DECODE_FLOW);
	assert_int_equal(st.ipip, 1);
	assert_int_equal(st.ipv6 + st.ipv4, 2);
}

/* Nested up to the limit: the outermost kind is reported; one more is not peeled. */
static void
test_tunnel_nested(void **state)
{
	struct frame f;
	struct decode_pkt p;
	struct decode_stats st;

	(void)state;
	/* TCP/IPv4 in IPv6 (IPIP) in GRE/IPv4 in Ethernet in VXLAN/IPv6 */
	build_inner(&f, TUN_IPIP, 4, TCP);
	wrap(&f, TUN_IPIP, 6);
	wrap(&f, TUN_GRE, 4);
	eth_prepend(&f);
	f.b[0] = 0x02;
	wrap(&f, TUN_VXLAN, 6);
	eth_prepend(&f);
	assert_tunnel_flows(&f, 4, TCP, 3, 3);

	/* a fourth layer: flowed as the third layer's packet (IPIP by number) */
	build_inner(&f, TUN_IPIP, 4, TCP);
	wrap(&f, TUN_IPIP, 4);
	wrap(&f, TUN_IPIP, 6);
	wrap(&f, TUN_GRE, 4);
	wrap(&f, TUN_IPIP, 6);
	eth_prepend(&f);
	assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), DECODE_FLOW);
	assert_int_equal(st.events[DECODE_EV_TUNNEL_TOO_DEEP], 1);
	assert_int_equal(ev_sum(&st), 1);
	assert_int_equal(p.tunnel, 1);
	assert_int_equal(p.tunnel_depth, DECODE_TUNNEL_MAX);
	assert_int_equal(p.ip_version, 4); /* the innermost wrap: IPv4 carrying IPv4 */
	assert_memory_equal(p.src, ip4_c, 4);
	assert_int_equal(p.proto, IPIP);
	assert_int_equal(st.other_ip, 1);
	assert_int_equal(st.tcp, 0);

	/* a header loop: 40 IPv4-in-IPv4 layers, bounded the same way */
	build_inner(&f, TUN_IPIP, 4, UDP);
	for (int i = 0; i < 40; i++)
		wrap(&f, TUN_IPIP, 4);
	eth_prepend(&f);
	assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), DECODE_FLOW);
	assert_int_equal(st.events[DECODE_EV_TUNNEL_TOO_DEEP], 1);
	assert_int_equal(p.tunnel_depth, DECODE_TUNNEL_MAX);
	assert_int_equal(st.ipv4, DECODE_TUNNEL_MAX + 1);
}

/*
 * Cut at every length: the outer headers cut are invalid; once the carrier
 * flows, a cut inside the tunnel flows as the carrier (never a half-parsed
 * inner packet), and once the inner L4 header is whole the inner packet
 * flows (Teredo: only when whole, its length must match).
 */
static void
sweep_tunnel(enum tun t, int iv, int ov)
{
	struct frame f;
	struct decode_pkt p;
	struct decode_stats st;
	size_t carrier_l4;
	uint8_t carrier;
	int exact = t == TUN_TEREDO || t == TUN_TEREDO_AUTH;

	build_inner(&f, t, iv, TCP);
	wrap(&f, t, ov);
	eth_prepend(&f);
	carrier = ov == 4 ? f.b[14 + 9] : f.b[14 + 6];
	carrier_l4 = 14 + (ov == 4 ? 20 : 40) + (carrier == UDP ? 8 : 0);
	for (size_t len = 0; len <= f.len; len++) {
		enum decode_result r;

		memset(&st, 0, sizeof(st));
		r = decode(DECODE_LINK_ETHERNET, f.b, len, &p, &st);
		if (len < carrier_l4) {
			assert_int_equal(r, DECODE_INVALID);
			continue;
		}
		assert_int_equal(r, DECODE_FLOW);
		if (len >= f.l4_end && (!exact || len == f.len)) {
			assert_int_equal(p.tunnel_depth, 1);
			assert_int_equal(p.tunnel, tun_kind(t));
			assert_addrs(&p, iv);
			assert_int_equal(p.dport, 443);
			assert_int_equal(p.payload_len, len - f.l4_end);
			continue;
		}
		/* the carrier */
		assert_int_equal(p.tunnel_depth, 0);
		assert_int_equal(p.tunnel, 0);
		assert_int_equal(p.ip_version, ov);
		assert_int_equal(p.proto, carrier);
		if (ov == 4)
			assert_memory_equal(p.src, ip4_c, 4);
		else
			assert_memory_equal(p.src, ip6_c, 16);
		assert_int_equal(st.invalid, 0);
	}
}

static void
test_tunnel_trunc(void **state)
{
	(void)state;
	for (int t = 0; t < TUN_N; t++)
		for (int iv = 4; iv <= 6; iv += 2)
			for (int ov = 4; ov <= 6; ov += 2) {
				if ((t == TUN_TEREDO || t == TUN_TEREDO_AUTH) &&
				    (iv != 6 || ov != 4))
					continue;
				sweep_tunnel((enum tun)t, iv, ov);
			}
}

/* f flows as its carrier (outer IPv4, protocol proto) with exactly the events given. */
static void
assert_carrier(const struct frame *f, uint8_t proto, int ev1, int ev2)
{
	struct decode_pkt p;
	struct decode_stats st;

	assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, f, &p, &st), DECODE_FLOW);
	assert_int_equal(p.tunnel, 0);
	assert_int_equal(p.tunnel_depth, 0);
	assert_int_equal(p.ip_version, 4);
	assert_memory_equal(p.src, ip4_c, 4);
	assert_memory_equal(p.dst, ip4_d, 4);
	assert_int_equal(p.proto, proto);
	assert_int_equal(p.l3_off, 14);
	assert_int_equal(p.l4_off, 34);
	assert_int_equal(st.invalid + st.non_ip, 0);
	assert_int_equal(ev_sum(&st), (ev1 >= 0) + (ev2 >= 0));
	if (ev1 >= 0)
		assert_int_equal(st.events[ev1], 1);
	if (ev2 >= 0)
		assert_int_equal(st.events[ev2], 1);
	if (proto == UDP) {
		assert_int_equal(st.udp, 1);
		assert_int_equal(st.other_ip, 0);
	} else {
		assert_int_equal(p.sport + p.dport, 0);
		assert_int_equal(st.other_ip, 1);
	}
	assert_int_equal(st.tcp, 0);
}

static void
test_tunnel_bogus_gre(void **state)
{
	static const unsigned v0_reserved[] = {0x4000, 0x0800, 0x0100, 0x0700, 0x0080, 0x0008};
	struct frame f;
	const size_t g = 14 + 20;

	(void)state;
	for (size_t i = 0; i < sizeof(v0_reserved) / sizeof(v0_reserved[0]); i++) {
		build_inner(&f, TUN_GRE, 4, TCP);
		wrap(&f, TUN_GRE, 4);
		eth_prepend(&f);
		put16(f.b + g, v0_reserved[i]);
		assert_carrier(&f, GRE, DECODE_EV_GRE_V0_FLAGS, -1);
	}
	for (unsigned v = 2; v < 8; v++) {
		build_inner(&f, TUN_GRE, 4, TCP);
		wrap(&f, TUN_GRE, 4);
		eth_prepend(&f);
		put16(f.b + g, v);
		assert_carrier(&f, GRE, DECODE_EV_GRE_WRONG_VERSION, -1);
	}
	/* PPTP without its key, with a checksum, or not carrying PPP */
	static const unsigned v1_bad[][2] = {{0x1081, 0x880b}, {0xb081, 0x880b}, {0x3081, 0x0800}};
	for (size_t i = 0; i < 3; i++) {
		build_inner(&f, TUN_PPTP, 4, TCP);
		wrap(&f, TUN_PPTP, 4);
		eth_prepend(&f);
		put16(f.b + g, v1_bad[i][0]);
		put16(f.b + g + 2, v1_bad[i][1]);
		assert_carrier(&f, GRE, DECODE_EV_GRE_V1_MALFORMED, -1);
	}
	/* a payload GRE does not carry here (MPLS) */
	build_inner(&f, TUN_GRE, 4, TCP);
	wrap(&f, TUN_GRE, 4);
	eth_prepend(&f);
	put16(f.b + g + 2, 0x8847);
	assert_carrier(&f, GRE, DECODE_EV_GRE_UNKNOWN_PROTO, -1);
	/* IPv4 announced, IPv6 inside: the inner decode fails, the carrier flows */
	build_inner(&f, TUN_GRE, 6, TCP);
	wrap(&f, TUN_GRE, 4);
	eth_prepend(&f);
	put16(f.b + g + 2, 0x0800);
	assert_carrier(&f, GRE, DECODE_EV_IPV4_BAD_VER, DECODE_EV_TUNNEL_INNER_INVALID);
	/* a PPTP acknowledgment alone: nothing inside, no event */
	build_inner(&f, TUN_PPTP, 4, TCP);
	wrap(&f, TUN_PPTP, 4);
	eth_prepend(&f);
	f.len = g + 16;
	put16(f.b + 16, (unsigned)(f.len - 14));
	assert_carrier(&f, GRE, -1, -1);
	/* PPP control (LCP) over PPTP: non-IP inside, the carrier flows */
	build_inner(&f, TUN_PPTP, 4, TCP);
	wrap(&f, TUN_PPTP, 4);
	eth_prepend(&f);
	put16(f.b + g + 18, 0xc021);
	assert_carrier(&f, GRE, DECODE_EV_UNKNOWN_ETHERTYPE, -1);
	/* ERSPAN type II with another version, and cut short */
	build_inner(&f, TUN_ERSPAN2, 4, TCP);
	wrap(&f, TUN_ERSPAN2, 4);
	eth_prepend(&f);
	f.b[g + 8] = 0x20;
	assert_carrier(&f, GRE, DECODE_EV_ERSPAN_BAD_VERSION, -1);
	f.len = g + 8 + 5;
	put16(f.b + 16, (unsigned)(f.len - 14));
	assert_carrier(&f, GRE, DECODE_EV_ERSPAN_TRUNC, -1);
	/* an IPIP payload that is not IP */
	build_inner(&f, TUN_IPIP, 4, TCP);
	wrap(&f, TUN_IPIP, 4);
	eth_prepend(&f);
	f.b[34] = 0x55;
	assert_carrier(&f, IPIP, DECODE_EV_IPV4_BAD_VER, DECODE_EV_TUNNEL_INNER_INVALID);
}

static void
test_tunnel_bogus_vxlan(void **state)
{
	struct frame f;
	const size_t v = 14 + 20 + 8;

	(void)state;
	/* a short inner frame: 10 bytes of Ethernet */
	build_inner(&f, TUN_VXLAN, 4, TCP);
	f.len = 10;
	wrap(&f, TUN_VXLAN, 4);
	eth_prepend(&f);
	assert_carrier(&f, UDP, DECODE_EV_ETH_TRUNC, DECODE_EV_TUNNEL_INNER_INVALID);
	/* an inner TCP header cut by a lying inner IP length */
	build_inner(&f, TUN_VXLAN, 4, TCP);
	put16(f.b + 14 + 2, 20 + 10);
	f.len = 14 + 30;
	wrap(&f, TUN_VXLAN, 4);
	eth_prepend(&f);
	assert_carrier(&f, UDP, DECODE_EV_TCP_TRUNC, DECODE_EV_TUNNEL_INNER_INVALID);
	/* ARP inside */
	build_inner(&f, TUN_VXLAN, 4, TCP);
	put16(f.b + 12, 0x0806);
	wrap(&f, TUN_VXLAN, 4);
	eth_prepend(&f);
	assert_carrier(&f, UDP, DECODE_EV_UNKNOWN_ETHERTYPE, -1);
	/* no I flag; a reserved byte set; the VXLAN header cut */
	build_inner(&f, TUN_VXLAN, 4, TCP);
	wrap(&f, TUN_VXLAN, 4);
	eth_prepend(&f);
	f.b[v] = 0;
	assert_carrier(&f, UDP, DECODE_EV_VXLAN_BAD_HEADER, -1);
	f.b[v] = 0x08;
	f.b[v + 7] = 1;
	assert_carrier(&f, UDP, DECODE_EV_VXLAN_BAD_HEADER, -1);
	f.len = v + 7;
	put16(f.b + 16, (unsigned)(f.len - 14));
	put16(f.b + 34 + 4, 8 + 7);
	assert_carrier(&f, UDP, DECODE_EV_VXLAN_TRUNC, -1);
	/* to port 4789 from it: only the destination port means VXLAN */
	build_inner(&f, TUN_VXLAN, 4, TCP);
	wrap(&f, TUN_VXLAN, 4);
	eth_prepend(&f);
	put16(f.b + 34, 4789);
	put16(f.b + 36, 53);
	assert_carrier(&f, UDP, -1, -1);
}

static void
test_tunnel_bogus_teredo(void **state)
{
	struct frame f;
	const size_t u = 14 + 20 + 8;

	(void)state;
	/* IPv4 inside: not Teredo, a plain UDP flow without events */
	build_inner(&f, TUN_TEREDO, 4, TCP);
	wrap(&f, TUN_TEREDO, 4);
	eth_prepend(&f);
	assert_carrier(&f, UDP, -1, -1);
	/* random bytes inside */
	build_inner(&f, TUN_TEREDO, 6, TCP);
	wrap(&f, TUN_TEREDO, 4);
	eth_prepend(&f);
	for (size_t i = u; i < f.len; i++)
		f.b[i] = (uint8_t)(i * 37);
	assert_carrier(&f, UDP, -1, -1);
	/* IPv6 whose payload length does not fill the UDP payload exactly */
	build_inner(&f, TUN_TEREDO, 6, TCP);
	wrap(&f, TUN_TEREDO, 4);
	eth_prepend(&f);
	put16(f.b + u + 4, (unsigned)(f.len - u - 40 - 1));
	assert_carrier(&f, UDP, -1, -1);
	/* hop limit 0 */
	build_inner(&f, TUN_TEREDO, 6, TCP);
	wrap(&f, TUN_TEREDO, 4);
	eth_prepend(&f);
	f.b[u + 7] = 0;
	assert_carrier(&f, UDP, -1, -1);
	/* authentication negotiation alone, no IPv6 after it */
	build_inner(&f, TUN_TEREDO_AUTH, 6, TCP);
	wrap(&f, TUN_TEREDO_AUTH, 4);
	eth_prepend(&f);
	f.len = u + 18;
	put16(f.b + 16, (unsigned)(f.len - 14));
	put16(f.b + 34 + 4, 8 + 18);
	assert_carrier(&f, UDP, -1, -1);
	/* an authentication indication whose lengths run past the packet */
	build_inner(&f, TUN_TEREDO_AUTH, 6, TCP);
	wrap(&f, TUN_TEREDO_AUTH, 4);
	eth_prepend(&f);
	f.b[u + 2] = 0xff;
	f.b[u + 3] = 0xff;
	assert_carrier(&f, UDP, -1, -1);
	/* Teredo-shaped, inner TCP header bogus: the carrier flows, counted */
	build_inner(&f, TUN_TEREDO, 6, TCP);
	wrap(&f, TUN_TEREDO, 4);
	eth_prepend(&f);
	f.b[f.l4 + 12] = 0x10;
	assert_carrier(&f, UDP, DECODE_EV_TCP_BAD_HLEN, DECODE_EV_TUNNEL_INNER_INVALID);
}

/* A fragment inside a tunnel is the inner flow's fragment; an outer fragment is not peeled. */
static void
test_tunnel_frag(void **state)
{
	struct frame f;
	struct decode_pkt p;
	struct decode_stats st;

	(void)state;
	build_inner(&f, TUN_GRE, 4, UDP);
	put16(f.b + 6, 0x2000);
	wrap(&f, TUN_GRE, 4);
	eth_prepend(&f);
	assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), DECODE_FRAG);
	assert_int_equal(p.tunnel, 2);
	assert_int_equal(p.tunnel_depth, 1);
	assert_addrs(&p, 4);
	assert_int_equal(p.frag_ports, 1);
	assert_int_equal(p.dport, 53);

	build_inner(&f, TUN_GRE, 4, UDP);
	wrap(&f, TUN_GRE, 4);
	eth_prepend(&f);
	put16(f.b + 14 + 6, 0x2000);
	assert_int_equal(decode_frame(DECODE_LINK_ETHERNET, &f, &p, &st), DECODE_FRAG);
	assert_int_equal(p.tunnel, 0);
	assert_int_equal(p.proto, GRE);
	assert_memory_equal(p.src, ip4_c, 4);
	assert_int_equal(st.gre, 0);
}

/*
 * Real frames: gre.pcapng frame 1 (PPTP carrying SIP over UDP/IPv4, in a
 * VLAN; cut after the UDP header, the lengths are the original's) from the
 * shared corpus; the expected values are tshark's.
 */
static const uint8_t real_pptp[] = {
	0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x9c, 0x37, 0xf4, 0x7c, 0x6e, 0x91, 0x81, 0x00, 0x00,
	0x8e, 0x08, 0x00, 0x45, 0x00, 0x01, 0x6e, 0xaf, 0xa5, 0x00, 0x00, 0xf2, 0x2f, 0x58, 0x4f,
	0x6d, 0x69, 0xe4, 0xfd, 0x0a, 0xb1, 0x62, 0x54, 0x30, 0x81, 0x88, 0x0b, 0x01, 0x4a, 0x98,
	0x50, 0x00, 0x00, 0x00, 0x6a, 0x00, 0x00, 0x00, 0x8c, 0xff, 0x03, 0x00, 0x21, 0x45, 0xa0,
	0x01, 0x46, 0x38, 0xc1, 0x00, 0x00, 0x3f, 0x11, 0x4d, 0xfb, 0xc0, 0xa8, 0x0a, 0xd2, 0xc0,
	0xa8, 0x67, 0x28, 0x13, 0xc4, 0x13, 0xc4, 0x01, 0x32, 0x57, 0xd5,
};

static void
test_tunnel_real(void **state)
{
	static const uint8_t src[4] = {192, 168, 10, 210}, dst[4] = {192, 168, 103, 40};
	struct decode_pkt p;
	struct decode_stats st;

	(void)state;
	memset(&st, 0, sizeof(st));
	assert_int_equal(decode(DECODE_LINK_ETHERNET, real_pptp, sizeof(real_pptp), &p, &st),
			 DECODE_FLOW);
	assert_int_equal(p.tunnel, 2);
	assert_int_equal(p.vlan[0], 142);
	assert_memory_equal(p.src, src, 4);
	assert_memory_equal(p.dst, dst, 4);
	assert_int_equal(p.proto, UDP);
	assert_int_equal(p.sport, 5060);
	assert_int_equal(p.dport, 5060);
	assert_int_equal(p.l3_off, 58);
	assert_int_equal(p.payload_len, 0);
	/* both IP headers say more than was captured */
	assert_int_equal(st.events[DECODE_EV_IPV4_TRUNC_PKT], 2);
	assert_int_equal(ev_sum(&st), 2);
}

/* ------------------------------------------------------------------ */
/* Real frames                                                         */
/* ------------------------------------------------------------------ */

/*
 * BGP_Cisco_hdlc_slarp.pcap frame 4 (link type PPP holding Cisco HDLC) and
 * http_ipv6.pcap frame 1 (from the nDPI corpus); the expected values are
 * tshark's.
 */
static const uint8_t real_hdlc_bgp[] = {
	0x0f, 0x00, 0x08, 0x00, 0x45, 0xc0, 0x00, 0x61, 0xf8, 0x94, 0x40, 0x00, 0x01, 0x06, 0xb6,
	0x1f, 0x64, 0x10, 0x01, 0x02, 0x64, 0x10, 0x01, 0x01, 0x47, 0x94, 0x00, 0xb3, 0xbc, 0xea,
	0x75, 0xd2, 0x19, 0x59, 0xd3, 0x80, 0x50, 0x18, 0x40, 0x00, 0xeb, 0x75, 0x00, 0x00, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0x00, 0x39, 0x01, 0x04, 0x00, 0x01, 0x00, 0xb4, 0x0b, 0x0b, 0x0b, 0x0b, 0x1c, 0x02, 0x06,
	0x01, 0x04, 0x00, 0x01, 0x00, 0x01, 0x02, 0x02, 0x80, 0x00, 0x02, 0x02, 0x02, 0x00, 0x02,
	0x02, 0x46, 0x00, 0x02, 0x06, 0x41, 0x04, 0x00, 0x00, 0x00, 0x01,
};

static const uint8_t real_eth_tcp6[] = {
	0x50, 0xc5, 0x8d, 0xac, 0x41, 0x01, 0x78, 0xac, 0xc0, 0xa7, 0x0d, 0x4c, 0x86, 0xdd, 0x60,
	0x00, 0x00, 0x00, 0x00, 0x20, 0x06, 0x40, 0x2a, 0x00, 0x0d, 0x40, 0x00, 0x01, 0x00, 0x03,
	0x7a, 0xac, 0xc0, 0xff, 0xfe, 0xa7, 0x0d, 0x4c, 0x2a, 0x00, 0x14, 0x50, 0x40, 0x06, 0x08,
	0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20, 0x0e, 0x9e, 0x4e, 0x01, 0xbb, 0x4b, 0x25,
	0xe9, 0x57, 0x14, 0xd1, 0x01, 0x53, 0x80, 0x10, 0x00, 0xf2, 0x25, 0x73, 0x00, 0x00, 0x01,
	0x01, 0x08, 0x0a, 0x12, 0x0d, 0x68, 0xe0, 0x0f, 0xc4, 0xfb, 0x49,
};

static void
test_real_frames(void **state)
{
	static const uint8_t bgp_src[4] = {100, 16, 1, 2}, bgp_dst[4] = {100, 16, 1, 1};
	static const uint8_t v6_src[16] = {0x2a, 0x00, 0x0d, 0x40, 0x00, 0x01, 0x00, 0x03,
					   0x7a, 0xac, 0xc0, 0xff, 0xfe, 0xa7, 0x0d, 0x4c};
	static const uint8_t v6_dst[16] = {0x2a, 0x00, 0x14, 0x50, 0x40, 0x06, 0x08, 0x04,
					   0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20, 0x0e};
	struct decode_pkt p;
	struct decode_stats st;

	(void)state;
	memset(&st, 0, sizeof(st));
	assert_int_equal(decode(DECODE_LINK_PPP, real_hdlc_bgp, sizeof(real_hdlc_bgp), &p, &st),
			 DECODE_FLOW);
	assert_memory_equal(p.src, bgp_src, 4);
	assert_memory_equal(p.dst, bgp_dst, 4);
	assert_int_equal(p.sport, 18324);
	assert_int_equal(p.dport, 179);
	assert_int_equal(p.tcp_flags, 0x18);
	assert_int_equal(p.payload_len, 57);
	assert_int_equal(ev_sum(&st), 0);

	memset(&st, 0, sizeof(st));
	assert_int_equal(
		decode(DECODE_LINK_ETHERNET, real_eth_tcp6, sizeof(real_eth_tcp6), &p, &st),
		DECODE_FLOW);
	assert_int_equal(p.ip_version, 6);
	assert_memory_equal(p.src, v6_src, 16);
	assert_memory_equal(p.dst, v6_dst, 16);
	assert_int_equal(p.proto, TCP);
	assert_int_equal(p.sport, 40526);
	assert_int_equal(p.dport, 443);
	assert_int_equal(p.tcp_flags, DECODE_TCP_ACK);
	assert_int_equal(p.payload_len, 0);
	assert_int_equal(ev_sum(&st), 0);
}

/* ------------------------------------------------------------------ */
/* Random bytes                                                        */
/* ------------------------------------------------------------------ */

static uint64_t
splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/*
 * 100k buffers: half pure noise, half valid frames with a few bytes flipped
 * and a random cut, so the deep layers see hostile input too. Random link
 * types, some unsupported. Counters must add up to the results.
 */
static void
test_random(void **state)
{
	static const int rlinks[] = {
		DECODE_LINK_NULL,
		DECODE_LINK_ETHERNET,
		DECODE_LINK_PPP,
		DECODE_LINK_RAW,
		DECODE_LINK_PPP_SERIAL,
		DECODE_LINK_C_HDLC,
		DECODE_LINK_LOOP,
		DECODE_LINK_LINUX_SLL,
		DECODE_LINK_IPV4,
		DECODE_LINK_IPV6,
		DECODE_LINK_ETHERNET,
		DECODE_LINK_ETHERNET,
		2,
		101,
		-7,
	};
	static const uint8_t protos[] = {TCP, UDP, ICMP, ICMP6, GRE, ESP};
	enum { N = 100000 };
	uint64_t seed = 0x0decade5eedull, n[4] = {0}, bytes = 0;
	struct frame f;
	struct decode_pkt p;
	struct decode_stats st;

	(void)state;
	memset(&st, 0, sizeof(st));
	for (int i = 0; i < N; i++) {
		uint64_t r = splitmix64(&seed);
		int link = rlinks[r % (sizeof(rlinks) / sizeof(rlinks[0]))];
		size_t len;

		if (r >> 32 & 1) {
			len = (size_t)(r >> 40) % 160;
			for (size_t j = 0; j < len; j += 8) {
				uint64_t x = splitmix64(&seed);

				memcpy(f.b + j, &x, 8);
			}
		} else {
			int v = r >> 33 & 1 ? 6 : 4;
			int flips = (int)(r >> 34 & 7);

			build(&f, &(struct spec){.link = link,
						 .vlans = (int)(r >> 37 & 3),
						 .ipver = v,
						 .proto = protos[(r >> 40) % 6],
						 .ip_opt = (r >> 44 & 1) * 8,
						 .l4_opt = 4,
						 .ext = r >> 45 & 1 ? EXT_HBH_DST_FRAG : EXT_NONE,
						 .payload = (size_t)(r >> 46 & 31)});
			for (int k = 0; k < flips; k++) {
				uint64_t x = splitmix64(&seed);

				f.b[x % f.len] = (uint8_t)(x >> 32);
			}
			len = (size_t)(splitmix64(&seed) % (f.len + 8));
		}
		bytes += len;
		n[decode(link, f.b, len, &p, &st)]++;
	}
	assert_int_equal(st.pkts, N);
	assert_int_equal(st.bytes, bytes);
	assert_int_equal(st.invalid, n[DECODE_INVALID]);
	assert_int_equal(st.non_ip, n[DECODE_NON_IP]);
	assert_int_equal(st.frag, n[DECODE_FRAG]);
	/* a tunnel counts its carrier's L4 too */
	assert_true(st.tcp + st.udp + st.icmpv4 + st.icmpv6 + st.other_ip >= n[DECODE_FLOW]);
	assert_true(st.ipv4 + st.ipv6 >= n[DECODE_FLOW] + n[DECODE_FRAG]);
	/* the mix reached every outcome */
	for (int k = 0; k < 4; k++)
		assert_true(n[k] > 1000);
	print_message("# random: %llu flow, %llu non-ip, %llu frag, %llu invalid\n",
		      (unsigned long long)n[DECODE_FLOW], (unsigned long long)n[DECODE_NON_IP],
		      (unsigned long long)n[DECODE_FRAG], (unsigned long long)n[DECODE_INVALID]);
}

/* 50k tunnelled frames, nested 1..5 deep, with flipped bytes and random cuts. */
static void
test_tunnel_random(void **state)
{
	enum { N = 50000 };
	uint64_t seed = 0x7e4e1, n[4] = {0}, deep = 0;
	struct frame f;
	struct decode_pkt p;
	struct decode_stats st;

	(void)state;
	memset(&st, 0, sizeof(st));
	for (int i = 0; i < N; i++) {
		uint64_t r = splitmix64(&seed);
		int layers = 1 + (int)(r % 5), flips = (int)(r >> 8 & 3);
		enum tun t;
		size_t len;

		t = (enum tun)((r >> 16) % TUN_N);
		build_inner(&f, t, r >> 24 & 1 ? 6 : 4, (uint8_t[]){TCP, UDP, ICMP}[(r >> 25) % 3]);
		for (int k = 0; k < layers; k++) {
			uint64_t x = splitmix64(&seed);

			wrap(&f, t, x & 1 ? 6 : 4);
			t = (enum tun)((x >> 8) % TUN_N);
			if (tun_eth(t)) {
				eth_prepend(&f);
				f.b[0] = 0x02;
			}
		}
		if (!tun_eth(t))
			eth_prepend(&f);
		for (int k = 0; k < flips; k++) {
			uint64_t x = splitmix64(&seed);

			f.b[x % f.len] = (uint8_t)(x >> 32);
		}
		len = (size_t)(splitmix64(&seed) % (f.len + 1));
		if (r >> 40 & 1)
			len = f.len;
		n[decode(DECODE_LINK_ETHERNET, f.b, len, &p, &st)]++;
		deep += p.tunnel_depth == DECODE_TUNNEL_MAX;
	}
	assert_int_equal(st.pkts, N);
	assert_int_equal(st.invalid, n[DECODE_INVALID]);
	assert_true(n[DECODE_FLOW] > N / 2);
	assert_true(deep > 1000);
	assert_true(st.events[DECODE_EV_TUNNEL_TOO_DEEP] > 1000);
	assert_true(st.events[DECODE_EV_TUNNEL_INNER_INVALID] > 100);
	print_message("# tunnel random: %llu flow, %llu frag, %llu invalid, %llu at max depth\n",
		      (unsigned long long)n[DECODE_FLOW], (unsigned long long)n[DECODE_FRAG],
		      (unsigned long long)n[DECODE_INVALID], (unsigned long long)deep);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_event_names),
		cmocka_unit_test(test_tunnel_each),
		cmocka_unit_test(test_tunnel_counters),
		cmocka_unit_test(test_tunnel_nested),
		cmocka_unit_test(test_tunnel_trunc),
		cmocka_unit_test(test_tunnel_bogus_gre),
		cmocka_unit_test(test_tunnel_bogus_vxlan),
		cmocka_unit_test(test_tunnel_bogus_teredo),
		cmocka_unit_test(test_tunnel_frag),
		cmocka_unit_test(test_tunnel_real),
		cmocka_unit_test(test_tunnel_random),
		cmocka_unit_test(test_link_supported),
		cmocka_unit_test(test_unknown_link),
		cmocka_unit_test(test_each_link),
		cmocka_unit_test(test_tcp4_fields),
		cmocka_unit_test(test_udp6_fields),
		cmocka_unit_test(test_icmp_fields),
		cmocka_unit_test(test_other_protocols),
		cmocka_unit_test(test_tcp_bad_offset),
		cmocka_unit_test(test_udp_length),
		cmocka_unit_test(test_vlan),
		cmocka_unit_test(test_qinq),
		cmocka_unit_test(test_vlan_too_many),
		cmocka_unit_test(test_vlan_trunc),
		cmocka_unit_test(test_non_ip),
		cmocka_unit_test(test_pppoe),
		cmocka_unit_test(test_link_null),
		cmocka_unit_test(test_link_loop),
		cmocka_unit_test(test_link_ppp),
		cmocka_unit_test(test_link_c_hdlc),
		cmocka_unit_test(test_link_sll),
		cmocka_unit_test(test_link_raw),
		cmocka_unit_test(test_ipv4_options),
		cmocka_unit_test(test_ipv4_bad_header),
		cmocka_unit_test(test_ipv4_frag),
		cmocka_unit_test(test_padding),
		cmocka_unit_test(test_snaplen),
		cmocka_unit_test(test_ipv6_bad_header),
		cmocka_unit_test(test_ipv6_exthdrs),
		cmocka_unit_test(test_ipv6_esp_nonext),
		cmocka_unit_test(test_ipv6_exthdr_limit),
		cmocka_unit_test(test_ipv6_exthdr_trunc),
		cmocka_unit_test(test_ipv6_frag),
		cmocka_unit_test(test_ipv6_plen_zero),
		cmocka_unit_test(test_trunc_tcp4),
		cmocka_unit_test(test_trunc_tcp6),
		cmocka_unit_test(test_trunc_all),
		cmocka_unit_test(test_real_frames),
		cmocka_unit_test(test_random),
	};

	return cmocka_run_group_tests_name("decode", tests, NULL, NULL);
}
