"""How long a user waits for the dashboard: in a notebook, and from ``covidimg dashboard``.

Two figures, each against a floor measured in the same run, the demo cohort cached first
(``COVIDIMG_CACHE`` in a work folder: the second start of the day):

1. ``Dashboard(ci.load_demo())`` in a fresh process: the widget imports plus building every
   view (``cohort`` loaded before the clock starts; its load is printed apart). Floor: a
   fresh process importing ipywidgets, anywidget and plotly's JSON encoder, what any widget
   drawing plotly figures needs.
2. ``covidimg dashboard --no-browser`` to a usable page: from starting the command to the
   page in headless Chromium showing the filter's match count and every visible figure
   drawn. Floor: Voila (the same ``python -m voila``) serving a one-cell notebook that shows
   one ipywidgets label, from start to the label on the page.

Targets (issue 19): ``Dashboard(...)`` < 0.8 s; ``covidimg dashboard`` usable < 5 s with
the demo cached (issue 20 asks < 10 s).

Run: ``python benchmarks/dashboard_start.py [--repeats 5]``
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from _common import machine, median
from browser_interaction import CHROMIUM, CHROMIUM_ARGS, SETTLED

BUILD = r"""
import json, sys, time
import covidimg as ci
start = time.perf_counter(); cohort = ci.load_demo(); loaded = time.perf_counter() - start
start = time.perf_counter()
from covidimg.widgets import Dashboard
dashboard = Dashboard(cohort)
print(json.dumps({"load_demo": loaded, "dashboard": time.perf_counter() - start}))
"""
FLOOR = r"""
import json, time
start = time.perf_counter()
import anywidget, ipywidgets
from plotly.io.json import to_json_plotly
print(json.dumps({"imports": time.perf_counter() - start}))
"""
HELLO = {"cells": [{"cell_type": "code", "execution_count": None, "id": "hello",
                    "metadata": {}, "outputs": [],
                    "source": "import ipywidgets as w\n"
                              "w.Label('ready', _dom_classes=['bench-ready'])"}],
         "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}},
         "nbformat": 4, "nbformat_minor": 5}
USABLE = ("() => document.querySelector('.covidimg-dashboard .covidimg-match-count')"
          " && document.querySelectorAll('.covidimg-dashboard .covidimg-plot .main-svg')"
          ".length >= 1")


def fresh(code: str, env: dict[str, str]) -> dict:
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _listening(url: str, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=5).close()
            return
        except urllib.error.HTTPError:
            return                                  # answering, if not with 200
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def page_ready(command: list[str], env: dict[str, str], log: Path, wait: str,
               url: str | None = None) -> float:
    """Seconds from starting ``command`` until ``wait`` (a JS predicate) holds in Chromium.

    ``url``: where the server will answer; else read from the command's output (``covidimg
    dashboard`` prints it)."""
    from playwright.sync_api import sync_playwright

    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=open(log, "w"),
                               text=True, env=env, start_new_session=True)
    try:
        assert process.stdout is not None
        if url is None:
            for line in process.stdout:
                found = re.search(r"http://127\.0\.0\.1:\d+/\S*", line)
                if found:
                    url = found.group(0)
                    break
        else:
            _listening(url)
        if url is None:
            raise SystemExit(f"{command[:4]} stopped: " + log.read_text())
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 950})
            page.goto(url, timeout=300_000)
            page.wait_for_function(wait, timeout=300_000)
            if "covidimg" in wait:
                page.wait_for_function(SETTLED, arg=None, timeout=300_000)
            seconds = time.perf_counter() - start
            browser.close()
        return seconds
    finally:
        process.send_signal(signal.SIGTERM)  # SIGINT is ignored under nohup / &
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def voila_command(notebook: Path, port: int) -> list[str]:
    return [sys.executable, "-m", "voila", str(notebook), "--no-browser", f"--port={port}",
            "--Voila.ip=127.0.0.1"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    from covidimg.app.server import free_port

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="covidimg-start-bench-"))
    env = {**os.environ, "COVIDIMG_CACHE": str(workdir / "cache")}
    print(f"{machine()}; work folder {workdir}")
    fresh(BUILD, env)                                   # builds and caches the demo
    notebook = workdir / "hello.ipynb"
    notebook.write_text(json.dumps(HELLO))
    built, floor, app, voila = [], [], [], []
    for _ in range(args.repeats):
        built.append(fresh(BUILD, env))
        floor.append(fresh(FLOOR, env)["imports"])
        app.append(page_ready([sys.executable, "-m", "covidimg.cli", "dashboard",
                               "--no-browser"], env, workdir / "app.log", USABLE))
        port = free_port()
        voila.append(page_ready(voila_command(notebook, port), env, workdir / "voila.log",
                                "() => document.querySelector('.bench-ready')",
                                url=f"http://127.0.0.1:{port}/"))
    dash = median([b["dashboard"] for b in built])
    print(f"Dashboard(cohort), fresh process     median {dash:6.2f} s  (ci.load_demo() "
          f"before it, cached: {median([b['load_demo'] for b in built]):.2f} s)")
    print(f"  floor: import ipywidgets+anywidget+plotly JSON  {median(floor):6.2f} s   "
          f"ratio {dash / median(floor):.1f}x; target < 0.8 s: "
          f"{'met' if dash < 0.8 else 'missed'}")
    print(f"covidimg dashboard -> usable page      median {median(app):6.2f} s  "
          f"(runs: {', '.join(f'{s:.1f}' for s in app)})")
    print(f"  floor: voila, one-label notebook     median {median(voila):6.2f} s   "
          f"ratio {median(app) / median(voila):.1f}x; target < 5 s: "
          f"{'met' if median(app) < 5 else 'missed'}")


if __name__ == "__main__":
    main()
