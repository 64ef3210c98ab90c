#!/usr/bin/env bash
# Bytes that are not UTF-8 in what the shared queue stores (docs/scaling.md,
# "Replicas on PostgreSQL"): a client's Content-Type parameter (router.c
# checks only the media type) and, from the CA, a Content-Type or
# Retry-After, go into text columns, which PostgreSQL (UTF8) refuses. The
# queue keeps them as SQLite does, with such bytes made '?':
#  - the CA down, a Digest simpleenroll with
#    "Content-Type: application/pkcs10; x=<0xE9>" gets 202 "queued as ID",
#    not 503 "the shared store is away" (the insert refused for ever:
#    every retry would get 503, and the log blames the database);
#  - the row holds the content type with '?' for the byte;
#  - the CA started: the entry is issued and the client's retry gets 200
#    with a certificate for its key.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

pg_reset
fixed_prepare ca
pg_queue_config "$WORK/a.json" "$FIXED_URL" 5 0.2
start_estrad a "$WORK/a.json"
apid=$XPID alog=$XLOG aurl=$XURL

make_csr_key k ec:P-256 /CN=queue-bytes
ctype=$(printf 'Content-Type: application/pkcs10; x=\351')
req q1 POST "$aurl/simpleenroll" -H "$ctype" --data-binary "@$WORK/k.b64" \
    "${DIGEST_AUTH[@]}"
check_queued pending
id=$QID
[ "$(pg_queue_field content_type "$id")" = 'application/pkcs10; x=?' ] ||
    fail "the row's content_type is '$(pg_queue_field content_type "$id")'"
grep -q "cannot keep a request" "$alog" &&
    fail "the log blames the store: $(grep 'cannot keep a request' "$alog")"

fixed_start ca
pg_wait_row 20 "the entry forwarded" "id = $id AND state = 'issued'"
req got POST "$aurl/simpleenroll" -H "$ctype" --data-binary "@$WORK/k.b64" \
    "${DIGEST_AUTH[@]}"
check_status 200
check_issued got k "$ISSUING_CERT"
stop_clean "$apid" "replica A" "$alog"
pass
