/*
 * flow_record.h: the completed-flow record, the only thing that crosses
 * from capture to the workers.
 *
 * Fixed size, no pointers: capture fills one in a mempool element, hands
 * it through an rte_ring, and the worker that dequeues it owns it until it
 * returns it to the pool. Field meanings follow Suricata's EVE "flow"
 * event; the src side is the client (first packet, or the SYN sender).
 */
#ifndef DARTER_FLOW_RECORD_H
#define DARTER_FLOW_RECORD_H

#include <stdint.h>

#include "appid.h"

/* EVE flow.state */
enum flow_record_state {
	FLOW_RECORD_STATE_NEW,	       /* packets seen one way only */
	FLOW_RECORD_STATE_ESTABLISHED, /* packets seen both ways */
	FLOW_RECORD_STATE_CLOSED,      /* TCP closed by FIN handshake or RST */
};

/* EVE flow.reason: why the record was written. */
enum flow_record_reason {
	FLOW_RECORD_REASON_TIMEOUT,  /* idle timeout for its protocol and state */
	FLOW_RECORD_REASON_FORCED,   /* evicted: table full, or TCP port reuse */
	FLOW_RECORD_REASON_SHUTDOWN, /* still open at end of capture or exit */
	FLOW_RECORD_REASON_ACTIVE,   /* interim: open past the active timeout; counters so far */
};

/* The tunnel that carried the flow (the record holds the inner flow). */
enum flow_record_tunnel {
	FLOW_RECORD_TUNNEL_NONE,
	FLOW_RECORD_TUNNEL_IPIP, /* IPv4 or IPv6 inside IPv4 or IPv6 (4in4, 6in4, 4in6, 6in6) */
	FLOW_RECORD_TUNNEL_GRE,
	FLOW_RECORD_TUNNEL_VXLAN,
	FLOW_RECORD_TUNNEL_TEREDO,
};

/* EVE tcp.state (Suricata's TCP session states) */
enum flow_record_tcp_state {
	FLOW_RECORD_TCP_NONE,
	FLOW_RECORD_TCP_SYN_SENT,
	FLOW_RECORD_TCP_SYN_RECV,
	FLOW_RECORD_TCP_ESTABLISHED,
	FLOW_RECORD_TCP_FIN_WAIT1,
	FLOW_RECORD_TCP_FIN_WAIT2,
	FLOW_RECORD_TCP_TIME_WAIT,
	FLOW_RECORD_TCP_LAST_ACK,
	FLOW_RECORD_TCP_CLOSE_WAIT,
	FLOW_RECORD_TCP_CLOSING,
	FLOW_RECORD_TCP_CLOSED,
};

/* flow_record.flags */
#define FLOW_RECORD_F_ICMP_RESP 0x01 /* resp_icmp_type/code are valid */

struct flow_record {
	uint64_t flow_id;  /* EVE flow_id, < 2^51 */
	uint64_t start_us; /* first packet, microseconds since the epoch */
	uint64_t end_us;   /* last packet */
	uint64_t pkts_toserver;
	uint64_t pkts_toclient;
	uint64_t bytes_toserver; /* whole captured frames, as Suricata counts */
	uint64_t bytes_toclient;
	uint8_t src_ip[16]; /* client; IPv4 in the first 4 bytes */
	uint8_t dst_ip[16];
	uint16_t src_port; /* host order; 0 for port-less protocols */
	uint16_t dst_port;
	uint16_t vlan[2];     /* 0 when absent */
	uint16_t lcore;	      /* capture lcore that assembled it (darter.lcore) */
	uint8_t ip_version;   /* 4 or 6 */
	uint8_t proto;	      /* IP protocol number */
	uint8_t state;	      /* enum flow_record_state */
	uint8_t reason;	      /* enum flow_record_reason */
	uint8_t tcp_flags_ts; /* OR of TCP flags client->server */
	uint8_t tcp_flags_tc;
	uint8_t tcp_state; /* enum flow_record_tcp_state */
	uint8_t icmp_type; /* ICMP: first packet's type/code */
	uint8_t icmp_code;
	uint8_t resp_icmp_type; /* ICMP: first reply's type/code */
	uint8_t resp_icmp_code;
	uint8_t flags;		 /* FLOW_RECORD_F_* */
	uint8_t tunnel;		 /* enum flow_record_tunnel */
	struct appid_result app; /* nDPI's answer; how == APPID_HOW_NONE: not classified */
};

#endif
