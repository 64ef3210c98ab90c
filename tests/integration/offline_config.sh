#!/usr/bin/env bash
# estrad -n with the outage settings (docs/offline.md): a config with
# state_dir, cache, queue and a list of upstream URLs with their backoff
# passes ("configuration OK"); each mistake is one FILE:LINE: key.path:
# problem line and exit 1:
#   queue / cache without state_dir, a relative state_dir,
#   cache.max_stale below cache.ttl, queue.expire below 60,
#   a non-https URL in the list, more than 8 URLs,
#   backoff_max below backoff_initial.
# And the shipped config/branch-office.json, with /etc/estrad/pki -> the
# lab's PKI, the users file -> the lab's and /var/lib/estrad -> a directory
# here (created, as a package would), passes, and estrad -n creates no
# database in it.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

u1=https://127.0.0.1:1/.well-known/est
u2=https://127.0.0.1:2/.well-known/est

# check_ok NAME: estrad -n -c $WORK/NAME.json says configuration OK.
check_ok() {
	local out rc
	out=$("$ESTRAD_BIN" -n -c "$WORK/$1.json" 2>&1)
	rc=$?
	[ "$rc" = 0 ] || fail "$1: estrad -n exited $rc: $out"
	[ "$out" = "configuration OK" ] || fail "$1: estrad -n printed '$out'"
}

# check_bad NAME KEYPATH PHRASE: estrad -n -c $WORK/NAME.json exits 1
# with a line "FILE:LINE: KEYPATH: ...PHRASE...", every line in that form.
check_bad() {
	local f=$WORK/$1.json out rc bad
	out=$("$ESTRAD_BIN" -n -c "$f" 2>&1)
	rc=$?
	[ "$rc" = 1 ] || fail "$1: estrad -n exited $rc (want 1): $out"
	printf '%s\n' "$out" | grep "^$f:[0-9][0-9]*: $2: " | grep -qF -- "$3" ||
	    fail "$1: no line '$f:LINE: $2: ...$3...' in: $out"
	bad=$(printf '%s\n' "$out" | grep -v "^$f:[0-9][0-9]*: [][A-Za-z0-9_.-]*: ." || true)
	[ -z "$bad" ] || fail "$1: lines not in FILE:LINE: key.path: problem form: $bad"
}

full='"ttl": 600, "max_stale": 3600'
queue='"retry_after": 30, "max_entries": 100, "expire": 3600, "max_forwarding": 2, "poll_interval": 10'
backoff='"backoff_initial": 0.5, "backoff_max": 30, "failure_threshold": 2'

P_UPSTREAM_EXTRA=$backoff P_TOP_EXTRA=$(offline_top "$WORK/state" "$full" "$queue" "$WORK/audit.jsonl") \
    proxy_config_urls "$WORK/good.json" "$u1" "$u2"
check_ok good
P_TOP_EXTRA=$(offline_top "$WORK/state" "{}" "{}") proxy_config "$WORK/defaults.json"
check_ok defaults
[ -e "$WORK/state" ] && fail "estrad -n created the state_dir"

P_TOP_EXTRA="\"queue\": { $queue }" proxy_config "$WORK/nostate_q.json"
check_bad nostate_q queue 'state_dir'
P_TOP_EXTRA="\"cache\": { $full }" proxy_config "$WORK/nostate_c.json"
check_bad nostate_c cache 'state_dir'
P_TOP_EXTRA=$(offline_top "relative/dir" "$full") proxy_config "$WORK/relative.json"
check_bad relative state_dir 'absolute'
P_TOP_EXTRA=$(offline_top "$WORK/state" '"ttl": 600, "max_stale": 60') proxy_config "$WORK/stale.json"
check_bad stale cache.max_stale '60 is less than cache.ttl (600)'
P_TOP_EXTRA=$(offline_top "$WORK/state" "" '"expire": 30') proxy_config "$WORK/expire.json"
check_bad expire queue.expire ''
proxy_config_urls "$WORK/http.json" "$u1" http://127.0.0.1:2/.well-known/est
check_bad http 'upstreams.ca.url\[1\]' 'must be an https:// URL'
urls=()
for i in $(seq 9); do
	urls+=("https://127.0.0.1:$i/.well-known/est")
done
proxy_config_urls "$WORK/nine.json" "${urls[@]}"
check_bad nine upstreams.ca.url '8'
P_UPSTREAM_EXTRA='"backoff_initial": 10, "backoff_max": 5' proxy_config "$WORK/backoff.json"
check_bad backoff upstreams.ca.backoff_max 'backoff_initial'

SRC=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$WORK/var/estrad"	# as a package would (the audit file is in it)
sed -e "s|/etc/estrad/pki/|$PKI_DIR/|g" \
    -e "s|/etc/estrad/users.htdigest|$DIGEST_USERS|g" \
    -e "s|/var/lib/estrad|$WORK/var/estrad|g" \
    "$SRC/config/branch-office.json" >"$WORK/branch.json"
grep -nE '/etc/estrad|/var/lib/estrad' "$WORK/branch.json" &&
    fail "config/branch-office.json names other /etc/estrad or /var/lib/estrad paths"
check_ok branch
[ -e "$WORK/var/estrad/estrad.db" ] && fail "estrad -n created the queue database"
pass
