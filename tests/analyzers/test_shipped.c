/*
 * test_shipped.c: the analyzers shipped in analyzers/ on real traffic.
 *
 * Flow records come from captures in tests/data/pcap through the real
 * decoder and flow table (capture/decode.h, capture/flow.h, nDPI off); a
 * few generated flows are added where a test needs a known anomaly (an
 * exfiltration upload, a scanning burst), and the test checks the
 * analyzer flags them and (nearly) nothing else. threat_intel.lua runs
 * against a real redis-server (skipped without one) with indicators taken
 * from the capture, and on the DNS events of tests/data/eve.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <cmocka.h>
#include <pcap/pcap.h>
#include <uv.h>

#include "analyzer.h"
#include "decode.h"
#include "flow.h"
#include "flow_record.h"
#include "model.h"
#include "redis_server.h"

#define MAX_RECORDS 20000

static struct flow_record *recs;
static size_t nrecs;
static struct rs_server S;
static bool have_redis;
static uv_loop_t loop;

/* ------------------------------------------------------------------ */
/* Records from captures                                               */
/* ------------------------------------------------------------------ */

static void
keep(void *arg, const struct flow_record *rec)
{
	(void)arg;
	if (nrecs < MAX_RECORDS)
		recs[nrecs++] = *rec;
}

static void
read_pcap(struct flow_table *t, const char *name)
{
	char path[1024], err[PCAP_ERRBUF_SIZE];
	struct decode_stats st;
	struct pcap_pkthdr *hdr;
	const u_char *data;
	pcap_t *pc;
	int link;

	snprintf(path, sizeof(path), "%s/%s", AN_PCAP_DIR, name);
	pc = pcap_open_offline(path, err);
	if (!pc)
		fail_msg("%s: %s", path, err);
	link = pcap_datalink(pc);
	memset(&st, 0, sizeof(st));
	while (decode_link_supported(link) && pcap_next_ex(pc, &hdr, &data) == 1) {
		struct decode_pkt p;
		uint64_t ts = (uint64_t)hdr->ts.tv_sec * 1000000u + (uint64_t)hdr->ts.tv_usec;
		if (decode_packet(&p, link, data, hdr->caplen, &st) == DECODE_FLOW)
			flow_table_packet(t, &p, data, hdr->caplen, hdr->len, ts);
	}
	pcap_close(pc);
	flow_table_flush(t, FLOW_RECORD_REASON_SHUTDOWN);
}

static int
is_capture(const struct dirent *e)
{
	size_t n = strlen(e->d_name);

	return (n > 5 && strcmp(e->d_name + n - 5, ".pcap") == 0) ||
	       (n > 7 && strcmp(e->d_name + n - 7, ".pcapng") == 0);
}

static int
load_records(void **state)
{
	struct flow_conf c;
	struct flow_table *t;
	struct dirent **names;
	int n;

	(void)state;
	recs = calloc(MAX_RECORDS, sizeof(*recs));
	flow_conf_defaults(&c);
	c.dpi = 0;
	c.max_flows = 65536;
	c.hash_size = 65536;
	t = flow_table_new(&c, keep, NULL);
	if (!recs || !t)
		return -1;
	/* every capture of the directory, in name order */
	n = scandir(AN_PCAP_DIR, &names, is_capture, alphasort);
	for (int i = 0; i < n; i++) {
		read_pcap(t, names[i]->d_name);
		free(names[i]);
	}
	free(names);
	flow_table_free(t);
	printf("# %zu flow records from %d captures\n", nrecs, n);
	have_redis = rs_start(&S) == 0;
	return nrecs > 100 ? 0 : -1;
}

static int
free_records(void **state)
{
	(void)state;
	free(recs);
	rs_stop(&S);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Running an analyzer                                                 */
/* ------------------------------------------------------------------ */

struct out {
	unsigned n;
	char all[1 << 18];
	size_t len;
};

static int
cb_emit(void *user, const char *sink, const char *json, size_t len)
{
	struct out *o = user;
	int k;

	(void)sink;
	o->n++;
	k = snprintf(o->all + o->len, sizeof(o->all) - o->len, "%.*s\n", (int)len, json);
	if (k > 0 && o->len + (size_t)k < sizeof(o->all))
		o->len += (size_t)k;
	return 0;
}

static int
cb_annotate(void *user, const char *key, const char *json, size_t len)
{
	(void)user, (void)key, (void)json, (void)len;
	return 0;
}

static struct analyzer *
shipped(const char *name, struct out *o, bool redis)
{
	char path[512], err[512];
	struct analyzer_conf c = {
		.path = path,
		.lua_dir = AN_LUA_DIR,
		.cpu_ms = 500,
		.emit = cb_emit,
		.annotate = cb_annotate,
		.user = o,
		.loop = redis ? &loop : NULL,
		.redis_port = S.port,
	};
	struct analyzer *a;

	snprintf(path, sizeof(path), "%s/%s", AN_SCRIPTS_DIR, name);
	a = analyzer_new(&c, err, sizeof(err));
	if (!a)
		fail_msg("%s: %s", name, err);
	return a;
}

static void
settle(struct analyzer *a)
{
	for (int i = 0; i < 100000 && !analyzer_idle(a); i++)
		uv_run(&loop, UV_RUN_ONCE);
	assert_true(analyzer_idle(a));
}

/* The source address with the most flows of at least min_bytes. */
static const struct flow_record *
busiest_host(uint64_t min_bytes, unsigned *count)
{
	const struct flow_record *best = NULL;
	unsigned best_n = 0;

	for (size_t i = 0; i < nrecs; i++) {
		unsigned n = 0;
		for (size_t j = 0; j < nrecs; j++)
			n += recs[j].ip_version == recs[i].ip_version &&
			     memcmp(recs[j].src_ip, recs[i].src_ip, 16) == 0 &&
			     recs[j].bytes_toserver + recs[j].bytes_toclient >= min_bytes;
		if (n > best_n)
			best = &recs[i], best_n = n;
	}
	*count = best_n;
	return best;
}

/* An upload from host h: 40 MB up, 20 KB down, 30 s. */
static void
exfil_from(struct flow_record *r, const struct flow_record *h)
{
	*r = *h;
	r->flow_id = 4242;
	r->dst_ip[0] = 198, r->dst_ip[1] = 51, r->dst_ip[2] = 100, r->dst_ip[3] = 7;
	r->dst_port = 443;
	r->bytes_toserver = 40000000;
	r->bytes_toclient = 20000;
	r->end_us = r->start_us + 30000000;
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */
/* ------------------------------------------------------------------ */

static void
test_pcr_outlier(void **state)
{
	static struct out o;
	struct analyzer *a = shipped("pcr_outlier.lua", &o, false);
	const struct flow_record *h;
	struct flow_record x;
	unsigned hn, before;
	(void)state;

	h = busiest_host(10000, &hn);
	assert_true(hn >= 25); /* enough history for the host's estimator */
	for (size_t i = 0; i < nrecs; i++)
		assert_int_equal(analyzer_flow(a, &recs[i]), 0);
	before = o.n;
	exfil_from(&x, h);
	assert_int_equal(analyzer_flow(a, &x), 0);
	printf("# pcr: %zu real flows, %u flagged; busiest host %u flows; exfil flagged: %s\n",
	       nrecs, before, hn, o.n == before + 1 ? "yes" : "no");
	assert_int_equal(o.n, before + 1);
	assert_non_null(strstr(o.all, "\"flow_id\":4242"));
	assert_true(before <= nrecs / 50); /* real traffic: at most 2% flagged */
	assert_int_equal(analyzer_stats(a)->errors, 0);
	analyzer_free(a);
}

/* A flow of 10.99.0.1 ending at t. */
static void
scanner(struct flow_record *r, uint64_t t)
{
	*r = recs[0];
	memset(r->src_ip, 0, 16);
	r->ip_version = 4;
	r->src_ip[0] = 10, r->src_ip[1] = 99, r->src_ip[3] = 1;
	r->end_us = t;
}

static void
test_host_flow_count(void **state)
{
	static struct out o;
	struct analyzer *a = shipped("host_flow_count.lua", &o, false);
	struct flow_record r;
	uint64_t base = 1699999980ull * 1000000u /* a whole minute */, s = 12345;
	unsigned fed = 0;
	(void)state;

	/* 40 windows of a minute: the real records, 80% of them at random each time */
	for (uint64_t w = 0; w < 40; w++) {
		for (size_t i = 0; i < nrecs; i++) {
			s = s * 6364136223846793005ull + 1442695040888963407ull;
			if ((s >> 33) % 10 >= 8)
				continue;
			r = recs[i];
			r.end_us = base + w * 60000000u + (i % 59) * 1000000u;
			assert_int_equal(analyzer_flow(a, &r), 0);
			fed++;
		}
		scanner(&r, base + w * 60000000u + 30000000u);
		assert_int_equal(analyzer_flow(a, &r), 0);
	}
	if (o.n)
		printf("# %s", o.all);
	assert_int_equal(o.n, 0); /* ordinary minutes: nothing */
	/* minute 40: 10.99.0.1 scans (it had about 1 flow a minute before) */
	scanner(&r, base);
	for (int i = 0; i < 300; i++) {
		r.dst_port = (uint16_t)(i + 1);
		r.end_us = base + 40 * 60000000u + (uint64_t)i * 100000u;
		assert_int_equal(analyzer_flow(a, &r), 0);
	}
	r.end_us = base + 41 * 60000000u; /* closes minute 40 */
	assert_int_equal(analyzer_flow(a, &r), 0);
	printf("# host_flow_count: %u real records in 40 windows; alerts %u\n", fed, o.n);
	assert_int_equal(o.n, 1);
	assert_non_null(strstr(o.all, "\"src_ip\":\"10.99.0.1\""));
	assert_non_null(strstr(o.all, "\"flows\":300"));
	assert_int_equal(analyzer_stats(a)->errors, 0);
	analyzer_free(a);
}

static void
test_model_score(void **state)
{
	static struct out o;
	struct analyzer *a = shipped("model_score.lua", &o, false);
	char err[256], path[512];
	struct model *m;
	struct flow_record x;
	unsigned hn, want = 0;
	(void)state;

	/* the expectation, computed here from the same model file and features */
	snprintf(path, sizeof(path), "%s/models/exfil_logistic.json", AN_SCRIPTS_DIR);
	m = model_load(path, err, sizeof(err));
	assert_non_null(m);
	exfil_from(&x, busiest_host(10000, &hn));
	for (size_t i = 0; i <= nrecs; i++) {
		const struct flow_record *r = i < nrecs ? &recs[i] : &x;
		double up = (double)r->bytes_toserver, down = (double)r->bytes_toclient;
		double f[4] = {log1p(up), log1p(down), (up - down) / (up + down),
			       log1p((double)(r->end_us - r->start_us) / 1e6)};
		if (up + down >= 1000 && model_predict(m, f) >= 0.9)
			want++;
		assert_int_equal(analyzer_flow(a, r), 0);
	}
	/* hand-computed for the exfil flow: z = -9 + .9*17.504 - .6*9.904 + 3*.999 - .2*3.434 */
	double f[4] = {log1p(4e7), log1p(2e4), (4e7 - 2e4) / (4e7 + 2e4), log1p(30)};
	double z = -9 + 0.9 * f[0] - 0.6 * f[1] + 3 * f[2] - 0.2 * f[3];
	assert_float_equal(model_predict(m, f), 1 / (1 + exp(-z)), 1e-12);
	assert_true(z > 3);
	printf("# model_score: %zu real flows + 1 exfil, %u flagged (expected %u)\n", nrecs, o.n,
	       want);
	assert_int_equal(o.n, want);
	assert_true(want >= 1 && want <= nrecs / 50 + 1);
	assert_non_null(strstr(o.all, "\"flow_id\":4242"));
	model_free(m);
	analyzer_free(a);
}

static void
test_threat_intel(void **state)
{
	static struct out o;
	struct analyzer *a;
	char line[256], ip[64], buf[64];
	const struct flow_record *bad = NULL;
	unsigned want = 0, dns_lines = 0;
	FILE *f;
	(void)state;

	if (!have_redis)
		skip();
	/* an indicator from the capture: a destination seen in a few flows, not the scan target */
	for (size_t i = 0; i < nrecs && !bad; i++) {
		unsigned n = 0;
		for (size_t j = 0; j < nrecs; j++)
			n += memcmp(recs[j].dst_ip, recs[i].dst_ip, 16) == 0;
		if (n >= 3 && n <= 50)
			bad = &recs[i];
	}
	assert_non_null(bad);
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_true(rs_cmd(S.port, "FLUSHALL\r\n", buf, sizeof(buf)));
	inet_ntop(bad->ip_version == 6 ? AF_INET6 : AF_INET, bad->dst_ip, ip, sizeof(ip));
	snprintf(line, sizeof(line), "SADD ti:ip %s\r\n", ip);
	assert_true(rs_cmd(S.port, line, buf, sizeof(buf)));
	assert_true(rs_cmd(S.port, "SADD ti:domain example.com\r\n", buf, sizeof(buf)));
	a = shipped("threat_intel.lua", &o, true);
	for (size_t i = 0; i < nrecs; i++) {
		want += (memcmp(recs[i].dst_ip, bad->dst_ip, 16) == 0 ||
			 memcmp(recs[i].src_ip, bad->dst_ip, 16) == 0) &&
			recs[i].ip_version == bad->ip_version;
		int rc = analyzer_flow(a, &recs[i]);
		assert_true(rc == 0 || rc == -EINPROGRESS);
		if (i % 512 == 0)
			settle(a); /* the queue holds 1024 */
	}
	settle(a);
	assert_int_equal(analyzer_stats(a)->queue_drops, 0);
	printf("# threat_intel: %zu flows, indicator %s in %u, alerts %u\n", nrecs, ip, want, o.n);
	assert_int_equal(o.n, want);
	/* DNS events of the EVE sample */
	snprintf(line, sizeof(line), "%s/../tests/data/eve/suricata7.json", AN_SCRIPTS_DIR);
	f = fopen(line, "r");
	assert_non_null(f);
	static char ev[65536];
	unsigned before = o.n, want_dns = 0;
	while (fgets(ev, sizeof(ev), f)) {
		if (!strstr(ev, "\"event_type\":\"dns\""))
			continue;
		dns_lines++;
		want_dns += strstr(ev, "example.com\"") != NULL;
		analyzer_eve(a, "dns", ev, strlen(ev));
	}
	fclose(f);
	/* a parent domain of the query is listed; case and the final dot do not matter */
	const char *sub = "{\"event_type\":\"dns\",\"flow_id\":77,\"dns\":{\"type\":\"query\","
			  "\"rrname\":\"Www.CDN.Example.COM.\"}}";
	want_dns++;
	analyzer_eve(a, "dns", sub, strlen(sub));
	settle(a);
	printf("# threat_intel: %u dns events, %u name example.com, alerts %u\n", dns_lines,
	       want_dns, o.n - before);
	assert_true(dns_lines > 0);
	assert_int_equal(o.n - before, want_dns);
	assert_non_null(strstr(o.all, "\"rrname\":\"www.cdn.example.com\""));
	assert_non_null(strstr(o.all, "\"indicator\":\"example.com\""));
	assert_int_equal(analyzer_stats(a)->errors, 0);
	analyzer_free(a);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pcr_outlier),
		cmocka_unit_test(test_host_flow_count),
		cmocka_unit_test(test_model_score),
		cmocka_unit_test(test_threat_intel),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, load_records, free_records);
}
