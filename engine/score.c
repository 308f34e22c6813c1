/*
 * score.c: the MAD core on a worker: specs, metrics, group keys, the
 * table of estimators, the local store and its persistence.
 *
 * What: each completed flow record is measured (bytes, packets, duration,
 * producer-consumer ratio...) and every configured (metric, group) pair
 * updates one engine/mad.c estimator, the one of the record's group
 * (global, protocol, destination port, client or server subnet). The
 * results, the evidence, go to the worker's done callback.
 *
 * How: a group key is built in binary (struct score_gkey: spec index,
 * protocol, port, masked address; unused bytes zero), hashed as three
 * words, and looked up in an open-addressing table (linear probing,
 * power of two, at most half full) that maps it to a dense array of
 * entries. Both arrays are sized from max_groups and allocated once; a
 * record costs no allocation. An entry keeps the estimator and the
 * printable key ("tcp/443", "10.1.2.0/24"), formatted once when the
 * group appears: the hot path copies it, it never formats. Global groups
 * skip the hash (one cached entry per spec). The slot is taken from the
 * hash's top bits, the routing key (score_route_key) is the same hash
 * that capture reduces modulo the worker count, i.e. its low bits: a
 * worker's groups still spread over the whole table.
 *
 * pcr lives in [-1, 1]: it is estimated untransformed whatever the
 * transform option says (log1p(-1) = -inf would refuse every flow that
 * only received).
 *
 * Persistence: a small versioned binary file (score.h), exact doubles,
 * the binary group keys as they are, checked by length and FNV-1a,
 * written to a temporary file and renamed over the old one. Specs are
 * matched by their canonical text, so a file survives reordering the
 * configuration; estimators of specs no longer configured are dropped.
 *
 * Not here: the redis store (score_redis.c), time decay or expiry of
 * groups (a table that is full stays full until restart), EVE output.
 */
#define _GNU_SOURCE
#include "score.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "rconn.h"
#include "score_int.h"

/* ------------------------------------------------------------------ */
/* Names, spec text                                                   */
/* ------------------------------------------------------------------ */

static const char *const metric_names[] = {
	[SCORE_METRIC_BYTES] = "bytes",
	[SCORE_METRIC_BYTES_TOSERVER] = "bytes_toserver",
	[SCORE_METRIC_BYTES_TOCLIENT] = "bytes_toclient",
	[SCORE_METRIC_PKTS] = "pkts",
	[SCORE_METRIC_DURATION] = "duration",
	[SCORE_METRIC_PCR] = "pcr",
};

static const char *const group_names[] = {
	[SCORE_GROUP_GLOBAL] = "global",	 [SCORE_GROUP_APP_PROTO] = "app_proto",
	[SCORE_GROUP_DEST_PORT] = "dest_port",	 [SCORE_GROUP_PROTO] = "proto",
	[SCORE_GROUP_SRC_SUBNET] = "src_subnet", [SCORE_GROUP_DEST_SUBNET] = "dest_subnet",
};

#define N_METRICS (sizeof(metric_names) / sizeof(metric_names[0]))
#define N_GROUPS  (sizeof(group_names) / sizeof(group_names[0]))

const char *
score_metric_name(enum score_metric metric)
{
	return (unsigned)metric < N_METRICS ? metric_names[metric] : "?";
}

const char *
score_group_name(enum score_group group)
{
	return (unsigned)group < N_GROUPS ? group_names[group] : "?";
}

static bool
group_is_subnet(enum score_group g)
{
	return g == SCORE_GROUP_SRC_SUBNET || g == SCORE_GROUP_DEST_SUBNET;
}

static bool
spec_valid(const struct score_spec *sp)
{
	return (unsigned)sp->metric < N_METRICS && (unsigned)sp->group < N_GROUPS &&
	       sp->prefix4 <= 32 && sp->prefix6 <= 128;
}

/* Index of the name equal to text[0..len) in names[0..n), or -1. */
static int
name_find(const char *const *names, size_t n, const char *text, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(names[i]) == len && memcmp(names[i], text, len) == 0)
			return (int)i;
	return -1;
}

/* 1 to 3 decimal digits, at most max; *end is the first byte after them. */
static int
parse_prefix(const char *p, unsigned max, const char **end)
{
	unsigned v = 0;
	int digits = 0;

	while (*p >= '0' && *p <= '9' && digits < 4) {
		v = v * 10 + (unsigned)(*p++ - '0');
		digits++;
	}
	*end = p;
	if (digits == 0 || digits > 3 || v > max)
		return -1;
	return (int)v;
}

int
score_spec_parse(const char *text, struct score_spec *spec)
{
	struct score_spec sp = {.prefix4 = 24, .prefix6 = 64};
	const char *slash, *colon, *end;
	int m, g, p4, p6 = 64;

	if (text == NULL || spec == NULL || (slash = strchr(text, '/')) == NULL)
		return -EINVAL;
	m = name_find(metric_names, N_METRICS, text, (size_t)(slash - text));
	colon = strchr(slash + 1, ':');
	end = colon != NULL ? colon : slash + strlen(slash);
	g = name_find(group_names, N_GROUPS, slash + 1, (size_t)(end - slash - 1));
	if (m < 0 || g < 0)
		return -EINVAL;
	sp.metric = (enum score_metric)m;
	sp.group = (enum score_group)g;
	if (colon != NULL) {
		if (!group_is_subnet(sp.group))
			return -EINVAL;
		p4 = parse_prefix(colon + 1, 32, &end);
		if (p4 >= 0 && *end == ',')
			p6 = parse_prefix(end + 1, 128, &end);
		if (p4 < 0 || p6 < 0 || *end != '\0')
			return -EINVAL;
		sp.prefix4 = (uint8_t)p4;
		sp.prefix6 = (uint8_t)p6;
	}
	*spec = sp;
	return 0;
}

int
score_spec_format(const struct score_spec *spec, char *buf, size_t len)
{
	int n;

	if (spec == NULL || !spec_valid(spec))
		return -EINVAL;
	if (group_is_subnet(spec->group))
		n = snprintf(buf, len, "%s/%s:%u,%u", metric_names[spec->metric],
			     group_names[spec->group], (unsigned)spec->prefix4,
			     (unsigned)spec->prefix6);
	else
		n = snprintf(buf, len, "%s/%s", metric_names[spec->metric],
			     group_names[spec->group]);
	return n < 0 || (size_t)n >= len ? -ENOSPC : n;
}

/* ------------------------------------------------------------------ */
/* Metrics                                                            */
/* ------------------------------------------------------------------ */

bool
score_value(const struct score *s, unsigned i, const struct flow_record *rec, double *x)
{
	double out, in;

	switch (s->conf.specs[i].metric) {
	case SCORE_METRIC_BYTES:
		*x = (double)(rec->bytes_toserver + rec->bytes_toclient);
		return true;
	case SCORE_METRIC_BYTES_TOSERVER:
		*x = (double)rec->bytes_toserver;
		return true;
	case SCORE_METRIC_BYTES_TOCLIENT:
		*x = (double)rec->bytes_toclient;
		return true;
	case SCORE_METRIC_PKTS:
		*x = (double)(rec->pkts_toserver + rec->pkts_toclient);
		return true;
	case SCORE_METRIC_DURATION:
		if (score_unlikely(rec->end_us < rec->start_us))
			return false;
		*x = (double)(rec->end_us - rec->start_us) / 1e6;
		return true;
	case SCORE_METRIC_PCR:
		out = (double)rec->bytes_toserver;
		in = (double)rec->bytes_toclient;
		if (score_unlikely(out + in == 0))
			return false;
		*x = (out - in) / (out + in);
		return true;
	}
	return false;
}

/* ------------------------------------------------------------------ */
/* Group keys                                                         */
/* ------------------------------------------------------------------ */

static void
addr_mask(uint8_t *dst, const uint8_t *src, unsigned bytes, unsigned plen)
{
	for (unsigned j = 0; j < bytes; j++) {
		unsigned bits = plen >= 8 * (j + 1) ? 8 : plen > 8 * j ? plen - 8 * j : 0;

		dst[j] = (uint8_t)(src[j] & (0xff00u >> bits));
	}
}

#define GKEY_APP 1 /* score_gkey.family of an app_proto key */

static bool
gkey_subnet(struct score_gkey *k, const struct score_spec *sp, unsigned ipv, const uint8_t *ip)
{
	if (ipv == 4) {
		k->plen = sp->prefix4;
		addr_mask(k->addr, ip, 4, k->plen);
	} else if (ipv == 6) {
		k->plen = sp->prefix6;
		addr_mask(k->addr, ip, 16, k->plen);
	} else {
		return false;
	}
	k->family = (uint8_t)ipv;
	return true;
}

/*
 * An application's key: its app_proto name in addr (family GKEY_APP marks
 * it), as EVE prints it: "failed" when nDPI gave up knowing nothing. Names
 * are cut at 16 bytes (nDPI 4.2 has a handful longer; none share 16).
 */
static bool
gkey_app(struct score_gkey *k, const struct appid_result *a)
{
	const char *name = a->how == APPID_HOW_UNKNOWN || a->name[0] == '\0' ? "failed" : a->name;

	k->family = GKEY_APP;
	memcpy(k->addr, name, strnlen(name, sizeof(k->addr)));
	return true;
}

/* The key of spec sp (index i) for rec; false when rec has no such group. */
static inline bool
gkey_build(const struct score_spec *sp, unsigned i, const struct flow_record *rec,
	   struct score_gkey *k)
{
	memset(k, 0, sizeof(*k));
	k->spec = (uint8_t)i;
	switch (sp->group) {
	case SCORE_GROUP_GLOBAL:
		return true;
	case SCORE_GROUP_APP_PROTO:
		if (rec->app.how != APPID_HOW_NONE)
			return gkey_app(k, &rec->app);
		k->proto = rec->proto; /* no DPI: the IP protocol stands in */
		return true;
	case SCORE_GROUP_PROTO:
		k->proto = rec->proto;
		return true;
	case SCORE_GROUP_DEST_PORT:
		k->proto = rec->proto;
		k->port = rec->dst_port;
		return true;
	case SCORE_GROUP_SRC_SUBNET:
		return gkey_subnet(k, sp, rec->ip_version, rec->src_ip);
	case SCORE_GROUP_DEST_SUBNET:
		return gkey_subnet(k, sp, rec->ip_version, rec->dst_ip);
	}
	return false;
}

static const char *
proto_name(uint8_t proto, char *buf, size_t len)
{
	switch (proto) {
	case 1:
		return "icmp";
	case 2:
		return "igmp";
	case 6:
		return "tcp";
	case 17:
		return "udp";
	case 47:
		return "gre";
	case 50:
		return "esp";
	case 58:
		return "ipv6-icmp";
	case 132:
		return "sctp";
	}
	snprintf(buf, len, "%u", (unsigned)proto);
	return buf;
}

/* The printable form of k (group g) into name[SCORE_KEY_NAME_MAX]; its length. */
static size_t
gkey_format(enum score_group g, const struct score_gkey *k, char *name)
{
	char pbuf[8], abuf[INET6_ADDRSTRLEN];
	int n;

	switch (g) {
	case SCORE_GROUP_GLOBAL:
		n = snprintf(name, SCORE_KEY_NAME_MAX, "global");
		break;
	case SCORE_GROUP_APP_PROTO:
		if (k->family == GKEY_APP) /* else no DPI: the IP protocol, as proto */
			n = snprintf(name, SCORE_KEY_NAME_MAX, "%.*s",
				     (int)strnlen((const char *)k->addr, sizeof(k->addr)),
				     (const char *)k->addr);
		else
			n = snprintf(name, SCORE_KEY_NAME_MAX, "%s", proto_name(k->proto, pbuf, 8));
		break;
	case SCORE_GROUP_PROTO:
		n = snprintf(name, SCORE_KEY_NAME_MAX, "%s", proto_name(k->proto, pbuf, 8));
		break;
	case SCORE_GROUP_DEST_PORT:
		n = snprintf(name, SCORE_KEY_NAME_MAX, "%s/%u", proto_name(k->proto, pbuf, 8),
			     (unsigned)k->port);
		break;
	default:
		if (inet_ntop(k->family == 4 ? AF_INET : AF_INET6, k->addr, abuf, sizeof(abuf)) ==
		    NULL)
			snprintf(abuf, sizeof(abuf), "?");
		n = snprintf(name, SCORE_KEY_NAME_MAX, "%s/%u", abuf, (unsigned)k->plen);
		break;
	}
	assert(n > 0 && n < SCORE_KEY_NAME_MAX); /* the longest is an IPv6 /128: 43 */
	return (size_t)n;
}

/* ------------------------------------------------------------------ */
/* The table                                                          */
/* ------------------------------------------------------------------ */

/* MurmurHash3's 64-bit finaliser: every input bit reaches every output bit. */
static inline uint64_t
score_mix(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ull;
	k ^= k >> 33;
	return k;
}

static inline uint64_t
gkey_hash(const struct score_gkey *k)
{
	uint64_t w[3];

	memcpy(w, k, sizeof(w));
	return score_mix(w[0] ^ score_mix(w[1] ^ score_mix(w[2] ^ 0x9e3779b97f4a7c15ull)));
}

static inline bool
gkey_equal(const struct score_gkey *a, const struct score_gkey *b)
{
	uint64_t x[3], y[3];

	memcpy(x, a, sizeof(x));
	memcpy(y, b, sizeof(y));
	return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2])) == 0;
}

/* The entry for k, made (fresh estimator) if new; NULL when the table is full. */
static struct score_entry *
table_get(struct score *s, const struct score_gkey *k)
{
	uint32_t slot = (uint32_t)(gkey_hash(k) >> s->index_shift), ix;
	struct score_entry *e;

	while ((ix = s->index[slot]) != 0) {
		e = &s->entries[ix - 1];
		if (gkey_equal(&e->key, k))
			return e;
		slot = (slot + 1) & s->index_mask;
	}
	if (score_unlikely(s->n_entries == s->conf.max_groups)) {
		s->st.groups_full++;
		return NULL;
	}
	e = &s->entries[s->n_entries];
	e->key = *k;
	e->est = s->proto[k->spec];
	e->name_len = (uint32_t)gkey_format(s->conf.specs[k->spec].group, k, e->name);
	s->index[slot] = ++s->n_entries;
	return e;
}

struct score_entry *
score_entry_get(struct score *s, unsigned i, const struct flow_record *rec)
{
	const struct score_spec *sp = &s->conf.specs[i];
	struct score_gkey k;
	struct score_entry *e;

	if (sp->group == SCORE_GROUP_GLOBAL && s->global[i] != 0)
		return &s->entries[s->global[i] - 1];
	if (score_unlikely(!gkey_build(sp, i, rec, &k))) {
		s->st.skipped++;
		return NULL;
	}
	e = table_get(s, &k);
	if (e != NULL && sp->group == SCORE_GROUP_GLOBAL)
		s->global[i] = (uint32_t)(e - s->entries) + 1;
	return e;
}

uint64_t
score_route_key(const struct score_spec *spec, const struct flow_record *rec)
{
	struct score_gkey k;

	if (!gkey_build(spec, 0, rec, &k))
		memset(&k, 0, sizeof(k)); /* no group: all such records together */
	return gkey_hash(&k);
}

/* ------------------------------------------------------------------ */
/* Scoring                                                            */
/* ------------------------------------------------------------------ */

void
score_result_fill(const struct score *s, unsigned i, const struct score_entry *e, double x,
		  const struct mad_result *mr, struct score_result *r)
{
	r->metric = s->conf.specs[i].metric;
	r->group = s->conf.specs[i].group;
	memcpy(r->group_key, e->name, sizeof(r->group_key)); /* zero-padded: fixed size is faster */
	r->value = x;
	r->median = mad_untransform(&e->est, mr->median);
	r->mad = mr->mad;
	r->n = mr->n;
	r->score = mr->score;
	r->zscore = mr->zscore;
	r->threshold = s->conf.mad.threshold;
	r->outlier = mr->outlier;
	r->burn_in = mr->burn_in;
	r->remote = 0;
}

bool
score_update_local(struct score *s, unsigned i, struct score_entry *e, double x,
		   struct score_result *r)
{
	struct mad_result mr;

	if (score_unlikely(mad_update(&e->est, x, &mr) != 0)) {
		s->st.skipped++;
		return false;
	}
	s->st.updates++;
	s->st.outliers += mr.outlier;
	score_result_fill(s, i, e, x, &mr, r);
	return true;
}

void
score_done_call(struct score *s, const struct flow_record *rec, const struct score_result *results,
		unsigned n)
{
	s->depth++;
	s->done(s->arg, rec, results, n);
	s->depth--;
	if (score_unlikely(s->closing) && s->depth == 0 && s->redis == NULL)
		score_free(s);
}

int
score_record(struct score *s, const struct flow_record *rec)
{
	struct score_result res[SCORE_MAX_SPECS];
	unsigned n = 0;

	s->st.records++;
	if (s->redis != NULL)
		return score_redis_record(s, rec);
	for (unsigned i = 0; i < s->conf.n_specs; i++) {
		struct score_entry *e;
		double x;

		if (score_unlikely(!score_value(s, i, rec, &x))) {
			s->st.skipped++;
			continue;
		}
		e = score_entry_get(s, i, rec);
		if (e != NULL)
			n += score_update_local(s, i, e, x, &res[n]);
	}
	score_done_call(s, rec, res, n);
	return 0;
}

unsigned
score_pending(const struct score *s)
{
	return (unsigned)s->st.redis_pending;
}

void
score_stats_get(const struct score *s, struct score_stats *st)
{
	*st = s->st;
	st->groups = s->n_entries;
}

/* ------------------------------------------------------------------ */
/* Lifetime                                                           */
/* ------------------------------------------------------------------ */

static int
conf_check_redis(const struct score_conf *c, uv_loop_t *loop)
{
	if (loop == NULL || c->redis_host == NULL || strlen(c->redis_host) >= 64 ||
	    c->redis_port == 0 || c->redis_window == 0 || c->redis_window > RCONN_MAX_PENDING ||
	    c->mad.compat)
		return -EINVAL;
	if (c->redis_prefix != NULL && strlen(c->redis_prefix) > SCORE_PREFIX_MAX)
		return -EINVAL;
	return 0;
}

/* Check conf and make each spec's fresh estimator. */
static int
conf_load(struct score *s, uv_loop_t *loop, const struct score_conf *c)
{
	if (c->n_specs > SCORE_MAX_SPECS || c->max_groups == 0 || c->max_groups > SCORE_MAX_GROUPS)
		return -EINVAL;
	if (c->store == SCORE_STORE_REDIS && conf_check_redis(c, loop) != 0)
		return -EINVAL;
	if (c->store != SCORE_STORE_LOCAL && c->store != SCORE_STORE_REDIS)
		return -EINVAL;
	for (unsigned i = 0; i < c->n_specs; i++) {
		struct mad_opts o = c->mad;

		if (!spec_valid(&c->specs[i]))
			return -EINVAL;
		if (c->specs[i].metric == SCORE_METRIC_PCR)
			o.transform = MAD_TRANSFORM_NONE;
		if (mad_init(&s->proto[i], &o) != 0)
			return -EINVAL;
	}
	s->conf = *c;
	if (c->store == SCORE_STORE_REDIS) {
		snprintf(s->host, sizeof(s->host), "%s", c->redis_host);
		snprintf(s->prefix, sizeof(s->prefix), "%s",
			 c->redis_prefix != NULL ? c->redis_prefix : "darter:mad:");
		s->conf.redis_host = s->host;
		s->conf.redis_prefix = s->prefix;
	} else {
		s->conf.redis_host = NULL;
		s->conf.redis_prefix = NULL;
	}
	return 0;
}

/* The index: a power of two at least twice max_groups (half full at most). */
static int
table_alloc(struct score *s)
{
	uint32_t cap = 2;
	unsigned bits = 1;

	while (cap < 2 * s->conf.max_groups) {
		cap <<= 1;
		bits++;
	}
	s->entries = calloc(s->conf.max_groups, sizeof(*s->entries));
	s->index = calloc(cap, sizeof(*s->index));
	if (s->entries == NULL || s->index == NULL)
		return -ENOMEM;
	s->index_mask = cap - 1;
	s->index_shift = 64 - bits;
	return 0;
}

struct score *
score_new(uv_loop_t *loop, const struct score_conf *conf, score_done_fn done, void *arg)
{
	struct score *s;
	int rc;

	if (conf == NULL || done == NULL) {
		errno = EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	rc = conf_load(s, loop, conf);
	if (rc == 0)
		rc = table_alloc(s);
	if (rc != 0)
		goto fail;
	s->loop = loop;
	s->done = done;
	s->arg = arg;
	if (conf->store == SCORE_STORE_REDIS) {
		rc = score_redis_new(s);
		if (rc != 0)
			goto fail;
	}
	return s;
fail:
	free(s->index);
	free(s->entries);
	free(s);
	errno = -rc;
	return NULL;
}

void
score_free(struct score *s)
{
	void (*cb)(void *) = s->close_cb;
	void *arg = s->close_arg;

	free(s->index);
	free(s->entries);
	free(s);
	if (cb != NULL)
		cb(arg);
}

void
score_close(struct score *s, void (*close_cb)(void *arg), void *arg)
{
	if (s == NULL)
		return;
	assert(!s->closing);
	s->closing = true;
	s->close_cb = close_cb;
	s->close_arg = arg;
	if (s->redis != NULL)
		score_redis_close(s);
	else if (s->depth == 0)
		score_free(s);
}

/* ------------------------------------------------------------------ */
/* Persistence                                                        */
/* ------------------------------------------------------------------ */

#define FILE_MAGIC    "DRTRMAD"
#define FILE_VERSION  1u
#define FILE_BOM      0x01020304u
#define FILE_SPEC_LEN 48u

struct file_head {
	char magic[8];
	uint32_t version;
	uint32_t state_version;
	uint32_t bom;
	uint32_t n_specs;
	uint32_t n_entries;
	uint32_t reserved;
};

struct file_entry {
	uint32_t spec; /* index into the file's spec texts */
	uint32_t reserved;
	struct score_gkey key; /* key.spec is 0 in the file */
	struct mad_state st;
};

_Static_assert(sizeof(((struct score_result *)0)->group_key) == SCORE_KEY_NAME_MAX,
	       "entry names are copied whole");
_Static_assert(sizeof(struct file_head) == 32, "file header: no padding");
_Static_assert(sizeof(struct file_entry) == 88, "file entry: no padding");

#define FNV_BASIS 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static uint64_t
fnv1a(uint64_t h, const void *p, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * FNV_PRIME;
	return h;
}

/* fwrite and hash; false on a short write. */
static bool
put(FILE *f, uint64_t *h, const void *p, size_t len)
{
	*h = fnv1a(*h, p, len);
	return fwrite(p, 1, len, f) == len;
}

static bool
write_body(const struct score *s, FILE *f)
{
	struct file_head hd = {.magic = FILE_MAGIC,
			       .version = FILE_VERSION,
			       .state_version = MAD_STATE_VERSION,
			       .bom = FILE_BOM,
			       .n_specs = s->conf.n_specs,
			       .n_entries = s->n_entries};
	uint64_t h = FNV_BASIS;
	bool ok = put(f, &h, &hd, sizeof(hd));

	for (unsigned i = 0; ok && i < s->conf.n_specs; i++) {
		char text[FILE_SPEC_LEN] = {0};

		score_spec_format(&s->conf.specs[i], text, sizeof(text));
		ok = put(f, &h, text, sizeof(text));
	}
	for (uint32_t j = 0; ok && j < s->n_entries; j++) {
		const struct score_entry *e = &s->entries[j];
		struct file_entry fe = {.spec = e->key.spec, .key = e->key};

		fe.key.spec = 0;
		mad_state_export(&e->est, &fe.st);
		ok = put(f, &h, &fe, sizeof(fe));
	}
	return ok && fwrite(&h, sizeof(h), 1, f) == 1;
}

/* Make the rename durable: fsync the directory holding path (best effort). */
static void
dir_sync(const char *path)
{
	char buf[4096];
	int fd;

	snprintf(buf, sizeof(buf), "%s", path);
	fd = open(dirname(buf), O_RDONLY | O_DIRECTORY);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

int
score_save(const struct score *s, const char *path)
{
	char tmp[4096];
	FILE *f;
	int fd, rc = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = mkstemp(tmp);
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "wb");
	if (f == NULL) {
		rc = -errno;
		close(fd);
		unlink(tmp);
		return rc;
	}
	if (!write_body(s, f) || fflush(f) != 0 || fsync(fd) != 0)
		rc = errno != 0 ? -errno : -EIO;
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -errno;
	if (rc != 0) {
		unlink(tmp);
		return rc;
	}
	dir_sync(path);
	return 0;
}

/* Read all of path into a fresh buffer. */
static int
file_slurp(const char *path, uint8_t **buf, size_t *len)
{
	struct stat sb;
	int fd = open(path, O_RDONLY), rc = 0;
	ssize_t got;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) != 0) {
		rc = -errno;
	} else if ((*buf = malloc((size_t)sb.st_size + 1)) == NULL) {
		rc = -ENOMEM;
	} else {
		got = read(fd, *buf, (size_t)sb.st_size + 1); /* regular files: one read */
		*len = got < 0 ? 0 : (size_t)got;
		if (got != sb.st_size) {
			rc = got < 0 ? -errno : -EIO;
			free(*buf);
		}
	}
	close(fd);
	return rc;
}

/* Header, size and checksum of a file image; 0 or -EINVAL. */
static int
file_check(const uint8_t *buf, size_t len, struct file_head *hd)
{
	uint64_t h, want;
	size_t need;

	if (len < sizeof(*hd) + sizeof(h))
		return -EINVAL;
	memcpy(hd, buf, sizeof(*hd));
	if (memcmp(hd->magic, FILE_MAGIC, 8) != 0 || hd->version != FILE_VERSION ||
	    hd->state_version != MAD_STATE_VERSION || hd->bom != FILE_BOM ||
	    hd->n_specs > SCORE_MAX_SPECS || hd->n_entries > SCORE_MAX_GROUPS * SCORE_MAX_SPECS)
		return -EINVAL;
	need = sizeof(*hd) + (size_t)hd->n_specs * FILE_SPEC_LEN +
	       (size_t)hd->n_entries * sizeof(struct file_entry) + sizeof(h);
	if (len != need)
		return -EINVAL;
	memcpy(&want, buf + len - sizeof(h), sizeof(h));
	h = fnv1a(FNV_BASIS, buf, len - sizeof(h));
	return h == want ? 0 : -EINVAL;
}

/* map[j]: the configured spec with the file's spec text j, or -1. */
static void
file_map_specs(const struct score *s, const uint8_t *texts, unsigned n, int *map)
{
	for (unsigned j = 0; j < n; j++) {
		const char *t = (const char *)texts + (size_t)j * FILE_SPEC_LEN;

		map[j] = -1;
		if (memchr(t, '\0', FILE_SPEC_LEN) == NULL)
			continue;
		for (unsigned i = 0; i < s->conf.n_specs && map[j] < 0; i++) {
			char mine[FILE_SPEC_LEN];

			if (score_spec_format(&s->conf.specs[i], mine, sizeof(mine)) > 0 &&
			    strcmp(mine, t) == 0)
				map[j] = (int)i;
		}
	}
}

static void
file_apply(struct score *s, const struct file_head *hd, const uint8_t *buf)
{
	const uint8_t *p = buf + sizeof(*hd) + (size_t)hd->n_specs * FILE_SPEC_LEN;
	int map[SCORE_MAX_SPECS];

	file_map_specs(s, buf + sizeof(*hd), hd->n_specs, map);
	for (uint32_t j = 0; j < hd->n_entries; j++, p += sizeof(struct file_entry)) {
		struct file_entry fe;
		struct score_entry *e;
		struct mad tmp;

		memcpy(&fe, p, sizeof(fe));
		if (fe.spec >= hd->n_specs || map[fe.spec] < 0)
			continue;
		tmp = s->proto[map[fe.spec]];
		if (mad_state_import(&tmp, &fe.st) != 0)
			continue; /* other transform, or impossible values */
		fe.key.spec = (uint8_t)map[fe.spec];
		e = table_get(s, &fe.key);
		if (e != NULL)
			e->est = tmp;
	}
}

int
score_load(struct score *s, const char *path)
{
	struct file_head hd;
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = file_slurp(path, &buf, &len);

	if (rc != 0)
		return rc;
	rc = file_check(buf, len, &hd);
	if (rc == 0)
		file_apply(s, &hd, buf);
	free(buf);
	return rc;
}
