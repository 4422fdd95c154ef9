"""Downloading IDC series from a local S3 server (moto on 127.0.0.1) laid out like IDC's bucket.

Real rows of the IDC index (COVID-19-AR) are loaded offline; the bucket holds real DICOM files
written with the demo's writer under ``<crdc_series_uuid>/<instance uuid>.dcm``, as IDC's does.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import covidimg as ci
from covidimg import imaging
from covidimg.demo.dicom_writer import uid, write_dicom
from covidimg.errors import DatasetUnavailableError

pytest.importorskip("idc_index_data")
boto3 = pytest.importorskip("boto3")


@pytest.fixture(scope="module")
def ar_cohort() -> ci.Cohort:
    return ci.load({"idc": ["covid_19_ar"]}, progress=False)


def _pick(cohort: ci.Cohort) -> ci.Cohort:
    """Two single-instance DX series and one CT series of one real patient, plus nothing else."""
    images = cohort.images
    dx = images[(images["modality"] == "DX") & (images["n_instances"] == 1)]
    patient = dx["patient_uid"].value_counts().index[0]
    chosen = pd.concat([dx[dx["patient_uid"] == patient].head(2),
                        images[images["modality"] == "CT"].head(1)])
    return dataclasses_replace(cohort, chosen)


def dataclasses_replace(cohort: ci.Cohort, images: pd.DataFrame) -> ci.Cohort:
    patients = cohort.patients[cohort.patients["patient_uid"].isin(images["patient_uid"])]
    return ci.Cohort.from_tables({"patients": patients, "images": images})


def _dicom_bytes(row: pd.Series, k: int, rng: np.random.Generator) -> bytes:
    buf = io.BytesIO()
    modality = str(row["modality"])
    pixels = (rng.random((24, 20)) if modality != "CT"
              else rng.integers(-1000, 400, (24, 20)).astype(np.float32))
    write_dicom(buf, pixels, modality=modality, patient_id=row["patient_uid"].split(":", 1)[1],
                study_uid=str(row["study_uid"]), series_uid=str(row["series_uid"]),
                sop_uid=uid(rng), study_date=dt.date(2012, 1, 15),
                instance_number=k + 1, position_z=float(k) if modality == "CT" else None,
                view="AP" if modality != "CT" else None)
    return buf.getvalue()


@pytest.fixture
def bucket(s3_endpoint: str, ar_cohort: ci.Cohort):  # type: ignore[no-untyped-def]
    """The chosen series in a bucket named as IDC's, with their objects' bytes by key."""
    rng = np.random.default_rng(15)
    cohort = _pick(ar_cohort)
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    objects: dict[tuple[str, str], bytes] = {}
    for _, row in cohort.images.iterrows():
        name, prefix = row["path"][len("s3://"):].rstrip("/").split("/")
        if name not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
            s3.create_bucket(Bucket=name)
            s3.put_bucket_policy(Bucket=name, Policy=_public_read(name))
        n = 3 if row["modality"] == "CT" else 1
        for k in range(n):
            key = f"{prefix}/{uuid.UUID(int=int(rng.integers(2**62)) + k)}.dcm"
            data = _dicom_bytes(row, k, rng)
            s3.put_object(Bucket=name, Key=key, Body=data)
            objects[(name, key)] = data
    yield cohort, s3, objects, s3_endpoint
    # moto's server keeps its buckets in the process: leave none for the next test
    for name in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
            for item in page.get("Contents", []):
                s3.delete_object(Bucket=name, Key=item["Key"])
        s3.delete_bucket(Bucket=name)


def _public_read(name: str) -> str:
    """A bucket policy like IDC's: anyone may list the bucket and read its objects."""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{name}/*"},
        {"Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket",
         "Resource": f"arn:aws:s3:::{name}"}]})


def _local(dest: Path, name: str, key: str) -> Path:
    return dest / name / key


def test_download_puts_files_in_place_and_reads(bucket, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cohort, _s3, objects, endpoint = bucket
    local = cohort.download(tmp_path / "idc", endpoint_url=endpoint, progress=False)
    for (name, key), data in objects.items():
        assert _local(tmp_path / "idc", name, key).read_bytes() == data
    assert not list((tmp_path / "idc").rglob("*.part"))
    images = local.images.set_index("image_uid")
    for image_uid, row in images.iterrows():
        path = Path(row["path"])
        assert path.exists() and str(path).startswith(str(tmp_path / "idc"))
        pixels = imaging.read_image(row)
        if row["modality"] == "CT":
            assert path.is_dir() and pixels.shape == (3, 24, 20)
        else:
            assert path.is_file() and pixels.shape == (24, 20)
        assert cohort.images.set_index("image_uid").loc[image_uid, "path"].startswith("s3://")
    # nothing else changed
    pd.testing.assert_frame_equal(local.images.drop(columns="path"),
                                  cohort.images.drop(columns="path"))
    pd.testing.assert_frame_equal(local.patients, cohort.patients)


def test_default_destination_is_the_cache(bucket) -> None:  # type: ignore[no-untyped-def]
    cohort, _s3, _objects, endpoint = bucket
    local = cohort.filter(modality="DX").download(endpoint_url=endpoint, progress=False)
    cache = Path(os.environ["COVIDIMG_CACHE"]) / "idc"
    assert all(Path(p).is_relative_to(cache) for p in local.images["path"])


def test_interrupted_download_resumes(bucket, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cohort, s3, objects, endpoint = bucket
    dest = tmp_path / "dl"
    keys = sorted(objects)
    missing, partial, corrupt = keys[0], keys[1], keys[2]
    # the first run meets an object that is not there (an interruption): it fails naming it,
    # and keeps everything it completed
    s3.delete_object(Bucket=missing[0], Key=missing[1])
    with pytest.raises(DatasetUnavailableError, match=missing[1].split("/")[0]) as caught:
        cohort.download(dest, endpoint_url=endpoint, progress=False)
    assert "call the download again to resume" in str(caught.value)
    done = {k: _local(dest, *k) for k in keys if k != missing}
    assert all(p.read_bytes() == objects[k] for k, p in done.items())
    # a run killed mid-file leaves a .part: one holding the first half of its object, one
    # whose first bytes are damaged
    for key, damage in ((partial, False), (corrupt, True)):
        path = done.pop(key)
        half = bytearray(objects[key][: len(objects[key]) // 2])
        if damage:
            half[200:210] = b"\xff" * 10
        path.unlink()
        path.with_name(path.name + ".part").write_bytes(bytes(half))
    stamps = {k: p.stat().st_mtime_ns for k, p in done.items()}
    s3.put_object(Bucket=missing[0], Key=missing[1], Body=objects[missing])
    local = cohort.download(dest, endpoint_url=endpoint, progress=False)
    for key, data in objects.items():
        assert _local(dest, *key).read_bytes() == data  # the damaged part was fetched again
    assert {k: p.stat().st_mtime_ns for k, p in done.items()} == stamps  # not fetched again
    assert not list(dest.rglob("*.part"))
    assert local.images["path"].map(os.path.exists).all()


def test_a_truncated_file_is_fetched_again(bucket, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cohort, _s3, objects, endpoint = bucket
    cohort.download(tmp_path, endpoint_url=endpoint, progress=False)
    key = sorted(objects)[0]
    path = _local(tmp_path, *key)
    path.write_bytes(objects[key][:100])
    cohort.download(tmp_path, endpoint_url=endpoint, progress=False)
    assert path.read_bytes() == objects[key]


def test_object_names_are_checked(bucket, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cohort, s3, objects, endpoint = bucket
    name, key = sorted(objects)[0]
    prefix = key.split("/")[0]
    s3.put_object(Bucket=name, Key=f"{prefix}/../../escape.dcm", Body=b"x")
    with pytest.raises(DatasetUnavailableError, match="not a plain file name"):
        cohort.download(tmp_path / "d", endpoint_url=endpoint, progress=False)
    assert not (tmp_path / "escape.dcm").exists()
    assert not list(tmp_path.rglob("escape.dcm"))


def test_unreachable_endpoint_fails_clearly(ar_cohort: ci.Cohort, tmp_path: Path) -> None:
    from servers import free_port

    one = ar_cohort.filter(modality="CT")
    one = dataclasses_replace(one, one.images.head(1))
    with pytest.raises(DatasetUnavailableError, match=r"127\.0\.0\.1.*network"):
        one.download(tmp_path, endpoint_url=f"http://127.0.0.1:{free_port()}", progress=False)


def test_local_rows_are_left_alone(demo_cohort: ci.Cohort, tmp_path: Path) -> None:
    same = demo_cohort.download(tmp_path, endpoint_url="http://127.0.0.1:9", progress=False)
    pd.testing.assert_frame_equal(same.images, demo_cohort.images)


def test_gallery_tile_downloads_and_viewer_links(bucket, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("ipywidgets")
    from covidimg.widgets import ImageGallery

    cohort, _s3, _objects, endpoint = bucket
    gallery = ImageGallery(cohort, page_size=4)
    cells = gallery._cells[:len(cohort.images)]
    blank = imaging.browser_jpeg(imaging.placeholder(gallery.thumb_size))   # as sent
    assert all("not downloaded" in text.value and button.description == "Download"
               and image.value == blank for _, image, text, button in cells)
    gallery.show(gallery.image_uids[0])  # the viewer says so instead of failing
    assert "Not downloaded yet" in gallery.viewer.message.value
    title = gallery.viewer.title.value
    row = cohort.images.set_index("image_uid").loc[gallery.image_uids[0]]
    assert "CC BY 4.0" in title and "open in IDC's viewer</a>" in title
    assert f"StudyInstanceUIDs={row['study_uid']}&amp;initialSeriesInstanceUID=" \
        f"{row['series_uid']}" in title
    for image_uid in gallery.image_uids:
        gallery.download(image_uid, dest=tmp_path, endpoint_url=endpoint)
    assert all("not downloaded" not in text.value and button.description == "Enlarge"
               and image.value != blank for _, image, text, button in cells)
    gallery.show(gallery.image_uids[0])
    assert "cannot be shown" not in gallery.viewer.message.value
