"""GitHub releases: one asset, with its size and SHA-256 from the releases API.

An asset's URL, ``https://github.com/<owner>/<repo>/releases/download/<tag>/<name>``,
names its release; ``GET <api>/repos/<owner>/<repo>/releases/tags/<tag>``
answers ``assets: [{"name", "size", "browser_download_url", "digest"}]`` where
``digest`` is ``"sha256:<hex>"`` for assets uploaded since mid-2025 (else null).
No key is needed. When the API cannot be asked (rate limit, a mirror without
it), the asset is downloaded from its URL and only its file type is checked.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from neuratlas.errors import DataUnavailableError, DownloadError
from neuratlas.lesion.connectomes.sources import GITHUB_API, ConnectomeSource
from neuratlas.lesion.connectomes.transfer import RemoteFile, safe_name
from neuratlas.retrieval.http import HttpClient

__all__ = ["asset", "release_of"]

_RELEASE_PATH = re.compile(r"^/([^/]+)/([^/]+)/releases/download/([^/]+)/([^/]+)$")


def release_of(url: str) -> tuple[str, str, str, str] | None:
    """``(owner, repo, tag, asset name)`` of a release-asset URL (any host), else None."""
    match = _RELEASE_PATH.match(unquote(urlsplit(url).path))
    return match.groups() if match else None  # type: ignore[return-value]


def asset(http: HttpClient, source: ConnectomeSource, warnings: list[str]) -> RemoteFile:
    """The source's release asset, with the size and digest the API gives.

    Parameters
    ----------
    http : HttpClient
        A client (no key needed).
    source : ConnectomeSource
        A GitHub source with ``download_url``.
    warnings : list of str
        Receives a note when the API could not be asked.

    Raises
    ------
    DownloadError
        No ``download_url``, or the release lacks the asset.
    """
    url = source.download_url
    if not url:
        raise DownloadError(f"the connectome source {source.name} has no download_url")
    parts = release_of(url)
    name = safe_name(unquote(urlsplit(url).path).rsplit("/", 1)[-1], url)
    if parts is None:
        return RemoteFile(name=name, url=url)
    owner, repo, tag, _ = parts
    api = (source.api_url or GITHUB_API).rstrip("/")
    release_url = f"{api}/repos/{owner}/{repo}/releases/tags/{tag}"
    try:
        release = http.get_json(release_url)
    except DataUnavailableError as exc:
        warnings.append(
            f"could not ask the GitHub API about {name} ({exc.message}); the download is "
            "checked for its file type only"
        )
        return RemoteFile(name=name, url=url)
    assets = release.get("assets") if isinstance(release, dict) else None
    for entry in assets if isinstance(assets, list) else []:
        if isinstance(entry, dict) and entry.get("name") == name:
            digest = str(entry.get("digest") or "")
            algorithm, _, value = digest.partition(":")
            size = entry.get("size")
            return RemoteFile(
                name=name,
                url=str(entry.get("browser_download_url") or url),
                size=int(size) if isinstance(size, int) and size >= 0 else None,
                checksum=value or None,
                algorithm=algorithm or "sha256",
            )
    names = [str(e.get("name")) for e in assets or [] if isinstance(e, dict)]
    raise DownloadError(
        f"the GitHub release {owner}/{repo}@{tag} has no asset {name!r}"
        + (f" (it has {', '.join(names)})" if names else ""),
        source=release_url,
        hint="the release may have been replaced; check the repository's releases page",
    )
