/*
 * log.h: leveled logging for every room of darter.
 *
 * One line per message on stderr: "darter[<tag>] <level>: <text>". The
 * level is checked before any formatting (nginx ngx_log_error), so a
 * disabled LOG_DEBUG costs one compare. Thread-safe: each message is one
 * write(2). Never call it per packet: count instead and warn once.
 */
#ifndef DARTER_LOG_H
#define DARTER_LOG_H

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARNING,
	LOG_LEVEL_NOTICE,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

extern enum log_level log_level_current;

/* Set the threshold; call before threads start. */
void log_set_level(enum log_level level);

/* Parse "error".."debug"; returns 0 or -EINVAL. */
int log_level_parse(const char *name, enum log_level *out);

/* Format and write one message; use the LOG_* macros instead. */
void log_write(enum log_level level, const char *tag, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define LOG_AT(lvl, tag, ...)                                                                      \
	do {                                                                                       \
		if ((lvl) <= log_level_current)                                                    \
			log_write((lvl), (tag), __VA_ARGS__);                                      \
	} while (0)

#define LOG_ERR(tag, ...)    LOG_AT(LOG_LEVEL_ERROR, tag, __VA_ARGS__)
#define LOG_WARN(tag, ...)   LOG_AT(LOG_LEVEL_WARNING, tag, __VA_ARGS__)
#define LOG_NOTICE(tag, ...) LOG_AT(LOG_LEVEL_NOTICE, tag, __VA_ARGS__)
#define LOG_INFO(tag, ...)   LOG_AT(LOG_LEVEL_INFO, tag, __VA_ARGS__)
#define LOG_DEBUG(tag, ...)  LOG_AT(LOG_LEVEL_DEBUG, tag, __VA_ARGS__)

#endif
