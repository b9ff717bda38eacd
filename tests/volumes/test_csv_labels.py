"""Per-vertex labels as text files (neuratlas:csv-label): brainspace's files and made ones."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from neuratlas.errors import ArgumentError, DataUnavailableError, ImageError, NotFoundError
from neuratlas.retrieval import packages
from neuratlas.volumes import providers
from neuratlas.volumes.surfaces import gifti_labels

BRAINSPACE = "pkg://brainspace/datasets/parcellations/"


def write(tmp_path: Path, name: str, labels) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(str(v) for v in labels) + "\n", encoding="ascii")
    return path


def test_a_file_of_both_hemispheres_splits_in_halves(tmp_path: Path) -> None:
    path = write(tmp_path, "both.csv", [0, 1, 2, 3, 4, 5])
    np.testing.assert_array_equal(providers.load_csv_labels(path), [0, 1, 2, 3, 4, 5])
    np.testing.assert_array_equal(providers.load_csv_labels(path, 0, 2), [0, 1, 2])
    np.testing.assert_array_equal(providers.load_csv_labels(path, 1, 2), [3, 4, 5])
    labels = providers.load_csv_labels(path)
    assert labels.dtype == np.int64 and not labels.flags.writeable


def test_surface_labels_share_one_file_between_the_hemispheres(tmp_path: Path) -> None:
    path = str(write(tmp_path, "both.csv", [1, 1, 0, 2, 2, 0]))
    volume = {providers.CSV_LABEL: {"left": path, "right": path}}
    np.testing.assert_array_equal(providers.surface_labels(volume, "left"), [1, 1, 0])
    np.testing.assert_array_equal(providers.surface_labels(volume, "right"), [2, 2, 0])


def test_surface_labels_of_one_file_per_hemisphere(tmp_path: Path) -> None:
    left = str(write(tmp_path, "l.csv", [1, 0]))
    right = str(write(tmp_path, "r.csv", [3, 3, 0]))
    volume = {providers.CSV_LABEL: {"left": left, "right": right}}
    np.testing.assert_array_equal(providers.surface_labels(volume, "right"), [3, 3, 0])
    # relative URLs resolve against the spec's folder
    relative = {providers.CSV_LABEL: {"left": "l.csv", "right": "r.csv"}}
    np.testing.assert_array_equal(providers.surface_labels(relative, "left", tmp_path), [1, 0])


def test_surface_labels_read_gifti_label_files(tmp_path: Path) -> None:
    path = tmp_path / "x.label.gii"
    nib.save(gifti_labels(np.array([0, 4, 4])), path)
    volume = {"gii-label": {"left": str(path)}}
    np.testing.assert_array_equal(providers.surface_labels(volume, "left"), [0, 4, 4])
    assert providers.label_format(["gii-mesh", "gii-label"]) == "gii-label"
    assert providers.label_format([providers.CSV_LABEL]) == providers.CSV_LABEL


def test_brainspace_parcellation_equals_the_source_file() -> None:
    url = BRAINSPACE + "schaefer_100_conte69.csv"
    source = np.loadtxt(packages.resolve(url), dtype=np.int64)
    volume = {providers.CSV_LABEL: {"left": url, "right": url}}
    left = providers.surface_labels(volume, "left")
    right = providers.surface_labels(volume, "right")
    assert left.shape == right.shape == (32492,)
    np.testing.assert_array_equal(np.concatenate([left, right]), source)
    assert set(np.unique(left)) == set(range(51)) and set(np.unique(right)) - {0} == set(
        range(51, 101)
    )


def test_bad_label_files_raise_image_errors(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="not a label file"):
        providers.load_csv_labels(write(tmp_path, "f.csv", [1, 2.5]))
    with pytest.raises(ImageError, match="cannot be cut into 2"):
        providers.load_csv_labels(write(tmp_path, "odd.csv", [1, 2, 3]), 0, 2)
    with pytest.raises(ImageError, match="0 labels"):
        providers.load_csv_labels(write(tmp_path, "empty.csv", []))
    with pytest.raises(ImageError, match="cannot read"):
        providers.load_csv_labels(tmp_path / "missing.csv")
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe1\n")
    with pytest.raises(ImageError, match="cannot read"):
        providers.load_csv_labels(tmp_path / "bin.csv")


def test_bad_arguments(tmp_path: Path) -> None:
    path = write(tmp_path, "both.csv", [0, 1])
    with pytest.raises(ArgumentError, match="block 2"):
        providers.load_csv_labels(path, 2, 2)
    with pytest.raises(ArgumentError, match="positive"):
        providers.load_csv_labels(path, 0, 0)
    volume = {providers.CSV_LABEL: {"left": str(path), "right": str(path)}}
    with pytest.raises(NotFoundError, match="choose a fragment") as caught:
        providers.surface_labels(volume)
    assert caught.value.suggestions == ["left", "right"]
    with pytest.raises(NotFoundError, match="no fragment 'middle'"):
        providers.surface_labels(volume, "middle")
    with pytest.raises(DataUnavailableError, match="no per-vertex labels"):
        providers.surface_labels({"nii": str(path)}, "left")
