#!/usr/bin/env python3
"""Many concurrent open streams through Tollgate: peak memory, and no stream lost.

Starts `tollgate mock` as a slow upstream (one event a second, EVENTS events per answer) and
Tollgate in front of it (usage accounting on, memory state backend), opens STREAMS streamed
chat requests through Tollgate (ramped up at RAMP per second so the listen backlog never
overflows), keeps them all open together, and checks that every one ends with `[DONE]` after
all its events. Reports the gateway's peak resident memory (VmHWM) and per-stream cost.

    python3 load-tests/streams.py                 # 10,000 streams, 10 events each
    STREAMS=2000 EVENTS=5 python3 load-tests/streams.py
    PROMPT_KB=32 python3 load-tests/streams.py    # each request with a 32 KB prompt
    VIA=pingora python3 load-tests/streams.py     # the same through Pingora's stock proxy
    VIA=server python3 load-tests/streams.py      # through Pingora without its proxy layer

VIA=pingora measures the framework's own floor: `load-tests/bare_pingora.rs`, which forwards
each request unchanged, in place of Tollgate. VIA=server measures the floor without Pingora's
proxy layer: `load-tests/bare_server.rs`, an `HttpServerApp` forwarding each request.

Each stream holds two sockets in the gateway (the client's and the upstream's), so the
gateway needs 2 x STREAMS file descriptors: the script raises its soft limit to the hard one
(processes it starts inherit it) and lowers STREAMS to fit when the hard limit is too low,
saying so.
"""

import asyncio
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# BIN=path/to/tollgate compares another build (the default is built when missing).
BIN = os.environ.get("BIN", os.path.join(ROOT, "target", "release", "tollgate"))
EXAMPLES = os.path.join(ROOT, "target", "release", "examples")
BASELINES = {"pingora": "bare_pingora", "server": "bare_server"}
VIA = os.environ.get("VIA", "tollgate")  # tollgate | pingora | server
STREAMS = int(os.environ.get("STREAMS", "10000"))
EVENTS = int(os.environ.get("EVENTS", "10"))
RAMP = int(os.environ.get("RAMP", "2000"))  # new streams per second
PROMPT_KB = int(os.environ.get("PROMPT_KB", "0"))  # 0: a three-word prompt


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, limit=20.0):
    deadline = time.time() + limit
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    sys.exit(f"port {port} never opened")


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


async def one_stream(port, request, results, open_now):
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError as e:
        results["connect_errors"] += 1
        results["errors"].append(repr(e))
        return
    open_now[0] += 1
    results["peak_open"] = max(results["peak_open"], open_now[0])
    try:
        writer.write(request)
        await writer.drain()
        data = b""
        while b"data: [DONE]" not in data:
            chunk = await asyncio.wait_for(reader.read(65536), timeout=EVENTS + 30)
            if not chunk:
                break
            data += chunk
        head_ok = data.startswith(b"HTTP/1.1 200")
        events = data.count(b'"content":')
        if head_ok and b"data: [DONE]" in data and events >= EVENTS:
            results["complete"] += 1
        else:
            results["incomplete"] += 1
            if len(results["errors"]) < 5:
                results["errors"].append(data[:300].decode("utf-8", "replace"))
    except (OSError, asyncio.TimeoutError) as e:
        results["incomplete"] += 1
        if len(results["errors"]) < 5:
            results["errors"].append(repr(e))
    finally:
        open_now[0] -= 1
        writer.close()


async def drive(port, streams, gateway_pid):
    prompt = "keep me open"
    if PROMPT_KB:
        words = "lorem ipsum dolor sit amet "
        prompt = words * (PROMPT_KB * 1024 // len(words))
    body = (
        '{"model":"slow","stream":true,"messages":[{"role":"user","content":"%s"}]}' % prompt
    ).encode()
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: tollgate\r\n"
        b"Authorization: Bearer tg-streams\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    results = {"complete": 0, "incomplete": 0, "connect_errors": 0, "peak_open": 0, "errors": []}
    open_now = [0]
    rss_samples = []

    async def sample():
        while True:
            rss_samples.append(status_kib(gateway_pid, "VmRSS"))
            await asyncio.sleep(0.5)

    sampler = asyncio.create_task(sample())
    tasks = []
    started = time.time()
    for i in range(streams):
        tasks.append(asyncio.create_task(one_stream(port, request, results, open_now)))
        if i % 100 == 99:
            due = started + (i + 1) / RAMP
            await asyncio.sleep(max(0.0, due - time.time()))
    await asyncio.gather(*tasks)
    sampler.cancel()
    results["seconds"] = time.time() - started
    results["peak_rss_mib"] = max(rss_samples or [0]) / 1024
    return results


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    streams = STREAMS
    fit = (hard - 200) // 2
    if streams > fit:
        print(
            f"note: the hard file-descriptor limit here is {hard}; the gateway needs two per "
            f"stream, so {fit} streams are opened instead of {streams}",
            file=sys.stderr,
        )
        streams = fit
    if VIA != "tollgate" and VIA not in BASELINES:
        sys.exit(f"VIA={VIA}: expected tollgate, pingora or server")
    baselines = [os.path.join(EXAMPLES, name) for name in BASELINES.values()]
    if not all(os.path.exists(p) for p in [BIN] + baselines):
        examples = [arg for name in BASELINES.values() for arg in ("--example", name)]
        subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "tollgate"] + examples,
                       cwd=ROOT, check=True)
    out = tempfile.mkdtemp(prefix="tollgate-streams-")
    mock_port, api, admin, metrics = free_port(), free_port(), free_port(), free_port()
    mock = subprocess.Popen(
        [BIN, "mock", "--listen", f"127.0.0.1:{mock_port}", "--threads", "2",
         "--chunks", str(EVENTS), "--chunk-delay-ms", "1000"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    conf = os.path.join(out, "tollgate.yaml")
    with open(conf, "w") as f:
        f.write(f"""server:
  listen: 127.0.0.1:{api}
  admin_listen: 127.0.0.1:{admin}
  metrics_listen: 127.0.0.1:{metrics}
  threads: 2
  pid_file: {out}/tollgate.pid
  upgrade_sock: {out}/tollgate.sock
  log: {{ level: warn }}
providers:
  - {{ name: slow, type: openai_compatible, base_url: "http://127.0.0.1:{mock_port}/v1", api_key: sk-streams,
      timeouts: {{ first_byte_ms: 60000, idle_ms: 60000 }} }}
models:
  - name: slow
    targets: [{{ provider: slow, model: slow }}]
keys:
  - {{ name: streams, key: tg-streams }}
""")
    if VIA in BASELINES:
        command = [os.path.join(EXAMPLES, BASELINES[VIA]), "--listen", f"127.0.0.1:{api}", "--upstream", f"127.0.0.1:{mock_port}",
                   "--threads", "2"]
    else:
        command = [BIN, "-c", conf]
    gateway = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                               stderr=open(os.path.join(out, "gateway.log"), "w"))
    try:
        wait_port(mock_port)
        wait_port(api)
        idle = status_kib(gateway.pid, "VmRSS") / 1024
        r = asyncio.run(drive(api, streams, gateway.pid))
        hwm = status_kib(gateway.pid, "VmHWM") / 1024
    finally:
        gateway.terminate()
        mock.terminate()
    per_stream = (hwm - idle) * 1024 / max(r["peak_open"], 1)
    print(f"streams: {streams} opened, {r['peak_open']} open at once, {r['complete']} complete, "
          f"{r['incomplete']} incomplete, {r['connect_errors']} connect errors, {r['seconds']:.1f} s")
    print(f"{VIA} memory: {idle:.0f} MiB idle, peak {hwm:.0f} MiB (VmHWM); "
          f"about {per_stream:.1f} KiB per open stream")
    for e in r["errors"]:
        print("  error:", e)
    lost = streams - r["complete"]
    sys.exit(0 if lost == 0 else 1)


if __name__ == "__main__":
    main()
