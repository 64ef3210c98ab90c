# shellcheck shell=bash
#
# lib.sh: helpers for the estrad integration cases. Each case is a small
# bash script that sources this file, talks to the lab started by the
# "integration_lab_up" fixture (tests/lab up) over real TLS with curl and
# the openssl CLI, and ends in pass, fail or skip.
#
# Environment (set by tests/integration/CMakeLists.txt):
#   LAB_DIR        the lab directory; its lab.env is sourced here
#   WORK_ROOT      parent of the per-case work directories
#   ESTRAD_BIN     the daemon (lab.env also carries it)
#   SILENT_SERVER  tests/tools/silent_server
#   WEAK_CA        tests/tools/weak_ca (start_weak_ca)
#   TEST_DATA      tests/data
#
# Each case gets a fresh $WORK. It is removed when the case passes and kept
# (with every log the case started) when it fails; a failure prints the
# tails of the daemon logs involved.

# Variables set here are read by the cases that source this file.
# shellcheck disable=SC2034

set -uo pipefail

T_NAME=$(basename "$0" .sh)
: "${LAB_DIR:?LAB_DIR is not set (run through ctest, or export it)}"
if [ ! -f "$LAB_DIR/lab.env" ]; then
	echo "FAIL [$T_NAME]: no $LAB_DIR/lab.env: did 'tests/lab up $LAB_DIR' run?" >&2
	exit 1
fi
# shellcheck disable=SC1091
. "$LAB_DIR/lab.env"
WORK=${WORK_ROOT:-$LAB_DIR/../work}/$T_NAME
rm -rf "$WORK"
mkdir -p "$WORK"

T_OK=0
T_PIDS=()			# processes this case started, stopped on exit
T_LOGS=("$PROXY_LOG" "$CA_LOG")	# logs shown on failure
T_CURL_TIMEOUT=${T_CURL_TIMEOUT:-15}
# The lab proxy's enroll operations want Digest (or a client certificate):
# curl arguments for the lab user. post_csr adds them unless T_AUTH says
# otherwise.
DIGEST_AUTH=(--digest -u "$EST_USER:$EST_PASS")
BASIC_AUTH=(--basic -u "$BASIC_USER:$BASIC_PASS")
SANITIZER_RE='ERROR: (Address|Leak)Sanitizer|runtime error:'
AUDIT_LOG_PY=$(dirname "${BASH_SOURCE[0]}")/../tools/audit_log.py	# audit_*

# ------------------------------------------------------------ outcome

t_cleanup() {
	local pid log san=0
	for pid in "${T_PIDS[@]}"; do
		stop_pid "$pid"
	done
	# A sanitizer build reports at exit: the daemons this case started
	# must leave no report (the lab's own are checked by "lab down").
	for log in "${T_LOGS[@]:2}"; do
		if grep -qE "$SANITIZER_RE" "$log" 2>/dev/null; then
			echo "FAIL [$T_NAME]: sanitizer report in $log:" >&2
			grep -m 5 -E "$SANITIZER_RE" "$log" >&2
			T_OK=0 san=1
		fi
	done
	if [ "$T_OK" = 1 ]; then
		rm -rf "$WORK"
	else
		echo "[$T_NAME] work files and logs kept in $WORK" >&2
	fi
	[ "$san" = 0 ] || exit 1
}
trap t_cleanup EXIT

note() {
	echo "[$T_NAME] $*"
}

show_logs() {
	local log
	for log in "${T_LOGS[@]}"; do
		[ -f "$log" ] || continue
		echo "---- tail of $log ----" >&2
		tail -n 25 "$log" >&2
	done
	echo "----" >&2
}

# fail MESSAGE: the case failed; show why and the daemon logs.
fail() {
	echo "FAIL [$T_NAME]: $*" >&2
	show_logs
	exit 1
}

# skip MESSAGE: the case cannot run here (ctest SKIP_RETURN_CODE 77).
skip() {
	echo "SKIP [$T_NAME]: $*"
	T_OK=1
	exit 77
}

pass() {
	T_OK=1
	echo "PASS [$T_NAME]"
	exit 0
}

now_ms() {
	date +%s%3N
}

# ------------------------------------------------------------ HTTP

# req NAME METHOD URL [curl args...]
# Makes one request with curl, trusting the lab root. The body lands in
# $WORK/NAME.body, the response headers in $WORK/NAME.hdr, curl's errors in
# $WORK/NAME.err; sets STATUS (000 if no HTTP answer), BODY, HDR, ELAPSED_MS.
req() {
	local name=$1 method=$2 url=$3 t0
	shift 3
	BODY=$WORK/$name.body
	HDR=$WORK/$name.hdr
	t0=$(now_ms)
	STATUS=$(curl -sS -g --max-time "$T_CURL_TIMEOUT" --cacert "$TRUST" \
	    -X "$method" -D "$HDR" -o "$BODY" -w '%{http_code}' "$@" "$url" \
	    2>"$WORK/$name.err")
	ELAPSED_MS=$(($(now_ms) - t0))
	[ -n "$STATUS" ] || STATUS=000
	[ -f "$BODY" ] || : >"$BODY"
	[ -f "$HDR" ] || : >"$HDR"
}

# post_csr NAME URL FILE [curl args...]: POST FILE as application/pkcs10,
# with credentials chosen by T_AUTH:
#   digest                curl --digest as the lab's EST_USER (the default)
#   basic                 Basic as the lab's BASIC_USER
#   none                  no HTTP credentials (an Authorization header may
#                         still come in the args); the default when the args
#                         hold --cert: the certificate authenticates, and
#                         curl --digest would send its first POST with an
#                         empty body, expecting a 401 that never comes
post_csr() {
	local name=$1 url=$2 file=$3 auth=() mode=digest a
	shift 3
	for a in "$@"; do
		[ "$a" = --cert ] && mode=none
	done
	case ${T_AUTH:-$mode} in
	digest) auth=("${DIGEST_AUTH[@]}") ;;
	basic) auth=("${BASIC_AUTH[@]}") ;;
	none) ;;
	*) fail "post_csr: unknown T_AUTH '$T_AUTH'" ;;
	esac
	req "$name" POST "$url" -H 'Content-Type: application/pkcs10' \
	    --data-binary "@$file" "${auth[@]}" "$@"
}

# check_status EXPECTED: the last req answered EXPECTED.
check_status() {
	if [ "$STATUS" != "$1" ]; then
		fail "$(basename "$BODY" .body): expected HTTP $1, got $STATUS;" \
		    "curl: $(head -c 300 "${BODY%.body}.err")" \
		    "body: $(head -c 300 "$BODY")"
	fi
}

# header NAME [HDRFILE]: value of the (last) response header NAME, CR removed.
header() {
	grep -i "^$1:" "${2:-$HDR}" | tail -n 1 | sed 's/^[^:]*:[[:space:]]*//' |
	    tr -d '\r'
}

has_header() {
	grep -qi "^$1:" "${2:-$HDR}"
}

# check_header NAME VALUE: exact value.
check_header() {
	local v
	has_header "$1" || fail "$(basename "$HDR"): no $1 header"
	v=$(header "$1")
	[ "$v" = "$2" ] || fail "$(basename "$HDR"): $1 is '$v', expected '$2'"
}

# check_retry_after MIN MAX: the last response's Retry-After is a number
# of seconds from MIN to MAX.
check_retry_after() {
	local ra
	ra=$(header Retry-After)
	if ! [[ $ra =~ ^[0-9]+$ ]] || [ "$ra" -lt "$1" ] || [ "$ra" -gt "$2" ]; then
		fail "$(basename "$HDR"): Retry-After '$ra', expected $1..$2"
	fi
}

# check_framing: Content-Length present and right, no chunked encoding
# (RFC 8951 interop: some clients need Content-Length).
check_framing() {
	local cl size
	has_header Content-Length || fail "$(basename "$HDR"): no Content-Length"
	! has_header Transfer-Encoding ||
	    fail "$(basename "$HDR"): Transfer-Encoding: $(header Transfer-Encoding)"
	cl=$(header Content-Length)
	size=$(stat -c %s "$BODY")
	[ "$cl" = "$size" ] ||
	    fail "$(basename "$HDR"): Content-Length $cl but $size body bytes"
}

# check_body TEXT: the last response's body is exactly TEXT and a newline
# (the one-line reason of an error answer).
check_body() {
	printf '%s\n' "$1" | cmp -s - "$BODY" ||
	    fail "$(basename "$BODY" .body): body '$(head -c 300 "$BODY")', expected '$1'"
}

# last_response: the headers of the last response in HDR, CRs removed
# (curl --digest writes two responses).
last_response() {
	tr -d '\r' <"$HDR" | awk '/^HTTP\// { b = "" } { b = b $0 "\n" } END { printf "%s", b }'
}

# check_challenge_only PHRASE: the last response is estrad's own 401
# challenge: Content-Length 0, no body, no Content-Type, and the reason,
# containing PHRASE, as the status line's reason phrase (docs/interop.md:
# Bouncy Castle's EST client fails on any 401 body).
check_challenge_only() {
	local last status_line
	last=$(last_response)
	status_line=${last%%$'\n'*}
	case $status_line in
	"HTTP/1.1 401 "?*) ;;
	*) fail "$(basename "$HDR"): status line '$status_line', expected a 401 with a reason" ;;
	esac
	# Here-strings, not pipes: grep -q leaves early, and pipefail would
	# take the writer's SIGPIPE for a failure.
	[ -n "${1:-}" ] && ! grep -qiF -- "$1" <<<"$status_line" &&
	    fail "$(basename "$HDR"): 401 reason '$status_line' lacks '$1'"
	grep -qix 'Content-Length: 0' <<<"$last" ||
	    fail "$(basename "$HDR"): 401 challenge without Content-Length: 0"
	! grep -qi '^Content-Type:' <<<"$last" ||
	    fail "$(basename "$HDR"): 401 challenge with a Content-Type"
	[ ! -s "$BODY" ] ||
	    fail "$(basename "$BODY" .body): 401 challenge with a body: $(head -c 200 "$BODY")"
}

# check_phrase TEXT: the last response's status line is exactly
# "HTTP/1.1 STATUS TEXT" (estrad's 401 carries its reason there).
check_phrase() {
	local status_line
	status_line=$(last_response)
	status_line=${status_line%%$'\n'*}
	[ "$status_line" = "HTTP/1.1 $STATUS $1" ] ||
	    fail "$(basename "$HDR"): status line '$status_line', expected 'HTTP/1.1 $STATUS $1'"
}

# check_error STATUS PHRASE: a text/plain one-line error containing PHRASE;
# for estrad's own 401 (it carries WWW-Authenticate), check_challenge_only.
check_error() {
	local ct lines
	check_status "$1"
	if [ "$1" = 401 ] && grep -qi '^WWW-Authenticate:' <<<"$(last_response)"; then
		check_challenge_only "${2:-}"
		return
	fi
	ct=$(header Content-Type)
	case $ct in
	text/plain | "text/plain;"*) ;;
	*) fail "$(basename "$BODY" .body): HTTP $1 with Content-Type '$ct', not text/plain" ;;
	esac
	[ -s "$BODY" ] || fail "$(basename "$BODY" .body): HTTP $1 with an empty body"
	lines=$(tr -d '\r' <"$BODY" | sed '/^$/d' | wc -l)
	[ "$lines" -le 1 ] ||
	    fail "$(basename "$BODY" .body): error body has $lines lines: $(head -c 300 "$BODY")"
	if [ -n "${2:-}" ] && ! grep -qiF -- "$2" "$BODY"; then
		fail "$(basename "$BODY" .body): reason '$(head -c 200 "$BODY")' lacks '$2'"
	fi
	check_framing
}

# ------------------------------------------------------------ HTTP auth

# hash_hex ALG STRING: the lowercase hex digest of STRING for a Digest
# algorithm (MD5, SHA-256 or their -sess variants). The string goes
# through a pipe, never a command line.
hash_hex() {
	case $1 in
	MD5 | MD5-sess) printf '%s' "$2" | md5sum | cut -d' ' -f1 ;;
	SHA-256 | SHA-256-sess) printf '%s' "$2" | sha256sum | cut -d' ' -f1 ;;
	*) echo "hash_hex: unknown algorithm '$1'" >&2; return 1 ;;
	esac
}

# digest_challenge ALG [HDRFILE]: the Digest challenge with algorithm="ALG"
# in the last response; sets CH (the header value), CH_NONCE and
# CH_OPAQUE.
digest_challenge() {
	local hdr=${2:-$HDR}
	CH=$(tr -d '\r' <"$hdr" | grep '^WWW-Authenticate: Digest ' |
	    grep -F "algorithm=\"$1\"," | head -n 1 | sed 's/^WWW-Authenticate: //')
	[ -n "$CH" ] || fail "$(basename "$hdr"): no Digest challenge with algorithm=$1: $(grep -i '^www-authenticate' "$hdr")"
	CH_NONCE=$(printf '%s' "$CH" | sed -n 's/.* nonce="\([^"]*\)".*/\1/p')
	CH_OPAQUE=$(printf '%s' "$CH" | sed -n 's/.* opaque="\([^"]*\)".*/\1/p')
	[ -n "$CH_NONCE" ] || fail "no nonce in the challenge '$CH'"
}

# digest_authz USER REALM PASSWORD ALG METHOD URI NONCE NC [CNONCE [OPAQUE]]:
# an Authorization header value for qop=auth (RFC 7616 §3.4.1-3.4.3),
# computed here rather than by curl (which picks the algorithm itself), in
# DIGEST_AUTHZ. NC is 8 hex digits.
digest_authz() {
	local user=$1 realm=$2 pass=$3 alg=$4 method=$5 uri=$6 nonce=$7 nc=$8
	local cnonce=${9:-} opaque=${10:-} ha1 ha2 resp
	[ -n "$cnonce" ] || cnonce=$(openssl rand -hex 8)
	ha1=$(hash_hex "$alg" "$user:$realm:$pass") || fail "digest_authz: algorithm $alg"
	case $alg in
	*-sess) ha1=$(hash_hex "$alg" "$ha1:$nonce:$cnonce") ;;
	esac
	ha2=$(hash_hex "$alg" "$method:$uri")
	resp=$(hash_hex "$alg" "$ha1:$nonce:$nc:$cnonce:auth:$ha2")
	DIGEST_AUTHZ="Digest username=\"$user\", realm=\"$realm\", nonce=\"$nonce\", uri=\"$uri\", algorithm=$alg, qop=auth, nc=$nc, cnonce=\"$cnonce\", response=\"$resp\"${opaque:+, opaque=\"$opaque\"}"
}

# hex2bin HEX: the bytes (NULs included) on stdout.
hex2bin() {
	local hex=$1 i
	for ((i = 0; i < ${#hex}; i += 2)); do
		printf '%b' "\\x${hex:i:2}"
	done
}

# mint_nonce SECRETFILE TIMESTAMP: a nonce as estrad makes them (src/digest.c):
# base64url, unpadded, of 8-byte big-endian TIMESTAMP || 8 random bytes ||
# the first 16 bytes of HMAC-SHA256(secret, timestamp || random), where the
# secret is the nonce_secret_file's bytes. Prints it.
mint_nonce() {
	local key msg tag
	key=$(od -An -v -tx1 "$1" | tr -d ' \n')
	msg=$(printf '%016x' "$2")$(openssl rand -hex 8)
	tag=$(hex2bin "$msg" | openssl dgst -sha256 -mac HMAC \
	    -macopt "hexkey:$key" -binary | head -c 16 | od -An -v -tx1 | tr -d ' \n')
	[ ${#tag} = 32 ] || { echo "mint_nonce: HMAC failed" >&2; return 1; }
	hex2bin "$msg$tag" | base64 -w0 | tr '+/' '-_' | tr -d '='
}

# check_challenges "ALGS" [stale]: the last response (of HDR) carries exactly one
# WWW-Authenticate header (that spelling) per word of ALGS, in that order:
# SHA-256 or MD5 for a Digest challenge of the lab realm (qop="auth",
# algorithm quoted, a
# 43-character nonce, an opaque; ", stale=true" at the end when asked for,
# never otherwise), Basic for 'Basic realm="REALM", charset="UTF-8"'.
check_challenges() {
	local algs seen re i stale=${2:-}
	read -r -a algs <<<"$1"
	# Only the last response's headers (curl --digest writes two).
	mapfile -t seen < <(tr -d '\r' <"$HDR" |
	    awk '/^HTTP\// { n = 0 } tolower($0) ~ /^www-authenticate:/ { h[n++] = $0 }
	        END { for (i = 0; i < n; i++) print h[i] }')
	[ "${#seen[@]}" = "${#algs[@]}" ] ||
	    fail "$(basename "$HDR"): ${#seen[@]} WWW-Authenticate headers, expected ${#algs[@]} ($1): $(printf '%s / ' "${seen[@]}")"
	for i in "${!algs[@]}"; do
		case ${algs[$i]} in
		Basic) re="WWW-Authenticate: Basic realm=\"$AUTH_REALM\", charset=\"UTF-8\"" ;;
		*)
			re="WWW-Authenticate: Digest realm=\"$AUTH_REALM\", qop=\"auth\", algorithm=\"${algs[$i]}\", nonce=\"[A-Za-z0-9_-]{43}\", opaque=\"[0-9a-f]{32}\""
			[ -n "$stale" ] && re="$re, stale=true"
			;;
		esac
		printf '%s\n' "${seen[$i]}" | grep -qxE -- "$re" ||
		    fail "$(basename "$HDR"): WWW-Authenticate #$((i + 1)) is '${seen[$i]}', expected /$re/"
	done
}

# access_line_for ID [LOG]: the one access line of request ID (its
# X-Request-Id) in LOG (default the lab proxy's); sets LINE.
access_line_for() {
	local log=${2:-$PROXY_LOG} n
	wait_grep 2 "$log" " access id=$1 " ||
	    fail "no access line with id=$1 in $log"
	n=$(grep -c -- " access id=$1 " "$log")
	[ "$n" = 1 ] || fail "$n access lines name id=$1, expected 1"
	LINE=$(grep -- " access id=$1 " "$log")
}

# check_access FIELDS [LOG]: the last response's access line (found by its
# X-Request-Id) holds FIELDS, a fixed string such as
# "auth=digest user=estuser status=200".
check_access() {
	local rid
	rid=$(header X-Request-Id)
	[ -n "$rid" ] || fail "$(basename "$HDR"): no X-Request-Id"
	access_line_for "$rid" "${2:-$PROXY_LOG}"
	case $LINE in
	*" $1 "*) ;;
	*) fail "access line '$LINE' lacks '$1'" ;;
	esac
}

# ------------------------------------------------------------ PKI

# make_csr NAME [SUBJECT] [SAN]: a fresh EC P-256 key $WORK/NAME.key and a
# CSR for it: $WORK/NAME.der (DER), NAME.b64 (one line, base64 -w0),
# NAME.pem (PEM), NAME.pub (its public key, PEM).
make_csr() {
	local name=$1 subj=${2:-/CN=lab-device} san=${3:-}
	local args=()
	[ -n "$san" ] && args=(-addext "subjectAltName=$san")
	make_csr_key "$name" ec:P-256 "$subj" "${args[@]}"
}

# split_certs FILE PREFIX: each PEM certificate of FILE to PREFIX.N.pem;
# prints the count.
split_certs() {
	awk -v p="$2" '
	    /-----BEGIN CERTIFICATE-----/ { n++; f = p "." n ".pem" }
	    f { print > f }
	    /-----END CERTIFICATE-----/ { close(f); f = "" }
	    END { print n + 0 }' "$1"
}

# p7_certs BODYFILE OUT: decode a base64 certs-only PKCS#7 into PEM
# certificates in OUT; prints the count.
p7_certs() {
	tr -d '\r' <"$1" | base64 -d >"$2.p7.der" 2>/dev/null ||
	    fail "$(basename "$1"): body is not base64"
	openssl pkcs7 -inform DER -in "$2.p7.der" -print_certs -out "$2" \
	    2>"$2.err" || fail "$(basename "$1"): not a PKCS#7: $(head -c 300 "$2.err")"
	grep -c -- '-----BEGIN CERTIFICATE-----' "$2"
}

fingerprint() {
	openssl x509 -in "$1" -noout -fingerprint -sha256
}

# check_issued NAME CSRNAME ISSUER_PEM: the last response ($BODY) is a
# certs-only PKCS#7 holding exactly one certificate, for CSRNAME's public
# key, issued by ISSUER_PEM and verifying to the lab root. Leaves the
# certificate in $WORK/NAME.cert.pem.
check_issued() {
	local name=$1 csr=$2 issuer=$3 n out
	n=$(p7_certs "$BODY" "$WORK/$name.certs.pem")
	[ "$n" = 1 ] || fail "$name: PKCS#7 holds $n certificates, expected 1"
	cp "$WORK/$name.certs.pem" "$WORK/$name.cert.pem"
	openssl x509 -in "$WORK/$name.cert.pem" -pubkey -noout \
	    >"$WORK/$name.cert.pub" || fail "$name: cannot read the certificate"
	cmp -s "$WORK/$name.cert.pub" "$WORK/$csr.pub" ||
	    fail "$name: the certificate's public key is not the CSR's"
	out=$(openssl verify -CAfile "$ROOT_CERT" -untrusted "$issuer" \
	    "$WORK/$name.cert.pem" 2>&1) ||
	    fail "$name: openssl verify against $(basename "$issuer"): $out"
	[ "$(openssl x509 -in "$WORK/$name.cert.pem" -noout -issuer -nameopt RFC2253)" = \
	    "$(openssl x509 -in "$issuer" -noout -subject -nameopt RFC2253 | sed 's/^subject/issuer/')" ] ||
	    fail "$name: issuer is $(openssl x509 -in "$WORK/$name.cert.pem" -noout -issuer)"
}

# enroll_ok NAME URL FILE CSRNAME ISSUER [curl args]: POST, expect 200 and a
# certificate for CSRNAME from ISSUER.
enroll_ok() {
	local name=$1 url=$2 file=$3 csr=$4 issuer=$5
	shift 5
	post_csr "$name" "$url" "$file" "$@"
	check_status 200
	check_issued "$name" "$csr" "$issuer"
}

# ------------------------------------------------------------ daemons

# log_port LOG HOSTRE: the port of the first EST listener line, "info
# listening on HOST:PORT" (or its JSON form, "message":"listening on ..."),
# whose HOST matches the sed regex HOSTRE. Other listeners' lines ("admin
# listening on ...") do not count.
log_port() {
	sed -n -e "s/.* info listening on $2:\([0-9][0-9]*\).*/\1/p" \
	    -e "s/.*\"message\":\"listening on $2:\([0-9][0-9]*\).*/\1/p" \
	    "$1" 2>/dev/null | head -n 1
}

# wait_log_port PID LOG HOSTRE: wait (5 s) for the port; prints it.
wait_log_port() {
	local pid=$1 log=$2 re=$3 port i
	for ((i = 0; i < 50; i++)); do
		port=$(log_port "$log" "$re")
		[ -n "$port" ] && { echo "$port"; return 0; }
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# start_estrad NAME CONFIG: start an extra daemon (stopped when the case
# ends); sets XPID, XLOG and XPORT (its 127.0.0.1 port), XURL (its
# https://127.0.0.1:XPORT/.well-known/est).
start_estrad() {
	local name=$1 cfg=$2
	XLOG=$WORK/$name.log
	setsid "$ESTRAD_BIN" -c "$cfg" </dev/null >"$XLOG" 2>&1 &
	XPID=$!
	T_PIDS+=("$XPID")
	T_LOGS+=("$XLOG")
	XPORT=$(wait_log_port "$XPID" "$XLOG" '127\.0\.0\.1') ||
	    fail "$name: estrad -c $cfg did not log 'listening on 127.0.0.1:PORT'"
	XURL=https://127.0.0.1:$XPORT/.well-known/est
}

# digest_ca_config FILE [AUTH_EXTRA]: the config of a CA of a case's own:
# an estrad on 127.0.0.1:0 issuing from the lab's issuing CA, whose
# simpleenroll takes Digest only (the lab's users), not the RA
# certificate. AUTH_EXTRA: more members of its "auth", e.g.
# '"nonce_lifetime": 10'.
digest_ca_config() {
	cat >"$1" <<JSON
{
  "run_as_root": true,
  "listen": ["127.0.0.1:0"],
  "tls": { "certificate": "$PKI_DIR/ca-server-chain.pem",
           "key": "$PKI_DIR/ca-server.key",
           "client_ca": "$ROOT_CERT" },
  "auth": { "digest_users": "$DIGEST_USERS"${2:+, $2} },
  "local_cas": { "issuing": { "certificate": "$PKI_DIR/issuing.pem",
                              "key": "$PKI_DIR/issuing.key",
                              "chain": "$PKI_DIR/issuing-chain.pem" } },
  "default": { "local_ca": "issuing", "auth": { "simpleenroll": ["digest"] } }
}
JSON
}

# named_port LOG NAME: the port of the first "NAME listening on
# 127.0.0.1:PORT" line of LOG (e.g. "admin", "coap"), waiting 5 s for it;
# prints it, or nothing.
named_port() {
	local i port
	for ((i = 0; i < 50; i++)); do
		port=$(sed -n "s/.* $2 listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p" \
		    "$1" | head -n 1)
		[ -n "$port" ] && { echo "$port"; return 0; }
		sleep 0.1
	done
}

# admin_port LOG: the port of the first "admin listening on 127.0.0.1:PORT"
# line (5 s); sets APORT.
admin_port() {
	APORT=$(named_port "$1" admin)
	[ -n "$APORT" ] || fail "no 'admin listening on 127.0.0.1:PORT' in $(basename "$1")"
}

# scrape NAME: GET the admin listener's /metrics (on $APORT) into
# $WORK/NAME.body (200); sets SCRAPE to it. admin_metrics has a stricter
# one of its own (media type, promtool).
scrape() {
	req "$1" GET "http://127.0.0.1:$APORT/metrics"
	check_status 200
	SCRAPE=$BODY
}

# check_metric SAMPLE VALUE: the last scrape has the sample line "SAMPLE
# VALUE" (name and labels exactly as written).
check_metric() {
	local v
	v=$(awk -v k="$1" '$1 == k { print $2 }' "$SCRAPE")
	[ "$v" = "$2" ] || fail "$1 is '${v:-absent}', expected $2"
}

# running PID: alive and not a zombie.
running() {
	kill -0 "$1" 2>/dev/null &&
	    [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

# stop_pid PID: TERM and wait (1.5 s), then KILL; reap it if it is ours.
stop_pid() {
	local i
	kill -TERM "$1" 2>/dev/null || return 0
	for ((i = 0; i < 30; i++)); do
		running "$1" || break
		sleep 0.05
	done
	running "$1" && kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null || true
}

# k8s_estrad_json OUT: the estrad.json of docker/k8s/configmap.yaml, in
# OUT.
k8s_estrad_json() {
	local src=${ESTRAD_SOURCE_DIR:-$(dirname "${BASH_SOURCE[0]}")/../..}
	awk '/^  estrad.json: \|$/ { on = 1; next }
	    on && /^    / { print substr($0, 5); next }
	    on && /^$/ { print; next }
	    on { exit }' "$src/docker/k8s/configmap.yaml" >"$1"
	grep -q '"nonce_secret_file"' "$1" ||
	    fail "no estrad.json with a nonce_secret_file in docker/k8s/configmap.yaml"
}

# exit_status PID WHAT: wait (10 s) for our child PID to end, fail if it
# does not; sets RC to its exit status.
exit_status() {
	local i
	for ((i = 0; i < 100; i++)); do
		running "$1" || break
		sleep 0.1
	done
	running "$1" && fail "$2 still runs 10 s after SIGTERM"
	wait "$1"
	RC=$?
}

# check_alive PID WHAT
check_alive() {
	running "$1" || fail "$2 (pid $1) is not running any more"
}

# proxy_config FILE: a proxy config like the lab's, built from variables:
#   P_URL        the upstream "ca" base URL (default: the lab CA)
#   P_TIMEOUT, P_CONNECT_TIMEOUT, P_MAX_IN_FLIGHT, P_RETRY_AFTER
#   P_READ_TIMEOUT, P_IDLE_TIMEOUT (limits)
#   P_LIMITS_EXTRA  extra JSON members for "limits", e.g.
#                '"max_connections": 5' (default none)
#   P_TLS_EXTRA  extra JSON members for "tls", e.g. '"session_cache": 0'
#                (default none)
#   P_LISTEN     JSON array of listen addresses (default ["127.0.0.1:0"])
#   P_LABELS     extra JSON members for "labels" (default none)
#   P_UPSTREAM_EXTRA  extra JSON members for the upstream "ca", e.g.
#                '"auth": "basic", "username": "u", "password_file": "/f"'
#                (default none)
#   P_AUTH       the members of the top-level "auth" object (default: the
#                lab's Digest users, '"digest_users": "$DIGEST_USERS"', so
#                post_csr's default credentials enroll, as at the lab proxy)
#   P_DEFAULT_EXTRA  extra JSON members for the "default" route, e.g.
#                '"auth": { "simpleenroll": ["basic"] }' (default none)
#   P_LOG_LEVEL  (default info)
#   P_TOP_EXTRA  extra top-level JSON members, e.g. '"policies": {...}'
#                (default none)
#   P_PRIVS      the privilege members (default '"run_as_root": true': the
#                tests run as root, which estrad refuses unless told; set
#                it to e.g. '"user": "nobody"', or to '' for none at all)
# A second upstream "lab" always points at the lab's CA, and label "real"
# routes to it, so a case can check a daemon whose "ca" is broken.
proxy_config() {
	local labels='"real": { "upstream": "lab" }'
	local listen='["127.0.0.1:0"]'
	local authjson="\"digest_users\": \"$DIGEST_USERS\""
	local privs=${P_PRIVS-'"run_as_root": true'}
	[ -n "${P_LISTEN:-}" ] && listen=$P_LISTEN
	[ -n "${P_LABELS:-}" ] && labels="$labels, $P_LABELS"
	[ -n "${P_AUTH:-}" ] && authjson=$P_AUTH
	cat >"$1" <<EOF
{
  "log_level": "${P_LOG_LEVEL:-info}",${privs:+
  $privs,}
  "listen": $listen,
  "tls": {
    "certificate": "$PROXY_SERVER_CERT",
    "key": "$PROXY_SERVER_KEY",
    "client_ca": "$ROOT_CERT",
    "client_verify_depth": 4${P_TLS_EXTRA:+, $P_TLS_EXTRA}
  },
  "auth": { $authjson },
  "limits": {
    "max_header_bytes": 8192,
    "max_body_bytes": 65536,
    "read_timeout": ${P_READ_TIMEOUT:-30},
    "idle_timeout": ${P_IDLE_TIMEOUT:-60}${P_LIMITS_EXTRA:+, $P_LIMITS_EXTRA}
  },
  "upstreams": {
    "ca": {
      "url": "${P_URL:-$CA_URL}",
      "ca_bundle": "$ROOT_CERT",
      "client_certificate": "$RA_CERT",
      "client_key": "$RA_KEY",
      "connect_timeout": ${P_CONNECT_TIMEOUT:-5},
      "timeout": ${P_TIMEOUT:-30},
      "max_in_flight": ${P_MAX_IN_FLIGHT:-64},
      "retry_after": ${P_RETRY_AFTER:-5}${P_UPSTREAM_EXTRA:+, $P_UPSTREAM_EXTRA}
    },
    "lab": {
      "url": "$CA_URL",
      "ca_bundle": "$ROOT_CERT",
      "client_certificate": "$RA_CERT",
      "client_key": "$RA_KEY",
      "connect_timeout": 5,
      "timeout": 30,
      "max_in_flight": 64,
      "retry_after": 5
    }
  },
  "default": { "upstream": "ca"${P_DEFAULT_EXTRA:+, $P_DEFAULT_EXTRA} },
  "labels": { $labels }${P_TOP_EXTRA:+,
  $P_TOP_EXTRA}
}
EOF
}

# start_silent: start tests/tools/silent_server; sets SILENT_PID,
# SILENT_PORT, SILENT_URL and SILENT_LOG ("accepted N" / "closed N").
start_silent() {
	[ -x "${SILENT_SERVER:-}" ] || fail "no silent_server binary (SILENT_SERVER='${SILENT_SERVER:-}')"
	SILENT_LOG=$WORK/silent.log
	"$SILENT_SERVER" >"$WORK/silent.port" 2>"$SILENT_LOG" </dev/null &
	SILENT_PID=$!
	T_PIDS+=("$SILENT_PID")
	SILENT_PORT=$(wait_output head -n 1 "$WORK/silent.port")
	[ -n "$SILENT_PORT" ] || fail "silent_server printed no port"
	SILENT_URL=https://127.0.0.1:$SILENT_PORT/.well-known/est
}

# wait_grep SECONDS FILE PATTERN: until FILE has a line matching PATTERN.
wait_grep() {
	local i
	for ((i = 0; i < $1 * 10; i++)); do
		grep -q -- "$3" "$2" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# wait_output COMMAND...: COMMAND's output as soon as it is not empty,
# tried every 0.1 s for 5 s; empty if it never was.
wait_output() {
	local out="" i
	for ((i = 0; i < 50; i++)); do
		out=$("$@")
		[ -n "$out" ] && break
		sleep 0.1
	done
	printf '%s\n' "$out"
}

# sclient NAME: openssl s_client to the daemon on $XPORT, fed from fd 3
# (the fifo $WORK/NAME.in), its output in $WORK/NAME.out; sets cpid and
# t0 (now_ms at the connect).
sclient() {
	mkfifo "$WORK/$1.in"
	openssl s_client -connect "127.0.0.1:$XPORT" -servername localhost -CAfile "$TRUST" \
	    -quiet <"$WORK/$1.in" >"$WORK/$1.out" 2>&1 &
	cpid=$!
	T_PIDS+=("$cpid")
	exec 3>"$WORK/$1.in"
	t0=$(now_ms)
}

# silent_tcp_ms SECONDS: open a TCP connection to $XPORT, send nothing,
# and print how many ms passed until the daemon closed it (SECONDS at
# most).
silent_tcp_ms() {
	local t0
	t0=$(now_ms)
	timeout "$1" bash -c "exec 4<>/dev/tcp/127.0.0.1/$XPORT; cat <&4 >/dev/null" 2>/dev/null
	echo $(($(now_ms) - t0))
}

# Is the proxy still fine? The lab proxy answers cacerts and runs.
check_proxy_healthy() {
	check_alive "$PROXY_PID" "the lab proxy"
	req health GET "$EST_URL/cacerts"
	check_status 200
}

# listen_port PID: the TCP port PID listens on (IPv4), from /proc (no ss).
listen_port() {
	local inodes hex
	inodes=$(ls -l "/proc/$1/fd" 2>/dev/null | sed -n 's/.*socket:\[\([0-9]*\)\].*/\1/p' | tr '\n' ' ')
	[ -n "$inodes" ] || return 1
	hex=$(awk -v inodes=" $inodes" '
	    NR > 1 && $4 == "0A" && index(inodes, " " $10 " ") {
		split($2, a, ":"); print a[2]; exit
	    }' /proc/net/tcp 2>/dev/null)
	[ -n "$hex" ] || return 1
	echo $((16#$hex))
}

# start_recorder NAME ANSWER [UNTIL] [PORT]: a recording CA for one connection
# (openssl s_server with the lab CA's server certificate, demanding a client
# certificate that verifies to the lab root). The bytes it receives land in
# $WORK/NAME.rec, its diagnostics in $WORK/NAME.err. Once the request is in
# (a line containing the fixed string UNTIL; by default, or when UNTIL is
# "", the empty line that ends the headers, which is the whole of a GET) it
# sends the file ANSWER as it is, then holds the connection until
# "recorder_done NAME" (or 15 s). It listens on 127.0.0.1:PORT (default 0:
# any free port; a fixed one, e.g. a stopped fixed_prepare daemon's, puts it
# where a proxy already sends). REC_CERT, REC_KEY and REC_CHAIN, when set,
# replace its server certificate, key and chain. Sets REC_PID, REC_PORT,
# REC_URL (https://127.0.0.1:REC_PORT/.well-known/est) and REC_FILE.
start_recorder() {
	local name=$1 answer=$2 until=${3:-} port=${4:-0} i
	REC_FILE=$WORK/$name.rec
	: >"$REC_FILE"
	{
		for ((i = 0; i < 100; i++)); do
			if [ -n "$until" ]; then
				grep -qF -- "$until" "$REC_FILE" && break
			else
				grep -qx $'\r' "$REC_FILE" && break
			fi
			sleep 0.1
		done
		cat "$answer"
		# Hold stdin open (EOF would end s_server) until the case is done.
		for ((i = 0; i < 150; i++)); do
			[ -e "$WORK/$name.done" ] && break
			sleep 0.1
		done
	} 2>/dev/null | openssl s_server -accept "127.0.0.1:$port" -naccept 1 -quiet \
	    -cert "${REC_CERT:-$PKI_DIR/ca-server.pem}" \
	    -cert_chain "${REC_CHAIN:-$ISSUING_CERT}" \
	    -key "${REC_KEY:-$PKI_DIR/ca-server.key}" -Verify 3 -CAfile "$ROOT_CERT" \
	    >"$REC_FILE" 2>"$WORK/$name.err" &
	REC_PID=$!
	T_PIDS+=("$REC_PID")
	T_LOGS+=("$WORK/$name.err")
	REC_PORT=$(wait_output listen_port "$REC_PID")
	[ -n "$REC_PORT" ] || fail "cannot find the recording CA $name's port in /proc"
	REC_URL=https://127.0.0.1:$REC_PORT/.well-known/est
}

# recorder_done NAME: let the recording CA NAME end its connection.
recorder_done() {
	: >"$WORK/$1.done"
}

# recorded_request NAME: split what the recording CA NAME received into
# $WORK/NAME.up.hdr (request line and headers, CRLF kept) and
# $WORK/NAME.up.body.
recorded_request() {
	local rec=$WORK/$1.rec end
	end=$(grep -n -m1 $'^\r$' "$rec" | cut -d: -f1)
	[ -n "$end" ] || fail "$1: no end of headers in the recorded request: $(head -c 300 "$rec")"
	head -n "$end" "$rec" >"$WORK/$1.up.hdr"
	tail -n +"$((end + 1))" "$rec" >"$WORK/$1.up.body"
}

# ------------------------------------------------------------ policy

# ca_access_lines: how many access lines the lab's upstream CA has written
# (to show that a refused CSR never reached it).
ca_access_lines() {
	grep -c ' access ' "$CA_LOG"
}

# check_ca_unchanged BEFORE WHAT: the upstream CA has written no access
# line since ca_access_lines printed BEFORE. (The CA logs a request when
# it answers it, before the proxy can answer its client; T_CA_SETTLE, 0.2 s
# by default, covers the log write. A case making many refusals in a row
# may set it to 0 and check the whole batch once at the end.)
check_ca_unchanged() {
	local now
	sleep "${T_CA_SETTLE:-0.2}"
	now=$(ca_access_lines)
	[ "$now" = "$1" ] ||
	    fail "$2 reached the upstream CA: $(grep ' access ' "$CA_LOG" | tail -n +$(($1 + 1)) | head -c 600)"
}

# check_ca_gained BEFORE N WHAT: the upstream CA has written exactly N
# access lines since BEFORE (the positive control of check_ca_unchanged).
check_ca_gained() {
	local i now
	for ((i = 0; i < 20; i++)); do
		now=$(ca_access_lines)
		[ "$now" -ge $(($1 + $2)) ] && break
		sleep 0.1
	done
	[ "$now" = $(($1 + $2)) ] ||
	    fail "$3: the upstream CA wrote $((now - $1)) access lines, expected $2"
}

# refused NAME LABEL FILE STATUS BODY [curl args]: POST FILE to
# LABEL/simpleenroll (LABEL "" for the bare path; T_OP=simplereenroll for
# that operation); expect STATUS, a text/plain one-line error that is
# exactly BODY, an access line with upstream=-, and no request at the
# upstream CA.
refused() {
	local name=$1 label=$2 file=$3 status=$4 body=$5 before url
	shift 5
	url=$EST_URL/${label:+$label/}${T_OP:-simpleenroll}
	before=$(ca_access_lines)
	post_csr "$name" "$url" "$file" "$@"
	check_error "$status"
	check_body "$body"
	check_access "status=$status upstream=-"
	check_ca_unchanged "$before" "$name (refused by the policy)"
}

# audit_record ID [AUDITFILE]: every line of the audit log (default the
# lab proxy's AUDIT_LOG) must be a JSON object; exactly one has "id" ID.
# It lands in $WORK/audit.ID.json (the record, compact) and, field by
# field, in $WORK/audit.ID.kv; prints nothing. Fails otherwise.
audit_record() {
	local id=$1 log=${2:-$AUDIT_LOG} out
	[ -f "$log" ] || fail "no audit log $log"
	out=$(python3 "$AUDIT_LOG_PY" record "$log" "$id" "$WORK/audit.$id.json") ||
	    fail "audit log: $out"
}

# audit_field ID KEY: the field KEY of audit record ID (after
# audit_record): strings as they are, null as "null", numbers as digits,
# arrays as JSON.
audit_field() {
	awk -F '\t' -v k="$2" '$1 == k { sub(/^[^\t]*\t/, ""); print; found = 1; exit }
	    END { if (!found) print "<absent>" }' "$WORK/audit.$1.kv"
}

# check_audit_line ID DECISION RULE STATUS [UPSTREAM_STATUS]: the audit
# record of request ID (its X-Request-Id) says DECISION, RULE ("null" for
# none), STATUS and UPSTREAM_STATUS (default "null": nothing reached the
# CA). It must be there when the answer is (written before it).
check_audit_line() {
	local id=$1 k want got
	[ -n "$id" ] || fail "check_audit_line: no request id"
	audit_record "$id"
	for k in decision:$2 rule:$3 status:$4 upstream_status:${5:-null}; do
		want=${k#*:}
		got=$(audit_field "$id" "${k%%:*}")
		[ "$got" = "$want" ] ||
		    fail "audit record $id: ${k%%:*} is '$got', expected '$want': $(cat "$WORK/audit.$id.json")"
	done
}

# make_csr_key NAME KEY SUBJECT [openssl req args...]: like make_csr, with
# the key type KEY: ec:CURVE (P-256, P-384, ...), rsa:BITS, ed25519 or
# ed448; the request args add e.g. -sha384 (the default is -sha256 for
# EC/RSA; Ed25519/Ed448 take no digest) or -addext EXT.
make_csr_key() {
	local name=$1 key=$2 subj=$3 md=(-sha256) gen a
	shift 3
	case $key in
	ec:*) gen=(-algorithm EC -pkeyopt "ec_paramgen_curve:${key#ec:}") ;;
	rsa:*) gen=(-algorithm RSA -pkeyopt "rsa_keygen_bits:${key#rsa:}") ;;
	ed25519 | ed448) gen=(-algorithm "$key"); md=() ;;
	*) fail "make_csr_key: unknown key type $key" ;;
	esac
	for a in "$@"; do
		case $a in -sha* | -md5) md=() ;; esac
	done
	openssl genpkey "${gen[@]}" -out "$WORK/$name.key" 2>/dev/null ||
	    fail "genpkey $key for $name"
	openssl req -new -key "$WORK/$name.key" -subj "$subj" -config /dev/null \
	    "${md[@]}" "$@" -outform DER -out "$WORK/$name.der" ||
	    fail "openssl req $name"
	base64 -w0 "$WORK/$name.der" >"$WORK/$name.b64"
	openssl req -inform DER -in "$WORK/$name.der" -out "$WORK/$name.pem"
	openssl req -inform DER -in "$WORK/$name.der" -pubkey -noout \
	    >"$WORK/$name.pub" || fail "req -pubkey $name"
}

# cb_enroll NAME URL TLS BINDING [est_cb_client args...]: one enrollment
# by tests/tools/est_cb_client (TLS 1.2 or 1.3; BINDING correct, wrong or
# none), as the lab's Digest user unless the args hold --cert; sets
# STATUS, BODY (the response body), CB_ERR (its stderr, which names the
# binding it computed), and leaves the key in $WORK/NAME.key and its
# public key in $WORK/NAME.pub.
cb_enroll() {
	local name=$1 url=$2 tls=$3 binding=$4 auth=(--user "$EST_USER" --pass "$EST_PASS") a
	shift 4
	[ -x "${EST_CB_CLIENT:-}" ] || fail "no est_cb_client binary (EST_CB_CLIENT='${EST_CB_CLIENT:-}')"
	for a in "$@"; do
		[ "$a" = --cert ] && auth=()
	done
	BODY=$WORK/$name.body
	CB_ERR=$WORK/$name.err
	STATUS=$(timeout 20 "$EST_CB_CLIENT" --url "$url" --cafile "$TRUST" \
	    --tls "$tls" --binding "$binding" "${auth[@]}" "$@" \
	    --key-out "$WORK/$name.key" --out "$BODY" 2>"$CB_ERR") ||
	    fail "$name: est_cb_client failed: $(head -c 300 "$CB_ERR")"
	[ -f "$BODY" ] || : >"$BODY"
	openssl pkey -in "$WORK/$name.key" -pubout -out "$WORK/$name.pub" 2>/dev/null ||
	    fail "$name: est_cb_client wrote no key"
}

# ------------------------------------------------------------ offline (issue 5)

# A daemon that can be stopped and come back at the same URL (a private
# upstream CA for the outage cases, so the lab's own CA never stops).
declare -gA FIXED_PORTS=() FIXED_PIDS=() FIXED_RUNS=()

# fixed_prepare NAME [CONFIG]: CONFIG (default the lab CA's, $CA_CONFIG)
# copied to $WORK/NAME.json listening on 127.0.0.1:PORT only, PORT a free
# port found by starting it once on port 0 (that run's log is
# $WORK/NAME.0.log) and stopping it. CONFIG must listen on
# ["127.0.0.1:0"]. The daemon is left stopped; sets FIXED_PORT and
# FIXED_URL (https://127.0.0.1:PORT/.well-known/est).
fixed_prepare() {
	local name=$1 src=${2:-$CA_CONFIG} n
	n=$(grep -c '"127\.0\.0\.1:0"' "$src")
	[ "$n" = 1 ] || fail "fixed_prepare: $src does not listen on \"127.0.0.1:0\" alone"
	cp "$src" "$WORK/$name.json"
	start_estrad "$name.0" "$WORK/$name.json"
	FIXED_PORT=$XPORT
	stop_pid "$XPID"
	running "$XPID" && fail "fixed_prepare: cannot stop $name"
	sed "s/\"127\.0\.0\.1:0\"/\"127.0.0.1:$FIXED_PORT\"/" "$src" >"$WORK/$name.json"
	grep -q "\"127\.0\.0\.1:$FIXED_PORT\"" "$WORK/$name.json" ||
	    fail "fixed_prepare: could not set the port in $WORK/$name.json"
	FIXED_PORTS[$name]=$FIXED_PORT
	FIXED_RUNS[$name]=0
	FIXED_URL=https://127.0.0.1:$FIXED_PORT/.well-known/est
}

# fixed_start NAME: start NAME (see fixed_prepare) on its port; returns
# once it logged "listening on 127.0.0.1:PORT". Run N (1, 2, ...) logs
# to $WORK/NAME.N.log; sets FIXED_PID, FIXED_LOG (this run's log) and
# FIXED_URL.
fixed_start() {
	local name=$1 n
	[ -n "${FIXED_PORTS[$name]:-}" ] || fail "fixed_start: $name was not prepared"
	n=$((FIXED_RUNS[$name] + 1))
	FIXED_RUNS[$name]=$n
	start_estrad "$name.$n" "$WORK/$name.json"
	[ "$XPORT" = "${FIXED_PORTS[$name]}" ] ||
	    fail "fixed_start: $name listens on $XPORT, not ${FIXED_PORTS[$name]}"
	FIXED_PIDS[$name]=$XPID
	FIXED_PID=$XPID
	FIXED_LOG=$XLOG
	FIXED_URL=https://127.0.0.1:$XPORT/.well-known/est
}

# fixed_stop NAME: stop NAME (TERM, then KILL); it no longer listens.
fixed_stop() {
	local pid=${FIXED_PIDS[$1]:-}
	[ -n "$pid" ] || return 0
	stop_pid "$pid"
	running "$pid" && fail "fixed_stop: cannot stop $1 (pid $pid)"
	FIXED_PIDS[$1]=
}

# fixed_count NAME REGEX: how many lines of all of NAME's logs (every
# run but the port probe) match the grep -E REGEX.
fixed_count() {
	local name=$1 re=$2 i total=0 c
	for ((i = 1; i <= ${FIXED_RUNS[$name]:-0}; i++)); do
		c=$(grep -cE -- "$re" "$WORK/$name.$i.log" 2>/dev/null)
		total=$((total + ${c:-0}))
	done
	echo "$total"
}

# enroll_lines NAME: access lines of simpleenroll/simplereenroll answered
# 200 in NAME's logs (fixed_count): certificates that CA issued.
enroll_lines() {
	fixed_count "$1" ' access .* path=/\.well-known/est/(.*/)?simple(re)?enroll .*status=200 '
}

# proxy_config_urls FILE URL...: proxy_config (every P_* variable
# applies but P_URL), with the upstream "ca" given the list of URLs as a
# JSON array ("url": ["URL1", "URL2", ...]).
proxy_config_urls() {
	local file=$1 json='' u
	shift
	for u in "$@"; do
		json="$json${json:+, }\"$u\""
	done
	P_URL=__ESTRAD_TEST_URLS__ proxy_config "$file"
	sed -i "s|\"__ESTRAD_TEST_URLS__\"|[$json]|" "$file"
	grep -qF "[$json]" "$file" || fail "proxy_config_urls: no URL list in $file"
}

# offline_top STATE_DIR [CACHE_JSON] [QUEUE_JSON] [AUDIT_FILE]: a
# P_TOP_EXTRA value: "state_dir", plus "cache" and "queue" sections
# (their members, e.g. '"ttl": 2') when given (an empty string leaves the
# section out; "{}" gives an empty one, all defaults) and "audit" to
# AUDIT_FILE. Prints it.
offline_top() {
	local out="\"state_dir\": \"$1\""
	[ -n "${2:-}" ] && out="$out, \"cache\": { ${2#\{\}} }"
	[ -n "${3:-}" ] && out="$out, \"queue\": { ${3#\{\}} }"
	[ -n "${4:-}" ] && out="$out, \"audit\": { \"file\": \"$4\", \"stderr\": false }"
	printf '%s\n' "$out"
}

# check_queued [STATE]: the last response is the 202 of a queued
# request: text/plain "queued as ID (STATE): ..." (STATE default
# pending) with a Retry-After of whole seconds; sets QID and RETRY_AFTER.
check_queued() {
	local state=${1:-pending}
	check_error 202 "queued as "
	QID=$(sed -n "s/^queued as \([0-9][0-9]*\) ($state).*/\1/p" "$BODY")
	[ -n "$QID" ] ||
	    fail "$(basename "$BODY" .body): body '$(head -c 200 "$BODY")' is not 'queued as ID ($state): ...'"
	has_header Retry-After || fail "$(basename "$HDR"): a 202 without Retry-After"
	RETRY_AFTER=$(header Retry-After)
	[[ $RETRY_AFTER =~ ^[1-9][0-9]*$ ]] ||
	    fail "$(basename "$HDR"): Retry-After '$RETRY_AFTER' is not a number of seconds"
}

# wait_queue_state SECONDS LOG ID STATE: until LOG has the line of queue
# entry ID becoming STATE ("queue: entry ID (...) is STATE: why"; for
# purged also "queue: entry ID was purged ...").
wait_queue_state() {
	local re="queue: entry $3 .*is $4"
	[ "$4" = purged ] && re="queue: entry $3 .*purged"
	wait_grep "$1" "$2" "$re" ||
	    fail "no 'queue: entry $3 ... is $4' in $(basename "$2") within $1 s: $(grep "queue: entry $3 " "$2" | tail -n 3)"
}

# audit_queue_states FILE ID: the states of the queue audit lines
# ({"event":"queue","queue_id":ID,"state":...}) of FILE, in file order,
# space-separated; fails if a line is not a JSON object.
audit_queue_states() {
	local out
	[ -f "$1" ] || fail "no audit file $1"
	out=$(python3 "$AUDIT_LOG_PY" queue-states "$1" "$2") ||
	    fail "audit file: $out"
	printf '%s\n' "$out"
}

# lockout_proxy NAME USERS WINDOW: start a proxy NAME whose Digest users
# are the file USERS and which locks a user, or an address, out after 3
# failures within WINDOW seconds. Sets LOG.
lockout_proxy() {
	P_AUTH="\"digest_users\": \"$2\", \"max_failures\": 3, \"failure_window\": $3" \
	    proxy_config "$WORK/proxy.json"
	start_estrad "$1" "$WORK/proxy.json"
	LOG=$XLOG
}

# digest_from NAME ADDR USER PASS: curl --digest as USER:PASS from ADDR
# (not the lab's credentials) posting $WORK/dev.b64 to the proxy's
# simpleenroll; STATUS etc. as from req. digest_from_ok: the same, which
# must issue dev's certificate (enroll_ok).
digest_from() {
	T_AUTH=none post_csr "$1" "$XURL/simpleenroll" "$WORK/dev.b64" \
	    --interface "$2" --digest -u "$3:$4"
}

digest_from_ok() {
	T_AUTH=none enroll_ok "$1" "$XURL/simpleenroll" "$WORK/dev.b64" dev \
	    "$ISSUING_CERT" --interface "$2" --digest -u "$3:$4"
}

# check_audit_states FILE ID STATES: the queue audit lines of entry ID
# in FILE give exactly STATES ("pending issued delivered").
check_audit_states() {
	local states
	states=$(audit_queue_states "$1" "$2")
	[ "$states" = "$3" ] ||
	    fail "audit states of entry $2: '$states', expected '$3'"
}

# offline_queued NAME CN UPSTREAM_EXTRA: one request queued behind a
# private CA that is down (docs/offline.md): the fixed CA "ca" prepared,
# not started; a proxy to it with the upstream settings UPSTREAM_EXTRA, a
# queue (retry_after 5) and an audit file; NAME's new P-256 key asks for
# /CN=CN (Digest simpleenroll, request NAME1) and is queued. Sets port
# (the CA's), audit, plog, purl, ppid, cfg and id.
offline_queued() {
	local name=$1 cn=$2 extra=$3
	fixed_prepare ca
	port=$FIXED_PORT audit=$WORK/audit.jsonl
	P_URL=$FIXED_URL P_UPSTREAM_EXTRA=$extra \
	    P_TOP_EXTRA=$(offline_top "$WORK/state" "" '"retry_after": 5' "$audit") \
	    proxy_config "$WORK/proxy.json"
	start_estrad proxy "$WORK/proxy.json"
	plog=$XLOG purl=$XURL ppid=$XPID cfg=$WORK/proxy.json
	make_csr_key "$name" ec:P-256 "/CN=$cn"
	post_csr "${name}1" "$purl/simpleenroll" "$WORK/$name.b64"
	check_queued pending
	id=$QID
}

# offline_retry_queued NAME: NAME's retry (request NAME2) is queued
# again, as entry $id (see offline_queued).
offline_retry_queued() {
	post_csr "${1}2" "$purl/simpleenroll" "$WORK/$1.b64"
	check_queued pending
	[ "$QID" = "$id" ] || fail "the retry was queued as $QID, not as $id"
}

# offline_collect NAME: the real CA back on its port (see offline_queued):
# entry $id is issued, NAME's next retry (request NAME3) gets 200 and
# the certificate, and the audit says pending, issued, delivered.
offline_collect() {
	fixed_start ca
	wait_queue_state 15 "$plog" "$id" issued
	enroll_ok "${1}3" "$purl/simpleenroll" "$WORK/$1.b64" "$1" "$ISSUING_CERT"
	wait_queue_state 5 "$plog" "$id" delivered
	check_audit_states "$audit" "$id" "pending issued delivered"
}

# audit_request_field FILE RID KEY: field KEY of the request record of
# request RID (its X-Request-Id: "id", and no "event") in FILE; strings
# as they are, null as "null", "<absent>" when missing, "<none>" when
# there is no such record (and "<many>" when more than one).
audit_request_field() {
	python3 "$AUDIT_LOG_PY" request-field "$1" "$2" "$3"
}

# kill9 PID: SIGKILL and reap; PID is gone afterwards.
kill9() {
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null || true
	running "$1" && fail "pid $1 survived SIGKILL"
}

# ------------------------------------------------------------ queue: the CA's answers

# seed_pkcs7 FILE: the seed exchange's certs-only PKCS#7 (tests/data), as
# base64 in 64-column lines: a valid answer for a recording CA to give.
seed_pkcs7() {
	local src=$TEST_DATA/seed-pkcs7.b64
	[ -s "$src" ] || fail "no $src"
	tr -d ' ' <"$src" | base64 -d >"$1.der" || fail "cannot decode $src"
	base64 -w 64 "$1.der" >"$1"
	rm -f "$1.der"
}

# http_answer FILE STATUS BODYFILE [HEADER...]: write to FILE, for
# start_recorder, the HTTP/1.1 answer "HTTP/1.1 STATUS" with each HEADER
# ("Name: value"), a Content-Length of BODYFILE's size and "Connection:
# close" (CRLF line ends), then BODYFILE's bytes.
http_answer() {
	local file=$1 status=$2 body=$3 h
	shift 3
	[ -f "$body" ] || fail "http_answer: no body file $body"
	{
		printf 'HTTP/1.1 %s\r\n' "$status"
		for h in "$@"; do
			printf '%s\r\n' "$h"
		done
		printf 'Content-Length: %s\r\nConnection: close\r\n\r\n' \
		    "$(stat -c %s "$body")"
		cat "$body"
	} >"$file"
}

# queue_row CONFIG ID: entry ID as `estrad -c CONFIG queue list --all`
# shows it (what is on disk); sets Q_ROW (the line), Q_STATE, Q_ATTEMPTS,
# Q_CA (the CA's last status, "-" for none) and Q_NOTE, all empty when ID
# is not listed. The entry's subject must hold no blank (columns are split
# on blanks).
queue_row() {
	local out rc
	out=$(timeout 20 "$ESTRAD_BIN" -c "$1" queue list --all 2>"$WORK/queue_row.err")
	rc=$?
	[ "$rc" = 0 ] ||
	    fail "estrad -c $1 queue list --all exited $rc: $(head -c 300 "$WORK/queue_row.err")"
	Q_ROW=$(printf '%s\n' "$out" | awk -v id="$2" '$1 == id')
	Q_STATE='' Q_ATTEMPTS='' Q_CA='' Q_NOTE=''
	[ -n "$Q_ROW" ] || return 0
	# ID STATE LABEL OP IDENTITY SUBJECT SANS AGE NEXT ATTEMPTS RECEIVED CA
	# REQUEST NOTE...
	read -r _ Q_STATE _ _ _ _ _ _ _ Q_ATTEMPTS _ Q_CA _ Q_NOTE <<<"$Q_ROW"
}

# wait_queue_ca SECONDS CONFIG ID STATUS: until `queue list` shows the
# CA's STATUS for entry ID (the forwarder's answer is on disk); sets what
# queue_row sets.
wait_queue_ca() {
	local i
	for ((i = 0; i < $1 * 5; i++)); do
		queue_row "$2" "$3"
		[ "$Q_CA" = "$4" ] && return 0
		sleep 0.2
	done
	fail "entry $3: no CA status $4 on disk within $1 s: queue list says '$Q_ROW'"
}

# hup_wait WHAT PID LOG PATTERN: SIGHUP PID, then wait (5 s) for one more
# line of LOG holding the fixed string PATTERN; fail naming WHAT, with the
# last reload lines.
hup_wait() {
	local n i
	n=$(grep -cF -- "$4" "$3")
	kill -HUP "$2"
	for ((i = 0; i < 50; i++)); do
		[ "$(grep -cF -- "$4" "$3")" -gt "$n" ] && return 0
		sleep 0.1
	done
	fail "$1: no new '$4' line in $3 after SIGHUP: $(grep 'reload' "$3" | tail -n 3)"
}

# start_drip_ca NAME MODE [ARG...]: tests/tools/drip_ca.py MODE [ARG...]
# (a CA with the lab CA's certificate that misbehaves as MODE says)
# serving one connection; what it prints (its port, then "request", ...)
# goes to $WORK/NAME.ca. Sets DRIP_URL.
start_drip_ca() {
	local name=$1 port
	shift
	python3 "$(dirname "${BASH_SOURCE[0]}")/../tools/drip_ca.py" "$1" \
	    "$PKI_DIR/ca-server-chain.pem" "$PKI_DIR/ca-server.key" "$ROOT_CERT" \
	    "${@:2}" >"$WORK/$name.ca" 2>"$WORK/$name.err" &
	T_PIDS+=("$!")
	T_LOGS+=("$WORK/$name.err")
	port=$(wait_output head -n 1 "$WORK/$name.ca")
	[ -n "$port" ] || fail "drip_ca.py $1 printed no port: $(cat "$WORK/$name.err")"
	DRIP_URL=https://127.0.0.1:$port/.well-known/est
}

# start_weak_ca [OPTION...]: tests/tools/weak_ca (a CA with K worker slots
# behind a front that answers 504 after --timeout-ms; collapses under a
# storm) with the lab's PKI: the issuing CA issues, the upstream's server
# certificate (valid for 127.0.0.1) serves TLS, and the lab root is the
# --client-ca, so estrad's RA certificate is accepted. OPTIONs come last and
# win (--workers, --service-ms, --timeout-ms, ...). Its output goes to
# $WORK/weak_ca.out, its errors to $WORK/weak_ca.err. Sets WCA_PID,
# WCA_URL (https://127.0.0.1:PORT/.well-known/est) and WCA_CTL
# (http://127.0.0.1:PORT, the control listener: weak_ca_stat, weak_ca_ctl).
start_weak_ca() {
	local i port= ctl= out=$WORK/weak_ca.out
	[ -x "${WEAK_CA:-}" ] || fail "no weak_ca binary (WEAK_CA='${WEAK_CA:-}')"
	"$WEAK_CA" --listen 127.0.0.1:0 --control 127.0.0.1:0 \
	    --cert "$PKI_DIR/ca-server-chain.pem" --key "$PKI_DIR/ca-server.key" \
	    --ca-cert "$PKI_DIR/issuing.pem" --ca-key "$PKI_DIR/issuing.key" \
	    --client-ca "$ROOT_CERT" "$@" >"$out" 2>"$WORK/weak_ca.err" </dev/null &
	WCA_PID=$!
	T_PIDS+=("$WCA_PID")
	T_LOGS+=("$WORK/weak_ca.err")
	for ((i = 0; i < 50; i++)); do
		port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$out")
		ctl=$(sed -n 's/^control on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$out")
		[ -n "$port" ] && [ -n "$ctl" ] && break
		running "$WCA_PID" || break
		sleep 0.1
	done
	[ -n "$port" ] && [ -n "$ctl" ] ||
	    fail "weak_ca printed no ports: $(cat "$out" "$WORK/weak_ca.err")"
	WCA_URL=https://127.0.0.1:$port/.well-known/est
	WCA_CTL=http://127.0.0.1:$ctl
}

# weak_ca_ctl PATH: GET PATH on weak_ca's control listener (/stats,
# /reset, /set?k=8&service_ms=...); prints the answer, fails unless 200.
weak_ca_ctl() {
	local out
	out=$(curl -sS -f --max-time 5 "$WCA_CTL$1" 2>&1) ||
	    fail "weak_ca control $1: $out"
	printf '%s\n' "$out"
}

# weak_ca_stat FIELD: one field of weak_ca's /stats (a number).
weak_ca_stat() {
	weak_ca_ctl /stats | python3 -c \
	    'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1" ||
	    fail "weak_ca /stats has no field $1"
}

# weak_ca_drain SECONDS: until weak_ca's application holds no request (the
# work it still owes for requests given up on is done).
weak_ca_drain() {
	local i
	for ((i = 0; i < $1 * 10; i++)); do
		[ "$(weak_ca_stat in_system)" = 0 ] && return 0
		sleep 0.1
	done
	fail "weak_ca still holds $(weak_ca_stat in_system) requests after $1 s"
}

# ------------------------------------------------------------ PostgreSQL and replicas (issue 19)

# The cases of ESTRAD_PG_CASES (tests/integration/CMakeLists.txt) run with
# a throwaway PostgreSQL cluster (tests/tools/pgcluster, the estrad_pg
# fixture) in ESTRAD_PG_DIR. pg_reset gives a case an empty database.
ESTRAD_PGCLUSTER=${ESTRAD_PGCLUSTER:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../tools" && pwd)/pgcluster}

# pg_env: source $ESTRAD_PG_DIR/pg.env: PG_HOST, PG_PORT, PG_DB, PG_USER,
# PG_PASSWORD_FILE, PG_CA, PG_SOCKET_DIR, PG_DATA, PG_LOG (the server's
# log, shown with the others when the case fails).
pg_env() {
	[ -n "${ESTRAD_PG_DIR:-}" ] ||
	    fail "ESTRAD_PG_DIR is not set: list this case in ESTRAD_PG_CASES (tests/integration/CMakeLists.txt), or export it after 'tests/tools/pgcluster start DIR'"
	[ -f "$ESTRAD_PG_DIR/pg.env" ] ||
	    fail "no $ESTRAD_PG_DIR/pg.env: did 'tests/tools/pgcluster start $ESTRAD_PG_DIR' (integration_pg_up) run?"
	# shellcheck disable=SC1091
	. "$ESTRAD_PG_DIR/pg.env"
	case " ${T_LOGS[*]} " in
	*" $PG_LOG "*) ;;
	*) T_LOGS+=("$PG_LOG") ;;
	esac
}

pg_need() {
	[ -n "${PG_PORT:-}" ] || pg_env
}

# pg_reset: drop and recreate the database estrad (connections still open
# to it are ended): this case starts on an empty database.
pg_reset() {
	local out
	pg_need
	out=$("$ESTRAD_PGCLUSTER" reset "$ESTRAD_PG_DIR" 2>&1) ||
	    fail "pgcluster reset: $out"
}

# pg_store_json [MEMBERS]: print the JSON object of estrad's "store"
# section for the cluster (verify-full against its CA), with MEMBERS
# (e.g. '"lease": 5') added. The password is copied to $WORK/pg.password,
# mode 0600 and owned by this user, as estrad's secret check wants (a case
# that runs estrad as another "user" must chown it). Use:
#   P_TOP_EXTRA="\"store\": $(pg_store_json)" proxy_config FILE
pg_store_json() {
	pg_need
	(umask 077 && cp "$PG_PASSWORD_FILE" "$WORK/pg.password") ||
	    fail "cannot copy $PG_PASSWORD_FILE to $WORK/pg.password"
	chmod 600 "$WORK/pg.password"
	printf '{ "backend": "postgresql", "conninfo": "host=%s port=%s dbname=%s user=%s", "password_file": "%s", "sslmode": "verify-full", "ssl_root_cert": "%s"%s }\n' \
	    "$PG_HOST" "$PG_PORT" "$PG_DB" "$PG_USER" "$WORK/pg.password" \
	    "$PG_CA" "${1:+, $1}"
}

# pg_psql SQL...: each SQL (one -c each) as the superuser against the
# database estrad, over the socket; unaligned tuples only, no notices.
# Returns psql's status (stops at the first error), its errors on stderr.
pg_psql() {
	local a args=()
	pg_need
	for a in "$@"; do
		args+=(-c "$a")
	done
	"$ESTRAD_PGCLUSTER" psql "$ESTRAD_PG_DIR" -q -A -t -v ON_ERROR_STOP=1 "${args[@]}"
}

# pg_outage SECONDS: take the database away for SECONDS (`pgcluster
# restart DIR SECONDS` in the background: a fast shutdown, which ends
# every session, then the same port again); returns once it is down.
# pg_back waits (SECONDS + 20 s at most) until it is up again.
pg_outage() {
	local i
	pg_need
	"$ESTRAD_PGCLUSTER" restart "$ESTRAD_PG_DIR" "$1" >"$WORK/pg_outage.out" 2>&1 &
	# Not in T_PIDS: a case that fails meanwhile leaves the restart to end
	# by itself, so the next case finds the database up.
	PG_OUTAGE_PID=$!
	for ((i = 0; i < 100; i++)); do
		"$ESTRAD_PGCLUSTER" status "$ESTRAD_PG_DIR" >/dev/null 2>&1 || return 0
		running "$PG_OUTAGE_PID" ||
		    fail "pgcluster restart ended before the database went down: $(cat "$WORK/pg_outage.out")"
		sleep 0.1
	done
	fail "the database did not go down within 10 s"
}

pg_back() {
	wait "$PG_OUTAGE_PID" ||
	    fail "pgcluster restart: $(cat "$WORK/pg_outage.out")"
	"$ESTRAD_PGCLUSTER" status "$ESTRAD_PG_DIR" >/dev/null 2>&1 ||
	    fail "the database is not up after pgcluster restart"
}

# free_port: a TCP port free on 127.0.0.1 now (for a daemon that cannot
# take port 0: HAProxy, or a replica that must come back where it was).
free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# Replicas: N estrads from one CONFIG behind HAProxy (replicas_start).
declare -ga REP_PID=() REP_LOG=() REP_PORT=() REP_URL=() REP_ADMIN=() \
    REP_STATE=() REP_RUNS=()
REP_CONFIG='' HA_PID='' HA_PORT='' HA_URL='' HA_LOG='' HA_CFG=''

# replica_run I: start replica I from $REP_CONFIG on its own port
# (ESTRAD_LISTEN), admin port (ESTRAD_ADMIN_LISTEN, when CONFIG has an
# "admin" section) and state_dir (ESTRAD_STATE_DIR, when CONFIG has one);
# its output is appended to REP_LOG[I]; returns 1 if it did not listen on
# its port within 10 s (it exited: the port was taken), with REP_PID[I]
# stopped.
replica_run() {
	local i=$1 before k env=()
	env=(ESTRAD_LISTEN="127.0.0.1:${REP_PORT[i]}")
	[ -z "${REP_ADMIN[i]}" ] ||
	    env+=(ESTRAD_ADMIN_LISTEN="127.0.0.1:${REP_ADMIN[i]}")
	[ -z "${REP_STATE[i]}" ] || env+=(ESTRAD_STATE_DIR="${REP_STATE[i]}")
	REP_RUNS[i]=$((${REP_RUNS[i]:-0} + 1))
	echo "==== replicas: r$i run ${REP_RUNS[i]}" >>"${REP_LOG[i]}"
	before=$(grep -cF "listening on 127.0.0.1:${REP_PORT[i]}" "${REP_LOG[i]}")
	env "${env[@]}" setsid "$ESTRAD_BIN" -c "$REP_CONFIG" </dev/null \
	    >>"${REP_LOG[i]}" 2>&1 &
	REP_PID[i]=$!
	T_PIDS+=("${REP_PID[i]}")
	for ((k = 0; k < 100; k++)); do
		[ "$(grep -cF "listening on 127.0.0.1:${REP_PORT[i]}" "${REP_LOG[i]}")" -gt "$before" ] &&
		    return 0
		running "${REP_PID[i]}" || break
		sleep 0.1
	done
	stop_pid "${REP_PID[i]}"
	return 1
}

# replicas_start N CONFIG: N estrads from the same CONFIG file (which may
# listen on 127.0.0.1:0: each replica gets a fixed port of its own, chosen
# here, so a restarted one comes back where HAProxy expects it), then
# HAProxy in front of them (tests/tools/haproxy_cfg: TCP mode, round robin,
# a TCP check every 500 ms, redispatch; HA_MAXCONN, default 4096, its
# maxconn). Replica I (1..N) logs to $WORK/rI.log; with an
# "admin" section, it gets an admin port of its own; with a "state_dir",
# its own state_dir STATE_DIR.rI (SQLite allows one daemon per state_dir).
# Sets REP_PID[I], REP_LOG[I], REP_PORT[I], REP_URL[I]
# (https://127.0.0.1:PORT/.well-known/est), REP_ADMIN[I] (the admin port,
# or empty), REP_STATE[I], HA_PORT, HA_URL (the same through HAProxy),
# HA_PID, HA_LOG (HAProxy's log: "estrad/rI is DOWN" and its connection
# lines) and HA_CFG. Everything is stopped when the case ends. Fails when
# a replica or HAProxy does not start.
replicas_start() {
	local n=$1 cfg=$2 i k tries info admin state
	command -v haproxy >/dev/null 2>&1 ||
	    fail "no haproxy (Debian package haproxy, in tools/install-deps)"
	[ -f "$cfg" ] || fail "replicas_start: no config $cfg"
	info=$(python3 -c 'import json, sys
c = json.load(open(sys.argv[1]))
print("admin" if "admin" in c else "-", c.get("state_dir") or "-")' "$cfg") ||
	    fail "replicas_start: $cfg is not JSON"
	read -r admin state <<<"$info"
	REP_CONFIG=$cfg
	for ((i = 1; i <= n; i++)); do
		REP_LOG[i]=$WORK/r$i.log
		: >"${REP_LOG[i]}"
		T_LOGS+=("${REP_LOG[i]}")
		REP_STATE[i]=
		[ "$state" = - ] || REP_STATE[i]=${state%/}.r$i
		for ((tries = 0; ; tries++)); do
			[ "$tries" -lt 3 ] ||
			    fail "replica r$i did not start: $(tail -n 5 "${REP_LOG[i]}")"
			REP_PORT[i]=$(free_port) || fail "python3 found no free port"
			REP_ADMIN[i]=
			[ "$admin" = - ] || REP_ADMIN[i]=$(free_port) ||
			    fail "python3 found no free port"
			replica_run "$i" && break
		done
		REP_URL[i]=https://127.0.0.1:${REP_PORT[i]}/.well-known/est
	done
	HA_LOG=$WORK/haproxy.log HA_CFG=$WORK/haproxy.cfg
	T_LOGS+=("$HA_LOG")
	HA_PID=
	for ((tries = 0; tries < 3; tries++)); do
		HA_PORT=$(free_port) || fail "python3 found no free port"
		"$(dirname "${BASH_SOURCE[0]}")/../tools/haproxy_cfg" "$HA_PORT" \
		    "${HA_MAXCONN:-4096}" "${REP_PORT[@]}" >"$HA_CFG" ||
		    fail "tests/tools/haproxy_cfg failed"
		haproxy -c -f "$HA_CFG" >"$WORK/haproxy.check" 2>&1 ||
		    fail "haproxy -c $HA_CFG: $(tail -n 5 "$WORK/haproxy.check")"
		haproxy -db -f "$HA_CFG" </dev/null >>"$HA_LOG" 2>&1 &
		HA_PID=$!
		T_PIDS+=("$HA_PID")
		for ((k = 0; k < 50; k++)); do
			[ "$(listen_port "$HA_PID")" = "$HA_PORT" ] && break 2
			running "$HA_PID" || break
			sleep 0.1
		done
		stop_pid "$HA_PID"	# the port was taken meanwhile: another
		HA_PID=
	done
	[ -n "$HA_PID" ] || fail "haproxy did not start: $(tail -n 5 "$HA_LOG")"
	HA_URL=https://127.0.0.1:$HA_PORT/.well-known/est
	note "haproxy on $HA_PORT -> replicas ${REP_PORT[*]}"
}

# replica_up I: until HAProxy's log says replica I is up (as many "is UP"
# as "is DOWN" lines for it), 5 s.
replica_up() {
	local k down up
	for ((k = 0; k < 50; k++)); do
		down=$(grep -c "estrad/r$1 is DOWN" "$HA_LOG")
		up=$(grep -c "estrad/r$1 is UP" "$HA_LOG")
		[ "$up" -ge "$down" ] && return 0
		sleep 0.1
	done
	fail "haproxy did not mark r$1 UP within 5 s: $(grep "estrad/r$1 " "$HA_LOG" | tail -n 2)"
}

# replica_kill9 I: SIGKILL replica I, then wait (5 s) until HAProxy's check
# took it out ("estrad/rI is DOWN").
replica_kill9() {
	local n k
	n=$(grep -c "estrad/r$1 is DOWN" "$HA_LOG")
	kill9 "${REP_PID[$1]}"
	for ((k = 0; k < 50; k++)); do
		[ "$(grep -c "estrad/r$1 is DOWN" "$HA_LOG")" -gt "$n" ] && return 0
		sleep 0.1
	done
	fail "haproxy did not mark r$1 DOWN within 5 s of its kill -9"
}

# replica_restart I: stop replica I if it runs (SIGTERM), start it again
# from the same config on the same ports (its log goes on in REP_LOG[I]),
# and wait until HAProxy has it back.
replica_restart() {
	running "${REP_PID[$1]}" && stop_pid "${REP_PID[$1]}"
	replica_run "$1" ||
	    fail "replica r$1 did not come back on port ${REP_PORT[$1]}: $(tail -n 5 "${REP_LOG[$1]}")"
	replica_up "$1"
}

# replica_of_request PATTERN: the replica (1..N) whose log has a line
# holding the fixed string PATTERN, e.g. " access id=$RID "; waits 2 s.
# Prints it; returns 1 (and prints nothing) when none has.
replica_of_request() {
	local i k
	for ((k = 0; k < 20; k++)); do
		for ((i = 1; i <= ${#REP_LOG[@]}; i++)); do
			grep -qF -- "$1" "${REP_LOG[i]}" && { echo "$i"; return 0; }
		done
		sleep 0.1
	done
	return 1
}

# replica_served NAME: the replica that answered the last response (by its
# X-Request-Id); sets R.
replica_served() {
	local rid
	rid=$(header X-Request-Id)
	[ -n "$rid" ] || fail "$1: no X-Request-Id"
	R=$(replica_of_request " access id=$rid ") ||
	    fail "$1: no replica logged request $rid"
}

# stop_clean PID NAME LOG: SIGTERM to PID (a daemon this case started); it
# exits 0 within 10 s, and LOG holds no sanitizer report (ASan's leak
# check runs at exit).
stop_clean() {
	kill -TERM "$1" 2>/dev/null
	exit_status "$1" "$2"
	[ "$RC" = 0 ] || fail "$2 exited $RC after SIGTERM"
	! grep -E "$SANITIZER_RE" "$3" || fail "$2: sanitizer report in $(basename "$3")"
}

# ------------------------------------------------------------ the shared queue (issue 19)

# pg_queue_field FIELD [ID]: FIELD of estrad_queue's row ID (default: the
# first row).
pg_queue_field() {
	if [ -n "${2:-}" ]; then
		pg_psql "SELECT $1 FROM estrad_queue WHERE id = $2"
	else
		pg_psql "SELECT $1 FROM estrad_queue ORDER BY id LIMIT 1"
	fi
}

# pg_wait_row SECONDS WHAT CONDITION: until one row of estrad_queue meets
# the SQL CONDITION; fails naming WHAT, with the rows, if none does.
pg_wait_row() {
	local k
	for ((k = 0; k < $1 * 10; k++)); do
		[ "$(pg_psql "SELECT count(*) FROM estrad_queue WHERE $3")" = 1 ] &&
		    return 0
		sleep 0.1
	done
	fail "$2: not within $1 s: $(pg_psql 'SELECT id, state, attempts, lease_owner, lease_until - estrad_now(), note FROM estrad_queue')"
}

# pg_queue_config FILE URL TIMEOUT BACKOFF [TOP_EXTRA]: a proxy_config
# whose upstream "ca" is URL (connect_timeout and timeout TIMEOUT seconds;
# its breakers' backoff_initial BACKOFF seconds, backoff_max BACKOFF or 1,
# whichever is more), with a queue (retry_after 5) on the shared store with
# a 5 s lease (pg_store_json) and TOP_EXTRA's members.
pg_queue_config() {
	local max=1 store
	[ "${4%.*}" -ge 1 ] 2>/dev/null && max=$4
	store=$(pg_store_json '"lease": 5')
	P_URL=$2 P_CONNECT_TIMEOUT=$3 P_TIMEOUT=$3 \
	    P_UPSTREAM_EXTRA="\"backoff_initial\": $4, \"backoff_max\": $max" \
	    P_TOP_EXTRA="\"queue\": { \"retry_after\": 5, \"expire\": 600 }, \"store\": $store${5:+, $5}" \
	    proxy_config "$1"
}

# start_mute PORT: a listener on 127.0.0.1:PORT that accepts connections
# and never says a word (a send to it hangs in the TLS handshake, until
# the upstream's connect_timeout). Unlike start_silent, on a port chosen
# before (an upstream that was refused there first).
start_mute() {
	python3 -c 'import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(64)
print("listening", flush=True)
time.sleep(300)' "$1" >"$WORK/mute.log" 2>&1 &
	T_PIDS+=("$!")
	wait_grep 5 "$WORK/mute.log" listening ||
	    fail "the mute listener did not start on $1: $(cat "$WORK/mute.log")"
}

# ------------------------------------------------------------ EST over CoAP (issue 20)

# coap_port LOG: the port of the first "coap listening on 127.0.0.1:PORT"
# line (5 s); sets CPORT.
coap_port() {
	CPORT=$(named_port "$1" coap)
	[ -n "$CPORT" ] || fail "no 'coap listening on 127.0.0.1:PORT' in $(basename "$1")"
}

# coap_proxy NAME [COAP_MEMBERS]: an extra proxy (proxy_config: every P_*
# variable applies; P_TOP_EXTRA is kept) with a "coap" section listening
# on 127.0.0.1:0 (COAP_MEMBERS: more members, e.g. '"max_body_bytes":
# 4096') and the lab CRLs (tls.client_crl, unless P_TLS_EXTRA is set);
# started. client_ca is the lab root alone: coap-client-openssl (libcoap
# 4.3.1) sends its leaf certificate without the chain of its -c file, and
# the daemon completes it from the intermediates it knows (the RA chain's
# issuing CA; tls.client_intermediates), as on HTTPS. Sets what
# start_estrad sets, CPORT and COAPS (its
# coaps://127.0.0.1:CPORT/.well-known/est).
coap_proxy() {
	local coap="\"coap\": { \"listen\": \"127.0.0.1:0\"${2:+, $2} }"
	P_TLS_EXTRA=${P_TLS_EXTRA:-"\"client_crl\": \"$CRL\""} \
	    P_TOP_EXTRA="${P_TOP_EXTRA:+$P_TOP_EXTRA, }$coap" \
	    proxy_config "$WORK/$1.json"
	start_estrad "$1" "$WORK/$1.json"
	coap_port "$XLOG"
	COAPS=coaps://127.0.0.1:$CPORT/.well-known/est
}

# coap NAME URI [coap-client args...]: one request by Debian's
# coap-client-openssl (libcoap3-bin, a client nobody here wrote), verifying
# the server against the lab root (-R), waiting T_COAP_WAIT s (-B, default
# 15) at verbosity 6, which prints the header of every message sent and
# received ("v:1 t:ACK c:2.05 i:... {token} [ options ] :: payload").
# The args give the rest: -m post, -f FILE, -t 286, -A 287, -b 64, -c CERT
# -j KEY. A 2.xx payload (every block of it) lands in $WORK/NAME.body;
# the client's stdout (its log and the headers) in $WORK/NAME.out, its
# stderr (where it prints "4.03 DIAGNOSTIC" for an error) in
# $WORK/NAME.err. Sets:
#   CODE  the code of the last answer, e.g. 2.05 or 4.03 ("none": no
#         answer, e.g. a failed DTLS handshake; coap-client exits 0 then
#         too, so its status says nothing)
#   DIAG  an error's diagnostic payload, as coap-client printed it (bytes
#         that are not printable become '.')
#   OPTS  the options of the last answer, e.g. "Content-Format:281,
#         Block2:3/_/64, Size2:620"
#   BODY  $WORK/NAME.body (empty when there was no payload)
coap() {
	local name=$1 uri=$2 hdr
	shift 2
	BODY=$WORK/$name.body
	rm -f "$BODY"
	timeout $((${T_COAP_WAIT:-15} + 5)) coap-client-openssl -R "$TRUST" \
	    -B "${T_COAP_WAIT:-15}" -v 6 "$@" -o "$BODY" "$uri" \
	    >"$WORK/$name.out" 2>"$WORK/$name.err" </dev/null
	[ -f "$BODY" ] || : >"$BODY"
	# The answers: codes 2.01 to 5.05, not the empty ACK (0.00) of a
	# separate response nor the requests (c:GET, c:POST).
	hdr=$(grep -E '^v:1 t:[A-Z]+ c:[2-5]\.[0-9]{2} ' "$WORK/$name.out" | tail -n 1)
	CODE=$(sed -n 's/^v:1 t:[A-Z]* c:\([2-5]\.[0-9][0-9]\) .*/\1/p' <<<"$hdr")
	[ -n "$CODE" ] || CODE=none
	OPTS=$(sed -n 's/^[^[]*\[ \(.*\) \].*/\1/p' <<<"$hdr")
	DIAG=$(sed -n 's/^[45]\.[0-9][0-9] \{0,1\}//p' "$WORK/$name.err" | tail -n 1)
}

# coap_post NAME URI FILE [args]: POST FILE (DER) as application/pkcs10
# (Content-Format 286, RFC 9148 §5).
coap_post() {
	local name=$1 uri=$2 file=$3
	shift 3
	coap "$name" "$uri" -m post -t 286 -f "$file" "$@"
}

# check_code EXPECTED: the last coap answered EXPECTED.
check_code() {
	[ "$CODE" = "$1" ] ||
	    fail "$(basename "$BODY" .body): expected CoAP $1, got $CODE ${DIAG:+(\"$DIAG\") }[$OPTS];" \
	    "coap-client said: $(grep -v '^v:1' "${BODY%.body}.out" | tail -n 3 | head -c 600)" \
	    "$(head -c 300 "${BODY%.body}.err")"
}

# check_option OPTION: the last answer carries OPTION (e.g.
# "Content-Format:281" or "Max-Age:"), a fixed string among its options.
check_option() {
	case ", $OPTS," in
	*", $1"*) ;;
	*) fail "$(basename "$BODY" .body): no option '$1' in [$OPTS]" ;;
	esac
}

# coap_diag CODE TEXT: the last answer is CODE and its diagnostic payload
# holds the fixed string TEXT.
coap_diag() {
	check_code "$1"
	case $DIAG in
	*"$2"*) ;;
	*) fail "$(basename "$BODY" .body): $1's diagnostic '$DIAG' lacks '$2'" ;;
	esac
}

# coap_issued NAME CSRNAME ISSUER: the last answer is 2.04 with
# Content-Format 281: a certs-only PKCS#7 in DER (not base64, RFC 9148
# §5) holding one certificate for CSRNAME's key, issued by ISSUER
# (check_issued on its base64).
coap_issued() {
	check_code 2.04
	check_option "Content-Format:281"
	base64 -w 64 "$BODY" >"$WORK/$1.b64body"
	BODY=$WORK/$1.b64body check_issued "$@"
}

# coap_access_lines LOG: the access lines of LOG with transport=coaps.
coap_access_lines() {
	grep -c ' access .*transport=coaps' "$1"
}
