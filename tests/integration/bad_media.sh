#!/usr/bin/env bash
# 415 with a text/plain reason when a POST's Content-Type does not fit the
# operation (enroll operations take application/pkcs10).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

make_csr ok "/CN=ok"
req text_plain POST "$EST_URL/simpleenroll" -H 'Content-Type: text/plain' \
    --data-binary "@$WORK/ok.b64"
check_error 415
req no_ct POST "$EST_URL/simpleenroll" -H 'Content-Type:' --data-binary "@$WORK/ok.b64"
check_error 415
req re_octet POST "$EST_URL/east/simplereenroll" -H 'Content-Type: application/octet-stream' \
    --data-binary "@$WORK/ok.b64" --cert "$CLIENT_CERT" --key "$CLIENT_KEY"
check_error 415
# Parameters and case do not matter (the lab user enrolls).
req params POST "$EST_URL/simpleenroll" -H 'Content-Type: Application/PKCS10; charset=us-ascii' \
    --data-binary "@$WORK/ok.b64" "${DIGEST_AUTH[@]}"
check_status 200
check_proxy_healthy
pass
