/*
 * appid.c: application identification with nDPI 4.2, one classifier per
 * capture lcore.
 *
 * What: a flow's first packets go to ndpi_detection_process_packet() until
 * nDPI names the application (APPID_HOW_DPI) or the flow reaches its packet
 * limit, the heap budget is exceeded or the flow ends: then
 * ndpi_detection_giveup() is asked for a guess (APPID_HOW_GUESS, or
 * APPID_HOW_UNKNOWN). Either way the per-flow state goes back to the pool
 * at once; the flow keeps 6 bytes of ids.
 *
 * How:
 *  - States: max_states of struct appid_state (nDPI's ndpi_flow_struct plus
 *    our bookkeeping, padded to cache lines) in one array allocated by
 *    appid_new, chained through a free list; a handle is index + 1. A state
 *    is zeroed when taken (nDPI's contract for a new flow) and its dynamic
 *    members freed by ndpi_free_flow_data() when released.
 *  - Memory: nDPI's allocator hooks (set_ndpi_malloc/set_ndpi_free) are
 *    process-wide, so they are installed once and charge a thread-local
 *    context that this file sets around every nDPI call: the classifier
 *    (and, while a flow's packet is processed, its state). Sizes come from
 *    malloc_usable_size(), so the hooks need no header and a block that
 *    nDPI frees with plain free() cannot corrupt anything. Bytes allocated
 *    while creating the module are module_bytes; during a flow they are
 *    charged to the flow (heap); what a flow leaves behind after
 *    ndpi_free_flow_data() (nDPI's lazily created caches) is
 *    heap_residual. The heap budget is checked after each packet: the flow
 *    that exceeds it gives up (counted heap_limited), so nDPI's heap stays
 *    within max_heap plus one packet's growth.
 *  - Names: nDPI's protocol and category names are copied once, lower
 *    case, spaces made '_', into fixed-size tables; records get them by
 *    id (appid_result_fill) without calling nDPI. On 4.2 every protocol
 *    name fits; the five unused "User custom category N" labels do not
 *    (truncated, counted in names_truncated).
 *  - Result shape: nDPI's master.app pair (TLS.YouTube) gives name "tls"
 *    and app "youtube"; a lone protocol (SSH) name "ssh", app "". nDPI 4.2
 *    sometimes reports master == app: that is a lone protocol.
 *
 * Not here: extra dissection after classification (TLS certificates,
 * JA3, risks), nDPI's flow risks, custom protocol or category files,
 * locking (one lcore owns a classifier; only appid_new/appid_free take a
 * process-wide lock around nDPI's non-reentrant init and exit).
 */
#include "appid.h"

#include <assert.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <ndpi/ndpi_api.h>

#include "pages.h"

#define APPID_CACHE_LINE    64
#define APPID_MAX_STATES    (1u << 24)
#define APPID_HEAP_PER_FLOW 512
#define APPID_NCAT	    NDPI_PROTOCOL_NUM_CATEGORIES
#define APPID_PROTO_TCP	    6
#define APPID_IP_MAX	    65535 /* nDPI takes the length as unsigned short */

/* ------------------------------------------------------------ types */

/* One flow being classified. Its address is its identity: never moved. */
struct appid_state {
	struct ndpi_flow_struct flow;
	int64_t heap;	/* bytes nDPI allocated for this flow and still holds */
	uint32_t next;	/* free list: handle of the next free state, 0 = end */
	uint16_t pkts;	/* packets given to nDPI */
	uint16_t limit; /* give up at this many packets; 0 = free (limits are >= 1) */
} __attribute__((aligned(APPID_CACHE_LINE)));

_Static_assert(sizeof(struct appid_state) <= 704, "nDPI 4.2's 688-byte flow + 16, 11 lines");

struct appid {
	/* hot */
	struct ndpi_detection_module_struct *mod;
	struct appid_state *pool;
	uint32_t free_head; /* released states, by handle; 0 = empty */
	uint32_t fresh;	    /* states [fresh, max_states) never used yet */
	uint32_t max_states;
	uint16_t max_tcp;
	uint16_t max_udp;
	int64_t max_heap;
	int counting_init; /* allocations now are module_bytes */
	struct appid_stats stats;
	/* cold: names, by id */
	uint32_t nprotos;
	char (*proto_names)[APPID_NAME_LEN];
	char cat_names[APPID_NCAT][APPID_CATEGORY_LEN];
};

/* ------------------------------------------------- allocation hooks */

/*
 * What nDPI's allocations on this thread are charged to: set around every
 * nDPI call of this file, NULL otherwise (then nothing is counted).
 */
static _Thread_local struct appid *appid_cur;
static _Thread_local struct appid_state *appid_cur_state;

static pthread_once_t appid_hooks_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t appid_init_lock = PTHREAD_MUTEX_INITIALIZER;

static void
appid_charge(int64_t bytes)
{
	struct appid *a = appid_cur;

	if (a == NULL)
		return;
	a->stats.memuse += (uint64_t)bytes;
	if (a->counting_init)
		a->stats.module_bytes += (uint64_t)bytes;
	else if (appid_cur_state != NULL) {
		appid_cur_state->heap += bytes;
		a->stats.heap += bytes;
	} else {
		a->stats.heap_residual += bytes;
	}
}

static void *
appid_hook_malloc(size_t size)
{
	void *p = malloc(size);

	if (p != NULL)
		appid_charge((int64_t)malloc_usable_size(p));
	return p;
}

static void
appid_hook_free(void *p)
{
	if (p == NULL)
		return;
	appid_charge(-(int64_t)malloc_usable_size(p));
	free(p);
}

static void
appid_hooks_install(void)
{
	set_ndpi_malloc(appid_hook_malloc);
	set_ndpi_free(appid_hook_free);
	set_ndpi_flow_malloc(appid_hook_malloc);
	set_ndpi_flow_free(appid_hook_free);
}

static inline void
appid_enter(struct appid *a, struct appid_state *st)
{
	appid_cur = a;
	appid_cur_state = st;
}

static inline void
appid_leave(void)
{
	appid_cur = NULL;
	appid_cur_state = NULL;
}

/* ------------------------------------------------------------ names */

/* Copy src lower case, ' ' as '_', NUL-padded; 1 if it did not fit. */
static int
appid_name_copy(char *dst, size_t size, const char *src)
{
	size_t i = 0;

	memset(dst, 0, size);
	if (src == NULL)
		return 0;
	for (; src[i] != '\0' && i + 1 < size; i++) {
		char c = src[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		else if (c == ' ')
			c = '_';
		dst[i] = c;
	}
	return src[i] != '\0';
}

static int
appid_names_build(struct appid *a)
{
	a->nprotos = ndpi_get_num_supported_protocols(a->mod);
	if (a->nprotos == 0)
		a->nprotos = 1;
	a->proto_names = calloc(a->nprotos, APPID_NAME_LEN);
	if (a->proto_names == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < a->nprotos; i++)
		a->stats.names_truncated +=
			(uint32_t)appid_name_copy(a->proto_names[i], APPID_NAME_LEN,
						  ndpi_get_proto_name(a->mod, (uint16_t)i));
	for (int c = 0; c < APPID_NCAT; c++)
		a->stats.names_truncated += (uint32_t)appid_name_copy(
			a->cat_names[c], APPID_CATEGORY_LEN,
			ndpi_category_get_name(a->mod, (ndpi_protocol_category_t)c));
	return 0;
}

static inline const char *
appid_proto_name(const struct appid *a, uint16_t id)
{
	return a->proto_names[id < a->nprotos ? id : 0];
}

void
appid_result_fill(const struct appid *a, const struct appid_ids *ids, struct appid_result *out)
{
	memset(out, 0, sizeof(*out));
	if (ids->how == APPID_HOW_NONE)
		return;
	out->proto_id = ids->proto_id;
	out->master_id = ids->master_id;
	out->how = ids->how;
	if (ids->master_id != 0) {
		memcpy(out->name, appid_proto_name(a, ids->master_id), APPID_NAME_LEN);
		if (ids->proto_id != 0)
			memcpy(out->app, appid_proto_name(a, ids->proto_id), APPID_NAME_LEN);
	} else {
		memcpy(out->name, appid_proto_name(a, ids->proto_id), APPID_NAME_LEN);
	}
	memcpy(out->category, a->cat_names[ids->category < APPID_NCAT ? ids->category : 0],
	       APPID_CATEGORY_LEN);
}

/* --------------------------------------------------------- the pool */

static inline struct appid_state *
appid_state_of(struct appid *a, uint32_t h)
{
	assert(h != 0 && h <= a->max_states);
	return &a->pool[h - 1];
}

uint32_t
appid_begin(struct appid *a, uint8_t ip_proto)
{
	uint32_t h = a->free_head;
	struct appid_state *st;

	if (__builtin_expect(h == 0, 0)) {
		if (a->fresh == a->max_states) {
			a->stats.pool_empty++;
			return 0;
		}
		h = ++a->fresh; /* a state never used: zero, first touch of its page */
		st = appid_state_of(a, h);
	} else {
		st = appid_state_of(a, h);
		a->free_head = st->next;
	}
	assert(st->limit == 0);
	memset(&st->flow, 0, sizeof(st->flow));
	st->heap = 0;
	st->pkts = 0;
	st->limit = ip_proto == APPID_PROTO_TCP ? a->max_tcp : a->max_udp;
	a->stats.begun++;
	a->stats.active++;
	return h;
}

/* Free nDPI's per-flow memory and put st back; its leftovers are residual. */
static void
appid_release(struct appid *a, struct appid_state *st)
{
	appid_enter(a, st);
	ndpi_free_flow_data(&st->flow);
	appid_leave();
	a->stats.heap -= st->heap;
	a->stats.heap_residual += st->heap;
	st->heap = 0;
	st->limit = 0;
	st->next = a->free_head;
	a->free_head = (uint32_t)(st - a->pool) + 1;
	assert(a->stats.active > 0);
	a->stats.active--;
}

/* nDPI's answer as ids; master == app is a lone protocol. */
static void
appid_ids_set(struct appid_ids *out, ndpi_protocol r, uint8_t how)
{
	out->proto_id = r.app_protocol;
	out->master_id = r.master_protocol == r.app_protocol ? 0 : r.master_protocol;
	out->category = (unsigned)r.category < APPID_NCAT ? (uint8_t)r.category : 0;
	out->how = how;
}

static inline int
appid_known(ndpi_protocol r)
{
	return r.app_protocol != NDPI_PROTOCOL_UNKNOWN ||
	       r.master_protocol != NDPI_PROTOCOL_UNKNOWN;
}

/* Ask nDPI for its best guess about st (counted given_up), fill out. */
static void
appid_giveup(struct appid *a, struct appid_state *st, struct appid_ids *out)
{
	uint8_t guessed = 0;
	ndpi_protocol r;
	uint8_t how;

	appid_enter(a, st);
	r = ndpi_detection_giveup(a->mod, &st->flow, 1, &guessed);
	appid_leave();
	if (!appid_known(r))
		how = APPID_HOW_UNKNOWN;
	else
		how = guessed ? APPID_HOW_GUESS : APPID_HOW_DPI;
	appid_ids_set(out, r, how);
	a->stats.given_up++;
	if (how == APPID_HOW_GUESS)
		a->stats.guessed++;
}

/* ---------------------------------------------------------- packets */

/* Captured bytes of the IP packet at l3, without trailing link padding. */
static uint32_t
appid_ip_len(const uint8_t *l3, uint32_t cap)
{
	uint32_t ip = 0;

	if (cap >= 20 && (l3[0] >> 4) == 4)
		ip = (uint32_t)l3[2] << 8 | l3[3];
	else if (cap >= 40 && (l3[0] >> 4) == 6)
		ip = 40 + ((uint32_t)l3[4] << 8 | l3[5]);
	if (ip != 0 && ip < cap)
		cap = ip;
	return cap < APPID_IP_MAX ? cap : APPID_IP_MAX;
}

enum appid_status
appid_packet(struct appid *a, uint32_t h, const uint8_t *l3, uint32_t l3_len, uint64_t ts_us,
	     int to_server, struct appid_ids *out)
{
	struct appid_state *st = appid_state_of(a, h);
	ndpi_protocol r;

	(void)to_server; /* nDPI 4.2 has no direction input */
	assert(st->limit != 0);
	appid_enter(a, st);
	r = ndpi_detection_process_packet(a->mod, &st->flow, l3,
					  (unsigned short)appid_ip_len(l3, l3_len), ts_us / 1000);
	appid_leave();
	st->pkts++;
	a->stats.packets++;
	if (appid_known(r)) {
		appid_ids_set(out, r, APPID_HOW_DPI);
		a->stats.classified++;
	} else if (__builtin_expect(a->stats.heap > a->max_heap, 0)) {
		a->stats.heap_limited++;
		appid_giveup(a, st, out);
	} else if (st->pkts >= st->limit) {
		appid_giveup(a, st, out);
	} else {
		return APPID_MORE;
	}
	appid_release(a, st);
	return APPID_DONE;
}

void
appid_end(struct appid *a, uint32_t h, struct appid_ids *out)
{
	struct appid_state *st = appid_state_of(a, h);

	assert(st->limit != 0);
	if (out != NULL) {
		appid_giveup(a, st, out);
	} else {
		a->stats.given_up++;
	}
	a->stats.flow_ended++;
	appid_release(a, st);
}

/* -------------------------------------------------------- lifetime */

void
appid_conf_defaults(struct appid_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	conf->max_states = 4096;
	conf->max_packets_tcp = 32;
	conf->max_packets_udp = 16;
	conf->max_heap = 0;
	conf->prefault = 1;
}

/* nDPI's module with every protocol on; charged to module_bytes. */
static int
appid_module_new(struct appid *a)
{
	NDPI_PROTOCOL_BITMASK all;
	int rc = 0;

	pthread_mutex_lock(&appid_init_lock);
	a->counting_init = 1;
	appid_enter(a, NULL);
	a->mod = ndpi_init_detection_module(ndpi_no_prefs);
	if (a->mod != NULL) {
		NDPI_BITMASK_SET_ALL(all);
		ndpi_set_protocol_detection_bitmask2(a->mod, &all);
		ndpi_finalize_initialization(a->mod);
		rc = appid_names_build(a);
	} else {
		rc = -ENOMEM;
	}
	appid_leave();
	a->counting_init = 0;
	pthread_mutex_unlock(&appid_init_lock);
	return rc;
}

static void
appid_module_free(struct appid *a)
{
	if (a->mod == NULL)
		return;
	pthread_mutex_lock(&appid_init_lock);
	ndpi_exit_detection_module(a->mod); /* not charged: a is going away */
	pthread_mutex_unlock(&appid_init_lock);
	a->mod = NULL;
}

static int
appid_pool_new(struct appid *a, int prefault)
{
	size_t bytes = (size_t)a->max_states * sizeof(struct appid_state);

	a->pool = pages_alloc(bytes, prefault); /* zeroed; page-aligned */
	if (a->pool == NULL)
		return -ENOMEM;
	a->free_head = 0;
	a->fresh = 0;
	a->stats.pool_bytes = bytes;
	a->stats.memuse += bytes;
	return 0;
}

static void
appid_pool_free(struct appid *a)
{
	pages_free(a->pool, (size_t)a->max_states * sizeof(struct appid_state));
}

struct appid *
appid_new(const struct appid_conf *conf)
{
	struct appid *a;
	int rc;

	if (conf == NULL || conf->max_states == 0 || conf->max_states > APPID_MAX_STATES ||
	    conf->max_packets_tcp == 0 || conf->max_packets_udp == 0) {
		errno = EINVAL;
		return NULL;
	}
	if (ndpi_detection_get_sizeof_ndpi_flow_struct() != sizeof(struct ndpi_flow_struct)) {
		errno = EPROTO; /* library and headers from different nDPI builds */
		return NULL;
	}
	pthread_once(&appid_hooks_once, appid_hooks_install);
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		goto err_nomem;
	a->max_states = conf->max_states;
	a->max_tcp = conf->max_packets_tcp;
	a->max_udp = conf->max_packets_udp;
	a->max_heap = conf->max_heap != 0 ? (int64_t)conf->max_heap
					  : (int64_t)conf->max_states * APPID_HEAP_PER_FLOW;
	a->stats.module_bytes = sizeof(*a);
	a->stats.memuse = sizeof(*a);
	rc = appid_pool_new(a, conf->prefault);
	if (rc < 0)
		goto err_appid;
	rc = appid_module_new(a);
	if (rc < 0)
		goto err_module;
	a->stats.module_bytes += (uint64_t)a->nprotos * APPID_NAME_LEN;
	a->stats.memuse += (uint64_t)a->nprotos * APPID_NAME_LEN;
	return a;

err_module:
	free(a->proto_names);
	appid_module_free(a);
	appid_pool_free(a);
err_appid:
	free(a);
err_nomem:
	errno = ENOMEM;
	return NULL;
}

void
appid_free(struct appid *a)
{
	if (a == NULL)
		return;
	for (uint32_t i = 0; i < a->fresh; i++)
		if (a->pool[i].limit != 0)
			appid_release(a, &a->pool[i]);
	appid_module_free(a);
	free(a->proto_names);
	appid_pool_free(a);
	free(a);
}

const struct appid_stats *
appid_stats(const struct appid *a)
{
	return &a->stats;
}

uint32_t
appid_state_size(void)
{
	return (uint32_t)sizeof(struct appid_state);
}

const char *
appid_ndpi_version(void)
{
	return ndpi_revision();
}
