#!/usr/bin/env bash
# fullcmc carries a CMC message the RA's CSR policy cannot read, and the CA
# trusts the RA: so an authenticated fullcmc is refused (501, nothing goes
# upstream) unless the route sets "fullcmc_passthrough": then it is
# forwarded as it is (the lab CA, an estrad without passthrough, then
# refuses it itself, and that answer is relayed).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

make_csr dev "/CN=evil" "DNS:evil.com"
before=$(ca_access_lines)
req cmc POST "$EST_URL/fullcmc" "${DIGEST_AUTH[@]}" \
    -H 'Content-Type: application/pkcs7-mime; smime-type=CMC-request' \
    --data-binary "@$WORK/dev.b64"
check_error 501
check_body "fullcmc is not offered here: its requests would bypass the CSR policy"
check_ca_unchanged "$before" "a refused fullcmc"

P_DEFAULT_EXTRA='"fullcmc_passthrough": true' proxy_config "$WORK/proxy.json"
start_estrad passthrough "$WORK/proxy.json"
before=$(ca_access_lines)
req cmc2 POST "$XURL/fullcmc" "${DIGEST_AUTH[@]}" \
    -H 'Content-Type: application/pkcs7-mime; smime-type=CMC-request' \
    --data-binary "@$WORK/dev.b64"
check_status 501
check_body "fullcmc is not offered here: its requests would bypass the CSR policy"
check_access "op=fullcmc auth=digest user=$EST_USER status=501 upstream=501" "$XLOG"
check_ca_gained "$before" 1
pass
