"""Zip archives: unsafe member names, zip bombs, configurable limits, damaged archives."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

import covidimg as ci
from covidimg.errors import StrictModeError
from covidimg.sources._engine.archives import check_member, iter_zip_headers

from .corpus import ZIP_SOURCES, archive_cases, exam_zip, stray_zip_case
from .harness import SOURCES, fresh_copy

CASES = [c for s in SOURCES for c in (archive_cases(s) if s in ZIP_SOURCES
                                      else [stray_zip_case(s)])]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_archive_case(case, check_case) -> None:  # type: ignore[no-untyped-def]
    outcome = check_case(case)
    if "member" in case.name and case.name != "corrupt-member-crc" and case.source in ZIP_SOURCES:
        rows = outcome.cohort.findings
        hit = rows[rows["kind"] == "unsafe_archive_member"]
        assert hit["path"].str.contains(".zip::").all(), "the finding names zip and member"


UNSAFE = [c for c in CASES if c.kinds and set(c.kinds) & {"unsafe_archive_member",
                                                           "archive_too_large"}]


@pytest.mark.parametrize("case", UNSAFE[:4], ids=[c.id for c in UNSAFE[:4]])
def test_strict_mode_raises_on_refused_member(case, pristine: dict[str, Path],
                                              tmp_path: Path) -> None:
    root = fresh_copy(pristine[case.source], tmp_path)
    needle = case.damage(root)
    with pytest.raises(StrictModeError, match="unsafe_archive_member|archive_too_large") as err:
        ci.load({case.source: root}, progress=False, strict=True, **case.load_args)
    assert needle in str(err.value) or needle.split("/")[-1] in str(err.value)


def test_members_are_never_extracted(tmp_path: Path) -> None:
    archive = tmp_path / "inner" / "evil.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../escaped.dcm", b"DICM")
        zf.writestr("/abs/escaped.dcm", b"DICM")
    results = list(iter_zip_headers(archive))
    assert [getattr(r, "kind", None) for _, r in results] == ["unsafe_archive_member"] * 2
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["evil.zip", "inner"]


def test_limits_are_configurable(tmp_path: Path) -> None:
    info = zipfile.ZipInfo("a.dcm")
    info.file_size, info.compress_size = 5 * 2**20, 5 * 2**20
    assert check_member(info) is None
    from covidimg.sources._engine.archives import archive_limits
    with archive_limits(max_member_bytes=2**20):
        assert check_member(info)[0] == "archive_too_large"
    info.compress_size = 2**10
    assert check_member(info)[0] == "archive_too_large"        # ratio 5120:1
    with archive_limits(max_ratio=10_000):
        assert check_member(info) is None
    with pytest.raises(ValueError, match="max_member_bytes"):
        ci.load({"crdw": tmp_path}, max_member_bytes=-1)


def test_default_load_of_a_pristine_zip_source_refuses_nothing(pristine: dict[str, Path]) -> None:
    cohort = ci.load({"crdw": pristine["crdw"]}, progress=False)
    kinds = set(cohort.findings["kind"].astype(str))
    assert not kinds & {"unsafe_archive_member", "archive_too_large"}
    assert exam_zip("crdw", pristine["crdw"]).exists()
