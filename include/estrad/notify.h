/*
 * notify: the systemd readiness protocol (sd_notify(3)) without
 * libsystemd: one datagram to the unix socket named by $NOTIFY_SOCKET
 * (a path, or "@name" for the abstract namespace). Without the variable
 * every call does nothing. Never blocks (MSG_DONTWAIT).
 */
#ifndef ESTRAD_NOTIFY_H
#define ESTRAD_NOTIFY_H

/* Send state (e.g. "READY=1\nSTATUS=serving"). 0 sent or nothing to do,
 * -1 the socket is set but the send failed (logged). */
int notify_send(const char *state);
int notify_ready(void);		/* READY=1 + MAINPID */
int notify_reloading(void);	/* RELOADING=1 */
int notify_stopping(void);	/* STOPPING=1 */

#endif
