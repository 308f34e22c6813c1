/*
 * watchdog.h: a CPU limit per call for code that may never return.
 *
 * One thread per process samples every registered slot each tick. A slot's
 * sequence number is odd while a call runs; when the watchdog sees the same
 * odd number for longer than the slot's limit it sets fire_seq and phase
 * (1: ask nicely, 2: force) and sends WATCHDOG_SIGNAL to the thread that
 * made the call. What the signal does is the handler's business (see
 * analyzer.c); the watchdog repeats phase 2 every tick until the call ends.
 *
 * The hot path costs two stores per call (watchdog_enter/leave); the
 * watchdog never touches the caller's data beyond its slot.
 */
#ifndef DARTER_WATCHDOG_H
#define DARTER_WATCHDOG_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

/* The signal sent to a thread whose call ran over (a real-time signal). */
#define WATCHDOG_SIGNAL (SIGRTMIN + 6)

/* Sampling period; a call is stopped between limit and limit + tick. */
#define WATCHDOG_TICK_MS 2u

struct watchdog_slot {
	/* Written by the calling thread. */
	uint64_t seq; /* odd while a call runs (atomic) */
	pthread_t thread;
	/* Written by the watchdog, read by the signal handler. */
	uint64_t fire_seq; /* the call to stop (atomic) */
	int phase;	   /* 1 soft, 2 hard, for fire_seq (atomic) */
	/* The watchdog's own. */
	uint32_t cpu_ms;
	uint32_t grace_ms; /* from phase 1 to phase 2 */
	uint64_t seen_seq;
	uint64_t seen_ns;
	struct watchdog_slot *prev, *next;
};

/*
 * Watch s with a limit of cpu_ms per call (s zeroed here). Starts the
 * watchdog thread on first use. Returns 0 or -errno (thread creation).
 * Any thread.
 */
int watchdog_add(struct watchdog_slot *s, uint32_t cpu_ms);

/* Stop watching s; it must not be in a call. Any thread. */
void watchdog_remove(struct watchdog_slot *s);

/*
 * Declare the executable segments of the binary or library that holds fn
 * as the VM's own C code (LuaJIT's interpreter and library: C that holds
 * no lock of the process, so a forced stop may leave it). Call once,
 * before any signal may need it, not from a handler. Returns 0, or
 * -ENOENT when fn's object is not found.
 */
int watchdog_set_vm_code(uintptr_t fn);

/*
 * May a forced stop jump out from pc? true inside JIT-compiled machine
 * code (an executable mapping backed by no file: LuaJIT's mcode areas) and
 * inside the VM's own C (watchdog_set_vm_code); false anywhere else: the
 * code of other libraries (libgcc's unwinder and __register_frame, libc:
 * they may hold a lock), ours, data, and when /proc/self/maps cannot be
 * read. Async-signal-safe (open, read, close; no allocation); the maps
 * read takes some tens of us: for the rare forced stop only.
 */
bool watchdog_pc_in_vm(uintptr_t pc);

/* The JIT-code part of watchdog_pc_in_vm(): an anonymous executable mapping. */
bool watchdog_pc_in_jit(uintptr_t pc);

/* The interrupted PC from a SA_SIGINFO handler's context; 0 when unknown. */
uintptr_t watchdog_pc_of(const void *ucontext);

/* A call starts on the current thread; returns its sequence number. */
static inline uint64_t
watchdog_enter(struct watchdog_slot *s)
{
	pthread_t self = pthread_self();
	uint64_t seq = s->seq + 1;

	if (!pthread_equal(s->thread, self))
		s->thread = self;
	__atomic_store_n(&s->seq, seq, __ATOMIC_RELEASE);
	return seq;
}

/* The call ends. */
static inline void
watchdog_leave(struct watchdog_slot *s)
{
	__atomic_store_n(&s->seq, s->seq + 1, __ATOMIC_RELEASE);
}

#endif
