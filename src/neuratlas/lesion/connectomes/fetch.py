"""Fetching a normative connectome: download, verify, convert, register, in one call.

``fetch_connectome("gsp1000", "/data/gsp1000", api_key=...)`` leaves, in the
output folder, what the analyses read (HDF5 batch files, or one ``.tck``
file) and registers it by name (``"GSP1000"``), so that
``FunctionalNetworkMapping("GSP1000")`` finds it.

Running a fetch again is cheap and safe:

- finished output is reused (and registered again) unless ``force=True``;
- downloaded files already verified are not downloaded again, and a
  download that was cut off continues where it stopped (HTTP ranges);
- ``force=True`` checks every downloaded file again (fetching those that fail),
  converts again, and replaces a registration of the same name.

Errors: :class:`~neuratlas.errors.AuthenticationError` when the server wants a
key (or refuses it), :class:`~neuratlas.errors.DownloadError` when a download
fails or a file is not what the server promised (the bad file is removed),
:class:`~neuratlas.errors.ProcessingError` when the data cannot be converted.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from neuratlas.errors import ArgumentError, DownloadError, Error, ProcessingError
from neuratlas.lesion.connectomes import dataverse, figshare, github
from neuratlas.lesion.connectomes.archives import extract_archive
from neuratlas.lesion.connectomes.convert import (
    GSP_PATTERN,
    convert_gsp_files,
    merge_trk_to_tck,
    trk_to_tck,
)
from neuratlas.lesion.connectomes.integrity import header_problem
from neuratlas.lesion.connectomes.progress import (
    FetchProgress,
    FetchResult,
    Phase,
    ProgressCallback,
    report,
)
from neuratlas.lesion.connectomes.registry import record_fetch, register_connectome
from neuratlas.lesion.connectomes.sources import ConnectomeSource, get_source
from neuratlas.lesion.connectomes.transfer import RemoteFile, download_files, make_client
from neuratlas.retrieval.cache import atomic_write

__all__ = ["fetch_connectome", "fetch_dtor985", "fetch_gsp1000", "fetch_hcp1065"]

#: Written into the processed folder when a GSP1000 conversion has finished.
DONE_MARKER = ".fetch-complete.json"
_ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".zip")
_METADATA_SUFFIXES = (".json", ".txt", ".nii", ".nii.gz")
_TEST_SUBJECTS = 10


class _Run:
    """Book-keeping of one fetch: timings, warnings, progress, verbose messages."""

    def __init__(self, source: ConnectomeSource, callback: ProgressCallback | None, verbose: bool):
        self.source = source
        self.callback = callback
        self.verbose = verbose
        self.start = time.perf_counter()
        self.download = 0.0
        self.processing = 0.0
        self.warnings: list[str] = []

    def say(self, phase: Phase, message: str) -> None:
        report(self.callback, FetchProgress(phase, "", 0, 1, message=message))
        if self.verbose:
            print(f"{self.source.name}: {message}", file=sys.stderr)

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        if self.verbose:
            print(f"{self.source.name}: warning: {message}", file=sys.stderr)

    def timed(self, what: str, fn: Callable[[], Any]) -> Any:
        began = time.perf_counter()
        try:
            return fn()
        finally:
            elapsed = time.perf_counter() - began
            if what == "download":
                self.download += elapsed
            else:
                self.processing += elapsed

    def register(
        self, register: bool, name: str, path: Path, force: bool, n_subjects: int | None = None
    ) -> bool:
        """Register ``path`` as ``name``; a refusal becomes a warning, as in lacuna."""
        if not register:
            return False
        self.say("registration", f"registering as {name!r}")
        try:
            register_connectome(
                name,
                path,
                space=self.source.space,
                kind=self.source.type,
                description=self.source.description,
                source=self.source.name,
                n_subjects=n_subjects if self.source.type == "structural" else None,
                overwrite=force,
            )
        except Error as exc:
            self.warn(f"registration as {name!r} failed: {exc}")
            return False
        return True

    def result(
        self, output_dir: Path, files: list[Path], registered: bool, name: str
    ) -> FetchResult:
        return FetchResult(
            success=True,
            connectome_name=self.source.name,
            output_dir=output_dir,
            output_files=files,
            registered=registered,
            register_name=name if registered else None,
            duration_seconds=time.perf_counter() - self.start,
            download_time_seconds=self.download,
            processing_time_seconds=self.processing,
            warnings=list(self.warnings),
        )


def _guard(operation: str, fn: Callable[[], FetchResult]) -> FetchResult:
    """Run a fetch; a failing disk (OSError) becomes a ProcessingError saying what failed."""
    try:
        return fn()
    except OSError as exc:
        raise ProcessingError(
            f"{operation} failed: {exc.strerror or exc}"
            + (f" ({exc.filename})" if exc.filename else ""),
            hint="check the free space and permissions of the output folder",
        ) from exc


def _output_folder(output_dir: str | os.PathLike[str]) -> Path:
    folder = Path(output_dir).expanduser()
    if folder.exists() and not folder.is_dir():
        raise ArgumentError(f"the output folder {folder} is a file", hint="give a folder path")
    folder.mkdir(parents=True, exist_ok=True)
    return folder.resolve()


# -- GSP1000 -------------------------------------------------------------------------------------


def _marker(processed: Path) -> dict[str, Any] | None:
    """What the last finished GSP1000 conversion in ``processed`` wrote, if any."""
    try:
        data = json.loads((processed / DONE_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _finished(processed: Path, test_mode: bool) -> list[Path] | None:
    """The batch files of a finished conversion usable for this request, else None."""
    done = _marker(processed)
    if done is None:
        return None
    files = [processed / str(name) for name in done.get("files", [])]
    if not files or not all(f.is_file() for f in files):
        return None
    if done.get("test_mode") and not test_mode:
        return None  # a test-mode subset is no substitute for the whole dataset
    return files


def _select(files: list[RemoteFile], test_mode: bool) -> list[RemoteFile]:
    """Everything, or in test mode the small files and the first archive."""
    if not test_mode:
        return files
    small = [f for f in files if f.name.lower().endswith(_METADATA_SUFFIXES)]
    archives = [f for f in files if f.name.lower().endswith(_ARCHIVE_SUFFIXES)]
    return small + archives[:1]


def _find_mask(raw: Path) -> Path:
    """The brain mask among the downloaded files (lacuna looks for the same names)."""
    candidates = sorted(raw.glob("*mask*.nii.gz")) + sorted(raw.glob("*MNI152*.nii.gz"))
    candidates += sorted(raw.glob("*mask*.nii")) + sorted(raw.glob("*MNI152*.nii"))
    if not candidates:
        raise ProcessingError(
            f"no brain mask (*mask*.nii.gz or *MNI152*.nii.gz) among the downloaded files "
            f"in {raw}",
            hint=f"place the 2 mm MNI152 brain mask of the data in {raw} (e.g. as "
            "MNI152_T1_2mm_brain_mask.nii.gz) and fetch again; the downloads are kept",
        )
    return candidates[0]


def _extract_all(archives: list[Path], raw: Path, force: bool, run: _Run) -> Path:
    """Extract each archive into its own folder under ``raw/extracted`` (once)."""
    root = raw / "extracted"
    for index, archive in enumerate(archives):
        stem = archive.name.split(".")[0]
        target = root / stem
        if target.is_dir() and not force:
            continue
        report(
            run.callback,
            FetchProgress(
                "processing",
                archive.name,
                index,
                len(archives),
                message=f"extracting {archive.name}",
            ),
        )
        extract_archive(archive, target)
    return root


def fetch_gsp1000(
    output_dir: str | os.PathLike[str],
    *,
    api_key: str | None = None,
    batches: int = 10,
    test_mode: bool = False,
    skip_checksum: bool = False,
    register: bool = True,
    register_name: str = "GSP1000",
    force: bool = False,
    progress_callback: ProgressCallback | None = None,
    verbose: bool = False,
) -> FetchResult:
    """Download, convert and register the GSP1000 functional connectome.

    Downloads the Brain Genomics Superstruct Project's 1000 preprocessed
    resting-state fMRI subjects from Harvard Dataverse into
    ``<output_dir>/raw`` (verifying each file's MD5), extracts the archives,
    converts the subjects inside the brain mask into ``batches`` HDF5 files in
    ``<output_dir>/processed`` (lacuna's layout), and registers that folder.
    The extracted subject files are deleted once converted (the archives stay,
    so converting again needs no download).

    Parameters
    ----------
    output_dir : path-like
        Folder of the download and the output.
    api_key : str, optional
        Harvard Dataverse API key; else ``DATAVERSE_API_KEY``, else the
        configuration file (:mod:`.config`).
    batches : int
        Number of HDF5 batch files (more files, smaller reads; the readers
        stream in any case). Subjects are spread evenly.
    test_mode : bool
        Download the small files and only one archive, and convert the first
        10 subjects into one file: the whole pipeline at a fraction of the cost.
    skip_checksum : bool
        Do not check sizes and MD5s (for a server whose metadata is out of
        date); file types are still checked.
    register : bool
        Register the converted connectome.
    register_name : str
        The name to register it under.
    force : bool
        Check every download again, convert again and replace a registration
        of the same name.
    progress_callback : callable, optional
        Called with a :class:`FetchProgress` at each step.
    verbose : bool
        Print what is done on stderr.

    Returns
    -------
    FetchResult
        ``output_dir`` is the processed folder; ``output_files`` its batch files.

    Raises
    ------
    AuthenticationError
        The API key is missing or refused.
    DownloadError
        A download failed after retries, or a file does not match its MD5.
    ProcessingError
        The archives or subject files cannot be converted, or no brain mask
        came with the download.

    Examples
    --------
    >>> result = fetch_gsp1000("/data/connectomes/gsp1000", api_key="...")  # doctest: +SKIP
    >>> print(result.summary())  # doctest: +SKIP
    """
    if batches < 1:
        raise ArgumentError(f"batches must be at least 1, got {batches}")
    source = get_source("gsp1000")
    out = _output_folder(output_dir)
    run = _Run(source, progress_callback, verbose)
    raw, processed = out / "raw", out / "processed"

    def pipeline() -> FetchResult:
        reused = None if force else _finished(processed, test_mode)
        if reused is not None:
            run.warn(f"using the finished conversion in {processed} (force=True redoes it)")
            registered = run.register(register, register_name, processed, force)
            return run.result(processed, reused, registered, register_name)
        run.say("download", f"listing the files of {source.persistent_id}")
        http = dataverse.client(source, api_key)
        with http:
            remote = _select(
                run.timed("download", lambda: dataverse.list_files(http, source)), test_mode
            )
            downloads = run.timed(
                "download",
                lambda: download_files(
                    http,
                    remote,
                    raw,
                    verify=not skip_checksum,
                    recheck=force,
                    progress_callback=progress_callback,
                    refusal=dataverse.refusal(source),
                    verbose=verbose,
                ),
            )
        files = run.timed("processing", lambda: _convert(downloads))
        record_fetch(
            source.name,
            output_dir=out,
            downloads=downloads,
            processed=files,
            test_mode=test_mode,
        )
        registered = run.register(register, register_name, processed, force)
        return run.result(processed, files, registered, register_name)

    def _convert(downloads: list[Path]) -> list[Path]:
        archives = [p for p in downloads if p.name.lower().endswith(_ARCHIVE_SUFFIXES)]
        root = _extract_all(archives, raw, force, run)
        subjects = sorted(root.glob("**/" + GSP_PATTERN)) if root.is_dir() else []
        if not subjects:
            raise ProcessingError(
                f"the downloaded archives hold no subject files ({GSP_PATTERN}) under {root}",
                hint="the dataset's layout may have changed; look inside the archives, and "
                "convert with gsp1000_to_hdf5 if the files are there under other names",
            )
        if test_mode:
            subjects, per_chunk = subjects[:_TEST_SUBJECTS], _TEST_SUBJECTS
            run.warn(f"test mode: only the first {len(subjects)} subjects, in one file")
        else:
            per_chunk = math.ceil(len(subjects) / batches)
        mask = _find_mask(raw)
        run.say("processing", f"converting {len(subjects)} subjects with the mask {mask.name}")
        previous = _marker(processed)
        files = convert_gsp_files(
            subjects,
            mask,
            processed,
            per_chunk,
            # a finished test-mode subset is replaced by the full conversion without asking
            overwrite=force or (previous is not None and previous.get("test_mode", False)),
            progress_callback=progress_callback,
        )
        with atomic_write(processed / DONE_MARKER, "w") as handle:
            json.dump({"files": [f.name for f in files], "test_mode": test_mode}, handle)
        # the extracted NIfTI files are as large as the archives and needed no more: the
        # archives stay, so a new conversion extracts again instead of downloading again
        shutil.rmtree(root, ignore_errors=True)
        return files

    return _guard("fetch_gsp1000", pipeline)


# -- tractograms ---------------------------------------------------------------------------------


def _existing_tck(path: Path, force: bool) -> bool:
    """True when a finished .tck is there to reuse."""
    return not force and path.is_file() and header_problem(path) is None


def fetch_dtor985(
    output_dir: str | os.PathLike[str],
    *,
    api_key: str | None = None,
    keep_original: bool = True,
    register: bool = True,
    register_name: str = "dTOR985",
    force: bool = False,
    progress_callback: ProgressCallback | None = None,
    verbose: bool = False,
) -> FetchResult:
    """Download, convert and register the dTOR985 structural tractogram.

    Downloads the 985-subject normative tractogram (TrackVis ``.trk``) from
    Figshare (checking its size, MD5 and header), converts it to MRtrix3's
    ``.tck`` (``<output_dir>/dtor985.tck``) and registers it.

    Parameters
    ----------
    output_dir : path-like
        Folder of the download and the .tck file.
    api_key : str, optional
        Figshare API token; else ``FIGSHARE_API_KEY``, else the configuration
        file. Create one at https://figshare.com/account/applications.
    keep_original : bool
        Keep the downloaded .trk file after the conversion.
    register : bool
        Register the tractogram.
    register_name : str
        The name to register it under.
    force : bool
        Check the download again, convert again, replace a registration of
        the same name.
    progress_callback : callable, optional
        Called with a :class:`FetchProgress` at each step.
    verbose : bool
        Print what is done on stderr.

    Returns
    -------
    FetchResult
        ``output_files`` ends with the .tck file (the .trk before it if kept).

    Raises
    ------
    AuthenticationError
        No Figshare token, or the token was refused (a DownloadError).
    DownloadError
        The download failed, or the file is not what Figshare announced.
    ProcessingError
        The .trk to .tck conversion failed.

    Examples
    --------
    >>> fetch_dtor985("/data/connectomes/dtor985", api_key="...")  # doctest: +SKIP
    """
    source = get_source("dtor985")
    out = _output_folder(output_dir)
    run = _Run(source, progress_callback, verbose)
    tck = out / f"{source.name}.tck"

    def pipeline() -> FetchResult:
        if _existing_tck(tck, force):
            run.warn(f"using the existing tractogram {tck} (force=True redoes it)")
            registered = run.register(register, register_name, tck, force, source.n_subjects)
            return run.result(out, [tck], registered, register_name)
        http = figshare.client(source, api_key)
        with http:
            run.say("download", f"listing the files of Figshare article {source.article_id}")
            listed = run.timed("download", lambda: figshare.list_files(http, source))
            tracts = [f for f in listed if f.name.lower().endswith((".trk", ".trk.gz"))]
            if not tracts:
                raise DownloadError(
                    f"the Figshare article {source.article_id} has no .trk file (it has "
                    f"{', '.join(f.name for f in listed)})",
                    source=source.api_url,
                    hint="the article may have changed; check its page",
                )
            (trk,) = run.timed(
                "download",
                lambda: download_files(
                    http,
                    tracts[:1],
                    out,
                    recheck=force,
                    progress_callback=progress_callback,
                    refusal=figshare.refusal(source),
                    verbose=verbose,
                ),
            )
        run.say("processing", f"converting {trk.name} to {tck.name}")
        run.timed("processing", lambda: trk_to_tck(trk, tck, overwrite=True))
        files = [trk, tck]
        if not keep_original:
            trk.unlink()
            files = [tck]
        record_fetch(source.name, output_dir=out, downloads=[trk], processed=[tck])
        registered = run.register(register, register_name, tck, force, source.n_subjects)
        return run.result(out, files, registered, register_name)

    return _guard("fetch_dtor985", pipeline)


def fetch_hcp1065(
    output_dir: str | os.PathLike[str],
    *,
    keep_original: bool = True,
    register: bool = True,
    register_name: str = "HCP1065",
    force: bool = False,
    progress_callback: ProgressCallback | None = None,
    verbose: bool = False,
) -> FetchResult:
    """Download, merge and register the HCP1065 structural tractogram.

    Downloads the HCP1065 population-averaged tractography atlas (a zip of
    TrackVis tract files) from its GitHub release, checking the size and
    SHA-256 the release lists; extracts it safely into
    ``<output_dir>/hcp1065_tracts``; merges every tract except the cranial
    nerves into ``<output_dir>/hcp1065.tck``; and registers it.

    Parameters
    ----------
    output_dir : path-like
        Folder of the download and the .tck file.
    keep_original : bool
        Keep the zip and the extracted tracts after merging.
    register : bool
        Register the tractogram.
    register_name : str
        The name to register it under.
    force : bool
        Check the download again, extract and merge again, replace a
        registration of the same name.
    progress_callback : callable, optional
        Called with a :class:`FetchProgress` at each step.
    verbose : bool
        Print what is done on stderr.

    Returns
    -------
    FetchResult
        ``output_files`` ends with the .tck file (the zip before it if kept).

    Raises
    ------
    DownloadError
        The download failed or the file is not what the release lists.
    ProcessingError
        The zip is unsafe or damaged, or the tracts cannot be merged.

    Examples
    --------
    >>> fetch_hcp1065("/data/connectomes/hcp1065")  # doctest: +SKIP
    """
    source = get_source("hcp1065")
    out = _output_folder(output_dir)
    run = _Run(source, progress_callback, verbose)
    tck = out / f"{source.name}.tck"
    tracts = out / f"{source.name}_tracts"

    def pipeline() -> FetchResult:
        if _existing_tck(tck, force):
            run.warn(f"using the existing tractogram {tck} (force=True redoes it)")
            registered = run.register(register, register_name, tck, force, source.n_subjects)
            return run.result(out, [tck], registered, register_name)
        with make_client() as http:
            run.say("download", f"asking GitHub about {source.download_url}")
            remote = run.timed("download", lambda: github.asset(http, source, run.warnings))
            (archive,) = run.timed(
                "download",
                lambda: download_files(
                    http,
                    [remote],
                    out,
                    recheck=force,
                    progress_callback=progress_callback,
                    verbose=verbose,
                ),
            )

        def merge() -> None:
            if force or not tracts.is_dir():
                run.say("processing", f"extracting {archive.name}")
                extract_archive(archive, tracts)
            run.say("processing", f"merging the tracts into {tck.name}")
            merge_trk_to_tck(tracts, tck, overwrite=True)

        run.timed("processing", merge)
        files = [archive, tck]
        if not keep_original:
            archive.unlink()
            shutil.rmtree(tracts, ignore_errors=True)
            files = [tck]
        record_fetch(source.name, output_dir=out, downloads=[archive], processed=[tck])
        registered = run.register(register, register_name, tck, force, source.n_subjects)
        return run.result(out, files, registered, register_name)

    return _guard("fetch_hcp1065", pipeline)


# -- by name -------------------------------------------------------------------------------------

_FETCHERS: dict[str, Callable[..., FetchResult]] = {
    "gsp1000": fetch_gsp1000,
    "dtor985": fetch_dtor985,
    "hcp1065": fetch_hcp1065,
}


def fetch_connectome(name: str, output_dir: str | os.PathLike[str], **kwargs: Any) -> FetchResult:
    """Fetch a connectome by name: dispatches to :func:`fetch_gsp1000`, ... .

    Parameters
    ----------
    name : str
        ``"gsp1000"``, ``"dtor985"`` or ``"hcp1065"`` (any case).
    output_dir : path-like
        Folder of the download and the output.
    **kwargs
        The keyword arguments of that connectome's fetch function.

    Returns
    -------
    FetchResult

    Raises
    ------
    NotFoundError
        An unknown connectome (the message lists the known ones).
    ArgumentError
        A keyword argument the connectome's fetch function does not take.

    Examples
    --------
    >>> fetch_connectome("gsp1000", "/data/gsp1000", api_key="key", batches=50)  # doctest: +SKIP
    """
    source = get_source(name)
    fetcher = _FETCHERS.get(source.name)
    if fetcher is None:
        raise ArgumentError(f"no fetch function for the connectome source {source.name!r}")
    accepted = [p for p in inspect.signature(fetcher).parameters if p != "output_dir"]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ArgumentError(
            f"{fetcher.__name__} takes no argument {', '.join(unknown)}",
            hint="it takes " + ", ".join(accepted),
        )
    return fetcher(output_dir, **kwargs)
