// The three slice canvases: drawing (ImageData per view, scaled onto the canvas with the
// crosshair and the side letters on top), and the mouse, wheel and keyboard on them.

import { sameAffine } from "./affine.js";
import {
  VIEWS,
  VIEW_NAMES,
  clampToGrid,
  composeSlice,
  gridOf,
  pixelToWorld,
  sliceSize,
  voxelIndices,
  worldToPixel,
} from "./slices.js";

const CROSSHAIR = "rgba(80, 255, 140, 0.75)";
const LETTER_PX = 13;

const sameGrid = (a, b) => a.dims.every((n, axis) => n === b.dims[axis]) && sameAffine(a.affine, b.affine);

/**
 * The slice views of one template. `handlers`: onMove(point) when the crosshair moves
 * (wheel, keys), onPick(point) when a point is clicked or Enter is pressed.
 */
export class SliceViews {
  constructor(canvases, handlers) {
    this.canvases = canvases; // {axial, coronal, sagittal}
    this.handlers = handlers;
    this.layers = null; // {template, labels?, stat?} as composeSlice takes them, minus indices
    this.grid = null;
    this.coordinate = [0, 0, 0];
    this.opacity = 0.6;
    this.buffers = {};
    this.placement = {}; // per view: where the image sits on the canvas (device px)
    for (const name of VIEW_NAMES) this.listen(name, canvases[name]);
    new ResizeObserver(() => this.layers && this.draw()).observe(canvases.axial.parentElement);
  }

  /** The volumes to draw: {template: {volume, window}, labels?: {volume, colours,
   * selected?}, stat?: {volume, top, colours}}, or null. The grid is the template's. */
  setLayers(layers) {
    if (!layers) {
      this.layers = null; // nothing to draw (loading, or a surface space)
      return;
    }
    if (!this.layers || this.layers.template.volume !== layers.template.volume) {
      this.grid = gridOf(layers.template.volume);
      this.buffers = {};
    }
    this.layers = layers;
  }

  /** Draw the three views; returns the time taken in ms. */
  draw() {
    const start = performance.now();
    for (const name of VIEW_NAMES) this.drawView(name);
    return performance.now() - start;
  }

  drawView(name) {
    const [width, height] = sliceSize(name, this.grid);
    const buffer = this.bufferOf(name, width, height);
    const { template, labels, stat } = this.layers;
    const indicesOf = (volume, slot) =>
      volume === template.volume || sameGrid(volume, template.volume)
        ? buffer.template
        : voxelIndices(name, this.grid, volume, this.coordinate, buffer[slot]);
    voxelIndices(name, this.grid, template.volume, this.coordinate, buffer.template);
    composeSlice(
      {
        count: width * height,
        opacity: this.opacity,
        template: { index: buffer.template, data: template.volume.data, window: template.window },
        labels: labels && { ...labels, index: indicesOf(labels.volume, "labels"), data: labels.volume.data },
        stat: stat && { ...stat, index: indicesOf(stat.volume, "stat"), data: stat.volume.data },
      },
      width,
      buffer.image.data,
      buffer.mask,
    );
    buffer.context.putImageData(buffer.image, 0, 0);
    this.paint(name, buffer.canvas, width, height);
  }

  bufferOf(name, width, height) {
    if (!this.buffers[name]) {
      const canvas = document.createElement("canvas");
      canvas.width = width;
      canvas.height = height;
      const context = canvas.getContext("2d");
      const count = width * height;
      this.buffers[name] = {
        canvas,
        context,
        image: context.createImageData(width, height),
        mask: new Uint8Array(count),
        template: new Int32Array(count),
        labels: new Int32Array(count),
        stat: new Int32Array(count),
      };
    }
    return this.buffers[name];
  }

  /** Scale the slice image onto the canvas (pixels kept square), then draw the overlays. */
  paint(name, image, width, height) {
    const canvas = this.canvases[name];
    const ratio = window.devicePixelRatio || 1;
    const cssWidth = canvas.clientWidth;
    const cssHeight = canvas.clientHeight;
    if (canvas.width !== Math.round(cssWidth * ratio) || canvas.height !== Math.round(cssHeight * ratio)) {
      canvas.width = Math.round(cssWidth * ratio);
      canvas.height = Math.round(cssHeight * ratio);
    }
    const scale = Math.min(canvas.width / width, canvas.height / height);
    const x = (canvas.width - width * scale) / 2;
    const y = (canvas.height - height * scale) / 2;
    this.placement[name] = { x, y, scale, ratio };
    const context = canvas.getContext("2d");
    context.fillStyle = "#000";
    context.fillRect(0, 0, canvas.width, canvas.height);
    context.imageSmoothingEnabled = false;
    context.drawImage(image, x, y, width * scale, height * scale);
    this.drawCrosshair(name, context);
    this.drawLetters(name, context, ratio);
  }

  drawCrosshair(name, context) {
    const { x, y, scale } = this.placement[name];
    const [i, j] = worldToPixel(name, this.grid, this.coordinate);
    const [width, height] = sliceSize(name, this.grid);
    const cx = Math.round(x + (i + 0.5) * scale) + 0.5;
    const cy = Math.round(y + (j + 0.5) * scale) + 0.5;
    context.strokeStyle = CROSSHAIR;
    context.lineWidth = 1;
    context.beginPath();
    context.moveTo(x, cy);
    context.lineTo(x + width * scale, cy);
    context.moveTo(cx, y);
    context.lineTo(cx, y + height * scale);
    context.stroke();
  }

  drawLetters(name, context, ratio) {
    const { width, height } = context.canvas;
    const [left, right, top, bottom] = VIEWS[name].sides;
    const pad = 4 * ratio;
    context.font = `bold ${LETTER_PX * ratio}px system-ui, sans-serif`;
    context.fillStyle = "#fff";
    context.shadowColor = "#000";
    context.shadowBlur = 3 * ratio;
    context.textBaseline = "middle";
    context.textAlign = "left";
    context.fillText(left, pad, height / 2);
    context.textAlign = "right";
    context.fillText(right, width - pad, height / 2);
    context.textAlign = "center";
    context.textBaseline = "top";
    context.fillText(top, width / 2, pad);
    context.textBaseline = "bottom";
    context.fillText(bottom, width / 2, height - pad);
    // where the slice is, along the axis it cuts
    const axis = VIEWS[name].normal;
    context.textAlign = "left";
    context.font = `${(LETTER_PX - 1) * ratio}px system-ui, sans-serif`;
    context.fillText(`${"xyz"[axis]} = ${this.coordinate[axis].toFixed(1)} mm`, pad, height - pad);
    context.shadowBlur = 0;
  }

  /** Page coordinates (CSS px) of a mm point in a view, e.g. to click it in a test. */
  worldToPage(name, point) {
    const { x, y, scale, ratio } = this.placement[name];
    const [i, j] = worldToPixel(name, this.grid, point);
    const rect = this.canvases[name].getBoundingClientRect();
    return {
      x: rect.left + window.scrollX + (x + (i + 0.5) * scale) / ratio,
      y: rect.top + window.scrollY + (y + (j + 0.5) * scale) / ratio,
    };
  }

  /** The mm point (the centre of the sample) under an event on a view, or null outside. */
  pointAt(name, event) {
    const placement = this.placement[name];
    if (!placement) return null;
    const { x, y, scale, ratio } = placement;
    const i = Math.floor((event.offsetX * ratio - x) / scale);
    const j = Math.floor((event.offsetY * ratio - y) / scale);
    const [width, height] = sliceSize(name, this.grid);
    if (i < 0 || j < 0 || i >= width || j >= height) return null;
    return pixelToWorld(name, this.grid, i, j, this.coordinate);
  }

  /** The crosshair moved by whole samples: right/up on the screen, and across the slice. */
  step(name, right, up, across) {
    const { horizontal, vertical, normal, flip } = VIEWS[name];
    const point = [...this.coordinate];
    point[horizontal] += (flip ? -right : right) * this.grid.step;
    point[vertical] += up * this.grid.step;
    point[normal] += across * this.grid.step;
    return clampToGrid(this.grid, point);
  }

  listen(name, canvas) {
    const ready = () => this.layers !== null;
    canvas.addEventListener("click", (event) => {
      const point = ready() && this.pointAt(name, event);
      if (point) this.handlers.onPick(point);
    });
    canvas.addEventListener(
      "wheel",
      (event) => {
        if (!ready() || !event.deltaY) return;
        event.preventDefault(); // the slice moves, not the page
        this.handlers.onMove(this.step(name, 0, 0, event.deltaY < 0 ? 1 : -1));
      },
      { passive: false },
    );
    const keys = {
      ArrowLeft: [-1, 0, 0],
      ArrowRight: [1, 0, 0],
      ArrowUp: [0, 1, 0],
      ArrowDown: [0, -1, 0],
      PageUp: [0, 0, 1],
      PageDown: [0, 0, -1],
    };
    canvas.addEventListener("keydown", (event) => {
      if (!ready()) return;
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        this.handlers.onPick(this.coordinate);
      } else if (keys[event.key]) {
        event.preventDefault();
        this.handlers.onMove(this.step(name, ...keys[event.key]));
      }
    });
  }
}
