"""NCCID's site-specific units: the unit each submitting trust reports an analyte in, the unit
assumed when a trust is not in the table, and the plausible range of each converted value.
The factors themselves live in :mod:`covidimg.units`.

The table is NHSX's own ``NCCID_site_specific_units.xlsx`` (nhsx/covid-chest-imaging-database,
``docs/public/docs/``, MIT licence, Copyright (c) 2020 NHSX), shipped as package data in
``covidimg/data/nccid_site_units.csv`` with its licence beside it: six named trusts, one unit
per (trust, field) cell, spelled as NHSX wrote them. ``SubmittingCentre`` values are matched
on :func:`normalize_site` (case, whitespace and apostrophe variants: ``Sheffield Children’s``,
``sheffield childrens``).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from importlib import resources

import pandas as pd

from covidimg import units

__all__ = ["DEFAULT_UNITS", "PLAUSIBLE", "SITE_DEPENDENT", "SITE_UNITS", "SITE_UNITS_FIELDS",
           "normalize_site", "read_site_units", "site_units_table"]

#: Field names of NHSX's site-units sheet -> covidimg analyte. ``PaO2/O2 saturation`` is one
#: row for both: a trust reporting it in ``%`` sends a saturation, which is not a pressure and
#: cannot become ``po2`` (the loader keeps it as an observation and reports it).
SITE_UNITS_FIELDS: dict[str, str] = {
    "PaO2/O2 saturation": "po2", "CRP": "crp", "D-dimer": "d_dimer", "Fibrinogen": "fibrinogen",
    "Ferritin": "ferritin", "Urea": "urea", "Creatinine": "creatinine",
    "Troponin I": "troponin_i", "Troponin T": "troponin_t",
}

_APOSTROPHES = re.compile("['`\u2018\u2019\u02bc\u2032\u00b4]")


def normalize_site(name: object) -> str:
    """A trust name reduced for matching: case folded, apostrophes removed, ``&`` as ``and``,
    whitespace collapsed.

    Examples
    --------
    >>> from covidimg.sources.nccid.site_units import normalize_site
    >>> normalize_site("  Sheffield Children’s NHS  Foundation Trust ")
    'sheffield childrens nhs foundation trust'
    >>> normalize_site("Sheffield Children's NHS Foundation Trust") == \\
    ...     normalize_site("SHEFFIELD CHILDRENS NHS FOUNDATION TRUST")
    True
    """
    text = _APOSTROPHES.sub("", str(name)).replace("&", " and ")
    return " ".join(text.casefold().split())


def read_site_units(text: str) -> dict[str, dict[str, str]]:
    """Parse the shipped ``trust,field,unit`` table (``#`` lines are comments).

    Raises
    ------
    ValueError
        If a row names a field that is not in :data:`SITE_UNITS_FIELDS`.
    """
    lines = [line for line in io.StringIO(text) if not line.startswith("#")]
    table: dict[str, dict[str, str]] = {}
    for row in csv.DictReader(lines):
        field = row["field"]
        if field not in SITE_UNITS_FIELDS:
            raise ValueError(f"site-units table: field {field!r} is not one of "
                             f"{sorted(SITE_UNITS_FIELDS)}")
        table.setdefault(row["trust"], {})[SITE_UNITS_FIELDS[field]] = row["unit"]
    return table


#: Site-specific units, ``{trust: {analyte: unit}}``, as NHSX published them (see the module
#: docstring). A trust's blank cell is absent here: its analyte uses :data:`DEFAULT_UNITS`.
#: Pass ``site_units={"<SubmittingCentre>": {"d_dimer": "ng/mL", ...}}`` to
#: :func:`covidimg.sources.nccid.load` to use another table.
SITE_UNITS: dict[str, dict[str, str]] = read_site_units(
    resources.files("covidimg.data").joinpath("nccid_site_units.csv").read_text("utf-8"))

#: The unit a value is assumed to be in when its trust is not in :data:`SITE_UNITS` (or has no
#: unit for the analyte) and the value names no unit: the NCCID template's unit (the "Expected
#: Values" of NHSX's schema-compliance workbook; blood gases in kPa, as 5 of the 6 trusts).
DEFAULT_UNITS: dict[str, str] = {
    "crp": "mg/L", "d_dimer": "mg/L", "lymphocytes": "10^9/L", "wcc": "10^9/L",
    "platelets": "10^9/L", "ferritin": "ug/L", "urea": "mmol/L", "creatinine": "umol/L",
    "troponin_i": "ng/L", "troponin_t": "ng/L", "fibrinogen": "g/L", "po2": "kPa", "fio2": "%",
}


def _site_dependent(table: Mapping[str, Mapping[str, str]]) -> tuple[str, ...]:
    spelled: dict[str, set[str]] = {}
    for site_units in table.values():
        for analyte, unit in site_units.items():
            spelled.setdefault(analyte, set()).add(units.normalize_unit(unit))
    return tuple(sorted(a for a, found in spelled.items() if len(found) > 1))


#: Analytes whose unit differs between the trusts of :data:`SITE_UNITS` (d-dimer, PaO2, urea,
#: troponin I): a value from a trust without a unit for it is converted from
#: :data:`DEFAULT_UNITS` and reported (``unit_assumed``).
SITE_DEPENDENT: tuple[str, ...] = _site_dependent(SITE_UNITS)

#: Wide plausibility ranges in the canonical unit; a converted value outside is kept but
#: reported (``implausible_value``), which usually means the site's unit is wrong. Urea below
#: 0.5 mmol/L is flagged so that a urea the table says is in ng/mL (Imperial) but was typed in
#: mmol/L (5.3 -> 0.00009 mmol/L) does not pass unnoticed.
PLAUSIBLE: dict[str, tuple[float, float]] = {
    "crp": (0.0, 700.0), "d_dimer": (0.0, 150.0), "lymphocytes": (0.0, 100.0),
    "wcc": (0.0, 500.0), "platelets": (0.0, 3000.0), "ferritin": (0.0, 100000.0),
    "urea": (0.5, 150.0), "creatinine": (0.0, 3000.0), "troponin_i": (0.0, 500000.0),
    "troponin_t": (0.0, 100000.0), "fibrinogen": (0.0, 20.0), "po2": (5.0, 800.0),
    "fio2": (21.0, 100.0),
}


def site_units_table(site_units: Mapping[str, Mapping[str, str]] | None = None) -> pd.DataFrame:
    """The site unit table as a DataFrame: one row per trust, one column per analyte.

    Examples
    --------
    >>> from covidimg.sources.nccid.site_units import site_units_table
    >>> site_units_table().loc["Cambridge University Hospitals NHS Foundation Trust", "d_dimer"]
    'ng/mL'
    """
    table = SITE_UNITS if site_units is None else site_units
    frame = pd.DataFrame.from_dict({k: dict(v) for k, v in table.items()}, orient="index")
    frame.index.name = "SubmittingCentre"
    return frame
