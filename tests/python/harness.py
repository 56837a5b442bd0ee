"""What the plain-Python end-to-end checks share: a check that raises, the processes
they start (ended at the end), a small HTTP helper and a minimal MCP client over
streamable HTTP. No pytest; each script exits 0, 1 (a failed check) or 2 (setup)."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import urllib.error
import urllib.request

PROCS: list[subprocess.Popen] = []


class CheckFailed(Exception):
    pass


def check(cond: bool, msg: str) -> None:
    if not cond:
        raise CheckFailed(msg)


def start(cmd: list[str], prefix: str, env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """Starts `cmd` and waits (60 s at most) for its first line, which must begin with
    `prefix`; returns the process and the rest of that line."""
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True, env={**os.environ, **(env or {})})
    PROCS.append(p)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(l) for l in p.stdout] + [lines.put(None)], daemon=True).start()
    try:
        first = lines.get(timeout=60)
    except queue.Empty:
        raise CheckFailed(f"{cmd[:2]}: no output within 60 s") from None
    check(first is not None and first.startswith(prefix), f"{cmd[:2]}: first line {first!r}")
    return p, first[len(prefix):].strip()


def stop_all() -> None:
    """Ends every process started here: SIGTERM, then SIGKILL after 5 s."""
    for p in PROCS:
        if p.poll() is None:
            p.terminate()
    for p in PROCS:
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()


def run_checked(run) -> int:
    """Runs one check (`run()`, raising `CheckFailed`), stops every process it started
    either way and prints the verdict line CI reads; the exit code (0 passed, 1 failed)."""
    try:
        run()
    except CheckFailed as e:
        print(f"FAIL: {e}", file=sys.stderr)
        print("0 passed, 1 failed")
        return 1
    finally:
        stop_all()
    print("1 passed, 0 failed")
    return 0


def http(method: str, url: str, body: object | None = None, headers: dict | None = None):
    """(status, headers with lower-case names, body bytes); a JSON body unless bytes."""
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


class Mcp:
    """A minimal MCP client over streamable HTTP (JSON-RPC; replies as JSON or SSE)."""

    def __init__(self, url: str, client: str = "e2e"):
        self.url, self.session, self.next_id = url, None, 1
        self.rpc("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                "clientInfo": {"name": client, "version": "1"}})
        self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def post(self, msg: dict):
        headers = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-06-18"}
        if self.session:
            headers["Mcp-Session-Id"] = self.session
        status, h, body = http("POST", self.url, msg, headers)
        self.session = h.get("mcp-session-id", self.session)
        return status, body.decode(errors="replace")

    def rpc(self, method: str, params: dict) -> dict:
        msg = {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}
        self.next_id += 1
        status, body = self.post(msg)
        check(status == 200, f"{method}: HTTP {status} {body[:300]}")
        for line in body.splitlines():
            if line.startswith("data:"):
                try:
                    return json.loads(line[5:].strip())
                except json.JSONDecodeError:
                    continue
        return json.loads(body)

    def call(self, tool: str, args: dict) -> dict:
        return self.rpc("tools/call", {"name": tool, "arguments": args}).get("result", {})
