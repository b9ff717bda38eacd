"""Gene -> expression per region, end to end on a phantom with known expression."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from neuratlas.allen.client import AllenClient
from neuratlas.allen.expression import (
    COLUMNS,
    RegionExpression,
    find_datasets,
    gene_expression,
    labels_on_grid,
    write_picture,
    write_table,
)
from neuratlas.allen.sync import DatasetDownloader
from neuratlas.allen.volume import ccf_affine
from neuratlas.errors import ArgumentError, NotFoundError, TransformError
from tests.allen.expression_phantom import LEVEL_GREY, served_mouse_atlas
from tests.allen.fake_allen_api import CORONAL_ID

RESOLUTION = 100  # µm: the whole CCF grid is 132 x 80 x 114 voxels
STEP = RESOLUTION // 25  # annotation voxels per grid voxel


@pytest.fixture
def phantom_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AllenClient]:
    with (
        served_mouse_atlas(tmp_path, monkeypatch) as url,
        AllenClient(url, timeout=5.0, retries=2, backoff=0.0) as client,
    ):
        yield client


@pytest.fixture
def rows(phantom_client: AllenClient) -> list[RegionExpression]:
    return gene_expression(
        "Gad1", plane="coronal", resolution_um=RESOLUTION, downsample_img=3, client=phantom_client
    )


def _sampled_slabs(client: AllenClient) -> set[int]:
    downloader = DatasetDownloader(CORONAL_ID, downsample_ref=RESOLUTION, client=client)
    downloader.fetch_metadata()
    return {
        round(downloader.slice_coordinate(record) / RESOLUTION)
        for record in downloader.metadata["images"]
    }


def _by_acronym(rows: list[RegionExpression]) -> dict[str, RegionExpression]:
    return {row.acronym: row for row in rows}


def test_known_region_has_the_phantom_level(rows, phantom_client):
    cp = _by_acronym(rows)["CP"]
    assert cp.region == "Caudoputamen" and cp.dataset_id == CORONAL_ID
    # CP: annotation voxels p 200-299, i and r 48-63 -> grid voxels p 50-74, i and r 12-15
    slabs = range(200 // STEP, 299 // STEP + 1)
    assert cp.voxels == len(slabs) * 4 * 4
    hit = _sampled_slabs(phantom_client) & set(slabs)
    assert len(hit) == 6  # every section crosses CP
    assert cp.coverage == pytest.approx(len(hit) / len(slabs))
    assert cp.mean == pytest.approx(LEVEL_GREY, abs=2.0)
    assert cp.max == pytest.approx(LEVEL_GREY, abs=3.0)
    assert rows[0].mean == cp.mean  # the highest mean comes first (CP and its ancestors)


def test_regions_outside_the_box_have_no_expression(rows):
    by = _by_acronym(rows)
    for acronym in ("CA1", "CA2"):
        assert by[acronym].coverage > 0
        assert by[acronym].mean == pytest.approx(0.0, abs=1.0)
        assert by[acronym].max < 2.0
    # a parent's voxels are its descendants' (Ammon's horn = CA1 + CA2)
    horn = next(row for row in rows if row.region == "Ammon's horn")
    assert horn.voxels == by["CA1"].voxels + by["CA2"].voxels
    assert not any(row.region == "Primary visual area" for row in rows)  # no voxels: no row


def test_rows_are_sorted_by_mean(rows):
    means = [row.mean for row in rows if not math.isnan(row.mean)]
    assert means == sorted(means, reverse=True)
    assert all(0.0 < row.coverage <= 1.0 for row in rows if not math.isnan(row.mean))


def test_table_and_picture(rows, tmp_path: Path):
    table = write_table(rows, tmp_path / "table.csv")
    with table.open(newline="") as handle:
        read = list(csv.DictReader(handle))
    assert tuple(read[0]) == COLUMNS
    assert read[0]["mean"] and float(read[0]["coverage"]) > 0
    assert float(read[0]["mean"]) == pytest.approx(rows[0].mean)
    picture = write_picture(rows, tmp_path / "top.png", top=5)
    assert picture.read_bytes().startswith(b"\x89PNG")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_unknown_gene_is_not_found_with_a_hint(phantom_client):
    with pytest.raises(NotFoundError, match="Nogene") as caught:
        find_datasets("Nogene", "coronal", client=phantom_client)
    assert "sagittal" in (caught.value.hint or "")
    with pytest.raises(NotFoundError):
        gene_expression("Gad1", plane="sagittal", resolution_um=RESOLUTION, client=phantom_client)


def test_unknown_plane_is_an_argument_error():
    with pytest.raises(ArgumentError, match="transverse"):
        gene_expression("Gad1", plane="transverse")


def test_labels_on_a_coarser_grid_are_the_nearest_voxels():
    data = np.arange(8 * 6 * 4, dtype=np.uint32).reshape(8, 6, 4)
    img = nib.Nifti1Image(data, ccf_affine(25))
    same = labels_on_grid(img, data.shape, ccf_affine(25))
    assert same is data or np.array_equal(same, data)
    coarse = labels_on_grid(img, (3, 2, 2), ccf_affine(50))
    assert np.array_equal(coarse, data[:6:2, :4:2, :4:2])
    # grid voxels beyond the annotation are 0
    wide = labels_on_grid(img, (6, 3, 3), ccf_affine(50))
    assert wide[4:].max() == 0 and np.array_equal(wide[:4, :3, :2], data[::2, ::2, ::2])


def test_labels_on_a_rotated_grid_are_refused():
    img = nib.Nifti1Image(np.zeros((4, 4, 4), dtype=np.uint32), np.eye(4))
    with pytest.raises(TransformError):
        labels_on_grid(img, (4, 4, 4), ccf_affine(25))
