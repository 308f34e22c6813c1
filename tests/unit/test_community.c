/*
 * test_community.c: Community ID v1 through community_id() only.
 *
 * Expected ids come from two independent implementations, never from
 * this one:
 *  - the spec's reference data, corelight/community-id-spec
 *    baseline/README.md (tables made with pycommunityid) and
 *    baseline/baseline_deflt.json (pycommunityid over the spec's
 *    pcaps/combined.pcap.gz; its ICMP "ports" are already mapped, so the
 *    rows below give the type, and the code of one-way types);
 *  - Wireshark 4.0.17's Community ID post-dissector over darter's own
 *    captures, tests/data/pcap (file#frame in each row), run as
 *      tshark --enable-protocol communityid -o communityid.seed:N -r F
 *        -T fields -e communityid ...
 *    Tunnelled frames are absent: tshark hashes the innermost IP layer,
 *    except the ICMPv6 rows from teredo.pcap and 6in4tunnel.pcap, which
 *    give that inner layer's tuple.
 * Then properties the spec states: direction does not matter (except
 * one-way ICMP), seed changes the id, IPv4 uses 4 address bytes only,
 * port-less protocols ignore ports.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "community.h"

#define ICMP  1
#define IGMP  2
#define TCP   6
#define UDP   17
#define ESP   50
#define RSVP  46
#define GRE   47
#define ICMP6 58
#define SCTP  132

/* ------------------------------------------------------------------ */
/* Vectors                                                            */
/* ------------------------------------------------------------------ */

/* rows: {seed, proto, src, dst, sport, dport, type, code, want} */
struct vec {
	uint16_t seed;
	uint8_t proto;
	const char *src, *dst; /* the version follows from the text */
	uint16_t sport, dport; /* TCP, UDP, SCTP */
	uint8_t type, code;    /* ICMP, ICMPv6: the first packet's */
	const char *want;
};

#define V6A "fe80:0001:0203:0405:0607:0809:0A0B:0C0D"
#define V6B "fe80:1011:1213:1415:1617:1819:1A1B:1C1D"

/* community-id-spec baseline/README.md: "Default settings", "A custom
 * seed=1 value" */
static const struct vec spec_tables[] = {
	{0, TCP, "1.2.3.4", "5.6.7.8", 1122, 3344, 0, 0, "1:wCb3OG7yAFWelaUydu0D+125CLM="},
	{0, TCP, "5.6.7.8", "1.2.3.4", 3344, 1122, 0, 0, "1:wCb3OG7yAFWelaUydu0D+125CLM="},
	{0, UDP, "1.2.3.4", "5.6.7.8", 1122, 3344, 0, 0, "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg="},
	{0, UDP, "5.6.7.8", "1.2.3.4", 3344, 1122, 0, 0, "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg="},
	{0, SCTP, "1.2.3.4", "5.6.7.8", 1122, 3344, 0, 0, "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8="},
	{0, SCTP, "5.6.7.8", "1.2.3.4", 3344, 1122, 0, 0, "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8="},
	/* echo request, and a flow whose first packet is the reply */
	{0, ICMP, "1.2.3.4", "5.6.7.8", 0, 0, 8, 0, "1:crodRHL2FEsHjbv3UkRrfbs4bZ0="},
	{0, ICMP, "5.6.7.8", "1.2.3.4", 0, 0, 0, 0, "1:crodRHL2FEsHjbv3UkRrfbs4bZ0="},
	/* time exceeded: one-way */
	{0, ICMP, "1.2.3.4", "5.6.7.8", 0, 0, 11, 0, "1:f/YiSyWqczrTgfUCZlBUnvHRcPk="},
	{0, ICMP6, V6A, V6B, 0, 0, 128, 0, "1:0bf7hyMJUwt3fMED7z8LIfRpBeo="},
	{0, ICMP6, V6B, V6A, 0, 0, 129, 0, "1:0bf7hyMJUwt3fMED7z8LIfRpBeo="},
	/* 146: one-way (mobile prefix solicitation is not in v1's table) */
	{0, ICMP6, V6A, V6B, 0, 0, 146, 0, "1:fYC8+pz24E+EhANP1EZhpX0Dw10="},
	{0, RSVP, "1.2.3.4", "5.6.7.8", 0, 0, 0, 0, "1:ikv3kmf89luf73WPz1jOs49S768="},
	{0, RSVP, "5.6.7.8", "1.2.3.4", 0, 0, 0, 0, "1:ikv3kmf89luf73WPz1jOs49S768="},
	{0, RSVP, V6A, V6B, 0, 0, 0, 0, "1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0="},
	{0, RSVP, V6B, V6A, 0, 0, 0, 0, "1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0="},

	{1, TCP, "1.2.3.4", "5.6.7.8", 1122, 3344, 0, 0, "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk="},
	{1, TCP, "5.6.7.8", "1.2.3.4", 3344, 1122, 0, 0, "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk="},
	{1, UDP, "1.2.3.4", "5.6.7.8", 1122, 3344, 0, 0, "1:OShq+iKDAMVouh/4bMxB9Sz4amw="},
	{1, UDP, "5.6.7.8", "1.2.3.4", 3344, 1122, 0, 0, "1:OShq+iKDAMVouh/4bMxB9Sz4amw="},
	{1, SCTP, "1.2.3.4", "5.6.7.8", 1122, 3344, 0, 0, "1:uitchpn5MMGAQKBJh7bIr/bAr7s="},
	{1, SCTP, "5.6.7.8", "1.2.3.4", 3344, 1122, 0, 0, "1:uitchpn5MMGAQKBJh7bIr/bAr7s="},
	{1, ICMP, "1.2.3.4", "5.6.7.8", 0, 0, 8, 0, "1:9pr4ZGTICiuZoIh90RRYE2RyXpU="},
	{1, ICMP, "5.6.7.8", "1.2.3.4", 0, 0, 0, 0, "1:9pr4ZGTICiuZoIh90RRYE2RyXpU="},
	{1, ICMP, "1.2.3.4", "5.6.7.8", 0, 0, 11, 0, "1:1DD7cWGC/Yg91YGsQeni8du3pIA="},
	{1, ICMP6, V6A, V6B, 0, 0, 128, 0, "1:IO27GQzPuCtNnwFvjWALMHu5tJE="},
	{1, ICMP6, V6B, V6A, 0, 0, 129, 0, "1:IO27GQzPuCtNnwFvjWALMHu5tJE="},
	{1, ICMP6, V6A, V6B, 0, 0, 146, 0, "1:Cv4IKJe56BNkF0MBW2YxQ3Nwc3s="},
	{1, RSVP, "1.2.3.4", "5.6.7.8", 0, 0, 0, 0, "1:/buhqeOmaRCopOZFy9HnoJd5XW8="},
	{1, RSVP, "5.6.7.8", "1.2.3.4", 0, 0, 0, 0, "1:/buhqeOmaRCopOZFy9HnoJd5XW8="},
	{1, RSVP, V6A, V6B, 0, 0, 0, 0, "1:j6EyyfBzL4vWKHFXgUqb5Az3OxM="},
	{1, RSVP, V6B, V6A, 0, 0, 0, 0, "1:j6EyyfBzL4vWKHFXgUqb5Az3OxM="},
};

#define NS_A "fe80::200:86ff:fe05:80da"
#define NS_B "fe80::260:97ff:fe07:69ea"
#define KAME "3ffe:507:0:1:200:86ff:fe05:80da"

/* community-id-spec baseline/baseline_deflt.json, in file order */
static const struct vec spec_pcaps[] = {
	/* neighbor solicitation/advertisement, both ways round */
	{0, ICMP6, NS_A, NS_B, 0, 0, 135, 0, "1:dGHyGvjMfljg6Bppwm3bg0LO8TY="},
	{0, ICMP6, NS_B, NS_A, 0, 0, 136, 0, "1:dGHyGvjMfljg6Bppwm3bg0LO8TY="},
	{0, ICMP6, NS_B, NS_A, 0, 0, 135, 0, "1:zavyT/cezQr1fmImYCwYnMXbgck="},
	{0, ICMP6, NS_A, NS_B, 0, 0, 136, 0, "1:zavyT/cezQr1fmImYCwYnMXbgck="},
	/* time exceeded; unreachable code 4 (port): one-way, code hashed */
	{0, ICMP6, "3ffe:501:1800:2345::2", KAME, 0, 0, 3, 0, "1:2ObVBgIn28oZvibYZhZMBgh7WdQ="},
	{0, ICMP6, "3ffe:501:410:0:2c0:dfff:fe47:33e", KAME, 0, 0, 1, 4,
	 "1:hLZd0XGWojozrvxqE0dWB1iM6R0="},
	{0, ICMP6, KAME, "3ffe:501:0:1001::2", 0, 0, 128, 0, "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg="},
	{0, ICMP6, "3ffe:501:0:1001::2", KAME, 0, 0, 129, 0, "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg="},
	{0, ICMP6, NS_A, "ff02::2", 0, 0, 133, 0, "1:hO+sN4H+MG5MY/8hIrXPqc4ZQz0="},
	{0, ICMP6, NS_B, "ff02::1", 0, 0, 134, 0, "1:pkvHqCL88/tg1k4cPigmZXUtL00="},
	{0, ICMP, "192.168.0.89", "192.168.0.1", 0, 0, 8, 0, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="},
	{0, ICMP, "192.168.0.1", "192.168.0.89", 0, 0, 0, 0, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="},
	{0, ICMP, "10.0.0.1", "10.0.0.2", 0, 0, 11, 0, "1:YHxtAirCG//0OzkcVAukqKQN9xM="},
	{0, TCP, "2001:470:e5bf:dead:4957:2174:e82c:4887", "2607:f8b0:400c:c03::1a", 63943, 25, 0,
	 0, "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4="},
	{0, TCP, "2607:f8b0:400c:c03::1a", "2001:470:e5bf:dead:4957:2174:e82c:4887", 25, 63943, 0,
	 0, "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4="},
	{0, SCTP, "192.168.170.8", "192.168.170.56", 7, 7, 0, 0, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs="},
	{0, SCTP, "192.168.170.56", "192.168.170.8", 7, 7, 0, 0, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs="},
	{0, TCP, "128.232.110.120", "66.35.250.204", 34855, 80, 0, 0,
	 "1:LQU9qZlK+B5F3KDmev6m5PMibrg="},
	{0, TCP, "66.35.250.204", "128.232.110.120", 80, 34855, 0, 0,
	 "1:LQU9qZlK+B5F3KDmev6m5PMibrg="},
	{0, UDP, "192.168.1.52", "8.8.8.8", 54585, 53, 0, 0, "1:d/FP5EW3wiY1vCndhwleRRKHowQ="},
	{0, UDP, "8.8.8.8", "192.168.1.52", 53, 54585, 0, 0, "1:d/FP5EW3wiY1vCndhwleRRKHowQ="},
	{0, RSVP, "10.1.12.1", "10.1.12.2", 0, 0, 0, 0, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw="},
	{0, RSVP, "10.1.12.2", "10.1.12.1", 0, 0, 0, 0, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw="},
};

#define H6C "2a00:d40:1:3:7aac:c0ff:fea7:d4c"
#define H6S "2a00:1450:4006:804::200e"
#define TER "2001:0:c288:1c4c:20f3:359b:46f9:3f46"
#define T6C "2001:470:1f17:13f:3e97:eff:fe73:4dec"
#define T6S "2604:a880:1:20::224:b001"

/* tshark 4.0.17 over tests/data/pcap (see the top) */
static const struct vec tshark_pcaps[] = {
	/* ssh.pcap#1 */
	{0, TCP, "172.16.238.1", "172.16.238.168", 58395, 22, 0, 0,
	 "1:0DS0MyjYIXDiddU6z7bmf6d699A="},
	/* ssh.pcap#2 */
	{0, TCP, "172.16.238.168", "172.16.238.1", 22, 58395, 0, 0,
	 "1:0DS0MyjYIXDiddU6z7bmf6d699A="},
	/* dns.pcap#2 */
	{0, UDP, "192.168.170.8", "192.168.170.20", 32795, 53, 0, 0,
	 "1:PIDOtGFIHUsiDppmnIxS0PK/t7Y="},
	/* quic.pcap#1 */
	{0, UDP, "192.168.1.109", "216.58.212.101", 57833, 443, 0, 0,
	 "1:DEO0HpzKe6gUqOvW0OXzghO2FQE="},
	/* http_ipv6.pcap#1 */
	{0, TCP, H6C, H6S, 40526, 443, 0, 0, "1:3PAFI61AGBbn+KeSpUH+cRqBaSI="},
	/* http_ipv6.pcap#2 */
	{0, TCP, H6S, H6C, 443, 40526, 0, 0, "1:3PAFI61AGBbn+KeSpUH+cRqBaSI="},
	/* dns_fragmented.pcap#4 */
	{0, UDP, "2a00:1450:4013:c03::10a", "2001:470:765b::a25:53", 46433, 53, 0, 0,
	 "1:63iYoO3s312fXNtoldfXo71WGpA="},
	/* sctp.cap#1 */
	{0, SCTP, "10.28.6.43", "10.28.6.44", 16384, 2944, 0, 0, "1:MXX0xGhlFTg9LIa95QSVNd/KYD0="},
	/* sctp.cap#2 */
	{0, SCTP, "10.28.6.44", "10.28.6.43", 2944, 16384, 0, 0, "1:MXX0xGhlFTg9LIa95QSVNd/KYD0="},
	/* sctp.cap#3 */
	{0, SCTP, "10.28.6.42", "10.28.6.44", 2905, 2905, 0, 0, "1:WBSG0+wm951ttgzgfkvDBPV9uSE="},
	/* icmp-tunnel.pcap#3 */
	{0, ICMP, "192.168.154.131", "192.168.154.132", 0, 0, 8, 0,
	 "1:qq1OKSBwmaKdzDF45PeFma9fFgQ="},
	/* icmp-tunnel.pcap#18 */
	{0, ICMP, "192.168.154.132", "192.168.154.131", 0, 0, 0, 0,
	 "1:qq1OKSBwmaKdzDF45PeFma9fFgQ="},
	/* malformed_icmp.pcap#1: type 165 is unassigned, so one-way */
	{0, ICMP, "218.152.179.213", "218.152.179.54", 0, 0, 165, 0,
	 "1:rtRCutrlDsLAUYom8GroVg/mNWs="},
	/* teredo.pcap#1 */
	{0, ICMP6, "fe80::ffff:ffff:fffe", "ff02::2", 0, 0, 133, 0,
	 "1:sS1lBgu2apGdupk5uwuCfJHCQak="},
	/* teredo.pcap#2 */
	{0, ICMP6, "fe80::8000:f227:3d77:e3b3", "fe80::ffff:ffff:fffe", 0, 0, 134, 0,
	 "1:9xf/s+gjekkfnwuPdyJrHCXxyYY="},
	/* teredo.pcap#10 */
	{0, ICMP6, TER, "2002:c288:1c4c::c288:1c4c", 0, 0, 128, 0,
	 "1:BwZXoURsUNOcOZNy/im/8WRWd8U="},
	/* teredo.pcap#11 */
	{0, ICMP6, "2002:c288:1c4c::c288:1c4c", TER, 0, 0, 129, 0,
	 "1:BwZXoURsUNOcOZNy/im/8WRWd8U="},
	/* 6in4tunnel.pcap#1 */
	{0, ICMP6, T6C, T6S, 0, 0, 128, 0, "1:jp+utRV3Ih5rfuIuZ9JlpnqCPt8="},
	/* esp.pcapng#5 */
	{0, ESP, "10.2.3.2", "10.3.4.4", 0, 0, 0, 0, "1:II59YMWtDK1QubmANb10ewh1NFg="},
	/* esp.pcapng#6 */
	{0, ESP, "10.3.4.4", "10.2.3.2", 0, 0, 0, 0, "1:II59YMWtDK1QubmANb10ewh1NFg="},
	/* netflix.pcap#187 */
	{0, IGMP, "192.168.1.7", "239.255.255.250", 0, 0, 0, 0, "1:fn+sVeKgdjQLQDm6VzsuMPUkKFo="},

	/* -o communityid.seed:4242 */
	/* sctp.cap#1 */
	{4242, SCTP, "10.28.6.43", "10.28.6.44", 16384, 2944, 0, 0,
	 "1:YDVk7P3GF+HLBmscpvcHrkYsvS8="},
	/* dns.pcap#1 */
	{4242, UDP, "192.168.170.20", "192.168.170.8", 53, 32795, 0, 0,
	 "1:5yjXr2CcOcrNn2Fc9jGOr815/wY="},
	/* http_ipv6.pcap#1 */
	{4242, TCP, H6C, H6S, 40526, 443, 0, 0, "1:TRPXNQpyNTymTzbtFs6WJ7KmQow="},
	/* icmp-tunnel.pcap#18 */
	{4242, ICMP, "192.168.154.132", "192.168.154.131", 0, 0, 0, 0,
	 "1:YJSxc04xRBku/IV3Fo8cLrG5j74="},
	/* malformed_icmp.pcap#1 */
	{4242, ICMP, "218.152.179.213", "218.152.179.54", 0, 0, 165, 0,
	 "1:5Aa41mKFBvmPgKHIL1+IMPCAm4M="},
	/* esp.pcapng#6 */
	{4242, ESP, "10.3.4.4", "10.2.3.2", 0, 0, 0, 0, "1:R/l80e+aLE+7wghQXd4Q0BLUEpw="},
};

/* ------------------------------------------------------------------ */
/* Helpers                                                            */
/* ------------------------------------------------------------------ */

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void
addr(const char *text, uint8_t out[16], uint8_t *version)
{
	int v6 = strchr(text, ':') != NULL;

	memset(out, 0, 16);
	assert_int_equal(inet_pton(v6 ? AF_INET6 : AF_INET, text, out), 1);
	*version = v6 ? 6 : 4;
}

static struct flow_record
record_of(const struct vec *v)
{
	struct flow_record r;
	uint8_t v_dst;

	memset(&r, 0, sizeof(r));
	addr(v->src, r.src_ip, &r.ip_version);
	addr(v->dst, r.dst_ip, &v_dst);
	assert_int_equal(r.ip_version, v_dst);
	r.proto = v->proto;
	r.src_port = v->sport;
	r.dst_port = v->dport;
	r.icmp_type = v->type;
	r.icmp_code = v->code;
	return r;
}

static void
check_vectors(const struct vec *vs, size_t n)
{
	char out[COMMUNITY_ID_LEN];

	for (size_t i = 0; i < n; i++) {
		struct flow_record r = record_of(&vs[i]);

		community_id(&r, vs[i].seed, out);
		if (strcmp(out, vs[i].want) != 0)
			fail_msg("row %zu (proto %u %s -> %s seed %u): got %s, want %s", i,
				 vs[i].proto, vs[i].src, vs[i].dst, vs[i].seed, out, vs[i].want);
	}
}

static void
id_of(const struct flow_record *r, uint16_t seed, char out[COMMUNITY_ID_LEN])
{
	memset(out, 'x', COMMUNITY_ID_LEN);
	community_id(r, seed, out);
}

static void
swap_ends(struct flow_record *r)
{
	uint8_t a[16];
	uint16_t p;

	memcpy(a, r->src_ip, 16);
	memcpy(r->src_ip, r->dst_ip, 16);
	memcpy(r->dst_ip, a, 16);
	p = r->src_port;
	r->src_port = r->dst_port;
	r->dst_port = p;
}

/* ------------------------------------------------------------------ */
/* Tests                                                              */
/* ------------------------------------------------------------------ */

static void
test_spec_tables(void **state)
{
	(void)state;
	check_vectors(spec_tables, N(spec_tables));
}

static void
test_spec_pcaps(void **state)
{
	(void)state;
	check_vectors(spec_pcaps, N(spec_pcaps));
}

static void
test_tshark_pcaps(void **state)
{
	(void)state;
	check_vectors(tshark_pcaps, N(tshark_pcaps));
}

/* Every port or port-less vector, seen from the other side, keeps its id:
 * the flow table may call either end the client. */
static void
test_direction(void **state)
{
	const struct vec *sets[] = {spec_tables, spec_pcaps, tshark_pcaps};
	const size_t ns[] = {N(spec_tables), N(spec_pcaps), N(tshark_pcaps)};
	char a[COMMUNITY_ID_LEN], b[COMMUNITY_ID_LEN];
	unsigned checked = 0;

	(void)state;
	for (size_t s = 0; s < N(sets); s++) {
		for (size_t i = 0; i < ns[s]; i++) {
			struct flow_record r = record_of(&sets[s][i]);

			if (r.proto == ICMP || r.proto == ICMP6)
				continue; /* the reply has another type: rows above */
			id_of(&r, sets[s][i].seed, a);
			swap_ends(&r);
			id_of(&r, sets[s][i].seed, b);
			assert_string_equal(a, b);
			checked++;
		}
	}
	assert_true(checked > 40);
}

/* Same addresses both sides: the ports decide the order. */
static void
test_equal_addresses(void **state)
{
	struct vec v = {0, UDP, "10.0.0.1", "10.0.0.1", 5000, 53, 0, 0, NULL};
	struct flow_record r = record_of(&v);
	char a[COMMUNITY_ID_LEN], b[COMMUNITY_ID_LEN];

	(void)state;
	id_of(&r, 0, a);
	swap_ends(&r);
	id_of(&r, 0, b);
	assert_string_equal(a, b);
	r.src_port = 5001; /* a different flow */
	id_of(&r, 0, b);
	assert_string_not_equal(a, b);
}

/* One-way ICMP keeps the direction (the reverse is another id) and
 * hashes the code. */
static void
test_icmp_one_way(void **state)
{
	struct vec v = {0, ICMP, "5.6.7.8", "1.2.3.4", 0, 0, 11, 0, NULL};
	struct vec u = {0, ICMP6, V6B, V6A, 0, 0, 1, 4, NULL};
	struct flow_record r = record_of(&v);
	struct flow_record q = record_of(&u);
	char a[COMMUNITY_ID_LEN], b[COMMUNITY_ID_LEN];

	(void)state;
	id_of(&r, 0, a);
	assert_string_not_equal(a, "1:f/YiSyWqczrTgfUCZlBUnvHRcPk="); /* 1.2.3.4 -> 5.6.7.8 */
	id_of(&q, 0, a);
	q.icmp_code = 3;
	id_of(&q, 0, b);
	assert_string_not_equal(a, b);
}

/* Two-way ICMP hashes the type pair, not the code. */
static void
test_icmp_two_way_code(void **state)
{
	struct vec v = {0, ICMP, "1.2.3.4", "5.6.7.8", 0, 0, 8, 7, NULL};
	struct vec u = {0, ICMP6, V6B, V6A, 0, 0, 129, 1, NULL};
	struct flow_record r = record_of(&v);
	struct flow_record q = record_of(&u);
	char out[COMMUNITY_ID_LEN];

	(void)state;
	id_of(&r, 0, out);
	assert_string_equal(out, "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=");
	id_of(&q, 0, out);
	assert_string_equal(out, "1:0bf7hyMJUwt3fMED7z8LIfRpBeo=");
}

/* v1's two-way type pairs (pycommunityid communityid/icmp.py, icmp6.py,
 * after Zeek): a request one way and its reply the other share an id. */
static const uint8_t icmp4_pairs[][2] = {{8, 0}, {13, 14}, {15, 16}, {10, 9}, {17, 18}};
static const uint8_t icmp6_pairs[][2] = {{128, 129}, {130, 131}, {133, 134},
					 {135, 136}, {139, 140}, {144, 145}};
/* Some types outside the table, so one-way: unreachable, redirect, time
 * exceeded, parameter problem, RFC 8335 extended echo (not in v1). */
static const uint8_t icmp4_one_way[] = {3, 4, 5, 11, 12, 42, 43};
static const uint8_t icmp6_one_way[] = {1, 2, 3, 4, 132, 137, 160, 161};

static void
id_icmp(uint8_t proto, const char *src, const char *dst, uint8_t type, uint8_t code,
	char out[COMMUNITY_ID_LEN])
{
	struct vec v = {0, proto, src, dst, 0, 0, type, code, NULL};
	struct flow_record r = record_of(&v);

	id_of(&r, 0, out);
}

static void
check_pair(uint8_t proto, const char *a, const char *b, uint8_t req, uint8_t rep)
{
	char x[COMMUNITY_ID_LEN], y[COMMUNITY_ID_LEN];

	id_icmp(proto, a, b, req, 0, x);
	id_icmp(proto, b, a, rep, 0, y);
	assert_string_equal(x, y);
	id_icmp(proto, b, a, rep, 9, y); /* the code is not hashed */
	assert_string_equal(x, y);
	id_icmp(proto, a, b, rep, 0, y); /* a reply from the requester: another flow */
	assert_string_not_equal(x, y);
}

static void
check_one_way(uint8_t proto, const char *a, const char *b, uint8_t type)
{
	char x[COMMUNITY_ID_LEN], y[COMMUNITY_ID_LEN];

	id_icmp(proto, a, b, type, 0, x);
	id_icmp(proto, b, a, type, 0, y);
	assert_string_not_equal(x, y);
	id_icmp(proto, a, b, type, 1, y);
	assert_string_not_equal(x, y);
}

static void
test_icmp_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(icmp4_pairs); i++) {
		check_pair(ICMP, "1.2.3.4", "5.6.7.8", icmp4_pairs[i][0], icmp4_pairs[i][1]);
		check_pair(ICMP, "5.6.7.8", "1.2.3.4", icmp4_pairs[i][1], icmp4_pairs[i][0]);
	}
	for (size_t i = 0; i < N(icmp6_pairs); i++) {
		check_pair(ICMP6, V6A, V6B, icmp6_pairs[i][0], icmp6_pairs[i][1]);
		check_pair(ICMP6, V6B, V6A, icmp6_pairs[i][1], icmp6_pairs[i][0]);
	}
	for (size_t i = 0; i < N(icmp4_one_way); i++)
		check_one_way(ICMP, "1.2.3.4", "5.6.7.8", icmp4_one_way[i]);
	for (size_t i = 0; i < N(icmp6_one_way); i++)
		check_one_way(ICMP6, V6A, V6B, icmp6_one_way[i]);
	/* the tables are per protocol: echo is one-way as ICMPv6's type 8 */
	check_one_way(ICMP6, V6A, V6B, 8);
	check_one_way(ICMP, "1.2.3.4", "5.6.7.8", 128);
}

/* The seed is hashed: 0 and 1 differ, and 0 is the default. */
static void
test_seed(void **state)
{
	struct vec v = {0, TCP, "1.2.3.4", "5.6.7.8", 1122, 3344, 0, 0, NULL};
	struct flow_record r = record_of(&v);
	char out[COMMUNITY_ID_LEN];

	(void)state;
	id_of(&r, COMMUNITY_ID_SEED_DEFAULT, out);
	assert_string_equal(out, "1:wCb3OG7yAFWelaUydu0D+125CLM=");
	id_of(&r, 1, out);
	assert_string_equal(out, "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk=");
	id_of(&r, 0xffff, out);
	assert_string_not_equal(out, "1:wCb3OG7yAFWelaUydu0D+125CLM=");
}

/* IPv4 reads the first 4 address bytes only. */
static void
test_ipv4_tail_ignored(void **state)
{
	struct vec v = {0, TCP, "1.2.3.4", "5.6.7.8", 1122, 3344, 0, 0, NULL};
	struct flow_record r = record_of(&v);
	char out[COMMUNITY_ID_LEN];

	(void)state;
	memset(r.src_ip + 4, 0xa5, 12);
	memset(r.dst_ip + 4, 0x5a, 12);
	id_of(&r, 0, out);
	assert_string_equal(out, "1:wCb3OG7yAFWelaUydu0D+125CLM=");
}

/* A port-less protocol ignores whatever the port fields hold; GRE is one. */
static void
test_portless(void **state)
{
	struct vec v = {0, RSVP, "1.2.3.4", "5.6.7.8", 0, 0, 0, 0, NULL};
	struct flow_record r = record_of(&v);
	char gre[COMMUNITY_ID_LEN], out[COMMUNITY_ID_LEN];

	(void)state;
	r.src_port = 1234;
	r.dst_port = 80;
	r.icmp_type = 8;
	id_of(&r, 0, out);
	assert_string_equal(out, "1:ikv3kmf89luf73WPz1jOs49S768=");
	r.proto = GRE;
	id_of(&r, 0, gre);
	assert_string_not_equal(gre, out);
	swap_ends(&r);
	id_of(&r, 0, out);
	assert_string_equal(gre, out);
}

/* "1:", 28 base64 characters ending in one '=', NUL. */
static void
test_format(void **state)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	struct vec v = {0, UDP, "8.8.8.8", "192.168.1.52", 53, 54585, 0, 0, NULL};
	struct flow_record r = record_of(&v);
	char out[COMMUNITY_ID_LEN];

	(void)state;
	for (unsigned seed = 0; seed < 64; seed++) {
		id_of(&r, (uint16_t)seed, out);
		assert_int_equal(strlen(out), COMMUNITY_ID_LEN - 1);
		assert_memory_equal(out, "1:", 2);
		assert_int_equal(strspn(out + 2, b64), 27);
		assert_int_equal(out[29], '=');
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_tables),
		cmocka_unit_test(test_spec_pcaps),
		cmocka_unit_test(test_tshark_pcaps),
		cmocka_unit_test(test_direction),
		cmocka_unit_test(test_equal_addresses),
		cmocka_unit_test(test_icmp_one_way),
		cmocka_unit_test(test_icmp_two_way_code),
		cmocka_unit_test(test_icmp_table),
		cmocka_unit_test(test_seed),
		cmocka_unit_test(test_ipv4_tail_ignored),
		cmocka_unit_test(test_portless),
		cmocka_unit_test(test_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
