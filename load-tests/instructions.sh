#!/usr/bin/env bash
# Instructions per request of one or more Tollgate binaries, counted by valgrind (callgrind):
# the user-space instructions the whole process executes (every thread, the audit writer's
# included) while it serves N requests of a scenario, divided by N. Unlike CPU time on this
# shared machine, where rounds minutes apart differ by 15-50%, the count repeats to within
# about 3% (how many requests one wake-up serves still varies), and the mean of a few
# interleaved rounds to about 1%. It leaves out the kernel (syscalls, TCP) and counts each
# instruction alike (a cache miss costs nothing here, a `rep movsb` one count per byte run),
# so it is for before/after on Tollgate's own code; requests/s stay `compare.sh`'s.
#
#   load-tests/run.sh                       # once: writes the configuration and request bodies
#   load-tests/instructions.sh /tmp/old-target/release/tollgate target/release/tollgate
#
# Knobs: SCENARIOS ("small stream big"), ROUNDS (2), N (requests counted, 1000),
# CONCURRENCY (4), KEEP (a directory: each binary's callgrind profile is kept there, for
# callgrind_annotate).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=load-tests/out
[ $# -gt 0 ] || { echo "usage: $0 BINARY..." >&2; exit 2; }
SCENARIOS=${SCENARIOS:-small stream big}; ROUNDS=${ROUNDS:-2}; N=${N:-1000}; CONCURRENCY=${CONCURRENCY:-4}
for f in tollgate.yaml small.json stream.json big.json; do
  [ -f "$OUT/$f" ] || { echo "$OUT/$f is missing: run load-tests/run.sh once first" >&2; exit 1; }
done
scripts/setup.sh valgrind
command -v oha >/dev/null || cargo install --locked oha
source load-tests/lib.sh

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

MOCK_PORT=$(grep -o '127.0.0.1:[0-9]*/v1' $OUT/tollgate.yaml | cut -d: -f2 | cut -d/ -f1)
"$1" mock --listen 127.0.0.1:$MOCK_PORT --threads 2 --chunks 100 > $OUT/instructions-mock.log 2>&1 &
PIDS+=($!)
wait_port $MOCK_PORT

DIR=$(mktemp -d)
load() { # port scenario count
  oha -n "$3" -c $CONCURRENCY --no-tui -m POST -H "Authorization: Bearer tg-load-key" \
    -H "Content-Type: application/json" -D $OUT/$2.json \
    "http://127.0.0.1:$1/v1/chat/completions" | grep 'Success rate:.*100.00%' > /dev/null \
    || { echo "$2: not every request succeeded" >&2; return 1; }
}

echo "| scenario | round | binary | instructions per request |"
echo "| --- | --- | --- | --- |"
for scenario in $SCENARIOS; do
 for round in $(seq 1 $ROUNDS); do
  for bin in "$@"; do
    port=$(free_port)
    sed -E -e "s/^( *listen: 127\.0\.0\.1:)[0-9]+/\1$port/" \
        -e "s/(admin_listen: 127\.0\.0\.1:)[0-9]+/\1$(free_port)/" \
        -e "s/(metrics_listen: 127\.0\.0\.1:)[0-9]+/\1$(free_port)/" \
        -e "s#tollgate\.pid#instructions.pid#; s#tollgate\.sock#instructions.sock#; s#audit\.jsonl#instructions-audit.jsonl#" \
        $OUT/tollgate.yaml > $OUT/instructions.yaml
    rm -f "$DIR"/cg.out*
    valgrind --tool=callgrind --callgrind-out-file="$DIR/cg.out" \
      "$bin" -c $OUT/instructions.yaml > $OUT/instructions.log 2>&1 &
    pid=$!; PIDS+=($pid)
    # Under valgrind the start takes seconds (the tokenizer's vocabulary, the regexes).
    wait_port $port 120
    load $port $scenario 200            # warm: pooled connections, lazily built state
    callgrind_control --zero $pid > /dev/null 2>&1
    load $port $scenario $N
    callgrind_control --dump $pid > /dev/null 2>&1
    # The dump is written by the process itself: wait for its totals line.
    for _ in $(seq 1 300); do grep -qs '^totals:' "$DIR"/cg.out.* && break; sleep 0.1; done
    total=$(grep -h '^totals:' "$DIR"/cg.out.* | head -1 | awk '{print $2}')
    [ -n "${KEEP:-}" ] && mkdir -p "$KEEP" && cp "$(ls "$DIR"/cg.out.* | head -1)" "$KEEP/$(echo "$bin" | tr / _)-$scenario-$round.callgrind"
    # The count is dumped, so no shutdown is waited for: under valgrind, SIGINT left
    # Pingora's accept loop spinning for minutes, which skewed the next round.
    kill -KILL $pid; wait $pid 2>/dev/null || true
    python3 -c "print(f'| $scenario | $round | \`$bin\` | {$total/$N:,.0f} |')"
  done
 done
done
rm -rf "$DIR"
