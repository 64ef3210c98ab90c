#!/usr/bin/env bash
# SIGHUP reloads the user files (auth.digest_users, auth.basic_users) of a
# proxy of this case's own:
#  - a Digest user added to the htdigest file (and a Basic user added with
#    htpasswd -B) can log in after SIGHUP, not before; the log says
#    "reload: users loaded (digest N, basic M)", N counting users, not
#    their HA1 lines (the lab's EST_USER has two: MD5 and SHA-256);
#  - a file with a bad line, then a missing file: SIGHUP logs "reload:
#    FILE:LINE: why; keeping the users loaded before" (or "cannot read
#    FILE: ...", the words of the config's own check of the file), the
#    daemon keeps running, and every user loaded before still logs in;
#  - a file rewritten for another realm: the same, "FILE has no user in
#    realm ...", for not one login could succeed;
#  - a user removed from a good file cannot log in after SIGHUP;
#  - a reload that changes auth.digest_uri_without_label or
#    auth.digest_algorithms warns that it takes effect at the next restart.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

NEW_PASS="new-$(openssl rand -hex 8)"
NEWB_PASS="newb-$(openssl rand -hex 8)"
(umask 077 && cp "$DIGEST_USERS" "$WORK/digest" && cp "$BASIC_USERS" "$WORK/basic")
P_AUTH="\"digest_users\": \"$WORK/digest\", \"basic_users\": \"$WORK/basic\"" \
    P_LABELS='"b": { "upstream": "lab", "auth": { "simpleenroll": ["basic"] } }' \
    proxy_config "$WORK/proxy.json"
start_estrad users "$WORK/proxy.json"
LOG=$XLOG
make_csr dev "/CN=reload-device"

# login NAME USER PASS STATUS: curl --digest to simpleenroll.
login() {
	T_AUTH=none post_csr "$1" "$XURL/simpleenroll" "$WORK/dev.b64" --digest -u "$2:$3"
	check_status "$4"
	[ "$4" != 200 ] || check_access "auth=digest user=$2 status=200" "$LOG"
}
# blogin NAME USER PASS STATUS: Basic to b/simpleenroll.
blogin() {
	T_AUTH=none post_csr "$1" "$XURL/b/simpleenroll" "$WORK/dev.b64" --basic -u "$2:$3"
	check_status "$4"
	[ "$4" != 200 ] || check_access "auth=basic user=$2 status=200" "$LOG"
}
# hup PATTERN: SIGHUP, and wait for a new log line matching PATTERN.
hup() {
	local before
	before=$(grep -c 'reload: ' "$LOG")
	kill -HUP "$XPID"
	for ((i = 0; i < 30; i++)); do
		[ "$(grep -c 'reload: ' "$LOG")" -gt "$before" ] && break
		sleep 0.1
	done
	RELOAD=$(grep 'reload: ' "$LOG" | tail -n 1)
	[ "$(grep -c 'reload: ' "$LOG")" -gt "$before" ] || fail "no reload line after SIGHUP"
	printf '%s\n' "$RELOAD" | grep -qE -- "$1" ||
	    fail "reload line '$RELOAD' does not match /$1/"
	check_alive "$XPID" "the proxy after SIGHUP"
}

login est_before "$EST_USER" "$EST_PASS" 200
login new_before newuser "$NEW_PASS" 401
blogin newb_before newb "$NEWB_PASS" 401

# ---- add users; SIGHUP.
printf 'newuser:%s:%s\n' "$AUTH_REALM" "$(hash_hex SHA-256 "newuser:$AUTH_REALM:$NEW_PASS")" >>"$WORK/digest"
printf '%s\n' "$NEWB_PASS" | htpasswd -i -B -C 5 "$WORK/basic" newb 2>/dev/null ||
    fail "htpasswd could not add newb"
login new_before_hup newuser "$NEW_PASS" 401
# Users, not lines: the lab's EST_USER has an MD5 and a SHA-256 line.
hup 'info reload: users loaded \(digest 2, basic 2\)$'
login new_after newuser "$NEW_PASS" 200
blogin newb_after newb "$NEWB_PASS" 200
login est_after "$EST_USER" "$EST_PASS" 200
blogin basic_after "$BASIC_USER" "$BASIC_PASS" 200

# ---- a bad line: the old set stays.
cp "$WORK/digest" "$WORK/digest.good"
printf 'this line has no fields\n' >>"$WORK/digest"
printf 'gone:%s:%s\n' "$AUTH_REALM" "$(hash_hex SHA-256 "gone:$AUTH_REALM:x")" >>"$WORK/digest"
hup "error reload: $WORK/digest:4: missing field \\(want user:realm:HA1\\); keeping the users loaded before\$"
login new_kept newuser "$NEW_PASS" 200
login est_kept "$EST_USER" "$EST_PASS" 200
blogin newb_kept newb "$NEWB_PASS" 200
login gone_not_loaded gone x 401

# A bad Basic file keeps both sets too (the two files load as one).
cp "$WORK/digest.good" "$WORK/digest"
cp "$WORK/basic" "$WORK/basic.good"
printf 'plain:notahash\n' >>"$WORK/basic"
hup "error reload: $WORK/basic:3: unsupported hash \\(use htpasswd -B\\); keeping the users loaded before\$"
blogin newb_kept2 newb "$NEWB_PASS" 200
login new_kept2 newuser "$NEW_PASS" 200

# A missing file.
cp "$WORK/basic.good" "$WORK/basic"
mv "$WORK/digest" "$WORK/digest.moved"
hup "error reload: cannot read $WORK/digest: No such file or directory; keeping the users loaded before\$"
login est_kept3 "$EST_USER" "$EST_PASS" 200

# A file for another realm.
sed "s/^\([^:]*\):$AUTH_REALM:/\1:corp:/" "$WORK/digest.moved" >"$WORK/digest"
chmod 600 "$WORK/digest"
grep -q ":$AUTH_REALM:" "$WORK/digest" && fail "could not rewrite the users for realm corp"
hup "error reload: $WORK/digest has no user in realm \"$AUTH_REALM\" \\(auth.realm\\), only in \"corp\": every Digest login would fail; .*; keeping the users loaded before\$"
login est_kept4 "$EST_USER" "$EST_PASS" 200

# ---- a good file without newuser: newuser is gone.
cp "$DIGEST_USERS" "$WORK/digest"
hup 'info reload: users loaded \(digest 1, basic 2\)$'
login new_removed newuser "$NEW_PASS" 401
login est_final "$EST_USER" "$EST_PASS" 200

# ---- auth.digest_uri_without_label / digest_algorithms changed: kept
# until the next restart, and the reload says so.
sed -i "s|\"basic_users\": \"$WORK/basic\"|\"basic_users\": \"$WORK/basic\", \"digest_uri_without_label\": false, \"digest_algorithms\": [\"SHA-256\"]|" \
    "$WORK/proxy.json"
grep -q '"digest_uri_without_label": false' "$WORK/proxy.json" || fail "could not edit proxy.json"
hup_wait "auth keys" "$XPID" "$LOG" 'reload: the auth section changed: it takes effect at the next restart'
login est_after "$EST_USER" "$EST_PASS" 200
pass
