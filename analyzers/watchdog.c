/*
 * watchdog.c: the sampling thread behind watchdog.h.
 *
 * How: slots sit on one list under a mutex; every WATCHDOG_TICK_MS the
 * thread walks it with the monotonic clock read once. A slot whose
 * sequence number is odd and unchanged since first seen at seen_ns has
 * run for now - seen_ns: past cpu_ms it gets phase 1, past cpu_ms +
 * grace_ms phase 2, each with a pthread_kill of WATCHDOG_SIGNAL (phase 2
 * again every tick). The thread lives as long as the process.
 *
 * Not here: the signal handler (the analyzer host installs it), time
 * accounting of finished calls.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include "watchdog.h"

#include <errno.h>
#include <string.h>
#include <time.h>

static pthread_mutex_t wd_lock = PTHREAD_MUTEX_INITIALIZER;
static struct watchdog_slot *wd_head;
static int wd_started;

static uint64_t
wd_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
wd_fire(struct watchdog_slot *s, uint64_t seq, int phase)
{
	__atomic_store_n(&s->phase, phase, __ATOMIC_RELAXED);
	__atomic_store_n(&s->fire_seq, seq, __ATOMIC_RELEASE);
	pthread_kill(s->thread, WATCHDOG_SIGNAL);
}

static void
wd_check(struct watchdog_slot *s, uint64_t now)
{
	uint64_t seq = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
	uint64_t ran_ms;

	if (!(seq & 1) || seq != s->seen_seq) {
		s->seen_seq = seq;
		s->seen_ns = now;
		return;
	}
	ran_ms = (now - s->seen_ns) / 1000000u;
	if (ran_ms >= (uint64_t)s->cpu_ms + s->grace_ms)
		wd_fire(s, seq, 2);
	else if (ran_ms >= s->cpu_ms && __atomic_load_n(&s->fire_seq, __ATOMIC_RELAXED) != seq)
		wd_fire(s, seq, 1);
}

static void *
wd_main(void *arg)
{
	struct timespec tick = {0, WATCHDOG_TICK_MS * 1000000L};

	(void)arg;
	for (;;) {
		nanosleep(&tick, NULL);
		pthread_mutex_lock(&wd_lock);
		uint64_t now = wd_now_ns();
		for (struct watchdog_slot *s = wd_head; s; s = s->next)
			wd_check(s, now);
		pthread_mutex_unlock(&wd_lock);
	}
	return NULL;
}

static int
wd_start_locked(void)
{
	pthread_attr_t attr;
	pthread_t t;
	sigset_t all, old;
	int rc;

	if (wd_started)
		return 0;
	/* The watchdog itself must never take the signal or any other. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	rc = pthread_create(&t, &attr, wd_main, NULL);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return -rc;
	pthread_setname_np(t, "darter-wdog");
	wd_started = 1;
	return 0;
}

int
watchdog_add(struct watchdog_slot *s, uint32_t cpu_ms)
{
	int rc;

	memset(s, 0, sizeof(*s));
	s->thread = pthread_self();
	s->cpu_ms = cpu_ms;
	s->grace_ms = cpu_ms / 2 > 20 ? cpu_ms / 2 : 20;
	pthread_mutex_lock(&wd_lock);
	rc = wd_start_locked();
	if (rc == 0) {
		s->next = wd_head;
		if (wd_head)
			wd_head->prev = s;
		wd_head = s;
	}
	pthread_mutex_unlock(&wd_lock);
	return rc;
}

void
watchdog_remove(struct watchdog_slot *s)
{
	pthread_mutex_lock(&wd_lock);
	if (s->prev)
		s->prev->next = s->next;
	else if (wd_head == s)
		wd_head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
	pthread_mutex_unlock(&wd_lock);
}
