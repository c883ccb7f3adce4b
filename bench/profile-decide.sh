#!/usr/bin/env bash
# Profiling recipe: instructions per `POST /v1/decide` and where they go, from
# valgrind's callgrind. Instruction counts do not move with machine load, so they
# are the figure to compare before and after a change on a shared machine.
#
# Usage: bench/profile-decide.sh [REQUESTS] [EVENTS]   (default 2000, on)
#   EVENTS on:  client.eventURL points at the local event sink
#               (examples/event_sink.rs), production batching defaults
#   EVENTS off: empty client.eventURL
#
# Three runs of `serve` under `valgrind --tool=callgrind`, each with notifications on
# and one SSE subscriber reading the stream:
#   1. REQUESTS decides, sent one after the other by one curl process on one
#      keep-alive connection (the same request as bench/serve-decide.sh), a pause
#      for the last event batch, then SIGTERM;
#   2. the idle baseline: the same start, subscriber, the same wall time with no
#      request, then SIGTERM;
#   3. the ceiling: REQUESTS `GET /health` the same way (same middleware, no
#      decision), so decide's instructions can be read against the cheapest request.
# Printed: total Ir (instructions executed) of the runs, Ir per request =
# (run − idle run) / REQUESTS for decide and /health, and the top 25 functions by
# self and by inclusive Ir per decide (each function's Ir in run 1 minus run 2, over
# REQUESTS), so the start-up, datafile load and shutdown, equal in every run, cancel
# out.
# Function names come from the release binary's symbols; with fat LTO most of the
# code is inlined into its callers, so a "self" figure covers what was inlined.
# The callgrind files are kept in target/profile-out/ for callgrind_annotate or
# kcachegrind.
#
# Requests go one at a time (concurrency 1), so per-request costs that concurrency
# amortises (task wake-ups, syscalls per batch of responses) weigh more here than
# under wrk; compare this figure with itself, and req/s with bench/serve-decide.sh.
set -euo pipefail
REQUESTS=${1:-2000}
EVENTS=${2:-on}
TOP=25
cd "$(dirname "$0")/.."
. bench/lib.sh
command -v valgrind >/dev/null || {
  echo "installing valgrind" >&2
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get install -y valgrind >/dev/null
}
prepare
OUT=$PWD/target/profile-out
mkdir -p "$OUT"
case "$EVENTS" in
  on) start_sink; write_config decide "$SINK/v1/events" ;;
  off) write_config decide "" ;;
  *) echo "EVENTS must be on or off, not $EVENTS" >&2; exit 2 ;;
esac

# One curl transfer per request on one connection; %{http_code} per transfer.
{
  echo 'silent'
  echo 'request = "POST"'
  echo 'header = "Content-Type: application/json"'
  echo 'header = "X-Optimizely-SDK-Key: demo"'
  echo 'data = "{\"userId\":\"bench-user\",\"userAttributes\":{\"country\":\"SE\",\"plan\":\"premium\"}}"'
  echo 'write-out = "%{http_code}\n"'
} > "$WORK/curl.conf"

# The same transfers of GET /health.
{
  echo 'silent'
  echo 'write-out = "%{http_code}\n"'
} > "$WORK/health.conf"

# Runs serve under callgrind, sends REQUESTS to PATH, then waits until UNTIL
# seconds have passed since the subscriber connected (so the runs compared with the
# idle baseline last as long as it), then one more second for the last event batch.
profiled_run() { # NAME REQUESTS UNTIL_SECONDS [PATH] -> $OUT/NAME.callgrind; sets RUN_SECONDS
  local name=$1 n=$2 until=$3 path=${4:-/v1/decide?keys=promo_banner} started conf=$WORK/curl.conf
  [ "$path" = /health ] && conf=$WORK/health.conf
  RUNNER="valgrind --tool=callgrind --callgrind-out-file=$OUT/$name.callgrind" start_serve decide
  start_subscriber "$name"
  # The subscriber is connected once its first bytes (the SSE headers) arrived.
  for _ in $(seq 600); do [ -s "$WORK/$name.sse" ] && break; sleep 0.05; done
  started=$(date +%s.%N)
  if [ "$n" -gt 0 ]; then
    for _ in $(seq "$n"); do
      echo "url = \"http://$API$path\""
      echo 'output = "/dev/null"'
    done > "$WORK/urls.conf"
    local ok
    ok=$(curl --config "$conf" --config "$WORK/urls.conf" | grep -c '^200$' || true)
    [ "$ok" -eq "$n" ] || { echo "$name: only $ok of $n requests to $path answered 200" >&2; exit 1; }
  fi
  sleep "$(awk -v s="$started" -v e="$(date +%s.%N)" -v u="$until" 'BEGIN {print (u > e - s ? u - (e - s) : 0)}')"
  # The last event batch is on its way to the sink by now (batches of
  # client.batchSize are sent when full); a partial one is flushed at SIGTERM in
  # both runs.
  sleep 1
  RUN_SECONDS=$(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN {printf "%.1f", e - s}')
  stop_pid "$SERVE_PID"
  stop_pid "$SUBSCRIBER_PID"
}

total_ir() { # FILE
  awk '/^(summary|totals):/ {print $2; exit}' "$1"
}

echo "serve under valgrind --tool=callgrind: $REQUESTS sequential decides (keys=promo_banner, one SSE subscriber, events $EVENTS)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) (does not change the instruction counts)"
profiled_run requests "$REQUESTS" 0
busy=$RUN_SECONDS
# The baseline, and the /health run, last as long as the decides did (the final
# second included).
until=$(awk -v b="$busy" 'BEGIN {print (b > 1 ? b - 1 : 0)}')
profiled_run idle 0 "$until"
idle_secs=$RUN_SECONDS
profiled_run health "$REQUESTS" "$until" /health
ir_run=$(total_ir "$OUT/requests.callgrind")
ir_idle=$(total_ir "$OUT/idle.callgrind")
ir_health=$(total_ir "$OUT/health.callgrind")
[ "$EVENTS" = on ] && echo "event sink received: $(sink_counts)"
printf 'total Ir, %s decides:   %15s  (%s s under valgrind)\n' "$REQUESTS" "$ir_run" "$busy"
printf 'total Ir, idle baseline: %15s  (%s s)\n' "$ir_idle" "$idle_secs"
printf 'total Ir, %s /health:   %15s  (%s s)\n' "$REQUESTS" "$ir_health" "$RUN_SECONDS"
awk -v a="$ir_run" -v b="$ir_idle" -v h="$ir_health" -v n="$REQUESTS" \
  'BEGIN {printf "Ir per decide:           %15.0f\nIr per /health:          %15.0f  (decide = %.2f x /health)\n",
          (a - b) / n, (h - b) / n, (a - b) / (h - b)}'

# Per-function Ir of run 1 minus the idle run, per request, top $TOP.
per_function() { # --inclusive=yes|no TITLE
  for name in requests idle; do
    callgrind_annotate "$1" --threshold=100 "$OUT/$name.callgrind" > "$WORK/$name.annotate"
  done
  echo
  echo "top $TOP functions by $2 Ir per decide (run minus idle baseline; % of Ir per decide)"
  python3 - "$WORK/requests.annotate" "$WORK/idle.annotate" "$REQUESTS" "$TOP" "$1" <<'PY'
import re, sys
line = re.compile(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.+?)\s*$")
inclusive = sys.argv[5] == "--inclusive=yes"
def costs(path):
    # Demangled names drop the hash, so monomorphisations of one generic function
    # share a name: their self costs add up, but one may run inside another, so
    # inclusively the largest stands for them all.
    out, total = {}, None
    for text in open(path, encoding="utf-8", errors="replace"):
        m = line.match(text)
        if not m:
            continue
        ir, name = int(m.group(1).replace(",", "")), m.group(2)
        if name.startswith("PROGRAM TOTALS"):
            total = ir
        else:
            # Drop the object file suffix, e.g. " [/path/agentctl]".
            name = re.sub(r" \[[^\]]*\]$", "", name)
            out[name] = max(out.get(name, 0), ir) if inclusive else out.get(name, 0) + ir
    return out, total
run, run_total = costs(sys.argv[1])
idle, idle_total = costs(sys.argv[2])
n, top = int(sys.argv[3]), int(sys.argv[4])
per_request = (run_total - idle_total) / n
# Inclusively, callgrind names a function's recursive activations NAME'2, NAME'3;
# their cost is already inside NAME's, so they are left out.
rows = sorted(
    ((ir - idle.get(f, 0)) / n, f)
    for f, ir in run.items()
    if not (inclusive and re.search(r"'\d+$", f))
)
rows.reverse()
print(f"{'Ir/decide':>10} {'%':>6}  function")
for ir, f in rows[:top]:
    print(f"{ir:10.0f} {100 * ir / per_request:5.1f}%  {f}")
PY
}
per_function --inclusive=no self
per_function --inclusive=yes inclusive
echo
echo "callgrind files: $OUT/requests.callgrind, $OUT/idle.callgrind (callgrind_annotate or kcachegrind)"
