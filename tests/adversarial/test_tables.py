"""CSV/TSV, JSON and workbooks: missing/extra/renamed columns, wrong types, empty files,
unexpected encodings and binary junk."""

from __future__ import annotations

import pytest

from .corpus import table_cases
from .harness import SOURCES

CASES = [c for s in SOURCES for c in table_cases(s)]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.category}-{c.id}" for c in CASES])
def test_table_case(case, check_case) -> None:  # type: ignore[no-untyped-def]
    check_case(case)
