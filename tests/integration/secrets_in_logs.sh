#!/usr/bin/env bash
# No client secret ever reaches a log. The lab's passwords (EST_PASS,
# BASIC_PASS) are random, so they are distinctive; this case adds wrong
# passwords of its own, then runs failing and succeeding Digest and Basic
# logins at the lab proxy and at a proxy of its own at debug level (Digest
# and Basic both enabled there), and a SIGHUP reload of a users file whose
# bad line holds an HA1. Afterwards no log of the lab (DIR/*.log) nor of
# this case holds:
#  - a password, right or wrong, or the Basic credentials in base64;
#  - an HA1 of the users file or the bcrypt hash (password equivalents);
#  - the word "Authorization" (no header is dumped);
#  - the password of an absolute-form request target's userinfo
#    (https://user:pw@host/...), which is refused with 400.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

WRONG1="Wrong1-$(openssl rand -hex 10)"
WRONG2="Wrong2-$(openssl rand -hex 10)"
secrets=("$EST_PASS" "$BASIC_PASS" "$WRONG1" "$WRONG2")
for u in "$EST_USER:$EST_PASS" "$BASIC_USER:$BASIC_PASS" "$BASIC_USER:$WRONG2" \
    "$EST_USER:$WRONG1"; do
	secrets+=("$(printf '%s' "$u" | base64 -w0)")
done
while IFS=: read -r _ _ ha1; do
	secrets+=("$ha1")
done <"$DIGEST_USERS"
secrets+=("$(cut -d: -f2- "$BASIC_USERS" | head -n 1)")
# The password's base64 alone, and the bcrypt salt+hash part.
secrets+=("$(printf '%s' "$EST_PASS" | base64 -w0 | tr -d '=')")
secrets+=("$(cut -d: -f2- "$BASIC_USERS" | head -n 1 | cut -c8-)")

make_csr dev "/CN=secrets-device"

# logins URL BASICURL LOG STATUS: failing and succeeding logins of both
# kinds; STATUS is the answer to Basic at URL.
logins() {
	local url=$1 burl=$2 log=$3 bstatus=$4
	T_AUTH=none post_csr d_wrong "$url" "$WORK/dev.b64" --digest -u "$EST_USER:$WRONG1"
	check_status 401
	T_AUTH=none post_csr d_wrong_user "$url" "$WORK/dev.b64" --digest -u "$WRONG1:$EST_PASS"
	check_status 401
	T_AUTH=digest post_csr d_right "$url" "$WORK/dev.b64"
	check_status 200
	check_access "auth=digest user=$EST_USER status=200" "$log"
	T_AUTH=none post_csr b_wrong "$burl" "$WORK/dev.b64" -u "$BASIC_USER:$WRONG2"
	check_status 401
	T_AUTH=none post_csr b_wrong_user "$burl" "$WORK/dev.b64" -u "$WRONG2:$BASIC_PASS"
	check_status 401
	T_AUTH=basic post_csr b_right "$burl" "$WORK/dev.b64"
	check_status 200
	check_access "auth=basic user=$BASIC_USER status=200" "$log"
	# Basic at URL, and a password as the user name.
	T_AUTH=none post_csr b_default "$url" "$WORK/dev.b64" -u "$BASIC_USER:$BASIC_PASS"
	check_status "$bstatus"
	T_AUTH=none post_csr d_as_user "$url" "$WORK/dev.b64" --digest -u "$EST_PASS:$EST_PASS"
	check_status 401
}

# ---- the lab proxy.
logins "$EST_URL/simpleenroll" "$EST_URL/basic/simpleenroll" "$PROXY_LOG" 401

# ---- a proxy at debug level, Digest or Basic on its default route.
(umask 077 && cp "$DIGEST_USERS" "$WORK/digest")
P_LOG_LEVEL=debug \
    P_AUTH="\"digest_users\": \"$WORK/digest\", \"basic_users\": \"$BASIC_USERS\"" \
    P_DEFAULT_EXTRA='"auth": { "simpleenroll": ["digest", "basic"] }' \
    P_LABELS='"b": { "upstream": "lab", "auth": { "simpleenroll": ["basic"] } }' \
    proxy_config "$WORK/proxy.json"
start_estrad debug "$WORK/proxy.json"
dlog=$XLOG dpid=$XPID
logins "$XURL/simpleenroll" "$XURL/b/simpleenroll" "$dlog" 200
# Both kinds of challenge go out there.
T_AUTH=none post_csr challenges "$XURL/simpleenroll" "$WORK/dev.b64"
check_challenges "MD5 SHA-256 Basic"

# A users file with a bad line that holds an HA1: the reload error names
# the file and line, never the hash.
bad_ha1=$(hash_hex MD5 "$EST_USER:$AUTH_REALM:$WRONG1")
secrets+=("$bad_ha1")
printf '%s:%s:%sxyz\n' "$EST_USER" "$AUTH_REALM" "$bad_ha1" >>"$WORK/digest"
kill -HUP "$dpid"
wait_grep 3 "$dlog" 'reload: .*keeping the users loaded before' ||
    fail "no reload error in $dlog"
grep 'reload: ' "$dlog" | grep -qF "$WORK/digest:3" ||
    fail "the reload error does not name $WORK/digest:3: $(grep 'reload: ' "$dlog")"

# An absolute-form target with userinfo (RFC 9112 §3.2.2): refused (RFC
# 9110 §4.2.4), and its password never logged.
UIPASS="Userinfo-$(openssl rand -hex 10)"
secrets+=("$UIPASS")
port=${XURL#https://127.0.0.1:}
port=${port%%/*}
req userinfo GET "$XURL/cacerts" \
    --request-target "https://$EST_USER:$UIPASS@127.0.0.1:$port/.well-known/est/cacerts"
check_error 400 "userinfo in the request target"
rid=$(header X-Request-Id)
grep -q "access id=$rid .*path=https://127.0.0.1:$port/.well-known/est/cacerts " "$dlog" ||
    fail "the access line of the userinfo request does not show the target without it: $(grep "id=$rid" "$dlog")"

# ---- stop the extra proxy (its shutdown lines count too), then grep.
stop_pid "$dpid"
logs=("$dlog" "$LAB_DIR"/*.log)
[ "${#logs[@]}" -ge 3 ] || fail "expected the lab's logs in $LAB_DIR: ${logs[*]}"
for log in "${logs[@]}"; do
	[ -s "$log" ] || fail "log $log is empty or missing"
	for s in "${secrets[@]}"; do
		[ -n "$s" ] || fail "an empty secret in the list"
		if grep -qF -- "$s" "$log"; then
			fail "$(basename "$log") holds a secret ('${s:0:6}...'): $(grep -F -- "$s" "$log" | head -n 2)"
		fi
	done
	grep -qi 'authorization' "$log" &&
	    fail "$(basename "$log") mentions Authorization: $(grep -i authorization "$log" | head -n 2)"
done
note "checked ${#logs[@]} logs for ${#secrets[@]} secrets"
pass
