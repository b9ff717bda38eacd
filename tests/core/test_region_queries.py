"""Realistic region queries on the embedded atlases: what each one must give.

A table of what users type (names, abbreviations, hemispheres written every way,
typos, words that fit several regions), each with the region it must name, the
candidates of its ambiguity, or the suggestion of its NotFoundError. The rules that
decide are written down in :mod:`neuratlas.matching`; the comments say which one
decides each row.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

import pytest

import neuratlas
from neuratlas.errors import AmbiguousError, NotFoundError

HIP = "Anterior intra-parietal sulcus hIP{} - {} hemisphere"


@dataclass(frozen=True)
class Ambiguous:
    """The query fits these (topmost) regions equally well."""

    candidates: tuple[str, ...]


@dataclass(frozen=True)
class Missing:
    """No region matches; ``hint`` is part of the error's hint (the suggestion)."""

    hint: str


QUERIES: list[tuple[str, str, str | Ambiguous | Missing]] = [
    # --- the examples ----------------------------------------------------------------
    # "hIP" starts the abbreviations hIP1-3 (a part), only the start of "Hippocampus" (a prefix)
    ("juelich", "hIP left", Ambiguous(tuple(HIP.format(i, "left") for i in (1, 2, 3)))),
    (
        "juelich",
        "hIP",
        Ambiguous(tuple(f"Anterior intra-parietal sulcus hIP{i}" for i in (1, 2, 3))),
    ),
    # BA4a and BA4p are parts of "BA4"; BA44 continues its number: a mere prefix
    ("juelich", "BA4", Ambiguous(("Primary motor cortex BA4a", "Primary motor cortex BA4p"))),
    # hemisphere words alone name no region
    ("juelich", "left hemisphere", Missing("add the region's name")),
    ("ho subcortical", "left", Missing("add the region's name")),
    # Harvard-Oxford has no frontal lobe region: "frontal" fits eight regions alike
    (
        "ho cortical",
        "frontal",
        Ambiguous(
            (
                "Frontal Medial Cortex",
                "Frontal Operculum Cortex",
                "Frontal Orbital Cortex",
                "Frontal Pole",
                "Inferior Frontal Gyrus pars opercularis",
                "Inferior Frontal Gyrus pars triangularis",
                "Middle Frontal Gyrus",
                "Superior Frontal Gyrus",
            )
        ),
    ),
    # --- the README's examples, and the name written every way ------------------------------
    ("juelich", "hIP1 left", HIP.format(1, "left")),
    ("juelich", "HIP1 LEFT", HIP.format(1, "left")),
    ("juelich", "hip1-l", HIP.format(1, "left")),
    ("juelich", "Hip1_RH", HIP.format(1, "right")),
    ("juelich", "Anterior intra-parietal sulcus hIP1 - left hemisphere", HIP.format(1, "left")),
    # the area contains its two hemispheres, which match as well as it does
    ("juelich", "hIP1", "Anterior intra-parietal sulcus hIP1"),
    # --- Juelich abbreviations -------------------------------------------------------------
    ("juelich", "V1", "Visual cortex V1 BA17"),
    ("juelich", "V1 right", "Visual cortex V1 BA17 - right hemisphere"),
    ("juelich", "BA17", "Visual cortex V1 BA17"),
    ("juelich", "Area 44", "Broca's area BA44"),  # "44" ends the abbreviation BA44
    ("juelich", "ba 44", "Broca's area BA44"),
    ("juelich", "BA44 left", "Broca's area BA44 - left hemisphere"),
    ("juelich", "BA3", Ambiguous(tuple(f"Primary somatosensory cortex BA3{x}" for x in "ab"))),
    ("juelich", "BA1", "Primary somatosensory cortex BA1"),
    (
        "juelich",
        "te1",
        Ambiguous(tuple(f"Primary auditory cortex TE1.{i}" for i in (0, 1, 2))),
    ),
    ("juelich", "TE1.0 left", "Primary auditory cortex TE1.0 - left hemisphere"),
    ("juelich", "op1", "Secondary somatosensory cortex / Parietal operculum OP1"),
    # the whole word PF beats PFm, PFt, PFcm and PFop, of which it is a part
    ("juelich", "PF", "Inferior parietal lobule PF"),
    ("juelich", "pfm left", "Inferior parietal lobule PFm - left hemisphere"),
    ("juelich", "7A", "Superior parietal lobule 7A"),
    # --- Juelich structures ----------------------------------------------------------------
    ("juelich", "hippocampus", "Hippocampus"),
    ("juelich", "cornu ammonis", "Hippocampus cornu ammonis"),
    ("juelich", "amygdala", "Amygdala"),
    # the Juelich amygdala has no left region of its own, only its three groups
    (
        "juelich",
        "amygdala left",
        Ambiguous(
            tuple(
                f"Amygdala {g} group - left hemisphere"
                for g in ("centromedial", "laterobasal", "superficial")
            )
        ),
    ),
    ("juelich", "insula", "Insula"),
    (
        "juelich",
        "insula left",
        Ambiguous(tuple(f"Insula {a} - left hemisphere" for a in ("Id1", "Ig1", "Ig2"))),
    ),
    # the group contains every visual area
    ("juelich", "visual", "Visual cortex"),
    (
        "juelich",
        "parietal",
        Ambiguous(
            (
                "Anterior intra-parietal sulcus",
                "Inferior parietal lobule",
                "Secondary somatosensory cortex / Parietal operculum",
                "Superior parietal lobule",
            )
        ),
    ),
    ("juelich", "corticospinal tract right", "Corticospinal tract - right hemisphere"),
    # --- names FSL's Juelich atlas does not use, and typos: a suggestion -----------------------
    ("juelich", "hipocampus", Missing("'Hippocampus'")),
    ("juelich", "amigdala", Missing("'Amygdala'")),
    # siibra's name of V1, an alias of FSL's area; the CA fields (CA1...) are not in
    # FSL's version of the atlas, which has the cornu ammonis as one area ("CA")
    ("juelich", "hOc1", "Visual cortex V1 BA17"),
    ("juelich", "hOc9", Missing("did you mean")),
    ("juelich", "CA1", Missing("did you mean")),
    # --- Harvard-Oxford ----------------------------------------------------------------------
    ("ho subcortical", "thalamus right", "Thalamus - right hemisphere"),
    ("ho subcortical", "amygdala left", "Amygdala - left hemisphere"),
    ("ho subcortical", "hippocampus", "Hippocampus"),
    ("ho subcortical", "accumbens", "Accumbens"),
    ("ho cortical", "precentral", "Precentral Gyrus"),
    ("ho cortical", "insula", "Insular Cortex"),  # the start of "Insular"
    ("ho cortical", "frontal pole right", "Frontal Pole - right hemisphere"),
    ("ho cortical", "heschl", "Heschl's Gyrus (includes H1 and H2)"),
    (
        "ho cortical",
        "supplementary motor",
        "Juxtapositional Lobule Cortex (formerly Supplementary Motor Cortex)",
    ),
    (
        "ho cortical",
        "cingulate",
        Ambiguous(("Cingulate Gyrus anterior division", "Cingulate Gyrus posterior division")),
    ),
    # --- AAL names, as in its label files ----------------------------------------------------
    ("aal3", "precentral", "Precentral"),
    ("aal3", "Precentral_L", "Precentral - left hemisphere"),
    ("aal3", "Frontal_Sup_2_R", "Frontal Sup 2 - right hemisphere"),
    ("aal3", "frontal sup", Ambiguous(("Frontal Sup 2", "Frontal Sup Medial"))),
    ("aal1", "Frontal_Sup_L", "Frontal Sup - left hemisphere"),
    ("aal3", "Hippocampus L", "Hippocampus - left hemisphere"),
    ("aal3", "thalamus", "Thalamus"),
    ("aal3", "Cerebellum 6 left", "Cerebellum 6 - left hemisphere"),
    ("aal3", "vermis 6", "Vermis 6"),
    # --- Desikan-Killiany, also as FreeSurfer writes it -----------------------------------------
    ("dk", "superiorfrontal", "Superior frontal"),
    ("dk", "lh-superiorfrontal", "Superior frontal - left hemisphere"),
    ("dk", "precentral right", "Precentral - right hemisphere"),
    ("dk", "pars opercularis", "Pars opercularis"),
    ("dk", "insula", "Insula"),
    ("dk", "cingulate", "Cingulate"),
    (
        "dk",
        "anterior cingulate",
        Ambiguous(("Caudal anterior cingulate", "Rostral anterior cingulate")),
    ),
    # "central" lies inside three words alike
    ("dk", "central", Ambiguous(("Paracentral", "Postcentral", "Precentral"))),
    # --- other atlases -------------------------------------------------------------------------
    ("talairach ba", "area 4", "Brodmann area 4"),  # the word 4 beats the start of 44
    ("talairach ba", "BA4", Missing("'Brodmann area 4'")),
    ("hcpex", "primary visual", "Primary Visual Cortex"),
    ("destrieux", "Cerebral White Matter left", "Cerebral White Matter - left hemisphere"),
]


@pytest.mark.parametrize(
    ("parcellation", "query", "expected"),
    QUERIES,
    ids=[f"{p}|{q}" for p, q, _ in QUERIES],
)
def test_query(parcellation: str, query: str, expected: str | Ambiguous | Missing) -> None:
    parc = neuratlas.get_parcellation(parcellation)
    if isinstance(expected, Ambiguous):
        with pytest.raises(AmbiguousError) as info:
            parc.get_region(query)
        assert tuple(info.value.candidates) == expected.candidates
        assert f"matches {len(expected.candidates)} regions of {parc.name!r}" in str(info.value)
    elif isinstance(expected, Missing):
        with pytest.raises(NotFoundError) as info:
            parc.get_region(query)
        assert expected.hint in info.value.hint
    else:
        assert parc.get_region(query).name == expected
        # a name the table gives is found by matches() and find() too
        assert parc.get_region(query).matches(query)
        assert parc.get_region(query) in parc.find(query)


def test_the_table_is_large_enough() -> None:
    assert len(QUERIES) >= 40
    assert len({p for p, _, _ in QUERIES}) >= 7


def test_find_lists_the_abbreviation_before_words_it_starts() -> None:
    # the README's `neuratlas regions juelich --find hIP`
    names = [r.name for r in neuratlas.get_parcellation("juelich").find("hIP")]
    assert names[:3] == [f"Anterior intra-parietal sulcus hIP{i}" for i in (1, 2, 3)]
    first_hippocampus = next(i for i, n in enumerate(names) if n.startswith("Hippocampus"))
    assert all("hIP" in n for n in names[:first_hippocampus])
    assert first_hippocampus == 9  # the three areas and their six hemispheres


def test_a_cached_lookup_is_the_same_object() -> None:
    parc = neuratlas.get_parcellation("juelich")
    assert parc.get_region("hIP1 left") is parc.get_region("hIP1 left")
    with pytest.raises(AmbiguousError):
        parc.get_region("BA4")
    with pytest.raises(AmbiguousError):  # an ambiguity is not cached as an answer
        parc.get_region("BA4")


# --- parcellations -----------------------------------------------------------------------------
PARCELLATIONS: list[tuple[str, str | Ambiguous]] = [
    # two atlases share "harvard" and "ho": neither is a better answer than the other
    (
        "harvard",
        Ambiguous(
            (
                "Harvard-Oxford cortical structural atlas",
                "Harvard-Oxford subcortical structural atlas",
            )
        ),
    ),
    (
        "ho",
        Ambiguous(
            (
                "Harvard-Oxford cortical structural atlas",
                "Harvard-Oxford subcortical structural atlas",
            )
        ),
    ),
    (
        "talairach",
        Ambiguous(("Talairach atlas: Brodmann areas and cell types", "Talairach atlas: gyri")),
    ),
    ("harvard cortical", "Harvard-Oxford cortical structural atlas"),
    ("harvard subcortical", "Harvard-Oxford subcortical structural atlas"),
    ("ho cortical", "Harvard-Oxford cortical structural atlas"),
    ("HO sub", "Harvard-Oxford subcortical structural atlas"),
    ("juelich", "Juelich histological (cyto- and myelo-architectonic) atlas"),
    ("julich", "Juelich histological (cyto- and myelo-architectonic) atlas"),
    # AAL 1, 2 and 3 are versions of one atlas: the newest wins
    ("aal", "Automated Anatomical Labelling atlas 3"),
    ("aal3", "Automated Anatomical Labelling atlas 3"),
    ("AAL 2", "Automated Anatomical Labelling atlas 2"),
    ("dk", "Desikan-Killiany atlas"),
    ("desikan", "Desikan-Killiany atlas"),
    ("glasser", "HCPex: extended HCP multimodal parcellation"),
]


@pytest.mark.parametrize(("query", "expected"), PARCELLATIONS, ids=[q for q, _ in PARCELLATIONS])
def test_parcellation_query(query: str, expected: str | Ambiguous) -> None:
    if isinstance(expected, Ambiguous):
        with pytest.raises(AmbiguousError) as info:
            neuratlas.get_parcellation(query)
        assert tuple(info.value.candidates) == expected.candidates
        with pytest.raises(AmbiguousError):
            neuratlas.get_region(query, "amygdala")
    else:
        assert neuratlas.get_parcellation(query).name == expected


def test_the_command_line_says_which_regions_fit() -> None:
    # one line of error, one of hint, exit status 2 (a lookup), as CONTRIBUTING.md says
    code = (
        "import sys\n"
        "sys.argv = ['neuratlas', *sys.argv[1:]]\n"
        "from neuratlas.cli.main import app\n"
        "app()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "region", "juelich", "BA4"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "error: 'BA4' matches 2 regions of 'Juelich histological (cyto- and "
        "myelo-architectonic) atlas' equally well",
        "hint: be more specific: one of 'Primary motor cortex BA4a', 'Primary motor cortex BA4p'",
    ]
