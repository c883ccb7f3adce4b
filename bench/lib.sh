# Shared set-up of the benchmarks (sourced, not run): wrk, the release binary, a
# work directory removed on exit, redis-server on free loopback ports (one server,
# or a local Redis Cluster of 3 primaries and 3 replicas), `serve` instances on free
# loopback ports with the demo datafile and notifications on (events off, or sent to
# the local event sink of examples/event_sink.rs), one SSE subscriber per instance,
# and the CPU time a process has used.

ensure_wrk() {
  if ! command -v wrk >/dev/null; then
    echo "installing wrk" >&2
    local sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get install -y wrk >/dev/null
  fi
}

# Builds the release binary and the examples in one cargo invocation: building
# the binary alone and an example separately resolves different dependency
# features (examples pull in the dev-dependencies), and each switch rebuilds
# every dependency under fat LTO.
build_release() {
  cargo build --release --quiet --bin agentctl --examples
}

# Builds the release binary and the examples; sets BIN and WORK (see prepare_work).
prepare() {
  build_release
  BIN=$PWD/target/release/agentctl
  prepare_work
}

# Sets WORK, a fresh directory removed on exit; every pid added to CLEANUP_PIDS is
# stopped on exit (stop_all), also when the script is interrupted or terminated.
prepare_work() {
  WORK=$(mktemp -d)
  CLEANUP_PIDS=()
  trap stop_all EXIT
  trap 'echo "interrupted: stopping what this script started" >&2; exit 130' INT
  trap 'echo "terminated: stopping what this script started" >&2; exit 143' TERM
}

# Whether PID is still a child of this script. A pid whose process exited may
# already belong to an unrelated process (pids wrap quickly on a busy machine):
# such a pid is never signalled.
is_child() { # PID
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  # The fields after the command name, which is in parentheses: state, ppid, …
  [ "$(echo "${stat##*) }" | cut -d' ' -f2)" = "$$" ]
}

# Stops the pids of CLEANUP_PIDS that are still children of this script, the last
# started first (the servers before their Redis), and removes WORK.
stop_all() {
  local i pid
  for (( i = ${#CLEANUP_PIDS[@]} - 1; i >= 0; i-- )); do
    pid=${CLEANUP_PIDS[i]}
    if is_child "$pid"; then kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; fi
  done
  rm -rf "$WORK"
}

# Whether nothing listens on loopback PORT.
port_free() { # PORT
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Prints a free loopback port between 20000 and 31999: below Linux's ephemeral
# range (32768 on), where the benchmarks' own client connections take their local
# ports, never 6379, and with PORT + 10000 (a cluster node's bus port) free too.
free_port() {
  local port
  for _ in $(seq 100); do
    port=$(( 20000 + RANDOM % 12000 ))
    if port_free "$port" && port_free $(( port + 10000 )); then
      echo "$port"
      return
    fi
  done
  echo "no free loopback port found" >&2
  return 1
}

# Starts a redis-server (no persistence) on a free loopback port, in a directory of
# its own under $WORK, with the extra `--option value` arguments ARGS; sets
# REDIS_PORT and REDIS_PID (stopped on exit). A server that exits before answering
# PING (its port was taken meanwhile) is retried on another port, twice.
start_redis() { # [ARGS...]
  local port dir pid
  for _ in 1 2 3; do
    port=$(free_port)
    dir=$WORK/redis-$port
    mkdir -p "$dir"
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
      --dir "$dir" --logfile "$dir/redis.log" "$@" &
    pid=$!
    CLEANUP_PIDS+=("$pid")
    for _ in $(seq 100); do
      kill -0 "$pid" 2>/dev/null || break
      if redis-cli -p "$port" ping >/dev/null 2>&1; then
        REDIS_PORT=$port
        REDIS_PID=$pid
        return
      fi
      sleep 0.05
    done
    stop_pid "$pid"
  done
  echo "could not start redis-server; its last log:" >&2
  cat "$dir/redis.log" >&2 || true
  exit 1
}

# Starts a local Redis Cluster of 3 primaries, each with one replica: six
# cluster-enabled servers (start_redis) joined by `redis-cli --cluster create …
# --cluster-replicas 1`; returns once every node reports cluster_state:ok and
# every primary has its replica linked. Sets CLUSTER_PORTS and CLUSTER_PIDS (the
# six), CLUSTER_PRIMARIES (the ports of the three primaries) and CLUSTER_SEEDS
# (`127.0.0.1:PORT,…` of the six, as `redis+cluster://` takes them).
start_cluster() {
  local addrs=() port ready
  CLUSTER_PORTS=()
  CLUSTER_PIDS=()
  for _ in 1 2 3 4 5 6; do
    start_redis --cluster-enabled yes --cluster-config-file nodes.conf
    CLUSTER_PORTS+=("$REDIS_PORT")
    CLUSTER_PIDS+=("$REDIS_PID")
    addrs+=("127.0.0.1:$REDIS_PORT")
  done
  redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes \
    > "$WORK/cluster-create.log" 2>&1 || {
    echo "redis-cli --cluster create failed:" >&2
    cat "$WORK/cluster-create.log" >&2
    exit 1
  }
  for _ in $(seq 600); do
    ready=1
    for port in "${CLUSTER_PORTS[@]}"; do
      redis-cli -p "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || ready=""
    done
    if [ -n "$ready" ]; then
      CLUSTER_PRIMARIES=()
      while read -r port; do CLUSTER_PRIMARIES+=("$port"); done < <(
        redis-cli -p "${CLUSTER_PORTS[0]}" cluster nodes \
          | awk '$3 ~ /master/ && $3 !~ /fail/ { split($2, a, "[:@]"); print a[2] }')
      [ "${#CLUSTER_PRIMARIES[@]}" -eq 3 ] || ready=""
      for port in "${CLUSTER_PRIMARIES[@]}"; do
        redis-cli -p "$port" info replication | grep -q '^connected_slaves:1' || ready=""
      done
    fi
    if [ -n "$ready" ]; then break; fi
    sleep 0.05
  done
  [ -n "$ready" ] || { echo "the Redis Cluster did not get ready within 30 s" >&2; exit 1; }
  CLUSTER_SEEDS=$(IFS=,; echo "${addrs[*]}")
}

# Prints the port of the cluster primary (started by start_cluster) whose hash
# slots hold KEY.
cluster_primary_of() { # KEY
  local slot
  slot=$(redis-cli -p "${CLUSTER_PORTS[0]}" cluster keyslot "$1")
  redis-cli -p "${CLUSTER_PORTS[0]}" cluster nodes | awk -v slot="$slot" '
    $3 ~ /master/ {
      for (i = 9; i <= NF; i++) {
        n = split($i, range, "-")
        if (slot + 0 >= range[1] + 0 && slot + 0 <= range[n] + 0) {
          split($2, a, "[:@]"); print a[2]; exit
        }
      }
    }'
}

# Writes the config of instance NAME to $WORK/NAME.yaml: notifications on, quiet
# logs, no datafile polling, and impression/conversion events sent to EVENT_URL
# (empty: events off, counted as discarded). The event batching keys
# (client.batchSize, queueSize, flushInterval) are not set, so the built-in
# defaults apply: the configuration a production fleet runs.
# Each API_LINE given is one more key under `api:` (e.g. "notificationBuffer: 65536").
write_config() { # NAME [EVENT_URL [API_LINE...]]
  local name=$1 event_url=${2:-} line
  shift $(( $# < 2 ? $# : 2 ))
  {
    echo 'log:'
    echo '  level: warn'
    echo 'api:'
    echo '  enableNotifications: true'
    for line in "$@"; do echo "  $line"; done
    echo 'client:'
    echo "  eventURL: \"$event_url\""
    echo '  datafileURLTemplate: ""'
  } > "$WORK/$name.yaml"
}

# Appends to $WORK/NAME.yaml (written by write_config) the notification sync on
# Redis Streams through HOST (host:port, or a redis+cluster:// URL); each
# REDIS_LINE given is one more key under synchronization.pubsub.redis (e.g.
# "batch_size: 100").
add_streams_sync() { # NAME HOST [REDIS_LINE...]
  local name=$1 host=$2 line
  shift 2
  {
    echo 'synchronization:'
    echo '  notification:'
    echo '    enable: true'
    echo '    default: "redis-streams"'
    echo '  pubsub:'
    echo '    redis:'
    echo "      host: \"$host\""
    for line in "$@"; do echo "      $line"; done
  } >> "$WORK/$name.yaml"
}

# Starts `serve` with $WORK/NAME.yaml (written by write_config, with events off
# when it does not exist yet); sets API and ADMIN (host:port) and SERVE_PID.
# RUNNER, when set, is a command line the binary runs under (e.g. valgrind);
# DATAFILES, when set, the datafiles directory (default ./datafiles).
start_serve() { # [NAME]
  local name=${1:-serve}
  [ -e "$WORK/$name.yaml" ] || write_config "$name"
  # A previous instance of the same name left its address there.
  rm -f "$WORK/$name.out"
  ${RUNNER:-} "$BIN" serve --config "$WORK/$name.yaml" --datafiles "${DATAFILES:-datafiles}" \
    --api-addr 127.0.0.1:0 --admin-addr 127.0.0.1:0 --webhook-addr 127.0.0.1:0 \
    > "$WORK/$name.out" 2> "$WORK/$name.err" &
  SERVE_PID=$!
  CLEANUP_PIDS+=("$SERVE_PID")
  # Under valgrind start-up takes seconds, not milliseconds.
  for _ in $(seq 1200); do [ -s "$WORK/$name.out" ] && break; sleep 0.05; done
  API=$(sed -E 's/.*api=([^ ]+).*/\1/' "$WORK/$name.out")
  ADMIN=$(sed -E 's/.*admin=([^ ]+).*/\1/' "$WORK/$name.out")
  [ -n "$API" ] || { echo "serve $name did not start:" >&2; cat "$WORK/$name.err" >&2; exit 1; }
}

# One SSE subscriber (curl) reading the notification stream of the instance at
# API into $WORK/NAME.sse until the script ends; sets SUBSCRIBER_PID.
start_subscriber() { # NAME
  curl -sN -H 'X-Optimizely-SDK-Key: demo' "http://$API/v1/notifications/event-stream" \
    > "$WORK/$1.sse" &
  SUBSCRIBER_PID=$!
  CLEANUP_PIDS+=("$SUBSCRIBER_PID")
}

# Starts examples/event_sink.rs (built by prepare); sets SINK (base URL) and
# SINK_PID.
start_sink() {
  "$PWD/target/release/examples/event_sink" > "$WORK/sink.out" 2> "$WORK/sink.err" &
  SINK_PID=$!
  CLEANUP_PIDS+=("$SINK_PID")
  for _ in $(seq 100); do [ -s "$WORK/sink.out" ] && break; sleep 0.05; done
  SINK=$(sed -nE 's/^listening (.*)$/\1/p' "$WORK/sink.out")
  [ -n "$SINK" ] || { cat "$WORK/sink.err" >&2; exit 1; }
}

# The sink's counter line: "events N batches N bytes N malformed N".
sink_counts() {
  curl -s "$SINK/"
}

# CPU time (user + system, in clock ticks of `getconf CLK_TCK`) PID has used so far.
cpu_ticks() { # PID
  # Fields after the command name, which is in parentheses: utime is the 12th.
  sed -E 's/^.*\) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}

# Stops PID (one this script started) now, waits for it to exit and takes it off
# CLEANUP_PIDS.
stop_pid() { # PID
  if is_child "$1"; then kill -TERM "$1" 2>/dev/null && wait "$1" 2>/dev/null || true; fi
  local kept=() pid
  for pid in "${CLEANUP_PIDS[@]}"; do [ "$pid" = "$1" ] || kept+=("$pid"); done
  CLEANUP_PIDS=("${kept[@]}")
}
