#!/usr/bin/env bash
# docker_files: no container engine runs here, so docker/Dockerfile is held
# to the steps CI runs, and the compose wiring is run on loopback:
#   - every stage FROM debian:12-slim, runtime last; the build stage runs
#     tools/check's tools/build line, the unit tests and install_layout's
#     cmake --install line, with exactly tools/install-deps' build packages;
#   - each NEEDED library of the built estrad comes from a runtime-stage
#     package (or libc6), each of them installed here (so it exists in
#     Debian 12); every COPY source exists; USER, VOLUME, EXPOSE,
#     HEALTHCHECK and ENTRYPOINT as documented;
#   - docker/make-pki.sh makes a PKI `openssl verify` accepts (keys 600,
#     SANs with the service names) and keeps an existing one;
#   - compose.yaml's services and mounts match the configs;
#   - docker/ca.json and docker/ra.json on that PKI, overridden by the
#     ESTRAD_* variables the containers would get: cacerts and a Digest
#     enrollment through the RA; docker/healthcheck.sh on its admin port.
. "$(dirname "$0")/lib.sh"

SRC=${ESTRAD_SOURCE_DIR:?ESTRAD_SOURCE_DIR is not set}
DF=$SRC/docker/Dockerfile
[ -f "$DF" ] || fail "no $DF"

# Logical lines of the Dockerfile (continuations joined), comments dropped.
sed -e '/^[[:space:]]*#/d' "$DF" | sed -e ':a' -e '/\\$/N; s/\\\n//; ta' |
    tr -s ' \t' ' ' >"$WORK/Dockerfile.lines"
LINES=$WORK/Dockerfile.lines

# stage NAME: the logical lines of stage NAME.
stage() {
	awk -v s="$1" '/^FROM / { on = ($NF == s) } on' "$LINES"
}

# ---- stages
mapfile -t froms < <(grep '^FROM ' "$LINES")
[ "${#froms[@]}" = 3 ] || fail "${#froms[@]} stages, expected build, pki, runtime"
for f in "${froms[@]}"; do
	[[ $f =~ ^FROM\ debian:12-slim\ AS\ [a-z]+\ ?$ ]] || fail "stage '$f' is not FROM debian:12-slim AS NAME"
done
[[ ${froms[2]} == *" AS runtime"* ]] || fail "the last (default) stage is '${froms[2]}', not runtime"
note "stages: ${froms[*]}"

# ---- the build stage runs what CI runs
ci_build=$(grep -E '^BUILD_DIR=build tools/build ' "$SRC/tools/check" | head -n 1)
[ -n "$ci_build" ] || fail "no 'BUILD_DIR=build tools/build' line in tools/check"
stage build >"$WORK/build.stage"
grep -qF -- "RUN $ci_build " "$WORK/build.stage" ||
    fail "the build stage does not run tools/check's '$ci_build'"
grep -qF -- "(cd build && ctest -L unit --output-on-failure)" "$WORK/build.stage" ||
    fail "the build stage does not run the unit tests"
grep -qF -- 'DESTDIR=/staging cmake --install build --prefix /usr/local --strip' "$WORK/build.stage" ||
    fail "the build stage does not install as install_layout.sh checks"
grep -qF -- 'DESTDIR=/staging cmake --install build --prefix /usr/local --strip' \
    "$SRC/tests/integration/install_layout.sh" ||
    fail "install_layout.sh no longer runs the Dockerfile's install line"
note "build: '$ci_build', ctest -L unit, cmake --install"

# apt_packages STAGEFILE: the packages of its apt-get install lines.
apt_packages() {
	grep -o 'apt-get install [^&]*' "$1" | tr ' ' '\n' |
	    grep -vE '^(apt-get|install|-.*|)$' | sort -u
}

# tools/install-deps' PACKAGES; the build ones are those a build and the
# unit tests need (apache2-utils: unit_test_users runs htdigest and
# htpasswd; openssl: unit_test_coap_map takes the CLI's decoding as its
# oracle; libclang-rt-14-dev is libFuzzer's runtime, for tools/fuzz.sh
# only).
deps=$(sed -n '/^PACKAGES="/,/"$/p' "$SRC/tools/install-deps" |
    sed 's/PACKAGES=//' | tr -d '"' | tr ' ' '\n' | sed '/^$/d' | sort -u)
[ -n "$deps" ] || fail "no PACKAGES in tools/install-deps"
want_build=$(printf '%s\n' "$deps" |
    grep -E -- '-dev$|^(build-essential|cmake|pkg-config|apache2-utils|openssl)$' |
    grep -vx 'libclang-rt-14-dev' | sort -u)
got_build=$(apt_packages "$WORK/build.stage")
[ "$got_build" = "$want_build" ] ||
    fail "build packages differ from tools/install-deps': Dockerfile '${got_build//$'\n'/ }', install-deps '${want_build//$'\n'/ }'"
note "build packages: ${got_build//$'\n'/ }"

# ---- the runtime stage has every library estrad needs
stage runtime >"$WORK/runtime.stage"
runtime_pkgs=$(apt_packages "$WORK/runtime.stage")
for p in $runtime_pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
	    fail "runtime package $p is not a Debian 12 package installed here"
done
command -v readelf >/dev/null || fail "no readelf (binutils, from build-essential)"
mapfile -t needed < <(readelf -d "$ESTRAD_BIN" |
    sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | grep -vE '^lib(a|ub|l|t)san\.')
[ "${#needed[@]}" -ge 5 ] || fail "only ${#needed[@]} NEEDED entries in $ESTRAD_BIN"
ldd "$ESTRAD_BIN" >"$WORK/ldd.out" 2>&1 || fail "ldd $ESTRAD_BIN: $(cat "$WORK/ldd.out")"
for lib in "${needed[@]}"; do
	path=$(awk -v l="$lib" '$1 == l && $3 ~ /^\// { print $3 }' "$WORK/ldd.out")
	[ -n "$path" ] || fail "ldd does not resolve $lib"
	path=$(readlink -f "$path")
	pkg=$(dpkg -S "$path" 2>/dev/null | head -n 1 | cut -d: -f1)
	[ -n "$pkg" ] || pkg=$(dpkg -S "${path#/usr}" 2>/dev/null | head -n 1 | cut -d: -f1)
	[ -n "$pkg" ] || fail "no package owns $path ($lib)"
	[ "$pkg" = libc6 ] && continue
	printf '%s\n' "$runtime_pkgs" | grep -qx -- "$pkg" ||
	    fail "estrad needs $lib from $pkg, which the runtime stage does not install"
done
note "runtime: ${#needed[@]} NEEDED libraries, each from a runtime package"

# ---- the rest of the Dockerfile
while read -r _ src _; do
	case $src in --from=*) continue ;; esac
	[ -e "$SRC/$src" ] || fail "COPY $src: no such file in the repository"
done < <(grep '^COPY ' "$LINES")
for want in 'USER estrad' 'VOLUME ["/etc/estrad", "/var/lib/estrad"]' \
    'EXPOSE 8443 9090' 'ENTRYPOINT ["/usr/local/sbin/estrad", "-c", "/etc/estrad/estrad.json"]' \
    'COPY docker/healthcheck.sh /usr/local/bin/estrad-healthcheck' \
    'ENV ESTRAD_ADMIN_LISTEN=0.0.0.0:9090'; do
	grep -qxF -- "$want" "$WORK/runtime.stage" || fail "the runtime stage lacks '$want'"
done
grep -qE '^HEALTHCHECK .*CMD \["/usr/local/bin/estrad-healthcheck"\]$' "$WORK/runtime.stage" ||
    fail "the runtime stage has no HEALTHCHECK running estrad-healthcheck"
[ "$(grep '^USER ' "$WORK/runtime.stage" | tail -n 1)" != "USER root" ] ||
    fail "the runtime stage ends as root"
note "runtime: USER estrad, volumes, ports, HEALTHCHECK, ENTRYPOINT"

# ---- make-pki.sh
PKI=$WORK/pki
ESTRAD_PKI_CA_NAMES=ca ESTRAD_PKI_RA_NAMES=ra "$SRC/docker/make-pki.sh" "$PKI" \
    >"$WORK/make-pki.out" 2>&1 || fail "make-pki.sh: $(tail -n 5 "$WORK/make-pki.out")"
openssl verify -CAfile "$PKI/root.pem" "$PKI/issuing.pem" >/dev/null ||
    fail "issuing.pem does not verify"
for n in ca-server proxy-server ra client; do
	openssl verify -CAfile "$PKI/root.pem" -untrusted "$PKI/issuing.pem" \
	    "$PKI/$n.pem" >/dev/null || fail "$n.pem does not verify"
	openssl verify -CAfile "$PKI/root.pem" -untrusted "$PKI/$n-chain.pem" \
	    "$PKI/$n-chain.pem" >/dev/null || fail "$n-chain.pem does not verify"
done
for f in root.key issuing.key ca-server.key proxy-server.key ra.key client.key \
    users/digest est-password; do
	[ "$(stat -c %a "$PKI/$f")" = 600 ] || fail "$f is mode $(stat -c %a "$PKI/$f"), not 600"
done
openssl x509 -in "$PKI/ca-server.pem" -noout -ext subjectAltName | grep -q 'DNS:ca,' ||
    fail "ca-server has no DNS:ca"
openssl x509 -in "$PKI/proxy-server.pem" -noout -ext subjectAltName | grep -q 'DNS:ra,' ||
    fail "proxy-server has no DNS:ra"
openssl x509 -in "$PKI/ra.pem" -noout -ext extendedKeyUsage |
    grep -qE 'CMC Registration Authority|1\.3\.6\.1\.5\.5\.7\.3\.28' ||
    fail "the RA certificate has no id-kp-cmcRA"
fp=$(fingerprint "$PKI/root.pem")
"$SRC/docker/make-pki.sh" "$PKI" >"$WORK/make-pki2.out" 2>&1 || fail "make-pki.sh again failed"
[ "$(fingerprint "$PKI/root.pem")" = "$fp" ] || fail "make-pki.sh replaced an existing PKI"
note "make-pki.sh: verifies, keys 600, SANs, kept on a second run"

# ---- compose.yaml against the configs
COMPOSE=$SRC/docker/compose.yaml
if python3 -c 'import yaml' 2>/dev/null; then
	python3 - "$COMPOSE" "$SRC/docker" >"$WORK/compose.out" 2>&1 <<'EOF' ||
import os, sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
s = doc["services"]
assert set(s) == {"pki", "ca", "ra"}, sorted(s)
assert s["pki"]["build"]["target"] == "pki"
assert "pki:/pki" in s["pki"]["volumes"]
for name in ("ca", "ra"):
    svc = s[name]
    assert svc["build"]["target"] == "runtime", name
    assert svc["build"]["dockerfile"] == "docker/Dockerfile", name
    assert "pki:/etc/estrad/pki:ro" in svc["volumes"], name
    conf = "./%s.json:/etc/estrad/estrad.json:ro" % name
    assert conf in svc["volumes"], (name, svc["volumes"])
    assert os.path.isfile(os.path.join(sys.argv[2], name + ".json")), name
    assert svc["stop_grace_period"] == "30s", name
assert s["ca"]["depends_on"]["pki"]["condition"] == "service_completed_successfully"
assert s["ra"]["depends_on"]["ca"]["condition"] == "service_healthy"
assert s["ra"]["environment"]["ESTRAD_UPSTREAM_URL"] == "https://ca:8443/.well-known/est"
assert set(doc["volumes"]) == {"pki", "ca-state", "ra-state"}
print("compose.yaml ok")
EOF
	    fail "compose.yaml: $(tail -n 3 "$WORK/compose.out")"
	note "compose.yaml: services, volumes and mounts (python3-yaml)"
else
	for want in '  pki:' '  ca:' '  ra:' '- pki:/etc/estrad/pki:ro' \
	    '- ./ca.json:/etc/estrad/estrad.json:ro' '- ./ra.json:/etc/estrad/estrad.json:ro'; do
		grep -qF -- "$want" "$COMPOSE" || fail "compose.yaml lacks '$want'"
	done
	note "compose.yaml: grep only (no python3-yaml)"
fi
grep -q '"/etc/estrad/pki/' "$SRC/docker/ra.json" || fail "ra.json does not read /etc/estrad/pki"

# ---- the compose wiring on loopback
# local_config NAME: docker/NAME.json with the container paths moved into
# $WORK and run_as_root (the tests run as root; the image never does).
local_config() {
	python3 - "$SRC/docker/$1.json" "$WORK/$1.json" "$PKI" "$WORK/$1-state" <<'EOF' ||
import json, sys
src, dst, pki, state = sys.argv[1:]
def walk(v):
    if isinstance(v, dict):
        return {k: walk(x) for k, x in v.items()}
    if isinstance(v, list):
        return [walk(x) for x in v]
    if isinstance(v, str):
        return v.replace("/etc/estrad/pki", pki).replace("/var/lib/estrad", state)
    return v
cfg = walk(json.load(open(src)))
cfg["run_as_root"] = True
json.dump(cfg, open(dst, "w"), indent=2)
EOF
	    fail "cannot rewrite docker/$1.json"
}

# admin_port LOG: the port of "admin listening on 127.0.0.1:PORT".
admin_port() {
	local i p
	for ((i = 0; i < 50; i++)); do
		p=$(sed -n 's/.*admin listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$1" | head -n 1)
		[ -n "$p" ] && { echo "$p"; return 0; }
		sleep 0.1
	done
	return 1
}

local_config ca
local_config ra
# The image makes /var/lib/estrad (estrad, 0700); ra.json's audit file is
# in it.
mkdir -m 700 "$WORK/ca-state" "$WORK/ra-state"
export ESTRAD_LISTEN=127.0.0.1:0 ESTRAD_ADMIN_LISTEN=127.0.0.1:0
start_estrad compose-ca "$WORK/ca.json"
CA_LOCAL_URL=$XURL
export ESTRAD_UPSTREAM_URL=$CA_LOCAL_URL ESTRAD_STATE_DIR=$WORK/ra-state
start_estrad compose-ra "$WORK/ra.json"
RA_LOG=$XLOG
RA_URL=$XURL
unset ESTRAD_LISTEN ESTRAD_ADMIN_LISTEN ESTRAD_UPSTREAM_URL ESTRAD_STATE_DIR
for v in ESTRAD_LISTEN ESTRAD_ADMIN_LISTEN ESTRAD_UPSTREAM_URL ESTRAD_STATE_DIR; do
	grep -q "config: $v overrides" "$RA_LOG" || fail "the RA did not log the $v override"
done

# cacerts: the made PKI's issuing CA and root, through the RA.
req compose-cacerts GET "$RA_URL/cacerts" --cacert "$PKI/root.pem"
check_status 200
n=$(p7_certs "$BODY" "$WORK/compose-cacerts.pem")
[ "$n" = 2 ] || fail "cacerts through the RA has $n certificates, expected 2"
grep -qF "$(sed -n 2p "$PKI/issuing.pem")" "$WORK/compose-cacerts.pem" ||
    fail "cacerts through the RA is not make-pki.sh's issuing CA"

# A Digest enrollment as make-pki.sh's user.
make_csr compose-dev /CN=compose-device
req compose-enroll POST "$RA_URL/simpleenroll" --cacert "$PKI/root.pem" \
    -H 'Content-Type: application/pkcs10' --data-binary "@$WORK/compose-dev.b64" \
    --digest -u "estuser:$(cat "$PKI/est-password")"
check_status 200
n=$(p7_certs "$BODY" "$WORK/compose-dev.crt")
[ "$n" = 1 ] || fail "simpleenroll through the RA gave $n certificates"
openssl verify -CAfile "$PKI/root.pem" -untrusted "$PKI/issuing.pem" \
    "$WORK/compose-dev.crt" >/dev/null || fail "the issued certificate does not verify to make-pki.sh's root"
note "compose wiring on loopback: cacerts and a Digest enrollment through the RA"

# The HEALTHCHECK script on the RA's admin listener, as the image runs it
# (ESTRAD_ADMIN_LISTEN, a wildcard meaning loopback).
aport=$(admin_port "$RA_LOG") || fail "the RA logged no 'admin listening on 127.0.0.1:PORT'"
ESTRAD_ADMIN_LISTEN=0.0.0.0:$aport sh "$SRC/docker/healthcheck.sh" ||
    fail "healthcheck.sh fails on a healthy RA (admin port $aport)"
if ESTRAD_ADMIN_LISTEN=127.0.0.1:1 sh "$SRC/docker/healthcheck.sh" 2>/dev/null; then
	fail "healthcheck.sh passes with nothing listening"
fi
note "healthcheck.sh: healthy RA passes, nothing listening fails"

pass
