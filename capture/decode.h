/*
 * decode.h: L2-L4 decoding of one captured frame into a flow key.
 *
 * Pure function over bytes: no DPDK, no allocation, no logging. Every
 * anomaly increments a named counter in the caller's struct decode_stats
 * (one per capture lcore), as Suricata's decoder.event.* counters do.
 * Tunnels (IP-in-IP, GRE, ERSPAN, VXLAN, Teredo) are peeled: the result
 * describes the innermost flow (see decode.c for the rules).
 */
#ifndef DARTER_DECODE_H
#define DARTER_DECODE_H

#include <stdint.h>

/* Link types, numbered as libpcap's DLT_* values on Linux. */
enum decode_link {
	DECODE_LINK_NULL = 0,	  /* BSD loopback: 4-byte host-order AF */
	DECODE_LINK_ETHERNET = 1, /* DLT_EN10MB */
	DECODE_LINK_PPP = 9,	  /* 2-byte address/control optional + protocol */
	DECODE_LINK_RAW = 12,	  /* raw IPv4/IPv6 (LINKTYPE_RAW 101 reads as 12) */
	DECODE_LINK_PPP_SERIAL = 50,
	DECODE_LINK_C_HDLC = 104, /* Cisco HDLC: addr, ctrl, ethertype */
	DECODE_LINK_LOOP = 108,	  /* OpenBSD loopback: 4-byte network-order AF */
	DECODE_LINK_LINUX_SLL = 113,
	DECODE_LINK_IPV4 = 228,
	DECODE_LINK_IPV6 = 229,
};

/*
 * Anomalies, each a counter "decoder.event.<name>" in stats. Names sharing
 * a prefix stay adjacent (the stats event nests them).
 */
enum decode_event {
	DECODE_EV_LINK_TRUNC, /* link header longer than the frame */
	DECODE_EV_ETH_TRUNC,
	DECODE_EV_UNKNOWN_ETHERTYPE, /* not IP (ARP, LLDP, ...): counted, not flowed */
	DECODE_EV_VLAN_TRUNC,
	DECODE_EV_VLAN_TOO_MANY,  /* more than 2 VLAN tags */
	DECODE_EV_IPV4_TRUNC,	  /* header does not fit */
	DECODE_EV_IPV4_TRUNC_PKT, /* total length beyond captured bytes (snaplen) */
	DECODE_EV_IPV4_BAD_VER,
	DECODE_EV_IPV4_BAD_HLEN,
	DECODE_EV_IPV4_BAD_LEN, /* total length smaller than the header */
	DECODE_EV_IPV6_TRUNC,
	DECODE_EV_IPV6_TRUNC_PKT,
	DECODE_EV_IPV6_BAD_VER,
	DECODE_EV_IPV6_EXTHDR_TRUNC,
	DECODE_EV_IPV6_EXTHDR_TOO_MANY,
	DECODE_EV_TCP_TRUNC,
	DECODE_EV_TCP_BAD_HLEN,
	DECODE_EV_UDP_TRUNC,
	DECODE_EV_UDP_BAD_LEN,
	DECODE_EV_ICMPV4_TRUNC,
	DECODE_EV_ICMPV6_TRUNC,
	DECODE_EV_GRE_TRUNC,	      /* GRE header or its optional fields cut */
	DECODE_EV_GRE_WRONG_VERSION,  /* version other than 0 and 1 (PPTP) */
	DECODE_EV_GRE_V0_FLAGS,	      /* version 0 with routing, recursion or reserved bits */
	DECODE_EV_GRE_V1_MALFORMED,   /* PPTP GRE without key, with v0-only bits or not PPP */
	DECODE_EV_GRE_UNKNOWN_PROTO,  /* payload not IP, Ethernet or ERSPAN: flowed as GRE */
	DECODE_EV_ERSPAN_TRUNC,	      /* ERSPAN type II header cut */
	DECODE_EV_ERSPAN_BAD_VERSION, /* ERSPAN header version is not type II */
	DECODE_EV_VXLAN_TRUNC,	      /* VXLAN header cut: flowed as UDP */
	DECODE_EV_VXLAN_BAD_HEADER,   /* no I flag or reserved byte set: flowed as UDP */
	DECODE_EV_TUNNEL_TOO_DEEP,    /* more than DECODE_TUNNEL_MAX layers: flowed at the limit */
	DECODE_EV_TUNNEL_INNER_INVALID, /* inner packet malformed: flowed as the outer */
	DECODE_EV_MAX
};

/* Counter names for stats, indexed by enum decode_event ("ipv4.trunc_pkt"). */
extern const char *const decode_event_names[DECODE_EV_MAX];

/* Per-lcore decoder counters; written by one thread, summed by readers. */
struct decode_stats {
	uint64_t pkts;
	uint64_t bytes;
	uint64_t invalid; /* packets that could not be decoded to a flow key */
	uint64_t ethernet;
	uint64_t vlan;
	uint64_t ipv4;
	uint64_t ipv6;
	uint64_t tcp;
	uint64_t udp;
	uint64_t icmpv4;
	uint64_t icmpv6;
	uint64_t other_ip; /* IP with another protocol: tracked by number */
	uint64_t non_ip;
	uint64_t frag; /* IP fragments (DECODE_FRAG): see frag.h */
	uint64_t ipip; /* tunnel headers accepted, per kind (inner layers count too) */
	uint64_t gre;
	uint64_t erspan;
	uint64_t vxlan;
	uint64_t teredo;
	uint64_t events[DECODE_EV_MAX];
};

/* What decode_packet() found. */
enum decode_result {
	DECODE_FLOW,	/* p holds a flow key: give it to the flow table */
	DECODE_NON_IP,	/* valid frame, not IP */
	DECODE_FRAG,	/* an IP fragment: addresses, proto and frag_* filled, see frag.h */
	DECODE_INVALID, /* malformed: an event was counted */
};

/* The decoded packet: a flow key plus what the flow table needs. */
struct decode_pkt {
	uint8_t src[16]; /* IPv4 uses the first 4 bytes, rest zero */
	uint8_t dst[16];
	uint16_t sport; /* host order; 0 for protocols without ports */
	uint16_t dport;
	uint16_t vlan[2];   /* VLAN ids outer, inner; 0 when absent */
	uint8_t ip_version; /* 4 or 6 */
	uint8_t proto;	    /* L4 protocol number, after IPv6 extension headers */
	uint8_t tcp_flags;  /* TCP only */
	uint8_t icmp_type;  /* ICMPv4/ICMPv6 only */
	uint8_t icmp_code;
	uint16_t l3_off; /* offsets into the frame */
	uint16_t l4_off;
	uint32_t payload_len; /* L4 payload bytes present (bounded by capture) */
	uint8_t tunnel;	      /* enum flow_record_tunnel: the outermost tunnel peeled, or NONE */
	uint8_t tunnel_depth; /* tunnel layers peeled, 0..DECODE_TUNNEL_MAX */
	/* DECODE_FRAG only (zero otherwise): */
	uint8_t frag_more;  /* IPv4 MF / IPv6 M flag */
	uint8_t frag_ports; /* first fragment whose L4 header gave sport/dport */
	uint32_t frag_id;   /* IPv4 identification or IPv6 fragment id */
	uint32_t frag_off;  /* fragment offset in bytes */
};

/* Tunnel layers peeled at most; one more is flowed as its carrier, counted. */
#define DECODE_TUNNEL_MAX 3

/* TCP flag bits, as on the wire. */
#define DECODE_TCP_FIN 0x01
#define DECODE_TCP_SYN 0x02
#define DECODE_TCP_RST 0x04
#define DECODE_TCP_PSH 0x08
#define DECODE_TCP_ACK 0x10
#define DECODE_TCP_URG 0x20
#define DECODE_TCP_ECE 0x40
#define DECODE_TCP_CWR 0x80

/* Nonzero when darter can decode frames of this link type. */
int decode_link_supported(int link);

/*
 * Decode one frame of `len` captured bytes. Fills *p only as far as the
 * result says (DECODE_FLOW: fully; the innermost flow of a tunnel). Counts into *st: pkts, bytes
 * (len), the protocol counters and any anomaly. Never reads outside data[0..len). Any thread; st
 * must be owned by the caller's thread.
 */
enum decode_result decode_packet(struct decode_pkt *p, int link, const uint8_t *data, uint32_t len,
				 struct decode_stats *st);

#endif
