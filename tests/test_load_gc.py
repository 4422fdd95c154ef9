"""``covidimg.load`` keeps the objects that existed before it out of the garbage collector's full
collections while it runs, and hands them back afterwards, even when the load fails; a freeze
made by someone else is left alone."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

import covidimg as ci
from covidimg.demo import generate_demo
from covidimg.errors import LoadError


@pytest.fixture(scope="module")
def tcia(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    generate_demo(folder, sources=["tcia"], n_patients=8)
    return folder / "tcia"


def test_objects_frozen_during_the_load_and_handed_back(tcia: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from covidimg.sources.tcia import _Reader

    seen = []
    original = _Reader.walk

    def walk(self: _Reader) -> list[str]:
        seen.append(gc.get_freeze_count())
        return original(self)

    monkeypatch.setattr(_Reader, "walk", walk)
    before = gc.get_freeze_count()
    assert before == 0
    cohort = ci.load({"tcia": tcia}, index_cache=tmp_path / "cache", progress=False)
    assert len(cohort.images) > 0
    assert seen and seen[0] > 1000  # the objects of the imported modules, at least
    assert gc.get_freeze_count() == 0


def test_handed_back_when_the_load_fails(tmp_path: Path) -> None:
    with pytest.raises(LoadError):
        ci.load({"tcia": tmp_path / "missing"}, index_cache=tmp_path / "cache", progress=False)
    assert gc.get_freeze_count() == 0


def test_a_freeze_made_before_is_left_alone(tcia: Path, tmp_path: Path) -> None:
    gc.freeze()
    try:
        assert gc.get_freeze_count() > 1000
        ci.load({"tcia": tcia}, index_cache=tmp_path / "cache", progress=False)
        assert gc.get_freeze_count() > 1000  # still frozen: the load did not unfreeze them
    finally:
        gc.unfreeze()
    assert gc.get_freeze_count() == 0
