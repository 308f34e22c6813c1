/*
 * redis_server.h: a real redis-server for the analyzer tests, on a free
 * 127.0.0.1 port in a temporary directory, killed by PID (and by
 * PR_SET_PDEATHSIG if the test dies). Header-only: each test program
 * includes it once.
 */
#ifndef DARTER_TEST_REDIS_SERVER_H
#define DARTER_TEST_REDIS_SERVER_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

struct rs_server {
	pid_t pid; /* 0: not running */
	uint16_t port;
	char dir[64];
};

static uint16_t
rs_free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	uint16_t port = 0;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &alen) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* One blocking round trip of an inline command; the reply's first line in out. */
static bool
rs_cmd(uint16_t port, const char *line, char *out, size_t outlen)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	struct timeval tv = {.tv_sec = 1, .tv_usec = 0};
	bool ok = false;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ssize_t n;

	if (fd < 0)
		return false;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    write(fd, line, strlen(line)) == (ssize_t)strlen(line) &&
	    (n = read(fd, out, outlen - 1)) > 0) {
		out[n] = '\0';
		ok = true;
	}
	close(fd);
	return ok;
}

/* Start redis-server; 0, or -1 when it is not installed or does not answer. */
static int
rs_start(struct rs_server *s)
{
	char port[8], buf[64];

	snprintf(s->dir, sizeof(s->dir), "/tmp/darter-an-redis-XXXXXX");
	if (!mkdtemp(s->dir))
		return -1;
	s->port = rs_free_port();
	snprintf(port, sizeof(port), "%u", (unsigned)s->port);
	s->pid = fork();
	if (s->pid == 0) {
		int fd = open("/dev/null", O_WRONLY);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1",
		       "--save", "", "--appendonly", "no", "--dir", s->dir, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 300; i++) {
		if (rs_cmd(s->port, "PING\r\n", buf, sizeof(buf)) && strncmp(buf, "+PONG", 5) == 0)
			return 0;
		if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
			s->pid = 0;
			return -1;
		}
		usleep(10000);
	}
	return -1;
}

static void
rs_stop(struct rs_server *s)
{
	char cmd[128];

	if (s->pid > 0) {
		kill(s->pid, SIGCONT);
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
		s->pid = 0;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
	if (s->dir[0] && system(cmd) != 0)
		fprintf(stderr, "# cannot remove %s\n", s->dir);
}

#endif
