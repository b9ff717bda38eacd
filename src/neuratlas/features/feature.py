"""Feature: data linked to the brain by an anchor, with metadata first and data on demand.

A feature knows what it is (its modality, a class attribute), where it belongs
(its :class:`~neuratlas.features.anchor.Anchor`), and how to get its data (a
``loader`` called once, on the first access to :attr:`Feature.data`). Queries
return copies carrying an :class:`~neuratlas.features.anchor.AnchorMatch` that
says how the feature relates to what was asked.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

from neuratlas.errors import ArgumentError
from neuratlas.features import export as exporting
from neuratlas.features.anchor import Anchor, AnchorMatch

if TYPE_CHECKING:
    from matplotlib.axes import Axes

# every Feature subclass in definition order, for the modality table and the service
_SUBCLASSES: list[type[Feature]] = []
_UNLOADED = object()


class Feature:
    """A data feature anchored to regions, a parcellation, a space or a location.

    Parameters
    ----------
    id : str
        Stable across processes, e.g. ``"neuratlas/brainspace/fc/schaefer-400-7"``
        or the ``@id`` of a siibra feature spec.
    name : str
        A short human-readable title.
    anchor : Anchor
        What the feature is linked to.
    loader : callable, optional
        Called without arguments on the first access to :attr:`data`; its result
        is kept. Either ``loader`` or ``data``.
    data : object, optional
        The data itself, when it is already at hand.
    description : str
    publications : sequence of mappings
        Each with ``"citation"`` and/or ``"url"``.
    metadata : mapping, optional
        Facts that queries filter on (``subject``, ``gene``, ``receptor`` ...).
    source : str
        Where the feature comes from (the registered source's name).

    Attributes
    ----------
    match : AnchorMatch or None
        Set on the copies that :func:`neuratlas.features.get_features` returns.
    """

    modality: ClassVar[str] = "feature"
    aliases: ClassVar[tuple[str, ...]] = ()
    category: ClassVar[str] = "other"
    # metadata keys a query of this modality may filter on besides the features'
    # own metadata keys (a live query's parameters, e.g. ``gene``)
    filter_keys: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _SUBCLASSES.append(cls)

    def __init__(
        self,
        *,
        id: str,
        name: str,
        anchor: Anchor,
        loader: Callable[[], Any] | None = None,
        data: Any = None,
        description: str = "",
        publications: Sequence[Mapping[str, str]] = (),
        metadata: Mapping[str, Any] | None = None,
        source: str = "",
    ) -> None:
        if not isinstance(id, str) or not id:
            raise ArgumentError(
                f"a feature needs a non-empty string id, got {id!r}",
                hint="use a stable path-like id, e.g. 'mysource/fc/schaefer-100'",
            )
        if not isinstance(anchor, Anchor):
            raise ArgumentError(
                f"feature {id!r}: anchor must be an Anchor, not {type(anchor).__name__}",
                hint="e.g. Anchor(species='Homo sapiens', regions=('hOc1',))",
            )
        if loader is None and data is None:
            raise ArgumentError(
                f"feature {id!r} has neither data nor a loader",
                hint="pass data=... or loader=<a function returning the data>",
            )
        self.id = id
        self.name = name
        self.anchor = anchor
        self.description = description
        self.publications = [dict(p) for p in publications]
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.source = source
        self.match: AnchorMatch | None = None
        self._loader = loader
        self._raw = data  # given data is checked by _prepare on first access, as loaded data
        self._data: Any = _UNLOADED
        self._lock = threading.Lock()

    # --- data ------------------------------------------------------------------
    @property
    def data(self) -> Any:
        """The data, loaded on first access (once, also under threads) and kept."""
        if self._data is _UNLOADED:
            with self._lock:
                if self._data is _UNLOADED:
                    raw = self._raw if self._raw is not None else self._loader()  # type: ignore[misc]
                    self._data = self._prepare(raw)
                    self._raw = None
        return self._data

    @property
    def loaded(self) -> bool:
        """True once :attr:`data` has been loaded."""
        return self._data is not _UNLOADED

    def _prepare(self, raw: Any) -> Any:
        """Turn what the loader returned into this kind's data (subclasses check it)."""
        return raw

    # --- matches -----------------------------------------------------------------
    def with_match(self, match: AnchorMatch) -> Self:
        """A shallow copy carrying ``match``; the copies share the loaded data."""
        twin = copy.copy(self)
        twin.match = match
        twin._lock = threading.Lock()  # its own: its loader takes the original's
        twin._lock = threading.Lock()  # its own: its loader takes the original's lock
        if not self.loaded:
            # share the loading: the first of the copies to load fills the original
            twin._loader = lambda: self.data
        return twin

    # --- text ------------------------------------------------------------------
    def summary(self) -> str:
        """Several lines: name, modality, anchor, match, metadata, description."""
        lines = [f"{self.name}", f"  modality: {self.modality} ({type(self).__name__})"]
        lines.append(f"  anchor:   {self.anchor.describe()}")
        if self.match is not None:
            lines.append(f"  match:    {self.match.qualification.value}: {self.match.explanation}")
        lines.append(f"  id:       {self.id}")
        for key, value in self.metadata.items():
            lines.append(f"  {key}: {_short(value)}")
        lines.extend(f"  {line}" for line in self._summary_lines())
        if self.description:
            text = " ".join(self.description.split())
            lines.append("  " + (text[:200] + "..." if len(text) > 200 else text))
        for pub in self.publications:
            lines.append(f"  cite: {pub.get('citation') or pub.get('url', '')}")
        return "\n".join(lines)

    def _summary_lines(self) -> list[str]:
        """Extra summary lines of a kind (shape of the data if loaded, ...)."""
        return []

    def __repr__(self) -> str:
        match = f" [{self.match.qualification.value}]" if self.match is not None else ""
        return f"<{type(self).__name__} {self.name!r} on {self.anchor.describe()}{match}>"

    def __str__(self) -> str:
        return self.summary()

    # --- output ------------------------------------------------------------------
    def plot(self, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Draw the data with matplotlib; returns the axes drawn on.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Drawn on a new figure when omitted.
        **kwargs
            Passed to the matplotlib call of the kind (``cmap``, ``color`` ...).
        """
        return self._plot(ax, **kwargs)

    def _plot(self, ax: Axes | None, **kwargs: Any) -> Axes:
        raise ArgumentError(
            f"{type(self).__name__} features cannot be plotted",
            hint="use .data and plot it yourself",
        )

    def export(self, path: str | Path) -> Path:
        """Write a zip of the data and ``metadata.json`` to ``path`` (atomically).

        Returns
        -------
        pathlib.Path
            The file written.
        """
        return exporting.write_zip(path, self._export_files(), self.export_metadata())

    def _export_files(self) -> dict[str, bytes]:
        """File name in the zip -> content (subclasses write their data)."""
        return {"data.txt": repr(self.data).encode()}

    def export_metadata(self) -> dict[str, Any]:
        """What ``metadata.json`` of an export holds (JSON-ready)."""
        meta: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "type": type(self).__name__,
            "modality": self.modality,
            "category": self.category,
            "anchor": self.anchor.as_dict(),
            "description": self.description,
            "publications": self.publications,
            "metadata": {k: _jsonable(v) for k, v in self.metadata.items()},
            "source": self.source,
        }
        if self.match is not None:
            meta["match"] = {
                "qualification": self.match.qualification.value,
                "query": self.match.query,
                "anchor": self.match.anchor,
                "explanation": self.match.explanation,
            }
        return meta


def feature_classes() -> list[type[Feature]]:
    """Feature and every subclass defined so far, in definition order."""
    return [Feature, *_SUBCLASSES]


def _short(value: Any, limit: int = 80) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return str(value)
