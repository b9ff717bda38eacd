// The service's routes as the page uses them: JSON with the service's errors turned into
// ServiceError (message + hint, shown in #status), every page of a paged list, and
// volumes decoded once per URL.

import { decodeNifti } from "./nifti.js";

const PREFIX = "/v3_0";
const PAGE_SIZE = 100; // the service's largest page
// decoded volumes kept, least recently used first out: a template is ~15 MB decoded, a
// probability map about as much; this keeps a session's worth without growing for ever
const VOLUME_CACHE_BYTES = 400 * 1024 * 1024;

export class ServiceError extends Error {
  constructor(message, hint = null, status = null) {
    super(message);
    this.hint = hint;
    this.status = status;
  }
}

/** A path with its query; parameters that are null or undefined are left out. */
function route(path, params = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value != null) query.set(key, value);
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

/** An id as one path segment: ids hold "/" and "#", both of which must be escaped. */
const segment = (id) => encodeURIComponent(id);

async function request(url) {
  let response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new ServiceError(
      `the service did not answer (${error.message})`,
      "check that `neuratlas serve` is still running, then reload the page",
    );
  }
  if (!response.ok) {
    const body = await response.json().catch(() => null);
    throw new ServiceError(
      body?.message ?? `${response.status} ${response.statusText} from ${url}`,
      body?.hint ?? null,
      response.status,
    );
  }
  return response;
}

async function getJSON(path, params) {
  return (await request(route(path, params))).json();
}

/** Every item of a paged list route, the pages after the first fetched at once. */
async function getAllPages(path, params = {}) {
  const first = await getJSON(path, { ...params, size: PAGE_SIZE, page: 1 });
  const rest = await Promise.all(
    Array.from({ length: Math.max(0, first.pages - 1) }, (_, k) =>
      getJSON(path, { ...params, size: PAGE_SIZE, page: k + 2 }),
    ),
  );
  return [first, ...rest].flatMap((page) => page.items);
}

export const api = {
  atlases: () => getAllPages(`${PREFIX}/atlases`),
  spaces: () => getAllPages(`${PREFIX}/spaces`),
  parcellations: () => getAllPages(`${PREFIX}/parcellations`),
  // which parcellation has which kind of map in which space (the explorer's own route)
  maps: () => getJSON("/explorer/maps"),
  regions: (parcellation) => getAllPages(`${PREFIX}/regions`, { parcellation_id: parcellation }),
  findRegions: (parcellation, text) =>
    getAllPages(`${PREFIX}/regions`, { parcellation_id: parcellation, find: text }),
  region: (parcellation, region, space) =>
    getJSON(`${PREFIX}/regions/${segment(region)}`, { parcellation_id: parcellation, space_id: space }),
  related: (parcellation, region) =>
    getAllPages(`${PREFIX}/regions/${segment(region)}/related`, { parcellation_id: parcellation }),
  labelledMap: (parcellation, space) =>
    getJSON(`${PREFIX}/map`, { parcellation_id: parcellation, space_id: space, map_type: "labelled" }),
  assign: (parcellation, space, point, mapType) =>
    getJSON(`${PREFIX}/map/assign`, {
      parcellation_id: parcellation,
      space_id: space,
      point: point.join(","),
      map_type: mapType,
    }),
};

export const volumeUrls = {
  template: (space) => `${PREFIX}/spaces/${segment(space)}/template.nii.gz`,
  labels: (parcellation, space) =>
    route(`${PREFIX}/map/resampled_template`, { parcellation_id: parcellation, space_id: space }),
  statistical: (parcellation, space, region) =>
    route(`${PREFIX}/map/statistical_map.nii.gz`, {
      parcellation_id: parcellation,
      region_id: region,
      space_id: space,
    }),
};

export const downloadUrl = (space, parcellation, region) =>
  route(`${PREFIX}/atlas_download`, { space_id: space, parcellation_id: parcellation, region_id: region });

const volumes = new Map(); // url -> {promise, bytes}, in order of last use

/** The volume at a URL, decoded (once: later calls share the same promise). */
export function getVolume(url) {
  let entry = volumes.get(url);
  if (entry) {
    volumes.delete(url); // re-inserted below: now the most recently used
  } else {
    entry = { promise: null, bytes: 0 };
    entry.promise = request(url)
      .then((response) => response.arrayBuffer())
      .then(decodeNifti)
      .then((volume) => {
        entry.bytes = volume.data.byteLength;
        evictVolumes();
        return volume;
      })
      .catch((error) => {
        volumes.delete(url); // a failure is not cached: the next try asks again
        throw error instanceof ServiceError ? error : new ServiceError(`${url}: ${error.message}`);
      });
  }
  volumes.set(url, entry);
  return entry.promise;
}

function evictVolumes() {
  let total = 0;
  for (const entry of volumes.values()) total += entry.bytes;
  for (const [url, entry] of volumes) {
    if (total <= VOLUME_CACHE_BYTES || volumes.size === 1) break;
    total -= entry.bytes;
    volumes.delete(url);
  }
}
