"""MIDRC's case, visit and measurement nodes -> patients rows and events (on the index axis)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from covidimg.sources._engine.free_text import describe_value
from covidimg.sources._engine.ledger import Ledger
from covidimg.sources.midrc.observations import ObservationRows
from covidimg.sources.midrc.values import COVID, DEATH, SEX, number, yes_no

__all__ = ["EVENT_COLUMNS", "checked_number", "measurement_events", "patient_row",
           "visit_events"]

NAME = "midrc"
EVENT_COLUMNS = ["patient_uid", "event", "index_day"]
_TEST_RESULTS = ("Positive", "Negative", "Indeterminate", "Not Reported")


def checked_number(ledger: Ledger, row: Mapping[str, str], column: str,
                   patient_uid: str | None) -> float | None:
    """The number in ``row[column]``; ``None`` when missing, or with an ``unparseable_value``
    finding when it is not a number."""
    try:
        return number(row.get(column, ""))
    except ValueError:
        ledger.finding("unparseable_value", f"{column} {describe_value(row[column])} is not a "
                       "number", patient_uid=patient_uid, path=str(row["_where"]))
        return None


def patient_row(row: Mapping[str, str], ledger: Ledger) -> dict[str, object]:
    """One case row -> a ``patients`` row (sex, age band, COVID status, ICU, site)."""
    case_id = row["submitter_id"]
    uid = f"{NAME}:{case_id}"
    where = str(row["_where"])
    sex_raw = row.get("sex", "")
    sex = SEX.get(sex_raw.lower(), "U")
    if sex_raw and sex_raw.lower() not in SEX:
        ledger.finding("unknown_value", f"sex {describe_value(sex_raw)} is not Female, Male or "
                       "Not Reported; recorded as U", patient_uid=uid, path=where)
    age = checked_number(ledger, row, "age_at_index", uid)
    gt89 = row.get("age_at_index_gt89", "").lower()
    if gt89 == "yes":
        if age is not None and age < 90:
            ledger.finding("inconsistent_value", f"age_at_index {age:g} but age_at_index_gt89 "
                           "is Yes; the age band [90, inf) is kept", patient_uid=uid, path=where)
        age_min, age_max = 90.0, np.inf
    else:
        age_min = age_max = np.nan if age is None else age
    covid_raw = row.get("covid19_positive", "")
    covid = COVID.get(covid_raw.lower(), "unknown")
    if covid_raw and covid_raw.lower() not in COVID:
        ledger.finding("unknown_value", f"covid19_positive {describe_value(covid_raw)} is not "
                       "Yes, No, Indeterminate or Not Reported", patient_uid=uid, path=where)
    icu_raw = row.get("icu_indicator", "")
    icu = yes_no(icu_raw)
    if icu is None and icu_raw:
        ledger.finding("unknown_value", f"icu_indicator {describe_value(icu_raw)} is not True "
                       "or False; icu is unknown", patient_uid=uid, path=where)
    return {"patient_uid": uid, "source": NAME, "source_patient_id": case_id, "sex": sex,
            "age_min": age_min, "age_max": age_max, "covid_status": covid, "icu": icu,
            "died": None, "site": row.get("site_id") or None,
            "project_id": row.get("project_id") or None,
            "index_event": row.get("index_event") or None}


def _linked_rows(frame: pd.DataFrame, link: pd.Series, known: set[str], node: str,
                 ledger: Ledger) -> list[tuple[str, dict[str, str]]]:
    """(case id, row) of the rows whose case is in the export; the others are reported."""
    out = []
    for case_id, row in zip(link.tolist(), frame.to_dict("records"), strict=True):
        if case_id not in known:
            ledger.finding("orphan_row", f"{node} row links to case {case_id!r}, which is not "
                           "in the case export; skipped", path=str(row["_where"]))
            continue
        out.append((case_id, row))
    return out


def visit_events(frame: pd.DataFrame, link: pd.Series, known: set[str], ledger: Ledger,
                 observations: ObservationRows) -> pd.DataFrame:
    """Events from the visit node on the index axis (before the admission shift)."""
    rows = []
    columns = {"days_to_hospital_admission": "admission",
               "days_to_icu_admission": "icu_admission",
               "days_to_icu_discharge": "icu_release"}
    for case_id, row in _linked_rows(frame, link, known, "visit", ledger):
        uid = f"{NAME}:{case_id}"
        for column, event in columns.items():
            day = checked_number(ledger, row, column, uid)
            if day is not None:
                rows.append((uid, event, day))
        day = checked_number(ledger, row, "days_to_hospital_discharge", uid)
        died = bool(DEATH.search(row.get("discharge_type", "")))
        if day is not None:
            rows.append((uid, "death" if died else "discharge", day))
        elif died:
            rows.append((uid, "death", np.nan))
        observations.generic("visit", row, uid, day)
    return pd.DataFrame(rows, columns=EVENT_COLUMNS)


def measurement_events(frame: pd.DataFrame, link: pd.Series, known: set[str], ledger: Ledger,
                       observations: ObservationRows) -> pd.DataFrame:
    """COVID-19 test results -> ``covid_test_positive`` / ``_negative`` events; a result that
    is neither (indeterminate, not reported, no day), or of another test, is a ``covid_test``
    observation."""
    rows = []
    for case_id, row in _linked_rows(frame, link, known, "measurement", ledger):
        uid = f"{NAME}:{case_id}"
        where = str(row["_where"])
        name = row.get("test_name", "") or "COVID-19"
        result = row.get("test_result_text", "")
        day = checked_number(ledger, row, "test_days_from_index", uid)
        observations.generic("measurement", row, uid, day)
        event = {"positive": "covid_test_positive",
                 "negative": "covid_test_negative"}.get(result.lower())
        if name.upper() == "COVID-19" and event and day is not None:
            rows.append((uid, event, day))
            continue
        if name.upper() != "COVID-19":
            ledger.finding("unknown_value", f"test_name {describe_value(name)} is not "
                           "COVID-19 (the only test the MIDRC dictionary names); kept as an "
                           "observation", patient_uid=uid, path=where)
        canon = {v.lower(): v for v in _TEST_RESULTS}.get(result.lower())
        if result and canon is None:
            ledger.finding("unknown_value", f"test_result_text {describe_value(result)} is "
                           f"not one of {list(_TEST_RESULTS)}", patient_uid=uid, path=where)
        observations.add(uid, "covid_test", value=None if canon is None else canon.lower(),
                         value_raw=result or None, vocabulary=_TEST_RESULTS, index_day=day,
                         origin=f"{where} test_result_text")
    return pd.DataFrame(rows, columns=EVENT_COLUMNS)
