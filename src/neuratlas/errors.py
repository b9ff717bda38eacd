"""The neuratlas exception hierarchy, every area's errors included.

Every error a user can cause derives from :class:`Error`, so ``except
neuratlas.Error`` catches all of them; each also derives from the builtin that
best describes it (``LookupError``, ``ValueError``, ``TypeError``) so generic code
keeps working. Messages say what was wrong, where, and what to do about it.
The rules are written down in CONTRIBUTING.md ("Errors").

::

    Error
      ArgumentError(Error, ValueError)       an argument with a value we cannot use
      ArgumentTypeError(Error, TypeError)    an argument of the wrong type
      NotFoundError(Error, LookupError)      unknown key/region/space; .suggestions
        DatasetNotFoundError                 no Allen section dataset or image
      AmbiguousError(Error, LookupError)     several equally good matches; .candidates
      SpecError(Error, ValueError)           malformed spec: file, JSON path, expectation
      DataUnavailableError(Error)            cannot fetch: URL/package, reason, remedy
        ResponseError                        the server answered with something unusable
        ChecksumError                        a download does not have the expected digest
      SpaceMismatchError(Error, ValueError)  objects in different spaces, no transform
      ImageError(Error, ValueError)          an image or index file that cannot be used
      RMAError(Error)                        the Allen API refused or mangled an answer
        RMAQueryError(RMAError, ValueError)  an Allen query that cannot be written
      TransformError(Error, ValueError)      coordinates or fields of the wrong shape
      OutputExistsError(Error, FileExistsError)  output files there already, no overwrite
      LesionError(Error, ValueError)         a lesion mask that cannot be analysed
      BidsError(Error)                       a BIDS dataset or derivatives that cannot be used
        BidsPathNotFoundError(.., FileNotFoundError)  no such dataset folder
      DownloadError(DataUnavailableError)    a connectome download that failed
        AuthenticationError                  refused for want of a valid API key
        DownloadChecksumError(.., ChecksumError)  size or checksum not as announced
      ProcessingError(Error)                 downloaded files that cannot be converted

Warnings derive from :class:`NeuratlasWarning` (a ``UserWarning``), which prints as
one line, ``warning: <message>``.
"""

from __future__ import annotations

from collections.abc import Sequence


class NeuratlasWarning(UserWarning):
    """Base class of neuratlas's warnings: something worth knowing, not an error.

    Printed as one line, ``warning: <message>`` (see
    :mod:`neuratlas.configuration.loader`), without the Python source line that
    warnings show by default, which would be neuratlas's own code.
    """


class Error(Exception):
    """Base class of every neuratlas error.

    Parameters
    ----------
    message : str
        What went wrong, and where.
    hint : str, optional
        What the user can do about it; printed on its own by the CLI.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if not hint else f"{message} ({hint})")


class ArgumentError(Error, ValueError):
    """An argument whose value neuratlas cannot use (out of range, malformed, missing)."""


class ArgumentTypeError(Error, TypeError):
    """An argument of a type neuratlas cannot use."""


class NotFoundError(Error, LookupError):
    """An unknown key, name, region or space; ``suggestions`` holds the closest ones."""

    def __init__(
        self, message: str, *, suggestions: Sequence[str] = (), hint: str | None = None
    ) -> None:
        self.suggestions = list(suggestions)
        if self.suggestions and hint is None:
            hint = "did you mean " + ", ".join(repr(s) for s in self.suggestions) + "?"
        super().__init__(message, hint=hint)


class AmbiguousError(Error, LookupError):
    """Several equally good matches; ``candidates`` lists them."""

    def __init__(
        self, message: str, *, candidates: Sequence[str] = (), hint: str | None = None
    ) -> None:
        self.candidates = list(candidates)
        if hint is None and self.candidates:
            hint = "be more specific: one of " + ", ".join(repr(c) for c in self.candidates)
        super().__init__(message, hint=hint)


class SpecError(Error, ValueError):
    """A malformed specification: the file, the JSON path, and what was expected."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        path: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.file = file
        self.path = path
        where = ":".join(p for p in (file, path) if p)
        super().__init__(f"{where}: {message}" if where else message, hint=hint)


class DataUnavailableError(Error):
    """Data that cannot be fetched: names the URL or package, the reason, the remedy."""

    def __init__(self, message: str, *, source: str | None = None, hint: str | None = None):
        self.source = source
        super().__init__(message, hint=hint)


class ResponseError(DataUnavailableError):
    """The server answered, but with something unusable (malformed JSON, wrong content)."""


class ChecksumError(DataUnavailableError):
    """A downloaded file does not have the expected SHA-256 digest."""


class SpaceMismatchError(Error, ValueError):
    """Objects defined in different reference spaces were combined without a transform."""


class ImageError(Error, ValueError):
    """An image that cannot be read or used: corrupt, truncated, wrong shape or grid."""


# --- Allen Brain section datasets (neuratlas.allen) ------------------------------
class RMAError(Error):
    """The Allen API answered a query with ``success: false`` or an unusable envelope."""

    def __init__(self, message: str, *, url: str | None = None, hint: str | None = None):
        self.url = url
        super().__init__(message, hint=hint)


class RMAQueryError(RMAError, ValueError):
    """An RMA query that cannot be written down (bad name, unquotable value)."""


class DatasetNotFoundError(NotFoundError):
    """There is no section dataset (or image) with the given ID."""


class TransformError(Error, ValueError):
    """Coordinates, affines or displacement fields of the wrong shape or content."""


# --- lesion analysis (neuratlas.lesion) ---------------------------------------------
class LesionError(Error, ValueError):
    """A lesion mask that cannot be analysed: not 3D, not binary, empty, bad affine."""


class BidsError(Error):
    """A BIDS dataset or derivative folder that cannot be read or written as asked."""


class BidsPathNotFoundError(BidsError, FileNotFoundError):
    """The BIDS dataset or derivatives folder asked for does not exist."""


class OutputExistsError(Error, FileExistsError):
    """Output files exist already and overwriting was not asked for; nothing was written."""


class DownloadError(DataUnavailableError):
    """A connectome download that failed: server, network, checksum or size."""


class DownloadChecksumError(DownloadError, ChecksumError):
    """A downloaded connectome file whose size or checksum is not what the server announced."""


class AuthenticationError(DownloadError):
    """A download refused for want of a valid API key (Dataverse)."""


class ProcessingError(Error):
    """Downloaded connectome files that cannot be converted into neuratlas's layout."""
