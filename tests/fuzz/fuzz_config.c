/*
 * fuzz_config.c: the configuration loader on arbitrary YAML, and --set on
 * arbitrary KEY=VALUE lines.
 *
 * Input: any bytes. They are loaded whole as a configuration file through
 * config_load() (written to a memfd, opened by its /proc/self/fd path, so
 * the real file path is taken) over the defaults; then every line of the
 * input that holds a '=' is given to config_set(), one after another.
 *
 * Invariants: results are 0 or a negative errno; an error leaves the
 * configuration exactly as it was (both functions work on a copy) and
 * writes a non-empty, NUL-terminated message within the error buffer
 * (sized exactly: an overrun hits ASan); a successful result has every
 * list count within CONFIG_MAX_LIST and every string NUL-terminated; the
 * same file loaded twice gives the same configuration, and a successful
 * assignment applied a second time changes nothing.
 *
 * Not here: checks of values against the table's ranges (the unit tests
 * walk the table), checks across keys (done by the modules).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

#define FUZZ_ERRLEN 200

static int fuzz_fd = -1;
static char fuzz_path[64];
static struct config fuzz_defaults;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_fd = memfd_create("fuzz-config.yaml", 0);
	FUZZ_CHECK(fuzz_fd >= 0);
	snprintf(fuzz_path, sizeof(fuzz_path), "/proc/self/fd/%d", fuzz_fd);
	memset(&fuzz_defaults, 0, sizeof(fuzz_defaults));
	config_defaults(&fuzz_defaults);
	return 0;
}

/* ----------------------------------------------------------- checks */

static int
fuzz_terminated(const char *s, size_t cap)
{
	return strnlen(s, cap) < cap;
}

static void
fuzz_check_lists(const struct config *c)
{
	FUZZ_CHECK(c->n_eal_args <= CONFIG_MAX_LIST && c->n_ports <= CONFIG_MAX_LIST);
	FUZZ_CHECK(c->n_capture_cpus <= CONFIG_MAX_LIST && c->n_worker_cpus <= CONFIG_MAX_LIST);
	FUZZ_CHECK(c->n_mad_specs <= CONFIG_MAX_LIST);
	for (unsigned i = 0; i < c->n_eal_args; i++)
		FUZZ_CHECK(fuzz_terminated(c->eal_args[i], CONFIG_MAX_STR));
	for (unsigned i = 0; i < c->n_ports; i++)
		FUZZ_CHECK(fuzz_terminated(c->ports[i], CONFIG_MAX_STR));
	for (unsigned i = 0; i < c->n_mad_specs; i++)
		FUZZ_CHECK(fuzz_terminated(c->mad_specs[i], CONFIG_MAX_STR));
}

static void
fuzz_check_config(const struct config *c)
{
	const char *strs[] = {c->log_level,	    c->log_dir,		 c->eve_filename,
			      c->outliers_filename, c->mad_preset,	 c->mad_transform,
			      c->mad_step,	    c->mad_store,	 c->mad_redis_host,
			      c->mad_redis_prefix,  c->mad_snapshot_file};

	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		FUZZ_CHECK(fuzz_terminated(strs[i], CONFIG_MAX_STR));
	fuzz_check_lists(c);
}

/* rc from a loader: 0, or an error with *c untouched and a message. */
static void
fuzz_check_result(int rc, const struct config *c, const struct config *before, const char *err)
{
	if (rc == 0) {
		fuzz_check_config(c);
		return;
	}
	FUZZ_CHECK(rc < 0 && rc > -4096);
	FUZZ_CHECK(memcmp(c, before, sizeof(*c)) == 0);
	FUZZ_CHECK(fuzz_terminated(err, FUZZ_ERRLEN) && err[0] != '\0');
}

/* -------------------------------------------------------------- runs */

static void
fuzz_load(const uint8_t *data, size_t size, struct config *c, char *err)
{
	struct config *again = malloc(sizeof(*again));
	int rc, rc2;

	FUZZ_CHECK(again != NULL);
	FUZZ_CHECK(ftruncate(fuzz_fd, 0) == 0);
	FUZZ_CHECK(pwrite(fuzz_fd, data, size, 0) == (ssize_t)size);
	*c = fuzz_defaults;
	rc = config_load(c, fuzz_path, err, FUZZ_ERRLEN);
	fuzz_check_result(rc, c, &fuzz_defaults, err);
	*again = fuzz_defaults;
	rc2 = config_load(again, fuzz_path, err, FUZZ_ERRLEN);
	FUZZ_CHECK(rc2 == rc && memcmp(again, c, sizeof(*c)) == 0);
	free(again);
}

/* One "key=value" line (NUL-terminated copy of line[0..len)). */
static void
fuzz_set(struct config *c, struct config *before, const uint8_t *line, size_t len, char *err)
{
	char *s = malloc(len + 1);
	int rc;

	FUZZ_CHECK(s != NULL);
	memcpy(s, line, len);
	s[len] = '\0';
	*before = *c;
	rc = config_set(c, s, err, FUZZ_ERRLEN);
	fuzz_check_result(rc, c, before, err);
	if (rc == 0) {
		*before = *c;
		FUZZ_CHECK(config_set(c, s, err, FUZZ_ERRLEN) == 0);
		FUZZ_CHECK(memcmp(c, before, sizeof(*c)) == 0);
	}
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *c = malloc(sizeof(*c)), *before = malloc(sizeof(*before));
	char *err = malloc(FUZZ_ERRLEN);

	if (fuzz_fd < 0)
		LLVMFuzzerInitialize(NULL, NULL);
	FUZZ_CHECK(c != NULL && before != NULL && err != NULL);
	fuzz_load(data, size, c, err);
	*c = fuzz_defaults;
	for (size_t off = 0; off < size;) {
		const uint8_t *nl = memchr(data + off, '\n', size - off);
		size_t len = nl != NULL ? (size_t)(nl - (data + off)) : size - off;

		if (memchr(data + off, '=', len) != NULL)
			fuzz_set(c, before, data + off, len, err);
		off += len + 1;
	}
	free(err);
	free(before);
	free(c);
	return 0;
}
