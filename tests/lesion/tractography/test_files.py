"""Reading .tck and .trk files in chunks: what comes out, and what a damaged file says."""

from __future__ import annotations

import gzip
import itertools
from pathlib import Path

import numpy as np
import pytest

from neuratlas.errors import ImageError
from neuratlas.lesion.tractography.files import iter_chunks, read_info
from tests.lesion.masks import GRIDS
from tests.lesion.tractography.synthetic import synthetic_streamlines, write_tck, write_trk


@pytest.fixture(scope="module")
def streamlines() -> list[np.ndarray]:
    return synthetic_streamlines(300, seed=3)


def _all(path: Path, max_points: int = 10_000) -> list[np.ndarray]:
    out = []
    for chunk in iter_chunks(path, max_points):
        out += [chunk.points[a:b] for a, b in itertools.pairwise(chunk.offsets)]
    return out


def test_tck_header_and_streamlines(tmp_path: Path, streamlines: list[np.ndarray]) -> None:
    path = write_tck(tmp_path / "a.tck", streamlines, step_size=1.0)
    info = read_info(path)
    assert (info.format, info.count, info.step_size) == ("tck", len(streamlines), 1.0)
    back = _all(path)
    assert len(back) == len(streamlines)
    for a, b in zip(back, streamlines, strict=True):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == np.float32


def test_output_step_size_comes_first_and_missing_step_is_none(
    tmp_path: Path, streamlines: list[np.ndarray]
) -> None:
    from nibabel.streamlines import TckFile, Tractogram

    path = tmp_path / "b.tck"
    header = {"step_size": "0.5", "output_step_size": "1.25"}
    TckFile(Tractogram(streamlines[:5], affine_to_rasmm=np.eye(4)), header=header).save(str(path))
    assert read_info(path).step_size == 1.25
    assert read_info(write_tck(tmp_path / "c.tck", streamlines[:5])).step_size is None


def test_trk_is_read_in_world_mm(tmp_path: Path, streamlines: list[np.ndarray]) -> None:
    shape, affine = GRIDS["nlin6_2mm"]
    path = write_trk(tmp_path / "a.trk", streamlines, shape, affine)
    info = read_info(path)
    assert (info.format, info.count, info.step_size) == ("trk", len(streamlines), None)
    # the coordinates are exact through the voxel-mm round trip (see synthetic.py)
    for a, b in zip(_all(path), streamlines, strict=True):
        np.testing.assert_array_equal(a, b)


def test_gzipped_trk(tmp_path: Path, streamlines: list[np.ndarray]) -> None:
    shape, affine = GRIDS["nlin6_2mm"]
    plain = write_trk(tmp_path / "a.trk", streamlines[:20], shape, affine)
    packed = tmp_path / "a.trk.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    for a, b in zip(_all(packed), streamlines[:20], strict=True):
        np.testing.assert_array_equal(a, b)


def test_chunks_hold_at_most_max_points(tmp_path: Path, streamlines: list[np.ndarray]) -> None:
    path = write_tck(tmp_path / "a.tck", streamlines)
    chunks = list(iter_chunks(path, max_points=500))
    assert len(chunks) > 3
    starts = [c.start for c in chunks]
    assert starts == list(np.cumsum([0] + [c.n_streamlines for c in chunks[:-1]]))
    for c in chunks:
        lengths = np.diff(c.offsets)
        # a chunk is closed by the streamline that reaches the limit
        assert lengths[:-1].sum() < 500
        assert c.points.shape == (c.offsets[-1], 3)


def test_a_streamline_longer_than_a_chunk_is_a_chunk_of_its_own(tmp_path: Path) -> None:
    long = np.zeros((50, 3), np.float32) + np.arange(50, dtype=np.float32)[:, None]
    path = write_tck(tmp_path / "a.tck", [long[:3], long, long[:2]])
    chunks = list(iter_chunks(path, max_points=10))
    assert [c.n_streamlines for c in chunks] == [2, 1]
    assert chunks[0].points.shape == (53, 3)


def test_an_empty_tractogram(tmp_path: Path) -> None:
    path = write_tck(tmp_path / "empty.tck", [])
    assert read_info(path).count == 0
    assert list(iter_chunks(path)) == []


def test_missing_file_and_other_extensions(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="no such tractogram file"):
        read_info(tmp_path / "nope.tck")
    other = tmp_path / "a.vtk"
    other.write_text("x")
    with pytest.raises(
        ImageError, match=r"not a tractogram file \(expected .tck, .trk, .trk.gz\)"
    ):
        list(iter_chunks(other))


def test_garbage_is_not_a_tractogram(tmp_path: Path) -> None:
    for name in ("junk.tck", "junk.trk"):
        path = tmp_path / name
        path.write_bytes(b"garbage" * 200)
        with pytest.raises(ImageError, match="not a readable tractogram"):
            read_info(path)


def test_a_truncated_tck_is_reported(tmp_path: Path, streamlines: list[np.ndarray]) -> None:
    path = write_tck(tmp_path / "a.tck", streamlines)
    data = path.read_bytes()
    cut = tmp_path / "cut.tck"
    # cut on a point boundary: the end marker is missing
    offset = data.index(b"END\n") + 4
    cut.write_bytes(data[: offset + ((len(data) - offset) // 2) // 12 * 12])
    with pytest.raises(ImageError, match=r"damaged after streamline .* truncated"):
        list(iter_chunks(cut))


def test_a_truncated_trk_is_reported(tmp_path: Path, streamlines: list[np.ndarray]) -> None:
    shape, affine = GRIDS["nlin6_2mm"]
    data = write_trk(tmp_path / "a.trk", streamlines, shape, affine).read_bytes()
    cut = tmp_path / "cut.trk"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="damaged after streamline"):
        list(iter_chunks(cut))


def test_a_count_that_disagrees_with_the_data(
    tmp_path: Path, streamlines: list[np.ndarray]
) -> None:
    path = write_tck(tmp_path / "a.tck", streamlines[:10])
    text = path.read_bytes()
    path.write_bytes(text.replace(b"count: 0000000010", b"count: 0000000012"))
    with pytest.raises(ImageError, match="announces 12 streamlines, the file holds 10"):
        list(iter_chunks(path))
