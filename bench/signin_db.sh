#!/usr/bin/env bash
# Sign-in throughput and signed-in requests on SQLite and on PostgreSQL, side by side in
# one run: the same release server, on core SERVER_CPU (0), with each database in turn; the
# generator on core CLIENT_CPU (1). PostgreSQL is the machine's server (POSTGRES, default
# postgres://postgres@127.0.0.1:5432/test; a fresh database is made and dropped), not
# pinned: its CPU time is read from /proc and reported beside the server's.
#   bench/signin_db.sh [SIGN_INS] [READS] [CONCURRENCY]     (default 400 20000 8)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:/usr/local/bin:$PATH"
sign_ins=${1:-400} reads=${2:-20000} concurrency=${3:-8}
server_cpu=${SERVER_CPU:-0} client_cpu=${CLIENT_CPU:-1}
postgres=${POSTGRES:-postgres://postgres@127.0.0.1:5432/test}
password=bench-password-1
name="lookout_bench_$$"
server='' dir=$(mktemp -d)
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  wait 2>/dev/null || true
  psql "$postgres" -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT

# The site is not needed: the generator speaks only to the API.
cargo build --release -p server -p loadgen >/dev/null 2>&1
bin=target/release/lookout
psql "$postgres" -qc "CREATE DATABASE $name"
pg_url=$(python3 -c 'import sys,urllib.parse as u; p=u.urlparse(sys.argv[1]); print(p._replace(path="/"+sys.argv[2]).geturl())' "$postgres" "$name")
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); $(psql --version | head -1)"
echo "$sign_ins sign-ins, then $reads signed-in requests (GET /auth/verify), $concurrency at a time; argon2id m=19456 t=2 p=1"
echo
echo "| database | phase | done | rate | p50 | p99 | server CPU per op | PostgreSQL CPU per op |"
echo "|---|---|---|---|---|---|---|---|"
for db in "sqlite://$dir/bench.db" "$pg_url"; do
  port=$(free_port)
  LOOKOUT_ADMIN_PASSWORD=$password RUST_LOG=warn taskset -c "$server_cpu" "$bin" serve \
    --addr "127.0.0.1:$port" --database-url "$db" --history off \
    --login-max-failures 1000000 >"$dir/server.log" 2>&1 &
  server=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
  label=SQLite; [[ $db == postgres* ]] && label=PostgreSQL
  LOOKOUT_ADMIN_PASSWORD=$password taskset -c "$client_cpu" target/release/signin_db \
    --addr "127.0.0.1:$port" --pid "$server" --label "$label" \
    --sign-ins "$sign_ins" --reads "$reads" --concurrency "$concurrency"
  kill "$server"; wait "$server" 2>/dev/null || true; server=''
done
