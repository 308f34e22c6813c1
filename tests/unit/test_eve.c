/*
 * test_eve.c: EVE JSON lines, byte for byte.
 *
 * Expected lines are written out in full: they are what Suricata 7 would
 * print for the same flow (names, order, types), with darter's documented
 * differences (timestamp = last packet, UTC). Independent references come
 * from libc: inet_ntop for IPv4, gmtime + strftime for times, printf for
 * integers. gmtime_r is interposed below, only to count calls (the day
 * cache). Every cap from 0 up to the full length is tried under ASan with
 * a buffer of exactly that size. When /usr/bin/python3 has jsonschema,
 * sample lines also go through tests/e2e/validate_eve.py with
 * engine/eve-flow.schema.json, good lines must pass and bad ones fail.
 * A rough formatting rate is printed as a TAP comment, never asserted.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "eve.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static unsigned long gmtime_r_calls;

/*
 * This executable's gmtime_r wins over libc's, for eve.c too: count the
 * calls, answer with libc's gmtime (which does not call gmtime_r).
 */
struct tm *
gmtime_r(const time_t *t, struct tm *out)
{
	struct tm *p = gmtime(t);

	gmtime_r_calls++;
	if (p == NULL)
		return NULL;
	*out = *p;
	return out;
}

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

static void
ip4(uint8_t out[16], uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	memset(out, 0, 16);
	out[0] = a;
	out[1] = b;
	out[2] = c;
	out[3] = d;
}

static void
ip6(uint8_t out[16], const char *text)
{
	assert_int_equal(inet_pton(AF_INET6, text, out), 1);
}

static char line[4096];

/* r as a NUL-terminated line; checks the length returned. */
static const char *
fmt(const struct flow_record *r)
{
	size_t n = eve_format_flow(line, sizeof(line) - 1, r, NULL);

	assert_true(n > 0);
	line[n] = '\0';
	assert_int_equal(strlen(line), n);
	assert_int_equal(line[n - 1], '\n');
	return line;
}

static const char *
fmt_stats(uint64_t ts_us, uint64_t up, const struct eve_counter *c, size_t n)
{
	size_t len = eve_format_stats(line, sizeof(line) - 1, ts_us, up, c, n);

	assert_true(len > 0);
	line[len] = '\0';
	assert_int_equal(strlen(line), len);
	return line;
}

/* The reference time text: libc's gmtime and strftime. */
static void
ref_time(char out[64], uint64_t ts_us)
{
	time_t t = (time_t)(ts_us / 1000000u);
	char day[32];

	assert_true(strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", gmtime(&t)) > 0);
	snprintf(out, 64, "%s.%06u+0000", day, (unsigned)(ts_us % 1000000u));
}

/* The value text after "key": in s (up to ',' '}' or ']'), into out. */
static const char *
field(const char *s, const char *key, char out[64])
{
	char pat[64];
	const char *p;
	size_t n;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(s, pat);
	if (p == NULL)
		return NULL;
	p += strlen(pat);
	n = strcspn(p, ",}]");
	assert_true(n < 64);
	memcpy(out, p, n);
	out[n] = '\0';
	return out;
}

/* ------------------------------------------------------------------ */
/* Records                                                             */
/* ------------------------------------------------------------------ */

/* Suricata's documentation example: a closed HTTP connection. */
static struct flow_record
rec_tcp4(void)
{
	struct flow_record r;

	memset(&r, 0, sizeof(r));
	r.flow_id = 1330430372338519ull;
	r.start_us = 1259098029534255ull; /* 2009-11-24T21:27:09.534255 */
	r.end_us = 1259098030000000ull;
	r.pkts_toserver = 5;
	r.pkts_toclient = 4;
	r.bytes_toserver = 400;
	r.bytes_toclient = 900;
	ip4(r.src_ip, 192, 168, 2, 7);
	ip4(r.dst_ip, 10, 0, 0, 1);
	r.src_port = 1041;
	r.dst_port = 80;
	r.ip_version = 4;
	r.proto = 6;
	r.state = FLOW_RECORD_STATE_CLOSED;
	r.reason = FLOW_RECORD_REASON_TIMEOUT;
	r.tcp_flags_ts = 0x1b;
	r.tcp_flags_tc = 0x1b;
	r.tcp_state = FLOW_RECORD_TCP_CLOSED;
	return r;
}

static struct flow_record
rec_udp6(void)
{
	struct flow_record r;

	memset(&r, 0, sizeof(r));
	r.flow_id = 42;
	r.start_us = 1685608200000001ull; /* 2023-06-01T08:30:00.000001 */
	r.end_us = 1685608262123456ull;
	r.pkts_toserver = 3;
	r.bytes_toserver = 300;
	ip6(r.src_ip, "2001:db8::1");
	ip6(r.dst_ip, "ff02::fb");
	r.src_port = 5353;
	r.dst_port = 5353;
	r.ip_version = 6;
	r.proto = 17;
	r.state = FLOW_RECORD_STATE_NEW;
	r.reason = FLOW_RECORD_REASON_SHUTDOWN;
	r.lcore = 3;
	return r;
}

/* An echo request, answered when resp is set. */
static struct flow_record
rec_icmp4(int resp)
{
	struct flow_record r;

	memset(&r, 0, sizeof(r));
	r.flow_id = 7;
	r.start_us = 1709208000000000ull; /* 2024-02-29T12:00:00 */
	r.end_us = 1709208000000000ull;
	r.pkts_toserver = 1;
	r.bytes_toserver = 98;
	ip4(r.src_ip, 10, 1, 1, 1);
	ip4(r.dst_ip, 8, 8, 8, 8);
	r.ip_version = 4;
	r.proto = 1;
	r.state = FLOW_RECORD_STATE_NEW;
	r.reason = FLOW_RECORD_REASON_TIMEOUT;
	r.icmp_type = 8;
	r.lcore = 1;
	if (resp) {
		r.pkts_toclient = 1;
		r.bytes_toclient = 98;
		r.state = FLOW_RECORD_STATE_ESTABLISHED;
		r.flags = FLOW_RECORD_F_ICMP_RESP;
	}
	return r;
}

static struct flow_record
rec_icmp6(void)
{
	struct flow_record r = rec_icmp4(1);

	ip6(r.src_ip, "fe80::1");
	ip6(r.dst_ip, "fe80::2:0:0:3");
	r.ip_version = 6;
	r.proto = 58;
	r.icmp_type = 128;
	r.resp_icmp_type = 129;
	return r;
}

/* ------------------------------------------------------------------ */
/* Flow lines                                                          */
/* ------------------------------------------------------------------ */

static void
test_tcp_ipv4(void **state)
{
	struct flow_record r = rec_tcp4();

	(void)state;
	assert_string_equal(
		fmt(&r),
		"{\"timestamp\":\"2009-11-24T21:27:10.000000+0000\",\"flow_id\":1330430372338519,"
		"\"event_type\":\"flow\",\"src_ip\":\"192.168.2.7\",\"src_port\":1041,"
		"\"dest_ip\":\"10.0.0.1\",\"dest_port\":80,\"proto\":\"TCP\","
		"\"flow\":{\"pkts_toserver\":5,\"pkts_toclient\":4,\"bytes_toserver\":400,"
		"\"bytes_toclient\":900,\"start\":\"2009-11-24T21:27:09.534255+0000\","
		"\"end\":\"2009-11-24T21:27:10.000000+0000\",\"age\":1,\"state\":\"closed\","
		"\"reason\":\"timeout\",\"alerted\":false},"
		"\"tcp\":{\"tcp_flags\":\"1b\",\"tcp_flags_ts\":\"1b\",\"tcp_flags_tc\":\"1b\","
		"\"syn\":true,\"fin\":true,\"psh\":true,\"ack\":true,\"state\":\"closed\"},"
		"\"darter\":{\"lcore\":0}}\n");
}

static void
test_udp_ipv6(void **state)
{
	struct flow_record r = rec_udp6();

	(void)state;
	assert_string_equal(
		fmt(&r),
		"{\"timestamp\":\"2023-06-01T08:31:02.123456+0000\",\"flow_id\":42,"
		"\"event_type\":\"flow\",\"src_ip\":\"2001:0db8:0000:0000:0000:0000:0000:0001\","
		"\"src_port\":5353,\"dest_ip\":\"ff02:0000:0000:0000:0000:0000:0000:00fb\","
		"\"dest_port\":5353,\"proto\":\"UDP\","
		"\"flow\":{\"pkts_toserver\":3,\"pkts_toclient\":0,\"bytes_toserver\":300,"
		"\"bytes_toclient\":0,\"start\":\"2023-06-01T08:30:00.000001+0000\","
		"\"end\":\"2023-06-01T08:31:02.123456+0000\",\"age\":62,\"state\":\"new\","
		"\"reason\":\"shutdown\",\"alerted\":false},\"darter\":{\"lcore\":3}}\n");
}

static void
test_icmp_no_response(void **state)
{
	struct flow_record r = rec_icmp4(0);

	(void)state;
	assert_string_equal(
		fmt(&r), "{\"timestamp\":\"2024-02-29T12:00:00.000000+0000\",\"flow_id\":7,"
			 "\"event_type\":\"flow\",\"src_ip\":\"10.1.1.1\",\"dest_ip\":\"8.8.8.8\","
			 "\"proto\":\"ICMP\",\"icmp_type\":8,\"icmp_code\":0,"
			 "\"flow\":{\"pkts_toserver\":1,\"pkts_toclient\":0,\"bytes_toserver\":98,"
			 "\"bytes_toclient\":0,\"start\":\"2024-02-29T12:00:00.000000+0000\","
			 "\"end\":\"2024-02-29T12:00:00.000000+0000\",\"age\":0,\"state\":\"new\","
			 "\"reason\":\"timeout\",\"alerted\":false},\"darter\":{\"lcore\":1}}\n");
}

static void
test_icmp_response(void **state)
{
	struct flow_record r = rec_icmp4(1);

	(void)state;
	assert_string_equal(
		fmt(&r),
		"{\"timestamp\":\"2024-02-29T12:00:00.000000+0000\",\"flow_id\":7,"
		"\"event_type\":\"flow\",\"src_ip\":\"10.1.1.1\",\"dest_ip\":\"8.8.8.8\","
		"\"proto\":\"ICMP\",\"icmp_type\":8,\"icmp_code\":0,\"response_icmp_type\":0,"
		"\"response_icmp_code\":0,"
		"\"flow\":{\"pkts_toserver\":1,\"pkts_toclient\":1,\"bytes_toserver\":98,"
		"\"bytes_toclient\":98,\"start\":\"2024-02-29T12:00:00.000000+0000\","
		"\"end\":\"2024-02-29T12:00:00.000000+0000\",\"age\":0,\"state\":\"established\","
		"\"reason\":\"timeout\",\"alerted\":false},\"darter\":{\"lcore\":1}}\n");
}

static void
test_icmpv6(void **state)
{
	struct flow_record r = rec_icmp6();

	(void)state;
	r.src_port = 1; /* ignored: ICMPv6 has no ports */
	r.dst_port = 2;
	assert_string_equal(
		fmt(&r),
		"{\"timestamp\":\"2024-02-29T12:00:00.000000+0000\",\"flow_id\":7,"
		"\"event_type\":\"flow\",\"src_ip\":\"fe80:0000:0000:0000:0000:0000:0000:0001\","
		"\"dest_ip\":\"fe80:0000:0000:0000:0002:0000:0000:0003\",\"proto\":\"IPv6-ICMP\","
		"\"icmp_type\":128,\"icmp_code\":0,\"response_icmp_type\":129,"
		"\"response_icmp_code\":0,"
		"\"flow\":{\"pkts_toserver\":1,\"pkts_toclient\":1,\"bytes_toserver\":98,"
		"\"bytes_toclient\":98,\"start\":\"2024-02-29T12:00:00.000000+0000\","
		"\"end\":\"2024-02-29T12:00:00.000000+0000\",\"age\":0,\"state\":\"established\","
		"\"reason\":\"timeout\",\"alerted\":false},\"darter\":{\"lcore\":1}}\n");
}

static void
test_vlan(void **state)
{
	struct flow_record r = rec_tcp4();
	const char *head = "{\"timestamp\":\"2009-11-24T21:27:10.000000+0000\","
			   "\"flow_id\":1330430372338519,\"event_type\":\"flow\",";

	(void)state;
	r.vlan[0] = 100;
	r.vlan[1] = 200;
	assert_string_equal(
		fmt(&r),
		"{\"timestamp\":\"2009-11-24T21:27:10.000000+0000\",\"flow_id\":1330430372338519,"
		"\"event_type\":\"flow\",\"vlan\":[100,200],\"src_ip\":\"192.168.2.7\","
		"\"src_port\":1041,\"dest_ip\":\"10.0.0.1\",\"dest_port\":80,\"proto\":\"TCP\","
		"\"flow\":{\"pkts_toserver\":5,\"pkts_toclient\":4,\"bytes_toserver\":400,"
		"\"bytes_toclient\":900,\"start\":\"2009-11-24T21:27:09.534255+0000\","
		"\"end\":\"2009-11-24T21:27:10.000000+0000\",\"age\":1,\"state\":\"closed\","
		"\"reason\":\"timeout\",\"alerted\":false},"
		"\"tcp\":{\"tcp_flags\":\"1b\",\"tcp_flags_ts\":\"1b\",\"tcp_flags_tc\":\"1b\","
		"\"syn\":true,\"fin\":true,\"psh\":true,\"ack\":true,\"state\":\"closed\"},"
		"\"darter\":{\"lcore\":0}}\n");

	r.vlan[0] = 4095;
	r.vlan[1] = 0;
	assert_int_equal(strncmp(fmt(&r), head, strlen(head)), 0);
	assert_int_equal(strncmp(line + strlen(head), "\"vlan\":[4095],\"src_ip\"", 22), 0);

	r.vlan[0] = 0; /* no outer tag: no vlan, whatever the inner slot says */
	r.vlan[1] = 7;
	assert_null(strstr(fmt(&r), "vlan"));
}

static void
test_unknown_proto(void **state)
{
	struct flow_record r = rec_tcp4();

	(void)state;
	r.flow_id = 99;
	r.proto = 253;
	r.state = FLOW_RECORD_STATE_NEW;
	ip4(r.src_ip, 192, 0, 2, 1);
	ip4(r.dst_ip, 198, 51, 100, 2);
	assert_string_equal(
		fmt(&r),
		"{\"timestamp\":\"2009-11-24T21:27:10.000000+0000\",\"flow_id\":99,"
		"\"event_type\":\"flow\",\"src_ip\":\"192.0.2.1\",\"dest_ip\":\"198.51.100.2\","
		"\"proto\":\"253\","
		"\"flow\":{\"pkts_toserver\":5,\"pkts_toclient\":4,\"bytes_toserver\":400,"
		"\"bytes_toclient\":900,\"start\":\"2009-11-24T21:27:09.534255+0000\","
		"\"end\":\"2009-11-24T21:27:10.000000+0000\",\"age\":1,\"state\":\"new\","
		"\"reason\":\"timeout\",\"alerted\":false},\"darter\":{\"lcore\":0}}\n");
}

/* Names from Suricata 7's known_proto[] (src/util-proto-name.c). */
static void
test_proto_names(void **state)
{
	static const struct {
		uint8_t num;
		const char *name;
	} cases[] = {
		{0, "HOPOPT"},	   {1, "ICMP"},	       {2, "IGMP"},	 {4, "IP-in-IP"},
		{6, "TCP"},	   {17, "UDP"},	       {33, "DCCP"},	 {39, "TP++"},
		{41, "IPv6"},	   {47, "GRE"},	       {50, "ESP"},	 {51, "AH"},
		{58, "IPv6-ICMP"}, {59, "IPv6-NoNxt"}, {61, "Any"},	 {93, "AX.25"},
		{107, "A/N"},	   {132, "SCTP"},      {136, "UDPLite"}, {138, "manet"},
		{143, "Ethernet"}, {144, "144"},       {200, "200"},	 {255, "255"},
	};
	char v[64], want[64];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct flow_record r = rec_tcp4();

		r.proto = cases[i].num;
		snprintf(want, sizeof(want), "\"%s\"", cases[i].name);
		assert_non_null(field(fmt(&r), "proto", v));
		assert_string_equal(v, want);
	}
	/* every number: ports, ICMP fields and the tcp object only where they belong */
	for (unsigned p = 0; p < 256; p++) {
		struct flow_record r = rec_icmp4(1);
		int ports = p == 6 || p == 17 || p == 132, icmp = p == 1 || p == 58;

		r.proto = (uint8_t)p;
		r.src_port = 1000;
		r.dst_port = 2000;
		fmt(&r);
		assert_int_equal(field(line, "src_port", v) != NULL, ports);
		assert_int_equal(field(line, "dest_port", v) != NULL, ports);
		assert_int_equal(field(line, "icmp_type", v) != NULL, icmp);
		assert_int_equal(field(line, "response_icmp_code", v) != NULL, icmp);
		assert_int_equal(strstr(line, "\"tcp\":{") != NULL, p == 6);
	}
}

static void
test_tcp_flags(void **state)
{
	static const char *const names[8] = {"fin", "syn", "rst", "psh",
					     "ack", "urg", "ecn", "cwr"}; /* bits 0..7 */
	struct flow_record r = rec_tcp4();
	char key[16];

	(void)state;
	r.tcp_flags_ts = 0x0f;
	r.tcp_flags_tc = 0xf0;
	assert_non_null(strstr(fmt(&r), ",\"tcp\":{\"tcp_flags\":\"ff\",\"tcp_flags_ts\":\"0f\","
					"\"tcp_flags_tc\":\"f0\",\"syn\":true,\"fin\":true,"
					"\"rst\":true,\"psh\":true,\"ack\":true,\"urg\":true,"
					"\"ecn\":true,\"cwr\":true,\"state\":\"closed\"},"));
	r.tcp_flags_ts = 0;
	r.tcp_flags_tc = 0;
	r.tcp_state = FLOW_RECORD_TCP_NONE;
	assert_non_null(strstr(fmt(&r), ",\"tcp\":{\"tcp_flags\":\"00\",\"tcp_flags_ts\":\"00\","
					"\"tcp_flags_tc\":\"00\",\"state\":\"none\"},"));
	for (int b = 0; b < 8; b++) {
		r.tcp_flags_ts = 0;
		r.tcp_flags_tc = (uint8_t)(1u << b); /* either side counts */
		snprintf(key, sizeof(key), "\"%s\":true", names[b]);
		assert_non_null(strstr(fmt(&r), key));
		assert_ptr_equal(strstr(line, ":true"), strstr(line, key) + strlen(key) - 5);
		assert_null(strstr(strstr(line, key) + strlen(key), ":true")); /* only one */
	}
}

static void
test_tcp_states(void **state)
{
	static const char *const names[] = {
		"none",	     "syn_sent", "syn_recv",   "established", "fin_wait1", "fin_wait2",
		"time_wait", "last_ack", "close_wait", "closing",     "closed",
	};
	struct flow_record r = rec_tcp4();
	char want[64];

	(void)state;
	for (unsigned s = 0; s < sizeof(names) / sizeof(names[0]); s++) {
		r.tcp_state = (uint8_t)s;
		snprintf(want, sizeof(want), "\"ack\":true,\"state\":\"%s\"},\"darter\"", names[s]);
		assert_non_null(strstr(fmt(&r), want));
	}
	r.tcp_state = 11; /* not a state: omitted, as Suricata omits an unknown one */
	assert_non_null(strstr(fmt(&r), "\"ack\":true},\"darter\""));
}

static void
test_flow_state_reason(void **state)
{
	static const char *const states[] = {"new", "established", "closed", "unknown"};
	static const char *const reasons[] = {"timeout", "forced", "shutdown", "unknown"};
	struct flow_record r = rec_udp6();
	char want[96];

	(void)state;
	for (unsigned s = 0; s < 4; s++) {
		for (unsigned k = 0; k < 4; k++) {
			r.state = (uint8_t)(s == 3 ? 200 : s);
			r.reason = (uint8_t)(k == 3 ? 255 : k);
			snprintf(want, sizeof(want),
				 ",\"state\":\"%s\",\"reason\":\"%s\",\"alerted\":false}",
				 states[s], reasons[k]);
			assert_non_null(strstr(fmt(&r), want));
		}
	}
}

static void
test_age(void **state)
{
	struct flow_record r = rec_udp6();
	char v[64];

	(void)state;
	r.start_us = 10900000; /* 10.9 s to 11.1 s: one second boundary, age 1 */
	r.end_us = 11100000;
	assert_string_equal(field(fmt(&r), "age", v), "1");
	r.end_us = 10999999;
	assert_string_equal(field(fmt(&r), "age", v), "0");
	r.end_us = 5000000; /* end before start (a capture bug): 0, not a wrap */
	assert_string_equal(field(fmt(&r), "age", v), "0");
	r.start_us = 0;
	r.end_us = 86400ull * 1000000 * 365;
	assert_string_equal(field(fmt(&r), "age", v), "31536000");
}

static void
test_flow_id_digits(void **state)
{
	static const uint64_t fixed[] = {
		0,
		1,
		9,
		10,
		99,
		100,
		101,
		999999,
		1000000,
		(1ull << 51) - 1,
		(1ull << 53) - 1,
		9999999999999999999ull,
		10000000000000000000ull,
		UINT64_MAX - 1,
		UINT64_MAX,
	};
	struct flow_record r = rec_udp6();
	struct rng g = {1};
	char v[64], want[32];

	(void)state;
	r.flow_id = UINT64_MAX;
	assert_non_null(strstr(fmt(&r), ",\"flow_id\":18446744073709551615,\"event_type\""));
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]) + 20000; i++) {
		uint64_t x = rng_next(&g);

		if (i < sizeof(fixed) / sizeof(fixed[0]))
			r.flow_id = fixed[i];
		else /* random widths: shift by 0..63 */
			r.flow_id = x >> (x & 63);
		r.bytes_toclient = ~r.flow_id;
		snprintf(want, sizeof(want), "%" PRIu64, r.flow_id);
		assert_string_equal(field(fmt(&r), "flow_id", v), want);
		snprintf(want, sizeof(want), "%" PRIu64, r.bytes_toclient);
		assert_string_equal(field(line, "bytes_toclient", v), want);
	}
}

/* IPv4 as inet_ntop writes it; IPv6 as Suricata's PrintInet ("%04x" groups). */
static void
test_addresses(void **state)
{
	struct flow_record r = rec_udp6();
	struct rng g = {2};
	char v[64], want[64], ntop[INET6_ADDRSTRLEN];

	(void)state;
	for (int i = 0; i < 20000; i++) {
		uint64_t x = rng_next(&g), y = rng_next(&g);

		memset(r.src_ip, 0, 16);
		memcpy(r.src_ip, &x, 8);
		memcpy(r.src_ip + 8, &y, 8);
		if (i < 256) /* every octet value in every position */
			memset(r.src_ip, i, 4);
		r.ip_version = i % 3 ? 4 : 6;
		if (r.ip_version == 4) {
			assert_non_null(inet_ntop(AF_INET, r.src_ip, ntop, sizeof(ntop)));
		} else {
			char *q = ntop;

			for (int k = 0; k < 16; k += 2)
				q += sprintf(q, "%s%02x%02x", k ? ":" : "", r.src_ip[k],
					     r.src_ip[k + 1]);
		}
		snprintf(want, sizeof(want), "\"%s\"", ntop);
		assert_string_equal(field(fmt(&r), "src_ip", v), want);
	}
	r.ip_version = 4;
	ip4(r.src_ip, 255, 255, 255, 255);
	assert_string_equal(field(fmt(&r), "src_ip", v), "\"255.255.255.255\"");
	ip4(r.src_ip, 0, 0, 0, 0);
	assert_string_equal(field(fmt(&r), "src_ip", v), "\"0.0.0.0\"");
	r.ip_version = 6;
	memset(r.src_ip, 0xff, 16);
	assert_string_equal(field(fmt(&r), "src_ip", v),
			    "\"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff\"");
}

/* ------------------------------------------------------------------ */
/* Time                                                                */
/* ------------------------------------------------------------------ */

static void
check_time(uint64_t ts_us, const char *want)
{
	char t[32], ref[64];

	memset(t, 'x', sizeof(t));
	eve_format_time(t, ts_us);
	assert_int_equal(t[31], '\0');
	assert_string_equal(t, want);
	if (ts_us <= 253402300799999999ull) {
		ref_time(ref, ts_us);
		assert_string_equal(t, ref);
	}
}

static void
test_time_format(void **state)
{
	struct rng g = {3};

	(void)state;
	check_time(0, "1970-01-01T00:00:00.000000+0000");
	check_time(1259098029534255ull, "2009-11-24T21:27:09.534255+0000");
	check_time(1259098029999999ull, "2009-11-24T21:27:09.999999+0000");
	check_time(1259098030000000ull, "2009-11-24T21:27:10.000000+0000");
	check_time(1259098029999999ull, "2009-11-24T21:27:09.999999+0000"); /* back */
	check_time(1262303999999999ull, "2009-12-31T23:59:59.999999+0000");
	check_time(1262304000000000ull, "2010-01-01T00:00:00.000000+0000");
	check_time(1709208000000007ull, "2024-02-29T12:00:00.000007+0000");
	check_time(2147483647999999ull, "2038-01-19T03:14:07.999999+0000");
	check_time(2147483648000000ull, "2038-01-19T03:14:08.000000+0000");
	check_time(253402300799999999ull, "9999-12-31T23:59:59.999999+0000");
	/* past year 9999 the text would not fit 32 bytes: clamped */
	check_time(253402300800000000ull, "9999-12-31T23:59:59.999999+0000");
	check_time(UINT64_MAX, "9999-12-31T23:59:59.999999+0000");
	for (int i = 0; i < 100000; i++) {
		uint64_t ts = rng_next(&g) % 253402300800000000ull;
		char t[32], ref[64];

		if (i & 1) /* near now: many share a day with the previous one */
			ts = 1700000000000000ull + ts % (86400ull * 1000000 * 30);
		eve_format_time(t, ts);
		ref_time(ref, ts);
		assert_string_equal(t, ref);
	}
}

/* gmtime_r runs once per UTC day seen, not once per call or per second. */
static void
test_time_cache(void **state)
{
	const uint64_t day = 86400ull * 1000000;
	const uint64_t t0 = 1685577600ull * 1000000; /* 2023-06-01T00:00:00 */
	unsigned long before;
	char t[32];

	(void)state;
	eve_format_time(t, t0 - 5 * day); /* some other day */
	before = gmtime_r_calls;
	eve_format_time(t, t0);
	assert_int_equal(gmtime_r_calls - before, 1);
	for (uint64_t us = 0; us < day; us += 7777777) /* ~11k stamps, one day */
		eve_format_time(t, t0 + us);
	eve_format_time(t, t0 + day - 1);
	assert_string_equal(t, "2023-06-01T23:59:59.999999+0000");
	assert_int_equal(gmtime_r_calls - before, 1);
	eve_format_time(t, t0 + day); /* across midnight */
	assert_string_equal(t, "2023-06-02T00:00:00.000000+0000");
	assert_int_equal(gmtime_r_calls - before, 2);
	eve_format_time(t, t0 + day - 1); /* and back */
	assert_string_equal(t, "2023-06-01T23:59:59.999999+0000");
	assert_int_equal(gmtime_r_calls - before, 3);

	/* a record whose start and end share a day costs nothing more */
	struct flow_record r = rec_udp6();
	before = gmtime_r_calls;
	for (int i = 0; i < 1000; i++) {
		r.end_us += 1000;
		fmt(&r);
	}
	assert_true(gmtime_r_calls - before <= 1);
}

/* ------------------------------------------------------------------ */
/* Truncation                                                          */
/* ------------------------------------------------------------------ */

/*
 * Every cap from 0 to len + 1, each in a heap block of exactly cap bytes:
 * ASan reports any byte written past it. Below len: 0; from len: the line.
 */
static void
check_every_cap(const char *full, size_t len, size_t (*format)(char *, size_t, const void *),
		const void *arg)
{
	for (size_t cap = 0; cap <= len + 1; cap++) {
		char *buf = malloc(cap ? cap : 1);
		size_t n;

		assert_non_null(buf);
		n = format(buf, cap, arg);
		if (cap < len) {
			assert_int_equal(n, 0);
		} else {
			assert_int_equal(n, len);
			assert_memory_equal(buf, full, len);
		}
		free(buf);
	}
	assert_int_equal(format(NULL, 0, arg), 0);
}

static size_t
format_flow_cb(char *buf, size_t cap, const void *arg)
{
	return eve_format_flow(buf, cap, arg, NULL);
}

static const struct eve_counter stats_example[] = {
	{"decoder.pkts", 10}, {"decoder.bytes", 1500}, {"decoder.event.ipv4.trunc_pkt", 2},
	{"flow.created", 3},  {"capture.rx", 10},
};

static size_t
format_stats_cb(char *buf, size_t cap, const void *arg)
{
	(void)arg;
	return eve_format_stats(buf, cap, 1259098030000000ull, 12, stats_example, 5);
}

static void
test_truncation(void **state)
{
	struct flow_record recs[6] = {rec_tcp4(),   rec_udp6(),	 rec_icmp4(0),
				      rec_icmp4(1), rec_icmp6(), rec_tcp4()};
	char full[4096];

	(void)state;
	recs[5].vlan[0] = 4094; /* the longest kind of line darter writes */
	recs[5].vlan[1] = 4094;
	recs[5].flow_id = UINT64_MAX;
	recs[5].pkts_toserver = recs[5].pkts_toclient = UINT64_MAX;
	recs[5].bytes_toserver = recs[5].bytes_toclient = UINT64_MAX;
	recs[5].tcp_flags_ts = 0xff;
	recs[5].tcp_state = FLOW_RECORD_TCP_CLOSE_WAIT;
	recs[5].ip_version = 6;
	memset(recs[5].src_ip, 0xab, 16);
	recs[5].lcore = UINT16_MAX;
	for (size_t i = 0; i < 6; i++) {
		size_t len = eve_format_flow(full, sizeof(full), &recs[i], NULL);

		assert_true(len > 0);
		if (i == 5)
			assert_true(len < 1024);
		check_every_cap(full, len, format_flow_cb, &recs[i]);
	}
	size_t len =
		eve_format_stats(full, sizeof(full), 1259098030000000ull, 12, stats_example, 5);
	check_every_cap(full, len, format_stats_cb, NULL);
}

/* ------------------------------------------------------------------ */
/* Stats                                                               */
/* ------------------------------------------------------------------ */

static void
test_stats_nesting(void **state)
{
	static const struct eve_counter deep[] = {
		{"a.b.c.d", 1}, {"a.b.x", 2}, {"a.y", 3}, {"z", 4},
		{"p.q.r", 5},	{"p.s", 6},   {"t.u", 7},
	};
	static const struct eve_counter odd[] = {
		{"plain", 1},
		{"q\"uo\\te.x\ty", 2},
		{"ab.c", 3},
		{"abc.d", 4},
	};

	(void)state;
	assert_string_equal(fmt_stats(1259098030000000ull, 12, stats_example, 5),
			    "{\"timestamp\":\"2009-11-24T21:27:10.000000+0000\","
			    "\"event_type\":\"stats\",\"stats\":{\"uptime\":12,"
			    "\"decoder\":{\"pkts\":10,\"bytes\":1500,"
			    "\"event\":{\"ipv4\":{\"trunc_pkt\":2}}},"
			    "\"flow\":{\"created\":3},\"capture\":{\"rx\":10}}}\n");
	assert_string_equal(fmt_stats(0, 0, NULL, 0),
			    "{\"timestamp\":\"1970-01-01T00:00:00.000000+0000\","
			    "\"event_type\":\"stats\",\"stats\":{\"uptime\":0}}\n");
	assert_string_equal(fmt_stats(0, UINT64_MAX, deep, 7),
			    "{\"timestamp\":\"1970-01-01T00:00:00.000000+0000\","
			    "\"event_type\":\"stats\",\"stats\":{\"uptime\":18446744073709551615,"
			    "\"a\":{\"b\":{\"c\":{\"d\":1},\"x\":2},\"y\":3},\"z\":4,"
			    "\"p\":{\"q\":{\"r\":5},\"s\":6},\"t\":{\"u\":7}}}\n");
	/* names are escaped; "ab" and "abc" are different objects */
	assert_string_equal(
		fmt_stats(0, 1, odd, 4),
		"{\"timestamp\":\"1970-01-01T00:00:00.000000+0000\","
		"\"event_type\":\"stats\",\"stats\":{\"uptime\":1,\"plain\":1,"
		"\"q\\\"uo\\\\te\":{\"x\\u0009y\":2},\"ab\":{\"c\":3},\"abc\":{\"d\":4}}}\n");
}

/* ------------------------------------------------------------------ */
/* What the worker adds: Community ID, nDPI, tunnel, MAD evidence       */
/* ------------------------------------------------------------------ */

static struct score_result
result_example(int outlier)
{
	struct score_result r;

	memset(&r, 0, sizeof(r));
	r.metric = SCORE_METRIC_BYTES;
	r.group = SCORE_GROUP_DEST_PORT;
	snprintf(r.group_key, sizeof(r.group_key), "tcp/80");
	r.value = 1300;
	r.median = 1200.5;
	r.mad = 0.25;
	r.n = 4000;
	r.score = outlier ? 9.5 : 0.5;
	r.zscore = outlier ? 6.4 : 0.3;
	r.threshold = 3.5;
	r.outlier = (uint8_t)outlier;
	return r;
}

static const char *
fmt_extra(const struct flow_record *r, const struct eve_flow_extra *x)
{
	size_t n = eve_format_flow(line, sizeof(line) - 1, r, x);

	assert_true(n > 0);
	line[n] = '\0';
	return line;
}

static void
test_extras(void **state)
{
	struct flow_record r = rec_tcp4();
	struct score_result res[2] = {result_example(0), result_example(1)};
	struct eve_flow_extra x = {
		.community_id = "1:LQU9qZlK+B5F3KDmev6m5PMibrg=", .scores = res, .n_scores = 2};
	char v[64];
	(void)state;

	/* nothing extra: no app_proto, community_id, mad */
	fmt_extra(&r, NULL);
	assert_null(strstr(line, "app_proto"));
	assert_null(strstr(line, "community_id"));
	assert_null(strstr(line, "\"mad\""));

	r.app.how = APPID_HOW_DPI;
	snprintf(r.app.name, sizeof(r.app.name), "tls");
	snprintf(r.app.app, sizeof(r.app.app), "youtube");
	snprintf(r.app.category, sizeof(r.app.category), "media");
	r.tunnel = FLOW_RECORD_TUNNEL_GRE;
	fmt_extra(&r, &x);
	assert_non_null(strstr(line,
			       "\"proto\":\"TCP\",\"app_proto\":\"tls\","
			       "\"community_id\":\"1:LQU9qZlK+B5F3KDmev6m5PMibrg=\",\"flow\":{"));
	assert_non_null(strstr(line, "\"darter\":{\"lcore\":0,\"tunnel\":\"gre\",\"app\":"
				     "\"youtube\",\"app_category\":\"media\",\"app_how\":\"dpi\","
				     "\"mad\":[{\"metric\":\"bytes\",\"group\":\"dest_port\","
				     "\"key\":\"tcp/80\",\"value\":1300,\"median\":1200.5,"
				     "\"mad\":0.25,\"n\":4000,\"score\":0.5,\"zscore\":0.3,"
				     "\"threshold\":3.5,\"outlier\":false,\"burn_in\":false},{"));
	assert_string_equal(field(line, "outlier", v), "false");
	assert_non_null(strstr(line, "\"outlier\":true,\"burn_in\":false}]}}\n"));

	/* nDPI gave up knowing nothing: Suricata's "failed" */
	r.app.how = APPID_HOW_UNKNOWN;
	r.app.app[0] = '\0';
	fmt_extra(&r, NULL);
	assert_string_equal(field(line, "app_proto", v), "\"failed\"");

	/* not finite: null, never nan or inf */
	res[0].median = NAN;
	res[0].score = INFINITY;
	fmt_extra(&r, &x);
	assert_string_equal(field(line, "median", v), "null");
	assert_string_equal(field(line, "score", v), "null");
	assert_null(strstr(line, "nan"));
	assert_null(strstr(line, "inf"));
}

/* A JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int
json_number(const char *s)
{
	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if (*s >= '1' && *s <= '9')
		while (*s >= '0' && *s <= '9')
			s++;
	else
		return 0;
	if (*s == '.') {
		if (!(*++s >= '0' && *s <= '9'))
			return 0;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (!(*s >= '0' && *s <= '9'))
			return 0;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return *s == '\0';
}

/* Evidence numbers: valid JSON, 9 significant digits, whatever the magnitude. */
static void
test_doubles(void **state)
{
	struct flow_record r = rec_tcp4();
	struct score_result res = result_example(0);
	struct eve_flow_extra x = {.scores = &res, .n_scores = 1};
	struct rng g = {99};
	char v[64];
	(void)state;

	for (int i = 0; i < 200000; i++) {
		double mag =
			pow(10.0, (double)(rng_next(&g) % 2600) / 100.0 - 8.0); /* 1e-8 .. 1e18 */
		double want = mag * (1.0 + (double)(rng_next(&g) % 1000000) / 1e6);
		double got;

		if (rng_next(&g) & 1)
			want = -want;
		res.median = want;
		fmt_extra(&r, &x);
		assert_non_null(field(line, "median", v));
		if (!json_number(v))
			fail_msg("%.17g printed as '%s': not a JSON number", want, v);
		got = strtod(v, NULL);
		if (fabs(got - want) > 5e-9 * fabs(want))
			fail_msg("%.17g printed as '%s'", want, v);
	}
	res.median = 1200.5;
	fmt_extra(&r, &x);
	assert_string_equal(field(line, "median", v), "1200.5");
	res.median = -0.25;
	fmt_extra(&r, &x);
	assert_string_equal(field(line, "median", v), "-0.25");
	res.median = 1e20;
	fmt_extra(&r, &x);
	assert_string_equal(field(line, "median", v), "1e+20");
}

/*
 * The printf-based formatting eve_double replaced, kept here as the
 * reference: the digits written by hand must be the same bytes.
 */
static void
ref_double(char *out, size_t len, double v)
{
	static const uint64_t p10[] = {
		1,	  10,	     100,	 1000,	      10000,	    100000,	  1000000,
		10000000, 100000000, 1000000000, 10000000000, 100000000000, 1000000000000};
	double av = fabs(v);
	uint64_t scaled, ip, fp;
	int n, dp;

	if (v == 0) {
		snprintf(out, len, "0");
		return;
	}
	if (av < 1e-4 || av >= 1e15) {
		snprintf(out, len, "%.9g", v);
		return;
	}
	for (dp = 12; dp > 0 && av >= (double)p10[12 - dp] * 1e-3; dp--)
		;
	scaled = (uint64_t)llround(av * (double)p10[dp]);
	ip = scaled / p10[dp];
	fp = scaled % p10[dp];
	n = snprintf(out, len, "%s%" PRIu64, v < 0 ? "-" : "", ip);
	if (fp == 0)
		return;
	while (fp % 10 == 0) {
		fp /= 10;
		dp--;
	}
	snprintf(out + n, len - (size_t)n, ".%0*" PRIu64, dp, fp);
}

/* Evidence numbers: the same bytes as the printf reference, fractions with leading zeros too. */
static void
test_doubles_exact(void **state)
{
	struct flow_record r = rec_tcp4();
	struct score_result res = result_example(0);
	struct eve_flow_extra x = {.scores = &res, .n_scores = 1};
	struct rng g = {4242};
	char v[64], want[64];
	(void)state;

	for (int i = 0; i < 200000; i++) {
		double mag =
			pow(10.0, (double)(rng_next(&g) % 2200) / 100.0 - 6.0); /* 1e-6 .. 1e16 */
		double d = (i & 3) == 0 ? mag * (1.0 + (double)(rng_next(&g) % 1000) / 1e7)
					: mag * (1.0 + (double)(rng_next(&g) % 1000000) / 1e6);

		if (rng_next(&g) & 1)
			d = -d;
		res.median = d;
		fmt_extra(&r, &x);
		assert_non_null(field(line, "median", v));
		ref_double(want, sizeof(want), d);
		if (strcmp(v, want) != 0)
			fail_msg("%.17g printed as '%s', reference '%s'", d, v, want);
	}
}

/* JSON string content for s, byte by byte: the reference for eve's SSE2 scan. */
static size_t
ref_escape(char *out, const unsigned char *s, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < 0x20)
			k += (size_t)sprintf(out + k, "\\u%04x", s[i]);
		else if (s[i] == '"' || s[i] == '\\')
			k += (size_t)sprintf(out + k, "\\%c", s[i]);
		else
			out[k++] = (char)s[i];
	}
	out[k] = '\0';
	return k;
}

/*
 * Escaping, at every length 1..80 and position: random names with a few
 * quotes, backslashes and controls (or none) go through a stats counter's
 * key; the bytes must be the byte-by-byte reference's. Covers the scan's
 * 16-byte blocks and its overlapping last block.
 */
static void
test_escape_random(void **state)
{
	struct rng g = {2024};
	unsigned char name[96];
	char want[96 * 6 + 64], got[96 * 6 + 64];
	(void)state;

	for (int i = 0; i < 40000; i++) {
		size_t n = 1 + rng_next(&g) % 80;
		unsigned special = (unsigned)(rng_next(&g) % 4); /* 0: none */
		struct eve_counter c = {.name = (const char *)name, .value = 7};
		const char *l, *k;

		for (size_t j = 0; j < n; j++) {
			unsigned char b = (unsigned char)(0x20 + rng_next(&g) % 0xdf);

			if (special != 0 && rng_next(&g) % (8 * special) == 0) {
				static const unsigned char odd[] = {'"', '\\', 1, 0x1f, '\n', 0x7f};

				b = odd[rng_next(&g) % sizeof(odd)];
			}
			name[j] = b == '.' ? 'x' : b; /* a dot would nest */
		}
		name[n] = '\0';
		ref_escape(want, name, n);
		strcat(want, "\":7}}\n");
		l = fmt_stats(1259098030000000ull, 1, &c, 1);
		k = strstr(l, "\"uptime\":1,\"");
		assert_non_null(k);
		snprintf(got, sizeof(got), "%s", k + strlen("\"uptime\":1,\""));
		if (strcmp(got, want) != 0)
			fail_msg("name of %zu bytes: got '%s', want '%s'", n, got, want);
	}
}

/* median = d through a flow line; its text in v */
static void
fmt_median(double d, char v[64])
{
	struct flow_record r = rec_tcp4();
	struct score_result res = result_example(0);
	struct eve_flow_extra x = {.scores = &res, .n_scores = 1};

	res.median = d;
	fmt_extra(&r, &x);
	assert_non_null(field(line, "median", v));
}

/*
 * Small evidence (|v| < 1e-4) has printf's "%.9g" bytes, written without
 * printf: random magnitudes 1e-20 .. 1e-4 (both sides of the 1e-14 end), exact ties (2^-14
 * = 6.103515625e-05) and the values that round up a decade or into fixed point.
 */
static void
test_doubles_small(void **state)
{
	static const double edge[] = {1e-4,
				      9.9999999949e-5,
				      9.99999999e-5,
				      9.9999999951e-5,
				      9.999999999999e-5,
				      1e-5,
				      9.9999999951e-6,
				      1.00000000049e-5,
				      6.103515625e-05,
				      3.0517578125e-05,
				      1e-14,
				      9.9999999951e-15,
				      9.99e-15,
				      1.5e-10,
				      1.2345e-07,
				      0x1p-20,
				      0x1p-30,
				      0x1p-40,
				      5e-324,
				      2.2250738585072014e-308};
	struct rng g = {777};
	char v[64], want[64];
	(void)state;

	for (size_t i = 0; i < sizeof(edge) / sizeof(edge[0]) * 2; i++) {
		double d = i & 1 ? -edge[i / 2] : edge[i / 2];

		fmt_median(d, v);
		snprintf(want, sizeof(want), "%.9g", d);
		if (strcmp(v, want) != 0)
			fail_msg("%.17g printed as '%s', printf '%s'", d, v, want);
	}
	for (int i = 0; i < 300000; i++) {
		double mag = pow(10.0, (double)(rng_next(&g) % 1610) / 100.0 - 20.0);
		double d = mag * (1.0 + (double)(rng_next(&g) % 1000000000) / 1e9);

		if (fabs(d) >= 1e-4) /* fixed point: test_doubles_exact */
			continue;
		if (i & 1)
			d = -d;
		fmt_median(d, v);
		snprintf(want, sizeof(want), "%.9g", d);
		if (strcmp(v, want) != 0)
			fail_msg("%.17g printed as '%s', printf '%s'", d, v, want);
	}
}

/*
 * Any double, from random bits: the text is a JSON number (or null when
 * not finite) that parses to the value of printf's "%.9g" below 1e9, and
 * to the nearest integer in [1e9, 1e15) (fixed point, by design).
 */
static void
test_doubles_roundtrip(void **state)
{
	struct rng g = {31337};
	char v[64], want[64];
	(void)state;

	for (int i = 0; i < 300000; i++) {
		uint64_t bits = rng_next(&g);
		double d, got, ref, ad;

		if (i % 3 == 0) /* bias towards evidence magnitudes: 2^-60 .. 2^60 */
			bits = (bits & 0x800fffffffffffffull) |
			       (uint64_t)(1023 - 60 + (int)(rng_next(&g) % 121)) << 52;
		memcpy(&d, &bits, sizeof(d));
		fmt_median(d, v);
		if (!isfinite(d)) {
			assert_string_equal(v, "null");
			continue;
		}
		if (!json_number(v))
			fail_msg("%.17g printed as '%s': not a JSON number", d, v);
		got = strtod(v, NULL);
		ad = fabs(d);
		if (ad >= 1e9 && ad < 1e15) {
			ref = d < 0 ? -floor(ad + 0.5) : floor(ad + 0.5);
		} else {
			snprintf(want, sizeof(want), "%.9g", d);
			ref = strtod(want, NULL);
		}
		if (got != ref && !(d == 0 && got == 0))
			fail_msg("%.17g printed as '%s' (%.17g), want %.17g", d, v, got, ref);
	}
}

static void
test_outlier_alert(void **state)
{
	struct flow_record r = rec_tcp4();
	struct score_result res[2] = {result_example(0), result_example(1)};
	struct eve_flow_extra x = {.scores = res, .n_scores = 2};
	char v[64];
	size_t n;
	(void)state;

	n = eve_format_outlier(line, sizeof(line) - 1, &r, &x, 1);
	assert_true(n > 0);
	line[n] = '\0';
	assert_string_equal(field(line, "event_type", v), "\"alert\"");
	assert_string_equal(field(line, "signature_id", v), "9100002"); /* bytes, dest_port */
	assert_non_null(strstr(line, "\"signature\":\"DARTER MAD outlier bytes/dest_port\""));
	assert_non_null(strstr(line, "\"darter\":{\"lcore\":0,\"mad\":[{"));
	assert_non_null(strstr(line, "\"outlier\":true"));
	assert_null(strstr(line, "\"outlier\":false"));
	/* bad index, too small a buffer */
	assert_int_equal(eve_format_outlier(line, sizeof(line), &r, &x, 2), 0);
	assert_int_equal(eve_format_outlier(line, sizeof(line), &r, NULL, 0), 0);
	assert_int_equal(eve_format_outlier(line, n - 1, &r, &x, 1), 0);
}

/* ------------------------------------------------------------------ */
/* Schema: tests/e2e/validate_eve.py on lines written here             */
/* ------------------------------------------------------------------ */

/* The source tree: DARTER_SRC_ROOT, or DARTER_CONF's grandparent, or __FILE__'s. */
static int
src_root(char *out, size_t n)
{
	const char *env = getenv("DARTER_SRC_ROOT"), *conf = getenv("DARTER_CONF");
	const char *file = __FILE__, *suffix = "tests/unit/test_eve.c";
	size_t fl = strlen(file), sl = strlen(suffix);

	if (env != NULL)
		return snprintf(out, n, "%s", env) < (int)n ? 0 : -1;
	if (conf != NULL && strstr(conf, "/conf/") != NULL)
		return snprintf(out, n, "%.*s", (int)(strstr(conf, "/conf/") - conf), conf) < (int)n
			       ? 0
			       : -1;
	if (fl >= sl && strcmp(file + fl - sl, suffix) == 0)
		return snprintf(out, n, "%.*s.", (int)(fl - sl), file) < (int)n ? 0 : -1;
	return -1;
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* Exit status of the validator on file; its output becomes TAP comments. */
static int
run_validator(const char *root, const char *file)
{
	char cmd[4096], out[512];
	FILE *p;
	int st;

	snprintf(cmd, sizeof(cmd),
		 "/usr/bin/python3 '%s/tests/e2e/validate_eve.py' "
		 "'%s/engine/eve-flow.schema.json' '%s' 2>&1",
		 root, root, file);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(out, sizeof(out), p) != NULL)
		printf("#   %s", out);
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Lines that must fail, each alone in a file. */
#define BAD_HEAD "{\"timestamp\":\"2009-11-24T21:27:10.000000+0000\",\"event_type\":\"flow\","
#define BAD_FLOW(age)                                                                              \
	"\"flow\":{\"pkts_toserver\":1,\"pkts_toclient\":0,\"bytes_toserver\":1,"                  \
	"\"bytes_toclient\":0,\"start\":\"2009-11-24T21:27:10.000000+0000\","                      \
	"\"end\":\"2009-11-24T21:27:10.000000+0000\",\"age\":" age ",\"state\":\"new\","           \
	"\"reason\":\"timeout\",\"alerted\":false},\"darter\":{\"lcore\":0}}\n"
#define BAD_TUPLE "\"src_ip\":\"10.0.0.1\",\"dest_ip\":\"10.0.0.2\",\"proto\":\"GRE\","

static const char *const bad_lines[] = {
	/* a float where an integer belongs */
	(BAD_HEAD "\"flow_id\":1," BAD_TUPLE BAD_FLOW("0.0")),
	/* flow_id as a string */
	(BAD_HEAD "\"flow_id\":\"1\"," BAD_TUPLE BAD_FLOW("0")),
	/* TCP without its tcp object */
	(BAD_HEAD "\"flow_id\":1,\"src_ip\":\"10.0.0.1\",\"src_port\":1,\"dest_ip\":\"10.0.0.2\","
		  "\"dest_port\":2,\"proto\":\"TCP\"," BAD_FLOW("0")),
	/* a stats event with a duplicate key (non-adjacent prefixes) */
	("{\"timestamp\":\"2009-11-24T21:27:10.000000+0000\",\"event_type\":\"stats\","
	 "\"stats\":{\"uptime\":1,\"a\":{\"x\":1},\"b\":{\"y\":1},\"a\":{\"z\":1}}}\n"),
	/* not JSON */
	("{\"timestamp\":\n"),
};

static void
test_schema(void **state)
{
	char root[2048], path[] = "/tmp/test_eve_XXXXXX";
	struct flow_record recs[] = {rec_tcp4(),  rec_udp6(), rec_icmp4(0), rec_icmp4(1),
				     rec_icmp6(), rec_tcp4(), rec_tcp4()};
	FILE *f;
	int fd;

	(void)state;
	if (src_root(root, sizeof(root)) < 0 || strchr(root, '\'') != NULL)
		skip();
	snprintf(line, sizeof(line), "%s/tests/e2e/validate_eve.py", root);
	if (access(line, R_OK) != 0 || access("/usr/bin/python3", X_OK) != 0 ||
	    system("/usr/bin/python3 -c 'import jsonschema' >/dev/null 2>&1") != 0) {
		printf("# schema check skipped: no validator, python3 or jsonschema\n");
		skip();
	}
	recs[5].vlan[0] = 100;
	recs[5].vlan[1] = 200;
	recs[6].proto = 253;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++)
		fputs(fmt(&recs[i]), f);
	fputs(fmt_stats(1259098030000000ull, 12, stats_example, 5), f);
	{
		struct score_result res[2] = {result_example(0), result_example(1)};
		struct eve_flow_extra x = {.community_id = "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
					   .scores = res,
					   .n_scores = 2};
		struct flow_record r = rec_udp6();
		size_t n;

		r.app.how = APPID_HOW_GUESS;
		snprintf(r.app.name, sizeof(r.app.name), "mdns");
		r.tunnel = FLOW_RECORD_TUNNEL_TEREDO;
		r.reason = FLOW_RECORD_REASON_ACTIVE;
		res[0].median = NAN;
		fputs(fmt_extra(&r, &x), f);
		n = eve_format_outlier(line, sizeof(line) - 1, &r, &x, 1);
		assert_true(n > 0);
		line[n] = '\0';
		fputs(line, f);
	}
	assert_int_equal(fclose(f), 0);
	assert_int_equal(run_validator(root, path), 0);
	for (size_t i = 0; i < sizeof(bad_lines) / sizeof(bad_lines[0]); i++) {
		write_file(path, bad_lines[i]);
		assert_int_equal(run_validator(root, path), 1);
	}
	unlink(path);
}

/* ------------------------------------------------------------------ */
/* Rate (reported, not asserted)                                       */
/* ------------------------------------------------------------------ */

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void
test_rate(void **state)
{
	enum { N = 1000000, K = 1024 };
	static struct flow_record recs[K];
	struct rng g = {4};
	uint64_t bytes = 0;
	double t0, dt;

	(void)state;
	for (int i = 0; i < K; i++) { /* a mix, ~1 ms apart: realistic time spread */
		struct flow_record *r = &recs[i];

		*r = i % 4 == 3 ? rec_udp6() : i % 8 == 1 ? rec_icmp4(1) : rec_tcp4();
		r->flow_id = rng_next(&g) >> 13;
		r->end_us = 1700000000000000ull + (uint64_t)i * 1000;
		r->start_us = r->end_us - rng_next(&g) % 30000000;
		r->pkts_toserver = rng_next(&g) % 100000;
		r->bytes_toserver = rng_next(&g) % 100000000;
		memcpy(r->src_ip, &(uint64_t){rng_next(&g)}, 8);
	}
	t0 = now_s();
	for (int i = 0; i < N; i++) {
		size_t n = eve_format_flow(line, sizeof(line), &recs[i % K], NULL);

		assert_true(n > 0);
		bytes += n;
	}
	dt = now_s() - t0;
	printf("# eve_format_flow: %.2f M records/s (%.0f ns/record, %.0f bytes/line)\n",
	       N / dt / 1e6, dt / N * 1e9, (double)bytes / N);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcp_ipv4),
		cmocka_unit_test(test_udp_ipv6),
		cmocka_unit_test(test_icmp_no_response),
		cmocka_unit_test(test_icmp_response),
		cmocka_unit_test(test_icmpv6),
		cmocka_unit_test(test_vlan),
		cmocka_unit_test(test_unknown_proto),
		cmocka_unit_test(test_proto_names),
		cmocka_unit_test(test_tcp_flags),
		cmocka_unit_test(test_tcp_states),
		cmocka_unit_test(test_flow_state_reason),
		cmocka_unit_test(test_age),
		cmocka_unit_test(test_flow_id_digits),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_time_format),
		cmocka_unit_test(test_time_cache),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_stats_nesting),
		cmocka_unit_test(test_extras),
		cmocka_unit_test(test_outlier_alert),
		cmocka_unit_test(test_doubles),
		cmocka_unit_test(test_doubles_exact),
		cmocka_unit_test(test_doubles_small),
		cmocka_unit_test(test_doubles_roundtrip),
		cmocka_unit_test(test_escape_random),
		cmocka_unit_test(test_schema),
		cmocka_unit_test(test_rate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
