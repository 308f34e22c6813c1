/*
 * test_multicore.c: several capture lcores give the same records as one,
 * and records reach the worker the routing hook names.
 *
 * The test writes a capture of its own (IPv4 and IPv6, TCP and UDP, VLAN
 * tags, both directions, flows that time out and come back), then runs
 * the real capture (capture_new/capture_run over net_pcap, EAL started
 * --no-huge --no-pci --no-shconf by port.c) in a child process per
 * configuration, since EAL starts once per process. Worker threads in the
 * child drain the handoff as the engine's do, check each record's worker
 * against the routing rule, and the child writes what it saw to a file
 * the parent compares. The spread hash is also tested alone (symmetry,
 * balance).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <rte_thash.h>

#include "capture.h"

#define N_FLOWS	   300	/* flows in the first round */
#define PKTS_EACH  6	/* packets per flow, alternating directions */
#define RETURNERS  10	/* every 10th flow comes back after the gap */
#define GAP_S	   1000 /* longer than every timeout: the first round ends as timeouts */
#define MAX_WORKER 4
#define MAX_LINE   512

static char pcap_path[64];

/* ---------------------------------------------------------- the capture */

struct pcap_writer {
	FILE *f;
	uint64_t ts_us;
};

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* One frame of flow i; dir 0 client->server. Returns the frame length. */
static size_t
frame_build(uint8_t *f, unsigned i, int dir, int last)
{
	int v6 = i % 3 == 2, udp = i % 2 == 1, vlan = i % 5 == 4;
	uint8_t a[16] = {0}, b[16] = {0};
	uint16_t pa = (uint16_t)(10000 + i), pb = (uint16_t)(i % 4 == 0 ? 443 : 53);
	size_t l3, l4, n = 12;
	unsigned alen = v6 ? 16 : 4;

	memset(f, 0, 128);
	f[0] = 0x02, f[6] = 0x02, f[5] = (uint8_t)dir, f[11] = (uint8_t)!dir;
	if (vlan) {
		put16(f + n, 0x8100);
		put16(f + n + 2, (uint16_t)(100 + i % 7));
		n += 4;
	}
	put16(f + n, v6 ? 0x86dd : 0x0800);
	l3 = n + 2;
	a[0] = v6 ? 0x20 : 10, a[alen - 2] = (uint8_t)(i >> 8), a[alen - 1] = (uint8_t)i;
	b[0] = v6 ? 0x20 : 192, b[1] = 1, b[alen - 1] = (uint8_t)(1 + i % 13);
	if (v6) {
		f[l3] = 0x60;
		put16(f + l3 + 4, (uint16_t)((udp ? 8 : 20) + 10));
		f[l3 + 6] = udp ? 17 : 6;
		f[l3 + 7] = 64;
		memcpy(f + l3 + 8, dir ? b : a, 16);
		memcpy(f + l3 + 24, dir ? a : b, 16);
		l4 = l3 + 40;
	} else {
		f[l3] = 0x45;
		put16(f + l3 + 2, (uint16_t)(20 + (udp ? 8 : 20) + 10));
		f[l3 + 8] = 64;
		f[l3 + 9] = udp ? 17 : 6;
		memcpy(f + l3 + 12, dir ? b : a, 4);
		memcpy(f + l3 + 16, dir ? a : b, 4);
		l4 = l3 + 20;
	}
	put16(f + l4, dir ? pb : pa);
	put16(f + l4 + 2, dir ? pa : pb);
	if (udp) {
		put16(f + l4 + 4, 18);
		return l4 + 18;
	}
	f[l4 + 12] = 0x50;
	f[l4 + 13] = (uint8_t)(last ? 0x11 : 0x18); /* FIN|ACK at the end, else PSH|ACK */
	return l4 + 30;
}

static void
pcap_put(struct pcap_writer *w, const uint8_t *f, size_t len)
{
	uint32_t h[4] = {(uint32_t)(w->ts_us / 1000000u), (uint32_t)(w->ts_us % 1000000u),
			 (uint32_t)len, (uint32_t)len};

	fwrite(h, sizeof(h), 1, w->f);
	fwrite(f, len, 1, w->f);
	w->ts_us += 1000;
}

/* One round: every flow's packets interleaved, both directions. */
static void
pcap_round(struct pcap_writer *w, unsigned step)
{
	uint8_t f[128];

	for (unsigned k = 0; k < PKTS_EACH; k++) {
		for (unsigned i = 0; i < N_FLOWS; i += step)
			pcap_put(w, f, frame_build(f, i, (int)(k & 1), k + 1 == PKTS_EACH));
	}
}

static int
pcap_write(const char *path)
{
	static const uint32_t hdr[6] = {0xa1b2c3d4, 0x00040002, 0, 0, 65535, 1};
	struct pcap_writer w = {.f = fopen(path, "wb"), .ts_us = 1700000000000000ull};

	if (w.f == NULL)
		return -errno;
	fwrite(hdr, sizeof(hdr), 1, w.f);
	pcap_round(&w, 1);
	w.ts_us += (uint64_t)GAP_S * 1000000u;
	pcap_round(&w, RETURNERS);
	return fclose(w.f) == 0 ? 0 : -errno;
}

/* ------------------------------------------------- a run, in a child */

struct run_conf {
	unsigned n_lcores;
	unsigned n_workers;
	uint32_t spread_ring;
	int route; /* use route_by_port() */
};

struct route_arg {
	uint32_t magic;
	atomic_ulong calls;
};

#define ROUTE_MAGIC 0x5eedf00du

static uint64_t
route_by_port(void *arg, const struct flow_record *rec)
{
	struct route_arg *ra = arg;

	if (ra->magic != ROUTE_MAGIC)
		abort();
	atomic_fetch_add(&ra->calls, 1);
	return (uint64_t)rec->src_port * 31u + rec->dst_port;
}

struct child_worker {
	struct handoff *h;
	const struct run_conf *rc;
	unsigned w;
	unsigned long got;
	unsigned long misrouted;
	unsigned long per_lcore[2];
	FILE *out; /* open_memstream: one line per record */
	char *buf;
	size_t len;
};

/* The record without darter.lcore (and without nDPI's answer). */
static void
record_line(FILE *out, const struct flow_record *r)
{
	char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
	int af = r->ip_version == 6 ? AF_INET6 : AF_INET;

	inet_ntop(af, r->src_ip, a, sizeof(a));
	inet_ntop(af, r->dst_ip, b, sizeof(b));
	fprintf(out,
		"rec %" PRIu64 " %" PRIu64 " %" PRIu64 " %s %u %s %u p%u v%u/%u %" PRIu64
		"/%" PRIu64 " %" PRIu64 "/%" PRIu64 " st%u r%u f%x/%x t%u\n",
		r->flow_id, r->start_us, r->end_us, a, r->src_port, b, r->dst_port, r->proto,
		r->vlan[0], r->vlan[1], r->pkts_toserver, r->pkts_toclient, r->bytes_toserver,
		r->bytes_toclient, r->state, r->reason, r->tcp_flags_ts, r->tcp_flags_tc,
		r->tcp_state);
}

static void *
child_worker_main(void *arg)
{
	struct child_worker *cw = arg;
	struct flow_record *recs[64];
	cpu_set_t all;

	/* Threads made after EAL init inherit lcore 0's CPU: give them every CPU back. */
	CPU_ZERO(&all);
	for (int i = 0; i < CPU_SETSIZE; i++)
		CPU_SET(i, &all);
	pthread_setaffinity_np(pthread_self(), sizeof(all), &all);
	if (handoff_thread_register() < 0)
		abort();
	while (!handoff_finished(cw->h, cw->w)) {
		unsigned n = handoff_dequeue(cw->h, cw->w, recs, 64);

		for (unsigned i = 0; i < n; i++) {
			const struct flow_record *r = recs[i];
			uint64_t key = cw->rc->route ? (uint64_t)r->src_port * 31u + r->dst_port
						     : r->flow_id;

			cw->misrouted += key % cw->rc->n_workers != cw->w;
			cw->per_lcore[r->lcore != 0]++;
			record_line(cw->out, r);
		}
		cw->got += n;
		handoff_release(cw->h, recs, n);
		if (n == 0)
			usleep(20);
	}
	handoff_thread_unregister();
	return NULL;
}

static struct capture *
child_capture(const struct run_conf *rc, struct route_arg *ra)
{
	static const unsigned cpus[] = {0, 1};
	static const char *ports[1];
	static char vdev[128];
	struct capture_conf cc;
	struct capture *c;
	char err[256];

	snprintf(vdev, sizeof(vdev), "net_pcap0,rx_pcap=%s", pcap_path);
	ports[0] = vdev;
	memset(&cc, 0, sizeof(cc));
	cc.eal = (struct port_eal_conf){.memory_mb = 256,
					.cpus = cpus,
					.n_cpus = rc->n_lcores,
					.ports = ports,
					.n_ports = 1};
	cc.burst = 32;
	cc.rx_desc = 1024;
	cc.mbufs = 4095;
	cc.ring_size = 1024;
	cc.n_workers = rc->n_workers;
	flow_conf_defaults(&cc.flow);
	cc.flow.max_flows = 4096;
	cc.flow.hash_size = 4096;
	cc.link = DECODE_LINK_ETHERNET;
	cc.offline = 1;
	cc.spread_ring = rc->spread_ring;
	if (rc->route) {
		cc.route = route_by_port;
		cc.route_arg = ra;
	}
	c = capture_new(&cc, err, sizeof(err));
	if (c == NULL)
		fprintf(stderr, "capture_new: %s\n", err);
	return c;
}

/* Run the capture; write "stats ..." then the sorted-later record lines to out. */
static int
child_run(const struct run_conf *rc, FILE *out)
{
	struct route_arg ra = {.magic = ROUTE_MAGIC};
	struct child_worker cw[MAX_WORKER];
	pthread_t t[MAX_WORKER];
	struct capture_stats st;
	unsigned long mis = 0, lc[2] = {0, 0};
	struct capture *c = child_capture(rc, &ra);

	if (c == NULL)
		return 1;
	for (unsigned w = 0; w < rc->n_workers; w++) {
		cw[w] = (struct child_worker){.h = capture_handoff(c), .rc = rc, .w = w};
		cw[w].out = open_memstream(&cw[w].buf, &cw[w].len);
		if (cw[w].out == NULL || pthread_create(&t[w], NULL, child_worker_main, &cw[w]))
			return 1;
	}
	if (capture_run(c) < 0)
		return 1;
	for (unsigned w = 0; w < rc->n_workers; w++)
		pthread_join(t[w], NULL);
	capture_stats_get(c, &st);
	for (unsigned w = 0; w < rc->n_workers; w++) {
		mis += cw[w].misrouted;
		lc[0] += cw[w].per_lcore[0];
		lc[1] += cw[w].per_lcore[1];
	}
	fprintf(out,
		"stats %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %lu %lu %lu %lu",
		st.decode.pkts, st.spread.passed, st.spread.received, st.spread.ring_full,
		st.spread.paused, mis, (unsigned long)atomic_load(&ra.calls), lc[0], lc[1]);
	for (unsigned w = 0; w < rc->n_workers; w++)
		fprintf(out, " %lu", cw[w].got);
	fputc('\n', out);
	for (unsigned w = 0; w < rc->n_workers; w++) {
		fclose(cw[w].out);
		fwrite(cw[w].buf, 1, cw[w].len, out);
		free(cw[w].buf);
	}
	capture_free(c);
	return 0;
}

/* ------------------------------------------------- results, in the parent */

struct run_result {
	uint64_t pkts, passed, received, ring_full, paused;
	unsigned long misrouted, route_calls, lcore[2], worker[MAX_WORKER];
	char **lines; /* record lines, sorted */
	size_t n_lines;
};

static int
line_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
result_read(FILE *f, unsigned n_workers, struct run_result *r)
{
	char line[MAX_LINE];

	memset(r, 0, sizeof(*r));
	if (fscanf(f,
		   "stats %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
		   " %lu %lu %lu %lu",
		   &r->pkts, &r->passed, &r->received, &r->ring_full, &r->paused, &r->misrouted,
		   &r->route_calls, &r->lcore[0], &r->lcore[1]) != 9)
		return -1;
	for (unsigned w = 0; w < n_workers; w++) {
		if (fscanf(f, " %lu", &r->worker[w]) != 1)
			return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "rec ", 4) != 0)
			continue;
		r->lines = realloc(r->lines, sizeof(*r->lines) * (r->n_lines + 1));
		r->lines[r->n_lines++] = strdup(line);
	}
	qsort(r->lines, r->n_lines, sizeof(*r->lines), line_cmp);
	return 0;
}

static void
result_free(struct run_result *r)
{
	for (size_t i = 0; i < r->n_lines; i++)
		free(r->lines[i]);
	free(r->lines);
}

/* Fork, run rc in the child, read its results. */
static void
run(const struct run_conf *rc, struct run_result *r)
{
	FILE *f = tmpfile();
	pid_t pid;
	int status;

	assert_non_null(f);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int ret = child_run(rc, f);

		fflush(f);
		_exit(ret);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	rewind(f);
	assert_int_equal(result_read(f, rc->n_workers, r), 0);
	fclose(f);
}

static void
assert_same_records(const struct run_result *a, const struct run_result *b)
{
	assert_int_equal(a->n_lines, b->n_lines);
	for (size_t i = 0; i < a->n_lines; i++)
		assert_string_equal(a->lines[i], b->lines[i]);
}

/* --------------------------------------------------------------- tests */

/* Both directions of a flow, and only they, share a hash. */
static void
test_spread_hash_symmetric(void **state)
{
	unsigned buckets[4] = {0};
	unsigned seed = 1;

	(void)state;
	for (unsigned i = 0; i < 40000; i++) {
		struct decode_pkt p, q;

		memset(&p, 0, sizeof(p));
		p.ip_version = (uint8_t)(i % 2 ? 6 : 4);
		for (unsigned k = 0; k < (p.ip_version == 6 ? 16u : 4u); k++) {
			p.src[k] = (uint8_t)rand_r(&seed);
			p.dst[k] = (uint8_t)rand_r(&seed);
		}
		p.sport = (uint16_t)rand_r(&seed);
		p.dport = (uint16_t)rand_r(&seed);
		p.proto = (uint8_t)(i % 3 ? 6 : 17);
		p.vlan[0] = (uint16_t)(i % 7);
		q = p;
		memcpy(q.src, p.dst, 16);
		memcpy(q.dst, p.src, 16);
		q.sport = p.dport;
		q.dport = p.sport;
		q.tcp_flags = 0x12; /* not part of the key */
		assert_int_equal(capture_spread_hash(&p), capture_spread_hash(&q));
		q.dport ^= 1;
		assert_int_not_equal(capture_spread_hash(&p), capture_spread_hash(&q));
		buckets[capture_spread_hash(&p) % 4]++;
	}
	for (unsigned b = 0; b < 4; b++)
		assert_in_range(buckets[b], 9000, 11000); /* 10000 each, give or take */
}

/*
 * The RSS key port.c gives NICs (40 or 52 bytes, as the PMD says): the
 * Toeplitz hash of (src, dst, ports) equals that of the swapped tuple, for
 * IPv4 (3 words) and IPv6 (9 words, the most a 40-byte key covers), and
 * it still spreads.
 */
static void
test_rss_key_symmetric(void **state)
{
	uint8_t key[52], key40[40];
	unsigned low_bit[2] = {0, 0};
	unsigned seed = 7;

	(void)state;
	memset(key40, 0, sizeof(key40));
	port_rss_key(key, sizeof(key));
	port_rss_key(key40, sizeof(key40));
	for (unsigned i = 0; i < 52; i++)
		assert_int_equal(key[i], i % 2 ? 0x5a : 0x6d);
	assert_memory_equal(key, key40, sizeof(key40));
	for (unsigned i = 0; i < 10000; i++) {
		uint32_t t[9], u[9];
		unsigned words = i % 2 ? 9 : 3, half = (words - 1) / 2;

		for (unsigned w = 0; w < words; w++)
			t[w] = (uint32_t)rand_r(&seed) ^ (uint32_t)rand_r(&seed) << 16;
		for (unsigned w = 0; w < half; w++) {
			u[w] = t[half + w];
			u[half + w] = t[w];
		}
		u[words - 1] = t[words - 1] << 16 | t[words - 1] >> 16; /* ports swapped */
		assert_int_equal(rte_softrss(t, words, key40), rte_softrss(u, words, key40));
		low_bit[rte_softrss(t, words, key40) & 1]++;
	}
	assert_in_range(low_bit[0], 4500, 5500);
}

/* 1 lcore, 2 lcores, 2 lcores with a tiny spread ring: the same records. */
static void
test_spread_same_records(void **state)
{
	struct run_conf one = {.n_lcores = 1, .n_workers = 2};
	struct run_conf two = {.n_lcores = 2, .n_workers = 2};
	struct run_conf tiny = {.n_lcores = 2, .n_workers = 2, .spread_ring = 32};
	struct run_result r1, r2, r3;
	const unsigned long want = N_FLOWS + N_FLOWS / RETURNERS;

	(void)state;
	run(&one, &r1);
	run(&two, &r2);
	run(&tiny, &r3);
	print_message("# records %zu; 2 lcores: %lu + %lu, passed %" PRIu64
		      "; tiny ring: paused %" PRIu64 "\n",
		      r2.n_lines, r2.lcore[0], r2.lcore[1], r2.passed, r3.paused);
	assert_int_equal(r1.n_lines, want);
	assert_same_records(&r1, &r2);
	assert_same_records(&r1, &r3);
	assert_int_equal(r1.pkts, r2.pkts);
	assert_int_equal(r1.pkts, r3.pkts);
	assert_int_equal(r1.lcore[1], 0);
	assert_in_range(r2.lcore[0], want / 4, want * 3 / 4); /* both lcores have flows */
	assert_int_equal(r2.lcore[0] + r2.lcore[1], want);
	assert_true(r2.passed > 0);
	assert_int_equal(r2.passed, r2.received);
	assert_int_equal(r2.ring_full, 0);
	assert_int_equal(r3.passed, r3.received);
	assert_int_equal(r3.ring_full, 0); /* offline waits instead of dropping */
	result_free(&r1);
	result_free(&r2);
	result_free(&r3);
}

/* Every flow is one record holding both directions, timed out or shut down. */
static void
test_spread_both_directions(void **state)
{
	struct run_conf two = {.n_lcores = 2, .n_workers = 1};
	struct run_result r;
	unsigned timeouts = 0, shutdowns = 0;

	(void)state;
	run(&two, &r);
	assert_int_equal(r.n_lines, N_FLOWS + N_FLOWS / RETURNERS);
	for (size_t i = 0; i < r.n_lines; i++) {
		unsigned ts, tc, st, reason;
		char *p = strstr(r.lines[i], " v");

		assert_non_null(p);
		assert_int_equal(
			sscanf(p, " v%*u/%*u %u/%u %*u/%*u st%u r%u", &ts, &tc, &st, &reason), 4);
		assert_int_equal(ts, PKTS_EACH / 2);
		assert_int_equal(tc, PKTS_EACH / 2);
		timeouts += reason == FLOW_RECORD_REASON_TIMEOUT;
		shutdowns += reason == FLOW_RECORD_REASON_SHUTDOWN;
	}
	assert_int_equal(timeouts, N_FLOWS);
	assert_int_equal(shutdowns, N_FLOWS / RETURNERS);
	result_free(&r);
}

/* With a hook, worker = route(rec) % n_workers, and the hook gets its arg. */
static void
test_route_hook(void **state)
{
	struct run_conf rc = {.n_lcores = 2, .n_workers = 3, .route = 1};
	struct run_result r;

	(void)state;
	run(&rc, &r);
	assert_int_equal(r.n_lines, N_FLOWS + N_FLOWS / RETURNERS);
	assert_int_equal(r.misrouted, 0);
	assert_int_equal(r.route_calls, r.n_lines);
	for (unsigned w = 0; w < 3; w++)
		assert_true(r.worker[w] > 0);
	result_free(&r);
}

/* Without one, worker = flow_id % n_workers, as before. */
static void
test_route_default(void **state)
{
	struct run_conf rc = {.n_lcores = 2, .n_workers = 3};
	struct run_result r;

	(void)state;
	run(&rc, &r);
	assert_int_equal(r.n_lines, N_FLOWS + N_FLOWS / RETURNERS);
	assert_int_equal(r.misrouted, 0);
	assert_int_equal(r.route_calls, 0);
	result_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spread_hash_symmetric),
		cmocka_unit_test(test_rss_key_symmetric),
		cmocka_unit_test(test_spread_same_records),
		cmocka_unit_test(test_spread_both_directions),
		cmocka_unit_test(test_route_hook),
		cmocka_unit_test(test_route_default),
	};
	int rc;

	snprintf(pcap_path, sizeof(pcap_path), "/tmp/darter-multicore-%d.pcap", (int)getpid());
	if (pcap_write(pcap_path) < 0) {
		fprintf(stderr, "cannot write %s\n", pcap_path);
		return 1;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	unlink(pcap_path);
	return rc;
}
