"""The ``annotations`` table of one source: expert labels, scores and drawn regions.

A loader that reads labels (MD.ai exports, a label sheet, a severity field) adds them here, one
row per label, score, box or polygon. Readers arrive as the source's own ids (an MD.ai user id,
a sheet's ``Reader_id``); they are kept only while the source loads and become pseudonymous
numbers ``1..n`` per source when the table is built, numbered in the sorted order of the ids
so the numbering does not depend on the order files were read. No reader id or name reaches
the table.

Geometry is JSON in the image's pixel coordinates (:func:`box_geometry`,
:func:`polygon_geometry`); :func:`parse_geometry` reads it back.

Examples
--------
>>> from covidimg.sources._engine.annotations import Annotations
>>> notes = Annotations("tcia")
>>> notes.add("tcia:p1", "A_1", scheme="ricord", kind="box", label="Opacity",
...           geometry=box_geometry(10, 20, 30, 40), image_uid="tcia:1.2.3", reader="U_zz")
>>> notes.add("tcia:p1", "A_2", scheme="ricord", kind="label", label="Typical Appearance",
...           reader="U_aa")
>>> notes.frame()[["annotation_uid", "kind", "label", "geometry", "reader"]].values.tolist()
[['tcia:A_1', 'box', 'Opacity', '{"x":10.0,"y":20.0,"w":30.0,"h":40.0}', 2], \
['tcia:A_2', 'label', 'Typical Appearance', <NA>, 1]]
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from covidimg import schema
from covidimg._validation import check_choice

__all__ = ["Annotations", "box_geometry", "parse_geometry", "polygon_geometry"]

#: Most vertices a polygon may keep (a freeform outline of a whole lung is a few hundred).
MAX_POLYGON_POINTS = 10_000


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} is a {type(value).__name__}, not a number")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{what} is {number}, not a finite number")
    return number


def box_geometry(x: Any, y: Any, w: Any, h: Any) -> str:
    """A box as geometry JSON ``{"x","y","w","h"}`` (pixels; x, y the top-left corner).

    Raises
    ------
    ValueError
        When a value is not a finite number or the width or height is negative.

    Examples
    --------
    >>> from covidimg.sources._engine.annotations import box_geometry
    >>> box_geometry(1, 2, 3.5, 4)
    '{"x":1.0,"y":2.0,"w":3.5,"h":4.0}'
    """
    values = {k: _number(v, f"box {k}") for k, v in (("x", x), ("y", y), ("w", w), ("h", h))}
    if values["w"] < 0 or values["h"] < 0:
        raise ValueError(f"box width {values['w']:g} / height {values['h']:g} is negative")
    return json.dumps(values, separators=(",", ":"))


def polygon_geometry(points: Sequence[Sequence[Any]]) -> str:
    """A polygon (or open outline) as geometry JSON ``{"points": [[x, y], ...]}``.

    Raises
    ------
    ValueError
        When a vertex is not a pair of finite numbers, there are none, or more than
        :data:`MAX_POLYGON_POINTS`.

    Examples
    --------
    >>> from covidimg.sources._engine.annotations import polygon_geometry
    >>> polygon_geometry([[1, 2], [3, 4], [5, 2]])
    '{"points":[[1.0,2.0],[3.0,4.0],[5.0,2.0]]}'
    """
    if not isinstance(points, list | tuple) or not points:
        raise ValueError("the vertices are not a non-empty list")
    if len(points) > MAX_POLYGON_POINTS:
        raise ValueError(f"{len(points):,} vertices, more than {MAX_POLYGON_POINTS:,}")
    out = []
    for k, point in enumerate(points):
        if not isinstance(point, list | tuple) or len(point) != 2:
            raise ValueError(f"vertex {k} is not an [x, y] pair")
        out.append([_number(point[0], f"vertex {k} x"), _number(point[1], f"vertex {k} y")])
    return json.dumps({"points": out}, separators=(",", ":"))


def parse_geometry(text: Any) -> dict[str, Any] | None:
    """Geometry JSON (an ``annotations.geometry`` value) as a dict; ``None`` when missing.

    Examples
    --------
    >>> from covidimg.sources._engine.annotations import parse_geometry
    >>> parse_geometry('{"x":1,"y":2,"w":3,"h":4}')["w"], parse_geometry(None)
    (3, None)
    """
    if text is None or (isinstance(text, float) and math.isnan(text)) or text is pd.NA:
        return None
    value = json.loads(str(text))
    return value if isinstance(value, dict) else None


class Annotations:
    """Collects the ``annotations`` rows of one source while it loads.

    Parameters
    ----------
    source
        The source name (``"tcia"``, ``"nccid"``, ...).
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self._rows: list[dict[str, Any]] = []
        self._uids: set[str] = set()

    def add(self, patient_uid: str, key: str, *, scheme: str, kind: str,
            label: str | None = None, score: float | None = None,
            geometry: str | None = None, image_uid: str | None = None,
            instance: str | None = None, reader: str | None = None,
            study_uid: str | None = None, slice_index: int | None = None,
            origin: str | None = None) -> None:
        """Add one annotation.

        Parameters
        ----------
        patient_uid
            The patient (``"<source>:<id>"``).
        key
            The annotation's id within the source (an MD.ai annotation id, a file and line);
            ``annotation_uid`` is ``<source>:<key>`` (``#2``, ``#3``, ... appended to a key
            seen before).
        scheme, kind, label, score, geometry, image_uid, instance
            The columns of the same names (see the schema); ``kind`` is one of
            :data:`covidimg.schema.ANNOTATION_KINDS`.
        reader
            The source's own reader id; only its pseudonymous number is kept.
        study_uid
            The study the annotation belongs to (an extra column: a study-level label has no
            ``image_uid``).
        slice_index
            For a slice of a CT/MR series, its index in the series' slice order (an extra
            column; the viewer shows the region on that slice).
        origin
            Where it was read: file and position.
        """
        check_choice(kind, schema.ANNOTATION_KINDS, "kind")
        uid = f"{self.source}:{key}"
        if uid in self._uids:
            n = 2
            while f"{uid}#{n}" in self._uids:
                n += 1
            uid = f"{uid}#{n}"
        self._uids.add(uid)
        self._rows.append({
            "annotation_uid": uid, "patient_uid": patient_uid, "image_uid": image_uid,
            "source": self.source, "scheme": scheme, "kind": kind, "label": label,
            "score": math.nan if score is None else float(score), "geometry": geometry,
            "instance": instance, "_reader": None if reader is None else str(reader),
            "study_uid": study_uid, "slice_index": slice_index, "origin": origin,
        })

    def __len__(self) -> int:
        return len(self._rows)

    def frame(self) -> pd.DataFrame:
        """The rows collected so far as an ``annotations`` table (conformed), readers numbered
        ``1..n`` in the sorted order of their source ids."""
        if not self._rows:
            return schema.empty("annotations")
        frame = pd.DataFrame.from_records(self._rows)
        ids = sorted({r for r in frame["_reader"] if r is not None})
        number = {raw: k + 1 for k, raw in enumerate(ids)}
        frame["reader"] = pd.array([number.get(r) if r is not None else None
                                    for r in frame["_reader"]], dtype="Int64")
        frame["slice_index"] = pd.array(frame["slice_index"].tolist(), dtype="Int64")
        return schema.conform("annotations", frame.drop(columns="_reader"))
