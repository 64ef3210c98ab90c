#!/usr/bin/env bash
# Policies reload on SIGHUP (docs/policy.md, Reload), on a proxy of this
# case's own whose default route has policy "p" (rsa_min_bits 2048, a CN
# pattern):
#  - an RSA-3072 CSR enrolls (200);
#  - the file now says rsa_min_bits 4096; SIGHUP: "reload: policies loaded
#    from FILE", and the same CSR gets 403 "policy key.rsa_min_bits: RSA
#    3072 bits, the minimum is 4096", without reaching the CA;
#  - the file back at 2048 but with a bad CN regex; SIGHUP: the error as
#    "reload: FILE:LINE: policies.p.subject.patterns.CN: bad regex: ..."
#    (LINE the pattern's), "reload: FILE has errors; keeping the configuration
#    loaded before"; the old (4096) policy still answers, the daemon serves;
#  - fixed (2048, a good regex); SIGHUP: 200 again, and the new pattern
#    applies (a CN it refuses: 403 subject.pattern).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

CFG=$WORK/reload.json

# write_cfg BITS CN_REGEX (the regex as JSON string contents)
write_cfg() {
	P_DEFAULT_EXTRA='"policy": "p"' P_TOP_EXTRA="\"policies\": {
    \"p\": {
      \"keys\": { \"rsa_min_bits\": $1 },
      \"subject\": {
        \"patterns\": {
          \"CN\": \"$2\"
        }
      }
    }
  }" proxy_config "$CFG.tmp"
	mv "$CFG.tmp" "$CFG"	# the daemon reads whole files only
}

# hup WHAT PATTERN: SIGHUP the proxy, then wait for one more line
# holding the fixed string PATTERN in its log (lib.sh's hup_wait).
hup() {
	hup_wait "$1" "$XPID" "$XLOG" "$2"
}

write_cfg 2048 '^[a-z0-9-]+$'
"$ESTRAD_BIN" -n -c "$CFG" >"$WORK/check.out" 2>&1 ||
    fail "the case's config does not check: $(cat "$WORK/check.out")"
start_estrad reload "$CFG"
P=$XPID

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out "$WORK/rsa.key" \
    2>/dev/null || fail "genpkey RSA-3072"
openssl req -new -key "$WORK/rsa.key" -subj "/CN=reload-device" -sha256 \
    -config /dev/null -outform DER -out "$WORK/rsa.der" || fail "req"
base64 -w0 "$WORK/rsa.der" >"$WORK/rsa.b64"
openssl req -inform DER -in "$WORK/rsa.der" -pubkey -noout >"$WORK/rsa.pub"

enroll_ok before "$XURL/simpleenroll" "$WORK/rsa.b64" rsa "$ISSUING_CERT"

# ---- tightened
write_cfg 4096 '^[a-z0-9-]+$'
hup tighten "reload: policies loaded from $CFG"
n=$(ca_access_lines)
post_csr tight "$XURL/simpleenroll" "$WORK/rsa.b64"
check_error 403
check_body "policy key.rsa_min_bits: RSA 3072 bits, the minimum is 4096"
check_ca_unchanged "$n" "the CSR refused after the reload"

# ---- a broken file: the old policy stays
write_cfg 2048 '^[a-z'
line=$(grep -n '"CN": "\^\[a-z"' "$CFG" | cut -d: -f1)
[ -n "$line" ] || fail "cannot find the bad pattern's line in $CFG"
hup broken "reload: $CFG has errors; keeping the configuration loaded before"
grep -q "reload: $CFG:$line: policies\.p\.subject\.patterns\.CN: bad regex" "$XLOG" ||
    fail "no 'reload: $CFG:$line: policies.p.subject.patterns.CN: bad regex' line: $(grep 'reload' "$XLOG" | tail -n 4)"
check_alive "$P" "the proxy after a broken reload"
post_csr kept "$XURL/simpleenroll" "$WORK/rsa.b64"
check_error 403
check_body "policy key.rsa_min_bits: RSA 3072 bits, the minimum is 4096"
req cacerts GET "$XURL/cacerts"
check_status 200

# ---- fixed: the new file applies, pattern and all
write_cfg 2048 '^[a-z]+-device$'
hup fixed "reload: policies loaded from $CFG"
enroll_ok after "$XURL/simpleenroll" "$WORK/rsa.b64" rsa "$ISSUING_CERT"
make_csr pat "/CN=device-7"
post_csr pat "$XURL/simpleenroll" "$WORK/pat.b64"
check_error 403
check_body 'policy subject.pattern: CN "device-7" does not match "^[a-z]+-device$"'
check_alive "$P" "the proxy"
pass
