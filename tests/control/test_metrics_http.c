/*
 * test_metrics_http.c: the Prometheus endpoint.
 *
 * Formatting is checked as exact text. The server runs its loop on a
 * thread of its own and is scraped by real clients: Python's urllib
 * (tests/control/scrape.py, which also parses the exposition format
 * strictly) and curl when installed (--path-as-is, so "../" reaches the
 * server unfolded), then attacked with raw requests over plain sockets
 * from the test thread: wrong paths, methods, versions and syntax,
 * oversized heads, slow and vanishing clients. Counters are copied on
 * the loop thread before metrics_http_close(), and every test checks the
 * close callback ran and uv_loop_close() == 0.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <jansson.h>
#include <uv.h>

#include "metrics_http.h"

/* ------------------------------------------------------------------ */
/* The counters served                                                */
/* ------------------------------------------------------------------ */

static const struct eve_counter served[] = {
	{"capture.port0.queue0.packets", 100},
	{"capture.port0.queue1.packets", 200},
	{"decoder.pkts", 300},
	{"capture.port1.queue0.packets", 400},
	{"decoder.event.ipv4.trunc-pkt", 5},
	{"flow.active", 7},
	{"darter.flow.emitted", 8},
	{"darter.workers.worker0.records", 9},
	{"darter.workers.worker1.records", 10},
	{"decoder.pkts", 999},		     /* a repeat: dropped */
	{"capture.port0.queue0.packets", 1}, /* a repeat: dropped */
};
#define N_SERVED (sizeof(served) / sizeof(served[0]))

static const char *const gauges[] = {"flow.active", NULL};

static _Atomic uint64_t bump; /* added to decoder.pkts, from the test thread */
static _Atomic unsigned collects;

static size_t
collect(void *arg, struct eve_counter *out, size_t cap)
{
	size_t n = N_SERVED < cap ? N_SERVED : cap;

	(void)arg;
	memcpy(out, served, n * sizeof(*out));
	out[2].value += atomic_load(&bump);
	atomic_fetch_add(&collects, 1);
	return n;
}

/* ------------------------------------------------------------------ */
/* Formatting                                                         */
/* ------------------------------------------------------------------ */

static void
test_format(void **state)
{
	const struct metrics_http_conf conf = {.gauges = gauges};
	const char *want = "# TYPE darter_capture_packets counter\n"
			   "darter_capture_packets{port=\"0\",queue=\"0\"} 100\n"
			   "darter_capture_packets{port=\"0\",queue=\"1\"} 200\n"
			   "darter_capture_packets{port=\"1\",queue=\"0\"} 400\n"
			   "# TYPE darter_decoder_event_ipv4_trunc_pkt counter\n"
			   "darter_decoder_event_ipv4_trunc_pkt 5\n"
			   "# TYPE darter_decoder_pkts counter\n"
			   "darter_decoder_pkts 300\n"
			   "# TYPE darter_flow_active gauge\n"
			   "darter_flow_active 7\n"
			   "# TYPE darter_flow_emitted counter\n"
			   "darter_flow_emitted 8\n"
			   "# TYPE darter_workers_records counter\n"
			   "darter_workers_records{worker=\"0\"} 9\n"
			   "darter_workers_records{worker=\"1\"} 10\n";
	size_t len = 0, dropped = 0;
	char *text;

	(void)state;
	text = metrics_http_format(&conf, served, N_SERVED, &len, &dropped);
	assert_non_null(text);
	assert_string_equal(text, want);
	assert_int_equal(len, strlen(want));
	assert_int_equal(dropped, 2);
	free(text);
}

static void
test_format_names(void **state)
{
	static const char *const keys[] = {"lcore", NULL};
	const struct eve_counter c[] = {
		{"port0.x", 1},	      /* port is no label key here */
		{"a.lcore12", 2},     /* labels only after the prefix: a */
		{"lcore3", 3},	      /* nothing but a label */
		{"lcorex.y", 4},      /* not key + digits: a name segment */
		{"9lives.é", 5},      /* sanitized */
		{"b..c", UINT64_MAX}, /* empty segments vanish */
	};
	const struct metrics_http_conf conf = {.prefix = "", .labels = keys};
	const char *want = "# TYPE _ counter\n"
			   "_{lcore=\"3\"} 3\n"
			   "# TYPE _lives___ counter\n"
			   "_lives___ 5\n"
			   "# TYPE a counter\n"
			   "a{lcore=\"12\"} 2\n"
			   "# TYPE b_c counter\n"
			   "b_c 18446744073709551615\n"
			   "# TYPE lcorex_y counter\n"
			   "lcorex_y 4\n"
			   "# TYPE port0_x counter\n"
			   "port0_x 1\n";
	size_t len;
	char *text = metrics_http_format(&conf, c, 6, &len, NULL);

	(void)state;
	assert_non_null(text);
	assert_string_equal(text, want);
	free(text);
	text = metrics_http_format(&conf, c, 0, &len, NULL);
	assert_non_null(text);
	assert_string_equal(text, "");
	assert_int_equal(len, 0);
	free(text);
}

/* ------------------------------------------------------------------ */
/* The server, on its own thread                                      */
/* ------------------------------------------------------------------ */

static struct server {
	uv_loop_t loop;
	uv_async_t stop;
	pthread_t thread;
	struct metrics_http *m;
	struct metrics_http_stats st;
	uint16_t port;
	bool closed;
} S;

static void
on_closed(void *arg)
{
	(void)arg;
	S.closed = true;
}

static void
on_stop(uv_async_t *a)
{
	metrics_http_stats(S.m, &S.st);
	metrics_http_close(S.m, on_closed, NULL);
	uv_close((uv_handle_t *)a, NULL);
}

static void *
server_main(void *arg)
{
	(void)arg;
	uv_run(&S.loop, UV_RUN_DEFAULT);
	return NULL;
}

static void
server_conf(struct metrics_http_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	conf->collect = collect;
	conf->gauges = gauges;
}

static void
server_start(const struct metrics_http_conf *conf)
{
	struct metrics_http_conf def;

	if (conf == NULL) {
		server_conf(&def);
		conf = &def;
	}
	memset(&S, 0, sizeof(S));
	atomic_store(&bump, 0);
	atomic_store(&collects, 0);
	assert_int_equal(uv_loop_init(&S.loop), 0);
	S.m = metrics_http_new(&S.loop, conf);
	assert_non_null(S.m);
	S.port = metrics_http_port(S.m);
	assert_true(S.port > 0);
	assert_int_equal(uv_async_init(&S.loop, &S.stop, on_stop), 0);
	assert_int_equal(pthread_create(&S.thread, NULL, server_main, NULL), 0);
}

static void
server_stop(void)
{
	uv_async_send(&S.stop);
	assert_int_equal(pthread_join(S.thread, NULL), 0);
	assert_true(S.closed);
	assert_int_equal(uv_loop_close(&S.loop), 0);
}

/* ------------------------------------------------------------------ */
/* Raw clients                                                        */
/* ------------------------------------------------------------------ */

static int
raw_connect(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(S.port)};
	struct timeval tv = {.tv_sec = 5};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void
raw_send(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);

		if (w < 0 && (errno == EPIPE || errno == ECONNRESET))
			return; /* the server already answered and hung up */
		assert_true(w > 0);
		s += w;
		n -= (size_t)w;
	}
}

/* Read the whole response, until the server closes; malloc'ed, NUL-terminated. */
static char *
raw_read_all(int fd, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *s = malloc(cap);

	assert_non_null(s);
	for (;;) {
		ssize_t r = recv(fd, s + n, cap - n - 1, 0);

		assert_true(r >= 0); /* < 0: timed out, the server did not close */
		if (r == 0)
			break;
		n += (size_t)r;
		if (n + 1 == cap) {
			cap *= 2;
			s = realloc(s, cap);
			assert_non_null(s);
		}
	}
	s[n] = '\0';
	*len = n;
	return s;
}

/* Send req, return the status code; *resp (if not NULL) gets the response. */
static int
raw_request(const char *req, size_t n, char **resp)
{
	int fd = raw_connect();
	size_t len;
	char *s;
	int code = -1;

	raw_send(fd, req, n);
	shutdown(fd, SHUT_WR); /* some clients do: the answer must still come */
	s = raw_read_all(fd, &len);
	close(fd);
	if (sscanf(s, "HTTP/1.1 %d ", &code) != 1)
		fail_msg("not an HTTP response: \"%s\"", s);
	assert_non_null(strstr(s, "\r\nConnection: close\r\n"));
	if (resp != NULL)
		*resp = s;
	else
		free(s);
	return code;
}

static int
raw_code(const char *req)
{
	return raw_request(req, strlen(req), NULL);
}

static const char *
body_of(const char *resp)
{
	const char *b = strstr(resp, "\r\n\r\n");

	assert_non_null(b);
	return b + 4;
}

/* ------------------------------------------------------------------ */
/* Tests                                                              */
/* ------------------------------------------------------------------ */

static void
test_scrape_raw(void **state)
{
	const char *get11 = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
	const char *head10 = "HEAD /metrics HTTP/1.0\r\n\r\n";
	struct metrics_http_conf conf;
	char *resp, *want;
	size_t len, clen = 0;

	(void)state;
	server_start(NULL);
	server_conf(&conf);
	want = metrics_http_format(&conf, served, N_SERVED, &len, NULL);
	assert_int_equal(raw_code("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n"), 200);
	assert_int_equal(raw_request(get11, strlen(get11), &resp), 200);
	assert_non_null(
		strstr(resp, "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
	assert_int_equal(sscanf(strstr(resp, "Content-Length: "), "Content-Length: %zu", &clen), 1);
	assert_int_equal(clen, len);
	assert_string_equal(body_of(resp), want);
	free(resp);
	/* HTTP/1.0 needs no Host; LF-only lines are accepted; a query is ignored */
	assert_int_equal(raw_code("GET /metrics HTTP/1.0\r\n\r\n"), 200);
	assert_int_equal(raw_code("GET /metrics?x=1 HTTP/1.0\n\n"), 200);
	/* HEAD: the headers of GET, no body */
	assert_int_equal(raw_request(head10, strlen(head10), &resp), 200);
	assert_string_equal(body_of(resp), "");
	assert_int_equal(sscanf(strstr(resp, "Content-Length: "), "Content-Length: %zu", &clen), 1);
	assert_int_equal(clen, len);
	free(resp);
	free(want);
	server_stop();
	assert_int_equal(S.st.scrapes, 5);
	assert_int_equal(S.st.requests, 5);
	assert_int_equal(S.st.dropped_series, 10);
	assert_int_equal(atomic_load(&collects), 5);
}

/* Scraped by urllib (and curl if installed): values, types, and "../" paths. */
static void
test_scrape_real_clients(void **state)
{
	const char *python = getenv("PYTHON");
	const char *script = getenv("SCRAPE_PY");
	char cmd[1024], out[65536];
	json_t *r, *samples, *types, *status;
	json_error_t err;
	size_t n;
	FILE *p;

	(void)state;
	if (python == NULL || script == NULL)
		skip();
	server_start(NULL);
	atomic_store(&bump, 11);
	snprintf(cmd, sizeof(cmd),
		 "%s %s http://127.0.0.1:%u /../etc/passwd /metrics/../../etc/passwd /etc/passwd "
		 "/%%2e%%2e/%%2e%%2e/etc/passwd /metrics/ / /metricsx",
		 python, script, S.port);
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	assert_int_equal(pclose(p), 0);
	r = json_loads(out, 0, &err);
	if (r == NULL)
		fail_msg("scrape.py printed: %s", out);
	samples = json_object_get(r, "samples");
	types = json_object_get(r, "types");
	status = json_object_get(r, "status");
	assert_int_equal(json_object_size(samples), 9);
	assert_int_equal(json_integer_value(json_object_get(samples, "darter_decoder_pkts")), 311);
	assert_int_equal(json_integer_value(json_object_get(
				 samples, "darter_capture_packets{port=\"1\",queue=\"0\"}")),
			 400);
	assert_int_equal(json_integer_value(
				 json_object_get(samples, "darter_workers_records{worker=\"1\"}")),
			 10);
	assert_string_equal(json_string_value(json_object_get(types, "darter_flow_active")),
			    "gauge");
	assert_string_equal(json_string_value(json_object_get(types, "darter_decoder_pkts")),
			    "counter");
	assert_int_equal(json_object_size(status), 7);
	for (void *it = json_object_iter(status); it != NULL;
	     it = json_object_iter_next(status, it))
		assert_int_equal(json_integer_value(json_object_iter_value(it)), 404);
	json_decref(r);

	if (system("command -v curl >/dev/null 2>&1") == 0) {
		snprintf(cmd, sizeof(cmd),
			 "curl -s --path-as-is -o /dev/null -w '%%{http_code}' "
			 "http://127.0.0.1:%u/../../etc/passwd",
			 S.port);
		p = popen(cmd, "r");
		assert_non_null(p);
		n = fread(out, 1, sizeof(out) - 1, p);
		out[n] = '\0';
		pclose(p);
		assert_string_equal(out, "404");
		snprintf(cmd, sizeof(cmd), "curl -sf http://127.0.0.1:%u/metrics", S.port);
		p = popen(cmd, "r");
		n = fread(out, 1, sizeof(out) - 1, p);
		out[n] = '\0';
		assert_int_equal(pclose(p), 0);
		assert_non_null(strstr(out, "\ndarter_decoder_pkts 311\n"));
	}
	server_stop();
	assert_true(S.st.not_found >= 7);
}

static void
test_not_found(void **state)
{
	static const char *const paths[] = {
		"/",
		"/metrics/",
		"/metricsx",
		"/Metrics",
		"/../etc/passwd",
		"/metrics/../metrics",
		"/metrics/../../etc/passwd",
		"/%2e%2e/%2e%2e/etc/passwd",
		"/./metrics",
		"//metrics",
		"http://127.0.0.1/metrics",
		"*",
		"/metrics%00",
		"/metrics#x",
	};
	char req[256];

	(void)state;
	server_start(NULL);
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: a\r\n\r\n", paths[i]);
		if (raw_code(req) != 404)
			fail_msg("%s: not 404", paths[i]);
	}
	/* other methods elsewhere are 404 too: there is nothing else */
	assert_int_equal(raw_code("POST /x HTTP/1.1\r\nHost: a\r\n\r\n"), 404);
	server_stop();
	assert_int_equal(S.st.not_found, sizeof(paths) / sizeof(paths[0]) + 1);
	assert_int_equal(S.st.scrapes, 0);
	assert_int_equal(atomic_load(&collects), 0);
}

static void
test_bad_method(void **state)
{
	static const char *const methods[] = {"POST",  "PUT",	"DELETE", "OPTIONS",
					      "TRACE", "PATCH", "get",	  "CONNECT"};
	char req[256], *resp;

	(void)state;
	server_start(NULL);
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		snprintf(req, sizeof(req),
			 "%s /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
			 methods[i]);
		assert_int_equal(raw_request(req, strlen(req), &resp), 405);
		assert_non_null(strstr(resp, "\r\nAllow: GET, HEAD\r\n"));
		free(resp);
	}
	server_stop();
	assert_int_equal(S.st.bad_method, 8);
}

static void
test_bad_request(void **state)
{
	static const char *const reqs[] = {
		"GET /metrics\r\n\r\n",
		"GET  /metrics HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /metrics  HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /metrics HTTP/1.1 \r\nHost: a\r\n\r\n",
		"GET /metrics HTTP/1.1\r\n\r\n",		       /* 1.1 without Host */
		"GET /metrics HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", /* two */
		"G@T /metrics HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nHost: a\r\nX: 1\r\n folded\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nHost : a\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nHost: a\r\n: empty\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nHost: a\x01\r\n\r\n",
		"GET /met\x7frics HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /metrics HTTP/1.1x\r\nHost: a\r\n\r\n",
		"GET /metrics http/1.1\r\nHost: a\r\n\r\n",
		"GET /metrics HTTP/1\r\nHost: a\r\n\r\n",
		" GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n",
		"\r\n\r\n",
		"\x16\x03\x01\x02\x01\x01\xfc\x03\x03\n\n", /* TLS-like noise */
	};
	static const char nul[] = "GET /metrics HTTP/1.1\r\nHost: a\0b\r\n\r\n";
	size_t n = sizeof(reqs) / sizeof(reqs[0]);

	(void)state;
	server_start(NULL);
	for (size_t i = 0; i < n; i++) {
		if (raw_code(reqs[i]) != 400)
			fail_msg("request %zu: not 400", i);
	}
	assert_int_equal(raw_code("GET /metrics HTTP/2.0\r\nHost: a\r\n\r\n"), 505);
	/* a NUL in the head */
	assert_int_equal(raw_request(nul, sizeof(nul) - 1, NULL), 400);
	server_stop();
	assert_int_equal(S.st.bad_request, n + 2);
	assert_int_equal(S.st.scrapes, 0);
}

/* A head larger than max_header: 431, however it keeps coming. */
static void
test_too_large(void **state)
{
	char *big = malloc(100000);
	size_t n = 0;

	(void)state;
	server_start(NULL);
	n += (size_t)sprintf(big, "GET /metrics HTTP/1.1\r\nHost: a\r\n");
	while (n < 99000)
		n += (size_t)sprintf(big + n, "X-Filler: %0100d\r\n", 0);
	n += (size_t)sprintf(big + n, "\r\n");
	assert_int_equal(raw_request(big, n, NULL), 431);
	/* just under the limit is fine */
	n = (size_t)sprintf(big, "GET /metrics HTTP/1.1\r\nHost: a\r\nX: ");
	memset(big + n, 'a', METRICS_HTTP_DEFAULT_MAX_HEADER - n - 4);
	n = METRICS_HTTP_DEFAULT_MAX_HEADER - 4;
	memcpy(big + n, "\r\n\r\n", 4);
	assert_int_equal(raw_request(big, n + 4, NULL), 200);
	free(big);
	server_stop();
	assert_int_equal(S.st.too_large, 1);
}

/* Silent or slow clients get 408 after timeout_ms; a gone client costs nothing. */
static void
test_timeout(void **state)
{
	struct metrics_http_conf conf;
	char *resp;
	size_t len;
	int fd;

	(void)state;
	server_conf(&conf);
	conf.timeout_ms = 200;
	server_start(&conf);
	fd = raw_connect();
	resp = raw_read_all(fd, &len);
	assert_non_null(strstr(resp, "HTTP/1.1 408 "));
	free(resp);
	close(fd);
	fd = raw_connect();
	raw_send(fd, "GET /met", 8);
	resp = raw_read_all(fd, &len);
	assert_non_null(strstr(resp, "HTTP/1.1 408 "));
	free(resp);
	close(fd);
	/* a client that sends and vanishes */
	fd = raw_connect();
	raw_send(fd, "GET /metrics HTTP/1.0\r\n\r\n", 25);
	close(fd);
	fd = raw_connect();
	close(fd);
	assert_int_equal(raw_code("GET /metrics HTTP/1.0\r\n\r\n"), 200);
	server_stop();
	assert_int_equal(S.st.timeouts, 2);
}

static void
test_max_clients(void **state)
{
	struct metrics_http_conf conf;
	int a, b;

	(void)state;
	server_conf(&conf);
	conf.max_clients = 2;
	server_start(&conf);
	a = raw_connect();
	b = raw_connect();
	usleep(50000); /* both accepted */
	assert_int_equal(raw_code("GET /metrics HTTP/1.0\r\n\r\n"), 503);
	close(a);
	close(b);
	for (int i = 0; i < 100; i++) {
		if (raw_code("GET /metrics HTTP/1.0\r\n\r\n") == 200)
			break;
		usleep(10000);
	}
	assert_int_equal(raw_code("GET /metrics HTTP/1.0\r\n\r\n"), 200);
	server_stop();
	assert_true(S.st.rejected >= 1);
}

static void
test_conf(void **state)
{
	struct metrics_http_conf conf;
	uv_loop_t loop;
	int busy;

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	server_conf(&conf);
	conf.collect = NULL;
	assert_null(metrics_http_new(&loop, &conf));
	assert_int_equal(errno, EINVAL);
	server_conf(&conf);
	conf.addr = "not-an-address";
	assert_null(metrics_http_new(&loop, &conf));
	assert_int_equal(errno, EINVAL);
	/* a port in use */
	server_start(NULL);
	server_conf(&conf);
	conf.port = S.port;
	assert_null(metrics_http_new(&loop, &conf));
	busy = errno;
	assert_int_equal(busy, EADDRINUSE);
	server_stop();
	/* IPv6 loopback, where the machine has it */
	server_conf(&conf);
	conf.addr = "::1";
	{
		struct metrics_http *m = metrics_http_new(&loop, &conf);

		if (m != NULL) {
			assert_true(metrics_http_port(m) > 0);
			metrics_http_close(m, NULL, NULL);
		}
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format),	    cmocka_unit_test(test_format_names),
		cmocka_unit_test(test_scrape_raw),  cmocka_unit_test(test_scrape_real_clients),
		cmocka_unit_test(test_not_found),   cmocka_unit_test(test_bad_method),
		cmocka_unit_test(test_bad_request), cmocka_unit_test(test_too_large),
		cmocka_unit_test(test_timeout),	    cmocka_unit_test(test_max_clients),
		cmocka_unit_test(test_conf),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
