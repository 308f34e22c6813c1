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
