#!/usr/bin/env bash
# Started as root with "user", estrad reads its files as root, then drops;
# a reload reads them all again as the user. So, as root:
#  - "estrad -n" with "user": "nobody" and a root-owned 0600 tls.key exits
#    1 with "FILE:LINE: tls.key: PATH is not readable by user nobody
#    (Permission denied); a reload after the privilege drop would fail",
#    LINE the key's, and nothing else (the other files are nobody's or
#    readable by all);
#  - the daemon starts with the same config (its files can be read now),
#    warns with the same line, and the SIGHUP reload does fail as said;
#  - once the key is nobody's, "estrad -n" says "configuration OK".
# Not root, or no user nobody: skipped.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip "not root: no privilege drop to check"
id -u nobody >/dev/null 2>&1 || skip "no user nobody"

for f in "$RA_KEY" "$DIGEST_USERS"; do
	(umask 077 && cp "$f" "$WORK/own.$(basename "$f")")
	chown nobody "$WORK/own.$(basename "$f")"
done
(umask 077 && cp "$PROXY_SERVER_KEY" "$WORK/root.key")
chown root:root "$WORK/root.key"
chmod 755 "$WORK"	# a reload reads the config file from here
P_PRIVS='"user": "nobody"' \
    P_AUTH="\"digest_users\": \"$WORK/own.$(basename "$DIGEST_USERS")\"" \
    proxy_config "$WORK/nobody.json"
sed -i -e "s|\"$PROXY_SERVER_KEY\"|\"$WORK/root.key\"|" \
    -e "s|\"$RA_KEY\"|\"$WORK/own.$(basename "$RA_KEY")\"|" "$WORK/nobody.json"
chmod 644 "$WORK/nobody.json"
l_key=$(grep -n "\"key\": \"$WORK/root.key\"" "$WORK/nobody.json" | cut -d: -f1)
[ -n "$l_key" ] || fail "could not build nobody.json (proxy_config changed shape?)"
want="$WORK/nobody.json:$l_key: tls.key: $WORK/root.key is not readable by user nobody (Permission denied); a reload after the privilege drop would fail"

out=$("$ESTRAD_BIN" -n -c "$WORK/nobody.json" 2>&1)
rc=$?
[ "$rc" = 1 ] || fail "estrad -n with a root-only tls.key exited $rc: $out"
[ "$out" = "$want" ] || fail "estrad -n printed '$out', expected '$want'"
note "-n: $out"

start_estrad nobody "$WORK/nobody.json"
wait_grep 5 "$XLOG" "warn $want" || fail "no warning '$want' at start in $XLOG"
kill -HUP "$XPID"
wait_grep 5 "$XLOG" "error reload" || fail "the reload as nobody did not fail"
grep -q "error reload.*tls.key.*Permission denied" "$XLOG" ||
    fail "the reload failed otherwise: $(grep 'error reload' "$XLOG")"
check_alive "$XPID" "estrad after the failed reload"
note "start warned; the reload failed as announced"

chown nobody "$WORK/root.key"
out=$("$ESTRAD_BIN" -n -c "$WORK/nobody.json" 2>&1) ||
    fail "estrad -n with the key nobody's: $out"
[ "$out" = "configuration OK" ] || fail "estrad -n printed '$out'"
pass
