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


def test_get_parcellation() -> None:
    juelich = neuratlas.get_parcellation("juelich")
    assert juelich is neuratlas.parcellations["juelich"]
    assert "get_parcellation" in neuratlas.__all__
    # two atlases answer to "harvard": the lookup says so instead of picking one
    with pytest.raises(neuratlas.AmbiguousError) as info:
        neuratlas.get_parcellation("harvard")
    assert info.value.candidates == [
        "Harvard-Oxford cortical structural atlas",
        "Harvard-Oxford subcortical structural atlas",
    ]
    with pytest.raises(neuratlas.AmbiguousError, match="'harvard' matches 2 parcellations"):
        neuratlas.get_region("harvard", "frontal pole")
    with pytest.raises(neuratlas.NotFoundError, match="no parcellation matches 'mni152'"):
        neuratlas.get_parcellation("mni152")


def test_find_regions_ranks_abbreviations_before_longer_words() -> None:
    names = [r.name for r in neuratlas.find_regions("hIP")]
    assert names[:3] == [f"Anterior intra-parietal sulcus hIP{i}" for i in (1, 2, 3)]
    assert names.index("Hippocampus") > names.index("Anterior intra-parietal sulcus hIP3")
