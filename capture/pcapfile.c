/*
 * pcapfile.c: link-type check of offline captures with libpcap.
 *
 * Opens the file once, reads its header (pcap or pcapng) and closes it;
 * the frames themselves are read later by DPDK's net_pcap. This file is
 * the only one that includes pcap.h.
 */
#include "pcapfile.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>

#include "decode.h"

int
pcapfile_check(const char *path, int *link, char *err, size_t errlen)
{
	char perr[PCAP_ERRBUF_SIZE];
	pcap_t *p = pcap_open_offline(path, perr);

	if (p == NULL) {
		snprintf(err, errlen, "%s: cannot read capture: %s", path, perr);
		return -EINVAL;
	}
	*link = pcap_datalink(p);
	pcap_close(p);
	if (!decode_link_supported(*link)) {
		const char *name = pcap_datalink_val_to_name(*link);
		snprintf(err, errlen, "%s: link type %s (%d) is not supported", path,
			 name ? name : "unknown", *link);
		return -EINVAL;
	}
	return 0;
}
