/*
 * tools/bench/lua.c: analyzer calls per second on one thread (one worker).
 *
 * Runs each analyzer over a ring of prepared flow records for a fixed time
 * and prints calls/s, ns/call and the ratio to the first row (the trivial
 * analyzer on the FFI path, target >= 2M calls/s). Rows: an empty on_flow
 * (the host's own cost), a trivial analyzer reading one field on the FFI
 * path and on the table path, the MAD analyzer (one estimator per port),
 * and the shipped flow_size_outlier.lua. Emitted events are counted, not
 * written. Usage: bench-lua [seconds per row, default 1]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "analyzer.h"
#include "flow_record.h"

#define BENCH_RECORDS 1024

struct bench_row {
	const char *name;
	const char *text; /* script text, or NULL: path */
	const char *path;
};

static unsigned long bench_emits;

static int
bench_emit(void *user, const char *sink, const char *json, size_t len)
{
	(void)user, (void)sink, (void)json, (void)len;
	bench_emits++;
	return 0;
}

static double
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
bench_records(struct flow_record *r, unsigned n)
{
	uint64_t s = 0x9e3779b97f4a7c15ull;

	memset(r, 0, sizeof(*r) * n);
	for (unsigned i = 0; i < n; i++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		r[i].flow_id = i;
		r[i].ip_version = 4;
		r[i].proto = 6;
		r[i].dst_port = (uint16_t)(s >> 60) + 1; /* 16 ports */
		r[i].bytes_toserver = 500 + (s >> 40) % 3000;
		r[i].bytes_toclient = 1000;
		r[i].src_ip[0] = 10;
		r[i].src_ip[3] = (uint8_t)i;
	}
}

static const char *
bench_write(const char *dir, const char *name, const char *text)
{
	static char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f)
		return NULL;
	fputs(text, f);
	fclose(f);
	return path;
}

/* Calls/s for one analyzer; 0 on failure. */
static double
bench_run(const char *path, double secs, const struct flow_record *recs)
{
	struct analyzer_conf c = {.path = path, .emit = bench_emit, .cpu_ms = 1000};
	char err[256];
	struct analyzer *a = analyzer_new(&c, err, sizeof(err));
	unsigned long calls = 0;
	double t0, t;

	if (!a) {
		fprintf(stderr, "bench-lua: %s: %s\n", path, err);
		return 0;
	}
	for (unsigned i = 0; i < 100000; i++) /* warm up: let the JIT compile */
		analyzer_flow(a, &recs[i % BENCH_RECORDS]);
	t0 = bench_now();
	do {
		for (unsigned i = 0; i < 65536; i++)
			analyzer_flow(a, &recs[i % BENCH_RECORDS]);
		calls += 65536;
		t = bench_now();
	} while (t - t0 < secs);
	if (analyzer_stats(a)->errors)
		fprintf(stderr, "bench-lua: %s: %llu errors: %s\n", path,
			(unsigned long long)analyzer_stats(a)->errors, analyzer_last_error(a));
	analyzer_free(a);
	return (double)calls / (t - t0);
}

int
main(int argc, char **argv)
{
	static struct flow_record recs[BENCH_RECORDS];
	char dir[] = "/tmp/darter-bench-lua-XXXXXX";
	double secs = argc > 1 ? atof(argv[1]) : 1.0, base;
	const struct bench_row rows[] = {
		{"empty on_flow (ffi)", "function on_flow(rec) end\n", NULL},
		{"trivial, ffi path",
		 "local big = 0\n"
		 "function on_flow(rec) if rec.bytes_toserver > 3000 then big = big + 1 end end\n",
		 NULL},
		{"trivial, table path",
		 "wants = { flow = 'table' }\nlocal big = 0\n"
		 "function on_flow(rec) if rec.bytes_toserver > 3000 then big = big + 1 end end\n",
		 NULL},
		{"MAD per port, ffi path",
		 "local est = {}\n"
		 "function on_flow(rec)\n"
		 "  local e = est[rec.dst_port]\n"
		 "  if not e then e = darter.mad.new() est[rec.dst_port] = e end\n"
		 "  local score, out = e:update(rec.bytes_toserver)\n"
		 "  if out then darter.emit('alerts', { flow_id = rec.flow_id }) end\n"
		 "end\n",
		 NULL},
		{"flow_size_outlier.lua", NULL, AN_SCRIPTS_DIR "/flow_size_outlier.lua"},
	};

	if (!mkdtemp(dir)) {
		perror("bench-lua: mkdtemp");
		return 1;
	}
	bench_records(recs, BENCH_RECORDS);
	double res[sizeof(rows) / sizeof(rows[0])];
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char name[32];
		snprintf(name, sizeof(name), "row%zu.lua", i);
		const char *path =
			rows[i].text ? bench_write(dir, name, rows[i].text) : rows[i].path;
		res[i] = path ? bench_run(path, secs, recs) : 0;
		if (path && rows[i].text)
			unlink(path);
	}
	base = res[1];
	printf("%-26s %14s %10s %14s\n", "analyzer (1 thread)", "calls/s", "ns/call",
	       "vs trivial ffi");
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		printf("%-26s %14.0f %10.1f %13.2fx\n", rows[i].name, res[i],
		       res[i] > 0 ? 1e9 / res[i] : 0.0, base > 0 ? res[i] / base : 0.0);
	rmdir(dir);
	printf("target: trivial ffi path >= 2000000 calls/s: %s (%.2fx)\n",
	       base >= 2e6 ? "met" : "NOT met", base / 2e6);
	return 0;
}
