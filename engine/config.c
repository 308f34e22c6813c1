/*
 * config.c: the configuration table and its YAML reader.
 *
 * Every key is one row of config_rows[] (nginx command tables, Redis
 * static_configs[]): dotted name, type, where it lives in struct config,
 * its default as text, its range and a one-line doc. There is no other
 * list of keys: the reader, --set, the defaults and --dump-config all walk
 * this table.
 *
 * Values enter through one function per row, config_row_set(), which takes
 * text: the defaults (so a bad default aborts at start-up instead of being
 * trusted), --set KEY=VALUE and each scalar of the file. List values are
 * YAML flow sequences ("[0, 1]") or, on the command line only,
 * comma-separated text ("0,1"). A list always replaces the previous list.
 *
 * The file is read with libyaml's event API: a recursive descent over
 * mappings that keeps the dotted path of the current key. A key must name
 * a row or a section (a proper prefix of rows); duplicate keys, anchors
 * and aliases, dotted keys and several documents are errors. Errors are
 * one line, "FILE:LINE: KEY: reason". Loading works on a copy, so *c is
 * untouched when it fails.
 *
 * Not here: checks across keys (e.g. workers.count against the CPUs of the
 * machine) belong to the modules that use the values; unsigned integers
 * are decimal only (no 0x, no YAML 1.1 octal, no size suffixes).
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

/* ----------------------------------------------------------------- table */

enum config_type {
	CONFIG_BOOL,	 /* int: yes/no/true/false/on/off/1/0 */
	CONFIG_UINT,	 /* uint32_t in min..max */
	CONFIG_STRING,	 /* char[CONFIG_MAX_STR], not empty */
	CONFIG_ENUM,	 /* a STRING among choices, stored as spelled there */
	CONFIG_STRLIST,	 /* char[CONFIG_MAX_LIST][CONFIG_MAX_STR] + unsigned count */
	CONFIG_UINTLIST, /* uint32_t[CONFIG_MAX_LIST] + unsigned count, each in min..max */
	CONFIG_DOUBLE,	 /* double in dmin..dmax, finite, decimal or exponent notation */
};

#define CONFIG_POW2	0x1 /* UINT: a power of two */
#define CONFIG_NONEMPTY 0x2 /* lists: at least one entry */

struct config_row {
	const char *key;
	enum config_type type;
	size_t off;	     /* offsetof the value (lists: the array) */
	size_t size;	     /* its size: checked against the type at start-up */
	size_t n_off;	     /* lists: offsetof the unsigned count */
	const char *def;     /* default, as written in conf/darter.yaml */
	uint32_t min, max;   /* UINT and UINTLIST entries */
	double dmin, dmax;   /* DOUBLE */
	unsigned flags;	     /* CONFIG_POW2, CONFIG_NONEMPTY */
	const char *choices; /* ENUM: "a, b, c" */
	const char *doc;
};

#define OFF(f)	offsetof(struct config, f)
#define SIZE(f) sizeof(((struct config *)0)->f)

#define ROW_BOOL(k, f, d, text)                                                                    \
	{                                                                                          \
		.key = k, .type = CONFIG_BOOL, .off = OFF(f), .size = SIZE(f), .def = d,           \
		.doc = text                                                                        \
	}
#define ROW_UINT(k, f, d, lo, hi, fl, text)                                                        \
	{                                                                                          \
		.key = k, .type = CONFIG_UINT, .off = OFF(f), .size = SIZE(f), .def = d,           \
		.min = lo, .max = hi, .flags = fl, .doc = text " (" #lo ".." #hi ")"               \
	}
#define ROW_DOUBLE(k, f, d, lo, hi, text)                                                          \
	{                                                                                          \
		.key = k, .type = CONFIG_DOUBLE, .off = OFF(f), .size = SIZE(f), .def = d,         \
		.dmin = lo, .dmax = hi, .doc = text " (" #lo ".." #hi ")"                          \
	}
#define ROW_ENUM(k, f, d, ch, text)                                                                \
	{                                                                                          \
		.key = k, .type = CONFIG_ENUM, .off = OFF(f), .size = SIZE(f), .def = d,           \
		.choices = ch, .doc = text                                                         \
	}
#define ROW_STRING(k, f, d, text)                                                                  \
	{                                                                                          \
		.key = k, .type = CONFIG_STRING, .off = OFF(f), .size = SIZE(f), .def = d,         \
		.doc = text                                                                        \
	}
#define ROW_STRLIST(k, f, n, d, text)                                                              \
	{                                                                                          \
		.key = k, .type = CONFIG_STRLIST, .off = OFF(f), .size = SIZE(f), .n_off = OFF(n), \
		.def = d, .doc = text                                                              \
	}
#define ROW_UINTLIST(k, f, n, d, hi, fl, text)                                                     \
	{                                                                                          \
		.key = k, .type = CONFIG_UINTLIST, .off = OFF(f), .size = SIZE(f),                 \
		.n_off = OFF(n), .def = d, .min = 0, .max = hi, .flags = fl, .doc = text           \
	}
#define ROW_TIMEOUT(proto, P, state, field, d)                                                     \
	ROW_UINT("flow-timeouts." proto "." state, flow.timeouts[P].field, d, 0, 604800, 0,        \
		 proto " flows in state " state ": seconds idle before they end")
#define ROW_EMERGENCY(proto, P, state, field, d)                                                   \
	ROW_UINT("flow-timeouts." proto ".emergency-" state, flow.emergency[P].field, d, 0,        \
		 604800, 0, proto " flows in state " state ", in emergency mode")

#define CONFIG_MAX_CPU 1023 /* CPU ids; the EAL checks its own RTE_MAX_LCORE */

static const struct config_row config_rows[] = {
	{.key = "logging.level",
	 .type = CONFIG_ENUM,
	 .off = OFF(log_level),
	 .size = SIZE(log_level),
	 .def = "notice",
	 .choices = "error, warning, notice, info, debug",
	 .doc = "least severe message logged: error, warning, notice, info or debug"},
	ROW_STRING("default-log-dir", log_dir, "/var/log/darter",
		   "directory of eve.json (the -l option overrides it)"),

	ROW_UINT("dpdk.memory", eal_memory_mb, "256", 16, 65536, 0,
		 "EAL memory in MB, passed as -m"),
	ROW_BOOL("dpdk.hugepages", eal_huge, "no", "use hugepages (no: --no-huge, runs anywhere)"),
	ROW_STRLIST("dpdk.eal-args", eal_args, n_eal_args, "[]",
		    "extra EAL arguments, appended as given"),

	ROW_STRLIST("capture.ports", ports, n_ports, "[]",
		    "DPDK devices: vdev strings (net_*) or PCI addresses"),
	ROW_UINTLIST("capture.cpus", capture_cpus, n_capture_cpus, "[1]", CONFIG_MAX_CPU,
		     CONFIG_NONEMPTY, "CPU ids (0..1023) of the capture lcores, one RX queue each"),
	ROW_UINT("capture.burst", burst, "32", 1, 512, 0, "packets per RX burst"),
	ROW_UINT("capture.mbufs", mbufs, "8191", 1023, 1048575, 0, "mbufs per RX queue"),
	ROW_UINT("capture.rx-descriptors", rx_desc, "1024", 64, 16384, 0,
		 "RX descriptors per queue"),
	ROW_UINT("capture.ring-size", ring_size, "4096", 64, 1048576, CONFIG_POW2,
		 "flow records per capture-to-worker ring, a power of two"),
	ROW_UINT("capture.mbuf-size", mbuf_size, "2048", 256, 65407, 0,
		 "bytes of frame data per mbuf; longer frames are counted and truncated"),

	ROW_UINT("flow.max-flows", flow.max_flows, "65536", 1, 16777216, 0,
		 "flows tracked per capture lcore, preallocated"),
	ROW_UINT("flow.hash-size", flow.hash_size, "65536", 1, 16777216, 0,
		 "hash buckets per capture lcore, rounded up to a power of two"),
	ROW_UINT("flow.active-timeout", flow.active_timeout_s, "300", 0, 31536000, 0,
		 "seconds of a flow between interim records (reason active); 0: off"),
	ROW_UINT("flow.emergency-high", flow_emergency_high, "95", 0, 100, 0,
		 "% of flow.max-flows in use that starts emergency mode; 0: never"),
	ROW_UINT("flow.emergency-recovery", flow_emergency_recovery, "30", 0, 99, 0,
		 "emergency mode ends below (100 - this)% of flow.max-flows"),

	ROW_TIMEOUT("default", FLOW_PROTO_DEFAULT, "new", new_s, "30"),
	ROW_TIMEOUT("default", FLOW_PROTO_DEFAULT, "established", established_s, "300"),
	ROW_TIMEOUT("default", FLOW_PROTO_DEFAULT, "closed", closed_s, "0"),
	ROW_EMERGENCY("default", FLOW_PROTO_DEFAULT, "new", new_s, "10"),
	ROW_EMERGENCY("default", FLOW_PROTO_DEFAULT, "established", established_s, "100"),
	ROW_EMERGENCY("default", FLOW_PROTO_DEFAULT, "closed", closed_s, "0"),
	ROW_TIMEOUT("tcp", FLOW_PROTO_TCP, "new", new_s, "60"),
	ROW_TIMEOUT("tcp", FLOW_PROTO_TCP, "established", established_s, "600"),
	ROW_TIMEOUT("tcp", FLOW_PROTO_TCP, "closed", closed_s, "60"),
	ROW_EMERGENCY("tcp", FLOW_PROTO_TCP, "new", new_s, "5"),
	ROW_EMERGENCY("tcp", FLOW_PROTO_TCP, "established", established_s, "100"),
	ROW_EMERGENCY("tcp", FLOW_PROTO_TCP, "closed", closed_s, "10"),
	ROW_TIMEOUT("udp", FLOW_PROTO_UDP, "new", new_s, "30"),
	ROW_TIMEOUT("udp", FLOW_PROTO_UDP, "established", established_s, "300"),
	ROW_EMERGENCY("udp", FLOW_PROTO_UDP, "new", new_s, "10"),
	ROW_EMERGENCY("udp", FLOW_PROTO_UDP, "established", established_s, "100"),
	ROW_TIMEOUT("icmp", FLOW_PROTO_ICMP, "new", new_s, "30"),
	ROW_TIMEOUT("icmp", FLOW_PROTO_ICMP, "established", established_s, "300"),
	ROW_EMERGENCY("icmp", FLOW_PROTO_ICMP, "new", new_s, "10"),
	ROW_EMERGENCY("icmp", FLOW_PROTO_ICMP, "established", established_s, "100"),

	ROW_BOOL("dpi.enabled", dpi_enabled, "yes",
		 "name each flow's application with nDPI on the capture lcores"),
	ROW_UINT("dpi.max-flows", flow.appid.max_states, "0", 0, 16777216, 0,
		 "flows classified at once per lcore (state pool); 0: flow.max-flows"),
	ROW_UINT("dpi.max-packets-tcp", dpi_max_packets_tcp, "32", 1, 65535, 0,
		 "give up classifying a TCP flow after this many packets"),
	ROW_UINT("dpi.max-packets-udp", dpi_max_packets_udp, "16", 1, 65535, 0,
		 "the same for UDP and other protocols"),
	ROW_UINT("dpi.max-heap", flow.appid.max_heap, "0", 0, UINT32_MAX, 0,
		 "bytes nDPI may hold per lcore for classifying flows; 0: 512 per state"),

	ROW_UINT("workers.count", n_workers, "1", 1, 16, 0, "worker threads, one libuv loop each"),
	ROW_UINTLIST(
		"workers.cpus", worker_cpus, n_worker_cpus, "[0]", CONFIG_MAX_CPU, 0,
		"CPU ids (0..1023) of the workers, in order, reused round robin; [] does not pin"),

	ROW_BOOL("outputs.eve.enabled", eve_enabled, "yes", "write EVE JSON flow events"),
	ROW_STRING("outputs.eve.filename", eve_filename, "eve.json",
		   "EVE file name, relative to the log directory"),
	ROW_BOOL("outputs.eve.stats", stats_enabled, "yes", "append a stats event at exit"),
	ROW_UINT("outputs.eve.stats-interval", stats_interval, "30", 0, 86400, 0,
		 "live mode: also a stats event every this many seconds; 0: at exit only"),
	ROW_BOOL("outputs.eve.community-id", community_id, "yes",
		 "add the Community ID (v1) of each flow"),
	ROW_UINT("outputs.eve.community-id-seed", community_id_seed, "0", 0, 65535, 0,
		 "seed of the Community ID hash; sensors compared must share it"),
	ROW_BOOL("outputs.outliers.enabled", outliers_enabled, "yes",
		 "also write each outlier flow as an alert-style event to its own file"),
	ROW_STRING("outputs.outliers.filename", outliers_filename, "outliers.json",
		   "outlier file name, relative to the log directory"),

	ROW_BOOL("inputs.eve-file.enabled", in_file_enabled, "no",
		 "live mode: follow a Suricata eve.json (tail -F: rotation, truncation)"),
	ROW_STRING("inputs.eve-file.filename", in_file_path, "/var/log/suricata/eve.json",
		   "EVE file followed by worker 0"),
	ROW_BOOL("inputs.eve-file.from-end", in_file_from_end, "yes",
		 "start at the end of the file (as tail -F); no: read it whole first"),
	ROW_BOOL("inputs.eve-socket.enabled", in_unix_enabled, "no",
		 "live mode: read EVE JSON lines from a Unix socket (Suricata unix_stream)"),
	ROW_STRING("inputs.eve-socket.path", in_unix_path, "/run/darter/eve-in.sock",
		   "input socket path, created by darter"),
	ROW_ENUM("inputs.eve-socket.type", in_unix_type, "stream", "stream, dgram",
		 "stream (Suricata unix_stream) or dgram (unix_dgram)"),
	ROW_BOOL("inputs.eve-kafka.enabled", in_kafka_enabled, "no",
		 "live mode: consume EVE JSON events (one per message or line) from a Kafka topic"),
	ROW_STRING("inputs.eve-kafka.brokers", in_kafka_brokers, "127.0.0.1:9092",
		   "bootstrap brokers, host:port[,host:port...]"),
	ROW_STRING("inputs.eve-kafka.topic", in_kafka_topic, "suricata-eve",
		   "the topic the sensors' EVE events are produced to"),
	ROW_STRING("inputs.eve-kafka.group", in_kafka_group, "darter",
		   "consumer group: darters sharing it split the topic's partitions"),
	ROW_BOOL("inputs.script.enabled", in_script_enabled, "no",
		 "turn each line read into EVE events with a Lua script (lua/README.md)"),
	ROW_STRING("inputs.script.filename", in_script, "analyzers/inputs/zeek_conn.lua",
		   "the input script (this example maps Zeek conn.log JSON to EVE flow events)"),

	ROW_BOOL("mad.enabled", mad_enabled, "yes", "score every flow record with the MAD core"),
	ROW_STRLIST("mad.specs", mad_specs, n_mad_specs, "[bytes/global]",
		    "what to score: metric/group[:prefix4[,prefix6]] pairs"),
	ROW_ENUM("mad.preset", mad_preset, "darter", "darter, compat",
		 "darter: the options below; compat: Dragonfly MLE's analyzer exactly"),
	ROW_ENUM("mad.transform", mad_transform, "log1p", "log1p, none",
		 "estimate on log1p(value) (heavy-tailed sizes) or on the value"),
	ROW_ENUM("mad.step", mad_step, "relative", "relative, absolute",
		 "step size: a fraction of the current MAD, or a fixed amount"),
	ROW_DOUBLE("mad.eta", mad_eta, "0.001", 0.0, 1000000.0,
		   "step: fraction of the MAD (relative, at most 0.1) or amount (absolute)"),
	ROW_DOUBLE("mad.eta-min", mad_eta_min, "0.000001", 0.0, 1000000.0,
		   "least relative step, in transformed units"),
	ROW_UINT("mad.burn-in", mad_burn_in, "1000", 0, 100000000, 0,
		 "values an estimator learns from before it reports outliers"),
	ROW_DOUBLE("mad.threshold", mad_threshold, "3.5", 0.0, 1000000.0,
		   "outlier when the modified z-score exceeds this"),
	ROW_BOOL("mad.two-sided", mad_two_sided, "no",
		 "flag values far below the median too (no: upper tail only)"),
	ROW_UINT("mad.max-groups", mad_max_groups, "65536", 1, 16777216, 0,
		 "estimators per worker (groups beyond are counted, not scored)"),
	ROW_ENUM("mad.store", mad_store, "local", "local, redis",
		 "estimator state: in the worker, or in Redis shared by workers and sensors"),
	ROW_STRING("mad.redis.host", mad_redis_host, "127.0.0.1", "Redis address (numeric)"),
	ROW_UINT("mad.redis.port", mad_redis_port, "6379", 1, 65535, 0, "Redis port"),
	ROW_UINT("mad.redis.timeout-ms", mad_redis_timeout_ms, "2000", 1, 600000, 0,
		 "a reply later than this counts as a failure; the record is scored locally"),
	ROW_UINT("mad.redis.window", mad_redis_window, "4096", 1, 1048576, 0,
		 "records queued or in flight to Redis per worker (sent as EVALSHA calls of up to "
		 "256); beyond, records are scored locally"),
	ROW_STRING("mad.redis.prefix", mad_redis_prefix,
		   "darter:mad:", "prefix of the Redis hash keys"),
	ROW_BOOL("mad.snapshot.enabled", mad_snapshot, "yes",
		 "save local estimators at exit and load them at start"),
	ROW_STRING("mad.snapshot.file", mad_snapshot_file, "mad-state",
		   "snapshot file, relative to the log directory (one per worker: .N appended)"),
	ROW_UINT("mad.snapshot.interval", mad_snapshot_interval, "300", 0, 86400, 0,
		 "seconds between snapshots while running; 0: only at exit"),

	ROW_STRLIST("analyzers.scripts", analyzer_scripts, n_analyzer_scripts, "[]",
		    "Lua analyzer scripts, loaded by every worker (lua/README.md)"),
	ROW_UINT("analyzers.memory-mb", analyzer_memory_mb, "64", 1, 65536, 0,
		 "memory cap of each analyzer's Lua state, MB"),
	ROW_UINT("analyzers.cpu-ms", analyzer_cpu_ms, "100", 1, 60000, 0,
		 "CPU limit of each call into a script, ms (JIT-compiled loops included)"),
	ROW_BOOL("analyzers.allow-io", analyzer_allow_io, "no",
		 "give scripts Lua's io library (files): off unless you trust them"),
	ROW_UINT("analyzers.queue-max", analyzer_queue_max, "1024", 1, 1048576, 0,
		 "events queued behind one waiting on Redis, per analyzer; beyond, passed on"),
	ROW_BOOL("analyzers.redis.enabled", analyzer_redis_enabled, "no",
		 "give scripts darter.redis (async: a call suspends the script, not the worker)"),
	ROW_STRING("analyzers.redis.host", analyzer_redis_host, "127.0.0.1",
		   "Redis address for scripts (numeric)"),
	ROW_UINT("analyzers.redis.port", analyzer_redis_port, "6379", 1, 65535, 0,
		 "Redis port for scripts"),
	ROW_UINT("analyzers.redis.timeout-ms", analyzer_redis_timeout_ms, "1000", 1, 600000, 0,
		 "a script's Redis call without a reply by then fails (counted)"),
	ROW_STRING("outputs.analyzers.filename", analyzers_filename, "analyzers.json",
		   "events scripts emit with darter.emit(), relative to the log directory"),
	ROW_BOOL("outputs.unix-socket.enabled", out_unix_enabled, "no",
		 "also send events to a Unix socket reader (SIEM agent, Logstash)"),
	ROW_STRING("outputs.unix-socket.path", out_unix_path, "/run/darter/eve-out.sock",
		   "the reader's socket; darter connects and reconnects"),
	ROW_ENUM("outputs.unix-socket.type", out_unix_type, "stream", "stream, dgram",
		 "stream: lines on a connection; dgram: one datagram per event"),
	ROW_STRLIST("outputs.unix-socket.events", out_unix_events, n_out_unix_events,
		    "[flow, alert]",
		    "event types sent: flow, alert (MAD outliers), analyzer (darter.emit)"),
	ROW_STRLIST("outputs.unix-socket.analyzers", out_unix_analyzers, n_out_unix_analyzers, "[]",
		    "with analyzer in events: only these analyzers or emit sinks; []: all"),
	ROW_BOOL("outputs.redis.enabled", out_redis_enabled, "no", "also send events to Redis"),
	ROW_STRING("outputs.redis.host", out_redis_host, "127.0.0.1", "Redis address (numeric)"),
	ROW_UINT("outputs.redis.port", out_redis_port, "6379", 1, 65535, 0, "Redis port"),
	ROW_ENUM("outputs.redis.mode", out_redis_mode, "publish", "publish, xadd, lpush",
		 "PUBLISH to a channel, XADD to a stream (MAXLEN ~), or LPUSH to a list (LTRIM)"),
	ROW_STRING("outputs.redis.key", out_redis_key, "darter:eve",
		   "channel, stream or list name"),
	ROW_UINT("outputs.redis.max-len", out_redis_max_len, "100000", 0, UINT32_MAX, 0,
		 "xadd and lpush: entries kept (approximately); 0: unbounded"),
	ROW_STRLIST("outputs.redis.events", out_redis_events, n_out_redis_events, "[flow, alert]",
		    "event types sent: flow, alert (MAD outliers), analyzer (darter.emit)"),
	ROW_STRLIST("outputs.redis.analyzers", out_redis_analyzers, n_out_redis_analyzers, "[]",
		    "with analyzer in events: only these analyzers or emit sinks; []: all"),
	ROW_BOOL("outputs.kafka.enabled", out_kafka_enabled, "no",
		 "also send events to Kafka, keyed by flow_id"),
	ROW_STRING("outputs.kafka.brokers", out_kafka_brokers, "127.0.0.1:9092",
		   "bootstrap brokers, host:port[,host:port...]"),
	ROW_STRING("outputs.kafka.topic", out_kafka_topic, "darter-eve",
		   "the topic events are produced to"),
	ROW_STRLIST("outputs.kafka.events", out_kafka_events, n_out_kafka_events, "[flow, alert]",
		    "event types sent: flow, alert (MAD outliers), analyzer (darter.emit)"),
	ROW_STRLIST("outputs.kafka.analyzers", out_kafka_analyzers, n_out_kafka_analyzers, "[]",
		    "with analyzer in events: only these analyzers or emit sinks; []: all"),

	ROW_BOOL("control.enabled", control_enabled, "yes",
		 "live mode: listen on the control socket (darterctl)"),
	ROW_STRING("control.socket", control_socket, "/run/darter/darter.sock",
		   "control socket path; its directory is created (0750) if missing"),
	ROW_BOOL("metrics.enabled", metrics_enabled, "yes",
		 "live mode: serve Prometheus metrics on GET /metrics"),
	ROW_STRING("metrics.address", metrics_address, "127.0.0.1",
		   "metrics listen address (numeric IPv4 or IPv6)"),
	ROW_UINT("metrics.port", metrics_port, "9736", 0, 65535, 0,
		 "metrics TCP port; 0: any free port (logged)"),

	ROW_BOOL("run-as.enabled", run_as_enabled, "no",
		 "live mode: drop root privileges once DPDK and sockets are set up"),
	ROW_STRING("run-as.user", run_as_user, "darter", "user to run as"),
	ROW_STRING("run-as.group", run_as_group, "darter", "group to run as"),
};

#define CONFIG_N_ROWS  (sizeof(config_rows) / sizeof(config_rows[0]))
#define CONFIG_MAX_KEY 128 /* bytes in a dotted key, with NUL */

static bool
config_is_list(const struct config_row *r)
{
	return r->type == CONFIG_STRLIST || r->type == CONFIG_UINTLIST;
}

/* The row named key, or the first row under the section key (*exact 0). */
static const struct config_row *
config_match(const char *key, bool *exact)
{
	size_t n = strlen(key);

	for (size_t i = 0; i < CONFIG_N_ROWS; i++) {
		const char *k = config_rows[i].key;

		if (strncmp(k, key, n) == 0 && (k[n] == '\0' || k[n] == '.')) {
			*exact = k[n] == '\0';
			return &config_rows[i];
		}
	}
	return NULL;
}

/* ---------------------------------------------------------------- errors */

/* Where values come from, for error messages. */
struct config_ctx {
	struct config *c;
	const char *file; /* file name, "--set" or "default" */
	bool lines;	  /* print line numbers */
	char *err;
	size_t errlen;
};

static int config_fail(const struct config_ctx *x, size_t line, const char *key, const char *fmt,
		       ...) __attribute__((format(printf, 4, 5)));

/* Write "FILE[:LINE][: KEY]: reason" into x->err. Returns -EINVAL. */
static int
config_fail(const struct config_ctx *x, size_t line, const char *key, const char *fmt, ...)
{
	size_t n = 0;
	int w;

	if (x->errlen == 0)
		return -EINVAL;
	w = x->lines ? snprintf(x->err, x->errlen, "%s:%zu: ", x->file, line)
		     : snprintf(x->err, x->errlen, "%s: ", x->file);
	n = w > 0 ? (size_t)w : 0;
	if (key != NULL && *key != '\0' && n < x->errlen) {
		w = snprintf(x->err + n, x->errlen - n, "%s: ", key);
		n += w > 0 ? (size_t)w : 0;
	}
	if (n < x->errlen) {
		va_list ap;

		va_start(ap, fmt);
		vsnprintf(x->err + n, x->errlen - n, fmt, ap);
		va_end(ap);
	}
	for (char *p = x->err; *p != '\0'; p++) {
		if ((unsigned char)*p < ' ')
			*p = ' '; /* one line, even when quoting a multi-line value */
	}
	return -EINVAL;
}

/* ---------------------------------------------------------------- values */

static void *
config_field(struct config *c, const struct config_row *r)
{
	return (char *)c + r->off;
}

static unsigned *
config_count(struct config *c, const struct config_row *r)
{
	return (unsigned *)(void *)((char *)c + r->n_off);
}

static int
config_set_bool(const struct config_ctx *x, const struct config_row *r, const char *s, size_t line)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};
	int *out = config_field(x->c, r);

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0 || strcasecmp(s, no[i]) == 0) {
			*out = strcasecmp(s, yes[i]) == 0;
			return 0;
		}
	}
	return config_fail(x, line, r->key, "expected yes or no, got '%s'", s);
}

/* Decimal digits only; values past UINT32_MAX saturate (out of any range). */
static int
config_parse_uint(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (*s == '\0')
		return -EINVAL;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > UINT32_MAX)
			v = (uint64_t)UINT32_MAX + 1;
	}
	*out = v;
	return 0;
}

static uint64_t
config_next_pow2(uint64_t v)
{
	uint64_t p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

/* One unsigned value (or list entry idx) of row r. */
static int
config_set_uint(const struct config_ctx *x, const struct config_row *r, unsigned idx, const char *s,
		size_t line)
{
	uint32_t *out = (uint32_t *)config_field(x->c, r) + idx;
	uint64_t v;

	if (config_parse_uint(s, &v) < 0)
		return config_fail(x, line, r->key, "expected an unsigned integer, got '%s'", s);
	if (v < r->min || v > r->max)
		return config_fail(x, line, r->key, "%s is out of range %u..%u", s, r->min, r->max);
	if ((r->flags & CONFIG_POW2) && (v & (v - 1)) != 0)
		return config_fail(x, line, r->key, "%s is not a power of two (next: %llu)", s,
				   (unsigned long long)config_next_pow2(v));
	*out = (uint32_t)v;
	return 0;
}

static int
config_set_double(const struct config_ctx *x, const struct config_row *r, const char *s,
		  size_t line)
{
	double *out = config_field(x->c, r);
	char *end;
	double v;

	/* Decimal only: strtod alone would also take hex, "inf", "nan" and spaces. */
	if (*s == '\0' || s[strspn(s, "0123456789+-.eE")] != '\0')
		return config_fail(x, line, r->key, "expected a number, got '%s'", s);
	errno = 0;
	v = strtod(s, &end);
	if (*end != '\0' || errno != 0 || !isfinite(v))
		return config_fail(x, line, r->key, "expected a number, got '%s'", s);
	if (v < r->dmin || v > r->dmax)
		return config_fail(x, line, r->key, "%s is out of range %g..%g", s, r->dmin,
				   r->dmax);
	*out = v;
	return 0;
}

/* One string value (or list entry idx); the slot is zero-filled first. */
static int
config_set_string(const struct config_ctx *x, const struct config_row *r, unsigned idx,
		  const char *s, size_t line)
{
	char *out = (char *)config_field(x->c, r) + (size_t)idx * CONFIG_MAX_STR;
	size_t n = strlen(s);

	if (n == 0)
		return config_fail(x, line, r->key, "expected a non-empty string");
	if (n >= CONFIG_MAX_STR)
		return config_fail(x, line, r->key, "longer than %d bytes", CONFIG_MAX_STR - 1);
	memset(out, 0, CONFIG_MAX_STR);
	memcpy(out, s, n);
	return 0;
}

/* Case-insensitive; stores the spelling of the table (lower case). */
static int
config_set_enum(const struct config_ctx *x, const struct config_row *r, const char *s, size_t line)
{
	const char *p = r->choices;
	size_t n = strlen(s);

	while (n > 0 && *p != '\0') {
		size_t len = strcspn(p, ",");

		if (len == n && strncasecmp(p, s, n) == 0) {
			char word[CONFIG_MAX_STR];

			memcpy(word, p, len);
			word[len] = '\0';
			return config_set_string(x, r, 0, word, line);
		}
		p += len;
		p += strspn(p, ", ");
	}
	return config_fail(x, line, r->key, "expected one of %s, got '%s'", r->choices, s);
}

/* One scalar of row r: its value, or entry idx of its list. */
static int
config_set_scalar(const struct config_ctx *x, const struct config_row *r, unsigned idx,
		  const char *s, size_t line)
{
	switch (r->type) {
	case CONFIG_BOOL:
		return config_set_bool(x, r, s, line);
	case CONFIG_UINT:
	case CONFIG_UINTLIST:
		return config_set_uint(x, r, idx, s, line);
	case CONFIG_STRING:
	case CONFIG_STRLIST:
		return config_set_string(x, r, idx, s, line);
	case CONFIG_ENUM:
		return config_set_enum(x, r, s, line);
	case CONFIG_DOUBLE:
		return config_set_double(x, r, s, line);
	}
	return config_fail(x, line, r->key, "bad row type %d", (int)r->type);
}

/* Start list r over: no entries, slots zeroed (a new list replaces the old). */
static void
config_list_clear(const struct config_ctx *x, const struct config_row *r)
{
	memset(config_field(x->c, r), 0, r->size);
	*config_count(x->c, r) = 0;
}

/* Append s to list r (the caller cleared it first: lists replace). */
static int
config_list_add(const struct config_ctx *x, const struct config_row *r, const char *s, size_t line)
{
	unsigned *n = config_count(x->c, r);

	if (*n == CONFIG_MAX_LIST)
		return config_fail(x, line, r->key, "more than %d entries", CONFIG_MAX_LIST);
	if (config_set_scalar(x, r, *n, s, line) < 0)
		return -EINVAL;
	(*n)++;
	return 0;
}

static int
config_list_done(const struct config_ctx *x, const struct config_row *r, size_t line)
{
	if ((r->flags & CONFIG_NONEMPTY) && *config_count(x->c, r) == 0)
		return config_fail(x, line, r->key, "expected at least one entry");
	return 0;
}

/* A list from "a,b,c" ("" is the empty list). */
static int
config_list_csv(const struct config_ctx *x, const struct config_row *r, const char *s)
{
	char entry[CONFIG_MAX_STR];

	config_list_clear(x, r);
	while (*s != '\0') {
		size_t len = strcspn(s, ",");

		if (len >= sizeof(entry))
			return config_fail(x, 0, r->key, "longer than %d bytes",
					   CONFIG_MAX_STR - 1);
		memcpy(entry, s, len);
		entry[len] = '\0';
		if (config_list_add(x, r, entry, 0) < 0)
			return -EINVAL;
		s += len;
		if (*s == ',' && *++s == '\0')
			return config_list_add(x, r, "", 0); /* "a," has an empty last entry */
	}
	return config_list_done(x, r, 0);
}

/* ------------------------------------------------------------------ YAML */

struct config_reader {
	const struct config_ctx *x;
	yaml_parser_t parser;
	const struct config_row *root; /* NULL: a config file; else one value of this row */
	unsigned docs;
	unsigned seen[CONFIG_N_ROWS]; /* bit d: the key's prefix of d components was read */
	char path[CONFIG_MAX_KEY];    /* dotted key being read */
};

static size_t
config_line(const yaml_mark_t *m)
{
	return m->line + 1;
}

static const char *
config_anchor(const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		return (const char *)ev->data.scalar.anchor;
	case YAML_SEQUENCE_START_EVENT:
		return (const char *)ev->data.sequence_start.anchor;
	case YAML_MAPPING_START_EVENT:
		return (const char *)ev->data.mapping_start.anchor;
	default:
		return NULL;
	}
}

/* The next event; syntax errors, anchors and aliases fail here. */
static int
config_next(struct config_reader *rd, yaml_event_t *ev)
{
	const char *key = rd->root ? rd->root->key : rd->path;

	if (!yaml_parser_parse(&rd->parser, ev)) {
		const char *why = rd->parser.problem ? rd->parser.problem : "out of memory";

		return config_fail(rd->x, config_line(&rd->parser.problem_mark),
				   rd->root ? key : NULL, "syntax error: %s", why);
	}
	if (ev->type == YAML_ALIAS_EVENT || config_anchor(ev) != NULL) {
		size_t line = config_line(&ev->start_mark);

		yaml_event_delete(ev);
		return config_fail(rd->x, line, key, "anchors and aliases are not supported");
	}
	return 0;
}

/* A plain "", "~" or "null": YAML's null, as in "ports:" with no value. */
static bool
config_is_null(const yaml_event_t *ev)
{
	const char *s;

	if (ev->type != YAML_SCALAR_EVENT || ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	s = (const char *)ev->data.scalar.value;
	return *s == '\0' || strcmp(s, "~") == 0 || strcasecmp(s, "null") == 0;
}

/* What a key holds, for "expected ..., got ..." messages. */
static const char *
config_what(const struct config_row *r, char *buf, size_t len)
{
	if (r == NULL)
		return "a mapping";
	switch (r->type) {
	case CONFIG_BOOL:
		return "yes or no";
	case CONFIG_UINT:
		return "an unsigned integer";
	case CONFIG_DOUBLE:
		return "a number";
	case CONFIG_ENUM:
		snprintf(buf, len, "one of %s", r->choices);
		return buf;
	case CONFIG_STRING:
		return "a string";
	case CONFIG_STRLIST:
	case CONFIG_UINTLIST:
		return "a list";
	}
	return "a value";
}

/* "expected X, got Y" for a node of the wrong shape. */
static int
config_wrong_shape(struct config_reader *rd, const struct config_row *r, const char *key,
		   const yaml_event_t *ev, size_t line)
{
	char buf[128];
	const char *what = config_what(r, buf, sizeof(buf));

	if (ev->type == YAML_MAPPING_START_EVENT)
		return config_fail(rd->x, line, key, "expected %s, got a mapping", what);
	if (ev->type == YAML_SEQUENCE_START_EVENT)
		return config_fail(rd->x, line, key, "expected %s, got a list", what);
	if (config_is_null(ev))
		return config_fail(rd->x, line, key, "expected %s, got nothing", what);
	return config_fail(rd->x, line, key, "expected %s, got '%s'", what,
			   (const char *)ev->data.scalar.value);
}

/* The entries of a sequence, after its start event. */
static int
config_read_list(struct config_reader *rd, const struct config_row *r, size_t line)
{
	yaml_event_t ev;
	int rc = 0;

	config_list_clear(rd->x, r);
	while (rc == 0) {
		if (config_next(rd, &ev) < 0)
			return -EINVAL;
		if (ev.type == YAML_SEQUENCE_END_EVENT)
			rc = 1;
		else if (ev.type != YAML_SCALAR_EVENT)
			rc = config_fail(rd->x, config_line(&ev.start_mark), r->key,
					 "list entries must be scalars");
		else
			rc = config_list_add(rd->x, r, (const char *)ev.data.scalar.value,
					     config_line(&ev.start_mark));
		yaml_event_delete(&ev);
	}
	return rc < 0 ? rc : config_list_done(rd->x, r, line);
}

static int config_read_mapping(struct config_reader *rd);

/* The value of row r (or of a section, r == NULL); ev is its first event. */
static int
config_read_value(struct config_reader *rd, const struct config_row *r, const yaml_event_t *ev,
		  size_t line)
{
	const char *key = r ? r->key : rd->path;

	if (r == NULL && ev->type == YAML_MAPPING_START_EVENT)
		return config_read_mapping(rd);
	if (r == NULL && config_is_null(ev))
		return 0; /* a section with every key commented out */
	if (r != NULL && config_is_list(r) && ev->type == YAML_SEQUENCE_START_EVENT)
		return config_read_list(rd, r, line);
	if (r != NULL && config_is_list(r) && config_is_null(ev)) {
		config_list_clear(rd->x, r);
		return config_list_done(rd->x, r, line);
	}
	if (r != NULL && !config_is_list(r) && ev->type == YAML_SCALAR_EVENT && !config_is_null(ev))
		return config_set_scalar(rd->x, r, 0, (const char *)ev->data.scalar.value,
					 config_line(&ev->start_mark));
	return config_wrong_shape(rd, r, key, ev, line);
}

/* Append one key to rd->path; the known keys bound the length. */
static int
config_path_push(struct config_reader *rd, const char *name, size_t line)
{
	size_t len = strlen(rd->path);

	if (len + 1 + strlen(name) >= sizeof(rd->path))
		return config_fail(rd->x, line, rd->path, "unknown key '%.40s...'", name);
	snprintf(rd->path + len, sizeof(rd->path) - len, "%s%s", len ? "." : "", name);
	if (strchr(name, '.') != NULL)
		return config_fail(rd->x, line, rd->path,
				   "dots are not allowed in keys (nest mappings instead)");
	return 0;
}

/* Components in rd->path. */
static unsigned
config_path_depth(const struct config_reader *rd)
{
	unsigned d = 1;

	for (const char *p = rd->path; *p != '\0'; p++)
		d += *p == '.';
	return d;
}

/* The key in rd->path: its row (NULL for a section); fails if unknown or seen. */
static int
config_resolve(struct config_reader *rd, size_t line, const struct config_row **row)
{
	bool exact = false;
	const struct config_row *r = config_match(rd->path, &exact);
	unsigned bit;

	if (r == NULL)
		return config_fail(rd->x, line, rd->path, "unknown key");
	bit = 1u << config_path_depth(rd);
	if (rd->seen[r - config_rows] & bit)
		return config_fail(rd->x, line, rd->path, "duplicate key");
	rd->seen[r - config_rows] |= bit;
	*row = exact ? r : NULL;
	return 0;
}

/* One "key: value" pair; key is the key's event, already read. */
static int
config_read_pair(struct config_reader *rd, const yaml_event_t *key)
{
	size_t line = config_line(&key->start_mark);
	const struct config_row *r = NULL;
	yaml_event_t ev;
	int rc;

	if (key->type != YAML_SCALAR_EVENT)
		return config_fail(rd->x, line, rd->path, "keys must be scalars");
	if (config_path_push(rd, (const char *)key->data.scalar.value, line) < 0 ||
	    config_resolve(rd, line, &r) < 0 || config_next(rd, &ev) < 0)
		return -EINVAL;
	rc = config_read_value(rd, r, &ev, line);
	yaml_event_delete(&ev);
	return rc;
}

/* The pairs of a mapping, after its start event. */
static int
config_read_mapping(struct config_reader *rd)
{
	size_t len = strlen(rd->path);
	yaml_event_t ev;
	int rc = 0;

	while (rc == 0) {
		if (config_next(rd, &ev) < 0)
			return -EINVAL;
		if (ev.type == YAML_MAPPING_END_EVENT)
			rc = 1;
		else
			rc = config_read_pair(rd, &ev);
		yaml_event_delete(&ev);
		rd->path[len] = '\0';
	}
	return rc < 0 ? rc : 0;
}

/* The top node: a mapping of keys (a file) or the value of rd->root (--set). */
static int
config_read_root(struct config_reader *rd, const yaml_event_t *ev)
{
	size_t line = config_line(&ev->start_mark);

	if (rd->root != NULL)
		return config_read_value(rd, rd->root, ev, line);
	if (ev->type == YAML_MAPPING_START_EVENT)
		return config_read_mapping(rd);
	if (config_is_null(ev))
		return 0; /* "---" and nothing else */
	return config_fail(rd->x, line, NULL, "expected a mapping of keys at the top level");
}

/* The stream: at most one document. */
static int
config_read_stream(struct config_reader *rd)
{
	yaml_event_t ev;
	int rc = 0;

	while (rc == 0) {
		if (config_next(rd, &ev) < 0)
			return -EINVAL;
		if (ev.type == YAML_STREAM_END_EVENT)
			rc = 1;
		else if (ev.type == YAML_DOCUMENT_START_EVENT && ++rd->docs > 1)
			rc = config_fail(rd->x, config_line(&ev.start_mark),
					 rd->root ? rd->root->key : NULL,
					 "more than one YAML document");
		else if (ev.type == YAML_SCALAR_EVENT || ev.type == YAML_SEQUENCE_START_EVENT ||
			 ev.type == YAML_MAPPING_START_EVENT)
			rc = config_read_root(rd, &ev);
		yaml_event_delete(&ev);
	}
	return rc < 0 ? rc : 0;
}

/* Read YAML text into x->c: a whole file (root NULL) or one value of root. */
static int
config_read(const struct config_ctx *x, const struct config_row *root, FILE *f, const char *text)
{
	struct config_reader *rd = calloc(1, sizeof(*rd));
	int rc;

	if (rd == NULL || !yaml_parser_initialize(&rd->parser)) {
		free(rd);
		snprintf(x->err, x->errlen, "%s: out of memory", x->file);
		return -ENOMEM;
	}
	rd->x = x;
	rd->root = root;
	if (f != NULL)
		yaml_parser_set_input_file(&rd->parser, f);
	else
		yaml_parser_set_input_string(&rd->parser, (const unsigned char *)text,
					     strlen(text));
	rc = config_read_stream(rd);
	yaml_parser_delete(&rd->parser);
	free(rd);
	return rc;
}

/* ------------------------------------------------------------ public API */

/* Set row r from text: a scalar as is; a list as "[a, b]" (YAML) or "a,b". */
static int
config_row_set(const struct config_ctx *x, const struct config_row *r, const char *text)
{
	if (!config_is_list(r))
		return config_set_scalar(x, r, 0, text, 0);
	if (text[0] == '[')
		return config_read(x, r, NULL, text);
	return config_list_csv(x, r, text);
}

/* The table must agree with struct config: a wrong row is a bug. */
static bool
config_row_ok(const struct config_row *r)
{
	switch (r->type) {
	case CONFIG_BOOL:
		return r->size == sizeof(int);
	case CONFIG_UINT:
		return r->size == sizeof(uint32_t) && r->min <= r->max;
	case CONFIG_STRING:
		return r->size == CONFIG_MAX_STR;
	case CONFIG_ENUM:
		return r->size == CONFIG_MAX_STR && r->choices != NULL;
	case CONFIG_STRLIST:
		return r->size == CONFIG_MAX_LIST * CONFIG_MAX_STR;
	case CONFIG_UINTLIST:
		return r->size == CONFIG_MAX_LIST * sizeof(uint32_t);
	case CONFIG_DOUBLE:
		return r->size == sizeof(double) && r->dmin <= r->dmax;
	}
	return false;
}

void
config_defaults(struct config *c)
{
	char err[512];
	struct config_ctx x = {c, "default", false, err, sizeof(err)};

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < CONFIG_N_ROWS; i++) {
		const struct config_row *r = &config_rows[i];

		if (!config_row_ok(r) || config_row_set(&x, r, r->def) < 0) {
			fprintf(stderr, "darter: config.c: bad table row %s: %s\n", r->key,
				config_row_ok(r) ? err : "type does not match the field");
			abort(); /* an invariant: stays on in release builds */
		}
	}
}

/* Run a reader on a copy of *c and keep the result only if it succeeded. */
static int
config_read_copy(struct config *c, const char *name, FILE *f, const char *text, char *err,
		 size_t errlen)
{
	struct config tmp = *c;
	struct config_ctx x = {&tmp, name, true, err, errlen};
	int rc = config_read(&x, NULL, f, text);

	if (rc == 0)
		*c = tmp;
	return rc;
}

int
config_load_string(struct config *c, const char *yaml, const char *name, char *err, size_t errlen)
{
	return config_read_copy(c, name, NULL, yaml, err, errlen);
}

int
config_load(struct config *c, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	int rc;

	if (f == NULL) {
		rc = -errno;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return rc;
	}
	rc = config_read_copy(c, path, f, NULL, err, errlen);
	if (rc < 0 && ferror(f)) {
		rc = errno ? -errno : -EIO;
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(-rc));
	}
	fclose(f);
	return rc;
}

int
config_set(struct config *c, const char *assignment, char *err, size_t errlen)
{
	struct config tmp = *c;
	struct config_ctx x = {&tmp, "--set", false, err, errlen};
	const char *eq = strchr(assignment, '=');
	char key[CONFIG_MAX_KEY];
	const struct config_row *r;
	bool exact = false;

	if (eq == NULL)
		return config_fail(&x, 0, NULL, "expected KEY=VALUE, got '%s'", assignment);
	snprintf(key, sizeof(key), "%.*s", (int)(eq - assignment), assignment);
	r = config_match(key, &exact);
	if (r == NULL || (size_t)(eq - assignment) >= sizeof(key))
		return config_fail(&x, 0, key, "unknown key");
	if (!exact)
		return config_fail(&x, 0, key, "a section, not a key (e.g. %s)", r->key);
	if (config_row_set(&x, r, eq + 1) < 0)
		return -EINVAL;
	*c = tmp;
	return 0;
}

/* One scalar of row r (entry idx of a list) as text. */
static int
config_format_scalar(const struct config *c, const struct config_row *r, unsigned idx, char *buf,
		     size_t len)
{
	const char *f = (const char *)c + r->off;

	switch (r->type) {
	case CONFIG_BOOL:
		return snprintf(buf, len, "%s", *(const int *)(const void *)f ? "yes" : "no");
	case CONFIG_UINT:
	case CONFIG_UINTLIST:
		return snprintf(buf, len, "%u", ((const uint32_t *)(const void *)f)[idx]);
	case CONFIG_DOUBLE:
		return snprintf(buf, len, "%.17g", *(const double *)(const void *)f);
	case CONFIG_STRING:
	case CONFIG_ENUM:
	case CONFIG_STRLIST:
		return snprintf(buf, len, "%s", f + (size_t)idx * CONFIG_MAX_STR);
	}
	return -EINVAL;
}

/* Append s to buf[*n..len); false when it does not fit. */
static bool
config_put(char *buf, size_t len, size_t *n, const char *s)
{
	size_t k = strlen(s);

	if (k >= len - *n)
		return false;
	memcpy(buf + *n, s, k + 1);
	*n += k;
	return true;
}

int
config_get(const struct config *c, const char *key, char *buf, size_t len)
{
	bool exact = false;
	const struct config_row *r = config_match(key, &exact);
	char one[CONFIG_MAX_STR + 32];
	unsigned count;
	size_t n = 0;

	if (r == NULL || !exact || len == 0)
		return -ENOENT;
	if (!config_is_list(r)) {
		config_format_scalar(c, r, 0, one, sizeof(one));
		return config_put(buf, len, &n, one) ? 0 : -ENOSPC;
	}
	count = *(const unsigned *)(const void *)((const char *)c + r->n_off);
	if (!config_put(buf, len, &n, "["))
		return -ENOSPC;
	for (unsigned i = 0; i < count; i++) {
		config_format_scalar(c, r, i, one, sizeof(one));
		if ((i > 0 && !config_put(buf, len, &n, ", ")) || !config_put(buf, len, &n, one))
			return -ENOSPC;
	}
	return config_put(buf, len, &n, "]") ? 0 : -ENOSPC;
}

void
config_foreach_key(config_visit_fn fn, void *arg)
{
	for (size_t i = 0; i < CONFIG_N_ROWS; i++)
		fn(arg, config_rows[i].key, config_rows[i].doc);
}
