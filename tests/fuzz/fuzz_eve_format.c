/*
 * fuzz_eve_format.c: EVE JSON lines for arbitrary records, scores and
 * stats counters.
 *
 * Input: a record in fuzz_record.h's field order; an options byte (bit 0:
 * a Community ID, bits 1-4: number of MAD results, at most
 * SCORE_MAX_SPECS); the results (metric, group, group_key, the doubles as
 * raw bits, n, three flag bytes); a byte choosing a short buffer size;
 * then stats counters until the input ends (name length, name, value).
 *
 * Invariants, for eve_format_flow, eve_format_outlier and
 * eve_format_stats: a line fits a 16 KiB buffer; it is one JSON object
 * (checked by a strict parser below: strings, escapes, numbers, nesting),
 * ends with its only newline and holds no NUL; formatting is repeatable
 * (the same record after another one, a day apart, gives the same bytes:
 * the day cache); in a buffer of exactly k bytes the result is 0 when the
 * line is longer, else the same line (an overrun hits ASan's redzone);
 * an outlier index past the results gives 0. eve_format_time writes 31
 * characters in Suricata's layout.
 *
 * Not here: byte-for-byte expected lines and the JSON schema (unit tests);
 * UTF-8 validity: record strings are copied as bytes, with only '"', '\\'
 * and controls escaped.
 */
#include <string.h>

#include "community.h"
#include "eve.h"
#include "fuzz.h"
#include "fuzz_record.h"
#include "score.h"

#define FUZZ_BUF	 16384
#define FUZZ_MAX_COUNTER 64
#define FUZZ_NAME_MAX	 48
#define FUZZ_JSON_DEPTH	 128 /* a stats name of FUZZ_NAME_MAX dots nests that deep */

/* ------------------------------------------------------- JSON check */

struct fuzz_json {
	const char *p;
	const char *end;
};

static int fuzz_json_value(struct fuzz_json *j, int depth);

static void
fuzz_json_ws(struct fuzz_json *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\r' || *j->p == '\n'))
		j->p++;
}

static int
fuzz_json_lit(struct fuzz_json *j, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0)
		return 0;
	j->p += n;
	return 1;
}

static int
fuzz_json_hex4(struct fuzz_json *j)
{
	for (int i = 0; i < 4; i++, j->p++)
		if (j->p >= j->end || strchr("0123456789abcdefABCDEF", *j->p) == NULL || !*j->p)
			return 0;
	return 1;
}

static int
fuzz_json_string(struct fuzz_json *j)
{
	if (!fuzz_json_lit(j, "\""))
		return 0;
	while (j->p < j->end) {
		unsigned char c = (unsigned char)*j->p++;

		if (c == '"')
			return 1;
		if (c < 0x20)
			return 0;
		if (c != '\\')
			continue;
		if (j->p >= j->end)
			return 0;
		c = (unsigned char)*j->p++;
		if (c == 'u') {
			if (!fuzz_json_hex4(j))
				return 0;
		} else if (strchr("\"\\/bfnrt", c) == NULL || c == '\0') {
			return 0;
		}
	}
	return 0;
}

static int
fuzz_json_digits(struct fuzz_json *j)
{
	const char *s = j->p;

	while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
		j->p++;
	return j->p > s;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int
fuzz_json_number(struct fuzz_json *j)
{
	fuzz_json_lit(j, "-");
	if (j->p < j->end && *j->p == '0')
		j->p++;
	else if (!fuzz_json_digits(j))
		return 0;
	if (fuzz_json_lit(j, ".") && !fuzz_json_digits(j))
		return 0;
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		if (!fuzz_json_lit(j, "+"))
			fuzz_json_lit(j, "-");
		if (!fuzz_json_digits(j))
			return 0;
	}
	return 1;
}

/* Members or elements up to the closing bracket; '{' or '[' already read. */
static int
fuzz_json_items(struct fuzz_json *j, int depth, int object)
{
	const char *close = object ? "}" : "]";

	fuzz_json_ws(j);
	if (fuzz_json_lit(j, close))
		return 1;
	for (;;) {
		fuzz_json_ws(j);
		if (object) {
			if (!fuzz_json_string(j))
				return 0;
			fuzz_json_ws(j);
			if (!fuzz_json_lit(j, ":"))
				return 0;
		}
		if (!fuzz_json_value(j, depth + 1))
			return 0;
		fuzz_json_ws(j);
		if (fuzz_json_lit(j, close))
			return 1;
		if (!fuzz_json_lit(j, ","))
			return 0;
	}
}

static int
fuzz_json_value(struct fuzz_json *j, int depth)
{
	if (depth > FUZZ_JSON_DEPTH)
		return 0;
	fuzz_json_ws(j);
	if (j->p >= j->end)
		return 0;
	switch (*j->p) {
	case '{':
		j->p++;
		return fuzz_json_items(j, depth, 1);
	case '[':
		j->p++;
		return fuzz_json_items(j, depth, 0);
	case '"':
		return fuzz_json_string(j);
	case 't':
		return fuzz_json_lit(j, "true");
	case 'f':
		return fuzz_json_lit(j, "false");
	case 'n':
		return fuzz_json_lit(j, "null");
	default:
		return fuzz_json_number(j);
	}
}

/* buf[0..n) is one EVE line: a JSON object, then its only '\n', no NUL. */
static void
fuzz_check_line(const char *buf, size_t n)
{
	struct fuzz_json j = {buf, buf + n - 1};
	int ok = fuzz_json_value(&j, 0) && j.p == j.end;

	if (!ok) /* show where: the line, and what the parser had left */
		fprintf(stderr, "line: %.*s\nfrom: %.*s\n", (int)n, buf, (int)(j.end - j.p), j.p);
	FUZZ_CHECK(n >= 3 && buf[0] == '{' && buf[n - 1] == '\n');
	FUZZ_CHECK(memchr(buf, '\0', n) == NULL);
	FUZZ_CHECK(memchr(buf, '\n', n - 1) == NULL);
	FUZZ_CHECK(ok);
}

/* ----------------------------------------------------------- inputs */

static double
fuzz_double(struct fuzz_in *in)
{
	uint64_t bits = fuzz_le(in, 8);
	double d;

	memcpy(&d, &bits, sizeof(d));
	return d;
}

static void
fuzz_score_read(struct fuzz_in *in, struct score_result *s)
{
	memset(s, 0, sizeof(*s));
	s->metric = (enum score_metric)fuzz_u8(in);
	s->group = (enum score_group)fuzz_u8(in);
	fuzz_take(in, s->group_key, sizeof(s->group_key));
	s->value = fuzz_double(in);
	s->median = fuzz_double(in);
	s->mad = fuzz_double(in);
	s->n = fuzz_le(in, 8);
	s->score = fuzz_double(in);
	s->zscore = fuzz_double(in);
	s->threshold = fuzz_double(in);
	s->outlier = fuzz_u8(in);
	s->burn_in = fuzz_u8(in);
	s->remote = fuzz_u8(in);
}

/* Counters until the input ends; names are NUL-terminated copies. */
static size_t
fuzz_counters_read(struct fuzz_in *in, struct eve_counter *c,
		   char names[FUZZ_MAX_COUNTER][FUZZ_NAME_MAX + 1])
{
	size_t n = 0;

	while (in->n > 0 && n < FUZZ_MAX_COUNTER) {
		size_t len = fuzz_u8(in) % (FUZZ_NAME_MAX + 1);

		fuzz_take(in, names[n], len);
		names[n][len] = '\0';
		c[n].name = names[n];
		c[n].value = fuzz_le(in, 8);
		n++;
	}
	return n;
}

/* ----------------------------------------------------------- checks */

/* Format again into exactly cap bytes of heap: 0 when short, else the same. */
static void
fuzz_check_cap(const struct flow_record *r, const struct eve_flow_extra *x, const char *line,
	       size_t n, size_t cap)
{
	char *b = malloc(cap);
	size_t m;

	FUZZ_CHECK(b != NULL);
	m = eve_format_flow(b, cap, r, x);
	if (cap < n)
		FUZZ_CHECK(m == 0);
	else
		FUZZ_CHECK(m == n && memcmp(b, line, n) == 0);
	free(b);
}

static void
fuzz_check_time(uint64_t ts_us)
{
	char t[32];

	memset(t, 'x', sizeof(t));
	eve_format_time(t, ts_us);
	FUZZ_CHECK(strnlen(t, sizeof(t)) == 31);
	FUZZ_CHECK(t[4] == '-' && t[7] == '-' && t[10] == 'T' && t[13] == ':' && t[16] == ':');
	FUZZ_CHECK(t[19] == '.' && memcmp(t + 26, "+0000", 5) == 0);
}

static void
fuzz_check_flow(const struct flow_record *r, const struct eve_flow_extra *x, uint8_t sel, char *buf)
{
	struct flow_record other = *r;
	char *again = malloc(FUZZ_BUF);
	size_t n = eve_format_flow(buf, FUZZ_BUF, r, x);

	FUZZ_CHECK(again != NULL);
	FUZZ_CHECK(n > 0 && n < FUZZ_BUF);
	fuzz_check_line(buf, n);
	/* another day in between: the same line again */
	other.end_us ^= 1ull << 37;
	FUZZ_CHECK(eve_format_flow(again, FUZZ_BUF, &other, x) > 0);
	FUZZ_CHECK(eve_format_flow(again, FUZZ_BUF, r, x) == n && memcmp(again, buf, n) == 0);
	free(again);
	fuzz_check_cap(r, x, buf, n, n);
	fuzz_check_cap(r, x, buf, n, n - 1);
	fuzz_check_cap(r, x, buf, n, 1 + (size_t)sel * n / 256);
	FUZZ_CHECK(eve_format_flow(buf, 0, r, x) == 0);
}

static void
fuzz_check_outliers(const struct flow_record *r, const struct eve_flow_extra *x, char *buf)
{
	for (unsigned i = 0; i <= x->n_scores; i++) {
		size_t n = eve_format_outlier(buf, FUZZ_BUF, r, x, i);

		if (i == x->n_scores) {
			FUZZ_CHECK(n == 0);
			break;
		}
		FUZZ_CHECK(n > 0 && n < FUZZ_BUF);
		fuzz_check_line(buf, n);
	}
}

static void
fuzz_check_stats(uint64_t ts_us, uint64_t uptime, const struct eve_counter *c, size_t nc, char *buf)
{
	size_t n = eve_format_stats(buf, FUZZ_BUF, ts_us, uptime, c, nc);

	FUZZ_CHECK(n > 0 && n < FUZZ_BUF);
	fuzz_check_line(buf, n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char names[FUZZ_MAX_COUNTER][FUZZ_NAME_MAX + 1];
	struct eve_counter counters[FUZZ_MAX_COUNTER];
	struct score_result scores[SCORE_MAX_SPECS];
	struct eve_flow_extra x = {.scores = scores};
	struct fuzz_in in = {data, size};
	char id[COMMUNITY_ID_LEN];
	struct flow_record r;
	uint8_t opt, sel;
	size_t nc;
	char *buf = malloc(FUZZ_BUF);

	FUZZ_CHECK(buf != NULL);
	fuzz_record_read(&in, &r);
	opt = fuzz_u8(&in);
	x.n_scores = ((opt >> 1) & 15u) % (SCORE_MAX_SPECS + 1);
	for (unsigned i = 0; i < x.n_scores; i++)
		fuzz_score_read(&in, &scores[i]);
	if (opt & 1) {
		struct flow_record v = r;

		v.ip_version = r.ip_version == 6 ? 6 : 4;
		community_id(&v, 0, id);
		x.community_id = id;
	}
	sel = fuzz_u8(&in);
	nc = fuzz_counters_read(&in, counters, names);

	fuzz_check_time(r.start_us);
	fuzz_check_time(r.end_us);
	fuzz_check_flow(&r, &x, sel, buf);
	fuzz_check_flow(&r, NULL, sel, buf);
	fuzz_check_outliers(&r, &x, buf);
	fuzz_check_stats(r.end_us, r.pkts_toserver, counters, nc, buf);
	free(buf);
	return 0;
}
