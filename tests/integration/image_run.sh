#!/usr/bin/env bash
# image_run: the container image itself (tools/image build), run as the
# README and docker/compose.yaml run it, in front of the lab's CA:
#   - `buildah from` + `buildah run --isolation chroot --network host`
#     (podman run fails on hybrid cgroup hosts), the image's own user;
#     its config holds the Dockerfile's HEALTHCHECK (kept by --format docker);
#   - /etc/estrad/estrad.json is docker/ra.json, /etc/estrad/pki holds the
#     lab's files under ra.json's names, owned by the image's user with
#     keys mode 600; ESTRAD_UPSTREAM_URL, ESTRAD_LISTEN and
#     ESTRAD_ADMIN_LISTEN override as compose.yaml does (ports 0 here);
#   - the image's user is not root; cacerts, then a Digest simpleenroll
#     through it gives a certificate for the CSR's key; /healthz, /readyz
#     and the image's HEALTHCHECK command answer; SIGTERM stops it;
#   - docker/k8s's pod: a Secret volume laid out as the kubelet does with
#     fsGroup (..data links, root's files, mode 0440) is refused by
#     `estrad -n` on configmap.yaml's estrad.json, naming the key; the
#     copies deployment.yaml's init container command makes in the image
#     (uid 999, 0400) pass.
# Label "image": tools/check builds the image, then runs this with
# ESTRAD_IMAGE_REQUIRED=1, where a missing tool or image fails; elsewhere
# it skips (exit 77) with the reason.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

IMAGE=${ESTRAD_IMAGE:-localhost/estrad:local}
SRC=${ESTRAD_SOURCE_DIR:?ESTRAD_SOURCE_DIR is not set}

unavailable() {
	[ "${ESTRAD_IMAGE_REQUIRED:-0}" = 1 ] && fail "$* (ESTRAD_IMAGE_REQUIRED=1)"
	skip "$*"
}
[ "$(id -u)" = 0 ] || unavailable "not root: buildah runs the image as root here"
command -v buildah >/dev/null || unavailable "no buildah (tools/install-deps installs it)"
buildah inspect --type image "$IMAGE" >/dev/null 2>&1 ||
    unavailable "no image $IMAGE: run tools/image build first"

# ---- the image's user
user=$(buildah inspect --type image --format '{{.OCIv1.Config.User}}' "$IMAGE")
[ "$user" = estrad ] || fail "the image runs as '$user', not estrad"
hc=$(buildah inspect --type image "$IMAGE" | python3 -c 'import json, sys
print(json.dumps(json.load(sys.stdin)["Docker"]["config"].get("Healthcheck", {}).get("Test")))')
[ "$hc" = '["CMD", "/usr/local/bin/estrad-healthcheck"]' ] ||
    fail "the image's HEALTHCHECK is '$hc', not estrad-healthcheck (built without --format docker?)"
size=$(buildah images --format '{{.Size}}' "$IMAGE")
note "image $IMAGE: user $user, HEALTHCHECK estrad-healthcheck, size $size"

CTR=image-run-$$
buildah from --pull-never --name "$CTR" "$IMAGE" >/dev/null ||
    fail "buildah from $IMAGE failed"
# descendant PID COMM: the first process named COMM under PID.
descendant() {
	local c
	# shellcheck disable=SC2013 # the children files are space-separated
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		[ "$(cat "/proc/$c/comm" 2>/dev/null)" = "$2" ] && { echo "$c"; return; }
		descendant "$c" "$2"
	done
}

# On the way out (a failure too): the daemon in the image, then the
# container.
# shellcheck disable=SC2317 # called by the EXIT trap
ctr_cleanup() {
	local p
	if [ -n "${RA_PID:-}" ] && running "$RA_PID"; then
		p=$(descendant "$RA_PID" estrad | head -n 1)
		[ -z "$p" ] || kill -TERM "$p" 2>/dev/null
		stop_pid "$RA_PID"
	fi
	buildah rm "$CTR" >/dev/null 2>&1
	t_cleanup
}
trap ctr_cleanup EXIT

# in_image ARGS...: a command in the container, as the image's user.
in_image() {
	buildah run --isolation chroot --network host "$CTR" -- "$@"
}
uid=$(in_image id -u) || fail "buildah run id -u failed"
if [ -z "$uid" ] || [ "$uid" = 0 ]; then
	fail "the image's process runs as uid '$uid'"
fi
gid=$(in_image id -g)
note "the image's process: uid $uid gid $gid"

# ---- docker/ra.json's files, from the lab
ETC=$WORK/etc
mkdir -p "$ETC/pki/users" "$WORK/state"
cp "$PROXY_SERVER_CERT" "$ETC/pki/proxy-server-chain.pem"
cp "$PROXY_SERVER_KEY" "$ETC/pki/proxy-server.key"
cp "$ROOT_CERT" "$ETC/pki/root.pem"
cp "$RA_CERT" "$ETC/pki/ra-chain.pem"
cp "$RA_KEY" "$ETC/pki/ra.key"
cp "$DIGEST_USERS" "$ETC/pki/users/digest"
chmod 600 "$ETC/pki/"*.key "$ETC/pki/users/digest"
chmod 700 "$WORK/state"
chown -R "$uid:$gid" "$ETC/pki" "$WORK/state"
for f in $(grep -o '"/etc/estrad/pki/[^"]*"' "$SRC/docker/ra.json" | tr -d '"'); do
	[ -f "$ETC/pki/${f#/etc/estrad/pki/}" ] || fail "docker/ra.json names $f, not provided here"
done

RA_LOG=$WORK/ra.log
T_LOGS+=("$RA_LOG")
setsid buildah run --isolation chroot --network host \
    -v "$SRC/docker/ra.json:/etc/estrad/estrad.json:ro" \
    -v "$ETC/pki:/etc/estrad/pki:ro" \
    -v "$WORK/state:/var/lib/estrad" \
    -e ESTRAD_UPSTREAM_URL="$CA_URL" \
    -e ESTRAD_LISTEN=127.0.0.1:0 \
    -e ESTRAD_ADMIN_LISTEN=127.0.0.1:0 \
    "$CTR" -- /usr/local/sbin/estrad -c /etc/estrad/estrad.json \
    </dev/null >"$RA_LOG" 2>&1 &
RA_PID=$!
port=$(wait_log_port "$RA_PID" "$RA_LOG" '127\.0\.0\.1') ||
    fail "estrad in the image did not log 'listening on 127.0.0.1:PORT'"
aport=$(sed -n 's/.*admin listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$RA_LOG" | head -n 1)
[ -n "$aport" ] || fail "no 'admin listening on' line"
URL=https://127.0.0.1:$port/.well-known/est
note "estrad from the image on $port (admin $aport), upstream $CA_URL"
grep -q 'ESTRAD_UPSTREAM_URL overrides upstreams.ca.url' "$RA_LOG" ||
    fail "no log line for the ESTRAD_UPSTREAM_URL override"

# ---- it answers
req cacerts GET "$URL/cacerts"
check_status 200
make_csr dev "/CN=image-device" "DNS:image-device.lab.example"
enroll_ok enroll "$URL/simpleenroll" "$WORK/dev.b64" dev "$ISSUING_CERT"
note "Digest simpleenroll through the image: a certificate for the CSR's key"
for p in healthz readyz; do
	code=$(curl -s -o "$WORK/$p.out" -w '%{http_code}' --max-time 5 \
	    "http://127.0.0.1:$aport/$p") || fail "GET /$p failed"
	[ "$code" = 200 ] || fail "GET /$p: $code $(head -c 200 "$WORK/$p.out")"
done
buildah run --isolation chroot --network host \
    -e ESTRAD_ADMIN_LISTEN="0.0.0.0:$aport" "$CTR" -- \
    /usr/local/bin/estrad-healthcheck || fail "the image's HEALTHCHECK command failed"
note "/healthz, /readyz and estrad-healthcheck: 200"

# ---- docker/k8s's pod, files laid out as the kubelet lays them out
# A Secret volume with fsGroup: each name a link to ..data/NAME, ..data a
# link to a timestamped directory, the files root's, group the fsGroup,
# mode 0440 (the kubelet adds group read whatever defaultMode says).
K=$WORK/k8s
ts=..2026_01_01_00_00_00.000000001
mkdir -p "$K/src/$ts" "$K/run" "$K/trust"
cp "$PROXY_SERVER_CERT" "$K/src/$ts/server.crt"
cp "$PROXY_SERVER_KEY" "$K/src/$ts/server.key"
cp "$RA_CERT" "$K/src/$ts/ra.crt"
cp "$RA_KEY" "$K/src/$ts/ra.key"
cp "$DIGEST_USERS" "$K/src/$ts/users.htdigest"
head -c 32 /dev/urandom >"$K/src/$ts/nonce.secret"
chown -R "0:$gid" "$K/src/$ts"
chmod 0440 "$K/src/$ts/"*
ln -s "$ts" "$K/src/..data"
for f in "$K/src/$ts/"*; do
	ln -s "..data/${f##*/}" "$K/src/${f##*/}"
done
chmod 0777 "$K/run"	# the emptyDir
cp "$ROOT_CERT" "$K/trust/client-ca.pem"
cp "$ROOT_CERT" "$K/trust/ca-bundle.pem"
k8s_estrad_json "$K/estrad.json"
init=$(sed -n "s/^ *- '\(set -e; for f in \/secrets\/.*\)'$/\1/p" "$SRC/docker/k8s/deployment.yaml")
[ -n "$init" ] || fail "no init container command (set -e; for f in /secrets/* ...) in docker/k8s/deployment.yaml"

# k8s_check LOG SECRETS: estrad -n in the image on the ConfigMap's
# estrad.json, /run/estrad/secrets from the host directory SECRETS.
k8s_check() {
	buildah run --isolation chroot --network host \
	    -v "$K/estrad.json:/etc/estrad/estrad.json:ro" \
	    -v "$K/trust:/etc/estrad/trust:ro" \
	    -v "$2:/run/estrad/secrets:ro" \
	    "$CTR" -- /usr/local/sbin/estrad -n -c /etc/estrad/estrad.json >"$1" 2>&1
}
# Straight from the Secret volume: refused, and the reason names the file.
k8s_check "$K/direct.out" "$K/src" && fail "estrad -n accepted a 0440 Secret volume: $(cat "$K/direct.out")"
grep -q '/run/estrad/secrets/server.key is readable by group or others (mode 0440)' "$K/direct.out" ||
    fail "estrad -n on the Secret volume itself: $(head -c 400 "$K/direct.out")"
# The init container's copies: the pod's user's, 0400, and estrad -n is OK.
buildah run --isolation chroot --network host -v "$K/src:/secrets:ro" \
    -v "$K/run:/run/estrad/secrets" "$CTR" -- /bin/sh -c "$init" ||
    fail "the init container's command failed in the image: $init"
for f in "$K/src/$ts/"*; do
	c=$K/run/${f##*/}
	if [ ! -f "$c" ] || [ -L "$c" ]; then
		fail "the init container did not copy ${f##*/}"
	fi
	[ "$(stat -c '%u %a' "$c")" = "$uid 400" ] ||
	    fail "${f##*/} copied as $(stat -c 'uid %u mode %a' "$c"), not uid $uid mode 400"
done
k8s_check "$K/copied.out" "$K/run" ||
    fail "estrad -n on the init container's copies: $(head -c 400 "$K/copied.out")"
grep -q 'configuration OK' "$K/copied.out" || fail "estrad -n said: $(head -c 400 "$K/copied.out")"
note "k8s: the Secret volume itself (0440) refused, naming the key; the init container's copies (uid $uid, 0400) pass estrad -n"

# ---- SIGTERM (what `docker stop` sends) stops it
pid=$(descendant "$RA_PID" estrad | head -n 1)
[ -n "$pid" ] || fail "no estrad process under buildah run ($RA_PID)"
[ "$(stat -c %u "/proc/$pid")" = "$uid" ] || fail "estrad runs as uid $(stat -c %u "/proc/$pid")"
kill -TERM "$pid"
exit_status "$RA_PID" "estrad from the image"
[ "$RC" = 0 ] || fail "estrad from the image exited $RC after SIGTERM"
note "SIGTERM: stopped, exit 0"
pass
