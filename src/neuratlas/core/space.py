"""Space: a reference coordinate space with its template(s)."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from neuratlas import matching
from neuratlas.core.concept import Concept
from neuratlas.errors import NotFoundError
from neuratlas.volumes.volume import Volume

if TYPE_CHECKING:
    from neuratlas.core.parcellation import Parcellation


class Space(Concept):
    """A reference space (MNI152 variants, fsaverage5, ...) and its template volumes."""

    @cached_property
    def volumes(self) -> list[Volume]:
        """The template volumes (meshes for a surface space), default first."""
        folder = self._loaded.folder
        return [
            Volume(v.providers, space_id=self.id, variant=v.variant, name=v.name, base=folder)
            for v in self._loaded.spec.volumes
        ]

    @property
    def is_surface(self) -> bool:
        """True when the space's templates are meshes."""
        return bool(self.volumes) and all(v.is_surface for v in self.volumes)

    @property
    def variants(self) -> list[str | None]:
        return [v.variant for v in self.volumes]

    def get_template(self, variant: str | None = None) -> Volume:
        """The template volume, or the named variant (e.g. ``"grey matter"``, ``"pial"``).

        Raises
        ------
        NotFoundError
            The space has no template, or no variant matching ``variant``.
        """
        if not self.volumes:
            raise NotFoundError(f"space {self.name!r} has no template volume")
        if variant is None:
            return self.volumes[0]
        scored = [(matching.score(variant, v.variant or ""), v) for v in self.volumes]
        best = max(scored, key=lambda sv: sv[0])
        if best[0] <= 0:
            raise NotFoundError(
                f"space {self.name!r} has no template variant {variant!r}",
                suggestions=[str(v) for v in self.variants if v],
            )
        return best[1]

    @property
    def parcellations(self) -> list[Parcellation]:
        """Parcellations mapped in this space."""
        return list(dict.fromkeys(m.parcellation for m in self._references.maps_of(space=self)))

    def __repr__(self) -> str:
        kind = "surface" if self.is_surface else "volume"
        return f"<Space {self.name!r} ({kind}, {len(self.volumes)} template volume(s))>"
