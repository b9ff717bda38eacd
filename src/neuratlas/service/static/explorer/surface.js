// The explorer's surface view: a labelled mesh of a surface space (fsaverage5) drawn with
// plain WebGL. The mesh comes from /explorer/mesh in the binary format documented in
// neuratlas/service/meshes.py:
//   "NAMS", uint32 version, uint32 J, J bytes of JSON header, float32 vertices (V x 3),
//   uint32 faces (F x 3), int32 labels (V), all little-endian.
//
// Usage: const view = showSurface(canvas, {spaceId, parcellationId}, status);
// `status(text, kind)` is called with kind "loading", "ready" or "error" (an error's text
// is the service's message and hint). Nothing is thrown: failures go to `status`, and
// `view.ready` resolves to true once the mesh is drawn, or to false when it could not be.
// The view is also `window.explorer.surface` = {ready, labelsShown, rotate(dx, dy) (pixels
// of drag), zoom(f) (a factor), reset(), dispose() (frees the canvas for the next view)}.
// Drag to rotate, wheel to zoom, double-click to reset the view.

const GREY = [0.62, 0.62, 0.62]; // unlabelled vertices
const ROTATE_PER_PIXEL = 0.01; // radians of rotation per pixel of drag
const ZOOM_LIMITS = [0.3, 20];
const views = new WeakMap(); // canvas -> its current view, disposed when replaced

const VERTEX_SHADER = `
attribute vec3 position;
attribute vec3 normal;
attribute vec3 colour;
uniform mat3 rotation;   // world -> eye, rotation only
uniform vec3 centre;     // the mesh's centre, in mm
uniform vec3 scale;      // eye (mm) -> clip space, orthographic
varying vec3 vColour;
varying vec3 vNormal;
void main() {
  vec3 eye = rotation * (position - centre);
  gl_Position = vec4(eye.x * scale.x, eye.y * scale.y, -eye.z * scale.z, 1.0);
  vNormal = rotation * normal;
  vColour = colour;
}`;

const FRAGMENT_SHADER = `
precision mediump float;
varying vec3 vColour;
varying vec3 vNormal;
void main() {
  // a light near the viewer, from the upper left; abs(): lit whatever the winding
  vec3 light = normalize(vec3(-0.3, 0.4, 1.0));
  float diffuse = abs(dot(normalize(vNormal), light));
  gl_FragColor = vec4(vColour * (0.35 + 0.65 * diffuse), 1.0);
}`;

/** Fetch the mesh of a surface space with a parcellation's labels and draw it on `canvas`. */
export function showSurface(canvas, { spaceId, parcellationId }, statusCallback = () => {}) {
  views.get(canvas)?.dispose();
  const status = (text, kind) => {
    if (views.get(canvas) !== view) return; // a view replaced or disposed stays silent
    try {
      statusCallback(text, kind);
    } catch (error) {
      console.warn("surface view: the status callback failed", error);
    }
  };
  // forgotten by its canvas once disposed: a load still on its way then draws nothing
  const forget = () => views.get(canvas) === view && views.delete(canvas);
  const view = {
    ready: null,
    labelsShown: 0,
    rotate: () => {},
    zoom: () => {},
    reset: () => {},
    dispose: forget,
  };
  views.set(canvas, view);
  window.explorer = window.explorer || {};
  window.explorer.surface = view;
  view.ready = load(canvas, spaceId, parcellationId, view, status).catch((error) => {
    status(`surface view: ${error.message}`, "error");
    return false;
  });
  return view;
}

async function load(canvas, spaceId, parcellationId, view, status) {
  status("loading the surface mesh…", "loading");
  const query = new URLSearchParams({ space_id: spaceId, parcellation_id: parcellationId });
  let response;
  try {
    response = await fetch(`/explorer/mesh?${query}`);
  } catch (error) {
    status(`could not load the surface mesh: ${error.message}`, "error");
    return false;
  }
  if (!response.ok) {
    status(await errorText(response), "error");
    return false;
  }
  const mesh = decode(await response.arrayBuffer());
  if (views.get(canvas) !== view) return false; // replaced or disposed while loading
  // preserveDrawingBuffer: the picture stays readable (toDataURL) for tests and screenshots
  const options = { antialias: true, preserveDrawingBuffer: true };
  const gl = canvas.getContext("webgl2", options) || canvas.getContext("webgl", options);
  // WebGL 1 needs an extension for uint32 indices (the format's faces are uint32)
  const webgl2 = typeof WebGL2RenderingContext !== "undefined" && gl instanceof WebGL2RenderingContext;
  if (!gl || (!webgl2 && !gl.getExtension("OES_element_index_uint"))) {
    status("this browser cannot draw the surface: WebGL is not available", "error");
    return false;
  }
  const { colours, labelsShown } = vertexColours(mesh);
  const drawer = makeDrawer(gl, mesh, colours);
  const { rotate, zoom, reset, dispose, drawNow } = interact(canvas, drawer);
  const forget = view.dispose;
  Object.assign(view, { labelsShown, rotate, zoom, reset, dispose: () => (dispose(), forget()) });
  drawNow(); // drawn before `ready` resolves
  const { parcellation, space } = mesh.header;
  status(`${parcellation.name} on ${space.name}: ${labelsShown} labels`, "ready");
  return true;
}

/** The service's error body as one line: its message and, if any, its hint. */
async function errorText(response) {
  try {
    const body = await response.json();
    return body.hint ? `${body.message} (hint: ${body.hint})` : body.message;
  } catch {
    return `the surface mesh could not be loaded (HTTP ${response.status})`;
  }
}

/** The arrays and JSON header of the mesh format (see the top of this file). */
export function decode(buffer) {
  const data = new DataView(buffer);
  const magic = String.fromCharCode(...new Uint8Array(buffer, 0, 4));
  if (magic !== "NAMS" || data.getUint32(4, true) !== 1) {
    throw new Error("the mesh answer is not in the expected format (NAMS version 1)");
  }
  const length = data.getUint32(8, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 12, length)));
  const nv = header.vertexCount;
  const nf = header.faceCount;
  let offset = 12 + length;
  const vertices = new Float32Array(buffer, offset, nv * 3);
  offset += nv * 12;
  const faces = new Uint32Array(buffer, offset, nf * 3);
  offset += nf * 12;
  const labels = new Int32Array(buffer, offset, nv);
  return { header, vertices, faces, labels };
}

/** One RGB colour per vertex from its label (grey when unlabelled), and the labels drawn. */
function vertexColours({ header, labels }) {
  const colours = new Float32Array(labels.length * 3);
  const shown = new Set();
  for (const run of header.hemispheres) {
    for (let i = run.vertexStart; i < run.vertexStart + run.vertexCount; i++) {
      const entry = labels[i] !== 0 ? run.labels[labels[i]] : undefined;
      if (!entry) {
        colours.set(GREY, i * 3);
        continue;
      }
      colours.set(entry.rgb ? entry.rgb.map((c) => c / 255) : generated(labels[i]), i * 3);
      shown.add(labels[i]);
    }
  }
  return { colours, labelsShown: shown.size };
}

/** A colour for a label whose region has none: hues a golden angle apart. */
function generated(label) {
  const hue = (label * 137.508) % 360;
  const f = (n) => {
    const k = (n + hue / 30) % 12;
    return 0.55 - 0.35 * Math.max(-1, Math.min(k - 3, 9 - k, 1));
  };
  return [f(0), f(8), f(4)];
}

/** Per-vertex normals: the sum of the (area-weighted) normals of the faces around it. */
function vertexNormals(vertices, faces) {
  const normals = new Float32Array(vertices.length);
  for (let f = 0; f < faces.length; f += 3) {
    const [a, b, c] = [faces[f] * 3, faces[f + 1] * 3, faces[f + 2] * 3];
    const u = [0, 1, 2].map((k) => vertices[b + k] - vertices[a + k]);
    const v = [0, 1, 2].map((k) => vertices[c + k] - vertices[a + k]);
    const n = [u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]];
    for (const corner of [a, b, c]) for (let k = 0; k < 3; k++) normals[corner + k] += n[k];
  }
  for (let i = 0; i < normals.length; i += 3) {
    const length = Math.hypot(normals[i], normals[i + 1], normals[i + 2]) || 1;
    for (let k = 0; k < 3; k++) normals[i + k] /= length;
  }
  return normals;
}

/** Buffers and program on the GPU; `draw(rotation, zoom)` renders one frame. */
function makeDrawer(gl, mesh, colours) {
  const program = linkProgram(gl);
  const buffers = [];
  const attribute = (name, values) => {
    const buffer = gl.createBuffer();
    buffers.push(buffer);
    gl.bindBuffer(gl.ARRAY_BUFFER, buffer);
    gl.bufferData(gl.ARRAY_BUFFER, values, gl.STATIC_DRAW);
    const location = gl.getAttribLocation(program, name);
    gl.enableVertexAttribArray(location);
    gl.vertexAttribPointer(location, 3, gl.FLOAT, false, 0, 0);
  };
  gl.useProgram(program);
  attribute("position", mesh.vertices);
  attribute("normal", vertexNormals(mesh.vertices, mesh.faces));
  attribute("colour", colours);
  const indices = gl.createBuffer();
  buffers.push(indices);
  gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, indices);
  gl.bufferData(gl.ELEMENT_ARRAY_BUFFER, mesh.faces, gl.STATIC_DRAW);

  const [low, high] = mesh.header.bounds;
  const centre = low.map((l, k) => (l + high[k]) / 2);
  const halves = low.map((l, k) => (high[k] - l) / 2);
  const radius = Math.hypot(...halves) || 1; // the bounding sphere: depth never clips
  const extent = 1.05 * Math.max(...halves) || 1; // a brain-like shape fits it turned any way
  const uniform = (name) => gl.getUniformLocation(program, name);
  const [uRotation, uCentre, uScale] = ["rotation", "centre", "scale"].map(uniform);

  function draw(rotation, zoom) {
    const canvas = gl.canvas;
    // the drawing buffer follows the canvas's CSS size, in CSS pixels: scaling by the
    // device pixel ratio would make a canvas without a CSS size grow at each resize
    const width = Math.max(1, canvas.clientWidth || canvas.width);
    const height = Math.max(1, canvas.clientHeight || canvas.height);
    if (canvas.width !== width || canvas.height !== height) {
      [canvas.width, canvas.height] = [width, height];
    }
    gl.viewport(0, 0, width, height);
    gl.clearColor(1, 1, 1, 1);
    gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
    gl.enable(gl.DEPTH_TEST);
    gl.useProgram(program);
    // at zoom 1, the largest half-extent (plus a margin) reaches the edges of the shorter side
    const side = Math.min(width, height);
    gl.uniformMatrix3fv(uRotation, false, rotation);
    gl.uniform3fv(uCentre, centre);
    const fill = (zoom * side) / extent;
    gl.uniform3fv(uScale, [fill / width, fill / height, 1 / (radius * 1.01)]);
    gl.drawElements(gl.TRIANGLES, mesh.faces.length, gl.UNSIGNED_INT, 0);
  }

  function dispose() {
    buffers.forEach((buffer) => gl.deleteBuffer(buffer));
    gl.deleteProgram(program);
    gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT); // no stale mesh under a new one
  }
  return { draw, dispose };
}

function linkProgram(gl) {
  const program = gl.createProgram();
  const shaders = [
    [gl.VERTEX_SHADER, VERTEX_SHADER],
    [gl.FRAGMENT_SHADER, FRAGMENT_SHADER],
  ];
  for (const [type, source] of shaders) {
    const shader = gl.createShader(type);
    gl.shaderSource(shader, source);
    gl.compileShader(shader);
    if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) {
      throw new Error(`a shader did not compile: ${gl.getShaderInfoLog(shader)}`);
    }
    gl.attachShader(program, shader);
    gl.deleteShader(shader); // freed with the program
  }
  gl.linkProgram(program);
  if (!gl.getProgramParameter(program, gl.LINK_STATUS)) {
    throw new Error(`the shaders did not link: ${gl.getProgramInfoLog(program)}`);
  }
  return program;
}

/** Mouse and wheel handling; the view's rotate, zoom, reset, dispose, and drawNow. */
function interact(canvas, drawer) {
  // column-major 3x3 rotation, world -> eye. Identity = a view from above (superior),
  // anterior up and the right hemisphere on the right: both hemispheres side by side.
  let rotation = identity();
  let zoomFactor = 1;
  let pending = 0;
  const drawNow = () => drawer.draw(rotation, zoomFactor);
  const redraw = () => {
    // at most one frame per display refresh, however many events come in
    pending ||= requestAnimationFrame(() => {
      pending = 0;
      drawNow();
    });
  };
  const rotate = (dx, dy) => {
    // dx pixels about the screen's vertical axis, dy about its horizontal axis
    const [pitch, yaw] = [dy * ROTATE_PER_PIXEL, dx * ROTATE_PER_PIXEL];
    const turn = multiply(axisRotation(0, pitch), axisRotation(1, yaw));
    rotation = multiply(turn, rotation);
    redraw();
  };
  const zoom = (f) => {
    zoomFactor = Math.min(ZOOM_LIMITS[1], Math.max(ZOOM_LIMITS[0], zoomFactor * f));
    redraw();
  };
  const reset = () => {
    rotation = identity();
    zoomFactor = 1;
    redraw();
  };

  let last = null;
  const handlers = {
    pointerdown: (event) => {
      last = [event.clientX, event.clientY];
      canvas.setPointerCapture(event.pointerId);
    },
    pointermove: (event) => {
      if (!last) return;
      rotate(event.clientX - last[0], event.clientY - last[1]);
      last = [event.clientX, event.clientY];
    },
    pointerup: () => (last = null),
    pointercancel: () => (last = null),
    wheel: (event) => {
      event.preventDefault();
      zoom(Math.exp(-event.deltaY * 0.001));
    },
    dblclick: reset,
  };
  for (const [name, handler] of Object.entries(handlers)) {
    // the wheel zooms the mesh, not the page: its handler must be able to preventDefault
    canvas.addEventListener(name, handler, { passive: name !== "wheel" });
  }
  const resized = new ResizeObserver(redraw);
  resized.observe(canvas);

  let disposed = false;
  const dispose = () => {
    if (disposed) return; // a second call must not clear a newer view's picture
    disposed = true;
    for (const [name, handler] of Object.entries(handlers)) canvas.removeEventListener(name, handler);
    resized.disconnect();
    cancelAnimationFrame(pending);
    drawer.dispose();
  };
  return { rotate, zoom, reset, dispose, drawNow };
}

// --- 3x3 matrices, column-major (as WebGL takes them) ---
function identity() {
  return new Float32Array([1, 0, 0, 0, 1, 0, 0, 0, 1]);
}

function multiply(a, b) {
  const out = new Float32Array(9);
  for (let col = 0; col < 3; col++)
    for (let row = 0; row < 3; row++)
      for (let k = 0; k < 3; k++) out[col * 3 + row] += a[k * 3 + row] * b[col * 3 + k];
  return out;
}

/** A rotation by `angle` radians about the eye's x (axis 0) or y (axis 1) axis. */
function axisRotation(axis, angle) {
  const [c, s] = [Math.cos(angle), Math.sin(angle)];
  return axis === 0
    ? new Float32Array([1, 0, 0, 0, c, s, 0, -s, c])
    : new Float32Array([c, 0, -s, 0, 1, 0, s, 0, c]);
}
