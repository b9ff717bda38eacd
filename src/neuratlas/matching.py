"""Name normalisation and match scoring, shared by every lookup in neuratlas.

A query matches a name when every word of the query occurs as a substring of the
normalised name ("hip1 left" matches "Area hIP1 (IPS) - left hemisphere"). A query
written as ``/pattern/flags`` is a regular expression instead. Scores rank matches:
exact beats prefix beats whole words beats substrings, and shorter names win ties.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from functools import lru_cache

_SEPARATORS = re.compile(r"[\s_\-,;:()\[\]{}'\"/]+")
_REGEX_SPEC = re.compile(r"^/(?P<pattern>.+)/(?P<flags>[a-z]*)$", re.DOTALL)

EXACT = 100.0
WORDS = 50.0


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


@lru_cache(maxsize=65536)
def _query_words(query: str) -> tuple[str, ...]:
    return tuple(normalise(query).split())


def score(query: str, name: str) -> float:
    """Score how well ``query`` matches ``name``; 0 means no match.

    Parameters
    ----------
    query : str
        Words, or a ``/regex/flags`` pattern.
    name : str
        The candidate name.

    Returns
    -------
    float
        100 for an exact (normalised) match; 50-99 when every query word is a
        substring of the name, higher when words match whole words, at the start,
        and when the name is short; 0 for no match.
    """
    pattern = as_regex(query)
    if pattern is not None:
        return WORDS if pattern.search(name) else 0.0
    q = normalise(query)
    n = normalise(name)
    if not q:
        return 0.0
    if q == n:
        return EXACT
    words = _query_words(query)
    if not all(w in n for w in words):
        return 0.0
    name_words = n.split()
    whole = sum(w in name_words for w in words) / len(words)
    prefix = 1.0 if n.startswith(q) else 0.0
    coverage = sum(len(w) for w in words) / max(len(n.replace(" ", "")), 1)
    return WORDS + 20.0 * whole + 10.0 * prefix + 19.0 * min(coverage, 1.0)


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
        words = _query_words(query)
        for norm, _ in sorted(by_norm.items()):
            if norm not in hits and any(w in norm for w in words):
                hits.append(norm)
            if len(hits) >= n:
                break
    return [by_norm[h] for h in hits[:n]]
