# Helpers shared by the load-test scripts (sourced, not run).

# A loopback port free right now.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Wait until something listens on loopback port $1, for at most $2 seconds (10).
wait_port() { for _ in $(seq 1 $(( ${2:-10} * 50 ))); do (echo > /dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.02; done; echo "port $1 never opened" >&2; return 1; }
# CPU ticks (user + system) of process $1 and its children processes (nginx's workers).
ticks() { local t=0; for p in $1 $(pgrep -P "$1" || true); do t=$((t + $(awk '{print $14 + $15}' /proc/$p/stat))); done; echo $t; }
# Peak resident memory in MiB of process $1 and its children processes.
peak_mib() { local k=0; for p in $1 $(pgrep -P "$1" || true); do k=$((k + $(awk '/VmHWM/ {print $2}' /proc/$p/status))); done; python3 -c "print(f'{$k/1024:.0f}')"; }
