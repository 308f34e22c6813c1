/*
 * frag.c: fragment attribution table (see frag.h for what and why).
 *
 * How: a fixed array of entries, chained from a power-of-two bucket array
 * by a hash of the datagram key (index links, no pointers). Entries are
 * handed out in ring order: a new datagram takes the slot after the last
 * one taken, which is the oldest created; as every entry has the same
 * lifetime, that slot is free, expired or (table full) the best one to
 * evict. A datagram completes when its first and last fragments and as
 * many bytes as the last fragment's end were seen; its entry is freed then.
 *
 * Not done: reassembly, overlap resolution, per-source limits (a flood
 * from one host evicts others' entries: counted), IPv6 atomic fragments
 * (the decoder flows them as whole packets).
 */
#include "frag.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define FRAG_NIL       UINT32_MAX
#define FRAG_PROTO_TCP 6
#define FRAG_PROTO_UDP 17

/* Entry states. */
enum {
	FRAG_FREE,
	FRAG_PENDING, /* non-first fragments seen, no ports yet */
	FRAG_PORTS,   /* first fragment seen: ports known */
};

struct frag_key {
	uint8_t src[16];
	uint8_t dst[16];
	uint32_t id;
	uint16_t vlan[2];
	uint8_t proto;
	uint8_t ip_version;
	uint8_t tunnel;
	uint8_t pad;
};

struct frag_entry {
	struct frag_key key;
	uint32_t hnext; /* bucket chain */
	uint32_t hash;
	uint64_t created_us;
	uint32_t bytes_seen; /* fragment data bytes */
	uint32_t total;	     /* end of the last fragment; 0 until it came */
	uint16_t sport;
	uint16_t dport;
	uint8_t state;
	uint8_t seen_last;
	uint8_t n_held;
	struct frag_held held[FRAG_HELD_MAX];
};

struct frag_table {
	struct frag_conf conf;
	uint32_t n;	/* entries */
	uint32_t mask;	/* buckets - 1 */
	uint32_t next;	/* ring cursor: the slot the next datagram takes */
	uint32_t sweep; /* frag_expire()'s cursor */
	uint32_t taken; /* entry whose held fragments frag_take_held() releases, or NIL */
	struct frag_stats stats;
	uint32_t *buckets;
	struct frag_entry *entries;
};

/* ------------------------------------------------------------ helpers */

static inline uint64_t
frag_mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 33);
}

static uint32_t
frag_hash(const struct frag_key *k)
{
	uint64_t w[5], h = 0;

	memcpy(w, k, sizeof(w)); /* src, dst, id + vlans */
	for (int i = 0; i < 5; i++)
		h = frag_mix(h ^ w[i]);
	return (uint32_t)frag_mix(
		h ^ ((uint64_t)k->proto << 16 | (uint64_t)k->ip_version << 8 | k->tunnel));
}

static void
frag_key_make(struct frag_key *k, const struct decode_pkt *p)
{
	memcpy(k->src, p->src, sizeof(k->src));
	memcpy(k->dst, p->dst, sizeof(k->dst));
	k->id = p->frag_id;
	k->vlan[0] = p->vlan[0];
	k->vlan[1] = p->vlan[1];
	k->proto = p->proto;
	k->ip_version = p->ip_version;
	k->tunnel = p->tunnel;
	k->pad = 0;
}

static inline int
frag_expired(const struct frag_table *t, const struct frag_entry *e, uint64_t now_us)
{
	return now_us > e->created_us && now_us - e->created_us > t->conf.timeout_us;
}

/* ------------------------------------------------------------ entries */

static void
frag_unlink(struct frag_table *t, struct frag_entry *e)
{
	uint32_t idx = (uint32_t)(e - t->entries);
	uint32_t *link = &t->buckets[e->hash & t->mask];

	while (*link != idx)
		link = &t->entries[*link].hnext;
	*link = e->hnext;
}

/* Forget e; its held fragments, never attributed, are counted. */
static void
frag_release(struct frag_table *t, struct frag_entry *e)
{
	frag_unlink(t, e);
	t->stats.unattributed += e->n_held;
	e->n_held = 0;
	e->state = FRAG_FREE;
	t->stats.active--;
	if (t->taken == (uint32_t)(e - t->entries))
		t->taken = FRAG_NIL;
}

static struct frag_entry *
frag_lookup(struct frag_table *t, const struct frag_key *k, uint32_t h, uint64_t now_us)
{
	for (uint32_t i = t->buckets[h & t->mask]; i != FRAG_NIL; i = t->entries[i].hnext) {
		struct frag_entry *e = &t->entries[i];

		if (e->hash != h || memcmp(&e->key, k, sizeof(*k)) != 0)
			continue;
		if (frag_expired(t, e, now_us)) {
			t->stats.expired++;
			frag_release(t, e);
			return NULL;
		}
		return e;
	}
	return NULL;
}

/* The ring's next slot, reclaimed if needed, linked under k. */
static struct frag_entry *
frag_insert(struct frag_table *t, const struct frag_key *k, uint32_t h, uint64_t now_us)
{
	struct frag_entry *e = &t->entries[t->next];

	t->next = t->next + 1 == t->n ? 0 : t->next + 1;
	if (e->state != FRAG_FREE) {
		if (frag_expired(t, e, now_us))
			t->stats.expired++;
		else
			t->stats.evicted++;
		frag_release(t, e);
	}
	memset(e, 0, sizeof(*e));
	e->key = *k;
	e->hash = h;
	e->created_us = now_us;
	e->state = FRAG_PENDING;
	e->hnext = t->buckets[h & t->mask];
	t->buckets[h & t->mask] = (uint32_t)(e - t->entries);
	t->stats.active++;
	return e;
}

/* Account p's bytes; free e when its datagram is whole. */
static void
frag_progress(struct frag_table *t, struct frag_entry *e, const struct decode_pkt *p)
{
	e->bytes_seen += p->payload_len;
	if (!p->frag_more) {
		if (e->seen_last)
			t->stats.duplicates++;
		e->seen_last = 1;
		e->total = p->frag_off + p->payload_len;
	}
	if (e->state == FRAG_PORTS && e->seen_last && e->n_held == 0 && e->bytes_seen >= e->total) {
		t->stats.completed++;
		frag_release(t, e);
	}
}

/* ------------------------------------------------------------- public */

struct frag_table *
frag_new(const struct frag_conf *conf)
{
	struct frag_table *t;
	uint32_t nb = 1;

	if (conf == NULL || conf->max_datagrams == 0 || conf->max_datagrams > (1u << 30) ||
	    conf->timeout_us == 0) {
		errno = EINVAL;
		return NULL;
	}
	while (nb < conf->max_datagrams)
		nb <<= 1;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		goto fail;
	t->buckets = malloc(sizeof(*t->buckets) * nb);
	if (t->buckets == NULL)
		goto fail_table;
	t->entries = calloc(conf->max_datagrams, sizeof(*t->entries));
	if (t->entries == NULL)
		goto fail_buckets;
	memset(t->buckets, 0xff, sizeof(*t->buckets) * nb); /* FRAG_NIL */
	t->conf = *conf;
	t->n = conf->max_datagrams;
	t->mask = nb - 1;
	t->taken = FRAG_NIL;
	return t;

fail_buckets:
	free(t->buckets);
fail_table:
	free(t);
fail:
	errno = ENOMEM;
	return NULL;
}

void
frag_free(struct frag_table *t)
{
	if (t == NULL)
		return;
	free(t->entries);
	free(t->buckets);
	free(t);
}

/* A first fragment: remember its ports, flow it. */
static enum frag_verdict
frag_first(struct frag_table *t, struct frag_entry *e, struct decode_pkt *p)
{
	if (e->state == FRAG_PORTS)
		t->stats.duplicates++;
	e->sport = p->sport;
	e->dport = p->dport;
	e->state = FRAG_PORTS;
	t->stats.first++;
	if (e->n_held != 0)
		t->taken = (uint32_t)(e - t->entries);
	frag_progress(t, e, p);
	return FRAG_FLOW;
}

/* A non-first fragment whose ports are known: it becomes their flow's. */
static void
frag_attribute(const struct frag_entry *e, struct decode_pkt *p)
{
	p->sport = e->sport;
	p->dport = e->dport;
	p->tcp_flags = 0;
	p->icmp_type = 0;
	p->icmp_code = 0;
	p->payload_len = 0;
}

enum frag_verdict
frag_packet(struct frag_table *t, struct decode_pkt *p, uint32_t frame_len, uint64_t ts_us)
{
	struct frag_key k;
	struct frag_entry *e;
	uint32_t h;

	t->stats.fragments++;
	t->taken = FRAG_NIL;
	if (p->proto != FRAG_PROTO_TCP && p->proto != FRAG_PROTO_UDP) {
		t->stats.portless++;
		return FRAG_FLOW;
	}
	if (p->frag_off == 0 && !p->frag_ports) {
		t->stats.no_ports++;
		return FRAG_DROP;
	}
	frag_key_make(&k, p);
	h = frag_hash(&k);
	e = frag_lookup(t, &k, h, ts_us);
	if (e == NULL)
		e = frag_insert(t, &k, h, ts_us);
	if (p->frag_off == 0)
		return frag_first(t, e, p);
	if (e->state == FRAG_PORTS) {
		t->stats.attributed++;
		frag_progress(t, e, p);
		frag_attribute(e, p);
		return FRAG_FLOW;
	}
	if (e->n_held == FRAG_HELD_MAX) {
		t->stats.unattributed++;
		return FRAG_DROP;
	}
	e->held[e->n_held].frame_len = frame_len;
	e->held[e->n_held].ts_us = ts_us;
	e->n_held++;
	t->stats.held++;
	frag_progress(t, e, p);
	return FRAG_HELD;
}

unsigned
frag_take_held(struct frag_table *t, struct decode_pkt *p, struct frag_held out[FRAG_HELD_MAX])
{
	struct frag_entry *e;
	unsigned n;

	if (t->taken == FRAG_NIL)
		return 0;
	e = &t->entries[t->taken];
	t->taken = FRAG_NIL;
	n = e->n_held;
	memcpy(out, e->held, sizeof(e->held[0]) * n);
	e->n_held = 0;
	t->stats.attributed += n;
	frag_attribute(e, p);
	if (e->seen_last && e->bytes_seen >= e->total) {
		t->stats.completed++;
		frag_release(t, e);
	}
	return n;
}

unsigned
frag_expire(struct frag_table *t, uint64_t now_us, unsigned max)
{
	unsigned done = 0;

	if (t->stats.active == 0) /* the common case: nothing held, nothing to walk */
		return 0;
	for (unsigned seen = 0; seen < max && seen < t->n; seen++) {
		struct frag_entry *e = &t->entries[t->sweep];

		t->sweep = t->sweep + 1 == t->n ? 0 : t->sweep + 1;
		if (e->state != FRAG_FREE && frag_expired(t, e, now_us)) {
			t->stats.expired++;
			frag_release(t, e);
			done++;
		}
	}
	return done;
}

const struct frag_stats *
frag_stats(const struct frag_table *t)
{
	return &t->stats;
}
