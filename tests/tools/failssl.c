/*
 * failssl: an LD_PRELOAD shim for the no_tls case. While the file named by
 * $FAILSSL_FLAG exists, SSL_new fails as it would out of memory; libevent
 * then makes the connection's bufferevent without TLS and evhttp serves it
 * in cleartext, which estrad must refuse. (RTLD_NEXT needs _GNU_SOURCE,
 * which the build defines.)
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/ssl.h>

SSL *
SSL_new(SSL_CTX *ctx)
{
	static SSL	*(*real)(SSL_CTX *);
	const char	*flag = getenv("FAILSSL_FLAG");

	if (flag != NULL && access(flag, F_OK) == 0)
		return NULL;
	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "SSL_new");
	return real != NULL ? real(ctx) : NULL;
}
