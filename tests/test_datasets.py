"""fetch_mhh against a real HTTP server on 127.0.0.1 serving the shared copy (no internet)."""

from __future__ import annotations

import functools
import http.server
import threading

import pytest

import covidimg as ci
from covidimg.errors import DatasetUnavailableError


@pytest.fixture
def mirror(mhh_dir):
    hits: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # keep the test output clean
            pass

        def do_GET(self):
            hits.append(self.path)
            return super().do_GET()

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(mhh_dir)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/", hits
    server.shutdown()


def test_fetch_downloads_once_and_verifies(mirror, tmp_path):
    url, hits = mirror
    folder = ci.fetch_mhh(cache=tmp_path, base_url=url, progress=False)
    assert len(hits) == 246  # data.csv, 243 PNGs, readme.md, LICENSE
    assert len(ci.load(folder, progress=False).images) == 243
    again = ci.fetch_mhh(cache=tmp_path, base_url=url, progress=False)
    assert again == folder and len(hits) == 246


def test_a_corrupted_download_is_refetched(mirror, tmp_path):
    url, hits = mirror
    folder = ci.fetch_mhh(cache=tmp_path, base_url=url, progress=False)
    original = (folder / "data.csv").read_bytes()
    (folder / "data.csv").write_text("tampered")
    n_before = len(hits)
    ci.fetch_mhh(cache=tmp_path, base_url=url, progress=False)
    assert (folder / "data.csv").read_bytes() == original
    assert hits[n_before:] == ["/data.csv"]


def test_no_network_gives_a_clear_error(tmp_path):
    with pytest.raises(DatasetUnavailableError,
                       match="could not download data.csv.*COVIDIMG_MHH_DIR"):
        ci.fetch_mhh(cache=tmp_path, base_url="http://127.0.0.1:9/", progress=False)


def test_environment_variable_points_at_a_local_copy(mhh_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("COVIDIMG_MHH_DIR", str(mhh_dir))
    assert ci.fetch_mhh() == mhh_dir
    monkeypatch.setenv("COVIDIMG_MHH_DIR", str(tmp_path))
    with pytest.raises(DatasetUnavailableError, match="has no data.csv"):
        ci.fetch_mhh()
