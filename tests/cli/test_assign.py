"""``neuratlas assign`` on the toy atlas: points, point files, images, output formats."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from neuratlas.assignment import COLUMNS
from neuratlas.errors import Error, ImageError
from tests.toy_atlas import AFFINE, label_volume

INSIDE_A_LEFT = AFFINE[:3, :3] @ np.array([4, 5, 4]) + AFFINE[:3, 3]
INSIDE_NUCLEUS_C = AFFINE[:3, :3] @ np.array([10, 12, 8]) + AFFINE[:3, 3]


def as_arg(xyz: np.ndarray) -> str:
    return ",".join(f"{v:g}" for v in xyz)


def test_one_point_as_json(run) -> None:
    result = run("assign", "toy", "toy", f"--point={as_arg(INSIDE_A_LEFT)}", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["region"] for r in rows] == ["Area A - left hemisphere"]
    assert set(rows[0]) == set(COLUMNS)
    assert rows[0]["centroid"] == pytest.approx(list(INSIDE_A_LEFT))


def test_points_file_to_csv_matches_the_label_volume(run, tmp_path: Path) -> None:
    points = tmp_path / "points.csv"
    pd.DataFrame([INSIDE_A_LEFT, INSIDE_NUCLEUS_C, [500, 0, 0]], columns=["x", "y", "z"]).to_csv(
        points, index=False
    )
    out = tmp_path / "assigned.csv"
    result = run("assign", "toy", "toy", "--points", str(points), "-o", str(out))
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert list(table.columns) == COLUMNS
    assert dict(zip(table["input structure"], table["region"], strict=True)) == {
        0: "Area A - left hemisphere",
        1: "Nucleus C",
    }


def test_points_with_sigma_column_on_the_statistical_map(run, tmp_path: Path) -> None:
    points = tmp_path / "points.tsv"
    points.write_text("X\tY\tZ\tsigma\n" + "\t".join(map(str, INSIDE_A_LEFT)) + "\t3\n")
    result = run("assign", "toy", "toy", "--points", str(points), "-t", "statistical", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert rows and all(r["volume"] > 0 for r in rows)  # a blob, not an exact point
    assert "Area A - left hemisphere" in {r["region"] for r in rows}


def test_image_as_table(run, tmp_path: Path) -> None:
    mask = (label_volume() == 4).astype(np.uint8)  # Area B right
    path = tmp_path / "mask.nii.gz"
    nib.save(nib.Nifti1Image(mask, AFFINE), path)
    result = run("assign", "toy", "toy", "--image", str(path))
    assert result.exit_code == 0, result.output
    # the table wraps long names; the words are all there
    for word in ("Area B", "right", "IoU", "contained"):
        assert word in result.output


def test_exactly_one_input_is_required(run, tmp_path: Path) -> None:
    result = run("assign", "toy", "toy")
    assert isinstance(result.exception, Error)
    assert "exactly one of --point, --points or --image" in str(result.exception)
    result = run("assign", "toy", "toy", "--point=0,0,0", "--image", str(tmp_path / "x.nii"))
    assert "exactly one" in str(result.exception)


def test_bad_point_files_say_what_is_wrong(run, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    result = run("assign", "toy", "toy", "--points", str(bad))
    assert isinstance(result.exception, Error)
    assert "needs columns x, y, z" in str(result.exception)
    result = run("assign", "toy", "toy", "--points", str(tmp_path / "missing.csv"))
    assert "cannot read points" in str(result.exception)


def test_unreadable_image(run, tmp_path: Path) -> None:
    broken = tmp_path / "broken.nii.gz"
    broken.write_bytes(b"not an image")
    result = run("assign", "toy", "toy", "--image", str(broken))
    assert isinstance(result.exception, ImageError)
    assert "broken.nii.gz" in str(result.exception)


def test_bad_point_syntax(run) -> None:
    result = run("assign", "toy", "toy", "--point=1,2")
    assert isinstance(result.exception, Error)
    assert "3 coordinates" in str(result.exception)
