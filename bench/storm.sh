#!/usr/bin/env bash
# Benchmark: a reconnect storm (issue 15). N SSE subscribers (default 5,000) on
# instance A; A is killed with -9 and every subscriber reconnects to instance B with
# its own Last-Event-ID while decisions keep coming (examples/storm.rs drives it).
# Prints the time until all are caught up, the Redis commands issued meanwhile
# (INFO commandstats deltas of this script's own redis-server) and the events lost
# and duplicated against the stream (both must be 0; the driver fails otherwise).
#
# Usage: bench/storm.sh [SUBSCRIBERS] [DECISIONS] [single|cluster]
#   (defaults 5000, 50 and single). cluster: the instances use a local Redis
#   Cluster of 3 primaries, each with one replica (the demo stream lives on one of
#   them), and the commandstats deltas are summed over the 3 primaries.
# PROFILE=debug skips the release build (slower, same command counts);
# AGENTCTL_BIN=/path/to/agentctl measures another build of the server (e.g. one
# from before a change) with this driver.
# Loopback only: its own Redis and `serve` instances on free ports, all stopped on
# exit. Driver, Redis and both servers share this machine's cores.
set -euo pipefail
SUBSCRIBERS=${1:-5000}
DECISIONS=${2:-50}
MODE=${3:-single}
case $MODE in
  single | cluster) ;;
  *) echo "usage: bench/storm.sh [SUBSCRIBERS] [DECISIONS] [single|cluster]" >&2; exit 2 ;;
esac
PROFILE=${PROFILE:-release}
cd "$(dirname "$0")/.."
. bench/lib.sh
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

if [ "$PROFILE" = release ]; then
  prepare
  cargo build --release --quiet --example storm
else
  cargo build --quiet --bin agentctl --example storm
  BIN=$PWD/target/debug/agentctl
  prepare_work
fi
DRIVER=$PWD/target/$PROFILE/examples/storm
BIN=${AGENTCTL_BIN:-$BIN}

if [ "$MODE" = cluster ]; then
  start_cluster
  HOST=redis+cluster://$CLUSTER_SEEDS
  NODES=$(printf 'redis://127.0.0.1:%s,' "${CLUSTER_PRIMARIES[@]}")
  NODES=${NODES%,}
  REDIS_DESC="Redis Cluster of 3 primaries + 3 replicas, redis-server"
else
  start_redis
  HOST=127.0.0.1:$REDIS_PORT
  NODES=redis://127.0.0.1:$REDIS_PORT
  REDIS_DESC="redis-server"
fi

for name in A B; do
  write_config "$name"
  add_streams_sync "$name" "$HOST"
  start_serve "$name"
  printf -v "API_$name" 'http://%s' "$API"
  printf -v "PID_$name" '%s' "$SERVE_PID"
done

echo "reconnect storm: $SUBSCRIBERS subscribers, $DECISIONS decisions before the kill and $DECISIONS during the storm"
echo "$REDIS_DESC $(redis-server --version | grep -oE 'v=[0-9.]+' | cut -c3-), $PROFILE build, $(nproc) cores shared by driver, Redis and both servers; load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$DRIVER" --a "$API_A" --a-pid "$PID_A" --b "$API_B" --redis "$NODES" \
  --subscribers "$SUBSCRIBERS" --decisions "$DECISIONS"
