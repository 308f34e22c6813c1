/*
 * config.h: darter's configuration, read from Suricata-style YAML.
 *
 * The configuration is a table (config.c: one row per key with its type,
 * default, range and one-line doc), in the manner of nginx's command
 * tables and Redis' static_configs[]. conf/darter.yaml documents every key
 * beside its default. Unknown keys, wrong types and out-of-range values
 * are errors that name the file, the line and the key.
 */
#ifndef DARTER_CONFIG_H
#define DARTER_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "flow.h"

#define CONFIG_MAX_LIST 16  /* entries in any list key */
#define CONFIG_MAX_STR	256 /* bytes in any string value, with NUL */

struct config {
	/* logging */
	char log_level[CONFIG_MAX_STR]; /* logging.level: error..debug */
	char log_dir[CONFIG_MAX_STR];	/* default-log-dir */

	/* dpdk: EAL */
	uint32_t eal_memory_mb;				/* dpdk.memory: -m, with --no-huge */
	int eal_huge;					/* dpdk.hugepages: no = --no-huge */
	char eal_args[CONFIG_MAX_LIST][CONFIG_MAX_STR]; /* dpdk.eal-args: extra args */
	unsigned n_eal_args;

	/* capture */
	char ports[CONFIG_MAX_LIST][CONFIG_MAX_STR]; /* capture.ports: vdev args or PCI ids */
	unsigned n_ports;
	uint32_t capture_cpus[CONFIG_MAX_LIST]; /* capture.cpus: one capture lcore each */
	unsigned n_capture_cpus;
	uint32_t burst;	    /* capture.burst: rx burst size */
	uint32_t mbufs;	    /* capture.mbufs: mbuf pool size per port */
	uint32_t rx_desc;   /* capture.rx-descriptors */
	uint32_t ring_size; /* capture.ring-size: records per ring */
	uint32_t mbuf_size; /* capture.mbuf-size: data room per mbuf, largest frame kept whole */

	/* flow table and timeouts (flow.*, flow-timeouts.*); dpi.* */
	struct flow_conf flow;		  /* fields of other widths are staged below */
	uint32_t flow_emergency_high;	  /* flow.emergency-high -> flow.emergency_high */
	uint32_t flow_emergency_recovery; /* flow.emergency-recovery */
	int dpi_enabled;		  /* dpi.enabled -> flow.dpi */
	uint32_t dpi_max_packets_tcp;	  /* dpi.max-packets-tcp -> flow.appid */
	uint32_t dpi_max_packets_udp;

	/* workers */
	uint32_t n_workers;		       /* workers.count */
	uint32_t worker_cpus[CONFIG_MAX_LIST]; /* workers.cpus: affinity, in order */
	unsigned n_worker_cpus;

	/* outputs */
	int eve_enabled;			/* outputs.eve.enabled */
	char eve_filename[CONFIG_MAX_STR];	/* outputs.eve.filename, relative to log dir */
	int stats_enabled;			/* outputs.eve.stats: final stats event */
	uint32_t stats_interval;		/* outputs.eve.stats-interval: seconds, live mode */
	int community_id;			/* outputs.eve.community-id */
	uint32_t community_id_seed;		/* outputs.eve.community-id-seed */
	int outliers_enabled;			/* outputs.outliers.enabled */
	char outliers_filename[CONFIG_MAX_STR]; /* outputs.outliers.filename */

	/* inputs: Suricata EVE JSON beside capture (live mode) */
	int in_file_enabled;		       /* inputs.eve-file.enabled */
	char in_file_path[CONFIG_MAX_STR];     /* inputs.eve-file.filename: followed as tail -F */
	int in_file_from_end;		       /* inputs.eve-file.from-end */
	int in_unix_enabled;		       /* inputs.eve-socket.enabled */
	char in_unix_path[CONFIG_MAX_STR];     /* inputs.eve-socket.path */
	char in_unix_type[CONFIG_MAX_STR];     /* inputs.eve-socket.type: stream, dgram */
	int in_kafka_enabled;		       /* inputs.eve-kafka.enabled */
	char in_kafka_brokers[CONFIG_MAX_STR]; /* inputs.eve-kafka.brokers */
	char in_kafka_topic[CONFIG_MAX_STR];   /* inputs.eve-kafka.topic */
	char in_kafka_group[CONFIG_MAX_STR];   /* inputs.eve-kafka.group: consumer group */
	int in_script_enabled;		       /* inputs.script.enabled */
	char in_script[CONFIG_MAX_STR];	       /* inputs.script.filename: Lua input script */

	/* mad: the MAD core on the workers (engine/score.h) */
	int mad_enabled;				 /* mad.enabled */
	char mad_specs[CONFIG_MAX_LIST][CONFIG_MAX_STR]; /* mad.specs: "metric/group" */
	unsigned n_mad_specs;
	char mad_preset[CONFIG_MAX_STR];    /* mad.preset: darter, compat */
	char mad_transform[CONFIG_MAX_STR]; /* mad.transform: log1p, none */
	char mad_step[CONFIG_MAX_STR];	    /* mad.step: relative, absolute */
	double mad_eta;			    /* mad.eta */
	double mad_eta_min;		    /* mad.eta-min */
	uint32_t mad_burn_in;		    /* mad.burn-in */
	double mad_threshold;		    /* mad.threshold */
	int mad_two_sided;		    /* mad.two-sided */
	uint32_t mad_max_groups;	    /* mad.max-groups */
	char mad_store[CONFIG_MAX_STR];	    /* mad.store: local, redis */
	char mad_redis_host[CONFIG_MAX_STR];
	uint32_t mad_redis_port;
	uint32_t mad_redis_timeout_ms;
	uint32_t mad_redis_window;
	char mad_redis_prefix[CONFIG_MAX_STR];
	int mad_snapshot;			/* mad.snapshot.enabled */
	char mad_snapshot_file[CONFIG_MAX_STR]; /* relative to the log directory */
	uint32_t mad_snapshot_interval;		/* seconds; 0: at exit only */

	/* analyzers: Lua scripts on every worker (engine/analyze.h) */
	char analyzer_scripts[CONFIG_MAX_LIST][CONFIG_MAX_STR]; /* analyzers.scripts */
	unsigned n_analyzer_scripts;
	uint32_t analyzer_memory_mb; /* analyzers.memory-mb */
	uint32_t analyzer_cpu_ms;    /* analyzers.cpu-ms */
	int analyzer_allow_io;	     /* analyzers.allow-io */
	uint32_t analyzer_queue_max; /* analyzers.queue-max */
	int analyzer_redis_enabled;  /* analyzers.redis.enabled */
	char analyzer_redis_host[CONFIG_MAX_STR];
	uint32_t analyzer_redis_port;
	uint32_t analyzer_redis_timeout_ms;
	char analyzers_filename[CONFIG_MAX_STR]; /* outputs.analyzers.filename */

	/* network outputs (engine/outputs.h), each with the event types it takes */
	int out_unix_enabled;
	char out_unix_path[CONFIG_MAX_STR];
	char out_unix_type[CONFIG_MAX_STR]; /* stream, dgram */
	char out_unix_events[CONFIG_MAX_LIST][CONFIG_MAX_STR];
	unsigned n_out_unix_events;
	char out_unix_analyzers[CONFIG_MAX_LIST][CONFIG_MAX_STR];
	unsigned n_out_unix_analyzers;
	int out_redis_enabled;
	char out_redis_host[CONFIG_MAX_STR];
	uint32_t out_redis_port;
	char out_redis_mode[CONFIG_MAX_STR]; /* publish, xadd, lpush */
	char out_redis_key[CONFIG_MAX_STR];
	uint32_t out_redis_max_len;
	char out_redis_events[CONFIG_MAX_LIST][CONFIG_MAX_STR];
	unsigned n_out_redis_events;
	char out_redis_analyzers[CONFIG_MAX_LIST][CONFIG_MAX_STR];
	unsigned n_out_redis_analyzers;
	int out_kafka_enabled;
	char out_kafka_brokers[CONFIG_MAX_STR];
	char out_kafka_topic[CONFIG_MAX_STR];
	char out_kafka_events[CONFIG_MAX_LIST][CONFIG_MAX_STR];
	unsigned n_out_kafka_events;
	char out_kafka_analyzers[CONFIG_MAX_LIST][CONFIG_MAX_STR];
	unsigned n_out_kafka_analyzers;

	/* operators (live mode): control socket, Prometheus endpoint */
	int control_enabled;		     /* control.enabled */
	char control_socket[CONFIG_MAX_STR]; /* control.socket */
	int metrics_enabled;		     /* metrics.enabled */
	char metrics_address[CONFIG_MAX_STR];
	uint32_t metrics_port;

	/* privileges: dropped after DPDK and sockets are set up (engine/privdrop.h) */
	int run_as_enabled;		   /* run-as.enabled */
	char run_as_user[CONFIG_MAX_STR];  /* run-as.user */
	char run_as_group[CONFIG_MAX_STR]; /* run-as.group */
};

/* Fill every key with its default. */
void config_defaults(struct config *c);

/*
 * Read a YAML file over the defaults already in *c. On error returns
 * -EINVAL (or -errno when the file cannot be read) and writes one line
 * "FILE:LINE: KEY: reason" into err (errlen bytes).
 */
int config_load(struct config *c, const char *path, char *err, size_t errlen);

/* Same, from a string (tests); name stands in for the file name. */
int config_load_string(struct config *c, const char *yaml, const char *name, char *err,
		       size_t errlen);

/*
 * Set one key from a "key=value" override (command line --set), with the
 * same checks as the file. Returns 0 or -EINVAL with err filled.
 */
int config_set(struct config *c, const char *assignment, char *err, size_t errlen);

/*
 * The value of key as text: "yes", "32", "3.5", a string, or a list as
 * "[a, b]" (YAML flow style). 0, -ENOENT (no such key) or -ENOSPC.
 */
int config_get(const struct config *c, const char *key, char *buf, size_t len);

/* Visit every row of the table: key and one-line doc (tests, --dump-config). */
typedef void (*config_visit_fn)(void *arg, const char *key, const char *doc);
void config_foreach_key(config_visit_fn fn, void *arg);

#endif
