/*
 * coap: EST over CoAP (RFC 9148, docs/coap.md). A DTLS listener on
 * libcoap, on the server's event loop: libcoap's epoll descriptor is
 * watched by libevent and its timers become one libevent timer, so
 * nothing blocks. Requests to the RFC 9148 resources run the same EST
 * path as HTTPS ones (est.c: auth, policy, audit, rate, cache, queue,
 * upstream), with a DTLS client certificate as the credential.
 */
#ifndef ESTRAD_COAP_H
#define ESTRAD_COAP_H

#include <stddef.h>

struct config;
struct coaps;
struct event_base;
struct server;

/*
 * The listener of cfg's "coap" section, bound (before the privilege drop)
 * with the "tls" section's certificate, key and client trust read into
 * memory. NULL with the reason logged.
 */
struct coaps *coaps_new(struct server *srv, struct event_base *base,
    const struct config *cfg);
/* SIGTERM: new requests are answered 5.03; those in flight go on. */
void coaps_drain(struct coaps *cs);
/* Requests in flight (the drain waits for none: est.c counts them). */
size_t coaps_sessions(const struct coaps *cs);
/* Ends every session (a close_notify each) and frees. NULL is fine. */
void coaps_free(struct coaps *cs);

#endif
