/*
 * test_appid.c: nDPI application identification through appid's public
 * API, on real captures.
 *
 * Captures from tests/data/pcap (directory given as argv[1]) are read with
 * libpcap and decoded by the real decoder (decode_packet); a small flow
 * list here (linear search, the captures are small) gives each flow an
 * appid handle and feeds it its packets until appid_packet says DONE, as
 * the flow table does. The expected names are ndpiReader's (libndpi-bin
 * 4.2, `ndpiReader -i FILE -v 2`) for the same flows, lower case. Packets
 * built by hand cover what the captures cannot: packet limits, the heap
 * budget, pool exhaustion. Run under ASan/LSan, the tests also prove that
 * every state and every byte nDPI allocates is freed.
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
#include <pcap/pcap.h>

#include "appid.h"
#include "decode.h"

#define MAX_FLOWS 4096

static const char *pcap_dir = "tests/data/pcap";

/* ------------------------------------------------------------------ */
/* A minimal flow list over decoded packets                            */
/* ------------------------------------------------------------------ */

struct tflow {
	uint8_t cli[16], srv[16]; /* first packet's source is the client */
	uint16_t cport, sport;
	uint16_t vlan[2];
	uint8_t proto;
	uint32_t h;    /* appid handle while classifying, 0 after */
	uint32_t fed;  /* packets given to appid_packet */
	uint32_t pkts; /* packets of the flow in the capture */
	int done;      /* ids valid */
	int began;     /* appid_begin gave a handle */
	struct appid_ids ids;
};

struct run {
	struct appid *a;
	struct tflow *flows;
	size_t n;
	uint64_t pkts; /* decoded to a flow */
};

static int
tflow_match(const struct tflow *f, const struct decode_pkt *p, int *to_server)
{
	if (f->proto != p->proto || f->vlan[0] != p->vlan[0] || f->vlan[1] != p->vlan[1])
		return 0;
	if (!memcmp(f->cli, p->src, 16) && !memcmp(f->srv, p->dst, 16) && f->cport == p->sport &&
	    f->sport == p->dport) {
		*to_server = 1;
		return 1;
	}
	if (!memcmp(f->cli, p->dst, 16) && !memcmp(f->srv, p->src, 16) && f->cport == p->dport &&
	    f->sport == p->sport) {
		*to_server = 0;
		return 1;
	}
	return 0;
}

static struct tflow *
run_flow(struct run *r, const struct decode_pkt *p, int *to_server)
{
	struct tflow *f;

	for (size_t i = 0; i < r->n; i++)
		if (tflow_match(&r->flows[i], p, to_server))
			return &r->flows[i];
	assert_true(r->n < MAX_FLOWS);
	f = &r->flows[r->n++];
	memset(f, 0, sizeof(*f));
	memcpy(f->cli, p->src, 16);
	memcpy(f->srv, p->dst, 16);
	f->cport = p->sport;
	f->sport = p->dport;
	f->vlan[0] = p->vlan[0];
	f->vlan[1] = p->vlan[1];
	f->proto = p->proto;
	f->h = appid_begin(r->a, p->proto);
	f->began = f->h != 0;
	*to_server = 1;
	return f;
}

static void
run_packet(struct run *r, const struct decode_pkt *p, const uint8_t *frame, uint32_t caplen,
	   uint64_t ts_us)
{
	int to_server;
	struct tflow *f = run_flow(r, p, &to_server);

	f->pkts++;
	r->pkts++;
	if (f->h == 0)
		return;
	f->fed++;
	if (appid_packet(r->a, f->h, frame + p->l3_off, caplen - p->l3_off, ts_us, to_server,
			 &f->ids) == APPID_DONE) {
		f->h = 0;
		f->done = 1;
	}
}

/* Every flow still classifying ends now (as at the end of a capture). */
static void
run_end(struct run *r)
{
	for (size_t i = 0; i < r->n; i++) {
		struct tflow *f = &r->flows[i];

		if (f->h != 0) {
			appid_end(r->a, f->h, &f->ids);
			f->h = 0;
			f->done = 1;
		}
	}
}

/* Decode and classify every packet of tests/data/pcap/<name>. */
static void
run_pcap(struct run *r, const char *name)
{
	char path[1024], err[PCAP_ERRBUF_SIZE];
	struct decode_stats st;
	struct pcap_pkthdr *hdr;
	const u_char *data;
	pcap_t *pc;
	int link, rc;

	snprintf(path, sizeof(path), "%s/%s", pcap_dir, name);
	pc = pcap_open_offline(path, err);
	if (pc == NULL)
		fail_msg("%s: %s", path, err);
	link = pcap_datalink(pc);
	assert_true(decode_link_supported(link));
	memset(&st, 0, sizeof(st));
	while ((rc = pcap_next_ex(pc, &hdr, &data)) == 1) {
		struct decode_pkt p;
		uint64_t ts = (uint64_t)hdr->ts.tv_sec * 1000000u + (uint64_t)hdr->ts.tv_usec;

		if (decode_packet(&p, link, data, hdr->caplen, &st) == DECODE_FLOW)
			run_packet(r, &p, data, hdr->caplen, ts);
	}
	assert_int_equal(rc, PCAP_ERROR_BREAK);
	pcap_close(pc);
	run_end(r);
}

static void
run_init(struct run *r, const struct appid_conf *c)
{
	memset(r, 0, sizeof(*r));
	r->a = appid_new(c);
	assert_non_null(r->a);
	r->flows = calloc(MAX_FLOWS, sizeof(*r->flows));
	assert_non_null(r->flows);
}

/* Checks that hold after any run, then frees it. */
static void
run_fini(struct run *r)
{
	const struct appid_stats *s = appid_stats(r->a);
	uint64_t began = 0;

	for (size_t i = 0; i < r->n; i++)
		began += (uint64_t)r->flows[i].began;
	assert_int_equal(s->active, 0);
	assert_int_equal(s->begun, began);
	assert_int_equal(s->begun, s->classified + s->given_up);
	assert_int_equal(s->heap, 0);
	assert_int_equal(s->memuse, s->pool_bytes + s->module_bytes + (uint64_t)s->heap +
					    (uint64_t)s->heap_residual);
	appid_free(r->a);
	free(r->flows);
}

static struct tflow *
find_port(struct run *r, uint8_t proto, uint16_t cport, uint16_t sport)
{
	for (size_t i = 0; i < r->n; i++) {
		struct tflow *f = &r->flows[i];

		if (f->proto == proto && ((f->cport == cport && f->sport == sport) ||
					  (f->cport == sport && f->sport == cport)))
			return f;
	}
	fail_msg("no flow %u %u<->%u", proto, cport, sport);
	return NULL;
}

static void
check_result(const struct run *r, const struct tflow *f, const char *name, const char *app,
	     const char *category, uint8_t how)
{
	struct appid_result res;

	assert_true(f->done);
	appid_result_fill(r->a, &f->ids, &res);
	assert_string_equal(res.name, name);
	assert_string_equal(res.app, app);
	assert_string_equal(res.category, category);
	assert_int_equal(res.how, how);
	assert_int_equal(res.proto_id, f->ids.proto_id);
	assert_int_equal(res.master_id, f->ids.master_id);
}

/* ------------------------------------------------------------------ */
/* Hand-built packets                                                  */
/* ------------------------------------------------------------------ */

/* IPv4 + TCP (flags, seq) or UDP with payload; returns the IP length. */
static uint32_t
build_ip4(uint8_t *b, uint8_t proto, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport,
	  uint8_t tcp_flags, uint32_t seq, const uint8_t *pl, uint32_t pl_len)
{
	uint32_t l4 = proto == 6 ? 20 : 8, len = 20 + l4 + pl_len;

	memset(b, 0, 20 + l4);
	b[0] = 0x45;
	b[2] = (uint8_t)(len >> 8);
	b[3] = (uint8_t)len;
	b[8] = 64;
	b[9] = proto;
	for (int i = 0; i < 4; i++) {
		b[12 + i] = (uint8_t)(src >> (24 - 8 * i));
		b[16 + i] = (uint8_t)(dst >> (24 - 8 * i));
	}
	b[20] = (uint8_t)(sport >> 8);
	b[21] = (uint8_t)sport;
	b[22] = (uint8_t)(dport >> 8);
	b[23] = (uint8_t)dport;
	if (proto == 6) {
		for (int i = 0; i < 4; i++)
			b[24 + i] = (uint8_t)(seq >> (24 - 8 * i));
		b[32] = 5 << 4;
		b[33] = tcp_flags;
		b[34] = 0xff;
		b[35] = 0xff;
	} else {
		b[24] = (uint8_t)((8 + pl_len) >> 8);
		b[25] = (uint8_t)(8 + pl_len);
	}
	if (pl_len != 0)
		memcpy(b + 20 + l4, pl, pl_len);
	return len;
}

/* splitmix64: fixed-seed noise that no dissector recognizes. */
static uint64_t
rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void
noise(uint8_t *b, size_t n, uint64_t *seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)rnd(seed);
}

#define HA 0x0a000001u
#define HB 0x0a000002u

/* ------------------------------------------------------------------ */
/* Tests                                                               */
/* ------------------------------------------------------------------ */

static void
test_new_invalid(void **state)
{
	struct appid_conf c;

	(void)state;
	errno = 0;
	assert_null(appid_new(NULL));
	assert_int_equal(errno, EINVAL);
	appid_conf_defaults(&c);
	c.max_states = 0;
	errno = 0;
	assert_null(appid_new(&c));
	assert_int_equal(errno, EINVAL);
	appid_conf_defaults(&c);
	c.max_packets_tcp = 0;
	errno = 0;
	assert_null(appid_new(&c));
	assert_int_equal(errno, EINVAL);
	appid_conf_defaults(&c);
	c.max_packets_udp = 0;
	errno = 0;
	assert_null(appid_new(&c));
	assert_int_equal(errno, EINVAL);
	appid_free(NULL);
}

static void
test_defaults_and_sizes(void **state)
{
	struct appid_conf c;
	struct appid *a;
	const struct appid_stats *s;
	struct appid_ids none = {0};
	struct appid_result res;

	(void)state;
	memset(&c, 0xa5, sizeof(c));
	appid_conf_defaults(&c);
	assert_int_equal(c.max_states, 4096);
	assert_int_equal(c.max_packets_tcp, 32);
	assert_int_equal(c.max_packets_udp, 16);
	assert_int_equal(c.max_heap, 0);
	a = appid_new(&c);
	assert_non_null(a);
	s = appid_stats(a);
	/* nDPI 4.2's flow struct is 688 bytes; ours adds bookkeeping, padded */
	assert_true(appid_state_size() >= 688);
	assert_true(appid_state_size() <= 768);
	assert_int_equal(appid_state_size() % 64, 0);
	assert_int_equal(s->pool_bytes, (uint64_t)c.max_states * appid_state_size());
	assert_true(s->module_bytes > 100000); /* nDPI's automata */
	assert_int_equal(s->memuse, s->pool_bytes + s->module_bytes);
	assert_int_equal(s->active, 0);
	assert_int_equal(strncmp(appid_ndpi_version(), "4.2", 3), 0);
	memset(&res, 0x5a, sizeof(res));
	appid_result_fill(a, &none, &res);
	assert_int_equal(res.how, APPID_HOW_NONE);
	assert_int_equal(res.proto_id, 0);
	assert_string_equal(res.name, "");
	assert_string_equal(res.category, "");
	print_message("# appid_state_size %u, pool %llu, module %llu bytes, nDPI %s\n",
		      appid_state_size(), (unsigned long long)s->pool_bytes,
		      (unsigned long long)s->module_bytes, appid_ndpi_version());
	appid_free(a);
}

/* dns.pcap: two DNS flows, nDPI names the application from the query. */
static void
test_dns(void **state)
{
	struct appid_conf c;
	struct run r;

	(void)state;
	appid_conf_defaults(&c);
	run_init(&r, &c);
	run_pcap(&r, "dns.pcap");
	/* ndpiReader: 5.142/DNS.WhatsApp cat Chat; 5.126/DNS.Google cat Web */
	check_result(&r, find_port(&r, 17, 47255, 53), "dns", "whatsapp", "chat", APPID_HOW_DPI);
	check_result(&r, find_port(&r, 17, 32795, 53), "dns", "google", "web", APPID_HOW_DPI);
	assert_int_equal(find_port(&r, 17, 47255, 53)->fed, 1); /* the query decides */
	assert_int_equal(appid_stats(r.a)->classified, 2);
	run_fini(&r);
}

/* ssh.pcap: SSH (a lone protocol: app empty), decided on the banners. */
static void
test_ssh(void **state)
{
	struct appid_conf c;
	struct run r;
	struct tflow *f;

	(void)state;
	appid_conf_defaults(&c);
	run_init(&r, &c);
	run_pcap(&r, "ssh.pcap");
	f = find_port(&r, 6, 58395, 22);
	check_result(&r, f, "ssh", "", "remoteaccess", APPID_HOW_DPI);
	assert_true(f->fed < f->pkts); /* the first packets only */
	assert_true(f->fed <= c.max_packets_tcp);
	check_result(&r, find_port(&r, 6, 58496, 8000), "ssh", "", "remoteaccess", APPID_HOW_DPI);
	assert_true(appid_stats(r.a)->packets < r.pkts);
	run_fini(&r);
}

/* TLS: the SNI names the application; category from nDPI's host lists. */
static void
test_tls(void **state)
{
	struct appid_conf c;
	struct run r;

	(void)state;
	appid_conf_defaults(&c);
	run_init(&r, &c);
	run_pcap(&r, "443-firefox.pcap");
	/* ndpiReader: 91.26/TLS.ntop cat Network */
	check_result(&r, find_port(&r, 6, 53096, 443), "tls", "ntop", "network", APPID_HOW_DPI);
	run_fini(&r);

	run_init(&r, &c);
	run_pcap(&r, "reddit.pcap"); /* IPv6 */
	check_result(&r, find_port(&r, 6, 56594, 443), "tls", "reddit", "socialnetwork",
		     APPID_HOW_DPI);
	check_result(&r, find_port(&r, 6, 58122, 443), "tls", "youtube", "media", APPID_HOW_DPI);
	check_result(&r, find_port(&r, 6, 36964, 443), "tls", "google", "advertisement",
		     APPID_HOW_DPI);
	run_fini(&r);
}

/* QUIC (UDP, encrypted initial decrypted by nDPI) and HTTP (pcapng). */
static void
test_quic_http(void **state)
{
	struct appid_conf c;
	struct run r;

	(void)state;
	appid_conf_defaults(&c);
	run_init(&r, &c);
	run_pcap(&r, "quic.pcap");
	check_result(&r, find_port(&r, 17, 57833, 443), "quic", "gmail", "email", APPID_HOW_DPI);
	check_result(&r, find_port(&r, 17, 35236, 443), "quic", "youtube", "media", APPID_HOW_DPI);
	run_fini(&r);

	run_init(&r, &c);
	run_pcap(&r, "http.pcapng");
	check_result(&r, find_port(&r, 6, 42170, 80), "http", "google", "web", APPID_HOW_DPI);
	run_fini(&r);
}

/* Tunnels (the decoder peels them): nDPI sees the inner IP packet. */
static void
test_tunnels(void **state)
{
	struct appid_conf c;
	struct run r;

	(void)state;
	appid_conf_defaults(&c);
	run_init(&r, &c);
	run_pcap(&r, "4in6tunnel.pcap"); /* IPv4 in IPv6; ndpiReader: 91.212/TLS.Microsoft */
	check_result(&r, find_port(&r, 6, 64455, 443), "tls", "microsoft", "web", APPID_HOW_DPI);
	run_fini(&r);

	run_init(&r, &c);
	run_pcap(&r, "6in4tunnel.pcap"); /* IPv6 in IPv4; ndpiReader: 91.119/TLS.Facebook */
	check_result(&r, find_port(&r, 6, 53234, 443), "tls", "facebook", "socialnetwork",
		     APPID_HOW_DPI);
	run_fini(&r);
}

/*
 * Packet limits: a TCP and a UDP flow of noise give up after exactly
 * max_packets_tcp / max_packets_udp packets, with a port guess or unknown.
 */
static void
test_limits(void **state)
{
	struct appid_conf c;
	struct appid *a;
	struct appid_ids ids;
	uint8_t pkt[1500], pl[400];
	uint64_t seed = 1;
	uint32_t h, len, seq = 1000;
	int n;

	(void)state;
	appid_conf_defaults(&c);
	c.max_packets_tcp = 5;
	c.max_packets_udp = 3;
	a = appid_new(&c);
	assert_non_null(a);

	h = appid_begin(a, 17);
	assert_int_not_equal(h, 0);
	for (n = 1;; n++) {
		noise(pl, sizeof(pl), &seed);
		len = build_ip4(pkt, 17, HA, 40001, HB, 40002, 0, 0, pl, sizeof(pl));
		if (appid_packet(a, h, pkt, len, 1000000u * (uint64_t)n, 1, &ids) == APPID_DONE)
			break;
		assert_true(n < 100);
	}
	assert_int_equal(n, 3);
	assert_true(ids.how == APPID_HOW_UNKNOWN || ids.how == APPID_HOW_GUESS);

	h = appid_begin(a, 6);
	assert_int_not_equal(h, 0);
	for (n = 1;; n++) {
		noise(pl, sizeof(pl), &seed);
		len = build_ip4(pkt, 6, HA, 40003, HB, 40004, 0x18, seq, pl, sizeof(pl));
		seq += sizeof(pl);
		if (appid_packet(a, h, pkt, len, 1000000u * (uint64_t)n, 1, &ids) == APPID_DONE)
			break;
		assert_true(n < 100);
	}
	assert_int_equal(n, 5);
	assert_int_equal(appid_stats(a)->packets, 8);
	assert_int_equal(appid_stats(a)->given_up, 2);
	assert_int_equal(appid_stats(a)->classified, 0);
	assert_int_equal(appid_stats(a)->active, 0);
	appid_free(a);
}

/* A frame with trailing link padding (a short Ethernet frame) classifies as without. */
static void
test_padding(void **state)
{
	struct appid_conf c;
	struct appid *a;
	uint8_t pkt[200];
	/* a DNS query for example.com, A, IN */
	static const uint8_t q[] = {0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
				    0x00, 0x00, 7,    'e',  'x',  'a',	'm',  'p',  'l',  'e',
				    3,	  'c',	'o',  'm',  0x00, 0x00, 0x01, 0x00, 0x01};
	struct appid_ids ids;
	struct appid_result res;
	uint32_t h, len;

	(void)state;
	appid_conf_defaults(&c);
	a = appid_new(&c);
	assert_non_null(a);
	len = build_ip4(pkt, 17, HA, 5353 + 1, HB, 53, 0, 0, q, sizeof(q));
	memset(pkt + len, 0xee, 30); /* padding a short frame would carry */
	h = appid_begin(a, 17);
	assert_int_equal(appid_packet(a, h, pkt, len + 30, 1, 1, &ids), APPID_DONE);
	assert_int_equal(ids.how, APPID_HOW_DPI);
	appid_result_fill(a, &ids, &res);
	assert_string_equal(res.name, "dns");
	assert_string_equal(res.app, "");
	assert_int_equal(appid_stats(a)->active, 0);
	appid_free(a);
}

/* The pool bounds the flows classified at once; a released state is reused. */
static void
test_pool_exhaustion(void **state)
{
	struct appid_conf c;
	struct appid *a;
	uint32_t h[3];

	(void)state;
	appid_conf_defaults(&c);
	c.max_states = 2;
	a = appid_new(&c);
	assert_non_null(a);
	h[0] = appid_begin(a, 6);
	h[1] = appid_begin(a, 17);
	assert_int_not_equal(h[0], 0);
	assert_int_not_equal(h[1], 0);
	assert_int_not_equal(h[0], h[1]);
	assert_int_equal(appid_begin(a, 6), 0);
	assert_int_equal(appid_begin(a, 1), 0);
	assert_int_equal(appid_stats(a)->pool_empty, 2);
	assert_int_equal(appid_stats(a)->active, 2);
	appid_end(a, h[0], NULL);
	assert_int_equal(appid_stats(a)->flow_ended, 1);
	h[2] = appid_begin(a, 6);
	assert_int_equal(h[2], h[0]);
	assert_int_equal(appid_stats(a)->begun, 3);
	/* freed while classifying: no leak (LSan) */
	appid_free(a);
}

/* A capture with more flows than states: the overflow is counted, not lost. */
static void
test_pool_pcap(void **state)
{
	struct appid_conf c;
	struct run r;
	size_t unbegun = 0;

	(void)state;
	appid_conf_defaults(&c);
	c.max_states = 2;
	run_init(&r, &c);
	run_pcap(&r, "synscan.pcap"); /* ~2000 SYN-only flows, none decided */
	for (size_t i = 0; i < r.n; i++)
		unbegun += !r.flows[i].began;
	assert_true(r.n > 1000);
	assert_int_equal(unbegun, r.n - 2);
	assert_int_equal(appid_stats(r.a)->pool_empty, unbegun);
	run_fini(&r);
}

/*
 * Heap budget: a TLS record announced longer than the segment makes nDPI
 * buffer it (its reassembly allocates); with a budget of 1 byte the flow
 * gives up at once, and the buffer is freed with the state.
 */
static void
test_heap_budget(void **state)
{
	struct appid_conf c;
	struct appid *a;
	struct appid_ids ids;
	uint8_t pkt[1500], pl[300];
	uint32_t h, len;
	enum appid_status rc;
	const struct appid_stats *s;

	(void)state;
	memset(pl, 0x41, sizeof(pl));
	pl[0] = 0x16; /* TLS handshake record, 1.0, 4000 bytes announced */
	pl[1] = 0x03;
	pl[2] = 0x01;
	pl[3] = 4000 >> 8;
	pl[4] = 4000 & 0xff;
	pl[5] = 0x01; /* client hello */
	pl[6] = 0x00;
	pl[7] = (3996 >> 8) & 0xff;
	pl[8] = 3996 & 0xff;
	pl[9] = 0x03;
	pl[10] = 0x03;
	appid_conf_defaults(&c);
	c.max_heap = 1;
	a = appid_new(&c);
	assert_non_null(a);
	s = appid_stats(a);
	h = appid_begin(a, 6);
	len = build_ip4(pkt, 6, HA, 40005, HB, 443, 0x02, 1, NULL, 0);
	rc = appid_packet(a, h, pkt, len, 1000, 1, &ids);
	assert_int_equal(rc, APPID_MORE); /* a SYN allocates nothing */
	len = build_ip4(pkt, 6, HB, 443, HA, 40005, 0x12, 5000, NULL, 0);
	assert_int_equal(appid_packet(a, h, pkt, len, 2000, 0, &ids), APPID_MORE);
	len = build_ip4(pkt, 6, HA, 40005, HB, 443, 0x10, 2, NULL, 0);
	assert_int_equal(appid_packet(a, h, pkt, len, 3000, 1, &ids), APPID_MORE);
	len = build_ip4(pkt, 6, HA, 40005, HB, 443, 0x18, 2, pl, sizeof(pl));
	rc = appid_packet(a, h, pkt, len, 4000, 1, &ids);
	assert_int_equal(rc, APPID_DONE);
	assert_int_equal(s->heap_limited, 1);
	assert_int_equal(s->given_up, 1);
	assert_int_equal(s->heap, 0);
	assert_int_equal(s->active, 0);
	assert_int_equal(s->memuse, s->pool_bytes + s->module_bytes + (uint64_t)s->heap +
					    (uint64_t)s->heap_residual);
	appid_free(a);
}

/* Every capture we ship goes through without a crash, leak or stuck state. */
static void
test_all_pcaps(void **state)
{
	static const char *const names[] = {
		"443-chrome.pcap",
		"bittorrent.pcap",
		"dns_exfiltration.pcap",
		"emotet.pcap",
		"ftp.pcap",
		"malformed_dns.pcap",
		"malformed_icmp.pcap",
		"netflix.pcap",
		"smtp.pcap",
		"snmp.pcap",
		"synscan.pcap",
		"teams.pcap",
		"tor.pcap",
		"webex.pcap",
		"whatsappfiles.pcap",
		"wireguard.pcap",
		"badpackets.pcap",
		"ip_fragmented_garbage.pcap",
		"openvpn.pcap",
		"icmp-tunnel.pcap",
		"fuzz-2006-06-26-2594.pcap",
	};
	struct appid_conf c;

	(void)state;
	appid_conf_defaults(&c);
	c.max_states = 64;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct run r;
		const struct appid_stats *s;

		run_init(&r, &c);
		run_pcap(&r, names[i]);
		s = appid_stats(r.a);
		for (size_t k = 0; k < r.n; k++) {
			const struct tflow *f = &r.flows[k];

			assert_true(f->fed <=
				    (f->proto == 6 ? c.max_packets_tcp : c.max_packets_udp));
			assert_true(!f->began || f->done);
		}
		print_message("# %s: %zu flows, %llu classified, %llu given up, residual %lld\n",
			      names[i], r.n, (unsigned long long)s->classified,
			      (unsigned long long)s->given_up, (long long)s->heap_residual);
		run_fini(&r);
	}
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_invalid), cmocka_unit_test(test_defaults_and_sizes),
		cmocka_unit_test(test_dns),	    cmocka_unit_test(test_ssh),
		cmocka_unit_test(test_tls),	    cmocka_unit_test(test_quic_http),
		cmocka_unit_test(test_tunnels),	    cmocka_unit_test(test_limits),
		cmocka_unit_test(test_padding),	    cmocka_unit_test(test_pool_exhaustion),
		cmocka_unit_test(test_pool_pcap),   cmocka_unit_test(test_heap_budget),
		cmocka_unit_test(test_all_pcaps),
	};

	if (argc > 1)
		pcap_dir = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
