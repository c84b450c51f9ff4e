#!/usr/bin/env bash
# Ingest cost: server CPU per sample for `POST /api/v1/ingest` (parse, validate, record,
# publish), a path that runs in the server's own code rather than in the kernel, so build
# settings show in it.
#   bench/ingest_cpu.sh [BINARY ...]
# Default: target/bench/lookout-before and target/bench/lookout-after, interleaved over
# ROUNDS rounds (3). Each run starts a fresh server on loopback pinned to core SERVER_CPU (0)
# and posts BATCHES (200) batches of 100 series × 100 ticks (10,000 samples, the largest
# batch allowed) from core CLIENT_CPU (1), one host per batch, one batch at a time. The
# bodies are written before the server starts, so only the posting is timed.
set -euo pipefail
cd "$(dirname "$0")/.."
bins=("$@")
[ $# -eq 0 ] && bins=(target/bench/lookout-before target/bench/lookout-after)
rounds=${ROUNDS:-3}
batches=${BATCHES:-200}
server_cpu=${SERVER_CPU:-0}
client_cpu=${CLIENT_CPU:-1}
series=100 ticks=100
samples=$((batches * series * ticks))
pid='' dir=''
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; [ -n "$dir" ] && rm -rf "$dir"' EXIT

ticks_of() { awk '{print $14 + $15, $14}' "/proc/$1/stat"; } # (utime+stime, utime) in ticks

echo "date: $(date)"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); server on core $server_cpu, client on core $client_cpu"
echo "load: $batches batches × $series series × $ticks ticks = $samples samples, one batch at a time"
echo
echo "| binary | samples/s | server CPU per sample | of which user | wall |"
echo "|---|---|---|---|---|"
for _ in $(seq "$rounds"); do
  for bin in "${bins[@]}"; do
    [ -x "$bin" ] || { echo "no binary at $bin" >&2; exit 2; }
    dir=$(mktemp -d)
    port=$((20000 + RANDOM % 10000))
    bind=() caps=()
    if [[ $("$bin" token create --help) == *--host* ]]; then
      bind=(--host '*')
      caps=(--max-hosts-per-token $((batches + 1)))
    fi
    token=$("$bin" token create fleet --scope ingest "${bind[@]}" \
      --database-url "sqlite://$dir/bench.db" 2>/dev/null | tail -n 1)
    # Ticks 1 s apart ending now; every host gets the same window, inside the skew limit.
    first=$(($(date +%s%3N) - ticks * 1000))
    for b in $(seq -f '%03g' "$batches"); do
      awk -v host="i-$b" -v first="$first" -v ticks="$ticks" -v n="$series" 'BEGIN {
        printf "{\"host\":\"%s\",\"samples\":[", host
        sep = ""
        for (t = 0; t < ticks; t++)
          for (s = 1; s <= n; s++) {
            printf "%s{\"series\":\"s.%03d\",\"ts\":%.0f,\"value\":%d.25}", sep, s, first + t * 1000, t
            sep = ","
          }
        print "]}"
      }' >"$dir/$b.json"
    done
    LOOKOUT_ADMIN_PASSWORD=bench-password RUST_LOG=warn taskset -c "$server_cpu" "$bin" serve \
      --addr "127.0.0.1:$port" --database-url "sqlite://$dir/bench.db" "${caps[@]}" \
      >"$dir/server.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
    sleep 2
    read -r cpu0 user0 < <(ticks_of "$pid")
    start=$(date +%s%N)
    for b in $(seq -f '%03g' "$batches"); do
      code=$(taskset -c "$client_cpu" curl -s -o /dev/null -w '%{http_code}' \
        -X POST "http://127.0.0.1:$port/api/v1/ingest" -H "Authorization: Bearer $token" \
        -H 'Content-Type: application/json' --data-binary "@$dir/$b.json")
      [ "$code" = 202 ] || { echo "batch $b answered $code, not 202" >&2; exit 1; }
    done
    wall=$(($(date +%s%N) - start))
    read -r cpu1 user1 < <(ticks_of "$pid")
    tick=$(getconf CLK_TCK)
    awk -v b="${bin##*/}" -v n="$samples" -v w="$wall" -v c=$((cpu1 - cpu0)) \
      -v u=$((user1 - user0)) -v hz="$tick" 'BEGIN {
      printf "| %s | %.0f | %.2f µs | %.2f µs | %.1f s |\n", b, n / (w / 1e9),
        c / hz * 1e6 / n, u / hz * 1e6 / n, w / 1e9 }'
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
    rm -rf "$dir"
    pid='' dir=''
  done
done
