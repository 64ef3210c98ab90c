#!/usr/bin/env bash
# The CSR policy refuses, one CSR per class, on the lab label "strict"
# (EC P-256 only, SHA-256 only, subject CN required, allowed CN/O/OU,
# CN =~ ^[a-z0-9-]{1,32}$ and equal to the Digest user, values <= 32
# characters, SANs: DNS under *.lab.example.com, IP in 10.0.0.0/8, at most
# 2, no CA, EKU clientAuth only, channel binding required) and, for the
# RSA size, on the default route (RSA >= 2048):
#  - each refusal is 403 text/plain with exactly "policy RULE: reason",
#    its access line has upstream=-, and the upstream CA's log gains no
#    access line (nothing reached the CA);
#  - a conforming CSR bound to its TLS session (est_cb_client, Digest) is
#    enrolled (200) and does reach the CA (one access line there).
#  - a CSR that breaks several rules is refused once, naming them all.
# Every refused CSR below is bound to nothing, so it breaks two rules: the
# class under test, named first, and the binding (its rule comes last):
# one refusal names both ("...; binding.required: ...").
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

U=$EST_USER
NOBIND="; binding.required: the CSR has no challengePassword; it must hold this TLS session's channel binding (RFC 7030, section 3.5)"
# Each refusal checks the CA's log at once; the batch is checked again,
# after a pause, at the end.
T_CA_SETTLE=0
batch=$(ca_access_lines)
[ "$U" = estuser ] || fail "the lab's Digest user is '$U'; the strict policy's CN pattern expects estuser"

# ---- keys
make_csr_key rsa rsa:2048 "/CN=$U"
refused key_rsa strict "$WORK/rsa.b64" 403 "policy key.type: RSA keys are not allowed""$NOBIND"
make_csr_key p384 ec:P-384 "/CN=$U"
refused key_p384 strict "$WORK/p384.b64" 403 \
    "policy key.ec_curve: curve P-384 is not allowed (allowed: P-256)""$NOBIND"
make_csr_key ed ed25519 "/CN=$U"
refused key_ed25519 strict "$WORK/ed.b64" 403 "policy key.type: Ed25519 keys are not allowed""$NOBIND"
make_csr_key rsa1k rsa:1024 "/CN=small-rsa-device"
refused key_rsa1024 "" "$WORK/rsa1k.b64" 403 \
    "policy key.rsa_min_bits: RSA 1024 bits, the minimum is 2048"

# ---- signature hash
make_csr_key sha1 ec:P-256 "/CN=$U" -sha1
refused sig_sha1 strict "$WORK/sha1.b64" 403 "policy signature.hash: SHA1 is not allowed""$NOBIND"
make_csr_key sha384 ec:P-256 "/CN=$U" -sha384
refused sig_sha384 strict "$WORK/sha384.b64" 403 "policy signature.hash: SHA384 is not allowed""$NOBIND"

# ---- subject
make_csr_key nocn ec:P-256 "/O=lab/OU=devices"
refused subj_required strict "$WORK/nocn.b64" 403 "policy subject.required: the subject has no CN""$NOBIND"
make_csr_key upper ec:P-256 "/CN=EstUser"
refused subj_pattern strict "$WORK/upper.b64" 403 \
    'policy subject.pattern: CN "EstUser" does not match "^[a-z0-9-]{1,32}$"; subject.cn_must_equal: CN "EstUser" is not the user name "'"$U"'"'"$NOBIND"
make_csr_key other ec:P-256 "/CN=someone-else"
refused subj_cn_user strict "$WORK/other.b64" 403 \
    "policy subject.cn_must_equal: CN \"someone-else\" is not the user name \"$U\"""$NOBIND"
make_csr_key country ec:P-256 "/CN=$U/C=DE"
refused subj_allowed strict "$WORK/country.b64" 403 \
    "policy subject.allowed: C is not allowed (allowed: CN, O, OU)""$NOBIND"
long=$(printf 'x%.0s' {1..33})
make_csr_key long ec:P-256 "/CN=$U/O=$long"
refused subj_max_length strict "$WORK/long.b64" 403 \
    "policy subject.max_length: O \"$long\" is 33 characters long, the maximum is 32""$NOBIND"

# ---- SANs
make_csr_key dns ec:P-256 "/CN=$U" -addext "subjectAltName=DNS:evil.com"
refused san_dns strict "$WORK/dns.b64" 403 \
    'policy san.dns: "evil.com" is not under "*.lab.example.com"'"$NOBIND"
# The wildcard covers names under the domain, not the domain itself.
make_csr_key apex ec:P-256 "/CN=$U" -addext "subjectAltName=DNS:lab.example.com"
refused san_dns_apex strict "$WORK/apex.b64" 403 \
    'policy san.dns: "lab.example.com" is not under "*.lab.example.com"'"$NOBIND"
make_csr_key ip ec:P-256 "/CN=$U" \
    -addext "subjectAltName=DNS:dev1.lab.example.com,IP:192.168.1.1"
refused san_ip strict "$WORK/ip.b64" 403 'policy san.ip: "192.168.1.1" is not in 10.0.0.0/8'"$NOBIND"
make_csr_key three ec:P-256 "/CN=$U" \
    -addext "subjectAltName=DNS:a.lab.example.com,DNS:b.lab.example.com,IP:10.1.2.3"
refused san_max strict "$WORK/three.b64" 403 \
    "policy san.max: the CSR asks for 3 SANs, the maximum is 2""$NOBIND"
# Every SAN out of bounds is named, not only the first, with the count.
make_csr_key sans3 ec:P-256 "/CN=$U" \
    -addext "subjectAltName=DNS:evil.com,DNS:bad.example.org,IP:192.168.1.1"
refused san_every strict "$WORK/sans3.b64" 403 \
    'policy san.max: the CSR asks for 3 SANs, the maximum is 2; san.dns: "evil.com" is not under "*.lab.example.com"; san.dns: "bad.example.org" is not under "*.lab.example.com"; san.ip: "192.168.1.1" is not in 10.0.0.0/8'"$NOBIND"
make_csr_key othername ec:P-256 "/CN=$U" \
    -addext "subjectAltName=otherName:1.3.6.1.4.1.311.20.2.3;UTF8:$U@lab.example.com"
refused san_other strict "$WORK/othername.b64" 403 \
    "policy san.other: otherName SANs are not allowed when SANs are restricted""$NOBIND"

# ---- requested extensions
make_csr_key ca ec:P-256 "/CN=$U" -addext "basicConstraints=critical,CA:TRUE"
refused ext_ca strict "$WORK/ca.b64" 403 "policy extensions.ca: basicConstraints CA:TRUE is not allowed""$NOBIND"
# ... on the default policy too.
make_csr_key ca_default ec:P-256 "/CN=ca-wannabe" -addext "basicConstraints=critical,CA:TRUE"
refused ext_ca_default "" "$WORK/ca_default.b64" 403 \
    "policy extensions.ca: basicConstraints CA:TRUE is not allowed"
make_csr_key eku ec:P-256 "/CN=$U" -addext "extendedKeyUsage=clientAuth,serverAuth"
refused ext_eku strict "$WORK/eku.b64" 403 \
    "policy extensions.eku: serverAuth is not allowed (allowed: clientAuth)""$NOBIND"

# ---- everything right but the binding (required on this label).
make_csr_key unbound ec:P-256 "/CN=$U/O=lab" \
    -addext "subjectAltName=DNS:dev1.lab.example.com,IP:10.1.2.3" \
    -addext "extendedKeyUsage=clientAuth"
refused unbound strict "$WORK/unbound.b64" 403 \
    "policy binding.required: the CSR has no challengePassword; it must hold this TLS session's channel binding (RFC 7030, section 3.5)"

# ---- three rules broken at once (curve, SAN, binding): one refusal names
# them all, in the policy's order; the access line's reason too; the audit
# record keeps the first in "rule" and lists all in "rules"; each rule is
# counted once in estrad_policy_refusals_total.
rule_count() {
	awk -v k="estrad_policy_refusals_total{rule=\"$1\"}" \
	    '$1 == k { v = $2 } END { print v + 0 }' "$SCRAPE"
}
APORT=$ADMIN_PORT
multi_rules=(key.ec_curve san.dns binding.required)
scrape multi_before
declare -A was
for r in "${multi_rules[@]}"; do was[$r]=$(rule_count "$r"); done
make_csr_key multi ec:P-384 "/CN=$U" -addext "subjectAltName=DNS:evil.com"
refused multi strict "$WORK/multi.b64" 403 \
    "policy key.ec_curve: curve P-384 is not allowed (allowed: P-256); san.dns: \"evil.com\" is not under \"*.lab.example.com\"$NOBIND"
id=$(header X-Request-Id)
access_line_for "$id"
case $LINE in
*"reason=\"policy key.ec_curve: "*"; san.dns: "*"; binding.required: "*) ;;
*) fail "the access line does not name every rule: $LINE" ;;
esac
check_audit_line "$id" refused key.ec_curve 403
[ "$(audit_field "$id" rules)" = '["key.ec_curve", "san.dns", "binding.required"]' ] ||
    fail "audit record $id: rules is $(audit_field "$id" rules)"
scrape multi_after
for r in "${multi_rules[@]}"; do
	[ "$(rule_count "$r")" = $((was[$r] + 1)) ] ||
	    fail "estrad_policy_refusals_total{rule=\"$r\"} went from ${was[$r]} to $(rule_count "$r")"
done

T_CA_SETTLE=0.2 check_ca_unchanged "$batch" "one of the refused CSRs"

# ---- a conforming CSR, bound to its session: enrolled, through the CA.
before=$(ca_access_lines)
cb_enroll good "$EST_URL/strict/simpleenroll" 1.3 correct --subject "/CN=$U"
check_status 200
check_issued good good "$ISSUING_CERT"
subj=$(openssl x509 -in "$WORK/good.cert.pem" -noout -subject -nameopt RFC2253)
[ "$subj" = "subject=CN=$U" ] || fail "the conforming CSR's certificate is $subj"
check_ca_gained "$before" 1 "the conforming CSR"
check_proxy_healthy
pass
