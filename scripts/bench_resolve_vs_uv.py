#!/usr/bin/env python3
"""Side-by-side timing: `pypi-sentinel resolve` against `uv pip compile` on the simulator.

    python3 scripts/bench_resolve_vs_uv.py --bin target/release/pypi-sentinel [--runs 5]

For each index profile (`--profiles`, default `pypi,simple-html`) it starts
`<bin> sim --index-profile P` on 127.0.0.1, adds `latency_ms` (default 20) to every
route, and times whole processes resolving `sg-tree-00` (40 packages, invented) for
Python 3.12 on Linux, paired run by run (ours, then uv):

- cold: a fresh `--data-dir` for ours, a fresh `--cache-dir` for uv;
- warm: the data dir / cache dir of a first (untimed) run, reused.

Ours runs with `--no-vulns` (uv does not look vulnerabilities up). Each run also
records how many requests the simulator received. Prints medians and the ratio.
Loopback only; every call is bounded; the simulator is killed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

CALL_TIMEOUT = 120
REQS = ["sg-tree-00"]

# The simulator is started as the resolution oracle starts it (one copy of that code).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "python"))
from test_resolve_oracle import start_sim  # noqa: E402


def admin(sim: str, method: str, path: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{sim}{path}", data=data, method=method, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        text = r.read().decode()
    return json.loads(text) if text.strip() else {}


def requests_since_reset(sim: str) -> int:
    total = admin(sim, "GET", "/_sim/stats").get("total", 0)
    admin(sim, "POST", "/_sim/stats/reset")
    return int(total)


def run_ours(binary: str, sim: str, data: str) -> float:
    cmd = [binary, "--origin", sim, "--data-dir", data, "--json", "resolve", *REQS]
    cmd += ["--python", "3.12", "--platform", "linux", "--no-vulns"]
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=CALL_TIMEOUT)
    dt = time.perf_counter() - t
    out = json.loads(r.stdout)
    if out.get("status") != "resolved" or len(out.get("packages", [])) != 40:
        raise SystemExit(f"ours did not resolve the tree: {r.stdout[:400]} {r.stderr[-400:]}")
    return dt


def run_uv(uv_bin: str, sim: str, cache: str) -> float:
    cmd = [
        uv_bin, "pip", "compile", "-", "--index-url", f"{sim}/simple",
        "--python-version", "3.12", "--python-platform", "x86_64-unknown-linux-gnu",
        "--no-header", "--no-annotate", "--quiet", "--cache-dir", cache,
    ]  # fmt: skip
    env = dict(os.environ, UV_NO_PROGRESS="1", UV_PYTHON_DOWNLOADS="never")
    t = time.perf_counter()
    r = subprocess.run(cmd, input="\n".join(REQS) + "\n", capture_output=True, text=True, timeout=CALL_TIMEOUT, env=env)
    dt = time.perf_counter() - t
    pins = [line for line in r.stdout.splitlines() if "==" in line]
    if r.returncode != 0 or len(pins) != 40:
        raise SystemExit(f"uv did not resolve the tree: {r.stderr[-400:]}")
    return dt


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--latency-ms", type=int, default=20)
    ap.add_argument("--profiles", default="pypi,simple-html")
    args = ap.parse_args()
    uv_bin = shutil.which("uv")
    if not uv_bin:
        print("SETUP: uv is needed (pip install uv)", file=sys.stderr)
        return 2
    if not 1 <= args.runs <= 50:
        print("--runs must be between 1 and 50", file=sys.stderr)
        return 2
    rows = []
    for profile in [p for p in args.profiles.split(",") if p]:
        proc, sim = start_sim(args.bin, profile)
        try:
            admin(sim, "POST", "/_sim/faults", {"route": "/**", "latency_ms": args.latency_ms})
            with tempfile.TemporaryDirectory() as tmp:
                for mode in ("cold", "warm"):
                    ours_t, uv_t, ours_n, uv_n = [], [], [], []
                    warm_data, warm_cache = os.path.join(tmp, "warm-data"), os.path.join(tmp, "warm-cache")
                    if mode == "warm":
                        run_ours(args.bin, sim, warm_data)
                        run_uv(uv_bin, sim, warm_cache)
                    for i in range(args.runs):
                        if mode == "cold":
                            data, cache = os.path.join(tmp, f"d{i}"), os.path.join(tmp, f"c{i}")
                        else:
                            data, cache = warm_data, warm_cache
                        requests_since_reset(sim)
                        ours_t.append(run_ours(args.bin, sim, data))
                        ours_n.append(requests_since_reset(sim))
                        uv_t.append(run_uv(uv_bin, sim, cache))
                        uv_n.append(requests_since_reset(sim))
                    o, u = statistics.median(ours_t), statistics.median(uv_t)
                    rows.append((profile, mode, o, u, o / u, statistics.median(ours_n), statistics.median(uv_n)))
                    print(
                        f"{profile:12} {mode}: ours {o:.3f} s ({' '.join(f'{x:.2f}' for x in ours_t)}), "
                        f"uv {u:.3f} s ({' '.join(f'{x:.2f}' for x in uv_t)}), ours/uv {o / u:.2f}",
                        flush=True,
                    )
        finally:
            proc.kill()
            proc.wait(timeout=10)
    print()
    print(f"| profile | caches | ours (median of {args.runs}) | uv (median) | ours / uv | requests ours | requests uv |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for profile, mode, o, u, ratio, on, un in rows:
        print(f"| {profile} | {mode} | {o:.2f} s | {u:.2f} s | {ratio:.2f}x | {on:g} | {un:g} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
