"""README's promises: two commands first; .ci/run runs exactly the test command."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.+?)\n```", text, flags=re.S)


def test_readme_opens_with_the_main_job_and_the_test_command():
    main_job, tests = _commands()[:2]
    assert "covidimg dashboard" in main_job and "pip install" in main_job
    assert "pytest" in tests and ".[test]" in tests


def test_ci_runs_exactly_the_readme_test_command():
    tests = _commands()[1].strip()
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert tests in ci_lines


def test_docs_link_to_the_data_dictionary():
    assert "docs/data-dictionary.md" in (ROOT / "README.md").read_text()
