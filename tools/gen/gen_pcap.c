/*
 * gen_pcap.c: synthetic flows written as a classic pcap.
 *
 * Every property of flow i is a pure function of (seed, i): its 5-tuple,
 * IP version, protocol, initial sequence numbers, and the size of each of
 * its packets (a hash of (flow, packet index) picks the size class). So
 * the output is the same for a seed on every machine, and a first pass
 * can compute byte volumes without writing anything.
 *
 * Uniqueness: the client (address, port) pair is a keyed bijection of i
 * over 32 bits (24 bits of 10.0.0.0/8 or of an fd00::/64 host part, 8
 * bits spread over the port), so no two flows share a 5-tuple.
 *
 * Time: flow i starts at i x duration / concurrent, and its packets are
 * spread evenly over just under `duration` seconds, so at most
 * `concurrent` flows are open at any instant and concurrent / duration
 * flows start each second (the ntop matrix: 1M concurrent, 100K new/s).
 * Packets of all open flows are merged in time order with a binary heap
 * of (next packet time, flow index): O(log concurrent) per packet, memory
 * bounded by the open flows, not by the file.
 *
 * Shapes: TCP is SYN, SYN-ACK, data alternating client/server, FIN from
 * the client, FIN from the server, last ACK (fewer than 5 packets: a
 * truncated handshake, the 4th a RST). SYN, SYN-ACK and the last ACK
 * carry no payload and are minimum-size frames; the mix for the other
 * packets is skewed so the file as a whole follows the mix. UDP packets
 * alternate request/response and all follow the mix.
 *
 * Outliers: M flows of the second half of the file (past darter's MAD
 * burn-in) carry ceil(F x median byte volume of the normal flows),
 * reached by more packets over the same duration. They are listed in
 * OUT.outliers.
 *
 * Checksums (IPv4, TCP, UDP) are valid; payloads are one seeded random
 * block whose prefix checksums are precomputed, so a packet costs a
 * header build and a memcpy. Records go through one 1 MB buffer.
 * Not done: IP options, fragments, VLANs, retransmissions, pcapng.
 */
#include "gen.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>

#define GEN_BASE_SEC	1700000000ULL /* 2023-11-14: a fixed epoch keeps files reproducible */
#define GEN_NS		1000000000ULL
#define GEN_ETH_LEN	14
#define GEN_MIN_FRAME	60 /* "64 B" on the wire: 60 captured + 4 FCS */
#define GEN_SNAPLEN	65535
#define GEN_BUF_SIZE	(1u << 20)
#define GEN_PAYLOAD_MAX 9216
#define GEN_GOLDEN	0x9e3779b97f4a7c15ULL

__extension__ typedef unsigned __int128 gen_u128; /* exact times: ns x index overflows 64 bits */

#define GEN_F_FIN 0x01
#define GEN_F_SYN 0x02
#define GEN_F_RST 0x04
#define GEN_F_PSH 0x08
#define GEN_F_ACK 0x10

/* ------------------------------------------------------------ random */

static inline uint64_t
gen_mix64(uint64_t x)
{
	x += GEN_GOLDEN;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static inline double
gen_unit(uint64_t h)
{
	return (double)(h >> 11) * 0x1.0p-53;
}

/* A keyed bijection on 32 bits: xor, odd multiply, xorshift and add are each invertible. */
static uint32_t
gen_perm32(uint32_t x, uint64_t key)
{
	x ^= (uint32_t)key;
	x *= 0x9e3779b1u;
	x ^= x >> 15;
	x += (uint32_t)(key >> 32);
	x *= 0x85ebca77u;
	x ^= x >> 13;
	x *= 0xc2b2ae3du;
	return x ^ (x >> 16);
}

/* ------------------------------------------------------------- flows */

struct gen_flow {
	uint64_t idx;
	uint64_t h; /* per-flow hash: every random choice derives from it */
	uint64_t t0_ns;
	uint32_t n;		    /* packets */
	uint32_t next;		    /* next packet to emit */
	uint32_t last_j, last_size; /* outliers: trimmed size of packet last_j (0 = none) */
	uint32_t seq[2];
	uint16_t ipid[2];
	uint16_t port[2]; /* client, server */
	uint32_t label;
	uint8_t v6, tcp, outlier;
	uint8_t addr[2][16]; /* client, server; IPv4 in the first 4 bytes */
};

struct gen_ctx {
	const struct gen_pcap_opts *o;
	double cum_tcp[GEN_MIX_MAX]; /* cumulative class odds for TCP data packets */
	double cum_udp[GEN_MIX_MAX];
	uint8_t *outlier_bits;
	uint64_t target; /* outlier byte volume */
	uint64_t median;
	uint64_t dur_ns;  /* --duration: flow i + concurrent starts dur_ns after flow i */
	uint64_t span_ns; /* first to last packet of a flow: a little under dur_ns */
	uint8_t payload[GEN_PAYLOAD_MAX];
	uint32_t psum[GEN_PAYLOAD_MAX + 1]; /* ones-complement sums of payload prefixes */
	FILE *fp;
	uint8_t *buf;
	size_t used;
	uint64_t packets, bytes;
};

static const uint16_t gen_tcp_ports[] = {80, 443, 22, 25, 993, 3306, 8080, 445};
static const uint16_t gen_udp_ports[] = {53, 123, 443, 514, 1194, 5060};

static uint32_t
gen_hdr_len(const struct gen_flow *f)
{
	return GEN_ETH_LEN + (f->v6 ? 40u : 20u) + (f->tcp ? 20u : 8u);
}

static void
gen_flow_addrs(struct gen_flow *f, uint32_t k, uint32_t srv)
{
	memset(f->addr, 0, sizeof(f->addr));
	if (!f->v6) {
		uint32_t cli = htonl(0x0a000000u | (k >> 8)); /* 10.0.0.0/8 */
		uint32_t s = htonl(0xac100000u | srv);	      /* 172.16.0.0/16 */

		memcpy(f->addr[0], &cli, 4);
		memcpy(f->addr[1], &s, 4);
		return;
	}
	f->addr[0][0] = f->addr[1][0] = 0xfd; /* fd00:0:0:1::/64 clients, fd00:0:0:2::/64 servers */
	f->addr[0][7] = 1;
	f->addr[1][7] = 2;
	for (int b = 0; b < 4; b++)
		f->addr[0][12 + b] = (uint8_t)(k >> (24 - 8 * b));
	f->addr[1][14] = (uint8_t)(srv >> 8);
	f->addr[1][15] = (uint8_t)srv;
}

/* Everything about flow idx but its packet count (set by the caller). */
static void
gen_flow_init(const struct gen_ctx *c, uint64_t idx, struct gen_flow *f)
{
	const struct gen_pcap_opts *o = c->o;
	uint64_t h = gen_mix64(o->seed ^ gen_mix64(idx));
	uint64_t h1 = gen_mix64(h ^ 1), h2 = gen_mix64(h ^ 2), h3 = gen_mix64(h ^ 3);
	uint32_t k = gen_perm32((uint32_t)idx, gen_mix64(o->seed));

	memset(f, 0, sizeof(*f));
	f->idx = idx;
	f->h = h;
	f->v6 = gen_unit(h1) < o->ipv6_share;
	f->tcp = o->proto == GEN_TCP || (o->proto == GEN_PROTO_MIX && (h2 & 1));
	f->outlier = c->outlier_bits && ((c->outlier_bits[idx >> 3] >> (idx & 7)) & 1);
	f->port[0] = (uint16_t)(1024 + (k & 0xff) * 252 + (h2 >> 8) % 252);
	f->port[1] = f->tcp ? gen_tcp_ports[(h2 >> 32) % 8] : gen_udp_ports[(h2 >> 32) % 6];
	gen_flow_addrs(f, k, (uint32_t)(1 + (h3 % 1000)));
	f->seq[0] = (uint32_t)h3;
	f->seq[1] = (uint32_t)(h3 >> 32);
	f->ipid[0] = (uint16_t)h1;
	f->ipid[1] = (uint16_t)(h1 >> 16);
	f->label = (uint32_t)(h1 >> 32) & 0xfffff;
	f->t0_ns = (uint64_t)((gen_u128)idx * c->dur_ns / c->o->concurrent);
	f->n = o->pkts_per_flow;
}

/* --------------------------------------------------------- packet sizes */

static int
gen_is_ctl(const struct gen_flow *f, uint32_t j)
{
	if (!f->tcp)
		return 0;
	return f->n < 5 || j < 2 || j == f->n - 1;
}

static uint32_t
gen_ctl_len(const struct gen_flow *f)
{
	uint32_t h = gen_hdr_len(f);

	return h > GEN_MIN_FRAME ? h : GEN_MIN_FRAME;
}

static uint32_t
gen_draw_len(const struct gen_ctx *c, const struct gen_flow *f, uint32_t j)
{
	const double *cum = f->tcp ? c->cum_tcp : c->cum_udp;
	double u = gen_unit(gen_mix64(f->h + (uint64_t)(j + 1) * GEN_GOLDEN));
	unsigned i = 0;
	uint32_t len;

	while (i + 1 < c->o->mix.n && u >= cum[i])
		i++;
	len = c->o->mix.size[i];
	return len > gen_ctl_len(f) ? len : gen_ctl_len(f);
}

static uint32_t
gen_frame_len(const struct gen_ctx *c, const struct gen_flow *f, uint32_t j)
{
	if (gen_is_ctl(f, j))
		return gen_ctl_len(f);
	if (f->last_size && j == f->last_j)
		return f->last_size;
	return gen_draw_len(c, f, j);
}

static uint64_t
gen_flow_bytes(const struct gen_ctx *c, const struct gen_flow *f)
{
	uint64_t sum = 0;

	for (uint32_t j = 0; j < f->n; j++)
		sum += gen_frame_len(c, f, j);
	return sum;
}

/*
 * Outlier: add data packets until the flow carries c->target bytes, the
 * last one trimmed so the total lands in [target, target + minimum frame).
 */
static void
gen_outlier_shape(const struct gen_ctx *c, struct gen_flow *f)
{
	uint32_t first = f->tcp ? 2 : 0, min_data = f->tcp ? 3 : 0;
	uint64_t total = f->tcp ? 3ull * gen_ctl_len(f) : 0;

	f->n = UINT32_MAX; /* no packet is the last ACK while sizing */
	for (uint32_t j = first;; j++) {
		uint32_t s = gen_draw_len(c, f, j);

		if (j >= min_data && total + s >= c->target) {
			uint64_t rest = c->target > total ? c->target - total : 0;

			f->last_j = j;
			f->last_size = rest > gen_ctl_len(f) ? (uint32_t)rest : gen_ctl_len(f);
			f->n = f->tcp ? j + 2 : j + 1;
			return;
		}
		total += s;
	}
}

/* Class odds for data packets; TCP's are skewed for its 3 payload-less minimum frames. */
static void
gen_mix_odds(struct gen_ctx *c)
{
	const struct gen_mix *m = &c->o->mix;
	double k = c->o->pkts_per_flow, w[GEN_MIX_MAX], sum = 0, acc = 0;
	unsigned small = 0;

	for (unsigned i = 1; i < m->n; i++)
		small = m->size[i] < m->size[small] ? i : small;
	for (unsigned i = 0; i < m->n; i++) {
		w[i] = m->weight[i] * k - (i == small ? 3 : 0);
		w[i] = w[i] > 0 ? w[i] : 0;
		sum += w[i];
	}
	for (unsigned i = 0; i < m->n; i++) {
		c->cum_udp[i] = (acc += m->weight[i]);
		c->cum_tcp[i] = sum > 0 ? w[i] / sum : m->weight[i];
	}
	for (unsigned i = 1; i < m->n; i++)
		c->cum_tcp[i] += c->cum_tcp[i - 1];
}

/* ----------------------------------------------------------- outliers */

static int
gen_pick_outliers(struct gen_ctx *c)
{
	const struct gen_pcap_opts *o = c->o;
	uint64_t lo = o->flows / 2, range = o->flows - lo, h = gen_mix64(o->seed ^ 0x6f75746c);

	c->outlier_bits = calloc(o->flows / 8 + 1, 1);
	if (c->outlier_bits == NULL)
		return -ENOMEM;
	for (uint64_t picked = 0; picked < o->outliers;) {
		uint64_t i = lo + (h = gen_mix64(h)) % range;

		if (!((c->outlier_bits[i >> 3] >> (i & 7)) & 1)) {
			c->outlier_bits[i >> 3] |= (uint8_t)(1u << (i & 7));
			picked++;
		}
	}
	return 0;
}

static int
gen_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* First pass: the (upper) median byte volume of the normal flows sets the outlier target. */
static int
gen_outlier_target(struct gen_ctx *c)
{
	const struct gen_pcap_opts *o = c->o;
	uint64_t n = 0, *vol = malloc((o->flows - o->outliers) * sizeof(*vol));
	struct gen_flow f;

	if (vol == NULL)
		return -ENOMEM;
	for (uint64_t i = 0; i < o->flows; i++) {
		gen_flow_init(c, i, &f);
		if (!f.outlier)
			vol[n++] = gen_flow_bytes(c, &f);
	}
	qsort(vol, n, sizeof(*vol), gen_cmp_u64);
	c->median = vol[n / 2];
	c->target = (uint64_t)((double)c->median * o->outlier_factor + 0.999999);
	free(vol);
	return 0;
}

static void
gen_fmt_addr(const struct gen_flow *f, int side, char *s, size_t len)
{
	inet_ntop(f->v6 ? AF_INET6 : AF_INET, f->addr[side], s, (socklen_t)len);
}

static int
gen_write_outliers(struct gen_ctx *c)
{
	const struct gen_pcap_opts *o = c->o;
	char path[4096], a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
	struct gen_flow f;
	FILE *fp;

	snprintf(path, sizeof(path), "%s.outliers", o->out);
	fp = fopen(path, "w");
	if (fp == NULL)
		return -errno;
	fprintf(fp,
		"# proto client_ip client_port server_ip server_port packets bytes"
		" (median %" PRIu64 " bytes x factor %g = target %" PRIu64 ")\n",
		c->median, o->outlier_factor, c->target);
	for (uint64_t i = o->flows / 2; i < o->flows; i++) {
		if (!((c->outlier_bits[i >> 3] >> (i & 7)) & 1))
			continue;
		gen_flow_init(c, i, &f);
		gen_outlier_shape(c, &f);
		gen_fmt_addr(&f, 0, a, sizeof(a));
		gen_fmt_addr(&f, 1, b, sizeof(b));
		fprintf(fp, "%s %s %u %s %u %" PRIu32 " %" PRIu64 "\n", f.tcp ? "tcp" : "udp", a,
			f.port[0], b, f.port[1], f.n, gen_flow_bytes(c, &f));
	}
	return fclose(fp) == 0 ? 0 : -errno;
}

/* ---------------------------------------------------------- checksums */

static uint64_t
gen_sum16(const uint8_t *p, size_t n, uint64_t s)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	return s;
}

static uint16_t
gen_fold(uint64_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static void
gen_payload_init(struct gen_ctx *c)
{
	uint64_t h = gen_mix64(c->o->seed ^ 0x7061796c);

	for (size_t i = 0; i < GEN_PAYLOAD_MAX; i++)
		c->payload[i] = (uint8_t)((h = gen_mix64(h)) >> 56);
	c->psum[0] = 0;
	for (size_t n = 1; n <= GEN_PAYLOAD_MAX; n++) {
		uint32_t byte = c->payload[n - 1];

		c->psum[n] = c->psum[n - 1] + ((n & 1) ? byte << 8 : byte);
	}
}

/* ------------------------------------------------------- packet build */

static inline void
gen_put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void
gen_put32(uint8_t *p, uint32_t v)
{
	gen_put16(p, v >> 16);
	gen_put16(p + 2, v);
}

/* TCP flags and direction (0: client to server) of packet j. */
static uint8_t
gen_tcp_flags(const struct gen_flow *f, uint32_t j, int *dir)
{
	static const uint8_t hs[4] = {GEN_F_SYN, GEN_F_SYN | GEN_F_ACK, GEN_F_ACK,
				      GEN_F_RST | GEN_F_ACK};

	*dir = j == 1;
	if (f->n < 5 || j < 2)
		return hs[j];
	if (j == f->n - 1)
		return GEN_F_ACK;
	if (j == f->n - 3)
		return GEN_F_FIN | GEN_F_ACK;
	if (j == f->n - 2) {
		*dir = 1;
		return GEN_F_FIN | GEN_F_ACK;
	}
	*dir = j & 1;
	return GEN_F_ACK;
}

static void
gen_build_eth(uint8_t *p, int dir, int v6)
{
	static const uint8_t mac[2][6] = {{2, 0, 0, 0, 0, 1}, {2, 0, 0, 0, 0, 2}};

	memcpy(p, mac[!dir], 6);
	memcpy(p + 6, mac[dir], 6);
	gen_put16(p + 12, v6 ? 0x86dd : 0x0800);
}

/* IP header; returns the pseudo-header sum for the L4 checksum. */
static uint64_t
gen_build_ip(struct gen_flow *f, int dir, uint32_t l4len, uint8_t *p)
{
	uint8_t proto = f->tcp ? 6 : 17;
	uint64_t ps = proto + l4len;

	if (f->v6) {
		gen_put32(p, 0x60000000u | f->label);
		gen_put16(p + 4, l4len);
		p[6] = proto;
		p[7] = 64;
		memcpy(p + 8, f->addr[dir], 16);
		memcpy(p + 24, f->addr[!dir], 16);
		return gen_sum16(p + 8, 32, ps);
	}
	p[0] = 0x45;
	p[1] = 0;
	gen_put16(p + 2, 20 + l4len);
	gen_put16(p + 4, f->ipid[dir]++);
	gen_put16(p + 6, 0x4000); /* DF */
	p[8] = dir ? 60 : 64;
	p[9] = proto;
	gen_put16(p + 10, 0);
	memcpy(p + 12, f->addr[dir], 4);
	memcpy(p + 16, f->addr[!dir], 4);
	gen_put16(p + 10, gen_fold(gen_sum16(p, 20, 0)));
	return gen_sum16(p + 12, 8, ps);
}

/* L4 header without its checksum; returns the payload length carried. */
static uint32_t
gen_build_l4(struct gen_flow *f, uint32_t j, uint32_t room, uint8_t *p, int *dir)
{
	uint8_t flags = 0;
	uint32_t plen;

	if (!f->tcp) {
		*dir = j & 1;
		gen_put16(p, f->port[*dir]);
		gen_put16(p + 2, f->port[!*dir]);
		gen_put16(p + 4, 8 + room);
		gen_put16(p + 6, 0);
		return room;
	}
	flags = gen_tcp_flags(f, j, dir);
	plen = gen_is_ctl(f, j) ? 0 : room;
	if (plen)
		flags |= GEN_F_PSH;
	gen_put16(p, f->port[*dir]);
	gen_put16(p + 2, f->port[!*dir]);
	gen_put32(p + 4, f->seq[*dir]);
	gen_put32(p + 8, (flags & GEN_F_ACK) ? f->seq[!*dir] : 0);
	p[12] = 5 << 4;
	p[13] = flags;
	gen_put16(p + 14, 64240);
	gen_put32(p + 16, 0); /* checksum, urgent pointer */
	f->seq[*dir] += plen + !!(flags & GEN_F_SYN) + !!(flags & GEN_F_FIN);
	return plen;
}

/* Packet j of f into p (frame bytes, already sized); minimum frames are zero-padded. */
static void
gen_build(struct gen_ctx *c, struct gen_flow *f, uint32_t j, uint32_t frame, uint8_t *p)
{
	uint32_t l3 = f->v6 ? 40 : 20, l4 = f->tcp ? 20 : 8;
	uint8_t *ip = p + GEN_ETH_LEN, *th = ip + l3;
	uint32_t room = frame - gen_hdr_len(f), plen;
	uint64_t sum;
	int dir = 0;

	plen = gen_build_l4(f, j, room, th, &dir);
	gen_build_eth(p, dir, f->v6);
	sum = gen_build_ip(f, dir, l4 + plen, ip);
	memcpy(th + l4, c->payload, plen);
	memset(th + l4 + plen, 0, room - plen);
	sum = gen_sum16(th, l4, sum) + c->psum[plen];
	if (f->tcp) {
		gen_put16(th + 16, gen_fold(sum));
	} else {
		uint16_t ck = gen_fold(sum);

		gen_put16(th + 6, ck ? ck : 0xffff);
	}
}

/* -------------------------------------------------------------- output */

static int
gen_flush(struct gen_ctx *c)
{
	if (c->used && fwrite(c->buf, 1, c->used, c->fp) != c->used)
		return -(errno ? errno : EIO);
	c->used = 0;
	return 0;
}

/* Classic pcap, microseconds, host byte order (readers swap by the magic). */
struct gen_pcap_hdr {
	uint32_t magic;
	uint16_t major, minor;
	int32_t thiszone;
	uint32_t sigfigs, snaplen, linktype;
};

static void
gen_file_header(struct gen_ctx *c)
{
	struct gen_pcap_hdr h = {0xa1b2c3d4u, 2, 4, 0, 0, GEN_SNAPLEN, 1 /* Ethernet */};

	memcpy(c->buf, &h, sizeof(h));
	c->used = sizeof(h);
}

static uint64_t
gen_pkt_time(const struct gen_ctx *c, const struct gen_flow *f, uint32_t j)
{
	if (f->n < 2)
		return f->t0_ns;
	return f->t0_ns + (uint64_t)((gen_u128)c->span_ns * j / (f->n - 1));
}

static int
gen_emit(struct gen_ctx *c, struct gen_flow *f)
{
	uint32_t j = f->next++, frame = gen_frame_len(c, f, j);
	uint64_t t = gen_pkt_time(c, f, j);
	uint32_t rec[4];

	if (c->used + sizeof(rec) + frame > GEN_BUF_SIZE) {
		int rc = gen_flush(c);

		if (rc < 0)
			return rc;
	}
	rec[0] = (uint32_t)(GEN_BASE_SEC + t / GEN_NS);
	rec[1] = (uint32_t)(t % GEN_NS / 1000);
	rec[2] = rec[3] = frame;
	memcpy(c->buf + c->used, rec, sizeof(rec));
	gen_build(c, f, j, frame, c->buf + c->used + sizeof(rec));
	c->used += sizeof(rec) + frame;
	c->packets++;
	c->bytes += frame;
	return 0;
}

/* ---------------------------------------------------------- the merge */

struct gen_heap_ent {
	uint64_t t;
	uint64_t idx;
	uint32_t slot;
};

struct gen_sched {
	struct gen_heap_ent *heap;
	struct gen_flow *flows;
	uint32_t *free_slots;
	uint32_t n_heap, n_free, cap;
};

static int
gen_ent_less(const struct gen_heap_ent *a, const struct gen_heap_ent *b)
{
	return a->t < b->t || (a->t == b->t && a->idx < b->idx);
}

static void
gen_heap_push(struct gen_sched *s, struct gen_heap_ent e)
{
	uint32_t i = s->n_heap++;

	while (i > 0 && gen_ent_less(&e, &s->heap[(i - 1) / 2])) {
		s->heap[i] = s->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	s->heap[i] = e;
}

static void
gen_heap_pop(struct gen_sched *s)
{
	struct gen_heap_ent e = s->heap[--s->n_heap];
	uint32_t i = 0, n = s->n_heap;

	for (;;) {
		uint32_t k = 2 * i + 1;

		if (k >= n)
			break;
		if (k + 1 < n && gen_ent_less(&s->heap[k + 1], &s->heap[k]))
			k++;
		if (!gen_ent_less(&s->heap[k], &e))
			break;
		s->heap[i] = s->heap[k];
		i = k;
	}
	if (n)
		s->heap[i] = e;
}

static int
gen_sched_grow(struct gen_sched *s)
{
	uint32_t cap = s->cap ? s->cap * 2 : 1024;
	void *h = realloc(s->heap, cap * sizeof(*s->heap));

	if (h == NULL)
		return -ENOMEM;
	s->heap = h;
	if ((h = realloc(s->flows, cap * sizeof(*s->flows))) == NULL)
		return -ENOMEM;
	s->flows = h;
	if ((h = realloc(s->free_slots, cap * sizeof(*s->free_slots))) == NULL)
		return -ENOMEM;
	s->free_slots = h;
	for (uint32_t i = cap; i > s->cap; i--)
		s->free_slots[s->n_free++] = i - 1;
	s->cap = cap;
	return 0;
}

static int
gen_admit(struct gen_ctx *c, struct gen_sched *s, uint64_t idx)
{
	struct gen_flow *f;
	uint32_t slot;

	if (s->n_free == 0 && gen_sched_grow(s) < 0)
		return -ENOMEM;
	slot = s->free_slots[--s->n_free];
	f = &s->flows[slot];
	gen_flow_init(c, idx, f);
	if (f->outlier)
		gen_outlier_shape(c, f);
	gen_heap_push(s, (struct gen_heap_ent){f->t0_ns, idx, slot});
	return 0;
}

static int
gen_run(struct gen_ctx *c, struct gen_sched *s)
{
	uint64_t next = 0, flows = c->o->flows, start = 0;
	int rc = 0;

	while (rc == 0 && (next < flows || s->n_heap)) {
		if (next < flows && (s->n_heap == 0 || start <= s->heap[0].t)) {
			start = (uint64_t)((gen_u128)(next + 1) * c->dur_ns / c->o->concurrent);
			rc = gen_admit(c, s, next++);
			continue;
		}
		struct gen_heap_ent e = s->heap[0];
		struct gen_flow *f = &s->flows[e.slot];

		gen_heap_pop(s);
		rc = gen_emit(c, f);
		if (f->next < f->n) {
			e.t = gen_pkt_time(c, f, f->next);
			gen_heap_push(s, e);
		} else {
			s->free_slots[s->n_free++] = e.slot;
		}
	}
	return rc;
}

/* ---------------------------------------------------------------- API */

static int
gen_ctx_init(struct gen_ctx *c, const struct gen_pcap_opts *o)
{
	uint64_t half;

	memset(c, 0, sizeof(*c));
	c->o = o;
	c->dur_ns = (uint64_t)(o->duration * 1e9);
	/* End half a start interval (at most 1 ms) early: flow i is over before flow i + C starts.
	 */
	half = c->dur_ns / o->concurrent / 2;
	c->span_ns = c->dur_ns - (half < 1000000 ? half : 1000000);
	gen_mix_odds(c);
	gen_payload_init(c);
	c->buf = malloc(GEN_BUF_SIZE);
	return c->buf ? 0 : -ENOMEM;
}

static double
gen_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
gen_report(const struct gen_ctx *c, double secs)
{
	const struct gen_pcap_opts *o = c->o;

	if (o->quiet)
		return;
	printf("%s: %" PRIu64 " packets, %" PRIu64 " bytes, %" PRIu64 " flows (%" PRIu64
	       " outliers), %.3f s of traffic, %.0f new flows/s\n",
	       o->out, c->packets, c->bytes, o->flows, o->outliers,
	       (double)((gen_u128)(o->flows - 1) * c->dur_ns / o->concurrent + c->span_ns) / 1e9,
	       (double)o->concurrent / o->duration);
	printf("written in %.3f s: %.2f Mpackets/s\n", secs, (double)c->packets / secs / 1e6);
	if (o->outliers)
		printf("%s.outliers: %" PRIu64 " flows of >= %" PRIu64 " bytes (median %" PRIu64
		       " x %g)\n",
		       o->out, o->outliers, c->target, c->median, o->outlier_factor);
}

static int
gen_prepare_outliers(struct gen_ctx *c)
{
	int rc;

	if (c->o->outliers == 0)
		return 0;
	if ((rc = gen_pick_outliers(c)) < 0 || (rc = gen_outlier_target(c)) < 0)
		return rc;
	return gen_write_outliers(c);
}

int
gen_pcap_write(const struct gen_pcap_opts *o)
{
	struct gen_sched s = {0};
	struct gen_ctx *c = malloc(sizeof(*c));
	double t0 = gen_now();
	int rc = c ? gen_ctx_init(c, o) : -ENOMEM;

	if (rc == 0)
		rc = gen_prepare_outliers(c);
	if (rc == 0 && (c->fp = fopen(o->out, "wb")) == NULL)
		rc = -errno;
	if (rc == 0) {
		gen_file_header(c);
		if ((rc = gen_run(c, &s)) == 0)
			rc = gen_flush(c);
	}
	if (c && c->fp && fclose(c->fp) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0)
		gen_report(c, gen_now() - t0);
	else
		fprintf(stderr, "darter-gen: %s: %s\n", o->out, strerror(-rc));
	free(s.heap);
	free(s.flows);
	free(s.free_slots);
	if (c) {
		free(c->buf);
		free(c->outlier_bits);
	}
	free(c);
	return rc;
}
