"""Gene -> expression per region, end to end on a phantom with known expression."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from neuratlas.allen import grid_labels
from neuratlas.allen.client import AllenClient
from neuratlas.allen.expression import (
    COLUMNS,
    RegionExpression,
    default_downsample_img,
    find_datasets,
    gene_expression,
    labels_on_grid,
    write_picture,
    write_table,
)
from neuratlas.allen.sync import DatasetDownloader
from neuratlas.allen.volume import ccf_affine
from neuratlas.errors import ArgumentError, NotFoundError, TransformError
from tests.allen.expression_phantom import (
    CP_LEFT_R,
    LEVEL_GREY,
    mirrored,
    served_mouse_atlas,
    served_sagittal_atlas,
)
from tests.allen.fake_allen_api import CORONAL_ID, SAGITTAL_ID, FakeAllenAPI

RESOLUTION = 100  # µm: the whole CCF grid is 132 x 80 x 114 voxels
STEP = RESOLUTION // 25  # annotation voxels per grid voxel


@pytest.fixture
def phantom_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AllenClient]:
    with (
        served_mouse_atlas(tmp_path, monkeypatch) as url,
        AllenClient(url, timeout=30.0, retries=2, backoff=0.0) as client,
    ):
        yield client


@pytest.fixture
def rows(phantom_client: AllenClient) -> list[RegionExpression]:
    return gene_expression(
        "Gad1", plane="coronal", resolution_um=RESOLUTION, downsample_img=4, client=phantom_client
    )


def _fake(client: AllenClient) -> FakeAllenAPI:
    return FakeAllenAPI.serving(client.base_url)


def _sampled_slabs(client: AllenClient, dataset_id: int = CORONAL_ID) -> set[int]:
    downloader = DatasetDownloader(
        dataset_id, downsample_ref=RESOLUTION, client=client, to_ccf=True
    )
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
    with pytest.raises(NotFoundError, match="unknown gene 'Nogene'") as caught:
        find_datasets("Nogene", "coronal", client=phantom_client)
    assert caught.value.suggestions == []
    assert caught.value.hint == "check the gene acronym (e.g. 'Gad1')"


def test_a_misspelt_gene_gets_suggestions(phantom_client):
    with pytest.raises(NotFoundError, match="unknown gene 'Gda1'") as caught:
        find_datasets("Gda1", "coronal", client=phantom_client)
    assert caught.value.suggestions[0] == "Gad1"
    assert "did you mean 'Gad1'" in (caught.value.hint or "")


def test_a_gene_with_datasets_in_the_other_plane_says_which(phantom_client):
    with pytest.raises(NotFoundError, match="no sagittal ISH dataset of gene 'Gad1'") as caught:
        gene_expression("Gad1", plane="sagittal", resolution_um=RESOLUTION, client=phantom_client)
    assert "it has 1 coronal" in caught.value.message
    assert caught.value.hint == "use --plane coronal"


def test_a_known_gene_without_datasets(phantom_client):
    with pytest.raises(NotFoundError, match="'gad2' has no ISH dataset") as caught:
        find_datasets("gad2", "coronal", client=phantom_client)  # any case: the API ignores it
    assert caught.value.suggestions == []


def test_only_expression_views_are_fetched(rows, phantom_client):
    api_requests = [
        request
        for request in _fake(phantom_client).requests
        if "section_image_download" in request.path
    ]
    assert api_requests and all(r.params.get("view") == "expression" for r in api_requests)


def test_progress_callbacks(phantom_client):
    seen: dict[str, list] = {"datasets": [], "dataset": [], "section": []}
    gene_expression(
        "Gad1",
        resolution_um=RESOLUTION,
        downsample_img=4,
        client=phantom_client,
        on_datasets=lambda ids: seen["datasets"].append(ids),
        on_dataset=lambda dataset_id, dl: seen["dataset"].append((dataset_id, len(dl))),
        on_section=lambda image_id, coordinate: seen["section"].append(image_id),
    )
    assert seen["datasets"] == [[CORONAL_ID]]
    assert seen["dataset"] == [(CORONAL_ID, 6)]
    assert len(seen["section"]) == 6


def test_voxel_counts_are_counted_once_per_annotation(phantom_client, tmp_path):
    def run() -> list[RegionExpression]:
        return gene_expression(
            "Gad1", resolution_um=RESOLUTION, downsample_img=4, client=phantom_client
        )

    first = run()
    stored = list((tmp_path / "cache" / "allen").glob("*.counts.npz"))
    assert len(stored) == 1

    def no_counting(*args):
        raise AssertionError("counted again")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(grid_labels, "_runs", no_counting)
        assert run() == first
    # a damaged entry is counted again, and replaced
    stored[0].write_bytes(b"not an npz file")
    assert run() == first
    assert stored[0].read_bytes().startswith(b"PK")


def test_default_downsampling():
    assert default_downsample_img(25) == 3  # 8 µm pixels for 25 µm voxels
    assert default_downsample_img(100) == 5
    assert default_downsample_img(1) == 0


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


# --------------------------------------------------------------------------- sagittal


@pytest.fixture
def sagittal_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AllenClient]:
    with (
        served_sagittal_atlas(tmp_path, monkeypatch) as url,
        AllenClient(url, timeout=30.0, retries=2, backoff=0.0) as client,
    ):
        yield client


def test_sagittal_dataset_covers_one_hemisphere(sagittal_client):
    rows = gene_expression(
        "Gad1",
        plane="sagittal",
        resolution_um=RESOLUTION,
        downsample_img=4,
        client=sagittal_client,
    )
    by = _by_acronym(rows)
    slabs = _sampled_slabs(sagittal_client, SAGITTAL_ID)  # along r, in the CCF
    assert max(slabs) < 57  # the left hemisphere (r < 5700 µm) only
    left = slabs & set(CP_LEFT_R)
    assert left and not slabs & set(mirrored(CP_LEFT_R))
    # CP lies on both sides: at most half of it can be covered
    cp = by["CP"]
    assert cp.coverage == pytest.approx(len(left) / (2 * len(CP_LEFT_R)))
    assert 0 < cp.coverage <= 0.5
    assert cp.mean == pytest.approx(LEVEL_GREY, abs=2.0)
    # CA1 is on the left: sampled; CA2, its mirror on the right: not at all
    assert by["CA1"].coverage == pytest.approx(len(left) / len(CP_LEFT_R))
    assert by["CA2"].coverage == 0 and math.isnan(by["CA2"].mean) and math.isnan(by["CA2"].max)
    assert all(row.dataset_id == SAGITTAL_ID for row in rows)
    assert rows[-1].coverage == 0  # unsampled regions last


def test_a_sample_without_the_sections_planes_is_refused() -> None:
    from neuratlas.allen.expression import region_expression
    from neuratlas.allen.grid_labels import GridSample
    from neuratlas.allen.volume import VolumeAccumulator

    accumulator = VolumeAccumulator(100, "coronal")
    plane = np.ones(accumulator.slab_shape, dtype=np.float32)
    accumulator.add(plane, plane > 0, 5000.0)
    counts = (np.array([0, 1], dtype=np.uint32), np.array([5, 5]))
    with pytest.raises(ArgumentError, match="lacks plane 50"):
        region_expression(accumulator, GridSample({}, counts), None, 1)
    with pytest.raises(ArgumentError, match="no label counts"):
        region_expression(accumulator, GridSample({50: plane}, None), None, 1)
