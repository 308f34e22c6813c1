/*
 * fuzz_record.h: a flow record from fuzz input, field by field.
 *
 * The record is read in a fixed order of fields, not as a memory image,
 * so seeds (tests/fuzz/make_seeds.py writes the same order) keep their
 * meaning when struct flow_record changes. Integers are little endian;
 * bytes past the end of the input read as zero. Values are not cleaned
 * up: any byte in any field, as a corrupted record would have.
 *
 * Order: ip_version, proto, state, reason, tcp_flags_ts, tcp_flags_tc,
 * tcp_state, icmp_type, icmp_code, resp_icmp_type, resp_icmp_code, flags,
 * tunnel (1 byte each); src_port, dst_port, vlan[0], vlan[1], lcore (2);
 * src_ip, dst_ip (16); flow_id, start_us, end_us, pkts_toserver,
 * pkts_toclient, bytes_toserver, bytes_toclient (8); app.proto_id,
 * app.master_id (2), app.how (1), app.name, app.app, app.category (their
 * sizes).
 */
#ifndef DARTER_FUZZ_RECORD_H
#define DARTER_FUZZ_RECORD_H

#include <string.h>

#include "flow_record.h"

/* A cursor over the input; reads past the end give zeros. */
struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

static inline void
fuzz_take(struct fuzz_in *in, void *out, size_t len)
{
	size_t k = len < in->n ? len : in->n;

	memset(out, 0, len);
	memcpy(out, in->p, k);
	in->p += k;
	in->n -= k;
}

static inline uint8_t
fuzz_u8(struct fuzz_in *in)
{
	uint8_t v;

	fuzz_take(in, &v, 1);
	return v;
}

static inline uint64_t
fuzz_le(struct fuzz_in *in, size_t len)
{
	uint8_t b[8];
	uint64_t v = 0;

	fuzz_take(in, b, len);
	for (size_t i = len; i > 0; i--)
		v = v << 8 | b[i - 1];
	return v;
}

static inline void
fuzz_record_read(struct fuzz_in *in, struct flow_record *r)
{
	uint8_t *small[] = {&r->ip_version,   &r->proto,	  &r->state,	      &r->reason,
			    &r->tcp_flags_ts, &r->tcp_flags_tc,	  &r->tcp_state,      &r->icmp_type,
			    &r->icmp_code,    &r->resp_icmp_type, &r->resp_icmp_code, &r->flags,
			    &r->tunnel};
	uint16_t *mid[] = {&r->src_port, &r->dst_port, &r->vlan[0], &r->vlan[1], &r->lcore};
	uint64_t *big[] = {&r->flow_id,	      &r->start_us,	 &r->end_us,
			   &r->pkts_toserver, &r->pkts_toclient, &r->bytes_toserver,
			   &r->bytes_toclient};

	memset(r, 0, sizeof(*r));
	for (size_t i = 0; i < sizeof(small) / sizeof(small[0]); i++)
		*small[i] = fuzz_u8(in);
	for (size_t i = 0; i < sizeof(mid) / sizeof(mid[0]); i++)
		*mid[i] = (uint16_t)fuzz_le(in, 2);
	fuzz_take(in, r->src_ip, sizeof(r->src_ip));
	fuzz_take(in, r->dst_ip, sizeof(r->dst_ip));
	for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++)
		*big[i] = fuzz_le(in, 8);
	r->app.proto_id = (uint16_t)fuzz_le(in, 2);
	r->app.master_id = (uint16_t)fuzz_le(in, 2);
	r->app.how = fuzz_u8(in);
	fuzz_take(in, r->app.name, sizeof(r->app.name));
	fuzz_take(in, r->app.app, sizeof(r->app.app));
	fuzz_take(in, r->app.category, sizeof(r->app.category));
}

#endif
