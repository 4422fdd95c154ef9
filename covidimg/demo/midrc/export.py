"""The MIDRC portal's case export alone (what "download clinical data" gives before images)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from covidimg.demo.midrc.common import (
    BATCH_IDS,
    CASE_COLUMNS,
    ObservationTruth,
    make_truth,
    write_tsv,
)
from covidimg.demo.truth import DemoTruth

__all__ = ["EXPORT_DATE", "write_case_export"]

#: The export date the portal's case export carries in its name.
EXPORT_DATE = "2025-01-29"


def write_case_export(root: Path, *, rng: np.random.Generator, n_patients: int = 40,
                      fmt: str = "tsv") -> DemoTruth:
    """Write a portal case export alone (no imaging_study, no images), with its truth.

    What a user gets from the MIDRC portal's "download clinical data" of a case cohort before
    any images: ``midrc_data_download-2025-01-29_0.tsv`` with the real export's 24 columns and
    spellings (ages ``79.0``, Gen3 booleans ``True``/``False``, empty cells, release batches
    comma-separated in ``datasets.submitter_id``), or the same records as JSON
    (``fmt="json"``: arrays as lists, booleans and numbers as JSON values, the release batches
    as nested ``datasets`` objects).

    Parameters
    ----------
    root
        Folder to write the export into.
    rng
        Random generator; the same seed writes the same file.
    n_patients
        Number of cases.
    fmt
        ``"tsv"`` or ``"json"``.

    Returns
    -------
    DemoTruth
        The patients and observations a correct loader must return (no images, no events);
        the export date (the provenance's release) is :data:`EXPORT_DATE`.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from covidimg.demo import midrc
    >>> truth = midrc.write_case_export(pathlib.Path(tempfile.mkdtemp()),
    ...                                 rng=np.random.default_rng(0), n_patients=5)
    >>> len(truth.patients), truth.n_files, len(truth.observations) > 10
    (5, 1, True)
    """
    if fmt not in ("tsv", "json"):
        raise ValueError(f"fmt={fmt!r}: the MIDRC case export is written as 'tsv' or 'json'")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    obs = ObservationTruth()
    records, t_patients = [], []
    races = ("White", "Asian", "Not Reported", "Black or African American", "Other")
    ethnicities = ("Not Hispanic or Latino", "Hispanic or Latino", "Not Reported")
    batches_all = list(BATCH_IDS)
    for k in range(n_patients):
        case_id = f"419639-{k + 1:06d}"
        puid = f"midrc:{case_id}"
        gt89 = k % 9 == 4
        age = None if gt89 else float(rng.integers(18, 90))
        sex_text = "Not Reported" if k % 17 == 16 else ("Female", "Male")[k % 2]
        race, ethnicity = races[k % len(races)], ethnicities[k % len(ethnicities)]
        covid = "Yes" if k % 6 == 0 else "No"
        icu = (True, False, None)[k % 3]
        ventilator = (None, False, None, True)[k % 4] if icu else (None if k % 2 else False)
        long_covid = k % 10 == 3
        treatment = False if k % 7 == 2 else None
        linked = False if k % 5 == 1 else None
        batches = [batches_all[k % 3]] + ([batches_all[(k + 1) % 3]] if k % 4 == 0 else [])
        records.append({
            "type": "case", "id": f"00000000-0000-4000-8000-{k:012d}", "project_id": "Open-R1",
            "submitter_id": case_id, "age_at_index": age,
            "age_at_index_gt89": "Yes" if gt89 else "No", "case_ids": [case_id],
            "country_of_residence": "US", "covid19_positive": covid, "ethnicity": ethnicity,
            "gen3_linked_subjects_available": linked, "icu_indicator": icu,
            "index_event": "COVID-19 Test" if k % 2 else None, "linked_external_data": [],
            "long_covid_diagnosis": "Positive" if long_covid else None, "race": race,
            "sex": sex_text, "site_id": "419639", "token_record_id": None,
            "treatment_info": treatment, "ventilator_indicator": ventilator, "zip": "941",
            "datasets": [{"id": BATCH_IDS[b], "submitter_id": b} for b in batches]})
        t_patients.append({
            "patient_uid": puid, "sex": {"Female": "F", "Male": "M"}.get(sex_text, "U"),
            "age_min": 90.0 if gt89 else age, "age_max": np.inf if gt89 else age,
            "covid_status": "positive" if covid == "Yes" else "negative", "icu": icu,
            "died": None})
        obs.case(puid, race=race, ethnicity=ethnicity,
                 ventilation=None if ventilator is None else
                 ("mechanical" if ventilator else "none"),
                 long_covid=long_covid, treatment_info=treatment, batches=batches,
                 linked_subjects=linked)
    name = f"midrc_data_download-{EXPORT_DATE}_0.{fmt}"
    if fmt == "json":
        (root / name).write_text(json.dumps(records, indent=1))
    else:
        rows = []
        for record in records:
            row = {k: v for k, v in record.items() if k != "datasets"}
            row["datasets.id"] = ",".join(d["id"] for d in record["datasets"])
            row["datasets.submitter_id"] = ",".join(d["submitter_id"] for d in record["datasets"])
            row["case_ids"] = ",".join(record["case_ids"])
            row["linked_external_data"] = ""
            for key, value in row.items():
                if isinstance(value, bool):
                    row[key] = "True" if value else "False"
                elif isinstance(value, float):
                    row[key] = f"{value:.1f}"
            rows.append(row)
        write_tsv(root / name, CASE_COLUMNS, rows)
    return make_truth(t_patients, [], pd.DataFrame(columns=["patient_uid", "event", "day"]), [],
                      1, obs)
