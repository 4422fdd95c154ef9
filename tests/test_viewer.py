"""The image viewer in the kernel: the figure it draws (boxes at their pixels, zoom kept over
slices and windows), the distance tool against hand-computed lengths, the pixel value under
the cursor against pydicom's own reading, invert, keyboard shortcuts and the pixel spacing
rule. Page events are the messages the page sends (``_handle_custom_msg``)."""

from __future__ import annotations

import io
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import Dataset

from covidimg import imaging
from covidimg.demo import tcia as demo_tcia
from covidimg.errors import ImageReadError
from covidimg.imaging.spacing import PixelSpacing, pixel_spacing, spacing_of_dataset
from covidimg.sources import tcia
from covidimg.widgets.viewer import SHORTCUTS, ImageViewer

pytest.importorskip("ipywidgets")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """TCIA demo: RICORD radiographs (ImagerPixelSpacing 0.5 mm, MD.ai boxes) and CT series
    (PixelSpacing 1 mm), as the dicom writer plants them."""
    root = tmp_path_factory.mktemp("viewer") / "tcia"
    truth = demo_tcia.write(root, rng=np.random.default_rng(11), n_patients=8)
    tables = tcia.load(root)
    images = tables.images.set_index("image_uid", drop=False)
    return truth, tables, images


def _send(viewer: ImageViewer, message: dict) -> None:
    viewer.overlay.plot._handle_custom_msg(message, [])


def _boxed(demo):  # type: ignore[no-untyped-def]
    truth, tables, images = demo
    boxes = truth.annotations[truth.annotations["kind"] == "box"]
    uid = boxes["image_uid"].iat[0]
    return images.loc[uid].to_dict(), boxes[boxes["image_uid"] == uid], tables.annotations


def _ct(demo):  # type: ignore[no-untyped-def]
    _truth, _tables, images = demo
    ct = images[(images["modality"].astype(str) == "CT") & (images["format"] == "dicom")
                & (images["n_instances"].fillna(1) > 2)]
    return ct.iloc[0].to_dict()


def _gray(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.int16)


# ---------------------------------------------------------------------- the figure
def test_every_image_is_the_figure_with_boxes_at_their_pixels(demo) -> None:  # type: ignore[no-untyped-def]
    row, want, annotations = _boxed(demo)
    viewer = ImageViewer(size=256, annotations=annotations)
    viewer.load(row)
    spec = viewer.overlay.spec
    rows, columns = int(row["rows"]), int(row["columns"])
    rects = sorted((s["x0"], s["y0"], s["x1"], s["y1"]) for s in spec["layout"]["shapes"]
                   if s["type"] == "rect")
    truth = sorted((g["x"], g["y"], g["x"] + g["w"], g["y"] + g["h"])
                   for g in map(json.loads, want["geometry"]))
    assert rects == truth and viewer.shapes and len(viewer.shapes) == len(truth)
    # the image trace covers the pixel axes: its PNG's image part spans [0, columns] x
    # [0, rows] (left edge = x0 - dx/2; a square image fills the PNG)
    trace = spec["data"][0]
    assert trace["type"] == "image" and trace["hoverinfo"] == "none"
    assert trace["x0"] - trace["dx"] / 2 == pytest.approx((columns - max(rows, columns)) / 2)
    assert trace["dx"] * 256 == pytest.approx(max(rows, columns))
    assert trace["y0"] - trace["dy"] / 2 == pytest.approx((rows - max(rows, columns)) / 2)
    layout = spec["layout"]
    assert layout["yaxis"]["range"][0] > layout["yaxis"]["range"][1]      # y down
    assert layout["meta"]["image_uid"] == row["image_uid"]
    assert layout["uirevision"].startswith(str(row["image_uid"]))
    # a plain image (no region) is drawn in the same figure: zoom and pan on every image
    _truth, _tables, images = demo
    plain = images[~images["image_uid"].isin(set(annotations["image_uid"].dropna()))]
    viewer.load(plain.iloc[0].to_dict())
    assert viewer.shapes == [] and viewer.overlay.spec["data"][0]["type"] == "image"
    assert viewer.image.value[:4] == b"\x89PNG"


def test_zoom_is_kept_over_slices_and_windows_and_reset_by_a_new_image(demo) -> None:  # type: ignore[no-untyped-def]
    viewer = ImageViewer(size=128)
    viewer.load(_ct(demo))
    first = viewer.overlay.spec["layout"]["uirevision"]
    _send(viewer, {"event": "relayout", "update": {"xaxis.range[0]": 10.5,
                                                   "xaxis.range[1]": 40.0,
                                                   "yaxis.range[0]": 50.0,
                                                   "yaxis.range[1]": 20.0}})
    assert viewer.zoom == {"x": [10.5, 40.0], "y": [50.0, 20.0]}
    png = viewer.png
    viewer.slice.value = viewer.slice.value + 1
    viewer.preset.value = "bone"
    viewer.invert.value = True
    assert viewer.png != png
    assert viewer.overlay.spec["layout"]["uirevision"] == first
    assert viewer.overlay.spec["layout"]["meta"]["slice_index"] == viewer.slice.value
    viewer.reset_view()
    assert viewer.zoom is None and viewer.overlay.spec["layout"]["uirevision"] != first
    second = viewer.overlay.spec["layout"]["uirevision"]
    row, _want, _notes = _boxed(demo)
    viewer.load(row)
    assert viewer.overlay.spec["layout"]["uirevision"] not in (first, second)


def test_invert_inverts_the_windowed_grey_scale(demo) -> None:  # type: ignore[no-untyped-def]
    row, _want, _notes = _boxed(demo)
    viewer = ImageViewer(size=128)
    viewer.load(row)
    plain = _gray(viewer.png)
    viewer.invert.value = True
    inverted = _gray(viewer.png)
    assert int(row["rows"]) == int(row["columns"])     # a square image fills the PNG
    np.testing.assert_array_equal(inverted, 255 - plain)
    assert viewer.overlay.spec["layout"]["meta"]["inverted"] is True


# ---------------------------------------------------------------------- distance
def _draw_line(viewer: ImageViewer, x0: float, y0: float, x1: float, y1: float) -> None:
    """What the page sends after a line is drawn in ``drawline`` mode: every shape, the
    new line last."""
    shapes = [*viewer.overlay.spec["layout"]["shapes"],
              {"type": "line", "xref": "x", "yref": "y", "x0": x0, "y0": y0, "x1": x1,
               "y1": y1, "line": {"color": "#F0E442", "width": 2}}]
    _send(viewer, {"event": "relayout", "update": {"shapes": shapes}})


def test_distance_on_a_radiograph_from_imager_pixel_spacing(demo) -> None:  # type: ignore[no-untyped-def]
    row, _want, notes = _boxed(demo)
    header = pydicom.dcmread(row["path"], stop_before_pixels=True)
    assert list(header.ImagerPixelSpacing) == [0.5, 0.5] and "PixelSpacing" not in header
    viewer = ImageViewer(size=256, annotations=notes)
    viewer.load(row)
    viewer.measure.value = True
    assert viewer.overlay.spec["layout"]["dragmode"] == "drawline"
    _draw_line(viewer, 10.0, 20.0, 40.0, 60.0)
    m = viewer.measurement
    # by hand: 30 columns and 40 rows = 50 pixels of 0.5 mm = 25 mm
    assert m["pixels"] == pytest.approx(50.0) and m["mm"] == pytest.approx(25.0)
    assert m["spacing_source"] == "ImagerPixelSpacing" and m["spacing_mm"] == (0.5, 0.5)
    assert "25.0 mm" in viewer.distance.value
    assert "ImagerPixelSpacing (at the detector)" in viewer.distance.value
    line = [s for s in viewer.overlay.spec["layout"]["shapes"] if s["type"] == "line"]
    assert [(s["x0"], s["y0"], s["x1"], s["y1"]) for s in line] == [(10.0, 20.0, 40.0, 60.0)]
    assert len(viewer.shapes) == len(notes[notes["image_uid"] == row["image_uid"]]
                                     .query("kind == 'box'"))       # regions only
    # the user drags the line's end: the page sends that shape's new coordinates
    index = viewer.overlay.spec["layout"]["shapes"].index(line[0])
    _send(viewer, {"event": "relayout", "update": {f"shapes[{index}].x1": 70.0}})
    assert viewer.measurement["mm"] == pytest.approx(0.5 * math.hypot(60.0, 40.0))
    # a new line replaces it
    _draw_line(viewer, 0.0, 0.0, 0.0, 8.0)
    assert viewer.measurement["mm"] == pytest.approx(4.0)
    assert sum(s["type"] == "line" for s in viewer.overlay.spec["layout"]["shapes"]) == 1
    # another image: no measurement, zoom reset
    viewer.load(_ct(demo))
    assert viewer.measurement is None and viewer.distance.value == ""


def test_distance_on_ct_from_pixel_spacing_and_anisotropic_spacing(demo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    viewer = ImageViewer(size=128)
    viewer.load(_ct(demo))
    _draw_line(viewer, 5.0, 5.0, 17.0, 10.0)
    assert viewer.measurement["mm"] == pytest.approx(13.0)          # 12-5-13, 1 mm pixels
    assert viewer.measurement["spacing_source"] == "PixelSpacing"
    assert viewer.measurement["slice_index"] == viewer.slice.value
    viewer.slice.value = viewer.slice.value - 1                       # drawn on its slice only
    assert not any(s["type"] == "line" for s in viewer.overlay.spec["layout"]["shapes"])
    # a radiograph with PixelSpacing 0.7 mm between rows, 0.3 mm between columns
    row, _want, _notes = _boxed(demo)
    copy = tmp_path / "aniso.dcm"
    shutil.copyfile(row["path"], copy)
    ds = pydicom.dcmread(copy)
    ds.PixelSpacing = [0.7, 0.3]
    ds.save_as(copy)
    viewer.load({**row, "path": str(copy), "image_uid": "aniso"})
    _draw_line(viewer, 10.0, 10.0, 40.0, 50.0)
    assert viewer.measurement["mm"] == pytest.approx(math.hypot(30 * 0.3, 40 * 0.7))
    assert viewer.measurement["spacing_source"] == "PixelSpacing"    # before Imager...
    # the header decides over the images table's columns (which hold it as stored)
    viewer.load({**row, "path": str(copy), "image_uid": "aniso-row",
                 "pixel_spacing_row": 0.2, "pixel_spacing_col": 0.4})
    _draw_line(viewer, 10.0, 10.0, 40.0, 50.0)
    assert viewer.measurement["mm"] == pytest.approx(math.hypot(30 * 0.3, 40 * 0.7))
    assert viewer.measurement["spacing_source"] == "PixelSpacing"


def test_distance_without_spacing_is_in_pixels(demo) -> None:  # type: ignore[no-untyped-def]
    _truth, _tables, images = demo
    nifti = images[images["format"] == "nifti"].iloc[0].to_dict()
    viewer = ImageViewer(size=128)
    viewer.load(nifti)
    _draw_line(viewer, 1.0, 1.0, 4.0, 5.0)
    assert viewer.measurement["mm"] is None and viewer.measurement["pixels"] == 5.0
    assert "5.0 px" in viewer.distance.value and "no pixel spacing" in viewer.distance.value


def test_pixel_spacing_rule(tmp_path: Path) -> None:
    assert pixel_spacing({"path": "x.png", "pixel_spacing_row": 0.1,
                          "pixel_spacing_col": 0.2}) == PixelSpacing(0.1, 0.2, "images table")
    # a DICOM file not at hand (an IDC series not downloaded): the images row's columns
    missing = {"path": str(tmp_path / "absent.dcm"), "format": "dicom"}
    assert pixel_spacing({**missing, "pixel_spacing_row": 0.1, "pixel_spacing_col": 0.2}) \
        == PixelSpacing(0.1, 0.2, "images table")
    with pytest.raises(ImageReadError):
        pixel_spacing(missing)
    both = Dataset()
    both.PixelSpacing = [0.3, 0.4]
    both.ImagerPixelSpacing = [0.5, 0.5]
    assert spacing_of_dataset(both) == PixelSpacing(0.3, 0.4, "PixelSpacing")
    turned = Dataset()       # a chest film stored a quarter turn: rows and columns swap
    turned.BodyPartExamined = "CHEST"
    turned.PatientOrientation = ["F", "L"]
    turned.ImagerPixelSpacing = [0.2, 0.1]
    assert spacing_of_dataset(turned) == PixelSpacing(0.1, 0.2, "ImagerPixelSpacing")
    bad = Dataset()
    bad.PixelSpacing = [0, 0.1]
    assert spacing_of_dataset(bad) is None and spacing_of_dataset(Dataset()) is None


# ---------------------------------------------------------------------- pixel value
def test_hu_under_the_cursor_is_the_slices_value_read_with_pydicom(demo) -> None:  # type: ignore[no-untyped-def]
    row = _ct(demo)
    viewer = ImageViewer(size=128)
    viewer.load(row)
    viewer.slice.value = 3
    files = sorted(Path(row["path"]).glob("*.dcm"),
                   key=lambda p: float(pydicom.dcmread(p).ImagePositionPatient[2]))
    assert len(files) == viewer.n_slices
    ds = pydicom.dcmread(files[3])
    hu = ds.pixel_array.astype(float) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    read = len(viewer._slices)
    rows, columns = hu.shape
    points = ((5.5, 7.5), (columns * 0.6 + 0.2, rows * 0.4 + 0.9), (columns - 0.5, rows - 0.5))
    assert len({hu[int(y), int(x)] for x, y in points}) > 1
    for x, y in points:
        _send(viewer, {"event": "hover", "curve": 0, "x": x, "y": y})
        col, r = int(x), int(y)
        assert viewer.pixel_value == {"x": col, "y": r, "value": hu[r, col], "unit": "HU"}
        assert f"x {col}, y {r}: {hu[r, col]:g} (HU)" in viewer.readout.value
    assert len(viewer._slices) == read          # the slice held, no new read
    _send(viewer, {"event": "hover", "curve": 0, "x": -3.0, "y": 2.0})   # the letterbox
    assert viewer.pixel_value is None and viewer.readout.value == ""


# ---------------------------------------------------------------------- keyboard
def test_keyboard_shortcuts(demo) -> None:  # type: ignore[no-untyped-def]
    viewer = ImageViewer(size=128)
    plot = viewer.overlay.plot
    assert plot.shortcut_keys == list(SHORTCUTS) and "key" in plot.events
    assert {"ArrowUp", "ArrowDown", "PageUp", "PageDown", "1", "2", "3", "4", "i", "m",
            "r"} <= set(SHORTCUTS)
    assert "data_json" in plot.get_state()       # the synced state is intact
    viewer.load(_ct(demo))
    start = viewer.slice.value

    def key(name: str) -> None:
        _send(viewer, {"event": "key", "key": name, "shift": False})

    key("ArrowUp")
    key("ArrowUp")
    key("PageDown")
    assert viewer.slice.value == start + 1
    assert viewer.overlay.spec["layout"]["meta"]["slice_index"] == start + 1
    for _ in range(viewer.n_slices + 2):
        key("PageUp")
    assert viewer.slice.value == viewer.slice.max
    for number, name in enumerate(imaging.WINDOW_PRESETS, start=1):
        key(str(number))
        assert viewer.preset.value == name
    key("i")
    assert viewer.invert.value is True
    key("m")
    assert viewer.measure.value and viewer.overlay.spec["layout"]["dragmode"] == "drawline"
    key("m")
    assert viewer.overlay.spec["layout"]["dragmode"] == "pan"
    before = viewer.overlay.spec["layout"]["uirevision"]
    key("r")
    assert viewer.overlay.spec["layout"]["uirevision"] != before
    key("x")                                     # not a shortcut: nothing happens
    assert "ArrowUp" in viewer.help.value or "↑" in viewer.help.value
