#!/bin/bash
# bc_client: Bouncy Castle's EST client (org.bouncycastle.est from Debian's
# libbcpkix-java, with the default JDK) against the lab proxy, on TLS 1.2
# and TLS 1.3: cacerts (relayed, and from the local CA on /local),
# csrattrs (relayed, and from a policy on /strict), simpleenroll with
# Digest (bare and /local), simpleenroll with Basic on /basic, and
# simplereenroll with the client certificate; a wrong Digest and a wrong
# Basic password must reach BC as a 401 (not as a stream error). The client
# (BcEstClient.java) is compiled here with javac against the jars in
# /usr/share/java; each certificate it got is checked with the openssl CLI:
# the CSR's key, issued by the right CA, verifying to the lab root.
#
# What BC 1.72 needs of the server (docs/interop.md): every base64 body
# labelled "Content-Transfer-Encoding: base64" (without it BC parses the
# base64 text as DER: cacerts "DLApplicationSpecific cannot be cast",
# csrattrs "DEF length 65 object truncated"); a 401 with an empty body (BC
# closes it unread and fails on any body: "Stream closed before limit fully
# read"); every auth-param of the Digest challenge quoted ("Expecting start
# quote"). The same answers are checked with curl here, so a regression
# names the header at fault, not only a Java exception.
# shellcheck source=../integration/lib.sh
. "$(dirname "$0")/../integration/lib.sh"

BC_JARS=/usr/share/java/bcpkix.jar:/usr/share/java/bcprov.jar:/usr/share/java/bcutil.jar
if ! command -v javac >/dev/null 2>&1 || ! command -v java >/dev/null 2>&1; then
	skip "no JDK (Debian package default-jdk-headless, in tools/install-deps)"
fi
for j in ${BC_JARS//:/ }; do
	[ -r "$j" ] || skip "no $j (Debian packages libbcpkix-java libbcprov-java libbcutil-java, in tools/install-deps)"
done

javac -nowarn -d "$WORK/classes" -cp "$BC_JARS" \
    "$(dirname "$0")/BcEstClient.java" 2>"$WORK/javac.err" ||
    fail "javac: $(head -c 600 "$WORK/javac.err")"

# The answers BC depends on, as curl sees them.
req cacerts GET "$EST_URL/cacerts"
check_status 200
check_header Content-Transfer-Encoding base64
req cacerts_local GET "$EST_URL/local/cacerts"
check_status 200
check_header Content-Transfer-Encoding base64
req csrattrs_strict GET "$EST_URL/strict/csrattrs"
check_status 200
check_header Content-Transfer-Encoding base64
make_csr dev
T_AUTH=none post_csr challenge "$EST_URL/simpleenroll" "$WORK/dev.b64"
check_status 401
check_header Content-Length 0
[ ! -s "$BODY" ] || fail "401 challenge with a body: $(head -c 200 "$BODY")"
! has_header Content-Type || fail "401 challenge with Content-Type $(header Content-Type)"
check_challenges "MD5 SHA-256"
grep -q '^HTTP/1.1 401 authentication required' "$HDR" ||
    fail "401 status line lacks the reason: $(head -n 1 "$HDR")"
enroll_ok curl_enroll "$EST_URL/simpleenroll" "$WORK/dev.b64" dev "$ISSUING_CERT"
check_header Content-Transfer-Encoding base64
# An error answer is text, not base64.
req nosuch GET "$EST_URL/nosuch/cacerts"
! has_header Content-Transfer-Encoding ||
    fail "404 with Content-Transfer-Encoding $(header Content-Transfer-Encoding)"

# cert_names PEMFILE: the sorted subject and issuer lines of its certificates.
cert_names() {
	openssl crl2pkcs7 -nocrl -certfile "$1" |
	    openssl pkcs7 -print_certs -noout | grep -E '^(subject|issuer)=' | sort
}

# check_enrolled OUT OP ISSUER [SUBJECT]: BC's OP certificate is for its
# CSR's key, from ISSUER, verifying to the root.
check_enrolled() {
	local out=$1 op=$2 issuer=$3 subj=${4:-} n v
	n=$(split_certs "$out/$op.cert.pem" "$out/$op.c")
	[ "$n" = 1 ] || fail "$op: BC got $n certificates, expected 1"
	openssl x509 -in "$out/$op.c.1.pem" -pubkey -noout >"$out/$op.pub" ||
	    fail "$op: unreadable certificate"
	openssl pkey -pubin -in "$out/$op.csr.pub.pem" -out "$out/$op.csr.pub" ||
	    fail "$op: unreadable CSR key"
	cmp -s "$out/$op.pub" "$out/$op.csr.pub" ||
	    fail "$op: the certificate is not for BC's CSR key"
	v=$(openssl verify -CAfile "$ROOT_CERT" -untrusted "$issuer" \
	    "$out/$op.c.1.pem" 2>&1) || fail "$op: openssl verify: $v"
	if [ -n "$subj" ]; then
		v=$(openssl x509 -in "$out/$op.c.1.pem" -noout -subject -nameopt RFC2253)
		[ "$v" = "subject=$subj" ] || fail "$op: $v, expected $subj"
	fi
}

# The client reads the lab's names from its environment (not its command
# line, where the passwords would show in ps).
export EST_URL TRUST AUTH_REALM EST_USER EST_PASS BASIC_USER BASIC_PASS \
    CLIENT_CERT CLIENT_KEY
for tls in TLSv1.2 TLSv1.3; do
	out=$WORK/$tls
	mkdir -p "$out"
	start=$(stat -c %s "$PROXY_LOG")
	note "BC on $tls"
	timeout 90 java -cp "$WORK/classes:$BC_JARS" BcEstClient "$tls" "$out" \
	    >"$out/bc.out" 2>&1
	rc=$?
	cat "$out/bc.out"
	[ "$rc" = 0 ] || fail "BC on $tls: exit $rc: $(grep -m 3 FAIL "$out/bc.out")"
	grep -qx "ok cacerts 2 certificates over $tls" "$out/bc.out" ||
	    fail "BC on $tls: $(grep '^ok cacerts ' "$out/bc.out")"

	# cacerts: the chains curl got.
	for c in cacerts cacerts_local; do
		p7_certs "$WORK/$c.body" "$out/$c.curl.pem" >/dev/null
		[ "$(cert_names "$out/$c.curl.pem")" = \
		    "$(cert_names "$out/${c/_/-}.pem")" ] ||
		    fail "BC's $c differ from curl's: $(cert_names "$out/${c/_/-}.pem")"
	done
	# csrattrs: the same DER as curl reads (BC re-encodes what it parsed).
	req csrattrs_strict GET "$EST_URL/strict/csrattrs"
	tr -d '\r\n' <"$BODY" | base64 -d >"$out/curl-strict.der" ||
	    fail "csrattrs body is not base64"
	cmp -s "$out/curl-strict.der" "$out/csrattrs-strict.der" ||
	    fail "BC's /strict csrattrs differ from the body's DER"
	[ -s "$out/csrattrs.der" ] || fail "BC read no csrattrs on the bare path"

	check_enrolled "$out" simpleenroll-digest "$ISSUING_CERT" CN=bc-digest
	check_enrolled "$out" simpleenroll-local "$BRANCH_CERT" CN=bc-local
	check_enrolled "$out" simpleenroll-basic "$ISSUING_CERT" CN=bc-basic
	check_enrolled "$out" simplereenroll-cert "$ISSUING_CERT" CN=lab-client

	# The proxy saw each as the method it was meant to test.
	tail -c +"$((start + 1))" "$PROXY_LOG" >"$out/access.log"
	for want in \
	    "path=/.well-known/est/simpleenroll label=- op=simpleenroll auth=digest user=$EST_USER status=200" \
	    "path=/.well-known/est/local/simpleenroll label=local op=simpleenroll auth=digest user=$EST_USER status=200" \
	    "path=/.well-known/est/basic/simpleenroll label=basic op=simpleenroll auth=basic user=$BASIC_USER status=200" \
	    "op=simplereenroll auth=cert user=CN=lab-client status=200" \
	    "label=- op=simpleenroll auth=- user=- status=401 upstream=- bytes=0" \
	    "label=basic op=simpleenroll auth=- user=- status=401 upstream=- bytes=0"; do
		grep -qF -- "$want" "$out/access.log" ||
		    fail "BC on $tls: no access line with '$want'"
	done
done
pass
