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
#  - an RA user with an MD5 HA1 only, at a CA offering MD5 first: the
#    proxy answers the first challenge (RFC 7616 §3.7) and enrolls;
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

# An RA user with an MD5 HA1 only (what htdigest writes): the CA offers
# MD5 first and SHA-256 second; the proxy answers the first (RFC 7616
# §3.7), and enrolls. Answering "the strongest" (SHA-256), for which the
# CA has no HA1 of this user, got 401 and counted against the RA's user.
PW=$(openssl rand -hex 12)
(umask 077 && printf '%s\n%s\n' "$PW" "$PW" |
    htdigest -c "$WORK/md5users" "$AUTH_REALM" ra-md5 >/dev/null 2>&1) ||
    fail "htdigest could not write $WORK/md5users"
(umask 077 && printf '%s\n' "$PW" >"$WORK/md5-pass")
digest_ca_config "$WORK/ca-md5.json"
sed -i "s|\"digest_users\": \"$DIGEST_USERS\"|\"digest_users\": \"$WORK/md5users\"|" "$WORK/ca-md5.json"
grep -qF "$WORK/md5users" "$WORK/ca-md5.json" || fail "could not write ca-md5.json"
start_estrad md5-ca "$WORK/ca-md5.json"
MD5_CA_XLOG=$XLOG
P_URL=$XURL P_UPSTREAM_EXTRA="\"auth\": \"digest\", \"username\": \"ra-md5\", \"password_file\": \"$WORK/md5-pass\"" \
    proxy_config "$WORK/proxy-md5.json"
start_estrad proxy-md5 "$WORK/proxy-md5.json"
make_csr dev2 "/CN=upstream-digest-md5-device"
post_csr md5 "$XURL/simpleenroll" "$WORK/dev2.b64" --cert "$CLIENT_CERT" --key "$CLIENT_KEY"
check_status 200
check_issued md5 dev2 "$ISSUING_CERT"
wait_grep 2 "$MD5_CA_XLOG" "op=simpleenroll auth=digest user=ra-md5 status=200" ||
    fail "the MD5-only CA did not log a Digest login by ra-md5: $(grep ' access ' "$MD5_CA_XLOG" | tail -n 3)"
grep -q 'reason="wrong user name or password"' "$MD5_CA_XLOG" &&
    fail "the proxy answered the MD5-only CA with an algorithm it has no HA1 for: $(grep ' access ' "$MD5_CA_XLOG")"

for log in "$CA_XLOG" "$PROXY_XLOG" "$XLOG"; do
	grep -qF -- "$EST_PASS" "$log" && fail "the RA password is in $log"
done
pass
