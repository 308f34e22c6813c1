/*
 * test_config.c: the configuration table, its YAML reader and --set,
 * through the public API only.
 *
 * Error messages are checked whole ("FILE:LINE: KEY: reason"), so a test
 * fails if the key, the line or the reason is wrong. Range tests build the
 * nested YAML of a dotted key (a.b.c: v becomes three lines) and check the
 * same value through --set. The last tests read conf/darter.yaml (from
 * $DARTER_CONF, else relative to the working directory): it must load to
 * exactly config_defaults(), and name and document every key of the table.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

#define ERRLEN 512

/* ------------------------------------------------------------------ */
/* Helpers                                                            */
/* ------------------------------------------------------------------ */

/* Defaults, then the YAML text as file "x.yaml". */
static int
load(struct config *c, const char *yaml, char *err)
{
	config_defaults(c);
	return config_load_string(c, yaml, "x.yaml", err, ERRLEN);
}

/* The YAML must fail with exactly msg, and leave the defaults untouched. */
static void
expect_error(const char *yaml, const char *msg)
{
	struct config c, d;
	char err[ERRLEN] = "";

	config_defaults(&d);
	assert_int_equal(load(&c, yaml, err), -EINVAL);
	assert_string_equal(err, msg);
	assert_memory_equal(&c, &d, sizeof(c));
}

/* The YAML must load; returns the result in *c. */
static void
expect_ok(struct config *c, const char *yaml)
{
	char err[ERRLEN] = "";
	int rc = load(c, yaml, err);

	if (rc != 0)
		fail_msg("unexpected error: %s", err);
}

static void
expect_set_error(const char *assignment, const char *msg)
{
	struct config c, d;
	char err[ERRLEN] = "";

	config_defaults(&c);
	config_defaults(&d);
	assert_int_equal(config_set(&c, assignment, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, msg);
	assert_memory_equal(&c, &d, sizeof(c));
}

static void
expect_set_ok(struct config *c, const char *assignment)
{
	char err[ERRLEN] = "";

	if (config_set(c, assignment, err, sizeof(err)) != 0)
		fail_msg("--set %s: unexpected error: %s", assignment, err);
}

/* "a.b.c" and "v" as nested YAML; returns the line of the last key. */
static unsigned
nested_yaml(char *buf, size_t len, const char *key, const char *value)
{
	unsigned depth = 0;
	size_t n = 0;

	buf[0] = '\0';
	while (*key != '\0') {
		size_t l = strcspn(key, ".");
		int last = key[l] == '\0';

		n += (size_t)snprintf(buf + n, len - n, "%*s%.*s:%s%s\n", (int)(2 * depth), "",
				      (int)l, key, last ? " " : "", last ? value : "");
		assert_true(n < len);
		key += l + !last;
		depth++;
	}
	return depth;
}

/* key=value must fail with reason, in the file (at the key's line) and in --set. */
static void
expect_value_error(const char *key, const char *value, const char *reason)
{
	char yaml[512], msg[ERRLEN], set[512];
	unsigned line = nested_yaml(yaml, sizeof(yaml), key, value);

	snprintf(msg, sizeof(msg), "x.yaml:%u: %s: %s", line, key, reason);
	expect_error(yaml, msg);
	snprintf(set, sizeof(set), "%s=%s", key, value);
	snprintf(msg, sizeof(msg), "--set: %s: %s", key, reason);
	expect_set_error(set, msg);
}

/* key=value must be accepted both ways, with the same result. */
static void
expect_value_ok(struct config *c, const char *key, const char *value)
{
	char yaml[512], set[512];
	struct config viaset;

	nested_yaml(yaml, sizeof(yaml), key, value);
	expect_ok(c, yaml);
	config_defaults(&viaset);
	snprintf(set, sizeof(set), "%s=%s", key, value);
	expect_set_ok(&viaset, set);
	assert_memory_equal(c, &viaset, sizeof(*c));
}

/* ------------------------------------------------------------------ */
/* Defaults and the table                                             */
/* ------------------------------------------------------------------ */

static void
test_defaults(void **state)
{
	struct config c;
	(void)state;

	memset(&c, 0xa5, sizeof(c));
	config_defaults(&c);
	assert_string_equal(c.log_level, "notice");
	assert_string_equal(c.log_dir, "/var/log/darter");
	assert_int_equal(c.eal_memory_mb, 256);
	assert_int_equal(c.eal_huge, 0);
	assert_int_equal(c.n_eal_args, 0);
	assert_int_equal(c.n_ports, 0);
	assert_int_equal(c.n_capture_cpus, 1);
	assert_int_equal(c.capture_cpus[0], 1);
	assert_int_equal(c.burst, 32);
	assert_int_equal(c.mbufs, 8191);
	assert_int_equal(c.rx_desc, 1024);
	assert_int_equal(c.ring_size, 4096);
	assert_int_equal(c.flow.max_flows, 65536);
	assert_int_equal(c.flow.hash_size, 65536);
	assert_int_equal(c.flow.lcore, 0);
	assert_int_equal(c.n_workers, 1);
	assert_int_equal(c.n_worker_cpus, 1);
	assert_int_equal(c.worker_cpus[0], 0);
	assert_int_equal(c.eve_enabled, 1);
	assert_string_equal(c.eve_filename, "eve.json");
	assert_int_equal(c.stats_enabled, 1);
}

/* Suricata's timeouts, as flow_conf_defaults() has them (not called here). */
static void
test_default_timeouts(void **state)
{
	static const struct flow_timeouts want[FLOW_PROTO_MAX] = {
		[FLOW_PROTO_DEFAULT] = {30, 300, 0},
		[FLOW_PROTO_TCP] = {60, 600, 60},
		[FLOW_PROTO_UDP] = {30, 300, 0},
		[FLOW_PROTO_ICMP] = {30, 300, 0},
	};
	struct config c;
	(void)state;

	config_defaults(&c);
	for (int p = 0; p < FLOW_PROTO_MAX; p++) {
		assert_int_equal(c.flow.timeouts[p].new_s, want[p].new_s);
		assert_int_equal(c.flow.timeouts[p].established_s, want[p].established_s);
		assert_int_equal(c.flow.timeouts[p].closed_s, want[p].closed_s);
	}
}

/* Whatever was in *c before, the defaults are the same bytes. */
static void
test_defaults_overwrite_everything(void **state)
{
	struct config a, b;
	(void)state;

	memset(&a, 0x00, sizeof(a));
	memset(&b, 0xff, sizeof(b));
	config_defaults(&a);
	config_defaults(&b);
	assert_memory_equal(&a, &b, sizeof(a));
}

static const char *const all_keys[] = {
	"logging.level",
	"default-log-dir",
	"dpdk.memory",
	"dpdk.hugepages",
	"dpdk.eal-args",
	"capture.ports",
	"capture.cpus",
	"capture.burst",
	"capture.mbufs",
	"capture.rx-descriptors",
	"capture.ring-size",
	"capture.mbuf-size",
	"flow.max-flows",
	"flow.hash-size",
	"flow.active-timeout",
	"flow.emergency-high",
	"flow.emergency-recovery",
	"flow-timeouts.default.new",
	"flow-timeouts.default.established",
	"flow-timeouts.default.closed",
	"flow-timeouts.default.emergency-new",
	"flow-timeouts.default.emergency-established",
	"flow-timeouts.default.emergency-closed",
	"flow-timeouts.tcp.new",
	"flow-timeouts.tcp.established",
	"flow-timeouts.tcp.closed",
	"flow-timeouts.tcp.emergency-new",
	"flow-timeouts.tcp.emergency-established",
	"flow-timeouts.tcp.emergency-closed",
	"flow-timeouts.udp.new",
	"flow-timeouts.udp.established",
	"flow-timeouts.udp.emergency-new",
	"flow-timeouts.udp.emergency-established",
	"flow-timeouts.icmp.new",
	"flow-timeouts.icmp.established",
	"flow-timeouts.icmp.emergency-new",
	"flow-timeouts.icmp.emergency-established",
	"dpi.enabled",
	"dpi.max-flows",
	"dpi.max-packets-tcp",
	"dpi.max-packets-udp",
	"dpi.max-heap",
	"workers.count",
	"workers.cpus",
	"outputs.eve.enabled",
	"outputs.eve.filename",
	"outputs.eve.stats",
	"outputs.eve.stats-interval",
	"outputs.eve.community-id",
	"outputs.eve.community-id-seed",
	"outputs.outliers.enabled",
	"outputs.outliers.filename",
	"inputs.eve-file.enabled",
	"inputs.eve-file.filename",
	"inputs.eve-file.from-end",
	"inputs.eve-socket.enabled",
	"inputs.eve-socket.path",
	"inputs.eve-socket.type",
	"inputs.eve-kafka.enabled",
	"inputs.eve-kafka.brokers",
	"inputs.eve-kafka.topic",
	"inputs.eve-kafka.group",
	"inputs.script.enabled",
	"inputs.script.filename",
	"mad.enabled",
	"mad.specs",
	"mad.preset",
	"mad.transform",
	"mad.step",
	"mad.eta",
	"mad.eta-min",
	"mad.burn-in",
	"mad.threshold",
	"mad.two-sided",
	"mad.max-groups",
	"mad.store",
	"mad.redis.host",
	"mad.redis.port",
	"mad.redis.timeout-ms",
	"mad.redis.window",
	"mad.redis.prefix",
	"mad.snapshot.enabled",
	"mad.snapshot.file",
	"mad.snapshot.interval",
	"analyzers.scripts",
	"analyzers.memory-mb",
	"analyzers.cpu-ms",
	"analyzers.allow-io",
	"analyzers.queue-max",
	"analyzers.redis.enabled",
	"analyzers.redis.host",
	"analyzers.redis.port",
	"analyzers.redis.timeout-ms",
	"outputs.analyzers.filename",
	"outputs.unix-socket.enabled",
	"outputs.unix-socket.path",
	"outputs.unix-socket.type",
	"outputs.unix-socket.events",
	"outputs.unix-socket.analyzers",
	"outputs.redis.enabled",
	"outputs.redis.host",
	"outputs.redis.port",
	"outputs.redis.mode",
	"outputs.redis.key",
	"outputs.redis.max-len",
	"outputs.redis.events",
	"outputs.redis.analyzers",
	"outputs.kafka.enabled",
	"outputs.kafka.brokers",
	"outputs.kafka.topic",
	"outputs.kafka.events",
	"outputs.kafka.analyzers",
	"control.enabled",
	"control.socket",
	"metrics.enabled",
	"metrics.address",
	"metrics.port",
	"run-as.enabled",
	"run-as.user",
	"run-as.group",
};
#define N_KEYS (sizeof(all_keys) / sizeof(all_keys[0]))

struct key_list {
	const char *key[128];
	const char *doc[128];
	size_t n;
};

static void
collect_key(void *arg, const char *key, const char *doc)
{
	struct key_list *l = arg;

	assert_true(l->n < 128);
	l->key[l->n] = key;
	l->doc[l->n] = doc;
	l->n++;
}

/* The table has exactly the keys of the spec, in order, each documented. */
static void
test_foreach_key(void **state)
{
	struct key_list l = {.n = 0};
	(void)state;

	config_foreach_key(collect_key, &l);
	assert_int_equal(l.n, N_KEYS);
	for (size_t i = 0; i < l.n; i++) {
		assert_string_equal(l.key[i], all_keys[i]);
		assert_non_null(l.doc[i]);
		assert_true(strlen(l.doc[i]) > 10);
		assert_null(strchr(l.doc[i], '\n'));
	}
}

/* config_get: every key's text sets the same value back (conf-get, --set). */
static void
get_roundtrip(void *arg, const char *key, const char *doc)
{
	struct config *want = arg, got;
	char value[4096], set[4300], err[ERRLEN];

	(void)doc;
	assert_int_equal(config_get(want, key, value, sizeof(value)), 0);
	config_defaults(&got);
	snprintf(set, sizeof(set), "%s=%s", key, value);
	if (config_set(&got, set, err, sizeof(err)) != 0)
		fail_msg("%s: %s", set, err);
	if (memcmp(&got, want, sizeof(got)) != 0)
		fail_msg("%s: set back from its own text, the value differs", set);
}

static void
test_config_get(void **state)
{
	struct config c;
	char buf[64];
	(void)state;

	config_defaults(&c);
	config_foreach_key(get_roundtrip, &c);
	assert_int_equal(config_get(&c, "capture.burst", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "32");
	assert_int_equal(config_get(&c, "mad.specs", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "[bytes/global]");
	assert_int_equal(config_get(&c, "mad.threshold", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "3.5");
	assert_int_equal(config_get(&c, "dpi.enabled", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "yes");
	assert_int_equal(config_get(&c, "dpdk.eal-args", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "[]");
	assert_int_equal(config_get(&c, "capture", buf, sizeof(buf)), -ENOENT);
	assert_int_equal(config_get(&c, "no.such", buf, sizeof(buf)), -ENOENT);
	assert_int_equal(config_get(&c, "default-log-dir", buf, 4), -ENOSPC);
}

/* ------------------------------------------------------------------ */
/* Values that parse                                                  */
/* ------------------------------------------------------------------ */

/* Every key set to a value that is not its default, in every YAML style. */
static const char *const not_defaults = "%YAML 1.1\n"
					"---\n"
					"logging:\n"
					"  level: Debug\n"
					"default-log-dir: /tmp/darter logs\n"
					"dpdk:\n"
					"  memory: 1024\n"
					"  hugepages: yes\n"
					"  eal-args: [\"--iova-mode=va\", '--log-level=7']\n"
					"capture:\n"
					"  ports:\n"
					"    - net_af_packet0,iface=eth1\n"
					"    - \"0000:03:00.0\"\n"
					"  cpus: [2, 3, 4]\n"
					"  burst: 512\n"
					"  mbufs: '1023'\n"
					"  rx-descriptors: 16384\n"
					"  ring-size: 1048576\n"
					"flow:\n"
					"  max-flows: 16777216\n"
					"  hash-size: 1\n"
					"flow-timeouts:\n"
					"  default: {new: 1, established: 2, closed: 3}\n"
					"  tcp:\n"
					"    new: 4\n"
					"    established: 5\n"
					"    closed: 604800\n"
					"  udp: {new: 7, established: 8}\n"
					"  icmp:\n"
					"    new: 10\n"
					"    established: 11\n"
					"workers:\n"
					"  count: 16\n"
					"  cpus: []\n"
					"outputs:\n"
					"  eve:\n"
					"    enabled: off\n"
					"    filename: \"flows.json\"\n"
					"    stats: False\n"
					"...\n";

static void
test_every_key_parses(void **state)
{
	struct config c;
	(void)state;

	expect_ok(&c, not_defaults);
	assert_string_equal(c.log_level, "debug"); /* stored as the table spells it */
	assert_string_equal(c.log_dir, "/tmp/darter logs");
	assert_int_equal(c.eal_memory_mb, 1024);
	assert_int_equal(c.eal_huge, 1);
	assert_int_equal(c.n_eal_args, 2);
	assert_string_equal(c.eal_args[0], "--iova-mode=va");
	assert_string_equal(c.eal_args[1], "--log-level=7");
	assert_int_equal(c.n_ports, 2);
	assert_string_equal(c.ports[0], "net_af_packet0,iface=eth1");
	assert_string_equal(c.ports[1], "0000:03:00.0");
	assert_int_equal(c.n_capture_cpus, 3);
	assert_int_equal(c.capture_cpus[0], 2);
	assert_int_equal(c.capture_cpus[2], 4);
	assert_int_equal(c.burst, 512);
	assert_int_equal(c.mbufs, 1023);
	assert_int_equal(c.rx_desc, 16384);
	assert_int_equal(c.ring_size, 1048576);
	assert_int_equal(c.flow.max_flows, 16777216);
	assert_int_equal(c.flow.hash_size, 1);
	for (unsigned p = 0; p < FLOW_PROTO_MAX; p++) {
		assert_int_equal(c.flow.timeouts[p].new_s, 3 * p + 1);
		assert_int_equal(c.flow.timeouts[p].established_s, 3 * p + 2);
	}
	assert_int_equal(c.flow.timeouts[FLOW_PROTO_DEFAULT].closed_s, 3);
	assert_int_equal(c.flow.timeouts[FLOW_PROTO_TCP].closed_s, 604800);
	assert_int_equal(c.flow.timeouts[FLOW_PROTO_UDP].closed_s, 0);
	assert_int_equal(c.flow.lcore, 0);
	assert_int_equal(c.n_workers, 16);
	assert_int_equal(c.n_worker_cpus, 0);
	assert_int_equal(c.eve_enabled, 0);
	assert_string_equal(c.eve_filename, "flows.json");
	assert_int_equal(c.stats_enabled, 0);
}

static void
test_bool_forms(void **state)
{
	static const struct {
		const char *text;
		int value;
	} forms[] = {
		{"yes", 1}, {"no", 0}, {"true", 1}, {"false", 0}, {"on", 1},   {"off", 0},
		{"1", 1},   {"0", 0},  {"YES", 1},  {"No", 0},	  {"True", 1}, {"OFF", 0},
	};
	struct config c;
	(void)state;

	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		expect_value_ok(&c, "dpdk.hugepages", forms[i].text);
		assert_int_equal(c.eal_huge, forms[i].value);
		expect_value_ok(&c, "outputs.eve.stats", forms[i].text);
		assert_int_equal(c.stats_enabled, forms[i].value);
	}
	expect_value_error("dpdk.hugepages", "maybe", "expected yes or no, got 'maybe'");
	expect_value_error("outputs.eve.enabled", "2", "expected yes or no, got '2'");
	expect_value_error("outputs.eve.enabled", "y", "expected yes or no, got 'y'");
	expect_error("dpdk:\n  hugepages:\n",
		     "x.yaml:2: dpdk.hugepages: expected yes or no, got nothing");
}

static void
test_uint_forms(void **state)
{
	struct config c;
	(void)state;

	expect_value_ok(&c, "capture.burst", "64");
	assert_int_equal(c.burst, 64);
	expect_value_ok(&c, "capture.burst", "0064"); /* decimal, not octal */
	assert_int_equal(c.burst, 64);
	expect_ok(&c, "capture:\n  burst: \"128\"\n");
	assert_int_equal(c.burst, 128);
	expect_value_ok(&c, "flow-timeouts.tcp.closed", "0");
	assert_int_equal(c.flow.timeouts[FLOW_PROTO_TCP].closed_s, 0);
	expect_value_ok(&c, "flow-timeouts.icmp.established", "604800");
	assert_int_equal(c.flow.timeouts[FLOW_PROTO_ICMP].established_s, 604800);
}

static void
test_uint_junk(void **state)
{
	static const char *const junk[] = {"abc", "-1", "+5", "0x10", "1.5", "12abc", "1e3", "3 4"};
	char reason[128];
	(void)state;

	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		snprintf(reason, sizeof(reason), "expected an unsigned integer, got '%s'", junk[i]);
		expect_value_error("capture.burst", junk[i], reason);
	}
	expect_error("capture:\n  burst: abc\n",
		     "x.yaml:2: capture.burst: expected an unsigned integer, got 'abc'");
	expect_error("capture:\n  burst: ''\n",
		     "x.yaml:2: capture.burst: expected an unsigned integer, got ''");
	expect_error("capture:\n  burst:\n",
		     "x.yaml:2: capture.burst: expected an unsigned integer, got nothing");
	expect_error("capture:\n  burst: ~\n",
		     "x.yaml:2: capture.burst: expected an unsigned integer, got nothing");
	expect_set_error("capture.burst=",
			 "--set: capture.burst: expected an unsigned integer, got ''");
}

/* Numbers: decimal and exponent forms; hex, inf, nan, junk and range refused. */
static void
test_double_forms(void **state)
{
	static const char *const junk[] = {"abc", "0x10", "inf", "nan", "1.5x", "1e999", "--1"};
	static const struct {
		const char *text;
		double want;
	} good[] = {{"3.5", 3.5}, {"0", 0.0}, {"1e-3", 0.001}, {"+2.25", 2.25}, {"7", 7.0}};
	char reason[128];
	struct config c;
	char err[ERRLEN];
	(void)state;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char set[64];

		config_defaults(&c);
		snprintf(set, sizeof(set), "mad.threshold=%s", good[i].text);
		assert_int_equal(config_set(&c, set, err, sizeof(err)), 0);
		assert_true(c.mad_threshold == good[i].want);
	}
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		snprintf(reason, sizeof(reason), "expected a number, got '%s'", junk[i]);
		expect_value_error("mad.threshold", junk[i], reason);
	}
	expect_value_error("mad.threshold", "-1", "-1 is out of range 0..1e+06");
	expect_error("mad:\n  eta: fast\n", "x.yaml:2: mad.eta: expected a number, got 'fast'");
}

static void
test_uint_out_of_range(void **state)
{
	static const struct {
		const char *key, *value, *range;
	} cases[] = {
		{"dpdk.memory", "15", "16..65536"},
		{"dpdk.memory", "65537", "16..65536"},
		{"capture.burst", "0", "1..512"},
		{"capture.burst", "513", "1..512"},
		{"capture.mbufs", "1022", "1023..1048575"},
		{"capture.mbufs", "1048576", "1023..1048575"},
		{"capture.rx-descriptors", "63", "64..16384"},
		{"capture.rx-descriptors", "16385", "64..16384"},
		{"capture.ring-size", "32", "64..1048576"},
		{"capture.ring-size", "2097152", "64..1048576"},
		{"flow.max-flows", "0", "1..16777216"},
		{"flow.max-flows", "16777217", "1..16777216"},
		{"flow.hash-size", "0", "1..16777216"},
		{"flow.hash-size", "16777217", "1..16777216"},
		{"flow-timeouts.default.closed", "604801", "0..604800"},
		{"flow-timeouts.tcp.new", "604801", "0..604800"},
		{"flow-timeouts.udp.established", "999999", "0..604800"},
		{"workers.count", "0", "1..16"},
		{"workers.count", "17", "1..16"},
		{"capture.burst", "4294967296", "1..512"},		/* past uint32 */
		{"capture.burst", "99999999999999999999999", "1..512"}, /* past uint64 */
	};
	char reason[128];
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(reason, sizeof(reason), "%s is out of range %s", cases[i].value,
			 cases[i].range);
		expect_value_error(cases[i].key, cases[i].value, reason);
	}
	expect_error("capture:\n  burst: 0\n", "x.yaml:2: capture.burst: 0 is out of range 1..512");
}

static void
test_uint_limits_accepted(void **state)
{
	struct config c;
	(void)state;

	expect_value_ok(&c, "dpdk.memory", "16");
	expect_value_ok(&c, "dpdk.memory", "65536");
	assert_int_equal(c.eal_memory_mb, 65536);
	expect_value_ok(&c, "capture.burst", "1");
	expect_value_ok(&c, "capture.mbufs", "1048575");
	expect_value_ok(&c, "capture.rx-descriptors", "64");
	expect_value_ok(&c, "flow.max-flows", "1");
	expect_value_ok(&c, "workers.count", "16");
	assert_int_equal(c.n_workers, 16);
}

static void
test_ring_size_power_of_two(void **state)
{
	struct config c;
	(void)state;

	expect_value_error("capture.ring-size", "1000", "1000 is not a power of two (next: 1024)");
	expect_value_error("capture.ring-size", "4095", "4095 is not a power of two (next: 4096)");
	expect_value_error("capture.ring-size", "65", "65 is not a power of two (next: 128)");
	expect_value_error("capture.ring-size", "1048575",
			   "1048575 is not a power of two (next: 1048576)");
	for (uint32_t v = 64; v <= 1048576; v <<= 1) {
		char text[16];

		snprintf(text, sizeof(text), "%u", v);
		expect_value_ok(&c, "capture.ring-size", text);
		assert_int_equal(c.ring_size, v);
	}
	/* Only ring-size must be a power of two. */
	expect_value_ok(&c, "flow.hash-size", "1000");
	assert_int_equal(c.flow.hash_size, 1000);
}

static void
test_log_level(void **state)
{
	static const char *const levels[] = {"error", "warning", "notice", "info", "debug"};
	struct config c;
	(void)state;

	for (size_t i = 0; i < 5; i++) {
		expect_value_ok(&c, "logging.level", levels[i]);
		assert_string_equal(c.log_level, levels[i]);
	}
	expect_value_ok(&c, "logging.level", "WARNING");
	assert_string_equal(c.log_level, "warning");
	expect_value_error("logging.level", "loud",
			   "expected one of error, warning, notice, info, debug, got 'loud'");
	expect_value_error("logging.level", "warn",
			   "expected one of error, warning, notice, info, debug, got 'warn'");
	expect_value_error("logging.level", "debug2",
			   "expected one of error, warning, notice, info, debug, got 'debug2'");
	expect_set_error("logging.level=", "--set: logging.level: expected one of error, warning, "
					   "notice, info, debug, got ''");
	expect_error("logging:\n  level:\n", "x.yaml:2: logging.level: expected one of error, "
					     "warning, notice, info, debug, got nothing");
}

static void
test_strings(void **state)
{
	char yaml[CONFIG_MAX_STR + 64], set[CONFIG_MAX_STR + 64], val[CONFIG_MAX_STR + 1];
	struct config c;
	(void)state;

	memset(val, 'a', CONFIG_MAX_STR - 1);
	val[CONFIG_MAX_STR - 1] = '\0'; /* 255 bytes: fits */
	expect_value_ok(&c, "default-log-dir", val);
	assert_string_equal(c.log_dir, val);
	strcat(val, "a"); /* 256 bytes: one too many */
	expect_value_error("outputs.eve.filename", val, "longer than 255 bytes");
	expect_set_error("default-log-dir=", "--set: default-log-dir: expected a non-empty string");
	expect_error("outputs:\n  eve:\n    filename: ''\n",
		     "x.yaml:3: outputs.eve.filename: expected a non-empty string");
	expect_error("outputs:\n  eve:\n    filename:\n",
		     "x.yaml:3: outputs.eve.filename: expected a string, got nothing");
	/* Errors stay on one line, even for a multi-line value. */
	expect_error("capture:\n  burst: |\n    12\n    34\n",
		     "x.yaml:2: capture.burst: expected an unsigned integer, got '12 34 '");
	/* A long entry of a list. */
	snprintf(yaml, sizeof(yaml), "dpdk:\n  eal-args:\n    - -v\n    - %s\n", val);
	expect_error(yaml, "x.yaml:4: dpdk.eal-args: longer than 255 bytes");
	snprintf(set, sizeof(set), "dpdk.eal-args=-v,%s", val);
	expect_set_error(set, "--set: dpdk.eal-args: longer than 255 bytes");
	/* Strings keep what YAML gives: spaces inside, '#' when quoted. */
	expect_ok(&c, "default-log-dir: \"/srv/da#ter\"  # comment\n");
	assert_string_equal(c.log_dir, "/srv/da#ter");
}

/* ------------------------------------------------------------------ */
/* Lists                                                              */
/* ------------------------------------------------------------------ */

static void
test_list_replaces_default(void **state)
{
	struct config c;
	(void)state;

	expect_ok(&c, "capture:\n  cpus: [3]\n");
	assert_int_equal(c.n_capture_cpus, 1);
	assert_int_equal(c.capture_cpus[0], 3);
	expect_ok(&c, "capture:\n  cpus:\n    - 5\n    - 6\n");
	assert_int_equal(c.n_capture_cpus, 2);
	assert_int_equal(c.capture_cpus[0], 5);
	assert_int_equal(c.capture_cpus[1], 6);
	expect_ok(&c, "workers:\n  cpus: []\n");
	assert_int_equal(c.n_worker_cpus, 0);
	expect_ok(&c, "workers:\n  cpus:\n");
	assert_int_equal(c.n_worker_cpus, 0);
	expect_ok(&c, "capture:\n  ports: [\"net_pcap0,iface=lo\"]\n");
	assert_int_equal(c.n_ports, 1);
	assert_string_equal(c.ports[0], "net_pcap0,iface=lo");
}

/* A shorter list leaves no stale entries behind (a list is replaced whole). */
static void
test_list_shrinks(void **state)
{
	struct config c, d;
	char err[ERRLEN];
	(void)state;

	config_defaults(&c);
	assert_int_equal(config_load_string(&c, "workers:\n  cpus: [7, 8, 9]\n", "a", err, ERRLEN),
			 0);
	assert_int_equal(config_load_string(&c, "workers:\n  cpus: [0]\n", "b", err, ERRLEN), 0);
	config_defaults(&d);
	assert_memory_equal(&c, &d, sizeof(c));
	expect_set_ok(&c, "dpdk.eal-args=--a,--b");
	expect_set_ok(&c, "dpdk.eal-args=");
	assert_memory_equal(&c, &d, sizeof(c));
}

static void
test_list_errors(void **state)
{
	(void)state;

	expect_error("capture:\n  ports: eth0\n",
		     "x.yaml:2: capture.ports: expected a list, got 'eth0'");
	expect_error("capture:\n  ports:\n    a: b\n",
		     "x.yaml:2: capture.ports: expected a list, got a mapping");
	expect_error("capture:\n  cpus: 1\n", "x.yaml:2: capture.cpus: expected a list, got '1'");
	expect_error("capture:\n  cpus: []\n",
		     "x.yaml:2: capture.cpus: expected at least one entry");
	expect_error("capture:\n  cpus:\n", "x.yaml:2: capture.cpus: expected at least one entry");
	expect_error("capture:\n  cpus:\n    - 1\n    - [2]\n",
		     "x.yaml:4: capture.cpus: list entries must be scalars");
	expect_error("capture:\n  cpus:\n    - 1\n    - {a: 2}\n",
		     "x.yaml:4: capture.cpus: list entries must be scalars");
	expect_error("capture:\n  cpus:\n    - 1\n    - x\n",
		     "x.yaml:4: capture.cpus: expected an unsigned integer, got 'x'");
	expect_error("capture:\n  cpus: [1, 1024]\n",
		     "x.yaml:2: capture.cpus: 1024 is out of range 0..1023");
	expect_error("dpdk:\n  eal-args: [-v, '']\n",
		     "x.yaml:2: dpdk.eal-args: expected a non-empty string");
}

static void
test_list_too_long(void **state)
{
	char yaml[1024], set[256];
	size_t n = 0;
	struct config c;
	(void)state;

	/* Block style: the error is at the 17th entry's line. */
	n += (size_t)snprintf(yaml + n, sizeof(yaml) - n, "capture:\n  cpus:\n");
	for (int i = 0; i < CONFIG_MAX_LIST + 1; i++)
		n += (size_t)snprintf(yaml + n, sizeof(yaml) - n, "    - %d\n", i);
	expect_error(yaml, "x.yaml:19: capture.cpus: more than 16 entries");

	/* Flow style on one line; exactly CONFIG_MAX_LIST is fine. */
	strcpy(yaml, "workers:\n  cpus: [0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]\n");
	expect_ok(&c, yaml);
	assert_int_equal(c.n_worker_cpus, CONFIG_MAX_LIST);
	assert_int_equal(c.worker_cpus[15], 15);
	strcpy(yaml, "workers:\n  cpus: [0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]\n");
	expect_error(yaml, "x.yaml:2: workers.cpus: more than 16 entries");

	strcpy(set, "capture.ports=a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q");
	expect_set_error(set, "--set: capture.ports: more than 16 entries");
}

/* ------------------------------------------------------------------ */
/* Structure errors                                                   */
/* ------------------------------------------------------------------ */

static void
test_unknown_keys(void **state)
{
	(void)state;

	expect_error("flow:\n  max-flow: 10\n", "x.yaml:2: flow.max-flow: unknown key");
	expect_error("logging:\n  level: info\nloging:\n  level: info\n",
		     "x.yaml:3: loging: unknown key");
	expect_error("outputs:\n  eve:\n    enabled: yes\n    color: red\n",
		     "x.yaml:4: outputs.eve.color: unknown key");
	expect_error("captur:\n  burst: 1\n", "x.yaml:1: captur: unknown key");
	expect_error("capture-x: 1\n", "x.yaml:1: capture-x: unknown key");
	expect_error("flow-timeouts:\n  sctp:\n    new: 1\n",
		     "x.yaml:2: flow-timeouts.sctp: unknown key");
	expect_error("flow-timeouts:\n  udp:\n    closed: 1\n",
		     "x.yaml:3: flow-timeouts.udp.closed: unknown key");
	expect_error(
		"capture.burst: 64\n",
		"x.yaml:1: capture.burst: dots are not allowed in keys (nest mappings instead)");
	expect_error("? [a, b]\n: 1\n", "x.yaml:1: keys must be scalars");
	expect_error("capture:\n  ? {a: 1}\n  : 1\n", "x.yaml:2: capture: keys must be scalars");
}

static void
test_wrong_shape(void **state)
{
	(void)state;

	expect_error("capture:\n  burst:\n    x: 1\n",
		     "x.yaml:2: capture.burst: expected an unsigned integer, got a mapping");
	expect_error("capture:\n  burst: [1]\n",
		     "x.yaml:2: capture.burst: expected an unsigned integer, got a list");
	expect_error(
		"logging:\n  level: [info]\n",
		"x.yaml:2: logging.level: expected one of error, warning, notice, info, debug, "
		"got a list");
	expect_error("default-log-dir: [a]\n",
		     "x.yaml:1: default-log-dir: expected a string, got a list");
	expect_error("dpdk:\n  hugepages: {a: 1}\n",
		     "x.yaml:2: dpdk.hugepages: expected yes or no, got a mapping");
	expect_error("capture: 5\n", "x.yaml:1: capture: expected a mapping, got '5'");
	expect_error("outputs:\n  eve: [1]\n",
		     "x.yaml:2: outputs.eve: expected a mapping, got a list");
	expect_error("- a\n", "x.yaml:1: expected a mapping of keys at the top level");
	expect_error("hello\n", "x.yaml:1: expected a mapping of keys at the top level");
}

static void
test_duplicate_keys(void **state)
{
	struct config c;
	(void)state;

	expect_error("capture:\n  burst: 1\n  burst: 2\n",
		     "x.yaml:3: capture.burst: duplicate key");
	expect_error("capture:\n  burst: 1\nworkers:\n  count: 2\ncapture:\n  mbufs: 2000\n",
		     "x.yaml:5: capture: duplicate key");
	expect_error("flow-timeouts:\n  tcp: {new: 1, new: 2}\n",
		     "x.yaml:2: flow-timeouts.tcp.new: duplicate key");
	expect_error("workers:\n  cpus: [1]\n  cpus: [2]\n",
		     "x.yaml:3: workers.cpus: duplicate key");
	/* The same last component in different sections is not a duplicate. */
	expect_ok(&c, "flow-timeouts:\n  tcp:\n    new: 1\n  udp:\n    new: 2\n"
		      "capture:\n  cpus: [3]\nworkers:\n  cpus: [4]\n");
	assert_int_equal(c.flow.timeouts[FLOW_PROTO_TCP].new_s, 1);
	assert_int_equal(c.flow.timeouts[FLOW_PROTO_UDP].new_s, 2);
	assert_int_equal(c.capture_cpus[0], 3);
	assert_int_equal(c.worker_cpus[0], 4);
}

static void
test_anchors_and_aliases(void **state)
{
	(void)state;

	expect_error("capture:\n  burst: &b 64\n  mbufs: *b\n",
		     "x.yaml:2: capture.burst: anchors and aliases are not supported");
	expect_error("capture:\n  burst: 64\n  mbufs: *b\n",
		     "x.yaml:3: capture.mbufs: anchors and aliases are not supported");
	expect_error("capture:\n  cpus: [1, *c]\n",
		     "x.yaml:2: capture.cpus: anchors and aliases are not supported");
	expect_error("flow-timeouts:\n  tcp: &t\n    new: 1\n  udp: *t\n",
		     "x.yaml:2: flow-timeouts.tcp: anchors and aliases are not supported");
	expect_set_error("capture.cpus=[&a 1, *a]",
			 "--set: capture.cpus: anchors and aliases are not supported");
}

static void
test_syntax_errors(void **state)
{
	(void)state;

	expect_error("capture:\n  burst: 1\n mbufs: 2\n",
		     "x.yaml:3: syntax error: did not find expected key");
	expect_error("capture:\n\tburst: 1\n",
		     "x.yaml:2: syntax error: found character that cannot start any token");
	expect_error("capture:\n  cpus: [1, 2]]\n",
		     "x.yaml:2: syntax error: did not find expected key");
	expect_error("logging:\n  level: \"info\n",
		     "x.yaml:3: syntax error: found unexpected end of stream");
	expect_error("%YAML 2.0\n---\n",
		     "x.yaml:1: syntax error: found incompatible YAML document");
	expect_error("logging:\n  level: info\n---\nworkers:\n  count: 2\n",
		     "x.yaml:3: more than one YAML document");
	/*
	 * libyaml streams: what it could parse before a syntax error is read
	 * first, so a bad value before the error is what gets reported.
	 */
	expect_error("capture:\n  burst: 1\n   mbufs: 2\n",
		     "x.yaml:2: capture.burst: expected an unsigned integer, got '1 mbufs'");
}

/* No keys at all is valid: everything stays at its default. */
static void
test_empty_documents(void **state)
{
	static const char *const empty[] = {
		"",	    "\n",	  "# only a comment\n", "%YAML 1.1\n---\n", "---\n...\n",
		"---\n~\n", "logging:\n", "outputs:\n  eve:\n", "outputs: {}\n",
	};
	struct config c, d;
	(void)state;

	config_defaults(&d);
	for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
		expect_ok(&c, empty[i]);
		assert_memory_equal(&c, &d, sizeof(c));
	}
}

/* A load that fails changes nothing, even after keys that were fine. */
static void
test_failed_load_is_atomic(void **state)
{
	struct config c, before;
	char err[ERRLEN];
	(void)state;

	config_defaults(&c);
	expect_set_ok(&c, "capture.burst=100");
	before = c;
	assert_int_equal(config_load_string(&c,
					    "capture:\n  burst: 7\n  cpus: [1, 2]\n  mbufs: 1\n",
					    "x.yaml", err, ERRLEN),
			 -EINVAL);
	assert_string_equal(err, "x.yaml:4: capture.mbufs: 1 is out of range 1023..1048575");
	assert_memory_equal(&c, &before, sizeof(c));
	/* A load over non-defaults keeps what it does not set. */
	assert_int_equal(config_load_string(&c, "capture:\n  mbufs: 2047\n", "x.yaml", err, ERRLEN),
			 0);
	assert_int_equal(c.burst, 100);
	assert_int_equal(c.mbufs, 2047);
}

/* The error is one line, cut to fit, always terminated. */
static void
test_error_truncated(void **state)
{
	struct config c;
	char err[16];
	(void)state;

	config_defaults(&c);
	memset(err, 'z', sizeof(err));
	assert_int_equal(config_load_string(&c, "flow:\n  max-flow: 10\n", "x.yaml", err, 8),
			 -EINVAL);
	assert_string_equal(err, "x.yaml:");
	assert_int_equal(err[8], 'z');
	assert_int_equal(config_set(&c, "nope=1", err, 12), -EINVAL);
	assert_string_equal(err, "--set: nope");
	assert_int_equal(config_set(&c, "nope=1", NULL, 0), -EINVAL);
}

/* ------------------------------------------------------------------ */
/* Files                                                              */
/* ------------------------------------------------------------------ */

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void
test_load_file(void **state)
{
	char dir[] = "/tmp/test_config.XXXXXX", path[64], want[256], err[ERRLEN];
	struct config c, d;
	(void)state;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/darter.yaml", dir);
	write_file(path, "%YAML 1.1\n---\ncapture:\n  burst: 64\n");
	config_defaults(&c);
	assert_int_equal(config_load(&c, path, err, sizeof(err)), 0);
	assert_int_equal(c.burst, 64);

	write_file(path, "%YAML 1.1\n---\n\ncapture:\n  burst: 0\n");
	assert_int_equal(config_load(&c, path, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:5: capture.burst: 0 is out of range 1..512", path);
	assert_string_equal(err, want);
	assert_int_equal(c.burst, 64);

	assert_int_equal(unlink(path), 0);
	assert_int_equal(config_load(&c, path, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want), "%s: cannot open: %s", path, strerror(ENOENT));
	assert_string_equal(err, want);

	config_defaults(&d);
	config_defaults(&c);
	assert_int_equal(config_load(&c, dir, err, sizeof(err)), -EISDIR);
	snprintf(want, sizeof(want), "%s: cannot read: %s", dir, strerror(EISDIR));
	assert_string_equal(err, want);
	assert_memory_equal(&c, &d, sizeof(c));
	assert_int_equal(rmdir(dir), 0);
}

/* ------------------------------------------------------------------ */
/* --set                                                              */
/* ------------------------------------------------------------------ */

static void
test_set_forms(void **state)
{
	struct config c;
	(void)state;

	config_defaults(&c);
	expect_set_ok(&c, "capture.burst=64");
	assert_int_equal(c.burst, 64);
	expect_set_ok(&c, "logging.level=info");
	assert_string_equal(c.log_level, "info");
	expect_set_ok(&c, "outputs.eve.filename=a=b.json"); /* the first '=' splits */
	assert_string_equal(c.eve_filename, "a=b.json");
	expect_set_ok(&c, "dpdk.hugepages=on");
	assert_int_equal(c.eal_huge, 1);
	expect_set_ok(&c, "capture.cpus=0,1");
	assert_int_equal(c.n_capture_cpus, 2);
	assert_int_equal(c.capture_cpus[0], 0);
	assert_int_equal(c.capture_cpus[1], 1);
	expect_set_ok(&c, "capture.cpus=[4, 5, 6]");
	assert_int_equal(c.n_capture_cpus, 3);
	assert_int_equal(c.capture_cpus[2], 6);
	/* Commas inside a device string: the YAML form with quotes. */
	expect_set_ok(&c, "capture.ports=[\"net_af_packet0,iface=eth1\", 0000:03:00.0]");
	assert_int_equal(c.n_ports, 2);
	assert_string_equal(c.ports[0], "net_af_packet0,iface=eth1");
	assert_string_equal(c.ports[1], "0000:03:00.0");
	expect_set_ok(&c, "capture.ports=net_pcap0");
	assert_int_equal(c.n_ports, 1);
	assert_string_equal(c.ports[0], "net_pcap0");
	expect_set_ok(&c, "capture.ports=");
	assert_int_equal(c.n_ports, 0);
	expect_set_ok(&c, "workers.cpus=[]");
	assert_int_equal(c.n_worker_cpus, 0);
	expect_set_ok(&c, "flow-timeouts.tcp.established=7200");
	assert_int_equal(c.flow.timeouts[FLOW_PROTO_TCP].established_s, 7200);
}

static void
test_set_errors(void **state)
{
	(void)state;

	expect_set_error("capture.burst", "--set: expected KEY=VALUE, got 'capture.burst'");
	expect_set_error("capture.bust=1", "--set: capture.bust: unknown key");
	expect_set_error("=1", "--set: unknown key");
	expect_set_error("capture=1", "--set: capture: a section, not a key (e.g. capture.ports)");
	expect_set_error("flow-timeouts.tcp=1",
			 "--set: flow-timeouts.tcp: a section, not a key (e.g. "
			 "flow-timeouts.tcp.new)");
	expect_set_error("capture.burst=0", "--set: capture.burst: 0 is out of range 1..512");
	expect_set_error("capture.burst=abc",
			 "--set: capture.burst: expected an unsigned integer, got 'abc'");
	expect_set_error("capture.ring-size=1000",
			 "--set: capture.ring-size: 1000 is not a power of two (next: 1024)");
	expect_set_error("capture.cpus=", "--set: capture.cpus: expected at least one entry");
	expect_set_error("capture.cpus=[]", "--set: capture.cpus: expected at least one entry");
	expect_set_error("capture.cpus=1,,2",
			 "--set: capture.cpus: expected an unsigned integer, got ''");
	expect_set_error("capture.cpus=1,",
			 "--set: capture.cpus: expected an unsigned integer, got ''");
	expect_set_error("capture.cpus=1, 2",
			 "--set: capture.cpus: expected an unsigned integer, got ' 2'");
	expect_set_error("capture.cpus=[1, x]",
			 "--set: capture.cpus: expected an unsigned integer, got 'x'");
	expect_set_error("capture.cpus=[[1]]", "--set: capture.cpus: list entries must be scalars");
	expect_set_error(
		"capture.cpus=[1] [2]",
		"--set: capture.cpus: syntax error: did not find expected <document start>");
	expect_set_error("capture.ports=,a", "--set: capture.ports: expected a non-empty string");
	expect_set_error("capture.cpus=[1]\n--- [2]",
			 "--set: capture.cpus: more than one YAML document");
	expect_set_error("dpdk.hugepages=maybe",
			 "--set: dpdk.hugepages: expected yes or no, got 'maybe'");
}

static void
test_set_list_syntax_error(void **state)
{
	struct config c, d;
	char err[ERRLEN];
	(void)state;

	config_defaults(&c);
	d = c;
	assert_int_equal(config_set(&c, "capture.cpus=[1, 2", err, sizeof(err)), -EINVAL);
	assert_memory_equal(err, "--set: capture.cpus: syntax error: ", 35);
	assert_memory_equal(&c, &d, sizeof(c));
}

/* ------------------------------------------------------------------ */
/* conf/darter.yaml                                                   */
/* ------------------------------------------------------------------ */

static const char *
conf_path(void)
{
	const char *p = getenv("DARTER_CONF");

	return p && *p ? p : "conf/darter.yaml";
}

/* a == b, field by field (a failure names the field), then byte for byte. */
static void
assert_config_equal(const struct config *a, const struct config *b)
{
	assert_string_equal(a->log_level, b->log_level);
	assert_string_equal(a->log_dir, b->log_dir);
	assert_int_equal(a->eal_memory_mb, b->eal_memory_mb);
	assert_int_equal(a->eal_huge, b->eal_huge);
	assert_int_equal(a->n_eal_args, b->n_eal_args);
	for (unsigned i = 0; i < a->n_eal_args; i++)
		assert_string_equal(a->eal_args[i], b->eal_args[i]);
	assert_int_equal(a->n_ports, b->n_ports);
	for (unsigned i = 0; i < a->n_ports; i++)
		assert_string_equal(a->ports[i], b->ports[i]);
	assert_int_equal(a->n_capture_cpus, b->n_capture_cpus);
	for (unsigned i = 0; i < a->n_capture_cpus; i++)
		assert_int_equal(a->capture_cpus[i], b->capture_cpus[i]);
	assert_int_equal(a->burst, b->burst);
	assert_int_equal(a->mbufs, b->mbufs);
	assert_int_equal(a->rx_desc, b->rx_desc);
	assert_int_equal(a->ring_size, b->ring_size);
	assert_int_equal(a->flow.max_flows, b->flow.max_flows);
	assert_int_equal(a->flow.hash_size, b->flow.hash_size);
	for (int p = 0; p < FLOW_PROTO_MAX; p++) {
		assert_int_equal(a->flow.timeouts[p].new_s, b->flow.timeouts[p].new_s);
		assert_int_equal(a->flow.timeouts[p].established_s,
				 b->flow.timeouts[p].established_s);
		assert_int_equal(a->flow.timeouts[p].closed_s, b->flow.timeouts[p].closed_s);
	}
	assert_int_equal(a->flow.lcore, b->flow.lcore);
	assert_int_equal(a->n_workers, b->n_workers);
	assert_int_equal(a->n_worker_cpus, b->n_worker_cpus);
	for (unsigned i = 0; i < a->n_worker_cpus; i++)
		assert_int_equal(a->worker_cpus[i], b->worker_cpus[i]);
	assert_int_equal(a->eve_enabled, b->eve_enabled);
	assert_string_equal(a->eve_filename, b->eve_filename);
	assert_int_equal(a->stats_enabled, b->stats_enabled);
	assert_memory_equal(a, b, sizeof(*a)); /* and nothing stale past a list's end */
}

/* Loading the shipped file over zeros, or over all-other values, gives the defaults. */
static void
test_conf_file_is_defaults(void **state)
{
	struct config def, c;
	char err[ERRLEN] = "";
	(void)state;

	config_defaults(&def);

	memset(&c, 0, sizeof(c));
	if (config_load(&c, conf_path(), err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_config_equal(&c, &def);

	/* Keys whose default is 0 or [] must be in the file too. */
	expect_ok(&c, not_defaults);
	if (config_load(&c, conf_path(), err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_config_equal(&c, &def);
}

struct conf_text {
	char *buf;
	char *line[1024];
	size_t n;
};

static void
conf_read(struct conf_text *t)
{
	FILE *f = fopen(conf_path(), "r");
	long len;

	if (f == NULL) {
		fail_msg("%s: %s", conf_path(), strerror(errno));
		return;
	}
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	assert_true(len > 0);
	rewind(f);
	t->buf = calloc(1, (size_t)len + 1);
	assert_non_null(t->buf);
	assert_int_equal(fread(t->buf, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	t->n = 0;
	for (char *save = NULL, *l = strtok_r(t->buf, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		assert_true(t->n < 1024);
		t->line[t->n++] = l;
	}
}

/* The dotted key of line i (nesting by indentation), or "" if not a key line. */
static void
conf_key_of(const struct conf_text *t, size_t i, char *key, size_t keylen)
{
	const char *name[8];
	size_t namelen[8];
	int indent[8], depth = 0;

	key[0] = '\0';
	for (size_t j = 0; j <= i; j++) {
		const char *l = t->line[j];
		int in = (int)strspn(l, " ");
		size_t n = strspn(l + in, "abcdefghijklmnopqrstuvwxyz0123456789-_");

		if (n == 0 || l[in + (int)n] != ':')
			continue; /* comment, "%YAML", "---", list entry */
		while (depth > 0 && indent[depth - 1] >= in)
			depth--;
		assert_true(depth < 8);
		name[depth] = l + in;
		namelen[depth] = n;
		indent[depth++] = in;
		if (j == i) {
			size_t off = 0;

			for (int d = 0; d < depth; d++)
				off += (size_t)snprintf(key + off, keylen - off, "%s%.*s",
							d ? "." : "", (int)namelen[d], name[d]);
		}
	}
}

/* The comment lines right above line i (or on it) contain doc. */
static int
conf_documents(const struct conf_text *t, size_t i, const char *doc)
{
	const char *hash = strchr(t->line[i], '#');

	if (hash != NULL && strstr(hash, doc) != NULL)
		return 1;
	while (i-- > 0) {
		const char *l = t->line[i] + strspn(t->line[i], " ");

		if (*l != '#')
			return 0;
		if (strstr(l, doc) != NULL)
			return 1;
	}
	return 0;
}

static void
check_key_in_conf(void *arg, const char *key, const char *doc)
{
	const struct conf_text *t = arg;
	char k[256];

	for (size_t i = 0; i < t->n; i++) {
		conf_key_of(t, i, k, sizeof(k));
		if (strcmp(k, key) != 0)
			continue;
		if (!conf_documents(t, i, doc))
			fail_msg("%s:%zu: %s: the comment above does not say \"%s\"", conf_path(),
				 i + 1, key, doc);
		return;
	}
	fail_msg("%s: key %s is missing (nested as YAML mappings)", conf_path(), key);
}

static int
conf_setup(void **state)
{
	*state = calloc(1, sizeof(struct conf_text));
	return *state == NULL ? -1 : 0;
}

static int
conf_teardown(void **state)
{
	struct conf_text *t = *state;

	free(t->buf);
	free(t);
	return 0;
}

static void
test_conf_file_names_every_key(void **state)
{
	struct conf_text *t = *state;

	conf_read(t);
	assert_string_equal(t->line[0], "%YAML 1.1");
	assert_string_equal(t->line[1], "---");
	config_foreach_key(check_key_in_conf, t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_default_timeouts),
		cmocka_unit_test(test_defaults_overwrite_everything),
		cmocka_unit_test(test_foreach_key),
		cmocka_unit_test(test_every_key_parses),
		cmocka_unit_test(test_bool_forms),
		cmocka_unit_test(test_uint_forms),
		cmocka_unit_test(test_uint_junk),
		cmocka_unit_test(test_uint_out_of_range),
		cmocka_unit_test(test_double_forms),
		cmocka_unit_test(test_config_get),
		cmocka_unit_test(test_uint_limits_accepted),
		cmocka_unit_test(test_ring_size_power_of_two),
		cmocka_unit_test(test_log_level),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_list_replaces_default),
		cmocka_unit_test(test_list_shrinks),
		cmocka_unit_test(test_list_errors),
		cmocka_unit_test(test_list_too_long),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_wrong_shape),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_anchors_and_aliases),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_empty_documents),
		cmocka_unit_test(test_failed_load_is_atomic),
		cmocka_unit_test(test_error_truncated),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_set_forms),
		cmocka_unit_test(test_set_errors),
		cmocka_unit_test(test_set_list_syntax_error),
		cmocka_unit_test(test_conf_file_is_defaults),
		cmocka_unit_test_setup_teardown(test_conf_file_names_every_key, conf_setup,
						conf_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
