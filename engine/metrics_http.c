/*
 * metrics_http.c: a Prometheus endpoint, the smallest HTTP server that
 * will do, on a libuv loop.
 *
 * What: one TCP listener (loopback by default); per connection a header
 * buffer of max_header bytes and a timer. Bytes are read until the blank
 * line that ends the request head; the request line and header lines are
 * checked strictly (RFC 9112 syntax: token method, origin-form target of
 * visible ASCII, HTTP/1.x, "name: value" headers without folding, one
 * Host for HTTP/1.1) and exactly one answer is written, then the write
 * side is shut down and the rest of the request is read and thrown away
 * until the client closes (so that closing never resets a response the
 * client has not read yet). The timer bounds the whole exchange.
 *
 * Routing is one byte comparison: "/metrics", optionally followed by a
 * query string that is ignored. Nothing is decoded or normalised and no
 * file is ever opened, so there is nothing to traverse (Dragonfly MLE's
 * side server served any file through "../").
 *
 * Formatting (metrics_http_format) turns each dotted counter name into a
 * metric name and labels (see metrics_http.h), then sorts the rows by
 * (name, labels, position) so that each metric's series are contiguous
 * under one TYPE line, as the format requires, and repeats are dropped.
 * A scrape allocates its text; this is not a hot path.
 *
 * Not here: keep-alive, chunked bodies, compression, TLS, authentication
 * (bind to loopback, or firewall it), HELP lines.
 */
#include "metrics_http.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>

#include "log.h"

#define METRICS_TAG	    "metrics"
#define METRICS_BACKLOG	    64
#define METRICS_DRAIN_MS    1000 /* how long a closing client may keep sending */
#define METRICS_MAX_LABELS  8
#define METRICS_MAX_KEYS    16
#define METRICS_CONTENT_TXT "text/plain; version=0.0.4; charset=utf-8"

enum metrics_conn_state {
	METRICS_READING,  /* reading the request head */
	METRICS_WRITING,  /* the response is being written */
	METRICS_DRAINING, /* written and shut down: waiting for the client's EOF */
};

struct metrics_conn {
	struct metrics_conn *next;
	struct metrics_conn **pprev;
	struct metrics_http *m;
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_write_t wr;
	uv_shutdown_t sd;
	enum metrics_conn_state state;
	char *buf; /* the request head; scratch once answered */
	size_t len;
	char *out; /* the response being written */
	int handles;
	bool closing;
	bool rejected;
	bool eof; /* the client shut down its side while we wrote */
};

struct metrics_http {
	uv_loop_t *loop;
	uv_tcp_t server;
	struct metrics_http_conf conf;
	char *strings; /* addr, prefix, labels and gauges, copied */
	const char *labels[METRICS_MAX_KEYS + 1];
	const char **gauges;
	struct eve_counter *rows; /* max_counters, handed to collect */
	struct metrics_conn *conns;
	uint32_t n_conns;
	unsigned handles;
	uint16_t port;
	bool closing;
	metrics_http_close_fn close_cb;
	void *close_arg;
	struct metrics_http_stats st;
};

/* ------------------------------------------------------------------ */
/* Formatting                                                         */
/* ------------------------------------------------------------------ */

struct metrics_row {
	const char *family; /* metric name */
	const char *labels; /* 'k="v",k="v"' or "" */
	const char *dotted; /* the name without label segments, for the gauge list */
	uint64_t value;
	size_t pos;
};

static const char *const metrics_default_labels[] = {"port", "queue", "worker", NULL};

/* Is seg (n bytes) a label key from keys followed by digits? Returns the key length. */
static size_t
metrics_label_seg(const char *const *keys, const char *seg, size_t n)
{
	for (; *keys != NULL; keys++) {
		size_t k = strlen(*keys);

		if (k == 0 || n <= k || memcmp(seg, *keys, k) != 0)
			continue;
		for (size_t i = k; i < n; i++) {
			if (!isdigit((unsigned char)seg[i]))
				goto next;
		}
		return k;
	next:;
	}
	return 0;
}

static void
metrics_sanitize(char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];

		if (!isalnum(ch) && ch != '_' && ch != ':')
			p[i] = '_';
	}
}

/*
 * Split name into row's family, labels and dotted form, written to *arena
 * (which must hold 4 * strlen(name) + strlen(prefix) + 16 bytes).
 */
static void
metrics_split(const struct metrics_http_conf *conf, const char *const *keys, const char *name,
	      struct metrics_row *row, char **arena)
{
	const char *prefix = conf->prefix;
	size_t plen = strlen(prefix);
	char *fam = *arena, *lab, *dot, *f, *l, *d;
	const char *seg = name;

	f = fam;
	if (plen > 0) {
		memcpy(f, prefix, plen);
		f += plen;
	}
	lab = fam + plen + strlen(name) + 2;
	dot = lab + 2 * strlen(name) + 8;
	l = lab;
	d = dot;
	/* "darter.flow.x" under prefix "darter": do not say darter_darter_ */
	if (plen > 0 && strncmp(name, prefix, plen) == 0 && name[plen] == '.')
		seg = name + plen + 1;
	while (*seg != '\0') {
		const char *end = strchr(seg, '.');
		size_t n = end != NULL ? (size_t)(end - seg) : strlen(seg);
		size_t k = metrics_label_seg(keys, seg, n);

		if (k > 0) {
			l += sprintf(l, "%s%.*s=\"%.*s\"", l == lab ? "" : ",", (int)k, seg,
				     (int)(n - k), seg + k);
		} else if (n > 0) {
			if (f != fam)
				*f++ = '_';
			memcpy(f, seg, n);
			metrics_sanitize(f, n);
			f += n;
			if (d != dot)
				*d++ = '.';
			memcpy(d, seg, n);
			d += n;
		}
		seg += n + (end != NULL);
	}
	if (f == fam) /* nothing but labels: still a valid name */
		*f++ = '_';
	*f = *l = *d = '\0';
	if (isdigit((unsigned char)fam[0]))
		fam[0] = '_';
	row->family = fam;
	row->labels = lab;
	row->dotted = dot;
	*arena = d + 1;
}

static int
metrics_row_cmp(const void *a, const void *b)
{
	const struct metrics_row *x = a, *y = b;
	int rc = strcmp(x->family, y->family);

	if (rc == 0)
		rc = strcmp(x->labels, y->labels);
	if (rc == 0)
		rc = x->pos < y->pos ? -1 : x->pos > y->pos;
	return rc;
}

static bool
metrics_is_gauge(const struct metrics_http_conf *conf, const char *dotted)
{
	for (const char *const *g = conf->gauges; g != NULL && *g != NULL; g++) {
		if (strcmp(*g, dotted) == 0)
			return true;
	}
	return false;
}

/* Write the sorted rows as exposition text into out (sized by the caller). */
static size_t
metrics_emit(const struct metrics_http_conf *conf, const struct metrics_row *rows, size_t n,
	     char *out, size_t *dropped)
{
	char *p = out;

	for (size_t i = 0; i < n; i++) {
		const struct metrics_row *r = &rows[i];
		bool first = i == 0 || strcmp(r->family, rows[i - 1].family) != 0;

		if (!first && strcmp(r->labels, rows[i - 1].labels) == 0) {
			(*dropped)++;
			continue;
		}
		if (first)
			p += sprintf(p, "# TYPE %s %s\n", r->family,
				     metrics_is_gauge(conf, r->dotted) ? "gauge" : "counter");
		p += sprintf(p, "%s%s%s%s %" PRIu64 "\n", r->family, r->labels[0] ? "{" : "",
			     r->labels, r->labels[0] ? "}" : "", r->value);
	}
	*p = '\0';
	return (size_t)(p - out);
}

char *
metrics_http_format(const struct metrics_http_conf *conf, const struct eve_counter *c, size_t n,
		    size_t *len, size_t *dropped)
{
	struct metrics_http_conf cf = *conf;
	const char *const *keys = conf->labels != NULL ? conf->labels : metrics_default_labels;
	struct metrics_row *rows;
	size_t need = 1, skip = 0;
	char *arena, *a, *out;

	if (cf.prefix == NULL)
		cf.prefix = METRICS_HTTP_DEFAULT_PREFIX;
	for (size_t i = 0; i < n; i++)
		need += 4 * strlen(c[i].name) + strlen(cf.prefix) + 16;
	rows = calloc(n + 1, sizeof(*rows));
	arena = malloc(need);
	/* output per row: a TYPE line and a sample, both bounded by the arena's share */
	out = malloc(2 * need + n * 48 + 1);
	if (rows == NULL || arena == NULL || out == NULL) {
		free(rows);
		free(arena);
		free(out);
		errno = ENOMEM;
		return NULL;
	}
	a = arena;
	for (size_t i = 0; i < n; i++) {
		metrics_split(&cf, keys, c[i].name, &rows[i], &a);
		rows[i].value = c[i].value;
		rows[i].pos = i;
	}
	qsort(rows, n, sizeof(*rows), metrics_row_cmp);
	*len = metrics_emit(&cf, rows, n, out, &skip);
	if (dropped != NULL)
		*dropped = skip;
	free(rows);
	free(arena);
	return out;
}

/* ------------------------------------------------------------------ */
/* Responses                                                          */
/* ------------------------------------------------------------------ */

static void conn_close(struct metrics_conn *cn);
static void conn_on_timer(uv_timer_t *t);

static void
conn_on_shutdown(uv_shutdown_t *sd, int status)
{
	struct metrics_conn *cn = sd->data;

	if (status < 0)
		conn_close(cn);
}

static void
conn_on_write(uv_write_t *wr, int status)
{
	struct metrics_conn *cn = wr->data;

	free(cn->out);
	cn->out = NULL;
	if (status < 0) {
		cn->m->st.write_errors++;
		conn_close(cn);
		return;
	}
	if (cn->closing)
		return;
	if (cn->eof) { /* nothing left to read: our FIN follows the data */
		conn_close(cn);
		return;
	}
	cn->state = METRICS_DRAINING;
	cn->sd.data = cn;
	uv_timer_start(&cn->timer, conn_on_timer,
		       cn->m->conf.timeout_ms < METRICS_DRAIN_MS ? cn->m->conf.timeout_ms
								 : METRICS_DRAIN_MS,
		       0);
	if (uv_shutdown(&cn->sd, (uv_stream_t *)&cn->tcp, conn_on_shutdown) != 0)
		conn_close(cn);
}

static const char *
metrics_reason(int code)
{
	switch (code) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 431:
		return "Request Header Fields Too Large";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Internal Server Error";
	}
}

/* Write one response and close: body (len bytes) is copied, and left out for HEAD. */
static void
conn_respond(struct metrics_conn *cn, int code, const char *body, size_t len, bool head)
{
	char hdr[256];
	int h = snprintf(hdr, sizeof(hdr),
			 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
			 "Connection: close\r\n\r\n",
			 code, metrics_reason(code),
			 code == 200 ? METRICS_CONTENT_TXT : "text/plain", len,
			 code == 405 ? "Allow: GET, HEAD\r\n" : "");
	size_t total = (size_t)h + (head ? 0 : len);
	uv_buf_t b;

	assert(h > 0 && (size_t)h < sizeof(hdr));
	cn->out = malloc(total);
	if (cn->out == NULL) {
		cn->m->st.errors++;
		conn_close(cn);
		return;
	}
	memcpy(cn->out, hdr, (size_t)h);
	if (!head)
		memcpy(cn->out + h, body, len);
	cn->state = METRICS_WRITING;
	cn->wr.data = cn;
	b = uv_buf_init(cn->out, (unsigned)total);
	if (uv_write(&cn->wr, (uv_stream_t *)&cn->tcp, &b, 1, conn_on_write) != 0) {
		free(cn->out);
		cn->out = NULL;
		cn->m->st.write_errors++;
		conn_close(cn);
	}
}

static void
conn_error(struct metrics_conn *cn, int code, uint64_t *counter)
{
	char body[64];
	int n = snprintf(body, sizeof(body), "%s\n", metrics_reason(code));

	(*counter)++;
	conn_respond(cn, code, body, (size_t)n, false);
}

static void
conn_scrape(struct metrics_conn *cn, bool head)
{
	struct metrics_http *m = cn->m;
	size_t n = m->conf.collect(m->conf.arg, m->rows, m->conf.max_counters);
	size_t len, dropped = 0;
	char *text;

	if (n > m->conf.max_counters)
		n = m->conf.max_counters;
	text = metrics_http_format(&m->conf, m->rows, n, &len, &dropped);
	if (text == NULL) {
		conn_error(cn, 500, &m->st.errors);
		return;
	}
	m->st.dropped_series += dropped;
	m->st.scrapes++;
	conn_respond(cn, 200, text, len, head);
	free(text);
}

/* ------------------------------------------------------------------ */
/* Parsing the request head                                           */
/* ------------------------------------------------------------------ */

static bool
http_tchar(unsigned char ch)
{
	return isalnum(ch) || (ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* One line of head[0..n): its end (past '\n') and length without "\r\n". */
static const char *
http_line(const char *p, const char *end, size_t *n)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));

	assert(nl != NULL); /* the head ends with a blank line */
	*n = (size_t)(nl - p);
	if (*n > 0 && p[*n - 1] == '\r')
		(*n)--;
	return nl + 1;
}

/* Check the header lines; returns the count of Host headers or -1 if malformed. */
static int
http_headers(const char *p, const char *end)
{
	int hosts = 0;

	for (;;) {
		size_t n, i = 0;
		const char *line = p;

		p = http_line(p, end, &n);
		if (n == 0)
			return hosts;
		while (i < n && http_tchar((unsigned char)line[i]))
			i++;
		if (i == 0 || i == n || line[i] != ':') /* also folded lines (leading space) */
			return -1;
		if (i == 4 && strncasecmp(line, "host", 4) == 0)
			hosts++;
		for (i++; i < n; i++) {
			unsigned char ch = (unsigned char)line[i];

			if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
				return -1;
		}
	}
}

/* Route the complete head in cn->buf[0..n). */
static void
conn_request(struct metrics_conn *cn, size_t n)
{
	struct metrics_http *m = cn->m;
	const char *p = cn->buf, *end = cn->buf + n, *sp1, *sp2;
	size_t len, mlen, tlen;
	const char *target, *version;
	bool head, get;
	int hosts;

	m->st.requests++;
	p = http_line(p, end, &len);
	sp1 = memchr(cn->buf, ' ', len);
	sp2 = sp1 != NULL ? memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - cn->buf)) : NULL;
	if (sp2 == NULL || memchr(sp2 + 1, ' ', len - (size_t)(sp2 + 1 - cn->buf)) != NULL)
		goto bad;
	mlen = (size_t)(sp1 - cn->buf);
	target = sp1 + 1;
	tlen = (size_t)(sp2 - target);
	version = sp2 + 1;
	for (size_t i = 0; i < mlen; i++) {
		if (!http_tchar((unsigned char)cn->buf[i]))
			goto bad;
	}
	for (size_t i = 0; i < tlen; i++) {
		if ((unsigned char)target[i] <= 0x20 || (unsigned char)target[i] >= 0x7f)
			goto bad;
	}
	if (mlen == 0 || tlen == 0 || cn->buf + len - version != 8 ||
	    memcmp(version, "HTTP/", 5) != 0 || !isdigit((unsigned char)version[5]) ||
	    version[6] != '.' || !isdigit((unsigned char)version[7]))
		goto bad;
	hosts = http_headers(p, end);
	if (hosts < 0 || hosts > 1 || (version[7] == '1' && version[5] == '1' && hosts != 1))
		goto bad;
	if (version[5] != '1') {
		conn_error(cn, 505, &m->st.bad_request);
		return;
	}
	if (!(tlen == 8 || (tlen > 8 && target[8] == '?')) || memcmp(target, "/metrics", 8) != 0) {
		conn_error(cn, 404, &m->st.not_found);
		return;
	}
	get = mlen == 3 && memcmp(cn->buf, "GET", 3) == 0;
	head = mlen == 4 && memcmp(cn->buf, "HEAD", 4) == 0;
	if (!get && !head) {
		conn_error(cn, 405, &m->st.bad_method);
		return;
	}
	conn_scrape(cn, head);
	return;
bad:
	conn_error(cn, 400, &m->st.bad_request);
}

/* Length of the head (through its blank line) in buf[0..n), or 0 if incomplete. */
static size_t
http_head_end(const char *buf, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++) {
		if (buf[i] != '\n')
			continue;
		if (buf[i + 1] == '\n')
			return i + 2;
		if (buf[i + 1] == '\r' && i + 2 < n && buf[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Connections                                                        */
/* ------------------------------------------------------------------ */

static void
conn_on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct metrics_conn *cn = h->data;
	size_t cap = cn->m->conf.max_header;

	(void)hint;
	if (cn->state != METRICS_READING) /* answered: what comes now is thrown away */
		*b = uv_buf_init(cn->buf, (unsigned)cap);
	else
		*b = uv_buf_init(cn->buf + cn->len, (unsigned)(cap - cn->len));
}

static void
conn_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct metrics_conn *cn = s->data;
	size_t end;

	(void)b;
	if (nread == UV_EOF && cn->state == METRICS_WRITING) {
		cn->eof = true; /* a half-close: the response still goes out */
		uv_read_stop(s);
		return;
	}
	if (nread < 0) {
		conn_close(cn); /* EOF or error; a half-read request is just dropped */
		return;
	}
	if (cn->state != METRICS_READING || nread == 0)
		return;
	cn->len += (size_t)nread;
	end = http_head_end(cn->buf, cn->len);
	if (end > 0) {
		conn_request(cn, end);
		return;
	}
	if (cn->len == cn->m->conf.max_header)
		conn_error(cn, 431, &cn->m->st.too_large);
}

static void
conn_on_timer(uv_timer_t *t)
{
	struct metrics_conn *cn = t->data;

	if (cn->state == METRICS_READING) {
		conn_error(cn, 408, &cn->m->st.timeouts);
		return;
	}
	if (cn->state == METRICS_WRITING)
		cn->m->st.timeouts++;
	conn_close(cn);
}

static void
metrics_maybe_done(struct metrics_http *m)
{
	metrics_http_close_fn cb = m->close_cb;
	void *arg = m->close_arg;

	if (!m->closing || m->handles > 0)
		return;
	free(m->rows);
	free(m->gauges);
	free(m->strings);
	free(m);
	if (cb != NULL)
		cb(arg);
}

static void
conn_on_close(uv_handle_t *h)
{
	struct metrics_conn *cn = h->data;
	struct metrics_http *m = cn->m;

	if (--cn->handles > 0)
		return;
	free(cn->buf);
	free(cn);
	m->handles -= 2;
	metrics_maybe_done(m);
}

static void
conn_close(struct metrics_conn *cn)
{
	if (cn->closing)
		return;
	cn->closing = true;
	if (cn->next != NULL)
		cn->next->pprev = cn->pprev;
	*cn->pprev = cn->next;
	if (!cn->rejected)
		cn->m->n_conns--;
	uv_close((uv_handle_t *)&cn->tcp, conn_on_close);
	uv_close((uv_handle_t *)&cn->timer, conn_on_close);
}

static void
metrics_on_connection(uv_stream_t *server, int status)
{
	struct metrics_http *m = server->data;
	struct metrics_conn *cn;

	if (status < 0) {
		LOG_WARN(METRICS_TAG, "accept: %s", uv_strerror(status));
		return;
	}
	cn = calloc(1, sizeof(*cn));
	if (cn == NULL || (cn->buf = malloc(m->conf.max_header)) == NULL) {
		free(cn);
		LOG_WARN(METRICS_TAG, "accept: out of memory");
		return;
	}
	cn->m = m;
	uv_tcp_init(m->loop, &cn->tcp);
	uv_timer_init(m->loop, &cn->timer);
	cn->tcp.data = cn->timer.data = cn;
	cn->handles = 2;
	m->handles += 2;
	cn->next = m->conns;
	cn->pprev = &m->conns;
	if (m->conns != NULL)
		m->conns->pprev = &cn->next;
	m->conns = cn;
	m->st.connections++;
	cn->rejected = true; /* until counted in n_conns */
	if (uv_accept(server, (uv_stream_t *)&cn->tcp) != 0) {
		conn_close(cn);
		return;
	}
	uv_timer_start(&cn->timer, conn_on_timer, m->conf.timeout_ms, 0);
	uv_read_start((uv_stream_t *)&cn->tcp, conn_on_alloc, conn_on_read);
	if (m->n_conns >= m->conf.max_clients) {
		conn_error(cn, 503, &m->st.rejected);
		return;
	}
	cn->rejected = false;
	m->n_conns++;
}

/* ------------------------------------------------------------------ */
/* Life cycle                                                         */
/* ------------------------------------------------------------------ */

static size_t
metrics_list_size(const char *const *l, size_t *count)
{
	size_t n = 0;

	*count = 0;
	for (; l != NULL && *l != NULL; l++, (*count)++)
		n += strlen(*l) + 1;
	return n;
}

/* Copy a NULL-terminated list into dst (count + 1 slots), its strings at *s. */
static void
metrics_list_copy(const char **dst, const char *const *src, size_t count, char **s)
{
	for (size_t i = 0; i < count; i++) {
		dst[i] = strcpy(*s, src[i]);
		*s += strlen(src[i]) + 1;
	}
	dst[count] = NULL;
}

/* Deep-copy conf into m; fill the defaults. 0, -EINVAL or -ENOMEM. */
static int
metrics_conf_copy(struct metrics_http *m, const struct metrics_http_conf *conf)
{
	const char *const *labels = conf->labels != NULL ? conf->labels : metrics_default_labels;
	const char *addr = conf->addr != NULL ? conf->addr : METRICS_HTTP_DEFAULT_ADDR;
	const char *prefix = conf->prefix != NULL ? conf->prefix : METRICS_HTTP_DEFAULT_PREFIX;
	size_t nl, ng, size;
	char *s;

	m->conf = *conf;
	size = metrics_list_size(labels, &nl) + metrics_list_size(conf->gauges, &ng) +
	       strlen(addr) + strlen(prefix) + 2;
	if (nl > METRICS_MAX_KEYS || conf->collect == NULL)
		return -EINVAL;
	m->strings = s = malloc(size);
	m->gauges = calloc(ng + 1, sizeof(*m->gauges));
	if (s == NULL || m->gauges == NULL)
		return -ENOMEM;
	m->conf.addr = strcpy(s, addr);
	s += strlen(addr) + 1;
	m->conf.prefix = strcpy(s, prefix);
	s += strlen(prefix) + 1;
	metrics_list_copy(m->labels, labels, nl, &s);
	metrics_list_copy(m->gauges, conf->gauges, ng, &s);
	m->conf.labels = m->labels;
	m->conf.gauges = m->gauges;
#define METRICS_DEFAULT(f, v)                                                                      \
	do {                                                                                       \
		if (m->conf.f == 0)                                                                \
			m->conf.f = (v);                                                           \
	} while (0)
	METRICS_DEFAULT(max_header, METRICS_HTTP_DEFAULT_MAX_HEADER);
	METRICS_DEFAULT(timeout_ms, METRICS_HTTP_DEFAULT_TIMEOUT_MS);
	METRICS_DEFAULT(max_clients, METRICS_HTTP_DEFAULT_MAX_CLIENTS);
	METRICS_DEFAULT(max_counters, METRICS_HTTP_DEFAULT_MAX_COUNTERS);
#undef METRICS_DEFAULT
	if (m->conf.max_header < 64)
		return -EINVAL;
	m->rows = calloc(m->conf.max_counters, sizeof(*m->rows));
	return m->rows == NULL ? -ENOMEM : 0;
}

/* Bind and listen on m->server (initialised); 0 or a libuv error. */
static int
metrics_listen(struct metrics_http *m)
{
	struct sockaddr_storage ss;
	int alen = sizeof(ss);
	int rc;

	if (uv_ip4_addr(m->conf.addr, m->conf.port, (struct sockaddr_in *)&ss) != 0 &&
	    uv_ip6_addr(m->conf.addr, m->conf.port, (struct sockaddr_in6 *)&ss) != 0)
		return UV_EINVAL;
	rc = uv_tcp_bind(&m->server, (struct sockaddr *)&ss, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&m->server, METRICS_BACKLOG, metrics_on_connection);
	if (rc == 0)
		rc = uv_tcp_getsockname(&m->server, (struct sockaddr *)&ss, &alen);
	if (rc != 0)
		return rc;
	m->port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
						: ((struct sockaddr_in6 *)&ss)->sin6_port);
	return 0;
}

static void
metrics_on_server_close(uv_handle_t *h)
{
	struct metrics_http *m = h->data;

	m->handles--;
	metrics_maybe_done(m);
}

struct metrics_http *
metrics_http_new(uv_loop_t *loop, const struct metrics_http_conf *conf)
{
	struct metrics_http *m;
	int rc;

	if (loop == NULL || conf == NULL) {
		errno = EINVAL;
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return NULL;
	m->loop = loop;
	rc = metrics_conf_copy(m, conf);
	if (rc != 0) {
		m->closing = true;
		metrics_maybe_done(m);
		errno = -rc;
		return NULL;
	}
	uv_tcp_init(loop, &m->server);
	m->server.data = m;
	m->handles = 1;
	rc = metrics_listen(m);
	if (rc != 0) {
		LOG_ERR(METRICS_TAG, "listen on %s:%u: %s", m->conf.addr, m->conf.port,
			uv_strerror(rc));
		metrics_http_close(m, NULL, NULL); /* the handle is freed on a later loop turn */
		errno = -rc;
		return NULL;
	}
	LOG_INFO(METRICS_TAG, "serving /metrics on %s:%u", m->conf.addr, m->port);
	return m;
}

uint16_t
metrics_http_port(const struct metrics_http *m)
{
	return m->port;
}

void
metrics_http_close(struct metrics_http *m, metrics_http_close_fn close_cb, void *arg)
{
	assert(!m->closing);
	m->closing = true;
	m->close_cb = close_cb;
	m->close_arg = arg;
	uv_close((uv_handle_t *)&m->server, metrics_on_server_close);
	while (m->conns != NULL)
		conn_close(m->conns);
}

void
metrics_http_stats(const struct metrics_http *m, struct metrics_http_stats *st)
{
	*st = m->st;
}
