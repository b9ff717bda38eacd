"""Structural lesion network mapping against a brute-force count over the streamlines."""

from __future__ import annotations

import pickle
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from neuratlas.errors import ArgumentError, ImageError, NotFoundError, SpaceMismatchError
from neuratlas.lesion import SubjectData
from neuratlas.lesion.analysis.structural import StructuralNetworkMapping
from neuratlas.lesion.parcels import Parcels
from neuratlas.lesion.tractography.traversal import traversed_voxels
from tests.lesion.masks import GRIDS, box_mask, random_masks
from tests.lesion.tractography.synthetic import (
    as_array_sequence,
    bundles,
    synthetic_streamlines,
    write_tck,
)

SHAPE, AFFINE = GRIDS["nlin6_2mm"]
V = int(np.prod(SHAPE))
SPACE = "MNI152NLin6Asym"
#: Region centres (world mm): 0-1 and 2-3 lie on either side of the box lesion.
CENTRES = [(-62, -10, 20), (-18, -10, 20), (-40, -40, 20), (-40, 22, 20),
           (30, -60, 0), (30, 30, 40), (0, -80, 50), (50, 0, -20)]  # fmt: skip
PAIRS = [(0, 1), (2, 3), (0, 2), (1, 3), (4, 5), (6, 7), (4, 7), (5, 6), (0, 5), (1, 4), (3, 3)]


@pytest.fixture(scope="module")
def streamlines() -> list[np.ndarray]:
    background = synthetic_streamlines(600, seed=31, step=1.0)
    return background + bundles(CENTRES, PAIRS, per_pair=12, seed=32, step=1.0)


@pytest.fixture(scope="module")
def tck(tmp_path_factory: pytest.TempPathFactory, streamlines: list[np.ndarray]) -> Path:
    # no step size in the header: MRtrix's rule maps the stored points as they are
    return write_tck(tmp_path_factory.mktemp("snm") / "tracts.tck", streamlines)


@pytest.fixture(scope="module")
def subjects() -> list[SubjectData]:
    corner = np.zeros(SHAPE, np.uint8)
    corner[0:2, 0:2, 0:2] = 1  # far from every streamline
    masks = [box_mask(), *random_masks(3, seed=8), nib.Nifti1Image(corner, AFFINE)]
    return [
        SubjectData(m, space=SPACE, metadata={"subject_id": f"sub-{i:02d}"})
        for i, m in enumerate(masks)
    ]


@pytest.fixture(scope="module")
def atlas(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, np.ndarray]:
    """Eight labelled boxes around CENTRES (labels 3, 6, ... 24), a NIfTI and a labels file."""
    labels = np.zeros(SHAPE, np.int32)
    inverse = np.linalg.inv(AFFINE)
    for k, centre in enumerate(CENTRES, 1):
        c = np.rint(inverse[:3, :3] @ centre + inverse[:3, 3]).astype(int)
        labels[c[0] - 3 : c[0] + 4, c[1] - 3 : c[1] + 4, c[2] - 3 : c[2] + 4] = 3 * k
    folder = tmp_path_factory.mktemp("atlas")
    image, table = folder / "blobs.nii.gz", folder / "blobs.txt"
    nib.save(nib.Nifti1Image(labels, AFFINE), image)
    table.write_text("\n".join(f"{3 * k} blob{k}" for k in range(1, 9)))
    return image, table, labels


# --- brute force ----------------------------------------------------------------------
def _voxels(streamline: np.ndarray) -> set[int]:
    inverse = np.linalg.inv(AFFINE)
    out = set()
    for p in streamline.astype(np.float64):
        ijk = np.floor(inverse[:3, :3] @ p + inverse[:3, 3] + 0.5).astype(int)
        if np.all(ijk >= 0) and np.all(ijk < SHAPE):
            out.add(int(np.ravel_multi_index(tuple(ijk), SHAPE)))
    return out


@pytest.fixture(scope="module")
def visits(streamlines: list[np.ndarray]) -> list[set[int]]:
    return [_voxels(s) for s in streamlines]


def _brute_map(visits: list[set[int]], mask: np.ndarray) -> tuple[list[int], np.ndarray]:
    lesion = set(np.flatnonzero(mask.reshape(-1)).tolist())
    cut = [s for s, vox in enumerate(visits) if vox & lesion]
    whole = np.zeros(V)
    lesion_tdi = np.zeros(V)
    for s, vox in enumerate(visits):
        whole[list(vox)] += 1
        if s in set(cut):
            lesion_tdi[list(vox)] += 1
    ratio = np.divide(lesion_tdi, whole, out=np.zeros(V), where=whole > 0)
    return cut, ratio.reshape(SHAPE)


def _brute_nodes(streamlines: list[np.ndarray], labels: np.ndarray, radius: float) -> np.ndarray:
    ijk = np.argwhere(labels != 0)
    centres = ijk @ AFFINE[:3, :3].T + AFFINE[:3, 3]
    nodes = np.zeros((len(streamlines), 2), int)
    for s, sl in enumerate(streamlines):
        for end, p in enumerate((sl[0], sl[-1])):
            d = np.linalg.norm(centres - p.astype(np.float64), axis=1)
            k = int(np.argmin(d))
            nodes[s, end] = labels[tuple(ijk[k])] if d[k] < radius else 0
    return nodes


def _brute_matrix(nodes: np.ndarray, chosen, region_labels: list[int]) -> np.ndarray:
    row = {lab: i for i, lab in enumerate(region_labels)}
    out = np.zeros((len(region_labels),) * 2, int)
    for s in chosen:
        a, b = nodes[s]
        if a in row and b in row and a != b:
            out[row[a], row[b]] += 1
            out[row[b], row[a]] += 1
    return out


# --- the analysis against brute force ------------------------------------------------------
def test_disconnection_maps_against_brute_force(tck, subjects, visits) -> None:
    snm = StructuralNetworkMapping(tck, keep_intermediate=True)
    for subject in subjects:
        results = snm.compute(subject)
        cut, expected = _brute_map(visits, subject.mask)
        vmap = results["desc-disconnectionmap"]
        np.testing.assert_allclose(np.asarray(vmap.data.dataobj), expected, rtol=1e-6, atol=0)
        assert vmap.data.get_data_dtype() == np.float32
        np.testing.assert_array_equal(vmap.data.affine, subject.affine)
        assert (vmap.space, vmap.resolution, vmap.name) == (SPACE, 2.0, "disconnection_map")
        stats = results["desc-summarystatistics"].data
        assert stats["mask_streamline_count"] == len(cut)
        assert stats["total_streamline_count"] == len(visits)
        positive = expected[expected > 0]
        assert stats["mean_disconnection"] == pytest.approx(positive.mean() if len(cut) else 0.0)
        assert stats["disconnected_voxel_count"] == len(positive)
        tdi = np.asarray(results["desc-masktdi"].data.dataobj)
        assert tdi.sum() == sum(len(visits[s]) for s in cut)
    assert len(_brute_map(visits, subjects[0].mask)[0]) > 100  # the box is on many paths


def test_a_lesion_that_cuts_nothing(tck, subjects, atlas) -> None:
    image, table, _ = atlas
    results = StructuralNetworkMapping(tck, parcellation=(image, table)).compute(subjects[-1])
    assert not np.asarray(results["desc-disconnectionmap"].data.dataobj).any()
    stats = results["desc-summarystatistics"].data
    assert stats["mask_streamline_count"] == 0 and stats["mean_disconnection"] == 0.0
    assert not results["atlas-blobs_desc-maskconnectivitymatrix"].matrix.any()
    assert set(results["atlas-blobs_desc-roidisconnection"].data.values()) == {0.0}


@pytest.mark.parametrize("radius", [4.0, 0.0, 9.0])
def test_matrices_against_brute_force(tck, streamlines, subjects, visits, atlas, radius) -> None:
    image, table, labels = atlas
    snm = StructuralNetworkMapping(
        tck, parcellation=(image, table), endpoint_radius_mm=radius,
        compute_disconnectivity_matrix=True,
    )  # fmt: skip
    region_labels = [3 * k for k in range(1, 9)]
    nodes = _brute_nodes(streamlines, labels, radius) if radius else None
    if nodes is None:
        inverse = np.linalg.inv(AFFINE)
        nodes = np.zeros((len(streamlines), 2), int)
        for s, sl in enumerate(streamlines):
            for end, p in enumerate((sl[0], sl[-1])):
                ijk = np.floor(inverse[:3, :3] @ p + inverse[:3, 3] + 0.5).astype(int)
                if np.all(ijk >= 0) and np.all(ijk < SHAPE):
                    nodes[s, end] = labels[tuple(ijk)]
    full = _brute_matrix(nodes, range(len(streamlines)), region_labels)
    assert full.sum() > 20
    for subject in subjects[:3]:
        results = snm.compute(subject)
        cut, _ = _brute_map(visits, subject.mask)
        mask = _brute_matrix(nodes, cut, region_labels)
        if subject is subjects[0]:
            assert mask.sum() > 10  # the bundles across the box lesion
        got = {k.split("desc-")[1]: v for k, v in results.items() if k.startswith("atlas-blobs")}
        np.testing.assert_array_equal(got["fullconnectivitymatrix"].matrix, full)
        np.testing.assert_array_equal(got["maskconnectivitymatrix"].matrix, mask)
        np.testing.assert_array_equal(got["intactconnectivitymatrix"].matrix, full - mask)
        with np.errstate(invalid="ignore", divide="ignore"):
            percent = np.where(full > 0, 100.0 * mask / full, 0.0)
            per_region = np.where(full.sum(1) > 0, 100.0 * mask.sum(1) / full.sum(1), 0.0)
        np.testing.assert_allclose(got["disconnectivitypercent"].matrix, percent)
        roi = got["roidisconnection"]
        assert list(roi.data) == [f"blob{k}" for k in range(1, 9)]
        assert roi.region_labels == region_labels
        np.testing.assert_allclose(list(roi.data.values()), per_region)
        names = got["fullconnectivitymatrix"].region_labels
        assert (
            names == list(roi.data) and got["fullconnectivitymatrix"].matrix_type == "structural"
        )
        stats = got["matrixstatistics"].data
        upper = np.triu_indices(8, 1)
        assert stats["n_edges_total"] == int((full[upper] > 0).sum())
        assert stats["n_edges_affected"] == int((mask[upper] > 0).sum())
        lost = ((full > 0) & (full == mask)).sum(1)
        assert stats["max_degree_reduction"] == lost.max()
        assert stats["most_affected_parcel"] == names[int(np.argmax(lost))]


def test_a_parcels_object_on_the_grid(tck, subjects, atlas) -> None:
    image, table, _ = atlas
    from neuratlas.lesion.parcels import parcels_on_grid

    parcels = parcels_on_grid((image, table), SPACE, SHAPE, AFFINE)
    by_files = StructuralNetworkMapping(tck, parcellation=(image, table)).compute(subjects[0])
    by_object = StructuralNetworkMapping(tck, parcellation=parcels).compute(subjects[0])
    for key, value in by_files.items():
        if hasattr(value, "matrix"):
            np.testing.assert_array_equal(value.matrix, by_object[key].matrix)


def test_exact_mapping_uses_the_segments(tck, streamlines, subjects) -> None:
    points, offsets = as_array_sequence(streamlines)
    rows, cols = traversed_voxels(points, offsets, AFFINE, SHAPE)
    crossed: list[set[int]] = [set() for _ in streamlines]
    for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
        crossed[r].add(c)
    results = StructuralNetworkMapping(tck, mapping="exact").compute(subjects[0])
    _, expected = _brute_map(crossed, subjects[0].mask)
    got = np.asarray(results["desc-disconnectionmap"].data.dataobj)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=0)
    assert results["desc-summarystatistics"].metadata["mapping"] == "exact"


# --- batches -----------------------------------------------------------------------------
def _same(a: dict, b: dict) -> None:
    assert list(a) == list(b)
    for key in a:
        x, y = a[key], b[key]
        if hasattr(x, "matrix"):
            np.testing.assert_array_equal(x.matrix, y.matrix)
        elif hasattr(x, "space"):
            np.testing.assert_array_equal(np.asarray(x.data.dataobj), np.asarray(y.data.dataobj))
            np.testing.assert_array_equal(x.data.affine, y.data.affine)
        else:
            assert x.data == y.data
        assert x.metadata == y.metadata


def test_batch_equals_single_runs(tck, subjects, atlas) -> None:
    image, table, _ = atlas
    one_mm = SubjectData(box_mask("nlin6_1mm"), space=SPACE, metadata={"subject_id": "sub-1mm"})
    batch = [subjects[0], one_mm, *subjects[1:]]
    snm = StructuralNetworkMapping(tck, parcellation=(image, table), keep_intermediate=True)
    together = snm.run_batch(batch)
    for subject, done in zip(batch, together, strict=True):
        alone = StructuralNetworkMapping(
            tck, parcellation=(image, table), keep_intermediate=True
        ).run(subject)
        _same(done.StructuralNetworkMapping, alone.StructuralNetworkMapping)
    assert together[1].StructuralNetworkMapping["desc-disconnectionmap"].data.shape == (
        182,
        218,
        182,
    )


def test_run_adds_results_and_provenance(tck, subjects) -> None:
    snm = StructuralNetworkMapping(tck, compute_disconnectivity_matrix=True)
    done = snm.run(subjects[0])
    assert set(done.StructuralNetworkMapping) == {
        "desc-disconnectionmap",
        "desc-summarystatistics",
    }
    record = done.provenance[-1]
    assert record["function"] == "neuratlas.lesion.analysis.StructuralNetworkMapping"
    assert record["parameters"] == {
        "tractogram": str(tck),
        "parcellation": None,
        "space": SPACE,
        "compute_disconnectivity_matrix": True,
        "keep_intermediate": False,
        "mapping": "mrtrix",
        "endpoint_radius_mm": 4.0,
    }
    assert subjects[0].results == {}  # the input is not changed
    assert repr(snm).startswith("StructuralNetworkMapping(tractogram=")


def test_the_analysis_travels_without_its_incidence(tck, subjects) -> None:
    snm = StructuralNetworkMapping(tck)
    snm.compute(subjects[0])
    assert snm._grids
    copy = pickle.loads(pickle.dumps(snm))
    assert not copy._grids
    _same(copy.compute(subjects[0]), snm.compute(subjects[0]))


def test_a_catalogue_parcellation(tck, subjects) -> None:
    results = StructuralNetworkMapping(tck, parcellation="aal3").compute(subjects[0])
    full = next(v for k, v in results.items() if k.endswith("fullconnectivitymatrix"))
    assert full.matrix.shape[0] > 100 and full.matrix.sum() > 0
    assert next(iter(results)).startswith("desc-")
    assert any(k.startswith("atlas-AAL3") for k in results)


# --- tractograms by name, and bad input --------------------------------------------------
def test_a_registered_tractogram_by_name(tck, subjects, tmp_path, monkeypatch) -> None:
    from neuratlas.lesion.connectomes.registry import DATA_DIR_ENV, register_connectome

    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "data"))
    register_connectome("SynthTracts", tck, space=SPACE)
    by_name = StructuralNetworkMapping("synthtracts")
    assert by_name.tractogram == Path(tck).resolve() or by_name.tractogram == Path(tck)
    assert by_name.space == SPACE
    _same(by_name.compute(subjects[0]), StructuralNetworkMapping(tck).compute(subjects[0]))
    with pytest.raises(NotFoundError):
        StructuralNetworkMapping("NoSuchTracts")


def test_a_lesion_in_another_space(tck) -> None:
    other = SubjectData(
        box_mask("2009c_2mm", centre_mm=(30, -20, 10)), space="MNI152NLin2009cAsym"
    )
    with pytest.raises(SpaceMismatchError, match="in MNI152NLin2009cAsym, the tractogram"):
        StructuralNetworkMapping(tck).run(other)
    # the same tractogram declared in that space maps it
    assert StructuralNetworkMapping(tck, space="MNI152NLin2009cAsym").compute(other)


def test_bad_tractograms(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="no such tractogram file"):
        StructuralNetworkMapping(tmp_path / "missing.tck")
    broken = tmp_path / "broken.tck"
    broken.write_bytes(b"not mrtrix" * 50)
    with pytest.raises(ImageError, match="not a readable tractogram"):
        StructuralNetworkMapping(broken)


def test_bad_options(tck, subjects) -> None:
    with pytest.raises(ArgumentError, match=r"unknown streamline mapping 'mrtrx'.*did you mean"):
        StructuralNetworkMapping(tck, mapping="mrtrx")
    with pytest.raises(ArgumentError, match="endpoint_radius_mm is -2"):
        StructuralNetworkMapping(tck, endpoint_radius_mm=-2)
    with pytest.raises(NotFoundError):
        StructuralNetworkMapping(tck, space="NoSuchSpace")


def test_parcels_that_do_not_fit(tck, subjects, atlas) -> None:
    from scipy import sparse

    image, table, _ = atlas
    from neuratlas.lesion.parcels import parcels_on_grid

    one_mm = parcels_on_grid((image, table), SPACE, *GRIDS["nlin6_1mm"])
    with pytest.raises(ArgumentError, match="not the lesion's"):
        StructuralNetworkMapping(tck, parcellation=one_mm).compute(subjects[0])
    fuzzy = Parcels(
        "fuzzy", "Fuzzy", ["a"], [1], sparse.csc_matrix((V, 1)), SHAPE, AFFINE, probabilistic=True
    )
    with pytest.raises(ArgumentError, match="needs a labelled map"):
        StructuralNetworkMapping(tck, parcellation=fuzzy).compute(subjects[0])


def test_a_parcellation_with_only_probabilities(tck, subjects, monkeypatch) -> None:
    from scipy import sparse

    from neuratlas.lesion.analysis import structural

    fuzzy = Parcels("tracts", "Tracts", ["a"], [1], sparse.csc_matrix((V, 1)), SHAPE, AFFINE, True)

    def only_probabilities(parcellation, space, shape, affine, maptype=None):
        if maptype == "labelled":
            raise NotFoundError("Tracts has no labelled map in MNI152NLin6Asym")
        return fuzzy

    monkeypatch.setattr(structural, "parcels_on_grid", only_probabilities)
    with pytest.raises(ArgumentError, match="Tracts has only a probabilistic map"):
        StructuralNetworkMapping(tck, parcellation="tracts").compute(subjects[0])
