"""ImageGallery: a paged grid of thumbnails with harmonized captions, and the image viewer."""

from __future__ import annotations

from collections import OrderedDict

import ipywidgets as w
import numpy as np
import pandas as pd

from covidimg import imaging
from covidimg.cohort import Cohort
from covidimg.sources import idc
from covidimg.stats.selection import CohortArrays, Selection
from covidimg.widgets._clickable import ClickableImage
from covidimg.widgets._html import escape
from covidimg.widgets.viewer import CAPTION_FIELDS, ImageViewer, caption

__all__ = ["ImageGallery"]

#: Columns of ``images`` the gallery keeps: what thumbnails and the viewer need, and captions.
_COLUMNS = ("image_uid", "patient_uid", "source", "modality", "view", "day", "path", "format",
            "n_instances", "preview_path", "stored_transposed", "study_uid", "series_uid",
            "license", "doi")
#: The button of a remote (not downloaded) image's tile.
_DOWNLOAD = {"description": "Download", "icon": "download",
             "tooltip": "Download this series from IDC's public bucket"}
_ENLARGE = {"description": "Enlarge", "icon": "search-plus", "tooltip": "Open in the viewer"}


class ImageGallery(w.VBox):
    """A paged grid of thumbnails; the button under each opens it in the viewer.

    Thumbnails come from :func:`covidimg.imaging.thumbnails` (on-disk cache, plus an
    in-memory cache here), and only the current page is ever rendered. Captions show
    harmonized fields only (patient, exam day, modality, view, source), never a DICOM
    header's identifying fields. An image that cannot be read shows a grey placeholder.

    Parameters
    ----------
    cohort
        The cohort whose images to show.
    page_size
        Thumbnails per page.
    thumb_size
        Side of a thumbnail in pixels.
    selection
        Show the images of this selection of a cohort instead (see :meth:`update_selection`).

    Attributes
    ----------
    viewer
        The :class:`~covidimg.widgets.viewer.ImageViewer` (window preset, level / width and,
        for CT, a slice slider).
    page
        The current page (0-based).

    Examples
    --------
    >>> import covidimg as ci
    >>> from covidimg.widgets import ImageGallery
    >>> g = ImageGallery(ci.load_demo(n_patients=12), page_size=8)   # doctest: +SKIP
    >>> g.captions[:2]                                                # doctest: +SKIP
    >>> g.show(g.image_uids[0])                                       # doctest: +SKIP
    """

    def __init__(self, cohort: Cohort, *, page_size: int = 12, thumb_size: int = 160,
                 cache_size: int = 2048, selection: Selection | None = None) -> None:
        if page_size < 1:
            raise ValueError(f"page_size={page_size!r}; pass a positive number of thumbnails")
        self.page_size = page_size
        self.thumb_size = thumb_size
        self.page = 0
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._cache_size = cache_size
        self._placeholder = imaging.browser_jpeg(imaging.placeholder(thumb_size))
        self._images = pd.DataFrame(columns=list(_COLUMNS))   # every image the rows refer to
        self._rows = np.array([], dtype=np.int64)               # the ones shown, in order
        self._frames: tuple[CohortArrays, pd.DataFrame] | None = None
        self._captions: list[str] = []
        self._cells = [self._make_cell(i) for i in range(page_size)]
        self.grid = w.GridBox([c for c, *_ in self._cells], layout=w.Layout(
            grid_template_columns=f"repeat(auto-fill, minmax({thumb_size + 12}px, 1fr))",
            grid_gap="8px"))
        self.previous_button = w.Button(description="Previous", icon="arrow-left",
                                        layout=w.Layout(width="110px"))
        self.next_button = w.Button(description="Next", icon="arrow-right",
                                    layout=w.Layout(width="110px"))
        self.previous_button.add_class("covidimg-gallery-previous")
        self.next_button.add_class("covidimg-gallery-next")
        self.previous_button.on_click(lambda _b: self.previous_page())
        self.next_button.on_click(lambda _b: self.next_page())
        self.status = w.HTML()
        self.viewer = ImageViewer(annotations=cohort.annotations)
        self.viewer.close_button.on_click(lambda _b: self.viewer.hide())
        super().__init__([w.HBox([self.previous_button, self.next_button, self.status]),
                          self.viewer, self.grid])
        self.add_class("covidimg-gallery")
        if selection is not None:
            self.update_selection(selection)
        else:
            self.update(cohort)

    def _make_cell(self, index: int) -> tuple[w.VBox, ClickableImage, w.HTML, w.Button]:
        image = ClickableImage(format="jpeg", layout=w.Layout(width=f"{self.thumb_size}px",
                                               height=f"{self.thumb_size}px"))
        image.add_class("covidimg-gallery-thumb")
        image.on_click(lambda _image, i=index: self._open_cell(i))   # the thumbnail opens it
        text = w.HTML(layout=w.Layout(width=f"{self.thumb_size + 8}px"))
        text.add_class("covidimg-gallery-caption")
        button = w.Button(description="Enlarge", icon="search-plus", tooltip="Open in the viewer",
                          layout=w.Layout(width=f"{self.thumb_size}px"))
        button.add_class("covidimg-gallery-open")
        button.on_click(lambda _b, i=index: self._open_cell(i))
        cell = w.VBox([image, text, button], layout=w.Layout(align_items="center"))
        return cell, image, text, button

    # ------------------------------------------------------------------ public
    def update(self, cohort: Cohort) -> None:
        """Show the images of ``cohort`` from the first page (the viewer stays open)."""
        images = cohort.images
        self.viewer.annotations = cohort.annotations
        self._images = images[[c for c in _COLUMNS if c in images.columns]]
        self._rows = np.arange(len(images))
        self.page = 0
        self._draw()

    def update_selection(self, selection: Selection) -> None:
        """Show the images of a selection of a cohort (what the :class:`Dashboard` calls)."""
        arrays = selection.arrays
        if self._frames is None or self._frames[0] is not arrays:
            images = arrays.cohort.images
            self._frames = (arrays, images[[c for c in _COLUMNS if c in images.columns]])
        self._images = self._frames[1]
        self._rows = selection.image_index
        self.page = 0
        self._draw()

    @property
    def n_pages(self) -> int:
        """Number of pages (0 when there are no images)."""
        return int(np.ceil(self._rows.size / self.page_size))

    @property
    def image_uids(self) -> list[str]:
        """``image_uid`` of the thumbnails on the current page."""
        return self._page_rows()["image_uid"].astype(str).tolist()

    @property
    def captions(self) -> list[str]:
        """Captions of the current page (harmonized fields only)."""
        return list(self._captions)

    def next_page(self) -> None:
        """Go to the next page (stays on the last one)."""
        if self.page + 1 < self.n_pages:
            self.page += 1
            self._draw()

    def previous_page(self) -> None:
        """Go to the previous page (stays on the first one)."""
        if self.page > 0:
            self.page -= 1
            self._draw()

    def go_to(self, page: int) -> None:
        """Show page ``page`` (0-based)."""
        if not 0 <= page < max(self.n_pages, 1):
            raise ValueError(f"page={page!r}; this gallery has pages 0 to "
                             f"{max(self.n_pages - 1, 0)}")
        self.page = page
        self._draw()

    def show(self, image_uid: str) -> None:
        """Open ``image_uid`` in the viewer, and turn to the page that holds it.

        Raises
        ------
        KeyError
            The image is not among the gallery's images (e.g. filtered out).
        """
        uids = self._images["image_uid"].astype(str).to_numpy()[self._rows]
        where = np.flatnonzero(uids == str(image_uid))
        if not where.size:
            raise KeyError(f"image_uid={image_uid!r} is not in the gallery's "
                           f"{len(uids)} images; is it filtered out?")
        position = int(where[0])
        if position // self.page_size != self.page:
            self.page = position // self.page_size
            self._draw()
        self.viewer.load(self._images.iloc[self._rows[position]].to_dict())

    # ------------------------------------------------------------------ drawing
    def _page_rows(self) -> pd.DataFrame:
        start = self.page * self.page_size
        return self._images.iloc[self._rows[start:start + self.page_size]]

    def _thumbnails(self, rows: pd.DataFrame) -> list[bytes]:
        """The page's thumbnails as JPEG (a third of the cached PNG's bytes to send)."""
        uids = rows["image_uid"].astype(str).tolist()
        remote = rows["path"].map(idc.is_remote).tolist()
        missing = [i for i, uid in enumerate(uids) if uid not in self._cache and not remote[i]]
        if missing:
            batch = imaging.thumbnails(rows.iloc[missing], size=self.thumb_size,
                                       use_preview=True, progress=False)
            for i, png, ok in zip(missing, batch.images, batch.ok, strict=True):
                if ok:
                    self._cache[uids[i]] = imaging.browser_jpeg(png)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        out = []
        for uid in uids:
            if uid in self._cache:
                self._cache.move_to_end(uid)
                out.append(self._cache[uid])
            else:   # unreadable or not downloaded
                out.append(self._placeholder)
        return out

    def _draw(self) -> None:
        rows = self._page_rows()
        records = rows[[c for c in CAPTION_FIELDS if c in rows.columns]].to_dict("records")
        self._captions = [caption(r) for r in records]
        jpegs = self._thumbnails(rows) if len(rows) else []
        remote = rows["path"].map(idc.is_remote).tolist()
        for i, (cell, image, text, button) in enumerate(self._cells):
            if i < len(records):
                image.value = jpegs[i]
                note = "<br><b>not downloaded</b>" if remote[i] else ""
                text.value = (f"<div style='font-size:0.85em;text-align:center'>"
                              f"{escape(self._captions[i])}{note}</div>")
                for key, value in (_DOWNLOAD if remote[i] else _ENLARGE).items():
                    setattr(button, key, value)
                cell.layout.display = "flex"
            else:
                cell.layout.display = "none"
        n = self._rows.size
        if n:
            start = self.page * self.page_size
            self.status.value = (f"images {start + 1}–{start + len(records)} of {n:,} · page "
                                 f"{self.page + 1} of {self.n_pages}")
        else:
            self.status.value = "<i>No images: no patients match the filter.</i>"
        self.previous_button.disabled = self.page == 0
        self.next_button.disabled = self.page + 1 >= self.n_pages

    def _open_cell(self, index: int) -> None:
        rows = self._page_rows()
        if index < len(rows) and idc.is_remote(rows["path"].iat[index]):
            self.download(str(rows["image_uid"].iat[index]))
        elif index < len(rows):
            self.viewer.load(rows.iloc[index].to_dict())

    def download(self, image_uid: str, **kwargs: object) -> None:
        """Download a remote (IDC) image shown in the gallery and show its thumbnail.

        ``kwargs`` go to :func:`covidimg.sources.idc.download` (``dest``, ``endpoint_url``).
        A failure is shown in the status line; the tile stays "not downloaded".
        """
        at = np.flatnonzero(self._images["image_uid"].astype(str).to_numpy() == image_uid)
        self.status.value = "<i>Downloading…</i>"
        try:
            paths = idc.download(self._images.iloc[at], progress=False, **kwargs)
        except (OSError, ValueError) as err:
            self.status.value = f"<span style='color:#B00'>{escape(err)}</span>"
            return
        before, self._images = self._images, idc.apply_paths(self._images, paths)
        if self._frames is not None and self._frames[1] is before:
            self._frames = (self._frames[0], self._images)
        self._draw()
