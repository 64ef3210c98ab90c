#!/usr/bin/env bash
# The policy's rate rule on the lab label "rated" (at most 3 enrollments
# per identity per 60 s; no other label counts toward it):
#  - three enrollments as the Digest user pass (200);
#  - the fourth: 429, Retry-After 1..60, text/plain body exactly
#    "policy rate: at most 3 enrollments per 60 s for this identity; retry
#    later", nothing at the upstream CA, an audit record (refused, rule
#    "rate", status 429);
#  - another identity (the lab client certificate) still enrolls there,
#    and the same user still enrolls on another label.
# The lab's rate counts live in the lab proxy: this case runs once per
# "lab up" (a second run within 60 s starts blocked).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

make_csr dev "/CN=rated-device"
for i in 1 2 3; do
	enroll_ok "ok$i" "$EST_URL/rated/simpleenroll" "$WORK/dev.b64" dev "$ISSUING_CERT"
	has_header Retry-After && fail "enrollment $i: Retry-After on a 200"
done

before=$(ca_access_lines)
post_csr fourth "$EST_URL/rated/simpleenroll" "$WORK/dev.b64"
check_error 429
check_body "policy rate: at most 3 enrollments per 60 s for this identity; retry later"
ra=$(header Retry-After)
if ! [[ $ra =~ ^[0-9]+$ ]] || [ "$ra" -lt 1 ] || [ "$ra" -gt 60 ]; then
	fail "429 with Retry-After '$ra', expected 1..60"
fi
check_access "label=rated op=simpleenroll auth=digest user=$EST_USER status=429 upstream=-"
check_audit_line "$(header X-Request-Id)" refused rate 429
check_ca_unchanged "$before" "the enrollment over the rate"
# Still blocked: a 5th.
post_csr fifth "$EST_URL/rated/simpleenroll" "$WORK/dev.b64"
check_status 429

# Per identity: the client certificate is another one.
T_AUTH=none enroll_ok cert "$EST_URL/rated/simpleenroll" "$WORK/dev.b64" dev \
    "$ISSUING_CERT" --cert "$CLIENT_CERT" --key "$CLIENT_KEY"
# Per label: the same user on the default route (no rate rule).
enroll_ok other_label "$EST_URL/simpleenroll" "$WORK/dev.b64" dev "$ISSUING_CERT"
pass
