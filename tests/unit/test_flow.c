/*
 * test_flow.c: the flow table through its public API only.
 *
 * Packets are struct decode_pkt values built by hand (no decoder). Every
 * emitted record is copied into a growing array (struct sink) and checked
 * there. Timestamps are microseconds; timeouts are chosen distinct per
 * protocol class and state so that a record expiring at the wrong one is
 * caught. Random tests use a fixed-seed splitmix64, so every run sees the
 * same packets. Every test that feeds packets checks
 * created == emitted + active.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "flow.h"

#define SEC 1000000ull
#define T0  (1700000000ull * SEC) /* a plausible capture start */

#define TCP   6
#define UDP   17
#define ICMP  1
#define ICMP6 58
#define GRE   47

#define SYN DECODE_TCP_SYN
#define ACK DECODE_TCP_ACK
#define FIN DECODE_TCP_FIN
#define RST DECODE_TCP_RST
#define PSH DECODE_TCP_PSH

/* ------------------------------------------------------------------ */
/* Helpers: record sink, packets, tables                              */
/* ------------------------------------------------------------------ */

struct sink {
	struct flow_record *recs;
	size_t n, cap;
	uint64_t pkts, bytes; /* totals over every final record */
};

static void
sink_emit(void *arg, const struct flow_record *rec)
{
	struct sink *s = arg;

	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 64;
		s->recs = realloc(s->recs, s->cap * sizeof(*s->recs));
		assert_non_null(s->recs);
	}
	s->recs[s->n++] = *rec;
	if (rec->reason == FLOW_RECORD_REASON_ACTIVE)
		return; /* interim: counters so far, the final record has them all */
	s->pkts += rec->pkts_toserver + rec->pkts_toclient;
	s->bytes += rec->bytes_toserver + rec->bytes_toclient;
}

static void
sink_fini(struct sink *s)
{
	free(s->recs);
	memset(s, 0, sizeof(*s));
}

/*
 * Distinct timeouts per class and state (seconds), emergency ones too.
 * DPI, interim records and emergency mode are off: the tests of those
 * turn them on.
 */
static struct flow_conf
test_conf(uint32_t max_flows, uint32_t hash_size)
{
	struct flow_conf c;

	flow_conf_defaults(&c);
	c.max_flows = max_flows;
	c.hash_size = hash_size;
	c.timeouts[FLOW_PROTO_TCP] = (struct flow_timeouts){11, 12, 13};
	c.timeouts[FLOW_PROTO_UDP] = (struct flow_timeouts){21, 22, 23};
	c.timeouts[FLOW_PROTO_ICMP] = (struct flow_timeouts){31, 32, 33};
	c.timeouts[FLOW_PROTO_DEFAULT] = (struct flow_timeouts){41, 42, 43};
	c.emergency[FLOW_PROTO_TCP] = (struct flow_timeouts){1, 2, 3};
	c.emergency[FLOW_PROTO_UDP] = (struct flow_timeouts){4, 5, 6};
	c.emergency[FLOW_PROTO_ICMP] = (struct flow_timeouts){7, 8, 9};
	c.emergency[FLOW_PROTO_DEFAULT] = (struct flow_timeouts){14, 15, 16};
	c.active_timeout_s = 0;
	c.emergency_high = 0;
	c.dpi = 0;
	c.lcore = 7;
	return c;
}

static struct flow_table *
table_new(const struct flow_conf *c, struct sink *s)
{
	struct flow_table *t;

	memset(s, 0, sizeof(*s));
	t = flow_table_new(c, sink_emit, s);
	assert_non_null(t);
	return t;
}

static void
check_counts(const struct flow_table *t, const struct sink *s)
{
	const struct flow_table_stats *st = flow_table_stats(t);

	assert_int_equal(st->created, st->emitted + st->active);
	assert_int_equal(st->emitted + st->interim, s->n);
	assert_int_equal(st->created, st->tcp + st->udp + st->icmp + st->other);
}

static void
ip4(uint8_t a[16], uint32_t addr)
{
	memset(a, 0, 16);
	a[0] = (uint8_t)(addr >> 24);
	a[1] = (uint8_t)(addr >> 16);
	a[2] = (uint8_t)(addr >> 8);
	a[3] = (uint8_t)addr;
}

/* 2001:db8::n */
static void
ip6(uint8_t a[16], uint16_t n)
{
	memset(a, 0, 16);
	a[0] = 0x20;
	a[1] = 0x01;
	a[2] = 0x0d;
	a[3] = 0xb8;
	a[14] = (uint8_t)(n >> 8);
	a[15] = (uint8_t)n;
}

static struct decode_pkt
pkt4(uint8_t proto, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport)
{
	struct decode_pkt p;

	memset(&p, 0, sizeof(p));
	ip4(p.src, src);
	ip4(p.dst, dst);
	p.sport = sport;
	p.dport = dport;
	p.ip_version = 4;
	p.proto = proto;
	p.l3_off = 14;
	p.l4_off = 34;
	return p;
}

static struct decode_pkt
tcp4(uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport, uint8_t flags)
{
	struct decode_pkt p = pkt4(TCP, src, sport, dst, dport);

	p.tcp_flags = flags;
	return p;
}

static struct decode_pkt
icmp4(uint32_t src, uint32_t dst, uint8_t type, uint8_t code)
{
	struct decode_pkt p = pkt4(ICMP, src, 0, dst, 0);

	p.icmp_type = type;
	p.icmp_code = code;
	return p;
}

static struct decode_pkt
pkt6(uint8_t proto, uint16_t src, uint16_t sport, uint16_t dst, uint16_t dport)
{
	struct decode_pkt p;

	memset(&p, 0, sizeof(p));
	ip6(p.src, src);
	ip6(p.dst, dst);
	p.sport = sport;
	p.dport = dport;
	p.ip_version = 6;
	p.proto = proto;
	return p;
}

/* The reverse of p (same flow, other direction). */
static struct decode_pkt
rev(struct decode_pkt p, uint8_t tcp_flags)
{
	struct decode_pkt r = p;

	memcpy(r.src, p.dst, 16);
	memcpy(r.dst, p.src, 16);
	r.sport = p.dport;
	r.dport = p.sport;
	r.tcp_flags = tcp_flags;
	return r;
}

static struct decode_pkt
with_flags(struct decode_pkt p, uint8_t tcp_flags)
{
	p.tcp_flags = tcp_flags;
	return p;
}

static void
feed(struct flow_table *t, struct decode_pkt p, uint32_t len, uint64_t ts)
{
	flow_table_packet(t, &p, NULL, 0, len, ts);
}

static void
check_ip4(const uint8_t a[16], uint32_t addr)
{
	uint8_t want[16];

	ip4(want, addr);
	assert_memory_equal(a, want, 16);
}

#define A   0x0a000001u /* 10.0.0.1 */
#define B   0x0a000002u /* 10.0.0.2 */
#define C   0xc0a80101u /* 192.168.1.1 */
#define CLI 40000
#define SRV 80

/* ------------------------------------------------------------------ */
/* Creation and configuration                                          */
/* ------------------------------------------------------------------ */

static void
test_new_invalid(void **state)
{
	struct flow_conf c;
	struct sink s = {0};

	(void)state;
	flow_conf_defaults(&c);
	c.max_flows = 0;
	errno = 0;
	assert_null(flow_table_new(&c, sink_emit, &s));
	assert_int_equal(errno, EINVAL);

	flow_conf_defaults(&c);
	c.hash_size = 0;
	errno = 0;
	assert_null(flow_table_new(&c, sink_emit, &s));
	assert_int_equal(errno, EINVAL);

	flow_conf_defaults(&c);
	errno = 0;
	assert_null(flow_table_new(NULL, sink_emit, &s));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(flow_table_new(&c, NULL, &s));
	assert_int_equal(errno, EINVAL);

	flow_table_free(NULL);
}

static void
test_defaults(void **state)
{
	struct flow_conf c;

	(void)state;
	memset(&c, 0xa5, sizeof(c));
	flow_conf_defaults(&c);
	assert_int_equal(c.max_flows, 65536);
	assert_int_equal(c.hash_size, 65536);
	assert_int_equal(c.lcore, 0);
	assert_int_equal(c.timeouts[FLOW_PROTO_DEFAULT].new_s, 30);
	assert_int_equal(c.timeouts[FLOW_PROTO_DEFAULT].established_s, 300);
	assert_int_equal(c.timeouts[FLOW_PROTO_DEFAULT].closed_s, 0);
	assert_int_equal(c.timeouts[FLOW_PROTO_TCP].new_s, 60);
	assert_int_equal(c.timeouts[FLOW_PROTO_TCP].established_s, 600);
	assert_int_equal(c.timeouts[FLOW_PROTO_TCP].closed_s, 60);
	assert_int_equal(c.timeouts[FLOW_PROTO_UDP].new_s, 30);
	assert_int_equal(c.timeouts[FLOW_PROTO_UDP].established_s, 300);
	assert_int_equal(c.timeouts[FLOW_PROTO_UDP].closed_s, 0);
	assert_int_equal(c.timeouts[FLOW_PROTO_ICMP].new_s, 30);
	assert_int_equal(c.timeouts[FLOW_PROTO_ICMP].established_s, 300);
	assert_int_equal(c.timeouts[FLOW_PROTO_ICMP].closed_s, 0);
	assert_int_equal(c.emergency[FLOW_PROTO_DEFAULT].new_s, 10);
	assert_int_equal(c.emergency[FLOW_PROTO_DEFAULT].established_s, 100);
	assert_int_equal(c.emergency[FLOW_PROTO_DEFAULT].closed_s, 0);
	assert_int_equal(c.emergency[FLOW_PROTO_TCP].new_s, 5);
	assert_int_equal(c.emergency[FLOW_PROTO_TCP].established_s, 100);
	assert_int_equal(c.emergency[FLOW_PROTO_TCP].closed_s, 10);
	assert_int_equal(c.emergency[FLOW_PROTO_UDP].new_s, 10);
	assert_int_equal(c.emergency[FLOW_PROTO_UDP].established_s, 100);
	assert_int_equal(c.emergency[FLOW_PROTO_ICMP].new_s, 10);
	assert_int_equal(c.emergency[FLOW_PROTO_ICMP].established_s, 100);
	assert_int_equal(c.active_timeout_s, 300);
	assert_int_equal(c.emergency_high, 95);
	assert_int_equal(c.emergency_recovery, 30);
	assert_int_equal(c.dpi, 1);
	assert_int_equal(c.appid.max_states, 0); /* as many as max_flows */
	assert_int_equal(c.appid.max_packets_tcp, 32);
	assert_int_equal(c.appid.max_packets_udp, 16);
}

/* memuse is fixed at creation, and hash_size is rounded up to 2^n. */
static void
test_memuse(void **state)
{
	struct flow_conf c = test_conf(100, 1000), d = test_conf(100, 1024);
	struct sink s1, s2;
	struct flow_table *t1 = table_new(&c, &s1), *t2 = table_new(&d, &s2);
	struct decode_pkt p = pkt4(UDP, A, 1, B, 2);
	uint64_t m = flow_table_stats(t1)->memuse;

	(void)state;
	assert_true(m >= 100 * 64 + 1024 * 4);
	assert_int_equal(m, flow_table_stats(t2)->memuse);
	flow_table_packet(t1, &p, NULL, 0, 100, T0);
	assert_int_equal(flow_table_stats(t1)->memuse, m);
	check_counts(t1, &s1);
	flow_table_free(t1);
	flow_table_free(t2);
	sink_fini(&s1);
	sink_fini(&s2);
}

/* ------------------------------------------------------------------ */
/* Direction, counting, keys                                           */
/* ------------------------------------------------------------------ */

struct step {
	struct decode_pkt p;
	uint32_t len;
	uint64_t ts;
};

/* Feed steps[0..n) to a fresh table, flush, return the only record. */
static struct flow_record
run_steps(const struct step *steps, size_t n)
{
	struct flow_conf c = test_conf(16, 16);
	struct sink s;
	struct flow_table *t = table_new(&c, &s);
	struct flow_record r;

	for (size_t i = 0; i < n; i++)
		flow_table_packet(t, &steps[i].p, NULL, 0, steps[i].len, steps[i].ts);
	assert_int_equal(s.n, 0);
	assert_int_equal(flow_table_stats(t)->active, 1);
	flow_table_flush(t, FLOW_RECORD_REASON_SHUTDOWN);
	check_counts(t, &s);
	assert_int_equal(s.n, 1);
	r = s.recs[0];
	flow_table_free(t);
	sink_fini(&s);
	return r;
}

static void
test_direction_first_packet(void **state)
{
	/* the client has the higher address: direction is not key order */
	struct decode_pkt q = pkt4(UDP, B, 5353, A, 53);
	struct step st[] = {
		{q, 100, T0},
		{rev(q, 0), 200, T0 + 1},
		{rev(q, 0), 300, T0 + 2},
	};
	struct flow_record r = run_steps(st, 3);

	(void)state;
	check_ip4(r.src_ip, B);
	check_ip4(r.dst_ip, A);
	assert_int_equal(r.src_port, 5353);
	assert_int_equal(r.dst_port, 53);
	assert_int_equal(r.pkts_toserver, 1);
	assert_int_equal(r.pkts_toclient, 2);
	assert_int_equal(r.bytes_toserver, 100);
	assert_int_equal(r.bytes_toclient, 500);
	assert_int_equal(r.start_us, T0);
	assert_int_equal(r.end_us, T0 + 2);
	assert_int_equal(r.state, FLOW_RECORD_STATE_ESTABLISHED);
	assert_int_equal(r.reason, FLOW_RECORD_REASON_SHUTDOWN);
	assert_int_equal(r.ip_version, 4);
	assert_int_equal(r.proto, UDP);
	assert_int_equal(r.lcore, 7);
	assert_int_equal(r.tcp_state, FLOW_RECORD_TCP_NONE);
	assert_int_equal(r.flags, 0);

	/* the same packets, the other host first */
	st[0].p = rev(q, 0);
	st[1].p = q;
	st[2].p = q;
	r = run_steps(st, 1);
	check_ip4(r.src_ip, A);
	assert_int_equal(r.src_port, 53);
	assert_int_equal(r.pkts_toserver, 1);
	assert_int_equal(r.pkts_toclient, 0);
	assert_int_equal(r.state, FLOW_RECORD_STATE_NEW);
}

static void
test_direction_synack_first(void **state)
{
	struct decode_pkt sa = tcp4(B, SRV, A, CLI, SYN | ACK); /* server -> client */
	struct step st[] = {
		{sa, 60, T0},
		{rev(sa, ACK), 54, T0 + 10},
	};
	struct flow_record r = run_steps(st, 1);

	(void)state;
	check_ip4(r.src_ip, A);
	check_ip4(r.dst_ip, B);
	assert_int_equal(r.src_port, CLI);
	assert_int_equal(r.dst_port, SRV);
	assert_int_equal(r.pkts_toserver, 0);
	assert_int_equal(r.pkts_toclient, 1);
	assert_int_equal(r.bytes_toclient, 60);
	assert_int_equal(r.tcp_flags_ts, 0);
	assert_int_equal(r.tcp_flags_tc, SYN | ACK);
	assert_int_equal(r.tcp_state, FLOW_RECORD_TCP_SYN_RECV);
	assert_int_equal(r.state, FLOW_RECORD_STATE_NEW);

	r = run_steps(st, 2);
	assert_int_equal(r.src_port, CLI);
	assert_int_equal(r.pkts_toserver, 1);
	assert_int_equal(r.bytes_toserver, 54);
	assert_int_equal(r.tcp_flags_ts, ACK);
	assert_int_equal(r.tcp_state, FLOW_RECORD_TCP_ESTABLISHED);
	assert_int_equal(r.state, FLOW_RECORD_STATE_ESTABLISHED);
}

static void
test_bidirectional_counting(void **state)
{
	struct flow_conf c = test_conf(16, 16);
	struct sink s;
	struct flow_table *t = table_new(&c, &s);
	struct decode_pkt syn = tcp4(A, CLI, B, SRV, SYN);
	uint64_t ts = T0, bts = 0, btc = 0;

	(void)state;
	flow_table_packet(t, &syn, NULL, 0, 74, ts++);
	bts += 74;
	for (unsigned i = 0; i < 50; i++) {
		struct decode_pkt p = i % 3 ? rev(syn, ACK | PSH) : with_flags(syn, ACK);
		uint32_t len = 60 + i;

		flow_table_packet(t, &p, NULL, 0, len, ts++);
		if (i % 3)
			btc += len;
		else
			bts += len;
		assert_int_equal(flow_table_stats(t)->active, 1);
	}
	flow_table_flush(t, FLOW_RECORD_REASON_SHUTDOWN);
	check_counts(t, &s);
	assert_int_equal(s.n, 1);
	assert_int_equal(flow_table_stats(t)->created, 1);
	assert_int_equal(flow_table_stats(t)->tcp, 1);
	assert_int_equal(s.recs[0].pkts_toserver, 1 + 17);
	assert_int_equal(s.recs[0].pkts_toclient, 33);
	assert_int_equal(s.recs[0].bytes_toserver, bts);
	assert_int_equal(s.recs[0].bytes_toclient, btc);
	assert_int_equal(s.recs[0].tcp_flags_ts, SYN | ACK);
	assert_int_equal(s.recs[0].tcp_flags_tc, ACK | PSH);
	assert_int_equal(s.recs[0].end_us, ts - 1);
	flow_table_free(t);
	sink_fini(&s);
}

static void
test_icmp(void **state)
{
	struct decode_pkt req = icmp4(A, B, 8, 0), rep = icmp4(B, A, 0, 0);
	struct decode_pkt unreach = icmp4(A, B, 3, 1);
	struct step st[] = {
		{req, 98, T0},
		{rep, 98, T0 + 1},
		{unreach, 70, T0 + 2},
		{icmp4(B, A, 5, 1), 70, T0 + 3},
	};
	struct flow_record r;

	(void)state;
	/* decoders may leave ports set for ICMP: they are not part of the key */
	st[2].p.sport = 1234;
	st[3].p.dport = 77;
	r = run_steps(st, 4);
	assert_int_equal(r.proto, ICMP);
	check_ip4(r.src_ip, A);
	assert_int_equal(r.src_port, 0);
	assert_int_equal(r.dst_port, 0);
	assert_int_equal(r.icmp_type, 8);
	assert_int_equal(r.icmp_code, 0);
	assert_int_equal(r.resp_icmp_type, 0);
	assert_int_equal(r.resp_icmp_code, 0);
	assert_int_equal(r.flags, FLOW_RECORD_F_ICMP_RESP);
	assert_int_equal(r.pkts_toserver, 2);
	assert_int_equal(r.pkts_toclient, 2);
	assert_int_equal(r.state, FLOW_RECORD_STATE_ESTABLISHED);
	assert_int_equal(r.tcp_state, FLOW_RECORD_TCP_NONE);

	/* no reply: no response type */
	st[0].p = unreach;
	r = run_steps(st, 1);
	assert_int_equal(r.icmp_type, 3);
	assert_int_equal(r.icmp_code, 1);
	assert_int_equal(r.flags, 0);
	assert_int_equal(r.resp_icmp_type, 0);
	assert_int_equal(r.state, FLOW_RECORD_STATE_NEW);

	/* ICMPv6 echo */
	st[0].p = pkt6(ICMP6, 1, 0, 2, 0);
	st[0].p.icmp_type = 128;
	st[1].p = rev(st[0].p, 0);
	st[1].p.icmp_type = 129;
	r = run_steps(st, 2);
	assert_int_equal(r.ip_version, 6);
	assert_int_equal(r.proto, ICMP6);
	assert_int_equal(r.icmp_type, 128);
	assert_int_equal(r.resp_icmp_type, 129);
	assert_int_equal(r.flags, FLOW_RECORD_F_ICMP_RESP);
	assert_int_equal(r.state, FLOW_RECORD_STATE_ESTABLISHED);
}

static void
test_vlan(void **state)
{
	static const uint16_t vl[][2] = {{0, 0}, {10, 0}, {20, 0}, {10, 5}, {0, 5}};
	struct flow_conf c = test_conf(16, 16);
	struct sink s;
	struct flow_table *t = table_new(&c, &s);

	(void)state;
	for (size_t i = 0; i < 5; i++) {
		struct decode_pkt p = pkt4(UDP, A, 1000, B, 53);

		p.vlan[0] = vl[i][0];
		p.vlan[1] = vl[i][1];
		flow_table_packet(t, &p, NULL, 0, 100, T0 + i);
	}
	for (size_t i = 0; i < 5; i++) {
		struct decode_pkt p = rev(pkt4(UDP, A, 1000, B, 53), 0);

		p.vlan[0] = vl[i][0];
		p.vlan[1] = vl[i][1];
		flow_table_packet(t, &p, NULL, 0, 100, T0 + 10 + i);
	}
	assert_int_equal(flow_table_stats(t)->active, 5);
	flow_table_flush(t, FLOW_RECORD_REASON_SHUTDOWN);
	check_counts(t, &s);
	assert_int_equal(s.n, 5);
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(s.recs[i].vlan[0], vl[i][0]);
		assert_int_equal(s.recs[i].vlan[1], vl[i][1]);
		assert_int_equal(s.recs[i].pkts_toserver, 1);
		assert_int_equal(s.recs[i].pkts_toclient, 1);
	}
	flow_table_free(t);
	sink_fini(&s);
}

static void
test_ipv6(void **state)
{
	struct flow_conf c = test_conf(16, 16);
	struct sink s;
	struct flow_table *t = table_new(&c, &s);
	struct decode_pkt syn = pkt6(TCP, 2, CLI, 1, 443);
	/* same address bytes and ports: only ip_version tells them apart */
	struct decode_pkt v6 = pkt6(UDP, 0, 9, 0, 10);
	struct decode_pkt v4 = pkt4(UDP, 0x20010db8u, 9, 0x20010db8u, 10);
	uint8_t want[16];

	(void)state;
	assert_memory_equal(v4.src, v6.src, 16);
	syn.tcp_flags = SYN;
	flow_table_packet(t, &syn, NULL, 0, 80, T0);
	feed(t, rev(syn, SYN | ACK), 80, T0 + 1);
	feed(t, with_flags(syn, ACK), 72, T0 + 2);
	flow_table_packet(t, &v6, NULL, 0, 100, T0 + 3);
	flow_table_packet(t, &v4, NULL, 0, 100, T0 + 4);
	feed(t, rev(v4, 0), 100, T0 + 5);
	assert_int_equal(flow_table_stats(t)->active, 3);
	flow_table_flush(t, FLOW_RECORD_REASON_SHUTDOWN);
	check_counts(t, &s);
	assert_int_equal(s.n, 3);

	assert_int_equal(s.recs[0].ip_version, 6);
	assert_int_equal(s.recs[0].proto, TCP);
	ip6(want, 2);
	assert_memory_equal(s.recs[0].src_ip, want, 16);
	ip6(want, 1);
	assert_memory_equal(s.recs[0].dst_ip, want, 16);
	assert_int_equal(s.recs[0].src_port, CLI);
	assert_int_equal(s.recs[0].dst_port, 443);
	assert_int_equal(s.recs[0].pkts_toserver, 2);
	assert_int_equal(s.recs[0].pkts_toclient, 1);
	assert_int_equal(s.recs[0].tcp_state, FLOW_RECORD_TCP_ESTABLISHED);

	assert_int_equal(s.recs[1].ip_version, 6);
	assert_int_equal(s.recs[1].pkts_toserver + s.recs[1].pkts_toclient, 1);
	assert_int_equal(s.recs[2].ip_version, 4);
	assert_int_equal(s.recs[2].pkts_toserver, 1);
	assert_int_equal(s.recs[2].pkts_toclient, 1);
	assert_int_equal(flow_table_stats(t)->tcp, 1);
	assert_int_equal(flow_table_stats(t)->udp, 2);
	flow_table_free(t);
	sink_fini(&s);
}

static void
test_flow_id(void **state)
{
	struct flow_conf c = test_conf(16, 16);
	struct sink s1, s2;
	struct flow_table *t1 = table_new(&c, &s1), *t2 = table_new(&c, &s2);
	struct decode_pkt p = pkt4(UDP, A, 1000, B, 53);
	struct decode_pkt q = pkt6(TCP, 5, 1, 6, 2);

	(void)state;
	/* the same flow, started from either end, at the same time */
	flow_table_packet(t1, &p, NULL, 0, 100, T0);
	feed(t2, rev(p, 0), 100, T0);
	/* other flows, or the same key at another time */
	flow_table_packet(t1, &q, NULL, 0, 100, T0);
	flow_table_packet(t2, &p, NULL, 0, 100, T0 + 100 * SEC); /* past UDP new timeout */
	flow_table_flush(t1, FLOW_RECORD_REASON_SHUTDOWN);
	flow_table_flush(t2, FLOW_RECORD_REASON_SHUTDOWN);
	assert_int_equal(s1.n, 2);
	assert_int_equal(s2.n, 2);
	assert_int_equal(s2.recs[0].reason, FLOW_RECORD_REASON_TIMEOUT);
	for (size_t i = 0; i < 2; i++) {
		assert_int_not_equal(s1.recs[i].flow_id, 0);
		assert_true(s1.recs[i].flow_id < (1ull << 51));
		assert_int_not_equal(s2.recs[i].flow_id, 0);
		assert_true(s2.recs[i].flow_id < (1ull << 51));
	}
	assert_int_equal(s1.recs[0].flow_id, s2.recs[0].flow_id);
	assert_int_not_equal(s1.recs[0].src_port, s2.recs[0].src_port);
	assert_int_not_equal(s1.recs[0].flow_id, s1.recs[1].flow_id);
	assert_int_not_equal(s2.recs[0].flow_id, s2.recs[1].flow_id);
	check_counts(t1, &s1);
	check_counts(t2, &s2);
	flow_table_free(t1);
	flow_table_free(t2);
	sink_fini(&s1);
	sink_fini(&s2);
}

static int
cmp_flow_id(const void *x, const void *y)
{
	const struct flow_record *a = x, *b = y;

	return (a->flow_id > b->flow_id) - (a->flow_id < b->flow_id);
}

/*
 * Keys whose hashes collide are still different flows. flow_id mixes the
 * key hash with the start time, so at one start time equal flow_ids mean
 * equal hashes: 250k keys give several 32-bit collisions (if a change of
 * hash function leaves none, the test is skipped, not failed).
 */
static void
test_hash_collision(void **state)
{
	const uint32_t n = 250000;
	struct flow_conf c = test_conf(n, 1 << 16);
	struct sink s;
	struct flow_table *t = table_new(&c, &s);
	size_t collisions = 0;

	(void)state;
	for (uint32_t i = 0; i < n; i++) {
		struct decode_pkt p = pkt4(UDP, A, (uint16_t)(1024 + i % 50000), B, 53);

		p.vlan[0] = (uint16_t)(i / 50000);
		feed(t, p, 100, T0);
	}
	assert_int_equal(flow_table_stats(t)->active, n);
	flow_table_flush(t, FLOW_RECORD_REASON_SHUTDOWN);
	assert_int_equal(s.n, n);
	check_counts(t, &s);
	qsort(s.recs, s.n, sizeof(*s.recs), cmp_flow_id);
	for (size_t i = 1; i < s.n; i++) {
		const struct flow_record *a = &s.recs[i - 1], *b = &s.recs[i];

		if (a->flow_id != b->flow_id)
			continue;
		collisions++;
		assert_true(a->src_port != b->src_port || a->vlan[0] != b->vlan[0]);
		assert_int_equal(a->pkts_toserver, 1);
		assert_int_equal(b->pkts_toserver, 1);
	}
	flow_table_free(t);
	sink_fini(&s);
	print_message("# %zu hash collisions\n", collisions);
	if (collisions == 0)
		skip();
}

/* ------------------------------------------------------------------ */
/* Timeouts                                                            */
/* ------------------------------------------------------------------ */

struct tmo_case {
	const char *name;
	struct step steps[3];
	size_t n;
	struct decode_pkt probe; /* a later packet of the same flow */
	uint8_t state;		 /* flow state before the timeout */
	uint64_t tmo_s;		 /* from test_conf() */
};

static size_t
tmo_cases(struct tmo_case *tc)
{
	struct decode_pkt syn = tcp4(A, CLI, B, SRV, SYN), u = pkt4(UDP, A, 1000, B, 53);
	struct decode_pkt e = icmp4(A, B, 8, 0), gre = pkt4(GRE, A, 0, B, 0);
	struct decode_pkt e6 = pkt6(ICMP6, 1, 0, 2, 0);
	size_t n = 0;

	e6.icmp_type = 128;
	tc[n++] = (struct tmo_case){
		"tcp new", {{syn, 74, T0}}, 1, with_flags(syn, ACK), FLOW_RECORD_STATE_NEW, 11};
	tc[n++] = (struct tmo_case){"tcp established",
				    {{syn, 74, T0},
				     {rev(syn, SYN | ACK), 74, T0 + 5},
				     {with_flags(syn, ACK), 66, T0 + 9}},
				    3,
				    with_flags(syn, ACK),
				    FLOW_RECORD_STATE_ESTABLISHED,
				    12};
	tc[n++] = (struct tmo_case){
		"tcp closed (rst)",
		{{syn, 74, T0}, {rev(syn, SYN | ACK), 74, T0 + 5}, {rev(syn, RST), 60, T0 + 9}},
		3,
		with_flags(syn, ACK),
		FLOW_RECORD_STATE_CLOSED,
		13};
	tc[n++] = (struct tmo_case){"udp new", {{u, 100, T0}}, 1, u, FLOW_RECORD_STATE_NEW, 21};
	tc[n++] = (struct tmo_case){"udp established",
				    {{u, 100, T0}, {rev(u, 0), 100, T0 + 3}},
				    2,
				    u,
				    FLOW_RECORD_STATE_ESTABLISHED,
				    22};
	tc[n++] = (struct tmo_case){"icmp new", {{e, 98, T0}}, 1, e, FLOW_RECORD_STATE_NEW, 31};
	tc[n++] = (struct tmo_case){"icmp established",
				    {{e, 98, T0}, {icmp4(B, A, 0, 0), 98, T0 + 1}},
				    2,
				    e,
				    FLOW_RECORD_STATE_ESTABLISHED,
				    32};
	tc[n++] = (struct tmo_case){"icmpv6 new", {{e6, 98, T0}}, 1, e6, FLOW_RECORD_STATE_NEW, 31};
	tc[n++] =
		(struct tmo_case){"other new", {{gre, 90, T0}}, 1, gre, FLOW_RECORD_STATE_NEW, 41};
	tc[n++] = (struct tmo_case){"other established",
				    {{gre, 90, T0}, {rev(gre, 0), 90, T0 + 7}},
				    2,
				    gre,
				    FLOW_RECORD_STATE_ESTABLISHED,
				    42};
	return n;
}

static struct flow_table *
tmo_setup(const struct tmo_case *tc, struct sink *s, uint64_t *last)
{
	struct flow_conf c = test_conf(16, 16);
	struct flow_table *t = table_new(&c, s);

	for (size_t i = 0; i < tc->n; i++)
		flow_table_packet(t, &tc->steps[i].p, NULL, 0, tc->steps[i].len, tc->steps[i].ts);
	*last = tc->steps[tc->n - 1].ts;
	assert_int_equal(s->n, 0);
	return t;
}

static void
tmo_check(const struct tmo_case *tc, const struct flow_record *r, uint64_t last)
{
	if (r->reason != FLOW_RECORD_REASON_TIMEOUT || r->state != tc->state || r->end_us != last)
		fail_msg("%s: reason %u state %u end %llu", tc->name, r->reason, r->state,
			 (unsigned long long)r->end_us);
	assert_int_equal(r->pkts_toserver + r->pkts_toclient, tc->n);
}

/* The sweep: nothing at exactly the timeout, the flow 1 us later. */
static void
test_timeout_sweep(void **state)
{
	struct tmo_case tc[16];
	size_t n = tmo_cases(tc);

	(void)state;
	for (size_t i = 0; i < n; i++) {
		struct sink s;
		uint64_t last;
		struct flow_table *t = tmo_setup(&tc[i], &s, &last);
		uint64_t at = last + tc[i].tmo_s * SEC;

		if (flow_table_expire(t, at, UINT32_MAX) != 0)
			fail_msg("%s: expired at exactly its timeout", tc[i].name);
		assert_int_equal(flow_table_expire(t, at + 1, UINT32_MAX), 1);
		assert_int_equal(s.n, 1);
		tmo_check(&tc[i], &s.recs[0], last);
		assert_int_equal(flow_table_stats(t)->timeout, 1);
		assert_int_equal(flow_table_stats(t)->active, 0);
		check_counts(t, &s);
		flow_table_free(t);
		sink_fini(&s);
	}
}

/* Expiry on lookup: the packet that finds an expired flow starts a new one. */
static void
test_timeout_lookup(void **state)
{
	struct tmo_case tc[16];
	size_t n = tmo_cases(tc);

	(void)state;
	for (size_t i = 0; i < n; i++) {
		struct sink s;
		uint64_t last;
		struct flow_table *t = tmo_setup(&tc[i], &s, &last);
		uint64_t at = last + tc[i].tmo_s * SEC;

		/* at exactly the timeout: the same flow */
		flow_table_packet(t, &tc[i].probe, NULL, 0, 10, at);
		if (s.n != 0)
			fail_msg("%s: expired at exactly its timeout", tc[i].name);
		flow_table_free(t);
		sink_fini(&s);

		/* 1 us later: the old flow out, a new one holding the probe */
		t = tmo_setup(&tc[i], &s, &last);
		flow_table_packet(t, &tc[i].probe, NULL, 0, 10, at + 1);
		assert_int_equal(s.n, 1);
		tmo_check(&tc[i], &s.recs[0], last);
		assert_int_equal(flow_table_stats(t)->active, 1);
		flow_table_flush(t, FLOW_RECORD_REASON_SHUTDOWN);
		assert_int_equal(s.n, 2);
		assert_int_equal(s.recs[1].start_us, at + 1);
		assert_int_equal(s.recs[1].pkts_toserver, 1);
		assert_int_equal(s.recs[1].pkts_toclient, 0);
		assert_int_equal(s.recs[1].bytes_toserver, 10);
		assert_int_equal(s.recs[1].reason, FLOW_RECORD_REASON_SHUTDOWN);
		assert_int_equal(flow_table_stats(t)->timeout, 1);
		assert_int_equal(flow_table_stats(t)->created, 2);
		check_counts(t, &s);
		flow_table_free(t);
		sink_fini(&s);
	}
}

/* Idle time counts from the latest packet; a late packet does not rewind it. */
static void
test_timeout_reordered(void **state)
{
	struct flow_conf c = test_conf(16, 16);
	struct sink s;
	struct flow_table *t = table_new(&c, &s);
	struct decode_pkt u = pkt4(UDP, A, 1000, B, 53);

	(void)state;
	flow_table_packet(t, &u, NULL, 0, 100, T0 + 10 * SEC);
	flow_table_packet(t, &u, NULL, 0, 100, T0 + 5 * SEC);
	assert_int_equal(flow_table_expire(t, T0 + 31 * SEC, UINT32_MAX), 0);
	flow_table_packet(t, &u, NULL, 0, 100, T0 + 4 * SEC); /* an older "now": not expired */
	assert_int_equal(flow_table_expire(t, T0 + 31 * SEC + 1, UINT32_MAX), 1);
	assert_int_equal(s.recs[0].start_us, T0 + 10 * SEC);
	assert_int_equal(s.recs[0].end_us, T0 + 10 * SEC);
	assert_int_equal(s.recs[0].pkts_toserver, 3);
	check_counts(t, &s);
	flow_table_free(t);
	sink_fini(&s);
}

/* The sweep visits at most max_buckets buckets per call and wraps around. */
static void
test_expire_budget(void **state)
{
	struct flow_conf c = test_conf(128, 16);
	struct sink s;
	struct flow_table *t = table_new(&c, &s);
	unsigned got = 0;

	(void)state;
	for (uint16_t i = 0; i < 64; i++) {
		struct decode_pkt p = pkt4(UDP, A, (uint16_t)(1000 + i), B, 53);

		flow_table_packet(t, &p, NULL, 0, 100, T0);
	}
	assert_int_equal(flow_table_expire(t, T0 + 100 * SEC, 0), 0);
	for (int i = 0; i < 3; i++)
		got += flow_table_expire(t, T0 + 100 * SEC, 4);
	assert_true(got < 64); /* 12 of 16 buckets cannot hold all 64 */
	got += flow_table_expire(t, T0 + 100 * SEC, 4);
	assert_int_equal(got, 64);
	assert_int_equal(flow_table_expire(t, T0 + 100 * SEC, UINT32_MAX), 0);
	assert_int_equal(flow_table_stats(t)->active, 0);
	assert_int_equal(flow_table_stats(t)->timeout, 64);
	check_counts(t, &s);
	flow_table_free(t);
	sink_fini(&s);
}

/* ------------------------------------------------------------------ */
/* TCP state                                                           */
/* ------------------------------------------------------------------ */

struct tcp_expect {
	uint8_t tcp_state;
	uint8_t state;
};

/* After each prefix of steps, the record's tcp_state and state. */
static void
check_prefixes(const char *name, const struct step *st, const struct tcp_expect *ex, size_t n)
{
	for (size_t i = 1; i <= n; i++) {
		struct flow_record r = run_steps(st, i);

		if (r.tcp_state != ex[i - 1].tcp_state || r.state != ex[i - 1].state)
			fail_msg("%s, after packet %zu: tcp_state %u state %u, want %u %u", name, i,
				 r.tcp_state, r.state, ex[i - 1].tcp_state, ex[i - 1].state);
	}
}

/* The three-way handshake and one exchange of data: 5 steps. */
static size_t
handshake(struct step *st)
{
	struct decode_pkt c = tcp4(A, CLI, B, SRV, 0), s = rev(c, 0);
	const uint8_t fl[5] = {SYN, SYN | ACK, ACK, PSH | ACK, ACK};
	const int from_client[5] = {1, 0, 1, 1, 0};

	for (size_t i = 0; i < 5; i++) {
		st[i].p = with_flags(from_client[i] ? c : s, fl[i]);
		st[i].len = 66 + (uint32_t)i;
		st[i].ts = T0 + i * 1000;
	}
	return 5;
}

static size_t
add_step(struct step *st, size_t n, int from_client, uint8_t flags)
{
	struct decode_pkt c = tcp4(A, CLI, B, SRV, flags);

	st[n].p = from_client ? c : rev(c, flags);
	st[n].len = 66;
	st[n].ts = T0 + n * 1000;
	return n + 1;
}

#define X(t, s)                                                                                    \
	{                                                                                          \
		FLOW_RECORD_TCP_##t, FLOW_RECORD_STATE_##s                                         \
	}

static void
test_tcp_handshake(void **state)
{
	struct step st[8];
	size_t n = handshake(st);
	const struct tcp_expect ex[] = {X(SYN_SENT, NEW), X(SYN_RECV, ESTABLISHED),
					X(ESTABLISHED, ESTABLISHED), X(ESTABLISHED, ESTABLISHED),
					X(ESTABLISHED, ESTABLISHED)};
	const struct tcp_expect ex_lost[] = {X(SYN_SENT, NEW), X(ESTABLISHED, ESTABLISHED)};
	const struct tcp_expect ex_oneway[] = {X(SYN_SENT, NEW), X(SYN_SENT, NEW),
					       X(SYN_SENT, NEW)};

	(void)state;
	check_prefixes("handshake", st, ex, n);

	/* SYN+ACK not captured: the server's next packet establishes */
	n = add_step(st, 1, 0, ACK);
	check_prefixes("no syn-ack", st, ex_lost, n);
	/* only the client's side captured: never established */
	n = add_step(st, 1, 1, ACK);
	n = add_step(st, n, 1, PSH | ACK);
	check_prefixes("one-sided", st, ex_oneway, n);
}

static void
test_tcp_midstream(void **state)
{
	struct step st[4];
	size_t n = add_step(st, 0, 1, ACK);
	const struct tcp_expect ex[] = {X(NONE, NEW), X(ESTABLISHED, ESTABLISHED)};
	const struct tcp_expect ex_fin[] = {X(NONE, NEW), X(FIN_WAIT1, ESTABLISHED)};
	struct flow_record r;

	(void)state;
	n = add_step(st, n, 0, ACK);
	check_prefixes("midstream", st, ex, n);
	n = add_step(st, 1, 0, FIN | ACK);
	check_prefixes("midstream fin", st, ex_fin, n);
	r = run_steps(st, 1);
	check_ip4(r.src_ip, A); /* a midstream flow's client is its first sender */
}

static void
test_tcp_close_client_first(void **state)
{
	struct step st[16];
	size_t n = handshake(st);
	const struct tcp_expect ex[] = {
		X(SYN_SENT, NEW),
		X(SYN_RECV, ESTABLISHED),
		X(ESTABLISHED, ESTABLISHED),
		X(ESTABLISHED, ESTABLISHED),
		X(ESTABLISHED, ESTABLISHED),
		X(CLOSE_WAIT, ESTABLISHED),
		X(CLOSE_WAIT, ESTABLISHED),
		X(CLOSE_WAIT, ESTABLISHED),
		X(LAST_ACK, CLOSED),
		X(CLOSED, CLOSED),
		X(CLOSED, CLOSED),
	};
	struct flow_record r;

	(void)state;
	n = add_step(st, n, 1, FIN | ACK);
	n = add_step(st, n, 0, ACK);
	n = add_step(st, n, 1, FIN | ACK); /* the client repeats its FIN: no change */
	n = add_step(st, n, 0, FIN | ACK);
	n = add_step(st, n, 1, ACK);
	n = add_step(st, n, 0, ACK);
	check_prefixes("client closes", st, ex, n);
	r = run_steps(st, n);
	assert_int_equal(r.tcp_flags_ts, SYN | ACK | PSH | FIN);
	assert_int_equal(r.tcp_flags_tc, SYN | ACK | FIN);
	assert_int_equal(r.pkts_toserver, 6);
	assert_int_equal(r.pkts_toclient, 5);
}

static void
test_tcp_close_server_first(void **state)
{
	struct step st[16];
	size_t n = handshake(st), m;
	const struct tcp_expect ex[] = {
		X(SYN_SENT, NEW),
		X(SYN_RECV, ESTABLISHED),
		X(ESTABLISHED, ESTABLISHED),
		X(ESTABLISHED, ESTABLISHED),
		X(ESTABLISHED, ESTABLISHED),
		X(FIN_WAIT1, ESTABLISHED),
		X(FIN_WAIT1, ESTABLISHED),
		X(FIN_WAIT2, ESTABLISHED),
		X(TIME_WAIT, CLOSED),
		X(CLOSED, CLOSED),
	};
	const struct tcp_expect ex_sim[] = {
		X(SYN_SENT, NEW),
		X(SYN_RECV, ESTABLISHED),
		X(ESTABLISHED, ESTABLISHED),
		X(ESTABLISHED, ESTABLISHED),
		X(ESTABLISHED, ESTABLISHED),
		X(FIN_WAIT1, ESTABLISHED),
		X(CLOSING, ESTABLISHED),
		X(TIME_WAIT, CLOSED),
		X(CLOSED, CLOSED),
	};
	const struct tcp_expect ex_finack[] = {
		X(SYN_SENT, NEW),
		X(SYN_RECV, ESTABLISHED),
		X(ESTABLISHED, ESTABLISHED),
		X(ESTABLISHED, ESTABLISHED),
		X(ESTABLISHED, ESTABLISHED),
		X(FIN_WAIT1, ESTABLISHED),
		X(TIME_WAIT, CLOSED),
		X(CLOSED, CLOSED),
	};

	(void)state;
	n = add_step(st, n, 0, FIN | ACK);
	n = add_step(st, n, 0, FIN | ACK); /* the server repeats its FIN: no change */
	n = add_step(st, n, 1, ACK);
	n = add_step(st, n, 1, FIN | ACK);
	n = add_step(st, n, 0, ACK);
	check_prefixes("server closes", st, ex, n);

	/* simultaneous close: the client's FIN does not ack the server's */
	m = add_step(st, 5, 0, FIN | ACK);
	m = add_step(st, m, 1, FIN);
	m = add_step(st, m, 0, ACK);
	m = add_step(st, m, 1, ACK);
	check_prefixes("simultaneous close", st, ex_sim, m);

	/* the client's FIN acks the server's at once */
	m = add_step(st, 5, 0, FIN | ACK);
	m = add_step(st, m, 1, FIN | ACK);
	m = add_step(st, m, 0, ACK);
	check_prefixes("fin-ack close", st, ex_finack, m);
}

static void
test_tcp_rst(void **state)
{
	struct step st[16];
	size_t n;
	const struct tcp_expect refused[] = {X(SYN_SENT, NEW), X(CLOSED, CLOSED),
					     X(CLOSED, CLOSED)};
	const struct tcp_expect alone[] = {X(CLOSED, CLOSED), X(CLOSED, CLOSED)};
	const struct tcp_expect reset[] = {
		X(SYN_SENT, NEW),
		X(SYN_RECV, ESTABLISHED),
		X(ESTABLISHED, ESTABLISHED),
		X(ESTABLISHED, ESTABLISHED),
		X(ESTABLISHED, ESTABLISHED),
		X(CLOSED, CLOSED),
		X(CLOSED, CLOSED),
	};

	(void)state;
	n = add_step(st, 0, 1, SYN);
	n = add_step(st, n, 0, RST | ACK);
	n = add_step(st, n, 1, ACK); /* packets after a RST keep it closed */
	check_prefixes("refused", st, refused, n);

	n = add_step(st, 0, 1, RST);
	n = add_step(st, n, 0, ACK);
	check_prefixes("lone rst", st, alone, n);

	n = handshake(st);
	n = add_step(st, n, 1, RST | ACK);
	n = add_step(st, n, 0, PSH | ACK);
	check_prefixes("reset", st, reset, n);
}

/* A CLOSED TCP flow lives closed_s, not established_s, after its last packet. */
static void
test_tcp_closed_timeout(void **state)
{
	struct flow_conf c = test_conf(16, 16);
	struct sink s;
	struct flow_table *t;
	struct step st[16];
	size_t n = handshake(st);
	uint64_t last;

	(void)state;
	n = add_step(st, n, 1, FIN | ACK);
	n = add_step(st, n, 0, FIN | ACK); /* LAST_ACK: the flow is CLOSED */
	last = st[n - 1].ts;
	c.timeouts[FLOW_PROTO_TCP] = (struct flow_timeouts){11, 12, 60};
	t = table_new(&c, &s);
	for (size_t i = 0; i < n; i++)
		flow_table_packet(t, &st[i].p, NULL, 0, st[i].len, st[i].ts);
	assert_int_equal(flow_table_expire(t, last + 12 * SEC + 1, UINT32_MAX), 0);
	assert_int_equal(flow_table_expire(t, last + 60 * SEC, UINT32_MAX), 0);
	assert_int_equal(flow_table_expire(t, last + 60 * SEC + 1, UINT32_MAX), 1);
	assert_int_equal(s.recs[0].state, FLOW_RECORD_STATE_CLOSED);
	assert_int_equal(s.recs[0].tcp_state, FLOW_RECORD_TCP_LAST_ACK);
	assert_int_equal(s.recs[0].reason, FLOW_RECORD_REASON_TIMEOUT);
	check_counts(t, &s);
	flow_table_free(t);
	sink_fini(&s);

	/* with closed_s 0, any later time expires it */
	c.timeouts[FLOW_PROTO_TCP].closed_s = 0;
	t = table_new(&c, &s);
	for (size_t i = 0; i < n; i++)
		flow_table_packet(t, &st[i].p, NULL, 0, st[i].len, st[i].ts);
	assert_int_equal(flow_table_expire(t, last, UINT32_MAX), 0);
	assert_int_equal(flow_table_expire(t, last + 1, UINT32_MAX), 1);
	flow_table_free(t);
	sink_fini(&s);
}

static void
test_tcp_port_reuse(void **state)
{
	struct flow_conf c = test_conf(16, 16);
	struct sink s;
	struct flow_table *t;
	struct step st[16];
	size_t n = handshake(st);
	struct decode_pkt syn = tcp4(A, CLI, B, SRV, SYN);
	uint64_t last;

	(void)state;
	n = add_step(st, n, 1, FIN | ACK);
	n = add_step(st, n, 0, FIN | ACK);
	n = add_step(st, n, 1, ACK);
	last = st[n - 1].ts;

	/* a SYN on the closed flow: old one out (FORCED), new one in */
	t = table_new(&c, &s);
	for (size_t i = 0; i < n; i++)
		flow_table_packet(t, &st[i].p, NULL, 0, st[i].len, st[i].ts);
	feed(t, syn, 74, last + SEC);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.recs[0].reason, FLOW_RECORD_REASON_FORCED);
	assert_int_equal(s.recs[0].tcp_state, FLOW_RECORD_TCP_CLOSED);
	assert_int_equal(s.recs[0].pkts_toserver + s.recs[0].pkts_toclient, n);
	assert_int_equal(flow_table_stats(t)->reused, 1);
	assert_int_equal(flow_table_stats(t)->evicted, 0);
	feed(t, rev(syn, SYN | ACK), 74, last + SEC + 1);
	flow_table_flush(t, FLOW_RECORD_REASON_SHUTDOWN);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.recs[1].start_us, last + SEC);
	assert_int_equal(s.recs[1].pkts_toserver, 1);
	assert_int_equal(s.recs[1].pkts_toclient, 1);
	assert_int_equal(s.recs[1].tcp_state, FLOW_RECORD_TCP_SYN_RECV);
	check_counts(t, &s);
	flow_table_free(t);
	sink_fini(&s);

	/* a SYN+ACK, or the server's SYN, on the closed flow: no reuse */
	t = table_new(&c, &s);
	for (size_t i = 0; i < n; i++)
		flow_table_packet(t, &st[i].p, NULL, 0, st[i].len, st[i].ts);
	feed(t, with_flags(syn, SYN | ACK), 74, last + 1);
	assert_int_equal(s.n, 0);
	assert_int_equal(flow_table_stats(t)->reused, 0);
	/* after the closed timeout it is a timeout, not a reuse */
	feed(t, syn, 74, last + 1 + 13 * SEC + 1);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.recs[0].reason, FLOW_RECORD_REASON_TIMEOUT);
	assert_int_equal(flow_table_stats(t)->reused, 0);
	flow_table_free(t);
	sink_fini(&s);

	/* a SYN on an open flow does not split it */
	t = table_new(&c, &s);
	for (size_t i = 0; i < 5; i++)
		flow_table_packet(t, &st[i].p, NULL, 0, st[i].len, st[i].ts);
	feed(t, syn, 74, st[4].ts + 1);
	assert_int_equal(s.n, 0);
	/* a reset flow is closed too */
	feed(t, rev(syn, RST), 60, st[4].ts + 2);
	feed(t, syn, 74, st[4].ts + 3);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.recs[0].reason, FLOW_RECORD_REASON_FORCED);
	assert_int_equal(s.recs[0].pkts_toserver + s.recs[0].pkts_toclient, 7);
	assert_int_equal(flow_table_stats(t)->reused, 1);
	check_counts(t, &s);
	flow_table_free(t);
	sink_fini(&s);
}

/* ------------------------------------------------------------------ */
/* Eviction and flush                                                  */
/* ------------------------------------------------------------------ */

/* 10 flows through a 4-flow table: the 6 oldest evicted, whether or not
 * the entries' pages were populated at creation. */
static void
check_eviction(int prefault)
{
	struct flow_conf c = test_conf(4, 4);
	struct sink s;
	struct flow_table *t;
	const struct flow_table_stats *st;

	c.prefault = (uint8_t)prefault;
	t = table_new(&c, &s);
	st = flow_table_stats(t);
	for (uint16_t i = 0; i < 10; i++) {
		feed(t, pkt4(UDP, A, (uint16_t)(1000 + i), B, 53), 100, T0 + i);
		assert_true(st->active <= 4);
	}
	assert_int_equal(s.n, 6);
	for (uint16_t i = 0; i < 6; i++) {
		assert_int_equal(s.recs[i].src_port, 1000 + i);
		assert_int_equal(s.recs[i].reason, FLOW_RECORD_REASON_FORCED);
		assert_int_equal(s.recs[i].pkts_toserver, 1);
	}
	assert_int_equal(st->evicted, 6);
	assert_int_equal(st->active, 4);
	assert_int_equal(st->created, 10);
	check_counts(t, &s);
	flow_table_flush(t, FLOW_RECORD_REASON_SHUTDOWN);
	assert_int_equal(s.n, 10);
	for (uint16_t i = 6; i < 10; i++) {
		assert_int_equal(s.recs[i].src_port, 1000 + i);
		assert_int_equal(s.recs[i].reason, FLOW_RECORD_REASON_SHUTDOWN);
	}
	assert_int_equal(st->shutdown, 4);
	check_counts(t, &s);
	flow_table_free(t);
	sink_fini(&s);
}

static void
test_eviction(void **state)
{
	(void)state;
	check_eviction(1);
}

/* Offline tables map their pages on first use: the same behaviour. */
static void
test_eviction_lazy_pages(void **state)
{
	(void)state;
	check_eviction(0);
}

/* A packet makes its flow the most recent, in either direction. */
static void
test_eviction_lru(void **state)
{
	struct flow_conf c = test_conf(4, 64);
	struct sink s;
	struct flow_table *t = table_new(&c, &s);

	(void)state;
	for (uint16_t i = 0; i < 4; i++)
		feed(t, pkt4(UDP, A, (uint16_t)(1000 + i), B, 53), 100, T0 + i);
	feed(t, rev(pkt4(UDP, A, 1000, B, 53), 0), 100, T0 + 10); /* 1000 is recent again */
	feed(t, pkt4(UDP, A, 1004, B, 53), 100, T0 + 11);
	feed(t, pkt4(UDP, A, 1002, B, 53), 100, T0 + 12); /* hit: no eviction */
	feed(t, pkt4(UDP, A, 1005, B, 53), 100, T0 + 13);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.recs[0].src_port, 1001);
	assert_int_equal(s.recs[1].src_port, 1003);
	flow_table_flush(t, FLOW_RECORD_REASON_SHUTDOWN);
	assert_int_equal(s.n, 6);
	assert_int_equal(s.recs[2].src_port, 1000);
	assert_int_equal(s.recs[2].pkts_toclient, 1);
	assert_int_equal(s.recs[3].src_port, 1004);
	assert_int_equal(s.recs[4].src_port, 1002);
	assert_int_equal(s.recs[5].src_port, 1005);
	check_counts(t, &s);
	flow_table_free(t);
	sink_fini(&s);
}

/* A full table whose oldest flow is already idle too long: that is a timeout. */
static void
test_eviction_expired(void **state)
{
	struct flow_conf c = test_conf(2, 2);
	struct sink s;
	struct flow_table *t = table_new(&c, &s);

	(void)state;
	feed(t, pkt4(UDP, A, 1000, B, 53), 100, T0);
	feed(t, pkt4(UDP, A, 1001, B, 53), 100, T0 + 30 * SEC);
	feed(t, pkt4(UDP, A, 1002, B, 53), 100, T0 + 30 * SEC);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.recs[0].src_port, 1000);
	assert_int_equal(s.recs[0].reason, FLOW_RECORD_REASON_TIMEOUT);
	assert_int_equal(flow_table_stats(t)->timeout, 1);
	assert_int_equal(flow_table_stats(t)->evicted, 0);
	feed(t, pkt4(UDP, A, 1003, B, 53), 100, T0 + 30 * SEC);
	assert_int_equal(s.recs[1].src_port, 1001);
	assert_int_equal(s.recs[1].reason, FLOW_RECORD_REASON_FORCED);
	assert_int_equal(flow_table_stats(t)->evicted, 1);
	check_counts(t, &s);
	flow_table_free(t);
	sink_fini(&s);
}

static void
test_flush(void **state)
{
	struct flow_conf c = test_conf(16, 16);
	struct sink s;
	struct flow_table *t = table_new(&c, &s);
	const struct flow_table_stats *st = flow_table_stats(t);
	static const uint16_t order[] = {1001, 1003, 1004, 1002, 1000};

	(void)state;
	for (uint16_t i = 0; i < 5; i++)
		feed(t, pkt4(UDP, A, (uint16_t)(1000 + i), B, 53), 100, T0 + i);
	feed(t, pkt4(UDP, A, 1002, B, 53), 100, T0 + 10);
	feed(t, rev(pkt4(UDP, A, 1000, B, 53), 0), 100, T0 + 11);
	flow_table_flush(t, FLOW_RECORD_REASON_SHUTDOWN);
	assert_int_equal(s.n, 5);
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(s.recs[i].src_port, order[i]);
		assert_int_equal(s.recs[i].reason, FLOW_RECORD_REASON_SHUTDOWN);
	}
	assert_int_equal(st->active, 0);
	assert_int_equal(st->shutdown, 5);
	assert_int_equal(flow_table_expire(t, T0 + 1000 * SEC, UINT32_MAX), 0);
	flow_table_flush(t, FLOW_RECORD_REASON_SHUTDOWN);
	assert_int_equal(s.n, 5);

	/* the table works after a flush; FORCED flushes count as emitted only */
	feed(t, pkt4(UDP, A, 1000, B, 53), 100, T0 + 20);
	assert_int_equal(st->active, 1);
	flow_table_flush(t, FLOW_RECORD_REASON_FORCED);
	assert_int_equal(s.n, 6);
	assert_int_equal(s.recs[5].reason, FLOW_RECORD_REASON_FORCED);
	assert_int_equal(s.recs[5].start_us, T0 + 20);
	assert_int_equal(st->shutdown, 5);
	assert_int_equal(st->evicted, 0);
	assert_int_equal(st->reused, 0);
	assert_int_equal(st->emitted, 6);
	check_counts(t, &s);
	flow_table_free(t);
	sink_fini(&s);
}

/* ------------------------------------------------------------------ */
/* Random traffic                                                      */
/* ------------------------------------------------------------------ */

struct rng {
	uint64_t s;
};

static uint64_t
rng_next(struct rng *g)
{
	uint64_t z = (g->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/*
 * Tuple i: TCP, UDP, ICMP or GRE, v4 or v6, some on a VLAN; the client
 * address (10.0.0.1 + i, or 2001:db8::(100 + i)) makes every key unique.
 */
static struct decode_pkt
tuple(unsigned i)
{
	static const uint8_t protos[] = {TCP, TCP, UDP, ICMP, GRE};
	uint8_t proto = protos[i % 5];
	uint16_t cport = (uint16_t)(1024 + i), sport = (uint16_t)(53 + i % 3);
	struct decode_pkt p;

	if (i % 7 == 0) {
		p = pkt6(proto == ICMP ? ICMP6 : proto, (uint16_t)(100 + i), cport, 1, sport);
	} else {
		p = pkt4(proto, A + i, cport, C, sport);
	}
	if (proto == ICMP || proto == GRE) {
		p.sport = 0;
		p.dport = 0;
	}
	if (i % 11 == 0)
		p.vlan[0] = 100;
	return p;
}

static struct step
rand_step(struct rng *g, unsigned ntuples, uint64_t *ts, unsigned *idx)
{
	static const uint8_t flags[] = {SYN, SYN | ACK, ACK,	   PSH | ACK, FIN | ACK,
					RST, ACK,	PSH | ACK, ACK,	      PSH | ACK};
	uint64_t r = rng_next(g);
	struct step st;

	*idx = (unsigned)(r % ntuples);
	st.p = tuple(*idx);
	r /= ntuples;
	if (st.p.proto == TCP)
		st.p.tcp_flags = flags[r % 10];
	r /= 10;
	if (st.p.proto == ICMP || st.p.proto == ICMP6)
		st.p.icmp_type = (uint8_t)(r % 2 ? 8 : 0);
	r /= 2;
	if (r % 2)
		st.p = rev(st.p, st.p.tcp_flags);
	r /= 2;
	st.len = 60 + (uint32_t)(r % 1400);
	r /= 1400;
	*ts += r % 3000;
	if (r % 4999 == 0)
		*ts += 60 * SEC;
	st.ts = *ts;
	return st;
}

static void
check_record(const struct flow_record *r)
{
	assert_int_not_equal(r->flow_id, 0);
	assert_true(r->flow_id < (1ull << 51));
	assert_true(r->pkts_toserver + r->pkts_toclient > 0);
	assert_true(r->start_us <= r->end_us);
	assert_true(r->state <= FLOW_RECORD_STATE_CLOSED);
	assert_true(r->reason <= FLOW_RECORD_REASON_ACTIVE);
	assert_true(r->tcp_state <= FLOW_RECORD_TCP_CLOSED);
	if (r->proto != TCP) {
		assert_int_equal(r->tcp_state, FLOW_RECORD_TCP_NONE);
		assert_int_equal(r->tcp_flags_ts | r->tcp_flags_tc, 0);
	}
	if (r->proto != ICMP && r->proto != ICMP6) {
		assert_int_equal(r->icmp_type | r->icmp_code, 0);
		assert_int_equal(r->resp_icmp_type | r->resp_icmp_code | r->flags, 0);
	}
	if (r->pkts_toserver == 0 || r->pkts_toclient == 0)
		assert_int_not_equal(r->state, FLOW_RECORD_STATE_ESTABLISHED);
}

/* The tuple a record belongs to (see tuple()). */
static unsigned
rec_tuple(const struct flow_record *r)
{
	const uint8_t *a = r->src_ip;

	if (r->ip_version == 6) {
		if (a[14] == 0 && a[15] == 1)
			a = r->dst_ip;
		return ((unsigned)a[14] << 8 | a[15]) - 100;
	}
	if (a[0] == 192)
		a = r->dst_ip;
	return ((unsigned)a[0] << 24 | (unsigned)a[1] << 16 | (unsigned)a[2] << 8 | a[3]) - A;
}

/*
 * The flows the table must hold: one per tuple that has had a packet
 * since its last record. Catches a flow lost from its bucket (a second
 * flow for the same key) and a flow emitted twice.
 */
struct model {
	uint8_t *open; /* by tuple */
	size_t n_open;
	size_t applied; /* records of the sink taken into account */
};

static void
model_check(struct model *m, const struct sink *s, const struct flow_table *t, unsigned idx,
	    int pkt)
{
	for (; m->applied < s->n; m->applied++) {
		unsigned i = rec_tuple(&s->recs[m->applied]);

		if (!m->open[i])
			fail_msg("record for tuple %u, which has no open flow", i);
		if (s->recs[m->applied].reason == FLOW_RECORD_REASON_ACTIVE)
			continue; /* interim: the flow stays */
		m->open[i] = 0;
		m->n_open--;
	}
	if (pkt && !m->open[idx]) {
		m->open[idx] = 1;
		m->n_open++;
	}
	if (flow_table_stats(t)->active != m->n_open)
		fail_msg("active %llu, model %zu", (unsigned long long)flow_table_stats(t)->active,
			 m->n_open);
}

struct rand_run {
	uint32_t max_flows, hash_size;
	unsigned ntuples;
	size_t npkts;
	unsigned sweep_every, sweep_budget; /* 0: never sweep */
	uint64_t seed;
	uint32_t active_s;	/* flow_conf.active_timeout_s */
	uint8_t emergency_high; /* flow_conf.emergency_high */
};

/* Feed a random run; final expire + flush; checks the totals. */
static void
rand_feed(const struct rand_run *rr, struct sink *s)
{
	struct flow_conf c = test_conf(rr->max_flows, rr->hash_size);
	struct flow_table *t;
	const struct flow_table_stats *st;
	struct rng g = {rr->seed};
	struct model m = {calloc(rr->ntuples, 1), 0, 0};
	uint64_t ts = T0, bytes = 0;

	c.active_timeout_s = rr->active_s;
	c.emergency_high = rr->emergency_high;
	t = table_new(&c, s);
	st = flow_table_stats(t);
	assert_non_null(m.open);
	for (size_t i = 0; i < rr->npkts; i++) {
		unsigned idx;
		struct step x = rand_step(&g, rr->ntuples, &ts, &idx);

		flow_table_packet(t, &x.p, NULL, 0, x.len, x.ts);
		bytes += x.len;
		if (st->active > rr->max_flows)
			fail_msg("active %llu > max_flows after packet %zu",
				 (unsigned long long)st->active, i);
		model_check(&m, s, t, idx, 1);
		if (rr->sweep_every && i % rr->sweep_every == 0) {
			flow_table_expire(t, ts, rr->sweep_budget);
			model_check(&m, s, t, 0, 0);
		}
	}
	flow_table_expire(t, ts, UINT32_MAX);
	flow_table_flush(t, FLOW_RECORD_REASON_SHUTDOWN);
	model_check(&m, s, t, 0, 0);
	free(m.open);
	check_counts(t, s);
	assert_int_equal(st->active, 0);
	assert_int_equal(st->created, st->emitted);
	assert_int_equal(st->emitted, st->timeout + st->evicted + st->reused + st->shutdown);
	assert_int_equal(s->pkts, rr->npkts);
	assert_int_equal(s->bytes, bytes);
	for (size_t i = 0; i < s->n; i++)
		check_record(&s->recs[i]);
	flow_table_free(t);
}

static void
test_random(void **state)
{
	static const struct rand_run runs[] = {
		{1000, 1000, 5000, 200000, 64, 16, 1, 0, 0},
		{1000, 1, 3000, 20000, 16, 1, 2, 0, 0}, /* one bucket: every flow on one chain */
		{1, 1, 50, 20000, 0, 0, 3, 0, 0},	/* one entry */
		{64, 4096, 200, 50000, 1, 1, 4, 0, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
		struct sink s;

		rand_feed(&runs[i], &s);
		assert_true(s.n > 0);
		sink_fini(&s);
	}
}

/* The same packets twice: byte-identical records, in the same order. */
static void
test_determinism(void **state)
{
	const struct rand_run rr = {64, 64, 500, 30000, 32, 4, 42, 0, 0};
	struct sink a, b;

	(void)state;
	rand_feed(&rr, &a);
	rand_feed(&rr, &b);
	assert_int_equal(a.n, b.n);
	assert_true(a.n > 100);
	assert_int_equal(memcmp(a.recs, b.recs, a.n * sizeof(*a.recs)), 0);
	sink_fini(&a);
	sink_fini(&b);
}

static int
cmp_record(const void *x, const void *y)
{
	return memcmp(x, y, sizeof(struct flow_record));
}

/*
 * Without eviction, when and how much the sweep runs changes the order of
 * the records, never their contents.
 */
static void
test_sweep_independence(void **state)
{
	const struct rand_run runs[] = {
		{1024, 256, 300, 40000, 0, 0, 7, 0, 0},
		{1024, 256, 300, 40000, 1, 1, 7, 0, 0},
		{1024, 256, 300, 40000, 100, UINT32_MAX, 7, 0, 0},
		{1024, 256, 300, 40000, 3, 7, 7, 0, 0},
	};
	struct sink s[4];

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		rand_feed(&runs[i], &s[i]);
		qsort(s[i].recs, s[i].n, sizeof(*s[i].recs), cmp_record);
	}
	assert_true(s[0].n > 1000);
	for (size_t i = 1; i < 4; i++) {
		assert_int_equal(s[i].n, s[0].n);
		assert_int_equal(memcmp(s[i].recs, s[0].recs, s[0].n * sizeof(*s[0].recs)), 0);
	}
	for (size_t i = 0; i < 4; i++)
		sink_fini(&s[i]);
}

/* ------------------------------------------------------------------ */
/* Active timeout: interim records                                     */
/* ------------------------------------------------------------------ */

/* A UDP flow every 3 s for 36 s, active timeout 10 s: 3 interim records. */
static void
test_active_interim(void **state)
{
	struct flow_conf c = test_conf(16, 16);
	struct sink s;
	struct flow_table *t;
	struct decode_pkt p = pkt4(UDP, A, CLI, B, 53);
	const uint64_t want_end[3] = {T0 + 12 * SEC, T0 + 21 * SEC, T0 + 30 * SEC};
	const uint64_t want_pkts[3] = {5, 8, 11};

	(void)state;
	c.active_timeout_s = 10;
	t = table_new(&c, &s);
	for (unsigned i = 0; i <= 12; i++)
		feed(t, i % 2 ? rev(p, 0) : p, 100 + i, T0 + i * 3 * SEC);
	assert_int_equal(s.n, 3);
	assert_int_equal(flow_table_stats(t)->interim, 3);
	assert_int_equal(flow_table_stats(t)->emitted, 0);
	flow_table_flush(t, FLOW_RECORD_REASON_SHUTDOWN);
	assert_int_equal(s.n, 4);
	for (unsigned i = 0; i < 3; i++) {
		const struct flow_record *r = &s.recs[i];
		uint64_t bytes = 0;

		for (unsigned k = 0; k < want_pkts[i]; k++)
			bytes += 100 + k;
		assert_int_equal(r->reason, FLOW_RECORD_REASON_ACTIVE);
		assert_int_equal(r->flow_id, s.recs[3].flow_id);
		assert_int_equal(r->start_us, T0);
		assert_int_equal(r->end_us, want_end[i]);
		assert_int_equal(r->pkts_toserver + r->pkts_toclient, want_pkts[i]);
		assert_int_equal(r->bytes_toserver + r->bytes_toclient, bytes);
		assert_int_equal(r->state, FLOW_RECORD_STATE_ESTABLISHED);
		check_ip4(r->src_ip, A);
		check_record(r);
	}
	assert_int_equal(s.recs[3].reason, FLOW_RECORD_REASON_SHUTDOWN);
	assert_int_equal(s.recs[3].pkts_toserver, 7);
	assert_int_equal(s.recs[3].pkts_toclient, 6);
	assert_int_equal(s.recs[3].end_us, T0 + 36 * SEC);
	assert_int_equal(s.pkts, 13); /* the sink sums final records only */
	check_counts(t, &s);
	flow_table_free(t);
	sink_fini(&s);
}

/* Silent periods give one record at the next packet, then the schedule goes on. */
static void
test_active_gap(void **state)
{
	struct flow_conf c = test_conf(16, 16);
	struct sink s;
	struct flow_table *t;
	struct decode_pkt p = pkt4(UDP, A, CLI, B, 53);

	(void)state;
	c.active_timeout_s = 10;
	c.timeouts[FLOW_PROTO_UDP] = (struct flow_timeouts){100, 100, 100};
	t = table_new(&c, &s);
	feed(t, p, 100, T0);
	feed(t, rev(p, 0), 100, T0 + 1 * SEC);
	feed(t, p, 100, T0 + 10 * SEC - 1); /* just short of a period */
	assert_int_equal(s.n, 0);
	feed(t, p, 100, T0 + 45 * SEC); /* 4 periods crossed: one record */
	assert_int_equal(s.n, 1);
	assert_int_equal(s.recs[0].pkts_toserver, 3);
	feed(t, p, 100, T0 + 50 * SEC - 1);
	assert_int_equal(s.n, 1);
	feed(t, p, 100, T0 + 50 * SEC); /* the 5th boundary, exactly */
	assert_int_equal(s.n, 2);
	assert_int_equal(s.recs[1].reason, FLOW_RECORD_REASON_ACTIVE);
	assert_int_equal(s.recs[1].pkts_toserver, 5);
	feed(t, p, 100, T0 + 40 * SEC); /* older packet: time does not go back */
	assert_int_equal(s.n, 2);
	/* the sweep never writes interim records */
	assert_int_equal(flow_table_expire(t, T0 + 120 * SEC, UINT32_MAX), 0);
	assert_int_equal(flow_table_expire(t, T0 + 151 * SEC, UINT32_MAX), 1);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.recs[2].reason, FLOW_RECORD_REASON_TIMEOUT);
	assert_int_equal(s.recs[2].flow_id, s.recs[0].flow_id);
	assert_int_equal(s.recs[2].pkts_toserver + s.recs[2].pkts_toclient, 7);
	assert_int_equal(flow_table_stats(t)->interim, 2);
	check_counts(t, &s);
	flow_table_free(t);
	sink_fini(&s);
}

/* active_timeout_s 0: a long flow gives its final record only. */
static void
test_active_off(void **state)
{
	struct flow_conf c = test_conf(16, 16);
	struct sink s;
	struct flow_table *t = table_new(&c, &s);
	struct decode_pkt p = pkt4(UDP, A, CLI, B, 53);

	(void)state;
	for (unsigned i = 0; i < 1000; i++)
		feed(t, p, 100, T0 + i * 10 * SEC);
	flow_table_flush(t, FLOW_RECORD_REASON_SHUTDOWN);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.recs[0].pkts_toserver, 1000);
	assert_int_equal(flow_table_stats(t)->interim, 0);
	flow_table_free(t);
	sink_fini(&s);
}

/* A new flow after a timeout starts its own schedule (and flow_id). */
static void
test_active_new_flow(void **state)
{
	struct flow_conf c = test_conf(16, 16);
	struct sink s;
	struct flow_table *t;
	struct decode_pkt p = pkt4(UDP, A, CLI, B, 53);

	(void)state;
	c.active_timeout_s = 10;
	t = table_new(&c, &s);
	feed(t, p, 100, T0);
	feed(t, p, 100, T0 + 15 * SEC); /* interim */
	feed(t, p, 100, T0 + 60 * SEC); /* past the NEW timeout (21 s): new flow */
	feed(t, p, 100, T0 + 69 * SEC); /* 9 s into the new flow: nothing */
	assert_int_equal(s.n, 2);
	feed(t, p, 100, T0 + 70 * SEC);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.recs[0].reason, FLOW_RECORD_REASON_ACTIVE);
	assert_int_equal(s.recs[1].reason, FLOW_RECORD_REASON_TIMEOUT);
	assert_int_equal(s.recs[2].reason, FLOW_RECORD_REASON_ACTIVE);
	assert_int_equal(s.recs[2].start_us, T0 + 60 * SEC);
	assert_int_not_equal(s.recs[2].flow_id, s.recs[1].flow_id);
	assert_int_equal(s.recs[2].pkts_toserver, 3);
	check_counts(t, &s);
	flow_table_free(t);
	sink_fini(&s);
}

/* Random traffic with 1 s interim records: sweeps change order only. */
static void
test_active_sweep_independence(void **state)
{
	const struct rand_run runs[] = {
		{1024, 256, 300, 40000, 0, 0, 9, 1, 0},
		{1024, 256, 300, 40000, 1, 1, 9, 1, 0},
		{1024, 256, 300, 40000, 5, 3, 9, 1, 0},
	};
	struct sink s[3];
	size_t interim = 0;

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		rand_feed(&runs[i], &s[i]);
		qsort(s[i].recs, s[i].n, sizeof(*s[i].recs), cmp_record);
	}
	for (size_t k = 0; k < s[0].n; k++)
		interim += s[0].recs[k].reason == FLOW_RECORD_REASON_ACTIVE;
	assert_true(interim > 100);
	for (size_t i = 1; i < 3; i++) {
		assert_int_equal(s[i].n, s[0].n);
		assert_int_equal(memcmp(s[i].recs, s[0].recs, s[0].n * sizeof(*s[0].recs)), 0);
	}
	for (size_t i = 0; i < 3; i++)
		sink_fini(&s[i]);
}

/* ------------------------------------------------------------------ */
/* Emergency mode                                                      */
/* ------------------------------------------------------------------ */

/* Enter at the high-water mark, emergency timeouts, leave below the low one. */
static void
test_emergency_enter_leave(void **state)
{
	struct flow_conf c = test_conf(100, 128);
	struct sink s;
	struct flow_table *t;
	const struct flow_table_stats *st;

	(void)state;
	c.emergency_high = 90;	   /* enter at 90 flows */
	c.emergency_recovery = 50; /* leave below 50 */
	t = table_new(&c, &s);
	st = flow_table_stats(t);
	for (unsigned i = 0; i < 89; i++)
		feed(t, pkt4(UDP, A + i, CLI, C, 53), 100, T0);
	assert_int_equal(st->emergency, 0);
	assert_int_equal(st->emergency_now, 0);
	/* normal timeouts: 10 s idle is fine for a NEW UDP flow (21 s) */
	feed(t, pkt4(UDP, A, CLI, C, 53), 100, T0 + 10 * SEC);
	assert_int_equal(s.n, 0);
	feed(t, pkt4(UDP, A + 89, CLI, C, 53), 100, T0 + 10 * SEC); /* the 90th */
	assert_int_equal(st->emergency, 1);
	assert_int_equal(st->emergency_now, 1);
	/* emergency UDP NEW timeout is 4 s: the 1st flow (idle 5 s) has expired */
	feed(t, pkt4(UDP, A, CLI, C, 53), 100, T0 + 15 * SEC);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.recs[0].reason, FLOW_RECORD_REASON_TIMEOUT);
	assert_int_equal(s.recs[0].pkts_toserver, 2);
	assert_int_equal(st->emergency_now, 1);
	/* the sweep drains the table below 50 flows: emergency ends */
	flow_table_expire(t, T0 + 15 * SEC, UINT32_MAX);
	/* 90 flows: the idle ones expire until 49 remain, then normal timeouts (21 s) apply */
	assert_int_equal(st->active, 49);
	assert_int_equal(st->emergency_now, 0);
	assert_int_equal(flow_table_expire(t, T0 + 15 * SEC, UINT32_MAX), 0);
	assert_int_equal(st->emergency, 1);
	/* back to normal timeouts: 10 s idle keeps the flow */
	feed(t, pkt4(UDP, A, CLI, C, 53), 100, T0 + 25 * SEC);
	assert_int_equal(st->active, 49);
	assert_int_equal(st->evicted, 0);
	check_counts(t, &s);
	flow_table_free(t);
	sink_fini(&s);
}

/*
 * A full table in emergency mode times out its idle flows instead of
 * evicting fresh ones; without emergency mode the same traffic evicts.
 */
static void
test_emergency_vs_eviction(void **state)
{
	for (int emerg = 0; emerg < 2; emerg++) {
		struct flow_conf c = test_conf(10, 16);
		struct sink s;
		struct flow_table *t;
		const struct flow_table_stats *st;

		c.emergency_high = emerg ? 100 : 0;
		t = table_new(&c, &s);
		st = flow_table_stats(t);
		for (unsigned i = 0; i < 10; i++)
			feed(t, pkt4(UDP, A + i, CLI, C, 53), 100, T0 + i * SEC);
		assert_int_equal(st->emergency, (uint64_t)emerg);
		/* 11th flow at 15 s: the LRU head is 15 s idle (normal 21, emergency 4) */
		feed(t, pkt4(UDP, A + 10, CLI, C, 53), 100, T0 + 15 * SEC);
		assert_int_equal(s.n, 1);
		check_ip4(s.recs[0].src_ip, A);
		if (emerg) {
			assert_int_equal(s.recs[0].reason, FLOW_RECORD_REASON_TIMEOUT);
			assert_int_equal(st->evicted, 0);
		} else {
			assert_int_equal(s.recs[0].reason, FLOW_RECORD_REASON_FORCED);
			assert_int_equal(st->evicted, 1);
		}
		assert_int_equal(st->active, 10);
		check_counts(t, &s);
		flow_table_free(t);
		sink_fini(&s);
	}
	(void)state;
}

/* In emergency mode one sweep call covers FLOW_EMERG_SWEEP (8) times the buckets. */
static void
test_emergency_sweep(void **state)
{
	for (int emerg = 0; emerg < 2; emerg++) {
		struct flow_conf c = test_conf(64, 8);
		struct sink s;
		struct flow_table *t;
		unsigned n;

		c.emergency_high = emerg ? 50 : 0;
		c.emergency_recovery = 99; /* stay in emergency down to 0 flows */
		t = table_new(&c, &s);
		for (unsigned i = 0; i < 64; i++)
			feed(t, pkt4(UDP, A + i, CLI, C, 53), 100, T0);
		n = flow_table_expire(t, T0 + 100 * SEC, 1);
		if (emerg)
			assert_int_equal(n, 64); /* 8 buckets: the whole table */
		else
			assert_true(n < 64); /* one bucket of eight */
		check_counts(t, &s);
		flow_table_free(t);
		sink_fini(&s);
	}
	(void)state;
}

/* Invalid emergency marks are refused. */
static void
test_emergency_invalid(void **state)
{
	struct flow_conf c = test_conf(16, 16);
	struct sink s = {0};

	(void)state;
	c.emergency_high = 101;
	errno = 0;
	assert_null(flow_table_new(&c, sink_emit, &s));
	assert_int_equal(errno, EINVAL);
	c = test_conf(16, 16);
	c.emergency_recovery = 100;
	errno = 0;
	assert_null(flow_table_new(&c, sink_emit, &s));
	assert_int_equal(errno, EINVAL);
}

/* Random floods through a small table in emergency mode: bounds and model hold. */
static void
test_emergency_random(void **state)
{
	static const struct rand_run runs[] = {
		{64, 64, 2000, 100000, 16, 4, 11, 0, 90},
		{64, 64, 2000, 100000, 16, 4, 12, 2, 50},
		{8, 1, 300, 20000, 1, 1, 13, 1, 100},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
		struct sink s;

		rand_feed(&runs[i], &s);
		assert_true(s.n > 0);
		sink_fini(&s);
	}
}

/* ------------------------------------------------------------------ */
/* DPI (nDPI through appid), tunnel                                    */
/* ------------------------------------------------------------------ */

/* An Ethernet + IPv4 + UDP frame with payload; p describes it as decode would. */
static uint32_t
frame_udp4(uint8_t *f, struct decode_pkt *p, uint32_t src, uint16_t sport, uint32_t dst,
	   uint16_t dport, const uint8_t *pl, uint32_t pl_len)
{
	uint32_t ip_len = 20 + 8 + pl_len;

	memset(f, 0, 42);
	f[12] = 0x08; /* IPv4 */
	f[14] = 0x45;
	f[16] = (uint8_t)(ip_len >> 8);
	f[17] = (uint8_t)ip_len;
	f[22] = 64;
	f[23] = UDP;
	for (int i = 0; i < 4; i++) {
		f[26 + i] = (uint8_t)(src >> (24 - 8 * i));
		f[30 + i] = (uint8_t)(dst >> (24 - 8 * i));
	}
	f[34] = (uint8_t)(sport >> 8);
	f[35] = (uint8_t)sport;
	f[36] = (uint8_t)(dport >> 8);
	f[37] = (uint8_t)dport;
	f[38] = (uint8_t)((8 + pl_len) >> 8);
	f[39] = (uint8_t)(8 + pl_len);
	memcpy(f + 42, pl, pl_len);
	*p = pkt4(UDP, src, sport, dst, dport);
	p->l3_off = 14;
	p->l4_off = 34;
	p->payload_len = pl_len;
	return 14 + ip_len;
}

/* A DNS query for www.google.com, A, IN. */
static const uint8_t dns_query[] = {
	0xab, 0xcd, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 3,    'w',  'w',	'w',  6,    'g',  'o',	'o',  'g',  'l',
	'e',  3,    'c',  'o',	'm',  0x00, 0x00, 0x01, 0x00, 0x01,
};

static struct flow_conf
dpi_conf(void)
{
	struct flow_conf c = test_conf(16, 16);

	c.dpi = 1;
	c.appid.max_states = 2;
	return c;
}

/* The DNS query is classified; its records carry nDPI's names. */
static void
test_dpi_dns(void **state)
{
	struct flow_conf c = dpi_conf();
	struct sink s;
	struct flow_table *t;
	struct decode_pkt p;
	uint8_t f[256];
	uint32_t len = frame_udp4(f, &p, A, CLI, B, 53, dns_query, sizeof(dns_query));
	const struct appid_stats *as;

	(void)state;
	c.active_timeout_s = 10;
	t = table_new(&c, &s);
	as = flow_table_appid_stats(t);
	assert_non_null(as);
	flow_table_packet(t, &p, f, len, len, T0);
	assert_int_equal(as->classified, 1);
	assert_int_equal(as->active, 0); /* the state is back in the pool at once */
	flow_table_packet(t, &p, f, len, len, T0 + 11 * SEC); /* interim record */
	flow_table_flush(t, FLOW_RECORD_REASON_SHUTDOWN);
	assert_int_equal(s.n, 2);
	for (size_t i = 0; i < 2; i++) {
		const struct appid_result *app = &s.recs[i].app;

		assert_int_equal(app->how, APPID_HOW_DPI);
		assert_string_equal(app->name, "dns");
		assert_string_equal(app->app, "google");
		assert_string_equal(app->category, "web");
		assert_int_not_equal(app->proto_id, 0);
	}
	assert_int_equal(as->packets, 1);
	check_counts(t, &s);
	flow_table_free(t);
	sink_fini(&s);
}

/*
 * Flows that end while classifying get nDPI's give-up answer; a flow that
 * finds the pool empty has none (how NONE); NULL frames are not
 * classified; DPI off gives zeroed results and no classifier.
 */
static void
test_dpi_end_and_pool(void **state)
{
	struct flow_conf c = dpi_conf();
	struct sink s;
	struct flow_table *t;
	const struct appid_stats *as;
	uint8_t f[256], junk[40];
	struct decode_pkt p[3];
	uint32_t len[3];

	(void)state;
	memset(junk, 0x5a, sizeof(junk));
	len[0] = frame_udp4(f, &p[0], A, 40001, B, 40002, junk, sizeof(junk));
	t = table_new(&c, &s);
	as = flow_table_appid_stats(t);
	flow_table_packet(t, &p[0], f, len[0], len[0], T0);
	len[1] = frame_udp4(f, &p[1], A, 40003, B, 40004, junk, sizeof(junk));
	flow_table_packet(t, &p[1], f, len[1], len[1], T0);
	len[2] = frame_udp4(f, &p[2], A, 40005, B, 40006, junk, sizeof(junk));
	flow_table_packet(t, &p[2], f, len[2], len[2], T0); /* pool of 2: empty */
	assert_int_equal(as->pool_empty, 1);
	assert_int_equal(as->active, 2);
	flow_table_packet(t, &p[0], NULL, 0, len[0], T0 + 1); /* counted, not classified */
	assert_int_equal(as->packets, 2);
	flow_table_flush(t, FLOW_RECORD_REASON_SHUTDOWN);
	assert_int_equal(as->active, 0);
	assert_int_equal(as->flow_ended, 2);
	assert_int_equal(s.n, 3);
	for (size_t i = 0; i < 3; i++) {
		const struct flow_record *r = &s.recs[i];

		if (r->src_port == 40005) {
			assert_int_equal(r->app.how, APPID_HOW_NONE);
			assert_string_equal(r->app.name, "");
		} else {
			assert_true(r->app.how == APPID_HOW_UNKNOWN ||
				    r->app.how == APPID_HOW_GUESS);
			assert_true(r->app.name[0] != '\0'); /* "unknown" or a guess */
		}
	}
	check_counts(t, &s);
	flow_table_free(t);
	sink_fini(&s);

	/* DPI off */
	c = test_conf(16, 16);
	t = table_new(&c, &s);
	assert_null(flow_table_appid_stats(t));
	flow_table_packet(t, &p[0], f, len[0], len[0], T0);
	flow_table_flush(t, FLOW_RECORD_REASON_SHUTDOWN);
	assert_int_equal(s.recs[0].app.how, APPID_HOW_NONE);
	assert_int_equal(s.recs[0].app.proto_id, 0);
	flow_table_free(t);
	sink_fini(&s);
}

/* A table freed while flows are being classified leaks nothing (ASan/LSan). */
static void
test_dpi_free_classifying(void **state)
{
	struct flow_conf c = dpi_conf();
	struct sink s;
	struct flow_table *t = table_new(&c, &s);
	uint8_t f[256], junk[40];
	struct decode_pkt p;
	uint32_t len;

	(void)state;
	memset(junk, 0x33, sizeof(junk));
	len = frame_udp4(f, &p, A, 40001, B, 40002, junk, sizeof(junk));
	flow_table_packet(t, &p, f, len, len, T0);
	assert_int_equal(flow_table_appid_stats(t)->active, 1);
	flow_table_free(t);
	assert_int_equal(s.n, 0);
	sink_fini(&s);
}

/*
 * A bad appid configuration fails the table with appid's errno; a pool of
 * 0 (or more than max_flows) states is sized to max_flows.
 */
static void
test_dpi_conf(void **state)
{
	struct flow_conf c = dpi_conf();
	struct sink s = {0};
	struct flow_table *t;

	(void)state;
	c.appid.max_packets_tcp = 0;
	errno = 0;
	assert_null(flow_table_new(&c, sink_emit, &s));
	assert_int_equal(errno, EINVAL);
	for (int i = 0; i < 2; i++) {
		c = dpi_conf();
		c.appid.max_states = i == 0 ? 0 : 1000;
		t = table_new(&c, &s);
		assert_int_equal(flow_table_appid_stats(t)->pool_bytes,
				 (uint64_t)c.max_flows * appid_state_size());
		flow_table_free(t);
	}
}

/* The first packet's tunnel goes into every record of the flow. */
static void
test_tunnel(void **state)
{
	struct flow_conf c = test_conf(16, 16);
	struct sink s;
	struct flow_table *t = table_new(&c, &s);
	struct decode_pkt p = pkt4(UDP, A, CLI, B, 53);

	(void)state;
	p.tunnel = FLOW_RECORD_TUNNEL_VXLAN;
	feed(t, p, 100, T0);
	p.tunnel = FLOW_RECORD_TUNNEL_NONE;
	feed(t, rev(p, 0), 100, T0 + 1);
	feed(t, pkt4(TCP, A, CLI, B, 80), 100, T0 + 2);
	flow_table_flush(t, FLOW_RECORD_REASON_SHUTDOWN);
	assert_int_equal(s.n, 2);
	for (size_t i = 0; i < 2; i++)
		assert_int_equal(s.recs[i].tunnel, s.recs[i].proto == UDP
							   ? FLOW_RECORD_TUNNEL_VXLAN
							   : FLOW_RECORD_TUNNEL_NONE);
	flow_table_free(t);
	sink_fini(&s);
}

/*
 * The bound: at most 1.5 KB per tracked flow while classifying:
 * the entry, one appid state, the default heap budget per state and the
 * flow's bucket.
 */
static void
test_memory_per_flow(void **state)
{
	unsigned per_flow = flow_entry_size() + appid_state_size() + 512 + 4;

	(void)state;
	print_message("# flow entry %u B, appid state %u B, heap budget 512 B, bucket 4 B: "
		      "%u B per classifying flow\n",
		      flow_entry_size(), appid_state_size(), per_flow);
	assert_int_equal(flow_entry_size(), 128);
	assert_true(per_flow <= 1536);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_invalid),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_memuse),
		cmocka_unit_test(test_direction_first_packet),
		cmocka_unit_test(test_direction_synack_first),
		cmocka_unit_test(test_bidirectional_counting),
		cmocka_unit_test(test_icmp),
		cmocka_unit_test(test_vlan),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_flow_id),
		cmocka_unit_test(test_hash_collision),
		cmocka_unit_test(test_timeout_sweep),
		cmocka_unit_test(test_timeout_lookup),
		cmocka_unit_test(test_timeout_reordered),
		cmocka_unit_test(test_expire_budget),
		cmocka_unit_test(test_tcp_handshake),
		cmocka_unit_test(test_tcp_midstream),
		cmocka_unit_test(test_tcp_close_client_first),
		cmocka_unit_test(test_tcp_close_server_first),
		cmocka_unit_test(test_tcp_rst),
		cmocka_unit_test(test_tcp_closed_timeout),
		cmocka_unit_test(test_tcp_port_reuse),
		cmocka_unit_test(test_eviction),
		cmocka_unit_test(test_eviction_lazy_pages),
		cmocka_unit_test(test_eviction_lru),
		cmocka_unit_test(test_eviction_expired),
		cmocka_unit_test(test_flush),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_determinism),
		cmocka_unit_test(test_sweep_independence),
		cmocka_unit_test(test_active_interim),
		cmocka_unit_test(test_active_gap),
		cmocka_unit_test(test_active_off),
		cmocka_unit_test(test_active_new_flow),
		cmocka_unit_test(test_active_sweep_independence),
		cmocka_unit_test(test_emergency_enter_leave),
		cmocka_unit_test(test_emergency_vs_eviction),
		cmocka_unit_test(test_emergency_sweep),
		cmocka_unit_test(test_emergency_invalid),
		cmocka_unit_test(test_emergency_random),
		cmocka_unit_test(test_dpi_dns),
		cmocka_unit_test(test_dpi_end_and_pool),
		cmocka_unit_test(test_dpi_free_classifying),
		cmocka_unit_test(test_dpi_conf),
		cmocka_unit_test(test_tunnel),
		cmocka_unit_test(test_memory_per_flow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
