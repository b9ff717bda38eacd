"""Tests of neuratlas.matching: normalisation, scoring order, regex queries, suggestions."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from neuratlas import matching
from neuratlas.matching import EXACT, WORDS, as_regex, closest, normalise, score

NAMES = [
    "Area hIP1 (IPS) - left hemisphere",
    "Area hIP1 (IPS) - right hemisphere",
    "Area hIP1 (IPS)",
    "Area hOc1 (V1, 17, CalcS)",
    "Nucleus accumbens",
]


# --- normalise -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Area hIP1 (IPS)", "area hip1 ips"),
        ("  left_hemisphere ", "left hemisphere"),
        ("A-B,C;D:E[F]{G}'H\"I/J", "a b c d e f g h i j"),
        ("MNI152   NLin2009cAsym", "mni152 nlin2009casym"),
        ("STRASSE", "strasse"),
        ("", ""),
        ("---", ""),
    ],
)
def test_normalise_examples(text: str, expected: str) -> None:
    assert normalise(text) == expected


def test_normalise_uses_casefold() -> None:
    # casefold, not lower: the German sharp s folds to "ss"
    assert normalise("Straße") == normalise("STRASSE")


@given(st.text())
def test_normalise_is_idempotent_and_clean(text: str) -> None:
    once = normalise(text)
    assert normalise(once) == once
    assert once == once.strip()
    assert "  " not in once
    assert not re.search(r"[_\-,;:()\[\]{}'\"/]", once)


@given(st.text(alphabet="abcXYZ _-()", min_size=1))
def test_names_differing_in_case_and_separators_normalise_alike(text: str) -> None:
    variant = text.upper().replace(" ", "_").replace("-", " ")
    assert normalise(variant) == normalise(text)


# --- as_regex ------------------------------------------------------------------------------
def test_as_regex_plain_words_are_not_a_pattern() -> None:
    assert as_regex("hIP1 left") is None
    assert as_regex("/unterminated") is None


def test_as_regex_flags() -> None:
    pattern = as_regex("/^area h/i")
    assert pattern is not None
    assert pattern.flags & re.IGNORECASE
    assert as_regex("/^area h/").flags & re.IGNORECASE == 0
    assert as_regex("/a.b/s").flags & re.DOTALL
    assert as_regex("/^x$/m").flags & re.MULTILINE


def test_as_regex_invalid_pattern_gives_none() -> None:
    assert as_regex("/([unclosed/") is None


# --- score ---------------------------------------------------------------------------------
def test_exact_match_scores_exact_after_normalisation() -> None:
    assert score("area hip1 (ips)", "Area hIP1 (IPS)") == EXACT
    assert score("AREA_HIP1-IPS", "Area hIP1 (IPS)") == EXACT


def test_no_match_scores_zero() -> None:
    assert score("hip2", "Area hIP1 (IPS)") == 0.0
    assert score("", "Area hIP1 (IPS)") == 0.0
    assert score("   ", "anything") == 0.0


def test_every_word_must_occur() -> None:
    assert score("hip1 left", NAMES[0]) > 0
    assert score("hip1 left", NAMES[1]) == 0.0
    # word order does not matter
    assert score("left hip1", NAMES[0]) > 0


def test_scoring_order_exact_prefix_words_substring() -> None:
    exact = score("nucleus accumbens", "Nucleus accumbens")
    prefix = score("nucleus", "Nucleus accumbens")
    whole_word_inside = score("accumbens", "Nucleus accumbens")
    substring = score("cumb", "Nucleus accumbens")
    assert exact == EXACT
    assert EXACT > prefix > whole_word_inside > substring >= WORDS


def test_shorter_names_win_ties() -> None:
    # the area beats its hemispheres for the same words
    area = score("hip1", "Area hIP1 (IPS)")
    left = score("hip1", "Area hIP1 (IPS) - left hemisphere")
    assert area > left > 0


def test_fuzzy_scores_stay_below_exact() -> None:
    for name in NAMES:
        for word in normalise(name).split():
            assert WORDS <= score(word, name) < EXACT or normalise(name) == word


@given(st.text(min_size=1), st.text(min_size=1))
def test_score_is_bounded(query: str, name: str) -> None:
    value = score(query, name)
    assert value == 0.0 or WORDS <= value <= EXACT


def test_regex_query() -> None:
    assert score("/^Area h/", "Area hIP1 (IPS)") == WORDS
    assert score("/^area h/", "Area hIP1 (IPS)") == 0.0
    assert score("/^area h/i", "Area hIP1 (IPS)") == WORDS
    assert score("/left hemisphere$/i", NAMES[0]) == WORDS
    assert score("/left hemisphere$/i", NAMES[2]) == 0.0


def test_regex_is_matched_against_the_raw_name() -> None:
    # separators are not normalised away for patterns
    assert score(r"/\(IPS\)/", "Area hIP1 (IPS)") == WORDS


def test_invalid_regex_falls_back_to_words() -> None:
    # "/([x/" is not a valid pattern: its words are "x" after normalisation
    assert score("/([x/", "box") > 0
    assert score("/([x/", "bob") == 0.0


# --- closest -------------------------------------------------------------------------------
def test_closest_finds_typos() -> None:
    assert closest("Nucleus acumbens", NAMES)[0] == "Nucleus accumbens"


def test_closest_falls_back_to_shared_words() -> None:
    hits = closest("hip1 zzzzzzzz", NAMES, n=3)
    assert len(hits) == 3
    assert all("hIP1" in h for h in hits)


def test_closest_respects_n_and_returns_original_spelling() -> None:
    hits = closest("area", NAMES, n=2)
    assert len(hits) == 2
    assert set(hits) <= set(NAMES)
    assert closest("area", NAMES, n=0) == []


def test_closest_nothing_similar() -> None:
    assert closest("qqqqqq", ["alpha", "beta"]) == []
    assert closest("anything", []) == []


def test_closest_deduplicates_names_equal_after_normalisation() -> None:
    hits = closest("alpha", ["Alpha", "alpha", "ALPHA", "beta"], n=3)
    assert hits.count("Alpha") == 1
    assert "alpha" not in hits and "ALPHA" not in hits


def test_module_constants() -> None:
    assert matching.EXACT > matching.WORDS > 0
