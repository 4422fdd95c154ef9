"""The other local layouts of TCIA's COVID-19 collections, and which collection an image is in.

Besides the NBIA Data Retriever tree, the same series arrive as

* an idc-index download (``IDCClient.download_from_selection``'s default ``dirTemplate``)::

      covid_19_ar/<PatientID>/<StudyInstanceUID>/<Modality>_<SeriesInstanceUID>/<uuid>.dcm

  whose top folder is IDC's collection id (``covid_19_ar`` for ``COVID-19-AR``);
* a tcia_utils download (``downloadSeries``)::

      tciaDownload/<SeriesInstanceUID>/1-01.dcm

  which names no collection or patient;
* a flat folder of DICOM files.

Where no folder names the collection, the image's SeriesInstanceUID (else its
StudyInstanceUID) is looked up in IDC's series index (``idc-index-data``, offline); an image
found nowhere gets a ``collection_not_found`` finding, and its patient no default COVID-19
status or site.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from covidimg.sources._engine.ledger import Ledger

__all__ = ["IDC_IDS", "detect_layout", "resolve_collections"]

_UID_FOLDER = re.compile(r"^[0-9]+(\.[0-9]+){3,}$")
_SERIES_FOLDER = re.compile(r"^[A-Z]{2,8}_[0-9]+(\.[0-9]+){3,}$")
_MAX_LISTED = 200


def _idc_ids() -> dict[str, str]:
    from covidimg.sources.tcia import COLLECTIONS

    return {re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_"): name for name in COLLECTIONS}


#: IDC's collection id -> TCIA's collection name (``covid_19_ar`` -> ``COVID-19-AR``).
IDC_IDS: dict[str, str] = {}


def _ids() -> dict[str, str]:
    if not IDC_IDS:
        IDC_IDS.update(_idc_ids())
    return IDC_IDS


def _listing(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as entries:
            return [e for _, e in zip(range(_MAX_LISTED), entries, strict=False)]
    except OSError:
        return []


def _is_dicom_name(name: str) -> bool:
    return name.lower().endswith((".dcm", ".dicom"))


def detect_layout(root: str | os.PathLike[str]) -> bool:
    """Whether ``root`` holds one of the layouts above (cheap: names, and for a flat folder
    one DICOM header looked up in IDC's index of the COVID-19 collections)."""
    base = Path(root)
    if not base.is_dir() or "://" in os.fspath(root):
        return False
    ids = _ids()
    if base.name in ids or base.name == "tciaDownload":
        return True
    entries = _listing(base)
    folders = [e for e in entries if e.is_dir(follow_symlinks=False)]
    if any(e.name in ids or e.name == "tciaDownload" for e in folders):
        return True
    if folders and all(_UID_FOLDER.match(e.name) for e in folders):
        return any(_is_dicom_name(e.name) for f in folders[:3] for e in _listing(Path(f.path)))
    if not folders:
        dicoms = sorted(e.path for e in entries if _is_dicom_name(e.name))
        return bool(dicoms) and _known_to_idc(dicoms[0])
    return False


def _known_to_idc(path: str) -> bool:
    """Whether the DICOM file's series or study is in IDC's index of the COVID-19 collections."""
    try:
        from covidimg.sources._engine.dicom import read_header
        from covidimg.sources.idc.index import COVID_COLLECTIONS, read_series

        header = read_header(path)
        table = read_series(COVID_COLLECTIONS, ["SeriesInstanceUID", "StudyInstanceUID"])
    except Exception:  # detection never fails: an unreadable file or no index is "no"
        return False
    return header.series_uid in set(table["SeriesInstanceUID"].to_pylist()) or \
        header.study_uid in set(table["StudyInstanceUID"].to_pylist())


def _from_folders(parts: Sequence[str]) -> str | None:
    """The collection a path's folders name by IDC id (the last such folder), else None."""
    ids = _ids()
    named = [ids[p] for p in parts[:-1] if p in ids]
    return named[-1] if named else None


def resolve_collections(table: pd.DataFrame, guessed: Sequence[str | None],
                        parts: Sequence[Sequence[str]], ledger: Ledger) -> list[str | None]:
    """The collection of each image row of ``table`` (``series_uid``, ``study_uid``,
    ``image_uid``, ``patient_uid``, ``path``).

    ``guessed`` is what the NBIA tree's folders say (a TCIA collection name, or the folder at
    the NBIA depth); ``parts`` the path parts of each image's first file from the root's own
    name down. Folders named by IDC id come next, then the index; rows still without one get a
    ``collection_not_found`` finding.
    """
    from covidimg.sources.tcia import COLLECTIONS

    out: list[str | None] = []
    for guess, path_parts in zip(guessed, parts, strict=True):
        if guess in COLLECTIONS:
            out.append(guess)
        else:
            out.append(_from_folders(path_parts) or guess)
    unknown = [i for i, c in enumerate(out) if c is None]
    if not unknown:
        return out
    rows = table.iloc[unknown]
    found = _look_up(rows, ledger)
    # the columns as lists once: a DataFrame look-up per row and column cost ~60 us each
    columns = {name: rows[name].tolist() for name in
               ("series_uid", "study_uid", "patient_uid", "image_uid", "path")}
    for k, i in enumerate(unknown):
        out[i] = found.get(("series", columns["series_uid"][k])) or \
            found.get(("study", columns["study_uid"][k]))
        if out[i] is None and found.get("available", True):
            ledger.finding("collection_not_found", "no folder names this image's collection "
                           "and IDC's index holds neither its series nor its study; its "
                           "COVID-19 status and site are unknown",
                           patient_uid=columns["patient_uid"][k],
                           image_uid=columns["image_uid"][k], path=columns["path"][k])
    return out


def _look_up(rows: pd.DataFrame, ledger: Ledger) -> dict[object, str | None]:
    """``("series", uid)`` / ``("study", uid)`` -> collection name, from IDC's index."""
    try:
        from covidimg.sources.idc.index import collections_info, lookup_series

        hits = lookup_series(rows["series_uid"].dropna(), rows["study_uid"].dropna())
    except Exception as exc:  # no index installed (LoadError) or an unreadable one
        ledger.finding("collection_not_found", f"{len(rows)} images are in folders that do not "
                       "name their collection, and IDC's index cannot be read to look them up "
                       f"({type(exc).__name__}: install it with `pip install 'covidimg[idc]'`); "
                       "their COVID-19 status and site are unknown")
        return {"available": False}
    ids = _ids()
    names = {}
    unnamed = sorted(set(hits["collection_id"]) - set(ids))
    if unnamed:
        info = collections_info(unnamed)
        names = dict(zip(info["collection_id"], info["collection"], strict=True))
    found: dict[object, str | None] = {}
    for row in hits.itertuples():
        name = ids.get(row.collection_id) or names.get(row.collection_id, row.collection_id)
        found[("series", row.SeriesInstanceUID)] = name
        found.setdefault(("study", row.StudyInstanceUID), name)
    return found
