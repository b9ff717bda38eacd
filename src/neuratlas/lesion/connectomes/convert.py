"""Converting downloaded connectome data into what the analyses read.

- :func:`gsp1000_to_hdf5`: per-subject GSP1000 fMRI NIfTI files and a brain
  mask -> HDF5 batch files in lacuna's layout (:mod:`.layout`);
- :func:`trk_to_tck`: a TrackVis tractogram -> an MRtrix3 ``.tck`` file;
- :func:`merge_trk_to_tck`: a folder of TrackVis tract files -> one ``.tck``.

A TrackVis file stores points in voxel-millimetre coordinates with a header
saying how they map to the world; nibabel applies that mapping when it reads,
so the streamlines come out in RAS+ millimetres, which is what ``.tck`` stores.
Everything is read and written in batches, so memory stays bounded by a batch
(a subject, or 100 000 streamlines) whatever the size of the data, and every
output file appears atomically.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from pathlib import Path

import nibabel as nib
import numpy as np

from neuratlas.errors import ArgumentError, Error, ImageError, NotFoundError, ProcessingError
from neuratlas.lesion.connectomes.existing import output_exists
from neuratlas.lesion.connectomes.layout import ConnectomeReader, ConnectomeWriter
from neuratlas.lesion.connectomes.progress import FetchProgress, ProgressCallback, report
from neuratlas.lesion.connectomes.tck import TckWriter
from neuratlas.volumes.nifti import open_image

__all__ = [
    "CHUNK_PATTERN",
    "GSP_PATTERN",
    "convert_gsp_files",
    "gsp1000_to_hdf5",
    "merge_trk_to_tck",
    "trk_to_tck",
]

#: Where GSP1000's per-subject files sit below the dataset folder (lacuna's pattern).
GSP_PATTERN = "sub-*/func/*bld001_rest_*_finalmask.nii.gz"
#: Names of the batch files written (lacuna's names).
CHUNK_PATTERN = "gsp1000_chunk_{:03d}.h5"
_CHUNK_RE = re.compile(r"^gsp1000_chunk_\d{3,}\.h5$")
#: Tract files the HCP1065 merge leaves out by default (lacuna's choice).
DEFAULT_EXCLUDE = ("cranial nerve", "cranial_nerve")
_STREAMLINE_BATCH = 100_000
_GSP_SPACE = "MNI152NLin6Asym"
_GSP_SOURCE = "Harvard Dataverse doi:10.7910/DVN/ILXIKS"


# -- GSP1000 -> HDF5 -----------------------------------------------------------------------------


def _load_mask(mask_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The brain mask (non-zero voxels, as lacuna) and its affine."""
    try:
        with open_image(mask_path) as img:
            data = np.asanyarray(img.dataobj)
            affine = np.asarray(img.affine, dtype=np.float64)
    except (OSError, EOFError, ValueError, nib.filebasedimages.ImageFileError) as exc:
        raise ImageError(f"the brain mask {mask_path} cannot be read ({exc})") from None
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise ImageError(f"the brain mask {mask_path} is not 3D (shape {data.shape})")
    mask = data != 0
    if not mask.any():
        raise ImageError(f"the brain mask {mask_path} is empty")
    return mask, affine


def _subject_id(path: Path) -> str:
    """The ``sub-*`` folder a GSP file sits in (``<gsp>/sub-X/func/<file>``)."""
    for part in reversed(path.parts[:-1]):
        if part.startswith("sub-"):
            return part
    return path.name.split(".")[0]


def _read_subject(
    path: Path,
    indices: tuple[np.ndarray, ...],
    mask: np.ndarray,
    affine: np.ndarray,
    n_timepoints: int | None,
) -> np.ndarray:
    """One subject's (T, V) in-mask time series, read one volume at a time."""
    try:
        with open_image(path) as img:
            shape = img.shape
            if len(shape) != 4 or shape[:3] != mask.shape:
                raise ProcessingError(
                    f"{path} has shape {shape}, expected 4D on the mask's grid {mask.shape}",
                    hint="use the brain mask of the data's grid (2 mm MNI152 for GSP1000)",
                )
            if not np.allclose(img.affine, affine, atol=1e-3):
                raise ProcessingError(
                    f"{path} is not on the brain mask's grid (their affines differ)",
                    hint="use the brain mask of the data's grid (2 mm MNI152 for GSP1000)",
                )
            if n_timepoints is not None and shape[3] != n_timepoints:
                raise ProcessingError(
                    f"{path} has {shape[3]} time points, the other subjects {n_timepoints}",
                    hint="all subjects of a connectome need the same number of time points",
                )
            series = np.empty((shape[3], indices[0].size), dtype=np.float32)
            for k in range(shape[3]):  # volume by volume: one pass over the gzip stream
                series[k] = np.asanyarray(img.dataobj[..., k])[indices]
    except (OSError, EOFError, ValueError, nib.filebasedimages.ImageFileError) as exc:
        raise ProcessingError(
            f"the subject file {path} cannot be read ({exc})",
            hint="the file may be truncated; extract or fetch it again",
        ) from None
    if not np.all(np.isfinite(series)):
        raise ProcessingError(
            f"the time series of {path} hold NaN or infinite values inside the brain mask",
            hint="check the subject's preprocessing, or leave the subject out",
        )
    return series


def _n_timepoints(path: Path) -> int:
    try:
        with open_image(path) as img:
            shape = img.shape
    except (OSError, EOFError, ValueError, nib.filebasedimages.ImageFileError) as exc:
        raise ProcessingError(f"the subject file {path} cannot be read ({exc})") from None
    if len(shape) != 4:
        raise ProcessingError(f"{path} is not a 4D time series (shape {shape})")
    return int(shape[3])


def _reusable(path: Path, ids: list[str], n_timepoints: int, indices: np.ndarray) -> bool:
    """True when an existing batch file already holds exactly these subjects on this mask."""
    try:
        with ConnectomeReader(path) as reader:
            return (
                reader.subject_ids == ids
                and reader.n_timepoints == n_timepoints
                and np.array_equal(reader.mask_indices, indices)
            )
    except Error:
        return False


def convert_gsp_files(
    files: Sequence[str | os.PathLike[str]],
    mask_path: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    subjects_per_chunk: int = 10,
    *,
    overwrite: bool = False,
    progress_callback: ProgressCallback | None = None,
) -> list[Path]:
    """Convert given GSP subject files (in this order) to HDF5 batch files.

    :func:`gsp1000_to_hdf5` finds the files in a dataset folder and calls this;
    see it for the parameters. Batch files already holding exactly the same
    subjects on the same mask are kept (a conversion that was interrupted
    resumes); others are refused unless ``overwrite``.
    """
    paths = [Path(p) for p in files]
    if not paths:
        raise ArgumentError("no subject files to convert")
    if subjects_per_chunk < 1:
        raise ArgumentError(f"subjects_per_chunk must be at least 1, got {subjects_per_chunk}")
    mask_file = Path(mask_path)
    if not mask_file.is_file():
        raise NotFoundError(
            f"the brain mask {mask_file} does not exist",
            hint="give the 2 mm MNI152 brain mask of the GSP1000 data",
        )
    out = Path(output_dir)
    mask, affine = _load_mask(mask_file)
    indices = np.stack(np.nonzero(mask)).astype(np.int64)  # C order: lacuna's column order
    index_tuple = tuple(indices)
    n_timepoints = _n_timepoints(paths[0])
    chunks = [paths[i : i + subjects_per_chunk] for i in range(0, len(paths), subjects_per_chunk)]
    targets = [out / CHUNK_PATTERN.format(i) for i in range(len(chunks))]
    ids = [[_subject_id(p) for p in chunk] for chunk in chunks]

    # decide about every existing file before writing any: a refusal leaves the folder as it was
    stale = [
        p
        for p in (out.iterdir() if out.is_dir() else [])
        if _CHUNK_RE.match(p.name) and p not in targets
    ]
    keep = [
        t.exists() and not overwrite and _reusable(t, i, n_timepoints, indices)
        for t, i in zip(targets, ids, strict=True)
    ]
    if not overwrite:
        blocking = [t for t, k in zip(targets, keep, strict=True) if t.exists() and not k] + stale
        if blocking:
            raise output_exists(blocking[0], what=f"the batch file (one of {len(blocking)})")
    for path in stale:
        path.unlink()
    out.mkdir(parents=True, exist_ok=True)

    done = 0
    total = len(paths)
    for chunk_index, (chunk, target, chunk_ids) in enumerate(
        zip(chunks, targets, ids, strict=True)
    ):
        if keep[chunk_index]:
            done += len(chunk)
            report(
                progress_callback,
                FetchProgress(
                    "processing", target.name, done, total, message=f"kept {target.name}"
                ),
            )
            continue
        with ConnectomeWriter(
            target,
            len(chunk),
            n_timepoints,
            indices,
            affine,
            mask.shape,
            space=_GSP_SPACE,
            description=f"GSP1000 functional connectome chunk {chunk_index}",
            source=_GSP_SOURCE,
            subject_ids=chunk_ids,
            overwrite=True,
        ) as writer:
            for row, path in enumerate(chunk):
                report(
                    progress_callback,
                    FetchProgress(
                        "processing", path.name, done, total, message=f"converting {path.name}"
                    ),
                )
                writer.write(row, _read_subject(path, index_tuple, mask, affine, n_timepoints))
                done += 1
    return targets


def gsp1000_to_hdf5(
    gsp_dir: str | os.PathLike[str],
    mask_path: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    subjects_per_chunk: int = 10,
    *,
    max_subjects: int | None = None,
    overwrite: bool = False,
) -> list[Path]:
    """Convert GSP1000 functional data to HDF5 batch files in lacuna's layout.

    Scans ``gsp_dir`` for the per-subject files, reads each subject's time
    series inside the brain mask one volume at a time, and writes
    ``subjects_per_chunk`` subjects per file (``gsp1000_chunk_000.h5``, ...).
    Expected structure: ``gsp_dir/sub-*/func/*bld001_rest_*_finalmask.nii.gz``.

    Parameters
    ----------
    gsp_dir : path-like
        The GSP1000 dataset folder.
    mask_path : path-like
        The brain mask on the data's grid (the 2 mm MNI152 mask); its
        non-zero voxels, in C order, are the columns of ``timeseries``.
    output_dir : path-like
        Where the batch files go (created).
    subjects_per_chunk : int
        Subjects per batch file.
    max_subjects : int, optional
        Use only the first ``max_subjects`` files (in name order).
    overwrite : bool
        Replace existing batch files. Without it, files that already hold the
        same subjects are kept (an interrupted conversion resumes), and any
        other batch file in the way raises.

    Returns
    -------
    list of Path
        The batch files, in subject order.

    Raises
    ------
    NotFoundError
        ``gsp_dir`` or ``mask_path`` does not exist.
    ArgumentError
        No subject files match the expected structure, or bad counts.
    FileExistsError
        Batch files in the way and ``overwrite`` is False (nothing is written).
    ProcessingError
        A subject file that cannot be read, is not on the mask's grid, has
        another number of time points, or holds NaN.

    Notes
    -----
    The time series are stored as they are (no demeaning or scaling): the
    analyses normalise them. Each file is self-contained (mask, affine and
    attributes in every one) and chunked per subject, so reading a block of
    subjects, or some voxels of them, is cheap.

    Examples
    --------
    >>> gsp1000_to_hdf5("/data/GSP1000", "MNI152_T1_2mm_brain_mask.nii.gz",
    ...                 "/data/connectomes/gsp1000", subjects_per_chunk=100)  # doctest: +SKIP
    """
    folder = Path(gsp_dir)
    if not folder.is_dir():
        raise NotFoundError(
            f"the GSP1000 folder {folder} does not exist",
            hint="give the folder that holds the sub-*/func/ folders",
        )
    if max_subjects is not None and max_subjects < 1:
        raise ArgumentError(f"max_subjects must be at least 1, got {max_subjects}")
    files = sorted(folder.glob(GSP_PATTERN))
    if not files:
        raise ArgumentError(
            f"no GSP1000 subject files in {folder} (looked for {GSP_PATTERN})",
            hint="point gsp_dir to the folder holding sub-*/func/*bld001_rest_*_finalmask.nii.gz",
        )
    if max_subjects is not None:
        files = files[:max_subjects]
    return convert_gsp_files(files, mask_path, output_dir, subjects_per_chunk, overwrite=overwrite)


# -- TrackVis -> MRtrix -------------------------------------------------------------------------


def _is_trk(path: Path) -> bool:
    return path.name.lower().endswith((".trk", ".trk.gz"))


def _check_output(output_path: str | os.PathLike[str], overwrite: bool) -> Path:
    target = Path(output_path)
    if target.suffix.lower() != ".tck":
        raise ArgumentError(
            f"the output {target} must be a .tck file (MRtrix3's format)",
            hint="give a path ending in .tck",
        )
    if target.exists() and not overwrite:
        raise output_exists(target, what="the tractogram")
    return target


def _streamlines(path: Path) -> Iterator[np.ndarray]:
    """A TrackVis file's streamlines in RAS+ mm, read lazily (nibabel applies the header)."""
    try:
        trk = nib.streamlines.TrkFile.load(str(path), lazy_load=True)
        yield from trk.streamlines
    except Error:
        raise
    except Exception as exc:  # nibabel raises DataError, HeaderError, struct.error, ...
        raise ProcessingError(
            f"the TrackVis file {path} cannot be read ({exc})",
            hint="the file may be truncated or not a .trk file; fetch it again",
        ) from None


def _batches(items: Iterable[np.ndarray], size: int) -> Iterator[list[np.ndarray]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def trk_to_tck(
    trk_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
) -> Path:
    """Convert a TrackVis ``.trk`` tractogram to an MRtrix3 ``.tck`` file.

    Pure Python (nibabel), no MRtrix needed; streamlines are read and written
    100 000 at a time, so a tractogram of any size converts in bounded memory.
    Per-point and per-streamline data of the .trk file are dropped: .tck has
    no place for them.

    Parameters
    ----------
    trk_path : path-like
        The TrackVis file (``.trk`` or ``.trk.gz``), e.g. dTOR985's.
    output_path : path-like
        The ``.tck`` file to write.
    overwrite : bool
        Replace an existing ``output_path``.

    Returns
    -------
    Path
        ``output_path``.

    Raises
    ------
    NotFoundError
        ``trk_path`` does not exist.
    ArgumentError
        The input is not .trk or the output not .tck.
    FileExistsError
        ``output_path`` exists and ``overwrite`` is False.
    ProcessingError
        The .trk file cannot be read (nothing is written).

    Examples
    --------
    >>> trk_to_tck("/data/dTOR985.trk", "/data/dTOR985.tck")  # doctest: +SKIP
    """
    source = Path(trk_path)
    if not _is_trk(source):
        raise ArgumentError(
            f"the input {source} must be a TrackVis .trk file",
            hint="give a path ending in .trk (or .trk.gz)",
        )
    if not source.is_file():
        raise NotFoundError(f"the TrackVis file {source} does not exist")
    target = _check_output(output_path, overwrite)
    with TckWriter(target) as writer:
        for batch in _batches(_streamlines(source), _STREAMLINE_BATCH):
            writer.write(batch)
    return target


def merge_trk_to_tck(
    source_dir: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    *,
    exclude_patterns: Sequence[str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Merge the TrackVis files of a folder (recursively) into one MRtrix3 ``.tck`` file.

    Parameters
    ----------
    source_dir : path-like
        A folder of ``.trk``/``.trk.gz`` tract files, searched recursively and
        merged in path order.
    output_path : path-like
        The ``.tck`` file to write.
    exclude_patterns : sequence of str, optional
        Files whose path below ``source_dir`` contains any of these strings
        (case-insensitive) are left out. Default: ``("cranial nerve",
        "cranial_nerve")``, the HCP1065 atlas's cranial nerves.
    overwrite : bool
        Replace an existing ``output_path``.

    Returns
    -------
    Path
        ``output_path``.

    Raises
    ------
    NotFoundError
        ``source_dir`` does not exist.
    ArgumentError
        No tract files, all of them excluded, or the output is not .tck.
    FileExistsError
        ``output_path`` exists and ``overwrite`` is False.
    ProcessingError
        A tract file cannot be read, or none holds a streamline (nothing is written).

    Examples
    --------
    >>> merge_trk_to_tck("/data/hcp1065_tracts", "/data/hcp1065.tck")  # doctest: +SKIP
    """
    folder = Path(source_dir)
    if not folder.is_dir():
        raise NotFoundError(f"the tract folder {folder} does not exist")
    target = _check_output(output_path, overwrite)
    patterns = [
        p.lower() for p in (DEFAULT_EXCLUDE if exclude_patterns is None else exclude_patterns)
    ]
    found = sorted(p for p in folder.rglob("*") if p.is_file() and _is_trk(p))
    if not found:
        raise ArgumentError(
            f"no .trk or .trk.gz files in {folder}",
            hint="point source_dir to the folder of extracted tract files",
        )
    kept = [
        p
        for p in found
        if not any(s in p.relative_to(folder).as_posix().lower() for s in patterns)
    ]
    if not kept:
        raise ArgumentError(
            f"all {len(found)} tract files in {folder} match the exclude patterns {patterns}",
            hint="pass exclude_patterns=[] to keep them all",
        )
    with TckWriter(target) as writer:
        for path in kept:
            for batch in _batches(_streamlines(path), _STREAMLINE_BATCH):
                writer.write(batch)
        if writer.count == 0:
            raise ProcessingError(
                f"the {len(kept)} tract files in {folder} hold no streamlines",
                hint="the archive may be incomplete; fetch it again",
            )
    return target
