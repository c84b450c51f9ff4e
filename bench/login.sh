#!/usr/bin/env bash
# Times sign-in against a release build on loopback: a successful login, a wrong password
# and an unknown user, interleaved so machine noise hits all three alike. The last two
# should match (dummy hash); all three are dominated by one argon2id verification.
#   bench/login.sh [rounds]      (default 40; needs `cargo leptos build --release` first)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-40}
bin=target/release/lookout
[ -x "$bin" ] || { echo "build first: cargo leptos build --release" >&2; exit 1; }
dir=$(mktemp -d)
port=$((20000 + RANDOM % 10000))
LOOKOUT_ADMIN_PASSWORD=bench-admin-password RUST_LOG=warn \
  "$bin" serve --addr "127.0.0.1:$port" --database-url "sqlite://$dir/bench.db" \
  --login-max-failures 100000 >"$dir/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

login() { # expected-status user password -> seconds; fails on any other status
  local out
  out=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' -X POST "http://127.0.0.1:$port/api/fn/login" \
    --data-urlencode "username=$2" --data-urlencode "password=$3")
  [ "${out% *}" = "$1" ] || { echo "expected $1, got ${out% *} for $2" >&2; exit 1; }
  echo "${out#* }"
}
for _ in $(seq "$rounds"); do
  login 200 admin bench-admin-password >>"$dir/ok"
  login 401 admin wrong-password-here >>"$dir/wrong"
  login 401 nobody-by-this-name wrong-password-here >>"$dir/unknown"
done
stats() { sort -n "$1" | awk '{a[NR]=$1} END {printf "%7.1f %7.1f %7.1f %7.1f\n", a[1]*1000, a[int(NR*0.5)+1]*1000, a[int(NR*0.95)]*1000, a[NR]*1000}'; }
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
echo "rounds: $rounds of each, sequential, loopback, argon2id m=19456 t=2 p=1"
printf '%-16s %7s %7s %7s %7s   (ms)\n' case min median p95 max
printf '%-16s ' "sign-in ok";      stats "$dir/ok"
printf '%-16s ' "wrong password";  stats "$dir/wrong"
printf '%-16s ' "unknown user";    stats "$dir/unknown"
