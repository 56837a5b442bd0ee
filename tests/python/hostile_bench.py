#!/usr/bin/env python3
"""Hostile-client figures for BENCHMARKS.md, against the real binary and the simulator.

    python3 tests/python/hostile_bench.py --bin target/debug/pypi-sentinel [--n 20000]

1. sessions: N `initialize` POSTs left open (no DELETE), with the default cap and with
   the cap raised to N: RSS before and after, statuses.
2. unknown tools: N `tools/call` with invented names on one session: /metrics size, RSS.
3. SIGTERM with calls in flight: 100 calls against a slow upstream (within the grace),
   then 100 against a hanging one (past the grace): how many replies arrive.

Bounded: every request has a timeout, every phase a fixed size.
"""

import argparse
import concurrent.futures as cf
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import httpx2 as httpx

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "bench", "version": "1"},
    },
}
HEADERS = {
    "content-type": "application/json",
    "accept": "application/json, text/event-stream",
    "mcp-protocol-version": "2025-06-18",
}


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def start(args, stderr=subprocess.DEVNULL):
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr, text=True)
    line = p.stdout.readline().strip()
    assert line.startswith("listening on "), line
    return p, line.removeprefix("listening on ")


def serve(bin_, sim_url, *extra, config=None, log=None):
    args = [bin_, "--no-store", "--origin", sim_url, "--log-level", "info" if log else "error"]
    if config:
        args += ["--config", config]
    return start(args + ["serve", "--http", "127.0.0.1:0", *extra], stderr=log or subprocess.DEVNULL)


def messages(body):
    out = []
    for line in body.splitlines():
        if line.startswith("data:"):
            try:
                out.append(json.loads(line[5:]))
            except ValueError:
                pass
    return out


def session(c, url):
    r = c.post(url, headers=HEADERS, json=INIT)
    sid = r.headers["mcp-session-id"]
    c.post(
        url,
        headers={**HEADERS, "mcp-session-id": sid},
        json={"jsonrpc": "2.0", "method": "notifications/initialized"},
    )
    return sid


def phase_sessions(bin_, sim_url, n, cap):
    extra = ["--init-timeout-secs", "600"]
    if cap:
        extra += ["--max-sessions", str(cap)]
    p, url = serve(bin_, sim_url, *extra)
    try:
        with httpx.Client(timeout=10) as c:
            for _ in range(20):  # warm-up: 20 sessions opened and closed
                sid = c.post(url, headers=HEADERS, json=INIT).headers["mcp-session-id"]
                c.delete(url, headers={**HEADERS, "mcp-session-id": sid})
        time.sleep(0.5)
        before = rss_mb(p.pid)
        statuses = {}

        def one(_):
            with httpx.Client(timeout=10) as c:
                codes = []
                for _ in range(n // 8):
                    codes.append(c.post(url, headers=HEADERS, json=INIT).status_code)
                return codes

        t = time.time()
        with cf.ThreadPoolExecutor(8) as ex:
            for codes in ex.map(one, range(8)):
                for s in codes:
                    statuses[s] = statuses.get(s, 0) + 1
        took = time.time() - t
        time.sleep(1)
        after = rss_mb(p.pid)
        print(
            f"sessions: {n} initialize, cap {cap or 'default (1000)'}: statuses {statuses}, "
            f"RSS {before:.0f} -> {after:.0f} MB (+{after - before:.0f} MB) in {took:.0f} s"
        )
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=15)


def phase_unknown_tools(bin_, sim_url, n):
    p, url = serve(bin_, sim_url)
    try:
        base = url.removesuffix("/mcp")
        with httpx.Client(timeout=10) as c:
            sid = session(c, url)
            before = rss_mb(p.pid)
            t = time.time()
            for i in range(n):
                c.post(
                    url,
                    headers={**HEADERS, "mcp-session-id": sid},
                    json={
                        "jsonrpc": "2.0",
                        "id": 10 + i,
                        "method": "tools/call",
                        "params": {"name": f"evil-{i}-{'x' * 20}", "arguments": {}},
                    },
                ).read()
            took = time.time() - t
            metrics = c.get(f"{base}/metrics").text
            after = rss_mb(p.pid)
        print(
            f"unknown tools: {n} calls in {took:.0f} s: /metrics {len(metrics)} bytes, "
            f"'evil' in it: {'evil' in metrics}; RSS {before:.0f} -> {after:.0f} MB"
        )
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=15)


def phase_sigterm(bin_, sim_url, fault, calls, grace_ms):
    admin = sim_url + "/_sim/faults"
    httpx.delete(admin)
    httpx.post(sim_url + "/_sim/stats/reset")
    for route in ["/pypi/**", "/simple/**"]:
        httpx.post(admin, json={"route": route, **fault}).raise_for_status()
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
        # Our own PyPI limits (20/s, 8 in flight) would defer most of a burst of 100.
        f.write(
            f"shutdown_grace_ms = {grace_ms}\n"
            "[upstreams.pypi_json]\nmax_in_flight = 200\n"
            "[upstreams.pypi_json.rate_limit]\nper_second = 1000\n"
        )
        config = f.name
    log = open(os.environ.get("HOSTILE_LOG", os.devnull), "a")
    p, url = serve(bin_, sim_url, config=config, log=log)
    results = []
    try:
        c = httpx.Client(timeout=30, limits=httpx.Limits(max_connections=calls + 10))
        sid = session(c, url)

        def one(i):
            try:
                r = c.post(
                    url,
                    headers={**HEADERS, "mcp-session-id": sid},
                    json={
                        "jsonrpc": "2.0",
                        "id": 1000 + i,
                        "method": "tools/call",
                        "params": {"name": "get_package_info", "arguments": {"package": f"synth-{i:04d}"}},
                    },
                )
                for m in messages(r.text):
                    if m.get("id") == 1000 + i:
                        if "result" in m:
                            sc = m["result"].get("structuredContent") or {}
                            return "result" + (f" (tool error: {sc.get('code')})" if m["result"].get("isError") else "")
                        return "error: " + str((m["error"].get("data") or {}).get("error") or m["error"].get("message"))[:60]
                return f"none (HTTP {r.status_code})"
            except Exception as e:  # noqa: BLE001
                return f"exception {type(e).__name__}"

        with cf.ThreadPoolExecutor(calls) as ex:
            futs = [ex.submit(one, i) for i in range(calls)]
            # Every call in flight: the simulator has seen each one's request.
            deadline = time.time() + 10
            while time.time() < deadline:
                if httpx.get(sim_url + "/_sim/stats").json().get("total", 0) >= calls:
                    break
                time.sleep(0.05)
            t = time.time()
            p.send_signal(signal.SIGTERM)
            results = [f.result() for f in futs]
        p.wait(timeout=20)
        took = time.time() - t
    finally:
        if p.poll() is None:
            p.kill()
        os.unlink(config)
        httpx.delete(admin)
    counts = {}
    for r in results:
        counts[r] = counts.get(r, 0) + 1
    print(
        f"SIGTERM with {calls} calls in flight, upstream {fault}, grace {grace_ms} ms: "
        f"replies {counts}; process exited {took:.1f} s after the signal"
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--n", type=int, default=20000)
    a = ap.parse_args()
    sim, sim_url = start([a.bin, "sim", "--synthetic", "200"])
    try:
        phase_sessions(a.bin, sim_url, a.n, None)
        phase_sessions(a.bin, sim_url, a.n, a.n)
        phase_unknown_tools(a.bin, sim_url, a.n)
        phase_sigterm(a.bin, sim_url, {"latency_ms": 2000}, 100, 5000)
        phase_sigterm(a.bin, sim_url, {"hang": True}, 100, 1000)
    finally:
        sim.kill()
        sim.wait()


if __name__ == "__main__":
    sys.exit(main())
