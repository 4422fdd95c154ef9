"""What a demo writer encodes: the tables a correct loader must return."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

__all__ = ["DemoTruth"]

_TABLES = ("patients", "images", "events", "labs", "findings", "observations",
           "annotations")


@dataclass(eq=False)
class DemoTruth:
    """The truth one demo writer encodes in its native layout.

    Attributes
    ----------
    source
        Source name.
    patients
        Expected ``patients`` rows (at least ``patient_uid, sex, age_min, age_max, icu, died``).
    images
        Expected ``images`` rows (at least ``image_uid, patient_uid, modality, view, day``).
    events
        Expected ``events`` rows (``patient_uid, event, day``).
    labs
        Expected ``labs`` rows (``patient_uid, image_uid, analyte, lower, upper, censor, day``).
    findings
        Findings the loader must report (at least ``kind`` and one of ``patient_uid`` /
        ``image_uid`` / ``path``), e.g. every planted duplicate exam.
    annotations
        Expected ``annotations`` rows (``annotation_uid, patient_uid, image_uid, scheme, kind,
        label, score, geometry, instance, reader``), where the writer planted labels.
    n_files
        Number of files the writer put under the root (the loader's ``files`` table must have
        exactly this many rows).
    observations
        Expected ``observations`` rows (``patient_uid, field, value, value_num, day``: the
        harmonized text or the number), for the fields the writer planted.
    """

    source: str
    patients: pd.DataFrame
    images: pd.DataFrame
    events: pd.DataFrame
    labs: pd.DataFrame
    findings: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["kind", "patient_uid", "image_uid", "path", "detail"]))
    n_files: int = 0
    observations: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["patient_uid", "field", "value", "value_num", "day"]))
    annotations: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["annotation_uid", "patient_uid", "image_uid", "scheme", "kind", "label",
                 "score", "geometry", "instance", "reader"]))

    def save(self, folder: str | Path) -> None:
        """Write the truth as Parquet files plus ``truth.json`` into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name in _TABLES:
            getattr(self, name).to_parquet(folder / f"{name}.parquet", index=False)
        (folder / "truth.json").write_text(json.dumps({"source": self.source,
                                                        "n_files": self.n_files}))

    @classmethod
    def open(cls, folder: str | Path) -> DemoTruth:
        """Read a truth written by :meth:`save`."""
        folder = Path(folder)
        meta = json.loads((folder / "truth.json").read_text())
        tables = {name: pd.read_parquet(folder / f"{name}.parquet") for name in _TABLES
                  if (folder / f"{name}.parquet").is_file()}  # a truth saved before a table
        return cls(source=meta["source"], n_files=meta["n_files"], **tables)
