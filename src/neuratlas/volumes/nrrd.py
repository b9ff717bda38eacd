"""Read NRRD volumes (the Allen Institute's format) as NIfTI images.

Two readings of a file, named by the provider format of a volume spec:

``nrrd``
    The geometry the header states: ``space directions`` and ``space origin`` in
    the header's ``space`` (``left-posterior-superior``, ``right-anterior-superior``...),
    in millimetres unless ``space units`` says otherwise.
``nrrd/ccf``
    A volume of the Allen Mouse Common Coordinate Framework (CCFv3). Its array axes
    are PIR (anterior to posterior, superior to inferior, left to right) with the
    voxel size in micrometres and the origin at the corner of the volume; the
    headers of the released files do not say so (they name a space that does not
    match the data), so only the voxel size is read from them. The affine maps a
    voxel to RAS millimetres: ``x = +CCF z``, ``y = -CCF x``, ``z = -CCF y``
    (CCF coordinates in µm divided by 1000); ``nibabel.aff2axcodes`` gives
    ``('P', 'I', 'R')``.

A raw or gzip-encoded file with its data attached (the Allen files) is decoded
here, with zlib-ng (as :mod:`neuratlas.volumes.gz` reads NIfTI files), straight into
the final array a slice at a time: on the 25 µm annotation (308 MB decoded) 0.05 s
of CPU against pynrrd's 1.3 s, whose standard zlib also grows a copy of the whole
decoded data first (twice the peak memory). :class:`NrrdSlabs` hands such a file
over a few slabs at a time instead (:mod:`neuratlas.volumes.slabs`), never holding
it whole. Other encodings are read by pynrrd.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import nibabel as nib
import nrrd
import numpy as np

from neuratlas.errors import ImageError
from neuratlas.volumes.slabs import SLAB_BYTES, ArraySlabs, slabs_at_a_time

try:  # optional: zlib-ng's wheels cover the usual platforms (see neuratlas.volumes.gz)
    from zlib_ng import zlib_ng as _zlib
except ImportError:  # pragma: no cover - exercised only where zlib-ng is absent
    _zlib = zlib

NRRD_FORMATS = ("nrrd", "nrrd/ccf")

# RAS <- each nrrd space's axes: the sign of each axis of the named space in RAS
_SPACES = {
    "right-anterior-superior": (1, 1, 1),
    "ras": (1, 1, 1),
    "left-anterior-superior": (-1, 1, 1),
    "las": (-1, 1, 1),
    "left-posterior-superior": (-1, -1, 1),
    "lps": (-1, -1, 1),
}
_UNITS_TO_MM = {"mm": 1.0, "millimeter": 1.0, "um": 1e-3, "µm": 1e-3, "micron": 1e-3, "m": 1e3}
_HINT = "the file is corrupt or truncated; delete it so that it is fetched again"
# pynrrd's own type names (its public reader accepts the same ones)
_TYPES: dict[str, str] = {
    **dict.fromkeys(("signed char", "int8", "int8_t"), "i1"),
    **dict.fromkeys(("uchar", "unsigned char", "uint8", "uint8_t"), "u1"),
    **dict.fromkeys(
        ("short", "short int", "signed short", "signed short int", "int16", "int16_t"), "i2"
    ),
    **dict.fromkeys(
        ("ushort", "unsigned short", "unsigned short int", "uint16", "uint16_t"), "u2"
    ),
    **dict.fromkeys(("int", "signed int", "int32", "int32_t"), "i4"),
    **dict.fromkeys(("uint", "unsigned int", "uint32", "uint32_t"), "u4"),
    **dict.fromkeys(
        ("longlong", "long long", "long long int", "signed long long", "int64", "int64_t"), "i8"
    ),
    **dict.fromkeys(
        ("ulonglong", "unsigned long long", "unsigned long long int", "uint64", "uint64_t"), "u8"
    ),
    "float": "f4",
    "double": "f8",
}
#: Encodings of attached data decoded here, straight into the final array or a slab buffer
_DIRECT = ("raw", "gzip", "gz")
_COMPRESSED_CHUNK = 1 << 20  # bytes of the file read at a time
_DECOMPRESSED_CHUNK = 1 << 20  # most bytes decompressed at a time: a copy that stays in cache

#: Voxel -> RAS mm for a CCF volume with isotropic voxels of 1 µm (scale by the size).
CCF_PIR_TO_RAS = np.array(
    [[0.0, 0.0, 1.0, 0.0], [-1.0, 0.0, 0.0, 0.0], [0.0, -1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
)


def ccf_affine(voxel_um: float | tuple[float, float, float]) -> np.ndarray:
    """The voxel -> RAS mm affine of a CCF volume with voxels of ``voxel_um`` µm (PIR axes)."""
    sizes = np.broadcast_to(np.asarray(voxel_um, dtype=np.float64), (3,)) / 1000.0
    affine = CCF_PIR_TO_RAS.copy()
    affine[:3, :3] *= sizes  # column k scales array axis k
    return affine


def read_nrrd(path: str | Path, fmt: str = "nrrd") -> nib.Nifti1Image:
    """Read a 3D NRRD file as a NIfTI image.

    Parameters
    ----------
    path : path-like
        A ``.nrrd`` file (any encoding pynrrd reads: raw, gzip, bzip2, ascii).
    fmt : {"nrrd", "nrrd/ccf"}
        How to place the voxels in space (see the module's documentation).

    Returns
    -------
    nibabel.Nifti1Image
        The data as stored (no scaling), with the affine to RAS millimetres.

    Raises
    ------
    ImageError
        The file is not a readable NRRD, is not 3D, or its geometry is unknown.
    """
    volume = NrrdSlabs(path, fmt)
    return nib.Nifti1Image(volume.read(), volume.affine)


class NrrdSlabs:
    """A 3D NRRD file: its geometry from the header, its data whole or in slabs.

    A :class:`~neuratlas.volumes.slabs.SlabSource`: raw or gzip data attached to the
    header (the Allen files) are decoded a few slabs at a time into one buffer;
    other layouts are read whole by pynrrd first.

    Parameters
    ----------
    path : path-like
        A ``.nrrd`` file.
    fmt : {"nrrd", "nrrd/ccf"}
        How to place the voxels in space (see the module's documentation).

    Raises
    ------
    ImageError
        The file is not a readable NRRD, is not 3D, or its geometry is unknown.
    """

    def __init__(self, path: str | Path, fmt: str = "nrrd") -> None:
        if fmt not in NRRD_FORMATS:
            raise ImageError(
                f"unknown NRRD reading {fmt!r}", hint="use one of: " + ", ".join(NRRD_FORMATS)
            )
        self.path = str(path)
        with self._decoding(), open(self.path, "rb") as handle:
            header = nrrd.read_header(handle)
        sizes = [int(n) for n in header.get("sizes", ())]
        if len(sizes) != 3:
            raise ImageError(f"{self.path!r} is {len(sizes)}D; neuratlas reads 3D NRRD volumes")
        self.header = header
        self.shape: tuple[int, int, int] = (sizes[0], sizes[1], sizes[2])
        self.dtype = _dtype(header, self.path)
        directions = _directions(header, self.path)
        if fmt == "nrrd/ccf":
            self.affine = ccf_affine(tuple(np.linalg.norm(directions, axis=1)))
        else:
            self.affine = _header_affine(header, directions, self.path)
        encoding = str(header.get("encoding", "")).lower()
        attached = not ({"data file", "datafile"} & header.keys())
        no_skips = int(header.get("line skip", 0)) == 0 and int(header.get("byte skip", 0)) == 0
        self._encoding = encoding if attached and no_skips and encoding in _DIRECT else None

    def read(self) -> np.ndarray:
        """The whole data, Fortran-ordered (axes in the header's order)."""
        if self._encoding is None:
            with self._decoding():
                data, _ = nrrd.read(self.path, index_order="F")
            if data.shape != self.shape:
                raise ImageError(
                    f"{self.path!r}: the data do not have the header's sizes {self.shape}",
                    hint=_HINT,
                )
            return np.asarray(data)
        out = np.empty(int(np.prod(self.shape, dtype=np.int64)), dtype=self.dtype)
        with self._decoding(), open(self.path, "rb") as handle:
            nrrd.read_header(handle)
            data = _AttachedData(handle, self._encoding)
            self._fill(data, memoryview(out).cast("B"))
            data.check_end(self.shape)
        return out.reshape(self.shape, order="F")

    def slabs(self, max_bytes: int = SLAB_BYTES) -> Iterator[tuple[int, np.ndarray]]:
        """``(start, block)`` pairs along the last axis, as a ``SlabSource`` gives them."""
        if self._encoding is None:
            yield from ArraySlabs(nib.Nifti1Image(self.read(), self.affine)).slabs(max_bytes)
            return
        step = slabs_at_a_time(self.shape, self.dtype.itemsize, max_bytes)
        slab = self.shape[0] * self.shape[1]
        buffer = np.empty(slab * step, dtype=self.dtype)
        with self._decoding(), open(self.path, "rb") as handle:
            nrrd.read_header(handle)
            data = _AttachedData(handle, self._encoding)
            for start in range(0, self.shape[2], step):
                count = min(step, self.shape[2] - start)
                block = buffer[: slab * count]
                self._fill(data, memoryview(block).cast("B"))
                yield start, block.reshape((*self.shape[:2], count), order="F")
            data.check_end(self.shape)

    def _fill(self, data: _AttachedData, target: memoryview) -> None:
        if data.readinto(target) < len(target):
            expected = int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize
            raise ImageError(f"the data end after {data.delivered} of {expected} bytes")

    @contextlib.contextmanager
    def _decoding(self) -> Iterator[None]:
        """Turn what reading or decoding the file raises into an :class:`ImageError`."""
        try:
            yield
        except ImageError as exc:
            if self.path in exc.message:
                raise
            raise ImageError(
                f"cannot read the NRRD file {self.path!r}: {exc.message}", hint=_HINT
            ) from None
        except (OSError, EOFError, ValueError, nrrd.NRRDError) as exc:
            raise ImageError(
                f"cannot read the NRRD file {self.path!r}: {exc}", hint=_HINT
            ) from None
        except Exception as exc:  # zlib/bz2 raise their own types for truncated streams
            raise ImageError(
                f"cannot decode the NRRD file {self.path!r}: {exc}", hint=_HINT
            ) from None


def _dtype(header: dict[str, Any], path: str) -> np.dtype[Any]:
    """The voxels' data type, byte order included."""
    name = str(header.get("type", "")).lower()
    if name not in _TYPES:
        raise ImageError(f"{path!r} has voxels of an unknown type {name!r}", hint=_HINT)
    dtype = np.dtype(_TYPES[name])
    if dtype.itemsize > 1:
        big = str(header.get("endian", "little")).lower() == "big"
        dtype = dtype.newbyteorder(">" if big else "<")
    return dtype


class _AttachedData:
    """The data after a NRRD header (raw or gzip), read into the caller's buffers."""

    def __init__(self, handle: IO[bytes], encoding: str) -> None:
        self._handle = handle
        self._inflate = _zlib.decompressobj(zlib.MAX_WBITS | 16) if encoding != "raw" else None
        self._pending = b""
        #: Bytes handed over so far.
        self.delivered = 0

    def readinto(self, target: memoryview) -> int:
        """Fill ``target``; fewer bytes only where the data end."""
        filled = 0
        if self._inflate is None:
            while filled < len(target):
                got = self._handle.readinto(target[filled:])  # type: ignore[attr-defined]
                if not got:
                    break
                filled += got
            self.delivered += filled
            return filled
        while filled < len(target) and not self._inflate.eof:
            if not self._pending:
                self._pending = self._handle.read(_COMPRESSED_CHUNK)
                if not self._pending:
                    break
            want = min(len(target) - filled, _DECOMPRESSED_CHUNK)
            piece = self._inflate.decompress(self._pending, want)
            target[filled : filled + len(piece)] = piece
            filled += len(piece)
            self._pending = self._inflate.unconsumed_tail
        self.delivered += filled
        return filled

    def check_end(self, sizes: tuple[int, ...]) -> None:
        """Raise if compressed data go on past the header's sizes."""
        if self._inflate is None or self._inflate.eof:
            return  # raw data may be followed by padding, as pynrrd allows
        more = self._pending or self._handle.read(_COMPRESSED_CHUNK)
        if more and self._inflate.decompress(more, 1):
            raise ImageError(f"the data are longer than the header's sizes {sizes}")


def _directions(header: dict[str, Any], path: str | Path) -> np.ndarray:
    """One row per array axis: the step of that axis in the header's space."""
    if "space directions" in header:
        directions = np.asarray(header["space directions"], dtype=np.float64)
        if directions.shape == (3, 3) and np.isfinite(directions).all():
            return directions
    if "spacings" in header:
        return np.diag(np.asarray(header["spacings"], dtype=np.float64))
    raise ImageError(
        f"{str(path)!r} gives no voxel geometry (neither 'space directions' nor 'spacings')",
        hint="add 'space directions' or 'spacings' to its header; a downloaded file may be "
        "damaged: delete it so that it is fetched again",
    )


def _header_affine(header: dict[str, Any], directions: np.ndarray, path: str | Path) -> np.ndarray:
    space = str(header.get("space", "right-anterior-superior")).lower()
    if space not in _SPACES:
        raise ImageError(
            f"{str(path)!r} is in the space {space!r}, which neuratlas cannot place",
            hint="supported: " + ", ".join(sorted(k for k in _SPACES if "-" in k)),
        )
    units = header.get("space units") or ["mm"] * 3
    try:
        scale = np.array([_UNITS_TO_MM[str(u).lower()] for u in units])
    except KeyError as exc:
        raise ImageError(f"{str(path)!r}: unknown space unit {exc.args[0]!r}") from None
    flip = np.asarray(_SPACES[space], dtype=np.float64)
    origin = np.asarray(header.get("space origin", np.zeros(3)), dtype=np.float64)
    affine = np.eye(4)
    affine[:3, :3] = (directions * scale * flip).T  # columns: array axes in RAS mm
    affine[:3, 3] = np.nan_to_num(origin) * scale * flip
    return affine
