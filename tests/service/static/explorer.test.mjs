// The explorer page's pure modules (no DOM): run with `node --test tests/service/static/`.
import assert from "node:assert/strict";
import { test } from "node:test";

const STATIC = "../../../src/neuratlas/service/static/explorer";
const { decodeNifti, parseNifti, NiftiError, quaternionAffine } = await import(`${STATIC}/nifti.js`);
const { applyAffine, invertAffine, sameAffine } = await import(`${STATIC}/affine.js`);
const slices = await import(`${STATIC}/slices.js`);
const colours = await import(`${STATIC}/colours.js`);
const { parseUrlState, formatUrlState } = await import(`${STATIC}/urlstate.js`);
const { ancestorsOf, descendantsOf } = await import(`${STATIC}/tree.js`);

const TYPES = { 2: [Uint8Array, "setUint8"], 4: [Int16Array, "setInt16"], 16: [Float32Array, "setFloat32"] };

/** A NIfTI-1 file: dims, datatype, values (x fastest), and an sform or a qform. */
function niftiBytes({ dims, datatype, values, sform = null, qform = null, little = true, pixdim = [1, 1, 1] }) {
  const [Type, setter] = TYPES[datatype];
  const bytes = new Uint8Array(352 + values.length * Type.BYTES_PER_ELEMENT);
  const view = new DataView(bytes.buffer);
  view.setInt32(0, 348, little);
  view.setInt16(40, 3, little);
  dims.forEach((n, axis) => view.setInt16(42 + 2 * axis, n, little));
  view.setInt16(70, datatype, little);
  view.setInt16(72, 8 * Type.BYTES_PER_ELEMENT, little);
  view.setFloat32(76, qform?.qfac ?? 1, little);
  pixdim.forEach((size, axis) => view.setFloat32(80 + 4 * axis, size, little));
  view.setFloat32(108, 352, little);
  if (sform) {
    view.setInt16(254, 1, little);
    sform.slice(0, 3).forEach((row, r) => row.forEach((v, c) => view.setFloat32(280 + 16 * r + 4 * c, v, little)));
  }
  if (qform) {
    view.setInt16(252, 1, little);
    [...qform.bcd, ...qform.offsets].forEach((v, k) => view.setFloat32(256 + 4 * k, v, little));
  }
  values.forEach((v, k) => view[setter](352 + k * Type.BYTES_PER_ELEMENT, v, little));
  return bytes;
}

const FLIPPED = [
  [-2, 0, 0, 10],
  [0, 2, 0, -20],
  [0, 0, 2, -4],
  [0, 0, 0, 1],
];

async function gzip(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

test("a gzipped int16 NIfTI decodes to its voxels and sform", async () => {
  const values = Array.from({ length: 60 }, (_, k) => k - 30);
  const bytes = niftiBytes({ dims: [3, 4, 5], datatype: 4, values, sform: FLIPPED });
  const volume = await decodeNifti((await gzip(bytes)).buffer);
  assert.deepEqual(volume.dims, [3, 4, 5]);
  assert.ok(volume.data instanceof Int16Array);
  assert.deepEqual([...volume.data], values);
  assert.deepEqual(volume.affine, FLIPPED);
  assert.equal(volume.slope, 1); // slope 0 in the header means "not scaled"
});

test("a big-endian float32 NIfTI with a qform decodes", () => {
  const values = [0.5, 1.5, -2, 4, 8, 16, 32, 64];
  const qform = { bcd: [0, 0, 0], offsets: [1, 2, 3], qfac: -1 };
  const volume = parseNifti(niftiBytes({ dims: [2, 2, 2], datatype: 16, values, qform, little: false, pixdim: [2, 3, 4] }));
  assert.deepEqual([...volume.data], values);
  // + 0: the quaternion's rotation holds -0s, equal to 0 but not to deepEqual
  assert.deepEqual(volume.affine.map((row) => row.map((v) => v + 0)), [
    [2, 0, 0, 1],
    [0, 3, 0, 2],
    [0, 0, -4, 3],
    [0, 0, 0, 1],
  ]);
});

test("a quaternion of a half turn about z flips x and y", () => {
  const affine = quaternionAffine([0, 0, 1], [0, 0, 0], [1, 1, 1], 1);
  assert.deepEqual(applyAffine(affine, [1, 2, 3]).map(Math.round), [-1, -2, 3]);
});

test("bad NIfTI bytes raise NiftiError with the reason", () => {
  assert.throws(() => parseNifti(new Uint8Array(10)), NiftiError);
  assert.throws(() => parseNifti(new Uint8Array(400)), /sizeof_hdr/);
  const bytes = niftiBytes({ dims: [2, 2, 2], datatype: 2, values: new Array(8).fill(1) });
  new DataView(bytes.buffer).setInt16(70, 128, true); // RGB24
  assert.throws(() => parseNifti(bytes), /datatype 128/);
  const short = niftiBytes({ dims: [2, 2, 2], datatype: 2, values: new Array(8).fill(1) }).slice(0, 355);
  assert.throws(() => parseNifti(short), /truncated/);
});

test("an affine and its inverse undo each other", () => {
  const inverse = invertAffine(FLIPPED);
  const point = [3, -7, 11];
  assert.deepEqual(applyAffine(FLIPPED, applyAffine(inverse, point)), point);
  assert.ok(sameAffine(invertAffine(inverse), FLIPPED));
  assert.throws(() => invertAffine([[0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]), /determinant/);
});

const volumeOf = (dims, affine, fill = (k) => k) => ({
  dims,
  affine,
  data: Int32Array.from({ length: dims[0] * dims[1] * dims[2] }, (_, k) => fill(k)),
});

test("the grid spans the voxel centres in mm, whatever the axis flips", () => {
  const grid = slices.gridOf(volumeOf([3, 4, 5], FLIPPED));
  assert.deepEqual(grid.min, [6, -20, -4]);
  assert.deepEqual(grid.max, [10, -14, 4]);
  assert.equal(grid.step, 2);
  assert.deepEqual(grid.size, [3, 4, 5]);
});

test("pixels and mm points map back and forth in every view", () => {
  const grid = slices.gridOf(volumeOf([3, 4, 5], FLIPPED));
  for (const name of slices.VIEW_NAMES) {
    const point = slices.pixelToWorld(name, grid, 1, 2, [8, -16, 0]);
    assert.deepEqual(slices.worldToPixel(name, grid, point), [1, 2]);
  }
  // neurological: left (low x) on the left; anterior (high y) up; sagittal anterior on the left
  assert.deepEqual(slices.pixelToWorld("axial", grid, 0, 0, [0, 0, 0]), [6, -14, 0]);
  assert.deepEqual(slices.pixelToWorld("sagittal", grid, 0, 0, [0, 0, 0]), [0, -14, 4]);
});

test("a view samples each volume at its own voxels, by its own affine", () => {
  const volume = volumeOf([3, 4, 5], FLIPPED);
  const grid = slices.gridOf(volume);
  const [width, height] = slices.sliceSize("axial", grid);
  const out = slices.voxelIndices("axial", grid, volume, [8, -16, 0], new Int32Array(width * height));
  // x = 6 mm (the screen's left) is voxel i = 2, since x grows as i falls
  const expected = (i, y, z) => i + 3 * y + 12 * z;
  assert.equal(out[0], expected(2, 3, 2)); // top row: the most anterior y
  assert.equal(out[width * height - 1], expected(0, 0, 2));
  // a volume on a finer grid, shifted: nearest voxel; outside it: -1
  const fine = volumeOf([10, 10, 10], [[1, 0, 0, 5], [0, 1, 0, -20], [0, 0, 1, -5], [0, 0, 0, 1]]);
  const sampled = slices.voxelIndices("axial", grid, fine, [8, -16, 0], new Int32Array(width * height));
  assert.equal(sampled[0], 1 + 10 * 6 + 100 * 5); // (6, -14, 0) mm
  const far = volumeOf([2, 2, 2], [[1, 0, 0, 100], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]);
  assert.ok(slices.voxelIndices("axial", grid, far, [8, -16, 0], new Int32Array(width * height)).every((k) => k === -1));
});

test("points are kept inside the grid", () => {
  const grid = slices.gridOf(volumeOf([3, 4, 5], FLIPPED));
  assert.deepEqual(slices.clampToGrid(grid, [7.2, -100, 3.1]), [7.2, -20, 3.1]);
});

test("a slice composes grey, label colours, a dimmed rest and an outline", () => {
  const count = 9; // 3 x 3 pixels
  const index = Int32Array.from({ length: count }, (_, k) => k);
  const template = { index, data: new Float32Array(count).fill(100), window: [0, 255] };
  const labelData = Uint8Array.from([0, 0, 0, 0, 1, 0, 0, 2, 0]);
  const colourTable = colours.labelColours(new Map([[1, "a"], [2, "b"]]), new Map([["a", [255, 0, 0]], ["b", [0, 0, 255]]]));
  const mask = new Uint8Array(count);
  const out = new Uint8ClampedArray(4 * count);
  const layers = { count, template, opacity: 1, labels: { index, data: labelData, colours: colourTable, selected: null } };
  slices.composeSlice(layers, 3, out, mask);
  assert.deepEqual([...out.slice(0, 4)], [100, 100, 100, 255]);
  assert.deepEqual([...out.slice(16, 20)], [255, 0, 0, 255]);
  // region "a" selected: b dims, a (one pixel, all border) is outlined
  layers.labels.selected = colours.selectedLabels(new Map([[1, "a"], [2, "b"]]), new Set(["a"]), 3);
  slices.composeSlice(layers, 3, out, mask);
  assert.deepEqual([...out.slice(16, 20)], [255, 255, 255, 255]);
  const dimmed = out[4 * 7 + 2];
  assert.ok(dimmed > 100 && dimmed < 255, `dimmed blue ${dimmed}`);
  assert.deepEqual([...mask], [0, 0, 0, 0, 1, 0, 0, 0, 0]);
});

test("a probability map is drawn in the hot scale over the labels", () => {
  const count = 2;
  const index = Int32Array.from([0, 1]);
  const out = new Uint8ClampedArray(8);
  slices.composeSlice(
    {
      count,
      opacity: 1,
      template: { index, data: new Uint8Array(2), window: [0, 1] },
      stat: { index, data: Float32Array.from([0, 0.5]), top: 0.5, colours: colours.hotColours() },
    },
    2,
    out,
    new Uint8Array(count),
  );
  assert.deepEqual([...out], [0, 0, 0, 255, 255, 255, 255, 255]);
});

test("the intensity window ignores the background and the brightest voxels", () => {
  const data = new Float32Array(100000);
  for (let k = 0; k < data.length; k++) data[k] = k % 2 ? 0 : (k % 1000) + 1;
  const [lo, hi] = slices.intensityWindow(data);
  assert.ok(lo >= 1 && lo < 20 && hi > 980 && hi <= 1000, `${lo} ${hi}`);
  assert.deepEqual(slices.intensityWindow(new Uint8Array(10)), [0, 1]);
});

test("labels map to region names and colours from a map's indices", () => {
  const names = colours.labelNames({
    "V1 left": [{ volume: 0, label: 3 }],
    "V1 right": [{ volume: 0, label: 4 }],
    "not labelled": [{ volume: 0, label: null }],
  });
  assert.deepEqual([...names], [[3, "V1 left"], [4, "V1 right"]]);
  const table = colours.labelColours(names, new Map([["V1 left", [1, 2, 3]]]));
  assert.equal(table.length, 4 * 5);
  assert.deepEqual([...table.slice(12, 16)], [1, 2, 3, 255]);
  assert.deepEqual([...table.slice(16, 20)], [200, 200, 200, 255]); // no rgb: grey
  assert.deepEqual([...colours.selectedLabels(names, new Set(["V1 right"]), 5)], [0, 0, 0, 0, 1]);
  const hot = colours.hotColours();
  assert.deepEqual([...hot.slice(0, 3), ...hot.slice(765)], [0, 0, 0, 255, 255, 255]);
  assert.match(colours.cssGradient(hot), /^linear-gradient\(to right, rgb\(0, 0, 0\).*rgb\(255, 255, 255\)\)$/);
});

test("the URL state round-trips, ids encoded and the coordinate rounded", () => {
  const state = {
    atlas: "neuratlas/atlas/human",
    space: "neuratlas/space/mni152-nlin6-asym",
    parcellation: "neuratlas/parcellation/juelich-histological",
    region: "neuratlas/parcellation/juelich-histological#Visual cortex V1 BA17",
    coordinate: [-10.335409, -85.48954, 4.9],
  };
  const query = formatUrlState(state);
  assert.ok(query.includes("%23Visual") && query.includes("coord=-10.34%2C-85.49%2C4.9"), query);
  assert.deepEqual(parseUrlState(query), { ...state, coordinate: [-10.34, -85.49, 4.9] });
  assert.equal(parseUrlState("?coord=1,2").coordinate, null);
  assert.equal(parseUrlState("?coord=1,x,3").coordinate, null);
  assert.deepEqual(parseUrlState(""), { atlas: null, space: null, parcellation: null, region: null, coordinate: null });
});

test("ancestors and descendants follow hasParent", () => {
  const regions = [
    { "@id": "p#a", hasParent: "p" },
    { "@id": "p#b", hasParent: "p#a" },
    { "@id": "p#c", hasParent: "p#b" },
    { "@id": "p#d", hasParent: "p#a" },
  ];
  const byId = new Map(regions.map((r) => [r["@id"], r]));
  assert.deepEqual(ancestorsOf("p#c", byId).map((r) => r["@id"]), ["p#a", "p#b"]);
  assert.deepEqual(ancestorsOf("p#a", byId), []);
  const children = new Map([["p#a", ["p#b", "p#d"]], ["p#b", ["p#c"]]]);
  assert.deepEqual([...descendantsOf("p#a", children)].sort(), ["p#a", "p#b", "p#c", "p#d"]);
});

const { Catalogue } = await import(`${STATIC}/catalogue.js`);

function toyCatalogue() {
  const volume = { providesImage: true, providesMesh: false };
  const mesh = { providesImage: false, providesMesh: true };
  return new Catalogue({
    atlases: [
      {
        "@id": "atlas",
        name: "Atlas",
        spaces: ["mni", "colin", "surf", "empty"].map((id) => ({ "@id": id })),
        parcellations: ["julich", "aal", "dk"].map((id) => ({ "@id": id })),
      },
    ],
    spaces: [
      { "@id": "mni", name: "MNI", shortName: "mni", defaultImage: [volume] },
      { "@id": "colin", name: "Colin 27", shortName: "colin", defaultImage: [volume] },
      { "@id": "surf", name: "fsaverage", shortName: "fsaverage", defaultImage: [mesh, mesh] },
      { "@id": "empty", name: "Empty", shortName: "empty", defaultImage: [volume] },
    ],
    parcellations: ["julich", "aal", "dk"].map((id) => ({ "@id": id, name: id.toUpperCase(), shortName: id })),
    maps: [
      { parcellation: "julich", space: "mni", maptypes: ["labelled", "statistical"] },
      { parcellation: "aal", space: "mni", maptypes: ["labelled"] },
      { parcellation: "dk", space: "colin", maptypes: ["labelled"] },
      { parcellation: "dk", space: "surf", maptypes: ["labelled"] },
    ],
  });
}

test("the catalogue offers only combinations that have a map", () => {
  const catalogue = toyCatalogue();
  assert.deepEqual(catalogue.combination("atlas", {}), { space: "mni", parcellation: "julich" });
  // the parcellation decides unless the space is preferred; volume spaces come first
  assert.deepEqual(catalogue.combination("atlas", { space: "mni", parcellation: "dk" }), { space: "colin", parcellation: "dk" });
  assert.deepEqual(catalogue.combination("atlas", { space: "surf", parcellation: "aal", prefer: "space" }), { space: "surf", parcellation: "dk" });
  assert.deepEqual(catalogue.combination("atlas", { space: "empty" }), { space: "mni", parcellation: "julich" });
  assert.deepEqual(catalogue.combination("atlas", { space: "nowhere", parcellation: "unknown" }), { space: "mni", parcellation: "julich" });
  assert.deepEqual(catalogue.mappedIn("atlas", "mni"), ["julich", "aal"]);
  assert.deepEqual(catalogue.spacesMapping("atlas", "dk"), ["colin", "surf"]);
  assert.ok(catalogue.isSurface("surf") && !catalogue.isSurface("mni"));
  assert.ok(catalogue.mapTypes("julich", "mni").has("statistical"));
  assert.equal(catalogue.mapTypes("julich", "colin"), undefined);
});

test("the catalogue finds entries by id, name or short name, any case", () => {
  const catalogue = toyCatalogue();
  assert.equal(catalogue.lookup("spaces", "colin 27"), "colin");
  assert.equal(catalogue.lookup("spaces", "FSAVERAGE"), "surf");
  assert.equal(catalogue.lookup("parcellations", "julich"), "julich");
  assert.equal(catalogue.lookup("parcellations", "nothing"), null);
  assert.equal(catalogue.lookup("atlases", null), null);
  const none = new Catalogue({ atlases: [{ "@id": "a", name: "A", spaces: [], parcellations: [] }], spaces: [], parcellations: [], maps: [] });
  assert.equal(none.combination("a", {}), null);
});

const { Tasks } = await import(`${STATIC}/tasks.js`);

test("a newer task of a channel makes the older one stale; idle comes after both", async () => {
  const events = [];
  const tasks = new Tasks({
    onBusy: () => events.push("busy"),
    onIdle: () => events.push("idle"),
    onError: (error) => events.push(`error: ${error.message}`),
  });
  let release;
  const gate = new Promise((resolve) => (release = resolve));
  const seen = [];
  tasks.run("load", async (stale) => {
    await gate;
    seen.push(`first stale=${stale()}`);
    throw new Error("too late to matter"); // stale: not reported
  });
  tasks.run("load", async (stale) => {
    await gate;
    seen.push(`second stale=${stale()}`);
    throw new Error("shown");
  });
  const idle = tasks.whenIdle();
  release();
  assert.equal(await idle, true);
  assert.deepEqual(seen, ["first stale=true", "second stale=false"]);
  assert.deepEqual(events, ["busy", "busy", "error: shown", "idle"]);
  tasks.run("other", async (stale) => {
    tasks.cancel("other");
    assert.ok(stale());
  });
  await tasks.whenIdle();
});
