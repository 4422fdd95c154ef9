"""The covidimg command line, run as a user would (subprocess)."""

from __future__ import annotations

import subprocess
import sys


def run(*args, env_cache):
    import os

    env = {**os.environ, "COVIDIMG_CACHE": str(env_cache)}
    return subprocess.run([sys.executable, "-m", "covidimg.cli", *args], capture_output=True,
                          text=True, env=env, timeout=300)


def test_index_then_report(mhh_dir, tmp_path):
    out = run("index", str(mhh_dir), "-o", str(tmp_path / "c"), "-q", env_cache=tmp_path)
    assert out.returncode == 0, out.stderr
    report = run("report", str(tmp_path / "c"), env_cache=tmp_path)
    assert report.returncode == 0, report.stderr
    assert "71 patients, 243 images" in report.stdout
    assert "files_used" in report.stdout


def test_index_with_named_source(mhh_dir, tmp_path):
    out = run("index", f"mhh={mhh_dir}", "-o", str(tmp_path / "c"), "-q", env_cache=tmp_path)
    assert out.returncode == 0, out.stderr


def test_errors_are_one_clear_line(tmp_path):
    out = run("report", str(tmp_path), env_cache=tmp_path)
    assert out.returncode == 2
    assert "covidimg report: error:" in out.stderr and "manifest.json is missing" in out.stderr
    assert "Traceback" not in out.stderr
    out = run("index", str(tmp_path), "-o", str(tmp_path / "o"), env_cache=tmp_path)
    assert out.returncode == 2 and "Looked for" in out.stderr


def test_demo_into_a_folder_writes_native_layouts(tmp_path):
    out = run("demo", str(tmp_path / "d"), "--n-patients", "10", env_cache=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "d" / "mhh" / "data.csv").is_file()
    assert (tmp_path / "d" / "truth" / "mhh" / "truth.json").is_file()
