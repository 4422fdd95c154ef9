"""The built-in demo: synthetic cohorts written in every source's native layout, with truth.

``load_demo()`` is what notebooks, the dashboard and workshops start from: it works offline,
writes its files into the cache folder on first use (a few seconds) and reopens the saved cohort
afterwards. ``generate_demo(folder)`` writes the native layouts themselves, so the demo is also a
realistic test bed for every loader: each writer returns the truth it encoded.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from covidimg._validation import check_choice
from covidimg.cohort import Cohort, load
from covidimg.demo.truth import DemoTruth
from covidimg.paths import cache_dir
from covidimg.registry import SOURCE_NAMES

__all__ = ["DEMO_VERSION", "available_sources", "demo_is_cached", "demo_truth", "generate_demo",
           "load_demo", "load_demo_truth"]

#: Bump when the generator's output, or the cohort loading it gives, changes, so cached demos
#: are regenerated (2: ``images.exam``, and no description texts by default; 3: annotations:
#: MD.ai exports in the TCIA demo, CXR readings in the NCCID demo).
DEMO_VERSION = 3
_MARKER = "demo.json"


def available_sources() -> tuple[str, ...]:
    """The registered sources (:mod:`covidimg.registry`) that have a demo writer,
    ``covidimg.demo.<source>``, in registry order."""
    return tuple(s for s in SOURCE_NAMES
                 if importlib.util.find_spec(f"covidimg.demo.{s}") is not None)


def _check_sources(sources: Sequence[str] | None) -> tuple[str, ...]:
    available = available_sources()
    if sources is None:
        return available
    sources = (sources,) if isinstance(sources, str) else tuple(sources)
    for source in sources:
        check_choice(source, available, "sources", hint="Only these sources have a demo writer.")
    return sources


def generate_demo(
    folder: str | os.PathLike[str],
    *,
    sources: Sequence[str] | None = None,
    seed: int = 0,
    n_patients: int = 30,
    shared_images: bool = False,
) -> dict[str, DemoTruth]:
    """Write a synthetic cohort in each source's native layout, plus the truth it encodes.

    Files go to ``folder/<source>/`` (what a user would pass to :func:`covidimg.load`) and the
    truth to ``folder/truth/<source>/``. Each source gets its own generator derived from
    ``seed``, so adding a source never changes another source's files.

    Parameters
    ----------
    folder
        Where to write; created if missing.
    sources
        Which sources to write (default: every source with a demo writer).
    seed
        Seed of the random generators; the same seed writes the same files.
    n_patients
        Patients per source.
    shared_images
        Also plant the same image in two sources (a TCIA radiograph in MIDRC with its UIDs,
        another re-encoded as an MHH PNG; :mod:`covidimg.demo.shared_images`), with the links
        a search must find in ``folder/truth/shared_images.parquet``. Needs mhh, midrc and
        tcia.

    Returns
    -------
    dict
        Source name -> :class:`~covidimg.demo.truth.DemoTruth`.

    Examples
    --------
    >>> import tempfile
    >>> from covidimg.demo import generate_demo
    >>> truth = generate_demo(tempfile.mkdtemp(), sources=["mhh"], n_patients=3)
    >>> list(truth)
    ['mhh']
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    truths = {}
    for index, source in enumerate(_check_sources(sources)):
        writer = importlib.import_module(f"covidimg.demo.{source}")
        rng = np.random.default_rng([seed, index, SOURCE_NAMES.index(source)])
        truth = writer.write(folder / source, rng=rng, n_patients=n_patients)
        truth.save(folder / "truth" / source)
        truths[source] = truth
    if shared_images:
        from covidimg.demo import shared_images as shared

        shared.plant(folder, truths)
    return truths


def demo_truth(folder: str | os.PathLike[str]) -> dict[str, DemoTruth]:
    """Read the truth written by :func:`generate_demo` into ``folder``."""
    truth_dir = Path(folder) / "truth"
    return {p.name: DemoTruth.open(p) for p in sorted(truth_dir.iterdir()) if p.is_dir()}


def _demo_folder(chosen: Sequence[str], seed: int, n_patients: int,
                 cache: str | os.PathLike[str] | None) -> Path:
    """Where :func:`load_demo` keeps one generator setting's files, truth and saved cohort."""
    name = f"v{DEMO_VERSION}-seed{seed}-n{n_patients}-{'-'.join(chosen)}"
    return cache_dir("demo", cache) / name


def demo_is_cached(
    *,
    sources: Sequence[str] | None = None,
    seed: int = 0,
    n_patients: int = 30,
    cache: str | os.PathLike[str] | None = None,
) -> bool:
    """Whether :func:`load_demo` with these arguments reopens a cached cohort (fast) rather
    than building it first (generating the layouts and loading them, some seconds).

    Examples
    --------
    >>> import tempfile
    >>> from covidimg.demo import demo_is_cached
    >>> demo_is_cached(cache=tempfile.mkdtemp())
    False
    """
    return (_demo_folder(_check_sources(sources), seed, n_patients, cache) / _MARKER).is_file()


def load_demo(
    *,
    sources: Sequence[str] | None = None,
    seed: int = 0,
    n_patients: int = 30,
    cache: str | os.PathLike[str] | None = None,
    progress: bool = False,
) -> Cohort:
    """Load the built-in synthetic multi-source cohort (offline).

    The first call writes the native layouts into the cache folder (``cache`` argument, else
    ``$COVIDIMG_CACHE``, else the user cache folder), loads them with the real loaders and
    saves the cohort; later calls reopen the saved cohort in well under a second.

    Parameters
    ----------
    sources
        Sources to include (default: all with a demo writer).
    seed, n_patients
        Generator settings (``n_patients`` per source: the default 30 gives about 150 patients
        over the five sources); each combination is cached separately.
    cache
        Cache folder override.
    progress
        Show progress bars during the first generation.

    Examples
    --------
    >>> import covidimg as ci
    >>> cohort = ci.load_demo()                                  # doctest: +SKIP
    >>> cohort.summary()                                         # doctest: +SKIP
    """
    chosen = _check_sources(sources)
    target = _demo_folder(chosen, seed, n_patients, cache)
    name = target.name
    marker = target / _MARKER
    if marker.is_file():
        return Cohort.open(target / "cohort")
    staging = target.with_name(f".{name}.{uuid.uuid4().hex[:8]}")
    generate_demo(staging, sources=chosen, seed=seed, n_patients=n_patients)
    # Load from the final location so image paths in the saved cohort stay valid.
    if target.exists():
        shutil.rmtree(target)
    os.replace(staging, target)
    cohort = load({s: target / s for s in chosen}, progress=progress)
    cohort.save(target / "cohort")
    marker.write_text(json.dumps({"version": DEMO_VERSION, "seed": seed,
                                  "n_patients": n_patients, "sources": list(chosen)}))
    return cohort


def load_demo_truth(
    *,
    sources: Sequence[str] | None = None,
    seed: int = 0,
    n_patients: int = 30,
    cache: str | os.PathLike[str] | None = None,
) -> dict[str, DemoTruth]:
    """The truth the generator encoded into the cohort :func:`load_demo` returns, per source.

    Takes the same arguments as :func:`load_demo` (and builds the demo first if needed), so
    notebooks and exercises can check an analysis against what was planted.

    Examples
    --------
    >>> import covidimg as ci
    >>> from covidimg.demo import load_demo_truth
    >>> cohort = ci.load_demo()                                  # doctest: +SKIP
    >>> load_demo_truth()["mhh"].labs.head()                     # doctest: +SKIP
    """
    load_demo(sources=sources, seed=seed, n_patients=n_patients, cache=cache)
    return demo_truth(_demo_folder(_check_sources(sources), seed, n_patients, cache))
