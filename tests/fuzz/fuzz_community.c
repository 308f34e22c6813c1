/*
 * fuzz_community.c: the Community ID of arbitrary flow records.
 *
 * Input: a record in fuzz_record.h's field order, then the seed (2 bytes,
 * little endian). ip_version is forced to 4 or 6 (its low bit), the one
 * precondition community_id() asserts.
 *
 * Invariants: the id is "1:" and 28 base64 characters, the last one '='
 * (a 20-byte SHA-1), NUL-terminated; the same record gives the same id;
 * the id depends only on the fields the contract names (version, the
 * address bytes of that version, protocol, ports for TCP/UDP/SCTP, type
 * and code for ICMP/ICMPv6): a record holding only those gives the same
 * id; for any protocol but ICMP/ICMPv6 the id does not depend on which
 * side is src.
 *
 * Not here: known-answer vectors (tests/unit/test_community.c has them).
 */
#include <string.h>

#include "community.h"
#include "fuzz.h"
#include "fuzz_record.h"

static const char fuzz_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void
fuzz_check_id(const char id[COMMUNITY_ID_LEN])
{
	FUZZ_CHECK(strnlen(id, COMMUNITY_ID_LEN) == COMMUNITY_ID_LEN - 1);
	FUZZ_CHECK(id[0] == '1' && id[1] == ':');
	for (int i = 2; i < COMMUNITY_ID_LEN - 2; i++)
		FUZZ_CHECK(id[i] != '\0' && strchr(fuzz_b64, id[i]) != NULL);
	FUZZ_CHECK(id[COMMUNITY_ID_LEN - 2] == '=');
}

static int
fuzz_has_ports(uint8_t proto)
{
	return proto == 6 || proto == 17 || proto == 132;
}

static int
fuzz_is_icmp(uint8_t proto)
{
	return proto == 1 || proto == 58;
}

/* A record with only the fields the Community ID is made of. */
static void
fuzz_canonical(const struct flow_record *r, struct flow_record *c)
{
	size_t alen = r->ip_version == 4 ? 4 : 16;

	memset(c, 0, sizeof(*c));
	c->ip_version = r->ip_version;
	c->proto = r->proto;
	memcpy(c->src_ip, r->src_ip, alen);
	memcpy(c->dst_ip, r->dst_ip, alen);
	if (fuzz_has_ports(r->proto)) {
		c->src_port = r->src_port;
		c->dst_port = r->dst_port;
	}
	if (fuzz_is_icmp(r->proto)) {
		c->icmp_type = r->icmp_type;
		c->icmp_code = r->icmp_code;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	struct flow_record r, c;
	char id[COMMUNITY_ID_LEN], again[COMMUNITY_ID_LEN];
	uint16_t seed;

	fuzz_record_read(&in, &r);
	seed = (uint16_t)fuzz_le(&in, 2);
	r.ip_version = (r.ip_version & 1) ? 6 : 4;

	memset(id, 0x5a, sizeof(id));
	community_id(&r, seed, id);
	fuzz_check_id(id);
	community_id(&r, seed, again);
	FUZZ_CHECK(strcmp(id, again) == 0);

	fuzz_canonical(&r, &c);
	community_id(&c, seed, again);
	FUZZ_CHECK(strcmp(id, again) == 0);

	if (!fuzz_is_icmp(r.proto)) {
		memcpy(c.src_ip, r.dst_ip, sizeof(c.src_ip));
		memcpy(c.dst_ip, r.src_ip, sizeof(c.dst_ip));
		c.src_port = r.dst_port;
		c.dst_port = r.src_port;
		c.ip_version = r.ip_version;
		c.proto = r.proto;
		community_id(&c, seed, again);
		FUZZ_CHECK(strcmp(id, again) == 0);
	}
	return 0;
}
