/*
 * config.c: the configuration table and its YAML reader.
 *
 * Every key is one row of config_rows[]: dotted name, type, where it
 * lives in struct config, its default (as text, parsed by the same code
 * as the file, so defaults are checked too), its range and a one-line
 * doc. The YAML file is read with libyaml's event API by a small
 * recursive descent over mappings; a key is only accepted if it names a
 * row (or a prefix of rows, for a mapping). Errors name the file, the
 * line and the key. Nothing here is global but the const table.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

enum config_type {
	CONFIG_BOOL,
	CONFIG_UINT,
	CONFIG_STR,
	CONFIG_LEVEL,
	CONFIG_STRLIST,
	CONFIG_UINTLIST
};

struct config_row {
	const char *key;
	enum config_type type;
	size_t off;	  /* the value, or the list's first element */
	size_t count_off; /* lists: the unsigned element count */
	const char *def;  /* default, as it would be written in the file */
	uint32_t min, max;
	unsigned flags;
	const char *doc;
};

#define CONFIG_POW2 0x1 /* UINT must be a power of two */

#define OFF(f) offsetof(struct config, f)
#define ROW_UINT(k, f, d, lo, hi, doc)                                                             \
	{                                                                                          \
		k, CONFIG_UINT, OFF(f), 0, d, lo, hi, 0, doc                                       \
	}
#define ROW_BOOL(k, f, d, doc)                                                                     \
	{                                                                                          \
		k, CONFIG_BOOL, OFF(f), 0, d, 0, 1, 0, doc                                         \
	}
#define ROW_STR(k, f, d, doc)                                                                      \
	{                                                                                          \
		k, CONFIG_STR, OFF(f), 0, d, 0, 0, 0, doc                                          \
	}
#define ROW_LIST(k, t, f, n, d, lo, hi, doc)                                                       \
	{                                                                                          \
		k, t, OFF(f), OFF(n), d, lo, hi, 0, doc                                            \
	}
#define ROW_TMO(proto, P, state, field, d)                                                         \
	ROW_UINT("flow-timeouts." proto "." state, flow.timeouts[P].field, d, 0, 604800,           \
		 "idle timeout (seconds) of " proto " flows in state " state)

static const struct config_row config_rows[] = {
	{"logging.level", CONFIG_LEVEL, OFF(log_level), 0, "notice", 0, 0, 0,
	 "error, warning, notice, info or debug"},
	ROW_STR("default-log-dir", log_dir, "/var/log/darter", "where eve.json goes without -l"),
	ROW_UINT("dpdk.memory", eal_memory_mb, "256", 16, 65536, "EAL memory in MB (-m)"),
	ROW_BOOL("dpdk.hugepages", eal_huge, "no", "use hugepages (no: --no-huge, any machine)"),
	ROW_LIST("dpdk.eal-args", CONFIG_STRLIST, eal_args, n_eal_args, "", 0, 0,
		 "extra EAL arguments, appended as given"),
	ROW_LIST("capture.ports", CONFIG_STRLIST, ports, n_ports, "", 0, 0,
		 "DPDK devices: vdev strings (net_*) or PCI addresses"),
	ROW_LIST("capture.cpus", CONFIG_UINTLIST, capture_cpus, n_capture_cpus, "1", 0, 1023,
		 "CPUs of the capture lcores, one RX queue each"),
	ROW_UINT("capture.burst", burst, "32", 1, 256, "packets per RX burst"),
	ROW_UINT("capture.mbufs", mbufs, "8191", 1023, 1048575, "mbufs per RX queue"),
	ROW_UINT("capture.rx-descriptors", rx_desc, "1024", 64, 16384, "RX ring descriptors"),
	{"capture.ring-size", CONFIG_UINT, OFF(ring_size), 0, "4096", 64, 1048576, CONFIG_POW2,
	 "records per (capture lcore, worker) ring; a power of two"},
	ROW_UINT("flow.max-flows", flow.max_flows, "65536", 1, 16777216,
		 "flows tracked per capture lcore (preallocated; the hard bound)"),
	ROW_UINT("flow.hash-size", flow.hash_size, "65536", 1, 16777216,
		 "hash buckets per capture lcore (rounded up to a power of two)"),
	ROW_TMO("default", FLOW_PROTO_DEFAULT, "new", new_s, "30"),
	ROW_TMO("default", FLOW_PROTO_DEFAULT, "established", established_s, "300"),
	ROW_TMO("default", FLOW_PROTO_DEFAULT, "closed", closed_s, "0"),
	ROW_TMO("tcp", FLOW_PROTO_TCP, "new", new_s, "60"),
	ROW_TMO("tcp", FLOW_PROTO_TCP, "established", established_s, "600"),
	ROW_TMO("tcp", FLOW_PROTO_TCP, "closed", closed_s, "60"),
	ROW_TMO("udp", FLOW_PROTO_UDP, "new", new_s, "30"),
	ROW_TMO("udp", FLOW_PROTO_UDP, "established", established_s, "300"),
	ROW_TMO("icmp", FLOW_PROTO_ICMP, "new", new_s, "30"),
	ROW_TMO("icmp", FLOW_PROTO_ICMP, "established", established_s, "300"),
	ROW_UINT("workers.count", n_workers, "1", 1, 16, "worker threads (libuv loops)"),
	ROW_LIST("workers.cpus", CONFIG_UINTLIST, worker_cpus, n_worker_cpus, "0", 0, 1023,
		 "CPUs for the workers, in order; empty: no pinning"),
	ROW_BOOL("outputs.eve.enabled", eve_enabled, "yes", "write EVE JSON"),
	ROW_STR("outputs.eve.filename", eve_filename, "eve.json", "file name in the log directory"),
	ROW_BOOL("outputs.eve.stats", stats_enabled, "yes", "append a final stats event"),
};

#define CONFIG_N_ROWS (sizeof(config_rows) / sizeof(config_rows[0]))

/* -------------------------------------------------------------- values */

struct config_err {
	const char *file;
	char *buf;
	size_t len;
};

static int config_fail(const struct config_err *e, size_t line, const char *key, const char *fmt,
		       ...) __attribute__((format(printf, 4, 5)));

static int
config_fail(const struct config_err *e, size_t line, const char *key, const char *fmt, ...)
{
	int n = line ? snprintf(e->buf, e->len, "%s:%zu: %s: ", e->file, line, key)
		     : snprintf(e->buf, e->len, "%s: %s: ", e->file, key);
	va_list ap;

	if (n >= 0 && (size_t)n < e->len) {
		va_start(ap, fmt);
		vsnprintf(e->buf + n, e->len - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int
config_parse_uint(const struct config_row *r, const char *s, uint32_t *out, const char **why)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9') {
		*why = "expected an unsigned integer";
		return -EINVAL;
	}
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end != '\0' || errno != 0) {
		*why = "expected an unsigned integer";
		return -EINVAL;
	}
	if (v < r->min || v > r->max) {
		*why = "out of range";
		return -ERANGE;
	}
	if ((r->flags & CONFIG_POW2) && (v & (v - 1))) {
		*why = "not a power of two";
		return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

static int
config_parse_bool(const char *s, int *out)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};

	for (int i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0 || strcasecmp(s, no[i]) == 0) {
			*out = strcasecmp(s, yes[i]) == 0;
			return 0;
		}
	}
	return -EINVAL;
}

/* Set one scalar value (or one list element at index idx). */
static int
config_set_value(struct config *c, const struct config_row *r, const char *s, unsigned idx,
		 const struct config_err *e, size_t line)
{
	char *base = (char *)c + r->off;
	const char *why = NULL;
	uint32_t u;
	int rc;

	switch (r->type) {
	case CONFIG_BOOL:
		if (config_parse_bool(s, (int *)(void *)base) < 0)
			return config_fail(e, line, r->key, "expected yes or no, got '%s'", s);
		return 0;
	case CONFIG_LEVEL:
		if (strcmp(s, "error") && strcmp(s, "warning") && strcmp(s, "notice") &&
		    strcmp(s, "info") && strcmp(s, "debug"))
			return config_fail(
				e, line, r->key,
				"expected error, warning, notice, info or debug, got '%s'", s);
		/* fall through */
	case CONFIG_STR:
	case CONFIG_STRLIST:
		if (strlen(s) >= CONFIG_MAX_STR)
			return config_fail(e, line, r->key, "longer than %d bytes",
					   CONFIG_MAX_STR - 1);
		strcpy(base + (size_t)idx * CONFIG_MAX_STR, s);
		return 0;
	case CONFIG_UINT:
	case CONFIG_UINTLIST:
		rc = config_parse_uint(r, s, &u, &why);
		if (rc == -ERANGE)
			return config_fail(e, line, r->key, "%s is out of range %u..%u", s, r->min,
					   r->max);
		if (rc < 0)
			return config_fail(e, line, r->key, "%s, got '%s'", why, s);
		((uint32_t *)(void *)base)[idx] = u;
		return 0;
	}
	return -EINVAL;
}

static int
config_is_list(const struct config_row *r)
{
	return r->type == CONFIG_STRLIST || r->type == CONFIG_UINTLIST;
}

static unsigned *
config_count(struct config *c, const struct config_row *r)
{
	return (unsigned *)(void *)((char *)c + r->count_off);
}

/* A list from comma-separated text ("" is the empty list). */
static int
config_set_csv(struct config *c, const struct config_row *r, const char *s,
	       const struct config_err *e, size_t line)
{
	char tmp[CONFIG_MAX_STR * 4];
	unsigned n = 0;

	if (strlen(s) >= sizeof(tmp))
		return config_fail(e, line, r->key, "value too long");
	strcpy(tmp, s);
	for (char *save = NULL, *tok = strtok_r(tmp, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (n == CONFIG_MAX_LIST)
			return config_fail(e, line, r->key, "more than %d entries",
					   CONFIG_MAX_LIST);
		if (config_set_value(c, r, tok, n, e, line) < 0)
			return -EINVAL;
		n++;
	}
	*config_count(c, r) = n;
	return 0;
}

static const struct config_row *
config_find(const char *key)
{
	for (size_t i = 0; i < CONFIG_N_ROWS; i++) {
		if (strcmp(config_rows[i].key, key) == 0)
			return &config_rows[i];
	}
	return NULL;
}

/* Nonzero if key is a proper prefix (mapping) of some row. */
static int
config_is_section(const char *key)
{
	size_t n = strlen(key);

	for (size_t i = 0; i < CONFIG_N_ROWS; i++) {
		if (strncmp(config_rows[i].key, key, n) == 0 && config_rows[i].key[n] == '.')
			return 1;
	}
	return 0;
}

void
config_defaults(struct config *c)
{
	struct config_err e = {"default", NULL, 0};
	char err[256];

	e.buf = err;
	e.len = sizeof(err);
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < CONFIG_N_ROWS; i++) {
		const struct config_row *r = &config_rows[i];
		int rc = config_is_list(r) ? config_set_csv(c, r, r->def, &e, 0)
					   : config_set_value(c, r, r->def, 0, &e, 0);
		if (rc < 0) {
			fprintf(stderr, "darter: bad built-in default: %s\n", err);
			abort();
		}
	}
}

/* ---------------------------------------------------------------- YAML */

struct config_reader {
	yaml_parser_t parser;
	struct config *c;
	struct config_err e;
	unsigned char seen[CONFIG_N_ROWS];
};

static int
config_next(struct config_reader *rd, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&rd->parser, ev)) {
		return config_fail(&rd->e, rd->parser.problem_mark.line + 1, "syntax error", "%s",
				   rd->parser.problem ? rd->parser.problem : "unknown");
	}
	if (ev->type == YAML_ALIAS_EVENT) {
		size_t line = ev->start_mark.line + 1;
		yaml_event_delete(ev);
		return config_fail(&rd->e, line, "alias", "aliases are not supported");
	}
	return 0;
}

static int
config_read_list(struct config_reader *rd, const struct config_row *r, size_t line)
{
	unsigned n = 0;
	yaml_event_t ev;

	for (;;) {
		if (config_next(rd, &ev) < 0)
			return -EINVAL;
		if (ev.type == YAML_SEQUENCE_END_EVENT)
			break;
		if (ev.type != YAML_SCALAR_EVENT) {
			yaml_event_delete(&ev);
			return config_fail(&rd->e, line, r->key, "list entries must be scalars");
		}
		if (n == CONFIG_MAX_LIST ||
		    config_set_value(rd->c, r, (const char *)ev.data.scalar.value, n, &rd->e,
				     ev.start_mark.line + 1) < 0) {
			if (n == CONFIG_MAX_LIST)
				config_fail(&rd->e, line, r->key, "more than %d entries",
					    CONFIG_MAX_LIST);
			yaml_event_delete(&ev);
			return -EINVAL;
		}
		n++;
		yaml_event_delete(&ev);
	}
	yaml_event_delete(&ev);
	*config_count(rd->c, r) = n;
	return 0;
}

static int config_read_mapping(struct config_reader *rd, const char *prefix);

/* One value for full key; ev is the value's first event (consumed here). */
static int
config_read_value(struct config_reader *rd, const char *key, yaml_event_t *ev)
{
	const struct config_row *r = config_find(key);
	size_t line = ev->start_mark.line + 1;
	int rc = -EINVAL;

	if (r == NULL && !config_is_section(key)) {
		rc = config_fail(&rd->e, line, key, "unknown key");
	} else if (ev->type == YAML_MAPPING_START_EVENT) {
		rc = r ? config_fail(&rd->e, line, key, "expected a %s, got a mapping",
				     config_is_list(r) ? "list" : "value")
		       : config_read_mapping(rd, key);
	} else if (r == NULL) {
		rc = config_fail(&rd->e, line, key, "expected a mapping");
	} else if (rd->seen[r - config_rows]++) {
		rc = config_fail(&rd->e, line, key, "duplicate key");
	} else if (ev->type == YAML_SEQUENCE_START_EVENT) {
		rc = config_is_list(r)
			     ? config_read_list(rd, r, line)
			     : config_fail(&rd->e, line, key, "expected a value, got a list");
	} else if (ev->type == YAML_SCALAR_EVENT) {
		const char *s = (const char *)ev->data.scalar.value;
		if (config_is_list(r) && *s == '\0')
			*config_count(rd->c, r) = 0, rc = 0; /* "key:" alone: empty list */
		else if (config_is_list(r))
			rc = config_fail(&rd->e, line, key, "expected a list");
		else
			rc = config_set_value(rd->c, r, s, 0, &rd->e, line);
	}
	yaml_event_delete(ev);
	return rc;
}

static int
config_read_mapping(struct config_reader *rd, const char *prefix)
{
	yaml_event_t ev;
	char key[256];

	for (;;) {
		if (config_next(rd, &ev) < 0)
			return -EINVAL;
		if (ev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&ev);
			return 0;
		}
		if (ev.type != YAML_SCALAR_EVENT) {
			size_t line = ev.start_mark.line + 1;
			yaml_event_delete(&ev);
			return config_fail(&rd->e, line, *prefix ? prefix : "(top)",
					   "keys must be scalars");
		}
		snprintf(key, sizeof(key), "%s%s%s", prefix, *prefix ? "." : "",
			 (const char *)ev.data.scalar.value);
		yaml_event_delete(&ev);
		if (config_next(rd, &ev) < 0 || config_read_value(rd, key, &ev) < 0)
			return -EINVAL;
	}
}

/* Document: a top-level mapping, or nothing at all. */
static int
config_read_stream(struct config_reader *rd)
{
	yaml_event_t ev;
	int rc = 0;

	while (rc == 0) {
		if (config_next(rd, &ev) < 0)
			return -EINVAL;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			yaml_event_delete(&ev);
			return 0;
		case YAML_MAPPING_START_EVENT:
			rc = config_read_mapping(rd, "");
			break;
		case YAML_SCALAR_EVENT:
			if (ev.data.scalar.length != 0)
				rc = config_fail(&rd->e, ev.start_mark.line + 1, "(top)",
						 "expected a mapping");
			break;
		case YAML_SEQUENCE_START_EVENT:
			rc = config_fail(&rd->e, ev.start_mark.line + 1, "(top)",
					 "expected a mapping, got a list");
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	return rc;
}

int
config_load_string(struct config *c, const char *yaml, const char *name, char *err, size_t errlen)
{
	struct config_reader rd;
	int rc;

	memset(&rd, 0, sizeof(rd));
	rd.c = c;
	rd.e = (struct config_err){name, err, errlen};
	if (!yaml_parser_initialize(&rd.parser)) {
		snprintf(err, errlen, "%s: out of memory", name);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&rd.parser, (const unsigned char *)yaml, strlen(yaml));
	rc = config_read_stream(&rd);
	yaml_parser_delete(&rd.parser);
	return rc;
}

int
config_load(struct config *c, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *text;
	long n;
	int rc;

	if (f == NULL) {
		rc = -errno;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return rc;
	}
	if (fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 || n > (1 << 20) ||
	    fseek(f, 0, SEEK_SET) < 0 || (text = malloc((size_t)n + 1)) == NULL) {
		fclose(f);
		snprintf(err, errlen, "%s: cannot read (larger than 1 MiB?)", path);
		return -EINVAL;
	}
	text[fread(text, 1, (size_t)n, f)] = '\0';
	fclose(f);
	{
		const char *base = strrchr(path, '/');
		rc = config_load_string(c, text, base ? base + 1 : path, err, errlen);
	}
	free(text);
	return rc;
}

int
config_set(struct config *c, const char *assignment, char *err, size_t errlen)
{
	struct config_err e = {"--set", err, errlen};
	const char *eq = strchr(assignment, '=');
	char key[256];
	const struct config_row *r;

	if (eq == NULL || (size_t)(eq - assignment) >= sizeof(key))
		return config_fail(&e, 0, assignment, "expected KEY=VALUE");
	memcpy(key, assignment, (size_t)(eq - assignment));
	key[eq - assignment] = '\0';
	r = config_find(key);
	if (r == NULL)
		return config_fail(&e, 0, key, "unknown key");
	if (config_is_list(r))
		return config_set_csv(c, r, eq + 1, &e, 0);
	return config_set_value(c, r, eq + 1, 0, &e, 0);
}

void
config_foreach_key(config_visit_fn fn, void *arg)
{
	for (size_t i = 0; i < CONFIG_N_ROWS; i++)
		fn(arg, config_rows[i].key, config_rows[i].doc);
}
