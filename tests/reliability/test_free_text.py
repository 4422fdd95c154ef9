"""Free text never reaches an output unless asked for: descriptions and typed-in values.

Every source's demo layout gets identifying-looking free text planted where a user's data can
carry it: the DICOM StudyDescription, SeriesDescription and ProtocolName of every DICOM file
(inside zips too) and NCCID DICOM-JSON metadata file; a name typed into numeric, date and
categorical clinical fields (NCCID's JSON, MHH's data.csv, MIDRC's case and imaging_study
exports, CRDW's datamart, TCIA's SBU sheet); and a name in one CRDW zip's exam description.
Loading, saving, the index cache, ``covidimg report`` and every warning are then searched for
each planted token. A description is kept only with ``descriptions="keep"``, and then only in
``images``. The zip's name itself stays in ``path`` (the file is the user's, and a finding
points at it): the CRDW token is searched with that file name taken out.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import pandas as pd
import pydicom
import pytest

import covidimg as ci
from covidimg import cli
from covidimg.demo import generate_demo
from covidimg.schema import EXAMS
from covidimg.sources._engine.exam import exam_label
from covidimg.sources._engine.free_text import DESCRIPTION_COLUMNS, describe_value

from .layouts import write_layout

#: Planted in the DICOM descriptions of every file.
DESCRIPTIONS = {"StudyDescription": "XR CHEST JOHN ZZSTUDYDOE",
                "SeriesDescription": "CHEST ZZSERIESDOE",
                "ProtocolName": "ZZPROTODOE CHEST"}
DESCRIPTION_TOKENS = ("ZZSTUDYDOE", "ZZSERIESDOE", "ZZPROTODOE")
#: Planted in clinical fields, and in one CRDW zip name's exam description.
VALUE_TOKENS = ("ZZLYMDOC", "ZZDATEDOC", "ZZMHHDOC", "ZZPROJDOC", "ZZMIDRCAGE", "ZZMIDRCSEX",
                "ZZMIDRCDESC", "ZZCRDWSEX", "ZZCRDWLAB", "ZZSBUDOC")
ZIP_TOKEN = "ZZZIPDOE"
SOURCES = ("mhh", "nccid", "crdw", "midrc", "tcia")


# ---------------------------------------------------------------------- planting
def _stamped(data: bytes) -> bytes:
    ds = pydicom.dcmread(io.BytesIO(data))
    for keyword, value in DESCRIPTIONS.items():
        setattr(ds, keyword, value)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=False)
    return out.getvalue()


def _stamp_dicom(root: Path) -> int:
    """The planted descriptions in every DICOM file, zip member and DICOM-JSON metadata file."""
    n = 0
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        if path.suffix == ".dcm":
            with contextlib.suppress(Exception):  # a deliberately broken file stays broken
                path.write_bytes(_stamped(path.read_bytes()))
                n += 1
        elif path.suffix == ".zip":
            try:
                with zipfile.ZipFile(path) as zf:
                    members = [(info, zf.read(info)) for info in zf.infolist()]
            except zipfile.BadZipFile:
                continue
            with zipfile.ZipFile(path, "w") as zf:
                for info, data in members:
                    if info.filename.endswith(".dcm"):
                        with contextlib.suppress(Exception):
                            data = _stamped(data)
                            n += 1
                    zf.writestr(info, data)
        elif path.suffix == ".json" and "metadata" in str(path):
            obj = json.loads(path.read_text())
            if isinstance(obj, dict) and "00080018" in obj:
                obj.update({"00081030": {"vr": "LO", "Value": [DESCRIPTIONS["StudyDescription"]]},
                            "0008103E": {"vr": "LO",
                                         "Value": [DESCRIPTIONS["SeriesDescription"]]},
                            "00181030": {"vr": "LO", "Value": [DESCRIPTIONS["ProtocolName"]]}})
                path.write_text(json.dumps(obj))
                n += 1
    return n


def _plant_clinical(source: str, root: Path) -> None:
    if source == "nccid":
        for path in root.rglob("*.json"):
            obj = json.loads(path.read_text())
            if "metadata" not in str(path) and isinstance(obj, dict) and "Pseudonym" in obj:
                obj["Lymphocyte count on admission"] = "0.9 per Dr ZZLYMDOC"
                obj["Date of admission"] = "seen by ZZDATEDOC"
                path.write_text(json.dumps(obj))
    elif source == "mhh":
        data = pd.read_csv(root / "data.csv", dtype=str, keep_default_na=False)
        data.loc[0, "crp_val"] = "0.9 per Dr ZZMHHDOC"
        data.loc[1, "projection"] = "ap ZZPROJDOC"
        data.to_csv(root / "data.csv", index=False)
    elif source == "midrc":
        for name, column, value in (("case.tsv", "age_at_index", "about ZZMIDRCAGE"),
                                    ("case.tsv", "sex", "Dr ZZMIDRCSEX"),
                                    ("imaging_study.tsv", "study_description",
                                     "XR CHEST ZZMIDRCDESC")):
            table = pd.read_csv(root / name, sep="\t", dtype=str, keep_default_na=False)
            table[column] = value
            table.to_csv(root / name, sep="\t", index=False)
    elif source == "crdw":
        patients = pd.read_csv(root / "datamart" / "patients.csv", dtype=str,
                               keep_default_na=False)
        patients.loc[0, "sex"] = "Dr ZZCRDWSEX"
        patients.to_csv(root / "datamart" / "patients.csv", index=False)
        labs = pd.read_excel(root / "datamart" / "labs.xlsx", dtype=str)
        labs.loc[0, "value"] = "see ZZCRDWLAB"
        labs.to_excel(root / "datamart" / "labs.xlsx", index=False)
    elif source == "tcia":
        sheet = next(root.rglob("deidentified_overlap_tcia.csv"))
        table = pd.read_csv(sheet, dtype=str, keep_default_na=False)
        crp = next(c for c in table.columns if "C reactive protein" in c)
        table[crp] = "per Dr ZZSBUDOC"
        table.to_csv(sheet, index=False)


def _rename_crdw_zip(root: Path) -> str:
    """Put the zip token in one radiograph zip's exam description; return the new stem."""
    path = next(p for p in sorted(root.rglob("*_XR-CHEST-PA.zip")))
    renamed = path.with_name(path.stem + f"-{ZIP_TOKEN}.zip")
    path.rename(renamed)
    return renamed.stem


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Path], str]:
    """Source -> root of a demo with the free text planted; and the renamed CRDW zip's stem."""
    folder = tmp_path_factory.mktemp("free-text")
    roots = {}
    for source in SOURCES:
        if source == "mhh":
            generate_demo(folder / "mhh-demo", sources=["mhh"], seed=1, n_patients=4)
            root = folder / "mhh-demo" / "mhh"
        else:
            root = write_layout(source, folder / source)
            assert _stamp_dicom(root) >= 3, source
        _plant_clinical(source, root)
        roots[source] = root
    stem = _rename_crdw_zip(roots["crdw"])
    return roots, stem


# ---------------------------------------------------------------------- searching
def _found(content: str | bytes, tokens: tuple[str, ...], *, zip_stem: str) -> list[str]:
    text = content.decode("latin-1") if isinstance(content, bytes) else content
    text = text.replace(zip_stem, "<the zip>")  # the file's own name, in paths
    return [t for t in tokens if t.lower() in text.lower()]


def _outputs(roots: dict[str, Path], work: Path, **load: object
             ) -> tuple[ci.Cohort, dict[str, str | bytes]]:
    out: dict[str, str | bytes] = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cohort = ci.load({s: str(r) for s, r in roots.items()}, progress=False,
                         index_cache=work / "cache", **load)
        for name, table in cohort.tables().items():
            out[f"table {name}"] = table.to_csv(index=False)
        saved = work / "saved"
        cohort.save(saved)
        for path in sorted(saved.rglob("*")):
            if path.is_file():
                out[f"saved {path.relative_to(saved)}"] = path.read_bytes()
        reopened = ci.Cohort.open(saved)
        for name, table in reopened.tables().items():
            out[f"reopened {name}"] = table.to_csv(index=False)
        run = subprocess.run([sys.executable, "-m", "covidimg.cli", "report", str(saved)],
                             capture_output=True, text=True, timeout=300, check=False)
        assert run.returncode == 0, run.stderr
        out["covidimg report"] = run.stdout + run.stderr
        for path in sorted((work / "cache").rglob("*")):
            if path.is_file():
                out[f"index cache {path.name}"] = path.read_bytes()
    out["warnings"] = "\n".join(str(w.message) for w in caught)
    return cohort, out


def test_no_free_text_reaches_any_output_by_default(planted, tmp_path: Path) -> None:
    roots, stem = planted
    cohort, outputs = _outputs(roots, tmp_path)
    # Every output was produced and the planted values were met.
    assert any(name.startswith("index cache ") for name in outputs)
    assert any(name.endswith(".parquet") for name in outputs)
    assert "Findings (" in outputs["covidimg report"]
    findings = cohort.findings
    assert {"unconvertible_unit", "unparseable_value", "unknown_value"} <= set(findings["kind"])
    assert findings["detail"].str.contains("a text of 19 characters", regex=False).any()
    assert set(cohort.images["source"]) == set(SOURCES)
    assert any(stem in p for p in cohort.files["path"])

    # The descriptions became the harmonized label and are not kept.
    assert not set(DESCRIPTION_COLUMNS) & set(cohort.images.columns)
    assert set(cohort.images["exam"].astype(str)) <= set(EXAMS)
    assert cohort.images["exam"].notna().all()
    assert {"CXR PA", "CXR AP", "CT CHEST"} <= set(cohort.images["exam"].astype(str))

    leaks = {name: found for name, content in outputs.items()
             if (found := _found(content, (*DESCRIPTION_TOKENS, *VALUE_TOKENS, ZIP_TOKEN),
                                 zip_stem=stem))}
    assert leaks == {}

    # A second load takes the index from the cache: the same images, still without text.
    again, outputs = _outputs(roots, tmp_path / "again")
    pd.testing.assert_frame_equal(again.images.drop(columns="path"),
                                  cohort.images.drop(columns="path"))


def test_descriptions_keep_puts_them_in_images_only(planted, tmp_path: Path) -> None:
    roots, stem = planted
    cohort, outputs = _outputs(roots, tmp_path, descriptions="keep")
    images = cohort.images
    assert set(DESCRIPTION_COLUMNS) <= set(images.columns)
    dicom = images[images["format"] == "dicom"]
    assert (dicom["study_description"] == DESCRIPTIONS["StudyDescription"]).all()
    assert (dicom["series_description"] == DESCRIPTIONS["SeriesDescription"]).all()
    assert (dicom["protocol_name"] == DESCRIPTIONS["ProtocolName"]).all()
    crdw = images[images["source"] == "crdw"]
    assert crdw["exam_description"].str.contains(ZIP_TOKEN).sum() == 1
    assert images.loc[images["source"] != "crdw", "exam_description"].isna().all()
    # ... the labels do not change with the policy ...
    assert set(images["exam"].astype(str)) <= set(EXAMS)

    # ... and the texts are in images (and the saved images file), nowhere else; the index
    # cache was not used, so it holds none of them.
    for name, content in outputs.items():
        found = _found(content, (*DESCRIPTION_TOKENS, *VALUE_TOKENS, ZIP_TOKEN), zip_stem=stem)
        if name in ("table images", "reopened images") or \
                (name.startswith("saved ") and "images" in name):
            continue
        assert found == [], name
    assert _found(outputs["table images"], DESCRIPTION_TOKENS, zip_stem=stem) == \
        list(DESCRIPTION_TOKENS)
    saved_images = [c for n, c in outputs.items() if n.startswith("saved ") and "images" in n]
    assert any(_found(c, DESCRIPTION_TOKENS, zip_stem=stem) for c in saved_images)
    assert _found(outputs["covidimg report"], (*DESCRIPTION_TOKENS, *VALUE_TOKENS, ZIP_TOKEN),
                  zip_stem=stem) == []
    assert _found(outputs["table images"], VALUE_TOKENS, zip_stem=stem) == []


def test_index_keep_descriptions_on_the_command_line(planted, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    roots, _ = planted
    monkeypatch.setenv("COVIDIMG_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "cohort"
    assert cli.main(["index", f"tcia={roots['tcia']}", "-o", str(out), "-q",
                     "--keep-descriptions"]) == 0
    images = ci.Cohort.open(out).images
    dicom = images[images["format"] == "dicom"]  # TCIA's NIfTI volumes have no description
    assert len(dicom) and (dicom["study_description"] == DESCRIPTIONS["StudyDescription"]).all()


def test_a_bad_description_policy_is_refused_before_anything_is_read(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"descriptions='verbatim'.*\['drop', 'keep'\]"):
        ci.load({"mhh": str(tmp_path)}, descriptions="verbatim")


# ---------------------------------------------------------------------- the one function each
@pytest.mark.parametrize(("modality", "view", "texts", "label"), [
    ("CR", "PA", ("XR CHEST PA",), "CXR PA"),
    ("DX", "AP", ("XR CHEST AP PORTABLE",), "CXR AP PORTABLE"),
    ("DX", "UNKNOWN", ("XR PORT CHEST 1V",), "CXR AP PORTABLE"),
    ("DX", "AP", ("BEDSIDE CHEST",), "CXR AP PORTABLE"),
    ("CR", "LAT", ("CHEST PA AND LATERAL",), "CXR LAT"),
    ("CR", "UNKNOWN", ("CHEST PA AND LATERAL",), "CXR"),
    ("CR", "PA", ("JOHN DOE CHEST",), "CXR PA"),
    ("CR", "AP", ("Thorax \u00fcbersicht",), "CXR AP"),
    ("CR", "AP", (), "CXR AP"),
    ("DX", "AP", ("XR ABDOMEN 1V",), "XR"),
    ("DX", "AP", ("XR CHEST ABDOMEN",), "CXR AP"),
    ("CT", "AXIAL", ("CT CHEST W/O CONTRAST",), "CT CHEST"),
    ("CT", "AXIAL", ("CT-CHEST-WO",), "CT CHEST"),
    ("CT", "AXIAL", ("CT CHEST WITHOUT CONTRAST",), "CT CHEST"),
    ("CT", "AXIAL", ("CT CHEST NON-CONTRAST",), "CT CHEST"),
    ("CT", "AXIAL", ("CT CHEST W CONTRAST",), "CT CHEST W CONTRAST"),
    ("CT", "AXIAL", ("CT CHEST W/ IV CONTRAST",), "CT CHEST W CONTRAST"),
    ("CT", "AXIAL", ("CT CHEST WITH CONTRAST",), "CT CHEST W CONTRAST"),
    ("CT", "AXIAL", ("CT CHEST W CON",), "CT CHEST W CONTRAST"),
    ("CT", "AXIAL", ("CT-CHEST-W",), "CT CHEST W CONTRAST"),
    ("CT", "AXIAL", ("CT CHEST W AND WO CONTRAST",), "CT CHEST W CONTRAST"),
    ("CT", "AXIAL", ("CT THORAX CONTRAST ENHANCED",), "CT CHEST W CONTRAST"),
    ("CT", "AXIAL", ("CTA CHEST PE",), "CTA CHEST"),
    ("CT", "AXIAL", ("CTA-CHEST-PE",), "CTA CHEST"),
    ("CT", "AXIAL", ("CT ANGIO CHEST",), "CTA CHEST"),
    ("CT", "AXIAL", ("CT PE PROTOCOL",), "CTA CHEST"),
    ("CT", "AXIAL", ("CTA HEAD AND NECK",), "CT"),
    ("CT", "AXIAL", ("CT CHEST ABD PELVIS W CONTRAST",), "CT CHEST ABDOMEN PELVIS"),
    ("CT", "AXIAL", ("CT CAP",), "CT CHEST ABDOMEN PELVIS"),
    ("CT", "AXIAL", ("CT ABDOMEN PELVIS",), "CT"),
    ("CT", "AXIAL", ("AXIAL 2.5MM",), "CT"),
    ("CT", "AXIAL", ("CT", "AXIAL LUNG"), "CT CHEST"),
    ("CT", "AXIAL", ("CT CHEST", None, ""), "CT CHEST"),
    ("MR", "AXIAL", ("MR CHEST",), "MR"),
    ("US", "UNKNOWN", ("US CHEST",), "UNKNOWN"),
    (None, "UNKNOWN", (), "UNKNOWN"),
])
def test_exam_labels_of_hand_written_descriptions(modality, view, texts, label) -> None:
    assert exam_label(modality, view, *texts) == label
    assert label in EXAMS


@pytest.mark.parametrize(("value", "said"), [
    ("0.9 per Dr ZZLYMDOC", "a text of 19 characters (letters, digits, spaces, punctuation)"),
    ("JOHN DOE", "a text of 8 characters (letters, spaces)"),
    ("Dr. O'Neil", "a text of 10 characters (letters, spaces, punctuation)"),
    ("3 Smith Street", "a text of 14 characters (letters, digits, spaces)"),
    ("3 Mayfair 2020", "a text of 14 characters (letters, digits, spaces)"),
    ("x", "a text of 1 character (letters)"),
    ("", "an empty text"),
    (None, "an empty value"),
    (["Doe", "John"], "a list of 2 items"),
    ({"name": "Doe"}, "an object of 1 key"),
    ("12.5", "'12.5'"),
    ("<5", "'<5'"),
    ("> 1000", "'> 1000'"),
    ("8.5 kPa", "'8.5 kPa'"),
    ("10L", "'10L'"),
    ("120/80", "'120/80'"),
    ("[12] - 2020-04-08", "'[12] - 2020-04-08'"),
    ("2020-03-01", "'2020-03-01'"),
    ("31/31/2020", "'31/31/2020'"),
    ("3 March 2020", "'3 March 2020'"),
    ("mg/dL", "'mg/dL'"),
    (12, "12"),
    (float("nan"), "NaN"),
    (True, "True"),
])
def test_describe_value_quotes_only_numbers_dates_and_codes(value, said) -> None:
    assert describe_value(value) == said


def test_describe_value_quotes_a_member_of_the_vocabulary() -> None:
    assert describe_value("Positive", vocabulary=("positive", "negative")) == "'Positive'"
    assert describe_value("Doe", vocabulary=("positive", "negative")) == \
        "a text of 3 characters (letters)"
