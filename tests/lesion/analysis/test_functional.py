"""FunctionalNetworkMapping against an independent NumPy implementation of lacuna's definitions.

The connectome is synthetic (fixed seed): 12 subjects x 30 time points on a coarse
mask of the 2 mm MNI152NLin6Asym grid (every 4th voxel, plus a dense box where the
lesions lie), time series made of four shared network signals plus noise, around
an offset of 1000 as BOLD signals are. Written with neuratlas's connectome writer
in lacuna's layout.
"""

from __future__ import annotations

import pickle

import h5py
import nibabel as nib
import numpy as np
import pytest
from scipy import stats

from neuratlas.errors import (
    ArgumentError,
    ImageError,
    LesionError,
    NotFoundError,
    SpaceMismatchError,
)
from neuratlas.lesion import ScalarMetric, SubjectData, VoxelMap
from neuratlas.lesion.analysis.fnm_grid import GridLookup
from neuratlas.lesion.analysis.fnm_images import MaskedArrayProxy
from neuratlas.lesion.analysis.fnm_seeds import (
    mean_time_courses,
    pini_selection,
    seed_voxel_correlations,
    unit_seeds,
)
from neuratlas.lesion.analysis.fnm_stats import (
    R_LIMIT,
    Z_LIMIT,
    RunningMoments,
    fdr_bh,
    fisher_z,
    group_maps,
)
from neuratlas.lesion.analysis.fnm_stream import map_lesions, pini_columns
from neuratlas.lesion.analysis.functional import METHODS, FunctionalNetworkMapping
from neuratlas.lesion.connectomes.layout import ConnectomeReader, write_connectome
from neuratlas.lesion.connectomes.registry import register_connectome
from neuratlas.volumes.nifti import save_nifti
from neuratlas.volumes.resampling import resample_to_grid
from tests.lesion.masks import GRIDS, box_mask

N_SUBJECTS, N_TIMEPOINTS = 12, 30
SHAPE, AFFINE = GRIDS["nlin6_2mm"]
MAPS = ("rmap", "zmap", "tmap", "pmap", "pfdrmap")
# lesion centres (mm) inside the dense box of the mask, and one outside the lattice
CENTRES = [(-30.0, -6.0, 28.0), (-40.0, -14.0, 36.0), (-24.0, 2.0, 20.0)]


# -- the synthetic connectome ---------------------------------------------------------------------


def _brain_mask() -> np.ndarray:
    mask = np.zeros(SHAPE, dtype=bool)
    mask[::4, ::4, ::4] = True
    mask[50:70, 50:70, 40:60] = True  # x -10..-48, y -26..12, z 8..46 mm
    return mask


def _timeseries(n_voxels: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    signals = rng.standard_normal((N_SUBJECTS, N_TIMEPOINTS, 4))
    loadings = rng.standard_normal((4, n_voxels))
    noise = rng.standard_normal((N_SUBJECTS, N_TIMEPOINTS, n_voxels))
    series = signals @ loadings + 1.5 * noise + 1000.0
    series[:, :, 7] = 1000.0  # a voxel that never varies: r = 0 with every seed
    return series.astype(np.float32)


@pytest.fixture(scope="module")
def connectome(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, np.ndarray, object]:
    """(path, time series (S, T, V) float32, brain mask)."""
    mask = _brain_mask()
    series = _timeseries(int(mask.sum()))
    path = tmp_path_factory.mktemp("fnm") / "connectome.h5"
    write_connectome(path, series, mask, AFFINE, space="MNI152NLin6Asym")
    return path, series, mask


@pytest.fixture(scope="module")
def batch_folder(tmp_path_factory: pytest.TempPathFactory, connectome) -> object:
    """The same connectome split into three batch files of 5, 4 and 3 subjects."""
    _, series, mask = connectome
    folder = tmp_path_factory.mktemp("fnm-batches")
    for name, (a, b) in {"b0.h5": (0, 5), "b1.h5": (5, 9), "b2.h5": (9, 12)}.items():
        write_connectome(folder / name, series[a:b], mask, AFFINE, compression="gzip")
    return folder


def _subject(index: int, grid: str = "nlin6_2mm", **kwargs: object) -> SubjectData:
    centre = kwargs.pop("centre_mm", CENTRES[index % len(CENTRES)])
    half = kwargs.pop("half_size_mm", (4.0 + index, 5.0, 4.0))
    img = box_mask(grid, centre_mm=centre, half_size_mm=half)
    return SubjectData(img, metadata={"subject_id": f"sub-{index + 1:02d}", **kwargs})


# -- the independent reference --------------------------------------------------------------------


def _pearson(seed: np.ndarray, x: np.ndarray) -> np.ndarray:
    """r of ``seed`` (T,) with each column of ``x`` (T, V); 0 where either does not vary."""
    cov = ((seed - seed.mean())[:, None] * (x - x.mean(axis=0))).mean(axis=0)
    scale = seed.std() * x.std(axis=0)
    return np.where(scale > 0, cov / np.where(scale > 0, scale, 1.0), 0.0)


def _reference_columns(series: np.ndarray, columns: np.ndarray, percentile: float) -> np.ndarray:
    """Pini's selection, written out: PCA by SVD of the subjects x voxels correlations."""
    x = series.astype(np.float64)
    rows = np.array(
        [_pearson(x[s][:, columns].mean(axis=1), x[s][:, columns]) for s in range(len(x))]
    )
    _, _, vt = np.linalg.svd(rows - rows.mean(axis=0), full_matrices=False)
    loading = np.abs(vt[0])
    return columns[loading >= np.percentile(loading, percentile)]


def _reference(series: np.ndarray, columns: np.ndarray) -> dict[str, np.ndarray]:
    x = series.astype(np.float64)
    z = np.array(
        [
            np.arctanh(np.clip(_pearson(x[s][:, columns].mean(axis=1), x[s]), -R_LIMIT, R_LIMIT))
            for s in range(len(x))
        ]
    )
    n = len(x)
    mean, sd = z.mean(axis=0), z.std(axis=0, ddof=1)
    t = np.where(sd > 0, mean / np.where(sd > 0, sd / np.sqrt(n), 1.0), 0.0)
    p = 2 * stats.t.sf(np.abs(t), n - 1)
    return {
        "rmap": np.tanh(mean),
        "zmap": mean,
        "tmap": t,
        "pmap": p,
        "pfdrmap": stats.false_discovery_control(p, method="bh"),
        "var": sd**2,
    }


def _columns_of(subject: SubjectData, mask: np.ndarray) -> np.ndarray:
    """The connectome columns of a lesion on the connectome's own grid, by hand."""
    order = np.flatnonzero(mask.ravel())
    return np.flatnonzero(subject.mask.ravel()[order])


def _values(result: VoxelMap, mask: np.ndarray) -> np.ndarray:
    return np.asanyarray(result.data.dataobj)[mask]


# -- the maps -------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_maps_match_an_independent_numpy_implementation(connectome, method):
    path, series, mask = connectome
    subject = _subject(0)
    columns = _columns_of(subject, mask)
    seeds = _reference_columns(series, columns, 20) if method == "pini" else columns
    expected = _reference(series, seeds)

    out = FunctionalNetworkMapping(path, method).run(subject)
    results = out.FunctionalNetworkMapping
    for name in MAPS:
        found = results[f"desc-{name}"]
        assert isinstance(found, VoxelMap) and found.name == name
        assert found.data.shape == SHAPE and np.allclose(found.data.affine, AFFINE)
        assert found.data.get_data_dtype() == np.float32
        np.testing.assert_allclose(
            _values(found, mask), expected[name], rtol=1e-6, atol=1e-6, err_msg=name
        )
        assert not np.asanyarray(found.data.dataobj)[~mask].any()  # 0 outside the brain
    summary = results["desc-summarystatistics"]
    assert isinstance(summary, ScalarMetric)
    r = expected["rmap"]
    assert summary.data["mean"] == pytest.approx(r.mean(), abs=1e-9)
    assert summary.data["std"] == pytest.approx(r.std(), abs=1e-9)
    assert summary.data["max"] == pytest.approx(r.max(), abs=1e-9)
    assert summary.data["min"] == pytest.approx(r.min(), abs=1e-9)
    assert summary.data["n_subjects"] == N_SUBJECTS
    assert summary.data["n_lesion_voxels"] == columns.size
    assert summary.data["n_seed_voxels"] == seeds.size
    significant = int((expected["pfdrmap"] < 0.05).sum())
    assert summary.data["n_significant_fdr"] == significant > 0
    if method == "pini":
        assert 0 < seeds.size < columns.size  # some voxels were left out


def test_streamed_moments_match_the_reference_in_float64(connectome):
    path, series, mask = connectome
    columns = [_columns_of(_subject(i), mask) for i in range(3)]
    moments = map_lesions(ConnectomeReader(path), columns, max_block_bytes=2**20)
    assert moments.count == N_SUBJECTS
    for row, cols in enumerate(columns):
        expected = _reference(series, cols)
        np.testing.assert_allclose(moments.mean[row], expected["zmap"], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(
            moments.m2[row] / (N_SUBJECTS - 1), expected["var"], rtol=1e-9, atol=1e-12
        )
        maps = group_maps(
            moments.mean[row], moments.m2[row], moments.count, p_values=True, fdr=True
        )
        for name in MAPS:
            np.testing.assert_allclose(
                getattr(maps, name), expected[name], rtol=1e-8, atol=1e-12, err_msg=name
            )


def test_a_voxel_that_never_varies_gets_r_0_t_0_p_1(connectome):
    path, _, mask = connectome
    results = FunctionalNetworkMapping(path).run(_subject(0)).FunctionalNetworkMapping
    column_7 = tuple(np.argwhere(mask)[7])
    assert results["desc-rmap"].data.get_fdata()[column_7] == 0
    assert results["desc-tmap"].data.get_fdata()[column_7] == 0
    assert results["desc-pmap"].data.get_fdata()[column_7] == 1


@pytest.mark.parametrize("method", METHODS)
def test_run_batch_gives_each_lesion_what_run_gives_it(connectome, method):
    path, _, _ = connectome
    subjects = [_subject(i) for i in range(3)] + [_subject(3, "nlin6_1mm")]
    fnm = FunctionalNetworkMapping(path, method, t_threshold=3.0)
    batch = fnm.run_batch(subjects)
    for subject, together in zip(subjects, batch, strict=True):
        alone = fnm.run(subject).FunctionalNetworkMapping
        mapped = together.FunctionalNetworkMapping
        assert list(alone) == list(mapped)
        for key, result in alone.items():
            if isinstance(result, VoxelMap):
                np.testing.assert_array_equal(
                    np.asanyarray(mapped[key].data.dataobj), np.asanyarray(result.data.dataobj)
                )
            else:
                assert mapped[key].data == result.data
        assert together.provenance[-1]["function"].endswith("FunctionalNetworkMapping")


@pytest.mark.parametrize(
    ("max_block_bytes", "prefetch"),
    [
        (4 * N_TIMEPOINTS * 700, True),  # voxel blocks of 700 columns within each subject
        (4 * N_TIMEPOINTS * 700, False),
        (None, True),  # one subject at a time
        (4 * N_TIMEPOINTS * 50_000, True),  # two subjects at a time
        (2**30, False),  # every subject of a file at once
    ],
)
def test_block_sizes_and_batch_files_give_the_same_numbers(
    connectome, batch_folder, max_block_bytes, prefetch
):
    path, _, _ = connectome
    subjects = [_subject(i) for i in range(3)]
    reference = FunctionalNetworkMapping(path).run_batch(subjects)
    for source in (path, batch_folder):
        fnm = FunctionalNetworkMapping(source, max_block_bytes=max_block_bytes, prefetch=prefetch)
        for ours, theirs in zip(fnm.run_batch(subjects), reference, strict=True):
            for key, result in theirs.FunctionalNetworkMapping.items():
                if isinstance(result, VoxelMap):
                    np.testing.assert_allclose(
                        ours.FunctionalNetworkMapping[key].data.get_fdata(),
                        result.data.get_fdata(),
                        rtol=1e-12,
                        atol=1e-12,
                        err_msg=key,
                    )


def test_pini_first_pass_reads_lesion_voxels_in_blocks_of_subjects(connectome, batch_folder):
    path, series, mask = connectome
    columns = [_columns_of(_subject(i), mask) for i in range(3)]
    for source, budget in ((path, 1), (batch_folder, 10**9)):
        chosen = pini_columns(ConnectomeReader(source), columns, 30, max_block_bytes=budget)
        for cols, found in zip(columns, chosen, strict=True):
            np.testing.assert_array_equal(found, _reference_columns(series, cols, 30))


def test_options_choose_the_results(connectome):
    path, _, mask = connectome
    subject = _subject(1)
    keys = set(FunctionalNetworkMapping(path).run(subject).FunctionalNetworkMapping)
    assert keys == {f"desc-{n}" for n in (*MAPS, "pfdrthresholdmap", "summarystatistics")}

    fnm = FunctionalNetworkMapping(path, compute_p_map=False, t_threshold=4.0)
    results = fnm.run(subject).FunctionalNetworkMapping
    assert set(results) == {f"desc-{n}" for n in ("rmap", "zmap", "tmap", "tthresholdmap")} | {
        "desc-summarystatistics"
    }
    t = _values(results["desc-tmap"], mask)
    above = _values(results["desc-tthresholdmap"], mask)
    assert results["desc-tthresholdmap"].data.get_data_dtype() == np.uint8
    np.testing.assert_array_equal(above, np.abs(t) > 4.0)
    assert results["desc-summarystatistics"].data["n_significant_voxels"] == above.sum()

    results = FunctionalNetworkMapping(path, fdr_alpha=None).run(subject).FunctionalNetworkMapping
    assert "desc-pmap" in results and "desc-pfdrmap" not in results

    results = FunctionalNetworkMapping(path, fdr_alpha=0.01).run(subject).FunctionalNetworkMapping
    q = _values(results["desc-pfdrmap"], mask)
    np.testing.assert_array_equal(_values(results["desc-pfdrthresholdmap"], mask), q < 0.01)


def test_results_carry_space_resolution_metadata_and_provenance(connectome):
    path, _, _ = connectome
    fnm = FunctionalNetworkMapping(path, "pini", pini_percentile=40)
    out = fnm.run(_subject(2))
    rmap = out.get_result("FunctionalNetworkMapping", "desc-rmap", unwrap=False)
    assert (rmap.space, rmap.resolution) == ("MNI152NLin6Asym", 2.0)
    assert rmap.metadata["method"] == "pini"
    assert rmap.metadata["n_subjects"] == N_SUBJECTS
    assert rmap.metadata["connectome"] == str(path)
    record = out.provenance[-1]
    assert record["parameters"]["method"] == "pini"
    assert record["parameters"]["pini_percentile"] == 40
    assert record["inputs"]["mask"] == out.digest()
    assert "FunctionalNetworkMapping(" in repr(fnm)


# -- lesions on other grids -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lesion_grid", "connectome_grid"), [("nlin6_1mm", "nlin6_2mm"), ("nlin6_2mm", "nlin6_1mm")]
)
def test_a_lesion_on_another_grid_is_resampled_by_nearest_neighbour(lesion_grid, connectome_grid):
    shape, affine = GRIDS[connectome_grid]
    brain = np.zeros(shape, dtype=bool)
    brain[tuple(slice(n // 4, 3 * n // 4) for n in shape)] = True
    grid = GridLookup(np.stack(np.nonzero(brain)), affine, shape)
    lesion = box_mask(lesion_grid, centre_mm=(-21.0, -13.0, 17.0), half_size_mm=(9.0, 7.0, 8.0))
    found = grid.columns(np.asanyarray(lesion.dataobj).astype(bool), lesion.affine)
    resampled = np.asanyarray(resample_to_grid(lesion, affine, shape, order=0).dataobj)
    expected = np.flatnonzero(resampled[brain])
    np.testing.assert_array_equal(found, expected)
    assert found.size > 10


def test_a_1mm_lesion_maps_like_its_2mm_resampling(connectome):
    path, _, _ = connectome
    fine = box_mask("nlin6_1mm", centre_mm=(-31.0, -7.0, 27.0), half_size_mm=(6.0, 7.0, 5.0))
    coarse = resample_to_grid(fine, AFFINE, SHAPE, order=0)
    fnm = FunctionalNetworkMapping(path)
    a, b = fnm.run_batch([SubjectData(fine), SubjectData(coarse)])
    for key in ("desc-rmap", "desc-tmap"):
        np.testing.assert_array_equal(
            a.FunctionalNetworkMapping[key].data.get_fdata(),
            b.FunctionalNetworkMapping[key].data.get_fdata(),
        )


# -- connectomes given by name, folder, list ------------------------------------------------------


def test_connectome_by_registered_name_folder_or_files(
    connectome, batch_folder, tmp_path, monkeypatch
):
    path, _, _ = connectome
    monkeypatch.setenv("NEURATLAS_DATA_DIR", str(tmp_path / "data"))
    register_connectome("Tiny12", batch_folder, space="MNI152NLin6Asym")
    subject = _subject(0)
    expected = FunctionalNetworkMapping(path).run(subject).FunctionalNetworkMapping["desc-zmap"]
    sources = ["tiny12", batch_folder, sorted(batch_folder.glob("*.h5")), ConnectomeReader(path)]
    for source in sources:
        fnm = FunctionalNetworkMapping(source)
        found = fnm.run(subject).FunctionalNetworkMapping["desc-zmap"]
        np.testing.assert_allclose(found.data.get_fdata(), expected.data.get_fdata(), atol=1e-6)
    assert FunctionalNetworkMapping("tiny12").connectome == "Tiny12"


def test_space_from_the_grid_when_the_file_does_not_say_it(tmp_path, connectome):
    _, series, mask = connectome
    lacuna_like = write_connectome(tmp_path / "c.h5", series[:3], mask, AFFINE)  # no space
    assert FunctionalNetworkMapping(lacuna_like).space == "MNI152NLin6Asym"


def test_a_file_written_as_lacuna_writes_gsp1000(tmp_path, connectome):
    """lacuna's converter: (V, 3) indices, space "MNI152_2mm", gzip chunks of one subject."""
    path, series, mask = connectome
    lacuna = tmp_path / "gsp_chunk_000.h5"
    with_nan = series.copy()
    with_nan[:, 5:9, 11] = np.nan  # lacuna does not check its input for NaN
    with h5py.File(lacuna, "w") as hf:
        hf.create_dataset(
            "timeseries",
            data=with_nan,
            chunks=(1, N_TIMEPOINTS, with_nan.shape[2]),
            compression="gzip",
            compression_opts=1,
        )
        hf.create_dataset("mask_indices", data=np.vstack(np.where(mask)).T)
        hf.create_dataset("mask_affine", data=AFFINE)
        hf.attrs["mask_shape"] = mask.shape
        hf.attrs["space"] = "MNI152_2mm"
    fnm = FunctionalNetworkMapping(lacuna)
    assert fnm.space == "MNI152NLin6Asym"
    found = fnm.run(_subject(0)).FunctionalNetworkMapping
    expected = FunctionalNetworkMapping(path).run(_subject(0)).FunctionalNetworkMapping
    keep = np.ones(mask.sum(), dtype=bool)
    keep[11] = False
    for key in ("desc-rmap", "desc-zmap", "desc-tmap"):
        values = _values(found[key], mask)
        assert values[11] == 0  # r = 0 where the series is not finite
        np.testing.assert_array_equal(values[keep], _values(expected[key], mask)[keep])


def test_an_analysis_travels_to_other_processes(connectome):
    fnm = FunctionalNetworkMapping(connectome[0], "pini")
    copy = pickle.loads(pickle.dumps(fnm))
    a = fnm.run(_subject(1)).FunctionalNetworkMapping["desc-tmap"].data.get_fdata()
    b = copy.run(_subject(1)).FunctionalNetworkMapping["desc-tmap"].data.get_fdata()
    np.testing.assert_array_equal(a, b)


# -- bad input ------------------------------------------------------------------------------------


def test_unknown_method_lists_the_choices(connectome):
    with pytest.raises(ArgumentError, match="unknown method 'lnm'") as info:
        FunctionalNetworkMapping(connectome[0], method="lnm")
    assert "'boes'" in str(info.value) and "'pini'" in str(info.value)


@pytest.mark.parametrize(
    ("option", "match"),
    [
        ({"pini_percentile": 120}, "pini_percentile"),
        ({"fdr_alpha": 1.5}, "fdr_alpha"),
        ({"t_threshold": -1.0}, "t_threshold"),
        ({"max_block_bytes": 0}, "max_block_bytes"),
    ],
)
def test_out_of_range_options(connectome, option, match):
    with pytest.raises(ArgumentError, match=match):
        FunctionalNetworkMapping(connectome[0], **option)


def test_missing_connectome_file_or_name(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURATLAS_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(NotFoundError, match="does not exist"):
        FunctionalNetworkMapping(tmp_path / "nowhere.h5")
    with pytest.raises(NotFoundError, match="no connectome named 'GSP9999'"):
        FunctionalNetworkMapping("GSP9999")
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotFoundError, match="no HDF5 batch files"):
        FunctionalNetworkMapping(tmp_path / "empty")
    with pytest.raises(ArgumentError, match="not int"):
        FunctionalNetworkMapping(42)  # type: ignore[arg-type]


def test_a_file_that_is_not_a_connectome(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not an HDF5 file at all")
    with pytest.raises(ImageError):
        FunctionalNetworkMapping(bad)


def test_a_connectome_of_one_subject_cannot_be_tested(tmp_path, connectome):
    _, series, mask = connectome
    single = write_connectome(tmp_path / "one.h5", series[:1], mask, AFFINE)
    with pytest.raises(ArgumentError, match="1 subject"):
        FunctionalNetworkMapping(single)


def test_lesion_in_another_space(connectome):
    img = box_mask("2009c_2mm", centre_mm=CENTRES[0], half_size_mm=(6, 6, 6))
    subject = SubjectData(img, metadata={"subject_id": "sub-07"})
    with pytest.raises(SpaceMismatchError, match="sub-07: the lesion is in MNI152NLin2009cAsym"):
        FunctionalNetworkMapping(connectome[0]).run(subject)


def test_lesion_outside_the_brain_mask_names_the_subject(connectome):
    # a box between the lattice points, far from the dense box: no mask voxel inside
    subject = _subject(
        5, centre_mm=(56.0, 40.0, -38.0), half_size_mm=(1.0, 1.0, 1.0), label="stroke"
    )
    fnm = FunctionalNetworkMapping(connectome[0])
    with pytest.raises(LesionError, match="sub-06/stroke: no voxel of the lesion lies inside"):
        fnm.run(subject)
    with pytest.raises(LesionError, match="sub-06"):  # checked before the file is read
        fnm.run_batch([_subject(0), subject])


def test_declared_space_must_agree_with_the_grid(connectome, tmp_path):
    path = connectome[0]
    with pytest.raises(SpaceMismatchError, match="contradicts its grid"):
        FunctionalNetworkMapping(path, space="MNI152NLin2009cAsym")
    # an unusual grid: the space must be declared
    odd = np.diag([3.0, 3.0, 3.0, 1.0])
    small = np.zeros((10, 10, 10), dtype=bool)
    small[2:8, 2:8, 2:8] = True
    data = np.random.default_rng(1).standard_normal((3, 5, int(small.sum())))
    unknown = write_connectome(tmp_path / "odd.h5", data, small, odd)
    with pytest.raises(ArgumentError, match="pass space="):
        FunctionalNetworkMapping(unknown)
    assert FunctionalNetworkMapping(unknown, space="MNI152NLin6Asym").space == "MNI152NLin6Asym"


# -- the statistics -------------------------------------------------------------------------------


def test_running_moments_stay_exact_far_from_zero():
    rng = np.random.default_rng(3)
    values = 1e8 + rng.standard_normal((500, 2, 50))  # naive sums of squares lose it all here
    moments = RunningMoments(2, 50)
    for subject in values:
        moments.start_subject()
        moments.update(subject[:, :20].copy(), 0)
        moments.update(subject[:, 20:].copy(), 20)
    np.testing.assert_allclose(moments.mean, values.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(moments.variance(), values.var(axis=0, ddof=1), rtol=1e-7)
    with pytest.raises(ArgumentError):
        RunningMoments(1, 3).update(np.zeros((1, 3)))
    with pytest.raises(ArgumentError):
        RunningMoments(1, 3).variance()


def test_fdr_matches_scipy():
    p = np.random.default_rng(4).uniform(size=1000) ** 3
    p[::10] = p[5]  # ties
    np.testing.assert_allclose(
        fdr_bh(p), stats.false_discovery_control(p, method="bh"), rtol=1e-12
    )
    assert fdr_bh(np.array([])).size == 0


def test_fisher_z_is_finite_at_and_beyond_one():
    r = np.array([-1.0000000000000002, -1.0, 0.0, 0.5, 1.0, 1.0000000000000002])
    z = fisher_z(r.copy())
    assert np.all(np.isfinite(z))
    np.testing.assert_allclose(z[[0, 1, 4, 5]], [-Z_LIMIT, -Z_LIMIT, Z_LIMIT, Z_LIMIT], rtol=1e-9)
    assert z[3] == pytest.approx(np.arctanh(0.5))


def test_pini_selection_edge_cases():
    rng = np.random.default_rng(5)
    rows = rng.standard_normal((30, 12))
    _, _, vt = np.linalg.svd(rows - rows.mean(axis=0), full_matrices=False)
    np.testing.assert_array_equal(
        pini_selection(rows, 50), np.abs(vt[0]) >= np.median(np.abs(vt[0]))
    )
    assert pini_selection(rows, 0).all()
    assert pini_selection(rows, 100).sum() == 1
    assert pini_selection(np.ones((5, 4)), 50).all()  # nothing varies: keep every voxel
    tall = rng.standard_normal((5, 40))  # fewer subjects than voxels
    _, _, vt = np.linalg.svd(tall - tall.mean(axis=0), full_matrices=False)
    np.testing.assert_array_equal(
        pini_selection(tall, 25), np.abs(vt[0]) >= np.percentile(np.abs(vt[0]), 25)
    )


def test_seed_voxel_correlations():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((40, 6)).astype(np.float32)
    x[:, 2] = 3.0
    found = seed_voxel_correlations(x)
    expected = _pearson(x.astype(np.float64).mean(axis=1), x.astype(np.float64))
    np.testing.assert_allclose(found, expected, rtol=1e-12, atol=1e-15)
    assert found[2] == 0


def test_seed_time_courses():
    rng = np.random.default_rng(7)
    series = (rng.standard_normal((25, 9)) + 50).astype(np.float32)
    columns = [np.array([0, 3, 4]), np.array([8])]
    means = mean_time_courses(series, columns)
    np.testing.assert_allclose(means[0], series[:, [0, 3, 4]].astype(np.float64).mean(axis=1))
    np.testing.assert_array_equal(means[1], series[:, 8])
    flat = np.vstack([means, np.full(25, 3.0), np.full(25, np.nan)])
    unit = unit_seeds(flat)
    np.testing.assert_allclose(np.linalg.norm(unit[:2], axis=1), 1.0)
    np.testing.assert_allclose(unit[:2].sum(axis=1), 0.0, atol=1e-12)
    assert not unit[2:].any()  # a flat or NaN seed correlates with nothing


def test_group_statistics_need_two_subjects():
    with pytest.raises(ArgumentError, match="two subjects"):
        group_maps(np.zeros(3), np.zeros(3), 1, p_values=True, fdr=True)


def test_maps_are_plain_nifti_images_that_keep_only_the_brain_values(connectome, tmp_path):
    path, _, mask = connectome
    results = FunctionalNetworkMapping(path).run(_subject(0)).FunctionalNetworkMapping
    tmap = results["desc-tmap"].data
    assert isinstance(tmap, nib.Nifti1Image) and tmap.get_data_dtype() == np.float32
    assert isinstance(tmap.dataobj, MaskedArrayProxy) and tmap.dataobj.values.size == mask.sum()
    full = np.asanyarray(tmap.dataobj)
    assert full.shape == SHAPE and full.dtype == np.float32 and not full[~mask].any()
    np.testing.assert_array_equal(tmap.dataobj[40:50, 60, ::2], full[40:50, 60, ::2])
    np.testing.assert_array_equal(tmap.get_fdata(), full)
    save_nifti(tmap, tmp_path / "tmap.nii.gz")  # what the exporter writes with
    again = nib.load(tmp_path / "tmap.nii.gz")
    assert again.get_data_dtype() == np.float32
    np.testing.assert_array_equal(np.asanyarray(again.dataobj), full)
    np.testing.assert_allclose(again.affine, AFFINE)
    binary = results["desc-pfdrthresholdmap"].data
    assert binary.get_data_dtype() == np.uint8
    assert set(np.unique(np.asanyarray(binary.dataobj))) <= {0, 1}
    assert "MaskedArrayProxy(shape=(91, 109, 91)" in repr(tmap.dataobj)
