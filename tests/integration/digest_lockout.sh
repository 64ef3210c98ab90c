#!/usr/bin/env bash
# Knowing a user name is not enough to lock that user out. A proxy of this
# case's own has max_failures 3 and a window of 60 s. For estuser, from
# 127.0.0.2, 127.0.0.3 and 127.0.0.4, three requests each that check no
# password: a wrong realm, a uri that is not the request target (the
# response is right for /east/simpleenroll, sent to /simpleenroll), a nonce
# estrad never made (each 401 with its reason, counted against the address
# alone). Then:
#  - 127.0.0.2 is refused whatever it sends (429: the address's counter
#    still stops a scanner);
#  - estuser enrolls from 127.0.0.1 (nine such failures did not touch the
#    user's counter);
#  - three wrong passwords for estuser from 127.0.0.5, then the right one
#    from 127.0.0.6: 429 (guessing a password does count against the user).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

U=/.well-known/est/simpleenroll
lockout_proxy lockout "$DIGEST_USERS" 60
make_csr dev "/CN=digest-lockout"

# nonce ADDR: a fresh MD5 nonce of the proxy, asked for from ADDR, in NONCE.
nonce() {
	T_AUTH=none post_csr "nonce_$1_$RANDOM" "$XURL/simpleenroll" "$WORK/dev.b64" \
	    --interface "$1"
	check_status 401
	digest_challenge MD5
	NONCE=$CH_NONCE
}

# stranger NAME ADDR REASON URL: the DIGEST_AUTHZ header from ADDR to URL,
# three times; each a 401 with REASON.
stranger() {
	local i
	for i in 1 2 3; do
		T_AUTH=none post_csr "$1_$i" "$4" "$WORK/dev.b64" --interface "$2" \
		    -H "Authorization: $DIGEST_AUTHZ"
		check_error 401
		check_phrase "$3"
		check_access "auth=- user=- status=401 upstream=-" "$LOG"
	done
}

# ---- what checks no password, for estuser, from three addresses.
nonce 127.0.0.2
digest_authz "$EST_USER" otherrealm "$EST_PASS" MD5 POST "$U" "$NONCE" 00000001
stranger realm 127.0.0.2 "wrong realm" "$XURL/simpleenroll"

nonce 127.0.0.3
digest_authz "$EST_USER" "$AUTH_REALM" "$EST_PASS" MD5 POST /.well-known/est/east/simpleenroll \
    "$NONCE" 00000001
stranger uri 127.0.0.3 "Digest uri is not the request target" "$XURL/simpleenroll"

nonce 127.0.0.4
c=${NONCE:20:1}
[ "$c" = A ] && r=B || r=A
digest_authz "$EST_USER" "$AUTH_REALM" "$EST_PASS" MD5 POST "$U" \
    "${NONCE:0:20}$r${NONCE:21}" 00000001
stranger forged 127.0.0.4 "unknown nonce" "$XURL/simpleenroll"

# The address is blocked, whatever it sends.
digest_from blocked_addr 127.0.0.2 "$EST_USER" "$EST_PASS"
check_error 429
check_body "too many failed attempts; retry later"

# The user is not.
digest_from_ok user_ok 127.0.0.1 "$EST_USER" "$EST_PASS"
check_access "auth=digest user=$EST_USER status=200" "$LOG"

# ---- password guesses do count against the user.
for i in 1 2 3; do
	digest_from "guess_$i" 127.0.0.5 "$EST_USER" "wrong-$i"
	check_error 401
	check_phrase "wrong user name or password"
done
digest_from user_blocked 127.0.0.6 "$EST_USER" "$EST_PASS"
check_error 429
check_body "too many failed attempts; retry later"
check_access "auth=- user=- status=429 upstream=-" "$LOG"
check_alive "$XPID" "the proxy"
pass
