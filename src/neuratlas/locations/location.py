"""What every location shares: a reference space, and checks that two agree."""

from __future__ import annotations

from typing import TYPE_CHECKING

from neuratlas import references
from neuratlas.errors import SpaceMismatchError

if TYPE_CHECKING:
    from neuratlas.core.space import Space


def resolve_space(space: str | Space | None) -> Space | None:
    """Turn a space spec (name, key, @id or Space) into a Space of the active catalogue."""
    if space is None or not isinstance(space, str):
        return space
    return references.active().space(space)


def same_space(a: Space | None, b: Space | None, what: str) -> None:
    """Raise SpaceMismatchError when ``a`` and ``b`` are different known spaces."""
    if a is not None and b is not None and a.id != b.id:
        raise SpaceMismatchError(
            f"cannot {what}: one is in {a.name!r}, the other in {b.name!r}",
            hint="express both in the same space (transforms between spaces are not "
            "available yet)",
        )
