#!/usr/bin/env bash
#
# docker/make-pki.sh DIR: a lab PKI for docker/compose.yaml (its one-shot
# "pki" service runs it on the "pki" volume), made with the openssl CLI and
# the same commands as tests/lab (whose header writes them out). Run it on a
# host too: docker/make-pki.sh /tmp/pki.
#
#   root CA "estrad compose root CA"          trust anchor for everything
#   +- issuing CA "estrad compose issuing CA" the CA service's local CA
#      +- ca-server     TLS server certificate of the CA service
#      +- proxy-server  TLS server certificate of the RA service
#      +- ra            the RA's client certificate toward the CA:
#      |                clientAuth + id-kp-cmcRA (RFC 7030 §3.7)
#      +- client        CN=lab-client, clientAuth (re-enrollment)
#
# plus users/digest (htdigest, realm "estrealm": estuser with a random
# password, MD5 and SHA-256 HA1 lines) and est-password (that password).
# Keys and secrets are mode 600 (estrad refuses others); every *-chain.pem
# holds the leaf and the issuing CA. All keys EC P-256, SHA-256.
#
# Environment:
#   ESTRAD_PKI_CA_NAMES  DNS names / IP addresses of the CA service
#                        (default "ca"), comma-separated
#   ESTRAD_PKI_RA_NAMES  the same for the RA service (default "ra")
#                        localhost, 127.0.0.1 and ::1 are always added
#   ESTRAD_PKI_DAYS      validity of every certificate (default 365)
#   ESTRAD_PKI_FORCE=1   make a new PKI even if DIR has one
#
# A DIR that already holds a whole PKI from this script (the marker file
# .made-by-make-pki, written last) is left alone: a container restart must
# not replace the CA. ESTRAD_PKI_FORCE=1 remakes it.
set -euo pipefail

DAYS=${ESTRAD_PKI_DAYS:-365}
REALM=estrealm
EST_USER=estuser

die() {
	echo "make-pki: $*" >&2
	exit 1
}

[ $# -eq 1 ] || { echo "usage: make-pki.sh DIR" >&2; exit 2; }
PKI=$1
command -v openssl >/dev/null || die "openssl CLI not found"
if [ -f "$PKI/.made-by-make-pki" ] && [ "${ESTRAD_PKI_FORCE:-0}" != 1 ]; then
	echo "make-pki: $PKI already holds a PKI; left alone (ESTRAD_PKI_FORCE=1 remakes it)"
	exit 0
fi
rm -f "$PKI/.made-by-make-pki"
mkdir -p "$PKI/users"
chmod 700 "$PKI/users"

# san NAMES: "DNS:a, IP:b, ..." for a comma-separated list, plus loopback.
san() {
	local out="" n
	local IFS=', '
	for n in $1 localhost 127.0.0.1 ::1; do
		[ -n "$n" ] || continue
		if [[ $n =~ ^[0-9.]+$ || $n == *:* ]]; then
			out="$out${out:+, }IP:$n"
		else
			out="$out${out:+, }DNS:$n"
		fi
	done
	printf '%s\n' "$out"
}

write_openssl_cnf() {
	cat >"$PKI/openssl.cnf" <<EOF
# openssl configuration of the estrad compose PKI (docker/make-pki.sh)
[req]
distinguished_name = req_dn
prompt = no
[req_dn]
CN = estrad compose

[v3_root]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[v3_ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[v3_ca_server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = $(san "${ESTRAD_PKI_CA_NAMES:-ca}")
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[v3_proxy_server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = $(san "${ESTRAD_PKI_RA_NAMES:-ra}")
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[v3_ra]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
# clientAuth and id-kp-cmcRA (RFC 6402 §2.10, RFC 7030 §3.7)
extendedKeyUsage = clientAuth, 1.3.6.1.5.5.7.3.28
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[v3_client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
}

serial() {
	echo "0x$(openssl rand -hex 12)"
}

genkey() {
	(umask 077 && openssl genpkey -algorithm EC \
	    -pkeyopt ec_paramgen_curve:P-256 \
	    -pkeyopt ec_param_enc:named_curve -out "$1" 2>/dev/null) ||
	    die "cannot make the key $1"
	chmod 600 "$1"
}

# issue NAME SUBJECT ISSUER SECTION
issue() {
	local name=$1 subj=$2 issuer=$3 section=$4
	genkey "$PKI/$name.key"
	openssl req -config "$PKI/openssl.cnf" -new -key "$PKI/$name.key" \
	    -subj "$subj" -out "$PKI/$name.csr"
	openssl x509 -req -in "$PKI/$name.csr" \
	    -CA "$PKI/$issuer.pem" -CAkey "$PKI/$issuer.key" \
	    -set_serial "$(serial)" -days "$DAYS" -sha256 \
	    -extfile "$PKI/openssl.cnf" -extensions "$section" \
	    -out "$PKI/$name.pem" 2>/dev/null || die "cannot issue $name"
	rm -f "$PKI/$name.csr"
}

make_certs() {
	local n
	write_openssl_cnf
	genkey "$PKI/root.key"
	openssl req -config "$PKI/openssl.cnf" -new -x509 \
	    -key "$PKI/root.key" -sha256 -days "$DAYS" \
	    -subj "/CN=estrad compose root CA" -extensions v3_root \
	    -set_serial "$(serial)" -out "$PKI/root.pem" ||
	    die "cannot make the root CA"
	issue issuing "/CN=estrad compose issuing CA" root v3_ca
	issue ca-server "/CN=ca/OU=estrad compose CA" issuing v3_ca_server
	issue proxy-server "/CN=ra/OU=estrad compose RA" issuing v3_proxy_server
	issue ra "/CN=estrad compose RA" issuing v3_ra
	issue client "/CN=lab-client" issuing v3_client
	cat "$PKI/issuing.pem" "$PKI/root.pem" >"$PKI/issuing-chain.pem"
	for n in ca-server proxy-server ra client; do
		cat "$PKI/$n.pem" "$PKI/issuing.pem" >"$PKI/$n-chain.pem"
	done
	# The root's key signs nothing more: a lab keeps it, but out of the
	# daemons' reach would be better (see docs/operations.md).
}

# The RA's Digest user (htdigest lines, computed as tests/lab does).
make_users() {
	local pass ha1_md5 ha1_sha256
	pass="est-$(openssl rand -hex 12)"
	ha1_md5=$(printf '%s' "$EST_USER:$REALM:$pass" | md5sum | cut -d' ' -f1)
	ha1_sha256=$(printf '%s' "$EST_USER:$REALM:$pass" | sha256sum | cut -d' ' -f1)
	(
		umask 077
		printf '%s:%s:%s\n' "$EST_USER" "$REALM" "$ha1_md5" \
		    "$EST_USER" "$REALM" "$ha1_sha256" >"$PKI/users/digest"
		printf '%s\n' "$pass" >"$PKI/est-password"
	)
	chmod 600 "$PKI/users/digest" "$PKI/est-password"
}

# Refuse to hand over a PKI that does not verify.
check() {
	local n
	openssl verify -CAfile "$PKI/root.pem" "$PKI/issuing.pem" >/dev/null ||
	    die "issuing does not verify"
	for n in ca-server proxy-server ra client; do
		openssl verify -CAfile "$PKI/root.pem" \
		    -untrusted "$PKI/issuing.pem" "$PKI/$n.pem" >/dev/null ||
		    die "$n does not verify"
	done
}

make_certs
make_users
check
date -u +%FT%TZ >"$PKI/.made-by-make-pki"
echo "make-pki: PKI in $PKI (Digest user $EST_USER, password in $PKI/est-password)"
