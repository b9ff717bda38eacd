// Colour tables: label value -> the region's colour, the selected region's labels, and
// the colour scale of probability maps. Pure functions, no DOM.

// regions of a map that its parcellation gives no colour (drawn all the same)
const NO_COLOUR = [200, 200, 200];

/**
 * Label value -> which region: from a map's `indices` ({region name: [{volume,
 * label}]}, as /v3_0/map answers). Only volume 0 is drawn (the labelled map on the
 * template's grid has one volume).
 */
export function labelNames(indices) {
  const names = new Map();
  for (const [name, entries] of Object.entries(indices)) {
    for (const { volume, label } of entries) {
      if (label != null && (volume ?? 0) === 0) names.set(label, name);
    }
  }
  return names;
}

/** RGBA per label value (alpha 0: not a region), from the regions' `rgb`. */
export function labelColours(names, rgbByName) {
  const top = Math.max(0, ...names.keys());
  const colours = new Uint8Array(4 * (top + 1));
  for (const [label, name] of names) {
    if (label <= 0) continue;
    colours.set([...(rgbByName.get(name) ?? NO_COLOUR), 255], 4 * label);
  }
  return colours;
}

/** 1 for each label value that belongs to one of `regionNames`, else 0. */
export function selectedLabels(names, regionNames, size) {
  const selected = new Uint8Array(size);
  for (const [label, name] of names) {
    if (label > 0 && label < size && regionNames.has(name)) selected[label] = 1;
  }
  return selected;
}

/** The "hot" scale (black, red, yellow, white) as 256 RGB triples. */
export function hotColours() {
  const colours = new Uint8Array(3 * 256);
  for (let k = 0; k < 256; k++) {
    const t = k / 255;
    const channel = (offset) => Math.round(255 * Math.min(1, Math.max(0, 3 * t - offset)));
    colours.set([channel(0), channel(1), channel(2)], 3 * k);
  }
  return colours;
}

/** A CSS gradient of a colour scale, left (lowest) to right (highest), for the colour bar. */
export function cssGradient(colours) {
  const stops = [];
  for (let k = 0; k < 256; k += 51) {
    stops.push(`rgb(${colours[3 * k]}, ${colours[3 * k + 1]}, ${colours[3 * k + 2]})`);
  }
  return `linear-gradient(to right, ${stops.join(", ")})`;
}
