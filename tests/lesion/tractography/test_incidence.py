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
    face_streamlines,
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


# --- points next to voxel faces: tckedit places them on the lesion's cropped grid ------------
# a 5 x 5 x 5 voxel box: its voxel centres lie 16..24, -2..6, 6..14 mm, its faces on odd mm
FACE_CENTRE, FACE_LOW, FACE_HIGH = (20.0, 2.0, 10.0), (15.0, -3.0, 5.0), (25.0, 7.0, 15.0)


@pytest.fixture(scope="module")
def faces(tmp_path_factory: pytest.TempPathFactory) -> dict:
    streamlines = face_streamlines(FACE_LOW, FACE_HIGH, per_face=2, seed=1)
    streamlines += synthetic_streamlines(150, seed=4, through=FACE_CENTRE, awkward=False)
    tck = write_tck(tmp_path_factory.mktemp("faces") / "faces.tck", streamlines)
    lesion = np.asarray(box_mask(centre_mm=FACE_CENTRE, half_size_mm=(5.0, 5.0, 5.0)).dataobj) != 0
    # two voxels in far corners stretch the bounding box over the whole grid
    corners = lesion.copy()
    corners[0, 0, 0] = corners[-1, 0, 0] = True
    return {"streamlines": streamlines, "tck": tck, "lesion": lesion, "corners": corners}


def _hit_by(voxel_sets: list[set[int]], mask: np.ndarray) -> list[int]:
    lesion = set(np.flatnonzero(mask).tolist())
    return [s for s, vox in enumerate(voxel_sets) if vox & lesion]


def _tckedit_voxel(point: np.ndarray, origin: tuple[int, int, int]) -> tuple[int, ...] | None:
    """One point's voxel as tckedit computes it on this grid cropped from ``origin``.

    Written out for the 2 mm FSL grid, one float32 operation at a time: MRtrix flips
    x (x' = 90 - i), its voxel coordinate is ``0.5 * world + shift - origin`` with
    shifts (45, 63, 36), rounded half away from zero, then moved back by ``origin``.
    """
    out = []
    for axis, shift in enumerate((45, 63, 36)):
        v = np.float32(np.float32(0.5) * point[axis]) + np.float32(shift - origin[axis])
        local = int(np.floor(abs(v) + np.float32(0.5))) * (1 if v >= 0 else -1)
        if not 0 <= local < SHAPE[axis] - origin[axis]:
            return None
        out.append(local + origin[axis])
    return (90 - out[0], out[1], out[2])


def test_points_on_faces_are_tested_on_each_lesions_cropped_grid(faces: dict) -> None:
    streamlines = faces["streamlines"]
    points, offsets = as_array_sequence(streamlines)
    inc = build_incidence(faces["tck"], SHAPE, AFFINE)
    n_face_lines = 3 * 2 * 2 * 2
    assert set(inc.face_streamlines.tolist()) == set(range(n_face_lines))
    # the lesion's voxels are 33..37 (x' = 53..57), 62..66, 39..43: its box with one
    # voxel more starts at (52, 61, 38) in MRtrix's frame; with the corners, at 0
    hit = {}
    for name, origin in (("lesion", (52, 61, 38)), ("corners", (0, 0, 0))):
        mask = faces[name]
        expected = [
            s
            for s, sl in enumerate(streamlines)
            if any((v := _tckedit_voxel(p, origin)) is not None and mask[v] for p in sl)
        ]
        hit[name] = inc.streamlines_hit(mask)[:, 0].nonzero()[0].tolist()
        assert hit[name] == expected, name
    # with the corners the box is the whole grid: tckmap's voxels, the incidence's rows
    whole_sets = _voxel_sets(*sampled_voxels(points, offsets, AFFINE, SHAPE, 1), len(streamlines))
    assert hit["corners"] == _hit_by(whole_sets, faces["corners"])
    # the lines a float32 step below a face part the two: on the whole grid they round
    # onto the face and up; on the lesion's box, closer to 0, they stay below, except
    # those below y = 7 (3.49999976 + 2 rounds onto 5.5 there too)
    below = {0, 1, 4, 5, 8, 9, 16, 17, 20, 21}  # (axis, face, side, line) order
    assert set(hit["lesion"]) ^ set(hit["corners"]) == below
    # whichever streamlines are cut, their density is tckmap's: the whole-grid voxels
    density = inc.density(inc.streamlines_hit(faces["lesion"])).toarray().ravel()
    expected_density = np.zeros(V, np.int64)
    for s in hit["lesion"]:
        expected_density[list(whole_sets[s])] += 1
    np.testing.assert_array_equal(density, expected_density)


def test_entries_of_points_on_faces_only_are_left_untested(faces: dict) -> None:
    inc = build_incidence(faces["tck"], SHAPE, AFFINE)
    assert inc.tested is not None and len(inc.tested) == inc.matrix.nnz
    row_of_entry = np.repeat(np.arange(inc.n_streamlines), np.diff(inc.matrix.indptr))
    # every point of a face line is on a face: none of their entries is tested...
    assert not inc.tested[np.isin(row_of_entry, inc.face_streamlines)].any()
    # ...and all of the others are
    assert inc.tested[~np.isin(row_of_entry, inc.face_streamlines)].all()


def test_the_cache_keeps_the_points_on_faces(tmp_path: Path, faces: dict, monkeypatch) -> None:
    path = write_tck(tmp_path / "faces.tck", faces["streamlines"])
    first = tractogram_incidence(path, SHAPE, AFFINE)
    monkeypatch.setattr(incidence_module, "build_incidence", None)  # no second build
    again = tractogram_incidence(path, SHAPE, AFFINE)
    np.testing.assert_array_equal(again.face_streamlines, first.face_streamlines)
    np.testing.assert_array_equal(again.face_points, first.face_points)
    np.testing.assert_array_equal(again.tested, first.tested)
    lesion = faces["lesion"]
    assert (again.streamlines_hit(lesion) != first.streamlines_hit(lesion)).nnz == 0
