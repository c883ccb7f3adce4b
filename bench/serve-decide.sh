#!/usr/bin/env bash
# Benchmark: `POST /v1/decide` (one flag, notifications on, one SSE subscriber
# reading the stream) against `GET /health` on the same server in the same run,
# which is the ceiling (same listener, same middleware, no decision).
#
# Usage: bench/serve-decide.sh [SECONDS] [CONNECTIONS]   (default 10 s, 64)
# Builds the release binary, starts `serve` on free loopback ports with the demo
# datafile, runs wrk (installed with apt-get when missing) and stops everything it
# started. wrk, the server and the subscriber share this machine's cores: quote
# that with the figures.
set -euo pipefail
SECONDS_PER_RUN=${1:-10}
CONNECTIONS=${2:-64}
cd "$(dirname "$0")/.."
. bench/lib.sh
ensure_wrk
prepare
start_serve

curl -sN -H 'X-Optimizely-SDK-Key: demo' "http://$API/v1/notifications/event-stream" \
  > "$WORK/sse.out" &
CLEANUP_PIDS+=($!)

cat > "$WORK/decide.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Optimizely-SDK-Key"] = "demo"
wrk.body = '{"userId":"bench-user","userAttributes":{"country":"SE","plan":"premium"}}'
LUA

run() { # name url [script]
  local out
  if [ -n "${3:-}" ]; then
    out=$(wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency -s "$3" "$2")
  else
    out=$(wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency "$2")
  fi
  local rps p50 p99 non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  printf '%-28s %12s req/s   p50 %-9s p99 %-9s %s\n' "$1" "$rps" "$p50" "$p99" \
    "${non2xx:+non-2xx: $non2xx}"
  echo "$rps" > "$WORK/$1.rps"
}

echo "wrk -t2 -c$CONNECTIONS -d${SECONDS_PER_RUN}s, $(nproc) cores shared by wrk, serve and one SSE subscriber"
run health "http://$API/health"
run decide "http://$API/v1/decide?keys=promo_banner" "$WORK/decide.lua"
delivered=$(grep -c '^data: ' "$WORK/sse.out" || true)
ratio=$(awk -v d="$(cat "$WORK/decide.rps")" -v h="$(cat "$WORK/health.rps")" 'BEGIN {printf "%.1f", 100*d/h}')
echo "decide / health ceiling: ${ratio}%"
echo "notifications received by the SSE subscriber: $delivered"
curl -s "http://$ADMIN/metrics" | grep -E '^agentctl_(notifications_published_total|notifications_delivered_total|sse_overflow_disconnects_total)' || true
