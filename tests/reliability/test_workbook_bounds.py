"""Workbooks are read within bounds: a 13 KB xlsx with one value at XFD1048576 (which makes
``pd.read_excel`` allocate until the process is killed) is refused in a few MB, and a sheet whose
declared dimension lies is read from its real cells.

The reads that could allocate run in a child process limited to 1 GiB of address space
(``resource.setrlimit(RLIMIT_AS)``), so a regression fails the test instead of the machine.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from covidimg.demo import generate_demo
from covidimg.errors import TableReadError
from covidimg.sources._engine import workbook as workbook_mod
from covidimg.sources._engine.ledger import Ledger
from covidimg.sources._engine.workbook import read_workbook

ROOT = Path(__file__).resolve().parents[2]
GIB = 1 << 30


# ---------------------------------------------------------------------- building workbooks
def _write(path: Path, rows: list[list[object]], title: str = "Sheet") -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = title
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def _patch_sheet(path: Path, *, dimension: str | None = None,
                 cells: tuple[str, ...] = (), styled_empty: tuple[str, ...] = ()) -> None:
    """Edit the first sheet's XML: its declared ``<dimension>``, inline-text ``cells`` and
    value-less ``styled_empty`` cells, each in a new row after the existing ones."""
    member = "xl/worksheets/sheet1.xml"
    with zipfile.ZipFile(path) as archive:
        parts = {info.filename: archive.read(info) for info in archive.infolist()}
    xml = parts[member].decode()
    if dimension is not None:
        xml = re.sub(r'<dimension ref="[^"]*"\s*/>', f'<dimension ref="{dimension}"/>', xml)
    rows = []
    for ref in cells:
        number = re.sub(r"\D", "", ref)
        rows.append(f'<row r="{number}"><c r="{ref}" t="inlineStr"><is><t>stray</t></is></c>'
                    "</row>")
    for ref in styled_empty:
        number = re.sub(r"\D", "", ref)
        rows.append(f'<row r="{number}"><c r="{ref}" s="0"/></row>')
    xml = xml.replace("</sheetData>", "".join(rows) + "</sheetData>")
    parts[member] = xml.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)


def _stray_cell_workbook(path: Path) -> Path:
    _write(path, [["PATIENT_ID", "age"], ["P1", 41], ["P2", 57]])
    _patch_sheet(path, dimension="A1:XFD1048576", cells=("XFD1048576",))
    return path


# ---------------------------------------------------------------------- memory-limited child
def _run_limited(code: str, timeout: float = 300) -> dict[str, object]:
    """Run ``code`` in a child process limited to 1 GiB of address space; it must print one
    JSON object as its last line."""
    prelude = textwrap.dedent(f"""
        import json, resource, sys
        resource.setrlimit(resource.RLIMIT_AS, ({GIB}, {GIB}))
        sys.path.insert(0, {str(ROOT)!r})
    """)
    done = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert done.returncode == 0, f"child failed ({done.returncode}): {done.stderr[-2000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


_READ = """
    import resource
    from covidimg.errors import TableReadError
    from covidimg.sources._engine.ledger import Ledger
    from covidimg.sources._engine.workbook import read_workbook
    import openpyxl, pandas  # noqa: F401  (imported before the baseline: not the read's cost)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        sheets = read_workbook({path!r}, Ledger("tcia"), header=True)
        result = {{"sheets": {{name: frame.fillna("").values.tolist()
                               for name, frame in sheets.items()}}}}
    except TableReadError as exc:
        result = {{"error": str(exc)}}
    result["peak_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result["grown_kib"] = result["peak_kib"] - before
    print(json.dumps(result))
"""


def test_a_value_at_xfd1048576_is_refused_in_little_memory(tmp_path: Path) -> None:
    path = _stray_cell_workbook(tmp_path / "clinical.xlsx")
    assert path.stat().st_size < 16_000
    result = _run_limited(_READ.format(path=str(path)))
    assert "sheet 'Sheet' has a value at XFD1048576 (column 16,384), beyond the limit of " \
           "2,000 columns" in str(result.get("error")), result
    # the read's own peak, imports left out (they vary by environment): pd.read_excel dies at
    # the 1 GiB limit
    assert int(result["grown_kib"]) < 256_000, result["grown_kib"]


def test_a_lying_dimension_is_read_from_the_real_cells(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.xlsx", [["PATIENT_ID", "age"], ["P1", 41], ["P2", 57.5]])
    _patch_sheet(path, dimension="A1:XFD1048576")
    result = _run_limited(_READ.format(path=str(path)))
    assert result["sheets"] == {"Sheet": [["P1", "41"], ["P2", "57.5"]]}


def test_a_value_far_below_is_refused_by_the_cell_bound(tmp_path: Path) -> None:
    header = [f"c{i}" for i in range(20)]
    path = _write(tmp_path / "t.xlsx", [header, ["x"] * 20])
    _patch_sheet(path, cells=("A1048576",))
    result = _run_limited(_READ.format(path=str(path)))
    assert "sheet 'Sheet' uses more than 10,000,000 cells (row 1,048,576, 20 columns)" in \
        str(result.get("error")), result


def test_styled_empty_cells_far_right_cost_nothing(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.xlsx", [["id", "age"], ["P1", 41]])
    _patch_sheet(path, styled_empty=tuple(f"XFD{n}" for n in range(3, 3003)))
    sheets = read_workbook(path, Ledger("tcia"), header=True)
    assert sheets["Sheet"].values.tolist() == [["P1", "41"]]


# ---------------------------------------------------------------------- values
def test_values_read_as_text(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["id", "n", "x", "when", "flag", "missing", "note", None, "err"])
    sheet.append(["P1", 3, 0.1, dt.datetime(2020, 3, 1), True, "NA", " a b ", None, "#DIV/0!"])
    sheet.append([None, 3.0, 1e20, dt.datetime(2020, 3, 2, 8, 30), False, "null", "n/a"])
    sheet.append([None] * 4)
    sheet.append(["P3"])
    sheet.append([None] * 9)                       # trailing empty row: dropped
    book.create_sheet("empty")
    book.save(tmp_path / "t.xlsx")
    sheets = read_workbook(tmp_path / "t.xlsx", Ledger("tcia"))
    assert list(sheets) == ["Sheet", "empty"] and sheets["empty"].shape == (0, 0)
    nan = np.nan
    expected = pd.DataFrame([
        ["id", "n", "x", "when", "flag", "missing", "note", nan, "err"],
        ["P1", "3", "0.1", "2020-03-01 00:00:00", "True", nan, " a b ", nan, nan],
        [nan, "3", "100000000000000000000", "2020-03-02 08:30:00", "False", nan, nan, nan, nan],
        [nan] * 9,
        ["P3"] + [nan] * 8,
    ], dtype="str")
    pd.testing.assert_frame_equal(sheets["Sheet"], expected, check_column_type=False)


def test_header_names_and_first_sheet(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    book.active.append(["id", None, "id", 7])
    book.active.append(["P1", "a", "b", "c"])
    book.create_sheet("second").append(["other"])
    book.save(tmp_path / "t.xlsx")
    sheets = read_workbook(tmp_path / "t.xlsx", Ledger("crdw"), sheets="first", header=True)
    assert list(sheets) == ["Sheet"]
    assert list(sheets["Sheet"].columns) == ["id", "Unnamed: 1", "id.1", "7"]
    assert sheets["Sheet"].values.tolist() == [["P1", "a", "b", "c"]]


# ---------------------------------------------------------------------- refusals
def test_not_a_workbook(tmp_path: Path) -> None:
    (tmp_path / "t.xlsx").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(TableReadError, match="not an .xlsx workbook"):
        read_workbook(tmp_path / "t.xlsx", Ledger("tcia"))
    with zipfile.ZipFile(tmp_path / "z.xlsx", "w") as archive:
        archive.writestr("hello.txt", "a zip, but not a workbook")
    with pytest.raises(TableReadError, match="cannot be opened as an Excel workbook"):
        read_workbook(tmp_path / "z.xlsx", Ledger("tcia"))


def test_decompressed_size_bound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "t.xlsx", [["a"], [1]])
    monkeypatch.setattr(workbook_mod, "MAX_WORKBOOK_BYTES", 1000)
    with pytest.raises(TableReadError, match="more than the limit of 1,000"):
        read_workbook(path, Ledger("tcia"))


def test_a_workbook_linked_out_of_the_root_is_not_read(tmp_path: Path) -> None:
    outside = _write(tmp_path / "elsewhere.xlsx", [["secret"], ["ZZSECRET"]])
    root = tmp_path / "root"
    root.mkdir()
    (root / "t.xlsx").symlink_to(outside)
    with pytest.raises(TableReadError, match="outside the source folder") as caught:
        read_workbook(root / "t.xlsx", Ledger("tcia", root))
    assert "ZZSECRET" not in str(caught.value)


# ---------------------------------------------------------------------- the loaders
_LOAD = """
    import covidimg as ci
    cohort = ci.load({{{source!r}: {root!r}}}, progress=False)
    files = cohort.files.set_index("path")
    print(json.dumps({{"status": str(files.at[{path!r}, "status"]),
                       "reason": str(files.at[{path!r}, "reason"])}}))
"""


@pytest.mark.parametrize("source", ["tcia", "crdw"])
def test_a_loader_refuses_the_stray_cell_workbook(source: str, tmp_path: Path) -> None:
    generate_demo(tmp_path / "demo", sources=[source], n_patients=8)
    root = tmp_path / "demo" / source
    target = next(p for p in sorted(root.rglob("*.xlsx")) if "REMAP" not in p.name)
    name = target.name
    shutil.move(target, tmp_path / "original.xlsx")
    _stray_cell_workbook(target)
    assert target.name == name
    result = _run_limited(_LOAD.format(source=source, root=str(root), path=str(target)))
    assert result["status"] == "rejected" and "XFD1048576" in str(result["reason"]), result
