/*
 * gen_split.c: darter-gen split: one pcap into N, frame by frame, as a NIC
 * with symmetric RSS would spread it over N RX queues.
 *
 * Each frame goes to file (capture_spread_hash() of its decoded flow key)
 * % N: the same owner darter's capture computes for ports without RSS
 * (capture/capture.c). Fed to one port with N queues (net_pcap with one
 * rx_pcap per queue), every lcore then reads only frames of the flows it
 * owns, so nothing passes between lcores: what a NIC with RSS gives, on a
 * vdev, to measure the rise a second capture lcore brings. Frames that do
 * not decode to a flow (fragments, non-IP, malformed) go to file 0.
 *
 * Not here: fragment reassembly (a fragmented flow's later fragments may
 * land apart from its first: darter spreads them itself).
 */
#include "gen.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "decode.h"

#define GEN_SPLIT_MAX 64

/* Open OUT.i.pcap for i < n with the input's link type; 0 or -1 (message printed). */
static int
gen_split_open(pcap_t *in, const char *prefix, unsigned n, pcap_dumper_t **out)
{
	char path[4096];

	for (unsigned i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s.%u.pcap", prefix, i);
		out[i] = pcap_dump_open(in, path);
		if (out[i] == NULL) {
			fprintf(stderr, "darter-gen split: %s: %s\n", path, pcap_geterr(in));
			return -1;
		}
	}
	return 0;
}

int
gen_split(const char *in_path, const char *prefix, unsigned n, int quiet)
{
	char err[PCAP_ERRBUF_SIZE];
	pcap_dumper_t *out[GEN_SPLIT_MAX] = {0};
	uint64_t count[GEN_SPLIT_MAX] = {0};
	struct decode_stats st;
	struct pcap_pkthdr *h;
	const u_char *data;
	pcap_t *in;
	int link, rc = 0, r;

	in = pcap_open_offline(in_path, err);
	if (in == NULL) {
		fprintf(stderr, "darter-gen split: %s\n", err);
		return -EINVAL;
	}
	link = pcap_datalink(in);
	if (gen_split_open(in, prefix, n, out) < 0) {
		rc = -EIO;
		goto done;
	}
	memset(&st, 0, sizeof(st));
	while ((r = pcap_next_ex(in, &h, &data)) == 1) {
		struct decode_pkt p;
		unsigned i = 0;

		if (decode_packet(&p, link, data, h->caplen, &st) == DECODE_FLOW)
			i = capture_spread_hash(&p) % n;
		pcap_dump((u_char *)out[i], h, data);
		count[i]++;
	}
	if (r == -1) {
		fprintf(stderr, "darter-gen split: %s: %s\n", in_path, pcap_geterr(in));
		rc = -EIO;
	}
	if (!quiet)
		for (unsigned i = 0; i < n; i++)
			printf("%s.%u.pcap: %llu frames\n", prefix, i,
			       (unsigned long long)count[i]);
done:
	for (unsigned i = 0; i < n; i++)
		if (out[i] != NULL)
			pcap_dump_close(out[i]);
	pcap_close(in);
	return rc;
}

int
gen_split_main(int argc, char **argv)
{
	char *end;
	unsigned long n;
	int quiet = argc == 5 && strcmp(argv[4], "--quiet") == 0;

	if (argc != 4 && !quiet) {
		fprintf(stderr, "usage: darter-gen split IN.pcap N OUT-PREFIX [--quiet]\n");
		return 2;
	}
	n = strtoul(argv[2], &end, 10);
	if (*end != '\0' || n < 1 || n > GEN_SPLIT_MAX) {
		fprintf(stderr, "darter-gen split: N must be 1..%d\n", GEN_SPLIT_MAX);
		return 2;
	}
	return gen_split(argv[1], argv[3], (unsigned)n, quiet) == 0 ? 0 : 1;
}
