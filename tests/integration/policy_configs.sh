#!/usr/bin/env bash
# The shipped policy configurations, config/policy-enterprise.json (strict)
# and config/policy-lab.json (permissive):
#  - with /etc/estrad/pki -> the lab's PKI, /etc/estrad/users.htdigest ->
#    the lab's Digest users and /var/lib/estrad/audit.jsonl -> a file here,
#    each passes "estrad -n": exit 0, "configuration OK", nothing on stderr
#    (and names no other /etc/estrad or /var/lib/estrad path);
#  - running (listening on 127.0.0.1:0, "run_as_root", the upstream
#    "central" -> the lab CA): the enterprise policy's csrattrs asks for
#    challengePassword, an EC P-256 key, ecdsa-with-SHA256 and a
#    subjectAltName; a CSR without a SAN (nor a channel binding) is refused
#    (san.required, then binding.required) without reaching the CA; the lab policy's local CA label "lab" enrolls a SHA-1
#    RSA CSR (SHA1 allowed there) and writes its audit record on stderr
#    ("audit": {"stderr": true}).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

SRC=$(cd "$(dirname "$0")/../.." && pwd)
AUDIT=$WORK/audit.jsonl

# localize NAME: config/policy-NAME.json with the lab's files, to
# $WORK/NAME.json.
localize() {
	local src=$SRC/config/policy-$1.json f
	[ -f "$src" ] || fail "$src is missing"
	while read -r f; do
		[ -f "$PKI_DIR/$(basename "$f")" ] ||
		    fail "policy-$1.json names $f, which the lab's PKI does not have"
	done < <(grep -o '/etc/estrad/pki/[A-Za-z0-9._-]*' "$src" | sort -u)
	sed -e "s|/etc/estrad/pki/|$PKI_DIR/|g" \
	    -e "s|/etc/estrad/users.htdigest|$DIGEST_USERS|g" \
	    -e "s|/var/lib/estrad/audit.jsonl|$AUDIT|g" "$src" >"$WORK/$1.json"
	grep -nE '/etc/estrad|/var/lib/estrad' "$WORK/$1.json" &&
	    fail "policy-$1.json names other /etc/estrad or /var/lib/estrad paths"
	"$ESTRAD_BIN" -n -c "$WORK/$1.json" >"$WORK/$1.out" 2>"$WORK/$1.err"
	local rc=$?
	[ "$rc" = 0 ] || fail "estrad -n policy-$1.json exited $rc: $(cat "$WORK/$1.out" "$WORK/$1.err")"
	[ "$(cat "$WORK/$1.out")" = "configuration OK" ] ||
	    fail "estrad -n policy-$1.json printed '$(cat "$WORK/$1.out")'"
	[ -s "$WORK/$1.err" ] && fail "estrad -n policy-$1.json wrote to stderr: $(cat "$WORK/$1.err")"
	# A runnable copy: loopback, port 0, the lab's CA as "central".
	python3 - "$WORK/$1.json" "$WORK/$1.run.json" "$CA_URL" <<'PY' ||
import json, sys
cfg = json.load(open(sys.argv[1]))
cfg["listen"] = ["127.0.0.1:0"]
# The tests run as root here, which estrad refuses unless told.
cfg.pop("user", None)
cfg.pop("group", None)
cfg["run_as_root"] = True
cfg["upstreams"]["central"]["url"] = sys.argv[3]
json.dump(cfg, open(sys.argv[2], "w"), indent=2)
PY
	    fail "cannot rewrite policy-$1.json"
}

localize enterprise
localize lab
note "both pass estrad -n"

# ---- enterprise, running
start_estrad enterprise "$WORK/enterprise.run.json"
req attrs GET "$XURL/csrattrs"
check_status 200
check_header Content-Type application/csrattrs
tr -d '\r\n' <"$BODY" | base64 -d | openssl asn1parse -inform DER >"$WORK/attrs.asn1" 2>&1 ||
    fail "enterprise csrattrs does not decode: $(cat "$WORK/attrs.asn1")"
for o in challengePassword id-ecPublicKey prime256v1 ecdsa-with-SHA256 \
    'Extension Request' 'X509v3 Subject Alternative Name'; do
	grep -q ":$o *\$" "$WORK/attrs.asn1" ||
	    fail "enterprise csrattrs lacks $o:$(printf '\n%s' "$(cat "$WORK/attrs.asn1")")"
done
make_csr nosan "/CN=$EST_USER"
n=$(ca_access_lines)
post_csr nosan "$XURL/simpleenroll" "$WORK/nosan.b64"
check_error 403
check_body "policy san.required: the CSR has no subjectAltName; binding.required: the CSR has no challengePassword; it must hold this TLS session's channel binding (RFC 7030, section 3.5)"
check_ca_unchanged "$n" "the enterprise refusal"
wait_grep 2 "$AUDIT" '"rule":"san.required"' ||
    fail "no san.required record in the enterprise audit file $AUDIT"

# ---- lab, running: SHA-1 on the local CA label
start_estrad lab "$WORK/lab.run.json"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$WORK/old.key" 2>/dev/null
openssl req -new -key "$WORK/old.key" -subj "/CN=old-device" -sha1 -config /dev/null \
    -outform DER -out "$WORK/old.der" || fail "req -sha1"
base64 -w0 "$WORK/old.der" >"$WORK/old.b64"
openssl req -inform DER -in "$WORK/old.der" -pubkey -noout >"$WORK/old.pub"
enroll_ok old "$XURL/lab/simpleenroll" "$WORK/old.b64" old "$BRANCH_CERT"
id=$(header X-Request-Id)
wait_grep 2 "$XLOG" "\"id\":\"$id\"" || fail "the lab config's audit record for $id is not on stderr"
grep -F "\"id\":\"$id\"" "$XLOG" | grep -q '"decision":"accepted"' ||
    fail "audit record on stderr: $(grep -F "\"id\":\"$id\"" "$XLOG")"
pass
