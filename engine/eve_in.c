/*
 * eve_in.c: Suricata EVE JSON lines to flow records.
 *
 * What: one line is checked as strict JSON (RFC 8259: grammar, UTF-8,
 * escapes, surrogate pairs) and, when its event_type is "flow", turned into
 * a struct flow_record: times to microseconds since the epoch (any UTC
 * offset), addresses through inet_pton (any textual IPv4/IPv6 form),
 * Suricata's protocol, state and reason names to the record's numbers,
 * hex TCP flags to bytes. Integers are read as exact unsigned 64-bit
 * values (flow_id never passes through a double). Other event types are
 * reported by name; their document is built with jansson only when a
 * caller asks (eve_in_doc).
 *
 * How: a single pass over the bytes, no allocation, no copy of the line.
 * The scanner is recursive descent with a depth bound; each object key is
 * matched against the few keys a flow event needs (length, then bytes),
 * and every other value is skipped, still fully validated. Field problems
 * (a null, a wrong type, a bad time) are remembered and only refuse the
 * line when it turns out to be a flow event: a "flow" object inside an
 * alert is not a flow record. Syntax problems refuse any line. jansson
 * costs a few microseconds per line (tests/input/bench_parse), which is
 * why it is not on the flow path.
 *
 * Choices: null where darter reads a value refuses the line (EVE_IN_ERR_NULL);
 * null elsewhere is valid JSON and passes. Duplicate keys: the last one
 * wins (as jansson). Unknown keys are ignored. Of the "vlan" array the
 * first two IDs are kept (the record has two). A flow state "bypassed"
 * (and its local_/capture_ forms) reads as established, the reason
 * "tcp_reuse" as forced. app_proto "failed" keeps its text with
 * APPID_HOW_UNKNOWN; any other app_proto is APPID_HOW_DPI. Protocol names
 * match case-insensitively.
 *
 * Not here: reading lines (input_file.c), normalising foreign JSON (Lua
 * input scripts), anything about the records after parsing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <jansson.h>

#include "eve_in.h"

#define EVE_IN_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define EVE_IN_LIKELY(x)   __builtin_expect(!!(x), 1)
#define EVE_IN_NELEM(a)	   (sizeof(a) / sizeof((a)[0]))

/* Longest string value decoded for a field (addresses, names, times). */
#define EVE_IN_STR_MAX 64

struct eve_in {
	struct eve_in_conf conf;
	struct eve_in_stats st;
	enum eve_in_error err;
	const char *err_field;
	const char *line; /* the last line: eve_in_doc parses it */
	size_t len;
	int other;    /* the last line was EVE_IN_OTHER */
	int doc_done; /* eve_in_doc ran for it */
	json_t *doc;
	char type[EVE_IN_TYPE_LEN + 1];
};

/* ------------------------------------------------------------------ */
/* Names                                                               */
/* ------------------------------------------------------------------ */

static const char *const eve_in_error_names[EVE_IN_ERR__COUNT] = {
	[EVE_IN_OK] = "ok",
	[EVE_IN_ERR_TOO_LONG] = "too_long",
	[EVE_IN_ERR_EMPTY] = "empty",
	[EVE_IN_ERR_SYNTAX] = "syntax",
	[EVE_IN_ERR_TRUNCATED] = "truncated",
	[EVE_IN_ERR_UTF8] = "utf8",
	[EVE_IN_ERR_DEPTH] = "depth",
	[EVE_IN_ERR_NOT_OBJECT] = "not_object",
	[EVE_IN_ERR_NO_EVENT_TYPE] = "no_event_type",
	[EVE_IN_ERR_NULL] = "null",
	[EVE_IN_ERR_TYPE] = "type",
	[EVE_IN_ERR_MISSING] = "missing",
	[EVE_IN_ERR_RANGE] = "range",
	[EVE_IN_ERR_TIME] = "time",
	[EVE_IN_ERR_ADDR] = "addr",
	[EVE_IN_ERR_VALUE] = "value",
};

/* Suricata's known_proto[] (src/util-proto-name.c), as engine/eve.c writes them. */
static const char *const eve_in_proto_names[144] = {
	"HOPOPT",      "ICMP",	     "IGMP",	    "GGP",	  "IP-in-IP",
	"ST",	       "TCP",	     "CBT",	    "EGP",	  "IGP",
	"BBN-RCC-MON", "NVP-II",     "PUP",	    "ARGUS",	  "EMCON",
	"XNET",	       "CHAOS",	     "UDP",	    "MUX",	  "DCN-MEAS",
	"HMP",	       "PRM",	     "XNS-IDP",	    "TRUNK-1",	  "TRUNK-2",
	"LEAF-1",      "LEAF-2",     "RDP",	    "IRTP",	  "ISO-TP4",
	"NETBLT",      "MFE-NSP",    "MERIT-INP",   "DCCP",	  "3PC",
	"IDPR",	       "XTP",	     "DDP",	    "IDPR-CMTP",  "TP++",
	"IL",	       "IPv6",	     "SDRP",	    "IPv6-Route", "IPv6-Frag",
	"IDRP",	       "RSVP",	     "GRE",	    "DSR",	  "BNA",
	"ESP",	       "AH",	     "I-NLSP",	    "SwIPe",	  "NARP",
	"MOBILE",      "TLSP",	     "SKIP",	    "IPv6-ICMP",  "IPv6-NoNxt",
	"IPv6-Opts",   "Any",	     "CFTP",	    "Any",	  "SAT-EXPAK",
	"KRYPTOLAN",   "RVD",	     "IPPC",	    "Any",	  "SAT-MON",
	"VISA",	       "IPCU",	     "CPNX",	    "CPHB",	  "WSN",
	"PVP",	       "BR-SAT-MON", "SUN-ND",	    "WB-MON",	  "WB-EXPAK",
	"ISO-IP",      "VMTP",	     "SECURE-VMTP", "VINES",	  "TTP",
	"NSFNET-IGP",  "DGP",	     "TCF",	    "EIGRP",	  "OSPF",
	"Sprite-RPC",  "LARP",	     "MTP",	    "AX.25",	  "OS",
	"MICP",	       "SCC-SP",     "ETHERIP",	    "ENCAP",	  "Any",
	"GMTP",	       "IFMP",	     "PNNI",	    "PIM",	  "ARIS",
	"SCPS",	       "QNX",	     "A/N",	    "IPComp",	  "SNP",
	"Compaq-Peer", "IPX-in-IP",  "VRRP",	    "PGM",	  "Any",
	"L2TP",	       "DDX",	     "IATP",	    "STP",	  "SRP",
	"UTI",	       "SMP",	     "SM",	    "PTP",	  "IS-IS",
	"FIRE",	       "CRTP",	     "CRUDP",	    "SSCOPMCE",	  "IPLT",
	"SPS",	       "PIPE",	     "SCTP",	    "FC",	  "RSVP-E2E-IGNORE",
	"Mobility",    "UDPLite",    "MPLS-in-IP",  "manet",	  "HIP",
	"Shim6",       "WESP",	     "ROHC",	    "Ethernet",
};

struct eve_in_name {
	const char *s;
	uint8_t v;
};

static const struct eve_in_name eve_in_states[] = {
	{"new", FLOW_RECORD_STATE_NEW},
	{"established", FLOW_RECORD_STATE_ESTABLISHED},
	{"closed", FLOW_RECORD_STATE_CLOSED},
	{"bypassed", FLOW_RECORD_STATE_ESTABLISHED},
	{"local_bypassed", FLOW_RECORD_STATE_ESTABLISHED},
	{"capture_bypassed", FLOW_RECORD_STATE_ESTABLISHED},
};

static const struct eve_in_name eve_in_reasons[] = {
	{"timeout", FLOW_RECORD_REASON_TIMEOUT},   {"forced", FLOW_RECORD_REASON_FORCED},
	{"shutdown", FLOW_RECORD_REASON_SHUTDOWN}, {"active", FLOW_RECORD_REASON_ACTIVE},
	{"tcp_reuse", FLOW_RECORD_REASON_FORCED},
};

static const struct eve_in_name eve_in_tcp_states[] = {
	{"none", FLOW_RECORD_TCP_NONE},
	{"syn_sent", FLOW_RECORD_TCP_SYN_SENT},
	{"syn_recv", FLOW_RECORD_TCP_SYN_RECV},
	{"established", FLOW_RECORD_TCP_ESTABLISHED},
	{"fin_wait1", FLOW_RECORD_TCP_FIN_WAIT1},
	{"fin_wait2", FLOW_RECORD_TCP_FIN_WAIT2},
	{"time_wait", FLOW_RECORD_TCP_TIME_WAIT},
	{"last_ack", FLOW_RECORD_TCP_LAST_ACK},
	{"close_wait", FLOW_RECORD_TCP_CLOSE_WAIT},
	{"closing", FLOW_RECORD_TCP_CLOSING},
	{"closed", FLOW_RECORD_TCP_CLOSED},
};

/* ------------------------------------------------------------------ */
/* Scanner                                                             */
/* ------------------------------------------------------------------ */

/* Fields a flow event must have (struct eve_scan.seen bits). */
enum {
	EVE_IN_F_FLOW_ID = 1u << 0,
	EVE_IN_F_SRC_IP = 1u << 1,
	EVE_IN_F_DST_IP = 1u << 2,
	EVE_IN_F_PROTO = 1u << 3,
	EVE_IN_F_START = 1u << 4,
	EVE_IN_F_END = 1u << 5,
	EVE_IN_F_PKTS_TS = 1u << 6,
	EVE_IN_F_PKTS_TC = 1u << 7,
	EVE_IN_F_BYTES_TS = 1u << 8,
	EVE_IN_F_BYTES_TC = 1u << 9,
	EVE_IN_F_STATE = 1u << 10,
	EVE_IN_F_REASON = 1u << 11,
	EVE_IN_F_SRC_PORT = 1u << 12, /* required for TCP, UDP and SCTP */
	EVE_IN_F_DST_PORT = 1u << 13,
	EVE_IN_F_TCP_FLAGS = 1u << 14, /* tcp.tcp_flags: stands for _ts when that is absent */
	EVE_IN_F_TCP_TS = 1u << 15,
};

/* Names of the required bits, for eve_in_last_field(), in bit order. */
static const char *const eve_in_required_names[] = {
	"flow_id",
	"src_ip",
	"dest_ip",
	"proto",
	"flow.start",
	"flow.end",
	"flow.pkts_toserver",
	"flow.pkts_toclient",
	"flow.bytes_toserver",
	"flow.bytes_toclient",
	"flow.state",
	"flow.reason",
	"src_port",
	"dest_port",
};

#define EVE_IN_F_REQUIRED 0x0fffu

enum eve_in_kind {
	EVE_IN_KIND_UNKNOWN, /* no event_type yet */
	EVE_IN_KIND_FLOW,
	EVE_IN_KIND_OTHER,
	EVE_IN_KIND_BAD, /* event_type not a usable string */
};

struct eve_scan {
	const unsigned char *p; /* next byte */
	const unsigned char *end;
	enum eve_in_error err;	     /* first syntax error: the scan stops */
	enum eve_in_error field_err; /* first field error: refuses flow events only */
	const char *field;	     /* key of field_err */
	unsigned depth;
	enum eve_in_kind kind;
	uint32_t seen; /* EVE_IN_F_* */
	struct flow_record *rec;
	struct eve_in *in;
	uint8_t tcp_flags; /* tcp.tcp_flags */
	uint8_t app_how;   /* darter.app_how, 0: absent */
};

/* A string token: the raw bytes between the quotes. */
struct eve_str {
	const unsigned char *p;
	size_t len;
	int esc; /* has backslash escapes: decode before use */
};

/* A number token. v is exact for integers up to UINT64_MAX. */
struct eve_num {
	uint64_t v;
	uint8_t neg;
	uint8_t real; /* has a fraction or an exponent */
	uint8_t big;  /* integer part beyond UINT64_MAX */
};

enum eve_tok_type {
	EVE_TOK_ERR, /* syntax error, already recorded */
	EVE_TOK_STR,
	EVE_TOK_NUM,
	EVE_TOK_BOOL,
	EVE_TOK_NULL,
	EVE_TOK_CONTAINER, /* an object or array, skipped */
};

struct eve_tok {
	enum eve_tok_type type;
	struct eve_str str;
	struct eve_num num;
};

/* 1 for bytes that stand for themselves in a string: 0x20..0x7f but '"' and '\\'. */
#define EVE_R0 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
#define EVE_R1 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1
static const uint8_t eve_in_plain[256] = {
	EVE_R0, /* 0x00 */
	EVE_R0, /* 0x10 */
	1,	1,	0,	1,	1,	1,	1,	1,
	1,	1,	1,	1,	1,	1,	1,	1, /* 0x20: '"' at 0x22 */
	EVE_R1,							   /* 0x30 */
	EVE_R1,							   /* 0x40 */
	1,	1,	1,	1,	1,	1,	1,	1,
	1,	1,	1,	1,	0,	1,	1,	1,	/* 0x50: '\\' at 0x5c */
	EVE_R1,								/* 0x60 */
	EVE_R1,								/* 0x70 */
	EVE_R0, EVE_R0, EVE_R0, EVE_R0, EVE_R0, EVE_R0, EVE_R0, EVE_R0, /* 0x80..0xff: UTF-8 */
};

static void
eve_scan_fail(struct eve_scan *s, enum eve_in_error e)
{
	if (s->err == EVE_IN_OK)
		s->err = e;
	s->p = s->end; /* nothing more is read */
}

/* Fail with TRUNCATED at the end of the line, else with e. */
static void
eve_scan_fail_at(struct eve_scan *s, const unsigned char *p, enum eve_in_error e)
{
	eve_scan_fail(s, p >= s->end ? EVE_IN_ERR_TRUNCATED : e);
}

static void
eve_field_fail(struct eve_scan *s, enum eve_in_error e, const char *field)
{
	if (s->field_err == EVE_IN_OK) {
		s->field_err = e;
		s->field = field;
	}
}

static inline void
eve_ws(struct eve_scan *s)
{
	const unsigned char *p = s->p;

	if (p < s->end && EVE_IN_LIKELY(*p > 0x20))
		return; /* compact EVE: no white space between tokens */
	while (p < s->end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	s->p = p;
}

static int
eve_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Four hex digits at p (p + 4 <= end checked by the caller); -1 if not hex. */
static long
eve_hex4(const unsigned char *p)
{
	long v = 0;

	for (int i = 0; i < 4; i++) {
		int h = eve_hexval(p[i]);

		if (h < 0)
			return -1;
		v = v << 4 | h;
	}
	return v;
}

/*
 * One UTF-8 sequence at p (first byte >= 0x80): its length, 0 if invalid,
 * -1 if the line ends inside it. RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF.
 */
static int
eve_utf8(const unsigned char *p, const unsigned char *end)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	int n;

	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	for (int i = 1; i < n; i++) {
		if (p + i >= end)
			return -1;
		if (p[i] < lo || p[i] > hi)
			return 0;
		lo = 0x80;
		hi = 0xbf;
	}
	return n;
}

/* A \uXXXX escape at p (after the backslash, at 'u'); returns the byte after it, or NULL. */
static const unsigned char *
eve_scan_uescape(struct eve_scan *s, const unsigned char *p)
{
	long u;

	if (s->end - p < 5)
		return eve_scan_fail(s, EVE_IN_ERR_TRUNCATED), NULL;
	u = eve_hex4(p + 1);
	if (u < 0)
		return eve_scan_fail(s, EVE_IN_ERR_SYNTAX), NULL;
	p += 5;
	if (u >= 0xdc00 && u <= 0xdfff)
		return eve_scan_fail(s, EVE_IN_ERR_UTF8), NULL;
	if (u < 0xd800 || u > 0xdbff)
		return p;
	/* a high surrogate: a low one must follow */
	if (s->end - p < 6)
		return eve_scan_fail_at(s, s->end, EVE_IN_ERR_UTF8), NULL;
	if (p[0] != '\\' || p[1] != 'u')
		return eve_scan_fail(s, EVE_IN_ERR_UTF8), NULL;
	u = eve_hex4(p + 2);
	if (u < 0xdc00 || u > 0xdfff)
		return eve_scan_fail(s, u < 0 ? EVE_IN_ERR_SYNTAX : EVE_IN_ERR_UTF8), NULL;
	return p + 6;
}

#define EVE_ONES  0x0101010101010101ull
#define EVE_HIGHS 0x8080808080808080ull
/* Nonzero if a byte of w is below n (n <= 128; bytes >= 0x80 excluded by the caller). */
#define EVE_HASLESS(w, n) (((w)-EVE_ONES * (n)) & ~(w)&EVE_HIGHS)

/*
 * Skip string bytes that stand for themselves: eight at a time while no
 * byte of the word is a control, '"', '\\' or non-ASCII (SWAR), then one
 * at a time. Returns the first byte that needs a look, or end.
 */
static inline const unsigned char *
eve_plain_run(const unsigned char *p, const unsigned char *end)
{
#ifdef __SSE2__
	/* Sixteen at a time: EVE keys and values are mostly one such block,
	   so the first byte to look at comes from one mask, no byte loop. */
	const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
	const __m128i space = _mm_set1_epi8(0x20);

	while (end - p >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
		/* signed: bytes >= 0x80 are negative, so "< 0x20" flags them too */
		__m128i m = _mm_or_si128(
			_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
			_mm_cmplt_epi8(v, space));
		unsigned mask = (unsigned)_mm_movemask_epi8(m);

		if (mask != 0)
			return p + __builtin_ctz(mask);
		p += 16;
	}
#endif
	while (end - p >= 8) {
		uint64_t w;

		memcpy(&w, p, 8);
		if ((w & EVE_HIGHS) | EVE_HASLESS(w, 0x20) | EVE_HASLESS(w ^ (EVE_ONES * '"'), 1) |
		    EVE_HASLESS(w ^ (EVE_ONES * '\\'), 1))
			break;
		p += 8;
	}
	while (p < end && eve_in_plain[*p])
		p++;
	return p;
}

/*
 * The rest of the string at s->p from p, the first byte that needs a
 * look: escapes, UTF-8, errors. Kept out of line so that the common
 * case (eve_scan_string) stays small.
 */
static __attribute__((noinline)) int
eve_scan_string_slow(struct eve_scan *s, struct eve_str *out, const unsigned char *p)
{
	const unsigned char *end = s->end;

	out->esc = 0;
	for (;;) {
		unsigned char c;

		p = eve_plain_run(p, end);
		if (EVE_IN_UNLIKELY(p >= end))
			return eve_scan_fail(s, EVE_IN_ERR_TRUNCATED), -1;
		c = *p;
		if (c == '"')
			break;
		if (c == '\\') {
			out->esc = 1;
			if (++p >= end)
				return eve_scan_fail(s, EVE_IN_ERR_TRUNCATED), -1;
			if (*p == 'u') {
				p = eve_scan_uescape(s, p);
				if (p == NULL)
					return -1;
			} else if (strchr("\"\\/bfnrt", *p) != NULL && *p != 0) {
				p++;
			} else {
				return eve_scan_fail(s, EVE_IN_ERR_SYNTAX), -1;
			}
		} else if (c < 0x20) {
			return eve_scan_fail(s, EVE_IN_ERR_SYNTAX), -1; /* raw control byte */
		} else {
			int n = eve_utf8(p, end);

			if (n <= 0)
				return eve_scan_fail(s, n < 0 ? EVE_IN_ERR_TRUNCATED
							      : EVE_IN_ERR_UTF8),
				       -1;
			p += n;
		}
	}
	out->p = s->p + 1;
	out->len = (size_t)(p - out->p);
	s->p = p + 1;
	return 0;
}

/* The string at s->p (a '"'); 0 or -1 (recorded). */
static inline int
eve_scan_string(struct eve_scan *s, struct eve_str *out)
{
	const unsigned char *p = eve_plain_run(s->p + 1, s->end);

	if (EVE_IN_UNLIKELY(p >= s->end || *p != '"'))
		return eve_scan_string_slow(s, out, p);
	out->esc = 0; /* plain text up to the closing quote: the usual EVE string */
	out->p = s->p + 1;
	out->len = (size_t)(p - out->p);
	s->p = p + 1;
	return 0;
}

/* Digits at p: how many (the value goes into *v, with *big set on overflow). */
static const unsigned char *
eve_digits(const unsigned char *p, const unsigned char *end, uint64_t *v, uint8_t *big)
{
	while (p < end && *p >= '0' && *p <= '9') {
		uint64_t d = (uint64_t)(*p - '0');

		if (*v > (UINT64_MAX - d) / 10)
			*big = 1;
		*v = *v * 10 + d;
		p++;
	}
	return p;
}

/* The number at s->p; 0 or -1 (recorded). JSON's grammar, strictly. */
static int
eve_scan_number(struct eve_scan *s, struct eve_num *out)
{
	const unsigned char *p = s->p, *end = s->end, *q;
	uint64_t scratch = 0;
	uint8_t big = 0;

	*out = (struct eve_num){0};
	if (*p == '-') {
		out->neg = 1;
		p++;
	}
	if (p < end && *p == '0') {
		p++;
	} else {
		q = eve_digits(p, end, &out->v, &out->big);
		if (q == p)
			return eve_scan_fail_at(s, p, EVE_IN_ERR_SYNTAX), -1;
		p = q;
	}
	if (p < end && *p == '.') {
		out->real = 1;
		q = eve_digits(p + 1, end, &scratch, &big);
		if (q == p + 1)
			return eve_scan_fail_at(s, q, EVE_IN_ERR_SYNTAX), -1;
		p = q;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		out->real = 1;
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		q = eve_digits(p, end, &scratch, &big);
		if (q == p)
			return eve_scan_fail_at(s, q, EVE_IN_ERR_SYNTAX), -1;
		p = q;
	}
	s->p = p;
	return 0;
}

/* A literal (true, false, null) at s->p; 0 or -1. */
static int
eve_scan_literal(struct eve_scan *s, const char *lit, size_t n)
{
	size_t have = (size_t)(s->end - s->p);

	if (have < n) {
		if (memcmp(s->p, lit, have) == 0)
			return eve_scan_fail(s, EVE_IN_ERR_TRUNCATED), -1;
		return eve_scan_fail(s, EVE_IN_ERR_SYNTAX), -1;
	}
	if (memcmp(s->p, lit, n) != 0)
		return eve_scan_fail(s, EVE_IN_ERR_SYNTAX), -1;
	s->p += n;
	return 0;
}

typedef void (*eve_key_fn)(struct eve_scan *s, const unsigned char *key, size_t len);

static void eve_skip_value(struct eve_scan *s);
static int eve_str_decode(const struct eve_str *in, char *buf, size_t cap, size_t *len);

static void
eve_skip_key(struct eve_scan *s, const unsigned char *key, size_t len)
{
	(void)key;
	(void)len;
	eve_skip_value(s);
}

/* Enter a container at s->p ('{' or '['); 0, or -1 past the depth bound. */
static int
eve_enter(struct eve_scan *s)
{
	if (EVE_IN_UNLIKELY(++s->depth > EVE_IN_MAX_DEPTH))
		return eve_scan_fail(s, EVE_IN_ERR_DEPTH), -1;
	s->p++;
	eve_ws(s);
	return 0;
}

/* After a member or element: ',' (returns 1: another follows) or close (0); -1 on error. */
static int
eve_next(struct eve_scan *s, unsigned char close)
{
	eve_ws(s);
	if (s->p < s->end && *s->p == ',') {
		s->p++;
		eve_ws(s);
		return 1;
	}
	if (s->p < s->end && *s->p == close) {
		s->p++;
		s->depth--;
		return 0;
	}
	return eve_scan_fail_at(s, s->p, EVE_IN_ERR_SYNTAX), -1;
}

/* The key of a member: decoded when escaped (an over-long one matches nothing). */
static int
eve_scan_key(struct eve_scan *s, char *buf, const unsigned char **key, size_t *len)
{
	struct eve_str k;

	if (s->p >= s->end || *s->p != '"')
		return eve_scan_fail_at(s, s->p, EVE_IN_ERR_SYNTAX), -1;
	if (eve_scan_string(s, &k) < 0)
		return -1;
	*key = k.p;
	*len = k.len;
	if (k.esc && eve_str_decode(&k, buf, EVE_IN_STR_MAX, len) == 0)
		*key = (const unsigned char *)buf;
	eve_ws(s);
	if (s->p >= s->end || *s->p != ':')
		return eve_scan_fail_at(s, s->p, EVE_IN_ERR_SYNTAX), -1;
	s->p++;
	eve_ws(s);
	return 0;
}

/* The object at s->p ('{'): on_key is called with s->p at each member's value. */
static void
eve_scan_object(struct eve_scan *s, eve_key_fn on_key)
{
	char buf[EVE_IN_STR_MAX];
	int more;

	if (eve_enter(s) < 0)
		return;
	if (s->p < s->end && *s->p == '}') {
		s->p++;
		s->depth--;
		return;
	}
	do {
		const unsigned char *key;
		size_t len;

		if (eve_scan_key(s, buf, &key, &len) < 0)
			return;
		on_key(s, key, len); /* at the end of the line, its value scan says TRUNCATED */
		if (s->err != EVE_IN_OK)
			return;
		more = eve_next(s, '}');
	} while (more > 0);
}

/* The array at s->p ('['), every element skipped. */
static void
eve_skip_array(struct eve_scan *s)
{
	int more;

	if (eve_enter(s) < 0)
		return;
	if (s->p < s->end && *s->p == ']') {
		s->p++;
		s->depth--;
		return;
	}
	do {
		eve_skip_value(s);
		if (s->err != EVE_IN_OK)
			return;
		more = eve_next(s, ']');
	} while (more > 0);
}

/* One value at s->p as a token; containers are skipped (validated). */
static enum eve_tok_type
eve_scan_value(struct eve_scan *s, struct eve_tok *t)
{
	int rc;

	if (EVE_IN_UNLIKELY(s->p >= s->end))
		return eve_scan_fail(s, EVE_IN_ERR_TRUNCATED), t->type = EVE_TOK_ERR;
	switch (*s->p) {
	case '"':
		rc = eve_scan_string(s, &t->str);
		t->type = EVE_TOK_STR;
		break;
	case '{':
		eve_scan_object(s, eve_skip_key);
		rc = s->err != EVE_IN_OK ? -1 : 0;
		t->type = EVE_TOK_CONTAINER;
		break;
	case '[':
		eve_skip_array(s);
		rc = s->err != EVE_IN_OK ? -1 : 0;
		t->type = EVE_TOK_CONTAINER;
		break;
	case 't':
		rc = eve_scan_literal(s, "true", 4);
		t->type = EVE_TOK_BOOL;
		break;
	case 'f':
		rc = eve_scan_literal(s, "false", 5);
		t->type = EVE_TOK_BOOL;
		break;
	case 'n':
		rc = eve_scan_literal(s, "null", 4);
		t->type = EVE_TOK_NULL;
		break;
	default:
		rc = eve_scan_number(s, &t->num);
		t->type = EVE_TOK_NUM;
		break;
	}
	if (rc < 0)
		t->type = EVE_TOK_ERR;
	return t->type;
}

static void
eve_skip_value(struct eve_scan *s)
{
	struct eve_tok t;

	eve_scan_value(s, &t);
}

/* ------------------------------------------------------------------ */
/* Field values                                                        */
/* ------------------------------------------------------------------ */

/* Append code point u as UTF-8; 0, or -1 if it does not fit. */
static int
eve_put_utf8(char *buf, size_t cap, size_t *n, unsigned long u)
{
	unsigned char b[4];
	size_t k;

	if (u < 0x80) {
		b[0] = (unsigned char)u;
		k = 1;
	} else if (u < 0x800) {
		b[0] = (unsigned char)(0xc0 | u >> 6);
		b[1] = (unsigned char)(0x80 | (u & 0x3f));
		k = 2;
	} else if (u < 0x10000) {
		b[0] = (unsigned char)(0xe0 | u >> 12);
		b[1] = (unsigned char)(0x80 | (u >> 6 & 0x3f));
		b[2] = (unsigned char)(0x80 | (u & 0x3f));
		k = 3;
	} else {
		b[0] = (unsigned char)(0xf0 | u >> 18);
		b[1] = (unsigned char)(0x80 | (u >> 12 & 0x3f));
		b[2] = (unsigned char)(0x80 | (u >> 6 & 0x3f));
		b[3] = (unsigned char)(0x80 | (u & 0x3f));
		k = 4;
	}
	if (cap - *n < k)
		return -1;
	memcpy(buf + *n, b, k);
	*n += k;
	return 0;
}

/*
 * Decode a validated string token into buf (no NUL added); 0, or -1 when
 * it needs more than cap bytes. Escapes are known to be well formed.
 */
static int
eve_str_decode(const struct eve_str *in, char *buf, size_t cap, size_t *len)
{
	static const char unesc[128] = {['"'] = '"',  ['\\'] = '\\', ['/'] = '/',  ['b'] = '\b',
					['f'] = '\f', ['n'] = '\n',  ['r'] = '\r', ['t'] = '\t'};
	const unsigned char *p = in->p, *end = in->p + in->len;
	size_t n = 0;

	while (p < end) {
		unsigned long u;

		if (*p != '\\') {
			if (n == cap)
				return -1;
			buf[n++] = (char)*p++;
			continue;
		}
		if (p[1] != 'u') {
			if (n == cap)
				return -1;
			buf[n++] = unesc[p[1] & 0x7f];
			p += 2;
			continue;
		}
		u = (unsigned long)eve_hex4(p + 2);
		p += 6;
		if (u >= 0xd800 && u <= 0xdbff) {
			u = 0x10000 + ((u - 0xd800) << 10) +
			    ((unsigned long)eve_hex4(p + 2) - 0xdc00);
			p += 6;
		}
		if (eve_put_utf8(buf, cap, &n, u) < 0)
			return -1;
	}
	*len = n;
	return 0;
}

/*
 * The string value of a field into buf (NUL-terminated, at most
 * EVE_IN_STR_MAX - 1 bytes): length, or -1 with the field error recorded
 * (null, not a string, too long, an embedded NUL).
 */
static long
eve_field_str(struct eve_scan *s, const char *name, char buf[EVE_IN_STR_MAX])
{
	struct eve_tok t;
	size_t n;

	switch (eve_scan_value(s, &t)) {
	case EVE_TOK_ERR:
		return -1;
	case EVE_TOK_STR:
		break;
	case EVE_TOK_NULL:
		return eve_field_fail(s, EVE_IN_ERR_NULL, name), -1;
	default:
		return eve_field_fail(s, EVE_IN_ERR_TYPE, name), -1;
	}
	if (!t.str.esc) {
		if (t.str.len >= EVE_IN_STR_MAX)
			return eve_field_fail(s, EVE_IN_ERR_VALUE, name), -1;
		memcpy(buf, t.str.p, t.str.len);
		n = t.str.len;
	} else if (eve_str_decode(&t.str, buf, EVE_IN_STR_MAX - 1, &n) < 0 ||
		   memchr(buf, '\0', n) != NULL) {
		return eve_field_fail(s, EVE_IN_ERR_VALUE, name), -1;
	}
	buf[n] = '\0';
	return (long)n;
}

/* An unsigned integer field up to max: 0 with *v set, or -1 (recorded). */
static int
eve_field_uint(struct eve_scan *s, const char *name, uint64_t max, uint64_t *v)
{
	struct eve_tok t;

	switch (eve_scan_value(s, &t)) {
	case EVE_TOK_ERR:
		return -1;
	case EVE_TOK_NUM:
		break;
	case EVE_TOK_NULL:
		return eve_field_fail(s, EVE_IN_ERR_NULL, name), -1;
	default:
		return eve_field_fail(s, EVE_IN_ERR_TYPE, name), -1;
	}
	if (t.num.real)
		return eve_field_fail(s, EVE_IN_ERR_TYPE, name), -1;
	if (t.num.big || t.num.v > max || (t.num.neg && t.num.v != 0))
		return eve_field_fail(s, EVE_IN_ERR_RANGE, name), -1;
	*v = t.num.v;
	return 0;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian, y >= 0). */
static int64_t
eve_days(int64_t y, unsigned m, unsigned d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = y / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* n decimal digits at p, or -1. */
static long
eve_dec(const char *p, int n)
{
	long v = 0;

	for (int i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

/* "+HHMM", "+HH:MM", "+HH", "Z" or "" at p (n bytes): seconds east of UTC, or -1 on error. */
static long
eve_tz(const char *p, size_t n, int *west)
{
	long h, m = 0;

	*west = 0;
	if (n == 0 || (n == 1 && (*p == 'Z' || *p == 'z')))
		return 0;
	if (*p != '+' && *p != '-')
		return -1;
	*west = *p == '-';
	if (n == 3 || n == 5 || n == 6) {
		h = eve_dec(p + 1, 2);
		if (n == 5)
			m = eve_dec(p + 3, 2);
		else if (n == 6)
			m = p[3] == ':' ? eve_dec(p + 4, 2) : -1;
		if (h < 0 || h > 23 || m < 0 || m > 59)
			return -1;
		return h * 3600 + m * 60;
	}
	return -1;
}

/* "YYYY-MM-DDTHH:MM:SS[.f{1,9}][offset]" to microseconds since the epoch; 0 or -1. */
static int
eve_time_parse(const char *t, size_t n, uint64_t *us)
{
	static const unsigned char mdays[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	long y, mo, d, h, mi, sec, off, frac = 0;
	size_t i = 19;
	int west, fd = 0;
	int64_t total;

	if (n < 19 || t[4] != '-' || t[7] != '-' || (t[10] != 'T' && t[10] != ' ') ||
	    t[13] != ':' || t[16] != ':')
		return -1;
	y = eve_dec(t, 4), mo = eve_dec(t + 5, 2), d = eve_dec(t + 8, 2);
	h = eve_dec(t + 11, 2), mi = eve_dec(t + 14, 2), sec = eve_dec(t + 17, 2);
	if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo] || h < 0 || h > 23 || mi < 0 ||
	    mi > 59 || sec < 0 || sec > 60)
		return -1;
	if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return -1;
	if (i < n && t[i] == '.') {
		for (i++; i < n && t[i] >= '0' && t[i] <= '9'; i++, fd++)
			if (fd < 6)
				frac = frac * 10 + (t[i] - '0');
		if (fd == 0 || fd > 9)
			return -1;
		for (; fd < 6; fd++)
			frac *= 10;
	}
	off = eve_tz(t + i, n - i, &west);
	if (off < 0)
		return -1;
	total = eve_days(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec;
	total += west ? off : -off;
	if (total < 0)
		return -1;
	*us = (uint64_t)total * 1000000u + (uint64_t)frac;
	return 0;
}

static void
eve_field_time(struct eve_scan *s, const char *name, uint64_t *us)
{
	char buf[EVE_IN_STR_MAX];
	long n = eve_field_str(s, name, buf);

	if (n >= 0 && eve_time_parse(buf, (size_t)n, us) < 0)
		eve_field_fail(s, EVE_IN_ERR_TIME, name);
}

/* An address into a[16]; returns its IP version (4, 6) or 0 (recorded). */
static uint8_t
eve_field_addr(struct eve_scan *s, const char *name, uint8_t a[16])
{
	char buf[EVE_IN_STR_MAX];
	long n = eve_field_str(s, name, buf);

	if (n < 0)
		return 0;
	if (memchr(buf, ':', (size_t)n) != NULL) {
		if (inet_pton(AF_INET6, buf, a) == 1)
			return 6;
	} else if (inet_pton(AF_INET, buf, a) == 1) {
		memset(a + 4, 0, 12);
		return 4;
	}
	eve_field_fail(s, EVE_IN_ERR_ADDR, name);
	return 0;
}

/* A name from table t into *v; 0, or -1 (recorded). */
static int
eve_field_name(struct eve_scan *s, const char *name, const struct eve_in_name *t, size_t n,
	       uint8_t *v)
{
	char buf[EVE_IN_STR_MAX];

	if (eve_field_str(s, name, buf) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(buf, t[i].s) == 0) {
			*v = t[i].v;
			return 0;
		}
	}
	eve_field_fail(s, EVE_IN_ERR_VALUE, name);
	return -1;
}

/* "TCP", "IPv6-ICMP", "6" or 6: the protocol number; 0 or -1 (recorded). */
static int
eve_field_proto(struct eve_scan *s, uint8_t *proto)
{
	char buf[EVE_IN_STR_MAX];
	uint64_t v;
	long n;

	if (s->p < s->end && *s->p >= '0' && *s->p <= '9') { /* a JSON number */
		if (eve_field_uint(s, "proto", 255, &v) < 0)
			return -1;
		*proto = (uint8_t)v;
		return 0;
	}
	n = eve_field_str(s, "proto", buf);
	if (n < 0)
		return -1;
	if (n == 3 && memcmp(buf, "TCP", 3) == 0) {
		*proto = IPPROTO_TCP;
		return 0;
	}
	if (n == 3 && memcmp(buf, "UDP", 3) == 0) {
		*proto = IPPROTO_UDP;
		return 0;
	}
	for (size_t i = 0; i < EVE_IN_NELEM(eve_in_proto_names); i++) {
		if (strcasecmp(buf, eve_in_proto_names[i]) == 0) {
			*proto = (uint8_t)i;
			return 0;
		}
	}
	if (n > 0 && n <= 3 && eve_dec(buf, (int)n) >= 0 && eve_dec(buf, (int)n) <= 255) {
		*proto = (uint8_t)eve_dec(buf, (int)n);
		return 0;
	}
	eve_field_fail(s, EVE_IN_ERR_VALUE, "proto");
	return -1;
}

/* Suricata's "%02x" TCP flags; 0 or -1 (recorded). */
static int
eve_field_hex8(struct eve_scan *s, const char *name, uint8_t *v)
{
	char buf[EVE_IN_STR_MAX];
	long n = eve_field_str(s, name, buf);
	int hi, lo;

	if (n < 0)
		return -1;
	hi = n == 2 ? eve_hexval((unsigned char)buf[0]) : 0;
	lo = n >= 1 && n <= 2 ? eve_hexval((unsigned char)buf[n - 1]) : -1;
	if (hi < 0 || lo < 0) {
		eve_field_fail(s, EVE_IN_ERR_VALUE, name);
		return -1;
	}
	*v = (uint8_t)(hi << 4 | lo);
	return 0;
}

/* Keep at most cap - 1 bytes of s (n bytes, valid UTF-8), cut on a character boundary. */
static size_t
eve_utf8_cut(const char *s, size_t n, size_t cap)
{
	if (n < cap)
		return n;
	n = cap - 1;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--; /* s[n] continues a character: cut before its lead byte */
	return n;
}

/* A name of cap bytes (NUL included) into out, cut on a character boundary. */
static void
eve_field_name_text(struct eve_scan *s, const char *name, char *out, size_t cap)
{
	char buf[EVE_IN_STR_MAX];
	long n = eve_field_str(s, name, buf);
	size_t k;

	if (n < 0)
		return;
	k = eve_utf8_cut(buf, (size_t)n, cap);
	if (k < (size_t)n)
		s->in->st.app_truncated++;
	memcpy(out, buf, k);
	out[k] = '\0';
}

static void
eve_field_app(struct eve_scan *s)
{
	struct appid_result *app = &s->rec->app;

	eve_field_name_text(s, "app_proto", app->name, sizeof(app->name));
	app->how = strcmp(app->name, "failed") == 0 ? APPID_HOW_UNKNOWN : APPID_HOW_DPI;
}

/* "vlan":[id, id, ...]: the first two kept. */
static void
eve_field_vlan(struct eve_scan *s)
{
	unsigned i = 0;
	int more;

	if (s->p >= s->end || *s->p != '[') {
		struct eve_tok t;

		if (eve_scan_value(s, &t) != EVE_TOK_ERR)
			eve_field_fail(s,
				       t.type == EVE_TOK_NULL ? EVE_IN_ERR_NULL : EVE_IN_ERR_TYPE,
				       "vlan");
		return;
	}
	if (eve_enter(s) < 0)
		return;
	if (s->p < s->end && *s->p == ']') {
		s->p++;
		s->depth--;
		return;
	}
	do {
		uint64_t v;

		if (eve_field_uint(s, "vlan", 4095, &v) == 0 && i < 2)
			s->rec->vlan[i++] = (uint16_t)v;
		if (s->err != EVE_IN_OK)
			return;
		more = eve_next(s, ']');
	} while (more > 0);
}

/* ------------------------------------------------------------------ */
/* Keys                                                                */
/* ------------------------------------------------------------------ */

#define EVE_KEY(k, n, lit) ((n) == sizeof(lit) - 1 && memcmp((k), (lit), sizeof(lit) - 1) == 0)

/* An object member the record reads: descend, or fail as a field. */
static void
eve_field_object(struct eve_scan *s, const char *name, eve_key_fn on_key)
{
	struct eve_tok t;

	if (s->p < s->end && *s->p == '{') {
		eve_scan_object(s, on_key);
		return;
	}
	if (eve_scan_value(s, &t) != EVE_TOK_ERR)
		eve_field_fail(s, t.type == EVE_TOK_NULL ? EVE_IN_ERR_NULL : EVE_IN_ERR_TYPE, name);
}

/* A counter of the flow object into *v, marking bit. */
static void
eve_counter(struct eve_scan *s, const char *name, uint64_t *v, uint32_t bit)
{
	if (eve_field_uint(s, name, UINT64_MAX, v) == 0)
		s->seen |= bit;
}

static void
eve_flow_key(struct eve_scan *s, const unsigned char *k, size_t n)
{
	struct flow_record *r = s->rec;

	if (EVE_KEY(k, n, "pkts_toserver"))
		eve_counter(s, "flow.pkts_toserver", &r->pkts_toserver, EVE_IN_F_PKTS_TS);
	else if (EVE_KEY(k, n, "pkts_toclient"))
		eve_counter(s, "flow.pkts_toclient", &r->pkts_toclient, EVE_IN_F_PKTS_TC);
	else if (EVE_KEY(k, n, "bytes_toserver"))
		eve_counter(s, "flow.bytes_toserver", &r->bytes_toserver, EVE_IN_F_BYTES_TS);
	else if (EVE_KEY(k, n, "bytes_toclient"))
		eve_counter(s, "flow.bytes_toclient", &r->bytes_toclient, EVE_IN_F_BYTES_TC);
	else if (EVE_KEY(k, n, "start"))
		eve_field_time(s, "flow.start", &r->start_us), s->seen |= EVE_IN_F_START;
	else if (EVE_KEY(k, n, "end"))
		eve_field_time(s, "flow.end", &r->end_us), s->seen |= EVE_IN_F_END;
	else if (EVE_KEY(k, n, "state"))
		s->seen |= eve_field_name(s, "flow.state", eve_in_states,
					  EVE_IN_NELEM(eve_in_states), &r->state) == 0
				   ? EVE_IN_F_STATE
				   : 0;
	else if (EVE_KEY(k, n, "reason"))
		s->seen |= eve_field_name(s, "flow.reason", eve_in_reasons,
					  EVE_IN_NELEM(eve_in_reasons), &r->reason) == 0
				   ? EVE_IN_F_REASON
				   : 0;
	else
		eve_skip_value(s);
}

static void
eve_tcp_key(struct eve_scan *s, const unsigned char *k, size_t n)
{
	struct flow_record *r = s->rec;

	if (EVE_KEY(k, n, "tcp_flags_ts")) {
		if (eve_field_hex8(s, "tcp.tcp_flags_ts", &r->tcp_flags_ts) == 0)
			s->seen |= EVE_IN_F_TCP_TS;
	} else if (EVE_KEY(k, n, "tcp_flags_tc")) {
		eve_field_hex8(s, "tcp.tcp_flags_tc", &r->tcp_flags_tc);
	} else if (EVE_KEY(k, n, "tcp_flags")) {
		if (eve_field_hex8(s, "tcp.tcp_flags", &s->tcp_flags) == 0)
			s->seen |= EVE_IN_F_TCP_FLAGS;
	} else if (EVE_KEY(k, n, "state")) {
		eve_field_name(s, "tcp.state", eve_in_tcp_states, EVE_IN_NELEM(eve_in_tcp_states),
			       &r->tcp_state);
	} else {
		eve_skip_value(s);
	}
}

static const struct eve_in_name eve_in_tunnels[] = {
	{"ipip", FLOW_RECORD_TUNNEL_IPIP},
	{"gre", FLOW_RECORD_TUNNEL_GRE},
	{"vxlan", FLOW_RECORD_TUNNEL_VXLAN},
	{"teredo", FLOW_RECORD_TUNNEL_TEREDO},
};

static const struct eve_in_name eve_in_app_hows[] = {
	{"dpi", APPID_HOW_DPI},
	{"guess", APPID_HOW_GUESS},
	{"unknown", APPID_HOW_UNKNOWN},
};

/* darter's own keys: what eve.c writes under "darter" (mad evidence is skipped). */
static void
eve_darter_key(struct eve_scan *s, const unsigned char *k, size_t n)
{
	struct flow_record *r = s->rec;
	uint64_t v;

	if (EVE_KEY(k, n, "lcore")) {
		if (eve_field_uint(s, "darter.lcore", UINT16_MAX, &v) == 0)
			r->lcore = (uint16_t)v;
	} else if (EVE_KEY(k, n, "tunnel")) {
		eve_field_name(s, "darter.tunnel", eve_in_tunnels, EVE_IN_NELEM(eve_in_tunnels),
			       &r->tunnel);
	} else if (EVE_KEY(k, n, "app")) {
		eve_field_name_text(s, "darter.app", r->app.app, sizeof(r->app.app));
	} else if (EVE_KEY(k, n, "app_category")) {
		eve_field_name_text(s, "darter.app_category", r->app.category,
				    sizeof(r->app.category));
	} else if (EVE_KEY(k, n, "app_how")) {
		eve_field_name(s, "darter.app_how", eve_in_app_hows, EVE_IN_NELEM(eve_in_app_hows),
			       &s->app_how);
	} else {
		eve_skip_value(s);
	}
}

/* "event_type": "flow" or another name, kept for eve_in_type(). */
static void
eve_event_type(struct eve_scan *s)
{
	char buf[EVE_IN_STR_MAX];
	struct eve_scan probe = *s;
	long n;

	probe.field_err = EVE_IN_OK;
	n = eve_field_str(&probe, "event_type", buf);
	s->p = probe.p;
	s->err = probe.err;
	s->in->type[0] = '\0'; /* a second event_type replaces the first (fuzz: duplicate key) */
	if (n <= 0 || n > EVE_IN_TYPE_LEN) {
		s->kind = EVE_IN_KIND_BAD;
		return;
	}
	if (n == 4 && memcmp(buf, "flow", 4) == 0) {
		s->kind = EVE_IN_KIND_FLOW;
		return;
	}
	s->kind = EVE_IN_KIND_OTHER;
	memcpy(s->in->type, buf, (size_t)n + 1);
}

/* A port into *v, marking bit. */
static void
eve_port(struct eve_scan *s, const char *name, uint16_t *v, uint32_t bit)
{
	uint64_t x;

	if (eve_field_uint(s, name, UINT16_MAX, &x) == 0) {
		*v = (uint16_t)x;
		s->seen |= bit;
	}
}

/* An ICMP type or code (0..255). */
static void
eve_icmp(struct eve_scan *s, const char *name, uint8_t *v, int resp)
{
	uint64_t x;

	if (eve_field_uint(s, name, UINT8_MAX, &x) == 0) {
		*v = (uint8_t)x;
		if (resp)
			s->rec->flags |= FLOW_RECORD_F_ICMP_RESP;
	}
}

/* Top-level members of a flow event (other event types skip everything but event_type). */
static void
eve_top_key(struct eve_scan *s, const unsigned char *k, size_t n)
{
	struct flow_record *r = s->rec;
	uint64_t v;

	if (EVE_KEY(k, n, "event_type")) {
		eve_event_type(s);
	} else if (s->kind == EVE_IN_KIND_OTHER || s->kind == EVE_IN_KIND_BAD) {
		eve_skip_value(s);
	} else if (EVE_KEY(k, n, "flow_id")) {
		if (eve_field_uint(s, "flow_id", UINT64_MAX, &v) == 0) {
			r->flow_id = v;
			s->seen |= EVE_IN_F_FLOW_ID;
		}
	} else if (EVE_KEY(k, n, "src_ip")) {
		uint8_t ver = eve_field_addr(s, "src_ip", r->src_ip);

		if (ver != 0 && r->ip_version != 0 && r->ip_version != ver)
			eve_field_fail(s, EVE_IN_ERR_ADDR, "src_ip");
		r->ip_version = ver;
		s->seen |= ver != 0 ? EVE_IN_F_SRC_IP : 0;
	} else if (EVE_KEY(k, n, "dest_ip")) {
		uint8_t ver = eve_field_addr(s, "dest_ip", r->dst_ip);

		if (ver != 0 && r->ip_version != 0 && r->ip_version != ver)
			eve_field_fail(s, EVE_IN_ERR_ADDR, "dest_ip");
		r->ip_version = ver;
		s->seen |= ver != 0 ? EVE_IN_F_DST_IP : 0;
	} else if (EVE_KEY(k, n, "src_port")) {
		eve_port(s, "src_port", &r->src_port, EVE_IN_F_SRC_PORT);
	} else if (EVE_KEY(k, n, "dest_port")) {
		eve_port(s, "dest_port", &r->dst_port, EVE_IN_F_DST_PORT);
	} else if (EVE_KEY(k, n, "proto")) {
		s->seen |= eve_field_proto(s, &r->proto) == 0 ? EVE_IN_F_PROTO : 0;
	} else if (EVE_KEY(k, n, "flow")) {
		eve_field_object(s, "flow", eve_flow_key);
	} else if (EVE_KEY(k, n, "tcp")) {
		eve_field_object(s, "tcp", eve_tcp_key);
	} else if (EVE_KEY(k, n, "vlan")) {
		eve_field_vlan(s);
	} else if (EVE_KEY(k, n, "icmp_type")) {
		eve_icmp(s, "icmp_type", &r->icmp_type, 0);
	} else if (EVE_KEY(k, n, "icmp_code")) {
		eve_icmp(s, "icmp_code", &r->icmp_code, 0);
	} else if (EVE_KEY(k, n, "response_icmp_type")) {
		eve_icmp(s, "response_icmp_type", &r->resp_icmp_type, 1);
	} else if (EVE_KEY(k, n, "response_icmp_code")) {
		eve_icmp(s, "response_icmp_code", &r->resp_icmp_code, 1);
	} else if (EVE_KEY(k, n, "app_proto")) {
		eve_field_app(s);
	} else if (EVE_KEY(k, n, "darter")) {
		eve_field_object(s, "darter", eve_darter_key);
	} else {
		eve_skip_value(s); /* timestamp (flow.end is the record's time), and the rest */
	}
}

/* ------------------------------------------------------------------ */
/* Lines                                                               */
/* ------------------------------------------------------------------ */

static enum eve_in_result
eve_in_refuse(struct eve_in *in, enum eve_in_error e, const char *field)
{
	in->err = e;
	in->err_field = field != NULL ? field : "";
	in->st.errors[e]++;
	in->st.refused++;
	return EVE_IN_REFUSED;
}

/* The checks that need the whole flow event. */
static enum eve_in_result
eve_in_flow_done(struct eve_in *in, struct eve_scan *s)
{
	uint32_t need = EVE_IN_F_REQUIRED;
	uint32_t missing;
	struct flow_record *r = s->rec;

	if (s->field_err != EVE_IN_OK)
		return eve_in_refuse(in, s->field_err, s->field);
	if ((s->seen & EVE_IN_F_PROTO) &&
	    (r->proto == IPPROTO_TCP || r->proto == IPPROTO_UDP || r->proto == IPPROTO_SCTP))
		need |= EVE_IN_F_SRC_PORT | EVE_IN_F_DST_PORT;
	missing = need & ~s->seen;
	if (missing != 0)
		return eve_in_refuse(in, EVE_IN_ERR_MISSING,
				     eve_in_required_names[__builtin_ctz(missing)]);
	if (s->app_how != APPID_HOW_NONE)
		r->app.how = s->app_how; /* darter's own word beats app_proto's guess */
	if ((s->seen & (EVE_IN_F_TCP_FLAGS | EVE_IN_F_TCP_TS)) == EVE_IN_F_TCP_FLAGS)
		r->tcp_flags_ts = s->tcp_flags; /* only the union was given */
	in->st.flows++;
	return EVE_IN_FLOW;
}

/* Scan a line that is not an object: NOT_OBJECT if it is other JSON. */
static enum eve_in_result
eve_in_not_object(struct eve_in *in, struct eve_scan *s)
{
	eve_skip_value(s);
	eve_ws(s);
	if (s->err == EVE_IN_OK && s->p < s->end)
		eve_scan_fail(s, EVE_IN_ERR_SYNTAX);
	return eve_in_refuse(in, s->err != EVE_IN_OK ? s->err : EVE_IN_ERR_NOT_OBJECT, NULL);
}

enum eve_in_result
eve_in_parse(struct eve_in *in, const char *line, size_t len, struct flow_record *rec)
{
	struct eve_scan s = {
		.p = (const unsigned char *)line,
		.end = (const unsigned char *)line + len,
		.rec = rec,
		.in = in,
	};

	in->st.lines++;
	in->err = EVE_IN_OK;
	in->err_field = "";
	in->type[0] = '\0';
	in->other = 0;
	in->doc_done = 0;
	if (in->doc != NULL) {
		json_decref(in->doc);
		in->doc = NULL;
	}
	if (len > 0 && line[len - 1] == '\n')
		len--, s.end--;
	if (EVE_IN_UNLIKELY(len > in->conf.max_line))
		return eve_in_refuse(in, EVE_IN_ERR_TOO_LONG, NULL);
	memset(rec, 0, sizeof(*rec));
	eve_ws(&s);
	if (EVE_IN_UNLIKELY(s.p == s.end))
		return eve_in_refuse(in, EVE_IN_ERR_EMPTY, NULL);
	if (EVE_IN_UNLIKELY(*s.p != '{'))
		return eve_in_not_object(in, &s);
	eve_scan_object(&s, eve_top_key);
	eve_ws(&s);
	if (s.err == EVE_IN_OK && s.p < s.end)
		eve_scan_fail(&s, EVE_IN_ERR_SYNTAX); /* trailing data */
	if (s.err != EVE_IN_OK)
		return eve_in_refuse(in, s.err, NULL);
	switch (s.kind) {
	case EVE_IN_KIND_FLOW:
		return eve_in_flow_done(in, &s);
	case EVE_IN_KIND_OTHER:
		in->other = 1;
		in->line = line;
		in->len = len;
		in->st.others++;
		return EVE_IN_OTHER;
	default:
		in->type[0] = '\0';
		return eve_in_refuse(in, EVE_IN_ERR_NO_EVENT_TYPE, "event_type");
	}
}

/* ------------------------------------------------------------------ */
/* Parser object and documents                                         */
/* ------------------------------------------------------------------ */

void
eve_in_conf_defaults(struct eve_in_conf *conf)
{
	conf->max_line = EVE_IN_MAX_LINE_DEFAULT;
}

struct eve_in *
eve_in_new(const struct eve_in_conf *conf)
{
	struct eve_in *in;
	struct eve_in_conf c;

	eve_in_conf_defaults(&c);
	if (conf != NULL && conf->max_line != 0)
		c.max_line = conf->max_line;
	if (c.max_line < 2 || c.max_line > (1u << 30)) {
		errno = EINVAL;
		return NULL;
	}
	in = calloc(1, sizeof(*in));
	if (in == NULL)
		return NULL;
	in->conf = c;
	in->err_field = "";
	return in;
}

void
eve_in_free(struct eve_in *in)
{
	if (in == NULL)
		return;
	if (in->doc != NULL)
		json_decref(in->doc);
	free(in);
}

enum eve_in_error
eve_in_last_error(const struct eve_in *in)
{
	return in->err;
}

const char *
eve_in_last_field(const struct eve_in *in)
{
	return in->err_field;
}

const char *
eve_in_type(const struct eve_in *in)
{
	return in->type;
}

json_t *
eve_in_doc(struct eve_in *in)
{
	json_error_t jerr;

	if (!in->other)
		return NULL;
	if (in->doc_done)
		return in->doc;
	in->doc_done = 1;
	in->doc = json_loadb(in->line, in->len, 0, &jerr);
	if (in->doc == NULL)
		in->st.doc_errors++;
	else
		in->st.docs++;
	return in->doc;
}

const struct eve_in_stats *
eve_in_stats(const struct eve_in *in)
{
	return &in->st;
}

const char *
eve_in_error_name(enum eve_in_error e)
{
	if ((unsigned)e >= EVE_IN_ERR__COUNT)
		return "unknown";
	return eve_in_error_names[e];
}
