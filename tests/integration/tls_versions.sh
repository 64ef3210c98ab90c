#!/usr/bin/env bash
# TLS 1.2 and 1.3 only (RFC 7030 §3.3.1 asks for 1.1 or later; estrad
# takes 1.2): a TLS 1.1 client is refused, 1.2 and 1.3 clients connect.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

port=${EST_URL#https://127.0.0.1:}
port=${port%%/*}

# try VERSION: handshake with the proxy; output in $WORK/VERSION.out.
try() {
	timeout 10 openssl s_client -connect "127.0.0.1:$port" -servername localhost \
	    -CAfile "$TRUST" -verify_return_error -brief "$@" </dev/null \
	    >"$WORK/$1.out" 2>&1
}

for v in tls1_2 tls1_3; do
	try -$v || fail "-$v handshake failed: $(tail -n 3 "$WORK/-$v.out")"
	want=$(echo "$v" | sed 's/tls1_/TLSv1./')
	grep -q "Protocol version: $want" "$WORK/-$v.out" ||
	    fail "-$v: $(grep -i protocol "$WORK/-$v.out")"
	grep -q 'Verification: OK' "$WORK/-$v.out" || fail "-$v: server certificate not verified"
done

# OpenSSL 3 clients refuse TLS 1.1 at security level 1 by themselves; drop
# to level 0 so that a refusal can only come from the server.
if try -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0'; then
	fail "a TLS 1.1 handshake succeeded: $(grep -i protocol "$WORK/-tls1_1.out")"
fi
grep -qiE 'no protocols available|legacy sigalg|no ciphers available' "$WORK/-tls1_1.out" &&
    fail "inconclusive: this openssl client cannot offer TLS 1.1: $(tail -n 2 "$WORK/-tls1_1.out")"
note "TLS 1.1 refused: $(grep -m1 -iE 'alert|error' "$WORK/-tls1_1.out")"
check_proxy_healthy
pass
