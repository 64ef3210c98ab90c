#!/usr/bin/env bash
# Digest toward the CA at one round trip per enrollment (issue 15 §4). A
# CA of this case's own (an upstream estrad whose simpleenroll takes
# Digest only, nonce_lifetime 10 s) and a proxy whose upstream has
# "auth": "digest". Counted from the CA's access lines:
#  - the first enrollment takes at most two requests (its 401, then the
#    answer); the next five take one each (auth=digest, status=200): the
#    proxy answers the challenge it kept, with nc counting up;
#  - all of them on one kept connection (one peer port at the CA);
#  - after the nonce expired: one 401 "nonce expired" (stale=true), the
#    retry with the fresh nonce 200, the next enrollment one request;
#  - six enrollments at once, twice: all 200, no "Digest nonce count
#    replayed" at the CA (each kept nonce is used by one transfer at a
#    time, so its counts arrive in order; the CA also counts a replay as a
#    failed login); the twelve take twelve requests plus at most five 401s
#    (one per nonce added for a transfer running beside the others);
#  - the CA restarted (its nonces are unknown to the new process): one
#    401 "unknown nonce", the retry 200;
#  - the RA password, and any part of the Digest answer, appears in no
#    log (the proxy's at debug level, which names the stale retry).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

digest_ca_config "$WORK/ca.json" '"nonce_lifetime": 10'
fixed_prepare dca "$WORK/ca.json"
fixed_start dca
CA_XLOG=$FIXED_LOG

(umask 077 && printf '%s\n' "$EST_PASS" >"$WORK/ra-pass")
P_LOG_LEVEL=debug P_URL=$FIXED_URL P_UPSTREAM_EXTRA="\"auth\": \"digest\", \"username\": \"$EST_USER\", \"password_file\": \"$WORK/ra-pass\"" \
    proxy_config "$WORK/proxy.json"
start_estrad proxy "$WORK/proxy.json"
PROXY_XLOG=$XLOG PROXY_XURL=$XURL

# ca_lines: the CA's simpleenroll access lines so far (this run's log).
ca_lines() {
	grep ' access .* op=simpleenroll ' "$CA_XLOG"
}

# enroll NAME: one enrollment through the proxy (client certificate); 200
# and a certificate for the CSR's key. Sets NEW: the CA's access lines it
# caused.
enroll() {
	local before
	before=$(ca_lines | wc -l)
	make_csr "$1" "/CN=$1"
	post_csr "$1" "$PROXY_XURL/simpleenroll" "$WORK/$1.b64" --cert "$CLIENT_CERT" --key "$CLIENT_KEY"
	check_status 200
	check_issued "$1" "$1" "$ISSUING_CERT"
	# The CA logs its answer before the proxy relays it.
	NEW=$(ca_lines | tail -n +$((before + 1)))
}

# expect_one WHAT: NEW is one authorized request answered 200.
expect_one() {
	[ "$(printf '%s\n' "$NEW" | grep -c .)" = 1 ] ||
	    fail "$1: $(printf '%s\n' "$NEW" | grep -c .) requests at the CA, expected 1: $NEW"
	case $NEW in
	*" auth=digest user=$EST_USER status=200 "*) ;;
	*) fail "$1: the CA answered '$NEW', expected auth=digest user=$EST_USER status=200" ;;
	esac
}

# expect_two WHAT REASON: NEW is a 401 with REASON, then the answer.
expect_two() {
	[ "$(printf '%s\n' "$NEW" | grep -c .)" = 2 ] ||
	    fail "$1: $(printf '%s\n' "$NEW" | grep -c .) requests at the CA, expected 2 (401, 200): $NEW"
	printf '%s\n' "$NEW" | head -n 1 | grep -q " status=401 .*reason=\"$2\"" ||
	    fail "$1: the first request at the CA is not a 401 '$2': $NEW"
	printf '%s\n' "$NEW" | tail -n 1 | grep -q " auth=digest user=$EST_USER status=200 " ||
	    fail "$1: the retry at the CA is not a Digest 200: $NEW"
}

# ---- the first enrollment learns the challenge; the next ones use it.
enroll e1
n=$(printf '%s\n' "$NEW" | grep -c .)
[ "$n" -le 2 ] || fail "first enrollment: $n requests at the CA: $NEW"
printf '%s\n' "$NEW" | tail -n 1 | grep -q " auth=digest user=$EST_USER status=200 " ||
    fail "first enrollment: the CA's last answer is not a Digest 200: $NEW"
for i in 2 3 4 5 6; do
	enroll "e$i"
	expect_one "enrollment $i"
done
# One connection to the CA for all of them.
ports=$(ca_lines | sed -n 's/.* peer=127\.0\.0\.1:\([0-9]*\) .*/\1/p' | sort -u)
[ "$(printf '%s\n' "$ports" | grep -c .)" = 1 ] ||
    fail "the CA saw the proxy from $(printf '%s\n' "$ports" | grep -c .) ports (new connections): $(ca_lines)"
ca_lines | grep -q ' status=400 ' && fail "the CA answered 400: $(ca_lines | grep ' status=400 ')"

# ---- the nonce expires (nonce_lifetime 10): one stale 401, then as before.
sleep 10.5
enroll s1
expect_two "after the nonce expired" "nonce expired"
enroll s2
expect_one "after the stale retry"

# ---- six at once, twice: six TLS connections to the proxy opened first,
# then the six requests sent together, so the proxy has six transfers
# to the CA under way at once.
burst() {
	local i out
	for i in 1 2 3 4 5 6; do
		make_csr "$1$i" "/CN=$1$i"
	done
	out=$(python3 - "$PROXY_XURL/simpleenroll" "$TRUST" "$CLIENT_CERT" "$CLIENT_KEY" \
	    "$WORK/$1"[1-6].b64 <<'PY'
import socket, ssl, sys
from urllib.parse import urlsplit
url, cafile, cert, key, files = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
u = urlsplit(url)
ctx = ssl.create_default_context(cafile=cafile)
ctx.check_hostname = False
ctx.load_cert_chain(cert, key)
conns = [ctx.wrap_socket(socket.create_connection((u.hostname, u.port), timeout=20),
                         server_hostname=u.hostname) for _ in files]
for c, f in zip(conns, files):
    body = open(f, "rb").read()
    c.sendall(b"POST " + u.path.encode() + b" HTTP/1.1\r\nHost: " + u.netloc.encode() +
              b"\r\nContent-Type: application/pkcs10\r\nContent-Length: " +
              str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
for c in conns:
    data = b""
    while True:
        chunk = c.recv(65536)
        if not chunk:
            break
        data += chunk
    print(data.split(b"\r\n", 1)[0].decode(errors="replace"))
PY
	) || fail "$1: the parallel client failed: $out"
	[ "$(printf '%s\n' "$out" | grep -c '^HTTP/1.1 200 ')" = 6 ] ||
	    fail "$1: six at once answered: $out"
}
before=$(ca_lines | wc -l)
burst p
burst q
ca_lines | grep -q 'replayed' && fail "nonce counts out of order at the CA: $(ca_lines | grep replayed)"
ca_lines | grep -q ' status=400 ' && fail "the CA answered 400: $(ca_lines | grep ' status=400 ')"
# Twelve enrollments, six at a time: one request each, plus one 401 for
# each nonce the proxy had to add to the one it kept (it needs no more
# than transfers run at once: at most five more), however the two bursts
# happened to overlap.
n=$(ca_lines | tail -n +$((before + 1)) | wc -l)
n401=$(ca_lines | tail -n +$((before + 1)) | grep -c ' status=401 ')
if [ "$((n - n401))" != 12 ] || [ "$n401" -gt 5 ]; then
	fail "twelve enrollments, six at a time, took $n requests at the CA ($n401 of them 401): $(ca_lines | tail -n +$((before + 1)))"
fi

# ---- the CA restarts: the kept nonce is unknown there.
fixed_stop dca
fixed_start dca
CA_XLOG=$FIXED_LOG
enroll r1
expect_two "after the CA restarted" "unknown nonce"
enroll r2
expect_one "after the CA restarted, again"

grep -q 'asks for Digest (stale nonce); answering' "$PROXY_XLOG" ||
    fail "the proxy did not log the stale challenge at debug level"
for log in "$WORK"/dca.*.log "$PROXY_XLOG"; do
	grep -qF -- "$EST_PASS" "$log" && fail "the RA password is in $log"
	grep -qiE 'authorization|response="|cnonce' "$log" &&
	    fail "$log shows a Digest answer: $(grep -iE 'authorization|response="|cnonce' "$log" | head -n 2)"
done
pass
