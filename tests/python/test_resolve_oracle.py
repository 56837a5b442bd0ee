#!/usr/bin/env python3
"""Resolution oracle: `pypi-sentinel resolve` against `uv pip compile` on the simulator.

    python3 tests/python/test_resolve_oracle.py --bin target/debug/pypi-sentinel

For each index profile (`--profiles`, all four by default), starts `<bin> sim
--index-profile P` (a package index on 127.0.0.1):

- `pypi`: Simple API JSON pages with `core-metadata`, metadata files, per-release JSON;
- `simple-html`: a PEP 503 mirror, HTML pages only, no metadata files, no JSON API;
- `simple-json`: PEP 691 JSON pages without metadata files, no JSON API;
- `no-range`: as `simple-json`, and files ignore HTTP `Range` (answered whole);

and, for every case below (the simulator's synthetic dependency graphs `sg-…`,
invented projects) and every target, runs both resolvers on the same index, each with
a fresh cache per profile:

- ours: `<bin> --origin SIM --data-dir D --json resolve REQ... --python X --platform P [--pre]`;
- uv:   `uv pip compile - --index-url SIM/simple --python-version X
         --python-platform T --prerelease allow|disallow --no-cache`.

They must agree on the set of `name==version`, or both fail on an unsatisfiable
graph. A difference explained by a documented rule is listed in RULES (printed, not a
failure; one that no longer occurs fails the run, so the list stays exact).

The recorded (real) projects are not in this oracle: their Simple pages point at
files.pythonhosted.org and carry no `core-metadata` (recorded before PEP 714), so uv
would download wheels from the internet; no test touches the internet.

Needs `uv` (pip install uv); without it the script says so and exits 2. Plain Python,
no pytest; every wait is bounded; the simulator is killed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading

CALL_TIMEOUT = 120
START_TIMEOUT = 60

# uv's --python-platform for our platforms (ours assume x86_64 Linux, arm64 macOS,
# AMD64 Windows; the synthetic graphs use no machine markers).
UV_PLATFORM = {
    "linux": "x86_64-unknown-linux-gnu",
    "macos": "aarch64-apple-darwin",
    "windows": "x86_64-pc-windows-msvc",
}

TARGETS = [("3.8", "linux"), ("3.9", "windows"), ("3.10", "macos"), ("3.12", "linux"), ("3.13", "windows")]

# (requirements, allow pre-releases, targets or None for all)
CASES: list[tuple[list[str], bool, list[tuple[str, str]] | None]] = [
    (["sg-web"], False, None),
    (["sg-web[speed]"], False, None),
    (["sg-web[speed,cli]>=1"], False, None),
    (["sg-web"], True, None),
    (["sg-web[speed]"], True, [("3.12", "linux")]),
    (["sg-http"], False, None),
    (["sg-http==1.2.0"], False, [("3.12", "linux")]),  # yanked, pinned exactly
    (["sg-http>=1.2"], False, [("3.12", "linux")]),  # only a yanked release: both fail
    (["sg-cli"], False, [("3.12", "linux"), ("3.8", "windows")]),  # a cycle
    (["sg-conflict"], False, [("3.12", "linux")]),  # unsatisfiable: both fail
    (["sg-beta"], False, [("3.12", "linux")]),  # only pre-releases, not allowed: both fail
    (["sg-beta"], True, [("3.12", "linux")]),
    (["sg-tree-00"], False, [("3.7", "linux"), ("3.12", "linux")]),  # 40 packages
    (["sg-markup<3", "sg-template"], False, [("3.12", "linux")]),
    (["sg-idna<3.7", "sg-http"], False, [("3.10", "linux")]),
]

# Differences explained by a documented rule: (case label) -> the rule.
RULES: dict[str, str] = {}


def log(msg: str) -> None:
    print(f"[resolve-oracle] {msg}", flush=True)


class Setup(Exception):
    pass


PROFILES = ["pypi", "simple-html", "simple-json", "no-range"]


def start_sim(binary: str, profile: str) -> tuple[subprocess.Popen, str]:
    p = subprocess.Popen(
        [binary, "sim", "--index-profile", profile], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert p.stdout is not None
        for line in p.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    try:
        first = lines.get(timeout=START_TIMEOUT)
    except queue.Empty:
        p.kill()
        raise Setup(f"sim: no output within {START_TIMEOUT} s") from None
    prefix = "listening on "
    if not first or not first.startswith(prefix):
        p.kill()
        raise Setup(f"sim: unexpected first line {first!r}")
    return p, first[len(prefix) :].strip().rstrip("/")


def ours(binary: str, sim: str, data: str, reqs: list[str], py: str, plat: str, pre: bool) -> tuple[bool, set[str], str]:
    cmd = [binary, "--origin", sim, "--data-dir", data, "--json", "resolve", *reqs]
    cmd += ["--python", py, "--platform", plat, "--no-vulns"]
    if pre:
        cmd.append("--pre")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=CALL_TIMEOUT)
    try:
        out = json.loads(r.stdout)
    except json.JSONDecodeError:
        return False, set(), f"exit {r.returncode}: {r.stderr.strip()[-300:]}"
    if out.get("status") != "resolved":
        return False, set(), f"{out.get('status')}: {(out.get('conflict') or '')[:300]} {out.get('notes')}"
    return True, {f"{p['name']}=={p['version']}" for p in out["packages"]}, ""


def uv(uv_bin: str, sim: str, reqs: list[str], py: str, plat: str, pre: bool, cache: str) -> tuple[bool, set[str], str]:
    cmd = [
        uv_bin, "pip", "compile", "-", "--index-url", f"{sim}/simple",
        "--python-version", py, "--python-platform", UV_PLATFORM[plat],
        "--prerelease", "allow" if pre else "disallow",
        "--no-header", "--no-annotate", "--quiet", "--cache-dir", cache,
    ]  # fmt: skip
    env = dict(os.environ, UV_NO_PROGRESS="1", UV_PYTHON_DOWNLOADS="never")
    r = subprocess.run(cmd, input="\n".join(reqs) + "\n", capture_output=True, text=True, timeout=CALL_TIMEOUT, env=env)
    if r.returncode != 0:
        return False, set(), r.stderr.strip()[-300:]
    pins = set()
    for line in r.stdout.splitlines():
        line = line.split("#")[0].strip()
        if line and "==" in line:
            name, version = line.split("==", 1)
            pins.add(f"{name.split('[')[0].strip().lower()}=={version.split(';')[0].strip()}")
    return True, pins, ""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--profiles", default=",".join(PROFILES), help="index profiles, comma-separated")
    args = ap.parse_args()
    uv_bin = shutil.which("uv")
    if not uv_bin:
        print("SETUP: uv is needed (pip install uv)", file=sys.stderr)
        return 2
    profiles = [p for p in args.profiles.split(",") if p]
    unknown = [p for p in profiles if p not in PROFILES]
    if unknown:
        print(f"SETUP: unknown profile(s) {unknown}: use {PROFILES}", file=sys.stderr)
        return 2
    failures: list[str] = []
    seen_rules: set[str] = set()
    compared = agreed_fail = 0
    for profile in profiles:
        try:
            sim_proc, sim = start_sim(args.bin, profile)
        except Setup as e:
            print(f"SETUP: {e}", file=sys.stderr)
            return 2
        try:
            with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as data:
                for reqs, pre, targets in CASES:
                    for py, plat in targets or TARGETS:
                        label = f"{' '.join(reqs)} py{py} {plat}{' pre' if pre else ''}"
                        ok_a, a, why_a = ours(args.bin, sim, data, reqs, py, plat, pre)
                        ok_b, b, why_b = uv(uv_bin, sim, reqs, py, plat, pre, cache)
                        compared += 1
                        if not ok_a and not ok_b:
                            agreed_fail += 1
                            log(f"ok (both fail): [{profile}] {label}")
                            continue
                        if ok_a and ok_b and a == b:
                            log(f"ok: [{profile}] {label}: {len(a)} packages")
                            continue
                        if label in RULES:
                            seen_rules.add(label)
                            log(f"documented difference: [{profile}] {label}: {RULES[label]}")
                            continue
                        failures.append(
                            f"[{profile}] {label}: ours {'ok' if ok_a else 'FAILED ' + why_a} {sorted(a - b)} / "
                            f"uv {'ok' if ok_b else 'FAILED ' + why_b} {sorted(b - a)}"
                        )
        finally:
            sim_proc.kill()
            sim_proc.wait(timeout=10)
    for stale in sorted(set(RULES) - seen_rules):
        failures.append(f"documented difference no longer occurs (remove it from RULES): {stale}")
    log(
        f"{compared} resolutions compared over {len(profiles)} index profile(s) "
        f"({agreed_fail} unsatisfiable for both), {len(failures)} mismatches"
    )
    for f in failures:
        print(f"MISMATCH {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
