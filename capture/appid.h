/*
 * appid.h: application identification (nDPI 4.2) on the capture lcore.
 *
 * One struct appid per capture lcore, touched by that lcore only. A flow
 * being classified holds one state from a pool preallocated at creation
 * (max_states); the flow table keeps its 32-bit handle. Packets go to
 * nDPI until it classifies the flow or a limit is reached; the state is
 * then released at once and the flow keeps only a struct appid_ids (6
 * bytes), expanded into its flow_record's struct appid_result by
 * appid_result_fill(). Nothing here allocates per packet
 * or per flow; nDPI itself allocates a little for some flows (URLs, TLS
 * and QUIC reassembly): that memory is counted and bounded (max_heap).
 *
 * nDPI's own API is included by appid.c only (STYLE rule 4).
 */
#ifndef DARTER_APPID_H
#define DARTER_APPID_H

#include <stdint.h>

/* Field sizes of struct appid_result, NUL included (nDPI 4.2's longest fit). */
#define APPID_NAME_LEN	   21 /* "direct_download_link" */
#define APPID_CATEGORY_LEN 17 /* "site_unavailable" */

/* How a result was reached (struct appid_result.how). */
enum appid_how {
	APPID_HOW_NONE,	   /* never classified: zeroed result (no state, or not IP) */
	APPID_HOW_DPI,	   /* nDPI classified the flow from its packets */
	APPID_HOW_GUESS,   /* gave up; nDPI guessed from ports or addresses */
	APPID_HOW_UNKNOWN, /* gave up; nothing known ("unknown") */
};

/*
 * The answer for one flow: 64 bytes, no pointers, copied into the record.
 * Names are nDPI's, lower case. For nDPI's "master.app" answers
 * (TLS.YouTube) name is the master protocol, as Suricata's app_proto
 * ("tls"), and app the application ("youtube"); otherwise app is empty.
 * category is the flow's nDPI category ("media", "web").
 */
struct appid_result {
	uint16_t proto_id;  /* nDPI app_protocol id (TLS.YouTube: YouTube; 0 unknown) */
	uint16_t master_id; /* nDPI master_protocol id (TLS.YouTube: TLS; 0 none) */
	uint8_t how;	    /* enum appid_how */
	char name[APPID_NAME_LEN];
	char app[APPID_NAME_LEN];
	char category[APPID_CATEGORY_LEN];
};

_Static_assert(sizeof(struct appid_result) == 64, "appid_result fits one cache line");

/*
 * The same answer in 6 bytes, as a flow entry keeps it: ids only, the
 * names are looked up by appid_result_fill() when a record is written.
 */
struct appid_ids {
	uint16_t proto_id;  /* as appid_result.proto_id */
	uint16_t master_id; /* as appid_result.master_id (0 when equal to proto_id) */
	uint8_t category;   /* nDPI category id (ndpi_protocol_category_t) */
	uint8_t how;	    /* enum appid_how */
};

/* appid_packet() results. */
enum appid_status {
	APPID_MORE = 0, /* not decided: feed the flow's next packet */
	APPID_DONE = 1, /* out is filled and the state already released */
};

struct appid_conf {
	uint32_t max_states;	  /* flows classified at once: the pool's bound */
	uint16_t max_packets_tcp; /* give up a TCP flow after this many packets */
	uint16_t max_packets_udp; /* the same for UDP and other IP protocols */
	uint32_t max_heap; /* bytes nDPI may hold for all classifying flows; 0 = 512 per state */
	uint8_t prefault;  /* nonzero: populate the pool's pages at creation (live) */
};

/* Counters, written by the owning lcore only. */
struct appid_stats {
	uint64_t begun;		  /* states handed out by appid_begin */
	uint64_t pool_empty;	  /* appid_begin found no free state (flow stays unclassified) */
	uint64_t packets;	  /* packets given to nDPI */
	uint64_t classified;	  /* released on nDPI's answer while classifying */
	uint64_t given_up;	  /* released without: packet limit, heap budget or flow end */
	uint64_t guessed;	  /* of given_up: nDPI guessed from ports or addresses */
	uint64_t heap_limited;	  /* of given_up: the heap budget was exceeded */
	uint64_t flow_ended;	  /* of given_up: appid_end while still classifying */
	uint64_t active;	  /* states in use now */
	uint64_t pool_bytes;	  /* the state pool (fixed at creation) */
	uint64_t module_bytes;	  /* nDPI's detection module and our name tables (at creation) */
	int64_t heap;		  /* bytes nDPI holds now for the active flows */
	int64_t heap_residual;	  /* bytes nDPI allocated during flows and kept after release */
	uint64_t memuse;	  /* pool_bytes + module_bytes + heap + heap_residual */
	uint32_t names_truncated; /* nDPI names longer than the result's fields (see appid.c) */
};

struct appid;

/* Defaults: 4096 states, 32 TCP / 16 UDP packets, heap 512 bytes per state. */
void appid_conf_defaults(struct appid_conf *conf);

/*
 * Create one lcore's classifier: nDPI's detection module with every
 * protocol enabled, the state pool and the name tables. All memory is
 * allocated here (and the pool touched). Slow (about 0.1 s and 5 MB for
 * nDPI's tables, plus 0.3 s for a pool of 65536): call at start-up, from
 * any thread; calls are serialized
 * internally (nDPI's init is not reentrant). Returns NULL and sets errno
 * (EINVAL for max_states 0 or above 2^24, or a packet limit 0; EPROTO when
 * the nDPI library's flow struct differs from its headers'; ENOMEM) on
 * failure.
 */
struct appid *appid_new(const struct appid_conf *conf);

/* Free everything, active states included (no results). NULL is fine. */
void appid_free(struct appid *a);

/*
 * Take a state for a new flow of IP protocol ip_proto (6 = TCP chooses
 * max_packets_tcp, anything else max_packets_udp). Returns its handle
 * (never 0), or 0 when the pool is empty (counted in pool_empty; the flow
 * stays unclassified). Owning lcore only.
 */
uint32_t appid_begin(struct appid *a, uint8_t ip_proto);

/*
 * Give one packet of flow h to nDPI: l3 points at its IP header, l3_len is
 * the bytes captured from there (trailing link padding is cut off by the IP
 * length). to_server is nonzero for the client's direction (nDPI 4.2
 * derives direction from the addresses itself and ignores it; later nDPI
 * versions take it). ts_us is the packet's time. Returns APPID_MORE, or
 * APPID_DONE with *out filled and h released (the caller forgets h). h
 * must be a live handle. Owning lcore only.
 */
enum appid_status appid_packet(struct appid *a, uint32_t h, const uint8_t *l3, uint32_t l3_len,
			       uint64_t ts_us, int to_server, struct appid_ids *out);

/*
 * The flow of h ends while still classifying: nDPI gives up (and guesses),
 * *out is filled unless out is NULL (then nDPI is not asked), and h is
 * released. Owning lcore only.
 */
void appid_end(struct appid *a, uint32_t h, struct appid_ids *out);

/*
 * Expand ids into a record's result: lower-case names from the tables
 * built by appid_new (no nDPI call, no allocation). ids->how ==
 * APPID_HOW_NONE gives a zeroed result. Any thread (the tables are
 * read-only after creation).
 */
void appid_result_fill(const struct appid *a, const struct appid_ids *ids,
		       struct appid_result *out);

/* The counters (pointer valid for the lifetime of a). */
const struct appid_stats *appid_stats(const struct appid *a);

/* Bytes of one pool state: nDPI's flow struct, padded, plus our bookkeeping. */
uint32_t appid_state_size(void);

/* nDPI's version string ("4.2.0"), for logs and stats. */
const char *appid_ndpi_version(void);

#endif
