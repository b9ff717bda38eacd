"""The Allen structure ontology as the API serves it, and how it differs from the embedded one.

neuratlas ships the mouse ontology (structure graph 1) in the spec of
"Allen Mouse Brain Atlas (CCFv3 2017 annotation)", so that its region tree loads
offline. :func:`structure_graph` reads the live ontology from the API
(``structure_graph_download/1.json``); :func:`compare_ontology` lists what the
API says differently (structures added or removed, renamed, given another
acronym, parent or colour), which tells whether the shipped copy is out of date.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from neuratlas.allen.client import AllenClient
from neuratlas.catalogue import active
from neuratlas.errors import NotFoundError, RMAError

__all__ = [
    "CHANGE_KINDS",
    "DEFAULT_PARCELLATION",
    "OntologyChange",
    "Structure",
    "compare_ontology",
    "embedded_structures",
    "structure_graph",
]

#: The parcellation whose region tree is the Allen ontology.
DEFAULT_PARCELLATION = "Allen Mouse Brain Atlas (CCFv3 2017 annotation)"
_SPACE = "Allen Mouse CCF v3"
#: What a change can be, in the order they are listed for one structure.
CHANGE_KINDS: tuple[str, ...] = ("added", "removed", "name", "acronym", "parent", "colour")


@dataclass(frozen=True)
class Structure:
    """One structure of the ontology."""

    #: The Allen structure id (the annotation's label).
    id: int
    acronym: str
    name: str
    #: Colour as six upper-case hex digits, e.g. ``"7ED04B"``.
    color_hex_triplet: str
    #: The parent's id; ``None`` for the root.
    parent_structure_id: int | None
    #: Position in a depth-first walk of the graph (the API's order).
    graph_order: int


@dataclass(frozen=True)
class OntologyChange:
    """One difference between the embedded ontology and the API's."""

    structure_id: int
    #: The acronym (the API's, else the embedded one).
    acronym: str
    #: One of :data:`CHANGE_KINDS`.
    kind: str
    #: The embedded value (``None`` for an added structure).
    embedded: str | None
    #: The API's value (``None`` for a removed structure).
    api: str | None


def _walk(nodes: list[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    stack = list(reversed(nodes))
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(node.get("children") or []))


def _structure(node: Mapping[str, Any], parent: int | None, order: int) -> Structure:
    try:
        return Structure(
            id=int(node["id"]),
            acronym=str(node["acronym"]).strip(),
            name=str(node["name"]).strip(),
            color_hex_triplet=str(node.get("color_hex_triplet") or "").upper(),
            parent_structure_id=parent,
            graph_order=int(node.get("graph_order", order)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise RMAError(
            f"a structure graph node lacks a valid {exc}: {dict(node, children='...')!r}",
            hint="the API's answer format may have changed",
        ) from None


def structure_graph(graph_id: int = 1, *, client: AllenClient | None = None) -> list[Structure]:
    """The Allen API's structure ontology, flat, in graph order.

    Parameters
    ----------
    graph_id : int
        The structure graph (1: the adult mouse brain).
    client : AllenClient, optional
        The API client (the answer is cached).

    Returns
    -------
    list of Structure
        Every structure once, parents before their children.

    Raises
    ------
    neuratlas.errors.RMAError
        The API refused the request, or a node lacks an id, acronym or name.
    neuratlas.errors.DataUnavailableError
        The API cannot be reached.
    """
    roots = (client or AllenClient.default()).structure_graph(graph_id)
    structures: list[Structure] = []
    parents: dict[int, int | None] = {}
    for node in _walk(roots):
        parent = node.get("parent_structure_id")
        structure = _structure(node, None if parent is None else int(parent), len(structures))
        parents[structure.id] = structure.parent_structure_id
        structures.append(structure)
    # the nesting is what the graph means: a node's stated parent must be the one it sits under
    for node in _walk(roots):
        for child in node.get("children") or []:
            if parents.get(int(child["id"])) != int(node["id"]):
                raise RMAError(
                    f"structure {child['id']} sits under {node['id']} but names "
                    f"{parents.get(int(child['id']))} as its parent",
                    hint="the API's answer is inconsistent; try again later",
                )
    structures.sort(key=lambda s: s.graph_order)
    return structures


def embedded_structures(parcellation: str = DEFAULT_PARCELLATION) -> list[Structure]:
    """The ontology neuratlas ships, as :class:`Structure` rows, in tree order.

    Ids come from the labelled map (a region's label is its Allen structure id),
    acronyms from the regions' first alias (the root's acronym is its name).

    Raises
    ------
    neuratlas.errors.NotFoundError
        No such parcellation, or no labelled map of it in the Allen CCF.
    """
    the_map = active().get_map(parcellation, _SPACE, "labelled")
    ids = {name: label for label, name in the_map.label_lut.items()}
    structures = []
    for order, region in enumerate(the_map.parcellation.descendants):
        if region.name not in ids:
            continue  # a grouping node without a label: not an Allen structure
        parent = region.parent
        rgb = region.rgb or (0, 0, 0)
        structures.append(
            Structure(
                id=int(ids[region.name]),
                acronym=region.aliases[0] if region.aliases else region.name,
                name=region.name,
                color_hex_triplet="".join(f"{c:02X}" for c in rgb),
                parent_structure_id=int(ids[parent.name])
                if parent is not None and parent.name in ids
                else None,
                graph_order=order,
            )
        )
    if not structures:
        raise NotFoundError(f"{parcellation!r} has no region with an Allen structure id")
    return structures


def compare_ontology(
    parcellation: str = DEFAULT_PARCELLATION,
    *,
    client: AllenClient | None = None,
    structures: list[Structure] | None = None,
) -> list[OntologyChange]:
    """What the API's ontology says differently from the embedded one.

    Parameters
    ----------
    parcellation : str
        The parcellation whose region tree is compared.
    client : AllenClient, optional
        The API client.
    structures : list of Structure, optional
        The API's ontology, when already read (:func:`structure_graph`).

    Returns
    -------
    list of OntologyChange
        Empty when both agree; otherwise in the API's graph order (structures only
        in the embedded ontology last), the kinds of one structure in the order of
        :data:`CHANGE_KINDS`.

    Raises
    ------
    neuratlas.errors.NotFoundError
        As :func:`embedded_structures`.
    neuratlas.errors.RMAError, neuratlas.errors.DataUnavailableError
        As :func:`structure_graph`.
    """
    ours = {s.id: s for s in embedded_structures(parcellation)}
    theirs = structures if structures is not None else structure_graph(client=client)
    changes: list[OntologyChange] = []
    for api in theirs:
        mine = ours.get(api.id)
        if mine is None:
            changes.append(OntologyChange(api.id, api.acronym, "added", None, api.name))
            continue
        for kind, a, b in (
            ("name", mine.name, api.name),
            ("acronym", mine.acronym, api.acronym),
            ("parent", mine.parent_structure_id, api.parent_structure_id),
            ("colour", mine.color_hex_triplet, api.color_hex_triplet),
        ):
            if a != b:
                changes.append(OntologyChange(api.id, api.acronym, kind, _text(a), _text(b)))
    known = {s.id for s in theirs}
    for mine in ours.values():
        if mine.id not in known:
            changes.append(OntologyChange(mine.id, mine.acronym, "removed", mine.name, None))
    return changes


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
