#!/usr/bin/env python3
"""The fleet example as it ships (ops/fleet/nginx.conf): three replicas, one Redis, nginx.

Starts the simulator, a redis-server, three `pypi-sentinel serve --http` replicas
sharing it (`--redis-url`) and nginx with ops/fleet/nginx.conf (only the replica
addresses and the listen port are replaced by loopback ones), then talks MCP through
the balancer, which sends each request to the next replica in turn:

- one session, begun on one replica, answers on all three (the session store in Redis);
- a document the three replicas are asked for in turn is fetched from the upstream
  once (the shared copy in Redis), and the answers after the first say `cached`;
- with one replica killed, calls through the balancer keep being answered.

Offline: everything listens on 127.0.0.1. Exit 0 when every check holds.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from harness import PROCS, CheckFailed, Mcp, check, http, run_checked, start

HERE = os.path.dirname(os.path.abspath(__file__))
CONF = os.path.join(HERE, "..", "..", "ops", "fleet", "nginx.conf")
def log(msg: str) -> None:
    print(f"[fleet-nginx] {msg}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, what: str) -> None:
    for _ in range(200):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise CheckFailed(f"{what} did not listen on {port}")


def call(mcp: Mcp, tool: str, args: dict) -> dict:
    reply = mcp.rpc("tools/call", {"name": tool, "arguments": args})
    check("result" in reply, f"{tool}: {reply}")
    return reply["result"]


def sim_hits(sim: str, route: str) -> int:
    _, _, body = http("GET", sim + "/_sim/stats")
    return json.loads(body)["routes"].get(route, 0)


def nginx_conf(ports: list[int], listen: int, prefix: str) -> str:
    text = open(CONF).read()
    for i, port in enumerate(ports, start=1):
        text, n = re.subn(rf"server sentinel-{i}:8765", f"server 127.0.0.1:{port}", text)
        check(n == 1, f"nginx.conf: no line for sentinel-{i}")
    text, n = re.subn(r"listen 8080;", f"listen 127.0.0.1:{listen};", text)
    check(n == 1, "nginx.conf: no `listen 8080;`")
    # Everything nginx writes goes under the temporary prefix.
    head = f"pid {prefix}/nginx.pid;\nerror_log {prefix}/error.log warn;\n"
    temps = "".join(f"    {k}_temp_path {prefix}/{k};\n" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return head + text.replace("http {\n", "http {\n" + temps, 1)


def run(binary: str, nginx: str, redis: str) -> None:
    tmp = tempfile.mkdtemp(prefix="sentinel-fleet-")
    try:
        _, sim = start([binary, "sim"], "listening on ")
        sim = sim.rstrip("/")
        redis_port = free_port()
        PROCS.append(subprocess.Popen([redis, "--bind", "127.0.0.1", "--port", str(redis_port), "--save", "",
                                       "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_port(redis_port, "redis-server")
        env = {"RUST_LOG": "warn"}
        replicas = []
        for i in range(3):
            p, url = start([binary, "serve", "--no-store", "--http", "127.0.0.1:0", "--origin", sim,
                            "--redis-url", f"redis://127.0.0.1:{redis_port}"], "listening on ", env)
            replicas.append((p, int(re.search(r":(\d+)/", url).group(1))))
        lb = free_port()
        conf = os.path.join(tmp, "nginx.conf")
        with open(conf, "w") as f:
            f.write(nginx_conf([port for _, port in replicas], lb, tmp))
        t = subprocess.run([nginx, "-t", "-c", conf, "-p", tmp], capture_output=True, text=True)
        check(t.returncode == 0, f"nginx -t: {t.stderr}")
        PROCS.append(subprocess.Popen([nginx, "-c", conf, "-p", tmp, "-g", "daemon off;"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_port(lb, "nginx")
        log(f"simulator {sim}, redis :{redis_port}, replicas {[port for _, port in replicas]}, balancer :{lb}")

        # One session, round-robin over three replicas: begun on one, restored on the others.
        mcp = Mcp(f"http://127.0.0.1:{lb}/mcp", "fleet-nginx")
        route = "/pypi/numpy/json"
        before = sim_hits(sim, route)
        sources = []
        for _ in range(6):
            r = call(mcp, "get_package_info", {"package": "numpy"})
            check(not r.get("isError"), f"get_package_info: {r}")
            sources.append(r["structuredContent"]["source"])
        fetched = sim_hits(sim, route) - before
        log(f"6 calls through the balancer, one session: sources {sources}, {fetched} upstream fetch(es)")
        check(fetched == 1, f"the three replicas fetched {fetched} times, not once: {sources}")
        check(sources[0] == "live" and all(s == "cached" for s in sources[1:]), f"sources {sources}")

        # A replica dies: the balancer passes its calls to the others, the session lives on.
        victim, _ = replicas[1]
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        for _ in range(4):
            r = call(mcp, "get_package_versions", {"package": "numpy", "limit": 3})
            check(not r.get("isError"), f"get_package_versions after a replica died: {r}")
        log("one replica killed: 4 more calls answered through the balancer")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default="target/debug/pypi-sentinel")
    ap.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    ap.add_argument("--redis-server", default=shutil.which("redis-server") or "/usr/bin/redis-server")
    args = ap.parse_args()
    for path in (os.path.abspath(args.bin), args.nginx, args.redis_server):
        if not os.access(path, os.X_OK):
            print(f"SETUP: {path} is missing", file=sys.stderr)
            return 2
    return run_checked(lambda: run(os.path.abspath(args.bin), args.nginx, args.redis_server))


if __name__ == "__main__":
    sys.exit(main())
