#!/usr/bin/env bash
# 404 for unknown operations, labels and paths; 405 with Allow for the
# wrong method (RFC 7030 §3.2.2; RFC 8951 text/plain reasons).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

req nosuchop GET "$EST_URL/nosuchop"
check_error 404
req foo GET "${EST_URL%/.well-known/est}/foo"
check_error 404
req wk GET "${EST_URL%/est}/other/cacerts"
check_error 404
req deep GET "$EST_URL/east/extra/cacerts"
check_error 404
make_csr ok "/CN=ok"
post_csr nolabel "$EST_URL/nosuch/simpleenroll" "$WORK/ok.b64"
check_error 404

req get_enroll GET "$EST_URL/simpleenroll"
check_error 405
check_header Allow POST
req get_enroll_east GET "$EST_URL/east/simplereenroll"
check_error 405
check_header Allow POST
req post_cacerts POST "$EST_URL/cacerts" -H 'Content-Type: application/pkcs10' \
    --data-binary "@$WORK/ok.b64"
check_error 405
check_header Allow GET
check_proxy_healthy
pass
