"""MD.ai annotation exports (the format RICORD's labels are published in), read and matched to
images.

An MD.ai export is one JSON object (structure as the MD.ai client library reads it,
``mdai/preprocess.py``)::

    {"id": ..., "name": ...,
     "datasets": [{"id": "D_...", "name": ..., "annotations": [
         {"id": "A_...", "labelId": "L_...", "StudyInstanceUID": ..., "SeriesInstanceUID": ...,
          "SOPInstanceUID": ..., "frameNumber": null, "createdById": "U_...",
          "data": {"x": .., "y": .., "width": .., "height": ..}      a box (bbox mode)
                | {"vertices": [[x, y], ...]}                         a polygon / freeform / line
                | null,                                               a global label
          "note": ..., "createdAt": ..., ...}, ...]}],
     "labelGroups": [{"id": "G_...", "name": ..., "labels": [
         {"id": "L_...", "name": "Typical Appearance", "type": "global" | "local",
          "scope": "study" | "series" | "instance", "annotationMode": "bbox" | "polygon" |
          "freeform" | ..., ...}]}]}

:func:`read_mdai` reads it within bounds (:data:`MAX_MDAI_BYTES`, :data:`MAX_JSON_DEPTH`,
:data:`MAX_ANNOTATIONS`); a file that is not JSON, too large, too deep or not an MD.ai export is
recorded as rejected with an ``unreadable_file`` finding, never an exception. Coordinates are
the image's pixels (MD.ai's own frame: x to the right, y down, origin at the top-left corner).
Readers (``createdById``) are returned as the export's ids for
:class:`~covidimg.sources._engine.annotations.Annotations`, which numbers them; the free-text
``note`` of an annotation is not read (the free-text policy), nor are the bookkeeping keys in
:data:`IGNORED_KEYS`; any other key is reported once per file (``unexpected_field``).

:func:`match_images` links each annotation to an image of the loaded ``images`` table by SOP
Instance UID (a radiograph, or a slice of a CT/MR series), else by Series Instance UID, else
by Study Instance UID (a study-level label: patient, no image); one that matches nothing is
counted in one ``unmatched_annotation`` finding per file. :func:`add_annotations` does both and
fills an :class:`~covidimg.sources._engine.annotations.Annotations` collector.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from covidimg.sources._engine.annotations import Annotations, box_geometry, polygon_geometry
from covidimg.sources._engine.dicom_json import json_depth
from covidimg.sources._engine.free_text import describe_value
from covidimg.sources._engine.ledger import Ledger, file_problem

__all__ = ["IGNORED_KEYS", "MAX_ANNOTATIONS", "MAX_JSON_DEPTH", "MAX_MDAI_BYTES",
           "MdaiAnnotation", "MdaiExport", "add_annotations", "looks_like_mdai",
           "match_images", "read_mdai", "ricord_annotations"]

#: The largest export read (RICORD-1C's is about 10 MB; 1A's with polygons about 60 MB).
MAX_MDAI_BYTES = 512 * 2**20
#: The deepest nesting of objects and lists accepted (an export is about 6 deep).
MAX_JSON_DEPTH = 32
#: The most annotations one export may hold.
MAX_ANNOTATIONS = 5_000_000
#: Findings per file about single annotations before the rest are only counted.
_MAX_ITEM_FINDINGS = 10
#: The bytes looked at to tell an MD.ai export from another JSON file.
_SNIFF_BYTES = 64 * 2**10

#: Annotation keys read into the table.
READ_KEYS = frozenset({"id", "labelId", "StudyInstanceUID", "SeriesInstanceUID",
                       "SOPInstanceUID", "frameNumber", "createdById", "data"})
#: Annotation keys deliberately not read: MD.ai's bookkeeping (times, editors, review state,
#: the image size MD.ai displayed), tags, and ``note`` (free text, never kept).
IGNORED_KEYS = frozenset({
    "parentId", "isImported", "isPrediction", "annotationNumber", "length", "height", "width",
    "note", "radlexTagIds", "createdAt", "updatedAt", "updatedById", "reviews",
    "reviewsPositiveCount", "reviewsNegativeCount", "groupId", "model", "modelId", "confidence",
    "version", "dicomSRInstanceUID", "contourNumber", "timestamp",
})


@dataclass(frozen=True)
class MdaiAnnotation:
    """One annotation of an export, its label resolved and its geometry as JSON text.

    ``kind`` is ``box``, ``polygon`` or ``label`` (a global label, or a local one without a
    region); ``reader`` is the export's ``createdById`` (numbered later, never stored).
    """

    key: str
    label: str
    label_type: str
    scope: str
    kind: str
    geometry: str | None
    study_uid: str | None
    series_uid: str | None
    sop_uid: str | None
    frame: int | None
    reader: str | None
    where: str


@dataclass(frozen=True)
class MdaiExport:
    """What :func:`read_mdai` read from one file."""

    path: str
    annotations: tuple[MdaiAnnotation, ...]
    labels: Mapping[str, str]


def looks_like_mdai(path: str | os.PathLike[str]) -> bool:
    """Whether the first bytes of a ``.json`` file look like an MD.ai export (an object with a
    ``datasets`` or ``labelGroups`` key)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError:
        return False
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    return text.startswith("{") and ('"datasets"' in text or '"labelGroups"' in text)


def _reject(ledger: Ledger, path: str, reason: str) -> None:
    ledger.file(path, "rejected", reason=f"MD.ai annotation export that cannot be used: {reason}")
    ledger.finding("unreadable_file", f"{os.path.basename(path)}: {reason}", path=path)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    text = str(value).strip()
    return text or None


def _labels(document: Mapping[str, Any]) -> dict[str, tuple[str, str, str, str]]:
    """labelId -> (name, type, scope, annotationMode), lower-cased type/scope/mode."""
    out = {}
    groups = document.get("labelGroups")
    for group in groups if isinstance(groups, list) else []:
        labels = group.get("labels") if isinstance(group, dict) else None
        for label in labels if isinstance(labels, list) else []:
            if not isinstance(label, dict) or _text(label.get("id")) is None:
                continue
            name = _text(label.get("name")) or str(label["id"])
            out[str(label["id"])] = (name, str(label.get("type") or "").lower(),
                                     str(label.get("scope") or "").lower(),
                                     str(label.get("annotationMode") or "").lower())
    return out


def _geometry(data: Any) -> tuple[str, str | None]:
    """``(kind, geometry JSON)`` of an annotation's ``data``; raises ValueError when ``data``
    holds neither a box nor vertices."""
    if data is None:
        return "label", None
    if not isinstance(data, dict):
        raise ValueError(f"data is a {type(data).__name__}, not an object")
    if "vertices" in data:
        return "polygon", polygon_geometry(data["vertices"])
    if {"x", "y", "width", "height"} <= set(data):
        return "box", box_geometry(data["x"], data["y"], data["width"], data["height"])
    if {"x", "y"} <= set(data):  # a point ("location" mode)
        return "polygon", polygon_geometry([[data["x"], data["y"]]])
    raise ValueError(f"data has neither a box (x, y, width, height) nor vertices; keys "
                     f"{sorted(map(str, data))[:6]}")


def read_mdai(path: str | os.PathLike[str], ledger: Ledger) -> MdaiExport | None:
    """Read one MD.ai export within bounds; ``None`` (and a rejected file with a finding) when
    it cannot be used. The file is not marked used here: the caller does, once it knows what
    the annotations matched."""
    path = os.fspath(path)
    problem = file_problem(path)
    if problem is not None:
        _reject(ledger, path, problem)
        return None
    size = os.path.getsize(path)
    if size > MAX_MDAI_BYTES:
        _reject(ledger, path, f"{size:,} bytes, more than the {MAX_MDAI_BYTES:,} an MD.ai "
                "export is read up to (covidimg.sources._engine.mdai.MAX_MDAI_BYTES)")
        return None
    try:
        with open(path, "rb") as handle:
            # read what the file holds (a read of the bound would allocate it up front)
            limit = min(os.fstat(handle.fileno()).st_size, MAX_MDAI_BYTES) + 1
            raw = handle.read(limit)
        if json_depth(raw, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:  # before parsing, bounded
            _reject(ledger, path, f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
            return None
        document = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        _reject(ledger, path, f"not UTF-8 JSON ({type(exc).__name__} at "
                f"{getattr(exc, 'pos', getattr(exc, 'start', '?'))})")
        return None
    except OSError as exc:
        _reject(ledger, path, f"cannot be read ({exc.strerror or exc})")
        return None
    if not isinstance(document, dict) or not isinstance(document.get("datasets"), list):
        _reject(ledger, path, "not an MD.ai export (a JSON object with a 'datasets' list and "
                "'labelGroups')")
        return None
    labels = _labels(document)
    if not labels:
        ledger.finding("missing_value", f"{os.path.basename(path)}: the export has no "
                       "labelGroups[].labels; label names are unknown and its annotations "
                       "keep their labelId", path=path)
    out: list[MdaiAnnotation] = []
    problems: list[tuple[str, str, str]] = []  # (kind, where, detail)
    unexpected: set[str] = set()
    for d, dataset in enumerate(document["datasets"]):
        notes = dataset.get("annotations") if isinstance(dataset, dict) else None
        if not isinstance(notes, list):
            continue
        for a, note in enumerate(notes):
            where = f"{path}:datasets[{d}].annotations[{a}]"
            if len(out) >= MAX_ANNOTATIONS:
                problems.append(("unparseable_value", where, f"more than {MAX_ANNOTATIONS:,} "
                                 "annotations; the rest are not read"))
                break
            if not isinstance(note, dict):
                problems.append(("unparseable_value", where, "an annotation that is not an "
                                 "object; skipped"))
                continue
            unexpected |= set(map(str, note)) - READ_KEYS - IGNORED_KEYS
            label_id = _text(note.get("labelId"))
            if label_id is None:
                problems.append(("missing_value", where, "annotation without labelId; skipped"))
                continue
            if labels and label_id not in labels:
                problems.append(("unknown_value", where, f"labelId {describe_value(label_id)} "
                                 "is not in the export's labelGroups; kept with its id"))
            name, label_type, scope, _mode = labels.get(label_id, (label_id, "", "", ""))
            try:
                kind, geometry = _geometry(note.get("data"))
            except ValueError as exc:
                problems.append(("unparseable_value", where, f"region not read ({exc}); kept "
                                 "as a label"))
                kind, geometry = "label", None
            frame = note.get("frameNumber")
            out.append(MdaiAnnotation(
                key=_text(note.get("id")) or f"{os.path.basename(path)}:{d}:{a}",
                label=name, label_type=label_type, scope=scope, kind=kind, geometry=geometry,
                study_uid=_text(note.get("StudyInstanceUID")),
                series_uid=_text(note.get("SeriesInstanceUID")),
                sop_uid=_text(note.get("SOPInstanceUID")),
                frame=int(frame) if isinstance(frame, int) and not isinstance(frame, bool)
                else None,
                reader=_text(note.get("createdById")), where=where))
    name = os.path.basename(path)
    for kind, where, detail in problems[:_MAX_ITEM_FINDINGS]:
        ledger.finding(kind, f"{name}: {detail}", path=where)
    if len(problems) > _MAX_ITEM_FINDINGS:
        ledger.finding(problems[_MAX_ITEM_FINDINGS][0], f"{name}: "
                       f"{len(problems) - _MAX_ITEM_FINDINGS} more annotation problems like "
                       "the ones above", path=path)
    if unexpected:
        ledger.finding("unexpected_field", f"{name}: annotation keys "
                       f"{sorted(describe_value(k) for k in unexpected)[:10]} are not read",
                       path=path)
    return MdaiExport(path, tuple(out), {k: v[0] for k, v in labels.items()})


@dataclass(frozen=True)
class Match:
    """Where one annotation lands: its patient, image (or ``None``) and instance."""

    patient_uid: str
    image_uid: str | None
    instance: str | None
    study_uid: str | None
    slice_index: int | None = None


def _rows(images: pd.DataFrame) -> Iterable[tuple[str, str, str, str, tuple[str, ...]]]:
    if "sop_uids" in images:
        sops = images["sop_uids"]
    else:  # a finished images table: a radiograph's image_uid is "<source>:<SOP UID>"
        single = images["n_instances"].fillna(1).astype(int).to_numpy() == 1
        sops = pd.Series([(uid.split(":", 1)[1],) if one else ()
                          for uid, one in zip(images["image_uid"].astype(str), single,
                                              strict=True)], index=images.index)
    return zip(images["image_uid"].astype(str), images["patient_uid"].astype(str),
               images["study_uid"].astype(object), images["series_uid"].astype(object),
               sops, strict=True)


def match_images(annotations: Iterable[MdaiAnnotation], images: pd.DataFrame
                 ) -> list[tuple[MdaiAnnotation, Match | None]]:
    """Link each annotation to the images of a loader's ``images`` table.

    ``images`` needs ``image_uid``, ``patient_uid``, ``study_uid``, ``series_uid`` and, for
    slices of a series, the loader's helper column ``sop_uids`` (a tuple per row); without it,
    a radiograph's SOP is read from its ``image_uid`` and a slice matches its series only. The SOP
    Instance UID wins (the instance is that SOP, with ``[frame]`` for a frame of a multi-frame
    image, and ``slice_index`` its place in a series' slice order, the order the viewer shows);
    else a series with one image row; else the study (patient only, no image).
    """
    by_sop: dict[str, tuple[str, str, str, int | None]] = {}
    by_series: dict[str, list[tuple[str, str, str]]] = {}
    by_study: dict[str, str] = {}
    for image_uid, patient_uid, study, series, sops in _rows(images):
        entry = (image_uid, patient_uid, str(study))
        sops = sops if isinstance(sops, tuple | list) else ()
        for k, sop in enumerate(sops):
            by_sop[str(sop)] = (*entry, k if len(sops) > 1 else None)
        if isinstance(series, str):
            by_series.setdefault(series, []).append(entry)
        if isinstance(study, str):
            by_study.setdefault(study, patient_uid)
    out: list[tuple[MdaiAnnotation, Match | None]] = []
    for note in annotations:
        instance = None
        if note.sop_uid is not None:
            instance = note.sop_uid if note.frame is None else f"{note.sop_uid}[{note.frame}]"
        hit = by_sop.get(note.sop_uid or "")
        if hit is None and note.series_uid is not None:
            series = by_series.get(note.series_uid, [])
            hit = (*series[0], None) if len(series) == 1 else None
        if hit is not None:
            out.append((note, Match(hit[1], hit[0], instance, hit[2], hit[3])))
        elif note.sop_uid is None and note.series_uid is None and note.study_uid in by_study:
            out.append((note, Match(by_study[note.study_uid], None, None, note.study_uid)))
        else:
            out.append((note, None))
    return out


def add_annotations(export: MdaiExport, images: pd.DataFrame, collector: Annotations,
                    ledger: Ledger, *, scheme: str, what: str) -> int:
    """Match ``export`` to ``images``, add the matched annotations to ``collector``, record
    the file (``used`` with ``what`` and the counts) and one ``unmatched_annotation`` finding
    for those that match no image. Returns the number added."""
    added, unmatched = 0, []
    for note, hit in match_images(export.annotations, images):
        if hit is None:
            unmatched.append(note)
            continue
        collector.add(hit.patient_uid, note.key, scheme=scheme, kind=note.kind,
                      label=note.label, geometry=note.geometry, image_uid=hit.image_uid,
                      instance=hit.instance, reader=note.reader, study_uid=hit.study_uid,
                      slice_index=hit.slice_index, origin=note.where)
        added += 1
    name = os.path.basename(export.path)
    if unmatched:
        first = unmatched[0]
        uid = first.sop_uid or first.series_uid or first.study_uid
        ledger.finding("unmatched_annotation", f"{name}: {len(unmatched)} of "
                       f"{len(export.annotations)} annotations match no loaded image (by SOP, "
                       f"series or study UID), e.g. {uid}", path=first.where)
    if added or not unmatched:
        ledger.file(export.path, "used", reason=f"{what}: {added} annotations"
                    + (f" ({len(unmatched)} match no loaded image)" if unmatched else ""))
    else:
        ledger.file(export.path, "ignored", reason=f"{what}: none of its "
                    f"{len(unmatched)} annotations matches a loaded image")
    return added


def ricord_annotations(paths: Iterable[str], images: pd.DataFrame, ledger: Ledger,
                       source: str, *, collector: Annotations | None = None,
                       scheme: str = "ricord") -> Annotations:
    """Read the MD.ai exports among ``paths`` (JSON files; the others are recorded as
    ignored), match them to ``images`` and add them to ``collector`` (a new one for
    ``source`` by default), which is returned."""
    collector = collector if collector is not None else Annotations(source)
    for path in paths:
        if not looks_like_mdai(path):
            ledger.file(path, "ignored", reason="JSON file that is not an MD.ai annotation "
                        "export (no 'datasets' / 'labelGroups')")
            continue
        export = read_mdai(path, ledger)
        if export is not None:
            add_annotations(export, images, collector, ledger, scheme=scheme,
                            what="RICORD MD.ai annotation export")
    return collector
