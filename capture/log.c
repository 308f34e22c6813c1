/*
 * log.c: the one place darter writes diagnostics.
 *
 * Messages are formatted into a stack buffer and written with a single
 * write(2) so lines from different threads never interleave. No locks,
 * no allocation; a message longer than the buffer is cut.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum log_level log_level_current = LOG_LEVEL_NOTICE;

static const char *const log_level_names[] = {
	[LOG_LEVEL_ERROR] = "error", [LOG_LEVEL_WARNING] = "warning", [LOG_LEVEL_NOTICE] = "notice",
	[LOG_LEVEL_INFO] = "info",   [LOG_LEVEL_DEBUG] = "debug",
};

void
log_set_level(enum log_level level)
{
	log_level_current = level;
}

int
log_level_parse(const char *name, enum log_level *out)
{
	for (unsigned i = 0; i <= LOG_LEVEL_DEBUG; i++) {
		if (strcmp(name, log_level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void
log_write(enum log_level level, const char *tag, const char *fmt, ...)
{
	char line[1024];
	int n = snprintf(line, sizeof(line), "darter[%s] %s: ", tag, log_level_names[level]);
	va_list ap;

	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	/* Best effort: a failed diagnostic write has nowhere else to go. */
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}
