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
 * watchdog_pc_in_vm() tells the handler whether the interrupted point is
 * the VM's: JIT machine code (found in /proc/self/maps, read with raw
 * syscalls a line at a time into a stack buffer) or LuaJIT's own C (its
 * executable segments, noted once by watchdog_set_vm_code() with
 * dl_iterate_phdr), the only places a forced stop may jump out of.
 *
 * Not here: the signal handler (the analyzer host installs it), time
 * accounting of finished calls.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include "watchdog.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

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

/* ---------------------------------------------------- where a PC lies */

/* Hex digits at *p into *v; p moves past them. */
static const char *
wd_hex(const char *p, const char *end, uintptr_t *v)
{
	uintptr_t x = 0;

	for (; p < end; p++) {
		char c = *p;
		int d = c >= '0' && c <= '9'   ? c - '0'
			: c >= 'a' && c <= 'f' ? c - 'a' + 10
			: c >= 'A' && c <= 'F' ? c - 'A' + 10
					       : -1;
		if (d < 0)
			break;
		x = x << 4 | (uintptr_t)d;
	}
	*v = x;
	return p;
}

static const char *
wd_skip_field(const char *p, const char *end)
{
	while (p < end && *p == ' ')
		p++;
	while (p < end && *p != ' ')
		p++;
	return p;
}

/*
 * One maps line "start-end perms offset dev inode [path]": 1 when pc is
 * in it and it is executable and anonymous, 0 when pc is in it otherwise,
 * -1 when pc is not in it.
 */
static int
wd_maps_line(const char *p, const char *end, uintptr_t pc)
{
	uintptr_t lo, hi;
	const char *perms;

	p = wd_hex(p, end, &lo);
	if (p >= end || *p != '-')
		return -1;
	p = wd_hex(p + 1, end, &hi);
	if (pc < lo || pc >= hi)
		return -1;
	perms = p + 1;
	if (end - perms < 4 || perms[2] != 'x')
		return 0;
	p = wd_skip_field(perms, end); /* perms */
	p = wd_skip_field(p, end);     /* offset */
	p = wd_skip_field(p, end);     /* dev */
	p = wd_skip_field(p, end);     /* inode */
	while (p < end && *p == ' ')
		p++;
	return p == end; /* no path: not a file, not [vdso] or [stack] */
}

bool
watchdog_pc_in_jit(uintptr_t pc)
{
	char buf[4096];
	size_t have = 0;
	int fd, found = -1, skip = 0;

	if (pc == 0)
		return false;
	fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	while (found < 0) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - have);
		char *line = buf, *nl;
		if (n <= 0)
			break;
		have += (size_t)n;
		while (found < 0 &&
		       (nl = memchr(line, '\n', have - (size_t)(line - buf))) != NULL) {
			if (!skip)
				found = wd_maps_line(line, nl, pc);
			skip = 0;
			line = nl + 1;
		}
		have -= (size_t)(line - buf);
		memmove(buf, line, have);
		if (have == sizeof(buf)) { /* a line longer than the buffer (its path): skip it */
			have = 0;
			skip = 1;
		}
	}
	close(fd);
	return found == 1;
}

uintptr_t
watchdog_pc_of(const void *ucontext)
{
	const ucontext_t *uc = ucontext;

	if (uc == NULL)
		return 0;
#if defined(__x86_64__)
	return (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
	return (uintptr_t)uc->uc_mcontext.pc;
#else
	return 0; /* unknown: never in JIT code, the handler never jumps */
#endif
}

/* ------------------------------------------------- the VM's own C code */

#define WD_VM_SEGS 4

static uintptr_t wd_vm_lo[WD_VM_SEGS], wd_vm_hi[WD_VM_SEGS];
static int wd_vm_n; /* written once before use, read by handlers */

struct wd_find {
	uintptr_t base;
	int n;
};

static int
wd_phdr_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct wd_find *f = arg;

	(void)size;
	if ((uintptr_t)info->dlpi_addr != f->base)
		return 0;
	for (int i = 0; i < info->dlpi_phnum && f->n < WD_VM_SEGS; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		wd_vm_lo[f->n] = (uintptr_t)info->dlpi_addr + ph->p_vaddr;
		wd_vm_hi[f->n] = wd_vm_lo[f->n] + ph->p_memsz;
		f->n++;
	}
	return 1;
}

int
watchdog_set_vm_code(uintptr_t fn)
{
	struct wd_find f = {0, 0};
	Dl_info di;

	if (dladdr((void *)fn, &di) == 0 || di.dli_fbase == NULL)
		return -ENOENT;
	f.base = (uintptr_t)di.dli_fbase;
	/* dlpi_addr is the load bias: 0 for a non-PIE executable, the base otherwise */
	dl_iterate_phdr(wd_phdr_cb, &f);
	if (f.n == 0) {
		f.base = 0;
		dl_iterate_phdr(wd_phdr_cb, &f);
	}
	__atomic_store_n(&wd_vm_n, f.n, __ATOMIC_RELEASE);
	return f.n > 0 ? 0 : -ENOENT;
}

bool
watchdog_pc_in_vm(uintptr_t pc)
{
	int n = __atomic_load_n(&wd_vm_n, __ATOMIC_ACQUIRE);

	for (int i = 0; i < n; i++)
		if (pc >= wd_vm_lo[i] && pc < wd_vm_hi[i])
			return true;
	return watchdog_pc_in_jit(pc);
}
