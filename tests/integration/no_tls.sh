#!/usr/bin/env bash
# When SSL_new fails (out of memory), libevent 2.1 makes the connection's
# bufferevent without TLS and evhttp serves it in cleartext. estrad never
# serves EST there: a request on such a connection gets 503 with a
# text/plain reason, Retry-After and Connection: close, and a warn line;
# TLS clients are served again once SSL_new works. A shim
# (tests/tools/failssl.c, LD_PRELOAD) fails SSL_new while a flag file
# exists; the daemon's own TLS toward the CA (libcurl) is not asked for
# while the flag is there.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

[ -n "${FAILSSL:-}" ] && [ -f "$FAILSSL" ] || fail "no failssl shim (FAILSSL='${FAILSSL:-}')"
proxy_config "$WORK/proxy.json"
flag=$WORK/fail-ssl-new
# An ASan build wants its runtime first among the libraries; the shim
# only interposes SSL_new, so the order does not matter here.
LD_PRELOAD=$FAILSSL FAILSSL_FLAG=$flag \
    ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
    start_estrad proxy "$WORK/proxy.json"

req tls_ok GET "$XURL/cacerts"
check_status 200

touch "$flag"
req cleartext GET "http://127.0.0.1:$XPORT/.well-known/est/cacerts"
check_error 503 'no TLS on this connection'
check_header Retry-After 5
grep -qi '^Connection: close' "$HDR" || fail "no Connection: close on the cleartext connection"
grep -q 'a connection without TLS (out of memory?): refused' "$XLOG" ||
    fail "no warn line for the connection without TLS"
# A TLS client meanwhile gets no TLS server at all (evhttp reads its
# ClientHello as a bad request line): no answer over TLS, no crash.
req tls_during GET "$XURL/cacerts" --max-time 3
[ "$STATUS" = 200 ] && fail "a TLS client was served while SSL_new failed"
rm -f "$flag"

req tls_again GET "$XURL/cacerts"
check_status 200
check_alive "$XPID" "the proxy"
pass
