#!/usr/bin/env bash
# Several instances through Redis: publish → receive latency of an ingested batch on a
# dashboard socket held on the other instance (through the Redis bus), beside the same
# batch on a socket held on the instance that took it (the floor), in the same run; and
# the CPU each process spends per batch.
#   bench/redis.sh [RATE:SERIES ...]
# Default: 100:10 1000:10 100:100 (batches per second : series per batch), MESSAGES (3000)
# batches each. A fresh private redis-server and two release servers on one SQLite
# database, all on loopback; the servers on core SERVER_CPU (0), the generator and Redis on
# core CLIENT_CPU (1). Each run is followed by the same load on a lone server without Redis
# (both sockets on it, its own database), for what the bus adds to the ingesting server's
# CPU. Prints a Markdown table row per run.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:/usr/local/bin:$PATH"
runs=("$@")
[ $# -eq 0 ] && runs=(100:10 1000:10 100:100)
messages=${MESSAGES:-3000}
server_cpu=${SERVER_CPU:-0}
client_cpu=${CLIENT_CPU:-1}
password=bench-password
pids=() dir=''
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "$dir" ] && rm -rf "$dir"
}
trap cleanup EXIT

command -v redis-server >/dev/null || { echo "redis-server is not installed" >&2; exit 2; }
# The site is not needed: the generator speaks only to the API and the socket.
cargo build --release -p server -p loadgen >/dev/null 2>&1
bin=target/release/lookout

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { for _ in $(seq 100); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; echo "not up: $1" >&2; return 1; }

dir=$(mktemp -d)
redis_port=$(free_port)
taskset -c "$client_cpu" redis-server --bind 127.0.0.1 --port "$redis_port" --save "" \
  --appendonly no >"$dir/redis.log" 2>&1 &
redis_pid=$!
pids+=("$redis_pid")
for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done

db="sqlite://$dir/bench.db"
common=(--database-url "$db" --redis-url "redis://127.0.0.1:$redis_port" --redis-prefix bench)
start() { # NAME PORT FLAG...
  local name=$1 port=$2
  shift 2
  LOOKOUT_ADMIN_PASSWORD=$password RUST_LOG=warn taskset -c "$server_cpu" "$bin" serve \
    --addr "127.0.0.1:$port" --host-name "$name" "$@" >"$dir/$name.log" 2>&1 &
  pids+=("$!")
  wait_for "http://127.0.0.1:$port/readyz"
}
token_of() { "$bin" token create bench --scope ingest --host bench-1 --database-url "$1" 2>/dev/null | tail -n 1; }
a_port=$(free_port)
start bench-a "$a_port" "${common[@]}"
a_pid=${pids[-1]}
b_port=$(free_port)
start bench-b "$b_port" "${common[@]}"
b_pid=${pids[-1]}
token=$(token_of "$db")
alone_db="sqlite://$dir/alone.db"
alone_port=$(free_port)
start bench-alone "$alone_port" --database-url "$alone_db"
alone_pid=${pids[-1]}
alone_token=$(token_of "$alone_db")

echo "date: $(date)"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); $(redis-server --version | cut -d' ' -f1-3)"
echo "servers A and B on core $server_cpu; generator and Redis on core $client_cpu; $messages batches a run"
echo
echo "| servers | batches/s | series/batch | batches | same instance p50 ms | p99 ms | other instance p50 ms | p99 ms | Redis hop p50 ms | lost on A | lost on B | A CPU per batch | B CPU per batch | Redis CPU per batch |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for run in "${runs[@]}"; do
  rate=${run%%:*} series=${run#*:}
  LOOKOUT_ADMIN_PASSWORD=$password LOOKOUT_BENCH_TOKEN=$token taskset -c "$client_cpu" \
    target/release/bus_latency --near "127.0.0.1:$a_port" --far "127.0.0.1:$b_port" \
    --messages "$messages" --rate "$rate" --series "$series" \
    --pids "$a_pid,$b_pid,$redis_pid" --label "A + B + Redis" \
    || echo "| A + B + Redis | $rate | $series | failed: see the error above |"
  # Both sockets on the lone server: its "other instance" columns are a second socket on it.
  LOOKOUT_ADMIN_PASSWORD=$password LOOKOUT_BENCH_TOKEN=$alone_token taskset -c "$client_cpu" \
    target/release/bus_latency --near "127.0.0.1:$alone_port" --far "127.0.0.1:$alone_port" \
    --messages "$messages" --rate "$rate" --series "$series" \
    --pids "$alone_pid,$alone_pid,$redis_pid" --label "one, no Redis" \
    || echo "| one, no Redis | $rate | $series | failed: see the error above |"
done
