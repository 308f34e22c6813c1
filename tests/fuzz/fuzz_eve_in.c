/*
 * fuzz_eve_in.c: the EVE JSON input parser (engine/eve_in.c) on arbitrary
 * lines.
 *
 * Input: bytes cut at every '\n' into lines; each line (its '\n'
 * included, as a reader hands it) is copied into a buffer of exactly its
 * size, so an overread hits ASan's redzone, and parsed by one parser, so
 * state carried from line to line is exercised too. The first byte picks
 * max_line (small values reach the too_long path).
 *
 * Invariants: the result is one of the three; a refused line names a
 * reason inside the enum with a real name; a flow line leaves no error,
 * no event type and a record of IP version 4 or 6 (flow_record.h's
 * contract); another event names a type of 1..EVE_IN_TYPE_LEN
 * bytes and its document, when built, is an object; the same line parsed
 * again gives the same result and record; the counters add up (lines =
 * flows + others + refused, refused = sum of the reasons).
 *
 * Not here: the meaning of the fields (tests/unit/test_eve_in.c).
 */
#include <string.h>

#include <jansson.h>

#include "eve_in.h"
#include "fuzz.h"

/* Parse one line twice; check what the contract says of the result. */
static void
fuzz_line(struct eve_in *in, const char *line, size_t len)
{
	struct flow_record r, again;
	enum eve_in_result res, res2;
	enum eve_in_error err;

	memset(&r, 0, sizeof(r));
	res = eve_in_parse(in, line, len, &r);
	err = eve_in_last_error(in);
	FUZZ_CHECK(res == EVE_IN_REFUSED || res == EVE_IN_FLOW || res == EVE_IN_OTHER);
	FUZZ_CHECK(eve_in_last_field(in) != NULL);
	if (res == EVE_IN_REFUSED) {
		FUZZ_CHECK(err > EVE_IN_OK && err < EVE_IN_ERR__COUNT);
		FUZZ_CHECK(strcmp(eve_in_error_name(err), "unknown") != 0);
		FUZZ_CHECK(eve_in_doc(in) == NULL);
	} else {
		FUZZ_CHECK(err == EVE_IN_OK);
	}
	if (res == EVE_IN_FLOW) {
		FUZZ_CHECK(eve_in_type(in)[0] == '\0');
		FUZZ_CHECK(r.ip_version == 4 || r.ip_version == 6);
		FUZZ_CHECK(eve_in_doc(in) == NULL);
	}
	if (res == EVE_IN_OTHER) {
		size_t tl = strlen(eve_in_type(in));
		json_t *doc = eve_in_doc(in);

		FUZZ_CHECK(tl >= 1 && tl <= EVE_IN_TYPE_LEN);
		FUZZ_CHECK(doc == NULL || json_is_object(doc));
		FUZZ_CHECK(eve_in_doc(in) == doc); /* built once, owned by the parser */
	}
	memset(&again, 0, sizeof(again));
	res2 = eve_in_parse(in, line, len, &again);
	FUZZ_CHECK(res2 == res && eve_in_last_error(in) == err);
	if (res == EVE_IN_FLOW)
		FUZZ_CHECK(memcmp(&r, &again, sizeof(r)) == 0);
}

static void
fuzz_check_stats(const struct eve_in *in)
{
	const struct eve_in_stats *st = eve_in_stats(in);
	uint64_t sum = 0;

	for (int e = 0; e < EVE_IN_ERR__COUNT; e++)
		sum += st->errors[e];
	FUZZ_CHECK(st->errors[EVE_IN_OK] == 0);
	FUZZ_CHECK(st->refused == sum);
	FUZZ_CHECK(st->lines == st->flows + st->others + st->refused);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t max_lines[] = {0, 2, 16, 200, 4096};
	struct eve_in_conf conf;
	struct eve_in *in;
	size_t off = 1;

	if (size == 0)
		return 0;
	eve_in_conf_defaults(&conf);
	conf.max_line = max_lines[data[0] % (sizeof(max_lines) / sizeof(max_lines[0]))];
	in = eve_in_new(&conf);
	FUZZ_CHECK(in != NULL);
	while (off < size) {
		const uint8_t *nl = memchr(data + off, '\n', size - off);
		size_t len = nl != NULL ? (size_t)(nl - (data + off)) + 1 : size - off;
		char *line = malloc(len > 0 ? len : 1);

		FUZZ_CHECK(line != NULL);
		memcpy(line, data + off, len);
		fuzz_line(in, line, len);
		free(line);
		off += len;
	}
	fuzz_check_stats(in);
	eve_in_free(in);
	return 0;
}
