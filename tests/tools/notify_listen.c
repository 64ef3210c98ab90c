/*
 * notify_listen: the service manager's end of the sd_notify protocol, for
 * the sd_notify integration case. Binds a unix datagram socket at PATH
 * ("@name": the abstract namespace, as in $NOTIFY_SOCKET) and prints each
 * datagram received on its own line, newlines replaced by spaces, a
 * trailing newline dropped, flushed at once. With -p each line starts with
 * "pid=N " where N is the sender's PID from its SCM_CREDENTIALS: systemd
 * (NotifyAccess=main) drops messages from any other process than the main
 * one, so the case checks who sent them.
 *
 *   notify_listen [-p] PATH [COUNT [SECONDS]]
 *
 * Exits 0 after COUNT datagrams (0, the default: never), 1 when SECONDS
 * (default 30) pass first, 2 on a usage or socket error. A path socket is
 * removed on exit.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int
listen_bind(const char *path)
{
	struct sockaddr_un	addr;
	size_t			len = strlen(path);
	socklen_t		addrlen;
	int			fd, on = 1;

	if (len < 2 || len >= sizeof(addr.sun_path)) {
		fprintf(stderr, "notify_listen: bad socket name %s\n", path);
		return -1;
	}
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	memcpy(addr.sun_path, path, len);
	addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	if (path[0] == '@')
		addr.sun_path[0] = '\0';
	else {
		unlink(path);
		addrlen++;
	}
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) == -1 ||
	    bind(fd, (struct sockaddr *)&addr, addrlen) == -1) {
		fprintf(stderr, "notify_listen: %s: %s\n", path,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	return fd;
}

/* Receive one datagram and print it: 1, 0 interrupted, -1 error. */
static int
listen_one(int fd, int with_pid)
{
	char		 buf[4096], cbuf[CMSG_SPACE(sizeof(struct ucred))];
	struct iovec	 iov = { buf, sizeof(buf) - 1 };
	struct msghdr	 msg;
	struct cmsghdr	*cm;
	struct ucred	 cred;
	long		 pid = -1;
	ssize_t		 n;

	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf;
	msg.msg_controllen = sizeof(cbuf);
	if ((n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC)) == -1)
		return errno == EINTR || errno == EAGAIN ? 0 : -1;
	for (cm = CMSG_FIRSTHDR(&msg); cm != NULL; cm = CMSG_NXTHDR(&msg, cm))
		if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SCM_CREDENTIALS) {
			memcpy(&cred, CMSG_DATA(cm), sizeof(cred));
			pid = (long)cred.pid;
		}
	while (n > 0 && buf[n - 1] == '\n')
		n--;
	buf[n] = '\0';
	for (char *p = buf; *p != '\0'; p++)
		if (*p == '\n')
			*p = ' ';
	if (with_pid)
		printf("pid=%ld ", pid);
	printf("%s\n", buf);
	fflush(stdout);
	return 1;
}

static long
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
main(int argc, char *argv[])
{
	struct pollfd	 pfd;
	const char	*path;
	long		 count = 0, seconds = 30, got = 0, deadline;
	int		 with_pid = 0, fd, rc = 1, ready;

	if (argc > 1 && strcmp(argv[1], "-p") == 0) {
		with_pid = 1;
		argc--;
		argv++;
	}
	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: notify_listen [-p] PATH [COUNT "
		    "[SECONDS]]\n");
		return 2;
	}
	path = argv[1];
	if (argc > 2)
		count = strtol(argv[2], NULL, 10);
	if (argc > 3)
		seconds = strtol(argv[3], NULL, 10);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	if ((fd = listen_bind(path)) == -1)
		return 2;
	deadline = now_ms() + seconds * 1000;
	pfd.fd = fd;
	pfd.events = POLLIN;
	while (!stop && (count == 0 || got < count)) {
		long left = deadline - now_ms();

		if (left <= 0)
			break;
		if ((ready = poll(&pfd, 1, (int)left)) == -1 && errno != EINTR)
			break;
		if (ready <= 0)
			continue;
		switch (listen_one(fd, with_pid)) {
		case -1:
			fprintf(stderr, "notify_listen: recvmsg: %s\n",
			    strerror(errno));
			stop = 1;
			break;
		case 1:
			got++;
			break;
		}
	}
	if (count > 0 && got >= count)
		rc = 0;
	close(fd);
	if (path[0] != '@')
		unlink(path);
	return rc;
}
