#!/usr/bin/env bash
# SIGHUP reloads routes, upstream settings and limits, not only policies
# (docs/operations.md, "Signals"):
#  - a label added to the file answers after the reload (404 before);
#  - a lower limits.max_body_bytes (1024) applies: a body under the old
#    limit and over the new one gets 413 after the reload (200 before);
#  - an upstream whose URL changed makes the whole reload refused ("its
#    name or URLs changed; that needs a restart", "keeping the
#    configuration loaded before"): the added label and the lower limit
#    stay, the old URL still serves;
#  - a label removed from the file answers 404 after the reload.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

CFG=$WORK/routes.json

# write_cfg LABELS MAX_BODY [URL]
write_cfg() {
	P_LABELS=$1 P_URL=${3:-$CA_URL} proxy_config "$CFG.tmp"
	sed -i "s/\"max_body_bytes\": 65536/\"max_body_bytes\": $2/" "$CFG.tmp"
	mv "$CFG.tmp" "$CFG"	# the daemon reads whole files only
}

# hup WHAT PATTERN: SIGHUP the proxy, then wait for one more line
# holding the fixed string PATTERN in its log (lib.sh's hup_wait).
hup() {
	hup_wait "$1" "$XPID" "$XLOG" "$2"
}

write_cfg '' 65536
start_estrad routes "$CFG"
URL=$XURL

req before GET "$URL/added/cacerts"
check_status 404

# An RSA-4096 CSR: ~1.5 KB of base64, under 65536, over 1024.
make_csr_key big rsa:4096 /CN=big-device
len=$(wc -c <"$WORK/big.b64")
[ "$len" -gt 1024 ] || fail "the big CSR is only $len bytes"
post_csr big1 "$URL/simpleenroll" "$WORK/big.b64"
check_status 200

write_cfg '"added": { "upstream": "lab" }' 1024
hup added "reload: policies loaded from $CFG (with the routes"
req after GET "$URL/added/cacerts"
check_status 200
post_csr big2 "$URL/simpleenroll" "$WORK/big.b64"
check_status 413

# A changed upstream URL: the whole file is refused, nothing changes.
write_cfg '' 65536 "https://127.0.0.1:1/.well-known/est"
hup urls "reload: keeping the configuration loaded before"
grep -qF "reload: upstreams.ca: its name or URLs changed; that needs a restart" "$XLOG" ||
    fail "no 'upstreams.ca: its name or URLs changed' line"
req kept GET "$URL/added/cacerts"
check_status 200
post_csr big3 "$URL/simpleenroll" "$WORK/big.b64"
check_status 413
req viaold GET "$URL/cacerts"
check_status 200

# The label removed (URL back as it was): 404 again, big bodies back.
write_cfg '' 65536
hup removed "reload: policies loaded from $CFG (with the routes"
req gone GET "$URL/added/cacerts"
check_status 404
post_csr big4 "$URL/simpleenroll" "$WORK/big.b64"
check_status 200
check_alive "$XPID" "the proxy"
pass
