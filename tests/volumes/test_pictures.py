"""Tests of neuratlas.volumes.pictures.render_png: PNG files checked pixel by pixel with PIL.

The pictures are read back and compared with each other: a render of an empty image
shows everything but the map (titles, L/R letters), so the pixels that differ from it
are the map; a render of a full image gives the extent of each panel.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import nibabel as nib
import numpy as np
import pytest
from nibabel.affines import apply_affine
from PIL import Image

import neuratlas
from neuratlas.errors import ImageError
from neuratlas.volumes import pictures
from neuratlas.volumes.pictures import LABEL_COLOURS, label_colours, render_png
from tests.toy_atlas import AFFINE as TOY_AFFINE
from tests.toy_atlas import label_volume

matplotlib.use("Agg")

# A 2 mm grid centred on (0, 0, 0) mm, stored with x flipped (LAS, as FSL's MNI152),
# and the same grid in RAS voxel order.
SHAPE = (45, 53, 41)
LAS = np.array([[-2.0, 0, 0, 44.0], [0, 2.0, 0, -52.0], [0, 0, 2.0, -40.0], [0, 0, 0, 1.0]])
RAS = np.array([[2.0, 0, 0, -44.0], [0, 2.0, 0, -52.0], [0, 0, 2.0, -40.0], [0, 0, 0, 1.0]])
WORLD = apply_affine(LAS, np.indices(SHAPE).transpose(1, 2, 3, 0))  # (x, y, z) mm per voxel
FIGURE_SIZE = (1000, 360)  # 10 x 3.6 inches at 100 dpi

Box = tuple[int, int, int, int]  # columns c0:c1, rows r0:r1 of one panel


def blob(x: tuple[float, float], y=(-10.0, 10.0), z=(-10.0, 10.0)) -> np.ndarray:
    """Graded values (0.2..0.8, along y) in a world-space box, on the LAS grid."""
    wx, wy, wz = WORLD[..., 0], WORLD[..., 1], WORLD[..., 2]
    inside = (x[0] <= wx) & (wx <= x[1]) & (y[0] <= wy) & (wy <= y[1])
    inside &= (z[0] <= wz) & (wz <= z[1])
    graded = 0.2 + 0.6 * (wy - y[0]) / (y[1] - y[0])
    return np.where(inside, graded, 0).astype(np.float32)


def las(values: np.ndarray) -> nib.Nifti1Image:
    return nib.Nifti1Image(values, LAS)


def ras(values: np.ndarray) -> nib.Nifti1Image:
    """The same image with its voxels stored in RAS order."""
    return nib.Nifti1Image(np.ascontiguousarray(values[::-1]), RAS)


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as png:
        return np.asarray(png.convert("RGB")).astype(np.int16)


def render(img: nib.Nifti1Image, folder: Path, name: str, **kwargs) -> np.ndarray:
    return pixels(render_png(img, folder / f"{name}.png", **kwargs))


def runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of True values."""
    edges = np.diff(np.r_[0, flags.astype(np.int8), 0])
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def panel_boxes(full: np.ndarray) -> list[Box]:
    """The three image panels of a render whose map covers the whole grid."""
    bright = full.min(axis=2) > 150
    boxes = []
    for c0, c1 in runs(bright.any(axis=0)):
        ((r0, r1),) = [r for r in runs(bright[:, c0:c1].mean(axis=1) > 0.9) if r[1] - r[0] > 20]
        boxes.append((c0, c1, r0, r1))
    assert len(boxes) == 3, boxes
    return boxes


def where_in(mask: np.ndarray, box: Box) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of ``mask`` in ``box``, relative to its centre (>0: right, down)."""
    c0, c1, r0, r1 = box
    rows, cols = np.nonzero(mask[r0:r1, c0:c1])
    return rows - (r1 - r0 - 1) / 2, cols - (c1 - c0 - 1) / 2


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pictures")


@pytest.fixture(scope="module")
def empty(folder: Path) -> np.ndarray:
    return render(las(np.zeros(SHAPE, np.float32)), folder, "empty")


@pytest.fixture(scope="module")
def boxes(folder: Path) -> list[Box]:
    return panel_boxes(render(las(np.ones(SHAPE, np.float32)), folder, "full"))


def head_template() -> nib.Nifti1Image:
    """A 1 mm RAS 'head' over the same field of view: an ellipsoid of grey values."""
    shape = (89, 105, 81)
    affine = np.array([[1.0, 0, 0, -44], [0, 1.0, 0, -52], [0, 0, 1.0, -40], [0, 0, 0, 1]])
    xyz = apply_affine(affine, np.indices(shape).transpose(1, 2, 3, 0))
    r2 = (xyz[..., 0] / 40) ** 2 + (xyz[..., 1] / 48) ** 2 + (xyz[..., 2] / 36) ** 2
    return nib.Nifti1Image((np.clip(1 - r2, 0, None) * 800 + 200 * (r2 < 1)), affine)


# --- the file ----------------------------------------------------------------------------------
def test_writes_a_png_of_the_figure_size(folder: Path) -> None:
    target = render_png(las(blob((-30, -10))), folder / "blob.png", title="left blob")
    assert target == folder / "blob.png"
    with Image.open(target) as png:
        assert png.format == "PNG"
        assert png.size == FIGURE_SIZE
        assert png.mode == "RGBA"
        png.verify()
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_str_path_and_new_folders(tmp_path: Path) -> None:
    target = render_png(las(blob((10, 30))), str(tmp_path / "a" / "b" / "map.png"))
    assert isinstance(target, Path) and target.is_file()
    assert sorted(p.name for p in target.parent.iterdir()) == ["map.png"]


def test_an_empty_image_draws_only_the_labels(folder: Path, empty: np.ndarray) -> None:
    assert empty.shape == (FIGURE_SIZE[1], FIGURE_SIZE[0], 3)
    coloured = np.abs(empty - empty.mean(axis=2, keepdims=True)).max(axis=2) > 10
    assert not coloured.any()  # only black, and white/grey text
    assert 0 < (empty.min(axis=2) > 150).sum() < 0.02 * empty.size / 3


def test_the_title_is_drawn(folder: Path) -> None:
    plain = render(las(blob((-30, -10))), folder, "untitled")
    titled = render(las(blob((-30, -10))), folder, "titled", title="Area hOc1 (V1)")
    changed = np.nonzero((plain != titled).any(axis=2))[0]
    assert len(changed) > 50
    assert changed.max() < 0.15 * FIGURE_SIZE[1]  # only the top rows


# --- orientation -------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [las, ras], ids=["LAS", "RAS"])
@pytest.mark.parametrize("side", ["left", "right"])
def test_the_subjects_left_is_on_the_left(
    make, side: str, folder: Path, empty: np.ndarray, boxes: list[Box]
) -> None:
    x = (-30.0, -10.0) if side == "left" else (10.0, 30.0)
    drawn = (render(make(blob(x)), folder, f"{side}-{make.__name__}") != empty).any(axis=2)
    sagittal, coronal, axial = boxes
    assert len(where_in(drawn, sagittal)[1]) > 50  # the sagittal slice cuts the blob
    for box in (coronal, axial):
        _, cols = where_in(drawn, box)
        assert len(cols) > 50
        # the blob spans x = 10..30 mm of a 90 mm wide grid: well off the midline
        assert (cols < -0.1 * (box[1] - box[0]) if side == "left" else cols > 0).all(), side


def test_flipped_and_ras_images_give_the_same_picture(folder: Path) -> None:
    values = blob((-30, -10)) + blob((14, 20), y=(0, 30), z=(-20, 4))
    np.testing.assert_array_equal(
        render(las(values), folder, "same-las"), render(ras(values), folder, "same-ras")
    )


def test_superior_is_up_and_anterior_is_up_in_the_axial_panel(
    folder: Path, empty: np.ndarray, boxes: list[Box]
) -> None:
    values = blob((-10, 10), y=(20, 40), z=(16, 30))  # anterior and superior
    drawn = (render(las(values), folder, "up") != empty).any(axis=2)
    sagittal, coronal, axial = boxes
    for box in (sagittal, coronal, axial):
        rows, _ = where_in(drawn, box)
        assert len(rows) > 20 and (rows < 0).all()
    _, cols = where_in(drawn, sagittal)
    assert (cols > 0).all()  # anterior to the right in the sagittal panel


# --- template ----------------------------------------------------------------------------------
def test_a_template_is_drawn_in_grey_under_the_map(folder: Path, empty: np.ndarray) -> None:
    template = head_template()
    with_template = render(las(blob((-30, -10))), folder, "template", template=template)
    full = render(las(np.ones(SHAPE, np.float32)), folder, "template-full", template=template)
    boxes = panel_boxes(full)
    grey = (np.ptp(with_template, axis=2) < 3) & (with_template.min(axis=2) > 40)
    coloured = (with_template[..., 0] - with_template[..., 2]) > 60  # the hot colour map
    for box in boxes:
        assert len(where_in(grey, box)[0]) > 2000  # the head fills much of every panel
    without = (np.ptp(empty, axis=2) < 3) & (empty.min(axis=2) > 40)
    assert without.sum() < 2000  # without a template: only the letters
    for box in boxes[1:]:
        _, cols = where_in(coloured, box)
        assert len(cols) > 50 and (cols < 0).all()


def test_the_map_is_resampled_onto_the_template(folder: Path) -> None:
    template = head_template()  # 1 mm: twice as many pixels per mm as the 2 mm map
    small = blob((-30, -10))
    on_template = render(las(small), folder, "resampled", template=template)
    on_itself = render(las(small), folder, "not-resampled")
    coloured = [((p[..., 0] - p[..., 2]) > 60).sum() for p in (on_template, on_itself)]
    # both show the same blob in mm, so about the same area of pixels (panel sizes aside)
    assert coloured[0] > 100 and coloured[1] > 100
    assert 0.4 < coloured[0] / coloured[1] < 2.5


def test_an_embedded_atlas_region_on_its_template(folder: Path) -> None:
    aal = neuratlas.get_map("aal1", "MNI152 NLin6", "labelled")
    template = aal.space.get_template().fetch()
    assert nib.aff2axcodes(template.affine)[0] == "L"  # FSL's MNI152 is stored LAS
    amygdala = aal.fetch(region="Amygdala - left hemisphere")
    shown = render(amygdala, folder, "amygdala", template=template, labelled=True)
    # tab20 at the top of the range is light cyan: blue well above red, unlike grey
    cyan = (shown[..., 2] - shown[..., 0]) > 40
    middle = slice(60, 320)  # between the titles and the L/R letters
    brain = np.zeros_like(cyan)
    brain[middle] = shown[middle].max(axis=2) > 20
    panels = [r for r in runs(brain.any(axis=0)) if r[1] - r[0] > 100]
    assert len(panels) == 3
    c0, c1 = panels[2]  # axial: the brain's extent gives its midline
    cols = np.nonzero(cyan[:, c0:c1])[1]
    assert len(cols) > 30
    assert (cols < (c1 - c0) / 2).all()


# --- colour maps -------------------------------------------------------------------------------
def colours(picture: np.ndarray, saturation: int = 30, area: int = 20) -> np.ndarray:
    """The colours (not black, white or grey) that cover at least ``area`` pixels.

    The area leaves out the blends of the antialiased L/R letters over the map.
    """
    flat = picture.reshape(-1, 3)
    found, counts = np.unique(flat[np.ptp(flat, axis=1) > saturation], axis=0, return_counts=True)
    return found[counts >= area]


def test_labelled_images_get_a_qualitative_colour_map(folder: Path) -> None:
    labels = nib.Nifti1Image(label_volume(), TOY_AFFINE)
    qualitative = render(labels, folder, "labels-tab20", labelled=True)
    heat = render(labels, folder, "labels-hot")
    assert not np.array_equal(qualitative, heat)
    red, green, blue = (heat[..., k] for k in range(3))
    assert ((red >= green - 2) & (green >= blue - 2)).all()  # hot: red >= green >= blue
    red, green, blue = (qualitative[..., k] for k in range(3))
    assert ((green > red + 30) | (blue > red + 30)).sum() > 50  # greens, blues, purples
    assert len(colours(qualitative)) >= 3  # several labels, several colours


def test_labels_are_resampled_with_nearest_neighbours(folder: Path) -> None:
    # two labels side by side: a linear resampling onto the finer template would
    # invent the labels in between (2..19), each with its own tab20 colour
    labels = np.zeros(SHAPE, np.uint8)
    labels[(WORLD[..., 0] < 0) & (np.abs(WORLD[..., 1]) < 30)] = 1
    labels[(WORLD[..., 0] >= 0) & (np.abs(WORLD[..., 1]) < 30)] = 20
    template = head_template()
    flat = nib.Nifti1Image(np.ones(template.shape, np.float32), template.affine)  # black
    shown = render(las(labels), folder, "labels-nearest", template=flat, labelled=True)
    assert len(colours(shown)) == 2
    # the heat map of the same labels is resampled linearly: many shades at the border
    assert len(colours(render(las(labels), folder, "labels-linear", template=flat))) > 2


def test_consecutive_labels_get_colours_of_different_hues() -> None:
    rgba = label_colours(np.arange(0, 122))  # Juelich's labels run 1..121
    assert (rgba[0] == 0).all()  # 0 is transparent
    assert (rgba[1:, 3] == 1).all()
    np.testing.assert_array_equal(rgba[1:, :3], LABEL_COLOURS[np.arange(121) % 18])
    hues = [matplotlib.colors.rgb_to_hsv(c)[0] for c in rgba[1:, :3]]
    for k in range(120):
        gap = abs(hues[k] - hues[k + 1])
        assert min(gap, 1 - gap) > 0.04, k  # not only a lighter shade of the same hue
    # no grey in the palette: every colour stands out from a grey template
    assert (np.ptp(LABEL_COLOURS, axis=1) > 0.15).all()
    assert len({tuple(c) for c in LABEL_COLOURS}) == len(LABEL_COLOURS)


def test_labels_are_drawn_opaque_in_their_colours(folder: Path) -> None:
    labels = np.zeros(SHAPE, np.uint8)
    labels[(WORLD[..., 0] < -4) & (np.abs(WORLD[..., 1]) < 30) & (np.abs(WORLD[..., 2]) < 20)] = 1
    labels[(WORLD[..., 0] > 4) & (np.abs(WORLD[..., 1]) < 30) & (np.abs(WORLD[..., 2]) < 20)] = 2
    shown = render(las(labels), folder, "labels-opaque", template=head_template(), labelled=True)
    found = {tuple(c) for c in colours(shown, area=200)}
    # exactly the palette's first two colours: not blended with the grey underneath
    assert found == {tuple(np.rint(LABEL_COLOURS[k] * 255).astype(int)) for k in (0, 1)}


def test_the_template_is_dimmed_under_the_map(folder: Path) -> None:
    shown = render(las(np.zeros(SHAPE, np.float32)), folder, "dimmed", template=head_template())
    greys = shown[(np.ptp(shown, axis=2) < 3) & (shown.min(axis=2) > 10)][:, 0]
    assert len(greys) > 10_000  # the head, in three panels
    # the brightest greys of the head (the percentile leaves out the white letters) are
    # about TEMPLATE_BRIGHTNESS of white (that of the 99.5th percentile of the template)
    top = np.percentile(greys, 99) / 255
    assert pictures.TEMPLATE_BRIGHTNESS - 0.1 < top < pictures.TEMPLATE_BRIGHTNESS + 0.05


def titles_of_render(monkeypatch: pytest.MonkeyPatch, img: nib.Nifti1Image, path: Path, **kw):
    """The titles of the three panels of the figure ``render_png`` draws."""
    from matplotlib.figure import Figure

    seen: list[str] = []
    original = Figure.savefig

    def recording(self: Figure, *args: object, **kwargs: object) -> None:
        seen.extend(ax.get_title() for ax in self.axes)
        original(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", recording)
    render_png(img, path, **kw)
    return seen


@pytest.mark.parametrize("make", [las, ras], ids=["LAS", "RAS"])
def test_the_panels_name_the_positions_of_their_slices(
    make, monkeypatch: pytest.MonkeyPatch, folder: Path
) -> None:
    # the blob spans x = -30..-10, y = 0..30, z = -20..4 mm; its centre lies between the
    # 2 mm voxels at y = 14 and 16 mm, and the slice is drawn through the latter
    img = make(blob((-30, -10), y=(0, 30), z=(-20, 4)))
    titles = titles_of_render(monkeypatch, img, folder / "where.png")
    assert titles == ["sagittal, x = -20 mm", "coronal, y = 16 mm", "axial, z = -8 mm"]


def test_the_slice_positions_on_a_template_grid(
    monkeypatch: pytest.MonkeyPatch, folder: Path
) -> None:
    aal = neuratlas.get_map("aal1", "MNI152 NLin6", "labelled")
    amygdala = aal.fetch(region="Amygdala - left hemisphere")
    template = aal.space.get_template().fetch()
    titles = titles_of_render(
        monkeypatch, amygdala, folder / "amygdala-where.png", template=template, labelled=True
    )
    ijk = np.argwhere(np.asanyarray(amygdala.dataobj))
    centre = apply_affine(amygdala.affine, ijk.mean(0))  # about (-23, -4, -18) mm
    for title, axis in zip(titles, range(3), strict=True):
        value = int(title.split("= ")[1].split(" mm")[0])
        assert abs(value - centre[axis]) <= 1, title


# --- atomic write ------------------------------------------------------------------------------
def test_an_existing_picture_is_replaced(tmp_path: Path) -> None:
    target = tmp_path / "map.png"
    target.write_bytes(b"an old picture")
    render_png(las(blob((-30, -10))), target)
    with Image.open(target) as png:
        assert png.size == FIGURE_SIZE
    first = target.read_bytes()
    render_png(las(blob((10, 30))), target)
    assert target.read_bytes() != first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.png"]


def test_a_failed_render_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    target = render_png(las(blob((-30, -10))), tmp_path / "map.png")
    before = target.read_bytes()

    def broken(self: Figure, *args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken)
    before_figures = set(plt.get_fignums())
    try:
        with pytest.raises(OSError, match="disk full"):
            render_png(las(blob((10, 30))), target)
    finally:  # in case a regression leaves the figure open
        for number in set(plt.get_fignums()) - before_figures:
            plt.close(number)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.png"]


def test_a_failed_render_closes_its_figure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    def broken(self: Figure, *args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken)
    before = set(plt.get_fignums())
    try:
        with pytest.raises(OSError):
            render_png(las(blob((10, 30))), tmp_path / "map.png")
        assert set(plt.get_fignums()) == before
    finally:
        for number in set(plt.get_fignums()) - before:
            plt.close(number)


# --- data the picture must cope with -------------------------------------------------------------
def test_nan_background_draws_like_zero_background(folder: Path) -> None:
    values = blob((-30, -10))
    with_nan = np.where(values > 0, values, np.nan).astype(np.float32)
    np.testing.assert_array_equal(
        render(las(with_nan), folder, "nan"), render(las(values), folder, "no-nan")
    )


def test_negative_values_are_not_drawn(folder: Path, empty: np.ndarray) -> None:
    values = blob((-30, -10)) - blob((10, 30))  # a t-map with a negative effect on the right
    drawn = (render(las(values), folder, "negative") != empty).any(axis=2)
    positive = (render(las(blob((-30, -10))), folder, "positive") != empty).any(axis=2)
    np.testing.assert_array_equal(drawn, positive)


def test_a_4d_image_with_a_template_raises_image_error(folder: Path) -> None:
    four_d = nib.Nifti1Image(np.zeros((*SHAPE, 2), np.float32), LAS)
    with pytest.raises(ImageError, match="can only draw 3D images"):
        render_png(four_d, folder / "4d.png", template=head_template())
    assert not (folder / "4d.png").exists()


def test_a_4d_image_raises_image_error(folder: Path) -> None:
    import matplotlib.pyplot as plt

    four_d = nib.Nifti1Image(np.zeros((*SHAPE, 2), np.float32), LAS)
    before = set(plt.get_fignums())
    try:
        with pytest.raises(ImageError):
            render_png(four_d, folder / "4d.png")
    finally:
        for number in set(plt.get_fignums()) - before:
            plt.close(number)
