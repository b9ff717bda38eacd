"""Normative connectomes: fetched, verified, converted, registered, read block by block.

Seed 004's interface (lacuna's names, parameters and meaning):
:func:`fetch_connectome` (and :func:`fetch_gsp1000`, :func:`fetch_dtor985`,
:func:`fetch_hcp1065`), :func:`list_fetchable_connectomes`,
:func:`get_fetch_status`, :func:`get_connectome_path`, :func:`get_data_dir`,
:func:`gsp1000_to_hdf5`, :func:`trk_to_tck`, :func:`merge_trk_to_tck`,
:class:`ConnectomeSource`, :class:`FetchConfig`, :class:`FetchProgress`,
:class:`FetchResult`. Beyond it: the registry (:func:`register_connectome`,
:func:`list_connectomes`, :func:`open_connectome`, ...) and the HDF5 layout shared with lacuna
(:class:`ConnectomeReader`, :func:`write_connectome`).

>>> from neuratlas.lesion.connectomes import fetch_connectome, open_connectome
>>> result = fetch_connectome("gsp1000", "/data/gsp1000", api_key="...")  # doctest: +SKIP
>>> reader = open_connectome("GSP1000")  # doctest: +SKIP
"""

from __future__ import annotations

from neuratlas.lesion.connectomes.archives import extract_archive
from neuratlas.lesion.connectomes.config import FetchConfig
from neuratlas.lesion.connectomes.convert import gsp1000_to_hdf5, merge_trk_to_tck, trk_to_tck
from neuratlas.lesion.connectomes.fetch import (
    fetch_connectome,
    fetch_dtor985,
    fetch_gsp1000,
    fetch_hcp1065,
)
from neuratlas.lesion.connectomes.layout import (
    Block,
    ConnectomeReader,
    ConnectomeWriter,
    SubjectBlock,
    write_connectome,
)
from neuratlas.lesion.connectomes.progress import FetchProgress, FetchResult
from neuratlas.lesion.connectomes.registry import (
    RegisteredConnectome,
    get_connectome,
    get_connectome_path,
    get_data_dir,
    get_fetch_status,
    list_connectomes,
    open_connectome,
    register_connectome,
    unregister_connectome,
)
from neuratlas.lesion.connectomes.sources import (
    CONNECTOME_SOURCES,
    ConnectomeSource,
    list_fetchable_connectomes,
)

__all__ = [
    "CONNECTOME_SOURCES",
    "Block",
    "ConnectomeReader",
    "ConnectomeSource",
    "ConnectomeWriter",
    "FetchConfig",
    "FetchProgress",
    "FetchResult",
    "RegisteredConnectome",
    "SubjectBlock",
    "extract_archive",
    "fetch_connectome",
    "fetch_dtor985",
    "fetch_gsp1000",
    "fetch_hcp1065",
    "get_connectome",
    "get_connectome_path",
    "get_data_dir",
    "get_fetch_status",
    "gsp1000_to_hdf5",
    "list_connectomes",
    "list_fetchable_connectomes",
    "merge_trk_to_tck",
    "open_connectome",
    "register_connectome",
    "trk_to_tck",
    "unregister_connectome",
    "write_connectome",
]
