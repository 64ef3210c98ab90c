#!/usr/bin/env bash
# Failed logins are counted per address and per user (auth.max_failures
# within auth.failure_window); past the limit the answer is 429 with
# Retry-After until the window ends. A proxy of this case's own has
# max_failures 3, failure_window 5 and three Digest users; curl --interface
# picks the client's loopback address (127.0.0.1 .. 127.0.0.5):
#  - three wrong passwords for estuser from 127.0.0.1, then the right one
#    from there: 429 "too many failed attempts; retry later", Retry-After
#    1..5, no challenge; from 127.0.0.2 estuser is refused too (the user's
#    counter), while another user enrolls from 127.0.0.2, and from
#    127.0.0.1 that other user is refused (the address's counter); cacerts
#    (open) is still served to 127.0.0.1;
#  - the user counter alone: two failures for "other" from 127.0.0.3 and
#    one from 127.0.0.4 (neither address reaches 3) block "other" from
#    127.0.0.5, while 127.0.0.3 can still log in as "spare";
#  - once Retry-After has passed, the right passwords work again.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

OTHER_PASS="other-$(openssl rand -hex 8)"
SPARE_PASS="spare-$(openssl rand -hex 8)"
# The umask covers the redirection: estrad refuses a users file others
# can read.
(
	umask 077
	{
		cat "$DIGEST_USERS"
		printf 'other:%s:%s\n' "$AUTH_REALM" "$(hash_hex MD5 "other:$AUTH_REALM:$OTHER_PASS")"
		printf 'other:%s:%s\n' "$AUTH_REALM" "$(hash_hex SHA-256 "other:$AUTH_REALM:$OTHER_PASS")"
		printf 'spare:%s:%s\n' "$AUTH_REALM" "$(hash_hex SHA-256 "spare:$AUTH_REALM:$SPARE_PASS")"
	} >"$WORK/digest"
)
lockout_proxy limits "$WORK/digest" 5
make_csr dev "/CN=brute-force"


# throttled: the last answer is the 429.
throttled() {
	check_error 429
	check_body "too many failed attempts; retry later"
	has_header Retry-After || fail "$(basename "$HDR"): 429 without Retry-After"
	RA=$(header Retry-After)
	[[ "$RA" =~ ^[1-5]$ ]] || fail "$(basename "$HDR"): Retry-After '$RA', expected 1..5"
	tr -d '\r' <"$HDR" | awk '/^HTTP\// { n = 0 } /^WWW-Authenticate:/ { n++ } END { exit n > 0 }' ||
	    fail "$(basename "$HDR"): a 429 with a challenge"
	check_access "auth=- user=- status=429 upstream=-" "$LOG"
}

# peer ADDR: the last answer's access line names ADDR as the peer.
peer() {
	check_access "op=simpleenroll" "$LOG"
	case $LINE in
	*" peer=$1:"*) ;;
	*) fail "access line '$LINE': not from $1" ;;
	esac
}

# ---- the address and the user: 127.0.0.1, estuser.
for i in 1 2 3; do
	digest_from "wrong_$i" 127.0.0.1 "$EST_USER" "wrong-$i"
	check_error 401
	check_phrase "wrong user name or password"
done
peer 127.0.0.1
digest_from right 127.0.0.1 "$EST_USER" "$EST_PASS"
throttled
note "estuser from 127.0.0.1: 429, Retry-After $RA"
digest_from right_2 127.0.0.2 "$EST_USER" "$EST_PASS"
throttled
peer 127.0.0.2
digest_from_ok other_2 127.0.0.2 other "$OTHER_PASS"
check_access "auth=digest user=other status=200" "$LOG"
digest_from other_1 127.0.0.1 other "$OTHER_PASS"
throttled
T_AUTH=none req open GET "$XURL/cacerts" --interface 127.0.0.1
check_status 200

# ---- the user alone: "other" fails from two addresses.
digest_from o3a 127.0.0.3 other wrong-a
check_error 401
digest_from o3b 127.0.0.3 other wrong-b
check_error 401
digest_from o4 127.0.0.4 other wrong-c
check_error 401
digest_from other_5 127.0.0.5 other "$OTHER_PASS"
throttled
ra_user=$RA
digest_from_ok spare_3 127.0.0.3 spare "$SPARE_PASS"
peer 127.0.0.3
note "other from 127.0.0.5: 429, Retry-After $ra_user"

# ---- after the window (the later of the two, plus a second of clock
# granularity), the right passwords work again.
sleep $((ra_user + 1))
digest_from_ok again_1 127.0.0.1 "$EST_USER" "$EST_PASS"
check_access "auth=digest user=$EST_USER status=200" "$LOG"
digest_from_ok again_5 127.0.0.5 other "$OTHER_PASS"
check_access "auth=digest user=other status=200" "$LOG"
check_alive "$XPID" "the proxy"
pass
