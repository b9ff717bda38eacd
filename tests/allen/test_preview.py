"""Contact sheets of section datasets, against the fake Allen API."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from neuratlas.allen.client import AllenClient
from neuratlas.allen.preview import contact_sheet, pick_evenly
from neuratlas.allen.sync import DatasetDownloader
from neuratlas.errors import ArgumentError, ArgumentTypeError, DataUnavailableError
from tests.allen.fake_allen_api import CORONAL_ID, SAGITTAL_ID, FakeAllenAPI, Reply


def _downloader(client: AllenClient, dataset_id: int, **kw: object) -> DatasetDownloader:
    return DatasetDownloader(dataset_id, downsample_ref=100, downsample_img=6, client=client, **kw)  # type: ignore[arg-type]


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        assert img.format == "PNG"
        return np.asarray(img)


def _image_requests(api: FakeAllenAPI) -> list[int]:
    return [int(r.path.rsplit("/", 1)[1]) for r in api.paths("section_image_download")]


@pytest.mark.parametrize(
    ("count", "most", "expected"),
    [
        (10, 4, [0, 3, 6, 9]),
        (6, 2, [0, 5]),
        (5, 1, [0]),
        (3, 12, [0, 1, 2]),
        (7, 7, [0, 1, 2, 3, 4, 5, 6]),
        (0, 3, []),
        (4, 0, []),
    ],
)
def test_pick_evenly(count: int, most: int, expected: list[int]) -> None:
    assert pick_evenly(count, most) == expected


def test_pick_evenly_never_repeats() -> None:
    for count in range(1, 40):
        for most in range(1, count + 3):
            picked = pick_evenly(count, most)
            assert len(picked) == min(count, most) == len(set(picked))
            assert picked == sorted(picked) and picked[0] == 0
            if len(picked) > 1:  # the first and the last are always shown
                assert picked[-1] == count - 1


class TestContactSheet:
    def test_sheet_of_a_subset(
        self, client: AllenClient, fake_api: FakeAllenAPI, tmp_path: Path
    ) -> None:
        downloader = _downloader(client, CORONAL_ID)
        seen: list[int] = []
        out = contact_sheet(
            downloader,
            tmp_path / "sheet.png",
            max_images=3,
            on_section=lambda image_id, _: seen.append(image_id),
        )
        assert out == tmp_path / "sheet.png"
        # 3 panels: 2 columns x 2 rows of 3 x 2.4 inches at 100 dpi
        assert _pixels(out).shape[:2] == (480, 600)
        by_section = sorted(
            fake_api.datasets[CORONAL_ID].images, key=lambda r: -r["section_number"]
        )
        expected = [by_section[k]["id"] for k in (0, 2, 5)]  # first, middle, last of 6
        assert seen == expected
        assert sorted(_image_requests(fake_api)) == sorted(expected)  # only those downloaded
        assert len(downloader) == 6  # the caller's downloader is left whole
        assert not list(tmp_path.glob("*.part"))

    def test_all_sections(self, client: AllenClient, tmp_path: Path) -> None:
        out = contact_sheet(_downloader(client, SAGITTAL_ID), tmp_path / "all.png")
        assert _pixels(out).shape[:2] == (480, 900)  # 5 panels: 3 columns x 2 rows

    def test_registered_and_expression_views(
        self, client: AllenClient, fake_api: FakeAllenAPI, tmp_path: Path
    ) -> None:
        downloader = _downloader(client, CORONAL_ID, include_expression=True)
        plain = _pixels(contact_sheet(downloader, tmp_path / "a.png", max_images=2))
        registered = _pixels(
            contact_sheet(downloader, tmp_path / "b.png", max_images=2, registered=True)
        )
        expression = _pixels(
            contact_sheet(downloader, tmp_path / "c.png", max_images=2, expression=True)
        )
        assert plain.shape == registered.shape == expression.shape
        assert not np.array_equal(plain, registered)
        assert not np.array_equal(plain, expression)
        views = {r.params.get("view") for r in fake_api.paths("section_image_download")}
        assert views == {None, "expression"}

    @pytest.mark.parametrize(
        ("max_images", "error", "message"),
        [
            (0, ArgumentError, "max_images must be at least 1, got 0"),
            (-3, ArgumentError, "max_images must be at least 1, got -3"),
            (2.5, ArgumentTypeError, "max_images must be an integer, got float 2.5"),
            (True, ArgumentTypeError, "max_images must be an integer, got bool True"),
        ],
    )
    def test_bad_max_images(
        self,
        client: AllenClient,
        fake_api: FakeAllenAPI,
        tmp_path: Path,
        max_images: object,
        error: type[Exception],
        message: str,
    ) -> None:
        out = tmp_path / "sheet.png"
        with pytest.raises(error, match=message):
            contact_sheet(_downloader(client, CORONAL_ID), out, max_images=max_images)  # type: ignore[arg-type]
        assert not out.exists()
        assert fake_api.requests == []

    def test_expression_needs_it_downloaded(
        self, client: AllenClient, fake_api: FakeAllenAPI, tmp_path: Path
    ) -> None:
        with pytest.raises(ArgumentError, match="include_expression=True") as caught:
            contact_sheet(_downloader(client, CORONAL_ID), tmp_path / "x.png", expression=True)
        assert caught.value.hint == "create the downloader with include_expression=True"
        assert fake_api.requests == []

    def test_no_aligned_images(
        self, client: AllenClient, fake_api: FakeAllenAPI, tmp_path: Path
    ) -> None:
        for image in fake_api.datasets[CORONAL_ID].images:
            image["alignment2d"] = None
        out = tmp_path / "x.png"
        with pytest.raises(
            DataUnavailableError, match=f"dataset {CORONAL_ID} has no aligned section images"
        ):
            contact_sheet(_downloader(client, CORONAL_ID), out)
        assert not out.exists()

    def test_no_image_could_be_downloaded(
        self, client: AllenClient, fake_api: FakeAllenAPI, tmp_path: Path
    ) -> None:
        for _ in range(2):
            fake_api.add_fault(
                lambda r: (
                    Reply(status=404, body=b"gone") if "section_image_download" in r.path else None
                )
            )
        out = tmp_path / "x.png"
        downloader = _downloader(client, CORONAL_ID)
        with pytest.raises(DataUnavailableError) as info:
            contact_sheet(downloader, out, max_images=2)
        assert not out.exists()
        # one line: the count and the first reason, not every failure strung together
        first = next(iter(downloader.failures))
        assert info.value.message.startswith(
            f"none of the 2 images of dataset {CORONAL_ID} could be used (the first, image "
            f"{first}: could not fetch "
        )
        assert info.value.message.endswith(": the server answered HTTP 404 Not Found)")
        assert info.value.hint.startswith("check the URL or identifier")
