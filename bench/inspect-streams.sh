#!/usr/bin/env bash
# Benchmark: `agentctl inspect streams` over N upstream-shaped streams (default
# 10,000), against the Redis-side ceiling measured in the same run: the same
# SCAN + XINFO STREAM + XINFO GROUPS + MEMORY USAGE commands sent raw through
# `redis-cli --pipe`.
#
# Usage: bench/inspect-streams.sh [N]    (builds the release binary first)
# Starts its own redis-server on a free loopback port and stops it at the end.
set -euo pipefail
N=${1:-10000}
cd "$(dirname "$0")/.."
# The same targets as the other benchmarks, so their builds are shared (see
# build_release in lib.sh).
cargo build --release --quiet --bin agentctl --examples
BIN=target/release/agentctl
WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK" \
  --logfile "$WORK/redis.log" --daemonize yes --pidfile "$WORK/redis.pid"
trap 'kill "$(cat "$WORK/redis.pid")" 2>/dev/null || true; rm -rf "$WORK"' EXIT
until redis-cli -p "$PORT" ping >/dev/null 2>&1; do sleep 0.05; done

# RESP-encode commands (one per line, space-separated, no spaces inside args).
resp() { python3 -c '
import sys
out = sys.stdout.buffer
for line in sys.stdin:
    args = line.split()
    out.write(b"*%d\r\n" % len(args))
    for a in args:
        b = a.encode()
        out.write(b"$%d\r\n%s\r\n" % (len(b), b))
'; }

# Seed: 5 decision entries per stream, group notifications, 2 entries pending on
# an upstream-named consumer.
python3 - "$N" > "$WORK/seed.txt" <<'PY'
import sys
n = int(sys.argv[1])
data = '{"type":"decision","message":{"Type":"flag","UserContext":{"ID":"u","Attributes":{}},"DecisionInfo":{"flagKey":"f","enabled":true}}}'
for i in range(n):
    key = f"stream:optimizely-sync-bench{i:05d}"
    for j in range(5):
        print(f"XADD {key} * data {data} timestamp {1759461274 + j}")
    print(f"XGROUP CREATE {key} notifications 0")
    print(f"XREADGROUP GROUP notifications consumer-bench-1-1759461274 COUNT 2 STREAMS {key} >")
PY
resp < "$WORK/seed.txt" | redis-cli -p "$PORT" --pipe >/dev/null

# Ceiling: the Redis work alone.
redis-cli -p "$PORT" --scan --pattern 'stream:optimizely-sync-*' > "$WORK/keys.txt"
awk '{print "XINFO STREAM " $1; print "XINFO GROUPS " $1; print "MEMORY USAGE " $1}' "$WORK/keys.txt" | resp > "$WORK/info.resp"
now() { date +%s.%N; }
t0=$(now)
redis-cli -p "$PORT" --scan --pattern 'stream:optimizely-sync-*' >/dev/null
redis-cli -p "$PORT" --pipe < "$WORK/info.resp" >/dev/null
t1=$(now)

# agentctl, best of 3.
best=""
for _ in 1 2 3; do
  s=$(now)
  rows=$("$BIN" --redis "127.0.0.1:$PORT" inspect streams --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["streams"]))')
  e=$(now)
  t=$(python3 -c "print($e - $s)")
  if [ -z "$best" ] || python3 -c "import sys; sys.exit(0 if $t < $best else 1)"; then best=$t; fi
done
python3 - "$N" "$rows" "$(python3 -c "print($t1 - $t0)")" "$best" <<'PY'
import sys
n, rows, ceiling, ours = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
print(f"streams seeded:                        {n}")
print(f"streams reported by inspect streams:   {rows}")
print(f"ceiling (redis-cli SCAN + --pipe):     {ceiling:.3f} s")
print(f"agentctl inspect streams --json (best of 3): {ours:.3f} s")
print(f"ratio agentctl / ceiling:              {ours / ceiling:.2f}x")
print(f"goal (< 2 s):                          {'met' if ours < 2 else 'NOT met'}")
PY
