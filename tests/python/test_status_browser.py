#!/usr/bin/env python3
"""The status page in a real browser (Debian's chromium + chromedriver, Selenium).

    python3 tests/python/test_status_browser.py --bin target/debug/pypi-sentinel

Starts `<bin> sim` and `<bin> serve --http 127.0.0.1:0 --origin SIM`, opens /status in
headless Chromium, makes MCP calls over HTTP, injects a pypistats 502 outage in the
simulator and checks that within 5 s the page shows the pypistats breaker OPEN, the
provenance mix of the last minute moving to stale/estimated, and an incident row with
its cause; clears the fault and sees the breaker close again. Saves a screenshot of
each state under target/status-screenshots/. Then opens the page with JavaScript off
and checks the server's snapshot is there. Plain Python, no pytest: exit 0 on success,
1 on a failed check, 2 on a setup problem. Every wait is bounded; the processes it
started are ended at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

from harness import CheckFailed, Mcp, check, http, run_checked, start

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
except ImportError as e:  # pragma: no cover - setup problem
    print(f"SETUP: selenium is needed (pip install selenium): {e}", file=sys.stderr)
    sys.exit(2)

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SHOTS = os.path.join("target", "status-screenshots")
# Packages the simulator serves (tests/fixtures and the sim's synthetic ones).
PACKAGES = ["numpy", "django", "requests", "pytest", "flask", "coverage", "pytz", "attrs",
            "six", "urllib3", "idna", "certifi"]


def log(msg: str) -> None:
    print(f"[status-browser] {msg}", flush=True)


def browser(js: bool, profile: str):
    o = webdriver.ChromeOptions()
    o.binary_location = CHROMIUM
    for a in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1400,1800"]:
        o.add_argument(a)
    if not js:
        o.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=o)


def wait_for(what: str, cond, timeout: float = 5.0):
    """Polls `cond` until it returns a truthy value, up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = cond()
            if last:
                return last
        except Exception as e:  # the page may be mid-swap
            last = e
        time.sleep(0.2)
    raise CheckFailed(f"not within {timeout} s: {what} (last: {last!r})")


def breaker_of(d, upstream: str) -> str | None:
    # One evaluation in the page, so a re-render between finding the cell and reading
    # it cannot leave a stale element (the page swaps its tables every 1.5 s).
    sel = f'tr[data-upstream="{upstream}"] [data-breaker]'
    try:
        return d.execute_script(
            "const e = document.querySelector(arguments[0]); return e && e.getAttribute('data-breaker');", sel)
    except WebDriverException:  # scripts refused (the page without JavaScript): it never re-renders
        return d.find_element(By.CSS_SELECTOR, sel).get_attribute("data-breaker")


def last_minute_labels(d, tool: str) -> set[str]:
    sel = f'tr[data-tool="{tool}"] td.last-minute [data-label]'
    return set(d.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0]), e => e.getAttribute('data-label'));", sel))


def shot(d, name: str) -> None:
    os.makedirs(SHOTS, exist_ok=True)
    path = os.path.join(SHOTS, name)
    d.save_screenshot(path)
    log(f"screenshot {path}")


def run(binary: str) -> None:
    sim_url = start([binary, "sim"], "listening on")[1]
    env = {
        "RUST_LOG": "warn",
        # Download documents go stale after a second, so an outage shows stale answers.
        "PYPI_SENTINEL_CACHE__DOWNLOADS_TTL_MS": "1000",
        "PYPI_SENTINEL_CACHE__DOWNLOADS_MIN_TTL_MS": "1000",
        "PYPI_SENTINEL_CACHE__FAILURE_TTL_MS": "0",
        "PYPI_SENTINEL_UPSTREAMS__PYPISTATS__RETRY__MAX_RETRIES": "0",
        "PYPI_SENTINEL_UPSTREAMS__PYPISTATS__BREAKER__OPEN_BASE_MS": "2000",
        "PYPI_SENTINEL_UPSTREAMS__PYPISTATS__BREAKER__OPEN_MAX_MS": "2000",
    }
    url = start([binary, "serve", "--no-store", "--http", "127.0.0.1:0", "--origin", sim_url],
                "listening on", env)[1]
    base = url[: -len("/mcp")]
    mcp = Mcp(url, "status-browser")
    log(f"simulator {sim_url}, server {base}")

    # Healthy traffic: downloads (live, then cached) and trends (the overall series, a
    # basis for estimates later).
    for p in PACKAGES[:6]:
        # Not every name has download data in the simulator: a not-found is an answer too.
        mcp.call("get_download_statistics", {"package": p})
        mcp.call("get_download_trends", {"package": p, "days": 7})
        mcp.call("get_package_info", {"package": p})

    profile = tempfile.mkdtemp(prefix="sentinel-chromium-")
    d = browser(js=True, profile=profile)
    try:
        d.set_page_load_timeout(30)
        d.get(base + "/status")
        check("pypi-sentinel status" in d.title, f"title {d.title!r}")
        wait_for("live updates running", lambda: "Live: updated" in d.find_element(By.ID, "live").text)
        check(breaker_of(d, "pypistats") == "closed", "pypistats closed while healthy")
        # Keep every text the live region announces (each lasts one tick).
        d.execute_script(
            "window.__announced = [];"
            "new MutationObserver(function () {"
            "  window.__announced.push(document.getElementById('live').textContent);"
            "}).observe(document.getElementById('live'), {childList: true, characterData: true, subtree: true});")
        wait_for("live answers in the mix",
                 lambda: "live" in last_minute_labels(d, "get_download_statistics"))
        shot(d, "1-healthy.png")

        # The outage.
        status, _, body = http("POST", sim_url + "/_sim/faults",
                               {"route": "/api/packages/**", "status": 502})
        check(status == 200, f"fault: {status} {body!r}")
        time.sleep(1.2)  # the cached download documents go stale (TTL 1 s)
        for p in PACKAGES:
            mcp.call("get_download_statistics", {"package": p})
        t0 = time.monotonic()
        wait_for("the pypistats breaker OPEN on the page", lambda: breaker_of(d, "pypistats") == "open")
        row = d.find_element(By.CSS_SELECTOR, 'tr[data-upstream="pypistats"]').text
        check("OPEN" in row, f"the state in words: {row!r}")
        announced = d.execute_script("return window.__announced;") or []
        check(any("pypistats breaker open" in a for a in announced),
              f"the change announced to screen readers: {announced[-3:]!r}")
        wait_for("stale or estimated answers in the last minute",
                 lambda: last_minute_labels(d, "get_download_statistics") & {"stale", "estimated"})
        inc = wait_for("an incident row with the cause", lambda: [
            r.text for r in d.find_elements(By.CSS_SELECTOR, 'tr[data-kind="breaker"]')
            if "pypistats" in r.text and "tripped" in r.text])
        check("http_502" in inc[0], f"the cause names the 502: {inc[0]!r}")
        log(f"outage shown within {time.monotonic() - t0:.1f} s: {inc[0]!r}")
        shot(d, "2-outage.png")

        # Recovery: the fault clears, the open period (2 s) ends, a probe succeeds.
        status, _, _ = http("DELETE", sim_url + "/_sim/faults")
        check(status in (200, 204), f"clear faults: {status}")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            mcp.call("get_download_statistics", {"package": "numpy"})
            if breaker_of(d, "pypistats") == "closed":
                break
            time.sleep(0.5)
        wait_for("pypistats closed again", lambda: breaker_of(d, "pypistats") == "closed")
        wait_for("the recovery among the incidents", lambda: [
            r for r in d.find_elements(By.CSS_SELECTOR, 'tr[data-kind="breaker"]')
            if "pypistats" in r.text and "probe succeeded" in r.text])
        shot(d, "3-recovered.png")
    finally:
        d.quit()
        shutil.rmtree(profile, ignore_errors=True)

    # What Prometheus scrapes after the incident, for scripts/check_ops_metrics.py.
    status, _, body = http("GET", base + "/metrics")
    check(status == 200, f"/metrics: {status}")
    os.makedirs("target", exist_ok=True)
    with open(os.path.join("target", "status-metrics.txt"), "wb") as f:
        f.write(body)

    # JavaScript off: the server-rendered snapshot is the page.
    profile = tempfile.mkdtemp(prefix="sentinel-chromium-nojs-")
    d = browser(js=False, profile=profile)
    try:
        d.get(base + "/status")
        live = d.find_element(By.ID, "live").text
        check("Static snapshot" in live, f"no script ran: {live!r}")
        check(breaker_of(d, "pypistats") in ("closed", "half_open", "open"), "the breaker shown")
        check(d.find_elements(By.CSS_SELECTOR, 'tr[data-tool="get_download_statistics"]'),
              "the tools table rendered by the server")
        check(d.find_elements(By.CSS_SELECTOR, 'tr[data-kind="breaker"]'), "incidents rendered by the server")
        shot(d, "4-no-javascript.png")
    finally:
        d.quit()
        shutil.rmtree(profile, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default="target/debug/pypi-sentinel")
    args = ap.parse_args()
    for path in (os.path.abspath(args.bin), CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            print(f"SETUP: {path} is missing", file=sys.stderr)
            return 2
    return run_checked(lambda: run(os.path.abspath(args.bin)))


if __name__ == "__main__":
    sys.exit(main())
