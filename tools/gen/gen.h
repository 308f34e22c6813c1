/*
 * gen.h: darter-gen's two halves, shared by its three files.
 *
 * gen.c parses the command line into one of the option structs below;
 * gen_pcap.c writes synthetic flows to a pcap (no DPDK); gen_dpdk.c
 * replays a pcap into a DPDK vdev (the only file that includes DPDK).
 * Both entry points run on the main thread, once per process.
 */
#ifndef DARTER_GEN_H
#define DARTER_GEN_H

#include <stdint.h>

#define GEN_MIX_MAX 8

/* Frame size mix. Sizes are captured bytes (the wire size minus the 4-byte FCS). */
struct gen_mix {
	unsigned n;
	uint32_t size[GEN_MIX_MAX];
	double weight[GEN_MIX_MAX]; /* normalised: they sum to 1 */
};

enum gen_proto { GEN_TCP, GEN_UDP, GEN_PROTO_MIX };

struct gen_pcap_opts {
	const char *out; /* the pcap; outliers go to out + ".outliers" */
	uint64_t flows;
	uint32_t pkts_per_flow;
	struct gen_mix mix;
	enum gen_proto proto;
	uint64_t outliers;
	double outlier_factor; /* > 1: outlier bytes = ceil(factor x median normal bytes) */
	double duration;       /* seconds from a flow's first packet to just before its last */
	uint64_t concurrent;   /* flows open at once: new flows/s = concurrent / duration */
	double ipv6_share;     /* 0..1, per flow */
	uint64_t seed;
	int quiet;
};

struct gen_send_opts {
	const char *vdev; /* EAL --vdev string; its name is the part before the first ',' */
	const char *file; /* pcap to load once into mbufs */
	uint64_t loops;	  /* times through the file; 0 = until SIGINT/SIGTERM or seconds */
	double rate;	  /* packets/s; 0 = as fast as TX accepts */
	double seconds;	  /* stop after this long; 0 = no limit */
	unsigned lcore;
	unsigned burst;
	unsigned mem_mb; /* -m; 0 = sized from the file */
	int lossless;	 /* retry what TX did not accept instead of counting it dropped */
	int quiet;
	char **eal_extra; /* appended to EAL's arguments (after "--" on the command line) */
	int n_eal_extra;
};

/*
 * Write o->flows synthetic flows to o->out (and the outlier list beside
 * it). Returns 0, or -errno after printing the reason to stderr; a
 * partial file may remain on error.
 */
int gen_pcap_write(const struct gen_pcap_opts *o);

/*
 * Start EAL, load o->file into mbufs, transmit it o->loops times and
 * print the rate achieved. Returns 0; -ENODEV when EAL or the port
 * cannot start (tests skip on it); another -errno on other errors. The
 * reason is printed to stderr.
 */
int gen_send(const struct gen_send_opts *o);

/*
 * darter-gen split IN.pcap N PREFIX: PREFIX.0.pcap .. PREFIX.{N-1}.pcap,
 * each frame in the file of its flow's capture lcore (gen_split.c).
 */
int gen_split(const char *in, const char *prefix, unsigned n, int quiet);
int gen_split_main(int argc, char **argv);

#endif
