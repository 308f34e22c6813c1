/*
 * score_int.h: what score.c (table, metrics, local store, persistence)
 * and score_redis.c (the redis store) share. Not for other modules.
 */
#ifndef DARTER_SCORE_INT_H
#define DARTER_SCORE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "score.h"

#define score_unlikely(x) __builtin_expect(!!(x), 0)
#define score_likely(x)	  __builtin_expect(!!(x), 1)

#define SCORE_TAG	   "score"
#define SCORE_MAX_GROUPS   (1u << 24) /* largest max_groups accepted */
#define SCORE_PREFIX_MAX   128	      /* longest redis_prefix accepted */
#define SCORE_KEY_NAME_MAX 48	      /* = sizeof(struct score_result.group_key) */

/*
 * A group key in binary, compared and hashed as three words. Only the
 * fields the group uses are set, the rest stay 0, so equal groups give
 * equal bytes. spec is the spec's index in the configuration.
 */
struct score_gkey {
	uint8_t spec;
	uint8_t proto;
	uint8_t family; /* subnet groups: 4 or 6 */
	uint8_t plen;	/* subnet groups: prefix length used */
	uint16_t port;
	uint8_t pad[2];
	uint8_t addr[16]; /* subnet groups: masked address */
};

_Static_assert(sizeof(struct score_gkey) == 24, "struct score_gkey is hashed as three words");

/* One (spec, group) estimator; entries never move once created. */
struct score_entry {
	struct score_gkey key;
	uint32_t name_len;
	uint32_t call_tag; /* score_redis.c: the call being built that holds this key, 0 none */
	uint32_t call_key; /* score_redis.c: its index among that call's KEYS */
	struct mad est;
	char name[SCORE_KEY_NAME_MAX]; /* printable group key, NUL-terminated */
};

struct score_redis;

struct score {
	struct score_conf conf; /* strings point into host/prefix below */
	uv_loop_t *loop;
	score_done_fn done;
	void *arg;
	struct score_stats st;
	struct mad proto[SCORE_MAX_SPECS]; /* a fresh estimator per spec: copied into new groups */
	uint32_t global[SCORE_MAX_SPECS];  /* global groups: entry index + 1, 0 not yet made */

	struct score_entry *entries; /* max_groups, dense, in creation order */
	uint32_t n_entries;
	uint32_t *index; /* open addressing: entry index + 1, 0 empty */
	uint32_t index_mask;
	unsigned index_shift; /* slot = hash >> index_shift (top bits) */

	struct score_redis *redis; /* NULL: local store */
	unsigned depth;		   /* done calls running (local close waits for them) */
	bool closing;
	void (*close_cb)(void *arg);
	void *close_arg;
	char host[64];
	char prefix[SCORE_PREFIX_MAX + 1];
};

/* The metric of spec i for rec, untransformed; false when undefined. */
bool score_value(const struct score *s, unsigned i, const struct flow_record *rec, double *x);

/*
 * The entry of spec i's group for rec, made if new. NULL when the group
 * key is undefined (counted in skipped) or the table is full (counted in
 * groups_full).
 */
struct score_entry *score_entry_get(struct score *s, unsigned i, const struct flow_record *rec);

/* Fill *r for spec i from an update of e that reported *mr. */
void score_result_fill(const struct score *s, unsigned i, const struct score_entry *e, double x,
		       const struct mad_result *mr, struct score_result *r);

/* Update e locally with x and fill *r; false if the estimator refused x (counted). */
bool score_update_local(struct score *s, unsigned i, struct score_entry *e, double x,
			struct score_result *r);

/* Call the user's done; a close requested meanwhile waits for it. */
void score_done_call(struct score *s, const struct flow_record *rec,
		     const struct score_result *results, unsigned n);

/* Free s and run its close callback (the redis side is gone). */
void score_free(struct score *s);

/* The redis store, score_redis.c. */
int score_redis_new(struct score *s);
int score_redis_record(struct score *s, const struct flow_record *rec);
void score_redis_close(struct score *s); /* score_free() runs once rconn is gone */

#endif
