/*
 * est_access: the access line in the JSON log format, as fields under
 * Elastic Common Schema's names (docs/operations.md, Logs): one object
 * per request, "event":{"dataset":"estrad.access"}, the HTTP exchange
 * under "http", "url", "source", "user" / "tls", and estrad's own fields
 * (label, op, auth, upstream, reason, policy rules) under "estrad". The
 * text format's key=value line stays est.c's.
 *
 * Client text (user name, certificate subject) goes in as it is: the
 * writer escapes it for JSON and turns bytes that are not UTF-8 into
 * U+FFFD. The path is the text line's (userinfo dropped, so no password;
 * bytes outside printable ASCII as \xNN). No credential is a field.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "estrad/auth.h"
#include "estrad/log.h"
#include "estrad/router.h"

#include "est_req_int.h"

/* A line's room: the message (640) and the reason (384), a user name or
 * subject (256), each escaped at worst to six bytes a byte, the path
 * (128, already ASCII) twice, the rules and the rest. */
#define EST_ACCESS_LINE_MAX	12288

/* "url": the target's path and, if any, its query. */
static void
est_access_url(struct log_json *j, const char *target)
{
	const char	*q = strchr(target, '?');
	char		 path[sizeof(((struct est_req *)0)->rq_path)];

	snprintf(path, sizeof(path), "%.*s", q != NULL ? (int)(q - target) :
	    (int)strlen(target), target);
	log_json_object(j, "url");
	log_json_str(j, "path", path);
	if (q != NULL)
		log_json_str(j, "query", q + 1);
	log_json_end(j);
}

/* "source": the peer's address and port (rq_peer ends ":PORT"). */
static void
est_access_source(struct log_json *j, const struct est_req *rq)
{
	const char *port = strrchr(rq->rq_peer, ':');

	log_json_object(j, "source");
	log_json_str(j, "address", rq->rq_peer_addr);
	if (port != NULL)
		log_json_int(j, "port", strtol(port + 1, NULL, 10));
	log_json_end(j);
}

/* Who: "user.name" for a password, "tls.client.subject" for a
 * certificate; and the TLS version ("1.3") of the connection. */
static void
est_access_who(struct log_json *j, const struct est_req *rq)
{
	const struct auth_identity	*id = &rq->rq_identity;
	const char			*v = rq->rq_tls_version;
	int				 cert;

	cert = id->method == AUTH_METHOD_CERT;

	if (id->method != AUTH_METHOD_MAX && !cert) {
		log_json_object(j, "user");
		log_json_str(j, "name", id->name);
		log_json_end(j);
	}
	if (v == NULL && !cert)
		return;
	log_json_object(j, "tls");
	if (v != NULL && strncmp(v, "TLSv", 4) == 0) {
		log_json_str(j, "version", v + 4);
		log_json_str(j, "version_protocol", "tls");
	} else if (v != NULL && strncmp(v, "DTLSv", 5) == 0) {
		log_json_str(j, "version", v + 5);
		log_json_str(j, "version_protocol", "dtls");
	}
	if (cert) {
		log_json_object(j, "client");
		log_json_str(j, "subject", id->name);
		log_json_end(j);
	}
	log_json_end(j);
}

/* "estrad": what ECS has no field for. */
static void
est_access_estrad(struct log_json *j, const struct est_req *rq,
    const struct est_reply *reply)
{
	const struct cfg_route		*b = rq->rq_backend;
	const struct cfg_upstream	*up;

	log_json_object(j, "estrad");
	log_json_str(j, "label", rq->rq_routed && rq->rq_route.has_label ?
	    rq->rq_route.label : "-");
	log_json_str(j, "op", rq->rq_routed ? est_op_name(rq->rq_route.op) :
	    "-");
	log_json_str(j, "auth", auth_method_name(rq->rq_identity.method));
	if (rq->rq_tp_code[0] != '\0')
		log_json_str(j, "coap_code", rq->rq_tp_code);
	if (b != NULL && b->backend == ROUTE_BACKEND_UPSTREAM) {
		up = &rq->rq_cfg->upstreams[b->upstream];
		log_json_object(j, "upstream");
		log_json_str(j, "name", up->name);
		if (rq->rq_upstream_status > 0)
			log_json_int(j, "status_code", rq->rq_upstream_status);
		else
			log_json_str(j, "status_code", NULL);
		log_json_end(j);
	}
	if (rq->rq_nrules > 0) {
		log_json_array(j, "rules");
		for (size_t i = 0; i < rq->rq_nrules; i++)
			log_json_str(j, NULL, rq->rq_rules[i]);
		log_json_end(j);
	}
	log_json_str(j, "reason", reply->reason);
	log_json_end(j);
}

void
est_access_json(const struct est_req *rq, const struct est_reply *reply,
    double ms)
{
	char		 line[EST_ACCESS_LINE_MAX], msg[640];
	struct log_json	 j;

	snprintf(msg, sizeof(msg), "%s %s %d (%s)", rq->rq_method,
	    rq->rq_path, reply->status, reply->reason);
	log_json_start(&j, line, sizeof(line), LOG_LEVEL_INFO, msg);
	log_json_object(&j, "event");
	log_json_str(&j, "dataset", "estrad.access");
	log_json_str(&j, "outcome", reply->status < 400 ? "success" :
	    "failure");
	log_json_int(&j, "duration", (long long)(ms * 1e6));	/* ns */
	log_json_end(&j);
	log_json_object(&j, "http");
	log_json_object(&j, "request");
	log_json_str(&j, "id", rq->rq_id);
	log_json_str(&j, "method", rq->rq_method);
	log_json_object(&j, "body");
	log_json_int(&j, "bytes", (long long)rq->rq_body_len);
	log_json_end(&j);
	log_json_end(&j);
	log_json_object(&j, "response");
	log_json_int(&j, "status_code", reply->status);
	log_json_object(&j, "body");
	log_json_int(&j, "bytes", (long long)reply->body_len);
	log_json_end(&j);
	log_json_end(&j);
	log_json_end(&j);
	est_access_url(&j, rq->rq_path);
	/* ECS "network": EST over HTTPS (tcp) or over CoAP (udp, RFC 9148);
	 * the http fields carry the HTTP-equivalent status either way. */
	log_json_object(&j, "network");
	log_json_str(&j, "protocol", rq->rq_tp != NULL ? "coap" : "http");
	log_json_str(&j, "transport", rq->rq_tp != NULL ? "udp" : "tcp");
	log_json_end(&j);
	est_access_source(&j, rq);
	est_access_who(&j, rq);
	est_access_estrad(&j, rq, reply);
	log_json_write(&j);
}
