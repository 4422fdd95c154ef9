"""Where covidimg keeps its caches: argument > environment variable > user cache folder."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

__all__ = ["CACHE_ENV", "cache_dir"]

#: Environment variable that overrides the user cache folder.
CACHE_ENV = "COVIDIMG_CACHE"


def cache_dir(subdir: str | None = None, override: str | os.PathLike[str] | None = None) -> Path:
    """Return (and create) covidimg's cache folder, or a sub-folder of it.

    Resolution order, as in nilearn: the ``override`` argument, then the ``COVIDIMG_CACHE``
    environment variable, then the platform's user cache folder
    (``platformdirs.user_cache_dir("covidimg")``).

    Examples
    --------
    >>> import os, tempfile
    >>> from covidimg.paths import cache_dir
    >>> folder = cache_dir("thumbnails", override=tempfile.mkdtemp())
    >>> folder.name
    'thumbnails'
    """
    if override is not None:
        base = Path(override)
    elif os.environ.get(CACHE_ENV):
        base = Path(os.environ[CACHE_ENV])
    else:
        base = Path(platformdirs.user_cache_dir("covidimg"))
    folder = base / subdir if subdir else base
    folder.mkdir(parents=True, exist_ok=True)
    return folder
