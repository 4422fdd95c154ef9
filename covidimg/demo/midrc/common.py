"""The MIDRC demo's shared pieces: the truth it returns, the TSV writer, the export columns."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from covidimg.demo.truth import DemoTruth

__all__ = ["BATCH_IDS", "CASE_COLUMNS", "FINDING_COLUMNS", "ObservationTruth", "make_truth",
           "write_tsv"]

FINDING_COLUMNS = ["kind", "patient_uid", "image_uid", "path", "detail"]

#: The columns of the portal's case export (the real midrc_data_download-2025-01-29_0.tsv).
CASE_COLUMNS = ["type", "id", "project_id", "submitter_id", "age_at_index", "age_at_index_gt89",
                "case_ids", "country_of_residence", "covid19_positive", "ethnicity",
                "gen3_linked_subjects_available", "icu_indicator", "index_event",
                "linked_external_data", "long_covid_diagnosis", "race", "sex", "site_id",
                "token_record_id", "treatment_info", "ventilator_indicator", "zip",
                "datasets.id", "datasets.submitter_id"]
#: Release batches (``dataset`` nodes) and their Gen3 record ids.
BATCH_IDS = {"RSNA_20211026": "8c3f3c52-6a0e-4d0e-9d7e-2f6f6b0d2a01",
              "RSNA_20220308": "2ec8acaf-0000-4e5c-8000-5288210b1389",
              "RSNA_20230824": "7cb4eb3a-0000-4f47-8000-8d3f19c1c91d"}
#: (code system, code, name, observation field, value) of the planted conditions.
_CONDITIONS = (
    ("ICD-10-CM", "I10", "Essential (primary) hypertension", "comorbidity_hypertension", "yes"),
    ("", "", "Asthma", "comorbidity_lung", "yes"),
    ("ICD-10-CM", "J18.9", "Pneumonia, unspecified organism", "midrc:condition",
     "ICD-10-CM:J18.9"),
    ("ICD-10-CM", "E11.9", "Type 2 diabetes mellitus without complications",
     "comorbidity_diabetes", "yes"),
)
#: (medication_type, medication_name (free text), observation field, value).
_MEDICATIONS = (
    ("ACE inhibitors", "lisinopril 10 mg once daily", "medication_acei", "yes"),
    ("Systemic steroids", "dexamethasone 6 mg daily", "midrc:medication_type",
     "Systemic steroids"),
)
_OBSERVATION_COLUMNS = ["patient_uid", "field", "value", "value_num", "unit", "day"]


class ObservationTruth:
    """The observations a correct loader must return (``day`` on the cohort's axis)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, object]] = []

    def add(self, patient_uid: str, field: str, *, value: str | None = None,
            value_num: float | None = None, unit: str | None = None,
            day: float | None = None) -> None:
        self.rows.append({"patient_uid": patient_uid, "field": field, "value": value,
                          "value_num": np.nan if value_num is None else float(value_num),
                          "unit": unit, "day": np.nan if day is None else float(day)})

    def case(self, puid: str, *, race: str, ethnicity: str, ventilation: str | None,
             long_covid: bool, treatment_info: bool | None, batches: list[str],
             linked_subjects: bool | None = None) -> None:
        """The observations of one case row's fields, as the writer chose them."""
        self.add(puid, "race", value=race)
        self.add(puid, "ethnicity", value=ethnicity)
        if ventilation is not None:
            self.add(puid, "ventilation", value=ventilation)
        if long_covid:
            self.add(puid, "long_covid", value="yes")
        if treatment_info is not None:
            self.add(puid, "midrc:treatment_info", value="yes" if treatment_info else "no")
        if linked_subjects is not None:
            self.add(puid, "midrc:gen3_linked_subjects_available",
                     value="yes" if linked_subjects else "no")
        for batch in batches:
            self.add(puid, "release_batch", value=batch)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=_OBSERVATION_COLUMNS)


def make_truth(patients: list[dict[str, object]], images: list[dict[str, object]],
           events: pd.DataFrame, findings: list[dict[str, object]], n_files: int,
           observations: ObservationTruth) -> DemoTruth:
    truth = DemoTruth(source="midrc", patients=pd.DataFrame(patients),
                      images=pd.DataFrame(images), events=events,
                      labs=pd.DataFrame(columns=["patient_uid", "image_uid", "analyte",
                                                 "lower", "upper", "censor", "day"]),
                      findings=pd.DataFrame(findings, columns=FINDING_COLUMNS),
                      n_files=n_files, observations=observations.frame())
    return truth



def write_tsv(path: Path, columns: list[str], rows: list[dict[str, object]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, delimiter="\t",
                                lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: "" if row.get(c) is None else row.get(c) for c in columns})

