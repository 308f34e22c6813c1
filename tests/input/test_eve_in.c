/*
 * test_eve_in.c: EVE JSON lines in, flow records out.
 *
 * Real Suricata 7 flow events (written out by hand as Suricata prints
 * them: IPv4 and IPv6 TCP, UDP, ICMP with a reply, VLAN, local-time
 * offsets) give records checked field by field against values computed
 * independently (times from timegm, addresses from inet_pton). darter's
 * own lines round-trip: random records through engine/eve.c's
 * eve_format_flow and back give identical records. Every bad-input class
 * of issue 6 is refused with its named reason and counted. A mutation
 * fuzz checks eve_in against jansson: never a crash, never a line jansson
 * takes refused as bad JSON, never a line jansson refuses taken.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "eve.h"
#include "eve_in.h"

/* ------------------------------------------------------------------ */
/* Suricata 7 lines                                                    */
/* ------------------------------------------------------------------ */

static const char sur_tcp4[] =
	"{\"timestamp\":\"2023-09-12T12:12:44.351034+0200\",\"flow_id\":1176185597497618,"
	"\"in_iface\":\"eth0\",\"event_type\":\"flow\",\"src_ip\":\"10.16.1.11\","
	"\"src_port\":49214,\"dest_ip\":\"93.184.216.34\",\"dest_port\":80,\"proto\":\"TCP\","
	"\"app_proto\":\"http\",\"flow\":{\"pkts_toserver\":6,\"pkts_toclient\":4,"
	"\"bytes_toserver\":479,\"bytes_toclient\":1872,"
	"\"start\":\"2023-09-12T12:12:14.347129+0200\",\"end\":\"2023-09-12T12:12:14.462385+0200\","
	"\"age\":0,\"state\":\"closed\",\"reason\":\"timeout\",\"alerted\":true},"
	"\"tcp\":{\"tcp_flags\":\"1b\",\"tcp_flags_ts\":\"1b\",\"tcp_flags_tc\":\"1a\",\"syn\":"
	"true,"
	"\"fin\":true,\"psh\":true,\"ack\":true,\"state\":\"closed\",\"ts_max_regions\":1,"
	"\"tc_max_regions\":1}}\n";

static const char sur_udp4[] =
	"{\"timestamp\":\"2023-09-12T12:13:05.101823+0200\",\"flow_id\":1530285404563498,"
	"\"in_iface\":\"eth0\",\"event_type\":\"flow\",\"src_ip\":\"10.16.1.11\","
	"\"src_port\":53226,\"dest_ip\":\"10.16.1.1\",\"dest_port\":53,\"proto\":\"UDP\","
	"\"app_proto\":\"dns\",\"flow\":{\"pkts_toserver\":1,\"pkts_toclient\":1,"
	"\"bytes_toserver\":71,\"bytes_toclient\":87,\"start\":\"2023-09-12T12:12:13.101823+0200\","
	"\"end\":\"2023-09-12T12:12:13.118722+0200\",\"age\":0,\"state\":\"established\","
	"\"reason\":\"timeout\",\"alerted\":false}}";

static const char sur_tcp6_vlan[] =
	"{\"timestamp\":\"2023-09-12T06:14:01.000412-0400\",\"flow_id\":2008337310592718,"
	"\"in_iface\":\"eth0\",\"event_type\":\"flow\",\"vlan\":[100,200,300],"
	"\"src_ip\":\"2001:0db8:0000:0000:0000:0000:0000:0011\",\"src_port\":51812,"
	"\"dest_ip\":\"2a00:1450:4001:0829:0000:0000:0000:200e\",\"dest_port\":443,"
	"\"proto\":\"TCP\",\"app_proto\":\"tls\",\"flow\":{\"pkts_toserver\":14,"
	"\"pkts_toclient\":17,\"bytes_toserver\":2311,\"bytes_toclient\":9876,"
	"\"start\":\"2023-09-12T06:13:01.230118-0400\",\"end\":\"2023-09-12T06:13:02.999802-0400\","
	"\"age\":1,\"state\":\"closed\",\"reason\":\"shutdown\",\"alerted\":false},"
	"\"tcp\":{\"tcp_flags\":\"1f\",\"tcp_flags_ts\":\"1f\",\"tcp_flags_tc\":\"1b\",\"syn\":"
	"true,"
	"\"fin\":true,\"rst\":true,\"psh\":true,\"ack\":true,\"state\":\"closed\"}}\r\n";

static const char sur_icmp[] =
	"{\"timestamp\":\"2023-09-12T10:15:11.554201+0000\",\"flow_id\":675544932801423,"
	"\"in_iface\":\"eth0\",\"event_type\":\"flow\",\"src_ip\":\"10.16.1.11\","
	"\"dest_ip\":\"8.8.8.8\",\"proto\":\"ICMP\",\"icmp_type\":8,\"icmp_code\":0,"
	"\"response_icmp_type\":0,\"response_icmp_code\":0,\"flow\":{\"pkts_toserver\":4,"
	"\"pkts_toclient\":4,\"bytes_toserver\":392,\"bytes_toclient\":392,"
	"\"start\":\"2023-09-12T10:14:08.501337+0000\",\"end\":\"2023-09-12T10:14:11.504228+0000\","
	"\"age\":3,\"state\":\"established\",\"reason\":\"timeout\",\"alerted\":false}}";

static const char sur_icmp6[] =
	"{\"timestamp\":\"2023-09-12T10:15:11.554201+0000\",\"flow_id\":3,"
	"\"event_type\":\"flow\",\"src_ip\":\"fe80:0000:0000:0000:0202:b3ff:fe1e:8329\","
	"\"dest_ip\":\"ff02:0000:0000:0000:0000:0000:0000:0001\",\"proto\":\"IPv6-ICMP\","
	"\"icmp_type\":135,\"icmp_code\":0,\"flow\":{\"pkts_toserver\":1,\"pkts_toclient\":0,"
	"\"bytes_toserver\":86,\"bytes_toclient\":0,\"start\":\"2023-09-12T10:14:08.501337+0000\","
	"\"end\":\"2023-09-12T10:14:08.501337+0000\",\"age\":0,\"state\":\"new\","
	"\"reason\":\"timeout\",\"alerted\":false}}";

static const char *const sur_others[][2] = {
	{"alert",
	 "{\"timestamp\":\"2023-09-12T12:12:14.462385+0200\",\"flow_id\":1176185597497618,"
	 "\"in_iface\":\"eth0\",\"event_type\":\"alert\",\"src_ip\":\"10.16.1.11\","
	 "\"src_port\":49214,\"dest_ip\":\"93.184.216.34\",\"dest_port\":80,\"proto\":\"TCP\","
	 "\"pkt_src\":\"wire/pcap\",\"tx_id\":0,\"alert\":{\"action\":\"allowed\",\"gid\":1,"
	 "\"signature_id\":2013028,\"rev\":7,\"signature\":\"ET POLICY curl User-Agent "
	 "Outbound\",\"category\":\"Attempted Information Leak\",\"severity\":2,"
	 "\"metadata\":{\"created_at\":[\"2011_06_14\"],\"updated_at\":[\"2022_05_03\"]}},"
	 "\"http\":{\"hostname\":\"example.com\",\"url\":\"/\",\"http_user_agent\":"
	 "\"curl/7.88.1\",\"http_content_type\":\"text/html\",\"http_method\":\"GET\","
	 "\"protocol\":\"HTTP/1.1\",\"status\":200,\"length\":1256},\"app_proto\":\"http\","
	 "\"direction\":\"to_server\",\"flow\":{\"pkts_toserver\":4,\"pkts_toclient\":3,"
	 "\"bytes_toserver\":373,\"bytes_toclient\":1766,"
	 "\"start\":\"2023-09-12T12:12:14.347129+0200\",\"src_ip\":\"10.16.1.11\","
	 "\"dest_ip\":\"93.184.216.34\",\"src_port\":49214,\"dest_port\":80}}"},
	{"dns",
	 "{\"timestamp\":\"2023-09-12T12:12:13.118722+0200\",\"flow_id\":1530285404563498,"
	 "\"in_iface\":\"eth0\",\"event_type\":\"dns\",\"src_ip\":\"10.16.1.1\",\"src_port\":53,"
	 "\"dest_ip\":\"10.16.1.11\",\"dest_port\":53226,\"proto\":\"UDP\",\"pkt_src\":"
	 "\"wire/pcap\",\"dns\":{\"version\":2,\"type\":\"answer\",\"id\":40385,\"flags\":"
	 "\"8180\",\"qr\":true,\"rd\":true,\"ra\":true,\"opcode\":0,\"rrname\":\"example.com\","
	 "\"rrtype\":\"A\",\"rcode\":\"NOERROR\",\"answers\":[{\"rrname\":\"example.com\","
	 "\"rrtype\":\"A\",\"ttl\":3600,\"rdata\":\"93.184.216.34\"}],\"grouped\":{\"A\":"
	 "[\"93.184.216.34\"]}}}"},
	{"tls",
	 "{\"timestamp\":\"2023-09-12T12:13:01.301944+0200\",\"flow_id\":2008337310592718,"
	 "\"in_iface\":\"eth0\",\"event_type\":\"tls\",\"src_ip\":\"10.16.1.11\","
	 "\"src_port\":51812,\"dest_ip\":\"142.250.74.110\",\"dest_port\":443,\"proto\":\"TCP\","
	 "\"pkt_src\":\"wire/pcap\",\"tls\":{\"subject\":\"CN=*.google.com\",\"issuerdn\":"
	 "\"C=US, O=Google Trust Services LLC, CN=GTS CA 1C3\",\"serial\":\"6C:2E:1F:0A\","
	 "\"fingerprint\":\"3c:9e:17:70:d6:02\",\"sni\":\"www.google.com\",\"version\":"
	 "\"TLS 1.2\",\"notbefore\":\"2023-08-21T08:25:48\",\"notafter\":"
	 "\"2023-11-13T08:25:47\",\"ja3\":{\"hash\":\"cd08e31494f9531f560d64c695473da9\","
	 "\"string\":\"771,4865-4866,0-23,29-23-24,0\"},\"ja3s\":{\"hash\":"
	 "\"f4febc55ea12b31ae17cfb7e614afda8\",\"string\":\"771,49199,65281-0-11-35-16\"}}}"},
	{"http",
	 "{\"timestamp\":\"2023-09-12T12:12:14.462385+0200\",\"flow_id\":1176185597497618,"
	 "\"in_iface\":\"eth0\",\"event_type\":\"http\",\"src_ip\":\"10.16.1.11\","
	 "\"src_port\":49214,\"dest_ip\":\"93.184.216.34\",\"dest_port\":80,\"proto\":\"TCP\","
	 "\"pkt_src\":\"wire/pcap\",\"tx_id\":0,\"http\":{\"hostname\":\"example.com\","
	 "\"url\":\"/index.html\",\"http_user_agent\":\"Mozilla/5.0 (X11; Linux x86_64)\","
	 "\"http_content_type\":\"text/html\",\"http_method\":\"GET\",\"protocol\":"
	 "\"HTTP/1.1\",\"status\":200,\"length\":1256}}"},
};

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

/* Microseconds of a UTC time, from libc. */
static uint64_t
utc_us(int y, int mo, int d, int h, int mi, int s, unsigned us)
{
	struct tm tm = {.tm_year = y - 1900,
			.tm_mon = mo - 1,
			.tm_mday = d,
			.tm_hour = h,
			.tm_min = mi,
			.tm_sec = s};

	return (uint64_t)timegm(&tm) * 1000000u + us;
}

static void
addr(int af, const char *text, uint8_t out[16])
{
	memset(out, 0, 16);
	assert_int_equal(inet_pton(af, text, out), 1);
}

static enum eve_in_result
parse_str(struct eve_in *in, const char *line, struct flow_record *r)
{
	return eve_in_parse(in, line, strlen(line), r);
}

/* Parse line, expect refusal with e; checks the counter moved by one. */
static void
expect_refused(struct eve_in *in, const char *line, size_t len, enum eve_in_error e,
	       const char *field)
{
	struct flow_record r;
	uint64_t before = eve_in_stats(in)->errors[e];
	enum eve_in_result res = eve_in_parse(in, line, len, &r);

	if (res != EVE_IN_REFUSED || eve_in_last_error(in) != e)
		print_error("line %.200s: result %d error %s (%s), want %s\n", line, res,
			    eve_in_error_name(eve_in_last_error(in)), eve_in_last_field(in),
			    eve_in_error_name(e));
	assert_int_equal(res, EVE_IN_REFUSED);
	assert_int_equal(eve_in_last_error(in), e);
	assert_int_equal(eve_in_stats(in)->errors[e], before + 1);
	if (field != NULL)
		assert_string_equal(eve_in_last_field(in), field);
}

static void
expect_refused_str(struct eve_in *in, const char *line, enum eve_in_error e, const char *field)
{
	expect_refused(in, line, strlen(line), e, field);
}

/* sur_udp4 with the first occurrence of from replaced by to. */
static char *
edit(const char *base, const char *from, const char *to)
{
	const char *at = strstr(base, from);
	size_t n = strlen(base) + strlen(to) + 1;
	char *out = malloc(n);

	assert_non_null(at);
	assert_non_null(out);
	snprintf(out, n, "%.*s%s%s", (int)(at - base), base, to, at + strlen(from));
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

static int
setup(void **state)
{
	*state = eve_in_new(NULL);
	return *state == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	eve_in_free(*state);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Suricata's flows                                                    */
/* ------------------------------------------------------------------ */

static void
test_suricata_tcp4(void **state)
{
	struct eve_in *in = *state;
	struct flow_record r;
	uint8_t a[16];

	assert_int_equal(parse_str(in, sur_tcp4, &r), EVE_IN_FLOW);
	assert_int_equal(r.flow_id, 1176185597497618ull);
	assert_int_equal(r.start_us, utc_us(2023, 9, 12, 10, 12, 14, 347129));
	assert_int_equal(r.end_us, utc_us(2023, 9, 12, 10, 12, 14, 462385));
	assert_int_equal(r.ip_version, 4);
	addr(AF_INET, "10.16.1.11", a);
	assert_memory_equal(r.src_ip, a, 16);
	addr(AF_INET, "93.184.216.34", a);
	assert_memory_equal(r.dst_ip, a, 16);
	assert_int_equal(r.src_port, 49214);
	assert_int_equal(r.dst_port, 80);
	assert_int_equal(r.proto, 6);
	assert_int_equal(r.pkts_toserver, 6);
	assert_int_equal(r.pkts_toclient, 4);
	assert_int_equal(r.bytes_toserver, 479);
	assert_int_equal(r.bytes_toclient, 1872);
	assert_int_equal(r.state, FLOW_RECORD_STATE_CLOSED);
	assert_int_equal(r.reason, FLOW_RECORD_REASON_TIMEOUT);
	assert_int_equal(r.tcp_flags_ts, 0x1b);
	assert_int_equal(r.tcp_flags_tc, 0x1a);
	assert_int_equal(r.tcp_state, FLOW_RECORD_TCP_CLOSED);
	assert_string_equal(r.app.name, "http");
	assert_int_equal(r.app.how, APPID_HOW_DPI);
	assert_int_equal(r.vlan[0], 0);
	assert_int_equal(eve_in_stats(in)->flows, 1);
}

static void
test_suricata_udp_vlan_ipv6(void **state)
{
	struct eve_in *in = *state;
	struct flow_record r;
	uint8_t a[16];

	assert_int_equal(parse_str(in, sur_udp4, &r), EVE_IN_FLOW);
	assert_int_equal(r.proto, 17);
	assert_int_equal(r.dst_port, 53);
	assert_int_equal(r.state, FLOW_RECORD_STATE_ESTABLISHED);
	assert_string_equal(r.app.name, "dns");
	assert_int_equal(r.tcp_flags_ts, 0);

	assert_int_equal(parse_str(in, sur_tcp6_vlan, &r), EVE_IN_FLOW);
	assert_int_equal(r.ip_version, 6);
	addr(AF_INET6, "2001:db8::11", a);
	assert_memory_equal(r.src_ip, a, 16);
	addr(AF_INET6, "2a00:1450:4001:829::200e", a);
	assert_memory_equal(r.dst_ip, a, 16);
	assert_int_equal(r.vlan[0], 100); /* the first two of three */
	assert_int_equal(r.vlan[1], 200);
	assert_int_equal(r.start_us, utc_us(2023, 9, 12, 10, 13, 1, 230118)); /* -0400 */
	assert_int_equal(r.reason, FLOW_RECORD_REASON_SHUTDOWN);
	assert_int_equal(r.tcp_flags_ts, 0x1f);
	assert_int_equal(r.tcp_flags_tc, 0x1b);
}

static void
test_suricata_icmp(void **state)
{
	struct eve_in *in = *state;
	struct flow_record r;

	assert_int_equal(parse_str(in, sur_icmp, &r), EVE_IN_FLOW);
	assert_int_equal(r.proto, 1);
	assert_int_equal(r.icmp_type, 8);
	assert_int_equal(r.icmp_code, 0);
	assert_int_equal(r.flags & FLOW_RECORD_F_ICMP_RESP, FLOW_RECORD_F_ICMP_RESP);
	assert_int_equal(r.src_port, 0);
	assert_int_equal(r.app.how, APPID_HOW_NONE);

	assert_int_equal(parse_str(in, sur_icmp6, &r), EVE_IN_FLOW);
	assert_int_equal(r.proto, 58);
	assert_int_equal(r.ip_version, 6);
	assert_int_equal(r.icmp_type, 135);
	assert_int_equal(r.flags & FLOW_RECORD_F_ICMP_RESP, 0);
	assert_int_equal(r.state, FLOW_RECORD_STATE_NEW);
}

/* Textual forms: compressed IPv6, IPv4-mapped, numeric proto, offsets. */
static void
test_forms(void **state)
{
	struct eve_in *in = *state;
	struct flow_record r;
	uint8_t a[16];
	static const struct {
		const char *text;
		uint64_t us;
	} times[] = {
		{"2009-11-24T21:27:09.534255+0000", 1259098029534255ull},
		{"2009-11-24T21:27:09.534255Z", 1259098029534255ull},
		{"2009-11-24T22:27:09.534255+01:00", 1259098029534255ull},
		{"2009-11-24T16:27:09.534255-0500", 1259098029534255ull},
		{"2009-11-25T02:57:09.534255+0530", 1259098029534255ull},
		{"2009-11-24T21:27:09.5+0000", 1259098029500000ull},
		{"2009-11-24T21:27:09.534255999+0000", 1259098029534255ull},
		{"2009-11-24T21:27:09+0000", 1259098029000000ull},
		{"2000-02-29T00:00:00.000000+0000", 951782400000000ull},
		{"1970-01-01T00:00:00.000000+0000", 0},
	};
	char *l;

	char *l0 = edit(sur_udp4, "\"10.16.1.11\"", "\"::ffff:10.16.1.11\"");

	l = edit(l0, "\"10.16.1.1\"", "\"2001:DB8::1\"");
	free(l0);
	assert_int_equal(parse_str(in, l, &r), EVE_IN_FLOW);
	assert_int_equal(r.ip_version, 6);
	addr(AF_INET6, "::ffff:10.16.1.11", a);
	assert_memory_equal(r.src_ip, a, 16);
	free(l);
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		char to[64];

		snprintf(to, sizeof(to), "\"end\":\"%s\"", times[i].text);
		l = edit(sur_udp4, "\"end\":\"2023-09-12T12:12:13.118722+0200\"", to);
		assert_int_equal(parse_str(in, l, &r), EVE_IN_FLOW);
		assert_int_equal(r.end_us, times[i].us);
		free(l);
	}
	l = edit(sur_udp4, "\"proto\":\"UDP\"", "\"proto\":17");
	assert_int_equal(parse_str(in, l, &r), EVE_IN_FLOW);
	assert_int_equal(r.proto, 17);
	free(l);
	l = edit(sur_icmp, "\"proto\":\"ICMP\"", "\"proto\":\"253\"");
	assert_int_equal(parse_str(in, l, &r), EVE_IN_FLOW);
	assert_int_equal(r.proto, 253);
	free(l);
	l = edit(sur_icmp, "\"proto\":\"ICMP\"", "\"proto\":\"gre\"");
	assert_int_equal(parse_str(in, l, &r), EVE_IN_FLOW);
	assert_int_equal(r.proto, 47);
	free(l);
	/* escapes in keys and values are decoded */
	l = edit(sur_udp4, "\"app_proto\":\"dns\"", "\"app_\\u0070roto\":\"d\\u006es\"");
	assert_int_equal(parse_str(in, l, &r), EVE_IN_FLOW);
	assert_string_equal(r.app.name, "dns");
	free(l);
}

/* app_proto longer than the record's field: cut on a character boundary, counted. */
static void
test_app_truncated(void **state)
{
	struct eve_in *in = *state;
	struct flow_record r;
	char *l;

	/* 19 ASCII bytes then "é" (2 bytes): the cut must not split it */
	l = edit(sur_udp4, "\"app_proto\":\"dns\"",
		 "\"app_proto\":\"abcdefghijklmnopqrs\xc3\xa9xyz\"");
	assert_int_equal(parse_str(in, l, &r), EVE_IN_FLOW);
	assert_string_equal(r.app.name, "abcdefghijklmnopqrs");
	assert_int_equal(eve_in_stats(in)->app_truncated, 1);
	free(l);
	l = edit(sur_udp4, "\"app_proto\":\"dns\"", "\"app_proto\":\"failed\"");
	assert_int_equal(parse_str(in, l, &r), EVE_IN_FLOW);
	assert_int_equal(r.app.how, APPID_HOW_UNKNOWN);
	free(l);
}

/* ------------------------------------------------------------------ */
/* Other event types                                                   */
/* ------------------------------------------------------------------ */

static void
test_others(void **state)
{
	struct eve_in *in = *state;
	struct flow_record r;

	for (size_t i = 0; i < sizeof(sur_others) / sizeof(sur_others[0]); i++) {
		json_t *d;

		assert_int_equal(parse_str(in, sur_others[i][1], &r), EVE_IN_OTHER);
		assert_string_equal(eve_in_type(in), sur_others[i][0]);
		d = eve_in_doc(in);
		assert_non_null(d);
		assert_ptr_equal(eve_in_doc(in), d); /* built once */
		assert_string_equal(json_string_value(json_object_get(d, "event_type")),
				    sur_others[i][0]);
		assert_non_null(json_object_get(d, sur_others[i][0]));
	}
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(eve_in_doc(in), "http"), "url")),
		"/index.html");
	assert_int_equal(eve_in_stats(in)->others, 4);
	assert_int_equal(eve_in_stats(in)->docs, 4);
	/* a flow line has no document and no type */
	assert_int_equal(parse_str(in, sur_icmp, &r), EVE_IN_FLOW);
	assert_null(eve_in_doc(in));
	assert_string_equal(eve_in_type(in), "");
}

/* ------------------------------------------------------------------ */
/* Round trip through eve_format_flow                                  */
/* ------------------------------------------------------------------ */

static const char *const app_names[] = {"http", "tls", "dns", "quic", "bittorrent", ""};
static const char *const cat_names[] = {"web", "media", "network", ""};

static void
random_record(struct rng *g, struct flow_record *r)
{
	static const uint8_t protos[] = {6, 17, 1, 58, 132, 47, 50, 253};
	uint64_t x = rng_next(g);

	memset(r, 0, sizeof(*r));
	r->flow_id = (x & 3) == 0 ? UINT64_MAX - (x >> 40) : x >> (x & 63);
	r->start_us = rng_next(g) % 4102444800000000ull; /* before 2100 */
	r->end_us = r->start_us + rng_next(g) % 86400000000ull;
	r->pkts_toserver = rng_next(g) >> (rng_next(g) & 63);
	r->pkts_toclient = rng_next(g) >> (rng_next(g) & 63);
	r->bytes_toserver = rng_next(g) >> (rng_next(g) & 63);
	r->bytes_toclient = rng_next(g) >> (rng_next(g) & 63);
	r->ip_version = (x >> 8 & 1) ? 6 : 4;
	for (int i = 0; i < (r->ip_version == 6 ? 16 : 4); i++) {
		r->src_ip[i] = (uint8_t)rng_next(g);
		r->dst_ip[i] = (uint8_t)rng_next(g);
	}
	r->proto = protos[rng_next(g) % sizeof(protos)];
	if (r->proto == 6 || r->proto == 17 || r->proto == 132) {
		r->src_port = (uint16_t)rng_next(g);
		r->dst_port = (uint16_t)rng_next(g);
	}
	if (x >> 9 & 1) {
		r->vlan[0] = (uint16_t)(rng_next(g) % 4095 + 1);
		if (x >> 10 & 1)
			r->vlan[1] = (uint16_t)(rng_next(g) % 4095 + 1);
	}
	r->lcore = (uint16_t)rng_next(g);
	r->state = (uint8_t)(rng_next(g) % 3);
	r->reason = (uint8_t)(rng_next(g) % 4);
	if (r->proto == 6) {
		r->tcp_flags_ts = (uint8_t)rng_next(g);
		r->tcp_flags_tc = (uint8_t)rng_next(g);
		r->tcp_state = (uint8_t)(rng_next(g) % 11);
	}
	if (r->proto == 1 || r->proto == 58) {
		r->icmp_type = (uint8_t)rng_next(g);
		r->icmp_code = (uint8_t)rng_next(g);
		if (x >> 11 & 1) {
			r->flags = FLOW_RECORD_F_ICMP_RESP;
			r->resp_icmp_type = (uint8_t)rng_next(g);
			r->resp_icmp_code = (uint8_t)rng_next(g);
		}
	}
	r->tunnel = (uint8_t)(rng_next(g) % 5);
	r->app.how = (uint8_t)(rng_next(g) % 4);
	if (r->app.how == APPID_HOW_DPI || r->app.how == APPID_HOW_GUESS) {
		snprintf(r->app.name, sizeof(r->app.name), "%s", app_names[rng_next(g) % 6]);
		snprintf(r->app.app, sizeof(r->app.app), "%s", app_names[rng_next(g) % 6]);
		snprintf(r->app.category, sizeof(r->app.category), "%s",
			 cat_names[rng_next(g) % 4]);
	} else if (r->app.how == APPID_HOW_UNKNOWN) {
		snprintf(r->app.name, sizeof(r->app.name), "failed"); /* what EVE keeps of it */
	}
}

static void
test_round_trip(void **state)
{
	struct eve_in *in = *state;
	struct rng g = {6};
	char buf[4096];

	for (int i = 0; i < 20000; i++) {
		struct flow_record r, back;
		size_t n;

		random_record(&g, &r);
		n = eve_format_flow(buf, sizeof(buf), &r, NULL);
		assert_true(n > 0);
		if (eve_in_parse(in, buf, n, &back) != EVE_IN_FLOW)
			fail_msg("%.*s: %s (%s)", (int)n, buf,
				 eve_in_error_name(eve_in_last_error(in)), eve_in_last_field(in));
		if (memcmp(&r, &back, sizeof(r)) != 0)
			fail_msg("record differs after %.*s", (int)n, buf);
	}
}

/* flow_id: every 64-bit value exactly, never through a double. */
static void
test_flow_id_exact(void **state)
{
	struct eve_in *in = *state;
	static const char *const ids[] = {"9007199254740993", "18446744073709551615",
					  "9223372036854775807", "9223372036854775808", "0"};
	static const uint64_t want[] = {9007199254740993ull, UINT64_MAX, 9223372036854775807ull,
					9223372036854775808ull, 0};

	for (size_t i = 0; i < 5; i++) {
		struct flow_record r;
		char to[64];
		char *l;

		snprintf(to, sizeof(to), "\"flow_id\":%s", ids[i]);
		l = edit(sur_udp4, "\"flow_id\":1530285404563498", to);
		assert_int_equal(parse_str(in, l, &r), EVE_IN_FLOW);
		assert_true(r.flow_id == want[i]);
		free(l);
	}
}

/* ------------------------------------------------------------------ */
/* Bad input                                                           */
/* ------------------------------------------------------------------ */

static void
refused_edit(struct eve_in *in, const char *from, const char *to, enum eve_in_error e,
	     const char *field)
{
	char *l = edit(sur_tcp4, from, to);

	expect_refused_str(in, l, e, field);
	free(l);
}

static void
test_nulls(void **state)
{
	struct eve_in *in = *state;
	struct flow_record r;
	char *l;

	refused_edit(in, "\"flow_id\":1176185597497618", "\"flow_id\":null", EVE_IN_ERR_NULL,
		     "flow_id");
	refused_edit(in, "\"src_ip\":\"10.16.1.11\"", "\"src_ip\":null", EVE_IN_ERR_NULL, "src_ip");
	refused_edit(in, "\"pkts_toserver\":6", "\"pkts_toserver\":null", EVE_IN_ERR_NULL,
		     "flow.pkts_toserver");
	refused_edit(in, "\"tcp_flags_ts\":\"1b\"", "\"tcp_flags_ts\":null", EVE_IN_ERR_NULL,
		     "tcp.tcp_flags_ts");
	refused_edit(in, "\"app_proto\":\"http\"", "\"app_proto\":null", EVE_IN_ERR_NULL,
		     "app_proto");
	refused_edit(in, "\"event_type\":\"flow\"", "\"event_type\":null", EVE_IN_ERR_NO_EVENT_TYPE,
		     "event_type");
	expect_refused_str(in, "null", EVE_IN_ERR_NOT_OBJECT, NULL);
	/* null where darter reads nothing is valid JSON: the event passes */
	l = edit(sur_tcp4, "\"in_iface\":\"eth0\"", "\"in_iface\":null");
	assert_int_equal(parse_str(in, l, &r), EVE_IN_FLOW);
	free(l);
	l = edit(sur_tcp4, "\"alerted\":true", "\"alerted\":null,\"x\":[null,{\"y\":null}]");
	assert_int_equal(parse_str(in, l, &r), EVE_IN_FLOW);
	free(l);
	/* and in another event type, even in fields a flow would need */
	l = edit(sur_others[1][1], "\"flow_id\":1530285404563498", "\"flow_id\":null");
	assert_int_equal(parse_str(in, l, &r), EVE_IN_OTHER);
	free(l);
}

static void
test_long_lines(void **state)
{
	struct eve_in *in = *state;
	struct eve_in_conf c = {.max_line = 32 * 1024};
	struct eve_in *small = eve_in_new(&c);
	size_t pad = 40 * 1024;
	char *l = malloc(pad + sizeof(sur_udp4) + 32);
	struct flow_record r;
	int n;

	assert_non_null(small);
	n = snprintf(l, 32, "{\"pad\":\"");
	memset(l + n, 'x', pad);
	snprintf(l + n + pad, sizeof(sur_udp4) + 32, "\",%s", sur_udp4 + 1);
	/* 40 KiB: over a 32 KiB limit, fine under the default 64 KiB */
	expect_refused_str(small, l, EVE_IN_ERR_TOO_LONG, NULL);
	assert_int_equal(parse_str(in, l, &r), EVE_IN_FLOW);
	assert_int_equal(r.flow_id, 1530285404563498ull);
	eve_in_free(small);
	free(l);
	c.max_line = 1;
	assert_null(eve_in_new(&c));
}

static void
test_utf8(void **state)
{
	struct eve_in *in = *state;
	static const char *const bad[] = {
		"\xff",
		"\xc0\xaf",
		"\xed\xa0\x80", /* surrogate */
		"\xf4\x90\x80\x80",
		/* > U+10FFFF */ "\xe2\x82",
		"\x80",
		"\\ud800",
		"\\udc00",
		"\\ud800\\u0041",
	};
	static const char *const good[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
					   "\\ud83d\\ude00", "\\u0000"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char to[64];

		snprintf(to, sizeof(to), "\"in_iface\":\"eth%s0\"", bad[i]);
		refused_edit(in, "\"in_iface\":\"eth0\"", to, EVE_IN_ERR_UTF8, NULL);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct flow_record r;
		char to[64];
		char *l;

		snprintf(to, sizeof(to), "\"in_iface\":\"eth%s0\"", good[i]);
		l = edit(sur_tcp4, "\"in_iface\":\"eth0\"", to);
		assert_int_equal(parse_str(in, l, &r), EVE_IN_FLOW);
		free(l);
	}
}

/* Every prefix of a valid line is truncated JSON. */
static void
test_truncated(void **state)
{
	struct eve_in *in = *state;
	const char *lines[] = {sur_tcp4, sur_tcp6_vlan, sur_icmp, sur_others[0][1]};

	for (size_t k = 0; k < 4; k++) {
		size_t len = strlen(lines[k]);

		while (len > 0 && (lines[k][len - 1] == '\n' || lines[k][len - 1] == '\r'))
			len--;
		expect_refused(in, lines[k], 0, EVE_IN_ERR_EMPTY, NULL);
		for (size_t n = 1; n < len; n++)
			expect_refused(in, lines[k], n, EVE_IN_ERR_TRUNCATED, NULL);
	}
}

static void
test_junk(void **state)
{
	struct eve_in *in = *state;
	static const char bin[] = "\x00\x01\x02\xff\xfe{\"a\"";
	struct rng g = {42};
	char buf[512];

	expect_refused(in, bin, sizeof(bin) - 1, EVE_IN_ERR_SYNTAX, NULL);
	expect_refused_str(in, "   \t\r\n", EVE_IN_ERR_EMPTY, NULL);
	expect_refused_str(in, "[1,2]", EVE_IN_ERR_NOT_OBJECT, NULL);
	expect_refused_str(in, "\"flow\"", EVE_IN_ERR_NOT_OBJECT, NULL);
	expect_refused_str(in, "{\"event_type\":\"flow\"} {}", EVE_IN_ERR_SYNTAX, NULL);
	expect_refused_str(in, "{\"event_type\":\"dns\",}", EVE_IN_ERR_SYNTAX, NULL);
	expect_refused_str(in, "{\"event_type\":\"dns\",\"a\":01}", EVE_IN_ERR_SYNTAX, NULL);
	expect_refused_str(in, "{\"event_type\":\"dns\",\"a\":\"\\x\"}", EVE_IN_ERR_SYNTAX, NULL);
	expect_refused_str(in, "{\"event_type\":\"dns\",\"a\":\"tab\there\"}", EVE_IN_ERR_SYNTAX,
			   NULL);
	expect_refused_str(in, "{\"event_type\":\"dns\",\"a\":tru}", EVE_IN_ERR_SYNTAX, NULL);
	expect_refused_str(in, "{\"a\":1}", EVE_IN_ERR_NO_EVENT_TYPE, "event_type");
	expect_refused_str(in, "{\"event_type\":\"\"}", EVE_IN_ERR_NO_EVENT_TYPE, "event_type");
	expect_refused_str(in, "{\"event_type\":7}", EVE_IN_ERR_NO_EVENT_TYPE, "event_type");
	for (int i = 0; i < 20000; i++) {
		struct flow_record r;
		size_t n = rng_next(&g) % sizeof(buf);

		for (size_t j = 0; j < n; j++)
			buf[j] = (char)rng_next(&g);
		assert_int_equal(eve_in_parse(in, buf, n, &r), EVE_IN_REFUSED);
	}
}

static void
test_depth(void **state)
{
	struct eve_in *in = *state;
	char line[256];
	int n = snprintf(line, sizeof(line), "{\"event_type\":\"dns\",\"a\":");

	for (int i = 0; i < 40; i++)
		line[n++] = '[';
	for (int i = 0; i < 40; i++)
		line[n++] = ']';
	line[n++] = '}';
	expect_refused(in, line, (size_t)n, EVE_IN_ERR_DEPTH, NULL);
}

static void
test_wrong_values(void **state)
{
	struct eve_in *in = *state;

	refused_edit(in, "\"flow_id\":1176185597497618", "\"flow_id\":\"1176185597497618\"",
		     EVE_IN_ERR_TYPE, "flow_id");
	refused_edit(in, "\"flow_id\":1176185597497618", "\"flow_id\":1.0", EVE_IN_ERR_TYPE,
		     "flow_id");
	refused_edit(in, "\"flow_id\":1176185597497618", "\"flow_id\":1e3", EVE_IN_ERR_TYPE,
		     "flow_id");
	refused_edit(in, "\"flow_id\":1176185597497618", "\"flow_id\":18446744073709551616",
		     EVE_IN_ERR_RANGE, "flow_id");
	refused_edit(in, "\"pkts_toclient\":4", "\"pkts_toclient\":-4", EVE_IN_ERR_RANGE,
		     "flow.pkts_toclient");
	refused_edit(in, "\"bytes_toserver\":479",
		     "\"bytes_toserver\":99999999999999999999999999999999", EVE_IN_ERR_RANGE,
		     "flow.bytes_toserver");
	refused_edit(in, "\"src_port\":49214", "\"src_port\":65536", EVE_IN_ERR_RANGE, "src_port");
	refused_edit(in, "\"flow\":{", "\"flow\":[1],\"x\":{", EVE_IN_ERR_TYPE, "flow");
	refused_edit(in, "\"src_ip\":\"10.16.1.11\"", "\"src_ip\":\"300.16.1.11\"", EVE_IN_ERR_ADDR,
		     "src_ip");
	refused_edit(in, "\"src_ip\":\"10.16.1.11\"", "\"src_ip\":\"::1\"", EVE_IN_ERR_ADDR,
		     "dest_ip");
	refused_edit(in, "\"proto\":\"TCP\"", "\"proto\":\"TCPX\"", EVE_IN_ERR_VALUE, "proto");
	refused_edit(in, "\"proto\":\"TCP\"", "\"proto\":256", EVE_IN_ERR_RANGE, "proto");
	refused_edit(in, "\"state\":\"closed\",\"reason\"", "\"state\":\"weird\",\"reason\"",
		     EVE_IN_ERR_VALUE, "flow.state");
	refused_edit(in, "\"tcp_flags_ts\":\"1b\"", "\"tcp_flags_ts\":\"zz\"", EVE_IN_ERR_VALUE,
		     "tcp.tcp_flags_ts");
	refused_edit(in, "\"tcp_flags_ts\":\"1b\"", "\"tcp_flags_ts\":\"1bb\"", EVE_IN_ERR_VALUE,
		     "tcp.tcp_flags_ts");
	refused_edit(in, "\"start\":\"2023-09-12T12:12:14.347129+0200\"",
		     "\"start\":\"2023-02-29T12:12:14.347129+0200\"", EVE_IN_ERR_TIME,
		     "flow.start");
	refused_edit(in, "\"start\":\"2023-09-12T12:12:14.347129+0200\"",
		     "\"start\":\"1970-01-01T00:59:59.000000+0100\"", EVE_IN_ERR_TIME,
		     "flow.start");
	refused_edit(in, "\"start\":\"2023-09-12T12:12:14.347129+0200\"",
		     "\"start\":\"2023-09-12 garbage\"", EVE_IN_ERR_TIME, "flow.start");
	refused_edit(in, "\"start\":\"2023-09-12T12:12:14.347129+0200\"", "\"start\":17",
		     EVE_IN_ERR_TYPE, "flow.start");
}

static void
test_missing(void **state)
{
	struct eve_in *in = *state;
	struct flow_record r;
	char *l;

	refused_edit(in, "\"src_ip\":\"10.16.1.11\",", "", EVE_IN_ERR_MISSING, "src_ip");
	refused_edit(in, "\"flow_id\":1176185597497618,", "", EVE_IN_ERR_MISSING, "flow_id");
	refused_edit(in, "\"src_port\":49214,", "", EVE_IN_ERR_MISSING, "src_port");
	refused_edit(in, ",\"end\":\"2023-09-12T12:12:14.462385+0200\"", "", EVE_IN_ERR_MISSING,
		     "flow.end");
	refused_edit(in, "\"proto\":\"TCP\",", "", EVE_IN_ERR_MISSING, "proto");
	/* the tcp object, app_proto, timestamp and vlan are optional */
	char *l0 = edit(sur_udp4, "\"app_proto\":\"dns\",", "");

	l = edit(l0, "\"timestamp\":\"2023-09-12T12:13:05.101823+0200\",", "");
	free(l0);
	assert_int_equal(parse_str(in, l, &r), EVE_IN_FLOW);
	assert_int_equal(r.app.how, APPID_HOW_NONE);
	free(l);
}

/* The counters add up; every reason has its own name. */
static void
test_stats_names(void **state)
{
	struct eve_in *in = *state;
	const struct eve_in_stats *st;
	struct flow_record r;
	uint64_t sum = 0;

	parse_str(in, sur_tcp4, &r);
	parse_str(in, sur_others[0][1], &r);
	parse_str(in, "{", &r);
	parse_str(in, "", &r);
	st = eve_in_stats(in);
	for (int e = 0; e < EVE_IN_ERR__COUNT; e++)
		sum += st->errors[e];
	assert_int_equal(st->errors[EVE_IN_OK], 0);
	assert_int_equal(sum, st->refused);
	assert_int_equal(st->lines, st->flows + st->others + st->refused);
	assert_int_equal(st->refused, 2);
	for (int e = 0; e < EVE_IN_ERR__COUNT; e++) {
		assert_non_null(eve_in_error_name(e));
		for (int f = 0; f < e; f++)
			assert_string_not_equal(eve_in_error_name(e), eve_in_error_name(f));
	}
	assert_string_equal(eve_in_error_name(EVE_IN_ERR__COUNT), "unknown");
}

/* ------------------------------------------------------------------ */
/* Mutation fuzz, against jansson                                      */
/* ------------------------------------------------------------------ */

static size_t
mutate(struct rng *g, char *buf, size_t n, size_t cap)
{
	static const char tokens[][8] = {"null", "\"", "\\",  "{",   "}",    "[",    "]", ",",
					 ":",	 "-1", "1e9", "\\u", "\xc3", "\xff", " ", "0"};
	int k = (int)(rng_next(g) % 4) + 1;

	while (k-- > 0 && n > 0) {
		size_t at = rng_next(g) % n;

		switch (rng_next(g) % 5) {
		case 0: /* flip a byte */
			buf[at] = (char)rng_next(g);
			break;
		case 1: /* delete a span */
		{
			size_t len = rng_next(g) % 8 + 1;

			if (at + len > n)
				len = n - at;
			memmove(buf + at, buf + at + len, n - at - len);
			n -= len;
			break;
		}
		case 2: /* insert a token */
		{
			const char *t = tokens[rng_next(g) % 16];
			size_t len = strlen(t);

			if (n + len > cap)
				break;
			memmove(buf + at + len, buf + at, n - at);
			memcpy(buf + at, t, len);
			n += len;
			break;
		}
		case 3: /* truncate */
			n = at;
			break;
		default: /* swap a digit */
			if (buf[at] >= '0' && buf[at] <= '9')
				buf[at] = (char)('0' + rng_next(g) % 10);
			break;
		}
	}
	return n;
}

static void
test_fuzz(void **state)
{
	struct eve_in *in = *state;
	const char *seeds[] = {sur_tcp4,	 sur_udp4,	   sur_tcp6_vlan,
			       sur_icmp,	 sur_icmp6,	   sur_others[0][1],
			       sur_others[1][1], sur_others[2][1], sur_others[3][1]};
	const int iterations = 200000;
	struct rng g = {7};
	char buf[4096];
	uint64_t seen[3] = {0};

	for (int i = 0; i < iterations; i++) {
		const char *s = seeds[rng_next(&g) % 9];
		size_t n = strlen(s);
		struct flow_record r;
		enum eve_in_result res;
		json_error_t jerr;
		json_t *j;

		memcpy(buf, s, n);
		n = mutate(&g, buf, n, sizeof(buf));
		res = eve_in_parse(in, buf, n, &r);
		assert_true(res <= EVE_IN_OTHER);
		seen[res]++;
		if (res == EVE_IN_OTHER)
			eve_in_doc(in); /* must not crash either */
		j = json_loadb(buf, n, JSON_ALLOW_NUL, &jerr);
		if (res != EVE_IN_REFUSED && j == NULL && strstr(jerr.text, "too big") == NULL &&
		    strstr(jerr.text, "overflow") == NULL) /* numbers beyond jansson's types */
			fail_msg("taken, jansson says %s: %.*s", jerr.text, (int)n, buf);
		/* jansson 2.14 silently skips raw NUL bytes: no reference for those lines */
		if (j != NULL && json_is_object(j) && res == EVE_IN_REFUSED &&
		    memchr(buf, '\0', n) == NULL) {
			enum eve_in_error e = eve_in_last_error(in);

			if (e == EVE_IN_ERR_SYNTAX || e == EVE_IN_ERR_TRUNCATED ||
			    e == EVE_IN_ERR_UTF8 || e == EVE_IN_ERR_EMPTY)
				fail_msg("jansson takes it, refused as %s: %.*s",
					 eve_in_error_name(e), (int)n, buf);
		}
		json_decref(j);
	}
	print_message("# fuzz: %d lines: %llu refused, %llu flows, %llu others\n", iterations,
		      (unsigned long long)seen[0], (unsigned long long)seen[1],
		      (unsigned long long)seen[2]);
	assert_true(seen[0] > 0 && seen[1] > 0 && seen[2] > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_suricata_tcp4, setup, teardown),
		cmocka_unit_test_setup_teardown(test_suricata_udp_vlan_ipv6, setup, teardown),
		cmocka_unit_test_setup_teardown(test_suricata_icmp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_app_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_others, setup, teardown),
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flow_id_exact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nulls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_utf8, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_junk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_depth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stats_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fuzz, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
