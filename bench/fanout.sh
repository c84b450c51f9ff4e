#!/usr/bin/env bash
# Fan-out benchmark: N authenticated dashboards on loopback, a fresh server for each run.
#   bench/fanout.sh [SERVER:N ...]    SERVER is lookout or flask (the Flask-SocketIO peer)
# Default: both servers side by side, interleaved so that the machine's noise hits both;
# 15 s measured per run (SECONDS_PER_RUN). Prints a Markdown table row per run. Builds and
# installs what it needs first (the peer's Python packages go into its own .venv).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:/usr/local/bin:$PATH"
runs=("$@")
[ $# -eq 0 ] && runs=(flask:250 lookout:1000 flask:500 lookout:5000 flask:1000 lookout:10000 flask:2000 lookout:15000)
seconds=${SECONDS_PER_RUN:-15}
peer=bench/peers/flask_socketio

cargo leptos build --release >/dev/null 2>&1
cargo build --release -p loadgen >/dev/null 2>&1
if ! cmp -s "$peer/requirements.txt" "$peer/.venv/.installed" 2>/dev/null; then
  python3 -m venv "$peer/.venv"
  "$peer/.venv/bin/pip" install -q -r "$peer/requirements.txt"
  cp "$peer/requirements.txt" "$peer/.venv/.installed"
fi
ulimit -n "$(ulimit -Hn)"   # raise the open-files limit (servers and generator) to the hard cap
password=bench-password

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); server and generator share it"
echo
echo "| server | dashboards | messages/s | p50 ms | p99 ms | max ms | server CPU | server RSS | RSS per socket | message | sockets lost | all open after |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for run in "${runs[@]}"; do
  server=${run%%:*} n=${run#*:}
  dir=$(mktemp -d)
  port=$((20000 + RANDOM % 10000))
  case $server in
    lookout)
      LOOKOUT_ADMIN_PASSWORD=$password RUST_LOG=warn target/release/lookout serve \
        --addr "127.0.0.1:$port" --database-url "sqlite://$dir/bench.db" >"$dir/server.log" 2>&1 &
      mode=lookout ;;
    flask)
      PEER_PASSWORD=$password "$peer/.venv/bin/python" "$peer/app.py" --port "$port" \
        >"$dir/server.log" 2>&1 &
      mode=socketio ;;
    *) echo "unknown server $server (lookout or flask)" >&2; exit 2 ;;
  esac
  pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  sleep 2   # a little history, so snapshots are not empty
  target/release/loadgen --mode "$mode" --addr "127.0.0.1:$port" --password "$password" \
    --connections "$n" --seconds "$seconds" --server-pid "$pid" \
    || echo "| $server | $n | failed: see the error above |"
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
done
