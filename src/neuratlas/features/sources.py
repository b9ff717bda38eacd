"""Where features come from: static sources and live queries, registered by name.

A static source is a function returning features (the embedded data, the
feature specs of the configuration folders). It is called once per catalogue,
on the first query, and its features are indexed. A live query computes features
for one concept when asked (gene expressions from the Allen API).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from neuratlas.errors import ArgumentError, ArgumentTypeError, NotFoundError
from neuratlas.features.feature import Feature

StaticSource = Callable[[], Iterable[Feature]]
LiveQuery = Callable[[object, Mapping[str, Any]], Iterable[Feature]]

_lock = threading.Lock()
_static: dict[str, StaticSource] = {}
_live: list[tuple[type[Feature], LiveQuery]] = []
# bumped on every change, so that the feature index knows to rebuild
_generation = 0


def register_source(name: str, features: StaticSource) -> None:
    """Register a static source of features under ``name`` (replacing one of that name).

    Parameters
    ----------
    name : str
        Names the source in errors and in :attr:`Feature.source` defaults.
    features : callable
        Called without arguments once per catalogue, on the first query; returns
        the features. It may read :func:`neuratlas.catalogue.active`.

    Raises
    ------
    ArgumentError, ArgumentTypeError
        An empty name, or ``features`` that is not callable.
    """
    global _generation
    if not isinstance(name, str) or not name:
        raise ArgumentError(f"a feature source needs a non-empty name, got {name!r}")
    if not callable(features):
        raise ArgumentTypeError(
            f"feature source {name!r}: expected a function returning features, "
            f"got {type(features).__name__}",
            hint="pass the function itself, e.g. register_source('mine', my_features)",
        )
    with _lock:
        _static[name] = features
        _generation += 1


def unregister_source(name: str) -> None:
    """Remove the static source ``name``.

    Raises
    ------
    NotFoundError
        No source of that name.
    """
    global _generation
    with _lock:
        if name not in _static:
            raise NotFoundError(f"no feature source is called {name!r}", suggestions=list(_static))
        del _static[name]
        _generation += 1


def register_live_query(cls: type[Feature], query: LiveQuery) -> None:
    """Register a function computing features of ``cls`` for a concept on demand.

    Parameters
    ----------
    cls : Feature subclass
        Queries whose modality is ``cls`` or a base class of it call ``query``.
    query : callable
        Called with ``(concept, filters)``; returns features that already carry
        their match (:meth:`Feature.with_match`).
    """
    global _generation
    if not (isinstance(cls, type) and issubclass(cls, Feature)):
        raise ArgumentTypeError(f"a live query is registered for a Feature class, not {cls!r}")
    if not callable(query):
        raise ArgumentTypeError(
            f"live query for {cls.__name__}: expected a function, got {type(query).__name__}"
        )
    with _lock:
        _live.append((cls, query))
        _generation += 1


def static_sources() -> dict[str, StaticSource]:
    """Name -> function of every static source, in registration order."""
    with _lock:
        return dict(_static)


def live_queries() -> list[tuple[type[Feature], LiveQuery]]:
    """Every live query with its class, in registration order."""
    with _lock:
        return list(_live)


def generation() -> int:
    """A number that changes whenever a source or live query is (un)registered."""
    return _generation


def snapshot() -> tuple[dict[str, StaticSource], list[tuple[type[Feature], LiveQuery]]]:
    """The registrations as they are, for :func:`restore` (tests use the pair)."""
    with _lock:
        return dict(_static), list(_live)


def restore(saved: tuple[dict[str, StaticSource], list[tuple[type[Feature], LiveQuery]]]) -> None:
    """Put back the registrations of a :func:`snapshot`."""
    global _generation
    with _lock:
        _static.clear()
        _static.update(saved[0])
        _live[:] = saved[1]
        _generation += 1
