/*
 * worker.h: one engine worker: a pthread running its own libuv loop.
 *
 * A worker drains its rings of completed flow records, scores each with
 * its MAD core (engine/score.h), formats it as an EVE line and writes it
 * to its sink; outliers also go to the outlier sink as alert events. It owns everything on its
 * loop; the only things that cross threads are the records (through the handoff) and the wake-up
 * (uv_async_send).
 *
 * Live EVE inputs (darter as Suricata's analytics engine): a worker may
 * also follow an EVE file (tail -F), listen on an EVE Unix socket and
 * consume an EVE Kafka topic as a member of a consumer group;
 * each line takes the path of darter -e (eve_in -> MAD -> analyzers ->
 * sinks). main gives them to worker 0 only: one parser and one MAD
 * state per input, so an input's groups are never split between
 * workers. When the sinks hold more than their high-water mark (or the
 * Redis window is full) the inputs pause: Suricata's writes block on the
 * socket, the file waits on disk, the Kafka partitions are paused (their
 * offsets committed only for lines handed over); nothing is dropped for room. Live
 * inputs end only with worker_stop().
 */
#ifndef DARTER_WORKER_H
#define DARTER_WORKER_H

#include <stdint.h>
#include <sys/types.h>

#include "analyze.h"
#include "eve_in.h"
#include "handoff.h"
#include "input_file.h"
#include "input_kafka.h"
#include "input_unix.h"
#include "outputs.h"
#include "score.h"

struct worker_conf {
	unsigned id;			    /* index in the handoff */
	int cpu;			    /* pin to this CPU; -1 leaves affinity alone */
	const char *eve_path;		    /* NULL: records are consumed and counted only */
	const char *outliers_path;	    /* NULL: outliers only marked in eve.json */
	const struct score_conf *score;	    /* NULL: no MAD scoring; copied by worker_new */
	const char *snapshot_path;	    /* local MAD state file (copied); NULL: none */
	unsigned snapshot_interval_s;	    /* 0: save at exit only */
	const struct analyze_conf *analyze; /* NULL: no Lua analyzers; its out is set here */
	const char *analyzers_path;	    /* where their darter.emit() events go */
	const struct outputs_conf *outputs; /* network sinks; NULL: none */
	int replay;	       /* -r or -e: wait for full network sinks instead of dropping */
	const char *eve_input; /* EVE JSON file read once (darter -e); copied */
	int community_id;      /* add community_id to every event */
	uint16_t community_seed;
	/* Live EVE inputs (see above); strings copied. Not with eve_input. */
	const char *in_file;	      /* EVE file followed as tail -F; NULL: none */
	int in_file_from_end;	      /* start at its current end */
	const char *in_unix;	      /* EVE socket darter listens on; NULL: none */
	int in_unix_dgram;	      /* SOCK_DGRAM (Suricata unix_dgram), else stream */
	uid_t in_unix_uid;	      /* owner of the socket file, so a dropped darter */
	gid_t in_unix_gid;	      /* and Suricata can use it; 0 or -1: unchanged */
	const char *in_kafka_brokers; /* Kafka input: bootstrap servers; NULL: none */
	const char *in_kafka_topic;   /* ... its topic (required with brokers) */
	const char *in_kafka_group;   /* ... its consumer group (required with brokers) */
	/* Lua input script: every raw line of the EVE inputs goes through its
	 * on_input(line), and the events it makes (darter.input) are parsed
	 * instead. NULL: lines are parsed as they are. Copied. */
	const char *input_script;
	size_t input_script_mem; /* bytes for its Lua state; 0: the analyzers' default */
	uint32_t input_script_cpu_ms;
};

struct worker_stats {
	uint64_t records;	/* records dequeued */
	uint64_t lines;		/* EVE lines written */
	uint64_t format_errors; /* records that could not be formatted */
	uint64_t dropped;	/* lines lost to sink write errors */
	uint64_t write_errors;
	uint64_t outlier_lines;		/* alert events written to the outlier sink */
	uint64_t outlier_dropped;	/* of those, lost to write errors */
	uint64_t snapshot_saves;	/* MAD snapshots written */
	uint64_t snapshot_errors;	/* MAD snapshots that failed to load or save */
	struct score_stats score;	/* the MAD core */
	uint64_t eve_lines;		/* EVE input: lines read */
	uint64_t eve_flows;		/* of which flow events, scored and written */
	uint64_t eve_others;		/* other event types (counted; analyzers will take them) */
	uint64_t eve_refused;		/* bad lines, counted by reason in eve_in */
	struct analyze_stats analyzers; /* Lua analyzers */
	struct outputs_stats outputs;	/* network sinks, by kind */
	uint64_t eve_too_long;		/* lines over the reader's limit, skipped before parsing */
	uint64_t eve_errors[EVE_IN_ERR__COUNT]; /* eve_refused by reason */
	uint64_t eve_paused;			/* times the inputs paused for room in the sinks */
	struct input_file_stats in_file;	/* the followed (or -e) file */
	struct input_unix_stats in_unix;	/* the EVE socket */
	struct input_kafka_stats in_kafka;	/* the EVE Kafka topic */
	struct worker_script_stats {
		uint64_t lines;	       /* raw lines given to on_input */
		uint64_t events;       /* events it made (darter.input), then parsed */
		uint64_t errors;       /* on_input calls that failed (error, CPU, memory) */
		uint64_t timeouts;     /* ... of them, over the CPU limit */
		uint64_t event_errors; /* darter.input values refused (not JSON text, too big) */
	} in_script;
};

struct worker;

/*
 * Create worker conf->id reading from h: opens its sink, prepares its
 * loop and registers its wake-up with h. h may be NULL when the worker's
 * only inputs are EVE ones. Main thread. NULL with errno set on failure
 * (the EVE input file is opened here: ENOENT and such).
 *
 * The EVE socket (conf->in_unix) is created and listening when this
 * returns, owned by conf->in_unix_uid/gid: call it while still root,
 * before privdrop_drop(); the followed file is opened on the worker's
 * loop, again at each rotation, so it must be readable by the dropped
 * user. EADDRINUSE: a live darter listens there already; EEXIST: the
 * path is not a socket; EINVAL: eve_input with a live input, or a Kafka
 * input without topic or group, or one librdkafka refuses (logged). The
 * Kafka consumer connects in the background (brokers down: retried,
 * counted errors).
 */
struct worker *worker_new(const struct worker_conf *conf, struct handoff *h);

/* Start the worker's thread. 0 or -errno. */
int worker_start(struct worker *w);

/*
 * End the live EVE inputs: they are closed (the socket file removed,
 * lines still buffered counted as dropped) and the worker then finishes
 * as soon as its handoff (if any) is finished too; what is in flight is
 * scored and flushed. Without live inputs it changes nothing. Any
 * thread, any number of times, also after the worker finished;
 * async-signal-safe (an atomic and, the first time, uv_async_send).
 */
void worker_stop(struct worker *w);

/*
 * Wait until the worker finished: every producer done and its rings
 * drained, live inputs stopped (worker_stop), sinks flushed. 0 or -errno.
 */
int worker_join(struct worker *w);

/* Ask the worker to reopen its output files (SIGHUP). Any thread. */
void worker_reopen(struct worker *w);

/* Ask the worker to reload its analyzers (SIGUSR2). Any thread, signal-safe. */
void worker_reload(struct worker *w);

/* Counters; exact after worker_join(). */
void worker_stats_get(const struct worker *w, struct worker_stats *st);

/* Add every counter of st to sum (the totals over workers). */
void worker_stats_add(struct worker_stats *sum, const struct worker_stats *st);

/* Free a joined (or never started) worker. NULL is fine. */
void worker_free(struct worker *w);

#endif
