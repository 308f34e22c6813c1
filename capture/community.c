/*
 * community.c: Community ID v1 flow hashing (corelight/community-id-spec).
 *
 * What: a flow record's endpoints become "1:" + base64(SHA-1(seed .
 * saddr . daddr . proto . 0 . sport . dport)), every integer in network
 * byte order: a 2-byte seed, two 4- or 16-byte addresses, the protocol
 * byte and a zero pad byte, then two 2-byte ports for TCP, UDP, SCTP,
 * ICMP and ICMPv6 only (the other protocols hash addresses and protocol
 * alone). The endpoints are ordered so that the smaller (address, port)
 * comes first, addresses compared as big-endian numbers, then ports;
 * hence both directions of a flow give one id.
 *
 * ICMP and ICMPv6 have no ports; the spec (after Zeek) maps the message
 * type of the first packet to a "source port". A type that has a reply
 * type in the spec's table (echo/echo reply, router solicitation/
 * advertisement, ...) is two-way: the reply type becomes the
 * "destination port" and ordering applies as for TCP, so the request and
 * its answer share an id. Any other type (unreachable, time exceeded,
 * redirect, ...) is one-way: the code is the "destination port" and the
 * endpoints stay in the record's order. The table is v1's and fixed:
 * pairs defined since (RFC 8335 extended echo) are deliberately absent,
 * as in every other v1 implementation.
 *
 * How: the hash input (at most 40 bytes) is laid out in a stack buffer,
 * hashed by digest_sha1() and base64-encoded here (20 bytes always give
 * 28 characters), so the module needs nothing beyond digest.
 *
 * Not here: configuration (the seed is the caller's), the EVE field
 * itself, tunnels (a record describes one IP layer: the id is that
 * layer's), VLANs (v1 does not hash them).
 */
#include "community.h"

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "digest.h"

#define PROTO_ICMP   1
#define PROTO_TCP    6
#define PROTO_UDP    17
#define PROTO_ICMPV6 58
#define PROTO_SCTP   132

/* seed 2 + two IPv6 addresses 32 + proto and pad 2 + ports 4 */
#define HASH_INPUT_MAX 40

/* 20-byte digest: six 3-byte groups (24 characters) and one 2-byte tail
 * (3 characters and one '=') */
#define B64_SHA1_LEN 28

/* ------------------------------------------------------------------ */
/* ICMP type to "port" mapping (spec v1, after Zeek's ICMP analyzer)  */
/* ------------------------------------------------------------------ */

/* The reply type that pairs with an ICMPv4 type, or -1: one-way. */
static int
icmp4_counterpart(uint8_t type)
{
	switch (type) {
	case 8: /* echo */
		return 0;
	case 0: /* echo reply */
		return 8;
	case 13: /* timestamp */
		return 14;
	case 14:
		return 13;
	case 15: /* information request */
		return 16;
	case 16:
		return 15;
	case 10: /* router solicitation */
		return 9;
	case 9: /* router advertisement */
		return 10;
	case 17: /* address mask request */
		return 18;
	case 18:
		return 17;
	default:
		return -1;
	}
}

/* The same for ICMPv6. */
static int
icmp6_counterpart(uint8_t type)
{
	switch (type) {
	case 128: /* echo request */
		return 129;
	case 129:
		return 128;
	case 130: /* multicast listener query */
		return 131;
	case 131: /* multicast listener report */
		return 130;
	case 133: /* router solicitation */
		return 134;
	case 134:
		return 133;
	case 135: /* neighbor solicitation */
		return 136;
	case 136:
		return 135;
	case 139: /* node information query ("who are you") */
		return 140;
	case 140:
		return 139;
	case 144: /* home agent address discovery request */
		return 145;
	case 145:
		return 144;
	default:
		return -1;
	}
}

/* ------------------------------------------------------------------ */
/* Hash input                                                         */
/* ------------------------------------------------------------------ */

/* The flow tuple as the spec hashes it, before ordering. */
struct tuple {
	const uint8_t *saddr, *daddr;
	size_t alen; /* 4 or 16 */
	uint16_t sport, dport;
	bool has_ports;
	bool one_way; /* keep the given order (one-way ICMP) */
};

static void
tuple_from_record(const struct flow_record *r, struct tuple *t)
{
	int peer = -1;

	t->saddr = r->src_ip;
	t->daddr = r->dst_ip;
	t->alen = r->ip_version == 4 ? 4 : 16;
	t->sport = r->src_port;
	t->dport = r->dst_port;
	t->has_ports = true;
	t->one_way = false;

	switch (r->proto) {
	case PROTO_TCP:
	case PROTO_UDP:
	case PROTO_SCTP:
		return;
	case PROTO_ICMP:
		peer = icmp4_counterpart(r->icmp_type);
		break;
	case PROTO_ICMPV6:
		peer = icmp6_counterpart(r->icmp_type);
		break;
	default:
		t->sport = t->dport = 0;
		t->has_ports = false;
		return;
	}
	t->sport = r->icmp_type;
	t->one_way = peer < 0;
	t->dport = t->one_way ? r->icmp_code : (uint16_t)peer;
}

/* True when t's endpoints are already in hashing order. */
static bool
tuple_ordered(const struct tuple *t)
{
	int c;

	if (t->one_way)
		return true;
	c = memcmp(t->saddr, t->daddr, t->alen);
	return c < 0 || (c == 0 && t->sport < t->dport);
}

static uint8_t *
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}

/* Lays out the hash input in buf; returns its length. */
static size_t
hash_input(const struct tuple *t, uint16_t seed, uint8_t proto, uint8_t buf[HASH_INPUT_MAX])
{
	bool keep = tuple_ordered(t);
	uint8_t *p = buf;

	p = put16(p, seed);
	memcpy(p, keep ? t->saddr : t->daddr, t->alen);
	p += t->alen;
	memcpy(p, keep ? t->daddr : t->saddr, t->alen);
	p += t->alen;
	*p++ = proto;
	*p++ = 0;
	if (t->has_ports) {
		p = put16(p, keep ? t->sport : t->dport);
		p = put16(p, keep ? t->dport : t->sport);
	}
	return (size_t)(p - buf);
}

/* ------------------------------------------------------------------ */
/* Base64 (RFC 4648, standard alphabet, '=' padding)                  */
/* ------------------------------------------------------------------ */

/* Writes the 28 characters of d's base64 into out (no NUL). */
static void
base64_sha1(const uint8_t d[DIGEST_SHA1_SIZE], char out[B64_SHA1_LEN])
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i = 0, o = 0;
	uint32_t v;

	for (; i + 3 <= DIGEST_SHA1_SIZE; i += 3) {
		v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8 | d[i + 2];
		out[o++] = alphabet[v >> 18];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = alphabet[(v >> 6) & 63];
		out[o++] = alphabet[v & 63];
	}
	/* 20 = 6 * 3 + 2: the tail is two bytes, 16 bits in three digits */
	v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8;
	out[o++] = alphabet[v >> 18];
	out[o++] = alphabet[(v >> 12) & 63];
	out[o++] = alphabet[(v >> 6) & 63];
	out[o++] = '=';
	assert(o == B64_SHA1_LEN);
}

/* ------------------------------------------------------------------ */
/* Public                                                             */
/* ------------------------------------------------------------------ */

void
community_id(const struct flow_record *r, uint16_t seed, char out[COMMUNITY_ID_LEN])
{
	uint8_t buf[HASH_INPUT_MAX];
	uint8_t d[DIGEST_SHA1_SIZE];
	struct tuple t;
	size_t len;

	assert(r->ip_version == 4 || r->ip_version == 6);
	tuple_from_record(r, &t);
	len = hash_input(&t, seed, r->proto, buf);
	digest_sha1(buf, len, d);
	out[0] = '1';
	out[1] = ':';
	base64_sha1(d, out + 2);
	out[COMMUNITY_ID_LEN - 1] = '\0';
}
