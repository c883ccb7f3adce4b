#!/usr/bin/env bash
# Benchmark: what `WAIT` per publish batch costs (synchronization.pubsub.redis.
# wait_replicas). A Redis primary with one replica, and two `serve` instances on
# the primary: decides are POSTed to instance A and one SSE subscriber reads
# instance B (examples/sync_bench.rs is the load driver). Run twice in the same
# run, on fresh instances: with WAIT off (wait_replicas: 0) and with
# wait_replicas: 1 (wait_timeout 100ms). Each prints:
#   - publish→SSE delivery latency p50/p99/p99.9 at RATE/s (default 1,000/s),
#     with the driver's loss and send-lag figures;
#   - instance A's publish latency (agentctl_redis_streams_publish_latency_seconds:
#     from the hand-off to the publisher until Redis accepted the batch, the WAIT
#     included when on) as its mean, and its batches and mean batch size;
#   - agentctl_redis_streams_under_replicated_total (batches the replica did not
#     acknowledge within wait_timeout).
#
# Usage: bench/replication.sh [SECONDS] [RATE]   (default 10 s per run, 1000/s)
# Builds the release binary and the driver, starts its own two redis-servers and
# four `serve` instances (two per run) on free loopback ports, and stops
# everything it started. The driver, both Redis servers and the instances share
# this machine's cores (2 on the project machine): quote that with every figure.
set -euo pipefail
SECONDS_PER_RUN=${1:-10}
RATE=${2:-1000}
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
command -v redis-server >/dev/null && command -v redis-cli >/dev/null || {
  echo "installing redis-server and redis-tools" >&2
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get install -y redis-server redis-tools >/dev/null
}

prepare
DRIVER=$PWD/target/release/examples/sync_bench

start_redis
PRIMARY_PORT=$REDIS_PORT
start_redis --replicaof 127.0.0.1 "$PRIMARY_PORT"
for _ in $(seq 200); do
  redis-cli -p "$PRIMARY_PORT" info replication | grep -q 'state=online' && break
  sleep 0.05
done
redis-cli -p "$PRIMARY_PORT" info replication | grep -q 'state=online' \
  || { echo "the replica did not come online" >&2; exit 1; }

# Writes $WORK/NAME.yaml: notifications through the primary, WAIT for REPLICAS.
write_sync_config() { # NAME REPLICAS
  write_config "$1"
  add_streams_sync "$1" "127.0.0.1:$PRIMARY_PORT" "batch_size: 100" \
    "wait_replicas: $2" "wait_timeout: 100ms"
}

# The value of metric NAME (no labels) on the admin listener at ADMIN.
metric() { # ADMIN NAME
  curl -s "http://$1/metrics" | awk -v name="$2" '$1 == name { print $2 }'
}

echo "agentctl replication benchmark: redis-server $(redis-server --version | grep -oE 'v=[0-9.]+' | cut -c3-) primary (port $PRIMARY_PORT) + 1 replica, 2 serve instances per run, Redis Streams"
echo "driver, both Redis servers and the instances share this machine's $(nproc) cores"
echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
RUN_STARTED=$(date +%s)

for replicas in 0 1; do
  write_sync_config "a$replicas" "$replicas"
  write_sync_config "b$replicas" "$replicas"
  start_serve "a$replicas"; API_A=$API; ADMIN_A=$ADMIN; PID_A=$SERVE_PID
  start_serve "b$replicas"; API_B=$API; PID_B=$SERVE_PID
  if [ "$replicas" = 0 ]; then label="WAIT off"; else label="wait_replicas: 1, wait_timeout: 100ms"; fi
  echo "== $label: decides on A at $RATE/s, 1 SSE subscriber on B, ${SECONDS_PER_RUN}s"
  "$DRIVER" latency --publish "http://$API_A" --subscribe "http://$API_B" --subscribers 1 \
    --rate "$RATE" --seconds "$SECONDS_PER_RUN"
  sum=$(metric "$ADMIN_A" agentctl_redis_streams_publish_latency_seconds_sum)
  count=$(metric "$ADMIN_A" agentctl_redis_streams_publish_latency_seconds_count)
  batches=$(metric "$ADMIN_A" agentctl_redis_streams_batches_total)
  short=$(metric "$ADMIN_A" agentctl_redis_streams_under_replicated_total)
  awk -v sum="${sum:-0}" -v count="${count:-0}" -v batches="${batches:-0}" -v short="${short:-0}" 'BEGIN {
    mean = count > 0 ? sum / count * 1000 : 0
    size = batches > 0 ? count / batches : 0
    printf "publish latency (instance A): mean %.3f ms over %d notifications; %d batches, mean size %.1f; under-replicated batches %d\n", mean, count, batches, size, short
  }'
  stop_pid "$PID_A"
  stop_pid "$PID_B"
  echo
done

echo "measured in $(( $(date +%s) - RUN_STARTED )) s (builds excluded); load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
