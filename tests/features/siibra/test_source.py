"""Reading a configuration's ``features/`` folder: order, bad specs, the registered source."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import neuratlas
from neuratlas import catalogue
from neuratlas.configuration.loader import SpecWarning
from neuratlas.errors import SpecError
from neuratlas.features import sources
from neuratlas.features.siibra import (
    configuration_features,
    load_folder,
    read_spec,
)
from neuratlas.features.siibra.source import spec_files
from neuratlas.features.siibra.specs import ConnectivitySpec
from tests.features.siibra import layout


@pytest.fixture
def copy(features_folder: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(features_folder, tmp_path / "features"))


def test_spec_files_are_in_path_order(features_folder: Path) -> None:
    files = [p.relative_to(features_folder).as_posix() for p in spec_files(features_folder)]
    assert files == sorted(layout.specs("x"))


def test_a_missing_folder_holds_no_features(tmp_path: Path) -> None:
    assert load_folder(tmp_path / "nowhere") == []


def test_read_spec_returns_model_and_json(features_folder: Path) -> None:
    spec, raw = read_spec(features_folder / "connectivity/regional/streamlinecounts/sc_hcp.json")
    assert isinstance(spec, ConnectivitySpec)
    assert raw["@id"] == "test/sc/hcp"
    assert spec.repository is not None and spec.decoder.options == {
        "header": None,
        "index_col": False,
    }


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", r"not valid JSON \(line 1, column 2\)"),
        ("[1, 2]", r"\$: expected a JSON object"),
        ('{"@type": "siibra/feature/nope/v9"}', r"unknown @type 'siibra/feature/nope/v9'"),
        ('{"region": "a"}', r"unknown @type None"),
        (
            '{"@type": "siibra/feature/fingerprint/receptor/v0.1", "region": "a"}',
            r"\$\.file: Field required",
        ),
        (
            json.dumps(
                {
                    "@type": "siibra/feature/connectivitymatrix/v0.3",
                    "modality": "Telepathy",
                    "regions": [],
                    "files": {},
                }
            ),
            r"\$\.modality: Input should be 'StreamlineCounts'",
        ),
        (
            json.dumps(
                {
                    "@type": "siibra/feature/timeseries/activity/v0.1",
                    "regions": [],
                    "files": {},
                    "timestep": "fast",
                }
            ),
            r"\$\.timestep: expected '<number> <unit>'",
        ),
        (
            json.dumps(
                {
                    "@type": "siibra/feature/fingerprint/celldensity/v0.1",
                    "segmentfiles": ["a", "b"],
                    "layerfiles": ["a"],
                }
            ),
            r"1 layer files for 2 segment files",
        ),
        (
            json.dumps(
                {
                    "@type": "siibra/feature/tabular/v0.1",
                    "file": "x.csv",
                    "decoder": {"@type": "siibra/decoder/nrrd"},
                }
            ),
            r"only csv decoders are known",
        ),
    ],
)
def test_bad_specs_are_spec_errors_naming_file_and_path(
    tmp_path: Path, content: str, message: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content, encoding="utf-8")
    with pytest.raises(SpecError, match=message) as info:
        read_spec(bad)
    assert info.value.file == str(bad)


def test_a_bad_spec_is_skipped_with_one_warning(copy: Path) -> None:
    good = len(load_folder(copy, strict=True))
    bad = copy / "tabular" / "fingerprints" / "receptor" / "broken.json"
    bad.write_text('{"@type": "siibra/feature/fingerprint/receptor/v0.1"}', encoding="utf-8")
    with pytest.warns(SpecWarning, match=r"skipped .*broken\.json:\$\.file: Field required"):
        features = load_folder(copy)
    assert len(features) == good
    with pytest.raises(SpecError, match=r"broken\.json"):
        load_folder(copy, strict=True)


def test_unknown_types_are_skipped_too(copy: Path) -> None:
    (copy / "v2.json").write_text('{"@type": "siibra/concepts/feature/v0.2"}', encoding="utf-8")
    with pytest.warns(SpecWarning, match="unknown @type 'siibra/concepts/feature/v0.2'"):
        load_folder(copy)


def test_the_source_reads_every_configuration_folder(config_root: Path) -> None:
    previous = catalogue._active
    try:
        neuratlas.extend_configuration(config_root)
        found = configuration_features()
        assert {f.id for f in found} >= {"test/sc/hcp--000", "test/fingerprint/insula"}
        assert len(found) == len(load_folder(config_root / "features"))
    finally:
        catalogue._active = previous
    assert "siibra-configuration" in sources.static_sources()


def test_get_features_finds_the_specs_features(config_root: Path) -> None:
    previous = catalogue._active
    try:
        neuratlas.extend_configuration(config_root)
        region = neuratlas.get_region("harvard-oxford-cortical", "Insular Cortex left")
        fps = neuratlas.features.get_features(region, "receptor fingerprint")
        assert [f.id for f in fps] == ["test/fingerprint/insula"]
        assert fps[0].match is not None
        conn = neuratlas.features.get_features(region, "streamline counts")
        assert {f.id for f in conn} == {"test/sc/hcp--000", "test/sc/hcp--001"}
        assert {f.match.qualification.value for f in conn} == {"contains"}
        only = neuratlas.features.get_features(region, "streamline counts", subject="001")
        assert [f.id for f in only] == ["test/sc/hcp--001"]
        assert neuratlas.features.get_instance_by_id("test/sc/hcp--001").subject == "001"
    finally:
        catalogue._active = previous
