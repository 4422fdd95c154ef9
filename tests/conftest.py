"""Shared fixtures: the real MHH folder, a private cache folder, the demo written once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(os.environ.get("COVIDIMG_SHARED",
                             Path(__file__).resolve().parents[2] / "shared"))
MHH_DIR = SHARED / "data" / "mhh"


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every test run gets its own cache folder: tests never touch the user's home."""
    folder = tmp_path_factory.mktemp("cache")
    previous = os.environ.get("COVIDIMG_CACHE")
    os.environ["COVIDIMG_CACHE"] = str(folder)
    os.environ.pop("COVIDIMG_MHH_DIR", None)
    yield folder
    if previous is None:
        os.environ.pop("COVIDIMG_CACHE", None)
    else:
        os.environ["COVIDIMG_CACHE"] = previous


@pytest.fixture(scope="session")
def mhh_dir() -> Path:
    """The real Hannover data shipped in shared/ (data.csv + 243 PNGs)."""
    assert (MHH_DIR / "data.csv").is_file(), f"real MHH data not found at {MHH_DIR}"
    return MHH_DIR


@pytest.fixture(scope="session")
def mhh_cohort(mhh_dir: Path):  # type: ignore[no-untyped-def]
    import covidimg as ci

    return ci.load(mhh_dir, progress=False)


@pytest.fixture(scope="session")
def demo_cohort():  # type: ignore[no-untyped-def]
    import covidimg as ci

    # Smaller than the default demo: every xdist worker builds its own copy.
    return ci.load_demo(n_patients=12)
