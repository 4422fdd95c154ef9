"""Images exported as PNG or NIfTI files through the thumbnails' pipeline, resumably.

Each image goes through :func:`covidimg.imaging.thumbnails` (the one reader and window;
letterboxed into a ``size`` square; a CT/MR series as its middle slice) on its executor (a
local process pool by default, or any given one). A file is written under a temporary name
and renamed when complete, so a file that exists is whole and a re-run skips it. The PNGs
carry pixels only (IHDR, IDAT, IEND: no text chunk); the NIfTI header keeps an empty
description.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
from pathlib import Path
from typing import Literal

import nibabel as nib
import numpy as np
import pandas as pd
from PIL import Image

from covidimg import schema
from covidimg._parallel import ExecutorArg
from covidimg.imaging.thumbnails import iter_thumbnails

__all__ = ["ImageFormat", "export_images", "image_file_name"]

#: The file formats images are exported as.
ImageFormat = Literal["png", "nifti"]
_SUFFIX = {"png": ".png", "nifti": ".nii.gz"}


def image_file_name(image_uid: str, image_format: ImageFormat) -> str:
    """``<source>/<id><suffix>``: the id with characters outside ``[A-Za-z0-9._-]``
    replaced, and a short hash of the uid added when anything was replaced or cut, so two
    uids never share a name.

    Examples
    --------
    >>> from covidimg.export._images import image_file_name
    >>> image_file_name("mhh:0a1b2c3d", "png")
    'mhh/0a1b2c3d.png'
    >>> image_file_name("nccid:a/b", "nifti")
    'nccid/a_b-cab5adeca3.nii.gz'
    """
    source, _colon, ident = str(image_uid).partition(":")
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", ident)[:100].lstrip(".") or "image"
    source = re.sub(r"[^A-Za-z0-9_-]", "_", source) or "unknown"
    if safe != ident:
        safe += "-" + hashlib.sha1(str(image_uid).encode()).hexdigest()[:10]
    return f"{source}/{safe}{_SUFFIX[image_format]}"


def _write_atomic(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.part")
    partial.write_bytes(data)
    os.replace(partial, target)


def _nifti_bytes(png: bytes) -> bytes:
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.uint8)
    # axis 0 runs along the image's width (x), axis 1 down its height, as MHH's NIfTI files
    image = nib.Nifti1Image(pixels.T.copy(), affine=np.eye(4))
    image.header["descrip"] = b""
    return gzip.compress(image.to_bytes(), compresslevel=6, mtime=0)


def export_images(images: pd.DataFrame, folder: Path, *, image_format: ImageFormat, size: int,
                  window: str, n_jobs: int | None, executor: ExecutorArg,
                  progress: bool) -> tuple[pd.Series, pd.DataFrame]:
    """Write each image of ``images`` under ``folder``; skip those already written.

    The images are rendered (and, for NIfTI, encoded) on ``executor`` (see
    :func:`covidimg.imaging.thumbnails`); each file is written here as soon as its image comes
    back, so few are held in memory and an interrupted export keeps what it wrote.

    Returns
    -------
    files
        Path relative to the export folder (``images/<source>/<name>``; ``folder`` is its
        ``images/``) per ``image_uid``, NA where the image
        could not be read.
    problems
        ``unreadable_image`` findings rows of the images that failed.
    """
    uids = images["image_uid"].astype(str)
    names = {uid: image_file_name(uid, image_format) for uid in uids}
    files = pd.Series({uid: f"images/{name}" for uid, name in names.items()}, dtype="string")
    todo = images[[not (folder / name).is_file() for name in names.values()]]
    todo_uids = todo["image_uid"].astype(str).tolist()
    problems = []
    for result in iter_thumbnails(todo, size=size, window=window, cache=False, n_jobs=n_jobs,
                                  executor=executor, progress=progress,
                                  encode=None if image_format == "png" else _nifti_bytes,
                                  desc="export images"):
        uid = todo_uids[result.position]
        if result.data is None:
            files[uid] = pd.NA
            problems.append(result.finding)
        else:
            _write_atomic(folder / names[uid], result.data)
    if not problems:
        return files, pd.DataFrame()
    order = {uid: k for k, uid in enumerate(todo_uids)}
    problems.sort(key=lambda row: order.get(str(row["image_uid"]), len(order)))
    frame = schema.conform("findings", pd.DataFrame(
        problems, columns=schema.TABLES["findings"].names))
    return files, frame
