#!/usr/bin/env bash
# Load test: the mock upstream directly, through nginx (proxy_pass, the bare-proxy baseline)
# and through Tollgate, each with the same worker threads, driven by the same wrk load, in one
# run. Writes load-tests/RESULTS.md (the table plus the machine and the command).
#
#   load-tests/run.sh                 # 50 connections, 20 s per scenario
#   DURATION=5s CONNECTIONS=20 load-tests/run.sh
#
# Everything stays on loopback; every run is bounded by DURATION.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-20s}
CONNECTIONS=${CONNECTIONS:-50}
THREADS=${THREADS:-2}          # worker threads of nginx and Tollgate alike
WRK_THREADS=${WRK_THREADS:-2}
OUT=load-tests/out
mkdir -p "$OUT"

scripts/setup.sh nginx wrk
cargo build --release --quiet
BIN=target/release/tollgate

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 500); do (echo > /dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.02; done; echo "port $1 never opened" >&2; return 1; }

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

MOCK_PORT=$(free_port); NGINX_PORT=$(free_port); TG_PORT=$(free_port); TG_ADMIN=$(free_port); TG_METRICS=$(free_port)
NA_PORT=$(free_port); NA_ADMIN=$(free_port); NA_METRICS=$(free_port)

# The upstream: Tollgate's mock provider alone, 20 content events per streamed answer.
$BIN mock --listen 127.0.0.1:$MOCK_PORT --threads $THREADS --chunks 20 > "$OUT/mock.log" 2>&1 &
PIDS+=($!)

# nginx as a bare reverse proxy with upstream keep-alive and no buffering (streams pass as they come).
cat > "$OUT/nginx.conf" <<NGINX
worker_processes $THREADS;
pid $PWD/$OUT/nginx.pid;
error_log $PWD/$OUT/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  upstream mock { server 127.0.0.1:$MOCK_PORT; keepalive 128; }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    client_body_temp_path $PWD/$OUT/nginx-body;
    proxy_temp_path $PWD/$OUT/nginx-proxy;
    location / {
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
NGINX
nginx -c "$PWD/$OUT/nginx.conf" -g 'daemon off;' > "$OUT/nginx.log" 2>&1 &
PIDS+=($!)

cat > "$OUT/tollgate.yaml" <<YAML
server:
  listen: 127.0.0.1:$TG_PORT
  admin_listen: 127.0.0.1:$TG_ADMIN
  metrics_listen: 127.0.0.1:$TG_METRICS
  threads: $THREADS
  pid_file: $PWD/$OUT/tollgate.pid
  upgrade_sock: $PWD/$OUT/tollgate.sock
  log: { level: warn }
providers:
  - { name: mock, type: openai_compatible, base_url: "http://127.0.0.1:$MOCK_PORT/v1", api_key: sk-load }
models:
  - name: mock-1
    targets: [{ provider: mock, model: mock-1 }]
keys:
  - { name: load, key: tg-load-key }
YAML
$BIN -c "$OUT/tollgate.yaml" > "$OUT/tollgate.log" 2>&1 &
PIDS+=($!)

# The same gateway with token counting and spend turned off, to measure what accounting costs.
sed -e "s/127.0.0.1:$TG_PORT/127.0.0.1:$NA_PORT/; s/127.0.0.1:$TG_ADMIN/127.0.0.1:$NA_ADMIN/; s/127.0.0.1:$TG_METRICS/127.0.0.1:$NA_METRICS/" \
    -e "s#tollgate.pid#tollgate-na.pid#; s#tollgate.sock#tollgate-na.sock#" "$OUT/tollgate.yaml" > "$OUT/tollgate-na.yaml"
TOLLGATE_ACCOUNTING=off $BIN -c "$OUT/tollgate-na.yaml" > "$OUT/tollgate-na.log" 2>&1 &
PIDS+=($!)

wait_port $MOCK_PORT; wait_port $NGINX_PORT; wait_port $TG_PORT; wait_port $NA_PORT

# One wrk script per scenario: the same POST everywhere, a summary line at the end.
for kind in plain stream; do
  stream=false; [ $kind = stream ] && stream=true
  cat > "$OUT/$kind.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer tg-load-key"
wrk.body = '{"model":"mock-1","stream":$stream,"messages":[{"role":"user","content":"Say hello to the load test"}]}'
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.1f %.3f %.3f %.3f %d %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency:percentile(99.9) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
LUA
done

declare -A RESULT
for kind in plain stream; do
  targets="direct nginx tollgate"
  [ $kind = stream ] && targets="$targets tollgate-no-accounting"
  for target in $targets; do
    case $target in direct) port=$MOCK_PORT ;; nginx) port=$NGINX_PORT ;; tollgate) port=$TG_PORT ;; tollgate-no-accounting) port=$NA_PORT ;; esac
    echo "== $kind via $target" >&2
    line=$(wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION -s "$OUT/$kind.lua" "http://127.0.0.1:$port/v1/chat/completions" | tee "$OUT/$kind-$target.txt" | grep '^RESULT')
    RESULT[$kind-$target]=${line#RESULT }
  done
done

# Accounting on and off, interleaved: ROUNDS alternating slices each, so machine drift hits
# both alike (sequential 20 s rows drift by several percent on this shared machine).
ROUNDS=${ROUNDS:-4}
SLICE=${SLICE:-5s}
ON_SUM=0; OFF_SUM=0
for r in $(seq 1 $ROUNDS); do
  for port in $TG_PORT $NA_PORT; do
    rps=$(wrk -t$WRK_THREADS -c$CONNECTIONS -d$SLICE -s "$OUT/stream.lua" "http://127.0.0.1:$port/v1/chat/completions" | grep '^RESULT' | awk '{print $2}')
    if [ $port = $TG_PORT ]; then ON_SUM=$(python3 -c "print($ON_SUM+$rps)"); else OFF_SUM=$(python3 -c "print($OFF_SUM+$rps)"); fi
  done
done

row() {
  local kind=$1 target=$2 base
  read -r rps p50 p99 p999 errs non2xx <<< "${RESULT[$kind-$target]}"
  read -r nrps _ np99 _ _ _ <<< "${RESULT[$kind-nginx]}"
  local ratio=$(python3 -c "print(f'{$rps/$nrps:.2f}')")
  local dp99=$(python3 -c "print(f'{$p99-$np99:+.3f}')")
  echo "| $kind | $target | $rps | $p50 | $p99 | $p999 | ${ratio}x | $dp99 | $errs | $non2xx |"
}

{
  echo "# Load test results"
  echo
  echo "Generated by \`load-tests/run.sh\` on $(date -u +%Y-%m-%d) (UTC)."
  echo
  echo "- Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo "- Load: \`wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION\`, POST /v1/chat/completions, a short prompt; the streamed answer is 23 SSE events."
  echo "- Worker threads: nginx $THREADS, Tollgate $THREADS, mock upstream $THREADS; wrk, the proxy and the mock share the machine."
  echo "- tollgate-no-accounting: the same Tollgate with TOLLGATE_ACCOUNTING=off (no usage requested, read or settled)."
  echo "- Latency in ms. ratio: requests/s against nginx. Δp99: p99 minus nginx's p99, in ms."
  echo
  echo "| answer | via | requests/s | p50 | p99 | p99.9 | ratio | Δp99 | socket errors | non-2xx |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  for kind in plain stream; do for target in direct nginx tollgate; do row $kind $target; done; done
  row stream tollgate-no-accounting
  echo
  echo "Streaming with accounting on / off, $ROUNDS interleaved rounds of $SLICE each:" \
    "$(python3 -c "print(f'{$ON_SUM/$ROUNDS:.0f} / {$OFF_SUM/$ROUNDS:.0f} requests/s = {$ON_SUM/$OFF_SUM:.2f}x')") (goal: 0.95x or more)."
} > "$OUT/table.md"

cat "$OUT/table.md"
echo
echo "The table is in $OUT/table.md; load-tests/RESULTS.md keeps the recorded runs with their analysis."
