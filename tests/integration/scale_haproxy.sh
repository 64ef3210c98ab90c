#!/usr/bin/env bash
# Scale-out (docs/scaling.md): three estrad replicas behind HAProxy in TCP
# mode (round robin, no session affinity, a check of each replica's admin
# /readyz every 200 ms), sharing one nonce_secret_file; TLS ends at estrad.
#  - the example haproxy.cfg of docs/scaling.md passes `haproxy -c`; the
#    estrad.json of docker/k8s/configmap.yaml passes `estrad -n` (its paths
#    pointed at the lab's files) and, where PyYAML is installed, the
#    manifests agree with it (ports, probes, the files it names mounted);
#  - a Digest challenge from one replica is answered on another: the 401
#    and the 200 of the authorized POST (computed here, sent on a new
#    connection) are in different replicas' access logs, and the 200
#    carries a certificate for the CSR's key;
#  - nonce counts are per replica (docs/scaling.md says so): the same
#    Authorization header again is a replay (401) at the replica that took
#    it, and accepted once at the third;
#  - six `curl --digest` enrollments (one connection each) all 200, each on
#    another replica than the one before, all three used;
#  - kill -9 of one replica: once HAProxy marks it DOWN, six more
#    enrollments all 200, alternating between the other two.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

U=/.well-known/est/simpleenroll
SRC=$(cd "$(dirname "$0")/../.." && pwd)

command -v haproxy >/dev/null 2>&1 ||
    skip "no haproxy (Debian package haproxy, in tools/install-deps)"
command -v python3 >/dev/null 2>&1 || skip "no python3 (to find a free port)"

# ---- the example in the docs is a configuration HAProxy accepts.
awk '/^<!-- haproxy.cfg begin -->$/ { on = 1; next }
    /^<!-- haproxy.cfg end -->$/ { on = 0 }
    on && !/^```/' "$SRC/docs/scaling.md" >"$WORK/doc-haproxy.cfg"
grep -q '^backend ' "$WORK/doc-haproxy.cfg" ||
    fail "no haproxy.cfg example between the markers in docs/scaling.md"
haproxy -c -f "$WORK/doc-haproxy.cfg" >"$WORK/doc-haproxy.out" 2>&1 ||
    fail "haproxy -c rejects the example of docs/scaling.md: $(tail -n 5 "$WORK/doc-haproxy.out")"

(umask 077 && openssl rand 32 >"$WORK/nonce.secret")

# ---- docker/k8s: the ConfigMap's estrad.json passes `estrad -n` once its
# paths name the lab's files; with PyYAML (not a dependency), the
# manifests agree with it (ports, probes, every file it names mounted).
K8S=$SRC/docker/k8s
k8s_estrad_json "$WORK/k8s.json"
sed -e "s|/run/estrad/secrets/server.crt|$PROXY_SERVER_CERT|" \
    -e "s|/run/estrad/secrets/server.key|$PROXY_SERVER_KEY|" \
    -e "s|/run/estrad/secrets/ra.crt|$RA_CERT|" \
    -e "s|/run/estrad/secrets/ra.key|$RA_KEY|" \
    -e "s|/run/estrad/secrets/users.htdigest|$DIGEST_USERS|" \
    -e "s|/run/estrad/secrets/nonce.secret|$WORK/nonce.secret|" \
    -e "s|/etc/estrad/trust/[a-z-]*\.pem|$ROOT_CERT|" \
    -e "s|/var/lib/estrad/state|$WORK/k8s-state|" "$WORK/k8s.json" >"$WORK/k8s-lab.json"
# The pod runs as the image's estrad user; this test may be root.
[ "$(id -u)" != 0 ] || sed -i '1s/^{$/{ "run_as_root": true,/' "$WORK/k8s-lab.json"
! grep -nE '"/(run/estrad|etc/estrad|var/lib/estrad)' "$WORK/k8s-lab.json" ||
    fail "docker/k8s/configmap.yaml names a file this test does not map to the lab's"
"$ESTRAD_BIN" -n -c "$WORK/k8s-lab.json" >"$WORK/k8s.check" 2>&1 ||
    fail "estrad -n on the ConfigMap's estrad.json: $(head -c 600 "$WORK/k8s.check")"
if python3 -c 'import yaml' 2>/dev/null; then
	python3 - "$K8S" >"$WORK/k8s.out" 2>&1 <<'PY' ||
import json, os, sys, yaml
d = sys.argv[1]
docs = {}
for f in sorted(os.listdir(d)):
    if f.endswith(".yaml") and f != "kustomization.yaml":
        for doc in yaml.safe_load_all(open(os.path.join(d, f))):
            docs[(doc["kind"], doc["metadata"]["name"])] = doc
def need(cond, what):
    if not cond:
        sys.exit("docker/k8s: " + what)
cfg = json.loads(docs[("ConfigMap", "estrad-config")]["data"]["estrad.json"])
dep = docs[("Deployment", "estrad")]
svc = docs[("Service", "estrad")]
need(dep["spec"]["replicas"] == 3, "the Deployment does not run 3 replicas")
pod = dep["spec"]["template"]["spec"]
c = [x for x in pod["containers"] if x["name"] == "estrad"][0]
ports = {p["name"]: p["containerPort"] for p in c["ports"]}
need(ports.get("est") == int(cfg["listen"][0].rsplit(":", 1)[1]), "port est is not estrad.json's listen port")
need(ports.get("admin") == int(cfg["admin"]["listen"].rsplit(":", 1)[1]), "port admin is not admin.listen's")
need(not cfg["admin"]["listen"].startswith("127."), "admin.listen is loopback: the kubelet cannot probe it")
need(c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin"}, "readiness is not /readyz on admin")
need(c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "admin"}, "liveness is not /healthz on admin")
sp = svc["spec"]
need(sp.get("sessionAffinity", "None") == "None", "the Service has session affinity")
need([(p["port"], p["targetPort"], p.get("protocol", "TCP")) for p in sp["ports"]] == [(8443, "est", "TCP")], "the Service is not TCP 8443 -> est")
need(sp["selector"] == dep["spec"]["selector"]["matchLabels"], "the Service does not select the Deployment's pods")
mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
vols = {v["name"]: v for v in pod["volumes"]}
projected = set()
for s in vols["secrets-src"]["projected"]["sources"]:
    sec = docs[("Secret", s["secret"]["name"])]
    for it in s["secret"]["items"]:
        need(it["key"] in sec["stringData"], "Secret %s has no key %s" % (sec["metadata"]["name"], it["key"]))
        projected.add(it["path"])
trust = docs[("ConfigMap", vols["trust"]["configMap"]["name"])]["data"]
def files(o):
    if isinstance(o, dict):
        for v in o.values():
            yield from files(v)
    elif isinstance(o, list):
        for v in o:
            yield from files(v)
    elif isinstance(o, str) and o.startswith("/"):
        yield o
for f in files(cfg):
    dirname, base = os.path.split(f)
    if dirname == "/run/estrad/secrets":
        need(base in projected, f + " is not copied from a Secret")
        need(mounts.get(dirname) == "secrets", dirname + " is not mounted")
    elif dirname == "/etc/estrad/trust":
        need(base in trust, f + " is not in the trust ConfigMap")
        need(mounts.get(dirname) == "trust", dirname + " is not mounted")
    elif f == cfg.get("state_dir"):
        need(mounts.get(dirname) == "state", "the state_dir's parent is not the state volume")
    else:
        need(False, f + ": no volume provides it")
need(mounts.get("/etc/estrad/estrad.json") == "config", "estrad.json is not mounted")
need(c["command"][-2:] == ["-c", "/etc/estrad/estrad.json"], "estrad does not read /etc/estrad/estrad.json")
PY
	    fail "$(cat "$WORK/k8s.out")"
else
	note "no PyYAML: docker/k8s checked by estrad -n only"
fi

# ---- three replicas, one config: the lab's Digest users, a shared
# secret, an admin listener (HAProxy checks its /readyz).
P_AUTH="\"digest_users\": \"$DIGEST_USERS\", \"nonce_secret_file\": \"$WORK/nonce.secret\", \"nonce_lifetime\": 300"
proxy_config "$WORK/replica.json"
# proxy_config may add these keys itself one day (a key given twice is a
# config error); estrad runs as root only when told to.
top=''
grep -q '"admin"' "$WORK/replica.json" ||
    top='"admin": { "listen": "127.0.0.1:0" }'
if [ "$(id -u)" = 0 ] && ! grep -q '"run_as_root"' "$WORK/replica.json"; then
	top="$top${top:+, }\"run_as_root\": true"
fi
[ -z "$top" ] || P_TOP_EXTRA=$top proxy_config "$WORK/replica.json"
"$ESTRAD_BIN" -n -c "$WORK/replica.json" >"$WORK/replica.check" 2>&1 ||
    fail "estrad -n: $(head -c 400 "$WORK/replica.check")"

declare -a R_PID R_PORT R_ADMIN
for i in 1 2 3; do
	start_estrad "r$i" "$WORK/replica.json"
	R_PID[i]=$XPID R_PORT[i]=$XPORT REP_LOG[i]=$XLOG	# replica_served reads REP_LOG
	wait_grep 5 "$XLOG" 'admin listening on 127\.0\.0\.1:' ||
	    fail "r$i: no 'admin listening on 127.0.0.1:PORT' line"
	R_ADMIN[i]=$(sed -n 's/.*admin listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$XLOG" | head -n 1)
done

# ---- HAProxy in front, on a free port (it cannot bind port 0: lib.sh's
# free_port).

# haproxy_cfg PORT: the test's haproxy.cfg: the docs' example on loopback,
# with checks every 200 ms (each replica's admin /readyz), one failed
# check enough to take a replica out (the read may take 2 s, so a slow
# answer under a sanitizer is no failure).
haproxy_cfg() {
	cat <<EOF
global
	log stdout format raw local0 info
	maxconn 256

defaults
	mode tcp
	log global
	option tcplog
	timeout connect 2s
	timeout client 30s
	timeout server 30s
	timeout check 2s
	retries 2
	option redispatch

frontend est
	bind 127.0.0.1:$1
	default_backend estrad

backend estrad
	balance roundrobin
	option httpchk
	http-check send meth GET uri /readyz
	http-check expect status 200
	default-server check inter 200ms fall 1 rise 1
	server r1 127.0.0.1:${R_PORT[1]} port ${R_ADMIN[1]}
	server r2 127.0.0.1:${R_PORT[2]} port ${R_ADMIN[2]}
	server r3 127.0.0.1:${R_PORT[3]} port ${R_ADMIN[3]}
EOF
}

HA_LOG=$WORK/haproxy.log
T_LOGS+=("$HA_LOG")
HA_PID=
for _ in 1 2 3; do
	LB_PORT=$(free_port) || fail "python3 found no free port"
	haproxy_cfg "$LB_PORT" >"$WORK/haproxy.cfg"
	haproxy -c -f "$WORK/haproxy.cfg" >"$WORK/haproxy.check" 2>&1 ||
	    fail "haproxy -c: $(tail -n 5 "$WORK/haproxy.check")"
	haproxy -db -f "$WORK/haproxy.cfg" </dev/null >"$HA_LOG" 2>&1 &
	HA_PID=$!
	T_PIDS+=("$HA_PID")
	for ((k = 0; k < 50; k++)); do
		[ "$(listen_port "$HA_PID")" = "$LB_PORT" ] && break 2
		running "$HA_PID" || break
		sleep 0.1
	done
	stop_pid "$HA_PID"	# the port was taken meanwhile: another one
	HA_PID=
done
[ -n "$HA_PID" ] || fail "haproxy did not listen: $(tail -n 5 "$HA_LOG")"
LB_URL=https://127.0.0.1:$LB_PORT/.well-known/est
note "haproxy on $LB_PORT -> replicas ${R_PORT[*]}"

# ---- (1) a challenge from one replica, answered on another.
make_csr cross "/CN=scale-cross"
T_AUTH=none post_csr challenge "$LB_URL/simpleenroll" "$WORK/cross.b64"
check_error 401 "authentication required"
check_challenges "MD5 SHA-256"
replica_served challenge
a=$R
check_access "status=401 upstream=-" "${REP_LOG[a]}"
digest_challenge SHA-256
digest_authz "$EST_USER" "$AUTH_REALM" "$EST_PASS" SHA-256 POST "$U" \
    "$CH_NONCE" 00000001 "" "$CH_OPAQUE"
authz=$DIGEST_AUTHZ
T_AUTH=none enroll_ok cross "$LB_URL/simpleenroll" "$WORK/cross.b64" cross \
    "$ISSUING_CERT" -H "Authorization: $authz"
replica_served cross
b=$R
[ "$a" != "$b" ] ||
    fail "the challenge and the authorized POST were both served by replica $a (round robin should alternate)"
check_access "auth=digest user=$EST_USER status=200" "${REP_LOG[b]}"
note "challenge from r$a answered on r$b"

# Replay tables are per replica: the same header again is a replay where
# it was used, and accepted once by a replica that never saw it (the
# limit docs/scaling.md states; bounded by nonce_lifetime).
c=$((6 - a - b))
T_AUTH=none post_csr replay "https://127.0.0.1:${R_PORT[b]}$U" \
    "$WORK/cross.b64" -H "Authorization: $authz"
check_error 401
check_phrase "Digest nonce count replayed"
T_AUTH=none enroll_ok replay_other "https://127.0.0.1:${R_PORT[c]}$U" \
    "$WORK/cross.b64" cross "$ISSUING_CERT" -H "Authorization: $authz"
check_access "auth=digest user=$EST_USER status=200" "${REP_LOG[c]}"

# enroll_round TAG N "REPLICAS": N curl --digest enrollments (each one
# curl, so one connection: its 401 and 200 on the same replica) through
# HAProxy; each 200 with a certificate for its own key, each served by
# another replica than the one before, every replica of REPLICAS used and
# no other. Sets SEQ (the replicas, in order).
enroll_round() {
	local tag=$1 n=$2 want=$3 i prev='' r
	SEQ=''
	for ((i = 1; i <= n; i++)); do
		make_csr "$tag$i" "/CN=scale-$tag-$i"
	done
	for ((i = 1; i <= n; i++)); do
		enroll_ok "$tag$i" "$LB_URL/simpleenroll" "$WORK/$tag$i.b64" \
		    "$tag$i" "$ISSUING_CERT"
		replica_served "$tag$i"
		check_access "auth=digest user=$EST_USER status=200" "${REP_LOG[R]}"
		[ "$R" != "$prev" ] ||
		    fail "$tag$i: served by r$R like the enrollment before it (sequence: $SEQ $R)"
		prev=$R
		SEQ="$SEQ${SEQ:+ }$R"
	done
	for r in 1 2 3; do
		case " $want " in
		*" $r "*)
			case " $SEQ " in
			*" $r "*) ;;
			*) fail "$tag: replica r$r served none of the enrollments (sequence: $SEQ)" ;;
			esac
			;;
		*)
			case " $SEQ " in
			*" $r "*) fail "$tag: replica r$r served an enrollment (sequence: $SEQ)" ;;
			esac
			;;
		esac
	done
	note "$tag: enrollments served by replicas $SEQ"
}

# ---- (2) enrollments alternate over the three replicas.
enroll_round rr 6 "1 2 3"

# ---- (3) one replica killed: HAProxy's check takes it out, the rest serve.
victim=2
kill9 "${R_PID[victim]}"
t0=$(now_ms)
wait_grep 5 "$HA_LOG" "estrad/r$victim is DOWN" ||
    fail "haproxy did not mark r$victim DOWN within 5 s"
note "r$victim marked DOWN $(($(now_ms) - t0)) ms after kill -9"
enroll_round down 6 "1 3"

check_alive "$HA_PID" "haproxy"
for i in 1 3; do
	check_alive "${R_PID[i]}" "replica r$i"
done
pass
