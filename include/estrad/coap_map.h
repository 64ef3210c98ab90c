/*
 * coap_map: EST over CoAP (RFC 9148) translated to and from estrad's EST
 * request path. Pure logic, no libcoap: the short resource names and their
 * operations, the Content-Formats, what a CoAP request's payload becomes
 * for the HTTPS side (DER -> the base64 body RFC 8951 gives the CA), and
 * what an est_reply becomes for the CoAP client (a response code, a
 * Content-Format, Max-Age and a DER payload or a diagnostic one).
 *
 * Codes are written as CoAP writes them, class * 100 + detail: 205 is
 * 2.05 Content, 404 is 4.04 Not Found, 231 is 2.31 Continue. On the wire
 * a code is class << 5 | detail (COAP_MAP_WIRE).
 */
#ifndef ESTRAD_COAP_MAP_H
#define ESTRAD_COAP_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "estrad/reply.h"
#include "estrad/router.h"

/* The Content-Formats of RFC 9148 §8.3 and RFC 8710 (multipart-core). */
#define COAP_CF_NONE		(-1)	/* no Content-Format / Accept option */
#define COAP_CF_TEXT		0	/* text/plain; charset=utf-8 */
#define COAP_CF_MULTIPART_CORE	62	/* application/multipart-core */
#define COAP_CF_PKCS7_SKG	280	/* pkcs7-mime; server-generated-key */
#define COAP_CF_PKCS7_CERTS	281	/* pkcs7-mime; smime-type=certs-only */
#define COAP_CF_PKCS8		284	/* application/pkcs8 */
#define COAP_CF_CSRATTRS	285	/* application/csrattrs */
#define COAP_CF_PKCS10		286	/* application/pkcs10 */
#define COAP_CF_PKIX_CERT	287	/* application/pkix-cert */

#define COAP_MAP_WIRE(code)	((((code) / 100) << 5) | ((code) % 100))

/* A diagnostic payload's bytes: one short line in one datagram. */
#define COAP_MAP_DIAG_MAX	256
/* An answer's payload, in Block2 blocks (RFC 7959): a CA's answer that
 * decodes to more is refused (5.02), not relayed. */
#define COAP_MAP_PAYLOAD_MAX	65536

/* One RFC 9148 resource under /.well-known/est[/label]. */
struct coap_map_resource {
	const char	*name;		/* "crts", "sen", "sren", "att", "skg" */
	enum est_op	 op;
	enum est_method	 method;	/* the one CoAP method it takes */
	const char	*rt;		/* "ace.est.crts" ... (§4.1) */
	const char	*ct;		/* the link's ct attribute: "281 287" */
};

/* The table, n entries (fullcmc has no CoAP resource in RFC 9148). */
const struct coap_map_resource *coap_map_resources(size_t *n);
/* NULL if name (not NUL-terminated, len bytes) is no RFC 9148 resource. */
const struct coap_map_resource *coap_map_by_name(const char *name,
    size_t len);
/* NULL for an operation with no CoAP resource. */
const struct coap_map_resource *coap_map_by_op(enum est_op op);

/*
 * A request's Uri-Path segments (each len bytes, not NUL-terminated, as
 * the options carry them) -> route. Accepted: .well-known/est/NAME and
 * .well-known/est/LABEL/NAME (RFC 9148 §4.1, labels as router.h). 0, or
 * -1 with a one-line *reason (the answer is 4.04).
 */
int coap_map_route(const char *const *segs, const size_t *lens, size_t nsegs,
    struct est_route *route, const char **reason);

/*
 * The request's Content-Format (COAP_CF_NONE if absent) for op: 0 if it
 * fits (286 for sen/sren/skg; none or any for crts/att, which carry no
 * payload), else -1 (4.15) with *reason.
 */
int coap_map_request_format(enum est_op op, int content_format,
    const char **reason);

/*
 * The Accept option (COAP_CF_NONE if absent) for op: 0 and *cf the format
 * to answer in (crts/sen/sren: 281, or 287 when asked; att: 285; skg: 62),
 * or -1 (4.06) with *reason.
 */
int coap_map_accept(enum est_op op, int accept, int *cf, const char **reason);

/*
 * A request payload (DER PKCS#10 for sen/sren/skg) -> the body HTTPS
 * gives the CA: base64 (RFC 8951 §3.1), no line breaks. *out is malloc'd
 * (NUL-terminated, *outlen without the NUL). 0, or -1 with *reason (4.00:
 * not one DER SEQUENCE, or trailing bytes).
 */
int coap_map_request_body(const unsigned char *der, size_t len,
    char **out, size_t *outlen, const char **reason);

/* What goes back to the CoAP client. */
struct coap_map_answer {
	int		 code;		/* 205, 204, 404 ... */
	int		 content_format;	/* COAP_CF_NONE for none */
	long		 max_age;	/* seconds; -1 for no option */
	unsigned char	*payload;	/* malloc'd, owned; may be NULL */
	size_t		 payload_len;
	int		 diagnostic;	/* payload is a diagnostic text */
};

/*
 * The CoAP answer to reply, for op, method (GET -> 2.05, POST -> 2.04 on
 * success, RFC 9148 §4.2) and the format coap_map_accept chose.
 *   2xx with an EST body: the body decoded from base64 (or taken as DER
 *     when the CA said Content-Transfer-Encoding: binary), byte for byte;
 *     for cf 287 the one certificate of the PKCS#7 (-1 if it holds more
 *     or none: 5.02); for skg, RFC 8951 multipart/mixed -> multipart-core
 *     (RFC 8710: a CBOR array of content-format, byte string pairs: the
 *     key, 284 or 280, then the PKCS#7, 281). A body that does not
 *     decode, has another media type than op's, or decodes to more than
 *     COAP_MAP_PAYLOAD_MAX: 5.02 with a diagnostic. A 2xx without a body
 *     (204): the success code with no payload.
 *   202 (queued, RFC 7030 §4.2.3): 5.03 with Max-Age = Retry-After
 *     (RFC 9148 §4.7), the reply's reason as diagnostic (the queue's
 *     "queued as ID (state): ..."), else "enrollment queued at the CA:
 *     retry after N s".
 *   errors: coap_map_code(status), Max-Age from Retry-After for 503/429,
 *     and the reply's reason (else the first line of a text/plain body)
 *     as a diagnostic payload (RFC 7252 §5.5.2); estrad's own 401 with
 *     challenges says a DTLS client certificate is needed, as CoAP
 *     carries no HTTP credentials.
 * A diagnostic is printable ASCII, at most COAP_MAP_DIAG_MAX bytes, with
 * no Content-Format. Max-Age is -1 (no option) or 1..86400.
 * 0, or -1 out of memory. Free with coap_map_answer_clear.
 */
int coap_map_answer(enum est_op op, enum est_method method, int cf,
    const struct est_reply *reply, struct coap_map_answer *out);
void coap_map_answer_clear(struct coap_map_answer *a);

/* An HTTP error status -> its CoAP code: 400 -> 400 (4.00), 401 -> 401,
 * 403, 404, 405, 406, 413, 415, 429 -> 429 (4.29, RFC 8516), 431 -> 400,
 * 500 -> 500, 501 -> 501, 502, 503, 504; any other 4xx -> 400, anything
 * else (5xx, or no error status at all) -> 500. */
int coap_map_code(int http_status);
/* "4.04" for 404 into buf (size >= 5; cut to fit below), "?.??" for no
 * CoAP code (negative, over 7.99, a detail over 31). */
const char *coap_map_code_text(int code, char *buf, size_t len);

#endif
