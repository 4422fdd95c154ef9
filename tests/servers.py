"""Helpers for tests that start real servers (covidimg dashboard, JupyterLab) and Chromium."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
#: The browser's own downloads and background connections fail on a closed network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def accepts(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def require_chromium() -> None:
    """Skip without Chromium on a developer machine; in CI (``$CI`` set) fail instead."""
    if CHROMIUM.is_file():
        return
    message = f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)"
    if os.environ.get("CI"):
        pytest.fail(message + "; .ci/run installs it")
    pytest.skip(message)


@contextlib.contextmanager
def chromium() -> Iterator[object]:
    """A headless Chromium browser driven by Playwright (sync API)."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                         headless=True)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Running:
    """A started command: its process, the URL it printed and every line it printed so far."""

    process: subprocess.Popen[str]
    url: str
    lines: list[str] = field(default_factory=list)
    log: Path | None = None


def _reader(stream, sink: queue.Queue[str | None]) -> None:  # type: ignore[no-untyped-def]
    for line in stream:
        sink.put(line)
    sink.put(None)


@contextlib.contextmanager
def started(command: Sequence[str], *, env: dict[str, str], log: Path,
            url_pattern: str = r"http://127\.0\.0\.1:\d+/\S*", timeout: float = 300,
            cwd: str | os.PathLike[str] | None = None,
            listens_on: int | None = None) -> Iterator[Running]:
    """Start ``command``, wait until it prints a URL, stop it with Ctrl-C (SIGINT) at the end.

    With ``listens_on``, wait instead until something accepts connections on that port (for
    servers that log their URL on standard error). Standard error goes to ``log``.
    """
    with open(log, "w") as err:
        process = subprocess.Popen(list(command), stdout=subprocess.PIPE, stderr=err, text=True,
                                   env=env, cwd=cwd, start_new_session=True)
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_reader, args=(process.stdout, lines), daemon=True).start()
    running = Running(process, "", log=log)
    deadline = time.monotonic() + timeout
    try:
        while listens_on is not None and not accepts(listens_on):
            if process.poll() is not None:
                pytest.fail(f"{command[:4]} exited with {process.returncode}; stderr:\n"
                            + log.read_text()[-3000:])
            if time.monotonic() > deadline:
                pytest.fail(f"{command[:4]} did not listen on {listens_on} within "
                            f"{timeout:.0f} s; stderr:\n" + log.read_text()[-3000:])
            time.sleep(0.3)
        if listens_on is not None:
            running.url = f"http://127.0.0.1:{listens_on}/"
        while not running.url:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"{command[:4]} printed no URL within {timeout:.0f} s; stderr:\n"
                            + log.read_text()[-3000:])
            if line is None:
                process.wait(30)
                pytest.fail(f"{command[:4]} exited with {process.returncode} before printing "
                            "a URL; stdout:\n" + "".join(running.lines)
                            + "\nstderr:\n" + log.read_text()[-3000:])
            running.lines.append(line)
            found = re.search(url_pattern, line)
            if found:
                running.url = found.group(0)
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(120)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(30)
        while True:
            try:
                line = lines.get(timeout=5)
            except queue.Empty:
                break
            if line is None:
                break
            running.lines.append(line)


def dashboard_command(*args: str, port: int) -> list[str]:
    return [sys.executable, "-m", "covidimg.cli", "dashboard", "--no-browser", "--port",
            str(port), *args]
