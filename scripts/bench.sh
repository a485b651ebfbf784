#!/usr/bin/env bash
# The reference benchmark (DESIGN.md), reproducibly: a release server on loopback with a fresh
# data directory, then `tracehound bench ingest`, `bench query`, `bench report`, and the time
# from restart to serving. Usage: scripts/bench.sh [TRACES] [EXTRA SERVER FLAGS...]
set -euo pipefail
cd "$(dirname "$0")/.."
TRACES="${1:-1000000}"; shift || true
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tracehound-target}"
./scripts/install-deps.sh
cargo build --release --quiet
BIN="$CARGO_TARGET_DIR/release/tracehound"
DATA="${BENCH_DATA:-$(mktemp -d /tmp/tracehound-bench.XXXXXX)}"
OUT="${BENCH_OUT:-$DATA.results}"
mkdir -p "$OUT"
SERVER_FLAGS=(--rocksdb.path "$DATA/db" --rocksdb.span-store-ttl 264h --log-level warn
  --collector.otlp.grpc.host-port 127.0.0.1:4317 --collector.otlp.http.host-port 127.0.0.1:4318
  --query.http-server.host-port 127.0.0.1:16686 --admin.http.host-port 127.0.0.1:14269
  --collector.zipkin.host-port= --collector.http-server.host-port= --collector.grpc-server.host-port=
  --processor.jaeger-compact.server-host-port= --processor.jaeger-binary.server-host-port=
  --http-server.host-port= --query.grpc-server.host-port= "$@")

start_server() {
  "$BIN" all-in-one "${SERVER_FLAGS[@]}" > "$OUT/server.out" 2>> "$OUT/server.err" &
  PID=$!
  for _ in $(seq 1 2000); do
    # Our own process must be alive: another server on these ports would answer too.
    kill -0 "$PID" 2>/dev/null || { echo "server exited:" >&2; tail -5 "$OUT/server.err" >&2; exit 1; }
    curl -fsS -o /dev/null http://127.0.0.1:14269/ 2>/dev/null && return 0
    sleep 0.005
  done
  echo "server did not become healthy" >&2; exit 1
}

start_server
echo "== machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB RAM, $(df -h "$DATA" | awk 'NR==2{print $1" "$2}'), $(date -u +%F)"
"$BIN" bench ingest --otlp-grpc 127.0.0.1:4317 --traces "$TRACES" --seed 1 | tee "$OUT/ingest.txt"
"$BIN" bench query --query-http 127.0.0.1:16686 --traces "$TRACES" --seed 1 --repeat 200 | tee "$OUT/query.txt"
"$BIN" bench report --rocksdb.path "$DATA/db" --pid "$PID" --admin-http 127.0.0.1:14269 | tee "$OUT/report.txt"
kill -TERM "$PID"; wait "$PID" || true
T0=$(date +%s.%N); start_server; T1=$(date +%s.%N)
echo "restart to serving: $(echo "$T1 - $T0" | bc) s" | tee "$OUT/restart.txt"
kill -TERM "$PID"; wait "$PID" || true
echo "results in $OUT"
