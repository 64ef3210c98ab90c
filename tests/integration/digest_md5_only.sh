#!/usr/bin/env bash
# Users made with htdigest have MD5 HA1s only. Clients answer the first
# challenge they can (curl does), so while any user lacks a SHA-256 HA1 the
# MD5 challenge must come first, and plain `curl --digest` must enroll
# such a user. Once every user has a SHA-256 line (SIGHUP), SHA-256 leads.
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

# Give the user a SHA-256 HA1 too: after SIGHUP, SHA-256 comes first and
# curl still enrolls (now with SHA-256).
printf 'md5user:%s:%s\n' "$AUTH_REALM" \
    "$(printf '%s' "md5user:$AUTH_REALM:$PW" | sha256sum | cut -d' ' -f1)" >>"$WORK/users"
kill -HUP "$XPID"
wait_grep 5 "$XLOG" 'reload: users loaded' || fail "no reload line after SIGHUP"
T_AUTH=none post_csr challenge2 "$XURL/simpleenroll" "$WORK/dev.b64"
check_status 401
grep -i '^WWW-Authenticate:' "$HDR" | head -n 1 | grep -q 'algorithm="SHA-256",' ||
    fail "SHA-256 is not first once every user has it: $(grep -i '^WWW-Authenticate:' "$HDR")"
T_AUTH=none post_csr enroll2 "$XURL/simpleenroll" "$WORK/dev.b64" --digest -u "md5user:$PW"
check_status 200
pass
