/*
 * notify: readiness and state changes for a service manager, in the
 * sd_notify(3) protocol, without libsystemd. systemd (Type=notify) puts
 * the path of a unix datagram socket in $NOTIFY_SOCKET; each state change
 * is one datagram of newline-separated VAR=VALUE lines sent to it. A path
 * starting with '@' names the abstract namespace (the '@' stands for the
 * leading NUL byte). Without the variable, or with an empty one, every
 * call does nothing, so the daemon behaves the same outside systemd.
 *
 * A fresh socket per message, as libsystemd does: messages are rare
 * (start, reload, stop), and a send never depends on a descriptor that
 * outlived a privilege drop or a manager re-exec. The send never blocks
 * (MSG_DONTWAIT) and never raises SIGPIPE (MSG_NOSIGNAL): a busy or gone
 * manager costs one warning, not the event loop.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "estrad/log.h"
#include "estrad/notify.h"

/*
 * Fill addr from $NOTIFY_SOCKET's value. Returns the address length, or 0
 * when the value is not an absolute path or "@name" that fits (logged).
 */
static socklen_t
notify_address(const char *name, struct sockaddr_un *addr)
{
	size_t	len = strlen(name);

	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	if ((name[0] != '/' && name[0] != '@') || len < 2 ||
	    len >= sizeof(addr->sun_path)) {
		log_warn("notify: NOTIFY_SOCKET=%s is not an absolute socket "
		    "path or @name of at most %zu bytes; not notifying", name,
		    sizeof(addr->sun_path) - 1);
		return 0;
	}
	memcpy(addr->sun_path, name, len);
	if (name[0] == '@') {
		/* Abstract: the length counts the NUL, not a terminator. */
		addr->sun_path[0] = '\0';
		return (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
		    len);
	}
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
}

int
notify_send(const char *state)
{
	struct sockaddr_un	 addr;
	const char		*name = getenv("NOTIFY_SOCKET");
	socklen_t		 addrlen;
	ssize_t			 n;
	size_t			 len = strlen(state);
	int			 fd, saved;

	if (name == NULL || name[0] == '\0')
		return 0;
	if ((addrlen = notify_address(name, &addr)) == 0)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("notify: socket: %s", strerror(errno));
		return -1;
	}
	n = sendto(fd, state, len, MSG_DONTWAIT | MSG_NOSIGNAL,
	    (struct sockaddr *)&addr, addrlen);
	saved = errno;
	close(fd);
	if (n == -1 || (size_t)n != len) {
		log_warn("notify: %s: %s", name, n == -1 ? strerror(saved) :
		    "short send");
		return -1;
	}
	return 0;
}

/*
 * MAINPID: estrad does not fork, so the manager already knows the PID;
 * saying it anyway is harmless and keeps NotifyAccess=main and a
 * wrapper-started daemon (Type=notify behind a shell) correct.
 */
int
notify_ready(void)
{
	char	msg[64];

	snprintf(msg, sizeof(msg), "READY=1\nMAINPID=%ld", (long)getpid());
	return notify_send(msg);
}

/*
 * MONOTONIC_USEC: Type=notify-reload (systemd 253 and later) accepts
 * RELOADING=1 only with the CLOCK_MONOTONIC time of the reload's start;
 * older managers (Debian 12's 252) ignore the extra line.
 */
int
notify_reloading(void)
{
	struct timespec	ts;
	char		msg[80];

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		return notify_send("RELOADING=1");
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%" PRIu64,
	    (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u);
	return notify_send(msg);
}

int
notify_stopping(void)
{
	return notify_send("STOPPING=1");
}
