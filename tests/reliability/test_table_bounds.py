"""Text tables are read within bounds: a header with too many columns is refused before the
table is parsed, in linear time; too many cells, or a field longer than the limit, gives a
finding naming the file (and the line) instead of an exception out of ``ci.load``."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import pytest

import covidimg as ci
from covidimg.demo import generate_demo
from covidimg.errors import TableReadError
from covidimg.sources._engine import ledger as ledger_mod
from covidimg.sources._engine.ledger import (
    MAX_FIELD_CHARS,
    MAX_TABLE_COLUMNS,
    Ledger,
    read_text_table,
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("demo")
    roots = {}
    for source, n in (("mhh", 3), ("midrc", 4), ("tcia", 8)):
        generate_demo(folder / source, sources=[source], n_patients=n)
        roots[source] = folder / source / source
    return roots


def _copy(root: Path, tmp_path: Path) -> Path:
    import shutil
    target = tmp_path / root.name
    shutil.copytree(root, target)
    return target


def _wide(path: Path, n_columns: int, sep: str = ",") -> None:
    header = sep.join(f"c{i}" for i in range(n_columns))
    row = sep.join("x" for _ in range(n_columns))
    path.write_text(f"{header}\n{row}\n{row}\n")


# ---------------------------------------------------------------------- columns (item 7)
def test_a_million_columns_are_refused_from_the_header_in_seconds(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    _wide(path, 1_000_000)
    start = time.perf_counter()
    with pytest.raises(TableReadError, match="has 1,000,000 columns, more than the limit of "
                                             "2,000") as caught:
        read_text_table(path, Ledger("midrc", tmp_path))
    elapsed = time.perf_counter() - start
    assert elapsed < 20, f"refusing a 1M-column table took {elapsed:.1f} s"
    assert caught.value.path == str(path)


def test_the_column_limit_itself_is_read(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    _wide(path, MAX_TABLE_COLUMNS)
    frame = read_text_table(path, Ledger("midrc", tmp_path))
    assert frame.shape == (2, MAX_TABLE_COLUMNS)
    _wide(path, MAX_TABLE_COLUMNS + 1)
    with pytest.raises(TableReadError, match="2,001 columns"):
        read_text_table(path, Ledger("midrc", tmp_path))


def test_too_many_cells_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ledger_mod, "MAX_TABLE_CELLS", 100)
    path = tmp_path / "long.csv"
    path.write_text("a,b\n" + "1,2\n" * 50)
    assert read_text_table(path, Ledger("mhh", tmp_path)).shape == (50, 2)
    path.write_text("a,b\n" + "1,2\n" * 51)
    with pytest.raises(TableReadError, match="more than 100 cells"):
        read_text_table(path, Ledger("mhh", tmp_path))


def test_values_are_still_stripped(tmp_path: Path) -> None:
    path = tmp_path / "t.tsv"
    path.write_text(" a \t b\n 1 \t 2 \n3\t 4\n")
    frame = read_text_table(path, Ledger("midrc", tmp_path), sep="\t")
    assert list(frame.columns) == ["a", "b"]
    assert frame.to_numpy().tolist() == [["1", "2"], ["3", "4"]]


def test_a_wide_midrc_export_is_a_finding_and_the_load_goes_on(
        demo: dict[str, Path], tmp_path: Path) -> None:
    root = _copy(demo["midrc"], tmp_path)
    wide = root / "visit_wide.tsv"
    _wide(wide, 1_000_000, sep="\t")
    start = time.perf_counter()
    cohort = ci.load({"midrc": root}, progress=False)
    assert time.perf_counter() - start < 60
    files = cohort.files.set_index("path")
    assert files.at[str(wide), "status"] == "rejected"
    hits = cohort.findings[cohort.findings["path"] == str(wide)]
    assert hits["kind"].tolist() == ["unreadable_file"]
    assert "1,000,000 columns" in hits["detail"].iat[0]
    assert len(cohort.patients) == 4


# ---------------------------------------------------------------------- fields (item 9)
def test_a_field_over_128_kib_is_read(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    long = "y" * 200_000
    path.write_text(f"a,b\n1,{long}\n2,\"{long}\n{long}\"\n")
    frame = read_text_table(path, Ledger("mhh", tmp_path))
    assert frame["b"].str.len().tolist() == [200_000, 400_001]
    assert csv.field_size_limit() == 131_072          # the process-wide limit is left alone


@pytest.mark.parametrize("quoted", [False, True])
def test_a_field_over_the_limit_names_the_file_and_line(tmp_path: Path, quoted: bool) -> None:
    path = tmp_path / "t.csv"
    long = "z" * (MAX_FIELD_CHARS + 1)
    field = f'"{long}"' if quoted else long
    path.write_text(f"a,b\n1,2\n3,{field}\n5,6\n")
    with pytest.raises(TableReadError, match=r"line 3 holds a field longer than 1,048,576 "
                                             "characters") as caught:
        read_text_table(path, Ledger("mhh", tmp_path))
    assert caught.value.path == str(path) and long not in str(caught.value)


def test_mhh_data_csv_with_a_long_field_loads(demo: dict[str, Path], tmp_path: Path) -> None:
    root = _copy(demo["mhh"], tmp_path)
    data = root / "data.csv"
    lines = data.read_text().splitlines()
    lines[0] += ",notes"
    lines[1] += "," + "n" * 200_000
    lines[2:] = [line + "," for line in lines[2:]]
    data.write_text("\n".join(lines) + "\n")
    cohort = ci.load({"mhh": root}, progress=False)
    assert len(cohort.patients) == 3
    assert "unexpected_field" in set(cohort.findings["kind"])


def test_mhh_data_csv_with_a_field_over_the_limit_names_file_and_line(
        demo: dict[str, Path], tmp_path: Path) -> None:
    root = _copy(demo["mhh"], tmp_path)
    data = root / "data.csv"
    lines = data.read_text().splitlines()
    lines[2] = lines[2].replace(",", "," + "n" * (MAX_FIELD_CHARS + 1) + ",", 1)
    data.write_text("\n".join(lines) + "\n")
    with pytest.raises(ci.LoadError, match=r"data.csv.*line 3 holds a field longer than"):
        ci.load({"mhh": root}, progress=False)


@pytest.mark.parametrize("source,table,sep", [("midrc", "visit.tsv", "\t"),
                                              ("tcia", None, ",")])
def test_a_source_table_with_a_huge_field_is_a_finding(
        demo: dict[str, Path], tmp_path: Path, source: str, table: str | None,
        sep: str) -> None:
    root = _copy(demo[source], tmp_path)
    path = root / table if table else next(p for p in sorted(root.rglob("*.csv"))
                                           if p.parent.name == "COVID-19-NY-SBU")
    lines = path.read_text().splitlines()
    lines[1] = lines[1] + sep + "q" * (MAX_FIELD_CHARS + 10)
    path.write_text("\n".join(lines) + "\n")
    cohort = ci.load({source: root}, progress=False)
    files = cohort.files.set_index("path")
    assert files.at[str(path), "status"] == "rejected"
    hits = cohort.findings[cohort.findings["path"] == str(path)]
    assert "unreadable_file" in set(hits["kind"])
    assert "line 2 holds a field longer than" in " ".join(hits["detail"])
