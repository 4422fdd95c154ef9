"""Deep nesting and credentials in a URL: a finding or a LoadError naming the file or URL
(credentials redacted), never an uncaught exception.

* an NCCID DICOM-JSON nested far deeper than any header (local and ``s3://``) used to raise
  ``RecursionError`` out of ``ci.load``; it is now ``rejected`` with an ``unreadable_file``
  finding, checked against :data:`~covidimg.sources._engine.dicom_json.MAX_JSON_DEPTH` before it is
  parsed;
* a CRDW tree nested 1,200 folders deep used to raise ``RecursionError`` from ``os.walk``; every
  walk of the loaders is iterative, so the tree loads and every file is accounted for;
* ``s3://key:secret@bucket`` used to raise a raw botocore error quoting the secret; it is now a
  LoadError (SourceDetectionError when the source is detected) that names the URL with
  ``***`` in place of the credentials.
"""

from __future__ import annotations

import os
import traceback
from pathlib import Path

import numpy as np
import pytest

import covidimg as ci
from covidimg.demo import generate_demo
from covidimg.demo import nccid as nccid_demo
from covidimg.errors import LoadError, SourceDetectionError
from covidimg.sources._engine.dicom_json import MAX_JSON_DEPTH

from .harness import assert_files_accounted

SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"


def _deep_json(levels: int = 50_000) -> bytes:
    return b'{"00080018": {"vr": "UI", "Value": ' + b"[" * levels + b"]" * levels + b"}}"


def _nccid_tree(root: Path) -> Path:
    nccid_demo.write(root, rng=np.random.default_rng(3), n_patients=4)
    return root


def _first_metadata(root: Path) -> Path:
    return sorted(p for p in root.rglob("*.json") if "metadata" in str(p.parent))[0]


def test_deeply_nested_dicom_json_is_a_finding(tmp_path: Path) -> None:
    root = _nccid_tree(tmp_path / "nccid")
    meta = _first_metadata(root)
    meta.write_bytes(_deep_json())
    cohort = ci.load({"nccid": root}, progress=False)
    row = cohort.files[cohort.files["path"] == str(meta)]
    assert row["status"].tolist() == ["rejected"]
    hit = cohort.findings[(cohort.findings["path"] == str(meta))
                          & (cohort.findings["kind"] == "unreadable_file")]
    assert len(hit) == 1 and f"more than {MAX_JSON_DEPTH} levels" in hit["detail"].iloc[0]
    assert_files_accounted(cohort, root)


def test_json_nested_just_below_the_bound_still_reads() -> None:
    from covidimg.sources._engine.dicom_json import load_json

    ok = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    assert load_json(ok, "x.json") is not None


def test_a_crdw_tree_nested_1200_folders_deep_loads(tmp_path: Path) -> None:
    generate_demo(tmp_path / "demo", sources=["crdw"], n_patients=4)
    root = tmp_path / "demo" / "crdw"
    try:
        _check_deep_crdw_tree(root)
    finally:  # pytest's clean-up of old temporary folders recurses too: leave no deep tree
        _remove_iteratively(root / "d")


def _check_deep_crdw_tree(root: Path) -> None:
    deep = root
    for _ in range(1200):  # os.makedirs and os.walk recurse: make it a level at a time
        deep = deep / "d"
        deep.mkdir()
    (deep / "notes.txt").write_text("far down\n")
    progress = deep / "CXR-UPDATE-20201101-IN-PROGRESS"  # an in-progress batch at the bottom
    progress.mkdir()
    (progress / "exam.zip").write_bytes(b"PK\x05\x06" + bytes(18))
    cohort = ci.load({"crdw": root}, progress=False)
    assert len(cohort.images) > 0
    files = cohort.files.set_index("path")
    assert files.loc[str(progress / "exam.zip"), "status"] == "ignored"
    assert str(deep / "notes.txt") in files.index
    assert sorted(cohort.files["path"]) == _files_below(root)


def _remove_iteratively(top: Path) -> None:
    folders, stack = [], [str(top)]
    while stack:
        folder = stack.pop()
        folders.append(folder)
        with os.scandir(folder) as listing:
            for entry in listing:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    os.unlink(entry.path)
    for folder in reversed(folders):
        os.rmdir(folder)


def _files_below(root: Path) -> list[str]:
    """Every file under ``root`` (iteratively: os.walk recurses)."""
    out, stack = [], [str(root)]
    while stack:
        with os.scandir(stack.pop()) as listing:
            for entry in listing:
                (stack if entry.is_dir() else out).append(entry.path)
    return sorted(out)


# ---------------------------------------------------------------------- s3:// (moto, local)


def _upload(root: Path, endpoint: str, bucket: str = "covidimg-deep-json") -> str:
    # moto keeps its buckets for the whole process, across servers: a bucket of its own
    # keeps other tests' buckets as they expect them
    import boto3
    import s3fs

    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint})
    fs.pipe({f"{bucket}/warehouse/{p.relative_to(root).as_posix()}": p.read_bytes()
             for p in sorted(root.rglob("*")) if p.is_file()})
    s3fs.S3FileSystem.clear_instance_cache()
    return f"s3://{bucket}/warehouse"


def test_deeply_nested_dicom_json_on_s3_is_a_finding(s3_endpoint: str, tmp_path: Path) -> None:
    root = _nccid_tree(tmp_path / "nccid")
    meta = _first_metadata(root)
    meta.write_bytes(_deep_json())
    url = _upload(root, s3_endpoint)
    cohort = ci.load({"nccid": url}, progress=False)
    label = f"{url}/{meta.relative_to(root).as_posix()}"
    assert cohort.files.set_index("path").loc[label, "status"] == "rejected"
    hit = cohort.findings[cohort.findings["path"] == label]
    assert hit["kind"].tolist() == ["unreadable_file"]


@pytest.mark.parametrize("how", ["named", "detected"])
def test_credentials_in_an_s3_url_are_refused_and_never_echoed(s3_endpoint: str, how: str
                                                               ) -> None:
    url = f"s3://AKIAIOSFODNN7EXAMPLE:{SECRET}@nccid-test/warehouse"
    with pytest.raises((LoadError, SourceDetectionError)) as info:
        ci.load({"nccid": url} if how == "named" else url, progress=False)
    text = "".join(traceback.format_exception(info.value))
    assert SECRET not in text and "AKIAIOSFODNN7EXAMPLE" not in text
    assert "s3://***@nccid-test/warehouse" in str(info.value)
    assert "credentials in the URL" in str(info.value)


def test_listing_errors_of_a_remote_root_are_load_errors(s3_endpoint: str) -> None:
    with pytest.raises(LoadError, match="s3://no-such-bucket/warehouse"):
        ci.load({"nccid": "s3://no-such-bucket/warehouse"}, progress=False)
