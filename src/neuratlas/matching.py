"""Name normalisation and match ranking, shared by every lookup in neuratlas.

A query names a region (or a space, a parcellation...) by words. The rules, applied
by :func:`rank` and used by ``Region.find``, ``Region.get_region`` and the lookup
tables of :mod:`neuratlas.registry`:

1. **Case and separators do not count**: ``"Frontal_Sup_2_L"``, ``"frontal sup 2 l"``
   and ``"FRONTAL-SUP-2 L"`` are the same query (:func:`normalise`).
2. **Hemisphere words are a filter, not words of the name.** ``left``/``l``/``lh``
   and ``right``/``r``/``rh`` in a query keep only regions of that hemisphere;
   ``hemisphere`` is ignored. A name's hemisphere is read from its ``left``/``right``
   words (``"Cingulum - left hemisphere"``), or ``l``/``r``/``lh``/``rh`` at either
   end (``"Hippocampus_L"``); a name without one (the whole ``"Cingulum"``) does not
   match a query with one. A query made only of hemisphere words
   (``"left hemisphere"``) matches nothing, except a region named only by a
   hemisphere (``"Left hemisphere"``); ``Region.find`` and ``get_region`` then read
   it as the hemisphere of the region searched from (``area.get_region("left")``).
3. **Exact first**: the query equals the name, or the name without its hemisphere
   words plus the same hemisphere (``"hippocampus left"`` is exactly
   ``"Hippocampus - left hemisphere"``), also with the spaces left out
   (``"lh-superiorfrontal"`` is exactly ``"Superior frontal - left hemisphere"``).
4. **Otherwise every query word must occur in the name**, and each word is graded by
   where it occurs, best first:

   ====  ============  ===========================================================
   4     word          the whole word of the name (``"amygdala"``, ``"v1"``)
   3     part          the start of an abbreviation, cut where a number, a ``.``
                       or an upper-case run begins or ends, at most 3 characters
                       before its end: ``hIP`` in ``hIP1``, ``BA4`` in ``BA4a``
                       (not in ``BA44``), ``TE1`` in ``TE1.0``, ``PF`` in
                       ``PFm``; or its end cut likewise: ``44`` in ``BA44``.
                       A single letter is never a part.
   2     prefix        the start of a longer word (``hip`` in ``Hippocampus``)
   1     inside        inside a word, or across words (``central`` in
                       ``Precentral``, ``frontalsup`` in ``Frontal Sup 2``)
   ====  ============  ===========================================================

   A match's rank compares the grades of its words weakest first, so a match is
   only as good as its worst word.
5. **Only a better rank wins.** Among matches of the same rank, nothing else
   (length, position, spelling) decides: the lookup is ambiguous and raises
   :class:`~neuratlas.errors.AmbiguousError` listing the candidates, as siibra
   does, unless one candidate contains all the others (``"hIP1"`` gives the area,
   not its two hemispheres) or, in a lookup table, all are versions of one
   collection (the newest wins). So ``"BA4"`` is ambiguous between ``BA4a`` and
   ``BA4p``, ``"frontal"`` in Harvard-Oxford between its eight frontal regions,
   and ``"harvard"`` between the cortical and subcortical atlases.
6. A query written as ``/pattern/flags`` is a regular expression searched in the
   name as written; all its matches rank alike.

:func:`closest` proposes the "did you mean" names when nothing matches.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import NamedTuple

_SEPARATORS = re.compile(r"[\s_\-,;:()\[\]{}'\"/]+")
_REGEX_SPEC = re.compile(r"^/(?P<pattern>.+)/(?P<flags>[a-z]*)$", re.DOTALL)

EXACT = 100.0
WORDS = 50.0

# word grades (rule 4)
WORD, PART, PREFIX, INSIDE = 4, 3, 2, 1
Rank = tuple[int, ...]
EXACT_RANK: Rank = (1,)
REGEX_RANK: Rank = (0, 0)

_QUERY_HEMISPHERES = {
    "left": "left",
    "l": "left",
    "lh": "left",
    "right": "right",
    "r": "right",
    "rh": "right",
}
# in names, the short forms count only at either end ("Hippocampus_L", "lh-insula")
_NAME_HEMISPHERES = {"left": "left", "right": "right"}
_HEMISPHERE_WORD = "hemisphere"
_BOTH = "left and right"  # a query asking for both hemispheres matches no region
# an abbreviation's variants add a few characters at most (hIP1, BA4a, PFcm, TE1.0)
_MAX_VARIANT = 3


@lru_cache(maxsize=65536)
def normalise(text: str) -> str:
    """Lower-case ``text`` and turn separators (``_ - ( ) ,`` ...) into single spaces.

    Parameters
    ----------
    text : str
        A name or a query.

    Returns
    -------
    str
        The normalised form; two names that differ only in case and separators
        normalise to the same string.
    """
    return " ".join(_SEPARATORS.split(text.casefold())).strip()


@lru_cache(maxsize=4096)
def as_regex(query: str) -> re.Pattern[str] | None:
    """Return the compiled pattern of a ``/pattern/flags`` query, else ``None``.

    Supported flags: ``i`` (ignore case), ``m`` (multi-line), ``s`` (dot matches all).
    """
    match = _REGEX_SPEC.match(query.strip())
    if not match:
        return None
    flags = 0
    for flag in match["flags"]:
        flags |= {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL}.get(flag, 0)
    try:
        return re.compile(match["pattern"], flags)
    except re.error:
        return None


class Query(NamedTuple):
    """A query split into the words to find and the hemisphere to keep (rule 2).

    Attributes
    ----------
    pattern : re.Pattern or None
        The compiled ``/regex/`` (then the other fields are unused).
    normalised : str
        The whole query, normalised.
    words : tuple of str
        The words to find in a name (casefolded), hemisphere words removed.
    joined : str
        ``words`` without spaces, to compare with a name's :attr:`Name.joined`.
    hemisphere : str or None
        ``"left"``, ``"right"``, None, or both (which no name has).
    hemisphere_only : bool
        The query had hemisphere words and nothing else.
    """

    pattern: re.Pattern[str] | None
    normalised: str
    words: tuple[str, ...]
    joined: str
    hemisphere: str | None
    hemisphere_only: bool


class Name(NamedTuple):
    """A name split into its words and its hemisphere (rule 2).

    Attributes
    ----------
    normalised : str
        The whole name, normalised.
    tokens : tuple of str
        The words of the name without its hemisphere words (casefolded).
    raw : tuple of str
        The same words as written (case kept), to find abbreviation boundaries.
    joined : str
        ``tokens`` without spaces: every query word must occur in it.
    hemisphere : str or None
    """

    normalised: str
    tokens: tuple[str, ...]
    raw: tuple[str, ...]
    joined: str
    hemisphere: str | None


@lru_cache(maxsize=65536)
def parse_query(query: str) -> Query:
    """Split ``query`` into the words to find and the hemisphere (see the module rules)."""
    pattern = as_regex(query)
    normalised = normalise(query)
    words: list[str] = []
    sides: set[str] = set()
    lateral = False
    for word in normalised.split():
        if word in _QUERY_HEMISPHERES:
            sides.add(_QUERY_HEMISPHERES[word])
            lateral = True
        elif word == _HEMISPHERE_WORD:
            lateral = True
        else:
            words.append(word)
    hemisphere = _BOTH if len(sides) > 1 else next(iter(sides), None)
    return Query(
        pattern, normalised, tuple(words), "".join(words), hemisphere, lateral and not words
    )


@lru_cache(maxsize=65536)
def parse_name(name: str) -> Name:
    """Split ``name`` into its words and its hemisphere (see the module rules)."""
    raw = [w for w in _SEPARATORS.split(name) if w]
    folded = [w.casefold() for w in raw]
    normalised = " ".join(folded)
    lateral = "left" in folded or "right" in folded
    if not lateral and not (
        len(folded) > 1 and (folded[0] in _QUERY_HEMISPHERES or folded[-1] in _QUERY_HEMISPHERES)
    ):
        return Name(normalised, tuple(folded), tuple(raw), "".join(folded), None)
    if folded[-1] == _HEMISPHERE_WORD and len(folded) > 2:
        # the siibra convention "<area> - left hemisphere", most lateralised names
        side, stem = folded[-2], folded[:-2]
        if side in _NAME_HEMISPHERES and "left" not in stem and "right" not in stem:
            return Name(normalised, tuple(stem), tuple(raw[:-2]), "".join(stem), side)
    sides: set[str] = set()
    keep = []
    last = len(folded) - 1
    for i, word in enumerate(folded):
        side = _NAME_HEMISPHERES.get(word)
        if side is None and i in (0, last) and last > 0:
            side = _QUERY_HEMISPHERES.get(word)
        if side is not None:
            sides.add(side)
        elif word == _HEMISPHERE_WORD and i > 0 and folded[i - 1] in _NAME_HEMISPHERES:
            continue  # "... left hemisphere": part of the hemisphere
        else:
            keep.append(i)
    hemisphere = _BOTH if len(sides) > 1 else next(iter(sides), None)
    tokens = tuple(folded[i] for i in keep)
    return Name(normalised, tokens, tuple(raw[i] for i in keep), "".join(tokens), hemisphere)


def _boundary(raw: str, at: int) -> bool:
    """True if ``raw`` may be cut before position ``at`` into an abbreviation's parts."""
    before, after = raw[at - 1], raw[at]
    if before.isdigit() != after.isdigit() or "." in (before, after):
        return True
    # an upper-case run ends or begins: "PF|m", "HCP|ex", "h|Oc"; not "H|ippocampus"
    if before.isupper() and after.islower():
        return at >= 2 and raw[at - 2].isupper()
    return before.islower() and after.isupper()


def _grade(word: str, name: Name) -> int:
    """The grade (rule 4) of one query word in ``name``; 0 if it does not occur."""
    best = 0
    size = len(word)
    for token, raw in zip(name.tokens, name.raw, strict=True):
        if len(raw) != len(token):
            raw = token  # casefolding changed the length ("ß"): no case boundaries
        if token == word:
            return WORD
        at = token.find(word)
        if at < 0:
            continue
        if at == 0:
            rest = len(token) - size
            grade = PART if size >= 2 and rest <= _MAX_VARIANT and _boundary(raw, size) else PREFIX
        elif at + size == len(token) and size >= 2 and _boundary(raw, at):
            grade = PART
        else:
            grade = INSIDE
        best = max(best, grade)
    return best or INSIDE  # the caller checked that the word occurs in the joined name


def rank(query: str, name: str) -> Rank | None:
    """How well ``query`` matches ``name``: None for no match, higher tuples better.

    The rules are those of the module docstring: exact matches rank
    :data:`EXACT_RANK`; otherwise the rank is ``(0, g1, g2, ...)`` with the grades of
    the query words sorted weakest first; all ``/regex/`` matches rank
    :data:`REGEX_RANK`. Ranks of one query compare with ``<`` and ``==``; two
    candidates of equal rank match equally well.

    Parameters
    ----------
    query : str
        Words, or a ``/regex/flags`` pattern.
    name : str
        The candidate name.

    Returns
    -------
    tuple of int or None
    """
    q = parse_query(query)
    if q.pattern is not None:
        return REGEX_RANK if q.pattern.search(name) else None
    n = parse_name(name)
    if q.normalised == n.normalised and q.normalised:
        return EXACT_RANK
    if q.hemisphere != n.hemisphere and q.hemisphere is not None:
        return None
    if not q.words:
        # only hemisphere words: they name a region called only by a hemisphere
        return EXACT_RANK if q.hemisphere_only and not n.tokens else None
    if q.hemisphere == n.hemisphere and q.joined == n.joined:
        return EXACT_RANK
    joined = n.joined
    for word in q.words:
        if word not in joined:
            return None
    return (0, *sorted(_grade(word, n) for word in q.words))


def score(query: str, name: str) -> float:
    """How well ``query`` matches ``name`` as one number; 0 means no match.

    A projection of :func:`rank` for callers that want a number (picking the best of
    a few names): :data:`EXACT` for an exact match, :data:`WORDS` for a ``/regex/``
    match, and in between for word matches, higher when the weakest word is better.

    Parameters
    ----------
    query : str
        Words, or a ``/regex/flags`` pattern.
    name : str
        The candidate name.

    Returns
    -------
    float
        0, or a value in ``[WORDS, EXACT]``.
    """
    found = rank(query, name)
    if found is None:
        return 0.0
    if found == EXACT_RANK:
        return EXACT
    grades = found[1:]
    if not any(grades):
        return WORDS
    # weakest grade first (rule 4), then the average, kept below EXACT
    return WORDS + 10.0 * grades[0] + 2.0 * sum(grades) / len(grades)


def closest(query: str, names: Iterable[str], n: int = 3) -> list[str]:
    """Return up to ``n`` names closest to ``query``, for "did you mean" suggestions."""
    if n <= 0:
        return []
    by_norm: dict[str, str] = {}
    for name in names:
        by_norm.setdefault(normalise(name), name)
    hits = difflib.get_close_matches(normalise(query), list(by_norm), n=n, cutoff=0.3)
    if len(hits) < n:
        # difflib misses partial words; fall back to names sharing any query word
        words = normalise(query).split()
        for norm, _ in sorted(by_norm.items()):
            if norm not in hits and any(w in norm for w in words):
                hits.append(norm)
            if len(hits) >= n:
                break
    return [by_norm[h] for h in hits[:n]]
