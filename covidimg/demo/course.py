"""Synthetic hospital courses: the ground truth every demo source layout is rendered from.

Distributions are modelled on the real Hannover data (``shared/data/mhh``): about two thirds
men, 1–22 exams per patient (median 2), about 40 % with an ICU stay (median 11 days, up to ~50),
about 7–10 % deaths, exams from a few days before to weeks after admission, and lab values on
the scale the MHH readme gives. Days are on the harmonized axis: day 0 = hospital admission.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["LAB_MODELS", "Course", "simulate_courses"]

# analyte -> (log-median at severity 0, log-median gain at severity 1, log-sd)
LAB_MODELS: dict[str, tuple[float, float, float]] = {
    "crp": (np.log(12.0), np.log(12.0), 0.8),
    "d_dimer": (np.log(0.8), np.log(5.0), 0.7),
    "factor_xiii": (np.log(95.0), np.log(0.7), 0.2),
    "ldh": (np.log(260.0), np.log(2.2), 0.3),
    "lymphocytes": (np.log(1.4), np.log(0.45), 0.4),
    "neutrophils": (np.log(4.5), np.log(2.0), 0.4),
    "po2": (np.log(85.0), np.log(0.75), 0.25),
    "pco2": (np.log(40.0), np.log(1.1), 0.12),
}
#: Probability that an exam has each lab near it (the MHH rows are sparse).
LAB_PROBABILITY = {"crp": 0.9, "d_dimer": 0.45, "factor_xiii": 0.3, "ldh": 0.5,
                   "lymphocytes": 0.6, "neutrophils": 0.6, "po2": 0.7, "pco2": 0.7}


@dataclass(eq=False)
class Course:
    """The simulated truth: patients, their exams, events and lab draws (harmonized day axis).

    Attributes
    ----------
    patients
        ``pid, sex (F/M), age (years), icu, died, severity (0–1)``.
    exams
        ``pid, exam, day, modality, view, severity`` (severity at the time of the exam).
    events
        ``pid, event, day`` with events admission, icu_admission, icu_release, death, discharge,
        covid_test_positive.
    labs
        ``pid, exam, analyte, value, day, offset`` (true continuous values; ``offset`` = days
        from the exam to the draw).
    """

    patients: pd.DataFrame
    exams: pd.DataFrame
    events: pd.DataFrame
    labs: pd.DataFrame


def _hex_ids(rng: np.random.Generator, n: int, taken: set[str]) -> list[str]:
    out = []
    while len(out) < n:
        candidate = f"{int(rng.integers(0, 2**32)):08x}"
        if candidate not in taken:
            taken.add(candidate)
            out.append(candidate)
    return out


def simulate_courses(
    rng: np.random.Generator,
    n_patients: int = 40,
    *,
    modalities: tuple[str, ...] = ("CR", "DX"),
    modality_p: tuple[float, ...] = (0.87, 0.13),
    max_exams: int = 22,
) -> Course:
    """Simulate ``n_patients`` hospital courses.

    Parameters
    ----------
    rng
        Random generator; the same seed gives the same courses.
    n_patients
        Number of patients.
    modalities, modality_p
        Exam modalities and their probabilities (MHH: CR 87 %, DX 13 %).
    max_exams
        Upper bound of exams per patient.

    Examples
    --------
    >>> import numpy as np
    >>> from covidimg.demo.course import simulate_courses
    >>> course = simulate_courses(np.random.default_rng(1), n_patients=5)
    >>> sorted(course.patients.columns)
    ['age', 'died', 'icu', 'pid', 'severity', 'sex']
    """
    taken: set[str] = set()
    pids = _hex_ids(rng, n_patients, taken)
    severity = rng.beta(1.6, 2.4, size=n_patients)
    icu = rng.random(n_patients) < 0.15 + 0.6 * severity
    died = rng.random(n_patients) < np.where(icu, 0.05 + 0.3 * severity, 0.02)
    sex = np.where(rng.random(n_patients) < 0.66, "M", "F")
    age = np.clip(np.round(rng.normal(64, 15, n_patients)), 18, 97)
    patients = pd.DataFrame({"pid": pids, "sex": sex, "age": age.astype(float), "icu": icu,
                             "died": died, "severity": severity})

    events, exams, labs = [], [], []
    for i, pid in enumerate(pids):
        stay = float(np.clip(np.round(rng.gamma(2.0, 6.0 + 10 * severity[i])), 2, 90))
        events.append((pid, "admission", 0.0))
        events.append((pid, "covid_test_positive", float(rng.integers(-3, 2))))
        icu_in = icu_out = None
        if icu[i]:
            icu_in = float(rng.integers(0, 6))
            icu_len = float(np.clip(np.round(rng.gamma(2.0, 6.0)), 0, 49))
            icu_out = icu_in + icu_len
            stay = max(stay, icu_out + float(rng.integers(1, 8)))
            events.append((pid, "icu_admission", icu_in))
        end = stay
        if died[i]:
            death = float(rng.integers(int(icu_in or 0) + 1, int(stay) + 2))
            end = death
            events.append((pid, "death", death))
            if icu_out is not None and icu_out >= death:
                icu_out = None  # died in the ICU: no release
        else:
            events.append((pid, "discharge", stay))
        if icu_out is not None:
            events.append((pid, "icu_release", icu_out))
        n_exams = int(min(max_exams, rng.geometric(0.42)))
        first = float(rng.choice([-3, -2, -1, 0, 0, 0, 0, 1, 1, 2]))
        gaps = rng.integers(1, 6, size=n_exams - 1) if n_exams > 1 else np.array([], int)
        days = first + np.concatenate([[0.0], np.cumsum(gaps)])
        days = days[days <= end]
        modality = rng.choice(modalities, size=len(days), p=modality_p)
        in_icu = np.zeros(len(days), bool) if icu_in is None else (
            (days >= icu_in) & (days <= (icu_out if icu_out is not None else end)))
        view = np.where(in_icu | (rng.random(len(days)) < 0.7), "AP", "PA")
        for k, day in enumerate(days):
            # Severity peaks about a week in, then recovers (unless the patient dies).
            peak = 1.0 - abs(day - 7.0) / 20.0 if not died[i] else min(1.0, 0.6 + day / 20.0)
            sev = float(np.clip(severity[i] * (0.5 + 0.6 * peak), 0.0, 1.0))
            exam = f"{pid}-{k}"
            exams.append((pid, exam, float(day), str(modality[k]), str(view[k]), sev))
            for analyte, (base, gain, sd) in LAB_MODELS.items():
                if rng.random() > LAB_PROBABILITY[analyte]:
                    continue
                offset = float(rng.choice([0, 0, 0, 0, -1, -1, -2, 1, -3, 2, -7, 5]))
                value = float(np.exp(base + sev * gain + rng.normal(0, sd)))
                labs.append((pid, exam, analyte, value, float(day + offset), offset))
    return Course(
        patients=patients,
        exams=pd.DataFrame(exams, columns=["pid", "exam", "day", "modality", "view",
                                           "severity"]),
        events=pd.DataFrame(events, columns=["pid", "event", "day"]),
        labs=pd.DataFrame(labs, columns=["pid", "exam", "analyte", "value", "day", "offset"]),
    )
