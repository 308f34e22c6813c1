/*
 * analyzer.h: one Lua analyzer script in its own sandboxed LuaJIT state.
 *
 * An analyzer is a Lua file defining setup(), a per-event function
 * (on_flow(rec), on_eve(type, json), on_input(line)), optional
 * tick(now_us) and teardown(), and a global table `wants` naming what it
 * takes:
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
 * to be abandoned).
 *
 * Redis without blocking: with conf.loop set, darter.redis.call() sends the
 * command on the analyzer's own rconn (engine/rconn.h) and suspends the
 * script's coroutine; the reply callback resumes it. Events of one analyzer
 * are handled strictly in order: while one is suspended, later events wait
 * in a bounded FIFO (conf.queue_max; a full queue drops the event from the
 * analyzer, counted in queue_drops; the caller passes every event on
 * anyway). An event call that suspends returns -EINPROGRESS. setup() may
 * suspend too: events queue until it is done (analyzer_ready()).
 *
 * conf.dragonfly runs a Dragonfly MLE script (setup/loop, lua/dragonfly/).
 *
 * Input scripts (issue 6): a script defining on_input(line) turns one raw
 * line of a foreign JSON source (Zeek, a firewall) into zero or more EVE
 * events, each given to darter.input(tbl | json_text) in on_input or
 * tick. The host holds them until the script's call returns (or waits on
 * Redis) and only then hands them to conf.input, in order: the callback
 * runs outside the script, so it may feed other analyzers (their calls
 * would otherwise nest inside this one's CPU limit) and its time is not
 * the script's. The EVE a flow event must carry is engine/eve_in.h's.
 *
 * Threads: an analyzer is used by one thread at a time (its worker).
 * analyzer_reload_prepare() may run on any thread; analyzer_reload_setup(),
 * analyzer_swap() and the event calls on the worker only.
 */
#ifndef DARTER_ANALYZER_H
#define DARTER_ANALYZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct flow_record;
struct analyzer;
struct uv_loop_s;

/* Bits of analyzer_wants(). */
#define ANALYZER_WANT_FLOW  0x1u /* defines on_flow and wants.flow */
#define ANALYZER_WANT_EVE   0x2u /* defines on_eve and wants.eve */
#define ANALYZER_WANT_TICK  0x4u /* defines tick and wants.tick (ms) */
#define ANALYZER_WANT_INPUT 0x8u /* defines on_input: an input script */

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

/*
 * One event an input script made with darter.input: JSON text of len
 * bytes without '\n' (NUL-terminated; valid during the call only).
 * Called on the analyzer's thread after the script's call returned or
 * suspended, from analyzer_input()/analyzer_tick() or from the loop (a
 * resumed call): it may call other analyzers, but must not free or call
 * this one. Return 0, or a negative errno (counted in input_errors).
 */
typedef int (*analyzer_input_fn)(void *user, const char *json, size_t len);

struct analyzer_conf {
	const char *path;      /* the script */
	const char *lua_dir;   /* darter's own Lua files (lua/); NULL: built-in default */
	size_t mem_max;	       /* bytes per state, 0: ANALYZER_MEM_DEFAULT */
	uint32_t cpu_ms;       /* per call, 0: ANALYZER_CPU_MS_DEFAULT */
	bool allow_io;	       /* give scripts the io library */
	analyzer_emit_fn emit; /* NULL: emit fails with -ENOSYS */
	analyzer_annotate_fn annotate;
	analyzer_input_fn input; /* NULL: darter.input returns false, "no input" */
	void *user;
	/* Redis from Lua. loop NULL: darter.redis.* returns nil, "no redis". */
	struct uv_loop_s *loop;	   /* the worker's loop: the analyzer is used on its thread */
	const char *redis_host;	   /* numeric address; NULL: 127.0.0.1 */
	uint16_t redis_port;	   /* 0: 6379 */
	uint32_t redis_timeout_ms; /* per command, 0: ANALYZER_REDIS_TIMEOUT_DEFAULT */
	uint32_t queue_max;	   /* events waiting behind a suspended one, 0: default */
	/* Dragonfly MLE compatibility (lua/dragonfly/compat.lua). */
	bool dragonfly;
	const char *default_output;   /* the script's default_output global; NULL: "alerts" */
	const char *default_analyzer; /* its default_analyzer global; NULL: "" */
};

#define ANALYZER_MEM_DEFAULT	       (64u * 1024u * 1024u)
#define ANALYZER_CPU_MS_DEFAULT	       100u
#define ANALYZER_REDIS_TIMEOUT_DEFAULT 1000u
#define ANALYZER_QUEUE_DEFAULT	       1024u
#define ANALYZER_REDIS_WINDOW	       1024u		    /* commands in flight per analyzer */
#define ANALYZER_INPUT_HOLD_MAX	       (4u * 1024u * 1024u) /* darter.input bytes held per call */

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
	uint64_t suspends;	   /* times a call suspended on Redis (each resumes once) */
	uint64_t deferred;	   /* events whose analyzer_* call returned -EINPROGRESS */
	uint64_t queued;	   /* events that waited behind a suspended one */
	uint64_t queue_drops;	   /* events not analyzed: the queue was full */
	uint64_t abandoned;	   /* suspended or queued events dropped by free or a rebuild */
	uint64_t redis_commands;   /* commands sent */
	uint64_t redis_errors;	   /* commands without a reply (timeout, down, refused) */
	uint64_t late_annotations; /* darter.annotate after the event had gone on */
	uint64_t kill_deferred;	   /* forced stops put off a tick: not in JIT code */
	uint64_t input_events;	   /* darter.input events the input callback took */
	uint64_t input_errors;	   /* refused: bad value, too big, '\n', callback error */
};

/*
 * Load conf->path into a new state, run the chunk and setup(). conf is
 * copied. Returns NULL with errno set (EINVAL bad conf or script, ENOMEM,
 * ETIME setup timed out) and a message in err (may be NULL).
 */
struct analyzer *analyzer_new(const struct analyzer_conf *conf, char *err, size_t errlen);

/*
 * Run teardown() (under the limits; it cannot suspend) and free
 * everything. A suspended event and queued ones are dropped (counted in
 * abandoned). With a loop, the Redis connection closes asynchronously:
 * run the loop afterwards until it has no more handles. NULL is fine.
 */
void analyzer_free(struct analyzer *a);

/* ANALYZER_WANT_* bits; the tick period in ms (0: none). */
unsigned analyzer_wants(const struct analyzer *a);
uint32_t analyzer_tick_ms(const struct analyzer *a);

/* Does the analyzer take EVE events of this type? ("*" in wants.eve: all) */
bool analyzer_wants_eve(const struct analyzer *a, const char *type);

/*
 * Give one flow record to on_flow. rec stays the caller's; it is only read,
 * and copied when the call suspends or waits in the queue. Returns 0,
 * -ENOENT when the analyzer takes no flows or has no state, -ETIME on
 * timeout, -ENOMEM when the cap was hit, -EINVAL on any other script error
 * (all counted), -EINPROGRESS when the call suspended on Redis or the event
 * was queued behind a suspended one, -ENOBUFS when the queue was full
 * (counted). Whatever it returns, the caller passes the event on:
 * annotations are only taken before the first suspension.
 */
int analyzer_flow(struct analyzer *a, const struct flow_record *rec);

/* Give one EVE event (JSON text of the given type) to on_eve(type, json). */
int analyzer_eve(struct analyzer *a, const char *type, const char *json, size_t len);

/*
 * Give one raw line (len bytes; a trailing "\n" or "\r\n" is cut) to
 * on_input(line). Same returns as analyzer_flow (-ENOENT: not an input
 * script); the line is copied when it waits in the queue. The events the
 * script makes reach conf.input before this returns, or, when the call
 * suspended or was queued, later from the loop, still in line order.
 */
int analyzer_input(struct analyzer *a, const char *line, size_t len);

/* Call tick(now_us). Same returns as analyzer_flow. */
int analyzer_tick(struct analyzer *a, uint64_t now_us);

/*
 * Hot reload, step 1, off the event path: read cur's script again and build
 * a new analyzer with cur's configuration. cur is not touched, so this may
 * run on another thread while cur serves events. Without conf.loop,
 * setup() runs here too. With conf.loop, setup() (which may talk to Redis
 * on the loop) waits for analyzer_reload_setup() on the loop's thread, and
 * darter.redis refuses commands from the script's top level meanwhile.
 * Returns NULL (errno, err) when the script fails to load or set up: keep
 * cur.
 */
struct analyzer *analyzer_reload_prepare(const struct analyzer *cur, char *err, size_t errlen);

/*
 * Step 1b, on the loop's thread: run the prepared analyzer's setup() if
 * step 1 left it to us. Returns what analyzer_ready() then says: 0,
 * -EINPROGRESS (suspended on Redis), or how setup() failed (a disabled
 * analyzer: free it and keep cur). A no-op for analyzers set up already.
 */
int analyzer_reload_setup(struct analyzer *a);

/*
 * Step 2, between two events on the worker: *slot becomes next, whose
 * counters continue cur's; events queued on the old one move to next (and
 * run now if next is not busy). An event suspended in the old one finishes
 * there: free the old analyzer once analyzer_idle() (or accept the loss).
 * Returns the old analyzer; free it with analyzer_free().
 */
struct analyzer *analyzer_swap(struct analyzer **slot, struct analyzer *next);

/*
 * 0 when setup() has completed, -EINPROGRESS while it is suspended on
 * Redis, or the negative errno it failed with (the analyzer is then
 * disabled). Swap a prepared analyzer in only once it is ready.
 */
int analyzer_ready(const struct analyzer *a);

/* No event suspended and none queued: a swapped-out analyzer can be freed without loss. */
bool analyzer_idle(const struct analyzer *a);

/* Events not finished: the suspended one and those queued behind it. */
uint32_t analyzer_pending(const struct analyzer *a);

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
