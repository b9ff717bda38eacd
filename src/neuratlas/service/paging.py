"""Pages of a list, as siibra-api answers them: ``{items, total, page, size, pages}``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from neuratlas.errors import ArgumentError

DEFAULT_SIZE = 50
MAX_SIZE = 100


def paginate(items: Sequence[Any], page: int = 1, size: int = DEFAULT_SIZE) -> dict[str, Any]:
    """One page of ``items``.

    Parameters
    ----------
    items : sequence
        The whole list.
    page : int
        The page, from 1; a page past the end is empty (as in fastapi-pagination).
    size : int
        Items per page, 1 to 100.

    Returns
    -------
    dict
        ``items`` (that page), ``total`` (all items), ``page``, ``size``, ``pages``.
    """
    if page < 1:
        raise ArgumentError(f"page must be 1 or more, not {page}")
    if not 1 <= size <= MAX_SIZE:
        raise ArgumentError(f"size must be between 1 and {MAX_SIZE}, not {size}")
    start = (page - 1) * size
    total = len(items)
    return {
        "items": list(items[start : start + size]),
        "total": total,
        "page": page,
        "size": size,
        "pages": math.ceil(total / size) if total else 0,
    }
