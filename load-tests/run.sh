#!/usr/bin/env bash
# Load test, side by side in one run: the mock upstream directly, through nginx (proxy_pass,
# the bare-proxy baseline), through Pingora's stock proxy (load-tests/bare_pingora.rs, the
# framework baseline), through Pingora without its proxy layer (load-tests/bare_server.rs, an
# HttpServerApp that forwards each request) and through Tollgate with every feature on (auth,
# limits and budgets on the key and its team, redaction both ways, the prompt-injection
# guardrail, usage and cost, metrics, the audit log), each proxy with the same worker threads.
#
# Scenarios: a small non-streamed prompt; a streamed answer of 100 events; a 32 KB prompt
# with entities to redact; then a fixed rate (RATE requests/s with oha) for the latency a
# proxy adds when it is not saturated. For each target: requests/s, p50/p99/p99.9, latency
# added over direct, CPU time per request (from /proc, the proxy's process only; for direct,
# the upstream's) and peak RSS (VmHWM).
#
#   load-tests/run.sh                        # 50 connections, 20 s per scenario
#   DURATION=5s RATE_DURATION=5s load-tests/run.sh
#
# Everything stays on loopback; every run is bounded by DURATION. The table goes to
# load-tests/out/table.md; load-tests/RESULTS.md keeps the recorded runs with their analysis.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-20s}
CONNECTIONS=${CONNECTIONS:-50}
THREADS=${THREADS:-2}          # worker threads of nginx, bare Pingora and Tollgate alike
WRK_THREADS=${WRK_THREADS:-2}
RATE=${RATE:-1000}
RATE_DURATION=${RATE_DURATION:-20s}
OUT=load-tests/out
mkdir -p "$OUT"

scripts/setup.sh nginx wrk
command -v oha >/dev/null 2>&1 || cargo install oha --locked
cargo build --release --quiet --bin tollgate --example bare_pingora --example bare_server
BIN=target/release/tollgate
CLK_TCK=$(getconf CLK_TCK)

source load-tests/lib.sh  # run from the repository root (the cd above)

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

MOCK_PORT=$(free_port); NGINX_PORT=$(free_port); BARE_PORT=$(free_port); SERVER_PORT=$(free_port); TG_PORT=$(free_port); TG_ADMIN=$(free_port); TG_METRICS=$(free_port)

# The upstream: Tollgate's mock provider alone, 100 content events per streamed answer.
$BIN mock --listen 127.0.0.1:$MOCK_PORT --threads $THREADS --chunks 100 > "$OUT/mock.log" 2>&1 &
MOCK_PID=$!; PIDS+=($MOCK_PID)

# nginx as a bare reverse proxy with upstream keep-alive and no buffering (streams pass as they come).
cat > "$OUT/nginx.conf" <<NGINX
worker_processes $THREADS;
pid $PWD/$OUT/nginx.pid;
error_log $PWD/$OUT/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_max_body_size 1m;
  client_body_buffer_size 64k;
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
NGINX_PID=$!; PIDS+=($NGINX_PID)

# Pingora's stock proxy in front of the same upstream: what the framework costs without Tollgate.
target/release/examples/bare_pingora --listen 127.0.0.1:$BARE_PORT --upstream 127.0.0.1:$MOCK_PORT \
  --threads $THREADS > "$OUT/bare_pingora.log" 2>&1 &
BARE_PID=$!; PIDS+=($BARE_PID)

# Pingora without HttpProxy: the listener, server session and connector pool that an
# HttpServerApp keeps, what Tollgate would stand on if it left ProxyHttp.
target/release/examples/bare_server --listen 127.0.0.1:$SERVER_PORT --upstream 127.0.0.1:$MOCK_PORT \
  --threads $THREADS > "$OUT/bare_server.log" 2>&1 &
SERVER_PID=$!; PIDS+=($SERVER_PID)

rm -f "$OUT/audit.jsonl"
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
prices:
  mock-1: { input: 0.15, output: 0.60 }
keys:
  - name: load
    team: load-team
    key: tg-load-key
    limits: { rpm: 100000000, tpm: 100000000000, max_concurrent: 100000 }
    budget: { usd: 1000000000, period: monthly }
teams:
  - { name: load-team, limits: { rpm: 100000000 }, budget: { usd: 1000000000, period: monthly } }
redaction:
  default_policy: default
  policies:
    default:
      request:  { email: placeholder, phone: mask, credit_card: mask, ssn: mask, iban: mask, ip: off, secret: block }
      response: { email: mask, phone: mask, credit_card: mask, ssn: mask, iban: mask, ip: off, secret: mask }
guardrails:
  prompt_injection: { action: block }
audit:
  path: $PWD/$OUT/audit.jsonl
YAML
$BIN -c "$OUT/tollgate.yaml" > "$OUT/tollgate.log" 2>&1 &
TG_PID=$!; PIDS+=($TG_PID)

wait_port $MOCK_PORT; wait_port $NGINX_PORT; wait_port $BARE_PORT; wait_port $SERVER_PORT; wait_port $TG_PORT

# Request bodies: a short prompt, the same streamed, and 32 KB of text with entities.
SMALL='{"model":"mock-1","stream":false,"messages":[{"role":"user","content":"Say hello to the load test"}]}'
STREAM='{"model":"mock-1","stream":true,"messages":[{"role":"user","content":"Say hello to the load test"}]}'
BIG=$(python3 - <<'PY'
import json
para = ("The customer wrote on Monday about order 81723. Reach them at jane.doe@example.com "
        "or +1-202-555-0143; the card on file ends 4242. Nothing else in this paragraph is "
        "personal, it is ordinary prose about deliveries, returns and opening hours. ")
text = (para * (32 * 1024 // len(para) + 1))[: 32 * 1024]
print(json.dumps({"model": "mock-1", "stream": False, "messages": [{"role": "user", "content": text}]}))
PY
)
lua() { # name body
  printf '%s' "$2" > "$OUT/$1.json"
  cat > "$OUT/$1.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer tg-load-key"
local f = io.open("$PWD/$OUT/$1.json", "rb"); wrk.body = f:read("*a"); f:close()
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.1f %.3f %.3f %.3f %d %d %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency:percentile(99.9) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, summary.requests))
end
LUA
}
lua small "$SMALL"; lua stream "$STREAM"; lua big "$BIG"

pid_of() { case $1 in direct) echo $MOCK_PID ;; nginx) echo $NGINX_PID ;; pingora) echo $BARE_PID ;; server) echo $SERVER_PID ;; tollgate) echo $TG_PID ;; esac; }
port_of() { case $1 in direct) echo $MOCK_PORT ;; nginx) echo $NGINX_PORT ;; pingora) echo $BARE_PORT ;; server) echo $SERVER_PORT ;; tollgate) echo $TG_PORT ;; esac; }
TARGETS="direct nginx pingora server tollgate"

declare -A RESULT
for scenario in small stream big; do
  for target in $TARGETS; do
    echo "== $scenario via $target" >&2
    pid=$(pid_of $target); before=$(ticks $pid)
    line=$(wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION -s "$OUT/$scenario.lua" "http://127.0.0.1:$(port_of $target)/v1/chat/completions" \
      | tee "$OUT/$scenario-$target.txt" | grep '^RESULT')
    after=$(ticks $pid)
    read -r rps p50 p99 p999 errs non2xx total <<< "${line#RESULT }"
    cpu=$(python3 -c "print(f'{($after-$before)/$CLK_TCK*1e6/max($total,1):.0f}')")
    RESULT[$scenario-$target]="$rps $p50 $p99 $p999 $errs $non2xx $cpu $(peak_mib $pid)"
  done
done

# A fixed rate, below saturation: the latency each hop adds when nothing queues.
for target in $TARGETS; do
  echo "== $RATE requests/s via $target" >&2
  oha -z $RATE_DURATION -q $RATE -c $CONNECTIONS --no-tui --output-format json -m POST \
    -H 'Content-Type: application/json' -H 'Authorization: Bearer tg-load-key' \
    -d "$SMALL" "http://127.0.0.1:$(port_of $target)/v1/chat/completions" > "$OUT/rate-$target.json"
  RESULT[rate-$target]=$(python3 -c "
import json; r = json.load(open('$OUT/rate-$target.json'))
p = r['latencyPercentiles']; s = r['summary']
codes = r.get('statusCodeDistribution', {})
print(f\"{s['requestsPerSec']:.1f} {p['p50']*1000:.3f} {p['p99']*1000:.3f} {p['p99.9']*1000:.3f} {sum(v for k, v in codes.items() if k != '200')} {sum(v for k, v in r.get('errorDistribution', {}).items() if 'deadline' not in k)}\")")
done

AUDIT_LINES=$(wc -l < "$OUT/audit.jsonl")
DROPPED=$(curl -s "http://127.0.0.1:$TG_METRICS/metrics" | awk '/^tollgate_audit_dropped_total/ {print $2}')

row() { # scenario target
  read -r rps p50 p99 p999 errs non2xx cpu rss <<< "${RESULT[$1-$2]}"
  read -r nrps _ _ _ _ _ _ _ <<< "${RESULT[$1-nginx]}"
  read -r brps _ _ _ _ _ _ _ <<< "${RESULT[$1-pingora]}"
  read -r _ dp50 dp99 _ _ _ _ _ <<< "${RESULT[$1-direct]}"
  python3 -c "print(f'| $1 | $2 | $rps | {$rps/$nrps:.2f}x | {$rps/$brps:.2f}x | $p50 | $p99 | $p999 | {$p50-$dp50:+.3f} | {$p99-$dp99:+.3f} | $cpu | $rss | $errs | $non2xx |')"
}
rate_row() { # target
  read -r rps p50 p99 p999 non200 errs <<< "${RESULT[rate-$1]}"
  read -r _ dp50 dp99 _ _ _ <<< "${RESULT[rate-direct]}"
  python3 -c "print(f'| $1 | $rps | $p50 | $p99 | $p999 | {$p50-$dp50:+.3f} | {$p99-$dp99:+.3f} | $non200 | $errs |')"
}

{
  echo "Generated by \`load-tests/run.sh\` on $(date -u +%Y-%m-%d) (UTC)."
  echo
  echo "- Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo "- Load: \`wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION\`, POST /v1/chat/completions. small: a short prompt, whole answer; stream: the same streamed, 100 content events (103 SSE events); big: a 32 KB prompt with an email, a phone and a card number per paragraph, whole answer."
  echo "- Worker threads: nginx $THREADS, bare Pingora $THREADS, bare server $THREADS, Tollgate $THREADS, mock upstream $THREADS; wrk, the proxy and the mock share the machine."
  echo "- pingora: Pingora 0.9's stock proxy (\`load-tests/bare_pingora.rs\`: default server settings, the same allocator as Tollgate), forwarding every request unchanged."
  echo "- server: Pingora 0.9 without its proxy layer (\`load-tests/bare_server.rs\`: an \`HttpServerApp\` over the same connector pool, same settings and allocator), forwarding every request unchanged."
  echo "- Tollgate has every feature on: virtual key, rpm/tpm/concurrency limits and a budget on the key and its team (memory backend), redaction of requests and answers, the prompt-injection guardrail, usage and cost, metrics, the audit log ($AUDIT_LINES records written, $DROPPED dropped)."
  echo "- Latency in ms. ratio: requests/s against nginx; vs pingora: against bare Pingora. +p50/+p99: added over direct. CPU: µs of CPU per request (the proxy's process; direct: the upstream's). RSS: peak MiB."
  echo
  echo "| scenario | via | requests/s | ratio | vs pingora | p50 | p99 | p99.9 | +p50 | +p99 | CPU µs/req | RSS MiB | socket errors | non-2xx |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  for scenario in small stream big; do for target in $TARGETS; do row $scenario $target; done; done
  echo
  echo "At a fixed $RATE requests/s (\`oha -q $RATE -c $CONNECTIONS -z $RATE_DURATION\`, small prompt):"
  echo
  echo "| via | requests/s | p50 | p99 | p99.9 | +p50 | +p99 | non-200 | errors |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  for target in $TARGETS; do rate_row $target; done
} > "$OUT/table.md"

cat "$OUT/table.md"
