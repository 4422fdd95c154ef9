"""The index's process-pool workers exit when the indexing process is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

psutil = pytest.importorskip("psutil")

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")

INDEXER = """
    import sys
    import numpy as np
    from pathlib import Path
    from covidimg.demo.large import write_dicom_tree
    from covidimg.sources._engine.index import index_dicom
    from covidimg.sources._engine.ledger import Ledger
    root = Path(sys.argv[1])
    write_dicom_tree(root, n_radiographs=600, n_ct_series=0, slices=1,
                     rng=np.random.default_rng(3))
    paths = sorted(str(p) for p in root.rglob("*.dcm"))
    print("ready", flush=True)
    while True:  # a pool per call: killed at some moment while one is working
        index_dicom(paths, Ledger("tcia"), executor=None, cache=False)
"""


@pytest.mark.slow
def test_pool_workers_exit_when_the_indexer_is_killed(tmp_path: Path) -> None:
    parent = subprocess.Popen([sys.executable, "-c", textwrap.dedent(INDEXER),
                               str(tmp_path / "tree")], stdout=subprocess.PIPE, text=True)
    workers: list = []
    try:
        assert parent.stdout is not None and parent.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not workers:
            workers = [c for c in psutil.Process(parent.pid).children(recursive=True)
                       if c.is_running()]
            time.sleep(0.05)
        assert workers, "the indexer never started a process pool"
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        _, alive = psutil.wait_procs(workers, timeout=10)
        assert not alive, f"{len(alive)} pool workers outlived the killed indexer"
    finally:
        if parent.poll() is None:
            parent.kill()
        for worker in workers:
            if worker.is_running():
                worker.kill()
