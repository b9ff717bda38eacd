// The view in the URL (?atlas=&space=&parcellation=&region=&coord=x,y,z), so that a
// view can be shared: read once at start, written with history.replaceState.

const KEYS = ["atlas", "space", "parcellation", "region"];
// replaceState is rate-limited by browsers (Chromium warns past ~100 calls in 10 s):
// a wheel spin writes the URL at most this often, and the last position always
const MIN_INTERVAL_MS = 200;

/** {atlas, space, parcellation, region, coordinate} from a query string; absent -> null. */
export function parseUrlState(search) {
  const params = new URLSearchParams(search);
  const state = Object.fromEntries(KEYS.map((key) => [key, params.get(key) || null]));
  const numbers = (params.get("coord") ?? "").split(",").map(Number);
  const valid = numbers.length === 3 && numbers.every(Number.isFinite) && params.get("coord");
  state.coordinate = valid ? numbers : null;
  return state;
}

/** The query string of a state (ids URL-encoded; mm to 0.01, plenty for 1 mm voxels). */
export function formatUrlState(state) {
  const params = new URLSearchParams();
  for (const key of KEYS) if (state[key]) params.set(key, state[key]);
  if (state.coordinate) {
    params.set("coord", state.coordinate.map((value) => Number(value.toFixed(2))).join(","));
  }
  return `?${params}`;
}

/** Writes the URL of a state, at most every MIN_INTERVAL_MS; `flush` writes a pending one now. */
export class UrlWriter {
  constructor(getState) {
    this.getState = getState;
    this.last = 0;
    this.timer = null;
  }

  update() {
    if (this.timer) return; // the pending write will take the newest state
    const wait = this.last + MIN_INTERVAL_MS - performance.now();
    if (wait <= 0) this.flush();
    else this.timer = setTimeout(() => this.flush(), wait);
  }

  flush() {
    clearTimeout(this.timer);
    this.timer = null;
    this.last = performance.now();
    const query = formatUrlState(this.getState());
    if (query !== location.search) history.replaceState(null, "", `${location.pathname}${query}`);
  }
}
