#!/usr/bin/env bash
# Benchmark: how many requests/s `agentctl burst` drives against `POST /v1/decide`
# compared with wrk against the same endpoint of the same server in the same run.
# The goal is burst >= 90% of wrk.
#
# Usage: bench/burst-vs-wrk.sh [SECONDS] [CONNECTIONS]   (default 10 s, 64)
# Builds the release binary, starts `serve` on free loopback ports with the demo
# datafile, runs `wrk -t2 -cC -dSs` with a POST Lua script, then
# `agentctl burst --concurrency C --duration Ss --json`, prints both rates and the
# ratio, and stops everything it started. The load generator and the server share
# this machine's cores: quote that with the figures.
set -euo pipefail
SECONDS_PER_RUN=${1:-10}
CONNECTIONS=${2:-64}
cd "$(dirname "$0")/.."
. bench/lib.sh
ensure_wrk
prepare
start_serve

# The same request burst sends: one flag, a user id and no attributes.
cat > "$WORK/decide.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Optimizely-SDK-Key"] = "demo"
wrk.body = '{"userId":"bench-user"}'
LUA

echo "decide, $CONNECTIONS connections, ${SECONDS_PER_RUN}s each, $(nproc) cores shared by the load generator and serve"
wrk_out=$(wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" -s "$WORK/decide.lua" \
  "http://$API/v1/decide?keys=promo_banner")
wrk_rps=$(awk '/Requests\/sec/ {print $2}' <<<"$wrk_out")
non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$wrk_out")
printf 'wrk    %12.1f req/s %s\n' "$wrk_rps" "${non2xx:+non-2xx: $non2xx}"

burst_json=$("$BIN" burst --url "http://$API" --sdk-key demo --flags promo_banner \
  --concurrency "$CONNECTIONS" --duration "${SECONDS_PER_RUN}s" --json)
read -r burst_rps burst_errors burst_p50 burst_p99 < <(python3 -c '
import json, sys
r = json.load(sys.stdin)
print(r["achieved_rate"], r["errors"], r["latency"]["p50"], r["latency"]["p99"])' <<<"$burst_json")
printf 'burst  %12.1f req/s  errors %s  p50 %sms  p99 %sms\n' "$burst_rps" "$burst_errors" "$burst_p50" "$burst_p99"
awk -v b="$burst_rps" -v w="$wrk_rps" 'BEGIN {printf "burst / wrk: %.1f%%\n", 100*b/w}'
