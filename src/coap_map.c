/*
 * coap_map: the RFC 9148 side of an EST request, without libcoap. One
 * table names the resources (short name, operation, method, rt and ct of
 * its link); the rest turns a CoAP request's path, options and payload
 * into what the HTTPS path takes, and an est_reply back into a CoAP
 * code, Content-Format, Max-Age and payload (src/coap_map_answer.c).
 *
 * Everything here reads bytes a client or a CA chose: each length is
 * checked before it is used, and what it returns is bounded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/err.h>

#include "estrad/b64.h"
#include "estrad/coap_map.h"

/*
 * RFC 9148 §4.1's links: crts, sen and sren answer a PKCS#7 (281) or the
 * one certificate (287), att the CSR attributes, skg a multipart-core.
 * fullcmc has no CoAP resource (§4: not specified for EST-coaps).
 */
static const struct coap_map_resource coap_map_table[] = {
	{ "crts", EST_OP_CACERTS, EST_METHOD_GET, "ace.est.crts", "281 287" },
	{ "sen", EST_OP_SIMPLEENROLL, EST_METHOD_POST, "ace.est.sen",
	  "281 287" },
	{ "sren", EST_OP_SIMPLEREENROLL, EST_METHOD_POST, "ace.est.sren",
	  "281 287" },
	{ "att", EST_OP_CSRATTRS, EST_METHOD_GET, "ace.est.att", "285" },
	{ "skg", EST_OP_SERVERKEYGEN, EST_METHOD_POST, "ace.est.skg", "62" },
};

#define COAP_MAP_NRES	(sizeof(coap_map_table) / sizeof(coap_map_table[0]))

const struct coap_map_resource *
coap_map_resources(size_t *n)
{
	*n = COAP_MAP_NRES;
	return coap_map_table;
}

const struct coap_map_resource *
coap_map_by_name(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < COAP_MAP_NRES; i++)
		if (strlen(coap_map_table[i].name) == len &&
		    memcmp(coap_map_table[i].name, name, len) == 0)
			return &coap_map_table[i];
	return NULL;
}

const struct coap_map_resource *
coap_map_by_op(enum est_op op)
{
	size_t i;

	for (i = 0; i < COAP_MAP_NRES; i++)
		if (coap_map_table[i].op == op)
			return &coap_map_table[i];
	return NULL;
}

static int
coap_map_seg_is(const char *seg, size_t len, const char *want)
{
	return len == strlen(want) && memcmp(seg, want, len) == 0;
}

/* A label segment into route, checked as the HTTPS side checks one. */
static int
coap_map_label(const char *seg, size_t len, struct est_route *route)
{
	if (len == 0 || len > EST_LABEL_MAX || memchr(seg, '\0', len) != NULL)
		return -1;
	memcpy(route->label, seg, len);
	route->label[len] = '\0';
	if (!router_label_valid(route->label)) {
		route->label[0] = '\0';
		return -1;
	}
	route->has_label = 1;
	return 0;
}

int
coap_map_route(const char *const *segs, const size_t *lens, size_t nsegs,
    struct est_route *route, const char **reason)
{
	const struct coap_map_resource *res;

	memset(route, 0, sizeof(*route));
	route->op = EST_OP_MAX;
	*reason = "not an EST resource: /.well-known/est/[label/]name";
	if (nsegs < 3 || nsegs > 4 ||
	    !coap_map_seg_is(segs[0], lens[0], ".well-known") ||
	    !coap_map_seg_is(segs[1], lens[1], "est"))
		return -1;
	*reason = "bad CA label";
	if (nsegs == 4 && coap_map_label(segs[2], lens[2], route) == -1)
		return -1;
	*reason = "no such resource: crts, sen, sren, att or skg";
	res = coap_map_by_name(segs[nsegs - 1], lens[nsegs - 1]);
	if (res == NULL) {
		route->has_label = 0;
		route->label[0] = '\0';
		return -1;
	}
	route->op = res->op;
	*reason = NULL;
	return 0;
}

int
coap_map_request_format(enum est_op op, int content_format,
    const char **reason)
{
	*reason = NULL;
	switch (op) {
	case EST_OP_CACERTS:
	case EST_OP_CSRATTRS:
		return 0;		/* a GET: no payload to describe */
	case EST_OP_SIMPLEENROLL:
	case EST_OP_SIMPLEREENROLL:
	case EST_OP_SERVERKEYGEN:
		if (content_format == COAP_CF_PKCS10)
			return 0;
		*reason = "Content-Format must be 286 (application/pkcs10)";
		return -1;
	default:
		*reason = "no CoAP resource for this operation";
		return -1;
	}
}

int
coap_map_accept(enum est_op op, int accept, int *cf, const char **reason)
{
	*reason = NULL;
	*cf = COAP_CF_NONE;
	switch (op) {
	case EST_OP_CACERTS:
	case EST_OP_SIMPLEENROLL:
	case EST_OP_SIMPLEREENROLL:
		if (accept == COAP_CF_NONE || accept == COAP_CF_PKCS7_CERTS) {
			*cf = COAP_CF_PKCS7_CERTS;
			return 0;
		}
		if (accept == COAP_CF_PKIX_CERT) {
			*cf = COAP_CF_PKIX_CERT;
			return 0;
		}
		*reason = "Accept must be 281 or 287";
		return -1;
	case EST_OP_CSRATTRS:
		*cf = COAP_CF_CSRATTRS;
		*reason = "Accept must be 285";
		break;
	case EST_OP_SERVERKEYGEN:
		/* RFC 9148 §4.8: 62 with 284 and 281 inside. */
		*cf = COAP_CF_MULTIPART_CORE;
		*reason = "Accept must be 62";
		break;
	default:
		*reason = "no CoAP resource for this operation";
		return -1;
	}
	if (accept == COAP_CF_NONE || accept == *cf) {
		*reason = NULL;
		return 0;
	}
	*cf = COAP_CF_NONE;
	return -1;
}

int
coap_map_request_body(const unsigned char *der, size_t len,
    char **out, size_t *outlen, const char **reason)
{
	const unsigned char	*p = der;
	long			 clen;
	int			 tag, cls, r;

	*out = NULL;
	*outlen = 0;
	*reason = "payload is not one DER SEQUENCE (a PKCS#10 CSR)";
	if (der == NULL || len == 0 || len > 0x7fffffff)
		return -1;
	r = ASN1_get_object(&p, &clen, &tag, &cls, (long)len);
	ERR_clear_error();
	/* 0x80: an error; 0x21 with clen 0: an indefinite length (BER). */
	if ((r & 0x80) || r != V_ASN1_CONSTRUCTED || tag != V_ASN1_SEQUENCE ||
	    cls != V_ASN1_UNIVERSAL || clen > (long)len - (p - der))
		return -1;
	*reason = "bytes after the CSR";
	if ((size_t)(p - der) + (size_t)clen != len)
		return -1;
	*reason = "out of memory";
	if ((*out = b64_encode_flat(der, len, outlen)) == NULL)
		return -1;
	*reason = NULL;
	return 0;
}

/*
 * RFC 9148 §5 (errors pass through the proxy) and RFC 7252 §12.1.2: the
 * codes both sides share keep their number; HTTP-only ones go to the
 * class's generic code.
 */
int
coap_map_code(int http_status)
{
	switch (http_status) {
	case 400: case 401: case 403: case 404: case 405: case 406:
	case 413: case 415: case 429:
	case 500: case 501: case 502: case 503: case 504:
		return http_status;
	case 431:		/* headers too large: no such CoAP code */
		return 400;
	default:
		break;
	}
	if (http_status >= 400 && http_status <= 499)
		return 400;
	return 500;
}

const char *
coap_map_code_text(int code, char *buf, size_t len)
{
	if (len == 0)
		return buf;
	if (code < 0 || code > 799 || code % 100 > 31)
		snprintf(buf, len, "?.??");
	else
		snprintf(buf, len, "%d.%02d", code / 100, code % 100);
	return buf;
}
