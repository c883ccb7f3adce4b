#!/usr/bin/env bash
# Benchmark: cross-instance notification delivery through Redis Streams.
# Two `serve` instances on one Redis; decides are POSTed to instance A and the SSE
# subscribers read instance B (examples/sync_bench.rs is the load driver):
#   - publish→SSE delivery latency p50/p99/p99.9 at 1,000/s and at 10,000/s
#     (goal, issue 14: p99 <= 1 ms at 1,000/s)
#   - the highest rate sustained end to end with zero loss, in steps of
#     5k/10k/20k/30k/40k per second, every step run even after one fails
#     (goal, issue 14: >= 40,000/s)
# Every row carries the driver's own send lag (p50/p99/max against its schedule),
# its CPU use and how many sends waited for a connection slot; a row the driver
# could not keep to its schedule is followed by a "behind schedule" line naming the
# cause ("server-bound": sends waited for decide answers; "driver-bound": the
# driver could not dispatch faster), so a run limited by the driver is not
# mistaken for one limited by the servers.
#   - fan-out to 1,000 SSE subscribers on one instance at 100 decides/s
#   - RSS per idle SSE subscriber, 1,000 of them on a fresh instance (goal <= 64 KiB)
# and, as the ceiling, redis-benchmark's pipelined XADD rate (~400-byte entries)
# against the same Redis in the same run.
#
# Usage: bench/sync.sh [SECONDS]   (seconds per latency/fan-out run, default 10;
#                                   rate steps take SECONDS/2 each)
# Builds the release binary and the driver, starts its own redis-server and two
# `serve` instances on free loopback ports, and stops everything it started.
# The load generator (driver), Redis and both servers share this machine's cores
# (2 on the project machine): quote that with every figure.
set -euo pipefail
SECONDS_PER_RUN=${1:-10}
STEP_SECONDS=$(( SECONDS_PER_RUN / 2 > 0 ? SECONDS_PER_RUN / 2 : 1 ))
cd "$(dirname "$0")/.."
command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null || {
  echo "installing redis-server and redis-tools" >&2
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get install -y redis-server redis-tools >/dev/null
}
# 1,000 subscribers plus the decide connections, on each side.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# One invocation for the binary and the driver (see build_release in lib.sh).
cargo build --release --quiet --bin agentctl --examples
BIN=$PWD/target/release/agentctl
DRIVER=$PWD/target/release/examples/sync_bench
WORK=$(mktemp -d)
SERVE_PIDS=()
cleanup() {
  for pid in "${SERVE_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  done
  if [ -s "$WORK/redis.pid" ]; then
    kill "$(cat "$WORK/redis.pid")" 2>/dev/null || true
    for _ in $(seq 50); do [ -e "$WORK/redis.pid" ] || break; sleep 0.05; done
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
REDIS_PORT=""
for _ in $(seq 20); do
  p=$(( 20000 + RANDOM % 40000 ))
  port_free "$p" || continue
  if redis-server --port "$p" --bind 127.0.0.1 --save "" --appendonly no \
      --daemonize yes --pidfile "$WORK/redis.pid" --dir "$WORK" \
      --logfile "$WORK/redis.log" >/dev/null 2>&1; then
    for _ in $(seq 100); do
      redis-cli -p "$p" ping >/dev/null 2>&1 && { REDIS_PORT=$p; break; }
      sleep 0.05
    done
    [ -n "$REDIS_PORT" ] && break
  fi
done
[ -n "$REDIS_PORT" ] || { echo "could not start redis-server" >&2; cat "$WORK/redis.log" >&2 || true; exit 1; }

cat > "$WORK/config.yaml" <<YAML
log:
  level: warn
api:
  enableNotifications: true
  notificationBuffer: 65536
client:
  eventURL: ""
  datafileURLTemplate: ""
synchronization:
  notification:
    enable: true
    default: "redis-streams"
  pubsub:
    redis:
      host: "127.0.0.1:$REDIS_PORT"
      batch_size: 100
YAML

start_serve() { # name -> sets API_<name>, ADMIN_<name>, PID_<name>
  "$BIN" serve --config "$WORK/config.yaml" --datafiles datafiles \
    --api-addr 127.0.0.1:0 --admin-addr 127.0.0.1:0 --webhook-addr 127.0.0.1:0 \
    > "$WORK/$1.out" 2> "$WORK/$1.err" &
  local pid=$!
  SERVE_PIDS+=("$pid")
  for _ in $(seq 200); do grep -q '^listening' "$WORK/$1.out" 2>/dev/null && break; sleep 0.05; done
  grep -q '^listening' "$WORK/$1.out" || { echo "serve $1 did not start:" >&2; cat "$WORK/$1.err" >&2; exit 1; }
  printf -v "API_$1" 'http://%s' "$(sed -E 's/.*api=([^ ]+).*/\1/' "$WORK/$1.out")"
  printf -v "ADMIN_$1" 'http://%s' "$(sed -E 's/.*admin=([^ ]+).*/\1/' "$WORK/$1.out")"
  printf -v "PID_$1" '%s' "$pid"
}
start_serve A
start_serve B

echo "agentctl sync benchmark: 2 serve instances + redis-server $(redis-server --version | grep -oE 'v=[0-9.]+' | cut -c3-) (port $REDIS_PORT, Redis Streams)"
echo "load generator, Redis and both servers share this machine's $(nproc) cores"
# Anything else busy on the machine (a build) skews every figure: say so.
echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
RUN_STARTED=$(date +%s)

PAYLOAD=$(head -c 400 /dev/zero | tr '\0' 'x')
ceiling=$(redis-benchmark -p "$REDIS_PORT" -q -n 200000 -c 50 -P 16 \
  XADD stream:bench '*' data "$PAYLOAD" 2>&1 | tr '\r' '\n' \
  | grep -oE '[0-9.]+ requests per second' | tail -1 | cut -d' ' -f1)
redis-cli -p "$REDIS_PORT" del stream:bench >/dev/null
echo "== ceiling: redis-benchmark XADD, 400-byte field, -n 200000 -c 50 -P 16: ${ceiling:-?} XADD/s"
echo

# First, on the still fresh instance B: RSS per idle subscriber.
echo "== RSS per idle SSE subscriber (instance B, fresh)"
"$DRIVER" idle --subscribe "$API_B" --admin "$ADMIN_B" --pid "$PID_B" \
  --subscribers 1000 --goal-kib 64
echo

echo "== latency at 1,000/s: decides on A, 1 SSE subscriber on B, ${SECONDS_PER_RUN}s"
"$DRIVER" latency --publish "$API_A" --subscribe "$API_B" --subscribers 1 \
  --rate 1000 --seconds "$SECONDS_PER_RUN" --goal-p99-ms 1
echo

echo "== latency at 10,000/s: decides on A, 1 SSE subscriber on B, ${SECONDS_PER_RUN}s"
"$DRIVER" latency --publish "$API_A" --subscribe "$API_B" --subscribers 1 \
  --rate 10000 --seconds "$SECONDS_PER_RUN"
echo

echo "== highest sustained rate: decides on A, 1 SSE subscriber on B, ${STEP_SECONDS}s per step"
"$DRIVER" max-rate --publish "$API_A" --subscribe "$API_B" --subscribers 1 \
  --steps 5000,10000,20000,30000,40000 --seconds "$STEP_SECONDS" --goal 40000 --all-steps
echo

echo "== fan-out: decides on A at 100/s, 1,000 SSE subscribers on B, ${SECONDS_PER_RUN}s"
"$DRIVER" fanout --publish "$API_A" --subscribe "$API_B" --subscribers 1000 \
  --rate 100 --seconds "$SECONDS_PER_RUN"
echo

echo "== server counters"
for name in A B; do
  admin_var="ADMIN_$name"
  echo "instance $name:"
  curl -s "${!admin_var}/metrics" \
    | grep -E '^agentctl_(redis_streams_(published|batches|dropped)_total|redis_streams_(batch_size|publish_latency_seconds)_(sum|count)|notifications_delivered_total|notifications_dropped_total|sse_overflow_disconnects_total|sse_subscribers)' \
    | sed 's/^/  /' || true
done
echo "stream length: $(redis-cli -p "$REDIS_PORT" xlen stream:optimizely-sync-demo)"
echo
echo "measured in $(( $(date +%s) - RUN_STARTED )) s (builds excluded); load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
