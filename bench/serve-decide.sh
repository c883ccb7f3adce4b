#!/usr/bin/env bash
# Benchmark: the Agent API as users run it, against `GET /health` on the same
# server in the same run, which is the ceiling (same listener, same middleware, no
# decision). Rows:
#   health                       GET /health
#   decide   events off / on     POST /v1/decide?keys=promo_banner
#   activate events off / on     POST /v1/activate?experimentKey=checkout_redesign
#   track    events off / on     POST /v1/track?eventKey=purchase
# "events on" is a second `serve` whose client.eventURL points at a local event sink
# (examples/event_sink.rs, built and started here) with the production defaults of
# client.batchSize/queueSize/flushInterval; "events off" has an empty eventURL.
# Each instance has notifications on and one SSE subscriber reading its stream
# throughout.
#
# Each row: req/s, p50, p99, ratio to /health, and µs of server CPU per request
# (utime + stime of the measured `serve` process from /proc/PID/stat, before and
# after the wrk run, over the requests wrk completed), with the 1-minute load
# average after the run. The CPU figure includes everything the request causes in
# the server (SSE delivery, event batching and POSTs), and moves less with machine
# noise than req/s does.
#
# Usage: bench/serve-decide.sh [SECONDS] [CONNECTIONS]   (default 10 s, 64)
# Builds the release binary and the sink, starts everything on free loopback ports,
# runs wrk (installed with apt-get when missing) and stops what it started. wrk,
# the servers, the sink and the subscribers share this machine's cores: quote that
# with the figures.
set -euo pipefail
SECONDS_PER_RUN=${1:-10}
CONNECTIONS=${2:-64}
cd "$(dirname "$0")/.."
. bench/lib.sh
ensure_wrk
prepare
start_sink

write_config off ""
start_serve off
API_OFF=$API ADMIN_OFF=$ADMIN PID_OFF=$SERVE_PID
start_subscriber off

write_config on "$SINK/v1/events"
start_serve on
API_ON=$API ADMIN_ON=$ADMIN PID_ON=$SERVE_PID
start_subscriber on

lua() { # NAME BODY
  cat > "$WORK/$1.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Optimizely-SDK-Key"] = "demo"
wrk.body = '$2'
LUA
}
lua decide '{"userId":"bench-user","userAttributes":{"country":"SE","plan":"premium"}}'
lua activate '{"userId":"bench-user","userAttributes":{"country":"SE","plan":"premium"}}'
lua track '{"userId":"bench-user","userAttributes":{"country":"SE","plan":"premium"},"eventTags":{"revenue":4200}}'

CLK_TCK=$(getconf CLK_TCK)
HEALTH_RPS=""
# Events the instance at admin address ADMIN accepted into its queue plus those it
# dropped because the queue was full.
event_counts() { # ADMIN
  curl -s "http://$1/metrics" | awk '
    /^agentctl_events_queued_total / {q = $2}
    /^agentctl_events_dropped_total / {d = $2}
    END {printf "%d %d\n", q, d}'
}
run() { # ROW PID URL [SCRIPT [ADMIN]]
  local row=$1 pid=$2 url=$3 script=${4:-} admin=${5:-} out before after
  local queued0=0 dropped0=0 queued1=0 dropped1=0 events=""
  [ -z "$admin" ] || read -r queued0 dropped0 < <(event_counts "$admin")
  before=$(cpu_ticks "$pid")
  out=$(wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency ${script:+-s "$script"} "$url")
  after=$(cpu_ticks "$pid")
  if [ -n "$admin" ]; then
    read -r queued1 dropped1 < <(event_counts "$admin")
    events=$(awk -v q=$((queued1 - queued0)) -v d=$((dropped1 - dropped0)) \
      'BEGIN {printf "  events queued %d, dropped %d (%.1f%%)", q, d, q + d ? 100*d/(q+d) : 0}')
  fi
  local rps p50 p99 requests non2xx errors
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  requests=$(awk '/requests in/ {print $1}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  errors=$(grep -E 'Socket errors' <<<"$out" || true)
  [ -n "$HEALTH_RPS" ] || HEALTH_RPS=$rps
  awk -v row="$row" -v rps="$rps" -v h="$HEALTH_RPS" -v p50="$p50" -v p99="$p99" \
      -v ticks=$((after - before)) -v hz="$CLK_TCK" -v n="$requests" \
      -v la="$(cut -d' ' -f1 /proc/loadavg)" -v bad="${non2xx:+  non-2xx: $non2xx}${errors:+  $errors}$events" \
      'BEGIN {printf "%-22s %10.1f %9s %9s %7.1f%% %9.1f %6s%s\n",
              row, rps, p50, p99, 100*rps/h, 1e6*ticks/hz/n, la, bad}'
}

echo "wrk -t2 -c$CONNECTIONS -d${SECONDS_PER_RUN}s --latency; $(nproc) cores shared by wrk, two serve instances (events off / on), the event sink and one SSE subscriber per instance"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-22s %10s %9s %9s %8s %9s %6s\n' row req/s p50 p99 /health "CPU us/req" load1
SINK_TICKS=$(cpu_ticks "$SINK_PID") STARTED=$(date +%s.%N)
run "health" "$PID_OFF" "http://$API_OFF/health"
run "decide events off" "$PID_OFF" "http://$API_OFF/v1/decide?keys=promo_banner" "$WORK/decide.lua"
run "decide events on" "$PID_ON" "http://$API_ON/v1/decide?keys=promo_banner" "$WORK/decide.lua" "$ADMIN_ON"
run "activate events off" "$PID_OFF" "http://$API_OFF/v1/activate?experimentKey=checkout_redesign" "$WORK/activate.lua"
run "activate events on" "$PID_ON" "http://$API_ON/v1/activate?experimentKey=checkout_redesign" "$WORK/activate.lua" "$ADMIN_ON"
run "track events off" "$PID_OFF" "http://$API_OFF/v1/track?eventKey=purchase" "$WORK/track.lua"
run "track events on" "$PID_ON" "http://$API_ON/v1/track?eventKey=purchase" "$WORK/track.lua" "$ADMIN_ON"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

# Batches still in flight land within a moment; a partial batch waits for
# client.flushInterval and is not counted here.
sleep 1
echo
echo "notifications received by the SSE subscribers: events off $(grep -c '^data: ' "$WORK/off.sse" || true), events on $(grep -c '^data: ' "$WORK/on.sse" || true)"
received=$(sink_counts)
echo "event sink received: $received"
# The sink must not be what limits the events-on rows: its own CPU use.
awk -v t=$(( $(cpu_ticks "$SINK_PID") - SINK_TICKS )) -v hz="$CLK_TCK" \
    -v s="$STARTED" -v e="$(date +%s.%N)" -v n="$(awk '{print $2}' <<<"$received")" \
  'BEGIN {printf "event sink CPU: %.1f%% of one core over the runs, %.1f us per event\n",
          100*t/hz/(e-s), n ? 1e6*t/hz/n : 0}'
echo "events-on instance:"
curl -s "http://$ADMIN_ON/metrics" \
  | grep -E '^agentctl_(events_(queued|sent|batches|failed|dropped)_total|notifications_published_total|notifications_delivered_total|sse_overflow_disconnects_total)' \
  | sed 's/^/  /' || true
