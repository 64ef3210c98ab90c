#!/usr/bin/env bash
# Digest nonce counts are the group's (issue 19): three replicas behind
# HAProxy on one PostgreSQL database (store.backend postgresql, no nonce
# secret file: the group's secret comes from the database).
#  - a nonce minted by r1, answered on r2: 200 (the shared nonce secret);
#  - the same Authorization header (same nonce, same nc) replayed on r1,
#    r2, r3 directly and three times through HAProxy: every one 401
#    "Digest nonce count replayed" (with fresh challenges), and the CA saw
#    one enrollment in all;
#  - the next count of that nonce (nc 2), on r3: 200;
#  - the (nonce, nc) rows are in estrad_nonce, with an expiry;
#  - within 75 s the replicas' sweep deleted a nonce use expired and a
#    counter whose window ended (inserted at the start), and kept the
#    others.
# On one node's memory (before this change) each replica would take the
# replayed header once more.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

pg_env
pg_reset
U=/.well-known/est/simpleenroll
P_TOP_EXTRA="\"store\": $(pg_store_json)" proxy_config "$WORK/replica.json"
replicas_start 3 "$WORK/replica.json"
make_csr dev "/CN=replay-device"
# Rows whose time is over, for the sweep (every 60 s on each replica).
pg_psql "insert into estrad_nonce values ('old-nonce', 1, estrad_now() - 10)" \
    "insert into estrad_counter values ('u:gone', estrad_now() - 100, estrad_now() - 40, 9)" \
    "insert into estrad_counter values ('u:live', estrad_now(), estrad_now() + 600, 2)" ||
    fail "cannot insert the rows to sweep"

# A challenge from r1.
T_AUTH=none post_csr ch1 "${REP_URL[1]}/simpleenroll" "$WORK/dev.b64"
check_status 401
digest_challenge MD5
NONCE=$CH_NONCE OPAQUE=$CH_OPAQUE
digest_authz "$EST_USER" "$AUTH_REALM" "$EST_PASS" MD5 POST "$U" "$NONCE" \
    00000001 "" "$OPAQUE"
AUTHZ=$DIGEST_AUTHZ

# Answered on r2: r1's nonce is good there.
before=$(ca_access_lines)
T_AUTH=none post_csr first "${REP_URL[2]}/simpleenroll" "$WORK/dev.b64" \
    -H "Authorization: $AUTHZ"
check_status 200
check_issued first dev "$ISSUING_CERT"
replica_served first
[ "$R" = 2 ] || fail "the first use was served by r$R, not r2"

# replay NAME URL: the captured header again: 401, replayed.
replay() {
	T_AUTH=none post_csr "$1" "$2/simpleenroll" "$WORK/dev.b64" \
	    -H "Authorization: $AUTHZ"
	check_error 401 "Digest nonce count replayed"
	check_phrase "Digest nonce count replayed"
	digest_challenge MD5
}
for i in 1 2 3; do
	replay "direct$i" "${REP_URL[i]}"
done
SEQ=''
for k in 1 2 3; do
	replay "ha$k" "$HA_URL"
	replica_served "ha$k"
	SEQ="$SEQ $R"
done
note "replays through haproxy served by$SEQ"
[ "$(ca_access_lines)" = $((before + 1)) ] ||
    fail "the CA saw $(($(ca_access_lines) - before)) enrollments, expected 1"

# The next count of the same nonce, on another replica: good.
digest_authz "$EST_USER" "$AUTH_REALM" "$EST_PASS" MD5 POST "$U" "$NONCE" \
    00000002 "" "$OPAQUE"
T_AUTH=none post_csr second "${REP_URL[3]}/simpleenroll" "$WORK/dev.b64" \
    -H "Authorization: $DIGEST_AUTHZ"
check_status 200

rows=$(pg_psql "select nc, expires > estrad_now() from estrad_nonce where nonce = '$NONCE' order by nc") ||
    fail "cannot read estrad_nonce"
[ "$(tr '\n' ' ' <<<"$rows")" = "1|t 2|t " ] ||
    fail "estrad_nonce holds '$rows' for the nonce, expected nc 1 and 2, unexpired"

# The sweep: the rows whose time is over go, the others stay.
for ((k = 0; k < 75; k++)); do
	left=$(pg_psql "select count(*) from estrad_nonce where nonce = 'old-nonce'" \
	    "select count(*) from estrad_counter where name = 'u:gone'" | tr '\n' ' ')
	[ "$left" = "0 0 " ] && break
	sleep 1
done
[ "$left" = "0 0 " ] || fail "75 s on, the expired rows are still there ($left)"
[ "$(pg_psql "select count(*) from estrad_counter where name = 'u:live'")" = 1 ] ||
    fail "the sweep deleted a counter whose window has not ended"
[ "$(pg_psql "select count(*) from estrad_nonce where nonce = '$NONCE'")" = 2 ] ||
    fail "the sweep deleted unexpired nonce uses"
for i in 1 2 3; do
	check_alive "${REP_PID[i]}" "replica r$i"
done
pass
