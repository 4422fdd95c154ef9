"""Download manifests for the images of an export that live elsewhere.

* ``idc-s5cmd.txt``: one ``cp s3://<bucket>/<series>/* images-remote/<source>/<series uid>/``
  per remote series (``images.path`` an ``s3://`` folder, as the IDC source writes it), for
  ``s5cmd --no-sign-request run idc-s5cmd.txt``;
* ``tcia.tcia``: the NBIA Data Retriever manifest (version 3.0) of the TCIA series, for
  re-downloading the selection from TCIA;
* ``midrc-gen3.json``: a Gen3 manifest (``[{"object_id": ...}]``) for
  ``gen3-client download-multiple --manifest``, when the images carry Gen3 object ids (an
  ``object_id`` column).

A path or id outside the expected characters is left out and reported, so nothing read from
a table is written into a command unquoted.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

__all__ = ["write_manifests"]

_S3 = re.compile(r"s3://[a-z0-9][a-z0-9.-]{1,62}/[A-Za-z0-9._/-]*")
_UID = re.compile(r"[0-9]+(\.[0-9]+)*")
_OBJECT_ID = re.compile(r"[A-Za-z0-9._-]+/[A-Za-z0-9._-]+|[A-Za-z0-9._-]+")
_NBIA_HEADER = (
    "downloadServerUrl=https://public.cancerimagingarchive.net/nbia-download/servlet/"
    "DownloadServlet\nincludeAnnotation=true\nnoOfrRetry=4\ndatabasedSOPInstanceUIDs=\n"
    "manifestVersion=3.0\nListOfSeriesToDownload=\n")


def _s5cmd_lines(images: pd.DataFrame, skipped: list[str]) -> list[str]:
    lines = []
    remote = images[images["path"].astype(str).str.startswith("s3://")]
    for row in remote.to_dict("records"):
        path, series = str(row["path"]), str(row.get("series_uid") or "")
        target = re.sub(r"[^A-Za-z0-9_-]", "_", str(row["source"]))
        name = series if _UID.fullmatch(series) else re.sub(
            r"[^A-Za-z0-9._-]", "_", str(row["image_uid"]).partition(":")[2])
        if not _S3.fullmatch(path) or ".." in path:
            skipped.append(f"{row['image_uid']}: its path is not a plain s3:// folder")
            continue
        source = path if path.endswith("*") else path.rstrip("/") + "/*"
        lines.append(f"cp {source} images-remote/{target}/{name}/")
    return lines


def _tcia_series(images: pd.DataFrame, skipped: list[str]) -> list[str]:
    series = images.loc[images["source"].astype(str) == "tcia", "series_uid"].dropna()
    out = []
    for uid in dict.fromkeys(series.astype(str)):
        if _UID.fullmatch(uid):
            out.append(uid)
        else:
            skipped.append(f"TCIA series {uid[:64]!r} is not a DICOM UID")
    return out


def _gen3_objects(images: pd.DataFrame, skipped: list[str]) -> list[dict[str, str]]:
    if "object_id" not in images.columns:
        return []
    out = []
    for uid, object_id in zip(images["image_uid"], images["object_id"], strict=True):
        if pd.isna(object_id):
            continue
        if _OBJECT_ID.fullmatch(str(object_id)):
            out.append({"object_id": str(object_id), "image_uid": str(uid)})
        else:
            skipped.append(f"{uid}: its Gen3 object id is not of the expected form")
    return out


def write_manifests(images: pd.DataFrame, folder: Path) -> dict[str, object]:
    """Write the manifests that have content into ``folder``; return what was written:
    file name -> number of entries, and ``skipped`` (reasons)."""
    skipped: list[str] = []
    written: dict[str, object] = {}
    s5cmd = _s5cmd_lines(images, skipped)
    series = _tcia_series(images, skipped)
    objects = _gen3_objects(images, skipped)
    if s5cmd or series or objects:
        folder.mkdir(parents=True, exist_ok=True)
    if s5cmd:
        (folder / "idc-s5cmd.txt").write_text("\n".join(s5cmd) + "\n", encoding="utf-8")
        written["idc-s5cmd.txt"] = len(s5cmd)
    if series:
        (folder / "tcia.tcia").write_text(_NBIA_HEADER + "\n".join(series) + "\n",
                                          encoding="utf-8")
        written["tcia.tcia"] = len(series)
    if objects:
        (folder / "midrc-gen3.json").write_text(json.dumps(objects, indent=1) + "\n",
                                                encoding="utf-8")
        written["midrc-gen3.json"] = len(objects)
    written["skipped"] = skipped
    return written
