"""Each kind of siibra feature spec becomes the right feature, anchored as siibra anchors it,
and its data decode to what the local server serves."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from neuratlas.errors import DataUnavailableError, ResponseError, SpecError
from neuratlas.features import (
    AnatomoFunctionalConnectivity,
    CellDensityProfile,
    FunctionalConnectivity,
    LayerwiseCellDensity,
    ReceptorDensityFingerprint,
    ReceptorDensityProfile,
    RegionalTimeseriesActivity,
    Section,
    StreamlineCounts,
    StreamlineLengths,
    Tabular,
    TracingConnectivity,
    VolumeOfInterest,
)
from neuratlas.features.siibra import load_file, load_folder
from neuratlas.features.siibra.build import readable, spec_id
from neuratlas.features.siibra.specs import ReceptorFingerprintSpec
from tests.features.siibra import layout


@pytest.fixture(scope="module")
def by_id(features_folder: Path) -> dict:
    return {f.id: f for f in load_folder(features_folder, strict=True)}


def _one(by_id: dict, cls: type) -> object:
    found = [f for f in by_id.values() if type(f) is cls]
    assert len(found) == 1, [f.id for f in found]
    return found[0]


def test_every_kind_loads_once(by_id: dict) -> None:
    kinds = sorted(type(f).__name__ for f in by_id.values())
    assert kinds == sorted(
        [
            "AnatomoFunctionalConnectivity",
            "FunctionalConnectivity",
            "StreamlineCounts",
            "StreamlineCounts",
            "StreamlineLengths",
            "TracingConnectivity",
            "RegionalTimeseriesActivity",
            "ReceptorDensityFingerprint",
            "ReceptorDensityProfile",
            "CellDensityProfile",
            "LayerwiseCellDensity",
            "Tabular",
            "VolumeOfInterest",
            "VolumeOfInterest",
            "Section",
        ]
    )
    assert all(f.source == "siibra-configuration" for f in by_id.values())
    assert not any(f.loaded for f in by_id.values())  # nothing fetched while loading


def test_streamline_counts_per_subject_from_a_zip(by_id: dict) -> None:
    first, second = by_id["test/sc/hcp--000"], by_id["test/sc/hcp--001"]
    assert isinstance(first, StreamlineCounts)
    assert first.name == "000 - Streamline Counts cohort: HCP"  # siibra's name
    assert first.subject == "000" and first.cohort == "HCP"
    assert first.anchor.parcellation == layout.HO_CORTICAL
    assert first.anchor.species == "Homo sapiens" and first.anchor.regions == ()
    assert first.regions == layout.REGIONS
    np.testing.assert_array_equal(first.data.to_numpy(), layout.EXPECTED["sc/000"])
    np.testing.assert_array_equal(second.data.to_numpy(), layout.EXPECTED["sc/001"])
    assert list(first.data.index) == list(first.data.columns) == layout.REGIONS


def test_functional_connectivity_tab_delimited(by_id: dict) -> None:
    fc = _one(by_id, FunctionalConnectivity)
    assert fc.name == "average - Functional Connectivity cohort: HCP, paradigm: Resting state"
    assert fc.metadata["paradigm"] == "Resting state"
    np.testing.assert_allclose(fc.data.to_numpy(), layout.EXPECTED["fc/average"])


def test_other_connectivity_kinds(by_id: dict) -> None:
    lengths = _one(by_id, StreamlineLengths)
    np.testing.assert_array_equal(lengths.data.to_numpy(), layout.EXPECTED["sl/000"])
    afc = _one(by_id, AnatomoFunctionalConnectivity)
    # files indexed by feature: the key names the feature, the subject is the average
    assert afc.name.startswith("ccep - Anatomo Functional Connectivity cohort: F-TRACT")
    assert afc.subject == "average" and afc.metadata["feature"] == "ccep"
    np.testing.assert_array_equal(afc.data.to_numpy(), layout.EXPECTED["afc/ccep"])
    tracing = _one(by_id, TracingConnectivity)
    np.testing.assert_array_equal(tracing.data.to_numpy(), layout.EXPECTED["tracing/average"])


def test_timeseries(by_id: dict) -> None:
    bold = _one(by_id, RegionalTimeseriesActivity)
    assert bold.name == "sub-01 - Regional BOLD cohort: HCP, paradigm: rest"
    data = bold.data
    np.testing.assert_allclose(data.to_numpy(), layout.EXPECTED["bold/sub-01"])
    assert list(data.columns) == layout.REGIONS
    assert data.index[1].total_seconds() == pytest.approx(0.72)


def test_fingerprint(by_id: dict) -> None:
    fp = by_id["test/fingerprint/insula"]
    assert isinstance(fp, ReceptorDensityFingerprint)
    assert fp.anchor.regions == ("Insular Cortex left",) and fp.anchor.parcellation is None
    data = fp.data
    assert data.index.name == "receptor" and list(data.columns) == ["mean", "std"]
    for name, (mean, sd) in layout.EXPECTED["fingerprint"].items():
        assert tuple(data.loc[name]) == (mean, sd)
    assert data.attrs["unit"] == "fmol/mg"


def test_receptor_profile(by_id: dict) -> None:
    profile = _one(by_id, ReceptorDensityProfile)
    assert profile.name == "Receptor Density Profile: AMPA"
    assert profile.metadata["receptor"] == "AMPA"
    data = profile.data
    np.testing.assert_allclose(data.index, np.arange(11) / 10)
    np.testing.assert_allclose(data.iloc[:, 0], layout.EXPECTED["profile"])


def _densities() -> dict[int, float]:
    factor = 20 * np.cbrt(1.931) / 100**3
    return {
        k: layout.CELLS_PER_LAYER[k] / (layout.LAYER_AREAS[k] * factor) for k in layout.LAYER_AREAS
    }


def test_cell_densities(by_id: dict) -> None:
    layers = _one(by_id, LayerwiseCellDensity).data
    assert list(layers["layer"]) == [1, 2, 3]
    assert list(layers["counts"]) == [3, 5, 4]
    np.testing.assert_allclose(layers["density"], list(_densities().values()))
    profile = _one(by_id, CellDensityProfile)
    assert profile.metadata == {"section": "1234", "patch": "0001"}
    data = profile.data
    # layer mid-depths from their share of the patch: 0.1, 0.35, 0.75
    np.testing.assert_allclose(data.index, [0.1, 0.35, 0.75])
    np.testing.assert_allclose(data.iloc[:, 0], list(_densities().values()))


def test_generic_table(by_id: dict) -> None:
    table = _one(by_id, Tabular)
    assert table.name == "A table" and table.metadata == {"measurement": "test measurements"}
    np.testing.assert_array_equal(table.data.to_numpy(), layout.EXPECTED["table"])


def test_images(by_id: dict) -> None:
    voi = by_id["test/voi/mri"]
    assert isinstance(voi, VolumeOfInterest) and voi.name == "A block (T2 MRI)"
    assert voi.anchor.space == layout.MNI
    assert voi.anchor.location is not None
    img = voi.data
    np.testing.assert_array_equal(np.asanyarray(img.dataobj), layout.EXPECTED["voi"])
    np.testing.assert_array_equal(img.affine, layout.VOI_AFFINE)
    section = _one(by_id, Section)
    assert section.name == "Section 1 (cell body staining)"
    np.testing.assert_array_equal(np.asanyarray(section.data.dataobj), layout.EXPECTED["section"])
    ng = next(f for f in by_id.values() if f.name == "A precomputed block (XPCT)")
    np.testing.assert_array_equal(np.asanyarray(ng.data.dataobj), layout.EXPECTED["precomputed"])
    # transform.json (nm) of the finest scale, in mm
    np.testing.assert_allclose(ng.data.affine[:3, 3], [-5, -3, 0])
    np.testing.assert_allclose(np.diag(ng.data.affine)[:3], [2, 2, 2])


def test_ids_are_stable_and_the_spec_id_wins(features_folder: Path) -> None:
    again = {f.id for f in load_folder(features_folder, strict=True)}
    first = {f.id for f in load_folder(features_folder, strict=True)}
    assert again == first
    raw = {"@type": "siibra/feature/fingerprint/receptor/v0.1", "region": "a", "file": "x.tsv"}
    spec = ReceptorFingerprintSpec.model_validate(raw)
    assert spec_id(spec, raw) == spec_id(spec, dict(reversed(raw.items())))
    assert spec_id(spec, raw).startswith("siibra-spec/")
    with_id = ReceptorFingerprintSpec.model_validate({**raw, "@id": "mine"})
    assert spec_id(with_id, raw) == "mine"


def test_readable_names() -> None:
    assert readable("StreamlineCounts") == "Streamline Counts"
    assert readable("AnatomoFunctionalConnectivity") == "Anatomo Functional Connectivity"


def _write(tmp_path: Path, spec: dict, name: str = "spec.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(spec), encoding="utf-8")
    return path


def test_no_species_is_a_spec_error(tmp_path: Path) -> None:
    spec = {"@type": "siibra/feature/fingerprint/receptor/v0.1", "region": "a", "file": "x.tsv"}
    with pytest.raises(SpecError, match=r"\$\.ebrains: no species can be read"):
        load_file(_write(tmp_path, spec))


def test_connectivity_without_parcellation_is_a_spec_error(tmp_path: Path) -> None:
    spec = layout.specs("http://x")["connectivity/regional/streamlinelengths/sl_hcp.json"]
    del spec["parcellation"]
    with pytest.raises(
        SpecError, match=r"\$\.parcellation: a connectivity spec needs the parcellation"
    ):
        load_file(_write(tmp_path, spec))


def test_a_table_without_region_or_parcellation_is_a_spec_error(tmp_path: Path) -> None:
    spec = layout.specs("http://x")["tabular/fingerprints/receptor/fp_insula.json"]
    del spec["region"]
    with pytest.raises(SpecError, match="neither a region nor a parcellation"):
        load_file(_write(tmp_path, spec))


def test_matrix_size_must_match_the_regions(tmp_path: Path, server) -> None:
    spec = layout.specs(server.base_url)["connectivity/regional/streamlinelengths/sl_hcp.json"]
    spec["regions"] = spec["regions"][:3]
    (feature,) = load_file(_write(tmp_path, spec))
    with pytest.raises(ResponseError, match="4x4 matrix, but the spec lists 3 regions"):
        feature.data  # noqa: B018


def test_a_non_square_table_is_refused(tmp_path: Path, server) -> None:
    spec = layout.specs(server.base_url)["tabular/activity_timeseries/bold/bold.json"]
    conn = layout.specs(server.base_url)["connectivity/regional/streamlinelengths/sl_hcp.json"]
    conn["base_url"] = spec["repository"]["url"] + " "
    conn["files"] = {"000": "sub-01/bold.csv"}
    (feature,) = load_file(_write(tmp_path, conn))
    with pytest.raises(ResponseError, match="6x4 table, not a square matrix"):
        feature.data  # noqa: B018


def test_an_image_without_a_readable_provider(tmp_path: Path) -> None:
    spec = layout.specs("http://x")["images/vois/mri/voi.json"]
    spec["providers"] = {"gii-mesh": "http://x/a.gii"}
    (feature,) = load_file(_write(tmp_path, spec))
    with pytest.raises(DataUnavailableError, match="gii-mesh"):
        feature.data  # noqa: B018
