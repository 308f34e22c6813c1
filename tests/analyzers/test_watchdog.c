/*
 * test_watchdog.c: the forced stop of a runaway script jumps out only from
 * JIT machine code (docs/faults.md, known bug 2).
 *
 * 1. watchdog_pc_in_jit()/_in_vm() on known addresses: libgcc's
 *    __register_frame and _Unwind_Find_FDE (the functions whose mutex a
 *    jump left locked), libc, our own code, the stack and the heap are not
 *    the VM's; LuaJIT's own C is (not JIT code though); an anonymous
 *    executable mapping is JIT code, and stops being once unmapped.
 * 2. The fault test's mix in one process (tests/faults/test_lua_analyzers.py,
 *    where the deadlock was seen): a worker thread runs four scripts on
 *    every record (errors, an endless loop every 200th record, a memory
 *    hog, emits) while another thread prepares reloads of all four
 *    (analyzer_reload_prepare, as libuv's pool does) and the worker swaps
 *    them in between records. Runs AN_WD_SECS seconds (default 20).
 * 3. The window itself, under stress: one thread kills JIT-compiled loops
 *    again and again (state abandoned and rebuilt each time) while its
 *    scripts' errors unwind through libgcc, and two other threads build,
 *    run and close states nonstop (trace compiles register machine code
 *    with __register_frame; lua_close deregisters it; errors unwind). A
 *    jump out of libgcc leaves its mutex locked and the next registration
 *    or unwind waits forever: an alarm turns that hang into a failure.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "analyzer.h"
#include "flow_record.h"
#include "watchdog.h"

#define KILLS	    40 /* forced stops asked for */
#define STRESS_SECS 120

static char tmpdir[256];

static const char *
script(const char *name, const char *text)
{
	static __thread char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

/* ------------------------------------------------------- the predicate */

static void
test_pc_predicate(void **state)
{
	void *lib = dlopen("libgcc_s.so.1", RTLD_NOW | RTLD_NOLOAD);
	void *lj = dlopen("libluajit-5.1.so.2", RTLD_NOW | RTLD_NOLOAD);
	int on_stack = 0;
	void *heap = malloc(64);
	void *page;
	(void)state;

	assert_non_null(lib);
	assert_non_null(lj);
	assert_non_null(dlsym(lib, "__register_frame"));
	assert_false(watchdog_pc_in_jit((uintptr_t)dlsym(lib, "__register_frame")));
	assert_false(watchdog_pc_in_jit((uintptr_t)dlsym(lib, "_Unwind_Find_FDE")));
	assert_false(watchdog_pc_in_jit((uintptr_t)dlsym(lj, "lua_resume")));
	assert_false(watchdog_pc_in_jit((uintptr_t)&memcpy));
	assert_false(watchdog_pc_in_jit((uintptr_t)&test_pc_predicate));
	assert_false(watchdog_pc_in_jit((uintptr_t)&on_stack));
	assert_false(watchdog_pc_in_jit((uintptr_t)heap));
	assert_false(watchdog_pc_in_jit(0));
	/* the VM's own C: LuaJIT's library, nothing else */
	assert_int_equal(watchdog_set_vm_code((uintptr_t)dlsym(lj, "lua_resume")), 0);
	assert_true(watchdog_pc_in_vm((uintptr_t)dlsym(lj, "lua_resume")));
	assert_true(watchdog_pc_in_vm((uintptr_t)dlsym(lj, "luaL_newstate")));
	assert_false(watchdog_pc_in_vm((uintptr_t)dlsym(lib, "__register_frame")));
	assert_false(watchdog_pc_in_vm((uintptr_t)dlsym(lib, "_Unwind_Find_FDE")));
	assert_false(watchdog_pc_in_vm((uintptr_t)&memcpy));
	assert_false(watchdog_pc_in_vm((uintptr_t)&test_pc_predicate));
	assert_false(watchdog_pc_in_vm((uintptr_t)heap));
	/* what LuaJIT's mcode areas look like: anonymous, executable */
	page = mmap(NULL, 65536, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(page != MAP_FAILED);
	assert_true(watchdog_pc_in_jit((uintptr_t)page + 100));
	assert_true(watchdog_pc_in_jit((uintptr_t)page + 65535));
	assert_true(watchdog_pc_in_vm((uintptr_t)page + 100));
	assert_false(watchdog_pc_in_jit((uintptr_t)page + 65536 + 4096 * 1024ul));
	munmap(page, 65536);
	assert_false(watchdog_pc_in_jit((uintptr_t)page + 100));
	/* and a writable anonymous one is not code */
	page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_false(watchdog_pc_in_jit((uintptr_t)page));
	munmap(page, 4096);
	free(heap);
}

/* ------------------------------------------------------- the window */

static volatile int stress_stop;

static void
on_alarm(int sig)
{
	static const char msg[] = "not ok - deadlock: a thread hung (forced stop out of libgcc?)\n";
	(void)sig;
	if (write(STDOUT_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(2);
	_exit(1);
}

static void
record(struct flow_record *r, uint16_t dport)
{
	memset(r, 0, sizeof(*r));
	r->flow_id = 42;
	r->ip_version = 4;
	r->proto = 17;
	r->dst_port = dport;
}

/* Many distinct loops: each state compiles many traces (mcode areas registered) and errors. */
static const char churn_lua[] =
	"wants = { flow = 'ffi' }\n"
	"function setup()\n"
	"  for k = 1, 40 do\n"
	"    local f = load('local x = 0 for i = 1, 300 do x = x + i * ' .. k .. ' end return x')\n"
	"    f()\n"
	"    pcall(error, 'unwind ' .. k)\n"
	"  end\n"
	"end\n"
	"function on_flow(rec) for k = 1, 20 do pcall(error, k) end end\n";

static void *
churn_thread(void *arg)
{
	struct flow_record r;
	unsigned long *made = arg;
	char name[32], err[256];

	snprintf(name, sizeof(name), "churn%lu.lua", (unsigned long)pthread_self() % 1000);
	struct analyzer_conf c = {
		.path = script(name, churn_lua),
		.lua_dir = AN_LUA_DIR,
		.mem_max = 16u << 20,
		.cpu_ms = 1000,
	};
	record(&r, 1);
	while (!stress_stop) {
		struct analyzer *a = analyzer_new(&c, err, sizeof(err));
		if (!a)
			continue;
		for (int i = 0; i < 5; i++)
			analyzer_flow(a, &r);
		analyzer_free(a); /* lua_close: __deregister_frame */
		(*made)++;
	}
	return NULL;
}

/* Killed every call; between kills, errors and trace compiles of its own. */
static const char spin_lua[] = "wants = { flow = 'ffi' }\n"
			       "local n = 0\n"
			       "function on_flow(rec)\n"
			       "  n = n + 1\n"
			       "  for k = 1, 10 do pcall(error, k) end\n"
			       "  local t, x = {}, 0\n"
			       "  if n % 2 == 0 then\n"
			       "    for i = 1, 1e18 do x = x + i t[i % 64 + 1] = x end\n"
			       "  else -- mostly in C called from the trace: strings, GC, malloc\n"
			       "    for i = 1, 1e18 do t[i % 64 + 1] = tostring(i) .. 'x' end\n"
			       "  end\n"
			       "end\n";

static void
test_kill_never_leaves_a_lock(void **state)
{
	struct sigaction sa = {.sa_handler = on_alarm};
	unsigned long made[2] = {0, 0};
	struct flow_record r;
	pthread_t t[2];
	char err[256];
	(void)state;

	sigaction(SIGALRM, &sa, NULL);
	alarm(STRESS_SECS);
	struct analyzer_conf c = {
		.path = script("spin.lua", spin_lua),
		.lua_dir = AN_LUA_DIR,
		.mem_max = 16u << 20,
		.cpu_ms = 5,
	};
	struct analyzer *a = analyzer_new(&c, err, sizeof(err));
	assert_non_null(a);
	stress_stop = 0;
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, churn_thread, &made[i]), 0);
	record(&r, 2);
	for (int i = 0; i < KILLS; i++)
		assert_int_equal(analyzer_flow(a, &r), -ETIME);
	stress_stop = 1;
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	alarm(0);
	print_message("# %d runaway calls: killed %llu, forced stops put off (not in JIT code) "
		      "%llu; %lu states built and closed meanwhile\n",
		      KILLS, (unsigned long long)analyzer_stats(a)->killed,
		      (unsigned long long)analyzer_stats(a)->kill_deferred, made[0] + made[1]);
	assert_int_equal(analyzer_stats(a)->timeouts, KILLS);
	assert_true(analyzer_stats(a)->killed >= KILLS / 2);
	assert_true(made[0] + made[1] > 0);
	/* the analyzer still answers, with a rebuilt state */
	assert_int_equal(analyzer_stats(a)->resets, analyzer_stats(a)->killed);
	analyzer_free(a);
}

static const char *const fault_scripts[4][2] = {
	{"err.lua", "local n = 0\n"
		    "function on_flow(rec)\n"
		    "  n = n + 1\n"
		    "  if n % 3 == 0 then error('err.lua: record ' .. n) end\n"
		    "end\n"},
	{"loop.lua", "local n = 0\n"
		     "function on_flow(rec)\n"
		     "  n = n + 1\n"
		     "  if n % 200 == 0 then local x = 0 while true do x = x + 1 end end\n"
		     "end\n"},
	{"hog.lua", "local keep = {}\n"
		    "function on_flow(rec)\n"
		    "  keep[#keep + 1] = string.rep('x', 8192) .. rec.flow_id\n"
		    "end\n"},
	{"emit.lua", "function on_flow(rec)\n"
		     "  darter.emit('flows', { event_type = 'seen', flow_id = rec.flow_id })\n"
		     "end\n"},
};

struct fault_mix {
	struct analyzer *cur[4];
	struct analyzer *next[4]; /* prepared, handed over under lock */
	pthread_mutex_t lock;
	volatile int stop;
	unsigned long prepared;
};

static int
fault_emit(void *user, const char *sink, const char *json, size_t len)
{
	(void)user, (void)sink, (void)json, (void)len;
	return 0;
}

static void *
fault_preparer(void *arg)
{
	struct fault_mix *m = arg;
	char err[256];

	while (!m->stop) {
		for (int i = 0; i < 4 && !m->stop; i++) {
			pthread_mutex_lock(&m->lock);
			int busy = m->next[i] != NULL;
			const struct analyzer *cur = m->cur[i];
			pthread_mutex_unlock(&m->lock);
			if (busy)
				continue;
			/* cur is only read (its conf): the worker swaps only what we hand over */
			struct analyzer *n = analyzer_reload_prepare(cur, err, sizeof(err));
			pthread_mutex_lock(&m->lock);
			m->next[i] = n;
			m->prepared += n != NULL;
			pthread_mutex_unlock(&m->lock);
		}
		usleep(2000);
	}
	return NULL;
}

static void
test_fault_mix_with_reloads(void **state)
{
	struct sigaction sa = {.sa_handler = on_alarm};
	const char *env = getenv("AN_WD_SECS");
	double secs = env ? atof(env) : 20.0;
	struct fault_mix m = {.lock = PTHREAD_MUTEX_INITIALIZER};
	unsigned long records = 0, swaps = 0;
	uint64_t timeouts = 0, killed = 0, deferred = 0;
	struct timespec t0, t;
	struct flow_record r;
	pthread_t prep;
	char err[256];
	(void)state;

	sigaction(SIGALRM, &sa, NULL);
	alarm((unsigned)secs + 60);
	for (int i = 0; i < 4; i++) {
		struct analyzer_conf c = {
			.path = script(fault_scripts[i][0], fault_scripts[i][1]),
			.lua_dir = AN_LUA_DIR,
			.mem_max = 16u << 20,
			.cpu_ms = 50,
			.emit = fault_emit,
		};
		m.cur[i] = analyzer_new(&c, err, sizeof(err));
		if (!m.cur[i])
			fail_msg("%s: %s", fault_scripts[i][0], err);
	}
	assert_int_equal(pthread_create(&prep, NULL, fault_preparer, &m), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		for (int k = 0; k < 64; k++) {
			record(&r, 3);
			r.flow_id = ++records;
			for (int i = 0; i < 4; i++)
				analyzer_flow(m.cur[i], &r);
		}
		for (int i = 0; i < 4; i++) { /* between two records: swap what is ready */
			pthread_mutex_lock(&m.lock);
			struct analyzer *n = m.next[i];
			m.next[i] = NULL;
			if (n) {
				struct analyzer *old = analyzer_swap(&m.cur[i], n);
				pthread_mutex_unlock(&m.lock);
				analyzer_free(old);
				swaps++;
			} else {
				pthread_mutex_unlock(&m.lock);
			}
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9 < secs);
	m.stop = 1;
	pthread_join(prep, NULL);
	alarm(0);
	for (int i = 0; i < 4; i++) {
		timeouts += analyzer_stats(m.cur[i])->timeouts;
		killed += analyzer_stats(m.cur[i])->killed;
		deferred += analyzer_stats(m.cur[i])->kill_deferred;
		analyzer_free(m.next[i]);
		analyzer_free(m.cur[i]);
	}
	print_message("# %.0f s: %lu records x 4 scripts, %lu reloads prepared, %lu swapped; "
		      "timeouts %llu, killed %llu, forced stops put off %llu\n",
		      secs, records, m.prepared, swaps, (unsigned long long)timeouts,
		      (unsigned long long)killed, (unsigned long long)deferred);
	assert_true(swaps > 0);
	assert_true(killed > 0);
}

static int
setup_dir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/darter-wd-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int
teardown_dir(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pc_predicate),
		cmocka_unit_test(test_kill_never_leaves_a_lock),
		cmocka_unit_test(test_fault_mix_with_reloads),
	};

	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
