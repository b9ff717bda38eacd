"""The façade in ``neuratlas/__init__.py`` on the embedded catalogue."""

from __future__ import annotations

import subprocess
import sys

import nibabel as nib
import pytest

import neuratlas


def test_version_and_public_names() -> None:
    assert neuratlas.__version__.count(".") == 2
    for name in neuratlas.__all__:
        assert getattr(neuratlas, name) is not None, name
    assert set(neuratlas.__all__) <= set(dir(neuratlas))
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        neuratlas.nothing_here  # noqa: B018


def test_import_reads_no_spec_and_no_image() -> None:
    code = (
        "import sys, neuratlas\n"
        "assert 'nibabel' not in sys.modules and 'pandas' not in sys.modules\n"
        "from neuratlas import catalogue\n"
        "assert catalogue._active is None\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_shortcuts_agree_with_the_objects() -> None:
    region = neuratlas.get_region("aal3", "Hippocampus left")
    assert region is neuratlas.parcellations["aal3"].get_region("Hippocampus - left hemisphere")
    the_map = neuratlas.get_map("aal3", "MNI152 NLin6", "labelled")
    assert the_map is region.parcellation.get_map("MNI152 NLin6")
    template = neuratlas.get_template("MNI152 NLin6")
    assert template is neuratlas.get_space("MNI152 NLin6").get_template()
    assert isinstance(neuratlas.fetch_template("MNI152 NLin6"), nib.Nifti1Image)
    assert neuratlas.MapType("statistical") is neuratlas.MapType.STATISTICAL


def test_assign_shortcut_uses_the_points_space() -> None:
    point = neuratlas.Point((-25, -22, -12), "MNI152 NLin6")  # left hippocampus
    table = neuratlas.assign(point, "aal3")
    assert list(table["region"].astype(str)) == ["Hippocampus - left hemisphere"]
    with pytest.raises(neuratlas.NotFoundError, match="no labelled map"):
        neuratlas.assign(neuratlas.Point((0, 0, 0), "fsaverage5"), "aal3")


def test_find_regions_ranks_exact_names_first() -> None:
    hits = neuratlas.find_regions("Hippocampus - left hemisphere")
    assert hits[0].name == "Hippocampus - left hemisphere"
    assert len({h.parcellation.id for h in hits}) > 1
