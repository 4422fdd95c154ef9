"""One ``executor=`` for indexing, thumbnails and export: every executor gives the same data.

The demo's TCIA and MIDRC trees (real DICOM files) are loaded, thumbnailed and exported on
this process (``executor=False``: the reference), the default local process pool, a thread
pool, a process pool, and a Dask ``LocalCluster`` of two worker processes (its
``get_executor()`` and the ``Client`` itself); each result is compared with the reference and
with the demo's truth.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import covidimg as ci
from covidimg.demo import demo_truth, generate_demo
from covidimg.errors import TaskError
from covidimg.export import export_cohort
from covidimg.imaging import thumbnail, thumbnails
from covidimg.sources._engine import index as index_module

#: The Dask cluster's start and its workers' first imports take ~20 s: those runs are slow.
EXECUTORS = ["default pool", "threads", "processes",
             pytest.param("dask executor", marks=pytest.mark.slow),
             pytest.param("dask client", marks=pytest.mark.slow)]
SOURCES = ("tcia", "midrc")
SIZE = 48


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("demo")
    generate_demo(folder, sources=list(SOURCES), n_patients=8, seed=3)
    roots = {s: folder / s for s in SOURCES}
    cohort = ci.load(roots, progress=False, executor=False, index_cache=False)
    truth = demo_truth(folder)
    return {"roots": roots, "cohort": cohort,
            "truth_uids": sorted(uid for s in SOURCES for uid in truth[s].images["image_uid"]),
            "folder": tmp_path_factory.mktemp("out")}


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=40)
    with distributed.Client(cluster) as client:
        yield client
    cluster.close()


@pytest.fixture(params=EXECUTORS)
def where(request: pytest.FixtureRequest,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """``executor=`` and ``n_jobs=`` for one kind of executor, and what to check after."""
    name = request.param
    if name == "default pool":
        # the default pool, started even for the demo's few files and images
        monkeypatch.setattr(index_module, "POOL_MIN_FILES", 1)
        yield {"executor": None, "n_jobs": 2, "name": name}
    elif name in ("threads", "processes"):
        kind = cf.ThreadPoolExecutor if name == "threads" else cf.ProcessPoolExecutor
        with kind(max_workers=2) as pool:
            yield {"executor": pool, "n_jobs": None, "name": name}
    else:
        client = request.getfixturevalue("dask_client")
        distributed = pytest.importorskip("distributed")
        executor = client.get_executor() if name == "dask executor" else client
        with distributed.get_task_stream(client) as stream:
            yield {"executor": executor, "n_jobs": None, "name": name, "stream": stream}
        assert stream.data, "nothing ran on the Dask cluster"


def _tables(cohort: ci.Cohort) -> dict[str, pd.DataFrame]:
    tables = cohort.tables()
    tables["provenance"] = tables["provenance"].drop(columns="loaded_at")
    return tables


def test_load_indexes_on_every_executor(demo: dict[str, Any], where: dict[str, Any]) -> None:
    cohort = ci.load(demo["roots"], progress=False, executor=where["executor"],
                     index_cache=False)
    assert sorted(cohort.images["image_uid"]) == demo["truth_uids"]
    expected = _tables(demo["cohort"])
    for name, frame in _tables(cohort).items():
        pd.testing.assert_frame_equal(frame, expected[name], obj=name)


@pytest.fixture(scope="module")
def one_by_one(demo: dict[str, Any]) -> list[bytes]:
    """Each image's thumbnail made on its own, with no batch and no executor."""
    return [thumbnail(row, size=SIZE, cache=False)
            for row in demo["cohort"].images.to_dict("records")]


def test_thumbnails_on_every_executor(demo: dict[str, Any], where: dict[str, Any],
                                      one_by_one: list[bytes], tmp_path: Path) -> None:
    images = demo["cohort"].images
    batch = thumbnails(images, size=SIZE, cache_dir=tmp_path / "cache",
                       executor=where["executor"], n_jobs=where["n_jobs"], progress=False)
    assert batch.findings.empty and all(batch.ok)
    assert len(batch) == len(demo["truth_uids"])
    assert batch.images == one_by_one  # in input order, whatever order they finished in
    assert all(p is not None and p.read_bytes() == png   # the workers wrote the cache
               for p, png in zip(batch.paths, batch.images, strict=True))


@pytest.fixture(scope="module")
def reference_exports(demo: dict[str, Any]) -> dict[str, dict[str, bytes]]:
    out = {}
    for image_format in ("png", "nifti"):
        dest = export_cohort(demo["cohort"], demo["folder"] / f"reference-{image_format}",
                             images=image_format, size=SIZE, executor=False, progress=False)
        out[image_format] = _files(dest)
    return out


def _files(dest: Path) -> dict[str, bytes]:
    return {str(p.relative_to(dest)): p.read_bytes() for p in sorted(dest.rglob("*"))
            if p.is_file() and p.name not in ("README.md", "export.json")}


@pytest.mark.parametrize("image_format", ["png", "nifti"])
def test_export_on_every_executor(demo: dict[str, Any], where: dict[str, Any],
                                  reference_exports: dict[str, dict[str, bytes]],
                                  image_format: str, tmp_path: Path) -> None:
    dest = export_cohort(demo["cohort"], tmp_path / "out", images=image_format, size=SIZE,
                         executor=where["executor"], n_jobs=where["n_jobs"], progress=False)
    written = _files(dest)
    images = [name for name in written if name.startswith("images/")]
    assert len(images) == len(demo["truth_uids"])
    assert not (dest / "problems.csv").exists()
    assert written == reference_exports[image_format]   # same bytes, same tables


# -- errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["this process", "threads", "processes"])
def test_a_failed_task_names_its_file(kind: str, tmp_path: Path) -> None:
    from covidimg._parallel import run_tasks

    missing = str(tmp_path / "no-such-file.dcm")
    pool = {"this process": None, "threads": cf.ThreadPoolExecutor(2),
            "processes": cf.ProcessPoolExecutor(2)}[kind]
    try:
        with pytest.raises(TaskError, match="no-such-file.dcm") as info:
            list(run_tasks(os.stat, [str(tmp_path), missing], executor=pool or False,
                           name=str))
    finally:
        if pool is not None:
            pool.shutdown()
    assert info.value.task == missing and "FileNotFoundError" in info.value.reason
    assert isinstance(info.value.__cause__, FileNotFoundError)
    # errors="return": the others still come back, the failure as its TaskError
    results = dict(run_tasks(os.stat, [str(tmp_path), missing], executor=False, name=str,
                             errors="return"))
    assert isinstance(results[0], os.stat_result) and isinstance(results[1], TaskError)


def test_a_dead_worker_is_a_task_error() -> None:
    from covidimg._parallel import run_tasks

    with cf.ProcessPoolExecutor(1) as pool, \
            pytest.raises(TaskError, match="exit 3 failed on ProcessPoolExecutor") as info:
        list(run_tasks(os._exit, [3], executor=pool, name=lambda code: f"exit {code}"))
    assert "BrokenProcessPool" in info.value.reason


def test_a_dead_worker_costs_a_thumbnail_not_the_batch(tmp_path: Path) -> None:
    from pydicom.data import get_testdata_file

    path = get_testdata_file("CT_small.dcm")
    with cf.ProcessPoolExecutor(1) as pool:
        pool.submit(os._exit, 1)   # the pool is broken before the thumbnails are sent
        batch = thumbnails([path, path], size=32, cache=False, executor=pool, progress=False)
    assert batch.ok == [False, False]
    assert batch.findings["detail"].str.contains("worker failed: BrokenProcessPool").all()


def test_wrong_executor_and_n_jobs_are_named(demo: dict[str, Any]) -> None:
    images = demo["cohort"].images.head(2)
    with pytest.raises(TypeError, match="executor='dask'.*concurrent.futures.Executor"):
        thumbnails(images, size=32, cache=False, executor="dask", progress=False)
    with pytest.raises(ValueError, match="n_jobs=0"):
        thumbnails(images, size=32, cache=False, n_jobs=0, progress=False)
