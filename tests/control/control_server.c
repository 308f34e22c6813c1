/*
 * control_server.c: a control socket server for testing clients
 * (tools/darterctl), built on engine/control.c as darter uses it.
 *
 * Usage: control_server SOCKET
 * Prints "ready" on stdout once listening. Commands, besides the module's
 * version (answering "ctl-test-9.9"), uptime and command-list:
 *   echo, iface-stat, conf-get  the arguments, as the message
 *   dump-counters               a few dotted counters, nested
 *   fail                        NOK "failed on purpose"
 *   slow                        answers after "ms" milliseconds (default 2000)
 *   shutdown                    answers "Closing darter", closes, exits 0
 * SIGTERM and SIGINT close the server too. Exit 1 if it cannot start.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "control.h"

static uv_signal_t sigterm, sigint;
static struct control *ctl;

/* The message is the arguments object itself. */
static void
cmd_echo(struct control_req *req, void *arg)
{
	char buf[65536];
	int n = control_args_json(req, buf, sizeof(buf));

	(void)arg;
	if (n < 0 || control_msg_json(req, NULL, buf, (size_t)n) != 0) {
		control_reply_nok(req, "arguments too large");
		return;
	}
	control_reply_msg(req);
}

static void
cmd_counters(struct control_req *req, void *arg)
{
	static const struct eve_counter c[] = {
		{"capture.packets", 1000},
		{"capture.imissed", 2},
		{"decoder.pkts", 998},
		{"flow.memuse", 65536},
	};

	(void)arg;
	control_msg_counters(req, c, sizeof(c) / sizeof(c[0]));
	control_reply_msg(req);
}

static void
cmd_fail(struct control_req *req, void *arg)
{
	(void)arg;
	control_reply_nok(req, "failed on purpose");
}

static void
slow_closed(uv_handle_t *h)
{
	free(h);
}

static void
slow_fire(uv_timer_t *t)
{
	control_reply_ok(t->data, "slow answer");
	uv_close((uv_handle_t *)t, slow_closed);
}

static void
cmd_slow(struct control_req *req, void *arg)
{
	uv_timer_t *t = malloc(sizeof(*t));
	uint64_t ms = 2000;

	(void)arg;
	if (t == NULL) {
		control_reply_nok(req, "out of memory");
		return;
	}
	control_arg_u64(req, "ms", &ms);
	uv_timer_init(uv_default_loop(), t);
	t->data = req;
	uv_timer_start(t, slow_fire, ms, 0);
}

static void
server_close(void)
{
	if (ctl == NULL)
		return;
	control_close(ctl, NULL, NULL);
	ctl = NULL;
	uv_close((uv_handle_t *)&sigterm, NULL);
	uv_close((uv_handle_t *)&sigint, NULL);
}

static void
cmd_shutdown(struct control_req *req, void *arg)
{
	(void)arg;
	control_reply_ok(req, "Closing darter");
	server_close();
}

static void
on_signal(uv_signal_t *s, int sig)
{
	(void)s;
	(void)sig;
	server_close();
}

int
main(int argc, char **argv)
{
	struct control_conf conf = {
		.uid = (uid_t)-1,
		.gid = (gid_t)-1,
		.version = "ctl-test-9.9",
	};
	uv_loop_t *loop = uv_default_loop();

	if (argc != 2) {
		fprintf(stderr, "usage: control_server SOCKET\n");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	conf.path = argv[1];
	ctl = control_new(loop, &conf);
	if (ctl == NULL) {
		fprintf(stderr, "control_server: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	control_register(ctl, "echo", cmd_echo, NULL);
	control_register(ctl, "iface-stat", cmd_echo, NULL);
	control_register(ctl, "conf-get", cmd_echo, NULL);
	control_register(ctl, "dump-counters", cmd_counters, NULL);
	control_register(ctl, "fail", cmd_fail, NULL);
	control_register(ctl, "slow", cmd_slow, NULL);
	control_register(ctl, "shutdown", cmd_shutdown, NULL);
	uv_signal_init(loop, &sigterm);
	uv_signal_init(loop, &sigint);
	uv_signal_start(&sigterm, on_signal, SIGTERM);
	uv_signal_start(&sigint, on_signal, SIGINT);
	printf("ready\n");
	fflush(stdout);
	uv_run(loop, UV_RUN_DEFAULT);
	return uv_loop_close(loop) == 0 ? 0 : 1;
}
