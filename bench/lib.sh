# Shared set-up of the single-server benchmarks (sourced, not run): wrk, the release
# binary, a work directory removed on exit, and one `serve` on free loopback ports
# with the demo datafile and notifications on.

ensure_wrk() {
  if ! command -v wrk >/dev/null; then
    echo "installing wrk" >&2
    local sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get install -y wrk >/dev/null
  fi
}

# Sets BIN and WORK; every pid added to CLEANUP_PIDS is stopped on exit.
prepare() {
  cargo build --release --quiet
  BIN=$PWD/target/release/agentctl
  WORK=$(mktemp -d)
  CLEANUP_PIDS=()
  trap 'for pid in "${CLEANUP_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done; rm -rf "$WORK"' EXIT
}

# Starts `serve`; sets API and ADMIN (host:port) and SERVE_PID.
start_serve() {
  cat > "$WORK/config.yaml" <<'YAML'
log:
  level: warn
api:
  enableNotifications: true
client:
  eventURL: ""
  datafileURLTemplate: ""
YAML
  "$BIN" serve --config "$WORK/config.yaml" --datafiles datafiles \
    --api-addr 127.0.0.1:0 --admin-addr 127.0.0.1:0 --webhook-addr 127.0.0.1:0 \
    > "$WORK/serve.out" 2> "$WORK/serve.err" &
  SERVE_PID=$!
  CLEANUP_PIDS+=("$SERVE_PID")
  for _ in $(seq 100); do [ -s "$WORK/serve.out" ] && break; sleep 0.05; done
  API=$(sed -E 's/.*api=([^ ]+).*/\1/' "$WORK/serve.out")
  ADMIN=$(sed -E 's/.*admin=([^ ]+).*/\1/' "$WORK/serve.out")
  [ -n "$API" ] || { cat "$WORK/serve.err" >&2; exit 1; }
}
