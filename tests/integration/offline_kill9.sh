#!/usr/bin/env bash
# A queued enrollment survives kill -9 (docs/offline.md, "Crashes and
# restarts"): with the private CA down, a Digest simpleenroll gets 202;
# the proxy is killed with SIGKILL; the CA comes back; the proxy started
# again with the same config logs "queue: 1 waiting entry in
# STATE_DIR/estrad.db", forwards the entry ("... is issued"), and the
# client's retry gets 200 with a certificate for its key. The CA issued
# exactly one certificate.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

fixed_prepare ca
P_URL=$FIXED_URL P_UPSTREAM_EXTRA='"backoff_initial": 0.2, "backoff_max": 1' \
    P_TOP_EXTRA=$(offline_top "$WORK/state" "" '"retry_after": 5, "expire": 600') \
    proxy_config "$WORK/proxy.json"
start_estrad proxy "$WORK/proxy.json"
ppid=$XPID

make_csr_key k ec:P-256 /CN=kill9-device
post_csr q1 "$XURL/simpleenroll" "$WORK/k.b64"
check_queued pending
check_header Retry-After 5
id=$QID
note "queued as $id; kill -9 $ppid"
kill9 "$ppid"
[ -f "$WORK/state/estrad.db" ] || fail "no $WORK/state/estrad.db"

fixed_start ca
start_estrad proxy2 "$WORK/proxy.json"
plog=$XLOG
wait_grep 5 "$plog" "queue: 1 waiting entry in $WORK/state/estrad.db" ||
    fail "the restarted proxy did not log 'queue: 1 waiting entry in $WORK/state/estrad.db'"
wait_queue_state 15 "$plog" "$id" issued

post_csr q2 "$XURL/simpleenroll" "$WORK/k.b64"
check_status 200
check_issued q2 k "$ISSUING_CERT"
check_header Content-Type 'application/pkcs7-mime; smime-type=certs-only'
wait_queue_state 5 "$plog" "$id" delivered
sleep 0.2
n=$(enroll_lines ca)
[ "$n" = 1 ] || fail "the CA issued $n certificates for the queued request, expected 1"
check_alive "$XPID" "the restarted proxy"
pass
