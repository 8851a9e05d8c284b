#!/usr/bin/env bash
# Two Tollgate binaries side by side, interleaved: the same every-feature configuration as
# run.sh, nginx as the baseline, one mock upstream; per scenario, ROUNDS rounds of nginx, old,
# new. For before/after measurements of a change on this noisy machine, where only rows
# measured together compare.
#
#   git worktree add /tmp/old <rev> && (cd /tmp/old && CARGO_TARGET_DIR=/tmp/old-target cargo build --release)
#   load-tests/run.sh                   # once: writes the configurations and request scripts
#   OLD=/tmp/old-target/release/tollgate load-tests/compare.sh
#
# Knobs: NEW (default target/release/tollgate), ROUNDS (2), DURATION (8s), SCENARIOS
# ("small stream big"). Prints one Markdown row per measurement: requests/s, p50, p99 and
# the proxy's CPU time per request (from /proc). Expect noise: the same binary on both sides
# differed by up to 15% in 2 s rounds here, so use several rounds of 8 s or more.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=load-tests/out
: "${OLD:?set OLD to the binary to compare against}"
NEW=${NEW:-target/release/tollgate}
ROUNDS=${ROUNDS:-2}; DURATION=${DURATION:-8s}; SCENARIOS=${SCENARIOS:-small stream big}
for f in tollgate.yaml nginx.conf small.lua stream.lua big.lua; do
  [ -f "$OUT/$f" ] || { echo "$OUT/$f is missing: run load-tests/run.sh once first" >&2; exit 1; }
done
CLK_TCK=$(getconf CLK_TCK)
source load-tests/lib.sh  # run from the repository root (the cd above)

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# The upstream and nginx keep the ports run.sh wrote into their configurations.
MOCK_PORT=$(grep -o '127.0.0.1:[0-9]*/v1' $OUT/tollgate.yaml | cut -d: -f2 | cut -d/ -f1)
NGINX_PORT=$(grep -o 'listen 127.0.0.1:[0-9]*' $OUT/nginx.conf | cut -d: -f2)
$NEW mock --listen 127.0.0.1:$MOCK_PORT --threads 2 --chunks 100 > $OUT/compare-mock.log 2>&1 &
PIDS+=($!)
nginx -c "$PWD/$OUT/nginx.conf" -g 'daemon off;' > $OUT/compare-nginx.log 2>&1 &
NGINX_PID=$!; PIDS+=($NGINX_PID)

# Each gateway: run.sh's configuration on ports of its own, with its own pid file, socket and audit log.
start() { # name binary -> "pid port"
  local api admin metrics
  api=$(free_port); admin=$(free_port); metrics=$(free_port)
  sed -E -e "s/^( *listen: 127\.0\.0\.1:)[0-9]+/\1$api/" \
      -e "s/(admin_listen: 127\.0\.0\.1:)[0-9]+/\1$admin/" -e "s/(metrics_listen: 127\.0\.0\.1:)[0-9]+/\1$metrics/" \
      -e "s#tollgate\.pid#compare-$1.pid#; s#tollgate\.sock#compare-$1.sock#; s#audit\.jsonl#compare-$1-audit.jsonl#" \
      $OUT/tollgate.yaml > $OUT/compare-$1.yaml
  $2 -c $OUT/compare-$1.yaml > $OUT/compare-$1.log 2>&1 &
  echo "$! $api"
}
read -r OLD_PID OLD_PORT <<< "$(start old "$OLD")"; PIDS+=($OLD_PID)
read -r NEW_PID NEW_PORT <<< "$(start new "$NEW")"; PIDS+=($NEW_PID)
wait_port $MOCK_PORT; wait_port $NGINX_PORT; wait_port $OLD_PORT; wait_port $NEW_PORT

echo "| scenario | round | via | requests/s | p50 ms | p99 ms | CPU µs/req |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for scenario in $SCENARIOS; do
  for round in $(seq 1 $ROUNDS); do
    for via in nginx old new; do
      case $via in nginx) pid=$NGINX_PID; port=$NGINX_PORT ;; old) pid=$OLD_PID; port=$OLD_PORT ;; new) pid=$NEW_PID; port=$NEW_PORT ;; esac
      before=$(ticks $pid)
      line=$(wrk -t2 -c50 -d$DURATION -s $OUT/$scenario.lua http://127.0.0.1:$port/v1/chat/completions | grep '^RESULT')
      after=$(ticks $pid)
      read -r rps p50 p99 _ errs non2xx total <<< "${line#RESULT }"
      [ "$errs$non2xx" = "00" ] || echo "warning: $via $scenario: $errs socket errors, $non2xx non-2xx" >&2
      python3 -c "print(f'| $scenario | $round | $via | {$rps:.0f} | $p50 | $p99 | {($after-$before)/$CLK_TCK*1e6/max($total,1):.0f} |')"
    done
  done
done
