"""Assembling section datasets into CCF volumes."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from neuratlas.allen.client import AllenClient
from neuratlas.allen.displacement import DisplacementField
from neuratlas.allen.sync import DatasetDownloader
from neuratlas.allen.volume import (
    VolumeAccumulator,
    _bilinear_inside,
    assemble_volume,
    ccf_affine,
    save_volume,
    to_gray,
    volume_shape,
)
from neuratlas.errors import DataUnavailableError, TransformError
from tests.allen.fake_allen_api import CORONAL_ID, SAGITTAL_ID, FakeAllenAPI, Reply, phantom


class TestAffine:
    def test_orientation_and_units(self) -> None:
        affine = ccf_affine(25)
        assert nib.aff2axcodes(affine) == ("P", "I", "R")
        # voxel (p, i, r) = (4, 2, 8) is 100 µm posterior, 50 µm inferior, 200 µm right
        np.testing.assert_allclose(affine @ [4, 2, 8, 1], [0.2, -0.1, -0.05, 1])
        np.testing.assert_allclose(np.abs(np.linalg.det(affine[:3, :3])), 0.025**3)

    def test_bad_resolution(self) -> None:
        with pytest.raises(TransformError, match="resolution must be positive"):
            ccf_affine(0)

    def test_shape(self) -> None:
        assert volume_shape(25) == (528, 320, 456)
        assert volume_shape(10) == (1320, 800, 1140)


class TestAccumulator:
    def test_place_and_average(self) -> None:
        acc = VolumeAccumulator(1000, "coronal")  # 13 x 8 x 11 voxels
        values = np.full((8, 11), 10.0, dtype=np.float32)
        valid = np.ones((8, 11), dtype=bool)
        assert acc.add(values, valid, 2100.0) == 88  # slab round(2.1) = 2
        acc.add(values * 3, valid, 1900.0)  # also slab 2: mean of 10 and 30
        valid[0] = False
        acc.add(values, valid, 5000.0)
        out, filled = acc.result()
        np.testing.assert_allclose(out[2], 20.0)
        assert filled[5, 1:].all() and not filled[5, 0].any()
        assert filled.sum() == 88 + 77

    def test_outside_the_grid_is_dropped(self) -> None:
        acc = VolumeAccumulator(1000, "sagittal")
        values = np.ones((13, 8), dtype=np.float32)
        assert acc.add(values, np.ones((13, 8), bool), -800.0) == 0
        assert acc.add(values, np.ones((13, 8), bool), 11600.0) == 0

    def test_per_pixel_depth(self) -> None:
        acc = VolumeAccumulator(1000, "coronal")
        values = np.arange(88, dtype=np.float32).reshape(8, 11)
        depth = np.tile(np.arange(11) * 1000.0, (8, 1))  # a 45-degree cut
        acc.add(values, np.ones((8, 11), bool), depth)
        out, filled = acc.result()
        for col in range(11):
            assert filled[col, :, col].all()
            np.testing.assert_array_equal(out[col, :, col], values[:, col])
        assert filled.sum() == 88

    @pytest.mark.parametrize("gaps", ["nearest", "linear"])
    def test_gaps_by_hand(self, gaps: str) -> None:
        acc = VolumeAccumulator(1000, "coronal")
        ones = np.ones((8, 11), bool)
        acc.add(np.full((8, 11), 10.0, np.float32), ones, 2000.0)
        acc.add(np.full((8, 11), 50.0, np.float32), ones, 6000.0)
        out, filled = acc.result(gaps)  # type: ignore[arg-type]
        line = out[:, 3, 4]
        if gaps == "linear":
            np.testing.assert_allclose(line[2:7], [10, 20, 30, 40, 50])
        else:
            np.testing.assert_allclose(line[2:7], [10, 10, 10, 50, 50])
        # never beyond the first and last sections
        assert not filled[:2].any() and not filled[7:].any()
        assert (line[:2] == 0).all() and (line[7:] == 0).all()

    def test_max_gap(self) -> None:
        acc = VolumeAccumulator(1000, "coronal")
        ones = np.ones((8, 11), bool)
        for depth in (0.0, 2000.0, 8000.0):
            acc.add(np.full((8, 11), depth, np.float32), ones, depth)
        out, filled = acc.result("linear", max_gap_um=1500)
        assert filled[1].all() and np.allclose(out[1], 1000.0)
        assert not filled[3:8].any()

    def test_bad_options(self) -> None:
        with pytest.raises(TransformError, match="unknown axis"):
            VolumeAccumulator(100, "axial")
        with pytest.raises(TransformError, match="unknown gap handling 'cubic'"):
            VolumeAccumulator(1000, "coronal").result("cubic")  # type: ignore[arg-type]


class TestSlabs:
    def test_only_the_planes_reached_are_held(self) -> None:
        acc = VolumeAccumulator(25, "coronal")  # 528 x 320 x 456 voxels
        assert acc.slab_shape == (320, 456) and list(acc.slabs()) == []
        values = np.full(acc.slab_shape, 4.0, dtype=np.float32)
        valid = np.zeros(acc.slab_shape, dtype=bool)
        valid[10:20, 30:40] = True
        acc.add(values, valid, 5000.0)  # plane 200
        acc.add(values * 2, valid, 5010.0)  # plane 200 again: mean of 4 and 8
        acc.add(values, valid, 2500.0)  # plane 100
        planes = list(acc.slabs())
        assert [index for index, _, _ in planes] == [100, 200]  # in index order
        _, total, count = planes[1]
        assert count[15, 35] == 2 and total[15, 35] == 12.0 and count[0, 0] == 0
        # the dense views agree with the planes
        assert acc.count.shape == acc.shape and acc.count.sum() == 3 * 100
        assert acc.total[200, 15, 35] == 12.0 and acc.total[:100].sum() == 0
        out, filled = acc.result()
        assert out[200, 15, 35] == 6.0 and filled.sum() == 200

    def test_sagittal_planes(self) -> None:
        acc = VolumeAccumulator(100, "sagittal")  # 132 x 80 x 114
        assert acc.slab_shape == (132, 80)
        acc.add(np.ones((132, 80), np.float32), np.ones((132, 80), bool), 5700.0)
        assert [index for index, _, _ in acc.slabs()] == [57]
        assert acc.count[:, :, 57].all() and acc.count.sum() == 132 * 80

    def test_add_section_matches_a_general_warp(self) -> None:
        rng = np.random.default_rng(0)
        picture = rng.integers(0, 256, size=(60, 90, 3), dtype=np.uint8)
        shape = (8000 // 200, 11400 // 200)  # a coronal slab at 200 µm: (i, r)
        rows, cols = np.indices(shape, dtype=np.float64)
        # an affine map from the slab into the picture, reaching beyond its edges
        fx = 1.7 * cols - 0.2 * rows - 3.0
        fy = 0.15 * cols + 1.6 * rows - 2.0
        df = DisplacementField(fx - cols, fy - rows)
        acc = VolumeAccumulator(200, "coronal")
        written = acc.add_section(picture, df, 1000.0)
        fx, fy = df.transformation  # as the accumulator reads them (to the last bit)
        valid = (fx >= 0) & (fx <= 89) & (fy >= 0) & (fy <= 59)
        assert written == valid.sum() and 0 < written < valid.size
        ((index, total, count),) = list(acc.slabs())
        assert index == 5
        expected = df.warp(to_gray(picture), "linear")
        np.testing.assert_allclose(total[valid], expected[valid], rtol=1e-5, atol=1e-3)
        assert not count[~valid].any()

    def test_bilinear_at_the_last_row_and_column(self) -> None:
        image = np.arange(12, dtype=np.float32).reshape(3, 4)
        fx = np.array([3.0, 0.0, 3.0, 1.5])
        fy = np.array([2.0, 2.0, 0.0, 0.5])
        np.testing.assert_allclose(_bilinear_inside(image, fx, fy), [11.0, 8.0, 3.0, 3.5])


def test_to_gray() -> None:
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[..., 1] = 100
    np.testing.assert_allclose(to_gray(rgb), 58.7, rtol=1e-6)
    np.testing.assert_array_equal(to_gray(np.full((2, 2), 7, np.uint8)), 7.0)
    with pytest.raises(TransformError, match="cannot make a grey image"):
        to_gray(np.zeros((2, 2, 2, 2)))


class TestAssemble:
    def _downloader(self, client: AllenClient, dataset_id: int, **kw: object) -> DatasetDownloader:
        return DatasetDownloader(
            dataset_id,
            downsample_ref=100,
            detection_xy=(6000, 4500),
            downsample_img=5,
            client=client,
            **kw,
        )  # type: ignore[arg-type]

    def test_coronal_volume(self, client: AllenClient, tmp_path: Path) -> None:
        downloader = self._downloader(client, CORONAL_ID)
        image = assemble_volume(downloader)
        data = np.asarray(image.dataobj)
        assert data.shape == (132, 80, 114) and data.dtype == np.uint8
        np.testing.assert_allclose(image.affine, ccf_affine(100))
        filled_slabs = np.flatnonzero(data.reshape(132, -1).any(axis=1))
        expected = sorted({round(r[1] / 100) for r in downloader.run()})
        assert list(filled_slabs) == expected
        # the grey level of a slab matches the phantom there (luma of the rendered colours)
        slab = expected[len(expected) // 2]
        rows, cols = np.indices((80, 114))
        pir = np.stack(
            [np.full(rows.size, slab * 100.0), rows.ravel() * 100.0, cols.ravel() * 100.0]
        )
        truth = phantom(pir).reshape(80, 114) * (0.299 + 0.587 * 0.93 + 0.114 * 0.85)
        core = ((rows * 100 - 4000) / 3000) ** 2 + ((cols * 100 - 5700) / 4500) ** 2 <= 1
        assert np.median(np.abs(data[slab].astype(float) - truth)[core]) < 4
        path = save_volume(image, tmp_path / "volume.nii.gz")
        again = nib.load(path)
        np.testing.assert_array_equal(np.asarray(again.dataobj), data)
        np.testing.assert_allclose(again.affine, image.affine)

    def test_linear_gaps_fill_between_sections(self, client: AllenClient) -> None:
        downloader = self._downloader(client, CORONAL_ID)
        empty = np.asarray(assemble_volume(downloader).dataobj)
        linear = np.asarray(assemble_volume(downloader, gaps="linear").dataobj)
        slabs = np.flatnonzero(empty.reshape(132, -1).any(axis=1))
        between = range(slabs[0], slabs[-1] + 1)
        assert all(linear[k].any() for k in between)
        assert not linear[: slabs[0]].any() and not linear[slabs[-1] + 1 :].any()
        placed = empty[slabs] > 0  # voxels a section covers keep their value
        np.testing.assert_array_equal(linear[slabs][placed], empty[slabs][placed])

    def test_oblique_sampling_spreads_a_section(self, client: AllenClient) -> None:
        downloader = self._downloader(client, SAGITTAL_ID)
        parallel = np.asarray(assemble_volume(downloader).dataobj)
        oblique = np.asarray(assemble_volume(downloader, sampling="oblique").dataobj)
        assert parallel.shape == oblique.shape == (132, 80, 114)
        slabs_parallel = np.flatnonzero(parallel.any(axis=(0, 1)))
        slabs_oblique = np.flatnonzero(oblique.any(axis=(0, 1)))
        assert len(slabs_parallel) == 5
        assert len(slabs_oblique) > len(slabs_parallel)  # tilted cuts cross several slabs

    def test_expression_volume(self, client: AllenClient) -> None:
        downloader = self._downloader(client, CORONAL_ID, include_expression=True)
        plain = np.asarray(assemble_volume(downloader).dataobj)
        expr = np.asarray(assemble_volume(downloader, expression=True).dataobj)
        assert expr.any() and not np.array_equal(plain, expr)

    def test_bad_arguments(self, client: AllenClient) -> None:
        downloader = self._downloader(client, CORONAL_ID)
        with pytest.raises(TransformError, match="include_expression=True"):
            assemble_volume(downloader, expression=True)
        with pytest.raises(TransformError, match="unknown sampling 'tilted'"):
            assemble_volume(downloader, sampling="tilted")  # type: ignore[arg-type]
        with pytest.raises(TransformError, match="unknown gap handling 'spline'"):
            assemble_volume(downloader, gaps="spline")  # type: ignore[arg-type]

    def test_no_image_arrives(self, client: AllenClient, fake_api: FakeAllenAPI) -> None:
        # an empty volume looked like a dataset without signal
        for _ in range(6):
            fake_api.add_fault(
                lambda r: Reply(status=404) if "section_image_download" in r.path else None
            )
        with pytest.raises(DataUnavailableError, match="none of the 6 images of dataset"):
            assemble_volume(self._downloader(client, CORONAL_ID))

    def test_progress_callback(self, client: AllenClient, fake_api: FakeAllenAPI) -> None:
        seen: list[int] = []
        assemble_volume(
            self._downloader(client, CORONAL_ID),
            on_section=lambda image_id, _: seen.append(image_id),
        )
        assert seen == [
            r["id"]
            for r in sorted(
                fake_api.datasets[CORONAL_ID].images, key=lambda r: -r["section_number"]
            )
        ]
