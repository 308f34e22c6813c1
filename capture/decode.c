/*
 * decode.c: one frame -> one flow key, bounds-checked at every layer.
 *
 * Layers are peeled in order: link (Ethernet with up to two VLAN tags,
 * PPPoE session, or another supported link type), IPv4 or IPv6 (with its
 * extension headers), then TCP/UDP/ICMP/ICMPv6 or any other protocol by
 * number. Every length is checked against the captured bytes before it is
 * read; every failure counts exactly one event and st->invalid once.
 *
 * Not done here: tunnels (GRE, IPIP, VXLAN, Teredo are flowed as their
 * outer protocol), and fragments, which are counted and returned as
 * DECODE_FRAG without being attributed to a flow.
 */
#include "decode.h"

#include <string.h>

#define ETHERTYPE_IPV4	0x0800
#define ETHERTYPE_IPV6	0x86dd
#define ETHERTYPE_VLAN	0x8100
#define ETHERTYPE_QINQ	0x88a8
#define ETHERTYPE_QINQ9 0x9100
#define ETHERTYPE_PPPOE 0x8864
#define PPP_IPV4	0x0021
#define PPP_IPV6	0x0057

const char *const decode_event_names[DECODE_EV_MAX] = {
	[DECODE_EV_LINK_TRUNC] = "link.trunc_pkt",
	[DECODE_EV_ETH_TRUNC] = "ethernet.pkt_too_small",
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
	[DECODE_EV_UNKNOWN_ETHERTYPE] = "ethernet.unknown_ethertype",
};

static inline uint16_t
rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t
rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static enum decode_result
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

/* ------------------------------------------------------------------ L4 */

static enum decode_result
decode_l4(struct decode_pkt *p, const uint8_t *l4, uint32_t len, struct decode_stats *st)
{
	p->sport = p->dport = 0;
	p->tcp_flags = p->icmp_type = p->icmp_code = 0;
	switch (p->proto) {
	case 6: {
		uint32_t hlen;

		if (len < 20)
			return decode_fail(st, DECODE_EV_TCP_TRUNC);
		hlen = (uint32_t)(l4[12] >> 4) * 4;
		if (hlen < 20)
			return decode_fail(st, DECODE_EV_TCP_BAD_HLEN);
		if (hlen > len)
			return decode_fail(st, DECODE_EV_TCP_TRUNC);
		p->sport = rd16(l4);
		p->dport = rd16(l4 + 2);
		p->tcp_flags = l4[13];
		p->payload_len = len - hlen;
		st->tcp++;
		return DECODE_FLOW;
	}
	case 17: {
		uint32_t ulen;

		if (len < 8)
			return decode_fail(st, DECODE_EV_UDP_TRUNC);
		ulen = rd16(l4 + 4);
		if (ulen < 8)
			return decode_fail(st, DECODE_EV_UDP_BAD_LEN);
		p->sport = rd16(l4);
		p->dport = rd16(l4 + 2);
		p->payload_len = (ulen < len ? ulen : len) - 8;
		st->udp++;
		return DECODE_FLOW;
	}
	case 1:
	case 58:
		if (len < 4)
			return decode_fail(st, p->proto == 1 ? DECODE_EV_ICMPV4_TRUNC
							     : DECODE_EV_ICMPV6_TRUNC);
		p->icmp_type = l4[0];
		p->icmp_code = l4[1];
		p->payload_len = len - 4;
		if (p->proto == 1)
			st->icmpv4++;
		else
			st->icmpv6++;
		return DECODE_FLOW;
	default:
		p->payload_len = len;
		st->other_ip++;
		return DECODE_FLOW;
	}
}

/* ------------------------------------------------------------------ L3 */

static enum decode_result
decode_ipv4(struct decode_pkt *p, const uint8_t *d, uint32_t off, uint32_t len,
	    struct decode_stats *st)
{
	const uint8_t *ip = d + off;
	uint32_t avail = len - off, hlen, tlen;

	if (avail < 20)
		return decode_fail(st, DECODE_EV_IPV4_TRUNC);
	if (ip[0] >> 4 != 4)
		return decode_fail(st, DECODE_EV_IPV4_BAD_VER);
	hlen = (uint32_t)(ip[0] & 0x0f) * 4;
	if (hlen < 20)
		return decode_fail(st, DECODE_EV_IPV4_BAD_HLEN);
	if (hlen > avail)
		return decode_fail(st, DECODE_EV_IPV4_TRUNC);
	tlen = rd16(ip + 2);
	if (tlen < hlen)
		return decode_fail(st, DECODE_EV_IPV4_BAD_LEN);
	if (tlen > avail)
		st->events[DECODE_EV_IPV4_TRUNC_PKT]++; /* snaplen: decode what we have */
	else
		avail = tlen; /* trim link padding */
	st->ipv4++;
	p->ip_version = 4;
	p->proto = ip[9];
	memset(p->src, 0, sizeof(p->src));
	memset(p->dst, 0, sizeof(p->dst));
	memcpy(p->src, ip + 12, 4);
	memcpy(p->dst, ip + 16, 4);
	p->l3_off = (uint16_t)off;
	p->l4_off = (uint16_t)(off + hlen);
	if (rd16(ip + 6) & 0x3fff) { /* MF or a fragment offset */
		st->frag++;
		return DECODE_FRAG;
	}
	return decode_l4(p, ip + hlen, avail - hlen, st);
}

/* Walk IPv6 extension headers; *nh and *hoff advance past them. */
static enum decode_result
decode_ipv6_ext(const uint8_t *ip, uint32_t avail, uint8_t *nh, uint32_t *hoff,
		struct decode_stats *st)
{
	for (int n = 0;; n++) {
		uint32_t elen;

		switch (*nh) {
		case 0:
		case 43:
		case 60:
		case 135:
		case 139:
		case 140:
		case 44:
		case 51:
			break;
		default:
			return DECODE_FLOW;
		}
		if (n == 8)
			return decode_fail(st, DECODE_EV_IPV6_EXTHDR_TOO_MANY);
		if (*hoff + 8 > avail)
			return decode_fail(st, DECODE_EV_IPV6_EXTHDR_TRUNC);
		if (*nh == 44)
			elen = 8;
		else if (*nh == 51)
			elen = ((uint32_t)ip[*hoff + 1] + 2) * 4;
		else
			elen = ((uint32_t)ip[*hoff + 1] + 1) * 8;
		if (*hoff + elen > avail)
			return decode_fail(st, DECODE_EV_IPV6_EXTHDR_TRUNC);
		if (*nh == 44 && (rd16(ip + *hoff + 2) & 0xfff9)) { /* offset or M flag */
			*nh = ip[*hoff];
			st->frag++;
			return DECODE_FRAG;
		}
		*nh = ip[*hoff];
		*hoff += elen;
	}
}

static enum decode_result
decode_ipv6(struct decode_pkt *p, const uint8_t *d, uint32_t off, uint32_t len,
	    struct decode_stats *st)
{
	const uint8_t *ip = d + off;
	uint32_t avail = len - off, plen, hoff = 40;
	uint8_t nh;
	enum decode_result r;

	if (avail < 40)
		return decode_fail(st, DECODE_EV_IPV6_TRUNC);
	if (ip[0] >> 4 != 6)
		return decode_fail(st, DECODE_EV_IPV6_BAD_VER);
	plen = rd16(ip + 4);
	if (plen + 40 > avail)
		st->events[DECODE_EV_IPV6_TRUNC_PKT]++;
	else if (plen != 0)
		avail = plen + 40;
	st->ipv6++;
	p->ip_version = 6;
	memcpy(p->src, ip + 8, 16);
	memcpy(p->dst, ip + 24, 16);
	p->l3_off = (uint16_t)off;
	nh = ip[6];
	r = decode_ipv6_ext(ip, avail, &nh, &hoff, st);
	p->proto = nh;
	p->l4_off = (uint16_t)(off + hoff);
	if (r != DECODE_FLOW)
		return r;
	return decode_l4(p, ip + hoff, avail - hoff, st);
}

static enum decode_result
decode_ip(struct decode_pkt *p, const uint8_t *d, uint32_t off, uint32_t len, int version,
	  struct decode_stats *st)
{
	if (version == 4)
		return decode_ipv4(p, d, off, len, st);
	return decode_ipv6(p, d, off, len, st);
}

/* ---------------------------------------------------------------- link */

static enum decode_result
decode_ethertype(struct decode_pkt *p, const uint8_t *d, uint32_t off, uint32_t len, uint16_t type,
		 struct decode_stats *st)
{
	if (type == ETHERTYPE_IPV4)
		return decode_ip(p, d, off, len, 4, st);
	if (type == ETHERTYPE_IPV6)
		return decode_ip(p, d, off, len, 6, st);
	if (type == ETHERTYPE_PPPOE) {
		uint16_t proto;

		if (off + 8 > len)
			return decode_fail(st, DECODE_EV_LINK_TRUNC);
		proto = rd16(d + off + 6);
		if (proto == PPP_IPV4)
			return decode_ip(p, d, off + 8, len, 4, st);
		if (proto == PPP_IPV6)
			return decode_ip(p, d, off + 8, len, 6, st);
	}
	return decode_non_ip(st);
}

static enum decode_result
decode_ethernet(struct decode_pkt *p, const uint8_t *d, uint32_t len, struct decode_stats *st)
{
	uint32_t off = 14;
	uint16_t type;
	int tags = 0;

	if (len < 14)
		return decode_fail(st, DECODE_EV_ETH_TRUNC);
	st->ethernet++;
	type = rd16(d + 12);
	while (type == ETHERTYPE_VLAN || type == ETHERTYPE_QINQ || type == ETHERTYPE_QINQ9) {
		if (tags == 2)
			return decode_fail(st, DECODE_EV_VLAN_TOO_MANY);
		if (off + 4 > len)
			return decode_fail(st, DECODE_EV_VLAN_TRUNC);
		p->vlan[tags++] = rd16(d + off) & 0x0fff;
		type = rd16(d + off + 2);
		off += 4;
	}
	if (tags)
		st->vlan++;
	return decode_ethertype(p, d, off, len, type, st);
}

/* PPP (optionally with address/control bytes); Cisco HDLC framing is accepted too. */
static enum decode_result
decode_ppp(struct decode_pkt *p, const uint8_t *d, uint32_t len, struct decode_stats *st)
{
	uint32_t off = 0;
	uint16_t proto;

	if (len < 4)
		return decode_fail(st, DECODE_EV_LINK_TRUNC);
	if (d[0] == 0x0f || d[0] == 0x8f) /* Cisco HDLC address in a PPP-labelled file */
		return decode_ethertype(p, d, 4, len, rd16(d + 2), st);
	if (d[0] == 0xff && d[1] == 0x03)
		off = 2;
	proto = rd16(d + off);
	if (proto == PPP_IPV4)
		return decode_ip(p, d, off + 2, len, 4, st);
	if (proto == PPP_IPV6)
		return decode_ip(p, d, off + 2, len, 6, st);
	return decode_non_ip(st);
}

/* BSD loopback: address family, host order (NULL) or network order (LOOP). */
static enum decode_result
decode_af(struct decode_pkt *p, const uint8_t *d, uint32_t len, int net_order,
	  struct decode_stats *st)
{
	uint32_t af;

	if (len < 4)
		return decode_fail(st, DECODE_EV_LINK_TRUNC);
	af = rd32(d);
	if (!net_order && af > 0xffff) /* written little-endian */
		af = (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 |
		     (uint32_t)d[3] << 24;
	if (af == 2)
		return decode_ip(p, d, 4, len, 4, st);
	if (af == 10 || af == 24 || af == 28 || af == 30)
		return decode_ip(p, d, 4, len, 6, st);
	return decode_non_ip(st);
}

static enum decode_result
decode_raw(struct decode_pkt *p, const uint8_t *d, uint32_t len, struct decode_stats *st)
{
	if (len < 1)
		return decode_fail(st, DECODE_EV_LINK_TRUNC);
	if (d[0] >> 4 == 4)
		return decode_ip(p, d, 0, len, 4, st);
	if (d[0] >> 4 == 6)
		return decode_ip(p, d, 0, len, 6, st);
	return decode_non_ip(st);
}

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
	p->vlan[0] = p->vlan[1] = 0;
	switch (link) {
	case DECODE_LINK_ETHERNET:
		return decode_ethernet(p, data, len, st);
	case DECODE_LINK_NULL:
		return decode_af(p, data, len, 0, st);
	case DECODE_LINK_LOOP:
		return decode_af(p, data, len, 1, st);
	case DECODE_LINK_PPP:
	case DECODE_LINK_PPP_SERIAL:
		return decode_ppp(p, data, len, st);
	case DECODE_LINK_C_HDLC:
		if (len < 4)
			return decode_fail(st, DECODE_EV_LINK_TRUNC);
		return decode_ethertype(p, data, 4, len, rd16(data + 2), st);
	case DECODE_LINK_LINUX_SLL:
		if (len < 16)
			return decode_fail(st, DECODE_EV_LINK_TRUNC);
		return decode_ethertype(p, data, 16, len, rd16(data + 14), st);
	case DECODE_LINK_RAW:
	case DECODE_LINK_IPV4:
	case DECODE_LINK_IPV6:
		return decode_raw(p, data, len, st);
	default:
		return decode_non_ip(st);
	}
}
