"""InstanceTable: the lookup tables behind ``neuratlas.spaces``, ``.parcellations`` ...

An entry is found by its index, key, ``@id``, name, short name or alias (exact after
normalisation), else by words, ranked by the rules of :mod:`neuratlas.matching` over
all its names. Only a better rank wins: when the best matches are versions of one
collection the newest version wins, other ties raise
:class:`~neuratlas.errors.AmbiguousError` (``"harvard"`` names both Harvard-Oxford
atlases), and no match raises :class:`~neuratlas.errors.NotFoundError` with the three
closest names.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from neuratlas import matching
from neuratlas.errors import AmbiguousError, NotFoundError

if TYPE_CHECKING:
    import pandas as pd


class Registered(Protocol):
    """What an entry of an :class:`InstanceTable` provides."""

    id: str
    name: str
    key: str

    @property
    def lookup_names(self) -> tuple[str, ...]: ...

    @property
    def collection(self) -> str: ...

    @property
    def version_order(self) -> tuple: ...


T = TypeVar("T", bound=Registered)

_NUMBER = re.compile(r"\d+")


def version_order(version: str | None) -> tuple:
    """Sort key for version strings: numeric parts compare as numbers ("3.10" > "3.9").

    Entries without a version sort before any versioned one.
    """
    if not version:
        return ()
    parts: list[tuple[int, Any]] = []
    for token in re.split(r"[.\-_\s]+", version.strip().lower()):
        if token.isdigit():
            parts.append((1, int(token)))
        elif token:
            parts.append((0, token))
    return tuple(parts)


def make_key(name: str) -> str:
    """Turn a name into an identifier-style key.

    ``"Juelich histological"`` becomes ``"JUELICH_HISTOLOGICAL"``.
    """
    key = re.sub(r"[^0-9A-Za-z]+", "_", name).strip("_").upper()
    return f"_{key}" if key[:1].isdigit() else key


class InstanceTable(Generic[T]):
    """A table of named objects with forgiving lookup.

    Parameters
    ----------
    kind : str
        What the entries are ("space", "parcellation", ...), used in messages.
    entries : iterable, optional
        Initial entries.
    """

    def __init__(self, kind: str, entries: list[T] | None = None) -> None:
        self.kind = kind
        self._entries: list[T] = []
        self._exact: dict[str, list[T]] = {}
        self._memo: dict[str, T] = {}
        for entry in entries or []:
            self.add(entry)

    # --- building ------------------------------------------------------------
    def add(self, entry: T) -> None:
        """Add (or replace, by ``@id``) an entry."""
        existing = [i for i, e in enumerate(self._entries) if e.id == entry.id]
        if existing:
            self._entries[existing[0]] = entry
            self._reindex()
            return
        self._entries.append(entry)
        self._index(entry)
        self._memo.clear()

    def _index(self, entry: T) -> None:
        for name in {entry.id, entry.key, *entry.lookup_names}:
            bucket = self._exact.setdefault(matching.normalise(name), [])
            if entry not in bucket:
                bucket.append(entry)
        self._exact.setdefault(entry.id, [entry])

    def _reindex(self) -> None:
        self._exact.clear()
        self._memo.clear()
        for entry in self._entries:
            self._index(entry)

    # --- container protocol --------------------------------------------------
    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[T]:
        return iter(self._entries)

    def __contains__(self, spec: object) -> bool:
        """True if ``spec`` (an entry, or a string :meth:`get` accepts) names one entry.

        Raises
        ------
        AmbiguousError
            ``spec`` matches several entries equally well: neither yes nor no is true,
            and ``table[spec]`` would raise the same error.
        """
        if isinstance(spec, str):
            try:
                self.get(spec)
            except NotFoundError:
                return False
            return True
        return spec in self._entries

    def __getitem__(self, spec: int | str | T) -> T:
        return self.get(spec)

    def __getattr__(self, name: str) -> T:
        if name.startswith("_"):
            raise AttributeError(name)
        for entry in self.__dict__.get("_entries", []):
            if entry.key == name:
                return entry
        raise AttributeError(f"no {self.__dict__.get('kind', 'entry')} with key {name!r}")

    def __dir__(self) -> list[str]:
        return [*super().__dir__(), *self.keys]

    @property
    def keys(self) -> list[str]:
        """The identifier-style keys of all entries, in order."""
        return [e.key for e in self._entries]

    @property
    def names(self) -> list[str]:
        """The names of all entries, in order."""
        return [e.name for e in self._entries]

    @property
    def dataframe(self) -> pd.DataFrame:
        """One row per entry: key, name, id and, where present, short name and version."""
        # heavy: pandas costs ~0.2 s to import; only this view of a table needs it
        import pandas as pd

        rows = [
            {
                "key": e.key,
                "name": e.name,
                "short name": getattr(e, "short_name", ""),
                "version": getattr(e, "version", None),
                "id": e.id,
            }
            for e in self._entries
        ]
        return pd.DataFrame(rows, columns=["key", "name", "short name", "version", "id"])

    def __repr__(self) -> str:
        lines = [f"<{len(self)} {_plural(self.kind)}>"]
        lines += [f"  {e.key}: {e.name}" for e in self._entries]
        return "\n".join(lines)

    # --- lookup --------------------------------------------------------------
    def find(self, query: str) -> list[T]:
        """All entries matching ``query``, best first (newest version first on ties)."""
        scored = self._scored(query)
        return [e for _, e in scored]

    def _scored(self, query: str) -> list[tuple[matching.Rank, T]]:
        best_of: dict[str, matching.Rank] = {}
        scored = []
        for entry in self._entries:
            ranks = [matching.rank(query, n) for n in (entry.key, *entry.lookup_names)]
            best = max((r for r in ranks if r is not None), default=None)
            if best is not None:
                scored.append((best, entry))
                best_of[entry.collection] = max(best, best_of.get(entry.collection, best))
        # versions of one collection rank together (at the collection's best score),
        # so an unversioned query finds the newest version, not the shortest name
        scored = [(best_of[e.collection], e) for _, e in scored]
        scored.sort(key=lambda se: se[1].version_order, reverse=True)
        scored.sort(key=lambda se: se[0], reverse=True)  # stable: newest first on ties
        return scored

    def get(self, spec: int | str | T) -> T:
        """Return the entry matching ``spec``.

        Parameters
        ----------
        spec : int, str or entry
            An index, a key, an ``@id``, a name, short name or alias, or words that
            all occur in one entry's names and fit it better than any other entry
            (see :mod:`neuratlas.matching`; ``/regex/`` also works).

        Raises
        ------
        NotFoundError
            Nothing matches; the message suggests the three closest names.
        AmbiguousError
            Several unrelated entries match equally well.
        """
        if isinstance(spec, int) and not isinstance(spec, bool):
            try:
                return self._entries[spec]
            except IndexError:
                raise NotFoundError(
                    f"no {self.kind} at index {spec}: there are {len(self)}",
                    hint=f"use an index between 0 and {len(self) - 1}",
                ) from None
        if not isinstance(spec, str):
            if spec in self._entries:
                return spec  # type: ignore[return-value]
            raise NotFoundError(f"{spec!r} is not a known {self.kind}")
        hit = self._memo.get(spec)
        if hit is None:
            hit = self._lookup(spec)
            self._memo[spec] = hit
        return hit

    def _lookup(self, spec: str) -> T:
        exact = self._exact.get(spec) or self._exact.get(matching.normalise(spec))
        if exact:
            return self._pick(spec, exact)
        scored = self._scored(spec)
        if not scored:
            suggestions = matching.closest(spec, [e.name for e in self._entries])
            plural = _plural(self.kind)
            raise NotFoundError(
                f"no {self.kind} matches {spec!r}",
                suggestions=suggestions,
                # nothing close: say where the names are listed
                hint=None if suggestions else f"neuratlas.{plural} lists the known {plural}",
            )
        top = scored[0][0]
        return self._pick(spec, [e for s, e in scored if s == top])

    def _pick(self, spec: str, candidates: list[T]) -> T:
        if len(candidates) == 1:
            return candidates[0]
        if len({c.collection for c in candidates}) == 1:
            return max(candidates, key=lambda c: c.version_order)
        raise AmbiguousError(
            f"{spec!r} matches {len(candidates)} {_plural(self.kind)} equally well",
            candidates=[c.name for c in candidates],
        )


def _plural(kind: str) -> str:
    return kind + ("es" if kind.endswith("s") else "s")
