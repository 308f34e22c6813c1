/*
 * digest.h: the hashes darter needs, from nettle (Debian's nettle-dev).
 *
 * SHA-1 for Redis script ids (EVALSHA) and the Community ID flow hash.
 * The only module that includes nettle.
 */
#ifndef DARTER_DIGEST_H
#define DARTER_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#define DIGEST_SHA1_SIZE 20

/* SHA-1 of data[0..len) into out. Any thread. */
void digest_sha1(const void *data, size_t len, uint8_t out[DIGEST_SHA1_SIZE]);

/* Same, as 40 lowercase hex digits and a NUL. */
void digest_sha1_hex(const void *data, size_t len, char out[2 * DIGEST_SHA1_SIZE + 1]);

#endif
