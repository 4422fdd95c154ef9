"""Where covidimg keeps its caches: argument > environment variable > user cache folder."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import platformdirs

__all__ = ["CACHE_ENV", "STALE_STAGING_SECONDS", "cache_dir", "private_file",
           "trusted_file_problem"]

#: Environment variable that overrides the user cache folder.
CACHE_ENV = "COVIDIMG_CACHE"


#: A cache's staging file or folder (written, then renamed into place) older than this was
#: left by a killed process, and may be removed.
STALE_STAGING_SECONDS = 3600


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
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


@contextlib.contextmanager
def private_file(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Create ``path`` (it must not exist) for writing, readable and writable by its owner
    only (0600), whatever the umask.

    Examples
    --------
    >>> import os, stat, tempfile
    >>> from covidimg.paths import private_file
    >>> path = os.path.join(tempfile.mkdtemp(), "x")
    >>> with private_file(path) as handle:
    ...     _ = handle.write(b"data")
    >>> oct(stat.S_IMODE(os.stat(path).st_mode))
    '0o600'
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(os.fspath(path), flags, 0o600)
    os.fchmod(fd, 0o600)  # O_CREAT's mode is masked by the umask; owner-only is the point
    with os.fdopen(fd, "wb") as handle:
        yield handle


def trusted_file_problem(st: os.stat_result) -> str | None:
    """Why a cache file with this stat cannot be trusted, or None.

    A cache in a shared folder may have been planted: a file owned by another user, or one that
    others may write, is not used (it is rebuilt in a file of the user's own).
    """
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        return f"belongs to another user (uid {st.st_uid})"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"can be written by other users (mode {stat.S_IMODE(st.st_mode):o})"
    return None
