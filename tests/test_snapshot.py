"""Loading the demo and the real MHH data gives the tables of the saved snapshot.

The snapshot (``tests/snapshots/``, written by ``python -m tests.snapshot --write``) holds the
loaders' output; moving code must not change it. A deliberate change of output rewrites it in
the same commit, saying why.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import snapshot


def _compare(kind: str, tables: dict[str, pd.DataFrame]) -> None:
    expected = snapshot.stored(kind)
    for name in snapshot.TABLES:
        got = snapshot.as_stored(tables[name])
        want = expected[name]
        assert list(got.columns) == list(want.columns), f"{kind}.{name}: columns differ"
        assert len(got) == len(want), f"{kind}.{name}: {len(got)} rows, snapshot {len(want)}"
        pd.testing.assert_frame_equal(got, want, check_dtype=True, obj=f"{kind}.{name}")


@pytest.mark.slow
def test_demo_load_matches_snapshot(tmp_path: Path) -> None:
    _compare("demo", snapshot.demo_tables(tmp_path / "demo"))


def test_real_mhh_load_matches_snapshot(mhh_dir: Path) -> None:
    """Skips (the ``mhh_dir`` fixture) when the real data is absent."""
    _compare("mhh", snapshot.mhh_tables())
