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
from typing import Any

import pandas as pd

from covidimg.sources._engine.ledger import Ledger
from covidimg.sources._engine.mdai import ricord_annotations

__all__ = ["AnnotationReader"]

class AnnotationReader:
    """The annotation half of the TCIA reader (a mixin of
    :class:`covidimg.sources.tcia._Reader`, which sets ``ledger``, ``annotations`` (the
    label-sheet rows) and ``json_files``)."""

    ledger: Ledger
    annotations: list[dict[str, Any]]
    json_files: list[str]
    #: each label-sheet row with the image rows it matched (set by the sheet join's
    #: ``annotate``: one matching rule for the image columns and this table)
    note_rows: list[tuple[dict[str, Any], list[int]]]

    def read_json(self, path: str) -> None:
        """Keep a JSON file (an MD.ai export?) for reading once the images are known."""
        self.json_files.append(path)

    def annotation_table(self, table: pd.DataFrame) -> pd.DataFrame:
        """The ``annotations`` of the MD.ai exports and the label sheets, matched to
        ``table`` (the images, still with their ``sop_uids`` helper column)."""
        collector = ricord_annotations(self.json_files, table, self.ledger, "tcia")
        for k, (note, rows) in enumerate(self.note_rows):
            hit = table.iloc[rows]
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
