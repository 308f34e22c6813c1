/*
 * bench_parse.c: EVE line parse rate of the JSON libraries Debian 12 ships
 * (jansson 2.14, json-c 0.16) and of darter's eve_in, on one EVE file.
 *
 * Usage: bench_parse FILE.json [ROUNDS]
 *
 * The file is read into memory and cut into lines first, so only parsing
 * is timed. Each library builds its document and then looks up the fields
 * eve_in reads for a flow event (event_type for the others), without
 * converting times or addresses: its column is a lower bound of what a
 * flow record would cost through it. eve_in does the whole job (times,
 * addresses, names, checks) into a struct flow_record. Every parser sees
 * every line ROUNDS times (default 3); the best round is shown. Ratios are
 * to jansson, measured in the same run. Not a unit test: nothing here
 * asserts a speed.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "bench_parse.h"
#include "eve_in.h"

static int
lines_load(struct lines *l, const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY);
	size_t got = 0, cap = 1024;

	if (fd < 0 || fstat(fd, &st) < 0)
		return -errno;
	l->buf = malloc((size_t)st.st_size + 1);
	l->v = malloc(cap * sizeof(*l->v));
	if (l->buf == NULL || l->v == NULL)
		return -ENOMEM;
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, l->buf + got, (size_t)st.st_size - got);

		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		got += (size_t)r;
	}
	close(fd);
	l->n = 0;
	for (char *p = l->buf, *end = l->buf + got; p < end;) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);

		if (l->n == cap) {
			cap *= 2;
			l->v = realloc(l->v, cap * sizeof(*l->v));
			if (l->v == NULL)
				return -ENOMEM;
		}
		l->v[l->n++] = (struct line){p, len};
		p += len + 1;
	}
	return 0;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The flow fields a parser must find, as key paths (NULL object: top level). */
const char *const bench_top_keys[11] = {"timestamp", "flow_id",	  "src_ip",   "src_port",
					"dest_ip",   "dest_port", "proto",    "vlan",
					"icmp_type", "icmp_code", "app_proto"};
const char *const bench_flow_keys[8] = {"pkts_toserver",  "pkts_toclient", "bytes_toserver",
					"bytes_toclient", "start",	   "end",
					"state",	  "reason"};
const char *const bench_tcp_keys[3] = {"tcp_flags_ts", "tcp_flags_tc", "state"};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------ */
/* jansson                                                             */
/* ------------------------------------------------------------------ */

static uint64_t
jansson_fields(json_t *o, const char *const *keys, size_t n)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < n; i++) {
		json_t *v = json_object_get(o, keys[i]);

		if (json_is_integer(v))
			sum += (uint64_t)json_integer_value(v);
		else if (json_is_string(v))
			sum += json_string_length(v);
	}
	return sum;
}

static uint64_t
run_jansson(const struct lines *l, uint64_t *bad)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < l->n; i++) {
		json_error_t err;
		json_t *d = json_loadb(l->v[i].p, l->v[i].len, 0, &err);
		const char *type;

		if (d == NULL) {
			(*bad)++;
			continue;
		}
		type = json_string_value(json_object_get(d, "event_type"));
		if (type != NULL && strcmp(type, "flow") == 0) {
			sum += jansson_fields(d, bench_top_keys, NELEM(bench_top_keys));
			sum += jansson_fields(json_object_get(d, "flow"), bench_flow_keys,
					      NELEM(bench_flow_keys));
			sum += jansson_fields(json_object_get(d, "tcp"), bench_tcp_keys,
					      NELEM(bench_tcp_keys));
		}
		json_decref(d);
	}
	return sum;
}

/* ------------------------------------------------------------------ */
/* eve_in                                                              */
/* ------------------------------------------------------------------ */

static uint64_t
run_eve_in(const struct lines *l, uint64_t *bad)
{
	struct eve_in *in = eve_in_new(NULL);
	struct flow_record rec;
	uint64_t sum = 0;

	if (in == NULL)
		abort();
	for (size_t i = 0; i < l->n; i++) {
		enum eve_in_result r = eve_in_parse(in, l->v[i].p, l->v[i].len, &rec);

		if (r == EVE_IN_FLOW)
			sum += rec.flow_id + rec.bytes_toserver + rec.start_us;
		else if (r == EVE_IN_REFUSED)
			(*bad)++;
	}
	eve_in_free(in);
	return sum;
}

/* The same, and the document of every non-flow event (what an analyzer of them costs). */
static uint64_t
run_eve_in_docs(const struct lines *l, uint64_t *bad)
{
	struct eve_in *in = eve_in_new(NULL);
	struct flow_record rec;
	uint64_t sum = 0;

	if (in == NULL)
		abort();
	for (size_t i = 0; i < l->n; i++) {
		enum eve_in_result r = eve_in_parse(in, l->v[i].p, l->v[i].len, &rec);

		if (r == EVE_IN_FLOW)
			sum += rec.flow_id + rec.bytes_toserver + rec.start_us;
		else if (r == EVE_IN_OTHER)
			sum += eve_in_doc(in) != NULL;
		else
			(*bad)++;
	}
	eve_in_free(in);
	return sum;
}

/* ------------------------------------------------------------------ */
/* Table                                                               */
/* ------------------------------------------------------------------ */

struct parser {
	const char *name;
	uint64_t (*run)(const struct lines *l, uint64_t *bad);
};

static const struct parser parsers[] = {
	{"jansson 2.14 (load + lookups)", run_jansson},
	{"json-c 0.16 (tokener + lookups)", bench_run_jsonc},
	{"darter eve_in (flow records)", run_eve_in},
	{"darter eve_in + jansson docs", run_eve_in_docs},
};

int
main(int argc, char **argv)
{
	struct lines l;
	int rounds = argc > 2 ? atoi(argv[2]) : 3;
	double base = 0;
	int rc;

	if (argc < 2 || rounds < 1) {
		fprintf(stderr, "usage: bench_parse FILE.json [ROUNDS]\n");
		return 2;
	}
	rc = lines_load(&l, argv[1]);
	if (rc < 0) {
		fprintf(stderr, "bench_parse: %s: %s\n", argv[1], strerror(-rc));
		return 1;
	}
	printf("%zu lines, %d rounds, best round shown\n", l.n, rounds);
	printf("%-34s %12s %10s %8s %8s\n", "parser", "lines/s", "ns/line", "ratio", "refused");
	for (size_t k = 0; k < NELEM(parsers); k++) {
		double best = 1e30;
		uint64_t bad = 0, sum = 0;

		for (int r = 0; r < rounds; r++) {
			double t0 = now_s();

			bad = 0;
			sum += parsers[k].run(&l, &bad);
			if (now_s() - t0 < best)
				best = now_s() - t0;
		}
		if (k == 0)
			base = best;
		printf("%-34s %12.0f %10.0f %7.2fx %8" PRIu64 "%s\n", parsers[k].name,
		       (double)l.n / best, best * 1e9 / (double)l.n, base / best, bad,
		       sum == 0 ? " (nothing read)" : "");
	}
	free(l.v);
	free(l.buf);
	return 0;
}
