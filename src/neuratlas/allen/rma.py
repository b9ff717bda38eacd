"""RMA (RESTful Model Access) queries to the Allen Brain Map API.

:class:`RMAQuery` writes the ``criteria=`` parameter of ``data/query.json``::

    model::SectionDataSet,rma::criteria,[failed$eqfalse],genes[acronym$eq'Gad1'],
    rma::include,genes,rma::options[start_row$eq0][num_rows$eq2000]

Criteria are a mapping: scalar values are equality filters, lists and tuples are
``$in`` filters, ``Filter`` values choose another operator, and nested mappings
are associations (``{"genes": {"acronym": "Gad1"}}`` -> ``genes[acronym$eq'Gad1']``),
which nest with parentheses when they have associations of their own.

:func:`rma` fetches one page; :func:`rma_all` pages through every row and checks
that the server's answers are consistent with each other.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from neuratlas.allen.api import shared_http
from neuratlas.errors import RMAError, RMAQueryError
from neuratlas.retrieval.http import HttpClient

__all__ = ["Filter", "RMAError", "RMAPage", "RMAQuery", "rma", "rma_all"]

#: The largest page the Allen servers hand out.
MAX_ROWS = 25000
QUERY_PATH = "data/query.json"

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
_MODEL = re.compile(r"^[A-Z][A-Za-z0-9]*$")
_OPERATORS = ("eq", "ne", "lt", "gt", "le", "ge", "li", "il", "in", "nin")
# Characters that end a value in the RMA path grammar unless it is quoted.
_UNQUOTED_SAFE = re.compile(r"^[A-Za-z0-9_.\-*]+$")


@dataclasses.dataclass(frozen=True)
class Filter:
    """A criterion with an operator other than equality.

    Parameters
    ----------
    op : {"eq", "ne", "lt", "gt", "le", "ge", "li", "il", "in", "nin"}
        RMA operator (``li``/``il`` are like / case-insensitive like, with
        ``*`` as wildcard).
    value : Any
        The right-hand side; a sequence for ``in``/``nin``.
    """

    op: str
    value: Any

    def __post_init__(self) -> None:
        if self.op not in _OPERATORS:
            raise RMAQueryError(
                f"unknown RMA operator {self.op!r}", hint="use one of " + ", ".join(_OPERATORS)
            )


def format_value(value: Any) -> str:
    """Write one value as it must appear on the right of an RMA operator.

    Numbers are written plainly, booleans as ``true``/``false``, ``None`` as
    ``null``; strings are enclosed in single quotes (which the RMA grammar
    needs for spaces, commas and brackets).

    Raises
    ------
    RMAQueryError
        For a string containing a single quote (RMA has no way to escape it),
        a non-finite float, or an unsupported type.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise RMAQueryError(f"cannot use {value!r} in an RMA query")
        return repr(float(value))
    if hasattr(value, "item") and not isinstance(value, str):  # NumPy scalars
        return format_value(value.item())
    if isinstance(value, str):
        if "'" in value:
            raise RMAQueryError(
                f"cannot quote {value!r} for an RMA query: it contains a single quote",
                hint="use a like filter with '*' in place of the quote",
            )
        return f"'{value}'"
    raise RMAQueryError(
        f"cannot use a {type(value).__name__} as an RMA value: {value!r}",
        hint="use a number, string, boolean, None, or a list of those for $in",
    )


def _check_name(name: str, what: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise RMAQueryError(
            f"invalid RMA {what} name {name!r}",
            hint="names are letters, digits and underscores, e.g. 'data_set_id'",
        )
    return name


def _filter(name: str, value: Any) -> str:
    _check_name(name, "attribute")
    if not isinstance(value, Filter):
        if isinstance(value, list | tuple | set | frozenset):
            value = Filter("in", list(value))
        else:
            value = Filter("eq", value)
    if value.op in ("in", "nin"):
        items = value.value
        if isinstance(items, str | bytes) or not isinstance(items, Sequence | set | frozenset):
            raise RMAQueryError(f"the ${value.op} filter on {name!r} needs a list of values")
        if not items:
            raise RMAQueryError(f"the ${value.op} filter on {name!r} has an empty list")
        return f"[{name}${value.op}{','.join(format_value(v) for v in items)}]"
    return f"[{name}${value.op}{format_value(value.value)}]"


def _split(criteria: Mapping[str, Any]) -> tuple[str, list[str]]:
    filters: list[str] = []
    associations: list[str] = []
    for key, value in criteria.items():
        if isinstance(value, Mapping):
            associations.append(_association(key, value))
        else:
            filters.append(_filter(key, value))
    return "".join(filters), associations


def _association(name: str, criteria: Mapping[str, Any]) -> str:
    _check_name(name, "association")
    filters, nested = _split(criteria)
    text = name + filters
    if nested:
        text += "(" + ",".join(nested) + ")"
    return text


@dataclasses.dataclass(frozen=True)
class RMAQuery:
    """An RMA model query.

    Parameters
    ----------
    model : str
        The model, e.g. ``"SectionDataSet"`` or ``"SectionImage"``.
    criteria : mapping, optional
        Filters and associations (see the module documentation).
    include : sequence of str, optional
        Associations to load with every row, e.g. ``["alignment3d"]``;
        a nested one is written ``"genes(organism)"``.
    order : sequence of str, optional
        Sort keys, e.g. ``["section_number$desc"]``.
    start_row, num_rows : int, optional
        The page.

    Examples
    --------
    >>> str(RMAQuery("SectionImage", {"data_set_id": 1}, include=["alignment2d"]))
    'model::SectionImage,rma::criteria,[data_set_id$eq1],rma::include,alignment2d'
    """

    model: str
    criteria: Mapping[str, Any] | None = None
    include: Sequence[str] | None = None
    order: Sequence[str] | None = None
    start_row: int | None = None
    num_rows: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not _MODEL.match(self.model):
            raise RMAQueryError(
                f"invalid RMA model name {self.model!r}",
                hint="model names are capitalised and singular, e.g. 'SectionDataSet'",
            )
        for label, value in (("start_row", self.start_row), ("num_rows", self.num_rows)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 0
            ):
                raise RMAQueryError(f"{label} must be a non-negative integer, got {value!r}")
        if isinstance(self.include, str) or isinstance(self.order, str):
            raise RMAQueryError("include and order must be lists of names, not one string")

    def page(self, start_row: int, num_rows: int) -> RMAQuery:
        """The same query restricted to one page."""
        return dataclasses.replace(self, start_row=start_row, num_rows=num_rows)

    def __str__(self) -> str:
        parts = [f"model::{self.model}"]
        if self.criteria:
            filters, associations = _split(self.criteria)
            parts.append("rma::criteria")
            if filters:
                parts.append(filters)
            parts.extend(associations)
        if self.include:
            parts.append("rma::include")
            for item in self.include:
                if not re.match(r"^[A-Za-z_][A-Za-z0-9_(),]*$", item) or (
                    item.count("(") != item.count(")")
                ):
                    raise RMAQueryError(f"invalid RMA include {item!r}")
                parts.append(item)
        options = ""
        if self.order:
            for key in self.order:
                if not re.match(r"^[A-Za-z_][A-Za-z0-9_.]*(\$(asc|desc))?$", key):
                    raise RMAQueryError(f"invalid RMA order key {key!r}")
            options += "[order$eq" + ",".join(f"'{key}'" for key in self.order) + "]"
        if self.start_row is not None:
            options += f"[start_row$eq{self.start_row}]"
        if self.num_rows is not None:
            options += f"[num_rows$eq{self.num_rows}]"
        if options:
            parts.append("rma::options" + options)
        return ",".join(parts)

    @property
    def params(self) -> dict[str, str]:
        """The URL parameters of ``data/query.json`` (URL-encoded by the HTTP client)."""
        return {"criteria": str(self)}


@dataclasses.dataclass(frozen=True)
class RMAPage:
    """One answer of the RMA service: the envelope fields and the rows."""

    start_row: int
    num_rows: int
    total_rows: int
    rows: list[dict[str, Any]]


def _envelope_int(answer: Mapping[str, Any], key: str, url: str) -> int:
    value = answer.get(key)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise RMAError(f"the RMA answer has no valid {key!r} field", url=url)
    try:
        return int(value)
    except ValueError as exc:
        raise RMAError(f"the RMA answer has a non-integer {key!r}: {value!r}", url=url) from exc


def rma(query: RMAQuery, *, http: HttpClient | None = None) -> RMAPage:
    """Send one RMA query and return its page.

    Parameters
    ----------
    query : RMAQuery
        The query, with its own paging options if any.
    http : HttpClient, optional
        The client (its base URL is the API root); by default the shared one
        of :func:`neuratlas.allen.api.shared_http`, which
        :meth:`neuratlas.allen.client.AllenClient.default` uses too.

    Returns
    -------
    RMAPage

    Raises
    ------
    RMAError
        If the API answers ``success: false`` (with its message) or the answer
        is not an RMA envelope.
    neuratlas.errors.DataUnavailableError
        If the API cannot be reached or answers malformed JSON.
    """
    http = http or shared_http()
    url = f"{QUERY_PATH}?criteria={query}"
    answer = http.get_json(QUERY_PATH, params=query.params)
    if not isinstance(answer, Mapping) or "success" not in answer or "msg" not in answer:
        raise RMAError(
            "the answer is not an RMA envelope (no 'success'/'msg' fields)",
            url=url,
            hint="check that the API base URL points at .../api/v2/",
        )
    success = answer["success"]
    if success is not True and str(success).lower() != "true":
        message = answer.get("msg")
        raise RMAError(
            f"the Allen API rejected the query: {message}",
            url=url,
            hint=f"query was {query}",
        )
    rows = answer["msg"]
    if not isinstance(rows, list):
        raise RMAError(f"the RMA answer's 'msg' is a {type(rows).__name__}, not a list", url=url)
    return RMAPage(
        start_row=_envelope_int(answer, "start_row", url),
        num_rows=_envelope_int(answer, "num_rows", url),
        total_rows=_envelope_int(answer, "total_rows", url),
        rows=rows,
    )


def rma_all(
    query: RMAQuery, *, http: HttpClient | None = None, page_size: int = MAX_ROWS
) -> list[dict[str, Any]]:
    """Fetch every row of a query, one page after the other.

    Parameters
    ----------
    query : RMAQuery
        The query; its own ``start_row``/``num_rows`` are replaced.
    http : HttpClient, optional
        As in :func:`rma`.
    page_size : int
        Rows per request (the servers cap it at 25,000).

    Returns
    -------
    list of dict
        All rows, in the server's order.

    Raises
    ------
    RMAError
        If ``total_rows`` changes between pages, a page comes back empty or
        starting at the wrong row before all rows arrived, or a page holds more
        rows than its ``num_rows`` says.
    """
    if page_size < 1:
        raise RMAQueryError(f"page_size must be positive, got {page_size}")
    rows: list[dict[str, Any]] = []
    total: int | None = None
    position = 0
    while total is None or position < total:
        page = rma(query.page(position, page_size), http=http)
        if page.start_row != position:
            raise RMAError(
                f"asked for rows from {position} but the page starts at {page.start_row}",
                hint=f"query was {query}",
            )
        if page.num_rows != len(page.rows):
            raise RMAError(
                f"the page says num_rows={page.num_rows} but holds {len(page.rows)} rows",
                hint=f"query was {query}",
            )
        if total is None:
            total = page.total_rows
        elif page.total_rows != total:
            raise RMAError(
                f"total_rows changed from {total} to {page.total_rows} while paging",
                hint="the data changed on the server; run the query again",
            )
        if not page.rows:
            if position < total:
                raise RMAError(
                    f"empty page at row {position} of {total}",
                    hint="the server stopped sending rows; run the query again",
                )
            break
        rows.extend(page.rows)
        position += len(page.rows)
    if total is not None and len(rows) > total:
        raise RMAError(f"received {len(rows)} rows but total_rows is {total}")
    return rows
