"""Strict mode, and the schema's list of finding kinds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import covidimg as ci
from covidimg import schema
from covidimg.errors import StrictModeError

from .harness import fresh_copy

PACKAGE = Path(ci.__file__).parent


def test_every_finding_kind_written_is_documented() -> None:
    written = set()
    for path in PACKAGE.rglob("*.py"):
        written |= set(re.findall(r'finding\(\s*"([a-z_0-9]+)"', path.read_text()))
    assert written, "no ledger.finding calls found"
    undocumented = sorted(written - set(schema.FINDING_KINDS))
    assert not undocumented, f"add these kinds to schema.FINDING_KINDS: {undocumented}"
    assert {k.severity for k in schema.FINDING_KINDS.values()} <= set(schema.FINDING_SEVERITY)


def test_strict_raises_on_the_first_error_and_names_the_file(pristine: dict[str, Path],
                                                              tmp_path: Path) -> None:
    root = fresh_copy(pristine["midrc"], tmp_path)
    (root / "visit.tsv").write_bytes(b"\x00\x01binary")
    lenient = ci.load({"midrc": root}, progress=False)
    assert "visit.tsv" in " ".join(lenient.findings["path"].dropna())
    with pytest.raises(StrictModeError, match="visit.tsv") as err:
        ci.load({"midrc": root}, progress=False, strict=True)
    assert err.value.finding["kind"] == "unreadable_file"
    assert isinstance(err.value, ci.LoadError)


def test_strict_ignores_warnings_and_corrections(pristine: dict[str, Path],
                                                tmp_path: Path) -> None:
    root = fresh_copy(pristine["mhh"], tmp_path)
    cohort = ci.load({"mhh": root}, progress=False)
    severities = {schema.finding_severity(k) for k in cohort.findings["kind"].astype(str)}
    assert "error" not in severities and severities, "the MHH demo has only warnings"
    strict = ci.load({"mhh": root}, progress=False, strict=True)
    assert len(strict.findings) == len(cohort.findings)
