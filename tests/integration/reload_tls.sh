#!/usr/bin/env bash
# SIGHUP reloads the TLS certificate and key, and the RA's credentials,
# without dropping connections (include/estrad/server.h, server_reload).
# A proxy of this case's own whose tls.certificate/tls.key and upstream
# client_certificate/client_key are copies in $WORK:
#  - a new server certificate (the lab's issuing CA, v3_server, a new EC
#    key) written over the copies; SIGHUP: "reload: policies loaded from
#    CFG (with the routes, ...", a new handshake (s_client) sees
#    the new serial, an enrollment works; a keep-alive connection opened
#    before the reload (openssl s_client fed through a fifo) still answers
#    GET cacerts 200 afterwards, on the old session;
#  - a key that does not match the certificate; SIGHUP: an error and
#    "reload: keeping the configuration loaded before"; handshakes still
#    show the last good serial, enrollments work, the daemon runs;
#  - a new RA certificate (v3_ra, CN "estrad lab RA two") over the RA
#    copies; SIGHUP; the next enrollment reaches the lab CA as
#    user=CN=estrad\x20lab\x20RA\x20two (the CA's access line), the one before as
#    user=CN=estrad\x20lab\x20RA;
#  - a new server pair and, in the same file, the upstream "ca" URL
#    changed (the file checks; the TLS context could be built): SIGHUP
#    logs "upstreams.ca: its name or URLs changed" and "reload: keeping
#    the configuration loaded before", and new handshakes still show the
#    old serial (the reload is all or nothing); enrollments go on; with the
#    URL back, the new pair loads.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

CFG=$WORK/tls.json
S_CERT=$WORK/server-chain.pem
S_KEY=$WORK/server.key
R_CERT=$WORK/ra-chain.pem
R_KEY=$WORK/ra.key
CNF=$PKI_DIR/openssl.cnf

(umask 077 && cp "$PROXY_SERVER_CERT" "$S_CERT" && cp "$PROXY_SERVER_KEY" "$S_KEY" &&
    cp "$RA_CERT" "$R_CERT" && cp "$RA_KEY" "$R_KEY") || fail "cannot copy the lab's certificates"
chmod 600 "$S_KEY" "$R_KEY"

# The lab's config, pointed at the copies.
proxy_config "$CFG.tmp"
cfg=$(cat "$CFG.tmp")
cfg=${cfg//"\"$PROXY_SERVER_CERT\""/"\"$S_CERT\""}
cfg=${cfg//"\"$PROXY_SERVER_KEY\""/"\"$S_KEY\""}
cfg=${cfg//"\"$RA_CERT\""/"\"$R_CERT\""}
cfg=${cfg//"\"$RA_KEY\""/"\"$R_KEY\""}
printf '%s\n' "$cfg" >"$CFG"
rm -f "$CFG.tmp"
for f in "$S_CERT" "$S_KEY" "$R_CERT" "$R_KEY"; do
	grep -qF "\"$f\"" "$CFG" || fail "$CFG does not name $f"
done
"$ESTRAD_BIN" -n -c "$CFG" >"$WORK/check.out" 2>&1 ||
    fail "the case's config does not check: $(cat "$WORK/check.out")"
start_estrad tls "$CFG"
P=$XPID
LOG=$XLOG
PORT=$XPORT
make_csr dev "/CN=reload-tls-device"

# issue NAME SUBJECT SECTION: a new EC P-256 key $WORK/NAME.key and a
# certificate from the lab's issuing CA with the extension section SECTION
# of the lab's openssl.cnf, as tests/lab makes them: $WORK/NAME.pem, and
# $WORK/NAME-chain.pem (the leaf, then the issuing CA).
issue() {
	local name=$1
	(umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	    -pkeyopt ec_param_enc:named_curve -out "$WORK/$name.key" 2>/dev/null) ||
	    fail "genpkey for $name"
	chmod 600 "$WORK/$name.key"
	openssl req -config "$CNF" -new -key "$WORK/$name.key" -subj "$2" \
	    -out "$WORK/$name.csr" 2>"$WORK/$name.err" ||
	    fail "req for $name: $(head -c 300 "$WORK/$name.err")"
	openssl x509 -req -in "$WORK/$name.csr" -CA "$ISSUING_CERT" \
	    -CAkey "$PKI_DIR/issuing.key" -set_serial "0x$(openssl rand -hex 12)" \
	    -days 30 -sha256 -extfile "$CNF" -extensions "$3" \
	    -out "$WORK/$name.pem" 2>"$WORK/$name.err" ||
	    fail "x509 -req for $name: $(head -c 300 "$WORK/$name.err")"
	cat "$WORK/$name.pem" "$ISSUING_CERT" >"$WORK/$name-chain.pem"
}

# put SRC DEST: SRC's bytes over DEST (mode 600, a whole file at once).
put() {
	(umask 077 && cp "$1" "$DEST_TMP") || fail "cannot copy $1"
	chmod 600 "$DEST_TMP"
	mv "$DEST_TMP" "$2" || fail "cannot write $2"
}
DEST_TMP=$WORK/put.tmp

# served_serial: the serial (openssl x509 -serial) of the certificate a new
# handshake with the proxy shows.
served_serial() {
	timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -servername localhost \
	    </dev/null 2>/dev/null | openssl x509 -noout -serial 2>/dev/null
}

# hup WHAT PATTERN: SIGHUP the proxy, then wait for one more line
# holding the fixed string PATTERN in its log (lib.sh's hup_wait).
hup() {
	hup_wait "$1" "$P" "$LOG" "$2"
}

# ca_user_lines USER: the lab CA's access lines of simpleenroll answered
# 200 for the client certificate subject USER (as the CA logs it).
ca_user_lines() {
	grep -F ' op=simpleenroll ' "$CA_LOG" | grep -cF " auth=cert user=$1 status=200 "
}

# ka_answers: how many 200 status lines the keep-alive connection got.
ka_answers() {
	grep -c $'^HTTP/1.1 200 ' "$WORK/ka.out"
}

# ka_get N: GET cacerts on the keep-alive connection; wait for answer N.
ka_get() {
	local i
	running "$KA_PID" || fail "the keep-alive s_client is gone before GET #$1: $(tail -c 300 "$WORK/ka.err")"
	printf 'GET /.well-known/est/cacerts HTTP/1.1\r\nHost: localhost\r\n\r\n' >&3
	for ((i = 0; i < 50; i++)); do
		[ "$(ka_answers)" -ge "$1" ] && return 0
		sleep 0.1
	done
	fail "the keep-alive connection: no answer 200 #$1 within 5 s: $(grep '^HTTP/' "$WORK/ka.out")"
}

OLD_SERIAL=$(served_serial)
[ -n "$OLD_SERIAL" ] || fail "s_client shows no certificate"
[ "$OLD_SERIAL" = "$(openssl x509 -in "$PROXY_SERVER_CERT" -noout -serial)" ] ||
    fail "the proxy serves $OLD_SERIAL, not the lab's proxy-server certificate"
enroll_ok before "$XURL/simpleenroll" "$WORK/dev.b64" dev "$ISSUING_CERT"

# A keep-alive connection opened before the reload.
mkfifo "$WORK/ka.in"
openssl s_client -connect "127.0.0.1:$PORT" -servername localhost -CAfile "$TRUST" \
    -nocommands <"$WORK/ka.in" >"$WORK/ka.out" 2>"$WORK/ka.err" &
KA_PID=$!
T_PIDS+=("$KA_PID")
exec 3>"$WORK/ka.in"
ka_get 1
ka_serial=$(sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' "$WORK/ka.out" |
    openssl x509 -noout -serial 2>/dev/null)
[ "$ka_serial" = "$OLD_SERIAL" ] ||
    fail "the keep-alive connection saw '$ka_serial', not $OLD_SERIAL"

# ---- (a) a new server certificate and key
issue server2 "/CN=localhost/OU=estrad lab proxy" v3_server
NEW_SERIAL=$(openssl x509 -in "$WORK/server2.pem" -noout -serial)
put "$WORK/server2-chain.pem" "$S_CERT"
put "$WORK/server2.key" "$S_KEY"
hup new_cert "reload: policies loaded from $CFG (with the routes"
s=$(served_serial)
[ "$s" = "$NEW_SERIAL" ] || fail "after the reload s_client sees '$s', expected $NEW_SERIAL (was $OLD_SERIAL)"
enroll_ok after_cert "$XURL/simpleenroll" "$WORK/dev.b64" dev "$ISSUING_CERT"
# The connection from before the reload is still served.
ka_get 2
running "$KA_PID" || fail "the keep-alive s_client ended after its second answer"
peers=$(grep -F ' path=/.well-known/est/cacerts ' "$LOG" | grep -F ' status=200 ' |
    sed -n 's/.* peer=\([^ ]*\) .*/\1/p' | sort -u)
if [ "$(grep -cF ' path=/.well-known/est/cacerts ' "$LOG")" != 2 ] ||
    [ "$(printf '%s\n' "$peers" | wc -l)" != 1 ]; then
	fail "the two GETs on the keep-alive connection: access lines from peers '$(printf '%s\n' "$peers" | tr '\n' ' ')', expected both from one"
fi
note "new certificate $NEW_SERIAL served; the old connection ($peers) still answers"

# ---- (b) a key that does not match: the last good pair stays
(umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -out "$WORK/stray.key" 2>/dev/null) || fail "genpkey stray"
chmod 600 "$WORK/stray.key"
put "$WORK/stray.key" "$S_KEY"
# The config check finds it ("CFG has errors; keeping ..."); were it
# found only when the TLS context is built, the line would be "reload:
# keeping the configuration loaded before". Either way, that phrase and the
# reason.
hup mismatch "keeping the configuration loaded before"
grep ' error reload: ' "$LOG" | tail -n 1 |
    grep -qE 'error reload: (.* has errors; )?keeping the configuration loaded before$' ||
    fail "a mismatched key: the last reload error is '$(grep ' error reload: ' "$LOG" | tail -n 1)'"
grep ' error reload: ' "$LOG" | grep -v 'keeping the configuration' | tail -n 1 |
    grep -qiE 'key.*(does not match|mismatch)' ||
    fail "a mismatched key: no error saying the key does not match: $(grep ' error ' "$LOG" | tail -n 3)"
note "mismatched key: $(grep ' error reload: ' "$LOG" | grep -v 'keeping the configuration' | tail -n 1 | sed 's/^.* error //')"
check_alive "$P" "the proxy after a broken reload"
s=$(served_serial)
[ "$s" = "$NEW_SERIAL" ] || fail "after a broken reload s_client sees '$s', expected the last good $NEW_SERIAL"
enroll_ok after_broken "$XURL/simpleenroll" "$WORK/dev.b64" dev "$ISSUING_CERT"
ka_get 3

# ---- (c) new RA credentials for new transfers
put "$WORK/server2.key" "$S_KEY"	# a good server pair again
old_ra=$(ca_user_lines 'CN=estrad\x20lab\x20RA')
two=$(ca_user_lines 'CN=estrad\x20lab\x20RA\x20two')
[ "$two" = 0 ] || fail "the lab CA saw RA two before it existed"
enroll_ok before_ra "$XURL/simpleenroll" "$WORK/dev.b64" dev "$ISSUING_CERT"
[ "$(ca_user_lines 'CN=estrad\x20lab\x20RA')" = $((old_ra + 1)) ] ||
    fail "the enrollment before the new RA did not reach the CA as CN=estrad\x20lab\x20RA: $(grep ' access ' "$CA_LOG" | tail -n 1)"
issue ra2 "/CN=estrad lab RA two" v3_ra
put "$WORK/ra2-chain.pem" "$R_CERT"
put "$WORK/ra2.key" "$R_KEY"
hup new_ra "reload: policies loaded from $CFG (with the routes"
enroll_ok after_ra "$XURL/simpleenroll" "$WORK/dev.b64" dev "$ISSUING_CERT"
[ "$(ca_user_lines 'CN=estrad\x20lab\x20RA\x20two')" = 1 ] ||
    fail "the enrollment after the reload did not reach the CA as CN=estrad\x20lab\x20RA\x20two: $(grep ' access ' "$CA_LOG" | tail -n 2)"
[ "$(ca_user_lines 'CN=estrad\x20lab\x20RA')" = $((old_ra + 1)) ] ||
    fail "an enrollment after the reload reached the CA with the old RA certificate"
s=$(served_serial)
[ "$s" = "$NEW_SERIAL" ] || fail "after the RA reload s_client sees '$s', expected $NEW_SERIAL"
ka_get 4
check_alive "$P" "the proxy"

# ---- (d) refused for a reason found after the TLS context could be built:
# a new server pair, and the upstream "ca" URL changed in the same file
issue server3 "/CN=localhost/OU=estrad lab proxy" v3_server
THIRD_SERIAL=$(openssl x509 -in "$WORK/server3.pem" -noout -serial)
put "$WORK/server3-chain.pem" "$S_CERT"
put "$WORK/server3.key" "$S_KEY"
cp "$CFG" "$WORK/tls.json.good"
cfg=$(cat "$CFG")
cfg=${cfg/"\"url\": \"$CA_URL\""/"\"url\": \"https://127.0.0.1:1/.well-known/est\""}
printf '%s\n' "$cfg" >"$CFG.tmp"
mv "$CFG.tmp" "$CFG"
grep -qF '"url": "https://127.0.0.1:1/.well-known/est"' "$CFG" || fail "could not change the upstream URL in $CFG"
# The file itself is fine (the pair matches): the refusal comes later.
"$ESTRAD_BIN" -n -c "$CFG" >"$WORK/check3.out" 2>&1 ||
    fail "the changed config does not check: $(cat "$WORK/check3.out")"
[ "$(grep -cF 'its name or URLs changed' "$LOG")" = 0 ] || fail "a URL change logged before it was made"
hup url_and_cert "keeping the configuration loaded before"
grep -qF 'error reload: upstreams.ca: its name or URLs changed; that needs a restart' "$LOG" ||
    fail "URL and certificate: no 'upstreams.ca: its name or URLs changed' line: $(grep ' error reload: ' "$LOG" | tail -n 3)"
[ "$(grep ' error reload: ' "$LOG" | tail -n 1 | sed 's/^.* error //')" = \
    "reload: keeping the configuration loaded before" ] ||
    fail "URL and certificate: the last reload error is '$(grep ' error reload: ' "$LOG" | tail -n 1)'"
s=$(served_serial)
[ "$s" = "$NEW_SERIAL" ] ||
    fail "after a refused reload s_client sees '$s', expected the old $NEW_SERIAL (the refused file's is $THIRD_SERIAL)"
enroll_ok after_refused "$XURL/simpleenroll" "$WORK/dev.b64" dev "$ISSUING_CERT"
ka_get 5
# The URL back: the same certificate now loads.
cp "$WORK/tls.json.good" "$CFG.tmp"
mv "$CFG.tmp" "$CFG"
hup url_back "reload: policies loaded from $CFG (with the routes"
s=$(served_serial)
[ "$s" = "$THIRD_SERIAL" ] || fail "with the URL back s_client sees '$s', expected $THIRD_SERIAL"
note "URL changed with a new certificate: refused, $NEW_SERIAL kept; URL back: $THIRD_SERIAL"
check_alive "$P" "the proxy"
exec 3>&-
pass
