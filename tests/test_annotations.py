"""The annotations table: RICORD MD.ai exports and label CSVs (TCIA), NCCID severity readings;
round trips against the demo truth, bad exports, collection keying, privacy and the filter."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import covidimg as ci
from covidimg.demo import mdai as demo_mdai
from covidimg.demo import nccid as demo_nccid
from covidimg.demo import tcia as demo_tcia
from covidimg.demo.dicom_writer import write_dicom
from covidimg.sources import nccid, tcia
from covidimg.sources._engine import mdai
from covidimg.sources._engine.ledger import Ledger

KEY = ["annotation_uid", "patient_uid", "image_uid", "scheme", "kind", "label", "instance",
       "reader"]
TCIA_KEY = [*KEY, "study_uid", "slice_index"]


def _text(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) or \
        value is pd.NA else str(value)


def _geometry(value: object) -> object:
    text = _text(value)
    return json.loads(text) if text else None


def _compare(got: pd.DataFrame, want: pd.DataFrame, columns: list[str] = KEY) -> None:
    got = got.set_index("annotation_uid").sort_index()
    want = want.set_index("annotation_uid").sort_index()
    assert list(got.index) == list(want.index)
    for column in columns[1:]:
        assert [_text(v) for v in got[column]] == [_text(v) for v in want[column]], column
    assert [_geometry(v) for v in got["geometry"]] == [_geometry(v) for v in want["geometry"]]
    np.testing.assert_array_equal(got["score"].to_numpy(float),
                                  want["score"].to_numpy(float))


@pytest.fixture(scope="module")
def tcia_demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object, object]:
    root = tmp_path_factory.mktemp("annotations") / "tcia"
    truth = demo_tcia.write(root, rng=np.random.default_rng(5), n_patients=12)
    return root, truth, tcia.load(root)


def test_tcia_demo_round_trip(tcia_demo: tuple[Path, object, object]) -> None:
    _root, truth, tables = tcia_demo
    assert len(truth.annotations) > 20
    assert set(truth.annotations["kind"]) == {"label", "box", "polygon"}
    _compare(tables.annotations, truth.annotations, TCIA_KEY)
    # every box lies inside its image, in its pixel coordinates
    images = tables.images.set_index("image_uid")
    for row in tables.annotations[tables.annotations["kind"] == "box"].itertuples():
        box = json.loads(row.geometry)
        image = images.loc[row.image_uid]
        assert 0 <= box["x"] and box["x"] + box["w"] <= image["columns"]
        assert 0 <= box["y"] and box["y"] + box["h"] <= image["rows"]


def test_tcia_demo_findings_files_and_privacy(tcia_demo: tuple[Path, object, object]) -> None:
    _root, truth, tables = tcia_demo
    findings = tables.findings
    unmatched = findings[findings["kind"] == "unmatched_annotation"]
    missing = truth.findings.loc[truth.findings["kind"] == "unmatched_annotation", "detail"]
    assert len(unmatched) == 1 and unmatched["detail"].str.contains(missing.iat[0]).all()
    assert findings["detail"].str.contains("region not read").any()
    files = tables.files.set_index("path")
    exports = [p for p in files.index if p.endswith(".json")]
    assert len(exports) == 2 and (files.loc[exports, "status"] == "used").all()
    assert len(tables.files) == truth.n_files
    # No reader id, reader name or annotation note reaches any table.
    export = json.loads(Path(exports[0]).read_text())
    reader_ids = {a["createdById"] for d in export["datasets"] for a in d["annotations"]}
    secrets = [demo_mdai.NOTE_TEXT, "reader0", "reader1", *reader_ids]
    for name, frame in tables.tables().items():
        text = frame.astype(str)
        for secret in secrets:
            assert not text.apply(lambda s, x=secret: s.str.contains(x, regex=False)).any(
                ).any(), (name, secret)
    readers = tables.annotations["reader"].dropna()
    assert sorted(set(readers)) == list(range(1, readers.nunique() + 1))


def test_nccid_demo_round_trip(tmp_path: Path) -> None:
    truth = demo_nccid.write(tmp_path / "nccid", rng=np.random.default_rng(4), n_patients=20)
    tables = nccid.load(tmp_path / "nccid")
    want = truth.annotations
    assert {"nccid_cxr_severity", "nccid_covid_code"} == set(want["scheme"])
    assert want["annotation_uid"].str.endswith("CXR severity 3").any()   # the typo key
    assert want["image_uid"].isna().any() and want["image_uid"].notna().any()
    _compare(tables.annotations, want)
    # the readings stay in observations too
    fields = set(tables.observations["field"])
    assert {"cxr_severity", "covid_code"} <= fields


# ---------------------------------------------------------------------- MD.ai exports
def _export(path: Path, annotations: list[dict], labels: list[dict] | None = None) -> Path:
    labels = labels if labels is not None else [
        {"id": "L_box", "name": "Airspace Opacity", "type": "local", "scope": "instance",
         "annotationMode": "bbox"},
        {"id": "L_typ", "name": "Typical Appearance", "type": "global", "scope": "study",
         "annotationMode": None}]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"datasets": [{"id": "D_1", "annotations": annotations}],
                                "labelGroups": [{"id": "G_1", "labels": labels}]}))
    return path


def _nbia(root: Path, collection: str, pid: str, sop: str,
          date: dt.date = dt.date(2020, 4, 9)) -> None:
    path = root / collection / pid / f"{date:%m-%d-%Y}-NA-XR-{sop[-3:]}" / "1-AP" / "1-1.dcm"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_dicom(path, np.full((32, 32), 0.4, np.float32), modality="CR", patient_id=pid,
                study_uid=f"{sop}.1", series_uid=f"{sop}.2", sop_uid=sop, study_date=date,
                view="AP", sex="F", age_years=40)


@pytest.mark.parametrize(("content", "reason"), [
    (b"{not json", "not UTF-8 JSON"),
    (b'{"datasets": 3, "labelGroups": []}', "not an MD.ai export"),
    (b'{"datasets": [], "labelGroups": [' + b"[" * 200 + b"]" * 200 + b"]}",
     "nested deeper"),
    (b'{"datasets": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}", "nested deeper"),
    ("{\"datasets\": [], \"x\": \"\xe9\"}".encode("latin-1"), "not UTF-8 JSON"),
])
def test_bad_export_is_a_finding(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "export.json"
    path.write_bytes(content)
    ledger = Ledger("tcia", tmp_path)
    assert mdai.read_mdai(path, ledger) is None
    files = ledger.files_frame()
    assert files["status"].tolist() == ["rejected"]
    findings = ledger.findings_frame()
    assert findings["kind"].tolist() == ["unreadable_file"]
    assert reason in findings["detail"].iat[0]


def test_export_too_large(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _export(tmp_path / "e.json", [])
    monkeypatch.setattr(mdai, "MAX_MDAI_BYTES", 10)
    ledger = Ledger("tcia", tmp_path)
    assert mdai.read_mdai(path, ledger) is None
    assert "more than the 10" in ledger.findings_frame()["detail"].iat[0]


def test_bad_annotations_are_findings_not_crashes(tmp_path: Path) -> None:
    notes = [
        {"id": "A_1", "labelId": "L_box", "SOPInstanceUID": "2.25.1",
         "data": {"x": 1, "y": 2, "width": "wide", "height": 3}, "createdById": "U_a"},
        {"id": "A_2", "labelId": "L_none", "StudyInstanceUID": "2.25.1.1", "data": None},
        {"id": "A_3", "data": None},
        "not an object",
        {"id": "A_4", "labelId": "L_box", "SOPInstanceUID": "2.25.1",
         "data": {"vertices": [[1, 2], [float("nan"), 3]]}, "surprise": 1},
    ]
    path = tmp_path / "e.json"
    path.write_text(json.dumps({"datasets": [{"annotations": notes}], "labelGroups": [
        {"labels": [{"id": "L_box", "name": "Airspace Opacity", "type": "local"}]}]}))
    ledger = Ledger("tcia", tmp_path)
    export = mdai.read_mdai(path, ledger)
    assert export is not None
    kinds = {a.key: (a.kind, a.label) for a in export.annotations}
    assert kinds == {"A_1": ("label", "Airspace Opacity"), "A_2": ("label", "L_none"),
                     "A_4": ("label", "Airspace Opacity")}
    found = ledger.findings_frame()
    assert sorted(found["kind"]) == ["missing_value", "unexpected_field", "unknown_value",
                                     "unparseable_value", "unparseable_value",
                                     "unparseable_value"]
    assert found["path"].str.contains(r"annotations\[0\]").any()


def test_loader_links_by_sop_series_and_study(tmp_path: Path) -> None:
    root = tmp_path / "dl"
    _nbia(root, "MIDRC-RICORD-1C", "MIDRC-RICORD-1C-440808-000007", "2.25.71")
    _export(root / "labels.json", [
        {"id": "A_box", "labelId": "L_box", "StudyInstanceUID": "2.25.71.1",
         "SeriesInstanceUID": "2.25.71.2", "SOPInstanceUID": "2.25.71",
         "data": {"x": 3, "y": 4, "width": 10, "height": 6}, "createdById": "U_b"},
        {"id": "A_ser", "labelId": "L_box", "StudyInstanceUID": "2.25.71.1",
         "SeriesInstanceUID": "2.25.71.2", "SOPInstanceUID": None,
         "data": {"vertices": [[1, 1], [5, 1], [5, 5]]}, "createdById": "U_a"},
        {"id": "A_stu", "labelId": "L_typ", "StudyInstanceUID": "2.25.71.1", "data": None,
         "createdById": "U_a"},
        {"id": "A_off", "labelId": "L_typ", "StudyInstanceUID": "2.25.99.1", "data": None}])
    (root / "other.json").write_text('{"hello": 1}')
    tables = tcia.load(root)
    notes = tables.annotations.set_index("annotation_uid")
    assert notes.loc["tcia:A_box", "image_uid"] == "tcia:2.25.71"
    assert json.loads(notes.loc["tcia:A_box", "geometry"]) == {"x": 3, "y": 4, "w": 10, "h": 6}
    assert notes.loc["tcia:A_box", "instance"] == "2.25.71"
    assert notes.loc["tcia:A_ser", "image_uid"] == "tcia:2.25.71"
    assert json.loads(notes.loc["tcia:A_ser", "geometry"])["points"][2] == [5, 5]
    assert pd.isna(notes.loc["tcia:A_stu", "image_uid"])
    assert notes.loc["tcia:A_stu", "study_uid"] == "2.25.71.1"
    assert notes.loc["tcia:A_stu", "label"] == "Typical Appearance"
    # readers numbered in the sorted order of their ids: U_a -> 1, U_b -> 2
    assert notes["reader"].tolist() == [2, 1, 1]
    assert "tcia:A_off" not in notes.index
    findings = tables.findings
    assert findings.loc[findings["kind"] == "unmatched_annotation", "detail"].str.contains(
        "1 of 4 annotations").all()
    files = tables.files.set_index("path")
    assert files.loc[str(root / "other.json"), "status"] == "ignored"


def test_label_csv_is_keyed_by_its_own_collection(tmp_path: Path) -> None:
    """1A and 1C patients share site and number; a label CSV labels only its own collection,
    and a CSV of no known collection labels no one when the MRN is ambiguous."""
    root = tmp_path / "dl"
    _nbia(root, "MIDRC-RICORD-1A", "MIDRC-RICORD-1A-419639-000082", "2.25.81")
    _nbia(root, "MIDRC-RICORD-1C", "MIDRC-RICORD-1C-419639-000082", "2.25.82")
    row = {"Anon MRN": "419639-000082", "Anon TCIA Study Date": "04/09/2020",
           "Reader_id": "U_x", "Reader_name": "Dr Somebody", "CLASS_label": "Typical Appearance",
           "GRADE_label": "Mild Opacities"}
    pd.DataFrame([row]).to_csv(root / "MIDRC-RICORD-1A" / "labels.csv", index=False)
    pd.DataFrame([{**row, "CLASS_label": "Atypical Appearance"}]).to_csv(
        root / "ambiguous-labels.csv", index=False)
    tables = tcia.load(root)
    notes = tables.annotations
    assert set(notes["patient_uid"]) == {"tcia:MIDRC-RICORD-1A-419639-000082"}
    assert sorted(notes["label"]) == ["Mild Opacities", "Typical Appearance"]
    assert (notes["study_uid"] == "2.25.81.1").all() and notes["image_uid"].isna().all()
    images = tables.images.set_index("image_uid")
    assert pd.isna(images.loc["tcia:2.25.82", "annotation_class"])
    assert "unmatched_annotation" in set(tables.findings["kind"])
    assert not tables.annotations.astype(str).apply(
        lambda s: s.str.contains("Somebody")).any().any()


# ---------------------------------------------------------------------- filter
def test_filter_by_annotation_and_severity(tmp_path: Path) -> None:
    t_truth = demo_tcia.write(tmp_path / "tcia", rng=np.random.default_rng(5), n_patients=12)
    n_truth = demo_nccid.write(tmp_path / "nccid", rng=np.random.default_rng(4),
                               n_patients=20)
    cohort = ci.load({"tcia": tmp_path / "tcia", "nccid": tmp_path / "nccid"})
    notes = t_truth.annotations
    typical = set(notes.loc[notes["label"] == "Typical Appearance", "patient_uid"])
    assert typical
    got = cohort.filter(annotation="Typical Appearance")
    assert set(got.patients["patient_uid"]) == typical
    assert set(got.annotations["patient_uid"]) <= typical
    either = set(notes.loc[notes["label"].isin(["Typical Appearance", "Negative for Pneumonia"]),
                           "patient_uid"])
    got = cohort.filter(annotation=["Typical Appearance", "Negative for Pneumonia"])
    assert set(got.patients["patient_uid"]) == either
    scores = n_truth.annotations[n_truth.annotations["kind"] == "score"]
    severe = set(scores.loc[scores["score"] >= 3, "patient_uid"])
    assert severe and set(cohort.filter(severity=(3, None)).patients["patient_uid"]) == severe
    mild_only = set(scores["patient_uid"]) - set(scores.loc[scores["score"] > 1, "patient_uid"])
    got = cohort.filter(severity={"nccid_cxr_severity": (None, 1)})
    assert mild_only <= set(got.patients["patient_uid"])
    assert set(got.patients["patient_uid"]) == set(scores.loc[scores["score"] <= 1,
                                                             "patient_uid"])
    both = cohort.filter(annotation="Typical Appearance", severity=(2, None))
    assert len(both.patients) == 0          # RICORD labels carry no scores
    with pytest.raises(ValueError, match="unknown scheme 'ralee'"):
        cohort.filter(severity={"ralee": (1, None)})
    with pytest.raises(ValueError, match="severity=.*low is greater than high"):
        cohort.filter(severity=(3, 1))


# ---------------------------------------------------------------------- viewer overlay
def test_viewer_draws_regions_at_the_truths_pixels(tcia_demo: tuple[Path, object,
                                                                   object]) -> None:
    pytest.importorskip("ipywidgets")
    from covidimg.widgets.viewer import ImageViewer

    _root, truth, tables = tcia_demo
    notes = truth.annotations
    boxes = notes[notes["kind"] == "box"]
    image_uid = boxes["image_uid"].iat[0]
    want = boxes[boxes["image_uid"] == image_uid]
    viewer = ImageViewer(size=256, annotations=tables.annotations)
    images = tables.images.set_index("image_uid", drop=False)
    viewer.load(images.loc[image_uid].to_dict())
    got = sorted((s["x0"], s["y0"], s["x1"], s["y1"]) for s in viewer.shapes)
    expected = sorted((g["x"], g["y"], g["x"] + g["w"], g["y"] + g["h"])
                      for g in map(json.loads, want["geometry"]))
    assert got == expected and len(got) == 2
    assert all(s["type"] == "rect" and s["xref"] == "x" for s in viewer.shapes)
    # the figure's axes are the image's pixels (y down)
    layout = viewer.overlay.figure.layout
    assert layout.yaxis.range[0] > layout.yaxis.range[1]
    assert viewer.overlay.layout.display != "none"
    # a toggle per reader
    first = f"reader {int(want['reader'].iat[0])}"
    assert sorted(viewer.reader_toggles) == sorted(f"reader {int(r)}" for r in want["reader"])
    viewer.show_reader(first, False)
    assert len(viewer.shapes) == 1 and first not in viewer.shapes[0]["name"]
    assert want["label"].iat[0] in viewer.shapes[0]["name"]
    viewer.show_reader(first, True)
    assert len(viewer.shapes) == 2
    with pytest.raises(ValueError, match="has no region on this image"):
        viewer.show_reader("reader 99")

    # a CT polygon is drawn on its slice only, with the truth's vertices
    polygon = notes[notes["kind"] == "polygon"].iloc[0]
    viewer.load(images.loc[polygon["image_uid"]].to_dict())
    viewer.slice.value = int(polygon["slice_index"])
    points = json.loads(polygon["geometry"])["points"]
    path = viewer.shapes[0]["path"]
    assert path == "M " + " L ".join(f"{float(x)},{float(y)}" for x, y in points) + " Z"
    viewer.slice.value = int(polygon["slice_index"]) + 1
    assert viewer.shapes == []
    # an image without regions is drawn in the same figure (zoom and pan on every image)
    plain = images[~images["image_uid"].isin(set(tables.annotations["image_uid"].dropna()))]
    viewer.load(plain.iloc[0].to_dict())
    assert viewer.shapes == [] and viewer.overlay.spec["data"][0]["type"] == "image"


def test_midrc_mrale_scores_and_mdai_exports(tmp_path: Path) -> None:
    from covidimg.demo import midrc as demo_midrc
    from covidimg.sources import midrc

    root = tmp_path / "midrc"
    truth = demo_midrc.write(root, rng=np.random.default_rng(2), n_patients=12)
    before = midrc.load(root)
    # mRALE scores: an annotation per score the demo planted (its truth keeps them as
    # observations), on the patient, with the annotator as a reader number only
    planted = truth.observations[truth.observations["field"] == "midrc:midrc_mRALE_score"]
    scores = before.annotations[before.annotations["scheme"] == "mrale"]
    assert len(planted) > 0
    assert sorted(zip(scores["patient_uid"], scores["score"], strict=True)) == sorted(
        zip(planted["patient_uid"], planted["value_num"].astype(float), strict=True))
    assert (scores["kind"] == "score").all() and scores["reader"].notna().all()
    assert scores["study_uid"].notna().all() and scores["image_uid"].isna().all()
    assert not scores.astype(str).apply(lambda s: s.str.contains("@")).any().any()
    images = before.images
    radiographs = images[images["n_instances"] == 1].head(3)
    listed = [{"patient_uid": r.patient_uid, "image_uid": r.image_uid,
               "study_uid": r.study_uid, "series_uid": r.series_uid,
               "sop_uids": [r.image_uid.split(":", 1)[1]], "rows": r.rows,
               "columns": r.columns} for r in radiographs.itertuples()]
    assert len(listed) == 3
    want = demo_mdai.write_export(root / "ricord_annotations.json", listed,
                                  rng=np.random.default_rng(3))
    want["annotation_uid"] = want["annotation_uid"].str.replace("tcia:", "midrc:")
    want = demo_mdai.number_readers(want)
    want["score"] = np.nan
    tables = midrc.load(root)
    assert len(want) == 12      # per radiograph: two readers' labels and boxes
    notes = tables.annotations
    _compare(notes[notes["scheme"] == "ricord"], want)
    assert len(tables.files) == len(before.files) + 1
    assert tables.files.set_index("path").loc[str(root / "ricord_annotations.json"),
                                              "status"] == "used"
