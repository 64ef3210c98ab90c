/*
 * answer: is a CA's 2xx answer what the operation returns? An RA that
 * relays an HTML error page or a truncated body as a certificate helps no
 * device; a valid answer is still relayed byte for byte. Pure functions;
 * the input is untrusted (it comes from the CA).
 */
#ifndef ESTRAD_ANSWER_H
#define ESTRAD_ANSWER_H

#include <stddef.h>

#include "estrad/router.h"

/*
 * A CA's base64 body (len bytes) decoded into *der (malloc'd, *dlen
 * bytes): 0, or -1 with a reason in *why. The trailing NUL bytes and
 * whitespace a CA may end it with (libest's example server: a C string's
 * NUL) carry nothing and are not read. Whatever reads a CA's body (the
 * check, the audit's serial, the intermediates learnt from cacerts, the
 * CoAP side's DER) reads it so; what is relayed is the CA's bytes.
 */
int answer_decode(const unsigned char *body, size_t len, unsigned char **der,
    size_t *dlen, const char **why);

/*
 * 0 if the answer of status, Content-Type and body suits op: for cacerts,
 * simpleenroll and simplereenroll a 200 must be application/pkcs7-mime
 * with a base64 certs-only PKCS#7 holding a certificate (RFC 7030 §4.1.3,
 * §4.2.3; base64 as RFC 8951 reads it); for csrattrs, application/csrattrs
 * with a base64 DER SEQUENCE (§4.5.2). Other operations and statuses are
 * not checked (serverkeygen's multipart and fullcmc's CMC response are
 * relayed as they are). -1 with a one-line reason in why (the CA's
 * Content-Type in it with bytes other than printable ASCII as \xNN).
 */
int answer_check(enum est_op op, long status, const char *content_type,
    const unsigned char *body, size_t len, char *why, size_t whylen);

/*
 * One header line of the CA's answer as curl hands it over (len bytes,
 * not NUL-terminated, "Name: value\r\n"): if it is name's (the name
 * case-insensitively), 1 with the value, leading blanks and trailing
 * blanks and line end removed, cut to outlen - 1 bytes, NUL-terminated,
 * in out; else 0 and out untouched.
 */
int answer_header_value(const char *line, size_t len, const char *name,
    char *out, size_t outlen);

/*
 * A Retry-After value (as answer_header_value() left it) in seconds:
 * delay-seconds from 1 to 86400 (a day); dflt for anything else (none,
 * an HTTP-date, 0, junk, more than a day).
 */
long answer_retry_after(const char *text, long dflt);

#endif
