"""siibra's feature specs: a configuration folder's ``features/`` read into features.

Importing this package registers the source that reads the ``features/`` folder
of every folder of the active configuration (see :mod:`.source`).
"""

from neuratlas.features.siibra.source import (
    FEATURES_FOLDER,
    configuration_features,
    load_file,
    load_folder,
    read_spec,
)

__all__ = ["FEATURES_FOLDER", "configuration_features", "load_file", "load_folder", "read_spec"]
