"""Write MD.ai annotation exports for demo images (the format RICORD's labels are published in),
with the annotations a correct loader must return.

The export follows the structure the MD.ai client library reads (``datasets[].annotations[]``
and ``labelGroups[].labels[]``, see :mod:`covidimg.sources._engine.mdai`). Per radiograph:
a study-level appearance label from each of two readers and an ``Airspace Opacity`` box from
each; per CT series: an ``Infectious opacity`` polygon on one slice. Quirks planted: an
annotation on an instance that was never downloaded (an ``unmatched_annotation`` finding), a
polygon whose vertices are not a list (an ``unparseable_value`` finding; kept as a label),
and a free-text ``note`` naming a person (never read).

Truth rows carry the reader's MD.ai id in ``reader_id``; :func:`number_readers` turns the ids
of one source into the pseudonymous numbers ``1..n`` the loader gives (sorted ids).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["APPEARANCE", "NOTE_TEXT", "TRUTH_COLUMNS", "number_readers", "write_export"]

#: RICORD's appearance labels (the 1A/1C label group), global and study-scoped.
APPEARANCE = ("Typical Appearance", "Indeterminate Appearance", "Atypical Appearance",
              "Negative for Pneumonia")
#: The free text planted in one annotation's ``note``; it must never reach a cohort.
NOTE_TEXT = "Discussed with Dr Example Person"
#: Columns of the truth frame :func:`write_export` returns.
TRUTH_COLUMNS = ["annotation_uid", "patient_uid", "image_uid", "study_uid", "scheme", "kind",
                 "label", "geometry", "instance", "slice_index", "reader_id"]
_ALPHABET = np.array(list("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"))


def _token(rng: np.random.Generator, prefix: str) -> str:
    return prefix + "".join(rng.choice(_ALPHABET, 6))


def _labels(ids: dict[str, str]) -> list[dict[str, Any]]:
    rows = [{"id": ids[name], "name": name, "type": "GLOBAL", "scope": "STUDY",
             "annotationMode": None, "color": "#2196f3", "radlexTagIds": []}
            for name in APPEARANCE]
    rows.append({"id": ids["Airspace Opacity"], "name": "Airspace Opacity", "type": "LOCAL",
                 "scope": "INSTANCE", "annotationMode": "bbox", "color": "#e91e63"})
    rows.append({"id": ids["Infectious opacity"], "name": "Infectious opacity", "type": "LOCAL",
                 "scope": "INSTANCE", "annotationMode": "freeform", "color": "#ff9800"})
    return rows


def write_export(path: Path, images: Sequence[dict[str, Any]], *, rng: np.random.Generator,
                 missing_sop: str | None = None, project: str = "RICORD (synthetic)"
                 ) -> pd.DataFrame:
    """Write one MD.ai export for ``images`` to ``path``; return the truth.

    Parameters
    ----------
    path
        The JSON file to write.
    images
        One dict per demo image: ``patient_uid``, ``image_uid``, ``study_uid``,
        ``series_uid``, ``sop_uids`` (slice order), ``rows``, ``columns``; a radiograph
        has one SOP, a CT series several.
    rng
        Random generator (readers, labels, regions).
    missing_sop
        An SOP Instance UID of an exam that was not downloaded: one annotation refers to it
        (the loader reports it as unmatched; it is not in the truth).
    project
        The export's project name.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`TRUTH_COLUMNS`; ``geometry`` as JSON text (``x, y, w, h`` or
        ``points``),
        ``reader_id`` the MD.ai user id (see :func:`number_readers`).
    """
    names = [*APPEARANCE, "Airspace Opacity", "Infectious opacity"]
    ids = {name: _token(rng, "L_") for name in names}
    readers = [_token(rng, "U_") for _ in range(2)]
    notes: list[dict[str, Any]] = []
    truth: list[dict[str, Any]] = []

    def note(image: dict[str, Any] | None, label: str, data: Any, reader: str, *,
             sop: str | None = None, series: bool = True, extra: dict[str, Any] | None = None,
             study: str | None = None) -> dict[str, Any]:
        row = {"id": _token(rng, "A_"), "parentId": None, "isImported": False,
               "StudyInstanceUID": study or (image["study_uid"] if image else None),
               "SeriesInstanceUID": image["series_uid"] if image and series else None,
               "SOPInstanceUID": sop, "frameNumber": None, "labelId": ids[label],
               "data": data, "note": None, "radlexTagIds": [], "createdAt":
               "2020-12-08T12:00:00.000Z", "createdById": reader, "reviews": [],
               **(extra or {})}
        notes.append(row)
        return row

    def keep(row: dict[str, Any], image: dict[str, Any], kind: str, geometry: Any,
             image_uid: str | None, instance: str | None, slice_index: int | None = None
             ) -> None:
        truth.append({"annotation_uid": f"tcia:{row['id']}", "patient_uid": image["patient_uid"],
                      "image_uid": image_uid, "study_uid": image["study_uid"],
                      "scheme": "ricord", "kind": kind,
                      "label": next(n for n, i in ids.items() if i == row["labelId"]),
                      "geometry": None if geometry is None else json.dumps(geometry),
                      "instance": instance, "slice_index": slice_index,
                      "reader_id": row["createdById"]})

    planted_note = planted_bad = False
    for image in images:
        rows, cols = int(image["rows"]), int(image["columns"])
        if len(image["sop_uids"]) == 1:
            sop = image["sop_uids"][0]
            for reader in readers:
                label = str(rng.choice(APPEARANCE))
                row = note(image, label, None, reader, series=False)
                keep(row, image, "label", None, None, None)
                w, h = (float(v) for v in rng.integers(10, cols // 3, 2))
                x = float(rng.integers(0, cols - int(w)))
                y = float(rng.integers(0, rows - int(h)))
                extra = {}
                if not planted_note:
                    extra, planted_note = {"note": NOTE_TEXT}, True
                row = note(image, "Airspace Opacity", {"x": x, "y": y, "width": w,
                                                       "height": h}, reader, sop=sop,
                           extra=extra)
                keep(row, image, "box", {"x": x, "y": y, "w": w, "h": h},
                     image["image_uid"], sop)
        else:
            k = len(image["sop_uids"]) // 2
            sop = image["sop_uids"][k]
            cx, cy = cols / 2, rows / 2
            angles = np.linspace(0, 2 * np.pi, 7)[:-1]
            points = [[round(float(cx + 0.3 * cols * np.cos(a)), 1),
                       round(float(cy + 0.25 * rows * np.sin(a)), 1)] for a in angles]
            row = note(image, "Infectious opacity", {"vertices": points}, readers[0], sop=sop)
            keep(row, image, "polygon", {"points": points}, image["image_uid"], sop, k)
            if not planted_bad:
                planted_bad = True
                row = note(image, "Infectious opacity", {"vertices": "not a list"},
                           readers[1], sop=sop)
                keep(row, image, "label", None, image["image_uid"], sop, k)
    if missing_sop is not None and images:
        note(images[0], "Airspace Opacity", {"x": 1.0, "y": 1.0, "width": 5.0, "height": 5.0},
             readers[0], sop=missing_sop, series=False, study="2.25.0")
    document = {
        "id": _token(rng, "P_"), "name": project, "description": "synthetic RICORD-style export",
        "datasets": [{"id": _token(rng, "D_"), "name": "Dataset", "annotations": notes}],
        "labelGroups": [{"id": _token(rng, "G_"), "name": "Default group",
                         "labels": _labels(ids)}],
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(document, indent=1), encoding="utf-8")
    return pd.DataFrame(truth, columns=TRUTH_COLUMNS)


def number_readers(truth: pd.DataFrame) -> pd.DataFrame:
    """``truth`` with ``reader``: the pseudonymous number of ``reader_id`` within the source
    (``1..n`` in the sorted order of the ids; NA without a reader), ``reader_id`` dropped."""
    ids = sorted({r for r in truth["reader_id"] if isinstance(r, str)})
    number = {raw: k + 1 for k, raw in enumerate(ids)}
    out = truth.drop(columns="reader_id")
    out["reader"] = pd.array([number.get(r) for r in truth["reader_id"]], dtype="Int64")
    return out
