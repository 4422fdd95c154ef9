"""ClickableImage: an image that calls back when clicked (``ipywidgets.Image`` cannot)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anywidget
import traitlets

__all__ = ["ClickableImage"]

_ESM = r"""
export default {
  render({ model, el }) {
    const img = document.createElement("img");
    img.style.cursor = "pointer";
    img.style.width = "100%";
    img.style.height = "100%";
    img.style.objectFit = "contain";
    img.tabIndex = 0;
    img.setAttribute("role", "button");
    let url = null;
    const show = () => {
      if (url) URL.revokeObjectURL(url);
      const value = model.get("data");
      url = value && value.byteLength ? URL.createObjectURL(
        new Blob([value], {type: "image/" + model.get("format")})) : null;
      img.src = url || "";
      img.title = model.get("hint");
      img.alt = model.get("hint");
    };
    const click = () => model.send({event: "click"});
    img.addEventListener("click", click);
    img.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") click(); });
    model.on("change:data", show);
    model.on("change:hint", show);
    model.on("change:format", show);
    show();
    el.appendChild(img);
    return () => { if (url) URL.revokeObjectURL(url); };
  },
};
"""


class ClickableImage(anywidget.AnyWidget):
    """An image (``data``, bytes; ``value`` too, as for ``ipywidgets.Image``) drawn as an
    ``<img>`` that calls :meth:`on_click`'s callbacks when clicked (or Enter or Space).

    ``format`` is the image's format, ``"png"`` or ``"jpeg"`` (as ``ipywidgets.Image``'s).

    The traits are not called ``value`` and ``tooltip``: with those names the page made no
    view of the widget (``tooltip`` is ipywidgets' own)."""

    _esm = traitlets.Unicode(_ESM).tag(sync=True)
    data = traitlets.Bytes(b"").tag(sync=True)
    format = traitlets.Enum(("png", "jpeg"), "png").tag(sync=True)
    hint = traitlets.Unicode("Open in the viewer").tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._callbacks: list[Callable[[ClickableImage], None]] = []
        self.on_msg(self._message)

    @property
    def value(self) -> bytes:
        """The image shown, in ``format`` (as ``ipywidgets.Image.value``)."""
        return self.data

    @value.setter
    def value(self, data: bytes) -> None:
        self.data = data

    def on_click(self, callback: Callable[[ClickableImage], None]) -> None:
        """Call ``callback(image)`` when the image is clicked in the page."""
        self._callbacks.append(callback)

    def click(self) -> None:
        """Act as if the image had been clicked."""
        for callback in list(self._callbacks):
            callback(self)

    def _message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("event") == "click":
            self.click()
