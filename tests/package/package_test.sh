#!/usr/bin/env bash
# The Debian package, end to end: builds it with CPack from the build tree,
# checks its contents, conffiles and Depends with dpkg-deb, unpacks it into
# a scratch root, runs the unpacked mm-server (with the packaged example
# config) against a test redis-server until it is ready and serves
# /healthz, and runs `systemd-analyze verify` on the packaged unit.
#
# usage: package_test.sh BUILD_DIR
set -euo pipefail

build=$(cd "$1" && pwd)
scratch=$(mktemp -d /tmp/mm-package-test.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$scratch"
}
trap cleanup EXIT

fail() {
  echo "package_test: FAILED: $*" >&2
  exit 1
}

for tool in cpack dpkg-deb dpkg-query systemd-analyze redis-server python3; do
  command -v "$tool" >/dev/null || fail "$tool not found (run scripts/setup)"
done

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- build ---------------------------------------------------------------------
(cd "$scratch" && cpack -G DEB --config "$build/CPackConfig.cmake" \
  -B "$scratch/out" >"$scratch/cpack.log" 2>&1) \
  || { cat "$scratch/cpack.log" >&2; fail "cpack"; }
deb=$(ls "$scratch"/out/marketmonitor_*.deb 2>/dev/null | head -1 || true)
[[ -n $deb ]] || fail "cpack made no marketmonitor_*.deb"
echo "package_test: built $(basename "$deb") ($(du -h "$deb" | cut -f1))"

# --- contents --------------------------------------------------------------------
dpkg-deb -c "$deb" | awk '{print $NF}' >"$scratch/contents"
for path in ./usr/bin/mm-server ./usr/bin/mm-shell ./usr/bin/mm-feed \
  ./lib/systemd/system/marketmonitor.service \
  ./etc/marketmonitor/mm-server.conf \
  ./usr/share/doc/marketmonitor/operations.md \
  ./usr/share/doc/marketmonitor/api.md \
  ./usr/share/doc/marketmonitor/grafana/marketmonitor.json; do
  grep -qx "$path" "$scratch/contents" || fail "$path missing from the package"
done
dpkg-deb -e "$deb" "$scratch/control"
grep -qx /etc/marketmonitor/mm-server.conf "$scratch/control/conffiles" \
  || fail "mm-server.conf is not a conffile"
for script in postinst prerm postrm; do
  [[ -x $scratch/control/$script ]] || fail "no executable $script"
done

# --- Depends: the runtime libraries, each one a package that is installed ---
depends=$(dpkg-deb -f "$deb" Depends)
echo "package_test: Depends: $depends"
for lib in libc6 libstdc++6 libcaf-core libcaf-io libgrpc++ libprotobuf \
  libhiredis libspdlog libcpp-httplib libedit; do
  grep -q "$lib" <<<"$depends" || fail "Depends names no $lib"
done
# Every dependency is an installed package, or one an installed package
# provides (libspdlog1.10 provides libspdlog1.10-fmt9).
# shellcheck disable=SC2016 # dpkg-query's format, not bash's
dpkg-query -W -f='${db:Status-Status} ${Package} ${Provides}\n' \
  | awk '$1 == "installed" { $1 = ""; print }' | tr ',' ' ' \
  | sed -E 's/\([^)]*\)//g' | tr ' ' '\n' | sed '/^$/d' | sort -u \
  >"$scratch/installed"
IFS=',' read -ra deps <<<"$depends"
for dep in "${deps[@]}"; do
  name=$(sed -E 's/^ *([^ (|]+).*/\1/' <<<"$dep")
  grep -qx "$name" "$scratch/installed" \
    || grep -qx "${name%%:*}" "$scratch/installed" \
    || fail "dependency $name is not an installed package"
done

# --- the unit ------------------------------------------------------------------
root="$scratch/root"
dpkg-deb -x "$deb" "$root"
unit="$root/lib/systemd/system/marketmonitor.service"
grep -q '^ExecStart=/usr/bin/mm-server --config /etc/marketmonitor/mm-server.conf$' "$unit" \
  || fail "the unit does not run mm-server with the packaged config"
# The unit as installed, its ExecStart pointed at the unpacked binary (the
# package is not installed on this machine; verify checks the command).
mkdir "$scratch/unit"
sed "s|/usr/bin/mm-server|$root/usr/bin/mm-server|" "$unit" \
  >"$scratch/unit/marketmonitor.service"
systemd-analyze verify --man=no "$scratch/unit/marketmonitor.service" \
  >"$scratch/verify.log" 2>&1 \
  || { cat "$scratch/verify.log" >&2; fail "systemd-analyze verify"; }
if [[ -s $scratch/verify.log ]]; then
  cat "$scratch/verify.log" >&2
  fail "systemd-analyze verify printed warnings"
fi
echo "package_test: systemd-analyze verify: ok"

# --- the unpacked mm-server with the packaged config ---------------------------------
redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
  >"$scratch/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  redis-cli -p "$redis_port" PING 2>/dev/null | grep -q PONG && break
  sleep 0.05
done
metrics_port=$(free_port)
mkfifo "$scratch/ready"
"$root/usr/bin/mm-server" --config "$root/etc/marketmonitor/mm-server.conf" \
  --redis "127.0.0.1:$redis_port" --grpc-listen 127.0.0.1:0 \
  --admin-listen 127.0.0.1:0 --metrics-listen "127.0.0.1:$metrics_port" \
  >"$scratch/ready" 2>"$scratch/server.log" &
server=$!
pids+=("$server")
ready=""
exec 3<"$scratch/ready"
read -r -t 20 ready <&3 || true
[[ $ready =~ ^marketmonitor\ ready\ grpc=127\.0\.0\.1:[0-9]+\ admin=127\.0\.0\.1:[0-9]+$ ]] \
  || { cat "$scratch/server.log" >&2; fail "no ready line (got: $ready)"; }
echo "package_test: $ready"
admin=${ready##*admin=}
healthz=$(python3 - "$metrics_port" <<'PY'
import sys, time, urllib.request
deadline = time.monotonic() + 10
while True:
    try:
        with urllib.request.urlopen("http://127.0.0.1:%s/healthz" % sys.argv[1], timeout=5) as r:
            body = r.read().decode()
            if body == "SERVING\n" or time.monotonic() > deadline:
                print(r.status, body.strip())
                break
    except Exception as e:
        if time.monotonic() > deadline:
            print("error", e)
            break
    time.sleep(0.1)
PY
)
[[ $healthz == "200 SERVING" ]] || fail "/healthz answered: $healthz"
stats=$("$root/usr/bin/mm-shell" --connect "$admin" -c stats --json) \
  || fail "the packaged mm-shell cannot read stats"
grep -q '"redis_connected":true' <<<"$stats" || fail "not connected to Redis: $stats"
kill -TERM "$server"
status=0
wait "$server" || status=$?
pids=("${pids[@]/$server/}")
[[ $status == 0 ]] || { cat "$scratch/server.log" >&2; fail "mm-server exited with $status on SIGTERM"; }
echo "package_test: the unpacked mm-server ran, served and stopped cleanly"
echo "package_test: passed"
