"""The figures for docs/reliability.md: inputs per category, crashes, files unaccounted for."""

from __future__ import annotations

import json
from pathlib import Path

from .corpus import all_cases
from .tally import format_table, tally


def test_tally_counts_a_sample_and_writes_json(pristine: dict[str, Path],
                                               tmp_path: Path) -> None:
    # one case per category and source keeps this quick; `python -m tests.adversarial.tally`
    # runs the whole corpus
    sample, seen = [], set()
    for case in all_cases():
        if (case.category, case.source) not in seen:
            seen.add((case.category, case.source))
            sample.append(case)
    table, failures = tally(sample, pristine, tmp_path / "work")
    out = tmp_path / "adversarial-tally.json"
    out.write_text(json.dumps(table, indent=2))
    total = table[-1]
    assert total["category"] == "total"
    assert total["inputs"] + total["not applicable"] == len(sample)
    assert total["crashes"] == 0 and total["files unaccounted for"] == 0, failures
    assert total["writes outside cache"] == 0, failures
    assert json.loads(out.read_text()) == table
    assert "category" in format_table(table)
