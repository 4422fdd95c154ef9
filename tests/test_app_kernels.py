"""The dashboard app frees its kernels: reloads and abandoned pages leave one kernel.

Every page load starts a kernel. The server is the app's own (:class:`VoilaServer`: Voila
started through ``covidimg.app._voila`` with the xsrf hook and kernel culling), with short
culling times; the notebook is a one-widget page, since what is under test is the kernels'
lifecycle, not the dashboard (whose page loads take far longer). Kernels are counted as the
Voila process's ``ipykernel`` children (Voila serves no ``/api/kernels`` list).

1. Ten loads of one tab (a first load and nine reloads): each reload's page asks Voila to shut
   its kernel down (which used to fail with "403: _xsrf missing", voila#1458, leaking every
   kernel), so never more than two kernels exist and one remains.
2. Pages that never connect (fetched over HTTP, like a tab closed before it loaded) and a tab
   closed without its unload handler (a crashed browser): their kernels are culled once idle
   past the timeout, while the kernel of a tab still open stays.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from pathlib import Path

import pytest
from servers import chromium

from covidimg.app.server import VoilaServer, free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: Short culling times for the test (the app's defaults are minutes).
IDLE, INTERVAL = 20, 2
#: Longer than the 10 loads' few-second lifetimes, so culling cannot be what frees them.
assert IDLE > 10

NOTEBOOK = {
    "cells": [{"cell_type": "code", "execution_count": None, "id": "tiny", "metadata": {},
               "outputs": [], "source": ["import ipywidgets\n",
                                         "ipywidgets.IntSlider(description='tiny')"]}],
    "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                "name": "python3"}, "language_info": {"name": "python"}},
    "nbformat": 4, "nbformat_minor": 5,
}


def _kernels(parent: int) -> list[int]:
    """Process ids of the ipykernel processes started by process ``parent``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            command = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:  # gone meanwhile
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent and b"ipykernel" in command:
            found.append(int(entry))
    return found


def _wait_for(count, parent: int, seconds: float) -> list[int]:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while True:
        kernels = _kernels(parent)
        if count(len(kernels)) or time.monotonic() > deadline:
            return kernels
        time.sleep(0.5)


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="counts kernels in /proc")
def test_reloads_and_abandoned_pages_leave_one_kernel(tmp_path: Path) -> None:
    notebook = tmp_path / "tiny.ipynb"
    notebook.write_text(json.dumps(NOTEBOOK))
    private = {name: str(tmp_path / name.lower()) for name in (
        "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR")}
    server = VoilaServer(free_port(), notebook=notebook, env=private,
                         cull_idle_timeout=IDLE, cull_interval=INTERVAL)
    with server, chromium() as browser:
        assert server.process is not None
        voila = server.process.pid
        page = browser.new_page()
        counts = []
        for load in range(10):
            if load == 0:
                page.goto(server.url, timeout=120_000)
            else:
                page.reload(timeout=120_000)
            page.wait_for_selector(".widget-slider", timeout=120_000)
            counts.append(len(_kernels(voila)))
        # The page's own shutdown request frees the previous page's kernel on each reload.
        assert max(counts) <= 2, counts
        assert len(_wait_for(lambda n: n == 1, voila, 10)) == 1, counts

        # Three pages that never connect: their kernels run the notebook, then sit idle.
        for _ in range(3):
            with urllib.request.urlopen(server.url, timeout=120) as response:
                assert response.status == 200
        assert len(_kernels(voila)) == 4
        left = _wait_for(lambda n: n <= 1, voila, IDLE + 3 * INTERVAL + 15)
        assert len(left) == 1, f"{len(left)} kernels {IDLE + 3 * INTERVAL + 15} s later"
        # The one left is the open tab's: a kernel with a page connected is not culled.
        time.sleep(2 * INTERVAL)
        assert len(_kernels(voila)) == 1
        # Closed without its unload handler (no shutdown request, as when a browser crashes):
        # culled once idle.
        page.close(run_before_unload=False)
        assert _wait_for(lambda n: n == 0, voila, IDLE + 3 * INTERVAL + 15) == []
