#!/usr/bin/env bash
# Fan-out benchmark: N authenticated dashboards on loopback, a fresh server for each run.
#   bench/fanout.sh [SERVER:N ...]
# SERVER is one of
#   lookout       the release build, target/release/lookout (built here with cargo leptos)
#   lookout-NAME  a binary kept aside at target/bench/lookout-NAME, for before/after runs
#                 of two builds (e.g. lookout-before:1000 lookout-after:1000)
#   flask         the Flask-SocketIO peer
# Default: Lookout and the peer side by side, interleaved so that the machine's noise hits
# both; 15 s measured per run (SECONDS_PER_RUN). Prints a Markdown table row per run.
# The server runs on core SERVER_CPU (0) and the generator on LOADGEN_CPU (1), so that
# neither steals the other's core. Lookout's socket and connection caps are lifted for the
# run when the binary has them (an older build without the flags runs as it is).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:/usr/local/bin:$PATH"
runs=("$@")
[ $# -eq 0 ] && runs=(flask:250 lookout:1000 flask:500 lookout:5000 flask:1000 lookout:10000 flask:2000 lookout:15000)
seconds=${SECONDS_PER_RUN:-15}
server_cpu=${SERVER_CPU:-0}
loadgen_cpu=${LOADGEN_CPU:-1}
peer=bench/peers/flask_socketio

case " ${runs[*]}" in *" lookout:"*) cargo leptos build --release >/dev/null 2>&1 ;; esac
cargo build --release -p loadgen >/dev/null 2>&1
case " ${runs[*]}" in *" flask:"*)
  if ! cmp -s "$peer/requirements.txt" "$peer/.venv/.installed" 2>/dev/null; then
    python3 -m venv "$peer/.venv"
    "$peer/.venv/bin/pip" install -q -r "$peer/requirements.txt"
    cp "$peer/requirements.txt" "$peer/.venv/.installed"
  fi ;;
esac
ulimit -n "$(ulimit -Hn)"   # raise the open-files limit (servers and generator) to the hard cap
password=bench-password

echo "date: $(date)"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); server on core $server_cpu, generator on core $loadgen_cpu"
echo
echo "| server | dashboards | messages/s | p50 ms | p99 ms | max ms | server CPU | server CPU per message | of which user | server RSS | RSS per socket | message | sockets lost | all open after |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for run in "${runs[@]}"; do
  server=${run%%:*} n=${run#*:}
  dir=$(mktemp -d)
  port=$((20000 + RANDOM % 10000))
  case $server in
    lookout | lookout-*)
      bin=target/release/lookout
      [ "$server" = lookout ] || bin=target/bench/$server
      [ -x "$bin" ] || { echo "no binary at $bin" >&2; exit 2; }
      # The caps guard against one client holding thousands of sockets, which is exactly
      # what the generator does; the idle timeout would close its silent sockets.
      caps=()
      if [[ $("$bin" serve --help) == *--max-sockets-per-session* ]]; then
        caps=(--max-sockets-per-session 100000 --max-sockets-per-address 100000
          --max-connections 100000 --max-connections-per-address 100000
          --socket-idle-timeout 1h)
      fi
      LOOKOUT_ADMIN_PASSWORD=$password RUST_LOG=warn taskset -c "$server_cpu" "$bin" serve \
        --addr "127.0.0.1:$port" --database-url "sqlite://$dir/bench.db" "${caps[@]}" \
        >"$dir/server.log" 2>&1 &
      mode=lookout ;;
    flask)
      PEER_PASSWORD=$password taskset -c "$server_cpu" "$peer/.venv/bin/python" "$peer/app.py" \
        --port "$port" >"$dir/server.log" 2>&1 &
      mode=socketio ;;
    *) echo "unknown server $server (lookout, lookout-NAME or flask)" >&2; exit 2 ;;
  esac
  pid=$!
  label=$server
  [ "$server" = lookout ] && label=Lookout
  [ "$server" = flask ] && label=Flask-SocketIO
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  sleep 2   # a little history, so snapshots are not empty
  taskset -c "$loadgen_cpu" target/release/loadgen --mode "$mode" --addr "127.0.0.1:$port" \
    --password "$password" --connections "$n" --seconds "$seconds" --server-pid "$pid" \
    --label "$label" \
    || echo "| $server | $n | failed: see the error above |"
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
done
