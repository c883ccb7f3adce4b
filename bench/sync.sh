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
# Usage: bench/sync.sh [SECONDS] [single|cluster]
#   SECONDS: per latency/fan-out run, default 10; rate steps take SECONDS/2 each.
#   single (the default): everything above, on one redis-server.
#   cluster: only the rate steps, in the same run on one redis-server and then on a
#     local Redis Cluster of 3 primaries (each with one replica). One notification
#     stream is one key, on one node, so the decides go to 3 SDK keys in turn, picked
#     so that their streams (stream:optimizely-sync-<sdkKey>, datafiles: copies of
#     the demo one) hash to the 3 different primaries; B has one SSE subscriber per
#     SDK key. The single server gets the same 3 keys. After each topology's steps:
#     the CPU seconds serve A, serve B and Redis (all its processes) used during
#     them; at the end the XADD calls each Redis node served and both highest
#     sustained rates.
# Builds the release binary and the driver, starts its own Redis (redis-server, or
# the cluster) and the `serve` instances on free loopback ports, and stops
# everything it started.
# The load generator (driver), Redis and both servers share this machine's cores
# (2 on the project machine): quote that with every figure.
set -euo pipefail
SECONDS_PER_RUN=${1:-10}
MODE=${2:-single}
case $MODE in
  single | cluster) ;;
  *) echo "usage: bench/sync.sh [SECONDS] [single|cluster]" >&2; exit 2 ;;
esac
STEP_SECONDS=$(( SECONDS_PER_RUN / 2 > 0 ? SECONDS_PER_RUN / 2 : 1 ))
cd "$(dirname "$0")/.."
command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null || {
  echo "installing redis-server and redis-tools" >&2
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get install -y redis-server redis-tools >/dev/null
}
. bench/lib.sh
# 1,000 subscribers plus the decide connections, on each side.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

prepare
DRIVER=$PWD/target/release/examples/sync_bench
REDIS_VERSION=$(redis-server --version | grep -oE 'v=[0-9.]+' | cut -c3-)

# Starts instance NAME on Redis Streams with HOST as synchronization.pubsub.redis.host;
# sets API_<NAME>, ADMIN_<NAME> (base URLs) and PID_<NAME>.
start_instance() { # NAME HOST
  write_config "$1" "" "notificationBuffer: 65536"
  add_streams_sync "$1" "$2" "batch_size: 100"
  start_serve "$1"
  printf -v "API_$1" 'http://%s' "$API"
  printf -v "ADMIN_$1" 'http://%s' "$ADMIN"
  printf -v "PID_$1" '%s' "$SERVE_PID"
}

if [ "$MODE" = cluster ]; then
  start_cluster
  # One SDK key per primary: the first of sync1, sync2, … whose stream hashes to
  # a primary that has none yet.
  declare -A KEY_OF_PRIMARY=()
  for i in $(seq 1000); do
    primary=$(cluster_primary_of "stream:optimizely-sync-sync$i")
    [ -n "${KEY_OF_PRIMARY[$primary]:-}" ] || KEY_OF_PRIMARY[$primary]=sync$i
    if [ "${#KEY_OF_PRIMARY[@]}" -eq "${#CLUSTER_PRIMARIES[@]}" ]; then break; fi
  done
  SDK_KEYS=()
  for primary in "${CLUSTER_PRIMARIES[@]}"; do SDK_KEYS+=("${KEY_OF_PRIMARY[$primary]}"); done
  DATAFILES=$WORK/datafiles
  mkdir -p "$DATAFILES"
  for key in "${SDK_KEYS[@]}"; do cp datafiles/demo.json "$DATAFILES/$key.json"; done
  start_redis

  echo "agentctl sync benchmark, cluster mode: 2 serve instances on one redis-server $REDIS_VERSION (port $REDIS_PORT), then 2 on a Redis Cluster of 3 primaries + 3 replicas (ports ${CLUSTER_PORTS[*]}), Redis Streams"
  echo "SDK keys, one stream each: $(for i in "${!SDK_KEYS[@]}"; do printf '%s (primary %s) ' "${SDK_KEYS[i]}" "${CLUSTER_PRIMARIES[i]}"; done)"
  echo "load generator, Redis and both servers share this machine's $(nproc) cores"
  echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  RUN_STARTED=$(date +%s)
  keys=$(IFS=,; echo "${SDK_KEYS[*]}")
  # CPU ticks used so far by A, B and the Redis processes of redis_pids, and
  # ticks as seconds: what each part spent during the steps says who bounds the rate.
  ticks() { for pid in "$PID_A" "$PID_B" "${redis_pids[@]}"; do cpu_ticks "$pid"; done | xargs; }
  secs() { awk -v t="$1" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", t / hz }'; }
  for topology in single cluster; do
    if [ "$topology" = single ]; then
      host=127.0.0.1:$REDIS_PORT label="one redis-server" redis_pids=("$REDIS_PID")
    else
      host=redis+cluster://$CLUSTER_SEEDS label="the Redis Cluster (3 primaries)"
      redis_pids=("${CLUSTER_PIDS[@]}")
    fi
    start_instance A "$host"
    start_instance B "$host"
    read -r -a before <<< "$(ticks)"
    echo "== highest sustained rate on $label: decides on A to ${#SDK_KEYS[@]} SDK keys in turn, 1 SSE subscriber per SDK key on B, ${STEP_SECONDS}s per step"
    "$DRIVER" max-rate --publish "$API_A" --subscribe "$API_B" --subscribers 1 \
      --sdk-keys "$keys" --steps 5000,10000,20000,30000,40000 --seconds "$STEP_SECONDS" \
      --all-steps | tee "$WORK/$topology.rate"
    read -r -a after <<< "$(ticks)"
    redis_ticks=0
    for (( i = 2; i < ${#after[@]}; i++ )); do
      redis_ticks=$(( redis_ticks + after[i] - before[i] ))
    done
    echo "CPU seconds used during the steps: serve A $(secs $(( after[0] - before[0] ))), serve B $(secs $(( after[1] - before[1] ))), Redis $(secs "$redis_ticks") (${#redis_pids[@]} redis-server process(es))"
    stop_pid "$PID_A"
    stop_pid "$PID_B"
    echo
  done
  echo "== XADD calls per Redis node"
  for port in "$REDIS_PORT" "${CLUSTER_PRIMARIES[@]}"; do
    role="cluster primary"; [ "$port" = "$REDIS_PORT" ] && role="single server"
    echo "  $role $port: $(redis-cli -p "$port" info commandstats \
      | sed -nE 's/^cmdstat_xadd:calls=([0-9]+).*/\1/p')"
  done
  echo
  echo "== zero-loss rate, same driver and SDK keys"
  echo "one redis-server: $(sed -n 's/^highest sustained step: //p' "$WORK/single.rate")"
  echo "Redis Cluster, 3 primaries: $(sed -n 's/^highest sustained step: //p' "$WORK/cluster.rate")"
  echo
  echo "measured in $(( $(date +%s) - RUN_STARTED )) s (builds excluded); load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
  exit 0
fi

start_redis
start_instance A "127.0.0.1:$REDIS_PORT"
start_instance B "127.0.0.1:$REDIS_PORT"

echo "agentctl sync benchmark: 2 serve instances + redis-server $REDIS_VERSION (port $REDIS_PORT, Redis Streams)"
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
