"""The streamline x voxel incidence: its rows, lesion hits, densities, and its disk cache."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from scipy import sparse

from neuratlas.errors import ArgumentError, ImageError
from neuratlas.lesion.tractography import incidence as incidence_module
from neuratlas.lesion.tractography.incidence import (
    CACHE_AREA,
    build_incidence,
    tractogram_incidence,
)
from neuratlas.lesion.tractography.traversal import sampled_voxels, traversed_voxels
from neuratlas.retrieval.cache import cache_dir
from tests.lesion.masks import GRIDS, box_mask, random_masks
from tests.lesion.tractography.synthetic import (
    as_array_sequence,
    synthetic_streamlines,
    write_tck,
    write_trk,
)

SHAPE, AFFINE = GRIDS["nlin6_2mm"]
V = int(np.prod(SHAPE))


@pytest.fixture(scope="module")
def streamlines() -> list[np.ndarray]:
    return synthetic_streamlines(600, seed=21, step=1.0)


@pytest.fixture(scope="module")
def tck(tmp_path_factory: pytest.TempPathFactory, streamlines: list[np.ndarray]) -> Path:
    return write_tck(tmp_path_factory.mktemp("tck") / "a.tck", streamlines, step_size=1.0)


@pytest.fixture(scope="module")
def built(tck: Path):
    return build_incidence(tck, SHAPE, AFFINE)


@pytest.fixture(scope="module")
def masks() -> list[np.ndarray]:
    return [
        np.asarray(m.dataobj).reshape(-1).astype(bool)
        for m in [box_mask(), *random_masks(4, seed=3)]
    ]


def _rows(matrix: sparse.csr_matrix) -> list[set[int]]:
    return [set(matrix.indices[a:b].tolist()) for a, b in itertools.pairwise(matrix.indptr)]


def _voxel_sets(rows: np.ndarray, cols: np.ndarray, n: int) -> list[set[int]]:
    out: list[set[int]] = [set() for _ in range(n)]
    for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
        out[r].add(c)
    return out


@pytest.mark.parametrize("chunk_points", [1_000, 1_000_000])
def test_rows_are_the_voxels_each_streamline_visits(
    tck: Path, streamlines: list[np.ndarray], chunk_points: int
) -> None:
    points, offsets = as_array_sequence(streamlines)
    n = len(streamlines)
    inc = build_incidence(tck, SHAPE, AFFINE, chunk_points=chunk_points)
    assert (inc.n_streamlines, inc.n_voxels, inc.upsample_ratio) == (n, V, 2)
    assert _rows(inc.matrix) == _voxel_sets(*sampled_voxels(points, offsets, AFFINE, SHAPE, 2), n)
    # the lesion test looks only at the voxels of stored points (tckedit does not upsample)
    tested = sparse.csr_matrix(
        (inc.tested, inc.matrix.indices, inc.matrix.indptr), shape=inc.matrix.shape
    )
    tested.eliminate_zeros()
    assert _rows(tested) == _voxel_sets(*sampled_voxels(points, offsets, AFFINE, SHAPE, 1), n)
    ends = np.array([[s[0], s[-1]] for s in streamlines])
    np.testing.assert_array_equal(inc.endpoints, ends)


def test_exact_mapping_rows(tck: Path, streamlines: list[np.ndarray]) -> None:
    points, offsets = as_array_sequence(streamlines)
    inc = build_incidence(tck, SHAPE, AFFINE, mapping="exact", chunk_points=5_000)
    assert inc.tested is None and inc.upsample_ratio == 1
    expected = _voxel_sets(*traversed_voxels(points, offsets, AFFINE, SHAPE), len(streamlines))
    assert _rows(inc.matrix) == expected


def test_trk_and_tck_give_the_same_incidence(
    tmp_path: Path, tck: Path, streamlines: list[np.ndarray]
) -> None:
    trk = write_trk(tmp_path / "a.trk", streamlines, SHAPE, AFFINE)
    no_step = write_tck(tmp_path / "b.tck", streamlines)
    for mapping in ("mrtrix", "exact"):
        a = build_incidence(trk, SHAPE, AFFINE, mapping=mapping)
        b = build_incidence(no_step, SHAPE, AFFINE, mapping=mapping)
        assert (a.matrix != b.matrix).nnz == 0
        np.testing.assert_array_equal(a.endpoints, b.endpoints)


def test_whole_brain_tdi_counts_streamlines_per_voxel(built) -> None:
    inc = built
    expected = np.zeros(V, np.int64)
    for row in _rows(inc.matrix):
        expected[list(row)] += 1
    np.testing.assert_array_equal(inc.whole_brain_tdi.reshape(-1), expected)
    assert inc.whole_brain_tdi.shape == SHAPE


def test_hits_and_densities_against_brute_force(built, masks, streamlines) -> None:
    inc, flat = built, masks
    lesions = sparse.csc_matrix(np.stack(flat, axis=1))
    hits = inc.streamlines_hit(lesions)
    density = inc.density(hits)
    points, offsets = as_array_sequence(streamlines)
    stored = _voxel_sets(*sampled_voxels(points, offsets, AFFINE, SHAPE, 1), len(streamlines))
    visited = _rows(inc.matrix)
    for k, mask in enumerate(flat):
        lesion = set(np.flatnonzero(mask).tolist())
        cut = [s for s, vox in enumerate(stored) if vox & lesion]
        assert hits[:, k].nonzero()[0].tolist() == cut
        expected = np.zeros(V, np.int64)
        for s in cut:
            expected[list(visited[s])] += 1
        np.testing.assert_array_equal(density[k].toarray().ravel(), expected)
    assert hits[:, 0].nnz > 50  # the box lesion is on the path of many streamlines


def test_a_single_mask_as_a_volume(built, masks) -> None:
    inc = built
    volume = masks[0].reshape(SHAPE)
    np.testing.assert_array_equal(
        inc.streamlines_hit(volume).toarray(),
        inc.streamlines_hit(sparse.csc_matrix(volume.reshape(-1, 1))).toarray(),
    )


def test_bad_lesions_and_selections(tck: Path, built) -> None:
    inc = built
    with pytest.raises(ArgumentError, match="lesions have 10 voxels"):
        inc.streamlines_hit(np.zeros((10, 1)))
    with pytest.raises(ArgumentError, match="a selection of 3 streamlines"):
        inc.density(np.ones((3, 1), bool))
    with pytest.raises(ArgumentError, match="unknown streamline mapping 'precise'"):
        build_incidence(tck, SHAPE, AFFINE, mapping="precise")


def test_the_cache_is_written_then_read(tmp_path: Path, streamlines, monkeypatch) -> None:
    path = write_tck(tmp_path / "c.tck", streamlines[:200], step_size=1.0)
    first = tractogram_incidence(path, SHAPE, AFFINE)
    entry = cache_dir(CACHE_AREA) / f"{first.key}.npz"
    assert entry.is_file()

    def no_build(*args, **kwargs):
        raise AssertionError("the incidence was built again")

    monkeypatch.setattr(incidence_module, "build_incidence", no_build)
    again = tractogram_incidence(path, SHAPE, AFFINE)
    assert again.key == first.key
    assert (again.matrix != first.matrix).nnz == 0
    np.testing.assert_array_equal(again.tested, first.tested)
    np.testing.assert_array_equal(again.endpoints, first.endpoints)
    assert (again.shape, again.upsample_ratio, again.mapping) == (SHAPE, 2, "mrtrix")
    np.testing.assert_array_equal(again.affine, AFFINE)


def test_a_changed_tractogram_is_read_again(tmp_path: Path, streamlines, monkeypatch) -> None:
    path = write_tck(tmp_path / "d.tck", streamlines[:100])
    first = tractogram_incidence(path, SHAPE, AFFINE)
    write_tck(path, streamlines[100:250])
    builds = []
    real = incidence_module.build_incidence
    monkeypatch.setattr(
        incidence_module, "build_incidence", lambda *a, **k: builds.append(1) or real(*a, **k)
    )
    second = tractogram_incidence(path, SHAPE, AFFINE)
    assert builds == [1]
    assert second.key != first.key and second.n_streamlines == 150


def test_other_grids_and_mappings_are_other_entries(tmp_path: Path, streamlines) -> None:
    path = write_tck(tmp_path / "e.tck", streamlines[:50])
    keys = {
        tractogram_incidence(path, SHAPE, AFFINE).key,
        tractogram_incidence(path, SHAPE, AFFINE, mapping="exact").key,
        tractogram_incidence(path, *GRIDS["2009c_2mm"]).key,
    }
    assert len(keys) == 3


def test_a_damaged_cache_entry_is_rebuilt(tmp_path: Path, streamlines) -> None:
    path = write_tck(tmp_path / "f.tck", streamlines[:80])
    first = tractogram_incidence(path, SHAPE, AFFINE)
    entry = cache_dir(CACHE_AREA) / f"{first.key}.npz"
    entry.write_bytes(b"not a zip file")
    again = tractogram_incidence(path, SHAPE, AFFINE)
    assert (again.matrix != first.matrix).nnz == 0
    assert entry.stat().st_size > 1000


def test_without_cache_nothing_is_written(tmp_path: Path, streamlines) -> None:
    path = write_tck(tmp_path / "g.tck", streamlines[:30])
    before = set(cache_dir(CACHE_AREA).iterdir())
    inc = tractogram_incidence(path, SHAPE, AFFINE, cache=False)
    assert inc.n_streamlines == 30 and inc.key == ""
    assert set(cache_dir(CACHE_AREA).iterdir()) == before


def test_a_missing_tractogram(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="no such tractogram file"):
        tractogram_incidence(tmp_path / "nope.tck", SHAPE, AFFINE)
