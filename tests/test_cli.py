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


# ------------------------------------------------------------------ covidimg dashboard
def _dashboard_env(tmp_path):
    import os

    return {**os.environ, "COVIDIMG_CACHE": str(tmp_path / "cache"), "TMPDIR": str(tmp_path)}


def test_dashboard_unknown_dir_names_it(tmp_path):
    missing = tmp_path / "no-such-cohort"
    out = run("dashboard", str(missing), "--no-browser", env_cache=tmp_path)
    assert out.returncode == 2
    assert f"DIR {str(missing)!r} does not exist" in out.stderr
    assert "Traceback" not in out.stderr


def test_dashboard_folder_of_no_known_layout_is_a_clear_error(tmp_path):
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "notes.txt").write_text("not a cohort")
    out = run("dashboard", str(tmp_path / "stuff"), "--no-browser", env_cache=tmp_path)
    assert out.returncode == 2
    assert "cannot tell which source" in out.stderr and str(tmp_path / "stuff") in out.stderr


def test_dashboard_busy_port_is_refused_before_loading(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = run("dashboard", "--port", str(port), "--no-browser", env_cache=tmp_path)
    assert out.returncode == 2
    assert f"--port {port}: the port is in use" in out.stderr


def test_dashboard_serves_a_saved_cohort_and_stops_on_ctrl_c(demo_cohort, tmp_path):
    import urllib.request

    from servers import accepts, dashboard_command, free_port, started

    demo_cohort.save(tmp_path / "saved")
    port = free_port()
    with started(dashboard_command(str(tmp_path / "saved"), port=port),
                 env=_dashboard_env(tmp_path), log=tmp_path / "stderr.log") as server:
        assert server.url == f"http://127.0.0.1:{port}/"
        assert f"serving the saved cohort {tmp_path / 'saved'}" in "".join(server.lines)
        assert f"{demo_cohort.patients.shape[0]} patients" in "".join(server.lines)
        with urllib.request.urlopen(server.url, timeout=120) as response:
            page = response.read().decode()
        assert response.status == 200
        # The notebook ran in a kernel and displayed widgets, with no error output.
        assert "application/vnd.jupyter.widget-view+json" in page
        assert "Traceback" not in page and "application/vnd.jupyter.stderr" not in page
    assert server.process.returncode == 0, (tmp_path / "stderr.log").read_text()
    assert "stopping" in "".join(server.lines)
    assert not accepts(port), "Voila still listens after Ctrl-C"


def test_dashboard_loads_source_folders_and_removes_its_temporary_cohort(mhh_dir, tmp_path):
    from servers import dashboard_command, free_port, started

    port = free_port()
    with started(dashboard_command(str(mhh_dir), port=port), env=_dashboard_env(tmp_path),
                 log=tmp_path / "stderr.log") as server:
        assert "71 patients, 243 images" in "".join(server.lines)
        assert len(list(tmp_path.glob("covidimg-dashboard-*"))) == 1
    assert server.process.returncode == 0
    assert not list(tmp_path.glob("covidimg-dashboard-*"))
