/*
 * analyzer.h: one Lua analyzer script in its own sandboxed LuaJIT state.
 *
 * An analyzer is a Lua file defining setup(), a per-event function
 * (on_flow(rec), on_eve(type, json)), optional tick(now_us) and
 * teardown(), and a global table `wants` naming what it takes:
 *
 *   wants = { flow = "ffi" | "table", eve = { "alert", "dns" }, tick = 1000 }
 *
 * The host hands each flow record over without copying: "ffi" gives a
 * bounds-safe FFI view of the struct flow_record, "table" a table view
 * built lazily from it. Both are valid during the call only. Scripts call
 * darter.emit(sink, tbl) and darter.annotate(key, value), which reach the
 * callbacks below as JSON text, and darter.mad.new(opts) for estimators of
 * the MAD core (engine/mad.h). See lua/darter/host.lua for the script side.
 *
 * Limits: every state has a memory cap (custom allocator) and every call a
 * CPU limit enforced by a process-wide watchdog thread, also inside
 * JIT-compiled loops. A failing call is counted, the caller's event goes on
 * and the analyzer stays loaded (rebuilt from its script when its state had
 * to be abandoned). Per-event functions run inside a coroutine, so later
 * parts can suspend them on I/O.
 *
 * Threads: an analyzer is used by one thread at a time (its worker).
 * analyzer_reload_prepare() may run on any thread; analyzer_swap() and
 * the event calls on the worker only.
 */
#ifndef DARTER_ANALYZER_H
#define DARTER_ANALYZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct flow_record;
struct analyzer;

/* Bits of analyzer_wants(). */
#define ANALYZER_WANT_FLOW 0x1u /* defines on_flow and wants.flow */
#define ANALYZER_WANT_EVE  0x2u /* defines on_eve and wants.eve */
#define ANALYZER_WANT_TICK 0x4u /* defines tick and wants.tick (ms) */

/* Largest JSON text handed to a callback; bigger tables make emit fail. */
#define ANALYZER_JSON_MAX (64u * 1024u)

/*
 * darter.emit(sink, tbl): tbl encoded as one JSON object. Return 0, or a
 * negative errno that darter.emit reports to the script as false, reason.
 * Called on the analyzer's thread, inside the call.
 */
typedef int (*analyzer_emit_fn)(void *user, const char *sink, const char *json, size_t len);

/* darter.annotate(key, value): value as JSON text, for the current event's output. */
typedef int (*analyzer_annotate_fn)(void *user, const char *key, const char *json, size_t len);

struct analyzer_conf {
	const char *path;      /* the script */
	const char *lua_dir;   /* darter's own Lua files (lua/); NULL: built-in default */
	size_t mem_max;	       /* bytes per state, 0: ANALYZER_MEM_DEFAULT */
	uint32_t cpu_ms;       /* per call, 0: ANALYZER_CPU_MS_DEFAULT */
	bool allow_io;	       /* give scripts the io library */
	analyzer_emit_fn emit; /* NULL: emit fails with -ENOSYS */
	analyzer_annotate_fn annotate;
	void *user;
};

#define ANALYZER_MEM_DEFAULT	(64u * 1024u * 1024u)
#define ANALYZER_CPU_MS_DEFAULT 100u

/* Counters, written by the analyzer's thread; they survive a swap. */
struct analyzer_stats {
	uint64_t calls;	      /* event and tick calls made */
	uint64_t errors;      /* calls that raised a Lua error (timeouts and memory too) */
	uint64_t timeouts;    /* calls stopped by the CPU limit */
	uint64_t killed;      /* of timeouts: stuck in compiled code, state rebuilt */
	uint64_t mem_errors;  /* calls that hit the memory cap */
	uint64_t resets;      /* states rebuilt from the script (kills, full memory) */
	uint64_t disabled;    /* calls skipped: a rebuild failed, no state */
	uint64_t emits;	      /* darter.emit delivered to the callback */
	uint64_t emit_errors; /* darter.emit refused (bad table, too big, callback error) */
	uint64_t annotations;
	uint64_t reloads;  /* successful swaps */
	uint64_t mem_used; /* bytes the current state holds */
	uint64_t mem_peak;
};

/*
 * Load conf->path into a new state, run the chunk and setup(). conf is
 * copied. Returns NULL with errno set (EINVAL bad conf or script, ENOMEM,
 * ETIME setup timed out) and a message in err (may be NULL).
 */
struct analyzer *analyzer_new(const struct analyzer_conf *conf, char *err, size_t errlen);

/* Run teardown() (under the limits) and free everything. NULL is fine. */
void analyzer_free(struct analyzer *a);

/* ANALYZER_WANT_* bits; the tick period in ms (0: none). */
unsigned analyzer_wants(const struct analyzer *a);
uint32_t analyzer_tick_ms(const struct analyzer *a);

/* Does the analyzer take EVE events of this type? */
bool analyzer_wants_eve(const struct analyzer *a, const char *type);

/*
 * Give one flow record to on_flow. rec stays the caller's; it is only read,
 * and only during the call. Returns 0, -ENOENT when the analyzer takes no
 * flows or has no state, -ETIME on timeout, -ENOMEM when the cap was hit,
 * -EINVAL on any other script error (all counted). Whatever it returns,
 * the caller passes the event on.
 */
int analyzer_flow(struct analyzer *a, const struct flow_record *rec);

/* Give one EVE event (JSON text of the given type) to on_eve(type, json). */
int analyzer_eve(struct analyzer *a, const char *type, const char *json, size_t len);

/* Call tick(now_us). Same returns as analyzer_flow. */
int analyzer_tick(struct analyzer *a, uint64_t now_us);

/*
 * Hot reload, step 1, off the event path: read cur's script again and build
 * a new analyzer with cur's configuration (setup() included). cur is not
 * touched, so this may run on another thread while cur serves events.
 * Returns NULL (errno, err) when the script fails to load or set up: keep
 * cur.
 */
struct analyzer *analyzer_reload_prepare(const struct analyzer *cur, char *err, size_t errlen);

/*
 * Step 2, between two events on the worker: *slot becomes next, whose
 * counters continue cur's. Returns the old analyzer; free it with
 * analyzer_free() (runs its teardown), off the event path if possible.
 */
struct analyzer *analyzer_swap(struct analyzer **slot, struct analyzer *next);

/* The counters (pointer valid for a's lifetime). */
const struct analyzer_stats *analyzer_stats(const struct analyzer *a);

/* The last error message (load, setup or a call); "" when none yet. */
const char *analyzer_last_error(const struct analyzer *a);

/* Script path, for logs. */
const char *analyzer_path(const struct analyzer *a);

/*
 * Check that lua_dir's FFI declaration of struct flow_record (lua/darter/
 * flow.lua) matches this build's C layout: every field's offset and size,
 * and the struct's size. Returns 0 or -EPROTO with the first mismatch in
 * err. analyzer_new() runs the same check and refuses to load on mismatch.
 */
int analyzer_layout_check(const char *lua_dir, char *err, size_t errlen);

#endif
