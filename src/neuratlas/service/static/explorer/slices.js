// Three orthogonal slices through volumes, sampled on one grid in millimetres.
//
// A view is a plane of world (mm) axes, not of voxel axes, so that every volume (the
// template, the labelled map on its grid, a probability map on its own grid) lands at
// the same place whatever its affine, sampled by nearest neighbour. The display is
// neurological: the subject's left on the left of axial and coronal views; the sagittal
// view looks at the left hemisphere, anterior on the left. Pure functions, no DOM.

import { applyAffine, applyLinear, invertAffine } from "./affine.js";

export const VIEW_NAMES = ["axial", "coronal", "sagittal"];

// horizontal/vertical/normal: world axes (0 = x, 1 = y, 2 = z); `flip`: the horizontal
// axis grows to the left; up is always the positive direction of the vertical axis
export const VIEWS = {
  axial: { horizontal: 0, flip: false, vertical: 1, normal: 2, sides: ["L", "R", "A", "P"] },
  coronal: { horizontal: 0, flip: false, vertical: 2, normal: 1, sides: ["L", "R", "S", "I"] },
  sagittal: { horizontal: 1, flip: true, vertical: 2, normal: 0, sides: ["A", "P", "S", "I"] },
};

// a label other than the selected region's, while one is selected
const DIMMED = 0.25;
const OUTLINE = [255, 255, 255];

const inverses = new WeakMap();
function inverseOf(volume) {
  if (!inverses.has(volume)) inverses.set(volume, invertAffine(volume.affine));
  return inverses.get(volume);
}

/**
 * The display grid of a volume: the box of its voxel centres in mm, sampled at its
 * smallest voxel size. Returns {min, max, step, size} (size: samples along x, y, z).
 */
export function gridOf(volume) {
  const { dims, affine } = volume;
  const min = [Infinity, Infinity, Infinity];
  const max = [-Infinity, -Infinity, -Infinity];
  for (let corner = 0; corner < 8; corner++) {
    const voxel = [0, 1, 2].map((axis) => ((corner >> axis) & 1) * (dims[axis] - 1));
    applyAffine(affine, voxel).forEach((value, axis) => {
      min[axis] = Math.min(min[axis], value);
      max[axis] = Math.max(max[axis], value);
    });
  }
  const step = Math.min(...[0, 1, 2].map((c) => Math.hypot(affine[0][c], affine[1][c], affine[2][c])));
  const size = [0, 1, 2].map((axis) => Math.round((max[axis] - min[axis]) / step) + 1);
  return { min, max, step, size };
}

/** [width, height] of a view's image, in samples. */
export function sliceSize(name, grid) {
  const view = VIEWS[name];
  return [grid.size[view.horizontal], grid.size[view.vertical]];
}

/** The mm point at pixel (i, j) of a view; the coordinate across the view is `base`'s. */
export function pixelToWorld(name, grid, i, j, base) {
  const { horizontal, vertical, flip } = VIEWS[name];
  const point = [...base];
  point[horizontal] = flip ? grid.max[horizontal] - i * grid.step : grid.min[horizontal] + i * grid.step;
  point[vertical] = grid.max[vertical] - j * grid.step;
  return point;
}

/** The (fractional) pixel [i, j] of a mm point in a view; pixel centres are integers. */
export function worldToPixel(name, grid, point) {
  const { horizontal, vertical, flip } = VIEWS[name];
  const i = flip
    ? (grid.max[horizontal] - point[horizontal]) / grid.step
    : (point[horizontal] - grid.min[horizontal]) / grid.step;
  return [i, (grid.max[vertical] - point[vertical]) / grid.step];
}

/** The point kept inside the grid's box. */
export function clampToGrid(grid, point) {
  return point.map((value, axis) => Math.min(grid.max[axis], Math.max(grid.min[axis], value)));
}

/**
 * For each pixel of a view through `coordinate`, the index of the nearest voxel of
 * `volume` (x fastest, as NIfTI stores it), or -1 outside it; written into `out`.
 * The voxel position advances by a constant step per pixel, so this costs a few
 * additions per pixel whatever the affine.
 */
export function voxelIndices(name, grid, volume, coordinate, out) {
  const view = VIEWS[name];
  const [width, height] = sliceSize(name, grid);
  const inverse = inverseOf(volume);
  const across = [0, 0, 0];
  across[view.horizontal] = view.flip ? -grid.step : grid.step;
  const down = [0, 0, 0];
  down[view.vertical] = -grid.step;
  // +0.5 then floor: rounding to the nearest voxel
  const [x0, y0, z0] = applyAffine(inverse, pixelToWorld(name, grid, 0, 0, coordinate)).map(
    (value) => value + 0.5,
  );
  const [ax, ay, az] = applyLinear(inverse, across);
  const [dx, dy, dz] = applyLinear(inverse, down);
  const [nx, ny, nz] = volume.dims;
  const nxy = nx * ny;
  let k = 0;
  for (let j = 0; j < height; j++) {
    let x = x0 + j * dx;
    let y = y0 + j * dy;
    let z = z0 + j * dz;
    for (let i = 0; i < width; i++, k++) {
      const xi = Math.floor(x);
      const yi = Math.floor(y);
      const zi = Math.floor(z);
      out[k] =
        xi >= 0 && xi < nx && yi >= 0 && yi < ny && zi >= 0 && zi < nz ? xi + nx * yi + nxy * zi : -1;
      x += ax;
      y += ay;
      z += az;
    }
  }
  return out;
}

/**
 * Grey levels of a template: the 0.5 and 99.5 percentiles of its non-zero voxels
 * (a sample of about 200,000), so that a few bright voxels do not darken the rest.
 */
export function intensityWindow(data) {
  const stride = Math.max(1, Math.floor(data.length / 200000));
  const sample = [];
  for (let k = 0; k < data.length; k += stride) {
    const value = data[k];
    if (value !== 0 && Number.isFinite(value)) sample.push(value);
  }
  if (!sample.length) return [0, 1];
  const sorted = Float64Array.from(sample).sort();
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  const [lo, hi] = [at(0.005), at(0.995)];
  return hi > lo ? [lo, hi] : [lo, lo + 1];
}

/** The largest finite value of an array (the top of a probability map's colour bar). */
export function maximum(data) {
  let top = -Infinity;
  for (let k = 0; k < data.length; k++) if (data[k] > top) top = data[k];
  return top;
}

/**
 * Compose one view's RGBA pixels: the template in grey, the labelled map over it, the
 * probability map over both, and an outline around the selected region.
 *
 * `layers`: {count, template: {index, data, window}, labels?: {index, data, colours
 * (RGBA per label value), selected? (1 per label value of the selected region)},
 * stat?: {index, data, top, colours (RGB x 256)}, opacity (0..1)}.
 * `mask`: a Uint8Array of `count` for the selected region's pixels (reused between calls).
 */
export function composeSlice(layers, width, out, mask) {
  const { count, template, labels, stat, opacity } = layers;
  const [lo, hi] = template.window;
  const scale = 255 / (hi - lo);
  const selected = labels?.selected;
  // with a probability map shown, that map is the highlight: its region's labels dim too
  const selectedAlpha = stat ? opacity * DIMMED : opacity;
  const otherAlpha = selected ? opacity * DIMMED : opacity;
  const maxLabel = labels ? labels.colours.length / 4 - 1 : -1;
  mask.fill(0);
  for (let k = 0, o = 0; k < count; k++, o += 4) {
    const t = template.index[k];
    let grey = t < 0 ? 0 : (template.data[t] - lo) * scale;
    grey = grey < 0 ? 0 : grey > 255 ? 255 : grey;
    let r = grey;
    let g = grey;
    let b = grey;
    if (labels) {
      const at = labels.index[k];
      const label = at < 0 ? 0 : labels.data[at] | 0;
      if (label > 0 && label <= maxLabel && labels.colours[4 * label + 3]) {
        const mine = selected ? selected[label] === 1 : false;
        if (mine) mask[k] = 1;
        const alpha = mine ? selectedAlpha : otherAlpha;
        r += (labels.colours[4 * label] - r) * alpha;
        g += (labels.colours[4 * label + 1] - g) * alpha;
        b += (labels.colours[4 * label + 2] - b) * alpha;
      }
    }
    if (stat) {
      const at = stat.index[k];
      const value = at < 0 ? 0 : stat.data[at];
      if (value > 0) {
        const c = 3 * Math.min(255, Math.floor((value / stat.top) * 255));
        r += (stat.colours[c] - r) * opacity;
        g += (stat.colours[c + 1] - g) * opacity;
        b += (stat.colours[c + 2] - b) * opacity;
      }
    }
    out[o] = r;
    out[o + 1] = g;
    out[o + 2] = b;
    out[o + 3] = 255;
  }
  if (selected) outline(mask, width, count / width, out);
  return out;
}

/** Paint the border pixels of the mask (those with a 4-neighbour outside it). */
function outline(mask, width, height, out) {
  for (let j = 0; j < height; j++) {
    for (let i = 0; i < width; i++) {
      const k = j * width + i;
      if (!mask[k]) continue;
      const border =
        i === 0 || i === width - 1 || j === 0 || j === height - 1 ||
        !mask[k - 1] || !mask[k + 1] || !mask[k - width] || !mask[k + width];
      if (border) out.set(OUTLINE, 4 * k);
    }
  }
}
