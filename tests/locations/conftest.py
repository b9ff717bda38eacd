"""Fixtures for the location tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from neuratlas.catalogue import Catalogue


@pytest.fixture
def spaces(toy_folder: Path, tmp_path: Path):
    """Two different spaces: the toy space and a copy of it under another @id."""
    (tmp_path / "spaces").mkdir()
    spec = json.loads((toy_folder / "spaces" / "toy.json").read_text())
    spec.update({"@id": "other/space", "name": "Other space", "shortName": "other"})
    (tmp_path / "spaces" / "other.json").write_text(json.dumps(spec))
    return (
        Catalogue([toy_folder], strict=True).spaces[0],
        Catalogue([tmp_path], strict=True).spaces[0],
    )
