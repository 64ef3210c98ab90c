#!/usr/bin/env bash
# estrad -n: "configuration OK" for the lab configs; for a broken one exit 1
# and every problem as FILE:LINE: key.path: problem, in one run.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

for cfg in "$PROXY_CONFIG" "$CA_CONFIG"; do
	out=$("$ESTRAD_BIN" -n -c "$cfg" 2>&1)
	rc=$?
	[ "$rc" = 0 ] || fail "estrad -n -c $cfg exited $rc: $out"
	echo "$out" | grep -qx 'configuration OK' ||
	    fail "estrad -n -c $cfg printed '$out', not 'configuration OK'"
done

# Three problems: an unknown top-level key, an unknown key inside an
# upstream, and a missing key file.
bad=$WORK/broken.json
sed -e 's|^  "log_level": "info",$|  "log_level": "info",\n  "bogus_key": true,|' \
    -e 's|^      "retry_after": 5$|      "retry_after": 5,\n      "bogus_option": 1|' \
    -e "s|\"key\": \"$PROXY_SERVER_KEY\"|\"key\": \"$WORK/missing.key\"|" \
    "$PROXY_CONFIG" >"$bad"
l_bogus=$(grep -n '"bogus_key"' "$bad" | cut -d: -f1)
l_option=$(grep -n '"bogus_option"' "$bad" | cut -d: -f1)
l_key=$(grep -n "missing.key" "$bad" | cut -d: -f1)
[ -n "$l_bogus" ] && [ -n "$l_option" ] && [ -n "$l_key" ] ||
    fail "could not build the broken config (lab proxy config changed shape?)"

out=$("$ESTRAD_BIN" -n -c "$bad" 2>&1)
rc=$?
echo "$out" >"$WORK/broken.out"
[ "$rc" = 1 ] || fail "estrad -n -c broken exited $rc (want 1): $out"
echo "$out" | grep -q 'configuration OK' && fail "broken config reported OK"
for want in "$bad:$l_bogus: bogus_key: " \
    "$bad:$l_option: upstreams.ca.bogus_option: " \
    "$bad:$l_key: tls.key: "; do
	echo "$out" | grep -qF -- "$want" ||
	    fail "no line starting '$want' in: $out"
done
# Every line of output is FILE:LINE: key.path: problem.
bad_lines=$(echo "$out" | grep -v "^$bad:[0-9][0-9]*: [][A-Za-z0-9_.-]*: ." || true)
[ -z "$bad_lines" ] || fail "lines not in FILE:LINE: key.path: problem form: $bad_lines"

# Without -n the daemon refuses to start and never listens.
timeout 5 "$ESTRAD_BIN" -c "$bad" >"$WORK/start.out" 2>&1
rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] || fail "estrad -c broken exited $rc"
grep -q 'listening on' "$WORK/start.out" && fail "estrad listened with a broken config"

# A config that is not JSON names the file and a line too.
printf '{\n  "log_level": "info",\n  "listen": [\n}\n' >"$WORK/syntax.json"
out=$("$ESTRAD_BIN" -n -c "$WORK/syntax.json" 2>&1)
rc=$?
[ "$rc" = 1 ] || fail "estrad -n -c syntax.json exited $rc: $out"
echo "$out" | grep -q "^$WORK/syntax.json:[0-9][0-9]*: " || fail "syntax error not as FILE:LINE: $out"
pass
