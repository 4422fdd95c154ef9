"""Saving never deletes what is not the save's own, tampered manifests give a clear error,
and concurrent saves and opens of one folder always see one whole cohort."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import covidimg as ci
from covidimg.errors import CohortFileError


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> ci.Cohort:
    return ci.load_demo(sources=["mhh"], n_patients=6, cache=tmp_path_factory.mktemp("demo"))


def test_saving_into_a_folder_of_other_files_is_refused(small, tmp_path: Path) -> None:
    (tmp_path / "thesis.docx").write_bytes(b"years of work")
    (tmp_path / "tables-old").mkdir()
    with pytest.raises(CohortFileError, match="not empty and is not a saved cohort"):
        small.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tables-old", "thesis.docx"]
    assert (tmp_path / "thesis.docx").read_bytes() == b"years of work"


def test_a_gen3_manifest_is_not_a_cohort(small, tmp_path: Path) -> None:
    manifest = [{"object_id": "dg.MD1R/abc", "case_ids": ["419639-000001"]}]
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CohortFileError, match="not a covidimg cohort"):
        small.save(tmp_path)
    with pytest.raises(CohortFileError, match="not a covidimg cohort manifest"):
        ci.Cohort.open(tmp_path)
    assert json.loads((tmp_path / "manifest.json").read_text()) == manifest


def test_saving_over_a_cohort_keeps_the_users_own_files(small, tmp_path: Path) -> None:
    small.save(tmp_path)
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    lookalike = tmp_path / "tables-0123456789ab"   # named like a save's folder, but not one
    lookalike.mkdir()
    (lookalike / "analysis.ipynb").write_text("{}")
    small.filter(sex="F").save(tmp_path)
    assert notes.read_text() == "mine"
    assert (lookalike / "analysis.ipynb").is_file()
    assert len(ci.Cohort.open(tmp_path).patients) == (small.patients["sex"] == "F").sum()


def test_saving_to_a_file_is_a_clear_error(small, tmp_path: Path) -> None:
    target = tmp_path / "cohort"
    target.write_text("x")
    with pytest.raises(CohortFileError, match="it is a file"):
        small.save(target)


TAMPERED = {
    "string version": lambda m: {**m, "version": "1"},
    "bool version": lambda m: {**m, "version": True},
    "no rows": lambda m: {k: v for k, v in m.items() if k != "rows"},
    "rows as text": lambda m: {**m, "rows": {k: str(v) for k, v in m["rows"].items()}},
    "a table missing from rows": lambda m: {**m, "rows": {"patients": m["rows"]["patients"]}},
    "tables_dir climbing out": lambda m: {**m, "tables_dir": "../../etc"},
    "tables_dir a number": lambda m: {**m, "tables_dir": 7},
    "a list": lambda m: [m],
    "newer version": lambda m: {**m, "version": 99},
}


@pytest.mark.parametrize("case", sorted(TAMPERED))
def test_a_tampered_manifest_is_a_cohort_file_error(small, tmp_path: Path, case: str) -> None:
    small.save(tmp_path)
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(TAMPERED[case](json.loads(path.read_text()))))
    with pytest.raises(CohortFileError, match="manifest|version|rows|tables_dir"):
        ci.Cohort.open(tmp_path)


@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000, " " * 200_000, "{" * 3])
def test_a_huge_or_deep_manifest_is_a_cohort_file_error(small, tmp_path: Path,
                                                         text: str) -> None:
    small.save(tmp_path)
    (tmp_path / "manifest.json").write_text(text)
    with pytest.raises(CohortFileError):
        ci.Cohort.open(tmp_path)


def test_a_row_count_mismatch_names_both_counts(small, tmp_path: Path) -> None:
    small.save(tmp_path)
    path = tmp_path / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["rows"]["patients"] += 1
    path.write_text(json.dumps(manifest))
    n = len(small.patients)
    with pytest.raises(CohortFileError, match=f"has {n} rows, the manifest says {n + 1}"):
        ci.Cohort.open(tmp_path)


WRITER = """
    import sys, covidimg as ci
    from covidimg.errors import CohortFileError
    cohort = ci.Cohort.open(sys.argv[1])
    saved = refused = 0
    for _ in range(int(sys.argv[3])):
        try:
            cohort.save(sys.argv[2])
            saved += 1
        except CohortFileError as exc:
            assert "in progress" in str(exc), exc
            refused += 1
    print(saved, refused)
"""

READER = """
    import sys, covidimg as ci
    sizes = set()
    for _ in range(int(sys.argv[2])):
        sizes.add(len(ci.Cohort.open(sys.argv[1], lazy=()).patients))
    print(sorted(sizes))
"""


@pytest.mark.slow
def test_concurrent_saves_and_opens_always_see_a_whole_cohort(small, tmp_path: Path) -> None:
    a, b, target = tmp_path / "a", tmp_path / "b", tmp_path / "target"
    small.save(a)
    small.filter(sex="F").save(b)
    small.save(target)

    def run(code: str, *args: object) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code),
                                 *map(str, args)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    procs = [run(WRITER, a, target, 25), run(WRITER, b, target, 25), run(READER, target, 150)]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
        outputs.append(out.split("\n")[0])
    saved = sum(int(o.split()[0]) for o in outputs[:2])
    assert saved >= 2
    sizes = json.loads(outputs[2])
    assert set(sizes) <= {len(small.patients), int((small.patients["sex"] == "F").sum())}
    assert len(list(target.glob("tables-*"))) == 1
    ci.Cohort.open(target, lazy=())


@pytest.mark.parametrize(("table", "column"), [("patients", "patient_uid"),
                                               ("images", "image_uid"), ("labs", "lower")])
def test_a_missing_value_where_the_schema_allows_none_is_refused(small, tmp_path: Path,
                                                                 table: str,
                                                                 column: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    small.save(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    target = tmp_path / manifest["tables_dir"] / f"{table}.parquet"
    stored = pq.read_table(target)
    values = stored.column(column).to_pylist()
    values[0] = None
    index = stored.column_names.index(column)
    pq.write_table(stored.set_column(index, column, pa.array(values,
                                                             type=stored.schema.field(index).type)),
                   target)
    with pytest.raises(CohortFileError, match=f"{table}.{column} has 1 missing value"):
        ci.Cohort.open(tmp_path, lazy=())


def _rewrite_column(folder: Path, table: str, column: str, change) -> None:
    """Rewrite one column of a saved table file in place, as someone editing it would."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    manifest = json.loads((folder / "manifest.json").read_text())
    target = folder / manifest["tables_dir"] / f"{table}.parquet"
    stored = pq.read_table(target)
    values = change(stored.column(column).to_pylist())
    index = stored.column_names.index(column)
    pq.write_table(stored.set_column(index, column,
                                     pa.array(values, type=stored.schema.field(index).type)),
                   target)


@pytest.mark.parametrize(("table", "column", "change", "message"), [
    ("patients", "patient_uid", lambda v: [v[1], *v[1:]], "patients.patient_uid repeats"),
    ("images", "image_uid", lambda v: [v[1], *v[1:]], "images.image_uid repeats"),
    ("images", "patient_uid", lambda v: ["mhh:nobody", *v[1:]],
     r"images.patient_uid names \['mhh:nobody'\] that patients does not hold"),
    ("labs", "patient_uid", lambda v: ["mhh:nobody", *v[1:]],
     r"labs.patient_uid names \['mhh:nobody'\]"),
    ("events", "patient_uid", lambda v: [*v[:-1], "nccid:ghost"],
     r"events.patient_uid names \['nccid:ghost'\]"),
])
def test_a_broken_relation_in_a_saved_cohort_is_refused_when_first_used(
        small, tmp_path: Path, table: str, column: str, change, message: str) -> None:
    small.save(tmp_path)
    _rewrite_column(tmp_path, table, column, change)
    cohort = ci.Cohort.open(tmp_path)  # opening reads the files only
    with pytest.raises(CohortFileError, match=message):
        _ = cohort.filter(sex=["F", "M", "U"]).labs  # a filter follows every relation
    with pytest.raises(CohortFileError, match="save it again"):
        _ = ci.Cohort.open(tmp_path).select(age=(0, 200)).cohort.events


def test_an_intact_saved_cohort_filters_as_the_original(small, tmp_path: Path) -> None:
    small.save(tmp_path)
    reopened = ci.Cohort.open(tmp_path).filter(sex="F")
    assert len(reopened.labs) == len(small.filter(sex="F").labs)
    assert len(reopened.images) == len(small.filter(sex="F").images)
