"""The reading quiz: items and references from the demo truth, scripted answers scored against
it (labels, scores, boxes), the confusion table, the widget's own controls, nothing on disk."""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import covidimg as ci
from covidimg.demo import nccid as demo_nccid
from covidimg.demo import tcia as demo_tcia
from covidimg.stats.reading import box_iou, reading_items

pytest.importorskip("ipywidgets")
from covidimg.widgets import ReadingQuiz


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[ci.Cohort, object, object]:
    root = tmp_path_factory.mktemp("quiz")
    tcia_truth = demo_tcia.write(root / "tcia", rng=np.random.default_rng(11), n_patients=16)
    nccid_truth = demo_nccid.write(root / "nccid", rng=np.random.default_rng(11),
                                   n_patients=16)
    cohort = ci.load({"tcia": root / "tcia", "nccid": root / "nccid"}, progress=False)
    return cohort, tcia_truth, nccid_truth


def _truth_reference(truth: object) -> dict[str, tuple[set[str], list[dict]]]:
    """Per radiograph of the TCIA truth: its appearance labels' majority set and its boxes."""
    notes = truth.annotations
    boxes: dict[str, list[dict]] = {}
    for row in notes[notes["kind"] == "box"].itertuples():
        boxes.setdefault(row.image_uid, []).append(json.loads(row.geometry))
    images = truth.images
    out = {}
    for image_uid, box_list in boxes.items():
        study = images.loc[images["image_uid"] == image_uid, "study_uid"].iat[0]
        votes = Counter(notes.loc[(notes["study_uid"] == study) & notes["label"].str.endswith(
            ("Appearance", "Pneumonia")), "label"])
        most = max(votes.values())
        out[image_uid] = ({v for v, n in votes.items() if n == most}, box_list)
    return out


def test_items_are_the_truths_labelled_radiographs(demo: tuple) -> None:
    cohort, tcia_truth, _ = demo
    items = reading_items(cohort, "ricord").set_index("image_uid")
    reference = _truth_reference(tcia_truth)
    assert set(items.index) == set(reference)
    for image_uid, (accepted, boxes) in reference.items():
        assert set(items.at[image_uid, "accepted"]) == accepted
        assert sorted(map(json.dumps, items.at[image_uid, "boxes"])) == sorted(
            map(json.dumps, boxes))


def test_scripted_ricord_quiz_scores_against_the_truth(demo: tuple, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    cohort, tcia_truth, _ = demo
    monkeypatch.chdir(tmp_path)
    reference = _truth_reference(tcia_truth)
    quiz = ReadingQuiz(cohort.filter(source="tcia"), "ricord", seed=3)
    assert quiz.asks_label and quiz.asks_box and not quiz.asks_score
    n = len(quiz.items)
    assert n == len(reference) >= 3
    wrong_first = quiz.current["image_uid"]
    expected_ious = []
    while not quiz.finished:
        image_uid = quiz.current["image_uid"]
        accepted, boxes = reference[image_uid]
        box = boxes[0]
        if image_uid == wrong_first:       # one wrong label, a box shifted by half its width
            label = next(v for v in quiz.vocabulary if v not in accepted)
            answer = {**box, "x": box["x"] + box["w"] / 2}
            expected_ious.append(max(box_iou(answer, b) for b in boxes))
        else:
            label = sorted(accepted)[0]
            answer = box
            expected_ious.append(1.0)
        feedback = quiz.answer(label=label, box=(answer["x"], answer["y"], answer["w"],
                                                 answer["h"]))
        assert feedback["label_correct"] == (image_uid != wrong_first)
    assert expected_ious[0] >= 1 / 3 - 1e-9     # half a box's overlap at least
    score = quiz.score
    assert (score["answered"], score["labels_right"], score["labels_asked"]) == (n, n - 1, n)
    assert score["agreement"] == pytest.approx((n - 1) / n)
    assert score["mean_iou"] == pytest.approx(float(np.mean(expected_ious)))
    table = quiz.confusion()
    assert int(table.to_numpy().sum()) == n and int(np.trace(table.to_numpy())) == n - 1
    assert "Confusion table" in quiz.summary.value
    assert quiz.current is None and quiz.viewer.layout.display == "none"
    with pytest.raises(RuntimeError, match="the quiz is over"):
        quiz.answer(label=quiz.vocabulary[0])
    assert os.listdir(tmp_path) == []          # nothing written


def test_severity_quiz_and_the_widget_controls(demo: tuple) -> None:
    cohort, _, nccid_truth = demo
    truth = nccid_truth.annotations
    scores = truth[(truth["kind"] == "score") & truth["image_uid"].notna()]
    want = dict(zip(scores["image_uid"], scores["score"].astype(float), strict=True))
    quiz = ReadingQuiz(cohort, "nccid_cxr_severity", n_items=5, seed=1)
    assert quiz.asks_score and not quiz.asks_label and len(quiz.items) == 5
    errors = []
    for k in range(5):
        image_uid = quiz.current["image_uid"]
        assert image_uid in want
        given = want[image_uid] if k % 2 == 0 else 1.0
        errors.append(abs(given - want[image_uid]))
        quiz.score_choice.value = given          # through the widget, as a learner does
        quiz.submit.click()
    assert quiz.finished
    assert quiz.score["mean_score_error"] == pytest.approx(float(np.mean(errors)))
    assert math.isnan(quiz.score["agreement"])


def test_bad_answers_are_refused(demo: tuple) -> None:
    cohort, _, _ = demo
    quiz = ReadingQuiz(cohort, "ricord")
    with pytest.raises(ValueError, match="is not an answer of this quiz"):
        quiz.answer(label="<b>nope</b>")
    with pytest.raises(ValueError, match="positive width"):
        quiz.answer(label=quiz.vocabulary[0], box=(1, 2, 0, 4))
    assert quiz.score["answered"] == 0
    quiz.label_choice.value = None
    quiz.box_given.value = True
    quiz.submit.click()                          # a zero box from the form: an error shown
    assert "positive width" in quiz.feedback.value and quiz.score["answered"] == 0
    with pytest.raises(ValueError, match="no annotations of it"):
        ReadingQuiz(cohort, "rale")
