"""Which published revision of MHH's data.csv a user holds: recognised, recorded, reported.

The repository published data.csv three times (``shared/data/mhh-revisions/SOURCE.md``):
fedd705 (2020-05-12, offsets wrong: repository issue #6), 4025ea1 (2020-05-28, in
``shared/data/mhh-revisions``) and a9842c3 (2020-07-16, the current ``shared/data/mhh``).
fedd705 is not in shared/: ``tests/data/mhh-revisions/`` holds it, byte for byte from the
repository's history, and the first test checks it is the file SOURCE.md documents (its
SHA-256).
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import SHARED

import covidimg as ci
from covidimg.schema import finding_severity
from covidimg.sources import mhh
from covidimg.sources.mhh.revisions import REVISIONS, content_signature, recognise

REVISIONS_DIR = SHARED / "data" / "mhh-revisions"
FIRST = Path(__file__).parent / "data" / "mhh-revisions" / "data-2020-05-12-fedd705.csv"
SECOND = REVISIONS_DIR / "data-2020-05-28-4025ea1.csv"
CURRENT = SHARED / "data" / "mhh" / "data.csv"


def _need(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"{path} is absent: put the project's shared/ folder beside the checkout, "
                    "or set COVIDIMG_SHARED")
    return path


@pytest.fixture(scope="module")
def documented() -> dict[str, dict[str, str]]:
    """The table of shared/data/mhh-revisions/SOURCE.md: commit -> date, rows, note."""
    text = _need(REVISIONS_DIR / "SOURCE.md").read_text()
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and re.fullmatch(r"[0-9a-f]{7}", cells[0]):
            rows[cells[0]] = {"date": cells[1], "rows": cells[2], "note": cells[3]}
    assert len(rows) == 3, text
    return rows


def _load(csv: Path, tmp_path: Path) -> ci.Cohort:
    root = tmp_path / "mhh"
    root.mkdir(parents=True)
    shutil.copyfile(csv, root / "data.csv")
    return ci.load({"mhh": root}, progress=False)


def _kinds(cohort: ci.Cohort) -> list[str]:
    # No PNGs are copied: every image is a missing_image_file, which is not what is tested.
    return sorted(set(cohort.findings["kind"]) - {"missing_image_file"})


def test_package_data_agrees_with_the_documented_facts(documented):
    assert [r.short for r in REVISIONS] == list(documented)
    for revision in REVISIONS:
        facts = documented[revision.short]
        assert revision.date == facts["date"]
        assert revision.rows == int(facts["rows"])
        assert set(revision.facts_from) == {"commit, date", "problem",
                                            "rows, patients, file_sha256, content_sha256"}
    first = REVISIONS[0]
    assert first.file_sha256 in documented["fedd705"]["note"]
    assert "issue #6" in documented["fedd705"]["note"] and "issue #6" in first.problem
    assert [r.superseded_by for r in REVISIONS] == ["4025ea1", "a9842c3", None]


def test_the_first_revision_fixture_is_the_documented_file(documented):
    digest = hashlib.sha256(FIRST.read_bytes()).hexdigest()
    assert digest in documented["fedd705"]["note"]
    assert len(pd.read_csv(FIRST)) == int(documented["fedd705"]["rows"]) == 172


@pytest.mark.parametrize("csv, short", [(CURRENT, "a9842c3"), (SECOND, "4025ea1"),
                                        (FIRST, "fedd705")],
                         ids=["current", "second", "first"])
def test_each_revision_is_recognised_by_its_file(csv, short):
    csv = _need(csv)
    table = pd.read_csv(csv, dtype=str, keep_default_na=False)
    found = recognise(csv, table, mhh.COLUMNS)
    assert found.revision is not None and found.revision.short == short
    assert found.matched == "file"
    assert found.content_sha256 == found.revision.content_sha256
    assert found.release == f"{short} ({found.revision.date})"
    assert len(table) == found.revision.rows
    assert table["patient_id"].nunique() == found.revision.patients


def test_the_current_revision_loads_without_a_release_finding(tmp_path):
    cohort = _load(_need(CURRENT), tmp_path)
    assert _kinds(cohort) == ["assumed_value"]
    assert len(cohort.images) == 243
    assert cohort.provenance["release"].tolist() == ["a9842c3 (2020-07-16)"]


@pytest.mark.parametrize("csv, release", [(CURRENT, "a9842c3 (2020-07-16)"),
                                          (SECOND, "4025ea1 (2020-05-28)"),
                                          (FIRST, "fedd705 (2020-05-12)")],
                         ids=["current", "second", "first"])
def test_the_revision_is_the_cohorts_release(tmp_path, csv, release):
    cohort = _load(_need(csv), tmp_path)
    provenance = cohort.provenance
    assert len(provenance) == 1 and provenance["source"].iat[0] == "mhh"
    assert provenance["release"].iat[0] == release
    assert provenance["license"].iat[0] == "CC BY 3.0"
    assert provenance["loaded_from"].iat[0] == str(tmp_path / "mhh")


def test_the_first_revision_is_reported_superseded(tmp_path):
    cohort = _load(FIRST, tmp_path)
    superseded = cohort.findings[cohort.findings["kind"] == "superseded_release"]
    assert len(superseded) == 1
    detail = superseded["detail"].iat[0]
    assert "fedd705 (2020-05-12)" in detail and "superseded by 4025ea1" in detail
    assert "issue #6" in detail and "offsets are wrong" in detail
    assert superseded["path"].iat[0].endswith("data.csv")
    assert finding_severity("superseded_release") == "warning"
    assert len(cohort.images) == 172
    # The wrong offsets show: events disagree between a patient's exams, which they do not
    # in the current revision (test_the_current_revision_loads_without_a_release_finding).
    assert (cohort.findings["kind"] == "inconsistent_event").sum() > 10


def test_the_second_revision_is_reported_superseded_by_the_current_one(tmp_path):
    cohort = _load(_need(SECOND), tmp_path)
    assert _kinds(cohort) == ["assumed_value", "superseded_release"]
    detail = cohort.findings.loc[cohort.findings["kind"] == "superseded_release",
                                 "detail"].iat[0]
    assert "4025ea1 (2020-05-28)" in detail and "superseded by a9842c3" in detail
    assert "10 of its icu_release_offset" in detail
    assert len(cohort.images) == 183


def test_what_the_superseded_finding_says_holds_in_the_loaded_tables(tmp_path):
    # SOURCE.md: "714 cells differ from fedd705 on the 162 shared images"; the finding says
    # which offsets: admission_offset on 119 of them, icu_admission_offset on 94,
    # icu_release_offset on 56, and 10 images withdrawn.
    first = _load(FIRST, tmp_path / "a")
    second = _load(_need(SECOND), tmp_path / "b")
    detail = first.findings.loc[first.findings["kind"] == "superseded_release", "detail"].iat[0]
    a = first.images.set_index("image_uid")
    b = second.images.set_index("image_uid")
    shared = a.index.intersection(b.index)
    assert len(shared) == 162 and "the 162 images both revisions hold" in detail
    assert len(a.index.difference(b.index)) == 10 and "10 of its images" in detail
    for column in ("admission_offset", "icu_admission_offset", "icu_release_offset"):
        left, right = a.loc[shared, column], b.loc[shared, column]
        differ = int((left.ne(right) & ~(left.isna() & right.isna())).sum())
        assert f"{column} {differ}" in detail


def _rewrite(csv: Path, target: Path) -> None:
    """The same rows, other bytes: CRLF, a byte-order mark, rows reversed, spaces around
    cells, whole-number offsets spelled 0 instead of 0.0 and 1e1 instead of 10.0."""
    lines = csv.read_text().splitlines()
    header, rows = lines[0], lines[1:][::-1]
    out = []
    for row in rows:
        cells = [re.sub(r"^(-?\d+)\.0$", r"\1", c) for c in row.split(",")]
        cells = ["1e1" if c == "10" else c for c in cells]
        out.append(" , ".join(cells))
    target.write_bytes(b"\xef\xbb\xbf" + "\r\n".join([header, *out, ""]).encode())


def test_a_copy_with_other_bytes_is_recognised_by_its_rows(tmp_path):
    csv = _need(SECOND)
    copy = tmp_path / "copy.csv"
    _rewrite(csv, copy)
    assert copy.read_bytes() != csv.read_bytes()
    cohort = _load(copy, tmp_path)
    superseded = cohort.findings[cohort.findings["kind"] == "superseded_release"]
    assert len(superseded) == 1
    assert "4025ea1" in superseded["detail"].iat[0]
    assert "recognised by its rows" in superseded["detail"].iat[0]


def test_a_changed_value_makes_an_unknown_revision(tmp_path):
    csv = _need(CURRENT)
    text = csv.read_text()
    first_row = text.splitlines()[1]
    changed = first_row.replace(",CR,", ",DX,") if ",CR," in first_row else \
        first_row.replace(",DX,", ",CR,")
    assert changed != first_row
    edited = tmp_path / "edited.csv"
    edited.write_text(text.replace(first_row, changed, 1))
    cohort = _load(edited, tmp_path)
    assert _kinds(cohort) == ["assumed_value", "unknown_release"]
    (release,) = cohort.provenance["release"].tolist()
    assert re.fullmatch(r"unknown \(data.csv rows sha256 [0-9a-f]{16}\)", release)
    unknown = cohort.findings[cohort.findings["kind"] == "unknown_release"]
    assert release[-17:-1] in unknown["detail"].iat[0] and "243 rows" in unknown["detail"].iat[0]
    # the same rows with other line endings and a byte-order mark: the same unknown revision
    (tmp_path / "crlf").mkdir()
    crlf = tmp_path / "crlf" / "edited.csv"
    crlf.write_bytes(b"\xef\xbb\xbf" + edited.read_text().replace("\n", "\r\n").encode())
    assert _load(crlf, tmp_path / "crlf").provenance["release"].tolist() == [release]
    assert finding_severity("unknown_release") == "info"


def test_content_signature_ignores_number_spelling_and_order_only():
    columns = ("patient_id", "image_id", "crp_val", "crp_offset")
    a = pd.DataFrame({"patient_id": ["p", "q"], "image_id": ["0e1", "b"],
                      "crp_val": ["5", "-inf"], "crp_offset": ["0.0", ""]})
    same = pd.DataFrame({"patient_id": ["q", "p"], "image_id": ["b", "0e1"],
                         "crp_val": ["-inf", "5.0"], "crp_offset": ["", "0"]})
    assert content_signature(a, columns) == content_signature(same, columns)
    # Identifiers stay text: "0e1" is not the number 0.
    other_id = a.assign(image_id=["0e2", "b"])
    empty_not_zero = a.assign(crp_offset=["0.0", "0"])
    for changed in (other_id, empty_not_zero):
        assert content_signature(changed, columns) != content_signature(a, columns)
