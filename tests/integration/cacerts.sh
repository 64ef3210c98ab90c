#!/usr/bin/env bash
# cacerts through the proxy is the upstream's answer byte for byte
# (RFC 7030 §4.1.3: the whole chain), and decodes to the lab chain.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

req upstream GET "$CA_URL/cacerts"
check_status 200
up_ct=$(header Content-Type)
req proxy GET "$EST_URL/cacerts"
check_status 200
check_framing
case $(header Content-Type) in
application/pkcs7-mime*) ;;
*) fail "cacerts Content-Type is '$(header Content-Type)'" ;;
esac
[ "$(header Content-Type)" = "$up_ct" ] ||
    fail "Content-Type '$(header Content-Type)' differs from the CA's '$up_ct'"
cmp "$WORK/upstream.body" "$WORK/proxy.body" ||
    fail "cacerts through the proxy differs from the upstream's"

n=$(p7_certs "$WORK/proxy.body" "$WORK/chain.pem")
[ "$n" -ge 2 ] || fail "cacerts holds $n certificates, expected the chain (>= 2)"
n=$(split_certs "$WORK/chain.pem" "$WORK/c")
root_fp=$(fingerprint "$ROOT_CERT")
issuing_fp=$(fingerprint "$ISSUING_CERT")
have_root=0 have_issuing=0
for ((i = 1; i <= n; i++)); do
	fp=$(fingerprint "$WORK/c.$i.pem")
	[ "$fp" = "$root_fp" ] && have_root=1
	[ "$fp" = "$issuing_fp" ] && have_issuing=1
done
[ "$have_root" = 1 ] || fail "cacerts lacks the root certificate"
[ "$have_issuing" = 1 ] || fail "cacerts lacks the issuing CA certificate"
pass
