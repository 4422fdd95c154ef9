"""ReadingQuiz: a learner reads images without their labels and is scored against the experts.

The teacher picks the images (a filtered cohort and an annotation scheme: RICORD studies with
an appearance label, NCCID radiographs with a CXR severity, ...); the learner sees one image at
a time with window controls and no label, answers (a label from the scheme's vocabulary, a
score, a box), and gets feedback against the reference reading (:mod:`covidimg.stats.reading`:
the majority label, the readers' score, the reference boxes with the answer's IoU), a running
score, and a confusion table at the end. Everything stays in the kernel session (the learner's
own kernel on Binder): nothing is written to disk.

Scripted use (a test, a notebook): ``quiz.current`` is the item shown, ``quiz.answer(...)``
answers it and moves on, ``quiz.score`` and ``quiz.confusion()`` summarise.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import ipywidgets as w
import numpy as np
import pandas as pd

from covidimg.cohort import Cohort
from covidimg.plotting.overlay import ANSWER_COLOR, REFERENCE_COLOR, plot_image_overlay
from covidimg.stats.reading import SCHEME_VOCABULARIES, confusion_table, judge, reading_items
from covidimg.widgets._figures import FigureSlot
from covidimg.widgets._html import escape, table
from covidimg.widgets.viewer import ImageViewer

__all__ = ["SCORE_RANGES", "ReadingQuiz"]

#: The range of each scoring scheme (the score box's bounds).
SCORE_RANGES: dict[str, tuple[float, float]] = {"nccid_cxr_severity": (1, 3), "rale": (0, 48),
                                                "mrale": (0, 24)}


def _box(box: Any) -> dict[str, float] | None:
    """``{"x","y","w","h"}`` (or an ``(x, y, w, h)`` sequence) checked; ``None`` stays."""
    if box is None:
        return None
    if isinstance(box, Mapping):
        values = [box.get(k) for k in ("x", "y", "w", "h")]
    elif isinstance(box, Sequence) and not isinstance(box, str) and len(box) == 4:
        values = list(box)
    else:
        raise ValueError(f"box={box!r}: expected {{'x': .., 'y': .., 'w': .., 'h': ..}} or "
                         "(x, y, w, h) in the image's pixels")
    try:
        x, y, width, height = (float(v) for v in values)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"box={box!r}: x, y, w and h must be numbers (pixels)") from None
    if not all(math.isfinite(v) for v in (x, y, width, height)) or width <= 0 or height <= 0:
        raise ValueError(f"box={box!r}: needs finite x, y and a positive width and height")
    return {"x": x, "y": y, "w": width, "h": height}


class ReadingQuiz(w.VBox):
    """A reading quiz over the labelled images of a cohort.

    Parameters
    ----------
    cohort
        The cohort the teacher chose (filter it first: ``cohort.filter(source="tcia")``).
    scheme
        The annotation scheme asked about: ``"ricord"`` (appearance labels and opacity
        boxes), ``"nccid_cxr_severity"`` (a score 1-3), ``"nccid_covid_code"``, ...
    labels
        The answers offered (default: the scheme's vocabulary,
        :data:`covidimg.stats.reading.SCHEME_VOCABULARIES`).
    n_items
        Ask at most this many images (default: all).
    seed
        Order of the images (a seeded shuffle; the same seed gives every learner the same
        order).
    size
        Side of the image in screen pixels.

    Raises
    ------
    ValueError
        When the cohort has no image with a reading in ``scheme``.

    Examples
    --------
    >>> import covidimg as ci
    >>> from covidimg.widgets import ReadingQuiz
    >>> quiz = ReadingQuiz(ci.load_demo().filter(source="tcia"), "ricord")   # doctest: +SKIP
    >>> quiz.answer(label="Typical Appearance", box=(40, 30, 20, 20))         # doctest: +SKIP
    >>> quiz.score                                                            # doctest: +SKIP
    """

    def __init__(self, cohort: Cohort, scheme: str = "ricord", *,
                 labels: Sequence[str] | None = None, n_items: int | None = None,
                 seed: int = 0, size: int = 384) -> None:
        items = reading_items(cohort, scheme, labels=labels)
        if not len(items):
            raise ValueError(f"scheme={scheme!r}: no image of this cohort has a reference "
                             "reading in it; pick a cohort with labelled images (e.g. "
                             "cohort.filter(annotation=...))")
        order = np.random.default_rng(seed).permutation(len(items))
        items = items.iloc[order].reset_index(drop=True)
        if n_items is not None:
            if n_items < 1:
                raise ValueError(f"n_items={n_items!r}: ask at least one image")
            items = items.head(n_items)
        self.scheme = scheme
        self.items = items
        self.vocabulary = tuple(labels) if labels is not None else SCHEME_VOCABULARIES.get(
            scheme, tuple(sorted({str(v) for v in items["label"].dropna()})))
        self.asks_label = bool(items["label"].notna().any())
        self.asks_score = bool(items["score"].notna().any())
        self.asks_box = bool(items["boxes"].map(len).gt(0).any())
        wanted = set(items["image_uid"])
        images = cohort.images[cohort.images["image_uid"].isin(wanted)]
        self._rows = {str(r["image_uid"]): r for r in images.to_dict("records")}
        self.position = 0
        self.answers: list[dict[str, Any]] = []

        self.progress = w.HTML()
        self.viewer = ImageViewer(size=size)            # no annotations: the labels stay hidden
        self.viewer.close_button.layout.display = "none"
        self.label_choice = w.ToggleButtons(options=list(self.vocabulary), value=None,
                                            description="Label",
                                            layout=w.Layout(display="flex" if self.asks_label
                                                            else "none"))
        low, high = SCORE_RANGES.get(scheme, (0.0, 100.0))
        self.score_choice = w.BoundedFloatText(value=low, min=low, max=high, step=1,
                                               description="Score",
                                               layout=w.Layout(display="flex" if
                                                               self.asks_score else "none"))
        self.box_given = w.Checkbox(value=False, description="I mark a box (pixels)")
        self.box_fields = [w.FloatText(description=k, layout=w.Layout(width="150px"))
                           for k in ("x", "y", "w", "h")]
        self.box_row = w.HBox([self.box_given, *self.box_fields], layout=w.Layout(
            display="flex" if self.asks_box else "none"))
        self.submit = w.Button(description="Submit answer", button_style="primary",
                               icon="check")
        self.submit.on_click(lambda _b: self._submit())
        self.feedback = w.HTML()
        self.feedback_figure = FigureSlot("quiz_feedback")
        self.feedback_figure.layout.display = "none"
        self.summary = w.HTML()
        super().__init__([self.progress, self.viewer, self.label_choice, self.score_choice,
                          self.box_row, self.submit, self.feedback, self.feedback_figure,
                          self.summary])
        self.add_class("covidimg-quiz")
        self._show()

    # ------------------------------------------------------------------ state
    @property
    def finished(self) -> bool:
        """Whether every item has been answered."""
        return self.position >= len(self.items)

    @property
    def current(self) -> dict[str, Any] | None:
        """The item shown now (``image_uid`` and ``patient_uid``; the reference stays in
        :attr:`items` for the teacher), or ``None`` when the quiz is over."""
        if self.finished:
            return None
        item = self.items.iloc[self.position]
        return {"image_uid": item["image_uid"], "patient_uid": item["patient_uid"],
                "number": self.position + 1, "of": len(self.items)}

    @property
    def score(self) -> dict[str, Any]:
        """The running score: answered items, labels right (and their share), mean absolute
        score error, mean IoU of the boxes given."""
        labels = [a["label_correct"] for a in self.answers if a["label_correct"] is not None]
        errors = [a["score_error"] for a in self.answers if not math.isnan(a["score_error"])]
        ious = [a["iou"] for a in self.answers if not math.isnan(a["iou"])]
        return {"answered": len(self.answers), "items": len(self.items),
                "labels_right": int(sum(labels)), "labels_asked": len(labels),
                "agreement": sum(labels) / len(labels) if labels else math.nan,
                "mean_score_error": float(np.mean(errors)) if errors else math.nan,
                "mean_iou": float(np.mean(ious)) if ious else math.nan}

    def confusion(self) -> pd.DataFrame:
        """Answers (columns) per reference label (rows), over the labels answered so far."""
        pairs = [(a["reference"], a["label"]) for a in self.answers
                 if a["reference"] is not None and a["label"] is not None]
        return confusion_table([p[0] for p in pairs], [p[1] for p in pairs], self.vocabulary)

    # ------------------------------------------------------------------ answering
    def answer(self, *, label: str | None = None, score: float | None = None,
               box: Mapping[str, float] | Sequence[float] | None = None) -> dict[str, Any]:
        """Answer the item shown and move to the next one.

        Parameters
        ----------
        label
            One of :attr:`vocabulary`.
        score
            A score on the scheme's scale.
        box
            ``{"x", "y", "w", "h"}`` or ``(x, y, w, h)`` in the image's pixels (x to the
            right, y down from the top-left corner).

        Returns
        -------
        dict
            The feedback: ``label_correct``, ``score_error``, ``iou``, and the reference
            (``reference``, ``accepted``, ``reference_score``).

        Raises
        ------
        ValueError
            For a label outside the vocabulary or a malformed box.
        RuntimeError
            When every item has been answered.
        """
        if self.finished:
            raise RuntimeError(f"the quiz is over ({len(self.items)} items answered); read "
                               "quiz.score and quiz.confusion(), or make a new ReadingQuiz")
        if label is not None and label not in self.vocabulary:
            raise ValueError(f"label={label!r} is not an answer of this quiz; the answers "
                             f"are {list(self.vocabulary)}")
        checked = _box(box)
        item = self.items.iloc[self.position]
        result = judge(item, label=label, score=score, box=checked)
        record = {"image_uid": item["image_uid"], "reference": item["label"],
                  "accepted": tuple(item["accepted"]),
                  "reference_score": float(item["score"]),
                  "label": label, "score": score, "box": checked, **result}
        self.answers.append(record)
        self._show_feedback(item, record)
        self.position += 1
        self._show()
        return {**result, "reference": item["label"], "accepted": tuple(item["accepted"]),
                "reference_score": float(item["score"])}

    def _submit(self) -> None:
        box = None
        if self.box_given.value:
            box = tuple(f.value for f in self.box_fields)
        try:
            self.answer(label=self.label_choice.value,
                        score=self.score_choice.value if self.asks_score else None, box=box)
        except (ValueError, RuntimeError) as exc:
            self.feedback.value = f"<span style='color:#B00'>{escape(exc)}</span>"

    # ------------------------------------------------------------------ drawing
    def _show(self) -> None:
        running = self.score
        tally = (f" · labels right: {running['labels_right']} of {running['labels_asked']}"
                 if running["labels_asked"] else "")
        if self.finished:
            self.progress.value = f"<b>Done: {len(self.items)} images</b>{escape(tally)}"
            for control in (self.viewer, self.label_choice, self.score_choice, self.box_row,
                            self.submit):
                control.layout.display = "none"
            self.summary.value = self._summary_html()
            return
        self.progress.value = (f"<b>Image {self.position + 1} of {len(self.items)}</b>"
                               f"{escape(tally)}")
        row = self._rows[str(self.items["image_uid"].iat[self.position])]
        self.viewer.load(row)
        self.label_choice.value = None
        self.box_given.value = False

    def _show_feedback(self, item: pd.Series, record: dict[str, Any]) -> None:
        parts = []
        if record["label_correct"] is not None:
            verdict = "right" if record["label_correct"] else "not the reference"
            accepted = " or ".join(record["accepted"])
            parts.append(f"Your label {escape(record['label'])}: {verdict} (reference: "
                         f"{escape(accepted)}).")
        elif record["reference"] is not None:
            parts.append(f"The reference label is {escape(record['reference'])}.")
        if not math.isnan(record["score_error"]):
            parts.append(f"Your score {record['score']:g}, the reference "
                         f"{float(item['score']):g}.")
        elif not math.isnan(float(item["score"])):
            parts.append(f"The reference score is {float(item['score']):g}.")
        if not math.isnan(record["iou"]):
            parts.append(f"Your box overlaps the nearest reference box with IoU "
                         f"{record['iou']:.2f}.")
        elif item["boxes"]:
            parts.append(f"The readers marked {len(item['boxes'])} box(es).")
        self.feedback.value = " ".join(parts)
        regions = [{"kind": "box", "geometry": json.dumps(b), "label": "reference",
                    "who": "readers", "color": REFERENCE_COLOR} for b in item["boxes"]]
        if record["box"] is not None:
            regions.append({"kind": "box", "geometry": json.dumps(record["box"]),
                            "label": "your box", "who": "you", "color": ANSWER_COLOR})
        png = self.viewer.image.value
        if regions and png and self.viewer.row is not None:
            rows = int(self.viewer.row.get("rows") or 0)
            columns = int(self.viewer.row.get("columns") or 0)
            if rows > 0 and columns > 0:
                self.feedback_figure.show(plot_image_overlay.spec(
                    png, rows, columns, regions, title="Readers' boxes and yours",
                    size=256), image_uid=str(item["image_uid"]))
                self.feedback_figure.layout.display = "flex"
                return
        self.feedback_figure.layout.display = "none"

    def _summary_html(self) -> str:
        s = self.score
        lines = [f"Images read: {s['answered']}"]
        if s["labels_asked"]:
            lines.append(f"Labels that agree with the reference: {s['labels_right']} of "
                         f"{s['labels_asked']} ({100 * s['agreement']:.0f} %)")
        if not math.isnan(s["mean_score_error"]):
            lines.append(f"Mean score error: {s['mean_score_error']:.2f}")
        if not math.isnan(s["mean_iou"]):
            lines.append(f"Mean IoU of your boxes: {s['mean_iou']:.2f}")
        html = "<br>".join(escape(line) for line in lines)
        if s["labels_asked"]:
            frame = self.confusion().reset_index()
            html += "<br><b>Confusion table</b> (rows: reference, columns: your answer)"
            html += table(frame, "covidimg-quiz-confusion")
        return html
