#!/usr/bin/env bash
# HTTP Basic toward the upstream CA (RFC 7030 §3.2.3, upstreams.<name>.auth)
# and the client's own credentials, seen by a recording CA (openssl
# s_server):
#  - with "auth": "basic" the request upstream carries exactly one
#    Authorization header, "Basic base64(username:password)" from
#    password_file (trailing newline dropped), even when the client sent an
#    Authorization header of its own;
#  - without upstream auth, the client's Authorization header (here the
#    lab's Basic user, which authenticated the client at the proxy) does
#    not go upstream;
#  - neither the RA password (plain or in base64) nor the client's
#    credentials appear in the proxy's log or the lab's logs (debug level).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

client_auth='Basic Zm9vOmJhcg=='		# foo:bar (cacerts is open: ignored)
client_b64=Zm9vOmJhcg==
# The lab's Basic user, accepted for simpleenroll by the second proxy.
user_b64=$(printf '%s:%s' "$BASIC_USER" "$BASIC_PASS" | base64 -w0)
pw="Pw-$(openssl rand -hex 12)"
printf '%s\n' "$pw" >"$WORK/ra.pass"
chmod 600 "$WORK/ra.pass"
ra_b64=$(printf 'ra-user:%s' "$pw" | base64 -w0)
pw_b64=$(printf '%s' "$pw" | base64 -w0)

# ---- 1: upstream Basic auth, the client sends credentials of its own.
# A valid certs-only answer: estrad relays no other kind of 200.
seed_pkcs7 "$WORK/canned.b64"
http_answer "$WORK/basic.answer" '200 OK' "$WORK/canned.b64" \
    'Content-Type: application/pkcs7-mime; smime-type=certs-only'

start_recorder basic "$WORK/basic.answer"
P_URL=$REC_URL \
    P_UPSTREAM_EXTRA="\"auth\": \"basic\", \"username\": \"ra-user\", \"password_file\": \"$WORK/ra.pass\"" \
    proxy_config "$WORK/basic.json"
sed -i 's|"log_level": "info"|"log_level": "debug"|' "$WORK/basic.json"
grep -q '"auth": "basic"' "$WORK/basic.json" || fail "proxy_config ignored P_UPSTREAM_EXTRA"
out=$("$ESTRAD_BIN" -n -c "$WORK/basic.json" 2>&1) || fail "estrad -n: $out"
start_estrad basic "$WORK/basic.json"
basic_log=$XLOG basic_pid=$XPID

req basic GET "$XURL/cacerts" -H "Authorization: $client_auth"
recorder_done basic
check_status 200
check_header Content-Type 'application/pkcs7-mime; smime-type=certs-only'
cmp -s "$WORK/canned.b64" "$BODY" ||
    fail "body '$(head -c 200 "$BODY")' is not the recording CA's"
grep -q 'depth=0 CN *= *estrad lab RA' "$WORK/basic.err" ||
    fail "the proxy did not present the RA certificate: $(head -c 400 "$WORK/basic.err")"

recorded_request basic
reqline=$(head -n 1 "$WORK/basic.up.hdr" | tr -d '\r')
[ "$reqline" = "GET /.well-known/est/cacerts HTTP/1.1" ] ||
    fail "request line upstream: '$reqline'"
n=$(grep -ci '^authorization:' "$WORK/basic.up.hdr")
[ "$n" = 1 ] || fail "$n Authorization headers upstream, expected 1: $(grep -i '^authorization:' "$WORK/basic.up.hdr")"
got=$(header Authorization "$WORK/basic.up.hdr")
[ "$got" = "Basic $ra_b64" ] ||
    fail "Authorization upstream is '$got', expected 'Basic $ra_b64' (ra-user:$pw)"

# ---- 2: no upstream auth; the client authenticates with Basic at the
# proxy, and its Authorization must stay here.
make_csr dev "/CN=basic-device"
base64 -w64 "$WORK/dev.der" >"$WORK/dev.body"
last_line=$(tail -n 1 "$WORK/dev.body")
printf 'HTTP/1.1 202 Accepted\r\nRetry-After: 9\r\nContent-Type: text/plain\r\nContent-Length: 8\r\n\r\npending\n' \
    >"$WORK/plain.answer"
start_recorder plain "$WORK/plain.answer" "$last_line"
P_URL=$REC_URL \
    P_AUTH="\"basic_users\": \"$BASIC_USERS\"" \
    P_DEFAULT_EXTRA='"auth": { "simpleenroll": ["basic"] }' \
    proxy_config "$WORK/plain.json"
sed -i 's|"log_level": "info"|"log_level": "debug"|' "$WORK/plain.json"
start_estrad plain "$WORK/plain.json"
plain_log=$XLOG plain_pid=$XPID

T_AUTH=basic post_csr plain "$XURL/simpleenroll" "$WORK/dev.body"
recorder_done plain
check_status 202
check_header Retry-After 9
printf 'pending\n' | cmp -s - "$BODY" || fail "body '$(head -c 200 "$BODY")' is not the recording CA's"

recorded_request plain
reqline=$(head -n 1 "$WORK/plain.up.hdr" | tr -d '\r')
[ "$reqline" = "POST /.well-known/est/simpleenroll HTTP/1.1" ] ||
    fail "request line upstream: '$reqline'"
cmp -s "$WORK/dev.body" "$WORK/plain.up.body" || fail "the CSR went upstream changed"
has_header Authorization "$WORK/plain.up.hdr" &&
    fail "the client's Authorization went upstream: $(grep -i '^authorization:' "$WORK/plain.up.hdr")"
grep -qF -- "$user_b64" "$WORK/plain.rec" &&
    fail "the client's credentials went upstream"
grep -qF -- "$BASIC_PASS" "$WORK/plain.rec" &&
    fail "the client's password went upstream"

# ---- no secret in any log (stop the daemons first: shutdown lines too).
stop_pid "$basic_pid"
stop_pid "$plain_pid"
for log in "$basic_log" "$plain_log" "$PROXY_LOG" "$CA_LOG"; do
	[ -f "$log" ] || fail "no log $log"
	for secret in "$pw" "$ra_b64" "$pw_b64" "$client_b64" "$user_b64" "$BASIC_PASS"; do
		grep -qF -- "$secret" "$log" &&
		    fail "$(basename "$log") holds the secret '$secret': $(grep -F -- "$secret" "$log" | head -n 3)"
	done
	grep -qi 'authorization' "$log" &&
	    fail "$(basename "$log") mentions an Authorization header: $(grep -i authorization "$log" | head -n 3)"
done
# Both requests were logged (the logs checked above are the right ones).
grep -q ' access .*op=cacerts auth=- user=- status=200 upstream=200 ' "$basic_log" ||
    fail "no access line for the Basic-auth request in $basic_log"
grep -q " access .*op=simpleenroll auth=basic user=$BASIC_USER status=202 upstream=202 " "$plain_log" ||
    fail "no access line for the forwarded POST in $plain_log"
pass
