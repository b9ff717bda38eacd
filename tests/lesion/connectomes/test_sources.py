"""The fetchable connectomes and where they are hosted."""

from __future__ import annotations

import dataclasses

import pytest

from neuratlas.errors import NotFoundError
from neuratlas.lesion.connectomes import (
    CONNECTOME_SOURCES,
    ConnectomeSource,
    list_fetchable_connectomes,
)
from neuratlas.lesion.connectomes.sources import get_source

SEED_FIELDS = {
    "name",
    "display_name",
    "type",
    "description",
    "source_type",
    "persistent_id",
    "dataverse_server",
    "download_url",
    "article_id",
    "default_batches",
    "requires_mask",
    "mask_url",
    "n_subjects",
    "space",
    "estimated_size_gb",
    "citation",
}


def test_the_three_sources_as_lacuna_defines_them():
    sources = {s.name: s for s in list_fetchable_connectomes()}
    assert list(sources) == ["gsp1000", "dtor985", "hcp1065"]
    gsp, tor, hcp = sources["gsp1000"], sources["dtor985"], sources["hcp1065"]
    assert (gsp.type, gsp.source_type, gsp.persistent_id) == (
        "functional",
        "dataverse",
        "doi:10.7910/DVN/ILXIKS",
    )
    assert gsp.dataverse_server == "https://dataverse.harvard.edu" and gsp.n_subjects == 1000
    assert (tor.type, tor.source_type, tor.article_id) == ("structural", "figshare", 25209947)
    assert tor.space == "MNI152NLin2009bAsym"
    assert hcp.source_type == "github" and hcp.download_url.startswith(
        "https://github.com/data-others/atlas/releases/download/hcp1065/"
    )
    assert all(s.citation for s in sources.values())


def test_a_source_has_every_field_of_the_seed():
    assert {f.name for f in dataclasses.fields(ConnectomeSource)} >= SEED_FIELDS
    assert "gsp1000: GSP1000 Functional Connectome (functional, 1000 subjects" in str(
        CONNECTOME_SOURCES["gsp1000"]
    )


def test_names_are_found_in_any_case_and_unknown_ones_suggest():
    assert get_source(" GSP1000 ").name == "gsp1000"
    with pytest.raises(
        NotFoundError, match="fetchable ones are dtor985, gsp1000, hcp1065"
    ) as info:
        get_source("hcp1064")
    assert info.value.suggestions[0] == "hcp1065"


def test_servers_can_be_replaced_through_the_environment(monkeypatch):
    monkeypatch.setenv("NEURATLAS_DATAVERSE_SERVER", "http://127.0.0.1:9/")
    monkeypatch.setenv("NEURATLAS_FIGSHARE_API", "http://127.0.0.1:9/v2")
    monkeypatch.setenv("NEURATLAS_GITHUB_API", "http://127.0.0.1:9/api/")
    assert get_source("gsp1000").dataverse_server == "http://127.0.0.1:9"
    assert get_source("dtor985").api_url == "http://127.0.0.1:9/v2"
    assert get_source("hcp1065").api_url == "http://127.0.0.1:9/api"
    assert CONNECTOME_SOURCES["gsp1000"].dataverse_server == "https://dataverse.harvard.edu"
    assert list_fetchable_connectomes()[0].dataverse_server == "http://127.0.0.1:9"
