#!/usr/bin/env bash
# TLS 1.2 and 1.3 only (RFC 7030 §3.3.1 asks for 1.1 or later; estrad
# takes 1.2): a TLS 1.1 client is refused, 1.2 and 1.3 clients connect.
# The default TLS 1.2 suites are ECDHE with AEAD only: a client offering
# only AES128-SHA or a CBC ECDHE suite is refused. Then a proxy with
# "tls.ciphers": "ECDHE-ECDSA-AES256-GCM-SHA384",
# "tls.ciphersuites": "TLS_CHACHA20_POLY1305_SHA256" and "tls.groups":
# "P-384" takes exactly those: other suites and X25519 are refused.
# Key exchange is on elliptic curves only (issue 14): by default X25519,
# P-256 and P-384 are taken, and a client offering only a finite-field
# group (ffdhe2048, ffdhe8192: up to 130 ms of server CPU each) or, in TLS
# 1.2, only DHE suites is refused. The admin listener over TLS (an RSA
# certificate, so that DHE-RSA suites could be chosen at all) has the same
# defaults, whatever tls.groups says: X25519 in, ffdhe2048, DHE and CBC
# suites out.
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

# refused NAME ARGS...: a TLS handshake with the proxy on $port fails.
refused() {
	local name=$1
	shift
	if timeout 10 openssl s_client -connect "127.0.0.1:$port" \
	    -servername localhost -CAfile "$TRUST" -brief "$@" </dev/null \
	    >"$WORK/$name.out" 2>&1; then
		fail "$name: the handshake succeeded: $(grep -i -m2 'protocol\|cipher' "$WORK/$name.out")"
	fi
}
# accepted NAME WANT ARGS...: it succeeds and the output holds WANT.
accepted() {
	local name=$1 want=$2
	shift 2
	timeout 10 openssl s_client -connect "127.0.0.1:$port" \
	    -servername localhost -CAfile "$TRUST" -verify_return_error -brief \
	    "$@" </dev/null >"$WORK/$name.out" 2>&1 ||
	    fail "$name: the handshake failed: $(tail -n 2 "$WORK/$name.out")"
	grep -q -- "$want" "$WORK/$name.out" ||
	    fail "$name: no '$want' in: $(grep -i 'cipher\|group\|temp key' "$WORK/$name.out")"
}

refused rsa-cbc -tls1_2 -cipher 'AES128-SHA:@SECLEVEL=0'
refused ecdhe-cbc -tls1_2 -cipher 'ECDHE-ECDSA-AES128-SHA256'

# The default groups: elliptic curves only.
accepted d-x25519 'X25519' -tls1_3 -groups X25519
accepted d-p256 'prime256v1' -tls1_3 -groups P-256
accepted d-p384 'secp384r1' -tls1_3 -groups P-384
accepted d-p256-12 'prime256v1' -tls1_2 -groups P-256
refused d-ffdhe2048 -tls1_3 -groups ffdhe2048
refused d-ffdhe8192 -tls1_3 -groups ffdhe8192
refused d-dhe -tls1_2 -cipher 'DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384'
grep -q 'handshake failure' "$WORK/d-ffdhe8192.out" ||
    fail "ffdhe8192 only: no handshake_failure alert: $(tail -n 2 "$WORK/d-ffdhe8192.out")"
note "default groups: X25519, P-256, P-384 in; ffdhe2048, ffdhe8192 out"

# The admin listener's TLS: an RSA certificate of its own.
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -days 2 \
    -keyout "$WORK/admin.key" -out "$WORK/admin.pem" >/dev/null 2>&1 ||
    fail "cannot make the admin listener's RSA certificate"
chmod 600 "$WORK/admin.key"

P_TLS_EXTRA='"ciphers": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ciphersuites": "TLS_CHACHA20_POLY1305_SHA256", "groups": "P-384"' \
    P_TOP_EXTRA="\"admin\": { \"listen\": \"127.0.0.1:0\",
    \"certificate\": \"$WORK/admin.pem\", \"key\": \"$WORK/admin.key\" }" \
    proxy_config "$WORK/suites.json"
start_estrad suites "$WORK/suites.json"
admin_port "$XLOG"
port=$APORT
LAB_TRUST=$TRUST
TRUST=$WORK/admin.pem
accepted a-x25519 'X25519' -tls1_3 -groups X25519
accepted a-p256 'prime256v1' -tls1_3 -groups P-256
accepted a-gcm 'ECDHE-RSA-AES128-GCM-SHA256' -tls1_2 -cipher 'ECDHE-RSA-AES128-GCM-SHA256'
refused a-ffdhe2048 -tls1_3 -groups ffdhe2048
refused a-ffdhe8192 -tls1_3 -groups ffdhe8192
refused a-dhe -tls1_2 -cipher 'DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384'
refused a-cbc -tls1_2 -cipher 'ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES128-SHA256'
note "the admin listener: elliptic curves, ECDHE and AEAD only"
TRUST=$LAB_TRUST
port=$XPORT
accepted s12 'ECDHE-ECDSA-AES256-GCM-SHA384' -tls1_2
refused s12-other -tls1_2 -cipher 'ECDHE-ECDSA-AES128-GCM-SHA256'
accepted s13 'TLS_CHACHA20_POLY1305_SHA256' -tls1_3
refused s13-other -tls1_3 -ciphersuites 'TLS_AES_128_GCM_SHA256'
accepted g384 'secp384r1' -tls1_3 -groups 'P-384'
refused gx25519 -tls1_3 -groups 'X25519'
note "configured suites and groups: only those"
check_proxy_healthy
pass
