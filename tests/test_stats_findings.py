"""The data-quality findings table of the dashboard's Summary tab, computed in stats."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from covidimg.stats import FindingCodes, findings_table


def test_findings_table_counts_per_kind_with_its_sources() -> None:
    findings = pd.DataFrame({"kind": ["dup", "dup", "unit", "dup", "bad_date", "unit"],
                             "source": ["mhh", "nccid", "crdw", "mhh", "tcia", "crdw"],
                             "detail": [""] * 6})
    table = findings_table(findings)
    # most frequent kind first, each with the sources that reported it (sorted)
    assert table.to_dict("list") == {"kind": ["dup", "unit", "bad_date"],
                                     "findings": [3, 2, 1],
                                     "sources": ["mhh, nccid", "crdw", "tcia"]}
    codes = FindingCodes.of(findings)
    subset = codes.table(np.array([1, 4]))
    assert subset.to_dict("list") == {"kind": ["bad_date", "dup"], "findings": [1, 1],
                                      "sources": ["tcia", "nccid"]}
    assert codes.table(np.zeros(6, dtype=bool)).empty
    assert list(findings_table(findings.iloc[:0]).columns) == ["kind", "findings", "sources"]
    with pytest.raises(ValueError, match=r"no column\(s\) \['source'\]"):
        findings_table(findings[["kind"]])


def test_findings_table_of_the_demo_counts_every_finding(demo_cohort) -> None:
    table = findings_table(demo_cohort)
    assert table["findings"].sum() == len(demo_cohort.findings)
    assert set(table["kind"]) == set(demo_cohort.findings["kind"].astype(str))
    assert (np.diff(table["findings"]) <= 0).all()
