/* bench_parse.h: what bench_parse.c and bench_parse_jsonc.c share (jansson and json-c clash). */
#ifndef DARTER_BENCH_PARSE_H
#define DARTER_BENCH_PARSE_H

#include <stddef.h>
#include <stdint.h>

struct line {
	const char *p;
	size_t len;
};

struct lines {
	char *buf;
	struct line *v;
	size_t n;
};

/* The flow fields a library must look up (top level, "flow", "tcp"). */
extern const char *const bench_top_keys[11];
extern const char *const bench_flow_keys[8];
extern const char *const bench_tcp_keys[3];

/* json-c's run: a checksum of what it read; *bad counts lines it refused. */
uint64_t bench_run_jsonc(const struct lines *l, uint64_t *bad);

#endif
