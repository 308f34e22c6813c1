/*
 * flow.c: the per-lcore bidirectional flow table.
 *
 * What: packets from decode (struct decode_pkt) are accounted to flows
 * keyed by (ip_version, proto, vlan[0], vlan[1], unordered pair of
 * (address, port)); a flow that ends (idle timeout, table full, TCP port
 * reuse, shutdown) leaves as one struct flow_record through the emit
 * callback. Field meanings follow Suricata's EVE "flow" event.
 *
 * How: every entry is preallocated in flow_table_new (max_flows entries of
 * 128 bytes, two cache lines: the lookup touches only the first; TCP and
 * ICMP state share bytes, as no flow is both), zeroed pages from mmap,
 * populated at once when conf->prefault (live) or on first use. Entries
 * are addressed by 32-bit index and sit on up to three intrusive lists:
 *  - a bucket chain (doubly linked, hnext/hprev): hash_size buckets, a
 *    power of two, indexed by hash & mask (no division);
 *  - the LRU list (doubly linked, lnext/lprev): the tail is the flow seen
 *    last; the head is evicted when the table is full;
 *  - the free list (singly linked through lnext) once released; entries
 *    never used yet are taken in index order before it runs dry.
 * The key is stored canonically, the lower (address, port) endpoint as
 * side 0, so both directions hash and compare equal; the entry remembers
 * which side is the client. The hash is a multiply-xorshift mix over the
 * key's 64-bit words in two independent lanes (half the latency), with
 * fixed seeds so that flow_id is the same on every run (on one
 * architecture: words are read in native byte order), finished by
 * murmur3's fmix64. One hash per packet.
 *
 * Time is the packets' time. A flow found past its timeout is emitted
 * (TIMEOUT) before the packet that found it starts a new one; a TCP SYN
 * (without ACK) on a CLOSED flow emits it (FORCED, counted as reused) and
 * starts a new one. So a flow's record does not depend on when
 * flow_table_expire() sweeps, only emission order does. Expiry is
 * "now - last_seen > timeout" (strictly greater), the timeout chosen by
 * protocol class (TCP, UDP, ICMP = protocols 1 and 58, DEFAULT) and state
 * (NEW, ESTABLISHED, CLOSED), as Suricata's flow-timeouts. When the table
 * is full, the LRU head is evicted: FORCED and counted as evicted, or
 * TIMEOUT when it is already past its timeout at the new packet's time.
 *
 * Emergency mode, as Suricata's flow engine: when a new flow brings the
 * table to emergency_high % of max_flows, the emergency timeouts (shorter)
 * apply to every flow and flow_table_expire() sweeps FLOW_EMERG_SWEEP
 * times as many buckets, until the table drains below (100 -
 * emergency_recovery) % of max_flows. Entries into the mode are counted;
 * evictions when full go on as above. In emergency mode a record's reason
 * depends on when the sweeps ran (the mode itself does), otherwise not.
 *
 * Interim records: a flow whose last packet is active_timeout (or more)
 * past its start, then past every further multiple of it, emits a record
 * with reason ACTIVE, its counters so far and the same flow_id, and stays;
 * its final record has the totals. They are emitted at the packet that
 * crosses the boundary (one record however many periods were silent),
 * never by the sweep: a flow that sends nothing has nothing new to report,
 * and the records stay independent of sweep timing. Counted as interim,
 * not as emitted (emitted counts flows ended).
 *
 * Application identification: when the table has a classifier (DPI on),
 * each new flow takes an appid state and its packets go to nDPI until
 * appid says DONE; the entry then keeps 6 bytes of ids (in the bytes that
 * held the handle) and every later record carries the names. A flow that
 * ends while classifying gets nDPI's give-up guess. The flow's tunnel
 * (decode_pkt.tunnel of its first packet) goes into its records too.
 *
 * Simplifications: ICMP and ICMPv6 have no ports in the key (all ICMP
 * between two hosts on the same VLANs is one flow; type and code of the
 * first request and first reply go into the record). The TCP state
 * machine (flow_tcp_next) follows flags and direction only, without
 * sequence numbers; it uses Suricata's labels (which name the server's
 * side: a client FIN gives CLOSE_WAIT, a server FIN FIN_WAIT1). A flow
 * whose two endpoints are equal sees every packet as to-server. last_seen
 * never goes backward (an out-of-order packet does not rewind it).
 *
 * Records leave synchronously through emit, which must not call back into
 * the same table (a sweep or flush is walking its lists).
 *
 * Not here: locking (one lcore owns a table), allocation after creation,
 * hash-flooding defence (no per-run seed, see above), TCP sequence
 * tracking, reassembly, application-layer state beyond nDPI's answer.
 */
#include "flow.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "pages.h"

#define flow_likely(x)	 __builtin_expect(!!(x), 1)
#define flow_unlikely(x) __builtin_expect(!!(x), 0)

#define FLOW_NIL	0xffffffffu /* end of a list; no entry */
#define FLOW_CACHE_LINE 64
#define FLOW_HASH_MAX	0x80000000u /* largest bucket count (2^31) */
#define FLOW_ID_MASK	((1ull << 51) - 1)

#define FLOW_DIR_TOSERVER 0
#define FLOW_DIR_TOCLIENT 1

#define FLOW_STATES 3 /* enum flow_record_state values */

#define FLOW_EMERG_SWEEP 8 /* flow_table_expire() budget multiplier in emergency mode */

/* ------------------------------------------------------------ types */

/* Canonical key: side 0 is the lower (address, port) endpoint. */
struct flow_key {
	uint8_t addr[2][16];
	uint16_t port[2];
	uint16_t vlan[2];
	uint8_t proto;
	uint8_t ip_version;
	uint8_t pad[2]; /* zero: the key is hashed and compared as words */
};

_Static_assert(sizeof(struct flow_key) == 44, "flow_key is read as 5 u64 words + 1 u32");
_Static_assert(offsetof(struct flow_key, pad) == 42, "flow_key has no hidden padding");
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "flow_key_make builds its words LE");

/* Per-protocol state, in the first cache line: TCP and ICMP never share a flow. */
union flow_l4 {
	struct {
		uint8_t state;	  /* enum flow_record_tcp_state */
		uint8_t flags[2]; /* by direction: to server, to client */
	} tcp;
	struct {
		uint8_t type; /* first packet's */
		uint8_t code;
		uint8_t resp_type; /* first reply's */
		uint8_t resp_code;
		uint8_t flags; /* FLOW_RECORD_F_ICMP_RESP */
	} icmp;
};

/* The application: the appid handle while classifying, then nDPI's ids. */
union flow_app {
	uint32_t handle; /* app_how == APPID_HOW_NONE: appid handle, 0 = none */
	struct {
		uint16_t proto_id;
		uint16_t master_id;
	} id; /* app_how != APPID_HOW_NONE */
};

/*
 * One flow, two cache lines. The first holds what the lookup reads (key,
 * hash, chain) and the small per-packet state; the second the LRU links,
 * the application, times and counters.
 */
struct flow_entry {
	struct flow_key key;
	uint32_t hash;
	uint32_t hnext; /* bucket chain */
	uint32_t hprev;
	uint8_t client; /* key side (0/1) of the client */
	uint8_t state;	/* enum flow_record_state */
	uint8_t tunnel; /* enum flow_record_tunnel, from the first packet */
	union flow_l4 l4;
	/* second cache line */
	uint32_t lnext; /* LRU list, or the free list */
	uint32_t lprev;
	union flow_app app;
	uint8_t app_category; /* nDPI category id, once app_how != NONE */
	uint8_t app_how;      /* enum appid_how */
	uint16_t interims;    /* interim records so far (saturates) */
	uint64_t start_us;
	uint64_t last_us;
	uint64_t pkts[2]; /* by direction */
	uint64_t bytes[2];
};

_Static_assert(sizeof(union flow_l4) == 5, "flow_l4 packs into the first line");
_Static_assert(sizeof(struct flow_entry) == 2 * FLOW_CACHE_LINE, "flow_entry is 2 cache lines");
_Static_assert(offsetof(struct flow_entry, lnext) == FLOW_CACHE_LINE,
	       "lookup fields fit the first cache line");

struct flow_table {
	/* hot: read on every packet */
	struct flow_entry *entries;
	uint32_t *buckets;
	uint32_t mask;	   /* buckets - 1 */
	uint32_t lru_head; /* least recently seen */
	uint32_t lru_tail;
	uint32_t free_head;		 /* entries released since creation */
	uint32_t fresh;			 /* entries [fresh, max_flows) never used yet */
	uint64_t (*tmo_us)[FLOW_STATES]; /* tmo_set[0] or, in emergency mode, [1] */
	uint64_t active_us;		 /* interim period; 0 = off */
	struct appid *appid;		 /* NULL: DPI off */
	uint8_t proto_class[256];	 /* IP protocol -> enum flow_proto */
	struct flow_table_stats stats;
	/* cold */
	uint64_t tmo_set[2][FLOW_PROTO_MAX][FLOW_STATES]; /* normal, emergency */
	uint32_t emerg_enter; /* active flows that start emergency mode; 0 = never */
	uint32_t emerg_leave; /* fewer active flows than this end it */
	flow_emit_fn emit;
	void *arg;
	uint32_t max_flows;
	uint32_t sweep; /* next bucket flow_table_expire() looks at */
	uint16_t lcore;
};

/* ------------------------------------------------------ key and hash */

static inline uint64_t
flow_key_word(const struct flow_key *k, size_t i)
{
	uint64_t w;

	memcpy(&w, (const unsigned char *)k + 8 * i, sizeof(w));
	return w;
}

static inline uint32_t
flow_key_tail(const struct flow_key *k)
{
	uint32_t w;

	memcpy(&w, (const unsigned char *)k + 40, sizeof(w));
	return w;
}

static inline int
flow_key_eq(const struct flow_key *a, const struct flow_key *b)
{
	/* unrolled by hand: -O2 kept the loop, a third of the compare's instructions */
	uint64_t d = flow_key_tail(a) ^ flow_key_tail(b);

	d |= flow_key_word(a, 0) ^ flow_key_word(b, 0);
	d |= flow_key_word(a, 1) ^ flow_key_word(b, 1);
	d |= flow_key_word(a, 2) ^ flow_key_word(b, 2);
	d |= flow_key_word(a, 3) ^ flow_key_word(b, 3);
	d |= flow_key_word(a, 4) ^ flow_key_word(b, 4);
	return d == 0;
}

static inline uint64_t
flow_hash_step(uint64_t h, uint64_t w)
{
	h = (h ^ w) * 0x9e3779b97f4a7c15ull;
	return h ^ (h >> 32);
}

static inline uint32_t
flow_hash(const struct flow_key *k)
{
	/* two independent lanes: half the multiply latency chain */
	uint64_t a = 0x6a09e667f3bcc909ull, b = 0xbb67ae8584caa73bull;

	a = flow_hash_step(a, flow_key_word(k, 0));
	b = flow_hash_step(b, flow_key_word(k, 1));
	a = flow_hash_step(a, flow_key_word(k, 2));
	b = flow_hash_step(b, flow_key_word(k, 3));
	a = flow_hash_step(a, flow_key_word(k, 4));
	b = flow_hash_step(b, flow_key_tail(k));
	return (uint32_t)flow_fmix64(a ^ (b << 32 | b >> 32));
}

/*
 * Fill k canonically from p; return the key side (0/1) of p's sender.
 * Any total order works: the addresses are compared as native words.
 *
 * The key is built in registers and stored as the whole words that
 * flow_hash() and flow_key_eq() read back. Stored field by field (16-bit
 * ports at a side-dependent index), every read-back missed store
 * forwarding: a quarter of flow_table_packet's samples at low churn.
 */
static inline unsigned
flow_key_make(struct flow_key *k, const struct decode_pkt *p, int portless)
{
	uint64_t s[2], d[2], w[6], m;
	uint64_t sp = portless ? 0 : p->sport, dp = portless ? 0 : p->dport;
	unsigned swap;

	memcpy(s, p->src, sizeof(s));
	memcpy(d, p->dst, sizeof(d));
	swap = (s[0] > d[0]) | ((s[0] == d[0]) & ((s[1] > d[1]) | ((s[1] == d[1]) & (sp > dp))));
	m = 0 - (uint64_t)swap; /* all ones: the sender is side 1 */
	w[0] = s[0] ^ ((s[0] ^ d[0]) & m);
	w[1] = s[1] ^ ((s[1] ^ d[1]) & m);
	w[2] = d[0] ^ ((s[0] ^ d[0]) & m);
	w[3] = d[1] ^ ((s[1] ^ d[1]) & m);
	w[4] = (sp ^ ((sp ^ dp) & m)) | (dp ^ ((sp ^ dp) & m)) << 16 | (uint64_t)p->vlan[0] << 32 |
	       (uint64_t)p->vlan[1] << 48;
	w[5] = (uint64_t)p->proto | (uint64_t)p->ip_version << 8; /* pad: 0 */
	memcpy(k, w, sizeof(*k));
	return swap;
}

/* EVE flow_id: hash and start time mixed, 51 bits, never 0. */
static uint64_t
flow_id(const struct flow_entry *e)
{
	uint64_t id = flow_fmix64(((uint64_t)e->hash << 32) ^ e->start_us) & FLOW_ID_MASK;

	return id != 0 ? id : 1;
}

/* ------------------------------------------------------------- lists */

static inline uint32_t
flow_idx(const struct flow_table *t, const struct flow_entry *e)
{
	return (uint32_t)(e - t->entries);
}

static inline void
flow_bucket_link(struct flow_table *t, struct flow_entry *e)
{
	uint32_t *head = &t->buckets[e->hash & t->mask];

	e->hprev = FLOW_NIL;
	e->hnext = *head;
	if (*head != FLOW_NIL)
		t->entries[*head].hprev = flow_idx(t, e);
	*head = flow_idx(t, e);
}

static inline void
flow_bucket_unlink(struct flow_table *t, struct flow_entry *e)
{
	if (e->hprev != FLOW_NIL)
		t->entries[e->hprev].hnext = e->hnext;
	else
		t->buckets[e->hash & t->mask] = e->hnext;
	if (e->hnext != FLOW_NIL)
		t->entries[e->hnext].hprev = e->hprev;
}

static inline void
flow_lru_append(struct flow_table *t, struct flow_entry *e)
{
	uint32_t i = flow_idx(t, e);

	e->lnext = FLOW_NIL;
	e->lprev = t->lru_tail;
	if (t->lru_tail != FLOW_NIL)
		t->entries[t->lru_tail].lnext = i;
	else
		t->lru_head = i;
	t->lru_tail = i;
}

static inline void
flow_lru_unlink(struct flow_table *t, struct flow_entry *e)
{
	if (e->lprev != FLOW_NIL)
		t->entries[e->lprev].lnext = e->lnext;
	else
		t->lru_head = e->lnext;
	if (e->lnext != FLOW_NIL)
		t->entries[e->lnext].lprev = e->lprev;
	else
		t->lru_tail = e->lprev;
}

/* O(1) move to the LRU tail; a burst of one flow finds it there already. */
static inline void
flow_lru_touch(struct flow_table *t, struct flow_entry *e)
{
	if (flow_idx(t, e) == t->lru_tail)
		return;
	flow_lru_unlink(t, e);
	flow_lru_append(t, e);
}

static inline struct flow_entry *
flow_lookup(const struct flow_table *t, const struct flow_key *k, uint32_t h)
{
	uint32_t i = t->buckets[h & t->mask];

	while (i != FLOW_NIL) {
		struct flow_entry *e = &t->entries[i];

		if (e->hash == h && flow_key_eq(&e->key, k))
			return e;
		i = e->hnext;
	}
	return NULL;
}

/* ------------------------------------------------- records and ending */

static inline int
flow_expired(const struct flow_table *t, const struct flow_entry *e, uint64_t now_us)
{
	uint64_t tmo = t->tmo_us[t->proto_class[e->key.proto]][e->state];

	return now_us > e->last_us && now_us - e->last_us > tmo;
}

static inline int
flow_classifying(const struct flow_entry *e)
{
	return e->app_how == APPID_HOW_NONE && e->app.handle != 0;
}

/* Keep appid's answer in e (the handle in the same union is gone). */
static inline void
flow_app_set(struct flow_entry *e, const struct appid_ids *ids)
{
	e->app.id.proto_id = ids->proto_id;
	e->app.id.master_id = ids->master_id;
	e->app_category = ids->category;
	e->app_how = ids->how;
}

static void
flow_fill_app(const struct flow_table *t, const struct flow_entry *e, struct appid_result *out)
{
	struct appid_ids ids = {
		.proto_id = e->app.id.proto_id,
		.master_id = e->app.id.master_id,
		.category = e->app_category,
		.how = e->app_how,
	};

	appid_result_fill(t->appid, &ids, out);
}

static void
flow_fill_record(const struct flow_table *t, const struct flow_entry *e,
		 enum flow_record_reason reason, struct flow_record *r)
{
	unsigned c = e->client;
	uint8_t cls = t->proto_class[e->key.proto];

	memset(r, 0, sizeof(*r));
	r->flow_id = flow_id(e);
	r->start_us = e->start_us;
	r->end_us = e->last_us;
	r->pkts_toserver = e->pkts[FLOW_DIR_TOSERVER];
	r->pkts_toclient = e->pkts[FLOW_DIR_TOCLIENT];
	r->bytes_toserver = e->bytes[FLOW_DIR_TOSERVER];
	r->bytes_toclient = e->bytes[FLOW_DIR_TOCLIENT];
	memcpy(r->src_ip, e->key.addr[c], sizeof(r->src_ip));
	memcpy(r->dst_ip, e->key.addr[c ^ 1], sizeof(r->dst_ip));
	r->src_port = e->key.port[c];
	r->dst_port = e->key.port[c ^ 1];
	r->vlan[0] = e->key.vlan[0];
	r->vlan[1] = e->key.vlan[1];
	r->lcore = t->lcore;
	r->ip_version = e->key.ip_version;
	r->proto = e->key.proto;
	r->state = e->state;
	r->reason = (uint8_t)reason;
	r->tunnel = e->tunnel;
	if (cls == FLOW_PROTO_TCP) {
		r->tcp_flags_ts = e->l4.tcp.flags[FLOW_DIR_TOSERVER];
		r->tcp_flags_tc = e->l4.tcp.flags[FLOW_DIR_TOCLIENT];
		r->tcp_state = e->l4.tcp.state;
	} else if (cls == FLOW_PROTO_ICMP) {
		r->icmp_type = e->l4.icmp.type;
		r->icmp_code = e->l4.icmp.code;
		r->resp_icmp_type = e->l4.icmp.resp_type;
		r->resp_icmp_code = e->l4.icmp.resp_code;
		r->flags = e->l4.icmp.flags;
	}
	if (e->app_how != APPID_HOW_NONE)
		flow_fill_app(t, e, &r->app);
}

/* Emergency mode: enter at the high-water mark, leave below the low one. */
static inline void
flow_emergency_check(struct flow_table *t)
{
	if (flow_unlikely(t->emerg_enter != 0 && !t->stats.emergency_now &&
			  t->stats.active >= t->emerg_enter)) {
		t->tmo_us = t->tmo_set[1];
		t->stats.emergency_now = 1;
		t->stats.emergency++;
	} else if (flow_unlikely(t->stats.emergency_now && t->stats.active < t->emerg_leave)) {
		t->tmo_us = t->tmo_set[0];
		t->stats.emergency_now = 0;
	}
}

/*
 * Emit e and return its entry to the free list. A flow still being
 * classified gets nDPI's guess first. Counts emitted and, for TIMEOUT and
 * SHUTDOWN, the reason; FORCED callers count evicted/reused.
 */
static void
flow_end(struct flow_table *t, struct flow_entry *e, enum flow_record_reason reason)
{
	struct flow_record rec;

	assert(t->stats.active > 0);
	if (flow_classifying(e)) {
		struct appid_ids ids;

		appid_end(t->appid, e->app.handle, &ids);
		flow_app_set(e, &ids);
	}
	flow_fill_record(t, e, reason, &rec);
	flow_bucket_unlink(t, e);
	flow_lru_unlink(t, e);
	e->lnext = t->free_head;
	t->free_head = flow_idx(t, e);
	t->stats.active--;
	t->stats.emitted++;
	if (reason == FLOW_RECORD_REASON_TIMEOUT)
		t->stats.timeout++;
	else if (reason == FLOW_RECORD_REASON_SHUTDOWN)
		t->stats.shutdown++;
	flow_emergency_check(t);
	t->emit(t->arg, &rec);
}

/*
 * e has been open for another active period: an interim record with the
 * counters so far; e stays. The period count saturates at 2^16 - 1 (227
 * days of 300 s periods): after that a flow gets no more interim records.
 */
static void
flow_interim(struct flow_table *t, struct flow_entry *e)
{
	struct flow_record rec;
	uint64_t n = (e->last_us - e->start_us) / t->active_us;

	if (e->interims == UINT16_MAX)
		return;
	e->interims = n < UINT16_MAX ? (uint16_t)n : UINT16_MAX;
	flow_fill_record(t, e, FLOW_RECORD_REASON_ACTIVE, &rec);
	t->stats.interim++;
	t->emit(t->arg, &rec);
}

/* Table full: the least recently seen flow makes room. */
static void
flow_evict(struct flow_table *t, uint64_t now_us)
{
	struct flow_entry *e = &t->entries[t->lru_head];

	assert(t->lru_head != FLOW_NIL);
	if (flow_expired(t, e, now_us)) {
		flow_end(t, e, FLOW_RECORD_REASON_TIMEOUT);
		return;
	}
	t->stats.evicted++;
	flow_end(t, e, FLOW_RECORD_REASON_FORCED);
}

/* ------------------------------------------------------ TCP and state */

/* A FIN from an established session, in Suricata's (server-side) labels. */
static inline uint8_t
flow_tcp_established(unsigned dir, int fin)
{
	if (!fin)
		return FLOW_RECORD_TCP_ESTABLISHED;
	return dir == FLOW_DIR_TOSERVER ? FLOW_RECORD_TCP_CLOSE_WAIT : FLOW_RECORD_TCP_FIN_WAIT1;
}

/*
 * The TCP state after a packet with flags fl going dir, counters already
 * updated. Flags and direction only, no sequence numbers:
 *   SYN -> SYN_SENT; SYN+ACK to client -> SYN_RECV; then any packet
 *   without SYN (the client's ACK, or data either way) -> ESTABLISHED;
 *   a flow picked up midstream -> ESTABLISHED once both ways carried one.
 *   Close started by the client: FIN -> CLOSE_WAIT, server FIN ->
 *   LAST_ACK, client ACK -> CLOSED. By the server: FIN -> FIN_WAIT1,
 *   client ACK -> FIN_WAIT2, client FIN -> TIME_WAIT (FIN without ACK in
 *   FIN_WAIT1: CLOSING, then an ACK -> TIME_WAIT), any pure ACK -> CLOSED.
 *   RST, any time -> CLOSED.
 * A FIN repeated by the side that sent the first one changes nothing.
 */
static uint8_t
flow_tcp_next(const struct flow_entry *e, unsigned dir, uint8_t fl)
{
	int syn = fl & DECODE_TCP_SYN, ack = fl & DECODE_TCP_ACK, fin = fl & DECODE_TCP_FIN;
	int both = e->pkts[0] != 0 && e->pkts[1] != 0;
	uint8_t st = e->l4.tcp.state;

	if (fl & DECODE_TCP_RST)
		return FLOW_RECORD_TCP_CLOSED;
	switch (st) {
	case FLOW_RECORD_TCP_NONE:
		if (syn)
			return ack ? FLOW_RECORD_TCP_SYN_RECV : FLOW_RECORD_TCP_SYN_SENT;
		return both ? flow_tcp_established(dir, fin) : st;
	case FLOW_RECORD_TCP_SYN_SENT:
		if (syn && ack && dir == FLOW_DIR_TOCLIENT)
			return FLOW_RECORD_TCP_SYN_RECV;
		if (syn || dir == FLOW_DIR_TOSERVER)
			return st;
		return flow_tcp_established(dir, fin); /* SYN+ACK not captured */
	case FLOW_RECORD_TCP_SYN_RECV:
		return syn ? st : flow_tcp_established(dir, fin);
	case FLOW_RECORD_TCP_ESTABLISHED:
		return flow_tcp_established(dir, fin);
	case FLOW_RECORD_TCP_FIN_WAIT1: /* the server closed first */
		if (dir == FLOW_DIR_TOCLIENT)
			return st;
		if (fin)
			return ack ? FLOW_RECORD_TCP_TIME_WAIT : FLOW_RECORD_TCP_CLOSING;
		return ack ? FLOW_RECORD_TCP_FIN_WAIT2 : st;
	case FLOW_RECORD_TCP_FIN_WAIT2:
		return dir == FLOW_DIR_TOSERVER && fin ? FLOW_RECORD_TCP_TIME_WAIT : st;
	case FLOW_RECORD_TCP_CLOSE_WAIT: /* the client closed first */
		return dir == FLOW_DIR_TOCLIENT && fin ? FLOW_RECORD_TCP_LAST_ACK : st;
	case FLOW_RECORD_TCP_CLOSING:
		return ack && !fin ? FLOW_RECORD_TCP_TIME_WAIT : st;
	case FLOW_RECORD_TCP_LAST_ACK:
		return dir == FLOW_DIR_TOSERVER && ack && !fin ? FLOW_RECORD_TCP_CLOSED : st;
	case FLOW_RECORD_TCP_TIME_WAIT:
		return ack && !fin ? FLOW_RECORD_TCP_CLOSED : st;
	default:
		return st;
	}
}

/* Suricata's mapping: these TCP states make the flow CLOSED. */
static inline int
flow_tcp_closed(uint8_t tcp_state)
{
	return tcp_state == FLOW_RECORD_TCP_LAST_ACK || tcp_state == FLOW_RECORD_TCP_TIME_WAIT ||
	       tcp_state == FLOW_RECORD_TCP_CLOSED;
}

static inline void
flow_tcp_update(struct flow_entry *e, unsigned dir, uint8_t fl)
{
	e->l4.tcp.state = flow_tcp_next(e, dir, fl);
	e->l4.tcp.flags[dir] |= fl;
	if (flow_tcp_closed(e->l4.tcp.state))
		e->state = FLOW_RECORD_STATE_CLOSED;
}

static inline void
flow_icmp_update(struct flow_entry *e, unsigned dir, const struct decode_pkt *p)
{
	if (dir == FLOW_DIR_TOCLIENT && !(e->l4.icmp.flags & FLOW_RECORD_F_ICMP_RESP)) {
		e->l4.icmp.resp_type = p->icmp_type;
		e->l4.icmp.resp_code = p->icmp_code;
		e->l4.icmp.flags |= FLOW_RECORD_F_ICMP_RESP;
	}
}

/* ------------------------------------------------------------ packets */

static inline int
flow_is_tcp_syn(const struct decode_pkt *p)
{
	return p->proto == 6 &&
	       (p->tcp_flags & (DECODE_TCP_SYN | DECODE_TCP_ACK)) == DECODE_TCP_SYN;
}

static void
flow_count_new(struct flow_table *t, uint8_t cls)
{
	t->stats.created++;
	t->stats.active++;
	switch (cls) {
	case FLOW_PROTO_TCP:
		t->stats.tcp++;
		break;
	case FLOW_PROTO_UDP:
		t->stats.udp++;
		break;
	case FLOW_PROTO_ICMP:
		t->stats.icmp++;
		break;
	default:
		t->stats.other++;
		break;
	}
}

/*
 * A free entry: a released one, else one never used (its page is touched
 * for the first time when the table was not prefaulted), else the least
 * recent flow, evicted.
 */
static struct flow_entry *
flow_entry_take(struct flow_table *t, uint64_t ts_us)
{
	struct flow_entry *e;

	if (flow_unlikely(t->free_head == FLOW_NIL)) {
		if (t->fresh < t->max_flows)
			return &t->entries[t->fresh++];
		flow_evict(t, ts_us);
	}
	e = &t->entries[t->free_head];
	t->free_head = e->lnext;
	return e;
}

/* A new flow for key k, p its first packet, sent from key side `side`. */
static struct flow_entry *
flow_start(struct flow_table *t, const struct flow_key *k, uint32_t h, unsigned side,
	   const struct decode_pkt *p, uint64_t ts_us)
{
	uint8_t cls = t->proto_class[k->proto];
	struct flow_entry *e;

	e = flow_entry_take(t, ts_us);
	memset(e, 0, sizeof(*e));
	e->key = *k;
	e->hash = h;
	e->client = (uint8_t)side;
	if (cls == FLOW_PROTO_TCP &&
	    (p->tcp_flags & (DECODE_TCP_SYN | DECODE_TCP_ACK)) == (DECODE_TCP_SYN | DECODE_TCP_ACK))
		e->client = (uint8_t)(side ^ 1); /* the SYN+ACK goes to the client */
	if (cls == FLOW_PROTO_ICMP) {
		e->l4.icmp.type = p->icmp_type;
		e->l4.icmp.code = p->icmp_code;
	}
	e->tunnel = p->tunnel;
	e->start_us = ts_us;
	e->last_us = ts_us;
	if (t->appid != NULL)
		e->app.handle = appid_begin(t->appid, k->proto);
	flow_bucket_link(t, e);
	flow_lru_append(t, e);
	flow_count_new(t, cls);
	assert(t->stats.active <= t->max_flows);
	flow_emergency_check(t);
	return e;
}

static inline unsigned
flow_account(struct flow_table *t, struct flow_entry *e, unsigned side, const struct decode_pkt *p,
	     uint32_t frame_len, uint64_t ts_us)
{
	unsigned dir = side != e->client;
	uint8_t cls = t->proto_class[e->key.proto];

	e->pkts[dir]++;
	e->bytes[dir] += frame_len;
	if (ts_us > e->last_us)
		e->last_us = ts_us;
	if (e->state == FLOW_RECORD_STATE_NEW && e->pkts[dir ^ 1] != 0)
		e->state = FLOW_RECORD_STATE_ESTABLISHED;
	if (cls == FLOW_PROTO_TCP)
		flow_tcp_update(e, dir, p->tcp_flags);
	else if (cls == FLOW_PROTO_ICMP)
		flow_icmp_update(e, dir, p);
	return dir;
}

/* One more packet for nDPI while the flow is being classified. */
static void
flow_classify(struct flow_table *t, struct flow_entry *e, unsigned dir, const struct decode_pkt *p,
	      const uint8_t *frame, uint32_t cap_len, uint64_t ts_us)
{
	struct appid_ids ids;

	if (frame == NULL || p->l3_off >= cap_len)
		return;
	if (appid_packet(t->appid, e->app.handle, frame + p->l3_off, cap_len - p->l3_off, ts_us,
			 dir == FLOW_DIR_TOSERVER, &ids) == APPID_DONE)
		flow_app_set(e, &ids);
}

uint32_t
flow_table_prefetch(const struct flow_table *t, const struct decode_pkt *p)
{
	struct flow_key k;
	uint32_t h;

	flow_key_make(&k, p, t->proto_class[p->proto] == FLOW_PROTO_ICMP);
	h = flow_hash(&k);
	__builtin_prefetch(&t->buckets[h & t->mask]);
	return h;
}

void
flow_table_prefetch_entry(const struct flow_table *t, uint32_t hash)
{
	uint32_t i = t->buckets[hash & t->mask];

	if (i != FLOW_NIL)
		__builtin_prefetch(&t->entries[i]);
}

static inline __attribute__((always_inline)) void
flow_table_packet_at(struct flow_table *t, const struct decode_pkt *p, const struct flow_key *k,
		     unsigned side, uint32_t h, const uint8_t *frame, uint32_t cap_len,
		     uint32_t frame_len, uint64_t ts_us)
{
	struct flow_entry *e = flow_lookup(t, k, h);
	unsigned dir;

	if (flow_likely(e != NULL)) {
		if (flow_unlikely(flow_expired(t, e, ts_us))) {
			flow_end(t, e, FLOW_RECORD_REASON_TIMEOUT);
			e = NULL;
		} else if (flow_unlikely(e->state == FLOW_RECORD_STATE_CLOSED &&
					 flow_is_tcp_syn(p))) {
			t->stats.reused++;
			flow_end(t, e, FLOW_RECORD_REASON_FORCED);
			e = NULL;
		} else {
			flow_lru_touch(t, e);
		}
	}
	if (e == NULL)
		e = flow_start(t, k, h, side, p, ts_us);
	dir = flow_account(t, e, side, p, frame_len, ts_us);
	if (flow_classifying(e))
		flow_classify(t, e, dir, p, frame, cap_len, ts_us);
	if (t->active_us != 0 &&
	    flow_unlikely(e->last_us - e->start_us >= (e->interims + 1ull) * t->active_us))
		flow_interim(t, e);
}

void
flow_table_packet(struct flow_table *t, const struct decode_pkt *p, const uint8_t *frame,
		  uint32_t cap_len, uint32_t frame_len, uint64_t ts_us)
{
	struct flow_key k;
	unsigned side = flow_key_make(&k, p, t->proto_class[p->proto] == FLOW_PROTO_ICMP);

	flow_table_packet_at(t, p, &k, side, flow_hash(&k), frame, cap_len, frame_len, ts_us);
}

void
flow_table_packet_hashed(struct flow_table *t, const struct decode_pkt *p, uint32_t hash,
			 const uint8_t *frame, uint32_t cap_len, uint32_t frame_len, uint64_t ts_us)
{
	struct flow_key k;
	unsigned side = flow_key_make(&k, p, t->proto_class[p->proto] == FLOW_PROTO_ICMP);

	flow_table_packet_at(t, p, &k, side, hash, frame, cap_len, frame_len, ts_us);
}

/* ------------------------------------------------------ sweep, flush */

unsigned
flow_table_expire(struct flow_table *t, uint64_t now_us, unsigned max_buckets)
{
	/* cursor and array in locals: flow_end() stores through t, which kept them in memory */
	const uint32_t *buckets = t->buckets;
	uint32_t n = t->mask + 1, mask = t->mask, sweep = t->sweep;
	unsigned emitted = 0;

	if (t->stats.emergency_now) /* as Suricata's flow manager: sweep harder */
		max_buckets = max_buckets > UINT32_MAX / FLOW_EMERG_SWEEP
				      ? UINT32_MAX
				      : max_buckets * FLOW_EMERG_SWEEP;
	if (max_buckets < n)
		n = max_buckets;
	for (uint32_t b = 0; b < n; b++) {
		uint32_t i = buckets[sweep];

		sweep = (sweep + 1) & mask;
		while (i != FLOW_NIL) {
			struct flow_entry *e = &t->entries[i];

			i = e->hnext;
			if (flow_expired(t, e, now_us)) {
				flow_end(t, e, FLOW_RECORD_REASON_TIMEOUT);
				emitted++;
			}
		}
	}
	t->sweep = sweep;
	return emitted;
}

void
flow_table_flush(struct flow_table *t, enum flow_record_reason reason)
{
	while (t->lru_head != FLOW_NIL)
		flow_end(t, &t->entries[t->lru_head], reason);
	assert(t->stats.active == 0);
}

const struct flow_table_stats *
flow_table_stats(const struct flow_table *t)
{
	return &t->stats;
}

const struct appid_stats *
flow_table_appid_stats(const struct flow_table *t)
{
	return t->appid != NULL ? appid_stats(t->appid) : NULL;
}

unsigned
flow_entry_size(void)
{
	return (unsigned)sizeof(struct flow_entry);
}

/* ---------------------------------------------------------- lifetime */

void
flow_conf_defaults(struct flow_conf *conf)
{
	static const struct flow_timeouts tmo[FLOW_PROTO_MAX] = {
		[FLOW_PROTO_DEFAULT] = {.new_s = 30, .established_s = 300, .closed_s = 0},
		[FLOW_PROTO_TCP] = {.new_s = 60, .established_s = 600, .closed_s = 60},
		[FLOW_PROTO_UDP] = {.new_s = 30, .established_s = 300, .closed_s = 0},
		[FLOW_PROTO_ICMP] = {.new_s = 30, .established_s = 300, .closed_s = 0},
	};
	/* suricata.yaml's emergency-new/-established/-closed */
	static const struct flow_timeouts emerg[FLOW_PROTO_MAX] = {
		[FLOW_PROTO_DEFAULT] = {.new_s = 10, .established_s = 100, .closed_s = 0},
		[FLOW_PROTO_TCP] = {.new_s = 5, .established_s = 100, .closed_s = 10},
		[FLOW_PROTO_UDP] = {.new_s = 10, .established_s = 100, .closed_s = 0},
		[FLOW_PROTO_ICMP] = {.new_s = 10, .established_s = 100, .closed_s = 0},
	};

	memset(conf, 0, sizeof(*conf));
	conf->max_flows = 65536;
	conf->hash_size = 65536;
	memcpy(conf->timeouts, tmo, sizeof(tmo));
	memcpy(conf->emergency, emerg, sizeof(emerg));
	conf->active_timeout_s = 300;
	conf->emergency_high = 95;
	conf->emergency_recovery = 30; /* Suricata's flow.emergency-recovery */
	conf->dpi = 1;
	conf->prefault = 1;
	appid_conf_defaults(&conf->appid);
	conf->appid.max_states = 0; /* one per flow: a scan cannot starve the pool */
	conf->lcore = 0;
}

static size_t
flow_round_up(size_t n, size_t align)
{
	return (n + align - 1) / align * align;
}

static uint32_t
flow_pow2(uint32_t n)
{
	uint32_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

static void
flow_timeouts_apply(uint64_t tmo_us[FLOW_PROTO_MAX][FLOW_STATES],
		    const struct flow_timeouts tmo[FLOW_PROTO_MAX])
{
	for (int c = 0; c < FLOW_PROTO_MAX; c++) {
		tmo_us[c][FLOW_RECORD_STATE_NEW] = tmo[c].new_s * 1000000ull;
		tmo_us[c][FLOW_RECORD_STATE_ESTABLISHED] = tmo[c].established_s * 1000000ull;
		tmo_us[c][FLOW_RECORD_STATE_CLOSED] = tmo[c].closed_s * 1000000ull;
	}
}

/*
 * Emergency marks in flows: enter at ceil(high% of max_flows), at least 1;
 * leave below (100 - recovery)% of max_flows, at most the entry mark (so a
 * table that enters can always leave by draining).
 */
static void
flow_emergency_apply(struct flow_table *t, const struct flow_conf *conf)
{
	uint64_t enter = ((uint64_t)conf->max_flows * conf->emergency_high + 99) / 100;
	uint64_t leave = (uint64_t)conf->max_flows * (100u - conf->emergency_recovery) / 100;

	t->emerg_enter = conf->emergency_high == 0 ? 0 : (uint32_t)(enter > 0 ? enter : 1);
	t->emerg_leave = (uint32_t)(leave < t->emerg_enter ? leave : t->emerg_enter);
}

static void
flow_conf_apply(struct flow_table *t, const struct flow_conf *conf)
{
	flow_timeouts_apply(t->tmo_set[0], conf->timeouts);
	flow_timeouts_apply(t->tmo_set[1], conf->emergency);
	t->tmo_us = t->tmo_set[0];
	t->active_us = conf->active_timeout_s * 1000000ull;
	flow_emergency_apply(t, conf);
	memset(t->proto_class, FLOW_PROTO_DEFAULT, sizeof(t->proto_class));
	t->proto_class[6] = FLOW_PROTO_TCP;
	t->proto_class[17] = FLOW_PROTO_UDP;
	t->proto_class[1] = FLOW_PROTO_ICMP;
	t->proto_class[58] = FLOW_PROTO_ICMP;
	t->max_flows = conf->max_flows;
	t->lcore = conf->lcore;
}

/* Every entry unused (taken in index order), every bucket empty. */
static void
flow_table_reset(struct flow_table *t)
{
	t->free_head = FLOW_NIL;
	t->fresh = 0;
	for (uint32_t b = 0; b <= t->mask; b++)
		t->buckets[b] = FLOW_NIL;
	t->lru_head = FLOW_NIL;
	t->lru_tail = FLOW_NIL;
	t->sweep = 0;
}

struct flow_table *
flow_table_new(const struct flow_conf *conf, flow_emit_fn emit, void *arg)
{
	struct flow_table *t;
	size_t tsize = flow_round_up(sizeof(*t), FLOW_CACHE_LINE), esize, bsize;
	uint32_t nb;
	int err = ENOMEM;

	if (conf == NULL || emit == NULL || conf->max_flows == 0 || conf->max_flows == FLOW_NIL ||
	    conf->hash_size == 0 || conf->hash_size > FLOW_HASH_MAX || conf->emergency_high > 100 ||
	    conf->emergency_recovery > 99) {
		errno = EINVAL;
		return NULL;
	}
	nb = flow_pow2(conf->hash_size);
	esize = (size_t)conf->max_flows * sizeof(struct flow_entry);
	if (esize / sizeof(struct flow_entry) != conf->max_flows) /* 32-bit size_t */
		goto err;
	bsize = flow_round_up((size_t)nb * sizeof(uint32_t), FLOW_CACHE_LINE);
	t = aligned_alloc(FLOW_CACHE_LINE, tsize);
	if (t == NULL)
		goto err;
	memset(t, 0, tsize);
	t->entries = pages_alloc(esize, conf->prefault);
	if (t->entries == NULL)
		goto err_table;
	t->buckets = aligned_alloc(FLOW_CACHE_LINE, bsize);
	if (t->buckets == NULL)
		goto err_entries;
	t->mask = nb - 1;
	t->emit = emit;
	t->arg = arg;
	flow_conf_apply(t, conf);
	flow_table_reset(t);
	t->stats.memuse = tsize + esize + bsize;
	if (conf->dpi) {
		struct appid_conf ac = conf->appid;

		/* a flow holds at most one state: more than max_flows is waste */
		if (ac.max_states == 0 || ac.max_states > conf->max_flows)
			ac.max_states = conf->max_flows;
		ac.prefault = conf->prefault;
		t->appid = appid_new(&ac);
		if (t->appid == NULL) {
			err = errno;
			goto err_buckets;
		}
	}
	return t;

err_buckets:
	free(t->buckets);
err_entries:
	pages_free(t->entries, esize);
err_table:
	free(t);
err:
	errno = err;
	return NULL;
}

void
flow_table_free(struct flow_table *t)
{
	if (t == NULL)
		return;
	appid_free(t->appid);
	free(t->buckets);
	pages_free(t->entries, (size_t)t->max_flows * sizeof(struct flow_entry));
	free(t);
}
