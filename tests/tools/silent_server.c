/*
 * silent_server: a CA that accepts connections and never answers.
 *
 * Listens on 127.0.0.1 with an ephemeral port, prints the port on stdout
 * (one line, flushed), then accepts every connection and holds it open
 * without ever reading or writing, until killed. The integration tests put
 * it behind an estrad upstream to provoke the 504 path (RFC 7030 leaves the
 * status to the server; estrad answers 504 when the CA is too slow) and to
 * watch a cancelled upstream transfer close its connection.
 *
 * For that last check it logs "accepted N" and "closed N" lines on stderr:
 * a peer's close is seen with POLLRDHUP, which needs no read, so the
 * server still never consumes a byte of what it was sent.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* accept4, POLLRDHUP */
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SILENT_MAX_CONNS	1024

static int
silent_listen(unsigned short *port)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = 0;
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(fd, 128) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1) {
		close(fd);
		return -1;
	}
	*port = ntohs(sin.sin_port);
	return fd;
}

int
main(void)
{
	static struct pollfd pfd[SILENT_MAX_CONNS + 1];
	static unsigned long id[SILENT_MAX_CONNS + 1];
	unsigned long next_id = 1;
	unsigned short port;
	nfds_t n = 1, i;
	int lfd, cfd;

	(void)signal(SIGPIPE, SIG_IGN);
	if ((lfd = silent_listen(&port)) == -1) {
		perror("silent_server: listen on 127.0.0.1:0");
		return 1;
	}
	printf("%u\n", (unsigned)port);
	if (fflush(stdout) == EOF) {
		perror("silent_server: stdout");
		return 1;
	}

	pfd[0].fd = lfd;
	pfd[0].events = POLLIN;
	for (;;) {
		if (poll(pfd, n, -1) == -1) {
			if (errno == EINTR)
				continue;
			perror("silent_server: poll");
			return 1;
		}
		/* Peers that went away: forget them (never read from them). */
		for (i = 1; i < n; i++) {
			if (!(pfd[i].revents & (POLLRDHUP | POLLHUP | POLLERR)))
				continue;
			fprintf(stderr, "closed %lu\n", id[i]);
			close(pfd[i].fd);
			pfd[i] = pfd[n - 1];
			id[i] = id[n - 1];
			n--;
			i--;
		}
		if (!(pfd[0].revents & POLLIN))
			continue;
		cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd == -1)
			continue;
		if (n > SILENT_MAX_CONNS) {
			close(cfd);
			continue;
		}
		pfd[n].fd = cfd;
		pfd[n].events = POLLRDHUP;	/* not POLLIN: we never read */
		pfd[n].revents = 0;
		id[n] = next_id++;
		fprintf(stderr, "accepted %lu\n", id[n]);
		n++;
	}
}
