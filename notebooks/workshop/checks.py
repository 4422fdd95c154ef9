"""Answer checks for the workshop notebooks, against the truth the demo generator wrote.

The demo cohort is written by :func:`covidimg.demo.generate_demo`, which records the truth it
encoded (patients, images, events, true lab values, planted problems). The checks compare an
answer with that truth — not with the output of the covidimg function the exercise asks you to
use — so a check passing means the analysis recovered what was really in the data.

``check(exercise, answer)`` returns a :class:`Result` that is true when the answer is right and
shows as a one-line verdict; it never raises, so an unsolved notebook still runs top to bottom.
``check(..., strict=True)`` raises ``AssertionError`` on a wrong answer (for the solutions).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import pandas as pd

from covidimg.demo import load_demo_truth

__all__ = ["EXERCISES", "Result", "check", "truth"]


class Result:
    """The verdict of :func:`check`: true when correct, displayed as a one-line message."""

    def __init__(self, ok: bool, message: str) -> None:
        self.ok = ok
        self.message = message

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        return self.message


@lru_cache(maxsize=1)
def truth() -> dict[str, pd.DataFrame]:
    """The demo's truth tables (all sources concatenated), for the default ``load_demo()``."""
    truths = load_demo_truth()
    tables = {}
    for name in ("patients", "images", "events", "labs", "findings", "annotations"):
        parts = [getattr(t, name).assign(source=source) for source, t in truths.items()]
        tables[name] = pd.concat(parts, ignore_index=True)
    return tables


def _flag(series: pd.Series) -> pd.Series:
    return series.astype("boolean").fillna(False).astype(bool)


def _icu_patients() -> int:
    return int(_flag(truth()["patients"]["icu"]).sum())


def _tcia_ct() -> int:
    images = truth()["images"]
    return int(((images["source"] == "tcia") & (images["modality"] == "CT")).sum())


def _mhh_first_week() -> int:
    images = truth()["images"]
    return int(((images["source"] == "mhh") & images["day"].between(0, 7)).sum())


def _mhh_icu_by_day_2() -> int:
    events = truth()["events"]
    icu = events[(events["source"] == "mhh") & (events["event"] == "icu_admission")]
    return int(icu.loc[icu["day"] <= 2, "patient_uid"].nunique())


def _most_left_censored() -> str:
    labs = truth()["labs"]
    return str(labs[labs["censor"] == "left"]["analyte"].value_counts().idxmax())


def _true_median_first_crp_mhh() -> float:
    labs = truth()["labs"]
    crp = labs[(labs["source"] == "mhh") & (labs["analyte"] == "crp")]
    first = crp.sort_values("day", kind="stable").drop_duplicates("patient_uid")
    return float(first["value"].median())


def _largest_ct() -> tuple[set[str], int]:
    images = truth()["images"].dropna(subset=["n_instances"])
    most = int(images["n_instances"].max())
    return set(images.loc[images["n_instances"] == most, "image_uid"]), most


def _icu_deaths() -> int:
    patients = truth()["patients"]
    return int((_flag(patients["icu"]) & _flag(patients["died"])).sum())


def _crdw_duplicate_exams() -> int:
    findings = truth()["findings"]
    return int(((findings["source"] == "crdw") & (findings["kind"] == "duplicate_exam")).sum())


def _typical_appearance_patients() -> int:
    notes = truth()["annotations"]
    return int(notes.loc[notes["label"] == "Typical Appearance", "patient_uid"].nunique())


def _is_median_ci(answer: Any) -> tuple[bool, str]:
    estimate, low, high = (float(x) for x in answer)
    true = _true_median_first_crp_mhh()
    if not low < estimate < high:
        return False, "the estimate should lie inside its confidence interval"
    if not low <= true <= high:
        return False, "the true median is outside your interval; check the analysis"
    return True, f"the true median ({true:.1f} mg/L) lies in your interval"


def _is_largest_ct(answer: Any) -> tuple[bool, str]:
    uid, n = answer
    uids, most = _largest_ct()
    if int(n) != most:
        return False, f"{n} slices is not the largest series"
    if uid not in uids:
        return False, "that image_uid is not a series with the most slices"
    return True, ""


#: exercise id -> (question, how to judge an answer)
EXERCISES: dict[str, tuple[str, Any]] = {
    "1.1": ("patients admitted to the ICU", _icu_patients),
    "1.2": ("CT exams from TCIA", _tcia_ct),
    "1.3": ("MHH exams in the first week (days 0-7)", _mhh_first_week),
    "2.1": ("MHH patients in the ICU by day 2", _mhh_icu_by_day_2),
    "2.2": ("analyte with the most values below the detection limit", _most_left_censored),
    "2.3": ("median first CRP of MHH patients, with its 95% CI", _is_median_ci),
    "3.1": ("the CT series with the most slices", _is_largest_ct),
    "3.2": ("deaths among ICU patients", _icu_deaths),
    "3.3": ("CRDW exam zips dropped as duplicate copies", _crdw_duplicate_exams),
    "4.1": ("patients with a Typical Appearance annotation", _typical_appearance_patients),
}


def _unsolved(answer: Any) -> bool:
    if answer is Ellipsis or answer is None:
        return True
    if isinstance(answer, (tuple, list)):
        return any(_unsolved(a) for a in answer)
    return False


def check(exercise: str, answer: Any, *, strict: bool = False) -> Result:
    """Judge ``answer`` to ``exercise`` against the demo's truth.

    Parameters
    ----------
    exercise
        The exercise id, e.g. ``"1.1"`` (see :data:`EXERCISES`).
    answer
        Your answer; ``...`` (or ``None``) means "not yet solved".
    strict
        Raise ``AssertionError`` unless the answer is correct.

    Returns
    -------
    Result
        True when correct; its display is the verdict.

    Examples
    --------
    >>> check("1.1", ...)                                   # doctest: +SKIP
    1.1 (patients admitted to the ICU): not yet solved - replace ... with your answer
    """
    result = _judge(exercise, answer)
    if strict and not result:
        raise AssertionError(result.message)
    return result


def _judge(exercise: str, answer: Any) -> Result:
    if exercise not in EXERCISES:
        return Result(False, f"unknown exercise {exercise!r}; exercises are {sorted(EXERCISES)}")
    question, judge = EXERCISES[exercise]
    label = f"{exercise} ({question})"
    if _unsolved(answer):
        return Result(False, f"{label}: not yet solved - replace ... with your answer")
    try:
        if judge in (_is_median_ci, _is_largest_ct):
            ok, note = judge(answer)
        else:
            expected = judge()
            if isinstance(expected, str):
                ok = str(answer).strip().lower() == expected
            else:
                ok = math.isclose(float(answer), float(expected))
            note = "" if ok else f"{answer!r} is not right yet"
    except (TypeError, ValueError) as exc:
        ok, note = False, f"could not read the answer {answer!r} ({exc})"
    return Result(ok, f"{label}: {'correct' if ok else 'not yet'}" + (f" - {note}" if note else ""))
