#!/usr/bin/env bash
# Graceful upgrade under load: Tollgate serves wrk load (whole and streamed answers, every
# body checked) and a few long streams; mid-run a second `tollgate run --upgrade` on the same
# configuration takes the listening sockets over (`kill -QUIT $(cat pid_file)` to the old one).
# Prints requests sent and failed; zero failed expected (exit status 1 otherwise).
#
#   load-tests/upgrade.sh
#   DURATION=20 CONNECTIONS=20 GRACE=5 load-tests/upgrade.sh
#
# Everything stays on loopback; the run after the build takes DURATION seconds plus a few.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-20}       # seconds of load; the upgrade starts UPGRADE_AT seconds in
UPGRADE_AT=${UPGRADE_AT:-5}
CONNECTIONS=${CONNECTIONS:-20} # per wrk (one for whole answers, one for streams)
THREADS=${THREADS:-2}          # Tollgate worker threads
GRACE=${GRACE:-5}              # server.grace_period_s
LONG=${LONG:-3}                # long streams opened on the old process just before SIGQUIT
OUT=load-tests/out/upgrade
rm -rf "$OUT"; mkdir -p "$OUT"

scripts/setup.sh wrk curl
cargo build --release --quiet
BIN=target/release/tollgate

source load-tests/lib.sh  # run from the repository root (the cd above)
# A process listens on the Unix socket $1 (flag __SO_ACCEPTCON in /proc/net/unix).
unix_listening() { awk -v p="$1" '$NF == p && $4 == "00010000" { found = 1 } END { exit !found }' /proc/net/unix; }

PIDS=(); WRK=(); LONGS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

MOCK_PORT=$(free_port); SLOW_PORT=$(free_port); TG_PORT=$(free_port); TG_ADMIN=$(free_port); TG_METRICS=$(free_port)
PID_FILE=$PWD/$OUT/tollgate.pid
SOCK=$PWD/$OUT/upgrade.sock

# Upstreams: quick answers for the load (23 SSE events per stream), slow ones (30 events,
# 200 ms apart: 6 s) for the long streams.
$BIN mock --listen 127.0.0.1:$MOCK_PORT --threads 1 --chunks 20 > "$OUT/mock.log" 2>&1 &
PIDS+=($!)
$BIN mock --listen 127.0.0.1:$SLOW_PORT --threads 1 --chunks 30 --chunk-delay-ms 200 > "$OUT/mock-slow.log" 2>&1 &
PIDS+=($!)

cat > "$OUT/tollgate.yaml" <<YAML
server:
  listen: 127.0.0.1:$TG_PORT
  admin_listen: 127.0.0.1:$TG_ADMIN
  metrics_listen: 127.0.0.1:$TG_METRICS
  threads: $THREADS
  grace_period_s: $GRACE
  pid_file: $PID_FILE
  upgrade_sock: $SOCK
  log: { level: info }
providers:
  - { name: mock, type: openai_compatible, base_url: "http://127.0.0.1:$MOCK_PORT/v1", api_key: sk-load }
  - { name: slow, type: openai_compatible, base_url: "http://127.0.0.1:$SLOW_PORT/v1", api_key: sk-load }
models:
  - name: mock-1
    targets: [{ provider: mock, model: mock-1 }]
  - name: long
    targets: [{ provider: slow, model: long }]
keys:
  - { name: load, key: tg-load-key }
YAML
$BIN run -c "$OUT/tollgate.yaml" > "$OUT/old.log" 2>&1 &
OLD=$!
PIDS+=($OLD)
wait_port $MOCK_PORT; wait_port $SLOW_PORT; wait_port $TG_PORT
for _ in $(seq 1 250); do [ "$(cat "$PID_FILE" 2>/dev/null)" = "$OLD" ] && break; sleep 0.02; done
[ "$(cat "$PID_FILE" 2>/dev/null)" = "$OLD" ] || { echo "no pid file" >&2; exit 1; }

# wrk: every answer must be a 200 with a complete body (a JSON answer; a stream that ends
# with data: [DONE]); any other answer counts as failed, as do socket errors and timeouts.
for kind in plain stream; do
  stream=false; check='body:find("\"choices\"", 1, true) ~= nil'
  if [ $kind = stream ]; then stream=true; check='body:sub(-14) == "data: [DONE]\n\n"'; fi
  cat > "$OUT/$kind.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer tg-load-key"
wrk.body = '{"model":"mock-1","stream":$stream,"messages":[{"role":"user","content":"Say hello to the load test"}]}'
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) ok = 0; bad = 0 end
function response(status, headers, body)
  if status == 200 and $check then ok = ok + 1 else bad = bad + 1 end
end
function done(summary, latency, requests)
  local ok, bad = 0, 0
  for _, t in ipairs(threads) do ok = ok + t:get("ok"); bad = bad + t:get("bad") end
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %.3f\n", summary.requests, ok, bad,
    e.connect + e.read + e.write + e.timeout, e.status, latency:percentile(99) / 1000))
end
LUA
done

START=$(date +%s.%N)
for kind in plain stream; do
  wrk -t1 -c$CONNECTIONS -d${DURATION}s --timeout 10s -s "$OUT/$kind.lua" \
    "http://127.0.0.1:$TG_PORT/v1/chat/completions" > "$OUT/wrk-$kind.txt" 2>&1 &
  PIDS+=($!); WRK+=($!)
done

sleep "$UPGRADE_AT"
# 1. The new binary, same configuration, --upgrade: it waits for the sockets on upgrade_sock.
$BIN run --upgrade -c "$OUT/tollgate.yaml" > "$OUT/new.log" 2>&1 &
NEW=$!
PIDS+=($NEW)
for _ in $(seq 1 500); do unix_listening "$SOCK" && break; sleep 0.02; done
unix_listening "$SOCK" || { echo "the new process never waited for the sockets" >&2; cat "$OUT/new.log" >&2; exit 1; }

# Long streams on the old process, then 2. SIGQUIT to the old one.
for i in $(seq 1 $LONG); do
  curl -sN --max-time 60 "http://127.0.0.1:$TG_PORT/v1/chat/completions" \
    -H 'Authorization: Bearer tg-load-key' -H 'content-type: application/json' \
    -d '{"model":"long","stream":true,"messages":[{"role":"user","content":"a long answer"}]}' \
    > "$OUT/long-$i.txt" 2>&1 &
  LONGS+=($!)
done
for i in $(seq 1 $LONG); do for _ in $(seq 1 250); do [ -s "$OUT/long-$i.txt" ] && break; sleep 0.02; done; done
QUIT_AT=$(date +%s.%N)
kill -QUIT "$(cat "$PID_FILE")"

# 3. The old process exits by itself: 5 s of hand-over, then the grace period.
OLD_EXIT=""
for _ in $(seq 1 $(( (GRACE + 15) * 50 ))); do kill -0 $OLD 2>/dev/null || { OLD_EXIT=$(date +%s.%N); break; }; sleep 0.02; done
wait "${WRK[@]}" || true
LONG_OK=0
for i in $(seq 1 $LONG); do
  wait "${LONGS[$((i-1))]}" || true
  [ "$(tail -c 14 "$OUT/long-$i.txt")" = "$(printf 'data: [DONE]\n\n')" ] && LONG_OK=$((LONG_OK+1))
done

# 4. The new process serves every listener and owns the pid file.
NEW_OK=yes
kill -0 $NEW 2>/dev/null || NEW_OK="no (exited)"
[ "$(cat "$PID_FILE" 2>/dev/null)" = "$NEW" ] || NEW_OK="no (pid file)"
curl -sf "http://127.0.0.1:$TG_ADMIN/healthz" > /dev/null || NEW_OK="no (admin)"
curl -sf "http://127.0.0.1:$TG_METRICS/metrics" > /dev/null || NEW_OK="no (metrics)"
curl -sf "http://127.0.0.1:$TG_PORT/v1/chat/completions" -H 'Authorization: Bearer tg-load-key' \
  -H 'content-type: application/json' -d '{"model":"mock-1","messages":[{"role":"user","content":"hi"}]}' \
  | grep -q '"choices"' || NEW_OK="no (api)"

FAILED=0; SENT=0
{
  echo "| load | requests sent | complete 200s | failed: other answers / socket errors and timeouts | p99 ms |"
  echo "| --- | --- | --- | --- | --- |"
  for kind in plain stream; do
    # answers (any status), complete 200s, other answers, socket errors, non-2xx (among answers)
    read -r answers ok bad sock _ p99 <<< "$(grep '^RESULT' "$OUT/wrk-$kind.txt" | cut -d' ' -f2-)"
    echo "| $kind (wrk -t1 -c$CONNECTIONS -d${DURATION}s) | $((answers + sock)) | $ok | $bad / $sock | $p99 |"
    SENT=$((SENT + answers + sock)); FAILED=$((FAILED + bad + sock))
  done
  echo
  echo "- Requests sent: $SENT; failed: **$FAILED**."
  echo "- Long streams opened on the old process before SIGQUIT, ended with data: [DONE]: $LONG_OK of $LONG."
  echo "- SIGQUIT $(python3 -c "print(f'{$QUIT_AT-$START:.1f}')") s into the run; the old process exited by itself" \
    "$( [ -n "$OLD_EXIT" ] && python3 -c "print(f'{$OLD_EXIT-$QUIT_AT:.1f} s')" || echo "NOT (still running)") after it (grace_period_s: $GRACE)."
  echo "- The new process serves the API, admin and metrics listeners and owns the pid file: $NEW_OK."
} | tee "$OUT/table.md"

[ "$FAILED" -eq 0 ] && [ "$LONG_OK" -eq "$LONG" ] && [ -n "$OLD_EXIT" ] && [ "$NEW_OK" = yes ]
