"""Fixtures of the feature tests: the source registry is put back after every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from neuratlas.features import query, sources
from tests.features.toy_features import only_sources, toy_features


@pytest.fixture(autouse=True)
def _restore_feature_registry() -> Iterator[None]:
    # a test that registers a source or live query must not leak it into the next
    saved = sources.snapshot()
    live = dict(query._live_by_id)
    yield
    sources.restore(saved)
    query._live_by_id.clear()
    query._live_by_id.update(live)


@pytest.fixture
def toy() -> Iterator[None]:
    """Only the toy source is registered (none of the built-in ones)."""
    with only_sources(toy=toy_features):
        yield
