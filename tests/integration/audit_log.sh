#!/usr/bin/env bash
# The audit log (lab: "audit": {"file": AUDIT_LOG}; docs/policy.md): one
# JSON line per enrollment decision, there when the answer is:
#  - an accepted simpleenroll (Digest, default route, a SAN): id = the
#    X-Request-Id, time (ISO 8601 UTC), peer 127.0.0.1:PORT, auth digest,
#    identity = the user, label "-", op, subject, sans, key "EC
#    prime256v1", decision accepted, rule null, status 200, upstream_status
#    200, serial = the certificate's (openssl x509 -serial), not_after = its
#    notAfter;
#  - a refused one (strict label, SAN out of range): decision refused, rule
#    san.ip, reason = the body, status 403, upstream_status null, no serial;
#  - an accepted re-enrollment by certificate: auth cert, identity the
#    certificate's subject;
#  - every line of the file is a JSON object; none holds a challengePassword
#    or channel binding value (a bound enrollment by est_cb_client, whose
#    value it prints, and a CSR with a planted password), nor the lab's
#    Digest or Basic password.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || fail "python3 is needed to parse the audit log"
[ -n "${AUDIT_LOG:-}" ] || fail "lab.env has no AUDIT_LOG (an old lab?)"

# field ID KEY EXPECTED
field() {
	local got
	got=$(audit_field "$1" "$2")
	[ "$got" = "$3" ] ||
	    fail "audit record $1: $2 is '$got', expected '$3': $(cat "$WORK/audit.$1.json")"
}

# ---- accepted
make_csr ok "/CN=audit-device" "DNS:audit.lab.example.com"
enroll_ok ok "$EST_URL/simpleenroll" "$WORK/ok.b64" ok "$ISSUING_CERT"
id=$(header X-Request-Id)
check_audit_line "$id" accepted null 200 200
serial=$(openssl x509 -in "$WORK/ok.cert.pem" -noout -serial | sed 's/^serial=//')
end=$(openssl x509 -in "$WORK/ok.cert.pem" -noout -enddate | sed 's/^notAfter=//')
not_after=$(date -u -d "$end" +%Y-%m-%dT%H:%M:%SZ) || fail "cannot read notAfter '$end'"
field "$id" serial "$serial"
field "$id" not_after "$not_after"
field "$id" auth digest
field "$id" identity "$EST_USER"
field "$id" label -
field "$id" op simpleenroll
field "$id" subject CN=audit-device
field "$id" sans '["DNS:audit.lab.example.com"]'
field "$id" key "EC prime256v1"
access_line_for "$id"
port=$(printf '%s\n' "$LINE" | sed -n 's/.* peer=127\.0\.0\.1:\([0-9]*\) .*/\1/p')
field "$id" peer "127.0.0.1:$port"
t=$(audit_field "$id" time)
[[ $t =~ ^20[0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9](\.[0-9]+)?Z$ ]] ||
    fail "audit record $id: time '$t' is not ISO 8601 UTC"
tsec=$(date -u -d "$t" +%s) || fail "audit time '$t' does not parse"
now=$(date +%s)
if [ $((tsec - now)) -gt 5 ] || [ $((now - tsec)) -gt 30 ]; then
	fail "audit time '$t' is not now"
fi

# ---- refused by the policy
make_csr bad "/CN=$EST_USER" "IP:192.168.7.7"
# Unbound, so the binding rule refuses it too: "rule" is the first.
bad_reason='policy san.ip: "192.168.7.7" is not in 10.0.0.0/8'"; binding.required: the CSR has no challengePassword; it must hold this TLS session's channel binding (RFC 7030, section 3.5)"
refused bad strict "$WORK/bad.b64" 403 "$bad_reason"
id=$(header X-Request-Id)
check_audit_line "$id" refused san.ip 403
field "$id" rules '["san.ip", "binding.required"]'
field "$id" reason "$bad_reason"
field "$id" label strict
field "$id" subject "CN=$EST_USER"
[ "$(audit_field "$id" serial)" = "<absent>" ] || [ "$(audit_field "$id" serial)" = null ] ||
    fail "a refused enrollment's audit record has serial $(audit_field "$id" serial)"

# ---- accepted re-enrollment, by certificate
make_csr re "/CN=lab-client"
T_AUTH=none enroll_ok re "$EST_URL/simplereenroll" "$WORK/re.b64" re "$ISSUING_CERT" \
    --cert "$CLIENT_CERT" --key "$CLIENT_KEY"
id=$(header X-Request-Id)
check_audit_line "$id" accepted null 200 200
field "$id" auth cert
field "$id" identity CN=lab-client
field "$id" op simplereenroll
field "$id" serial "$(openssl x509 -in "$WORK/re.cert.pem" -noout -serial | sed 's/^serial=//')"

# ---- no secrets: a bound enrollment (its value) and a planted password.
cb_enroll bound "$EST_URL/strict/simpleenroll" 1.3 correct --subject "/CN=$EST_USER"
check_status 200
check_issued bound bound "$ISSUING_CERT"
binding=$(sed -n 's/.*binding \([A-Za-z0-9+\/=]\{16,\}\).*/\1/p' "$CB_ERR" | head -n 1)
[ -n "$binding" ] || fail "est_cb_client printed no binding: $(cat "$CB_ERR")"
bserial=$(openssl x509 -in "$WORK/bound.cert.pem" -noout -serial | sed 's/^serial=//')
grep -q "\"serial\":\"$bserial\"" "$AUDIT_LOG" ||
    fail "no audit record with the bound enrollment's serial $bserial"
planted="planted-$(openssl rand -hex 8)"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/pw.key" 2>/dev/null
printf '[req]\ndistinguished_name = dn\nattributes = attrs\nprompt = no\n[dn]\nCN = pw-device\n[attrs]\nchallengePassword = %s\n' \
    "$planted" >"$WORK/pw.cnf"
openssl req -new -key "$WORK/pw.key" -config "$WORK/pw.cnf" -sha256 -outform DER |
    base64 -w0 >"$WORK/pw.b64" || fail "req with a challengePassword"
refused pw "" "$WORK/pw.b64" 403 \
    "policy binding.mismatch: the challengePassword is not this TLS session's channel binding"
check_audit_line "$(header X-Request-Id)" refused binding.mismatch 403
audit_record "$(header X-Request-Id)"	# every line parses
for secret in "$binding" "$planted" "$EST_PASS" "$BASIC_PASS" \
    "$(printf '%s' "$EST_USER:$EST_PASS" | base64 -w0)"; do
	grep -qF -- "$secret" "$AUDIT_LOG" &&
	    fail "the audit log holds a secret ($(printf '%s' "$secret" | head -c 6)...): $(grep -F -- "$secret" "$AUDIT_LOG" | head -c 300)"
done
[ "$(stat -c %a "$AUDIT_LOG")" = 600 ] || fail "$AUDIT_LOG has mode $(stat -c %a "$AUDIT_LOG"), expected 600"
pass
