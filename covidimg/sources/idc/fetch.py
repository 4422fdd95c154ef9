"""The pixels of IDC series, fetched from IDC's public bucket on demand.

A series lives in the bucket as ``s3://<bucket>/<crdc_series_uuid>/<crdc_instance_uuid>.dcm``
(one object per instance; ``images.path`` of an IDC row names the series prefix). The bucket
is public: requests are unsigned, so no credentials are needed or read. The endpoint is
configurable (argument > ``$COVIDIMG_IDC_ENDPOINT`` > :data:`DEFAULT_ENDPOINT`), so the same
code reaches the real bucket, a mirror, or a local S3 server in the tests.

Files land in ``<dest>/<bucket>/<crdc_series_uuid>/<instance>.dcm`` (``dest``: the argument,
else the ``idc`` folder of covidimg's cache, :func:`covidimg.paths.cache_dir`). The download is

* resumable: a file already complete (its size the object's) is not fetched again; a partial
  file (``<name>.part``, left by an interrupted run) is continued with a ranged request;
* atomic per file: bytes go to ``<name>.part`` and the file is renamed into place once
  complete and checked;
* checked: each file's size against the object's, and its MD5 against the object's ETag where
  the ETag is one (a single-part upload); a mismatch discards the file and fetches it again,
  once;
* bounded: object names must be plain file names (no folders, no ``..``), at most
  :data:`MAX_OBJECTS` per series and :data:`MAX_OBJECT_BYTES` per object.
"""

from __future__ import annotations

import concurrent.futures
import functools
import hashlib
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from covidimg.errors import DatasetUnavailableError
from covidimg.paths import cache_dir

__all__ = [
    "DEFAULT_ENDPOINT",
    "ENDPOINT_ENV",
    "MAX_OBJECTS",
    "MAX_OBJECT_BYTES",
    "apply_paths",
    "download",
    "download_folder",
    "is_remote",
    "remote_rows",
]

#: IDC's buckets on AWS (idc-index's ``aws_endpoint_url``).
DEFAULT_ENDPOINT = "https://s3.amazonaws.com"
#: Environment variable naming another S3 endpoint (a mirror, a local server).
ENDPOINT_ENV = "COVIDIMG_IDC_ENDPOINT"
#: Most objects one series may hold (IDC's largest COVID-19 series has 2,464 instances).
MAX_OBJECTS = 20_000
#: Largest object fetched (a DICOM instance of a radiograph or CT slice is far smaller).
MAX_OBJECT_BYTES = 2 * 2**30
_CHUNK = 1 << 20
_SERIES_URL = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/"
                         r"(?P<prefix>[A-Za-z0-9][A-Za-z0-9._-]{0,127})/$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")
_RADIOGRAPHS = ("CR", "DX")


def is_remote(path: object) -> bool:
    """Whether an ``images.path`` names a series in a bucket (not downloaded yet).

    Examples
    --------
    >>> from covidimg.sources.idc import is_remote
    >>> is_remote("s3://idc-open-data/0a1b/"), is_remote("/data/x.dcm")
    (True, False)
    """
    return isinstance(path, str) and path.startswith("s3://")


@dataclass(frozen=True)
class _Object:
    bucket: str
    key: str
    size: int
    etag: str
    target: Path


def _client(endpoint_url: str | None) -> Any:
    try:
        import boto3
        from botocore import UNSIGNED
        from botocore.config import Config
    except ImportError as exc:
        raise DatasetUnavailableError(
            "downloading IDC series needs boto3; install it with `pip install "
            "'covidimg[idc]'`") from exc
    endpoint = endpoint_url or os.environ.get(ENDPOINT_ENV) or DEFAULT_ENDPOINT
    config = Config(signature_version=UNSIGNED, retries={"max_attempts": 3, "mode": "standard"},
                    connect_timeout=10, read_timeout=60, max_pool_connections=16)
    return boto3.session.Session().client("s3", endpoint_url=endpoint, region_name="us-east-1",
                                          config=config)


def _parse(url: str) -> tuple[str, str]:
    match = _SERIES_URL.match(url)
    if match is None:
        raise ValueError(f"images.path={url!r} is not an IDC series "
                         "(s3://<bucket>/<crdc_series_uuid>/)")
    return match.group("bucket"), match.group("prefix")


def _list(client: Any, url: str, folder: Path) -> list[_Object]:
    """The objects of one series, each with its local target (names checked, count bounded)."""
    bucket, prefix = _parse(url)
    objects: list[_Object] = []
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/")
    for page in pages:
        for item in page.get("Contents", []):
            name = item["Key"][len(prefix) + 1:]
            if not _NAME.match(name) or name.endswith(".part"):
                raise ValueError(f"{url}: object {item['Key']!r} is not a plain file name; "
                                 "not downloaded")
            if int(item["Size"]) > MAX_OBJECT_BYTES:
                raise ValueError(f"{url}: object {name} holds {int(item['Size']):,} bytes, above "
                                 f"the limit {MAX_OBJECT_BYTES:,} (download.MAX_OBJECT_BYTES)")
            objects.append(_Object(bucket, item["Key"], int(item["Size"]),
                                   str(item.get("ETag", "")).strip('"'), folder / name))
            if len(objects) > MAX_OBJECTS:
                raise ValueError(f"{url}: more than {MAX_OBJECTS:,} objects "
                                 "(download.MAX_OBJECTS); not downloaded")
    if not objects:
        raise ValueError(f"{url}: the bucket holds no object under this series")
    return sorted(objects, key=lambda o: o.key)


def _md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _checkable(etag: str) -> bool:
    """Whether an ETag is an MD5 of the content (single-part uploads; multipart ETags end
    ``-<parts>``)."""
    return bool(re.fullmatch(r"[0-9a-f]{32}", etag))


class _Progress:
    def __init__(self, total: int, enabled: bool, n_series: int) -> None:
        from tqdm.auto import tqdm

        self._bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                         desc=f"IDC: {n_series} series", disable=not enabled)
        self._lock = threading.Lock()

    def add(self, n: int) -> None:
        with self._lock:
            self._bar.update(n)

    def close(self) -> None:
        self._bar.close()


def _fetch(client: Any, obj: _Object, progress: _Progress) -> None:
    """One object into its target: skipped when complete, continued from a ``.part``."""
    target = obj.target
    if target.is_file() and target.stat().st_size == obj.size:
        progress.add(obj.size)
        return
    part = target.with_name(target.name + ".part")
    for attempt in range(2):
        have = part.stat().st_size if part.is_file() else 0
        if have > obj.size:
            part.unlink()
            have = 0
        progress.add(have)
        if have < obj.size:
            extra = {"Range": f"bytes={have}-"} if have else {}
            body = client.get_object(Bucket=obj.bucket, Key=obj.key, **extra)["Body"]
            flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0)
            fd = os.open(part, flags, 0o600)
            with os.fdopen(fd, "ab") as handle:
                written = have
                for block in iter(functools.partial(body.read, _CHUNK), b""):
                    written += len(block)
                    if written > obj.size:
                        break
                    handle.write(block)
                    progress.add(len(block))
        size = part.stat().st_size
        problem = None
        if size != obj.size:
            problem = f"{size:,} bytes received, the object holds {obj.size:,}"
        elif _checkable(obj.etag) and _md5_of(part) != obj.etag:
            problem = "its MD5 differs from the bucket's (ETag)"
        if problem is None:
            os.replace(part, target)
            return
        part.unlink()
        progress.add(-size)
        if attempt:
            raise ValueError(f"s3://{obj.bucket}/{obj.key}: {problem}, twice; not kept")


def download_folder(dest: str | os.PathLike[str] | None = None) -> Path:
    """The folder downloads go to (``dest``, else the cache's ``idc`` folder), created."""
    folder = Path(dest) if dest is not None else cache_dir("idc")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def download(images: pd.DataFrame, dest: str | os.PathLike[str] | None = None, *,
             endpoint_url: str | None = None, progress: bool = True,
             max_workers: int = 8) -> dict[str, str]:
    """Fetch the IDC series of ``images`` rows whose ``path`` is remote; return the new paths.

    Parameters
    ----------
    images
        ``images`` rows (a cohort's, or a filtered cohort's); rows whose ``path`` is not an
        ``s3://`` series (local files, other sources) are left alone.
    dest
        Folder to download into (default: the ``idc`` folder of covidimg's cache,
        ``$COVIDIMG_CACHE/idc``).
    endpoint_url
        S3 endpoint (default ``$COVIDIMG_IDC_ENDPOINT``, else :data:`DEFAULT_ENDPOINT`).
    progress
        Show a progress bar (bytes).
    max_workers
        Objects fetched at once.

    Returns
    -------
    dict
        ``image_uid`` -> the local path for the row: the first instance's file for a CR / DX
        series (one radiograph), the series folder for CT / MR.

    Raises
    ------
    DatasetUnavailableError
        When some series could not be fetched; every other series is complete on disk, and
        calling again resumes (complete files are not fetched again). The message names the
        series that failed (up to five) and why.

    Examples
    --------
    >>> import covidimg as ci
    >>> cohort = ci.load({"idc": ["midrc_ricord_1c"]})                        # doctest: +SKIP
    >>> small = cohort.filter(modality="CR").images.head(10)                  # doctest: +SKIP
    >>> paths = ci.sources.idc.download(small)                                # doctest: +SKIP
    """
    remote = images[images["path"].map(is_remote)]
    folder = download_folder(dest)
    client = _client(endpoint_url)
    failures: dict[str, str] = {}
    listed: dict[str, list[_Object]] = {}
    for uid, url in zip(remote["image_uid"].astype(str), remote["path"].astype(str),
                        strict=True):
        try:
            bucket, prefix = _parse(url)
            listed[uid] = _list(client, url, folder / bucket / prefix)
        except Exception as exc:  # a listing failure is the series' failure, not the run's
            failures[url] = _reason(exc)
            if type(exc).__name__ == "EndpointConnectionError":
                break  # the endpoint cannot be reached: the other series would fail alike
    total = sum(o.size for objects in listed.values() for o in objects)
    bar = _Progress(total, progress, len(listed))
    failed_uids: set[str] = set()
    try:
        jobs = {}
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, max_workers)) as pool:
            for uid, objects in listed.items():
                objects[0].target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                for obj in objects:
                    jobs[pool.submit(_fetch, client, obj, bar)] = (uid, obj)
            for job in concurrent.futures.as_completed(jobs):
                uid, obj = jobs[job]
                try:
                    job.result()
                except Exception as exc:
                    failed_uids.add(uid)
                    failures.setdefault(f"s3://{obj.bucket}/{obj.key}", _reason(exc))
    finally:
        bar.close()
    if failures:
        shown = "; ".join(f"{url}: {why}" for url, why in list(failures.items())[:5])
        raise DatasetUnavailableError(
            f"{len(failures)} IDC object(s) or series could not be downloaded ({shown}). The "
            f"others are complete in {folder}; call the download again to resume, or check "
            f"the endpoint ({endpoint_url or os.environ.get(ENDPOINT_ENV) or DEFAULT_ENDPOINT})"
            " and the network.")
    modality = dict(zip(remote["image_uid"].astype(str), remote["modality"].astype(str),
                        strict=True))
    return {uid: os.fspath(objects[0].target if modality.get(uid) in _RADIOGRAPHS
                           else objects[0].target.parent)
            for uid, objects in listed.items() if uid not in failed_uids}


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 300 else text[:300] + "..."


def remote_rows(images: pd.DataFrame) -> pd.Series:
    """Boolean mask of ``images`` rows whose ``path`` is a remote series."""
    return images["path"].map(is_remote).astype(bool)


def apply_paths(images: pd.DataFrame, paths: Mapping[str, str]) -> pd.DataFrame:
    """``images`` with the downloaded rows' ``path`` replaced (a new frame)."""
    out = images.copy()
    new = out["image_uid"].astype(str).map(paths)
    out["path"] = new.where(new.notna(), out["path"]).astype(out["path"].dtype)
    return out

