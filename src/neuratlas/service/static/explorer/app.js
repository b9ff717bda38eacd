// The explorer page: the choices (atlas, space, parcellation, region), what is loading,
// and window.explorer for tests and benchmarks. Its modules:
//
//   api.js      the service's routes, its errors, decoded volumes cached per URL
//   nifti.js    NIfTI-1 decoding          affine.js  voxel <-> mm
//   slices.js   sampling and composing one slice (pure)     colours.js  colour tables
//   views.js    the three canvases        tree.js    the region tree and search results
//   panel.js    region panel, assignments, colour bar       urlstate.js  ?atlas=&...
//   catalogue.js  which maps exist      tasks.js   pending work, stale tasks
//   surface.js  the WebGL view of surface spaces (loaded only for them)
//
// window.explorer = {state: {atlas, space, parcellation, region, coordinate}, ready (a
// promise, resolved when what was asked for is drawn), lastRenderMs (the last redraw of
// the three slices), worldToPage(view, [x, y, z])}; body[data-ready] is "true" when idle.

import { ServiceError, api, downloadUrl, getVolume, volumeUrls } from "./api.js";
import { Catalogue } from "./catalogue.js";
import { cssGradient, hotColours, labelColours, labelNames, selectedLabels } from "./colours.js";
import * as panel from "./panel.js";
import { VIEWS, clampToGrid, intensityWindow, maximum } from "./slices.js";
import { RegionTree, ancestorsOf, descendantsOf } from "./tree.js";
import { UrlWriter, parseUrlState } from "./urlstate.js";
import { Tasks } from "./tasks.js";
import { SliceViews } from "./views.js";

const $ = (id) => document.getElementById(id);
const SEARCH_DELAY_MS = 200; // typing pauses this long before the service is asked
const HOT = hotColours();

const state = { atlas: null, space: null, parcellation: null, region: null, coordinate: [0, 0, 0] };
const explorer = Object.assign(window.explorer ?? {}, {
  state,
  ready: Promise.resolve(false),
  lastRenderMs: null,
  worldToPage,
});
window.explorer = explorer;

let catalogue = null; // a Catalogue, once the service has answered
let regions = new Map(); // @id -> region of the current parcellation
let labelled = null; // {names: label -> region name, colours}
let layers = null; // what the slice views draw
let surfaceView = null;
let summary = ""; // the status line when nothing is loading

const urlWriter = new UrlWriter(() => state);
const tree = new RegionTree($("region-tree"), (region) => selectRegion(region["@id"]));
const views = new SliceViews(
  { axial: $("view-axial"), coronal: $("view-coronal"), sagittal: $("view-sagittal") },
  { onMove: moveTo, onPick: assignAt },
);
const windows = new WeakMap(); // template volume -> its grey levels, computed once

// --- status and readiness ------------------------------------------------------------
function setStatus(message, { hint = null, error = false } = {}) {
  const status = $("status");
  status.classList.toggle("error", error);
  status.replaceChildren(message);
  if (hint) {
    const line = document.createElement("span");
    line.className = "hint";
    line.textContent = hint;
    status.append(line);
  }
}

function showError(error) {
  // a ServiceError is the service's (or the network's) word; anything else is a bug of
  // this page, which also belongs in the console for whoever debugs it
  if (!(error instanceof ServiceError)) console.error(error);
  setStatus(error.message, { hint: error.hint, error: true });
}

const tasks = new Tasks({
  onBusy: () => {
    document.body.dataset.ready = "false";
    explorer.ready = tasks.whenIdle();
  },
  onIdle: () => {
    urlWriter.flush();
    if (!$("status").classList.contains("error")) setStatus(summary);
    document.body.dataset.ready = "true";
  },
  onError: showError,
});
const run = (channel, work) => tasks.run(channel, work);
const cancel = (channel) => tasks.cancel(channel);

// --- the catalogue ---------------------------------------------------------------------
const hasStatistical = () => catalogue.mapTypes(state.parcellation, state.space)?.has("statistical") ?? false;

async function loadCatalogue() {
  const [atlases, spaces, parcellations, maps] = await Promise.all([
    api.atlases(),
    api.spaces(),
    api.parcellations(),
    api.maps(),
  ]);
  catalogue = new Catalogue({ atlases, spaces, parcellations, maps });
}

/** The combination closest to a wish (see Catalogue.combination), or a ServiceError. */
function combination(atlas, wish) {
  const found = catalogue.combination(atlas, wish);
  if (!found) {
    throw new ServiceError(`no parcellation of ${catalogue.atlases.get(atlas).name} is mapped in any of its spaces`);
  }
  return found;
}

function fillSelects() {
  const option = (id, item, disabled = false, note = "") => {
    const element = new Option(item.name + note, id, false, false);
    element.disabled = disabled;
    return element;
  };
  $("atlas-select").replaceChildren(
    ...[...catalogue.atlases].map(([id, atlas]) => option(id, atlas)),
  );
  $("space-select").replaceChildren(
    ...catalogue.spacesOf(state.atlas).map((id) => {
      const empty = catalogue.mappedIn(state.atlas, id).length === 0;
      return option(id, catalogue.spaces.get(id), empty, empty ? " (no map)" : "");
    }),
  );
  // the parcellations of this space first; the others switch the space when chosen
  const here = catalogue.mappedIn(state.atlas, state.space);
  const elsewhere = catalogue
    .parcellationsOf(state.atlas)
    .filter((p) => !here.includes(p) && catalogue.spacesMapping(state.atlas, p).length);
  const group = (label, ids) => {
    const element = document.createElement("optgroup");
    element.label = label;
    element.append(...ids.map((id) => option(id, catalogue.parcellations.get(id))));
    return element;
  };
  const spaceName = catalogue.spaces.get(state.space).shortName;
  $("parcellation-select").replaceChildren(
    group(`Mapped in ${spaceName}`, here),
    ...(elsewhere.length ? [group("In other spaces", elsewhere)] : []),
  );
  $("atlas-select").value = state.atlas;
  $("space-select").value = state.space;
  $("parcellation-select").value = state.parcellation;
}

// --- loading a parcellation in a space ---------------------------------------------------
function start() {
  run("combination", async (stale) => {
    await loadCatalogue();
    if (stale()) return;
    const wish = parseUrlState(location.search);
    state.atlas = catalogue.lookup("atlases", wish.atlas) ?? catalogue.atlases.keys().next().value;
    const chosen = combination(state.atlas, {
      space: catalogue.lookup("spaces", wish.space),
      parcellation: catalogue.lookup("parcellations", wish.parcellation),
    });
    await showCombination(stale, chosen, wish);
  });
}

/**
 * Switch to the combination closest to `wish` ({space, parcellation}). A region given is
 * centred; otherwise the view stays where it is, and so does the region if its
 * parcellation does.
 */
function change(wish, { region = null } = {}) {
  return run("combination", async (stale) => {
    const chosen = combination(state.atlas, wish);
    const keep = chosen.parcellation === state.parcellation ? state.region : null;
    const view = region ? { region, coordinate: null } : { region: keep, coordinate: state.coordinate };
    await showCombination(stale, chosen, view);
  });
}

async function showCombination(stale, { space, parcellation }, { region, coordinate }) {
  cancel("region");
  cancel("assign");
  Object.assign(state, { space, parcellation, region: null });
  fillSelects();
  $("region-search").value = "";
  panel.clearAssignments();
  panel.showColourBar(null);
  showRegionPanel(null);
  const names = `${catalogue.parcellations.get(parcellation).shortName} in ${catalogue.spaces.get(space).shortName}`;
  setStatus(`Loading ${names}…`);
  urlWriter.update();
  const surface = catalogue.isSurface(space);
  $("slice-views").hidden = surface;
  $("assignments-section").hidden = surface; // a point is clicked on slices only
  $("surface-view").hidden = !surface;
  surfaceView?.dispose();
  surfaceView = null;
  delete explorer.surface;
  layers = null;
  views.setLayers(null);
  regions = new Map(); // the old tree must not be chosen from while the new one loads
  tree.setRegions([]);

  const regionList = api.regions(parcellation);
  // the tree shows as soon as its list is here, before any volume
  const treeShown = regionList.then((list) => {
    if (stale()) return;
    regions = new Map(list.map((r) => [r["@id"], r]));
    tree.setRegions(list);
  });
  await Promise.all([
    treeShown,
    surface
      ? showSurface(stale, space, parcellation)
      : loadVolumes(stale, space, parcellation, coordinate, regionList),
  ]);
  if (stale()) return;
  summary = `${names}: ${regions.size} regions`;
  if (state.region) {
    // chosen in the tree while the volumes were on their way: now it can be shown
    selectRegion(state.region);
    return;
  }
  if (!region) return;
  const wanted = regions.has(region) ? region : [...regions.values()].find((r) => r.name === region)?.["@id"];
  if (!wanted) {
    const hint = "choose one in the tree, or search for it by name";
    setStatus(`${catalogue.parcellations.get(parcellation).name} has no region "${region}"`, { hint, error: true });
    return;
  }
  // a shared view keeps its coordinate; a region alone is centred
  selectRegion(wanted, { centre: !coordinate || surface });
}

async function loadVolumes(stale, space, parcellation, coordinate, regionList) {
  const [template, labels, map, list] = await Promise.all([
    getVolume(volumeUrls.template(space)),
    getVolume(volumeUrls.labels(parcellation, space)),
    api.labelledMap(parcellation, space),
    regionList, // the colours of the labels are the regions'
  ]);
  if (stale()) return;
  if (!windows.has(template)) windows.set(template, intensityWindow(template.data));
  const names = labelNames(map.indices);
  const rgbByName = new Map(list.filter((r) => r.rgb).map((r) => [r.name, r.rgb]));
  labelled = { names, colours: labelColours(names, rgbByName) };
  layers = {
    template: { volume: template, window: windows.get(template) },
    labels: { volume: labels, colours: labelled.colours, selected: null },
    stat: null,
  };
  views.setLayers(layers);
  state.coordinate = clampToGrid(views.grid, coordinate ?? [0, 0, 0]);
  redraw();
}

async function showSurface(stale, space, parcellation) {
  const { showSurface: show } = await import("./surface.js");
  if (stale()) return;
  surfaceView = show($("surface-view"), { spaceId: space, parcellationId: parcellation }, (text, kind) =>
    kind === "error" ? setStatus(text, { error: true }) : setStatus(text),
  );
  await surfaceView.ready;
}

// --- the region ----------------------------------------------------------------------------
function showRegionPanel(region) {
  const path = region
    ? [
        catalogue.parcellations.get(state.parcellation).shortName,
        ...ancestorsOf(region["@id"], regions).map((r) => r.name),
        region.name,
      ]
    : [];
  panel.showRegion(region, path, downloadUrl(state.space, state.parcellation, region?.["@id"]));
  $("clear-region").hidden = !region;
}

/** Select a region: highlight it, centre the view on it, show its map and its panel. */
function selectRegion(id, { centre = true } = {}) {
  const region = regions.get(id);
  if (!region) return;
  state.region = id;
  tree.select(id);
  showRegionPanel(region);
  urlWriter.update();
  if (layers) {
    const names = new Set([...descendantsOf(id, tree.childrenOf)].map((r) => regions.get(r).name));
    layers.labels.selected = selectedLabels(labelled.names, names, labelled.colours.length / 4);
    layers.stat = null;
    panel.showColourBar(null);
    redraw();
  }
  loadRelated(id);
  run("region", async (stale) => {
    setStatus(`Loading ${region.name}…`);
    const statistical = layers && hasStatistical();
    await Promise.all([
      api.region(state.parcellation, id, state.space).then((detail) => {
        if (stale()) return;
        const props = detail.hasAnnotation?.spatialProps ?? null;
        panel.showMeasures(props);
        if (centre && layers && props) {
          state.coordinate = clampToGrid(views.grid, props.centroid_mm);
          redraw();
        }
      }),
      statistical && showStatistical(stale, region),
    ]);
  });
}

async function showStatistical(stale, region) {
  const volume = await getVolume(volumeUrls.statistical(state.parcellation, state.space, region["@id"]));
  if (stale()) return;
  const top = maximum(volume.data);
  layers.stat = { volume, top: top > 0 ? top : 1, colours: HOT };
  panel.showColourBar(cssGradient(HOT), top * volume.slope + volume.intercept, region.name);
  redraw();
}

function clearRegion() {
  cancel("region");
  state.region = null;
  tree.select(null);
  showRegionPanel(null);
  if (layers) {
    layers.labels.selected = null;
    layers.stat = null;
    panel.showColourBar(null);
    redraw();
  }
  urlWriter.update();
}

function loadRelated(id) {
  const parcellation = state.parcellation;
  const parcellationName = (p) => catalogue.parcellations.get(p)?.shortName ?? p;
  const open = (relation) => {
    const target = relation.assigned_structure_parcellation["@id"];
    const space = catalogue.mapTypes(target, state.space) ? state.space : relation.space["@id"];
    change({ space, parcellation: target }, { region: relation.assigned_structure["@id"] });
  };
  panel.showRelated("loading");
  // not part of "ready": overlaps with every other parcellation can take seconds the
  // first time, and the view does not depend on them
  api
    .related(parcellation, id)
    .then((relations) => {
      if (state.region === id) panel.showRelated(relations, parcellationName, open);
    })
    .catch((error) => {
      if (state.region !== id) return;
      panel.showRelated([], parcellationName, open);
      showError(error);
    });
}

// --- the slices --------------------------------------------------------------------------
function redraw() {
  views.coordinate = state.coordinate;
  explorer.lastRenderMs = views.draw();
  panel.showCoordinate(state.coordinate);
}

/**
 * Page coordinates (CSS px) of a mm point in a view (null while no volume is shown). The
 * view's slice is first brought through the point, so that a click there picks that
 * very point: the use it is made for (tests clicking at a known coordinate).
 */
function worldToPage(view, point) {
  if (!layers) return null;
  const axis = VIEWS[view].normal;
  if (state.coordinate[axis] !== point[axis]) {
    const through = [...state.coordinate];
    through[axis] = point[axis];
    moveTo(clampToGrid(views.grid, through));
  }
  return views.worldToPage(view, point);
}

function moveTo(point) {
  state.coordinate = point;
  redraw();
  urlWriter.update();
}

/** Move to a point and list the regions there (the probability map if there is one). */
function assignAt(point) {
  moveTo(point);
  const mapType = hasStatistical() ? "statistical" : "labelled";
  run("assign", async (stale) => {
    setStatus(`Finding the regions at ${panel.formatPoint(point)}…`);
    const answer = await api.assign(state.parcellation, state.space, point, mapType);
    if (stale()) return;
    panel.showAssignments(answer.assignments, point, mapType, (name) => {
      const region = [...regions.values()].find((r) => r.name === name);
      if (region) selectRegion(region["@id"], { centre: false });
    });
  });
}

// --- the controls ------------------------------------------------------------------------
let searchTimer = null;
let searchDone = null; // resolves when the search typed so far is shown

function searchChanged() {
  clearTimeout(searchTimer);
  if (!searchDone) {
    // pending from the first key: a test (or a user) waiting for "ready" sees the results
    let resolve;
    searchDone = new Promise((done) => (resolve = done));
    searchDone.resolve = resolve;
    tasks.track(searchDone);
  }
  const finished = searchDone.resolve;
  searchTimer = setTimeout(() => {
    searchDone = null;
    const text = $("region-search").value.trim();
    const parcellation = state.parcellation;
    run("search", async (stale) => {
      const found = text ? await api.findRegions(parcellation, text) : null;
      if (!stale() && parcellation === state.parcellation) tree.showMatches(found);
    }).finally(finished);
  }, SEARCH_DELAY_MS);
}

function listen() {
  $("atlas-select").addEventListener("change", (event) => {
    state.atlas = event.target.value;
    change({});
  });
  $("space-select").addEventListener("change", (event) => {
    change({ space: event.target.value, parcellation: state.parcellation, prefer: "space" });
  });
  $("parcellation-select").addEventListener("change", (event) => {
    change({ space: state.space, parcellation: event.target.value });
  });
  $("region-search").addEventListener("input", searchChanged);
  $("clear-region").addEventListener("click", clearRegion);
  $("opacity").addEventListener("input", (event) => {
    views.opacity = Number(event.target.value) / 100;
    if (layers) redraw();
  });
}

views.opacity = Number($("opacity").value) / 100;
listen();
start();
