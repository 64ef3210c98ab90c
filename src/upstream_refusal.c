/*
 * upstream_refusal: a TLS handshake with the CA that failed because of
 * our own configuration, told apart from an outage (issue 18 §1). The CA
 * refusing our RA certificate (a fatal alert: unknown CA, unsupported
 * certificate, revoked...), or we refusing the CA's, will not mend by
 * waiting: the client gets 502 at once, nothing is queued, the breaker is
 * not charged (the CA is up: it answered, with an alert), and /readyz
 * names the upstream and the reason until a transfer to it gets through,
 * a reload, or backoff_max without another refusal.
 *
 * The alert is heard from OpenSSL, not read from curl's message: with TLS
 * 1.3 the CA judges the client certificate after the client has finished
 * its handshake, so the alert comes after curl has sent its request, and
 * the CA's close (a reset: the request was unread) usually fails that
 * send first: curl reports only "getpeername() failed" or "Send failure"
 * (what the issue saw) and leaves the alert unread in the socket. So each
 * connection's SSL_CTX (curl makes one per connection, then calls
 * CURLOPT_SSL_CTX_FUNCTION) carries a struct upstream_tls: its info
 * callback notes a fatal alert, with its time, in the transfer that
 * opened the connection, which can also read what is left on it
 * (SSL_peek) once its attempt has failed. An attempt that failed after an
 * alert came on its own connection since it was sent is taken for refused
 * by that alert.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "estrad/log.h"
#include "upstream_int.h"

/*
 * One connection's TLS: hung off its SSL_CTX (ex_data, freed with it) and
 * its SSL (cleared with it). The transfer that opened the connection
 * points at it while both last.
 */
struct upstream_tls {
	struct upstream		*ut_up;		/* outlives every connection */
	struct upstream_xfer	*ut_x;		/* or NULL: gone, or moved on */
	SSL			*ut_ssl;	/* NULL until the handshake */
};

/* The ex_data slots: the SSL_CTX's (owns it), the SSL's (a pointer). */
static int upstream_tls_ctx_index = -1;
static int upstream_tls_ssl_index = -1;

static void
upstream_tls_ctx_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
    long argl, void *argp)
{
	struct upstream_tls *t = ptr;

	if (t == NULL)
		return;
	if (t->ut_x != NULL)
		t->ut_x->ux_tls = NULL;
	free(t);
}

/* The SSL goes first (it holds a reference to its SSL_CTX). */
static void
upstream_tls_ssl_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
    long argl, void *argp)
{
	struct upstream_tls *t = ptr;

	if (t != NULL)
		t->ut_ssl = NULL;
}

/*
 * Alerts that speak of our configuration, not of the CA's health. The
 * certificate ones name our RA certificate; the others a TLS setting
 * the two sides do not share. An internal_error (estrad's own connection
 * limits send it) or a decode error is no refusal.
 */
static const struct {
	int	alert;
	int	of_cert;	/* about our certificate */
} upstream_refusal_alerts[] = {
	{ SSL_AD_BAD_CERTIFICATE, 1 },
	{ SSL_AD_UNSUPPORTED_CERTIFICATE, 1 },
	{ SSL_AD_CERTIFICATE_REVOKED, 1 },
	{ SSL_AD_CERTIFICATE_EXPIRED, 1 },
	{ SSL_AD_CERTIFICATE_UNKNOWN, 1 },
	{ SSL_AD_UNKNOWN_CA, 1 },
	{ SSL_AD_ACCESS_DENIED, 1 },
	{ SSL_AD_CERTIFICATE_REQUIRED, 1 },
	/* TLS 1.2 servers send it for a missing or unusable client
	 * certificate too. */
	{ SSL_AD_HANDSHAKE_FAILURE, 1 },
	{ SSL_AD_PROTOCOL_VERSION, 0 },
	{ SSL_AD_INSUFFICIENT_SECURITY, 0 },
};

/* The info callback has a const SSL; its ex_data is ours to change. */
static void
upstream_on_tls_info(const SSL *ssl, int where, int ret)
{
	struct upstream_tls *t = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl),
	    upstream_tls_ctx_index);

	if (t == NULL)
		return;
	if ((where & SSL_CB_HANDSHAKE_START) && t->ut_ssl == NULL &&
	    SSL_set_ex_data((SSL *)ssl, upstream_tls_ssl_index, t) == 1)
		t->ut_ssl = (SSL *)ssl;
	if (!(where & SSL_CB_READ_ALERT) || (ret >> 8) != SSL3_AL_FATAL ||
	    t->ut_x == NULL)
		return;
	/* Kept by the transfer that opened this connection, not by the
	 * upstream: another transfer's failure (a reset on another URL, a
	 * cache refresh) is never blamed on this alert. The transfer
	 * outlives the connection, which curl may close first (TLS 1.2:
	 * the alert ends the handshake). */
	t->ut_x->ux_alert = ret & 0xff;
	t->ut_x->ux_alert_us = upstream_now_us();
}

/* A new connection's SSL_CTX, made for transfer arg: hear its alerts. */
static CURLcode
upstream_on_ssl_ctx(CURL *e, void *ssl_ctx, void *arg)
{
	struct upstream_xfer	*x = arg;
	struct upstream_tls	*t;

	(void)e;
	/* One SSL_CTX per connection (libcurl 7.x, 8.x); were one handed
	 * over again, its old record would go, not leak. */
	if ((t = SSL_CTX_get_ex_data(ssl_ctx, upstream_tls_ctx_index)) !=
	    NULL) {
		SSL_CTX_set_ex_data(ssl_ctx, upstream_tls_ctx_index, NULL);
		upstream_tls_ctx_free(ssl_ctx, t, NULL, 0, 0, NULL);
	}
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return CURLE_OK;	/* only the names get vaguer */
	t->ut_up = x->ux_up;
	if (SSL_CTX_set_ex_data(ssl_ctx, upstream_tls_ctx_index, t) != 1) {
		free(t);
		return CURLE_OK;
	}
	upstream_refusal_detach(x);	/* an earlier URL's connection */
	t->ut_x = x;
	x->ux_tls = t;
	SSL_CTX_set_info_callback(ssl_ctx, upstream_on_tls_info);
	return CURLE_OK;
}

int
upstream_refusal_opts(CURL *e, struct upstream_xfer *x)
{
	if (upstream_tls_ctx_index == -1)
		upstream_tls_ctx_index = SSL_CTX_get_ex_new_index(0, NULL,
		    NULL, NULL, upstream_tls_ctx_free);
	if (upstream_tls_ssl_index == -1)
		upstream_tls_ssl_index = SSL_get_ex_new_index(0, NULL, NULL,
		    NULL, upstream_tls_ssl_free);
	if (upstream_tls_ctx_index == -1 || upstream_tls_ssl_index == -1)
		return 0;	/* only the names get vaguer */
	/* A TLS library without the callback: refusals read as outages,
	 * as before; not worth failing the transfer for. */
	(void)curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION,
	    upstream_on_ssl_ctx);
	(void)curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, x);
	return 0;
}

void
upstream_refusal_detach(struct upstream_xfer *x)
{
	if (x->ux_tls != NULL)
		x->ux_tls->ut_x = NULL;
	x->ux_tls = NULL;
}

/*
 * The attempt failed on the connection it opened, which curl keeps until
 * it next looks at it: read what the CA sent last (the alert, if any;
 * the socket is non-blocking). The SSL is alive, so is its socket (curl
 * frees the SSL before it closes the socket).
 */
static void
upstream_tls_drain(struct upstream_xfer *x)
{
	char b;

	if (x->ux_tls == NULL || x->ux_tls->ut_ssl == NULL)
		return;
	(void)SSL_peek(x->ux_tls->ut_ssl, &b, 1);
	ERR_clear_error();
}

/* The alert that refused x's attempt, or -1; *of_cert as the table's. */
static int
upstream_refusal_alert(struct upstream_xfer *x, int *of_cert)
{
	if (x->ux_alert_us < x->ux_sent_us)
		upstream_tls_drain(x);
	if (x->ux_alert_us < x->ux_sent_us)
		return -1;	/* none since this attempt was sent */
	for (size_t i = 0; i < sizeof(upstream_refusal_alerts) /
	    sizeof(upstream_refusal_alerts[0]); i++)
		if (upstream_refusal_alerts[i].alert == x->ux_alert) {
			*of_cert = upstream_refusal_alerts[i].of_cert;
			return x->ux_alert;
		}
	return -1;
}

/*
 * The CA's certificate (or its chain) out of its validity period: the CA
 * let it expire, or a clock is wrong. That is the CA's incident, mended
 * at the CA without a change here, so it is an outage (queued, the
 * breaker charged, curl's "certificate has expired" logged), not our
 * configuration error. Any other verify failure (an unknown issuer: our
 * ca_bundle; a name mismatch: our URL) is ours.
 */
static int
upstream_ca_expired(struct upstream_xfer *x)
{
	long vr = X509_V_OK;

	if (curl_easy_getinfo(x->ux_easy, CURLINFO_SSL_VERIFYRESULT, &vr) !=
	    CURLE_OK)
		return 0;
	return vr == X509_V_ERR_CERT_HAS_EXPIRED ||
	    vr == X509_V_ERR_CERT_NOT_YET_VALID;
}

/*
 * What went wrong, in words for the log and /readyz (why), and for the
 * client (reply): 1, or 0 when code is no refusal.
 */
static int
upstream_refusal_why(struct upstream_xfer *x, CURLcode code,
    char *why, size_t whylen, const char **reply)
{
	const struct cfg_upstream *u = x->ux_up->up_cfg;
	const char	*desc;
	int		 alert, of_cert = 0;

	*reply = "the upstream CA refused this RA's TLS client certificate: "
	    "a configuration error of the RA, not an outage";
	if (code == CURLE_PEER_FAILED_VERIFICATION && upstream_ca_expired(x))
		return 0;	/* the CA's incident: an outage, queued */
	if (code == CURLE_PEER_FAILED_VERIFICATION) {
		snprintf(why, whylen, "we do not accept the CA's TLS "
		    "certificate with ca_bundle %s (%s)", u->ca_bundle ?
		    u->ca_bundle : "(the system's)", x->ux_error[0] ?
		    x->ux_error : curl_easy_strerror(code));
		*reply = "upstream CA certificate does not verify: a "
		    "configuration error of the RA, not an outage";
		return 1;
	}
	if (code == CURLE_SSL_CERTPROBLEM) {
		snprintf(why, whylen, "our TLS client certificate %s cannot "
		    "be used (%s)", u->client_certificate ?
		    u->client_certificate : "-", x->ux_error[0] ? x->ux_error :
		    curl_easy_strerror(code));
		return 1;
	}
	if (code == CURLE_OK || code == CURLE_OPERATION_TIMEDOUT ||
	    (alert = upstream_refusal_alert(x, &of_cert)) == -1)
		return 0;
	desc = SSL_alert_desc_string_long(alert);
	if (of_cert && u->client_certificate != NULL) {
		snprintf(why, whylen, "the CA refused our TLS client "
		    "certificate %s (alert: %s)", u->client_certificate, desc);
		return 1;
	}
	if (of_cert)
		snprintf(why, whylen, "the CA refused the TLS handshake "
		    "(alert: %s); no client_certificate is set, and it may "
		    "want one", desc);
	else
		snprintf(why, whylen, "the CA refused the TLS handshake "
		    "(alert: %s)", desc);
	*reply = "the upstream CA refused this RA's TLS handshake: a "
	    "configuration error of the RA, not an outage";
	return 1;
}

int
upstream_refusal(struct upstream_xfer *x, CURLcode code)
{
	struct upstream	*up = x->ux_up;
	const char	*reply;
	char		 why[sizeof(up->up_refused)];

	if (!upstream_refusal_why(x, code, why, sizeof(why), &reply))
		return 0;
	log_err("upstream %s: %s: %s: a configuration error, not an outage",
	    up->up_cfg->name, up->up_urls[x->ux_url].uu_url, why);
	snprintf(up->up_refused, sizeof(up->up_refused), "%s", why);
	up->up_refused_us = upstream_now_us();
	est_reply_error(&x->ux_reply, 502, "%s", reply);
	return 1;
}

void
upstream_refusal_clear(struct upstream *up)
{
	if (up->up_refused[0] == '\0')
		return;
	log_info("upstream %s: the TLS handshake with the CA succeeds again",
	    up->up_cfg->name);
	up->up_refused[0] = '\0';
}

int
upstream_refused(const struct upstream_ctx *ctx, size_t upstream, char *why,
    size_t whylen)
{
	const struct upstream *up;

	if (ctx == NULL || upstream >= ctx->uc_n)
		return 0;
	up = &ctx->uc_upstreams[upstream];
	/*
	 * Held for backoff_max after the last refusal, as a breaker holds a
	 * CA it found down, then let go: a CA-side fix (it now trusts our
	 * issuer) is seen only by a request, and a not-ready RA gets none.
	 */
	if (up->up_refused[0] == '\0' || upstream_now_us() -
	    up->up_refused_us > (int64_t)up->up_cfg->backoff_max_ms * 1000)
		return 0;
	if (why != NULL)
		snprintf(why, whylen, "upstream %s: %s", up->up_cfg->name,
		    up->up_refused);
	return 1;
}
