/*
 * decode.c: one captured frame -> one flow key, bounds-checked at every layer.
 *
 * How: layers are peeled in order, one short function each. The link layer
 * (Ethernet with up to two VLAN tags, PPPoE session, BSD/OpenBSD loopback,
 * PPP, Cisco HDLC, Linux SLL, raw IP) yields an L3 offset; IPv4 or IPv6
 * (walking at most 8 extension headers) yields the protocol number and an
 * L4 view; TCP, UDP, ICMP and ICMPv6 fill ports, flags and type/code, any
 * other protocol is flowed by number with ports 0. Every length is checked
 * against the captured bytes before the bytes are read; reads go byte by
 * byte (no unaligned casts), so any alignment of `data` is fine.
 *
 * Lengths: the L4 view ends at the IP total/payload length when the frame
 * is longer (link padding is not payload) and at the captured bytes when it
 * is shorter: a snaplen-cut packet still flows, counted as <ip>.trunc_pkt.
 * A packet that cannot give a flow key counts st->invalid once and exactly
 * one event, the one naming why (so trunc_pkt is not also counted then).
 *
 * Beyond the bare link types: PPPoE session frames (ethertype 0x8864) are
 * decoded, PPP accepts protocol-field compression (RFC 1661) and Cisco HDLC
 * frames in PPP-labelled captures, and DLT_NULL accepts either byte order
 * (the header is in the byte order of the capturing host, as tcpdump reads
 * it). An unsupported link type is counted as non-IP.
 *
 * Tunnels: IPv4/IPv6 in IPv4/IPv6 (protocols 4 and 41), GRE (protocol
 * 47; version 0 with optional checksum, key and sequence carrying IPv4,
 * IPv6, transparent Ethernet bridging 0x6558 or ERSPAN type I/II 0x88be,
 * and version 1, PPTP's enhanced GRE, carrying PPP), VXLAN (UDP destination
 * port 4789, inner Ethernet) and Teredo (UDP port 3544 either side, after
 * optional authentication and origin indications; only when the payload
 * really parses as IPv6 filling exactly the UDP payload, as Suricata
 * checks it). The decoder peels the tunnel and decodes the inner packet
 * into the same struct decode_pkt, which then describes the innermost
 * flow; p->tunnel names the outermost tunnel, p->tunnel_depth counts the
 * layers. Every layer seen is counted (outer and inner ipv4, udp...).
 * The VLAN ids are the outermost Ethernet's: tags of an inner Ethernet are
 * walked but not recorded (the outer ids name the segment the sensor taps).
 *
 * Fallback: whatever goes wrong inside a tunnel, the packet still flows as
 * the flow that carried it (the outer flow, or the enclosing inner one when
 * nested), never as a half-parsed inner one. A bogus tunnel header (GRE
 * reserved bits, VXLAN without its I flag...) counts its own event; a
 * malformed inner packet counts the inner layer's event plus
 * tunnel.inner_invalid (st->invalid is not counted: the packet flows); an
 * inner non-IP frame (ARP over VXLAN, PPP control over PPTP) counts
 * ethernet.unknown_ethertype as anywhere else. Nesting is bounded: after
 * DECODE_TUNNEL_MAX layers a further tunnel is not peeled, it is flowed as
 * its carrier and counted as tunnel.too_deep. A fragmented outer packet is
 * not peeled (its inner headers are in one fragment only).
 *
 * Fragments: a fragment (IPv4 MF/offset, IPv6 fragment header with
 * M/offset) is counted in st->frag and returned as DECODE_FRAG with its
 * addresses, protocol, identification, offset and M flag; a first fragment
 * also gives its ports when its L4 header starts there (p->frag_ports).
 * frag.c attributes the others to their flow. No reassembly here. No
 * checksums are verified.
 */
#include "decode.h"

#include "flow_record.h"

#include <string.h>

#define DECODE_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define DECODE_LIKELY(x)   __builtin_expect(!!(x), 1)

#define ETHERTYPE_IPV4	    0x0800
#define ETHERTYPE_IPV6	    0x86dd
#define ETHERTYPE_VLAN	    0x8100
#define ETHERTYPE_QINQ	    0x88a8
#define ETHERTYPE_QINQ_OLD  0x9100
#define ETHERTYPE_PPPOE_SES 0x8864
#define ETHERTYPE_TEB	    0x6558 /* transparent Ethernet bridging */
#define ETHERTYPE_ERSPAN    0x88be /* ERSPAN type I and II */
#define ETHERTYPE_PPP	    0x880b /* PPTP */

#define PPP_IPV4 0x0021
#define PPP_IPV6 0x0057

#define ETH_HLEN	  14
#define VLAN_HLEN	  4
#define VLAN_MAX	  2
#define PPPOE_HLEN	  6
#define HDLC_HLEN	  4
#define SLL_HLEN	  16
#define AF_HLEN		  4
#define IPV4_HLEN	  20
#define IPV6_HLEN	  40
#define IPV6_EXT_MIN	  8
#define IPV6_EXT_MAX	  8 /* extension headers walked before giving up */
#define TCP_HLEN	  20
#define UDP_HLEN	  8
#define ICMP_HLEN	  4
#define IPV6_FRAG_HLEN	  8
#define IPV4_FRAG_MASK	  0x3fff /* MF flag and fragment offset */
#define IPV6_FRAG_MASK	  0xfff9 /* fragment offset and M flag */
#define IPV4_MF		  0x2000
#define IPV4_OFF_MASK	  0x1fff
#define IPV6_OFF_MASK	  0xfff8
#define GRE_HLEN	  4
#define GRE_OPT_LEN	  4    /* checksum+offset, key, sequence, ack: 4 bytes each */
#define GRE_C		  0x80 /* first flags byte */
#define GRE_R		  0x40
#define GRE_K		  0x20
#define GRE_S		  0x10
#define GRE_V0_RESERVED	  0x4f /* routing, strict source route, recursion */
#define GRE_V1_MUST_ZERO  0xcf /* checksum, routing, strict source route, recursion */
#define GRE_A		  0x80 /* second flags byte: PPTP acknowledgment present */
#define GRE_FLAGS1	  0x78
#define GRE_VERSION	  0x07
#define ERSPAN2_HLEN	  8
#define VXLAN_HLEN	  8
#define VXLAN_I		  0x08
#define VXLAN_PORT	  4789
#define TEREDO_PORT	  3544
#define TEREDO_AUTH_MIN	  13 /* 0x0001, id-len, au-len, nonce 8, confirmation 1 */
#define TEREDO_ORIG_LEN	  8
#define VLAN_VID_MASK	  0x0fff
#define AF_BSD_INET	  2
#define AF_LINUX_INET6	  10
#define AF_NETBSD_INET6	  24
#define AF_FREEBSD_INET6  28
#define AF_DARWIN_INET6	  30
#define HDLC_ADDR_UNICAST 0x0f
#define HDLC_ADDR_MCAST	  0x8f

#define PROTO_HOPOPTS  0
#define PROTO_ICMP     1
#define PROTO_IPIP     4
#define PROTO_TCP      6
#define PROTO_UDP      17
#define PROTO_ROUTING  43
#define PROTO_IPV6     41
#define PROTO_FRAGMENT 44
#define PROTO_GRE      47
#define PROTO_AH       51
#define PROTO_ICMPV6   58
#define PROTO_DSTOPTS  60
#define PROTO_MH       135
#define PROTO_HIP      139
#define PROTO_SHIM6    140

const char *const decode_event_names[DECODE_EV_MAX] = {
	[DECODE_EV_LINK_TRUNC] = "link.trunc_pkt",
	[DECODE_EV_ETH_TRUNC] = "ethernet.pkt_too_small",
	[DECODE_EV_UNKNOWN_ETHERTYPE] = "ethernet.unknown_ethertype",
	[DECODE_EV_VLAN_TRUNC] = "vlan.trunc_pkt",
	[DECODE_EV_VLAN_TOO_MANY] = "vlan.too_many_layers",
	[DECODE_EV_IPV4_TRUNC] = "ipv4.pkt_too_small",
	[DECODE_EV_IPV4_TRUNC_PKT] = "ipv4.trunc_pkt",
	[DECODE_EV_IPV4_BAD_VER] = "ipv4.wrong_ip_version",
	[DECODE_EV_IPV4_BAD_HLEN] = "ipv4.hlen_too_small",
	[DECODE_EV_IPV4_BAD_LEN] = "ipv4.iplen_smaller_than_hlen",
	[DECODE_EV_IPV6_TRUNC] = "ipv6.pkt_too_small",
	[DECODE_EV_IPV6_TRUNC_PKT] = "ipv6.trunc_pkt",
	[DECODE_EV_IPV6_BAD_VER] = "ipv6.wrong_ip_version",
	[DECODE_EV_IPV6_EXTHDR_TRUNC] = "ipv6.exthdr_trunc",
	[DECODE_EV_IPV6_EXTHDR_TOO_MANY] = "ipv6.exthdr_too_many",
	[DECODE_EV_TCP_TRUNC] = "tcp.pkt_too_small",
	[DECODE_EV_TCP_BAD_HLEN] = "tcp.hlen_too_small",
	[DECODE_EV_UDP_TRUNC] = "udp.pkt_too_small",
	[DECODE_EV_UDP_BAD_LEN] = "udp.hlen_invalid",
	[DECODE_EV_ICMPV4_TRUNC] = "icmpv4.pkt_too_small",
	[DECODE_EV_ICMPV6_TRUNC] = "icmpv6.pkt_too_small",
	[DECODE_EV_GRE_TRUNC] = "gre.pkt_too_small",
	[DECODE_EV_GRE_WRONG_VERSION] = "gre.wrong_version",
	[DECODE_EV_GRE_V0_FLAGS] = "gre.version0_flags",
	[DECODE_EV_GRE_V1_MALFORMED] = "gre.version1_malformed",
	[DECODE_EV_GRE_UNKNOWN_PROTO] = "gre.unknown_protocol",
	[DECODE_EV_ERSPAN_TRUNC] = "erspan.pkt_too_small",
	[DECODE_EV_ERSPAN_BAD_VERSION] = "erspan.unsupported_version",
	[DECODE_EV_VXLAN_TRUNC] = "vxlan.pkt_too_small",
	[DECODE_EV_VXLAN_BAD_HEADER] = "vxlan.invalid_header",
	[DECODE_EV_TUNNEL_TOO_DEEP] = "tunnel.too_deep",
	[DECODE_EV_TUNNEL_INNER_INVALID] = "tunnel.inner_invalid",
};

/* ------------------------------------------------------------ helpers */

static inline uint16_t
decode_be16(const uint8_t *b)
{
	return (uint16_t)((unsigned)b[0] << 8 | b[1]);
}

static inline uint32_t
decode_be32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static inline uint32_t
decode_le32(const uint8_t *b)
{
	return (uint32_t)b[3] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[1] << 8 | b[0];
}

/* The one way out for a malformed packet: one event, one invalid. */
static __attribute__((cold, noinline)) enum decode_result
decode_fail(struct decode_stats *st, enum decode_event ev)
{
	st->events[ev]++;
	st->invalid++;
	return DECODE_INVALID;
}

static enum decode_result
decode_non_ip(struct decode_stats *st)
{
	st->events[DECODE_EV_UNKNOWN_ETHERTYPE]++;
	st->non_ip++;
	return DECODE_NON_IP;
}

/* ----------------------------------------------------------------- L4 */

/* Protocols without ports (and fragments): the key is addresses + number. */
static inline void
decode_portless(struct decode_pkt *p, uint32_t len)
{
	p->sport = 0;
	p->dport = 0;
	p->tcp_flags = 0;
	p->icmp_type = 0;
	p->icmp_code = 0;
	p->payload_len = len;
}

static enum decode_result
decode_tcp(struct decode_pkt *p, const uint8_t *l4, uint32_t len, struct decode_stats *st)
{
	uint32_t hlen;

	if (DECODE_UNLIKELY(len < TCP_HLEN))
		return decode_fail(st, DECODE_EV_TCP_TRUNC);
	hlen = (uint32_t)(l4[12] >> 4) * 4;
	if (DECODE_UNLIKELY(hlen < TCP_HLEN))
		return decode_fail(st, DECODE_EV_TCP_BAD_HLEN);
	if (DECODE_UNLIKELY(hlen > len))
		return decode_fail(st, DECODE_EV_TCP_TRUNC);
	p->sport = decode_be16(l4);
	p->dport = decode_be16(l4 + 2);
	p->tcp_flags = l4[13];
	p->icmp_type = 0;
	p->icmp_code = 0;
	p->payload_len = len - hlen;
	st->tcp++;
	return DECODE_FLOW;
}

static enum decode_result
decode_udp(struct decode_pkt *p, const uint8_t *l4, uint32_t len, struct decode_stats *st)
{
	uint32_t ulen;

	if (DECODE_UNLIKELY(len < UDP_HLEN))
		return decode_fail(st, DECODE_EV_UDP_TRUNC);
	ulen = decode_be16(l4 + 4);
	if (DECODE_UNLIKELY(ulen < UDP_HLEN))
		return decode_fail(st, DECODE_EV_UDP_BAD_LEN);
	p->sport = decode_be16(l4);
	p->dport = decode_be16(l4 + 2);
	p->tcp_flags = 0;
	p->icmp_type = 0;
	p->icmp_code = 0;
	/* a length beyond the view is a snaplen cut, not an error */
	p->payload_len = (ulen < len ? ulen : len) - UDP_HLEN;
	st->udp++;
	return DECODE_FLOW;
}

/* ICMP and ICMPv6 share the first 4 bytes: type, code, checksum. */
static enum decode_result
decode_icmp(struct decode_pkt *p, const uint8_t *l4, uint32_t len, struct decode_stats *st)
{
	int v6 = p->proto == PROTO_ICMPV6;

	if (DECODE_UNLIKELY(len < ICMP_HLEN))
		return decode_fail(st, v6 ? DECODE_EV_ICMPV6_TRUNC : DECODE_EV_ICMPV4_TRUNC);
	decode_portless(p, len - ICMP_HLEN);
	p->icmp_type = l4[0];
	p->icmp_code = l4[1];
	if (v6)
		st->icmpv6++;
	else
		st->icmpv4++;
	return DECODE_FLOW;
}

/* ------------------------------------------------------------ tunnels */

/* What a tunnel carries. */
enum decode_inner {
	DECODE_INNER_IPV4,
	DECODE_INNER_IPV6,
	DECODE_INNER_ETH,
	DECODE_INNER_PPP, /* optional 0xff 0x03, then a PPP protocol field */
};

static enum decode_result decode_ipv4(struct decode_pkt *p, const uint8_t *d, uint32_t off,
				      uint32_t len, struct decode_stats *st);
static enum decode_result decode_ipv6(struct decode_pkt *p, const uint8_t *d, uint32_t off,
				      uint32_t len, struct decode_stats *st);
static enum decode_result decode_eth(struct decode_pkt *p, const uint8_t *d, uint32_t off,
				     uint32_t len, struct decode_stats *st);
static enum decode_result decode_ppp_proto(struct decode_pkt *p, const uint8_t *d, uint32_t off,
					   uint32_t len, struct decode_stats *st);

/*
 * The carrier flows as it is: p already holds it (UDP counted by
 * decode_udp; an IP protocol tunnel is counted as other_ip here).
 */
static enum decode_result
decode_tunnel_outer(struct decode_pkt *p, struct decode_stats *st)
{
	if (p->proto != PROTO_UDP)
		st->other_ip++;
	return DECODE_FLOW;
}

/* A bogus tunnel header: counted, flowed as the carrier. */
static __attribute__((cold, noinline)) enum decode_result
decode_tunnel_bad(struct decode_pkt *p, struct decode_stats *st, enum decode_event ev)
{
	st->events[ev]++;
	return decode_tunnel_outer(p, st);
}

static enum decode_result
decode_inner(struct decode_pkt *p, const uint8_t *d, uint32_t off, uint32_t end,
	     enum decode_inner inner, struct decode_stats *st)
{
	switch (inner) {
	case DECODE_INNER_IPV4:
		return decode_ipv4(p, d, off, end, st);
	case DECODE_INNER_IPV6:
		return decode_ipv6(p, d, off, end, st);
	case DECODE_INNER_ETH:
		return decode_eth(p, d, off, end, st);
	default:
		if (end - off >= 2 && d[off] == 0xff && d[off + 1] == 0x03)
			off += 2;
		return decode_ppp_proto(p, d, off, end, st);
	}
}

/*
 * Peel one tunnel layer: the inner packet at d[off..end) replaces the
 * carrier in p when it decodes to a flow or a fragment; otherwise p is
 * restored and the carrier flows (see the file comment). The copy of p is
 * taken on tunnelled packets only.
 */
static enum decode_result
decode_tunnel(struct decode_pkt *p, const uint8_t *d, uint32_t off, uint32_t end,
	      enum decode_inner inner, uint8_t kind, struct decode_stats *st)
{
	struct decode_pkt outer;
	uint64_t invalid = st->invalid, non_ip = st->non_ip;
	enum decode_result r;

	if (DECODE_UNLIKELY(p->tunnel_depth >= DECODE_TUNNEL_MAX))
		return decode_tunnel_bad(p, st, DECODE_EV_TUNNEL_TOO_DEEP);
	outer = *p;
	if (p->tunnel_depth++ == 0)
		p->tunnel = kind;
	r = decode_inner(p, d, off, end, inner, st);
	if (DECODE_LIKELY(r == DECODE_FLOW || r == DECODE_FRAG))
		return r;
	*p = outer;
	st->invalid = invalid; /* the packet flows: not invalid, not non-IP */
	st->non_ip = non_ip;
	if (r == DECODE_INVALID)
		st->events[DECODE_EV_TUNNEL_INNER_INVALID]++;
	return decode_tunnel_outer(p, st);
}

/* ERSPAN (GRE 0x88be): type II has an 8-byte header (GRE S set), type I none. */
static enum decode_result
decode_erspan(struct decode_pkt *p, const uint8_t *d, uint32_t off, uint32_t end, int type2,
	      struct decode_stats *st)
{
	if (type2) {
		if (DECODE_UNLIKELY(end - off < ERSPAN2_HLEN))
			return decode_tunnel_bad(p, st, DECODE_EV_ERSPAN_TRUNC);
		if (DECODE_UNLIKELY(d[off] >> 4 != 1))
			return decode_tunnel_bad(p, st, DECODE_EV_ERSPAN_BAD_VERSION);
		off += ERSPAN2_HLEN;
	}
	st->erspan++;
	return decode_tunnel(p, d, off, end, DECODE_INNER_ETH, FLOW_RECORD_TUNNEL_GRE, st);
}

/*
 * GRE header length from its flags, or 0 with *ev set when the header is
 * bogus. Version 0 (RFC 2784/2890): optional checksum+offset, key,
 * sequence; routing (RFC 1701) and recursion are refused. Version 1 (PPTP,
 * RFC 2637): key mandatory, optional sequence and acknowledgment, PPP only.
 */
static uint32_t
decode_gre_hlen(const uint8_t *g, enum decode_event *ev)
{
	uint8_t f0 = g[0], f1 = g[1];
	uint32_t hlen = GRE_HLEN;

	switch (f1 & GRE_VERSION) {
	case 0:
		if ((f0 & GRE_V0_RESERVED) || (f1 & (GRE_A | GRE_FLAGS1))) {
			*ev = DECODE_EV_GRE_V0_FLAGS;
			return 0;
		}
		hlen += (f0 & GRE_C ? GRE_OPT_LEN : 0) + (f0 & GRE_K ? GRE_OPT_LEN : 0);
		return hlen + (f0 & GRE_S ? GRE_OPT_LEN : 0);
	case 1:
		if ((f0 & GRE_V1_MUST_ZERO) || !(f0 & GRE_K) || (f1 & GRE_FLAGS1) ||
		    decode_be16(g + 2) != ETHERTYPE_PPP) {
			*ev = DECODE_EV_GRE_V1_MALFORMED;
			return 0;
		}
		hlen += GRE_OPT_LEN + (f0 & GRE_S ? GRE_OPT_LEN : 0);
		return hlen + (f1 & GRE_A ? GRE_OPT_LEN : 0);
	default:
		*ev = DECODE_EV_GRE_WRONG_VERSION;
		return 0;
	}
}

/* GRE at d[off..end); p holds the carrier (portless, proto 47). */
static enum decode_result
decode_gre(struct decode_pkt *p, const uint8_t *d, uint32_t off, uint32_t end,
	   struct decode_stats *st)
{
	const uint8_t *g = d + off;
	enum decode_event ev = DECODE_EV_GRE_TRUNC;
	uint32_t hlen;
	uint16_t type;

	if (DECODE_UNLIKELY(end - off < GRE_HLEN))
		return decode_tunnel_bad(p, st, DECODE_EV_GRE_TRUNC);
	hlen = decode_gre_hlen(g, &ev);
	if (DECODE_UNLIKELY(hlen == 0 || hlen > end - off))
		return decode_tunnel_bad(p, st, ev);
	st->gre++;
	type = decode_be16(g + 2);
	off += hlen;
	if (off == end) /* keepalive, PPTP acknowledgment: nothing inside */
		return decode_tunnel_outer(p, st);
	switch (type) {
	case ETHERTYPE_IPV4:
		return decode_tunnel(p, d, off, end, DECODE_INNER_IPV4, FLOW_RECORD_TUNNEL_GRE, st);
	case ETHERTYPE_IPV6:
		return decode_tunnel(p, d, off, end, DECODE_INNER_IPV6, FLOW_RECORD_TUNNEL_GRE, st);
	case ETHERTYPE_TEB:
		return decode_tunnel(p, d, off, end, DECODE_INNER_ETH, FLOW_RECORD_TUNNEL_GRE, st);
	case ETHERTYPE_PPP: /* version 1 only, checked above */
		return decode_tunnel(p, d, off, end, DECODE_INNER_PPP, FLOW_RECORD_TUNNEL_GRE, st);
	case ETHERTYPE_ERSPAN:
		return decode_erspan(p, d, off, end, g[0] & GRE_S, st);
	default:
		return decode_tunnel_bad(p, st, DECODE_EV_GRE_UNKNOWN_PROTO);
	}
}

/* VXLAN at d[off..end) (the UDP payload); p holds the UDP carrier. */
static enum decode_result
decode_vxlan(struct decode_pkt *p, const uint8_t *d, uint32_t off, uint32_t end,
	     struct decode_stats *st)
{
	if (DECODE_UNLIKELY(end - off < VXLAN_HLEN))
		return decode_tunnel_bad(p, st, DECODE_EV_VXLAN_TRUNC);
	if (DECODE_UNLIKELY(!(d[off] & VXLAN_I) || d[off + 7] != 0))
		return decode_tunnel_bad(p, st, DECODE_EV_VXLAN_BAD_HEADER);
	st->vxlan++;
	return decode_tunnel(p, d, off + VXLAN_HLEN, end, DECODE_INNER_ETH,
			     FLOW_RECORD_TUNNEL_VXLAN, st);
}

/*
 * Offset of the IPv6 packet in a Teredo payload d[off..end), or 0 when it
 * is not Teredo (RFC 4380 section 5.1.1: an authentication indication,
 * then an origin indication, each optional, then IPv6). As Suricata: the
 * IPv6 header must fill exactly the rest, with a hop limit, and a
 * hop-by-hop header needs room.
 */
static uint32_t
decode_teredo_ipv6(const uint8_t *d, uint32_t off, uint32_t end)
{
	const uint8_t *ip;

	if (end - off >= TEREDO_AUTH_MIN && d[off] == 0 && d[off + 1] == 1)
		off += TEREDO_AUTH_MIN + (uint32_t)d[off + 2] + d[off + 3];
	if (off < end && end - off >= TEREDO_ORIG_LEN && d[off] == 0 && d[off + 1] == 0)
		off += TEREDO_ORIG_LEN;
	if (off >= end || end - off < IPV6_HLEN)
		return 0;
	ip = d + off;
	if (ip[0] >> 4 != 6 || ip[7] == 0)
		return 0;
	if (ip[6] == PROTO_HOPOPTS && decode_be16(ip + 4) < IPV6_EXT_MIN)
		return 0;
	if (IPV6_HLEN + (uint32_t)decode_be16(ip + 4) != end - off)
		return 0;
	return off;
}

/* A decoded UDP packet (p filled) whose payload starts at d + off. */
static enum decode_result
decode_udp_tunnel(struct decode_pkt *p, const uint8_t *d, uint32_t off, struct decode_stats *st)
{
	uint32_t end = off + p->payload_len, ip;

	if (p->dport == VXLAN_PORT)
		return decode_vxlan(p, d, off, end, st);
	ip = decode_teredo_ipv6(d, off, end);
	if (ip == 0)
		return DECODE_FLOW;
	st->teredo++;
	return decode_tunnel(p, d, ip, end, DECODE_INNER_IPV6, FLOW_RECORD_TUNNEL_TEREDO, st);
}

/* ----------------------------------------------------------- L4 switch */

/* L4 of protocol p->proto at d[off..end). */
static enum decode_result
decode_l4(struct decode_pkt *p, const uint8_t *d, uint32_t off, uint32_t end,
	  struct decode_stats *st)
{
	const uint8_t *l4 = d + off;
	uint32_t len = end - off;
	enum decode_result r;

	switch (p->proto) {
	case PROTO_TCP:
		return decode_tcp(p, l4, len, st);
	case PROTO_UDP:
		r = decode_udp(p, l4, len, st);
		if (DECODE_UNLIKELY(r == DECODE_FLOW &&
				    (p->dport == VXLAN_PORT || p->dport == TEREDO_PORT ||
				     p->sport == TEREDO_PORT)))
			return decode_udp_tunnel(p, d, off + UDP_HLEN, st);
		return r;
	case PROTO_ICMP:
	case PROTO_ICMPV6:
		return decode_icmp(p, l4, len, st);
	case PROTO_IPIP:
	case PROTO_IPV6:
		decode_portless(p, len);
		st->ipip++;
		return decode_tunnel(p, d, off, end,
				     p->proto == PROTO_IPIP ? DECODE_INNER_IPV4 : DECODE_INNER_IPV6,
				     FLOW_RECORD_TUNNEL_IPIP, st);
	case PROTO_GRE:
		decode_portless(p, len);
		return decode_gre(p, d, off, end, st);
	default:
		decode_portless(p, len);
		st->other_ip++;
		return DECODE_FLOW;
	}
}

/* A first fragment: ports (and TCP flags, ICMP type) if its L4 header starts here. */
static void
decode_frag_first(struct decode_pkt *p, const uint8_t *l4, uint32_t len)
{
	switch (p->proto) {
	case PROTO_TCP:
	case PROTO_UDP:
		if (len < 4)
			return;
		p->sport = decode_be16(l4);
		p->dport = decode_be16(l4 + 2);
		p->frag_ports = 1;
		if (p->proto == PROTO_TCP && len > 13)
			p->tcp_flags = l4[13];
		return;
	case PROTO_ICMP:
	case PROTO_ICMPV6:
		if (len >= 2) {
			p->icmp_type = l4[0];
			p->icmp_code = l4[1];
		}
		return;
	default:
		return;
	}
}

/* The fragment fields of p; the L4 view l4 of len bytes. */
static enum decode_result
decode_frag(struct decode_pkt *p, uint32_t id, uint32_t off8, int more, const uint8_t *l4,
	    uint32_t len, struct decode_stats *st)
{
	decode_portless(p, len);
	p->frag_id = id;
	p->frag_off = off8;
	p->frag_more = (uint8_t)more;
	if (off8 == 0)
		decode_frag_first(p, l4, len);
	st->frag++;
	return DECODE_FRAG;
}

/* --------------------------------------------------------------- IPv4 */

/* The IPv4 header starts at d + off; d holds len captured bytes. */
static enum decode_result
decode_ipv4(struct decode_pkt *p, const uint8_t *d, uint32_t off, uint32_t len,
	    struct decode_stats *st)
{
	const uint8_t *ip = d + off;
	uint32_t avail = len - off, hlen, tlen;
	uint16_t frag;
	int cut;
	enum decode_result r;

	if (DECODE_UNLIKELY(avail < IPV4_HLEN))
		return decode_fail(st, DECODE_EV_IPV4_TRUNC);
	if (DECODE_UNLIKELY(ip[0] >> 4 != 4))
		return decode_fail(st, DECODE_EV_IPV4_BAD_VER);
	hlen = (uint32_t)(ip[0] & 0x0f) * 4;
	if (DECODE_UNLIKELY(hlen < IPV4_HLEN))
		return decode_fail(st, DECODE_EV_IPV4_BAD_HLEN);
	if (DECODE_UNLIKELY(hlen > avail))
		return decode_fail(st, DECODE_EV_IPV4_TRUNC);
	tlen = decode_be16(ip + 2);
	if (DECODE_UNLIKELY(tlen < hlen))
		return decode_fail(st, DECODE_EV_IPV4_BAD_LEN);
	cut = tlen > avail;
	if (!cut)
		avail = tlen; /* drop link padding */
	st->ipv4++;
	p->ip_version = 4;
	p->proto = ip[9];
	memcpy(p->src, ip + 12, 4);
	memset(p->src + 4, 0, sizeof(p->src) - 4);
	memcpy(p->dst, ip + 16, 4);
	memset(p->dst + 4, 0, sizeof(p->dst) - 4);
	p->l3_off = (uint16_t)off;
	p->l4_off = (uint16_t)(off + hlen);
	frag = decode_be16(ip + 6);
	if (DECODE_UNLIKELY(frag & IPV4_FRAG_MASK))
		r = decode_frag(p, decode_be16(ip + 4), (uint32_t)(frag & IPV4_OFF_MASK) * 8,
				!!(frag & IPV4_MF), ip + hlen, avail - hlen, st);
	else
		r = decode_l4(p, d, off + hlen, off + avail, st);
	if (DECODE_UNLIKELY(cut) && r != DECODE_INVALID)
		st->events[DECODE_EV_IPV4_TRUNC_PKT]++;
	return r;
}

/* --------------------------------------------------------------- IPv6 */

static inline int
decode_ipv6_is_ext(uint8_t nh)
{
	switch (nh) {
	case PROTO_HOPOPTS:
	case PROTO_ROUTING:
	case PROTO_FRAGMENT:
	case PROTO_AH:
	case PROTO_DSTOPTS:
	case PROTO_MH:
	case PROTO_HIP:
	case PROTO_SHIM6:
		return 1;
	default:
		return 0; /* upper layer, ESP (50) or No Next Header (59) */
	}
}

/* Length of the extension header at h (at least 8 bytes are there). */
static inline uint32_t
decode_ipv6_ext_len(uint8_t nh, const uint8_t *h)
{
	if (nh == PROTO_FRAGMENT)
		return IPV6_FRAG_HLEN;
	if (nh == PROTO_AH)
		return ((uint32_t)h[1] + 2) * 4;
	return ((uint32_t)h[1] + 1) * 8;
}

/*
 * Walk the extension headers of the IPv6 packet at ip (view of len bytes),
 * from *off with next header *nh; leave both at the upper layer. Returns
 * DECODE_FLOW to go on, DECODE_FRAG (*nh, *off past the fragment header,
 * *frag at it) or DECODE_INVALID.
 */
static enum decode_result
decode_ipv6_exthdrs(const uint8_t *ip, uint32_t len, uint8_t *nh, uint32_t *off,
		    const uint8_t **frag, struct decode_stats *st)
{
	for (unsigned n = 0; decode_ipv6_is_ext(*nh); n++) {
		const uint8_t *h = ip + *off;
		uint32_t elen;

		if (DECODE_UNLIKELY(n == IPV6_EXT_MAX))
			return decode_fail(st, DECODE_EV_IPV6_EXTHDR_TOO_MANY);
		if (DECODE_UNLIKELY(len - *off < IPV6_EXT_MIN))
			return decode_fail(st, DECODE_EV_IPV6_EXTHDR_TRUNC);
		elen = decode_ipv6_ext_len(*nh, h);
		if (DECODE_UNLIKELY(elen > len - *off))
			return decode_fail(st, DECODE_EV_IPV6_EXTHDR_TRUNC);
		if (*nh == PROTO_FRAGMENT && (decode_be16(h + 2) & IPV6_FRAG_MASK)) {
			*nh = h[0];
			*off += elen;
			*frag = h;
			return DECODE_FRAG;
		}
		*nh = h[0]; /* an atomic fragment (offset 0, M 0) goes on */
		*off += elen;
	}
	return DECODE_FLOW;
}

/* The IPv6 header starts at d + off; d holds len captured bytes. */
static enum decode_result
decode_ipv6(struct decode_pkt *p, const uint8_t *d, uint32_t off, uint32_t len,
	    struct decode_stats *st)
{
	const uint8_t *ip = d + off;
	uint32_t avail = len - off, plen, hoff = IPV6_HLEN;
	const uint8_t *fh = NULL;
	uint8_t nh;
	int cut;
	enum decode_result r;

	if (DECODE_UNLIKELY(avail < IPV6_HLEN))
		return decode_fail(st, DECODE_EV_IPV6_TRUNC);
	if (DECODE_UNLIKELY(ip[0] >> 4 != 6))
		return decode_fail(st, DECODE_EV_IPV6_BAD_VER);
	plen = decode_be16(ip + 4);
	cut = plen + IPV6_HLEN > avail;
	if (!cut && plen != 0) /* 0: jumbogram (or lying), use what was captured */
		avail = plen + IPV6_HLEN;
	st->ipv6++;
	p->ip_version = 6;
	memcpy(p->src, ip + 8, 16);
	memcpy(p->dst, ip + 24, 16);
	p->l3_off = (uint16_t)off;
	nh = ip[6];
	r = decode_ipv6_exthdrs(ip, avail, &nh, &hoff, &fh, st);
	if (DECODE_UNLIKELY(r == DECODE_INVALID))
		return r;
	p->proto = nh;
	p->l4_off = (uint16_t)(off + hoff);
	if (DECODE_UNLIKELY(r == DECODE_FRAG))
		r = decode_frag(p, decode_be32(fh + 4), decode_be16(fh + 2) & IPV6_OFF_MASK,
				fh[3] & 1, ip + hoff, avail - hoff, st);
	else
		r = decode_l4(p, d, off + hoff, off + avail, st);
	if (DECODE_UNLIKELY(cut) && r != DECODE_INVALID)
		st->events[DECODE_EV_IPV6_TRUNC_PKT]++;
	return r;
}

/* ---------------------------------------------------------- link layer */

/* IP of the given version at d + off (off <= len). */
static enum decode_result
decode_ip(struct decode_pkt *p, const uint8_t *d, uint32_t off, uint32_t len, int version,
	  struct decode_stats *st)
{
	if (version == 6)
		return decode_ipv6(p, d, off, len, st);
	return decode_ipv4(p, d, off, len, st);
}

/* A PPP protocol field at d + off, then its payload (PPP and PPPoE). */
static enum decode_result
decode_ppp_proto(struct decode_pkt *p, const uint8_t *d, uint32_t off, uint32_t len,
		 struct decode_stats *st)
{
	uint16_t proto;

	if (DECODE_UNLIKELY(off >= len))
		return decode_fail(st, DECODE_EV_LINK_TRUNC);
	if (d[off] & 1) { /* protocol-field compression: one byte (RFC 1661) */
		proto = d[off];
		off += 1;
	} else {
		if (DECODE_UNLIKELY(len - off < 2))
			return decode_fail(st, DECODE_EV_LINK_TRUNC);
		proto = decode_be16(d + off);
		off += 2;
	}
	if (proto == PPP_IPV4)
		return decode_ip(p, d, off, len, 4, st);
	if (proto == PPP_IPV6)
		return decode_ip(p, d, off, len, 6, st);
	return decode_non_ip(st);
}

/* The payload of an ethertype at d + off (off <= len). */
static enum decode_result
decode_ethertype(struct decode_pkt *p, const uint8_t *d, uint32_t off, uint32_t len, uint16_t type,
		 struct decode_stats *st)
{
	switch (type) {
	case ETHERTYPE_IPV4:
		return decode_ipv4(p, d, off, len, st);
	case ETHERTYPE_IPV6:
		return decode_ipv6(p, d, off, len, st);
	case ETHERTYPE_PPPOE_SES:
		if (DECODE_UNLIKELY(len - off < PPPOE_HLEN))
			return decode_fail(st, DECODE_EV_LINK_TRUNC);
		return decode_ppp_proto(p, d, off + PPPOE_HLEN, len, st);
	default:
		return decode_non_ip(st);
	}
}

static inline int
decode_is_vlan(uint16_t type)
{
	return type == ETHERTYPE_VLAN || type == ETHERTYPE_QINQ || type == ETHERTYPE_QINQ_OLD;
}

/* Ethernet at d + off (an inner one in a tunnel records no VLAN ids). */
static enum decode_result
decode_eth(struct decode_pkt *p, const uint8_t *d, uint32_t off, uint32_t len,
	   struct decode_stats *st)
{
	uint16_t type;

	if (DECODE_UNLIKELY(len - off < ETH_HLEN))
		return decode_fail(st, DECODE_EV_ETH_TRUNC);
	st->ethernet++;
	type = decode_be16(d + off + 12);
	off += ETH_HLEN;
	if (decode_is_vlan(type)) {
		st->vlan++;
		for (unsigned n = 0; decode_is_vlan(type); n++) {
			if (DECODE_UNLIKELY(n == VLAN_MAX))
				return decode_fail(st, DECODE_EV_VLAN_TOO_MANY);
			if (DECODE_UNLIKELY(len - off < VLAN_HLEN))
				return decode_fail(st, DECODE_EV_VLAN_TRUNC);
			if (p->tunnel_depth == 0)
				p->vlan[n] = decode_be16(d + off) & VLAN_VID_MASK;
			type = decode_be16(d + off + 2);
			off += VLAN_HLEN;
		}
	}
	return decode_ethertype(p, d, off, len, type, st);
}

/* Cisco HDLC: address, control, ethertype. */
static enum decode_result
decode_link_hdlc(struct decode_pkt *p, const uint8_t *d, uint32_t len, struct decode_stats *st)
{
	if (DECODE_UNLIKELY(len < HDLC_HLEN))
		return decode_fail(st, DECODE_EV_LINK_TRUNC);
	return decode_ethertype(p, d, HDLC_HLEN, len, decode_be16(d + 2), st);
}

/*
 * PPP, optionally with the 0xff 0x03 address/control bytes (0xff is never
 * the first byte of a protocol). Captures labelled PPP may hold Cisco HDLC
 * frames, recognised by their address byte (0x0f, 0x8f).
 */
static enum decode_result
decode_link_ppp(struct decode_pkt *p, const uint8_t *d, uint32_t len, struct decode_stats *st)
{
	if (len > 0 && (d[0] == HDLC_ADDR_UNICAST || d[0] == HDLC_ADDR_MCAST))
		return decode_link_hdlc(p, d, len, st);
	return decode_ppp_proto(p, d, len > 0 && d[0] == 0xff ? 2 : 0, len, st);
}

static enum decode_result
decode_link_sll(struct decode_pkt *p, const uint8_t *d, uint32_t len, struct decode_stats *st)
{
	if (DECODE_UNLIKELY(len < SLL_HLEN))
		return decode_fail(st, DECODE_EV_LINK_TRUNC);
	return decode_ethertype(p, d, SLL_HLEN, len, decode_be16(d + 14), st);
}

/*
 * BSD loopback: a 4-byte address family, network order for LOOP, the
 * capturing host's order for NULL (either: AF values are below 2^16).
 */
static enum decode_result
decode_link_af(struct decode_pkt *p, const uint8_t *d, uint32_t len, int net_order,
	       struct decode_stats *st)
{
	uint32_t af;

	if (DECODE_UNLIKELY(len < AF_HLEN))
		return decode_fail(st, DECODE_EV_LINK_TRUNC);
	af = decode_be32(d);
	if (!net_order && af > 0xffff)
		af = decode_le32(d);
	switch (af) {
	case AF_BSD_INET:
		return decode_ipv4(p, d, AF_HLEN, len, st);
	case AF_LINUX_INET6:
	case AF_NETBSD_INET6:
	case AF_FREEBSD_INET6:
	case AF_DARWIN_INET6:
		return decode_ipv6(p, d, AF_HLEN, len, st);
	default:
		return decode_non_ip(st);
	}
}

/*
 * Raw IP: the version nibble decides; with no nibble (empty frame) or a
 * bogus one, the link type's own version reports the error.
 */
static enum decode_result
decode_link_raw(struct decode_pkt *p, const uint8_t *d, uint32_t len, int version,
		struct decode_stats *st)
{
	if (len > 0 && (d[0] >> 4 == 4 || d[0] >> 4 == 6))
		version = d[0] >> 4;
	return decode_ip(p, d, 0, len, version, st);
}

/* ------------------------------------------------------------- public */

int
decode_link_supported(int link)
{
	switch (link) {
	case DECODE_LINK_NULL:
	case DECODE_LINK_ETHERNET:
	case DECODE_LINK_PPP:
	case DECODE_LINK_RAW:
	case DECODE_LINK_PPP_SERIAL:
	case DECODE_LINK_C_HDLC:
	case DECODE_LINK_LOOP:
	case DECODE_LINK_LINUX_SLL:
	case DECODE_LINK_IPV4:
	case DECODE_LINK_IPV6:
		return 1;
	default:
		return 0;
	}
}

enum decode_result
decode_packet(struct decode_pkt *p, int link, const uint8_t *data, uint32_t len,
	      struct decode_stats *st)
{
	st->pkts++;
	st->bytes += len;
	p->vlan[0] = 0;
	p->vlan[1] = 0;
	p->tunnel = FLOW_RECORD_TUNNEL_NONE;
	p->tunnel_depth = 0;
	p->frag_more = 0;
	p->frag_ports = 0;
	p->frag_id = 0;
	p->frag_off = 0;
	switch (link) {
	case DECODE_LINK_ETHERNET:
		return decode_eth(p, data, 0, len, st);
	case DECODE_LINK_NULL:
		return decode_link_af(p, data, len, 0, st);
	case DECODE_LINK_LOOP:
		return decode_link_af(p, data, len, 1, st);
	case DECODE_LINK_PPP:
	case DECODE_LINK_PPP_SERIAL:
		return decode_link_ppp(p, data, len, st);
	case DECODE_LINK_C_HDLC:
		return decode_link_hdlc(p, data, len, st);
	case DECODE_LINK_LINUX_SLL:
		return decode_link_sll(p, data, len, st);
	case DECODE_LINK_RAW:
	case DECODE_LINK_IPV4:
		return decode_link_raw(p, data, len, 4, st);
	case DECODE_LINK_IPV6:
		return decode_link_raw(p, data, len, 6, st);
	default:
		return decode_non_ip(st); /* unsupported: callers check first */
	}
}
