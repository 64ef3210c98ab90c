#!/usr/bin/env bash
# TLS session resumption at the lab proxy (which asks for client
# certificates, tls.client_ca, and checks a CRL):
#  - TLS 1.2: a session saved by openssl s_client -sess_out is "Reused"
#    with -sess_in;
#  - the client certificate belongs to the session: a resumed session that
#    began with the lab client certificate still authenticates
#    simplereenroll by it (auth=cert user=CN=lab-client), and one that
#    began without a certificate still gets 403;
#  - TLS 1.3 resumes too (single-use tickets from the session cache);
#  - with "tls.session_cache": 0 a proxy resumes nothing (full handshakes).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

# simplereenroll renews the client certificate: its subject (CN=lab-client,
# no SAN), or the policy refuses it (reenroll.same_subject).
make_csr dev "/CN=lab-client"
len=$(stat -c %s "$WORK/dev.b64")

# request FILE OP: a raw simplereenroll request for the CSR, then close.
request() {
	{
		printf 'POST /.well-known/est/%s HTTP/1.1\r\n' "$2"
		printf 'Host: 127.0.0.1:%s\r\n' "$PROXY_PORT"
		printf 'Content-Type: application/pkcs10\r\n'
		printf 'Content-Length: %s\r\nConnection: close\r\n\r\n' "$len"
		cat "$WORK/dev.b64"
	} >"$1"
}
request "$WORK/re.req" simplereenroll

# s_client NAME REQFILE [args]: one connection; output in NAME.out
# (without -quiet, so it holds the session report), errors in NAME.err.
s_client() {
	local name=$1 in=$2
	shift 2
	# stdbuf: s_client's report (stdio) and the data it reads (write(2))
	# share stdout; unbuffered, they stay in order.
	timeout 10 stdbuf -o0 openssl s_client -connect "127.0.0.1:$PROXY_PORT" \
	    -servername localhost -CAfile "$TRUST" -verify_return_error \
	    -ign_eof "$@" <"$in" >"$WORK/$name.out" 2>"$WORK/$name.err"
}

# status_of NAME: the HTTP status line in NAME.out.
status_of() {
	grep -a -o -m 1 'HTTP/1\.1 [0-9][0-9][0-9] [A-Za-z]*' "$WORK/$1.out" | head -n 1
}

CERT=(-cert "$CLIENT_CERT" -cert_chain "$ISSUING_CERT" -key "$CLIENT_KEY")

for v in 1.2 1.3; do
	# ---- with the client certificate.
	s_client "c$v" "$WORK/re.req" "-tls${v/./_}" "${CERT[@]}" -sess_out "$WORK/c$v.sess"
	[ "$(status_of "c$v")" = "HTTP/1.1 200 OK" ] ||
	    fail "TLS $v, certificate: '$(status_of "c$v")' ($(tail -n 2 "$WORK/c$v.err"))"
	grep -aq 'New, TLSv1' "$WORK/c$v.out" || fail "TLS $v: the first handshake is not New"
	[ -s "$WORK/c$v.sess" ] || fail "TLS $v: no session saved"
	# Resumed, without presenting the certificate again.
	s_client "r$v" "$WORK/re.req" "-tls${v/./_}" -sess_in "$WORK/c$v.sess"
	grep -aq 'Reused, TLSv1' "$WORK/r$v.out" ||
	    fail "TLS $v: the session was not reused: $(grep -a -o -E '(New|Reused), TLSv1[.0-9]*' "$WORK/r$v.out")"
	[ "$(status_of "r$v")" = "HTTP/1.1 200 OK" ] ||
	    fail "TLS $v, resumed: '$(status_of "r$v")', expected 200 (the session's certificate)"
	# The case has the lab proxy to itself: its last access line is ours.
	LINE=$(grep ' access ' "$PROXY_LOG" | tail -n 1)
	case $LINE in
	*" op=simplereenroll auth=cert user=CN=lab-client status=200 "*) ;;
	*) fail "TLS $v, resumed: access line '$LINE'" ;;
	esac

	# ---- without a certificate: resumed, still none.
	s_client "n$v" "$WORK/re.req" "-tls${v/./_}" -sess_out "$WORK/n$v.sess"
	[ "$(status_of "n$v")" = "HTTP/1.1 403 Forbidden" ] ||
	    fail "TLS $v, no certificate: '$(status_of "n$v")'"
	s_client "m$v" "$WORK/re.req" "-tls${v/./_}" -sess_in "$WORK/n$v.sess"
	grep -aq 'Reused, TLSv1' "$WORK/m$v.out" ||
	    fail "TLS $v: the certificate-less session was not reused"
	[ "$(status_of "m$v")" = "HTTP/1.1 403 Forbidden" ] ||
	    fail "TLS $v, resumed without a certificate: '$(status_of "m$v")', expected 403"
	note "TLS $v: resumed, the certificate kept with the session"
done
check_proxy_healthy

# ---- resumption turned off.
P_TLS_EXTRA='"session_cache": 0' proxy_config "$WORK/nocache.json"
start_estrad nocache "$WORK/nocache.json"
PROXY_PORT=$XPORT
request "$WORK/ca.req" simplereenroll
for v in 1.2 1.3; do
	s_client "o$v" "$WORK/ca.req" "-tls${v/./_}" "${CERT[@]}" -sess_out "$WORK/o$v.sess"
	[ "$(status_of "o$v")" = "HTTP/1.1 200 OK" ] ||
	    fail "session_cache 0, TLS $v: '$(status_of "o$v")'"
	# No ticket and no session id: s_client has nothing to save. If it
	# saved something all the same, offering it gets a full handshake.
	grep -aq 'New Session Ticket arrived' "$WORK/o$v.out" &&
	    fail "session_cache 0, TLS $v: the proxy sent a session ticket"
	if [ -s "$WORK/o$v.sess" ]; then
		s_client "p$v" "$WORK/ca.req" "-tls${v/./_}" "${CERT[@]}" -sess_in "$WORK/o$v.sess"
		grep -aq 'New, TLSv1' "$WORK/p$v.out" ||
		    fail "session_cache 0, TLS $v: $(grep -a -o -E '(New|Reused), TLSv1[.0-9]*' "$WORK/p$v.out")"
		[ "$(status_of "p$v")" = "HTTP/1.1 200 OK" ] ||
		    fail "session_cache 0, TLS $v, second: '$(status_of "p$v")'"
	fi
done
note "session_cache 0: full handshakes only"
pass
