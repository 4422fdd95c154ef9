"""A saved snapshot of what loading the demo and the real MHH data gives, to hold refactors to.

The snapshot is the loaders' output at a known commit, stored as Parquet under
``tests/snapshots/``. A refactor that moves code must leave it unchanged; a change that
deliberately alters the output (a fixed unit, a new column) rewrites it with::

    python -m tests.snapshot --write

and says in its commit message what changed and why.

Paths are written relative to the loaded root (``<root>/…``) so the snapshot does not depend on
where the files were written; rows are sorted so that it does not depend on walk order.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
SNAPSHOTS = HERE / "snapshots"
SHARED = Path(os.environ.get("COVIDIMG_SHARED", HERE.parents[1] / "shared"))
MHH_DIR = SHARED / "data" / "mhh"

#: Demo settings of the snapshot: every source, small enough to load in seconds.
DEMO_SEED = 0
DEMO_PATIENTS = 30

TABLES = ("patients", "images", "events", "labs", "files", "findings", "observations",
          "annotations", "provenance")
#: Columns left out of the snapshot because they change with every load.
VOLATILE = {"provenance": ("loaded_at", "covidimg_version")}


def normalized(table: pd.DataFrame, root: str) -> pd.DataFrame:
    """``table`` with ``root`` replaced by ``<root>`` in text and rows in a canonical order."""
    out = table.copy()
    prefixes = sorted({root, root.replace(os.sep, "/")}, key=len, reverse=True)
    for column in out.columns:
        values = out[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            if not pd.api.types.is_string_dtype(values.cat.categories.dtype):
                continue
            values = values.astype("string")
        elif not (pd.api.types.is_string_dtype(values.dtype) or values.dtype == object):
            continue
        text = values.astype("string")
        for prefix in prefixes:
            text = text.str.replace(prefix, "<root>", regex=False)
        out[column] = text
    out = out.reindex(sorted(out.columns), axis=1)
    if out.empty:
        return out.reset_index(drop=True)
    key = out.astype("string").fillna("<NA>").agg("\x1f".join, axis=1)
    return out.iloc[key.argsort(kind="stable").to_numpy()].reset_index(drop=True)


def demo_tables(folder: Path) -> dict[str, pd.DataFrame]:
    """Load a freshly written demo (every source) and return its normalized tables."""
    import covidimg as ci
    from covidimg.demo import generate_demo

    generate_demo(folder, seed=DEMO_SEED, n_patients=DEMO_PATIENTS)
    sources = sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name != "truth")
    cohort = ci.load({s: folder / s for s in sources}, progress=False)
    return {name: normalized(_stable(cohort, name), str(folder)) for name in TABLES}


def mhh_tables() -> dict[str, pd.DataFrame]:
    """Load the real Hannover data and return its normalized tables."""
    import covidimg as ci

    cohort = ci.load(MHH_DIR, progress=False)
    return {name: normalized(_stable(cohort, name), str(MHH_DIR)) for name in TABLES}


def _stable(cohort, name: str) -> pd.DataFrame:
    """Table ``name`` of ``cohort`` without the columns that change with every load."""
    return getattr(cohort, name).drop(columns=list(VOLATILE.get(name, ())))


def stored(kind: str) -> dict[str, pd.DataFrame]:
    """The saved snapshot ``kind`` (``demo`` or ``mhh``)."""
    return {name: pd.read_parquet(SNAPSHOTS / kind / f"{name}.parquet") for name in TABLES}


def as_stored(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` after a Parquet round trip, so it compares like for like with the snapshot."""
    import io

    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False)
    buffer.seek(0)
    return pd.read_parquet(buffer)


def _write(kind: str, tables: dict[str, pd.DataFrame]) -> None:
    target = SNAPSHOTS / kind
    target.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        table.to_parquet(target / f"{name}.parquet", index=False)
        print(f"{kind}/{name}: {len(table)} rows, {table.shape[1]} columns")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the saved snapshot")
    args = parser.parse_args(argv)
    if not args.write:
        parser.error("nothing to do: pass --write to rewrite the snapshot")
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as folder:
        os.environ["COVIDIMG_CACHE"] = cache
        _write("demo", demo_tables(Path(folder) / "demo"))
        _write("mhh", mhh_tables())
    return 0


if __name__ == "__main__":
    sys.exit(main())
