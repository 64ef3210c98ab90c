#!/usr/bin/env bash
# A CA that restarts under a kept connection (src/upstream.c,
# upstream_conn_retry): the private CA (an estrad, which ends the
# connections it closes with TLS close_notify) is stopped and started
# again five times; after each restart the proxy's next enrollment and its
# next cacerts still get 200. libcurl 7.88 takes a connection holding the
# CA's close_notify for alive and reuses it; mostly libcurl then notices
# the end and retries itself (this case passes without estrad's own retry
# too), but a send that fails past that point (EPIPE, seen once in CI in
# upstream_digest_reuse) is retried once by estrad on a new connection
# (a cacerts on any failure before an answer), never an enrollment whose
# request may have reached the CA. The log counts estrad's retries.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

fixed_prepare ca
fixed_start ca
P_URL=$FIXED_URL P_LOG_LEVEL=debug proxy_config "$WORK/proxy.json"
start_estrad proxy "$WORK/proxy.json"
PURL=$XURL PPID_=$XPID PLOG=$XLOG	# fixed_start sets XURL, XPID and XLOG
make_csr dev "/CN=restart-device"
enroll_ok warm "$PURL/simpleenroll" "$WORK/dev.b64" dev "$ISSUING_CERT"
req warmca GET "$PURL/cacerts"
check_status 200
for i in 1 2 3 4 5; do
	fixed_stop ca
	fixed_start ca
	enroll_ok "e$i" "$PURL/simpleenroll" "$WORK/dev.b64" dev "$ISSUING_CERT"
	fixed_stop ca
	fixed_start ca
	req "c$i" GET "$PURL/cacerts"
	check_status 200
done
n=$(grep -c 'the kept connection was gone' "$PLOG")
note "5 restarts before an enrollment and 5 before a cacerts: all 200 ($n sent again on a new connection)"
check_alive "$PPID_" "the proxy"
pass
