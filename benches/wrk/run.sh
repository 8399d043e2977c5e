#!/usr/bin/env bash
# Independent load figures: the release server pinned to core 0, wrk pinned to core 1, the
# same pinning as benches/load.rs, so the two tools' figures can be compared side by side.
#
#   bash benches/wrk/run.sh [BINARY] [SECONDS] [validate|mutate] [REVIEW_FIXTURE]
#
# wrk (Debian package `wrk`) keeps each of its 16 connections busy (saturation, like the
# harness without --rate) and reports its own latency percentiles.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${1:-target/release/bulwark}
secs=${2:-10}
endpoint=${3:-validate}
review=${4:-tests/fixtures/admission/deployment-create.json}
command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 2; }
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
port=$((20000 + RANDOM % 20000))
BULWARK_LOG=warn TOKIO_WORKER_THREADS=1 taskset -c 0 "$bin" serve --no-cluster \
  --dev-cert-dir "$dir" --listen "127.0.0.1:$port" --health-listen "127.0.0.1:$((port + 1))" \
  >"$dir/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$((port + 1))/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
BULWARK_REVIEW="$PWD/$review" taskset -c 1 wrk -t1 -c16 -d"${secs}s" --latency \
  -s benches/wrk/review.lua "https://127.0.0.1:$port/$endpoint"
