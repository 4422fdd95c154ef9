"""Fixed-size PNG thumbnails, cached on disk, made one at a time or in (parallel) batches.

:func:`thumbnail` makes one and raises :class:`~covidimg.errors.ImageReadError` when the
image cannot be read. :func:`thumbnails` makes many for a gallery and never raises for a bad
image: it returns a placeholder in its place and a ``findings`` row (kind
``unreadable_image``) naming the file and the reason. PNGs carry pixels only — no text chunks,
no DICOM header fields.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from PIL import Image

from covidimg import schema
from covidimg._parallel import ExecutorArg, run_tasks
from covidimg.errors import ImageReadError, TaskError
from covidimg.imaging.pixel_limits import resolve_max_pixel_bytes
from covidimg.imaging.read import read_image, read_png
from covidimg.imaging.refs import ImageRef, image_ref
from covidimg.imaging.slicing import SliceIndex
from covidimg.imaging.thumbcache import (
    cache_entry,
    cache_key,
    read_cached,
    source_fingerprint,
    write_atomic,
)
from covidimg.imaging.windowing import WindowPreset, resolve_window, window, window_bounds
from covidimg.paths import cache_dir as resolve_cache_dir

__all__ = ["BROWSER_JPEG_QUALITY", "POOL_MIN_IMAGES", "ThumbnailBatch", "ThumbnailResult",
           "browser_jpeg", "iter_thumbnails", "placeholder", "render_jpeg", "render_png",
           "thumbnail", "thumbnails"]

#: The finding kind a failed thumbnail produces.
FINDING_KIND = "unreadable_image"
#: With the default executor, fewer thumbnails than this are made in this process (a gallery
#: page); more go to a local process pool, which costs more to start than a few images take.
POOL_MIN_IMAGES = 32
#: Most images per task sent to an executor.
CHUNK_IMAGES = 8


#: JPEG quality of the images a page sends to the browser (thumbnails, the Course's images):
#: a third of the bytes of the cached PNG, with no visible loss at thumbnail size.
BROWSER_JPEG_QUALITY = 85


def _letterbox(display: np.ndarray, size: int) -> Image.Image:
    """An 8-bit image letterboxed into a black ``size`` x ``size`` square, aspect kept."""
    if display.ndim != 2:
        raise ValueError(f"an image to render must be 2-D; got shape {display.shape}")
    rows, cols = display.shape
    scale = size / max(rows, cols)
    new_w, new_h = max(1, round(cols * scale)), max(1, round(rows * scale))
    img = Image.fromarray(np.ascontiguousarray(display), mode="L")
    img = img.resize((new_w, new_h), Image.Resampling.BILINEAR, reducing_gap=2.0)
    canvas = Image.new("L", (size, size), 0)
    canvas.paste(img, ((size - new_w) // 2, (size - new_h) // 2))
    return canvas


def render_png(display: np.ndarray, size: int) -> bytes:
    """Letterbox an 8-bit image into a black ``size`` x ``size`` square and encode it as PNG.

    The aspect ratio is kept; the image is centred. Only the IHDR, IDAT and IEND chunks are
    written.

    Examples
    --------
    >>> import io
    >>> import numpy as np
    >>> from PIL import Image
    >>> from covidimg.imaging.thumbnails import render_png
    >>> png = render_png(np.full((100, 50), 255, np.uint8), 64)
    >>> Image.open(io.BytesIO(png)).size
    (64, 64)
    """
    buf = io.BytesIO()
    _letterbox(display, size).save(buf, format="PNG", compress_level=1)  # 2x faster than 6
    return buf.getvalue()


def _browser_jpeg_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=BROWSER_JPEG_QUALITY)
    return buf.getvalue()


def render_jpeg(display: np.ndarray, size: int) -> bytes:
    """As :func:`render_png`, encoded as JPEG for a browser (:data:`BROWSER_JPEG_QUALITY`)."""
    return _browser_jpeg_bytes(_letterbox(display, size))


def browser_jpeg(png: bytes) -> bytes:
    """A thumbnail PNG (as :func:`thumbnail` makes and caches it) re-encoded as JPEG.

    What a page sends over the websocket: about a third of the PNG's bytes for a grey-scale
    thumbnail (the PNG is written fast, barely compressed, for the cache). A PNG that cannot
    be decoded raises :class:`ValueError` naming it.

    Examples
    --------
    >>> from covidimg.imaging.thumbnails import browser_jpeg, placeholder
    >>> browser_jpeg(placeholder(32))[:3]
    b'\\xff\\xd8\\xff'
    """
    try:
        with Image.open(io.BytesIO(png), formats=["PNG"]) as img:
            img.load()
            grey = img.convert("L")
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise ValueError(f"not a thumbnail PNG ({len(png):,} bytes): {err}") from err
    return _browser_jpeg_bytes(grey)


def _shrink(pixels: np.ndarray, size: int) -> np.ndarray:
    """Resize float pixels so the longer side is ``size`` (never enlarging)."""
    rows, cols = pixels.shape
    scale = size / max(rows, cols)
    if scale >= 1.0:
        return pixels
    new_w, new_h = max(1, round(cols * scale)), max(1, round(rows * scale))
    img = Image.fromarray(np.ascontiguousarray(pixels, dtype=np.float32), mode="F")
    return np.asarray(img.resize((new_w, new_h), Image.Resampling.BILINEAR, reducing_gap=2.0))


@lru_cache(maxsize=8)
def placeholder(size: int = 256) -> bytes:
    """The PNG shown in place of an image that cannot be read: grey with a diagonal cross.

    Examples
    --------
    >>> from covidimg.imaging.thumbnails import placeholder
    >>> placeholder(32)[:4]
    b'\\x89PNG'
    """
    img = np.full((size, size), 60, dtype=np.uint8)
    idx = np.arange(size)
    thick = max(1, size // 64)
    for offset in range(-thick, thick + 1):
        j = np.clip(idx + offset, 0, size - 1)
        img[idx, j] = 150
        img[idx, size - 1 - j] = 150
    return render_png(img, size)


@dataclass(frozen=True)
class _Job:
    """Everything a worker needs to make one thumbnail (picklable for process pools)."""

    ref: ImageRef
    spec: WindowPreset
    size: int
    slice_index: SliceIndex
    use_preview: bool
    entry: Path | None
    max_pixel_bytes: int | None = None
    #: A module-level function applied to the PNG in the worker (e.g. export's NIfTI writer).
    encode: Callable[[bytes], bytes] | None = None


def _render(job: _Job) -> bytes:
    if job.use_preview and job.ref.preview_path:
        pixels = read_png(image_ref(job.ref.preview_path), max_pixel_bytes=job.max_pixel_bytes)
    else:
        pixels = read_image(job.ref, slice_index=job.slice_index,
                            voi=not job.spec.uses_modality_values,
                            max_pixel_bytes=job.max_pixel_bytes)
    if pixels.ndim == 3:   # a 2-D request on a one-slice volume
        pixels = pixels[pixels.shape[0] // 2]
    # Contrast from the full image, then shrink the floats, then window the small image:
    # the thumbnail looks like the full view at a fraction of the cost.
    low, high = window_bounds(pixels, job.spec)
    small = _shrink(pixels, job.size)
    png = render_png(window(small, center=(low + high) / 2.0, width=max(high - low, 1e-6)),
                     job.size)
    if job.entry is not None:
        try:
            write_atomic(job.entry, png)
        except OSError as exc:   # the cache only saves time: a full or read-only disk is no
            warnings.warn(        # reason to lose a thumbnail that was made
                f"thumbnail cache entry {job.entry} cannot be written ({exc}); the thumbnail "
                "is returned uncached. Free space or point COVIDIMG_CACHE / cache_dir to a "
                "writable folder", UserWarning, stacklevel=2)
    return png


def _run_job(job: _Job) -> tuple[bytes | None, str, str]:
    """Make one thumbnail; return (png, "", "") or (None, failing path, reason). Never raises."""
    try:
        png = _render(job)
        return (png if job.encode is None else job.encode(png)), "", ""
    except ImageReadError as exc:
        return None, exc.path, exc.reason
    except Exception as exc:  # a gallery must go on whatever one file does
        return None, job.ref.path, f"{type(exc).__name__}: {exc}"


def _prepare(image: Any, *, spec: WindowPreset, size: int, slice_index: SliceIndex,
             use_preview: bool, folder: Path | None, max_pixel_bytes: int | None,
             encode: Callable[[bytes], bytes] | None = None) -> _Job:
    ref = image if isinstance(image, ImageRef) else image_ref(image)
    entry = None
    if folder is not None:
        key = cache_key(source_fingerprint(ref, use_preview), window_key=spec.key(), size=size,
                        slice_index=slice_index, use_preview=use_preview,
                        transposed=ref.stored_transposed)
        entry = cache_entry(folder, key)
    return _Job(ref, spec, size, slice_index, use_preview, entry, max_pixel_bytes, encode)


def _check_size(size: int) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not \
            8 <= int(size) <= 4096:
        raise ValueError(f"size must be an int between 8 and 4096 pixels; got {size!r}")
    return int(size)


def _cache_folder(cache: bool, cache_dir: str | os.PathLike[str] | None) -> Path | None:
    """The thumbnail cache folder, or None (with a warning) when it cannot be used: the
    thumbnails are then made without a cache."""
    if not cache:
        return None
    try:
        folder = resolve_cache_dir("thumbnails", override=cache_dir)
        if not os.access(folder, os.W_OK | os.X_OK):
            raise PermissionError(13, "not writable")
    except OSError as exc:
        warnings.warn(f"the thumbnail cache folder cannot be used ({exc.strerror or exc}); "
                      "thumbnails are made without a cache. Point COVIDIMG_CACHE / cache_dir "
                      "to a writable folder", UserWarning, stacklevel=3)
        return None
    return folder


def thumbnail(image: Any, *, size: int = 256, window: str | WindowPreset = "auto",
              center: float | None = None, width: float | None = None,
              slice_index: SliceIndex = "middle", use_preview: bool = False,
              cache: bool = True, cache_dir: str | os.PathLike[str] | None = None,
              max_pixel_bytes: int | None = None) -> bytes:
    """Make (or fetch from the cache) one fixed-size PNG thumbnail.

    Parameters
    ----------
    image
        An ``images`` row, a path, ``"archive.zip::member"`` or a series folder
        (see :func:`~covidimg.imaging.read_image`).
    size
        Side of the square thumbnail in pixels; the image is letterboxed into it.
    window
        A preset name of :data:`~covidimg.imaging.WINDOW_PRESETS` or a
        :class:`~covidimg.imaging.windowing.WindowPreset`. ``"auto"`` applies the DICOM
        header's VOI then stretches percentiles; the CT presets work on Hounsfield units.
    center, width
        An explicit window (modality units), overriding ``window``.
    slice_index
        Which slice of a volume or series (``"middle"`` by default).
    use_preview
        Make the thumbnail from the row's ``preview_path`` (MHH's 8-bit PNG) when it has one —
        faster than decoding the original.
    cache
        Read and write the on-disk cache.
    cache_dir
        Cache root; default ``COVIDIMG_CACHE`` or the user cache folder
        (:func:`covidimg.paths.cache_dir`). Thumbnails go in its ``thumbnails/`` sub-folder.
    max_pixel_bytes
        The most memory decoding one image may need (see
        :func:`~covidimg.imaging.read_image`); ``None`` for the default (1 GiB, or
        ``COVIDIMG_MAX_PIXEL_BYTES``).

    Returns
    -------
    bytes
        PNG data (what ``ipywidgets.Image(value=...)`` takes).

    Raises
    ------
    ImageReadError
        The image cannot be read (the message names the file and the reason);
        :class:`~covidimg.errors.ImageTooLargeError` when it is larger than
        ``max_pixel_bytes``.

    Examples
    --------
    >>> import tempfile
    >>> from pydicom.data import get_testdata_file
    >>> from covidimg.imaging import thumbnail
    >>> png = thumbnail(get_testdata_file("CT_small.dcm"), size=64, window="mediastinum",
    ...                 cache_dir=tempfile.mkdtemp())
    >>> png[:4]
    b'\\x89PNG'
    """
    size = _check_size(size)
    spec = resolve_window(window, center=center, width=width)
    max_pixel_bytes = resolve_max_pixel_bytes(max_pixel_bytes)
    job = _prepare(image, spec=spec, size=size, slice_index=slice_index,
                   use_preview=use_preview, folder=_cache_folder(cache, cache_dir),
                   max_pixel_bytes=max_pixel_bytes)
    if job.entry is not None:
        cached = read_cached(job.entry, job.size)
        if cached is not None:
            return cached
    return _render(job)


@dataclass(eq=False)
class ThumbnailBatch:
    """Thumbnails of many images, in input order.

    Attributes
    ----------
    images
        PNG bytes per input; :func:`placeholder` where the image failed.
    paths
        The cache file per input (``None`` when it failed or the cache is off).
    ok
        Whether each input produced a real thumbnail.
    findings
        One ``unreadable_image`` row per failure, with the columns of the cohort's
        ``findings`` table (``source`` is empty when the input carried none).
    """

    images: list[bytes]
    paths: list[Path | None]
    ok: list[bool]
    findings: pd.DataFrame = field(default_factory=lambda: schema.empty("findings"))

    def __len__(self) -> int:
        return len(self.images)


def _items(images: Any) -> list[Any]:
    if isinstance(images, pd.DataFrame):
        return images.to_dict("records")
    if isinstance(images, (str, os.PathLike, ImageRef)):
        return [images]
    if isinstance(images, pd.Series):
        return [images]
    if isinstance(images, Iterable):
        return list(images)
    raise TypeError(f"images must be an images DataFrame or an iterable of rows/paths; got "
                    f"{type(images).__name__}")


def _field(item: Any, key: str) -> str | None:
    value = item.get(key) if hasattr(item, "get") and not isinstance(item, (str, ImageRef)) \
        else None
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return str(value)


def _finding(item: Any, path: str, reason: str) -> dict[str, Any]:
    image_uid = _field(item, "image_uid")
    source = _field(item, "source")
    if source is None and image_uid and ":" in image_uid:
        prefix = image_uid.split(":", 1)[0]
        source = prefix if prefix in schema.SOURCES else None
    return {"kind": FINDING_KIND, "source": source, "patient_uid": _field(item, "patient_uid"),
            "image_uid": image_uid, "path": path,
            "detail": f"no thumbnail: {reason}"}


class ThumbnailResult(NamedTuple):
    """One image's outcome in :func:`iter_thumbnails`."""

    #: Position of the image in the input.
    position: int
    #: The PNG (or what ``encode`` made of it); ``None`` when the image failed.
    data: bytes | None
    #: The thumbnail's cache file, when it is cached.
    path: Path | None
    #: The ``findings`` row of a failure (kind ``unreadable_image``), else ``None``.
    finding: dict[str, Any] | None


def iter_thumbnails(images: Any, *, size: int = 256, window: str | WindowPreset = "auto",
                    center: float | None = None, width: float | None = None,
                    slice_index: SliceIndex = "middle", use_preview: bool = False,
                    cache: bool = True, cache_dir: str | os.PathLike[str] | None = None,
                    n_jobs: int | None = None, executor: ExecutorArg = None,
                    progress: bool = True, max_pixel_bytes: int | None = None,
                    encode: Callable[[bytes], bytes] | None = None,
                    desc: str = "thumbnails") -> Iterator[ThumbnailResult]:
    """Make thumbnails for many images, yielding each as soon as it is made.

    Cached and unreadable images come first, then the rest as the executor finishes them, so
    a caller can write each one out and keep few in memory. Never raises for a bad image:
    its result has ``data=None`` and a finding. Parameters as for :func:`thumbnails`, and:

    Parameters
    ----------
    encode
        A module-level function applied to each new PNG where it is made (in the worker),
        e.g. to re-encode it in another format.
    desc
        The progress bar's label.

    Yields
    ------
    ThumbnailResult

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> from covidimg.imaging.thumbnails import iter_thumbnails
    >>> [(r.position, r.data is not None) for r in iter_thumbnails(
    ...     [get_testdata_file("CT_small.dcm"), "/no/such/file.dcm"], size=32, cache=False,
    ...     progress=False)]
    [(1, False), (0, True)]
    """
    size = _check_size(size)
    spec = resolve_window(window, center=center, width=width)
    max_pixel_bytes = resolve_max_pixel_bytes(max_pixel_bytes)
    folder = _cache_folder(cache, cache_dir)
    items = _items(images)
    pending: list[tuple[int, _Job]] = []
    for i, item in enumerate(items):
        try:
            job = _prepare(item, spec=spec, size=size, slice_index=slice_index,
                           use_preview=use_preview, folder=folder,
                           max_pixel_bytes=max_pixel_bytes, encode=encode)
        except ImageReadError as exc:
            yield ThumbnailResult(i, None, None, _finding(item, exc.path, exc.reason))
            continue
        except (TypeError, OSError) as exc:
            yield ThumbnailResult(i, None, None, _finding(
                item, str(_field(item, "path") or item), f"{type(exc).__name__}: {exc}"))
            continue
        cached = read_cached(job.entry, job.size) if job.entry is not None else None
        if cached is not None:
            yield ThumbnailResult(i, cached if encode is None else encode(cached), job.entry,
                                  None)
        else:
            pending.append((i, job))

    # a pool is started for enough images to pay for it; an explicit n_jobs always gets one
    worth = len(pending) >= POOL_MIN_IMAGES if n_jobs is None else len(pending) > 1
    # a few images per task: a Dask cluster's scheduling costs ~ms per task
    step = min(CHUNK_IMAGES, max(1, len(pending) // 16))
    chunks = [tuple(job for _, job in pending[at:at + step])
              for at in range(0, len(pending), step)]
    for k, outcomes in run_tasks(_run_jobs, chunks, executor=executor, n_jobs=n_jobs,
                                 worth_a_pool=worth, name=_chunk_name, errors="return",
                                 progress=progress, desc=desc, unit="img", weight=len):
        for (i, job), outcome in zip(pending[k * step:(k + 1) * step],
                                     _outcomes(outcomes, chunks[k]), strict=True):
            data, bad_path, reason = outcome
            if data is None:
                yield ThumbnailResult(i, None, None, _finding(items[i], bad_path, reason))
            else:
                yield ThumbnailResult(i, data, job.entry, None)


def _run_jobs(jobs: tuple[_Job, ...]) -> list[tuple[bytes | None, str, str]]:
    """:func:`_run_job` for each of a task's jobs."""
    return [_run_job(job) for job in jobs]


def _chunk_name(jobs: tuple[_Job, ...]) -> str:
    more = f" and {len(jobs) - 1} more image(s)" if len(jobs) > 1 else ""
    return f"the thumbnail of {jobs[0].ref.path}{more}"


def _outcomes(outcomes: list[tuple[bytes | None, str, str]] | TaskError,
              jobs: tuple[_Job, ...]) -> list[tuple[bytes | None, str, str]]:
    if isinstance(outcomes, TaskError):   # e.g. the worker process died: each image fails
        return [(None, job.ref.path, f"worker failed: {outcomes.reason}") for job in jobs]
    return outcomes


def thumbnails(images: Any, *, size: int = 256, window: str | WindowPreset = "auto",
               center: float | None = None, width: float | None = None,
               slice_index: SliceIndex = "middle", use_preview: bool = False,
               cache: bool = True, cache_dir: str | os.PathLike[str] | None = None,
               n_jobs: int | None = None, executor: ExecutorArg = None,
               progress: bool = True, max_pixel_bytes: int | None = None) -> ThumbnailBatch:
    """Make thumbnails for many images; failures become placeholders and findings.

    Cached thumbnails are read straight from disk (no decoding), so a gallery page served
    from the cache costs one small file read per image. The rest are made on ``executor``
    (by default a local process pool when at least :data:`POOL_MIN_IMAGES` are to be made,
    else in this process), with a :mod:`tqdm.auto` progress bar; the output is in input
    order whatever the executor.

    Parameters
    ----------
    images
        An ``images`` DataFrame, or an iterable of rows, paths or ``"zip::member"`` strings.
    size, window, center, width, slice_index, use_preview, cache, cache_dir, max_pixel_bytes
        As for :func:`thumbnail`; an image above ``max_pixel_bytes`` becomes a placeholder
        and an ``unreadable_image`` finding saying it is too large.
    n_jobs
        Workers of the default process pool: ``None`` every CPU (when the work is worth a
        pool), ``-1`` every CPU, ``1`` this process. Ignored when ``executor`` is given.
    executor
        Where the thumbnails are made, as everywhere in covidimg (``covidimg.load``,
        ``Cohort.export``): ``None`` the default pool, ``False`` this process, or any
        :class:`concurrent.futures.Executor` -- a ``ProcessPoolExecutor``, a
        ``ThreadPoolExecutor``, a Dask cluster's ``Client.get_executor()`` (or the
        ``Client``); it is not shut down. Its workers must see the image files (and the
        cache folder).
    progress
        Show a progress bar for the thumbnails that are not cached.

    Returns
    -------
    ThumbnailBatch

    Examples
    --------
    >>> import tempfile
    >>> from pydicom.data import get_testdata_file
    >>> from covidimg.imaging import thumbnails
    >>> batch = thumbnails([get_testdata_file("CT_small.dcm"), "/no/such/file.dcm"], size=32,
    ...                    cache_dir=tempfile.mkdtemp(), progress=False)
    >>> batch.ok, batch.findings["kind"].tolist()
    ([True, False], ['unreadable_image'])
    """
    items = _items(images)
    results: list[bytes | None] = [None] * len(items)
    paths: list[Path | None] = [None] * len(items)
    failures: dict[int, dict[str, Any]] = {}
    for result in iter_thumbnails(items, size=size, window=window, center=center, width=width,
                                  slice_index=slice_index, use_preview=use_preview,
                                  cache=cache, cache_dir=cache_dir, n_jobs=n_jobs,
                                  executor=executor, progress=progress,
                                  max_pixel_bytes=max_pixel_bytes):
        if result.finding is not None:
            failures[result.position] = result.finding
        else:
            results[result.position], paths[result.position] = result.data, result.path

    rows = [failures[i] for i in sorted(failures)]
    frame = schema.conform("findings", pd.DataFrame(rows, columns=schema.TABLES["findings"].names))
    size = _check_size(size)
    return ThumbnailBatch(
        images=[placeholder(size) if r is None else r for r in results],
        paths=[None if i in failures else p for i, p in enumerate(paths)],
        ok=[i not in failures for i in range(len(items))],
        findings=frame,
    )
