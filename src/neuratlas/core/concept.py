"""What atlases, spaces, parcellations and maps share: identity, names, citations."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from neuratlas.registry import make_key

if TYPE_CHECKING:
    from neuratlas.configuration.loader import LoadedSpec
    from neuratlas.configuration.specs import Publication, Source
    from neuratlas.references import References


class Concept:
    """Base of the catalogue's objects: built from a loaded spec, linked to the others.

    Parameters
    ----------
    loaded : LoadedSpec
        The validated spec and its file.
    references : References
        Resolves links to other objects (the catalogue that builds this one).
    """

    def __init__(self, loaded: LoadedSpec, references: References) -> None:
        self._loaded = loaded
        self._references = references
        # the header only: the rest of the spec is validated when first asked for
        header = loaded.header
        self.id: str = header.id
        self.name: str = header.name
        self.short_name: str = header.short_name or header.name
        self.aliases: list[str] = list(header.aliases)
        self.species: str | None = header.species
        self.modality: str | None = header.modality

    @cached_property
    def description(self) -> str:
        return self._loaded.spec.description or ""

    @cached_property
    def publications(self) -> list[Publication]:
        return list(self._loaded.spec.publications)

    @cached_property
    def source(self) -> Source | None:
        """Where the data comes from (package, licence, URL), for embedded specs."""
        return self._loaded.spec.source

    @property
    def references(self) -> References:
        """What resolves this object's links to others (the catalogue that built it)."""
        return self._references

    @property
    def spec_file(self) -> str:
        """The spec file this object was loaded from."""
        return str(self._loaded.file)

    @cached_property
    def key(self) -> str:
        return make_key(self.short_name)

    @property
    def version(self) -> str | None:
        return None

    @property
    def lookup_names(self) -> tuple[str, ...]:
        return (self.name, self.short_name, *self.aliases)

    @property
    def collection(self) -> str:
        """Entries sharing a collection are versions of one another."""
        return self.id

    @property
    def version_order(self) -> tuple:
        return ()

    def citations(self) -> str:
        """The publications as Markdown, one paragraph each."""
        return "\n\n".join(
            f"[{p.citation or p.url}]({p.url})" if p.url else p.citation for p in self.publications
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
