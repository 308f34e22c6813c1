/*
 * eve.c: EVE JSON lines, written straight into the caller's buffer.
 *
 * A tiny bounded writer (struct eve_buf) appends literals, integers and
 * strings; if anything does not fit, the whole line is abandoned (0 is
 * returned) rather than cut. Integers are formatted by hand (no floats
 * anywhere, 64-bit values exact); the seconds part of timestamps is cached
 * per thread since consecutive records usually share a second.
 */
#include "eve.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

struct eve_buf {
	char *p;
	size_t cap;
	size_t len;
	int overflow;
	int fresh; /* just opened an object: the next key takes no comma */
};

static void
eb_put(struct eve_buf *b, const char *s, size_t n)
{
	if (b->overflow || n > b->cap - b->len) {
		b->overflow = 1;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

#define EB_LIT(b, s) eb_put((b), (s), sizeof(s) - 1)

static void
eb_str(struct eve_buf *b, const char *s)
{
	eb_put(b, s, strlen(s));
}

static void
eb_u64(struct eve_buf *b, uint64_t v)
{
	char tmp[20];
	int i = 20;

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	eb_put(b, tmp + i, (size_t)(20 - i));
}

/* ",\"key\":" */
static void
eb_key(struct eve_buf *b, const char *key)
{
	if (b->fresh)
		EB_LIT(b, "\"");
	else
		EB_LIT(b, ",\"");
	b->fresh = 0;
	eb_str(b, key);
	EB_LIT(b, "\":");
}

static void
eb_key_u64(struct eve_buf *b, const char *key, uint64_t v)
{
	eb_key(b, key);
	eb_u64(b, v);
}

static void
eb_key_qstr(struct eve_buf *b, const char *key, const char *s)
{
	eb_key(b, key);
	EB_LIT(b, "\"");
	eb_str(b, s);
	EB_LIT(b, "\"");
}

/* ---------------------------------------------------------------- time */

void
eve_format_time(char out[32], uint64_t ts_us)
{
	static __thread time_t cached_sec = -1;
	static __thread char cached[24];
	time_t sec = (time_t)(ts_us / 1000000u);
	uint32_t us = (uint32_t)(ts_us % 1000000u);

	if (sec != cached_sec) {
		struct tm tm;

		gmtime_r(&sec, &tm);
		strftime(cached, sizeof(cached), "%Y-%m-%dT%H:%M:%S", &tm);
		cached_sec = sec;
	}
	memcpy(out, cached, 19); /* YYYY-MM-DDTHH:MM:SS (years 1000-9999) */
	out[19] = '.';
	for (int i = 25; i > 19; i--, us /= 10)
		out[i] = (char)('0' + us % 10);
	memcpy(out + 26, "+0000", 6);
}

static void
eb_key_time(struct eve_buf *b, const char *key, uint64_t ts_us)
{
	char t[32];

	eve_format_time(t, ts_us);
	eb_key_qstr(b, key, t);
}

/* ---------------------------------------------------------------- flow */

static const char *
eve_proto_name(uint8_t proto, char num[4])
{
	switch (proto) {
	case 1:
		return "ICMP";
	case 2:
		return "IGMP";
	case 6:
		return "TCP";
	case 17:
		return "UDP";
	case 41:
		return "IPv6";
	case 47:
		return "GRE";
	case 50:
		return "ESP";
	case 51:
		return "AH";
	case 58:
		return "IPv6-ICMP";
	case 132:
		return "SCTP";
	default:
		snprintf(num, 4, "%u", proto);
		return num;
	}
}

static const char *const eve_state_names[] = {"new", "established", "closed"};
static const char *const eve_reason_names[] = {"timeout", "forced", "shutdown"};
static const char *const eve_tcp_state_names[] = {
	"none",	     "syn_sent", "syn_recv",   "established", "fin_wait1", "fin_wait2",
	"time_wait", "last_ack", "close_wait", "closing",     "closed",
};

static void
eb_key_ip(struct eve_buf *b, const char *key, const struct flow_record *r, const uint8_t *ip)
{
	char text[INET6_ADDRSTRLEN];

	inet_ntop(r->ip_version == 4 ? AF_INET : AF_INET6, ip, text, sizeof(text));
	eb_key_qstr(b, key, text);
}

static void
eve_flow_endpoints(struct eve_buf *b, const struct flow_record *r)
{
	int ports = r->proto == 6 || r->proto == 17 || r->proto == 132;
	char num[4];

	eb_key_ip(b, "src_ip", r, r->src_ip);
	if (ports)
		eb_key_u64(b, "src_port", r->src_port);
	eb_key_ip(b, "dest_ip", r, r->dst_ip);
	if (ports)
		eb_key_u64(b, "dest_port", r->dst_port);
	eb_key_qstr(b, "proto", eve_proto_name(r->proto, num));
	if (r->proto == 1 || r->proto == 58) {
		eb_key_u64(b, "icmp_type", r->icmp_type);
		eb_key_u64(b, "icmp_code", r->icmp_code);
		if (r->flags & FLOW_RECORD_F_ICMP_RESP) {
			eb_key_u64(b, "response_icmp_type", r->resp_icmp_type);
			eb_key_u64(b, "response_icmp_code", r->resp_icmp_code);
		}
	}
}

static void
eve_flow_counters(struct eve_buf *b, const struct flow_record *r)
{
	EB_LIT(b, ",\"flow\":{\"pkts_toserver\":");
	eb_u64(b, r->pkts_toserver);
	eb_key_u64(b, "pkts_toclient", r->pkts_toclient);
	eb_key_u64(b, "bytes_toserver", r->bytes_toserver);
	eb_key_u64(b, "bytes_toclient", r->bytes_toclient);
	eb_key_time(b, "start", r->start_us);
	eb_key_time(b, "end", r->end_us);
	eb_key_u64(b, "age", r->end_us / 1000000u - r->start_us / 1000000u);
	eb_key_qstr(b, "state", eve_state_names[r->state % 3]);
	eb_key_qstr(b, "reason", eve_reason_names[r->reason % 3]);
	EB_LIT(b, ",\"alerted\":false}");
}

static void
eb_key_hex8(struct eve_buf *b, const char *key, uint8_t v)
{
	static const char hex[] = "0123456789abcdef";
	char s[4] = {'"', hex[v >> 4], hex[v & 15], '"'};

	eb_key(b, key);
	eb_put(b, s, 4);
}

static void
eve_flow_tcp(struct eve_buf *b, const struct flow_record *r)
{
	static const struct {
		uint8_t bit;
		const char *name;
	} flags[] = {{0x02, "syn"}, {0x01, "fin"}, {0x04, "rst"}, {0x08, "psh"},
		     {0x10, "ack"}, {0x20, "urg"}, {0x40, "ecn"}, {0x80, "cwr"}};
	uint8_t all = r->tcp_flags_ts | r->tcp_flags_tc;

	EB_LIT(b, ",\"tcp\":{");
	b->fresh = 1;
	eb_key_hex8(b, "tcp_flags", all);
	eb_key_hex8(b, "tcp_flags_ts", r->tcp_flags_ts);
	eb_key_hex8(b, "tcp_flags_tc", r->tcp_flags_tc);
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		if (all & flags[i].bit) {
			eb_key(b, flags[i].name);
			EB_LIT(b, "true");
		}
	}
	eb_key_qstr(b, "state", eve_tcp_state_names[r->tcp_state % 11]);
	EB_LIT(b, "}");
}

size_t
eve_format_flow(char *buf, size_t cap, const struct flow_record *r)
{
	struct eve_buf b = {buf, cap, 0, 0, 0};
	char t[32];

	eve_format_time(t, r->end_us);
	EB_LIT(&b, "{\"timestamp\":\"");
	eb_str(&b, t);
	EB_LIT(&b, "\"");
	eb_key_u64(&b, "flow_id", r->flow_id);
	EB_LIT(&b, ",\"event_type\":\"flow\"");
	if (r->vlan[0]) {
		EB_LIT(&b, ",\"vlan\":[");
		eb_u64(&b, r->vlan[0]);
		if (r->vlan[1]) {
			EB_LIT(&b, ",");
			eb_u64(&b, r->vlan[1]);
		}
		EB_LIT(&b, "]");
	}
	eve_flow_endpoints(&b, r);
	eve_flow_counters(&b, r);
	if (r->proto == 6)
		eve_flow_tcp(&b, r);
	EB_LIT(&b, ",\"darter\":{\"lcore\":");
	eb_u64(&b, r->lcore);
	EB_LIT(&b, "}}\n");
	return b.overflow ? 0 : b.len;
}

/* --------------------------------------------------------------- stats */

/* Length of the common dotted prefix (whole components) of a and b. */
static size_t
eve_common_prefix(const char *a, const char *b)
{
	size_t last = 0;

	for (size_t i = 0; a[i] && a[i] == b[i]; i++) {
		if (a[i] == '.')
			last = i + 1;
	}
	return last;
}

static int
eve_depth(const char *s, size_t n)
{
	int d = 0;

	for (size_t i = 0; i < n; i++)
		d += s[i] == '.';
	return d;
}

size_t
eve_format_stats(char *buf, size_t cap, uint64_t ts_us, uint64_t uptime_s,
		 const struct eve_counter *c, size_t n)
{
	struct eve_buf b = {buf, cap, 0, 0, 0};
	const char *prev = "";
	char t[32];

	eve_format_time(t, ts_us);
	EB_LIT(&b, "{\"timestamp\":\"");
	eb_str(&b, t);
	EB_LIT(&b, "\",\"event_type\":\"stats\",\"stats\":{\"uptime\":");
	eb_u64(&b, uptime_s);
	for (size_t i = 0; i < n; i++) {
		const char *name = c[i].name;
		size_t common = eve_common_prefix(prev, name);
		int close = eve_depth(prev, strlen(prev)) - eve_depth(name, common);
		const char *s = name + common;

		for (int k = 0; k < close; k++)
			EB_LIT(&b, "}");
		/* open the remaining components of name */
		for (const char *dot; (dot = strchr(s, '.')) != NULL; s = dot + 1) {
			char key[64];
			size_t kl = (size_t)(dot - s) < sizeof(key) ? (size_t)(dot - s)
								    : sizeof(key) - 1;

			memcpy(key, s, kl);
			key[kl] = '\0';
			eb_key(&b, key);
			EB_LIT(&b, "{");
			b.fresh = 1;
		}
		eb_key_u64(&b, s, c[i].value);
		prev = name;
	}
	for (int k = eve_depth(prev, strlen(prev)); k > 0; k--)
		EB_LIT(&b, "}");
	EB_LIT(&b, "}}\n");
	return b.overflow ? 0 : b.len;
}
