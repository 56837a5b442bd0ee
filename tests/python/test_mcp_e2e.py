#!/usr/bin/env python3
"""End-to-end test of pypi-sentinel's MCP server with the official Python SDK.

    python3 tests/python/test_mcp_e2e.py --bin target/debug/pypi-sentinel

Starts `<bin> sim` (the simulator of the upstreams), then checks the MCP server
(a) over stdio: `<bin> serve --origin SIM`, and
(b) over streamable HTTP: `<bin> serve --http 127.0.0.1:0 --origin SIM`, plus
    GET /healthz, /readyz, /metrics and the Host check,
with the `mcp` package (>= 1.9; 1.x and 2.x APIs are both supported). In each
session it lists the tools, calls every tool and checks the structured results
(source, provenance), an invalid-input error and a pypistats outage injected into
the simulator. Plain asyncio, no pytest. Exits 0 on success, 1 on a failed check
(with a message saying which), 2 on a setup problem. Every wait is bounded and the
subprocesses are killed at the end, on failure and on timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import builtins
import hashlib
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback

from harness import http

try:
    import anyio
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client
except ImportError as e:  # pragma: no cover - setup problem
    print(f"SETUP: the `mcp` package is needed (pip install 'mcp>=1.9'): {e}", file=sys.stderr)
    sys.exit(2)

try:  # mcp >= 1.24 / 2.x
    from mcp.client.streamable_http import streamable_http_client as _http_client
    _HTTP_CLIENT_NAME = "streamable_http_client"
except ImportError:  # older 1.x
    from mcp.client.streamable_http import streamablehttp_client as _http_client
    _HTTP_CLIENT_NAME = "streamablehttp_client"

_EXC_GROUP = getattr(builtins, "BaseExceptionGroup", None)  # Python >= 3.11

EXPECTED_TOOLS = {
    "get_package_info",
    "get_package_versions",
    "get_package_dependencies",
    "get_package_docs",
    "get_package_docs_with_context",
    "check_package_python_compatibility",
    "get_package_compatible_python_versions",
    "get_download_statistics",
    "get_download_trends",
    "get_download_breakdown",
    "get_top_downloaded_packages",
    "get_packages_overview",
    "scan_dependencies",
    "check_package",
    "audit_project",
    "resolve_dependencies",
    "explain_dependency",
    "get_package_vulnerabilities",
    "download_package",
    "health_check",
    "ready_check",
    "get_metrics",
    "get_cache_stats",
    "refresh_cache",
}
LABELS = {"live", "cached", "stale", "estimated", "mixed", "unavailable"}
INVALID_PARAMS = -32602
CALL_TIMEOUT = 60  # seconds per MCP call (the engine's own deadline is 15 s)
START_TIMEOUT = 60  # seconds for a subprocess to print its first line
TOTAL_TIMEOUT = 420  # hard bound on the whole script


class CheckFailed(Exception):
    """A check did not hold."""


def check(cond: bool, msg: str) -> None:
    if not cond:
        raise CheckFailed(msg)


def log(msg: str) -> None:
    print(f"[e2e] {msg}", flush=True)


# ---- subprocesses -------------------------------------------------------------------

PROCS: list[subprocess.Popen] = []


def start_with_first_line(cmd: list[str], prefix: str, extra_env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """Starts `cmd` (with `extra_env` added to the environment), waits (bounded) for
    its first stdout line, which must start with `prefix`; the rest of stdout is
    drained in a thread."""
    log("starting " + " ".join(cmd))
    env = dict(os.environ)
    env.setdefault("RUST_LOG", "warn")
    env.update(extra_env or {})
    p = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=None,  # inherit: the server's logs help when something fails
        text=True,
        env=env,
    )
    PROCS.append(p)
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
        raise CheckFailed(f"{cmd[1]}: no output within {START_TIMEOUT} s") from None
    if first is None:
        raise CheckFailed(f"{' '.join(cmd)} exited (status {p.wait()}) without printing a line")
    first = first.strip()
    check(first.startswith(prefix), f"{' '.join(cmd)}: first line {first!r} does not start with {prefix!r}")
    return p, first[len(prefix):].strip()


def kill_all() -> None:
    for p in PROCS:
        if p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + 5
    for p in PROCS:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)


# ---- the simulator's faults, over plain HTTP (harness.http) ----------------------


def add_fault(sim_url: str, spec: dict) -> None:
    status, _, body = http("POST", sim_url + "/_sim/faults", spec)
    check(status == 200, f"POST /_sim/faults {spec}: {status} {body!r}")


def clear_faults(sim_url: str) -> None:
    status, _, body = http("DELETE", sim_url + "/_sim/faults")
    check(status in (200, 204), f"DELETE /_sim/faults: {status} {body!r}")


# ---- results ------------------------------------------------------------------------


def structured(result) -> dict | None:
    for attr in ("structured_content", "structuredContent"):
        v = getattr(result, attr, None)
        if v is not None:
            return v
    return None


def is_error(result) -> bool:
    for attr in ("is_error", "isError"):
        v = getattr(result, attr, None)
        if v is not None:
            return bool(v)
    return False


def text_of(result) -> str:
    return "\n".join(getattr(c, "text", "") for c in (result.content or []))


def error_data(exc: BaseException):
    """(code, message, data) of an MCP error exception (McpError in 1.x, MCPError in 2.x)."""
    err = getattr(exc, "error", None)
    if err is None:
        return None
    return getattr(err, "code", None), getattr(err, "message", ""), getattr(err, "data", None)


async def call(session, tool: str, args: dict):
    with anyio.fail_after(CALL_TIMEOUT):
        return await session.call_tool(tool, args)


async def ok(session, tool: str, args: dict) -> tuple[dict, str]:
    r = await call(session, tool, args)
    text = text_of(r)
    check(not is_error(r), f"{tool} {args}: unexpected tool error: {text}")
    s = structured(r)
    check(isinstance(s, dict), f"{tool} {args}: no structured content (got {s!r})")
    check(s.get("source") in LABELS, f"{tool} {args}: bad source in {s}")
    check(bool(text.strip()), f"{tool} {args}: no human text")
    return s, text


async def tool_error(session, tool: str, args: dict) -> tuple[dict, str]:
    r = await call(session, tool, args)
    text = text_of(r)
    check(is_error(r), f"{tool} {args}: expected an error result, got {text!r}")
    s = structured(r)
    check(isinstance(s, dict), f"{tool} {args}: error without structured content")
    return s, text


async def invalid_params(session, tool: str, args: dict, param: str) -> None:
    try:
        r = await call(session, tool, args)
    except CheckFailed:
        raise
    except Exception as e:  # McpError / MCPError
        d = error_data(e)
        check(d is not None, f"{tool} {args}: unexpected exception {e!r}")
        code, message, data = d
        check(code == INVALID_PARAMS, f"{tool} {args}: error code {code}, want {INVALID_PARAMS}")
        check(param in message, f"{tool} {args}: message {message!r} does not name {param}")
        if data is not None:
            check(data.get("param") == param, f"{tool} {args}: data {data}")
        return
    # Some SDK versions may surface a protocol error as an error result.
    check(is_error(r), f"{tool} {args}: expected invalid_params for {param}, got a result")
    check(param in text_of(r), f"{tool} {args}: error text does not name {param}")


# ---- the checks ---------------------------------------------------------------------


async def exercise_download(session, sim_url: str, label: str, download_dir: str | None) -> None:
    """download_package: refused with the key to set when no directory is allowed;
    else the best wheel, verified, on disk; a corrupt first body retried."""
    args = {"package": "sg-native", "python_version": "3.12", "platform": "linux"}
    if download_dir is None:
        s, text = await tool_error(session, "download_package", args)
        check(s.get("code") == "dir_not_allowed" and "download.allowed_dirs" in text, f"{label}: download without a dir {s} {text!r}")
        return
    s, text = await ok(session, "download_package", args)
    name = "sg_native-1.1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    check(s["file"]["filename"] == name and s["verified"] is True, f"{label}: download {s}")
    with open(s["path"], "rb") as f:
        got = hashlib.sha256(f.read()).hexdigest()
    check(got == s["sha256_expected"] and os.path.dirname(s["path"]) == os.path.realpath(download_dir), f"{label}: file on disk {s}")
    check("verified" in text, f"{label}: download text {text!r}")
    add_fault(sim_url, {"route": "/files/**", "corrupt_bytes": True, "times": 1})
    try:
        s, text = await ok(session, "download_package", {**args, "kind": "sdist"})
        check([a["outcome"] for a in s["attempts"]] == ["corrupt", "verified"], f"{label}: corrupt then verified {s}")
        check("corrupt" in text, f"{label}: corrupt text {text!r}")
    finally:
        clear_faults(sim_url)
    s, text = await tool_error(session, "download_package", {"package": "sg-hostile", "version": "1.0.1"})
    check(s.get("code") == "unsafe_file_name" and s["download"]["failure"] == "unsafe_file_name", f"{label}: hostile {s}")
    check(sorted(os.listdir(download_dir)) == sorted([name, "sg_native-1.1.0.tar.gz"]), f"{label}: dir {os.listdir(download_dir)}")
    await invalid_params(session, "download_package", {"package": "sg-native", "kind": "egg"}, "kind")


async def exercise(session, sim_url: str, label: str, download_dir: str | None = None) -> None:
    with anyio.fail_after(CALL_TIMEOUT):
        init = await session.initialize()
    info = getattr(init, "server_info", None) or getattr(init, "serverInfo", None)
    check(info is not None and info.name == "pypi-sentinel", f"{label}: server name {info!r}")

    with anyio.fail_after(CALL_TIMEOUT):
        tools = (await session.list_tools()).tools
    names = {t.name for t in tools}
    check(names == EXPECTED_TOOLS, f"{label}: tools differ: missing {EXPECTED_TOOLS - names}, extra {names - EXPECTED_TOOLS}")
    for t in tools:
        schema = getattr(t, "input_schema", None) or getattr(t, "inputSchema", None)
        check(isinstance(schema, dict) and schema.get("type") == "object", f"{label}: {t.name} input schema {schema!r}")
    log(f"{label}: {len(tools)} tools listed")

    # Metadata: live, then cached.
    s, text = await ok(session, "get_package_info", {"package": "numpy"})
    check(s["source"] == "live" and s["provenance"]["kind"] == "live", f"{label}: first numpy info {s}")
    check(s.get("name") == "numpy" and isinstance(s.get("version"), str), f"{label}: numpy info {s}")
    check("live" in text, f"{label}: text does not state freshness: {text!r}")
    s, text = await ok(session, "get_package_info", {"package": "numpy"})
    check(s["source"] == "cached" and isinstance(s.get("age_secs"), int), f"{label}: second numpy info {s}")
    check("cached" in text, f"{label}: text {text!r}")

    s, _ = await ok(session, "get_package_versions", {"package": "django", "limit": 5, "include_prereleases": False})
    check(len(s["versions"]) == 5 and all(not v["prerelease"] for v in s["versions"]), f"{label}: versions {s}")

    s, _ = await ok(session, "get_package_dependencies", {"package": "black", "python_version": "3.12", "platform": "linux"})
    check(s["dependencies"] and all(isinstance(d.get("applies"), bool) for d in s["dependencies"]), f"{label}: deps {s}")

    s, _ = await ok(session, "get_package_docs", {"package": "black", "max_tokens": 500})
    check(s["tokens"] <= 500 and s["encoding"] == "o200k_base" and "left out" in s["markdown"], f"{label}: docs {s}")
    s, _ = await ok(session, "get_package_docs_with_context", {"package": "scipy", "max_tokens": 600})
    check(s["tokens"] <= 600 and [d["package"] for d in s["dependencies"]["items"]] == ["numpy"], f"{label}: docs with context {s}")

    s, _ = await ok(session, "check_package_python_compatibility", {"package": "pytest", "python_version": "3.12"})
    check(s.get("compatible") in (True, False, None) and "detail" in s, f"{label}: compat {s}")

    s, _ = await ok(session, "get_package_compatible_python_versions", {"package": "scipy"})
    check(isinstance(s.get("supported"), list) and s["supported"], f"{label}: pythons {s}")

    # Downloads.
    s, text = await ok(session, "get_download_statistics", {"package": "pyyaml"})
    for key in ("last_day", "last_week", "last_month"):
        check(isinstance(s[key]["value"], int) and s[key]["provenance"]["kind"] == "live", f"{label}: stats {key} {s}")
    check("downloads last month" in text, f"{label}: stats text {text!r}")
    s, _ = await ok(session, "get_download_trends", {"package": "coverage", "days": 7})
    check(len(s["points"]) == 7 and s["source"] == "live", f"{label}: trend {s}")
    s, _ = await ok(session, "get_download_breakdown", {"package": "docutils", "by": "system"})
    check(s["categories"], f"{label}: breakdown {s}")
    s, _ = await ok(session, "get_top_downloaded_packages", {"limit": 3})
    check(len(s["rows"]) == 3 and s["rows"][0]["rank"] == 1, f"{label}: top {s}")
    s, _ = await ok(session, "get_packages_overview", {"packages": ["apeye", "pymysql", "no-such-package-xyz"]})
    check(len(s["items"]) == 2 and len(s["failures"]) == 1, f"{label}: overview {s}")
    check(s["failures"][0]["suggestion"], f"{label}: overview failure without suggestion {s}")
    # Dependency tools (the simulator's synthetic graphs `sg-...`).
    s, text = await ok(session, "resolve_dependencies", {"requirements": ["sg-web[speed]"], "python_version": "3.9"})
    names = {p["name"]: p["version"] for p in s["packages"]}
    check(s["status"] == "resolved" and names.get("sg-http") == "1.1.0", f"{label}: resolve {s}")
    check("VULNERABLE" in text, f"{label}: resolve text {text!r}")
    s, _ = await ok(session, "resolve_dependencies", {"requirements": ["sg-conflict"]})
    check(s["status"] == "no_solution" and "sg-shared" in s["conflict"], f"{label}: conflict {s}")
    s, text = await ok(session, "explain_dependency", {"package": "sg-markup", "requirements": ["sg-web[cli]"]})
    check(s["presence"] == "in_tree" and s["total_chains"] == 2, f"{label}: explain {s}")
    check("by 2 chains" in text, f"{label}: explain text {text!r}")
    s, _ = await ok(session, "explain_dependency", {"package": "sg-lattice-bottom", "requirements": ["sg-lattice"]})
    check(len(s["chains"]) == 50 and s["chains_left_out"] == 974, f"{label}: explain lattice {s['summary']}")
    s, _ = await ok(session, "get_package_vulnerabilities", {"package": "sg-markup", "version": "2.1.5"})
    check(s["active"] == 1 and s["fix"]["upgrade_to"] == "3.0.0", f"{label}: vulns {s}")
    await invalid_params(session, "resolve_dependencies", {"requirements": []}, "requirements")

    # Operations.
    s, _ = await ok(session, "health_check", {})
    check(s["ready"] is True and len(s["upstreams"]) == 7, f"{label}: health {s}")
    s, _ = await ok(session, "ready_check", {})
    check(s["ready"] is True, f"{label}: ready {s}")
    s, _ = await ok(session, "get_metrics", {})
    check(s["calls"] >= 1, f"{label}: metrics {s}")
    s, _ = await ok(session, "get_cache_stats", {})
    check(s["entries"] >= 1, f"{label}: cache {s}")
    s, _ = await ok(session, "refresh_cache", {"package": "numpy"})
    check(s["invalidated"] >= 1, f"{label}: refresh {s}")
    s, _ = await ok(session, "get_package_info", {"package": "numpy"})
    check(s["source"] == "live", f"{label}: after refresh_cache {s}")
    # Project tools: a file's content inline (the server allows no path by default).
    s, text = await ok(session, "scan_dependencies", {
        "filename": "requirements.txt",
        "content": "black==21.11b0\nnumpy>=1.20 ; python_version >= '3.9'\nno-such-package-xyz\nbad>=>1\n",
    })
    verdicts = {d["name"]: d["check"]["verdict"] for d in s["dependencies"]}
    check(verdicts == {"black": "yanked", "numpy": "ok", "no-such-package-xyz": "not_found"}, f"{label}: scan {s}")
    check(s["problems"][0]["line"] == 4, f"{label}: scan problems {s['problems']}")
    await invalid_params(session, "scan_dependencies", {"path": "/etc"}, "path")
    await invalid_params(session, "scan_dependencies", {"content": "x"}, "filename")
    s, text = await ok(session, "check_package", {"package": "numpyy"})
    check(s["verdict"] == "suspicious" and "`numpy`" in s["summary"], f"{label}: check {s}")
    s, _ = await ok(session, "check_package", {"package": "numpi"})
    check(s["verdict"] == "not_found" and s["summary"].startswith("not on PyPI"), f"{label}: check not found {s}")
    s, text = await ok(session, "audit_project", {
        "filename": "requirements.txt",
        "content": "sg-http>=1.0\nsg-certs\n",
        "python_version": "3.9",
    })
    check(s["verdict"] == "findings" and s["vulnerable"][0]["package"] == "sg-http", f"{label}: audit {s}")
    check(text.startswith("findings: "), f"{label}: audit text {text[:200]}")
    await invalid_params(session, "audit_project", {"path": "/etc"}, "path")
    await exercise_download(session, sim_url, label, download_dir)
    log(f"{label}: all {len(EXPECTED_TOOLS)} tools answered")

    # Errors.
    await invalid_params(session, "get_package_info", {"package": "not a name!"}, "package")
    await invalid_params(session, "get_package_info", {"package": "numpy", "version": "1.0-foo-bar!!"}, "version")
    await invalid_params(session, "get_download_statistics", {"package": "numpy", "period": "year"}, "period")
    s, text = await tool_error(session, "get_package_info", {"package": "no-such-package-xyz"})
    check(s.get("error") == "not_found", f"{label}: not found {s}")
    check('package "no-such-package-xyz" was not found on pypi-json' in text, f"{label}: not found text {text!r}")

    # A pypistats outage on data never fetched: an error result with a suggestion.
    add_fault(sim_url, {"route": "/api/packages/**", "status": 502})
    try:
        s, text = await tool_error(session, "get_download_trends", {"package": "pytz"})
        check(s.get("error") == "unavailable", f"{label}: outage {s}")
        check(bool(s.get("suggestion")), f"{label}: outage without suggestion {s}")
        check("retry_after_secs" in s, f"{label}: outage without retry_after_secs {s}")
        # Data already cached is still answered.
        s, _ = await ok(session, "get_download_trends", {"package": "coverage", "days": 7})
        check(s["source"] in ("cached", "stale"), f"{label}: cached trend during outage {s}")
    finally:
        clear_faults(sim_url)
    log(f"{label}: errors and the outage are reported as designed")


async def run_stdio(binary: str, sim_url: str) -> None:
    params = StdioServerParameters(
        command=binary,
        # Memory only: a store kept by an earlier run would answer `revalidated`.
        args=["serve", "--no-store", "--origin", sim_url],
        env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")},
    )
    async with stdio_client(params) as streams:
        read, write = streams[0], streams[1]
        async with ClientSession(read, write) as session:
            await exercise(session, sim_url, "stdio")


async def run_http(binary: str, sim_url: str) -> None:
    # This server may write downloads into a fresh directory (the stdio one may not:
    # it checks the refusal).
    download_dir = tempfile.mkdtemp(prefix="sentinel-e2e-downloads-")
    _, url = start_with_first_line(
        [binary, "serve", "--no-store", "--http", "127.0.0.1:0", "--origin", sim_url],
        "listening on",
        extra_env={"PYPI_SENTINEL_DOWNLOAD__ALLOWED_DIRS": download_dir},
    )
    check(url.startswith("http://127.0.0.1:") and url.endswith("/mcp"), f"http: bad URL {url!r}")
    base = url[: -len("/mcp")]

    status, headers, body = http("GET", base + "/healthz")
    check(status == 200 and json.loads(body)["ready"] is True, f"GET /healthz: {status} {body[:200]!r}")
    status, _, body = http("GET", base + "/readyz")
    check(status == 200, f"GET /readyz: {status} {body[:200]!r}")
    status, headers, body = http("GET", base + "/metrics")
    ctype = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
    check(status == 200 and ctype.startswith("text/plain"), f"GET /metrics: {status} {ctype!r}")
    status, _, _ = http("GET", base + "/readyz", headers={"Host": "evil.example"})
    check(status == 403, f"GET /readyz with a foreign Host: {status}, want 403")
    status, _, _ = http("GET", base + "/readyz", headers={"Origin": "http://evil.example"})
    check(status == 403, f"GET /readyz with a foreign Origin: {status}, want 403")
    log("http: /healthz /readyz /metrics and the Host/Origin checks are fine")

    try:
        async with _http_client(url) as streams:
            read, write = streams[0], streams[1]
            async with ClientSession(read, write) as session:
                await exercise(session, sim_url, f"http ({_HTTP_CLIENT_NAME})", download_dir)
    finally:
        shutil.rmtree(download_dir, ignore_errors=True)


async def main_async(binary: str) -> None:
    _, sim_url = start_with_first_line([binary, "sim"], "listening on")
    check(sim_url.startswith("http://"), f"sim: bad URL {sim_url!r}")
    log(f"simulator at {sim_url}")
    await run_stdio(binary, sim_url)
    await run_http(binary, sim_url)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default="target/debug/pypi-sentinel", help="the pypi-sentinel binary")
    args = ap.parse_args()
    binary = os.path.abspath(args.bin)
    if not os.access(binary, os.X_OK):
        print(f"SETUP: {binary} is not an executable (build it with cargo build)", file=sys.stderr)
        return 2

    def watchdog() -> None:
        print(f"FAIL: the e2e test did not finish within {TOTAL_TIMEOUT} s", file=sys.stderr, flush=True)
        kill_all()
        os._exit(1)

    timer = threading.Timer(TOTAL_TIMEOUT, watchdog)
    timer.daemon = True
    timer.start()
    try:
        asyncio.run(main_async(binary))
    except CheckFailed as e:
        print(f"FAIL: {e}", file=sys.stderr, flush=True)
        return 1
    except BaseException as e:  # noqa: BLE001 - report anything, including exception groups
        leaf = e
        while _EXC_GROUP is not None and isinstance(leaf, _EXC_GROUP) and leaf.exceptions:
            leaf = leaf.exceptions[0]
        if isinstance(leaf, CheckFailed):
            print(f"FAIL: {leaf}", file=sys.stderr, flush=True)
            return 1
        traceback.print_exception(e)
        print(f"FAIL: unexpected {type(leaf).__name__}: {leaf}", file=sys.stderr, flush=True)
        return 1
    finally:
        timer.cancel()
        kill_all()
    print("[e2e] OK: stdio and streamable HTTP sessions passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
