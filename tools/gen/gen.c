/*
 * gen.c: darter-gen's command line.
 *
 * Two modes. `pcap` writes synthetic flows to a classic pcap (gen_pcap.c:
 * flows, packets per flow, size mix, concurrency, outliers, a seed). `send`
 * replays a pcap at full speed or a set rate into a DPDK vdev
 * (gen_dpdk.c). This file only turns arguments into an option struct,
 * checks ranges, and maps results to exit codes: 0 done, 1 failed,
 * 2 usage error, 3 EAL or the port could not start (tests skip on it).
 * Numbers take decimal suffixes: 10k, 1M, 2G.
 */
#include "gen.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GEN_EXIT_USAGE 2
#define GEN_EXIT_NODEV 3

static const char gen_usage[] =
	"usage:\n"
	"  darter-gen pcap OUT.pcap --flows N --pkts-per-flow K [--size 64|imix|N|N:W,N:W...]\n"
	"             [--proto tcp|udp|mix] [--outliers M --outlier-factor F]\n"
	"             [--duration S] [--concurrent C] [--ipv6-share P] [--seed X] [--quiet]\n"
	"  darter-gen send --vdev DEV --file IN.pcap [--loops N] [--rate PPS|max] [--time S]\n"
	"             [--lcore L] [--burst B] [--mem MB] [--lossless] [--quiet] [-- EAL ARGS]\n"
	"  darter-gen split IN.pcap N OUT-PREFIX [--quiet]\n"
	"\n"
	"pcap: sizes are wire sizes with the FCS (64 B = 60 captured bytes); imix = "
	"64:7,570:4,1518:1.\n"
	"  --duration S: each flow spans S seconds (default 10); --concurrent C: at most C flows\n"
	"  open at once (default: all), so C/S new flows per second. Outlier flows carry F times\n"
	"  (default 10) the median byte volume; they are listed in OUT.pcap.outliers.\n"
	"send: DEV is an EAL --vdev string, e.g. net_pcap0,tx_pcap=OUT.pcap or\n"
	"  net_af_packet0,iface=veth0. --loops 0 (default 1) repeats until --time or Ctrl-C.\n"
	"split: OUT-PREFIX.i.pcap gets the frames darter's capture lcore i of N would own\n"
	"  (its software spread hash): one rx_pcap per queue then emulates symmetric RSS.\n"
	"See tools/gen/README.md.\n";

/* ------------------------------------------------------------- numbers */

/* A non-negative number with an optional k/M/G (x1000) suffix; -1 when malformed. */
static double
gen_num(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || v < 0 || !isfinite(v))
		return -1;
	switch (*end) {
	case 'k':
	case 'K':
		v *= 1e3, end++;
		break;
	case 'm':
	case 'M':
		v *= 1e6, end++;
		break;
	case 'g':
	case 'G':
		v *= 1e9, end++;
		break;
	default:
		break;
	}
	return *end ? -1 : v;
}

static int
gen_num_arg(const char *name, const char *s, double lo, double hi, double *out)
{
	double v = gen_num(s);

	if (v < lo || v > hi) {
		fprintf(stderr, "darter-gen: --%s %s: expected a number in [%g, %g]\n", name, s, lo,
			hi);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int
gen_int_arg(const char *name, const char *s, double lo, double hi, uint64_t *out)
{
	double v = 0;
	int rc = gen_num_arg(name, s, lo, hi, &v);

	if (rc < 0)
		return rc;
	if (v != floor(v)) {
		fprintf(stderr, "darter-gen: --%s %s: expected a whole number\n", name, s);
		return -EINVAL;
	}
	*out = (uint64_t)v;
	return 0;
}

/* Seeds are any 64-bit number, parsed exactly (doubles would round them). */
static int
gen_seed_arg(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 0);
	if (end == s || *end || errno || *s == '-') {
		fprintf(stderr, "darter-gen: --seed %s: expected a 64-bit number\n", s);
		return -EINVAL;
	}
	return 0;
}

/* --------------------------------------------------------------- sizes */

/* One "SIZE[:WEIGHT]" term of a mix: wire bytes, stored as captured bytes. */
static int
gen_mix_term(struct gen_mix *m, char *term)
{
	char *colon = strchr(term, ':');
	double size, w = 1;

	if (m->n == GEN_MIX_MAX)
		return -E2BIG;
	if (colon)
		*colon = '\0';
	size = gen_num(term);
	if (colon)
		w = gen_num(colon + 1);
	if (size < 64 || size > 9018 || size != floor(size) || w <= 0)
		return -EINVAL;
	m->size[m->n] = (uint32_t)size - 4;
	m->weight[m->n++] = w;
	return 0;
}

static int
gen_mix_parse(const char *s, struct gen_mix *m)
{
	char buf[256], *save = NULL;
	double sum = 0;

	if (strcmp(s, "imix") == 0)
		s = "64:7,570:4,1518:1";
	if (strlen(s) >= sizeof(buf))
		return -E2BIG;
	strcpy(buf, s);
	m->n = 0;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		int rc = gen_mix_term(m, t);

		if (rc < 0)
			return rc;
	}
	for (unsigned i = 0; i < m->n; i++)
		sum += m->weight[i];
	for (unsigned i = 0; i < m->n; i++)
		m->weight[i] /= sum;
	return m->n ? 0 : -EINVAL;
}

/* ---------------------------------------------------------------- pcap */

enum {
	OPT_FLOWS = 256,
	OPT_PKTS,
	OPT_SIZE,
	OPT_PROTO,
	OPT_OUTLIERS,
	OPT_FACTOR,
	OPT_DURATION,
	OPT_CONCURRENT,
	OPT_IPV6,
	OPT_SEED,
	OPT_QUIET,
	OPT_VDEV,
	OPT_FILE,
	OPT_LOOPS,
	OPT_RATE,
	OPT_TIME,
	OPT_LCORE,
	OPT_BURST,
	OPT_MEM,
	OPT_LOSSLESS,
};

static const struct option gen_pcap_longopts[] = {
	{"flows", required_argument, NULL, OPT_FLOWS},
	{"pkts-per-flow", required_argument, NULL, OPT_PKTS},
	{"size", required_argument, NULL, OPT_SIZE},
	{"proto", required_argument, NULL, OPT_PROTO},
	{"outliers", required_argument, NULL, OPT_OUTLIERS},
	{"outlier-factor", required_argument, NULL, OPT_FACTOR},
	{"duration", required_argument, NULL, OPT_DURATION},
	{"concurrent", required_argument, NULL, OPT_CONCURRENT},
	{"ipv6-share", required_argument, NULL, OPT_IPV6},
	{"seed", required_argument, NULL, OPT_SEED},
	{"quiet", no_argument, NULL, OPT_QUIET},
	{NULL, 0, NULL, 0},
};

static int
gen_proto_parse(const char *s, enum gen_proto *p)
{
	if (strcmp(s, "tcp") == 0)
		*p = GEN_TCP;
	else if (strcmp(s, "udp") == 0)
		*p = GEN_UDP;
	else if (strcmp(s, "mix") == 0)
		*p = GEN_PROTO_MIX;
	else
		return -EINVAL;
	return 0;
}

static int
gen_pcap_opt(int c, const char *arg, struct gen_pcap_opts *o)
{
	uint64_t v;
	int rc = 0;

	switch (c) {
	case OPT_FLOWS:
		return gen_int_arg("flows", arg, 1, 4294967296.0, &o->flows);
	case OPT_PKTS:
		rc = gen_int_arg("pkts-per-flow", arg, 1, 1e7, &v);
		o->pkts_per_flow = (uint32_t)v;
		return rc;
	case OPT_SIZE:
		if ((rc = gen_mix_parse(arg, &o->mix)) < 0)
			fprintf(stderr,
				"darter-gen: --size %s: expected 64, imix, N (64..9018) "
				"or N:W,N:W...\n",
				arg);
		return rc;
	case OPT_PROTO:
		if ((rc = gen_proto_parse(arg, &o->proto)) < 0)
			fprintf(stderr, "darter-gen: --proto %s: expected tcp, udp or mix\n", arg);
		return rc;
	case OPT_OUTLIERS:
		return gen_int_arg("outliers", arg, 0, 2147483648.0, &o->outliers);
	case OPT_FACTOR:
		return gen_num_arg("outlier-factor", arg, 1.01, 1e6, &o->outlier_factor);
	case OPT_DURATION:
		return gen_num_arg("duration", arg, 1e-3, 86400, &o->duration);
	case OPT_CONCURRENT:
		return gen_int_arg("concurrent", arg, 1, 4294967296.0, &o->concurrent);
	case OPT_IPV6:
		return gen_num_arg("ipv6-share", arg, 0, 1, &o->ipv6_share);
	case OPT_SEED:
		return gen_seed_arg(arg, &o->seed);
	case OPT_QUIET:
		o->quiet = 1;
		return 0;
	default:
		return -EINVAL;
	}
}

static int
gen_pcap_check(struct gen_pcap_opts *o)
{
	if (o->out == NULL || o->flows == 0 || o->pkts_per_flow == 0) {
		fprintf(stderr,
			"darter-gen pcap: OUT.pcap, --flows and --pkts-per-flow are needed\n");
		return -EINVAL;
	}
	if (o->outliers > o->flows / 2) {
		fprintf(stderr, "darter-gen pcap: --outliers at most half of --flows (they are "
				"drawn from the second half)\n");
		return -EINVAL;
	}
	if (o->concurrent == 0 || o->concurrent > o->flows)
		o->concurrent = o->flows;
	return 0;
}

static int
gen_pcap_main(int argc, char **argv)
{
	struct gen_pcap_opts o = {.duration = 10, .outlier_factor = 10, .seed = 1};
	int c;

	gen_mix_parse("64", &o.mix);
	while ((c = getopt_long(argc, argv, "", gen_pcap_longopts, NULL)) != -1) {
		if (c == '?' || gen_pcap_opt(c, optarg, &o) < 0)
			return GEN_EXIT_USAGE;
	}
	if (optind + 1 == argc)
		o.out = argv[optind];
	else if (optind < argc)
		fprintf(stderr, "darter-gen pcap: one output file, not %d\n", argc - optind);
	if (optind + 1 != argc || gen_pcap_check(&o) < 0)
		return GEN_EXIT_USAGE;
	return gen_pcap_write(&o) == 0 ? 0 : 1;
}

/* ---------------------------------------------------------------- send */

static const struct option gen_send_longopts[] = {
	{"vdev", required_argument, NULL, OPT_VDEV},
	{"file", required_argument, NULL, OPT_FILE},
	{"loops", required_argument, NULL, OPT_LOOPS},
	{"rate", required_argument, NULL, OPT_RATE},
	{"time", required_argument, NULL, OPT_TIME},
	{"lcore", required_argument, NULL, OPT_LCORE},
	{"burst", required_argument, NULL, OPT_BURST},
	{"mem", required_argument, NULL, OPT_MEM},
	{"lossless", no_argument, NULL, OPT_LOSSLESS},
	{"quiet", no_argument, NULL, OPT_QUIET},
	{NULL, 0, NULL, 0},
};

static int
gen_send_opt(int c, const char *arg, struct gen_send_opts *o)
{
	uint64_t v = 0;
	int rc = 0;

	switch (c) {
	case OPT_VDEV:
		o->vdev = arg;
		return 0;
	case OPT_FILE:
		o->file = arg;
		return 0;
	case OPT_LOOPS:
		return gen_int_arg("loops", arg, 0, 1e15, &o->loops);
	case OPT_RATE:
		if (strcmp(arg, "max") == 0) {
			o->rate = 0;
			return 0;
		}
		return gen_num_arg("rate", arg, 1, 1e9, &o->rate);
	case OPT_TIME:
		return gen_num_arg("time", arg, 0, 1e7, &o->seconds);
	case OPT_LCORE:
		rc = gen_int_arg("lcore", arg, 0, 1023, &v);
		o->lcore = (unsigned)v;
		return rc;
	case OPT_BURST:
		rc = gen_int_arg("burst", arg, 1, 512, &v);
		o->burst = (unsigned)v;
		return rc;
	case OPT_MEM:
		rc = gen_int_arg("mem", arg, 16, 1 << 20, &v);
		o->mem_mb = (unsigned)v;
		return rc;
	case OPT_LOSSLESS:
		o->lossless = 1;
		return 0;
	case OPT_QUIET:
		o->quiet = 1;
		return 0;
	default:
		return -EINVAL;
	}
}

static int
gen_send_main(int argc, char **argv)
{
	struct gen_send_opts o = {.loops = 1, .burst = 32};
	int c, rc;

	while ((c = getopt_long(argc, argv, "", gen_send_longopts, NULL)) != -1) {
		if (c == '?' || gen_send_opt(c, optarg, &o) < 0)
			return GEN_EXIT_USAGE;
	}
	if (o.vdev == NULL || o.file == NULL || strncmp(o.vdev, "net_", 4) != 0) {
		fprintf(stderr, "darter-gen send: --vdev net_...  and --file are needed\n");
		return GEN_EXIT_USAGE;
	}
	/* getopt stops at "--": what follows goes to EAL. */
	o.eal_extra = argv + optind;
	o.n_eal_extra = argc - optind;
	rc = gen_send(&o);
	return rc == 0 ? 0 : rc == -ENODEV ? GEN_EXIT_NODEV : 1;
}

/* ---------------------------------------------------------------- main */

int
main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "pcap") == 0)
		return gen_pcap_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "send") == 0)
		return gen_send_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "split") == 0)
		return gen_split_main(argc - 1, argv + 1);
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(gen_usage, stdout);
		return 0;
	}
	fputs(gen_usage, stderr);
	return GEN_EXIT_USAGE;
}
