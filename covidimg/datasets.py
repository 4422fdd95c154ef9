"""Fetchers for public real data, downloaded once and cached (``fetch_*``, as in nilearn)."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from covidimg.errors import DatasetUnavailableError
from covidimg.paths import cache_dir

__all__ = ["MHH_COMMIT", "MHH_DIR_ENV", "DatasetUnavailableError", "fetch_mhh"]

#: The pinned commit of github.com/ml-workgroup/covid-19-image-repository.
MHH_COMMIT = "ad7ab099b425f16e06bba22322336b7d6a732965"
MHH_BASE_URL = (f"https://raw.githubusercontent.com/ml-workgroup/covid-19-image-repository/"
                f"{MHH_COMMIT}/")
#: Environment variable naming a mirror to download the MHH files from.
MHH_URL_ENV = "COVIDIMG_MHH_BASE_URL"
#: Environment variable pointing at a local copy of the MHH repository (skips the download).
MHH_DIR_ENV = "COVIDIMG_MHH_DIR"


def _registry() -> dict[str, str]:
    text = resources.files("covidimg.data").joinpath("mhh_registry.txt").read_text()
    entries = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            name, digest = line.split()
            entries[name] = digest
    return entries


def fetch_mhh(
    cache: str | os.PathLike[str] | None = None,
    *,
    base_url: str | None = None,
    progress: bool = True,
) -> Path:
    """Return a folder holding the real Hannover (MHH) data: ``data.csv``, ``png/``, readme.

    Files are downloaded once from the repository at the pinned commit :data:`MHH_COMMIT`, each
    checked against its SHA-256, into the cache folder (``cache`` argument, else
    ``$COVIDIMG_CACHE``, else the user cache folder). Set ``$COVIDIMG_MHH_DIR`` to a local copy
    to skip the download. The data are licensed CC BY 3.0: cite DOI 10.6084/m9.figshare.12275009.

    Parameters
    ----------
    cache
        Cache folder override.
    base_url
        Mirror to download from (default: ``$COVIDIMG_MHH_BASE_URL``, else GitHub at the pinned
        commit).
    progress
        Show a progress bar while downloading.

    Raises
    ------
    DatasetUnavailableError
        When a file cannot be downloaded; the message names it and suggests ``$COVIDIMG_MHH_DIR``.

    Examples
    --------
    >>> import covidimg as ci
    >>> cohort = ci.load(ci.fetch_mhh())                         # doctest: +SKIP
    """
    local = os.environ.get(MHH_DIR_ENV)
    if local:
        folder = Path(local)
        if not (folder / "data.csv").is_file():
            raise DatasetUnavailableError(
                f"${MHH_DIR_ENV}={local!r} has no data.csv; point it at a checkout of "
                "github.com/ml-workgroup/covid-19-image-repository or unset it")
        return folder
    import pooch
    from tqdm.auto import tqdm

    registry = _registry()
    folder = cache_dir("mhh", cache) / MHH_COMMIT[:12]
    mirror = base_url or os.environ.get(MHH_URL_ENV) or MHH_BASE_URL
    fetcher = pooch.create(path=folder, base_url=mirror,
                           registry={k: f"sha256:{v}" for k, v in registry.items()})
    missing = [name for name in registry if not (folder / name).is_file()]
    # Every file goes through pooch, which re-downloads one whose checksum no longer matches.
    for name in tqdm(list(registry), desc="MHH data", unit="file",
                     disable=not progress or not missing):
        try:
            fetcher.fetch(name)
        except Exception as exc:  # requests/pooch raise many kinds for network problems
            raise DatasetUnavailableError(
                f"could not download {name} from {fetcher.get_url(name)}: "
                f"{type(exc).__name__}: {exc}. Check the network, or set ${MHH_DIR_ENV} to a "
                "local copy of the repository."
            ) from exc
    return folder
