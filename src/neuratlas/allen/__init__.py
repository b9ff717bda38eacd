"""Allen Brain section-image datasets synced to the 3D reference space.

- :mod:`~neuratlas.allen.api`: where the API is, and the shared HTTP connection;
- :mod:`~neuratlas.allen.rma`: RMA queries (:class:`RMAQuery`, :func:`rma`, :func:`rma_all`);
- :mod:`~neuratlas.allen.client`: the API client (metadata, images, cache);
- :mod:`~neuratlas.allen.metadata`: :class:`SectionDataSet`, :class:`SectionImage`,
  the :class:`PlaneOfSection` and :class:`ReferenceSpace` enums, summaries;
- :mod:`~neuratlas.allen.queries`: atldld's common queries (:func:`get_2d`, :func:`get_3d`,
  :func:`get_experiment_list_from_gene`, :class:`CommonQueries`, ...);
- :mod:`~neuratlas.allen.transforms`: image <-> reference coordinates;
- :mod:`~neuratlas.allen.displacement`: :class:`DisplacementField` and warping;
- :mod:`~neuratlas.allen.sync`: :class:`DatasetDownloader` (the atldld.sync interface);
- :mod:`~neuratlas.allen.volume`: whole datasets as NIfTI volumes on the CCF grid;
- :mod:`~neuratlas.allen.export`: datasets and images written into folders;
- :mod:`~neuratlas.allen.preview`: contact sheets of a dataset's sections;
- :mod:`~neuratlas.allen.expression`: a gene's expression per region of the mouse
  annotation (:func:`gene_expression`), with :mod:`~neuratlas.allen.grid_labels` and
  :mod:`~neuratlas.allen.grid_cache` (the annotation read on the expression grid);
- :mod:`~neuratlas.allen.ontology`: the API's structure ontology
  (:func:`structure_graph`) and how it differs from the embedded one
  (:func:`compare_ontology`).
"""

from neuratlas.allen.client import AllenClient
from neuratlas.allen.displacement import DisplacementField, affine_simple
from neuratlas.allen.export import export_dataset, export_image
from neuratlas.allen.expression import RegionExpression, gene_expression
from neuratlas.allen.metadata import (
    PlaneOfSection,
    ReferenceSpace,
    SectionDataSet,
    SectionImage,
)
from neuratlas.allen.ontology import compare_ontology, structure_graph
from neuratlas.allen.preview import contact_sheet
from neuratlas.allen.queries import (
    CommonQueries,
    get_2d,
    get_2d_bulk,
    get_3d,
    get_corners_in_ref_space,
    get_experiment_list_from_gene,
    pir_to_xy_API_single,
    xy_to_pir_API_single,
)
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
    "CommonQueries",
    "DatasetDownloader",
    "DatasetNotFoundError",
    "DisplacementField",
    "Filter",
    "PlaneOfSection",
    "RMAError",
    "RMAQuery",
    "RMAQueryError",
    "ReferenceSpace",
    "RegionExpression",
    "SectionDataSet",
    "SectionImage",
    "SectionSampling",
    "TransformError",
    "affine_simple",
    "assemble_volume",
    "ccf_affine",
    "compare_ontology",
    "contact_sheet",
    "export_dataset",
    "export_image",
    "gene_expression",
    "get_2d",
    "get_2d_bulk",
    "get_3d",
    "get_corners_in_ref_space",
    "get_experiment_list_from_gene",
    "get_oblique_transform",
    "get_parallel_transform",
    "pir_to_xy",
    "pir_to_xy_API_single",
    "reference_grid_shape",
    "rma",
    "rma_all",
    "save_volume",
    "structure_graph",
    "xy_to_pir",
    "xy_to_pir_API_single",
]
