/*
 * digest.c: thin wrappers over nettle's SHA-1, so no other file depends
 * on nettle's context types.
 */
#include "digest.h"

#include <nettle/sha1.h>

void
digest_sha1(const void *data, size_t len, uint8_t out[DIGEST_SHA1_SIZE])
{
	struct sha1_ctx ctx;

	sha1_init(&ctx);
	sha1_update(&ctx, len, data);
	sha1_digest(&ctx, DIGEST_SHA1_SIZE, out);
}

void
digest_sha1_hex(const void *data, size_t len, char out[2 * DIGEST_SHA1_SIZE + 1])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t d[DIGEST_SHA1_SIZE];

	digest_sha1(data, len, d);
	for (int i = 0; i < DIGEST_SHA1_SIZE; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[2 * DIGEST_SHA1_SIZE] = '\0';
}
