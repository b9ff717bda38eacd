"""Tests of neuratlas.matching: normalisation, parsing, ranking rules, regex, suggestions."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from neuratlas import matching
from neuratlas.matching import (
    EXACT,
    EXACT_RANK,
    INSIDE,
    PART,
    PREFIX,
    REGEX_RANK,
    WORD,
    WORDS,
    as_regex,
    closest,
    normalise,
    parse_name,
    parse_query,
    rank,
    score,
)

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


# --- parse_query and parse_name -----------------------------------------------------------
@pytest.mark.parametrize(
    ("query", "words", "hemisphere", "hemisphere_only"),
    [
        ("hIP1 left", ("hip1",), "left", False),
        ("Frontal_Sup_2_L", ("frontal", "sup", "2"), "left", False),
        ("lh-superiorfrontal", ("superiorfrontal",), "left", False),
        ("Thalamus RH", ("thalamus",), "right", False),
        ("left hemisphere", (), "left", True),
        ("hemisphere", (), None, True),
        ("left right", (), "left and right", True),
        ("Cerebellar hemispheres", ("cerebellar", "hemispheres"), None, False),
        ("", (), None, False),
    ],
)
def test_parse_query(query: str, words: tuple, hemisphere: str | None, hemisphere_only) -> None:
    parsed = parse_query(query)
    assert parsed.words == words
    assert parsed.hemisphere == hemisphere
    assert parsed.hemisphere_only is hemisphere_only


@pytest.mark.parametrize(
    ("name", "tokens", "hemisphere"),
    [
        ("Area hIP1 (IPS) - left hemisphere", ("area", "hip1", "ips"), "left"),
        ("Hippocampus_R", ("hippocampus",), "right"),
        ("Left hemisphere", (), "left"),
        ("Leftover", ("leftover",), None),
        ("Cerebellar hemispheres", ("cerebellar", "hemispheres"), None),
        # a single letter is a hemisphere only at either end of a name
        ("Cerebellum L 6", ("cerebellum", "l", "6"), None),
        ("L", ("l",), None),
    ],
)
def test_parse_name(name: str, tokens: tuple, hemisphere: str | None) -> None:
    parsed = parse_name(name)
    assert parsed.tokens == tokens
    assert parsed.joined == "".join(tokens)
    assert parsed.hemisphere == hemisphere


# --- rank ----------------------------------------------------------------------------------
def test_exact_match_ranks_exact_after_normalisation() -> None:
    assert rank("area hip1 (ips)", "Area hIP1 (IPS)") == EXACT_RANK
    assert rank("AREA_HIP1-IPS", "Area hIP1 (IPS)") == EXACT_RANK


def test_exact_with_the_hemisphere_written_any_way() -> None:
    for query in ("Area hIP1 (IPS) left", "area_hip1_ips_l", "lh area hip1 ips"):
        assert rank(query, NAMES[0]) == EXACT_RANK, query
    # without the hemisphere the query fits the area exactly, and its hemispheres as words
    assert rank("Area hIP1 (IPS)", NAMES[0]) == (0, WORD, WORD, WORD)


def test_exact_with_the_spaces_left_out() -> None:
    assert rank("superiorfrontal", "Superior frontal") == EXACT_RANK
    assert rank("lh-superiorfrontal", "Superior frontal - left hemisphere") == EXACT_RANK


def test_no_match_ranks_none() -> None:
    assert rank("hip2", "Area hIP1 (IPS)") is None
    assert rank("", "Area hIP1 (IPS)") is None
    assert rank("   ", "anything") is None


def test_every_word_must_occur() -> None:
    assert rank("hip1 left", NAMES[0]) is not None
    assert rank("hip1 left", NAMES[1]) is None
    # word order does not matter
    assert rank("left hip1", NAMES[0]) == rank("hip1 left", NAMES[0])


def test_hemisphere_words_filter_and_do_not_match_alone() -> None:
    assert rank("hip1 right", NAMES[0]) is None
    assert rank("hip1 right", NAMES[1]) is not None
    # a query of hemisphere words only names no region ...
    for query in ("left", "left hemisphere", "hemisphere", "l"):
        assert rank(query, NAMES[0]) is None, query
    # ... except one named only by a hemisphere
    assert rank("left", "Left hemisphere") == EXACT_RANK
    assert rank("right", "Left hemisphere") is None
    # asking for both hemispheres matches neither
    assert rank("hip1 left right", NAMES[0]) is None


@pytest.mark.parametrize(
    ("word", "name", "grade"),
    [
        ("amygdala", "Amygdala - left hemisphere", WORD),
        ("v1", "Visual cortex V1 BA17", WORD),
        # the start of an abbreviation, cut at a number, a "." or a case change
        ("hip", "Area hIP1 (IPS)", PART),
        ("ba4", "Primary motor cortex BA4a", PART),
        ("te1", "Primary auditory cortex TE1.0", PART),
        ("pf", "Inferior parietal lobule PFcm", PART),
        ("hcp", "HCPex", PART),
        ("fsaverage", "fsaverage5", PART),
        # ... or its end
        ("44", "Broca's area BA44", PART),
        ("ex", "HCPex", PART),
        # the start of a longer word, not an abbreviation's variant
        ("ba4", "Broca's area BA44", PREFIX),
        ("hip", "Hippocampus", PREFIX),
        ("para", "ParaHippocampal", PREFIX),
        ("insula", "Insular Cortex", PREFIX),
        ("h", "Area hIP1 (IPS)", PREFIX),  # one letter is never an abbreviation's part
        # inside a word, or across words
        ("central", "Precentral", INSIDE),
        ("cortical", "Harvard-Oxford subcortical", INSIDE),
        ("frontalsup", "Frontal Sup 2", INSIDE),
    ],
)
def test_word_grades(word: str, name: str, grade: int) -> None:
    assert rank(word, name) == (0, grade)


def test_a_match_is_as_good_as_its_weakest_word() -> None:
    # sorted weakest first: one inside-a-word match ranks below all-prefix matches
    assert rank("hip cortex", "Hippocampus entorhinal cortex") == (0, PREFIX, WORD)
    assert rank("ammonis hip", "Hippocampus cornu ammonis") == (0, PREFIX, WORD)
    assert rank("cortex", "Hippocampus entorhinal cortex") > rank(
        "entorhin", "Hippocampus entorhinal cortex"
    )


def test_grade_order() -> None:
    assert EXACT_RANK > (0, WORD) > (0, PART) > (0, PREFIX) > (0, INSIDE) > REGEX_RANK
    assert WORD > PART > PREFIX > INSIDE > 0


def test_regex_query() -> None:
    assert rank("/^Area h/", "Area hIP1 (IPS)") == REGEX_RANK
    assert rank("/^area h/", "Area hIP1 (IPS)") is None
    assert rank("/^area h/i", "Area hIP1 (IPS)") == REGEX_RANK
    assert rank("/left hemisphere$/i", NAMES[0]) == REGEX_RANK
    assert rank("/left hemisphere$/i", NAMES[2]) is None


def test_regex_is_matched_against_the_raw_name() -> None:
    # separators are not normalised away for patterns
    assert rank(r"/\(IPS\)/", "Area hIP1 (IPS)") == REGEX_RANK


def test_invalid_regex_falls_back_to_words() -> None:
    # "/([x/" is not a valid pattern: its words are "x" after normalisation
    assert rank("/([x/", "box") is not None
    assert rank("/([x/", "bob") is None


def test_casefolding_that_changes_the_length_does_not_break_grading() -> None:
    assert rank("strasse", "Große Straße") == (0, WORD)
    assert rank("stra", "Große Straße") == (0, PREFIX)


# --- score ---------------------------------------------------------------------------------
def test_score_projects_the_rank() -> None:
    assert score("Nucleus accumbens", "Nucleus accumbens") == EXACT
    assert score("/^Nucleus/", "Nucleus accumbens") == WORDS
    assert score("zzz", "Nucleus accumbens") == 0.0
    word = score("accumbens", "Nucleus accumbens")
    prefix = score("accumb", "Nucleus accumbens")
    inside = score("cumb", "Nucleus accumbens")
    assert EXACT > word > prefix > inside > WORDS


def test_score_is_equal_for_equal_ranks() -> None:
    # where a word occurs in the name, and how long the name is, do not count
    assert score("nucleus", "Nucleus accumbens") == score("accumbens", "Nucleus accumbens")
    assert score("hip1", "Area hIP1 (IPS)") == score("hip1", NAMES[0])


@given(st.text(min_size=1), st.text(min_size=1))
def test_score_is_bounded(query: str, name: str) -> None:
    value = score(query, name)
    assert value == 0.0 or WORDS <= value <= EXACT
    assert (value == 0.0) == (rank(query, name) is None)


@given(st.text(alphabet="abcAB12 _-", min_size=1), st.text(alphabet="abcAB12 _-", min_size=1))
def test_score_follows_the_rank(first: str, second: str) -> None:
    name = "Ab1 bc2 ABc"
    a, b = rank(first, name), rank(second, name)
    if a is not None and b is not None and len(a) == len(b) and a > b:
        assert score(first, name) >= score(second, name)


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
