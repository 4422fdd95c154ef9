"""Indexing runs unchanged on a Dask distributed cluster (two worker processes)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

distributed = pytest.importorskip("distributed")

import covidimg as ci  # noqa: E402
from covidimg.demo import generate_demo  # noqa: E402
from covidimg.demo.large import write_dicom_tree  # noqa: E402
from covidimg.sources._engine.index import images_from_index, index_dicom  # noqa: E402
from covidimg.sources._engine.ledger import Ledger  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client():  # type: ignore[no-untyped-def]
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=40)
    with distributed.Client(cluster) as dask_client:
        yield dask_client
    cluster.close()


def test_dask_cluster_gives_the_same_table(client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    write_dicom_tree(tmp_path / "tree", n_radiographs=30, n_ct_series=2, slices=22,
                     rng=np.random.default_rng(21))
    (tmp_path / "tree" / "broken.dcm").write_bytes(b"not DICOM")
    paths = sorted(str(p) for p in (tmp_path / "tree").rglob("*.dcm"))
    local = index_dicom(paths, Ledger("tcia"), executor=False, cache=False)
    ledger = Ledger("tcia")
    remote = index_dicom(paths, ledger, executor=client.get_executor(), cache=False,
                         progress=True)
    assert remote.headers == local.headers
    assert remote.state == local.state
    assert remote.inferred == local.inferred and remote.counts["inferred"] == 2 * 19
    pd.testing.assert_frame_equal(images_from_index(remote, "tcia"),
                                  images_from_index(local, "tcia"))
    assert ledger.findings_frame()["kind"].tolist() == ["unreadable_file"]
    # the work really ran in the workers' processes
    worker_pids = set(client.run(os.getpid).values())
    assert len(worker_pids) == 2 and os.getpid() not in worker_pids


def test_load_with_a_dask_executor_equals_a_local_load(client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    generate_demo(tmp_path, sources=["tcia", "midrc"], n_patients=8)
    roots = {"tcia": tmp_path / "tcia", "midrc": tmp_path / "midrc"}
    local = ci.load(roots, progress=False, executor=False, index_cache=False)
    remote = ci.load(roots, progress=False, executor=client.get_executor(),
                     index_cache=False)
    for name, frame in local.tables().items():
        if name == "provenance":  # when each was loaded differs, nothing else
            frame = frame.drop(columns="loaded_at")
            pd.testing.assert_frame_equal(remote.provenance.drop(columns="loaded_at"), frame)
            continue
        pd.testing.assert_frame_equal(remote.tables()[name], frame, obj=name)
