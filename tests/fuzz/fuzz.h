/*
 * fuzz.h: what every darter fuzz harness shares.
 *
 * A harness is one LLVMFuzzerTestOneInput(); it is linked either with
 * libFuzzer (clang, -fsanitize=fuzzer: tools/fuzz) or with fuzz_main.c, a
 * plain main() that runs it over files and directories (the regression
 * tests, any compiler). Invariants are checked with FUZZ_CHECK, which
 * aborts whatever NDEBUG says, so a broken invariant is a crash that
 * libFuzzer saves as an input and the regression run reproduces.
 */
#ifndef DARTER_FUZZ_H
#define DARTER_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Abort with the failed condition: the fuzzer keeps the input that did it. */
#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__,       \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* The harness: run one input; always returns 0 (libFuzzer's contract). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Optional one-time set-up, called before the first input. */
int LLVMFuzzerInitialize(int *argc, char ***argv);

#endif
