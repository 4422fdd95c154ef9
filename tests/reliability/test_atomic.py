"""Atomic saves and thumbnail caches under real interruptions and real write failures.

Extends tests/test_cohort.py (a table write that raises) and tests/test_imaging_thumbnails.py
(damaged cache entries) with:

* a child process killed with SIGKILL at seeded random moments while it saves cohorts in a
  loop: the folder always opens as one of the two cohorts, never a mix or an error;
* a save that fails because the kernel refuses the write (RLIMIT_FSIZE, "File too large"),
  no mock: the previous cohort still opens, and the next save cleans up;
* thumbnails written by a child killed at random moments: every cache entry is absent or
  intact, and served thumbnails equal fresh renders;
* a cache that cannot be written (RLIMIT_FSIZE again): thumbnails are still returned, with a
  warning, and nothing partial is left;
* cache entries of the wrong size (an intact PNG that is not size x size), a directory in
  place of an entry: detected and rebuilt.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import covidimg as ci
from covidimg.imaging import thumbnail
from covidimg.imaging.thumbcache import png_is_intact, png_size

from . import corpus

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL") or sys.platform == "win32",
                                reason="needs POSIX signals and resource limits")


def _python(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def two_cohorts(mhh_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two different saved cohorts (all real MHH patients, and the women only)."""
    folder = tmp_path_factory.mktemp("cohorts")
    cohort = ci.load(mhh_dir, progress=False)
    cohort.save(folder / "a")
    cohort.filter(sex="F").save(folder / "b")
    return folder / "a", folder / "b"


def _rows(folder: Path) -> tuple[int, ...]:
    cohort = ci.Cohort.open(folder)
    return tuple(len(t) for t in cohort.tables().values())


SAVE_LOOP = """
    import sys
    import covidimg as ci
    a, b = ci.Cohort.open(sys.argv[1]), ci.Cohort.open(sys.argv[2])
    a.save(sys.argv[3])
    print("ready", flush=True)
    while True:
        b.save(sys.argv[3])
        a.save(sys.argv[3])
"""


def test_a_save_killed_at_any_moment_leaves_a_cohort_that_opens(two_cohorts, tmp_path) -> None:
    a, b = two_cohorts
    expected = {_rows(a), _rows(b)}
    rng = np.random.default_rng(8)
    target = tmp_path / "target"
    for trial in range(3):
        child = _python(SAVE_LOOP, str(a), str(b), str(target))
        assert child.stdout.readline().strip() == "ready", child.stderr.read()
        time.sleep(float(rng.uniform(0.05, 0.6)))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        assert child.returncode == -signal.SIGKILL
        assert _rows(target) in expected, f"trial {trial}"
    ci.Cohort.open(a).save(target)                  # the next save cleans up after a kill
    assert len(list(target.glob("tables-*"))) == 1
    assert list(target.glob(".*.tmp")) == []


LIMITED_SAVE = """
    import resource, signal, sys
    import covidimg as ci
    cohort = ci.Cohort.open(sys.argv[1])
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)      # make the kernel's refusal an OSError
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[3]), int(sys.argv[3])))
    try:
        cohort.save(sys.argv[2])
    except OSError as exc:
        print("refused:", exc)
        sys.exit(3)
    print("saved")
"""


def test_a_save_the_disk_refuses_leaves_the_previous_cohort(two_cohorts, tmp_path) -> None:
    a, b = two_cohorts
    target = tmp_path / "target"
    ci.Cohort.open(b).save(target)
    child = _python(LIMITED_SAVE, str(a), str(target), "4096")
    out, err = child.communicate(timeout=120)
    assert child.returncode == 3, out + err
    assert "File too large" in out
    assert _rows(target) == _rows(b)
    ci.Cohort.open(a).save(target)
    assert _rows(target) == _rows(a)
    assert len(list(target.glob("tables-*"))) == 1


THUMBNAIL_LOOP = """
    import sys
    from covidimg.imaging import thumbnail
    paths, cache = sys.argv[2:], sys.argv[1]
    print("ready", flush=True)
    size = 32
    while True:
        for path in paths:
            thumbnail(path, size=size, cache_dir=cache)
        size += 1
"""


def _radiographs(folder: Path, n: int) -> list[str]:
    paths = []
    for i in range(n):
        path = folder / f"r{i}.dcm"
        path.write_bytes(corpus.radiograph_bytes(seed=i, size=256, sop=f"2.25.{i + 100}"))
        paths.append(str(path))
    return paths


def test_thumbnails_killed_mid_write_leave_a_readable_cache(tmp_path: Path) -> None:
    paths = _radiographs(tmp_path, 4)
    cache = tmp_path / "cache"
    rng = np.random.default_rng(3)
    for _ in range(3):
        child = _python(THUMBNAIL_LOOP, str(cache), *paths)
        assert child.stdout.readline().strip() == "ready", child.stderr.read()
        time.sleep(float(rng.uniform(0.3, 1.2)))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    entries = list(cache.rglob("*.png"))
    assert entries
    for entry in entries:
        data = entry.read_bytes()
        assert png_is_intact(data)
        assert png_size(data)[0] == png_size(data)[1]
    for path in paths:
        for size in (32, 33, 34):
            assert thumbnail(path, size=size, cache_dir=cache) == \
                thumbnail(path, size=size, cache=False)


LIMITED_THUMBNAIL = """
    import resource, signal, sys, warnings
    from covidimg.imaging import thumbnail, thumbnails
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        png = thumbnail(sys.argv[2], size=64, cache_dir=sys.argv[1])
        batch = thumbnails([sys.argv[2]], size=48, cache_dir=sys.argv[1], progress=False)
    sys.stdout.buffer.write(png)
    print("\\nOK" if batch.ok == [True] else "\\nFAILED", len(caught),
          any("cannot be written" in str(w.message) for w in caught), file=sys.stderr)
"""


def test_a_cache_that_cannot_be_written_still_gives_thumbnails(tmp_path: Path) -> None:
    [path] = _radiographs(tmp_path, 1)
    cache = tmp_path / "cache"
    child = subprocess.run([sys.executable, "-c", textwrap.dedent(LIMITED_THUMBNAIL),
                            str(cache), path], capture_output=True, timeout=120, check=False)
    assert child.returncode == 0, child.stderr.decode()
    assert child.stderr.decode().split()[-3:] == ["OK", "2", "True"]
    assert child.stdout == thumbnail(path, size=64, cache=False)
    assert [p for p in cache.rglob("*") if p.is_file()] == []     # nothing partial left


def _entry(cache: Path) -> Path:
    [entry] = [p for p in cache.rglob("*.png")]
    return entry


@pytest.mark.parametrize("damage", ["wrong-size", "other-mode", "directory"])
def test_a_wrong_cache_entry_is_detected_and_rebuilt(tmp_path: Path, damage: str) -> None:
    [path] = _radiographs(tmp_path, 1)
    cache = tmp_path / "cache"
    good = thumbnail(path, size=64, cache_dir=cache)
    entry = _entry(cache)
    entry.unlink()
    if damage == "wrong-size":
        Image.new("L", (32, 32), 255).save(entry, format="PNG")     # intact, but 32 x 32
    elif damage == "other-mode":
        Image.new("RGB", (64, 48), (255, 0, 0)).save(entry, format="PNG")
    else:
        entry.mkdir()
    if damage == "directory":
        with pytest.warns(UserWarning, match="cannot be written"):
            assert thumbnail(path, size=64, cache_dir=cache) == good
        return
    assert thumbnail(path, size=64, cache_dir=cache) == good
    assert entry.read_bytes() == good


def test_reading_a_cache_never_serves_a_temporary_file(tmp_path: Path) -> None:
    [path] = _radiographs(tmp_path, 1)
    cache = tmp_path / "cache"
    good = thumbnail(path, size=64, cache_dir=cache)
    entry = _entry(cache)
    stale = entry.with_name(f".{entry.stem}.abc.tmp")
    stale.write_bytes(good[: len(good) // 2])          # what a killed writer leaves behind
    entry.unlink()
    assert thumbnail(path, size=64, cache_dir=cache) == good
    assert png_is_intact(entry.read_bytes())
    assert os.path.exists(stale)
