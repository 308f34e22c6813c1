/*
 * main.c: darter's command line, and the order things start and stop in.
 *
 * Start: configuration -> capture (EAL, ports, flow tables, rings) ->
 * workers (their files, analyzers) -> live: control socket, metrics ->
 * run-as: hand the log files over, drop root (privdrop.h) -> worker
 * threads -> capture_run() on this thread. Nothing runs as root that
 * processes traffic; what needs root is done before the drop.
 * Stop (end of file, SIGTERM or SIGINT): capture flushes every open flow
 * into the rings, the workers drain them and exit, then the final stats
 * event is written and capture releases DPDK. Nothing in flight is lost.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"
#include "config.h"
#include "eve.h"
#include "log.h"
#include "ops.h"
#include "outputs.h"
#include "pcapfile.h"
#include "port.h"
#include "privdrop.h"
#include "score.h"
#include "sink_file.h"
#include "stats.h"
#include "worker.h"

#define MAIN_MAX_SETS 32

struct main_opts {
	const char *read_file; /* -r */
	const char *eve_file;  /* -e */
	const char *log_dir;   /* -l */
	const char *conf_path; /* -c */
	int test_conf;	       /* -T */
	int verbose;	       /* -v */
	const char *sets[MAIN_MAX_SETS];
	unsigned n_sets;
};

static struct {
	struct capture *cap;
	struct worker **workers;
	unsigned n_workers;
	struct ops *ops; /* live mode: control socket, metrics, periodic stats */
	int own;	 /* run-as: directories darter creates go to owner */
	struct privdrop_target owner;
} main_state;

/* ------------------------------------------------------------ options */

static void
main_usage(FILE *out)
{
	fprintf(out,
		"usage: darter -r FILE.pcap -l LOGDIR [-c CONF]   replay a capture (offline)\n"
		"       darter -e FILE.json -l LOGDIR [-c CONF]   replay Suricata EVE JSON\n"
		"       darter -c CONF                           capture live on the configured "
		"ports\n"
		"       darter -T -c CONF                        check a configuration and exit\n"
		"options:\n"
		"  -r FILE        read packets from a pcap/pcapng file through DPDK net_pcap\n"
		"  -e FILE        replay Suricata EVE JSON lines (flow events are scored)\n"
		"  -l DIR         write eve.json into DIR (default: default-log-dir)\n"
		"  -c FILE        configuration (Suricata-style YAML; default: built-in defaults)\n"
		"  -T             test the configuration and exit (0 valid, 1 invalid)\n"
		"  --set KEY=VAL  override one configuration key (repeatable)\n"
		"  -v             verbose (debug logging, DPDK's own log)\n"
		"  -V, --version  print the version\n"
		"  -h, --help     this help\n");
}

static int
main_parse(int argc, char **argv, struct main_opts *o)
{
	static const struct option longs[] = {
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{"set", required_argument, NULL, 's'},
		{NULL, 0, NULL, 0},
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "r:e:l:c:TvVh", longs, NULL)) != -1) {
		switch (ch) {
		case 'r':
			o->read_file = optarg;
			break;
		case 'e':
			o->eve_file = optarg;
			break;
		case 'l':
			o->log_dir = optarg;
			break;
		case 'c':
			o->conf_path = optarg;
			break;
		case 'T':
			o->test_conf = 1;
			break;
		case 'v':
			o->verbose = 1;
			break;
		case 'V':
			printf("darter %s\n", DARTER_VERSION);
			exit(0);
		case 'h':
			main_usage(stdout);
			exit(0);
		case 's':
			if (o->n_sets == MAIN_MAX_SETS)
				return -E2BIG;
			o->sets[o->n_sets++] = optarg;
			break;
		default:
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "darter: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

static int
main_config(const struct main_opts *o, struct config *c)
{
	char err[512];

	config_defaults(c);
	if (o->conf_path != NULL && config_load(c, o->conf_path, err, sizeof(err)) < 0)
		goto bad;
	for (unsigned i = 0; i < o->n_sets; i++) {
		if (config_set(c, o->sets[i], err, sizeof(err)) < 0)
			goto bad;
	}
	return 0;
bad:
	fprintf(stderr, "darter: configuration error: %s\n", err);
	return -EINVAL;
}

/* ---------------------------------------------------------- MAD core */

static int
main_mad_opts(const struct config *c, struct mad_opts *m)
{
	struct mad e;

	if (strcmp(c->mad_preset, "compat") == 0) {
		*m = mad_opts_compat();
		m->threshold = c->mad_threshold;
		return 0;
	}
	*m = mad_opts_default();
	m->transform =
		strcmp(c->mad_transform, "none") == 0 ? MAD_TRANSFORM_NONE : MAD_TRANSFORM_LOG1P;
	m->step = strcmp(c->mad_step, "absolute") == 0 ? MAD_STEP_ABSOLUTE : MAD_STEP_RELATIVE;
	m->eta = c->mad_eta;
	m->eta_min = c->mad_eta_min;
	m->burn_in = c->mad_burn_in;
	m->threshold = c->mad_threshold;
	m->two_sided = c->mad_two_sided != 0;
	return mad_init(&e, m);
}

/*
 * The scorer's configuration from mad.*; strings point into c. Checks
 * across keys that the table cannot: spec syntax, eta against the step,
 * compat with redis. -EINVAL with a message on stderr.
 */
static int
main_score_conf(const struct config *c, struct score_conf *sc)
{
	memset(sc, 0, sizeof(*sc));
	for (unsigned i = 0; i < c->n_mad_specs; i++) {
		if (i == SCORE_MAX_SPECS || score_spec_parse(c->mad_specs[i], &sc->specs[i]) < 0) {
			fprintf(stderr, "darter: configuration error: mad.specs: '%s': %s\n",
				c->mad_specs[i],
				i == SCORE_MAX_SPECS ? "too many specs (at most 8)"
						     : "not metric/group[:prefix4[,prefix6]]");
			return -EINVAL;
		}
	}
	sc->n_specs = c->n_mad_specs;
	if (main_mad_opts(c, &sc->mad) < 0) {
		fprintf(stderr,
			"darter: configuration error: mad.eta: %g is too large for a "
			"relative step (at most 0.1)\n",
			c->mad_eta);
		return -EINVAL;
	}
	sc->store = strcmp(c->mad_store, "redis") == 0 ? SCORE_STORE_REDIS : SCORE_STORE_LOCAL;
	if (sc->store == SCORE_STORE_REDIS && sc->mad.compat) {
		fprintf(stderr, "darter: configuration error: mad.store: redis does not support "
				"mad.preset compat\n");
		return -EINVAL;
	}
	sc->max_groups = c->mad_max_groups;
	sc->redis_host = c->mad_redis_host;
	sc->redis_port = (uint16_t)c->mad_redis_port;
	sc->redis_timeout_ms = c->mad_redis_timeout_ms;
	sc->redis_window = c->mad_redis_window;
	sc->redis_prefix = c->mad_redis_prefix;
	return 0;
}

/* capture_route_fn: records of one MAD group go to one worker (local store). */
static uint64_t
main_route(void *arg, const struct flow_record *rec)
{
	return score_route_key(arg, rec);
}

/*
 * The local store needs every record of a group on one worker; the first
 * spec decides. A global first spec has one key: any worker may learn
 * the population from its share, so records keep the default spread, as
 * they do for the redis store, whose state is shared anyway.
 */
static void
main_route_conf(const struct config *c, const struct score_conf *sc, struct capture_conf *cc)
{
	if (!c->mad_enabled || sc->n_specs == 0 || sc->store != SCORE_STORE_LOCAL ||
	    sc->specs[0].group == SCORE_GROUP_GLOBAL)
		return;
	cc->route = main_route;
	cc->route_arg = (void *)&sc->specs[0];
}

/* -------------------------------------------------------- outputs */

/* A sink's event list into its mask. -EINVAL with the message printed. */
static int
main_events(const char *key, const char list[][CONFIG_MAX_STR], unsigned n, unsigned *mask)
{
	*mask = 0;
	for (unsigned i = 0; i < n; i++) {
		if (outputs_event_parse(list[i], mask) < 0) {
			fprintf(stderr,
				"darter: configuration error: %s: '%s' is not an event type "
				"(flow, alert, analyzer)\n",
				key, list[i]);
			return -EINVAL;
		}
	}
	return 0;
}

/* A sink's analyzer filter: pointers into c. -EINVAL with the message printed. */
static int
main_names(struct outputs_conf *oc, unsigned k, const char *key, const char list[][CONFIG_MAX_STR],
	   unsigned n)
{
	for (unsigned i = 0; i < n && i < OUTPUTS_NAMES_MAX; i++) {
		if (outputs_name_check(list[i]) < 0) {
			fprintf(stderr,
				"darter: configuration error: %s: '%s' is not an analyzer name "
				"(a script's name without .lua, or a darter.emit sink)\n",
				key, list[i]);
			return -EINVAL;
		}
		oc->analyzers[k][i] = list[i];
	}
	oc->n_analyzers[k] = n;
	return 0;
}

/* The network sinks from outputs.*; strings point into c. 0 or -EINVAL (printed). */
static int
main_outputs_conf(const struct config *c, struct outputs_conf *oc)
{
	static const char *const modes[] = {"publish", "xadd", "lpush"};
	unsigned unix_ev, redis_ev, kafka_ev;

	memset(oc, 0, sizeof(*oc));
	if (main_events("outputs.unix-socket.events", c->out_unix_events, c->n_out_unix_events,
			&unix_ev) < 0 ||
	    main_events("outputs.redis.events", c->out_redis_events, c->n_out_redis_events,
			&redis_ev) < 0 ||
	    main_events("outputs.kafka.events", c->out_kafka_events, c->n_out_kafka_events,
			&kafka_ev) < 0)
		return -EINVAL;
	if (main_names(oc, OUTPUTS_UNIX, "outputs.unix-socket.analyzers", c->out_unix_analyzers,
		       c->n_out_unix_analyzers) < 0 ||
	    main_names(oc, OUTPUTS_REDIS, "outputs.redis.analyzers", c->out_redis_analyzers,
		       c->n_out_redis_analyzers) < 0 ||
	    main_names(oc, OUTPUTS_KAFKA, "outputs.kafka.analyzers", c->out_kafka_analyzers,
		       c->n_out_kafka_analyzers) < 0)
		return -EINVAL;
	oc->events[OUTPUTS_UNIX] = c->out_unix_enabled ? unix_ev : 0;
	oc->events[OUTPUTS_REDIS] = c->out_redis_enabled ? redis_ev : 0;
	oc->events[OUTPUTS_KAFKA] = c->out_kafka_enabled ? kafka_ev : 0;
	oc->unix_path = c->out_unix_path;
	oc->unix_dgram = strcmp(c->out_unix_type, "dgram") == 0;
	oc->redis_host = c->out_redis_host;
	oc->redis_port = (uint16_t)c->out_redis_port;
	for (int m = 0; m < 3; m++)
		if (strcmp(c->out_redis_mode, modes[m]) == 0)
			oc->redis_mode = m; /* enum sink_redis_mode order */
	oc->redis_key = c->out_redis_key;
	oc->redis_max_len = c->out_redis_max_len;
	oc->kafka_brokers = c->out_kafka_brokers;
	oc->kafka_topic = c->out_kafka_topic;
	oc->linger_ms = 10000; /* exit may wait this long for a slow peer: a replay loses nothing */
	return 0;
}

/* ------------------------------------------------------------- set-up */

/* mkdir path; one darter creates under run-as belongs to the run-as user. */
static int
main_mkdir(const char *path)
{
	if (mkdir(path, 0750) < 0)
		return errno == EEXIST ? 0 : -errno;
	if (main_state.own && chown(path, main_state.owner.uid, main_state.owner.gid) < 0)
		return -errno;
	return 0;
}

static int
main_mkdirs(const char *dir)
{
	char path[PATH_MAX];
	size_t n = strlen(dir);
	int rc;

	if (n == 0 || n >= sizeof(path))
		return -ENAMETOOLONG;
	memcpy(path, dir, n + 1);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		rc = main_mkdir(path);
		if (rc < 0)
			return rc;
		*p = '/';
	}
	return main_mkdir(path);
}

/* Build the capture configuration; offline replays one file through net_pcap. */
static int
main_capture_conf(const struct config *c, const struct main_opts *o, struct capture_conf *cc,
		  char *vdev, size_t vdevlen, const char **ports, const char **extra)
{
	char err[512];

	memset(cc, 0, sizeof(*cc));
	cc->link = DECODE_LINK_ETHERNET;
	if (o->read_file != NULL) {
		if (strchr(o->read_file, ',') != NULL) {
			fprintf(stderr,
				"darter: %s: a ',' in the path cannot be passed to net_pcap\n",
				o->read_file);
			return -EINVAL;
		}
		if (pcapfile_check(o->read_file, &cc->link, err, sizeof(err)) < 0) {
			fprintf(stderr, "darter: %s\n", err);
			return -EINVAL;
		}
		snprintf(vdev, vdevlen, "net_pcap0,rx_pcap=%s", o->read_file);
		ports[0] = vdev;
		cc->eal.n_ports = 1;
		cc->offline = 1;
	} else {
		for (unsigned i = 0; i < c->n_ports; i++)
			ports[i] = c->ports[i];
		cc->eal.n_ports = c->n_ports;
	}
	for (unsigned i = 0; i < c->n_eal_args; i++)
		extra[i] = c->eal_args[i];
	cc->eal.ports = ports;
	cc->eal.extra = extra;
	cc->eal.n_extra = c->n_eal_args;
	cc->eal.memory_mb = c->eal_memory_mb;
	cc->eal.huge = c->eal_huge;
	cc->eal.cpus = c->capture_cpus;
	/* One capture lcore per cpu; offline, net_pcap's one queue is spread in software. */
	cc->eal.n_cpus = c->n_capture_cpus;
	cc->eal.verbose = o->verbose;
	cc->burst = (uint16_t)c->burst;
	cc->rx_desc = (uint16_t)c->rx_desc;
	cc->mbufs = c->mbufs;
	cc->ring_size = c->ring_size;
	cc->n_workers = c->n_workers;
	cc->flow = c->flow;
	cc->flow.emergency_high = (uint8_t)c->flow_emergency_high;
	cc->flow.emergency_recovery = (uint8_t)c->flow_emergency_recovery;
	cc->flow.dpi = c->dpi_enabled != 0;
	cc->flow.appid.max_packets_tcp = (uint16_t)c->dpi_max_packets_tcp;
	cc->flow.appid.max_packets_udp = (uint16_t)c->dpi_max_packets_udp;
	return 0;
}

/* Where worker i's files go: outliers shared, MAD snapshot one per worker. */
struct main_paths {
	struct outputs_conf outputs;	      /* network sinks (each worker opens its own) */
	struct analyze_conf analyze;	      /* shared by the workers (each copies it) */
	const char *scripts[CONFIG_MAX_LIST]; /* analyze.scripts */
	char analyzers[PATH_MAX];	      /* their emitted events */
	const char *dir;
	int offline; /* -r: no MAD snapshot */
	char eve[PATH_MAX];
	char outliers[PATH_MAX];
	char snapshot[PATH_MAX];
};

static void
main_worker_conf(const struct config *c, const struct score_conf *sc, struct main_paths *p,
		 unsigned i, int offline, struct worker_conf *wc)
{
	memset(wc, 0, sizeof(*wc));
	wc->id = i;
	wc->cpu = c->n_worker_cpus ? (int)c->worker_cpus[i % c->n_worker_cpus] : -1;
	wc->eve_path = c->eve_enabled ? p->eve : NULL;
	wc->community_id = c->community_id;
	wc->replay = offline;
	wc->community_seed = (uint16_t)c->community_id_seed;
	if (p->outputs.events[OUTPUTS_UNIX] | p->outputs.events[OUTPUTS_REDIS] |
	    p->outputs.events[OUTPUTS_KAFKA])
		wc->outputs = &p->outputs;
	if (c->n_analyzer_scripts > 0) {
		for (unsigned k = 0; k < c->n_analyzer_scripts; k++)
			p->scripts[k] = c->analyzer_scripts[k];
		p->analyze = (struct analyze_conf){
			.scripts = p->scripts,
			.n_scripts = c->n_analyzer_scripts,
			.mem_max = (size_t)c->analyzer_memory_mb << 20,
			.cpu_ms = c->analyzer_cpu_ms,
			.allow_io = c->analyzer_allow_io,
			.queue_max = c->analyzer_queue_max,
		};
		if (c->analyzer_redis_enabled) {
			p->analyze.redis_host = c->analyzer_redis_host;
			p->analyze.redis_port = (uint16_t)c->analyzer_redis_port;
			p->analyze.redis_timeout_ms = c->analyzer_redis_timeout_ms;
		}
		snprintf(p->analyzers, sizeof(p->analyzers), "%s/%s", p->dir,
			 c->analyzers_filename);
		wc->analyze = &p->analyze;
		wc->analyzers_path = p->analyzers;
	}
	if (i == 0 && c->in_script_enabled) { /* -e, and live: worker 0 reads the inputs */
		wc->input_script = c->in_script;
		wc->input_script_mem = (size_t)c->analyzer_memory_mb << 20;
		wc->input_script_cpu_ms = c->analyzer_cpu_ms;
	}
	if (i == 0 && !offline) { /* live EVE inputs: worker 0 reads them all */
		wc->in_file = c->in_file_enabled ? c->in_file_path : NULL;
		wc->in_file_from_end = c->in_file_from_end;
		wc->in_unix = c->in_unix_enabled ? c->in_unix_path : NULL;
		wc->in_unix_dgram = strcmp(c->in_unix_type, "dgram") == 0;
		if (c->in_kafka_enabled) {
			wc->in_kafka_brokers = c->in_kafka_brokers;
			wc->in_kafka_topic = c->in_kafka_topic;
			wc->in_kafka_group = c->in_kafka_group;
		}
		if (main_state.own) { /* worker_new creates the socket: the run-as user's */
			wc->in_unix_uid = main_state.owner.uid;
			wc->in_unix_gid = main_state.owner.gid;
		}
	}
	if (!c->mad_enabled || sc->n_specs == 0)
		return;
	wc->score = sc;
	if (c->outliers_enabled) {
		snprintf(p->outliers, sizeof(p->outliers), "%s/%s", p->dir, c->outliers_filename);
		wc->outliers_path = p->outliers;
	}
	if (c->mad_snapshot && !offline) { /* a replay starts fresh: same input, same output */
		snprintf(p->snapshot, sizeof(p->snapshot), "%s/%s.%u", p->dir, c->mad_snapshot_file,
			 i);
		wc->snapshot_path = p->snapshot;
		wc->snapshot_interval_s = c->mad_snapshot_interval;
	}
}

/* Create the workers (their files are opened here); none runs yet. */
static int
main_new_workers(const struct config *c, const struct score_conf *sc, struct handoff *h,
		 struct main_paths *p)
{
	main_state.workers = calloc(c->n_workers, sizeof(*main_state.workers));
	if (main_state.workers == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < c->n_workers; i++) {
		struct worker_conf wc;

		main_worker_conf(c, sc, p, i, p->offline, &wc);
		main_state.workers[i] = worker_new(&wc, h);
		if (main_state.workers[i] == NULL) {
			fprintf(stderr, "darter: worker %u: %s\n", i, strerror(errno));
			return -errno;
		}
		main_state.n_workers = i + 1;
	}
	return 0;
}

static int
main_start_workers(void)
{
	for (unsigned i = 0; i < main_state.n_workers; i++) {
		int rc = worker_start(main_state.workers[i]);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ------------------------------------------------------------ signals */

/* End the workers' live EVE inputs (signal-safe). */
static void
main_stop_workers(void)
{
	for (unsigned i = 0; i < main_state.n_workers; i++)
		worker_stop(main_state.workers[i]);
}

static void
main_on_signal(int sig)
{
	if (sig == SIGUSR2) {
		for (unsigned i = 0; i < main_state.n_workers; i++)
			worker_reload(main_state.workers[i]);
		return;
	}
	if (sig == SIGHUP) {
		for (unsigned i = 0; i < main_state.n_workers; i++)
			worker_reopen(main_state.workers[i]);
		ops_reopen(main_state.ops);
		return;
	}
	if (main_state.cap != NULL)
		capture_stop(main_state.cap);
	main_stop_workers();
}

static void
main_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = main_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL); /* never the default action: that would kill darter */
	signal(SIGPIPE, SIG_IGN);
}

/* ------------------------------------------------------------- finish */

static uint64_t
main_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void
main_sum_workers(struct worker_stats *sum)
{
	memset(sum, 0, sizeof(*sum));
	for (unsigned i = 0; i < main_state.n_workers; i++) {
		struct worker_stats ws;

		worker_stats_get(main_state.workers[i], &ws);
		worker_stats_add(sum, &ws);
	}
}

/* ---------------------------------------------------------- operators */

/* ops_hooks.collect: every counter now (ops thread; a snapshot, see ops.h). */
static size_t
main_collect(void *arg, struct eve_counter *out, size_t cap)
{
	struct capture_stats cs;
	struct worker_stats ws;

	(void)arg;
	if (cap < STATS_MAX_COUNTERS)
		return 0;
	main_sum_workers(&ws);
	memset(&cs, 0, sizeof(cs));
	if (main_state.cap != NULL)
		capture_stats_get(main_state.cap, &cs);
	return stats_collect(&cs, &ws, out);
}

static void
main_reopen(void *arg)
{
	(void)arg;
	for (unsigned i = 0; i < main_state.n_workers; i++)
		worker_reopen(main_state.workers[i]);
}

static void
main_shutdown(void *arg)
{
	(void)arg;
	if (main_state.cap != NULL)
		capture_stop(main_state.cap);
	main_stop_workers();
}

/* reload-analyzers: as SIGUSR2; the workers reload on their loops within a second. */
static int
main_reload(void *arg, char *msg, size_t len)
{
	const struct config *c = arg;

	if (c->n_analyzer_scripts == 0) {
		snprintf(msg, len, "no analyzers are configured");
		return -ENOENT;
	}
	for (unsigned i = 0; i < main_state.n_workers; i++)
		worker_reload(main_state.workers[i]);
	snprintf(msg, len, "reload requested: %u scripts on %u workers (errors in the log)",
		 c->n_analyzer_scripts, main_state.n_workers);
	return 0;
}

static int
main_conf_get(void *arg, const char *key, char *buf, size_t len)
{
	return config_get(arg, key, buf, len);
}

/* The control socket's directory, made if missing. */
static void
main_socket_dir(const char *path)
{
	char dir[PATH_MAX];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return;
	*slash = '\0';
	if (main_mkdirs(dir) < 0)
		LOG_WARN("main", "cannot create %s: %s", dir, strerror(errno));
}

/* Live mode's operator interfaces (ops.h); NULL with the reason printed. */
static struct ops *
main_ops_start(const struct config *c, const char *eve_path, uint64_t start_us)
{
	struct ops_hooks h = {.collect = main_collect,
			      .reopen = main_reopen,
			      .shutdown = main_shutdown,
			      .reload = main_reload,
			      .conf_get = main_conf_get,
			      .arg = (void *)c};
	struct ops_conf oc = {.stats_path = eve_path, .start_us = start_us};
	struct ops *o;
	char err[512];

	if (c->control_enabled) {
		main_socket_dir(c->control_socket);
		oc.control_path = c->control_socket;
	}
	if (c->metrics_enabled) {
		oc.metrics_addr = c->metrics_address;
		oc.metrics_port = (uint16_t)c->metrics_port;
	}
	oc.stats_interval_s = c->eve_enabled && c->stats_enabled ? c->stats_interval : 0;
	o = ops_start(&oc, &h, err, sizeof(err));
	if (o == NULL) {
		fprintf(stderr, "darter: %s\n", err);
		return NULL;
	}
	if (c->control_enabled)
		LOG_NOTICE("main", "control socket %s", c->control_socket);
	if (c->metrics_enabled)
		LOG_NOTICE("main", "metrics on http://%s:%u/metrics", c->metrics_address,
			   (unsigned)ops_metrics_port(o));
	return o;
}

static void
main_write_stats(const char *eve_path, const struct eve_counter *c, size_t n, uint64_t start_us)
{
	static char buf[64 * 1024];
	uint64_t now = main_now_us();
	size_t len = eve_format_stats(buf, sizeof(buf), now, (now - start_us) / 1000000u, c, n);
	struct sink_file *s = sink_file_open(eve_path);

	if (s == NULL || len == 0 || sink_file_write(s, buf, len) < 0 || sink_file_flush(s) < 0)
		LOG_ERR("main", "%s: stats event not written: %s", eve_path, strerror(errno));
	sink_file_close(s);
}

static void
main_summary(const char *eve_path, const char *outliers_path, const struct eve_counter *c, size_t n)
{
	if (main_state.cap != NULL)
		printf("darter: %" PRIu64 " packets, %" PRIu64 " bytes decoded; %" PRIu64
		       " flows\n",
		       stats_value(c, n, "decoder.pkts"), stats_value(c, n, "decoder.bytes"),
		       stats_value(c, n, "flow.total"));
	else
		printf("darter: %" PRIu64 " EVE lines read: %" PRIu64 " flow events, %" PRIu64
		       " other events, %" PRIu64 " refused, %" PRIu64 " too long\n",
		       stats_value(c, n, "darter.eve_input.lines"),
		       stats_value(c, n, "darter.eve_input.flows"),
		       stats_value(c, n, "darter.eve_input.others"),
		       stats_value(c, n, "darter.eve_input.refused"),
		       stats_value(c, n, "darter.eve_input.too_long"));
	printf("darter: %" PRIu64 " flow records written to %s\n",
	       stats_value(c, n, "darter.workers.lines"), eve_path);
	if (stats_value(c, n, "darter.mad.records") > 0)
		printf("darter: MAD core scored %" PRIu64 " records: %" PRIu64
		       " outliers (written to %s), %" PRIu64 " estimators\n",
		       stats_value(c, n, "darter.mad.records"),
		       stats_value(c, n, "darter.mad.outliers"), outliers_path,
		       stats_value(c, n, "darter.mad.groups"));
	printf("darter: decoder invalid %" PRIu64 ", non-IP %" PRIu64 ", fragments %" PRIu64
	       "; flows evicted %" PRIu64 "; records dropped %" PRIu64 "\n",
	       stats_value(c, n, "decoder.invalid"), stats_value(c, n, "darter.decoder.non_ip"),
	       stats_value(c, n, "darter.decoder.fragments"),
	       stats_value(c, n, "darter.flow.evicted"),
	       stats_value(c, n, "darter.handoff.ring_full") +
		       stats_value(c, n, "darter.spread.ring_full") +
		       stats_value(c, n, "darter.handoff.pool_empty") +
		       stats_value(c, n, "darter.workers.dropped") +
		       stats_value(c, n, "darter.workers.format_errors"));
}

static void
main_finish(const struct config *c, const char *eve_path, const char *outliers_path,
	    uint64_t start_us)
{
	struct eve_counter counters[STATS_MAX_COUNTERS];
	struct capture_stats cs;
	struct worker_stats ws;
	size_t n;

	main_sum_workers(&ws);
	memset(&cs, 0, sizeof(cs));
	if (main_state.cap != NULL)
		capture_stats_get(main_state.cap, &cs);
	n = stats_collect(&cs, &ws, counters);
	if (c->eve_enabled && c->stats_enabled)
		main_write_stats(eve_path, counters, n, start_us);
	main_summary(eve_path, outliers_path, counters, n);
}

/* --------------------------------------------------------- privileges */

/*
 * Analyzer scripts run with darter's rights: refuse any that another
 * user could rewrite (privdrop_check_path). At start, in every mode;
 * reloads check again in analyze.c.
 */
static int
main_check_scripts(const struct config *c)
{
	char err[512];

	for (unsigned i = 0; i < c->n_analyzer_scripts; i++) {
		if (privdrop_check_path(c->analyzer_scripts[i], err, sizeof(err)) < 0) {
			fprintf(stderr, "darter: analyzer %s refused: %s\n", c->analyzer_scripts[i],
				err);
			return -EPERM;
		}
	}
	return 0;
}

/* run-as names resolved while still root: a typo fails before DPDK starts. */
static int
main_run_as(const struct config *c)
{
	char err[256];
	int rc = privdrop_resolve(c->run_as_user, c->run_as_group, &main_state.owner, err,
				  sizeof(err));

	if (rc < 0) {
		fprintf(stderr, "darter: configuration error: run-as: %s\n", err);
		return rc;
	}
	if (geteuid() != 0 && geteuid() != main_state.owner.uid) {
		fprintf(stderr, "darter: run-as %s: darter must start as root to drop to it\n",
			c->run_as_user);
		return -EPERM;
	}
	main_state.own = 1;
	return 0;
}

/*
 * The leaf of a directory darter writes in (log dir, socket dir) goes to
 * the run-as user, so that files can be created there after the drop
 * (log rotation, the socket's unlink at exit). Left alone: one another
 * user owns, and shared ones (world-writable, sticky: /tmp) where the
 * user may create its files anyway.
 */
static int
main_give_dir(const char *dir, const struct privdrop_target *t)
{
	struct stat st;

	if (stat(dir, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (st.st_uid != 0 || (st.st_mode & (S_IWOTH | S_ISVTX)) || strcmp(dir, "/") == 0)
		return 0;
	if (chown(dir, t->uid, t->gid) < 0)
		return -errno;
	LOG_NOTICE("main", "%s now belongs to %s:%s (run-as)", dir, t->user, t->group);
	return 0;
}

/* One of darter's files, when it exists (made by root before the drop). */
static int
main_give_file(const char *path, const struct privdrop_target *t)
{
	struct stat st;

	if (path == NULL || path[0] == '\0' || lstat(path, &st) < 0)
		return 0;
	if (st.st_uid == t->uid && st.st_gid == t->gid)
		return 0;
	return lchown(path, t->uid, t->gid) < 0 ? -errno : 0;
}

static int
main_give_socket(const struct config *c, const struct privdrop_target *t)
{
	char dir[PATH_MAX];
	char *slash;
	int rc;

	if (!c->control_enabled)
		return 0;
	snprintf(dir, sizeof(dir), "%s", c->control_socket);
	slash = strrchr(dir, '/');
	if (slash != NULL && slash != dir) {
		*slash = '\0';
		rc = main_give_dir(dir, t);
		if (rc < 0)
			LOG_WARN("main", "%s: %s: the socket will outlive darter", dir,
				 strerror(-rc));
	}
	return main_give_file(c->control_socket, t); /* mode 0660: the group may connect */
}

/* Everything the workers and ops write after the drop. 0 or -errno (printed). */
static int
main_give_files(const struct config *c, const struct main_paths *p, const struct privdrop_target *t)
{
	char snap[PATH_MAX];
	int rc = main_give_dir(p->dir, t);

	if (rc == 0)
		rc = main_give_file(p->eve, t);
	if (rc == 0)
		rc = main_give_file(p->outliers, t);
	if (rc == 0)
		rc = main_give_file(p->analyzers, t);
	for (unsigned i = 0; rc == 0 && c->mad_snapshot && i < c->n_workers; i++) {
		snprintf(snap, sizeof(snap), "%s/%s.%u", p->dir, c->mad_snapshot_file, i);
		rc = main_give_file(snap, t);
	}
	if (rc == 0)
		rc = main_give_socket(c, t);
	if (rc == 0 && c->in_unix_enabled) { /* the EVE socket is unlinked at exit */
		char dir[PATH_MAX], *slash;

		snprintf(dir, sizeof(dir), "%s", c->in_unix_path);
		slash = strrchr(dir, '/');
		if (slash != NULL && slash != dir) {
			*slash = '\0';
			if (main_give_dir(dir, t) < 0)
				LOG_WARN("main", "%s: the EVE socket will outlive darter", dir);
		}
	}
	if (rc < 0)
		fprintf(stderr, "darter: run-as %s: cannot hand %s over: %s\n", t->user, p->dir,
			strerror(-rc));
	return rc;
}

/*
 * Become the run-as user for good, after DPDK, the ports, the sockets
 * and the workers' files are set up and before anything runs. Then
 * check what the user can do that darter will need: write the log
 * directory (SIGHUP reopens there). 0 or -errno with the reason printed.
 */
static int
main_drop(const struct config *c, const struct main_paths *p)
{
	const struct privdrop_target *t = &main_state.owner;
	char err[512];
	int rc = main_give_files(c, p, t);

	if (rc < 0)
		return rc;
	rc = privdrop_apply(t, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "darter: run-as %s:%s: %s\n", t->user, t->group, err);
		return rc;
	}
	if (access(p->dir, W_OK | X_OK) < 0) {
		rc = -errno;
		fprintf(stderr,
			"darter: run-as %s: log directory %s is not writable after the drop: %s "
			"(each directory above it must be searchable by %s)\n",
			t->user, p->dir, strerror(-rc), t->user);
		return rc;
	}
	LOG_NOTICE("main", "running as %s:%s (uid %u, gid %u)", t->user, t->group, (unsigned)t->uid,
		   (unsigned)t->gid);
	return 0;
}

/* --------------------------------------------------------------- main */

/* Free the joined workers; signal handlers see none from here on. */
static void
main_forget_workers(void)
{
	unsigned n = main_state.n_workers;

	main_state.n_workers = 0;
	__atomic_signal_fence(__ATOMIC_SEQ_CST); /* a handler reading n_workers sees 0 first */
	for (unsigned i = 0; i < n; i++)
		worker_free(main_state.workers[i]);
	free(main_state.workers);
	main_state.workers = NULL;
}

/* The log directory (made if missing) and the paths in it. 0, or -1 (printed). */
static int
main_paths_init(const struct config *c, const struct main_opts *o, struct main_paths *p)
{
	const char *dir = o->log_dir ? o->log_dir : c->log_dir;
	int rc = main_mkdirs(dir);

	if (rc < 0) {
		fprintf(stderr, "darter: log directory %s: %s\n", dir, strerror(-rc));
		return -1;
	}
	p->dir = dir;
	snprintf(p->eve, sizeof(p->eve), "%s/%s", dir, c->eve_filename);
	return 0;
}

static const char *
main_outliers_path(const struct main_paths *p)
{
	return p->outliers[0] ? p->outliers : "nowhere";
}

/*
 * Live mode without capture ports: darter as Suricata's EVE analytics
 * engine. No DPDK; one worker reads the configured EVE inputs on its
 * loop until SIGTERM (or the control socket's shutdown), with the
 * operator interfaces and the privilege drop of live capture.
 */
static int
main_run_inputs(const struct config *c, const struct main_opts *o)
{
	static struct main_paths paths;
	struct worker_conf wc;
	struct score_conf sc;
	uint64_t start_us = main_now_us();
	int rc;

	if (main_score_conf(c, &sc) < 0 || (c->run_as_enabled && main_run_as(c) < 0) ||
	    main_paths_init(c, o, &paths) < 0 || main_outputs_conf(c, &paths.outputs) < 0)
		return 1;
	if (c->n_workers > 1)
		LOG_NOTICE("main", "EVE inputs only: one worker (workers.count %u not used)",
			   (unsigned)c->n_workers);
	main_state.workers = calloc(1, sizeof(*main_state.workers));
	if (main_state.workers == NULL)
		return 1;
	main_worker_conf(c, &sc, &paths, 0, 0, &wc);
	main_state.workers[0] = worker_new(&wc, NULL); /* creates the socket: before the drop */
	if (main_state.workers[0] == NULL) {
		fprintf(stderr, "darter: EVE inputs: %s\n", strerror(errno));
		free(main_state.workers);
		main_state.workers = NULL;
		return 1;
	}
	main_state.n_workers = 1;
	main_signals();
	rc = (main_state.ops = main_ops_start(c, paths.eve, start_us)) == NULL ? -EADDRINUSE : 0;
	if (rc == 0 && main_state.own)
		rc = main_drop(c, &paths);
	if (rc < 0)
		worker_stop(main_state.workers[0]); /* it closes its inputs and ends at once */
	if (worker_start(main_state.workers[0]) == 0)
		worker_join(main_state.workers[0]); /* until SIGTERM: worker_stop() */
	ops_stop(main_state.ops);
	main_state.ops = NULL;
	if (rc == 0)
		main_finish(c, paths.eve, main_outliers_path(&paths), start_us);
	main_forget_workers();
	return rc == 0 ? 0 : 1;
}

/* Capture: offline (-r) or live (-c with capture.ports). */
static int
main_run_capture(const struct config *c, const struct main_opts *o)
{
	static char vdev[PATH_MAX + 64];
	static struct main_paths paths;
	const char *ports[CONFIG_MAX_LIST], *extra[CONFIG_MAX_LIST];
	struct capture_conf cc;
	struct score_conf sc;
	uint64_t start_us = main_now_us();
	char err[512];
	int rc;

	if (main_score_conf(c, &sc) < 0)
		return 1;
	if (main_capture_conf(c, o, &cc, vdev, sizeof(vdev), ports, extra) < 0)
		return 1;
	main_route_conf(c, &sc, &cc);
	if (cc.eal.n_ports == 0 && !cc.offline &&
	    (c->in_file_enabled || c->in_unix_enabled || c->in_kafka_enabled))
		return main_run_inputs(c, o);
	if (cc.eal.n_ports == 0) {
		fprintf(stderr,
			"darter: nothing to capture: give -r FILE, -e FILE, or capture.ports "
			"in the configuration\n");
		return 1;
	}
	if (!cc.offline && c->run_as_enabled && main_run_as(c) < 0)
		return 1;
	if (main_paths_init(c, o, &paths) < 0 || main_outputs_conf(c, &paths.outputs) < 0)
		return 1;
	paths.offline = cc.offline;
	port_set_mbuf_size(c->mbuf_size);
	main_state.cap = capture_new(&cc, err, sizeof(err));
	if (main_state.cap == NULL) {
		fprintf(stderr, "darter: capture: %s\n", err);
		return 1;
	}
	main_signals();
	rc = main_new_workers(c, &sc, capture_handoff(main_state.cap), &paths);
	if (rc == 0 && !cc.offline &&
	    (main_state.ops = main_ops_start(c, paths.eve, start_us)) == NULL)
		rc = -EADDRINUSE;
	if (rc == 0 && main_state.own)
		rc = main_drop(c, &paths);
	if (rc == 0)
		rc = main_start_workers();
	if (rc == 0)
		rc = capture_run(main_state.cap);
	else
		capture_stop(main_state.cap), capture_run(main_state.cap);
	main_stop_workers(); /* capture is over: so are the live EVE inputs */
	for (unsigned i = 0; i < main_state.n_workers; i++)
		worker_join(main_state.workers[i]);
	ops_stop(main_state.ops);
	main_state.ops = NULL;
	if (rc == 0)
		main_finish(c, paths.eve, main_outliers_path(&paths), start_us);
	main_forget_workers();
	capture_free(main_state.cap);
	return rc == 0 ? 0 : 1;
}

/*
 * EVE replay (-e): no DPDK at all. One worker reads the file on its loop;
 * flow events become records like capture's and take the same path
 * (MAD core, sinks); other event types are counted.
 */
static int
main_run_eve(const struct config *c, const struct main_opts *o)
{
	static struct main_paths paths;
	struct worker_conf wc;
	struct score_conf sc;
	uint64_t start_us = main_now_us();
	int rc;

	if (main_score_conf(c, &sc) < 0 || main_paths_init(c, o, &paths) < 0 ||
	    main_outputs_conf(c, &paths.outputs) < 0)
		return 1;
	paths.offline = 1;
	if (c->n_workers > 1)
		LOG_NOTICE("main", "EVE replay runs on one worker (workers.count %u not used)",
			   (unsigned)c->n_workers);
	main_state.workers = calloc(1, sizeof(*main_state.workers));
	if (main_state.workers == NULL)
		return 1;
	main_worker_conf(c, &sc, &paths, 0, 1, &wc);
	wc.eve_input = o->eve_file;
	main_state.workers[0] = worker_new(&wc, NULL);
	if (main_state.workers[0] == NULL) {
		fprintf(stderr, "darter: %s: %s\n", o->eve_file, strerror(errno));
		free(main_state.workers);
		return 1;
	}
	main_state.n_workers = 1;
	main_signals();
	rc = worker_start(main_state.workers[0]);
	if (rc == 0)
		rc = worker_join(main_state.workers[0]);
	if (rc == 0)
		main_finish(c, paths.eve, main_outliers_path(&paths), start_us);
	main_forget_workers();
	return rc == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	struct main_opts o;
	struct config c;
	struct score_conf sc;
	struct outputs_conf oc;
	enum log_level level;

	/* Until main_signals(): a reload or reopen request must not kill darter. */
	signal(SIGUSR2, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	memset(&o, 0, sizeof(o));
	if (main_parse(argc, argv, &o) < 0) {
		main_usage(stderr);
		return 1;
	}
	if (main_config(&o, &c) < 0 || main_score_conf(&c, &sc) < 0 ||
	    main_outputs_conf(&c, &oc) < 0)
		return 1;
	if (o.test_conf) {
		printf("darter: configuration %s is valid\n",
		       o.conf_path ? o.conf_path : "(defaults)");
		return 0;
	}
	if (log_level_parse(c.log_level, &level) == 0)
		log_set_level(o.verbose ? LOG_LEVEL_DEBUG : level);
	if (o.eve_file != NULL && o.read_file != NULL) {
		fprintf(stderr, "darter: -r and -e exclude each other\n");
		return 1;
	}
	if (main_check_scripts(&c) < 0)
		return 1;
	return o.eve_file != NULL ? main_run_eve(&c, &o) : main_run_capture(&c, &o);
}
