"""Strict mode, and the schema's list of finding kinds."""

from __future__ import annotations

from pathlib import Path

import pytest

import covidimg as ci
from covidimg import schema
from covidimg.demo import available_sources, generate_demo
from covidimg.errors import StrictModeError
from covidimg.imaging.thumbnails import FINDING_KIND as THUMBNAIL_FINDING_KIND
from covidimg.sources._engine.ledger import Ledger

from .harness import fresh_copy


def test_every_finding_kind_a_demo_load_emits_is_declared(tmp_path: Path) -> None:
    """Every demo source, loaded by the real loaders: every kind met is declared (the ledger
    refuses the others, so an undeclared kind would already have failed the load)."""
    generate_demo(tmp_path, n_patients=12)
    sources = available_sources()
    cohort = ci.load({source: tmp_path / source for source in sources}, progress=False)
    emitted = set(cohort.findings["kind"].astype(str))
    assert not emitted - set(schema.FINDING_KINDS), "add these kinds to schema.FINDING_KINDS"
    # the demo plants NCCID's value repairs and unit problems, which were once undeclared
    assert {"recovered_value", "unit_assumed", "unconvertible_unit"} <= emitted
    assert set(cohort.findings["source"].astype(str)) == set(sources)


def test_an_undeclared_finding_kind_is_refused() -> None:
    ledger = Ledger("mhh")
    with pytest.raises(ValueError, match=r"finding kind 'odd_value' is not declared in "
                                         r"covidimg\.schema\.FINDING_KINDS"):
        ledger.finding("odd_value", "3 is odd", path="data.csv")
    assert ledger.findings_frame().empty
    ledger.finding("unparseable_value", "'x' is not a number", path="data.csv:2")
    assert ledger.findings_frame()["kind"].tolist() == ["unparseable_value"]


def test_every_declared_kind_has_a_severity_and_a_description() -> None:
    assert THUMBNAIL_FINDING_KIND in schema.FINDING_KINDS
    for name, kind in schema.FINDING_KINDS.items():
        assert kind.name == name
        assert kind.severity in schema.FINDING_SEVERITY, name
        assert len(kind.description.split()) >= 4, name


def test_the_data_dictionary_lists_every_kind() -> None:
    rows = set(schema.data_dictionary_markdown().splitlines())
    for kind in schema.FINDING_KINDS.values():
        assert f"| `{kind.name}` | {kind.severity} | {kind.description} |" in rows


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
