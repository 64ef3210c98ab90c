#!/usr/bin/env bash
# libest_client: a client that behaves as Cisco libest's EST client was
# measured behaving (tests/interop/libest_client.py, a stand-in: libest is
# not in Debian) against the lab as shipped, on the bare path and on labels:
#   - cacerts (bare, east, local);
#   - simpleenroll by Digest, reading only the first WWW-Authenticate (MD5
#     only) and answering with uri="/.well-known/est/simpleenroll" on every
#     label (bare -> issuing CA, east and local -> branch CA);
#   - simplereenroll with the leaf alone (no chain) at the lab proxy, whose
#     tls.client_ca is the root alone: lab-client (issuing CA, known from
#     the proxy's own chain) and a branch-issued leaf (branch CA, a local
#     CA of the proxy);
#   - the CertificateRequest names the root, issuing and branch CAs;
#   - on a proxy of its own that does not know the branch CA, the branch
#     leaf fails the handshake; it passes once the branch CA's cacerts went
#     through the proxy (and after a reload), and on a fresh proxy whose
#     tls.client_intermediates names the branch CA;
#   - the knobs: auth.digest_algorithms ["SHA-256", "MD5"] makes the client
#     give up; auth.digest_uri_without_label false refuses its uri on a
#     label (401 "Digest uri is not the request target"), not on the bare
#     path.
# Like libest, the client requires TLS close_notify at the end of every
# connection (LIBEST_CLOSE_NOTIFY=report only reports its absence).
# shellcheck source=../integration/lib.sh
. "$(dirname "$0")/../integration/lib.sh"

LIBEST=(python3 "$(dirname "$0")/libest_client.py" --cafile "$TRUST"
    --close-notify "${LIBEST_CLOSE_NOTIFY:-require}")
PWFILE=$WORK/password
(umask 077 && printf '%s' "$EST_PASS" >"$PWFILE")

# libest NAME ARGS...: run the client; sets LRC, output in $WORK/NAME.err.
libest() {
	local name=$1
	shift
	"${LIBEST[@]}" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
	LRC=$?
}

# libest_ok NAME ARGS...: the client succeeds.
libest_ok() {
	libest "$@"
	[ "$LRC" = 0 ] ||
	    fail "$1: libest client exit $LRC: $(grep -v '^note:' "$WORK/$1.err")"
}

# libest_fails NAME ERE ARGS...: the client fails saying ERE.
libest_fails() {
	local name=$1 re=$2
	shift 2
	libest "$name" "$@"
	[ "$LRC" = 1 ] || fail "$name: libest client exit $LRC, expected 1"
	grep -Eq "$re" "$WORK/$name.err" ||
	    fail "$name: expected /$re/, got: $(cat "$WORK/$name.err")"
}

# issuer_of NAME: the CN of the issuer of the one certificate in NAME.p7.
issuer_of() {
	openssl pkcs7 -inform DER -in "$WORK/$1.p7" -print_certs 2>/dev/null |
	    openssl x509 -noout -issuer -nameopt sep_multiline 2>/dev/null |
	    sed -n 's/^ *CN=//p'
}

enroll() {	# enroll NAME URL: simpleenroll by Digest MD5
	libest_ok "$1" --url "$2" --op simpleenroll --csr "$WORK/dev.b64" \
	    --user "$EST_USER" --password-file "$PWFILE" --out "$WORK/$1.p7"
}

reenroll() {	# reenroll NAME URL LEAF KEY CSR
	libest_ok "$1" --url "$2" --op simplereenroll --csr "$5" \
	    --cert "$3" --key "$4" --out "$WORK/$1.p7"
}

make_csr_key dev ec:P-256 "/CN=libest-dev"

for l in "" /east /local; do
	libest_ok "cacerts${l#/}" --url "$EST_URL$l" --op cacerts \
	    --out "$WORK/cacerts.p7"
	openssl pkcs7 -inform DER -in "$WORK/cacerts.p7" -print_certs |
	    grep -q 'estrad lab root CA' || fail "cacerts$l: no root CA"
done

enroll bare "$EST_URL"
[ "$(issuer_of bare)" = "estrad lab issuing CA" ] || fail "bare: issuer $(issuer_of bare)"
enroll east "$EST_URL/east"
[ "$(issuer_of east)" = "estrad lab branch CA" ] || fail "east: issuer $(issuer_of east)"
enroll local "$EST_URL/local"
[ "$(issuer_of local)" = "estrad lab branch CA" ] || fail "local: issuer $(issuer_of local)"

# Leaf-only re-enrollment against a root-only tls.client_ca.
openssl req -new -key "$CLIENT_KEY" -subj /CN=lab-client -outform DER |
    base64 >"$WORK/lab-client.b64"
reenroll re_issuing "$EST_URL" "$PKI_DIR/client.pem" "$CLIENT_KEY" "$WORK/lab-client.b64"
openssl pkcs7 -inform DER -in "$WORK/local.p7" -print_certs -out "$WORK/branch-leaf.pem"
reenroll re_branch "$EST_URL" "$WORK/branch-leaf.pem" "$WORK/dev.key" "$WORK/dev.b64"

# The CertificateRequest names the intermediates after the root (a Java
# key manager offers only a certificate whose issuer is listed).
openssl s_client -connect "127.0.0.1:$PROXY_PORT" -CAfile "$TRUST" -tls1_2 \
    </dev/null 2>/dev/null |
    sed -n '/^Acceptable client certificate CA names/,/^[A-Z][a-z]/p' >"$WORK/ca_names"
for ca in "estrad lab root CA" "estrad lab issuing CA" "estrad lab branch CA"; do
	grep -q "CN = $ca\$" "$WORK/ca_names" ||
	    fail "CertificateRequest does not name $ca: $(cat "$WORK/ca_names")"
done

# A proxy that knows no branch CA: the branch leaf alone cannot chain...
P_LABELS='"east": { "upstream": "ca", "upstream_label": "branch" }' \
    proxy_config "$WORK/plain.json"
start_estrad plain "$WORK/plain.json"
libest_fails re_unknown 'unknown ca|certificate unknown|alert' --url "$XURL" \
    --op simplereenroll --csr "$WORK/dev.b64" --cert "$WORK/branch-leaf.pem" \
    --key "$WORK/dev.key"
grep -q 'handshake failed.*unable to get local issuer certificate' "$XLOG" ||
    fail "plain: no handshake failure logged for the branch leaf"
# ... until the branch CA's cacerts (as a device fetches them first) pass
# through: its intermediates are learnt, and kept across a reload.
libest_ok plain_cacerts --url "$XURL/east" --op cacerts
grep -q 'intermediate learnt from a CA' "$XLOG" || fail "plain: nothing learnt"
reenroll re_learnt "$XURL" "$WORK/branch-leaf.pem" "$WORK/dev.key" "$WORK/dev.b64"
kill -HUP "$XPID"
wait_grep 5 "$XLOG" 'reload: policies loaded' || fail "plain: no reload line"
reenroll re_reloaded "$XURL" "$WORK/branch-leaf.pem" "$WORK/dev.key" "$WORK/dev.b64"
stop_pid "$XPID"
# ... until tls.client_intermediates names the branch CA.
P_TLS_EXTRA="\"client_intermediates\": \"$BRANCH_CERT\"" \
    proxy_config "$WORK/inter.json"
start_estrad inter "$WORK/inter.json"
reenroll re_inter "$XURL" "$WORK/branch-leaf.pem" "$WORK/dev.key" "$WORK/dev.b64"
stop_pid "$XPID"

# SHA-256 listed first: a libest client gives up on the first challenge.
P_AUTH="\"digest_users\": \"$DIGEST_USERS\", \"digest_algorithms\": [\"SHA-256\", \"MD5\"]" \
    proxy_config "$WORK/sha.json"
start_estrad sha "$WORK/sha.json"
libest_fails sha_first 'first challenge is not MD5' --url "$XURL" \
    --op simpleenroll --csr "$WORK/dev.b64" --user "$EST_USER" \
    --password-file "$PWFILE"
stop_pid "$XPID"

# The label-less uri refused when asked to: on a label only.
P_AUTH="\"digest_users\": \"$DIGEST_USERS\", \"digest_uri_without_label\": false" \
    proxy_config "$WORK/strict.json"
start_estrad strict "$WORK/strict.json"
libest_fails uri_label 'HTTP 401: Digest uri is not the request target' \
    --url "$XURL/real" --op simpleenroll --csr "$WORK/dev.b64" \
    --user "$EST_USER" --password-file "$PWFILE"
enroll uri_bare "$XURL"
pass
