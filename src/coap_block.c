/* TEMPORARY STUB for the lead's own testing; replaced by i20-block. */
#include <stdlib.h>
#include <string.h>
#include "estrad/coap_block.h"
struct coap_block_set { int x; };
struct coap_block_set *coap_block_new(const struct coap_block_limits *l) { return calloc(1, sizeof(struct coap_block_set)); }
void coap_block_free(struct coap_block_set *s) { free(s); }
enum coap_block_result coap_block_add(struct coap_block_set *set, const void *session, const char *key, size_t keylen, const struct coap_block_in *in, uint64_t now_ms, unsigned char **body, size_t *body_len) {
	if (in->num != 0 || in->more) return COAP_BLOCK_BAD;
	*body = malloc(in->len + 1); memcpy(*body, in->data, in->len); *body_len = in->len; return COAP_BLOCK_COMPLETE; }
size_t coap_block_expire(struct coap_block_set *s, uint64_t n) { return 0; }
void coap_block_forget(struct coap_block_set *s, const void *x) {}
size_t coap_block_count(const struct coap_block_set *s) { return 0; }
size_t coap_block_bytes(const struct coap_block_set *s) { return 0; }
