"""Failover under load: two mock upstreams behind Tollgate (weighted 1:1); under wrk load
one upstream is killed, then restarted on the same port. Reports failed client requests,
how long until the dead upstream was ejected and, after it returned, re-admitted, and the
throughput and latency of the run. Writes load-tests/out/failover.md.

    python3 load-tests/failover.py            # 20 s: kill at 5 s, restart at 12 s
    DURATION=30 python3 load-tests/failover.py

Passive health only (no health_check), as the issue asks. Loopback only; bounded in time.
"""

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "load-tests", "out")
BIN = os.path.join(ROOT, "target", "release", "tollgate")
DURATION = int(os.environ.get("DURATION", "20"))
KILL_AT, RESTART_AT = DURATION * 0.25, DURATION * 0.6


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, limit=10.0):
    deadline = time.time() + limit
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise SystemExit(f"port {port} never opened")


def mock(port):
    return subprocess.Popen([BIN, "mock", "--listen", f"127.0.0.1:{port}", "--threads", "1", "--chunks", "5"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main():
    os.makedirs(OUT, exist_ok=True)
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    a, b, api, admin, metrics = (free_port() for _ in range(5))
    conf = os.path.join(OUT, "failover.yaml")
    with open(conf, "w") as f:
        f.write(f"""server:
  listen: 127.0.0.1:{api}
  admin_listen: 127.0.0.1:{admin}
  metrics_listen: 127.0.0.1:{metrics}
  threads: 2
  pid_file: {OUT}/failover.pid
  upgrade_sock: {OUT}/failover.sock
  log: {{ level: error }}
providers:
  - {{ name: a, type: openai_compatible, base_url: "http://127.0.0.1:{a}/v1", api_key: sk-a }}
  - {{ name: b, type: openai_compatible, base_url: "http://127.0.0.1:{b}/v1", api_key: sk-b }}
models:
  - name: m
    strategy: weighted
    targets: [{{ provider: a, model: m }}, {{ provider: b, model: m }}]
keys:
  - {{ name: load, key: tg-load-key }}
""")
    procs = {"a": mock(a), "b": mock(b)}
    gw = subprocess.Popen([BIN, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for p in (a, b, api, admin):
        wait_port(p)
    lua = os.path.join(OUT, "failover.lua")
    with open(lua, "w") as f:
        f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                'wrk.headers["Authorization"] = "Bearer tg-load-key"\n'
                'wrk.body = \'{"model":"m","messages":[{"role":"user","content":"hello"}]}\'\n'
                'done = function(s, latency, r)\n'
                '  io.write(string.format("RESULT %d %.1f %.3f %.3f %d %d\\n", s.requests, s.requests / (s.duration / 1e6),\n'
                '    latency:percentile(50) / 1000, latency:percentile(99) / 1000,\n'
                '    s.errors.connect + s.errors.read + s.errors.write + s.errors.timeout, s.errors.status))\nend\n')

    start = time.time()
    states = []  # (seconds since start, b up?)

    def watch():
        while time.time() - start < DURATION + 1:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{admin}/admin/providers", timeout=1) as r:
                    ps = json.load(r)["providers"]
                    states.append((time.time() - start, next(p["up"] for p in ps if p["name"] == "b")))
            except OSError:
                pass
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    load = subprocess.Popen(["wrk", "-t2", "-c20", f"-d{DURATION}s", "-s", lua, f"http://127.0.0.1:{api}/v1/chat/completions"],
                            stdout=subprocess.PIPE, text=True)
    time.sleep(KILL_AT)
    procs["b"].kill()
    killed = time.time() - start
    time.sleep(RESTART_AT - KILL_AT)
    procs["b"] = mock(b)
    wait_port(b)
    restarted = time.time() - start
    out, _ = load.communicate()
    watcher.join()
    for p in list(procs.values()) + [gw]:
        p.kill()

    result = next(l for l in out.splitlines() if l.startswith("RESULT")).split()[1:]
    requests, rps, p50, p99, sock_errors, non2xx = int(result[0]), float(result[1]), result[2], result[3], int(result[4]), int(result[5])
    ejected = next((t for t, up in states if t >= killed and not up), None)
    readmitted = next((t for t, up in states if t >= restarted and up), None)
    eject_s = f"{ejected - killed:.2f} s" if ejected is not None else "never"
    admit_s = f"{readmitted - restarted:.2f} s" if readmitted is not None else "never"
    table = (
        f"| duration | requests | requests/s | p50 ms | p99 ms | failed (socket / non-2xx) | b ejected after kill | b re-admitted after restart |\n"
        f"| --- | --- | --- | --- | --- | --- | --- | --- |\n"
        f"| {DURATION} s | {requests} | {rps} | {p50} | {p99} | {sock_errors} / {non2xx} | {eject_s} | {admit_s} |\n"
    )
    with open(os.path.join(OUT, "failover.md"), "w") as f:
        f.write(table)
    print(table)
    ok = sock_errors == 0 and non2xx == 0 and ejected is not None and readmitted is not None \
        and ejected - killed <= 2 and readmitted - restarted <= 2
    print("goals met" if ok else "GOALS NOT MET")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
