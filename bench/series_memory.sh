#!/usr/bin/env bash
# Memory per series: what the server's resident memory grows by for each new series pushed
# through `POST /api/v1/ingest`: with one point per series, with 11, and full.
#   bench/series_memory.sh [BINARY ...]
# Default: target/bench/lookout-before and target/bench/lookout-after (copies of two builds
# kept aside), interleaved over ROUNDS rounds (3) so that the machine's noise hits both.
# Each run starts a fresh server on loopback, pinned to core SERVER_CPU (0); the client
# (curl) runs on CLIENT_CPU (1). Per run: one warm-up host (100 series, 11 points each, so
# that first-use allocations are not counted), then RSS; 100 hosts × 100 series with one
# point each, RSS; 10 more ticks for every series, RSS. Then series filled to the whole
# retention (900 points at the defaults) in batches of 100 ticks: 10 hosts × 100 series,
# RSS, 40 more hosts × 100 series, RSS; only the second step counts, so the fixed cost of
# parsing large batches (heap the allocator keeps) is left out. Prints a Markdown row per
# run. The full series' points are 250 ms apart, so that all 900 fit inside the clock-skew
# window (5 min) of either build; the history keeps a count of points, not a time span.
set -euo pipefail
cd "$(dirname "$0")/.."
bins=("$@")
[ $# -eq 0 ] && bins=(target/bench/lookout-before target/bench/lookout-after)
rounds=${ROUNDS:-3}
server_cpu=${SERVER_CPU:-0}
client_cpu=${CLIENT_CPU:-1}
hosts=100 per_host=100 more_ticks=10
full_ticks=900   # the default retention (15 min) at one point a second
full_first=10 full_hosts=40
total=$((hosts * per_host))
pid='' dir=''
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; [ -n "$dir" ] && rm -rf "$dir"' EXIT

rss() { awk '/^VmRSS:/ {print $2 * 1024}' "/proc/$1/status"; }

# A batch for one host: every series s.001.. gets one sample per tick, ticks `step` ms
# apart (1 s unless given) from `first` (ms). %.0f, not %d: some awks cut %d to 32 bits.
batch() { # host first ticks [step]
  awk -v host="$1" -v first="$2" -v ticks="$3" -v step="${4:-1000}" -v n="$per_host" 'BEGIN {
    printf "{\"host\":\"%s\",\"samples\":[", host
    sep = ""
    for (t = 0; t < ticks; t++)
      for (s = 1; s <= n; s++) {
        printf "%s{\"series\":\"s.%03d\",\"ts\":%.0f,\"value\":%d.5}", sep, s, first + t * step, t
        sep = ","
      }
    print "]}"
  }'
}

post() { # token host first ticks [step]; fails unless the server answers 202
  local code
  code=$(batch "$2" "$3" "$4" "${5:-}" | taskset -c "$client_cpu" curl -s -o /dev/null -w '%{http_code}' \
    -X POST "http://127.0.0.1:$port/api/v1/ingest" -H "Authorization: Bearer $1" \
    -H 'Content-Type: application/json' --data-binary @-)
  [ "$code" = 202 ] || { echo "ingest for $2 answered $code, not 202" >&2; return 1; }
}

# `ticks` points per series from `first`, `step` ms apart, in batches of up to 100 ticks with
# the last tick sent alone: a batch of several ticks leaves the host's encoded snapshot in
# the server's cache until its next tick, and that cache is not what is measured here.
fill() { # token host first ticks step
  local at=0 n
  while [ $((at + 1)) -lt "$4" ]; do
    n=$(($4 - 1 - at))
    [ "$n" -gt 100 ] && n=100
    post "$1" "$2" $(($3 + at * $5)) "$n" "$5"
    at=$((at + n))
  done
  post "$1" "$2" $(($3 + at * $5)) 1 "$5"
}

full_host() { # host: its 100 series filled, points 250 ms apart, ending a second ago
  fill "$full" "$1" $(($(date +%s%3N) - 1000 - full_ticks * 250)) "$full_ticks" 250
}

token() { # bin name host-pattern -> prints the token (the CLI's last line)
  local bind=()
  # Builds with host-bound tokens need a pattern to write many hosts; older ones have none.
  [[ $("$1" token create --help) == *--host* ]] && bind=(--host "$3")
  "$1" token create "$2" --scope ingest "${bind[@]}" --database-url "sqlite://$dir/bench.db" \
    2>/dev/null | tail -n 1
}

echo "date: $(date)"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); server on core $server_cpu, client on core $client_cpu"
echo "series: $hosts hosts × $per_host series = $total new series; then $more_ticks more ticks each; then $full_first + $full_hosts hosts × $per_host series of $full_ticks points"
echo
echo "| binary | RSS before | RSS, 1 point per series | bytes per series (1 point) | RSS, 11 points per series | bytes per series (11 points) | bytes per full series ($full_ticks points) |"
echo "|---|---|---|---|---|---|---|"
for _ in $(seq "$rounds"); do
  for bin in "${bins[@]}"; do
    [ -x "$bin" ] || { echo "no binary at $bin" >&2; exit 2; }
    dir=$(mktemp -d)
    port=$((20000 + RANDOM % 10000))
    warm=$(token "$bin" warm warm-up)
    fleet=$(token "$bin" fleet '*')
    full=$(token "$bin" full 'f-*')
    LOOKOUT_ADMIN_PASSWORD=bench-password RUST_LOG=warn taskset -c "$server_cpu" "$bin" serve \
      --addr "127.0.0.1:$port" --database-url "sqlite://$dir/bench.db" >"$dir/server.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
    sleep 2
    # All timestamps in the past, inside the server's clock-skew window.
    t0=$(($(date +%s%3N) - 20000))
    fill "$warm" warm-up "$t0" $((1 + more_ticks)) 1000
    sleep 1
    rss0=$(rss "$pid")
    for h in $(seq -f 'h-%03g' "$hosts"); do fill "$fleet" "$h" "$t0" 1 1000; done
    sleep 1
    rss1=$(rss "$pid")
    for h in $(seq -f 'h-%03g' "$hosts"); do fill "$fleet" "$h" $((t0 + 1000)) "$more_ticks" 1000; done
    sleep 1
    rss2=$(rss "$pid")
    for h in $(seq -f 'f-%02g' "$full_first"); do full_host "$h"; done
    sleep 1
    rss3=$(rss "$pid")
    for h in $(seq -f 'f-%02g' $((full_first + 1)) $((full_first + full_hosts))); do full_host "$h"; done
    sleep 1
    rss4=$(rss "$pid")
    awk -v b="${bin##*/}" -v r0="$rss0" -v r1="$rss1" -v r2="$rss2" -v r3="$rss3" -v r4="$rss4" \
      -v n="$total" -v nf=$((full_hosts * per_host)) 'BEGIN {
      printf "| %s | %.1f MiB | %.1f MiB | %.0f B | %.1f MiB | %.0f B | %.0f B |\n", b, r0 / 1048576,
        r1 / 1048576, (r1 - r0) / n, r2 / 1048576, (r2 - r0) / n, (r4 - r3) / nf }'
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
    rm -rf "$dir"
    pid='' dir=''
  done
done
