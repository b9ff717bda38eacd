"""neuratlas over HTTP: an atlas service that a siibra-api user can switch to.

- :mod:`~neuratlas.service.handlers`: siibra-api's data handlers (same names,
  parameters and meaning) on the neuratlas catalogue; they return the models
  below, or ``(path, was_cached)`` for files kept in the neuratlas cache.
- :mod:`~neuratlas.service.models`: pydantic models whose JSON is shaped like
  siibra-api's (``@id``, ``@type``, ``shortName``, ...), one serialiser per concept.
- :mod:`~neuratlas.service.bundle`: the download bundles (zip) of ``download_all``.
- :mod:`~neuratlas.service.app`: the FastAPI application (``neuratlas serve``),
  its routes under ``/v3_0``, status codes, caching headers and metrics.

Importing this package imports none of its modules, so ``import neuratlas.service``
stays as light as ``import neuratlas``.
"""
