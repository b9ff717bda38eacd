"""The normative connectomes that can be fetched, and where each one is hosted.

Three sources, as lacuna defines them:

- ``gsp1000``: the Brain Genomics Superstruct Project's 1000 resting-state fMRI
  subjects, preprocessed (Cohen et al.), on Harvard Dataverse
  (``doi:10.7910/DVN/ILXIKS``; an API key is needed);
- ``dtor985``: the 985-subject normative tractogram (Elias et al. 2024), one
  TrackVis file on Figshare (article 25209947);
- ``hcp1065``: the HCP1065 population-averaged tractography atlas (Yeh 2022),
  a zip of TrackVis tract files on a GitHub release.

Each server can be replaced, for a mirror or a test, with an environment
variable: ``NEURATLAS_DATAVERSE_SERVER`` (the Dataverse installation),
``NEURATLAS_FIGSHARE_API`` (the Figshare API root, ``.../v2``),
``NEURATLAS_GITHUB_API`` (the GitHub API root), or by changing an entry of
:data:`CONNECTOME_SOURCES` (e.g. ``dataclasses.replace(source, download_url=...)``).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Literal

from neuratlas.errors import NotFoundError
from neuratlas.matching import closest

__all__ = [
    "CONNECTOME_SOURCES",
    "ConnectomeSource",
    "get_source",
    "list_fetchable_connectomes",
]

DATAVERSE_SERVER_ENV = "NEURATLAS_DATAVERSE_SERVER"
FIGSHARE_API_ENV = "NEURATLAS_FIGSHARE_API"
GITHUB_API_ENV = "NEURATLAS_GITHUB_API"
FIGSHARE_API = "https://api.figshare.com/v2"
GITHUB_API = "https://api.github.com"


@dataclass(frozen=True)
class ConnectomeSource:
    """A fetchable connectome: what it is, where it is hosted, how it is processed.

    The fields are lacuna's (seed 004); ``api_url`` is neuratlas's own.
    """

    #: Unique identifier (e.g. ``"gsp1000"``, ``"dtor985"``).
    name: str
    #: Human-readable name (e.g. ``"GSP1000 Functional Connectome"``).
    display_name: str
    #: Connectome type, which decides the processing: HDF5 batches or a .tck file.
    type: Literal["functional", "structural"]
    #: User-facing description of the connectome.
    description: str
    #: The kind of server, which decides the API and the authentication.
    source_type: Literal["dataverse", "figshare", "github"]
    #: DOI of a Dataverse dataset (e.g. ``"doi:10.7910/DVN/ILXIKS"``).
    persistent_id: str | None = None
    #: The Dataverse installation.
    dataverse_server: str = "https://dataverse.harvard.edu"
    #: Direct download URL (GitHub release asset; for Figshare, superseded by ``article_id``).
    download_url: str | None = None
    #: Figshare article ID, listed through the Figshare API.
    article_id: int | None = None
    #: Default number of HDF5 batch files (functional only).
    default_batches: int = 10
    #: Whether a brain mask is needed for processing.
    requires_mask: bool = False
    #: URL of a brain mask, if it is not part of the download.
    mask_url: str | None = None
    #: Number of subjects in the connectome.
    n_subjects: int = 0
    #: Coordinate space (TemplateFlow name).
    space: str = "MNI152NLin6Asym"
    #: Estimated download size in GB, for information.
    estimated_size_gb: float = 0.0
    #: Citation text for the dataset.
    citation: str = ""
    #: Root of the server's API when it is not the default (Figshare, GitHub).
    api_url: str | None = None

    def __str__(self) -> str:
        return (
            f"{self.name}: {self.display_name} ({self.type}, {self.n_subjects} subjects, "
            f"{self.space}, ~{self.estimated_size_gb:g} GB from {self.source_type})"
        )


#: Every fetchable connectome by name; replace an entry to point a fetch elsewhere.
CONNECTOME_SOURCES: dict[str, ConnectomeSource] = {
    "gsp1000": ConnectomeSource(
        name="gsp1000",
        display_name="GSP1000 Functional Connectome",
        type="functional",
        description=(
            "Brain Genomics Superstruct Project 1000-subject resting-state fMRI dataset, "
            "preprocessed: the normative functional connectome of lesion network mapping."
        ),
        source_type="dataverse",
        persistent_id="doi:10.7910/DVN/ILXIKS",
        dataverse_server="https://dataverse.harvard.edu",
        default_batches=10,
        requires_mask=True,
        n_subjects=1000,
        space="MNI152NLin6Asym",
        estimated_size_gb=200.0,
        citation="Cohen et al., 2020. https://doi.org/10.7910/DVN/ILXIKS",
    ),
    "dtor985": ConnectomeSource(
        name="dtor985",
        display_name="dTOR985 Structural Connectome",
        type="structural",
        description=(
            "Toronto 985-subject normative diffusion MRI tractogram: the structural "
            "connectome of structural lesion network mapping."
        ),
        source_type="figshare",
        article_id=25209947,
        download_url="https://springernature.figshare.com/ndownloader/files/44515847",
        n_subjects=985,
        space="MNI152NLin2009bAsym",
        estimated_size_gb=11.0,
        citation="Elias et al., 2024. https://doi.org/10.1038/s41597-024-03197-0",
    ),
    "hcp1065": ConnectomeSource(
        name="hcp1065",
        display_name="HCP1065 Structural Connectome",
        type="structural",
        description=(
            "Human Connectome Project 1065-subject population-averaged tractography atlas "
            "(tracts merged into one tractogram, cranial nerves left out)."
        ),
        source_type="github",
        download_url=(
            "https://github.com/data-others/atlas/releases/download/hcp1065/"
            "hcp1065_avg_tracts_trk.zip"
        ),
        n_subjects=1065,
        # lacuna's label; Yeh's release notes call the space ICBM 2009a nonlinear asymmetric,
        # which shares its grid and coordinates with 2009c
        space="MNI152NLin2009cAsym",
        estimated_size_gb=1.5,
        citation="Yeh, 2022. https://doi.org/10.1038/s41467-022-32595-4",
    ),
}


def _with_overrides(source: ConnectomeSource) -> ConnectomeSource:
    """``source`` with the servers named by the environment variables, if set."""
    if source.source_type == "dataverse" and (server := os.environ.get(DATAVERSE_SERVER_ENV)):
        return dataclasses.replace(source, dataverse_server=server.rstrip("/"))
    if source.source_type == "figshare" and (api := os.environ.get(FIGSHARE_API_ENV)):
        return dataclasses.replace(source, api_url=api.rstrip("/"))
    if source.source_type == "github" and (api := os.environ.get(GITHUB_API_ENV)):
        return dataclasses.replace(source, api_url=api.rstrip("/"))
    return source


def get_source(name: str) -> ConnectomeSource:
    """The fetchable connectome ``name`` (any case), with servers from the environment.

    Raises
    ------
    NotFoundError
        No such connectome; the message lists the known ones.
    """
    key = str(name).strip().lower()
    if key not in CONNECTOME_SOURCES:
        known = ", ".join(sorted(CONNECTOME_SOURCES))
        raise NotFoundError(
            f"unknown connectome {name!r}; the fetchable ones are {known}",
            suggestions=closest(str(name), CONNECTOME_SOURCES, n=2),
        )
    return _with_overrides(CONNECTOME_SOURCES[key])


def list_fetchable_connectomes() -> list[ConnectomeSource]:
    """List all connectomes available for fetching.

    Returns
    -------
    list of ConnectomeSource
        Every source of :data:`CONNECTOME_SOURCES`, with servers from the environment.

    Examples
    --------
    >>> for source in list_fetchable_connectomes():
    ...     print(source.name, source.type)
    gsp1000 functional
    dtor985 structural
    hcp1065 structural
    """
    return [_with_overrides(source) for source in CONNECTOME_SOURCES.values()]
