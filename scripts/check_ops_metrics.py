#!/usr/bin/env python3
"""Every metric the alert rules and the Grafana dashboard use is one the server exports.

    python3 scripts/check_ops_metrics.py target/status-metrics.txt

The scrape (a /metrics body saved by tests/python/test_status_browser.py after its
outage and recovery) must contain each name, histograms by their `_bucket`/`_sum`/
`_count` series. A name may be missing from the scrape only when it counts an event
the browser run does not cause (an actor restart, an eviction, a deferral, a store
error) and the source declares it with `metrics::counter!/gauge!/histogram!`; those are
listed. Exit 0 when all are found, 1 otherwise.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
USERS = [ROOT / "ops" / "prometheus" / "alerts.yml", ROOT / "ops" / "grafana" / "pypi-sentinel.json"]
# Counters that only appear once their event happened.
EVENT_ONLY = {"sentinel_actor_restarts_total", "sentinel_cache_evictions_total", "sentinel_deferred_total"}


def main() -> int:
    scrape = pathlib.Path(sys.argv[1]).read_text()
    exported = set()
    for line in scrape.splitlines():
        m = re.match(r"^(sentinel_[a-z0-9_]+)", line)
        if m:
            name = m.group(1)
            exported.add(name)
            exported.add(re.sub(r"_(bucket|sum|count)$", "", name))
    declared = set()
    for src in ROOT.glob("**/src/**/*.rs"):
        if "target" in src.parts:
            continue
        declared.update(re.findall(r'(?:counter|gauge|histogram)!\(\s*"(sentinel_[a-z0-9_]+)"', src.read_text()))
    used = set()
    for f in USERS:
        used.update(re.findall(r"\b(sentinel_[a-z0-9_]+)", f.read_text()))
    missing, event_only = [], []
    for name in sorted(used):
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        if name in exported or base in exported:
            continue
        if base in EVENT_ONLY and base in declared:
            event_only.append(base)
            continue
        missing.append(name)
    print(f"ops metrics: {len(used)} names used, {len(used) - len(missing) - len(event_only)} in the scrape, "
          f"{len(event_only)} event-only and declared in the source ({', '.join(event_only) or 'none'})")
    if missing:
        print("NOT exported by the server: " + ", ".join(missing))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
