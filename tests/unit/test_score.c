/*
 * test_score.c: the MAD core's local store, through score.h only.
 *
 * Records are made by hand; what a scorer reports is checked against
 * standalone engine/mad.c estimators fed the same values, so these tests
 * pin down the plumbing (metrics, group keys, one estimator per (spec,
 * group), counters, persistence, close), not the estimator's maths,
 * which test_mad.c covers. Random series come from a fixed-seed
 * splitmix64, so every run sees the same numbers.
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
#include <unistd.h>

#include <arpa/inet.h>

#include <cmocka.h>

#include "score.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                            */
/* ------------------------------------------------------------------ */

#define MAX_SEEN 16

/* What done saw for the last record, and how often it ran. */
static struct {
	unsigned calls;
	unsigned n;
	struct score_result r[SCORE_MAX_SPECS];
	uint64_t flow_id;
	struct score *close_me; /* done closes this scorer when set */
	int closed;
} D;

static void
on_closed(void *arg)
{
	int *closed = arg;

	(*closed)++;
}

static void
on_done(void *arg, const struct flow_record *rec, const struct score_result *results, unsigned n)
{
	(void)arg;
	D.calls++;
	D.n = n;
	D.flow_id = rec->flow_id;
	assert_true(n <= SCORE_MAX_SPECS);
	if (n > 0)
		memcpy(D.r, results, n * sizeof(*results));
	if (D.close_me != NULL) {
		struct score *s = D.close_me;

		D.close_me = NULL;
		score_close(s, on_closed, &D.closed);
		assert_int_equal(D.closed, 0); /* freed only once done returns */
	}
}

static uint64_t
splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Lognormal-ish flow size, median about 1000 bytes. */
static uint64_t
flow_size(uint64_t *seed)
{
	double u1 = ((double)(splitmix64(seed) >> 11) + 0.5) * 0x1p-53;
	double u2 = ((double)(splitmix64(seed) >> 11) + 0.5) * 0x1p-53;

	return (uint64_t)exp(log(1000.0) + 1.5 * sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
}

static struct flow_record
rec_v4(const char *src, const char *dst, uint8_t proto, uint16_t sport, uint16_t dport)
{
	struct flow_record r;

	memset(&r, 0, sizeof(r));
	r.ip_version = 4;
	r.proto = proto;
	r.src_port = sport;
	r.dst_port = dport;
	assert_int_equal(inet_pton(AF_INET, src, r.src_ip), 1);
	assert_int_equal(inet_pton(AF_INET, dst, r.dst_ip), 1);
	r.start_us = 1000000;
	r.end_us = 1000000;
	r.pkts_toserver = 1;
	r.bytes_toserver = 100;
	return r;
}

static struct flow_record
rec_v6(const char *src, const char *dst, uint8_t proto, uint16_t dport)
{
	struct flow_record r = rec_v4("0.0.0.0", "0.0.0.0", proto, 40000, dport);

	r.ip_version = 6;
	assert_int_equal(inet_pton(AF_INET6, src, r.src_ip), 1);
	assert_int_equal(inet_pton(AF_INET6, dst, r.dst_ip), 1);
	return r;
}

/* A local conf with the given spec texts and the default estimator options. */
static struct score_conf
conf_of(const char *const *specs, unsigned n)
{
	struct score_conf c;

	memset(&c, 0, sizeof(c));
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(score_spec_parse(specs[i], &c.specs[i]), 0);
	c.n_specs = n;
	c.mad = mad_opts_default();
	c.store = SCORE_STORE_LOCAL;
	c.max_groups = 1024;
	return c;
}

static struct score *
new_local(const char *const *specs, unsigned n)
{
	struct score_conf c = conf_of(specs, n);
	struct score *s = score_new(NULL, &c, on_done, NULL);

	assert_non_null(s);
	return s;
}

static void
close_now(struct score *s)
{
	int closed = 0;

	score_close(s, on_closed, &closed);
	assert_int_equal(closed, 1); /* local: before score_close returns */
}

static int
setup(void **state)
{
	(void)state;
	memset(&D, 0, sizeof(D));
	return 0;
}

/* Score rec; expect done once with n results. */
static void
score_one(struct score *s, const struct flow_record *rec, unsigned n)
{
	unsigned calls = D.calls;

	assert_int_equal(score_record(s, rec), 0);
	assert_int_equal(D.calls, calls + 1);
	assert_int_equal(D.n, n);
	assert_int_equal(score_pending(s), 0);
}

/* ------------------------------------------------------------------ */
/* Spec text                                                          */
/* ------------------------------------------------------------------ */

static void
test_spec_parse(void **state)
{
	static const char *const bad[] = {
		"",
		"bytes",
		"bytes/",
		"/global",
		"byte/global",
		"bytes/globals",
		"bytes/global:24",
		"bytes/dest_port:",
		"bytes/src_subnet:",
		"bytes/src_subnet:33",
		"bytes/src_subnet:24,129",
		"bytes/src_subnet:24,",
		"bytes/src_subnet:-1",
		"bytes/src_subnet:0024",
		"bytes/src_subnet:24x",
		"bytes/src_subnet:24,64,1",
		"Bytes/global",
		" bytes/global",
		"bytes/global ",
		"bytes//global",
	};
	struct score_spec sp, keep = {.metric = SCORE_METRIC_PCR, .prefix4 = 7};
	char buf[64];

	(void)state;
	assert_int_equal(score_spec_parse("bytes/global", &sp), 0);
	assert_int_equal(sp.metric, SCORE_METRIC_BYTES);
	assert_int_equal(sp.group, SCORE_GROUP_GLOBAL);
	assert_int_equal(score_spec_parse("pcr/dest_subnet:16", &sp), 0);
	assert_int_equal(sp.metric, SCORE_METRIC_PCR);
	assert_int_equal(sp.group, SCORE_GROUP_DEST_SUBNET);
	assert_int_equal(sp.prefix4, 16);
	assert_int_equal(sp.prefix6, 64);
	assert_int_equal(score_spec_parse("duration/src_subnet:0,128", &sp), 0);
	assert_int_equal(sp.prefix4, 0);
	assert_int_equal(sp.prefix6, 128);
	assert_int_equal(score_spec_parse("pkts/src_subnet", &sp), 0);
	assert_int_equal(sp.prefix4, 24);
	assert_int_equal(sp.prefix6, 64);
	assert_int_equal(score_spec_parse("bytes_toserver/app_proto", &sp), 0);
	assert_int_equal(sp.metric, SCORE_METRIC_BYTES_TOSERVER);
	assert_int_equal(sp.group, SCORE_GROUP_APP_PROTO);
	assert_int_equal(score_spec_parse("bytes_toclient/proto", &sp), 0);
	assert_int_equal(score_spec_parse("bytes/dest_port", &sp), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sp = keep;
		if (score_spec_parse(bad[i], &sp) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_memory_equal(&sp, &keep, sizeof(sp)); /* untouched */
	}
	assert_int_equal(score_spec_parse(NULL, &sp), -EINVAL);
	assert_int_equal(score_spec_parse("bytes/global", NULL), -EINVAL);

	/* Canonical text reads back to the same spec. */
	assert_int_equal(score_spec_parse("pcr/dest_subnet:16", &sp), 0);
	assert_int_equal(score_spec_format(&sp, buf, sizeof(buf)), 21);
	assert_string_equal(buf, "pcr/dest_subnet:16,64");
	assert_int_equal(score_spec_parse(buf, &keep), 0);
	assert_memory_equal(&sp, &keep, sizeof(sp));
	assert_int_equal(score_spec_parse("bytes/global", &sp), 0);
	assert_int_equal(score_spec_format(&sp, buf, sizeof(buf)), 12);
	assert_string_equal(buf, "bytes/global");
	assert_int_equal(score_spec_format(&sp, buf, 12), -ENOSPC);
	sp.metric = (enum score_metric)99;
	assert_int_equal(score_spec_format(&sp, buf, sizeof(buf)), -EINVAL);
	assert_string_equal(score_metric_name(SCORE_METRIC_BYTES_TOCLIENT), "bytes_toclient");
	assert_string_equal(score_group_name(SCORE_GROUP_DEST_SUBNET), "dest_subnet");
	assert_string_equal(score_metric_name((enum score_metric)99), "?");
}

/* ------------------------------------------------------------------ */
/* Metrics                                                            */
/* ------------------------------------------------------------------ */

static void
test_metrics(void **state)
{
	static const char *const specs[] = {
		"bytes/global", "bytes_toserver/global", "bytes_toclient/global",
		"pkts/global",	"duration/global",	 "pcr/global",
	};
	struct score *s = new_local(specs, 6);
	struct flow_record r = rec_v4("10.0.0.1", "10.0.0.2", 6, 40000, 443);
	struct score_stats st;

	(void)state;
	r.bytes_toserver = 300;
	r.bytes_toclient = 100;
	r.pkts_toserver = 3;
	r.pkts_toclient = 4;
	r.start_us = 5000000;
	r.end_us = 7250000;
	score_one(s, &r, 6);
	assert_int_equal(D.r[0].metric, SCORE_METRIC_BYTES);
	assert_true(D.r[0].value == 400);
	assert_true(D.r[1].value == 300);
	assert_true(D.r[2].value == 100);
	assert_true(D.r[3].value == 7);
	assert_true(D.r[4].value == 2.25);
	assert_true(D.r[5].value == 0.5); /* (300 - 100) / 400 */
	for (unsigned i = 0; i < 6; i++) {
		assert_int_equal(D.r[i].n, 1);
		assert_true(D.r[i].burn_in);
		assert_false(D.r[i].outlier);
		assert_false(D.r[i].remote);
		assert_string_equal(D.r[i].group_key, "global");
		assert_int_equal(D.r[i].group, SCORE_GROUP_GLOBAL);
		/* the first value is scored against itself: median = value */
		assert_true(fabs(D.r[i].median - D.r[i].value) <= 1e-9 * fabs(D.r[i].value));
		assert_true(D.r[i].threshold == 3.5);
	}

	/* One packet, nothing received: duration 0 is defined, pcr is 1. */
	r.bytes_toserver = 60;
	r.bytes_toclient = 0;
	r.pkts_toclient = 0;
	r.pkts_toserver = 1;
	r.end_us = r.start_us;
	score_one(s, &r, 6);
	assert_true(D.r[4].value == 0);
	assert_true(D.r[5].value == 1);
	assert_int_equal(D.r[5].n, 2);

	/* Empty flow: pcr undefined, skipped; end before start: duration skipped. */
	r.bytes_toserver = 0;
	r.end_us = r.start_us - 1;
	score_one(s, &r, 4);
	assert_int_equal(D.r[3].metric, SCORE_METRIC_PKTS);
	score_stats_get(s, &st);
	assert_int_equal(st.records, 3);
	assert_int_equal(st.updates, 16);
	assert_int_equal(st.skipped, 2);
	assert_int_equal(st.groups, 6);
	assert_int_equal(st.groups_full, 0);
	assert_int_equal(st.redis_calls, 0);
	close_now(s);
}

/* pcr is estimated untransformed: -1 (only received) is a value like any other. */
static void
test_pcr_untransformed(void **state)
{
	static const char *const specs[] = {"pcr/global"};
	struct score *s = new_local(specs, 1);
	struct flow_record r = rec_v4("10.0.0.1", "10.0.0.2", 17, 5353, 53);
	struct mad ref;
	struct mad_opts o = mad_opts_default();
	struct mad_result mr;
	uint64_t seed = 7;

	(void)state;
	o.transform = MAD_TRANSFORM_NONE;
	assert_int_equal(mad_init(&ref, &o), 0);
	for (int i = 0; i < 3000; i++) {
		r.bytes_toserver = splitmix64(&seed) % 4 == 0 ? 0 : flow_size(&seed);
		r.bytes_toclient = flow_size(&seed) + 1;
		score_one(s, &r, 1);
		double x = ((double)r.bytes_toserver - (double)r.bytes_toclient) /
			   ((double)r.bytes_toserver + (double)r.bytes_toclient);
		assert_int_equal(mad_update(&ref, x, &mr), 0);
		assert_true(D.r[0].value == x);
		assert_true(D.r[0].median == mr.median);
		assert_true(D.r[0].mad == mr.mad);
		assert_true(D.r[0].score == mr.score);
	}
	close_now(s);
}

/* ------------------------------------------------------------------ */
/* Groups                                                             */
/* ------------------------------------------------------------------ */

static void
test_group_keys(void **state)
{
	static const char *const specs[] = {
		"bytes/global", "bytes/app_proto",	  "bytes/dest_port",
		"bytes/proto",	"bytes/src_subnet:24,64", "bytes/dest_subnet:16,48",
	};
	struct score *s = new_local(specs, 6);
	struct flow_record r = rec_v4("10.1.2.3", "192.168.77.9", 6, 51000, 443);

	(void)state;
	score_one(s, &r, 6);
	assert_string_equal(D.r[0].group_key, "global");
	assert_string_equal(D.r[1].group_key, "tcp");
	assert_int_equal(D.r[1].group, SCORE_GROUP_APP_PROTO);
	assert_string_equal(D.r[2].group_key, "tcp/443");
	assert_string_equal(D.r[3].group_key, "tcp");
	assert_string_equal(D.r[4].group_key, "10.1.2.0/24");
	assert_string_equal(D.r[5].group_key, "192.168.0.0/16");

	r = rec_v4("172.16.5.5", "8.8.8.8", 17, 5353, 53);
	score_one(s, &r, 6);
	assert_string_equal(D.r[2].group_key, "udp/53");
	assert_string_equal(D.r[3].group_key, "udp");
	assert_string_equal(D.r[4].group_key, "172.16.5.0/24");
	assert_string_equal(D.r[5].group_key, "8.8.0.0/16");

	r = rec_v6("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:ffff:eeee::1", 58, 0);
	score_one(s, &r, 6);
	assert_string_equal(D.r[1].group_key, "ipv6-icmp");
	assert_string_equal(D.r[2].group_key, "ipv6-icmp/0");
	assert_string_equal(D.r[4].group_key, "2001:db8:1:2::/64");
	assert_string_equal(D.r[5].group_key, "2001:db8:ffff::/48");

	r = rec_v4("10.1.2.200", "1.2.3.4", 89, 0, 0); /* OSPF: a number */
	score_one(s, &r, 6);
	assert_string_equal(D.r[3].group_key, "89");
	assert_string_equal(D.r[4].group_key, "10.1.2.0/24");
	assert_int_equal(D.r[4].n, 2); /* the same client subnet as the first record */
	assert_int_equal(D.r[0].n, 4);

	/* Neither IPv4 nor IPv6: subnet groups have no key, counted as skipped. */
	r.ip_version = 0;
	score_one(s, &r, 4);
	close_now(s);
}

/* app_proto: nDPI's name when capture classified the flow, the IP protocol without DPI. */
static void
test_app_proto_groups(void **state)
{
	static const char *const specs[] = {"bytes/app_proto"};
	struct score *s = new_local(specs, 1);
	struct flow_record tls = rec_v4("10.1.2.3", "192.168.77.9", 6, 51000, 443);
	struct flow_record tls2 = rec_v4("10.9.9.9", "192.168.77.1", 6, 52000, 8443);
	struct flow_record dns = rec_v4("10.1.2.3", "8.8.8.8", 17, 5353, 53);
	struct flow_record failed = rec_v4("10.1.2.3", "8.8.8.8", 6, 5353, 9999);
	struct flow_record plain = rec_v4("10.1.2.3", "8.8.8.8", 6, 5353, 80);
	struct flow_record longname = tls;

	(void)state;
	tls.app.how = tls2.app.how = APPID_HOW_DPI;
	snprintf(tls.app.name, sizeof(tls.app.name), "tls");
	snprintf(tls2.app.name, sizeof(tls2.app.name), "tls");
	snprintf(tls2.app.app, sizeof(tls2.app.app), "youtube"); /* same app_proto group */
	dns.app.how = APPID_HOW_GUESS;
	snprintf(dns.app.name, sizeof(dns.app.name), "dns");
	failed.app.how = APPID_HOW_UNKNOWN;
	snprintf(failed.app.name, sizeof(failed.app.name), "unknown");
	longname.app.how = APPID_HOW_DPI;
	snprintf(longname.app.name, sizeof(longname.app.name), "direct_download_link");

	score_one(s, &tls, 1);
	assert_string_equal(D.r[0].group_key, "tls");
	score_one(s, &tls2, 1);
	assert_string_equal(D.r[0].group_key, "tls");
	assert_int_equal(D.r[0].n, 2);
	score_one(s, &dns, 1);
	assert_string_equal(D.r[0].group_key, "dns");
	assert_int_equal(D.r[0].n, 1);
	score_one(s, &failed, 1);
	assert_string_equal(D.r[0].group_key, "failed");
	score_one(s, &plain, 1);
	assert_string_equal(D.r[0].group_key, "tcp");
	score_one(s, &longname, 1);
	assert_string_equal(D.r[0].group_key, "direct_download_"); /* cut at 16 bytes */
	close_now(s);
}

/* Subnet prefixes at their edges. */
static void
test_subnet_prefixes(void **state)
{
	static const char *const specs[] = {"bytes/src_subnet:0,0", "bytes/src_subnet:32,128",
					    "bytes/src_subnet:23,1", "bytes/dest_subnet:9,127"};
	struct score *s = new_local(specs, 4);
	struct flow_record r = rec_v4("10.1.3.255", "255.255.255.255", 6, 1, 2);

	(void)state;
	score_one(s, &r, 4);
	assert_string_equal(D.r[0].group_key, "0.0.0.0/0");
	assert_string_equal(D.r[1].group_key, "10.1.3.255/32");
	assert_string_equal(D.r[2].group_key, "10.1.2.0/23");
	assert_string_equal(D.r[3].group_key, "255.128.0.0/9");
	r = rec_v6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
		   "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 6, 2);
	score_one(s, &r, 4);
	assert_string_equal(D.r[0].group_key, "::/0");
	assert_string_equal(D.r[1].group_key, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128");
	assert_string_equal(D.r[2].group_key, "8000::/1");
	assert_string_equal(D.r[3].group_key, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127");
	close_now(s);
}

/* Each (spec, group) is its own estimator, equal to a standalone one fed its values. */
static void
test_groups_independent(void **state)
{
	static const char *const specs[] = {"bytes/dest_port", "pkts/dest_port"};
	struct score *s = new_local(specs, 2);
	struct mad ref[2][2]; /* [spec][port] */
	struct mad_result mr;
	uint64_t seed = 42;

	(void)state;
	for (int i = 0; i < 2; i++)
		for (int p = 0; p < 2; p++)
			assert_int_equal(mad_init(&ref[i][p], NULL), 0);
	for (int k = 0; k < 20000; k++) {
		int p = splitmix64(&seed) % 3 == 0; /* port 80 a third of the time */
		struct flow_record r = rec_v4("10.0.0.1", "10.0.0.2", 6, 40000, p ? 80 : 443);

		r.bytes_toserver = flow_size(&seed) * (p ? 100 : 1);
		r.pkts_toserver = 1 + flow_size(&seed) / 100;
		score_one(s, &r, 2);
		assert_string_equal(D.r[0].group_key, p ? "tcp/80" : "tcp/443");
		assert_int_equal(mad_update(&ref[0][p], (double)r.bytes_toserver, &mr), 0);
		assert_true(D.r[0].median == mad_untransform(&ref[0][p], mr.median));
		assert_true(D.r[0].mad == mr.mad && D.r[0].score == mr.score);
		assert_true(D.r[0].zscore == mr.zscore && D.r[0].n == mr.n);
		assert_int_equal(D.r[0].outlier, mr.outlier);
		assert_int_equal(D.r[0].burn_in, mr.burn_in);
		assert_int_equal(mad_update(&ref[1][p], (double)r.pkts_toserver, &mr), 0);
		assert_true(D.r[1].median == mad_untransform(&ref[1][p], mr.median));
		assert_true(D.r[1].mad == mr.mad && D.r[1].n == mr.n);
	}
	/* Port 80 flows are 100x larger: the two medians stay apart. */
	assert_true(mad_median(&ref[0][1]) - mad_median(&ref[0][0]) > 4);
	assert_true(mad_count(&ref[0][0]) + mad_count(&ref[0][1]) == 20000);
	close_now(s);
}

/* Flags come from the estimator: burn-in first, then outliers above the threshold. */
static void
test_flags_pass_through(void **state)
{
	static const char *const specs[] = {"bytes/global"};
	struct score_conf c = conf_of(specs, 1);
	struct score *s;
	struct flow_record r = rec_v4("10.0.0.1", "10.0.0.2", 6, 40000, 443);
	struct score_stats st;
	uint64_t seed = 3;

	(void)state;
	c.mad.burn_in = 50;
	c.mad.threshold = 3.0;
	s = score_new(NULL, &c, on_done, NULL);
	assert_non_null(s);
	for (int i = 0; i < 2000; i++) {
		r.bytes_toserver = 900 + splitmix64(&seed) % 200;
		score_one(s, &r, 1);
		assert_int_equal(D.r[0].burn_in, i < 50);
		assert_true(D.r[0].threshold == 3.0);
	}
	assert_false(D.r[0].outlier);
	r.bytes_toserver = 1000000;
	score_one(s, &r, 1);
	assert_true(D.r[0].outlier);
	assert_false(D.r[0].burn_in);
	assert_true(D.r[0].zscore > 3.0);
	assert_true(D.r[0].score > 3.0 / MAD_Z_FACTOR);
	r.bytes_toserver = 1; /* one-sided: far below is not an outlier */
	score_one(s, &r, 1);
	assert_false(D.r[0].outlier);
	assert_true(D.r[0].score == 0);
	assert_true(D.r[0].zscore < -3.0);
	score_stats_get(s, &st);
	assert_true(st.outliers >= 1);
	close_now(s);
}

/* Beyond max_groups: not scored, counted; existing groups keep working. */
static void
test_max_groups(void **state)
{
	static const char *const specs[] = {"bytes/dest_port", "bytes/global"};
	struct score_conf c = conf_of(specs, 2);
	struct score *s;
	struct score_stats st;

	(void)state;
	c.max_groups = 4; /* global + three ports */
	s = score_new(NULL, &c, on_done, NULL);
	assert_non_null(s);
	for (uint16_t port = 1; port <= 6; port++) {
		struct flow_record r = rec_v4("10.0.0.1", "10.0.0.2", 6, 40000, port);

		score_one(s, &r, port <= 3 ? 2 : 1);
		if (port > 3)
			assert_string_equal(D.r[0].group_key, "global");
	}
	struct flow_record r = rec_v4("10.0.0.1", "10.0.0.2", 6, 40000, 2);

	score_one(s, &r, 2);
	assert_string_equal(D.r[0].group_key, "tcp/2");
	assert_int_equal(D.r[0].n, 2);
	score_stats_get(s, &st);
	assert_int_equal(st.groups, 4);
	assert_int_equal(st.groups_full, 3);
	assert_int_equal(st.records, 7);
	close_now(s);
}

/* ------------------------------------------------------------------ */
/* Routing                                                            */
/* ------------------------------------------------------------------ */

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static void
test_route_key(void **state)
{
	struct score_spec port, subnet, global;
	static uint64_t keys[4096];
	unsigned per_worker[4] = {0}, distinct = 1;

	(void)state;
	assert_int_equal(score_spec_parse("bytes/dest_port", &port), 0);
	assert_int_equal(score_spec_parse("bytes/src_subnet:24", &subnet), 0);
	assert_int_equal(score_spec_parse("bytes/global", &global), 0);

	/* Same group, different everything else: same key. */
	struct flow_record a = rec_v4("10.0.0.1", "10.0.0.2", 6, 40000, 443);
	struct flow_record b = rec_v4("192.168.1.1", "8.8.4.4", 6, 1234, 443);

	b.bytes_toserver = 999999;
	b.vlan[0] = 7;
	assert_true(score_route_key(&port, &a) == score_route_key(&port, &b));
	b.proto = 17;
	assert_true(score_route_key(&port, &a) != score_route_key(&port, &b));
	b = rec_v4("10.0.0.77", "1.1.1.1", 17, 9, 9);
	assert_true(score_route_key(&subnet, &a) == score_route_key(&subnet, &b));
	assert_true(score_route_key(&global, &a) == score_route_key(&global, &b));
	/* The key depends on the spec's group, not on the metric. */
	struct score_spec port_pkts = port;

	port_pkts.metric = SCORE_METRIC_PKTS;
	assert_true(score_route_key(&port, &a) == score_route_key(&port_pkts, &a));

	/* Different ports: different keys, spread evenly over workers by low bits. */
	for (unsigned p = 0; p < 4096; p++) {
		a.dst_port = (uint16_t)p;
		keys[p] = score_route_key(&port, &a);
		per_worker[keys[p] % 4]++;
	}
	qsort(keys, 4096, sizeof(keys[0]), cmp_u64);
	for (unsigned p = 1; p < 4096; p++)
		distinct += keys[p] != keys[p - 1];
	assert_int_equal(distinct, 4096);
	for (unsigned w = 0; w < 4; w++)
		assert_true(per_worker[w] > 900 && per_worker[w] < 1150);
}

/* ------------------------------------------------------------------ */
/* Persistence                                                        */
/* ------------------------------------------------------------------ */

#define PERSIST_N 6000

static struct flow_record
persist_rec(uint64_t *seed, uint64_t id)
{
	static const char *const srcs[] = {"10.0.0.1", "10.0.1.1", "10.0.2.1", "10.9.9.9"};
	uint64_t z = splitmix64(seed);
	struct flow_record r = rec_v4(srcs[z % 4], "10.0.0.2", (z >> 8) % 2 ? 6 : 17, 40000,
				      (uint16_t)(80 + (z >> 16) % 5));

	if ((z >> 24) % 50 == 0) {
		r = rec_v6("2001:db8:1:2::5", "2001:db8::1", 6, 443);
	}
	r.flow_id = id;
	r.bytes_toserver = flow_size(seed);
	r.bytes_toclient = (z >> 32) % 3 == 0 ? 0 : flow_size(seed);
	r.pkts_toserver = 1 + r.bytes_toserver / 500;
	r.end_us = r.start_us + flow_size(seed) * 10;
	return r;
}

static bool
result_equal(const struct score_result *a, const struct score_result *b)
{
	return a->metric == b->metric && a->group == b->group &&
	       strcmp(a->group_key, b->group_key) == 0 && a->value == b->value &&
	       a->median == b->median && a->mad == b->mad && a->n == b->n && a->score == b->score &&
	       a->zscore == b->zscore && a->threshold == b->threshold && a->outlier == b->outlier &&
	       a->burn_in == b->burn_in && a->remote == b->remote;
}

/* Score rec with s and return a copy of what done saw. */
static unsigned
score_copy(struct score *s, const struct flow_record *r, struct score_result *out)
{
	assert_int_equal(score_record(s, r), 0);
	memcpy(out, D.r, D.n * sizeof(*out));
	return D.n;
}

static void
test_persist_round_trip(void **state)
{
	static const char *const specs[] = {"bytes/dest_port", "pcr/src_subnet:16,32",
					    "duration/global", "pkts/proto"};
	static const char *const reordered[] = {"pkts/proto", "duration/global", "bytes/dest_port",
						"pcr/src_subnet:16,32", "bytes/global"};
	char dir[] = "/tmp/test_score.XXXXXX", path[128], junk[160];
	struct score *a, *b, *c;
	struct score_result ra[SCORE_MAX_SPECS], rb[SCORE_MAX_SPECS], rc[SCORE_MAX_SPECS];
	struct score_stats sa, sb;
	uint64_t seed = 11, id = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/mad.state", dir);
	a = new_local(specs, 4);
	for (int i = 0; i < PERSIST_N; i++) {
		struct flow_record r = persist_rec(&seed, ++id);

		score_copy(a, &r, ra);
	}
	assert_int_equal(score_save(a, path), 0);
	assert_int_equal(score_save(a, path), 0); /* over an existing file */
	assert_int_equal(access(path, R_OK), 0);

	b = new_local(specs, 4);
	assert_int_equal(score_load(b, path), 0);
	c = new_local(reordered, 5); /* same specs in another order, plus a new one */
	assert_int_equal(score_load(c, path), 0);
	score_stats_get(a, &sa);
	score_stats_get(b, &sb);
	assert_int_equal(sa.groups, sb.groups);
	for (int i = 0; i < PERSIST_N; i++) {
		struct flow_record r = persist_rec(&seed, ++id);
		unsigned na = score_copy(a, &r, ra), nb = score_copy(b, &r, rb);
		unsigned nc = score_copy(c, &r, rc);

		assert_int_equal(na, nb);
		for (unsigned k = 0; k < na; k++)
			assert_true(result_equal(&ra[k], &rb[k]));
		assert_int_equal(nc, na + 1);
		/* c's order: pkts/proto, duration/global, bytes/dest_port, pcr, bytes/global */
		for (unsigned k = 0; k < na; k++) {
			const struct score_result *x = &ra[k];
			bool found = false;

			for (unsigned j = 0; j < nc && !found; j++)
				found = result_equal(x, &rc[j]);
			assert_true(found);
		}
		assert_true(rc[nc - 1].n == (uint64_t)i + 1); /* bytes/global: fresh */
	}
	close_now(b);
	close_now(c);

	/* Errors: missing, corrupt, truncated, foreign; nothing loaded. */
	b = new_local(specs, 4);
	snprintf(junk, sizeof(junk), "%s/none", dir);
	assert_int_equal(score_load(b, junk), -ENOENT);
	FILE *f = fopen(path, "r+b");

	assert_non_null(f);
	assert_int_equal(fseek(f, 200, SEEK_SET), 0);
	assert_int_equal(fputc(0x5a, f) == EOF, 0);
	fclose(f);
	assert_int_equal(score_load(b, path), -EINVAL);
	assert_int_equal(truncate(path, 100), 0);
	assert_int_equal(score_load(b, path), -EINVAL);
	f = fopen(junk, "wb");
	assert_non_null(f);
	fputs("{\"not\": \"a state file\"}\n", f);
	fclose(f);
	assert_int_equal(score_load(b, junk), -EINVAL);
	score_stats_get(b, &sb);
	assert_int_equal(sb.groups, 0);
	snprintf(junk, sizeof(junk), "%s/no/such/dir/file", dir);
	assert_int_equal(score_save(a, junk), -ENOENT);
	close_now(b);
	close_now(a);

	unlink(path);
	snprintf(junk, sizeof(junk), "%s/none", dir);
	unlink(junk);
	assert_int_equal(rmdir(dir), 0); /* no temporary file left behind */
}

/* A state saved with another transform is not restored into log1p estimators. */
static void
test_persist_other_transform(void **state)
{
	static const char *const specs[] = {"bytes/global"};
	char dir[] = "/tmp/test_score.XXXXXX", path[128];
	struct score_conf c = conf_of(specs, 1);
	struct score *a, *b;
	struct flow_record r = rec_v4("10.0.0.1", "10.0.0.2", 6, 40000, 443);
	struct score_stats st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/mad.state", dir);
	c.mad.transform = MAD_TRANSFORM_NONE;
	a = score_new(NULL, &c, on_done, NULL);
	assert_non_null(a);
	score_one(a, &r, 1);
	assert_int_equal(score_save(a, path), 0);
	b = new_local(specs, 1);
	assert_int_equal(score_load(b, path), 0);
	score_stats_get(b, &st);
	assert_int_equal(st.groups, 0);
	close_now(a);
	close_now(b);
	unlink(path);
	rmdir(dir);
}

/* ------------------------------------------------------------------ */
/* Lifetime                                                           */
/* ------------------------------------------------------------------ */

static void
test_new_invalid(void **state)
{
	static const char *const specs[] = {"bytes/global"};
	struct score_conf c = conf_of(specs, 1), bad;

	(void)state;
	errno = 0;
	assert_null(score_new(NULL, NULL, on_done, NULL));
	assert_int_equal(errno, EINVAL);
	assert_null(score_new(NULL, &c, NULL, NULL));
	bad = c;
	bad.n_specs = SCORE_MAX_SPECS + 1;
	assert_null(score_new(NULL, &bad, on_done, NULL));
	bad = c;
	bad.max_groups = 0;
	assert_null(score_new(NULL, &bad, on_done, NULL));
	bad = c;
	bad.mad.eta = 0.5; /* relative step above 0.1 */
	assert_null(score_new(NULL, &bad, on_done, NULL));
	bad = c;
	bad.specs[0].prefix4 = 33;
	assert_null(score_new(NULL, &bad, on_done, NULL));
	bad = c;
	bad.specs[0].group = (enum score_group)42;
	assert_null(score_new(NULL, &bad, on_done, NULL));
	bad = c;
	bad.store = SCORE_STORE_REDIS; /* no loop, no host */
	errno = 0;
	assert_null(score_new(NULL, &bad, on_done, NULL));
	assert_int_equal(errno, EINVAL);
}

/* No specs: records pass through with no results. */
static void
test_no_specs(void **state)
{
	struct score *s = new_local(NULL, 0);
	struct flow_record r = rec_v4("10.0.0.1", "10.0.0.2", 6, 40000, 443);
	struct score_stats st;

	(void)state;
	score_one(s, &r, 0);
	score_stats_get(s, &st);
	assert_int_equal(st.records, 1);
	assert_int_equal(st.updates, 0);
	close_now(s);
}

static void
test_close(void **state)
{
	static const char *const specs[] = {"bytes/global"};
	struct score *s = new_local(specs, 1);
	struct flow_record r = rec_v4("10.0.0.1", "10.0.0.2", 6, 40000, 443);

	(void)state;
	score_close(NULL, NULL, NULL);
	score_one(s, &r, 1);
	assert_int_equal(score_pending(s), 0);
	close_now(s);

	/* Closed from inside done: freed once done returns, callback once. */
	s = new_local(specs, 1);
	score_one(s, &r, 1);
	D.close_me = s;
	assert_int_equal(score_record(s, &r), 0);
	assert_null(D.close_me);
	assert_int_equal(D.closed, 1);

	s = new_local(specs, 1);
	score_close(s, NULL, NULL); /* no callback: fine */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_spec_parse, setup),
		cmocka_unit_test_setup(test_metrics, setup),
		cmocka_unit_test_setup(test_pcr_untransformed, setup),
		cmocka_unit_test_setup(test_group_keys, setup),
		cmocka_unit_test_setup(test_app_proto_groups, setup),
		cmocka_unit_test_setup(test_subnet_prefixes, setup),
		cmocka_unit_test_setup(test_groups_independent, setup),
		cmocka_unit_test_setup(test_flags_pass_through, setup),
		cmocka_unit_test_setup(test_max_groups, setup),
		cmocka_unit_test_setup(test_route_key, setup),
		cmocka_unit_test_setup(test_persist_round_trip, setup),
		cmocka_unit_test_setup(test_persist_other_transform, setup),
		cmocka_unit_test_setup(test_new_invalid, setup),
		cmocka_unit_test_setup(test_no_specs, setup),
		cmocka_unit_test_setup(test_close, setup),
	};

	return cmocka_run_group_tests_name("score", tests, NULL, NULL);
}
