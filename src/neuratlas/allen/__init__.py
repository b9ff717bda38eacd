"""Allen Brain section-image datasets synced to the 3D reference space.

- :mod:`~neuratlas.allen.api`: where the API is, and the shared HTTP connection;
- :mod:`~neuratlas.allen.rma`: RMA queries (:class:`RMAQuery`, :func:`rma`, :func:`rma_all`);
- :mod:`~neuratlas.allen.client`: the API client (metadata, images, cache);
- :mod:`~neuratlas.allen.metadata`: :class:`SectionDataSet`, :class:`SectionImage`, summaries;
- :mod:`~neuratlas.allen.transforms`: image <-> reference coordinates;
- :mod:`~neuratlas.allen.displacement`: :class:`DisplacementField` and warping;
- :mod:`~neuratlas.allen.sync`: :class:`DatasetDownloader` (the atldld.sync interface);
- :mod:`~neuratlas.allen.volume`: whole datasets as NIfTI volumes on the CCF grid;
- :mod:`~neuratlas.allen.export`: datasets and images written into folders;
- :mod:`~neuratlas.allen.preview`: contact sheets of a dataset's sections.
"""

from neuratlas.allen.client import AllenClient
from neuratlas.allen.displacement import DisplacementField
from neuratlas.allen.export import export_dataset, export_image
from neuratlas.allen.metadata import SectionDataSet, SectionImage
from neuratlas.allen.preview import contact_sheet
from neuratlas.allen.rma import Filter, RMAQuery, rma, rma_all
from neuratlas.allen.sync import DatasetDownloader
from neuratlas.allen.transforms import (
    SectionSampling,
    get_oblique_transform,
    get_parallel_transform,
    pir_to_xy,
    reference_grid_shape,
    xy_to_pir,
)
from neuratlas.allen.volume import assemble_volume, ccf_affine, save_volume
from neuratlas.errors import DatasetNotFoundError, RMAError, RMAQueryError, TransformError

__all__ = [
    "AllenClient",
    "DatasetDownloader",
    "DatasetNotFoundError",
    "DisplacementField",
    "Filter",
    "RMAError",
    "RMAQuery",
    "RMAQueryError",
    "SectionDataSet",
    "SectionImage",
    "SectionSampling",
    "TransformError",
    "assemble_volume",
    "ccf_affine",
    "contact_sheet",
    "export_dataset",
    "export_image",
    "get_oblique_transform",
    "get_parallel_transform",
    "pir_to_xy",
    "reference_grid_shape",
    "rma",
    "rma_all",
    "save_volume",
    "xy_to_pir",
]
