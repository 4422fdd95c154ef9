"""Shared fixtures: the real MHH folder, a private cache, the demo, an S3 endpoint on 127.0.0.1.

The real Hannover data is not in the repository: it is read from the project's ``shared/``
folder beside the checkout (``../shared/data/mhh``), or from ``$COVIDIMG_SHARED/data/mhh``.
Tests that need it take the ``mhh_dir`` (or ``mhh_cohort``) fixture, which skips them with the
path it looked at when the data is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from servers import free_port

SHARED = Path(os.environ.get("COVIDIMG_SHARED",
                             Path(__file__).resolve().parents[2] / "shared"))
MHH_DIR = SHARED / "data" / "mhh"


def skip_without_mhh() -> None:
    """Skip the calling test when the real MHH data is absent, saying where it was looked for."""
    if not (MHH_DIR / "data.csv").is_file():
        pytest.skip(f"the real MHH data is not at {MHH_DIR} (no data.csv): put the project's "
                    f"shared/ folder beside the checkout, or set COVIDIMG_SHARED to a folder "
                    f"holding data/mhh/data.csv")


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
    """The real Hannover data in shared/ (data.csv + 243 PNGs); skips the test when absent."""
    skip_without_mhh()
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


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # type: ignore[no-untyped-def]
    """moto's S3 server on 127.0.0.1 with dummy credentials; nothing reaches the network."""
    pytest.importorskip("moto")
    s3fs = pytest.importorskip("s3fs")
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint,
                        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
                        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
                        }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    s3fs.S3FileSystem.clear_instance_cache()
    yield endpoint
    s3fs.S3FileSystem.clear_instance_cache()
    server.stop()
