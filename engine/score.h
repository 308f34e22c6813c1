/*
 * score.h: the MAD core on a worker: every completed flow scored against
 * its population.
 *
 * A scorer holds one streaming estimator (engine/mad.h) per (metric,
 * group) pair: e.g. total bytes over all flows, or bytes to server per
 * destination port. Two state stores:
 *   local  the estimators live in this worker (the default); records of
 *          one group must always reach the same worker (capture routes
 *          them by score_route_key()), so no locks are needed;
 *   redis  the estimator state lives in Redis, shared by workers
 *          and sensors; the records of a loop turn are applied by one
 *          atomic EVALSHA (up to 256 records per call), pipelined
 *          through rconn on the worker's loop. The worker never waits:
 *          the record's result comes back in a callback. If Redis is down
 *          the scorer falls back to its local estimators, counts it, and
 *          keeps going.
 * One scorer per worker; every call on the worker's loop thread.
 *
 * Metrics are transformed as conf->mad says (log1p by default), except
 * pcr, a ratio in [-1, 1] that is always estimated as is (log1p(-1) is
 * -inf). Group keys are built from the record as capture wrote it (src is
 * the client, dst the server), so both directions of a flow share them.
 *
 * Redis layout. One string value per (spec, group), key
 *	<redis_prefix><metric>/<group>:<group_key>   ("darter:mad:bytes/dest_port:tcp/443")
 *	<redis_prefix><metric>/global                 (the global group)
 * holding struct mad's fields m, d, u, v, n, n_d (median and MAD in the
 * transformed domain, trend means, counts) as six little-endian IEEE-754
 * doubles, 48 bytes: exact round trips, and no number formatting on the
 * server's hot path. One EVALSHA updates every spec of a run of
 * consecutive records atomically, in record order, reading and writing
 * each key once (engine/score_redis.c holds the script). Every sensor
 * sharing a prefix must use the same mad options (the value does not
 * record them). The redis store does not support the compat preset.
 *
 * Order of done calls, redis store: records answered by Redis come back
 * in the order they were accepted; a record scored locally at once (window
 * full, Redis down, nothing to score) is answered inside score_record(),
 * ahead of records still queued or in flight. Accepted records are sent
 * when a call's worth (256) is queued, else before the loop next waits
 * for I/O (a uv_prepare_t), so a record is never held back by a quiet
 * input. Each Redis reply also refreshes the
 * worker's local copy of that estimator, so a fallback continues from the
 * latest shared state; fallback updates are not written back to Redis.
 */
#ifndef DARTER_SCORE_H
#define DARTER_SCORE_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "flow_record.h"
#include "mad.h"

#define SCORE_MAX_SPECS 8 /* (metric, group) pairs scored per record */

enum score_metric {
	SCORE_METRIC_BYTES, /* bytes_toserver + bytes_toclient */
	SCORE_METRIC_BYTES_TOSERVER,
	SCORE_METRIC_BYTES_TOCLIENT,
	SCORE_METRIC_PKTS,     /* both directions */
	SCORE_METRIC_DURATION, /* seconds, end - start (microsecond resolution) */
	SCORE_METRIC_PCR,      /* (out - in) / (out + in), out = bytes_toserver */
};

enum score_group {
	SCORE_GROUP_GLOBAL,
	SCORE_GROUP_APP_PROTO, /* nDPI's app_proto ("tls", "failed"); without DPI: the IP protocol
				*/
	SCORE_GROUP_DEST_PORT, /* with the protocol: "tcp/443" */
	SCORE_GROUP_PROTO,
	SCORE_GROUP_SRC_SUBNET, /* prefix length in score_spec.prefix */
	SCORE_GROUP_DEST_SUBNET,
};

/* One (metric, group) pair: "bytes/global", "pcr/dest_subnet:24". */
struct score_spec {
	enum score_metric metric;
	enum score_group group;
	uint8_t prefix4; /* subnet groups: IPv4 prefix length (default 24) */
	uint8_t prefix6; /* IPv6 prefix length (default 64) */
};

enum score_store {
	SCORE_STORE_LOCAL,
	SCORE_STORE_REDIS,
};

struct score_conf {
	struct score_spec specs[SCORE_MAX_SPECS];
	unsigned n_specs;
	struct mad_opts mad; /* estimator options, threshold included */
	enum score_store store;
	uint32_t max_groups;	/* local estimators per worker; beyond: counted, not scored */
	const char *redis_host; /* numeric address */
	uint16_t redis_port;
	uint32_t redis_timeout_ms;
	uint32_t redis_window;	  /* records queued or in flight to Redis at most */
	const char *redis_prefix; /* key prefix, e.g. "darter:mad:" */
};

/* The evidence for one (metric, group) of one record. */
struct score_result {
	enum score_metric metric;
	enum score_group group;
	char group_key[48]; /* "global", "tcp/443", "10.1.2.0/24", ... */
	double value;	    /* the metric, untransformed */
	double median;	    /* in the metric's units (untransformed) */
	double mad;	    /* in the estimator's domain (log1p units by default) */
	uint64_t n;	    /* values seen by this estimator */
	double score;	    /* |x - m| / d in the estimator's domain */
	double zscore;	    /* modified z-score 0.6745 (x - m) / d */
	double threshold;
	uint8_t outlier; /* zscore over threshold (one- or two-sided), after burn-in */
	uint8_t burn_in; /* still in burn-in: score not meaningful */
	uint8_t remote;	 /* computed by the redis store */
};

/* Counters, written by the worker's thread only. */
struct score_stats {
	uint64_t records; /* records scored (or passed through unscored) */
	uint64_t updates; /* estimator updates */
	uint64_t outliers;
	uint64_t skipped;	  /* metric undefined for the record (e.g. pcr of an empty flow) */
	uint64_t groups;	  /* local estimators in use */
	uint64_t groups_full;	  /* updates refused: max_groups reached */
	uint64_t redis_calls;	  /* records sent to Redis */
	uint64_t redis_replies;	  /* records answered by Redis */
	uint64_t redis_fallbacks; /* updates scored locally because Redis failed */
	uint64_t redis_pending;	  /* records accepted, not answered yet (queued or in flight) */
	uint64_t redis_errors;	  /* replies unusable: error reply (script failed) or malformed */
	uint64_t redis_batches;	  /* EVALSHA calls sent (each carries one or more records) */
};

/*
 * Called once per scored record with its results (n may be 0). rec and
 * results are valid only during the call. With the local store the call
 * happens inside score_record(); with redis, later, on the loop.
 */
typedef void (*score_done_fn)(void *arg, const struct flow_record *rec,
			      const struct score_result *results, unsigned n);

struct score;

/*
 * Parse "metric/group[:prefix4[,prefix6]]" into *spec. Metrics: bytes,
 * bytes_toserver, bytes_toclient, pkts, duration, pcr; groups: global,
 * app_proto, dest_port, proto, src_subnet, dest_subnet. Only subnet
 * groups take prefixes (IPv4 0..32, default 24; IPv6 0..128, default
 * 64). 0 or -EINVAL (spec untouched). Any thread.
 */
int score_spec_parse(const char *text, struct score_spec *spec);

/*
 * The canonical text of spec ("bytes/global", "pcr/src_subnet:24,64"),
 * which score_spec_parse() reads back. Returns its length, or -ENOSPC
 * when it does not fit in len bytes (buf then holds a truncated string
 * if len > 0), -EINVAL for an invalid spec. Any thread.
 */
int score_spec_format(const struct score_spec *spec, char *buf, size_t len);

/* "bytes", "dest_port", ...; "?" for a value outside the enum. Static strings. */
const char *score_metric_name(enum score_metric metric);
const char *score_group_name(enum score_group group);

/*
 * Create a scorer on loop (the loop is only used by the redis store and
 * may be NULL for local). conf is copied, strings included; the table of
 * max_groups estimators is allocated here (calloc: pages are touched as
 * groups appear). The redis store starts connecting at once. NULL with
 * errno EINVAL (bad conf: no done, n_specs > SCORE_MAX_SPECS, invalid
 * spec or mad options, max_groups 0 or > 2^24; redis: no loop, host,
 * port or window, window > RCONN_MAX_PENDING, compat preset, prefix over
 * 128 bytes) or ENOMEM. Loop thread.
 */
struct score *score_new(uv_loop_t *loop, const struct score_conf *conf, score_done_fn done,
			void *arg);

/*
 * Score one record: updates every configured estimator and calls done
 * exactly once for it. The record is copied if the answer is deferred.
 * Returns 0, or -EAGAIN when the redis window is full and the record was
 * scored locally instead (counted; done was still called). Specs whose
 * metric is undefined for rec (pcr of a flow without bytes, duration
 * with end < start, a subnet of a record that is neither IPv4 nor IPv6)
 * or whose group would exceed max_groups are left out of the results
 * and counted. done may call score_record() and score_close().
 */
int score_record(struct score *s, const struct flow_record *rec);

/* Records accepted but not yet answered (redis store). */
unsigned score_pending(const struct score *s);

/*
 * Worker key capture uses to route records of the same group to the
 * same worker (local store, first spec's group): a 64-bit hash of the
 * group key, so key % n_workers spreads groups evenly. Same value for
 * both directions of a flow (keys are direction-independent). A global
 * group gives one constant: capture may then route as it likes, each
 * worker learning the whole population from its share. A spec whose
 * metric is undefined for rec still has a key. Any thread.
 */
uint64_t score_route_key(const struct score_spec *spec, const struct flow_record *rec);

/* Copy s's counters into *st. Loop thread. */
void score_stats_get(const struct score *s, struct score_stats *st);

/*
 * Close asynchronously: pending redis calls are answered (scored
 * locally), then close_cb runs and the scorer is freed. NULL is fine.
 * Local store: nothing is pending, so the scorer is freed and close_cb
 * runs before score_close() returns (after the current done call if
 * called from one). Call once; no score_record() after it. Loop thread.
 */
void score_close(struct score *s, void (*close_cb)(void *arg), void *arg);

/*
 * Persistence of the local estimators (the redis store's local copies
 * too). score_save writes every estimator to path atomically: a
 * temporary file beside it, fsync, rename. Format (host byte order): a
 * 32-byte header ("DRTRMAD\0", format version 1, MAD_STATE_VERSION,
 * byte-order mark, spec count, entry count), the canonical spec texts
 * (32 bytes each), then per estimator its spec index, binary group key
 * and struct mad_state, and a 64-bit FNV-1a of everything before it.
 * score_load reads such a file into s: every estimator whose spec text
 * is configured in s and whose state fits its options (same transform)
 * replaces or creates that group's estimator; others are skipped
 * (the table bound counts in groups_full). Returns 0, or -errno: ENOENT
 * (no file), EINVAL (not such a file, other version, corrupt: nothing
 * is loaded), EIO, ENOMEM. Loop thread; blocking file I/O.
 */
int score_save(const struct score *s, const char *path);
int score_load(struct score *s, const char *path);

#endif
