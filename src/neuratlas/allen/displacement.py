"""Dense 2D displacement fields and image warping (pull mapping).

A field of shape (h, w) says, for every output pixel ``(row, col)``, where to
read the input image: at ``x = col + delta_x[row, col]`` and
``y = row + delta_y[row, col]``. Warping is therefore a resampling of the input
at those positions, which never leaves holes in the output.

Interpolation runs in NumPy; when OpenCV (``cv2``) is importable, linear and
cubic warps of the image types it supports use ``cv2.remap`` instead, which is
much faster. Nearest-neighbour warps always run in NumPy so that integer labels
of any width (Allen annotation ids exceed 2**16) come out unchanged.
"""

from __future__ import annotations

import importlib.util
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from neuratlas.errors import ArgumentTypeError, ImageError, TransformError
from neuratlas.retrieval.cache import atomic_write

Interpolation = Literal["nearest", "linear", "cubic"]
BorderMode = Literal["constant", "replicate", "reflect", "reflect_101", "wrap"]

INTERPOLATIONS: dict[str, int] = {"nearest": 0, "linear": 1, "cubic": 3}
BORDER_MODES = ("constant", "replicate", "reflect", "reflect_101", "wrap")
_ORDERS = {order: name for name, order in INTERPOLATIONS.items()}
# scipy.ndimage names of the border modes, for cubic interpolation in NumPy.
_NDIMAGE_MODES = {
    "constant": "grid-constant",
    "replicate": "nearest",
    "reflect": "reflect",
    "reflect_101": "mirror",
    "wrap": "grid-wrap",
}
# cv2.remap stores integer positions in 16 bits.
_CV2_MAX_SIDE = 32767
_CV2_DTYPES = {np.dtype(t) for t in (np.uint8, np.uint16, np.int16, np.float32, np.float64)}


def _have_cv2() -> bool:
    if os.environ.get("NEURATLAS_NO_CV2"):
        return False
    return importlib.util.find_spec("cv2") is not None


def _field(values: ArrayLike, name: str) -> NDArray[np.float64]:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2:
        raise TransformError(f"{name} must be a 2D array, got shape {array.shape}")
    return array


class DisplacementField:
    """A 2D displacement field, stored in float64.

    Parameters
    ----------
    delta_x : array_like, shape (h, w)
        Displacement along x (columns): output pixel ``(r, c)`` reads the input
        at column ``c + delta_x[r, c]``.
    delta_y : array_like, shape (h, w)
        Displacement along y (rows).

    Raises
    ------
    TransformError
        If the arrays are not 2D or their shapes differ.

    Examples
    --------
    >>> import numpy as np
    >>> shift = DisplacementField(np.full((2, 3), 1.0), np.zeros((2, 3)))
    >>> shift.warp(np.arange(6.0).reshape(2, 3))
    array([[1., 2., 0.],
           [4., 5., 0.]])
    """

    def __init__(self, delta_x: ArrayLike, delta_y: ArrayLike) -> None:
        dx = _field(delta_x, "delta_x")
        dy = _field(delta_y, "delta_y")
        if dx.shape != dy.shape:
            raise TransformError(
                f"delta_x and delta_y must have the same shape, got {dx.shape} and {dy.shape}"
            )
        self.delta_x = dx
        self.delta_y = dy

    @property
    def shape(self) -> tuple[int, int]:
        """The (height, width) of the output grid."""
        return self.delta_x.shape  # type: ignore[return-value]

    def __repr__(self) -> str:
        norm = self.norm
        peak = float(norm.max()) if norm.size else 0.0
        return f"DisplacementField(shape={self.shape}, max displacement={peak:.3g} px)"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DisplacementField):
            return NotImplemented
        return self.shape == other.shape and bool(
            np.allclose(self.delta_x, other.delta_x) and np.allclose(self.delta_y, other.delta_y)
        )

    __hash__ = None  # type: ignore[assignment]

    def __iter__(self) -> Iterator[NDArray[np.float64]]:
        """Yield ``delta_x`` then ``delta_y``, so that ``dx, dy = df`` works as in atldld."""
        yield self.delta_x
        yield self.delta_y

    def __mul__(self, c: float) -> DisplacementField:
        if not isinstance(c, int | float | np.number) or isinstance(c, bool):
            return NotImplemented
        return DisplacementField(self.delta_x * c, self.delta_y * c)

    __rmul__ = __mul__

    # -- construction -------------------------------------------------------------
    @classmethod
    def identity(cls, shape: tuple[int, int]) -> DisplacementField:
        """The field that leaves images unchanged."""
        return cls(np.zeros(shape), np.zeros(shape))

    @classmethod
    def from_transform(cls, f_x: ArrayLike, f_y: ArrayLike) -> DisplacementField:
        """Build a field from absolute positions instead of displacements.

        Parameters
        ----------
        f_x, f_y : array_like, shape (h, w)
            For every output pixel, the input x (column) and y (row) to read.
        """
        fx = _field(f_x, "f_x")
        fy = _field(f_y, "f_y")
        if fx.shape != fy.shape:
            raise TransformError(
                f"f_x and f_y must have the same shape, got {fx.shape} and {fy.shape}"
            )
        rows = np.arange(fx.shape[0], dtype=np.float64)[:, None]
        cols = np.arange(fx.shape[1], dtype=np.float64)[None, :]
        return cls(fx - cols, fy - rows)

    @classmethod
    def from_affine(cls, shape: tuple[int, int], matrix: ArrayLike) -> DisplacementField:
        """Field of a 2D affine pull mapping ``(x, y) -> matrix @ (x, y, 1)``.

        Parameters
        ----------
        shape : (int, int)
            Output (height, width).
        matrix : array_like, shape (2, 3) or (3, 3)
            The affine; a 3 x 3 matrix must have ``[0, 0, 1]`` as last row.
        """
        m = np.asarray(matrix, dtype=np.float64)
        if m.shape == (3, 3):
            if not np.allclose(m[2], [0.0, 0.0, 1.0]):
                raise TransformError("a 3 x 3 affine must end with the row [0, 0, 1]")
            m = m[:2]
        if m.shape != (2, 3):
            raise TransformError(f"the affine must have shape (2, 3), got {m.shape}")
        rows = np.arange(shape[0], dtype=np.float64)[:, None]
        cols = np.arange(shape[1], dtype=np.float64)[None, :]
        fx = m[0, 0] * cols + (m[0, 1] * rows + m[0, 2])
        fy = m[1, 0] * cols + (m[1, 1] * rows + m[1, 2])
        return cls(fx - cols, fy - rows)

    # -- derived quantities ------------------------------------------------------
    @property
    def transformation(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Absolute positions ``(f_x, f_y)`` read for every output pixel."""
        rows = np.arange(self.shape[0], dtype=np.float64)[:, None]
        cols = np.arange(self.shape[1], dtype=np.float64)[None, :]
        return self.delta_x + cols, self.delta_y + rows

    @property
    def norm(self) -> NDArray[np.float64]:
        """Length of the displacement at every pixel."""
        return np.hypot(self.delta_x, self.delta_y)

    def compose(self, other: DisplacementField) -> DisplacementField:
        """The field that warps like ``self`` followed by ``other``.

        ``self.compose(other).warp(img)`` equals ``other.warp(self.warp(img))``
        up to interpolation. Beyond its grid, ``self`` is extended by its edge
        displacements.

        Parameters
        ----------
        other : DisplacementField
            Applied second; its grid is the grid of the result.
        """
        if not isinstance(other, DisplacementField):
            raise TransformError(f"can only compose with a DisplacementField, not {type(other)}")
        fx, fy = other.transformation
        stacked = np.stack([self.delta_x, self.delta_y], axis=-1)
        moved = _warp_numpy(stacked, fx, fy, 1, "replicate", 0.0)
        return DisplacementField(other.delta_x + moved[..., 0], other.delta_y + moved[..., 1])

    # -- warping -------------------------------------------------------------------
    def warp(
        self,
        img: ArrayLike,
        interpolation: Interpolation = "linear",
        border_mode: BorderMode = "constant",
        c: float = 0,
        *,
        order: int | None = None,
        backend: Literal["auto", "numpy", "cv2"] = "auto",
    ) -> NDArray[Any]:
        """Warp an image onto the field's grid.

        Parameters
        ----------
        img : array_like, shape (H, W) or (H, W, C)
            The input image; any size, any numeric or boolean dtype.
        interpolation : {"nearest", "linear", "cubic"}
            Resampling method. Boolean images always use "nearest".
        border_mode : {"constant", "replicate", "reflect", "reflect_101", "wrap"}
            How the input is extended beyond its edges (OpenCV's meanings).
        c : float
            Fill value for ``border_mode="constant"``.
        order : int, optional
            Spline order 0, 1 or 3; overrides ``interpolation`` when given.
        backend : {"auto", "numpy", "cv2"}
            "auto" uses OpenCV for linear/cubic warps when it is installed
            (set ``NEURATLAS_NO_CV2=1`` to disable), else NumPy/SciPy.

        Returns
        -------
        numpy.ndarray
            Shape ``self.shape`` (plus the channel axis), same dtype as ``img``;
            integer results are rounded and clipped to the dtype's range.

        Raises
        ------
        ImageError
            If the image is not 2D or 3D, or is empty.
        TransformError
            On an unknown interpolation, order, border mode or backend.
        """
        image = np.asarray(img)
        if image.ndim not in (2, 3) or image.shape[0] == 0 or image.shape[1] == 0:
            raise ImageError(
                f"can only warp a non-empty (H, W) or (H, W, C) image, got shape {image.shape}"
            )
        if order is not None:
            if order not in _ORDERS:
                raise TransformError(f"unsupported order {order!r}", hint="use 0, 1 or 3")
            interpolation = _ORDERS[order]  # type: ignore[assignment]
        if interpolation not in INTERPOLATIONS:
            raise TransformError(
                f"unsupported interpolation {interpolation!r}",
                hint="use one of " + ", ".join(INTERPOLATIONS),
            )
        if border_mode not in BORDER_MODES:
            raise TransformError(
                f"unsupported border_mode {border_mode!r}",
                hint="use one of " + ", ".join(BORDER_MODES),
            )
        if backend not in ("auto", "numpy", "cv2"):
            raise TransformError(f"unknown backend {backend!r}", hint="use auto, numpy or cv2")
        if not np.isfinite(c) and not np.issubdtype(image.dtype, np.floating):
            raise TransformError(
                f"cannot fill a {image.dtype} image with {c!r}",
                hint="use a finite fill value c, or convert the image to float",
            )
        spline = INTERPOLATIONS[interpolation]
        if image.dtype == bool:
            spline = 0
        use_cv2 = (
            spline > 0
            and backend != "numpy"
            and image.dtype in _CV2_DTYPES
            and (image.ndim == 2 or image.shape[2] <= 4)
            and max(*image.shape[:2], *self.shape) < _CV2_MAX_SIDE
            and bool(np.isfinite(c))
            and _have_cv2()
        )
        if backend == "cv2" and not use_cv2 and spline > 0:
            raise TransformError(
                f"OpenCV cannot warp this image (dtype {image.dtype}, shape {image.shape})"
                " or is not installed",
                hint="use backend='numpy' or install opencv-python-headless",
            )
        if use_cv2:
            return _warp_cv2(image, *self._maps32(), spline, border_mode, c)
        return _warp_numpy(image, *self.transformation, spline, border_mode, c)

    def _maps32(self) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """Absolute positions in float32, built without float64 temporaries.

        float32 still places positions below 2**20 px to better than 1/16 px,
        finer than OpenCV's own 1/32 px interpolation table.
        """
        rows = np.arange(self.shape[0], dtype=np.float32)[:, None]
        cols = np.arange(self.shape[1], dtype=np.float32)[None, :]
        fx = np.empty(self.shape, dtype=np.float32)
        fy = np.empty(self.shape, dtype=np.float32)
        np.add(self.delta_x, cols, out=fx, dtype=np.float32, casting="same_kind")
        np.add(self.delta_y, rows, out=fy, dtype=np.float32, casting="same_kind")
        return fx, fy

    # -- persistence -------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the field to ``.npy`` (shape (h, w, 2)) or ``.npz``, atomically.

        Parameters
        ----------
        path : path-like
            Destination; the suffix picks the format.
        """
        target = Path(path)
        stacked = np.stack([self.delta_x, self.delta_y], axis=2)
        if target.suffix not in (".npy", ".npz"):
            raise TransformError(
                f"cannot save a displacement field as {target.name!r}",
                hint="use a .npy or .npz file name",
            )
        buffer = io.BytesIO()
        if target.suffix == ".npy":
            np.save(buffer, stacked)
        else:
            np.savez_compressed(buffer, delta_x=self.delta_x, delta_y=self.delta_y)
        with atomic_write(target, "wb") as handle:
            handle.write(buffer.getvalue())
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> DisplacementField:
        """Read a field written by :meth:`save` (or atldld's ``.npy`` files).

        Parameters
        ----------
        path : path-like
            A ``.npy`` file holding an array of shape (h, w, 2), or a ``.npz``
            file with ``delta_x`` and ``delta_y``.

        Raises
        ------
        neuratlas.errors.ArgumentTypeError
            If ``path`` is not a string or path.
        TransformError
            If the suffix is neither ``.npy`` nor ``.npz`` (whatever the file
            holds), or the file is empty, missing or not a displacement field.
        """
        if not isinstance(path, str | os.PathLike):
            raise ArgumentTypeError(
                f"a displacement field is loaded from a path, not a {type(path).__name__}",
                hint="pass a str or pathlib.Path of a .npy or .npz file",
            )
        source = Path(path)
        if source.suffix not in (".npy", ".npz"):
            raise TransformError(
                f"{source}: unsupported suffix {source.suffix or '(none)'!r} for a displacement"
                " field",
                hint="load a .npy file of shape (h, w, 2) or a .npz file written by save()",
            )
        try:
            if source.suffix == ".npz":
                with np.load(source) as data:
                    return cls(data["delta_x"], data["delta_y"])
            stacked = np.load(source, allow_pickle=False)
        except EOFError as exc:  # what NumPy raises on an empty file
            raise TransformError(
                f"{source}: the file is empty, not a displacement field",
                hint="write the field again with DisplacementField.save()",
            ) from exc
        except (OSError, ValueError, KeyError) as exc:
            raise TransformError(f"{source}: not a readable displacement field ({exc})") from exc
        if stacked.ndim != 3 or stacked.shape[2] != 2:
            raise TransformError(
                f"{source}: expected an array of shape (h, w, 2), got {stacked.shape}"
            )
        return cls(stacked[..., 0], stacked[..., 1])

    from_file = load


def affine_simple(
    shape: tuple[int, int],
    scale_x: float = 1,
    scale_y: float = 1,
    rotation: float = 0,
    translation_x: float = 0,
    translation_y: float = 0,
    shear: float = 0,
    apply_centering: bool = True,
) -> DisplacementField:
    """The field of an affine given by its scales, rotation, shear and translation.

    The affine (a pull mapping, as in :meth:`DisplacementField.from_affine`) is::

        [[scale_x * cos(rotation), -scale_y * sin(rotation + shear), translation_x],
         [scale_x * sin(rotation),  scale_y * cos(rotation + shear), translation_y]]

    The defaults give the identity. Like atldld's ``affine_simple``, but the
    result is a :class:`DisplacementField`; it unpacks as ``delta_x, delta_y =
    affine_simple(...)``, so atldld code that wrote
    ``DisplacementField(*affine_simple(...))`` runs unchanged.

    Parameters
    ----------
    shape : (int, int)
        Output (height, width).
    scale_x, scale_y : float
        Scales along x (columns) and y (rows).
    rotation : float
        Rotation angle in radians (counter-clockwise in the mathematical sense).
    translation_x, translation_y : float
        Translation in pixels (positive: right, down).
    shear : float
        Shear angle in radians.
    apply_centering : bool
        Rotate, scale and shear about the image centre
        ``(width / 2 - 0.5, height / 2 - 0.5)`` instead of pixel (0, 0).

    Returns
    -------
    DisplacementField

    Raises
    ------
    TransformError
        If ``shape`` is not two non-negative integers or a parameter is not finite.

    Examples
    --------
    >>> affine_simple((2, 3)) == DisplacementField.identity((2, 3))
    True
    """
    shape = _shape(shape)
    values = (scale_x, scale_y, rotation, translation_x, translation_y, shear)
    if not all(np.isfinite(float(v)) for v in values):
        raise TransformError(f"affine_simple needs finite parameters, got {values}")
    matrix = np.array(
        [
            [scale_x * np.cos(rotation), -scale_y * np.sin(rotation + shear), translation_x],
            [scale_x * np.sin(rotation), scale_y * np.cos(rotation + shear), translation_y],
            [0.0, 0.0, 1.0],
        ],
        dtype=np.float64,
    )
    if apply_centering:
        centre = np.eye(3)
        centre[:2, 2] = (shape[1] / 2 - 0.5, shape[0] / 2 - 0.5)
        uncentre = np.eye(3)
        uncentre[:2, 2] = -centre[:2, 2]
        matrix = centre @ matrix @ uncentre
    return DisplacementField.from_affine(shape, matrix)


def _shape(shape: object) -> tuple[int, int]:
    try:
        rows, cols = (int(n) for n in shape)  # type: ignore[attr-defined]
        ok = all(int(n) == n and n >= 0 for n in shape)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise TransformError(
            f"shape must be (height, width) as two non-negative integers, got {shape!r}"
        )
    return rows, cols


# -- warping back ends --------------------------------------------------------------


def _border_index(index: NDArray[np.intp], n: int, mode: str) -> NDArray[np.intp]:
    """Map integer positions outside ``[0, n)`` back inside, OpenCV style."""
    if mode == "replicate":
        return np.clip(index, 0, n - 1)
    if mode == "wrap":
        return np.mod(index, n)
    if mode == "reflect":  # fedcba|abcdef|fedcba
        m = np.mod(index, 2 * n)
        return np.where(m < n, m, 2 * n - 1 - m)
    # reflect_101: edcb|abcdef|edcb
    if n == 1:
        return np.zeros_like(index)
    m = np.mod(index, 2 * n - 2)
    return np.where(m < n, m, 2 * n - 2 - m)


def _cast(values: NDArray[Any], dtype: np.dtype[Any]) -> NDArray[Any]:
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.rint(values), info.min, info.max).astype(dtype)
    return values.astype(dtype, copy=False)


def _warp_numpy(
    image: NDArray[Any],
    fx: NDArray[np.float64],
    fy: NDArray[np.float64],
    spline: int,
    border_mode: str,
    c: float,
) -> NDArray[Any]:
    h, w = image.shape[:2]
    if spline == 0:
        # Round half to even, like OpenCV, so both back ends pick the same pixel.
        xi = np.clip(np.rint(fx), -(2**40), 2**40).astype(np.intp)
        yi = np.clip(np.rint(fy), -(2**40), 2**40).astype(np.intp)
        if border_mode == "constant":
            outside = (xi < 0) | (xi >= w) | (yi < 0) | (yi >= h)
            out = image[np.clip(yi, 0, h - 1), np.clip(xi, 0, w - 1)]
            out[outside] = np.asarray(c).astype(image.dtype)
            return out
        return image[_border_index(yi, h, border_mode), _border_index(xi, w, border_mode)]
    if spline == 3:
        return _warp_ndimage(image, fx, fy, border_mode, c)
    if border_mode == "constant" and not np.isfinite(c):
        # NaN * 0 is NaN: blend with 0 and mark every position outside afterwards
        out = _bilinear(image, fx, fy, border_mode, 0.0)
        h, w = image.shape[:2]
        out[(fx < 0) | (fx > w - 1) | (fy < 0) | (fy > h - 1)] = c
        return _cast(out, image.dtype)
    return _cast(_bilinear(image, fx, fy, border_mode, c), image.dtype)


def _bilinear(
    image: NDArray[Any],
    fx: NDArray[np.float64],
    fy: NDArray[np.float64],
    border_mode: str,
    c: float,
) -> NDArray[np.floating[Any]]:
    h, w = image.shape[:2]
    work = np.float64 if image.dtype.itemsize > 4 or image.dtype == np.float64 else np.float32
    x0f = np.floor(fx)
    y0f = np.floor(fy)
    wx = (fx - x0f).astype(work)
    wy = (fy - y0f).astype(work)
    # Clip far-away positions before the integer cast so it cannot overflow; with a
    # constant border anything beyond one pixel outside reads the fill value anyway.
    reach = 2 if border_mode == "constant" else 2**40
    x0 = np.clip(x0f, -reach, w - 1 + reach).astype(np.intp)
    y0 = np.clip(y0f, -reach, h - 1 + reach).astype(np.intp)
    if border_mode == "constant":
        # One pixel of fill value around the image: every neighbour outside the
        # image then lands on the fill value, so edges blend into it.
        fill = np.asarray(c, dtype=np.float64)
        # keep the image's dtype when the fill value is representable in it
        keep = bool(np.isfinite(fill) and fill.astype(image.dtype) == fill)
        source = np.empty((h + 2, w + 2, *image.shape[2:]), image.dtype if keep else work)
        source[...] = c
        source[1:-1, 1:-1] = image
        cols = (np.clip(x0 + 1, 0, w + 1), np.clip(x0 + 2, 0, w + 1))
        rows = (np.clip(y0 + 1, 0, h + 1), np.clip(y0 + 2, 0, h + 1))
    else:
        source = image
        cols = (_border_index(x0, w, border_mode), _border_index(x0 + 1, w, border_mode))
        rows = (_border_index(y0, h, border_mode), _border_index(y0 + 1, h, border_mode))
    # Gather through flat indices in the image's own dtype (cheaper than 2D fancy
    # indexing of a float copy), then interpolate in floating point.
    flat = source.reshape(-1, *image.shape[2:])
    width = source.shape[1]
    row_starts = (rows[0] * width, rows[1] * width)

    def gather(r: int, k: int) -> NDArray[Any]:
        return np.take(flat, row_starts[r] + cols[k], axis=0).astype(work, copy=False)

    if image.ndim == 3:
        wx = wx[..., None]
        wy = wy[..., None]
    top = gather(0, 0)
    top += (gather(0, 1) - top) * wx
    bottom = gather(1, 0)
    bottom += (gather(1, 1) - bottom) * wx
    top += (bottom - top) * wy
    return top


def _warp_ndimage(
    image: NDArray[Any],
    fx: NDArray[np.float64],
    fy: NDArray[np.float64],
    border_mode: str,
    c: float,
) -> NDArray[Any]:
    # heavy: scipy.ndimage costs ~0.3 s to import; only warps OpenCV cannot do need it
    from scipy import ndimage

    mode = _NDIMAGE_MODES[border_mode]
    work = image.astype(np.float64)
    channels = [work] if image.ndim == 2 else [work[..., k] for k in range(image.shape[2])]
    warped = [
        ndimage.map_coordinates(ch, [fy, fx], order=3, mode=mode, cval=float(c)) for ch in channels
    ]
    out = warped[0] if image.ndim == 2 else np.stack(warped, axis=-1)
    return _cast(out, image.dtype)


def _warp_cv2(
    image: NDArray[Any],
    fx: NDArray[np.float32],
    fy: NDArray[np.float32],
    spline: int,
    border_mode: str,
    c: float,
) -> NDArray[Any]:
    # optional: OpenCV comes with the `fast` extra (see _have_cv2); imported once found
    import cv2

    interpolation = cv2.INTER_LINEAR if spline == 1 else cv2.INTER_CUBIC
    borders = {
        "constant": cv2.BORDER_CONSTANT,
        "replicate": cv2.BORDER_REPLICATE,
        "reflect": cv2.BORDER_REFLECT,
        "reflect_101": cv2.BORDER_REFLECT101,
        "wrap": cv2.BORDER_WRAP,
    }
    out = cv2.remap(
        np.ascontiguousarray(image),
        fx,
        fy,
        interpolation=interpolation,
        borderMode=borders[border_mode],
        borderValue=(float(c),) * 4,
    )
    if image.ndim == 3 and out.ndim == 2:  # OpenCV drops a single channel axis
        out = out[..., None]
    return out
