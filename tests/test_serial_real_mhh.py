"""The Course tab and the viewer on the real Hannover data (shared/data/mhh): the captions'
offsets are data.csv's own, read here with the csv module; PNGs have no spacing."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from covidimg.widgets import SerialComparison
from covidimg.widgets.viewer import ImageViewer

LABELS = {"admission_offset": "admission", "icu_admission_offset": "ICU admission",
          "icu_release_offset": "ICU release", "death_offset": "death"}


def _rows(mhh_dir: Path) -> dict[str, dict[str, str]]:
    """data.csv's first row per image_id, as the file has it."""
    with open(mhh_dir / "data.csv", newline="", encoding="utf-8") as handle:
        rows: dict[str, dict[str, str]] = {}
        for row in csv.DictReader(handle):
            rows.setdefault(row["image_id"], row)
    return rows


def test_the_course_of_a_real_patient_shows_data_csv_offsets_in_day_order(mhh_dir, mhh_cohort):
    raw = _rows(mhh_dir)
    images = mhh_cohort.images
    counts = images["patient_uid"].astype(str).value_counts()
    patient = str(counts.index[0])
    assert counts.iloc[0] >= 3, "the real data has patients with serial radiographs"
    course = SerialComparison(mhh_cohort, patient, per_page=50)
    ids = [uid.split(":", 1)[1] for uid in course.image_uids]
    assert sorted(ids) == sorted(raw_id for raw_id, row in raw.items()
                                 if "mhh:" + row["patient_id"] == patient)
    # MHH offsets are event day - exam day: a later exam has a smaller admission offset
    admission = [float(raw[i]["admission_offset"]) for i in ids if raw[i]["admission_offset"]]
    assert admission == sorted(admission, reverse=True), admission
    for image_id, caption in zip(ids, course.captions, strict=True):
        offsets = caption.split("\n")[1].split(" · ")
        for column, label in LABELS.items():
            text = raw[image_id][column]
            expected = "–" if text == "" else f"{float(text):+g} d"
            assert f"{label} {expected}" in offsets, (image_id, column, offsets)


def test_a_real_png_is_measured_in_pixels(mhh_cohort):
    row = mhh_cohort.images.iloc[0].to_dict()
    viewer = ImageViewer()
    viewer.load(row)
    assert viewer.spacing is None                       # a PNG carries no pixel spacing
    got = viewer.measure_line(10, 20, 40, 60)           # 30 x 40 px: 50 px by hand
    assert got["mm"] is None and math.isclose(got["pixels"], 50.0)
    assert viewer.distance.value == "Distance 50.0 px (no pixel spacing for this image)"
