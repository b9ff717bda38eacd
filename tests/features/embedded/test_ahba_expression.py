"""AHBA gene expression from the Allen API, end to end against the fake API."""

from __future__ import annotations

import json
import socket
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import neuratlas
from neuratlas.allen.client import AllenClient
from neuratlas.errors import (
    ArgumentError,
    DataUnavailableError,
    NotFoundError,
    ResponseError,
    RMAError,
)
from neuratlas.features import get_features, get_instance_by_id
from neuratlas.features.embedded import ahba  # registers the live query
from neuratlas.features.embedded import ahba_expression as expression
from neuratlas.features.embedded import ahba_samples as samples
from neuratlas.features.sources import live_queries
from neuratlas.features.tabular import GeneExpressions
from neuratlas.locations.boundingbox import BoundingBox
from neuratlas.locations.point import Point
from tests.allen.fake_allen_api import Reply, Request
from tests.features.embedded import fake_microarray as fake
from tests.features.embedded.fake_microarray import FakeMicroarrayAPI

SPACE = "neuratlas/space/mni152-2009c-nonl-asym"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("NEURATLAS_CACHE", str(root))
    return root


def _serve(api: FakeMicroarrayAPI, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeMicroarrayAPI]:
    api.start()
    monkeypatch.setenv("NEURATLAS_ALLEN_API", api.base_url)
    try:
        yield api
    finally:
        api.stop()


@pytest.fixture
def api(cache: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeMicroarrayAPI]:
    """The fake Allen API with the microarray endpoints, used by the default client."""
    yield from _serve(FakeMicroarrayAPI(), monkeypatch)


@pytest.fixture(scope="module")
def region():
    return neuratlas.get_region("desikan", "precentral left")


def _microarray_requests(api: FakeMicroarrayAPI) -> list[Request]:
    return [r for r in api.requests if "human_microarray" in r.params.get("criteria", "")]


# --- probes ---------------------------------------------------------------------------
def test_probes_of_a_gene(api: FakeMicroarrayAPI) -> None:
    found = expression.probes("PVALB")
    table = fake.probe_table()
    expected = table[table["gene_symbol"] == "PVALB"]
    assert list(found.columns) == ["probe_id", "probe", "gene"]
    assert list(found["probe"]) == list(expected["probe_name"])
    assert list(found["probe_id"]) == list(expected["probe_id"])
    assert set(found["gene"]) == {"PVALB"}


def test_probes_fix_the_case_of_a_symbol(api: FakeMicroarrayAPI) -> None:
    assert set(expression.probes("pvalb")["gene"]) == {"PVALB"}
    assert any("'PVALB'" in r.params.get("criteria", "") for r in api.requests)


def test_probes_of_a_gene_with_many(api: FakeMicroarrayAPI) -> None:
    table = fake.probe_table()
    assert len(expression.probes("MAOA")) == (table["gene_symbol"] == "MAOA").sum() > 30


def test_an_unknown_gene_suggests_close_symbols(api: FakeMicroarrayAPI) -> None:
    with pytest.raises(NotFoundError, match="no probe of the gene 'MAOX'") as caught:
        expression.probes("MAOX")
    assert "MAOB" in caught.value.suggestions
    assert "did you mean" in str(caught.value)


@pytest.mark.parametrize("bad", ["", "  ", "MA'OA", "MAOA,GAD1", 42, None])
def test_a_bad_gene_is_refused_before_any_request(api: FakeMicroarrayAPI, bad: object) -> None:
    with pytest.raises(ArgumentError, match="gene"):
        expression.probes(bad)  # type: ignore[arg-type]
    assert api.requests == []


# --- the expression table -------------------------------------------------------------
def test_expression_table_holds_every_sample_and_probe(api: FakeMicroarrayAPI) -> None:
    table = expression.expression_table("PVALB")
    assert tuple(table.columns) == expression.COLUMNS
    assert len(table) == 3702 * 2
    assert table["well_id"].nunique() == 3702
    assert len(_microarray_requests(api)) == 6  # one per donor


def test_expression_values_are_the_apis(api: FakeMicroarrayAPI) -> None:
    table = expression.expression_table("PVALB")
    owner = fake.donor_of_wells()
    coords = samples.sample_coordinates().set_index("well_id")
    for (donor, probe_id), rows in table.groupby(["donor", "probe_id"]):
        assert set(rows["well_id"].map(owner)) == {donor}
        # positions are abagen's corrected coordinates of the wells
        np.testing.assert_array_equal(
            rows[["x", "y", "z"]].to_numpy(), coords.loc[rows["well_id"]].to_numpy()
        )
        xyz = rows[["x", "y", "z"]].to_numpy()
        levels = fake.expression_level(int(probe_id), xyz, donor)
        # the API writes 4 decimals
        np.testing.assert_allclose(rows["expression"], levels, atol=5e-5)
        np.testing.assert_allclose(rows["z-score"], fake.z_scores(levels), atol=5e-5)
    first = table.iloc[0]
    structure = fake.structure_of(np.array([[first["x"], first["y"], first["z"]]]))[0]
    assert first["structure"] == structure["name"]
    assert first["structure_acronym"] == structure["abbreviation"]
    donors = samples.donor_table().set_index("donor")
    assert first["age"] == donors.loc[first["donor"], "age"]
    assert first["sex"] == donors.loc[first["donor"], "sex"]


def test_expression_table_of_several_genes(api: FakeMicroarrayAPI) -> None:
    table = expression.expression_table(["PVALB", "GRIN1"])
    assert set(table["gene"]) == {"PVALB", "GRIN1"}
    assert table.groupby("gene")["probe_id"].nunique().to_dict() == {"GRIN1": 4, "PVALB": 2}
    with pytest.raises(ArgumentError, match="no gene"):
        expression.expression_table([])
    twice = expression.expression_table(["PVALB", "pvalb"])
    assert len(twice) == 2 * 3702


def test_a_donor_without_samples_adds_no_rows(api: FakeMicroarrayAPI) -> None:
    api.add_fault(
        lambda request: (
            Reply(envelope={"msg": {"probes": [], "samples": []}})
            if "donors$eq12876" in request.params.get("criteria", "")
            else None
        )
    )
    table = expression.expression_table("PVALB")
    assert "H0351.1009" not in set(table["donor"])
    assert table["donor"].nunique() == 5


def test_answers_are_cached_on_disk(api: FakeMicroarrayAPI, cache: Path) -> None:
    first = expression.expression_table("PVALB")
    asked = len(api.requests)
    files = sorted(p.name for p in (cache / "allen").glob("ahba-*.json"))
    assert sum(name.startswith("ahba-microarray-") for name in files) == 6
    assert sum(name.startswith("ahba-probes-") for name in files) == 1
    again = expression.expression_table("PVALB")
    assert len(api.requests) == asked  # no new request
    pd.testing.assert_frame_equal(first, again)
    # a client that keeps no cache asks again
    with AllenClient(api.base_url, use_cache=False) as client:
        expression.expression_table("PVALB", client=client)
    assert len(api.requests) == asked + 1 + 6


def test_a_damaged_cache_entry_is_fetched_again(api: FakeMicroarrayAPI, cache: Path) -> None:
    expression.probes("PVALB")
    (entry,) = (cache / "allen").glob("ahba-probes-*.json")
    entry.write_text("{not json")
    asked = len(api.requests)
    assert len(expression.probes("PVALB")) == 2
    assert len(api.requests) == asked + 1
    assert len(json.loads(entry.read_text())) == 2


def test_wells_unknown_to_abagen_are_placed_by_the_donors_alignment(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for api in _serve(FakeMicroarrayAPI(extra_samples=3), monkeypatch):
        table = expression.expression_table("PVALB")
        known = set(samples.sample_coordinates()["well_id"])
        extra = table[~table["well_id"].isin(known)].drop_duplicates("well_id")
        assert len(extra) == 6 * 3
        # the fake put them at x=-30, y in [-20, 20], z=10; MRI voxels are rounded (<1 mm)
        assert np.all(np.abs(extra["x"] + 30) < 1.0)
        assert np.all(np.abs(extra["z"] - 10) < 1.0)
        for donor, rows in extra.groupby("donor"):
            np.testing.assert_allclose(rows["y"], np.linspace(-20, 20, 3), atol=1.0)
            assert donor in fake.SAMPLE_COUNTS
        assert len([r for r in api.requests if "Specimen" in r.params.get("criteria", "")]) == 6


# --- features -------------------------------------------------------------------------
def test_gene_expressions_in_a_region(api: FakeMicroarrayAPI, region) -> None:
    (feature,) = expression.gene_expressions(region, "PVALB")
    inside = samples.samples_in(region)
    data = feature.data
    assert isinstance(feature, GeneExpressions)
    assert set(data["well_id"]) == set(inside["well_id"])
    assert len(data) == 2 * len(inside)
    assert tuple(data.columns) == expression.COLUMNS
    everywhere = expression.expression_table("PVALB")
    merged = data.merge(everywhere, on=["well_id", "probe_id"], suffixes=("", "_all"))
    np.testing.assert_array_equal(merged["expression"], merged["expression_all"])
    assert feature.match.qualification.value == "contained"
    assert feature.metadata["gene"] == "PVALB"
    assert feature.metadata["samples"] == len(inside)
    assert feature.anchor.regions == (region.name,)
    assert len(feature.anchor.location) == len(inside)
    assert "PVALB" in feature.name and region.name in feature.name
    assert "Allen Institute" in feature.description


def test_gene_expressions_in_a_parcellation_name_the_regions(api: FakeMicroarrayAPI) -> None:
    parcellation = neuratlas.parcellations["desikan"]
    (feature,) = expression.gene_expressions(parcellation, "PVALB")
    expected = samples.samples_in(parcellation).set_index("well_id")["region"]
    got = feature.data.drop_duplicates("well_id").set_index("well_id")["region"]
    pd.testing.assert_series_equal(got.sort_index(), expected.sort_index(), check_names=False)
    assert feature.anchor.parcellation == parcellation.id
    assert feature.anchor.regions == ()


def test_gene_expressions_near_a_point_in_a_box_and_everywhere(api: FakeMicroarrayAPI) -> None:
    table = samples.sample_coordinates()
    centre = table.loc[0, ["x", "y", "z"]].to_numpy(dtype=float)
    (near,) = expression.gene_expressions(Point(centre, SPACE), "PVALB")
    assert int(table.loc[0, "well_id"]) in set(near.data["well_id"])
    assert near.match.qualification.value == "contained"
    box = BoundingBox((-10, -10, -10), (10, 10, 10), SPACE)
    (boxed,) = expression.gene_expressions(box, "PVALB")
    assert set(boxed.data["well_id"]) == set(samples.samples_in(box)["well_id"])
    space = neuratlas.spaces[SPACE]
    (whole,) = expression.gene_expressions(space, "PVALB")
    assert whole.data["well_id"].nunique() == 3702


def test_a_region_without_samples_asks_nothing(api: FakeMicroarrayAPI) -> None:
    empty = neuratlas.get_region("desikan", "temporal pole right")
    assert expression.gene_expressions(empty, "PVALB") == []
    assert api.requests == []


def test_the_live_query_is_registered() -> None:
    assert (GeneExpressions, ahba.live_query) in live_queries()


def test_get_features_runs_the_live_query(api: FakeMicroarrayAPI, region) -> None:
    found = get_features(region, "gene expression", gene="PVALB")
    assert [type(f) for f in found] == [GeneExpressions]
    (feature,) = found
    assert feature.match.qualification.value == "contained"
    assert get_instance_by_id(feature.id) is feature
    by_alias = get_features(region, "microarray", gene=["PVALB"])
    assert by_alias[0].id == feature.id


def test_get_features_without_a_gene_computes_nothing(api: FakeMicroarrayAPI, region) -> None:
    assert not [
        f for f in get_features(region, "gene expression") if isinstance(f, GeneExpressions)
    ]
    assert not [f for f in get_features(region, "tabular") if isinstance(f, GeneExpressions)]
    assert api.requests == []


def test_get_features_where_the_samples_have_no_map(api: FakeMicroarrayAPI) -> None:
    # Schaefer is mapped in the FSL template only: nothing is anchored there
    schaefer_region = neuratlas.parcellations["schaefer2018-100-7"].leaves[0]
    assert get_features(schaefer_region, "gene expression", gene="PVALB") == []
    assert ahba.live_query(Point((0, 0, 0), "mni152-nlin6-asym"), {"gene": "PVALB"}) == []
    assert ahba.live_query(neuratlas.spaces["fsaverage5"], {"gene": "PVALB"}) == []
    assert api.requests == []
    with pytest.raises(NotFoundError):
        expression.gene_expressions(schaefer_region, "PVALB")


def test_get_features_with_an_unknown_gene(api: FakeMicroarrayAPI, region) -> None:
    with pytest.raises(NotFoundError, match="MAOX") as caught:
        get_features(region, "gene expression", gene="MAOX")
    assert caught.value.suggestions


# --- failures -------------------------------------------------------------------------
def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_offline_names_the_url(cache: Path, monkeypatch: pytest.MonkeyPatch, region) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/api/v2/"
    monkeypatch.setenv("NEURATLAS_ALLEN_API", url)
    with pytest.raises(DataUnavailableError) as caught:
        get_features(region, "gene expression", gene="PVALB")
    assert url.rstrip("/").split("//")[1] in str(caught.value.source)
    assert "NEURATLAS_ALLEN_API" in str(caught.value)


def test_offline_with_a_cache_needs_no_network(
    api: FakeMicroarrayAPI, monkeypatch: pytest.MonkeyPatch, region
) -> None:
    with AllenClient(api.base_url) as client:
        first = expression.gene_expressions(region, "PVALB", client=client)[0].data
    api.stop()
    with AllenClient(api.base_url, retries=0) as client:
        again = expression.gene_expressions(region, "PVALB", client=client)[0].data
    pd.testing.assert_frame_equal(first, again)


def test_a_rejected_microarray_query_is_an_rma_error(api: FakeMicroarrayAPI) -> None:
    expression.probes("PVALB")
    api.add_fault(
        lambda request: (
            Reply(envelope={"success": False, "msg": "Data Access error"})
            if "human_microarray" in request.params.get("criteria", "")
            else None
        )
    )
    with pytest.raises(RMAError, match="rejected the microarray query: Data Access error"):
        expression.expression_table("PVALB")


def test_a_malformed_microarray_answer_is_a_response_error(api: FakeMicroarrayAPI) -> None:
    broken = {"success": True, "msg": {"probes": [{"id": 1, "expression_level": ["1"]}]}}
    api.add_fault(
        lambda request: (
            Reply(body=json.dumps(broken).encode())
            if "human_microarray" in request.params.get("criteria", "")
            else None
        )
    )
    with pytest.raises(ResponseError, match="no 'probes' and 'samples' lists"):
        expression.expression_table("PVALB")


def test_values_that_do_not_fit_the_samples_are_a_response_error(
    api: FakeMicroarrayAPI,
) -> None:
    def short(request: Request) -> Reply | None:
        criteria = request.params.get("criteria", "")
        if "human_microarray" not in criteria:
            return None
        answer = api.query(criteria)
        answer["msg"]["probes"][0]["z-score"].pop()
        return Reply(body=json.dumps(answer).encode())

    api.add_fault(short)
    with pytest.raises(ResponseError, match="values of 'z-score'"):
        expression.expression_table("PVALB")


def test_a_gene_expression_feature_exports_and_plots(
    api: FakeMicroarrayAPI, region, tmp_path: Path
) -> None:
    import matplotlib  # heavy: only the plotting tests need it

    matplotlib.use("Agg")
    (feature,) = expression.gene_expressions(region, ["PVALB", "GRIN1"])
    path = feature.export(tmp_path / "pvalb.zip")
    with zipfile.ZipFile(path) as archive:
        table = pd.read_csv(archive.open("data.csv"))
        meta = json.loads(archive.read("metadata.json"))
    assert len(table) == len(feature.data)
    assert set(table["gene"]) == {"PVALB", "GRIN1"}
    assert meta["metadata"]["gene"] == ["PVALB", "GRIN1"]
    assert meta["match"]["qualification"] == "contained"
    ax = feature.plot()
    assert len(ax.patches) == 2  # one bar per gene
