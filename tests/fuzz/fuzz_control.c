/*
 * fuzz_control.c: the control socket (engine/control.c) on arbitrary
 * bytes from a client: framing, request parsing, dispatch and replies.
 *
 * How: one real server on a socket in a private temp directory, with a
 * small max_request (256) so over-long lines are common, and two extra
 * commands: "echo" reads its arguments with every control_arg_* getter
 * and answers with every control_msg_* setter; "later" is answered a few
 * loop turns after it arrives (an asynchronous handler). Each input is
 * one client connection: the first byte picks how the bytes are sent
 * (bit 0: in chunks of 1..16 bytes, so lines are cut anywhere; bit 1:
 * the client hangs up right after sending, without reading a reply); the
 * rest is sent as it is, then the write side is shut. The loop is run in
 * non-blocking turns between the client's sends and reads.
 *
 * Invariants: every reply is one line holding a JSON object whose
 * "return" is "OK" or "NOK", with a "message"; a client that reads gets
 * exactly one reply per OK/NOK the server counted, and the server closes
 * it after its end of file; nothing hangs (a bound on loop turns);
 * the counters add up (nok >= bad_json + unknown + oversize).
 *
 * Not here: the socket file's mode and ownership, several clients at once
 * (tests/unit/test_control.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/socket.h>
#include <sys/un.h>

#include <jansson.h>

#include "control.h"
#include "fuzz.h"

#define FUZZ_MAX_TURNS	 200000 /* loop turns for one input: far beyond any real need */
#define FUZZ_LATER_TURNS 3

static uv_loop_t fuzz_loop;
static struct control *fuzz_ctl;
static char fuzz_path[108];
static struct control_req *fuzz_later; /* held by "later" */
static int fuzz_later_age;

static void
fuzz_cmd_echo(struct control_req *req, void *arg)
{
	const char *s = control_arg_str(req, "text");
	char args[512];
	uint64_t n = 0;
	int rc = control_arg_u64(req, "n", &n);

	(void)arg;
	control_msg_str(req, "text", s != NULL ? s : "");
	control_msg_u64(req, "n", rc == 0 ? n : 0);
	control_msg_i64(req, "rc", rc);
	control_msg_double(req, "half", (double)n / 2.0);
	control_msg_bool(req, "has_text", s != NULL);
	control_msg_u64(req, "count", control_arg_count(req));
	if (control_args_json(req, args, sizeof(args)) >= 0)
		control_msg_json(req, "args", args, strlen(args));
	control_reply_msg(req);
}

static void
fuzz_cmd_later(struct control_req *req, void *arg)
{
	(void)arg;
	FUZZ_CHECK(fuzz_later == NULL); /* one request at a time per connection */
	fuzz_later = req;
	fuzz_later_age = 0;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char dir[] = "/tmp/darter-fuzz-ctl.XXXXXX";
	struct control_conf conf = {0};

	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	FUZZ_CHECK(mkdtemp(dir) != NULL);
	snprintf(fuzz_path, sizeof(fuzz_path), "%s/ctl.sock", dir);
	FUZZ_CHECK(uv_loop_init(&fuzz_loop) == 0);
	conf.path = fuzz_path;
	conf.uid = (uid_t)-1;
	conf.gid = (gid_t)-1;
	conf.max_request = 256;
	conf.version = "fuzz";
	fuzz_ctl = control_new(&fuzz_loop, &conf);
	FUZZ_CHECK(fuzz_ctl != NULL);
	FUZZ_CHECK(control_register(fuzz_ctl, "echo", fuzz_cmd_echo, NULL) == 0);
	FUZZ_CHECK(control_register(fuzz_ctl, "later", fuzz_cmd_later, NULL) == 0);
	return 0;
}

/* One loop turn; answers a held "later" request when its time has come. */
static void
fuzz_turn(int *turns)
{
	FUZZ_CHECK(++*turns < FUZZ_MAX_TURNS);
	uv_run(&fuzz_loop, UV_RUN_NOWAIT);
	if (fuzz_later != NULL && ++fuzz_later_age > FUZZ_LATER_TURNS) {
		struct control_req *req = fuzz_later;

		fuzz_later = NULL;
		control_reply_ok(req, "later");
	}
}

static int
fuzz_connect(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	FUZZ_CHECK(fd >= 0);
	memcpy(sa.sun_path, fuzz_path, strlen(fuzz_path) + 1);
	FUZZ_CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	return fd;
}

/* Check one reply line (no '\n'). */
static void
fuzz_reply(const char *line, size_t n)
{
	json_t *root = json_loadb(line, n, 0, NULL);
	json_t *ret;

	FUZZ_CHECK(root != NULL && json_is_object(root));
	ret = json_object_get(root, "return");
	FUZZ_CHECK(json_is_string(ret));
	FUZZ_CHECK(strcmp(json_string_value(ret), "OK") == 0 ||
		   strcmp(json_string_value(ret), "NOK") == 0);
	FUZZ_CHECK(json_object_get(root, "message") != NULL);
	json_decref(root);
}

struct fuzz_rx {
	char buf[1 << 16];
	size_t len;
	uint64_t replies;
	bool eof;
};

/* Read what the server sent; check every whole reply line. */
static void
fuzz_read(int fd, struct fuzz_rx *rx)
{
	ssize_t r;
	char *nl;

	while ((r = read(fd, rx->buf + rx->len, sizeof(rx->buf) - rx->len)) > 0) {
		rx->len += (size_t)r;
		while ((nl = memchr(rx->buf, '\n', rx->len)) != NULL) {
			size_t n = (size_t)(nl - rx->buf);

			fuzz_reply(rx->buf, n);
			rx->replies++;
			memmove(rx->buf, nl + 1, rx->len - n - 1);
			rx->len -= n + 1;
		}
		FUZZ_CHECK(rx->len < sizeof(rx->buf)); /* a reply longer than 64 KiB */
	}
	/* ECONNRESET: the server closed (over-long line) before reading all we sent */
	if (r == 0 || errno == ECONNRESET)
		rx->eof = true;
	else
		FUZZ_CHECK(errno == EAGAIN || errno == EWOULDBLOCK);
}

/* Send data (in chunks if asked), reading replies meanwhile; then shut the write side. */
static void
fuzz_send(int fd, const uint8_t *data, size_t size, bool chunked, bool reading, struct fuzz_rx *rx,
	  int *turns)
{
	size_t off = 0;

	while (off < size) {
		size_t want = size - off;
		ssize_t w;

		if (chunked && want > 1u + data[off] % 16u)
			want = 1u + data[off] % 16u;
		w = send(fd, data + off, want, MSG_NOSIGNAL);
		if (w > 0)
			off += (size_t)w;
		else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			break; /* the server closed on an over-long line */
		fuzz_turn(turns);
		if (reading)
			fuzz_read(fd, rx);
	}
	shutdown(fd, SHUT_WR);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct control_stats before, after;
	static struct fuzz_rx rx;
	bool chunked, hangup;
	int fd, turns = 0;

	if (size == 0)
		return 0;
	chunked = data[0] & 1;
	hangup = data[0] & 2;
	memset(&rx, 0, sizeof(rx));
	control_stats(fuzz_ctl, &before);
	fd = fuzz_connect();
	fuzz_send(fd, data + 1, size - 1, chunked, !hangup, &rx, &turns);
	if (hangup) {
		close(fd);
		for (int i = 0; i < 4 * FUZZ_LATER_TURNS || fuzz_later != NULL; i++)
			fuzz_turn(&turns);
		return 0;
	}
	while (!rx.eof || fuzz_later != NULL) {
		fuzz_turn(&turns);
		fuzz_read(fd, &rx);
	}
	close(fd);
	control_stats(fuzz_ctl, &after);
	FUZZ_CHECK(rx.len == 0); /* every reply ends with '\n' */
	FUZZ_CHECK(rx.replies == (after.ok - before.ok) + (after.nok - before.nok));
	FUZZ_CHECK(after.nok - before.nok >= (after.bad_json - before.bad_json) +
						     (after.unknown - before.unknown) +
						     (after.oversize - before.oversize));
	FUZZ_CHECK(after.write_errors == before.write_errors);
	return 0;
}
