"""Fixtures of the adversarial corpus: one pristine demo tree per source, written once."""

from __future__ import annotations

from pathlib import Path

import pytest

from .harness import write_pristine
from .tally import IS_ROOT, problems, run_case


@pytest.fixture(scope="session")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Source -> an undamaged demo tree (never modified; cases work on copies)."""
    return write_pristine(tmp_path_factory.mktemp("pristine"))


@pytest.fixture
def check_case(pristine: dict[str, Path], tmp_path: Path):  # type: ignore[no-untyped-def]
    """Run one case and assert it was handled: no crash, every file accounted for, nothing
    written outside the cache, and the damage reported as the case expects."""
    def run(case):  # type: ignore[no-untyped-def]
        if case.needs_non_root and IS_ROOT:
            pytest.skip("running as root: file permissions do not stop root from reading, so "
                        "an unreadable file cannot be made")
        outcome = run_case(case, pristine[case.source], tmp_path)
        if outcome is None:
            pytest.skip(f"{case.id}: the damage does not apply to this source's demo file")
        wrong = problems(case, outcome)
        assert not wrong, "\n".join(wrong)
        return outcome
    return run
