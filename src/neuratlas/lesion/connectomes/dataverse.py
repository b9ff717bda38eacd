"""Harvard Dataverse: list a dataset's files and download them with an API key.

The native API answers ``GET /api/datasets/:persistentId/versions/:latest/files
?persistentId=<doi>`` with ``{"status": "OK", "data": [{"label": ...,
"dataFile": {"id", "filename", "filesize", "checksum": {"type", "value"}}}]}``
and serves each file at ``/api/access/datafile/<id>`` (ranges allowed). The key
goes in the ``X-Dataverse-key`` header.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from neuratlas.errors import AuthenticationError, DataUnavailableError, DownloadError
from neuratlas.lesion.connectomes.config import API_KEY_ENV, resolve_api_key
from neuratlas.lesion.connectomes.sources import ConnectomeSource
from neuratlas.lesion.connectomes.transfer import RemoteFile, make_client, refused
from neuratlas.retrieval.http import HttpClient

__all__ = ["KEY_HEADER", "client", "list_files", "refusal"]

#: The header Dataverse reads the API key from.
KEY_HEADER = "X-Dataverse-key"
_KEY_PAGE = "https://dataverse.harvard.edu/dataverseuser.xhtml?selectTab=apiTokenTab"


def refusal(source: ConnectomeSource) -> tuple[str, str, str]:
    """How to word a refusal by this server (see :func:`transfer.refused`)."""
    return (f"Dataverse ({source.dataverse_server})", API_KEY_ENV["dataverse"], _KEY_PAGE)


def client(source: ConnectomeSource, api_key: str | None = None) -> HttpClient:
    """An HttpClient that sends the Dataverse API key.

    Parameters
    ----------
    source : ConnectomeSource
        A Dataverse source.
    api_key : str, optional
        The key; else ``DATAVERSE_API_KEY``, else the configuration file.

    Raises
    ------
    AuthenticationError
        No key anywhere: Dataverse serves these files only to registered users.
    """
    key = resolve_api_key("dataverse", api_key)
    if key is None:
        raise AuthenticationError(
            f"a Dataverse API key is needed to download {source.display_name} "
            f"from {source.dataverse_server}",
            source=source.dataverse_server,
            hint=f"set {API_KEY_ENV['dataverse']} (or pass api_key=...); get a key at "
            f"{_KEY_PAGE} after logging in",
        )
    return make_client({KEY_HEADER: key})


def list_files(http: HttpClient, source: ConnectomeSource) -> list[RemoteFile]:
    """The files of the latest version of the source's dataset.

    Returns
    -------
    list of RemoteFile
        Name, download URL, size and checksum of each file, in the listing's order.

    Raises
    ------
    AuthenticationError
        The key was refused (401/403).
    DownloadError
        The dataset is unknown, or the server answered something unusable.
    """
    server = source.dataverse_server.rstrip("/")
    if not source.persistent_id:
        raise DownloadError(
            f"the connectome source {source.name} names no Dataverse dataset (persistent_id)",
            source=server,
        )
    url = f"{server}/api/datasets/:persistentId/versions/:latest/files"
    try:
        answer = http.get_json(url, params={"persistentId": source.persistent_id})
    except DataUnavailableError as exc:
        raise refused(exc, *refusal(source)) from None
    if not isinstance(answer, dict) or answer.get("status") != "OK":
        reason = answer.get("message") if isinstance(answer, dict) else None
        raise DownloadError(
            f"Dataverse did not list the files of {source.persistent_id}: "
            f"{reason or 'the answer has no status OK'}",
            source=url,
            hint="check the dataset's DOI and the server; try again later",
        )
    entries = answer.get("data") or []
    files = [_remote_file(entry, server, url) for entry in entries]
    files = _distinct_names(files, entries)
    if not files:
        raise DownloadError(
            f"the Dataverse dataset {source.persistent_id} lists no files",
            source=url,
            hint="the dataset may be deaccessioned or restricted; check its page",
        )
    return files


def _distinct_names(files: list[RemoteFile], entries: list[Any]) -> list[RemoteFile]:
    """Files of the same name in different folders of the dataset, told apart by folder."""
    names = [f.name for f in files]
    out = []
    for remote, entry in zip(files, entries, strict=True):
        folder = str(entry.get("directoryLabel") or "").strip("/")
        if names.count(remote.name) > 1 and folder:
            remote = dataclasses.replace(remote, name=f"{folder.replace('/', '_')}_{remote.name}")
        out.append(remote)
    return out


def _remote_file(entry: Any, server: str, url: str) -> RemoteFile:
    data = entry.get("dataFile") if isinstance(entry, dict) else None
    if not isinstance(data, dict) or "id" not in data:
        raise DownloadError(
            f"Dataverse listed a file without a dataFile id: {str(entry)[:120]}",
            source=url,
            hint="the server's answer is malformed; try again later",
        )
    checksum = data.get("checksum") if isinstance(data.get("checksum"), dict) else {}
    value = checksum.get("value") or data.get("md5")
    size = data.get("filesize")
    return RemoteFile(
        name=str(data.get("filename") or entry.get("label") or f"file_{data['id']}"),
        url=f"{server}/api/access/datafile/{data['id']}",
        size=int(size) if isinstance(size, int | str) and str(size).isdigit() else None,
        checksum=str(value) if value else None,
        algorithm=str(checksum.get("type") or "MD5").lower(),
    )
