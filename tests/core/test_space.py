"""Tests of neuratlas.core.space on the toy atlas and on a generated multi-variant space."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from neuratlas.catalogue import Catalogue
from neuratlas.errors import NotFoundError
from tests.toy_atlas import AFFINE, SHAPE, SPACE_ID


@pytest.fixture
def space(toy):
    return toy.spaces[SPACE_ID]


def test_identity(space) -> None:
    assert space.name == "Toy space"
    assert space.key == "TOY"
    assert space.modality == "T1"
    assert repr(space) == "<Space 'Toy space' (volume, 1 template volume(s))>"


def test_template(space, toy_folder: Path) -> None:
    volume = space.get_template()
    assert volume is space.volumes[0]
    assert not space.is_surface
    assert space.variants == [None]
    img = volume.fetch()
    assert img.shape == SHAPE
    np.testing.assert_allclose(img.affine, AFFINE)
    expected = np.linspace(0, 1000, np.prod(SHAPE), dtype=np.float32).reshape(SHAPE)
    np.testing.assert_array_equal(np.asanyarray(img.dataobj), expected)
    assert volume.path().resolve() == (toy_folder / "data" / "template.nii.gz").resolve()


def test_parcellations_mapped_in_space(space, toy) -> None:
    assert {p.id for p in space.parcellations} == {p.id for p in toy.parcellations}


def test_variant_needs_a_match(space) -> None:
    with pytest.raises(NotFoundError, match="space 'Toy space' has no template variant 'pial'"):
        space.get_template("pial")


@pytest.fixture
def variants(tmp_path: Path, toy_folder: Path) -> Catalogue:
    (tmp_path / "spaces").mkdir()
    template = str(toy_folder / "data" / "template.nii.gz")
    labels = str(toy_folder / "data" / "labels.nii.gz")
    spec = {
        "@id": "gen/space",
        "@type": "siibra/space/v0.0.1",
        "name": "Generated space",
        "volumes": [
            {"providers": {"nii": template}, "variant": "T1"},
            {"providers": {"nii": labels}, "variant": "grey matter"},
        ],
    }
    (tmp_path / "spaces" / "gen.json").write_text(json.dumps(spec))
    empty = {"@id": "gen/empty", "@type": "siibra/space/v0.0.1", "name": "Empty space"}
    (tmp_path / "spaces" / "empty.json").write_text(json.dumps(empty))
    return Catalogue([tmp_path], strict=True)


def test_variants(variants: Catalogue) -> None:
    space = variants.spaces["gen/space"]
    assert space.variants == ["T1", "grey matter"]
    assert space.get_template("grey").variant == "grey matter"
    assert space.get_template("GREY_MATTER").variant == "grey matter"
    assert space.get_template().variant == "T1"
    with pytest.raises(NotFoundError) as info:
        space.get_template("white matter")
    assert info.value.suggestions == ["T1", "grey matter"]


def test_space_without_template(variants: Catalogue) -> None:
    space = variants.spaces["Empty space"]
    assert not space.is_surface
    assert space.short_name == "Empty space"
    with pytest.raises(NotFoundError, match="space 'Empty space' has no template volume"):
        space.get_template()
