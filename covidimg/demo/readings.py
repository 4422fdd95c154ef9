"""Radiologists' readings planted in the NCCID demo's clinical records, with their truth.

NCCID's clinical form has ``CXR severity`` (1 mild, 2 moderate, 3 severe) and ``COVID CODE``
(the BSTI codes CVCX0-3) for the first CXR, dated by ``Date of 1st CXR`` (MM/DD/YYYY), and the
second CXR's severity under the misspelt key ``CXR severity 3`` with ``Date of 2nd CXR``.
:func:`plant_nccid_readings` writes them into a record (no random draws: the values follow the
patient's simulated severity, so the rest of the demo is unchanged) and returns the
annotations a loader must give: a ``score`` per severity and a ``label`` per code, on the
patient's one frontal radiograph of that day (NA when the day has none or several).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

__all__ = ["COVID_CODES", "SEVERITIES", "plant_nccid_readings"]

#: ``CXR severity`` code -> label.
SEVERITIES = {1: "mild", 2: "moderate", 3: "severe"}
#: BSTI COVID-19 CXR code -> label (``COVID CODE``).
COVID_CODES = {0: "normal", 1: "classic/probable", 2: "indeterminate", 3: "non-covid"}


def _us(date: dt.date) -> str:
    return f"{date.month:02d}/{date.day:02d}/{date.year}"


def plant_nccid_readings(record: dict[str, Any], pid: str, images: Sequence[dict[str, Any]],
                         severity: float, index: int) -> list[dict[str, Any]]:
    """Add CXR readings to ``record`` and return their truth (``annotations`` rows).

    Parameters
    ----------
    record
        The clinical record being written (changed in place).
    pid
        The patient's pseudonym.
    images
        The patient's images as the demo writer lists them (``image_uid``, ``modality``,
        ``view``, ``date``).
    severity
        The simulated disease severity (0-1) the CXR severity follows.
    index
        The patient's number in the demo: every fifth record from the second on has no
        ``Date of 1st CXR`` (the readings then have no day and no image); even ones write the
        code as ``CVCX<n>``, odd ones as the bare digit.
    """
    frontal = sorted((im for im in images if im["modality"] in ("CR", "DX")
                      and im["view"] != "LAT"), key=lambda im: (im["date"], im["image_uid"]))
    dates = sorted({im["date"] for im in frontal})
    if not dates:
        return []
    score = 1 + min(2, int(severity * 3))
    code = index % 4
    record["CXR severity"] = str(score)
    record["COVID CODE"] = f"CVCX{code}" if index % 2 == 0 else str(code)
    undated = index % 5 == 1
    if not undated:
        record["Date of 1st CXR"] = _us(dates[0])

    def image_on(date: dt.date | None) -> str | None:
        found = [im["image_uid"] for im in frontal if im["date"] == date]
        return found[0] if date is not None and len(found) == 1 else None

    first = None if undated else dates[0]
    truth = [
        {"annotation_uid": f"nccid:{pid}/CXR severity", "scheme": "nccid_cxr_severity",
         "kind": "score", "label": SEVERITIES[score], "score": float(score),
         "image_uid": image_on(first)},
        {"annotation_uid": f"nccid:{pid}/COVID CODE", "scheme": "nccid_covid_code",
         "kind": "label", "label": COVID_CODES[code], "score": float("nan"),
         "image_uid": image_on(first)},
    ]
    if len(dates) > 1:
        second = 1 + min(2, int(severity * 3 + 1))
        record["CXR severity 3"] = str(second)      # the form's typo for the 2nd CXR
        record["Date of 2nd CXR"] = _us(dates[1])
        truth.append({"annotation_uid": f"nccid:{pid}/CXR severity 3",
                      "scheme": "nccid_cxr_severity", "kind": "score",
                      "label": SEVERITIES[second], "score": float(second),
                      "image_uid": image_on(dates[1])})
    for row in truth:
        row.update(patient_uid=f"nccid:{pid}", source="nccid", geometry=None, instance=None,
                   reader=None)
    return truth
