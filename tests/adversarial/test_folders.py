"""Folders: empty roots and folders, symlink loops, dangling links, FIFOs, unreadable files,
very long and undecodable names, hidden system files."""

from __future__ import annotations

from pathlib import Path

import pytest

from covidimg.sources._engine.ledger import Ledger, walk

from .corpus import folder_cases
from .harness import SOURCES, entries_under

CASES = [c for s in SOURCES for c in folder_cases(s)]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_folder_case(case, check_case) -> None:  # type: ignore[no-untyped-def]
    check_case(case)


def test_walk_records_every_odd_entry(tmp_path: Path) -> None:
    (tmp_path / "ok.csv").write_text("a\n1\n")
    (tmp_path / "dangling.csv").symlink_to(tmp_path / "gone.csv")
    (tmp_path / "loop").symlink_to(tmp_path)
    (tmp_path / "x1").symlink_to(tmp_path / "x2")
    (tmp_path / "x2").symlink_to(tmp_path / "x1")
    ledger = Ledger("mhh", tmp_path)
    seen = [name for _, _, names in walk(tmp_path, ledger) for name in names]
    assert seen == ["ok.csv"]
    recorded = set(ledger.files_frame()["path"])
    assert recorded | {str(tmp_path / "ok.csv")} == set(entries_under(tmp_path))
    assert sorted(ledger.findings_frame()["kind"]) == [
        "unreadable_file", "unreadable_file", "unreadable_file", "unsafe_link"]
