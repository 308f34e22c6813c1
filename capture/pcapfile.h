/*
 * pcapfile.h: what an offline capture file is, before DPDK reads it.
 *
 * net_pcap hands every frame over without looking at the file's link
 * type, so darter checks it first: a capture whose link type the decoder
 * does not know is refused, never misparsed.
 */
#ifndef DARTER_PCAPFILE_H
#define DARTER_PCAPFILE_H

#include <stddef.h>

/*
 * Open path with libpcap (pcap or pcapng) and return its link type
 * (a DLT_* value, see enum decode_link) in *link. Returns 0, or -EINVAL
 * with a one-line reason in err (unreadable, not a capture, unsupported
 * link type). Any thread; does not touch DPDK.
 */
int pcapfile_check(const char *path, int *link, char *err, size_t errlen);

#endif
