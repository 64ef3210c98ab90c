/* TEMPORARY STUB for the lead's own testing; replaced by i20-map. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "estrad/b64.h"
#include "estrad/coap_map.h"
static const struct coap_map_resource res[] = {
	{ "crts", EST_OP_CACERTS, EST_METHOD_GET, "ace.est.crts", "281 287" },
	{ "sen", EST_OP_SIMPLEENROLL, EST_METHOD_POST, "ace.est.sen", "281 287" },
	{ "sren", EST_OP_SIMPLEREENROLL, EST_METHOD_POST, "ace.est.sren", "281 287" },
	{ "att", EST_OP_CSRATTRS, EST_METHOD_GET, "ace.est.att", "285" },
	{ "skg", EST_OP_SERVERKEYGEN, EST_METHOD_POST, "ace.est.skg", "62" },
};
const struct coap_map_resource *coap_map_resources(size_t *n) { *n = 5; return res; }
int coap_map_request_format(enum est_op op, int cf, const char **reason) { if (cf != 286) { *reason = "needs 286"; return -1; } return 0; }
int coap_map_accept(enum est_op op, int accept, int *cf, const char **reason) { *cf = op == EST_OP_CSRATTRS ? 285 : 281; return 0; }
int coap_map_request_body(const unsigned char *der, size_t len, char **out, size_t *outlen, const char **reason) {
	*out = b64_encode_lines(der, len, outlen); return *out ? 0 : -1; }
int coap_map_code(int s) { switch (s) { case 200: return 205; case 202: return 503; case 400: case 401: case 403: case 404: case 405: case 406: case 413: case 415: case 429: case 500: case 501: case 502: case 503: case 504: return s; } return s >= 500 ? 500 : 400; }
const char *coap_map_code_text(int code, char *buf, size_t len) { snprintf(buf, len, "%d.%02d", code / 100, code % 100); return buf; }
void coap_map_answer_clear(struct coap_map_answer *a) { free(a->payload); memset(a, 0, sizeof(*a)); }
int coap_map_answer(enum est_op op, enum est_method m, int cf, const struct est_reply *r, struct coap_map_answer *a) {
	memset(a, 0, sizeof(*a)); a->max_age = -1; a->content_format = -1;
	if (r->status == 200) {
		a->code = m == EST_METHOD_POST ? 204 : 205; a->content_format = cf;
		if (b64_decode_lenient((const char *)r->body, r->body_len, &a->payload, &a->payload_len, &(const char *){""}) != 0) { a->code = 502; a->content_format = -1; }
		return 0;
	}
	a->code = coap_map_code(r->status); a->diagnostic = 1;
	if (r->retry_after[0]) a->max_age = atol(r->retry_after);
	a->payload = (unsigned char *)strdup(r->reason); a->payload_len = strlen(r->reason);
	return 0;
}
