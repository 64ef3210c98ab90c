/*
 * localca: a CA inside estrad, for labs, tests and demos. It signs with a
 * CA certificate and key from files and answers exactly as a real EST CA
 * does: certs-only PKCS#7, base64. Pure computation once loaded (no I/O on
 * the request path).
 */
#ifndef ESTRAD_LOCALCA_H
#define ESTRAD_LOCALCA_H

#include "estrad/config.h"
#include "estrad/csr.h"
#include "estrad/reply.h"

struct localca;

/*
 * Load the CA certificate, key and chain named in cfg. Returns NULL with a
 * one-line reason in err (naming the file) on failure.
 */
struct localca *localca_new(const struct cfg_localca *cfg, char *err,
    size_t errlen);
void localca_free(struct localca *ca);

/*
 * Each fills *reply (status, content type, base64 body). Failures become a
 * text/plain error reply (500 for internal errors). Returns 0, or -1 on a
 * failure already written to reply.
 */
int localca_cacerts(struct localca *ca, struct est_reply *reply);
int localca_csrattrs(struct localca *ca, struct est_reply *reply);
/*
 * Issue a certificate for csr: fresh random serial, validity from config,
 * subject and SANs from the CSR, digitalSignature key usage, clientAuth
 * EKU, SKI and AKI. Used for simpleenroll and simplereenroll.
 */
int localca_enroll(struct localca *ca, const struct csr *csr,
    struct est_reply *reply);

#endif
