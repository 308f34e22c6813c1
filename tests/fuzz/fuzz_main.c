/*
 * fuzz_main.c: a plain main() for a fuzz harness, so every harness is also
 * a regression test that any compiler builds (LLVM's
 * StandaloneFuzzTargetMain pattern).
 *
 * Usage: fuzz_<name>_regress PATH...  Each PATH is an input file or a
 * directory whose regular files (dotfiles and *.md skipped, sorted by
 * name) are inputs. Every input is read whole into a buffer of exactly its
 * size (so an overread hits ASan's redzone) and given to
 * LLVMFuzzerTestOneInput once. Prints TAP: one "ok" per input; a broken
 * invariant aborts, and the last "# input" line on stderr names the file.
 *
 * Not here: mutation, coverage, timeouts (meson's test timeout applies).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Weak: a harness without set-up does not define it. */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

struct fuzz_list {
	char **paths;
	size_t n;
	size_t cap;
};

static void
fuzz_list_add(struct fuzz_list *l, const char *path)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->paths = realloc(l->paths, l->cap * sizeof(*l->paths));
		FUZZ_CHECK(l->paths != NULL);
	}
	l->paths[l->n] = strdup(path);
	FUZZ_CHECK(l->paths[l->n] != NULL);
	l->n++;
}

static int
fuzz_skip_name(const char *name)
{
	size_t n = strlen(name);

	return name[0] == '.' || (n >= 3 && strcmp(name + n - 3, ".md") == 0);
}

/* Add the regular files of dir, sorted by name. Returns 0 or -errno. */
static int
fuzz_list_dir(struct fuzz_list *l, const char *dir)
{
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, alphasort);

	if (n < 0)
		return -errno;
	for (int i = 0; i < n; i++) {
		char path[4096];
		struct stat sb;

		snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
		if (!fuzz_skip_name(ents[i]->d_name) && stat(path, &sb) == 0 && S_ISREG(sb.st_mode))
			fuzz_list_add(l, path);
		free(ents[i]);
	}
	free(ents);
	return 0;
}

/* Read path whole into a malloc'd buffer of exactly its size. */
static int
fuzz_read(const char *path, uint8_t **out, size_t *size)
{
	FILE *f = fopen(path, "rb");
	struct stat sb;
	uint8_t *buf;

	if (f == NULL)
		return -errno;
	if (fstat(fileno(f), &sb) != 0 || sb.st_size < 0) {
		fclose(f);
		return -EIO;
	}
	buf = malloc(sb.st_size > 0 ? (size_t)sb.st_size : 1); /* never NULL, as libFuzzer's */
	if (buf == NULL || fread(buf, 1, (size_t)sb.st_size, f) != (size_t)sb.st_size) {
		free(buf);
		fclose(f);
		return -EIO;
	}
	fclose(f);
	*out = buf;
	*size = (size_t)sb.st_size;
	return 0;
}

int
main(int argc, char **argv)
{
	struct fuzz_list l = {0};
	int rc = 0;

	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		struct stat sb;

		if (stat(argv[i], &sb) == 0 && S_ISDIR(sb.st_mode)) {
			int err = fuzz_list_dir(&l, argv[i]);

			if (err != 0) {
				printf("Bail out! %s: %s\n", argv[i], strerror(-err));
				return 1;
			}
		} else {
			fuzz_list_add(&l, argv[i]);
		}
	}
	if (l.n == 0) {
		printf("1..0 # SKIP no inputs\n");
		return 0;
	}
	printf("1..%zu\n", l.n);
	for (size_t i = 0; i < l.n; i++) {
		uint8_t *buf = NULL;
		size_t size = 0;
		int err = fuzz_read(l.paths[i], &buf, &size);

		if (err != 0) {
			printf("not ok %zu - %s (%s)\n", i + 1, l.paths[i], strerror(-err));
			free(l.paths[i]);
			rc = 1;
			continue;
		}
		fprintf(stderr, "# input %s (%zu bytes)\n", l.paths[i], size);
		fflush(stdout);
		LLVMFuzzerTestOneInput(buf, size);
		printf("ok %zu - %s\n", i + 1, l.paths[i]);
		free(buf);
		free(l.paths[i]);
	}
	free(l.paths);
	return rc;
}
