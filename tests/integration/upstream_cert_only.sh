#!/usr/bin/env bash
# A CA that admits the RA by its certificate alone, with the proxy's
# upstream set to "auth": "digest" all the same (issue 15 §4: an operator
# who set Digest up "just in case", or a CA that asks for it on some
# labels only). The RA sends the real request first, so (counted from the
# CA's access lines, a private copy of the lab CA):
#  - simpleenroll: 200 with a certificate for the CSR's key, one request
#    at the CA per enrollment, never a 400 "body is empty" (libcurl's
#    Digest first sent an empty POST and waited for a 401);
#  - cacerts and csrattrs: one request each, relayed;
#  - no Authorization header was sent (none was asked for): the CA's
#    lines say auth=cert;
#  - the same through "auth": "basic" (Basic goes with the first request:
#    the CA ignores what it did not ask for).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

start_estrad certca "$CA_CONFIG"
CA_XLOG=$XLOG CA_XURL=$XURL

(umask 077 && printf '%s\n' "$EST_PASS" >"$WORK/ra-pass")

# run MODE: a proxy with upstream "auth": MODE in front of the CA; two
# enrollments, a cacerts and a csrattrs, each one request at the CA.
run() {
	local mode=$1 before n
	P_URL=$CA_XURL P_UPSTREAM_EXTRA="\"auth\": \"$mode\", \"username\": \"$EST_USER\", \"password_file\": \"$WORK/ra-pass\"" \
	    proxy_config "$WORK/$mode.json"
	start_estrad "proxy-$mode" "$WORK/$mode.json"
	for i in 1 2; do
		before=$(wc -l <"$CA_XLOG")
		make_csr "$mode$i" "/CN=cert-only-$mode-$i"
		post_csr "$mode$i" "$XURL/simpleenroll" "$WORK/$mode$i.b64" --cert "$CLIENT_CERT" --key "$CLIENT_KEY"
		check_status 200
		check_issued "$mode$i" "$mode$i" "$ISSUING_CERT"
		check_access "auth=cert user=CN=lab-client status=200 upstream=200" "$XLOG"
		n=$(tail -n +$((before + 1)) "$CA_XLOG" | grep -c ' access ')
		[ "$n" = 1 ] || fail "$mode: enrollment $i took $n requests at the CA: $(tail -n +$((before + 1)) "$CA_XLOG" | grep ' access ')"
		tail -n +$((before + 1)) "$CA_XLOG" | grep -q ' access .* op=simpleenroll auth=cert user=CN=estrad\\x20lab\\x20RA status=200 ' ||
		    fail "$mode: the CA's line is not a 200 to the RA certificate: $(tail -n 1 "$CA_XLOG")"
	done
	for op in cacerts csrattrs; do
		before=$(wc -l <"$CA_XLOG")
		req "$mode-$op" GET "$XURL/$op"
		case $STATUS in 200 | 204) ;; *) fail "$mode: $op answered $STATUS" ;; esac
		n=$(tail -n +$((before + 1)) "$CA_XLOG" | grep -c ' access ')
		[ "$n" = 1 ] || fail "$mode: $op took $n requests at the CA"
	done
}
run digest
run basic
grep ' access ' "$CA_XLOG" | grep -q ' status=400 ' &&
    fail "the CA answered 400: $(grep ' status=400 ' "$CA_XLOG")"
for log in "$CA_XLOG" "$WORK"/proxy-*.log; do
	grep -qF -- "$EST_PASS" "$log" && fail "the RA password is in $log"
done
pass
