"""Tests of neuratlas.registry: InstanceTable lookups, version ordering, errors, memoisation."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from neuratlas.errors import AmbiguousError, NotFoundError
from neuratlas.registry import InstanceTable, make_key, version_order


@dataclass(eq=False)
class Entry:
    """A minimal registered object."""

    id: str
    name: str
    short_name: str = ""
    aliases: tuple[str, ...] = ()
    version: str | None = None
    collection_name: str | None = None

    @property
    def key(self) -> str:
        return make_key(self.short_name or self.name)

    @property
    def lookup_names(self) -> tuple[str, ...]:
        return (self.name, self.short_name or self.name, *self.aliases)

    @property
    def collection(self) -> str:
        return self.collection_name or self.id

    @property
    def version_order(self) -> tuple:
        return version_order(self.version)


def julich(version: str) -> Entry:
    return Entry(
        f"ex/julich-{version}",
        f"Julich-Brain Atlas v{version}",
        f"julich {version}",
        (),
        version,
        "julich",
    )


def make_table() -> InstanceTable[Entry]:
    return InstanceTable(
        "parcellation",
        [
            julich("2.9"),
            julich("3.10"),
            julich("3.9"),
            Entry("ex/difumo-64", "DiFuMo 64", "difumo64", ("dictionary of functional modes",)),
            Entry("ex/difumo-32", "DiFuMo 32", "difumo32"),
            Entry("ex/harvard", "Harvard-Oxford cortical", "HOC", ("HarvOx",)),
        ],
    )


# --- helpers ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Juelich histological", "JUELICH_HISTOLOGICAL"),
        ("MNI152 2009c nonl asym", "MNI152_2009C_NONL_ASYM"),
        ("  a--b  ", "A_B"),
        ("3D template", "_3D_TEMPLATE"),
    ],
)
def test_make_key(name: str, key: str) -> None:
    assert make_key(name) == key
    assert make_key(name).isidentifier()


@pytest.mark.parametrize(
    ("older", "newer"),
    [("3.9", "3.10"), ("2.9", "3.0"), ("1", "2"), ("3", "3.1"), ("1.18", "1.100"), (None, "1")],
)
def test_version_order_is_numeric(older: str | None, newer: str) -> None:
    assert version_order(older) < version_order(newer)


def test_version_order_mixed_tokens_compare() -> None:
    # an unversioned entry, a "v1"-style version and numbers must all be comparable
    keys = [version_order(v) for v in (None, "", "v1", "beta", "3.0a", "3.1", "2")]
    assert sorted(keys)  # no TypeError
    assert version_order(None) < version_order("v1")
    assert version_order(None) < version_order("beta")


@given(st.lists(st.integers(0, 1000), min_size=1, max_size=4))
def test_version_order_matches_integer_tuples(parts: list[int]) -> None:
    other = [*parts[:-1], parts[-1] + 1]
    a, b = ".".join(map(str, parts)), ".".join(map(str, other))
    assert version_order(a) < version_order(b)


# --- lookups -------------------------------------------------------------------------------
def test_lookup_by_index_including_negative() -> None:
    table = make_table()
    assert table[0].id == "ex/julich-2.9"
    assert table[-1].id == "ex/harvard"


def test_lookup_by_bad_index() -> None:
    table = make_table()
    with pytest.raises(NotFoundError, match=r"no parcellation at index 6: there are 6") as info:
        table[6]
    assert "between 0 and 5" in info.value.hint


def test_lookup_bool_is_not_an_index() -> None:
    with pytest.raises(NotFoundError, match="True"):
        make_table()[True]


def test_lookup_by_key_id_name_short_name_alias() -> None:
    table = make_table()
    harvard = table["ex/harvard"]
    assert table["HOC"] is harvard
    assert table["Harvard-Oxford cortical"] is harvard
    assert table["harvard oxford CORTICAL"] is harvard
    assert table["hoc"] is harvard
    assert table["HarvOx"] is harvard
    assert table["dictionary of functional modes"].id == "ex/difumo-64"


def test_lookup_by_entry_object() -> None:
    table = make_table()
    entry = table[3]
    assert table.get(entry) is entry
    with pytest.raises(NotFoundError, match="is not a known parcellation"):
        table.get(Entry("x", "stranger"))


def test_fuzzy_words() -> None:
    table = make_table()
    assert table["harvard cortical"].id == "ex/harvard"
    assert table["difumo 32"].id == "ex/difumo-32"


def test_regex_lookup() -> None:
    table = make_table()
    assert table["/^harvard/i"].id == "ex/harvard"
    with pytest.raises(AmbiguousError):
        table["/difumo/i"]


def test_unversioned_query_of_a_collection_returns_newest_same_length_versions() -> None:
    table = make_table()
    # "3.9" and "2.9" are equally long: their names tie, the newer wins
    table = InstanceTable("parcellation", [e for e in make_table() if e.version != "3.10"])
    assert table["julich"].version == "3.9"
    assert table["Julich-Brain Atlas"].version == "3.9"


def test_unversioned_query_of_a_collection_returns_newest() -> None:
    table = make_table()
    assert table["julich"].version == "3.10"  # 3.10 > 3.9 > 2.9
    assert table["Julich-Brain Atlas"].version == "3.10"


def test_versioned_query_returns_that_version() -> None:
    table = make_table()
    assert table["julich 3.9"].version == "3.9"
    assert table["julich 2.9"].version == "2.9"


def test_find_orders_by_score_then_newest_version() -> None:
    versions = [e.version for e in make_table().find("julich")]
    # 3.9 and 2.9 tie on score (same length): newest first among them
    assert versions.index("3.9") < versions.index("2.9")


def test_find_newest_first_with_prefix_versions() -> None:
    table = InstanceTable(
        "thing",
        [Entry("a", "Foo a", "fa", (), "3", "foo"), Entry("b", "Foo b", "fb", (), "3.1", "foo")],
    )
    assert [e.version for e in table.find("foo")] == ["3.1", "3"]


def test_mixed_versioned_and_unversioned_entries() -> None:
    table = InstanceTable(
        "thing",
        [Entry("a", "Foo x", "fx", (), None, "foo"), Entry("b", "Foo y", "fy", (), "v1", "foo")],
    )
    assert table["foo"].id == "b"
    assert [e.id for e in table.find("foo")] == ["b", "a"]


def test_not_found_suggests_closest_names() -> None:
    table = make_table()
    with pytest.raises(NotFoundError) as info:
        table["difumo 265"]
    error = info.value
    assert "no parcellation matches 'difumo 265'" in str(error)
    assert set(error.suggestions) >= {"DiFuMo 64", "DiFuMo 32"}
    assert len(error.suggestions) <= 3
    assert "did you mean" in str(error)
    assert "'DiFuMo 32'" in str(error)
    assert isinstance(error, LookupError)


def test_not_found_without_anything_similar() -> None:
    with pytest.raises(NotFoundError, match="no parcellation matches 'zzzzqqq'") as caught:
        make_table()["zzzzqqq"]
    assert not caught.value.suggestions
    assert caught.value.hint == "neuratlas.parcellations lists the known parcellations"


def test_ambiguous_lists_candidates() -> None:
    table = make_table()
    with pytest.raises(AmbiguousError) as info:
        table["difumo"]
    assert set(info.value.candidates) == {"DiFuMo 64", "DiFuMo 32"}
    assert "'difumo' matches 2 parcellations equally well" in str(info.value)
    assert "be more specific" in str(info.value)


def harvard_oxford() -> InstanceTable[Entry]:
    return InstanceTable(
        "parcellation",
        [
            Entry("ex/hoc", "Harvard-Oxford cortical structural atlas", "HO cortical"),
            Entry("ex/hos", "Harvard-Oxford subcortical structural atlas", "HO subcortical"),
        ],
    )


def test_only_a_better_rank_wins() -> None:
    table = harvard_oxford()
    # "harvard" and "ho" are whole words of both: the shorter name does not win
    for query in ("harvard", "ho", "harvard structural atlas"):
        with pytest.raises(AmbiguousError) as info:
            table[query]
        assert info.value.candidates == [
            "Harvard-Oxford cortical structural atlas",
            "Harvard-Oxford subcortical structural atlas",
        ]
    # "cortical" is a word of one, only inside "subcortical" in the other
    assert table["harvard cortical"].id == "ex/hoc"
    assert table["ho sub"].id == "ex/hos"  # the start of "subcortical", nowhere in the other
    assert [e.id for e in table.find("cortical")] == ["ex/hoc", "ex/hos"]


def test_the_best_name_of_an_entry_ranks_it() -> None:
    table = InstanceTable(
        "space",
        [
            Entry("ex/a", "Space A", "fsaverage5", ("fsavg5",)),
            Entry("ex/b", "Space B", "fsaverage6"),
        ],
    )
    with pytest.raises(AmbiguousError):
        table["fsaverage"]  # a part of both abbreviations
    assert table["fsavg"].id == "ex/a"


def test_in_operator() -> None:
    table = make_table()
    assert "harvard" in table
    assert "zzzzqqq" not in table
    assert table[0] in table
    assert Entry("x", "y") not in table


def test_in_operator_does_not_hide_an_ambiguous_name() -> None:
    # 'difumo' matches two entries: answering False would hide them, True would
    # promise a lookup that fails; the lookup's own error says which to choose
    with pytest.raises(AmbiguousError, match="be more specific"):
        "difumo" in make_table()  # noqa: B015


# --- container protocol -----------------------------------------------------------------------
def test_len_iter_keys_names() -> None:
    table = make_table()
    assert len(table) == 6
    assert [e.id for e in table] == [
        "ex/julich-2.9",
        "ex/julich-3.10",
        "ex/julich-3.9",
        "ex/difumo-64",
        "ex/difumo-32",
        "ex/harvard",
    ]
    assert table.keys == [e.key for e in table]
    assert table.keys[-1] == "HOC"
    assert table.names[-1] == "Harvard-Oxford cortical"


def test_empty_table() -> None:
    table: InstanceTable[Entry] = InstanceTable("space")
    assert len(table) == 0
    assert list(table) == []
    assert table.dataframe.empty
    with pytest.raises(NotFoundError, match="no space matches 'x'"):
        table["x"]


def test_dataframe() -> None:
    frame = make_table().dataframe
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["key", "name", "short name", "version", "id"]
    assert len(frame) == 6
    assert frame.loc[1, "version"] == "3.10"
    assert frame.loc[5, "key"] == "HOC"
    assert frame.loc[5, "id"] == "ex/harvard"


def test_attribute_access_by_key() -> None:
    table = make_table()
    assert table.HOC.id == "ex/harvard"
    assert table.DIFUMO64.id == "ex/difumo-64"
    with pytest.raises(AttributeError, match="no parcellation with key 'NOPE'"):
        table.NOPE  # noqa: B018
    with pytest.raises(AttributeError):
        table._private  # noqa: B018
    assert "HOC" in dir(table)


def test_repr_lists_entries() -> None:
    text = repr(make_table())
    assert text.splitlines()[0] == "<6 parcellations>"
    assert "  HOC: Harvard-Oxford cortical" in text


def test_repr_plural_of_words_ending_in_s() -> None:
    assert repr(InstanceTable("atlas")).startswith("<0 atlases>")


# --- building and memoisation -------------------------------------------------------------
def test_add_does_not_return_stale_memoised_results() -> None:
    table = make_table()
    assert table["difumo 3"].id == "ex/difumo-32"
    table.add(Entry("ex/difumo-3", "DiFuMo 3", "difumo3"))
    assert table["difumo 3"].id == "ex/difumo-3"  # now an exact match
    with pytest.raises(NotFoundError):
        table["schaefer"]
    table.add(Entry("ex/schaefer", "Schaefer 2018"))
    assert table["schaefer"].id == "ex/schaefer"


def test_add_replaces_by_id() -> None:
    table = make_table()
    assert table["HOC"].name == "Harvard-Oxford cortical"
    table.add(Entry("ex/harvard", "Harvard-Oxford subcortical", "HOS"))
    assert len(table) == 6
    assert table["ex/harvard"].name == "Harvard-Oxford subcortical"
    assert table["HOS"].id == "ex/harvard"
    # the replaced entry's names no longer resolve to it
    with pytest.raises(NotFoundError):
        table["HOC"]


# --- on the toy catalogue -----------------------------------------------------------------
def test_toy_parcellations_newest_by_default(toy) -> None:
    assert toy.parcellations["toy"].version == "2"
    assert toy.parcellations["Toy parcellation"].version == "2"
    assert toy.parcellations["toy v1"].version == "1"
    assert toy.parcellations["toy/parcellation/toy-v1"].version == "1"
    assert toy.parcellations.TOY_V1.version == "1"


def test_toy_maps_by_generated_name(toy) -> None:
    assert toy.maps["toy v2 toy statistical"].id == "toy/map/statistical"
    assert toy.maps.TOY_V2_TOY_LABELLED.id == "toy/map/labelled"
