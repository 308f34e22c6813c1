/*
 * eve_in.h: one Suricata EVE JSON line in, a flow record or "another
 * event" out.
 *
 * A "flow" event becomes the same struct flow_record that capture makes,
 * so MAD and the analyzers see one type. Any other event type is reported
 * by name; its parsed document is built on request (eve_in_doc) for the
 * analyzers that want it. Bad input never crashes and never stops the
 * caller: eve_in_parse says why a line was refused and counts it under a
 * named reason (eve_in_error_name) for stats.
 *
 * One struct eve_in per worker thread: nothing here locks. The JSON
 * library (jansson) is included by eve_in.c only.
 */
#ifndef DARTER_EVE_IN_H
#define DARTER_EVE_IN_H

#include <stddef.h>
#include <stdint.h>

#include "flow_record.h"

/* Default longest line accepted (bytes, without the '\n'). */
#define EVE_IN_MAX_LINE_DEFAULT (64u * 1024u)

/* Longest event_type name kept (NUL excluded); longer names are refused. */
#define EVE_IN_TYPE_LEN 63

/* eve_in_parse() results. */
enum eve_in_result {
	EVE_IN_REFUSED = 0, /* bad line: see eve_in_last_error(); counted */
	EVE_IN_FLOW = 1,    /* a "flow" event: the record is filled */
	EVE_IN_OTHER = 2,   /* another event type: eve_in_type(), eve_in_doc() */
};

/* Why a line was refused; names by eve_in_error_name() ("too_long"). */
enum eve_in_error {
	EVE_IN_OK,
	EVE_IN_ERR_TOO_LONG,	  /* longer than max_line */
	EVE_IN_ERR_EMPTY,	  /* nothing but white space */
	EVE_IN_ERR_SYNTAX,	  /* not JSON (binary junk, trailing data, bad escape) */
	EVE_IN_ERR_TRUNCATED,	  /* the line ends inside the JSON text */
	EVE_IN_ERR_UTF8,	  /* invalid UTF-8 or a lone surrogate escape */
	EVE_IN_ERR_DEPTH,	  /* nested deeper than EVE_IN_MAX_DEPTH */
	EVE_IN_ERR_NOT_OBJECT,	  /* the line is JSON but not an object */
	EVE_IN_ERR_NO_EVENT_TYPE, /* no "event_type" string, or an empty or over-long one */
	EVE_IN_ERR_NULL,	  /* null where darter reads a value */
	EVE_IN_ERR_TYPE,	  /* wrong JSON type (string for a number, 1.5 for a counter) */
	EVE_IN_ERR_MISSING,	  /* a field a flow event must have is absent */
	EVE_IN_ERR_RANGE,	  /* number out of range: negative, too large, port > 65535 */
	EVE_IN_ERR_TIME,	  /* a time that is not Suricata's format or before 1970 */
	EVE_IN_ERR_ADDR,	  /* not an IPv4/IPv6 address, or src and dest differ in family */
	EVE_IN_ERR_VALUE,	  /* unknown name: proto, state, reason, tcp state; bad hex */
	EVE_IN_ERR__COUNT
};

/* Deepest nesting accepted (objects and arrays). */
#define EVE_IN_MAX_DEPTH 32

struct eve_in_conf {
	uint32_t max_line; /* longest line in bytes, 2..1 GiB; 0: EVE_IN_MAX_LINE_DEFAULT */
};

/* Counters, written by the owning thread only. */
struct eve_in_stats {
	uint64_t lines;			    /* eve_in_parse calls */
	uint64_t flows;			    /* EVE_IN_FLOW results */
	uint64_t others;		    /* EVE_IN_OTHER results */
	uint64_t refused;		    /* EVE_IN_REFUSED results: sum of errors[] */
	uint64_t errors[EVE_IN_ERR__COUNT]; /* by enum eve_in_error (errors[0] stays 0) */
	uint64_t app_truncated;		    /* app_proto longer than the record's name */
	uint64_t docs;			    /* documents built by eve_in_doc */
	uint64_t doc_errors;		    /* eve_in_doc failures (memory, library limits) */
};

struct eve_in;
struct json_t; /* jansson's document type, for eve_in_doc's callers */

/* Fill conf with the defaults. */
void eve_in_conf_defaults(struct eve_in_conf *conf);

/* A parser. NULL with errno set (EINVAL: bad conf, ENOMEM). conf NULL: defaults. */
struct eve_in *eve_in_new(const struct eve_in_conf *conf);

/* Free the parser and its last document. NULL is fine. */
void eve_in_free(struct eve_in *in);

/*
 * Parse one line: len bytes at line, not NUL-terminated; a trailing '\n'
 * or "\r\n" may be included or not. The line must stay valid and
 * unchanged until the next eve_in_parse or eve_in_free (eve_in_doc reads
 * it). On EVE_IN_FLOW *rec is fully overwritten (fields absent from the
 * event are 0; app.how is APPID_HOW_NONE without app_proto). On the other
 * results *rec holds garbage. Never fails for lack of memory: no
 * allocation happens here.
 */
enum eve_in_result eve_in_parse(struct eve_in *in, const char *line, size_t len,
				struct flow_record *rec);

/* The reason the last eve_in_parse refused its line (EVE_IN_OK if it did not). */
enum eve_in_error eve_in_last_error(const struct eve_in *in);

/* The JSON key darter was reading when the last line was refused, or "" (for logs). */
const char *eve_in_last_field(const struct eve_in *in);

/*
 * After EVE_IN_OTHER: the event_type, NUL-terminated, valid until the next
 * eve_in_parse. After other results: "".
 */
const char *eve_in_type(const struct eve_in *in);

/*
 * After EVE_IN_OTHER: the whole event as a jansson document, parsed on the
 * first call and owned by the parser (valid until the next eve_in_parse or
 * eve_in_free; do not json_decref it, json_incref to keep it longer).
 * NULL after other results, or when the library fails (counted in
 * doc_errors; jansson refuses integers beyond the int64 range).
 */
struct json_t *eve_in_doc(struct eve_in *in);

/* The counters (valid for the parser's lifetime). */
const struct eve_in_stats *eve_in_stats(const struct eve_in *in);

/* Stats name of a reason ("too_long"); "unknown" outside the enum. */
const char *eve_in_error_name(enum eve_in_error e);

#endif
