"""Turn validated siibra feature specs into neuratlas features, anchored as siibra anchors them.

Building reads only the spec: the data are fetched by the feature's loader (a
closure over the spec's locations) on the first access to ``.data``. Names and
facets follow siibra's, so that a query lists the same features in both tools:
``"<subject> - Streamline Counts cohort: HCP"``, ``"Receptor Density Profile: 5-HT1A"``.

Anchors:

- connectivity and activity time series: the spec's parcellation (siibra
  treats a parcellation as the root region), and the species;
- tables and profiles: the spec's region string, looked up in every
  parcellation of the species (as siibra does for receptor data);
- images: the space, the bounding box when the spec gives one, and the region.

Ids: the spec's ``@id``, else ``siibra-spec/<sha256 of the spec's JSON>``; one
spec of several files (subjects) gives one feature per file, ``<id>--<key>``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from neuratlas.errors import DataUnavailableError, ResponseError, SpecError
from neuratlas.features import remote
from neuratlas.features.anchor import Anchor
from neuratlas.features.connectivity import (
    AnatomoFunctionalConnectivity,
    FunctionalConnectivity,
    RegionalConnectivity,
    StreamlineCounts,
    StreamlineLengths,
    TracingConnectivity,
)
from neuratlas.features.feature import Feature
from neuratlas.features.image import Section, VolumeOfInterest
from neuratlas.features.siibra.specs import (
    CellDensityProfileSpec,
    ConnectivitySpec,
    FeatureSpec,
    ImageSpec,
    LayerwiseCellDensitySpec,
    ReceptorFingerprintSpec,
    ReceptorProfileSpec,
    TabularSpec,
    TimeseriesSpec,
)
from neuratlas.features.tabular import (
    CellDensityProfile,
    LayerwiseCellDensity,
    ReceptorDensityFingerprint,
    ReceptorDensityProfile,
    RegionalTimeseriesActivity,
    Tabular,
)
from neuratlas.locations.boundingbox import BoundingBox

#: The ``source`` of every feature built here.
SOURCE = "siibra-configuration"

CONNECTIVITY_CLASSES: dict[str, type[RegionalConnectivity]] = {
    "StreamlineCounts": StreamlineCounts,
    "StreamlineLengths": StreamlineLengths,
    "FunctionalConnectivity": FunctionalConnectivity,
    "AnatomoFunctionalConnectivity": AnatomoFunctionalConnectivity,
    "TracingConnectivity": TracingConnectivity,
}
#: Image provider formats read, in order of preference.
IMAGE_FORMATS = ("nii", "zip/nii", "neuroglancer/precomputed")
#: BigBrain's volumetric shrinkage, by which siibra corrects layer volumes of cell counts.
BIGBRAIN_VOLUMETRIC_SHRINKAGE = 1.931
#: The thickness (µm) of a BigBrain section, the depth of a cell-count patch.
SECTION_THICKNESS_UM = 20


def readable(class_name: str) -> str:
    """siibra's readable name of a class: ``"StreamlineCounts"`` -> ``"Streamline Counts"``."""
    return re.sub("([a-z])([A-Z])", r"\g<1> \g<2>", class_name)


def spec_id(spec: FeatureSpec, raw: Mapping[str, Any]) -> str:
    """The spec's ``@id``, else a hash of its JSON content (stable across processes)."""
    if spec.id:
        return spec.id
    text = json.dumps(raw, sort_keys=True, separators=(",", ":"), default=str)
    return "siibra-spec/" + hashlib.sha256(text.encode()).hexdigest()[:24]


def _species(spec: FeatureSpec, file: Path) -> str:
    species = spec.species_name
    if species is None:
        where = "$.species" if spec.species is not None else "$.ebrains"
        raise SpecError(
            "no species can be read from the spec",
            file=str(file),
            path=where,
            hint='add "species": "Homo sapiens" (or an openMINDS species id in "ebrains")',
        )
    return species


def _region_anchor(spec: FeatureSpec, file: Path) -> Anchor:
    """siibra's anchor of a tabular spec: its region (else its parcellation), any parcellation."""
    species = _species(spec, file)
    if spec.region:
        return Anchor(species=species, regions=(spec.region,))
    if spec.parcellation_spec:
        return Anchor(species=species, parcellation=spec.parcellation_spec)
    raise SpecError(
        "the spec names neither a region nor a parcellation",
        file=str(file),
        path="$.region",
        hint='add "region": "<region name>"',
    )


def _common(spec: FeatureSpec, raw: Mapping[str, Any]) -> dict[str, Any]:
    publications = [
        {"citation": str(p.get("citation") or p.get("name") or ""), "url": str(p.get("url", ""))}
        for p in spec.publications
    ]
    return {"publications": publications, "source": SOURCE}


def _describe(spec: FeatureSpec, default: str) -> str:
    return spec.description or default


# -- builders ---------------------------------------------------------------------------------


def build_connectivity(
    spec: ConnectivitySpec, raw: Mapping[str, Any], file: Path
) -> list[Feature]:
    """One connectivity feature per file of the spec (per subject, or per feature)."""
    cls = CONNECTIVITY_CLASSES[spec.modality]
    species = _species(spec, file)
    parcellation = spec.parcellation_spec
    if not parcellation:
        raise SpecError(
            "a connectivity spec needs the parcellation its regions belong to",
            file=str(file),
            path="$.parcellation",
            hint='add "parcellation": {"@id": "<parcellation @id>"}',
        )
    anchor = Anchor(species=species, parcellation=parcellation)
    base_id = spec_id(spec, raw)
    cohort = spec.cohort.upper()
    paradigm = spec.paradigm or ""
    suffix = f", paradigm: {paradigm}" if paradigm and cls is FunctionalConnectivity else ""
    csv = spec.decoder.options if spec.decoder else None
    out: list[Feature] = []
    for key, filename in spec.files.items():
        by_subject = spec.files_indexed_by == "subject"
        subject = key if by_subject else "average"
        metadata: dict[str, Any] = {"subject": subject, "cohort": cohort}
        if paradigm:
            metadata["paradigm"] = paradigm
        if not by_subject:
            metadata["feature"] = key
        location = _location(spec.repository, spec.base_url, filename)
        out.append(
            cls(
                id=f"{base_id}--{key}",
                name=f"{key} - {readable(spec.modality)} cohort: {cohort}{suffix}",
                anchor=anchor,
                loader=partial(_load_matrix, location, file.parent, csv, len(spec.regions)),
                description=_describe(spec, f"{readable(spec.modality)} of the {cohort} cohort"),
                metadata=metadata,
                regions=spec.regions,
                cohort=cohort,
                subject=subject,
                paradigm=paradigm,
                **_common(spec, raw),
            )
        )
    return out


def _location(repository: Any, base_url: str, filename: str) -> str:
    if repository is not None:
        return remote.repository_url(repository.fields, filename)
    return base_url + filename


def _load_matrix(location: str, base: Path, csv: Mapping[str, Any] | None, size: int) -> Any:
    # heavy: NumPy only once the data are asked for
    import numpy as np

    table = remote.fetch_decoded(location, base=base, csv=csv)
    array = np.asarray(table.to_numpy() if hasattr(table, "to_numpy") else table, dtype=float)
    if array.ndim != 2 or array.shape[0] != array.shape[1]:
        raise ResponseError(
            f"{location} holds a {'x'.join(map(str, array.shape))} table, not a square matrix",
            source=location,
            hint="check the spec's decoder (header, index_col, delimiter)",
        )
    if array.shape[0] != size:
        raise ResponseError(
            f"{location} holds a {array.shape[0]}x{array.shape[0]} matrix, but the spec "
            f"lists {size} regions",
            source=location,
            hint="the spec's regions list the matrix's rows in order",
        )
    return array


def build_timeseries(spec: TimeseriesSpec, raw: Mapping[str, Any], file: Path) -> list[Feature]:
    """One regional activity table per subject."""
    species = _species(spec, file)
    parcellation = spec.parcellation_spec
    anchor = (
        Anchor(species=species, parcellation=parcellation)
        if parcellation
        else _region_anchor(spec, file)
    )
    base_id = spec_id(spec, raw)
    cohort = spec.cohort.upper()
    paradigm = spec.paradigm or ""
    csv = spec.decoder.options if spec.decoder else None
    step, _, unit = spec.timestep.strip().partition(" ")
    out: list[Feature] = []
    for subject, filename in spec.files.items():
        metadata: dict[str, Any] = {
            "subject": subject,
            "cohort": cohort,
            "timestep": spec.timestep,
        }
        if paradigm:
            metadata["paradigm"] = paradigm
        location = _location(spec.repository, spec.base_url, filename)
        suffix = f", paradigm: {paradigm}" if paradigm else ""
        out.append(
            RegionalTimeseriesActivity(
                id=f"{base_id}--{subject}",
                name=f"{subject} - Regional BOLD cohort: {cohort}{suffix}",
                anchor=anchor,
                loader=partial(
                    _load_timeseries,
                    location,
                    file.parent,
                    csv,
                    tuple(spec.regions),
                    float(step),
                    unit.strip(),
                ),
                description=_describe(spec, f"Regional BOLD signals of the {cohort} cohort"),
                metadata=metadata,
                **_common(spec, raw),
            )
        )
    return out


def _load_timeseries(
    location: str,
    base: Path,
    csv: Mapping[str, Any] | None,
    regions: tuple[str, ...],
    step: float,
    unit: str,
) -> Any:
    # heavy: NumPy and pandas only once the data are asked for
    import numpy as np
    import pandas as pd

    table = remote.fetch_decoded(location, base=base, csv=csv)
    array = np.asarray(table.to_numpy() if hasattr(table, "to_numpy") else table, dtype=float)
    if array.ndim != 2:
        raise ResponseError(f"{location} is not a table of signals", source=location)
    columns = list(regions) if array.shape[1] == len(regions) else list(range(array.shape[1]))
    try:
        index = pd.to_timedelta(np.arange(array.shape[0]) * step, unit=unit)
    except ValueError:
        index = pd.Index(np.arange(array.shape[0]) * step)
    index.name = "time"
    return pd.DataFrame(array, index=index, columns=columns)


def build_fingerprint(
    spec: ReceptorFingerprintSpec, raw: Mapping[str, Any], file: Path
) -> list[Feature]:
    """A receptor density fingerprint of one region."""
    return [
        ReceptorDensityFingerprint(
            id=spec_id(spec, raw),
            name="Receptor Density Fingerprint",
            anchor=_region_anchor(spec, file),
            loader=partial(_load_fingerprint, spec.file, file.parent),
            description=_describe(
                spec,
                "Densities (fmol/mg protein) of receptors for classical neurotransmitters, "
                "by quantitative in vitro autoradiography: mean and standard deviation.",
            ),
            metadata={},
            **_common(spec, raw),
        )
    ]


def _numbers(values: Any) -> Any:
    # heavy: pandas only once the data are asked for
    import pandas as pd

    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)


def _load_fingerprint(location: str, base: Path) -> Any:
    # heavy: pandas only once the data are asked for
    import pandas as pd

    table = remote.fetch_decoded(location, base=base)
    if table.shape[1] < 3:
        raise ResponseError(
            f"{location} has {table.shape[1]} columns; a fingerprint has receptor, mean, std",
            source=location,
        )
    label, mean, std = list(table.columns)[:3]
    out = pd.DataFrame(
        {"mean": _numbers(table[mean]), "std": _numbers(table[std])},
        index=pd.Index(table[label].astype(str).to_numpy(), name="receptor"),
    )
    if table.shape[1] > 3:
        out.attrs["unit"] = str(table.iloc[0, -1])
    return out


def build_receptor_profile(
    spec: ReceptorProfileSpec, raw: Mapping[str, Any], file: Path
) -> list[Feature]:
    """One receptor's density from the pial surface (0) to the white matter (1)."""
    return [
        ReceptorDensityProfile(
            id=spec_id(spec, raw),
            name=f"Receptor Density Profile: {spec.receptor}",
            anchor=_region_anchor(spec, file),
            loader=partial(_load_receptor_profile, spec.file, file.parent),
            description=_describe(
                spec,
                f"Cortical profile of {spec.receptor} receptor density (fmol/mg protein) "
                "in one tissue sample, by quantitative in vitro autoradiography.",
            ),
            metadata={"receptor": spec.receptor},
            **_common(spec, raw),
        )
    ]


def _load_receptor_profile(location: str, base: Path) -> Any:
    # heavy: pandas only once the data are asked for
    import pandas as pd

    table = remote.fetch_decoded(location, base=base)
    if table.shape[1] < 3:
        raise ResponseError(
            f"{location} has {table.shape[1]} columns; a profile has depth, ..., density, unit",
            source=location,
        )
    unit = str(table.iloc[0, -1])
    depth = pd.Index(_numbers(table.iloc[:, 0]) / 100.0, name="depth")
    frame = pd.DataFrame({f"Receptor density ({unit})": _numbers(table.iloc[:, -2])}, index=depth)
    frame.attrs["unit"] = unit
    return frame


def build_cell_density_profile(
    spec: CellDensityProfileSpec, raw: Mapping[str, Any], file: Path
) -> list[Feature]:
    """A profile of segmented cell body density in one BigBrain patch."""
    return [
        CellDensityProfile(
            id=spec_id(spec, raw),
            name="Cell Density Profile",
            anchor=_region_anchor(spec, file),
            loader=partial(_load_cell_density_profile, spec.file, file.parent),
            description=_describe(
                spec,
                "Density of cell bodies segmented in a BigBrain patch, per cortical layer, "
                "placed at the layers' relative depths.",
            ),
            metadata={"section": str(spec.section), "patch": str(spec.patch)},
            **_common(spec, raw),
        )
    ]


def _layer_densities(segments: str, layers: str, base: Path) -> Any:
    """Cells per 0.1 mm³ per layer of one patch, as siibra's LayerwiseCellDensity computes it."""
    # heavy: NumPy and pandas only once the data are asked for
    import numpy as np
    import pandas as pd

    cells = _read_patch_table(segments, base, index_col=None)
    info = _read_patch_table(layers, base, index_col=0)
    for table, location, column in ((cells, segments, "layer"), (info, layers, "Area(micron**2)")):
        if column not in table.columns:
            raise ResponseError(f"{location} has no column {column!r}", source=location)
    counts = cells["layer"].astype(int).value_counts()
    volumes = (
        info["Area(micron**2)"].astype(float)
        * SECTION_THICKNESS_UM
        * np.cbrt(BIGBRAIN_VOLUMETRIC_SHRINKAGE)
        / 100**3
    )
    layers_present = [layer for layer in volumes.index if layer in counts.index]
    return pd.DataFrame(
        {
            "layer": layers_present,
            "layername": [
                info["Name"].loc[k] if "Name" in info else str(k) for k in layers_present
            ],
            "counts": [int(counts.loc[k]) for k in layers_present],
            "area_mu2": [float(info["Area(micron**2)"].loc[k]) for k in layers_present],
            "volume": [float(volumes.loc[k]) for k in layers_present],
            "density": [float(counts.loc[k] / volumes.loc[k]) for k in layers_present],
        }
    )


def _read_patch_table(location: str, base: Path, index_col: int | None) -> Any:
    # the patch files start with "# " before the header line, which siibra skips by bytes
    # heavy: pandas only once the data are asked for
    import io

    import pandas as pd

    raw = remote.fetch(location, base=base).read_bytes()
    try:
        return pd.read_csv(io.BytesIO(raw[2:]), delimiter=" ", header=0, index_col=index_col)
    except (ValueError, pd.errors.ParserError) as exc:
        raise ResponseError(f"{location} is not a cell or layer table: {exc}") from None


def _load_cell_density_profile(segments: str, base: Path) -> Any:
    # heavy: pandas only once the data are asked for
    import pandas as pd

    layers = segments.replace("segments", "layerinfo")
    table = _layer_densities(segments, layers, base)
    # layers are bands across the patch: a layer's share of the area is its share of the depth
    share = table["area_mu2"] / table["area_mu2"].sum()
    depth = share.cumsum() - share / 2
    frame = pd.DataFrame(
        {"Segmented cell body density (cells / 0.1mm3)": table["density"].to_numpy()},
        index=pd.Index(depth.to_numpy(), name="depth"),
    )
    frame.attrs["unit"] = "cells / 0.1mm3"
    return frame


def build_layerwise_cell_density(
    spec: LayerwiseCellDensitySpec, raw: Mapping[str, Any], file: Path
) -> list[Feature]:
    """Cell body densities per cortical layer, over the patches of the spec."""
    pairs = tuple(zip(spec.segmentfiles, spec.layerfiles, strict=True))
    return [
        LayerwiseCellDensity(
            id=spec_id(spec, raw),
            name="Layerwise Cell Density",
            anchor=_region_anchor(spec, file),
            loader=partial(_load_layerwise, pairs, file.parent),
            description=_describe(
                spec,
                "Densities of cell bodies segmented in BigBrain patches, per cortical layer "
                "(# detected cells / 0.1 mm³).",
            ),
            metadata={},
            **_common(spec, raw),
        )
    ]


def _load_layerwise(pairs: tuple[tuple[str, str], ...], base: Path) -> Any:
    # heavy: pandas only once the data are asked for
    import pandas as pd

    frames = []
    for segments, layers in pairs:
        frame = _layer_densities(segments, layers, base)
        frame["file"] = segments
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def build_tabular(spec: TabularSpec, raw: Mapping[str, Any], file: Path) -> list[Feature]:
    """A generic table."""
    csv = spec.decoder.options if spec.decoder else None
    feature = Tabular(
        id=spec_id(spec, raw),
        name=spec.name or (spec.modality or "Tabular"),
        anchor=_region_anchor(spec, file),
        loader=partial(remote.fetch_decoded, spec.file, base=file.parent, csv=csv),
        description=_describe(spec, ""),
        metadata={"measurement": spec.modality} if spec.modality else {},
        **_common(spec, raw),
    )
    return [feature]


def build_image(spec: ImageSpec, raw: Mapping[str, Any], file: Path) -> list[Feature]:
    """A volume of interest or a section, in its space."""
    space = spec.space.id or spec.space.name
    if not space:
        raise SpecError("the image's space has no @id", file=str(file), path="$.space")
    location = None
    if spec.boundingbox is not None:
        corner1, corner2 = spec.boundingbox.coordinates
        location = BoundingBox(corner1, corner2, space=None)
    anchor = Anchor(
        species=spec.species_name,
        regions=(spec.region,) if spec.region else (),
        space=space,
        location=location,
    )
    cls = Section if spec.is_section else VolumeOfInterest
    modality = spec.modality or ""
    name = f"{spec.name} ({modality})" if spec.name else readable(cls.__name__)
    return [
        cls(
            id=spec_id(spec, raw),
            name=name,
            anchor=anchor,
            loader=partial(_load_image, dict(spec.providers), file.parent),
            description=_describe(spec, f"Image feature with modality {modality}"),
            metadata={"image_modality": modality} if modality else {},
            **_common(spec, raw),
        )
    ]


def _load_image(providers: Mapping[str, Any], base: Path) -> Any:
    for fmt in IMAGE_FORMATS:
        url = providers.get(fmt)
        if isinstance(url, str):
            if fmt == "neuroglancer/precomputed":
                return remote.read_precomputed(url)
            return remote.fetch_decoded(url, base=base)
    raise DataUnavailableError(
        "none of the image's providers can be read: " + ", ".join(sorted(providers)),
        hint="neuratlas reads the provider formats " + ", ".join(IMAGE_FORMATS),
    )


BUILDERS: dict[type[FeatureSpec], Callable[[Any, Mapping[str, Any], Path], list[Feature]]] = {
    ConnectivitySpec: build_connectivity,
    TimeseriesSpec: build_timeseries,
    ReceptorFingerprintSpec: build_fingerprint,
    ReceptorProfileSpec: build_receptor_profile,
    CellDensityProfileSpec: build_cell_density_profile,
    LayerwiseCellDensitySpec: build_layerwise_cell_density,
    TabularSpec: build_tabular,
    ImageSpec: build_image,
}


def build(spec: FeatureSpec, raw: Mapping[str, Any], file: Path) -> list[Feature]:
    """The features of one validated spec (several for a spec of several files).

    Raises
    ------
    SpecError
        The spec lacks what anchoring needs (species, region or parcellation).
    """
    return BUILDERS[type(spec)](spec, raw, file)
