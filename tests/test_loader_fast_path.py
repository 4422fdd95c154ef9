"""The TCIA and MIDRC loaders on seeded trees full of quirks, checked against what was written.

Every expectation below is the truth of the tree: what the demo writers say they wrote
(:class:`covidimg.demo.truth.DemoTruth`), what :func:`covidimg.demo.large.write_dicom_tree`
encodes in its folder names, or rows worked out by hand for small trees written here (patients,
days, duplicates, file statuses). The quirks: clinical sheets, PatientID collisions between
collections, a patient folder that disagrees with the header, missing dates, same-day ties,
zip archives, duplicates, links, FIFOs, names that are not UTF-8, relative roots, Gen3 exports
that contradict themselves, and a re-load from the index cache.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import covidimg as ci
from covidimg.demo import midrc as demo_midrc
from covidimg.demo import tcia as demo_tcia
from covidimg.demo.dicom_writer import write_dicom
from covidimg.demo.large import write_dicom_tree
from covidimg.demo.truth import DemoTruth
from covidimg.errors import LoadError
from covidimg.sources import index_options, midrc, tcia

DAY = dt.date(2020, 4, 2)
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


# ---------------------------------------------------------------------- writing trees
def _radiograph(path: Path, pid: str, date: dt.date, sop: str, **kw: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    args = dict(modality="CR", patient_id=pid, study_uid=f"{sop}.1", series_uid=f"{sop}.2",
                sop_uid=sop, study_date=date, view="AP", sex="M", age_years=50)
    args.update(kw)
    write_dicom(path, np.full((8, 8), 0.4, np.float32), **args)
    return path


def _nbia(base: Path, collection: str, pid: str, date: dt.date, sop: str,
          **kw: object) -> Path:
    """One radiograph where the NBIA retriever puts it: collection/patient/study/series."""
    path = (base / collection / pid / f"{date:%m-%d-%Y}-NA-XR CHEST-{sop[-5:]}" /
            f"1.000000-AP-{sop[-5:]}" / "1-1.dcm")
    return _radiograph(path, pid, date, sop, **kw)


def _ct_zip(archive: Path, pid: str, study: str, date: dt.date, n: int = 3) -> None:
    """A CT series of ``n`` slices inside a zip, members under ``series/``."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive, "w") as zf:
        for k in range(n):
            with zf.open(f"series/1-{k + 1}.dcm", "w") as handle:
                write_dicom(handle, np.zeros((8, 8), np.float32), modality="CT",
                            patient_id=pid, study_uid=f"{study}.1", series_uid=f"{study}.2",
                            sop_uid=f"{study}.3.{k}", study_date=date, instance_number=k + 1,
                            position_z=float(k))


def _disk_files(root: Path) -> set[str]:
    """Every entry a loader must list in ``files``: files, links and FIFOs, not folders
    (a link to a folder is listed too)."""
    out = set()
    for dirpath, dirnames, filenames in os.walk(os.fsencode(root)):
        names = filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
        for name in names:
            rel = os.path.relpath(os.path.join(dirpath, name), os.fsencode(root))
            out.add(rel.decode("utf-8", "backslashreplace"))  # how the ledger shows bad bytes
    return out


#: What the odd entries written by :func:`_add_odd_entries` must become in ``files``:
#: relative path -> (status, words the reason must contain).
ODD_FILES = {
    "odd/dangling.dcm": ("rejected", "dangling symbolic link"),
    "odd/loop": ("ignored", "symbolic link to a folder"),
    "odd/x1.dcm": ("rejected", "symbolic link loop"),
    "odd/x2.dcm": ("rejected", "symbolic link loop"),
    "odd/pipe.dcm": ("rejected", "FIFO"),
    "odd/caf\\xe9.dcm": ("rejected", "not valid UTF-8"),
    "odd/a/b/c/d/real.dcm": ("used", "DICOM instance"),
    "odd/link.dcm": ("duplicate", "same SOP Instance UID 2.25.9400"),
}


def _add_odd_entries(root: Path) -> None:
    """Entries the walk must account for without reading them: links, a FIFO, a bad name, a
    folder it cannot list (when not run as root), and a link to a real file (a duplicate)."""
    odd = root / "odd"
    odd.mkdir()
    (odd / "dangling.dcm").symlink_to(odd / "gone.dcm")
    (odd / "loop").symlink_to(odd)
    (odd / "x1.dcm").symlink_to(odd / "x2.dcm")
    (odd / "x2.dcm").symlink_to(odd / "x1.dcm")
    os.mkfifo(odd / "pipe.dcm")
    real = _radiograph(odd / "a" / "b" / "c" / "d" / "real.dcm", "ODD-1", dt.date(2020, 5, 1),
                       "2.25.9400")
    (odd / "link.dcm").symlink_to(real)
    with open(os.path.join(os.fsencode(odd), b"caf\xe9.dcm"), "wb") as handle:
        handle.write(b"not dicom")
    locked = odd / "locked"
    locked.mkdir()
    (locked / "a.dcm").write_bytes(b"x")
    locked.chmod(0)


def _check_odd_entries(tables: object, prefix: str, *, orphans: bool = False) -> None:
    """``orphans``: the loader ignores DICOM it has no clinical row for (MIDRC)."""
    files = tables.files.set_index("path")  # type: ignore[attr-defined]
    odd = dict(ODD_FILES)
    if orphans:
        odd["odd/a/b/c/d/real.dcm"] = ("ignored", "orphan: StudyInstanceUID 2.25.9400.1")
    for rel, (status, words) in odd.items():
        row = files.loc[prefix + rel]
        assert row["status"] == status, (rel, row["reason"])
        assert words in row["reason"], (rel, row["reason"])
    findings = tables.findings  # type: ignore[attr-defined]
    by_path = findings.groupby("path")["kind"].agg(set)
    for rel, (status, _) in odd.items():
        kind = {"rejected": "unreadable_file", "duplicate": "duplicate_instance",
                "ignored": "orphan_image" if rel.endswith(".dcm") else "unsafe_link"
                }.get(status)
        if kind:
            assert kind in by_path.get(prefix + rel, set()), rel
    locked = prefix + "odd/locked"
    if IS_ROOT:  # root reads any folder: the file inside is read, and is not DICOM
        assert files.loc[locked + "/a.dcm", "status"] == "rejected"
    else:
        assert "unreadable_folder" in by_path.get(locked, set())


# ---------------------------------------------------------------------- TCIA, by hand
#: Same-day exams of patient TIE-2 (day offsets): 20 rows, shuffled, seven on the first day.
TIE2_DAYS = (2, 1, 0, 0, 2, 1, 1, 1, 2, 1, 0, 2, 0, 0, 2, 1, 0, 0, 1, 2)


def _write_tcia_quirks(root: Path) -> None:
    """The small TCIA tree whose tables are written out by hand in :data:`TCIA_PATIENTS` etc."""
    base = root / "manifest-2"
    _nbia(base, "COVID-19-AR", "SHARED-1", DAY, "2.25.9001", sex="F")
    _nbia(base, "MIDRC-RICORD-1B", "SHARED-1", DAY, "2.25.9002", sex="M")
    _nbia(base, "COVID-19-AR", "FOLDER-A", DAY, "2.25.9003", patient_id="HEADER-B")
    _nbia(base, "COVID-19-AR", "NODATE-1", DAY, "2.25.9004",
          extra={"StudyDate": "", "SeriesDate": "", "AcquisitionDate": ""})
    _nbia(base, "COVID-19-AR", "NODATE-1", DAY + dt.timedelta(days=3), "2.25.9005")
    for k, (sex, age) in enumerate([("M", 40), ("F", 41), ("F", 40), ("M", 40)]):
        _nbia(base, "COVID-19-AR", "TIE-1", DAY, f"2.25.91{k:02d}", sex=sex, age_years=age)
    for k, offset in enumerate(TIE2_DAYS):
        _radiograph(base / "COVID-19-AR" / "TIE-2" / f"{k:02d}-study" / "series" / "1-1.dcm",
                    "TIE-2", DAY + dt.timedelta(days=offset), f"2.25.95{k:02d}",
                    sex="MF"[k % 2], age_years=60 + k)
    copy = base / "COVID-19-AR" / "SHARED-1" / "copy" / "1-1.dcm"
    copy.parent.mkdir(parents=True)
    shutil.copy(next((base / "COVID-19-AR" / "SHARED-1").rglob("1-1.dcm")), copy)
    _ct_zip(base / "CT Images in COVID-19" / "ZIPPED-1" / "s" / "series" / "study.zip", "ZIPPED-1",
            "2.25.93", DAY)
    _radiograph(root / "loose" / "x.dcm", "LOOSE-1", DAY + dt.timedelta(days=1), "2.25.9600")
    (base / "LICENSE").write_text("CC BY 4.0")
    (base / "notes.json").write_text("{}")
    (base / "manifest.tcia").write_text("downloadServerUrl=x")


#: patient_uid -> (collection, covid_status, sex, age); ``None`` where any tied value is right.
TCIA_PATIENTS = {
    "tcia:COVID-19-AR/SHARED-1": ("COVID-19-AR", "positive", "F", 50.0),
    "tcia:MIDRC-RICORD-1B/SHARED-1": ("MIDRC-RICORD-1B", "negative", "M", 50.0),
    "tcia:HEADER-B": ("COVID-19-AR", "positive", "M", 50.0),
    "tcia:NODATE-1": ("COVID-19-AR", "positive", "M", 50.0),
    "tcia:TIE-1": ("COVID-19-AR", "positive", None, None),
    "tcia:TIE-2": ("COVID-19-AR", "positive", None, None),
    "tcia:ZIPPED-1": ("CT Images in COVID-19", "positive", "M", np.nan),
    "tcia:LOOSE-1": (np.nan, "unknown", "M", 50.0),
}
#: image_uid -> (patient_uid, day, n_instances): day 0 is each patient's first dated exam.
TCIA_IMAGES = {
    "tcia:2.25.9001": ("tcia:COVID-19-AR/SHARED-1", 0.0, 1),
    "tcia:2.25.9002": ("tcia:MIDRC-RICORD-1B/SHARED-1", 0.0, 1),
    "tcia:2.25.9003": ("tcia:HEADER-B", 0.0, 1),
    "tcia:2.25.9004": ("tcia:NODATE-1", np.nan, 1),
    "tcia:2.25.9005": ("tcia:NODATE-1", 0.0, 1),
    **{f"tcia:2.25.91{k:02d}": ("tcia:TIE-1", 0.0, 1) for k in range(4)},
    **{f"tcia:2.25.95{k:02d}": ("tcia:TIE-2", float(d), 1) for k, d in enumerate(TIE2_DAYS)},
    "tcia:2.25.93.2": ("tcia:ZIPPED-1", 0.0, 3),
    "tcia:2.25.9600": ("tcia:LOOSE-1", 0.0, 1),
}
#: Files that are not ``used``: relative path -> status.
TCIA_NOT_USED = {
    "manifest-2/LICENSE": "ignored",
    "manifest-2/notes.json": "ignored",
    "manifest-2/manifest.tcia": "ignored",
    "manifest-2/COVID-19-AR/SHARED-1/copy/1-1.dcm": "duplicate",
}


def _check_tcia_quirks(tables: object, prefix: str = "") -> None:
    """The hand-written truth of :func:`_write_tcia_quirks` (paths relative to the root)."""
    patients = tables.patients.set_index("patient_uid")  # type: ignore[attr-defined]
    mine = patients.loc[patients.index.isin(list(TCIA_PATIENTS))]
    assert sorted(mine.index) == sorted(TCIA_PATIENTS)
    for uid, (collection, status, sex, age) in TCIA_PATIENTS.items():
        row = mine.loc[uid]
        assert row["collection"] == collection or (pd.isna(collection)
                                                   and pd.isna(row["collection"])), uid
        assert row["covid_status"] == status, uid
        if sex is not None:
            assert row["sex"] == sex, uid
            np.testing.assert_array_equal([row["age_min"], row["age_max"]], [age, age])

    # ties: demographics come whole from one exam of the first day, never mixed
    tie1 = mine.loc["tcia:TIE-1"]
    assert (tie1["sex"], tie1["age_min"]) in {("M", 40), ("F", 41), ("F", 40)}
    first_day = [k for k, d in enumerate(TIE2_DAYS) if d == 0]
    tie2 = mine.loc["tcia:TIE-2"]
    assert (tie2["sex"], tie2["age_min"]) in {("MF"[k % 2], 60 + k) for k in first_day}
    assert tie2["age_min"] == tie2["age_max"]

    images = tables.images.set_index("image_uid")  # type: ignore[attr-defined]
    mine = images.loc[images.index.isin(list(TCIA_IMAGES))]
    assert sorted(mine.index) == sorted(TCIA_IMAGES)
    want = pd.DataFrame.from_dict(TCIA_IMAGES, orient="index",
                                  columns=["patient_uid", "day", "n_instances"])
    got = mine.loc[want.index]
    assert got["patient_uid"].astype(str).tolist() == want["patient_uid"].tolist()
    np.testing.assert_array_equal(got["day"].astype(float), want["day"])
    np.testing.assert_array_equal(got["n_instances"], want["n_instances"])
    zipped = prefix + "manifest-2/CT Images in COVID-19/ZIPPED-1/s/series/study.zip"
    archive, member = got.at["tcia:2.25.93.2", "path"].split("::")
    assert os.path.samefile(archive, zipped) and member == "series/"

    files = tables.files.set_index("path")  # type: ignore[attr-defined]
    for rel, status in TCIA_NOT_USED.items():
        assert files.at[prefix + rel, "status"] == status, rel
    used = files[files["image_uid"].isin(list(TCIA_IMAGES))]
    assert (used["status"] == "used").all()
    assert sorted(used["image_uid"].unique()) == sorted(TCIA_IMAGES)
    assert files.at[zipped, "image_uid"] == "tcia:2.25.93.2"

    findings = tables.findings  # type: ignore[attr-defined]
    kinds = findings.groupby("kind")
    assert kinds.get_group("patient_id_collision")["detail"].str.contains("'SHARED-1'").all()
    folder = findings[(findings["kind"] == "inconsistent_value")
                      & (findings["image_uid"] == "tcia:2.25.9003")]
    assert folder["detail"].str.contains("patient folder 'FOLDER-A' but its PatientID is "
                                         "'HEADER-B'").all() and len(folder) == 1
    undated = kinds.get_group("missing_value")
    assert undated.loc[undated["image_uid"] == "tcia:2.25.9004", "detail"].str.contains(
        "no StudyDate").any()
    duplicate = kinds.get_group("duplicate_instance")
    assert prefix + "manifest-2/COVID-19-AR/SHARED-1/copy/1-1.dcm" in set(duplicate["path"])


@pytest.fixture(scope="module")
def quirky_tcia(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, DemoTruth]]:
    """The demo's TCIA download (with its clinical sheets), the hand-made quirks, odd entries."""
    root = tmp_path_factory.mktemp("tcia-quirks")
    truth = demo_tcia.write(root / "demo", rng=np.random.default_rng(11), n_patients=12)
    _write_tcia_quirks(root)
    _add_odd_entries(root)
    yield root, truth
    (root / "odd" / "locked").chmod(0o755)


def _load_tcia(root: str | os.PathLike[str], cache: object = False) -> object:
    with index_options(cache=cache, executor=False):
        return tcia.load(root)


def _check_demo_part(tables: object, truth: DemoTruth) -> None:
    """The demo's rows are still the demo's truth when other trees sit beside it."""
    patients = tables.patients.set_index("patient_uid")  # type: ignore[attr-defined]
    want = truth.patients.set_index("patient_uid").sort_index()
    got = patients.loc[want.index]
    for column in ("sex", "covid_status"):
        assert (got[column].astype(str) == want[column].astype(str)).all(), column
    np.testing.assert_array_equal(got["age_min"], want["age_min"].astype(float))
    images = tables.images.set_index("image_uid")  # type: ignore[attr-defined]
    want = truth.images.set_index("image_uid").sort_index()
    got = images.loc[want.index]
    assert (got["patient_uid"].astype(str) == want["patient_uid"].astype(str)).all()
    np.testing.assert_array_equal(got["day"].astype(float), want["day"].astype(float))
    events = tables.events  # type: ignore[attr-defined]
    got_events = {(r.patient_uid, r.event, float(r.day)) for r in events.itertuples()
                  if r.patient_uid in set(truth.patients["patient_uid"])}
    assert got_events == {(r.patient_uid, r.event, float(r.day))
                          for r in truth.events.itertuples()}


# ---------------------------------------------------------------------- TCIA tests
def test_tcia_quirks_demo_and_odd_entries(quirky_tcia: tuple[Path, DemoTruth]) -> None:
    root, truth = quirky_tcia
    tables = _load_tcia(root)
    _check_tcia_quirks(tables, f"{root}/")
    _check_demo_part(tables, truth)
    _check_odd_entries(tables, f"{root}/")
    assert len(tables.labs) == len(truth.labs)
    # nothing found is missing from the files table, and each path is listed once
    listed = tables.files["path"].tolist()
    assert len(listed) == len(set(listed))
    expected = {f"{root}/{p}" for p in _disk_files(root)
                if IS_ROOT or not p.startswith("odd/locked/")}
    assert set(listed) == expected


def test_tcia_reload_from_the_index_cache(quirky_tcia: tuple[Path, DemoTruth],
                                          tmp_path: Path) -> None:
    root, truth = quirky_tcia
    first = _load_tcia(root, cache=tmp_path)
    again = _load_tcia(root, cache=tmp_path)
    assert any(tmp_path.iterdir()), "the first load wrote no index cache"
    for tables in (first, again):
        _check_tcia_quirks(tables, f"{root}/")
        _check_demo_part(tables, truth)
        _check_odd_entries(tables, f"{root}/")
    for name, frame in first.tables().items():
        pd.testing.assert_frame_equal(getattr(again, name), frame, obj=name)


@pytest.mark.parametrize("spelling", [".", "./", "tcia-copy", "tcia-copy/"])
def test_tcia_relative_roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             spelling: str) -> None:
    copy = tmp_path / "tcia-copy"
    _write_tcia_quirks(copy)
    monkeypatch.chdir(copy if spelling.startswith(".") else tmp_path)
    tables = _load_tcia(spelling)
    prefix = "" if spelling.startswith(".") else "tcia-copy/"
    _check_tcia_quirks(tables, prefix)
    assert set(tables.files["path"]) == {prefix + p for p in _disk_files(copy)}


def test_tcia_large_tree_against_the_written_layout(tmp_path: Path) -> None:
    """write_dicom_tree encodes patient, date and kind in each folder name: that is the truth."""
    root = tmp_path / "COVID-19-AR"
    written = write_dicom_tree(root, n_radiographs=300, n_ct_series=3, slices=20,
                               rng=np.random.default_rng(5))
    tables = _load_tcia(root)
    study = pd.DataFrame([Path(f).relative_to(root).parts[:2] for f in written.files],
                         columns=["patient", "study"]).drop_duplicates()
    study["date"] = pd.to_datetime(study["study"].str[:10], format="%m-%d-%Y")
    study["ct"] = study["study"].str.contains("CT CHEST")
    study["day"] = (study["date"] - study.groupby("patient")["date"].transform("min")).dt.days

    assert len(tables.files) == len(written.files) == 360
    assert (tables.files["status"] == "used").all()
    assert sorted(tables.patients["source_patient_id"]) == sorted(study["patient"].unique())
    assert (tables.patients["collection"] == "COVID-19-AR").all()
    images = tables.images
    assert len(images) == 303
    assert sorted(images["n_instances"].value_counts().items()) == [(1, 300), (20, 3)]
    assert (images.loc[images["n_instances"] == 20, "modality"] == "CT").all()
    got = images.assign(patient=images["patient_uid"].str.removeprefix("tcia:"))
    got = got.groupby("patient")["day"].agg(lambda d: sorted(d.astype(float)))
    want = study.groupby("patient")["day"].agg(lambda d: sorted(d.astype(float)))
    # a patient may have two exams on one date (one study folder each): compare the day sets
    assert {p: sorted(set(v)) for p, v in got.items()} == \
        {p: sorted(set(v)) for p, v in want.items()}


def test_tcia_zip_outside_the_series_level_and_relative_root(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _nbia(tmp_path, "COVID-19-AR", "P1", dt.date(2020, 1, 1), "2.25.1")
    _radiograph(tmp_path / "loose" / "x.dcm", "P2", dt.date(2020, 1, 3), "2.25.2")
    archive = tmp_path / "COVID-19-AR" / "P3" / "study" / "series" / "s.zip"
    archive.parent.mkdir(parents=True)
    with zipfile.ZipFile(archive, "w") as zf, zf.open("1-1.dcm", "w") as handle:
        write_dicom(handle, np.zeros((8, 8), np.float32), modality="CR", patient_id="P4",
                    study_uid="2.25.3.1", series_uid="2.25.3.2", sop_uid="2.25.3.3",
                    study_date=dt.date(2020, 1, 2))
    monkeypatch.chdir(tmp_path)
    tables = _load_tcia(".")
    patients = tables.patients.set_index("source_patient_id")
    assert sorted(patients.index) == ["P1", "P2", "P4"]
    assert patients.at["P1", "collection"] == "COVID-19-AR"
    assert pd.isna(patients.at["P2", "collection"])
    assert patients.at["P2", "covid_status"] == "unknown"
    assert patients.at["P4", "collection"] == "COVID-19-AR"
    assert set(tables.files["status"]) == {"used"}
    assert set(tables.files["path"]) == {"COVID-19-AR/P1/01-01-2020-NA-XR CHEST-.25.1/"
                                         "1.000000-AP-.25.1/1-1.dcm", "loose/x.dcm",
                                         "COVID-19-AR/P3/study/series/s.zip"}
    odd = tables.findings[tables.findings["kind"] == "inconsistent_value"]
    assert odd["detail"].str.contains("patient folder 'P3' but its PatientID is 'P4'").any()


def test_tcia_study_zip_in_the_patient_folder_is_consistent(tmp_path: Path) -> None:
    _ct_zip(tmp_path / "manifest-1" / "CT Images in COVID-19" / "ZIPPED-1" / "study.zip",
            "ZIPPED-1", "2.25.93", DAY)
    tables = _load_tcia(tmp_path)
    assert tables.patients["collection"].tolist() == ["CT Images in COVID-19"]
    assert "inconsistent_value" not in set(tables.findings["kind"])


def test_tcia_study_zip_in_another_patients_folder_is_reported(tmp_path: Path) -> None:
    _ct_zip(tmp_path / "manifest-1" / "CT Images in COVID-19" / "OTHER-2" / "study.zip",
            "ZIPPED-1", "2.25.93", DAY)
    tables = _load_tcia(tmp_path)
    odd = tables.findings[tables.findings["kind"] == "inconsistent_value"]["detail"].tolist()
    assert len(odd) == 1 and "patient folder 'OTHER-2'" in odd[0]


@pytest.mark.parametrize("make", ["file", "missing"])
def test_tcia_root_that_is_not_a_folder(tmp_path: Path, make: str) -> None:
    root = tmp_path / "f.csv"
    if make == "file":
        root.write_text("a\n1\n")
    with pytest.raises(LoadError, match="is not a folder"):
        tcia.load(root)


# ---------------------------------------------------------------------- MIDRC, by hand
def _write_tsv(path: Path, columns: list[str], rows: list[list[object]]) -> None:
    lines = ["\t".join(columns)] + ["\t".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _write_midrc_export(root: Path) -> None:
    """Three cases, five studies; every row of the result is worked out in :data:`MIDRC_*`.

    * H1 (Female, 40): visit admission on index day -1, ICU on day 3, discharged home on day 9;
      its case says icu_indicator No (contradicted by the visit). Studies S11 (index day 2,
      tests positive 1 day before and 2 after) and S12 (day 5), S11 also as an unzipped copy.
    * H2 (Male, over 89): admitted on day 2, died (discharge Expired) on day 10; study S21
      (day 0). Study S22 (day 3, DICOM PatientID H2) is listed under case H3.
    * H3 (Not Reported): no visit; study S31 listed but not downloaded.
    * S99: downloaded, not listed (an orphan).

    Everything is written under ``root/hand/``.
    """
    root = root / "hand"
    exams = {"S11": ("H1", 2), "S12": ("H1", 5), "S21": ("H2", 0), "S22": ("H2", 3),
             "S99": ("H3", 1)}
    for study, (pid, day) in exams.items():
        _ct_zip(root / "dicom" / f"{study}.zip", pid, f"2.25.{study[1:]}",
                DAY + dt.timedelta(days=day), n=2)
    with zipfile.ZipFile(root / "dicom" / "S11.zip") as zf:
        zf.extractall(root / "dicom" / "S11-unzipped")
    _write_tsv(root / "case_hand.tsv",
               ["type", "project_id", "submitter_id", "age_at_index", "age_at_index_gt89",
                "sex", "covid19_positive", "index_event", "icu_indicator", "site_id"],
               [["case", "Open-A1", "H1", 40, "No", "Female", "Yes", "COVID-19 Test", "No", "1"],
                ["case", "Open-A1", "H2", "", "Yes", "Male", "Yes", "COVID-19 Test", "Yes", "1"],
                ["case", "Open-A1", "H3", 55, "No", "Not Reported", "No", "COVID-19 Test", "",
                 "1"]])
    _write_tsv(root / "imaging_study_hand.tsv",
               ["type", "submitter_id", "cases.submitter_id", "study_uid", "days_to_study",
                "days_from_study_to_pos_covid_test"],
               [["imaging_study", "i11", "H1", "2.25.11.1", 2, "[-1, 2]"],
                ["imaging_study", "i12", "H1", "2.25.12.1", 5, ""],
                ["imaging_study", "i21", "H2", "2.25.21.1", 0, ""],
                ["imaging_study", "i22", "H3", "2.25.22.1", 3, ""],
                ["imaging_study", "i31", "H3", "2.25.31.1", 1, ""]])
    _write_tsv(root / "visit_hand.tsv",
               ["type", "submitter_id", "cases.submitter_id", "days_to_hospital_admission",
                "days_to_hospital_discharge", "days_to_icu_admission", "discharge_type"],
               [["visit", "v1", "H1", -1, 9, 3, "Home"],
                ["visit", "v2", "H2", 2, 10, "", "Expired"]])


#: patient_uid -> (sex, age_min, age_max, covid_status, icu, died).
MIDRC_PATIENTS = {
    "midrc:H1": ("F", 40.0, 40.0, "positive", True, False),
    "midrc:H2": ("M", 90.0, np.inf, "positive", True, True),
    "midrc:H3": ("U", 55.0, 55.0, "negative", None, None),
}
#: study_uid -> (patient_uid, day, admission_offset, icu_admission_offset, death_offset).
#: Day 0 is the admission (H1: index day -1, H2: index day 2); H3 has none, so its index day.
MIDRC_IMAGES = {
    "2.25.11.1": ("midrc:H1", 3.0, -3.0, 1.0, np.nan),
    "2.25.12.1": ("midrc:H1", 6.0, -6.0, -2.0, np.nan),
    "2.25.21.1": ("midrc:H2", -2.0, 2.0, np.nan, 10.0),
    "2.25.22.1": ("midrc:H3", 3.0, np.nan, np.nan, np.nan),
}
MIDRC_EVENTS = {
    ("midrc:H1", "admission", 0.0), ("midrc:H1", "icu_admission", 4.0),
    ("midrc:H1", "discharge", 10.0), ("midrc:H1", "covid_test_positive", 2.0),
    ("midrc:H1", "covid_test_positive", 5.0),
    ("midrc:H2", "admission", 0.0), ("midrc:H2", "death", 8.0),  # an Expired discharge
}


def _check_midrc_export(tables: object, prefix: str = "") -> None:
    patients = tables.patients.set_index("patient_uid")  # type: ignore[attr-defined]
    for uid, (sex, low, high, status, icu, died) in MIDRC_PATIENTS.items():
        row = patients.loc[uid]
        assert (row["sex"], row["covid_status"]) == (sex, status), uid
        np.testing.assert_array_equal([row["age_min"], row["age_max"]], [low, high])
        for column, value in (("icu", icu), ("died", died)):
            assert (pd.isna(row[column]) if value is None else row[column] == value), \
                (uid, column, row[column])

    images = tables.images  # type: ignore[attr-defined]
    mine = images[images["study_uid"].isin([*MIDRC_IMAGES, "2.25.99.1"])]
    got = mine.set_index("study_uid").sort_index()
    assert list(got.index) == sorted(MIDRC_IMAGES)
    for study, (pid, day, adm, icu, death) in MIDRC_IMAGES.items():
        row = got.loc[study]
        assert row["patient_uid"] == pid, study
        np.testing.assert_array_equal(
            [row["day"], row["admission_offset"], row["icu_admission_offset"],
             row["death_offset"]], [day, adm, icu, death], err_msg=study)
        assert row["n_instances"] == 2

    events = tables.events  # type: ignore[attr-defined]
    got_events = {(r.patient_uid, r.event, float(r.day)) for r in events.itertuples()
                  if r.patient_uid in MIDRC_PATIENTS}
    assert got_events == MIDRC_EVENTS

    files = tables.files.set_index("path")  # type: ignore[attr-defined]
    status = {p.removeprefix(prefix + "hand/"): s for p, s in files["status"].items()
              if p.startswith(prefix + "hand/dicom/")}
    # the first copy in path order is kept: "S11-unzipped/" sorts before "S11.zip"
    assert status == {"dicom/S11.zip": "duplicate", "dicom/S12.zip": "used",
                      "dicom/S21.zip": "used", "dicom/S22.zip": "used",
                      "dicom/S99.zip": "ignored",
                      "dicom/S11-unzipped/series/1-1.dcm": "used",
                      "dicom/S11-unzipped/series/1-2.dcm": "used"}

    findings = tables.findings  # type: ignore[attr-defined]
    details = findings["detail"].str.cat(sep=" | ")
    assert "icu_indicator is No but a visit" in details
    assert "DICOM PatientID 'H2' differs from the imaging_study's case 'H3'" in details
    assert "imaging_study 2.25.31.1 has no downloaded DICOM" in details
    orphans = findings[findings["kind"] == "orphan_image"]
    assert orphans["detail"].str.contains("2.25.99.1").any()


@pytest.fixture(scope="module")
def quirky_midrc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, DemoTruth]]:
    """The demo's MIDRC download, the hand-made export beside it, and odd entries."""
    root = tmp_path_factory.mktemp("midrc-quirks")
    truth = demo_midrc.write(root, rng=np.random.default_rng(13), n_patients=12)
    _write_midrc_export(root)
    _add_odd_entries(root)
    yield root, truth
    (root / "odd" / "locked").chmod(0o755)


def _load_midrc(root: str | os.PathLike[str], cache: object = False) -> object:
    with index_options(cache=cache, executor=False):
        return midrc.load(root)


# ---------------------------------------------------------------------- MIDRC tests
def test_midrc_export_demo_and_odd_entries(quirky_midrc: tuple[Path, DemoTruth]) -> None:
    root, truth = quirky_midrc
    tables = _load_midrc(root)
    _check_midrc_export(tables, f"{root}/")
    _check_demo_part(tables, truth)
    _check_odd_entries(tables, f"{root}/", orphans=True)


def test_midrc_reload_from_the_index_cache(quirky_midrc: tuple[Path, DemoTruth],
                                           tmp_path: Path) -> None:
    root, truth = quirky_midrc
    first = _load_midrc(root, cache=tmp_path)
    again = _load_midrc(root, cache=tmp_path)
    for tables in (first, again):
        _check_midrc_export(tables, f"{root}/")
        _check_demo_part(tables, truth)
    for name, frame in first.tables().items():
        other = getattr(again, name)
        if name == "provenance":     # loaded_at is each load's own time
            frame, other = frame.drop(columns="loaded_at"), other.drop(columns="loaded_at")
        pd.testing.assert_frame_equal(other, frame, obj=name)


@pytest.mark.parametrize("spelling", [".", "midrc-copy/"])
def test_midrc_relative_roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              spelling: str) -> None:
    copy = tmp_path / "midrc-copy"
    _write_midrc_export(copy)
    monkeypatch.chdir(copy if spelling == "." else tmp_path)
    tables = _load_midrc(spelling)
    prefix = "" if spelling == "." else "midrc-copy/"
    _check_midrc_export(tables, prefix)
    assert set(tables.files["path"]) == {prefix + p for p in _disk_files(copy)}


def test_midrc_header_only_case_export(tmp_path: Path) -> None:
    _write_midrc_export(tmp_path)
    case = tmp_path / "hand" / "case_hand.tsv"
    case.write_text(case.read_text().splitlines()[0] + "\n")
    tables = _load_midrc(tmp_path)
    assert tables.patients.empty and tables.images.empty
    assert "empty_table" in set(tables.findings["kind"])


def test_the_public_load_gives_the_loader_tables(quirky_midrc: tuple[Path, DemoTruth]) -> None:
    """ci.load conforms the loader's tables once; the hand-made truth still holds after it."""
    root, _ = quirky_midrc
    with index_options(cache=False, executor=False):
        cohort = ci.load({"midrc": root}, progress=False)
    _check_midrc_export(cohort, f"{root}/")
