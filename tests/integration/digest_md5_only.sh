#!/usr/bin/env bash
# Users made with htdigest have MD5 HA1s only. Clients answer the first
# challenge they can (curl does; libest reads only the first), so by
# default MD5 comes first and plain `curl --digest` enrolls such a user.
# Once every user has a SHA-256 line too (SIGHUP), MD5 still leads (every
# user can answer it); with only SHA-256 lines, SHA-256 leads; and
# auth.digest_algorithms ["SHA-256", "MD5"] puts SHA-256 first whatever
# the users file holds.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

PW="md5-$(openssl rand -hex 8)"
(umask 077 && printf '%s\n%s\n' "$PW" "$PW" |
    htdigest -c "$WORK/users" "$AUTH_REALM" md5user >/dev/null 2>&1) ||
    fail "htdigest could not write $WORK/users"
grep -Eq '^md5user:[^:]+:[0-9a-f]{32}$' "$WORK/users" ||
    fail "htdigest wrote no MD5 line: $(cat "$WORK/users")"
P_AUTH="\"digest_users\": \"$WORK/users\"" proxy_config "$WORK/proxy.json"
start_estrad md5 "$WORK/proxy.json"
make_csr dev "/CN=md5-device"

T_AUTH=none post_csr challenge "$XURL/simpleenroll" "$WORK/dev.b64"
check_status 401
grep -i '^WWW-Authenticate:' "$HDR" | tr -d '\r' >"$WORK/challenges"
[ "$(wc -l <"$WORK/challenges")" = 2 ] || fail "want 2 challenges: $(cat "$WORK/challenges")"
head -n 1 "$WORK/challenges" | grep -q 'algorithm="MD5",' ||
    fail "MD5 is not the first challenge: $(cat "$WORK/challenges")"
tail -n 1 "$WORK/challenges" | grep -q 'algorithm="SHA-256",' ||
    fail "SHA-256 is not offered second: $(cat "$WORK/challenges")"

T_AUTH=none post_csr enroll "$XURL/simpleenroll" "$WORK/dev.b64" --digest -u "md5user:$PW"
check_status 200
check_access "auth=digest user=md5user status=200" "$XLOG"

# first_is NAME ALG WHY: a POST without credentials gets 401, ALG first.
first_is() {
	T_AUTH=none post_csr "$1" "$XURL/simpleenroll" "$WORK/dev.b64"
	check_status 401
	grep -i '^WWW-Authenticate:' "$HDR" | head -n 1 | grep -q "algorithm=\"$2\"," ||
	    fail "$2 is not first $3: $(grep -i '^WWW-Authenticate:' "$HDR")"
}

# reloaded N: the Nth "reload: users loaded" line (5 s).
reloaded() {
	local i
	for ((i = 0; i < 50; i++)); do
		[ "$(grep -c 'reload: users loaded' "$XLOG")" -ge "$1" ] && return
		sleep 0.1
	done
	fail "no reload line $1 after SIGHUP"
}

# Give the user a SHA-256 HA1 too: after SIGHUP, MD5 still comes first.
sha=$(printf '%s' "md5user:$AUTH_REALM:$PW" | sha256sum | cut -d' ' -f1)
printf 'md5user:%s:%s\n' "$AUTH_REALM" "$sha" >>"$WORK/users"
kill -HUP "$XPID"
reloaded 1
first_is challenge2 MD5 "with both HA1s"
T_AUTH=none post_csr enroll2 "$XURL/simpleenroll" "$WORK/dev.b64" --digest -u "md5user:$PW"
check_status 200

# Only a SHA-256 line: SHA-256 first, and curl enrolls with it.
printf 'md5user:%s:%s\n' "$AUTH_REALM" "$sha" >"$WORK/users"
kill -HUP "$XPID"
reloaded 2
first_is challenge3 SHA-256 "with SHA-256 lines only"
T_AUTH=none post_csr enroll3 "$XURL/simpleenroll" "$WORK/dev.b64" --digest -u "md5user:$PW"
check_status 200
stop_pid "$XPID"

# Configured order: SHA-256 first although every user has MD5.
printf 'md5user:%s:%s\n' "$AUTH_REALM" \
    "$(printf '%s' "md5user:$AUTH_REALM:$PW" | md5sum | cut -d' ' -f1)" >>"$WORK/users"
P_AUTH="\"digest_users\": \"$WORK/users\", \"digest_algorithms\": [\"SHA-256\", \"MD5\"]" \
    proxy_config "$WORK/proxy2.json"
start_estrad sha "$WORK/proxy2.json"
first_is challenge4 SHA-256 "as configured"
pass
