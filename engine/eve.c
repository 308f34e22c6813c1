/*
 * eve.c: EVE JSON lines for flow records and stats events.
 *
 * What: one flow_record becomes one Suricata 7 "flow" event line, with
 * Suricata's key names, key order and value types; darter's own fields go
 * under "darter". Stats counters with dotted names become nested objects.
 *
 * How: a line is written straight into the caller's buffer by a bounded
 * writer (struct eve_out). Every append checks the room left; the first
 * one that does not fit marks the line lost, later appends do nothing, and
 * the call returns 0: a short buffer never overruns. Nothing on the record
 * path calls snprintf or strftime: integers use a two-digits-per-step
 * uint64 writer, IPv4 a dotted-quad writer (the same text as inet_ntop),
 * and times a per-thread cache of the formatted day, so gmtime_r runs only
 * when the UTC day changes (hours, minutes and seconds are arithmetic).
 *
 * Suricata 7 behaviour followed (src/output-json-flow.c, src/util-print.c,
 * src/util-proto-name.c, EveTcpFlags in src/output-json.c):
 * - order: timestamp, flow_id, event_type, vlan, src_ip, src_port, dest_ip,
 *   dest_port, proto, icmp_*, flow{}, tcp{}; "vlan" is an array.
 * - IPv6 addresses in full, uncompressed, lowercase hex
 *   ("2001:0db8:0000:0000:0000:0000:0000:0001"): PrintInet does not use
 *   inet_ntop for IPv6.
 * - proto: the IANA keyword of known_proto[] (numbers 0..143), else the
 *   number as decimal text ("253").
 * - ports for TCP, UDP and SCTP only; ICMP and ICMPv6 get icmp_type and
 *   icmp_code, and the response_* pair once the other side answered.
 * - age = end seconds - start seconds; tcp_flags is the OR of both sides,
 *   followed by one "true" per flag set, in Suricata's order.
 * Differences, on purpose: "timestamp" is the record's end_us (last
 * packet). Suricata writes its clock at logging time (packet time when
 * reading a pcap); the last packet is what a record has, and it makes
 * replays byte-for-byte repeatable. Times are UTC ("+0000") where Suricata
 * uses the local zone. VLAN ID 0 reads as "no VLAN" (the record's
 * convention). A flow state or reason outside its enum prints "unknown"
 * (Suricata's fallback for a reason), an unknown tcp.state is left out
 * (as Suricata does); the schema rejects both, so e2e runs catch them.
 *
 * The caller adds what the record does not hold: the Community ID and
 * the MAD core's evidence (struct eve_flow_extra). Numbers that are not
 * integers (MAD evidence) are printed as %.9g would (9 significant digits,
 * by integer arithmetic; printf only for the rare values it must decide),
 * non-finite ones as null.
 *
 * Not done here: I/O, allocation.
 */
#include <assert.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "eve.h"

#define EVE_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Put a string literal; its length is known at compile time. */
#define EVE_LIT(o, s) eve_put((o), (s), sizeof(s) - 1)

/* 9999-12-31T23:59:59.999999: later times are clamped to it (32-byte text). */
#define EVE_TIME_MAX_US 253402300799999999ull

_Static_assert(sizeof(time_t) >= 8, "times past 2038 need a 64-bit time_t");

/* ------------------------------------------------------------------ */
/* Bounded writer                                                      */
/* ------------------------------------------------------------------ */

struct eve_out {
	char *p;   /* next byte */
	char *end; /* one past the last usable byte */
	int lost;  /* an append did not fit: the whole line is lost */
};

static void
eve_out_init(struct eve_out *o, char *buf, size_t cap)
{
	o->p = buf;
	o->end = buf + cap;
	o->lost = 0;
}

/*
 * memcpy for the short pieces of a line (numbers, names, keys): two
 * overlapping loads and stores of the largest word that fits, inline,
 * where a call to libc's memcpy with a length known only at run time cost
 * about 15 instructions each, 40 times a line. Reads only s[0..n).
 */
static inline void
eve_copy(char *d, const char *s, size_t n)
{
	if (n >= 16 && n <= 32) {
		uint64_t a[2], b[2];

		memcpy(a, s, 16);
		memcpy(b, s + n - 16, 16);
		memcpy(d, a, 16);
		memcpy(d + n - 16, b, 16);
	} else if (n >= 8 && n < 16) {
		uint64_t a, b;

		memcpy(&a, s, 8);
		memcpy(&b, s + n - 8, 8);
		memcpy(d, &a, 8);
		memcpy(d + n - 8, &b, 8);
	} else if (n >= 4 && n < 8) {
		uint32_t a, b;

		memcpy(&a, s, 4);
		memcpy(&b, s + n - 4, 4);
		memcpy(d, &a, 4);
		memcpy(d + n - 4, &b, 4);
	} else if (n > 0 && n < 4) {
		char a = s[0], b = s[n / 2], c = s[n - 1];

		d[0] = a;
		d[n / 2] = b;
		d[n - 1] = c;
	} else if (n > 32) {
		memcpy(d, s, n);
	}
}

/* An append did not fit: the line is lost, and every later append fails as well. */
static void
eve_lose(struct eve_out *o)
{
	o->lost = 1;
	o->end = o->p;
}

static inline void
eve_put(struct eve_out *o, const char *s, size_t n)
{
	if (EVE_UNLIKELY((size_t)(o->end - o->p) < n)) {
		eve_lose(o);
		return;
	}
	eve_copy(o->p, s, n);
	o->p += n;
}

/* Bytes written since buf, or 0 when the line did not fit. */
static size_t
eve_out_done(const struct eve_out *o, const char *buf)
{
	return o->lost ? 0 : (size_t)(o->p - buf);
}

/* ------------------------------------------------------------------ */
/* Numbers, addresses, times                                           */
/* ------------------------------------------------------------------ */

static void eve_escaped(struct eve_out *o, const char *s, size_t n);
static void eve_u64(struct eve_out *o, uint64_t v);
static inline void eve_2d(char *q, unsigned v);

/*
 * |v| in [1e-14, 1e-4), as printf's "%.9g" prints it ("-1.23456789e-05"),
 * without printf (2.5K instructions a call; MAD deviations and steps are
 * often this small). One multiplication by an exact power of ten (10^13 to
 * 10^22) puts the 9 significant digits in the integer part with a single
 * rounding error, under 6e-8 (half an ulp below 2^30); when that error could
 * decide the last digit (the fraction within 2.5e-7 of one half, ties
 * included) or the rounded value reaches 1e-4 (printed in fixed point),
 * this returns 0 and the caller asks printf. Returns 1 when it wrote v.
 */
static int
eve_double_exp(struct eve_out *o, double v, double av)
{
	static const double neg[] = {1e-5,  1e-6,  1e-7,  1e-8,	 1e-9,
				     1e-10, 1e-11, 1e-12, 1e-13, 1e-14};
	static const double pos[] = {1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
	double scaled, whole, frac;
	uint64_t m, rest;
	char tmp[40], *q = tmp;
	int k = 0, dp = 8;

	while (av < neg[k])
		if (++k == (int)(sizeof(neg) / sizeof(neg[0])))
			return 0; /* under 1e-14 */
	scaled = av * pos[k];	  /* [1e8, 1e9) give or take the rounding */
	whole = floor(scaled);
	frac = scaled - whole; /* exact */
	if (EVE_UNLIKELY(fabs(frac - 0.5) < 2.5e-7))
		return 0;
	m = (uint64_t)whole + (frac > 0.5);
	if (m >= 1000000000u) { /* 9.99999999|5e-(k+6) rounded up a decade */
		m /= 10;
		if (--k < 0)
			return 0; /* 1e-4: "%.9g" switches to fixed point */
	}
	if (EVE_UNLIKELY(m < 100000000u))
		return 0;
	if (v < 0)
		*q++ = '-';
	*q++ = (char)('0' + m / 100000000u);
	rest = m % 100000000u;
	if (rest != 0) {
		while (rest % 10 == 0) {
			rest /= 10;
			dp--;
		}
		*q++ = '.';
		for (int n = dp; n > 1; n -= 2, rest /= 100)
			eve_2d(q + n - 2, (unsigned)(rest % 100));
		if (dp & 1)
			q[0] = (char)('0' + rest);
		q += dp;
	}
	memcpy(q, "e-", 2);
	eve_2d(q + 2, (unsigned)(k + 5));
	eve_put(o, tmp, (size_t)(q + 4 - tmp));
	return 1;
}

/*
 * A JSON number with 9 significant digits; null when not finite. Values
 * in [1e-4, 1e15) (all MAD evidence in practice) are printed in fixed
 * point with integer arithmetic: printf's %g was a sixth of an EVE
 * replay's time (perf). Trailing zeros are dropped. Values in
 * [1e-14, 1e-4) get "%.9g"'s exponent form from eve_double_exp; the rest
 * (and the rare digit eve_double_exp cannot decide) use %.9g.
 */
static void
eve_double(struct eve_out *o, double v)
{
	static const uint64_t p10[] = {
		1,	     10,	   100,		  1000,		 10000,
		100000,	     1000000,	   10000000,	  100000000,	 1000000000,
		10000000000, 100000000000, 1000000000000, 10000000000000};
	/* (double)p10[k] * 1e-3, folded by the compiler with the same rounding */
	static const double lim[] = {1e0 * 1e-3,  1e1 * 1e-3,  1e2 * 1e-3, 1e3 * 1e-3, 1e4 * 1e-3,
				     1e5 * 1e-3,  1e6 * 1e-3,  1e7 * 1e-3, 1e8 * 1e-3, 1e9 * 1e-3,
				     1e10 * 1e-3, 1e11 * 1e-3, 1e12 * 1e-3};
	double av = fabs(v);
	uint64_t scaled, ip, fp;
	char tmp[40];
	unsigned dp;
	int n;

	if (!isfinite(v)) {
		EVE_LIT(o, "null");
		return;
	}
	if (v == 0) {
		EVE_LIT(o, "0");
		return;
	}
	if (av < 1e-4 || av >= 1e15) {
		if (av < 1e-4 && eve_double_exp(o, v, av))
			return;
		n = snprintf(tmp, sizeof(tmp), "%.9g", v);
		eve_put(o, tmp, (size_t)n);
		return;
	}
	for (dp = 12; dp > 0 && av >= lim[12 - dp]; dp--)
		; /* decimals for 9 significant digits: av < 10^(9 - dp); 0 from 1e8 up */
	/* llround's result: the product is >= 1e8 and < 2^53, so adding 0.5 is exact */
	scaled = (uint64_t)(av * (double)p10[dp] + 0.5);
	ip = scaled / p10[dp];
	fp = scaled % p10[dp];
	if (v < 0)
		EVE_LIT(o, "-");
	eve_u64(o, ip);
	if (fp == 0)
		return;
	while (fp % 10 == 0) {
		fp /= 10;
		dp--;
	}
	/* ".%0*llu" by hand: dp digits, leading zeros kept (snprintf costs ~850 insns) */
	tmp[0] = '.';
	n = (int)dp;
	for (; n > 1; n -= 2, fp /= 100)
		eve_2d(tmp + n - 1, (unsigned)(fp % 100));
	if (n == 1)
		tmp[1] = (char)('0' + fp);
	eve_put(o, tmp, (size_t)dp + 1);
}

static void
eve_bool(struct eve_out *o, int v)
{
	if (v)
		EVE_LIT(o, "true");
	else
		EVE_LIT(o, "false");
}

/* "s" with s escaped, from a NUL-terminated field of at most max bytes */
static void
eve_string(struct eve_out *o, const char *s, size_t max)
{
	EVE_LIT(o, "\"");
	eve_escaped(o, s, strnlen(s, max));
	EVE_LIT(o, "\"");
}

#define EVE_D10(t) t "0" t "1" t "2" t "3" t "4" t "5" t "6" t "7" t "8" t "9"
/* "00" "01" ... "99": two decimal digits per lookup */
static const char eve_digits2[] = EVE_D10("0") EVE_D10("1") EVE_D10("2") EVE_D10("3") EVE_D10("4")
	EVE_D10("5") EVE_D10("6") EVE_D10("7") EVE_D10("8") EVE_D10("9");
static const char eve_hex[] = "0123456789abcdef";

/* Two digits of v (< 100) at q. */
static inline void
eve_2d(char *q, unsigned v)
{
	memcpy(q, eve_digits2 + 2 * v, 2);
}

/* Decimal digits of v, 1..20: log2 to log10 by 1233/4096, then one compare. */
static inline unsigned
eve_ndigits(uint64_t v)
{
	static const uint64_t p10[20] = {1ull,
					 10ull,
					 100ull,
					 1000ull,
					 10000ull,
					 100000ull,
					 1000000ull,
					 10000000ull,
					 100000000ull,
					 1000000000ull,
					 10000000000ull,
					 100000000000ull,
					 1000000000000ull,
					 10000000000000ull,
					 100000000000000ull,
					 1000000000000000ull,
					 10000000000000000ull,
					 100000000000000000ull,
					 1000000000000000000ull,
					 10000000000000000000ull};
	uint64_t w = v | 1;
	unsigned t = ((unsigned)(64 - __builtin_clzll(w)) * 1233u) >> 12;

	return t + 1 - (w < p10[t]);
}

/* v in decimal, written in place (no copy): two digits per step from the end. */
static inline void
eve_u64(struct eve_out *o, uint64_t v)
{
	unsigned n = eve_ndigits(v);
	char *q;

	if (EVE_UNLIKELY((size_t)(o->end - o->p) < n)) {
		eve_lose(o);
		return;
	}
	q = o->p + n;
	while (v >= 100) {
		unsigned r = (unsigned)(v % 100);

		v /= 100;
		q -= 2;
		eve_2d(q, r);
	}
	if (v >= 10)
		eve_2d(q - 2, (unsigned)v);
	else
		q[-1] = (char)('0' + v);
	o->p += n;
}

/* Dotted quad, no leading zeros (inet_ntop's text); returns the end. */
static char *
eve_ipv4_text(char *q, const uint8_t a[4])
{
	for (int i = 0; i < 4; i++) {
		unsigned v = a[i];

		if (v >= 100) {
			*q++ = (char)('0' + v / 100);
			eve_2d(q, v % 100);
			q += 2;
		} else if (v >= 10) {
			eve_2d(q, v);
			q += 2;
		} else {
			*q++ = (char)('0' + v);
		}
		*q++ = '.';
	}
	return q - 1;
}

/* Suricata's PrintInet for IPv6: eight "%04x" groups, nothing compressed. */
static char *
eve_ipv6_text(char *q, const uint8_t a[16])
{
	for (int i = 0; i < 16; i++) {
		*q++ = eve_hex[a[i] >> 4];
		*q++ = eve_hex[a[i] & 15];
		if (i & 1)
			*q++ = ':';
	}
	return q - 1;
}

/* ip_version 6 is IPv6; anything else is read as IPv4. */
static void
eve_ip(struct eve_out *o, uint8_t ip_version, const uint8_t addr[16])
{
	char tmp[40];
	char *q = ip_version == 6 ? eve_ipv6_text(tmp, addr) : eve_ipv4_text(tmp, addr);

	eve_put(o, tmp, (size_t)(q - tmp));
}

/* The last UTC day formatted by this thread. */
struct eve_day {
	int64_t day;   /* days since the epoch, -1: none yet */
	char date[11]; /* "YYYY-MM-DDT" */
};

static __thread struct eve_day eve_day_cache = {.day = -1};

static void
eve_date_text(char out[11], uint64_t sec)
{
	time_t t = (time_t)sec;
	struct tm tm;
	struct tm *ok = gmtime_r(&t, &tm);
	unsigned year;

	assert(ok != NULL); /* cannot fail below year 10000 with a 64-bit time_t */
	(void)ok;
	year = (unsigned)tm.tm_year + 1900;
	eve_2d(out, year / 100);
	eve_2d(out + 2, year % 100);
	out[4] = '-';
	eve_2d(out + 5, (unsigned)tm.tm_mon + 1);
	out[7] = '-';
	eve_2d(out + 8, (unsigned)tm.tm_mday);
	out[10] = 'T';
}

void
eve_format_time(char out[32], uint64_t ts_us)
{
	uint64_t sec, us;
	unsigned in_day;

	if (ts_us > EVE_TIME_MAX_US)
		ts_us = EVE_TIME_MAX_US;
	sec = ts_us / 1000000u;
	us = ts_us % 1000000u;
	if ((int64_t)(sec / 86400u) != eve_day_cache.day) {
		eve_date_text(eve_day_cache.date, sec);
		eve_day_cache.day = (int64_t)(sec / 86400u);
	}
	in_day = (unsigned)(sec % 86400u);
	memcpy(out, eve_day_cache.date, 11);
	eve_2d(out + 11, in_day / 3600);
	out[13] = ':';
	eve_2d(out + 14, in_day / 60 % 60);
	out[16] = ':';
	eve_2d(out + 17, in_day % 60);
	out[19] = '.';
	eve_2d(out + 20, (unsigned)(us / 10000));
	eve_2d(out + 22, (unsigned)(us / 100 % 100));
	eve_2d(out + 24, (unsigned)(us % 100));
	memcpy(out + 26, "+0000", 6); /* with its NUL: 32 bytes */
}

static void
eve_time(struct eve_out *o, uint64_t ts_us)
{
	char t[32];

	eve_format_time(t, ts_us);
	eve_put(o, t, 31);
}

/* ------------------------------------------------------------------ */
/* Names                                                               */
/* ------------------------------------------------------------------ */

struct eve_name {
	const char *s; /* NULL: no name, print the number */
	uint8_t len;
};

#define EVE_N(num, name) [num] = {name, sizeof(name) - 1}

/* Suricata's known_proto[] (IANA keywords); 144..255 have no name. */
static const struct eve_name eve_proto_names[256] = {
	EVE_N(0, "HOPOPT"),	 EVE_N(1, "ICMP"),	   EVE_N(2, "IGMP"),
	EVE_N(3, "GGP"),	 EVE_N(4, "IP-in-IP"),	   EVE_N(5, "ST"),
	EVE_N(6, "TCP"),	 EVE_N(7, "CBT"),	   EVE_N(8, "EGP"),
	EVE_N(9, "IGP"),	 EVE_N(10, "BBN-RCC-MON"), EVE_N(11, "NVP-II"),
	EVE_N(12, "PUP"),	 EVE_N(13, "ARGUS"),	   EVE_N(14, "EMCON"),
	EVE_N(15, "XNET"),	 EVE_N(16, "CHAOS"),	   EVE_N(17, "UDP"),
	EVE_N(18, "MUX"),	 EVE_N(19, "DCN-MEAS"),	   EVE_N(20, "HMP"),
	EVE_N(21, "PRM"),	 EVE_N(22, "XNS-IDP"),	   EVE_N(23, "TRUNK-1"),
	EVE_N(24, "TRUNK-2"),	 EVE_N(25, "LEAF-1"),	   EVE_N(26, "LEAF-2"),
	EVE_N(27, "RDP"),	 EVE_N(28, "IRTP"),	   EVE_N(29, "ISO-TP4"),
	EVE_N(30, "NETBLT"),	 EVE_N(31, "MFE-NSP"),	   EVE_N(32, "MERIT-INP"),
	EVE_N(33, "DCCP"),	 EVE_N(34, "3PC"),	   EVE_N(35, "IDPR"),
	EVE_N(36, "XTP"),	 EVE_N(37, "DDP"),	   EVE_N(38, "IDPR-CMTP"),
	EVE_N(39, "TP++"),	 EVE_N(40, "IL"),	   EVE_N(41, "IPv6"),
	EVE_N(42, "SDRP"),	 EVE_N(43, "IPv6-Route"),  EVE_N(44, "IPv6-Frag"),
	EVE_N(45, "IDRP"),	 EVE_N(46, "RSVP"),	   EVE_N(47, "GRE"),
	EVE_N(48, "DSR"),	 EVE_N(49, "BNA"),	   EVE_N(50, "ESP"),
	EVE_N(51, "AH"),	 EVE_N(52, "I-NLSP"),	   EVE_N(53, "SwIPe"),
	EVE_N(54, "NARP"),	 EVE_N(55, "MOBILE"),	   EVE_N(56, "TLSP"),
	EVE_N(57, "SKIP"),	 EVE_N(58, "IPv6-ICMP"),   EVE_N(59, "IPv6-NoNxt"),
	EVE_N(60, "IPv6-Opts"),	 EVE_N(61, "Any"),	   EVE_N(62, "CFTP"),
	EVE_N(63, "Any"),	 EVE_N(64, "SAT-EXPAK"),   EVE_N(65, "KRYPTOLAN"),
	EVE_N(66, "RVD"),	 EVE_N(67, "IPPC"),	   EVE_N(68, "Any"),
	EVE_N(69, "SAT-MON"),	 EVE_N(70, "VISA"),	   EVE_N(71, "IPCU"),
	EVE_N(72, "CPNX"),	 EVE_N(73, "CPHB"),	   EVE_N(74, "WSN"),
	EVE_N(75, "PVP"),	 EVE_N(76, "BR-SAT-MON"),  EVE_N(77, "SUN-ND"),
	EVE_N(78, "WB-MON"),	 EVE_N(79, "WB-EXPAK"),	   EVE_N(80, "ISO-IP"),
	EVE_N(81, "VMTP"),	 EVE_N(82, "SECURE-VMTP"), EVE_N(83, "VINES"),
	EVE_N(84, "TTP"),	 EVE_N(85, "NSFNET-IGP"),  EVE_N(86, "DGP"),
	EVE_N(87, "TCF"),	 EVE_N(88, "EIGRP"),	   EVE_N(89, "OSPF"),
	EVE_N(90, "Sprite-RPC"), EVE_N(91, "LARP"),	   EVE_N(92, "MTP"),
	EVE_N(93, "AX.25"),	 EVE_N(94, "OS"),	   EVE_N(95, "MICP"),
	EVE_N(96, "SCC-SP"),	 EVE_N(97, "ETHERIP"),	   EVE_N(98, "ENCAP"),
	EVE_N(99, "Any"),	 EVE_N(100, "GMTP"),	   EVE_N(101, "IFMP"),
	EVE_N(102, "PNNI"),	 EVE_N(103, "PIM"),	   EVE_N(104, "ARIS"),
	EVE_N(105, "SCPS"),	 EVE_N(106, "QNX"),	   EVE_N(107, "A/N"),
	EVE_N(108, "IPComp"),	 EVE_N(109, "SNP"),	   EVE_N(110, "Compaq-Peer"),
	EVE_N(111, "IPX-in-IP"), EVE_N(112, "VRRP"),	   EVE_N(113, "PGM"),
	EVE_N(114, "Any"),	 EVE_N(115, "L2TP"),	   EVE_N(116, "DDX"),
	EVE_N(117, "IATP"),	 EVE_N(118, "STP"),	   EVE_N(119, "SRP"),
	EVE_N(120, "UTI"),	 EVE_N(121, "SMP"),	   EVE_N(122, "SM"),
	EVE_N(123, "PTP"),	 EVE_N(124, "IS-IS"),	   EVE_N(125, "FIRE"),
	EVE_N(126, "CRTP"),	 EVE_N(127, "CRUDP"),	   EVE_N(128, "SSCOPMCE"),
	EVE_N(129, "IPLT"),	 EVE_N(130, "SPS"),	   EVE_N(131, "PIPE"),
	EVE_N(132, "SCTP"),	 EVE_N(133, "FC"),	   EVE_N(134, "RSVP-E2E-IGNORE"),
	EVE_N(135, "Mobility"),	 EVE_N(136, "UDPLite"),	   EVE_N(137, "MPLS-in-IP"),
	EVE_N(138, "manet"),	 EVE_N(139, "HIP"),	   EVE_N(140, "Shim6"),
	EVE_N(141, "WESP"),	 EVE_N(142, "ROHC"),	   EVE_N(143, "Ethernet"),
};

/* flow.state, by enum flow_record_state */
static const struct eve_name eve_state_names[] = {
	EVE_N(FLOW_RECORD_STATE_NEW, "new"),
	EVE_N(FLOW_RECORD_STATE_ESTABLISHED, "established"),
	EVE_N(FLOW_RECORD_STATE_CLOSED, "closed"),
};

/* flow.reason, by enum flow_record_reason */
static const struct eve_name eve_reason_names[] = {
	EVE_N(FLOW_RECORD_REASON_TIMEOUT, "timeout"),
	EVE_N(FLOW_RECORD_REASON_FORCED, "forced"),
	EVE_N(FLOW_RECORD_REASON_SHUTDOWN, "shutdown"),
	EVE_N(FLOW_RECORD_REASON_ACTIVE, "active"),
};

/* tcp.state, by enum flow_record_tcp_state (Suricata's StreamTcpStateAsString) */
static const struct eve_name eve_tcp_state_names[] = {
	EVE_N(FLOW_RECORD_TCP_NONE, "none"),
	EVE_N(FLOW_RECORD_TCP_SYN_SENT, "syn_sent"),
	EVE_N(FLOW_RECORD_TCP_SYN_RECV, "syn_recv"),
	EVE_N(FLOW_RECORD_TCP_ESTABLISHED, "established"),
	EVE_N(FLOW_RECORD_TCP_FIN_WAIT1, "fin_wait1"),
	EVE_N(FLOW_RECORD_TCP_FIN_WAIT2, "fin_wait2"),
	EVE_N(FLOW_RECORD_TCP_TIME_WAIT, "time_wait"),
	EVE_N(FLOW_RECORD_TCP_LAST_ACK, "last_ack"),
	EVE_N(FLOW_RECORD_TCP_CLOSE_WAIT, "close_wait"),
	EVE_N(FLOW_RECORD_TCP_CLOSING, "closing"),
	EVE_N(FLOW_RECORD_TCP_CLOSED, "closed"),
};

/* One "true" per TCP flag set, in EveTcpFlags' order (not bit order). */
static const struct {
	uint8_t mask;
	struct eve_name key;
} eve_tcp_flag_keys[] = {
	{0x02, {",\"syn\":true", 11}}, {0x01, {",\"fin\":true", 11}}, {0x04, {",\"rst\":true", 11}},
	{0x08, {",\"psh\":true", 11}}, {0x10, {",\"ack\":true", 11}}, {0x20, {",\"urg\":true", 11}},
	{0x40, {",\"ecn\":true", 11}}, {0x80, {",\"cwr\":true", 11}},
};

#define EVE_NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Name i of table t (n entries), or "unknown" past its end. */
static void
eve_enum(struct eve_out *o, const struct eve_name *t, size_t n, unsigned i)
{
	if (EVE_UNLIKELY(i >= n))
		EVE_LIT(o, "unknown");
	else
		eve_put(o, t[i].s, t[i].len);
}

static void
eve_hex2(struct eve_out *o, uint8_t v)
{
	char h[2] = {eve_hex[v >> 4], eve_hex[v & 15]};

	eve_put(o, h, 2);
}

/* ------------------------------------------------------------------ */
/* Flow event                                                          */
/* ------------------------------------------------------------------ */

static int
eve_has_ports(uint8_t proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP;
}

/* {"timestamp":..,"flow_id":..,"event_type":"flow"[,"vlan":[..]]; end: end_us as text */
static void
eve_flow_head(struct eve_out *o, const struct flow_record *r, const char *end)
{
	EVE_LIT(o, "{\"timestamp\":\"");
	eve_put(o, end, 31);
	EVE_LIT(o, "\",\"flow_id\":");
	eve_u64(o, r->flow_id);
	EVE_LIT(o, ",\"event_type\":\"flow\"");
	if (r->vlan[0] == 0)
		return;
	EVE_LIT(o, ",\"vlan\":[");
	eve_u64(o, r->vlan[0]);
	if (r->vlan[1] != 0) {
		EVE_LIT(o, ",");
		eve_u64(o, r->vlan[1]);
	}
	EVE_LIT(o, "]");
}

static void
eve_flow_proto(struct eve_out *o, uint8_t proto)
{
	const struct eve_name *n = &eve_proto_names[proto];

	EVE_LIT(o, ",\"proto\":\"");
	if (n->s != NULL)
		eve_put(o, n->s, n->len);
	else
		eve_u64(o, proto);
	EVE_LIT(o, "\"");
}

static void
eve_flow_icmp(struct eve_out *o, const struct flow_record *r)
{
	EVE_LIT(o, ",\"icmp_type\":");
	eve_u64(o, r->icmp_type);
	EVE_LIT(o, ",\"icmp_code\":");
	eve_u64(o, r->icmp_code);
	if (!(r->flags & FLOW_RECORD_F_ICMP_RESP))
		return;
	EVE_LIT(o, ",\"response_icmp_type\":");
	eve_u64(o, r->resp_icmp_type);
	EVE_LIT(o, ",\"response_icmp_code\":");
	eve_u64(o, r->resp_icmp_code);
}

/* src_ip, src_port, dest_ip, dest_port, proto, icmp_* */
static void
eve_flow_tuple(struct eve_out *o, const struct flow_record *r)
{
	int ports = eve_has_ports(r->proto);

	EVE_LIT(o, ",\"src_ip\":\"");
	eve_ip(o, r->ip_version, r->src_ip);
	EVE_LIT(o, "\"");
	if (ports) {
		EVE_LIT(o, ",\"src_port\":");
		eve_u64(o, r->src_port);
	}
	EVE_LIT(o, ",\"dest_ip\":\"");
	eve_ip(o, r->ip_version, r->dst_ip);
	EVE_LIT(o, "\"");
	if (ports) {
		EVE_LIT(o, ",\"dest_port\":");
		eve_u64(o, r->dst_port);
	}
	eve_flow_proto(o, r->proto);
	if (r->proto == IPPROTO_ICMP || r->proto == IPPROTO_ICMPV6)
		eve_flow_icmp(o, r);
}

/* "app_proto": nDPI's name, or "failed" when it gave up knowing nothing (as Suricata) */
static void
eve_flow_app_proto(struct eve_out *o, const struct flow_record *r)
{
	if (r->app.how == APPID_HOW_NONE || r->app.name[0] == '\0')
		return;
	EVE_LIT(o, ",\"app_proto\":");
	if (r->app.how == APPID_HOW_UNKNOWN)
		EVE_LIT(o, "\"failed\"");
	else
		eve_string(o, r->app.name, sizeof(r->app.name));
}

/* "flow":{...}: counters, times, age, state, reason, alerted */
static void
eve_flow_object(struct eve_out *o, const struct flow_record *r, const char *end)
{
	uint64_t start_s = r->start_us / 1000000u, end_s = r->end_us / 1000000u;

	EVE_LIT(o, ",\"flow\":{\"pkts_toserver\":");
	eve_u64(o, r->pkts_toserver);
	EVE_LIT(o, ",\"pkts_toclient\":");
	eve_u64(o, r->pkts_toclient);
	EVE_LIT(o, ",\"bytes_toserver\":");
	eve_u64(o, r->bytes_toserver);
	EVE_LIT(o, ",\"bytes_toclient\":");
	eve_u64(o, r->bytes_toclient);
	EVE_LIT(o, ",\"start\":\"");
	eve_time(o, r->start_us);
	EVE_LIT(o, "\",\"end\":\"");
	eve_put(o, end, 31);
	EVE_LIT(o, "\",\"age\":");
	eve_u64(o, end_s > start_s ? end_s - start_s : 0);
	EVE_LIT(o, ",\"state\":\"");
	eve_enum(o, eve_state_names, EVE_NELEM(eve_state_names), r->state);
	EVE_LIT(o, "\",\"reason\":\"");
	eve_enum(o, eve_reason_names, EVE_NELEM(eve_reason_names), r->reason);
	EVE_LIT(o, "\",\"alerted\":false}");
}

/* "tcp":{...}: flags as hex, one true per flag, session state */
static void
eve_flow_tcp(struct eve_out *o, const struct flow_record *r)
{
	uint8_t all = r->tcp_flags_ts | r->tcp_flags_tc;

	EVE_LIT(o, ",\"tcp\":{\"tcp_flags\":\"");
	eve_hex2(o, all);
	EVE_LIT(o, "\",\"tcp_flags_ts\":\"");
	eve_hex2(o, r->tcp_flags_ts);
	EVE_LIT(o, "\",\"tcp_flags_tc\":\"");
	eve_hex2(o, r->tcp_flags_tc);
	EVE_LIT(o, "\"");
	for (size_t i = 0; i < EVE_NELEM(eve_tcp_flag_keys); i++)
		if (all & eve_tcp_flag_keys[i].mask)
			eve_put(o, eve_tcp_flag_keys[i].key.s, eve_tcp_flag_keys[i].key.len);
	if (r->tcp_state < EVE_NELEM(eve_tcp_state_names)) {
		const struct eve_name *n = &eve_tcp_state_names[r->tcp_state];

		EVE_LIT(o, ",\"state\":\"");
		eve_put(o, n->s, n->len);
		EVE_LIT(o, "\"");
	}
	EVE_LIT(o, "}");
}

/*
 * Metric and group names, quoted and escaped once per thread: they are a
 * handful of fixed strings (score.c's tables), written 2 x 6 times a
 * record with MAD on; escaping them each time cost ~170 instructions.
 */
#define EVE_QUOTED_MAX 16

struct eve_quoted {
	uint8_t len; /* 0: not built yet; EVE_QUOTED_NONE: does not fit, escape each time */
	char s[47];
};

#define EVE_QUOTED_NONE UINT8_MAX

static __thread struct eve_quoted eve_metric_quoted[EVE_QUOTED_MAX];
static __thread struct eve_quoted eve_group_quoted[EVE_QUOTED_MAX];

/* "name" escaped, name being entry i of a fixed table (cache: that table's). */
static void
eve_quoted(struct eve_out *o, struct eve_quoted *cache, unsigned i, const char *name)
{
	struct eve_quoted *q = i < EVE_QUOTED_MAX ? &cache[i] : NULL;

	if (q != NULL && q->len == 0) {
		struct eve_out t;
		size_t n;

		eve_out_init(&t, q->s, sizeof(q->s));
		eve_string(&t, name, strlen(name));
		n = eve_out_done(&t, q->s);
		q->len = n != 0 ? (uint8_t)n : EVE_QUOTED_NONE;
	}
	if (q != NULL && q->len != EVE_QUOTED_NONE)
		eve_put(o, q->s, q->len);
	else
		eve_string(o, name, strlen(name));
}

/* One MAD evidence object: {"metric":..,"group":..,"key":..,"value":..,...} */
static void
eve_score(struct eve_out *o, const struct score_result *s)
{
	EVE_LIT(o, "{\"metric\":");
	eve_quoted(o, eve_metric_quoted, (unsigned)s->metric, score_metric_name(s->metric));
	EVE_LIT(o, ",\"group\":");
	eve_quoted(o, eve_group_quoted, (unsigned)s->group, score_group_name(s->group));
	EVE_LIT(o, ",\"key\":");
	eve_string(o, s->group_key, sizeof(s->group_key));
	EVE_LIT(o, ",\"value\":");
	eve_double(o, s->value);
	EVE_LIT(o, ",\"median\":");
	eve_double(o, s->median);
	EVE_LIT(o, ",\"mad\":");
	eve_double(o, s->mad);
	EVE_LIT(o, ",\"n\":");
	eve_u64(o, s->n);
	EVE_LIT(o, ",\"score\":");
	eve_double(o, s->score);
	EVE_LIT(o, ",\"zscore\":");
	eve_double(o, s->zscore);
	EVE_LIT(o, ",\"threshold\":");
	eve_double(o, s->threshold);
	EVE_LIT(o, ",\"outlier\":");
	eve_bool(o, s->outlier);
	EVE_LIT(o, ",\"burn_in\":");
	eve_bool(o, s->burn_in);
	EVE_LIT(o, "}");
}

static const char *const eve_tunnel_names[] = {
	[FLOW_RECORD_TUNNEL_IPIP] = "ipip",
	[FLOW_RECORD_TUNNEL_GRE] = "gre",
	[FLOW_RECORD_TUNNEL_VXLAN] = "vxlan",
	[FLOW_RECORD_TUNNEL_TEREDO] = "teredo",
};

static const char *const eve_app_how_names[] = {
	[APPID_HOW_DPI] = "dpi",
	[APPID_HOW_GUESS] = "guess",
	[APPID_HOW_UNKNOWN] = "unknown",
};

/* darter's nDPI details: application, category, how it was named */
static void
eve_darter_app(struct eve_out *o, const struct appid_result *a)
{
	if (a->how == APPID_HOW_NONE || a->how >= EVE_NELEM(eve_app_how_names))
		return;
	if (a->app[0] != '\0') {
		EVE_LIT(o, ",\"app\":");
		eve_string(o, a->app, sizeof(a->app));
	}
	if (a->category[0] != '\0') {
		EVE_LIT(o, ",\"app_category\":");
		eve_string(o, a->category, sizeof(a->category));
	}
	EVE_LIT(o, ",\"app_how\":\"");
	eve_put(o, eve_app_how_names[a->how], strlen(eve_app_how_names[a->how]));
	EVE_LIT(o, "\"");
}

/* "darter":{...}: lcore, tunnel, nDPI details, MAD evidence */
static void
eve_darter(struct eve_out *o, const struct flow_record *r, const struct eve_flow_extra *x)
{
	EVE_LIT(o, ",\"darter\":{\"lcore\":");
	eve_u64(o, r->lcore);
	if (r->tunnel != FLOW_RECORD_TUNNEL_NONE && r->tunnel < EVE_NELEM(eve_tunnel_names)) {
		EVE_LIT(o, ",\"tunnel\":\"");
		eve_put(o, eve_tunnel_names[r->tunnel], strlen(eve_tunnel_names[r->tunnel]));
		EVE_LIT(o, "\"");
	}
	eve_darter_app(o, &r->app);
	if (x != NULL && x->n_scores > 0) {
		EVE_LIT(o, ",\"mad\":[");
		for (unsigned i = 0; i < x->n_scores; i++) {
			if (i > 0)
				EVE_LIT(o, ",");
			eve_score(o, &x->scores[i]);
		}
		EVE_LIT(o, "]");
	}
	if (x != NULL && x->annotations != NULL && x->annotations_len > 0) {
		EVE_LIT(o, ",\"annotations\":{");
		eve_put(o, x->annotations, x->annotations_len);
		EVE_LIT(o, "}");
	}
	EVE_LIT(o, "}");
}

static void
eve_community_id(struct eve_out *o, const struct eve_flow_extra *x)
{
	if (x == NULL || x->community_id == NULL)
		return;
	EVE_LIT(o, ",\"community_id\":");
	eve_string(o, x->community_id, strlen(x->community_id));
}

size_t
eve_format_flow(char *buf, size_t cap, const struct flow_record *r, const struct eve_flow_extra *x)
{
	struct eve_out o;
	char end[32];

	if (buf == NULL || cap == 0)
		return 0;
	eve_format_time(end, r->end_us);
	eve_out_init(&o, buf, cap);
	eve_flow_head(&o, r, end);
	eve_flow_tuple(&o, r);
	eve_flow_app_proto(&o, r);
	eve_community_id(&o, x);
	eve_flow_object(&o, r, end);
	if (r->proto == IPPROTO_TCP)
		eve_flow_tcp(&o, r);
	eve_darter(&o, r, x);
	EVE_LIT(&o, "}\n");
	return eve_out_done(&o, buf);
}

/* "alert":{...} for a MAD outlier: one signature per (metric, group) */
static void
eve_outlier_alert(struct eve_out *o, const struct score_result *s)
{
	const char *metric = score_metric_name(s->metric), *group = score_group_name(s->group);

	EVE_LIT(o, ",\"alert\":{\"action\":\"allowed\",\"gid\":");
	eve_u64(o, EVE_OUTLIER_GID);
	EVE_LIT(o, ",\"signature_id\":");
	eve_u64(o, EVE_OUTLIER_SID_BASE + 16u * (unsigned)s->metric + (unsigned)s->group);
	EVE_LIT(o, ",\"rev\":1,\"signature\":\"DARTER MAD outlier ");
	eve_escaped(o, metric, strlen(metric));
	EVE_LIT(o, "/");
	eve_escaped(o, group, strlen(group));
	EVE_LIT(o, "\",\"category\":\"Statistical outlier\",\"severity\":3}");
}

size_t
eve_format_outlier(char *buf, size_t cap, const struct flow_record *r,
		   const struct eve_flow_extra *x, unsigned i)
{
	struct eve_out o;
	char end[32];

	if (buf == NULL || cap == 0 || x == NULL || i >= x->n_scores)
		return 0;
	eve_format_time(end, r->end_us);
	eve_out_init(&o, buf, cap);
	EVE_LIT(&o, "{\"timestamp\":\"");
	eve_put(&o, end, 31);
	EVE_LIT(&o, "\",\"flow_id\":");
	eve_u64(&o, r->flow_id);
	EVE_LIT(&o, ",\"event_type\":\"alert\"");
	eve_flow_tuple(&o, r);
	eve_flow_app_proto(&o, r);
	eve_community_id(&o, x);
	eve_outlier_alert(&o, &x->scores[i]);
	eve_flow_object(&o, r, end);
	EVE_LIT(&o, ",\"darter\":{\"lcore\":");
	eve_u64(&o, r->lcore);
	EVE_LIT(&o, ",\"mad\":[");
	eve_score(&o, &x->scores[i]);
	EVE_LIT(&o, "]}}\n");
	return eve_out_done(&o, buf);
}

/* ------------------------------------------------------------------ */
/* Stats event                                                         */
/* ------------------------------------------------------------------ */

/* Bit i set when v[i] needs escaping in JSON: a control, '"' or '\\'. */
#ifdef __SSE2__
static inline unsigned
eve_escape_mask(const unsigned char *p)
{
	const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
	const __m128i ctl = _mm_set1_epi8(0x1f);
	__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
	__m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
				 _mm_cmpeq_epi8(_mm_min_epu8(v, ctl), v)); /* v <= 0x1f */

	return (unsigned)_mm_movemask_epi8(m);
}
#endif

/*
 * The first byte of [p, end) that JSON needs escaped: a control, '"' or
 * '\\'; end if none. base <= p is the start of the string. Sixteen bytes
 * at a time where SSE2 is there; a tail shorter than that is read as the
 * string's last sixteen bytes (overlapping what was scanned, masked off)
 * when the string is that long, rather than byte by byte.
 */
static inline const unsigned char *
eve_escape_scan(const unsigned char *base, const unsigned char *p, const unsigned char *end)
{
#ifdef __SSE2__
	unsigned mask;

	while (end - p >= 16) {
		mask = eve_escape_mask(p);
		if (mask != 0)
			return p + __builtin_ctz(mask);
		p += 16;
	}
	if (p < end && end - base >= 16) {
		mask = eve_escape_mask(end - 16) >> (16 - (end - p)); /* bits of [p, end) only */
		return mask != 0 ? p + __builtin_ctz(mask) : end;
	}
#else
	(void)base;
#endif
	while (p < end && *p >= 0x20 && *p != '"' && *p != '\\')
		p++;
	return p;
}

/* s[0..n) as JSON string content: '"', '\\' and controls escaped. */
static void
eve_escaped(struct eve_out *o, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n, *run = p;

	while ((p = eve_escape_scan((const unsigned char *)s, p, end)) < end) {
		unsigned char c = *p;

		eve_put(o, (const char *)run, (size_t)(p - run));
		if (c < 0x20) {
			const char esc[6] = {'\\', 'u', '0', '0', eve_hex[c >> 4], eve_hex[c & 15]};

			eve_put(o, esc, 6);
		} else {
			const char esc[2] = {'\\', (char)c};

			eve_put(o, esc, 2);
		}
		run = ++p;
	}
	eve_put(o, (const char *)run, (size_t)(end - run));
}

static void
eve_key(struct eve_out *o, const char *s, size_t n)
{
	EVE_LIT(o, "\"");
	eve_escaped(o, s, n);
	EVE_LIT(o, "\":");
}

/* Number of object names in a dotted name: its dots. */
static size_t
eve_dirs(const char *name)
{
	size_t n = 0;

	while ((name = strchr(name, '.')) != NULL) {
		n++;
		name++;
	}
	return n;
}

/* Number of leading object names ("x." segments) that a and b share. */
static size_t
eve_common_dirs(const char *a, const char *b)
{
	size_t k = 0;

	for (;;) {
		const char *da = strchr(a, '.'), *db = strchr(b, '.');

		if (da == NULL || db == NULL || da - a != db - b || memcmp(a, b, (size_t)(da - a)))
			return k;
		k++;
		a = da + 1;
		b = db + 1;
	}
}

/*
 * One counter after prev (NULL: the first): close prev's objects that name
 * does not share, open name's new ones, then write the leaf. "uptime"
 * always precedes, so the first thing written takes a comma.
 */
static void
eve_stats_counter(struct eve_out *o, const char *prev, const char *name, uint64_t v)
{
	size_t common = prev != NULL ? eve_common_dirs(prev, name) : 0;
	const char *dot;

	for (size_t i = prev != NULL ? eve_dirs(prev) : 0; i > common; i--)
		EVE_LIT(o, "}");
	EVE_LIT(o, ",");
	for (size_t i = 0; i < common; i++)
		name = strchr(name, '.') + 1;
	while ((dot = strchr(name, '.')) != NULL) {
		eve_key(o, name, (size_t)(dot - name));
		EVE_LIT(o, "{");
		name = dot + 1;
	}
	eve_key(o, name, strlen(name));
	eve_u64(o, v);
}

size_t
eve_format_stats(char *buf, size_t cap, uint64_t ts_us, uint64_t uptime_s,
		 const struct eve_counter *c, size_t n)
{
	struct eve_out o;
	const char *prev = NULL;

	if (buf == NULL || cap == 0)
		return 0;
	eve_out_init(&o, buf, cap);
	EVE_LIT(&o, "{\"timestamp\":\"");
	eve_time(&o, ts_us);
	EVE_LIT(&o, "\",\"event_type\":\"stats\",\"stats\":{\"uptime\":");
	eve_u64(&o, uptime_s);
	for (size_t i = 0; i < n; i++) {
		assert(c[i].name != NULL);
		eve_stats_counter(&o, prev, c[i].name, c[i].value);
		prev = c[i].name;
	}
	for (size_t i = prev != NULL ? eve_dirs(prev) : 0; i > 0; i--)
		EVE_LIT(&o, "}");
	EVE_LIT(&o, "}}\n");
	return eve_out_done(&o, buf);
}
