"""The same TCIA series in the NBIA, idc-index, tcia_utils and flat layouts give the same cohort.

The series are real ones of IDC's index (their UIDs and PatientIDs), written as small real DICOM
files with the demo's writer, so that layouts without collection folders are resolved through
the index as a user's download would be.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import covidimg as ci
from covidimg.demo.dicom_writer import uid, write_dicom
from covidimg.sources import tcia

pytest.importorskip("idc_index_data")
duckdb = pytest.importorskip("duckdb")

NAMES = {"covid_19_ar": "COVID-19-AR", "midrc_ricord_1c": "MIDRC-RICORD-1C",
         "midrc_ricord_1b": "MIDRC-RICORD-1B"}


@pytest.fixture(scope="module")
def series() -> pd.DataFrame:
    """Two radiograph series of COVID-19-AR, two of RICORD-1C, one CT series of RICORD-1B."""
    import idc_index_data

    index = str(idc_index_data.IDC_INDEX_PARQUET_FILEPATH)
    parts = []
    for collection, modality, n in (("covid_19_ar", "DX", 2), ("midrc_ricord_1c", "CR", 2),
                                    ("midrc_ricord_1b", "CT", 1)):
        parts.append(duckdb.sql(
            f"SELECT collection_id, PatientID, StudyInstanceUID, SeriesInstanceUID, Modality, "
            f"StudyDate, PatientSex, PatientAge FROM read_parquet('{index}') WHERE "
            f"collection_id = '{collection}' AND Modality = '{modality}' AND instanceCount = "
            f"{1 if modality != 'CT' else 'instanceCount'} ORDER BY SeriesInstanceUID "
            f"LIMIT {n}").df())
    return pd.concat(parts, ignore_index=True)


def _write(series: pd.DataFrame, target_of, rng: np.random.Generator) -> None:  # type: ignore[no-untyped-def]
    for row in series.itertuples():
        n = 3 if row.Modality == "CT" else 1
        for k in range(n):
            path = Path(target_of(row, k))
            path.parent.mkdir(parents=True, exist_ok=True)
            pixels = (rng.integers(-1000, 400, (16, 16)).astype(np.float32)
                      if row.Modality == "CT" else rng.random((16, 16)))
            age = float(row.PatientAge[:3]) if isinstance(row.PatientAge, str) else None
            write_dicom(path, pixels, modality=row.Modality, patient_id=row.PatientID,
                        study_uid=row.StudyInstanceUID, series_uid=row.SeriesInstanceUID,
                        sop_uid=uid(np.random.default_rng([k, len(row.SeriesInstanceUID),
                                                           int(row.Index)])),
                        study_date=dt.date.fromisoformat(row.StudyDate),
                        instance_number=k + 1, position_z=float(k), view=None,
                        sex=row.PatientSex if row.PatientSex in ("F", "M") else "O",
                        age_years=age)


def _layouts(root: Path, series: pd.DataFrame) -> dict[str, Path]:
    def nbia(row, k):  # type: ignore[no-untyped-def]
        return (root / "nbia" / NAMES[row.collection_id] / row.PatientID /
                f"01-01-2020-NA-X-{row.StudyInstanceUID[-5:]}" /
                f"{k}.000000-NA-{row.SeriesInstanceUID[-5:]}" / f"1-{k + 1}.dcm")

    def idc_index(row, k):  # type: ignore[no-untyped-def]
        return (root / "idc" / row.collection_id / row.PatientID / row.StudyInstanceUID /
                f"{row.Modality}_{row.SeriesInstanceUID}" / f"{row.Index:04d}-{k}.dcm")

    def tcia_utils(row, k):  # type: ignore[no-untyped-def]
        return root / "tciaDownload" / row.SeriesInstanceUID / f"1-{k + 1:02d}.dcm"

    def flat(row, k):  # type: ignore[no-untyped-def]
        return root / "flat" / f"{row.Index:02d}-{k}.dcm"

    folders = {}
    for name, target in (("nbia", nbia), ("idc", idc_index), ("tciaDownload", tcia_utils),
                         ("flat", flat)):
        _write(series, target, np.random.default_rng(15))
        folders[name] = root / name
    return folders


def _comparable(cohort: ci.Cohort) -> dict[str, pd.DataFrame]:
    images = cohort.images.drop(columns=["path"]).sort_values("image_uid")
    return {"patients": cohort.patients.sort_values("patient_uid").reset_index(drop=True),
            "images": images.reset_index(drop=True)}


def test_every_layout_gives_the_nbia_cohort(series: pd.DataFrame, tmp_path: Path) -> None:
    folders = _layouts(tmp_path, series)
    cohorts = {}
    for name, folder in folders.items():
        assert ci.detect_source(folder) == "tcia", name
        cohorts[name] = ci.load({"tcia": folder}, progress=False, index_cache=False)
    nbia = cohorts.pop("nbia")
    assert nbia.findings.empty
    want = _comparable(nbia)
    # by hand: the collections and default statuses of the series chosen
    patients = want["patients"].set_index("source_patient_id")
    for row in series.itertuples():
        assert patients.loc[row.PatientID, "collection"] == NAMES[row.collection_id]
        assert patients.loc[row.PatientID, "covid_status"] == \
            ("negative" if row.collection_id == "midrc_ricord_1b" else "positive")
    assert len(want["images"]) == 2 + 2 + 1
    for name, cohort in cohorts.items():
        got = _comparable(cohort)
        assert cohort.findings.empty, (name, cohort.findings)
        for table in ("patients", "images"):
            pd.testing.assert_frame_equal(got[table], want[table], obj=f"{name} {table}")


def test_idc_index_root_itself_and_nested(series: pd.DataFrame, tmp_path: Path) -> None:
    folders = _layouts(tmp_path, series)
    inner = folders["idc"] / "covid_19_ar"
    assert tcia.detect(str(inner))
    part = ci.load({"tcia": inner}, progress=False, index_cache=False)
    assert set(part.patients["collection"]) == {"COVID-19-AR"}
    assert len(part.images) == 2


def test_series_unknown_to_idc_are_reported(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    folder = tmp_path / "tciaDownload"
    series_uid = uid(rng)
    for k in range(2):
        path = folder / series_uid / f"1-{k + 1:02d}.dcm"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_dicom(path, rng.integers(-1000, 400, (8, 8)).astype(np.float32), modality="CT",
                    patient_id="X-1", study_uid=uid(rng), series_uid=series_uid,
                    sop_uid=uid(rng), study_date=dt.date(2020, 4, 1), instance_number=k + 1,
                    position_z=float(k))
    cohort = ci.load({"tcia": folder}, progress=False, index_cache=False)
    found = cohort.findings[cohort.findings["kind"] == "collection_not_found"]
    assert len(found) == 1 and found["image_uid"].iat[0] == f"tcia:{series_uid}"
    assert cohort.patients["covid_status"].tolist() == ["unknown"]
    assert cohort.patients["collection"].isna().all()
    # a flat folder of files unknown to IDC is not taken for a TCIA download
    flat = tmp_path / "flat"
    flat.mkdir()
    (folder / series_uid / "1-01.dcm").rename(flat / "a.dcm")
    assert not tcia.detect(str(flat))
