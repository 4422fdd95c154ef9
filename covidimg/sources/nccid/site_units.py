"""NCCID's site-specific units: the unit each submitting centre reports an analyte in, the unit
assumed when a centre is not in the table, and the plausible range of each converted value.
The factors themselves live in :mod:`covidimg.units`.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

__all__ = ["DEFAULT_UNITS", "PLAUSIBLE", "SITE_DEPENDENT", "SITE_UNITS", "site_units_table"]

#: The unit a value is assumed to be in when its site is not in :data:`SITE_UNITS` and the
#: value names no unit: the NCCID template's unit, which is UK practice (blood gases in kPa).
DEFAULT_UNITS: dict[str, str] = {
    "crp": "mg/L", "d_dimer": "mg/L", "lymphocytes": "10^9/L", "wcc": "10^9/L",
    "platelets": "10^9/L", "ferritin": "ug/L", "urea": "mmol/L", "creatinine": "umol/L",
    "troponin_i": "ng/L", "troponin_t": "ng/L", "fibrinogen": "g/L", "po2": "kPa", "fio2": "%",
}

#: Analytes whose unit differs between sites (NHSX ``NCCID_site_specific_units.xlsx``): a value
#: from a site missing from the table is converted from :data:`DEFAULT_UNITS` and reported.
SITE_DEPENDENT: tuple[str, ...] = ("d_dimer", "po2", "urea", "troponin_i")

#: Site-specific units, keyed on ``SubmittingCentre`` (matched case-insensitively); analytes
#: not listed use :data:`DEFAULT_UNITS`. NHSX keeps the real table (six trusts) in
#: ``NCCID_site_specific_units.xlsx``, which is not public; the rows below are the pseudonymous
#: centres of nccid-cleaning's example data, which the covidimg demo also uses. Pass
#: ``site_units={"<SubmittingCentre>": {"d_dimer": "ng/mL", ...}}`` to
#: :func:`covidimg.sources.nccid.load` with the rows of your copy of the xlsx.
SITE_UNITS: dict[str, dict[str, str]] = {
    "Centre A": {"d_dimer": "ng/mL", "po2": "kPa", "urea": "mmol/L", "troponin_i": "ng/L"},
    "Centre B": {"d_dimer": "mg/L", "po2": "mmHg", "urea": "mmol/L", "troponin_i": "ng/mL"},
    "Centre C": {"d_dimer": "ug/L", "po2": "kPa", "urea": "mmol/L", "troponin_i": "ng/L"},
    "Centre D": {"d_dimer": "ng/mL", "po2": "kPa", "urea": "ng/mL", "troponin_i": "ng/L"},
    "Centre E": {"d_dimer": "mg/L", "po2": "kPa", "urea": "mmol/L", "troponin_i": "ng/mL"},
    "Centre F": {"d_dimer": "ug/L", "po2": "%", "urea": "mmol/L", "troponin_i": "ng/L"},
}

#: Wide plausibility ranges in the canonical unit; a converted value outside is kept but
#: reported (``implausible_value``), which usually means the site's unit is wrong.
PLAUSIBLE: dict[str, tuple[float, float]] = {
    "crp": (0.0, 700.0), "d_dimer": (0.0, 150.0), "lymphocytes": (0.0, 100.0),
    "wcc": (0.0, 500.0), "platelets": (0.0, 3000.0), "ferritin": (0.0, 100000.0),
    "urea": (0.0, 150.0), "creatinine": (0.0, 3000.0), "troponin_i": (0.0, 500000.0),
    "troponin_t": (0.0, 100000.0), "fibrinogen": (0.0, 20.0), "po2": (5.0, 800.0),
    "fio2": (21.0, 100.0),
}


def site_units_table(site_units: Mapping[str, Mapping[str, str]] | None = None) -> pd.DataFrame:
    """The site unit table as a DataFrame: one row per site, one column per analyte.

    Examples
    --------
    >>> from covidimg.sources.nccid.site_units import site_units_table
    >>> site_units_table().loc["Centre A", "d_dimer"]
    'ng/mL'
    """
    table = SITE_UNITS if site_units is None else site_units
    frame = pd.DataFrame.from_dict({k: dict(v) for k, v in table.items()}, orient="index")
    frame.index.name = "SubmittingCentre"
    return frame
