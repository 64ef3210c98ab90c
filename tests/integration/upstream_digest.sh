#!/usr/bin/env bash
# estrad's own Digest credentials toward a CA that demands them (issue:
# "Toward the CA"). A CA of this case's own (an upstream estrad whose
# simpleenroll accepts Digest only, not the RA certificate) and a proxy
# whose upstream has "auth": "digest" with the lab user's password in a
# file:
#  - the client, authenticated to the proxy by its certificate, enrolls;
#    the CA's access line shows auth=digest user=<the RA's user>;
#  - with a wrong RA password the CA's 401 comes back as it is (a CA 4xx
#    is never relabelled) and the proxy does not retry;
#  - the RA's password appears in no log.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

digest_ca_config "$WORK/ca.json"
start_estrad digest-ca "$WORK/ca.json"
CA_XLOG=$XLOG
CA_XURL=$XURL

(umask 077 && printf '%s\n' "$EST_PASS" >"$WORK/ra-pass" &&
    printf 'not-the-password\n' >"$WORK/bad-pass")
P_URL=$CA_XURL P_UPSTREAM_EXTRA="\"auth\": \"digest\", \"username\": \"$EST_USER\", \"password_file\": \"$WORK/ra-pass\"" \
    proxy_config "$WORK/proxy.json"
start_estrad proxy "$WORK/proxy.json"
PROXY_XLOG=$XLOG

make_csr dev "/CN=upstream-digest-device"
post_csr ok "$XURL/simpleenroll" "$WORK/dev.b64" --cert "$CLIENT_CERT" --key "$CLIENT_KEY"
check_status 200
check_issued ok dev "$ISSUING_CERT"
check_access "auth=cert user=CN=lab-client status=200 upstream=200" "$PROXY_XLOG"
wait_grep 2 "$CA_XLOG" "op=simpleenroll auth=digest user=$EST_USER status=200" ||
    fail "the CA did not log a Digest login by $EST_USER: $(grep ' access ' "$CA_XLOG" | tail -n 2)"

# A wrong RA password: the CA's 401 is relayed as it is (an estrad CA's
# 401 carries its reason in the status line and no body, docs/interop.md;
# relayed, the status and the empty body stay, the CA's log has the why).
P_URL=$CA_XURL P_UPSTREAM_EXTRA="\"auth\": \"digest\", \"username\": \"$EST_USER\", \"password_file\": \"$WORK/bad-pass\"" \
    proxy_config "$WORK/proxy-bad.json"
start_estrad proxy-bad "$WORK/proxy-bad.json"
post_csr bad "$XURL/simpleenroll" "$WORK/dev.b64" --cert "$CLIENT_CERT" --key "$CLIENT_KEY"
check_status 401
check_header Content-Length 0
[ ! -s "$BODY" ] || fail "bad: the CA's empty 401 came back with a body: $(head -c 200 "$BODY")"
wait_grep 2 "$CA_XLOG" 'status=401 upstream=- bytes=0 ms=[0-9.]* reason="wrong user name or password"' ||
    fail "the CA did not log the wrong RA password: $(grep ' access ' "$CA_XLOG" | tail -n 2)"
check_access "status=401 upstream=401" "$XLOG"

for log in "$CA_XLOG" "$PROXY_XLOG" "$XLOG"; do
	grep -qF -- "$EST_PASS" "$log" && fail "the RA password is in $log"
done
pass
