"""Modalities: the names and aliases of the feature classes, found with fuzzy words.

``"functional connectivity"``, ``"fc"`` and ``"FunctionalConnectivity"`` all name
:class:`~neuratlas.features.connectivity.FunctionalConnectivity`; the rules are
those of :mod:`neuratlas.matching`, as for atlases, spaces and regions. Words that
fit several modalities equally (``"receptor density"``: fingerprints and
profiles) name all of them in :func:`resolve`.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from neuratlas import matching
from neuratlas.errors import AmbiguousError, ArgumentTypeError, NotFoundError
from neuratlas.features.feature import Feature, feature_classes

if TYPE_CHECKING:
    from collections.abc import Iterable


def classes() -> list[type[Feature]]:
    """Every feature class (Feature first), in definition order."""
    return feature_classes()


def names_of(cls: type[Feature]) -> tuple[str, ...]:
    """The names a class is found by: its modality, its aliases, its class name."""
    return (cls.modality, *cls.aliases, cls.__name__)


def names() -> list[str]:
    """The modality name of every class, in definition order."""
    return [c.modality for c in classes()]


def table() -> list[dict[str, str]]:
    """One row per class: ``name`` (class), ``modality``, ``category``, ``aliases``."""
    return [
        {
            "name": c.__name__,
            "modality": c.modality,
            "category": c.category,
            "aliases": ", ".join(c.aliases),
        }
        for c in classes()
    ]


def resolve(spec: str | type[Feature]) -> tuple[type[Feature], ...]:
    """The classes that ``spec`` names: one, or several that fit equally well.

    Parameters
    ----------
    spec : str or Feature subclass
        A modality name, alias or class name, or words of one; or the class itself.

    Raises
    ------
    NotFoundError
        No modality matches; the suggestions list the closest modality names.
    ArgumentTypeError
        ``spec`` is neither a string nor a Feature subclass.
    """
    if isinstance(spec, type) and issubclass(spec, Feature):
        return (spec,)
    if not isinstance(spec, str):
        raise ArgumentTypeError(
            f"a modality is a name or a Feature class, not {type(spec).__name__}",
            hint="e.g. 'functional connectivity' or neuratlas.features.FunctionalConnectivity",
        )
    known = classes()
    wanted = matching.normalise(spec)
    exact = [c for c in known if wanted in {matching.normalise(n) for n in names_of(c)}]
    if exact:
        return tuple(exact[:1])
    scored = []
    for cls in known:
        ranks = [r for r in (matching.rank(spec, n) for n in names_of(cls)) if r is not None]
        if ranks:
            scored.append((max(ranks), cls))
    if not scored and _singular(spec) != spec:
        # "fingerprints", "receptor densities", "gene expressions": the names are singular
        with contextlib.suppress(NotFoundError):
            return resolve(_singular(spec))
    if not scored:
        raise NotFoundError(
            f"no modality matches {spec!r}",
            suggestions=matching.closest(spec, _all_names(known)),
            hint=None if _all_names(known) else "no feature classes are defined",
        )
    best = max(rank for rank, _ in scored)
    tied = [cls for rank, cls in scored if rank == best]
    # a class and its subclasses tied: the base class stands for them all
    top = [c for c in tied if not any(c is not o and issubclass(c, o) for o in tied)]
    return tuple(top)


def get(spec: str | type[Feature]) -> type[Feature]:
    """The one class that ``spec`` names.

    Raises
    ------
    NotFoundError
        No modality matches (with suggestions).
    AmbiguousError
        Several unrelated modalities match equally well.
    """
    found = resolve(spec)
    if len(found) > 1:
        raise AmbiguousError(
            f"{spec!r} matches {len(found)} modalities equally well",
            candidates=[c.modality for c in found],
        )
    return found[0]


def _all_names(known: Iterable[type[Feature]]) -> list[str]:
    return [n for c in known for n in (c.modality, *c.aliases)]


def _singular(spec: str) -> str:
    """``spec`` with plural endings dropped: "receptor densities" -> "receptor density"."""
    words = []
    for word in spec.split():
        if len(word) > 4 and word.lower().endswith("ies"):
            word = word[:-3] + "y"
        elif len(word) > 3 and word.lower().endswith("s") and not word.lower().endswith("ss"):
            word = word[:-1]
        words.append(word)
    return " ".join(words)
