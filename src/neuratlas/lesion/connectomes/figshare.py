"""Figshare: list an article's files through the API and download them with a token.

``GET <api>/articles/<id>`` answers the article with ``files: [{"id", "name",
"size", "download_url", "computed_md5", "supplied_md5", "is_link_only"}]``.
Figshare's download host turns away anonymous scripts, so, as lacuna does, the
files are fetched with a personal token in ``Authorization: token <key>``.
"""

from __future__ import annotations

from typing import Any

from neuratlas.errors import AuthenticationError, DataUnavailableError, DownloadError
from neuratlas.lesion.connectomes.config import API_KEY_ENV, resolve_api_key
from neuratlas.lesion.connectomes.sources import FIGSHARE_API, ConnectomeSource
from neuratlas.lesion.connectomes.transfer import RemoteFile, make_client, refused
from neuratlas.retrieval.http import HttpClient

__all__ = ["client", "list_files", "refusal"]

_KEY_PAGE = "https://figshare.com/account/applications (Personal tokens)"


def refusal(source: ConnectomeSource) -> tuple[str, str, str]:
    """How to word a refusal by this server (see :func:`transfer.refused`)."""
    return ("Figshare", API_KEY_ENV["figshare"], _KEY_PAGE)


def client(source: ConnectomeSource, api_key: str | None = None) -> HttpClient:
    """An HttpClient that sends the Figshare token.

    Raises
    ------
    AuthenticationError
        No token in the argument, ``FIGSHARE_API_KEY`` or the configuration file.
    """
    key = resolve_api_key("figshare", api_key)
    if key is None:
        raise AuthenticationError(
            f"a Figshare API token is needed to download {source.display_name}",
            source=source.api_url or FIGSHARE_API,
            hint=f"set {API_KEY_ENV['figshare']} (or pass api_key=...); create a token at "
            f"{_KEY_PAGE}",
        )
    return make_client({"Authorization": f"token {key}"})


def list_files(http: HttpClient, source: ConnectomeSource) -> list[RemoteFile]:
    """The downloadable files of the source's Figshare article.

    Returns
    -------
    list of RemoteFile
        Name, download URL, size and MD5 (computed by Figshare, else the one
        the uploader supplied) of each file; link-only entries are left out.

    Raises
    ------
    AuthenticationError
        The token was refused (401/403).
    DownloadError
        No such article, no files, or an unusable answer.
    """
    api = (source.api_url or FIGSHARE_API).rstrip("/")
    if not source.article_id:
        raise DownloadError(
            f"the connectome source {source.name} names no Figshare article (article_id)",
            source=api,
        )
    url = f"{api}/articles/{source.article_id}"
    try:
        article = http.get_json(url)
    except DataUnavailableError as exc:
        raise refused(exc, *refusal(source)) from None
    entries = article.get("files") if isinstance(article, dict) else None
    if not isinstance(entries, list):
        raise DownloadError(
            f"the Figshare answer for article {source.article_id} has no list of files",
            source=url,
            hint="the API may have changed or be down; try again later",
        )
    files = [_remote_file(e, url) for e in entries if isinstance(e, dict)]
    files = [f for f in files if f is not None]
    if not files:
        raise DownloadError(
            f"the Figshare article {source.article_id} has no downloadable files",
            source=url,
            hint="check the article's page; its files may be embargoed",
        )
    return files


def _remote_file(entry: dict[str, Any], url: str) -> RemoteFile | None:
    if entry.get("is_link_only") or not entry.get("download_url"):
        return None
    md5 = entry.get("computed_md5") or entry.get("supplied_md5") or None
    size = entry.get("size")
    return RemoteFile(
        name=str(entry.get("name") or f"file_{entry.get('id')}"),
        url=str(entry["download_url"]),
        size=int(size) if isinstance(size, int) and size >= 0 else None,
        checksum=str(md5) if md5 else None,
        algorithm="md5",
    )
