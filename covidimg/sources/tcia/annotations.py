"""RICORD's labels in the TCIA download: MD.ai JSON exports and the annotation CSV, into the
``annotations`` table (scheme ``ricord``).

* MD.ai exports (``MIDRC-RICORD-1a_annotations_labelgroup_all_2020-Dec-8.json`` and the like,
  anywhere under the root; recognised by their content) are read by
  :mod:`covidimg.sources._engine.mdai` and matched to the loaded images by SOP, series or
  study UID, whichever collection they belong to: boxes and polygons land on their image and
  instance, study-level labels (appearance) on the patient with ``study_uid``;
* the annotation CSV (``Anon MRN``, ``Anon TCIA Study Date``, ``Reader_id``, ``CLASS_label``,
  ``GRADE_label``, ...) gives study-level labels: the class and the grade each become a
  ``label`` row on the study it names (by ``Anon Study UID``, else by ``Anon MRN`` and date).
  The MRN is read in the collection the CSV belongs to (its collection folder, else
  ``MIDRC-RICORD-1A/1B/1C`` in its file name); a CSV of no known collection matches an MRN
  only when exactly one RICORD patient carries it, so 1A's ``…-419639-000082`` never takes
  1C's labels.

Readers (MD.ai ``createdById``, the CSV's ``Reader_id``) become the numbers ``1..n`` of the
TCIA source; ``Reader_name`` is never read.
"""

from __future__ import annotations

import os
import re
from typing import Any

import pandas as pd

from covidimg.sources._engine.ledger import Ledger
from covidimg.sources._engine.mdai import ricord_annotations

__all__ = ["AnnotationReader", "ricord_collection", "sheet_hits"]

_RICORD_NAME = re.compile(r"midrc[-_ ]?ricord[-_ ]?(1[abc])", re.IGNORECASE)


def ricord_collection(path: str, folder_collection: str | None) -> str | None:
    """The RICORD collection a label sheet belongs to: its collection folder, else the
    collection its file name names, else ``None``.

    Examples
    --------
    >>> from covidimg.sources.tcia.annotations import ricord_collection
    >>> ricord_collection("/d/MIDRC-RICORD-1A/x.csv", "MIDRC-RICORD-1A")
    'MIDRC-RICORD-1A'
    >>> ricord_collection("/d/midrc-ricord-1b-labels.csv", None)
    'MIDRC-RICORD-1B'
    >>> ricord_collection("/d/a.csv", None) is None
    True
    """
    if folder_collection and folder_collection.startswith("MIDRC-RICORD-"):
        return folder_collection
    match = _RICORD_NAME.search(os.path.basename(path))
    return f"MIDRC-RICORD-{match.group(1).upper()}" if match else None


def sheet_patient(mrn: str, collection: str | None) -> str:
    """The PatientID an ``Anon MRN`` stands for in ``collection`` (the MRN itself when it
    already carries a collection, or when the collection is unknown)."""
    if mrn.startswith("MIDRC-RICORD-") or collection is None:
        return mrn
    return f"{collection}-{mrn}"


def sheet_hits(note: dict[str, Any], table: pd.DataFrame) -> pd.Series:
    """The image rows one label-sheet row names: by ``Anon Study UID``; else by patient and
    study date, the patient taken in the sheet's collection, or, when that is unknown, the
    one RICORD patient whose PatientID ends with the MRN (none when several do)."""
    if note["study_uid"]:
        return table["study_uid"] == note["study_uid"]
    pids = table["source_patient_id"].astype(str)
    patient = note["patient"]
    if note.get("collection"):
        same = (pids == patient) & (table["collection"] == note["collection"])
    else:
        ricord = table["collection"].astype(str).str.startswith("MIDRC-RICORD-")
        same = (pids == patient) | (ricord & pids.str.endswith(f"-{patient}"))
        if pids[same].nunique() > 1:
            same = same & False
    return same & (table["study_date"] == note["date"])


class AnnotationReader:
    """The annotation half of the TCIA reader (a mixin of
    :class:`covidimg.sources.tcia._Reader`, which sets ``ledger``, ``annotations`` (the
    label-sheet rows) and ``json_files``)."""

    ledger: Ledger
    annotations: list[dict[str, Any]]
    json_files: list[str]

    def read_json(self, path: str) -> None:
        """Keep a JSON file (an MD.ai export?) for reading once the images are known."""
        self.json_files.append(path)

    def annotation_table(self, table: pd.DataFrame) -> pd.DataFrame:
        """The ``annotations`` of the MD.ai exports and the label sheets, matched to
        ``table`` (the images, still with their ``sop_uids`` helper column)."""
        collector = ricord_annotations(self.json_files, table, self.ledger, "tcia")
        for k, note in enumerate(self.annotations):
            hit = table[sheet_hits(note, table)]
            name = os.path.basename(str(note["where"]).rsplit(":", 1)[0])
            line = str(note["where"]).rsplit(":", 1)[-1]
            for study, patient_uid in hit.groupby("study_uid", sort=True)["patient_uid"].first(
                    ).items():
                for what in ("class", "grade"):
                    text = note[what]
                    if text is None or not str(text).strip() or str(text).strip().lower() in (
                            "nan", "na", "none"):
                        continue
                    collector.add(patient_uid, f"{name}:{line}:{what}", scheme="ricord",
                                  kind="label", label=str(text).strip(),
                                  reader=note.get("reader") or None, study_uid=str(study),
                                  origin=f"{note['where']} (row {k + 1})")
        return collector.frame()
