#!/usr/bin/env python3
"""File-choice oracle: `pypi-sentinel download` against `pip download` on the simulator.

    python3 tests/python/test_download_oracle.py --bin target/debug/pypi-sentinel

For each index profile (`--profiles`, `pypi` and `simple-html` by default: PyPI's
shape, and a PEP 503 mirror without a JSON API or metadata files), starts `<bin> sim
--index-profile P` (a package index on 127.0.0.1) and, for every (package, target)
pair below, downloads the release's wheel with both tools into fresh directories:

- ours: `<bin> --origin SIM --data-dir D --json download NAME --version V
         --python X.Y --platform TAG [--machine M] --kind wheel --dest DIR`;
- pip:  `python -m pip download --only-binary :all: --no-deps --platform P...
         --python-version X.Y --implementation cp --abi cpXY -d DIR
         --index-url SIM/simple/ NAME==V`.

They must write the same file, or both find none for the target. pip's `--platform`
names tags, not systems: for a macOS or Windows tag pip expands it itself (to every
older macOS a wheel may name); for glibc 2.Y (`manylinux_2_Y_ARCH`) and musl 1.Y
(`musllinux_1_Y_ARCH`) it does not, so each `--platform` pip gets is one tag of the
list PEP 600 / PEP 656 define for that libc (every `manylinux_2_Z` with Z <= Y, and the
legacy aliases `manylinux2014` / `2010` / `1` where their glibc is; `musllinux_1_Z`
for Z <= Y), written out below from the PEPs, independently of our code.

The packages are the simulator's synthetic projects: `sg-native` (platform wheels,
an abi3 wheel), `sg-web` (one pure wheel), and `sg-like-numpy`, `sg-like-black`,
`sg-like-pyyaml`, `sg-like-coverage`, whose wheel tag sets are copied from real
releases (numpy 1.25.1, black 23.7.0, PyYAML 5.4.1, coverage 5.5 in the recorded
fixtures); nothing else about them is real.

pip is run with `PIP_CONFIG_FILE=/dev/null` (no user index) and `--no-cache-dir`; it
reaches only the simulator. Plain Python, no pytest; every wait is bounded; the
simulator is killed at the end. Prints the counts; exits 1 on any mismatch, 2 on a
setup problem.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

# The simulator is started the way the resolution oracle starts it (same directory).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_resolve_oracle import Setup, start_sim  # noqa: E402

CALL_TIMEOUT = 120
PROFILES = ["pypi", "simple-html", "simple-json", "no-range"]

# (package, version, python, our --platform, our --machine or None)
PAIRS: list[tuple[str, str, str, str, str | None]] = [
    # numpy 1.25.1's tags: cp39-cp311 on manylinux2014 x86_64/aarch64, musllinux_1_1,
    # macOS 10.9 x86_64 and 11.0 arm64, win32, win_amd64.
    ("sg-like-numpy", "1.0.0", "3.11", "manylinux_2_17_x86_64", None),
    ("sg-like-numpy", "1.0.0", "3.10", "manylinux_2_28_aarch64", None),
    ("sg-like-numpy", "1.0.0", "3.9", "musllinux_1_2_x86_64", None),
    ("sg-like-numpy", "1.0.0", "3.11", "macosx_10_15_x86_64", None),
    ("sg-like-numpy", "1.0.0", "3.11", "macosx_14_0_arm64", None),
    ("sg-like-numpy", "1.0.0", "3.10", "windows", "x86"),
    ("sg-like-numpy", "1.0.0", "3.9", "win_amd64", None),
    ("sg-like-numpy", "1.0.0", "3.12", "manylinux_2_35_x86_64", None),  # no cp312 wheel
    ("sg-like-numpy", "1.0.0", "3.11", "manylinux_2_12_x86_64", None),  # glibc too old
    # black 23.7.0's: mypyc wheels for cp38-cp311 (macOS 10.16 arm64/x86_64/universal2,
    # manylinux2014 x86_64, win_amd64) and a pure wheel.
    ("sg-like-black", "1.0.0", "3.11", "macosx_14_0_arm64", None),
    ("sg-like-black", "1.0.0", "3.10", "macosx_10_15_x86_64", None),
    ("sg-like-black", "1.0.0", "3.9", "macosx_11_0_x86_64", None),
    ("sg-like-black", "1.0.0", "3.12", "manylinux_2_35_x86_64", None),
    ("sg-like-black", "1.0.0", "3.8", "manylinux_2_17_aarch64", None),
    ("sg-like-black", "1.0.0", "3.8", "win_amd64", None),
    # PyYAML 5.4.1's: cp36m-cp39 on manylinux1 x86_64, manylinux2014 aarch64/s390x,
    # macOS 10.9 x86_64, win32, win_amd64.
    ("sg-like-pyyaml", "1.0.0", "3.8", "manylinux_2_5_x86_64", None),
    ("sg-like-pyyaml", "1.0.0", "3.9", "manylinux_2_17_s390x", None),
    ("sg-like-pyyaml", "1.0.0", "3.9", "musllinux_1_1_x86_64", None),  # no musl wheel
    ("sg-like-pyyaml", "1.0.0", "3.8", "windows", "x86"),
    # coverage 5.5's: manylinux1 and manylinux2010 i686/x86_64, macOS 10.9 / 10.14,
    # win32, win_amd64, pp-none-any.
    ("sg-like-coverage", "1.0.0", "3.9", "manylinux_2_12_i686", None),
    ("sg-like-coverage", "1.0.0", "3.8", "manylinux_2_28_x86_64", None),
    ("sg-like-coverage", "1.0.0", "3.10", "macosx_12_0_x86_64", None),
    ("sg-like-coverage", "1.0.0", "3.11", "win_amd64", None),  # no cp311 wheel
    # sg-native: cp311/cp312 platform wheels and a cp38-abi3 manylinux wheel.
    ("sg-native", "1.1.0", "3.13", "manylinux_2_17_x86_64", None),
    ("sg-native", "1.1.0", "3.10", "manylinux_2_31_x86_64", None),
    ("sg-native", "1.1.0", "3.12", "musllinux_1_1_x86_64", None),
    ("sg-native", "1.1.0", "3.11", "manylinux_2_17_aarch64", None),
    ("sg-native", "1.1.0", "3.12", "macosx_12_0_arm64", None),
    ("sg-native", "1.1.0", "3.13", "macosx_14_0_arm64", None),  # abi3 on Linux only
    # A pure wheel anywhere.
    ("sg-web", "1.0.0", "3.8", "win_amd64", None),
]


def log(msg: str) -> None:
    print(f"[download-oracle] {msg}", flush=True)


def pip_platforms(platform: str, machine: str | None) -> list[str]:
    """The `--platform` values pip gets for our target (see the module docs)."""
    if platform == "windows":
        return {"x86": ["win32"], None: ["win_amd64"]}[machine]
    legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
    if platform.startswith("manylinux_2_"):
        rest = platform[len("manylinux_2_") :]
        glibc, arch = rest.split("_", 1)
        # PEP 600: glibc 2.Y runs every manylinux_2_Z with Z <= Y; wheels exist from
        # glibc 2.5 on x86_64 / i686, from 2.17 (manylinux2014) elsewhere.
        oldest = 5 if arch in ("x86_64", "i686") else 17
        out = []
        for z in range(int(glibc), oldest - 1, -1):
            out.append(f"manylinux_2_{z}_{arch}")
            if z in legacy:
                out.append(f"{legacy[z]}_{arch}")
        return out + [f"linux_{arch}"]
    if platform.startswith("musllinux_1_"):
        rest = platform[len("musllinux_1_") :]
        musl, arch = rest.split("_", 1)
        return [f"musllinux_1_{z}_{arch}" for z in range(int(musl), -1, -1)] + [f"linux_{arch}"]
    return [platform]  # macOS and Windows tags: pip expands them itself


def only_file(d: str) -> str | None:
    files = [f for f in os.listdir(d) if not f.startswith(".")]
    return files[0] if len(files) == 1 else None


def ours(binary: str, sim: str, data: str, work: str, pair) -> tuple[str | None, str]:
    name, version, py, platform, machine = pair
    dest = tempfile.mkdtemp(dir=work)
    cmd = [binary, "--origin", sim, "--data-dir", data, "--json", "download", name, "--version", version]
    cmd += ["--python", py, "--platform", platform, "--kind", "wheel", "--dest", dest]
    if machine:
        cmd += ["--machine", machine]
    # The current directory is what the CLI allows downloads into by default.
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=CALL_TIMEOUT, cwd=work)
    try:
        out = json.loads(r.stdout)
    except json.JSONDecodeError:
        return None, f"exit {r.returncode}: {(r.stderr or r.stdout).strip()[-300:]}"
    value = out.get("value", out) if isinstance(out, dict) else {}
    got = (value.get("file") or {}).get("filename")
    if r.returncode != 0 or not got:
        return None, f"exit {r.returncode}: {json.dumps(out)[:300]}"
    if only_file(dest) != got:
        return None, f"said {got}, wrote {os.listdir(dest)}"
    return got, ""


def pip(sim: str, work: str, pair) -> tuple[str | None, str]:
    name, version, py, platform, machine = pair
    dest = tempfile.mkdtemp(dir=work)
    cmd = [sys.executable, "-m", "pip", "download", "--only-binary", ":all:", "--no-deps"]
    for p in pip_platforms(platform, machine):
        cmd += ["--platform", p]
    cmd += ["--python-version", py, "--implementation", "cp", "--abi", "cp" + py.replace(".", "")]
    cmd += ["-d", dest, "--index-url", f"{sim}/simple/", "--no-cache-dir", "--disable-pip-version-check"]
    cmd += ["--quiet", f"{name}=={version}"]
    env = dict(os.environ, PIP_CONFIG_FILE=os.devnull, PIP_NO_INPUT="1")
    env.pop("PIP_INDEX_URL", None)
    env.pop("PIP_EXTRA_INDEX_URL", None)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=CALL_TIMEOUT, env=env)
    if r.returncode != 0:
        return None, r.stderr.strip().splitlines()[-1][-300:] if r.stderr.strip() else f"exit {r.returncode}"
    got = only_file(dest)
    return (got, "") if got else (None, f"wrote {os.listdir(dest)}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--profiles", default="pypi,simple-html", help="index profiles, comma-separated")
    args = ap.parse_args()
    # The downloads run in temporary directories: a relative path must not depend on it.
    args.bin = os.path.abspath(args.bin)
    r = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True, text=True)
    if r.returncode != 0:
        print("SETUP: pip is needed", file=sys.stderr)
        return 2
    log(r.stdout.strip())
    profiles = [p for p in args.profiles.split(",") if p]
    unknown = [p for p in profiles if p not in PROFILES]
    if unknown:
        print(f"SETUP: unknown profile(s) {unknown}: use {PROFILES}", file=sys.stderr)
        return 2
    failures: list[str] = []
    compared = both_none = 0
    for profile in profiles:
        try:
            sim_proc, sim = start_sim(args.bin, profile)
        except Setup as e:
            print(f"SETUP: {e}", file=sys.stderr)
            return 2
        try:
            with tempfile.TemporaryDirectory() as work, tempfile.TemporaryDirectory() as data:
                for pair in PAIRS:
                    name, version, py, platform, machine = pair
                    label = f"[{profile}] {name}=={version} py{py} {platform}{' ' + machine if machine else ''}"
                    a, why_a = ours(args.bin, sim, data, work, pair)
                    b, why_b = pip(sim, work, pair)
                    compared += 1
                    if a is None and b is None:
                        both_none += 1
                        log(f"ok (no wheel for either): {label}")
                    elif a == b:
                        log(f"ok: {label}: {a}")
                    else:
                        failures.append(f"{label}: ours {a or 'NONE ' + why_a} / pip {b or 'NONE ' + why_b}")
        finally:
            sim_proc.kill()
            sim_proc.wait(timeout=10)
    log(
        f"{compared} (package, target) pairs compared over {len(profiles)} index profile(s) "
        f"({len(PAIRS)} pairs each; {both_none} with no wheel for either), {len(failures)} mismatches"
    )
    for f in failures:
        print(f"MISMATCH {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
