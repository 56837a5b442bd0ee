#!/usr/bin/env python3
"""Cached MCP call latency of two builds side by side, in one run.

    python3 scripts/bench_cached_mcp_ab.py --old OLD_BIN --new NEW_BIN [--calls 400] [--rounds 3]

Starts the simulator, then for each round and each binary a `serve --http` on
loopback; one MCP session makes 20 warm-up calls and then CALLS sequential
`get_package_info numpy` calls (each must answer `cached`), timing each round trip.
Prints each round's p50 and p99, the medians over rounds, and new/old of the p50.
The client is plain Python (tests/python/harness.py): its own cost is in every
figure, the same for both binaries.
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "python"))
from harness import Mcp, start, stop_all  # noqa: E402


def one_round(binary: str, sim: str, calls: int) -> tuple[float, float]:
    proc, url = start([binary, "serve", "--no-store", "--http", "127.0.0.1:0", "--origin", sim],
                      "listening on ", {"RUST_LOG": "off"})
    try:
        mcp = Mcp(url, "bench-ab")
        for _ in range(20):
            mcp.call("get_package_info", {"package": "numpy"})
        lat = []
        for _ in range(calls):
            t = time.perf_counter()
            r = mcp.call("get_package_info", {"package": "numpy"})
            lat.append(time.perf_counter() - t)
            if r.get("structuredContent", {}).get("source") != "cached":
                raise SystemExit(f"{binary}: not a cached answer: {r}")
        lat.sort()
        return statistics.median(lat), lat[max(0, int(0.99 * len(lat)) - 1)]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", required=True)
    ap.add_argument("--new", required=True)
    ap.add_argument("--calls", type=int, default=400)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    try:
        _, sim = start([os.path.abspath(a.new), "sim"], "listening on ")
        res: dict[str, list[tuple[float, float]]] = {"old": [], "new": []}
        for _ in range(a.rounds):
            for name in ("old", "new"):
                res[name].append(one_round(os.path.abspath(getattr(a, name)), sim.rstrip("/"), a.calls))
        for name, rounds in res.items():
            p50 = statistics.median(r[0] for r in rounds)
            p99 = statistics.median(r[1] for r in rounds)
            each = [(round(x * 1e6), round(y * 1e6)) for x, y in rounds]
            print(f"{name}: p50 {p50 * 1e6:.0f} us, p99 {p99 * 1e6:.0f} us (each round, us: {each})")
        ratio = statistics.median(r[0] for r in res["new"]) / statistics.median(r[0] for r in res["old"])
        print(f"new/old p50: {ratio:.3f}")
    finally:
        stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
