#!/usr/bin/env bash
# An RA certificate the CA refuses (issue 18 §1) is a configuration error
# of ours, caught by `-n` when it can be, named at once when it cannot:
#  - an RA certificate from the lab's issuing CA with EKU serverAuth only:
#    `estrad -n` exits 1 with the exact line for each upstream using it
#    (FILE:LINE: upstreams.NAME.client_certificate: ... it needs
#    clientAuth or id-kp-cmcRA), and the daemon does not start with it;
#  - an RA certificate the lab CA does not trust (self-signed, EKU
#    clientAuth: -n cannot know): a simpleenroll gets 502 with the one-line
#    reason, nothing is queued (queue list, audit), the proxy logs one
#    error line naming the upstream, URL, certificate file and the CA's
#    alert, and none of curl's noise ("getpeername() failed"); the breaker
#    does not call the CA down; /readyz is 200 "ready; but upstream ca:
#    ..." while the other upstream (label "real") is untried, then 503
#    naming the upstream and the alert once it is refused too; the CA logs one line: the peer, the alert, the verify error and
#    the certificate's subject;
#  - the same certificate toward a TLS 1.2 CA (openssl s_server), whose
#    alert comes inside the handshake: the same 502 and error line; and
#    no client certificate at all: 502 "... refused this RA's TLS
#    handshake ...", the line says no client_certificate is set;
#  - the good RA certificate copied over the files and SIGHUP: /readyz 200
#    at once, the same CSR enrolls (200);
#  - an RA certificate with id-kp-cmcRA but not clientAuth (RFC 7030
#    §3.7): `-n` passes, and after a SIGHUP the lab CA (an estrad) takes it
#    (OpenSSL's own purpose check would say "unsuitable certificate
#    purpose"): 200;
#  - a proxy whose ca_bundle lacks the CA's root (we refuse the CA): 502
#    with its reason, one error line naming ca_bundle and curl's verify
#    error, nothing queued, /readyz 503 saying so (both upstreams refused),
#    then 200 "ready" once backoff_max (2 s) passes with no refusal;
#  - a CA whose own certificate expired (openssl s_server): the CA's
#    incident, not ours: the enrollment is queued (202) and the log says
#    "certificate has expired", not "a configuration error";
#  - an enrollment queued while the CA was down, refused by it once it is
#    back: the entry stays pending, its note says the CA refused the RA
#    certificate, it backs off (at most 4 attempts in ~3 s), `queue show
#    --json` has ca_received 0 and the refusal as last_error, /readyz 200
#    "ready; but upstream ca: ..." (the other upstream is untried).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

# ra_cert NAME EKU [KU]: $WORK/NAME.key and NAME-chain.pem (with the
# issuing CA), an RA certificate from the lab's issuing CA with that EKU
# (and keyUsage KU, digitalSignature by default).
ra_cert() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	    -out "$WORK/$1.key" 2>/dev/null || fail "genpkey $1"
	chmod 600 "$WORK/$1.key"
	openssl req -new -key "$WORK/$1.key" -subj "/CN=$1 RA" \
	    -out "$WORK/$1.csr" 2>/dev/null || fail "req $1"
	printf 'keyUsage = critical, %s\nextendedKeyUsage = %s\n' \
	    "${3:-digitalSignature}" "$2" >"$WORK/$1.ext"
	openssl x509 -req -in "$WORK/$1.csr" -CA "$ISSUING_CERT" \
	    -CAkey "$PKI_DIR/issuing.key" -CAcreateserial -days 2 -sha256 \
	    -extfile "$WORK/$1.ext" -out "$WORK/$1.pem" 2>/dev/null ||
	    fail "x509 -req $1"
	cat "$WORK/$1.pem" "$ISSUING_CERT" >"$WORK/$1-chain.pem"
}

# refused_once NAME CONFIG REASON LINE: a proxy of CONFIG answers one
# simpleenroll with 502 and REASON, logs LINE at level error, is stopped.
refused_once() {
	start_estrad "$1" "$2"
	post_csr "$1-r" "$XURL/simpleenroll" "$WORK/k.b64"
	check_error 502 "$3"
	grep -qF -- " error $4" "$XLOG" ||
	    fail "$1 log: no line ' error $4': $(grep upstream "$XLOG" | tail -n 3)"
	stop_pid "$XPID"
}

# --- -n: serverAuth only -------------------------------------------------
ra_cert server-ra serverAuth

RA_CERT=$WORK/server-ra-chain.pem RA_KEY=$WORK/server-ra.key \
    proxy_config "$WORK/bad.json"
out=$("$ESTRAD_BIN" -n -c "$WORK/bad.json" 2>&1)
rc=$?
[ "$rc" = 1 ] || fail "estrad -n -c bad.json exited $rc (want 1): $out"
for name in ca lab; do
	line=$(awk -v n="$name" '$0 ~ "\"" n "\": {" { s = 1 }
	    s && /"client_certificate"/ { print NR; exit }' "$WORK/bad.json")
	want="$WORK/bad.json:$line: upstreams.$name.client_certificate: $WORK/server-ra-chain.pem has extendedKeyUsage serverAuth only; the CA will refuse it as a TLS client certificate: it needs clientAuth or id-kp-cmcRA"
	grep -qxF -- "$want" <<<"$out" ||
	    fail "estrad -n: no line '$want' in: $out"
done
timeout 10 "$ESTRAD_BIN" -c "$WORK/bad.json" >"$WORK/bad.out" 2>&1
rc=$?
[ "$rc" = 1 ] || fail "estrad -c bad.json exited $rc (want 1): $(head -c 400 "$WORK/bad.out")"

# --- run time: a certificate the CA does not trust -----------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$WORK/ra.key" -out "$WORK/ra.pem" -subj "/CN=rogue RA" -days 2 \
    -addext "extendedKeyUsage = clientAuth" 2>/dev/null || fail "req -x509"
chmod 600 "$WORK/ra.key"
cp "$WORK/ra.pem" "$WORK/rogue.pem"
cp -p "$WORK/ra.key" "$WORK/rogue.key"
audit=$WORK/audit.jsonl
RA_CERT=$WORK/ra.pem RA_KEY=$WORK/ra.key \
    P_TOP_EXTRA="$(offline_top "$WORK/state" "" '"retry_after": 5' "$audit"), \"admin\": { \"listen\": \"127.0.0.1:0\" }" \
    proxy_config "$WORK/proxy.json"
out=$("$ESTRAD_BIN" -n -c "$WORK/proxy.json" 2>&1) ||
    fail "estrad -n -c proxy.json: $out"
start_estrad proxy "$WORK/proxy.json"
plog=$XLOG purl=$XURL ppid=$XPID
admin_port "$plog"
ca_lines=$(wc -l <"$CA_LOG")

make_csr_key k ec:P-256 /CN=refused-ra-device
# More than failure_threshold (3): a CA that is down would be left alone.
for i in 1 2 3 4; do
	post_csr r$i "$purl/simpleenroll" "$WORK/k.b64"
	check_error 502 "the upstream CA refused this RA's TLS client certificate: a configuration error of the RA, not an outage"
done

want="upstream ca: $CA_URL: the CA refused our TLS client certificate $WORK/ra.pem (alert: unknown CA): a configuration error, not an outage"
n=$(grep -cF -- " error $want" "$plog")
[ "$n" = 4 ] || fail "proxy log: $n lines ' error $want' for four requests, want 4: $(grep upstream "$plog" | tail -n 5)"
for noise in getpeername SSL_write "bad write retry" "is down" queued "connection broke"; do
	grep -F -- "$noise" "$plog" | grep -v ' access ' | grep -q . &&
	    fail "proxy log has '$noise': $(grep -F -- "$noise" "$plog" | head -n 3)"
done

# Nothing queued: neither on disk nor in the audit file.
out=$(timeout 20 "$ESTRAD_BIN" -c "$WORK/proxy.json" queue list --all 2>&1) ||
    fail "queue list --all: $out"
[ "$(printf '%s\n' "$out" | sed 1d | grep -c .)" = 0 ] ||
    fail "queue list --all shows entries after a refusal: $out"
[ ! -s "$audit" ] || ! grep -q '"pending"' "$audit" ||
    fail "audit file has a pending record: $(cat "$audit")"

# The other upstream ("lab", label "real") has not been refused yet: still
# ready, the refusal named; once it is refused too, nothing is left to
# serve with: 503.
req ready0 GET "http://127.0.0.1:$APORT/readyz"
check_status 200
want="ready; but upstream ca: the CA refused our TLS client certificate $WORK/ra.pem (alert: unknown CA)"
[ "$(cat "$BODY")" = "$want" ] || fail "/readyz body '$(cat "$BODY")', want '$want'"
post_csr r5 "$purl/real/simpleenroll" "$WORK/k.b64"
check_error 502 "the upstream CA refused this RA's TLS client certificate: a configuration error of the RA, not an outage"
req ready1 GET "http://127.0.0.1:$APORT/readyz"
check_status 503
want="not ready: upstream ca: the CA refused our TLS client certificate $WORK/ra.pem (alert: unknown CA)"
[ "$(cat "$BODY")" = "$want" ] || fail "/readyz body '$(cat "$BODY")', want '$want'"

# The CA's side: one clear line per refused handshake.
want="handshake failed: alert unknown CA; client certificate: self-signed certificate; subject CN=rogue\\x20RA"
n=$(tail -n +"$((ca_lines + 1))" "$CA_LOG" | grep -cF -- "$want")
[ "$n" -ge 4 ] || fail "CA log: $n lines '$want' since the test began: $(tail -n 5 "$CA_LOG")"

# --- the same with TLS 1.2: the alert comes inside the handshake ---------
# (a CA of openssl s_server, TLS 1.2 only, that wants a client certificate
# from the lab's root)
fixed_prepare tls12
openssl s_server -accept "127.0.0.1:$FIXED_PORT" -tls1_2 -Verify 2 \
    -verify_return_error -CAfile "$ROOT_CERT" \
    -cert "$PKI_DIR/ca-server-chain.pem" -cert_chain "$PKI_DIR/ca-server-chain.pem" \
    -key "$PKI_DIR/ca-server.key" \
    -www </dev/null >"$WORK/tls12.out" 2>&1 &
T_PIDS+=("$!")
wait_grep 5 "$WORK/tls12.out" ACCEPT || fail "openssl s_server did not start: $(head -c 300 "$WORK/tls12.out")"
sed -e "s|\"url\": \"$CA_URL\"|\"url\": \"$FIXED_URL\"|" \
    -e "s|\"$WORK/state\"|\"$WORK/state12\"|" "$WORK/proxy.json" >"$WORK/tls12.json"
refused_once p12 "$WORK/tls12.json" \
    "the upstream CA refused this RA's TLS client certificate: a configuration error of the RA, not an outage" \
    "upstream ca: $FIXED_URL: the CA refused our TLS client certificate $WORK/ra.pem (alert: unknown CA): a configuration error, not an outage"
# ... and without any client certificate, which that CA demands
grep -v -e '"client_certificate"' -e '"client_key"' "$WORK/tls12.json" |
    sed "s|\"$WORK/state12\"|\"$WORK/state13\"|" >"$WORK/nocert.json"
refused_once nocert "$WORK/nocert.json" \
    "the upstream CA refused this RA's TLS handshake: a configuration error of the RA, not an outage" \
    "upstream ca: $FIXED_URL: the CA refused the TLS handshake (alert: handshake failure); no client_certificate is set, and it may want one: a configuration error, not an outage"

# --- fixed: the lab's RA certificate, SIGHUP -----------------------------
cp "$RA_CERT" "$WORK/ra.pem"
cp "$RA_KEY" "$WORK/ra.key"
chmod 600 "$WORK/ra.key"
hup_wait "reload with the good RA certificate" "$ppid" "$plog" "reload: policies loaded"
req ready2 GET "http://127.0.0.1:$APORT/readyz"
check_status 200
enroll_ok ok "$purl/simpleenroll" "$WORK/k.b64" k "$ISSUING_CERT"
req ready3 GET "http://127.0.0.1:$APORT/readyz"
check_status 200

# --- id-kp-cmcRA without clientAuth: -n takes it, so does the lab CA -------
ra_cert cmc-ra 1.3.6.1.5.5.7.3.28
cp "$WORK/cmc-ra-chain.pem" "$WORK/ra.pem"
cp "$WORK/cmc-ra.key" "$WORK/ra.key"
out=$("$ESTRAD_BIN" -n -c "$WORK/proxy.json" 2>&1) ||
    fail "estrad -n with a cmcRA-only RA certificate: $out"
hup_wait "reload with a cmcRA-only RA certificate" "$ppid" "$plog" "reload: policies loaded"
make_csr_key k2 ec:P-256 /CN=cmc-ra-device
enroll_ok ok2 "$purl/simpleenroll" "$WORK/k2.b64" k2 "$ISSUING_CERT"
# ... but only for that EKU: the issuer's keyUsage restriction (here
# keyEncipherment, no digitalSignature) still makes the lab CA refuse a
# cmcRA certificate at the handshake, as -n does.
req cmc_ok GET "$CA_URL/cacerts" --cert "$WORK/cmc-ra-chain.pem" --key "$WORK/cmc-ra.key"
check_status 200
ra_cert cmc-ke 1.3.6.1.5.5.7.3.28 keyEncipherment
req cmc_ke GET "$CA_URL/cacerts" --cert "$WORK/cmc-ke-chain.pem" --key "$WORK/cmc-ke.key"
[ "$STATUS" = 000 ] ||
    fail "the lab CA answered $STATUS to a cmcRA certificate without digitalSignature"
wait_grep 5 "$CA_LOG" 'handshake failed: .*unsuitable certificate purpose; subject CN=cmc-ke\\x20RA' ||
    fail "no refusal of CN=cmc-ke RA in the CA's log: $(grep 'handshake failed' "$CA_LOG" | tail -n 2)"

# --- our side refuses the CA's certificate (ca_bundle without its root) --
sed "s|\"ca_bundle\": \"$ROOT_CERT\"|\"ca_bundle\": \"$WORK/other-root.pem\"|" \
    "$WORK/proxy.json" >"$WORK/trust.json"
sed -i -e "s|\"$WORK/state\"|\"$WORK/state2\"|" \
    -e 's|^\( *"retry_after": 5\)$|\1, "backoff_max": 2|' "$WORK/trust.json"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$WORK/other-root.key" -out "$WORK/other-root.pem" \
    -subj "/CN=another root" -days 2 2>/dev/null || fail "req -x509 root"
start_estrad trust "$WORK/trust.json"
admin_port "$XLOG"
post_csr v1 "$XURL/simpleenroll" "$WORK/k.b64"
check_error 502 "upstream CA certificate does not verify: a configuration error of the RA, not an outage"
want="upstream ca: $CA_URL: we do not accept the CA's TLS certificate with ca_bundle $WORK/other-root.pem (SSL certificate problem: unable to get local issuer certificate): a configuration error, not an outage"
grep -qF -- " error $want" "$XLOG" ||
    fail "trust.log: no line ' error $want': $(grep upstream "$XLOG" | tail -n 3)"
out=$(timeout 20 "$ESTRAD_BIN" -c "$WORK/trust.json" queue list --all 2>&1) ||
    fail "queue list --all: $out"
[ "$(printf '%s\n' "$out" | sed 1d | grep -c .)" = 0 ] ||
    fail "queue list --all shows entries after our refusal of the CA: $out"
post_csr v2 "$XURL/real/simpleenroll" "$WORK/k.b64"
check_error 502 "upstream CA certificate does not verify: a configuration error of the RA, not an outage"
req ready4 GET "http://127.0.0.1:$APORT/readyz"
check_status 503
want="not ready: upstream ca: we do not accept the CA's TLS certificate with ca_bundle $WORK/other-root.pem (SSL certificate problem: unable to get local issuer certificate)"
[ "$(cat "$BODY")" = "$want" ] || fail "/readyz body '$(cat "$BODY")', want '$want'"
# Held for backoff_max (2 s here) after the last refusal, then let go: a
# not-ready RA gets no requests, and only a request would see a fix made
# at the CA.
sleep 2.5
req ready4b GET "http://127.0.0.1:$APORT/readyz"
check_status 200
[ "$(cat "$BODY")" = ready ] || fail "/readyz body '$(cat "$BODY")' once backoff_max passed, want 'ready'"
stop_pid "$XPID"

# --- the CA's own certificate expired: the CA's incident, an outage ------
# (not our configuration: it is mended at the CA; the enrollment is queued)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$WORK/exp-root.key" -out "$WORK/exp-root.pem" \
    -subj "/CN=expired CA's root" -days 2 2>/dev/null || fail "req -x509 exp-root"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$WORK/exp.key" -subj /CN=127.0.0.1 -out "$WORK/exp.csr" 2>/dev/null ||
    fail "req exp"
printf 'subjectAltName = IP:127.0.0.1\n' >"$WORK/exp.ext"
# -days -1: valid from now until yesterday, i.e. expired
openssl x509 -req -in "$WORK/exp.csr" -CA "$WORK/exp-root.pem" \
    -CAkey "$WORK/exp-root.key" -CAcreateserial -days -1 \
    -extfile "$WORK/exp.ext" -out "$WORK/exp.pem" 2>/dev/null || fail "x509 exp"
fixed_prepare exp
openssl s_server -accept "127.0.0.1:$FIXED_PORT" -cert "$WORK/exp.pem" \
    -key "$WORK/exp.key" -www </dev/null >"$WORK/exp.out" 2>&1 &
T_PIDS+=("$!")
wait_grep 5 "$WORK/exp.out" ACCEPT || fail "openssl s_server (expired) did not start: $(head -c 300 "$WORK/exp.out")"
sed -e "s|\"url\": \"$CA_URL\"|\"url\": \"$FIXED_URL\"|" \
    -e "s|\"ca_bundle\": \"$ROOT_CERT\"|\"ca_bundle\": \"$WORK/exp-root.pem\"|" \
    -e "s|\"$WORK/state\"|\"$WORK/state_exp\"|" "$WORK/proxy.json" >"$WORK/exp.json"
start_estrad expca "$WORK/exp.json"
post_csr e1 "$XURL/simpleenroll" "$WORK/k.b64"
check_queued pending
grep -q "upstream ca: $FIXED_URL: .*certificate has expired" "$XLOG" ||
    fail "expca log: no 'certificate has expired' line: $(grep upstream "$XLOG" | tail -n 3)"
grep -qF "a configuration error" "$XLOG" &&
    fail "expca log calls the CA's expired certificate our configuration error: $(grep -F 'a configuration error' "$XLOG" | head -n 2)"
stop_pid "$XPID"

# --- queued while the CA was down, refused once it is back ---------------
# The entry stays pending with the reason as its note and backs off (it
# is not sent again at once, over and over: the breaker says "up").
fixed_prepare late
sed -e "s|\"url\": \"$CA_URL\"|\"url\": \"$FIXED_URL\"|" \
    -e "s|\"$WORK/state\"|\"$WORK/state3\"|" \
    -e "s|\"$WORK/ra.pem\"|\"$WORK/rogue.pem\"|" \
    -e "s|\"$WORK/ra.key\"|\"$WORK/rogue.key\"|" "$WORK/proxy.json" >"$WORK/late-proxy.json"
start_estrad late-proxy "$WORK/late-proxy.json"
llog=$XLOG
admin_port "$llog"
make_csr_key k3 ec:P-256 /CN=queued-then-refused
post_csr q1 "$XURL/simpleenroll" "$WORK/k3.b64"
check_queued pending
id=$QID
fixed_start late
wait_grep 10 "$llog" "error upstream ca: $FIXED_URL: the CA refused our TLS client certificate" ||
    fail "late-proxy log: no refusal line once the CA is up: $(grep -e upstream -e queue "$llog" | tail -n 5)"
sleep 3
# (read again if it caught the entry's note while an attempt is on its way)
for i in 1 2 3 4 5; do
	queue_row "$WORK/late-proxy.json" "$id"
	case $Q_NOTE in *"refused this RA's"*) break ;; esac
	sleep 0.2
done
[ "$Q_STATE" = pending ] || fail "entry $id: state '$Q_STATE' after the refusal, want pending: $Q_ROW"
[ "$Q_ATTEMPTS" -le 4 ] ||
    fail "entry $id: $Q_ATTEMPTS attempts in about 3 s of refusals: not backing off: $Q_ROW"
case $Q_NOTE in
*"refused this RA's TLS client certificate"*) ;;
*) fail "entry $id: note '$Q_NOTE' does not say the CA refused the RA certificate" ;;
esac
# The CA's HTTP server never read it; the last error says why.
out=$(timeout 20 "$ESTRAD_BIN" -c "$WORK/late-proxy.json" queue show "$id" --json 2>&1) ||
    fail "queue show $id --json: $out"
got=$(python3 -c 'import json, sys; e = json.loads(sys.argv[1])
print(e["ca_received"], "|", e["last_error"])' "$out") || fail "queue show $id --json: not JSON: $out"
want="0 | $FIXED_URL: the CA refused our TLS client certificate $WORK/rogue.pem (alert: unknown CA)"
[ "$got" = "$want" ] || fail "entry $id: ca_received | last_error '$got', want '$want'"
# Only "ca" refused (label "real"'s upstream untried): ready, and why not
# all is well.
req ready5 GET "http://127.0.0.1:$APORT/readyz"
check_status 200
case $(cat "$BODY") in
"ready; but upstream ca: the CA refused our TLS client certificate "*) ;;
*) fail "/readyz body '$(cat "$BODY")', want 'ready; but upstream ca: the CA refused ...'" ;;
esac
pass
