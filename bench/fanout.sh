#!/usr/bin/env bash
# Fan-out benchmark: N authenticated dashboards on loopback, each a fresh server run.
#   bench/fanout.sh [N ...]        (default: 1000 5000 10000; 15 s measured per N)
# Prints a Markdown table row per N. Builds what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:/usr/local/bin:$PATH"
counts=("${@:-1000 5000 10000}")
[ $# -eq 0 ] && counts=(1000 5000 10000)
seconds=${SECONDS_PER_RUN:-15}

cargo leptos build --release >/dev/null 2>&1
cargo build --release -p loadgen >/dev/null 2>&1
ulimit -n "$(ulimit -Hn)"   # raise the open-files limit (server and generator) to the hard cap

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); server and generator share it"
echo
echo "| dashboards | messages/s | p50 ms | p99 ms | max ms | server CPU | server RSS | RSS per socket | connect time |"
echo "|---|---|---|---|---|---|---|---|---|"
for n in "${counts[@]}"; do
  dir=$(mktemp -d)
  port=$((20000 + RANDOM % 10000))
  LOOKOUT_ADMIN_PASSWORD=bench-admin-password RUST_LOG=warn \
    target/release/lookout serve --addr "127.0.0.1:$port" --database-url "sqlite://$dir/bench.db" \
    >"$dir/server.log" 2>&1 &
  server=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  sleep 2   # a little history, so snapshots are not empty
  LOOKOUT_ADMIN_PASSWORD=bench-admin-password target/release/loadgen \
    --addr "127.0.0.1:$port" --connections "$n" --seconds "$seconds" --server-pid "$server" \
    || echo "| $n | failed: see $dir/server.log |"
  kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true
  rm -rf "$dir"
done
