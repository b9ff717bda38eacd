"""Small synthetic connectome data, made by code: GSP-like fMRI subjects and tractograms.

- :func:`gsp_dataset`: per-subject 4D NIfTI time series laid out as GSP1000's
  (``sub-*/func/*bld001_rest_*_finalmask.nii.gz``) on a coarse 2 mm MNI-like
  grid, a brain mask, and the expected (T, V) series of every subject;
- :func:`trk_bytes`: a TrackVis file with a real LAS voxel-to-RAS header, so
  that reading it has a transform to apply;
- :func:`tar_bytes` / :func:`zip_bytes`: archives of files, with hostile
  members when asked.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.streamlines import Field, Tractogram, TrkFile

# a coarse cut of the 2 mm MNI152 grid: LAS voxel axes, 2 mm, origin like the real one
SHAPE = (9, 10, 8)
AFFINE = np.array(
    [[-2.0, 0, 0, 8.0], [0, 2.0, 0, -10.0], [0, 0, 2.0, -6.0], [0, 0, 0, 1]], dtype=np.float64
)
GSP_NAME = (
    "{sid}_bld001_rest_skip4_stc_mc_bp_0.0001_0.08_resid_FS1mm_MNI1mm_MNI2mm_sm7_finalmask.nii.gz"
)


def brain_mask(shape: tuple[int, int, int] = SHAPE) -> np.ndarray:
    """An ellipsoid filling most of the grid."""
    grid = np.indices(shape).astype(float)
    centre = (np.array(shape) - 1) / 2
    radii = np.array(shape) / 2.2
    inside = sum(((grid[i] - centre[i]) / radii[i]) ** 2 for i in range(3)) <= 1.0
    return inside


@dataclass
class GspDataset:
    root: Path
    mask_path: Path
    mask: np.ndarray
    #: subject id -> (T, V) float32 series at the mask's voxels in C order
    series: dict[str, np.ndarray]
    files: list[Path]


def subject_series(rng: np.random.Generator, n_timepoints: int, n_voxels: int) -> np.ndarray:
    """BOLD-like series: a few shared signals mixed into every voxel, plus noise."""
    signals = rng.normal(size=(n_timepoints, 3))
    weights = rng.normal(size=(3, n_voxels))
    return (100 + signals @ weights + 0.5 * rng.normal(size=(n_timepoints, n_voxels))).astype(
        np.float32
    )


def gsp_dataset(
    root: Path,
    n_subjects: int = 5,
    n_timepoints: int = 12,
    seed: int = 0,
    *,
    outside: float = 0.0,
) -> GspDataset:
    """Write a GSP1000-like folder under ``root`` and the brain mask next to it."""
    rng = np.random.default_rng(seed)
    mask = brain_mask()
    indices = np.nonzero(mask)
    series: dict[str, np.ndarray] = {}
    files = []
    for n in range(n_subjects):
        sid = f"sub-{1000 + 7 * n:04d}"
        ts = subject_series(rng, n_timepoints, int(mask.sum()))
        data = np.full((*SHAPE, n_timepoints), outside, dtype=np.float32)
        for t in range(n_timepoints):
            vol = data[..., t]
            vol[indices] = ts[t]
        path = root / sid / "func" / GSP_NAME.format(sid=sid)
        path.parent.mkdir(parents=True, exist_ok=True)
        nib.save(nib.Nifti1Image(data, AFFINE), path)
        series[sid] = ts
        files.append(path)
    mask_path = root.parent / f"{root.name}_MNI152_T1_2mm_brain_mask.nii.gz"
    nib.save(nib.Nifti1Image(mask.astype(np.uint8), AFFINE), mask_path)
    return GspDataset(root, mask_path, mask, series, files)


def streamlines(n: int, seed: int = 0, offset: float = 0.0) -> list[np.ndarray]:
    """``n`` smooth random streamlines in RAS+ mm inside the synthetic grid's box."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        k = int(rng.integers(3, 12))
        start = rng.uniform([-6, -8, -4], [6, 6, 6])
        steps = rng.normal(scale=0.8, size=(k, 3)).cumsum(axis=0)
        out.append((start + steps + offset).astype(np.float32))
    return out


def trk_bytes(lines: list[np.ndarray], *, scalars: bool = False) -> bytes:
    """A TrackVis file holding ``lines`` (given in RAS+ mm) with a LAS 2 mm header."""
    tractogram = Tractogram(lines, affine_to_rasmm=np.eye(4))
    if scalars:  # per-point data, which .tck cannot keep
        tractogram.data_per_point["fa"] = [np.ones((len(s), 1), np.float32) for s in lines]
    header = {
        Field.VOXEL_TO_RASMM: AFFINE,
        Field.DIMENSIONS: SHAPE,
        Field.VOXEL_SIZES: (2.0, 2.0, 2.0),
        Field.VOXEL_ORDER: "LAS",
    }
    buffer = io.BytesIO()
    TrkFile(tractogram, header=header).save(buffer)
    return buffer.getvalue()


def tar_bytes(
    files: dict[str, bytes], *, links: dict[str, str] | None = None, gz: bool = False
) -> bytes:
    """A tar archive of ``files`` (name -> content), plus symbolic ``links`` (name -> target)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if gz else "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return buffer.getvalue()


def tar_of_folder(folder: Path, arcroot: str = "") -> bytes:
    """A tar archive of everything under ``folder`` (names relative to it)."""
    files = {
        (f"{arcroot}/" if arcroot else "") + p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
    return tar_bytes(files)


def zip_bytes(files: dict[str, bytes]) -> bytes:
    """A zip archive of ``files`` (name -> content); names are written as given."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(zipfile.ZipInfo(name), data)
    return buffer.getvalue()
