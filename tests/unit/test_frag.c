/*
 * test_frag.c: the fragment attribution table through its public API.
 *
 * Fragments are real frames: an Ethernet + IPv4 (or IPv6 with a fragment
 * header) packet built by hand, decoded by decode_packet() into the
 * struct decode_pkt the capture loop would give frag_packet(). Times are
 * packet times in microseconds, chosen by each test.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "decode.h"
#include "frag.h"

#define UDP   17
#define TCP   6
#define ICMP  1
#define SEC   1000000ull
#define FRAME 2048

static void
put16(uint8_t *b, unsigned v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

static void
put32(uint8_t *b, uint32_t v)
{
	put16(b, v >> 16);
	put16(b + 2, v & 0xffff);
}

/* One fragment as the wire has it. */
struct fragment {
	int v;	       /* 4 or 6 */
	uint8_t proto; /* UDP, TCP, ICMP */
	uint32_t id;
	uint32_t off; /* bytes, multiple of 8 */
	int more;
	uint32_t data;	  /* fragment data bytes (the first holds the L4 header) */
	uint8_t src_last; /* last byte of the source address */
};

/* Ethernet + IP + data of f into b; returns the frame length. */
static size_t
frame(uint8_t *b, const struct fragment *f)
{
	size_t ip = 14, l4;

	memset(b, 0, FRAME);
	put16(b + 12, f->v == 6 ? 0x86dd : 0x0800);
	if (f->v == 4) {
		b[ip] = 0x45;
		put16(b + ip + 2, 20 + f->data);
		put16(b + ip + 4, f->id);
		put16(b + ip + 6, (f->more ? 0x2000 : 0) | f->off / 8);
		b[ip + 8] = 64;
		b[ip + 9] = f->proto;
		put32(b + ip + 12, 0xc0000200 | f->src_last);
		put32(b + ip + 16, 0xc6336407);
		l4 = ip + 20;
	} else {
		put32(b + ip, 0x60000000);
		put16(b + ip + 4, 8 + f->data);
		b[ip + 6] = 44;
		b[ip + 7] = 64;
		b[ip + 8] = 0x20;
		b[ip + 9] = 0x01;
		b[ip + 23] = f->src_last;
		b[ip + 24] = 0x20;
		b[ip + 25] = 0x01;
		b[ip + 39] = 0xef;
		b[ip + 40] = f->proto;
		put16(b + ip + 42, f->off | (f->more ? 1 : 0));
		put32(b + ip + 44, f->id);
		l4 = ip + 48;
	}
	for (uint32_t i = 0; i < f->data; i++)
		b[l4 + i] = (uint8_t)(0x30 + i);
	if (f->off == 0 && f->data >= 8) {
		put16(b + l4, 40000);
		put16(b + l4 + 2, f->proto == TCP ? 443 : 53);
		if (f->proto == UDP)
			put16(b + l4 + 4, 8 + 3000);
		if (f->proto == TCP && f->data >= 20) {
			b[l4 + 12] = 0x50;
			b[l4 + 13] = 0x18;
		}
	}
	return l4 + f->data;
}

/* Decode f into *p (must be a fragment) and hand it to the table. */
static enum frag_verdict
feed(struct frag_table *t, const struct fragment *f, struct decode_pkt *p, uint64_t ts,
     uint32_t *len)
{
	static uint8_t b[FRAME];
	struct decode_stats st;
	size_t n = frame(b, f);

	memset(&st, 0, sizeof(st));
	assert_int_equal(decode_packet(p, DECODE_LINK_ETHERNET, b, (uint32_t)n, &st), DECODE_FRAG);
	if (len != NULL)
		*len = (uint32_t)n;
	return frag_packet(t, p, (uint32_t)n, ts);
}

static struct frag_table *
table(uint32_t max, uint64_t timeout_us)
{
	struct frag_table *t = frag_new(&(struct frag_conf){max, timeout_us});

	assert_non_null(t);
	return t;
}

/* A 3000-byte UDP datagram in three fragments (1480, 1480, 48 data bytes; 8-byte UDP). */
static void
datagram(struct fragment f[3], int v, uint32_t id)
{
	for (int i = 0; i < 3; i++)
		f[i] = (struct fragment){.v = v,
					 .proto = UDP,
					 .id = id,
					 .off = 1480u * (unsigned)i,
					 .more = i < 2,
					 .data = i < 2 ? 1480 : 48,
					 .src_last = 1};
}

/* ------------------------------------------------------------------ */

static void
test_conf(void **state)
{
	(void)state;
	errno = 0;
	assert_null(frag_new(&(struct frag_conf){0, SEC}));
	assert_int_equal(errno, EINVAL);
	assert_null(frag_new(&(struct frag_conf){16, 0}));
	assert_int_equal(errno, EINVAL);
	assert_null(frag_new(NULL));
	frag_free(NULL);
	frag_free(table(1, 1));
	frag_free(table(1000, SEC)); /* not a power of two: fine */
}

static void
in_order(int v)
{
	struct frag_table *t = table(16, 30 * SEC);
	struct fragment f[3];
	struct decode_pkt p;
	struct frag_held held[FRAG_HELD_MAX];

	datagram(f, v, 0x4242);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(feed(t, &f[i], &p, SEC + (uint64_t)i, NULL), FRAG_FLOW);
		assert_int_equal(p.sport, 40000);
		assert_int_equal(p.dport, 53);
		assert_int_equal(p.proto, UDP);
		assert_int_equal(p.ip_version, v);
		assert_int_equal(frag_take_held(t, &p, held), 0);
		if (i > 0) {
			assert_int_equal(p.payload_len, 0); /* not L4 payload */
			assert_int_equal(p.tcp_flags, 0);
		}
	}
	assert_int_equal(frag_stats(t)->fragments, 3);
	assert_int_equal(frag_stats(t)->first, 1);
	assert_int_equal(frag_stats(t)->attributed, 2);
	assert_int_equal(frag_stats(t)->completed, 1);
	assert_int_equal(frag_stats(t)->active, 0);
	assert_int_equal(frag_stats(t)->unattributed + frag_stats(t)->held, 0);
	frag_free(t);
}

static void
test_in_order(void **state)
{
	(void)state;
	in_order(4);
	in_order(6);
}

/* Last, middle, then first: held, then released with their lengths and times. */
static void
out_of_order(int v)
{
	struct frag_table *t = table(16, 30 * SEC);
	struct fragment f[3];
	struct decode_pkt p;
	struct frag_held held[FRAG_HELD_MAX];
	uint32_t len[3];

	datagram(f, v, 7);
	assert_int_equal(feed(t, &f[2], &p, 100, &len[2]), FRAG_HELD);
	assert_int_equal(feed(t, &f[1], &p, 101, &len[1]), FRAG_HELD);
	assert_int_equal(frag_stats(t)->held, 2);
	assert_int_equal(frag_stats(t)->active, 1);
	assert_int_equal(feed(t, &f[0], &p, 102, &len[0]), FRAG_FLOW);
	assert_int_equal(p.sport, 40000);
	assert_int_equal(p.dport, 53);
	assert_true(p.payload_len > 0);
	assert_int_equal(frag_take_held(t, &p, held), 2);
	assert_int_equal(held[0].frame_len, len[2]);
	assert_int_equal(held[0].ts_us, 100);
	assert_int_equal(held[1].frame_len, len[1]);
	assert_int_equal(held[1].ts_us, 101);
	assert_int_equal(p.sport, 40000); /* still the flow's key, as a non-first fragment */
	assert_int_equal(p.payload_len, 0);
	assert_int_equal(frag_take_held(t, &p, held), 0); /* once */
	assert_int_equal(frag_stats(t)->attributed, 2);
	assert_int_equal(frag_stats(t)->completed, 1);
	assert_int_equal(frag_stats(t)->active, 0);
	assert_int_equal(frag_stats(t)->unattributed, 0);
	frag_free(t);
}

static void
test_out_of_order(void **state)
{
	(void)state;
	out_of_order(4);
	out_of_order(6);
}

/* Overlapping and repeated fragments: attributed, repeats counted, entry freed at the end. */
static void
test_overlap(void **state)
{
	struct frag_table *t = table(16, 30 * SEC);
	struct fragment f[3], mid;
	struct decode_pkt p;

	(void)state;
	datagram(f, 4, 99);
	assert_int_equal(feed(t, &f[0], &p, 1, NULL), FRAG_FLOW);
	assert_int_equal(feed(t, &f[0], &p, 2, NULL), FRAG_FLOW); /* the first again */
	mid = f[1];
	mid.off = 1000; /* overlaps both neighbours */
	mid.data = 600;
	assert_int_equal(feed(t, &mid, &p, 3, NULL), FRAG_FLOW);
	assert_int_equal(p.dport, 53);
	assert_int_equal(feed(t, &f[2], &p, 4, NULL), FRAG_FLOW);
	assert_int_equal(frag_stats(t)->duplicates, 1);
	/* 1480 * 2 + 600 + 48 >= 3008: complete by count, freed */
	assert_int_equal(frag_stats(t)->completed, 1);
	assert_int_equal(frag_stats(t)->active, 0);
	/* a late copy of the middle finds nothing: held, then expired unattributed */
	assert_int_equal(feed(t, &f[1], &p, 5, NULL), FRAG_HELD);
	assert_int_equal(frag_expire(t, 60 * SEC, 16), 1);
	assert_int_equal(frag_stats(t)->unattributed, 1);
	assert_int_equal(frag_stats(t)->expired, 1);
	frag_free(t);
}

/* Datagrams are told apart by id, addresses and protocol. */
static void
test_keys(void **state)
{
	struct frag_table *t = table(16, 30 * SEC);
	struct fragment a = {
		.v = 4, .proto = UDP, .id = 5, .off = 0, .more = 1, .data = 64, .src_last = 1};
	struct fragment b = a, c = a, tcp = a;
	struct decode_pkt p;

	(void)state;
	b.src_last = 2;
	c.id = 6;
	tcp.proto = TCP;
	assert_int_equal(feed(t, &a, &p, 1, NULL), FRAG_FLOW);
	assert_int_equal(feed(t, &tcp, &p, 1, NULL), FRAG_FLOW);
	assert_int_equal(p.dport, 443);
	assert_int_equal(p.tcp_flags, 0x18);
	a.off = b.off = c.off = tcp.off = 64;
	assert_int_equal(feed(t, &b, &p, 2, NULL), FRAG_HELD);
	assert_int_equal(feed(t, &c, &p, 2, NULL), FRAG_HELD);
	assert_int_equal(feed(t, &a, &p, 2, NULL), FRAG_FLOW);
	assert_int_equal(p.dport, 53);
	assert_int_equal(feed(t, &tcp, &p, 2, NULL), FRAG_FLOW);
	assert_int_equal(p.dport, 443);
	assert_int_equal(p.tcp_flags, 0);
	assert_int_equal(frag_stats(t)->active, 4);
	frag_free(t);
}

/* Protocols without ports need no table; a TCP/UDP first fragment without ports is dropped. */
static void
test_portless(void **state)
{
	struct frag_table *t = table(4, SEC);
	struct fragment icmp = {.v = 4, .proto = ICMP, .id = 1, .off = 800, .data = 40};
	struct fragment tiny = {.v = 6, .proto = UDP, .id = 2, .off = 0, .more = 1, .data = 2};
	struct decode_pkt p;

	(void)state;
	assert_int_equal(feed(t, &icmp, &p, 1, NULL), FRAG_FLOW);
	assert_int_equal(p.sport + p.dport, 0);
	assert_int_equal(frag_stats(t)->portless, 1);
	assert_int_equal(feed(t, &tiny, &p, 1, NULL), FRAG_DROP);
	assert_int_equal(frag_stats(t)->no_ports, 1);
	assert_int_equal(frag_stats(t)->active, 0);
	frag_free(t);
}

/* More non-first fragments before the first than can be held: the rest dropped, counted. */
static void
test_held_overflow(void **state)
{
	struct frag_table *t = table(4, SEC);
	struct fragment f = {.v = 4, .proto = UDP, .id = 3, .more = 1, .data = 64, .src_last = 1};
	struct decode_pkt p;
	struct frag_held held[FRAG_HELD_MAX];

	(void)state;
	for (int i = 1; i <= FRAG_HELD_MAX + 2; i++) {
		f.off = 64u * (unsigned)i;
		assert_int_equal(feed(t, &f, &p, 10, NULL),
				 i <= FRAG_HELD_MAX ? FRAG_HELD : FRAG_DROP);
	}
	assert_int_equal(frag_stats(t)->held, FRAG_HELD_MAX);
	assert_int_equal(frag_stats(t)->unattributed, 2);
	f.off = 0;
	assert_int_equal(feed(t, &f, &p, 11, NULL), FRAG_FLOW);
	assert_int_equal(frag_take_held(t, &p, held), FRAG_HELD_MAX);
	assert_int_equal(frag_stats(t)->attributed, FRAG_HELD_MAX);
	frag_free(t);
}

/* Packet time decides: a fragment after the timeout starts over. */
static void
test_timeout(void **state)
{
	struct frag_table *t = table(8, 2 * SEC);
	struct fragment f[3];
	struct decode_pkt p;

	(void)state;
	datagram(f, 6, 77);
	assert_int_equal(feed(t, &f[0], &p, 10 * SEC, NULL), FRAG_FLOW);
	assert_int_equal(feed(t, &f[1], &p, 12 * SEC, NULL), FRAG_FLOW); /* exactly 2 s: alive */
	assert_int_equal(feed(t, &f[2], &p, 12 * SEC + 1, NULL), FRAG_HELD);
	assert_int_equal(frag_stats(t)->expired, 1);
	assert_int_equal(frag_expire(t, 13 * SEC, 8), 0);
	assert_int_equal(frag_expire(t, 15 * SEC, 8), 1);
	assert_int_equal(frag_stats(t)->unattributed, 1);
	assert_int_equal(frag_stats(t)->active, 0);
	frag_free(t);
}

/*
 * A flood of non-first fragments with random ids: the table never holds
 * more than its entries, every reclaimed live entry is an eviction and
 * every fragment lost with it is counted; a real datagram in the middle of
 * the flood still works when its fragments are close together.
 */
static void
test_flood(void **state)
{
	enum { MAX = 64, N = 20000 };
	struct frag_table *t = table(MAX, 30 * SEC);
	struct fragment f = {.v = 4, .proto = UDP, .off = 8, .more = 1, .data = 16, .src_last = 9};
	struct fragment real[3];
	struct decode_pkt p;
	uint64_t x = 0x9e3779b97f4a7c15ull;

	(void)state;
	for (int i = 0; i < N; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		f.id = (uint32_t)x;
		f.v = x >> 20 & 1 ? 6 : 4;
		if (f.v == 4)
			f.id &= 0xffff;
		assert_int_not_equal(feed(t, &f, &p, SEC + (uint64_t)i, NULL), FRAG_FLOW);
		assert_true(frag_stats(t)->active <= MAX);
		if (i == N / 2) {
			datagram(real, 4, 0xbeef);
			assert_int_equal(feed(t, &real[0], &p, SEC + (uint64_t)i, NULL), FRAG_FLOW);
			assert_int_equal(feed(t, &real[1], &p, SEC + (uint64_t)i, NULL), FRAG_FLOW);
			assert_int_equal(p.dport, 53);
			assert_int_equal(feed(t, &real[2], &p, SEC + (uint64_t)i, NULL), FRAG_FLOW);
			assert_int_equal(frag_stats(t)->completed, 1);
		}
	}
	const struct frag_stats *s = frag_stats(t);
	/* a few random ids repeat within the window: their fragment joins the live entry */
	assert_int_equal(s->fragments, N + 3);
	assert_int_equal(s->active, MAX);
	assert_true(s->evicted >= N - MAX - 100);
	assert_true(s->evicted <= N);
	/* every flood fragment is unattributed or still held in a live entry */
	assert_true(s->unattributed >= N - MAX * FRAG_HELD_MAX);
	assert_true(s->unattributed < N);
	/* the sweep empties it later: then every flood fragment is counted as lost */
	assert_int_equal(frag_expire(t, 1000 * SEC, MAX), MAX);
	assert_int_equal(s->active, 0);
	assert_int_equal(s->unattributed, N);
	assert_int_equal(s->attributed, 2);
	print_message("# flood: %llu fragments, %llu evicted, %llu unattributed, table %d\n",
		      (unsigned long long)s->fragments, (unsigned long long)s->evicted,
		      (unsigned long long)s->unattributed, MAX);
	frag_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conf),	      cmocka_unit_test(test_in_order),
		cmocka_unit_test(test_out_of_order),  cmocka_unit_test(test_overlap),
		cmocka_unit_test(test_keys),	      cmocka_unit_test(test_portless),
		cmocka_unit_test(test_held_overflow), cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_flood),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
