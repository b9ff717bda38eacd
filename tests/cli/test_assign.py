"""``neuratlas assign`` on the toy atlas: points, point files, images, output formats."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import neuratlas
from neuratlas.assignment import COLUMNS
from neuratlas.cli.assign import best_first
from neuratlas.cli.main import cli
from neuratlas.errors import ArgumentError, Error, ImageError, NotFoundError
from tests.toy_atlas import AFFINE, PARC_ID, SPACE_ID, label_volume

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


# --- bad input files: one-line errors that name the file, the line and the column -----------
@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("x,y,z\n1,2,3\n4,a,6\n", "line 3, column y: 'a' is not a number"),
        ("x,y,z\n\n1,2,3\n4,5\n", "line 4, column z: the cell is empty"),
        ("x\ty\tz\n1\tnan\t3\n", "line 2, column y: 'nan' is not a number"),
        ("x;y;z;sigma\n1;2;3;-2\n", "line 2, column sigma: '-2' is negative"),
        ("x,y,z\n", "it has a header line but no points"),
        ("", "it is empty"),
        ("\n  \n", "it is empty"),
    ],
)
def test_bad_point_files_name_the_line_and_column(
    run, tmp_path: Path, content: str, problem: str
) -> None:
    path = tmp_path / "points.csv"
    path.write_text(content)
    result = run("assign", "toy", "toy", "--points", str(path))
    assert isinstance(result.exception, ArgumentError)
    assert result.exception.message == f"cannot read points from {str(path)!r}: {problem}"
    assert "x,y,z[,sigma]" in result.exception.hint


def test_point_files_in_other_layouts(run, tmp_path: Path) -> None:
    # white space, upper case, columns in another order, extra columns, a byte order mark
    path = tmp_path / "points.txt"
    z, y, x = INSIDE_NUCLEUS_C[::-1]
    path.write_text(f"\ufeffLabel  Z Y X\nc {z:g} {y:g} {x:g}\n")
    result = run("assign", "toy", "toy", "--points", str(path), "--json")
    assert result.exit_code == 0, result.output
    assert [r["region"] for r in json.loads(result.stdout)] == ["Nucleus C"]


def test_bad_point_file_exits_2_with_one_line(script, tmp_path: Path) -> None:
    (tmp_path / "points.csv").write_text("x,y,z\n-32,-60,forty-eight\n")
    done = script("assign", PARC_ID, SPACE_ID, "--points", "points.csv")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "error: cannot read points from 'points.csv': line 2, column z:"
        " 'forty-eight' is not a number",
        "hint: write a header line x,y,z[,sigma], then one point per line in mm, e.g. -32,-60,48",
    ]
    assert done.stdout == ""


@pytest.fixture
def truncated(tmp_path: Path) -> dict[str, Path]:
    """A mask of Area B right as .nii.gz and .nii, each cut off at half its length."""
    img = nib.Nifti1Image((label_volume() == 4).astype(np.float32), AFFINE)
    out = {}
    for name in ("mask.nii.gz", "mask.nii"):
        whole = tmp_path / f"whole-{name}"
        nib.save(img, whole)
        data = whole.read_bytes()
        out[name] = tmp_path / name
        out[name].write_bytes(data[: len(data) // 2])
    return out


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("mask.nii.gz", "Compressed file ended before the end-of-stream marker was reached"),
        ("mask.nii", "Expected 30720 bytes, got 15"),
    ],
)
def test_truncated_image_is_an_image_error(run, truncated, name: str, reason: str) -> None:
    result = run("assign", "toy", "toy", "--image", str(truncated[name]))
    assert isinstance(result.exception, ImageError)
    message = result.exception.message
    assert message.startswith(f"cannot read the image {str(truncated[name])!r}: {reason}")
    assert "\n" not in message
    assert "truncated" in result.exception.hint


def test_truncated_image_exits_1_with_one_line(script, truncated) -> None:
    done = script("assign", PARC_ID, SPACE_ID, "--image", str(truncated["mask.nii.gz"]))
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 2, done.stderr
    assert lines[0].startswith(f"error: cannot read the image {str(truncated['mask.nii.gz'])!r}")
    assert lines[1].startswith("hint: give a complete NIfTI file")
    assert done.stdout == ""


def test_a_mesh_is_not_an_image(run, tmp_path: Path) -> None:
    path = tmp_path / "surface.gii"
    nib.save(nib.gifti.GiftiImage(), path)
    result = run("assign", "toy", "toy", "--image", str(path))
    assert isinstance(result.exception, ImageError)
    assert result.exception.message == f"cannot assign {str(path)!r}: it is not a volume image"


# --- empty results --------------------------------------------------------------------------
def test_no_region_at_a_point_says_so(run) -> None:
    result = run("assign", "toy", "toy", "--point=500,0,-3.5")
    assert result.exit_code == 0, result.output
    name = neuratlas.get_map("toy", "toy").name
    assert " ".join(result.stdout.split()) == f"no region of {name} at (500, 0, -3.5) mm"
    as_json = run("assign", "toy", "toy", "--point=500,0,-3.5", "--json")
    assert as_json.stdout == "[]\n"


def test_no_region_at_any_point_of_a_file(run, tmp_path: Path) -> None:
    path = tmp_path / "far.csv"
    path.write_text("x,y,z\n500,0,0\n0,500,0\n")
    result = run("assign", "toy", "toy", "--points", str(path), "--sigma", "2")
    name = neuratlas.get_map("toy", "toy").name
    assert " ".join(result.stdout.split()) == (
        f"no region of {name} at any of the 2 points in {path}"
    )


def test_points_without_a_region_are_named_under_the_table(run, tmp_path: Path) -> None:
    path = tmp_path / "points.csv"
    rows = [INSIDE_A_LEFT, [500, 0, 0], INSIDE_NUCLEUS_C]
    pd.DataFrame(rows, columns=["x", "y", "z"]).to_csv(path, index=False)
    result = run("assign", "toy", "toy", "--points", str(path))
    assert result.exit_code == 0, result.output
    name = neuratlas.get_map("toy", "toy").name
    assert result.stdout.splitlines()[-1] == f"no region of {name} at input 1"


# --- the table: best first, only the columns that mean something, strict JSON ---------------
HO = ("HO_CORTICAL", "MNI152 NLin6")  # the embedded Harvard-Oxford cortical atlas (slow to load)
PARIETAL = "-32,-60,48"  # four regions with a probability there


def _table(text: str) -> tuple[list[str], list[list[str]]]:
    """The header words and the cells of each row of a printed table (wrapped cells joined)."""
    lines = text.splitlines()
    header = [line for line in lines if "┃" in line]
    names = [
        " ".join(parts).strip()
        for parts in zip(*(h.split("┃")[1:-1] for h in header), strict=True)
    ]
    rows: list[list[str]] = []
    for line in lines:
        if "│" not in line:
            continue
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if rows and not cells[-1]:  # a continuation line of a wrapped name
            rows[-1] = [" ".join(filter(None, p)) for p in zip(rows[-1], cells, strict=True)]
        else:
            rows.append(cells)
    return [" ".join(n.split()) for n in names], rows


@pytest.mark.slow  # the first to load the embedded map takes 3-9 s
def test_rows_of_an_exact_point_by_probability() -> None:
    # not the run fixture: its catalogue is the toy one, the embedded atlases are not in it
    result = CliRunner().invoke(cli, ["assign", *HO, f"--point={PARIETAL}", "-t", "statistical"])
    assert result.exit_code == 0, result.output
    header, rows = _table(result.stdout)
    # correlation is undefined at one voxel, the overlaps compare it with a whole region
    assert header == ["region", "map value"]
    assert "nan" not in result.stdout
    values = [float(r[1]) for r in rows]
    assert values == sorted(values, reverse=True) and len(values) == 4
    expected = neuratlas.get_map(*HO, "statistical").assign(
        neuratlas.Point(PARIETAL, "MNI152 NLin6")
    )
    best = expected.loc[expected["map value"].idxmax(), "region"]
    assert rows[0][0] == best == "Lateral Occipital Cortex superior division - left hemisphere"


@pytest.mark.slow  # the first to load the embedded map takes 3-9 s
def test_rows_of_a_blob_by_containedness_in_every_output(tmp_path: Path) -> None:
    args = ["assign", *HO, f"--point={PARIETAL}", "--sigma", "4", "-t", "statistical"]
    table = CliRunner().invoke(cli, args)
    header, rows = _table(table.stdout)
    assert header == [
        "region",
        "map value",
        "IoU",
        "input contained",
        "map contained",
        "correlation",
    ]
    contained = [float(r[3]) for r in rows]
    assert contained == sorted(contained, reverse=True) and len(rows) > 3
    as_json = json.loads(CliRunner().invoke(cli, [*args, "--json"]).stdout)
    assert [r["region"] for r in as_json] == [r[0] for r in rows]
    CliRunner().invoke(cli, [*args, "-o", str(tmp_path / "rows.csv")])
    assert pd.read_csv(tmp_path / "rows.csv")["region"].tolist() == [r[0] for r in rows]


def test_best_first_within_each_input(tmp_path: Path) -> None:
    table = pd.DataFrame(
        {
            "input structure": [0, 0, 1, 1, 1],
            "volume": [0.0, 0.0, 8.0, 8.0, 8.0],
            "region": ["a", "b", "c", "d", "e"],
            "map value": [0.2, 0.5, 0.9, 0.0, 0.0],
            "input containedness": [0.2, 0.5, 0.1, 0.6, 0.6],
            "intersection over union": [0.0, 0.0, 0.1, 0.2, 0.3],
        }
    )
    assert best_first(table)["region"].tolist() == ["b", "a", "e", "d", "c"]


@pytest.mark.slow  # the first to load the embedded map takes 3-9 s
def test_json_is_strict_where_correlation_is_undefined() -> None:
    result = CliRunner().invoke(cli, ["assign", *HO, f"--point={PARIETAL}", "--json"])
    assert result.exit_code == 0, result.output

    def refuse(token: str) -> None:
        raise AssertionError(f"{token} in --json output")

    (row,) = json.loads(result.stdout, parse_constant=refuse)
    assert row["correlation"] is None
    assert row["region"] == "Lateral Occipital Cortex superior division - left hemisphere"


def test_input_column_only_for_several_inputs(run, tmp_path: Path) -> None:
    one = run("assign", "toy", "toy", f"--point={as_arg(INSIDE_A_LEFT)}")
    assert _table(one.stdout)[0] == ["region", "map value"]
    path = tmp_path / "points.csv"
    pd.DataFrame([INSIDE_A_LEFT, INSIDE_NUCLEUS_C], columns=["x", "y", "z"]).to_csv(
        path, index=False
    )
    header, rows = _table(run("assign", "toy", "toy", "--points", str(path)).stdout)
    assert header == ["input", "region", "map value"]
    assert rows == [["0", "Area A - left hemisphere", "1"], ["1", "Nucleus C", "1"]]


# --- -o: the format by extension, checked before any work -----------------------------------
@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".json"])
def test_output_format_by_extension(run, tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"rows{suffix}"
    result = run("assign", "toy", "toy", f"--point={as_arg(INSIDE_A_LEFT)}", "-o", str(out))
    assert result.exit_code == 0, result.output
    if suffix == ".json":
        (row,) = json.loads(out.read_text())
    else:
        (row,) = pd.read_csv(out, sep="\t" if suffix == ".tsv" else ",").to_dict("records")
    assert list(row) == COLUMNS
    assert row["region"] == "Area A - left hemisphere"


def test_unknown_output_format_fails_before_any_work(run, tmp_path: Path) -> None:
    # the points file does not exist either: the -o error comes first, nothing is read
    out = tmp_path / "rows.txt"
    missing = tmp_path / "missing.csv"
    result = run("assign", "toy", "toy", "--points", str(missing), "-o", str(out))
    assert isinstance(result.exception, ArgumentError)
    assert result.exception.message == (
        f"--output {str(out)!r} does not end in .csv or .tsv or .json or .parquet or .xlsx"
    )
    assert result.exception.hint == "name the file e.g. rows.csv"


def test_output_into_a_missing_folder_exits_2(script, tmp_path: Path) -> None:
    done = script("assign", PARC_ID, SPACE_ID, "--point=0,0,0", "-o", "new/rows.csv")
    assert done.returncode == 2
    assert done.stderr.splitlines()[0] == (
        "error: cannot write new/rows.csv: the folder new does not exist"
    )
    assert not (tmp_path / "new").exists()


@pytest.mark.slow
def test_maxprob_threshold_picks_the_thresholded_map(tmp_path: Path) -> None:
    # MNI (0, 0, 0): the subcortical maximum-probability map answers with a region of
    # probability 0.02; the map thresholded at 25 % has no region there
    from typer.testing import CliRunner

    from neuratlas.cli.main import cli

    runner = CliRunner()
    args = ["assign", "harvard subcortical", "MNI152 NLin6", "--point=0,0,0", "--json"]
    plain = runner.invoke(cli, args)
    assert plain.exit_code == 0, plain.output
    rows = json.loads(plain.stdout)
    assert rows and all(row["map value"] < 0.25 for row in rows)
    thresholded = runner.invoke(cli, [*args, "--maxprob-threshold", "0.25"])
    assert thresholded.exit_code == 0, thresholded.output
    assert json.loads(thresholded.stdout) == []
    wrong = runner.invoke(cli, [*args, "--maxprob-threshold", "0.3"])
    assert isinstance(wrong.exception, NotFoundError)
    assert "0.25" in str(wrong.exception) and "0.5" in str(wrong.exception)
