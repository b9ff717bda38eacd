"""The error for an output that exists when overwriting was not allowed."""

from __future__ import annotations

from neuratlas import errors
from neuratlas.lesion.connectomes.existing import OutputExistsError, output_exists


def test_the_error_names_the_path_and_how_to_proceed(tmp_path):
    error = output_exists(tmp_path / "x.tck", what="the tractogram")
    assert isinstance(error, OutputExistsError) and isinstance(error, errors.Error)
    assert error.message == f"the tractogram {tmp_path / 'x.tck'} already exists"
    assert "overwrite=True" in error.hint


def test_the_class_is_errors_own_once_it_has_one():
    expected = getattr(errors, "OutputExistsError", errors.ArgumentError)
    assert OutputExistsError is expected
