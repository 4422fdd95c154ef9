"""An image with its annotated regions drawn over it, in the image's pixel coordinates.

The image (a PNG as :func:`covidimg.imaging.thumbnails.render_png` makes it: letterboxed into
a square) is an image trace spread over the image's pixel coordinates; boxes and polygons of
the ``annotations`` table become plotly shapes in pixel coordinates (x to the right, y down,
origin at the top-left corner of the first pixel, as MD.ai and DICOM draw them), each with its
label and reader written at its top-left corner. Zoom and pan are plotly's own.

The viewer adds measured lines (``lines``, also in pixel coordinates, drawn editable with their
length written at their end), a drag mode (``"drawline"`` to draw a line with the mouse),
plotly's ``uirevision`` (the user's zoom and pan are kept over redraws while it stays the
same) and hover on the image (plotly then reports the pixel under the mouse).
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from covidimg.plotting._style import figure_function, group_color, plain

__all__ = ["plot_image_overlay", "region_shape"]

#: Colour of the reference region and of an answer in the reading quiz.
REFERENCE_COLOR = "#E69F00"
ANSWER_COLOR = "#56B4E9"
#: Colour of a measured line (and of a line being drawn).
MEASURE_COLOR = "#F0E442"
#: ``name`` of a measured line among the figure's shapes.
MEASURE_NAME = "measurement"
#: Drag modes the figure accepts (plotly's names).
DRAGMODES = ("pan", "zoom", "drawline")


def _reader_text(reader: Any) -> str:
    if reader is None or (isinstance(reader, float) and math.isnan(reader)):
        return "consensus"
    try:
        return f"reader {int(reader)}"
    except (TypeError, ValueError):
        return "consensus"


def region_shape(kind: str, geometry: str | Mapping[str, Any], color: str,
                 name: str = "") -> dict[str, Any] | None:
    """The plotly shape of one box or polygon (``geometry`` as the ``annotations`` table holds
    it), in pixel coordinates; ``None`` for a kind without a region.

    Examples
    --------
    >>> from covidimg.plotting.overlay import region_shape
    >>> s = region_shape("box", '{"x": 10, "y": 20, "w": 30, "h": 5}', "red")
    >>> (s["type"], s["x0"], s["y0"], s["x1"], s["y1"])
    ('rect', 10.0, 20.0, 40.0, 25.0)
    >>> region_shape("polygon", {"points": [[1, 2], [3, 4], [5, 2]]}, "red")["path"]
    'M 1.0,2.0 L 3.0,4.0 L 5.0,2.0 Z'
    """
    value = json.loads(geometry) if isinstance(geometry, str) else dict(geometry)
    line = {"color": color, "width": 2}
    if kind == "box":
        x, y = float(value["x"]), float(value["y"])
        return {"type": "rect", "xref": "x", "yref": "y", "x0": x, "y0": y,
                "x1": x + float(value["w"]), "y1": y + float(value["h"]), "line": line,
                "name": name}
    if kind == "polygon":
        points = [(float(px), float(py)) for px, py in value["points"]]
        path = "M " + " L ".join(f"{px},{py}" for px, py in points)
        return {"type": "path", "xref": "x", "yref": "y",
                "path": path + (" Z" if len(points) > 2 else ""), "line": line, "name": name}
    return None


def _png_side(png: bytes) -> int:
    """The width of a PNG (from its IHDR chunk), 0 when it is not a PNG."""
    if len(png) >= 24 and png[:8] == b"\x89PNG\r\n\x1a\n":
        return int.from_bytes(png[16:20], "big")
    return 0


@figure_function
def plot_image_overlay(png: bytes, rows: int, columns: int,
                       regions: Iterable[Mapping[str, Any]] = (), *,
                       title: str = "", size: int = 512,
                       lines: Iterable[Mapping[str, Any]] = (), dragmode: str = "pan",
                       uirevision: str | None = None, hover: bool = False) -> dict:
    """An image (PNG bytes) with annotated regions drawn over it.

    Parameters
    ----------
    png
        The image as :func:`~covidimg.imaging.thumbnails.render_png` renders it (a square,
        the image letterboxed in its middle).
    rows, columns
        The image's size in pixels: the axes are its pixel coordinates.
    regions
        Rows of the ``annotations`` table (mappings with ``kind``, ``geometry``, ``label``,
        ``reader``) and, optionally, ``color`` and ``who`` (the text in place of the reader);
        rows without a region are left out.
    title
        Figure title (shown as plain text).
    size
        Width and height of the figure in screen pixels.
    lines
        Measured lines: mappings with ``x0, y0, x1, y1`` (pixel coordinates) and ``text``
        (written at the line's end); drawn after the regions, editable, named
        :data:`MEASURE_NAME`.
    dragmode
        What a mouse drag does: ``"pan"``, ``"zoom"`` or ``"drawline"`` (draws a line, which
        the page reports as a relayout of ``shapes``).
    uirevision
        plotly's ``layout.uirevision``: while it stays the same from one figure to the next,
        the page keeps the user's zoom and pan; a new value resets them.
    hover
        Report the pixel under the mouse (plotly's hover events; no tooltip is shown).

    Returns
    -------
    plotly.graph_objects.Figure
        ``plot_image_overlay.spec(...)`` gives the same figure as a plain dict; its
        ``layout.shapes`` are the regions, in the order given.

    Examples
    --------
    >>> import numpy as np
    >>> from covidimg.imaging.thumbnails import render_png
    >>> from covidimg.plotting.overlay import plot_image_overlay
    >>> png = render_png(np.zeros((64, 32), np.uint8), 128)
    >>> fig = plot_image_overlay(png, 64, 32, [{"kind": "box", "geometry":
    ...     '{"x": 1, "y": 2, "w": 3, "h": 4}', "label": "Opacity", "reader": 1}])
    >>> fig.layout.shapes[0].x1, fig.layout.annotations[0].text
    (4.0, 'Opacity · reader 1')
    """
    if dragmode not in DRAGMODES:
        raise ValueError(f"dragmode={dragmode!r} is not one of {DRAGMODES}")
    side = float(max(rows, columns))
    source = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    shapes, labels = [], []
    readers: dict[str, int] = {}
    for region in regions:
        who = str(region["who"]) if region.get("who") else _reader_text(region.get("reader"))
        color = region.get("color") or group_color(readers.setdefault(who, len(readers)))
        text = f"{plain(region.get('label') or '')} · {plain(who)}"
        shape = region_shape(str(region.get("kind")), region.get("geometry") or "{}", color,
                             name=text)
        if shape is None:
            continue
        shapes.append(shape)
        x = shape["x0"] if shape["type"] == "rect" else float(
            shape["path"].split()[1].split(",")[0])
        y = shape["y0"] if shape["type"] == "rect" else float(
            shape["path"].split()[1].split(",")[1])
        labels.append({"x": x, "y": y, "xref": "x", "yref": "y", "text": text,
                       "showarrow": False, "xanchor": "left", "yanchor": "bottom",
                       "font": {"color": color, "size": 11},
                       "bgcolor": "rgba(0,0,0,0.55)"})
    for line in lines:
        ends = [float(line[k]) for k in ("x0", "y0", "x1", "y1")]
        shapes.append({"type": "line", "xref": "x", "yref": "y", "x0": ends[0], "y0": ends[1],
                       "x1": ends[2], "y1": ends[3], "editable": True, "name": MEASURE_NAME,
                       "line": {"color": MEASURE_COLOR, "width": 2}})
        if line.get("text"):
            labels.append({"x": ends[2], "y": ends[3], "xref": "x", "yref": "y",
                           "text": plain(str(line["text"])), "showarrow": False,
                           "xanchor": "left", "yanchor": "top",
                           "font": {"color": MEASURE_COLOR, "size": 12},
                           "bgcolor": "rgba(0,0,0,0.55)"})
    step = side / max(size, 1)     # image units per PNG pixel; pixel centres are at x0 + k dx
    png_side = _png_side(png)
    step = side / png_side if png_side else step
    return {
        "data": [{"type": "image", "source": source, "x0": (columns - side) / 2 + step / 2,
                  "y0": (rows - side) / 2 + step / 2, "dx": step, "dy": step,
                  "hoverinfo": "none" if hover else "skip", "name": "image"}],
        "layout": {
            "title": {"text": plain(title)}, "width": size, "height": size,
            "margin": {"l": 10, "r": 10, "t": 30 if title else 10, "b": 10},
            "xaxis": {"range": [(columns - side) / 2, (columns + side) / 2], "visible": False,
                      "constrain": "domain"},
            "yaxis": {"range": [(rows + side) / 2, (rows - side) / 2], "visible": False,
                      "scaleanchor": "x"},
            "shapes": shapes, "annotations": labels, "dragmode": dragmode,
            "newshape": {"line": {"color": MEASURE_COLOR, "width": 2}},
            "plot_bgcolor": "black", "paper_bgcolor": "white",
            **({} if uirevision is None else {"uirevision": uirevision}),
        },
    }
