/*
 * est: one EST request from arrival to answer. The stages, in the order
 * they run, are described once, in src/est.c's opening comment; the
 * server that runs them is server.h's.
 */
#ifndef ESTRAD_EST_H
#define ESTRAD_EST_H

struct evhttp_request;

/* The listener's callback for each request; arg is the struct server
 * (server.c registers it). Every request ends answered or abandoned
 * through est.c's one exit. */
void est_on_request(struct evhttp_request *http, void *arg);

#endif
