/*
 * pages.h: zeroed, page-aligned memory for the capture lcores' big
 * preallocated arrays (flow entries, nDPI states).
 *
 * Anonymous mmap: the kernel hands out zero pages, so nothing is memset.
 * With prefault the pages are populated at once (MAP_POPULATE): a live
 * sensor takes no page fault on the packet path when its table first
 * fills. Without it they are mapped on first touch: an offline replay of a
 * small file pays only for the entries it uses, not for max-flows of them.
 */
#ifndef DARTER_PAGES_H
#define DARTER_PAGES_H

#include <stddef.h>
#include <sys/mman.h>

/* bytes of zeroed memory, page-aligned; NULL when out of memory. */
static inline void *
pages_alloc(size_t bytes, int prefault)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | (prefault ? MAP_POPULATE : 0);
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, flags, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* Give back what pages_alloc(bytes) returned; NULL is ignored. */
static inline void
pages_free(void *p, size_t bytes)
{
	if (p != NULL)
		munmap(p, bytes);
}

#endif
