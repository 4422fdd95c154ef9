"""The dashboard as a user waits for it: filter changes clicked in Chromium, timed in the page.

Starts ``covidimg dashboard`` (the Voila app, ``covidimg/app``) on the demo cohort (default) or
on a saved cohort folder (``--cohort DIR``; ``--large N`` first saves the demo tiled to about N
images with :func:`covidimg.demo.large.large_cohort`), opens it in headless Chromium driven by
Playwright, and measures:

* the first page: bytes over HTTP (as transferred, compressed) and over the kernel's
  websocket (every frame, both ways) until every figure is drawn, and the seconds to that;
* per scripted filter change (clicks on the filter's buttons, cycling through the tabs every
  ten changes): click -> every visible view updated, timed in the page (``performance.now``
  from just before the click until the dashboard's update counter has arrived and every
  visible figure has been drawn by plotly), the bytes over the websocket, and, beside it, the
  kernel's own time for the same update (``Dashboard.update_time``: the views' update);
* the browser's JavaScript heap (after a forced garbage collection, through the Chrome
  DevTools Protocol) after 5 and after all changes.

Targets (issue 20): median < 300 ms, p95 < 600 ms, < 200 kB per change, heap after 50 changes
within 1.2x of after 5, first page < 3 MB.

Run: ``python benchmarks/browser_interaction.py [--changes 50] [--cohort DIR | --large 100000]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import machine

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]
TABS = ("Timeline", "Labs", "Gallery", "Summary")
#: The scripted changes: filter buttons a user presses, in a loop (each press toggles).
CLICKS = (".covidimg-filter-sex-f", ".covidimg-filter-modality-ct",
          ".covidimg-filter-modality-ct", ".covidimg-filter-source-mhh",
          ".covidimg-filter-sex-f", ".covidimg-filter-source-mhh",
          ".covidimg-filter-modality-cr", ".covidimg-filter-source-nccid",
          ".covidimg-filter-modality-cr", ".covidimg-filter-source-nccid")

#: The filter's enabled value buttons on the page, as CSS selectors (a cohort that lacks a
#: value of :data:`CLICKS`, e.g. IDC's, is clicked through these instead).
BUTTONS = """() => Array.from(document.querySelectorAll('.covidimg-multichoice button'))
    .filter(b => !b.disabled).map(b => '.' + Array.from(b.classList)
    .find(c => c.startsWith('covidimg-filter-')))"""


def clicks_for(present: list[str]) -> list[str]:
    """:data:`CLICKS`, each one missing from the page replaced by a button that is there
    (the same sequence of presses and releases on whatever facets the cohort has)."""
    spare = [b for b in present if b not in CLICKS][:len(CLICKS)]
    mapping = {c: (c if c in present else spare[k % len(spare)] if spare else None)
               for k, c in enumerate(dict.fromkeys(CLICKS))}
    chosen = [mapping[c] for c in CLICKS if mapping[c] is not None]
    if not chosen:
        raise SystemExit("the page has no filter button to click")
    return chosen


#: True when every visible figure has drawn what the kernel last sent.
SETTLED = """(n) => {
    const s = document.querySelector('.covidimg-update-time span');
    if (n !== null && (!s || Number(s.dataset.update) < n)) return false;
    const plots = Array.from(document.querySelectorAll('.covidimg-dashboard .covidimg-plot'))
        .filter(p => p.offsetParent !== null).map(p => p.parentElement);
    return plots.every(el => el.dataset.pending === '0');
}"""
#: Click ``selector`` and resolve with the milliseconds until the dashboard has settled.
CLICK_AND_TIME = """async ([selector, settled]) => {
    const isSettled = eval(settled);
    const s = document.querySelector('.covidimg-update-time span');
    const next = (s ? Number(s.dataset.update) : 0) + 1;
    const start = performance.now();
    document.querySelector(selector).click();
    await new Promise((resolve) => {
        const poll = () => isSettled(next) ? resolve() : requestAnimationFrame(poll);
        requestAnimationFrame(poll);
    });
    await new Promise(requestAnimationFrame);     // the frame that shows it
    const span = document.querySelector('.covidimg-update-time span');
    return {ms: performance.now() - start, kernel_ms: Number(span.dataset.ms)};
}"""


def _start(args: argparse.Namespace, workdir: Path) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "COVIDIMG_CACHE": str(workdir / "cache")}
    command = [sys.executable, "-m", "covidimg.cli", "dashboard", "--no-browser"]
    if args.cohort:
        command.append(str(args.cohort))
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=open(
        workdir / "dashboard.log", "w"), text=True, env=env, start_new_session=True)
    assert process.stdout is not None
    for line in process.stdout:
        found = re.search(r"http://127\.0\.0\.1:\d+/\S*", line)
        if found:
            return process, found.group(0)
    raise SystemExit("covidimg dashboard stopped: " + (workdir / "dashboard.log").read_text())


def _large_cohort(n_images: int, workdir: Path) -> Path:
    from covidimg.demo.large import large_cohort

    folder = workdir / f"large-{n_images}"
    if not (folder / "manifest.json").is_file():
        large_cohort(n_images=n_images).save(folder)
    return folder


def _heap(cdp) -> float:  # type: ignore[no-untyped-def]
    cdp.send("HeapProfiler.collectGarbage")
    return cdp.send("Runtime.getHeapUsage")["usedSize"] / 1e6


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(args: argparse.Namespace) -> dict:
    from playwright.sync_api import sync_playwright

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="covidimg-browser-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    if args.large:
        args.cohort = _large_cohort(args.large, workdir)
    process, url = _start(args, workdir)
    ws_bytes = [0]
    http_bytes = [0]
    try:
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 950})
            cdp = page.context.new_cdp_session(page)
            cdp.send("Network.enable")
            cdp.on("Network.loadingFinished",
                   lambda e: http_bytes.__setitem__(0, http_bytes[0] + e["encodedDataLength"]))

            def frame(payload) -> None:  # type: ignore[no-untyped-def]
                ws_bytes[0] += len(payload.encode() if isinstance(payload, str) else payload)

            page.on("websocket", lambda ws: (ws.on("framereceived", frame),
                                             ws.on("framesent", frame)))
            start = time.perf_counter()
            page.goto(url, timeout=600_000)
            page.wait_for_selector(".covidimg-update-time", state="attached", timeout=600_000)
            # The first tab (the timeline) drawn; the others draw when first shown.
            page.wait_for_function(
                "() => document.querySelectorAll('.covidimg-dashboard .covidimg-timeline "
                ".covidimg-plot .main-svg').length >= 1", timeout=600_000)
            page.wait_for_function(SETTLED, arg=None, timeout=600_000)
            first = {"seconds": time.perf_counter() - start, "http_mb": http_bytes[0] / 1e6,
                     "ws_mb": ws_bytes[0] / 1e6}
            clicks = clicks_for(page.evaluate(BUTTONS))
            changes: list[dict] = []
            heap = {}
            for i in range(args.changes):
                if i % 10 == 0:
                    tab = TABS[(i // 10) % len(TABS)]
                    page.locator(".covidimg-dashboard .lm-TabBar-tab", has_text=tab).click()
                    page.wait_for_function(SETTLED, arg=None, timeout=60_000)
                before = ws_bytes[0]
                timing = page.evaluate(CLICK_AND_TIME, [clicks[i % len(clicks)], SETTLED])
                page.wait_for_timeout(args.pause_ms)    # a user's pause; late frames counted
                changes.append({**timing, "kb": (ws_bytes[0] - before) / 1e3,
                                "tab": TABS[(i // 10) % len(TABS)]})
                if i + 1 == 5:
                    heap["after_5_mb"] = _heap(cdp)
            heap[f"after_{args.changes}_mb"] = _heap(cdp)
            browser.close()
    finally:
        process.send_signal(signal.SIGTERM)  # SIGINT is ignored under nohup / &
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:   # a stuck stop must not lose the figures
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
    ms = [c["ms"] for c in changes]
    kernel = [c["kernel_ms"] for c in changes]
    kb = [c["kb"] for c in changes]
    return {"cohort": str(args.cohort or "demo (covidimg dashboard's default)"),
            "first_page": first, "changes": len(changes),
            "click_to_updated_ms": {"median": statistics.median(ms), "p95": _pct(ms, 0.95)},
            "kernel_ms": {"median": statistics.median(kernel), "p95": _pct(kernel, 0.95)},
            "ws_kb_per_change": {"median": statistics.median(kb), "max": max(kb)},
            "heap": heap, "per_change": changes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--cohort", type=Path, help="a saved cohort folder (default: the demo)")
    parser.add_argument("--large", type=int, default=0,
                        help="save the demo tiled to about this many images and show it")
    parser.add_argument("--pause-ms", type=int, default=300)
    parser.add_argument("--workdir", help="folder for the cache and logs (default: temporary)")
    parser.add_argument("--json", action="store_true", help="print every change as JSON")
    args = parser.parse_args()
    print(machine())
    result = run(args)
    first, t, k = result["first_page"], result["click_to_updated_ms"], result["kernel_ms"]
    heap = result["heap"]
    print(f"cohort: {result['cohort']}")
    print(f"first page: {first['http_mb'] + first['ws_mb']:.2f} MB (HTTP {first['http_mb']:.2f} "
          f"MB as transferred, websocket {first['ws_mb']:.2f} MB) in {first['seconds']:.1f} s")
    print(f"{result['changes']} changes: click -> every visible view updated median "
          f"{t['median']:.0f} ms, p95 {t['p95']:.0f} ms; kernel side median {k['median']:.0f} "
          f"ms, p95 {k['p95']:.0f} ms (ratio {t['median'] / k['median']:.1f}x)")
    print(f"websocket per change: median {result['ws_kb_per_change']['median']:.1f} kB, max "
          f"{result['ws_kb_per_change']['max']:.1f} kB")
    last = f"after_{result['changes']}_mb"
    print(f"heap: after 5 changes {heap['after_5_mb']:.1f} MB, after {result['changes']} "
          f"{heap[last]:.1f} MB ({heap[last] / heap['after_5_mb']:.2f}x)")
    if args.json:
        print(json.dumps(result["per_change"], indent=1))


if __name__ == "__main__":
    main()
