/*
 * community.h: the Community ID (v1) of a flow record, the string that
 * EVE "community_id" carries ("1:" and the base64 of a SHA-1), so a flow
 * can be joined with Zeek, Suricata, Arkime or Wireshark output.
 *
 * Spec: https://github.com/corelight/community-id-spec (v1).
 */
#ifndef DARTER_COMMUNITY_H
#define DARTER_COMMUNITY_H

#include <stdint.h>

#include "flow_record.h"

/* "1:" + 28 base64 characters (20-byte SHA-1) + NUL */
#define COMMUNITY_ID_LEN (2 + 28 + 1)

/* The spec's default seed. */
#define COMMUNITY_ID_SEED_DEFAULT 0

/*
 * Writes the Community ID v1 of r, hashed with seed, into out as a
 * NUL-terminated string of exactly COMMUNITY_ID_LEN - 1 characters.
 *
 * Uses r->ip_version (must be 4 or 6: asserted), the addresses, r->proto
 * and, by protocol: the ports for TCP, UDP and SCTP; the type and code of
 * the first packet (r->icmp_type, r->icmp_code) for ICMP (1) and ICMPv6
 * (58), mapped to "ports" as the spec does; nothing more for any other
 * protocol. The result does not depend on which side is src: both
 * directions of a flow give the same id, except for one-way ICMP types,
 * where the spec keeps the direction.
 *
 * Pure function of its inputs: no allocation, no shared state, so any
 * thread may call it; r is only read.
 */
void community_id(const struct flow_record *r, uint16_t seed, char out[COMMUNITY_ID_LEN]);

#endif
