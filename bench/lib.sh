# Shared set-up of the single-server benchmarks (sourced, not run): wrk, the release
# binary, a work directory removed on exit, `serve` instances on free loopback ports
# with the demo datafile and notifications on (events off, or sent to the local
# event sink of examples/event_sink.rs), one SSE subscriber per instance, and the
# CPU time a process has used.

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

# Sets BIN and WORK; every pid added to CLEANUP_PIDS is stopped on exit.
prepare() {
  build_release
  BIN=$PWD/target/release/agentctl
  WORK=$(mktemp -d)
  CLEANUP_PIDS=()
  trap 'for pid in "${CLEANUP_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done; rm -rf "$WORK"' EXIT
}

# Writes the config of instance NAME to $WORK/NAME.yaml: notifications on, quiet
# logs, no datafile polling, and impression/conversion events sent to EVENT_URL
# (empty: events off, counted as discarded). The event batching keys
# (client.batchSize, queueSize, flushInterval) are not set, so the built-in
# defaults apply: the configuration a production fleet runs.
write_config() { # NAME [EVENT_URL]
  cat > "$WORK/$1.yaml" <<YAML
log:
  level: warn
api:
  enableNotifications: true
client:
  eventURL: "${2:-}"
  datafileURLTemplate: ""
YAML
}

# Starts `serve` with $WORK/NAME.yaml (written by write_config, with events off
# when it does not exist yet); sets API and ADMIN (host:port) and SERVE_PID.
# RUNNER, when set, is a command line the binary runs under (e.g. valgrind).
start_serve() { # [NAME]
  local name=${1:-serve}
  [ -e "$WORK/$name.yaml" ] || write_config "$name"
  ${RUNNER:-} "$BIN" serve --config "$WORK/$name.yaml" --datafiles datafiles \
    --api-addr 127.0.0.1:0 --admin-addr 127.0.0.1:0 --webhook-addr 127.0.0.1:0 \
    > "$WORK/$name.out" 2> "$WORK/$name.err" &
  SERVE_PID=$!
  CLEANUP_PIDS+=("$SERVE_PID")
  # Under valgrind start-up takes seconds, not milliseconds.
  for _ in $(seq 1200); do [ -s "$WORK/$name.out" ] && break; sleep 0.05; done
  API=$(sed -E 's/.*api=([^ ]+).*/\1/' "$WORK/$name.out")
  ADMIN=$(sed -E 's/.*admin=([^ ]+).*/\1/' "$WORK/$name.out")
  [ -n "$API" ] || { cat "$WORK/$name.err" >&2; exit 1; }
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
  kill -TERM "$1" 2>/dev/null && wait "$1" 2>/dev/null || true
  local kept=() pid
  for pid in "${CLEANUP_PIDS[@]}"; do [ "$pid" = "$1" ] || kept+=("$pid"); done
  CLEANUP_PIDS=("${kept[@]}")
}
