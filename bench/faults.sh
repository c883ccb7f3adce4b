#!/usr/bin/env bash
# Fault matrix: does any fault lose or duplicate a notification?
# Two `serve` instances (A, B) share one Redis (Streams, AOF with fsync on every
# write, a password). For each fault, one `burst --verify` run sends decides at
# RATE/s for RUN seconds to one instance while 4 SSE subscribers read both (2 on
# A, 2 on B; one whose connection drops resumes on the other with Last-Event-ID),
# and the fault is applied 3 s into the run:
#   redis-late     Redis stopped, both instances restarted without it, Redis started
#                  1 s after the run began (the subscribers wait for it)
#   wrong-password Redis restarted with another requirepass; 5 s later CONFIG SET
#                  back to the password the instances use
#   sigstop-10s    Redis SIGSTOPped for 10 s, then SIGCONT
#   oom-4s         CONFIG SET maxmemory 1 (every write refused with OOM) for 4 s
#   restart-aof    Redis shut down and started again (its AOF reloads the streams)
#   kill-9-A       instance A killed with SIGKILL (load on B), restarted 3 s later
#   kill-9-B       the same for B (load on A)
# (The load goes to the survivor: a decide is answered before its notification is
# in Redis, so a killed instance loses what waited in its publish queue.)
# One row per fault: requests sent (answered 200), deliveries expected (one
# notification per request for each subscriber), delivered, lost, duplicated, and
# the subscribers' reconnects. Exits 1 if any row lost or duplicated anything.
#
# Usage: bench/faults.sh [RATE] [RUN_SECONDS]   (default 100/s for 20 s; RUN must
#                                               leave room for the 10 s SIGSTOP)
# Builds the debug binary (AGENTCTL_BIN=path uses another one; the rates here are
# modest), starts its own redis-server and instances on free loopback ports, and
# stops everything it started. Takes about 7 × (RUN + 10) seconds. FAULTS_KEEP=1
# keeps the work directory (Redis and instance logs, each burst's report) and
# prints its path.
set -euo pipefail
RATE=${1:-100}
RUN=${2:-20}
[ "$RUN" -ge 16 ] || { echo "RUN_SECONDS must be at least 16 (the SIGSTOP row needs 3 + 10 + 3)" >&2; exit 2; }
cd "$(dirname "$0")/.."
command -v redis-server >/dev/null && command -v redis-cli >/dev/null || {
  echo "installing redis-server and redis-tools" >&2
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get install -y redis-server redis-tools >/dev/null
}
if [ -z "${AGENTCTL_BIN:-}" ]; then
  cargo build --quiet
  BIN=$PWD/target/debug/agentctl
else
  BIN=$AGENTCTL_BIN
fi

WORK=$(mktemp -d)
PASSWORD=faults-right
declare -A SERVE_PID=()
BURST_PID=""
cleanup() {
  [ -n "$BURST_PID" ] && kill "$BURST_PID" 2>/dev/null && wait "$BURST_PID" 2>/dev/null || true
  for pid in "${SERVE_PID[@]}"; do
    kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  done
  stop_redis
  if [ -n "${FAULTS_KEEP:-}" ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
REDIS_PORT=$(free_port)
PORT_A=$(free_port)
PORT_B=$(free_port)
while [ "$PORT_B" = "$PORT_A" ] || [ "$PORT_B" = "$REDIS_PORT" ]; do PORT_B=$(free_port); done

# redis-cli against our own Redis only (never the machine's).
rcli() { # PASSWORD ARGS...
  local pass=$1; shift
  REDISCLI_AUTH=$pass redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"
}

# Starts our Redis with requirepass PASSWORD (default the right one) and waits
# until it answers (an auth error is an answer).
start_redis() { # [PASSWORD]
  local pass=${1:-$PASSWORD}
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" \
    --appendonly yes --appendfsync always --dir "$WORK" \
    --requirepass "$pass" --daemonize yes --pidfile "$WORK/redis.pid" \
    --logfile "$WORK/redis.log" >/dev/null
  for _ in $(seq 200); do
    [ "$(rcli "$pass" ping 2>/dev/null)" = PONG ] && return 0
    sleep 0.05
  done
  echo "redis-server did not start:" >&2; cat "$WORK/redis.log" >&2; exit 1
}

redis_pid() { cat "$WORK/redis.pid" 2>/dev/null || true; }

# Stops our Redis (SIGTERM: it writes its AOF and exits) and waits for the exit.
stop_redis() {
  local pid; pid=$(redis_pid)
  [ -n "$pid" ] || return 0
  kill -CONT "$pid" 2>/dev/null || true
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  rm -f "$WORK/redis.pid"
}

cat > "$WORK/config.yaml" <<YAML
log:
  level: warn
api:
  enableNotifications: true
client:
  eventURL: ""
  datafileURLTemplate: ""
synchronization:
  notification:
    enable: true
    default: "redis"
  pubsub:
    redis:
      host: "127.0.0.1:$REDIS_PORT"
      password: "$PASSWORD"
      retry_delay: 100ms
      max_retry_delay: 1s
      connection_timeout: 5s
YAML

# Starts instance NAME (A or B) on its API port; its output is appended to
# $WORK/NAME.out and .err.
start_serve() { # NAME
  local name=$1 port_var="PORT_$1"
  : > "$WORK/$name.out"
  "$BIN" serve --config "$WORK/config.yaml" --datafiles datafiles \
    --api-addr "127.0.0.1:${!port_var}" --admin-addr 127.0.0.1:0 --webhook-addr 127.0.0.1:0 \
    > "$WORK/$name.out" 2>> "$WORK/$name.err" &
  SERVE_PID[$name]=$!
  for _ in $(seq 400); do grep -q '^listening' "$WORK/$name.out" 2>/dev/null && return 0; sleep 0.05; done
  echo "serve $name did not start:" >&2; cat "$WORK/$name.err" >&2; exit 1
}

stop_serve() { # NAME [SIGNAL]
  local pid=${SERVE_PID[$1]}
  kill "-${2:-TERM}" "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# Starts the burst of fault NAME in the background, its load on instance LOAD.
start_burst() { # NAME LOAD
  local load_port="PORT_$2"
  "$BIN" burst --url "127.0.0.1:${!load_port}" --sdk-key demo --flags promo_banner \
    --rate "$RATE" --duration "${RUN}s" --verify --subscribers 4 \
    --subscribe-url "127.0.0.1:$PORT_A" --subscribe-url "127.0.0.1:$PORT_B" --json \
    > "$WORK/$1.json" 2> "$WORK/$1.burst.err" &
  BURST_PID=$!
}

wait_burst() {
  wait "$BURST_PID" 2>/dev/null || true
  BURST_PID=""
}

FAILED=0
ROWS=()
# Adds the row of fault NAME from its burst report.
row() { # NAME
  local line
  line=$(python3 - "$WORK/$1.json" <<'PY'
import json, sys
try:
    r = json.load(open(sys.argv[1]))
    v = r["verify"]
    subs = v["subscribers"]
    delivered = sum(s["received"] for s in subs)
    print(r["ok"], v["expected"] * len(subs), delivered, v["lost"], v["duplicated"],
          sum(s.get("reconnects", 0) for s in subs))
except Exception as e:
    print("- - - - - -", file=sys.stdout)
PY
)
  read -r sent expected delivered lost duplicated reconnects <<< "$line"
  ROWS+=("$(printf '%-15s %8s %9s %10s %6s %11s %11s' "$1" "$sent" "$expected" "$delivered" "$lost" "$duplicated" "$reconnects")")
  if [ "$lost" != 0 ] || [ "$duplicated" != 0 ]; then
    FAILED=1
    echo "$1: lost $lost, duplicated $duplicated; burst said:" >&2
    sed 's/^/  /' "$WORK/$1.burst.err" >&2
  fi
  echo "${ROWS[-1]}" >&2
}

start_redis
start_serve A
start_serve B
echo "agentctl fault matrix: 2 serve instances + redis-server $(redis-server --version | grep -oE 'v=[0-9.]+' | cut -c3-) (AOF, appendfsync always)" >&2
echo "burst: $RATE decides/s for ${RUN}s per fault, 4 subscribers (2 per instance); $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# Redis started after the instances.
stop_redis
stop_serve A; stop_serve B
start_serve A; start_serve B
start_burst redis-late A
sleep 1
start_redis
wait_burst; row redis-late

# Wrong password, then fixed.
start_burst wrong-password A
sleep 3
stop_redis
start_redis faults-wrong
sleep 5
denied=$(rcli faults-wrong info errorstats | tr -d '\r' | sed -n 's/^errorstat_WRONGPASS:count=//p')
rcli faults-wrong config set requirepass "$PASSWORD" >/dev/null
echo "wrong-password: Redis refused ${denied:-?} AUTH attempts before the fix" >&2
wait_burst; row wrong-password

# Redis stalled for 10 s.
start_burst sigstop-10s A
sleep 3
kill -STOP "$(redis_pid)"
sleep 10
kill -CONT "$(redis_pid)"
wait_burst; row sigstop-10s

# Out of memory for 4 s.
start_burst oom-4s A
sleep 3
rcli "$PASSWORD" config set maxmemory 1 >/dev/null
sleep 4
rcli "$PASSWORD" config set maxmemory 0 >/dev/null
wait_burst; row oom-4s

# Redis restarted; the AOF brings the streams back.
start_burst restart-aof A
sleep 3
stop_redis
start_redis
wait_burst; row restart-aof

# kill -9 of each instance, restarted 3 s later; the load goes to the other one.
for victim in A B; do
  other=$([ "$victim" = A ] && echo B || echo A)
  start_burst "kill-9-$victim" "$other"
  sleep 3
  stop_serve "$victim" KILL
  sleep 3
  start_serve "$victim"
  wait_burst; row "kill-9-$victim"
done

printf '%-15s %8s %9s %10s %6s %11s %11s\n' FAULT SENT EXPECTED DELIVERED LOST DUPLICATED RECONNECTS
printf '%s\n' "${ROWS[@]}"
exit "$FAILED"
