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


def test_demo_into_a_folder_writes_native_layouts_and_index_loads_every_source(tmp_path):
    out = run("demo", str(tmp_path / "d"), "--n-patients", "8", env_cache=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "d" / "mhh" / "data.csv").is_file()
    assert (tmp_path / "d" / "truth" / "mhh" / "truth.json").is_file()

    # The folder covidimg demo wrote holds five sources' roots: all are loaded, and said so.
    out = run("index", str(tmp_path / "d"), "-o", str(tmp_path / "c"), "-q", env_cache=tmp_path)
    assert out.returncode == 0, out.stderr
    said = out.stderr.strip().splitlines()
    assert len(said) == 1 and said[0].startswith(f"covidimg index: {tmp_path / 'd'} matches no "
                                                 "source itself; loading its sub-folders"), said
    assert "Skipped: truth/ (matches no source)" in said[0]
    import covidimg as ci
    from covidimg.demo import demo_truth

    cohort = ci.Cohort.open(tmp_path / "c")
    truth = demo_truth(tmp_path / "d")
    assert sorted(cohort.patients["patient_uid"]) == sorted(
        uid for t in truth.values() for uid in t.patients["patient_uid"])


def _mistakes(tmp_path):  # type: ignore[no-untyped-def]
    """(arguments, what the one error line must say) for each user mistake."""
    afile = tmp_path / "a-file.txt"
    afile.write_text("not a folder")
    empty = tmp_path / "nothing-here"
    empty.mkdir()
    (empty / "notes.txt").write_text("no source")
    full = tmp_path / "full"
    full.mkdir()
    (full / "mine.txt").write_text("keep me")
    mhh = tmp_path / "mhh"  # a valid-looking MHH folder: the mistakes are elsewhere
    mhh.mkdir()
    (mhh / "data.csv").write_text("patient_id,image_id,admission_offset\n")
    missing = tmp_path / "missing"
    out = str(tmp_path / "out")
    return [
        (["index", str(missing), "-o", out], f"SOURCE {str(missing)!r} does not exist"),
        (["index", str(afile), "-o", out], f"SOURCE {str(afile)!r} is a file, not a folder"),
        (["index", f"mhh={missing}", "-o", out], f"'mhh={missing}': {str(missing)!r} does "
                                                 "not exist"),
        (["index", str(mhh), "-o", str(afile)], f"-o {str(afile)!r} is a file"),
        (["index", str(mhh), "-o", str(full)], f"-o {str(full)!r} is a folder holding other "
                                               "files, not a saved cohort"),
        (["index", f"nccidd={mhh}", "-o", out], "unknown source 'nccidd' in NAME=PATH; NAME is "
                                                "one of mhh, nccid, crdw, midrc, tcia"),
        (["index", "mhh=", "-o", out], "'mhh=': PATH is empty"),
        (["index", f"mhh={mhh}", f"mhh={mhh}", "-o", out], "source 'mhh' is given twice"),
        (["index", f"mhh={mhh}", str(mhh), "-o", out], "give either every source as NAME=PATH "
                                                       "or none"),
        (["index", str(empty), "-o", out], f"cannot tell which source {empty} holds"),
        (["report", str(missing)], f"DIR {str(missing)!r} does not exist"),
        (["report", str(afile)], f"DIR {str(afile)!r} is a file"),
        (["report", str(empty)], "manifest.json is missing"),
        (["dashboard", str(afile), "--no-browser"], f"DIR {str(afile)!r} is a file, not a "
                                                    "folder"),
        (["dashboard", "--no-browser", "--cull-interval", "0"], "--cull-interval 0: expected "
                                                                "at least 1"),
    ]


def test_every_user_mistake_is_one_error_line(tmp_path):
    for args, says in _mistakes(tmp_path):
        out = run(*args, env_cache=tmp_path)
        lines = out.stderr.strip().splitlines()
        assert out.returncode == 2, (args, out.stderr)
        assert "Traceback" not in out.stderr, (args, out.stderr)
        command = args[0]
        assert lines[0].startswith(f"covidimg {command}: error: "), (args, lines)
        assert says in lines[0], (args, lines[0])
        # One line, but for the list of what each source looks for (detection errors).
        assert len(lines) == 1 or "Looked for:" in out.stderr, (args, lines)
    assert not (tmp_path / "out").exists()  # refused before anything was loaded or written


def test_dashboard_takes_a_gen3_manifest_folder_for_a_source_not_a_saved_cohort(tmp_path):
    """A MIDRC download holds gen3-client's manifest.json: loaded as a source folder."""
    import json

    from covidimg import cli
    from covidimg.app import COHORT_ENV
    from covidimg.demo import generate_demo

    generate_demo(tmp_path / "d", sources=["midrc"], n_patients=8)
    midrc = tmp_path / "d" / "midrc"
    (midrc / "manifest.json").write_text(json.dumps(
        [{"object_id": "dg.MD1R/0a1b", "file_name": "study.zip", "file_size": 1}]))
    env, describe, temporary = cli._dashboard_cohort_env([str(midrc)], 30)
    try:
        assert env[COHORT_ENV] == temporary and str(midrc) in describe()
        import covidimg as ci

        assert set(ci.Cohort.open(temporary).patients["source"].astype(str)) == {"midrc"}
    finally:
        import shutil

        shutil.rmtree(temporary)


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


def test_dashboard_damaged_saved_cohort_is_a_clear_error_and_stops_voila(demo_cohort, tmp_path):
    """The cohort is opened while Voila starts; a damaged one still ends in one line, with
    Voila (already launched) stopped."""
    from servers import accepts, free_port

    demo_cohort.save(tmp_path / "saved")
    images = next((tmp_path / "saved").glob("tables-*/images.parquet"))
    images.write_bytes(images.read_bytes()[:200])           # a truncated copy
    port = free_port()
    out = run("dashboard", str(tmp_path / "saved"), "--no-browser", "--port", str(port),
              env_cache=tmp_path)
    assert out.returncode == 2, out.stderr
    assert images.name in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert not accepts(port), "Voila still listens after the error"


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


def test_dashboard_first_run_says_it_builds_the_demo_and_restarts_on_the_same_port(tmp_path):
    """The first start builds the demo and says so; a start right after Ctrl-C gets the same
    port (the stopped server's connections in TIME_WAIT do not make it look taken)."""
    import urllib.request

    from servers import accepts, dashboard_command, free_port, started

    port = free_port()
    command = dashboard_command("--n-patients", "8", port=port)
    env = _dashboard_env(tmp_path)
    with started(command, env=env, log=tmp_path / "first.log") as first:
        assert "building the demo cohort (first run, ~7 s)…" in first.lines[0]
        with urllib.request.urlopen(first.url, timeout=120) as response:
            assert response.status == 200 and "widget-view" in response.read().decode()
    assert first.process.returncode == 0, (tmp_path / "first.log").read_text()
    assert not accepts(port)
    with started(command, env=env, log=tmp_path / "again.log") as again:
        assert again.url == f"http://127.0.0.1:{port}/"
        assert not any("building the demo" in line for line in again.lines)
        with urllib.request.urlopen(again.url, timeout=120) as response:
            assert response.status == 200
    assert again.process.returncode == 0, (tmp_path / "again.log").read_text()
